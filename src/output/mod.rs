//! The output formats as peers: each writes the report and its explained diagnosis to any `Write`, and each says which exit status its result means.

use std::io::{self, Write};

use crate::exit;
use crate::explain::Explained;
use crate::plan::Thresholds;
use crate::report::Report;

pub mod document;
pub mod fleet;
pub mod human;
pub mod json;
pub mod mta;
pub mod nagios;
pub mod prometheus;
pub mod verbose;

/// Options of the human report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// Also write each attempt's transcript and certificate chain after the findings.
    pub verbose: bool,
}

/// Which output to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human(Style),
    Json,
    /// A Nagios/Icinga plugin's status line, perfdata and long output.
    Nagios(Thresholds),
    /// The Prometheus text exposition (check only).
    Prometheus,
}

/// Writes the report in `format`.
pub fn write(
    format: Format,
    out: &mut dyn Write,
    report: &Report,
    explained: &Explained,
) -> io::Result<()> {
    match format {
        Format::Human(style) => human::write(out, report, explained, style),
        Format::Json => json::write(out, report, explained),
        Format::Nagios(t) => nagios::write(out, report, explained, t),
        Format::Prometheus => prometheus::write(
            out,
            &[prometheus::Probe {
                target: &report.target,
                outcome: prometheus::Outcome::Diagnosed(report, explained),
                timeout_seconds: None,
            }],
        ),
    }
}

/// The exit status a format's result stands for. Monitoring reads the status alone, so every format
/// fails exactly when the diagnosis does; a format with its own policy gets its own arm here.
pub fn exit_status(format: Format, report: &Report, explained: &Explained) -> u8 {
    // A run a signal stopped exits as a shell expects of that signal (130, 143) in every format but nagios,
    // whose word for a check that could not be made is UNKNOWN. For prometheus this keeps a `> f.tmp && mv`
    // job from publishing a half-run exposition over the last complete one.
    if let (Some(signal), false) = (report.interrupted, matches!(format, Format::Nagios(_))) {
        return exit::signal_status(signal);
    }
    match format {
        Format::Human(_) | Format::Json => {
            if explained.ok {
                exit::OK
            } else {
                exit::PROBLEM
            }
        }
        Format::Nagios(t) => nagios::exit_status(report, explained, t),
        // A textfile-collector job publishes the file only when the run succeeds (`> f.tmp && mv`): a failing
        // target must still be written, so the exposition's own probe_success carries the verdict.
        Format::Prometheus => exit::OK,
    }
}

#[cfg(test)]
mod tests;
