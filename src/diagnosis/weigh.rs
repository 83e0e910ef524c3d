//! Weighs the attempts: one layer per port, families that fail as a whole, the order of findings and the verdict.

use crate::report::{Attempt, ConnectOutcome, PortReport, Report};

use super::attempt::{call_attempt, AttemptCall};
use super::{
    dns, interrupted, settings, Code, Diagnosis, Facts, FamilyEvidence, Finding, Layer,
    PortVerdict, Severity, Verdict,
};

pub(super) fn diagnose(report: &Report) -> Diagnosis {
    let (mut findings, dns_failed) = dns::decide(report);
    let mut ports = Vec::new();
    let mut family_trouble: Vec<(bool, u16, Option<Finding>)> = Vec::new();
    for pr in &report.ports {
        let calls: Vec<AttemptCall> = pr
            .attempts
            .iter()
            .map(|a| call_attempt(report, pr, a))
            .collect();
        let weighed = weigh_port(report, pr, &calls, dns_failed);
        findings.extend(weighed.findings);
        if let Some(t) = weighed.family {
            family_trouble.push(t);
        }
        ports.push(weighed.verdict);
    }
    findings.extend(family_findings(report, family_trouble));
    findings.extend(settings::decide(report));
    findings.extend(interrupted::decide(report));
    // Within a layer what the probe saw comes before what the settings predict: "wrong version number" seen on
    // the wire decides the verdict, and the setting that causes it follows as its explanation.
    let from_settings = |f: &Finding| matches!(f.facts, Facts::Settings(_));
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.layer().rank().cmp(&b.layer().rank()))
            .then(from_settings(a).cmp(&from_settings(b)))
            .then(a.port.cmp(&b.port))
    });
    let ok = !findings.iter().any(|f| f.severity == Severity::Error);
    let verdict = Verdict {
        code: findings
            .iter()
            .find(|f| f.severity != Severity::Info)
            .map(|f| f.code),
    };
    Diagnosis {
        ok,
        verdict,
        ports,
        findings,
    }
}

struct Weighed {
    verdict: PortVerdict,
    findings: Vec<Finding>,
    /// This port fails on one whole family while the other works: (v6, port, the telling failure).
    family: Option<(bool, u16, Option<Finding>)>,
}

fn weigh_port(
    report: &Report,
    pr: &PortReport,
    calls: &[AttemptCall],
    dns_failed: bool,
) -> Weighed {
    // An attempt a signal stopped before anything failed is neither: it counts for nothing either way.
    let ok_idx: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].error().is_none() && !calls[i].undecided())
        .collect();
    let bad_idx: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].error().is_some())
        .collect();
    let attempt_layers: Vec<Layer> = calls
        .iter()
        .map(|c| c.error().map_or(Layer::None, Finding::layer))
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    for note in ok_idx.iter().flat_map(|&i| calls[i].notes.iter().cloned()) {
        // Owner rules treat the port alike on every address: one warning, the other addresses beside it.
        let owner = matches!(
            note.code,
            Code::OwnerRuleBlocksOthers | Code::OwnerRuleRedirectsOthers
        );
        match findings.iter_mut().find(|f| owner && f.code == note.code) {
            Some(first) => first.others.push(note),
            None => findings.push(note),
        }
    }
    let verdict = |ok: bool, layer: Layer, shown: Option<usize>| PortVerdict {
        host: pr.host.clone(),
        port: pr.port,
        ok,
        layer,
        shown_attempt: shown,
        attempt_layers: attempt_layers.clone(),
    };
    if pr.attempts.is_empty() && pr.host == report.target && interrupted::dns_cut(report) {
        // No address because the signal cut the lookup: nothing to say of this port.
        return Weighed {
            verdict: verdict(false, Layer::None, None),
            findings,
            family: None,
        };
    }
    if pr.attempts.is_empty() {
        // The target's own failed lookup is already a finding; an MX host that does not resolve needs its own.
        if !dns_failed || pr.host != report.target {
            findings.push(dns::unresolved_port(report, pr));
        }
        let verdict = verdict(false, Layer::Dns, None);
        return Weighed {
            verdict,
            findings,
            family: None,
        };
    }
    if bad_idx.is_empty() {
        // Every address was stopped before it could work or fail: the port is not known to work.
        let verdict = match ok_idx.first() {
            Some(&first) => verdict(true, Layer::None, Some(first)),
            None => verdict(false, Layer::None, Some(0)),
        };
        return Weighed {
            verdict,
            findings,
            family: None,
        };
    }
    let best = pick_failure(pr, calls, &bad_idx);
    if ok_idx.is_empty() && calls.iter().any(|c| c.undecided()) {
        // Some addresses failed while a signal stopped another: that one might have worked (these would then be
        // warnings), so the failures stay facts of their addresses, as warnings, and the port is undecided.
        findings.extend(
            all_addresses_fail(calls, &bad_idx, best)
                .into_iter()
                .map(|f| Finding {
                    severity: f.severity.max(Severity::Warning),
                    ..f
                }),
        );
        return Weighed {
            verdict: verdict(false, Layer::None, Some(best)),
            findings,
            family: None,
        };
    }
    if ok_idx.is_empty() {
        let layer = attempt_layers[best];
        findings.extend(all_addresses_fail(calls, &bad_idx, best));
        return Weighed {
            verdict: verdict(false, layer, Some(best)),
            findings,
            family: None,
        };
    }
    // Some addresses work and some fail: the port works for a client that falls back, so these are warnings.
    let failing: Vec<&Attempt> = bad_idx.iter().map(|&i| &pr.attempts[i]).collect();
    let working: Vec<&Attempt> = ok_idx.iter().map(|&i| &pr.attempts[i]).collect();
    let fails_v6 = failing.iter().all(|a| a.address.is_ipv6());
    let family = if one_family_fails(&failing, &working) {
        Some((fails_v6, pr.port, calls[best].error().cloned()))
    } else {
        for &i in &bad_idx {
            findings.extend(calls[i].errors.iter().map(|f| Finding {
                severity: Severity::Warning,
                other_addresses_work: true,
                ..f.clone()
            }));
        }
        None
    };
    Weighed {
        verdict: verdict(true, Layer::None, Some(ok_idx[0])),
        findings,
        family,
    }
}

/// Every address fails: the attempt that got furthest tells the most, the others ride along with its first error.
fn all_addresses_fail(calls: &[AttemptCall], bad: &[usize], best: usize) -> Vec<Finding> {
    let mut out = calls[best].errors.clone();
    if let Some(first) = out.first_mut() {
        first.others = bad
            .iter()
            .filter(|&&i| i != best)
            .filter_map(|&i| calls[i].error().cloned())
            .collect();
    }
    out.extend(calls[best].notes.iter().cloned());
    out
}

/// Every failing address is of one family, and every working one of the other.
fn one_family_fails(failing: &[&Attempt], working: &[&Attempt]) -> bool {
    let v6 = failing.iter().all(|a| a.address.is_ipv6());
    let v4 = failing.iter().all(|a| a.address.is_ipv4());
    (v6 || v4)
        && !working.iter().any(|a| a.address.is_ipv6() == v6)
        && working.iter().any(|a| a.address.is_ipv6() != v6)
}

/// One finding per broken family, naming the ports, instead of one per port.
fn family_findings(report: &Report, trouble: Vec<(bool, u16, Option<Finding>)>) -> Vec<Finding> {
    let mut out = Vec::new();
    for v6 in [true, false] {
        let mine: Vec<&(bool, u16, Option<Finding>)> =
            trouble.iter().filter(|t| t.0 == v6).collect();
        if mine.is_empty() {
            continue;
        }
        let ev = FamilyEvidence {
            v6,
            ports: mine.iter().map(|t| t.1).collect(),
            failures: mine.iter().filter_map(|t| t.2.clone()).collect(),
        };
        out.push(Finding {
            code: if v6 {
                super::Code::Ipv6Broken
            } else {
                super::Code::Ipv4Broken
            },
            severity: Severity::Warning,
            confidence: super::Confidence::High,
            host: report.target.clone(),
            port: None,
            address: None,
            facts: Facts::Family(Box::new(ev)),
            others: Vec::new(),
            other_addresses_work: false,
        });
    }
    out
}

fn pick_failure(pr: &PortReport, calls: &[AttemptCall], bad: &[usize]) -> usize {
    let score = |j: usize| {
        let a = &pr.attempts[j];
        let family_only = matches!(
            a.connect.outcome,
            ConnectOutcome::NoLocalAddress | ConnectOutcome::NetworkUnreachable
        );
        (calls[j].progress, !family_only, a.address.is_ipv4())
    };
    let mut best = bad[0];
    for &i in bad {
        if score(i) > score(best) {
            best = i;
        }
    }
    best
}
