//! Table tests of the env-file reader: the dotenv rules per loader, each framework's mapping, the checks, and odd bytes.

use std::path::Path;

use super::checks::{bool_word, from_address, host, leading_digits, port_number};
use super::dsn::parse_dsn;
use super::frameworks::{from_bytes, Loaded};
use super::{parse, Dialect};
use crate::plan::PlanError;
use crate::report::settings::{
    Framework, HostTypo, LoginPart, MailerDestination, PortFallback, ProblemKind, Quoting,
    SettingsNote, Syntax,
};
use crate::report::PortMode;

use Dialect::{Node, Php, Python, Symfony};

const ALL: [Dialect; 4] = [Php, Node, Python, Symfony];

fn no_env(_: &str) -> Option<String> {
    None
}

/// The value of `key` after parsing `text` with `dialect` (the process environment holds HOME_X=e).
fn value(dialect: Dialect, text: &str, key: &str) -> Result<String, Syntax> {
    let env = |k: &str| (k == "HOME_X").then(|| "e".to_string());
    let parsed = parse(text.as_bytes(), dialect, &env);
    match parsed.last(key) {
        Some(e) => e.value.clone().map(|v| v.text().to_string()),
        None => Err(Syntax::BadName),
    }
}

#[test]
fn dotenv_rules_every_loader_shares() {
    let table: &[(&str, &str)] = &[
        ("K=value", "value"),
        ("export K=value", "value"),
        ("export   K=value", "value"),
        ("  K = value  ", "value"),
        ("K=", ""),
        ("K=\"a b\"", "a b"),
        ("K='a b'", "a b"),
        // Single quotes are literal: no expansion, no escapes.
        ("A=1\nK='x ${A} \\n'", "x ${A} \\n"),
        ("K=pass #comment", "pass"),
        ("K=\"x\" # comment", "x"),
        ("K='x'   ", "x"),
        ("# a comment\n\n   \nK=v", "v"),
        ("K=1\r\nJ=2\r\n", "1"),
        ("K=old\nK=new", "new"),
        ("A=1\nK=${A}2", "12"),
        ("A=1\nK=\"${A} and ${A}\"", "1 and 1"),
        ("K=${HOME_X}", "e"),
        // A later definition is not seen by an earlier line.
        ("K=${B}x\nB=1", "x"),
        ("\u{feff}K=bom", "bom"),
        ("K=\"line1\nline2\"", "line1\nline2"),
        ("K=a=b=c", "a=b=c"),
    ];
    for (text, want) in table {
        for d in ALL {
            let want: &str = if *text == "K=${B}x\nB=1" && d == Php {
                // phpdotenv leaves what it cannot resolve as written.
                "${B}x"
            } else {
                want
            };
            assert_eq!(value(d, text, "K").as_deref(), Ok(want), "{d:?} {text:?}");
        }
    }
}

#[test]
fn dotenv_rules_where_loaders_differ() {
    type Row<'a> = (&'a str, [Result<&'a str, Syntax>; 4]);
    // Php, Node, Python, Symfony.
    let table: &[Row] = &[
        // phpdotenv and Node's dotenv end a value at any #; python-dotenv and symfony/dotenv only after a blank.
        (
            "K=pass#word",
            [Ok("pass"), Ok("pass"), Ok("pass#word"), Ok("pass#word")],
        ),
        ("K=#x", [Ok(""), Ok(""), Ok("#x"), Ok("")]),
        // An unquoted value with a space inside: phpdotenv and symfony/dotenv refuse it.
        (
            "K=a b",
            [
                Err(Syntax::SpaceInValue),
                Ok("a b"),
                Ok("a b"),
                Err(Syntax::SpaceInValue),
            ],
        ),
        // $NAME without braces.
        (
            "A=1\nK=$A-x",
            [Ok("$A-x"), Ok("1-x"), Ok("$A-x"), Ok("1-x")],
        ),
        // ${NAME:-default}: phpdotenv does not know it.
        (
            "K=${NOPE:-d}",
            [Ok("${NOPE:-d}"), Ok("d"), Ok("d"), Ok("d")],
        ),
        ("K=${NOPE}", [Ok("${NOPE}"), Ok(""), Ok(""), Ok("")]),
        // Escapes in double quotes.
        (
            r#"K="a\"b""#,
            [Ok("a\"b"), Ok(r#"a\"b"#), Ok("a\"b"), Ok("a\"b")],
        ),
        (
            r#"K="a\nb""#,
            [Ok("a\nb"), Ok("a\nb"), Ok("a\nb"), Ok("a\nb")],
        ),
        (
            r#"K="a\tb""#,
            [Ok("a\tb"), Ok(r"a\tb"), Ok("a\tb"), Ok(r"a\tb")],
        ),
        (
            r#"K="a\qb""#,
            [
                Err(Syntax::BadEscape),
                Ok(r"a\qb"),
                Ok(r"a\qb"),
                Ok(r"a\qb"),
            ],
        ),
        (
            r#"K="\${HOME_X}""#,
            [Ok("${HOME_X}"), Ok("${HOME_X}"), Ok(r"\e"), Ok("${HOME_X}")],
        ),
        (
            r#"K="a\\b""#,
            [Ok(r"a\b"), Ok(r"a\\b"), Ok(r"a\b"), Ok(r"a\b")],
        ),
    ];
    for (text, wants) in table {
        for (d, want) in ALL.iter().zip(wants) {
            let got = value(*d, text, "K");
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{d:?} {text:?}");
        }
    }
}

#[test]
fn unreadable_lines_keep_their_key_and_line_and_spare_the_next() {
    let text = "A=1\nP=\"abc\nH=host.example\nQ='x' y\nnot a line\n1BAD=x\nLONE\nR=\"ok\"\n";
    let parsed = parse(text.as_bytes(), Node, &no_env);
    let p = parsed.last("P").map(|e| (e.line, e.value.clone().err()));
    assert_eq!(p, Some((2, Some(Syntax::TextAfterQuote))), "{parsed:?}");
    assert_eq!(value(Node, text, "H").as_deref(), Ok("host.example"));
    assert_eq!(
        parsed.last("Q").map(|e| e.value.clone().err()),
        Some(Some(Syntax::TextAfterQuote))
    );
    assert_eq!(value(Node, text, "R").as_deref(), Ok("ok"));
    let bad: Vec<(Option<&str>, usize, Syntax)> = parsed
        .unreadable
        .iter()
        .map(|u| (u.key.as_deref(), u.line, u.syntax))
        .collect();
    assert_eq!(
        bad,
        vec![
            (Some("not"), 5, Syntax::NoEquals),
            (None, 6, Syntax::BadName),
            (Some("LONE"), 7, Syntax::NoEquals)
        ]
    );
    // A quote never closed anywhere.
    let open = parse(b"A=1\nP='abc\nH=h", Php, &no_env);
    assert_eq!(
        open.last("P").map(|e| e.value.clone().err()),
        Some(Some(Syntax::UnterminatedQuote))
    );
    assert_eq!(open.last("H").map(|e| e.line), Some(3));
}

#[test]
fn line_numbers_count_every_kind_of_line_break() {
    let parsed = parse(b"A=1\r\nB=\"x\ny\"\rC=3\n\nD=4", Php, &no_env);
    let lines: Vec<(&str, usize)> = parsed
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.line))
        .collect();
    assert_eq!(lines, vec![("A", 1), ("B", 2), ("C", 4), ("D", 6)]);
    let quoting: Vec<Quoting> = parsed.entries.iter().map(|e| e.quoting).collect();
    assert_eq!(
        quoting,
        vec![Quoting::None, Quoting::Double, Quoting::None, Quoting::None]
    );
}

#[test]
fn bytes_that_are_not_utf8_spoil_only_their_line() {
    let parsed = parse(b"A=1\nP=ab\xff\xfecd\nH=h\n", Python, &no_env);
    assert_eq!(
        parsed.last("P").map(|e| e.value.clone().err()),
        Some(Some(Syntax::NotUtf8))
    );
    assert_eq!(value(Python, "A=1\nH=h", "H").as_deref(), Ok("h"));
    assert!(parsed.last("H").is_some_and(|e| e.value.is_ok()));
}

/// Odd bytes, huge lines and thousands of open quotes: no panic, and no time spent rescanning the file.
#[test]
fn any_bytes_parse_without_panic_and_fast() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"AK_=\"'\\$#{}:- \t\r\nxy0\xff\xc3";
    for _ in 0..300 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        for d in ALL {
            let _ = parse(&bytes, d, &no_env);
        }
        let _ = from_bytes(Path::new("fuzz.env"), &bytes, &no_env);
        let mut with_keys = b"MAIL_HOST=".to_vec();
        with_keys.extend_from_slice(&bytes);
        let _ = from_bytes(Path::new("fuzz.env"), &with_keys, &no_env);
        let mut dsn = b"MAILER_DSN=".to_vec();
        dsn.extend_from_slice(&bytes);
        let _ = from_bytes(Path::new("fuzz.env"), &dsn, &no_env);
    }
    let start = std::time::Instant::now();
    let huge = format!("MAIL_HOST={}\n", "h".repeat(500_000));
    let _ = from_bytes(Path::new("huge.env"), huge.as_bytes(), &no_env);
    let quotes = "K=\"\n".repeat(50_000) + "K=\"x\" y\n";
    let _ = parse(quotes.as_bytes(), Php, &no_env);
    let singles = "K='\n".repeat(50_000);
    let _ = parse(singles.as_bytes(), Node, &no_env);
    let backslashes = format!("K=\"{}", "\\".repeat(200_000));
    let _ = parse(backslashes.as_bytes(), Python, &no_env);
    let dollars = format!("K=\"{}\"", "${".repeat(100_000));
    let _ = parse(dollars.as_bytes(), Node, &no_env);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_value_never_shows_in_debug() {
    let parsed = parse(b"P=\"Hunter2-Secret\"\n", Node, &no_env);
    assert!(!format!("{parsed:?}").contains("Hunter2"));
    let loaded = load_text("MAIL_MAILER=smtp\nMAIL_USERNAME=u\nMAIL_PASSWORD=Hunter2-Secret\n");
    let shown = format!("{loaded:?}");
    assert!(!shown.contains("Hunter2"), "{shown}");
    let json = loaded
        .as_ref()
        .map(|l| serde_json::to_string(&l.facts).unwrap_or_default())
        .unwrap_or_default();
    assert!(
        !json.contains("Hunter2") && json.contains("MAIL_PASSWORD"),
        "{json}"
    );
    let dsn = load_text("MAILER_DSN=smtp://u:Hunter2-Secret@h.example:587\n");
    let shown = format!("{dsn:?}");
    assert!(!shown.contains("Hunter2"), "{shown}");
    assert!(
        shown.contains("smtp://u:[redacted]@h.example:587"),
        "{shown}"
    );
}

fn load_text(text: &str) -> Result<Loaded, PlanError> {
    from_bytes(Path::new(".env"), text.as_bytes(), &no_env)
}

/// What a file maps to: framework, host, port, mode, user, from, and the problem kinds.
struct Mapped {
    framework: Framework,
    host: Option<String>,
    port: u16,
    mode: PortMode,
    user: Option<String>,
    from: Option<String>,
    problems: Vec<ProblemKind>,
}

fn mapped(text: &str) -> Mapped {
    let l = match load_text(text) {
        Ok(l) => l,
        Err(e) => panic!("{text:?}: {e}"),
    };
    Mapped {
        framework: l.facts.framework,
        host: l.target.map(|t| t.to_string()),
        port: l.port,
        mode: l.mode,
        user: l.credentials.map(|c| c.user),
        from: l.from.map(|a| a.to_string()),
        problems: l.facts.problems.into_iter().map(|p| p.kind).collect(),
    }
}

fn implicit_on(port: u16, honoured: bool) -> ProblemKind {
    ProblemKind::ImplicitTlsOnStarttlsPort { port, honoured }
}

fn starttls_on(port: u16, honoured: bool) -> ProblemKind {
    ProblemKind::StarttlsOnImplicitPort { port, honoured }
}

fn malformed(typos: &[HostTypo], probed: Option<&str>) -> ProblemKind {
    ProblemKind::HostMalformed {
        typos: typos.to_vec(),
        probed: probed.map(str::to_string),
    }
}

const LARAVEL_OK: &str = "MAIL_MAILER=smtp\nMAIL_HOST=smtp.example.com\nMAIL_PORT=587\nMAIL_USERNAME=app@example.com\nMAIL_PASSWORD=pw\nMAIL_ENCRYPTION=tls\nMAIL_FROM_ADDRESS=\"app@example.com\"\n";

#[test]
fn framework_mappings() {
    use Framework::*;
    use PortMode::{Implicit, Starttls};
    type Row<'a> = (
        &'a str,
        String,
        Framework,
        Option<&'a str>,
        u16,
        PortMode,
        Option<&'a str>,
        Vec<ProblemKind>,
    );
    let l = |extra: &str| format!("{LARAVEL_OK}{extra}");
    let table: Vec<Row> = vec![
        ("laravel well formed", LARAVEL_OK.into(), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![]),
        // Laravel 9+: Symfony Mailer picks the mode by the port; MAIL_ENCRYPTION only mattered to SwiftMailer.
        ("laravel ssl on 587", l("MAIL_ENCRYPTION=ssl\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![implicit_on(587, false)]),
        ("laravel tls on 465", l("MAIL_PORT=465\n"), Laravel, Some("smtp.example.com"), 465, Implicit, Some("app@example.com"), vec![starttls_on(465, false)]),
        ("laravel smtps on 587", l("MAIL_SCHEME=smtps\n"), Laravel, Some("smtp.example.com"), 587, Implicit, Some("app@example.com"), vec![implicit_on(587, true)]),
        ("laravel smtps on 465", l("MAIL_SCHEME=smtps\nMAIL_PORT=465\n"), Laravel, Some("smtp.example.com"), 465, Implicit, Some("app@example.com"), vec![]),
        // env() strips one pair of quotes: a quoted host inside quotes is fine in Laravel.
        ("laravel quotes in quotes", l("MAIL_HOST=\"'smtp.example.com'\"\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![]),
        ("laravel scheme in host", l("MAIL_HOST=smtp://smtp.example.com\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![malformed(&[HostTypo::Scheme], Some("smtp.example.com"))]),
        ("laravel trailing dot", l("MAIL_HOST=smtp.example.com.\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![malformed(&[HostTypo::TrailingDot], Some("smtp.example.com"))]),
        ("laravel port typo", l("MAIL_PORT=587a\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![ProblemKind::PortInvalid { probed: 587, fallback: PortFallback::Digits }]),
        ("laravel log mailer", l("MAIL_MAILER=log\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![ProblemKind::MailerNotSmtp { mailer: "log".into(), goes: MailerDestination::Log, defaulted: false }]),
        ("laravel null password", l("MAIL_PASSWORD=null\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![ProblemKind::LoginIncomplete { missing: LoginPart::Password }]),
        ("laravel defaults", "MAIL_USERNAME=null\n".into(), Laravel, Some("127.0.0.1"), 2525, Starttls, None, vec![ProblemKind::MailerNotSmtp { mailer: "log".into(), goes: MailerDestination::Log, defaulted: true }]),
        ("laravel bad from", l("MAIL_FROM_ADDRESS=\"App <not an address>\"\n"), Laravel, Some("smtp.example.com"), 587, Starttls, None, vec![ProblemKind::FromInvalid]),
        ("django ssl on 465", "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=465\nEMAIL_USE_SSL=True\nEMAIL_HOST_USER=u\nEMAIL_HOST_PASSWORD=p\nDEFAULT_FROM_EMAIL=Site <app@example.com>\n".into(), Django, Some("smtp.example.com"), 465, Implicit, Some("app@example.com"), vec![]),
        ("django tls on 465", "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=465\nEMAIL_USE_TLS=yes\n".into(), Django, Some("smtp.example.com"), 465, Starttls, None, vec![starttls_on(465, true)]),
        ("django ssl on 587", "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\nEMAIL_USE_SSL=1\n".into(), Django, Some("smtp.example.com"), 587, Implicit, None, vec![implicit_on(587, true)]),
        ("django both", "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\nEMAIL_USE_SSL=True\nEMAIL_USE_TLS=True\n".into(), Django, Some("smtp.example.com"), 587, Starttls, None, vec![ProblemKind::TlsAndSsl]),
        ("django no tls with a login", "EMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\nEMAIL_HOST_USER=u\nEMAIL_HOST_PASSWORD=p\n".into(), Django, Some("smtp.example.com"), 587, Starttls, None, vec![ProblemKind::NoTls { port: 587 }]),
        ("django defaults to localhost:25", "EMAIL_HOST_USER=\n".into(), Django, Some("localhost"), 25, Starttls, None, vec![]),
        ("django quoted host", "EMAIL_HOST=\"'smtp.example.com'\"\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\n".into(), Django, Some("smtp.example.com"), 587, Starttls, None, vec![malformed(&[HostTypo::Quotes], Some("smtp.example.com"))]),
        ("django host with spaces", "EMAIL_HOST=\"smtp example.com\"\nEMAIL_USE_TLS=True\nEMAIL_PORT=587\n".into(), Django, None, 587, Starttls, None, vec![malformed(&[HostTypo::Spaces], None)]),
        ("django tls word", "EMAIL_HOST=h.example\nEMAIL_PORT=587\nEMAIL_USE_TLS=maybe\n".into(), Django, Some("h.example"), 587, Starttls, None, vec![ProblemKind::TlsSettingInvalid]),
        ("django console backend", "EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend\nEMAIL_HOST=h.example\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\n".into(), Django, Some("h.example"), 587, Starttls, None, vec![ProblemKind::MailerNotSmtp { mailer: "django.core.mail.backends.console.EmailBackend".into(), goes: MailerDestination::Console, defaulted: false }]),
        ("django port not a number", "EMAIL_HOST=h.example\nEMAIL_PORT=five\nEMAIL_USE_TLS=True\n".into(), Django, Some("h.example"), 25, Starttls, None, vec![ProblemKind::PortInvalid { probed: 25, fallback: PortFallback::FrameworkDefault }]),
        ("node secure on 587", "SMTP_HOST=smtp.example.com\nSMTP_PORT=587\nSMTP_SECURE=true\nSMTP_USER=u\nSMTP_PASS=p\n".into(), NodeSmtp, Some("smtp.example.com"), 587, Implicit, None, vec![implicit_on(587, true)]),
        ("node insecure on 465", "SMTP_HOST=smtp.example.com\nSMTP_PORT=465\nSMTP_SECURE=false\n".into(), NodeSmtp, Some("smtp.example.com"), 465, Starttls, None, vec![starttls_on(465, true)]),
        ("node 465 unset secure", "SMTP_HOST=smtp.example.com\nSMTP_PORT=465\n".into(), NodeSmtp, Some("smtp.example.com"), 465, Implicit, None, vec![]),
        ("node port NaN", "SMTP_HOST=smtp.example.com\nSMTP_PORT=58 7\n".into(), NodeSmtp, Some("smtp.example.com"), 587, Starttls, None, vec![ProblemKind::PortInvalid { probed: 587, fallback: PortFallback::AppDefault }]),
        ("node user without password", "SMTP_HOST=smtp.example.com\nSMTP_USER=u\nSMTP_FROM=a@example.com\n".into(), NodeSmtp, Some("smtp.example.com"), 587, Starttls, Some("a@example.com"), vec![ProblemKind::LoginIncomplete { missing: LoginPart::Password }]),
        ("node email names", "EMAIL_HOST=smtp.gmail.com\nEMAIL_PORT=465\nEMAIL_SECURE=true\nEMAIL_USER=me@gmail.com\nEMAIL_APP_PASSWORD=abcd\n".into(), NodeEmail, Some("smtp.gmail.com"), 465, Implicit, None, vec![]),
        ("node password without user", "EMAIL_HOST=smtp.gmail.com\nEMAIL_PASSWORD=abcd\n".into(), NodeEmail, Some("smtp.gmail.com"), 587, Starttls, None, vec![ProblemKind::LoginIncomplete { missing: LoginPart::User }]),
        ("symfony starttls", "MAILER_DSN=smtp://app%40example.com:p%40ss@smtp.example.com:587\n".into(), Symfony, Some("smtp.example.com"), 587, Starttls, None, vec![]),
        ("symfony smtps on 587", "MAILER_DSN=smtps://u:p@smtp.example.com:587\n".into(), Symfony, Some("smtp.example.com"), 587, Implicit, None, vec![implicit_on(587, true)]),
        ("symfony no port", "MAILER_DSN=smtp://u:p@smtp.example.com\n".into(), Symfony, Some("smtp.example.com"), 465, Implicit, None, vec![]),
        ("symfony localhost", "MAILER_DSN=smtp://localhost\n".into(), Symfony, Some("localhost"), 25, Starttls, None, vec![]),
        ("symfony auto_tls off", "MAILER_DSN=smtp://u:p@smtp.example.com:587?auto_tls=false\n".into(), Symfony, Some("smtp.example.com"), 587, Starttls, None, vec![ProblemKind::NoTls { port: 587 }]),
        ("symfony failover", "MAILER_DSN=\"failover(smtp://u:p@a.example:587 smtp://b.example:25)\"\n".into(), Symfony, Some("a.example"), 587, Starttls, None, vec![]),
        ("symfony null", "MAILER_DSN=null://null\n".into(), Symfony, None, 25, Starttls, None, vec![ProblemKind::MailerNotSmtp { mailer: "null://".into(), goes: MailerDestination::Discarded, defaulted: false }]),
        // Several frameworks: the one that names a server with the most keys.
        ("mixed", l("SMTP_HOST=other.example.com\n"), Laravel, Some("smtp.example.com"), 587, Starttls, Some("app@example.com"), vec![]),
        ("django beats node on shared names", "EMAIL_HOST=h.example\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\n".into(), Django, Some("h.example"), 587, Starttls, None, vec![]),
    ];
    let mut failures = Vec::new();
    for (name, text, framework, host, port, mode, from, problems) in table {
        let m = mapped(&text);
        let want = (
            framework,
            host.map(str::to_string),
            port,
            mode,
            from.map(str::to_string),
            problems,
        );
        let got = (m.framework, m.host, m.port, m.mode, m.from, m.problems);
        if got != want {
            failures.push(format!("{name}: got {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn logins_need_both_halves() {
    assert_eq!(mapped(LARAVEL_OK).user.as_deref(), Some("app@example.com"));
    let django = mapped("EMAIL_HOST=h.example\nEMAIL_USE_TLS=True\nEMAIL_PORT=587\nEMAIL_HOST_USER=u\nEMAIL_HOST_PASSWORD=\n");
    assert_eq!(django.user, None);
    assert_eq!(
        django.problems,
        vec![ProblemKind::LoginIncomplete {
            missing: LoginPart::Password
        }]
    );
    let dsn = mapped("MAILER_DSN=smtp://app%40example.com:p%3Ass@h.example:587\n");
    assert_eq!(dsn.user.as_deref(), Some("app@example.com"));
    let Ok(l) = load_text("MAILER_DSN=smtp://app%40example.com:p%3As%25s@h.example:587\n") else {
        panic!("DSN refused");
    };
    assert_eq!(
        l.credentials.map(|c| c.password().to_string()).as_deref(),
        Some("p:s%s")
    );
}

#[test]
fn keys_used_and_notes() {
    let text = "MAIL_MAILER=smtp\nMAIL_HOST=old.example\nMAIL_HOST=smtp.example.com\nMAIL_DRIVER=smtp\nMAIL_PASSWORD=\"${NOPE}\"\nMAIL_USERNAME=u\nSMTP_HOST=x.example\nBROKEN='x\n";
    let Ok(l) = load_text(text) else {
        panic!("refused");
    };
    let keys: Vec<(&str, usize, bool, Option<&str>)> = l
        .facts
        .keys
        .iter()
        .map(|k| (k.key.as_str(), k.line, k.used, k.value.as_deref()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("MAIL_MAILER", 1, true, Some("smtp")),
            ("MAIL_HOST", 2, false, Some("old.example")),
            ("MAIL_HOST", 3, true, Some("smtp.example.com")),
            ("MAIL_DRIVER", 4, false, Some("smtp")),
            // phpdotenv keeps ${NOPE} as written: a password, never shown.
            ("MAIL_PASSWORD", 5, true, None),
            ("MAIL_USERNAME", 6, true, Some("u")),
        ]
    );
    let notes = &l.facts.notes;
    assert!(notes.contains(&SettingsNote::Duplicate {
        key: "MAIL_HOST".into(),
        lines: vec![2, 3]
    }));
    assert!(notes.contains(&SettingsNote::UndefinedVariable {
        key: "MAIL_PASSWORD".into(),
        line: 5,
        variable: "NOPE".into()
    }));
    assert!(notes.contains(&SettingsNote::UnreadableLine {
        key: Some("BROKEN".into()),
        line: 8,
        syntax: Syntax::UnterminatedQuote
    }));
    assert!(notes.iter().any(|n| matches!(n, SettingsNote::OtherFramework { framework: Framework::NodeSmtp, keys } if keys.len() == 1)));
    assert!(notes.contains(&SettingsNote::Default {
        key: "MAIL_PORT".into(),
        value: "2525".into()
    }));
}

#[test]
fn fix_lines_name_the_line_to_write() {
    let Ok(l) = load_text("SMTP_HOST=smtp.example.com\nSMTP_PORT=587\nSMTP_SECURE=true\n") else {
        panic!("refused");
    };
    let fix: Vec<(String, Option<usize>)> = l.facts.problems[0]
        .fix
        .iter()
        .map(|f| (f.text.clone(), f.replaces))
        .collect();
    assert_eq!(fix, vec![("SMTP_SECURE=false".to_string(), Some(3))]);
    let Ok(d) = load_text("MAILER_DSN=smtps://u:secret@smtp.example.com:587\n") else {
        panic!("refused");
    };
    let line = d.facts.problems[0].fix[0].text.clone();
    assert_eq!(line, "MAILER_DSN=smtp://u:PASSWORD@smtp.example.com:587");
}

#[test]
fn files_that_stop_the_run() {
    let cases: &[(&str, &str)] = &[
        ("APP_NAME=x\nDB_HOST=db\n", "none of the mail settings"),
        ("MAIL_MAILER=ses\nMAIL_HOST=x\n", "MAIL_MAILER=ses"),
        (
            "MAILER_DSN=ses+api://KEY:SECRET@default\n",
            "MAILER_DSN=ses+api",
        ),
        (
            "MAILER_DSN=\"smtp://u:Pw-S3cret@h\n",
            "its quote is never closed",
        ),
        ("MAILER_DSN=u:Pw-S3cret@h\n", "scheme such as smtp://"),
    ];
    for (text, says) in cases {
        match load_text(text) {
            Ok(l) => panic!("{text:?} loaded: {:?}", l.facts),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(says), "{text:?}: {msg}");
                assert!(!msg.contains("S3cret") && !msg.contains("SECRET"), "{msg}");
            }
        }
    }
}

#[test]
fn host_checks() {
    use HostTypo::*;
    let table: &[(&str, &[HostTypo], Option<&str>)] = &[
        ("smtp.example.com", &[], Some("smtp.example.com")),
        ("SMTP.Example.com", &[], Some("smtp.example.com")),
        ("203.0.113.5", &[], Some("203.0.113.5")),
        ("2001:db8::5", &[], Some("2001:db8::5")),
        ("", &[Empty], None),
        (" smtp.example.com", &[Spaces], Some("smtp.example.com")),
        ("'smtp.example.com'", &[Quotes], Some("smtp.example.com")),
        ("\"smtp.example.com\"", &[Quotes], Some("smtp.example.com")),
        (
            "smtp://smtp.example.com",
            &[Scheme],
            Some("smtp.example.com"),
        ),
        ("ssl://smtp.gmail.com/", &[Scheme], Some("smtp.gmail.com")),
        ("smtp.example.com:587", &[Port], Some("smtp.example.com")),
        ("[2001:db8::5]:465", &[Port], Some("2001:db8::5")),
        (
            "smtp.example.com.",
            &[TrailingDot],
            Some("smtp.example.com"),
        ),
        (
            "smtp.example.com,",
            &[TrailingComma],
            Some("smtp.example.com"),
        ),
        (
            "'smtp.example.com.,'",
            &[Quotes, TrailingComma, TrailingDot],
            Some("smtp.example.com"),
        ),
        ("smtp example.com", &[Spaces], None),
        ("smtp.exa$mple.com", &[NotAName], None),
        ("user@smtp.example.com", &[NotAName], None),
    ];
    for (input, typos, probed) in table {
        let c = host(input);
        assert_eq!(
            (c.typos.as_slice(), c.probed.as_deref()),
            (*typos, *probed),
            "{input:?}"
        );
    }
}

#[test]
fn ports_and_words() {
    for (v, want) in [
        ("587", Some(587)),
        (" 465 ", Some(465)),
        ("0", None),
        ("65536", None),
        ("587a", None),
        ("", None),
        ("+587", None),
    ] {
        assert_eq!(port_number(v), want, "{v:?}");
    }
    for (v, want) in [
        ("587a", Some(587)),
        ("'587'", Some(587)),
        ("abc", None),
        ("99999", None),
    ] {
        assert_eq!(leading_digits(v), want, "{v:?}");
    }
    for (v, want) in [
        ("True", Some(true)),
        ("1", Some(true)),
        ("yes", Some(true)),
        ("off", Some(false)),
        ("", Some(false)),
        ("maybe", None),
    ] {
        assert_eq!(bool_word(v), want, "{v:?}");
    }
    for (v, want) in [
        ("app@example.com", Some("app@example.com")),
        ("App <app@example.com>", Some("app@example.com")),
        ("\"Shop\" <shop@example.com>", Some("shop@example.com")),
        ("not an address", None),
    ] {
        assert_eq!(
            from_address(v).map(|a| a.to_string()).as_deref(),
            want,
            "{v:?}"
        );
    }
}

#[test]
fn dsns_parse_like_parse_url() {
    type Row<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        bool,
        &'a str,
        Option<&'a str>,
    );
    let table: &[Row] = &[
        ("smtp://h.example", "smtp", None, false, "h.example", None),
        (
            "smtp://u:p@h.example:587",
            "smtp",
            Some("u"),
            true,
            "h.example",
            Some("587"),
        ),
        (
            "SMTPS://u%40x.com:p%2Fw@h.example",
            "smtps",
            Some("u@x.com"),
            true,
            "h.example",
            None,
        ),
        (
            "smtp://u:p@ss@h.example:25",
            "smtp",
            Some("u"),
            true,
            "h.example",
            Some("25"),
        ),
        (
            "smtp://[2001:db8::5]:465",
            "smtp",
            None,
            false,
            "2001:db8::5",
            Some("465"),
        ),
        (
            "smtp://h.example:587?verify_peer=0&local_domain=x",
            "smtp",
            None,
            false,
            "h.example",
            Some("587"),
        ),
        ("null://null", "null", None, false, "null", None),
        (
            "roundrobin(smtp://a.example smtp://b.example)",
            "smtp",
            None,
            false,
            "a.example",
            None,
        ),
    ];
    for (input, scheme, user, password, host, port) in table {
        let d = parse_dsn(input);
        let got = d.as_ref().map(|d| {
            (
                d.scheme.as_str(),
                d.user.as_deref(),
                d.password.is_some(),
                d.host.as_str(),
                d.port.as_deref(),
            )
        });
        assert_eq!(
            got,
            Ok((*scheme, *user, *password, *host, *port)),
            "{input:?}"
        );
    }
    assert_eq!(
        parse_dsn("smtp://h.example?verify_peer=0")
            .map(|d| d.option("verify_peer").map(str::to_string)),
        Ok(Some("0".into()))
    );
    for bad in ["", "h.example", "smtp://", "smtp://u:p@"] {
        assert!(parse_dsn(bad).is_err(), "{bad:?}");
    }
}
