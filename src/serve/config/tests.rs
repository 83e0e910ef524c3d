//! The config file: what a good one yields, and that every mistake names the file, its line and its key.

use std::path::Path;

use super::{parse, Config, ConfigError, DEFAULT_TIMEOUT};
use crate::cli::ModeChoice;
use crate::plan::Family;

const FILE: &str = "/etc/smtp-doctor/serve.toml";

fn env(name: &str) -> Option<String> {
    match name {
        "SMTP_PW_APP" | "SMTP_PASSWORD_APP" => Some("s3cret pass".into()),
        "EMPTY_PW" => Some(String::new()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new(FILE), &env)
}

/// The error's one line, which must name the file, the line and the key.
fn error(text: &str) -> (usize, String, String) {
    match load(text) {
        Err(ConfigError::At {
            path,
            line,
            key,
            message,
        }) => {
            assert_eq!(path, Path::new(FILE));
            let shown = ConfigError::At {
                path,
                line,
                key: key.clone(),
                message: message.clone(),
            }
            .to_string();
            assert!(
                shown.starts_with(&format!("{FILE}:{line}: {key}: ")),
                "{shown}"
            );
            assert!(!shown.contains('\n'), "not one line: {shown}");
            (line, key, message)
        }
        Err(other) => panic!("expected an error at a line, got {other}"),
        Ok(_) => panic!("expected an error for:\n{text}"),
    }
}

const GOOD: &str = r#"
# Submission with a login and the app's sender.
[modules.submission]
ports = [587, 465]
mode = "starttls"
user = "app@example.com"
password_env = "SMTP_PW_APP"
from = "app@example.com"
to = ["postmaster@example.net"]
timeout = 8.5
family = "ipv4"
helo = "monitor.example.com"
resolver = "192.0.2.53"

[modules.smtp]
ports = [25]
"#;

#[test]
fn a_good_file_gives_its_modules() {
    let config = match load(GOOD) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let names: Vec<&str> = config.modules.keys().map(String::as_str).collect();
    assert_eq!(names, ["smtp", "submission"]);
    let Some(m) = config.modules.get("submission") else {
        panic!("no submission module");
    };
    assert_eq!(m.ports, [587, 465]);
    assert_eq!(m.mode, Some(ModeChoice::Starttls));
    let Some(c) = &m.credentials else {
        panic!("no credentials");
    };
    assert_eq!(c.user, "app@example.com");
    assert_eq!(c.password(), "s3cret pass");
    let Some(e) = &m.envelope else {
        panic!("no envelope");
    };
    assert_eq!(e.from.to_string(), "app@example.com");
    assert_eq!(e.to.len(), 1);
    assert!(!e.send, "the exporter never sends a message");
    assert_eq!(m.timeout.as_secs_f64(), 8.5);
    assert_eq!(m.options.family, Family::V4);
    assert_eq!(m.options.helo.as_deref(), Some("monitor.example.com"));
    assert!(m.options.resolver.is_some());
    let Some(smtp) = config.modules.get("smtp") else {
        panic!("no smtp module");
    };
    assert_eq!(smtp.timeout.as_secs_f64(), DEFAULT_TIMEOUT);
    assert!(smtp.credentials.is_none() && smtp.envelope.is_none());
    // The password never shows in the module's Debug form.
    assert!(!format!("{config:?}").contains("s3cret"));
}

#[test]
fn a_password_in_the_file_is_refused_with_the_way_to_give_it() {
    let (line, key, message) = error("[modules.a]\nuser = \"u\"\npassword = \"hunter2\"\n");
    assert_eq!((line, key.as_str()), (3, "modules.a.password"));
    assert!(message.contains("password_env"), "{message}");
    assert!(!message.contains("hunter2"));
}

#[test]
fn unknown_keys_and_bad_types_name_their_line_and_key() {
    let (line, key, message) = error("[modules.a]\nports = [587]\nprots = [25]\n");
    assert_eq!((line, key.as_str()), (3, "modules.a.prots"));
    assert!(message.contains("prots"), "{message}");
    let (line, key, _) = error("[modules.a]\n\nports = [70000]\n");
    assert_eq!((line, key.as_str()), (3, "modules.a.ports"));
    let (line, key, _) = error("[modules.a]\nports = \"587\"\n");
    assert_eq!((line, key.as_str()), (2, "modules.a.ports"));
    let (line, key, message) = error("[modules.a]\nmode = \"tls\"\n");
    assert_eq!((line, key.as_str()), (2, "modules.a.mode"));
    assert!(message.contains("starttls"), "{message}");
    let (line, key, _) = error("listen = \"0.0.0.0:1\"\n[modules.a]\n");
    assert_eq!((line, key.as_str()), (1, "listen"));
}

#[test]
fn checked_values_name_their_line_and_key() {
    let cases: &[(&str, usize, &str, &str)] = &[
        ("[modules.a]\nports = []\n", 2, "modules.a.ports", "empty"),
        ("[modules.a]\nports = [0]\n", 2, "modules.a.ports", "port 0"),
        (
            "[modules.a]\nuser = \"u\"\n",
            2,
            "modules.a.user",
            "password_env",
        ),
        (
            "[modules.a]\npassword_env = \"SMTP_PW_APP\"\n",
            2,
            "modules.a.password_env",
            "needs user",
        ),
        (
            "[modules.a]\nuser = \"u\"\npassword_env = \"NOT_SET\"\n",
            3,
            "modules.a.password_env",
            "NOT_SET is not set",
        ),
        (
            "[modules.a]\nuser = \"u\"\npassword_env = \"EMPTY_PW\"\n",
            3,
            "modules.a.password_env",
            "not set (or empty)",
        ),
        (
            "[modules.a]\nuser = \"u\"\npassword_env = \"1BAD\"\n",
            3,
            "modules.a.password_env",
            "not an environment variable name",
        ),
        (
            "[modules.a]\nfrom = \"not an address\"\n",
            2,
            "modules.a.from",
            "not an email address",
        ),
        (
            "[modules.a]\nfrom = \"a@example.com\"\nto = [\"nope\"]\n",
            3,
            "modules.a.to",
            "'nope'",
        ),
        (
            "[modules.a]\nto = [\"b@example.com\"]\n",
            2,
            "modules.a.to",
            "needs from",
        ),
        (
            "[modules.a]\ntimeout = 0\n",
            2,
            "modules.a.timeout",
            "out of range",
        ),
        (
            "[modules.a]\ntimeout = 601\n",
            2,
            "modules.a.timeout",
            "out of range",
        ),
        ("[modules.a]\nhelo = \" \"\n", 2, "modules.a.helo", "empty"),
        (
            "[modules.a]\nca_file = \"/nonexistent/ca.pem\"\n",
            2,
            "modules.a.ca_file",
            "/nonexistent/ca.pem",
        ),
        (
            "[modules.\"a b\"]\nports = [25]\n",
            1,
            "modules.a b",
            "module name",
        ),
    ];
    for (text, want_line, want_key, want_words) in cases {
        let (line, key, message) = error(text);
        assert_eq!(
            (line, key.as_str()),
            (*want_line, *want_key),
            "for {text:?}: {message}"
        );
        assert!(
            message.contains(want_words),
            "for {text:?}: {message:?} lacks {want_words:?}"
        );
    }
}

#[test]
fn a_file_without_modules_or_not_toml_is_refused() {
    match load("# nothing here\n") {
        Err(e @ ConfigError::File { .. }) => {
            assert!(e.to_string().contains("no module"), "{e}")
        }
        other => panic!("expected a file error, got {other:?}"),
    }
    let (line, _, _) = error("[modules.a]\nports = [587\n");
    assert!(line >= 2);
}

#[test]
fn an_unreadable_file_is_named() {
    match super::load(Path::new("/nonexistent/serve.toml"), &env) {
        Err(e @ ConfigError::Read { .. }) => {
            assert!(e.to_string().contains("/nonexistent/serve.toml"), "{e}")
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn arbitrary_text_never_panics() {
    let samples = [
        "",
        "[",
        "[[modules]]",
        "[modules]\na = 1",
        "[modules.a]\nports = [1, -1]",
        "[modules.a]\nresolver = \"x\"",
        "\u{0}\u{1}",
        "[modules.a]\ntimeout = nan",
        "[modules.a]\ntimeout = inf",
        "modules = 3",
        "[modules.a.b]\nc = 1",
    ];
    for text in samples {
        let _ = load(text);
    }
}

#[test]
fn the_readme_example_is_a_good_file() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("### The config file (TOML)")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .unwrap_or_default();
    assert!(
        section.contains("[modules.submission]"),
        "README example not found"
    );
    // The example's CA file is the reader's; the rest must load as written.
    let text: String = section
        .lines()
        .filter(|l| !l.starts_with("ca_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    match load(&text) {
        Ok(c) => assert_eq!(c.modules.len(), 2),
        Err(e) => panic!("the README's example: {e}"),
    }
}
