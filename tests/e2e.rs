//! End to end: `smtp-doctor check` against scripted SMTP servers on loopback, one scenario per test.
//!
//! Every test targets `localhost -4` on the port of a server it starts (and stops when it returns), with
//! `--timeout 2` and `--ca-file` of a CA made at test time, and reads the `--json` report as typed structs.
//! The --as-user test (root) targets 127.0.0.1 in a network namespace of its own, with a firewall rule there.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use common::{
    assert_code, assert_outcome, check_ports, main_finding, port, run_doctor, run_doctor_watched,
    stage, AuthResult, Behaviour, ClosedPort, Limits, Pki, Script, Server, OTHER_NAME, RUN_LIMIT,
    TIMEOUT,
};
use smtp_doctor::diagnosis::{Code, Layer};
use smtp_doctor::output::document::{JsonPort, JsonReport};
use smtp_doctor::report::{
    AuthOutcome, CertProblem, ConnectOutcome, HandshakeError, PortMode, ReplyOutcome, StageName,
    StageStatus, TlsOutcome,
};

/// Seconds per network step given to the binary.
const TIMEOUT_S: f64 = 2.0;
const USER: &str = "alice@scripted.test";
const PASSWORD: &str = "Tr0ub4dor&3-correct-horse";

fn healthy(pki: &Pki) -> Script {
    Script::new().starttls(pki.trusted.clone())
}

fn checked_auth() -> AuthResult {
    AuthResult::Check {
        user: USER.into(),
        password: PASSWORD.into(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Working servers

#[test]
fn healthy_starttls_server_is_ok() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Starttls);
    for name in [
        StageName::Connect,
        StageName::Greeting,
        StageName::Ehlo,
        StageName::Tls,
        StageName::EhloTls,
        StageName::Quit,
    ] {
        assert_eq!(stage(p, name).status, StageStatus::Ok, "{name:?}");
    }
    let tls = p.attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(tls.outcome, TlsOutcome::Established);
    assert!(tls.chain_verified && tls.name_matches, "{tls:?}");
    assert!(tls
        .starttls_reply
        .as_ref()
        .is_some_and(|r| r.code == Some(220)));
    assert_eq!(tls.injected_bytes, 0);
    assert!(
        r.findings.iter().all(|f| f.layer != Layer::Tls),
        "{:#?}",
        r.findings
    );
    assert_eq!(server.log().tls_sessions, 1);
}

#[test]
fn implicit_tls_server_is_ok() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::ImplicitTls {
        tls: pki.trusted.clone(),
        script: Script::new(),
    });
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "implicit"], None);
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Implicit);
    assert_eq!(p.attempts[0].speaks, Some(PortMode::Implicit));
    assert_eq!(stage(p, StageName::Tls).status, StageStatus::Ok);
    assert_eq!(stage(p, StageName::Greeting).status, StageStatus::Ok);
    assert_eq!(stage(p, StageName::EhloTls).status, StageStatus::Ok);
    // No plaintext EHLO on an implicit-TLS port.
    assert!(p.stages.iter().all(|s| s.name != StageName::Ehlo));
}

#[test]
fn auth_plain_accepted_with_password_from_env() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).auth(&["PLAIN", "LOGIN"], checked_auth()),
    ));
    let (run, r) = check_ports(
        &[server.port()],
        &pki,
        &["--mode", "starttls", "--user", USER],
        Some(PASSWORD),
    );
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    assert_eq!(stage(p, StageName::Auth).status, StageStatus::Ok);
    let auth = p.attempts[0].auth.as_ref().expect("auth facts");
    assert_eq!(auth.outcome, AuthOutcome::Accepted);
    assert_eq!(auth.mechanism.as_deref(), Some("PLAIN"));
    assert_eq!(auth.reply.as_ref().and_then(|r| r.code), Some(235));
    // The server checked the credentials it got: the password reached it from the environment.
    assert_eq!(server.log().auth, vec![("PLAIN".to_string(), true)]);
}

#[test]
fn auth_login_only_accepted() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).auth(&["LOGIN"], checked_auth()),
    ));
    let (run, r) = check_ports(
        &[server.port()],
        &pki,
        &["--mode", "starttls", "--user", USER],
        Some(PASSWORD),
    );
    assert_outcome(&run, &r, Layer::None, true);
    let auth = port(&r).attempts[0].auth.as_ref().expect("auth facts");
    assert_eq!(auth.outcome, AuthOutcome::Accepted);
    assert_eq!(auth.mechanism.as_deref(), Some("LOGIN"));
    assert_eq!(auth.offered, vec!["LOGIN".to_string()]);
    assert_eq!(server.log().auth, vec![("LOGIN".to_string(), true)]);
}

#[test]
fn detect_mode_finds_starttls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    // No --mode: an unregistered port is detected.
    let (run, r) = check_ports(&[server.port()], &pki, &[], None);
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Detect);
    assert_eq!(p.attempts[0].speaks, Some(PortMode::Starttls));
    assert_eq!(stage(p, StageName::Ehlo).status, StageStatus::Ok);
    assert_eq!(stage(p, StageName::Tls).status, StageStatus::Ok);
    let tls = p.attempts[0].tls.as_ref().expect("tls facts");
    assert!(tls.starttls_reply.is_some(), "TLS came through STARTTLS");
}

#[test]
fn detect_mode_finds_implicit_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::ImplicitTls {
        tls: pki.trusted.clone(),
        script: Script::new(),
    });
    let (run, r) = check_ports(&[server.port()], &pki, &[], None);
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Detect);
    assert_eq!(p.attempts[0].speaks, Some(PortMode::Implicit));
    assert_eq!(stage(p, StageName::Tls).status, StageStatus::Ok);
    assert_eq!(stage(p, StageName::EhloTls).status, StageStatus::Ok);
    let tls = p.attempts[0].tls.as_ref().expect("tls facts");
    assert!(
        tls.starttls_reply.is_none(),
        "TLS came first, not via STARTTLS"
    );
}

// ---------------------------------------------------------------------------------------------------
// Server refusals

#[test]
fn greeting_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        Script::new()
            .greeting("421 4.3.2 mx.scripted.test Service not available, closing channel")
            .close_after_greeting(),
    ));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Server, false);
    let g = port(&r).attempts[0].greeting.as_ref().expect("greeting");
    assert_eq!((g.outcome, g.code), (ReplyOutcome::Reply, Some(421)));
    assert_eq!(
        stage(port(&r), StageName::Greeting).status,
        StageStatus::Failed
    );
    assert_code(&r, Code::ServerBusy);
}

#[test]
fn greeting_554_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        Script::new()
            .greeting("554 5.7.1 mx.scripted.test No SMTP service here")
            .close_after_greeting(),
    ));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Server, false);
    let g = port(&r).attempts[0].greeting.as_ref().expect("greeting");
    assert_eq!((g.outcome, g.code), (ReplyOutcome::Reply, Some(554)));
    assert_code(&r, Code::GreetingRejected);
    assert!(main_finding(&r).remedy.contains("blocklist"));
}

#[test]
fn silent_server_is_server_and_bounded() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Silent);
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Server, false);
    let g = port(&r).attempts[0].greeting.as_ref().expect("greeting");
    assert_eq!(g.outcome, ReplyOutcome::Silent);
    assert_code(&r, Code::GreetingSilent);
    // One timeout for the greeting (the TLS try on a second connection runs beside it), plus slack.
    let secs = run.elapsed.as_secs_f64();
    assert!(secs >= TIMEOUT_S, "gave up early: {secs:.2}s");
    assert!(secs < TIMEOUT_S + 1.5, "took {secs:.2}s");
}

#[test]
fn closed_port_is_server() {
    let pki = Pki::new();
    let closed = ClosedPort::new();
    let (run, r) = check_ports(&[closed.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Server, false);
    let p = port(&r);
    assert_eq!(
        p.attempts[0].connect.outcome,
        smtp_doctor::report::ConnectOutcome::Refused
    );
    let c = stage(p, StageName::Connect);
    assert_eq!(c.status, StageStatus::Failed);
    assert!(c.detail.contains("refused"), "{c:?}");
    assert_code(&r, Code::PortClosed);
}

// ---------------------------------------------------------------------------------------------------
// TLS

#[test]
fn no_starttls_on_submission_port_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(Script::new()));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let p = port(&r);
    assert_eq!(
        p.attempts[0].tls.as_ref().map(|t| t.outcome),
        Some(TlsOutcome::NotOffered)
    );
    assert_eq!(stage(p, StageName::Tls).status, StageStatus::Failed);
    assert_code(&r, Code::StarttlsNotOffered);
}

#[test]
fn self_signed_certificate_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        Script::new().starttls(pki.self_signed.clone()),
    ));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let tls = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(tls.outcome, TlsOutcome::Established);
    assert_eq!(tls.chain_error, Some(CertProblem::SelfSigned));
    assert_code(&r, Code::CertSelfSigned);
}

#[test]
fn self_signed_certificate_named_like_a_trust_anchor_is_self_signed() {
    let pki = Pki::new();
    let decoy = pki.ca_file_with_decoy("localhost");
    let server = Server::start(Behaviour::Smtp(
        Script::new().starttls(pki.self_signed.clone()),
    ));
    let port_arg = server.port().to_string();
    let ca = decoy.path().display().to_string();
    let run = run_doctor(
        &[
            "check",
            "localhost",
            "-4",
            "-p",
            &port_arg,
            "--mode",
            "starttls",
            "--timeout",
            TIMEOUT,
            "--ca-file",
            &ca,
            "--json",
        ],
        None,
    );
    let r = run.report();
    assert_outcome(&run, &r, Layer::Tls, false);
    let tls = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(tls.chain_error, Some(CertProblem::SelfSigned));
    assert_code(&r, Code::CertSelfSigned);
}

#[test]
fn certificate_name_mismatch_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        Script::new().starttls(pki.wrong_name.clone()),
    ));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let tls = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert!(tls.chain_verified, "the chain itself is trusted: {tls:?}");
    assert!(!tls.name_matches);
    assert_eq!(tls.chain_error, None);
    assert_code(&r, Code::CertNameMismatch);
    let f = main_finding(&r);
    assert!(f.evidence.iter().any(|e| e.contains(OTHER_NAME)), "{f:?}");
}

#[test]
fn expired_certificate_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(Script::new().starttls(pki.expired.clone())));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let tls = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(tls.chain_error, Some(CertProblem::Expired));
    assert!(tls.name_matches);
    assert!(tls.chain.first().is_some_and(|c| c.days_left < 0));
    assert_code(&r, Code::CertExpired);
}

#[test]
fn implicit_tls_on_starttls_port_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::ImplicitTls {
        tls: pki.trusted.clone(),
        script: Script::new(),
    });
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Starttls);
    assert_eq!(p.attempts[0].speaks, Some(PortMode::Implicit));
    assert_code(&r, Code::WrongTlsModeImplicit);
}

/// With the default timeout, TLS first on a STARTTLS port is decided by the TLS try on a second connection after
/// a short silence, long before the greeting's own timeout.
#[test]
fn implicit_tls_on_starttls_port_is_decided_in_two_seconds() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::ImplicitTls {
        tls: pki.trusted.clone(),
        script: Script::new(),
    });
    let (ca, port) = (pki.ca_arg(), server.port().to_string());
    let args = [
        "check",
        "localhost",
        "-4",
        "-p",
        &port,
        "--mode",
        "starttls",
        "--timeout",
        "10",
        "--ca-file",
        &ca,
        "--json",
    ];
    let run = run_doctor(&args, None);
    let r = run.report();
    assert_code(&r, Code::WrongTlsModeImplicit);
    let secs = run.elapsed.as_secs_f64();
    assert!(secs < 2.5, "took {secs:.2}s with --timeout 10");
}

#[test]
fn plaintext_on_implicit_port_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "implicit"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let p = port(&r);
    assert_eq!(p.mode, PortMode::Implicit);
    assert_eq!(p.attempts[0].speaks, Some(PortMode::Starttls));
    let tls = p.attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(tls.handshake_error, Some(HandshakeError::PlaintextReply));
    assert_code(&r, Code::WrongTlsModeStarttls);
}

#[test]
fn starttls_response_injection_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).inject_after_starttls(b"250-INJECTED\r\n250 PIPELINING\r\n"),
    ));
    let (run, r) = check_ports(&[server.port()], &pki, &["--mode", "starttls"], None);
    assert_outcome(&run, &r, Layer::Tls, false);
    let tls = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(
        tls.injected_bytes,
        "250-INJECTED\r\n250 PIPELINING\r\n".len()
    );
    assert_eq!(tls.outcome, TlsOutcome::Established);
    assert_code(&r, Code::StarttlsInjection);
}

// ---------------------------------------------------------------------------------------------------
// Credentials

// ---------------------------------------------------------------------------------------------------
// The envelope (--from, --to, --send)

fn logged_in(pki: &Pki) -> Script {
    healthy(pki).auth(&["PLAIN", "LOGIN"], checked_auth())
}

fn envelope_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--mode",
        "starttls",
        "--user",
        USER,
        "--from",
        "alice@scripted.test",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn send_delivers_one_test_message_and_reports_the_queue_id() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(logged_in(&pki)));
    let args = envelope_args(&["--to", "bob@scripted.test", "--send"]);
    let (run, r) = check_ports(&[server.port()], &pki, &args, Some(PASSWORD));
    assert_outcome(&run, &r, Layer::None, true);
    let p = port(&r);
    for name in [StageName::MailFrom, StageName::RcptTo, StageName::Data] {
        assert_eq!(stage(p, name).status, StageStatus::Ok, "{name:?}");
    }
    let env = p.attempts[0].envelope.as_ref().expect("envelope facts");
    let message = env.message.as_ref().expect("message facts");
    assert_eq!(message.queue_id.as_deref(), Some("SCRIPTED42"));
    assert!(
        r.verdict.summary.contains("SCRIPTED42"),
        "{}",
        r.verdict.summary
    );
    let log = server.log();
    let has = |want: &str| log.lines.iter().any(|l| l.eq_ignore_ascii_case(want));
    assert!(has("MAIL FROM:<alice@scripted.test>"), "{:?}", log.lines);
    assert!(has("RCPT TO:<bob@scripted.test>"), "{:?}", log.lines);
    assert_eq!(log.lines.iter().filter(|l| l.as_str() == "DATA").count(), 1);
    let header = |name: &str| log.lines.iter().find(|l| l.starts_with(name)).cloned();
    assert_eq!(
        header("Subject: ").as_deref(),
        Some("Subject: smtp-doctor test message")
    );
    assert_eq!(
        header("Message-ID: ").map(|l| l.contains(&message.message_id)),
        Some(true)
    );
    assert!(header("Date: ").is_some(), "{:?}", log.lines);
    assert!(
        !log.lines.iter().any(|l| l == "RSET"),
        "a sent message is not reset"
    );
}

#[test]
fn without_to_the_sender_is_its_own_recipient_and_nothing_is_sent() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(logged_in(&pki)));
    let (run, r) = check_ports(&[server.port()], &pki, &envelope_args(&[]), Some(PASSWORD));
    assert_outcome(&run, &r, Layer::None, true);
    let env = port(&r).attempts[0]
        .envelope
        .as_ref()
        .expect("envelope facts");
    assert!(env.recipient_implied);
    let log = server.log();
    let pos = |want: &str| log.lines.iter().position(|l| l.eq_ignore_ascii_case(want));
    let rcpt = pos("RCPT TO:<alice@scripted.test>").expect("RCPT TO the sender");
    let rset = pos("RSET").expect("RSET after the envelope");
    assert!(rcpt < rset);
    assert!(pos("DATA").is_none(), "nothing is sent without --send");
}

#[test]
fn microsoft_send_as_denied_is_sender() {
    let pki = Pki::new();
    let script = logged_in(&pki).answer(
        "MAIL",
        true,
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
        false,
    );
    let server = Server::start(Behaviour::Smtp(script));
    let (run, r) = check_ports(&[server.port()], &pki, &envelope_args(&[]), Some(PASSWORD));
    assert_outcome(&run, &r, Layer::Sender, false);
    assert_code(&r, Code::SenderRefused);
    assert_eq!(
        stage(port(&r), StageName::MailFrom).status,
        StageStatus::Failed
    );
    let f = main_finding(&r);
    assert!(f.remedy.contains("Send As"), "{f:?}");
}

#[test]
fn deferred_message_is_server() {
    let pki = Pki::new();
    let script = logged_in(&pki).answer(
        "DATA",
        true,
        "451 4.3.0 Error: queue file write error",
        false,
    );
    let server = Server::start(Behaviour::Smtp(script));
    let args = envelope_args(&["--to", "bob@scripted.test", "--send"]);
    let (run, r) = check_ports(&[server.port()], &pki, &args, Some(PASSWORD));
    assert_outcome(&run, &r, Layer::Server, false);
    assert_code(&r, Code::EnvelopeDeferred);
}

#[test]
fn auth_535_is_credentials() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki).auth(
        &["PLAIN", "LOGIN"],
        AuthResult::Fixed("535 5.7.8 Authentication credentials invalid".into()),
    )));
    let (run, r) = check_ports(
        &[server.port()],
        &pki,
        &["--mode", "starttls", "--user", USER],
        Some(PASSWORD),
    );
    assert_outcome(&run, &r, Layer::Credentials, false);
    let p = port(&r);
    assert_eq!(stage(p, StageName::Auth).status, StageStatus::Failed);
    let auth = p.attempts[0].auth.as_ref().expect("auth facts");
    assert_eq!(auth.outcome, AuthOutcome::Rejected);
    let reply = auth.reply.as_ref().expect("auth reply");
    assert_eq!(reply.code, Some(535));
    assert_eq!(reply.enhanced.as_deref(), Some("5.7.8"));
    assert_code(&r, Code::AuthRejected);
    let f = main_finding(&r);
    // The Gmail advice (App Password) belongs to Gmail hosts only.
    for text in [&f.message, &f.remedy] {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains("gmail"), "{f:?}");
        assert!(!lower.contains("app password"), "{f:?}");
        assert!(!lower.contains("apppasswords"), "{f:?}");
    }
}

#[test]
fn password_never_printed() {
    let pki = Pki::new();
    let forms = [
        PASSWORD.to_string(),
        B64.encode(PASSWORD),
        B64.encode(PASSWORD).trim_end_matches('=').to_string(),
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        B64.encode(format!("{USER}\0{PASSWORD}")),
    ];
    for mechanisms in [&["PLAIN"][..], &["LOGIN"][..]] {
        let server = Server::start(Behaviour::Smtp(
            healthy(&pki).auth(mechanisms, checked_auth()),
        ));
        let ca = pki.ca_arg();
        let port_arg = server.port().to_string();
        let base = [
            "check",
            "localhost",
            "-4",
            "-p",
            &port_arg,
            "--mode",
            "starttls",
            "--timeout",
            TIMEOUT,
            "--ca-file",
            &ca,
            "--user",
            USER,
        ];
        for output in ["--verbose", "--json"] {
            let mut args = base.to_vec();
            args.push(output);
            let run = run_doctor(&args, Some(PASSWORD));
            assert!(!run.timed_out);
            assert_eq!(run.code, Some(0), "{mechanisms:?} {output}: {run:?}");
            if output == "--json" {
                let r = run.report();
                let auth = port(&r).attempts[0].auth.as_ref().expect("auth facts");
                assert_eq!(auth.outcome, AuthOutcome::Accepted);
            } else {
                // The transcript was shown, with the AUTH line in it.
                assert!(run.stdout.contains("AUTH"), "{}", run.stdout);
            }
            for form in &forms {
                assert!(
                    !run.stdout.contains(form.as_str()),
                    "{mechanisms:?} {output}: stdout holds a form of the password"
                );
                assert!(
                    !run.stderr.contains(form.as_str()),
                    "{mechanisms:?} {output}: stderr holds a form of the password"
                );
            }
        }
        // The server really got the password each time, so the output had something to hide.
        let log = server.log();
        assert_eq!(log.auth.len(), 2, "{mechanisms:?}");
        assert!(log.auth.iter().all(|(_, ok)| *ok), "{:?}", log.auth);
    }
}

// ---------------------------------------------------------------------------------------------------
// Concurrency

#[test]
fn ports_are_probed_concurrently() {
    let pki = Pki::new();
    let silent = Server::start(Behaviour::Silent);
    // A slow but healthy server: five replies (greeting, EHLO, STARTTLS, EHLO, QUIT), each 0.7 s late.
    let slow = Server::start(Behaviour::Smtp(
        healthy(&pki).reply_delay(Duration::from_millis(700)),
    ));
    let (run, r) = check_ports(
        &[silent.port(), slow.port()],
        &pki,
        &["--mode", "starttls"],
        None,
    );
    assert_eq!(r.ports.len(), 2);
    let by_port = |n: u16| {
        r.ports
            .iter()
            .find(|p| p.port == n)
            .expect("port in report")
    };
    let s = by_port(silent.port());
    assert_eq!((s.ok, s.layer), (false, Layer::Server));
    let h = by_port(slow.port());
    assert_eq!((h.ok, h.layer), (true, Layer::None), "{:#?}", h.stages);
    assert_eq!(r.verdict.layer, Layer::Server);
    assert!(!r.ok);
    assert_eq!(run.code, Some(1));
    // The silent chain needs one timeout (its greeting; the TLS try on a second connection runs beside it): 2 s;
    // the slow one 3.5 s. One after the other they would need 5.5 s; side by side about 3.5 s.
    let secs = r.elapsed_ms / 1000.0;
    assert!(secs >= 3.5 - 0.2, "slow chain ended early: {secs:.2}s");
    assert!(
        secs < 5.0,
        "ports were probed one after the other: {secs:.2}s"
    );
    let quiet = &s.attempts[0];
    let g = quiet.greeting.as_ref().map_or(0.0, |g| g.elapsed_ms) / 1000.0;
    assert!(
        (TIMEOUT_S - 0.2..TIMEOUT_S + 0.5).contains(&g),
        "the silent greeting was waited for {g:.2}s, not one timeout"
    );
}

// ---------------------------------------------------------------------------------------------------
// --as-user (root): the probes open their sockets as that user

/// A prerequisite of the --as-user test is missing: a failure in CI (root, every tool installed), where the
/// test must run; elsewhere a skip that says why.
fn as_user_prerequisite_missing(why: &str) {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!in_ci, "the --as-user end-to-end test cannot run: {why}");
    println!("skipped as_user_probes_with_that_users_sockets: {why}");
}

/// Runs a setup command (ip, iptables) to its end; Err says what failed.
fn setup_command(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One thread of a running process as the kernel shows it: real, effective, saved and filesystem uids and
/// gids, and the effective capabilities.
#[derive(Debug)]
struct ThreadIds {
    uids: Vec<u32>,
    gids: Vec<u32>,
    cap_eff: u64,
}

/// Every thread of process `pid` at one moment; None when a thread came or went while it was read.
fn thread_ids(pid: u32) -> Option<Vec<ThreadIds>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).ok()?;
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::trim)
        };
        let ids = |key: &str| -> Option<Vec<u32>> {
            field(key)?
                .split_whitespace()
                .map(|w| w.parse().ok())
                .collect()
        };
        out.push(ThreadIds {
            uids: ids("Uid:")?,
            gids: ids("Gid:")?,
            cap_eff: u64::from_str_radix(field("CapEff:")?, 16).ok()?,
        });
    }
    Some(out)
}

fn port_of(r: &JsonReport, n: u16) -> &JsonPort {
    r.ports
        .iter()
        .find(|p| p.port == n)
        .unwrap_or_else(|| panic!("port {n} not in the report: {:#?}", r.ports))
}

/// The rule owner-matching firewalls (cPanel, CSF) use: root passes, `nobody` gets a reset. As root the
/// port connects; with --as-user nobody the same run is refused, and it says who probed.
#[test]
fn as_user_probes_with_that_users_sockets() {
    if !nix::unistd::geteuid().is_root() {
        return as_user_prerequisite_missing(
            "needs root for a network namespace and to switch users (run the suite as root, as CI does)",
        );
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        return as_user_prerequisite_missing("this host has no user named nobody");
    };
    let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    // unshare(CLONE_NEWNET) moves only the calling thread: what it starts afterwards (the servers' threads,
    // the binary) lives in the new namespace, which goes away with its rules when they have all ended.
    let joined = std::thread::Builder::new()
        .name("as-user-netns".into())
        .spawn(move || as_user_in_private_netns(uid, gid))
        .expect("spawn the namespace thread")
        .join();
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(why)) => as_user_prerequisite_missing(&why),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The test proper, on a thread of its own in a fresh network namespace (loopback only); Err means a
/// prerequisite is missing, a panic that the binary misbehaved.
fn as_user_in_private_netns(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: unshare touches no memory of this process; it gives the calling thread a new network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "cannot make a network namespace: {}",
            std::io::Error::last_os_error()
        ));
    }
    // The rules below must never reach this host's own firewall: the main thread stayed outside.
    let own = std::fs::read_link("/proc/thread-self/ns/net").map_err(|e| e.to_string())?;
    let host = std::fs::read_link("/proc/self/ns/net").map_err(|e| e.to_string())?;
    assert_ne!(
        own, host,
        "unshare left this thread in the host's network namespace"
    );
    setup_command("ip", &["link", "set", "lo", "up"])?;
    let limits = Limits {
        max_connections: 16,
        ..Limits::default()
    };
    // Blocked for nobody by an owner rule.
    let blocked = Server::start_with(Behaviour::Smtp(Script::new()), limits);
    // Never greets: keeps the run alive for two seconds after the switch, while its threads are looked at.
    let silent = Server::start(Behaviour::Silent);
    // Reached through a nat REDIRECT from a port nothing listens on: the NAT table (root only) must show it.
    let redirect_target = Server::start_with(Behaviour::Smtp(Script::new()), limits);
    let redirected = ClosedPort::new();
    let (p_blocked, p_silent, p_redirected, p_target) = (
        blocked.port(),
        silent.port(),
        redirected.port(),
        redirect_target.port(),
    );
    let (uid_arg, blocked_arg, redirected_arg, target_arg) = (
        uid.to_string(),
        p_blocked.to_string(),
        p_redirected.to_string(),
        p_target.to_string(),
    );
    // -w: the xtables lock is shared by every namespace of the host; wait for it, for a bounded time.
    setup_command(
        "iptables",
        &[
            "-w",
            "10",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            "127.0.0.1",
            "--dport",
            &blocked_arg,
            "-m",
            "owner",
            "--uid-owner",
            &uid_arg,
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ],
    )?;
    setup_command(
        "iptables",
        &[
            "-w",
            "10",
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            "127.0.0.1",
            "--dport",
            &redirected_arg,
            "-j",
            "REDIRECT",
            "--to-ports",
            &target_arg,
        ],
    )?;
    let ports = format!("{p_blocked},{p_silent},{p_redirected}");
    let args = [
        "check",
        "127.0.0.1",
        "-p",
        &ports,
        "--timeout",
        TIMEOUT,
        "--json",
    ];

    // As root: the owner rule does not match, the blocked port connects.
    let run = run_doctor(&args, None);
    assert!(!run.timed_out, "{run:?}");
    let r = run.report();
    assert_eq!(r.host.user.uid, 0, "{:?}", r.host.user);
    assert!(!r.host.user.as_user);
    let connect = &port_of(&r, p_blocked).attempts[0].connect;
    assert_eq!(
        connect.outcome,
        ConnectOutcome::Connected,
        "as root: {connect:?}"
    );
    let served_to_root = blocked.log().connections;
    assert!(served_to_root >= 1, "{:?}", blocked.log());

    // As nobody: the same run, watched from outside while it runs.
    let mut as_args = args.to_vec();
    as_args.extend(["--as-user", "nobody"]);
    let mut samples: Vec<Vec<ThreadIds>> = Vec::new();
    let run = run_doctor_watched(&as_args, None, RUN_LIMIT, &mut |pid| {
        if let Some(sample) = thread_ids(pid) {
            samples.push(sample);
        }
    });
    assert!(!run.timed_out, "{run:?}");
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let r = run.report();

    // Every thread switched, and none went back: once a sample shows them all as nobody (the runtime's
    // worker threads included, no capabilities left), every later sample does too. Samples before that
    // may be mixed: the C library switches the threads one after another.
    let dropped = |t: &ThreadIds| {
        t.uids.len() == 4
            && t.uids.iter().all(|u| *u == uid)
            && t.gids.len() == 4
            && t.gids.iter().all(|g| *g == gid)
            && t.cap_eff == 0
    };
    let first = samples
        .iter()
        .position(|s| s.len() >= 2 && s.iter().all(dropped))
        .unwrap_or_else(|| panic!("no sample shows every thread as nobody: {samples:?}"));
    for sample in &samples[first..] {
        assert!(
            sample.iter().all(dropped),
            "a thread is not nobody: {sample:?}"
        );
    }
    assert!(
        samples.len() - first >= 10,
        "the switch came late: {} samples after it, though the silent port holds the probes for seconds",
        samples.len() - first
    );

    let user = &r.host.user;
    assert_eq!(
        (user.name.as_deref(), user.uid, user.gid, user.as_user),
        (Some("nobody"), uid, gid, true),
        "{user:?}"
    );
    assert!(
        user.groups.contains(&gid) && !user.groups.contains(&0),
        "{user:?}"
    );

    // The probe's sockets were nobody's: the owner rule reset them, and the server saw nothing more.
    let p = port_of(&r, p_blocked);
    assert_eq!(
        p.attempts[0].connect.outcome,
        ConnectOutcome::Refused,
        "{p:#?}"
    );
    assert!(!p.ok, "{p:#?}");
    assert_eq!(p.layer, Layer::Firewall, "{:#?}", r.findings);
    assert_eq!(blocked.log().connections, served_to_root);
    // The other ports are open to nobody: the switch cost nothing but what the rule takes away.
    for n in [p_silent, p_redirected] {
        let connect = &port_of(&r, n).attempts[0].connect;
        assert_eq!(
            connect.outcome,
            ConnectOutcome::Connected,
            "port {n}: {connect:?}"
        );
    }

    // The rules were listed as root, before the switch, and nobody's own SYN was walked into the owner rule.
    let rules = r.host.firewall.as_ref().expect("firewall facts");
    assert!(rules.read, "{rules:#?}");
    let path = port_of(&r, p_blocked).attempts[0]
        .host_path
        .as_ref()
        .expect("a walked path");
    assert!(
        path.outcome == smtp_doctor::report::PathOutcome::Reject
            && path
                .decided_by
                .as_ref()
                .is_some_and(|rule| rule.text.contains("--uid-owner 65534")),
        "{path:#?}"
    );

    // The NAT table, which only root may open, was opened before the switch and read after the probes.
    let conntrack = std::path::Path::new("/proc/thread-self/net/nf_conntrack");
    match std::fs::metadata(conntrack) {
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o004, 0, "nobody could open it");
            let local_port = port_of(&r, p_redirected).attempts[0].connect.local_port;
            assert!(
                r.host
                    .nat_redirects
                    .iter()
                    .any(|n| n.original_port == p_redirected
                        && n.answered_port == p_target
                        && Some(n.original_source_port) == local_port),
                "{:#?}",
                r.host.nat_redirects
            );
        }
        Err(e) => println!("not checked: the NAT table is not in /proc here ({e})"),
    }

    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// The harness itself

#[test]
fn harness_bounds_connections_and_stops_on_drop() {
    use std::net::TcpStream;
    let connect = |addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    let server = Server::start_with(
        Behaviour::Silent,
        Limits {
            max_connections: 1,
            ..Limits::default()
        },
    );
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    let first = connect(addr).expect("the first connection is served");
    // The listener closes once its one connection is taken; poll (bounded) until a connect is refused.
    let mut refused = false;
    for _ in 0..100 {
        if server.log().connections == 1 && connect(addr).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        refused,
        "a second connection was accepted: {:?}",
        server.log()
    );
    drop(first);
    drop(server);
    assert!(
        connect(addr).is_err(),
        "the server still listens after drop"
    );
}

// ---------------------------------------------------------------------------------------------------
// --format nagios: what Nagios and Icinga read (exit status, first line, perfdata), held to the guidelines by
// the strict reader in tests/common/plugin.rs.

/// `check localhost -4 -p PORT --timeout 2 --ca-file CA --format nagios` plus `extra`, read strictly (which also
/// holds the exit status to the state); the state must be `state`. Returns stdout, for messages, and the reading.
fn nagios_run(
    port: u16,
    pki: &Pki,
    extra: &[&str],
    state: &str,
) -> (String, common::plugin::PluginOutput) {
    let ca = pki.ca_arg();
    let port = port.to_string();
    let mut args = vec![
        "check",
        "localhost",
        "-4",
        "-p",
        &port,
        "--timeout",
        TIMEOUT,
        "--ca-file",
        &ca,
        "--format",
        "nagios",
    ];
    args.extend_from_slice(extra);
    let run = run_doctor(&args, None);
    assert!(!run.timed_out, "smtp-doctor ran past the limit: {run:?}");
    let parsed = common::plugin::parse("SMTP", &run.stdout, run.code.unwrap_or(-1))
        .unwrap_or_else(|e| panic!("{e}\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr));
    assert_eq!(parsed.state, state, "{extra:?}:\n{}", run.stdout);
    (run.stdout, parsed)
}

#[test]
fn nagios_ok_on_a_healthy_server_with_stage_times() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    let port = server.port();
    let (out, p) = nagios_run(
        port,
        &pki,
        &["--mode", "starttls", "-w", "10", "-c", "20"],
        "OK",
    );
    assert!(p.text.contains("every probed path works"), "{out}");
    for stage in ["connect", "greeting", "ehlo", "tls", "ehlo_tls", "quit"] {
        let item = p
            .perf(&format!("{port}_{stage}"))
            .unwrap_or_else(|| panic!("no {port}_{stage}: {out}"));
        assert_eq!((item.uom.as_str(), item.min), ("s", Some(0.0)));
        assert!(
            item.value.is_some_and(|v| (0.0..2.0).contains(&v)),
            "{item:?}"
        );
    }
    let time = p.perf("time").expect("time");
    assert_eq!((time.warn.as_str(), time.crit.as_str()), ("10", "20"));
    // rcgen's default validity runs to 4096: hundreds of thousands of days.
    let days = p.perf("cert_days").and_then(|c| c.value).unwrap_or(0.0);
    assert!(days > 10_000.0, "{out}");
    assert_eq!(p.perf("cert_days").map(|c| c.warn.as_str()), Some("14:"));
}

#[test]
fn nagios_warning_when_the_total_time_or_the_certificate_crosses_a_threshold() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    let port = server.port();
    for (extra, state, says, label, warn) in [
        (
            &["--warning", "0.000001"][..],
            "WARNING",
            " s alerts on --warning 0.000001",
            "time",
            "0.000001",
        ),
        (
            &["--cert-warning-days", "4000000000"],
            "WARNING",
            "tls/cert_expires_soon: ",
            "cert_days",
            "4000000000:",
        ),
        // --critical wins over --warning; both alert here.
        (
            &["-w", "0.000001", "-c", "@0:1000"],
            "CRITICAL",
            " s alerts on --critical @1000",
            "time",
            "0.000001",
        ),
    ] {
        let mut args = vec!["--mode", "starttls"];
        args.extend_from_slice(extra);
        let (out, p) = nagios_run(port, &pki, &args, state);
        assert!(p.text.contains(says), "{says}: {out}");
        assert_eq!(p.perf(label).map(|t| t.warn.as_str()), Some(warn), "{out}");
    }
}

#[test]
fn nagios_critical_on_a_closed_port_and_on_a_bad_certificate() {
    let pki = Pki::new();
    let closed = ClosedPort::new();
    let (out, p) = nagios_run(closed.port(), &pki, &[], "CRITICAL");
    assert!(p.text.starts_with("server/port_closed: "), "{out}");
    assert!(
        p.long
            .iter()
            .any(|l| l.starts_with("[error] server/port_closed: 127.0.0.1:")),
        "{out}"
    );
    assert!(
        p.perf(&format!("{}_connect", closed.port())).is_some(),
        "{out}"
    );

    let server = Server::start(Behaviour::Smtp(Script::new().starttls(pki.expired.clone())));
    let (out, p) = nagios_run(server.port(), &pki, &["--mode", "starttls"], "CRITICAL");
    assert!(p.text.starts_with("tls/cert_expired: "), "{out}");
    assert!(p
        .perf("cert_days")
        .and_then(|c| c.value)
        .is_some_and(|d| d < 0.0));
}

#[test]
fn nagios_unknown_on_a_bad_range_before_anything_is_probed() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki)));
    let (out, p) = nagios_run(server.port(), &pki, &["--warning", "10:5"], "UNKNOWN");
    assert!(
        p.text.starts_with("--warning '10:5' is not a Nagios range"),
        "{out}"
    );
    assert!(p.perfdata.is_empty());
    assert_eq!(server.log().connections, 0, "a usage error probes nothing");
}
