//! Plugin output held to the guidelines by a strict reader (tests/common/plugin.rs): every diagnosis case, the thresholds, UNKNOWN.

use std::net::IpAddr;

use super::*;
use crate::diagnosis::tests::cases;
use crate::diagnosis::{diagnose, Confidence, Layer, PortVerdict};
use crate::explain::explain;
use crate::report::{Stage, StageName};

#[path = "../../../tests/common/plugin.rs"]
mod plugin;

/// The thresholds with no flag given: the certificate warning at the diagnosis's 14 days, nothing else.
fn defaults() -> Thresholds {
    Thresholds {
        warning: None,
        critical: None,
        cert_warning: Some(Range::at_least(f64::from(
            crate::diagnosis::EXPIRY_WARNING_DAYS,
        ))),
        cert_critical: None,
    }
}

fn range(text: &str) -> Option<Range> {
    Some(Range::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
}

/// The plugin's stdout and exit status for a report, read back strictly.
fn run(report: &Report, e: &Explained, t: Thresholds) -> (String, plugin::PluginOutput) {
    let mut out = Vec::new();
    let written = write(&mut out, report, e, t);
    assert!(written.is_ok(), "{written:?}");
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = i32::from(exit_status(report, e, t));
    let parsed = plugin::parse("SMTP", &text, code)
        .unwrap_or_else(|why| panic!("{why}\n--- output (exit {code}):\n{text}"));
    (text, parsed)
}

fn diagnosed(report: &Report) -> Explained {
    explain(report, &diagnose(report))
}

/// A healthy report whose first port shows timed stages.
fn healthy_with_stages() -> Report {
    let mut r = cases()
        .into_iter()
        .find(|c| c.name == "healthy on all three ports")
        .map(|c| c.report)
        .unwrap_or_else(|| panic!("the healthy case is gone"));
    for p in &mut r.ports {
        for a in &mut p.attempts {
            for (name, ms) in [
                (StageName::Connect, 12.0),
                (StageName::Greeting, 30.5),
                (StageName::Ehlo, 1.25),
                (StageName::Tls, 20.0),
                (StageName::EhloTls, 1.0),
                (StageName::Quit, 0.5),
            ] {
                a.stages.push(Stage {
                    name,
                    status: StageStatus::Ok,
                    elapsed_ms: ms,
                    detail: String::new(),
                });
            }
            a.stages.push(Stage {
                name: StageName::Auth,
                status: StageStatus::Skipped,
                elapsed_ms: 0.0,
                detail: "no --user".into(),
            });
        }
    }
    r
}

/// The closed label set: the total, the lookups, the certificate, and `<port>_<stage>`.
fn label_is_known(label: &str) -> bool {
    const STAGES: [&str; 11] = [
        "dns",
        "connect",
        "greeting",
        "ehlo",
        "tls",
        "ehlo_tls",
        "auth",
        "mail_from",
        "rcpt_to",
        "data",
        "quit",
    ];
    if ["time", "dns", "cert_days"].contains(&label) {
        return true;
    }
    match label.split_once('_') {
        Some((port, stage)) => port.parse::<u16>().is_ok() && STAGES.contains(&stage),
        None => false,
    }
}

#[test]
fn every_diagnosis_case_is_a_well_formed_plugin_run() {
    for case in cases() {
        let e = diagnosed(&case.report);
        let (text, p) = run(&case.report, &e, defaults());
        let ctx = format!("{}:\n{text}", case.name);
        // CRITICAL exactly when an error finding exists, which is when the JSON's ok is false.
        assert_eq!(p.state == "CRITICAL", !e.ok, "{ctx}");
        let warnings = e
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.code != Code::CertExpiresSoon);
        let cert_days = p.perf("cert_days").and_then(|c| c.value);
        if e.ok {
            let cert_warns = cert_days.is_some_and(|d| d < 14.0);
            let want = if warnings || cert_warns {
                "WARNING"
            } else {
                "OK"
            };
            assert_eq!(p.state, want, "{ctx}");
        }
        // Whatever alerts names its layer and code first; the verdict's code when it is an error.
        if p.state == "CRITICAL" {
            let code = e.verdict.code.unwrap_or_else(|| panic!("{ctx}"));
            let head = format!("{}/{}: ", code.layer().name(), code.name());
            assert!(p.text.starts_with(&head), "{head} {ctx}");
        } else if p.state == "WARNING" {
            let named = e.findings.iter().any(|f| {
                p.text
                    .starts_with(&format!("{}/{}: ", f.layer.name(), f.code.name()))
            }) || p.text.starts_with("tls/cert_expires_soon: ");
            assert!(named, "{ctx}");
        } else {
            assert!(!p.text.contains('/') || p.text.contains(':'), "{ctx}");
        }
        // The perfdata: the total in seconds from 0, labels from the closed set, stage times as measured.
        let time = p.perf("time").unwrap_or_else(|| panic!("no time: {ctx}"));
        assert_eq!((time.uom.as_str(), time.min), ("s", Some(0.0)), "{ctx}");
        assert_eq!(time.value, Some(case.report.elapsed_ms / 1000.0), "{ctx}");
        for item in &p.perfdata {
            assert!(label_is_known(&item.label), "label {:?}: {ctx}", item.label);
        }
        // One line per finding (and its remedy) follows, none of them empty.
        let lines = p.long.iter().filter(|l| l.starts_with('[')).count();
        assert_eq!(lines, e.findings.len(), "{ctx}");
        println!("{:<62} {}", case.name, text.lines().next().unwrap_or(""));
    }
}

#[test]
fn dns_failures_and_timeouts_are_critical_not_unknown() {
    for case in cases() {
        let e = diagnosed(&case.report);
        let (_, p) = run(&case.report, &e, defaults());
        let dns_or_timeout = e.findings.iter().any(|f| {
            f.severity == Severity::Error
                && (f.layer == Layer::Dns
                    || matches!(
                        f.code,
                        Code::ConnectTimeout
                            | Code::GreetingSilent
                            | Code::IspDrop
                            | Code::FirewallDrop
                    ))
        });
        if dns_or_timeout {
            assert_eq!(p.state, "CRITICAL", "{}", case.name);
        }
        assert_ne!(p.state, "UNKNOWN", "{}", case.name);
    }
}

#[test]
fn stage_times_become_perfdata_per_port() {
    let r = healthy_with_stages();
    let e = diagnosed(&r);
    let (text, p) = run(&r, &e, defaults());
    assert_eq!(p.state, "OK", "{text}");
    assert!(p.text.contains("every probed path works"), "{text}");
    for port in [25, 465, 587] {
        for (stage, secs) in [
            ("connect", 0.012),
            ("greeting", 0.0305),
            ("ehlo", 0.00125),
            ("tls", 0.02),
            ("ehlo_tls", 0.001),
            ("quit", 0.0005),
        ] {
            let label = format!("{port}_{stage}");
            let item = p
                .perf(&label)
                .unwrap_or_else(|| panic!("no {label}: {text}"));
            assert_eq!(
                (item.value, item.uom.as_str(), item.min),
                (Some(secs), "s", Some(0.0)),
                "{label}"
            );
        }
        // A stage that did not run has no time to show.
        assert!(p.perf(&format!("{port}_auth")).is_none(), "{text}");
    }
    assert_eq!(p.perf("dns").and_then(|d| d.value), Some(0.003), "{text}");
    let cert = p.perf("cert_days").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        (
            cert.value,
            cert.uom.as_str(),
            cert.warn.as_str(),
            cert.crit.as_str()
        ),
        (Some(200.0), "", "14:", "")
    );
    // check_smtp's own spelling of the total: `time=0.123000s;;;0.000000`.
    assert!(text.contains("'time'=0.100000s;;;0.000000"), "{text}");
}

#[test]
fn the_total_time_is_judged_by_warning_and_critical() {
    let r = healthy_with_stages();
    let e = diagnosed(&r);
    // elapsed_ms is 100: 0.1 s.
    for (warning, critical, state, said) in [
        (None, None, "OK", "every probed path works"),
        (Some("1"), Some("2"), "OK", "every probed path works"),
        (
            Some("0.05"),
            None,
            "WARNING",
            "total time 0.100 s alerts on --warning 0.05",
        ),
        (
            Some("0.05"),
            Some("0.08"),
            "CRITICAL",
            "total time 0.100 s alerts on --critical 0.08",
        ),
        (Some("@0:1"), None, "WARNING", "alerts on --warning @1"),
        (None, Some("0.2:"), "CRITICAL", "alerts on --critical 0.2:"),
        (Some("~:0.1"), None, "OK", "every probed path works"),
        (
            Some("0.1"),
            Some("0.1:0.1"),
            "OK",
            "every probed path works",
        ),
    ] {
        let t = Thresholds {
            warning: warning.and_then(range),
            critical: critical.and_then(range),
            ..defaults()
        };
        let (text, p) = run(&r, &e, t);
        assert_eq!(p.state, state, "{warning:?} {critical:?}: {text}");
        assert!(p.text.contains(said), "{said}: {text}");
        let time = p.perf("time").unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            time.warn,
            warning
                .and_then(range)
                .map(|r| r.to_string())
                .unwrap_or_default()
        );
        assert_eq!(
            time.crit,
            critical
                .and_then(range)
                .map(|r| r.to_string())
                .unwrap_or_default()
        );
    }
}

#[test]
fn certificate_thresholds_decide_about_a_valid_certificate() {
    let healthy = healthy_with_stages();
    let soon = cases()
        .into_iter()
        .find(|c| c.name == "certificate about to expire is a warning")
        .map(|c| c.report)
        .unwrap_or_else(|| panic!("the expiring case is gone"));
    let expired = cases()
        .into_iter()
        .find(|c| c.name == "expired certificate")
        .map(|c| c.report)
        .unwrap_or_else(|| panic!("the expired case is gone"));
    let cert = |w: Option<f64>, c: Option<f64>| Thresholds {
        cert_warning: w.map(Range::at_least),
        cert_critical: c.map(Range::at_least),
        ..defaults()
    };
    for (name, report, t, state, said) in [
        (
            "200 days, default",
            &healthy,
            defaults(),
            "OK",
            "every probed path works",
        ),
        (
            "200 days, warn 300",
            &healthy,
            cert(Some(300.0), None),
            "WARNING",
            "tls/cert_expires_soon: 200 days left, under 300: mail.example.com:25",
        ),
        (
            "200 days, crit 201",
            &healthy,
            cert(Some(300.0), Some(201.0)),
            "CRITICAL",
            "tls/cert_expires_soon: 200 days left, under 201",
        ),
        (
            "200 days, crit 200",
            &healthy,
            cert(None, Some(200.0)),
            "OK",
            "every probed path works",
        ),
        (
            "5 days, default",
            &soon,
            defaults(),
            "WARNING",
            "tls/cert_expires_soon: 5 days left",
        ),
        // The finding's fixed 14 days give way to the user's threshold.
        (
            "5 days, warn 3",
            &soon,
            cert(Some(3.0), None),
            "OK",
            "every probed path works",
        ),
        (
            "5 days, crit 7",
            &soon,
            cert(None, Some(7.0)),
            "CRITICAL",
            "5 days left, under 7",
        ),
        // Expired is an error finding: CRITICAL whatever the thresholds.
        (
            "expired, no thresholds",
            &expired,
            cert(None, None),
            "CRITICAL",
            "tls/cert_expired: ",
        ),
    ] {
        let e = diagnosed(report);
        let (text, p) = run(report, &e, t);
        assert_eq!(p.state, state, "{name}: {text}");
        assert!(
            p.text.contains(said) || p.long.first().is_some_and(|l| l.contains(said)),
            "{name}: {said}: {text}"
        );
    }
    let e = diagnosed(&expired);
    let (_, p) = run(&expired, &e, defaults());
    assert_eq!(p.perf("cert_days").and_then(|c| c.value), Some(-3.0));
}

#[test]
fn text_from_findings_cannot_break_the_format() {
    let r = healthy_with_stages();
    let mut e = diagnosed(&r);
    e.ok = false;
    e.verdict.code = Some(Code::GreetingRejected);
    e.findings.push(crate::explain::ExplainedFinding {
        code: Code::GreetingRejected,
        layer: Layer::Server,
        severity: Severity::Error,
        port: Some(25),
        address: Some(IpAddr::from([203, 0, 113, 10])),
        confidence: Confidence::High,
        message: "554 go away | 'x'=1\nSMTP OK - forged".into(),
        evidence: vec![],
        remedy: "a | b\r\nc".into(),
        commands: vec![],
    });
    let (text, p) = run(&r, &e, defaults());
    assert_eq!(p.state, "CRITICAL", "{text}");
    assert!(
        p.text
            .starts_with("server/greeting_rejected: 554 go away / 'x'=1 SMTP OK"),
        "{text}"
    );
    assert!(p.perf("x").is_none(), "{text}");
    assert!(p.long.iter().all(|l| !l.contains('|')), "{text}");
    assert_eq!(text.matches('|').count(), 1, "{text}");
    assert!(
        text.contains("[error] server/greeting_rejected 203.0.113.10:25: 554 go away"),
        "{text}"
    );
    assert!(text.contains("  fix: a / b  c"), "{text}");
}

#[test]
fn one_port_on_several_mx_hosts_keeps_its_labels_apart() {
    let mut r = healthy_with_stages();
    let mut second = r.ports[0].clone();
    second.host = "mx2.example.com".into();
    r.ports.push(second);
    let e = diagnosed(&r);
    let mut e2 = e.clone();
    if e2.ports.len() < r.ports.len() {
        e2.ports.push(PortVerdict {
            host: "mx2.example.com".into(),
            ..e.ports[0].clone()
        });
    }
    let (text, p) = run(&r, &e2, defaults());
    assert!(p.perf("mail.example.com_25_connect").is_some(), "{text}");
    assert!(p.perf("mx2.example.com_25_connect").is_some(), "{text}");
    assert!(p.perf("465_connect").is_some(), "{text}");
}

#[test]
fn unknown_says_why_on_the_first_line_and_in_full_below() {
    let reason = "--warning 'abc' is not a Nagios range: 'abc' is not a number; write [@]start:end in seconds, such as 5 (alert above 5)";
    let mut out = Vec::new();
    assert!(write_unknown(&mut out, reason).is_ok());
    let text = String::from_utf8_lossy(&out).into_owned();
    let p = plugin::parse("SMTP", &text, 3).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(p.state, "UNKNOWN");
    assert!(
        p.text.starts_with("--warning 'abc' is not a Nagios range"),
        "{text}"
    );
    assert!(p.text.ends_with("..."), "{text}");
    assert_eq!(p.long, vec![reason.to_string()]);
    assert!(p.perfdata.is_empty());
    // A short reason stands alone.
    let mut out = Vec::new();
    assert!(write_unknown(&mut out, "no runtime").is_ok());
    assert_eq!(String::from_utf8_lossy(&out), "SMTP UNKNOWN - no runtime\n");
}

#[test]
fn long_sentences_are_cut_at_a_word() {
    assert_eq!(fit("short", 10), "short");
    assert_eq!(fit("one two three four", 12), "one two...");
    assert_eq!(fit("abcdefghijklmnop", 10), "abcdefg...");
    assert_eq!(fit("été à l'hôtel près", 10), "été à...");
    for n in 3..40 {
        assert!(
            fit("word ".repeat(20).trim(), n).chars().count() <= n,
            "{n}"
        );
    }
}

#[test]
fn reads_check_smtps_own_output() {
    let out = "SMTP OK - 0.012 sec. response time|time=0.012345s;;;0.000000\n";
    let p = plugin::parse("SMTP", out, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.state, "OK");
    let t = p.perf("time").expect("time");
    assert_eq!(
        (t.value, t.uom.as_str(), t.min),
        (Some(0.012345), "s", Some(0.0))
    );
}

#[test]
fn refuses_what_breaks_the_rules() {
    for (out, exit) in [
        ("SMTP OK - fine\n", 2),
        ("SMTP FINE - fine\n", 0),
        ("HTTP OK - fine\n", 0),
        ("SMTP OK - fine", 0),
        ("SMTP OK - fine | 'a b=1s\n", 0),
        ("SMTP OK - fine | a b=1s\n", 0),
        ("SMTP OK - fine | a=1parsecs\n", 0),
        ("SMTP OK - fine | a=1s;x\n", 0),
        ("SMTP OK - fine | a=1s;;;zero\n", 0),
        ("SMTP OK - fine | a=1s;;;;;\n", 0),
        ("SMTP OK - fine | a=1 a=2\n", 0),
        ("SMTP OK - fine | a=\n", 0),
        ("SMTP OK - fine | =1\n", 0),
        (&format!("SMTP OK - {}\n", "x".repeat(80)), 0),
    ] {
        assert!(
            plugin::parse("SMTP", out, exit).is_err(),
            "{out:?} exit {exit}"
        );
    }
}

#[test]
fn reads_quoted_labels_ranges_and_long_output() {
    let out = "SMTP WARNING - slow | 'it''s a label'=1.5s;@1:2;~:3;0 'b'=U\nline 1\nline 2 | c=3c;10;20;0;100\nd=4%\n";
    let p = plugin::parse("SMTP", out, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.long, vec!["line 1", "line 2 "]);
    let a = p.perf("it's a label").expect("quoted label");
    assert_eq!((a.warn.as_str(), a.crit.as_str()), ("@1:2", "~:3"));
    assert_eq!(p.perf("b").map(|b| b.value), Some(None));
    assert_eq!(p.perf("c").and_then(|c| c.max), Some(100.0));
    assert_eq!(p.perf("d").map(|d| d.uom.as_str()), Some("%"));
}
