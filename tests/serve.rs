//! `smtp-doctor serve` end to end on loopback: the built binary as an exporter, scripted SMTP servers as targets, and
//! raw HTTP clients (well-behaved, slow, oversized, too many) against it.
//!
//! Every exporter a test starts is stopped by it (SIGTERM, then SIGKILL past a bound; also on panic through Drop),
//! every scripted server is dropped by it, and every wait and loop is bounded in time or count.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{AuthResult, Behaviour, Pki, Script, Server};

/// Longest any one HTTP exchange of these tests may take before it counts as hung.
const HTTP_LIMIT: Duration = Duration::from_secs(20);
const USER: &str = "alice@scripted.test";
const PASSWORD: &str = "Tr0ub4dor&3-correct-horse";
/// The variable the modules of these tests name for the password.
const PASSWORD_VAR: &str = "SDTEST_SERVE_PASSWORD";

/// A running exporter; dropping it kills it if a test did not stop it.
struct Exporter {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    _config: tempfile::NamedTempFile,
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .prefix("smtp-doctor-serve-")
        .suffix(".toml")
        .tempfile()
        .expect("create the config file");
    f.write_all(text.as_bytes()).expect("write the config file");
    f.flush().expect("flush the config file");
    f
}

fn exporter_command(config: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SMTP_DOCTOR_") {
            cmd.env_remove(&k);
        }
    }
    cmd
}

impl Exporter {
    fn start(config: &str, args: &[&str]) -> Exporter {
        Exporter::start_with_env(config, args, &[])
    }

    fn start_with_env(config: &str, args: &[&str], env: &[(&str, &str)]) -> Exporter {
        let file = config_file(config);
        let mut cmd = exporter_command(file.path(), args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start smtp-doctor serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Ends when the exporter exits and the pipe closes.
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&text);
                }
            });
        }
        let start = Instant::now();
        let addr = loop {
            let text = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(addr) = text
                .split("listening on ")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
                .and_then(|a| a.trim().parse::<SocketAddr>().ok())
            {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the exporter exited with {status}: {text}");
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the exporter did not say where it listens: {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Exporter {
            child: Some(child),
            addr,
            stderr,
            _config: file,
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the exit code.
    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(&child, libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid, not yet reaped.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// One HTTP answer as these tests read it.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// GET `target` on a new connection (Connection: close) with extra header lines; the whole exchange bounded.
fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(HTTP_LIMIT)).expect("read timeout");
    s.set_write_timeout(Some(HTTP_LIMIT))
        .expect("write timeout");
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    let _ = (&mut s).take(4 * 1024 * 1024).read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of the one sample of `name` whose labels include every pair of `labels`.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next().is_some_and(|n| n == name))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next().map(str::to_string))
}

fn probe_url(target: &str, module: &str) -> String {
    format!("/probe?target={target}&module={module}")
}

/// A module probing the target's own port over STARTTLS and IPv4, trusting the test CA.
fn module(name: &str, pki: &Pki, extra: &str) -> String {
    format!(
        "[modules.{name}]\nmode = \"starttls\"\nfamily = \"ipv4\"\nca_file = \"{}\"\n{extra}\n",
        pki.ca_arg()
    )
}

#[test]
fn a_probe_answers_with_the_exposition_of_check() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(Script::new().starttls(pki.trusted.clone())));
    let mut exporter = Exporter::start(&module("submission", &pki, "timeout = 10"), &[]);
    let target = format!("localhost:{}", server.port());
    let a = get(
        exporter.addr,
        &probe_url(&target, "submission"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "5")],
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        a.head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        a.head
    );
    let t = [("target", target.as_str())];
    assert_eq!(
        sample(&a.body, "probe_success", &t).as_deref(),
        Some("1"),
        "{}",
        a.body
    );
    assert_eq!(
        sample(&a.body, "probe_timeout_seconds", &t).as_deref(),
        Some("4.5")
    );
    assert_eq!(
        sample(&a.body, "smtp_doctor_deadline_exceeded", &t).as_deref(),
        Some("0")
    );
    assert_eq!(
        sample(
            &a.body,
            "smtp_doctor_verdict_info",
            &[("layer", "none"), ("code", "none")]
        )
        .as_deref(),
        Some("1")
    );
    let port = server.port().to_string();
    for stage in ["connect", "greeting", "ehlo", "tls", "ehlo-tls"] {
        assert!(
            sample(
                &a.body,
                "smtp_doctor_stage_duration_seconds",
                &[("port", port.as_str()), ("stage", stage)]
            )
            .is_some(),
            "no {stage} time:\n{}",
            a.body
        );
    }
    assert_eq!(
        sample(&a.body, "probe_tls_version_info", &[("version", "TLS 1.3")]).as_deref(),
        Some("1")
    );
    assert!(sample(&a.body, "probe_ssl_earliest_cert_expiry", &t).is_some());
    assert_eq!(server.log().tls_sessions, 1);
    assert_eq!(exporter.stop(), Some(0), "{}", exporter.stderr());
}

#[test]
fn the_password_comes_from_the_variable_the_module_names_and_never_shows() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(
        Script::new().starttls(pki.trusted.clone()).auth(
            &["PLAIN"],
            AuthResult::Check {
                user: USER.into(),
                password: PASSWORD.into(),
            },
        ),
    ));
    let config = module(
        "login",
        &pki,
        &format!("user = \"{USER}\"\npassword_env = \"{PASSWORD_VAR}\""),
    );
    assert!(!config.contains(PASSWORD));
    let mut exporter = Exporter::start_with_env(&config, &[], &[(PASSWORD_VAR, PASSWORD)]);
    let target = format!("localhost:{}", server.port());
    let a = get(exporter.addr, &probe_url(&target, "login"), &[]);
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        sample(&a.body, "probe_success", &[]).as_deref(),
        Some("1"),
        "{}",
        a.body
    );
    let log = server.log();
    assert_eq!(log.auth.len(), 1, "{log:?}");
    assert!(log.auth.iter().all(|(_, ok)| *ok), "{:?}", log.auth);
    // Credentials by URL are refused before anything is probed.
    let before = server.log().connections;
    for extra in [
        "&user=bob",
        "&password=x",
        "&password_env=HOME",
        "&auth=bob:x",
    ] {
        let url = format!("{}{extra}", probe_url(&target, "login"));
        let a = get(exporter.addr, &url, &[]);
        assert_eq!(a.status, 400, "{url}: {a:?}");
        assert!(a.body.contains("only target and module"), "{}", a.body);
    }
    assert_eq!(server.log().connections, before);
    assert_eq!(exporter.stop(), Some(0));
    assert!(!exporter.stderr().contains(PASSWORD));
}

#[test]
fn requests_that_are_not_a_probe_get_a_one_line_reason() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(Script::new()));
    let mut exporter = Exporter::start(&module("smtp", &pki, ""), &[]);
    let target = format!("localhost:{}", server.port());
    let cases: Vec<(String, u16, &str)> = vec![
        ("/probe?module=smtp".into(), 400, "missing parameter target"),
        (
            format!("/probe?target={target}"),
            400,
            "missing parameter module",
        ),
        (
            probe_url(&target, "nope"),
            400,
            "unknown module 'nope'; the config file's modules: smtp",
        ),
        (
            format!("{}&module=smtp", probe_url(&target, "smtp")),
            400,
            "given twice",
        ),
        (
            format!("{}&debug=true", probe_url(&target, "smtp")),
            400,
            "unknown parameter 'debug'",
        ),
        (
            probe_url("user:pw@localhost", "smtp"),
            400,
            "user name and password",
        ),
        (
            probe_url("smtp.example.com/path", "smtp"),
            400,
            "not a host name",
        ),
        ("/nothing".into(), 404, "not found"),
    ];
    for (url, status, words) in &cases {
        let a = get(exporter.addr, url, &[]);
        assert_eq!(a.status, *status, "{url}: {a:?}");
        assert!(
            a.body.contains(words),
            "{url}: {:?} lacks {words:?}",
            a.body
        );
        assert_eq!(a.body.trim_end().lines().count(), 1, "{url}: {:?}", a.body);
        assert!(!a.body.contains("pw@"), "{url}: echoes the credentials");
    }
    let a = get(
        exporter.addr,
        &probe_url(&target, "smtp"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
    );
    assert_eq!(a.status, 400, "{a:?}");
    // Nothing reached the SMTP server.
    assert_eq!(server.log().connections, 0);
    let index = get(exporter.addr, "/", &[]);
    assert_eq!(index.status, 200);
    assert!(index.body.contains("modules: smtp"), "{}", index.body);
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn other_methods_get_405() {
    let pki = Pki::new();
    let mut exporter = Exporter::start(&module("smtp", &pki, ""), &[]);
    let mut s =
        TcpStream::connect_timeout(&exporter.addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(HTTP_LIMIT)).expect("timeout");
    s.write_all(b"POST /probe?target=x&module=smtp HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .expect("send");
    let mut raw = String::new();
    let _ = (&mut s).take(65536).read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("allow: get"), "{raw}");
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn the_scrape_timeout_header_less_the_offset_is_the_deadline() {
    let pki = Pki::new();
    // Accepts and never greets: the probe runs into its deadline.
    let server = Server::start(Behaviour::Silent);
    let config = format!(
        "{}{}",
        module("slow", &pki, "timeout = 30"),
        module("capped", &pki, "timeout = 1.5")
    );
    let mut exporter = Exporter::start(&config, &["--timeout-offset", "0.5"]);
    let target = format!("localhost:{}", server.port());
    let t = [("target", target.as_str())];

    let start = Instant::now();
    let a = get(
        exporter.addr,
        &probe_url(&target, "slow"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2.5")],
    );
    let took = start.elapsed();
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        sample(&a.body, "probe_timeout_seconds", &t).as_deref(),
        Some("2")
    );
    assert_eq!(sample(&a.body, "probe_success", &t).as_deref(), Some("0"));
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}, past the scrape's own timeout"
    );
    assert!(
        took >= Duration::from_millis(400),
        "{took:?}: the probe did not wait for the greeting"
    );

    // A scrape timeout longer than the module's: the module's wins.
    let start = Instant::now();
    let a = get(
        exporter.addr,
        &probe_url(&target, "capped"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "60")],
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        sample(&a.body, "probe_timeout_seconds", &t).as_deref(),
        Some("1.5")
    );
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn beyond_max_concurrent_a_request_waits_within_its_deadline_then_gets_503() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Silent);
    let mut exporter = Exporter::start(
        &module("slow", &pki, "timeout = 30"),
        &["--max-concurrent", "1"],
    );
    let addr = exporter.addr;
    let target = format!("localhost:{}", server.port());
    let url = probe_url(&target, "slow");
    // A silent greeting costs one step, a quarter of the first probe's 7.5 s deadline: it holds the slot ~1.9 s.
    let first = {
        let url = url.clone();
        std::thread::spawn(move || get(addr, &url, &[("X-Prometheus-Scrape-Timeout-Seconds", "8")]))
    };
    // Let the first probe take the only slot.
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let second = get(
        addr,
        &url,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    let waited = start.elapsed();
    assert_eq!(second.status, 503, "{second:?}");
    assert!(second.body.contains("--max-concurrent"), "{}", second.body);
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_millis(2500),
        "the 503 came after {waited:?}, not at the end of its 1 s deadline"
    );
    let first = first.join().expect("first request");
    assert_eq!(first.status, 200, "{first:?}");
    // The slot is free again.
    let third = get(
        addr,
        &url,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    assert_eq!(third.status, 200, "{third:?}");
    let metrics = get(addr, "/metrics", &[]);
    assert_eq!(
        sample(
            &metrics.body,
            "smtp_doctor_exporter_requests_total",
            &[("path", "/probe"), ("code", "503")]
        )
        .as_deref(),
        Some("1"),
        "{}",
        metrics.body
    );
    assert_eq!(exporter.stop(), Some(0));
}

/// Reads until the peer closes or `limit` passes; returns how long it took and what came.
fn until_closed(s: &mut TcpStream, limit: Duration) -> (Duration, Option<String>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        match s.read(&mut buf) {
            Ok(0) => {
                return (
                    start.elapsed(),
                    Some(String::from_utf8_lossy(&got).into_owned()),
                )
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                return (
                    start.elapsed(),
                    Some(String::from_utf8_lossy(&got).into_owned()),
                )
            }
        }
    }
    (start.elapsed(), None)
}

#[test]
fn a_client_sending_its_headers_byte_by_byte_is_cut_off() {
    let pki = Pki::new();
    let mut exporter = Exporter::start(&module("smtp", &pki, ""), &["--header-timeout", "1"]);
    let addr = exporter.addr;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: e\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(200)
        );
        let start = Instant::now();
        // One byte every 50 ms: the whole head would take over 12 s.
        for b in request.bytes() {
            if s.write_all(&[b]).is_err() || start.elapsed() > Duration::from_secs(8) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let sent_for = start.elapsed();
        let (_, answer) = until_closed(&mut s, Duration::from_secs(5));
        (sent_for, answer)
    });
    // Meanwhile the server answers everyone else at once.
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(get(addr, "/metrics", &[]).status, 200);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }
    let (sent_for, answer) = slow.join().expect("slow client");
    assert!(
        sent_for < Duration::from_secs(3),
        "the slow client could write for {sent_for:?}"
    );
    let answer = answer.unwrap_or_default();
    assert!(
        !answer.contains("200 OK"),
        "the slow client was served: {answer}"
    );
    // Idle connections (no byte at all) are closed by the same limit.
    let mut idle = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    let (after, closed) = until_closed(&mut idle, Duration::from_secs(5));
    assert!(
        closed.is_some() && after < Duration::from_secs(3),
        "idle for {after:?}"
    );
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn huge_headers_get_431_and_the_server_goes_on() {
    let pki = Pki::new();
    let mut exporter = Exporter::start(&module("smtp", &pki, ""), &[]);
    let addr = exporter.addr;
    for (fields, size) in [(4, 32 * 1024), (200, 64)] {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut request = String::from("GET /metrics HTTP/1.1\r\nHost: e\r\n");
        for i in 0..fields {
            request.push_str(&format!("X-Big-{i}: {}\r\n", "b".repeat(size)));
        }
        request.push_str("\r\n");
        // The server may close before it has read everything: a failed write is part of the expected outcome.
        let _ = s.write_all(request.as_bytes());
        let (_, answer) = until_closed(&mut s, Duration::from_secs(5));
        let answer = answer.unwrap_or_default();
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
            "{fields} fields of {size} bytes: {answer}"
        );
        assert_eq!(get(addr, "/metrics", &[]).status, 200);
    }
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn connections_beyond_the_limit_are_closed_on_arrival() {
    let pki = Pki::new();
    let mut exporter = Exporter::start(
        &module("smtp", &pki, ""),
        &["--max-connections", "2", "--header-timeout", "5"],
    );
    let addr = exporter.addr;
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"))
        .collect();
    // The exporter accepts in its own time: wait (bounded) until the third connection is turned away.
    let mut turned_away = false;
    for _ in 0..20 {
        let mut extra = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        let _ = extra.write_all(b"GET /metrics HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n");
        let (after, answer) = until_closed(&mut extra, Duration::from_secs(2));
        if answer.as_deref() == Some("") && after < Duration::from_secs(1) {
            turned_away = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        turned_away,
        "a third connection was served beside two held ones"
    );
    drop(held);
    // Slots free again once the held connections are gone.
    let mut metrics = None;
    for _ in 0..50 {
        let a = get(addr, "/metrics", &[]);
        if a.status == 200 {
            metrics = Some(a);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = metrics.expect("served again after the held connections closed");
    let rejected = sample(
        &metrics.body,
        "smtp_doctor_exporter_connections_rejected_total",
        &[],
    )
    .and_then(|v| v.parse::<f64>().ok())
    .unwrap_or(0.0);
    assert!(rejected >= 1.0, "{}", metrics.body);
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn metrics_tells_the_exporters_own_health() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Smtp(Script::new()));
    let mut exporter = Exporter::start(&module("smtp", &pki, ""), &["--max-concurrent", "3"]);
    let target = format!("localhost:{}", server.port());
    assert_eq!(
        get(exporter.addr, &probe_url(&target, "smtp"), &[]).status,
        200
    );
    assert_eq!(
        get(exporter.addr, &probe_url(&target, "x"), &[]).status,
        400
    );
    let m = get(exporter.addr, "/metrics", &[]);
    assert_eq!(m.status, 200);
    let b = &m.body;
    assert_eq!(
        sample(
            b,
            "smtp_doctor_exporter_requests_total",
            &[("path", "/probe"), ("code", "200")]
        )
        .as_deref(),
        Some("1"),
        "{b}"
    );
    assert_eq!(
        sample(
            b,
            "smtp_doctor_exporter_requests_total",
            &[("path", "/probe"), ("code", "400")]
        )
        .as_deref(),
        Some("1"),
        "{b}"
    );
    assert_eq!(
        sample(b, "smtp_doctor_exporter_probes_in_flight", &[]).as_deref(),
        Some("0")
    );
    assert_eq!(
        sample(b, "smtp_doctor_exporter_probes_max", &[]).as_deref(),
        Some("3")
    );
    assert_eq!(
        sample(
            b,
            "smtp_doctor_exporter_probe_duration_seconds_count",
            &[("module", "smtp")]
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        sample(
            b,
            "smtp_doctor_exporter_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .as_deref(),
        Some("1")
    );
    // /metrics is about the exporter, never a probe.
    assert!(!b.contains("probe_success"));
    assert_eq!(exporter.stop(), Some(0));
}

#[test]
fn sigterm_answers_the_probe_in_flight_then_exits_0() {
    let pki = Pki::new();
    let server = Server::start(Behaviour::Silent);
    let mut exporter = Exporter::start(&module("slow", &pki, "timeout = 30"), &[]);
    let addr = exporter.addr;
    let url = probe_url(&format!("localhost:{}", server.port()), "slow");
    let in_flight = std::thread::spawn(move || {
        get(
            addr,
            &url,
            &[("X-Prometheus-Scrape-Timeout-Seconds", "2.5")],
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    assert_eq!(exporter.stop(), Some(0), "{}", exporter.stderr());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let a = in_flight.join().expect("request in flight");
    assert_eq!(a.status, 200, "{a:?}");
    assert!(
        exporter.stderr().contains("SIGTERM"),
        "{}",
        exporter.stderr()
    );
    // Nothing listens any more.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

#[test]
fn a_config_error_is_exit_2_naming_the_file_line_and_key() {
    for (text, words) in [
        ("[modules.a]\nports = [587]\nprots = [25]\n", ":3: modules.a.prots: unknown field"),
        ("[modules.a]\nuser = \"u\"\npassword_env = \"SDTEST_SERVE_UNSET_VAR\"\n", ":3: modules.a.password_env: the environment variable SDTEST_SERVE_UNSET_VAR is not set"),
        ("[modules.a]\npassword = \"hunter2\"\n", ":2: modules.a.password: a password never goes in the config file"),
    ] {
        let file = config_file(text);
        let mut cmd = exporter_command(file.path(), &[]);
        cmd.env_remove("SDTEST_SERVE_UNSET_VAR");
        let out = cmd.output().expect("run smtp-doctor serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let path = file.path().display().to_string();
        assert!(stderr.contains(&format!("{path}{words}")), "{stderr}");
        assert!(!stderr.contains("hunter2"));
    }
}
