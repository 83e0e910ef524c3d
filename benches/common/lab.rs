//! The fault lab as the lab benchmarks drive it: its scripts, commands in its client namespace, bounded runs, medians.
// Each benchmark includes this file with #[path] and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../../tests/common/bounded.rs"]
mod bounded;
pub use bounded::run_bounded;

/// How long a lab script may run (install-deps.sh may download packages).
const SCRIPT_LIMIT: Duration = Duration::from_secs(900);

pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    pub scripts: PathBuf,
}

impl Lab {
    /// The lab named by SDLAB_PREFIX (else `default_prefix`) with its state in SDLAB_DIR (else /tmp/PREFIX).
    pub fn from_env(default_prefix: &str) -> Lab {
        let prefix = std::env::var("SDLAB_PREFIX").unwrap_or_else(|_| default_prefix.into());
        let dir = std::env::var("SDLAB_DIR").unwrap_or_else(|_| format!("/tmp/{prefix}"));
        Lab {
            prefix,
            dir: PathBuf::from(dir),
            scripts: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join("lab"),
        }
    }

    /// Runs a lab script to completion; its output is shown only when it fails.
    pub fn script(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let mut c = Command::new("bash");
        c.arg(self.scripts.join(name))
            .args(args)
            .env("SDLAB_PREFIX", &self.prefix)
            .env("SDLAB_DIR", &self.dir)
            .stdin(Stdio::null());
        let (status, out, err) = run_bounded(c, SCRIPT_LIMIT)?;
        if status == Some(0) {
            Ok(())
        } else {
            Err(format!(
                "{name} {args:?} failed (exit {status:?})\n{out}{err}"
            ))
        }
    }

    pub fn client_ns(&self) -> String {
        format!("{}-client", self.prefix)
    }

    /// A command run in the client namespace by `ip netns exec`, which execs it in place: its pid is the tool's.
    pub fn in_client(&self, argv: &[String]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client_ns()]).args(argv);
        c
    }

    /// Takes the lab down, unless SDBENCH_KEEP_LAB=1 asks to keep it.
    pub fn finish(&self) {
        if std::env::var("SDBENCH_KEEP_LAB").is_ok_and(|v| v == "1") {
            println!(
                "lab kept: SDLAB_PREFIX={} tests/lab/down.sh removes it",
                self.prefix
            );
        } else if let Err(e) = self.script("down.sh", &[]) {
            eprintln!("teardown: {e}");
        }
    }
}

/// A positive number from the environment, else the default.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
