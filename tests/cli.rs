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
