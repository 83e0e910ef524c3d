//! A run a signal stopped: one finding naming what was still running, which decides the verdict only when no finished stage did.

use crate::report::{DnsOutcome, Report, Signal, StageName, StageStatus};

use super::{Code, Confidence, Facts, Finding, InterruptedEvidence, Running, Severity};

/// The `interrupted` finding of a report a signal cut short; None for a run that finished.
///
/// It is an error of no layer: the run cannot say every path works, and it blames nothing for a stage whose
/// outcome it never saw. It sorts after every finding of a layer, so a failure a finished stage proved
/// (a refused port beside one still waiting) stays the verdict.
pub(super) fn decide(report: &Report) -> Option<Finding> {
    let signal = report.interrupted?;
    let d = &report.dns;
    // The target's lookups are cut together: one entry says it.
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
    Some(finding(&report.target, signal, running, false))
}

/// The `interrupted` finding of an `mta` run cut while the MTA itself was read: none of its facts are known.
pub(super) fn reading_mta(signal: Signal) -> Finding {
    finding("this host", signal, Vec::new(), true)
}

/// The one finding of a cut run: an error of no layer.
fn finding(host: &str, signal: Signal, running: Vec<Running>, reading_mta: bool) -> Finding {
    Finding {
        code: Code::Interrupted,
        severity: Severity::Error,
        confidence: Confidence::High,
        host: host.to_string(),
        port: None,
        address: None,
        facts: Facts::Interrupted(Box::new(InterruptedEvidence {
            signal,
            running,
            reading_mta,
        })),
        others: Vec::new(),
        other_addresses_work: false,
    }
}

/// The target's own lookups were cut: its ports have no address because of the signal, not because of DNS.
pub(super) fn dns_cut(report: &Report) -> bool {
    let d = &report.dns;
    [&d.a, &d.aaaa]
        .iter()
        .any(|l| l.outcome == DnsOutcome::Interrupted)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{healthy, port, report};
    use super::super::{diagnose, Code, Layer};
    use crate::report::{
        Attempt, CertProblem, ConnectOutcome, DnsLookup, DnsOutcome, PortMode, Report, Signal,
        Stage, StageName, StageStatus,
    };

    const V4: &str = "203.0.113.10";
    const V6: &str = "2001:db8:2::10";

    fn stage(name: StageName, status: StageStatus) -> Stage {
        Stage {
            name,
            status,
            elapsed_ms: 900.0,
            detail: String::new(),
        }
    }

    /// A chain stopped while `at` ran: the facts of `at` and of every later stage are gone.
    fn cut(addr: &str, mode: PortMode, at: StageName) -> Attempt {
        let mut a = healthy(addr, mode, false);
        let order = [
            StageName::Connect,
            StageName::Greeting,
            StageName::Ehlo,
            StageName::Tls,
            StageName::EhloTls,
        ];
        let reached = order.iter().position(|&s| s == at).unwrap_or(0);
        if reached == 0 {
            a.connect.outcome = ConnectOutcome::NotTried;
        }
        if reached <= 1 {
            a.greeting = None;
        }
        if reached <= 2 {
            a.ehlo = None;
        }
        if reached <= 3 {
            a.tls = None;
        }
        a.ehlo_tls = None;
        a.stages = order[..reached]
            .iter()
            .map(|&s| stage(s, StageStatus::Ok))
            .chain([stage(at, StageStatus::Interrupted)])
            .collect();
        a
    }

    fn stopped(mut r: Report) -> Report {
        r.interrupted = Some(Signal::Sigint);
        r
    }

    fn dns_cut(mut r: Report) -> Report {
        let waiting = DnsLookup {
            outcome: DnsOutcome::Interrupted,
            records: Vec::new(),
            elapsed_ms: 800.0,
        };
        r.dns.a = waiting.clone();
        r.dns.aaaa = waiting.clone();
        r.dns.mx_lookup = waiting;
        r.dns.mx.clear();
        r
    }

    /// Name, report, ok, the verdict's code, and each port's (ok, layer).
    type Row = (&'static str, Report, bool, Option<Code>, Vec<(bool, Layer)>);

    #[test]
    fn a_signal_decides_no_layer_and_a_finished_failure_still_does() {
        let s = PortMode::Starttls;
        let mut bad_cert = cut(V4, s, StageName::EhloTls);
        if let Some(t) = bad_cert.tls.as_mut() {
            t.chain_verified = false;
            t.chain_error = Some(CertProblem::Expired);
        }
        let mut refused = Attempt::new(V4.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()));
        refused.connect.outcome = ConnectOutcome::Refused;
        refused.connect.errno = Some(111);
        refused.stages = vec![stage(StageName::Connect, StageStatus::Failed)];
        let mut refused_v6 = refused.clone();
        refused_v6.address = V6.parse().unwrap_or(refused.address);
        let cases: Vec<Row> = vec![
            (
                "greeting still awaited: not greeting_silent",
                stopped(report(
                    "mail.example.com",
                    vec![port(587, vec![cut(V4, s, StageName::Greeting)])],
                )),
                false,
                Some(Code::Interrupted),
                vec![(false, Layer::None)],
            ),
            (
                "connect still under way: not connect_timeout",
                stopped(report(
                    "mail.example.com",
                    vec![port(587, vec![cut(V4, s, StageName::Connect)])],
                )),
                false,
                Some(Code::Interrupted),
                vec![(false, Layer::None)],
            ),
            (
                "a refused port beside one still waiting: the refusal is certain",
                stopped(report(
                    "mail.example.com",
                    vec![
                        port(25, vec![refused]),
                        port(587, vec![cut(V4, s, StageName::Greeting)]),
                    ],
                )),
                false,
                Some(Code::PortClosed),
                vec![(false, Layer::Server), (false, Layer::None)],
            ),
            (
                "an expired certificate seen before EHLO after TLS was cut",
                stopped(report("mail.example.com", vec![port(587, vec![bad_cert])])),
                false,
                Some(Code::CertExpired),
                vec![(false, Layer::Tls)],
            ),
            (
                "IPv4 works, IPv6 still connecting: the port works, the run is not done",
                stopped(report(
                    "mail.example.com",
                    vec![port(
                        587,
                        vec![healthy(V4, s, false), cut(V6, s, StageName::Connect)],
                    )],
                )),
                false,
                Some(Code::Interrupted),
                vec![(true, Layer::None)],
            ),
            (
                "IPv6 refused, IPv4 still waiting: the refusal is a warning of its address",
                stopped(report(
                    "mail.example.com",
                    vec![port(
                        587,
                        vec![cut(V4, s, StageName::Greeting), refused_v6.clone()],
                    )],
                )),
                false,
                Some(Code::Interrupted),
                vec![(false, Layer::None)],
            ),
            (
                "the lookups were cut: no DNS verdict, no address-less port blamed",
                stopped(dns_cut(report(
                    "mail.example.com",
                    vec![port(587, Vec::new())],
                ))),
                false,
                Some(Code::Interrupted),
                vec![(false, Layer::None)],
            ),
        ];
        let mut failures = Vec::new();
        for (name, r, ok, code, ports) in cases {
            let d = diagnose(&r);
            let got: Vec<(bool, Layer)> = d.ports.iter().map(|p| (p.ok, p.layer)).collect();
            let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
            if d.ok != ok || d.verdict.code != code || got != ports {
                failures.push(format!(
                    "{name}: ok {} verdict {:?} ports {got:?} findings {codes:?}",
                    d.ok, d.verdict.code
                ));
            }
            if !codes.contains(&Code::Interrupted) {
                failures.push(format!("{name}: no interrupted finding in {codes:?}"));
            }
            let guessed = [
                Code::GreetingSilent,
                Code::ConnectTimeout,
                Code::ConnectFailed,
                Code::EhloNoAnswer,
                Code::ResolverDead,
                Code::NoAddressForFamily,
            ];
            if let Some(g) = codes.iter().find(|c| guessed.contains(c)) {
                failures.push(format!("{name}: {g:?} guessed from a cut stage"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn the_finding_names_what_was_running_and_a_whole_run_has_none() {
        let r = stopped(report(
            "mail.example.com",
            vec![port(
                587,
                vec![cut(V4, PortMode::Starttls, StageName::Greeting)],
            )],
        ));
        let e = crate::explain::explain(&r, &diagnose(&r));
        let f = e.findings.iter().find(|f| f.code == Code::Interrupted);
        let said = f.map(|f| format!("{} {}", f.message, f.evidence.join(" ")));
        assert!(
            said.as_deref().is_some_and(|s| s.contains("SIGINT")
                && s.contains("the greeting on 203.0.113.10:587")
                && s.contains("0.9 s")),
            "{said:?}"
        );
        assert_eq!(e.verdict.layer, Layer::None);
        let mut whole = r.clone();
        whole.interrupted = None;
        whole.ports[0].attempts[0] = healthy(V4, PortMode::Starttls, false);
        let d = diagnose(&whole);
        assert!(d.ok, "{:?}", d.findings);
        assert!(d.findings.iter().all(|f| f.code != Code::Interrupted));
    }
}
