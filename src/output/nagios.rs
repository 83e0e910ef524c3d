//! The Nagios/Icinga plugin output (--format nagios): `SMTP STATE - layer/code: verdict | perfdata`, the findings as long output, and the plugin's exit status.
//!
//! It follows the monitoring-plugins developer guidelines: a first line under 80 characters before the `|`,
//! perfdata `'label'=value[UOM];[warn];[crit];[min];[max]` with a closed set of labels, exit 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. Nagios reads a `|` anywhere in the output as the start of perfdata, so no text
//! written here may hold one.

use std::fmt;
use std::io::{self, Write};

use crate::diagnosis::{Code, Severity};
use crate::exit;
use crate::explain::{Explained, ExplainedFinding, ExplainedVerdict};
use crate::plan::{Range, Thresholds};
use crate::report::{Report, Signal, Stage, StageStatus, TlsOutcome};

/// Longest first line (state and sentence, perfdata aside), as the guidelines ask of a plugin.
pub const FIRST_LINE_MAX: usize = 80;

/// The service name every first line starts with, as check_smtp's.
const SERVICE: &str = "SMTP";

/// A plugin state, from best to worst; UNKNOWN stands apart (the check could not be made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }

    pub fn exit_status(self) -> u8 {
        match self {
            State::Ok => exit::nagios::OK,
            State::Warning => exit::nagios::WARNING,
            State::Critical => exit::nagios::CRITICAL,
            State::Unknown => exit::nagios::UNKNOWN,
        }
    }
}

/// Everything one plugin run judges and shows: the findings, the verdict, the probe behind the perfdata.
pub struct Check<'a> {
    /// Every finding, most important first.
    pub findings: Vec<&'a ExplainedFinding>,
    pub verdict: &'a ExplainedVerdict,
    /// The probe whose stage times and certificates become perfdata (none when nothing was probed).
    pub probe: Option<(&'a Report, &'a Explained)>,
    /// Seconds the whole run took: the value --warning and --critical judge.
    pub elapsed_s: f64,
    /// Perfdata of the command's own (the MTA's queue), after the probe's.
    pub extra: Vec<Perf>,
    pub thresholds: Thresholds,
    /// A signal stopped the run: the check could not be made, whatever was found by then.
    pub interrupted: Option<Signal>,
}

impl<'a> Check<'a> {
    /// A `check` run.
    pub fn of_report(report: &'a Report, e: &'a Explained, thresholds: Thresholds) -> Check<'a> {
        Check {
            findings: e.findings.iter().collect(),
            verdict: &e.verdict,
            probe: Some((report, e)),
            elapsed_s: report.elapsed_ms / 1000.0,
            extra: Vec::new(),
            thresholds,
            interrupted: report.interrupted,
        }
    }
}

/// The state and the sentence that says why (layer/code first when a finding decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub state: State,
    pub sentence: String,
    /// A finding decided (its own line in the long output says it in full), not a threshold.
    pub by_finding: bool,
}

/// One perfdata item. Labels come from a closed set: `time`, `dns`, `cert_days`, `<port>_<stage>` (with the host
/// in front when --mx probes one port on several hosts), `queue_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub label: String,
    pub value: f64,
    /// Digits after the point: 6 for seconds (microseconds, as check_smtp), 0 for days and counts.
    pub decimals: usize,
    /// One of the guidelines' units: "", "s", "c"…
    pub uom: &'static str,
    pub warn: Option<Range>,
    pub crit: Option<Range>,
    pub min: Option<f64>,
}

impl Perf {
    fn seconds(label: String, ms: f64) -> Perf {
        Perf {
            label,
            value: (ms / 1000.0).max(0.0),
            decimals: 6,
            uom: "s",
            warn: None,
            crit: None,
            min: Some(0.0),
        }
    }

    /// A count of things (no unit: the guidelines' `c` means a growing counter, which a queue is not).
    pub fn gauge(label: &str, value: usize) -> Perf {
        Perf {
            label: label.to_string(),
            value: value as f64,
            decimals: 0,
            uom: "",
            warn: None,
            crit: None,
            min: Some(0.0),
        }
    }
}

/// `'label'=value[UOM];[warn];[crit];[min]`, trailing empty fields dropped, as the guidelines allow.
impl fmt::Display for Perf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.label.replace('\'', "''").replace(['=', '|'], "_");
        let mut fields = vec![
            format!("{:.*}{}", self.decimals, self.value, self.uom),
            self.warn.map(|r| r.to_string()).unwrap_or_default(),
            self.crit.map(|r| r.to_string()).unwrap_or_default(),
            self.min
                .map(|m| format!("{:.*}", self.decimals, m))
                .unwrap_or_default(),
        ];
        while fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        write!(f, "'{label}'={}", fields.join(";"))
    }
}

/// Writes a `check` run as a plugin.
pub fn write(
    out: &mut dyn Write,
    report: &Report,
    e: &Explained,
    thresholds: Thresholds,
) -> io::Result<()> {
    write_check(out, &Check::of_report(report, e, thresholds))
}

/// The state a `check` run exits with.
pub fn exit_status(report: &Report, e: &Explained, thresholds: Thresholds) -> u8 {
    judge(&Check::of_report(report, e, thresholds))
        .state
        .exit_status()
}

/// The first line with its perfdata, then the whole sentence of a threshold when the first line had to cut it,
/// then one line per finding.
pub fn write_check(out: &mut dyn Write, c: &Check<'_>) -> io::Result<()> {
    let judged = judge(c);
    let sentence = clean(&judged.sentence);
    let perf: Vec<String> = perfdata(c).iter().map(Perf::to_string).collect();
    let first = first_line(judged.state, &sentence);
    if perf.is_empty() {
        writeln!(out, "{first}")?;
    } else {
        writeln!(out, "{first} | {}", perf.join(" "))?;
    }
    // A cut sentence comes whole first in the long output when no finding's line below says it: a threshold's.
    if !judged.by_finding && !first.ends_with(sentence.as_str()) {
        writeln!(out, "{sentence}")?;
    }
    for line in long_output(c) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `SMTP UNKNOWN - reason` for a run that could not be made (bad usage, internal failure); the whole reason
/// follows on the next line when the first had to be cut.
pub fn write_unknown(out: &mut dyn Write, reason: &str) -> io::Result<()> {
    let reason = clean(reason);
    let first = first_line(State::Unknown, &reason);
    writeln!(out, "{first}")?;
    if !first.ends_with(&reason) {
        writeln!(out, "{reason}")?;
    }
    Ok(())
}

/// The worst of what the findings, the total time and the certificates say; on a tie the findings explain it.
pub fn judge(c: &Check<'_>) -> Judged {
    let mut verdicts = vec![by_findings(c), by_time(c)];
    verdicts.extend(by_certificate(c));
    verdicts.extend(by_interruption(c));
    let worst = verdicts.iter().map(|j| j.state).max().unwrap_or(State::Ok);
    match verdicts.into_iter().find(|j| j.state == worst) {
        Some(j) if j.state != State::Ok => j,
        _ => Judged {
            state: State::Ok,
            sentence: ok_sentence(c),
            by_finding: false,
        },
    }
}

/// Error findings are CRITICAL and warnings WARNING, whatever the layer (DNS failures and timeouts included, as
/// the guidelines ask). cert_expires_soon is left to the certificate thresholds, which the user can set.
fn by_findings(c: &Check<'_>) -> Judged {
    let judged: Vec<&&ExplainedFinding> = c
        .findings
        .iter()
        .filter(|f| f.code != Code::CertExpiresSoon && f.severity != Severity::Info)
        .collect();
    let Some(worst) = judged.iter().map(|f| f.severity).min() else {
        return Judged {
            state: State::Ok,
            sentence: String::new(),
            by_finding: false,
        };
    };
    // The verdict's own finding when it is among the worst (the command chose it), else the first of them.
    let chosen = judged
        .iter()
        .find(|f| Some(f.code) == c.verdict.code && f.severity == worst)
        .or_else(|| judged.iter().find(|f| f.severity == worst));
    let state = if worst == Severity::Error {
        State::Critical
    } else {
        State::Warning
    };
    Judged {
        state,
        sentence: chosen
            .map(|f| {
                format!(
                    "{}/{}: {}",
                    f.layer.name(),
                    f.code.name(),
                    clean(&f.message)
                )
            })
            .unwrap_or_default(),
        by_finding: true,
    }
}

/// UNKNOWN when a signal stopped the run: the check was not made, though a failure seen by then is named.
fn by_interruption(c: &Check<'_>) -> Option<Judged> {
    let signal = c.interrupted?;
    let so_far = match c.verdict.code {
        Some(code) if code != Code::Interrupted => format!(
            "; so far {}/{}: {}",
            c.verdict.layer.name(),
            code.name(),
            c.verdict.summary
        ),
        _ => String::new(),
    };
    Some(Judged {
        state: State::Unknown,
        sentence: format!(
            "interrupted by {} before the check finished{so_far}",
            signal.name()
        ),
        by_finding: false,
    })
}

fn by_time(c: &Check<'_>) -> Judged {
    let t = c.elapsed_s;
    let said = |flag: &str, r: &Range| format!("total time {t:.3} s alerts on {flag} {r}");
    match (c.thresholds.critical, c.thresholds.warning) {
        (Some(r), _) if r.alerts(t) => Judged {
            state: State::Critical,
            sentence: said("--critical", &r),
            by_finding: false,
        },
        (_, Some(r)) if r.alerts(t) => Judged {
            state: State::Warning,
            sentence: said("--warning", &r),
            by_finding: false,
        },
        _ => Judged {
            state: State::Ok,
            sentence: String::new(),
            by_finding: false,
        },
    }
}

/// The certificate with the fewest days left, judged by --cert-critical-days, then --cert-warning-days.
fn by_certificate(c: &Check<'_>) -> Option<Judged> {
    let (days, place) = earliest_expiry(c)?;
    // The place comes last: of the three it is the one a cut first line can best do without.
    let said = |r: &Range| {
        format!(
            "tls/{}: {days} days left, under {}: {place}",
            Code::CertExpiresSoon.name(),
            r.start
        )
    };
    let judged = match (c.thresholds.cert_critical, c.thresholds.cert_warning) {
        (Some(r), _) if r.alerts(days as f64) => Judged {
            state: State::Critical,
            sentence: said(&r),
            by_finding: false,
        },
        (_, Some(r)) if r.alerts(days as f64) => Judged {
            state: State::Warning,
            sentence: said(&r),
            by_finding: false,
        },
        _ => return None,
    };
    Some(judged)
}

/// Days left of the leaf certificate that ends first, over every address of every port, and where it was shown.
fn earliest_expiry(c: &Check<'_>) -> Option<(i64, String)> {
    let (report, _) = c.probe?;
    report
        .ports
        .iter()
        .flat_map(|p| p.attempts.iter().map(move |a| (p, a)))
        .filter_map(|(p, a)| {
            let tls = a.tls.as_ref()?;
            let leaf = tls
                .chain
                .first()
                .filter(|_| tls.outcome == TlsOutcome::Established)?;
            Some((leaf.days_left, format!("{}:{}", p.host, p.port)))
        })
        .min_by_key(|(days, _)| *days)
}

/// The sentence of a run where nothing alerts: what every path did, never a finding the thresholds overrule.
fn ok_sentence(c: &Check<'_>) -> String {
    match (c.verdict.code, c.probe) {
        (None, _) => clean(&c.verdict.summary),
        (Some(_), Some((report, _))) => clean(&crate::explain::working_summary(report)),
        (Some(_), None) => "no finding alerts".into(),
    }
}

/// Each port's stage times (of the address the verdict shows), the DNS lookups, the total time and the
/// certificate's days left.
fn perfdata(c: &Check<'_>) -> Vec<Perf> {
    let mut perf = Vec::new();
    if let Some((report, e)) = c.probe {
        if report.dns.queried {
            let d = &report.dns;
            let ms = d.a.elapsed_ms.max(d.aaaa.elapsed_ms);
            perf.push(Perf::seconds("dns".into(), ms));
        }
        for (p, v) in report.ports.iter().zip(&e.ports) {
            let Some(a) = v.shown_attempt.and_then(|i| p.attempts.get(i)) else {
                continue;
            };
            // --mx probes port 25 on several hosts: the host keeps their labels apart.
            let shared = report.ports.iter().filter(|q| q.port == p.port).count() > 1;
            let prefix = if shared {
                format!("{}_{}", p.host, p.port)
            } else {
                p.port.to_string()
            };
            // A stage a signal cut never ended: its time so far is no duration.
            let timed =
                |s: &&Stage| !matches!(s.status, StageStatus::Skipped | StageStatus::Interrupted);
            for s in a.stages.iter().filter(timed) {
                let stage = s.name.label().replace('-', "_");
                perf.push(Perf::seconds(format!("{prefix}_{stage}"), s.elapsed_ms));
            }
        }
    }
    perf.push(Perf {
        warn: c.thresholds.warning,
        crit: c.thresholds.critical,
        ..Perf::seconds("time".into(), c.elapsed_s * 1000.0)
    });
    if let Some((days, _)) = earliest_expiry(c) {
        perf.push(Perf {
            label: "cert_days".into(),
            value: days as f64,
            decimals: 0,
            uom: "",
            warn: c.thresholds.cert_warning,
            crit: c.thresholds.cert_critical,
            min: None,
        });
    }
    perf.extend(c.extra.iter().cloned());
    perf
}

/// One line per finding (severity, layer/code, where, message) and its remedy: the long output Nagios shows
/// under the status line. Notes are included; no secret is ever in a finding's words.
fn long_output(c: &Check<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &c.findings {
        // Where, unless the message already says it (most name the address and port themselves).
        let place = match (f.port, f.address) {
            (Some(p), Some(a)) => std::net::SocketAddr::new(a, p).to_string(),
            (Some(p), None) => format!("port {p}"),
            _ => String::new(),
        };
        let place = if place.is_empty() || f.message.contains(&place) {
            String::new()
        } else {
            format!(" {place}")
        };
        lines.push(clean(&format!(
            "[{}] {}/{}{place}: {}",
            f.severity.name(),
            f.layer.name(),
            f.code.name(),
            f.message
        )));
        if !f.remedy.is_empty() {
            lines.push(clean(&format!("  fix: {}", f.remedy)));
        }
    }
    lines
}

/// `SMTP STATE - sentence`, cut at a word to FIRST_LINE_MAX characters.
fn first_line(state: State, sentence: &str) -> String {
    let head = format!("{SERVICE} {} - ", state.name());
    let room = FIRST_LINE_MAX.saturating_sub(head.chars().count());
    format!("{head}{}", fit(sentence, room))
}

/// The text cut to `room` characters at a word boundary, with "..." where it was cut.
fn fit(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_string();
    }
    let keep = room.saturating_sub(3);
    let cut: String = text.chars().take(keep).collect();
    let at_word = match cut.rfind(' ') {
        Some(i) if i > keep / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}...", at_word.trim_end_matches([' ', ',', ';', ':']))
}

/// Text made safe for a plugin line: `|` would start perfdata and a line break a new line, so neither stays.
fn clean(text: &str) -> String {
    text.chars()
        .map(|ch| match ch {
            '|' => '/',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests;
