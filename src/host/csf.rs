//! CSF (ConfigServer Firewall): recognised by its chains and /etc/csf/csf.conf; fixed by editing csf.conf (TCP_OUT, SMTP_ALLOWUSER) and `csf -r`.

use super::netfilter::{Chain, Ruleset, Source};
use super::{chains_named, list_chains, settings, Files, FixFor};
use crate::report::{FirewallRule, Manager, ManagerFacts};

pub const CONF: &str = "/etc/csf/csf.conf";
pub const FILES: &[&str] = &[CONF, "/usr/sbin/csf"];

/// The csf.conf settings that decide what goes out.
const KEYS: &[&str] = &[
    "TESTING",
    "TCP_OUT",
    "TCP6_OUT",
    "IPV6",
    "SMTP_BLOCK",
    "SMTP_ALLOWLOCAL",
    "SMTP_REDIRECT",
    "SMTP_PORTS",
    "SMTP_ALLOWUSER",
    "SMTP_ALLOWGROUP",
];

/// Chains csf.pl creates on the output side and the input side.
const CHAINS: &[&str] = &[
    "LOCALOUTPUT",
    "LOGDROPOUT",
    "ALLOWOUT",
    "DENYOUT",
    "SMTPOUTPUT",
    "LOCALINPUT",
    "LOGDROPIN",
    "ALLOWIN",
    "DENYIN",
    "INVDROP",
    "INVALID",
];

pub fn owns(chain: &Chain) -> bool {
    chain.source != Source::Nft && CHAINS.contains(&chain.name.as_str())
}

pub fn recognise(rs: &Ruleset, files: &Files) -> Option<ManagerFacts> {
    let chains = chains_named(rs, owns);
    let mut evidence: Vec<String> = list_chains("chains", &chains).into_iter().collect();
    evidence.extend(files.evidence(FILES));
    if chains.is_empty() && !files.exists(CONF) {
        return None;
    }
    Some(ManagerFacts {
        manager: Manager::Csf,
        evidence,
        settings: files
            .text(CONF)
            .map(|t| settings(t, KEYS))
            .unwrap_or_default(),
    })
}

/// Whether CSF's SMTP_REDIRECT is on: then the nat OUTPUT redirect is CSF's, not cPanel's.
pub fn redirects(managers: &[ManagerFacts]) -> bool {
    managers.iter().any(|m| {
        m.manager == Manager::Csf && m.settings.get("SMTP_REDIRECT").is_some_and(|v| v == "1")
    })
}

/// Whether the packet met the rule through SMTP_BLOCK's chain (its drop sits in LOGDROPOUT, jumped to from SMTPOUTPUT).
pub fn smtp_block(rule: &FirewallRule) -> bool {
    rule.chain == "SMTPOUTPUT" || rule.via.iter().any(|c| c == "SMTPOUTPUT")
}

/// One csf.conf edit with sed: the setting's value as read, to the new value (or appended to, when unread).
fn edit(key: &str, old: Option<&String>, add: &str) -> String {
    match old {
        Some(old) => {
            let new = if old.trim().is_empty() {
                add.to_string()
            } else {
                format!("{old},{add}")
            };
            format!("sed -i 's/^{key} = \"{old}\"/{key} = \"{new}\"/' {CONF}")
        }
        None => format!("sed -i 's/^{key} = \"\\(.*\\)\"/{key} = \"\\1,{add}\"/' {CONF}"),
    }
}

/// SMTPOUTPUT is SMTP_BLOCK: the user goes into SMTP_ALLOWUSER. Any other CSF drop is TCP_OUT (TCP6_OUT) lacking the port.
pub fn fix(f: &FixFor<'_>) -> Vec<String> {
    let facts = f.facts(Manager::Csf);
    let get = |k: &str| facts.and_then(|m| m.settings.get(k));
    let apply = "csf -r".to_string();
    if smtp_block(f.rule) {
        return match f.user {
            Some(user) => vec![edit("SMTP_ALLOWUSER", get("SMTP_ALLOWUSER"), user), apply],
            None => Vec::new(),
        };
    }
    let key = if f.rule.v6 { "TCP6_OUT" } else { "TCP_OUT" };
    vec![edit(key, get(key), &f.port.to_string()), apply]
}
