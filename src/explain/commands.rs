//! Fix commands for this host's packet filter: one rule that lets exactly the finding's traffic through, in the tool that holds the blocking rule.

use crate::report::{FirewallRule, RuleAction};

/// Commands that let TCP to `port` through ahead of the given blocking rules, one per tool and table.
///
/// An ACCEPT inserted first in the chain the packet enters (OUTPUT, or the nft chain that holds the rule) wins over
/// a DROP/REJECT later in it or in a chain it jumps to; in the nat table it stops the REDIRECT/DNAT for that port.
pub(super) fn allow(rules: &[FirewallRule], port: u16) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rules {
        let nat = matches!(r.action, RuleAction::Redirect | RuleAction::Dnat);
        let cmd = match r.source.as_str() {
            "iptables" | "ip6tables" => {
                let table = if nat { "-t nat " } else { "" };
                format!(
                    "{} {table}-I OUTPUT -p tcp --dport {port} -j ACCEPT",
                    r.source
                )
            }
            "nft" => {
                // "inet filter" → family and table name; the chain is the one that holds the rule.
                let mut words = r.table.split_whitespace();
                let (Some(family), Some(table)) = (words.next(), words.next()) else {
                    continue;
                };
                format!(
                    "nft insert rule {family} {table} {} tcp dport {port} accept",
                    r.chain
                )
            }
            _ => continue,
        };
        if !out.contains(&cmd) {
            out.push(cmd);
        }
    }
    out
}

/// How to keep inserted iptables rules across a reboot: a separate step (nft rules go into /etc/nftables.conf by hand).
pub(super) fn persist(commands: &[String]) -> Vec<String> {
    let iptables = commands
        .iter()
        .any(|c| c.starts_with("iptables") || c.starts_with("ip6tables"));
    // Debian/Ubuntu's iptables-persistent; the remedy names RHEL's `service iptables save`.
    iptables
        .then(|| "netfilter-persistent save".to_string())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(source: &str, table: &str, chain: &str, action: RuleAction) -> FirewallRule {
        FirewallRule {
            source: source.into(),
            table: table.into(),
            chain: chain.into(),
            v6: source == "ip6tables",
            action,
            ports: vec![(587, 587)],
            text: String::new(),
        }
    }

    #[test]
    fn one_accept_per_tool_and_table() {
        let rules = [
            rule("iptables", "filter", "SDLAB-OUT", RuleAction::Drop),
            rule("iptables", "filter", "OUTPUT", RuleAction::Reject),
            rule("ip6tables", "filter", "OUTPUT", RuleAction::Drop),
            rule("nft", "inet fw", "out", RuleAction::Drop),
            rule("iptables", "nat", "OUTPUT", RuleAction::Redirect),
        ];
        assert_eq!(
            allow(&rules, 587),
            vec![
                "iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT",
                "ip6tables -I OUTPUT -p tcp --dport 587 -j ACCEPT",
                "nft insert rule inet fw out tcp dport 587 accept",
                "iptables -t nat -I OUTPUT -p tcp --dport 587 -j ACCEPT",
            ]
        );
        assert_eq!(
            persist(&allow(&rules, 53)),
            vec!["netfilter-persistent save"]
        );
    }
}
