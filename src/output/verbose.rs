//! The verbose part of the human report: every attempt's stages, certificate chain and SMTP transcript (AUTH already redacted).

use std::io::{self, Write};

use colored::Colorize;

use crate::report::{Attempt, HostPath, PathOutcome, PortReport, Report};

/// Writes every attempt of every port; colour follows whatever the caller (the human report) set.
pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    for p in &report.ports {
        for a in &p.attempts {
            attempt(out, p, a)?;
        }
    }
    Ok(())
}

fn attempt(out: &mut dyn Write, p: &PortReport, a: &Attempt) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        format!("── {} port {} ({}) ──", a.address, p.port, p.mode.name()).bold()
    )?;
    for s in &a.stages {
        writeln!(
            out,
            "  {:<9} {:<8} {:>9.1} ms  {}",
            s.name.label(),
            s.status.name(),
            s.elapsed_ms,
            s.detail
        )?;
    }
    if let Some(h) = &a.host_path {
        host_path(out, h)?;
    }
    if let Some(t) = &a.tls {
        for (i, c) in t.chain.iter().enumerate() {
            writeln!(out, "  cert[{i}] subject: {}", c.subject)?;
            writeln!(out, "          names: {}", c.sans.join(", "))?;
            writeln!(out, "          issuer: {}", c.issuer)?;
            writeln!(
                out,
                "          valid: {} → {} ({} days left)",
                c.not_before, c.not_after, c.days_left
            )?;
        }
    }
    for line in &a.transcript {
        let dir = match line.dir.as_str() {
            "C" => "C:".cyan().to_string(),
            "S" => "S:".magenta().to_string(),
            _ => " *".dimmed().to_string(),
        };
        writeln!(out, "  {dir} {}", line.text)?;
    }
    Ok(())
}

/// The way the probe's SYN went through this host's rules: every rule it met, and where it ended.
fn host_path(out: &mut dyn Write, h: &HostPath) -> io::Result<()> {
    let end = match (h.outcome, &h.nat) {
        (PathOutcome::Pass, Some(n)) => format!("passes, sent to {}", n.to),
        (PathOutcome::Pass, None) => "passes".to_string(),
        (PathOutcome::Drop, _) => "dropped".to_string(),
        (PathOutcome::Reject, _) => "rejected".to_string(),
    };
    writeln!(out, "  host rules: {end}")?;
    for r in &h.met {
        writeln!(
            out,
            "    met   {} {} {}: {}",
            r.source, r.table, r.chain, r.text
        )?;
    }
    for r in &h.unsure {
        writeln!(
            out,
            "    unsure {} {} {}: {} (a test this tool cannot evaluate; taken as not matching)",
            r.source, r.table, r.chain, r.text
        )?;
    }
    if let Some(r) = h.decided_by.as_ref().filter(|_| h.met.is_empty()) {
        writeln!(
            out,
            "    ended {} {} {}: {}",
            r.source, r.table, r.chain, r.text
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::report::{PortMode, StageStatus};

    /// People and JSON see the same word for a mode or a status.
    #[test]
    fn words_match_the_json_names() {
        for m in [PortMode::Starttls, PortMode::Implicit, PortMode::Detect] {
            let json = serde_json::to_string(&m).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
        for s in [
            StageStatus::Ok,
            StageStatus::Warning,
            StageStatus::Failed,
            StageStatus::Skipped,
        ] {
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.name()));
        }
    }
}
