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
