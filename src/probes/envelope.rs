//! The envelope test after AUTH: MAIL FROM and RCPT TO, then RSET — or, with --send, one short test message.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::Conn;
use super::smtp::{stage, Ctx};
use crate::plan::Envelope;
use crate::probes::elapsed_ms;
use crate::report::{
    Attempt, AuthOutcome, EnvelopeFacts, EnvelopeOutcome, MessageFacts, RecipientFacts, ReplyFacts,
    ReplyOutcome, StageName, StageStatus,
};

/// The envelope of a run, shared by its chains: --send delivers one message, from whichever chain gets there first.
#[derive(Debug)]
pub struct Shared {
    pub envelope: Envelope,
    sent: AtomicBool,
}

impl Shared {
    pub fn new(envelope: Envelope) -> Self {
        Shared {
            envelope,
            sent: AtomicBool::new(false),
        }
    }

    /// True once per run, for the chain that sends the test message.
    fn claim_send(&self) -> bool {
        self.envelope.send
            && !self.envelope.to.is_empty()
            && !self.sent.swap(true, Ordering::SeqCst)
    }
}

/// Runs the envelope on an open session; false when the connection is gone (no QUIT to send).
pub(super) async fn run<S>(ctx: &Ctx, conn: &mut Conn<S>, a: &mut Attempt) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(shared) = &ctx.envelope else {
        return true;
    };
    let authenticated = a
        .auth
        .as_ref()
        .is_some_and(|f| f.outcome == AuthOutcome::Accepted);
    // With a login to test, the envelope only means something once the login worked; a refusal before it
    // would only repeat the AUTH finding in other words.
    if ctx.credentials.is_some() && !authenticated {
        return true;
    }
    let env = &shared.envelope;
    let mut facts = EnvelopeFacts {
        from: env.from.to_string(),
        outcome: EnvelopeOutcome::Accepted,
        authenticated,
        login: ctx
            .credentials
            .as_ref()
            .filter(|_| authenticated)
            .map(|c| c.user.clone()),
        mail_from: None,
        recipients: Vec::new(),
        recipient_implied: false,
        message: None,
    };
    let alive = exchange(ctx, shared, conn, a, &mut facts).await;
    a.envelope = Some(facts);
    alive
}

async fn exchange<S>(
    ctx: &Ctx,
    shared: &Shared,
    conn: &mut Conn<S>,
    a: &mut Attempt,
    facts: &mut EnvelopeFacts,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let env = &shared.envelope;
    let start = Instant::now();
    let Some(reply) = command(
        conn,
        a,
        &Mail::new(Some(env.from.clone()), vec![]).to_string(),
    )
    .await
    else {
        facts.outcome = EnvelopeOutcome::Broken;
        gone(a, StageName::MailFrom, start);
        return false;
    };
    let accepted = reply.is_positive();
    let answered = reply.outcome == ReplyOutcome::Reply;
    let status = if accepted {
        StageStatus::Ok
    } else {
        StageStatus::Failed
    };
    let detail = format!("<{}>: {}", env.from, reply.describe());
    facts.mail_from = Some(reply);
    stage(a, StageName::MailFrom, status, elapsed_ms(start), detail);
    if !accepted {
        facts.outcome = if answered {
            EnvelopeOutcome::SenderRefused
        } else {
            EnvelopeOutcome::Broken
        };
        return answered && reset(conn, a).await;
    }
    // Postfix (smtpd_delay_reject, the default) and others judge the sender only at RCPT TO: without --to the
    // sender itself is the recipient, then RSET, so nothing is sent.
    let implied = [env.from.clone()];
    let recipients = if env.to.is_empty() {
        facts.recipient_implied = true;
        &implied[..]
    } else {
        &env.to[..]
    };
    let start = Instant::now();
    let mut refused = Vec::new();
    for to in recipients {
        let Some(reply) = command(conn, a, &Rcpt::new(to.clone(), vec![]).to_string()).await else {
            facts.outcome = EnvelopeOutcome::Broken;
            gone(a, StageName::RcptTo, start);
            return false;
        };
        let answered = reply.outcome == ReplyOutcome::Reply;
        if !reply.is_positive() {
            refused.push(format!("<{to}>: {}", reply.describe()));
        }
        facts.recipients.push(RecipientFacts {
            address: to.to_string(),
            reply,
        });
        if !answered {
            facts.outcome = EnvelopeOutcome::Broken;
            stage(
                a,
                StageName::RcptTo,
                StageStatus::Failed,
                elapsed_ms(start),
                refused.join("; "),
            );
            return false;
        }
    }
    if !refused.is_empty() {
        facts.outcome = EnvelopeOutcome::RecipientRefused;
        let status = StageStatus::Failed;
        stage(
            a,
            StageName::RcptTo,
            status,
            elapsed_ms(start),
            refused.join("; "),
        );
        return reset(conn, a).await;
    }
    let accepted: Vec<String> = recipients.iter().map(|t| format!("<{t}>")).collect();
    stage(
        a,
        StageName::RcptTo,
        StageStatus::Ok,
        elapsed_ms(start),
        format!("{} accepted", accepted.join(", ")),
    );
    if !shared.claim_send() {
        return reset(conn, a).await;
    }
    send_message(ctx, env, conn, a, facts).await
}

/// DATA, the test message, the final dot; the 250 reply's queue id is kept.
async fn send_message<S>(
    ctx: &Ctx,
    env: &Envelope,
    conn: &mut Conn<S>,
    a: &mut Attempt,
    facts: &mut EnvelopeFacts,
) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let (message_id, bytes) = match test_message(ctx, env) {
        Ok(m) => m,
        Err(why) => {
            stage(a, StageName::Data, StageStatus::Skipped, 0.0, why);
            return reset(conn, a).await;
        }
    };
    let Some(data_reply) = command(conn, a, &Data.to_string()).await else {
        facts.outcome = EnvelopeOutcome::Broken;
        gone(a, StageName::Data, start);
        return false;
    };
    let go_ahead = data_reply.code == Some(354);
    let answered = data_reply.outcome == ReplyOutcome::Reply;
    let mut message = MessageFacts {
        message_id,
        data_reply,
        reply: None,
        queue_id: None,
    };
    if !go_ahead {
        let detail = format!("DATA: {}", message.data_reply.describe());
        facts.outcome = if answered {
            EnvelopeOutcome::MessageRefused
        } else {
            EnvelopeOutcome::Broken
        };
        facts.message = Some(message);
        stage(
            a,
            StageName::Data,
            StageStatus::Failed,
            elapsed_ms(start),
            detail,
        );
        return answered && reset(conn, a).await;
    }
    let shown = format!("(the test message, {} bytes, then \".\")", bytes.len());
    if conn.send_bytes(a, &bytes, &shown).await.is_err() {
        facts.outcome = EnvelopeOutcome::Broken;
        facts.message = Some(message);
        gone(a, StageName::Data, start);
        return false;
    }
    let (reply, _) = conn.reply(a).await;
    let sent = reply.is_positive();
    let answered = reply.outcome == ReplyOutcome::Reply;
    message.queue_id = if sent { queue_id(&reply) } else { None };
    let detail = match (&message.queue_id, sent) {
        (Some(id), true) => format!("test message queued as {id}"),
        (None, true) => format!("test message accepted: {}", reply.describe()),
        (_, false) => format!("test message refused: {}", reply.describe()),
    };
    facts.outcome = match (sent, answered) {
        (true, _) => EnvelopeOutcome::Sent,
        (false, true) => EnvelopeOutcome::MessageRefused,
        (false, false) => EnvelopeOutcome::Broken,
    };
    message.reply = Some(reply);
    facts.message = Some(message);
    let status = if sent {
        StageStatus::Ok
    } else {
        StageStatus::Failed
    };
    stage(a, StageName::Data, status, elapsed_ms(start), detail);
    answered
}

/// The message --send delivers: short, plain, and saying what it is, so nobody takes it for real mail.
fn test_message(ctx: &Ctx, env: &Envelope) -> Result<(String, Vec<u8>), String> {
    let domain = if ctx.helo.contains('.') && !ctx.helo.starts_with('[') {
        ctx.helo.clone()
    } else {
        env.from.domain().to_string()
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    let message_id = format!("<smtp-doctor.{nanos:x}.{:016x}@{domain}>", h.finish());
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new(None, env.from.clone()))
        .subject("smtp-doctor test message")
        .date_now()
        .message_id(Some(message_id.clone()))
        .user_agent(format!("smtp-doctor {}", env!("CARGO_PKG_VERSION")))
        .header(ContentType::TEXT_PLAIN);
    for to in &env.to {
        builder = builder.to(Mailbox::new(None, to.clone()));
    }
    let body = format!(
        "This is a test message from smtp-doctor, sent with --send to check that this server takes mail\r\n\
         from <{}> for delivery. No reply is needed; it can be deleted.\r\n",
        env.from
    );
    let message = builder
        .body(body)
        .map_err(|e| format!("the test message could not be built: {e}"))?;
    let mut bytes = message.formatted();
    // Transparency (RFC 5321 4.5.2): a line that starts with a dot gets a second one.
    let mut stuffed = Vec::with_capacity(bytes.len() + 8);
    let mut line_start = true;
    for b in bytes.drain(..) {
        if line_start && b == b'.' {
            stuffed.push(b'.');
        }
        stuffed.push(b);
        line_start = b == b'\n';
    }
    if !stuffed.ends_with(b"\r\n") {
        stuffed.extend_from_slice(b"\r\n");
    }
    stuffed.extend_from_slice(b".\r\n");
    Ok((message_id, stuffed))
}

/// Sends one command and reads its reply; None when the connection is gone before the reply.
async fn command<S>(conn: &mut Conn<S>, a: &mut Attempt, wire: &str) -> Option<ReplyFacts>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.send(a, wire, None).await.ok()?;
    Some(conn.reply(a).await.0)
}

/// RSET after the envelope, so nothing is sent; false when the connection is gone.
async fn reset<S>(conn: &mut Conn<S>, a: &mut Attempt) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match command(conn, a, &Rset.to_string()).await {
        Some(r) => r.outcome == ReplyOutcome::Reply,
        None => false,
    }
}

fn gone(a: &mut Attempt, name: StageName, start: Instant) {
    stage(
        a,
        name,
        StageStatus::Failed,
        elapsed_ms(start),
        "the server closed the connection".into(),
    );
}

/// The server's id for a queued message: Postfix "queued as ID", Exim "id=ID", else the token after "OK"/"Ok".
fn queue_id(r: &ReplyFacts) -> Option<String> {
    let text = r.lines.join(" ");
    let token = |s: &str| {
        s.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')')
            .find(|t| !t.is_empty())
            .map(|t| {
                t.trim_matches(['<', '>', '.'])
                    .chars()
                    .take(120)
                    .collect::<String>()
            })
            .filter(|t| !t.is_empty())
    };
    let lower = text.to_ascii_lowercase();
    if let Some(i) = lower.find("queued as ") {
        return token(&text[i + "queued as ".len()..]);
    }
    if let Some(i) = lower.find("id=") {
        return token(&text[i + 3..]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> ReplyFacts {
        ReplyFacts {
            outcome: ReplyOutcome::Reply,
            code: Some(250),
            enhanced: None,
            lines: vec![text.into()],
            elapsed_ms: 1.0,
        }
    }

    #[test]
    fn queue_ids_of_common_servers() {
        for (text, want) in [
            ("2.0.0 Ok: queued as 4XkQ2b0Wq1z9tB", Some("4XkQ2b0Wq1z9tB")),
            ("OK id=1tN0Xq-000Abc-2F", Some("1tN0Xq-000Abc-2F")),
            ("2.0.0 Ok: queued as <ABC123>.", Some("ABC123")),
            ("2.0.0 OK", None),
            ("queued as ", None),
        ] {
            assert_eq!(queue_id(&reply(text)).as_deref(), want, "{text}");
        }
    }
}
