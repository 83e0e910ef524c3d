//! Words for a fix on this host's packet filter: in the syntax of the manager that owns the rule, with how it persists.

use crate::diagnosis::{Facts, Finding};
use crate::host::{self, FixFor};
use crate::report::{
    FirewallRule, IdKind, Manager, ManagerFacts, NotRead, OwnerId, PathOutcome, Report, RuleAction,
};

use super::{here, Words};

/// A fix: the remedy sentence, the commands that change the rules, and the steps that apply or keep them (run once, last).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Fix {
    pub remedy: String,
    pub commands: Vec<String>,
    pub apply: Vec<String>,
}

fn managers(report: &Report) -> &[ManagerFacts] {
    report
        .host
        .firewall
        .as_ref()
        .map_or(&[], |f| f.managers.as_slice())
}

fn has(report: &Report, m: Manager) -> bool {
    managers(report).iter().any(|f| f.manager == m)
}

fn setting<'a>(report: &'a Report, m: Manager, key: &str) -> Option<&'a str> {
    managers(report)
        .iter()
        .find(|f| f.manager == m)
        .and_then(|f| f.settings.get(key))
        .map(String::as_str)
}

/// The user the probes ran as, when not root: the one a CSF allow-list needs.
fn probing_user(report: &Report) -> Option<&str> {
    let u = &report.host.user;
    (u.uid != 0).then_some(u.name.as_deref()).flatten()
}

/// Steps that apply or persist a change rather than make it; they go last, once.
pub(super) fn is_apply(cmd: &str) -> bool {
    cmd == host::iptables::PERSIST || cmd == "firewall-cmd --reload" || cmd == "csf -r"
}

/// The fix for the rules that stopped (or diverted) traffic to `port`, merged over every rule.
pub(super) fn fix(report: &Report, rules: &[FirewallRule], port: u16) -> Fix {
    let mut out = Fix::default();
    let mut remedies: Vec<String> = Vec::new();
    for rule in rules {
        let f = FixFor {
            rule,
            port,
            user: probing_user(report),
            managers: managers(report),
        };
        for c in host::fix(&f) {
            let list = if is_apply(&c) {
                &mut out.apply
            } else {
                &mut out.commands
            };
            if !list.contains(&c) {
                list.push(c);
            }
        }
        let r = remedy(report, rule, port);
        if !remedies.contains(&r) {
            remedies.push(r);
        }
    }
    out.remedy = remedies.join(" ");
    out
}

fn remedy(report: &Report, rule: &FirewallRule, port: u16) -> String {
    let user = probing_user(report);
    match rule.manager {
        Manager::Ufw if rule.chain.ends_with("-before-output") => format!(
            "The rule comes from ufw's /etc/ufw/before{}.rules, which no ufw command changes: remove or change it there, \
             then run `ufw reload`.",
            if rule.v6 { "6" } else { "" }
        ),
        Manager::Ufw => format!(
            "ufw holds this rule. `ufw allow out {port}/tcp` turns a deny or reject for port {port} into an allow (or \
             adds one ahead of the default policy); ufw keeps its rules across reboots by itself."
        ),
        Manager::Firewalld if rule.chain.ends_with("_direct") || rule.origin.is_some() => format!(
            "A firewalld direct rule (kept in /etc/firewalld/direct.xml) stops port {port}: remove it permanently and \
             reload. Check what is there with `firewall-cmd --direct --get-all-rules`."
        ),
        Manager::Firewalld if rule.chain.contains("_policy_") => format!(
            "A firewalld policy stops port {port}: an accept rich rule with a negative priority runs ahead of the \
             policy's other rules; --permanent keeps it and --reload applies it. See the policy with \
             `firewall-cmd --list-all-policies`."
        ),
        Manager::Firewalld => format!(
            "firewalld stops port {port}: a policy from the host to any zone that allows the port lets it out; \
             --permanent keeps it and --reload applies it."
        ),
        Manager::Csf if host::csf::smtp_block(rule) => {
            let allowed = [
                Some("root".to_string()),
                setting(report, Manager::Csf, "SMTP_ALLOWUSER")
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("the users {v}")),
                setting(report, Manager::Csf, "SMTP_ALLOWGROUP")
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("the groups {v}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            match user {
                Some(u) => format!(
                    "CSF's SMTP_BLOCK lets only {allowed} connect to mail ports; {u} is not among them. Send through \
                     the local MTA (host localhost), as SMTP_BLOCK intends, or let {u} out: the commands add it to \
                     SMTP_ALLOWUSER in /etc/csf/csf.conf and restart csf."
                ),
                None => format!(
                    "CSF's SMTP_BLOCK lets only {allowed} connect to mail ports. Send through the local MTA (host \
                     localhost), or add the application's user to SMTP_ALLOWUSER in /etc/csf/csf.conf and run `csf -r`."
                ),
            }
        }
        Manager::Csf => {
            let key = if rule.v6 { "TCP6_OUT" } else { "TCP_OUT" };
            let now = setting(report, Manager::Csf, key)
                .map(|v| format!(" (now \"{v}\")"))
                .unwrap_or_default();
            format!(
                "CSF lets out only the TCP ports listed in {key}{now}, and {port} is not one of them: the commands add \
                 it in /etc/csf/csf.conf and restart csf (`csf -r`). In WHM: ConfigServer Security & Firewall → \
                 Firewall Configuration → {key}."
            )
        }
        Manager::Cpanel => format!(
            "cPanel's SMTP Restrictions send every user except root, cpanel and the mail group to the local Exim \
             on port {port}. Send through the local Exim on purpose (host localhost, port 587, with the cPanel mail \
             account's credentials), or turn the restrictions off: WHM → Security Center → SMTP Restrictions, or the \
             command (it persists)."
        ),
        Manager::Nftables => {
            let persist = format!(
                "To keep it, add `tcp dport {port} accept` at the top of chain {} in table {} in {}.",
                rule.chain,
                rule.table,
                host::nft::CONF
            );
            format!(
                "A native nftables rule stops port {port}; the command accepts the port first in the same chain. {persist}"
            )
        }
        Manager::Iptables | Manager::Hestia | Manager::Docker => {
            let what = if matches!(rule.action, RuleAction::Redirect | RuleAction::Dnat) {
                format!("An iptables nat rule sends port {port} elsewhere; the command lets it pass unchanged.")
            } else {
                format!("An iptables rule stops port {port}; the command lets it out ahead of that rule.")
            };
            let hestia = if has(report, Manager::Hestia) {
                format!(
                    " HestiaCP rebuilds the rules (v-update-firewall) and manages INPUT only: put the iptables \
                     command in {} too so it survives.",
                    host::hestia::CUSTOM_SH
                )
            } else {
                String::new()
            };
            format!(
                "{what} `netfilter-persistent save` keeps it across reboots on Debian/Ubuntu (RHEL family: \
                 `service iptables save`).{hestia}"
            )
        }
    }
}

/// When no rule was read: how to see them — as root, or with the manager's own listing.
pub(super) fn unread(report: &Report, port: u16, what: &str) -> String {
    let fw = report.host.firewall.as_ref();
    let why = match fw.and_then(|f| f.why_not) {
        Some(NotRead::NoTool) => "neither iptables-save nor nft could be run",
        Some(NotRead::NotRoot) => "reading them needs root",
        // Read, but no rule the walk could evaluate stops this port: one tests what it cannot see.
        None if fw.is_some_and(|f| f.read) => {
            return format!(
                "This host's firewall {what} port {port}, but no rule read explains it: one may test ipsets, marks or \
                 connection state this tool cannot evaluate. Look at them: sudo iptables -S; sudo nft list ruleset."
            )
        }
        None => "reading them needs root",
    };
    let mut see: Vec<String> = managers(report)
        .iter()
        .filter_map(|m| listing(m.manager))
        .map(str::to_string)
        .collect();
    if see.is_empty() {
        see.push(
            "sudo iptables -S OUTPUT; sudo iptables -t nat -S OUTPUT; sudo nft list ruleset".into(),
        );
    }
    format!(
        "This host's firewall {what} port {port}, but its rules were not read ({why}). Run smtp-doctor again with sudo to \
         have the rule found and the exact fix printed, or list them yourself: {}.",
        see.join("; ")
    )
}

/// The manager's own command that lists what it does to outgoing traffic.
pub(super) fn listing(m: Manager) -> Option<&'static str> {
    match m {
        Manager::Ufw => Some("sudo ufw status verbose"),
        Manager::Firewalld => Some(
            "sudo firewall-cmd --list-all-policies; sudo firewall-cmd --direct --get-all-rules",
        ),
        Manager::Csf => Some("sudo csf -l"),
        Manager::Cpanel => Some("sudo iptables -t nat -S OUTPUT"),
        Manager::Hestia | Manager::Docker => None,
        Manager::Iptables => Some("sudo iptables -S OUTPUT"),
        Manager::Nftables => Some("sudo nft list ruleset"),
    }
}

/// A rule as an evidence line: where it sits, who manages it, and its text.
pub(super) fn rule_evidence(r: &FirewallRule) -> String {
    let comment = r
        .comment
        .as_ref()
        .filter(|c| !r.text.contains(c.as_str()))
        .map(|c| format!(" (comment: {c})"))
        .unwrap_or_default();
    // A rule reached through jumps: the way there tells which setting of the manager it is.
    let via = if r.via.len() > 1 {
        format!(", reached through {}", r.via.join(" → "))
    } else {
        String::new()
    };
    format!(
        "rule on this host ({}, {} {} chain {}{via}): {}{comment}",
        r.manager.title(),
        r.source,
        r.table,
        r.chain,
        r.text
    )
}

/// "root (uid 0), cpanel (uid 1001) and the groups mail (gid 8), mailman (gid 41)".
fn spared_words(ids: &[OwnerId]) -> String {
    let one = |i: &OwnerId| {
        let (k, n) = match i.kind {
            IdKind::User => ("uid", &i.name),
            IdKind::Group => ("gid", &i.name),
        };
        match n {
            Some(name) => format!("{name} ({k} {})", i.id),
            None => format!("{k} {}", i.id),
        }
    };
    let users: Vec<String> = ids
        .iter()
        .filter(|i| i.kind == IdKind::User)
        .map(one)
        .collect();
    let groups: Vec<String> = ids
        .iter()
        .filter(|i| i.kind == IdKind::Group)
        .map(one)
        .collect();
    match (users.is_empty(), groups.is_empty()) {
        (false, false) => format!("{} and the groups {}", users.join(", "), groups.join(", ")),
        (false, true) => users.join(", "),
        (true, false) => format!("the groups {}", groups.join(", ")),
        (true, true) => "the users the rules name".to_string(),
    }
}

/// Words for owner rules this user passes and others do not.
pub(super) fn owner_words(report: &Report, f: &Finding) -> Words {
    let Facts::Owner(ev) = &f.facts else {
        return Words::default();
    };
    let o = &ev.others;
    let port = f.port.unwrap_or(0);
    let me = ev
        .user
        .name
        .clone()
        .unwrap_or_else(|| format!("uid {}", ev.user.uid));
    let fate = match (o.outcome, &o.nat) {
        (PathOutcome::Reject, _) => "rejected".to_string(),
        (PathOutcome::Drop, _) => "dropped".to_string(),
        (PathOutcome::Pass, Some(n)) => format!("sent to {} (a mail server on this host)", n.to),
        (PathOutcome::Pass, None) => "treated differently".to_string(),
    };
    let whom = if o.affected.is_empty() {
        format!("every user except {}", spared_words(&o.spared))
    } else {
        spared_words(&o.affected)
    };
    let message = format!(
        "{me} reaches {}, but for {whom} the connection is {fate}",
        here(f)
    );
    let rule = o
        .decided_by
        .clone()
        .or_else(|| o.nat.as_ref().map(|n| n.rule.clone()));
    let mut evidence: Vec<String> = rule.iter().map(rule_evidence).collect();
    evidence.push(format!(
        "walked as uid {}{}: {fate}; as {me}: passes unchanged",
        o.walked_as,
        if o.affected.is_empty() {
            " (a user no owner rule names)"
        } else {
            ""
        }
    ));
    let manager = rule
        .as_ref()
        .map(|r| remedy(report, r, port))
        .unwrap_or_default();
    let remedy = format!(
        "This run is exempt; the application's user probably is not. Run again as root with --as-user APPUSER (the \
         user the application runs as: www-data, nobody, apache, the node or PHP-FPM pool user) to see what it gets. \
         {manager}"
    );
    Words {
        message,
        evidence,
        remedy: remedy.trim_end().to_string(),
        commands: Vec::new(),
    }
}
