//! Hostile servers: `smtp-doctor check` against loopback servers that stream without end, drip-feed,
//! send garbage, break framing, hang up mid-reply, or wreck the TLS handshake, one behaviour per test.
//!
//! Every test runs `check localhost -4 -p PORT --timeout 2 --json` (plus --mode, --ca-file and --user as
//! the behaviour needs; the password only in SMTP_DOCTOR_PASSWORD) against a server it starts on
//! 127.0.0.1 and stops when it returns, and asserts:
//! - a clear verdict (the layer, and exit code 1 when the port fails);
//! - a wall time bounded relative to the timeout (`MAX_WALL_S`), so nothing hangs or crawls;
//! - a bounded peak RSS of the smtp-doctor process (`MAX_RSS_KB`), measured by the kernel: its `VmHWM`
//!   sampled while it runs, and its `ru_maxrss` from `wait4` (see `assert_hostile`).
//!
//! Every streaming server stops when the client goes away, after `STREAM_CAP` bytes or after
//! `STREAM_TIME`, whichever comes first; the cap is well above the memory bound, so a client that kept
//! what it was sent would break the bound.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{
    assert_code, assert_outcome, check_ports, main_finding, outcome_context, port, stage,
    until_starttls, AuthResult, Behaviour, BoxFuture, Limits, Pki, Run, Script, Server, Session,
};
use smtp_doctor::diagnosis::{Code, Layer, Severity};
use smtp_doctor::output::document::JsonReport;
use smtp_doctor::report::{
    AuthOutcome, ConnectOutcome, HandshakeError, PortMode, ReplyFacts, ReplyOutcome, StageName,
    StageStatus, TlsOutcome,
};

/// Seconds per network step given to the binary.
const TIMEOUT_S: f64 = 2.0;
/// Wall-time bound of one run: four timeouts, plus slack for a debug build on a busy 2-core machine.
/// A client that waited for a drip-feed or an endless stream to end would take minutes.
const MAX_WALL_S: f64 = 4.0 * TIMEOUT_S + 6.0;
/// Peak RSS bound of one run, in KiB.
const MAX_RSS_KB: u64 = 50 * 1024;
/// Most bytes a streaming server sends: far above `MAX_RSS_KB`.
const STREAM_CAP: usize = 128 << 20;
/// Longest a streaming or dripping server keeps sending.
const STREAM_TIME: Duration = Duration::from_secs(15);
/// One write of a streaming server; a client that stops reading stalls it this long at most.
const STREAM_WRITE: Duration = Duration::from_secs(3);

const USER: &str = "alice@hostile.test";
const PASSWORD: &str = "hostile-Pa55-word-never-printed";

// ---------------------------------------------------------------------------------------------------
// Running and checking

/// `check localhost -4 -p PORT --mode MODE --timeout 2 --ca-file CA --json` plus `extra`.
fn check(
    port: u16,
    mode: &str,
    pki: &Pki,
    extra: &[&str],
    password: Option<&str>,
) -> (Run, JsonReport) {
    let mut args = vec!["--mode", mode];
    args.extend_from_slice(extra);
    check_ports(&[port], pki, &args, password)
}

/// The verdict, exit code, wall time and peak RSS of a hostile run; prints the measurements.
fn assert_hostile(name: &str, run: &Run, r: &JsonReport, layer: Layer, ok: bool) {
    let ctx = || outcome_context(run, r);
    let secs = run.elapsed.as_secs_f64();
    let rss = run.peak_rss_kb.expect("peak RSS of smtp-doctor");
    let bound = run.max_rss_bound_kb.expect("ru_maxrss from wait4");
    eprintln!(
        "[hostile] {name}: layer={} ok={} exit={:?} wall={secs:.2}s peak_rss={:.1}MiB (ru_maxrss bound {:.1}MiB) verdict={:?}",
        r.verdict.layer.name(),
        r.ok,
        run.code,
        rss as f64 / 1024.0,
        bound as f64 / 1024.0,
        r.verdict.summary
    );
    assert_outcome(run, r, layer, ok);
    assert!(secs < MAX_WALL_S, "took {secs:.2}s\n{}", ctx());
    // A run that did anything at all has touched some memory: zero would mean nothing was measured.
    assert!(rss > 0 && rss < MAX_RSS_KB, "peak RSS {rss} KiB\n{}", ctx());
    // A sampled peak can miss the child's last milliseconds; ru_maxrss cannot, but it also carries this
    // process's own peak. So it proves the bound when below it, and when it is not, this process's peak
    // must be what raised it (as after a panic's backtrace in another test), not the child.
    if bound >= MAX_RSS_KB {
        let own = common::own_peak_rss_kb().unwrap_or(u64::MAX);
        assert!(
            own >= MAX_RSS_KB,
            "ru_maxrss {bound} KiB while this test process peaked at {own} KiB: smtp-doctor went over\n{}",
            ctx()
        );
    }
    // A clear verdict: a summary in plain words, with nothing the server sent that could drive a terminal.
    assert!(!r.verdict.summary.trim().is_empty(), "{}", ctx());
    for f in &r.findings {
        for text in [&f.message, &f.remedy].into_iter().chain(&f.evidence) {
            assert!(
                !text.chars().any(|c| c.is_control()),
                "control character in a finding: {text:?}"
            );
        }
    }
}

fn greeting(r: &JsonReport) -> &ReplyFacts {
    port(r).attempts[0]
        .greeting
        .as_ref()
        .expect("greeting facts")
}

fn ehlo_reply(r: &JsonReport) -> &ReplyFacts {
    &port(r).attempts[0].ehlo.as_ref().expect("EHLO facts").reply
}

fn healthy(pki: &Pki) -> Script {
    Script::new().starttls(pki.trusted.clone())
}

// ---------------------------------------------------------------------------------------------------
// Hostile server parts

/// A custom behaviour from an async closure.
fn custom<F, Fut>(f: F) -> Behaviour
where
    F: Fn(TcpStream, Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Behaviour::Custom(Arc::new(move |tcp, s| Box::pin(f(tcp, s)) as BoxFuture))
}

/// Sends `head`, then `body` over and over until the client goes away (a write fails or stalls for
/// `STREAM_WRITE`), `STREAM_CAP` bytes or `STREAM_TIME`; counts what was sent in `sent`.
async fn stream<W: AsyncWrite + Unpin>(w: &mut W, head: &[u8], body: &[u8], sent: &AtomicUsize) {
    let start = Instant::now();
    if !write_within(w, head).await {
        return;
    }
    sent.fetch_add(head.len(), Ordering::Relaxed);
    let mut chunk = Vec::with_capacity(64 * 1024 + body.len());
    while chunk.len() < 64 * 1024 {
        chunk.extend_from_slice(body);
    }
    for _ in 0..=STREAM_CAP / chunk.len() {
        if start.elapsed() > STREAM_TIME || !write_within(w, &chunk).await {
            return;
        }
        sent.fetch_add(chunk.len(), Ordering::Relaxed);
    }
}

/// Writes and flushes within `STREAM_WRITE`; false when the client is gone or has stopped reading.
async fn write_within<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> bool {
    let fut = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    matches!(tokio::time::timeout(STREAM_WRITE, fut).await, Ok(Ok(())))
}

/// A server that streams `head` then `body` forever (within the stream bounds) from the first byte.
fn streaming(head: &'static [u8], body: &'static [u8]) -> (Behaviour, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let b = custom(move |mut tcp, _s| {
        let sent = counter.clone();
        async move { stream(&mut tcp, head, body, &sent).await }
    });
    (b, sent)
}

/// Sends `bytes` one at a time, `every` apart; stops when the client is gone or after `STREAM_TIME`.
async fn drip<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8], every: Duration) {
    let start = Instant::now();
    for b in bytes {
        if start.elapsed() > STREAM_TIME {
            return;
        }
        if !write_within(w, &[*b]).await {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

/// Plays `script` up to its STARTTLS 220, waits for the client's first TLS bytes (the ClientHello), then
/// sends `answer` instead of a ServerHello and holds the connection until the client leaves.
fn starttls_then_send(pki: &Pki, answer: Vec<u8>) -> Behaviour {
    let script = healthy(pki);
    let answer = Arc::new(answer);
    custom(move |tcp, s| {
        let script = script.clone();
        let answer = answer.clone();
        async move {
            let Some(mut io) = until_starttls(tcp, &script, &s).await else {
                return;
            };
            let mut hello = [0u8; 16 * 1024];
            let read = tokio::time::timeout(s.limits.io, io.read(&mut hello)).await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
            if !s.write(io.get_mut(), &answer).await {
                return;
            }
            // Hold until the client hangs up (bounded by the read timeout and a count).
            for _ in 0..64 {
                match tokio::time::timeout(s.limits.io, io.read(&mut hello)).await {
                    Ok(Ok(n)) if n > 0 => continue,
                    _ => return,
                }
            }
        }
    })
}

/// Deterministic bytes that are neither TLS nor SMTP: xorshift noise whose first byte is no TLS content
/// type (0x14-0x17) and no digit, so the outcome does not depend on luck.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 32) as u8);
    }
    out[0] = 0xc3;
    out
}

// ---------------------------------------------------------------------------------------------------
// Endless and oversized input

#[test]
fn endless_line_without_crlf_is_server() {
    let pki = Pki::new();
    let (b, sent) = streaming(b"220 ", b"x");
    let server = Server::start(b);
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // The server's own fault: a greeting line longer than any limit. Not TLS: nothing about TLS happened.
    assert_hostile("endless line without CRLF", &run, &r, Layer::Server, false);
    assert_eq!(greeting(&r).outcome, ReplyOutcome::TooLarge);
    assert_code(&r, Code::ReplyTooLarge);
    drop(server);
    // The client left long before the server's cap: it read a few KiB, not the stream.
    let n = sent.load(Ordering::Relaxed);
    assert!(n < STREAM_CAP, "the client read all {n} bytes");
}

#[test]
fn endless_bytes_that_are_not_smtp_are_server() {
    let pki = Pki::new();
    let (b, _sent) = streaming(b"", b"\x01AAAA\xff");
    let server = Server::start(b);
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // Not SMTP at all on the port: the service there is wrong, which is the server's layer.
    assert_hostile("endless non-SMTP bytes", &run, &r, Layer::Server, false);
    assert_eq!(greeting(&r).outcome, ReplyOutcome::NotSmtp);
    assert_code(&r, Code::NotSmtp);
}

#[test]
fn drip_fed_greeting_is_server_and_bounded() {
    let pki = Pki::new();
    // One connection per mode, each dripped until the client leaves (or the drip's own bounds).
    let server = Server::start(custom(|mut tcp, _s| async move {
        drip(
            &mut tcp,
            b"220 mx.hostile.test ESMTP one byte per second\r\n",
            Duration::from_secs(1),
        )
        .await
    }));
    for mode in ["starttls", "detect"] {
        let (run, r) = check(server.port(), mode, &pki, &[], None);
        // No whole greeting within the timeout: a tarpitting or stalled server. The bytes that did come
        // are plaintext, so no TLS is tried on the port (which would only cost another timeout).
        let name = format!("greeting drip-fed 1 byte/s (--mode {mode})");
        assert_hostile(&name, &run, &r, Layer::Server, false);
        let secs = run.elapsed.as_secs_f64();
        assert!(secs >= TIMEOUT_S, "gave up before the timeout: {secs:.2}s");
        let g = greeting(&r);
        assert_eq!(g.outcome, ReplyOutcome::Incomplete);
        assert!(g.lines.first().is_some_and(|l| l.starts_with('2')), "{g:?}");
        let p = port(&r);
        assert_eq!(stage(p, StageName::Greeting).status, StageStatus::Failed);
        assert!(
            p.stages.iter().all(|s| s.name != StageName::Tls),
            "{:#?}",
            p.stages
        );
        assert_code(&r, Code::GreetingSlow);
    }
}

#[test]
fn ten_megabyte_banner_is_server() {
    let pki = Pki::new();
    let server = Server::start(custom(|mut tcp, _s| async move {
        // Written in pieces, so this test process does not hold 10 MB itself.
        let piece = vec![b'b'; 64 * 1024];
        if !write_within(&mut tcp, b"220 ").await {
            return;
        }
        for _ in 0..(10 * 1024 * 1024) / piece.len() {
            if !write_within(&mut tcp, &piece).await {
                return;
            }
        }
        let _ = write_within(&mut tcp, b"\r\n").await;
    }));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // A greeting line no real server sends; the client stops reading it at its line limit.
    assert_hostile("10 MB banner", &run, &r, Layer::Server, false);
    assert_eq!(greeting(&r).outcome, ReplyOutcome::TooLarge);
}

#[test]
fn endless_multiline_greeting_is_server() {
    let pki = Pki::new();
    let (b, sent) = streaming(b"", b"220-mx.hostile.test this reply never ends\r\n");
    let server = Server::start(b);
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile("endless multi-line reply", &run, &r, Layer::Server, false);
    let g = greeting(&r);
    assert_eq!(g.outcome, ReplyOutcome::TooLarge);
    drop(server);
    assert!(sent.load(Ordering::Relaxed) < STREAM_CAP);
}

#[test]
fn ehlo_with_five_thousand_keywords_is_server() {
    let pki = Pki::new();
    let mut script = healthy(&pki);
    script.ehlo_keywords = (0..5000)
        .map(|i| format!("X-HOSTILE-KEYWORD-{i:05}"))
        .collect();
    let server = Server::start(Behaviour::Smtp(script));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // A reply past every limit is the server misbehaving; the client gives up on it rather than parse it.
    assert_hostile("EHLO with 5000 keywords", &run, &r, Layer::Server, false);
    assert_eq!(ehlo_reply(&r).outcome, ReplyOutcome::TooLarge);
    assert_eq!(stage(port(&r), StageName::Ehlo).status, StageStatus::Failed);
}

// ---------------------------------------------------------------------------------------------------
// Framing

#[test]
fn bare_lf_line_endings_are_accepted() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki).bare_lf()));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // Accepted, and rightly so: mail clients (Postfix, nodemailer, PHPMailer, lettre) read a reply line up
    // to LF and act on its code, so this server works for them. RFC 5321 asks for CRLF, and the bare-LF
    // danger (SMTP smuggling) is a server accepting bare LF in DATA, not a client reading replies. The port
    // works; the deviation is recorded in the transcript, not raised as a finding.
    assert_hostile("bare LF line endings", &run, &r, Layer::None, true);
    let a = &port(&r).attempts[0];
    assert!(
        a.transcript.iter().any(|l| l.text.contains("bare LF")),
        "{:#?}",
        a.transcript
    );
    assert_eq!(
        a.tls.as_ref().map(|t| t.outcome),
        Some(TlsOutcome::Established)
    );
    assert!(r.findings.iter().all(|f| f.severity != Severity::Error));
}

#[test]
fn invalid_utf8_nul_and_escapes_in_refusing_greeting_are_server() {
    let pki = Pki::new();
    let mut script = healthy(&pki).close_after_greeting();
    script.greeting = b"554 caf\xe9\x00 \xff\xfe\x1b[2J\x1b]0;owned\x07 no service\r\n".to_vec();
    let server = Server::start(Behaviour::Smtp(script));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // A 554 greeting is the server refusing the session; the bytes around it only need to be made harmless.
    assert_hostile(
        "invalid UTF-8, NUL, ESC in a 554 greeting",
        &run,
        &r,
        Layer::Server,
        false,
    );
    let g = greeting(&r);
    assert_eq!((g.outcome, g.code), (ReplyOutcome::Reply, Some(554)));
    assert!(g.lines[0].contains('\u{fffd}'), "{g:?}");
    assert_code(&r, Code::GreetingRejected);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains('\u{1b}') && !text.contains('\0') && !text.contains('\u{7}'));
    }
}

#[test]
fn invalid_utf8_and_nul_in_a_220_greeting_are_accepted() {
    let pki = Pki::new();
    let mut script = healthy(&pki);
    script.greeting = b"220 mx.hostile.test caf\xe9\x00\xff ESMTP\r\n".to_vec();
    let server = Server::start(Behaviour::Smtp(script));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // Accepted: clients act on the reply code, and the text of a 220 is free-form (RFC 5321 4.2), so the
    // port works. The text is kept, made printable.
    assert_hostile(
        "invalid UTF-8 and NUL in a 220 greeting",
        &run,
        &r,
        Layer::None,
        true,
    );
    let g = greeting(&r);
    assert_eq!(g.code, Some(220));
    assert_eq!(
        g.lines[0],
        "mx.hostile.test caf\u{fffd}\u{fffd}\u{fffd} ESMTP"
    );
    assert!(!run.stdout.contains('\0'));
}

#[test]
fn two_digit_reply_code_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).greeting("22 hi").close_after_greeting(),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // "22 hi" is not an SMTP reply: whatever answers is not a working SMTP server.
    assert_hostile("reply code \"22 hi\"", &run, &r, Layer::Server, false);
    assert_eq!(greeting(&r).outcome, ReplyOutcome::NotSmtp);
}

#[test]
fn four_digit_reply_code_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).greeting("2200 x").close_after_greeting(),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile("reply code \"2200 x\"", &run, &r, Layer::Server, false);
    assert_eq!(greeting(&r).outcome, ReplyOutcome::NotSmtp);
}

#[test]
fn mixed_codes_in_one_reply_are_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki).answer(
        "EHLO",
        false,
        "250-mx.hostile.test\r\n251 b",
        false,
    )));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // One reply, two codes: a broken server; a client cannot tell which code to act on.
    assert_hostile(
        "mixed codes 250-/251 in one reply",
        &run,
        &r,
        Layer::Server,
        false,
    );
    let e = ehlo_reply(&r);
    assert_eq!(e.outcome, ReplyOutcome::NotSmtp);
    assert!(e.lines[0].contains("mixes codes"), "{e:?}");
}

#[test]
fn close_in_the_middle_of_the_greeting_is_server() {
    let pki = Pki::new();
    let mut script = healthy(&pki).close_after_greeting();
    script.greeting = b"220-mx.hostile.test ESMTP\r\n220-second line, cut sho".to_vec();
    let server = Server::start(Behaviour::Smtp(script));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile(
        "close in the middle of the greeting",
        &run,
        &r,
        Layer::Server,
        false,
    );
    let g = greeting(&r);
    assert_eq!(g.outcome, ReplyOutcome::Closed);
    assert!(
        g.lines.first().is_some_and(|l| l.contains("cut sho")),
        "{g:?}"
    );
}

#[test]
fn close_in_the_middle_of_a_reply_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(healthy(&pki).answer(
        "EHLO",
        false,
        "250-mx.hostile.test\r\n250-PIPEL",
        true,
    )));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile(
        "close in the middle of the EHLO reply",
        &run,
        &r,
        Layer::Server,
        false,
    );
    assert_eq!(ehlo_reply(&r).outcome, ReplyOutcome::Closed);
}

// ---------------------------------------------------------------------------------------------------
// The TLS handshake

#[test]
fn close_right_after_starttls_220_is_tls() {
    let pki = Pki::new();
    let script = healthy(&pki);
    let server = Server::start(custom(move |tcp, s| {
        let script = script.clone();
        async move {
            // Agree to TLS, then hang up: what a server does when it cannot load its key or certificate.
            drop(until_starttls(tcp, &script, &s).await);
        }
    }));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // TLS: the server accepted STARTTLS with 220 and then could not do TLS (unlike a 421 or a close
    // instead of the 220, which is the server ending the session).
    assert_hostile(
        "close right after STARTTLS 220",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.outcome, TlsOutcome::HandshakeFailed);
    assert_eq!(t.handshake_error, Some(HandshakeError::Closed));
}

#[test]
fn garbage_during_tls_handshake_is_tls() {
    let pki = Pki::new();
    let server = Server::start(starttls_then_send(&pki, noise(4096)));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // TLS: the 220 to STARTTLS was fine; what broke is the handshake that followed.
    assert_hostile(
        "random bytes instead of a ServerHello",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.handshake_error, Some(HandshakeError::Garbage));
}

#[test]
fn tls_alert_during_handshake_is_tls() {
    let pki = Pki::new();
    // A fatal handshake_failure alert record (TLS 1.2 framing) instead of a ServerHello.
    let alert = vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
    let server = Server::start(starttls_then_send(&pki, alert));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile(
        "TLS alert during the handshake",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.handshake_error, Some(HandshakeError::Alert));
    assert_code(&r, Code::TlsHandshakeFailed);
}

#[test]
fn plaintext_instead_of_server_hello_is_tls() {
    let pki = Pki::new();
    // Says 220 to STARTTLS, then answers the ClientHello as if it were a command: TLS never started.
    let server = Server::start(starttls_then_send(
        &pki,
        b"500 5.5.2 Error: command not recognized\r\n".to_vec(),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // TLS: the server agreed to STARTTLS and did not do it; the port mode was right.
    assert_hostile(
        "plaintext reply instead of a ServerHello",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.handshake_error, Some(HandshakeError::PlaintextReply));
    assert_code(&r, Code::StarttlsStripped);
    let f = main_finding(&r);
    // Not the advice for a client that used implicit TLS on a STARTTLS port: this client used STARTTLS.
    assert!(!f.remedy.contains("not an implicit-TLS port"), "{f:?}");
}

#[test]
fn drip_fed_tls_handshake_is_tls() {
    let pki = Pki::new();
    let script = healthy(&pki);
    let server = Server::start(custom(move |tcp, s| {
        let script = script.clone();
        async move {
            let Some(mut io) = until_starttls(tcp, &script, &s).await else {
                return;
            };
            let mut hello = [0u8; 16 * 1024];
            let read = tokio::time::timeout(s.limits.io, io.read(&mut hello)).await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
            // A handshake record header announcing 64 bytes, then its body a byte at a time.
            let mut record = vec![0x16, 0x03, 0x03, 0x00, 0x40];
            record.extend_from_slice(&[0x02; 0x40]);
            drip(io.get_mut(), &record, Duration::from_millis(500)).await;
        }
    }));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // TLS: the handshake that STARTTLS began did not finish within the timeout.
    assert_hostile("TLS handshake drip-fed", &run, &r, Layer::Tls, false);
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.handshake_error, Some(HandshakeError::Timeout));
    let secs = run.elapsed.as_secs_f64();
    assert!(secs >= TIMEOUT_S, "gave up before the timeout: {secs:.2}s");
}

#[test]
fn starttls_response_injection_is_tls() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).inject_after_starttls(b"250-INJECTED\r\n250 AUTH PLAIN\r\n"),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    // TLS: the handshake itself works, but plaintext bytes that arrive after the 220 and before it could
    // be taken for replies inside TLS (CVE-2011-0411); the TLS layer of this server is not trustworthy.
    assert_hostile("STARTTLS response injection", &run, &r, Layer::Tls, false);
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.injected_bytes, "250-INJECTED\r\n250 AUTH PLAIN\r\n".len());
    assert_code(&r, Code::StarttlsInjection);
}

#[test]
fn large_starttls_response_injection_is_tls() {
    let pki = Pki::new();
    // More than fits the client's read buffer: part of it reaches the TLS handshake.
    let mut inject = Vec::new();
    while inject.len() < 20 * 1024 {
        inject.extend_from_slice(b"250-INJECTED LINE\r\n");
    }
    inject.extend_from_slice(b"250 END\r\n");
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).inject_after_starttls(&inject),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_hostile(
        "large STARTTLS response injection",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert!(t.injected_bytes > 0, "{t:?}");
    assert_code(&r, Code::StarttlsInjection);
}

#[test]
fn endless_stream_on_implicit_tls_port_is_tls() {
    let pki = Pki::new();
    let (b, sent) = streaming(b"", b"\xc3hostile bytes, no TLS record \x00\xff");
    let server = Server::start(b);
    let (run, r) = check(server.port(), "implicit", &pki, &[], None);
    // TLS: the port is meant to speak TLS from the first byte and does not; the client fails in its TLS
    // layer. (The finding also says that something other than a mail server may answer.)
    assert_hostile(
        "endless non-TLS stream on an implicit-TLS port",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.outcome, TlsOutcome::HandshakeFailed);
    assert_eq!(t.handshake_error, Some(HandshakeError::Garbage));
    drop(server);
    assert!(sent.load(Ordering::Relaxed) < STREAM_CAP);
}

#[test]
fn endless_plaintext_on_implicit_tls_port_is_tls() {
    let pki = Pki::new();
    let (b, _sent) = streaming(b"", b"220-mx.hostile.test plaintext forever\r\n");
    let server = Server::start(b);
    let (run, r) = check(server.port(), "implicit", &pki, &[], None);
    // TLS: plaintext SMTP where TLS is expected is the wrong-mode case.
    assert_hostile(
        "endless plaintext on an implicit-TLS port",
        &run,
        &r,
        Layer::Tls,
        false,
    );
    let a = &port(&r).attempts[0];
    assert_eq!(a.speaks, Some(PortMode::Starttls));
    assert_eq!(
        a.tls.as_ref().and_then(|t| t.handshake_error),
        Some(HandshakeError::PlaintextReply)
    );
}

// ---------------------------------------------------------------------------------------------------
// Resets

#[test]
fn immediate_reset_is_server() {
    let pki = Pki::new();
    let server = Server::start_with(
        custom(|tcp, _s| async move {
            // SO_LINGER 0: close sends RST instead of FIN.
            let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            drop(tcp);
        }),
        Limits {
            max_connections: RESET_RUNS,
            ..Limits::default()
        },
    );
    // The RST races the client's connect: it lands either after the connect is seen to finish (the
    // greeting read is reset) or before (the connect itself reports ECONNRESET). A few runs see both.
    for i in 0..RESET_RUNS {
        let (run, r) = check(server.port(), "starttls", &pki, &[], None);
        // The TCP handshake completed, so neither the network nor a firewall stopped it: the server
        // reset the connection it had accepted.
        assert_hostile(
            &format!("accept then RST (run {i})"),
            &run,
            &r,
            Layer::Server,
            false,
        );
        let a = &port(&r).attempts[0];
        assert_eq!(a.connect.outcome, ConnectOutcome::Connected);
        let g = greeting(&r);
        assert!(
            matches!(g.outcome, ReplyOutcome::Error | ReplyOutcome::Closed),
            "{g:?}"
        );
        let want = if g.outcome == ReplyOutcome::Error {
            Code::ConnectionReset
        } else {
            Code::GreetingClosed
        };
        assert_code(&r, want);
    }
}

/// Runs against the resetting server.
const RESET_RUNS: usize = 6;

// ---------------------------------------------------------------------------------------------------
// 421 at every stage: the server ends the session, whatever command it answers, so every one is `server`.

const BUSY: &str = "421 4.7.0 mx.hostile.test Too many connections, closing channel";

fn assert_421(name: &str, run: &Run, r: &JsonReport, failed: StageName) {
    assert_hostile(name, run, r, Layer::Server, false);
    assert_eq!(stage(port(r), failed).status, StageStatus::Failed);
    assert_code(r, Code::ServerBusy);
}

#[test]
fn greeting_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).greeting(BUSY).close_after_greeting(),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_421("421 at the greeting", &run, &r, StageName::Greeting);
}

#[test]
fn ehlo_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).answer("EHLO", false, BUSY, true),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_421("421 to EHLO", &run, &r, StageName::Ehlo);
}

#[test]
fn starttls_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).answer("STARTTLS", false, BUSY, true),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_421("421 to STARTTLS", &run, &r, StageName::Tls);
    let t = port(&r).attempts[0].tls.as_ref().expect("tls facts");
    assert_eq!(t.outcome, TlsOutcome::Refused);
}

#[test]
fn ehlo_after_tls_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki).answer("EHLO", true, BUSY, true),
    ));
    let (run, r) = check(server.port(), "starttls", &pki, &[], None);
    assert_421("421 to EHLO after TLS", &run, &r, StageName::EhloTls);
    assert_eq!(stage(port(&r), StageName::Tls).status, StageStatus::Ok);
}

#[test]
fn auth_421_is_server() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        healthy(&pki)
            .auth(
                &["PLAIN", "LOGIN"],
                AuthResult::Check {
                    user: USER.into(),
                    password: PASSWORD.into(),
                },
            )
            .answer("AUTH", true, BUSY, true),
    ));
    let (run, r) = check(
        server.port(),
        "starttls",
        &pki,
        &["--user", USER],
        Some(PASSWORD),
    );
    // 421 is not a verdict on the password: the server could not check it now.
    assert_421("421 to AUTH", &run, &r, StageName::Auth);
    let auth = port(&r).attempts[0].auth.as_ref().expect("auth facts");
    assert_eq!(auth.outcome, AuthOutcome::Rejected);
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}
