//! Facts about this host's own MTA: which one, how it sends (a relay or straight to MX hosts), its SASL password map (never the secret) and its queue.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Listener, Report, Signal};

/// Everything `smtp-doctor mta` found: the MTA's facts and, when something could be probed, the probe's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MtaReport {
    pub mta: MtaFacts,
    /// The relay (or the MX hosts of --to) probed as `check` probes, with the MTA's own settings.
    pub probe: Option<Report>,
    /// The command line that made this report, shell-quoted.
    #[serde(default)]
    pub invocation: String,
    pub elapsed_ms: f64,
    /// Ctrl-C or SIGTERM stopped the run before it finished (what it cut of the probe, the probe's report says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<MtaInterruption>,
}

/// How a signal stopped an `mta` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtaInterruption {
    pub signal: Signal,
    /// It came while the MTA itself was being read: none of its facts are known (and nothing was probed).
    pub reading_mta: bool,
}

/// Which MTA sends this host's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MtaKind {
    Postfix,
    Exim,
    /// Neither Postfix nor Exim was found.
    None,
}

impl MtaKind {
    pub fn title(self) -> &'static str {
        match self {
            MtaKind::Postfix => "Postfix",
            MtaKind::Exim => "Exim",
            MtaKind::None => "no MTA",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MtaFacts {
    pub kind: MtaKind,
    pub version: Option<String>,
    /// Where the configuration was read: Postfix's configuration directory, or Exim's configuration file.
    pub config: Option<String>,
    /// The system's default instance (/etc/postfix): the fix commands need no `-c DIR` then.
    pub default_instance: bool,
    /// What showed the MTA: its binaries, its configuration, its listeners.
    pub evidence: Vec<String>,
    /// Local listeners on the mail ports (from /proc/net/tcp and tcp6).
    pub listeners: Vec<Listener>,
    /// Whether the MTA's daemon runs (None: could not tell).
    pub running: Option<bool>,
    /// The settings that decide how it sends, as the MTA printed them (never a password).
    pub settings: BTreeMap<String, String>,
    pub route: Route,
    pub tls: TlsPolicy,
    /// The address families it sends over (Postfix inet_protocols).
    pub families: Families,
    pub sasl: SaslFacts,
    pub queue: QueueFacts,
    /// What was probed, when anything was.
    pub probed: Option<ProbedPath>,
    /// Tools that failed while reading (the command and what it said).
    pub errors: Vec<String>,
}

impl MtaFacts {
    /// Facts with nothing found yet: the probe fills them in as it reads.
    pub fn new(kind: MtaKind) -> MtaFacts {
        MtaFacts {
            kind,
            version: None,
            config: None,
            default_instance: true,
            evidence: Vec::new(),
            listeners: Vec::new(),
            running: None,
            settings: BTreeMap::new(),
            route: Route::Unknown,
            tls: TlsPolicy::default(),
            families: Families { v4: true, v6: true },
            sasl: SaslFacts::default(),
            queue: QueueFacts::default(),
            probed: None,
            errors: Vec::new(),
        }
    }
}

/// How the MTA sends mail that leaves this host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Route {
    /// Through a relay (Postfix relayhost, Exim smarthost).
    Relay(Relay),
    /// No relay: straight to each recipient domain's MX hosts on port 25.
    Direct,
    /// A relay is set but cannot be read as host and port.
    Invalid { text: String },
    /// The configuration could not be read.
    Unknown,
}

/// The relay as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    /// As written in the configuration ("[smtp.example.com]:587", "smtp.example.com::587").
    pub text: String,
    pub host: String,
    pub port: u16,
    /// The host is not in brackets: Postfix looks up its MX records first, then its address.
    pub mx_lookup: bool,
    /// TLS from the first byte (Postfix smtp_tls_wrappermode, Exim protocol = smtps).
    pub implicit_tls: bool,
    /// Further relays listed after the first; only the first is probed.
    pub others: Vec<String>,
}

/// The MTA's TLS settings for outgoing mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsPolicy {
    /// Postfix smtp_tls_security_level (none, may, encrypt, dane, verify, secure…); Exim: "require" or "try".
    pub level: Option<String>,
    pub wrappermode: bool,
    /// The CA file it trusts for the relay (Postfix smtp_tls_CAfile); the probe trusts it too.
    pub ca_file: Option<String>,
}

impl TlsPolicy {
    /// No TLS at all: Postfix level none (or the legacy smtp_use_tls = no with no level).
    pub fn off(&self) -> bool {
        !self.wrappermode && self.level.as_deref().is_some_and(|l| l == "none")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

/// SASL towards the relay: on or off, the password map, and whether it has an entry for the relay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaslFacts {
    pub enabled: bool,
    /// The maps as configured ("hash:/etc/postfix/sasl_passwd"), or Exim's passwd.client.
    pub maps: Vec<String>,
    /// Postfix smtp_sasl_security_options (noplaintext keeps PLAIN and LOGIN from being used).
    pub security_options: Option<String>,
    /// The keys the MTA looks the relay up by, in its order.
    pub keys: Vec<String>,
    pub entry: MapEntry,
    /// The files that hold the password, with owner and mode.
    pub files: Vec<MapFile>,
}

/// Whether the map has an entry for the relay. The password itself never enters the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    pub state: EntryState,
    /// The key that matched.
    pub key: Option<String>,
    /// The user name of the entry (not a secret; the password is).
    pub user: Option<String>,
    /// What the lookup tool said when it failed.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Not looked up: SASL is off, or there is no relay.
    #[default]
    NotAsked,
    Found,
    Missing,
    /// The map's database does not exist: postmap never ran on it (Postfix cannot read it either).
    NoDatabase,
    /// The map could not be read: it needs root.
    NotRoot,
    /// The map could not be read for another reason (see detail).
    Unreadable,
}

/// A file holding the SASL password, as stat shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapFile {
    pub path: String,
    pub role: MapRole,
    pub exists: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Permission bits, e.g. 0o600 (shown as "0600").
    pub mode: Option<u32>,
    /// Seconds since the epoch of the last change of the content.
    pub modified: Option<i64>,
}

impl MapFile {
    /// Readable by anyone but its owner (or, for Exim's passwd.client, by anyone outside its group).
    pub fn group_readable(&self) -> bool {
        self.mode.is_some_and(|m| m & 0o040 != 0)
    }

    pub fn world_readable(&self) -> bool {
        self.mode.is_some_and(|m| m & 0o004 != 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapRole {
    /// The text file people edit (sasl_passwd).
    Source,
    /// What the MTA reads, built from it by postmap (sasl_passwd.db).
    Database,
}

/// The queue: how much waits, since when, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueFacts {
    pub read: bool,
    pub why_not: Option<QueueNotRead>,
    /// What the tool said when it could not list the queue.
    pub detail: Option<String>,
    pub messages: usize,
    /// Messages with at least one recipient deferred.
    pub deferred: usize,
    /// Messages Exim has frozen (no further attempts).
    pub frozen: usize,
    pub oldest_age_s: Option<u64>,
    /// Postfix: messages per queue (active, deferred, hold, incoming, maildrop).
    pub by_queue: BTreeMap<String, usize>,
    /// One entry per deferred recipient (at most MAX_DEFERRALS), with the reason as the MTA wrote it.
    pub deferrals: Vec<Deferral>,
    /// Lines of the listing that could not be read.
    pub unparsed: usize,
    /// Exim: the main log read for the deferral reasons.
    pub log: Option<String>,
}

/// Most deferred recipients kept in a report: a queue of 100,000 still makes a readable report.
pub const MAX_DEFERRALS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueNotRead {
    /// Listing the queue needs root (Exim's admin users, or Postfix's authorized_mailq_users).
    NotRoot,
    /// The MTA does not run (postqueue: "mail system is down").
    NotRunning,
    /// The tool could not be run or failed (see detail).
    ToolFailed,
}

/// One deferred recipient and why, with the typed facts taken from the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferral {
    pub queue_id: String,
    pub recipient: String,
    pub age_s: Option<u64>,
    /// As the MTA wrote it.
    pub reason: String,
    pub facts: DeferralFacts,
}

/// What a deferral reason says, by its structure: the step that failed, errno, the reply and the command it answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferralFacts {
    pub step: DeferralStep,
    /// The errno of a failed connect (Exim logs it; Postfix writes its text, read back here).
    pub errno: Option<i32>,
    pub host: Option<String>,
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    pub reply_code: Option<u16>,
    /// Enhanced status code, e.g. "5.7.8".
    pub enhanced: Option<String>,
    /// The command the reply answered ("RCPT TO", "MAIL FROM", "end of DATA"…).
    pub command: Option<String>,
    /// Exim: the router and transport that handled the address.
    pub router: Option<String>,
    pub transport: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferralStep {
    /// The TCP connect failed (see errno).
    Connect,
    /// The relay's or the domain's name did not resolve.
    NameLookup,
    /// TLS could not be started, was not offered, or the certificate did not verify.
    Tls,
    /// SASL AUTH was refused.
    Auth,
    /// SASL could not start: no mechanism both sides allow.
    AuthNoMechanism,
    /// The server replied with a refusal to a command (see reply_code, command).
    Reply,
    /// The connection was lost or timed out after it was made.
    Lost,
    /// The MTA failed on its own side: a table it could not read ("local data error").
    Local,
    #[default]
    Other,
}

/// What `mta` probed: the relay as configured, or the MX hosts of the --to domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbedPath {
    pub kind: ProbedKind,
    pub target: String,
    pub ports: Vec<u16>,
    /// The SASL user whose password (from the map) the probe sent; None when AUTH was not tested.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbedKind {
    Relay,
    RecipientMx,
}
