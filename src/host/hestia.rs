//! HestiaCP: recognised by its `hestia` chain and data/firewall/rules.conf; it manages INPUT only, so it never blocks mail going out.

use std::collections::BTreeMap;

use super::netfilter::Ruleset;
use super::{chains_named, list_chains, Files};
use crate::report::{Manager, ManagerFacts};

pub const RULES_CONF: &str = "/usr/local/hestia/data/firewall/rules.conf";
/// Hestia runs this script after it rebuilds the rules: the place for a rule of one's own to survive.
pub const CUSTOM_SH: &str = "/usr/local/hestia/data/firewall/custom.sh";
pub const FILES: &[&str] = &[RULES_CONF, "/usr/local/hestia/bin/v-add-firewall-rule"];

pub fn recognise(rs: &Ruleset, files: &Files) -> Option<ManagerFacts> {
    let chains = chains_named(rs, |c| c.name == "hestia");
    let mut evidence: Vec<String> = list_chains("chain", &chains).into_iter().collect();
    evidence.extend(files.evidence(FILES));
    if evidence.is_empty() {
        return None;
    }
    Some(ManagerFacts {
        manager: Manager::Hestia,
        evidence,
        settings: BTreeMap::new(),
    })
}
