//! Benchmark: time to verdict with the default `--timeout` for each fault of the lab, beside the target.
//!
//! `sudo cargo bench --bench verdict` (root: network namespaces). It installs the lab's packages
//! (tests/lab/install-deps.sh), brings up a lab of its own (prefix SDLAB_PREFIX, default sdbnch10: the lab allows 8 characters; the server sits
//! three hops away, behind router1 and router2) and, round after round, applies each fault and times one
//! `smtp-doctor check` (release binary, no `--timeout`: the default 10 s) from the client namespace until it has
//! printed its JSON report. Then the same table with 5% random loss at a router stacked on every fault. Prints the
//! median wall time of each fault next to the target of issue 10 §2 and the verdicts seen; the lab is taken down at
//! the end (SDBENCH_KEEP_LAB=1 keeps it). Not a test: nothing passes or fails on a number.
//!
//! Settings (environment): SDBENCH_QUIET (6: seconds between applying a fault and the run, so the routers' ICMP
//! budgets are full; 0 runs back to back), SDBENCH_ROUNDS (3), SDBENCH_LOSS (the loss fault, `router-loss-5`: router1, so router2's
//! ICMP errors cross the lossy hop too; `router2-loss-5` is the other router), SDBENCH_ONLY (run only the faults
//! whose label contains this text).

#[path = "common/lab.rs"]
mod lab;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use lab::{median, run_bounded, setting, Lab};

/// The longest one run may take before it is killed (a dead resolver and a tarpit take 2 × 10 s today).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// One fault of the lab and what issue 10 §2 asks of it.
struct Case {
    label: &'static str,
    faults: &'static [&'static str],
    host: &'static str,
    args: &'static [&'static str],
    /// The bound on the time to verdict, as printed.
    target: &'static str,
    /// The same bound in seconds (None: no target).
    bound: Option<f64>,
    /// The code of the right verdict (None: every path works).
    want: Option<&'static str>,
}

const MAIL: &str = "mail.lab.example.com";

/// A row: label, faults, host, extra arguments, the target as printed and in seconds, the right verdict's code.
const fn case(
    label: &'static str,
    faults: &'static [&'static str],
    host: &'static str,
    args: &'static [&'static str],
    (target, bound): (&'static str, Option<f64>),
    want: Option<&'static str>,
) -> Case {
    Case {
        label,
        faults,
        host,
        args,
        target,
        bound,
        want,
    }
}

const ONE_S: (&str, Option<f64>) = ("≤ 1 s", Some(1.0));
const TWO_S: (&str, Option<f64>) = ("≤ 2 s", Some(2.0));
const ONE_TIMEOUT: (&str, Option<f64>) = ("≤ 10 s (1 × timeout)", Some(10.0));

const CASES: &[Case] = &[
    case(
        "this host's firewall DROP 25 (client-drop-25)",
        &["client-drop-25"],
        MAIL,
        &[],
        ONE_S,
        Some("firewall_drop"),
    ),
    case(
        "router1 DROP 25 (router-drop-25)",
        &["router-drop-25"],
        MAIL,
        &[],
        TWO_S,
        Some("isp_drop"),
    ),
    case(
        "router2 DROP 25 (router2-drop-25)",
        &["router2-drop-25"],
        MAIL,
        &[],
        TWO_S,
        Some("isp_drop"),
    ),
    case(
        "TLS on a STARTTLS port (-p 465 --mode starttls)",
        &[],
        MAIL,
        &["-p", "465", "--mode", "starttls"],
        TWO_S,
        Some("wrong_tls_mode_implicit"),
    ),
    case(
        "plaintext on an implicit port (-p 587 --mode implicit)",
        &[],
        MAIL,
        &["-p", "587", "--mode", "implicit"],
        TWO_S,
        Some("wrong_tls_mode_starttls"),
    ),
    case(
        "dead resolver (resolver-silent)",
        &["resolver-silent"],
        MAIL,
        &[],
        ONE_TIMEOUT,
        Some("resolver_dead"),
    ),
    case(
        "silent server / tarpit (silent, -p 587)",
        &[],
        "silent.lab.example.com",
        &["-p", "587"],
        ONE_TIMEOUT,
        Some("greeting_silent"),
    ),
    case(
        "healthy (mail, 25 465 587)",
        &[],
        MAIL,
        &[],
        ("-", None),
        None,
    ),
];

/// One run: wall seconds and the verdict's code ("none" when every path works, or what went wrong).
struct Sample {
    secs: f64,
    verdict: String,
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("verdict benchmark: skipped, it needs root (network namespaces): sudo cargo bench --bench verdict");
        return;
    }
    let rounds = setting("SDBENCH_ROUNDS", 3);
    let loss = std::env::var("SDBENCH_LOSS").unwrap_or_else(|_| "router-loss-5".into());
    let only = std::env::var("SDBENCH_ONLY").unwrap_or_default();
    let lab = Lab::from_env("sdbnch10");
    let cases: Vec<&Case> = CASES.iter().filter(|c| c.label.contains(&only)).collect();
    let result = bench(&lab, &cases, rounds, &loss);
    lab.finish();
    if let Err(e) = result {
        eprintln!("verdict benchmark: {e}");
        std::process::exit(1);
    }
}

fn bench(lab: &Lab, cases: &[&Case], rounds: usize, loss: &str) -> Result<(), String> {
    lab.script("install-deps.sh", &[])?;
    lab.script("up.sh", &[])?;
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_smtp-doctor"));
    let ca = lab.dir.join("ca.pem");
    let plain = measure(lab, &bin, &ca, cases, rounds, None)?;
    let lossy = measure(lab, &bin, &ca, cases, rounds, Some(loss))?;
    lab.script("fault.sh", &["clear"])?;
    println!();
    println!(
        "Time to verdict, default --timeout (10 s), release binary, medians of {rounds} interleaved rounds, {}s of quiet before each run:",
        setting("SDBENCH_QUIET", 6)
    );
    print_table(cases, &plain);
    println!();
    println!("The same with `{loss}` stacked on every fault:");
    print_table(cases, &lossy);
    Ok(())
}

/// Rounds of every case in turn (interleaved, so every case meets the same machine noise); samples per case.
fn measure(
    lab: &Lab,
    bin: &Path,
    ca: &Path,
    cases: &[&Case],
    rounds: usize,
    loss: Option<&str>,
) -> Result<Vec<Vec<Sample>>, String> {
    let quiet = setting("SDBENCH_QUIET", 6) as u64;
    let mut samples: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (case, out) in cases.iter().zip(samples.iter_mut()) {
            lab.script("fault.sh", &["clear"])?;
            let mut faults: Vec<&str> = case.faults.to_vec();
            faults.extend(loss);
            if !faults.is_empty() {
                lab.script("fault.sh", &faults)?;
            }
            // The routers' ICMP budgets (a burst of 6, one more a second) fill again, as on a network nobody
            // else probes; SDBENCH_QUIET=0 runs back to back, each run inheriting what the last one spent.
            std::thread::sleep(Duration::from_secs(quiet));
            let s = run(lab, bin, ca, case)?;
            println!(
                "round {round}{}: {:<58} {:>6.2} s  {}",
                if loss.is_some() { " (loss)" } else { "" },
                case.label,
                s.secs,
                s.verdict
            );
            out.push(s);
        }
    }
    Ok(samples)
}

fn run(lab: &Lab, bin: &Path, ca: &Path, case: &Case) -> Result<Sample, String> {
    let mut argv: Vec<String> = vec![bin.display().to_string(), "check".into(), case.host.into()];
    argv.extend(case.args.iter().map(|a| a.to_string()));
    argv.extend([
        "--json".into(),
        "--ca-file".into(),
        ca.display().to_string(),
    ]);
    let mut c = lab.in_client(&argv);
    c.stdin(Stdio::null());
    let start = Instant::now();
    let (_, stdout, _) = run_bounded(c, RUN_LIMIT)?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        secs,
        verdict: verdict_of(&stdout),
    })
}

/// The verdict's code from the JSON report, read loosely (only `verdict.code`), so the benchmark keeps working
/// while the report gains fields.
fn verdict_of(stdout: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stdout) {
        Ok(v) => match v.pointer("/verdict/code") {
            Some(serde_json::Value::String(code)) => code.clone(),
            Some(serde_json::Value::Null) | None => "none".into(),
            Some(other) => format!("?{other}"),
        },
        Err(_) => "(no JSON report)".into(),
    }
}

fn print_table(cases: &[&Case], samples: &[Vec<Sample>]) {
    println!("| fault | target | median | within | runs (s) | verdict (right/runs) |");
    println!("|---|---|---|---|---|---|");
    for (case, s) in cases.iter().zip(samples) {
        let runs: Vec<String> = s.iter().map(|x| format!("{:.2}", x.secs)).collect();
        let want = case.want.unwrap_or("none");
        let right = s.iter().filter(|x| x.verdict == want).count();
        let mut seen: Vec<&str> = s.iter().map(|x| x.verdict.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        let m = median(s.iter().map(|x| x.secs).collect());
        let within = match case.bound {
            Some(b) if m <= b => "yes",
            Some(_) => "no",
            None => "-",
        };
        println!(
            "| {} | {} | {m:.2} s | {within} | {} | {} ({right}/{}) |",
            case.label,
            case.target,
            runs.join(" "),
            seen.join(", "),
            s.len()
        );
    }
}
