//! The exporter's config file: TOML modules (ports, TLS mode, login by environment-variable name, envelope, limits), checked, every error naming its line and key.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::cli::ModeChoice;
use crate::plan::{Credentials, Envelope, Family, Output, ProbeOptions};

/// A module's time limit when it sets none, in seconds.
pub const DEFAULT_TIMEOUT: f64 = 10.0;
/// The longest a module may give a probe, in seconds (as check's --timeout).
const MAX_TIMEOUT: f64 = 600.0;

/// The checked config: modules by name.
#[derive(Debug)]
pub struct Config {
    pub modules: BTreeMap<String, Module>,
}

/// One way of probing a target, as a scrape names it with `module=`.
#[derive(Debug, Clone)]
pub struct Module {
    /// Probed in this order, then the target's own port; empty: the target's port, else 25, 465 and 587.
    pub ports: Vec<u16>,
    pub mode: Option<ModeChoice>,
    pub credentials: Option<Credentials>,
    pub envelope: Option<Envelope>,
    /// The longest one probe may take; a scrape's own timeout can make it shorter.
    pub timeout: Duration,
    /// Family, EHLO name, extra trust and resolver; each probe sets the step timeout from its deadline.
    pub options: ProbeOptions,
}

/// Why the config file cannot be used (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {key}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    modules: BTreeMap<Spanned<String>, RawModule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    ports: Option<Spanned<Vec<u16>>>,
    mode: Option<Spanned<RawMode>>,
    user: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    /// Never accepted: present only to refuse it with the reason.
    password: Option<Spanned<toml::Value>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<f64>>,
    family: Option<Spanned<RawFamily>>,
    ca_file: Option<Spanned<PathBuf>>,
    helo: Option<Spanned<String>>,
    resolver: Option<Spanned<IpAddr>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawMode {
    Starttls,
    Implicit,
    Detect,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawFamily {
    Any,
    Ipv4,
    Ipv6,
}

/// Reads and checks the file; passwords come from the environment through `env`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path, env)
}

/// Checks `text` as the config file at `path` (relative CA files are found beside it).
pub fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let at = |span: std::ops::Range<usize>, key: String, message: String| ConfigError::At {
        path: path.to_path_buf(),
        line: line_of(text, span.start),
        key,
        message,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = one_line(e.message());
        match e.span() {
            Some(span) => at(span.clone(), key_at(text, span.start), message),
            None => ConfigError::File {
                path: path.to_path_buf(),
                message,
            },
        }
    })?;
    if raw.modules.is_empty() {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: "no module is defined; add one, e.g. [modules.submission] with ports = [587]"
                .into(),
        });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut modules = BTreeMap::new();
    for (name, m) in raw.modules {
        let key = |field: &str| format!("modules.{}.{field}", name.get_ref());
        if !valid_name(name.get_ref()) {
            return Err(at(
                name.span(),
                format!("modules.{}", name.get_ref()),
                "a module name is 1 to 64 letters, digits, '_', '-' or '.' (it appears in URLs and labels)".into(),
            ));
        }
        let module = check_module(m, dir, env)
            .map_err(|(span, field, message)| at(span, key(field), message))?;
        modules.insert(name.into_inner(), module);
    }
    Ok(Config { modules })
}

type FieldError = (std::ops::Range<usize>, &'static str, String);

fn check_module(
    m: RawModule,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Module, FieldError> {
    if let Some(p) = &m.password {
        return Err((
            p.span(),
            "password",
            "a password never goes in the config file: put it in an environment variable of the exporter and name that variable with password_env".into(),
        ));
    }
    let ports = match m.ports {
        Some(p) if p.get_ref().is_empty() => {
            return Err((
                p.span(),
                "ports",
                "an empty list probes nothing; leave ports out to probe the target's own port, else 25, 465 and 587".into(),
            ))
        }
        Some(p) if p.get_ref().contains(&0) => {
            return Err((
                p.span(),
                "ports",
                "port 0 cannot be probed; give ports from 1 to 65535".into(),
            ))
        }
        Some(p) => p.into_inner(),
        None => Vec::new(),
    };
    let mode = m.mode.map(|s| match s.into_inner() {
        RawMode::Starttls => ModeChoice::Starttls,
        RawMode::Implicit => ModeChoice::Implicit,
        RawMode::Detect => ModeChoice::Detect,
    });
    let credentials = match (m.user, m.password_env) {
        (None, None) => None,
        (Some(u), None) => return Err((
            u.span(),
            "user",
            "a user needs password_env: the name of the environment variable holding its password"
                .into(),
        )),
        (None, Some(p)) => {
            return Err((
                p.span(),
                "password_env",
                "password_env needs user: the login the password belongs to".into(),
            ))
        }
        (Some(u), Some(p)) => {
            let var = p.get_ref();
            if !valid_env_name(var) {
                return Err((
                    p.span(),
                    "password_env",
                    format!("'{}' is not an environment variable name (letters, digits and '_', not starting with a digit)", var.escape_debug()),
                ));
            }
            match env(var).filter(|v| !v.is_empty()) {
                Some(password) => Some(Credentials::new(u.into_inner(), password)),
                None => {
                    return Err((
                        p.span(),
                        "password_env",
                        format!("the environment variable {var} is not set (or empty); set it in the exporter's environment (systemd: Environment= or EnvironmentFile=)"),
                    ))
                }
            }
        }
    };
    let envelope = match (m.from, m.to) {
        (None, None) => None,
        (None, Some(t)) => {
            return Err((
                t.span(),
                "to",
                "to needs from: the sender whose envelope is tested".into(),
            ))
        }
        (Some(f), to) => {
            let to_list = to.as_ref().map(|t| t.get_ref().clone()).unwrap_or_default();
            let to_span = to.as_ref().map(|t| t.span());
            match Envelope::parse(f.get_ref(), &to_list, false) {
                Ok(e) => Some(e),
                Err(crate::plan::PlanError::BadAddress { flag: "--to", text }) => {
                    return Err((
                        to_span.unwrap_or_else(|| f.span()),
                        "to",
                        format!("'{}' is not an email address", text.escape_debug()),
                    ))
                }
                Err(_) => {
                    return Err((
                        f.span(),
                        "from",
                        format!("'{}' is not an email address", f.get_ref().escape_debug()),
                    ))
                }
            }
        }
    };
    let timeout = match m.timeout {
        Some(t) => {
            let v = *t.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= MAX_TIMEOUT) {
                return Err((
                    t.span(),
                    "timeout",
                    format!(
                        "{v} seconds is out of range: give more than 0 and at most {MAX_TIMEOUT}"
                    ),
                ));
            }
            v
        }
        None => DEFAULT_TIMEOUT,
    };
    let extra_roots = match m.ca_file {
        Some(f) => {
            let path = dir.join(f.get_ref());
            crate::plan::load_ca_file(&path).map_err(|e| (f.span(), "ca_file", e.to_string()))?
        }
        None => Vec::new(),
    };
    let family = match m.family.map(|f| f.into_inner()) {
        None | Some(RawFamily::Any) => Family::Any,
        Some(RawFamily::Ipv4) => Family::V4,
        Some(RawFamily::Ipv6) => Family::V6,
    };
    let helo = match m.helo {
        Some(h) if h.get_ref().trim().is_empty() => {
            return Err((
                h.span(),
                "helo",
                "an empty EHLO name; leave helo out to send this host's name".into(),
            ))
        }
        Some(h) => Some(h.into_inner()),
        None => None,
    };
    Ok(Module {
        ports,
        mode,
        credentials,
        envelope,
        timeout: Duration::from_secs_f64(timeout),
        options: ProbeOptions {
            family,
            timeout: Duration::from_secs_f64(timeout),
            helo,
            extra_roots,
            resolver: m.resolver.map(Spanned::into_inner),
            accept_invalid_certs: false,
            allow_cleartext_auth: false,
            output: Output::Prometheus,
        },
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn valid_env_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key at a byte offset, for toml's own errors (which give a span, not the key): the key of that line
/// under the table the nearest header above opened, e.g. `modules.submission.ports`.
fn key_at(text: &str, offset: usize) -> String {
    let line_no = line_of(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let header = |l: &str| {
        let t = l.trim();
        t.starts_with('[')
            .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    };
    let this = lines.get(line_no.saturating_sub(1)).copied().unwrap_or("");
    if let Some(h) = header(this) {
        return h;
    }
    let table = lines
        .iter()
        .take(line_no.saturating_sub(1))
        .rev()
        .find_map(|l| header(l));
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty());
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => "(top level)".into(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
