//! A child process run to its end or killed at a time limit, both pipes read: shared by the fault lab and the lab benchmarks.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Spawns, reads both pipes, kills at the limit. Returns (exit code, stdout, stderr).
pub fn run_bounded(
    mut c: Command,
    limit: Duration,
) -> Result<(Option<i32>, String, String), String> {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {c:?}: {e}"))?;
    let out_pipe = child.stdout.take();
    let err_pipe = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(out_pipe));
    let err_reader = std::thread::spawn(move || read_all(err_pipe));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            // Short steps: benches/verdict.rs measures a run's wall time with this.
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for {c:?}: {e}")),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(st) => Ok((st.code(), stdout, stderr)),
        None => Err(format!("{c:?} ran past {limit:?} and was killed\n{stderr}")),
    }
}

fn read_all<R: std::io::Read>(pipe: Option<R>) -> String {
    let mut s = String::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_string(&mut s);
    }
    s
}
