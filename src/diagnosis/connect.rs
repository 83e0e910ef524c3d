//! Connect failures: this host's firewall, a block on the way, the server refusing, or no route — from errno, ICMP and TTL probes.

use crate::report::{ConnectOutcome, FirewallRule, HopOutcome, PathOutcome, PathReading, Report};

use super::attempt::At;
use super::{Code, Confidence, ConnectEvidence, Facts, Finding, PathNote};

/// The rule (or policy) of this host that stopped this attempt's packet the given way, as its walked path says.
pub(super) fn stopping_rule(at: &At<'_>, outcome: PathOutcome) -> Vec<FirewallRule> {
    at.a.host_path
        .iter()
        .filter(|p| p.outcome == outcome)
        .filter_map(|p| p.decided_by.clone())
        .collect()
}

fn rules_were_read(report: &Report) -> bool {
    report.host.firewall.as_ref().is_some_and(|f| f.read)
}

/// ICMP types and codes that say "administratively prohibited" (v4 3/9,10,13; v6 1/1).
fn prohibited(icmp_type: u8, icmp_code: u8) -> bool {
    matches!((icmp_type, icmp_code), (3, 9 | 10 | 13) | (1, 1))
}

pub(super) fn decide(at: &At<'_>) -> Finding {
    let a = at.a;
    let c = &a.connect;
    let other_port_works = at.report.ports.iter().any(|p| {
        p.port != at.pr.port
            && p.attempts
                .iter()
                .any(|o| o.address == a.address && o.connect.outcome == ConnectOutcome::Connected)
    });
    let drop_rules = stopping_rule(at, PathOutcome::Drop);
    let reject_rules = stopping_rule(at, PathOutcome::Reject);
    let local_icmp = c.icmp.as_ref().is_some_and(|i| i.offender_is_local);
    let router = c
        .icmp
        .as_ref()
        .filter(|i| !i.offender_is_local)
        .and_then(|i| i.offender)
        .filter(|o| *o != a.address);
    let mut ev = ConnectEvidence {
        connect: c.clone(),
        hops: a.path.as_ref().map(|p| p.hops.clone()).unwrap_or_default(),
        control: a
            .path
            .as_ref()
            .map(|p| p.control.clone())
            .unwrap_or_default(),
        other_port_works,
        rules: drop_rules.iter().chain(&reject_rules).cloned().collect(),
        router,
        path: None,
    };
    let (code, confidence) = match c.outcome {
        ConnectOutcome::Refused => refused(at, &mut ev, local_icmp || !reject_rules.is_empty()),
        ConnectOutcome::TimedOut => timed_out(at, &mut ev, !drop_rules.is_empty()),
        ConnectOutcome::HostUnreachable | ConnectOutcome::PermissionDenied => {
            let eperm_here = c.outcome == ConnectOutcome::PermissionDenied && c.icmp.is_none();
            if (local_icmp && c.elapsed_ms < 100.0) || eperm_here {
                (Code::FirewallReject, Confidence::High)
            } else if let Some(i) = c.icmp.as_ref().filter(|_| router.is_some()) {
                if prohibited(i.icmp_type, i.icmp_code) || other_port_works {
                    (Code::IspReject, Confidence::High)
                } else {
                    (Code::HostUnreachable, Confidence::Medium)
                }
            } else {
                (Code::HostUnreachable, Confidence::Medium)
            }
        }
        ConnectOutcome::NetworkUnreachable | ConnectOutcome::NoLocalAddress => {
            if local_icmp {
                (Code::FirewallReject, Confidence::High)
            } else {
                (Code::NoRoute, Confidence::High)
            }
        }
        ConnectOutcome::Other | ConnectOutcome::NotTried | ConnectOutcome::Connected => {
            (Code::ConnectFailed, Confidence::Low)
        }
    };
    at.finding(code, confidence, Facts::Connect(Box::new(ev)))
}

/// ECONNREFUSED: a RST or an ICMP error, from this host, a router or the server.
fn refused(at: &At<'_>, ev: &mut ConnectEvidence, rejected_here: bool) -> (Code, Confidence) {
    let a = at.a;
    if rejected_here {
        return (Code::FirewallReject, Confidence::High);
    }
    if ev.router.is_some() {
        return (Code::IspReject, Confidence::High);
    }
    if a.connect.icmp.as_ref().and_then(|i| i.offender) == Some(a.address) {
        return (Code::ServerReject, Confidence::High);
    }
    // The ladders after a RST: answered at the server's distance, or by a hop on the way.
    if let Some(p) = a.path.as_ref().filter(|p| p.summary.is_some()) {
        match p.read() {
            PathReading::AnsweredEarly {
                ttl,
                by,
                here: false,
                reset: true,
            } if ttl >= 2 => {
                ev.path = Some(PathNote::AnsweredEarly {
                    ttl,
                    by,
                    here: false,
                });
                return (Code::IspReject, Confidence::High);
            }
            PathReading::AnsweredEarly { ttl: 1, .. } => {
                ev.path = Some(PathNote::RefusedWithinOneHop);
                return (Code::FirewallReject, Confidence::Medium);
            }
            PathReading::Reached { .. } if p.settled() => {
                ev.path = Some(PathNote::LeftThisHost);
                return (Code::PortClosed, Confidence::High);
            }
            _ => {}
        }
    }
    // A lone TTL-1 SYN, or ladders that placed nothing: any answer to a TTL-1 SYN says where the SYN got.
    let ttl1 = a.path.as_ref().and_then(|p| {
        let hops = p.hops.iter().filter(|h| h.ttl == 1);
        let first = hops
            .clone()
            .find(|h| h.outcome != HopOutcome::Silent)
            .or_else(|| hops.clone().next())?;
        Some((first.outcome, p.on_link))
    });
    match ttl1 {
        // The server is at least one router away, yet a SYN that could not pass the first router was answered.
        Some((HopOutcome::SynAck | HopOutcome::Reset, false)) => {
            ev.path = Some(PathNote::RefusedWithinOneHop);
            (Code::FirewallReject, Confidence::Medium)
        }
        Some((HopOutcome::TimeExceeded, _)) => {
            ev.path = Some(PathNote::LeftThisHost);
            (Code::PortClosed, Confidence::Medium)
        }
        _ => (Code::PortClosed, Confidence::Medium),
    }
}

/// No answer: where the SYN died, from the TTL ladders (when they ran), else the TTL-limited SYNs and this host's rules.
fn timed_out(at: &At<'_>, ev: &mut ConnectEvidence, drop_rule: bool) -> (Code, Confidence) {
    if let Some(reading) =
        at.a.path
            .as_ref()
            .filter(|p| p.summary.is_some())
            .map(|p| p.read())
    {
        return from_ladders(at, ev, drop_rule, reading);
    }
    let hops = &ev.hops;
    let first = hops.iter().find(|h| h.ttl == 1).map(|h| h.outcome);
    let left_host = hops
        .iter()
        .any(|h| h.outcome == HopOutcome::TimeExceeded || h.reached());
    if drop_rule && !left_host {
        return (Code::FirewallDrop, Confidence::High);
    }
    if left_host {
        let passed = hops
            .iter()
            .filter(|h| h.outcome == HopOutcome::TimeExceeded)
            .map(|h| h.ttl)
            .max()
            .unwrap_or(0);
        ev.path = Some(PathNote::DroppedAfter(passed));
        let sure = if ev.other_port_works {
            Confidence::High
        } else {
            Confidence::Medium
        };
        return (Code::IspDrop, sure);
    }
    if first == Some(HopOutcome::Silent) {
        // With the rules read and none matching, a first router that ignores TTL expiry is as likely.
        let sure = if rules_were_read(at.report) {
            Confidence::Low
        } else if ev.other_port_works {
            Confidence::High
        } else {
            Confidence::Medium
        };
        return (Code::FirewallDrop, sure);
    }
    (Code::ConnectTimeout, Confidence::Low)
}

/// The ladders' reading decides, and what contradicts a verdict overrules it: a SYN of this run that reached the
/// server makes any block wrong, and ladders that do not settle it leave the timeout unplaced.
fn from_ladders(
    at: &At<'_>,
    ev: &mut ConnectEvidence,
    drop_rule: bool,
    reading: PathReading,
) -> (Code, Confidence) {
    match reading {
        PathReading::Reached { ttl } => {
            ev.path = Some(PathNote::ReachedServer(ttl));
            (Code::ConnectLossy, Confidence::Medium)
        }
        PathReading::AnsweredEarly { ttl, by, here, .. } => {
            ev.path = Some(PathNote::AnsweredEarly { ttl, by, here });
            if here {
                (Code::LocalRedirect, Confidence::High)
            } else {
                (Code::IspProxy, Confidence::Medium)
            }
        }
        PathReading::NeverLeft { router_answers } => {
            ev.path = Some(PathNote::NeverLeft { router_answers });
            // A matching rule is the cause itself; without the listing, the first router's answer to the control
            // at the same moment shows it would have answered these SYNs had they left. A listing that shows no
            // such rule leaves a first router that filters before it counts the TTL as likely. Without that
            // answer, a silent first hop is unknown, never "dropped here".
            // A first router that answers nobody at TTL 1, with the listing showing nothing here that stops the
            // SYN: the hop where the control goes on and these do not places the drop.
            let parted = at.a.path.as_ref().and_then(|p| p.parted_beyond_first_hop());
            match (
                drop_rule,
                router_answers,
                rules_were_read(at.report),
                parted,
            ) {
                (true, _, _, _) | (false, true, false, _) => (Code::FirewallDrop, Confidence::High),
                (false, true, true, _) => (Code::FirewallDrop, Confidence::Medium),
                (false, false, true, Some((hop, next))) => {
                    ev.path = Some(PathNote::DiesBefore { hop, next });
                    (Code::IspDrop, Confidence::Medium)
                }
                (false, false, _, _) => (Code::ConnectTimeout, Confidence::Low),
            }
        }
        PathReading::Rejected { by, .. } => {
            // The unreachable the connect's own SYNs did not get (the sender's ICMP budget was spent then).
            ev.router = Some(by).filter(|b| *b != at.a.address);
            if by == at.a.address {
                (Code::ServerReject, Confidence::High)
            } else {
                (Code::IspReject, Confidence::High)
            }
        }
        PathReading::DroppedAfter {
            hop,
            router,
            next,
            no_reject,
        } => {
            ev.path = Some(PathNote::DroppedAt { hop, router, next });
            // The SYN left this host (a router answered it), whatever a rule of this host seemed to say. Without
            // the router's answer beside the silences, a reject hidden by its ICMP rate limit is not ruled out; the
            // connect's own full wait found no unreachable either.
            let sure = if no_reject {
                Confidence::High
            } else {
                Confidence::Medium
            };
            (Code::IspDrop, sure)
        }
        PathReading::Undecided => {
            let left = ev
                .hops
                .iter()
                .any(|h| h.outcome == HopOutcome::TimeExceeded);
            if drop_rule && !left {
                // The matching rule decides; no SYN was seen to leave this host.
                return (Code::FirewallDrop, Confidence::High);
            }
            // An unreachable a ladder SYN got where the connect's own got none (the sender's ICMP budget was spent
            // at that moment): what it says about the port or the address.
            let unreachable = ev
                .hops
                .iter()
                .filter(|h| h.outcome == HopOutcome::Unreachable && !h.here)
                .find_map(|h| Some((h.router?, h.icmp_type?, h.icmp_code?)));
            if let Some((by, icmp_type, icmp_code)) = unreachable {
                let v6 = at.a.address.is_ipv6();
                let for_address = if v6 {
                    icmp_type == 1 && matches!(icmp_code, 0 | 3)
                } else {
                    icmp_type == 3 && matches!(icmp_code, 0 | 1 | 6 | 7)
                };
                ev.router = Some(by).filter(|b| *b != at.a.address);
                return match (by == at.a.address, for_address) {
                    (_, true) => (Code::HostUnreachable, Confidence::Medium),
                    (true, false) => (Code::ServerReject, Confidence::High),
                    (false, false) => (Code::IspReject, Confidence::High),
                };
            }
            // Too few answers or silences to place the drop (a short --timeout, loss): say so, guess nothing.
            (Code::ConnectTimeout, Confidence::Low)
        }
    }
}
