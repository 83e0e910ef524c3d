//! The exposition over hand-built reports run through the real diagnosis: names, labels, escaping, one sample per series.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{write, Outcome, Probe};
use crate::diagnosis::{self, Code, Layer, Severity};
use crate::explain::{self, Explained};
use crate::report::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn reply(code: u16, line: &str) -> ReplyFacts {
    ReplyFacts {
        outcome: ReplyOutcome::Reply,
        code: Some(code),
        enhanced: None,
        lines: vec![line.to_string()],
        elapsed_ms: 5.0,
    }
}

fn ehlo(keywords: &[&str]) -> EhloFacts {
    let mut r = reply(250, "mail.example.com");
    r.lines.extend(keywords.iter().map(|k| k.to_string()));
    EhloFacts {
        reply: r,
        helo_fallback: false,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

fn stage(name: StageName, status: StageStatus, ms: f64) -> Stage {
    Stage {
        name,
        status,
        elapsed_ms: ms,
        detail: String::new(),
    }
}

/// A STARTTLS chain that works end to end, with a certificate expiring at `not_after_unix`.
fn healthy(addr: &str, not_after_unix: i64) -> Attempt {
    let mut a = Attempt::new(ip(addr));
    a.connect = ConnectFacts {
        outcome: ConnectOutcome::Connected,
        errno: None,
        elapsed_ms: 12.0,
        local_port: None,
        icmp: None,
        cut_short: false,
        answered_here: false,
    };
    a.speaks = Some(PortMode::Starttls);
    a.greeting = Some(reply(220, "mail.example.com ESMTP"));
    a.ehlo = Some(ehlo(&["PIPELINING", "STARTTLS"]));
    let mut tls = TlsFacts::new(TlsOutcome::Established);
    tls.starttls_reply = Some(reply(220, "2.0.0 Ready to start TLS"));
    tls.version = Some("TLSv1.3".into());
    tls.chain_verified = true;
    tls.name_matches = true;
    tls.chain = vec![CertFacts {
        subject: "CN=mail.example.com".into(),
        issuer: "CN=Test CA".into(),
        sans: vec!["mail.example.com".into()],
        not_before: String::new(),
        not_after: String::new(),
        not_after_unix,
        days_left: 200,
        self_signed: false,
    }];
    a.tls = Some(tls);
    a.ehlo_tls = Some(ehlo(&["PIPELINING", "AUTH PLAIN LOGIN"]));
    a.stages = vec![
        stage(StageName::Connect, StageStatus::Ok, 12.0),
        stage(StageName::Greeting, StageStatus::Ok, 5.5),
        stage(StageName::Ehlo, StageStatus::Ok, 1.25),
        stage(StageName::Tls, StageStatus::Ok, 20.0),
        stage(StageName::EhloTls, StageStatus::Ok, 1.0),
        stage(StageName::Auth, StageStatus::Skipped, 0.0),
    ];
    a
}

/// A connect refused by the server (RST): port_closed.
fn refused(addr: &str) -> Attempt {
    let mut a = Attempt::new(ip(addr));
    a.connect = ConnectFacts {
        outcome: ConnectOutcome::Refused,
        errno: Some(111),
        elapsed_ms: 0.2,
        local_port: None,
        icmp: None,
        cut_short: false,
        answered_here: false,
    };
    a.stages = vec![stage(StageName::Connect, StageStatus::Failed, 0.2)];
    a
}

fn port(host: &str, port: u16, attempts: Vec<Attempt>) -> PortReport {
    PortReport {
        host: host.into(),
        port,
        mode: PortMode::Starttls,
        attempts,
    }
}

fn report(target: &str, ports: Vec<PortReport>) -> Report {
    let mut dns = DnsReport::not_queried();
    dns.queried = true;
    dns.a = DnsLookup {
        outcome: DnsOutcome::Answered,
        records: vec!["203.0.113.10".into()],
        elapsed_ms: 3.5,
    };
    dns.aaaa = DnsLookup {
        outcome: DnsOutcome::Answered,
        records: vec!["2001:db8::10".into()],
        elapsed_ms: 4.25,
    };
    Report {
        target: target.into(),
        invocation: String::new(),
        host: HostFacts::default(),
        dns,
        ports,
        tls_verification: true,
        elapsed_ms: 812.4,
        settings: None,
        interrupted: None,
    }
}

fn explained(r: &Report) -> Explained {
    explain::explain(r, &diagnosis::diagnose(r))
}

/// 587 works on both addresses; 25 is closed on IPv6 and works on IPv4; 465 is closed.
fn mixed() -> Report {
    report(
        "mail.example.com",
        vec![
            port(
                "mail.example.com",
                587,
                vec![
                    healthy("203.0.113.10", 1_900_000_000),
                    healthy("2001:db8::10", 1_800_000_000),
                ],
            ),
            port(
                "mail.example.com",
                25,
                vec![
                    healthy("203.0.113.10", 1_900_000_000),
                    refused("2001:db8::10"),
                ],
            ),
            port(
                "mail.example.com",
                465,
                vec![refused("203.0.113.10"), refused("2001:db8::10")],
            ),
        ],
    )
}

fn exposition(probes: &[Probe<'_>]) -> String {
    let mut out = Vec::new();
    assert!(write(&mut out, probes).is_ok());
    String::from_utf8(out).unwrap_or_default()
}

fn one(r: &Report, e: &Explained) -> String {
    exposition(&[Probe {
        target: &r.target,
        outcome: Outcome::Diagnosed(r, e),
        timeout_seconds: None,
    }])
}

/// A parsed sample line: name, unescaped labels, value as written.
type Parsed = (String, Vec<(String, String)>, String);

/// A sample line split into (name, labels, value); labels unescaped. None for comments and malformed lines.
fn parse_sample(line: &str) -> Option<Parsed> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_string(), Vec::new(), value.to_string()));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut v = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                '"' => break,
                c => v.push(c),
            }
        }
        labels.push((key, v));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((name.to_string(), labels, value.to_string()))
}

fn samples(text: &str) -> Vec<Parsed> {
    text.lines().filter_map(parse_sample).collect()
}

fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<String> {
    samples(text)
        .into_iter()
        .find(|(n, labels, _)| {
            n == name
                && want.len() == labels.len()
                && want
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
}

#[test]
fn blackbox_names_carry_what_blackbox_means() {
    let r = mixed();
    let e = explained(&r);
    let text = one(&r, &e);
    let t = [("target", "mail.example.com")];
    assert_eq!(value(&text, "probe_success", &t).as_deref(), Some("0"));
    assert_eq!(
        value(&text, "probe_duration_seconds", &t).as_deref(),
        Some("0.8124")
    );
    assert_eq!(
        value(&text, "probe_dns_lookup_time_seconds", &t).as_deref(),
        Some("0.00425")
    );
    assert_eq!(
        value(&text, "probe_ssl_earliest_cert_expiry", &t).as_deref(),
        Some("1800000000")
    );
    assert_eq!(
        value(
            &text,
            "probe_tls_version_info",
            &[("target", "mail.example.com"), ("version", "TLS 1.3")]
        )
        .as_deref(),
        Some("1")
    );
    assert!(value(&text, "probe_ip_protocol", &t).is_some());
    // check has no deadline of its own: those two are serve's.
    assert!(!text.contains("probe_timeout_seconds"));
    assert!(!text.contains("smtp_doctor_deadline_exceeded"));
}

#[test]
fn ports_families_stages_verdict_and_findings() {
    let r = mixed();
    let e = explained(&r);
    let text = one(&r, &e);
    fn at(port: &str) -> [(&str, &str); 2] {
        [("target", "mail.example.com"), ("port", port)]
    }
    assert_eq!(
        value(&text, "smtp_doctor_port_success", &at("587")).as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&text, "smtp_doctor_port_success", &at("465")).as_deref(),
        Some("0")
    );
    let fam = |port: &str, f: &str| {
        value(
            &text,
            "smtp_doctor_port_ip_protocol_success",
            &[
                ("target", "mail.example.com"),
                ("port", port),
                ("ip_protocol", f),
            ],
        )
    };
    assert_eq!(fam("25", "4").as_deref(), Some("1"));
    assert_eq!(fam("25", "6").as_deref(), Some("0"));
    assert_eq!(fam("587", "6").as_deref(), Some("1"));
    assert_eq!(
        value(
            &text,
            "smtp_doctor_stage_duration_seconds",
            &[
                ("target", "mail.example.com"),
                ("port", "587"),
                ("stage", "greeting")
            ]
        )
        .as_deref(),
        Some("0.0055")
    );
    // A skipped stage took no time worth a series.
    assert!(!text.contains("stage=\"auth\""));
    let layer = e.verdict.layer.name();
    let code = e.verdict.code.map_or("none", Code::name);
    assert_eq!(layer, "server");
    assert_eq!(
        value(
            &text,
            "smtp_doctor_verdict_info",
            &[
                ("target", "mail.example.com"),
                ("layer", layer),
                ("code", code)
            ]
        )
        .as_deref(),
        Some("1")
    );
    for f in &e.findings {
        let port = f.port.map(|p| p.to_string());
        let mut want = vec![
            ("target", "mail.example.com"),
            ("code", f.code.name()),
            ("layer", f.layer.name()),
            ("severity", f.severity.name()),
        ];
        if let Some(p) = &port {
            want.push(("port", p.as_str()));
        }
        assert_eq!(
            value(&text, "smtp_doctor_finding", &want).as_deref(),
            Some("1"),
            "finding {} missing:\n{text}",
            f.code.name()
        );
    }
}

#[test]
fn a_working_target_is_success_with_verdict_none() {
    let r = report(
        "mail.example.com",
        vec![port(
            "mail.example.com",
            587,
            vec![healthy("203.0.113.10", 1_900_000_000)],
        )],
    );
    let e = explained(&r);
    assert!(e.ok, "{:?}", e.findings);
    let text = one(&r, &e);
    assert_eq!(
        value(&text, "probe_success", &[("target", "mail.example.com")]).as_deref(),
        Some("1")
    );
    assert_eq!(
        value(
            &text,
            "smtp_doctor_verdict_info",
            &[
                ("target", "mail.example.com"),
                ("layer", "none"),
                ("code", "none")
            ]
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        value(
            &text,
            "probe_ip_protocol",
            &[("target", "mail.example.com")]
        )
        .as_deref(),
        Some("4")
    );
}

/// Every family once, HELP and TYPE before its samples, samples contiguous, each series once.
fn assert_well_formed(text: &str) {
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut done = BTreeSet::new();
    let mut current = String::new();
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("").to_string();
            assert!(helped.insert(name.clone()), "HELP twice for {name}");
            if !current.is_empty() {
                done.insert(current.clone());
            }
            current = name;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut w = rest.split(' ');
            let (name, kind) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            assert_eq!(name, current, "TYPE must follow its HELP");
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        let Some((name, labels, value)) = parse_sample(line) else {
            panic!("malformed line {line:?}");
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(&name)
            .to_string();
        assert_eq!(family, current, "sample of {name} outside its family");
        assert!(!done.contains(&family), "family {family} split");
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value.as_str()),
            "bad value in {line:?}"
        );
        let mut key = labels.clone();
        key.sort();
        assert!(series.insert((name.clone(), key)), "series twice: {line}");
        let names: BTreeSet<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names.len(), labels.len(), "label repeated in {line}");
    }
    for (name, _) in typed {
        assert!(helped.contains(&name));
    }
}

#[test]
fn every_series_has_one_sample_and_every_family_its_help_and_type() {
    let r = mixed();
    let e = explained(&r);
    assert_well_formed(&one(&r, &e));
}

#[test]
fn several_targets_share_one_exposition() {
    let a = mixed();
    let mut b = mixed();
    b.target = "smtp.example.net".into();
    let (ea, eb) = (explained(&a), explained(&b));
    let text = exposition(&[
        Probe {
            target: &a.target,
            outcome: Outcome::Diagnosed(&a, &ea),
            timeout_seconds: None,
        },
        Probe {
            target: &b.target,
            outcome: Outcome::Diagnosed(&b, &eb),
            timeout_seconds: None,
        },
    ]);
    assert_well_formed(&text);
    for t in ["mail.example.com", "smtp.example.net"] {
        assert_eq!(
            value(&text, "probe_success", &[("target", t)]).as_deref(),
            Some("0")
        );
    }
    assert_eq!(text.matches("# TYPE probe_success gauge").count(), 1);
}

#[test]
fn label_values_are_escaped() {
    let mut r = mixed();
    r.target = "a\"b\\c\nd".into();
    let e = explained(&r);
    let text = one(&r, &e);
    assert!(
        text.contains("probe_success{target=\"a\\\"b\\\\c\\nd\"} 0"),
        "{text}"
    );
    assert_well_formed(&text);
    assert_eq!(
        value(&text, "probe_success", &[("target", "a\"b\\c\nd")]).as_deref(),
        Some("0")
    );
}

#[test]
fn labels_come_from_closed_sets() {
    let r = mixed();
    let e = explained(&r);
    let text = one(&r, &e);
    let layers: BTreeSet<&str> = Layer::ALL.iter().map(|l| l.name()).collect();
    let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.name()).chain(["none"]).collect();
    let severities: BTreeSet<&str> = [Severity::Error, Severity::Warning, Severity::Info]
        .iter()
        .map(|s| s.name())
        .collect();
    let stages = [
        StageName::Dns,
        StageName::Connect,
        StageName::Greeting,
        StageName::Ehlo,
        StageName::Tls,
        StageName::EhloTls,
        StageName::Auth,
        StageName::MailFrom,
        StageName::RcptTo,
        StageName::Data,
        StageName::Quit,
    ]
    .map(StageName::label);
    for (name, labels, _) in samples(&text) {
        for (k, v) in labels {
            let known = match k.as_str() {
                "target" => v == "mail.example.com",
                "port" => ["25", "465", "587"].contains(&v.as_str()),
                "layer" => layers.contains(v.as_str()),
                "code" => codes.contains(v.as_str()),
                "severity" => severities.contains(v.as_str()),
                "stage" => stages.contains(&v.as_str()),
                "ip_protocol" => v == "4" || v == "6",
                "version" => [
                    "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3", "SSL 3.0", "other",
                ]
                .contains(&v.as_str()),
                _ => false,
            };
            assert!(known, "{name}: label {k}={v:?} is not from a closed set");
        }
    }
}

#[test]
fn ports_shared_by_several_hosts_have_one_series() {
    let mut r = mixed();
    r.ports
        .push(port("mx.example.com", 25, vec![refused("203.0.113.20")]));
    let e = explained(&r);
    let text = one(&r, &e);
    assert_well_formed(&text);
    assert_eq!(
        value(
            &text,
            "smtp_doctor_port_success",
            &[("target", "mail.example.com"), ("port", "25")]
        )
        .as_deref(),
        Some("0")
    );
}

#[test]
fn a_probe_cut_by_its_deadline_says_only_what_is_known() {
    let text = exposition(&[Probe {
        target: "slow.example.com",
        outcome: Outcome::DeadlineExceeded {
            elapsed_seconds: 4.5,
        },
        timeout_seconds: Some(4.5),
    }]);
    assert_well_formed(&text);
    let t = [("target", "slow.example.com")];
    assert_eq!(value(&text, "probe_success", &t).as_deref(), Some("0"));
    assert_eq!(
        value(&text, "probe_timeout_seconds", &t).as_deref(),
        Some("4.5")
    );
    assert_eq!(
        value(&text, "smtp_doctor_deadline_exceeded", &t).as_deref(),
        Some("1")
    );
    assert!(!text.contains("smtp_doctor_verdict_info"));
}

#[test]
fn numbers_are_spelled_as_the_format_wants() {
    assert_eq!(super::number(f64::NAN), "NaN");
    assert_eq!(super::number(f64::INFINITY), "+Inf");
    assert_eq!(super::number(f64::NEG_INFINITY), "-Inf");
    assert_eq!(super::number(1_800_000_000.0), "1800000000");
    assert_eq!(super::number(0.000173), "0.000173");
    assert_eq!(super::seconds(0.173), 0.000173);
}

#[test]
fn the_exit_status_is_ok_whatever_the_verdict() {
    let r = mixed();
    let e = explained(&r);
    assert!(!e.ok);
    assert_eq!(
        crate::output::exit_status(crate::output::Format::Prometheus, &r, &e),
        crate::exit::OK
    );
}
