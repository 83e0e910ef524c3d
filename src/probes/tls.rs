//! TLS handshakes that finish even on a bad certificate, recording the chain, the verdict on it and why a handshake failed.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::probes::elapsed_ms;
use crate::probes::wire::{looks_like_smtp, looks_like_tls};
use crate::report::{CertFacts, CertProblem, HandshakeError, TlsFacts, TlsOutcome};

/// The trust anchors of one run: system store (or the bundled Mozilla roots when it is empty) plus --ca-file.
#[derive(Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Trust {
    pub fn load(extra: &[CertificateDer<'static>]) -> Trust {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots.add_parsable_certificates(extra.iter().cloned());
        Trust {
            roots: Arc::new(roots),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

/// What the verifier saw, kept so the probe can go on while the report still says why the certificate is bad.
#[derive(Debug, Default, Clone)]
struct Verdict {
    chain_error: Option<CertProblem>,
    name_matches: bool,
    checked: bool,
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Arc<Mutex<Verdict>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        // webpki checks the chain before the name and reports only the first problem, so the name is checked on its own.
        let name_matches = rustls::server::ParsedCertificate::try_from(end_entity)
            .and_then(|parsed| rustls::client::verify_server_name(&parsed, server_name))
            .is_ok();
        let chain_error = match result {
            Ok(_) => None,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => None,
            Err(e) => Some(cert_problem(&e)),
        };
        if let Ok(mut v) = self.verdict.lock() {
            *v = Verdict {
                chain_error,
                name_matches,
                checked: true,
            };
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn cert_problem(e: &rustls::Error) -> CertProblem {
    match e {
        rustls::Error::InvalidCertificate(c) => {
            match c {
                CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    CertProblem::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    CertProblem::NotYetValid
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => CertProblem::NameMismatch,
                CertificateError::Revoked => CertProblem::Revoked,
                // The candidate issuer's key cannot have made this signature: for a chain, the same as a bad one.
                CertificateError::BadSignature
                | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                    CertProblem::BadSignature
                }
                CertificateError::BadEncoding => CertProblem::BadEncoding,
                CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => CertProblem::WrongUsage,
                _ => CertProblem::Other,
            }
        }
        _ => CertProblem::Other,
    }
}

/// Remembers the first bytes the peer sent, so a failed handshake can say whether they were SMTP or TLS.
pub struct Recording<S> {
    inner: S,
    first: Arc<Mutex<Vec<u8>>>,
}

const RECORD_BYTES: usize = 512;

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let new = &buf.filled()[before..];
            if let Ok(mut first) = self.first.lock() {
                let room = RECORD_BYTES.saturating_sub(first.len());
                first.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A finished handshake, or the facts of a failed one plus the bytes the peer sent instead.
pub struct Handshake<S> {
    pub facts: TlsFacts,
    pub stream: Option<TlsStream<Recording<S>>>,
    /// What the peer sent first (for a plaintext greeting where TLS was expected).
    pub peer_first_bytes: Vec<u8>,
}

/// Runs a TLS handshake on `stream` and records everything about it.
pub async fn handshake<S>(
    stream: S,
    trust: &Trust,
    server_name: ServerName<'static>,
    timeout: Duration,
) -> Handshake<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let verdict = Arc::new(Mutex::new(Verdict::default()));
    let first = Arc::new(Mutex::new(Vec::new()));
    let mut facts = TlsFacts::new(TlsOutcome::HandshakeFailed);
    let config = match client_config(trust, verdict.clone()) {
        Ok(c) => c,
        Err(_) => {
            facts.handshake_error = Some(HandshakeError::Other);
            return Handshake {
                facts,
                stream: None,
                peer_first_bytes: Vec::new(),
            };
        }
    };
    let connector = TlsConnector::from(Arc::new(config));
    let recording = Recording {
        inner: stream,
        first: first.clone(),
    };
    let result = tokio::time::timeout(timeout, connector.connect(server_name, recording)).await;
    facts.elapsed_ms = elapsed_ms(start);
    let peer_first_bytes = first.lock().map(|f| f.clone()).unwrap_or_default();
    let stream = match result {
        Err(_) => {
            facts.handshake_error = Some(HandshakeError::Timeout);
            None
        }
        Ok(Err(e)) => {
            facts.handshake_error = Some(classify_handshake_error(&e, &peer_first_bytes));
            None
        }
        Ok(Ok(tls)) => {
            let (_, conn) = tls.get_ref();
            facts.outcome = TlsOutcome::Established;
            // The registered names ("TLSv1_3", "TLS13_AES_256_GCM_SHA384"), or the number of an unnamed one.
            facts.version = conn.protocol_version().map(|v| {
                v.as_str().map_or_else(
                    || format!("0x{:04x}", u16::from(v)),
                    |n| n.replace('_', "."),
                )
            });
            facts.cipher = conn.negotiated_cipher_suite().map(|c| {
                let s = c.suite();
                s.as_str()
                    .map_or_else(|| format!("0x{:04x}", u16::from(s)), str::to_string)
            });
            facts.chain = conn
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .filter_map(|c| cert_facts(c.as_ref()))
                .collect();
            Some(tls)
        }
    };
    if let Ok(v) = verdict.lock() {
        if v.checked {
            facts.chain_verified = v.chain_error.is_none();
            facts.name_matches = v.name_matches;
            facts.chain_error = match v.chain_error {
                // A lone self-signed leaf is the usual case of an unknown issuer; name it plainly. When a trust
                // anchor merely shares its name (Debian's snakeoil "CN=localhost" in /etc/ssl/certs), webpki
                // tries that anchor's key and reports a bad signature instead: still a self-signed leaf.
                Some(CertProblem::UnknownIssuer | CertProblem::BadSignature)
                    if facts.chain.len() == 1 && facts.chain[0].self_signed =>
                {
                    Some(CertProblem::SelfSigned)
                }
                other => other,
            };
        }
    }
    Handshake {
        facts,
        stream,
        peer_first_bytes,
    }
}

fn client_config(
    trust: &Trust,
    verdict: Arc<Mutex<Verdict>>,
) -> Result<ClientConfig, rustls::Error> {
    let inner =
        WebPkiServerVerifier::builder_with_provider(trust.roots.clone(), trust.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
    let verifier = Arc::new(RecordingVerifier { inner, verdict });
    let config = ClientConfig::builder_with_provider(trust.provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

fn classify_handshake_error(e: &io::Error, first: &[u8]) -> HandshakeError {
    // The bytes decide first: rustls reports a plaintext greeting as a generic malformed record.
    if !first.is_empty() && looks_like_smtp(first) {
        return HandshakeError::PlaintextReply;
    }
    if let Some(rustls_err) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match rustls_err {
            rustls::Error::AlertReceived(_) => HandshakeError::Alert,
            rustls::Error::PeerIncompatible(_) => HandshakeError::NoCommonParameters,
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::PeerMisbehaved(_) => {
                if first.is_empty() || looks_like_tls(first) {
                    HandshakeError::Other
                } else {
                    HandshakeError::Garbage
                }
            }
            _ => HandshakeError::Other,
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => HandshakeError::Closed,
        _ if !first.is_empty() && !looks_like_tls(first) => HandshakeError::Garbage,
        _ => HandshakeError::Other,
    }
}

/// Subject, issuer, names and dates of one DER certificate.
pub fn cert_facts(der: &[u8]) -> Option<CertFacts> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push((*d).to_string()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        sans.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days_left = (validity.not_after.timestamp() - now).div_euclid(86_400);
    Some(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        not_after_unix: validity.not_after.timestamp(),
        days_left,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
    })
}

fn ip_from_bytes(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_greeting_is_recognised() {
        let e = io::Error::new(io::ErrorKind::InvalidData, "x");
        assert_eq!(
            classify_handshake_error(&e, b"220 mx.example.com ESMTP\r\n"),
            HandshakeError::PlaintextReply
        );
        assert_eq!(
            classify_handshake_error(&io::Error::from(io::ErrorKind::UnexpectedEof), b""),
            HandshakeError::Closed
        );
        assert_eq!(
            classify_handshake_error(&e, b"GARBAGE!!"),
            HandshakeError::Garbage
        );
    }

    #[test]
    fn garbage_der_gives_no_facts() {
        assert!(cert_facts(b"not a certificate").is_none());
    }
}
