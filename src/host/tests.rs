//! Table tests of manager recognition, packet walks and fixes on the rule layouts each manager writes (tests/fixtures/host).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use super::netfilter::{Packet, Ruleset};
use super::*;
use crate::report::{HostPath, IdKind, Manager, PathOutcome};

fn fixture(dir: &str, file: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "host",
        dir,
        file,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&p).unwrap_or_default()
}

/// A rule set as the probe builds it from the listings of one fixture directory.
fn load(dir: &str) -> Ruleset {
    let mut rs = Ruleset::default();
    let mut on_nft = false;
    for (file, v6) in [("iptables-save.txt", false), ("ip6tables-save.txt", true)] {
        let (chains, backend) = iptables::parse(&fixture(dir, file), v6);
        on_nft |= backend == Some(iptables::Backend::Nft);
        rs.chains.extend(chains);
    }
    rs.chains.extend(nft::parse(
        &fixture(dir, "nft.json"),
        &fixture(dir, "nft.txt"),
        on_nft,
    ));
    assert!(!rs.is_empty(), "fixture {dir} is missing");
    rs
}

fn files(entries: &[(&str, &str)]) -> Files {
    Files {
        found: entries
            .iter()
            .map(|(p, t)| (p.to_string(), Some(t.to_string())))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn packet(uid: u32, gid: u32, port: u16) -> Packet {
    Packet {
        daddr: IpAddr::from([203, 0, 113, 10]),
        dport: port,
        saddr: Some(IpAddr::from([198, 51, 100, 10])),
        daddr_local: false,
        oif: Some("eth0".into()),
        uid,
        gid,
        groups: Vec::new(),
    }
}

fn name_of(kind: IdKind, id: u32) -> Option<String> {
    match (kind, id) {
        (IdKind::User, 0) => Some("root".into()),
        (IdKind::Group, 8) => Some("mail".into()),
        _ => None,
    }
}

fn walk(rs: &Ruleset, managers: &[ManagerFacts], uid: u32, port: u16) -> HostPath {
    host_path(rs, &packet(uid, uid, port), managers, &name_of)
}

fn fix_of(
    path: &HostPath,
    port: u16,
    user: Option<&str>,
    managers: &[ManagerFacts],
) -> Vec<String> {
    let rule = path
        .decided_by
        .as_ref()
        .or(path.nat.as_ref().map(|n| &n.rule))
        .unwrap_or_else(|| panic!("nothing decided: {path:#?}"));
    fix(&FixFor {
        rule,
        port,
        user,
        managers,
    })
}

const CSF_CONF: &str = "# csf.conf\nTESTING = \"0\"\nTCP_OUT = \"20,21,22,25,53,80,110,113,443,465,993,995\"\n\
TCP6_OUT = \"20,21,22,25,53,80,110,113,443,465,993,995\"\nSMTP_BLOCK = \"1\"\nSMTP_ALLOWUSER = \"cpanel\"\n\
SMTP_ALLOWGROUP = \"mail,mailman\"\n";

#[test]
fn csf_smtp_block_spares_root_and_the_mail_group() {
    let rs = load("csf-smtp-block");
    let managers = recognise(&rs, &files(&[(csf::CONF, CSF_CONF)]));
    let names: Vec<Manager> = managers.iter().map(|m| m.manager).collect();
    assert_eq!(names, vec![Manager::Csf], "{managers:#?}");
    let root = walk(&rs, &managers, 0, 587);
    assert_eq!(root.outcome, PathOutcome::Pass, "{root:#?}");
    let others = root
        .others
        .clone()
        .unwrap_or_else(|| panic!("no others: {root:#?}"));
    assert_ne!(others.outcome, PathOutcome::Pass);
    assert!(others
        .spared
        .iter()
        .any(|i| i.kind == IdKind::User && i.id == 0));
    assert!(others
        .spared
        .iter()
        .any(|i| i.kind == IdKind::Group && i.id == 8));
    let app = walk(&rs, &managers, 33, 587);
    assert_ne!(app.outcome, PathOutcome::Pass, "{app:#?}");
    let rule = app.decided_by.clone().unwrap_or_else(|| panic!("no rule"));
    assert_eq!(rule.manager, Manager::Csf);
    assert_eq!(rule.via, vec!["OUTPUT", "SMTPOUTPUT", "LOGDROPOUT"]);
    assert_eq!(
        fix_of(&app, 587, Some("www-data"), &managers),
        vec![
            "sed -i 's/^SMTP_ALLOWUSER = \"cpanel\"/SMTP_ALLOWUSER = \"cpanel,www-data\"/' /etc/csf/csf.conf",
            "csf -r"
        ]
    );
    // Ports SMTP_BLOCK does not cover pass for everyone.
    assert_eq!(walk(&rs, &managers, 33, 443).outcome, PathOutcome::Pass);
}

#[test]
fn csf_tcp_out_without_the_port_drops_it_and_the_fix_adds_it() {
    let rs = load("csf-tcp-out-587");
    let managers = recognise(&rs, &files(&[(csf::CONF, CSF_CONF)]));
    let path = walk(&rs, &managers, 0, 587);
    // csf.pl's LOGDROPOUT ends in a REJECT (its DROP_OUT default), reached from OUTPUT's last rule.
    assert_eq!(path.outcome, PathOutcome::Reject, "{path:#?}");
    let rule = path.decided_by.clone().unwrap_or_else(|| panic!("no rule"));
    assert_eq!(
        (rule.manager, rule.chain.as_str()),
        (Manager::Csf, "LOGDROPOUT")
    );
    assert_eq!(rule.via, vec!["OUTPUT", "LOGDROPOUT"]);
    assert_eq!(
        fix_of(&path, 587, None, &managers),
        vec![
            "sed -i 's/^TCP_OUT = \"20,21,22,25,53,80,110,113,443,465,993,995\"/TCP_OUT = \"20,21,22,25,53,80,110,113,443,465,993,995,587\"/' /etc/csf/csf.conf",
            "csf -r"
        ]
    );
    assert_eq!(walk(&rs, &managers, 0, 465).outcome, PathOutcome::Pass);
    // IPv6 goes through ip6tables and TCP6_OUT.
    let mut v6 = packet(0, 0, 587);
    v6.daddr = "2001:db8:2::10".parse().unwrap_or(v6.daddr);
    v6.saddr = None;
    let p6 = host_path(&rs, &v6, &managers, &name_of);
    assert_eq!(p6.outcome, PathOutcome::Reject, "{p6:#?}");
    assert!(fix_of(&p6, 587, None, &managers)[0].starts_with("sed -i 's/^TCP6_OUT = "));
}

#[test]
fn firewalld_policy_reject_is_fixed_in_that_policy() {
    let rs = load("firewalld-policy");
    let managers = recognise(
        &rs,
        &files(&[(firewalld::CONF, "FirewallBackend=nftables\n")]),
    );
    assert_eq!(
        managers.iter().map(|m| m.manager).collect::<Vec<_>>(),
        vec![Manager::Firewalld],
        "{managers:#?}"
    );
    let path = walk(&rs, &managers, 0, 587);
    assert_eq!(path.outcome, PathOutcome::Reject, "{path:#?}");
    let rule = path.decided_by.clone().unwrap_or_else(|| panic!("no rule"));
    assert_eq!(rule.chain, "filter_OUT_policy_no-smtp-out_deny");
    assert_eq!(rule.text, "tcp dport 587 reject");
    assert_eq!(
        fix_of(&path, 587, None, &managers),
        vec![
            "firewall-cmd --permanent --policy no-smtp-out --add-rich-rule='rule priority=\"-100\" port port=\"587\" protocol=\"tcp\" accept'",
            "firewall-cmd --reload"
        ]
    );
    // The unrelated `ip6 daddr {…} reject` of filter_OUTPUT is never met by other traffic.
    assert_eq!(walk(&rs, &managers, 0, 465).outcome, PathOutcome::Pass);
    assert!(walk(&rs, &managers, 0, 465)
        .met
        .iter()
        .all(|r| !r.text.contains("ip6 daddr")));
}

#[test]
fn firewalld_direct_rule_is_removed_with_its_priority() {
    let rs = load("firewalld-direct");
    // As firewalld writes it; with the nftables backend the rules sit in iptables' OUTPUT itself.
    let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<direct>\n  <rule ipv=\"ipv4\" table=\"filter\" chain=\"OUTPUT\" priority=\"0\">-p tcp --dport 587 -j REJECT</rule>\n  <rule ipv=\"ipv6\" table=\"filter\" chain=\"OUTPUT\" priority=\"0\">-p tcp --dport 587 -j REJECT</rule>\n</direct>\n";
    let managers = recognise(
        &rs,
        &files(&[
            (firewalld::DIRECT_XML, xml),
            (firewalld::CONF, "FirewallBackend=nftables\n"),
        ]),
    );
    assert_eq!(
        managers.iter().map(|m| m.manager).collect::<Vec<_>>(),
        vec![Manager::Firewalld],
        "the direct rule in OUTPUT is firewalld's, not a plain iptables rule: {managers:#?}"
    );
    let path = walk(&rs, &managers, 0, 587);
    assert_eq!(path.outcome, PathOutcome::Reject, "{path:#?}");
    let rule = path.decided_by.clone().unwrap_or_else(|| panic!("no rule"));
    assert_eq!(
        (rule.source.as_str(), rule.manager),
        ("iptables", Manager::Firewalld)
    );
    assert_eq!(
        fix_of(&path, 587, None, &managers),
        vec![
            "firewall-cmd --permanent --direct --remove-rule ipv4 filter OUTPUT 0 -p tcp --dport 587 -j REJECT",
            "firewall-cmd --reload"
        ]
    );
}

#[test]
fn direct_xml_rules_in_add_rule_order() {
    let xml = "<direct><rule ipv=\"ipv6\" table=\"filter\" chain=\"OUTPUT\" priority=\"-2\">-p tcp -m multiport --dports 25,587 -j DROP</rule><rule priority=\"1\"></rule></direct>";
    let rules = firewalld::direct_rules(xml);
    assert_eq!(
        rules[0],
        vec![
            "ipv6",
            "filter",
            "OUTPUT",
            "-2",
            "-p tcp -m multiport --dports 25,587 -j DROP"
        ]
    );
    assert_eq!(rules.len(), 2);
}
