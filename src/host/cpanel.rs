//! cPanel's SMTP Restrictions: nat OUTPUT rules that send everyone but root, cpanel and the mail group to the local Exim; undone with `/scripts/smtpmailgidonly off`.

use std::collections::BTreeMap;

use super::netfilter::{Action, Hook, Kind, Match, Ruleset, Source};
use super::{Files, FixFor};
use crate::report::{Manager, ManagerFacts};

pub const VERSION: &str = "/usr/local/cpanel/version";
/// WHM's settings; `smtpmailgidonly=1` is SMTP Restrictions turned on.
pub const CONFIG: &str = "/var/cpanel/cpanel.config";
pub const FILES: &[&str] = &[VERSION, CONFIG];

/// The layout: in nat OUTPUT, owner tests that let some users through, and a REDIRECT of port 25.
fn layout(rs: &Ruleset) -> bool {
    rs.chains.iter().any(|c| {
        c.source != Source::Nft
            && c.kind == Kind::Nat
            && c.hook == Some(Hook::Output)
            && c.rules.iter().any(|r| {
                r.matches
                    .iter()
                    .any(|m| matches!(m, Match::Uid { .. } | Match::Gid { .. }))
            })
            && c.rules.iter().any(|r| {
                matches!(r.action, Action::Redirect { .. })
                    && r.matches.iter().any(|m| {
                        matches!(m, Match::DestPort { neg: false, ranges } if ranges.iter().any(|(a, b)| *a <= 25 && 25 <= *b))
                    })
            })
    })
}

/// cPanel when its files are there and nat OUTPUT has the layout (CSF's SMTP_REDIRECT makes a similar one: CSF wins
/// when csf.conf says so).
pub fn recognise(rs: &Ruleset, files: &Files, others: &[ManagerFacts]) -> Option<ManagerFacts> {
    let csf_redirect = super::csf::redirects(others);
    let installed = files.exists(VERSION);
    let restricted = layout(rs);
    if !installed || csf_redirect {
        return None;
    }
    let mut evidence = files.evidence(FILES);
    if restricted {
        evidence.push(
            "nat OUTPUT: owner exemptions, then REDIRECT of the SMTP ports (SMTP Restrictions)"
                .into(),
        );
    }
    let mut settings: BTreeMap<String, String> = files
        .text(CONFIG)
        .map(|t| super::settings(t, &["smtpmailgidonly"]))
        .unwrap_or_default();
    settings.insert(
        "smtp_restrictions_in_rules".to_string(),
        if restricted { "on" } else { "off" }.to_string(),
    );
    Some(ManagerFacts {
        manager: Manager::Cpanel,
        evidence,
        settings,
    })
}

/// Turns SMTP Restrictions off (WHM → Security Center → SMTP Restrictions does the same); it persists.
pub fn fix(_f: &FixFor<'_>) -> Vec<String> {
    vec!["/scripts/smtpmailgidonly off".into()]
}
