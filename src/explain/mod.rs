//! Words for the diagnosis: each finding's code and facts become a message, evidence lines, a remedy and fix commands.

mod auth;
mod connect;
mod dns;
mod envelope;
mod family;
mod interception;
mod interrupted;
mod manager;
pub mod mta;
mod session;
mod settings;
pub use settings::{note_words, probed_words};
mod tls;

use std::net::{IpAddr, SocketAddr};

use crate::diagnosis::{Code, Confidence, Diagnosis, Facts, Finding, Layer, PortVerdict, Severity};
use crate::report::{EnvelopeOutcome, ReplyFacts, Report};

/// The diagnosis with its words: what every output format shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub ok: bool,
    pub verdict: ExplainedVerdict,
    pub ports: Vec<PortVerdict>,
    pub findings: Vec<ExplainedFinding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedVerdict {
    pub layer: Layer,
    /// The code of the finding that decided the verdict (None when every path works).
    pub code: Option<Code>,
    /// One sentence for people.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedFinding {
    pub code: Code,
    pub layer: Layer,
    pub severity: Severity,
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub confidence: Confidence,
    pub message: String,
    pub evidence: Vec<String>,
    pub remedy: String,
    /// Shell commands that fix exactly this finding on this host, ready to paste (empty when the fix is elsewhere).
    pub commands: Vec<String>,
}

/// The words of one finding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Words {
    pub message: String,
    pub evidence: Vec<String>,
    pub remedy: String,
    pub commands: Vec<String>,
}

impl Words {
    fn new(message: String, evidence: Vec<String>, remedy: impl Into<String>) -> Words {
        Words {
            message,
            evidence,
            remedy: remedy.into(),
            commands: Vec::new(),
        }
    }
}

/// A finding with its words.
fn explained(f: &Finding, w: Words) -> ExplainedFinding {
    ExplainedFinding {
        code: f.code,
        layer: f.layer(),
        severity: f.severity,
        port: f.port,
        address: f.address,
        confidence: f.confidence,
        message: w.message,
        evidence: w.evidence,
        remedy: w.remedy,
        commands: w.commands,
    }
}

/// Words every finding of a diagnosis.
pub fn explain(report: &Report, d: &Diagnosis) -> Explained {
    let findings: Vec<ExplainedFinding> = d
        .findings
        .iter()
        .map(|f| explained(f, word(report, f)))
        .collect();
    let summary = findings
        .iter()
        .find(|f| f.severity != Severity::Info)
        .map(|f| f.message.clone())
        .unwrap_or_else(|| working_summary(report));
    Explained {
        ok: d.ok,
        verdict: ExplainedVerdict {
            layer: d.verdict.layer(),
            code: d.verdict.code,
            summary,
        },
        ports: d.ports.clone(),
        findings,
    }
}

/// The words of one finding, by the family of facts behind it.
pub fn word(report: &Report, f: &Finding) -> Words {
    let mut w = match &f.facts {
        Facts::Dns(_) => dns::word(report, f),
        Facts::Connect(_) => connect::word(report, f),
        Facts::Intercept(_) => interception::word(report, f),
        Facts::Family(_) => family::word(report, f),
        Facts::Owner(_) => manager::owner_words(report, f),
        Facts::Mta(_) => mta::word(f),
        Facts::Settings(_) => settings::word(report, f),
        Facts::Interrupted(_) => interrupted::word(f),
        Facts::Auth(_) => auth::word(f),
        Facts::Envelope(_) => envelope::word(f),
        Facts::Cert(_) | Facts::Handshake { .. } | Facts::Greeted(_) | Facts::Keywords(_) => {
            tls::word(f)
        }
        Facts::Reply { .. } | Facts::None if f.code == Code::StarttlsRefused => tls::word(f),
        Facts::Reply { .. } | Facts::Ehlo { .. } => session::word(f),
        Facts::None => match f.code {
            Code::AuthWithheldUnverified | Code::VerificationOverridden => auth::word(f),
            _ => session::word(f),
        },
    };
    if f.other_addresses_work {
        w.message = format!("{} (other addresses of {} work)", w.message, f.host);
    }
    for o in &f.others {
        let other = word(report, o);
        if let Some(addr) = o.address {
            w.evidence.push(format!("{addr}: {}", other.message));
        }
        // Another family's address may need its own tool (ip6tables beside iptables).
        for c in other.commands {
            if !w.commands.contains(&c) {
                w.commands.push(c);
            }
        }
    }
    // The steps that apply or keep the change (a reload, a save) come once, after every rule.
    w.commands.sort_by_key(|c| manager::is_apply(c));
    w
}

/// "address:port" of a finding, or the host when no address is known.
fn here(f: &Finding) -> String {
    match (f.address, f.port) {
        (Some(a), Some(p)) => SocketAddr::new(a, p).to_string(),
        (None, Some(p)) => format!("{}:{p}", f.host),
        _ => f.host.clone(),
    }
}

fn port_of(f: &Finding) -> u16 {
    f.port.unwrap_or(0)
}

/// The sentence of a run where every path works (the verdict's summary when no finding decides it).
pub fn working_summary(report: &Report) -> String {
    let ports: Vec<String> = report.ports.iter().map(|p| p.port.to_string()).collect();
    if ports.is_empty() {
        return "nothing was probed".into();
    }
    let mut summary = format!(
        "{}: every probed path works (port {})",
        report.target,
        ports.join(", ")
    );
    let envelopes = report
        .ports
        .iter()
        .flat_map(|p| p.attempts.iter().map(move |a| (p.port, a)))
        .filter_map(|(port, a)| a.envelope.as_ref().map(|e| (port, e)));
    let mut sender = None;
    for (port, e) in envelopes {
        sender.get_or_insert_with(|| e.from.clone());
        if let Some(m) = e
            .message
            .as_ref()
            .filter(|_| e.outcome == EnvelopeOutcome::Sent)
        {
            let id = m.queue_id.as_deref().unwrap_or("(no id given)");
            return format!("{summary}; the test message was queued as {id} on port {port}");
        }
    }
    if let Some(from) = sender {
        summary.push_str(&format!(", sending as <{from}> included"));
    }
    summary
}

/// A reply as evidence: its short form, and how many more lines it had.
fn reply_evidence(r: &ReplyFacts) -> String {
    let mut s = r.describe();
    if r.lines.len() > 1 {
        s.push_str(&format!(" (+{} lines)", r.lines.len() - 1));
    }
    s
}

/// What to do about a reply that refused a stage, by its code.
fn reply_remedy(r: &ReplyFacts) -> String {
    match r.code {
        Some(421) => "421 means the server is busy, rate-limiting this client, or shutting down; try again later and check the server's connection limits.".into(),
        Some(554 | 550 | 521) => "The server refuses this client outright: this host's IP may be on a blocklist (check it on Spamhaus/MXToolbox), lack reverse DNS (PTR), or be outside the server's allowed networks.".into(),
        Some(c) if (400..500).contains(&c) => "A temporary refusal; try again later and check the server's log.".into(),
        _ => "Check the server's log for this host's address.".into(),
    }
}

#[cfg(test)]
mod tests;
