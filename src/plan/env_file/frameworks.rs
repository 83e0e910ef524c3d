//! Each framework's mail keys: how it reads their values, its defaults, and the connection (host, port, TLS mode, login, sender) they make.
//!
//! Checked against the frameworks' own code: Laravel's config/mail.php (laravel/laravel 11+: MAIL_MAILER
//! defaults to log, MAIL_HOST to 127.0.0.1, MAIL_PORT to 2525) and env() (`null`, `empty`, one level of quotes),
//! Symfony Mailer's EsmtpTransportFactory/EsmtpTransport (smtps:// or port 465 means TLS from the first byte,
//! anything else STARTTLS when offered, no port means 465 except for localhost, `auto_tls=false` turns STARTTLS
//! off), which Laravel 9+ sends through (MAIL_ENCRYPTION no longer changes the mode); Django's SMTP backend
//! (EMAIL_USE_SSL is implicit TLS, EMAIL_USE_TLS STARTTLS, neither is no TLS at all, both is refused; login only
//! with user and password; defaults localhost:25); nodemailer's SMTPConnection (secure is implicit TLS, unset
//! secure means implicit TLS on 465 only, the port defaults to 587 or 465, a port that is not a number is ignored).

use std::path::Path;

use super::checks::{self, bool_word, leading_digits, port_number, tls_against_port};
use super::dsn::{parse_dsn, Dsn, DsnError};
use super::{parse, Dialect, Parsed};
use crate::plan::{Credentials, PlanError, Target};
use crate::report::settings::{
    shown, FixLine, Framework, KeyRef, KeyUse, LoginPart, MailerDestination, PortFallback,
    ProbedSettings, ProblemKind, Role, SettingsFacts, SettingsNote, SettingsProblem, Syntax,
};
use crate::report::PortMode;

/// Largest file read: a settings file is a few kilobytes, and anything far larger is not one.
const MAX_BYTES: u64 = 1 << 20;

/// The settings of a file, ready for the plan: the facts for the report and the connection to probe.
#[derive(Debug)]
pub struct Loaded {
    pub facts: SettingsFacts,
    /// None when no host name can be made from the settings (or the app does not use SMTP): nothing is probed.
    pub target: Option<Target>,
    pub port: u16,
    pub mode: PortMode,
    pub credentials: Option<Credentials>,
    pub from: Option<lettre::Address>,
}

/// A key of a framework and what it is for.
struct KeyDef {
    key: &'static str,
    role: Role,
}

const fn k(key: &'static str, role: Role) -> KeyDef {
    KeyDef { key, role }
}

const LARAVEL: &[KeyDef] = &[
    k("MAIL_MAILER", Role::Mailer),
    k("MAIL_DRIVER", Role::Mailer),
    k("MAIL_URL", Role::Dsn),
    k("MAIL_SCHEME", Role::Tls),
    k("MAIL_HOST", Role::Host),
    k("MAIL_PORT", Role::Port),
    k("MAIL_ENCRYPTION", Role::Tls),
    k("MAIL_USERNAME", Role::User),
    k("MAIL_PASSWORD", Role::Password),
    k("MAIL_FROM_ADDRESS", Role::From),
];
const SYMFONY: &[KeyDef] = &[k("MAILER_DSN", Role::Dsn)];
const DJANGO: &[KeyDef] = &[
    k("EMAIL_BACKEND", Role::Mailer),
    k("EMAIL_HOST", Role::Host),
    k("EMAIL_PORT", Role::Port),
    k("EMAIL_USE_TLS", Role::Tls),
    k("EMAIL_USE_SSL", Role::Tls),
    k("EMAIL_HOST_USER", Role::User),
    k("EMAIL_HOST_PASSWORD", Role::Password),
    k("DEFAULT_FROM_EMAIL", Role::From),
];
const NODE_SMTP: &[KeyDef] = &[
    k("SMTP_HOST", Role::Host),
    k("SMTP_PORT", Role::Port),
    k("SMTP_SECURE", Role::Tls),
    k("SMTP_USER", Role::User),
    k("SMTP_PASS", Role::Password),
    k("SMTP_FROM", Role::From),
];
const NODE_EMAIL: &[KeyDef] = &[
    k("EMAIL_HOST", Role::Host),
    k("EMAIL_PORT", Role::Port),
    k("EMAIL_SECURE", Role::Tls),
    k("EMAIL_USER", Role::User),
    k("EMAIL_PASSWORD", Role::Password),
    k("EMAIL_APP_PASSWORD", Role::Password),
    k("EMAIL_FROM", Role::From),
];

/// Every framework in the order that breaks ties when a file holds several frameworks' keys equally.
const ORDER: [Framework; 5] = [
    Framework::Laravel,
    Framework::Symfony,
    Framework::Django,
    Framework::NodeSmtp,
    Framework::NodeEmail,
];

fn table(f: Framework) -> &'static [KeyDef] {
    match f {
        Framework::Laravel => LARAVEL,
        Framework::Symfony => SYMFONY,
        Framework::Django => DJANGO,
        Framework::NodeSmtp => NODE_SMTP,
        Framework::NodeEmail => NODE_EMAIL,
    }
}

fn dialect(f: Framework) -> Dialect {
    match f {
        Framework::Laravel => Dialect::Php,
        Framework::Symfony => Dialect::Symfony,
        Framework::Django => Dialect::Python,
        Framework::NodeSmtp | Framework::NodeEmail => Dialect::Node,
    }
}

/// Keys that Django's and nodemailer's EMAIL_* names share: they count for both, and decide nothing alone.
fn shared(key: &str) -> bool {
    matches!(key, "EMAIL_HOST" | "EMAIL_PORT")
}

/// Reads and maps a settings file; `env` looks up the process environment for `${VAR}` expansion.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, PlanError> {
    from_bytes(path, &read(path)?, env)
}

/// Maps a file's bytes; `path` only names the file in the report and in errors.
pub fn from_bytes(
    path: &Path,
    bytes: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, PlanError> {
    // Which keys are there does not depend on the dialect; python-dotenv's is the most lenient.
    let keys_only = parse(bytes, Dialect::Python, env);
    let framework = choose(&keys_only).ok_or_else(|| PlanError::EnvNoMailKeys {
        path: path.to_path_buf(),
    })?;
    let parsed = parse(bytes, dialect(framework), env);
    map(path, framework, &parsed)
}

fn read(path: &Path) -> Result<Vec<u8>, PlanError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| PlanError::EnvFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| PlanError::EnvFileRead {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(PlanError::EnvFileTooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// The framework whose keys the file holds: one that names a server (a host key or a DSN) first, then the one
/// with the most keys, then the fixed order (EMAIL_HOST alone reads as Django's).
fn choose(parsed: &Parsed) -> Option<Framework> {
    let present = |f: Framework| -> (bool, usize, usize) {
        let mut server = false;
        let mut count = 0;
        let mut own = 0;
        for d in table(f) {
            if parsed.last(d.key).is_some() {
                count += 1;
                if !shared(d.key) {
                    own += 1;
                }
                server |= matches!(d.role, Role::Host | Role::Dsn) && d.key != "MAIL_URL";
            }
        }
        (server, own, count)
    };
    let mut best: Option<(Framework, (bool, usize, usize))> = None;
    for f in ORDER {
        let score = present(f);
        if score.2 == 0 {
            continue;
        }
        if best.as_ref().is_none_or(|(_, b)| score > *b) {
            best = Some((f, score));
        }
    }
    best.map(|(f, _)| f)
}

/// One key as the framework's code receives it.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Absent,
    Unreadable {
        line: usize,
        syntax: Syntax,
    },
    /// Laravel's env() turns `null` into no value at all.
    Null {
        line: usize,
    },
    Set {
        line: usize,
        text: String,
    },
}

impl Got {
    fn line(&self) -> Option<usize> {
        match self {
            Got::Absent => None,
            Got::Unreadable { line, .. } | Got::Null { line } | Got::Set { line, .. } => {
                Some(*line)
            }
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Got::Set { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A value that is there and not empty.
    fn filled(&self) -> Option<&str> {
        self.text().filter(|t| !t.is_empty())
    }

    fn unreadable(&self) -> Option<Syntax> {
        match self {
            Got::Unreadable { syntax, .. } => Some(*syntax),
            _ => None,
        }
    }
}

/// A setting with the key that holds it, as a problem refers to it.
#[derive(Debug, Clone)]
struct Field {
    got: Got,
    at: KeyRef,
}

/// The file read with one framework's rules.
struct Reader<'a> {
    parsed: &'a Parsed,
    framework: Framework,
    /// A value holding the password is never shown, whatever key it sits under.
    password: Option<String>,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Got {
        let Some(e) = self.parsed.last(key) else {
            return Got::Absent;
        };
        match &e.value {
            Err(syntax) => Got::Unreadable {
                line: e.line,
                syntax: *syntax,
            },
            Ok(v) => self.as_app_reads(e.line, v.text()),
        }
    }

    /// Laravel's env() maps `null`/`(null)` to null and `empty`/`(empty)` to "", and strips one pair of matching quotes.
    fn as_app_reads(&self, line: usize, text: &str) -> Got {
        if self.framework != Framework::Laravel {
            return Got::Set {
                line,
                text: text.to_string(),
            };
        }
        match text.to_ascii_lowercase().as_str() {
            "null" | "(null)" => return Got::Null { line },
            "empty" | "(empty)" => {
                return Got::Set {
                    line,
                    text: String::new(),
                }
            }
            _ => {}
        }
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|&q| {
                text.strip_prefix(q)
                    .and_then(|t| t.strip_suffix(q))
                    .filter(|_| text.len() >= 2)
            })
            .unwrap_or(text);
        Got::Set {
            line,
            text: unquoted.to_string(),
        }
    }

    fn field(&self, key: &str) -> Field {
        let got = self.get(key);
        let at = KeyRef {
            key: key.to_string(),
            line: got.line(),
            value: self.show(key, got.text()),
        };
        Field { got, at }
    }

    /// A value as it may appear in a report: never a secret's, never one that holds the password.
    fn show(&self, key: &str, text: Option<&str>) -> Option<String> {
        let secret = table(self.framework)
            .iter()
            .any(|d| d.key == key && matches!(d.role, Role::Password | Role::Dsn));
        if secret {
            return None;
        }
        self.guard(text?)
    }

    /// A value fit to show unless it holds the password (another key may repeat it, or expand it).
    fn guard(&self, text: &str) -> Option<String> {
        let holds_password = self
            .password
            .as_deref()
            .is_some_and(|p| p.chars().count() >= 3 && text.contains(p));
        (!holds_password).then(|| shown(text))
    }
}

/// What a framework makes of the file, before the checks every framework shares.
struct Read {
    host: Field,
    /// The framework's host when the key is missing.
    host_default: &'static str,
    /// How a corrected host is written back (a key, or the whole DSN).
    host_fix: HostFix,
    port: u16,
    mode: PortMode,
    /// No TLS at all (Django with neither setting, Symfony's auto_tls=false), with the lines that turn it on.
    plain: Option<Vec<FixLine>>,
    user: Field,
    password: Field,
    from: Option<Field>,
    /// The app does not send through SMTP: nothing to probe when it has no SMTP settings either.
    nothing_to_probe: bool,
    problems: Vec<SettingsProblem>,
    notes: Vec<SettingsNote>,
}

enum HostFix {
    Key(&'static str),
    Dsn(Box<Dsn>),
}

fn problem(kind: ProblemKind, keys: Vec<KeyRef>, fix: Vec<FixLine>) -> SettingsProblem {
    SettingsProblem {
        kind,
        keys,
        fix,
        unreadable: None,
    }
}

/// A problem whose key sits on a line no dotenv loader can read.
fn unreadable_line(kind: ProblemKind, at: &KeyRef, syntax: Syntax) -> SettingsProblem {
    SettingsProblem {
        unreadable: Some(syntax),
        ..problem(kind, vec![at.clone()], Vec::new())
    }
}

fn fix(key: &str, value: &str, at: &KeyRef) -> FixLine {
    FixLine {
        text: format!("{key}={value}"),
        replaces: at.line,
    }
}

fn map(path: &Path, framework: Framework, parsed: &Parsed) -> Result<Loaded, PlanError> {
    let mut r = Reader {
        parsed,
        framework,
        password: None,
    };
    r.password = password_text(&r);
    let read = match framework {
        Framework::Laravel => laravel(&r, path)?,
        Framework::Symfony => symfony(&r, path)?,
        Framework::Django => django(&r),
        Framework::NodeSmtp => node(
            &r,
            ["SMTP_HOST", "SMTP_PORT", "SMTP_SECURE"],
            "SMTP_USER",
            &["SMTP_PASS"],
            "SMTP_FROM",
        ),
        Framework::NodeEmail => node(
            &r,
            ["EMAIL_HOST", "EMAIL_PORT", "EMAIL_SECURE"],
            "EMAIL_USER",
            &["EMAIL_APP_PASSWORD", "EMAIL_PASSWORD"],
            "EMAIL_FROM",
        ),
    };
    Ok(finish(path, &r, read))
}

/// The password's text, so that no other value holding it is ever shown.
fn password_text(r: &Reader) -> Option<String> {
    let from_keys = table(r.framework)
        .iter()
        .filter(|d| d.role == Role::Password)
        .find_map(|d| r.get(d.key).filled().map(str::to_string));
    from_keys.or_else(|| {
        r.get("MAILER_DSN")
            .text()
            .and_then(|t| parse_dsn(t).ok())
            .and_then(|d| d.password)
    })
}

/// The checks every framework shares, and the facts for the report.
fn finish(path: &Path, r: &Reader, mut read: Read) -> Loaded {
    let mut problems = std::mem::take(&mut read.problems);
    let mut notes = std::mem::take(&mut read.notes);
    // The host: the name the app looks up, checked, and corrected where the typo is plain.
    let host_value = match &read.host.got {
        Got::Set { text, .. } => Some(text.clone()),
        Got::Null { .. } => Some(String::new()),
        Got::Absent => {
            notes.push(SettingsNote::Default {
                key: read.host.at.key.clone(),
                value: read.host_default.to_string(),
            });
            read.host.at.value = Some(read.host_default.to_string());
            Some(read.host_default.to_string())
        }
        Got::Unreadable { syntax, .. } => {
            problems.push(unreadable_line(
                ProblemKind::HostMalformed {
                    typos: Vec::new(),
                    probed: None,
                },
                &read.host.at,
                *syntax,
            ));
            None
        }
    };
    let mut target = None;
    if let Some(value) = host_value.filter(|_| !read.nothing_to_probe) {
        let check = checks::host(&value);
        if !check.typos.is_empty() {
            let fix = match (&check.probed, &read.host_fix) {
                (Some(h), HostFix::Key(key)) => vec![fix(key, h, &read.host.at)],
                (Some(h), HostFix::Dsn(d)) => vec![FixLine {
                    text: d.line(None, Some(h), None, false),
                    replaces: read.host.at.line,
                }],
                (None, _) => Vec::new(),
            };
            problems.push(problem(
                ProblemKind::HostMalformed {
                    typos: check.typos.clone(),
                    probed: check.probed.clone(),
                },
                vec![read.host.at.clone()],
                fix,
            ));
        }
        target = check.probed.as_deref().and_then(|h| Target::parse(h).ok());
    }
    // The login: both halves, or a problem naming the missing one.
    let user = read.user.got.filled().map(str::to_string);
    let password = read.password.got.filled().map(str::to_string);
    let credentials = match (&user, &password) {
        (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.clone())),
        _ => None,
    };
    let login_keys = vec![read.user.at.clone(), read.password.at.clone()];
    if user.is_some() && password.is_none() {
        problems.push(SettingsProblem {
            unreadable: read.password.got.unreadable(),
            ..problem(
                ProblemKind::LoginIncomplete {
                    missing: LoginPart::Password,
                },
                login_keys.clone(),
                Vec::new(),
            )
        });
    } else if user.is_none() && (password.is_some() || read.user.got.unreadable().is_some()) {
        problems.push(SettingsProblem {
            unreadable: read.user.got.unreadable(),
            ..problem(
                ProblemKind::LoginIncomplete {
                    missing: LoginPart::User,
                },
                login_keys,
                Vec::new(),
            )
        });
    }
    // No TLS at all with a login: the password would go out in cleartext, or the server offers no AUTH.
    if let (Some(lines), Some(_)) = (&read.plain, &credentials) {
        if checks::usual_mode(read.port) != Some(PortMode::Implicit) {
            problems.push(problem(
                ProblemKind::NoTls { port: read.port },
                tls_keys(r),
                lines.clone(),
            ));
        }
    }
    // The sender.
    let mut from = None;
    if let Some(field) = &read.from {
        match &field.got {
            Got::Set { text, .. } if !text.trim().is_empty() => {
                from = checks::from_address(text);
                if from.is_none() {
                    problems.push(problem(
                        ProblemKind::FromInvalid,
                        vec![field.at.clone()],
                        Vec::new(),
                    ));
                }
            }
            Got::Unreadable { syntax, .. } => problems.push(unreadable_line(
                ProblemKind::FromInvalid,
                &field.at,
                *syntax,
            )),
            Got::Absent => {
                if let Some(d) = default_from(r.framework) {
                    notes.push(SettingsNote::Default {
                        key: field.at.key.clone(),
                        value: d.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    notes.extend(file_notes(r));
    let facts = SettingsFacts {
        file: shown(&path.display().to_string()),
        framework: r.framework,
        keys: key_uses(r),
        probed: ProbedSettings {
            host: target.as_ref().map(Target::to_string),
            host_key: read.host.at.clone(),
            port: read.port,
            mode: read.mode,
            user: credentials.as_ref().and_then(|c| r.guard(&c.user)),
            password: credentials.is_some(),
            from: from.as_ref().map(|a| a.to_string()),
        },
        problems,
        notes,
        host_is_local: false,
    };
    Loaded {
        facts,
        target,
        port: read.port,
        mode: read.mode,
        credentials,
        from,
    }
}

/// The framework's TLS keys, for a problem about TLS as a whole: those in the file, else the first one.
fn tls_keys(r: &Reader) -> Vec<KeyRef> {
    let tls: Vec<KeyRef> = table(r.framework)
        .iter()
        .filter(|d| matches!(d.role, Role::Tls | Role::Dsn) && d.key != "MAIL_URL")
        .map(|d| r.field(d.key).at)
        .collect();
    let mut with_lines: Vec<KeyRef> = tls.iter().filter(|k| k.line.is_some()).cloned().collect();
    if with_lines.is_empty() {
        with_lines.extend(tls.into_iter().take(1));
    }
    with_lines
}

fn default_from(f: Framework) -> Option<&'static str> {
    match f {
        Framework::Laravel => Some("hello@example.com"),
        Framework::Django => Some("webmaster@localhost"),
        _ => None,
    }
}

/// Every key of the framework found in the file, in file order, with the lines that lose to a later one marked.
fn key_uses(r: &Reader) -> Vec<KeyUse> {
    let defs = table(r.framework);
    let overridden = |key: &str| match key {
        "MAIL_DRIVER" => r.parsed.last("MAIL_MAILER").is_some(),
        "EMAIL_PASSWORD" => r.parsed.last("EMAIL_APP_PASSWORD").is_some(),
        "MAIL_URL" => true,
        _ => false,
    };
    let mut out = Vec::new();
    for (i, e) in r.parsed.entries.iter().enumerate() {
        let Some(def) = defs.iter().find(|d| d.key == e.key) else {
            continue;
        };
        let later = r.parsed.entries[i + 1..].iter().any(|x| x.key == e.key);
        let secret = matches!(def.role, Role::Password | Role::Dsn);
        let unreadable = e.value.as_ref().err().copied();
        let (value, expanded) = match &e.value {
            Ok(v) => {
                let app = r.as_app_reads(e.line, v.text());
                let value = match (def.role, &app) {
                    // Laravel's null, and an empty value, are no secret: saying so explains a failed login.
                    (_, Got::Null { .. }) => Some("null".to_string()),
                    (_, Got::Set { text, .. }) if text.is_empty() => Some(String::new()),
                    (Role::Dsn, app) => app
                        .text()
                        .and_then(|t| parse_dsn(t).ok())
                        .map(|d| shown(&d.redacted())),
                    (_, app) => r.show(&e.key, app.text()),
                };
                (value, v.expanded.clone())
            }
            Err(_) => (None, Vec::new()),
        };
        out.push(KeyUse {
            key: e.key.clone(),
            line: e.line,
            role: def.role,
            value,
            secret,
            used: !later && !overridden(&e.key),
            quoting: e.quoting,
            expanded,
            unreadable,
        });
    }
    out
}

/// Notes on the file as a whole: duplicates, undefined variables, unreadable lines, other frameworks' keys.
fn file_notes(r: &Reader) -> Vec<SettingsNote> {
    let mut notes = Vec::new();
    let defs = table(r.framework);
    let mine = |key: &str| defs.iter().any(|d| d.key == key);
    for d in defs {
        let lines: Vec<usize> = r
            .parsed
            .entries
            .iter()
            .filter(|e| e.key == d.key)
            .map(|e| e.line)
            .collect();
        if lines.len() > 1 {
            notes.push(SettingsNote::Duplicate {
                key: d.key.to_string(),
                lines,
            });
        }
    }
    for e in &r.parsed.entries {
        match &e.value {
            Ok(v) if mine(&e.key) => {
                for var in &v.undefined {
                    notes.push(SettingsNote::UndefinedVariable {
                        key: e.key.clone(),
                        line: e.line,
                        variable: shown(var),
                    });
                }
            }
            Err(syntax) if !mine(&e.key) => notes.push(SettingsNote::UnreadableLine {
                key: Some(e.key.clone()),
                line: e.line,
                syntax: *syntax,
            }),
            _ => {}
        }
    }
    for u in &r.parsed.unreadable {
        notes.push(SettingsNote::UnreadableLine {
            key: u.key.clone(),
            line: u.line,
            syntax: u.syntax,
        });
    }
    for other in ORDER {
        if other == r.framework {
            continue;
        }
        let keys: Vec<KeyRef> = table(other)
            .iter()
            .filter(|d| !mine(d.key))
            .filter_map(|d| {
                r.parsed.last(d.key).map(|e| KeyRef {
                    key: d.key.to_string(),
                    line: Some(e.line),
                    value: None,
                })
            })
            .collect();
        if !keys.is_empty() {
            notes.push(SettingsNote::OtherFramework {
                framework: other,
                keys,
            });
        }
    }
    notes.sort_by_key(|n| match n {
        SettingsNote::UnreadableLine { line, .. } => *line,
        _ => 0,
    });
    notes
}

/// The mode Symfony Mailer picks for a port: 465 is TLS from the first byte, anything else STARTTLS when offered.
fn symfony_mode(port: u16) -> PortMode {
    if port == 465 {
        PortMode::Implicit
    } else {
        PortMode::Starttls
    }
}

/// Symfony Mailer without a port: 465 with TLS, except for localhost, which gets 25.
fn symfony_default_port(host: Option<&str>) -> u16 {
    if host == Some("localhost") {
        25
    } else {
        465
    }
}

/// A port value checked; `fallback` is the port used when nothing can be salvaged from it.
fn port_field(field: &Field, fallback: u16, problems: &mut Vec<SettingsProblem>) -> u16 {
    let text = match &field.got {
        Got::Set { text, .. } => text.clone(),
        Got::Unreadable { syntax, .. } => {
            problems.push(unreadable_line(
                ProblemKind::PortInvalid {
                    probed: fallback,
                    fallback: PortFallback::FrameworkDefault,
                },
                &field.at,
                *syntax,
            ));
            return fallback;
        }
        _ => return fallback,
    };
    if let Some(p) = port_number(&text) {
        return p;
    }
    let (probed, how) = match leading_digits(&text) {
        Some(p) => (p, PortFallback::Digits),
        None => (fallback, PortFallback::FrameworkDefault),
    };
    problems.push(problem(
        ProblemKind::PortInvalid {
            probed,
            fallback: how,
        },
        vec![field.at.clone()],
        vec![fix(&field.at.key, &probed.to_string(), &field.at)],
    ));
    probed
}

fn laravel(r: &Reader, path: &Path) -> Result<Read, PlanError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut mailer = r.field("MAIL_MAILER");
    if mailer.got == Got::Absent && r.get("MAIL_DRIVER") != Got::Absent {
        // Laravel 6 and older read MAIL_DRIVER; newer ones never look at it.
        mailer = r.field("MAIL_DRIVER");
    }
    let smtp_line = |at: &KeyRef| vec![fix("MAIL_MAILER", "smtp", at)];
    match &mailer.got {
        Got::Set { text, line } => {
            let name = text.trim().to_ascii_lowercase();
            let goes = match name.as_str() {
                "smtp" | "failover" => None,
                "log" => Some(MailerDestination::Log),
                "array" => Some(MailerDestination::Memory),
                "sendmail" => Some(MailerDestination::Sendmail),
                "ses" | "ses-v2" | "postmark" | "mailgun" | "resend" | "roundrobin" => {
                    return Err(PlanError::EnvApiMailer {
                        path: path.to_path_buf(),
                        key: mailer.at.key.clone(),
                        line: *line,
                        mailer: shown(&name),
                    });
                }
                _ => {
                    notes.push(SettingsNote::UnknownMailer {
                        key: mailer.at.key.clone(),
                        line: *line,
                        mailer: shown(&name),
                    });
                    None
                }
            };
            if let Some(goes) = goes {
                problems.push(problem(
                    ProblemKind::MailerNotSmtp {
                        mailer: name,
                        goes,
                        defaulted: false,
                    },
                    vec![mailer.at.clone()],
                    smtp_line(&mailer.at),
                ));
            }
        }
        // Missing, null or unreadable: Laravel 11 and newer fall back to the log mailer.
        _ => problems.push(problem(
            ProblemKind::MailerNotSmtp {
                mailer: "log".into(),
                goes: MailerDestination::Log,
                defaulted: true,
            },
            vec![mailer.at.clone()],
            smtp_line(&mailer.at),
        )),
    }
    // MAIL_URL, when set, replaces the keys below in Laravel; smtp-doctor reads the keys.
    if let Got::Set { line, text } = r.get("MAIL_URL") {
        if !text.is_empty() {
            notes.push(SettingsNote::NotFollowed {
                key: "MAIL_URL".into(),
                line,
            });
        }
    }
    let host = r.field("MAIL_HOST");
    let port_f = r.field("MAIL_PORT");
    let port = match &port_f.got {
        Got::Absent => {
            notes.push(SettingsNote::Default {
                key: "MAIL_PORT".into(),
                value: "2525".into(),
            });
            2525
        }
        Got::Null { .. } => symfony_default_port(host.got.text().or(Some("127.0.0.1"))),
        _ => port_field(&port_f, 2525, &mut problems),
    };
    let scheme = r.field("MAIL_SCHEME");
    let smtps = scheme
        .got
        .text()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("smtps"));
    let mode = if smtps {
        PortMode::Implicit
    } else {
        symfony_mode(port)
    };
    if smtps {
        problems.extend(tls_against_port(
            PortMode::Implicit,
            port,
            true,
            vec![scheme.at.clone(), port_f.at.clone()],
            vec![fix("MAIL_SCHEME", "smtp", &scheme.at)],
        ));
    } else {
        // Laravel 9+ hands the port to Symfony Mailer, which picks the mode by the port alone: MAIL_ENCRYPTION
        // only still matters to Laravel 8 and older (SwiftMailer), so a contradiction there is a warning.
        let enc = r.field("MAIL_ENCRYPTION");
        let asked = match enc.got.text().map(|t| t.trim().to_ascii_lowercase()) {
            Some(t) if t == "ssl" => Some((PortMode::Implicit, "tls")),
            Some(t) if t == "tls" => Some((PortMode::Starttls, "ssl")),
            _ => None,
        };
        if let Some((asked, right)) = asked {
            problems.extend(tls_against_port(
                asked,
                port,
                false,
                vec![enc.at.clone(), port_f.at.clone()],
                vec![fix("MAIL_ENCRYPTION", right, &enc.at)],
            ));
        }
    }
    Ok(Read {
        host,
        host_default: "127.0.0.1",
        host_fix: HostFix::Key("MAIL_HOST"),
        port,
        mode,
        plain: None,
        user: r.field("MAIL_USERNAME"),
        password: r.field("MAIL_PASSWORD"),
        from: Some(r.field("MAIL_FROM_ADDRESS")),
        nothing_to_probe: false,
        problems,
        notes,
    })
}

fn django(r: &Reader) -> Read {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let backend = r.field("EMAIL_BACKEND");
    if let Got::Set { text, line } = &backend.got {
        let goes = match text.trim() {
            "django.core.mail.backends.smtp.EmailBackend" => None,
            "django.core.mail.backends.console.EmailBackend" => Some(MailerDestination::Console),
            "django.core.mail.backends.filebased.EmailBackend" => Some(MailerDestination::Files),
            "django.core.mail.backends.locmem.EmailBackend" => Some(MailerDestination::Memory),
            "django.core.mail.backends.dummy.EmailBackend" => Some(MailerDestination::Discarded),
            other => {
                notes.push(SettingsNote::UnknownMailer {
                    key: "EMAIL_BACKEND".into(),
                    line: *line,
                    mailer: shown(other),
                });
                None
            }
        };
        if let Some(goes) = goes {
            problems.push(problem(
                ProblemKind::MailerNotSmtp {
                    mailer: shown(text.trim()),
                    goes,
                    defaulted: false,
                },
                vec![backend.at.clone()],
                vec![fix(
                    "EMAIL_BACKEND",
                    "django.core.mail.backends.smtp.EmailBackend",
                    &backend.at,
                )],
            ));
        }
    }
    let port_f = r.field("EMAIL_PORT");
    let port = match port_f.got {
        Got::Absent => {
            notes.push(SettingsNote::Default {
                key: "EMAIL_PORT".into(),
                value: "25".into(),
            });
            25
        }
        _ => port_field(&port_f, 25, &mut problems),
    };
    let flag = |key: &str, problems: &mut Vec<SettingsProblem>| -> (bool, KeyRef) {
        let f = r.field(key);
        let on = match &f.got {
            Got::Set { text, .. } => bool_word(text).unwrap_or_else(|| {
                problems.push(problem(
                    ProblemKind::TlsSettingInvalid,
                    vec![f.at.clone()],
                    vec![fix(key, "True", &f.at)],
                ));
                false
            }),
            Got::Unreadable { syntax, .. } => {
                problems.push(unreadable_line(
                    ProblemKind::TlsSettingInvalid,
                    &f.at,
                    *syntax,
                ));
                false
            }
            _ => false,
        };
        (on, f.at)
    };
    let (tls, tls_at) = flag("EMAIL_USE_TLS", &mut problems);
    let (ssl, ssl_at) = flag("EMAIL_USE_SSL", &mut problems);
    let usual = checks::usual_mode(port);
    let mut plain = None;
    // The mode Django uses, the setting that asks for it, and the lines that ask for the other mode instead.
    let (mode, asked_by, other) = match (tls, ssl) {
        (true, true) => {
            let fix_lines = if usual == Some(PortMode::Implicit) {
                vec![fix("EMAIL_USE_TLS", "False", &tls_at)]
            } else {
                vec![fix("EMAIL_USE_SSL", "False", &ssl_at)]
            };
            problems.push(problem(
                ProblemKind::TlsAndSsl,
                vec![tls_at.clone(), ssl_at.clone()],
                fix_lines,
            ));
            (usual.unwrap_or(PortMode::Starttls), None, Vec::new())
        }
        (false, true) => (
            PortMode::Implicit,
            Some(ssl_at.clone()),
            vec![
                fix("EMAIL_USE_SSL", "False", &ssl_at),
                fix("EMAIL_USE_TLS", "True", &tls_at),
            ],
        ),
        (true, false) => (
            PortMode::Starttls,
            Some(tls_at.clone()),
            vec![
                fix("EMAIL_USE_TLS", "False", &tls_at),
                fix("EMAIL_USE_SSL", "True", &ssl_at),
            ],
        ),
        // Plain SMTP without STARTTLS: on 465 that is the wrong mode, elsewhere no TLS at all.
        (false, false) => {
            plain = Some(vec![fix("EMAIL_USE_TLS", "True", &tls_at)]);
            (
                PortMode::Starttls,
                Some(ssl_at.clone()),
                vec![fix("EMAIL_USE_SSL", "True", &ssl_at)],
            )
        }
    };
    if let Some(at) = asked_by {
        problems.extend(tls_against_port(
            mode,
            port,
            true,
            vec![at, port_f.at.clone()],
            other,
        ));
    }
    Read {
        host: r.field("EMAIL_HOST"),
        host_default: "localhost",
        host_fix: HostFix::Key("EMAIL_HOST"),
        port,
        mode,
        plain,
        user: r.field("EMAIL_HOST_USER"),
        password: r.field("EMAIL_HOST_PASSWORD"),
        from: Some(r.field("DEFAULT_FROM_EMAIL")),
        nothing_to_probe: false,
        problems,
        notes,
    }
}

fn node(
    r: &Reader,
    [host_key, port_key, secure_key]: [&'static str; 3],
    user_key: &str,
    password_keys: &[&str],
    from_key: &str,
) -> Read {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let secure_f = r.field(secure_key);
    // The app hands `secure` to nodemailer from its own code; `=== 'true'` and friends read these words alike.
    let secure = match &secure_f.got {
        Got::Set { text, .. } => Some(bool_word(text).unwrap_or_else(|| {
            problems.push(problem(
                ProblemKind::TlsSettingInvalid,
                vec![secure_f.at.clone()],
                Vec::new(),
            ));
            false
        })),
        Got::Unreadable { syntax, .. } => {
            problems.push(unreadable_line(
                ProblemKind::TlsSettingInvalid,
                &secure_f.at,
                *syntax,
            ));
            None
        }
        _ => None,
    };
    let default_port = if secure == Some(true) { 465 } else { 587 };
    let port_f = r.field(port_key);
    // nodemailer: Number(port) || (secure ? 465 : 587) — a port that is not a number is ignored, not refused.
    let port = match &port_f.got {
        Got::Set { text, .. } => match port_number(text) {
            Some(p) => p,
            None => {
                // Number() of a value that is no number is NaN, and 0 is falsy: nodemailer then uses its default.
                // A number above 65535 is passed on, and the connect throws.
                let t = text.trim();
                let how = if t.parse::<u64>().is_ok_and(|n| n > 65535) {
                    PortFallback::FrameworkDefault
                } else {
                    PortFallback::AppDefault
                };
                problems.push(problem(
                    ProblemKind::PortInvalid {
                        probed: default_port,
                        fallback: how,
                    },
                    vec![port_f.at.clone()],
                    vec![fix(port_key, &default_port.to_string(), &port_f.at)],
                ));
                default_port
            }
        },
        Got::Unreadable { .. } => port_field(&port_f, default_port, &mut problems),
        _ => {
            notes.push(SettingsNote::Default {
                key: port_key.to_string(),
                value: default_port.to_string(),
            });
            default_port
        }
    };
    let mode = match secure {
        Some(on) => {
            let mode = if on {
                PortMode::Implicit
            } else {
                PortMode::Starttls
            };
            let other = if on { "false" } else { "true" };
            problems.extend(tls_against_port(
                mode,
                port,
                true,
                vec![secure_f.at.clone(), port_f.at.clone()],
                vec![fix(secure_key, other, &secure_f.at)],
            ));
            mode
        }
        None if port == 465 => {
            notes.push(SettingsNote::SecureAssumed {
                key: secure_key.to_string(),
                port,
            });
            PortMode::Implicit
        }
        None => PortMode::Starttls,
    };
    let password = password_keys
        .iter()
        .map(|k| r.field(k))
        .find(|f| f.got != Got::Absent)
        .unwrap_or_else(|| r.field(password_keys.last().copied().unwrap_or("SMTP_PASS")));
    Read {
        host: r.field(host_key),
        host_default: "localhost",
        host_fix: HostFix::Key(host_key),
        port,
        mode,
        plain: None,
        user: r.field(user_key),
        password,
        from: Some(r.field(from_key)),
        nothing_to_probe: false,
        problems,
        notes,
    }
}

fn symfony(r: &Reader, path: &Path) -> Result<Read, PlanError> {
    let got = r.get("MAILER_DSN");
    let line = got.line().unwrap_or(0);
    let unreadable = |why: DsnError| PlanError::EnvDsnUnreadable {
        path: path.to_path_buf(),
        line,
        why: why.words(),
    };
    let text = match &got {
        Got::Set { text, .. } => text.clone(),
        Got::Unreadable { syntax, .. } => return Err(unreadable(DsnError::Syntax(*syntax))),
        _ => return Err(unreadable(DsnError::Empty)),
    };
    let dsn = parse_dsn(&text).map_err(unreadable)?;
    let at = |value: Option<String>| KeyRef {
        key: "MAILER_DSN".into(),
        line: Some(line),
        value,
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let goes = match dsn.scheme.as_str() {
        "smtp" | "smtps" => None,
        "null" => Some(MailerDestination::Discarded),
        "sendmail" | "sendmail+smtp" | "native" => Some(MailerDestination::Sendmail),
        _ => {
            return Err(PlanError::EnvApiMailer {
                path: path.to_path_buf(),
                key: "MAILER_DSN".into(),
                line,
                mailer: shown(&dsn.scheme),
            })
        }
    };
    let field = |text: Option<String>, shown_value: Option<String>| Field {
        got: text.map_or(Got::Absent, |text| Got::Set { line, text }),
        at: at(shown_value),
    };
    if let Some(goes) = goes {
        problems.push(problem(
            ProblemKind::MailerNotSmtp {
                mailer: shown(&format!("{}://", dsn.scheme)),
                goes,
                defaulted: false,
            },
            vec![at(Some(shown(&dsn.redacted())))],
            Vec::new(),
        ));
        return Ok(Read {
            host: field(Some(dsn.host.clone()), Some(shown(&dsn.host))),
            host_default: "localhost",
            host_fix: HostFix::Dsn(Box::new(dsn)),
            port: 25,
            mode: PortMode::Starttls,
            plain: None,
            user: field(None, None),
            password: field(None, None),
            from: None,
            nothing_to_probe: true,
            problems,
            notes,
        });
    }
    let smtps = dsn.scheme == "smtps";
    let auto_tls = dsn
        .option("auto_tls")
        .is_none_or(|v| v.is_empty() || bool_word(v) != Some(false));
    let port_text = dsn.port.clone();
    let port = match &port_text {
        Some(p) => {
            let pf = field(Some(p.clone()), Some(shown(p)));
            let fallback = symfony_default_port(Some(&dsn.host));
            port_field(&pf, fallback, &mut problems)
        }
        None => {
            let p = if smtps {
                465
            } else {
                symfony_default_port(Some(&dsn.host))
            };
            notes.push(SettingsNote::Default {
                key: "MAILER_DSN port".into(),
                value: p.to_string(),
            });
            p
        }
    };
    let shown_dsn = Some(shown(&dsn.redacted()));
    let mut plain = None;
    let mode = if smtps {
        problems.extend(tls_against_port(
            PortMode::Implicit,
            port,
            true,
            vec![at(shown_dsn.clone())],
            vec![FixLine {
                text: dsn.line(Some("smtp"), None, None, false),
                replaces: Some(line),
            }],
        ));
        PortMode::Implicit
    } else if !auto_tls {
        // auto_tls=false: plain SMTP, no STARTTLS, even on 465.
        problems.extend(tls_against_port(
            PortMode::Starttls,
            port,
            true,
            vec![at(shown_dsn.clone())],
            vec![FixLine {
                text: dsn.line(Some("smtps"), None, None, true),
                replaces: Some(line),
            }],
        ));
        plain = Some(vec![FixLine {
            text: dsn.line(None, None, None, true),
            replaces: Some(line),
        }]);
        PortMode::Starttls
    } else {
        symfony_mode(port)
    };
    let user = dsn.user.clone();
    let has_password = dsn.password.clone();
    Ok(Read {
        host: field(Some(dsn.host.clone()), Some(shown(&dsn.host))),
        host_default: "localhost",
        port,
        mode,
        plain,
        user: field(user.clone(), user.as_deref().and_then(|u| r.guard(u))),
        password: field(has_password, None),
        from: None,
        nothing_to_probe: false,
        host_fix: HostFix::Dsn(Box::new(dsn)),
        problems,
        notes,
    })
}
