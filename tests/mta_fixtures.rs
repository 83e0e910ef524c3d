//! `smtp-doctor mta` on recorded output: real Postfix 3.7 output captured in the lab, and Exim in the formats its documentation and source define — the route, the queue's typed deferrals, the findings, the fix commands, every output format.

use std::path::{Path, PathBuf};

use smtp_doctor::diagnosis::mta::diagnose;
use smtp_doctor::diagnosis::{Code, Layer, Severity};
use smtp_doctor::explain::mta::explain;
use smtp_doctor::host::{exim, postfix};
use smtp_doctor::output::document::JsonMtaReport;
use smtp_doctor::output::{mta as mta_output, Format, Style};
use smtp_doctor::plan::Thresholds;

#[path = "common/plugin.rs"]
mod plugin;
use smtp_doctor::report::mta::{DeferralStep, MtaFacts, MtaReport, Route};

fn dir(parts: &[&str]) -> PathBuf {
    let mut p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mta");
    for part in parts {
        p = p.join(part);
    }
    p
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The instance directory the lab captured from (fix commands name it with -c).
const LAB_DIR: &str = "/tmp/sdmta/postfix/relay/etc";

/// What the probe reads from Postfix without running a tool: postconf's output and the queue listing.
fn postfix_case(name: &str) -> MtaFacts {
    let d = dir(&["postfix", name]);
    let mut f = postfix::read(&text(&d.join("postconf.txt")), LAB_DIR);
    let now: i64 = text(&d.join("captured_at")).trim().parse().unwrap_or(0);
    f.queue = postfix::parse_queue(&text(&d.join("postqueue.jsonl")), now);
    f.running = Some(true);
    f
}

fn exim_case(name: &str) -> MtaFacts {
    let d = dir(&["exim", name]);
    let mut f = exim::read(
        &text(&d.join("bV.txt")),
        &text(&d.join("routers.txt")),
        &text(&d.join("transports.txt")),
        Some(&text(&d.join("update-exim4.conf.conf"))),
    );
    f.evidence.push("exim at /usr/sbin/exim4".into());
    if let Ok(passwords) = std::fs::read_to_string(d.join("passwd.client")) {
        let _ = exim::apply_passwd_client(&mut f, &passwords);
    }
    f.queue = exim::queue(&text(&d.join("bp.txt")), Some(&text(&d.join("mainlog"))));
    f.running = Some(true);
    f
}

fn mta_report(m: MtaFacts) -> MtaReport {
    MtaReport {
        mta: m,
        probe: None,
        invocation: "smtp-doctor mta".into(),
        elapsed_ms: 12.0,
        interrupted: None,
    }
}

fn codes(r: &MtaReport) -> Vec<Code> {
    let mut c: Vec<Code> = diagnose(r).findings.iter().map(|f| f.code).collect();
    c.sort();
    c
}

/// A captured case: its name, the relay (host, port; None: direct), deferred messages, the codes, the verdict.
type PostfixCase = (
    &'static str,
    Option<(&'static str, u16)>,
    usize,
    &'static [Code],
    Layer,
);

#[test]
fn postfix_cases_captured_in_the_lab() {
    let table: &[PostfixCase] = &[
        (
            "relay-587",
            Some(("mail.lab.example.com", 587)),
            0,
            &[],
            Layer::None,
        ),
        (
            "relay-587-wrong-password",
            Some(("mail.lab.example.com", 587)),
            2,
            &[Code::QueueSaslFailed],
            Layer::Credentials,
        ),
        (
            "relay-587-unbuilt-map",
            Some(("mail.lab.example.com", 587)),
            1,
            // The map's mode and database are read by the probe (stat, postmap), not from postconf.
            &[Code::QueueLocalError],
            Layer::Credentials,
        ),
        (
            "relay-25-router-drop",
            Some(("mail.lab.example.com", 25)),
            1,
            &[Code::QueuePort25Blocked],
            Layer::IspBlock,
        ),
        (
            "direct-router-drop",
            None,
            1,
            &[Code::MtaDirectDelivery, Code::QueuePort25Blocked],
            Layer::IspBlock,
        ),
        (
            "relay-nxdomain",
            Some(("nothere.lab.example.com", 587)),
            1,
            &[Code::QueueNameNotFound],
            Layer::Dns,
        ),
    ];
    for (name, relay, deferred, want, layer) in table {
        let m = postfix_case(name);
        match (relay, &m.route) {
            (Some((host, port)), Route::Relay(r)) => {
                assert_eq!(
                    (r.host.as_str(), r.port, r.mx_lookup),
                    (*host, *port, false),
                    "{name}"
                )
            }
            (None, Route::Direct) => {}
            (want, got) => panic!("{name}: route {got:?}, want {want:?}"),
        }
        assert_eq!(m.queue.deferred, *deferred, "{name}: deferred");
        assert_eq!(m.version.as_deref(), Some("3.7.11"), "{name}");
        assert!(!m.default_instance, "{name}");
        let r = mta_report(m);
        assert_eq!(codes(&r), want.to_vec(), "{name}: codes");
        let d = diagnose(&r);
        assert_eq!(d.verdict.layer(), *layer, "{name}: verdict");
        for f in &d.findings {
            assert_ne!(f.layer(), Layer::None);
        }
    }
}

#[test]
fn postfix_settings_read_from_postconf() {
    let m = postfix_case("relay-587-wrong-password");
    assert!(m.sasl.enabled);
    assert_eq!(m.sasl.maps, vec![format!("hash:{LAB_DIR}/sasl_passwd")]);
    // smtp_sasl_glue.c: the server's host name first, then the next hop as written.
    assert_eq!(
        m.sasl.keys,
        vec![
            "mail.lab.example.com".to_string(),
            "[mail.lab.example.com]:587".to_string()
        ]
    );
    assert_eq!(m.tls.level.as_deref(), Some("encrypt"));
    assert_eq!(m.tls.ca_file.as_deref(), Some("/tmp/sdmta/ca.pem"));
    assert!(m.families.v4 && m.families.v6);
    let d = &m.queue.deferrals[0];
    assert_eq!(d.facts.step, DeferralStep::Auth);
    assert_eq!(
        (d.facts.reply_code, d.facts.enhanced.as_deref()),
        (Some(535), Some("5.7.8"))
    );
    let m = postfix_case("direct-router-drop");
    let d = &m.queue.deferrals[0];
    assert_eq!(
        (d.facts.step, d.facts.errno, d.facts.port),
        (DeferralStep::Connect, Some(libc::ETIMEDOUT), Some(25))
    );
    assert!(!m.sasl.enabled);
}

#[test]
fn postfix_fixes_carry_the_instance() {
    let r = mta_report(postfix_case("relay-587-wrong-password"));
    let e = explain(&r, &diagnose(&r));
    let f = &e.findings[0];
    assert_eq!(f.code, Code::QueueSaslFailed);
    assert_eq!(
        f.commands,
        vec![
            format!("postmap -c {LAB_DIR} hash:{LAB_DIR}/sasl_passwd"),
            format!("postfix -c {LAB_DIR} reload"),
            format!("postqueue -c {LAB_DIR} -f"),
        ]
    );
    // Direct delivery blocked on 25: the relay fix names a provider's host to replace.
    let r = mta_report(postfix_case("direct-router-drop"));
    let e = explain(&r, &diagnose(&r));
    let f = e
        .findings
        .iter()
        .find(|f| f.code == Code::QueuePort25Blocked)
        .unwrap_or_else(|| panic!("port-25 finding"));
    assert_eq!(
        f.commands.first().map(String::as_str),
        Some(format!("postconf -c {LAB_DIR} -e 'relayhost = [smtp.provider.example]:587' 'smtp_sasl_auth_enable = yes' 'smtp_sasl_password_maps = hash:{LAB_DIR}/sasl_passwd' 'smtp_sasl_security_options = noanonymous' 'smtp_tls_security_level = encrypt'").as_str())
    );
    assert_eq!(
        f.commands.last().map(String::as_str),
        Some(format!("postqueue -c {LAB_DIR} -f").as_str())
    );
    // The relay on 25: the same relay's submission port.
    let r = mta_report(postfix_case("relay-25-router-drop"));
    let e = explain(&r, &diagnose(&r));
    assert!(e.findings[0].commands[0].contains("'relayhost = [mail.lab.example.com]:587'"));
}

#[test]
fn exim_smarthost_with_a_refused_login() {
    let m = exim_case("smarthost-auth-failed");
    assert_eq!(m.version.as_deref(), Some("4.96"));
    assert_eq!(
        m.config.as_deref(),
        Some("/var/lib/exim4/config.autogenerated")
    );
    let Route::Relay(r) = &m.route else {
        panic!("a smarthost route, got {:?}", m.route);
    };
    assert_eq!(
        (r.host.as_str(), r.port, r.implicit_tls),
        ("smtp.provider.example", 587, false)
    );
    assert_eq!(m.tls.level.as_deref(), Some("require"));
    assert_eq!(
        (m.queue.messages, m.queue.frozen, m.queue.deferred),
        (2, 1, 2)
    );
    assert_eq!(m.queue.oldest_age_s, Some(4 * 3600));
    // The retry-time note (-54) after the refusal does not replace the refusal as the reason.
    assert_eq!(m.queue.deferrals.len(), 2);
    for d in &m.queue.deferrals {
        assert_eq!(d.facts.step, DeferralStep::Auth, "{}", d.reason);
        assert_eq!(d.facts.router.as_deref(), Some("smarthost"));
        assert_eq!(d.facts.transport.as_deref(), Some("remote_smtp_smarthost"));
    }
    let rep = mta_report(m);
    assert_eq!(codes(&rep), vec![Code::QueueSaslFailed]);
    let e = explain(&rep, &diagnose(&rep));
    assert_eq!(e.verdict.layer, Layer::Credentials);
    assert_eq!(e.findings[0].commands, vec!["exim4 -qff".to_string()]);
    assert_eq!(rep.mta.sasl.entry.user.as_deref(), Some("app@example.com"));
    // passwd.client's password reaches no output.
    for format in [
        Format::Json,
        Format::Human(Style {
            color: false,
            verbose: true,
        }),
    ] {
        let mut out = Vec::new();
        mta_output::write(format, &mut out, &rep, &e).unwrap_or_else(|e| panic!("write: {e}"));
        assert!(!String::from_utf8_lossy(&out).contains("Not-the-account-password"));
    }
}

#[test]
fn exim_internet_delivery_with_port_25_blocked() {
    let m = exim_case("internet-port25-timeout");
    assert_eq!(m.route, Route::Direct);
    assert_eq!(m.queue.oldest_age_s, Some(2 * 86_400));
    assert_eq!(m.queue.deferrals.len(), 2);
    assert!(m
        .queue
        .deferrals
        .iter()
        .all(|d| d.facts.errno == Some(libc::ETIMEDOUT) && d.facts.step == DeferralStep::Connect));
    let rep = mta_report(m);
    assert_eq!(
        codes(&rep),
        vec![Code::MtaDirectDelivery, Code::QueuePort25Blocked]
    );
    let d = diagnose(&rep);
    let blocked = d
        .findings
        .iter()
        .find(|f| f.code == Code::QueuePort25Blocked)
        .unwrap_or_else(|| panic!("port-25 finding"));
    assert_eq!(
        (blocked.severity, blocked.port),
        (Severity::Error, Some(25))
    );
    let e = explain(&rep, &d);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == Code::QueuePort25Blocked)
        .unwrap_or_else(|| panic!("explained port-25 finding"));
    assert!(f
        .commands
        .iter()
        .any(|c| c.contains("dc_smarthost='smtp.provider.example::587'")));
    assert!(f.commands.iter().any(|c| c == "exim4 -qff"));
}

#[test]
fn the_exim_specifications_own_examples() {
    // The -bp example of the spec (chapter "Command line options", -bp).
    let (q, unparsed) = exim::parse_bp(
        "25m  2.9K 0t5C6f-0000c8-00 <alice@wonderland.fict.example>\n          red.king@looking-glass.fict.example\n          <other addresses>\n",
    );
    // "<other addresses>" stands for more recipients in the spec; as a line it is not one address.
    assert_eq!(unparsed, 1);
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].id.as_str(), q[0].age_s),
        ("0t5C6f-0000c8-00", Some(1500))
    );
    assert_eq!(q[0].pending[0], "red.king@looking-glass.fict.example");
    // The deferral example of the spec (chapter "Log files"), one line as logged (146 is Solaris's ECONNREFUSED).
    let d = exim::parse_log_line(
        "2002-12-19 16:20:23 16aiQz-0002Q5-00 == marvin@endrest.example R=dnslookup T=smtp defer (146): Connection refused",
    )
    .unwrap_or_else(|| panic!("the spec's deferral line"));
    assert_eq!(
        (d.id.as_str(), d.recipient.as_str(), d.errno),
        ("16aiQz-0002Q5-00", "marvin@endrest.example", 146)
    );
    assert_eq!(d.facts.step, DeferralStep::Connect);
    assert_eq!(d.reason, "Connection refused");
    // A 4xx to RCPT, as smtp.c words it, with the host d_hostlog() puts before the message.
    let d = exim::parse_log_line(
        "2026-11-22 09:00:00 1rsAAA-0005Ab-1c == a@example.net R=dnslookup T=remote_smtp defer (-44) H=mx.example.net [192.0.2.7]: SMTP error from remote mail server after RCPT TO:<a@example.net>: 451 4.7.1 Greylisted, try again later",
    )
    .unwrap_or_else(|| panic!("a 4xx deferral"));
    assert_eq!(d.facts.step, DeferralStep::Reply);
    assert_eq!(d.facts.command.as_deref(), Some("RCPT TO"));
    assert_eq!(
        (d.facts.reply_code, d.facts.enhanced.as_deref()),
        (Some(451), Some("4.7.1"))
    );
    assert_eq!(d.facts.host.as_deref(), Some("mx.example.net"));
}

#[test]
fn every_format_writes_the_mta_report() {
    let r = mta_report(postfix_case("relay-587-wrong-password"));
    let e = explain(&r, &diagnose(&r));
    let mut json = Vec::new();
    mta_output::write(Format::Json, &mut json, &r, &e).unwrap_or_else(|e| panic!("json: {e}"));
    let doc: JsonMtaReport =
        serde_json::from_slice(&json).unwrap_or_else(|e| panic!("json parses: {e}"));
    assert!(!doc.ok);
    assert_eq!(doc.verdict.code, Some(Code::QueueSaslFailed));
    assert_eq!(doc.mta.queue.deferred, 2);
    assert!(doc.check.is_none());
    assert_eq!(mta_output::exit_status(Format::Json, &r, &e), 1);
    let mut human = Vec::new();
    let style = Style {
        color: false,
        verbose: true,
    };
    mta_output::write(Format::Human(style), &mut human, &r, &e)
        .unwrap_or_else(|e| panic!("human: {e}"));
    let human = String::from_utf8_lossy(&human);
    for want in [
        "smtp-doctor mta",
        "MTA: Postfix 3.7.11, instance /tmp/sdmta/postfix/relay/etc",
        "sends through the relay [mail.lab.example.com]:587",
        "queue: 2 messages (2 deferred)",
        "PROBLEM [credentials/queue_sasl_failed]",
        "── deferred recipients ──",
    ] {
        assert!(
            human.contains(want),
            "human report lacks {want:?}:\n{human}"
        );
    }
    // As a plugin: the queue's deferral is CRITICAL with its layer and code, and the queue becomes perfdata.
    let mut text = Vec::new();
    let format = Format::Nagios(Thresholds {
        warning: None,
        critical: None,
        cert_warning: None,
        cert_critical: None,
    });
    mta_output::write(format, &mut text, &r, &e).unwrap_or_else(|e| panic!("nagios: {e}"));
    let text = String::from_utf8_lossy(&text);
    let code = i32::from(mta_output::exit_status(format, &r, &e));
    let p = plugin::parse("SMTP", &text, code).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(p.state, "CRITICAL", "{text}");
    assert!(
        p.text.starts_with("credentials/queue_sasl_failed: "),
        "{text}"
    );
    assert_eq!(
        p.perf("queue_deferred").and_then(|q| q.value),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        p.perf("queue_messages").and_then(|q| q.value),
        Some(2.0),
        "{text}"
    );
    assert!(p.perf("time").is_some(), "{text}");
    assert!(
        p.long
            .iter()
            .any(|l| l.starts_with("[error] credentials/queue_sasl_failed")),
        "{text}"
    );
}

/// Every fixture cut short at many points and with bytes overwritten (quotes, brackets, colons, digits, NUL,
/// invalid UTF-8): the parsers must neither panic nor break their bounds.
#[test]
fn parsers_survive_truncated_and_mangled_fixtures() {
    let mut files = Vec::new();
    for kind in ["postfix", "exim"] {
        for case in std::fs::read_dir(dir(&[kind]))
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in std::fs::read_dir(case.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                files.push(f.path());
            }
        }
    }
    assert!(files.len() > 20, "fixtures found: {}", files.len());
    let odd: &[u8] = b"\"[]:<>=(0 \n\x00\xff";
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for cut in (0..bytes.len()).step_by(7) {
            smtp_doctor::fuzz_checks::check_mta(&bytes[..cut]);
        }
        for (i, at) in (0..bytes.len()).step_by(13).enumerate() {
            let mut m = bytes.clone();
            m[at] = odd[i % odd.len()];
            smtp_doctor::fuzz_checks::check_mta(&m);
        }
    }
}
