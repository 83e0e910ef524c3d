//! Results of `check` over several targets, as each finishes: one JSON document at the end, one JSON line each, or each report for people with a summary table and a progress line.

use std::io::{self, Write};

use colored::Colorize;

use super::document::{
    JsonCounts, JsonFleetReport, JsonReport, JsonTargetError, JsonTargetResult, TargetStatus,
    SCHEMA_VERSION,
};
use super::{human, prometheus, Style};
use crate::diagnosis::Layer;
use crate::exit;
use crate::explain::Explained;
use crate::report::{Report, Signal};

/// Widest TARGET column of the summary table; longer labels are cut with an ellipsis.
const TARGET_WIDTH: usize = 44;

/// One finished target.
pub struct TargetOutcome {
    pub index: usize,
    pub name: Option<String>,
    pub input: String,
    pub elapsed_ms: f64,
    pub result: Probed,
}

/// A target's report and its explained diagnosis, or why it was not probed.
pub enum Probed {
    Report(Box<(Report, Explained)>),
    NotProbed {
        code: &'static str,
        message: String,
    },
    /// A signal stopped the run before this target began.
    NotStarted {
        message: String,
    },
}

/// The error code of a target a signal came before.
const NOT_STARTED: &str = "interrupted";

/// How the results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetStyle {
    Document,
    Lines,
    /// One exposition of every diagnosed target at the end (the textfile collector's file).
    Prometheus,
    Human {
        style: Style,
        progress: bool,
    },
}

impl TargetOutcome {
    pub fn status(&self) -> TargetStatus {
        match &self.result {
            Probed::Report(r) if r.0.interrupted.is_some() => TargetStatus::Interrupted,
            Probed::Report(r) if r.1.ok => TargetStatus::Ok,
            Probed::Report(_) => TargetStatus::Problem,
            Probed::NotProbed { .. } => TargetStatus::Error,
            Probed::NotStarted { .. } => TargetStatus::Interrupted,
        }
    }

    /// The object of a JSON line, and of the document's `targets`.
    pub fn json(&self) -> JsonTargetResult {
        let status = self.status();
        let (error, report) = match &self.result {
            Probed::Report(r) => (None, Some(JsonReport::new(&r.0, &r.1))),
            Probed::NotProbed { code, message } => (
                Some(JsonTargetError {
                    code: code.to_string(),
                    message: message.clone(),
                }),
                None,
            ),
            Probed::NotStarted { message } => (
                Some(JsonTargetError {
                    code: NOT_STARTED.to_string(),
                    message: message.clone(),
                }),
                None,
            ),
        };
        JsonTargetResult {
            index: self.index,
            name: self.name.clone(),
            input: self.input.clone(),
            status,
            ok: status == TargetStatus::Ok,
            elapsed_ms: self.elapsed_ms,
            error,
            report,
        }
    }

    /// "shop (smtp.example.com:587)", or the input alone.
    fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} ({})", self.input),
            None => self.input.clone(),
        }
    }

    fn row(&self) -> Row {
        let (layer, code) = match &self.result {
            Probed::Report(r) => (
                Some(r.1.verdict.layer),
                r.1.verdict.code.map(|c| c.name().to_string()),
            ),
            Probed::NotProbed { code, .. } => (None, Some(code.to_string())),
            Probed::NotStarted { .. } => (None, Some(NOT_STARTED.to_string())),
        };
        Row {
            index: self.index,
            label: self.label(),
            status: self.status(),
            layer,
            code,
            elapsed_ms: matches!(self.result, Probed::Report(_)).then_some(self.elapsed_ms),
        }
    }
}

/// A summary table's line, kept once the report itself is written and dropped.
struct Row {
    index: usize,
    label: String,
    status: TargetStatus,
    layer: Option<Layer>,
    code: Option<String>,
    elapsed_ms: Option<f64>,
}

/// Writes each result as it comes, and what is due at the end; holds only what the end needs.
pub struct FleetWriter<'a> {
    style: FleetStyle,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    total: usize,
    rows: Vec<Row>,
    /// --json keeps every result for the one document written at the end.
    kept: Vec<JsonTargetResult>,
    /// --format prometheus keeps every outcome for the one exposition written at the end.
    outcomes: Vec<TargetOutcome>,
    progress_shown: bool,
    /// The signal that stopped the run, if one did: the exit status says it.
    signal: Option<Signal>,
}

impl<'a> FleetWriter<'a> {
    pub fn new(
        style: FleetStyle,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
        total: usize,
    ) -> FleetWriter<'a> {
        FleetWriter {
            style,
            out,
            err,
            total,
            rows: Vec::with_capacity(total),
            kept: Vec::new(),
            outcomes: Vec::new(),
            progress_shown: false,
            signal: None,
        }
    }

    /// Notes the signal that stopped the run (None: it ran to its end).
    pub fn stopped_by(&mut self, signal: Option<Signal>) {
        self.signal = signal;
    }

    /// Draws the progress line (stderr, a terminal) with `running` targets in flight; no-op in other styles.
    pub fn progress(&mut self, running: usize) -> io::Result<()> {
        let FleetStyle::Human { progress: true, .. } = self.style else {
            return Ok(());
        };
        let count = |s| self.rows.iter().filter(|r| r.status == s).count();
        let line = progress_line(
            self.rows.len(),
            self.total,
            running,
            count(TargetStatus::Ok),
            count(TargetStatus::Problem)
                + count(TargetStatus::Error)
                + count(TargetStatus::Interrupted),
        );
        write!(self.err, "\r\x1b[2K{line}")?;
        self.err.flush()?;
        self.progress_shown = true;
        Ok(())
    }

    fn clear_progress(&mut self) -> io::Result<()> {
        if self.progress_shown {
            write!(self.err, "\r\x1b[2K")?;
            self.err.flush()?;
            self.progress_shown = false;
        }
        Ok(())
    }

    /// Writes one finished target.
    pub fn target(&mut self, o: TargetOutcome) -> io::Result<()> {
        match self.style {
            FleetStyle::Lines => {
                serde_json::to_writer(&mut *self.out, &o.json())?;
                writeln!(self.out)?;
                self.out.flush()?;
            }
            FleetStyle::Document => self.kept.push(o.json()),
            FleetStyle::Prometheus => {
                if let Probed::NotProbed { message, .. } | Probed::NotStarted { message } =
                    &o.result
                {
                    // The exposition has no series for a target that was never probed: say why where people look.
                    writeln!(
                        self.err,
                        "smtp-doctor: {}: {message}",
                        o.name.as_deref().unwrap_or(&o.input)
                    )?;
                }
                self.rows.push(o.row());
                self.outcomes.push(o);
                return Ok(());
            }
            FleetStyle::Human { style, .. } => {
                self.clear_progress()?;
                human_target(self.out, &o, self.total, style)?;
                self.out.flush()?;
            }
        }
        self.rows.push(o.row());
        Ok(())
    }

    /// Writes what comes after every target (the document, or the summary table) and returns the exit status.
    pub fn finish(mut self, elapsed_ms: f64) -> io::Result<u8> {
        self.rows.sort_by_key(|r| r.index);
        let code = exit_status(&self.rows, self.signal);
        match self.style {
            FleetStyle::Lines => {}
            FleetStyle::Prometheus => {
                self.outcomes.sort_by_key(|o| o.index);
                let probes: Vec<prometheus::Probe<'_>> = self
                    .outcomes
                    .iter()
                    .filter_map(|o| match &o.result {
                        Probed::Report(r) => Some(prometheus::Probe {
                            target: o.input.as_str(),
                            outcome: prometheus::Outcome::Diagnosed(&r.0, &r.1),
                            timeout_seconds: None,
                        }),
                        Probed::NotProbed { .. } | Probed::NotStarted { .. } => None,
                    })
                    .collect();
                prometheus::write(self.out, &probes)?;
                self.out.flush()?;
                // As for one target: the file was written, which is what a textfile job checks; a run a signal
                // cut exits as the signal asks, so that job keeps its last complete file.
                return Ok(match interrupted_by(&self.rows, self.signal) {
                    Some(signal) => exit::signal_status(signal),
                    None => exit::OK,
                });
            }
            FleetStyle::Document => {
                self.kept.sort_by_key(|t| t.index);
                let doc = JsonFleetReport {
                    schema_version: SCHEMA_VERSION,
                    ok: code == exit::OK,
                    counts: counts(&self.rows),
                    targets: std::mem::take(&mut self.kept),
                    elapsed_ms,
                    interrupted: interrupted_by(&self.rows, self.signal).is_some(),
                };
                serde_json::to_writer_pretty(&mut *self.out, &doc)?;
                writeln!(self.out)?;
            }
            FleetStyle::Human { style, .. } => {
                self.clear_progress()?;
                colored::control::set_override(style.color);
                let result = summary(self.out, &self.rows, elapsed_ms);
                colored::control::unset_override();
                result?;
            }
        }
        self.out.flush()?;
        Ok(code)
    }

    /// The exit status of the targets written so far (a reader that went away ends the run early).
    pub fn exit_status(&self) -> u8 {
        exit_status(&self.rows, self.signal)
    }
}

/// The signal, when it cut a target short or came before one: a signal after every target had finished
/// changes nothing.
fn interrupted_by(rows: &[Row], signal: Option<Signal>) -> Option<Signal> {
    signal.filter(|_| rows.iter().any(|r| r.status == TargetStatus::Interrupted))
}

/// Every target must be probed and ok; anything else is a problem of the run; a signal's run exits as it asks.
fn exit_status(rows: &[Row], signal: Option<Signal>) -> u8 {
    if let Some(signal) = interrupted_by(rows, signal) {
        return exit::signal_status(signal);
    }
    if rows.iter().all(|r| r.status == TargetStatus::Ok) {
        exit::OK
    } else {
        exit::PROBLEM
    }
}

fn counts(rows: &[Row]) -> JsonCounts {
    let mut c = JsonCounts::default();
    for r in rows {
        match r.status {
            TargetStatus::Ok => c.ok += 1,
            TargetStatus::Problem => c.problem += 1,
            TargetStatus::Error => c.error += 1,
            TargetStatus::Interrupted => c.interrupted += 1,
        }
    }
    c
}

/// `smtp-doctor: 12 of 40 targets done (10 ok, 2 with problems), 8 running`.
pub fn progress_line(done: usize, total: usize, running: usize, ok: usize, bad: usize) -> String {
    format!("smtp-doctor: {done} of {total} targets done ({ok} ok, {bad} with problems), {running} running")
}

/// `[2/5] shop (smtp.example.com:587)` above the target's own report, or why it was not probed.
fn human_target(
    out: &mut dyn Write,
    o: &TargetOutcome,
    total: usize,
    style: Style,
) -> io::Result<()> {
    colored::control::set_override(style.color);
    let heading = format!("[{}/{total}] {}", o.index + 1, o.label());
    let result = writeln!(out, "{}", heading.bold());
    colored::control::unset_override();
    result?;
    match &o.result {
        Probed::Report(r) => human::write(out, &r.0, &r.1, style)?,
        Probed::NotProbed { code, message } => {
            colored::control::set_override(style.color);
            let result = writeln!(out, "{} [{code}] {message}", "NOT PROBED".red().bold());
            colored::control::unset_override();
            result?;
        }
        Probed::NotStarted { message } => {
            colored::control::set_override(style.color);
            let result = writeln!(
                out,
                "{} [{NOT_STARTED}] {message}",
                "NOT PROBED".magenta().bold()
            );
            colored::control::unset_override();
            result?;
        }
    }
    writeln!(out)
}

/// One line per target in the order given, then the counts.
fn summary(out: &mut dyn Write, rows: &[Row], elapsed_ms: f64) -> io::Result<()> {
    let c = counts(rows);
    let stopped = if c.interrupted > 0 {
        format!(", {} interrupted", c.interrupted)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} {} targets in {:.2} s: {} ok, {} with a problem, {} not probed{stopped}",
        "SUMMARY".bold(),
        rows.len(),
        elapsed_ms / 1000.0,
        c.ok,
        c.problem,
        c.error
    )?;
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp("TARGET".len(), TARGET_WIDTH);
    let code_width = rows
        .iter()
        .filter_map(|r| r.code.as_ref().map(|c| c.len()))
        .max()
        .unwrap_or(0)
        .max("CODE".len());
    let index_width = rows.len().to_string().len().max(1);
    writeln!(
        out,
        "  {:>index_width$}  {:<width$}  {:<2}  {:<11}  {:<code_width$}  TIME",
        "#", "TARGET", "OK", "LAYER", "CODE"
    )?;
    for r in rows {
        let mark = match r.status {
            TargetStatus::Ok => "✓".green(),
            TargetStatus::Problem | TargetStatus::Error => "✗".red().bold(),
            TargetStatus::Interrupted => "…".magenta().bold(),
        };
        let layer = r.layer.map_or("-", Layer::name);
        let code = r.code.as_deref().unwrap_or("-");
        let time = r
            .elapsed_ms
            .map_or_else(|| "-".to_string(), |ms| format!("{:.2} s", ms / 1000.0));
        writeln!(
            out,
            "  {:>index_width$}  {:<width$}  {mark}   {:<11}  {:<code_width$}  {time}",
            r.index + 1,
            cut(&r.label, width),
            layer,
            code,
        )?;
    }
    Ok(())
}

/// At most `width` characters, the last an ellipsis when cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_probed(index: usize) -> TargetOutcome {
        TargetOutcome {
            index,
            name: Some("billing".into()),
            input: "mail.example.com:587".into(),
            elapsed_ms: 0.0,
            result: Probed::NotProbed {
                code: "password_unset",
                message: "not probed: BILLING_PASS is not set".into(),
            },
        }
    }

    fn for_people(progress: bool) -> FleetStyle {
        FleetStyle::Human {
            style: Style {
                color: false,
                verbose: false,
            },
            progress,
        }
    }

    #[test]
    fn a_line_per_target_is_one_json_object() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut w = FleetWriter::new(FleetStyle::Lines, &mut out, &mut err, 2);
        assert!(w.target(not_probed(1)).is_ok());
        assert!(w.target(not_probed(0)).is_ok());
        assert_eq!(w.finish(1.0).ok(), Some(exit::PROBLEM));
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: JsonTargetResult =
            serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]));
        assert_eq!(first.index, 1);
        assert_eq!(first.status, TargetStatus::Error);
        assert_eq!(
            first.error.map(|e| e.code).as_deref(),
            Some("password_unset")
        );
        assert!(err.is_empty());
    }

    #[test]
    fn the_summary_lists_targets_in_the_order_given() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut w = FleetWriter::new(for_people(false), &mut out, &mut err, 2);
        assert!(w.target(not_probed(1)).is_ok());
        assert!(w.target(not_probed(0)).is_ok());
        assert!(w.finish(12.0).is_ok());
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("[2/2] billing (mail.example.com:587)"),
            "{text}"
        );
        assert!(text.contains("NOT PROBED [password_unset]"), "{text}");
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("SUMMARY"))
            .collect();
        assert!(table[0].contains("2 targets"), "{text}");
        assert!(table[2].trim_start().starts_with("1 "), "{text}");
        assert!(table[3].trim_start().starts_with("2 "), "{text}");
        assert!(
            table[2].contains("password_unset") && table[2].ends_with(" -"),
            "{text}"
        );
        // No progress line without a terminal.
        assert!(err.is_empty());
    }

    #[test]
    fn the_progress_line_goes_to_stderr_and_is_cleared() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut w = FleetWriter::new(for_people(true), &mut out, &mut err, 1);
        assert!(w.progress(1).is_ok());
        assert!(w.target(not_probed(0)).is_ok());
        assert!(w.finish(1.0).is_ok());
        let e = String::from_utf8_lossy(&err);
        assert!(e.contains("0 of 1 targets done"), "{e}");
        assert!(e.ends_with("\r\x1b[2K"), "{e:?}");
        assert!(!String::from_utf8_lossy(&out).contains("targets done"));
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("ééééé", 3), "éé…");
    }
}
