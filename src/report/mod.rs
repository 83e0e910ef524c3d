//! The report model: every fact the probes gathered, serialisable, with no I/O.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

mod host;
pub mod mta;
mod path;
pub mod settings;
pub use host::*;
pub use path::*;

/// How a port expects TLS to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortMode {
    /// Plaintext greeting, then STARTTLS when offered (25, 587).
    Starttls,
    /// TLS from the first byte (465, "SMTPS").
    Implicit,
    /// Unknown port: the probe finds out which of the two it speaks.
    Detect,
}

impl PortMode {
    /// The word people and JSON both use.
    pub fn name(self) -> &'static str {
        match self {
            PortMode::Starttls => "starttls",
            PortMode::Implicit => "implicit",
            PortMode::Detect => "detect",
        }
    }
}

/// Outcome of one stage of a probe chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Ok,
    Warning,
    Failed,
    Skipped,
    /// Still running when a signal (Ctrl-C, SIGTERM) stopped the run: its outcome is unknown.
    Interrupted,
}

impl StageStatus {
    /// The word people and JSON both use.
    pub fn name(self) -> &'static str {
        match self {
            StageStatus::Ok => "ok",
            StageStatus::Warning => "warning",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::Interrupted => "interrupted",
        }
    }
}

/// The signal that stopped a run before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// Ctrl-C.
    Sigint,
    /// `kill`, `systemctl stop`, a container's shutdown.
    Sigterm,
}

impl Signal {
    /// The signal's name as people know it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Sigint => "SIGINT",
            Signal::Sigterm => "SIGTERM",
        }
    }
}

/// The stages of one chain, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    Dns,
    Connect,
    Greeting,
    Ehlo,
    Tls,
    EhloTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    Quit,
}

impl StageName {
    pub fn label(self) -> &'static str {
        match self {
            StageName::Dns => "dns",
            StageName::Connect => "connect",
            StageName::Greeting => "greeting",
            StageName::Ehlo => "ehlo",
            StageName::Tls => "tls",
            StageName::EhloTls => "ehlo-tls",
            StageName::Auth => "auth",
            StageName::MailFrom => "mail-from",
            StageName::RcptTo => "rcpt-to",
            StageName::Data => "data",
            StageName::Quit => "quit",
        }
    }
}

/// One timed stage, as shown to people and in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: StageName,
    pub status: StageStatus,
    pub elapsed_ms: f64,
    pub detail: String,
}

/// Everything a single run found out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub target: String,
    /// The command line that made this report, shell-quoted.
    #[serde(default)]
    pub invocation: String,
    pub host: HostFacts,
    pub dns: DnsReport,
    pub ports: Vec<PortReport>,
    /// Whether certificate verification was switched off by the user.
    pub tls_verification: bool,
    pub elapsed_ms: f64,
    /// --env-file: the app's settings that decided what was probed.
    #[serde(default)]
    pub settings: Option<settings::SettingsFacts>,
    /// The signal that stopped the run before every probe had finished; the stages it cut are `interrupted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Signal>,
}

/// Name resolution of the target and of its mail domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsReport {
    /// False when the target is an IP literal and nothing was looked up.
    pub queried: bool,
    /// The resolver that was asked ("system" or an address).
    pub resolver: String,
    pub a: DnsLookup,
    pub aaaa: DnsLookup,
    /// The domain whose MX records were looked up (the target, else its parent).
    pub mx_domain: Option<String>,
    /// MX records of that domain, by preference; shown, probed only with --mx.
    pub mx: Vec<MxRecord>,
    pub mx_lookup: DnsLookup,
    /// When lookups time out: each name server asked directly, to tell a dead resolver from a blocked one.
    pub resolver_checks: Vec<ResolverCheck>,
}

impl DnsReport {
    /// Nothing looked up: the target is an IP literal.
    pub fn not_queried() -> Self {
        DnsReport {
            queried: false,
            resolver: String::new(),
            a: DnsLookup::not_asked(),
            aaaa: DnsLookup::not_asked(),
            mx_domain: None,
            mx: Vec::new(),
            mx_lookup: DnsLookup::not_asked(),
            resolver_checks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolverCheck {
    pub server: String,
    pub outcome: ResolverReach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolverReach {
    /// It answered a plain question: the resolver works, the name's own servers do not.
    Answers,
    /// Nothing answered within the timeout (down, or dropped on the way).
    Silent,
    /// ICMP port unreachable: nothing serves DNS at that address, or something rejects it.
    PortUnreachable,
    /// No route to it.
    Unreachable,
    /// This host refused to send (EPERM/EACCES): its own firewall blocks DNS.
    BlockedHere,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MxRecord {
    pub preference: u16,
    pub host: String,
}

/// One DNS question and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsLookup {
    pub outcome: DnsOutcome,
    pub records: Vec<String>,
    pub elapsed_ms: f64,
}

impl DnsLookup {
    pub fn not_asked() -> Self {
        DnsLookup {
            outcome: DnsOutcome::NotAsked,
            records: Vec::new(),
            elapsed_ms: 0.0,
        }
    }
}

/// What a DNS question returned, told apart by response code and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsOutcome {
    NotAsked,
    Answered,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no record of this type (NOERROR, empty).
    NoRecords,
    ServFail,
    Refused,
    /// The resolver never answered.
    Timeout,
    /// No name server is configured on this host.
    NoResolver,
    /// Any other failure (malformed answer, I/O error).
    Error,
    /// Still waiting for an answer when a signal stopped the run: nothing is known.
    Interrupted,
}

/// One port of one host, with an attempt per resolved address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortReport {
    pub host: String,
    pub port: u16,
    pub mode: PortMode,
    pub attempts: Vec<Attempt>,
}

/// The whole probe chain against one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub address: IpAddr,
    pub stages: Vec<Stage>,
    /// What the port was seen to speak: a plaintext greeting (starttls) or TLS first (implicit).
    pub speaks: Option<PortMode>,
    pub connect: ConnectFacts,
    /// TTL-limited probes that locate where a silent drop happens.
    pub path: Option<PathFacts>,
    pub greeting: Option<ReplyFacts>,
    pub ehlo: Option<EhloFacts>,
    pub tls: Option<TlsFacts>,
    pub ehlo_tls: Option<EhloFacts>,
    pub auth: Option<AuthFacts>,
    /// The envelope test after AUTH (--from, --to, --send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<EnvelopeFacts>,
    /// How this host's packet filter treated the connection (root runs, from the rules read).
    pub host_path: Option<HostPath>,
    /// The conversation, with every AUTH payload redacted.
    pub transcript: Vec<TranscriptLine>,
}

impl Attempt {
    pub fn new(address: IpAddr) -> Self {
        Attempt {
            address,
            stages: Vec::new(),
            speaks: None,
            connect: ConnectFacts {
                outcome: ConnectOutcome::NotTried,
                errno: None,
                elapsed_ms: 0.0,
                local_port: None,
                icmp: None,
                cut_short: false,
                answered_here: false,
            },
            path: None,
            greeting: None,
            ehlo: None,
            tls: None,
            ehlo_tls: None,
            auth: None,
            envelope: None,
            host_path: None,
            transcript: Vec::new(),
        }
    }

    pub fn stage(&self, name: StageName) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptLine {
    /// "C" for what we sent, "S" for what the server sent, "*" for events.
    pub dir: String,
    pub text: String,
}

/// What the TCP connect did, from the errno and the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectFacts {
    pub outcome: ConnectOutcome,
    pub errno: Option<i32>,
    pub elapsed_ms: f64,
    /// Our side's port of a connected socket: it names this connection in the kernel's NAT table.
    pub local_port: Option<u16>,
    /// The ICMP error queued on the socket (IP_RECVERR), if any.
    pub icmp: Option<IcmpFacts>,
    /// The wait for a SYN-ACK was cut short before --timeout because the TTL-limited SYNs decided where the
    /// SYN dies (`path`); `elapsed_ms` is how long it was waited for.
    #[serde(default)]
    pub cut_short: bool,
    /// The other end of this connection is a socket of this host although the address is not one of its own:
    /// something here (a NAT redirect to a local server or proxy) answered in the server's place.
    #[serde(default)]
    pub answered_here: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    NotTried,
    Connected,
    /// ECONNREFUSED: a RST (or an ICMP port-unreachable) came back.
    Refused,
    /// No answer at all within the timeout.
    TimedOut,
    /// EHOSTUNREACH.
    HostUnreachable,
    /// ENETUNREACH: no route from this host.
    NetworkUnreachable,
    /// EACCES / EPERM: refused by policy (often this host's firewall).
    PermissionDenied,
    /// EADDRNOTAVAIL / EAFNOSUPPORT: this host has no address of this family.
    NoLocalAddress,
    Other,
}

/// An ICMP error read from the socket's error queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpFacts {
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Who sent the error: this host, a router, or the server.
    pub offender: Option<IpAddr>,
    /// Whether the offender is one of this host's own addresses.
    pub offender_is_local: bool,
}

/// A server reply, or what came instead of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyFacts {
    pub outcome: ReplyOutcome,
    pub code: Option<u16>,
    /// Enhanced status code such as "5.7.8", when the server sent one.
    pub enhanced: Option<String>,
    pub lines: Vec<String>,
    pub elapsed_ms: f64,
}

impl ReplyFacts {
    /// A 2xx reply: the command was accepted.
    pub fn is_positive(&self) -> bool {
        self.outcome == ReplyOutcome::Reply && self.code.is_some_and(|c| (200..300).contains(&c))
    }

    /// The reply in one short line: the code and first line, or what came instead.
    pub fn describe(&self) -> String {
        let r = self;
        match r.outcome {
            ReplyOutcome::Reply => {
                let code = r.code.map(|c| c.to_string()).unwrap_or_default();
                let text = r.lines.first().map(String::as_str).unwrap_or("");
                let text: String = text.chars().take(160).collect();
                format!("{code} {text}").trim().to_string()
            }
            ReplyOutcome::Silent => format!("nothing received in {:.1}s", r.elapsed_ms / 1000.0),
            ReplyOutcome::Incomplete => format!(
                "reply incomplete after {:.1}s (began \"{}\")",
                r.elapsed_ms / 1000.0,
                r.lines
                    .first()
                    .map(|b| b.chars().take(80).collect::<String>())
                    .unwrap_or_default()
            ),
            ReplyOutcome::Closed => "the server closed the connection".into(),
            ReplyOutcome::NotSmtp => format!(
                "not SMTP: {}",
                r.lines
                    .first()
                    .map(|l| l.chars().take(80).collect::<String>())
                    .unwrap_or_default()
            ),
            ReplyOutcome::TlsRecord => "the server sent TLS where SMTP text was expected".into(),
            ReplyOutcome::TooLarge => format!(
                "reply too large ({})",
                r.lines.first().map(String::as_str).unwrap_or("limit")
            ),
            ReplyOutcome::Error => "read error".into(),
        }
    }

    pub fn text(&self) -> String {
        self.lines.join(" / ")
    }
    /// The first word after the code of the first line: the server's name in a greeting or EHLO.
    pub fn announced_name(&self) -> Option<&str> {
        self.lines
            .first()
            .and_then(|l| l.split_whitespace().next())
            .filter(|w| !w.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyOutcome {
    /// A well-formed reply arrived (any code).
    Reply,
    /// Nothing arrived within the timeout.
    Silent,
    /// A reply began but did not end within the timeout (drip-fed, tarpit); `lines` holds how it began.
    Incomplete,
    /// The server closed the connection.
    Closed,
    /// Bytes arrived that are not an SMTP reply.
    NotSmtp,
    /// The bytes look like a TLS record: the port speaks TLS first.
    TlsRecord,
    /// The reply broke a size limit (line, lines or bytes).
    TooLarge,
    /// Reading failed (connection reset and similar).
    Error,
}

/// The EHLO (or HELO fallback) exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EhloFacts {
    pub reply: ReplyFacts,
    /// True when EHLO was refused and HELO was used instead.
    pub helo_fallback: bool,
    /// Keywords as sent, one per line after the first ("STARTTLS", "AUTH PLAIN LOGIN", "SIZE 35882577").
    pub keywords: Vec<String>,
}

impl EhloFacts {
    /// AUTH mechanisms offered, upper-cased (also the old "AUTH=" form), sorted and unique.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in &self.keywords {
            let mut words = k.split_whitespace();
            let Some(first) = words.next() else { continue };
            let upper = first.to_ascii_uppercase();
            // "AUTH PLAIN LOGIN" or the pre-standard "AUTH=PLAIN LOGIN"; a bare "AUTH=" names nothing.
            let inline = if upper == "AUTH" {
                None
            } else if let Some(m) = upper.strip_prefix("AUTH=") {
                Some(m.to_string())
            } else {
                continue;
            };
            out.extend(
                inline
                    .into_iter()
                    .chain(words.map(str::to_ascii_uppercase))
                    .filter(|m| !m.is_empty()),
            );
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The TLS handshake and the certificate it showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsFacts {
    pub outcome: TlsOutcome,
    /// The reply to STARTTLS (None on implicit TLS).
    pub starttls_reply: Option<ReplyFacts>,
    /// Bytes the server sent after its STARTTLS 220, before the handshake (response injection).
    pub injected_bytes: usize,
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub chain: Vec<CertFacts>,
    /// The webpki verdict on the chain (trust, dates, usage), ignoring the name.
    pub chain_verified: bool,
    pub chain_error: Option<CertProblem>,
    /// Whether the leaf certificate names the target.
    pub name_matches: bool,
    /// What the handshake failure was, when it failed.
    pub handshake_error: Option<HandshakeError>,
    pub elapsed_ms: f64,
}

impl TlsFacts {
    /// Facts with only the outcome known; the probe fills in the rest as it learns it.
    pub fn new(outcome: TlsOutcome) -> Self {
        TlsFacts {
            outcome,
            starttls_reply: None,
            injected_bytes: 0,
            version: None,
            cipher: None,
            chain: Vec::new(),
            chain_verified: false,
            chain_error: None,
            name_matches: false,
            handshake_error: None,
            elapsed_ms: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsOutcome {
    /// Handshake done (the certificate may still be bad; see chain_verified, name_matches).
    Established,
    /// STARTTLS was not offered in EHLO.
    NotOffered,
    /// STARTTLS was offered but the server refused the command.
    Refused,
    /// The handshake failed.
    HandshakeFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertProblem {
    UnknownIssuer,
    SelfSigned,
    Expired,
    NotYetValid,
    NameMismatch,
    Revoked,
    BadSignature,
    BadEncoding,
    WrongUsage,
    Other,
}

impl CertProblem {
    /// A few words for the problem, as in stage details.
    pub fn words(self) -> &'static str {
        use CertProblem::*;
        match self {
            UnknownIssuer => "issuer unknown",
            SelfSigned => "self-signed",
            Expired => "expired",
            NotYetValid => "not valid yet",
            NameMismatch => "wrong name",
            Revoked => "revoked",
            BadSignature => "bad signature",
            BadEncoding => "malformed",
            WrongUsage => "not for server use",
            Other => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeError {
    /// The peer answered in plaintext SMTP ("220 ...") where TLS was expected.
    PlaintextReply,
    /// The peer sent a TLS alert.
    Alert,
    /// The peer sent bytes that are neither TLS nor SMTP.
    Garbage,
    /// No version or cipher in common.
    NoCommonParameters,
    /// The peer closed the connection during the handshake.
    Closed,
    Timeout,
    Other,
}

/// One certificate of the chain the server sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// not_after as seconds since 1970 (UTC), for machines (Prometheus' probe_ssl_earliest_cert_expiry).
    #[serde(default)]
    pub not_after_unix: i64,
    pub days_left: i64,
    pub self_signed: bool,
}

/// What the server said to the envelope: MAIL FROM, each RCPT TO, and with --send the message itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeFacts {
    pub from: String,
    pub outcome: EnvelopeOutcome,
    /// Whether this session had logged in (AUTH accepted) before MAIL FROM.
    pub authenticated: bool,
    /// The SMTP user of that login.
    pub login: Option<String>,
    pub mail_from: Option<ReplyFacts>,
    pub recipients: Vec<RecipientFacts>,
    /// No --to: the sender itself was the recipient, because many servers judge the sender only at RCPT TO.
    #[serde(default)]
    pub recipient_implied: bool,
    pub message: Option<MessageFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientFacts {
    pub address: String,
    pub reply: ReplyFacts,
}

/// The test message of --send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub message_id: String,
    /// The reply to DATA (354 expected).
    pub data_reply: ReplyFacts,
    /// The reply after the message's final dot.
    pub reply: Option<ReplyFacts>,
    /// The server's id for the queued message, as its 250 reply gives it ("queued as …", "id=…").
    pub queue_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeOutcome {
    /// MAIL FROM and every RCPT TO accepted, then reset: nothing was sent.
    Accepted,
    /// The test message was accepted for delivery (--send).
    Sent,
    SenderRefused,
    RecipientRefused,
    /// MAIL FROM and RCPT TO accepted, the message itself refused.
    MessageRefused,
    /// The server stopped answering or closed the connection during the envelope.
    Broken,
}

/// The AUTH exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthFacts {
    pub outcome: AuthOutcome,
    pub mechanism: Option<String>,
    pub offered: Vec<String>,
    pub reply: Option<ReplyFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthOutcome {
    Accepted,
    Rejected,
    /// The server offers no AUTH, or none of PLAIN/LOGIN.
    NotOffered,
    /// Not attempted because the channel is not encrypted.
    RefusedCleartext,
    /// Not attempted because the certificate failed verification.
    RefusedUnverified,
    /// Not attempted because an earlier stage failed.
    NotReached,
}
