//! DNS: the target's lookups, told apart by response code and by what each name server said when asked directly.

use crate::report::{DnsLookup, DnsOutcome, PortReport, Report, ResolverReach};

use super::{Code, Confidence, DnsEvidence, Facts, Finding, Severity};

fn evidence(report: &Report, outcome: DnsOutcome) -> DnsEvidence {
    let d = &report.dns;
    DnsEvidence {
        resolver: d.resolver.clone(),
        a: (d.a.outcome, d.a.records.clone()),
        aaaa: (d.aaaa.outcome, d.aaaa.records.clone()),
        outcome,
        mx: d.mx.iter().map(|m| m.host.clone()).collect(),
        check: None,
    }
}

fn host_wide(report: &Report, code: Code, severity: Severity, facts: Facts) -> Finding {
    Finding {
        code,
        severity,
        confidence: Confidence::High,
        host: report.target.clone(),
        port: None,
        address: None,
        facts,
        others: Vec::new(),
        other_addresses_work: false,
    }
}

/// DNS findings of the target; the bool is true when no address could be had at all.
pub(super) fn decide(report: &Report) -> (Vec<Finding>, bool) {
    let d = &report.dns;
    if !d.queried {
        return (Vec::new(), false);
    }
    let asked: Vec<&DnsLookup> = [&d.a, &d.aaaa]
        .into_iter()
        .filter(|l| l.outcome != DnsOutcome::NotAsked)
        .collect();
    let any_answer = asked.iter().any(|l| l.outcome == DnsOutcome::Answered);
    // A lookup a signal cut never failed: no DNS verdict from it (the `interrupted` finding names it).
    if asked.iter().any(|l| l.outcome == DnsOutcome::Interrupted) {
        return (Vec::new(), false);
    }
    let probing_mx_only =
        !report.ports.is_empty() && report.ports.iter().all(|p| p.host != report.target);
    if !any_answer && probing_mx_only && asked.iter().all(|l| l.outcome == DnsOutcome::NoRecords) {
        let ev = evidence(report, DnsOutcome::NoRecords);
        let f = host_wide(report, Code::MailDomainOnly, Severity::Info, Facts::Dns(ev));
        return (vec![f], false);
    }
    if any_answer {
        let partial = asked
            .iter()
            .filter(|l| {
                matches!(
                    l.outcome,
                    DnsOutcome::ServFail | DnsOutcome::Timeout | DnsOutcome::Refused
                )
            })
            .map(|l| {
                let f = host_wide(
                    report,
                    Code::DnsPartialFailure,
                    Severity::Warning,
                    Facts::Dns(evidence(report, l.outcome)),
                );
                Finding {
                    confidence: Confidence::Medium,
                    ..f
                }
            })
            .collect();
        return (partial, false);
    }
    // The most telling outcome: a definite answer beats a transport failure.
    let order = [
        DnsOutcome::NoResolver,
        DnsOutcome::NxDomain,
        DnsOutcome::ServFail,
        DnsOutcome::Refused,
        DnsOutcome::Timeout,
        DnsOutcome::NoRecords,
        DnsOutcome::Error,
    ];
    let worst = order
        .iter()
        .find(|o| asked.iter().any(|l| l.outcome == **o))
        .copied()
        .unwrap_or(DnsOutcome::Error);
    let mut ev = evidence(report, worst);
    let code = match worst {
        DnsOutcome::NoResolver => Code::NoResolver,
        DnsOutcome::NxDomain => Code::Nxdomain,
        DnsOutcome::ServFail => Code::DnsServfail,
        DnsOutcome::Refused => Code::DnsRefused,
        DnsOutcome::NoRecords => Code::NoAddressRecord,
        DnsOutcome::Timeout | DnsOutcome::Error => {
            let (code, check) = timeout_cause(report);
            ev.check = check;
            match code {
                Code::ResolverDead if worst == DnsOutcome::Error => Code::DnsError,
                c => c,
            }
        }
        DnsOutcome::NotAsked | DnsOutcome::Answered | DnsOutcome::Interrupted => Code::DnsError,
    };
    let f = host_wide(report, code, Severity::Error, Facts::Dns(ev));
    (vec![f], true)
}

/// Why lookups timed out, from the direct check of each name server (the most local cause first).
fn timeout_cause(report: &Report) -> (Code, Option<crate::report::ResolverCheck>) {
    let checks = &report.dns.resolver_checks;
    for (reach, code) in [
        (ResolverReach::BlockedHere, Code::ResolverBlockedHere),
        (ResolverReach::PortUnreachable, Code::ResolverNotServing),
        (ResolverReach::Answers, Code::ZoneUnreachable),
        (ResolverReach::Unreachable, Code::ResolverUnreachable),
    ] {
        if let Some(c) = checks.iter().find(|c| c.outcome == reach) {
            return (code, Some(c.clone()));
        }
    }
    (Code::ResolverDead, None)
}

/// A port with no address to probe: an MX host that does not resolve, or no address of the family asked for.
pub(super) fn unresolved_port(report: &Report, pr: &PortReport) -> Finding {
    let mx_host = pr.host != report.target;
    let code = if mx_host {
        Code::MxHostUnresolved
    } else {
        Code::NoAddressForFamily
    };
    Finding {
        host: pr.host.clone(),
        port: Some(pr.port),
        ..host_wide(
            report,
            code,
            Severity::Error,
            Facts::Dns(evidence(report, DnsOutcome::NoRecords)),
        )
    }
}
