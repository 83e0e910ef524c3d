//! The TTL ladders of one attempt: each SYN sent with a small TTL and what answered it, and the one reading of them that both the probe (to stop waiting) and the diagnosis (to decide) use.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// SYNs that would reach the server (their TTL is at least the control's hop count) and went unanswered,
/// needed before "the port's SYNs die on the way" is certain. Each is lost at random with a probability p
/// (p ≈ 0.19 with 10 % loss each way), so a healthy port is misread with p^6 ≈ 5e-5.
pub const SILENCES_NEEDED: usize = 6;
/// The same when the run has seen a SYN or an answer lost (p^10 ≈ 6e-8 at 10 % each way).
pub const SILENCES_NEEDED_LOSSY: usize = 10;
/// Silent TTL-1 SYNs to the port needed before "it never left this host": each could be a lost "time
/// exceeded" of a first router that does answer (p^3 ≈ 0.7 % at 10 % loss each way; p^5 ≈ 2.5e-4 once loss
/// is seen).
pub const TTL1_SILENCES_NEEDED: usize = 3;
pub const TTL1_SILENCES_NEEDED_LOSSY: usize = 5;
/// A control TTL-1 SYN answered within this long after one of the port's own TTL-1 SYNs was sent shows the first
/// router was answering then: an ICMP rate limit that silenced that one would have silenced it too.
pub const SAME_MOMENT_MS: f64 = 20.0;
/// Silent SYNs past the server's hop count, each followed at once by a SYN the last answering router did answer,
/// needed before "dropped" (not a rejecting router out of ICMP budget) is certain. Each is misleading only if that
/// SYN or its unreachable was lost (p ≈ 0.1 with 5 % loss each way: p^2 = 1 %, p^4 = 1e-4 once loss is seen).
pub const BESIDE_NEEDED: usize = 2;
pub const BESIDE_NEEDED_LOSSY: usize = 4;

/// Where a SYN dies, learnt by raising the IP TTL one hop at a time: the probed port's ladder beside the
/// same ladder to a control port of the same address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathFacts {
    /// The probed port's TTL-limited SYNs (several per TTL), in the order they were sent.
    pub hops: Vec<HopFacts>,
    /// The server is on a network this host is directly attached to (a TTL-1 SYN reaches it).
    pub on_link: bool,
    /// The same ladder to other ports of the address (one of this run that connected, else 443 and 80).
    #[serde(default)]
    pub control: Vec<ControlLadder>,
    /// How long a SYN had to go unanswered to count as silent (a silent SYN is "unknown", never "dropped here").
    #[serde(default)]
    pub silence_ms: f64,
    /// What the ladders say, read from the hops above (`PathFacts::read`); absent for a lone TTL-1 SYN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PathSummary>,
}

/// The control ladder: the same SYNs to another port of the same address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlLadder {
    pub port: u16,
    /// The port connected in this run (else it is 443 or 80, picked because servers usually answer there).
    pub connected_in_run: bool,
    pub hops: Vec<HopFacts>,
}

/// The ladders in brief, for people and machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathSummary {
    /// The highest TTL at which a SYN to the probed port got any answer.
    pub farthest: Option<u8>,
    /// The highest TTL at which a control SYN got any answer.
    pub control_farthest: Option<u8>,
    /// The lowest TTL at which the server itself answered a control SYN (SYN-ACK or RST): the path's length.
    pub server_at: Option<u8>,
    /// The lowest TTL at which a control SYN was answered while every SYN to the probed port went unanswered:
    /// where the two ladders part.
    pub parted_at: Option<u8>,
    /// SYNs to the probed port that would have reached the server and went unanswered.
    pub silences: usize,
    /// A control SYN that should have reached the server was not answered: loss on the way, so more silences
    /// are needed.
    pub lossy: bool,
    pub reading: PathReading,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopFacts {
    pub ttl: u8,
    pub outcome: HopOutcome,
    /// Who answered: the router that sent the ICMP error, or the address that sent the SYN-ACK or RST.
    pub router: Option<IpAddr>,
    /// How long the answer took (for a silent SYN: how long it was waited for).
    pub elapsed_ms: f64,
    /// When the SYN was sent, in ms from the start of its ladder.
    #[serde(default)]
    pub sent_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// The ICMP code of an unreachable (v4 type 3, v6 type 1): port, host, administratively prohibited…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// The errno of a SYN this host would not send (EPERM from its own firewall, ENETUNREACH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// A SYN-ACK whose other end is a socket of this host, or an ICMP error sent by this host.
    #[serde(default)]
    pub here: bool,
}

impl HopFacts {
    pub fn new(ttl: u8, outcome: HopOutcome) -> Self {
        HopFacts {
            ttl,
            outcome,
            router: None,
            elapsed_ms: 0.0,
            sent_ms: 0.0,
            icmp_type: None,
            icmp_code: None,
            errno: None,
            here: false,
        }
    }

    /// The destination port itself (or whoever answers for it) answered: SYN-ACK or RST.
    pub fn reached(&self) -> bool {
        matches!(self.outcome, HopOutcome::SynAck | HopOutcome::Reset)
    }

    /// `then` was sent right after this SYN (within SAME_MOMENT_MS): a router that answered `then` had ICMP budget
    /// when this one reached it.
    pub fn followed_by(&self, then: &HopFacts) -> bool {
        then.sent_ms >= self.sent_ms && then.sent_ms - self.sent_ms <= SAME_MOMENT_MS
    }

    /// Something on the way or at the end answered.
    pub fn answered(&self) -> bool {
        !matches!(self.outcome, HopOutcome::Silent | HopOutcome::Error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopOutcome {
    /// A router on the way answered "time exceeded": the SYN left this host and got that far.
    TimeExceeded,
    /// An ICMP unreachable (its type and code are kept) from a router, the server or this host.
    Unreachable,
    /// A SYN-ACK: the port is open at whoever answered.
    SynAck,
    /// A RST: the port is closed at whoever answered.
    Reset,
    /// Nothing came back while it was waited for: unknown (a router that does not answer, a rate limit, loss
    /// or a drop).
    Silent,
    /// This host would not send it (its errno is kept).
    Error,
}

impl HopOutcome {
    /// The words people and JSON both use.
    pub fn name(self) -> &'static str {
        match self {
            HopOutcome::TimeExceeded => "time exceeded",
            HopOutcome::Unreachable => "unreachable",
            HopOutcome::SynAck => "SYN-ACK",
            HopOutcome::Reset => "RST",
            HopOutcome::Silent => "no answer",
            HopOutcome::Error => "not sent",
        }
    }
}

/// What the ladders establish, in the order the rules try them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "is")]
pub enum PathReading {
    /// Not enough answers, or not enough silences, to say more.
    Undecided,
    /// A SYN to the probed port got the server's own SYN-ACK or RST: the path is open (a slow or lost connect
    /// is loss or load, not a block).
    Reached { ttl: u8 },
    /// A SYN-ACK or RST came at a TTL too small to reach the server (a router answers the control at that
    /// hop or beyond, or the answer's other end is on this host): something on the way answers for the server.
    AnsweredEarly {
        ttl: u8,
        /// The router at that hop (from the control's time exceeded), when known.
        by: Option<IpAddr>,
        /// The answer's other end is a socket of this host.
        here: bool,
        reset: bool,
    },
    /// No SYN to the port got any answer, not even "time exceeded" at TTL 1, while enough of them would have
    /// reached the server. `router_answers`: the first router answered the control's TTL-1 SYN, so it would
    /// have answered these too had they left this host.
    NeverLeft { router_answers: bool },
    /// A SYN to the port was answered with an ICMP unreachable by `by` (a router on the way, or the server) while
    /// the control reached the server: that port is rejected there, even when the connect's own SYNs found the
    /// router out of ICMP budget and got nothing.
    Rejected {
        ttl: u8,
        by: IpAddr,
        icmp_type: u8,
        icmp_code: u8,
    },
    /// The SYNs passed `hop` routers (the last, `router`, answered "time exceeded") and died after it, while
    /// the control reached the server; `next` answered the control one hop further. `no_reject`: that router
    /// answered SYNs sent right after enough of the silent ones, so it had ICMP budget then and sent no
    /// unreachable: the SYNs are dropped, not rejected by a router whose rate limit hid its answers.
    DroppedAfter {
        hop: u8,
        router: Option<IpAddr>,
        next: Option<IpAddr>,
        #[serde(default)]
        no_reject: bool,
    },
}

impl PathReading {
    /// A reading that no later answer can change: the probe may stop waiting on it. "Never left" without the
    /// first router's answer to the control at the same moment is not: the router may only have been out of
    /// ICMP budget, and a later pair of SYNs can tell.
    pub fn decided(self) -> bool {
        !matches!(
            self,
            PathReading::Undecided
                | PathReading::NeverLeft {
                    router_answers: false
                }
                | PathReading::DroppedAfter {
                    no_reject: false,
                    ..
                }
        )
    }
}

impl PathFacts {
    /// A lone TTL-1 SYN (the check made after a fast refusal), read by the diagnosis hop by hop.
    pub fn single(hop: HopFacts, on_link: bool) -> Self {
        PathFacts {
            hops: vec![hop],
            on_link,
            control: Vec::new(),
            silence_ms: 0.0,
            summary: None,
        }
    }

    fn silent(&self, h: &HopFacts) -> bool {
        h.outcome == HopOutcome::Silent && h.elapsed_ms >= self.silence_ms
    }

    fn control_hops(&self) -> impl Iterator<Item = &HopFacts> {
        self.control.iter().flat_map(|c| c.hops.iter())
    }

    /// The hop count to the server: the lowest TTL at which it answered a control SYN.
    pub fn server_at(&self) -> Option<u8> {
        self.control_hops()
            .filter(|h| h.reached() && !h.here)
            .map(|h| h.ttl)
            .min()
    }

    /// Loss seen on the way: a control SYN long enough to reach the server went unanswered. (Two SYNs to one hop
    /// that got different answers are not loss: a router's ICMP rate limit does that by itself, while a server
    /// answers every SYN.)
    pub fn lossy(&self) -> bool {
        let d = self.server_at();
        self.control_hops()
            .any(|h| self.silent(h) && d.is_some_and(|d| h.ttl >= d))
    }

    /// Whether the probe may stop waiting on this reading: it is decided, and an answer from the port's end has
    /// been placed against the control's hop count (until then a RST forged on the way looks like the server's).
    pub fn settled(&self) -> bool {
        match self.read() {
            PathReading::Reached { ttl } => {
                // Every rung below the server has had its answer (or its silence): none of them answered for it.
                let below_done = |d: u8| {
                    (1..d).all(|t| {
                        self.hops
                            .iter()
                            .any(|h| h.ttl == t && (h.answered() || self.silent(h)))
                    })
                };
                self.control.is_empty()
                    || self
                        .server_at()
                        .is_some_and(|d| d <= ttl && below_done(d.min(ttl)))
            }
            r => r.decided(),
        }
    }

    /// SYNs to the probed port that would have reached the server (TTL at least its hop count) and were not answered.
    pub fn silences(&self) -> usize {
        match self.server_at() {
            Some(d) => self
                .hops
                .iter()
                .filter(|h| h.ttl >= d && self.silent(h))
                .count(),
            None => 0,
        }
    }

    /// The reading of the ladders; pure, so the probe's early stop and the diagnosis agree.
    pub fn read(&self) -> PathReading {
        // Any answer from the port's end overrules every silence: the SYN got through.
        if let Some(h) = self
            .hops
            .iter()
            .filter(|h| h.reached())
            .min_by_key(|h| h.ttl)
        {
            let t = h.ttl;
            let router_there = self
                .control_hops()
                .filter(|c| c.outcome == HopOutcome::TimeExceeded && c.ttl >= t)
                .min_by_key(|c| c.ttl);
            let local = t == 1 && h.here && !self.on_link;
            if router_there.is_some() || local {
                let by = self
                    .control_hops()
                    .find(|c| c.outcome == HopOutcome::TimeExceeded && c.ttl == t)
                    .and_then(|c| c.router);
                return PathReading::AnsweredEarly {
                    ttl: t,
                    by,
                    here: h.here,
                    reset: h.outcome == HopOutcome::Reset,
                };
            }
            return PathReading::Reached { ttl: t };
        }
        // An unreachable from elsewhere for this port while the control reaches the server: rejected there.
        if self.server_at().is_some() {
            if let Some((h, by)) = self
                .hops
                .iter()
                .filter(|h| h.outcome == HopOutcome::Unreachable && !h.here)
                .find_map(|h| Some((h, h.router?)))
            {
                return PathReading::Rejected {
                    ttl: h.ttl,
                    by,
                    icmp_type: h.icmp_type.unwrap_or(0),
                    icmp_code: h.icmp_code.unwrap_or(0),
                };
            }
        }
        // Any other ICMP error or a local errno for the port: the connect's own error says more than a ladder can.
        if self
            .hops
            .iter()
            .any(|h| matches!(h.outcome, HopOutcome::Unreachable | HopOutcome::Error))
        {
            return PathReading::Undecided;
        }
        let needed = if self.lossy() {
            SILENCES_NEEDED_LOSSY
        } else {
            SILENCES_NEEDED
        };
        if self.silences() < needed {
            return PathReading::Undecided;
        }
        let passed = self
            .hops
            .iter()
            .filter(|h| h.outcome == HopOutcome::TimeExceeded)
            .max_by_key(|h| h.ttl);
        match passed {
            None => {
                // "Never left" needs enough of the port's own TTL-1 SYNs, every one of them silent.
                let ttl1: Vec<&HopFacts> = self.hops.iter().filter(|h| h.ttl == 1).collect();
                let needed = if self.lossy() {
                    TTL1_SILENCES_NEEDED_LOSSY
                } else {
                    TTL1_SILENCES_NEEDED
                };
                if ttl1.len() < needed || !ttl1.iter().all(|h| self.silent(h)) {
                    return PathReading::Undecided;
                }
                // One of them followed at once by a control SYN the first router answered: it had budget then.
                let router_answers = self.control_hops().any(|c| {
                    c.ttl == 1
                        && c.outcome == HopOutcome::TimeExceeded
                        && ttl1.iter().any(|p| p.followed_by(c))
                });
                PathReading::NeverLeft { router_answers }
            }
            Some(h) => {
                let next = self
                    .control_hops()
                    .filter(|c| c.ttl == h.ttl + 1 && c.answered())
                    .find_map(|c| c.router);
                let needed = if self.lossy() {
                    BESIDE_NEEDED_LOSSY
                } else {
                    BESIDE_NEEDED
                };
                PathReading::DroppedAfter {
                    hop: h.ttl,
                    router: h.router,
                    next,
                    no_reject: self.beside(h.ttl) >= needed && self.next_hop_unreached(h.ttl),
                }
            }
        }
    }

    /// Silent SYNs to the port that would reach the server, each followed within SAME_MOMENT_MS by a SYN to the port
    /// with TTL `hop` that the router there answered "time exceeded".
    pub fn beside(&self, hop: u8) -> usize {
        let Some(d) = self.server_at() else {
            return 0;
        };
        self.hops
            .iter()
            .filter(|s| s.ttl >= d && self.silent(s))
            .filter(|s| {
                // The router's answer to the port's SYN or to the control's: one budget either way.
                self.hops.iter().chain(self.control_hops()).any(|p| {
                    p.ttl == hop && p.outcome == HopOutcome::TimeExceeded && s.followed_by(p)
                })
            })
            .count()
    }

    /// The port's SYNs did not get to the router one hop past `hop`: when the control meets a router there, one of
    /// the port's SYNs with that TTL went silent while the control's, sent right after it, was answered (that router
    /// had ICMP budget, so its silence to the port is not its rate limit). Without a router there (the server is
    /// next) there is nothing to show.
    pub fn next_hop_unreached(&self, hop: u8) -> bool {
        let next = hop.saturating_add(1);
        let routers_next: Vec<&HopFacts> = self
            .control_hops()
            .filter(|c| c.ttl == next && c.outcome == HopOutcome::TimeExceeded)
            .collect();
        if routers_next.is_empty() {
            return !self
                .control_hops()
                .any(|c| c.ttl > next && c.outcome == HopOutcome::TimeExceeded);
        }
        self.hops
            .iter()
            .filter(|s| s.ttl == next && self.silent(s))
            .any(|s| routers_next.iter().any(|c| s.followed_by(c)))
    }

    /// The lowest TTL above 1 at which a control SYN was answered while every SYN to the probed port with that TTL
    /// went silent, and who answered the control there: the port's SYNs died before that hop.
    pub fn parted_beyond_first_hop(&self) -> Option<(u8, Option<IpAddr>)> {
        self.control_hops()
            .filter(|c| c.ttl >= 2 && c.answered())
            .filter(|c| {
                let mine: Vec<&HopFacts> = self.hops.iter().filter(|h| h.ttl == c.ttl).collect();
                !mine.is_empty() && mine.iter().all(|h| self.silent(h))
            })
            .min_by_key(|c| c.ttl)
            .map(|c| (c.ttl, c.router))
    }

    /// The summary of `read`, with the figures it rests on.
    pub fn summarize(&self) -> PathSummary {
        let farthest = |hops: &mut dyn Iterator<Item = &HopFacts>| {
            hops.filter(|h| h.answered()).map(|h| h.ttl).max()
        };
        let parted_at = self
            .control_hops()
            .filter(|c| c.answered())
            .map(|c| c.ttl)
            .filter(|&t| {
                let mine: Vec<&HopFacts> = self.hops.iter().filter(|h| h.ttl == t).collect();
                !mine.is_empty() && mine.iter().all(|h| self.silent(h))
            })
            .min();
        PathSummary {
            farthest: farthest(&mut self.hops.iter()),
            control_farthest: farthest(&mut self.control_hops()),
            server_at: self.server_at(),
            parted_at,
            silences: self.silences(),
            lossy: self.lossy(),
            reading: self.read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    fn h(ttl: u8, outcome: HopOutcome, from: &str) -> HopFacts {
        let mut hop = HopFacts::new(ttl, outcome);
        hop.router = ip(from);
        hop.elapsed_ms = if outcome == HopOutcome::Silent {
            500.0
        } else {
            1.0
        };
        hop
    }

    /// The lab: one router (198.51.100.1), the server two hops away; 465 works and is the control.
    fn control_to_server() -> Vec<ControlLadder> {
        vec![ControlLadder {
            port: 465,
            connected_in_run: true,
            hops: vec![
                h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
                h(2, HopOutcome::SynAck, "203.0.113.10"),
            ],
        }]
    }

    fn facts(hops: Vec<HopFacts>, control: Vec<ControlLadder>) -> PathFacts {
        PathFacts {
            hops,
            on_link: false,
            control,
            silence_ms: 200.0,
            summary: None,
        }
    }

    fn silent_from(ttl: u8, to: u8, tries: u8) -> Vec<HopFacts> {
        (ttl..=to)
            .flat_map(|t| (0..tries).map(move |_| h(t, HopOutcome::Silent, "")))
            .collect()
    }

    #[test]
    fn a_router_drop_is_named_once_enough_syns_that_reach_the_server_are_silent() {
        let mut hops = vec![
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
        ];
        hops.extend(silent_from(2, 4, 2));
        let p = facts(hops, control_to_server());
        assert_eq!(
            p.read(),
            PathReading::DroppedAfter {
                hop: 1,
                router: ip("198.51.100.1"),
                next: ip("203.0.113.10"),
                no_reject: true,
            }
        );
        let s = p.summarize();
        assert_eq!(
            (s.server_at, s.parted_at, s.farthest),
            (Some(2), Some(2), Some(1))
        );
        assert_eq!(s.silences, 6);
    }

    #[test]
    fn too_few_silences_leave_it_undecided() {
        let mut hops = vec![h(1, HopOutcome::TimeExceeded, "198.51.100.1")];
        hops.extend(silent_from(2, 3, 2));
        assert_eq!(
            facts(hops, control_to_server()).read(),
            PathReading::Undecided
        );
    }

    #[test]
    fn a_silence_not_yet_long_enough_is_not_counted() {
        let mut hops = vec![h(1, HopOutcome::TimeExceeded, "198.51.100.1")];
        hops.extend(silent_from(2, 4, 2));
        let mut p = facts(hops, control_to_server());
        p.silence_ms = 1000.0;
        assert_eq!(p.read(), PathReading::Undecided);
    }

    #[test]
    fn one_syn_that_reached_the_server_overrules_every_silence() {
        let mut hops = vec![h(1, HopOutcome::TimeExceeded, "198.51.100.1")];
        hops.extend(silent_from(2, 6, 2));
        hops.push(h(5, HopOutcome::SynAck, "203.0.113.10"));
        assert_eq!(
            facts(hops, control_to_server()).read(),
            PathReading::Reached { ttl: 5 }
        );
    }

    #[test]
    fn never_left_needs_silence_at_ttl_1_and_says_whether_the_router_answers_others() {
        assert_eq!(
            facts(silent_from(1, 4, 2), control_to_server()).read(),
            PathReading::Undecided,
            "two TTL-1 SYNs are too few"
        );
        let mut hops = silent_from(1, 1, 3);
        hops.extend(silent_from(2, 4, 2));
        let p = facts(hops.clone(), control_to_server());
        assert_eq!(
            p.read(),
            PathReading::NeverLeft {
                router_answers: true
            }
        );
        let mut quiet_router = control_to_server();
        quiet_router[0].hops[0] = h(1, HopOutcome::Silent, "");
        assert_eq!(
            facts(hops.clone(), quiet_router).read(),
            PathReading::NeverLeft {
                router_answers: false
            }
        );
        // The router's answer to the control came a second later: its rate limit may have silenced ours.
        let mut later = control_to_server();
        later[0].hops[0].sent_ms = 1000.0;
        assert_eq!(
            facts(hops, later).read(),
            PathReading::NeverLeft {
                router_answers: false
            }
        );
    }

    #[test]
    fn without_a_control_that_reached_the_server_nothing_is_decided() {
        let mut control = control_to_server();
        control[0].hops[1] = h(2, HopOutcome::Silent, "");
        assert_eq!(
            facts(silent_from(1, 30, 2), control).read(),
            PathReading::Undecided
        );
    }

    #[test]
    fn loss_seen_on_the_control_asks_for_more_silences() {
        let mut control = control_to_server();
        control[0].hops.push(h(3, HopOutcome::Silent, ""));
        let mut hops = vec![h(1, HopOutcome::TimeExceeded, "198.51.100.1")];
        hops.extend(silent_from(2, 4, 2));
        let p = facts(hops.clone(), control.clone());
        assert!(p.lossy());
        assert_eq!(p.read(), PathReading::Undecided);
        hops.extend(silent_from(4, 4, 4));
        assert!(facts(hops, control).read().decided());
    }

    #[test]
    fn an_answer_at_a_hop_where_the_control_meets_a_router_is_an_interception() {
        let hops = vec![h(1, HopOutcome::SynAck, "203.0.113.10")];
        assert_eq!(
            facts(hops, control_to_server()).read(),
            PathReading::AnsweredEarly {
                ttl: 1,
                by: ip("198.51.100.1"),
                here: false,
                reset: false
            }
        );
    }

    #[test]
    fn a_ttl_1_syn_ack_from_this_host_is_decisive_without_a_control() {
        let mut hop = h(1, HopOutcome::SynAck, "203.0.113.10");
        hop.here = true;
        let p = facts(vec![hop.clone()], Vec::new());
        assert!(matches!(
            p.read(),
            PathReading::AnsweredEarly { here: true, .. }
        ));
        // On-link, a TTL-1 SYN does reach the server.
        let mut on_link = facts(vec![hop], Vec::new());
        on_link.on_link = true;
        assert_eq!(on_link.read(), PathReading::Reached { ttl: 1 });
    }

    /// The two-router lab: router1, router2, the server three hops away; 465 the control.
    fn control_three_hops() -> Vec<ControlLadder> {
        vec![ControlLadder {
            port: 465,
            connected_in_run: true,
            hops: vec![
                h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
                h(2, HopOutcome::TimeExceeded, "192.0.2.2"),
                h(3, HopOutcome::SynAck, "203.0.113.10"),
            ],
        }]
    }

    #[test]
    fn a_router_out_of_icmp_budget_is_not_loss() {
        // Router1 answered one of the port's three TTL-1 SYNs: its budget, not loss (the control lost nothing).
        let mut hops = vec![
            h(1, HopOutcome::Silent, ""),
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
            h(1, HopOutcome::Silent, ""),
        ];
        hops.extend(silent_from(2, 5, 2));
        let p = facts(hops, control_three_hops());
        assert!(!p.lossy());
        assert_eq!(
            p.read(),
            PathReading::DroppedAfter {
                hop: 1,
                router: ip("198.51.100.1"),
                next: ip("192.0.2.2"),
                no_reject: true,
            }
        );
    }

    #[test]
    fn a_reset_at_a_hop_where_the_control_meets_a_router_is_forged_on_the_way() {
        let hops = vec![
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
            h(2, HopOutcome::Reset, "203.0.113.10"),
        ];
        let p = facts(hops, control_three_hops());
        assert_eq!(
            p.read(),
            PathReading::AnsweredEarly {
                ttl: 2,
                by: ip("192.0.2.2"),
                here: false,
                reset: true
            }
        );
        assert!(p.settled());
    }

    #[test]
    fn an_answer_from_the_port_is_not_settled_before_the_control_places_it() {
        let hops = vec![
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
            h(2, HopOutcome::Reset, "203.0.113.10"),
        ];
        // The control has said nothing yet: the RST at TTL 2 may be the server's or forged by router2.
        let mut control = control_three_hops();
        control[0].hops.clear();
        control[0]
            .hops
            .push(h(1, HopOutcome::TimeExceeded, "198.51.100.1"));
        let p = facts(hops.clone(), control);
        assert_eq!(p.read(), PathReading::Reached { ttl: 2 });
        assert!(!p.settled());
        // The control reached the server at TTL 2 too, and TTL 1 was answered: the RST is the server's.
        let p = facts(hops.clone(), control_to_server());
        assert!(p.settled());
        // A RST to a SYN with a high TTL is not placed until the rungs below the server have answered.
        let high = vec![h(30, HopOutcome::Reset, "203.0.113.10")];
        let p = facts(high.clone(), control_three_hops());
        assert_eq!(p.read(), PathReading::Reached { ttl: 30 });
        assert!(!p.settled());
        let mut climbed = high;
        climbed.extend([
            h(1, HopOutcome::TimeExceeded, "198.51.100.1"),
            h(2, HopOutcome::Silent, ""),
        ]);
        assert!(facts(climbed, control_three_hops()).settled());
        // No control at all: nothing can place it, so it stands.
        assert!(facts(hops, Vec::new()).settled());
    }

    #[test]
    fn a_drop_is_certain_only_beside_the_routers_own_answers() {
        // The climb: TTL 1 answered, then SYNs past the server, each sent well after the last TTL-1 SYN. A rejecting
        // router out of ICMP budget would look the same: placed (isp_drop) but not yet decided.
        let mut hops = vec![h(1, HopOutcome::TimeExceeded, "198.51.100.1")];
        for (i, mut s) in silent_from(2, 5, 2).into_iter().enumerate() {
            s.sent_ms = 25.0 * (i as f64 + 1.0);
            hops.push(s);
        }
        let p = facts(hops.clone(), control_three_hops());
        let reading = p.read();
        assert!(matches!(
            reading,
            PathReading::DroppedAfter {
                hop: 1,
                no_reject: false,
                ..
            }
        ));
        assert!(!reading.decided());
        // Two pairs: a SYN past the server, then at once a TTL-1 SYN the router answers.
        for at in [400.0, 500.0] {
            let mut past = h(3, HopOutcome::Silent, "");
            past.sent_ms = at;
            let mut first = h(1, HopOutcome::TimeExceeded, "198.51.100.1");
            first.sent_ms = at + 0.1;
            hops.extend([past, first]);
        }
        let p = facts(hops.clone(), control_three_hops());
        assert_eq!(p.beside(1), 2);
        // Router2 answers the control: it must also be seen to miss the port's SYNs at a moment it was answering.
        assert!(!p.read().decided());
        let mut port2 = h(2, HopOutcome::Silent, "");
        port2.sent_ms = 600.0;
        hops.push(port2);
        let mut control = control_three_hops();
        control[0].hops[1].sent_ms = 600.1;
        let p = facts(hops, control);
        assert!(p.next_hop_unreached(1));
        assert!(p.read().decided());
    }

    #[test]
    fn an_unreachable_for_the_port_while_the_control_gets_through_is_a_rejection() {
        let mut hops = silent_from(1, 3, 2);
        let mut rejected = h(30, HopOutcome::Unreachable, "198.51.100.1");
        rejected.icmp_type = Some(3);
        rejected.icmp_code = Some(3);
        hops.push(rejected);
        let p = facts(hops.clone(), control_three_hops());
        assert!(matches!(
            p.read(),
            PathReading::Rejected {
                ttl: 30,
                icmp_code: 3,
                ..
            }
        ));
        assert!(p.read().decided());
        // Without a control that got through, the unreachable may be the whole path's.
        assert_eq!(facts(hops, Vec::new()).read(), PathReading::Undecided);
    }
}
