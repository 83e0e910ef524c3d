//! Renders a report and its diagnosis for people (a short table, the verdict, the fixes) or as JSON; writes to any `Write`.

use std::io::{self, Write};

use colored::{ColoredString, Colorize};
use serde::{Deserialize, Serialize};

use crate::diagnosis::{Layer, PortVerdict, Severity};
use crate::explain::{
    Explained as Diagnosis, ExplainedFinding as Finding, ExplainedVerdict as Verdict,
};
use crate::report::{
    Attempt, DnsOutcome, DnsReport, HostFacts, PortMode, Report, Stage, StageName, StageStatus,
};

pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document: the diagnosis on top, the facts below.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonReport {
    pub schema_version: u32,
    pub target: String,
    pub ok: bool,
    pub verdict: Verdict,
    pub dns: DnsReport,
    pub ports: Vec<JsonPort>,
    pub findings: Vec<Finding>,
    pub host: HostFacts,
    pub tls_verification: bool,
    pub elapsed_ms: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct JsonPort {
    pub host: String,
    pub port: u16,
    pub mode: PortMode,
    pub ok: bool,
    pub layer: Layer,
    /// The address whose stages are shown (the failing one, or the first that works).
    pub address: Option<std::net::IpAddr>,
    pub stages: Vec<Stage>,
    pub attempts: Vec<Attempt>,
    /// The layer each attempt's own failure points at (`none` when it worked), in the order of `attempts`.
    pub attempt_layers: Vec<Layer>,
}

pub fn json_report(report: &Report, diagnosis: &Diagnosis) -> JsonReport {
    let ports = report
        .ports
        .iter()
        .zip(&diagnosis.ports)
        .map(|(p, v)| {
            let shown = v.shown_attempt.and_then(|i| p.attempts.get(i));
            JsonPort {
                host: p.host.clone(),
                port: p.port,
                mode: p.mode,
                ok: v.ok,
                layer: v.layer,
                address: shown.map(|a| a.address),
                stages: shown.map(|a| a.stages.clone()).unwrap_or_default(),
                attempts: p.attempts.clone(),
                attempt_layers: v.attempt_layers.clone(),
            }
        })
        .collect();
    JsonReport {
        schema_version: SCHEMA_VERSION,
        target: report.target.clone(),
        ok: diagnosis.ok,
        verdict: diagnosis.verdict.clone(),
        dns: report.dns.clone(),
        ports,
        findings: diagnosis.findings.clone(),
        host: report.host.clone(),
        tls_verification: report.tls_verification,
        elapsed_ms: report.elapsed_ms,
    }
}

pub fn json(out: &mut dyn Write, report: &Report, diagnosis: &Diagnosis) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &json_report(report, diagnosis))?;
    writeln!(out)
}

/// Human rendering options.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub verbose: bool,
}

/// Visible width of one stage cell in the table.
const CELL: usize = 11;

const COLUMNS: [StageName; 7] = [
    StageName::Connect,
    StageName::Greeting,
    StageName::Ehlo,
    StageName::Tls,
    StageName::EhloTls,
    StageName::Auth,
    StageName::Quit,
];

pub fn human(out: &mut dyn Write, report: &Report, d: &Diagnosis, style: Style) -> io::Result<()> {
    colored::control::set_override(style.color);
    let result = write_human(out, report, d, style);
    colored::control::unset_override();
    result
}

fn write_human(
    out: &mut dyn Write,
    report: &Report,
    d: &Diagnosis,
    style: Style,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {}  ({:.2} s)",
        "smtp-doctor check".bold(),
        report.target,
        report.elapsed_ms / 1000.0
    )?;
    dns_line(out, &report.dns)?;
    writeln!(out)?;
    write!(out, "  {:<6} {:<26}", "PORT", "ADDRESS")?;
    for name in COLUMNS {
        write!(out, " {:<11}", name.label())?;
    }
    writeln!(out, " LAYER")?;
    let several_hosts = report.ports.iter().any(|p| p.host != report.target);
    let mut last_host: Option<&str> = None;
    for (p, v) in report.ports.iter().zip(&d.ports) {
        if several_hosts && last_host != Some(p.host.as_str()) {
            writeln!(out, "  {}", p.host.bold())?;
            last_host = Some(p.host.as_str());
        }
        if p.attempts.is_empty() {
            writeln!(
                out,
                "  {:<6} {:<26} {}",
                p.port,
                "(no address)",
                layer_mark(v.layer, v.ok)
            )?;
        }
        for (i, a) in p.attempts.iter().enumerate() {
            let port_col = if i == 0 {
                p.port.to_string()
            } else {
                String::new()
            };
            write!(out, "  {:<6} {:<26}", port_col, a.address.to_string())?;
            for name in COLUMNS {
                let cell = match a.stage(name) {
                    Some(s) => stage_cell(s),
                    None => "·".dimmed().to_string() + &" ".repeat(CELL - 1),
                };
                write!(out, " {cell}")?;
            }
            let layer = attempt_layer(v, i);
            writeln!(out, "{}", layer)?;
        }
    }
    writeln!(out)?;
    let verdict_word = if d.ok {
        if d.verdict.layer == Layer::None {
            "OK".green().bold()
        } else {
            "OK, with a warning".yellow().bold()
        }
    } else {
        "PROBLEM".red().bold()
    };
    writeln!(
        out,
        "{verdict_word} [{}] {}",
        d.verdict.layer.name(),
        d.verdict.summary
    )?;
    if !d.findings.is_empty() {
        writeln!(out)?;
    }
    for f in &d.findings {
        let (mark, sev): (ColoredString, &str) = match f.severity {
            Severity::Error => ("✗".red().bold(), "error"),
            Severity::Warning => ("!".yellow().bold(), "warning"),
            Severity::Info => ("i".blue(), "info"),
        };
        let port = f.port.map(|p| format!(" port {p}")).unwrap_or_default();
        writeln!(
            out,
            "{mark} {}{port} ({sev}, {:?} confidence): {}",
            f.layer.name().bold(),
            f.confidence,
            f.message
        )?;
        for e in &f.evidence {
            writeln!(out, "    {} {e}", "·".dimmed())?;
        }
        writeln!(out, "    {} {}", "fix:".bold(), f.remedy)?;
    }
    if style.verbose {
        verbose(out, report)?;
    }
    Ok(())
}

fn attempt_layer(v: &PortVerdict, i: usize) -> String {
    let own = v.attempt_layers.get(i).copied().unwrap_or(Layer::None);
    match (v.ok, own) {
        (_, Layer::None) => format!(" {}", layer_mark(Layer::None, true)),
        // A failing address of a port that works through another one: a warning, not the port's verdict.
        (true, layer) => format!(
            " {}",
            format!("{} (other address works)", layer.name()).yellow()
        ),
        (false, layer) => format!(" {}", layer_mark(layer, false)),
    }
}

fn layer_mark(layer: Layer, ok: bool) -> String {
    if ok {
        "ok".green().to_string()
    } else {
        layer.name().red().bold().to_string()
    }
}

fn stage_cell(s: &Stage) -> String {
    let time = if s.elapsed_ms >= 1000.0 {
        format!("{:.1}s", s.elapsed_ms / 1000.0)
    } else {
        format!("{:.0}ms", s.elapsed_ms)
    };
    let (mark, painted): (&str, fn(&str) -> ColoredString) = match s.status {
        StageStatus::Ok => ("✓", |t| t.green()),
        StageStatus::Warning => ("!", |t| t.yellow()),
        StageStatus::Failed => ("✗", |t| t.red().bold()),
        StageStatus::Skipped => ("-", |t| t.dimmed()),
    };
    let text = format!("{mark} {time}");
    format!(
        "{}{}",
        painted(&text),
        " ".repeat(CELL.saturating_sub(text.chars().count()))
    )
}

fn dns_line(out: &mut dyn Write, d: &DnsReport) -> io::Result<()> {
    if !d.queried {
        return Ok(());
    }
    let show = |label: &str, l: &crate::report::DnsLookup| -> String {
        match l.outcome {
            DnsOutcome::NotAsked => String::new(),
            DnsOutcome::Answered => format!("{label} {}", l.records.join(" ")),
            o => format!("{label} {}", dns_word(o)),
        }
    };
    let mut parts = vec![show("A", &d.a), show("AAAA", &d.aaaa)];
    if !d.mx.is_empty() {
        let mx: Vec<String> =
            d.mx.iter()
                .map(|m| format!("{} {}", m.preference, m.host))
                .collect();
        parts.push(format!(
            "MX({}) {}",
            d.mx_domain.as_deref().unwrap_or(""),
            mx.join(", ")
        ));
    }
    parts.retain(|p| !p.is_empty());
    writeln!(out, "  dns via {}: {}", d.resolver, parts.join("   "))
}

fn dns_word(o: DnsOutcome) -> &'static str {
    match o {
        DnsOutcome::NotAsked => "-",
        DnsOutcome::Answered => "answered",
        DnsOutcome::NxDomain => "NXDOMAIN",
        DnsOutcome::NoRecords => "none",
        DnsOutcome::ServFail => "SERVFAIL",
        DnsOutcome::Refused => "REFUSED",
        DnsOutcome::Timeout => "timeout",
        DnsOutcome::NoResolver => "no resolver",
        DnsOutcome::Error => "error",
    }
}

fn verbose(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    for p in &report.ports {
        for a in &p.attempts {
            writeln!(out)?;
            writeln!(
                out,
                "{}",
                format!(
                    "── {} port {} ({}) ──",
                    a.address,
                    p.port,
                    format!("{:?}", p.mode).to_lowercase()
                )
                .bold()
            )?;
            for s in &a.stages {
                writeln!(
                    out,
                    "  {:<9} {:<8} {:>9.1} ms  {}",
                    s.name.label(),
                    format!("{:?}", s.status).to_lowercase(),
                    s.elapsed_ms,
                    s.detail
                )?;
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
        }
    }
    Ok(())
}
