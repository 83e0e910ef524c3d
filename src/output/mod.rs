//! The output formats as peers: each writes the report and its explained diagnosis to any `Write`, and each says which exit status its result means.

use std::io::{self, Write};

use crate::exit;
use crate::explain::Explained;
use crate::report::Report;

pub mod document;
pub mod fleet;
pub mod human;
pub mod json;
pub mod mta;
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
    }
}

/// The exit status a format's result stands for. Monitoring reads the status alone, so every format
/// fails exactly when the diagnosis does; a format with its own policy gets its own arm here.
pub fn exit_status(format: Format, explained: &Explained) -> u8 {
    match format {
        Format::Human(_) | Format::Json => {
            if explained.ok {
                exit::OK
            } else {
                exit::PROBLEM
            }
        }
    }
}

#[cfg(test)]
mod tests;
