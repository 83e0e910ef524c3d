//! Benchmark: a run takes about as long as its slowest chain (not the sum), and stays small in memory.
//!
//! `cargo bench --bench concurrency` starts loopback servers that accept and never greet, then times the release
//! binary probing 1 such port and 6 such ports (each chain waits the greeting timeout, a TLS try beside it), side by
//! side, 5 rounds each, and prints the medians, their ratio, and the peak RSS of the probe process.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const TIMEOUT_SECS: &str = "1";

/// A server that accepts and holds connections without a word, until stopped (at most 60 s per connection).
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            let start = Instant::now();
            while !flag.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(600) {
                match listener.accept() {
                    Ok((s, _)) if held.len() < 1000 => held.push(s),
                    Ok(_) => {}
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
                // Drain whatever the client sends (a TLS ClientHello) so its writes never block.
                for s in &mut held {
                    let _ = s.set_nonblocking(true);
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                }
            }
        });
        Silent {
            port,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs the binary once; returns wall seconds and the child's peak RSS in MiB (from wait4's rusage).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
fn run(bin: &str, ports: &[u16]) -> (f64, f64) {
    let mut cmd = Command::new(bin);
    cmd.args([
        "check",
        "127.0.0.1",
        "--json",
        "--timeout",
        TIMEOUT_SECS,
        "--mode",
        "starttls",
    ]);
    for p in ports {
        cmd.args(["-p", &p.to_string()]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().expect("start smtp-doctor");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed");
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_smtp-doctor");
    let servers: Vec<Silent> = (0..6).map(|_| Silent::start()).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let mut one = Vec::new();
    let mut six = Vec::new();
    let mut rss = Vec::new();
    // Interleaved, so both sides see the same machine noise.
    for _ in 0..ROUNDS {
        let (t1, r1) = run(bin, &ports[..1]);
        let (t6, r6) = run(bin, &ports);
        one.push(t1);
        six.push(t6);
        rss.push(r1);
        rss.push(r6);
    }
    let m1 = median(one);
    let m6 = median(six);
    println!("silent servers, --timeout {TIMEOUT_SECS} s, {ROUNDS} rounds each, medians:");
    println!("  1 port : {m1:.3} s");
    println!("  6 ports: {m6:.3} s");
    println!(
        "  ratio 6/1: {:.2} (sequential probing would be about 6.0)",
        m6 / m1
    );
    println!(
        "  peak RSS of the probe: median {:.1} MiB, max {:.1} MiB",
        median(rss.clone()),
        rss.iter().cloned().fold(0.0, f64::max)
    );
    drop(servers);
}
