//! What each format shows for one hand-made failing report: the words people read and the JSON document.

use std::net::IpAddr;

use super::document::JsonReport;
use super::{exit_status, write, Format, Style};
use crate::diagnosis::{Code, Confidence, Layer, PortVerdict, Severity};
use crate::explain::{Explained, ExplainedFinding, ExplainedVerdict};
use crate::report::{
    Attempt, DnsReport, HostFacts, PortMode, PortReport, Report, Stage, StageName, StageStatus,
    TranscriptLine, UserFacts,
};

const ADDRESS: &str = "203.0.113.10";
const COMMAND: &str = "iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT";

fn address() -> IpAddr {
    ADDRESS.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn report() -> Report {
    let mut attempt = Attempt::new(address());
    attempt.stages.push(Stage {
        name: StageName::Connect,
        status: StageStatus::Failed,
        elapsed_ms: 2001.9,
        detail: "timed out".into(),
    });
    attempt.transcript.push(TranscriptLine {
        dir: "*".into(),
        text: "connect timed out".into(),
    });
    Report {
        target: "mail.example.com".into(),
        invocation: String::new(),
        host: HostFacts::default(),
        dns: DnsReport {
            resolver: "system".into(),
            ..DnsReport::not_queried()
        },
        ports: vec![PortReport {
            host: "mail.example.com".into(),
            port: 587,
            mode: PortMode::Starttls,
            attempts: vec![attempt],
        }],
        tls_verification: true,
        elapsed_ms: 2040.0,
        settings: None,
        interrupted: None,
    }
}

fn explained() -> Explained {
    Explained {
        ok: false,
        verdict: ExplainedVerdict {
            layer: Layer::Firewall,
            code: Some(Code::FirewallDrop),
            summary: "this host's firewall drops port 587".into(),
        },
        ports: vec![PortVerdict {
            host: "mail.example.com".into(),
            port: 587,
            ok: false,
            layer: Layer::Firewall,
            shown_attempt: Some(0),
            attempt_layers: vec![Layer::Firewall],
        }],
        findings: vec![ExplainedFinding {
            code: Code::FirewallDrop,
            layer: Layer::Firewall,
            severity: Severity::Error,
            port: Some(587),
            address: Some(address()),
            confidence: Confidence::High,
            message: "this host's firewall drops port 587".into(),
            evidence: vec!["SYN with TTL 1: silent".into()],
            remedy: "Allow port 587 in this host's OUTPUT chain.".into(),
            commands: vec![COMMAND.into()],
        }],
    }
}

/// The colour switch of `colored` is process-wide: renderings in parallel tests would see each other's.
static COLOUR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn written(format: Format) -> String {
    written_for(format, &report())
}

fn written_for(format: Format, report: &Report) -> String {
    let _one_at_a_time = COLOUR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Vec::new();
    let result = write(format, &mut out, report, &explained());
    assert!(result.is_ok(), "{result:?}");
    String::from_utf8_lossy(&out).into_owned()
}

/// The report of a run that --as-user switched to www-data.
fn report_as_www_data() -> Report {
    let mut r = report();
    r.host.user = UserFacts {
        name: Some("www-data".into()),
        uid: 33,
        gid: 33,
        groups: vec![33, 1001],
        as_user: true,
    };
    r
}

#[test]
fn human_says_who_probed_only_when_as_user_switched() {
    let plain = Style {
        color: false,
        verbose: false,
    };
    let line = "  probed as user www-data (uid 33, gid 33), as --as-user asked\n";
    let text = written_for(Format::Human(plain), &report_as_www_data());
    assert_eq!(text.matches(line).count(), 1, "{text}");
    // Root probing as itself is the ordinary case: no line.
    let text = written(Format::Human(plain));
    assert!(!text.contains("probed as"), "{text}");
    // Verbose adds the supplementary groups, still on one line.
    let verbose = Style {
        color: false,
        verbose: true,
    };
    let text = written_for(Format::Human(verbose), &report_as_www_data());
    assert_eq!(
        text.matches(
            "probed as user www-data (uid 33, gid 33, groups 33,1001), as --as-user asked\n"
        )
        .count(),
        1,
        "{text}"
    );
}

#[test]
fn json_names_who_probed() {
    let text = written_for(Format::Json, &report_as_www_data());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(
        value["host"]["user"],
        serde_json::json!({"name": "www-data", "uid": 33, "gid": 33, "groups": [33, 1001], "as_user": true})
    );
    let doc: Result<JsonReport, _> = serde_json::from_str(&text);
    assert_eq!(doc.ok().map(|d| d.host.user.uid), Some(33));
    // A document written before the field existed still reads (fields are only ever added).
    let mut old = value;
    if let Some(host) = old["host"].as_object_mut() {
        host.remove("user");
    }
    let doc: Result<JsonReport, _> = serde_json::from_value(old);
    assert_eq!(doc.ok().map(|d| d.host.user), Some(UserFacts::default()));
}

#[test]
fn human_names_layer_and_code_in_words() {
    let style = Style {
        color: false,
        verbose: false,
    };
    let text = written(Format::Human(style));
    assert!(
        text.contains("PROBLEM [firewall/firewall_drop] this host's firewall drops port 587"),
        "{text}"
    );
    assert!(
        text.contains("✗ firewall/firewall_drop port 587 (error, high confidence): "),
        "{text}"
    );
    let fix = text.find("    fix: Allow port 587").unwrap_or(usize::MAX);
    let command = text.find(&format!("\n      {COMMAND}\n")).unwrap_or(0);
    assert!(fix < command, "the command follows the fix:\n{text}");
    assert!(!text.contains("High") && !text.contains("Failed"), "{text}");
    assert!(
        !text.contains("── "),
        "no transcript without --verbose:\n{text}"
    );
}

#[test]
fn commands_stay_bare_with_colour_on() {
    let style = Style {
        color: true,
        verbose: true,
    };
    let text = written(Format::Human(style));
    assert!(text.contains('\u{1b}'), "colour is on:\n{text}");
    assert!(
        text.lines().any(|l| l == format!("      {COMMAND}")),
        "{text}"
    );
    assert!(text.contains("(starttls)"), "{text}");
    assert!(text.contains("failed"), "{text}");
}

#[test]
fn json_round_trips_with_codes_and_commands() {
    let text = written(Format::Json);
    let doc: JsonReport = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => panic!("{e}: {text}"),
    };
    assert_eq!(doc.schema_version, 1);
    assert_eq!(doc.verdict.code, Some(Code::FirewallDrop));
    assert_eq!(doc.findings[0].code, Code::FirewallDrop);
    assert_eq!(doc.findings[0].commands, vec![COMMAND.to_string()]);
    assert_eq!(doc.ports[0].address, Some(address()));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let keys: Vec<&str> = value["findings"][0]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys.len(),
        10,
        "code, layer, severity, port, address, message, evidence, remedy, commands, confidence: {keys:?}"
    );
}

#[test]
fn a_finding_without_commands_still_has_the_field() {
    let mut e = explained();
    e.findings[0].commands.clear();
    e.verdict.code = None;
    let mut out = Vec::new();
    let result = write(Format::Json, &mut out, &report(), &e);
    assert!(result.is_ok(), "{result:?}");
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    assert_eq!(value["findings"][0]["commands"], serde_json::json!([]));
    assert!(value["verdict"]["code"].is_null());
}

#[test]
fn every_format_fails_exactly_when_the_diagnosis_does() {
    let style = Style {
        color: false,
        verbose: true,
    };
    let mut e = explained();
    for format in [Format::Json, Format::Human(style)] {
        e.ok = false;
        assert_eq!(exit_status(format, &report(), &e), crate::exit::PROBLEM);
        e.ok = true;
        assert_eq!(exit_status(format, &report(), &e), crate::exit::OK);
    }
}

/// A report made from an env file: Laravel's keys on lines 1-6, a password, a Node key left aside.
fn report_with_settings() -> Report {
    let text = "MAIL_MAILER=smtp\nMAIL_HOST=mail.example.com\nMAIL_PORT=587\nMAIL_USERNAME=app@example.com\nMAIL_PASSWORD=\"Out-S3cret\"\nMAIL_FROM_ADDRESS=\"${MAIL_USERNAME}\"\nSMTP_HOST=x.example.com\n";
    let loaded = crate::plan::env_file::from_bytes(
        std::path::Path::new("/srv/app/.env"),
        text.as_bytes(),
        &|_| None,
    );
    let mut r = report();
    r.settings = loaded.ok().map(|l| l.facts);
    r
}

#[test]
fn human_shows_the_settings_file_its_keys_and_what_was_probed() {
    let plain = Style {
        color: false,
        verbose: false,
    };
    let text = written_for(Format::Human(plain), &report_with_settings());
    for line in [
        "  settings: /srv/app/.env, read as Laravel\n",
        "    line 2    MAIL_HOST=mail.example.com\n",
        "    line 5    MAIL_PASSWORD (set, not shown)\n",
        "    line 6    MAIL_FROM_ADDRESS=app@example.com\n",
        "    probed as the app connects: mail.example.com port 587 with STARTTLS, login app@example.com (password from the file), sender app@example.com\n",
        "    note: nodemailer (SMTP_* names) keys left aside: SMTP_HOST (line 7)\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("Out-S3cret"), "{text}");
    // Verbose says how each value was written.
    let verbose = Style {
        color: false,
        verbose: true,
    };
    let text = written_for(Format::Human(verbose), &report_with_settings());
    assert!(
        text.contains(
            "MAIL_FROM_ADDRESS=app@example.com (double-quoted, ${MAIL_USERNAME} expanded)"
        ),
        "{text}"
    );
    // Without --env-file there is no settings block.
    assert!(!written(Format::Human(plain)).contains("settings:"));
}

#[test]
fn json_carries_the_settings_or_null() {
    let text = written_for(Format::Json, &report_with_settings());
    assert!(!text.contains("Out-S3cret"), "{text}");
    let doc: JsonReport = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => panic!("{e}: {text}"),
    };
    let Some(s) = doc.settings else {
        panic!("no settings in {text}");
    };
    assert_eq!(s.framework, crate::report::settings::Framework::Laravel);
    let password = s.keys.iter().find(|k| k.key == "MAIL_PASSWORD");
    assert!(password.is_some_and(|k| k.secret && k.value.is_none() && k.line == 5));
    assert_eq!(s.probed.port, 587);
    let plain: serde_json::Value = serde_json::from_str(&written(Format::Json)).unwrap_or_default();
    assert_eq!(plain.get("settings"), Some(&serde_json::Value::Null));
}

/// A settings problem reads flat in JSON, its kind beside its keys and fix, and comes back the same.
#[test]
fn settings_problems_round_trip_flat() {
    let r = report_with_settings();
    let Some(mut s) = r.settings else {
        panic!("no settings");
    };
    s.problems.push(crate::report::settings::SettingsProblem {
        kind: crate::report::settings::ProblemKind::PortInvalid {
            probed: 587,
            fallback: crate::report::settings::PortFallback::Digits,
        },
        keys: Vec::new(),
        fix: Vec::new(),
        unreadable: None,
    });
    let json = serde_json::to_value(&s).unwrap_or_default();
    let p = &json["problems"][0];
    assert_eq!(p["kind"], "port_invalid", "{json}");
    assert_eq!(p["probed"], 587);
    assert_eq!(p["fallback"], "digits");
    let back: crate::report::settings::SettingsFacts =
        serde_json::from_value(json).expect("settings deserialize");
    assert_eq!(back, s);
}

/// The report of a run Ctrl-C stopped while the greeting was awaited, with its real diagnosis.
fn interrupted(signal: crate::report::Signal) -> (Report, Explained) {
    let mut r = report();
    let attempt = &mut r.ports[0].attempts[0];
    attempt.connect.outcome = crate::report::ConnectOutcome::Connected;
    attempt.stages = vec![
        Stage {
            name: StageName::Connect,
            status: StageStatus::Ok,
            elapsed_ms: 1.5,
            detail: "connected".into(),
        },
        Stage {
            name: StageName::Greeting,
            status: StageStatus::Interrupted,
            elapsed_ms: 1003.0,
            detail: "interrupted".into(),
        },
    ];
    r.interrupted = Some(signal);
    let e = crate::explain::explain(&r, &crate::diagnosis::diagnose(&r));
    (r, e)
}

#[test]
fn an_interrupted_run_exits_as_its_signal_and_nagios_says_unknown() {
    use crate::exit;
    use crate::plan::Thresholds;
    use crate::report::Signal;
    let no_thresholds = Thresholds {
        warning: None,
        critical: None,
        cert_warning: None,
        cert_critical: None,
    };
    let human = Format::Human(Style {
        color: false,
        verbose: false,
    });
    let (int, e) = interrupted(Signal::Sigint);
    let (term, e_term) = interrupted(Signal::Sigterm);
    for format in [human, Format::Json, Format::Prometheus] {
        assert_eq!(
            exit_status(format, &int, &e),
            exit::INTERRUPTED,
            "{format:?}"
        );
        assert_eq!(
            exit_status(format, &term, &e_term),
            exit::TERMINATED,
            "{format:?}"
        );
    }
    let nagios = Format::Nagios(no_thresholds);
    assert_eq!(exit_status(nagios, &int, &e), exit::nagios::UNKNOWN);
    let one_at_a_time = COLOUR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let show = |format: Format, r: &Report, e: &Explained| {
        let mut out = Vec::new();
        assert!(write(format, &mut out, r, e).is_ok());
        String::from_utf8_lossy(&out).into_owned()
    };
    let plugin = show(nagios, &int, &e);
    assert!(
        plugin.starts_with("SMTP UNKNOWN - interrupted by SIGINT"),
        "{plugin}"
    );
    // The stage's time so far is no duration: no perfdata for it.
    assert!(!plugin.contains("587_greeting"), "{plugin}");
    let people = show(human, &int, &e);
    for said in [
        "interrupted by SIGINT",
        "INTERRUPTED [none/interrupted]",
        "… 1.0s",
    ] {
        assert!(people.contains(said), "{said:?} missing:\n{people}");
    }
    let doc: JsonReport = serde_json::from_str(&show(Format::Json, &int, &e))
        .unwrap_or_else(|err| panic!("not a JsonReport: {err}"));
    assert!(doc.interrupted);
    assert_eq!(doc.ports[0].stages[1].status, StageStatus::Interrupted);
    drop(one_at_a_time);
    // A run that finished writes no "interrupted" key at all.
    assert!(!written(Format::Json).contains("\"interrupted\""));
}
