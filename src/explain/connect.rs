//! Words for the connect path: this host's firewall, a block on the way, the server refusing, no route.

use crate::diagnosis::{Code, ConnectEvidence, Facts, Finding, PathNote};
use crate::report::{ConnectOutcome, HopFacts, Report};

use super::manager;
use super::{here, port_of, Words};

/// The connect outcome in words, as evidence.
fn outcome_words(o: ConnectOutcome) -> &'static str {
    match o {
        ConnectOutcome::NotTried => "not tried",
        ConnectOutcome::Connected => "connected",
        ConnectOutcome::Refused => "refused",
        ConnectOutcome::TimedOut => "no answer (timed out)",
        ConnectOutcome::HostUnreachable => "host unreachable",
        ConnectOutcome::NetworkUnreachable => "network unreachable",
        ConnectOutcome::PermissionDenied => "not permitted by this host",
        ConnectOutcome::NoLocalAddress => "no local address of this family",
        ConnectOutcome::Other => "failed",
    }
}

/// One line per TTL of a ladder, equal answers counted once: "SYN with TTL 1: time exceeded from 198.51.100.1 (×3)".
fn ladder_lines(who: &str, hops: &[HopFacts]) -> Vec<String> {
    let mut sorted: Vec<&HopFacts> = hops.iter().collect();
    sorted.sort_by_key(|h| h.ttl);
    let mut rows: Vec<(u8, String, usize)> = Vec::new();
    for h in sorted {
        let mut what = h.outcome.name().to_string();
        if let Some(c) = h.icmp_code {
            what.push_str(&format!(" (code {c})"));
        }
        if let Some(r) = h.router {
            what.push_str(&format!(" from {r}"));
        }
        if h.here {
            what.push_str(" (this host)");
        }
        match rows.last_mut() {
            Some((t, w, n)) if *t == h.ttl && *w == what => *n += 1,
            _ => rows.push((h.ttl, what, 1)),
        }
    }
    rows.into_iter()
        .map(|(t, w, n)| {
            let times = if n > 1 {
                format!(" (×{n})")
            } else {
                String::new()
            };
            format!("{who} with TTL {t}: {w}{times}")
        })
        .collect()
}

fn evidence(ev: &ConnectEvidence, address: Option<std::net::IpAddr>) -> Vec<String> {
    let c = &ev.connect;
    let waited = if c.cut_short {
        " (waiting stopped once the TTL-limited SYNs decided)"
    } else {
        ""
    };
    let mut out = vec![format!(
        "connect: {} after {:.1} ms{}{waited}",
        outcome_words(c.outcome),
        c.elapsed_ms,
        c.errno.map(|e| format!(", errno {e}")).unwrap_or_default()
    )];
    if let Some(i) = &c.icmp {
        out.push(format!(
            "ICMP type {} code {} from {}{}",
            i.icmp_type,
            i.icmp_code,
            i.offender.map_or_else(|| "?".into(), |o| o.to_string()),
            if i.offender_is_local {
                " (this host)"
            } else {
                ""
            }
        ));
    }
    out.extend(ladder_lines("SYN", &ev.hops));
    for ctl in &ev.control {
        let why = if ctl.connected_in_run {
            "it connected in this run"
        } else {
            "the control"
        };
        out.extend(ladder_lines(
            &format!("SYN to port {} ({why})", ctl.port),
            &ctl.hops,
        ));
    }
    if let (true, Some(a)) = (ev.other_port_works, address) {
        out.push(format!("other ports of {a} connect, so the server is up"));
    }
    for r in &ev.rules {
        out.push(manager::rule_evidence(r));
    }
    match ev.path {
        Some(PathNote::RefusedWithinOneHop) => out.push(
            "a SYN limited to one hop was refused too, so the refusal comes from this host".into(),
        ),
        Some(PathNote::LeftThisHost) => out.push(
            "a SYN limited to one hop left this host (the first router answered), so the refusal comes from further away"
                .into(),
        ),
        Some(PathNote::DroppedAfter(n)) => out.push(format!(
            "the SYN left this host and passed {n} router(s); then it was dropped"
        )),
        Some(PathNote::DroppedAt { hop, router, next }) => out.push(format!(
            "the SYNs to this port passed {hop} router(s) (the last: {}) and died after it, while the control went on{} to the server; no SYN to this port that could reach the server was answered",
            router.map_or_else(|| "unknown".into(), |r| r.to_string()),
            next.map(|n| format!(" past {n}")).unwrap_or_default()
        )),
        Some(PathNote::NeverLeft { router_answers: true }) => out.push(
            "no SYN to this port got any answer, not even at TTL 1, while the first router answered the control's TTL-1 SYN at the same moment: these never left this host".into(),
        ),
        Some(PathNote::NeverLeft { router_answers: false }) => out.push(
            "no SYN to this port got any answer, not even at TTL 1, while the control reached the server; the first router did not answer the control's TTL-1 SYN at the same moment either (a router that does not answer, or whose ICMP budget was spent), so where these die is unknown".into(),
        ),
        Some(PathNote::DiesBefore { hop, next }) => out.push(format!(
            "no router answered the SYNs to this port, not even at TTL 1, yet this host's rules (read) let them out; the control's SYN with TTL {hop} was answered{}, none of this port's: they die before hop {hop} (the routers before it do not answer TTL expiry, or their ICMP budget was spent)",
            next.map(|n| format!(" by {n}")).unwrap_or_default()
        )),
        Some(PathNote::ReachedServer(t)) => out.push(format!(
            "a SYN to this port with TTL {t} reached the server and was answered: the port is not blocked, the connect's own SYNs were lost"
        )),
        Some(PathNote::AnsweredEarly { ttl, by, here }) => out.push(format!(
            "a SYN to this port with TTL {ttl} was answered, too early to have reached the server{}",
            if here {
                " (the other end is a socket of this host)".to_string()
            } else {
                by.map(|b| format!(" (hop {ttl} is {b})")).unwrap_or_default()
            }
        )),
        None => {}
    }
    out
}

/// The remedy and commands for this host's own firewall; shared with the family warning that a firewall causes.
pub(super) fn firewall_fix(
    report: &Report,
    ev: &ConnectEvidence,
    port: u16,
) -> (String, Vec<String>) {
    if ev.rules.is_empty() {
        return (manager::unread(report, port, "blocks outgoing"), Vec::new());
    }
    let fix = manager::fix(report, &ev.rules, port);
    let mut commands = fix.commands;
    commands.extend(fix.apply);
    (fix.remedy, commands)
}

fn block_remedy(port: u16) -> String {
    if port == 25 {
        "Something between this host and the server blocks port 25 — most cloud and hosting providers (AWS, GCP, Azure, \
         DigitalOcean, OVH, Hetzner…) block outgoing port 25 by default. Ask the provider to lift the block, or send \
         through a relay/submission service on port 587 or 465 instead."
            .to_string()
    } else {
        format!(
            "Something between this host and the server drops port {port}: the provider's network policy, a cloud \
             security group or network ACL, or the server's own firewall. Check the provider's firewall settings; try \
             another port (587/465/2525)."
        )
    }
}

pub(super) fn word(report: &Report, f: &Finding) -> Words {
    let Facts::Connect(ev) = &f.facts else {
        return Words::new(
            format!("connecting to {} failed", here(f)),
            Vec::new(),
            "Run again with --verbose.",
        );
    };
    let here = here(f);
    let port = port_of(f);
    let addr = f.address.map_or_else(|| f.host.clone(), |a| a.to_string());
    let evidence = evidence(ev, f.address);
    let (message, remedy) = match f.code {
        Code::FirewallDrop | Code::FirewallReject => {
            return firewall_words(report, f, ev, &here, evidence)
        }
        Code::IspDrop => match ev.path {
            Some(PathNote::DroppedAt { hop, router, .. }) => (
                format!(
                    "connections to {here} are dropped on the way: the SYN gets past hop {hop} ({}) and no further",
                    router.map_or_else(|| "address unknown".into(), |r| r.to_string())
                ),
                block_remedy(port),
            ),
            Some(PathNote::DiesBefore { hop, .. }) => (
                format!(
                    "connections to {here} are dropped on the way, before hop {hop}: this host lets the SYN out (its rules were read), and no router answers it"
                ),
                block_remedy(port),
            ),
            _ => (
                format!("connections to {here} time out beyond this host: the SYN is dropped on the way"),
                block_remedy(port),
            ),
        },
        Code::IspProxy => {
            let (ttl, by) = match ev.path {
                Some(PathNote::AnsweredEarly { ttl, by, .. }) => (ttl, by),
                _ => (0, None),
            };
            (
                format!(
                    "something at hop {ttl}{} answers in place of {here}: a SYN too short-lived to reach the server gets an answer (a transparent proxy)",
                    by.map(|b| format!(" ({b})")).unwrap_or_default()
                ),
                format!(
                    "A router on the way (usually the provider's) intercepts port {port} and answers for the server. Ask the \
                     provider to stop intercepting, or send through a relay on 465 (implicit TLS, which a proxy cannot read)."
                ),
            )
        }
        Code::LocalRedirect => (
            format!("a socket of this host answers in place of {here}: connections to it are redirected here"),
            "Find the nat rule (iptables -t nat -S OUTPUT, nft list ruleset), WHM SMTP Restrictions or CSF SMTP_BLOCK \
             that diverts the port, or relay through the local MTA on purpose."
                .into(),
        ),
        Code::ConnectLossy => (
            format!(
                "connections to {here} time out, yet SYNs of this run reached the server and were answered: packets are lost on the way, the port is not blocked"
            ),
            "The path loses packets: run again (with a longer --timeout), and check the link for loss (mtr -T -P PORT \
             ADDRESS). Mail clients retry; a lossy link makes them slow, not blocked."
                .into(),
        ),
        Code::IspReject => match ev.path {
            Some(PathNote::AnsweredEarly { ttl, by, .. }) => (
                format!(
                    "something on the way, at or before hop {ttl}{}, resets connections to {here}: a SYN too short-lived to reach the server is refused",
                    by.map(|b| format!(" ({b})")).unwrap_or_default()
                ),
                block_remedy(port),
            ),
            _ => (
                format!(
                    "a router on the way ({}) rejects connections to {here}",
                    ev.router.map_or_else(|| "?".into(), |r| r.to_string())
                ),
                block_remedy(port),
            ),
        },
        Code::PortClosed => (
            format!("{here} refused the connection: nothing is listening on port {port}"),
            format!(
                "The server is not accepting mail on port {port}: the mail service is stopped, or listens on other ports or \
                 addresses. On the server: ss -ltnp | grep ':{port}', and check the mail server's log. If you run the \
                 client, check the port number."
            ),
        ),
        Code::ServerReject => (
            format!("{here} rejects the connection with an ICMP error: the server's own firewall blocks port {port}"),
            format!("The server (or a firewall on it) refuses port {port}: ask its operator to allow this host, or use another port."),
        ),
        Code::ConnectTimeout if !ev.control.is_empty() => (
            format!(
                "connections to {here} time out, and the TTL-limited SYNs could not place the drop (too few answers: loss, a short --timeout, or routers and a server that do not answer)"
            ),
            "Run again with a longer --timeout; check the server is up and reachable (mtr -T -P PORT ADDRESS).".into(),
        ),
        Code::ConnectTimeout => (
            format!("connections to {here} time out"),
            "The server is down or drops connections; check it is running and reachable.".into(),
        ),
        Code::HostUnreachable => match ev.router {
            Some(r) => (
                format!("{addr} is unreachable: router {r} has no way to it"),
                "The server's network is down or unreachable from here; check the address and try again later (mtr / traceroute to it).".into(),
            ),
            None => (
                format!("{addr} is unreachable from this host"),
                "Check this host's routes (ip route get ADDRESS) and that the server's address is right.".into(),
            ),
        },
        Code::NoRoute => {
            let fam = if f.address.is_some_and(|a| a.is_ipv6()) { "IPv6" } else { "IPv4" };
            (
                format!("this host has no route to {addr} ({fam} network unreachable)"),
                format!(
                    "This host has no {fam} route for the server (no default route, or no {fam} address). Check ip route / \
                     ip -6 route; if {fam} is not meant to work here, make the client use the other family (e.g. nodemailer family: 4)."
                ),
            )
        }
        _ => (
            format!("connecting to {here} failed"),
            "Run again with --verbose; check routes and addresses on this host.".into(),
        ),
    };
    Words::new(message, evidence, remedy)
}

fn firewall_words(
    report: &Report,
    f: &Finding,
    ev: &ConnectEvidence,
    here: &str,
    evidence: Vec<String>,
) -> Words {
    let message = match (f.code, ev.path) {
        (Code::FirewallReject, Some(PathNote::RefusedWithinOneHop)) => {
            format!("this host's firewall resets outgoing connections to {here}")
        }
        (Code::FirewallReject, _) => {
            format!("this host's firewall rejects outgoing connections to {here}")
        }
        _ if !ev.rules.is_empty() => {
            format!("this host's firewall drops outgoing connections to {here}")
        }
        _ if ev.path == Some(PathNote::NeverLeft { router_answers: true }) => format!(
            "connections to {here} time out, and no SYN to the port leaves this host: the first router answers another port's at the same moment, never these"
        ),
        _ => format!(
            "connections to {here} time out, and a SYN limited to one hop is not answered either: it never leaves this host"
        ),
    };
    let (remedy, commands) = firewall_fix(report, ev, port_of(f));
    Words {
        message,
        evidence,
        remedy,
        commands,
    }
}
