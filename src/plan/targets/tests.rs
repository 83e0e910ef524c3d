//! The targets file: what it takes, and every error naming its line and key.

use std::path::Path;

use super::*;

fn parse_text(text: &str) -> Result<Vec<TargetSpec>, PlanError> {
    parse(Path::new("fleet.toml"), text)
}

/// The error's line and key, and its message.
fn error_of(text: &str) -> (Option<usize>, Option<String>, String) {
    match parse_text(text) {
        Err(e @ PlanError::TargetsFile { .. }) => {
            let message = e.to_string();
            match e {
                PlanError::TargetsFile { line, key, .. } => (line, key, message),
                _ => unreachable!("matched above"),
            }
        }
        other => panic!("want a targets file error, got {other:?}"),
    }
}

#[test]
fn a_full_target_is_read() {
    let text = r#"
# the shop's account
[[target]]
name = "shop"
host = "smtp.example.com"
ports = [587, 465, 587]
mode = "starttls"
user = "shop@example.com"
password_env = "SHOP_SMTP_PASSWORD"
from = "noreply@example.com"
to = ["me@example.net"]

[[target]]
host = "mail.example.org:2525"
"#;
    let t = parse_text(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].name.as_deref(), Some("shop"));
    assert_eq!(t[0].ports, Some(vec![587, 465]));
    assert_eq!(t[0].mode, Some(ModeChoice::Starttls));
    assert_eq!(
        t[0].login,
        Some(Login {
            user: "shop@example.com".into(),
            password_env: "SHOP_SMTP_PASSWORD".into()
        })
    );
    assert_eq!(
        t[0].from.as_ref().map(|a| a.to_string()).as_deref(),
        Some("noreply@example.com")
    );
    assert_eq!(t[0].to.len(), 1);
    assert_eq!(t[0].lines.table, 3);
    assert_eq!(t[0].lines.host, 5);
    assert_eq!(t[1].input.port, Some(2525));
    assert_eq!(t[1].name, None);
    assert_eq!(t[1].lines.table, 13);
}

#[test]
fn each_error_names_the_file_line_and_key() {
    // (text, line, key, words the message must hold)
    let cases: &[(&str, usize, &str, &str)] = &[
        ("[[target]]\nhost = \"a.example\"\nfoo = 1\n", 3, "foo", "unknown key"),
        ("[[target]]\nhost = \"a.example\"\nports = [1, \"x\"]\n", 3, "ports", "list of numbers"),
        ("[[target]]\nhost = \"a.example\"\nports = [\n  25,\n  \"x\",\n]\n", 5, "ports", "list of numbers"),
        ("[[target]]\nhost = 5\n", 2, "host", "double quotes"),
        ("[[target]]\nports = [1]\n", 1, "host", "has no host"),
        ("[[target]]\nhost = \"a.example\"\nhost = \"b.example\"\n", 3, "host", "duplicate"),
        ("[[target]]\nhost = \"a.example\"\nports = [0]\n", 3, "ports", "not a port"),
        ("[[target]]\nhost = \"a.example\"\nports = [70000]\n", 3, "ports", "not a port"),
        ("[[target]]\nhost = \"a.example\"\nports = []\n", 3, "ports", "empty"),
        ("[[target]]\nhost = \"a.example\"\nmode = \"tls\"\n", 3, "mode", "starttls, implicit or detect"),
        ("[[target]]\nhost = \"bad host!\"\n", 2, "host", "not a host name"),
        ("[[target]]\nhost = \"a.example\"\nuser = \"u\"\n", 3, "user", "password_env"),
        ("[[target]]\nhost = \"a.example\"\npassword_env = \"P\"\n", 3, "password_env", "needs a user"),
        ("[[target]]\nhost = \"a.example\"\nuser = \"u\"\npassword_env = \"1BAD\"\n", 4, "password_env", "NAME of an environment variable"),
        ("[[target]]\nhost = \"a.example\"\nfrom = \"nobody\"\n", 3, "from", "not an email address"),
        ("[[target]]\nhost = \"a.example\"\nto = \"me@example.net\"\n", 3, "to", "list of addresses"),
        ("[[target]]\nhost = \"a.example\"\nto = [\"x\"]\n", 3, "to", "not an email address"),
        ("[[target]]\nhost = \"a.example\"\nport = 587\n", 3, "port", "ports = [587]"),
        ("[[target]]\nhost = \"a.example\"\nname = \"\"\n", 3, "name", "empty"),
        ("[[target]]\nhost = \"a.example\"\nname = \"a\"\n[[target]]\nhost = \"b.example\"\nname = \"a\"\n", 4, "name", "line 1"),
        ("[[target]]\nhost = \"smtp://u:pw@a.example\"\n", 2, "host", "password_env"),
    ];
    for (text, line, key, words) in cases {
        let (got_line, got_key, message) = error_of(text);
        assert_eq!(got_line, Some(*line), "{text:?}: {message}");
        assert_eq!(got_key.as_deref(), Some(*key), "{text:?}: {message}");
        assert!(message.contains(words), "{text:?}: {message}");
        assert!(
            message.starts_with("the targets file fleet.toml, line "),
            "{message}"
        );
    }
}

#[test]
fn a_password_is_refused_and_never_repeated() {
    for text in [
        "[[target]]\nhost = \"a.example\"\npassword = \"Hunter2-S3cret\"\n",
        "[[target]]\nhost = \"a.example\"\nuser = \"u\"\npassword_env = \"Hunter2-S3cret\"\n",
        "[[target]]\nhost = \"smtp://u:Hunter2-S3cret@a.example\"\n",
    ] {
        let (_, _, message) = error_of(text);
        assert!(!message.contains("Hunter2-S3cret"), "{message}");
        assert!(message.contains("password_env"), "{message}");
    }
}

#[test]
fn syntax_errors_name_the_line() {
    let (line, key, message) = error_of("[[target]\nhost = \"a\"\n");
    assert_eq!(line, Some(1), "{message}");
    assert_eq!(key, None);
    let (line, key, _) = error_of("[[target]]\nhost = \"a.example\nports = [1]\n");
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("host"));
    let (line, _, message) = error_of("target = 3\n");
    assert_eq!(line, Some(1));
    assert!(message.contains("[[target]]"), "{message}");
}

#[test]
fn a_file_without_targets_says_how_to_write_one() {
    for text in ["", "# nothing\n"] {
        let (line, _, message) = error_of(text);
        assert_eq!(line, None);
        assert!(message.contains("[[target]]"), "{message}");
    }
}

#[test]
fn an_unreadable_or_binary_file_is_a_plain_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("none.toml");
    assert!(matches!(
        load(&missing),
        Err(PlanError::TargetsFileRead { .. })
    ));
    let binary = dir.path().join("bin.toml");
    std::fs::write(&binary, b"[[target]]\nhost = \"a\xff\"\n").unwrap_or_else(|e| panic!("{e}"));
    match load(&binary) {
        Err(PlanError::TargetsFile { line: Some(2), .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// Arbitrary bytes never panic the parser (the file is user input).
#[test]
fn arbitrary_text_never_panics() {
    let seeds = [
        "[[target]]\nhost = \"a\"\n",
        "[[target]]\nhost = \"[::1]:25\"\nports = [1, 2]\nto = [\"a@b.c\"]\n",
        "[target]\nhost = 1\n",
        "\u{feff}[[target]]\r\nhost = \"a\"\r\n",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for seed in seeds {
        for _ in 0..400 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % bytes.len().max(1);
                let byte = (state >> 32) as u8;
                match state % 3 {
                    0 => bytes.insert(at, byte),
                    1 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = byte;
                        }
                    }
                }
            }
            if let Ok(text) = String::from_utf8(bytes) {
                let _ = parse_text(&text);
            }
        }
    }
}
