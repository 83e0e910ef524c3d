//! Words for the SMTP session: greetings, EHLO and replies that end the session.

use crate::diagnosis::{Code, Facts, Finding};
use crate::report::{ReplyOutcome, StageName};

use super::{here, reply_evidence, reply_remedy, Words};

pub(super) fn word(f: &Finding) -> Words {
    let here = here(f);
    match (&f.facts, f.code) {
        (Facts::Ehlo { reply, after_tls }, _) => {
            let when = if *after_tls { " after TLS" } else { "" };
            match reply {
                Some(r) => Words::new(
                    format!("{here} refused EHLO{when}: {}", r.describe()),
                    vec![format!("EHLO reply: {}", reply_evidence(r))],
                    reply_remedy(r),
                ),
                None => Words::new(
                    format!("{here} stopped answering before EHLO{when} was answered"),
                    Vec::new(),
                    "Run again with --verbose to see the conversation.",
                ),
            }
        }
        (Facts::Reply { stage, reply }, _) if *stage != StageName::Greeting => {
            let what = match f.code {
                Code::SessionDropped => "dropped the session",
                _ => "ended the session (busy, rate-limiting or shutting down)",
            };
            Words::new(
                format!("{here} {what} at {}: {}", command(*stage), reply.describe()),
                vec![format!("{} reply: {}", command(*stage), reply_evidence(reply))],
                reply_remedy(reply),
            )
        }
        (Facts::Reply { reply, .. }, _) => greeting_words(f, reply, &here),
        (_, Code::HeloOnly) => Words::new(
            format!("{here} refused EHLO and accepted only HELO: no STARTTLS, no AUTH, no size limits are advertised"),
            Vec::new(),
            "The server is very old or misconfigured; use a modern submission server.",
        ),
        _ => Words::new(
            format!("{here} sent no greeting"),
            Vec::new(),
            "Run again with --verbose to see what happened.",
        ),
    }
}

fn greeting_words(f: &Finding, g: &crate::report::ReplyFacts, here: &str) -> Words {
    let ev = vec![format!("greeting: {}", reply_evidence(g))];
    let (message, remedy) = match f.code {
        Code::GreetingRejected | Code::ServerBusy => (
            format!("{here} refused the session in its greeting: {}", g.describe()),
            reply_remedy(g),
        ),
        Code::GreetingSlow => (
            format!("{here} sends its greeting too slowly: {}", g.describe()),
            "The server trickles its greeting (a tarpit, or an overloaded server or link), so clients time out. Check the \
             server's load and any anti-spam tarpit or greeting delay (Postfix postscreen, Exim, OpenBSD spamd) that \
             treats this client as suspect."
                .into(),
        ),
        Code::GreetingSilent => (
            format!("{here} accepts connections but never sends a greeting"),
            "The server is overloaded or tarpitting, or a proxy/firewall holds the connection open. Check the server's load and \
             connection limits; try again later."
                .into(),
        ),
        Code::GreetingClosed => (
            format!("{here} closed the connection before greeting"),
            "The server drops this client at once: a connection limit, an access rule (tcpwrappers, Exim host_reject_connection), or \
             a blocklist. Check the server's log for this host's address."
                .into(),
        ),
        Code::NotSmtp if g.outcome == ReplyOutcome::TlsRecord => (
            format!("{here} sent TLS data before any greeting"),
            "The port's service is not an SMTP server; check the port number.".into(),
        ),
        Code::NotSmtp => (
            format!(
                "{here} answers, but not in SMTP ({})",
                g.lines.first().map(String::as_str).unwrap_or("")
            ),
            "Another service listens on this port; check the port number and the server.".into(),
        ),
        Code::ReplyTooLarge => (
            format!("{here} sent a greeting beyond every sane size limit"),
            "The service on this port is broken or hostile; check the port and the server.".into(),
        ),
        Code::ConnectionReset => (
            format!("{here} reset the connection before greeting"),
            "Check the server's log and its connection limits.".into(),
        ),
        _ => (
            format!("{here}: {}", g.describe()),
            reply_remedy(g),
        ),
    };
    Words::new(message, ev, remedy)
}

/// The command a stage's reply answers.
fn command(stage: StageName) -> &'static str {
    match stage {
        StageName::Ehlo => "EHLO",
        StageName::EhloTls => "EHLO after TLS",
        StageName::Tls => "STARTTLS",
        StageName::Auth => "AUTH",
        StageName::MailFrom => "MAIL FROM",
        StageName::RcptTo => "RCPT TO",
        StageName::Data => "DATA",
        StageName::Quit => "QUIT",
        _ => "the greeting",
    }
}
