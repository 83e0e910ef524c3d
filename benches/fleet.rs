//! Benchmark at fleet scale, in the lab: a thousand names behind one Postfix, probed side by side by `smtp-doctor check
//! --targets --concurrency 200` and by Debian's prometheus-blackbox-exporter driven by 200 concurrent /probe requests
//! and by `smtp-doctor serve` driven the same way (tests/lab/scale.sh writes its serve.toml); prints targets per second, peak RSS
//! and peak open descriptors of each, medians over the rounds. Not a test: nothing passes or fails on a number.
//!
//! `sudo cargo bench --bench fleet` (root: network namespaces). It installs the lab's packages and the exporter
//! (tests/lab/install-deps.sh --scale), brings a lab up (tests/lab/up.sh, prefix SDLAB_PREFIX, default sdbench), adds
//! the scale set (tests/lab/scale.sh up N) and takes it all down at the end (SDBENCH_KEEP_LAB=1 keeps it).
//!
//! Settings (environment): SDBENCH_TARGETS (1000), SDBENCH_CONCURRENCY (200), SDBENCH_ROUNDS (3).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use smtp_doctor::output::document::{JsonTargetResult, TargetStatus};

#[path = "common/lab.rs"]
mod lab;
use lab::{median, setting, Lab};

/// Each probe's time limit, for every tool alike (blackbox's module says 5s too: tests/lab/scale.sh).
const PROBE_TIMEOUT_SECS: &str = "5";
/// Longest one exporter request may take before the driver gives up on it.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// Longest an exporter may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(15);
/// Most bytes read of one /probe answer.
const MAX_ANSWER: u64 = 1 << 20;
const BLACKBOX_LISTEN: &str = "127.0.0.1:9115";
/// Where `smtp-doctor serve` listens in the client namespace during its rounds.
const SERVE_LISTEN: &str = "127.0.0.1:9125";

/// One run of one tool.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    ok: usize,
    rss_mib: f64,
    fds: usize,
}

/// A tool measured: smtp-doctor's own fleet run, or an exporter driven over HTTP.
enum Tool {
    Doctor {
        bin: PathBuf,
    },
    Exporter {
        name: String,
        argv: Vec<String>,
        url: UrlTemplate,
    },
}

impl Tool {
    fn name(&self) -> String {
        match self {
            Tool::Doctor { .. } => "smtp-doctor check".into(),
            Tool::Exporter { name, .. } => name.clone(),
        }
    }
}

/// The scale set's files (tests/lab/scale.sh writes them).
fn scale(lab: &Lab, file: &str) -> PathBuf {
    lab.dir.join("scale").join(file)
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("fleet benchmark: skipped, it needs root (network namespaces): sudo cargo bench --bench fleet");
        return;
    }
    let targets = setting("SDBENCH_TARGETS", 1000);
    let concurrency = setting("SDBENCH_CONCURRENCY", 200);
    let rounds = setting("SDBENCH_ROUNDS", 3);
    let lab = Lab::from_env("sdbench");
    let result = bench(&lab, targets, concurrency, rounds);
    lab.finish();
    if let Err(e) = result {
        eprintln!("fleet benchmark: {e}");
        std::process::exit(1);
    }
}

fn bench(lab: &Lab, targets: usize, concurrency: usize, rounds: usize) -> Result<(), String> {
    lab.script("install-deps.sh", &["--scale"])?;
    lab.script("up.sh", &[])?;
    lab.script("scale.sh", &["up", &targets.to_string()])?;
    let hosts: Vec<String> = std::fs::read_to_string(scale(lab, "targets.txt"))
        .map_err(|e| format!("cannot read the scale targets: {e}"))?
        .lines()
        .map(str::to_string)
        .collect();
    let mut tools = vec![
        Tool::Doctor {
            bin: PathBuf::from(env!("CARGO_BIN_EXE_smtp-doctor")),
        },
        Tool::Exporter {
            name: blackbox_name(),
            argv: vec![
                "prometheus-blackbox-exporter".into(),
                format!("--config.file={}", scale(lab, "blackbox.yml").display()),
                format!("--web.listen-address={BLACKBOX_LISTEN}"),
            ],
            url: UrlTemplate::parse(&format!(
                "http://{BLACKBOX_LISTEN}/probe?module=smtp_starttls&target={{target}}"
            ))?,
        },
    ];
    // smtp-doctor's own exporter, driven exactly like blackbox's: the same hosts, the same concurrent /probe requests.
    let doctor = env!("CARGO_BIN_EXE_smtp-doctor").to_string();
    let slots = concurrency.to_string();
    let connections = (concurrency + 16).to_string();
    tools.push(Tool::Exporter {
        name: "smtp-doctor serve".into(),
        argv: vec![
            doctor,
            "serve".into(),
            "--listen".into(),
            SERVE_LISTEN.into(),
            "--config".into(),
            scale(lab, "serve.toml").display().to_string(),
            "--max-concurrent".into(),
            slots,
            "--max-connections".into(),
            connections,
        ],
        url: UrlTemplate::parse(&format!(
            "http://{SERVE_LISTEN}/probe?module=smtp_starttls&target={{target}}"
        ))?,
    });
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tools.len()];
    // Interleaved rounds, so every tool meets the same machine noise.
    for round in 1..=rounds {
        for (tool, out) in tools.iter().zip(samples.iter_mut()) {
            let s = match tool {
                Tool::Doctor { bin } => run_doctor(lab, bin, concurrency)?,
                Tool::Exporter { argv, url, .. } => {
                    run_exporter(lab, argv, url, &hosts, concurrency)?
                }
            };
            println!(
                "round {round}: {:<26} {:>7.1} targets/s  {:>6.2} s  {:>6.1} MiB  {:>5} descriptors  {}/{} ok",
                tool.name(),
                hosts.len() as f64 / s.secs,
                s.secs,
                s.rss_mib,
                s.fds,
                s.ok,
                hosts.len()
            );
            out.push(s);
        }
    }
    print_table(&tools, &samples, hosts.len(), concurrency, rounds);
    Ok(())
}

fn blackbox_name() -> String {
    let out = Command::new("prometheus-blackbox-exporter")
        .arg("--version")
        .output()
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_default();
    let version = out
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or("?");
    format!("blackbox_exporter {version}")
}

fn run_doctor(lab: &Lab, bin: &Path, concurrency: usize) -> Result<Sample, String> {
    let lines_path = scale(lab, "smtp-doctor.jsonl");
    let out = std::fs::File::create(&lines_path)
        .map_err(|e| format!("cannot create {}: {e}", lines_path.display()))?;
    let argv: Vec<String> = [
        bin.display().to_string(),
        "check".into(),
        "--targets".into(),
        scale(lab, "targets.toml").display().to_string(),
        "--concurrency".into(),
        concurrency.to_string(),
        "--timeout".into(),
        PROBE_TIMEOUT_SECS.into(),
        "--ca-file".into(),
        lab.dir.join("ca.pem").display().to_string(),
        "--json-lines".into(),
    ]
    .into();
    let start = Instant::now();
    let mut child = lab
        .in_client(&argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start smtp-doctor: {e}"))?;
    let watch = Watch::start(child.id());
    let status = child
        .wait()
        .map_err(|e| format!("waiting for smtp-doctor: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    let (rss_kb, fds) = watch.stop();
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(format!("smtp-doctor ended with {status}"));
    }
    let text = std::fs::read_to_string(&lines_path)
        .map_err(|e| format!("cannot read {}: {e}", lines_path.display()))?;
    let ok = text
        .lines()
        .filter_map(|l| serde_json::from_str::<JsonTargetResult>(l).ok())
        .filter(|t| t.status == TargetStatus::Ok)
        .count();
    Ok(Sample {
        secs,
        ok,
        rss_mib: rss_kb as f64 / 1024.0,
        fds,
    })
}

fn run_exporter(
    lab: &Lab,
    argv: &[String],
    url: &UrlTemplate,
    hosts: &[String],
    concurrency: usize,
) -> Result<Sample, String> {
    let mut child = lab
        .in_client(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {argv:?}: {e}"))?;
    let watch = Watch::start(child.id());
    let driven = drive(&lab.client_ns(), url, hosts, concurrency);
    let (rss_kb, fds) = watch.stop();
    stop(&mut child);
    let (secs, ok) = driven?;
    Ok(Sample {
        secs,
        ok,
        rss_mib: rss_kb as f64 / 1024.0,
        fds,
    })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Samples a process every few milliseconds: the high-water mark of its resident set (VmHWM) and the most open
/// descriptors seen.
struct Watch {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(u64, usize)>,
}

impl Watch {
    fn start(pid: u32) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let (mut rss, mut fds) = (0u64, 0usize);
            while !flag.load(Ordering::Relaxed) {
                let Some(hwm) = vm_hwm_kb(pid) else { break };
                rss = rss.max(hwm);
                if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    fds = fds.max(dir.count());
                }
                thread::sleep(Duration::from_millis(5));
            }
            (rss, fds)
        });
        Watch { stop, handle }
    }

    /// (peak RSS in KiB, peak descriptors).
    fn stop(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or((0, 0))
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    // A zombie has no memory left to show: the process is over.
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A probe URL on a literal address; {target} becomes host:port, {host} and {port} each part.
struct UrlTemplate {
    addr: SocketAddr,
    path: String,
}

impl UrlTemplate {
    fn parse(url: &str) -> Result<UrlTemplate, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: give an http:// URL"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr = authority.parse().map_err(|_| {
            format!(
                "{url}: the URL's host must be a literal address with a port, like 127.0.0.1:9125"
            )
        })?;
        Ok(UrlTemplate {
            addr,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }

    fn path_for(&self, target: &str) -> String {
        let (host, port) = target.rsplit_once(':').unwrap_or((target, ""));
        self.path
            .replace("{target}", target)
            .replace("{host}", host)
            .replace("{port}", port)
    }
}

/// Drives an exporter from the lab's client namespace: waits until it listens, then asks /probe for every target,
/// `concurrency` at a time. Returns the seconds the requests took and how many probes succeeded.
fn drive(
    ns: &str,
    url: &UrlTemplate,
    hosts: &[String],
    concurrency: usize,
) -> Result<(f64, usize), String> {
    let paths: Vec<String> = hosts.iter().map(|h| url.path_for(h)).collect();
    let addr = url.addr;
    let ns_path = format!("/run/netns/{ns}");
    // A thread of its own enters the namespace: the sockets it opens are the namespace's; the rest of this process stays out.
    thread::spawn(move || -> Result<(f64, usize), String> {
        enter_netns(&ns_path)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the driver's runtime: {e}"))?;
        rt.block_on(async move {
            wait_listening(addr).await?;
            let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
            let start = Instant::now();
            let mut tasks = Vec::with_capacity(paths.len());
            for path in paths {
                let slots = slots.clone();
                tasks.push(tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await.ok();
                    get(addr, &path).await.is_some_and(|body| {
                        body.lines()
                            .any(|l| l.starts_with("probe_success") && l.ends_with(" 1"))
                    })
                }));
            }
            let mut ok = 0;
            for t in tasks {
                if t.await.unwrap_or(false) {
                    ok += 1;
                }
            }
            Ok((start.elapsed().as_secs_f64(), ok))
        })
    })
    .join()
    .map_err(|_| "the driver thread panicked".to_string())?
}

fn enter_netns(path: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    // SAFETY: setns(2) on an open namespace file; it changes only this thread's network namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!("setns {path}: {}", std::io::Error::last_os_error()))
    }
}

async fn wait_listening(addr: SocketAddr) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < START_LIMIT {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("nothing listens on {addr} after {START_LIMIT:?}"))
}

/// One GET over HTTP/1.1 with Connection: close; the answer's text, or None on any failure or past the limit.
async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        (&mut s).take(MAX_ANSWER).read_to_end(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    };
    tokio::time::timeout(REQUEST_LIMIT, fut)
        .await
        .ok()
        .flatten()
}

fn print_table(
    tools: &[Tool],
    samples: &[Vec<Sample>],
    n: usize,
    concurrency: usize,
    rounds: usize,
) {
    println!();
    println!(
        "{n} targets (IPv6 names of one /112 behind one Postfix, STARTTLS on 2525), concurrency {concurrency}, medians of {rounds} rounds:"
    );
    let width = 26;
    print!("  {:<24}", "");
    for t in tools {
        print!("{:>width$}", t.name());
    }
    println!();
    let row = |label: &str, f: &dyn Fn(&[Sample]) -> String| {
        print!("  {label:<24}");
        for s in samples {
            print!("{:>width$}", f(s));
        }
        println!();
    };
    row("targets per second", &|s| {
        format!(
            "{:.1}",
            median(s.iter().map(|x| n as f64 / x.secs).collect())
        )
    });
    row("wall seconds", &|s| {
        format!("{:.2}", median(s.iter().map(|x| x.secs).collect()))
    });
    row("peak RSS (MiB)", &|s| {
        format!("{:.1}", median(s.iter().map(|x| x.rss_mib).collect()))
    });
    row("peak descriptors", &|s| {
        format!("{:.0}", median(s.iter().map(|x| x.fds as f64).collect()))
    });
    row("probes ok (worst round)", &|s| {
        format!("{}/{n}", s.iter().map(|x| x.ok).min().unwrap_or(0))
    });
}
