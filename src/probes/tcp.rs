//! TCP connect probes: the errno, the clock and any queued ICMP error, plus TTL-limited SYNs that find where a drop happens.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;

use crate::probes::elapsed_ms;
use crate::report::{ConnectFacts, ConnectOutcome, HopFacts, HopOutcome, IcmpFacts};

/// ICMP "time exceeded" (v4 type 11, v6 type 3): a router dropped the packet when its TTL ran out.
const ICMP4_TIME_EXCEEDED: u8 = 11;
const ICMP6_TIME_EXCEEDED: u8 = 3;
/// `ee_origin` values from linux/errqueue.h.
const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// Connects with IP_RECVERR on, so an ICMP error that ends the connect can be read back with its sender.
/// `ttl` limits the SYN's hop count (None: the system default).
pub async fn connect(
    addr: SocketAddr,
    ttl: Option<u8>,
    timeout: Duration,
    local_addrs: &[IpAddr],
) -> (ConnectFacts, Option<TcpStream>) {
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, raw_connect(addr, ttl)).await;
    let elapsed = elapsed_ms(start);
    let (outcome, errno, icmp, stream) = match result {
        Err(_) => (ConnectOutcome::TimedOut, None, None, None),
        Ok(Ok(stream)) => (ConnectOutcome::Connected, None, None, Some(stream)),
        Ok(Err(failure)) => {
            let errno = failure.error.raw_os_error();
            let icmp = failure.icmp.map(|mut i| {
                i.offender_is_local = i.offender.is_some_and(|o| local_addrs.contains(&o));
                i
            });
            (classify_errno(errno), errno, icmp, None)
        }
    };
    let local_port = stream
        .as_ref()
        .and_then(|s| s.local_addr().ok())
        .map(|a| a.port());
    (
        ConnectFacts {
            outcome,
            errno,
            elapsed_ms: elapsed,
            local_port,
            icmp,
            cut_short: false,
            answered_here: false,
        },
        stream,
    )
}

/// One TTL-limited SYN and what came back; never returns while nothing did (the caller's clock decides
/// when silence means "no answer").
pub async fn syn(addr: SocketAddr, ttl: u8, local_addrs: &[IpAddr]) -> HopFacts {
    send_syn(addr, ttl).answer(local_addrs).await
}

/// A TTL-limited SYN already on the wire: the connect call sends it before it returns, so SYNs sent one after
/// another leave in that order (a router's ICMP budget is spent in the order its SYNs arrive).
pub struct SentSyn {
    addr: SocketAddr,
    ttl: u8,
    start: Instant,
    socket: Result<Socket, ConnectFailure>,
}

/// Sends one SYN with `ttl` now, without waiting for anything.
pub fn send_syn(addr: SocketAddr, ttl: u8) -> SentSyn {
    SentSyn {
        addr,
        ttl,
        start: Instant::now(),
        socket: start_connect(addr, Some(ttl)),
    }
}

impl SentSyn {
    /// What came back to the SYN; never returns while nothing did.
    pub async fn answer(self, local_addrs: &[IpAddr]) -> HopFacts {
        let SentSyn {
            addr,
            ttl,
            start,
            socket,
        } = self;
        let result = match socket {
            Ok(socket) => finish_connect(socket).await,
            Err(f) => Err(f),
        };
        hop_facts(addr, ttl, start, result, local_addrs)
    }
}

fn hop_facts(
    addr: SocketAddr,
    ttl: u8,
    start: Instant,
    result: Result<TcpStream, ConnectFailure>,
    local_addrs: &[IpAddr],
) -> HopFacts {
    let elapsed = elapsed_ms(start);
    let mut hop = HopFacts::new(ttl, HopOutcome::Silent);
    hop.elapsed_ms = elapsed;
    match result {
        Ok(stream) => {
            hop.outcome = HopOutcome::SynAck;
            hop.router = Some(addr.ip());
            // A SYN-ACK to a SYN that could not pass the first router came from this host or that router:
            // the other end of the connection in this host's socket table says which, without root.
            if ttl == 1 {
                hop.here = stream.local_addr().is_ok_and(peer_is_here);
            }
            // Reset rather than close: the server (or whoever answered) should not keep a session for a probe.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        Err(f) => {
            let errno = f.error.raw_os_error();
            match (errno, f.icmp) {
                (_, Some(i)) if is_time_exceeded(&i, addr.is_ipv6()) => {
                    hop.outcome = HopOutcome::TimeExceeded;
                    hop.router = i.offender;
                }
                (_, Some(i)) => {
                    hop.outcome = HopOutcome::Unreachable;
                    hop.router = i.offender;
                    hop.icmp_type = Some(i.icmp_type);
                    hop.icmp_code = Some(i.icmp_code);
                    hop.here = i.offender.is_some_and(|o| local_addrs.contains(&o));
                }
                (Some(libc::ECONNREFUSED), None) => {
                    hop.outcome = HopOutcome::Reset;
                    hop.router = Some(addr.ip());
                }
                (e, None) => {
                    hop.outcome = HopOutcome::Error;
                    hop.errno = e;
                }
            }
        }
    }
    hop
}

/// A SYN with a small TTL: did it leave this host, and which router answered? (One SYN, waited for up to `timeout`.)
pub async fn hop(addr: SocketAddr, ttl: u8, timeout: Duration, local_addrs: &[IpAddr]) -> HopFacts {
    match tokio::time::timeout(timeout, syn(addr, ttl, local_addrs)).await {
        Ok(h) => h,
        Err(_) => {
            let mut h = HopFacts::new(ttl, HopOutcome::Silent);
            h.elapsed_ms = timeout.as_secs_f64() * 1e3;
            h
        }
    }
}

/// ICMP types are per family: v6 "time exceeded" is type 3, which in v4 is "destination unreachable".
fn is_time_exceeded(i: &IcmpFacts, v6: bool) -> bool {
    if v6 {
        i.icmp_type == ICMP6_TIME_EXCEEDED
    } else {
        i.icmp_type == ICMP4_TIME_EXCEEDED
    }
}

pub fn classify_errno(errno: Option<i32>) -> ConnectOutcome {
    match errno {
        Some(libc::ECONNREFUSED) => ConnectOutcome::Refused,
        Some(libc::ETIMEDOUT) => ConnectOutcome::TimedOut,
        Some(libc::EHOSTUNREACH) | Some(libc::EHOSTDOWN) => ConnectOutcome::HostUnreachable,
        Some(libc::ENETUNREACH) | Some(libc::ENETDOWN) => ConnectOutcome::NetworkUnreachable,
        Some(libc::EACCES) | Some(libc::EPERM) => ConnectOutcome::PermissionDenied,
        Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT) => ConnectOutcome::NoLocalAddress,
        _ => ConnectOutcome::Other,
    }
}

/// Whether the other end of a connection from `local` is a socket of this host: some socket in the kernel's
/// table has `local` as its peer. True after a NAT redirect to a local server or proxy, whatever it says in
/// its banner; read from /proc/net/tcp and tcp6 (a dual-stack listener shows IPv4 peers there, mapped), which
/// any user may read.
pub fn peer_is_here(local: SocketAddr) -> bool {
    let unmapped = |a: SocketAddr| match a.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(a, |v4| SocketAddr::new(IpAddr::V4(v4), a.port())),
        IpAddr::V4(_) => a,
    };
    let local = unmapped(local);
    [("/proc/net/tcp", false), ("/proc/net/tcp6", true)]
        .iter()
        .filter_map(|(path, v6)| Some((std::fs::read_to_string(path).ok()?, *v6)))
        .any(|(text, v6)| {
            crate::probes::host::parse_proc_net_tcp_sockets(&text, v6)
                .into_iter()
                .any(|(l, r)| unmapped(r) == local && unmapped(l) != local)
        })
}

struct ConnectFailure {
    error: io::Error,
    icmp: Option<IcmpFacts>,
}

impl From<io::Error> for ConnectFailure {
    fn from(error: io::Error) -> Self {
        ConnectFailure { error, icmp: None }
    }
}

/// A non-blocking connect on one descriptor: the socket stays ours after a failure, so the ICMP error that
/// ended it can be read from its error queue.
async fn raw_connect(addr: SocketAddr, ttl: Option<u8>) -> Result<TcpStream, ConnectFailure> {
    finish_connect(start_connect(addr, ttl)?).await
}

/// The connect call: the socket with its options, and the SYN sent (the call returns once it is).
fn start_connect(addr: SocketAddr, ttl: Option<u8>) -> Result<Socket, ConnectFailure> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(
        domain,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if addr.is_ipv4() {
        // Best effort: without IP_RECVERR we still get the errno, just not the ICMP sender.
        let _ = setsockopt(&socket.as_fd(), sockopt::Ipv4RecvErr, &true);
        if let Some(t) = ttl {
            socket.set_ttl_v4(u32::from(t))?;
        }
    } else {
        let _ = setsockopt(&socket.as_fd(), sockopt::Ipv6RecvErr, &true);
        if let Some(t) = ttl {
            socket.set_unicast_hops_v6(u32::from(t))?;
        }
    }
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(error) => {
            let icmp = read_error_queue(socket.as_raw_fd());
            Err(ConnectFailure { error, icmp })
        }
    }
}

/// Waits for the handshake a `start_connect` began to end either way.
async fn finish_connect(socket: Socket) -> Result<TcpStream, ConnectFailure> {
    // A connect in progress, waited on as tokio's own connect does: writable (or closed with an error) once
    // the handshake ends either way; the descriptor stays ours for the error queue.
    let std_stream: std::net::TcpStream = socket.into();
    let stream = TcpStream::from_std(std_stream)?;
    stream.writable().await?;
    let error = match stream.take_error() {
        Ok(None) => match stream.peer_addr() {
            Ok(_) => {
                // Small commands must not wait for delayed ACKs (Nagle), or each stage's time would include ~40 ms of ours.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => e,
        },
        Ok(Some(e)) | Err(e) => e,
    };
    let icmp = read_error_queue(stream.as_raw_fd());
    Err(ConnectFailure { error, icmp })
}

/// Reads one queued ICMP error (IP_RECVERR) without blocking.
fn read_error_queue(fd: std::os::fd::RawFd) -> Option<IcmpFacts> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    for c in msg.cmsgs().ok()? {
        match c {
            ControlMessageOwned::Ipv4RecvErr(err, from) => {
                if err.ee_origin != SO_EE_ORIGIN_ICMP {
                    continue;
                }
                let offender = from.map(|sin| {
                    IpAddr::from(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                });
                return Some(IcmpFacts {
                    icmp_type: err.ee_type,
                    icmp_code: err.ee_code,
                    offender,
                    offender_is_local: false,
                });
            }
            ControlMessageOwned::Ipv6RecvErr(err, from) => {
                if err.ee_origin != SO_EE_ORIGIN_ICMP6 {
                    continue;
                }
                let offender = from.map(|sin6| {
                    let v6 = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    // An IPv4 router answering for a v4-mapped path shows up mapped.
                    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                });
                return Some(IcmpFacts {
                    icmp_type: err.ee_type,
                    icmp_code: err.ee_code,
                    offender,
                    offender_is_local: false,
                });
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loopback_port_is_refused_fast() {
        // Bind then drop to get a port that is very likely closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            l.local_addr().expect("local addr").port()
        };
        let (facts, stream) = connect(
            SocketAddr::from(([127, 0, 0, 1], port)),
            None,
            Duration::from_secs(2),
            &[],
        )
        .await;
        assert!(stream.is_none());
        assert_eq!(facts.outcome, ConnectOutcome::Refused);
        assert_eq!(facts.errno, Some(libc::ECONNREFUSED));
    }

    #[tokio::test]
    async fn open_loopback_port_connects() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = l.local_addr().expect("local addr");
        let (facts, stream) = connect(addr, None, Duration::from_secs(2), &[]).await;
        assert_eq!(facts.outcome, ConnectOutcome::Connected);
        assert!(stream.is_some());
        // TTL 1 reaches a loopback server: there is no router in between.
        let hop = hop(addr, 1, Duration::from_secs(2), &[]).await;
        assert_eq!(hop.outcome, HopOutcome::SynAck);
    }

    #[test]
    fn errno_classes() {
        assert_eq!(
            classify_errno(Some(libc::ENETUNREACH)),
            ConnectOutcome::NetworkUnreachable
        );
        assert_eq!(
            classify_errno(Some(libc::EPERM)),
            ConnectOutcome::PermissionDenied
        );
        assert_eq!(classify_errno(None), ConnectOutcome::Other);
    }

    #[test]
    fn an_ipv4_unreachable_is_not_a_time_exceeded() {
        let icmp = |icmp_type| IcmpFacts {
            icmp_type,
            icmp_code: 3,
            offender: None,
            offender_is_local: false,
        };
        // v4 type 3 is "destination unreachable"; v6 type 3 is "time exceeded".
        assert!(!is_time_exceeded(&icmp(3), false));
        assert!(is_time_exceeded(&icmp(11), false));
        assert!(is_time_exceeded(&icmp(3), true));
        assert!(!is_time_exceeded(&icmp(11), true));
    }
}
