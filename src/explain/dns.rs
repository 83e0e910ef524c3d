//! Words for DNS: what each lookup said, and what a dead, refusing or blocked resolver means for the user.

use crate::diagnosis::{Code, DnsEvidence, Facts, Finding};
use crate::report::{DnsOutcome, Report};

use super::Words;

fn outcome_words(o: DnsOutcome) -> &'static str {
    match o {
        DnsOutcome::NotAsked => "not asked",
        DnsOutcome::Answered => "answered",
        DnsOutcome::NxDomain => "NXDOMAIN (no such name)",
        DnsOutcome::NoRecords => "no records",
        DnsOutcome::ServFail => "SERVFAIL",
        DnsOutcome::Refused => "REFUSED",
        DnsOutcome::Timeout => "no answer (timeout)",
        DnsOutcome::NoResolver => "no resolver configured",
        DnsOutcome::Error => "error",
        DnsOutcome::Interrupted => "still waiting when the run was interrupted",
    }
}

fn evidence(d: &DnsEvidence) -> Vec<String> {
    let line = |label: &str, (o, records): &(DnsOutcome, Vec<String>)| {
        format!("{label}: {} {}", outcome_words(*o), records.join(" "))
            .trim()
            .to_string()
    };
    vec![
        format!("resolver: {}", d.resolver),
        line("A", &d.a),
        line("AAAA", &d.aaaa),
    ]
}

pub(super) fn word(report: &Report, f: &Finding) -> Words {
    let Facts::Dns(d) = &f.facts else {
        return Words::new(
            format!("the DNS lookup of {} failed", f.host),
            Vec::new(),
            "Check /etc/resolv.conf and try --resolver with another server.",
        );
    };
    let t = &f.host;
    let ev = evidence(d);
    let mx_hint = d
        .mx
        .first()
        .map(|m| format!(" The domain's mail is handled by {m} (MX); did you mean that host, or your provider's submission host?"))
        .unwrap_or_default();
    let (message, ev, remedy) = match f.code {
        Code::MailDomainOnly => (
            format!("{t} is a mail domain without an address of its own; its MX hosts were probed"),
            report.dns.mx.iter().map(|m| format!("MX {} {}", m.preference, m.host)).collect(),
            "Nothing to do: mail for the domain goes to its MX hosts.".to_string(),
        ),
        Code::DnsPartialFailure => (
            format!("one of the address lookups for {t} failed ({})", outcome_words(d.outcome)),
            ev,
            "Some clients wait for both lookups; check the resolver (cat /etc/resolv.conf) and the zone's name servers.".into(),
        ),
        Code::MxHostUnresolved => (
            format!(
                "the MX host {t} does not resolve, so mail for {} cannot reach it",
                report.target
            ),
            vec![format!("no A or AAAA answer for {t}")],
            "Fix the domain's MX record to name a host with A/AAAA records.".into(),
        ),
        Code::NoAddressForFamily => (
            format!(
                "{t} has no address of the family asked for, so port {} was not probed",
                f.port.unwrap_or(0)
            ),
            vec![format!(
                "A: {}, AAAA: {}",
                outcome_words(d.a.0),
                outcome_words(d.aaaa.0)
            )],
            "Drop -4/-6, or check the DNS records of the name.".into(),
        ),
        Code::NoResolver => (
            "this host has no DNS resolver configured".to_string(),
            ev,
            "Add a nameserver line to /etc/resolv.conf (or fix systemd-resolved), or pass --resolver IP.".into(),
        ),
        Code::Nxdomain => (
            format!("{t} does not exist in DNS (NXDOMAIN)"),
            ev,
            format!("Check the spelling of the host name in your mail settings.{mx_hint}"),
        ),
        Code::DnsServfail => (
            format!("the DNS lookup of {t} failed on the server side (SERVFAIL)"),
            ev,
            "The resolver could not get an answer from the zone's name servers (broken DNSSEC or dead name servers). Try again, try --resolver with another server, or ask the domain's owner.".into(),
        ),
        Code::DnsRefused => (
            format!("the resolver refused to look up {t} (REFUSED)"),
            ev,
            "The configured resolver does not serve this host; point /etc/resolv.conf at a working recursive resolver, or pass --resolver.".into(),
        ),
        Code::NoAddressRecord => (
            format!("{t} exists but has no address record (A/AAAA)"),
            ev,
            format!("The name has no A or AAAA record, so nothing can connect to it.{mx_hint}"),
        ),
        Code::ResolverBlockedHere
        | Code::ResolverNotServing
        | Code::ZoneUnreachable
        | Code::ResolverUnreachable
        | Code::ResolverDead => {
            let (message, remedy) = resolver_words(f.code, d, t);
            (message, ev, remedy)
        }
        _ => (
            format!("the DNS lookup of {t} failed"),
            ev,
            "Check /etc/resolv.conf and try --resolver with another server.".into(),
        ),
    };
    Words::new(message, ev, remedy)
}

/// Why lookups timed out, from what the name server said when asked directly.
fn resolver_words(code: Code, d: &DnsEvidence, t: &str) -> (String, String) {
    let server = d
        .check
        .as_ref()
        .map_or_else(|| d.resolver.clone(), |c| c.server.clone());
    match code {
        Code::ResolverBlockedHere => (
            format!("this host's firewall blocks DNS to its resolver {server}"),
            "Allow outgoing DNS (UDP and TCP port 53) in this host's firewall: find the rule with iptables -S OUTPUT; nft list ruleset.".into(),
        ),
        Code::ResolverNotServing => (
            format!("the resolver {server} refuses DNS (ICMP port unreachable): no DNS service runs there"),
            "Point /etc/resolv.conf at a working resolver (or start the local one: systemctl status systemd-resolved), or pass --resolver.".into(),
        ),
        Code::ZoneUnreachable => (
            format!("the resolver {server} works, but gets no answer for {t}"),
            format!("The name servers of {t}'s zone do not answer; check the domain's NS records and its DNS hosting, or try later."),
        ),
        Code::ResolverUnreachable => (
            format!("this host has no route to its resolver {server}"),
            "Check this host's routes and the nameserver lines of /etc/resolv.conf.".into(),
        ),
        Code::ResolverDead => (
            format!("the DNS resolver did not answer for {t}"),
            format!(
                "Check that the resolver in /etc/resolv.conf ({}) is up and that this host may send DNS (UDP and TCP port 53) to it.",
                d.resolver
            ),
        ),
        _ => (
            format!("the DNS lookup of {t} failed"),
            "Check /etc/resolv.conf and try --resolver with another server.".into(),
        ),
    }
}
