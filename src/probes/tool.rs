//! Runs one of this host's tools (iptables-save, postconf, exim…) with a time limit and a size limit, and keeps what it said.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// What a tool printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The exit status; None when it could not be started, was killed, or ran out of time.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Why it did not run to the end: not found, not startable, or the time limit.
    pub failure: Option<String>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// What the tool itself said went wrong, for a report: its last "fatal:" line (Postfix's tools warn first,
    /// then fail), else its first line on stderr, else the failure or the exit status.
    pub fn complaint(&self) -> String {
        if let Some(f) = &self.failure {
            return f.clone();
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines
            .iter()
            .rev()
            .find(|l| l.contains("fatal:"))
            .or(lines.first())
            .map(|l| l.chars().take(300).collect())
            .unwrap_or_else(|| format!("exit status {}", self.status.unwrap_or(-1)))
    }
}

/// Runs `cmd args…` with stdin closed; reads at most `max` bytes of each stream; kills it after `timeout`.
pub async fn run(cmd: &Path, args: &[&str], timeout: Duration, max: usize) -> Output {
    let mut child = match tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Output {
                failure: Some(format!("cannot run {}: {e}", cmd.display())),
                ..Output::default()
            }
        }
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Output {
            failure: Some(format!("cannot read the output of {}", cmd.display())),
            ..Output::default()
        };
    };
    let read = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut o = (&mut stdout).take(max as u64);
        let mut e = (&mut stderr).take(max as u64);
        let (r1, r2) = tokio::join!(o.read_to_end(&mut out), e.read_to_end(&mut err));
        let status = child.wait().await.ok().and_then(|s| s.code());
        let _ = (r1, r2);
        (status, out, err)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok((status, out, err)) => Output {
            status,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            failure: None,
        },
        Err(_) => Output {
            failure: Some(format!(
                "{} did not finish within {:.0} s",
                cmd.display(),
                timeout.as_secs_f64()
            )),
            ..Output::default()
        },
    }
}

/// Where a tool lives: the first executable of that name in PATH, then the system directories admins' tools sit in.
pub fn find(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
