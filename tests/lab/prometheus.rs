//! The lab's Prometheus scenarios: Debian's promtool lints the exposition, and Debian's prometheus scrapes `serve` in the client namespace.
//!
//! Everything runs in the client namespace and talks only to 127.0.0.1 there and to the lab's documentation
//! addresses. Each process a scenario starts is stopped by it (SIGTERM, SIGKILL past a bound), and every
//! wait is a bounded poll.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{lab_binary, lab_password, run_bounded, script, state_dir};

/// The exporter and Prometheus listen here, inside the client namespace.
const EXPORTER: &str = "127.0.0.1:9125";
const PROMETHEUS: &str = "127.0.0.1:9090";
/// The variable the submission module names for the lab's password.
const PASSWORD_VAR: &str = "SDLAB_SMTP_PASSWORD";
/// How long Prometheus gets to scrape every target at least once.
const SCRAPED_WITHIN: Duration = Duration::from_secs(60);

/// A scenario: its name and what it runs.
pub type PromScenario = (&'static str, fn() -> Result<String, String>);
/// The labels of one series as Prometheus' API gives them.
type Labels = serde_json::Map<String, serde_json::Value>;

pub fn scenarios() -> Vec<PromScenario> {
    vec![
        ("120_prometheus_promtool_checks_the_exposition", promtool),
        ("121_prometheus_scrapes_serve", scrape),
    ]
}

fn dir() -> PathBuf {
    Path::new(&state_dir()).join("prometheus")
}

fn promtool_path() -> Result<&'static str, String> {
    let p = "/usr/bin/promtool";
    if Path::new(p).exists() {
        Ok(p)
    } else {
        Err("promtool is missing (Debian package prometheus; tests/lab/install-deps.sh installs it)".into())
    }
}

/// `promtool check metrics` on an exposition: Ok when it finds nothing to say.
fn lint(text: &str, what: &str) -> Result<(), String> {
    let file = dir().join(format!("{what}.prom"));
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let mut c = Command::new(promtool_path()?);
    c.args(["check", "metrics"])
        .stdin(File::open(&file).map_err(|e| format!("cannot open {}: {e}", file.display()))?);
    let (code, out, err) = run_bounded(c, Duration::from_secs(30))?;
    if code == Some(0) && out.trim().is_empty() && err.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics on {what} exited {code:?}: {out}{err}"
        ))
    }
}

/// The value of the first sample of `name` with every label of `labels` (exposition text).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next().map(str::to_string))
}

/// `check --format prometheus` in the client namespace: exit 0 whatever the verdict, and promtool finds nothing.
fn promtool() -> Result<String, String> {
    std::fs::create_dir_all(dir())
        .map_err(|e| format!("cannot create {}: {e}", dir().display()))?;
    let ca = format!("{}/ca.pem", state_dir());
    let mut seen = Vec::new();
    for (host, success, layer) in [
        ("mail.lab.example.com", "1", "none"),
        ("busy.lab.example.com", "0", "server"),
        ("nothere.lab.example.com", "0", "dns"),
    ] {
        let mut c = script("run-client.sh");
        c.arg(lab_binary()).args([
            "check",
            host,
            "--format",
            "prometheus",
            "--timeout",
            "2",
            "--ca-file",
            &ca,
        ]);
        let (code, out, err) = run_bounded(c, Duration::from_secs(40))?;
        if code != Some(0) {
            return Err(format!(
                "check {host} --format prometheus exited {code:?}: {err}"
            ));
        }
        lint(&out, host)?;
        let t = [("target", host)];
        if sample(&out, "probe_success", &t).as_deref() != Some(success) {
            return Err(format!("{host}: probe_success is not {success}:\n{out}"));
        }
        if sample(
            &out,
            "smtp_doctor_verdict_info",
            &[("target", host), ("layer", layer)],
        )
        .is_none()
        {
            return Err(format!("{host}: no verdict with layer {layer}:\n{out}"));
        }
        seen.push(format!("{host} {success}"));
    }
    Ok(format!("promtool clean; probe_success {}", seen.join(", ")))
}

/// A process started in the client namespace, its output in a log file; stopped by `stop` or on drop.
struct Running {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Running {
    fn start(
        name: &'static str,
        args: &[String],
        env: &[(&str, String)],
    ) -> Result<Running, String> {
        let log = dir().join(format!("{name}.log"));
        let out =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
        let mut c = script("run-client.sh");
        c.args(args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in env {
            c.env(k, v);
        }
        // run-client.sh, ip netns exec, unshare and in-client.sh each exec the next: the pid is the process itself.
        let child = c.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Running {
            name,
            child: Some(child),
            log,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "{} exited early ({status}): {}",
                self.name,
                self.log()
            )),
            _ => None,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; the exit code when it exited by itself.
    fn stop(&mut self, grace: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// curl in the client namespace (bounded); the body when it answered 2xx.
fn curl(url: &str, headers: &[&str]) -> Result<String, String> {
    let mut c = script("run-client.sh");
    c.args(["curl", "-sS", "--fail", "--max-time", "10"]);
    for h in headers {
        c.args(["-H", h]);
    }
    c.arg(url);
    let (code, out, err) = run_bounded(c, Duration::from_secs(20))?;
    if code == Some(0) {
        Ok(out)
    } else {
        Err(format!("curl {url} exited {code:?}: {err}"))
    }
}

/// One instant query through Prometheus' HTTP API: (labels, value) of each series.
fn query(q: &str) -> Result<Vec<(Labels, String)>, String> {
    let encoded: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let body = curl(
        &format!("http://{PROMETHEUS}/api/v1/query?query={encoded}"),
        &[],
    )?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{q}: not JSON ({e}): {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{q}: {body}"));
    }
    let results = v["data"]["result"].as_array().cloned().unwrap_or_default();
    Ok(results
        .into_iter()
        .filter_map(|r| {
            let labels = r["metric"].as_object()?.clone();
            let value = r["value"][1].as_str()?.to_string();
            Some((labels, value))
        })
        .collect())
}

fn label<'a>(labels: &'a Labels, k: &str) -> &'a str {
    labels.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

const SERVE_CONFIG: &str = r#"# smtp-doctor serve, in the lab's client namespace.
[modules.submission]
ports = [587]
user = "app@lab.example.com"
password_env = "SDLAB_SMTP_PASSWORD"
from = "app@lab.example.com"
ca_file = "@CA@"
timeout = 10

[modules.smtp]
ports = [25]
ca_file = "@CA@"
"#;

/// Blackbox's relabelling: the target becomes the `target` parameter and the instance; the exporter is scraped.
const PROMETHEUS_CONFIG: &str = r#"global:
  scrape_interval: 3s
  scrape_timeout: 3s
scrape_configs:
  - job_name: smtp_submission
    metrics_path: /probe
    params:
      module: [submission]
    static_configs:
      - targets: [mail.lab.example.com]
    relabel_configs: &relabel
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: "@EXPORTER@"
  - job_name: smtp_relay
    metrics_path: /probe
    params:
      module: [smtp]
    static_configs:
      - targets: [mail.lab.example.com, busy.lab.example.com, nothere.lab.example.com]
    relabel_configs: *relabel
  - job_name: smtp_doctor_exporter
    static_configs:
      - targets: ["@EXPORTER@"]
"#;

/// What Prometheus must have scraped: (job, instance, probe_success, verdict layer, verdict code).
const EXPECTED: &[(&str, &str, &str, &str, &str)] = &[
    (
        "smtp_submission",
        "mail.lab.example.com",
        "1",
        "none",
        "none",
    ),
    ("smtp_relay", "mail.lab.example.com", "1", "none", "none"),
    (
        "smtp_relay",
        "busy.lab.example.com",
        "0",
        "server",
        "server_busy",
    ),
    (
        "smtp_relay",
        "nothere.lab.example.com",
        "0",
        "dns",
        "nxdomain",
    ),
];

fn scrape() -> Result<String, String> {
    std::fs::create_dir_all(dir())
        .map_err(|e| format!("cannot create {}: {e}", dir().display()))?;
    let ca = format!("{}/ca.pem", state_dir());
    let serve_config = dir().join("serve.toml");
    let prom_config = dir().join("prometheus.yml");
    let data = dir().join("data");
    let _ = std::fs::remove_dir_all(&data);
    for (path, text) in [
        (&serve_config, SERVE_CONFIG.replace("@CA@", &ca)),
        (
            &prom_config,
            PROMETHEUS_CONFIG.replace("@EXPORTER@", EXPORTER),
        ),
    ] {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut serve = Running::start(
        "serve",
        &[
            lab_binary().display().to_string(),
            "serve".into(),
            "--listen".into(),
            EXPORTER.into(),
            "--config".into(),
            serve_config.display().to_string(),
        ],
        &[(PASSWORD_VAR, lab_password()?)],
    )?;
    let mut prometheus = Running::start(
        "prometheus",
        &[
            "prometheus".into(),
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={PROMETHEUS}"),
            "--log.level=warn".into(),
        ],
        &[],
    )?;
    let result = scrape_steps(&mut serve, &mut prometheus);
    let prom_code = prometheus.stop(Duration::from_secs(20));
    let serve_code = serve.stop(Duration::from_secs(20));
    let what = result?;
    if serve_code != Some(0) {
        return Err(format!(
            "serve did not stop with 0 on SIGTERM ({serve_code:?}): {}",
            serve.log()
        ));
    }
    if prom_code.is_none() {
        return Err("prometheus did not stop on SIGTERM".into());
    }
    Ok(what)
}

fn scrape_steps(serve: &mut Running, prometheus: &mut Running) -> Result<String, String> {
    let start = Instant::now();
    // Wait for every expected series (bounded), failing early when a process died.
    let found = loop {
        if let Some(why) = serve.exited().or_else(|| prometheus.exited()) {
            return Err(why);
        }
        let got = query("probe_success").unwrap_or_default();
        let all = EXPECTED.iter().all(|(job, instance, _, _, _)| {
            got.iter()
                .any(|(l, _)| label(l, "job") == *job && label(l, "instance") == *instance)
        });
        if all {
            break got;
        }
        if start.elapsed() > SCRAPED_WITHIN {
            return Err(format!(
                "after {SCRAPED_WITHIN:?} Prometheus has only {got:?}\nserve: {}\nprometheus: {}",
                serve.log(),
                prometheus.log()
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let verdicts = query("smtp_doctor_verdict_info")?;
    for (job, instance, success, layer, code) in EXPECTED {
        let is = |l: &Labels| label(l, "job") == *job && label(l, "instance") == *instance;
        let value = found.iter().find(|(l, _)| is(l)).map(|(_, v)| v.as_str());
        if value != Some(*success) {
            return Err(format!(
                "{job} {instance}: probe_success {value:?}, want {success}"
            ));
        }
        let verdict = verdicts.iter().find(|(l, _)| is(l));
        match verdict {
            Some((l, v))
                if label(l, "layer") == *layer && label(l, "code") == *code && v == "1" => {}
            other => {
                return Err(format!(
                    "{job} {instance}: verdict {other:?}, want layer {layer} code {code}"
                ))
            }
        }
        // The exporter's own `target` label and Prometheus' `instance` agree after the relabelling.
        if let Some((l, _)) = found.iter().find(|(l, _)| is(l)) {
            if label(l, "target") != *instance {
                return Err(format!(
                    "{job} {instance}: target label {:?}",
                    label(l, "target")
                ));
            }
        }
    }
    let timeouts = query("probe_timeout_seconds{job=\"smtp_submission\"}")?;
    if timeouts.first().map(|(_, v)| v.as_str()) != Some("2.5") {
        return Err(format!(
            "probe_timeout_seconds: {timeouts:?}, want 2.5 (3 s scrape timeout less 0.5)"
        ));
    }
    let up = query("up{job=\"smtp_doctor_exporter\"}")?;
    if up.first().map(|(_, v)| v.as_str()) != Some("1") {
        return Err(format!("the exporter's own /metrics is not up: {up:?}"));
    }
    // Every probe Prometheus stored was answered by the exporter, which counted it (read directly: Prometheus'
    // copy of /metrics may predate the last probes).
    let metrics = curl(&format!("http://{EXPORTER}/metrics"), &[])?;
    let count = sample(
        &metrics,
        "smtp_doctor_exporter_requests_total",
        &[("path", "/probe"), ("code", "200")],
    )
    .and_then(|v| v.parse::<f64>().ok())
    .unwrap_or(0.0);
    if count < EXPECTED.len() as f64 {
        return Err(format!(
            "the exporter counted {count} answered probes:\n{metrics}"
        ));
    }
    lint(&metrics, "serve-metrics")?;
    // The exposition a scrape gets, kept for the README and linted by promtool too.
    let probe = curl(
        &format!("http://{EXPORTER}/probe?target=mail.lab.example.com&module=submission"),
        &["X-Prometheus-Scrape-Timeout-Seconds: 3"],
    )?;
    lint(&probe, "serve-probe-submission")?;
    if probe.contains(&lab_password()?) {
        return Err("the exposition holds the password".into());
    }
    Ok(format!(
        "Prometheus scraped {} probes through the relabelling in {:.1}s; verdicts, timeouts and the exporter's health as expected",
        EXPECTED.len(),
        start.elapsed().as_secs_f64()
    ))
}
