//! Read-only look at this host's packet filter (root only) and its managers' files, the walk of each probe's SYN through it, and the NAT table's redirected connections.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::host::netfilter::{Packet, Ruleset};
use crate::host::{self, Files};
use crate::report::{FirewallFacts, IdKind, NatRedirect, NotRead, Report};

/// Most bytes read from one rule listing; a host with a huge rule set still answers in bounded memory.
const MAX_LISTING: usize = 4 * 1024 * 1024;
/// Most bytes read from one manager file (csf.conf is ~100 KiB).
const MAX_FILE: u64 = 512 * 1024;

/// The rules as read, kept in memory until the probes are done and each one's path can be walked.
#[derive(Debug, Clone, Default)]
pub struct HostRules {
    pub ruleset: Ruleset,
    pub facts: FirewallFacts,
}

/// Reads this host's packet filter (root only) and the files its managers are known by. Never changes anything.
pub async fn read_rules(timeout: Duration) -> HostRules {
    let files = read_files(&host::file_paths());
    if !nix::unistd::geteuid().is_root() {
        return HostRules {
            facts: FirewallFacts {
                read: false,
                why_not: Some(NotRead::NotRoot),
                managers: host::recognise(&Ruleset::default(), &files),
            },
            ruleset: Ruleset::default(),
        };
    }
    let (v4, v6, nft_json, nft_text) = tokio::join!(
        run_listing("iptables-save", &[], timeout),
        run_listing("ip6tables-save", &[], timeout),
        run_listing("nft", &["-j", "list", "ruleset"], timeout),
        run_listing("nft", &["-a", "list", "ruleset"], timeout),
    );
    let mut ruleset = Ruleset::default();
    let mut any = false;
    let mut iptables_on_nft = false;
    for (text, v6) in [(v4, false), (v6, true)] {
        if let Some(t) = text {
            any = true;
            let (chains, backend) = host::iptables::parse(&t, v6);
            iptables_on_nft |= backend == Some(host::iptables::Backend::Nft);
            ruleset.chains.extend(chains);
        }
    }
    if let Some(json) = nft_json {
        any = true;
        ruleset.chains.extend(host::nft::parse(
            &json,
            nft_text.as_deref().unwrap_or_default(),
            iptables_on_nft,
        ));
    }
    HostRules {
        facts: FirewallFacts {
            read: any,
            why_not: (!any).then_some(NotRead::NoTool),
            managers: host::recognise(&ruleset, &files),
        },
        ruleset,
    }
}

/// The manager files that exist, with their text when this user may read it.
fn read_files(paths: &[&str]) -> Files {
    use std::io::Read;
    let mut files = Files::default();
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        let text = std::fs::File::open(p).ok().and_then(|f| {
            let mut buf = Vec::new();
            f.take(MAX_FILE).read_to_end(&mut buf).ok()?;
            // Binaries are there to be found, not read.
            (!buf.contains(&0)).then(|| String::from_utf8_lossy(&buf).into_owned())
        });
        files.found.insert(p.to_string(), text);
    }
    files
}

async fn run_listing(cmd: &str, args: &[&str], timeout: Duration) -> Option<String> {
    let out = super::tool::run(std::path::Path::new(cmd), args, timeout, MAX_LISTING).await;
    out.success().then_some(out.stdout)
}

/// The source address and interface the kernel routes `dst` through (a UDP connect sends nothing).
fn route_to(dst: SocketAddr) -> (Option<IpAddr>, Option<String>) {
    let bind: SocketAddr = if dst.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let Some(src) = UdpSocket::bind(bind)
        .and_then(|s| s.connect(dst).and_then(|_| s.local_addr()))
        .ok()
        .map(|a| a.ip())
    else {
        return (None, None);
    };
    if dst.ip().is_loopback() || src == dst.ip() {
        return (Some(src), Some("lo".into()));
    }
    let iface = nix::ifaddrs::getifaddrs().ok().and_then(|mut it| {
        it.find(|i| {
            i.address.is_some_and(|a| {
                a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())) == Some(src)
                    || a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())) == Some(src)
            })
        })
        .map(|i| i.interface_name)
    });
    (Some(src), iface)
}

fn id_name(kind: IdKind, id: u32) -> Option<String> {
    match kind {
        IdKind::User => nix::unistd::User::from_uid(id.into())
            .ok()
            .flatten()
            .map(|u| u.name),
        IdKind::Group => nix::unistd::Group::from_gid(id.into())
            .ok()
            .flatten()
            .map(|g| g.name),
    }
}

/// Walks each attempt's first SYN through the rules read, as this process's user would send it.
pub fn walk_attempts(rules: &HostRules, report: &mut Report, local_addrs: &[IpAddr]) {
    if rules.ruleset.is_empty() {
        return;
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let groups: Vec<u32> = nix::unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    for pr in &mut report.ports {
        for a in &mut pr.attempts {
            let (saddr, oif) = route_to(SocketAddr::new(a.address, pr.port));
            let packet = Packet {
                daddr: a.address,
                dport: pr.port,
                saddr,
                daddr_local: local_addrs.contains(&a.address),
                oif,
                uid,
                gid,
                groups: groups.clone(),
            };
            a.host_path = Some(host::host_path(
                &rules.ruleset,
                &packet,
                &rules.facts.managers,
                &id_name,
            ));
        }
    }
}

/// Opens /proc/net/nf_conntrack (root only) ahead of the probes: an open file stays readable after --as-user gives root up.
pub fn open_conntrack() -> Option<std::fs::File> {
    std::fs::File::open("/proc/net/nf_conntrack").ok()
}

/// Connections whose reply comes from somewhere other than where they were sent: NAT redirects, from the file `open_conntrack` opened.
pub fn read_redirects(conntrack: &mut std::fs::File) -> Vec<NatRedirect> {
    use std::io::{Read, Seek, SeekFrom};
    // From the start, whatever read it before: the table as it is now, after the probes.
    let mut text = String::new();
    if conntrack.seek(SeekFrom::Start(0)).is_err() || conntrack.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    parse_conntrack_all(&text)
}

/// The redirects of connections to `ports` among conntrack lines.
pub fn parse_conntrack(text: &str, ports: &[u16]) -> Vec<NatRedirect> {
    parse_conntrack_all(text)
        .into_iter()
        .filter(|r| ports.contains(&r.original_port))
        .collect()
}

/// Parses conntrack lines like `ipv4 2 tcp 6 117 TIME_WAIT src=… dst=203.0.113.10 sport=… dport=587 src=127.0.0.1 dst=… sport=10587 dport=…`.
fn parse_conntrack_all(text: &str) -> Vec<NatRedirect> {
    let mut out = Vec::new();
    for line in text.lines().take(100_000) {
        if !line.contains(" tcp ") {
            continue;
        }
        let mut dsts: Vec<IpAddr> = Vec::new();
        let mut srcs: Vec<IpAddr> = Vec::new();
        let mut dports: Vec<u16> = Vec::new();
        let mut sports: Vec<u16> = Vec::new();
        for field in line.split_whitespace() {
            if let Some(v) = field.strip_prefix("src=") {
                if let Ok(ip) = v.parse() {
                    srcs.push(ip);
                }
            } else if let Some(v) = field.strip_prefix("dst=") {
                if let Ok(ip) = v.parse() {
                    dsts.push(ip);
                }
            } else if let Some(v) = field.strip_prefix("dport=") {
                if let Ok(p) = v.parse() {
                    dports.push(p);
                }
            } else if let Some(v) = field.strip_prefix("sport=") {
                if let Ok(p) = v.parse() {
                    sports.push(p);
                }
            }
        }
        // Original tuple first, reply tuple second.
        let (
            Some(orig_sport),
            Some(orig_dst),
            Some(orig_dport),
            Some(reply_src),
            Some(reply_sport),
        ) = (
            sports.first(),
            dsts.first(),
            dports.first(),
            srcs.get(1),
            sports.get(1),
        )
        else {
            continue;
        };
        if orig_dst != reply_src || orig_dport != reply_sport {
            let r = NatRedirect {
                original_source_port: *orig_sport,
                original_destination: *orig_dst,
                original_port: *orig_dport,
                answered_by: *reply_src,
                answered_port: *reply_sport,
            };
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conntrack_redirects() {
        let text = "ipv4     2 tcp      6 118 TIME_WAIT src=198.51.100.10 dst=203.0.113.10 sport=40000 dport=587 src=127.0.0.1 dst=198.51.100.10 sport=10587 dport=40000 [ASSURED] mark=0 zone=0 use=2\n\
ipv4     2 tcp      6 118 TIME_WAIT src=198.51.100.10 dst=203.0.113.10 sport=40001 dport=465 src=203.0.113.10 dst=198.51.100.10 sport=465 dport=40001 [ASSURED] mark=0 zone=0 use=2\n\
ipv4     2 udp      17 20 src=198.51.100.10 dst=198.51.100.1 sport=5353 dport=53 src=198.51.100.1 dst=198.51.100.10 sport=53 dport=5353 mark=0 use=2\n";
        let r = parse_conntrack(text, &[25, 465, 587]);
        assert_eq!(
            r,
            vec![NatRedirect {
                original_source_port: 40000,
                original_destination: "203.0.113.10".parse().unwrap_or(IpAddr::from([0; 4])),
                original_port: 587,
                answered_by: IpAddr::from([127, 0, 0, 1]),
                answered_port: 10587,
            }]
        );
    }
}
