//! Table tests of manager recognition, packet walks and fixes on the rule layouts the lab captured (tests/fixtures/host).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::netfilter::{Packet, Ruleset};
use super::*;
use crate::report::{IdKind, Manager, PathOutcome};

fn fixture_dir(dir: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "host", dir]
        .iter()
        .collect()
}

fn fixture(dir: &str, file: &str) -> String {
    std::fs::read_to_string(fixture_dir(dir).join(file)).unwrap_or_default()
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
        &fixture(dir, "nft-ruleset.json"),
        &fixture(dir, "nft-ruleset.txt"),
        on_nft,
    ));
    assert!(!rs.is_empty(), "fixture {dir} is missing");
    rs
}

/// The manager files the fault placed (files/<absolute path>), as the probe would find them.
fn load_files(dir: &str) -> Files {
    fn walk(root: &Path, here: &Path, out: &mut Files, depth: u8) {
        let Ok(entries) = std::fs::read_dir(here) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 12 {
                walk(root, &p, out, depth + 1);
            } else if let Ok(rel) = p.strip_prefix(root) {
                let text = std::fs::read_to_string(&p).ok();
                out.found.insert(format!("/{}", rel.display()), text);
            }
        }
    }
    let root = fixture_dir(dir).join("files");
    let mut out = Files::default();
    walk(&root, &root, &mut out, 0);
    out
}

fn packet(uid: u32, gid: u32, port: u16) -> Packet {
    Packet {
        saddr: Some(IpAddr::from([198, 51, 100, 10])),
        gid,
        ..Packet::sample(uid, IpAddr::from([203, 0, 113, 10]), port)
    }
}

fn name_of(kind: IdKind, id: u32) -> Option<String> {
    match (kind, id) {
        (IdKind::User, 0) => Some("root".into()),
        (IdKind::Group, 8) => Some("mail".into()),
        _ => None,
    }
}

/// One layout of the lab, and what smtp-doctor must make of it for one user and port.
struct Case {
    dir: &'static str,
    managers: &'static [Manager],
    uid: u32,
    port: u16,
    outcome: PathOutcome,
    /// Where other users go when owner rules treat them differently (None: same as this user).
    others: Option<PathOutcome>,
    /// The user the probe ran as, for fixes that name it (CSF's SMTP_ALLOWUSER).
    user: Option<&'static str>,
    /// The fix for the rule that decided (or diverted).
    fix: &'static [&'static str],
}

const fn case(
    dir: &'static str,
    managers: &'static [Manager],
    port: u16,
    outcome: PathOutcome,
) -> Case {
    Case {
        dir,
        managers,
        uid: 0,
        port,
        outcome,
        others: None,
        user: None,
        fix: &[],
    }
}

use Manager as M;
use PathOutcome as O;

const IPTABLES_587: &[&str] = &[
    "iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT",
    "netfilter-persistent save",
];
const DIRECT_587: &[&str] = &[
    "firewall-cmd --permanent --direct --remove-rule ipv4 filter OUTPUT 0 -p tcp --dport 587 -j REJECT",
    "firewall-cmd --reload",
];

fn cases() -> Vec<Case> {
    vec![
        case("lab-clean", &[], 587, O::Pass),
        Case {
            fix: IPTABLES_587,
            ..case("client-drop-587", &[M::Iptables], 587, O::Drop)
        },
        Case {
            fix: &["nft insert rule inet sdlab_fw out tcp dport 587 accept"],
            ..case("client-nft-drop-587", &[M::Nftables], 587, O::Drop)
        },
        Case {
            others: Some(O::Reject),
            ..case("owner-reject-587-65534", &[M::Iptables], 587, O::Pass)
        },
        Case {
            uid: 65534,
            others: Some(O::Pass),
            fix: IPTABLES_587,
            ..case("owner-reject-587-65534", &[M::Iptables], 587, O::Reject)
        },
        Case {
            fix: &["ufw allow out 587/tcp"],
            ..case("ufw-deny-out-587", &[M::Ufw], 587, O::Drop)
        },
        Case {
            fix: &["ufw allow out 587/tcp"],
            ..case("ufw-reject-out-587", &[M::Ufw], 587, O::Reject)
        },
        Case {
            fix: &["ufw allow out 25/tcp"],
            ..case("ufw-default-deny-out", &[M::Ufw], 25, O::Drop)
        },
        case("ufw-default-deny-out", &[M::Ufw], 443, O::Pass),
        Case {
            fix: &[
                "firewall-cmd --permanent --policy no-smtp-out --add-rich-rule='rule priority=\"-100\" port port=\"587\" protocol=\"tcp\" accept'",
                "firewall-cmd --reload",
            ],
            ..case("firewalld-policy-reject-587", &[M::Firewalld], 587, O::Reject)
        },
        // filter_OUTPUT's unrelated `ip6 daddr {…} reject` stops nothing here.
        case("firewalld-policy-reject-587", &[M::Firewalld], 465, O::Pass),
        Case {
            fix: DIRECT_587,
            ..case("firewalld-direct-reject-587", &[M::Firewalld], 587, O::Reject)
        },
        Case {
            fix: DIRECT_587,
            ..case(
                "firewalld-iptables-direct-reject-587",
                &[M::Firewalld],
                587,
                O::Reject,
            )
        },
        Case {
            others: Some(O::Reject),
            ..case("csf-smtp-block", &[M::Csf], 587, O::Pass)
        },
        Case {
            uid: 33,
            user: Some("www-data"),
            fix: &[
                "sed -i 's/^SMTP_ALLOWUSER = \"mail\"/SMTP_ALLOWUSER = \"mail,www-data\"/' /etc/csf/csf.conf",
                "csf -r",
            ],
            ..case("csf-smtp-block", &[M::Csf], 587, O::Reject)
        },
        // csf's default TCP_OUT has no 465, but SMTPOUTPUT accepts root's SMTP before TCP_OUT is looked at.
        Case {
            others: Some(O::Reject),
            ..case("csf-smtp-block", &[M::Csf], 465, O::Pass)
        },
        Case {
            fix: &[
                "sed -i 's/^TCP_OUT = \"20,21,22,25,37,43,53,80,110,113,443,465,853,873,993,995,2086,2087,2089,2703\"/TCP_OUT = \"20,21,22,25,37,43,53,80,110,113,443,465,853,873,993,995,2086,2087,2089,2703,587\"/' /etc/csf/csf.conf",
                "csf -r",
            ],
            ..case("csf-tcp-out-587-missing", &[M::Csf], 587, O::Reject)
        },
        Case {
            others: Some(O::Pass),
            ..case("cpanel-smtp-restrictions", &[M::Cpanel], 587, O::Pass)
        },
        Case {
            uid: 33,
            fix: &["/scripts/smtpmailgidonly off"],
            ..case("cpanel-smtp-restrictions", &[M::Cpanel], 25, O::Pass)
        },
        case("hestia-input-only", &[M::Hestia], 587, O::Pass),
        case("docker-chains", &[M::Docker], 587, O::Pass),
    ]
}

#[test]
fn each_layout_is_recognised_walked_and_fixed_in_its_managers_syntax() {
    let mut failures = Vec::new();
    for c in cases() {
        let rs = load(c.dir);
        let managers = recognise(&rs, &load_files(c.dir));
        let names: Vec<Manager> = managers.iter().map(|m| m.manager).collect();
        let path = host_path(&rs, &packet(c.uid, c.uid, c.port), &managers, &name_of);
        let mut why = Vec::new();
        if names != c.managers {
            why.push(format!("managers {names:?}"));
        }
        if path.outcome != c.outcome {
            why.push(format!("outcome {:?}", path.outcome));
        }
        if path.others.as_ref().map(|o| o.outcome) != c.others {
            why.push(format!("others {:?}", path.others));
        }
        let decided = path
            .decided_by
            .as_ref()
            .or(path.nat.as_ref().map(|n| &n.rule));
        let fix = decided.map_or_else(Vec::new, |rule| {
            fix(&FixFor {
                rule,
                port: c.port,
                user: c.user,
                managers: &managers,
            })
        });
        if fix != c.fix {
            why.push(format!("fix {fix:?}"));
        }
        if !why.is_empty() {
            failures.push(format!(
                "{} uid {} port {}: {}\n  decided by {decided:?}",
                c.dir,
                c.uid,
                c.port,
                why.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn csf_names_who_it_spares_and_the_chains_to_the_reject() {
    let rs = load("csf-smtp-block");
    let managers = recognise(&rs, &load_files("csf-smtp-block"));
    let root = host_path(&rs, &packet(0, 0, 587), &managers, &name_of);
    let others = root.others.unwrap_or_else(|| panic!("no others"));
    assert!(others
        .spared
        .iter()
        .any(|i| i.kind == IdKind::User && i.id == 0));
    assert!(others
        .spared
        .iter()
        .any(|i| i.kind == IdKind::Group && i.id == 8));
    assert!(others.affected.is_empty());
    let rule = others.decided_by.unwrap_or_else(|| panic!("no rule"));
    assert_eq!(rule.via, vec!["OUTPUT", "SMTPOUTPUT", "LOGDROPOUT"]);
    assert_eq!(
        managers[0]
            .settings
            .get("SMTP_ALLOWUSER")
            .map(String::as_str),
        Some("mail")
    );
}

#[test]
fn a_rule_against_one_user_names_that_user() {
    let rs = load("owner-reject-587-65534");
    let path = host_path(&rs, &packet(0, 0, 587), &[], &name_of);
    let others = path.others.unwrap_or_else(|| panic!("no others"));
    assert_eq!(others.walked_as, 65534);
    assert_eq!(others.affected.len(), 1);
    assert_eq!(others.affected[0].id, 65534);
}

#[test]
fn the_cpanel_redirect_spares_root_and_diverts_the_rest_to_loopback() {
    let rs = load("cpanel-smtp-restrictions");
    let managers = recognise(&rs, &load_files("cpanel-smtp-restrictions"));
    let root = host_path(&rs, &packet(0, 0, 465), &managers, &name_of);
    assert!(root.nat.is_none(), "root is exempt: {root:#?}");
    let app = host_path(&rs, &packet(33, 33, 465), &managers, &name_of);
    let nat = app.nat.unwrap_or_else(|| panic!("not diverted"));
    assert_eq!(nat.to.to_string(), "127.0.0.1:465");
    assert_eq!(nat.rule.manager, Manager::Cpanel);
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
