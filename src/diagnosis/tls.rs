//! TLS: the port's mode, STARTTLS, the handshake and the certificate, decided from the probe's TLS facts.

use crate::report::{CertProblem, HandshakeError, PortMode, ReplyOutcome, StageName, TlsOutcome};

use super::attempt::At;
use super::session::refusal_code;
use super::{CertEvidence, Code, Confidence, Facts, Finding, Severity};

/// A certificate with fewer days left is worth a warning (cert_expires_soon); --format nagios takes it as
/// --cert-warning-days' default, so both say the same by default.
pub const EXPIRY_WARNING_DAYS: u32 = 14;

/// The port speaks the other TLS mode than the one it was probed with.
pub(super) fn wrong_mode(at: &At<'_>) -> Option<Finding> {
    let code = match (at.pr.mode, at.a.speaks) {
        (PortMode::Starttls, Some(PortMode::Implicit)) => Code::WrongTlsModeImplicit,
        (PortMode::Implicit, Some(PortMode::Starttls)) => Code::WrongTlsModeStarttls,
        _ => return None,
    };
    Some(at.finding(
        code,
        Confidence::High,
        Facts::Greeted(at.a.greeting.clone()),
    ))
}

fn handshake_code(e: Option<HandshakeError>) -> Code {
    match e {
        Some(HandshakeError::NoCommonParameters) => Code::TlsOutdated,
        Some(HandshakeError::PlaintextReply) => Code::WrongTlsModeStarttls,
        Some(HandshakeError::Garbage) => Code::TlsNotTls,
        Some(HandshakeError::Timeout) => Code::TlsHandshakeTimeout,
        Some(HandshakeError::Alert | HandshakeError::Closed | HandshakeError::Other) | None => {
            Code::TlsHandshakeFailed
        }
    }
}

/// Implicit TLS that failed before any greeting.
pub(super) fn implicit_handshake(at: &At<'_>) -> Option<Finding> {
    let t = at.a.tls.as_ref()?;
    if t.outcome == TlsOutcome::Established {
        return None;
    }
    Some(at.finding(
        handshake_code(t.handshake_error),
        Confidence::High,
        Facts::Handshake {
            error: t.handshake_error,
            injected: 0,
            after_starttls: false,
        },
    ))
}

/// What the TLS stage says about one attempt.
#[derive(Debug, Default)]
pub(super) struct TlsCall {
    pub errors: Vec<Finding>,
    pub notes: Vec<Finding>,
    /// TLS is up (a bad certificate still counts: EHLO and AUTH ran over it).
    pub established: bool,
    /// Later stages ran and have facts of their own.
    pub session_went_on: bool,
}

pub(super) fn decide(at: &At<'_>) -> TlsCall {
    let mut call = TlsCall {
        session_went_on: true,
        ..TlsCall::default()
    };
    let Some(t) = &at.a.tls else { return call };
    match t.outcome {
        TlsOutcome::NotOffered => {
            let keywords = at.a.ehlo.as_ref().map(|e| e.keywords.clone());
            let f = at.finding(
                Code::StarttlsNotOffered,
                Confidence::High,
                Facts::Keywords(keywords.unwrap_or_default()),
            );
            // Port 25 is server-to-server: receivers accept plaintext, so it is a warning there.
            if at.pr.port == 25 {
                call.notes.push(Finding {
                    severity: Severity::Warning,
                    ..f
                });
            } else {
                call.errors.push(f);
            }
        }
        TlsOutcome::Refused => {
            call.session_went_on = false;
            let r = t.starttls_reply.clone();
            let reply = |reply| Facts::Reply {
                stage: StageName::Tls,
                reply,
            };
            let f = match r {
                // 421 is the server closing the session (overload, shutdown), whatever command it answers.
                Some(r) if r.code == Some(421) => {
                    at.finding(refusal_code(&r), Confidence::High, reply(r))
                }
                Some(r) if r.outcome != ReplyOutcome::Reply => {
                    at.finding(Code::SessionDropped, Confidence::High, reply(r))
                }
                Some(r) => at.finding(Code::StarttlsRefused, Confidence::High, reply(r)),
                None => at.finding(Code::StarttlsRefused, Confidence::High, Facts::None),
            };
            call.errors.push(f);
        }
        TlsOutcome::HandshakeFailed => {
            call.session_went_on = false;
            // Plaintext after the 220 is this server's fault; the words for a port-mode mix-up do not fit it.
            let code = if t.injected_bytes > 0 {
                Code::StarttlsInjection
            } else if t.handshake_error == Some(HandshakeError::PlaintextReply) {
                Code::StarttlsStripped
            } else {
                handshake_code(t.handshake_error)
            };
            call.errors.push(at.finding(
                code,
                Confidence::High,
                Facts::Handshake {
                    error: t.handshake_error,
                    injected: t.injected_bytes,
                    after_starttls: true,
                },
            ));
        }
        TlsOutcome::Established => established(at, &mut call),
    }
    call
}

fn established(at: &At<'_>, call: &mut TlsCall) {
    call.established = true;
    let Some(t) = &at.a.tls else { return };
    if let Some(f) = certificate(at) {
        call.errors.push(f);
    }
    if t.injected_bytes > 0 {
        call.errors.push(at.finding(
            Code::StarttlsInjection,
            Confidence::High,
            Facts::Handshake {
                error: None,
                injected: t.injected_bytes,
                after_starttls: true,
            },
        ));
    }
    let healthy = t.chain_verified && t.name_matches;
    if let Some(leaf) = t.chain.first().filter(|_| healthy) {
        if leaf.days_left < i64::from(EXPIRY_WARNING_DAYS) {
            call.notes.push(at.note(
                Code::CertExpiresSoon,
                Severity::Warning,
                Facts::Cert(Box::new(cert_evidence(at))),
            ));
        }
    }
}

fn cert_evidence(at: &At<'_>) -> CertEvidence {
    let t = at.a.tls.as_ref();
    CertEvidence {
        leaf: t.and_then(|t| t.chain.first().cloned()),
        chain_len: t.map_or(0, |t| t.chain.len()),
        problem: t.and_then(|t| t.chain_error),
        name_matches: t.is_some_and(|t| t.name_matches),
        overridden: !at.report.tls_verification,
    }
}

/// A certificate that fails verification: its chain first, then its name.
fn certificate(at: &At<'_>) -> Option<Finding> {
    let t = at.a.tls.as_ref()?;
    if t.chain_verified && t.name_matches {
        return None;
    }
    let ev = cert_evidence(at);
    let code = match t.chain_error {
        Some(CertProblem::SelfSigned) => Code::CertSelfSigned,
        // A lone leaf from an unknown issuer: the server does not send its intermediate.
        Some(CertProblem::UnknownIssuer)
            if ev.chain_len == 1 && ev.leaf.as_ref().is_some_and(|l| !l.self_signed) =>
        {
            Code::CertChainIncomplete
        }
        Some(CertProblem::UnknownIssuer) => Code::CertUntrusted,
        Some(CertProblem::Expired) => Code::CertExpired,
        Some(CertProblem::NotYetValid) => Code::CertNotYetValid,
        Some(CertProblem::NameMismatch) | None => Code::CertNameMismatch,
        Some(_) => Code::CertInvalid,
    };
    Some(at.finding(code, Confidence::High, Facts::Cert(Box::new(ev))))
}
