//! Words for TLS: the port's mode and the client settings that match it, STARTTLS, the handshake and certificates.

use crate::diagnosis::{CertEvidence, Code, Facts, Finding};
use crate::report::HandshakeError;

use super::{here, port_of, reply_evidence, Words};

const INJECTION_REMEDY: &str = "The server or a middlebox in front of it is broken or tampering with the session; report it to the server's operator (see CVE-2011-0411).";

pub(super) fn word(f: &Finding) -> Words {
    let here = here(f);
    let port = port_of(f);
    match &f.facts {
        Facts::Cert(ev) => cert_words(f, ev, &here),
        Facts::Handshake {
            error,
            injected,
            after_starttls,
        } => handshake_words(f.code, *error, *injected, *after_starttls, &here, port),
        Facts::Greeted(g) if f.code == Code::WrongTlsModeStarttls => Words::new(
            format!("{here} answers in plaintext SMTP, not TLS: clients set for implicit TLS fail with 'wrong version number'"),
            vec![format!(
                "the server greeted with {}",
                g.as_ref().map(|g| g.describe()).unwrap_or_default()
            )],
            starttls_settings(port),
        ),
        Facts::Greeted(_) => Words::new(
            format!("{here} speaks TLS from the first byte (implicit TLS), not plaintext SMTP with STARTTLS"),
            vec!["no greeting arrived in plaintext; a TLS ClientHello was answered".into()],
            format!(
                "Configure the client for implicit TLS on port {port}: nodemailer secure: true, PHPMailer SMTPSecure = 'ssl', \
                 Django EMAIL_USE_SSL = True, Laravel MAIL_ENCRYPTION=ssl."
            ),
        ),
        Facts::Keywords(k) => {
            let relay = port == 25;
            Words::new(
                format!(
                    "{here} does not offer STARTTLS: mail{} would travel unencrypted",
                    if relay { "" } else { " and passwords" }
                ),
                vec![format!("EHLO keywords: {}", k.join(", "))],
                if relay {
                    "Receivers accept it, but enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with a certificate)."
                } else {
                    "Most mail clients refuse to send a password here. Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = encrypt on submission) or use port 465 if it offers implicit TLS."
                },
            )
        }
        Facts::Reply { reply: r, .. } => Words::new(
            format!("{here} offered STARTTLS but refused it: {}", r.describe()),
            vec![format!("STARTTLS reply: {}", reply_evidence(r))],
            "The server's TLS setup is broken (often an unreadable certificate or key file): check the server's mail log.",
        ),
        _ => Words::new(
            format!("{here} offered STARTTLS but refused it"),
            Vec::new(),
            "The server's TLS setup is broken (often an unreadable certificate or key file): check the server's mail log.",
        ),
    }
}

fn starttls_settings(port: u16) -> String {
    format!(
        "Configure the client for STARTTLS on port {port}: nodemailer secure: false (STARTTLS is used when offered; add \
         requireTLS: true), PHPMailer SMTPSecure = 'tls', Django EMAIL_USE_TLS = True, Laravel MAIL_ENCRYPTION=tls. Or use a \
         port that really is implicit TLS."
    )
}

fn handshake_words(
    code: Code,
    error: Option<HandshakeError>,
    injected: usize,
    after_starttls: bool,
    here: &str,
    port: u16,
) -> Words {
    let ev = if after_starttls {
        vec!["STARTTLS accepted with 220, then the handshake failed".to_string()]
    } else {
        vec![format!("{here}: TLS handshake failed")]
    };
    let (what, remedy) = match error {
        Some(HandshakeError::Alert) => (
            "the server ended the TLS handshake with an alert",
            "The server rejected our TLS parameters: it may allow only old protocols (TLS 1.0/1.1) or demand a client certificate. Update the server's TLS settings.".to_string(),
        ),
        Some(HandshakeError::NoCommonParameters) => (
            "no TLS version or cipher in common with the server",
            "The server offers only outdated TLS (1.0/1.1 or weak ciphers) that current clients refuse; update its TLS configuration.".into(),
        ),
        Some(HandshakeError::PlaintextReply) => (
            "the server answered the TLS handshake in plaintext",
            format!("Port {port} is not an implicit-TLS port; use STARTTLS (secure: false) on it."),
        ),
        Some(HandshakeError::Garbage) => (
            "the server answered the TLS handshake with bytes that are neither TLS nor SMTP",
            "Something that is not a mail server answers on this port; check the port and the server.".into(),
        ),
        Some(HandshakeError::Closed) => (
            "the server closed the connection during the TLS handshake",
            "The server's TLS setup is broken (certificate or key unreadable, or no protocol in common); check the server's log.".into(),
        ),
        Some(HandshakeError::Timeout) => (
            "the TLS handshake did not finish in time",
            "The server or the path stalls during TLS; check the server's load and any middlebox that inspects TLS.".into(),
        ),
        Some(HandshakeError::Other) | None => (
            "the TLS handshake failed",
            "Run again with --verbose; check the server's TLS configuration.".into(),
        ),
    };
    match code {
        Code::StarttlsInjection if error.is_some() => Words::new(
            format!("{here} sent {injected} extra bytes right after its STARTTLS 220 (STARTTLS response injection), then {what}"),
            ev,
            INJECTION_REMEDY,
        ),
        Code::StarttlsInjection => Words::new(
            format!("{here} sent {injected} extra bytes right after its STARTTLS 220 (STARTTLS response injection)"),
            vec!["bytes were waiting before the TLS handshake began".into()],
            INJECTION_REMEDY,
        ),
        Code::StarttlsStripped => Words::new(
            format!("{here} accepted STARTTLS with 220 but went on in plaintext SMTP instead of TLS"),
            ev,
            "The server or a middlebox in front of it (an SMTP-inspecting firewall such as Cisco 'inspect esmtp') breaks STARTTLS; check the server's TLS setup and any SMTP inspection on the path.",
        ),
        Code::WrongTlsModeStarttls => Words::new(
            format!("{here}: {what}: clients set for implicit TLS fail with 'wrong version number'"),
            ev,
            starttls_settings(port),
        ),
        _ => Words::new(format!("{here}: {what}"), ev, remedy),
    }
}

fn cert_words(f: &Finding, ev: &CertEvidence, here: &str) -> Words {
    let name = &f.host;
    let leaf = ev.leaf.as_ref();
    let mut evidence = Vec::new();
    if let Some(l) = leaf {
        evidence.push(format!("subject: {}", l.subject));
        let names = if l.sans.is_empty() {
            "(none)".to_string()
        } else {
            l.sans.join(", ")
        };
        evidence.push(format!("names: {names}"));
        evidence.push(format!("issuer: {}", l.issuer));
        evidence.push(format!(
            "valid until {} ({} days)",
            l.not_after, l.days_left
        ));
        evidence.push(format!("certificates sent by the server: {}", ev.chain_len));
    }
    let until = leaf
        .map(|l| format!(" ({})", l.not_after))
        .unwrap_or_default();
    let (mut message, remedy) = match f.code {
        Code::CertExpiresSoon => (
            format!(
                "the certificate of {here} expires in {} days{until}",
                leaf.map_or(0, |l| l.days_left)
            ),
            "Renew the certificate now (certbot renew, then reload the mail server).".to_string(),
        ),
        Code::CertSelfSigned => (
            format!("{here} presents a self-signed certificate, which clients do not trust"),
            "Install a certificate from a public CA on the server (e.g. Let's Encrypt). For a private server, give the client the \
             certificate to trust (nodemailer tls.ca, or --ca-file here) rather than turning verification off.".to_string(),
        ),
        Code::CertChainIncomplete => (
            format!("{here} does not send its intermediate certificate: it sends only its own, whose issuer is not a trust anchor"),
            "Configure the full chain on the server (Postfix smtpd_tls_chain_files or smtpd_tls_cert_file = fullchain.pem, not \
             cert.pem; Exim tls_certificate = fullchain.pem) and reload it. Some clients fill the gap themselves, many do not.".to_string(),
        ),
        Code::CertUntrusted => (
            format!("{here} presents a certificate from an issuer this host does not trust"),
            "If it comes from a public CA, check the server sends the full chain (fullchain.pem). For a private CA, pass \
             --ca-file (and give that CA to the client).".to_string(),
        ),
        Code::CertExpired => (
            format!("the certificate of {here} has expired{until}"),
            "Renew the certificate on the server (certbot renew) and reload the mail server. If it looks valid, check this host's clock.".to_string(),
        ),
        Code::CertNotYetValid => (
            format!("the certificate of {here} is not valid yet"),
            "Check the clock on this host (timedatectl) and on the server.".to_string(),
        ),
        Code::CertNameMismatch => (
            format!("the certificate of {here} does not name {name}"),
            format!(
                "Connect with a name the certificate carries{}, or get a certificate for {name} on the server.",
                leaf.filter(|l| !l.sans.is_empty())
                    .map(|l| format!(" ({})", l.sans.join(", ")))
                    .unwrap_or_default()
            ),
        ),
        _ => (
            format!(
                "the certificate of {here} is rejected ({})",
                ev.problem.map_or("rejected", |p| p.words())
            ),
            "Replace the server's certificate with a valid one from a trusted CA.".to_string(),
        ),
    };
    if f.code != Code::CertNameMismatch && f.code != Code::CertExpiresSoon && !ev.name_matches {
        message.push_str(&format!(", and it does not name {name} either"));
    }
    if ev.overridden {
        evidence.push(
            "certificate verification was overridden with --danger-accept-invalid-certs".into(),
        );
    }
    Words::new(message, evidence, remedy)
}
