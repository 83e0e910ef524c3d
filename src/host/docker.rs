//! Docker: recognised by its DOCKER* chains; they filter containers' forwarded traffic, never this host's own connections.

use std::collections::BTreeMap;

use super::netfilter::{Chain, Ruleset};
use super::{chains_named, list_chains, Files};
use crate::report::{Manager, ManagerFacts};

pub const FILES: &[&str] = &["/usr/bin/dockerd"];

pub fn owns(chain: &Chain) -> bool {
    chain.name == "DOCKER" || chain.name.starts_with("DOCKER-")
}

pub fn recognise(rs: &Ruleset, files: &Files) -> Option<ManagerFacts> {
    let chains = chains_named(rs, owns);
    if chains.is_empty() {
        return None;
    }
    let mut evidence: Vec<String> = list_chains("chains", &chains).into_iter().collect();
    evidence.extend(files.evidence(FILES));
    Some(ManagerFacts {
        manager: Manager::Docker,
        evidence,
        settings: BTreeMap::new(),
    })
}
