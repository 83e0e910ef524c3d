//! Words for local interception: the signs that this host answers in the server's place, and how to stop it.

use crate::diagnosis::{Facts, Finding, Sign};
use crate::report::{FirewallRule, Report};

use super::manager;
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
        Sign::Rule(r) => manager::rule_evidence(r),
        Sign::Listeners(ls) => {
            let l: Vec<String> = ls
                .iter()
                .map(|l| format!("{}:{}", l.address, l.port))
                .collect();
            format!("a mail server listens on this host: {}", l.join(", "))
        }
        Sign::AnsweredHere => "the other end of this connection is a socket of this host (its own socket table): something here answered for the remote address".to_string(),
        Sign::LocalFastConnect(ms) => {
            format!("the connect took {ms:.2} ms, as fast as a local socket")
        }
    }
}

pub(super) fn word(report: &Report, f: &Finding) -> Words {
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
    let (remedy, commands) = if rules.is_empty() {
        (
            format!(
                "A local MTA or proxy (cPanel/Exim with CSF's SMTP_BLOCK, a Postfix relay, an iptables REDIRECT/DNAT) \
                 captures outgoing port {port}. {} Or send through the local MTA on purpose (host localhost).",
                manager::unread(report, port, "may divert")
            ),
            Vec::new(),
        )
    } else {
        let fix = manager::fix(report, &rules, port);
        let mut commands = fix.commands;
        commands.extend(fix.apply);
        (fix.remedy, commands)
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
