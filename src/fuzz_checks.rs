//! Invariants checked on arbitrary bytes, shared by the cargo-fuzz targets and the corpus replay in the test suite.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::probes::wire::{self, MAX_LINE, MAX_LINES};
use crate::redact::Redactor;
use crate::report::{EhloFacts, ReplyFacts, ReplyOutcome};

fn block_on<F: std::future::Future>(f: F) -> Option<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().build().ok()?;
    Some(rt.block_on(f))
}

/// Reads replies from the bytes until they run out; every reply must respect the limits.
pub fn check_reply(data: &[u8]) {
    let _ = block_on(async {
        let mut reader = tokio::io::BufReader::new(data);
        // Each reply consumes at least one byte, so this ends; the cap keeps a run short.
        for _ in 0..64 {
            match wire::read_reply(&mut reader).await {
                Ok(r) => {
                    assert!((200..600).contains(&r.code), "code {} accepted", r.code);
                    assert!(
                        r.lines.len() <= MAX_LINES,
                        "{} lines accepted",
                        r.lines.len()
                    );
                    for l in &r.lines {
                        assert!(
                            l.len() <= 4 * MAX_LINE,
                            "line of {} bytes accepted",
                            l.len()
                        );
                        assert!(
                            !l.chars().any(|c| c.is_control() && c != '\t'),
                            "control character kept"
                        );
                    }
                    if let Some(e) = r.enhanced_code() {
                        assert!(e.split('.').count() == 3, "enhanced code {e:?}");
                    }
                }
                Err(_) => break,
            }
        }
    });
}

/// Parses the bytes as an EHLO reply and queries its keywords the way the probe does.
pub fn check_ehlo(data: &[u8]) {
    let parsed = block_on(async {
        let mut reader = tokio::io::BufReader::new(data);
        wire::read_reply(&mut reader).await
    });
    let Some(Ok(reply)) = parsed else { return };
    let facts = EhloFacts {
        keywords: reply.lines.iter().skip(1).cloned().collect(),
        reply: ReplyFacts {
            outcome: ReplyOutcome::Reply,
            code: Some(reply.code),
            enhanced: reply.enhanced_code(),
            lines: reply.lines.clone(),
            elapsed_ms: 0.0,
        },
        helo_fallback: false,
    };
    let mechs = facts.auth_mechanisms();
    assert!(
        mechs.windows(2).all(|w| w[0] < w[1]),
        "mechanisms not sorted and unique"
    );
    for m in &mechs {
        assert!(!m.is_empty() && !m.contains(' '), "mechanism {m:?}");
    }
    let _ = crate::probes::wire::server_info(&facts.keywords);
    let _ = facts.reply.announced_name();
}

/// Splits the bytes into user, password and text; the cleaned text must hold no form of the password.
pub fn check_redact(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let (Some(user), Some(password), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if password.is_empty() {
        return;
    }
    let r = Redactor::new(user, password);
    let cleaned = r.clean(body);
    assert!(!cleaned.contains(password), "password survives redaction");
    let b64 = STANDARD.encode(password);
    assert!(
        !cleaned.contains(&b64),
        "base64 password survives redaction"
    );
    let plain = STANDARD.encode(format!("\0{user}\0{password}"));
    assert!(
        !cleaned.contains(&plain),
        "AUTH PLAIN blob survives redaction"
    );
    assert!(
        cleaned.len() <= body.len().saturating_mul(12) + 16,
        "redaction blew up the text"
    );
}

/// Feeds the bytes to every parser of MTA output (postconf, relayhost, postqueue -j, delay reasons, exim -bp,
/// -bP, the main log, Debian's files): none may panic, and what they return keeps its bounds.
pub fn check_mta(data: &[u8]) {
    use crate::host::{exim, postfix, queue};
    use crate::report::mta::{Route, MAX_DEFERRALS};
    let text = String::from_utf8_lossy(data);
    let f = postfix::read(&text, postfix::DEFAULT_CONFIG);
    if let Route::Relay(r) = &f.route {
        assert!(r.port > 0, "port 0 accepted from {text:?}");
        assert!(!r.host.is_empty(), "empty relay host");
    }
    let _ = postfix::parse_relayhost(&text, false);
    let q = postfix::parse_queue(&text, 1_800_000_000);
    assert!(q.deferrals.len() <= MAX_DEFERRALS);
    assert!(q.deferred <= q.messages);
    for line in text.lines().take(1000) {
        let d = postfix::parse_delay_reason(line);
        if let Some(e) = &d.enhanced {
            assert!(queue::is_enhanced(e), "enhanced {e:?}");
        }
        if let Some(c) = d.reply_code {
            assert!((200..600).contains(&c), "reply {c}");
        }
        let _ = exim::parse_log_line(line);
        let _ = queue::host_address(line);
        let _ = postfix::split_entry(line);
        let _ = exim::parse_smarthost(line, 25, false);
    }
    let q = exim::queue(&text, Some(&text));
    assert!(q.deferrals.len() <= MAX_DEFERRALS);
    assert!(q.frozen <= q.messages && q.deferred <= q.messages);
    let e = exim::read(&text, &text, &text, Some(&text));
    if let Route::Relay(r) = &e.route {
        assert!(r.port > 0, "port 0 accepted");
    }
    let _ = exim::passwd_client_entry(&text, "smtp.example.com");
    let _ = exim::main_log(&text);
}

/// Reads the bytes as the exporter's config file and as a /probe query string: neither may panic, every refusal
/// is one line, and a password given through the environment never shows in one.
pub fn check_serve(data: &[u8]) {
    const SECRET: &str = "fuzz-Secret-9f3a";
    let text = String::from_utf8_lossy(data);
    let path = std::path::Path::new("/fuzz/serve.toml");
    match crate::serve::config::parse(&text, path, &|_| Some(SECRET.to_string())) {
        Ok(config) => {
            assert!(!format!("{config:?}").contains(SECRET), "password in Debug");
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(
                !shown.contains('\n'),
                "config error on several lines: {shown:?}"
            );
            assert!(!shown.contains(SECRET), "password in a config error");
        }
    }
    if let Err(why) = crate::serve::probe_params(&text) {
        assert!(
            !why.contains('\n'),
            "query refusal on several lines: {why:?}"
        );
    }
}

/// Parses the bytes as a `check --targets` file: never a panic; what is accepted is complete, and no error repeats a password.
pub fn check_targets(data: &[u8]) {
    use crate::plan::targets::{parse, MAX_TARGETS};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(std::path::Path::new("fuzz.toml"), text) {
        Ok(targets) => {
            assert!(!targets.is_empty() && targets.len() <= MAX_TARGETS);
            for (i, t) in targets.iter().enumerate() {
                assert!(!t.host.is_empty(), "target {i} without a host");
                if let Some(p) = &t.ports {
                    assert!(!p.is_empty() && !p.contains(&0), "ports {p:?} accepted");
                }
                if let Some(n) = &t.name {
                    assert!(!n.is_empty() && !n.chars().any(char::is_control));
                    assert!(
                        targets
                            .iter()
                            .filter(|o| o.name.as_ref() == Some(n))
                            .count()
                            == 1,
                        "name {n:?} twice"
                    );
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("the targets file fuzz.toml"),
                "{message}"
            );
        }
    }
}
