//! The exporter's own health for /metrics: requests by path and status, probes in flight, probe durations, connections, build info.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::output::prometheus::Family;

/// Upper bounds of the probe-duration histogram, in seconds: from a healthy loopback probe to a scrape's longest deadline.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The paths counted by name; every other path is counted as "other", keeping the label set closed.
pub const PATHS: [&str; 3] = ["/probe", "/metrics", "/"];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket of BUCKETS: observations at or below its bound (cumulative when written).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and gauges shared by every connection task.
#[derive(Debug)]
pub struct Health {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicU64,
    open_connections: AtomicU64,
    rejected_connections: AtomicU64,
    concurrency_limit: u32,
}

/// Counts a probe in flight while it lives.
pub struct InFlight<'a>(&'a Health);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts an open connection while it lives.
pub struct Open<'a>(&'a Health);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Health {
    /// Health for these modules (their histograms exist from the start, empty) and this limit of concurrent probes.
    pub fn new<'m>(modules: impl Iterator<Item = &'m String>, concurrency_limit: u32) -> Health {
        Health {
            requests: Mutex::new(BTreeMap::new()),
            durations: Mutex::new(modules.map(|m| (m.clone(), Histogram::default())).collect()),
            in_flight: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            concurrency_limit,
        }
    }

    /// The label a request path is counted under.
    pub fn path_label(path: &str) -> &'static str {
        PATHS
            .iter()
            .find(|p| **p == path)
            .copied()
            .unwrap_or("other")
    }

    pub fn count_request(&self, path: &'static str, status: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((path, status)).or_insert(0) += 1;
    }

    pub fn probe_started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub fn connection_opened(&self) -> Open<'_> {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        Open(self)
    }

    pub fn connection_rejected(&self) {
        self.rejected_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a probe with `module` took (configured modules only: the label set stays the config's).
    pub fn observe(&self, module: &str, seconds: f64) {
        let mut map = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = map.get_mut(module) {
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The /metrics exposition.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut build = Family::new(
            "smtp_doctor_exporter_build_info",
            "The version of smtp-doctor serving, as a label; always 1.",
        );
        build.add(
            vec![("version", env!("CARGO_PKG_VERSION").to_string())],
            1.0,
        );
        let mut requests = Family::of_kind(
            "smtp_doctor_exporter_requests_total",
            "counter",
            "HTTP requests answered, by path (/probe, /metrics, /, other) and status code.",
        );
        let snapshot = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((path, code), n) in snapshot {
            requests.add(
                vec![("path", path.to_string()), ("code", code.to_string())],
                n as f64,
            );
        }
        let mut in_flight = Family::new(
            "smtp_doctor_exporter_probes_in_flight",
            "Probes running now.",
        );
        in_flight.add(Vec::new(), self.in_flight.load(Ordering::Relaxed) as f64);
        let mut limit = Family::new(
            "smtp_doctor_exporter_probes_max",
            "Probes allowed to run at once (--max-concurrent).",
        );
        limit.add(Vec::new(), f64::from(self.concurrency_limit));
        let mut durations = Family::of_kind(
            "smtp_doctor_exporter_probe_duration_seconds",
            "histogram",
            "Time from a probe's start to its exposition (503s and 400s are not probes), by module.",
        );
        let histograms = self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (module, h) in histograms {
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                durations.add_suffixed(
                    "_bucket",
                    vec![("module", module.clone()), ("le", format!("{bound}"))],
                    n as f64,
                );
            }
            durations.add_suffixed(
                "_bucket",
                vec![("module", module.clone()), ("le", "+Inf".into())],
                h.count as f64,
            );
            durations.add_suffixed("_sum", vec![("module", module.clone())], h.sum);
            durations.add_suffixed("_count", vec![("module", module)], h.count as f64);
        }
        let mut open = Family::new(
            "smtp_doctor_exporter_connections_open",
            "Client connections held now.",
        );
        open.add(
            Vec::new(),
            self.open_connections.load(Ordering::Relaxed) as f64,
        );
        let mut rejected = Family::of_kind(
            "smtp_doctor_exporter_connections_rejected_total",
            "counter",
            "Client connections closed on arrival because --max-connections were open.",
        );
        rejected.add(
            Vec::new(),
            self.rejected_connections.load(Ordering::Relaxed) as f64,
        );
        for f in [
            &build, &requests, &in_flight, &limit, &durations, &open, &rejected,
        ] {
            f.write(out)?;
        }
        Ok(())
    }
}
