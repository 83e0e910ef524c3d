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
        },
        stream,
    )
}

/// A SYN with a small TTL: did it leave this host, and which router answered?
pub async fn hop(addr: SocketAddr, ttl: u8, timeout: Duration) -> HopFacts {
    let start = Instant::now();
    let result = tokio::time::timeout(timeout, raw_connect(addr, Some(ttl))).await;
    let elapsed = elapsed_ms(start);
    let (outcome, router) = match result {
        Err(_) => (HopOutcome::Silent, None),
        Ok(Ok(_stream)) => (HopOutcome::Reached, None),
        Ok(Err(f)) => match (f.error.raw_os_error(), f.icmp) {
            (_, Some(i)) if is_time_exceeded(&i) => (HopOutcome::TimeExceeded, i.offender),
            (Some(libc::ECONNREFUSED), None) => (HopOutcome::Reached, None),
            (_, icmp) => (HopOutcome::Error, icmp.and_then(|i| i.offender)),
        },
    };
    HopFacts {
        ttl,
        outcome,
        router,
        elapsed_ms: elapsed,
    }
}

fn is_time_exceeded(i: &IcmpFacts) -> bool {
    i.icmp_type == ICMP4_TIME_EXCEEDED || i.icmp_type == ICMP6_TIME_EXCEEDED
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

struct ConnectFailure {
    error: io::Error,
    icmp: Option<IcmpFacts>,
}

impl From<io::Error> for ConnectFailure {
    fn from(error: io::Error) -> Self {
        ConnectFailure { error, icmp: None }
    }
}

async fn raw_connect(addr: SocketAddr, ttl: Option<u8>) -> Result<TcpStream, ConnectFailure> {
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
    // A duplicate of the descriptor outlives a failed connect, so the ICMP error can still be read from it.
    let probe = socket.try_clone()?;
    let std_stream: std::net::TcpStream = socket.into();
    let tokio_socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    match tokio_socket.connect(addr).await {
        Ok(stream) => {
            // Small commands must not wait for delayed ACKs (Nagle), or each stage's time would include ~40 ms of ours.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Err(error) => {
            let icmp = read_error_queue(&probe);
            Err(ConnectFailure { error, icmp })
        }
    }
}

/// Reads one queued ICMP error (IP_RECVERR) without blocking.
fn read_error_queue(socket: &Socket) -> Option<IcmpFacts> {
    let mut data = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
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
        let hop = hop(addr, 1, Duration::from_secs(2)).await;
        assert_eq!(hop.outcome, HopOutcome::Reached);
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
}
