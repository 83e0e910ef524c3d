//! Words for local interception: the signs that this host answers in the server's place, and how to stop it.

use crate::diagnosis::{Facts, Finding, Sign};
use crate::report::FirewallRule;

use super::commands;
use super::{port_of, Words};

fn sign_words(s: &Sign, host: &str) -> String {
    match s {
        Sign::GreetingNamesThisHost(n) => format!("the greeting names {n}, which is this host"),
        Sign::EhloNamesThisHost(n) => format!("the EHLO reply names {n}, which is this host"),
        Sign::CertNamesThisHost(names) => format!(
            "the certificate names this host ({}) instead of {host}",
            names.join(", ")
        ),
        Sign::NatAnsweredBy(r) => format!(
            "the kernel's NAT table shows this connection to {}:{} answered by {}:{}",
            r.original_destination, r.original_port, r.answered_by, r.answered_port
        ),
        Sign::Rule(r) => format!(
            "rule on this host ({} {} {}): {}",
            r.source, r.table, r.chain, r.text
        ),
        Sign::Listeners(ls) => {
            let l: Vec<String> = ls
                .iter()
                .map(|l| format!("{}:{}", l.address, l.port))
                .collect();
            format!("a mail server listens on this host: {}", l.join(", "))
        }
        Sign::LocalFastConnect(ms) => {
            format!("the connect took {ms:.2} ms, as fast as a local socket")
        }
    }
}

pub(super) fn word(f: &Finding) -> Words {
    let port = port_of(f);
    let signs: &[Sign] = match &f.facts {
        Facts::Intercept(s) => s,
        _ => &[],
    };
    let rules: Vec<FirewallRule> = signs
        .iter()
        .filter_map(|s| match s {
            Sign::Rule(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let mut commands = commands::allow(&rules, port);
    let remedy = if commands.is_empty() {
        format!(
            "A local MTA or proxy (cPanel/Exim with CSF's SMTP_BLOCK, a Postfix relay, an iptables REDIRECT/DNAT) captures \
             outgoing port {port}. Find the rule: iptables -t nat -S OUTPUT; nft list ruleset; in WHM turn off 'SMTP \
             Restrictions' or CSF SMTP_BLOCK, or allow this user (SMTP_ALLOWUSER); or send through the local MTA on purpose \
             (host localhost)."
        )
    } else {
        commands.extend(commands::persist(&commands));
        format!(
            "A nat rule on this host (quoted above) sends outgoing port {port} to a local mail server. The commands let port \
             {port} pass unchanged ahead of it; if cPanel (WHM 'SMTP Restrictions') or CSF (SMTP_BLOCK) made the rule, turn \
             it off or allow this user (SMTP_ALLOWUSER) there instead, or send through the local MTA on purpose (host localhost)."
        )
    };
    Words {
        message: format!(
            "a mail server on this host answers instead of {} on port {port}: outgoing SMTP is intercepted",
            f.host
        ),
        evidence: signs.iter().map(|s| sign_words(s, &f.host)).collect(),
        remedy,
        commands,
    }
}
