//! Wording tests over the diagnosis table: the verdict's finding carries the words a person needs, and fixes only where they apply.

use super::*;
use crate::diagnosis::{diagnose, tests::cases};

#[test]
fn verdict_findings_carry_their_words() {
    let mut failures = Vec::new();
    for case in cases() {
        let e = explain(&case.report, &diagnose(&case.report));
        let Some(f) = e.findings.iter().find(|f| Some(f.code) == e.verdict.code) else {
            if !case.mentions.is_empty() {
                failures.push(format!("{}: no verdict finding", case.name));
            }
            continue;
        };
        let text = format!("{} {} {}", f.message, f.remedy, f.evidence.join(" "));
        let missing: Vec<&&str> = case
            .mentions
            .iter()
            .filter(|m| !text.contains(**m))
            .collect();
        if !missing.is_empty() {
            failures.push(format!("{}: missing {missing:?} in {text:?}", case.name));
        }
        if e.verdict.summary != f.message {
            failures.push(format!(
                "{}: summary is not the verdict's message",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_finding_has_words_and_no_debug_text() {
    for case in cases() {
        let e = explain(&case.report, &diagnose(&case.report));
        for f in &e.findings {
            assert!(
                !f.message.is_empty() && !f.remedy.is_empty(),
                "{}: {f:?}",
                case.name
            );
            for text in std::iter::once(&f.message).chain(&f.evidence) {
                for debug in ["TimedOut", "TimeExceeded", "Some(", "None", "Refused,"] {
                    assert!(
                        !text.contains(debug),
                        "{}: Debug text in {text:?}",
                        case.name
                    );
                }
            }
        }
    }
}

#[test]
fn commands_only_where_the_fix_is_on_this_host() {
    for case in cases() {
        let e = explain(&case.report, &diagnose(&case.report));
        for f in &e.findings {
            let here = matches!(f.layer, Layer::Firewall | Layer::LocalMta | Layer::Ipv6);
            assert!(
                f.commands.is_empty() || here,
                "{}: commands for a fix elsewhere: {f:?}",
                case.name
            );
        }
    }
}

/// An IPv4 failure caused by this host's firewall carries the firewall's fix, not a general "fix IPv4".
#[test]
fn a_family_warning_carries_the_fix_of_its_cause() {
    use crate::diagnosis::{ConnectEvidence, Facts, FamilyEvidence, Finding};
    use crate::report::{ConnectFacts, ConnectOutcome, FirewallRule, Report, RuleAction};
    let rule = FirewallRule {
        source: "iptables".into(),
        table: "filter".into(),
        chain: "OUTPUT".into(),
        v6: false,
        action: RuleAction::Drop,
        text: "-A OUTPUT -p tcp -m tcp --dport 587 -j DROP".into(),
        comment: None,
        manager: crate::report::Manager::Iptables,
        via: Vec::new(),
        origin: None,
    };
    let cause = |code: Code, rules: Vec<FirewallRule>| Finding {
        code,
        severity: Severity::Error,
        confidence: Confidence::High,
        host: "mail.example.com".into(),
        port: Some(587),
        address: "203.0.113.10".parse().ok(),
        facts: Facts::Connect(Box::new(ConnectEvidence {
            connect: ConnectFacts {
                outcome: ConnectOutcome::TimedOut,
                errno: None,
                elapsed_ms: 2000.0,
                local_port: None,
                icmp: None,
                cut_short: false,
                answered_here: false,
            },
            hops: Vec::new(),
            control: Vec::new(),
            other_port_works: true,
            rules,
            router: None,
            path: None,
        })),
        others: Vec::new(),
        other_addresses_work: false,
    };
    let family = |failure: Finding| Finding {
        code: Code::Ipv4Broken,
        severity: Severity::Warning,
        port: None,
        address: None,
        facts: Facts::Family(Box::new(FamilyEvidence {
            v6: false,
            ports: vec![587],
            failures: vec![failure.clone()],
        })),
        ..failure
    };
    let report: Report = crate::diagnosis::tests::cases()
        .into_iter()
        .next()
        .map(|c| c.report)
        .expect("a case");
    let fw = word(&report, &family(cause(Code::FirewallDrop, vec![rule])));
    assert_eq!(
        fw.commands,
        vec![
            "iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT",
            "netfilter-persistent save"
        ]
    );
    assert!(!fw.remedy.contains("route"), "{}", fw.remedy);
    let beyond = word(&report, &family(cause(Code::IspDrop, Vec::new())));
    assert!(beyond.commands.is_empty());
    // The drop is beyond this host: nothing tells the user to fix this host.
    assert!(
        beyond.remedy.contains("lost beyond it"),
        "{}",
        beyond.remedy
    );
    assert!(!beyond.remedy.contains("firewall"), "{}", beyond.remedy);
}

/// Every settings problem, read from a real file: its words name the key and line, and the remedy the line to write.
#[test]
fn settings_findings_name_the_key_the_line_and_the_fix() {
    use crate::diagnosis::{diagnose, Facts};
    use crate::plan::env_file::from_bytes;
    let files: &[&str] = &[
        "MAIL_MAILER=smtp\nMAIL_HOST=smtp://smtp.example.com\nMAIL_PORT=587\nMAIL_USERNAME=u\nMAIL_PASSWORD=Pw-Secret-1\n",
        "MAIL_MAILER=smtp\nMAIL_HOST=smtp.example.com\nMAIL_PORT=58x\n",
        "MAIL_MAILER=smtp\nMAIL_HOST=smtp.example.com\nMAIL_PORT=587\nMAIL_ENCRYPTION=ssl\n",
        "MAIL_MAILER=smtp\nMAIL_HOST=smtp.example.com\nMAIL_PORT=465\nMAIL_ENCRYPTION=tls\n",
        "SMTP_HOST=smtp.example.com\nSMTP_PORT=587\nSMTP_SECURE=true\nSMTP_USER=u\nSMTP_PASS=Pw-Secret-1\n",
        "SMTP_HOST=smtp.example.com\nSMTP_PORT=465\nSMTP_SECURE=false\n",
        "SMTP_HOST=smtp.example.com\nSMTP_PORT=587\nSMTP_SECURE=perhaps\n",
        "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\nEMAIL_USE_SSL=True\n",
        "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\nEMAIL_HOST_USER=u\nEMAIL_HOST_PASSWORD=Pw-Secret-1\n",
        "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=465\nEMAIL_USE_SSL=True\nEMAIL_HOST_USER=u\nEMAIL_HOST_PASSWORD='Pw-Secret-1\n",
        "EMAIL_HOST=smtp.example.com\nEMAIL_PASSWORD=Pw-Secret-1\n",
        "MAIL_MAILER=log\nMAIL_HOST=smtp.example.com\nMAIL_FROM_ADDRESS=\"not an address\"\n",
        "MAIL_HOST=smtp.example.com\n",
        "MAILER_DSN=smtps://u:Pw-Secret-1@smtp.example.com:587\n",
        "MAILER_DSN=sendmail://default\n",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for text in files {
        let loaded = match from_bytes(std::path::Path::new(".env"), text.as_bytes(), &|_| None) {
            Ok(l) => l,
            Err(e) => panic!("{text:?}: {e}"),
        };
        let mut report = crate::diagnosis::tests::cases()
            .into_iter()
            .next()
            .map(|c| c.report)
            .expect("a case");
        report.ports.clear();
        report.settings = Some(loaded.facts.clone());
        let d = diagnose(&report);
        let e = explain(&report, &d);
        assert_eq!(d.findings.len(), loaded.facts.problems.len(), "{text:?}");
        for (f, found) in e.findings.iter().zip(&d.findings) {
            let Facts::Settings(ev) = &found.facts else {
                panic!("{text:?}: {found:?}");
            };
            let p = &ev.problem;
            seen.insert(f.code);
            let all = format!("{} {} {}", f.message, f.remedy, f.evidence.join(" "));
            if all.contains("Pw-Secret") {
                failures.push(format!("{text:?}: the password in {all}"));
            }
            let first = &p.keys[0];
            if !f.message.contains(&first.key) {
                failures.push(format!("{text:?}: {} not in {:?}", first.key, f.message));
            }
            if let Some(line) = first.line {
                if !all.contains(&format!(".env:{line}")) {
                    failures.push(format!("{text:?}: line {line} not in {all:?}"));
                }
            }
            for fix in &p.fix {
                if !f.remedy.contains(&fix.text) {
                    failures.push(format!("{text:?}: fix {} not in {:?}", fix.text, f.remedy));
                }
            }
            if f.message.is_empty() || f.remedy.is_empty() || all.contains("Some(") {
                failures.push(format!("{text:?}: {f:?}"));
            }
        }
    }
    // The local host: decided from the probe, worded from the settings.
    let local = crate::diagnosis::tests::cases()
        .into_iter()
        .find(|c| c.name.contains("host is this machine"))
        .map(|c| c.report)
        .expect("the local case");
    let e = explain(&local, &diagnose(&local));
    seen.extend(e.findings.iter().map(|f| f.code));
    let kinds_missing: Vec<&Code> = Code::ALL
        .iter()
        .filter(|c| c.name().starts_with("env_") && !seen.contains(c))
        .collect();
    assert!(kinds_missing.is_empty(), "no file yields {kinds_missing:?}");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
