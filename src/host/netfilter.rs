//! The packet filter as a model (chains, rules, matches, verdicts) and the walk of one outgoing SYN through it.

use std::net::IpAddr;

/// Which listing a chain came from; iptables and nft tables are separate hooks a packet passes in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Iptables,
    Ip6tables,
    Nft,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Iptables => "iptables",
            Source::Ip6tables => "ip6tables",
            Source::Nft => "nft",
        }
    }
}

/// The address family a table sees: nft's inet tables see both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Both,
    /// arp, bridge, netdev: never on a locally sent TCP packet's path.
    Other,
}

impl Family {
    fn sees(self, v6: bool) -> bool {
        match self {
            Family::V4 => !v6,
            Family::V6 => v6,
            Family::Both => true,
            Family::Other => false,
        }
    }
}

/// The netfilter hook a base chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Output,
    Other,
}

/// What kind of chain: NAT chains rewrite destinations, the others accept or drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Filter,
    Nat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub source: Source,
    pub family: Family,
    /// "filter", "nat", or an nft table's name ("firewalld").
    pub table: String,
    /// nft's family word ("inet", "ip", "ip6"), empty for iptables.
    pub nft_family: String,
    pub name: String,
    /// Base chains only: where they hook, their priority and their policy.
    pub hook: Option<Hook>,
    pub kind: Kind,
    pub priority: i32,
    /// A base chain's default: true when it drops what no rule accepted.
    pub policy_drop: bool,
    pub rules: Vec<Rule>,
}

/// One rule: every match must hold for its action to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule as the listing printed it (iptables-save line, or nft's text).
    pub text: String,
    pub matches: Vec<Match>,
    pub action: Action,
    pub comment: Option<String>,
}

/// A test a rule makes; `neg` is iptables' `!` / nft's `!=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Layer-4 protocol names or numbers ("tcp", "6").
    Protocol {
        neg: bool,
        any_of: Vec<String>,
    },
    DestPort {
        neg: bool,
        ranges: Vec<(u16, u16)>,
    },
    /// Destination networks as (address, prefix length).
    DestAddr {
        neg: bool,
        nets: Vec<(IpAddr, u8)>,
    },
    SourceAddr {
        neg: bool,
        nets: Vec<(IpAddr, u8)>,
    },
    /// The outgoing interface; a trailing `+` (iptables) or `*` (nft) is a prefix wildcard.
    OutIface {
        neg: bool,
        names: Vec<String>,
    },
    InIface {
        neg: bool,
        names: Vec<String>,
    },
    Uid {
        neg: bool,
        ranges: Vec<(u32, u32)>,
    },
    /// `suppl`: iptables' --suppl-groups, which also matches supplementary groups.
    Gid {
        neg: bool,
        ranges: Vec<(u32, u32)>,
        suppl: bool,
    },
    /// Connection states; the first SYN is "new".
    CtState {
        neg: bool,
        states: Vec<String>,
    },
    /// Packets of one address family only (nft `meta nfproto`).
    Nfproto {
        v6: bool,
    },
    /// A test that holds for a first SYN (`--syn`, tcp flags) or says nothing about it (a log rate limit).
    AlwaysForSyn,
    /// `-m addrtype --dst-type LOCAL`: the destination is an address of this host.
    DestLocal {
        neg: bool,
    },
    /// Tests this walk cannot decide (sets, marks, ipsets…): the rule may or may not match.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(String),
    Goto(String),
    Redirect {
        port: Option<u16>,
    },
    Dnat {
        addr: Option<IpAddr>,
        port: Option<u16>,
    },
    /// LOG, counter, MARK…: the packet goes on to the next rule.
    Continue,
}

/// The packet walked: the first SYN of a TCP connection this host opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub daddr: IpAddr,
    pub dport: u16,
    pub saddr: Option<IpAddr>,
    /// Whether the destination is one of this host's own addresses.
    pub daddr_local: bool,
    /// The interface the route sends it out of, when known.
    pub oif: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

#[cfg(test)]
impl Packet {
    /// A first SYN out of eth0 from a user whose gid is its uid, as the tests walk it.
    pub(crate) fn sample(uid: u32, daddr: IpAddr, dport: u16) -> Packet {
        Packet {
            daddr,
            dport,
            saddr: None,
            daddr_local: false,
            oif: Some("eth0".into()),
            uid,
            gid: uid,
            groups: Vec::new(),
        }
    }
}

/// Where a rule sits, to quote it and to write its fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Place<'a> {
    pub chain: &'a Chain,
    /// Index in the chain's rules; None for the chain's policy.
    pub rule: Option<usize>,
}

impl Place<'_> {
    pub fn text(&self) -> String {
        match self.rule.and_then(|i| self.chain.rules.get(i)) {
            Some(r) => r.text.clone(),
            None => format!(
                "policy {} of chain {}",
                if self.chain.policy_drop {
                    "drop"
                } else {
                    "accept"
                },
                self.chain.name
            ),
        }
    }

    pub fn rule(&self) -> Option<&Rule> {
        self.rule.and_then(|i| self.chain.rules.get(i))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Drop,
    Reject,
}

/// The walk's result: the verdict, the rules that decided it, and what it met on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk<'a> {
    pub outcome: Outcome,
    /// The rule or policy that dropped or rejected.
    pub decided_by: Option<Place<'a>>,
    /// The NAT rule that rewrote the destination, and the new destination.
    pub nat: Option<(Place<'a>, IpAddr, u16)>,
    /// Every rule that matched on the way, in order (jumps, returns, accepts, logs).
    pub met: Vec<Place<'a>>,
    /// Rules with a test the walk could not decide, taken as not matching.
    pub unsure: Vec<Place<'a>>,
    /// Owner tests met on the way that held or failed for this packet (who the rules single out).
    pub owner_tests: Vec<Place<'a>>,
    /// The chains the packet went through to the deciding rule, outermost first (OUTPUT, SMTPOUTPUT, LOGDROPOUT).
    pub decided_via: Vec<String>,
    /// The same for the NAT rule.
    pub nat_via: Vec<String>,
    /// Chains left through a terminal verdict, innermost first, while a base chain is walked.
    unwinding: Vec<String>,
}

/// Every rule set this host has: iptables, ip6tables and native nft chains.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub chains: Vec<Chain>,
}

/// The most chains one walk enters: a loop of jumps (impossible in the kernel) cannot hang it.
const MAX_DEPTH: usize = 64;
/// The most rules one walk evaluates.
const MAX_STEPS: usize = 100_000;

enum ChainEnd<'a> {
    /// Fell off the end, or RETURN: back to the caller, or the base chain's policy.
    Return,
    Accept,
    Drop(Place<'a>),
    Reject(Place<'a>),
    Nat(Place<'a>, IpAddr, u16),
}

/// Tri-state result of a rule's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Yes,
    No,
    Unsure,
}

impl Ruleset {
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    fn find(&self, source: Source, family_word: &str, table: &str, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| {
            c.source == source && c.nft_family == family_word && c.table == table && c.name == name
        })
    }

    /// The base chains an outgoing packet of this family passes, in the kernel's order (priority, NAT first on ties).
    fn output_chains(&self, v6: bool) -> Vec<&Chain> {
        let mut out: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|c| c.hook == Some(Hook::Output) && c.family.sees(v6))
            .filter(|c| match c.source {
                Source::Iptables => !v6,
                Source::Ip6tables => v6,
                Source::Nft => true,
            })
            .collect();
        out.sort_by_key(|c| (c.priority, c.kind != Kind::Nat));
        out
    }

    /// Walks a first SYN through every output chain this host has, as the kernel would, to the first drop.
    pub fn walk(&self, p: &Packet) -> Walk<'_> {
        let mut w = Walk {
            outcome: Outcome::Pass,
            decided_by: None,
            nat: None,
            met: Vec::new(),
            unsure: Vec::new(),
            owner_tests: Vec::new(),
            decided_via: Vec::new(),
            nat_via: Vec::new(),
            unwinding: Vec::new(),
        };
        let mut pkt = p.clone();
        let mut steps = 0usize;
        for base in self.output_chains(p.daddr.is_ipv6()) {
            // A connection is NATed once: later nat chains see it already translated.
            if base.kind == Kind::Nat && w.nat.is_some() {
                continue;
            }
            w.unwinding.clear();
            let end = self.run_chain(base, &pkt, &mut w, 0, &mut steps);
            let via: Vec<String> = w.unwinding.drain(..).rev().collect();
            match end {
                ChainEnd::Drop(place) => {
                    w.decided_via = via;
                    w.outcome = Outcome::Drop;
                    w.decided_by = Some(place);
                    return w;
                }
                ChainEnd::Reject(place) => {
                    w.decided_via = via;
                    w.outcome = Outcome::Reject;
                    w.decided_by = Some(place);
                    return w;
                }
                ChainEnd::Nat(place, addr, port) => {
                    w.nat_via = via;
                    // The kernel re-routes after nat OUTPUT: the later chains see the new destination.
                    pkt.oif = if addr.is_loopback() {
                        Some("lo".into())
                    } else {
                        pkt.oif.clone()
                    };
                    pkt.daddr_local = pkt.daddr_local || addr.is_loopback();
                    pkt.daddr = addr;
                    pkt.dport = port;
                    w.nat = Some((place, addr, port));
                }
                ChainEnd::Accept => {}
                ChainEnd::Return => {
                    if base.policy_drop && base.kind == Kind::Filter {
                        w.decided_via = vec![base.name.clone()];
                        w.outcome = Outcome::Drop;
                        w.decided_by = Some(Place {
                            chain: base,
                            rule: None,
                        });
                        return w;
                    }
                }
            }
        }
        w
    }

    fn run_chain<'a>(
        &'a self,
        chain: &'a Chain,
        p: &Packet,
        w: &mut Walk<'a>,
        depth: usize,
        steps: &mut usize,
    ) -> ChainEnd<'a> {
        let end = self.run_rules(chain, p, w, depth, steps);
        if !matches!(end, ChainEnd::Return | ChainEnd::Accept) {
            w.unwinding.push(chain.name.clone());
        }
        end
    }

    fn run_rules<'a>(
        &'a self,
        chain: &'a Chain,
        p: &Packet,
        w: &mut Walk<'a>,
        depth: usize,
        steps: &mut usize,
    ) -> ChainEnd<'a> {
        if depth > MAX_DEPTH {
            return ChainEnd::Return;
        }
        for (i, rule) in chain.rules.iter().enumerate() {
            *steps += 1;
            if *steps > MAX_STEPS {
                return ChainEnd::Return;
            }
            let place = Place {
                chain,
                rule: Some(i),
            };
            let (holds, owner) = rule_holds(rule, p);
            if owner {
                w.owner_tests.push(place.clone());
            }
            match holds {
                Holds::No => continue,
                Holds::Unsure => {
                    if rule.action != Action::Continue {
                        w.unsure.push(place);
                    }
                    continue;
                }
                Holds::Yes => {}
            }
            if rule.action != Action::Continue {
                w.met.push(place.clone());
            }
            match &rule.action {
                Action::Continue => {}
                Action::Accept => return ChainEnd::Accept,
                Action::Drop => return ChainEnd::Drop(place),
                Action::Reject => return ChainEnd::Reject(place),
                Action::Return => return ChainEnd::Return,
                Action::Redirect { port } if chain.kind == Kind::Nat => {
                    let lo = if p.daddr.is_ipv6() {
                        IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                    } else {
                        IpAddr::from(std::net::Ipv4Addr::LOCALHOST)
                    };
                    return ChainEnd::Nat(place, lo, port.unwrap_or(p.dport));
                }
                Action::Dnat { addr, port } if chain.kind == Kind::Nat => {
                    return ChainEnd::Nat(place, addr.unwrap_or(p.daddr), port.unwrap_or(p.dport));
                }
                Action::Redirect { .. } | Action::Dnat { .. } => {}
                Action::Jump(target) | Action::Goto(target) => {
                    let Some(sub) =
                        self.find(chain.source, &chain.nft_family, &chain.table, target)
                    else {
                        continue;
                    };
                    match self.run_chain(sub, p, w, depth + 1, steps) {
                        ChainEnd::Return => {
                            // A goto does not come back here: its RETURN ends the calling chain.
                            if matches!(rule.action, Action::Goto(_)) {
                                return ChainEnd::Return;
                            }
                        }
                        end => return end,
                    }
                }
            }
        }
        ChainEnd::Return
    }
}

/// Whether every test of the rule holds for the packet, and whether an owner test decides it (every other test holds).
fn rule_holds(rule: &Rule, p: &Packet) -> (Holds, bool) {
    let mut result = Holds::Yes;
    let mut others = Holds::Yes;
    let mut owner = false;
    for m in &rule.matches {
        let is_owner = matches!(m, Match::Uid { .. } | Match::Gid { .. });
        owner |= is_owner;
        match match_holds(m, p) {
            Holds::No => {
                result = Holds::No;
                if !is_owner {
                    others = Holds::No;
                }
            }
            Holds::Unsure if result != Holds::No => result = Holds::Unsure,
            _ => {}
        }
    }
    (result, owner && others != Holds::No)
}

fn yes(b: bool) -> Holds {
    if b {
        Holds::Yes
    } else {
        Holds::No
    }
}

fn in_ranges<T: PartialOrd>(v: T, ranges: &[(T, T)]) -> bool {
    ranges.iter().any(|(a, b)| *a <= v && v <= *b)
}

/// Whether `ip` lies in the network `net`/`len`.
pub fn in_net(ip: &IpAddr, net: &IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(*a) & mask == u32::from(*n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(*a) & mask == u128::from(*n) & mask
        }
        _ => false,
    }
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('+')
        .or_else(|| pattern.strip_suffix('*'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn match_holds(m: &Match, p: &Packet) -> Holds {
    let with_neg = |neg: bool, h: Holds| match (neg, h) {
        (_, Holds::Unsure) => Holds::Unsure,
        (false, h) => h,
        (true, Holds::Yes) => Holds::No,
        (true, Holds::No) => Holds::Yes,
    };
    match m {
        Match::Protocol { neg, any_of } => with_neg(
            *neg,
            yes(any_of.iter().any(|x| x == "tcp" || x == "6" || x == "all")),
        ),
        Match::DestPort { neg, ranges } => with_neg(*neg, yes(in_ranges(p.dport, ranges))),
        Match::DestAddr { neg, nets } => {
            with_neg(*neg, yes(nets.iter().any(|(n, l)| in_net(&p.daddr, n, *l))))
        }
        Match::SourceAddr { neg, nets } => match &p.saddr {
            Some(s) => with_neg(*neg, yes(nets.iter().any(|(n, l)| in_net(s, n, *l)))),
            None => Holds::Unsure,
        },
        Match::OutIface { neg, names } => match &p.oif {
            Some(oif) => with_neg(*neg, yes(names.iter().any(|n| iface_matches(n, oif)))),
            None => Holds::Unsure,
        },
        // Locally sent packets have no input interface: `-i X` never holds in OUTPUT.
        Match::InIface { neg, .. } => with_neg(*neg, Holds::No),
        Match::Uid { neg, ranges } => with_neg(*neg, yes(in_ranges(p.uid, ranges))),
        Match::Gid { neg, ranges, suppl } => {
            let hit = in_ranges(p.gid, ranges)
                || (*suppl && p.groups.iter().any(|g| in_ranges(*g, ranges)));
            with_neg(*neg, yes(hit))
        }
        Match::CtState { neg, states } => with_neg(
            *neg,
            yes(states.iter().any(|s| s.eq_ignore_ascii_case("new"))),
        ),
        Match::Nfproto { v6 } => yes(*v6 == p.daddr.is_ipv6()),
        Match::DestLocal { neg } => with_neg(*neg, yes(p.daddr_local || p.daddr.is_loopback())),
        Match::AlwaysForSyn => Holds::Yes,
        Match::Unknown(_) => Holds::Unsure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str, hook: bool, kind: Kind, policy_drop: bool, rules: Vec<Rule>) -> Chain {
        Chain {
            source: Source::Iptables,
            family: Family::V4,
            table: if kind == Kind::Nat { "nat" } else { "filter" }.into(),
            nft_family: String::new(),
            name: name.into(),
            hook: hook.then_some(Hook::Output),
            kind,
            priority: if kind == Kind::Nat { -100 } else { 0 },
            policy_drop,
            rules,
        }
    }

    fn rule(matches: Vec<Match>, action: Action) -> Rule {
        Rule {
            text: format!("{matches:?} {action:?}"),
            matches,
            action,
            comment: None,
        }
    }

    fn port(p: u16) -> Match {
        Match::DestPort {
            neg: false,
            ranges: vec![(p, p)],
        }
    }

    fn packet(uid: u32) -> Packet {
        Packet::sample(uid, IpAddr::from([203, 0, 113, 10]), 587)
    }

    #[test]
    fn jump_return_and_owner_exemption() {
        let rs = Ruleset {
            chains: vec![
                chain(
                    "OUTPUT",
                    true,
                    Kind::Filter,
                    false,
                    vec![rule(vec![port(587)], Action::Jump("SMTPOUTPUT".into()))],
                ),
                chain(
                    "SMTPOUTPUT",
                    false,
                    Kind::Filter,
                    false,
                    vec![
                        rule(
                            vec![Match::Uid {
                                neg: false,
                                ranges: vec![(0, 0)],
                            }],
                            Action::Accept,
                        ),
                        rule(
                            vec![Match::OutIface {
                                neg: false,
                                names: vec!["lo".into()],
                            }],
                            Action::Accept,
                        ),
                        rule(vec![port(587)], Action::Reject),
                    ],
                ),
            ],
        };
        let root = rs.walk(&packet(0));
        assert_eq!(root.outcome, Outcome::Pass);
        assert_eq!(root.owner_tests.len(), 1);
        let nobody = rs.walk(&packet(65534));
        assert_eq!(nobody.outcome, Outcome::Reject);
        assert_eq!(nobody.decided_by.map(|p| p.rule), Some(Some(2)));
        let mut other_port = packet(65534);
        other_port.dport = 25;
        assert_eq!(rs.walk(&other_port).outcome, Outcome::Pass);
    }

    #[test]
    fn nat_return_before_redirect_and_rewrite_seen_by_filter() {
        let rs = Ruleset {
            chains: vec![
                chain(
                    "OUTPUT",
                    true,
                    Kind::Nat,
                    false,
                    vec![
                        rule(
                            vec![Match::Uid {
                                neg: false,
                                ranges: vec![(0, 0)],
                            }],
                            Action::Return,
                        ),
                        rule(vec![port(587)], Action::Redirect { port: Some(10587) }),
                    ],
                ),
                chain(
                    "OUTPUT",
                    true,
                    Kind::Filter,
                    true,
                    vec![rule(
                        vec![Match::OutIface {
                            neg: false,
                            names: vec!["lo".into(), "eth+".into()],
                        }],
                        Action::Accept,
                    )],
                ),
            ],
        };
        let root = rs.walk(&packet(0));
        assert_eq!(root.outcome, Outcome::Pass);
        assert!(root.nat.is_none());
        let app = rs.walk(&packet(33));
        let (_, addr, port) = app.nat.clone().unwrap_or_else(|| panic!("no nat: {app:?}"));
        assert_eq!((addr, port), (IpAddr::from([127, 0, 0, 1]), 10587));
        assert_eq!(app.outcome, Outcome::Pass);
        let mut unknown_if = packet(0);
        unknown_if.oif = None;
        let w = rs.walk(&unknown_if);
        assert_eq!(w.outcome, Outcome::Drop);
        assert_eq!(w.unsure.len(), 1);
        assert!(w.decided_by.is_some_and(|p| p.rule.is_none()));
    }

    #[test]
    fn jump_loops_are_bounded() {
        let rs = Ruleset {
            chains: vec![
                chain(
                    "OUTPUT",
                    true,
                    Kind::Filter,
                    false,
                    vec![rule(vec![], Action::Jump("A".into()))],
                ),
                chain(
                    "A",
                    false,
                    Kind::Filter,
                    false,
                    vec![rule(vec![], Action::Jump("A".into()))],
                ),
            ],
        };
        assert_eq!(rs.walk(&packet(0)).outcome, Outcome::Pass);
    }

    #[test]
    fn networks() {
        let net: IpAddr = IpAddr::from([198, 51, 100, 0]);
        assert!(in_net(&IpAddr::from([198, 51, 100, 7]), &net, 24));
        assert!(!in_net(&IpAddr::from([198, 51, 101, 7]), &net, 24));
        assert!(in_net(&IpAddr::from([1, 2, 3, 4]), &net, 0));
        assert!(!in_net(
            &IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            &net,
            0
        ));
    }
}
