//! Table tests of the plan: pasted hosts, ports and modes, contradictions, and where the password comes from.

use super::*;

#[test]
fn targets_parse() {
    assert_eq!(
        Target::parse("SMTP.Gmail.com.").ok(),
        Some(Target::Name("smtp.gmail.com".into()))
    );
    assert_eq!(
        Target::parse("[2001:db8::1]").ok(),
        Some(Target::Ip(
            "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4]))
        ))
    );
    assert!(matches!(
        Target::parse("192.0.2.7"),
        Ok(Target::Ip(IpAddr::V4(_)))
    ));
    for bad in ["", "a..b", "-x.com", "bad host", "x/y", "ex ample.com"] {
        assert!(Target::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn modes_follow_ports() {
    assert_eq!(mode_for_port(465), PortMode::Implicit);
    assert_eq!(mode_for_port(587), PortMode::Starttls);
    assert_eq!(mode_for_port(25), PortMode::Starttls);
    assert_eq!(mode_for_port(10025), PortMode::Detect);
}

fn plan_for(args: &[&str]) -> Result<Plan, PlanError> {
    use crate::cli::{Cli, Command};
    let argv = ["smtp-doctor", "check"].iter().chain(args);
    let cli = Cli::parse_args(argv).expect("valid command line");
    let Command::Check(args) = cli.command else {
        panic!("expected check");
    };
    let mut empty: &[u8] = b"";
    let sources = PasswordSources {
        env: Some("pw".into()),
        stdin: &mut empty,
        stdin_is_terminal: false,
    };
    Plan::build(&args, sources, false)
}

fn ip(s: &str) -> Target {
    Target::Ip(s.parse().expect("literal IP in the test table"))
}

fn name(s: &str) -> Target {
    Target::Name(s.into())
}

#[test]
fn host_inputs_parse() {
    use Scheme::{Smtp, Smtps};
    let table: &[(&str, Target, Option<u16>, Option<Scheme>)] = &[
        ("smtp.example.com", name("smtp.example.com"), None, None),
        ("SMTP.Example.com.", name("smtp.example.com"), None, None),
        (" h.test:587 ", name("h.test"), Some(587), None),
        ("h.test.:2525", name("h.test"), Some(2525), None),
        ("192.0.2.7", ip("192.0.2.7"), None, None),
        ("192.0.2.7:25", ip("192.0.2.7"), Some(25), None),
        ("[192.0.2.7]", ip("192.0.2.7"), None, None),
        ("2001:db8::5", ip("2001:db8::5"), None, None),
        // Valid IPv6 wins: the last group is an address group, not a port.
        ("2001:db8::5:465", ip("2001:db8::5:465"), None, None),
        ("[2001:db8::5]", ip("2001:db8::5"), None, None),
        ("[2001:db8::5]:465", ip("2001:db8::5"), Some(465), None),
        ("smtp://h.test", name("h.test"), None, Some(Smtp)),
        ("smtp://h.test/", name("h.test"), None, Some(Smtp)),
        ("SMTP://H.test:0587", name("h.test"), Some(587), Some(Smtp)),
        ("smtps://h.test", name("h.test"), None, Some(Smtps)),
        (
            "smtps://h.test:587/",
            name("h.test"),
            Some(587),
            Some(Smtps),
        ),
        (
            "smtps://[2001:db8::5]:465",
            ip("2001:db8::5"),
            Some(465),
            Some(Smtps),
        ),
        (
            "smtp://198.51.100.9:2525",
            ip("198.51.100.9"),
            Some(2525),
            Some(Smtp),
        ),
    ];
    for (input, target, port, scheme) in table {
        let want = HostInput {
            target: target.clone(),
            port: *port,
            scheme: *scheme,
        };
        assert_eq!(HostInput::parse(input).ok(), Some(want), "{input:?}");
    }
}

fn kind(e: &PlanError) -> &'static str {
    match e {
        PlanError::BadHost(_) => "bad host",
        PlanError::BadHostColons(_) => "colons",
        PlanError::PortZero => "port 0",
        PlanError::BadPort { .. } => "bad port",
        PlanError::UnknownScheme { .. } => "scheme",
        PlanError::PathInUrl { .. } => "path",
        PlanError::CredentialsInHost { .. } => "credentials",
        PlanError::EmailAddress { .. } => "email",
        PlanError::FamilyExcludesAddress { .. } => "family",
        PlanError::ModeConflict { .. } => "mode",
        _ => "other",
    }
}

#[test]
fn host_inputs_refused_with_the_command_to_type() {
    let table: &[(&str, &str, &str)] = &[
        ("", "bad host", "smtp.example.com"),
        ("bad host!", "bad host", "smtp.example.com"),
        ("x/y", "bad host", "smtp.example.com"),
        (
            "h.test:abc",
            "bad port",
            "`smtp-doctor check h.test -p PORT`",
        ),
        ("h.test:", "bad port", "`smtp-doctor check h.test -p PORT`"),
        ("h.test:+587", "bad port", "-p PORT"),
        ("h.test:65536", "bad port", "-p PORT"),
        (
            "[2001:db8::5]:x",
            "bad port",
            "`smtp-doctor check 2001:db8::5 -p PORT`",
        ),
        (
            "smtps://h.test:x",
            "bad port",
            "`smtp-doctor check smtps://h.test:PORT`",
        ),
        ("h.test:0", "port 0", "between 1 and 65535"),
        ("smtp://h.test:0", "port 0", "between 1 and 65535"),
        ("2001:db8::zz:465", "colons", "[2001:db8::5]:465"),
        ("h.test:25:26", "colons", "brackets"),
        ("[2001:db8::5", "bad host", ""),
        ("[2001:db8::5]465", "bad host", ""),
        ("[h.test]:25", "bad host", ""),
        ("https://h.test", "scheme", "`smtp-doctor check h.test`"),
        ("imap://h.test:993", "scheme", "`smtp-doctor check h.test`"),
        ("imap://bad host", "scheme", "`smtp-doctor check HOST`"),
        (
            "smtp://h.test:587/foo",
            "path",
            "`smtp-doctor check smtp://h.test:587`",
        ),
        (
            "smtp://h.test?verify_peer=0",
            "path",
            "`smtp-doctor check smtp://h.test`",
        ),
        (
            "smtp://app%40example.com:S3cret@h.test:587",
            "credentials",
            "`smtp-doctor check smtp://h.test:587 --user app@example.com`",
        ),
        (
            "smtps://u:S3c@ret@[2001:db8::5]",
            "credentials",
            "`smtp-doctor check 'smtps://[2001:db8::5]' --user u`",
        ),
        ("smtp://u:S3c/ret@h.test", "credentials", "--user u`"),
        (
            "u:S3cret@h.test:587",
            "credentials",
            "`smtp-doctor check h.test:587 --user u`",
        ),
        ("smtp://:S3cret@h.test", "credentials", "--user USER`"),
        ("smtp://u%0a:S3cret@h.test", "credentials", "--user USER`"),
        (
            "smtp://o'neil@h.test",
            "credentials",
            r"--user 'o'\''neil'`",
        ),
        (
            "https://u:S3cret@h.test",
            "scheme",
            "`smtp-doctor check h.test`",
        ),
        (
            "app@example.com",
            "email",
            "`smtp-doctor check example.com --mx`",
        ),
        (
            "app@h.test:587",
            "credentials",
            "`smtp-doctor check h.test:587 --user app`",
        ),
    ];
    for (input, want, says) in table {
        match HostInput::parse(input) {
            Ok(h) => panic!("{input:?} parsed as {h:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert_eq!(kind(&e), *want, "{input:?}: {msg}");
                assert!(msg.contains(says), "{input:?}: {msg}");
                assert!(
                    !msg.contains("S3c") && !format!("{e:?}").contains("S3c"),
                    "{input:?} echoed the password: {msg}"
                );
            }
        }
    }
    let with_password = HostInput::parse("smtp://u:S3cret@h.test")
        .err()
        .map(|e| e.to_string());
    assert!(with_password.is_some_and(
        |m| m.contains("user name and password") && m.contains("changing the password")
    ));
    let user_only = HostInput::parse("smtp://u@h.test")
        .err()
        .map(|e| e.to_string());
    assert!(user_only.is_some_and(|m| m.contains("user name;") && !m.contains("changing")));
}

#[test]
fn ports_follow_host_and_flags() {
    use PortMode::{Detect, Implicit, Starttls};
    type Row<'a> = (&'a [&'a str], &'a [(u16, PortMode)]);
    let table: &[Row] = &[
        (
            &["h.test"],
            &[(25, Starttls), (465, Implicit), (587, Starttls)],
        ),
        (&["h.test:587"], &[(587, Starttls)]),
        (&["h.test:10025"], &[(10025, Detect)]),
        (&["[2001:db8::5]:465"], &[(465, Implicit)]),
        (&["smtp://h.test"], &[(587, Starttls)]),
        (&["smtps://h.test"], &[(465, Implicit)]),
        (&["smtp://h.test:465"], &[(465, Implicit)]),
        (&["smtps://h.test:587"], &[(587, Implicit)]),
        // -p first in its order, then HOST's port, once.
        (
            &["h.test:2525", "-p", "587,25"],
            &[(587, Starttls), (25, Starttls), (2525, Starttls)],
        ),
        (
            &["h.test:587", "-p", "587,25"],
            &[(587, Starttls), (25, Starttls)],
        ),
        // The port a URL only implies gives way to -p, as the defaults do.
        (&["smtp://h.test", "-p", "2525"], &[(2525, Starttls)]),
        // smtps:// without a port stands for the -p ports; with one, only for its own.
        (&["smtps://h.test", "-p", "587"], &[(587, Implicit)]),
        (
            &["smtps://h.test:587", "-p", "25"],
            &[(25, Starttls), (587, Implicit)],
        ),
        (
            &["smtps://h.test:587", "--mode", "implicit"],
            &[(587, Implicit)],
        ),
        (
            &["smtp://h.test:587", "--mode", "implicit"],
            &[(587, Implicit)],
        ),
        (
            &["smtps://h.test:587", "-p", "25", "--mode", "implicit"],
            &[(25, Implicit), (587, Implicit)],
        ),
        (&["h.test:2600", "--mode", "starttls"], &[(2600, Starttls)]),
        (
            &["h.test", "-p", "465,2600"],
            &[(465, Implicit), (2600, Detect)],
        ),
        (
            &["h.test", "-p", "465,2600", "--mode", "starttls"],
            &[(465, Starttls), (2600, Starttls)],
        ),
        (
            &["h.test", "-p", "2600", "--mode", "implicit"],
            &[(2600, Implicit)],
        ),
    ];
    for (argv, want) in table {
        match plan_for(argv) {
            Ok(p) => assert_eq!(p.ports, *want, "{argv:?}"),
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }
}

#[test]
fn contradictions_are_usage_errors() {
    let table: &[(&[&str], &str, &str)] = &[
        (&["h.test", "-p", "0"], "port 0", ""),
        (&["h.test:25", "-p", "0"], "port 0", ""),
        (
            &["smtps://h.test:587", "--mode", "starttls"],
            "mode",
            "drop --mode: `smtp-doctor check smtps://h.test:587`; to try starttls instead, run `smtp-doctor check h.test -p 587 --mode starttls`",
        ),
        (&["smtps://h.test", "--mode", "detect"], "mode", "`smtp-doctor check h.test -p 465 --mode detect`"),
        (&["smtps://h.test", "-p", "587,2525", "--mode", "starttls"], "mode", "`smtp-doctor check smtps://h.test -p 587,2525`"),
        (&["203.0.113.5", "-6"], "family", "203.0.113.5 is an IPv4 address, but -6"),
        (&["[2001:db8::5]:465", "-4"], "family", "2001:db8::5 is an IPv6 address, but -4"),
        (&["smtps://[2001:db8::5]", "--ipv4"], "family", "drop -4"),
    ];
    for (argv, want, says) in table {
        match plan_for(argv) {
            Ok(p) => panic!("{argv:?} planned {:?}", p.ports),
            Err(e) => {
                assert_eq!(kind(&e), *want, "{argv:?}: {e}");
                assert!(e.to_string().contains(says), "{argv:?}: {e}");
            }
        }
    }
    assert!(plan_for(&["203.0.113.5", "-4"]).is_ok());
    assert!(plan_for(&["h.test", "-6"]).is_ok());
}

#[test]
fn helo_is_left_to_the_probes_unless_given() {
    assert_eq!(plan_for(&["h.test"]).ok().map(|p| p.helo), Some(None));
    assert_eq!(
        plan_for(&["h.test", "--helo", " "]).ok().map(|p| p.helo),
        Some(None)
    );
    assert_eq!(
        plan_for(&["h.test", "--helo", "client.example.com"])
            .ok()
            .map(|p| p.helo),
        Some(Some("client.example.com".into()))
    );
}

#[test]
fn password_debug_is_redacted() {
    let c = Credentials::new("u".into(), "hunter2".into());
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn password_sources_in_order() {
    let mut input: &[u8] = b"from-stdin\n";
    let pw = read_password(
        true,
        PasswordSources {
            env: Some("from-env".into()),
            stdin: &mut input,
            stdin_is_terminal: false,
        },
    );
    assert_eq!(pw.ok().as_deref(), Some("from-stdin"));
    let mut empty: &[u8] = b"";
    let pw = read_password(
        false,
        PasswordSources {
            env: Some("from-env".into()),
            stdin: &mut empty,
            stdin_is_terminal: false,
        },
    );
    assert_eq!(pw.ok().as_deref(), Some("from-env"));
    let mut empty: &[u8] = b"";
    let pw = read_password(
        false,
        PasswordSources {
            env: None,
            stdin: &mut empty,
            stdin_is_terminal: false,
        },
    );
    assert!(matches!(pw, Err(PlanError::NoPassword)));
}

#[test]
fn as_user_is_looked_up_then_needs_root() {
    let unknown = plan_for(&["h.test", "--as-user", "no-such-user-sdtest"]).err();
    assert!(
        matches!(&unknown, Some(PlanError::NoSuchUser { name }) if name == "no-such-user-sdtest"),
        "{unknown:?}"
    );
    let text = unknown.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("no local user named 'no-such-user-sdtest'")
            && text.contains("`getent passwd no-such-user-sdtest`"),
        "{text}"
    );

    // Whoever runs the tests: the answer for a real account depends only on the flag given here.
    let refused = run_as::resolve("nobody", false).err();
    assert!(
        matches!(&refused, Some(PlanError::AsUserNeedsRoot { name }) if name == "nobody"),
        "{refused:?}"
    );
    let text = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.starts_with("--as-user needs root: run it with sudo")
            && text.contains("`sudo smtp-doctor check … --as-user nobody`"),
        "{text}"
    );
    let nobody = run_as::resolve("nobody", true);
    let Ok(nobody) = nobody else {
        panic!("nobody resolves: {nobody:?}");
    };
    assert_eq!(nobody.name, "nobody");
    assert_ne!(nobody.uid, 0);
    assert!(nobody.groups.contains(&nobody.gid), "{nobody:?}");
    // A uid names the same account.
    let by_uid = run_as::resolve(&nobody.uid.to_string(), true);
    assert_eq!(by_uid.ok(), Some(nobody));
}

#[test]
fn as_user_root_is_refused() {
    for given in ["root", "0"] {
        let r = run_as::resolve(given, true);
        assert!(
            matches!(&r, Err(PlanError::AsUserRoot { name }) if name == "root"),
            "{given}: {r:?}"
        );
    }
}

#[test]
fn no_as_user_means_no_switch() {
    let plan = plan_for(&["h.test"]);
    assert_eq!(plan.ok().map(|p| p.as_user), Some(None));
}
