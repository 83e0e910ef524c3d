//! Local interception: a banner, EHLO name, certificate or the kernel's NAT table showing this host answering for a remote target.

use crate::report::{Attempt, ControlLadder, HopOutcome, Report};

use super::attempt::At;
use super::{Code, Confidence, ConnectEvidence, Facts, Finding, PathNote, Severity, Sign};

/// How surely a name in a banner or certificate means this very host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NameMatch {
    No,
    /// "localhost" and friends: misconfigured remote servers announce it too.
    Generic,
    /// This host's own name.
    Own,
}

fn names_this_host(report: &Report, name: &str) -> NameMatch {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let h = report.host.hostname.to_ascii_lowercase();
    let short = h.split('.').next().unwrap_or("");
    if matches!(
        n.as_str(),
        "localhost" | "localhost.localdomain" | "localhost6" | "localhost6.localdomain6"
    ) {
        return NameMatch::Generic;
    }
    if !n.is_empty() && (n == h || (n == short && short != "localhost")) {
        return NameMatch::Own;
    }
    NameMatch::No
}

/// The target itself is this host: then its own name in the banner is no sign of interception.
fn target_is_this_host(report: &Report, a: &Attempt) -> bool {
    a.address.is_loopback() || names_this_host(report, &report.target) != NameMatch::No
}

/// The signs seen, and the strongest of them (a name, own or generic, or the kernel's NAT entry for this connection, counted as Own).
fn signs(at: &At<'_>) -> (NameMatch, Vec<Sign>) {
    let (report, a) = (at.report, at.a);
    let mut strength = NameMatch::No;
    let mut out = Vec::new();
    let mut saw = |m: NameMatch, sign: Sign| {
        if m != NameMatch::No {
            strength = strength.max(m);
            out.push(sign);
        }
    };
    if let Some(n) = a.greeting.as_ref().and_then(|g| g.announced_name()) {
        saw(
            names_this_host(report, n),
            Sign::GreetingNamesThisHost(n.to_string()),
        );
    }
    if let Some((n, m)) = [&a.ehlo, &a.ehlo_tls]
        .into_iter()
        .flatten()
        .filter_map(|e| e.reply.announced_name())
        .map(|n| (n, names_this_host(report, n)))
        .find(|(_, m)| *m != NameMatch::No)
    {
        saw(m, Sign::EhloNamesThisHost(n.to_string()));
    }
    if let Some(t) = a.tls.as_ref().filter(|t| !t.name_matches) {
        if let Some(leaf) = t.chain.first() {
            let best = leaf
                .sans
                .iter()
                .map(|s| names_this_host(report, s))
                .max()
                .unwrap_or(NameMatch::No);
            saw(best, Sign::CertNamesThisHost(leaf.sans.clone()));
        }
    }
    // Decisive without root and whatever the banner says: the connection's other end is in this host's table,
    // or a SYN that could not pass the first router was answered from this host.
    if a.connect.answered_here || first_hop_answer(a).is_some_and(|h| h.here) {
        saw(NameMatch::Own, Sign::AnsweredHere);
    }
    for r in &report.host.nat_redirects {
        // Only this attempt's own connection: the table keeps older ones for minutes.
        if Some(r.original_source_port) == a.connect.local_port
            && r.original_destination == a.address
            && r.original_port == at.pr.port
            && r.answered_by != a.address
        {
            saw(NameMatch::Own, Sign::NatAnsweredBy(r.clone()));
        }
    }
    // The nat rule this connection's walked path met supports the signs the connection itself gave.
    if strength != NameMatch::No {
        out.extend(
            a.host_path
                .iter()
                .filter_map(|p| p.nat.as_ref())
                .map(|n| Sign::Rule(n.rule.clone())),
        );
    }
    (strength, out)
}

/// The connect took less time than any packet leaving this host could.
const LOCAL_CONNECT_MS: f64 = 0.5;

pub(super) fn decide(at: &At<'_>) -> Option<Finding> {
    let (report, a) = (at.report, at.a);
    if target_is_this_host(report, a) {
        return None;
    }
    let (strength, mut signs) = signs(at);
    let listeners = &report.host.mail_listeners;
    let listener_here = listeners.iter().any(|l| l.port == at.pr.port);
    let local_fast = a.connect.elapsed_ms < LOCAL_CONNECT_MS;
    // "localhost" alone is what some badly set-up remote servers say; it counts only with a local sign beside it.
    if signs.is_empty() || (strength == NameMatch::Generic && !(listener_here && local_fast)) {
        return None;
    }
    if listeners
        .iter()
        .any(|l| l.port == at.pr.port || l.address.is_loopback())
    {
        signs.push(Sign::Listeners(listeners.clone()));
    }
    if local_fast {
        signs.push(Sign::LocalFastConnect(a.connect.elapsed_ms));
    }
    Some(at.finding(
        Code::LocalRedirect,
        Confidence::High,
        Facts::Intercept(signs),
    ))
}

/// The first-hop check of a connection that was answered (SYN-ACK or RST) although the server is not on a
/// directly attached network.
fn first_hop_answer(a: &Attempt) -> Option<&crate::report::HopFacts> {
    let path = a.path.as_ref().filter(|p| !p.on_link)?;
    path.hops.iter().find(|h| h.ttl == 1 && h.reached())
}

/// A router within one hop answers for the server: this connection's TTL-1 SYN got a SYN-ACK or RST while a
/// TTL-1 SYN to another port of the same address got "time exceeded" from the first router (so the server is
/// farther). A warning when the session still reached the real server's verified certificate (the proxy passes
/// it through), an error otherwise.
pub(super) fn proxy(at: &At<'_>) -> Option<Finding> {
    let (report, a) = (at.report, at.a);
    let answered = first_hop_answer(a).filter(|h| !h.here)?;
    let router_at_ttl1 = |hops: &[crate::report::HopFacts]| -> Option<crate::report::HopFacts> {
        hops.iter()
            .find(|h| h.ttl == 1 && h.outcome == HopOutcome::TimeExceeded)
            .cloned()
    };
    // The check's own control SYNs first, then another port's first-hop check.
    let own = a.path.as_ref().into_iter().flat_map(|p| &p.control);
    let others = report
        .ports
        .iter()
        .filter(|p| p.port != at.pr.port)
        .flat_map(|p| p.attempts.iter().map(move |o| (p.port, o)))
        .filter(|(_, o)| o.address == a.address)
        .filter_map(|(port, o)| Some((port, &o.path.as_ref()?.hops)));
    let (port, router_hop) = own
        .map(|c| (c.port, &c.hops))
        .chain(others)
        .find_map(|(port, hops)| Some((port, router_at_ttl1(hops)?)))?;
    let verified = a
        .tls
        .as_ref()
        .is_some_and(|t| t.chain_verified && t.name_matches);
    let ev = ConnectEvidence {
        connect: a.connect.clone(),
        hops: vec![answered.clone()],
        control: vec![ControlLadder {
            port,
            connected_in_run: true,
            hops: vec![router_hop.clone()],
        }],
        other_port_works: true,
        rules: Vec::new(),
        router: router_hop.router,
        path: Some(PathNote::AnsweredEarly {
            ttl: 1,
            by: router_hop.router,
            here: false,
        }),
    };
    let facts = Facts::Connect(Box::new(ev));
    Some(if verified {
        at.note(Code::IspProxy, Severity::Warning, facts)
    } else {
        at.finding(Code::IspProxy, Confidence::Medium, facts)
    })
}
