//! The app's own settings (--env-file): each problem the file's parse found becomes a finding, and the probe tells whether a local host listens.

use crate::report::settings::{PortFallback, ProblemKind, SettingsFacts, SettingsProblem};
use crate::report::{ConnectOutcome, Report};

use super::{Code, Confidence, Facts, Finding, Severity};

/// A settings problem with the file it is in, for the words.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsEvidence {
    pub file: String,
    pub framework: crate::report::settings::Framework,
    pub problem: SettingsProblem,
}

/// The code of a settings problem: fixed by its kind, like every code's layer.
pub fn code(kind: &ProblemKind) -> Code {
    match kind {
        ProblemKind::HostMalformed { .. } => Code::EnvHostMalformed,
        ProblemKind::PortInvalid { .. } => Code::EnvPortInvalid,
        ProblemKind::ImplicitTlsOnStarttlsPort { .. } => Code::EnvImplicitTlsOnStarttlsPort,
        ProblemKind::StarttlsOnImplicitPort { .. } => Code::EnvStarttlsOnImplicitPort,
        ProblemKind::TlsAndSsl => Code::EnvTlsAndSsl,
        ProblemKind::NoTls { .. } => Code::EnvNoTls,
        ProblemKind::TlsSettingInvalid => Code::EnvTlsSettingInvalid,
        ProblemKind::LoginIncomplete { .. } => Code::EnvLoginIncomplete,
        ProblemKind::FromInvalid => Code::EnvFromInvalid,
        ProblemKind::MailerNotSmtp { .. } => Code::EnvMailerLocal,
        ProblemKind::HostIsThisHost { .. } => Code::EnvHostIsThisHost,
    }
}

/// Errors, except where the app still works as set: a setting the framework ignores, a port nodemailer replaces
/// by its default, a mailer that only the framework's default makes local.
fn severity(kind: &ProblemKind) -> Severity {
    match kind {
        ProblemKind::ImplicitTlsOnStarttlsPort { honoured, .. }
        | ProblemKind::StarttlsOnImplicitPort { honoured, .. }
            if !honoured =>
        {
            Severity::Warning
        }
        ProblemKind::PortInvalid {
            fallback: PortFallback::AppDefault,
            ..
        } => Severity::Warning,
        ProblemKind::MailerNotSmtp {
            defaulted: true, ..
        } => Severity::Warning,
        _ => Severity::Error,
    }
}

/// Which Laravel the words are about is a guess where versions differ; everything else is read from the file.
fn confidence(kind: &ProblemKind) -> Confidence {
    match kind {
        ProblemKind::ImplicitTlsOnStarttlsPort {
            honoured: false, ..
        }
        | ProblemKind::StarttlsOnImplicitPort {
            honoured: false, ..
        }
        | ProblemKind::MailerNotSmtp {
            defaulted: true, ..
        } => Confidence::Medium,
        _ => Confidence::High,
    }
}

/// The findings of the settings, the probe's word on a local host included.
pub(super) fn decide(report: &Report) -> Vec<Finding> {
    let Some(s) = &report.settings else {
        return Vec::new();
    };
    let mut problems = s.problems.clone();
    problems.extend(nothing_listens_here(report, s));
    problems
        .into_iter()
        .map(|problem| {
            let port = match problem.kind {
                ProblemKind::HostIsThisHost { port } => Some(port),
                _ => None,
            };
            Finding {
                code: code(&problem.kind),
                severity: severity(&problem.kind),
                confidence: confidence(&problem.kind),
                host: report.target.clone(),
                port,
                address: None,
                facts: Facts::Settings(Box::new(SettingsEvidence {
                    file: s.file.clone(),
                    framework: s.framework,
                    problem,
                })),
                others: Vec::new(),
                other_addresses_work: false,
            }
        })
        .collect()
}

/// The host is this machine and every connect to the app's port was refused: nothing listens where the app sends.
fn nothing_listens_here(report: &Report, s: &SettingsFacts) -> Option<SettingsProblem> {
    if !s.host_is_local {
        return None;
    }
    let pr = report
        .ports
        .iter()
        .find(|p| p.host == report.target && p.port == s.probed.port)?;
    let refused = !pr.attempts.is_empty()
        && pr
            .attempts
            .iter()
            .all(|a| a.connect.outcome == ConnectOutcome::Refused);
    refused.then(|| SettingsProblem {
        kind: ProblemKind::HostIsThisHost { port: pr.port },
        keys: vec![s.probed.host_key.clone()],
        fix: Vec::new(),
        unreadable: None,
    })
}
