//! The `mta` report in every format: for people (the MTA, how it sends, its queue, the relay probe's table, the verdict and each finding; verbose adds settings, deferrals and transcripts) and as one JSON document.

use std::io::{self, Write};

use colored::Colorize;

use super::document::JsonMtaReport;
use super::{human, nagios, verbose, Format, Style};
use crate::exit;
use crate::explain::mta::{age, MtaExplained};
use crate::explain::ExplainedFinding;
use crate::plan::Thresholds;
use crate::report::mta::{
    EntryState, MapFile, MtaFacts, MtaKind, MtaReport, ProbedKind, QueueNotRead, Route,
};

/// Writes the report in `format`.
pub fn write(
    format: Format,
    out: &mut dyn Write,
    r: &MtaReport,
    e: &MtaExplained,
) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonMtaReport::new(r, e))?;
            writeln!(out)
        }
        Format::Human(style) => {
            colored::control::set_override(style.color);
            let result = write_human(out, r, e, style);
            colored::control::unset_override();
            result
        }
        Format::Nagios(t) => nagios::write_check(out, &plugin_check(r, e, t)),
        // The plan refuses --format prometheus for mta; should a caller get here anyway, say so rather than print.
        Format::Prometheus => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the mta report has no Prometheus exposition",
        )),
    }
}

/// The same rule as `check`: a diagnosed problem is exit status 1 (the plugin's own states with --format nagios).
pub fn exit_status(format: Format, r: &MtaReport, e: &MtaExplained) -> u8 {
    match format {
        Format::Nagios(t) => nagios::judge(&plugin_check(r, e, t)).state.exit_status(),
        Format::Human(_) | Format::Json | Format::Prometheus => {
            if let Some(i) = r.interrupted {
                return exit::signal_status(i.signal);
            }
            if e.ok {
                exit::OK
            } else {
                exit::PROBLEM
            }
        }
    }
}

/// The MTA as a plugin run: its own findings and the relay probe's, the probe's perfdata and the queue's counts.
fn plugin_check<'a>(r: &'a MtaReport, e: &'a MtaExplained, t: Thresholds) -> nagios::Check<'a> {
    let probe = r.probe.as_ref().zip(e.probe.as_ref());
    let mut extra = Vec::new();
    if r.mta.queue.read {
        extra.push(nagios::Perf::gauge("queue_messages", r.mta.queue.messages));
        extra.push(nagios::Perf::gauge("queue_deferred", r.mta.queue.deferred));
    }
    nagios::Check {
        findings: e
            .findings
            .iter()
            .chain(probe.iter().flat_map(|(_, pe)| pe.findings.iter()))
            .collect(),
        verdict: &e.verdict,
        probe,
        elapsed_s: r.elapsed_ms / 1000.0,
        extra,
        thresholds: t,
        interrupted: r.interrupted.map(|i| i.signal),
    }
}

fn write_human(
    out: &mut dyn Write,
    r: &MtaReport,
    e: &MtaExplained,
    style: Style,
) -> io::Result<()> {
    let m = &r.mta;
    writeln!(
        out,
        "{}  ({:.2} s)",
        "smtp-doctor mta".bold(),
        r.elapsed_ms / 1000.0
    )?;
    if let Some(i) = r.interrupted {
        let what = if i.reading_mta {
            "this host's MTA was still being read, so nothing of it is known"
        } else {
            "… marks a stage of the relay probe still running, its outcome unknown"
        };
        writeln!(
            out,
            "  {} by {}: {what}",
            "interrupted".magenta().bold(),
            i.signal.name()
        )?;
        if i.reading_mta {
            writeln!(out)?;
            human::verdict_line(out, e.ok, &e.verdict)?;
            return Ok(());
        }
    }
    mta_line(out, m)?;
    route_line(out, m)?;
    sasl_line(out, m)?;
    queue_line(out, m)?;
    probed_line(out, m)?;
    unread_line(out, r)?;
    if let Some(p) = &r.probe {
        human::dns_line(out, &p.dns)?;
        human::firewall_line(out, p)?;
        if let Some(pe) = &e.probe {
            writeln!(out)?;
            human::table(out, p, &pe.ports)?;
        }
    }
    writeln!(out)?;
    human::verdict_line(out, e.ok, &e.verdict)?;
    let all = ordered(e);
    if !all.is_empty() {
        writeln!(out)?;
    }
    for f in all {
        human::finding(out, f)?;
    }
    if style.verbose {
        verbose_mta(out, m)?;
        if let Some(p) = &r.probe {
            verbose::write(out, p)?;
        }
    }
    Ok(())
}

/// Every finding, the probe's and the MTA's, most important first; on a tie the live probe comes first.
fn ordered(e: &MtaExplained) -> Vec<&ExplainedFinding> {
    let mut all: Vec<(u8, &ExplainedFinding)> = e
        .probe
        .iter()
        .flat_map(|p| p.findings.iter().map(|f| (0, f)))
        .chain(e.findings.iter().map(|f| (1, f)))
        .collect();
    all.sort_by_key(|(source, f)| (f.severity, f.layer.rank(), *source));
    all.into_iter().map(|(_, f)| f).collect()
}

fn mta_line(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    if m.kind == MtaKind::None {
        return writeln!(out, "  MTA: none found (no postconf, no exim)");
    }
    let version = m
        .version
        .as_ref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let config = match (&m.config, m.kind, m.default_instance) {
        (Some(c), MtaKind::Postfix, false) => format!(", instance {c}"),
        (Some(c), MtaKind::Postfix, true) => format!(", {c}"),
        (Some(c), _, _) => format!(", configuration {c}"),
        (None, ..) => String::new(),
    };
    let running = match m.running {
        Some(true) => "running",
        Some(false) => "NOT running",
        None => "running: unknown",
    };
    writeln!(
        out,
        "  MTA: {}{version}{config} ({running})",
        m.kind.title()
    )
}

fn route_line(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    let families = match (m.families.v4, m.families.v6) {
        (true, false) => ", IPv4 only",
        (false, true) => ", IPv6 only",
        _ => "",
    };
    let tls = match (&m.tls.level, m.tls.wrappermode) {
        (_, true) => "TLS from the first byte (wrapper mode)".to_string(),
        (Some(l), false) if l == "none" => "no TLS".to_string(),
        (Some(l), false) => format!("STARTTLS (level {l})"),
        (None, false) => "STARTTLS".to_string(),
    };
    match &m.route {
        Route::Relay(r) => writeln!(
            out,
            "  sends through the relay {}{}, {tls}{families}",
            r.text,
            if r.mx_lookup {
                format!(" (MX records of {} first, port {})", r.host, r.port)
            } else {
                String::new()
            }
        ),
        Route::Direct => writeln!(
            out,
            "  sends straight to each recipient's MX hosts on port 25 (no relay){families}"
        ),
        Route::Invalid { text } => writeln!(out, "  relay setting unreadable: '{text}'"),
        Route::Unknown => Ok(()),
    }
}

fn mode_words(f: &MapFile) -> String {
    format!(
        "{} {}{}",
        f.path,
        f.mode.map(|m| format!("{m:04o} ")).unwrap_or_default(),
        match (&f.owner, &f.group) {
            (Some(o), Some(g)) => format!("{o}:{g}"),
            _ => String::new(),
        }
    )
    .trim_end()
    .to_string()
}

fn sasl_line(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    if !matches!(m.route, Route::Relay(_)) || m.kind == MtaKind::None {
        return Ok(());
    }
    let s = &m.sasl;
    if !s.enabled {
        return writeln!(out, "  SASL: off (the MTA does not log in to the relay)");
    }
    let maps = if s.maps.is_empty() {
        "no password map".to_string()
    } else {
        s.maps.join(", ")
    };
    let entry = match s.entry.state {
        EntryState::Found => format!(
            "has an entry for {}{}",
            s.entry.key.as_deref().unwrap_or("the relay"),
            s.entry
                .user
                .as_ref()
                .map(|u| format!(" (user {u})"))
                .unwrap_or_default()
        ),
        EntryState::Missing => format!("has NO entry for {}", s.keys.join(" or ")),
        EntryState::NoDatabase => "has no database (postmap never ran)".to_string(),
        EntryState::NotRoot => "not read (needs root)".to_string(),
        EntryState::Unreadable => format!(
            "not read: {}",
            s.entry.detail.as_deref().unwrap_or("lookup failed")
        ),
        EntryState::NotAsked => "not looked up".to_string(),
    };
    let files: Vec<String> = s
        .files
        .iter()
        .filter(|f| f.exists)
        .map(mode_words)
        .collect();
    let files = if files.is_empty() {
        String::new()
    } else {
        format!("; {}", files.join(", "))
    };
    writeln!(out, "  SASL: on; {maps} {entry}{files}")
}

fn queue_line(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    if m.kind == MtaKind::None {
        return Ok(());
    }
    let q = &m.queue;
    if !q.read {
        let why = match q.why_not {
            Some(QueueNotRead::NotRoot) => "listing it needs root".to_string(),
            Some(QueueNotRead::NotRunning) => "the mail system is down".to_string(),
            _ => q
                .detail
                .clone()
                .unwrap_or_else(|| "the listing failed".into()),
        };
        return writeln!(out, "  queue: not read ({why})");
    }
    if q.messages == 0 {
        return writeln!(out, "  queue: empty");
    }
    let mut parts = vec![format!("{} deferred", q.deferred)];
    if q.frozen > 0 {
        parts.push(format!("{} frozen", q.frozen));
    }
    let oldest = q
        .oldest_age_s
        .map(|a| format!(", the oldest queued {} ago", age(a)))
        .unwrap_or_default();
    writeln!(
        out,
        "  queue: {} message{} ({}){oldest}",
        q.messages,
        if q.messages == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

fn probed_line(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    let Some(p) = &m.probed else {
        return Ok(());
    };
    let ports: Vec<String> = p.ports.iter().map(u16::to_string).collect();
    match p.kind {
        ProbedKind::Relay => writeln!(
            out,
            "  probed: the relay {} port {} as configured, {}",
            p.target,
            ports.join(", "),
            match &p.user {
                Some(u) => format!("logging in as {u} with the map's password"),
                None => "without a login".to_string(),
            }
        ),
        ProbedKind::RecipientMx => writeln!(
            out,
            "  probed: port 25 of the MX hosts of {} (--to), as direct delivery meets them",
            p.target
        ),
    }
}

/// One line for what needs root and was not read, with the command that reads it.
fn unread_line(out: &mut dyn Write, r: &MtaReport) -> io::Result<()> {
    let m = &r.mta;
    let mut what = Vec::new();
    if m.sasl.entry.state == EntryState::NotRoot {
        what.push("the SASL password map (so AUTH was not tested)");
    }
    if m.queue.why_not == Some(QueueNotRead::NotRoot) {
        what.push("the queue");
    }
    if what.is_empty() {
        return Ok(());
    }
    let again = if r.invocation.is_empty() {
        "sudo smtp-doctor mta …".to_string()
    } else {
        format!("sudo {}", r.invocation)
    };
    writeln!(
        out,
        "  not read: {}, that needs root — to have {} read: {again}",
        what.join(" and "),
        if what.len() == 1 { "it" } else { "them" }
    )
}

fn verbose_mta(out: &mut dyn Write, m: &MtaFacts) -> io::Result<()> {
    if !m.settings.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            format!("── {} settings ──", m.kind.title()).bold()
        )?;
        for (k, v) in &m.settings {
            writeln!(out, "  {k} = {v}")?;
        }
    }
    for e in &m.errors {
        writeln!(out, "  error: {e}")?;
    }
    if !m.queue.deferrals.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", "── deferred recipients ──".bold())?;
        for d in &m.queue.deferrals {
            writeln!(
                out,
                "  {} {:>4} {}: {}",
                d.queue_id,
                d.age_s.map(age).unwrap_or_default(),
                d.recipient,
                d.reason
            )?;
        }
    }
    Ok(())
}
