//! Usage errors: exit status 2, a plain message, and never an echo of a password typed into argv.

use std::process::{Command, Stdio};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"));
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("SMTP_DOCTOR_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run smtp-doctor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_password_in_argv_is_refused_without_echo() {
    for args in [
        vec![
            "check",
            "localhost",
            "--user",
            "u",
            "--password",
            "Argv-S3cret",
        ],
        vec![
            "check",
            "localhost",
            "--user",
            "u",
            "--password=Argv-S3cret",
        ],
        vec!["check", "localhost", "--pass=Argv-S3cret"],
    ] {
        let (code, out, err) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            !out.contains("Argv-S3cret") && !err.contains("Argv-S3cret"),
            "echoed: {err}"
        );
        assert!(err.contains("SMTP_DOCTOR_PASSWORD"), "{err}");
    }
}

#[test]
fn usage_errors_exit_2_with_a_plain_message() {
    let (code, _, err) = run(&["check", "bad host name!"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("not a host name"), "{err}");

    let (code, _, err) = run(
        &["check", "localhost", "--ca-file", "/nonexistent/ca.pem"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the CA file"), "{err}");

    // stdin is not a terminal and nothing provides a password.
    let (code, _, err) = run(&["check", "localhost", "--user", "u"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("needs a password"), "{err}");

    let (code, _, err) = run(&["check", "localhost", "--timeout", "0"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("out of range"), "{err}");

    let (code, _, _) = run(&["check"], &[]);
    assert_eq!(code, 2);
}

#[test]
fn help_and_version_succeed() {
    let (code, out, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("smtp-doctor "));
    let (code, out, _) = run(&["check", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("--timeout"));
}

/// Runs the binary under `ulimit -n LIMIT` (soft and hard), through sh so the limit is the kernel's own.
fn run_with_nofile(limit: u32, args: &[&str]) -> (i32, String, String) {
    let script = format!("ulimit -n {limit} && exec \"$0\" \"$@\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_smtp-doctor"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run smtp-doctor under sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_too_low_file_limit_is_a_clear_error() {
    let (code, _, err) = run_with_nofile(40, &["check", "127.0.0.1", "-p", "9", "--timeout", "1"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("RLIMIT_NOFILE") && err.contains("ulimit -n"),
        "{err}"
    );
}

#[test]
fn a_tight_file_limit_throttles_instead_of_failing() {
    // Closed loopback ports: each chain ends at once with a refusal, so throttling costs nothing here.
    let ports: Vec<String> = (0..12)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port().to_string()
        })
        .collect();
    let mut args = vec!["check", "127.0.0.1", "--json", "--timeout", "1"];
    for p in &ports {
        args.push("-p");
        args.push(p);
    }
    let (code, out, err) = run_with_nofile(100, &args);
    assert_eq!(code, 1, "{err}");
    let report: smtp_doctor::output::document::JsonReport =
        serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report.ports.len(), 12);
    assert!(report.ports.iter().all(|p| p.attempts.len() == 1));
}

#[test]
fn pasted_addresses_that_cannot_be_probed_name_the_command_to_type() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["check", "h.test:abc"],
            "`smtp-doctor check h.test -p PORT`",
        ),
        (&["check", "imap://h.test"], "`smtp-doctor check h.test`"),
        (
            &["check", "smtp://h.test:587/foo"],
            "`smtp-doctor check smtp://h.test:587`",
        ),
        (&["check", "h.test:0"], "port 0"),
        (
            &["check", "smtps://h.test:587", "--mode", "starttls"],
            "`smtp-doctor check smtps://h.test:587`",
        ),
        (
            &["check", "203.0.113.5", "-6"],
            "203.0.113.5 is an IPv4 address, but -6",
        ),
        (
            &["check", "[2001:db8::5]:465", "-4"],
            "2001:db8::5 is an IPv6 address, but -4",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = run(args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.starts_with("smtp-doctor: ") && err.contains(says),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_password_in_a_url_is_refused_without_echo() {
    for (args, fix) in [
        (
            vec!["check", "smtp://app%40example.com:Url-S3cret@h.test:587"],
            "`smtp-doctor check smtp://h.test:587 --user app@example.com`",
        ),
        (
            vec![
                "check",
                "smtps://u:Url-S3cret@[2001:db8::5]",
                "--json",
                "-v",
            ],
            "`smtp-doctor check 'smtps://[2001:db8::5]' --user u`",
        ),
        (
            vec!["check", "u:Url-S3cret@h.test:465"],
            "`smtp-doctor check h.test:465 --user u`",
        ),
        (
            vec!["check", "https://u:Url-S3cret@h.test/"],
            "`smtp-doctor check h.test`",
        ),
    ] {
        let (code, out, err) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            !out.contains("S3cret") && !err.contains("S3cret"),
            "echoed: {err}"
        );
        assert!(err.contains(fix), "{args:?}: {err}");
    }
}

/// Whitespace folded to single spaces, so clap's line wrapping does not matter.
fn folded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn check_help_lists_every_exit_status() {
    let (code, out, _) = run(&["check", "--help"], &[]);
    assert_eq!(code, 0);
    let help = folded(&out);
    assert!(help.contains("Exit status:"), "{out}");
    for (status, meaning) in smtp_doctor::exit::TABLE {
        let line = folded(&format!("{status} {meaning}"));
        assert!(
            help.contains(&line),
            "check --help lacks exit status {status}:\n{out}"
        );
    }
}

/// The README's table rows that start with a number, between the heading `from` and the next line starting `until`.
fn readme_rows(from: &str, until: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let section = readme
        .split(&format!("\n{from}\n"))
        .nth(1)
        .and_then(|rest| rest.split(&format!("\n{until}")).next())
        .unwrap_or_else(|| panic!("README.md has no section {from:?}"))
        .to_string();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_exit_status_table_matches() {
    let rows = readme_rows("## Exit status", "## ");
    let want: Vec<String> = smtp_doctor::exit::TABLE
        .iter()
        .map(|(status, meaning)| smtp_doctor::exit::readme_row(*status, meaning))
        .collect();
    assert_eq!(
        rows, want,
        "README.md's exit status rows differ from src/exit.rs"
    );
}

/// Whether this is a CI run (`CI=true`), where a missing prerequisite fails a test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs the binary as `nobody` (root runs it through setpriv, from a copy nobody may execute); None when that
/// cannot be arranged here, after saying why.
fn run_as_nobody(args: &[&str]) -> Option<(i32, String, String)> {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        return Some(run(args, &[]));
    }
    let missing = |why: String| {
        assert!(!in_ci(), "CI runs as root and must run this test: {why}");
        println!("skipped: {why}");
        None
    };
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        return missing("this host has no user named nobody".into());
    };
    // The build directory may sit below one only root may enter (a CI clone under /root).
    let dir = tempfile::Builder::new()
        .prefix("smtp-doctor-cli-")
        .tempdir()
        .expect("a temporary directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the directory to nobody");
    let copy = dir.path().join("smtp-doctor");
    // Copied by another process: a write descriptor held in this multi-threaded harness would leak into a
    // sibling test's fork and make the exec fail with ETXTBSY.
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_smtp-doctor"))
        .arg(&copy)
        .status()
        .expect("run cp");
    assert!(copied.success(), "copy the binary");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .expect("make the copy executable");
    let out = Command::new("setpriv")
        .arg(format!("--reuid={}", nobody.uid))
        .arg(format!("--regid={}", nobody.gid))
        .arg("--clear-groups")
        .arg(&copy)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("SMTP_DOCTOR_PASSWORD")
        .output();
    match out {
        Ok(out) => Some((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Err(e) => missing(format!("cannot run setpriv (util-linux): {e}")),
    }
}

#[test]
fn as_user_without_root_is_a_usage_error() {
    let Some((code, out, err)) = run_as_nobody(&["check", "127.0.0.1", "--as-user", "nobody"])
    else {
        return;
    };
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("smtp-doctor: --as-user needs root: run it with sudo")
            && err.contains("`sudo smtp-doctor check … --as-user nobody`"),
        "{err}"
    );
}

#[test]
fn as_user_of_an_unknown_user_is_a_usage_error() {
    let (code, out, err) = run(
        &["check", "127.0.0.1", "--as-user", "no-such-user-sdtest"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(
            "no local user named 'no-such-user-sdtest': check the name with `getent passwd no-such-user-sdtest`"
        ),
        "{err}"
    );
    let (code, _, err) = run(&["check", "127.0.0.1", "--as-user", "root"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("names root (uid 0)"), "{err}");
}

#[test]
fn mta_usage_errors_exit_2_naming_the_flag() {
    let (code, _, err) = run(&["mta", "--postfix-config", "/nonexistent/postfix"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no main.cf") && err.contains("postconf -c"),
        "{err}"
    );
    let (code, _, err) = run(&["mta", "--to", "Someone <a@b"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--to") && err.contains("not an email address"),
        "{err}"
    );
    let (code, _, err) = run(&["mta", "--timeout", "0"], &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn mta_help_lists_every_exit_status() {
    let (code, out, _) = run(&["mta", "--help"], &[]);
    assert_eq!(code, 0);
    for (status, _) in smtp_doctor::exit::TABLE {
        assert!(
            out.contains(&format!("  {status}  ")),
            "mta --help lacks exit status {status}"
        );
    }
}
fn env_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut f, text.as_bytes()).expect("write the env file");
    f
}

#[test]
fn env_file_usage_errors_exit_2_with_a_plain_message() {
    let settings =
        env_file("MAIL_MAILER=smtp\nMAIL_HOST=127.0.0.1\nMAIL_PORT=1\nMAIL_PASSWORD=Env-S3cret\n");
    let path = settings.path().to_string_lossy().into_owned();
    let no_mail = env_file("APP_NAME=x\nDB_PASSWORD=Env-S3cret\n");
    let no_mail_path = no_mail.path().to_string_lossy().into_owned();
    let dsn = env_file("MAILER_DSN=\"smtp://u:Env-S3cret@h.example\n");
    let dsn_path = dsn.path().to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["check", "--env-file", "/nonexistent/.env"],
            "cannot read the env file /nonexistent/.env",
        ),
        (
            vec!["check", "--env-file", &no_mail_path],
            "holds none of the mail settings",
        ),
        (
            vec!["check", "--env-file", &path, "localhost"],
            "HOST ('localhost') cannot be given",
        ),
        (
            vec!["check", "--env-file", &path, "-p", "587"],
            "so -p cannot be given",
        ),
        (
            vec!["check", "--env-file", &path, "--mode", "implicit"],
            "so --mode cannot be given",
        ),
        (
            vec!["check", "--env-file", &path, "--user", "u"],
            "so --user cannot be given",
        ),
        (vec!["check", "--env-file", &dsn_path], "MAILER_DSN"),
        (
            vec!["check", "localhost", "--to", "a@example.com"],
            "--to needs a sender",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = run(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("S3cret") && !out.contains("S3cret"), "{err}");
    }
}

/// SMTP_DOCTOR_PORTS and friends in the environment are left aside: the file decides, and nobody must unset them first.
#[test]
fn env_file_ignores_flags_from_the_environment() {
    let settings = env_file("SMTP_HOST=127.0.0.1\nSMTP_PORT=1\n");
    let path = settings.path().to_string_lossy().into_owned();
    let (code, out, err) = run(
        &["check", "--env-file", &path, "--json", "--timeout", "2"],
        &[
            ("SMTP_DOCTOR_PORTS", "25,465"),
            ("SMTP_DOCTOR_MODE", "implicit"),
            ("SMTP_DOCTOR_USER", "someone"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    let ports: Vec<u64> = doc["ports"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["port"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ports, vec![1]);
    assert_eq!(doc["ports"][0]["mode"], "starttls");
    assert_eq!(doc["settings"]["framework"], "node_smtp");
    assert_eq!(doc["verdict"]["code"], "env_host_is_this_host");
}

/// Asserts a plugin's UNKNOWN: exit 3, `SMTP UNKNOWN - ` first on stdout (where Nagios reads it), `want` said.
fn assert_nagios_unknown(args: &[&str], code: i32, out: &str, want: &str) {
    assert_eq!(code, 3, "{args:?}: {out}");
    let first = out.lines().next().unwrap_or("");
    assert!(first.starts_with("SMTP UNKNOWN - "), "{args:?}: {out}");
    assert!(first.chars().count() <= 80, "{args:?}: {first}");
    assert!(!out.contains('|'), "{args:?}: {out}");
    assert!(
        folded(out).contains(want),
        "{args:?}: want {want:?} in {out}"
    );
}

#[test]
fn nagios_usage_errors_are_unknown_on_stdout() {
    for (args, want) in [
        (
            &[
                "check",
                "localhost",
                "--format",
                "nagios",
                "--warning",
                "abc",
            ][..],
            "--warning 'abc' is not a Nagios range",
        ),
        (
            &["check", "localhost", "--format", "nagios", "-c", "20:10"],
            "--critical '20:10' is not a Nagios range: its start is above its end",
        ),
        (
            &["check", "bad host name!", "--format", "nagios"],
            "not a host name",
        ),
        (
            &["check", "localhost", "--format=nagios", "--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
        (
            &[
                "check",
                "localhost",
                "--format",
                "nagios",
                "--cert-warning-days",
                "soon",
            ],
            "invalid value 'soon' for '--cert-warning-days <DAYS>'",
        ),
        (
            &["check", "localhost", "--format", "nagios", "--json"],
            "cannot be used with",
        ),
        (
            &[
                "mta",
                "--format",
                "nagios",
                "--postfix-config",
                "/nonexistent",
            ],
            "no main.cf",
        ),
    ] {
        let (code, out, err) = run(args, &[]);
        assert_nagios_unknown(args, code, &out, want);
        // People running it by hand still see the reason on stderr.
        assert!(!err.is_empty(), "{args:?}");
    }
}

#[test]
fn thresholds_without_the_nagios_format_are_refused() {
    for flag in [
        "--warning",
        "--critical",
        "--cert-warning-days",
        "--cert-critical-days",
    ] {
        for format in [&[][..], &["--json"], &["--format", "human"]] {
            let mut args = vec!["check", "localhost", flag, "5"];
            args.extend_from_slice(format);
            let (code, out, err) = run(&args, &[]);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: {out}");
            assert!(
                err.contains(&format!(
                    "{flag} is a threshold of the Nagios plugin output"
                )),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn json_is_short_for_format_json() {
    let (code, _, err) = run(&["check", "localhost", "--json", "--format", "json"], &[]);
    assert_eq!(code, 2, "both spellings at once are refused: {err}");
    let help = run(&["check", "--help"], &[]).1;
    assert!(
        folded(&help).contains("(short for --format json)"),
        "{help}"
    );
    assert!(folded(&help).contains("[default: human]"), "{help}");
}

#[test]
fn nagios_internal_failure_is_unknown_on_stdout() {
    let args = [
        "check",
        "127.0.0.1",
        "-p",
        "9",
        "--timeout",
        "1",
        "--format",
        "nagios",
    ];
    let (code, out, err) = run_with_nofile(40, &args);
    assert_nagios_unknown(&args, code, &out, "RLIMIT_NOFILE");
    assert!(err.contains("RLIMIT_NOFILE"), "{err}");
}

#[test]
fn the_readme_nagios_state_table_matches() {
    let rows = readme_rows("## Nagios / Icinga: --format nagios", "### Thresholds");
    let want: Vec<String> = smtp_doctor::exit::nagios::TABLE
        .iter()
        .map(|(code, state, meaning)| format!("| {code} | {state} | {meaning} |"))
        .collect();
    assert_eq!(
        rows, want,
        "README.md's Nagios states differ from src/exit.rs"
    );
}

#[test]
fn check_help_lists_the_nagios_states() {
    let (code, out, _) = run(&["check", "--help"], &[]);
    assert_eq!(code, 0);
    let help = folded(&out);
    for (status, state, meaning) in smtp_doctor::exit::nagios::TABLE {
        let line = folded(&format!("{status} {state}: {meaning}"));
        assert!(help.contains(&line), "check --help lacks {state}:\n{out}");
    }
}
