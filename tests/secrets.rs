//! The password never leaves: every output mode, every password source, a server that echoes it back, cleartext.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{run_doctor, AuthResult, Behaviour, Pki, Script, Server};

const USER: &str = "app@example.com";
const PASSWORD: &str = "Zq7-s3cret!pw";

/// Every form the password can take on the wire or in a careless log.
fn forms() -> Vec<String> {
    let mut v = vec![
        PASSWORD.to_string(),
        B64.encode(PASSWORD),
        B64.encode(PASSWORD).trim_end_matches('=').to_string(),
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        B64.encode(format!("{USER}\0{PASSWORD}")),
    ];
    // The password inside a longer base64 blob, at the two other alignments.
    for prefix in ["x", "xy"] {
        let enc = B64.encode(format!("{prefix}{PASSWORD}"));
        let skip = (prefix.len() * 8).div_ceil(6);
        let end = enc.trim_end_matches('=').len().saturating_sub(2);
        v.push(enc[skip..end].to_string());
    }
    v
}

fn assert_clean(what: &str, text: &str) {
    for f in forms() {
        assert!(
            !text.contains(f.as_str()),
            "{what}: holds the password as {f:?}"
        );
    }
}

const MODES: [&[&str]; 5] = [
    &["--color", "never"],
    &["--color", "always", "--verbose"],
    &["--verbose"],
    &["--json"],
    &["--format", "nagios"],
];

/// Whether `got` is the status `mode` gives for a run that exits `want` in the human and JSON formats: a plugin
/// says CRITICAL (2) for a diagnosed problem, UNKNOWN (3) for bad usage, and OK or WARNING for a clean run.
fn fits(mode: &[&str], want: i32, got: Option<i32>) -> bool {
    if !mode.contains(&"nagios") {
        return got == Some(want);
    }
    match want {
        0 => matches!(got, Some(0 | 1)),
        1 => got == Some(2),
        _ => got == Some(3),
    }
}

/// A server with STARTTLS that accepts AUTH PLAIN with exactly USER and PASSWORD.
fn login_server(pki: &Pki) -> Server {
    Server::start(Behaviour::Smtp(
        Script::new().starttls(pki.trusted.clone()).auth(
            &["PLAIN"],
            AuthResult::Check {
                user: USER.into(),
                password: PASSWORD.into(),
            },
        ),
    ))
}

fn base_args<'a>(port: &'a str, ca: &'a str, mode: &'a str) -> Vec<&'a str> {
    vec![
        "check",
        "localhost",
        "-4",
        "-p",
        port,
        "--mode",
        mode,
        "--timeout",
        "2",
        "--ca-file",
        ca,
        "--user",
        USER,
    ]
}

#[test]
fn every_output_mode_for_accepted_and_rejected_logins() {
    let pki = Pki::new();
    let ca = pki.ca_arg();
    for (result, want) in [
        (
            AuthResult::Check {
                user: USER.into(),
                password: PASSWORD.into(),
            },
            0,
        ),
        (
            AuthResult::Fixed("535 5.7.8 Authentication credentials invalid".into()),
            1,
        ),
    ] {
        for mechanism in ["PLAIN", "LOGIN"] {
            let server = Server::start(Behaviour::Smtp(
                Script::new()
                    .starttls(pki.trusted.clone())
                    .auth(&[mechanism], result.clone()),
            ));
            let port = server.port().to_string();
            for mode in MODES {
                let mut args = base_args(&port, &ca, "starttls");
                args.extend_from_slice(mode);
                let run = run_doctor(&args, Some(PASSWORD));
                assert!(
                    fits(mode, want, run.code),
                    "{mechanism} {mode:?}: {:?} {}",
                    run.code,
                    run.stderr
                );
                assert_clean(&format!("{mechanism} {mode:?} stdout"), &run.stdout);
                assert_clean(&format!("{mechanism} {mode:?} stderr"), &run.stderr);
            }
            assert!(
                !server.log().auth.is_empty(),
                "the server never saw the password: nothing was tested"
            );
        }
    }
}

/// A server that refuses AUTH PLAIN with a reply quoting the password, plainly and in base64.
fn echoing_server(pki: &Pki) -> Server {
    let echo = format!(
        "535-5.7.8 you sent {} which is wrong\r\n535 5.7.8 password {} / {} rejected",
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        PASSWORD,
        B64.encode(PASSWORD)
    );
    Server::start(Behaviour::Smtp(
        Script::new()
            .starttls(pki.trusted.clone())
            .auth(&["PLAIN"], AuthResult::Fixed(echo)),
    ))
}

#[test]
fn a_server_that_echoes_the_password_is_redacted() {
    let pki = Pki::new();
    let ca = pki.ca_arg();
    let server = echoing_server(&pki);
    let port = server.port().to_string();
    for mode in MODES {
        let mut args = base_args(&port, &ca, "starttls");
        args.extend_from_slice(mode);
        let run = run_doctor(&args, Some(PASSWORD));
        assert!(fits(mode, 1, run.code), "{mode:?}: {:?}", run.code);
        assert_clean(&format!("echo {mode:?} stdout"), &run.stdout);
        assert_clean(&format!("echo {mode:?} stderr"), &run.stderr);
        if mode.contains(&"--json") {
            assert!(
                run.stdout.contains("[redacted]"),
                "the echo was dropped, not redacted"
            );
        }
    }
}

#[test]
fn cleartext_is_refused_unless_asked_and_still_redacted() {
    let server = Server::start(Behaviour::Smtp(Script::new().auth(
        &["PLAIN"],
        AuthResult::Check {
            user: USER.into(),
            password: PASSWORD.into(),
        },
    )));
    let port = server.port().to_string();
    let args = [
        "check",
        "localhost",
        "-4",
        "-p",
        &port,
        "--mode",
        "starttls",
        "--timeout",
        "2",
        "--user",
        USER,
        "--json",
    ];
    let run = run_doctor(&args, Some(PASSWORD));
    assert_eq!(run.code, Some(1));
    assert!(
        server.log().auth.is_empty(),
        "the password went out in cleartext without being asked to"
    );
    assert_clean("refused stdout", &run.stdout);

    let mut loud = args.to_vec();
    loud.push("--danger-allow-cleartext-auth");
    loud.push("--verbose");
    loud.retain(|a| *a != "--json");
    let run = run_doctor(&loud, Some(PASSWORD));
    assert_eq!(
        server.log().auth.len(),
        1,
        "with the flag the password is sent"
    );
    assert_clean("cleartext verbose stdout", &run.stdout);
    assert_clean("cleartext verbose stderr", &run.stderr);
}

#[test]
fn password_from_stdin_is_used_and_never_shown() {
    let pki = Pki::new();
    let ca = pki.ca_arg();
    let server = login_server(&pki);
    let port = server.port().to_string();
    let mut args = base_args(&port, &ca, "starttls");
    args.extend_from_slice(&["--password-stdin", "--verbose"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-doctor"))
        .args(&args)
        .env_remove("SMTP_DOCTOR_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smtp-doctor");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write the password");
    }
    let out = child.wait_with_output().expect("wait for smtp-doctor");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean("stdin stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("stdin stderr", &String::from_utf8_lossy(&out.stderr));
}

#[test]
fn docs_never_show_a_password_in_argv() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in ["README.md", "man/smtp-doctor.1"] {
        let text = std::fs::read_to_string(root.join(rel)).expect("read doc");
        for (n, line) in text.lines().enumerate() {
            let flat = line.replace("\\-", "-");
            for (i, _) in flat.match_indices("--password") {
                let rest = &flat[i + "--password".len()..];
                assert!(
                    rest.starts_with("-stdin"),
                    "{rel}:{}: a password flag with a value: {line}",
                    n + 1
                );
            }
        }
    }
}

/// A Postfix instance directory whose relayhost is the scripted server and whose SASL map holds PASSWORD.
fn postfix_instance(port: u16, ca: &str) -> Option<tempfile::TempDir> {
    let postmap = ["/usr/sbin/postmap", "/usr/bin/postmap"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    std::path::Path::new("/usr/sbin/postconf")
        .exists()
        .then_some(())?;
    let dir = tempfile::Builder::new()
        .prefix("smtp-doctor-postfix-")
        .tempdir()
        .ok()?;
    let d = dir.path().display().to_string();
    let main_cf = format!(
        "relayhost = [localhost]:{port}\nsmtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = hash:{d}/sasl_passwd\n\
         smtp_sasl_security_options = noanonymous\nsmtp_tls_security_level = encrypt\nsmtp_tls_CAfile = {ca}\n\
         inet_protocols = ipv4\nqueue_directory = {d}/queue\n"
    );
    std::fs::write(dir.path().join("main.cf"), main_cf).ok()?;
    std::fs::write(
        dir.path().join("sasl_passwd"),
        format!("[localhost]:{port} {USER}:{PASSWORD}\n"),
    )
    .ok()?;
    let built = Command::new(postmap)
        .args(["-c", &d, &format!("hash:{d}/sasl_passwd")])
        .stdin(Stdio::null())
        .status()
        .ok()?;
    built.success().then_some(dir)
}

#[test]
fn the_password_of_an_mta_map_never_shows() {
    let pki = Pki::new();
    let ca = pki.ca_arg();
    // The relay echoes the password back in every form.
    let server = echoing_server(&pki);
    let Some(instance) = postfix_instance(server.port(), &ca) else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "postconf/postmap are needed (tests/lab/install-deps.sh installs postfix)"
        );
        eprintln!("skipped: no postconf/postmap here to build a Postfix map");
        return;
    };
    let dir = instance.path().display().to_string();
    for mode in MODES {
        let mut args = vec!["mta", "--postfix-config", &dir, "--timeout", "2"];
        args.extend_from_slice(mode);
        let run = run_doctor(&args, None);
        assert!(fits(mode, 1, run.code), "{mode:?}: {}", run.stderr);
        assert_clean(&format!("mta {mode:?} stdout"), &run.stdout);
        assert_clean(&format!("mta {mode:?} stderr"), &run.stderr);
        if mode.contains(&"--json") {
            assert!(
                run.stdout.contains("\"state\": \"found\""),
                "the map's entry was not found: {}",
                run.stdout
            );
        }
    }
    assert!(
        !server.log().auth.is_empty(),
        "the relay never saw the map's password: nothing was tested"
    );
}
/// An env file in a temporary directory, holding `text`.
fn settings_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(bytes).expect("write the env file");
    f
}

/// The password read from an env file never shows: not in any output mode, not in JSON, not in errors — also when
/// the file is malformed around it, or another key's value repeats it.
#[test]
fn an_env_file_password_never_shows() {
    let pki = Pki::new();
    let ca = pki.ca_arg();
    let mut accepted = 0;
    let mut logins = 0;
    let count = env_files(0).len();
    for i in 0..count {
        // A server of its own per file: a scripted server takes a few connections only.
        let server = login_server(&pki);
        let Some((bytes, want)) = env_files(server.port()).into_iter().nth(i) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let f = settings_file(&bytes);
        let path = f.path().to_string_lossy().into_owned();
        for mode in MODES {
            let mut args = vec![
                "check",
                "--env-file",
                &path,
                "-4",
                "--timeout",
                "2",
                "--ca-file",
                &ca,
            ];
            args.extend_from_slice(mode);
            let run = run_doctor(&args, None);
            assert!(
                fits(mode, want, run.code),
                "{text:?} {mode:?}: {:?} {}{}",
                run.code,
                run.stdout,
                run.stderr
            );
            assert_clean(&format!("{text:?} {mode:?} stdout"), &run.stdout);
            assert_clean(&format!("{text:?} {mode:?} stderr"), &run.stderr);
            if want == 0 {
                accepted += 1;
                assert!(
                    run.stdout.contains("set, not shown")
                        || mode.contains(&"--json")
                        || mode.contains(&"nagios")
                        || run.stdout.contains("[redacted]"),
                    "{}",
                    run.stdout
                );
            }
        }
        logins += server.log().auth.len();
    }
    assert_eq!(accepted, 3 * MODES.len());
    assert!(
        logins >= 3 * MODES.len(),
        "the server never saw the password from the file: nothing was tested"
    );
}

/// Env files for a server on `port`, each with the exit status it must give: three well-formed ones the server
/// accepts, then files broken around the password, a key that repeats it, and files that stop the run.
fn env_files(port: u16) -> Vec<(Vec<u8>, i32)> {
    let encoded = PASSWORD.replace('!', "%21");
    let user = USER.replace('@', "%40");
    let mut not_utf8 = format!(
        "SMTP_HOST=localhost\nSMTP_PORT={port}\nSMTP_USER={USER}\nSMTP_PASS=\"{PASSWORD}\\q"
    )
    .into_bytes();
    not_utf8.extend_from_slice(b"\xff\xfe\"\n");
    let texts = [
        (format!("SMTP_HOST=localhost\nSMTP_PORT={port}\nSMTP_SECURE=false\nSMTP_USER={USER}\nSMTP_PASS={PASSWORD}\n"), 0),
        (format!("MAIL_MAILER=smtp\nMAIL_HOST=localhost\nMAIL_PORT={port}\nMAIL_USERNAME={USER}\nMAIL_PASSWORD=\"{PASSWORD}\"\nMAIL_FROM_ADDRESS={USER}\n"), 0),
        (format!("MAILER_DSN=smtp://{user}:{encoded}@localhost:{port}\n"), 0),
        (format!("MAIL_MAILER=smtp\nMAIL_HOST=localhost\nMAIL_PORT={port}\nMAIL_USERNAME={USER}\nMAIL_PASSWORD='{PASSWORD}'\nMAIL_FROM_ADDRESS=\"${{MAIL_PASSWORD}}\"\n"), 1),
        (format!("EMAIL_HOST=localhost\nEMAIL_PORT={port}\nEMAIL_USE_TLS=True\nEMAIL_HOST_USER={USER}\nEMAIL_HOST_PASSWORD=\"{PASSWORD}\nDEFAULT_FROM_EMAIL={USER}\n"), 1),
        (format!("MAIL_MAILER=smtp\nMAIL_HOST=localhost\nMAIL_PORT={port}\nMAIL_USERNAME={USER}\nMAIL_PASSWORD=\"{PASSWORD}\" trailing\n"), 1),
        (format!("MAIL_MAILER=smtp\nMAIL_HOST=localhost\nMAIL_PORT={port}\nMAIL_USERNAME={USER}\nMAIL_PASSWORD={PASSWORD} and more\n"), 1),
        (format!("MAILER_DSN=\"smtp://{user}:{encoded}@localhost:{port}\n"), 2),
        (format!("MAILER_DSN={PASSWORD}\n"), 2),
    ];
    texts
        .into_iter()
        .map(|(t, code)| (t.into_bytes(), code))
        .chain([(not_utf8, 1)])
        .collect()
}
