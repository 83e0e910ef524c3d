//! Words for the connect path: this host's firewall, a block on the way, the server refusing, no route.

use crate::diagnosis::{Code, ConnectEvidence, Facts, Finding, PathNote};
use crate::report::{ConnectOutcome, HopOutcome, Report};

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

fn hop_words(o: HopOutcome) -> &'static str {
    match o {
        HopOutcome::TimeExceeded => "time exceeded",
        HopOutcome::Reached => "answered",
        HopOutcome::Silent => "no answer",
        HopOutcome::Error => "error",
    }
}

fn evidence(ev: &ConnectEvidence, address: Option<std::net::IpAddr>) -> Vec<String> {
    let c = &ev.connect;
    let mut out = vec![format!(
        "connect: {} after {:.1} ms{}",
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
    for h in &ev.hops {
        out.push(format!(
            "SYN with TTL {}: {}{}",
            h.ttl,
            hop_words(h.outcome),
            h.router.map(|r| format!(" from {r}")).unwrap_or_default()
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
        Code::IspDrop => (
            format!("connections to {here} time out beyond this host: the SYN is dropped on the way"),
            block_remedy(port),
        ),
        Code::IspReject => (
            format!(
                "a router on the way ({}) rejects connections to {here}",
                ev.router.map_or_else(|| "?".into(), |r| r.to_string())
            ),
            block_remedy(port),
        ),
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
