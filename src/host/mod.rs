//! Pure knowledge of this host's tools: its packet filter (rule listings as a model, the walk of a probe's packet, each firewall manager's recognition and fix) and its MTA (Postfix, Exim: their output read, their fixes); the probes do the reading.

pub mod cpanel;
pub mod csf;
pub mod docker;
pub mod exim;
pub mod firewalld;
pub mod hestia;
pub mod iptables;
pub mod netfilter;
pub mod nft;
pub mod postfix;
pub mod queue;
pub mod ufw;

use std::collections::BTreeMap;

use crate::report::{
    FirewallRule, HostPath, IdKind, Manager, ManagerFacts, NatRule, OthersPath, OwnerId,
    PathOutcome, RuleAction,
};
use netfilter::{Action, Chain, Match, Outcome, Packet, Place, Ruleset, Source, Walk};

/// The files managers are known by, as the probe found them: path → text (None: there, but not readable).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Files {
    pub found: BTreeMap<String, Option<String>>,
}

impl Files {
    pub fn exists(&self, path: &str) -> bool {
        self.found.contains_key(path)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.found.get(path).and_then(|t| t.as_deref())
    }

    /// Evidence lines for the files of `paths` that exist.
    fn evidence(&self, paths: &[&str]) -> Vec<String> {
        paths
            .iter()
            .filter(|p| self.exists(p))
            .map(|p| p.to_string())
            .collect()
    }
}

/// Every file any manager is recognised by; the probe looks for exactly these.
pub fn file_paths() -> Vec<&'static str> {
    [
        ufw::FILES,
        firewalld::FILES,
        csf::FILES,
        cpanel::FILES,
        hestia::FILES,
        docker::FILES,
        nft::FILES,
    ]
    .concat()
}

/// The managers this host shows, from its rules (when read) and its files.
pub fn recognise(rs: &Ruleset, files: &Files) -> Vec<ManagerFacts> {
    let mut out: Vec<ManagerFacts> = [
        ufw::recognise(rs, files),
        firewalld::recognise(rs, files),
        csf::recognise(rs, files),
        hestia::recognise(rs, files),
        docker::recognise(rs, files),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(c) = cpanel::recognise(rs, files, &out) {
        out.push(c);
    }
    // Rules on the output side that no manager above claims were written by hand (or a script).
    for manager in [Manager::Iptables, Manager::Nftables] {
        let evidence: Vec<String> = rs
            .chains
            .iter()
            .filter(|c| touches_output(rs, c) && plain_rules(rs, c, &out) == Some(manager))
            .map(|c| {
                format!(
                    "{} {} chain {} ({} rule{}{})",
                    c.source.name(),
                    table_name(c),
                    c.name,
                    c.rules.len(),
                    if c.rules.len() == 1 { "" } else { "s" },
                    if c.policy_drop { ", policy drop" } else { "" }
                )
            })
            .collect();
        if !evidence.is_empty() {
            out.push(ManagerFacts {
                manager,
                evidence,
                settings: BTreeMap::new(),
            });
        }
    }
    out.sort_by_key(|m| m.manager);
    out
}

/// Whether a chain holds rules (or a dropping policy) nobody but an admin wrote: which plain tool, if so.
fn plain_rules(rs: &Ruleset, c: &Chain, managers: &[ManagerFacts]) -> Option<Manager> {
    let plain = |m: Manager| matches!(m, Manager::Iptables | Manager::Nftables).then_some(m);
    let own_rule = c.rules.iter().enumerate().find(|(i, r)| {
        let counts = match &r.action {
            // A jump into a manager's chain is that manager's hook; one into an empty chain does nothing.
            Action::Jump(t) | Action::Goto(t) => target(rs, c, t).is_some_and(|x| {
                plain(owner_of(x, Some(0), managers)).is_some() && does_something(rs, x, 0)
            }),
            Action::Continue => false,
            _ => true,
        };
        counts && plain(owner_of(c, Some(*i), managers)).is_some()
    });
    if let Some((i, _)) = own_rule {
        return plain(owner_of(c, Some(i), managers));
    }
    (c.policy_drop && c.hook.is_some())
        .then(|| plain(owner_of(c, None, managers)))
        .flatten()
}

fn target<'a>(rs: &'a Ruleset, from: &Chain, name: &str) -> Option<&'a Chain> {
    rs.chains.iter().find(|x| {
        x.name == name
            && x.source == from.source
            && x.table == from.table
            && x.nft_family == from.nft_family
    })
}

/// Whether a chain holds a rule that decides something (not only logs, counts or jumps to empty chains).
fn does_something(rs: &Ruleset, c: &Chain, depth: u8) -> bool {
    depth < 16
        && c.rules.iter().any(|r| match &r.action {
            Action::Continue => false,
            Action::Jump(t) | Action::Goto(t) => {
                target(rs, c, t).is_some_and(|x| does_something(rs, x, depth + 1))
            }
            _ => true,
        })
}

/// Whether a chain is on the output side: an output base chain, or one such a chain jumps to.
fn touches_output(rs: &Ruleset, chain: &Chain) -> bool {
    if chain.hook.is_some() {
        return chain.hook == Some(netfilter::Hook::Output);
    }
    rs.chains.iter().any(|c| {
        c.hook == Some(netfilter::Hook::Output)
            && c.source == chain.source
            && c.table == chain.table
            && c.rules
                .iter()
                .any(|r| matches!(&r.action, Action::Jump(t) | Action::Goto(t) if *t == chain.name))
    })
}

fn table_name(c: &Chain) -> String {
    match c.source {
        Source::Nft => format!("{} {}", c.nft_family, c.table),
        _ => c.table.clone(),
    }
}

fn has(managers: &[ManagerFacts], m: Manager) -> bool {
    managers.iter().any(|f| f.manager == m)
}

/// The manager whose syntax fixes a rule in `chain` (`rule`: None for the chain's policy).
pub fn owner_of(chain: &Chain, rule: Option<usize>, managers: &[ManagerFacts]) -> Manager {
    if ufw::owns(chain) {
        return Manager::Ufw;
    }
    let direct = rule
        .and_then(|i| chain.rules.get(i))
        .and_then(|r| firewalld::direct_entry(chain, r, managers));
    if firewalld::owns(chain) || direct.is_some() {
        return Manager::Firewalld;
    }
    if csf::owns(chain) {
        return Manager::Csf;
    }
    if docker::owns(chain) {
        return Manager::Docker;
    }
    if chain.source == Source::Nft {
        return Manager::Nftables;
    }
    let builtin_output = chain.hook == Some(netfilter::Hook::Output);
    if builtin_output && chain.kind == netfilter::Kind::Nat {
        if has(managers, Manager::Cpanel) {
            return Manager::Cpanel;
        }
        if csf::redirects(managers) {
            return Manager::Csf;
        }
    }
    // firewalld's iptables backend, like CSF, builds the built-in chains itself.
    if chain.hook.is_some() && firewalld::iptables_backend(managers) {
        return Manager::Firewalld;
    }
    if builtin_output && chain.kind == netfilter::Kind::Filter {
        // CSF flushes and rebuilds OUTPUT and sets its policy; ufw sets the policy from DEFAULT_OUTPUT_POLICY.
        if has(managers, Manager::Csf) {
            return Manager::Csf;
        }
        if rule.is_none() && has(managers, Manager::Ufw) {
            return Manager::Ufw;
        }
    }
    Manager::Iptables
}

fn rule_ref(
    place: &Place<'_>,
    v6: bool,
    managers: &[ManagerFacts],
    via: &[String],
) -> FirewallRule {
    let action = match place.rule().map(|r| &r.action) {
        None => RuleAction::PolicyDrop,
        Some(Action::Accept) => RuleAction::Accept,
        Some(Action::Drop) => RuleAction::Drop,
        Some(Action::Reject) => RuleAction::Reject,
        Some(Action::Return) => RuleAction::Return,
        Some(Action::Redirect { .. }) => RuleAction::Redirect,
        Some(Action::Dnat { .. }) => RuleAction::Dnat,
        Some(Action::Jump(_) | Action::Goto(_) | Action::Continue) => RuleAction::Jump,
    };
    FirewallRule {
        source: match place.chain.source {
            Source::Nft => "nft".into(),
            s => s.name().into(),
        },
        table: table_name(place.chain),
        chain: place.chain.name.clone(),
        v6: v6 || place.chain.source == Source::Ip6tables,
        action,
        text: place.text(),
        comment: place.rule().and_then(|r| r.comment.clone()),
        manager: owner_of(place.chain, place.rule, managers),
        via: via.to_vec(),
        origin: place
            .rule()
            .and_then(|r| firewalld::direct_entry(place.chain, r, managers))
            .cloned(),
    }
}

fn outcome(o: Outcome) -> PathOutcome {
    match o {
        Outcome::Pass => PathOutcome::Pass,
        Outcome::Drop => PathOutcome::Drop,
        Outcome::Reject => PathOutcome::Reject,
    }
}

/// A user to walk as: uid, gid, and the owner id a rule names, when that is why it was chosen.
type Candidate = (u32, u32, Option<(IdKind, u32)>);

/// Ids the walk may take for "another user": the usual service users first.
const OTHER_IDS: [u32; 6] = [65534, 33, 48, 1000, 99, 60000];

/// Owner tests of a walk's rules: (kind, negated, ranges, the rule's action).
fn owner_tests<'a>(
    w: &'a Walk<'a>,
) -> impl Iterator<Item = (IdKind, bool, &'a [(u32, u32)], &'a Action)> {
    w.owner_tests.iter().filter_map(|p| p.rule()).flat_map(|r| {
        r.matches.iter().filter_map(move |m| match m {
            Match::Uid { neg, ranges } => Some((IdKind::User, *neg, ranges.as_slice(), &r.action)),
            Match::Gid { neg, ranges, .. } => {
                Some((IdKind::Group, *neg, ranges.as_slice(), &r.action))
            }
            _ => None,
        })
    })
}

/// The path of `p` through this host's rules, with the path of a user the owner rules do not name when it differs.
pub fn host_path(
    rs: &Ruleset,
    p: &Packet,
    managers: &[ManagerFacts],
    name_of: &dyn Fn(IdKind, u32) -> Option<String>,
) -> HostPath {
    let v6 = p.daddr.is_ipv6();
    let r = |place: &Place<'_>| rule_ref(place, v6, managers, &[]);
    let w = rs.walk(p);
    let nat_of = |w: &Walk<'_>| {
        w.nat.as_ref().map(|(place, addr, port)| NatRule {
            rule: rule_ref(place, v6, managers, &w.nat_via),
            to: std::net::SocketAddr::new(*addr, *port),
        })
    };
    let decided_of = |w: &Walk<'_>| {
        w.decided_by
            .as_ref()
            .map(|place| rule_ref(place, v6, managers, &w.decided_via))
    };
    let mut path = HostPath {
        outcome: outcome(w.outcome),
        decided_by: decided_of(&w),
        nat: nat_of(&w),
        met: w.met.iter().map(r).collect(),
        unsure: w.unsure.iter().map(r).collect(),
        others: None,
    };
    if w.owner_tests.is_empty() {
        return path;
    }
    let named = |kind: IdKind, id: u32| {
        owner_tests(&w)
            .any(|(k, _, ranges, _)| k == kind && ranges.iter().any(|(a, b)| *a <= id && id <= *b))
    };
    let Some(uid) = OTHER_IDS
        .iter()
        .copied()
        .find(|id| !named(IdKind::User, *id))
    else {
        return path;
    };
    let gid = OTHER_IDS
        .iter()
        .copied()
        .find(|id| !named(IdKind::Group, *id))
        .unwrap_or(uid);
    // First a user no rule names ("everyone else"); then each user or group a stopping rule names.
    let mut candidates: Vec<Candidate> = vec![(uid, gid, None)];
    for (kind, neg, ranges, action) in owner_tests(&w) {
        if neg || matches!(action, Action::Accept | Action::Return) {
            continue;
        }
        for (a, _) in ranges {
            let c = match kind {
                IdKind::User => (*a, gid, Some((kind, *a))),
                IdKind::Group => (uid, *a, Some((kind, *a))),
            };
            if !candidates.contains(&c) {
                candidates.push(c);
            }
        }
    }
    let found = candidates
        .into_iter()
        .take(16)
        .find_map(|(uid, gid, named)| {
            let other = Packet {
                uid,
                gid,
                groups: Vec::new(),
                ..p.clone()
            };
            let ow = rs.walk(&other);
            let differs = ow.outcome != w.outcome || ow.nat.is_some() != w.nat.is_some();
            differs.then_some((ow, uid, named))
        });
    let Some((ow, walked_as, named)) = found else {
        return path;
    };
    // Spared: named by a rule that lets them through (ACCEPT/RETURN), or excepted (`!`) by one that stops the rest.
    let mut spared: Vec<OwnerId> = Vec::new();
    for (kind, neg, ranges, action) in owner_tests(&w).chain(owner_tests(&ow)) {
        let lets_through = matches!(action, Action::Accept | Action::Return);
        if lets_through == neg {
            continue;
        }
        for (a, b) in ranges {
            // A range names too many to list; its first id stands for it.
            let id = *a;
            let entry = OwnerId {
                kind,
                id,
                name: if a == b { name_of(kind, id) } else { None },
            };
            if !spared.contains(&entry) {
                spared.push(entry);
            }
        }
    }
    let affected: Vec<OwnerId> = named
        .into_iter()
        .map(|(kind, id)| OwnerId {
            kind,
            id,
            name: name_of(kind, id),
        })
        .collect();
    path.others = Some(OthersPath {
        outcome: outcome(ow.outcome),
        decided_by: decided_of(&ow),
        nat: nat_of(&ow),
        spared,
        affected,
        walked_as,
    });
    path
}

/// What a fix is for: the rule that stopped or diverted the packet, the port, and who was probing.
pub struct FixFor<'a> {
    pub rule: &'a FirewallRule,
    pub port: u16,
    /// The user the probe ran as, when not root (`--as-user`, or an unprivileged run).
    pub user: Option<&'a str>,
    pub managers: &'a [ManagerFacts],
}

impl FixFor<'_> {
    pub fn facts(&self, m: Manager) -> Option<&ManagerFacts> {
        self.managers.iter().find(|f| f.manager == m)
    }
}

/// The commands that let this traffic out, in the syntax of the manager that owns the rule, persistence included.
pub fn fix(f: &FixFor<'_>) -> Vec<String> {
    let nat = matches!(f.rule.action, RuleAction::Redirect | RuleAction::Dnat);
    match f.rule.manager {
        Manager::Ufw => ufw::fix(f),
        Manager::Firewalld => firewalld::fix(f),
        Manager::Csf => csf::fix(f),
        Manager::Cpanel => cpanel::fix(f),
        Manager::Nftables => {
            let mut w = f.rule.table.split_whitespace();
            match (w.next(), w.next()) {
                (Some(family), Some(table)) => {
                    vec![nft::allow(family, table, &f.rule.chain, f.port)]
                }
                _ => Vec::new(),
            }
        }
        Manager::Iptables | Manager::Hestia | Manager::Docker => vec![
            iptables::allow(f.rule.v6, nat, f.port),
            iptables::PERSIST.to_string(),
        ],
    }
}

/// `KEY = "value"` lines (csf.conf), `KEY=value` lines (ufw.conf, firewalld.conf) or `KEY='value'` lines (Debian's
/// update-exim4.conf.conf) into a map.
pub(crate) fn settings(text: &str, keys: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().take(10_000) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if keys.contains(&k) {
            out.insert(
                k.to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            );
        }
    }
    out
}

/// Chain names present in the rule set, for evidence.
pub(crate) fn chains_named(rs: &Ruleset, pred: impl Fn(&Chain) -> bool) -> Vec<&Chain> {
    rs.chains.iter().filter(|c| pred(c)).collect()
}

/// "chains a, b, c and 4 more" for an evidence line.
pub(crate) fn list_chains(label: &str, chains: &[&Chain]) -> Option<String> {
    if chains.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = chains.iter().map(|c| c.name.as_str()).collect();
    names.dedup();
    let shown: Vec<&str> = names.iter().take(4).copied().collect();
    let more = names.len().saturating_sub(shown.len());
    Some(format!(
        "{label} {}{}",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

#[cfg(test)]
mod tests;
