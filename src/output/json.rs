//! The JSON output: one pretty-printed document (see `document`) and a final newline, nothing else on stdout.

use std::io::{self, Write};

use super::document::JsonReport;
use crate::explain::Explained;
use crate::report::Report;

pub fn write(out: &mut dyn Write, report: &Report, explained: &Explained) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonReport::new(report, explained))?;
    writeln!(out)
}
