//! The envelope (--from, --to, --send): decided from the stage refused, the reply code and the enhanced status code.

use crate::report::{EnvelopeFacts, EnvelopeOutcome, ReplyFacts, ReplyOutcome, StageName};

use super::attempt::At;
use super::{Code, Confidence, Facts, Finding};

/// The envelope's facts behind a finding: which command was refused, with what, and the remedy's hint.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopeEvidence {
    pub envelope: EnvelopeFacts,
    pub stage: StageName,
    pub reply: ReplyFacts,
    /// The recipient refused, for RCPT TO.
    pub recipient: Option<String>,
    pub refusal: Refusal,
}

/// Which provider policy the refusal names. It picks the remedy's words only: the layer and code come from
/// the command refused and the reply's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Microsoft 365: 5.7.60 SendAsDenied.
    SendAsDenied,
    /// Amazon SES: "Email address is not verified".
    NotVerified,
    /// Postfix reject_sender_login_mismatch: "Sender address rejected: not owned by user".
    LoginMismatch,
    /// "Relay access denied" and its kin.
    RelayDenied,
    Other,
}

impl Refusal {
    pub fn of(reply: &ReplyFacts) -> Refusal {
        let text = reply.lines.join(" ").to_ascii_lowercase();
        if reply.enhanced.as_deref() == Some("5.7.60") || text.contains("sendasdenied") {
            Refusal::SendAsDenied
        } else if text.contains("not verified") {
            Refusal::NotVerified
        } else if text.contains("not owned by user") {
            Refusal::LoginMismatch
        } else if text.contains("relay access denied")
            || text.contains("relaying denied")
            || text.contains("relay not permitted")
        {
            Refusal::RelayDenied
        } else {
            Refusal::Other
        }
    }
}

pub(super) fn decide(at: &At<'_>) -> Option<Finding> {
    let env = at.a.envelope.as_ref()?;
    let (stage, reply, recipient) = match env.outcome {
        EnvelopeOutcome::Accepted | EnvelopeOutcome::Sent => return None,
        EnvelopeOutcome::SenderRefused => (StageName::MailFrom, env.mail_from.clone()?, None),
        EnvelopeOutcome::RecipientRefused => {
            let r = env.recipients.iter().find(|r| !r.reply.is_positive())?;
            (StageName::RcptTo, r.reply.clone(), Some(r.address.clone()))
        }
        EnvelopeOutcome::MessageRefused => {
            let m = env.message.as_ref()?;
            let reply = m.reply.clone().unwrap_or_else(|| m.data_reply.clone());
            (StageName::Data, reply, None)
        }
        EnvelopeOutcome::Broken => {
            let (stage, reply, recipient) = last_exchange(env)?;
            return Some(at.finding(
                Code::EnvelopeBrokenOff,
                Confidence::High,
                evidence(env, stage, reply, recipient),
            ));
        }
    };
    let enhanced = reply.enhanced.as_deref().unwrap_or("");
    let code = match reply.code {
        // 421 is the server closing the session, whatever command it answers.
        Some(421) => {
            return Some(at.finding(
                Code::ServerBusy,
                Confidence::High,
                Facts::Reply { stage, reply },
            ))
        }
        Some(530) if !env.authenticated => Code::AuthRequired,
        Some(c) if (400..500).contains(&c) => Code::EnvelopeDeferred,
        None => Code::EnvelopeBrokenOff,
        Some(_) => match stage {
            StageName::MailFrom => Code::SenderRefused,
            StageName::RcptTo if about_sender(&reply, &env.from) => Code::SenderRefused,
            StageName::RcptTo if enhanced.starts_with("5.7.") => Code::RelayDenied,
            StageName::RcptTo
                if enhanced.is_empty() && Refusal::of(&reply) == Refusal::RelayDenied =>
            {
                Code::RelayDenied
            }
            StageName::RcptTo => Code::RecipientRefused,
            _ => Code::MessageRefused,
        },
    };
    Some(at.finding(
        code,
        Confidence::High,
        evidence(env, stage, reply, recipient),
    ))
}

fn evidence(
    env: &EnvelopeFacts,
    stage: StageName,
    reply: ReplyFacts,
    recipient: Option<String>,
) -> Facts {
    Facts::Envelope(Box::new(EnvelopeEvidence {
        envelope: env.clone(),
        stage,
        refusal: Refusal::of(&reply),
        reply,
        recipient,
    }))
}

/// The last command that got (or failed to get) an answer, for an envelope that broke off.
fn last_exchange(env: &EnvelopeFacts) -> Option<(StageName, ReplyFacts, Option<String>)> {
    if let Some(m) = &env.message {
        let reply = m.reply.clone().unwrap_or_else(|| m.data_reply.clone());
        return Some((StageName::Data, reply, None));
    }
    if let Some(r) = env.recipients.last() {
        return Some((StageName::RcptTo, r.reply.clone(), Some(r.address.clone())));
    }
    let reply = env.mail_from.clone().unwrap_or(ReplyFacts {
        outcome: ReplyOutcome::Closed,
        code: None,
        enhanced: None,
        lines: Vec::new(),
        elapsed_ms: 0.0,
    });
    Some((StageName::MailFrom, reply, None))
}

/// A refusal at RCPT TO that is about the sender: Postfix judges the sender there (smtpd_delay_reject) and
/// names the address it refuses first ("<a@b>: Sender address rejected"); RFC 3463's X.1.7/X.1.8 are the
/// sender's own status codes.
fn about_sender(reply: &ReplyFacts, from: &str) -> bool {
    let enhanced = reply.enhanced.as_deref().unwrap_or("");
    let detail = enhanced.get(2..).unwrap_or("");
    if matches!(detail, "1.7" | "1.8") {
        return true;
    }
    // The destination mailbox's own codes: a refused recipient, even when it is the sender's address.
    if matches!(detail, "1.1" | "1.2" | "1.3" | "1.6") || detail.starts_with("2.") {
        return false;
    }
    let first = reply.lines.first().map(String::as_str).unwrap_or("");
    let named = first
        .split_whitespace()
        .find(|w| w.starts_with('<'))
        .and_then(|w| w.strip_prefix('<'))
        .and_then(|w| w.split('>').next());
    named.is_some_and(|n| n.eq_ignore_ascii_case(from))
}
