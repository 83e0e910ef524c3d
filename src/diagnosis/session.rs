//! The SMTP session before TLS: the greeting and EHLO, decided from reply codes and read outcomes.

use crate::report::{EhloFacts, ReplyFacts, ReplyOutcome, StageName};

use super::attempt::At;
use super::{Code, Confidence, Facts, Finding, Severity};

/// The code of a reply that ends the session: 421 (or any 4xx) is temporary, anything else a refusal.
pub(super) fn refusal_code(r: &ReplyFacts) -> Code {
    match r.code {
        Some(c) if (400..500).contains(&c) => Code::ServerBusy,
        _ => Code::GreetingRejected,
    }
}

/// A greeting that is not a 220, or that never came.
pub(super) fn greeting(at: &At<'_>) -> Option<Finding> {
    let Some(g) = &at.a.greeting else {
        return Some(at.finding(Code::GreetingSilent, Confidence::Low, Facts::None));
    };
    let code = match g.outcome {
        ReplyOutcome::Reply if g.code == Some(220) => return None,
        ReplyOutcome::Reply => refusal_code(g),
        ReplyOutcome::Incomplete => Code::GreetingSlow,
        ReplyOutcome::Silent => Code::GreetingSilent,
        ReplyOutcome::Closed => Code::GreetingClosed,
        ReplyOutcome::NotSmtp | ReplyOutcome::TlsRecord => Code::NotSmtp,
        ReplyOutcome::TooLarge => Code::ReplyTooLarge,
        ReplyOutcome::Error => Code::ConnectionReset,
    };
    Some(at.finding(
        code,
        Confidence::High,
        Facts::Reply {
            stage: StageName::Greeting,
            reply: g.clone(),
        },
    ))
}

/// What EHLO says: it passed (perhaps with a warning), or it failed.
pub(super) enum EhloCall {
    Passed(Option<Finding>),
    Failed(Finding),
}

/// EHLO (before or after TLS): failed when refused or unanswered; a warning when only HELO worked.
pub(super) fn ehlo(at: &At<'_>, e: Option<&EhloFacts>, after_tls: bool) -> EhloCall {
    use EhloCall::{Failed as Err, Passed as Ok};
    match e {
        Some(e) if e.reply.code == Some(250) => Ok(e
            .helo_fallback
            .then(|| at.note(Code::HeloOnly, Severity::Warning, Facts::None))),
        Some(e) if e.reply.code == Some(421) => Err(at.finding(
            Code::ServerBusy,
            Confidence::High,
            Facts::Reply {
                stage: if after_tls {
                    StageName::EhloTls
                } else {
                    StageName::Ehlo
                },
                reply: e.reply.clone(),
            },
        )),
        // No reply at all (silence, a closed or reset connection, a loss the timeout did not outlast) is not a
        // refusal: a refusal needs a reply code.
        Some(e) if e.reply.code.is_none() => Err(at.finding(
            Code::EhloNoAnswer,
            Confidence::Medium,
            Facts::Ehlo {
                reply: None,
                after_tls,
            },
        )),
        Some(e) => Err(at.finding(
            Code::EhloRefused,
            Confidence::High,
            Facts::Ehlo {
                reply: Some(e.reply.clone()),
                after_tls,
            },
        )),
        None => Err(at.finding(
            Code::EhloNoAnswer,
            Confidence::Medium,
            Facts::Ehlo {
                reply: None,
                after_tls,
            },
        )),
    }
}
