//! The targets file of `check --targets`: a TOML list of servers, each with its ports, TLS mode, login and envelope — never a password.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{HostInput, PlanError};
use crate::cli::ModeChoice;

/// No list of servers is this large; a bigger file is a mistake (a log, a dump), refused before it is read.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most targets one file may list: each becomes a report kept until the run ends.
pub const MAX_TARGETS: usize = 100_000;
/// Longest name (label) of a target: it is a column of the summary table.
const MAX_NAME: usize = 100;
/// The keys a target takes, for the message about an unknown one.
const KEYS: &str = "name, host, ports, mode, user, password_env, from and to";

/// One target of the file, checked, with the lines its keys sit on (for errors found once the command line is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The label people gave it, shown in the summary table and the JSON.
    pub name: Option<String>,
    /// `host` as written, for reports and messages.
    pub host: String,
    pub input: HostInput,
    pub ports: Option<Vec<u16>>,
    pub mode: Option<ModeChoice>,
    pub login: Option<Login>,
    pub from: Option<lettre::Address>,
    pub to: Vec<lettre::Address>,
    pub lines: KeyLines,
}

/// A login: the user, and the name of the environment variable that holds its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub password_env: String,
}

/// Where a target's keys are, for errors that depend on the command line too (a mode that contradicts smtps://, --to without a sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLines {
    pub table: usize,
    pub host: usize,
    pub mode: Option<usize>,
    pub to: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<Spanned<String>>,
    host: Spanned<String>,
    ports: Option<Spanned<Vec<Spanned<i64>>>>,
    mode: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<Spanned<String>>>>,
    /// Read only to be refused with its own message: the file must never hold a password.
    password: Option<Spanned<toml::Value>>,
    /// Read only to point at `ports`, the key this file uses.
    port: Option<Spanned<toml::Value>>,
}

/// Reads and checks the targets file; every error names the file, and the line and key where it has them.
pub fn load(path: &Path) -> Result<Vec<TargetSpec>, PlanError> {
    use std::io::Read;
    let read_error = |source| PlanError::TargetsFileRead {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(PlanError::TargetsFileTooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .iter()
            .take(at)
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        malformed(
            path,
            Some(line),
            None,
            "the file is not UTF-8 text; save it as UTF-8".into(),
        )
    })?;
    parse(path, &text)
}

/// Parses the text of a targets file (`path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vec<TargetSpec>, PlanError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let key = key_of(text, e.message(), line);
        let why = syntax_why(e.message(), key.as_deref());
        malformed(path, line, key, why)
    })?;
    if raw.target.is_empty() {
        return Err(malformed(
            path,
            None,
            None,
            "it lists no target; add one [[target]] table per server, each with at least host = \"smtp.example.com\"".into(),
        ));
    }
    if raw.target.len() > MAX_TARGETS {
        return Err(malformed(
            path,
            None,
            None,
            format!(
                "it lists {} targets, more than the {MAX_TARGETS} one run takes; split it into several files",
                raw.target.len()
            ),
        ));
    }
    let mut out: Vec<TargetSpec> = Vec::with_capacity(raw.target.len());
    for t in raw.target {
        let table = line_of(text, t.span().start);
        let spec = check_target(t.into_inner(), table, &|span| line_of(text, span))
            .map_err(|(line, key, why)| malformed(path, Some(line), Some(key.into()), why))?;
        if let Some(name) = &spec.name {
            if let Some(first) = out.iter().find(|o| o.name.as_ref() == Some(name)) {
                return Err(malformed(
                    path,
                    Some(spec.lines.table),
                    Some("name".into()),
                    format!(
                        "the name '{name}' is already the name of the target on line {}; give each target its own name",
                        first.lines.table
                    ),
                ));
            }
        }
        out.push(spec);
    }
    Ok(out)
}

/// A line, the key on it and why it is wrong.
type KeyError = (usize, &'static str, String);

fn check_target(
    t: RawTarget,
    table: usize,
    line: &dyn Fn(usize) -> usize,
) -> Result<TargetSpec, KeyError> {
    let at = |s: &std::ops::Range<usize>| line(s.start);
    if let Some(p) = &t.password {
        // The value is never repeated: it may be a real password.
        return Err((
            at(&p.span()),
            "password",
            "a password never goes into the targets file; put it in an environment variable and give that \
             variable's name instead, e.g. password_env = \"SHOP_SMTP_PASSWORD\""
                .into(),
        ));
    }
    if let Some(p) = &t.port {
        return Err((
            at(&p.span()),
            "port",
            "the key is ports, a list: ports = [587] (or put the port in host, as host = \"smtp.example.com:587\")"
                .into(),
        ));
    }
    let name = match &t.name {
        Some(n) => Some(check_name(n.get_ref()).map_err(|why| (at(&n.span()), "name", why))?),
        None => None,
    };
    let host_line = at(&t.host.span());
    let input = HostInput::parse(t.host.get_ref()).map_err(|e| {
        let why = match e {
            // The error for HOST would echo the address, password included, and name --user.
            PlanError::CredentialsInHost { .. } => "the host holds a user name or password; write the host alone, \
                 the login as user = \"…\" and the name of the variable with its password as password_env = \"…\""
                .into(),
            other => other.to_string(),
        };
        (host_line, "host", why)
    })?;
    let ports = match &t.ports {
        Some(list) => Some(check_ports(list.get_ref(), at(&list.span()), &at)?),
        None => None,
    };
    let mode = match &t.mode {
        Some(m) => Some(match m.get_ref().as_str() {
            "starttls" => ModeChoice::Starttls,
            "implicit" => ModeChoice::Implicit,
            "detect" => ModeChoice::Detect,
            other => {
                return Err((
                    at(&m.span()),
                    "mode",
                    format!("'{other}' is not a mode; write starttls, implicit or detect"),
                ))
            }
        }),
        None => None,
    };
    let login = match (&t.user, &t.password_env) {
        (Some(u), Some(var)) => {
            if u.get_ref().trim().is_empty() {
                return Err((
                    at(&u.span()),
                    "user",
                    "the user is empty; write the SMTP login, or leave user and password_env out".into(),
                ));
            }
            check_var_name(var.get_ref()).map_err(|why| (at(&var.span()), "password_env", why))?;
            Some(Login {
                user: u.get_ref().clone(),
                password_env: var.get_ref().clone(),
            })
        }
        (Some(u), None) => {
            return Err((
                at(&u.span()),
                "user",
                "a user needs password_env, the name of the environment variable that holds its password \
                 (e.g. password_env = \"SHOP_SMTP_PASSWORD\")"
                    .into(),
            ))
        }
        (None, Some(var)) => {
            return Err((
                at(&var.span()),
                "password_env",
                "password_env needs a user to log in as; add user = \"…\" or leave password_env out".into(),
            ))
        }
        (None, None) => None,
    };
    let from = match &t.from {
        Some(f) => Some(email(f.get_ref()).map_err(|why| (at(&f.span()), "from", why))?),
        None => None,
    };
    let to = match &t.to {
        Some(list) => {
            let mut out = Vec::new();
            for a in list.get_ref() {
                out.push(email(a.get_ref()).map_err(|why| (at(&a.span()), "to", why))?);
            }
            out
        }
        None => Vec::new(),
    };
    Ok(TargetSpec {
        name,
        host: t.host.get_ref().clone(),
        input,
        ports,
        mode,
        login,
        from,
        to,
        lines: KeyLines {
            table,
            host: host_line,
            mode: t.mode.as_ref().map(|m| at(&m.span())),
            to: t.to.as_ref().map(|l| at(&l.span())),
        },
    })
}

fn check_name(name: &str) -> Result<String, String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(
            "the name is empty; give a short label such as \"shop\", or leave name out".into(),
        );
    }
    if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(format!(
            "a name is one line of at most {MAX_NAME} characters (it is a column of the summary table)"
        ));
    }
    Ok(n.to_string())
}

fn check_ports(
    list: &[Spanned<i64>],
    list_line: usize,
    at: &dyn Fn(&std::ops::Range<usize>) -> usize,
) -> Result<Vec<u16>, KeyError> {
    if list.is_empty() {
        return Err((
            list_line,
            "ports",
            "the list is empty; give the ports to probe, e.g. ports = [587], or leave ports out for 25, 465 and 587"
                .into(),
        ));
    }
    let mut out: Vec<u16> = Vec::new();
    for p in list {
        let port = u16::try_from(*p.get_ref())
            .ok()
            .filter(|&v| v != 0)
            .ok_or_else(|| {
                (
                    at(&p.span()),
                    "ports",
                    format!(
                        "{} is not a port; give numbers from 1 to 65535",
                        p.get_ref()
                    ),
                )
            })?;
        if !out.contains(&port) {
            out.push(port);
        }
    }
    Ok(out)
}

/// An environment variable's name; the value is never echoed, since a password may have been written there by mistake.
fn check_var_name(var: &str) -> Result<(), String> {
    let ok = !var.is_empty()
        && var.len() <= 255
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && var.bytes().next().is_some_and(|b| !b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(
            "password_env is the NAME of an environment variable (letters, digits and _, such as \
             SHOP_SMTP_PASSWORD), not the password itself; export the password in that variable"
                .into(),
        )
    }
}

fn email(text: &str) -> Result<lettre::Address, String> {
    super::address("--from", text)
        .map_err(|_| format!("'{text}' is not an email address; give one like app@example.com"))
}

fn malformed(path: &Path, line: Option<usize>, key: Option<String>, why: String) -> PlanError {
    PlanError::TargetsFile {
        path: PathBuf::from(path),
        line,
        key,
        why,
    }
}

/// The 1-based line of a byte offset (clamped to the text).
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key a parse error is about: named in serde's message, else the key assigned on its line (or, inside a
/// list spread over lines, the nearest line above that assigns one).
fn key_of(text: &str, message: &str, line: Option<usize>) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    let line = line?;
    let lines: Vec<&str> = text.lines().take(line).collect();
    for l in lines.iter().rev() {
        let l = l.trim();
        if l.starts_with('[') {
            return None;
        }
        if let Some((k, _)) = l.split_once('=') {
            let k = k.trim();
            let bare = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            return bare.then(|| k.to_string());
        }
    }
    None
}

/// The parser's message, with what to write instead where the key says it.
fn syntax_why(message: &str, key: Option<&str>) -> String {
    if message.starts_with("unknown field") {
        return format!("unknown key; a target takes {KEYS}");
    }
    if message.starts_with("missing field `host`") {
        return "the target has no host; add host = \"smtp.example.com\" (or host:port)".into();
    }
    let hint = match key {
        Some("ports") => "; write a list of numbers, like ports = [587, 465]",
        Some("to") => "; write a list of addresses, like to = [\"me@example.net\"]",
        Some("target") => "; write one [[target]] table per server",
        Some("name" | "host" | "mode" | "user" | "password_env" | "from") => {
            "; write the value in double quotes"
        }
        _ => "",
    };
    format!("{message}{hint}")
}

#[cfg(test)]
mod tests;
