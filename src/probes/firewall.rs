//! Read-only look at this host's packet filter and NAT table (root only): the rules that touch mail ports, and redirected connections.

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::report::{FirewallFacts, FirewallRule, NatRedirect, RuleAction};

/// Most bytes read from one rule listing; a host with a huge rule set still answers in bounded memory.
const MAX_LISTING: usize = 4 * 1024 * 1024;

/// Lists the rules that could stop or divert outgoing TCP to `ports`. Never changes anything.
pub async fn read_rules(ports: &[u16], timeout: Duration) -> FirewallFacts {
    if !nix::unistd::geteuid().is_root() {
        return FirewallFacts {
            read: false,
            why_not: Some(
                "not root: run as root to have this host's firewall rules read (read-only)".into(),
            ),
            rules: Vec::new(),
        };
    }
    let (v4, v6) = tokio::join!(
        run_listing("iptables-save", timeout),
        run_listing("ip6tables-save", timeout)
    );
    let mut rules = Vec::new();
    let mut any = false;
    for (text, source, v6flag) in [(v4, "iptables", false), (v6, "ip6tables", true)] {
        if let Some(t) = text {
            any = true;
            rules.extend(parse_iptables_save(&t, source, v6flag));
        }
    }
    // Native nftables rules (tables iptables-nft did not make) only show in nft's own listing.
    if let Some(t) = run_listing_args("nft", &["list", "ruleset"], timeout).await {
        any = true;
        rules.extend(parse_nft(&t));
    }
    rules.retain(|r| r.ports.is_empty() || ports.iter().any(|p| r.matches_port(*p)));
    FirewallFacts {
        read: any,
        why_not: (!any).then(|| "neither iptables-save nor nft could be run".to_string()),
        rules,
    }
}

async fn run_listing(cmd: &str, timeout: Duration) -> Option<String> {
    run_listing_args(cmd, &[], timeout).await
}

async fn run_listing_args(cmd: &str, args: &[&str], timeout: Duration) -> Option<String> {
    let mut child = tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let read = async {
        let mut buf = Vec::new();
        let mut limited = (&mut stdout).take(MAX_LISTING as u64);
        limited.read_to_end(&mut buf).await.ok()?;
        let status = child.wait().await.ok()?;
        status
            .success()
            .then(|| String::from_utf8_lossy(&buf).into_owned())
    };
    tokio::time::timeout(timeout, read).await.ok().flatten()
}

/// Rules from `iptables-save` output: OUTPUT-side filter drops/rejects and nat redirects.
pub fn parse_iptables_save(text: &str, source: &str, v6: bool) -> Vec<FirewallRule> {
    let mut out = Vec::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            continue;
        }
        // ":OUTPUT DROP [0:0]": a default policy that drops everything not allowed.
        if let Some(rest) = line.strip_prefix(':') {
            let mut w = rest.split_whitespace();
            if let (Some("OUTPUT"), Some("DROP"), "filter") = (w.next(), w.next(), table.as_str()) {
                out.push(FirewallRule {
                    source: source.into(),
                    table: table.clone(),
                    chain: "OUTPUT".into(),
                    v6,
                    action: RuleAction::PolicyDrop,
                    ports: Vec::new(),
                    text: line.to_string(),
                });
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("-A ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some(chain) = words.first() else { continue };
        if is_inbound_chain(chain) {
            continue;
        }
        let target = value_after(&words, "-j").unwrap_or("");
        let action = match (table.as_str(), target) {
            ("filter", "DROP") => RuleAction::Drop,
            ("filter", "REJECT") => RuleAction::Reject,
            ("nat", "REDIRECT") => RuleAction::Redirect,
            ("nat", "DNAT") => RuleAction::Dnat,
            _ => continue,
        };
        if words.contains(&"udp") && !words.contains(&"tcp") {
            continue;
        }
        let mut ports = Vec::new();
        for key in [
            "--dport",
            "--dports",
            "--destination-port",
            "--destination-ports",
        ] {
            if let Some(v) = value_after(&words, key) {
                ports.extend(parse_port_list(v, ':'));
            }
        }
        out.push(FirewallRule {
            source: source.into(),
            table: table.clone(),
            chain: chain.to_string(),
            v6,
            action,
            ports,
            text: line.to_string(),
        });
    }
    out
}

fn is_inbound_chain(chain: &str) -> bool {
    let c = chain.to_ascii_uppercase();
    c == "INPUT" || c == "FORWARD" || c == "PREROUTING" || c.contains("INPUT") || c.contains("FWD")
}

fn value_after<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == key)
        .and_then(|i| words.get(i + 1))
        .copied()
}

/// "25,465,587", "20:30" (iptables) or "20-30" (nft) into inclusive ranges.
fn parse_port_list(v: &str, range_sep: char) -> Vec<(u16, u16)> {
    v.split(',')
        .filter_map(|part| {
            let part = part.trim().trim_matches(|c| c == '{' || c == '}').trim();
            match part.split_once(range_sep) {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => part.parse().ok().map(|p| (p, p)),
            }
        })
        .collect()
}

/// Rules from `nft list ruleset`, from chains hooked on output, skipping the tables iptables-nft made.
pub fn parse_nft(text: &str) -> Vec<FirewallRule> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut family_v6 = false;
    let mut skip_table = false;
    let mut chain = String::new();
    let mut output_hook = false;
    let mut nat_chain = false;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix("table ") {
            let mut w = rest.split_whitespace();
            let family = w.next().unwrap_or("");
            let name = w.next().unwrap_or("");
            table = format!("{family} {name}");
            family_v6 = family == "ip6";
            // iptables-nft's own tables are already read through iptables-save.
            skip_table = matches!(family, "ip" | "ip6")
                && matches!(name, "filter" | "nat" | "mangle" | "raw" | "security");
            continue;
        }
        if skip_table {
            continue;
        }
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.trim_end_matches('{').trim().to_string();
            output_hook = false;
            nat_chain = false;
            continue;
        }
        if line.starts_with("type ") {
            output_hook = line.contains("hook output");
            nat_chain = line.contains("type nat");
            if output_hook && line.contains("policy drop") {
                out.push(FirewallRule {
                    source: "nft".into(),
                    table: table.clone(),
                    chain: chain.clone(),
                    v6: family_v6,
                    action: RuleAction::PolicyDrop,
                    ports: Vec::new(),
                    text: line.to_string(),
                });
            }
            continue;
        }
        if !output_hook {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let action = if words.contains(&"drop") {
            RuleAction::Drop
        } else if words.contains(&"reject") {
            RuleAction::Reject
        } else if nat_chain && words.contains(&"redirect") {
            RuleAction::Redirect
        } else if nat_chain && words.contains(&"dnat") {
            RuleAction::Dnat
        } else {
            continue;
        };
        if words.contains(&"udp") && !words.contains(&"tcp") {
            continue;
        }
        let mut ports = Vec::new();
        if let Some(i) = words.iter().position(|w| *w == "dport") {
            // "dport 587", "dport { 25, 465 }", "dport 20-30"
            let mut list = String::new();
            for w in &words[i + 1..] {
                list.push_str(w);
                if !w.starts_with('{') && !w.ends_with(',') {
                    break;
                }
                if w.ends_with('}') {
                    break;
                }
            }
            ports = parse_port_list(&list, '-');
        }
        out.push(FirewallRule {
            source: "nft".into(),
            table: table.clone(),
            chain: chain.clone(),
            v6: family_v6,
            action,
            ports,
            text: line.to_string(),
        });
    }
    out
}

/// Opens /proc/net/nf_conntrack (root only) ahead of the probes: an open file stays readable after --as-user gives root up.
pub fn open_conntrack() -> Option<std::fs::File> {
    std::fs::File::open("/proc/net/nf_conntrack").ok()
}

/// Connections whose reply comes from somewhere other than where they were sent: NAT redirects, from the file `open_conntrack` opened.
pub fn read_redirects(conntrack: &mut std::fs::File, ports: &[u16]) -> Vec<NatRedirect> {
    use std::io::{Read, Seek, SeekFrom};
    // From the start, whatever read it before: the table as it is now, after the probes.
    let mut text = String::new();
    if conntrack.seek(SeekFrom::Start(0)).is_err() || conntrack.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    parse_conntrack(&text, ports)
}

/// Parses conntrack lines like `ipv4 2 tcp 6 117 TIME_WAIT src=… dst=203.0.113.10 sport=… dport=587 src=127.0.0.1 dst=… sport=10587 dport=…`.
pub fn parse_conntrack(text: &str, ports: &[u16]) -> Vec<NatRedirect> {
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
        if !ports.contains(orig_dport) {
            continue;
        }
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
    fn iptables_save_rules() {
        let text = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -p tcp -m tcp --dport 22 -j DROP\n\
-A OUTPUT -p tcp -m tcp --dport 587 -j DROP\n\
-A OUTPUT -p tcp -m multiport --dports 25,465,2500:2600 -j REJECT --reject-with icmp-port-unreachable\n\
-A OUTPUT -p udp -m udp --dport 53 -j DROP\nCOMMIT\n*nat\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -d 203.0.113.10/32 -p tcp -m tcp --dport 587 -j REDIRECT --to-ports 10587\nCOMMIT\n";
        let rules = parse_iptables_save(text, "iptables", false);
        assert_eq!(rules.len(), 3, "{rules:?}");
        assert_eq!(rules[0].action, RuleAction::Drop);
        assert!(rules[0].matches_port(587) && !rules[0].matches_port(25));
        assert_eq!(rules[1].action, RuleAction::Reject);
        assert!(
            rules[1].matches_port(465)
                && rules[1].matches_port(2525)
                && !rules[1].matches_port(587)
        );
        assert_eq!(rules[2].action, RuleAction::Redirect);
        assert_eq!(rules[2].table, "nat");
    }

    #[test]
    fn output_policy_drop() {
        let rules = parse_iptables_save("*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n", "iptables", false);
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].action, RuleAction::PolicyDrop);
        assert!(rules[0].matches_port(25));
    }

    #[test]
    fn nft_rules() {
        let text = "table inet fw {\n\tchain out {\n\t\ttype filter hook output priority filter; policy accept;\n\
\t\ttcp dport { 25, 465 } drop\n\t\ttcp dport 587 reject with tcp reset\n\t}\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 25 drop\n\t}\n}\n\
table ip nat {\n\tchain OUTPUT {\n\t\ttype nat hook output priority -100; policy accept;\n\t\ttcp dport 587 counter redirect to :10587\n\t}\n}\n\
table ip mynat {\n\tchain o {\n\t\ttype nat hook output priority -100; policy accept;\n\t\ttcp dport 2525 dnat to 127.0.0.1:10025\n\t}\n}\n";
        let rules = parse_nft(text);
        assert_eq!(rules.len(), 3, "{rules:?}");
        assert!(
            rules[0].matches_port(25) && rules[0].matches_port(465) && !rules[0].matches_port(587)
        );
        assert_eq!(rules[1].action, RuleAction::Reject);
        assert_eq!(rules[2].action, RuleAction::Dnat);
        assert!(rules[2].matches_port(2525));
    }

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
