//! Facts about the machine the probe runs on: its name, its addresses and its local mail listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::report::{HostFacts, Listener};

/// The mail ports whose local listeners matter (a local MTA, a proxy).
pub const MAIL_PORTS: [u16; 4] = [25, 465, 587, 2525];

/// This host's name as the kernel knows it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The EHLO name: this host's name when it is a usable domain, else an address literal as RFC 5321 asks.
pub fn ehlo_name() -> String {
    let h = hostname();
    let usable = h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !h.starts_with('-');
    if usable {
        h
    } else {
        "[127.0.0.1]".to_string()
    }
}

/// Every address configured on this host's interfaces (loopback included).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() {
        for ifa in ifaddrs {
            let Some(addr) = ifa.address else { continue };
            if let Some(v4) = addr.as_sockaddr_in() {
                out.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                out.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `ip` is loopback or inside a network of one of this host's interfaces (no router in between).
pub fn on_link(ip: &IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    for ifa in ifaddrs {
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        let inside = match (
            ip,
            addr.as_sockaddr_in(),
            mask.as_sockaddr_in(),
            addr.as_sockaddr_in6(),
            mask.as_sockaddr_in6(),
        ) {
            (IpAddr::V4(t), Some(a), Some(m), _, _) => {
                let m = u32::from(m.ip());
                (u32::from(*t) & m) == (u32::from(a.ip()) & m)
            }
            (IpAddr::V6(t), _, _, Some(a), Some(m)) => {
                let m = u128::from(m.ip());
                (u128::from(*t) & m) == (u128::from(a.ip()) & m)
            }
            _ => false,
        };
        if inside {
            return true;
        }
    }
    false
}

pub fn gather() -> HostFacts {
    let mut listeners = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(path) {
            listeners.extend(
                parse_proc_net_tcp(&text, v6)
                    .into_iter()
                    .filter(|l| MAIL_PORTS.contains(&l.port)),
            );
        }
    }
    HostFacts {
        hostname: hostname(),
        mail_listeners: listeners,
        firewall: None,
        nat_redirects: Vec::new(),
        // Filled in where the probes begin, after --as-user has switched users.
        user: Default::default(),
    }
}

/// Listening sockets (state 0A) from the text of /proc/net/tcp or tcp6.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let mut cols = line.split_whitespace();
        let (Some(_slot), Some(local), Some(_remote), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        if state != "0A" {
            continue;
        }
        let Some((addr_hex, port_hex)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let Some(address) = parse_hex_addr(addr_hex, v6) else {
            continue;
        };
        out.push(Listener { address, port });
    }
    out
}

/// Every socket's local and remote endpoint from the text of /proc/net/tcp or tcp6.
pub fn parse_proc_net_tcp_sockets(
    text: &str,
    v6: bool,
) -> Vec<(std::net::SocketAddr, std::net::SocketAddr)> {
    let endpoint = |s: &str| {
        let (addr_hex, port_hex) = s.split_once(':')?;
        let port = u16::from_str_radix(port_hex, 16).ok()?;
        Some(std::net::SocketAddr::new(
            parse_hex_addr(addr_hex, v6)?,
            port,
        ))
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (_slot, local, remote) = (cols.next()?, cols.next()?, cols.next()?);
            Some((endpoint(local)?, endpoint(remote)?))
        })
        .collect()
}

/// The kernel prints each 32-bit word of the address in host (little-endian) byte order.
fn parse_hex_addr(hex: &str, v6: bool) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| {
            hex.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect::<Option<Vec<u32>>>()?;
    match (v6, words.as_slice()) {
        (false, [w]) if hex.len() == 8 => Some(IpAddr::V4(Ipv4Addr::from(w.swap_bytes()))),
        (true, [a, b, c, d]) if hex.len() == 32 => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_listeners() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n\
   1: 0A01A8C0:D431 0A01A8C1:024B 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1\n\
   2: garbage\n";
        let l = parse_proc_net_tcp(text, false);
        assert_eq!(
            l,
            vec![Listener {
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 25
            }]
        );
        let text6 = "header\n   0: 00000000000000000000000001000000:024B 00000000000000000000000000000000:0000 0A 0\n";
        let l = parse_proc_net_tcp(text6, true);
        assert_eq!(
            l,
            vec![Listener {
                address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                port: 587
            }]
        );
    }

    #[test]
    fn loopback_is_on_link_and_documentation_space_is_not() {
        assert!(on_link(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(!on_link(
            &"203.0.113.200"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        ));
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
        assert!(!ehlo_name().is_empty());
    }
}
