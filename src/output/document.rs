//! The JSON document's types (schema_version 1): the explained diagnosis on top, the facts below. Fields are only ever added.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::diagnosis::{Code, Confidence, Layer, Severity};
use crate::explain::mta::MtaExplained;
use crate::explain::{Explained, ExplainedFinding, ExplainedVerdict};
use crate::report::mta::{MtaFacts, MtaReport};
use crate::report::settings::SettingsFacts;
use crate::report::{Attempt, DnsReport, HostFacts, PortMode, Report, Stage};

/// Bumped only when a field changes meaning or disappears; new fields keep it.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonReport {
    pub schema_version: u32,
    pub target: String,
    pub ok: bool,
    pub verdict: JsonVerdict,
    pub dns: DnsReport,
    pub ports: Vec<JsonPort>,
    pub findings: Vec<JsonFinding>,
    pub host: HostFacts,
    pub tls_verification: bool,
    pub elapsed_ms: f64,
    /// --env-file: the file and keys read, the connection they made, their problems (null without --env-file).
    #[serde(default)]
    pub settings: Option<SettingsFacts>,
    /// Ctrl-C or SIGTERM stopped the run: stages still running are `interrupted`, those not reached absent.
    /// Only present (true) then.
    #[serde(default, skip_serializing_if = "is_false")]
    pub interrupted: bool,
}

/// serde's test for a flag written only when set.
fn is_false(b: &bool) -> bool {
    !*b
}

/// The `mta` document: the verdict over everything, the MTA's facts (its route, SASL map, queue), its own findings,
/// and the relay probe's report exactly as `check --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonMtaReport {
    pub schema_version: u32,
    pub ok: bool,
    pub verdict: JsonVerdict,
    pub mta: MtaFacts,
    /// The MTA's own findings: its set-up and its queue's deferrals (the probe's are in check.findings).
    pub findings: Vec<JsonFinding>,
    /// The relay (or the --to domain's MX hosts) probed; null when nothing could be probed.
    pub check: Option<JsonReport>,
    pub elapsed_ms: f64,
    /// Ctrl-C or SIGTERM stopped the run (check.interrupted says whether it cut the probe); only present
    /// (true) then. Cut while the MTA itself was read, `mta` holds nothing known (kind none).
    #[serde(default, skip_serializing_if = "is_false")]
    pub interrupted: bool,
}

impl JsonMtaReport {
    pub fn new(r: &MtaReport, e: &MtaExplained) -> JsonMtaReport {
        JsonMtaReport {
            schema_version: SCHEMA_VERSION,
            ok: e.ok,
            verdict: JsonVerdict::from(&e.verdict),
            mta: r.mta.clone(),
            findings: e.findings.iter().map(JsonFinding::from).collect(),
            check: match (&r.probe, &e.probe) {
                (Some(report), Some(explained)) => Some(JsonReport::new(report, explained)),
                _ => None,
            },
            elapsed_ms: r.elapsed_ms,
            interrupted: r.interrupted.is_some(),
        }
    }
}

/// `check` over several targets (--targets, several HOSTs): one result per target, in the order given. One HOST
/// alone still writes `JsonReport`, exactly as before; each --json-lines line is one `JsonTargetResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonFleetReport {
    pub schema_version: u32,
    /// True when every target was probed and is ok.
    pub ok: bool,
    pub counts: JsonCounts,
    pub targets: Vec<JsonTargetResult>,
    pub elapsed_ms: f64,
    /// Ctrl-C or SIGTERM stopped the run: the targets it cut or never began have status `interrupted`.
    /// Only present (true) then.
    #[serde(default, skip_serializing_if = "is_false")]
    pub interrupted: bool,
}

/// How many targets ended in each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JsonCounts {
    pub ok: usize,
    pub problem: usize,
    pub error: usize,
    /// Targets a signal cut short or came before (0 unless the run was interrupted).
    #[serde(default)]
    pub interrupted: usize,
}

/// One target's result: its report, or why it was not probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonTargetResult {
    /// The target's place in the order given (from 0): HOSTs first, then the targets file's.
    pub index: usize,
    /// The target's name in the targets file; null for HOSTs and unnamed targets.
    #[serde(default)]
    pub name: Option<String>,
    /// The HOST argument or the file's host, as written.
    pub input: String,
    pub status: TargetStatus,
    pub ok: bool,
    pub elapsed_ms: f64,
    /// Why the target was not probed (status error); null otherwise.
    #[serde(default)]
    pub error: Option<JsonTargetError>,
    /// The report `check --json` writes for this target alone; null when it was not probed.
    #[serde(default)]
    pub report: Option<JsonReport>,
}

/// What became of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Probed, and every path works (warnings allowed).
    Ok,
    /// Probed, and a problem was diagnosed: report.verdict names the layer.
    Problem,
    /// Not probed: its own settings are wrong (an unset password variable); the others still ran.
    Error,
    /// Ctrl-C or SIGTERM stopped the run while this target ran (report holds what was known, its cut
    /// stages `interrupted`) or before it began (no report; error.code is `interrupted`).
    Interrupted,
}

/// Why one target was not probed: a stable code (`password_unset`, `password_empty`, `password_not_text`,
/// `interrupted`) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTargetError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonVerdict {
    pub layer: Layer,
    /// The code of the finding that decided the verdict; null when every path works.
    #[serde(default)]
    pub code: Option<Code>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonPort {
    pub host: String,
    pub port: u16,
    pub mode: PortMode,
    pub ok: bool,
    pub layer: Layer,
    /// The address whose stages are shown (the failing one, or the first that works).
    pub address: Option<IpAddr>,
    pub stages: Vec<Stage>,
    pub attempts: Vec<Attempt>,
    /// The layer each attempt's own failure points at (`none` when it worked), in the order of `attempts`.
    pub attempt_layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonFinding {
    pub code: Code,
    pub layer: Layer,
    pub severity: Severity,
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub message: String,
    pub evidence: Vec<String>,
    pub remedy: String,
    /// Shell commands that fix this finding on this host; always present, empty when the fix is elsewhere.
    #[serde(default)]
    pub commands: Vec<String>,
    pub confidence: Confidence,
}

impl JsonReport {
    pub fn new(report: &Report, explained: &Explained) -> JsonReport {
        JsonReport {
            schema_version: SCHEMA_VERSION,
            target: report.target.clone(),
            ok: explained.ok,
            verdict: JsonVerdict::from(&explained.verdict),
            dns: report.dns.clone(),
            ports: ports(report, explained),
            findings: explained.findings.iter().map(JsonFinding::from).collect(),
            host: report.host.clone(),
            tls_verification: report.tls_verification,
            elapsed_ms: report.elapsed_ms,
            settings: report.settings.clone(),
            interrupted: report.interrupted.is_some(),
        }
    }
}

/// Each probed port with its verdict; the diagnosis keeps its port verdicts in the report's port order.
fn ports(report: &Report, explained: &Explained) -> Vec<JsonPort> {
    report
        .ports
        .iter()
        .zip(&explained.ports)
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
        .collect()
}

impl From<&ExplainedVerdict> for JsonVerdict {
    fn from(v: &ExplainedVerdict) -> JsonVerdict {
        JsonVerdict {
            layer: v.layer,
            code: v.code,
            summary: v.summary.clone(),
        }
    }
}

impl From<&ExplainedFinding> for JsonFinding {
    fn from(f: &ExplainedFinding) -> JsonFinding {
        JsonFinding {
            code: f.code,
            layer: f.layer,
            severity: f.severity,
            port: f.port,
            address: f.address,
            message: f.message.clone(),
            evidence: f.evidence.clone(),
            remedy: f.remedy.clone(),
            commands: f.commands.clone(),
            confidence: f.confidence,
        }
    }
}
