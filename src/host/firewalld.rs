//! firewalld: recognised by its nft table (or its iptables chains and direct rules) and firewalld.conf; fixed with `firewall-cmd --permanent` and `--reload`.

use super::iptables;
use super::netfilter::{Chain, Rule, Ruleset, Source};
use super::{chains_named, list_chains, settings, Files, FixFor};
use crate::report::{Manager, ManagerFacts};

pub const CONF: &str = "/etc/firewalld/firewalld.conf";
pub const DIRECT_XML: &str = "/etc/firewalld/direct.xml";
pub const FILES: &[&str] = &[CONF, DIRECT_XML, "/usr/sbin/firewalld"];

/// Whether firewalld runs its iptables backend: then it owns iptables' built-in chains too.
pub fn iptables_backend(managers: &[ManagerFacts]) -> bool {
    managers.iter().any(|m| {
        m.manager == Manager::Firewalld
            && m.settings.get("backend").is_some_and(|b| b == "iptables")
    })
}

/// The nft table firewalld's nftables backend loads.
const TABLE: &str = "firewalld";

/// The direct.xml entry ("ipv4 filter OUTPUT 0 <args>") a rule of iptables came from: with the nftables backend
/// firewalld puts direct rules into the built-in chain itself, with the iptables backend into `<chain>_direct`.
pub fn direct_entry<'a>(
    chain: &Chain,
    rule: &Rule,
    managers: &'a [ManagerFacts],
) -> Option<&'a String> {
    let ipv = match chain.source {
        Source::Iptables => "ipv4",
        Source::Ip6tables => "ipv6",
        Source::Nft => return None,
    };
    let base = chain.name.trim_end_matches("_direct");
    managers
        .iter()
        .filter(|m| m.manager == Manager::Firewalld)
        .flat_map(|m| m.settings.iter())
        .filter(|(k, _)| k.starts_with("direct."))
        .map(|(_, v)| v)
        .find(|entry| {
            let mut w = entry.splitn(5, ' ');
            let (Some(e_ipv), Some(table), Some(e_chain), Some(_prio), Some(args)) =
                (w.next(), w.next(), w.next(), w.next(), w.next())
            else {
                return false;
            };
            let stored = iptables::rule_from_args(args);
            e_ipv == ipv
                && table == chain.table
                && e_chain == base
                && stored.matches == rule.matches
                && stored.action == rule.action
        })
}

pub fn owns(chain: &Chain) -> bool {
    match chain.source {
        Source::Nft => chain.table == TABLE || chain.table.starts_with("firewalld_"),
        // iptables backend chains, and the *_direct chains direct rules go to with either backend.
        _ => {
            chain.name.ends_with("_direct")
                || chain.name.starts_with("OUTPUT_")
                || chain.name.starts_with("OUT_")
                || chain.name.starts_with("FWD_")
                || chain.name.starts_with("IN_")
                || chain.name == "RFC3964_IPv4"
        }
    }
}

pub fn recognise(rs: &Ruleset, files: &Files) -> Option<ManagerFacts> {
    let nft_chains = chains_named(rs, |c| c.source == Source::Nft && owns(c));
    let ipt_chains = chains_named(rs, |c| c.source != Source::Nft && owns(c));
    let mut evidence = Vec::new();
    if let Some(c) = nft_chains.first() {
        evidence.push(format!(
            "nft table {} {} ({} chains)",
            c.nft_family,
            c.table,
            nft_chains.len()
        ));
    }
    evidence.extend(list_chains("iptables chains", &ipt_chains));
    let mut s = files
        .text(CONF)
        .map(|t| settings(t, &["FirewallBackend"]))
        .unwrap_or_default();
    if let Some(xml) = files.text(DIRECT_XML) {
        for (i, rule) in direct_rules(xml).into_iter().enumerate() {
            s.insert(format!("direct.{i}"), rule.join(" "));
        }
    }
    if evidence.is_empty() && !files.exists(CONF) {
        return None;
    }
    // The backend in use, as the rules show it (the file may say one thing and the running daemon another).
    let backend = if !nft_chains.is_empty() {
        Some("nftables")
    } else if ipt_chains.iter().any(|c| !c.name.ends_with("_direct")) {
        Some("iptables")
    } else {
        None
    };
    if let Some(b) = backend {
        s.insert("backend".into(), b.into());
    }
    evidence.extend(files.evidence(&[CONF, DIRECT_XML]));
    Some(ManagerFacts {
        manager: Manager::Firewalld,
        evidence,
        settings: s,
    })
}

/// `<rule ipv="ipv4" table="filter" chain="OUTPUT" priority="0">-p tcp --dport 587 -j REJECT</rule>` as
/// [ipv, table, chain, priority, args…], the argument order of `firewall-cmd --direct --add-rule`.
pub fn direct_rules(xml: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<rule") {
        rest = &rest[start + 5..];
        let Some(close) = rest.find('>') else { break };
        let attrs = &rest[..close];
        let Some(end) = rest.find("</rule>") else {
            break;
        };
        let body = rest.get(close + 1..end).unwrap_or_default().trim();
        let attr = |name: &str| -> String {
            let key = format!("{name}=\"");
            attrs
                .find(&key)
                .and_then(|i| attrs[i + key.len()..].split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        out.push(vec![
            attr("ipv"),
            attr("table"),
            attr("chain"),
            attr("priority"),
            body.to_string(),
        ]);
        rest = &rest[end..];
    }
    out
}

/// The policy a chain of the nft backend belongs to: `filter_OUT_policy_NAME` (with _pre/_log/_deny/_allow/_post).
fn policy_of(chain: &str) -> Option<&str> {
    let name = chain.strip_prefix("filter_OUT_policy_")?;
    Some(
        ["_pre", "_log", "_deny", "_allow", "_post"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name),
    )
}

/// A direct rule that stops the port is removed (it was added with --direct); a policy gets an accept rich rule
/// ahead of its other rules (negative rich-rule priorities run first); anything else a policy of its own.
pub fn fix(f: &FixFor<'_>) -> Vec<String> {
    let port = f.port;
    let reload = "firewall-cmd --reload".to_string();
    // A direct rule found in direct.xml: removed exactly as stored there.
    if let Some(entry) = &f.rule.origin {
        return vec![
            format!("firewall-cmd --permanent --direct --remove-rule {entry}"),
            reload,
        ];
    }
    if f.rule.chain.ends_with("_direct") {
        let ipv = if f.rule.v6 { "ipv6" } else { "ipv4" };
        let base = f.rule.chain.trim_end_matches("_direct");
        // The listed rule reads "-A OUTPUT_direct <args>"; its args are what was given to --add-rule.
        let args = f
            .rule
            .text
            .split_once(&format!("-A {} ", f.rule.chain))
            .map(|(_, a)| a.trim().to_string());
        let table = if f.rule.table.contains("nat") {
            "nat"
        } else {
            "filter"
        };
        // Not in direct.xml (added without --permanent, or the file unread): remove it as listed, priority 0.
        let Some(args) = args else {
            return Vec::new();
        };
        let remove = format!(
            "firewall-cmd --permanent --direct --remove-rule {ipv} {table} {base} 0 {args}"
        );
        return vec![remove, reload];
    }
    if let Some(policy) = policy_of(&f.rule.chain) {
        return vec![
            format!(
                "firewall-cmd --permanent --policy {policy} --add-rich-rule='rule priority=\"-100\" port port=\"{port}\" protocol=\"tcp\" accept'"
            ),
            reload,
        ];
    }
    vec![
        "firewall-cmd --permanent --new-policy smtp-out".into(),
        "firewall-cmd --permanent --policy smtp-out --add-ingress-zone HOST".into(),
        "firewall-cmd --permanent --policy smtp-out --add-egress-zone ANY".into(),
        format!("firewall-cmd --permanent --policy smtp-out --add-port {port}/tcp"),
        reload,
    ]
}
