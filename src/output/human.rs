//! The report for people: a table of stages per port and address, the verdict line, and each finding with its evidence and fix.

use std::io::{self, Write};

use colored::{ColoredString, Colorize};

use super::{verbose, Style};
use crate::diagnosis::{Code, Layer, PortVerdict, Severity};
use crate::explain::{note_words, probed_words, Explained, ExplainedFinding, ExplainedVerdict};
use crate::report::settings::{KeyUse, Quoting, SettingsFacts};
use crate::report::{
    DnsLookup, DnsOutcome, DnsReport, Manager, NotRead, Report, Stage, StageName, StageStatus,
    UserFacts,
};

/// Visible width of one stage cell in the table.
const CELL: usize = 11;

const COLUMNS: [StageName; 10] = [
    StageName::Connect,
    StageName::Greeting,
    StageName::Ehlo,
    StageName::Tls,
    StageName::EhloTls,
    StageName::Auth,
    StageName::MailFrom,
    StageName::RcptTo,
    StageName::Data,
    StageName::Quit,
];

/// The envelope's columns only when some row has them: most runs test no envelope.
fn columns(report: &Report) -> Vec<StageName> {
    let used = |name: StageName| {
        report
            .ports
            .iter()
            .flat_map(|p| &p.attempts)
            .any(|a| a.stage(name).is_some())
    };
    COLUMNS
        .into_iter()
        .filter(|&n| {
            !matches!(n, StageName::MailFrom | StageName::RcptTo | StageName::Data) || used(n)
        })
        .collect()
}

/// Writes the human report; colour is on or off for exactly this call, whatever the terminal.
pub fn write(
    out: &mut dyn Write,
    report: &Report,
    explained: &Explained,
    style: Style,
) -> io::Result<()> {
    colored::control::set_override(style.color);
    let result = write_all(out, report, explained, style);
    colored::control::unset_override();
    result
}

fn write_all(
    out: &mut dyn Write,
    report: &Report,
    explained: &Explained,
    style: Style,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {}  ({:.2} s)",
        "smtp-doctor check".bold(),
        report.target,
        report.elapsed_ms / 1000.0
    )?;
    if let Some(signal) = report.interrupted {
        writeln!(
            out,
            "  {} by {}: the stages that had finished are shown; … marks one still running, its outcome unknown",
            "interrupted".magenta().bold(),
            signal.name()
        )?;
    }
    if let Some(settings) = &report.settings {
        settings_block(out, settings, style.verbose)?;
    }
    dns_line(out, &report.dns)?;
    user_line(out, &report.host.user, style.verbose)?;
    firewall_line(out, report)?;
    writeln!(out)?;
    // Only settings that name no server probe nothing: a table without rows would say nothing.
    if !report.ports.is_empty() {
        table(out, report, &explained.ports)?;
        writeln!(out)?;
    }
    verdict_line(out, explained.ok, &explained.verdict)?;
    if !explained.findings.is_empty() {
        writeln!(out)?;
    }
    for f in &explained.findings {
        finding(out, f)?;
    }
    if style.verbose {
        verbose::write(out, report)?;
    }
    Ok(())
}

/// One row per address of each port, one cell per stage, and the layer the row's failure points at.
pub(super) fn table(
    out: &mut dyn Write,
    report: &Report,
    verdicts: &[PortVerdict],
) -> io::Result<()> {
    let columns = columns(report);
    write!(out, "  {:<6} {:<26}", "PORT", "ADDRESS")?;
    for &name in &columns {
        write!(out, " {:<11}", name.label())?;
    }
    writeln!(out, " LAYER")?;
    let several_hosts = report.ports.iter().any(|p| p.host != report.target);
    let mut last_host: Option<&str> = None;
    for (p, v) in report.ports.iter().zip(verdicts) {
        if several_hosts && last_host != Some(p.host.as_str()) {
            writeln!(out, "  {}", p.host.bold())?;
            last_host = Some(p.host.as_str());
        }
        if p.attempts.is_empty() {
            // Not failed: the signal came before the lookup that would have given an address.
            let mark = if report.interrupted.is_some() && !v.ok && v.layer == Layer::None {
                interrupted_mark()
            } else {
                layer_mark(v.layer, v.ok)
            };
            writeln!(out, "  {:<6} {:<26} {mark}", p.port, "(no address)")?;
        }
        for (i, a) in p.attempts.iter().enumerate() {
            let port_col = if i == 0 {
                p.port.to_string()
            } else {
                String::new()
            };
            write!(out, "  {:<6} {:<26}", port_col, a.address.to_string())?;
            for &name in &columns {
                let cell = match a.stage(name) {
                    Some(s) => stage_cell(s),
                    None => "·".dimmed().to_string() + &" ".repeat(CELL - 1),
                };
                write!(out, " {cell}")?;
            }
            let cut = a
                .stages
                .iter()
                .any(|s| s.status == StageStatus::Interrupted);
            writeln!(out, "{}", attempt_layer(v, i, cut))?;
        }
    }
    Ok(())
}

/// `PROBLEM [firewall/firewall_drop] …`: the word, the layer and the deciding code, the summary.
pub(super) fn verdict_line(out: &mut dyn Write, ok: bool, v: &ExplainedVerdict) -> io::Result<()> {
    let word = if v.code == Some(Code::Interrupted) {
        "INTERRUPTED".magenta().bold()
    } else if !ok {
        "PROBLEM".red().bold()
    } else if v.layer == Layer::None {
        "OK".green().bold()
    } else {
        "OK, with a warning".yellow().bold()
    };
    let tag = match v.code {
        Some(code) => format!("{}/{}", v.layer.name(), code.name()),
        None => v.layer.name().to_string(),
    };
    writeln!(out, "{word} [{tag}] {}", v.summary)
}

/// The finding's line, its evidence, the fix in words, then each fix command alone on its line.
pub(super) fn finding(out: &mut dyn Write, f: &ExplainedFinding) -> io::Result<()> {
    let mark: ColoredString = match f.severity {
        Severity::Error => "✗".red().bold(),
        Severity::Warning => "!".yellow().bold(),
        Severity::Info => "i".blue(),
    };
    let port = f.port.map(|p| format!(" port {p}")).unwrap_or_default();
    writeln!(
        out,
        "{mark} {}{port} ({}, {} confidence): {}",
        format!("{}/{}", f.layer.name(), f.code.name()).bold(),
        f.severity.name(),
        f.confidence.name(),
        f.message
    )?;
    for e in &f.evidence {
        writeln!(out, "    {} {e}", "·".dimmed())?;
    }
    writeln!(out, "    {} {}", "fix:".bold(), f.remedy)?;
    for command in &f.commands {
        // Written bare (no prompt, no colour) so that copying the line copies exactly the command.
        writeln!(out, "      {}", pasteable(command))?;
    }
    Ok(())
}

/// A command as one pasteable line: a control character (newline, escape) could run or hide something
/// in the reader's shell or terminal, so each becomes a visible U+FFFD instead.
fn pasteable(command: &str) -> String {
    command
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn attempt_layer(v: &PortVerdict, i: usize, interrupted: bool) -> String {
    let own = v.attempt_layers.get(i).copied().unwrap_or(Layer::None);
    match (v.ok, own) {
        // Stopped before anything failed: neither ok nor a layer.
        (_, Layer::None) if interrupted => format!(" {}", interrupted_mark()),
        (_, Layer::None) => format!(" {}", layer_mark(Layer::None, true)),
        // A failing address of a port that works through another one: a warning, not the port's verdict.
        (true, layer) => format!(
            " {}",
            format!("{} (other address works)", layer.name()).yellow()
        ),
        (false, layer) => format!(" {}", layer_mark(layer, false)),
    }
}

fn interrupted_mark() -> String {
    "interrupted".magenta().to_string()
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
        // Still running when a signal stopped the run: the legend under the table says so in words.
        StageStatus::Interrupted => ("…", |t| t.magenta()),
    };
    let text = format!("{mark} {time}");
    format!(
        "{}{}",
        painted(&text),
        " ".repeat(CELL.saturating_sub(text.chars().count()))
    )
}

/// Who manages this host's packet filter, or why its rules were not read and how to have them read.
pub(super) fn firewall_line(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let Some(fw) = &report.host.firewall else {
        return Ok(());
    };
    let names: Vec<String> = fw
        .managers
        .iter()
        .map(|m| match m.manager {
            Manager::Hestia => format!("{} (manages INPUT only)", m.manager.title()),
            Manager::Docker => format!("{} (container traffic only)", m.manager.title()),
            _ => m.manager.title().to_string(),
        })
        .collect();
    let found = if names.is_empty() {
        "no rules on the output side".to_string()
    } else {
        names.join(", ")
    };
    match fw.why_not {
        None => writeln!(out, "  host firewall: {found} (rules read as root)"),
        Some(NotRead::NotRoot) => {
            let again = if report.invocation.is_empty() {
                "sudo smtp-doctor check …".to_string()
            } else {
                format!("sudo {}", report.invocation)
            };
            let managers = if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            };
            writeln!(
                out,
                "  host firewall{managers}: rules not read, that needs root — to have them read: {again}"
            )
        }
        Some(NotRead::NoTool) => writeln!(
            out,
            "  host firewall: {found}; rules not read: neither iptables-save nor nft could be run"
        ),
    }
}

/// Who probed, when --as-user switched users: a result that differs from root's is read against this line.
fn user_line(out: &mut dyn Write, u: &UserFacts, verbose: bool) -> io::Result<()> {
    if !u.as_user {
        return Ok(());
    }
    let who = match &u.name {
        Some(name) => format!("user {name} ("),
        None => "user (".to_string(),
    };
    let groups = if verbose {
        let list: Vec<String> = u.groups.iter().map(u32::to_string).collect();
        format!(", groups {}", list.join(","))
    } else {
        String::new()
    };
    writeln!(
        out,
        "  probed as {who}uid {}, gid {}{groups}), as --as-user asked",
        u.uid, u.gid
    )
}

pub(super) fn dns_line(out: &mut dyn Write, d: &DnsReport) -> io::Result<()> {
    if !d.queried {
        return Ok(());
    }
    let show = |label: &str, l: &DnsLookup| -> String {
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
        DnsOutcome::Interrupted => "interrupted",
    }
}

/// Which file and keys the app's settings came from, what they made the probe do, and what else is worth knowing.
fn settings_block(out: &mut dyn Write, s: &SettingsFacts, verbose: bool) -> io::Result<()> {
    writeln!(
        out,
        "  settings: {}, read as {}",
        s.file,
        s.framework.title()
    )?;
    for k in &s.keys {
        let overridden = if k.used { "" } else { " (not used)" };
        let how = if verbose { read_how(k) } else { String::new() };
        writeln!(
            out,
            "    line {:<4} {}{overridden}{how}",
            k.line,
            key_value(k).dimmed()
        )?;
    }
    writeln!(
        out,
        "    probed as the app connects: {}",
        probed_words(&s.probed)
    )?;
    for n in &s.notes {
        writeln!(
            out,
            "    {} {}",
            "note:".dimmed(),
            note_words(n, s.framework)
        )?;
    }
    Ok(())
}

fn key_value(k: &KeyUse) -> String {
    match (&k.value, k.unreadable) {
        (_, Some(why)) => format!("{} (cannot be read: {})", k.key, why.words()),
        (Some(v), None) => format!("{}={v}", k.key),
        (None, None) => format!("{} (set, not shown)", k.key),
    }
}

/// How a value was written: its quotes and the variables expanded into it.
fn read_how(k: &KeyUse) -> String {
    let mut parts = Vec::new();
    match k.quoting {
        Quoting::None => {}
        Quoting::Single => parts.push("single-quoted".to_string()),
        Quoting::Double => parts.push("double-quoted".to_string()),
    }
    for v in &k.expanded {
        parts.push(format!("${{{v}}} expanded"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}
