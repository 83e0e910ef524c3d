//! The fleet plan: HOSTs and a targets file side by side, the command line's fallbacks, and a password variable that is not set.

use std::ffi::OsString;
use std::io::Write;

use super::*;
use crate::cli::{Cli, Command};
use crate::plan::Target;
use crate::report::PortMode;

const FILE: &str = r#"
[[target]]
name = "shop"
host = "mail.example.com:587"
user = "shop@example.com"
password_env = "SHOP_PASS"
from = "shop@example.com"

[[target]]
name = "billing"
host = "mail.example.com"
ports = [465]
user = "billing@example.com"
password_env = "BILLING_PASS"

[[target]]
host = "smtps://relay.example.net"
"#;

fn args_of(argv: &[&str]) -> CheckArgs {
    let all = ["smtp-doctor", "check"].iter().chain(argv);
    let cli = Cli::parse_args(all).unwrap_or_else(|e| panic!("{e}"));
    let Command::Check(args) = cli.command else {
        panic!("expected check");
    };
    *args
}

fn build(argv: &[&str], vars: &[(&str, &str)]) -> Result<FleetPlan, PlanError> {
    let args = args_of(argv);
    let mut empty: &[u8] = b"";
    let sources = PasswordSources {
        env: Some("pw".into()),
        stdin: &mut empty,
        stdin_is_terminal: false,
    };
    let env = |k: &str| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| OsString::from(v))
    };
    FleetPlan::build(&args, sources, &env, Terminals::default())
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    f
}

#[test]
fn several_hosts_share_the_flags_and_one_password() {
    assert!(is_fleet(&args_of(&["a.example", "b.example"])));
    assert!(!is_fleet(&args_of(&["a.example"])));
    assert!(is_fleet(&args_of(&["a.example", "--json-lines"])));
    let p = build(
        &[
            "a.example",
            "198.51.100.7:2525",
            "-p",
            "587",
            "--user",
            "u@x.example",
            "--concurrency",
            "3",
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.concurrency, 3);
    assert_eq!(p.targets.len(), 2);
    let first = p.targets[0].plan.as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.target, Target::Name("a.example".into()));
    assert_eq!(first.ports, vec![(587, PortMode::Starttls)]);
    assert_eq!(first.credentials.as_ref().map(|c| c.password()), Some("pw"));
    let second = p.targets[1].plan.as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second.ports,
        vec![(587, PortMode::Starttls), (2525, PortMode::Starttls)]
    );
    assert_eq!(p.targets[1].input, "198.51.100.7:2525");
}

#[test]
fn a_targets_file_gives_each_target_its_own_login() {
    let f = file_with(FILE);
    let path = f.path().display().to_string();
    let p = build(
        &["--targets", &path, "-p", "25", "--json"],
        &[("SHOP_PASS", "shop-secret"), ("BILLING_PASS", "")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.format, FleetFormat::Document);
    assert_eq!(p.targets.len(), 3);
    let shop = p.targets[0].plan.as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.targets[0].name.as_deref(), Some("shop"));
    // A port in host: -p is the fallback list, and host's own port comes after it.
    assert_eq!(
        shop.ports,
        vec![(25, PortMode::Starttls), (587, PortMode::Starttls)]
    );
    assert_eq!(
        shop.credentials.as_ref().map(|c| c.password()),
        Some("shop-secret")
    );
    assert!(shop
        .envelope
        .as_ref()
        .is_some_and(|e| e.to.is_empty() && !e.send));
    assert_eq!(
        p.targets[1].plan.as_ref().err(),
        Some(&Unprobed::PasswordEmpty {
            var: "BILLING_PASS".into(),
            user: "billing@example.com".into()
        })
    );
    let relay = p.targets[2].plan.as_ref().unwrap_or_else(|e| panic!("{e}"));
    // smtps:// pins implicit TLS on the -p ports it stands for, as for one HOST.
    assert_eq!(relay.ports, vec![(25, PortMode::Implicit)]);
    assert!(relay.credentials.is_none());
}

#[test]
fn an_unset_password_variable_leaves_the_others_to_run() {
    let f = file_with(FILE);
    let path = f.path().display().to_string();
    let p =
        build(&["--targets", &path], &[("BILLING_PASS", "b")]).unwrap_or_else(|e| panic!("{e}"));
    let why = p.targets[0].plan.as_ref().err().cloned();
    assert_eq!(
        why,
        Some(Unprobed::PasswordUnset {
            var: "SHOP_PASS".into(),
            user: "shop@example.com".into()
        })
    );
    let message = why.map(|w| w.to_string()).unwrap_or_default();
    assert!(message.contains("export SHOP_PASS"), "{message}");
    assert!(p.targets[1].plan.is_ok() && p.targets[2].plan.is_ok());
}

#[test]
fn host_arguments_come_before_the_files_targets() {
    let f = file_with(FILE);
    let path = f.path().display().to_string();
    let p = build(
        &["first.example", "--targets", &path],
        &[("SHOP_PASS", "s"), ("BILLING_PASS", "b")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let inputs: Vec<&str> = p.targets.iter().map(|t| t.input.as_str()).collect();
    assert_eq!(
        inputs,
        [
            "first.example",
            "mail.example.com:587",
            "mail.example.com",
            "smtps://relay.example.net"
        ]
    );
}

#[test]
fn what_cannot_go_together_is_a_usage_error() {
    let f = file_with(FILE);
    let path = f.path().display().to_string();
    for (argv, want) in [
        (
            vec!["--targets", path.as_str(), "--env-file", "/x/.env"],
            "--env-file probes the one server",
        ),
        (
            vec!["a.example", "b.example", "--env-file", "/x/.env"],
            "--env-file probes the one server",
        ),
        (
            vec!["--targets", path.as_str(), "--user", "u"],
            "--user logs in to the HOSTs",
        ),
        (
            vec!["a.example", "b.example", "--to", "x@y.example"],
            "--to needs a sender",
        ),
        (vec!["a.example", "bad host!"], "not a host name"),
    ] {
        match build(&argv, &[]) {
            Err(e) => assert!(e.to_string().contains(want), "{argv:?}: {e}"),
            Ok(_) => panic!("{argv:?} was accepted"),
        }
    }
}

#[test]
fn errors_found_with_the_command_line_name_the_files_line() {
    let f = file_with("[[target]]\nhost = \"smtps://a.example\"\n\n[[target]]\nhost = \"b.example\"\nto = [\"x@y.example\"]\n");
    let path = f.path().display().to_string();
    match build(&["--targets", &path, "--mode", "starttls"], &[]) {
        Err(PlanError::TargetsFile {
            line: Some(2),
            key: Some(k),
            ..
        }) if k == "host" => {}
        other => panic!("{other:?}"),
    }
    match build(&["--targets", &path], &[]) {
        Err(PlanError::TargetsFile {
            line: Some(6),
            key: Some(k),
            why,
            ..
        }) if k == "to" => {
            assert!(why.contains("from"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // --from on the command line gives the file's recipient its sender.
    let p = build(&["--targets", &path, "--from", "app@a.example"], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let second = p.targets[1].plan.as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.envelope.as_ref().map(|e| e.to.len()), Some(1));
}

#[test]
fn json_lines_and_the_progress_line_follow_the_flags() {
    let args = args_of(&["a.example", "b.example", "--json-lines"]);
    let mut empty: &[u8] = b"";
    let sources = PasswordSources {
        env: None,
        stdin: &mut empty,
        stdin_is_terminal: false,
    };
    let t = Terminals {
        stdout: true,
        stderr: true,
    };
    let p = FleetPlan::build(&args, sources, &|_| None, t).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.format, FleetFormat::Lines);
    let args = args_of(&["a.example", "b.example", "--color", "never"]);
    let mut empty: &[u8] = b"";
    let sources = PasswordSources {
        env: None,
        stdin: &mut empty,
        stdin_is_terminal: false,
    };
    let p = FleetPlan::build(&args, sources, &|_| None, t).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.format,
        FleetFormat::Human {
            color: false,
            verbose: false,
            progress: true
        }
    );
}
