//! ufw: recognised by its ufw-*/ufw6-* chains and /etc/ufw/ufw.conf; fixed with `ufw allow out`, which persists by itself.

use std::collections::BTreeMap;

use super::netfilter::{Chain, Ruleset};
use super::{chains_named, list_chains, settings, Files, FixFor};
use crate::report::{Manager, ManagerFacts, RuleAction};

pub const FILES: &[&str] = &["/etc/ufw/ufw.conf", "/etc/default/ufw", "/usr/sbin/ufw"];

pub fn owns(chain: &Chain) -> bool {
    chain.name.starts_with("ufw-") || chain.name.starts_with("ufw6-")
}

pub fn recognise(rs: &Ruleset, files: &Files) -> Option<ManagerFacts> {
    let chains = chains_named(rs, owns);
    let mut evidence: Vec<String> = list_chains("chains", &chains).into_iter().collect();
    let mut s = BTreeMap::new();
    if let Some(t) = files.text("/etc/ufw/ufw.conf") {
        s.extend(settings(t, &["ENABLED"]));
    }
    if let Some(t) = files.text("/etc/default/ufw") {
        s.extend(settings(t, &["DEFAULT_OUTPUT_POLICY", "IPV6"]));
    }
    // Installed but disabled, with no chains loaded: it filters nothing and is not worth naming.
    let enabled = s
        .get("ENABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    if chains.is_empty() && !enabled {
        return None;
    }
    evidence.extend(files.evidence(&["/etc/ufw/ufw.conf"]).into_iter().map(|p| {
        format!(
            "{p} (ENABLED={})",
            s.get("ENABLED").map(String::as_str).unwrap_or("?")
        )
    }));
    Some(ManagerFacts {
        manager: Manager::Ufw,
        evidence,
        settings: s,
    })
}

/// `ufw allow out PORT/tcp` turns a deny/reject rule for that port into an allow (ufw updates a rule that differs
/// only in its action) or adds one ahead of the default policy. Rules in ufw-before-output come from
/// /etc/ufw/before.rules and no ufw command changes them.
pub fn fix(f: &FixFor<'_>) -> Vec<String> {
    let chain = f.rule.chain.as_str();
    if chain.ends_with("-before-output") {
        return Vec::new();
    }
    let dest = f
        .rule
        .text
        .split_whitespace()
        .skip_while(|w| *w != "-d")
        .nth(1)
        .map(|d| {
            d.trim_end_matches("/32")
                .trim_end_matches("/128")
                .to_string()
        });
    match (dest, f.rule.action) {
        (Some(d), RuleAction::Drop | RuleAction::Reject) => vec![format!(
            "ufw insert 1 allow out to {d} port {} proto tcp",
            f.port
        )],
        _ => vec![format!("ufw allow out {}/tcp", f.port)],
    }
}
