//! Words for AUTH, with the provider's own wordings (Gmail, Microsoft 365, Exim) choosing the remedy, never the code.

use crate::diagnosis::{Code, Facts, Finding};
use crate::report::AuthFacts;

use super::{here, port_of, reply_evidence, Words};

pub(super) fn word(f: &Finding) -> Words {
    let here = here(f);
    let port = port_of(f);
    let auth = match &f.facts {
        Facts::Auth(a) => Some(a.as_ref()),
        _ => None,
    };
    let reply = auth.and_then(|a| a.reply.as_ref());
    let ev: Vec<String> = reply
        .map(|r| {
            vec![format!(
                "AUTH {}: {}",
                auth.and_then(|a| a.mechanism.as_deref()).unwrap_or(""),
                reply_evidence(r)
            )]
        })
        .unwrap_or_default();
    let short = reply.map(|r| r.describe()).unwrap_or_default();
    let (message, ev, remedy) = match f.code {
        Code::AuthCleartextRefused => (
            format!("{here} would take the password unencrypted, so it was not sent"),
            vec!["no TLS on this connection".to_string()],
            "Use a port with TLS (587 with STARTTLS, or 465). --danger-allow-cleartext-auth tests it anyway on a network you control.".to_string(),
        ),
        Code::AuthNotOffered | Code::AuthMechanismsUnsupported => return offered_words(f, auth, &here, port),
        Code::AuthRequiresTls => (
            format!("{here} requires TLS before AUTH"),
            ev,
            "Use STARTTLS (secure: false + requireTLS on 587) or implicit TLS on 465.".into(),
        ),
        Code::AuthTemporaryFailure => (
            format!("{here} could not check the password right now ({short})"),
            ev,
            "A temporary failure on the server (its authentication backend is down or rate-limiting). Try again later; if it lasts, check the server's SASL/auth service.".into(),
        ),
        Code::AuthMechanismRefused => (
            format!("{here} does not accept the AUTH mechanism it advertised"),
            ev,
            "The server's AUTH configuration is inconsistent; check its SASL mechanisms.".into(),
        ),
        Code::AuthBrokenOff => (
            format!("{here} broke off during AUTH"),
            ev,
            "Run with --verbose to see the exchange; check the server's log.".into(),
        ),
        Code::AuthWithheldUnverified => (
            format!("the password was not sent to {here} because its certificate failed verification"),
            Vec::new(),
            "Fix the certificate first; --danger-accept-invalid-certs tests the password anyway.".into(),
        ),
        Code::VerificationOverridden => (
            "results were gathered with certificate verification overridden".into(),
            Vec::new(),
            "Drop --danger-accept-invalid-certs once the certificate is fixed.".into(),
        ),
        _ => {
            let (m, remedy) = credential_words(f.code, auth, &f.host);
            (format!("{here}: {m}"), ev, remedy)
        }
    };
    Words::new(message, ev, remedy)
}

fn offered_words(f: &Finding, auth: Option<&AuthFacts>, here: &str, port: u16) -> Words {
    let offered = auth.map(|a| a.offered.join(" ")).unwrap_or_default();
    let message = if f.code == Code::AuthNotOffered {
        format!("{here} offers no authentication (no AUTH in EHLO)")
    } else {
        format!(
            "{here} offers only {offered} for authentication; smtp-doctor tests PLAIN and LOGIN"
        )
    };
    let shown = if offered.is_empty() { "none" } else { &offered };
    Words::new(
        message,
        vec![format!("AUTH offered: {shown}")],
        if port == 25 {
            "Port 25 is for server-to-server mail and usually takes no login; submit with a password on port 587 (STARTTLS) or 465 (TLS)."
        } else {
            "Enable SMTP AUTH on this port (Postfix: smtpd_sasl_auth_enable = yes), or use the provider's submission host and port."
        },
    )
}

/// The provider-specific meaning of a rejected login: the code first, then the provider's host and wording.
fn credential_words(code: Code, auth: Option<&AuthFacts>, host: &str) -> (String, String) {
    let reply = auth.and_then(|a| a.reply.as_ref());
    let text = reply
        .map(|r| r.lines.join(" "))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let enhanced = reply.and_then(|r| r.enhanced.as_deref()).unwrap_or("");
    let h = host.to_ascii_lowercase();
    let google =
        h.ends_with("gmail.com") || h.ends_with("google.com") || h.ends_with("googlemail.com");
    let microsoft = ["office365.com", "outlook.com", "hotmail.com", "live.com"]
        .iter()
        .any(|d| h.ends_with(d));
    match code {
        Code::AuthAppPasswordRequired => (
            "the provider demands an app password for this account".into(),
            "Google: turn on 2-Step Verification and create an App Password (myaccount.google.com/apppasswords); use it instead of the account password.".into(),
        ),
        Code::AuthSmtpDisabled => microsoft_words(),
        _ if enhanced == "5.7.3" && (microsoft || text.contains("smtpclientauthentication")) => microsoft_words(),
        _ if enhanced == "5.7.8" && google => (
            "Gmail rejected the user name or password".into(),
            "Gmail no longer takes the account password over SMTP: create an App Password (needs 2-Step Verification) at myaccount.google.com/apppasswords, or use OAuth2 (XOAUTH2).".into(),
        ),
        _ if text.contains("incorrect authentication data") => (
            "the server (Exim) rejected the user name or password".into(),
            "Check the user name (usually the full address) and password in the mail account on the server (cPanel → Email Accounts); after repeated failures cPHulk or fail2ban may be blocking this IP.".into(),
        ),
        _ => (
            "the server rejected the user name or password".into(),
            "Check the user name (often the full email address) and the password; reset the password if unsure. Some providers need an app-specific password or have SMTP login disabled per account.".into(),
        ),
    }
}

fn microsoft_words() -> (String, String) {
    (
        "Microsoft 365 refused SMTP AUTH for this mailbox or tenant".into(),
        "Authenticated SMTP is disabled: in the Microsoft 365 admin center enable 'Authenticated SMTP' for the mailbox \
         (Set-CASMailbox -SmtpClientAuthenticationDisabled $false), check Security Defaults / MFA (which block basic auth), \
         or move to OAuth2."
            .into(),
    )
}
