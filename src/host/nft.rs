//! Native nftables: reading `nft -j list ruleset` (with the rule texts of `nft -a list ruleset`) into chains, and its fix.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::netfilter::{Action, Chain, Family, Hook, Kind, Match, Rule, Source};

/// Where a hand-written nft rule set is kept across reboots.
pub const CONF: &str = "/etc/nftables.conf";
pub const FILES: &[&str] = &[CONF];

/// The tables iptables-nft makes; they are read through iptables-save when it runs on nf_tables.
const IPTABLES_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// Chains from nft's JSON listing. `texts` is `nft -a list ruleset`, whose `# handle N` comments name each rule's text;
/// `skip_iptables_tables` leaves out ip/ip6 tables that iptables-save already gave.
pub fn parse(json: &str, texts: &str, skip_iptables_tables: bool) -> Vec<Chain> {
    let Ok(doc) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else {
        return Vec::new();
    };
    let texts = rule_texts(texts);
    let skip = |family: &str, table: &str| {
        skip_iptables_tables && matches!(family, "ip" | "ip6") && IPTABLES_TABLES.contains(&table)
    };
    // Named sets (`ip daddr @allowed`), by (family, table, name).
    let mut sets: HashMap<(String, String, String), Value> = HashMap::new();
    for item in items {
        if let Some(s) = item.get("set") {
            sets.insert(
                (s_str(s, "family"), s_str(s, "table"), s_str(s, "name")),
                s.get("elem").cloned().unwrap_or(Value::Null),
            );
        }
    }
    let mut chains: Vec<Chain> = Vec::new();
    for item in items {
        if let Some(c) = item.get("chain") {
            let (family, table) = (s_str(c, "family"), s_str(c, "table"));
            if skip(&family, &table) {
                continue;
            }
            let hook = c.get("hook").and_then(Value::as_str).map(|h| {
                if h == "output" {
                    Hook::Output
                } else {
                    Hook::Other
                }
            });
            chains.push(Chain {
                source: Source::Nft,
                family: family_of(&family),
                table,
                nft_family: family,
                name: s_str(c, "name"),
                hook,
                kind: if c.get("type").and_then(Value::as_str) == Some("nat") {
                    Kind::Nat
                } else {
                    Kind::Filter
                },
                priority: c
                    .get("prio")
                    .and_then(Value::as_i64)
                    .and_then(|p| i32::try_from(p).ok())
                    .unwrap_or(0),
                policy_drop: c.get("policy").and_then(Value::as_str) == Some("drop"),
                rules: Vec::new(),
            });
        } else if let Some(r) = item.get("rule") {
            let (family, table, chain) = (s_str(r, "family"), s_str(r, "table"), s_str(r, "chain"));
            if skip(&family, &table) {
                continue;
            }
            let handle = r.get("handle").and_then(Value::as_u64).unwrap_or(0);
            let lookup = |name: &str| {
                sets.get(&(family.clone(), table.clone(), name.to_string()))
                    .cloned()
            };
            let mut rule = parse_rule(r, &lookup);
            if let Some(t) = texts.get(&(family.clone(), table.clone(), chain.clone(), handle)) {
                rule.text = t.clone();
            }
            if let Some(c) = chains
                .iter_mut()
                .find(|c| c.nft_family == family && c.table == table && c.name == chain)
            {
                c.rules.push(rule);
            }
        }
    }
    chains
}

fn s_str(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn family_of(f: &str) -> Family {
    match f {
        "ip" => Family::V4,
        "ip6" => Family::V6,
        "inet" => Family::Both,
        _ => Family::Other,
    }
}

/// Rule texts of `nft -a list ruleset` by (family, table, chain, handle), without the handle comment.
fn rule_texts(text: &str) -> HashMap<(String, String, String, u64), String> {
    let mut out = HashMap::new();
    let (mut family, mut table, mut chain) = (String::new(), String::new(), String::new());
    for line in text.lines().take(1_000_000) {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("table ") {
            let mut w = rest.split_whitespace();
            family = w.next().unwrap_or_default().to_string();
            table = w.next().unwrap_or_default().to_string();
            continue;
        }
        if let Some(rest) = l.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            continue;
        }
        if let Some((body, handle)) = l.rsplit_once(" # handle ") {
            if let Ok(h) = handle.trim().parse::<u64>() {
                out.insert(
                    (family.clone(), table.clone(), chain.clone(), h),
                    body.trim().to_string(),
                );
            }
        }
    }
    out
}

fn parse_rule(r: &Value, sets: &dyn Fn(&str) -> Option<Value>) -> Rule {
    let mut matches = Vec::new();
    let mut action = Action::Continue;
    let exprs = r
        .get("expr")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut words = Vec::new();
    for e in &exprs {
        let Some((key, body)) = e.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        words.push(key.clone());
        match key.as_str() {
            "match" => matches.push(parse_match(body, sets)),
            "accept" => action = Action::Accept,
            "drop" => action = Action::Drop,
            "reject" => action = Action::Reject,
            "return" => action = Action::Return,
            "jump" => action = Action::Jump(s_str(body, "target")),
            "goto" => action = Action::Goto(s_str(body, "target")),
            "redirect" => {
                action = Action::Redirect {
                    port: body
                        .get("port")
                        .and_then(number)
                        .and_then(|p| u16::try_from(p).ok()),
                }
            }
            "dnat" => {
                action = Action::Dnat {
                    addr: body
                        .get("addr")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse().ok()),
                    port: body
                        .get("port")
                        .and_then(number)
                        .and_then(|p| u16::try_from(p).ok()),
                }
            }
            // A rate limit decides nothing about which packets a rule is for.
            "counter" | "log" | "limit" | "mangle" | "notrack" | "meta" | "ct" | "snat"
            | "masquerade" | "quota" => {}
            other => matches.push(Match::Unknown(other.to_string())),
        }
    }
    Rule {
        text: if words.is_empty() {
            String::new()
        } else {
            words.join(" ")
        },
        matches,
        action,
        comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
    }
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The values on the right of a match: a value, a range, a prefix, an anonymous set, or a named set's elements.
enum Item {
    Num(u64, u64),
    Text(String),
    Net(IpAddr, u8),
}

fn items(v: &Value, sets: &dyn Fn(&str) -> Option<Value>, out: &mut Vec<Item>, depth: u8) {
    if depth > 4 {
        return;
    }
    match v {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                out.push(Item::Num(n, n));
            }
        }
        Value::String(s) => {
            if let Some(name) = s.strip_prefix('@') {
                if let Some(elems) = sets(name) {
                    items(&elems, sets, out, depth + 1);
                }
            } else if let Ok(ip) = s.parse::<IpAddr>() {
                out.push(Item::Net(ip, if ip.is_ipv6() { 128 } else { 32 }));
            } else {
                out.push(Item::Text(s.clone()));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| items(x, sets, out, depth + 1)),
        Value::Object(o) => {
            if let Some(s) = o.get("set") {
                items(s, sets, out, depth + 1);
            } else if let Some(Value::Array(r)) = o.get("range") {
                match (r.first().and_then(number), r.get(1).and_then(number)) {
                    (Some(a), Some(b)) => out.push(Item::Num(a, b)),
                    _ => {
                        // An address range: keep its first address as a host; rare on the output side.
                        if let Some(ip) = r
                            .first()
                            .and_then(Value::as_str)
                            .and_then(|s| s.parse().ok())
                        {
                            out.push(Item::Net(
                                ip,
                                if matches!(ip, IpAddr::V6(_)) { 128 } else { 32 },
                            ));
                        }
                    }
                }
            } else if let Some(p) = o.get("prefix") {
                let addr = p
                    .get("addr")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok());
                let len = p
                    .get("len")
                    .and_then(Value::as_u64)
                    .and_then(|l| u8::try_from(l).ok());
                if let (Some(a), Some(l)) = (addr, len) {
                    out.push(Item::Net(a, l));
                }
            } else if let Some(e) = o.get("elem") {
                // Set elements with options (timeouts, counters) wrap the value in "elem": {"val": …}.
                if let Some(val) = e.get("val") {
                    items(val, sets, out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn parse_match(m: &Value, sets: &dyn Fn(&str) -> Option<Value>) -> Match {
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let neg = op == "!=";
    let left = m.get("left").cloned().unwrap_or(Value::Null);
    let mut right = Vec::new();
    items(m.get("right").unwrap_or(&Value::Null), sets, &mut right, 0);
    let unknown = || Match::Unknown(format!("{left} {op}"));
    if !matches!(op, "==" | "!=" | "in") {
        return unknown();
    }
    let nums = |right: &[Item]| -> Vec<(u64, u64)> {
        right
            .iter()
            .filter_map(|i| match i {
                Item::Num(a, b) => Some((*a, *b)),
                _ => None,
            })
            .collect()
    };
    let texts = |right: &[Item]| -> Vec<String> {
        right
            .iter()
            .filter_map(|i| match i {
                Item::Text(t) => Some(t.clone()),
                Item::Num(a, _) => Some(a.to_string()),
                _ => None,
            })
            .collect()
    };
    if let Some(p) = left.get("payload") {
        let proto = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let field = p.get("field").and_then(Value::as_str).unwrap_or_default();
        return match (proto, field) {
            ("tcp" | "th", "dport") => {
                let ranges = nums(&right)
                    .into_iter()
                    .map(|(a, b)| (clamp16(a), clamp16(b)))
                    .collect();
                let port = Match::DestPort { neg, ranges };
                // `udp dport 53` is also a protocol test: our TCP packet fails it.
                port
            }
            ("udp" | "sctp" | "dccp" | "udplite", _) => Match::Protocol {
                neg: false,
                any_of: vec![proto.to_string()],
            },
            ("ip" | "ip6", "daddr" | "saddr") => {
                let nets: Vec<(IpAddr, u8)> = right
                    .iter()
                    .filter_map(|i| match i {
                        Item::Net(a, l) => Some((*a, *l)),
                        _ => None,
                    })
                    .collect();
                if field == "daddr" {
                    Match::DestAddr { neg, nets }
                } else {
                    Match::SourceAddr { neg, nets }
                }
            }
            ("ip", "protocol") | ("ip6", "nexthdr") => Match::Protocol {
                neg,
                any_of: texts(&right),
            },
            ("tcp", "flags") => Match::AlwaysForSyn,
            _ => unknown(),
        };
    }
    if let Some(meta) = left.get("meta") {
        let key = meta.get("key").and_then(Value::as_str).unwrap_or_default();
        let ids = || -> Option<Vec<(u32, u32)>> {
            let all_numbers = right.iter().all(|i| matches!(i, Item::Num(..)));
            all_numbers.then(|| {
                nums(&right)
                    .into_iter()
                    .map(|(a, b)| (clamp32(a), clamp32(b)))
                    .collect()
            })
        };
        return match key {
            "l4proto" => Match::Protocol {
                neg,
                any_of: texts(&right),
            },
            "nfproto" => match texts(&right).first().map(String::as_str) {
                Some("ipv4") if !neg => Match::Nfproto { v6: false },
                Some("ipv6") if !neg => Match::Nfproto { v6: true },
                Some("ipv4") => Match::Nfproto { v6: true },
                Some("ipv6") => Match::Nfproto { v6: false },
                _ => unknown(),
            },
            "oifname" | "oif" => Match::OutIface {
                neg,
                names: texts(&right),
            },
            "iifname" | "iif" => Match::InIface {
                neg,
                names: texts(&right),
            },
            "skuid" => ids()
                .map(|ranges| Match::Uid { neg, ranges })
                .unwrap_or_else(unknown),
            "skgid" => ids()
                .map(|ranges| Match::Gid {
                    neg,
                    ranges,
                    suppl: false,
                })
                .unwrap_or_else(unknown),
            _ => unknown(),
        };
    }
    if let Some(ct) = left.get("ct") {
        if ct.get("key").and_then(Value::as_str) == Some("state") {
            return Match::CtState {
                neg,
                states: texts(&right),
            };
        }
    }
    unknown()
}

fn clamp16(v: u64) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The command that accepts TCP to `port` first in the chain that holds the blocking rule.
pub fn allow(family: &str, table: &str, chain: &str, port: u16) -> String {
    format!("nft insert rule {family} {table} {chain} tcp dport {port} accept")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::netfilter::{Outcome, Packet, Ruleset};

    // Printed by nft 1.0.6 (`nft -j list ruleset`, `nft -a list ruleset`) for a table written by hand.
    const JSON: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
{"table": {"family": "inet", "name": "t", "handle": 1}},
{"set": {"family": "inet", "name": "s4", "table": "t", "type": "ipv4_addr", "handle": 3, "flags": ["interval"], "elem": ["192.0.2.1", {"prefix": {"addr": "198.51.100.0", "len": 24}}]}},
{"chain": {"family": "inet", "table": "t", "name": "out", "handle": 1, "type": "filter", "hook": "output", "prio": 10, "policy": "accept"}},
{"chain": {"family": "inet", "table": "t", "name": "sub", "handle": 2}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 5, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": 0}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 6, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "lo"}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 7, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@s4"}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 8, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [25, 465, 587]}}}, {"counter": {"packets": 0, "bytes": 0}}, {"reject": {"type": "tcp reset"}}], "comment": "x y"}},
{"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 9, "expr": [{"jump": {"target": "sub"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "sub", "handle": 10, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [2525, 2600]}}}, {"log": {"prefix": "blk "}}, {"drop": null}]}},
{"table": {"family": "ip", "name": "filter", "handle": 2}},
{"chain": {"family": "ip", "table": "filter", "name": "OUTPUT", "handle": 1, "type": "filter", "hook": "output", "prio": 0, "policy": "drop"}}
]}"#;
    const TEXT: &str = "table inet t { # handle 1\n\tchain out { # handle 1\n\t\ttype filter hook output priority filter + 10; policy accept;\n\
\t\tmeta nfproto ipv4 tcp dport { 25, 465, 587 } counter packets 0 bytes 0 reject with tcp reset comment \"x y\" # handle 8\n\t}\n}\n";

    fn packet(uid: u32, daddr: [u8; 4], dport: u16) -> Packet {
        Packet::sample(uid, IpAddr::from(daddr), dport)
    }

    #[test]
    fn json_listing_walks() {
        let rs = Ruleset {
            chains: parse(JSON, TEXT, true),
        };
        assert_eq!(rs.chains.len(), 2, "the iptables-nft table is skipped");
        assert_eq!(
            rs.walk(&packet(0, [203, 0, 113, 10], 587)).outcome,
            Outcome::Pass
        );
        let w = rs.walk(&packet(33, [203, 0, 113, 10], 587));
        assert_eq!(w.outcome, Outcome::Reject);
        let by = w.decided_by.unwrap_or_else(|| panic!("no decider"));
        assert!(
            by.text()
                .starts_with("meta nfproto ipv4 tcp dport { 25, 465, 587 }"),
            "{}",
            by.text()
        );
        assert_eq!(
            rs.walk(&packet(33, [198, 51, 100, 7], 25)).outcome,
            Outcome::Drop
        );
        assert_eq!(
            rs.walk(&packet(33, [203, 0, 113, 10], 2550)).outcome,
            Outcome::Drop
        );
        assert_eq!(
            rs.walk(&packet(33, [203, 0, 113, 10], 2700)).outcome,
            Outcome::Pass
        );
        let with_ipt = Ruleset {
            chains: parse(JSON, TEXT, false),
        };
        assert_eq!(
            with_ipt.walk(&packet(0, [203, 0, 113, 10], 2700)).outcome,
            Outcome::Drop
        );
    }

    #[test]
    fn garbage_gives_nothing() {
        assert!(parse("not json", "", true).is_empty());
        assert!(parse("{\"nftables\": 3}", "", true).is_empty());
    }
}
