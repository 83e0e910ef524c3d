//! The diagnosis: a pure function from a report's typed facts to findings, each a stable code with the facts behind it.

mod attempt;
mod auth;
pub mod code;
mod connect;
mod dns;
mod envelope;
mod interception;
mod interrupted;
pub mod mta;
mod owner;
mod session;
pub mod settings;
mod tls;
mod weigh;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use code::{Code, Confidence, Layer, Severity};
pub use envelope::{EnvelopeEvidence, Refusal};
pub use settings::SettingsEvidence;
pub use tls::EXPIRY_WARNING_DAYS;

use crate::report::{
    AuthFacts, CertFacts, CertProblem, ConnectFacts, ControlLadder, DnsOutcome, FirewallRule,
    HandshakeError, HopFacts, Listener, NatRedirect, OthersPath, ReplyFacts, Report, ResolverCheck,
    Signal, StageName, UserFacts,
};

/// One decided cause: its code, how sure, where, and the facts that support it. Words come later (explain).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub confidence: Confidence,
    /// The host name probed (the target or an MX host); the target for host-wide findings.
    pub host: String,
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub facts: Facts,
    /// Other addresses of the same port that fail too (when every address fails).
    pub others: Vec<Finding>,
    /// Other addresses of the same host serve this port: a client that falls back still works.
    pub other_addresses_work: bool,
}

impl Finding {
    pub fn layer(&self) -> Layer {
        self.code.layer()
    }
}

/// The typed facts behind a finding, by family of causes.
#[derive(Debug, Clone, PartialEq)]
pub enum Facts {
    None,
    Dns(DnsEvidence),
    Connect(Box<ConnectEvidence>),
    Intercept(Vec<Sign>),
    /// A reply that refused or ended a stage (greeting, EHLO, STARTTLS, AUTH).
    Reply {
        stage: StageName,
        reply: ReplyFacts,
    },
    /// An EHLO refused (with its reply) or never answered.
    Ehlo {
        reply: Option<ReplyFacts>,
        after_tls: bool,
    },
    /// What EHLO offered, when STARTTLS was missing from it.
    Keywords(Vec<String>),
    /// The greeting that shows plaintext SMTP where implicit TLS was expected.
    Greeted(Option<ReplyFacts>),
    Handshake {
        error: Option<HandshakeError>,
        /// Bytes sent after the STARTTLS 220, before the handshake.
        injected: usize,
        /// The handshake followed STARTTLS (not implicit TLS).
        after_starttls: bool,
    },
    Cert(Box<CertEvidence>),
    Auth(Box<AuthFacts>),
    Family(Box<FamilyEvidence>),
    /// Owner rules this user passes that stop or divert other users.
    Owner(Box<OwnerEvidence>),
    /// A refused or broken envelope (MAIL FROM, RCPT TO, DATA).
    Envelope(Box<EnvelopeEvidence>),
    /// This host's MTA: its set-up, or a group of its queue's deferrals.
    Mta(Box<mta::MtaEvidence>),
    /// A contradiction or typo in the app's own settings file (--env-file).
    Settings(Box<SettingsEvidence>),
    /// A signal stopped the run: what was still running then.
    Interrupted(Box<InterruptedEvidence>),
}

/// What a signal cut short: the stages still running, each with where it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedEvidence {
    pub signal: Signal,
    pub running: Vec<Running>,
    /// `mta`: the signal came while the MTA itself was being read.
    pub reading_mta: bool,
}

/// One stage still running when the run was stopped (`dns` for the target's lookups).
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    pub host: String,
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub stage: StageName,
    pub elapsed_ms: f64,
}

/// The path other users take where this one passes: who is spared, what stops or diverts the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerEvidence {
    pub others: OthersPath,
    /// The user the probes ran as.
    pub user: UserFacts,
}

/// What DNS said, for the words of a DNS finding.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsEvidence {
    pub resolver: String,
    pub a: (DnsOutcome, Vec<String>),
    pub aaaa: (DnsOutcome, Vec<String>),
    /// The lookup outcome the finding is about.
    pub outcome: DnsOutcome,
    pub mx: Vec<String>,
    /// The name server check that decided a resolver code.
    pub check: Option<ResolverCheck>,
}

/// Why a connect failed: the socket's facts, the TTL-limited SYNs, and this host's rules that match.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectEvidence {
    pub connect: ConnectFacts,
    pub hops: Vec<HopFacts>,
    /// The same TTL ladder to control ports of the address, when the ladders ran.
    pub control: Vec<ControlLadder>,
    /// Another port of the same address connects, so the server is up.
    pub other_port_works: bool,
    /// This host's rules that stop or divert this port and family (read as root).
    pub rules: Vec<FirewallRule>,
    /// The router that sent an ICMP error, when one did.
    pub router: Option<IpAddr>,
    pub path: Option<PathNote>,
}

/// What the TTL-limited SYNs add to a connect failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathNote {
    /// A SYN limited to one hop was refused too: the refusal comes from this host.
    RefusedWithinOneHop,
    /// A SYN limited to one hop reached the first router: the refusal comes from further away.
    LeftThisHost,
    /// The SYN passed this many routers, then died.
    DroppedAfter(u8),
    /// The ladders: the SYNs passed `hop` routers (the last one `router`) and died after it, while the
    /// control went on (`next` answered it one hop further) and reached the server.
    DroppedAt {
        hop: u8,
        router: Option<IpAddr>,
        next: Option<IpAddr>,
    },
    /// The ladders: no SYN to the port got any answer, not even at TTL 1, while the control reached the
    /// server; `router_answers`: the first router answered the control's TTL-1 SYN at the same moment.
    NeverLeft { router_answers: bool },
    /// A TTL-limited SYN to the port reached the server and was answered (at this TTL).
    ReachedServer(u8),
    /// A SYN-ACK or RST came back at this TTL, too small to reach the server.
    AnsweredEarly {
        ttl: u8,
        by: Option<IpAddr>,
        here: bool,
    },
    /// The ladders: no router answered the SYNs to the port, this host's rules (read) let them out, and the
    /// control's SYN with TTL `hop` was answered (by `next`) where none of the port's were: they die before hop `hop`,
    /// at a router that does not answer TTL expiry.
    DiesBefore { hop: u8, next: Option<IpAddr> },
}

/// A sign that this host answers in the server's place.
#[derive(Debug, Clone, PartialEq)]
pub enum Sign {
    GreetingNamesThisHost(String),
    EhloNamesThisHost(String),
    CertNamesThisHost(Vec<String>),
    NatAnsweredBy(NatRedirect),
    Rule(FirewallRule),
    Listeners(Vec<Listener>),
    LocalFastConnect(f64),
    /// The other end of this very connection is a socket of this host (its socket table, read without root).
    AnsweredHere,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertEvidence {
    pub leaf: Option<CertFacts>,
    pub chain_len: usize,
    pub problem: Option<CertProblem>,
    pub name_matches: bool,
    /// --danger-accept-invalid-certs was given.
    pub overridden: bool,
}

/// One address family failing where the other works.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyEvidence {
    pub v6: bool,
    pub ports: Vec<u16>,
    /// The telling failure of each port, in the order of `ports`.
    pub failures: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The code of the finding that decides it; None when every path works.
    pub code: Option<Code>,
}

impl Verdict {
    /// The layer of the deciding code (`none` when every path works).
    pub fn layer(&self) -> Layer {
        self.code.map_or(Layer::None, Code::layer)
    }
}

/// The verdict on one port of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortVerdict {
    pub host: String,
    pub port: u16,
    pub ok: bool,
    pub layer: Layer,
    /// Index into the port's attempts of the one whose stages tell the story.
    pub shown_attempt: Option<usize>,
    /// Per attempt (same order as the port's attempts): the layer its own failure points at, `none` if it worked.
    pub attempt_layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub ok: bool,
    pub verdict: Verdict,
    pub ports: Vec<PortVerdict>,
    /// Most important first: errors, then warnings, then notes; lower layers first.
    pub findings: Vec<Finding>,
}

/// Diagnoses a report. Pure: same report, same diagnosis.
pub fn diagnose(report: &Report) -> Diagnosis {
    weigh::diagnose(report)
}

#[cfg(test)]
pub(crate) mod tests;
