//! Ctrl-C and SIGTERM against the real binary: the first writes what is known and exits 130 (143), a second exits at once.
//!
//! Every run targets silent scripted servers on loopback (they accept and never greet) with `--timeout 30`, so
//! only the signal can end it early; every wait is bounded and a run that overruns is killed.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_doctor_watched, stage, Behaviour, Limits, Run, Server};
use smtp_doctor::diagnosis::{Code, Layer};
use smtp_doctor::output::document::JsonReport;
use smtp_doctor::report::{StageName, StageStatus};

/// Far beyond the signal: a run that waited for it would take this long per stage.
const LONG_TIMEOUT: &str = "30";
/// When the first signal is sent, after the start.
const FIRST_SIGNAL: Duration = Duration::from_millis(1000);
/// How soon after the signal the report must be out: well under the timeout.
const PROMPT: Duration = Duration::from_secs(5);
/// Wall-clock limit of one run; past it the run is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(20);

/// A server that accepts and never sends a byte, for longer than any run here.
fn silent() -> Server {
    Server::start_with(
        Behaviour::Silent,
        Limits {
            io: Duration::from_secs(60),
            connection: Duration::from_secs(60),
            ..Limits::default()
        },
    )
}

/// Sends `signal` to `pid`; false when it could not be sent.
fn send(pid: u32, signal: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) takes any pid and signal number; the pid is our own child's.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Runs smtp-doctor with `args` and sends `signal` once, `FIRST_SIGNAL` after the start; also returns how long
/// the run went on after the signal (None when it was never sent).
fn run_interrupted(args: &[&str], signal: libc::c_int) -> (Run, Option<Duration>) {
    let start = Instant::now();
    let mut sent_at = None;
    let run = run_doctor_watched(args, None, LIMIT, &mut |pid| {
        if sent_at.is_none() && start.elapsed() >= FIRST_SIGNAL && send(pid, signal) {
            sent_at = Some(start.elapsed());
        }
    });
    let after = sent_at.map(|at| run.elapsed.saturating_sub(at));
    (run, after)
}

/// The run ended by itself soon after the signal, not by the time limit.
fn assert_prompt(run: &Run, after_signal: Option<Duration>) {
    assert!(!run.timed_out, "killed at the time limit: {run:?}");
    let Some(after) = after_signal else {
        panic!("the signal was never sent: {run:?}");
    };
    assert!(
        after < PROMPT,
        "went on for {after:?} after the signal: {run:?}"
    );
}

fn report(run: &Run) -> JsonReport {
    run.report()
}

/// `check 127.0.0.1 -p PORT --timeout 30 EXTRA…` against one silent server, stopped by `signal` after
/// `FIRST_SIGNAL`; checked to have ended promptly. Returns the run and the server's port.
fn one_silent_port(extra: &[&str], signal: libc::c_int) -> (Run, String) {
    let server = silent();
    let port = server.port().to_string();
    let mut args = vec!["check", "127.0.0.1", "-p", &port, "--timeout", LONG_TIMEOUT];
    args.extend_from_slice(extra);
    let (run, after) = run_interrupted(&args, signal);
    assert_prompt(&run, after);
    drop(server);
    (run, port)
}

#[test]
fn ctrl_c_during_a_silent_greeting_writes_the_report_and_exits_130() {
    let (run, _) = one_silent_port(&["--mode", "starttls", "--json"], libc::SIGINT);
    assert_eq!(run.code, Some(130), "{run:?}");
    let r = report(&run);
    assert!(r.interrupted, "{}", run.stdout);
    assert!(!r.ok);
    assert_eq!(r.verdict.layer, Layer::None, "{:?}", r.verdict);
    assert_eq!(r.verdict.code, Some(Code::Interrupted), "{:?}", r.verdict);
    let p = &r.ports[0];
    assert_eq!(stage(p, StageName::Connect).status, StageStatus::Ok);
    let greeting = stage(p, StageName::Greeting);
    assert_eq!(greeting.status, StageStatus::Interrupted, "{p:?}");
    assert!(greeting.elapsed_ms >= 500.0, "{greeting:?}");
    // Stages not reached stay absent, and nothing is guessed from the cut greeting.
    assert!(p.stages.iter().all(|s| s.name != StageName::Ehlo), "{p:?}");
    assert!(
        r.findings.iter().all(|f| f.code != Code::GreetingSilent),
        "{:?}",
        r.findings
    );
    assert!(run.stderr.contains("SIGINT"), "{}", run.stderr);
}

#[test]
fn sigterm_writes_the_report_and_exits_143() {
    let (run, _) = one_silent_port(&["--json"], libc::SIGTERM);
    assert_eq!(run.code, Some(143), "{run:?}");
    let r = report(&run);
    assert!(r.interrupted);
    assert_eq!(
        stage(&r.ports[0], StageName::Greeting).status,
        StageStatus::Interrupted
    );
    let f = r.findings.iter().find(|f| f.code == Code::Interrupted);
    assert!(
        f.is_some_and(|f| f.message.contains("SIGTERM")),
        "{:?}",
        r.findings
    );
}

#[test]
fn people_read_interrupted_in_the_table_and_the_verdict() {
    let (run, port) = one_silent_port(&["--color", "never"], libc::SIGINT);
    assert_eq!(run.code, Some(130), "{run:?}");
    for said in [
        "interrupted by SIGINT",
        "INTERRUPTED [none/interrupted]",
        "the greeting on 127.0.0.1:",
    ] {
        assert!(
            run.stdout.contains(said),
            "{said:?} missing:\n{}",
            run.stdout
        );
    }
    let row = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&port))
        .unwrap_or_default();
    assert!(row.contains('…') && row.ends_with("interrupted"), "{row:?}");
}

#[test]
fn nagios_says_unknown_when_interrupted() {
    let (run, _) = one_silent_port(&["--format", "nagios"], libc::SIGINT);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stdout
            .starts_with("SMTP UNKNOWN - interrupted by SIGINT"),
        "{}",
        run.stdout
    );
}

/// Starts smtp-doctor with stdout in a pipe nobody reads, shrunk to one page, so that a report longer than
/// that blocks the writing process; stderr is discarded.
fn spawn_blocked_writer(args: &[&str]) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1")
        .spawn()
        .expect("start smtp-doctor");
    if let Some(out) = child.stdout.as_ref() {
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor this process owns; the kernel rounds up to one page.
        unsafe { libc::fcntl(out.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    }
    child
}

/// Waits (bounded) for the child to end; its exit code, or None when it had to be killed.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<Option<i32>> {
    let start = Instant::now();
    while start.elapsed() < limit {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.code()),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_second_ctrl_c_exits_at_once_while_the_report_is_still_being_written() {
    let servers: Vec<Server> = (0..4).map(|_| silent()).collect();
    let ports: Vec<String> = servers.iter().map(|s| s.port().to_string()).collect();
    let mut args = vec!["check", "127.0.0.1", "--timeout", LONG_TIMEOUT, "--json"];
    for p in &ports {
        args.extend(["-p", p.as_str()]);
    }
    let mut child = spawn_blocked_writer(&args);
    std::thread::sleep(FIRST_SIGNAL);
    assert!(send(child.id(), libc::SIGINT), "first SIGINT");
    // The report (several ports, each with its attempt) is longer than the pipe holds: the writer blocks.
    std::thread::sleep(Duration::from_millis(1500));
    let still_writing = matches!(child.try_wait(), Ok(None));
    if !still_writing {
        let _ = child.wait();
        panic!("the first SIGINT's report fit in the pipe; the test needs a longer one");
    }
    let second = Instant::now();
    assert!(send(child.id(), libc::SIGINT), "second SIGINT");
    let code = wait_bounded(&mut child, Duration::from_secs(5));
    let took = second.elapsed();
    assert_eq!(code, Some(Some(130)), "after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?} to exit");
    // What reached the pipe is the start of a document, cut where the second signal came.
    let mut written = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut written);
    }
    assert!(written.starts_with('{'), "{written:?}");
    assert!(serde_json::from_str::<JsonReport>(&written).is_err());
    drop(servers);
}

#[test]
fn several_targets_report_what_finished_and_mark_the_rest_interrupted() {
    use smtp_doctor::output::document::{JsonFleetReport, TargetStatus};
    let servers: Vec<Server> = (0..3).map(|_| silent()).collect();
    let targets: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port()))
        .collect();
    let mut args = vec!["check"];
    args.extend(targets.iter().map(String::as_str));
    args.extend(["--concurrency", "1", "--timeout", LONG_TIMEOUT, "--json"]);
    let (run, after) = run_interrupted(&args, libc::SIGINT);
    assert_prompt(&run, after);
    assert_eq!(run.code, Some(130), "{run:?}");
    let doc: JsonFleetReport = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a fleet document ({e}):\n{}", run.stdout));
    assert!(doc.interrupted && !doc.ok);
    assert_eq!(doc.targets.len(), 3);
    assert_eq!(doc.counts.interrupted, 3, "{:?}", doc.counts);
    // One at a time: one target was under way (its greeting cut), the two others never began.
    let began: Vec<_> = doc
        .targets
        .iter()
        .filter_map(|t| t.report.as_ref())
        .collect();
    assert_eq!(began.len(), 1, "{}", run.stdout);
    assert!(began[0].interrupted);
    assert_eq!(
        stage(&began[0].ports[0], StageName::Greeting).status,
        StageStatus::Interrupted
    );
    for t in &doc.targets {
        assert_eq!(t.status, TargetStatus::Interrupted, "{t:?}");
        if t.report.is_none() {
            assert_eq!(
                t.error.as_ref().map(|e| e.code.as_str()),
                Some("interrupted")
            );
        }
    }
    drop(servers);
}

/// A `postconf` of our own, first on PATH, and a Postfix configuration directory for it: it prints `relay` as
/// relayhost when one is given, else it hangs (as a postconf stuck on a slow disk would).
struct FakePostfix {
    dir: tempfile::TempDir,
}

impl FakePostfix {
    fn new(relay: Option<&str>) -> FakePostfix {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("bin");
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::fs::create_dir_all(&etc).expect("etc dir");
        std::fs::write(etc.join("main.cf"), "").expect("main.cf");
        let body = match relay {
            Some(r) => format!("echo 'relayhost = {r}'\necho 'mail_version = 3.8.0'\n"),
            // exec: the process smtp-doctor kills is the sleep itself, so nothing outlives the test.
            None => "exec sleep 30\n".to_string(),
        };
        let script = bin.join("postconf");
        std::fs::write(&script, format!("#!/bin/sh\n{body}")).expect("postconf script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        FakePostfix { dir }
    }

    fn config(&self) -> String {
        self.dir.path().join("etc").to_string_lossy().into_owned()
    }

    /// PATH with our postconf first.
    fn path(&self) -> String {
        let ours = self.dir.path().join("bin");
        format!(
            "{}:{}",
            ours.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// Runs `smtp-doctor mta` with the fake postconf and sends SIGINT after `FIRST_SIGNAL`, once `ready` holds
/// (checked for at most `LIMIT`); (exit code, stdout).
fn mta_interrupted(fake: &FakePostfix, ready: &dyn Fn() -> bool) -> (Option<i32>, String) {
    let config = fake.config();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"))
        .args([
            "mta",
            "--postfix-config",
            &config,
            "--timeout",
            LONG_TIMEOUT,
            "--json",
        ])
        .env("PATH", fake.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smtp-doctor mta");
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = (&mut out).take(4 << 20).read_to_string(&mut text);
            text
        })
    });
    std::thread::sleep(FIRST_SIGNAL);
    let waited = Instant::now();
    while !ready() && waited.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    assert!(send(child.id(), libc::SIGINT), "SIGINT");
    let code = wait_bounded(&mut child, PROMPT);
    assert!(
        code.is_some(),
        "still running {:?} after the signal",
        sent.elapsed()
    );
    let stdout = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    (code.flatten(), stdout)
}

#[test]
fn mta_cut_while_reading_the_mta_says_nothing_of_it() {
    use smtp_doctor::output::document::JsonMtaReport;
    let fake = FakePostfix::new(None);
    let (code, stdout) = mta_interrupted(&fake, &|| true);
    assert_eq!(code, Some(130), "{stdout}");
    let doc: JsonMtaReport = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not an mta document ({e}):\n{stdout}"));
    assert!(doc.interrupted && !doc.ok);
    assert_eq!(doc.verdict.code, Some(Code::Interrupted));
    // Not "no MTA found": it was never read.
    let codes: Vec<Code> = doc.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![Code::Interrupted], "{stdout}");
    assert!(doc.check.is_none());
}

#[test]
fn mta_cut_during_the_relay_probe_keeps_what_the_mta_said() {
    use smtp_doctor::output::document::JsonMtaReport;
    let server = silent();
    let fake = FakePostfix::new(Some(&format!("[127.0.0.1]:{}", server.port())));
    // The MTA's own tools (its queue, its maps) take their time here: the signal waits for the probe's connect.
    let (code, stdout) = mta_interrupted(&fake, &|| server.log().connections > 0);
    assert_eq!(code, Some(130), "{stdout}");
    let doc: JsonMtaReport = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not an mta document ({e}):\n{stdout}"));
    assert!(doc.interrupted);
    let check = doc.check.as_ref().expect("the relay probe's report");
    assert!(check.interrupted);
    assert_eq!(
        stage(&check.ports[0], StageName::Greeting).status,
        StageStatus::Interrupted
    );
    assert!(
        check.findings.iter().any(|f| f.code == Code::Interrupted),
        "{stdout}"
    );
    drop(server);
}

#[test]
fn ctrl_c_during_a_dns_lookup_marks_it_interrupted_not_timed_out() {
    use smtp_doctor::report::DnsOutcome;
    // A resolver that takes every question and answers none: a UDP socket nobody reads. --resolver asks port 53,
    // which only root (or CAP_NET_BIND_SERVICE) may bind.
    let Ok(resolver) = std::net::UdpSocket::bind("127.0.0.2:53") else {
        eprintln!("skipped: binding 127.0.0.2:53 needs root");
        return;
    };
    let args = [
        "check",
        "mail.interrupt.test",
        "--resolver",
        "127.0.0.2",
        "-p",
        "587",
        "--timeout",
        LONG_TIMEOUT,
        "--json",
    ];
    let (run, after) = run_interrupted(&args, libc::SIGINT);
    assert_prompt(&run, after);
    assert_eq!(run.code, Some(130), "{run:?}");
    let r = report(&run);
    assert!(r.interrupted);
    assert_eq!(r.dns.a.outcome, DnsOutcome::Interrupted, "{:?}", r.dns);
    assert_eq!(r.dns.aaaa.outcome, DnsOutcome::Interrupted, "{:?}", r.dns);
    // No resolver_dead, no address-less port blamed on DNS: only the interruption.
    let codes: Vec<Code> = r.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![Code::Interrupted], "{}", run.stdout);
    assert_eq!(r.verdict.layer, Layer::None);
    assert!(r.ports.iter().all(|p| p.attempts.is_empty()));
    drop(resolver);
}
