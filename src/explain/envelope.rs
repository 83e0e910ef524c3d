//! Words for the envelope: the refused command and reply, with the provider's policy (SES, Microsoft 365, Postfix) choosing the remedy.

use crate::diagnosis::{Code, EnvelopeEvidence, Facts, Finding, Refusal};
use crate::report::StageName;

use super::{here, reply_evidence, Words};

pub(super) fn word(f: &Finding) -> Words {
    let here = here(f);
    let Facts::Envelope(e) = &f.facts else {
        return Words::new(
            format!("{here}: the envelope failed"),
            Vec::new(),
            "Run with --verbose to see the exchange.",
        );
    };
    let from = &e.envelope.from;
    let to = e.recipient.as_deref().unwrap_or("");
    let short = e.reply.describe();
    let login = match (&e.envelope.login, e.envelope.authenticated) {
        (Some(u), true) => format!("logged in as {u} (AUTH accepted)"),
        _ => "not logged in (no --user)".to_string(),
    };
    let mut ev = vec![
        format!("{}: {}", said_to(e), reply_evidence(&e.reply)),
        login,
    ];
    if e.envelope.recipient_implied && e.stage == StageName::RcptTo {
        ev.push("no --to was given, so the sender itself was the recipient: many servers (Postfix) judge the sender only at RCPT TO".into());
    }
    let (message, remedy) = match f.code {
        Code::SenderRefused => (
            format!("{here} refuses mail from <{from}> ({short})"),
            sender_remedy(e),
        ),
        Code::RelayDenied if e.envelope.authenticated => (
            format!("{here} will not relay to <{to}> for this login ({short})"),
            "This account may not send to that destination: check its sending rights with the provider (on your own Postfix: smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination).".to_string(),
        ),
        Code::RelayDenied => (
            format!("{here} will not relay to <{to}> without a login ({short})"),
            "Relaying to other domains needs a login: set the app's SMTP user and password and use 587 (STARTTLS) or 465; test with --user (password through SMTP_DOCTOR_PASSWORD).".to_string(),
        ),
        Code::RecipientRefused => (
            format!("{here} refuses the recipient <{to}> ({short})"),
            "The login and the sender work; the recipient address is refused. Check it: 5.1.1 means no such mailbox at that domain, 5.1.2 a domain that does not exist, 5.2.2 a full mailbox.".to_string(),
        ),
        Code::MessageRefused if e.refusal != Refusal::Other && e.refusal != Refusal::RelayDenied => (
            format!("{here} accepted the envelope but refused the test message from <{from}> ({short})"),
            sender_remedy(e),
        ),
        Code::MessageRefused => (
            format!("{here} accepted the envelope but refused the test message ({short})"),
            "The server's content or size policy refused the message (5.7.x policy, 5.3.4 too large). Check the server's log for this sender; real messages from the app may be refused the same way.".to_string(),
        ),
        Code::AuthRequired => (
            format!("{here} takes no mail without a login ({short})"),
            "Set the app's SMTP user and password (submission on 587 with STARTTLS, or 465); test with --user, the password through SMTP_DOCTOR_PASSWORD or --password-stdin.".to_string(),
        ),
        Code::EnvelopeDeferred => (
            format!("{here} deferred {} ({short})", command(e.stage)),
            "A temporary refusal (4xx): a rate limit, greylisting, a full quota or a backend down. Try again later; if it lasts, check the account's sending limits with the provider.".to_string(),
        ),
        _ => (
            format!("{here} stopped answering during {}", command(e.stage)),
            "Run with --verbose to see the exchange, and check the server's log.".to_string(),
        ),
    };
    Words::new(message, ev, remedy)
}

/// "MAIL FROM:<a@b>", "RCPT TO:<c@d>" or "DATA": the command the reply answers.
fn said_to(e: &EnvelopeEvidence) -> String {
    match e.stage {
        StageName::MailFrom => format!("MAIL FROM:<{}>", e.envelope.from),
        StageName::RcptTo => format!("RCPT TO:<{}>", e.recipient.as_deref().unwrap_or("")),
        _ => "DATA".to_string(),
    }
}

fn command(stage: StageName) -> &'static str {
    match stage {
        StageName::MailFrom => "MAIL FROM",
        StageName::RcptTo => "RCPT TO",
        _ => "the message (DATA)",
    }
}

/// What to do about a refused sender, by the policy the provider's reply names.
fn sender_remedy(e: &EnvelopeEvidence) -> String {
    let from = &e.envelope.from;
    let user = e.envelope.login.as_deref().unwrap_or("the SMTP user");
    let domain = from.rsplit('@').next().unwrap_or(from);
    match e.refusal {
        Refusal::SendAsDenied => format!(
            "Microsoft 365 lets a mailbox send only as itself: give {user} the Send As permission on <{from}> \
             (Exchange admin center → Recipients → Mailboxes → {from} → Delegation → Send as; or \
             Add-RecipientPermission -Identity {from} -Trustee {user} -AccessRights SendAs), or send from {user}."
        ),
        Refusal::NotVerified => format!(
            "Amazon SES sends only from verified identities: verify <{from}> or the domain {domain} in the SES console \
             (Identities) in the region of this endpoint. While the account is in the SES sandbox, recipients must be verified too."
        ),
        Refusal::LoginMismatch => format!(
            "The server ties each login to the addresses it may send as (Postfix smtpd_sender_login_maps with \
             reject_sender_login_mismatch): set the app's From address to one {user} owns, or add <{from}> to {user}'s entry in that map."
        ),
        Refusal::RelayDenied | Refusal::Other => format!(
            "This account may not send as <{from}>: set the app's From address (MAIL_FROM_ADDRESS, DEFAULT_FROM_EMAIL, \
             nodemailer's from) to {user}'s own address or an alias the provider lets it use, or verify <{from}> or {domain} with the provider."
        ),
    }
}
