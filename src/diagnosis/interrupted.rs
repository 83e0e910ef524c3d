//! A run a signal stopped: one finding naming what was still running, which decides the verdict only when no finished stage did.

use crate::report::{DnsOutcome, Report, StageName, StageStatus};

use super::{Code, Confidence, Facts, Finding, InterruptedEvidence, Running, Severity};

/// The `interrupted` finding of a report a signal cut short; None for a run that finished.
///
/// It is an error of no layer: the run cannot say every path works, and it blames nothing for a stage whose
/// outcome it never saw. It sorts after every finding of a layer, so a failure a finished stage proved
/// (a refused port beside one still waiting) stays the verdict.
pub(super) fn decide(report: &Report) -> Option<Finding> {
    let signal = report.interrupted?;
    let d = &report.dns;
    let mut running: Vec<Running> = [&d.a, &d.aaaa, &d.mx_lookup]
        .into_iter()
        .filter(|l| l.outcome == DnsOutcome::Interrupted)
        .map(|l| Running {
            host: report.target.clone(),
            port: None,
            address: None,
            stage: StageName::Dns,
            elapsed_ms: l.elapsed_ms,
        })
        .take(1)
        .collect();
    for p in &report.ports {
        for a in &p.attempts {
            for s in a
                .stages
                .iter()
                .filter(|s| s.status == StageStatus::Interrupted)
            {
                running.push(Running {
                    host: p.host.clone(),
                    port: Some(p.port),
                    address: Some(a.address),
                    stage: s.name,
                    elapsed_ms: s.elapsed_ms,
                });
            }
        }
    }
    Some(Finding {
        code: Code::Interrupted,
        severity: Severity::Error,
        confidence: Confidence::High,
        host: report.target.clone(),
        port: None,
        address: None,
        facts: Facts::Interrupted(Box::new(InterruptedEvidence { signal, running })),
        others: Vec::new(),
        other_addresses_work: false,
    })
}

/// The target's own lookups were cut: its ports have no address because of the signal, not because of DNS.
pub(super) fn dns_cut(report: &Report) -> bool {
    let d = &report.dns;
    [&d.a, &d.aaaa]
        .iter()
        .any(|l| l.outcome == DnsOutcome::Interrupted)
}
