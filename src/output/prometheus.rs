//! The Prometheus text exposition of one probe or of several sharing one exposition, every sample labelled with its target.
//!
//! Names follow blackbox_exporter where it has one with the same meaning (`probe_success`,
//! `probe_duration_seconds`, `probe_dns_lookup_time_seconds`, `probe_ip_protocol`,
//! `probe_ssl_earliest_cert_expiry`, `probe_tls_version_info`, `probe_timeout_seconds`), so dashboards and
//! alerts written for it keep working; what it lacks carries the `smtp_doctor_` prefix. Every label value
//! other than `target` comes from a closed set (ports probed, stage names, layers, codes, severities, TLS
//! versions), so a failing server cannot grow the number of series with free text.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::IpAddr;

use crate::diagnosis::{Layer, PortVerdict};
use crate::explain::Explained;
use crate::report::{Attempt, PortReport, Report, Stage, StageStatus};

/// One probe to write: its target (the `target` label) and what became of it.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub target: &'a str,
    pub outcome: Outcome<'a>,
    /// The exporter's deadline for this probe in seconds, exported as probe_timeout_seconds (serve only).
    pub timeout_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The probe ran to its end and was diagnosed.
    Diagnosed(&'a Report, &'a Explained),
    /// The deadline passed first: nothing is known but that it failed and how long it was given.
    DeadlineExceeded { elapsed_seconds: f64 },
}

/// One metric family: its samples in the order they were added, each series (suffix and label set) at most once.
pub(crate) struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<Sample>,
    seen: BTreeSet<(&'static str, Labels)>,
}

type Labels = Vec<(&'static str, String)>;

struct Sample {
    /// Appended to the family's name: `_bucket`, `_sum` and `_count` of a histogram; empty otherwise.
    suffix: &'static str,
    labels: Labels,
    value: f64,
}

impl Family {
    pub(crate) fn new(name: &'static str, help: &'static str) -> Family {
        Family::of_kind(name, "gauge", help)
    }

    /// A family of another type: counter (name ending in _total) or histogram.
    pub(crate) fn of_kind(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Adds a sample; a label set already present keeps its first value, so each series has one sample.
    pub(crate) fn add(&mut self, labels: Labels, value: f64) {
        self.add_suffixed("", labels, value);
    }

    pub(crate) fn add_suffixed(&mut self, suffix: &'static str, labels: Labels, value: f64) {
        if self.seen.insert((suffix, labels.clone())) {
            self.samples.push(Sample {
                suffix,
                labels,
                value,
            });
        }
    }

    /// Writes HELP, TYPE and the samples; nothing at all for a family without samples.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.samples.is_empty() {
            return Ok(());
        }
        writeln!(out, "# HELP {} {}", self.name, escape_help(self.help))?;
        writeln!(out, "# TYPE {} {}", self.name, self.kind)?;
        for s in &self.samples {
            write!(out, "{}{}", self.name, s.suffix)?;
            if !s.labels.is_empty() {
                let inner: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                write!(out, "{{{}}}", inner.join(","))?;
            }
            writeln!(out, " {}", number(s.value))?;
        }
        Ok(())
    }
}

/// Label values escape backslash, double quote and newline (exposition format 0.0.4).
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the format spells it: Go's float syntax, with NaN and ±Inf by name.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// A signal stopped this attempt while one of its stages ran.
fn stopped_midway(a: &Attempt) -> bool {
    a.stages
        .iter()
        .any(|s| s.status == StageStatus::Interrupted)
}

/// Milliseconds as seconds to the microsecond the report keeps (no 0.00017299999999999998 from the division).
fn seconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1e6
}

/// The blackbox_exporter spelling of a TLS version ("TLS 1.3"); anything unexpected is "other", keeping the set closed.
fn tls_version(v: &str) -> &'static str {
    match v {
        "TLSv1.3" => "TLS 1.3",
        "TLSv1.2" => "TLS 1.2",
        "TLSv1.1" => "TLS 1.1",
        "TLSv1.0" => "TLS 1.0",
        "SSLv3" => "SSL 3.0",
        _ => "other",
    }
}

fn family_of(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "4"
    } else {
        "6"
    }
}

/// Writes the exposition of `probes`: every family once, its samples target by target.
pub fn write(out: &mut dyn Write, probes: &[Probe<'_>]) -> io::Result<()> {
    let mut success = Family::new(
        "probe_success",
        "Whether the probe succeeded: 1 when every probed path works (warnings allowed), as check's exit status 0.",
    );
    let mut duration = Family::new(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds.",
    );
    let mut timeout = Family::new(
        "probe_timeout_seconds",
        "The probe's deadline in seconds: the scrape timeout less the offset, capped by the module's timeout.",
    );
    let mut cut = Family::new(
        "smtp_doctor_deadline_exceeded",
        "1 when the deadline passed before the probe finished (nothing else is known of it), else 0.",
    );
    let mut dns = Family::new(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds (the slower of A and AAAA; 0 for an IP address).",
    );
    let mut ip_protocol = Family::new(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6: the family of the address whose stages the first port shows.",
    );
    let mut expiry = Family::new(
        "probe_ssl_earliest_cert_expiry",
        "Returns last SSL chain expiry in unixtime: the earliest notAfter of every certificate any port showed.",
    );
    let mut tls = Family::new(
        "probe_tls_version_info",
        "The TLS version negotiated (TLS 1.2, TLS 1.3): one sample per version any port negotiated.",
    );
    let mut port_success = Family::new(
        "smtp_doctor_port_success",
        "1 when the port works on some address of every host probed on it (a client that falls back gets through).",
    );
    let mut family_success = Family::new(
        "smtp_doctor_port_ip_protocol_success",
        "1 when every address of that IP protocol works on the port, 0 when one fails.",
    );
    let mut stage = Family::new(
        "smtp_doctor_stage_duration_seconds",
        "Time a stage took on the address whose stages the port shows (the failing one, or the first that works).",
    );
    let mut verdict = Family::new(
        "smtp_doctor_verdict_info",
        "The verdict: the layer to blame and the code of the finding that decided it (layer and code none when every path works).",
    );
    let mut finding = Family::new(
        "smtp_doctor_finding",
        "One sample per finding code, port and severity (no port label for host-wide findings); the codes are in README's table.",
    );

    for p in probes {
        let t = || vec![("target", p.target.to_string())];
        if let Some(secs) = p.timeout_seconds {
            timeout.add(t(), secs);
        }
        let (report, explained) = match p.outcome {
            Outcome::Diagnosed(r, e) => (r, e),
            Outcome::DeadlineExceeded { elapsed_seconds } => {
                success.add(t(), 0.0);
                duration.add(t(), elapsed_seconds);
                cut.add(t(), 1.0);
                continue;
            }
        };
        success.add(t(), if explained.ok { 1.0 } else { 0.0 });
        duration.add(t(), seconds(report.elapsed_ms));
        if p.timeout_seconds.is_some() {
            cut.add(t(), 0.0);
        }
        dns.add(
            t(),
            seconds(report.dns.a.elapsed_ms.max(report.dns.aaaa.elapsed_ms)),
        );
        let shown = |v: &PortVerdict| {
            port_report(report, v).and_then(|pr| v.shown_attempt.and_then(|i| pr.attempts.get(i)))
        };
        if let Some(a) = explained.ports.first().and_then(shown) {
            let v: f64 = if a.address.is_ipv4() { 4.0 } else { 6.0 };
            ip_protocol.add(t(), v);
        }
        let certs = report
            .ports
            .iter()
            .flat_map(|p| &p.attempts)
            .filter_map(|a| a.tls.as_ref());
        let mut earliest: Option<i64> = None;
        for facts in certs.clone() {
            for c in &facts.chain {
                earliest = Some(earliest.map_or(c.not_after_unix, |e| e.min(c.not_after_unix)));
            }
        }
        if let Some(e) = earliest {
            expiry.add(t(), e as f64);
        }
        for v in certs.filter_map(|f| f.version.as_deref()) {
            let mut l = t();
            l.push(("version", tls_version(v).to_string()));
            tls.add(l, 1.0);
        }

        // Several hosts may share a port (the target and its MX hosts on 25): a port's series speak for all of them.
        let mut seen_ports = BTreeSet::new();
        let ports: Vec<u16> = explained
            .ports
            .iter()
            .map(|v| v.port)
            .filter(|p| seen_ports.insert(*p))
            .collect();
        for port in ports {
            let verdicts: Vec<&PortVerdict> =
                explained.ports.iter().filter(|v| v.port == port).collect();
            let with_port = |mut l: Labels| {
                l.push(("port", port.to_string()));
                l
            };
            let ok = verdicts.iter().all(|v| v.ok);
            port_success.add(with_port(t()), if ok { 1.0 } else { 0.0 });
            for fam in ["4", "6"] {
                let mut layers = verdicts.iter().flat_map(|v| {
                    let attempts = port_report(report, v).map(|pr| pr.attempts.as_slice());
                    v.attempt_layers
                        .iter()
                        .zip(attempts.unwrap_or_default())
                        .filter(|(_, a)| family_of(&a.address) == fam)
                        // An address a signal stopped is not known to work: it counts as not working.
                        .map(|(layer, a)| {
                            if stopped_midway(a) {
                                None
                            } else {
                                Some(*layer)
                            }
                        })
                        .collect::<Vec<_>>()
                });
                let Some(first) = layers.next() else { continue };
                let works = first == Some(Layer::None) && layers.all(|l| l == Some(Layer::None));
                let mut l = with_port(t());
                l.push(("ip_protocol", fam.to_string()));
                family_success.add(l, if works { 1.0 } else { 0.0 });
            }
            for a in verdicts.iter().filter_map(|v| shown(v)) {
                // A stage a signal cut never ended: its time so far is no duration.
                let timed = |s: &&Stage| {
                    !matches!(s.status, StageStatus::Skipped | StageStatus::Interrupted)
                };
                for s in a.stages.iter().filter(timed) {
                    let mut l = with_port(t());
                    l.push(("stage", s.name.label().to_string()));
                    stage.add(l, seconds(s.elapsed_ms));
                }
            }
        }

        let mut l = t();
        l.push(("layer", explained.verdict.layer.name().to_string()));
        l.push((
            "code",
            explained
                .verdict
                .code
                .map_or("none", |c| c.name())
                .to_string(),
        ));
        verdict.add(l, 1.0);
        for f in &explained.findings {
            let mut l = t();
            l.push(("code", f.code.name().to_string()));
            l.push(("layer", f.layer.name().to_string()));
            l.push(("severity", f.severity.name().to_string()));
            if let Some(port) = f.port {
                l.push(("port", port.to_string()));
            }
            finding.add(l, 1.0);
        }
    }

    for f in [
        &success,
        &duration,
        &timeout,
        &cut,
        &dns,
        &ip_protocol,
        &expiry,
        &tls,
        &port_success,
        &family_success,
        &stage,
        &verdict,
        &finding,
    ] {
        f.write(out)?;
    }
    Ok(())
}

/// The port report a verdict speaks for (same host and port).
fn port_report<'r>(report: &'r Report, v: &PortVerdict) -> Option<&'r PortReport> {
    report
        .ports
        .iter()
        .find(|p| p.host == v.host && p.port == v.port)
}

#[cfg(test)]
mod tests;
