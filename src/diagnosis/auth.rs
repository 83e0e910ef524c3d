//! AUTH: decided from the AUTH outcome, the reply code and the enhanced status code (never from the reply's text).

use crate::report::{AuthOutcome, StageName};

use super::attempt::At;
use super::{Code, Confidence, Facts, Finding, Severity};

pub(super) fn decide(at: &At<'_>) -> Option<Finding> {
    let auth = at.a.auth.as_ref()?;
    let facts = || Facts::Auth(Box::new(auth.clone()));
    let code = match auth.outcome {
        AuthOutcome::Accepted | AuthOutcome::NotReached | AuthOutcome::RefusedUnverified => {
            return None
        }
        AuthOutcome::RefusedCleartext => Code::AuthCleartextRefused,
        AuthOutcome::NotOffered => {
            let code = if auth.offered.is_empty() {
                Code::AuthNotOffered
            } else {
                Code::AuthMechanismsUnsupported
            };
            let f = at.finding(code, Confidence::High, facts());
            // Port 25 is for server-to-server mail and usually takes no login.
            return Some(if at.pr.port == 25 {
                Finding {
                    severity: Severity::Warning,
                    ..f
                }
            } else {
                f
            });
        }
        AuthOutcome::Rejected => {
            let r = auth.reply.as_ref();
            let enhanced = r.and_then(|r| r.enhanced.as_deref()).unwrap_or("");
            match r.and_then(|r| r.code) {
                Some(530) if enhanced.is_empty() || enhanced.starts_with("5.7.0") => {
                    Code::AuthRequiresTls
                }
                // 421 is the server closing the session, whatever command it answers.
                Some(421) => {
                    let facts = Facts::Reply {
                        stage: StageName::Auth,
                        reply: r.cloned()?,
                    };
                    return Some(at.finding(Code::ServerBusy, Confidence::High, facts));
                }
                Some(454 | 451) => Code::AuthTemporaryFailure,
                Some(504) => Code::AuthMechanismRefused,
                None => Code::AuthBrokenOff,
                Some(_) => match enhanced {
                    "5.7.9" => Code::AuthAppPasswordRequired,
                    "5.7.139" => Code::AuthSmtpDisabled,
                    _ => Code::AuthRejected,
                },
            }
        }
    };
    Some(at.finding(code, Confidence::High, facts()))
}

/// Notes about AUTH that do not fail the attempt: a withheld password, or verification turned off.
pub(super) fn notes(at: &At<'_>) -> Vec<Finding> {
    let Some(auth) = &at.a.auth else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if auth.outcome == AuthOutcome::RefusedUnverified {
        out.push(at.note(Code::AuthWithheldUnverified, Severity::Info, Facts::None));
    }
    if !at.report.tls_verification && auth.outcome == AuthOutcome::Accepted {
        out.push(at.note(Code::VerificationOverridden, Severity::Info, Facts::None));
    }
    out
}
