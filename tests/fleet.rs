//! End to end: `check` over several targets (HOSTs, --targets) against scripted servers, the JSON document and
//! JSON lines parsed strictly, a malformed file and an unset password variable, and the one descriptor budget.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    plaintext_session, run_doctor, AuthResult, Behaviour, Limits, Pki, Run, Script, Server,
    RUN_LIMIT,
};
use smtp_doctor::diagnosis::{Code, Layer};
use smtp_doctor::output::document::{JsonFleetReport, JsonTargetResult, TargetStatus};

const USER: &str = "shop@scripted.test";
const PASSWORD: &str = "Fl33t-pa55word-in-env";
const VAR: &str = "SDTEST_FLEET_SHOP_PASSWORD";

fn healthy(pki: &Pki) -> Script {
    Script::new().starttls(pki.trusted.clone())
}

/// Three servers (healthy, 421-busy, healthy with AUTH) and a file with four targets: the three, and one
/// whose password variable is not set.
struct Fleet {
    pki: Pki,
    _servers: Vec<Server>,
    file: tempfile::NamedTempFile,
}

impl Fleet {
    fn new() -> Fleet {
        let pki = Pki::new();
        let ok = Server::start(Behaviour::Smtp(healthy(&pki)));
        let busy = Server::start(Behaviour::Smtp(
            Script::new()
                .greeting("421 4.3.2 mx.scripted.test busy, try later")
                .close_after_greeting(),
        ));
        let auth = Server::start(Behaviour::Smtp(healthy(&pki).auth(
            &["PLAIN", "LOGIN"],
            AuthResult::Check {
                user: USER.into(),
                password: PASSWORD.into(),
            },
        )));
        let text = format!(
            r#"# four targets, one of them without its password
[[target]]
name = "plain"
host = "localhost:{ok}"

[[target]]
name = "busy"
host = "localhost"
ports = [{busy}]

[[target]]
name = "shop"
host = "localhost:{auth}"
user = "{USER}"
password_env = "{VAR}"

[[target]]
name = "billing"
host = "localhost:{auth}"
user = "billing@scripted.test"
password_env = "SDTEST_FLEET_UNSET_PASSWORD"
"#,
            ok = ok.port(),
            busy = busy.port(),
            auth = auth.port(),
        );
        let mut file = tempfile::NamedTempFile::new().expect("targets file");
        file.write_all(text.as_bytes())
            .expect("write the targets file");
        Fleet {
            pki,
            _servers: vec![ok, busy, auth],
            file,
        }
    }

    fn run(&self, extra: &[&str]) -> Run {
        let ca = self.pki.ca_arg();
        let path = self.file.path().display().to_string();
        let mut args = vec![
            "check",
            "--targets",
            &path,
            "-4",
            "--mode",
            "starttls",
            "--timeout",
            "2",
            "--ca-file",
            &ca,
        ];
        args.extend_from_slice(extra);
        let run = run_with_env(&args, &[(VAR, PASSWORD)]);
        assert!(!run.timed_out, "ran past the limit: {run:?}");
        assert!(
            !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
            "the password appears in the output"
        );
        run
    }
}

/// Runs the binary with extra environment variables (run_doctor passes only SMTP_DOCTOR_PASSWORD).
fn run_with_env(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"));
    cmd.args(args)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .env_remove("SDTEST_FLEET_UNSET_PASSWORD");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SMTP_DOCTOR_") {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    output_within(cmd, RUN_LIMIT)
}

/// Runs `cmd` to its end: both pipes read in threads, the child killed past `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Run {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smtp-doctor");
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(st)) => break (Some(st), false),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                break (child.wait().ok(), true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for smtp-doctor: {e}"),
        }
    };
    Run {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
        timed_out,
        peak_rss_kb: None,
        max_rss_bound_kb: None,
    }
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

const ENTRY_KEYS: &[&str] = &[
    "index",
    "name",
    "input",
    "status",
    "ok",
    "elapsed_ms",
    "error",
    "report",
];

/// Each target's status, verdict and code as the fleet scenario wants them.
fn assert_fleet_results(targets: &[JsonTargetResult]) {
    let by_name = |n: &str| {
        targets
            .iter()
            .find(|t| t.name.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no target named {n}: {targets:#?}"))
    };
    let plain = by_name("plain");
    assert_eq!(plain.status, TargetStatus::Ok, "{plain:#?}");
    assert!(plain.ok && plain.error.is_none());
    let busy = by_name("busy");
    assert_eq!(busy.status, TargetStatus::Problem);
    let report = busy.report.as_ref().expect("busy was probed");
    assert_eq!(report.verdict.layer, Layer::Server);
    assert_eq!(report.verdict.code, Some(Code::ServerBusy));
    let shop = by_name("shop");
    assert_eq!(shop.status, TargetStatus::Ok, "{shop:#?}");
    let auth = shop
        .report
        .as_ref()
        .and_then(|r| r.ports[0].attempts[0].auth.as_ref());
    assert_eq!(
        auth.map(|a| a.outcome),
        Some(smtp_doctor::report::AuthOutcome::Accepted),
        "the password reached the server from its variable"
    );
    let billing = by_name("billing");
    assert_eq!(billing.status, TargetStatus::Error);
    assert!(!billing.ok && billing.report.is_none());
    let error = billing.error.as_ref().expect("why billing was not probed");
    assert_eq!(error.code, "password_unset");
    assert!(
        error.message.contains("SDTEST_FLEET_UNSET_PASSWORD"),
        "{}",
        error.message
    );
}

#[test]
fn one_document_holds_a_report_per_target_in_the_order_given() {
    let fleet = Fleet::new();
    let run = fleet.run(&["--json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", run.stdout));
    assert_eq!(
        keys(&value),
        set(&["schema_version", "ok", "counts", "targets", "elapsed_ms"])
    );
    for t in value["targets"].as_array().expect("targets is a list") {
        assert_eq!(keys(t), set(ENTRY_KEYS));
    }
    let doc: JsonFleetReport = serde_json::from_value(value).expect("a JsonFleetReport");
    assert_eq!(doc.schema_version, 1);
    assert!(!doc.ok);
    assert_eq!(
        (doc.counts.ok, doc.counts.problem, doc.counts.error),
        (2, 1, 1)
    );
    let order: Vec<usize> = doc.targets.iter().map(|t| t.index).collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
    let names: Vec<&str> = doc
        .targets
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    assert_eq!(names, vec!["plain", "busy", "shop", "billing"]);
    assert_fleet_results(&doc.targets);
    // Nothing but the document: no progress line without a terminal, and never in JSON modes.
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn json_lines_give_one_object_per_target_as_each_finishes() {
    let fleet = Fleet::new();
    let run = fleet.run(&["--json-lines"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let mut targets = Vec::new();
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert_eq!(keys(&value), set(ENTRY_KEYS), "{line}");
        targets
            .push(serde_json::from_value::<JsonTargetResult>(value).expect("a JsonTargetResult"));
    }
    let mut indexes: Vec<usize> = targets.iter().map(|t| t.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    // The target that was never probed is written first: it had nothing to wait for.
    assert_eq!(targets[0].name.as_deref(), Some("billing"));
    assert_fleet_results(&targets);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn people_get_each_report_and_a_summary_line_per_target() {
    let fleet = Fleet::new();
    let run = fleet.run(&[]);
    assert_eq!(run.code, Some(1));
    let out = &run.stdout;
    for heading in [
        "] plain (localhost:",
        "] busy (localhost)",
        "] shop (localhost:",
        "] billing (localhost:",
    ] {
        assert!(out.contains(heading), "{heading}: {out}");
    }
    assert!(out.contains("NOT PROBED [password_unset]"), "{out}");
    let summary: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("SUMMARY"))
        .collect();
    assert!(
        summary[0].contains("4 targets")
            && summary[0].contains("2 ok, 1 with a problem, 1 not probed"),
        "{out}"
    );
    let header: Vec<&str> = summary[1].split_whitespace().collect();
    assert_eq!(header, ["#", "TARGET", "OK", "LAYER", "CODE", "TIME"]);
    let rows: Vec<Vec<&str>> = summary[2..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert_eq!(rows[0][..2], ["1", "plain"]);
    assert_eq!(rows[0][3..5], ["✓", "none"]);
    assert_eq!(rows[1][3..6], ["✗", "server", "server_busy"]);
    assert_eq!(rows[3][3..6], ["✗", "-", "password_unset"]);
    assert_eq!(rows[3].last(), Some(&"-"));
    assert!(
        run.stderr.is_empty(),
        "no progress line on a pipe: {}",
        run.stderr
    );
}

#[test]
fn several_hosts_that_all_work_exit_0() {
    let pki = Pki::new();
    let a = Server::start(Behaviour::Smtp(healthy(&pki)));
    let b = Server::start(Behaviour::Smtp(healthy(&pki)));
    let ca = pki.ca_arg();
    let (ha, hb) = (
        format!("localhost:{}", a.port()),
        format!("localhost:{}", b.port()),
    );
    let run = run_doctor(
        &[
            "check",
            &ha,
            &hb,
            "-4",
            "--mode",
            "starttls",
            "--timeout",
            "2",
            "--ca-file",
            &ca,
            "--json",
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let doc: JsonFleetReport = serde_json::from_str(&run.stdout).expect("a JsonFleetReport");
    assert!(doc.ok);
    let inputs: Vec<&str> = doc.targets.iter().map(|t| t.input.as_str()).collect();
    assert_eq!(inputs, vec![ha.as_str(), hb.as_str()]);
    assert!(doc
        .targets
        .iter()
        .all(|t| t.name.is_none() && t.status == TargetStatus::Ok));
}

#[test]
fn one_host_with_json_lines_is_one_line() {
    let pki = Pki::new();
    let a = Server::start(Behaviour::Smtp(healthy(&pki)));
    let ca = pki.ca_arg();
    let host = format!("localhost:{}", a.port());
    let run = run_doctor(
        &[
            "check",
            &host,
            "-4",
            "--timeout",
            "2",
            "--ca-file",
            &ca,
            "--mode",
            "starttls",
            "--json-lines",
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    let t: JsonTargetResult =
        serde_json::from_str(run.stdout.trim_end()).expect("one JsonTargetResult");
    assert_eq!((t.index, t.status), (0, TargetStatus::Ok));
}

#[test]
fn a_malformed_targets_file_is_exit_2_naming_the_file_line_and_key() {
    let mut file = tempfile::NamedTempFile::new().expect("targets file");
    file.write_all(b"[[target]]\nhost = \"a.example\"\n\n[[target]]\nhost = \"b.example\"\nports = [587, 99999]\n")
        .expect("write");
    let path = file.path().display().to_string();
    let run = run_doctor(&["check", "--targets", &path, "--json"], None);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let want = format!("the targets file {path}, line 6, key ports: 99999 is not a port");
    assert!(run.stderr.contains(&want), "{}", run.stderr);

    let run = run_doctor(&["check", "--targets", "/nonexistent/fleet.toml"], None);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("/nonexistent/fleet.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn env_file_stays_one_target() {
    let run = run_doctor(
        &["check", "a.example", "b.example", "--env-file", "/x/.env"],
        None,
    );
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("--env-file probes the one server"),
        "{}",
        run.stderr
    );
}

/// A server whose sessions count themselves: the most open at any moment is how many chains ran at once.
struct Counting {
    server: Server,
    peak: Arc<AtomicUsize>,
}

fn counting_server(pki: &Pki, connections: usize) -> Counting {
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    // Slow replies keep each session open long enough for the others to pile up, if they may.
    let script = healthy(pki).reply_delay(Duration::from_millis(60));
    let (o, p) = (open.clone(), peak.clone());
    let handler: common::Handler = Arc::new(move |tcp, s| {
        let (o, p, script) = (o.clone(), p.clone(), script.clone());
        Box::pin(async move {
            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            plaintext_session(tcp, &script, &s).await;
            o.fetch_sub(1, Ordering::SeqCst);
        })
    });
    let limits = Limits {
        max_connections: connections,
        ..Limits::default()
    };
    Counting {
        server: Server::start_with(Behaviour::Custom(handler), limits),
        peak,
    }
}

fn many_targets(port: u16, n: usize) -> tempfile::NamedTempFile {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[target]]\nname = \"t{i}\"\nhost = \"localhost:{port}\"\n\n"
        ));
    }
    let mut file = tempfile::NamedTempFile::new().expect("targets file");
    file.write_all(text.as_bytes()).expect("write");
    file
}

/// Every target is ok and the server saw at most `most` sessions at once.
fn assert_all_ok_and_peak(run: &Run, peak: usize, most: usize, n: usize) {
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let doc: JsonFleetReport = serde_json::from_str(&run.stdout).expect("a JsonFleetReport");
    assert_eq!(doc.counts.ok, n);
    // At least two at once: the targets do run side by side, up to the bound.
    assert!(
        peak >= 2 && peak <= most,
        "{peak} sessions at once (at most {most})"
    );
}

#[test]
fn concurrency_bounds_the_targets_in_flight() {
    let pki = Pki::new();
    let n = 9;
    let c = counting_server(&pki, n);
    let file = many_targets(c.server.port(), n);
    let (ca, path) = (pki.ca_arg(), file.path().display().to_string());
    let run = run_doctor(
        &[
            "check",
            "--targets",
            &path,
            "--mode",
            "starttls",
            "--timeout",
            "3",
            "--ca-file",
            &ca,
            "-4",
            "--concurrency",
            "3",
            "--json",
        ],
        None,
    );
    assert_all_ok_and_peak(&run, c.peak.load(Ordering::SeqCst), 3, n);
}

/// With RLIMIT_NOFILE at 100 (soft and hard), the budget holds (100 - 64) / FDS_PER_CHAIN = 9 chains, whatever
/// --concurrency allows: the targets share it, and the others wait for their turn rather than fail with EMFILE.
#[test]
fn one_descriptor_budget_is_shared_by_every_target() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let pki = Pki::new();
    let n = 12;
    let c = counting_server(&pki, n);
    let file = many_targets(c.server.port(), n);
    let (ca, path) = (pki.ca_arg(), file.path().display().to_string());
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=100:100", "--", env!("CARGO_BIN_EXE_smtp-doctor")])
        .args([
            "check",
            "--targets",
            &path,
            "--mode",
            "starttls",
            "--timeout",
            "3",
            "--ca-file",
            &ca,
        ])
        .args(["-4", "--concurrency", "12", "--json"])
        .stdin(Stdio::null());
    let run = output_within(cmd, RUN_LIMIT);
    assert!(!run.timed_out, "{}", run.stderr);
    let most = (100 - 64) / smtp_doctor::probes::budget::FDS_PER_CHAIN as usize;
    assert_all_ok_and_peak(&run, c.peak.load(Ordering::SeqCst), most, n);
}

#[test]
fn prometheus_writes_one_exposition_for_every_probed_target() {
    let fleet = Fleet::new();
    let run = fleet.run(&["--format", "prometheus"]);
    // As for one target: exit 0 once the exposition is written, whatever the targets' verdicts.
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let success: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("probe_success{"))
        .collect();
    assert_eq!(
        success.len(),
        3,
        "one probe_success per probed target:\n{}",
        run.stdout
    );
    assert_eq!(
        success.iter().filter(|l| l.ends_with(" 1")).count(),
        2,
        "plain and shop work, busy does not:\n{}",
        run.stdout
    );
    // One HELP and one TYPE per family, however many targets share it.
    let help = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("# HELP probe_success "))
        .count();
    assert_eq!(help, 1, "{}", run.stdout);
    // The target without its password has no series, and stderr says why.
    assert!(
        run.stderr.contains("billing") && run.stderr.contains("SDTEST_FLEET_UNSET_PASSWORD"),
        "{}",
        run.stderr
    );
}

#[test]
fn nagios_refuses_several_targets_as_unknown() {
    let fleet = Fleet::new();
    let run = fleet.run(&["--format", "nagios"]);
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("SMTP UNKNOWN - ") && run.stdout.contains("one server"),
        "{}",
        run.stdout
    );
}
