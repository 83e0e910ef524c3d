//! Test harness: scripted SMTP servers on loopback, certificates made at test time, and a bounded runner
//! for the built `smtp-doctor` binary whose `--json` output is parsed into `JsonReport`.
//!
//! Every server listens on 127.0.0.1 with a port the kernel picks, serves at most `Limits::max_connections`
//! connections, bounds every read, write and handshake in time and every loop in count, and stops (thread
//! joined, sockets closed) when its `Server` handle is dropped.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

pub mod plugin;

use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use smtp_doctor::diagnosis::Layer;
use smtp_doctor::output::document::{JsonFinding, JsonPort, JsonReport};
use smtp_doctor::report::{Stage, StageName};

/// The environment variable the binary reads the password from (never argv).
pub const PASSWORD_ENV: &str = "SMTP_DOCTOR_PASSWORD";
/// Longest command line a scripted server reads; longer input is cut there.
pub const MAX_LINE: u64 = 8 * 1024;
/// Most commands one scripted session answers before it hangs up.
pub const MAX_COMMANDS: usize = 64;
/// Wall-clock limit for one run of the binary; past it the process is killed.
pub const RUN_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------------
// Certificates

/// A test CA, its PEM in a temporary file for `--ca-file`, and server TLS configs for each certificate case.
pub struct Pki {
    ca_file: tempfile::NamedTempFile,
    pub ca_pem: String,
    /// A leaf for `localhost` signed by the CA: verifies with `--ca-file`.
    pub trusted: Arc<ServerConfig>,
    /// A self-signed leaf for `localhost`.
    pub self_signed: Arc<ServerConfig>,
    /// A leaf for `mail.other.test` signed by the CA: trusted chain, wrong name.
    pub wrong_name: Arc<ServerConfig>,
    /// A leaf for `localhost` signed by the CA that expired on 2021-01-01.
    pub expired: Arc<ServerConfig>,
}

/// The name in the wrong-name certificate.
pub const OTHER_NAME: &str = "mail.other.test";

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = dn("smtp-doctor test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");
        let ca_pem = ca.pem();
        let mut ca_file = tempfile::Builder::new()
            .prefix("smtp-doctor-test-ca-")
            .suffix(".pem")
            .tempfile()
            .expect("create the CA file");
        std::io::Write::write_all(&mut ca_file, ca_pem.as_bytes()).expect("write the CA file");
        std::io::Write::flush(&mut ca_file).expect("flush the CA file");

        let trusted = leaf("localhost", Some(&ca), None);
        let self_signed = leaf("localhost", None, None);
        let wrong_name = leaf(OTHER_NAME, Some(&ca), None);
        let expired = leaf("localhost", Some(&ca), Some(((2020, 1, 1), (2021, 1, 1))));
        Pki {
            ca_file,
            ca_pem,
            trusted,
            self_signed,
            wrong_name,
            expired,
        }
    }

    /// Path of the CA PEM, for `--ca-file`.
    pub fn ca_path(&self) -> &Path {
        self.ca_file.path()
    }

    /// The CA path as a string argument.
    pub fn ca_arg(&self) -> String {
        self.ca_path().display().to_string()
    }

    /// A CA file holding the test CA and a decoy anchor named `CN=<name>` with its own (P-384) key, like
    /// Debian's snakeoil certificate in /etc/ssl/certs: a self-signed leaf for that name then names a
    /// trust anchor as its issuer without being signed by it.
    pub fn ca_file_with_decoy(&self, name: &str) -> tempfile::NamedTempFile {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("decoy key");
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("decoy params");
        params.distinguished_name = dn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let decoy = params.self_signed(&key).expect("self-sign the decoy");
        let mut f = tempfile::Builder::new()
            .prefix("smtp-doctor-test-ca-decoy-")
            .suffix(".pem")
            .tempfile()
            .expect("create the CA file");
        let text = format!("{}{}", self.ca_pem, decoy.pem());
        std::io::Write::write_all(&mut f, text.as_bytes()).expect("write the CA file");
        std::io::Write::flush(&mut f).expect("flush the CA file");
        f
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, common_name);
    d
}

/// A validity period as (year, month, day) of not_before and not_after.
type Validity = ((i32, u8, u8), (i32, u8, u8));

/// A server leaf for `name`, signed by `ca` (or self-signed), as a ready server config.
fn leaf(
    name: &str,
    ca: Option<&CertifiedIssuer<'static, KeyPair>>,
    validity: Option<Validity>,
) -> Arc<ServerConfig> {
    let key = KeyPair::generate().expect("generate a leaf key");
    let mut params = CertificateParams::new(vec![name.to_string()]).expect("leaf params");
    params.distinguished_name = dn(name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if let Some(((y0, m0, d0), (y1, m1, d1))) = validity {
        params.not_before = rcgen::date_time_ymd(y0, m0, d0);
        params.not_after = rcgen::date_time_ymd(y1, m1, d1);
    }
    let cert = match ca {
        Some(ca) => {
            params.use_authority_key_identifier_extension = true;
            let issuer: &Issuer<'static, KeyPair> = ca;
            params.signed_by(&key, issuer).expect("sign the leaf")
        }
        None => params.self_signed(&key).expect("self-sign the leaf"),
    };
    server_config(vec![cert.der().clone()], &key)
}

/// A rustls server config (ring provider) for a chain and its key.
pub fn server_config(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate and key");
    Arc::new(config)
}

// ---------------------------------------------------------------------------------------------------
// Scripts

/// What a scripted server does with each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Plaintext SMTP from the greeting on (STARTTLS when the script offers it).
    Smtp(Script),
    /// TLS from the first byte, then the script inside TLS.
    ImplicitTls {
        tls: Arc<ServerConfig>,
        script: Script,
    },
    /// Accepts and never sends a byte; reads and discards until the client leaves or the hold limit passes.
    Silent,
    /// Accepts and closes at once.
    Close,
    /// Anything else: the handler gets the socket and the session (limits, log); the harness still bounds
    /// it by `Limits::connection`.
    Custom(Handler),
}

/// A future a custom handler returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// A custom per-connection handler.
pub type Handler = Arc<dyn Fn(TcpStream, Session) -> BoxFuture + Send + Sync>;

/// A plaintext (or post-TLS) SMTP dialogue.
#[derive(Clone)]
pub struct Script {
    /// Sent as-is on connect (inside TLS for implicit TLS).
    pub greeting: Vec<u8>,
    /// Hang up right after the greeting (as a server does after 421 or 554).
    pub close_after_greeting: bool,
    /// The name in the EHLO reply.
    pub server_name: String,
    /// Keywords after the first EHLO line; STARTTLS and AUTH are added from `starttls` and `auth`.
    pub ehlo_keywords: Vec<String>,
    pub starttls: Option<StartTls>,
    pub auth: Option<AuthScript>,
    /// Waited before every reply, the greeting included.
    pub reply_delay: Duration,
    /// Fixed answers that replace the scripted one for a command (see `Script::answer`).
    pub answers: Vec<Answer>,
    /// End every line the server sends with a bare LF instead of CRLF.
    pub bare_lf: bool,
}

/// A fixed reply to one command verb, in plaintext or inside TLS, optionally hanging up after it.
#[derive(Clone)]
pub struct Answer {
    /// Upper-case command verb ("EHLO", "STARTTLS", "AUTH").
    pub verb: String,
    /// Whether it applies inside TLS (true) or in plaintext (false).
    pub in_tls: bool,
    /// Sent as-is.
    pub reply: Vec<u8>,
    /// Hang up right after the reply, as a server does after 421.
    pub close: bool,
}

/// STARTTLS as offered in the plaintext EHLO.
#[derive(Clone)]
pub struct StartTls {
    pub tls: Arc<ServerConfig>,
    /// The reply to STARTTLS.
    pub reply: Vec<u8>,
    /// Bytes sent in the same write right after the reply (STARTTLS response injection when not empty).
    pub inject: Vec<u8>,
}

/// AUTH as offered (inside TLS, or in plaintext when there is no STARTTLS).
#[derive(Clone)]
pub struct AuthScript {
    /// Mechanisms advertised and accepted, e.g. ["PLAIN", "LOGIN"].
    pub mechanisms: Vec<String>,
    pub result: AuthResult,
}

#[derive(Clone)]
pub enum AuthResult {
    /// 235 when the client sends exactly these credentials, 535 5.7.8 otherwise.
    Check { user: String, password: String },
    /// This reply (CRLF added when missing), whatever the client sent.
    Fixed(String),
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

impl Script {
    /// A plain ESMTP server: 220 greeting, EHLO with a few keywords, no STARTTLS, no AUTH.
    pub fn new() -> Script {
        Script {
            greeting: b"220 mx.scripted.test ESMTP scripted\r\n".to_vec(),
            close_after_greeting: false,
            server_name: "mx.scripted.test".into(),
            ehlo_keywords: vec![
                "PIPELINING".into(),
                "SIZE 10240000".into(),
                "8BITMIME".into(),
            ],
            starttls: None,
            auth: None,
            reply_delay: Duration::ZERO,
            answers: Vec::new(),
            bare_lf: false,
        }
    }

    /// Greeting text; CRLF is added when it does not end with one.
    pub fn greeting(mut self, text: &str) -> Script {
        self.greeting = crlf(text).into_bytes();
        self
    }

    pub fn close_after_greeting(mut self) -> Script {
        self.close_after_greeting = true;
        self
    }

    /// Offers STARTTLS with this config and the usual 220 reply.
    pub fn starttls(mut self, tls: Arc<ServerConfig>) -> Script {
        self.starttls = Some(StartTls {
            tls,
            reply: b"220 2.0.0 Ready to start TLS\r\n".to_vec(),
            inject: Vec::new(),
        });
        self
    }

    /// Bytes sent right after the STARTTLS 220 in the same write (call after `starttls`).
    pub fn inject_after_starttls(mut self, bytes: &[u8]) -> Script {
        if let Some(st) = &mut self.starttls {
            st.inject = bytes.to_vec();
        }
        self
    }

    /// Offers AUTH with these mechanisms.
    pub fn auth(mut self, mechanisms: &[&str], result: AuthResult) -> Script {
        self.auth = Some(AuthScript {
            mechanisms: mechanisms.iter().map(|m| m.to_ascii_uppercase()).collect(),
            result,
        });
        self
    }

    pub fn reply_delay(mut self, d: Duration) -> Script {
        self.reply_delay = d;
        self
    }

    /// Ends every line the server sends with a bare LF instead of CRLF.
    pub fn bare_lf(mut self) -> Script {
        self.bare_lf = true;
        self
    }

    /// Answers `verb` (in plaintext, or inside TLS when `in_tls`) with `reply` instead of the script's own
    /// reply (CRLF added when missing), and hangs up after it when `close`.
    pub fn answer(mut self, verb: &str, in_tls: bool, reply: &str, close: bool) -> Script {
        self.answers.push(Answer {
            verb: verb.to_ascii_uppercase(),
            in_tls,
            reply: crlf(reply).into_bytes(),
            close,
        });
        self
    }
}

fn crlf(text: &str) -> String {
    if text.ends_with("\r\n") {
        text.to_string()
    } else {
        format!("{}\r\n", text.trim_end_matches(['\r', '\n']))
    }
}

// ---------------------------------------------------------------------------------------------------
// Server

/// Bounds on what a scripted server does.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served; the listener closes after that many (later connects are refused).
    pub max_connections: usize,
    /// Each read of a command line, each write and each TLS handshake.
    pub io: Duration,
    /// One whole connection, whatever it does.
    pub connection: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 8,
            io: Duration::from_secs(10),
            connection: Duration::from_secs(30),
        }
    }
}

/// What a server saw, for assertions.
#[derive(Debug, Default, Clone)]
pub struct ServerLog {
    pub connections: usize,
    /// Command lines received, in order, over all connections (binary input made printable).
    pub lines: Vec<String>,
    /// TLS handshakes that completed.
    pub tls_sessions: usize,
    /// Per AUTH exchange: the mechanism and whether the credentials matched `AuthResult::Check`.
    pub auth: Vec<(String, bool)>,
}

/// Passed to every connection: its limits and the server's log.
#[derive(Clone)]
pub struct Session {
    pub limits: Limits,
    log: Arc<Mutex<ServerLog>>,
}

impl Session {
    pub fn log(&self) -> MutexGuard<'_, ServerLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads one line (up to `MAX_LINE` bytes) within `limits.io`; None on EOF, timeout or error.
    pub async fn read_line<R: AsyncRead + Unpin>(&self, io: &mut BufReader<R>) -> Option<String> {
        let mut buf = Vec::new();
        let read = async { (&mut *io).take(MAX_LINE).read_until(b'\n', &mut buf).await };
        match tokio::time::timeout(self.limits.io, read).await {
            Ok(Ok(n)) if n > 0 => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                self.log().lines.push(line.clone());
                Some(line)
            }
            _ => None,
        }
    }

    /// Writes and flushes within `limits.io`; false when the peer is gone or slow.
    pub async fn write<W: AsyncWrite + Unpin>(&self, io: &mut W, bytes: &[u8]) -> bool {
        let fut = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        matches!(tokio::time::timeout(self.limits.io, fut).await, Ok(Ok(())))
    }
}

/// A scripted server on 127.0.0.1; dropping it stops it and joins its thread.
pub struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<ServerLog>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(behaviour: Behaviour) -> Server {
        Server::start_with(behaviour, Limits::default())
    }

    pub fn start_with(behaviour: Behaviour, limits: Limits) -> Server {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("listener address");
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let (tx, rx) = oneshot::channel::<()>();
        let session = Session {
            limits,
            log: log.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("scripted-smtp-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async move {
                    tokio::select! {
                        _ = rx => {}
                        _ = accept_loop(std_listener, behaviour, session) => {}
                    }
                });
                // Cancels every connection task still running.
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn the server thread");
        Server {
            addr,
            log,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A copy of what the server has seen so far.
    pub fn log(&self) -> ServerLog {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(std_listener: std::net::TcpListener, behaviour: Behaviour, session: Session) {
    let listener = match TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(_) => return,
    };
    let behaviour = Arc::new(behaviour);
    let mut served = 0;
    // Accept errors count too, so the loop ends even on a listener that keeps failing.
    let mut tries = 0;
    while served < session.limits.max_connections && tries < session.limits.max_connections * 4 {
        tries += 1;
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        served += 1;
        session.log().connections += 1;
        let b = behaviour.clone();
        let s = session.clone();
        tokio::spawn(async move {
            let limit = s.limits.connection;
            let _ = tokio::time::timeout(limit, serve(tcp, &b, s)).await;
        });
    }
    drop(listener);
    // Keep serving the accepted connections until the handle is dropped.
    std::future::pending::<()>().await;
}

async fn serve(tcp: TcpStream, behaviour: &Behaviour, s: Session) {
    match behaviour {
        Behaviour::Close => drop(tcp),
        Behaviour::Silent => hold_silently(tcp, &s).await,
        Behaviour::Custom(h) => h(tcp, s).await,
        Behaviour::Smtp(script) => plaintext_session(tcp, script, &s).await,
        Behaviour::ImplicitTls { tls, script } => {
            let acceptor = TlsAcceptor::from(tls.clone());
            let Ok(Ok(stream)) = tokio::time::timeout(s.limits.io, acceptor.accept(tcp)).await
            else {
                return;
            };
            s.log().tls_sessions += 1;
            let mut io = BufReader::new(stream);
            if greet(&mut io, script, &s).await {
                dialog(&mut io, script, true, &s).await;
            }
            let _ = tokio::time::timeout(s.limits.io, io.get_mut().shutdown()).await;
        }
    }
}

async fn hold_silently(mut tcp: TcpStream, s: &Session) {
    let mut buf = [0u8; 4096];
    // Reads what the client sends (say, a ClientHello) and never answers; ends on EOF or after the limits.
    for _ in 0..1024 {
        match tokio::time::timeout(s.limits.io, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => continue,
            _ => return,
        }
    }
}

/// Sends the greeting; false when the session ends there.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    script: &Script,
    s: &Session,
) -> bool {
    delay(script).await;
    if !send(io.get_mut(), script, s, &script.greeting).await {
        return false;
    }
    !script.close_after_greeting
}

/// Serves `script` in plaintext on `tcp` (STARTTLS included): for custom handlers that misbehave first
/// and then behave.
pub async fn plaintext_session(tcp: TcpStream, script: &Script, s: &Session) {
    let mut io = BufReader::new(tcp);
    if !greet(&mut io, script, s).await {
        let _ = tokio::time::timeout(s.limits.io, io.get_mut().shutdown()).await;
        return;
    }
    if dialog(&mut io, script, false, s).await != Next::Starttls {
        let _ = tokio::time::timeout(s.limits.io, io.get_mut().shutdown()).await;
        return;
    }
    let Some(st) = &script.starttls else { return };
    // Client bytes pipelined after STARTTLS are dropped with the buffer, as a careful server does.
    let tcp = io.into_inner();
    let acceptor = TlsAcceptor::from(st.tls.clone());
    let Ok(Ok(stream)) = tokio::time::timeout(s.limits.io, acceptor.accept(tcp)).await else {
        return;
    };
    s.log().tls_sessions += 1;
    let mut io = BufReader::new(stream);
    dialog(&mut io, script, true, s).await;
    let _ = tokio::time::timeout(s.limits.io, io.get_mut().shutdown()).await;
}

/// Runs `script` in plaintext up to and including its reply to STARTTLS (and any injected bytes), then
/// hands the connection back: for custom handlers that behave until the TLS handshake and misbehave there.
/// None when the client went away or never sent STARTTLS.
pub async fn until_starttls(
    tcp: TcpStream,
    script: &Script,
    s: &Session,
) -> Option<BufReader<TcpStream>> {
    let mut io = BufReader::new(tcp);
    if !greet(&mut io, script, s).await {
        return None;
    }
    (dialog(&mut io, script, false, s).await == Next::Starttls).then_some(io)
}

/// Writes what the script sends, with its line ends as the script wants them.
async fn send<W: AsyncWrite + Unpin>(
    io: &mut W,
    script: &Script,
    s: &Session,
    bytes: &[u8],
) -> bool {
    if !script.bare_lf {
        return s.write(io, bytes).await;
    }
    let mut lf = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            lf.push(b);
        }
    }
    s.write(io, &lf).await
}

async fn delay(script: &Script) {
    if !script.reply_delay.is_zero() {
        tokio::time::sleep(script.reply_delay).await;
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    Starttls,
    Done,
}

/// Most lines of one message a scripted server takes after DATA.
const MAX_MESSAGE_LINES: usize = 500;

/// Answers commands until QUIT, STARTTLS (in plaintext), EOF, a timeout or `MAX_COMMANDS`.
async fn dialog<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    script: &Script,
    in_tls: bool,
    s: &Session,
) -> Next {
    for _ in 0..MAX_COMMANDS {
        let Some(line) = s.read_line(io).await else {
            return Next::Done;
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_string();
        if let Some(a) = script
            .answers
            .iter()
            .find(|a| a.verb == verb && a.in_tls == in_tls)
        {
            delay(script).await;
            if !send(io.get_mut(), script, s, &a.reply).await || a.close {
                return Next::Done;
            }
            continue;
        }
        let offers_auth = script.auth.is_some() && (in_tls || script.starttls.is_none());
        let reply: Vec<u8> = match verb.as_str() {
            "EHLO" => ehlo_reply(script, in_tls, offers_auth).into_bytes(),
            "HELO" => format!("250 {}\r\n", script.server_name).into_bytes(),
            "STARTTLS" if in_tls => b"503 5.5.1 TLS already active\r\n".to_vec(),
            "STARTTLS" => match &script.starttls {
                Some(st) => {
                    let mut bytes = st.reply.clone();
                    bytes.extend_from_slice(&st.inject);
                    delay(script).await;
                    // One write: the injected bytes travel with the 220.
                    if !send(io.get_mut(), script, s, &bytes).await {
                        return Next::Done;
                    }
                    return Next::Starttls;
                }
                None => b"502 5.5.1 STARTTLS not available\r\n".to_vec(),
            },
            "AUTH" if offers_auth => match authenticate(io, script, &line, s).await {
                Some(r) => r,
                None => return Next::Done,
            },
            "NOOP" | "RSET" => b"250 2.0.0 OK\r\n".to_vec(),
            "MAIL" => b"250 2.1.0 Ok\r\n".to_vec(),
            "RCPT" => b"250 2.1.5 Ok\r\n".to_vec(),
            "DATA" => {
                if !send(
                    io.get_mut(),
                    script,
                    s,
                    b"354 End data with <CR><LF>.<CR><LF>\r\n",
                )
                .await
                {
                    return Next::Done;
                }
                // The message's lines go to the log like commands; a bounded message, then the queue id.
                let mut ended = false;
                for _ in 0..MAX_MESSAGE_LINES {
                    match s.read_line(io).await {
                        Some(l) if l == "." => {
                            ended = true;
                            break;
                        }
                        Some(_) => {}
                        None => return Next::Done,
                    }
                }
                if !ended {
                    return Next::Done;
                }
                b"250 2.0.0 Ok: queued as SCRIPTED42\r\n".to_vec()
            }
            "QUIT" => {
                delay(script).await;
                let _ = send(io.get_mut(), script, s, b"221 2.0.0 Bye\r\n").await;
                return Next::Done;
            }
            _ => b"502 5.5.2 Command not recognized\r\n".to_vec(),
        };
        delay(script).await;
        if !send(io.get_mut(), script, s, &reply).await {
            return Next::Done;
        }
    }
    Next::Done
}

fn ehlo_reply(script: &Script, in_tls: bool, offers_auth: bool) -> String {
    let mut kws = script.ehlo_keywords.clone();
    if !in_tls && script.starttls.is_some() {
        kws.push("STARTTLS".into());
    }
    if offers_auth {
        if let Some(a) = &script.auth {
            kws.push(format!("AUTH {}", a.mechanisms.join(" ")));
        }
    }
    let mut out = String::new();
    let first = format!("{} greets you", script.server_name);
    let all: Vec<&str> = std::iter::once(first.as_str())
        .chain(kws.iter().map(String::as_str))
        .collect();
    for (i, l) in all.iter().enumerate() {
        let sep = if i + 1 == all.len() { ' ' } else { '-' };
        out.push_str(&format!("250{sep}{l}\r\n"));
    }
    out
}

/// Runs one AUTH exchange; the final reply to send, or None when the client went away.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    script: &Script,
    line: &str,
    s: &Session,
) -> Option<Vec<u8>> {
    let auth = script.auth.as_ref()?;
    let mut words = line.split_whitespace().skip(1);
    let mech = words.next().unwrap_or("").to_ascii_uppercase();
    let initial = words.next().map(str::to_string);
    if !auth.mechanisms.contains(&mech) {
        return Some(b"504 5.5.4 Unrecognized authentication type\r\n".to_vec());
    }
    let decode = |t: &str| -> Option<String> {
        B64.decode(t.trim())
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let (user, password) = match mech.as_str() {
        "PLAIN" => {
            let blob = match initial {
                Some(i) if i != "=" => i,
                _ => ask(io, script, s, "334 \r\n").await?,
            };
            if blob.trim() == "*" {
                return Some(b"501 5.7.0 Authentication cancelled\r\n".to_vec());
            }
            let Some(text) = decode(&blob) else {
                return Some(b"501 5.5.2 Cannot decode response\r\n".to_vec());
            };
            let mut parts = text.split('\0');
            let _authzid = parts.next();
            let user = parts.next().unwrap_or("").to_string();
            let password = parts.next().unwrap_or("").to_string();
            (user, password)
        }
        "LOGIN" => {
            let user_b64 = match initial {
                Some(i) => i,
                None => ask(io, script, s, "334 VXNlcm5hbWU6\r\n").await?,
            };
            if user_b64.trim() == "*" {
                return Some(b"501 5.7.0 Authentication cancelled\r\n".to_vec());
            }
            let pass_b64 = ask(io, script, s, "334 UGFzc3dvcmQ6\r\n").await?;
            if pass_b64.trim() == "*" {
                return Some(b"501 5.7.0 Authentication cancelled\r\n".to_vec());
            }
            match (decode(&user_b64), decode(&pass_b64)) {
                (Some(u), Some(p)) => (u, p),
                _ => return Some(b"501 5.5.2 Cannot decode response\r\n".to_vec()),
            }
        }
        _ => return Some(b"504 5.5.4 Unrecognized authentication type\r\n".to_vec()),
    };
    let (matched, reply) = match &auth.result {
        AuthResult::Check {
            user: u,
            password: p,
        } => {
            let ok = *u == user && *p == password;
            let r = if ok {
                "235 2.7.0 Authentication successful\r\n".to_string()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".to_string()
            };
            (ok, r)
        }
        AuthResult::Fixed(r) => (false, crlf(r)),
    };
    s.log().auth.push((mech, matched));
    Some(reply.into_bytes())
}

/// Sends a challenge and reads the client's answer.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    script: &Script,
    s: &Session,
    challenge: &str,
) -> Option<String> {
    delay(script).await;
    if !send(io.get_mut(), script, s, challenge.as_bytes()).await {
        return None;
    }
    s.read_line(io).await
}

/// A loopback port with nothing listening, kept reserved while the value lives: the socket is bound but
/// never listens, so connects are refused and no other test can take the port.
pub struct ClosedPort {
    socket: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
        socket.bind(&addr.into()).expect("bind");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .expect("bound port");
        ClosedPort { socket, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

// ---------------------------------------------------------------------------------------------------
// Running the binary

/// One finished (or killed) run of `smtp-doctor`.
#[derive(Debug)]
pub struct Run {
    /// The exit code; None when killed by a signal (or by the time limit).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// Peak resident set size of the smtp-doctor process in KiB: `max_rss_bound_kb` when that is above
    /// this test process's own peak at the spawn (then it can only be the child's), else the highest
    /// `VmHWM` sampled at each poll while the child ran (which misses growth in its last milliseconds).
    /// None when neither was measured.
    pub peak_rss_kb: Option<u64>,
    /// `ru_maxrss` from `wait4` in KiB: the child's peak, except that at exec the kernel folds the
    /// spawning process's high-water mark into it, so it is never below this test process's peak RSS at
    /// the time of the spawn. Below a bound, it proves the child stayed below it.
    pub max_rss_bound_kb: Option<u64>,
}

impl Run {
    /// Stdout parsed as the JSON report; panics with both streams when it is not one.
    pub fn report(&self) -> JsonReport {
        match serde_json::from_str(&self.stdout) {
            Ok(r) => r,
            Err(e) => panic!(
                "stdout is not a JsonReport ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            ),
        }
    }
}

/// Runs the built binary with `args`, the password (if any) only in `SMTP_DOCTOR_PASSWORD`, no other
/// SMTP_DOCTOR_* variable from the test's environment, and a wall-clock limit of `RUN_LIMIT`.
pub fn run_doctor(args: &[&str], password: Option<&str>) -> Run {
    run_doctor_within(args, password, RUN_LIMIT)
}

pub fn run_doctor_within(args: &[&str], password: Option<&str>, limit: Duration) -> Run {
    run_doctor_watched(args, password, limit, &mut |_| {})
}

/// `run_doctor_within`, calling `watch` with the child's pid at every poll while it runs (every few
/// milliseconds), to look at the live process from outside.
pub fn run_doctor_watched(
    args: &[&str],
    password: Option<&str>,
    limit: Duration,
    watch: &mut dyn FnMut(u32),
) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SMTP_DOCTOR_") {
            cmd.env_remove(&k);
        }
    }
    if let Some(p) = password {
        assert!(
            args.iter().all(|a| !a.contains(p)),
            "the password must travel in {PASSWORD_ENV}, never in argv"
        );
        cmd.env(PASSWORD_ENV, p);
    }
    let own_peak_at_spawn = own_peak_rss_kb();
    let start = Instant::now();
    // Reaped by `reap` (wait4, for its rusage), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("start smtp-doctor");
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut r).take(16 * 1024 * 1024).read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = read_all(Box::new(out));
    let err_t = read_all(Box::new(err));
    // A short step: each poll also samples the child's peak RSS, so the last sample comes close to its exit.
    let step = Duration::from_millis(5);
    let max_polls = (limit.as_millis() / step.as_millis()).max(1);
    let mut reaped = None;
    let mut timed_out = false;
    let mut sampled_kb = None;
    for _ in 0..max_polls {
        watch(child.id());
        if let Some(kb) = vm_hwm_kb(child.id()) {
            sampled_kb = sampled_kb.max(Some(kb));
        }
        match reap(&child, false) {
            Reaped::Done(w) => {
                reaped = Some(w);
                break;
            }
            Reaped::Running => std::thread::sleep(step),
            Reaped::Failed => break,
        }
        if start.elapsed() > limit {
            break;
        }
    }
    if reaped.is_none() {
        timed_out = true;
        let _ = child.kill();
        if let Reaped::Done(w) = reap(&child, true) {
            reaped = Some(w);
        }
    }
    let elapsed = start.elapsed();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Run {
        code: reaped.and_then(|w| w.code),
        stdout,
        stderr,
        elapsed,
        timed_out,
        peak_rss_kb: match (reaped.map(|w| w.max_rss_kb), own_peak_at_spawn) {
            (Some(bound), Some(own)) if bound > own => Some(bound),
            _ => sampled_kb,
        },
        max_rss_bound_kb: reaped.map(|w| w.max_rss_kb),
    }
}

/// What `wait4` tells of an ended child.
#[derive(Debug, Clone, Copy)]
struct Waited {
    code: Option<i32>,
    max_rss_kb: u64,
}

enum Reaped {
    Running,
    Done(Waited),
    Failed,
}

/// Reaps `child` with `wait4`, which also returns its `ru_maxrss` (KiB on Linux). Once this returns
/// `Done` the child is gone: `Child::wait`/`try_wait` must not be used on it any more.
fn reap(child: &std::process::Child, block: bool) -> Reaped {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return Reaped::Failed;
    };
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if block { 0 } else { libc::WNOHANG };
    // Retried on EINTR, a bounded number of times.
    for _ in 0..100 {
        // SAFETY: `pid` is this process's own child, not yet reaped; `status` and `usage` are writable.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            let max_rss_kb = u64::try_from(usage.ru_maxrss).unwrap_or(0);
            return Reaped::Done(Waited { code, max_rss_kb });
        }
        if r == 0 {
            return Reaped::Running;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Reaped::Failed;
        }
    }
    Reaped::Failed
}

/// This test process's own peak resident set in KiB (`VmHWM` of /proc/self/status).
pub fn own_peak_rss_kb() -> Option<u64> {
    vm_hwm_kb_of("self")
}

/// The peak resident set of a running process in KiB: `VmHWM` in /proc/PID/status, the high-water mark
/// of its current address space, which starts afresh at exec. None once it has exited.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    vm_hwm_kb_of(&pid.to_string())
}

fn vm_hwm_kb_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first (usually only) port of a report.
pub fn port(r: &JsonReport) -> &JsonPort {
    &r.ports[0]
}

/// A stage of the port's shown attempt; panics with the stages when it is missing.
pub fn stage(p: &JsonPort, name: StageName) -> &Stage {
    p.stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name:?} stage in {:#?}", p.stages))
}

/// The error finding that carries the verdict.
pub fn main_finding(r: &JsonReport) -> &JsonFinding {
    r.findings
        .iter()
        .find(|f| Some(f.code) == r.verdict.code)
        .unwrap_or_else(|| panic!("no finding for the verdict in {:#?}", r.findings))
}

/// The `--timeout` every scripted-server run uses, in seconds.
pub const TIMEOUT: &str = "2";

/// `check localhost -4 -p PORT... --timeout 2 --ca-file CA --json` plus `extra`; the run must end in time.
pub fn check_ports(
    ports: &[u16],
    pki: &Pki,
    extra: &[&str],
    password: Option<&str>,
) -> (Run, JsonReport) {
    let ca = pki.ca_arg();
    let port_list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec![
        "check",
        "localhost",
        "-4",
        "-p",
        &port_list,
        "--timeout",
        TIMEOUT,
        "--ca-file",
        &ca,
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = run_doctor(&args, password);
    assert!(!run.timed_out, "smtp-doctor ran past the limit: {run:?}");
    let report = run.report();
    (run, report)
}

/// What a failed assertion about a run shows: verdict, findings, stages and stderr.
pub fn outcome_context(run: &Run, r: &JsonReport) -> String {
    format!(
        "verdict: {:?}\nfindings: {:#?}\nstages: {:#?}\nstderr: {}",
        r.verdict,
        r.findings,
        r.ports.iter().map(|p| &p.stages).collect::<Vec<_>>(),
        run.stderr
    )
}

/// Verdict layer, the port's layer, ok and the exit code agree with what the scenario expects.
pub fn assert_outcome(run: &Run, r: &JsonReport, layer: Layer, ok: bool) {
    let ctx = || outcome_context(run, r);
    assert_eq!(r.verdict.layer, layer, "verdict layer\n{}", ctx());
    assert_eq!(r.ports.len(), 1, "one port probed\n{}", ctx());
    assert_eq!(r.ports[0].layer, layer, "port layer\n{}", ctx());
    assert_eq!(r.ok, ok, "report ok\n{}", ctx());
    assert_eq!(r.ports[0].ok, ok, "port ok\n{}", ctx());
    assert_eq!(
        run.code,
        Some(if ok { 0 } else { 1 }),
        "exit code\n{}",
        ctx()
    );
}

/// The verdict's code: what machines key on, and what the tests assert instead of English.
pub fn assert_code(r: &JsonReport, code: smtp_doctor::diagnosis::Code) {
    let all: Vec<&str> = r.findings.iter().map(|f| f.code.name()).collect();
    assert_eq!(
        r.verdict.code,
        Some(code),
        "verdict {:?}; findings {all:?}",
        r.verdict.summary
    );
    assert_eq!(main_finding(r).code, code);
}
