//! Facts about the machine the probe runs on: its listeners, who manages its packet filter, and the path each probe's packet took through it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Facts about the machine the probe runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: String,
    /// Who opened the probe sockets: firewall rules that match the owner (`--uid-owner`) see this user.
    #[serde(default)]
    pub user: UserFacts,
    /// Local TCP listeners on the mail ports (from /proc/net/tcp and tcp6).
    pub mail_listeners: Vec<Listener>,
    /// What manages this host's packet filter, and whether its rules could be read.
    pub firewall: Option<FirewallFacts>,
    /// Probed connections that the kernel's NAT answered from elsewhere (/proc/net/nf_conntrack).
    pub nat_redirects: Vec<NatRedirect>,
}

/// The effective user and groups of the process when it probed: owner rules (`-m owner`, `meta skuid`) decide by it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFacts {
    /// The account name of the uid, when the user database has one.
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, sorted.
    pub groups: Vec<u32>,
    /// True when root switched to this user for the probes, as --as-user asked.
    pub as_user: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirewallFacts {
    /// Whether the rule listings (iptables-save, ip6tables-save, nft) could be read.
    pub read: bool,
    pub why_not: Option<NotRead>,
    /// The tools found managing the packet filter, from its rules and from their files.
    pub managers: Vec<ManagerFacts>,
}

/// Why the rules could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotRead {
    /// Listing rules needs root (CAP_NET_ADMIN).
    NotRoot,
    /// Neither iptables-save nor nft could be run.
    NoTool,
}

/// The tools that write packet-filter rules, each with its own syntax for a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Manager {
    Ufw,
    Firewalld,
    Csf,
    /// WHM's "SMTP Restrictions" (nat OUTPUT redirects to the local Exim).
    Cpanel,
    /// HestiaCP: manages INPUT only.
    Hestia,
    Docker,
    /// Rules written with iptables/ip6tables directly (or by a script).
    Iptables,
    /// Native nftables tables no manager above owns.
    Nftables,
}

impl Manager {
    pub fn name(self) -> &'static str {
        match self {
            Manager::Ufw => "ufw",
            Manager::Firewalld => "firewalld",
            Manager::Csf => "csf",
            Manager::Cpanel => "cpanel",
            Manager::Hestia => "hestia",
            Manager::Docker => "docker",
            Manager::Iptables => "iptables",
            Manager::Nftables => "nftables",
        }
    }

    /// How people call it.
    pub fn title(self) -> &'static str {
        match self {
            Manager::Ufw => "ufw",
            Manager::Firewalld => "firewalld",
            Manager::Csf => "CSF (ConfigServer Firewall)",
            Manager::Cpanel => "cPanel SMTP Restrictions",
            Manager::Hestia => "HestiaCP firewall",
            Manager::Docker => "Docker",
            Manager::Iptables => "plain iptables rules",
            Manager::Nftables => "plain nftables rules",
        }
    }
}

/// One manager found, with what gave it away and the settings its fix needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagerFacts {
    pub manager: Manager,
    /// Chains, tables or files that showed it ("chain ufw-user-output", "/etc/csf/csf.conf").
    pub evidence: Vec<String>,
    /// Settings read from its files that decide the fix (csf.conf's TCP_OUT, firewalld's FirewallBackend…).
    pub settings: BTreeMap<String, String>,
}

/// One rule (or a chain's policy) a probe's packet met, quoted as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirewallRule {
    /// "iptables", "ip6tables" or "nft".
    pub source: String,
    /// "filter", "nat"…; for nft the family and table ("inet firewalld").
    pub table: String,
    pub chain: String,
    pub v6: bool,
    pub action: RuleAction,
    /// The rule as listed, or "policy drop of chain OUTPUT".
    pub text: String,
    pub comment: Option<String>,
    /// The tool whose rule this is: its syntax fixes it.
    pub manager: Manager,
    /// For the rule that decided: the chains the packet went through to reach it, outermost first.
    #[serde(default)]
    pub via: Vec<String>,
    /// Where the manager keeps this rule, when it says (a firewalld direct rule: "ipv4 filter OUTPUT 0 <args>").
    #[serde(default)]
    pub origin: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    Accept,
    Drop,
    Reject,
    /// The chain's default policy drops what no rule allowed.
    PolicyDrop,
    Redirect,
    Dnat,
    Return,
    Jump,
}

/// What this host's packet filter does to a probe's first SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathOutcome {
    Pass,
    Drop,
    Reject,
}

/// The way one probe's packet went through this host's rules, walked from the rules read as root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostPath {
    pub outcome: PathOutcome,
    /// The rule or policy that dropped or rejected it.
    pub decided_by: Option<FirewallRule>,
    /// A nat rule that sent it elsewhere, and where.
    pub nat: Option<NatRule>,
    /// Every rule that matched on the way, in order (jumps, returns, accepts).
    pub met: Vec<FirewallRule>,
    /// Rules with tests the walk cannot evaluate (ipsets, marks); taken as not matching.
    pub unsure: Vec<FirewallRule>,
    /// Owner rules treat other users differently from the one probing: the path of a user they do not name.
    pub others: Option<OthersPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatRule {
    pub rule: FirewallRule,
    pub to: SocketAddr,
}

/// Where the same packet goes for a user no owner rule names (an application's user, say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OthersPath {
    pub outcome: PathOutcome,
    pub decided_by: Option<FirewallRule>,
    pub nat: Option<NatRule>,
    /// The users and groups the owner rules let through.
    pub spared: Vec<OwnerId>,
    /// When the rules single out users or groups (`--uid-owner 33 -j REJECT`): those, else empty (everyone else).
    #[serde(default)]
    pub affected: Vec<OwnerId>,
    /// The user the other path was walked for (one no owner rule names).
    pub walked_as: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerId {
    pub kind: IdKind,
    pub id: u32,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    User,
    Group,
}

/// A connection sent to one place and answered from another (NAT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRedirect {
    /// Our side's port, to tell the probe's own connections from older ones still in the table.
    pub original_source_port: u16,
    pub original_destination: IpAddr,
    pub original_port: u16,
    pub answered_by: IpAddr,
    pub answered_port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub address: IpAddr,
    pub port: u16,
}
