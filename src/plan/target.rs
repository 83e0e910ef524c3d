//! The target as people paste it: a host name, an IP literal, host:port, [v6]:port, smtp:// and smtps:// URLs.

use std::fmt;
use std::net::IpAddr;

use super::PlanError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, PlanError> {
        let trimmed = s.trim().trim_end_matches('.');
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        let valid = !trimmed.is_empty()
            && trimmed.len() <= 253
            && trimmed.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !valid {
            return Err(PlanError::BadHost(s.to_string()));
        }
        Ok(Target::Name(trimmed.to_ascii_lowercase()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A URL scheme of the HOST argument, as in a MAILER_DSN or a nodemailer URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `smtp://`: the mode follows the port, like a bare host:port.
    Smtp,
    /// `smtps://`: TLS from the first byte, whatever the port.
    Smtps,
}

impl Scheme {
    /// The port a URL without one means, as nodemailer reads it.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Smtp => 587,
            Scheme::Smtps => 465,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Smtp => "smtp",
            Scheme::Smtps => "smtps",
        }
    }
}

/// The HOST argument as people paste it: the target, and the port and scheme it may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInput {
    pub target: Target,
    pub port: Option<u16>,
    pub scheme: Option<Scheme>,
}

impl HostInput {
    /// Reads `host`, `host:port`, `[v6]:port`, `smtp://host:port` or `smtps://host:port`.
    ///
    /// A user name and password in the address are refused, and no error repeats the password:
    /// everything before the last `@` may hold it, so only the user name (before the first `:`) is shown.
    pub fn parse(input: &str) -> Result<HostInput, PlanError> {
        let s = input.trim();
        let (scheme_text, rest) = match s.split_once("://") {
            Some((scheme, rest)) if is_scheme_token(scheme) => {
                (Some(scheme.to_ascii_lowercase()), rest)
            }
            _ => (None, s),
        };
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (authority, path) = match (&scheme_text, rest.find(['/', '?', '#'])) {
            (Some(_), Some(i)) => rest.split_at(i),
            _ => (rest, ""),
        };
        let scheme = match scheme_text.as_deref() {
            None => None,
            Some("smtp") => Some(Scheme::Smtp),
            Some("smtps") => Some(Scheme::Smtps),
            Some(other) => {
                let fix = match split_host_port(authority) {
                    Ok((target, _)) => check_command(None, &target, None),
                    Err(_) => "smtp-doctor check HOST".to_string(),
                };
                return Err(PlanError::UnknownScheme {
                    scheme: other.to_string(),
                    fix,
                });
            }
        };
        let (target, port_text) = split_host_port(authority)?;
        let port = match port_text {
            None => None,
            Some(text) => Some(parse_port(text).ok_or_else(|| PlanError::BadPort {
                host: host_text(&target, true),
                fix: match scheme {
                    Some(_) => check_command(scheme, &target, Some("PORT")),
                    None => format!("{} -p PORT", check_command(None, &target, None)),
                },
            })?),
        };
        if port == Some(0) {
            return Err(PlanError::PortZero);
        }
        let port_text = port.map(|p| p.to_string());
        if let Some(userinfo) = userinfo {
            // `user@host` alone is how an email address looks; with a port or a scheme it is a login.
            if scheme.is_none() && port.is_none() && !userinfo.contains(':') {
                return Err(PlanError::EmailAddress {
                    domain: target.to_string(),
                });
            }
            let (user, password) = match userinfo.split_once(':') {
                Some((user, _)) => (user, true),
                None => (userinfo, false),
            };
            return Err(PlanError::CredentialsInHost {
                password,
                fix: format!(
                    "{} --user {}",
                    check_command(scheme, &target, port_text.as_deref()),
                    shell_word(&user_name(user))
                ),
            });
        }
        // A lone trailing slash is how many settings screens write a URL; anything more is not a server.
        if !path.is_empty() && path != "/" {
            return Err(PlanError::PathInUrl {
                fix: check_command(scheme, &target, port_text.as_deref()),
            });
        }
        Ok(HostInput {
            target,
            port,
            scheme,
        })
    }
}

/// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); anything else before `://` is not a scheme.
fn is_scheme_token(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Splits `host`, `host:port` and `[ip]:port`; a valid IPv6 address is never split at its colons.
fn split_host_port(a: &str) -> Result<(Target, Option<&str>), PlanError> {
    if let Some(inside) = a.strip_prefix('[') {
        let (ip, after) = inside
            .split_once(']')
            .and_then(|(ip, after)| Some((ip.parse::<IpAddr>().ok()?, after)))
            .ok_or_else(|| PlanError::BadHost(a.to_string()))?;
        return match after {
            "" => Ok((Target::Ip(ip), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((Target::Ip(ip), Some(port))),
                None => Err(PlanError::BadHost(a.to_string())),
            },
        };
    }
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok((Target::Ip(ip), None));
    }
    match a.split_once(':') {
        None => Ok((Target::parse(a)?, None)),
        Some((host, port)) if !port.contains(':') => Ok((Target::parse(host)?, Some(port))),
        Some(_) => Err(PlanError::BadHostColons(a.to_string())),
    }
}

/// Digits only: `u16::from_str` would also take "+587".
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The user name of a URL, decoded; a name that cannot be shown safely is shown as USER.
fn user_name(raw: &str) -> String {
    match String::from_utf8(percent_decode(raw)) {
        Ok(name) if !name.is_empty() && !name.chars().any(char::is_control) => name,
        _ => "USER".to_string(),
    }
}

/// `%XX` decoded as PHP's rawurldecode and nodemailer's URL parser do (a `+` stays); a broken escape stays as written.
pub(super) fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The command that probes `target` as given, ready to paste into a shell.
pub(super) fn check_command(scheme: Option<Scheme>, target: &Target, port: Option<&str>) -> String {
    let host = host_text(target, scheme.is_some() || port.is_some());
    let mut arg = match scheme {
        Some(s) => format!("{}://{host}", s.as_str()),
        None => host,
    };
    if let Some(port) = port {
        arg = format!("{arg}:{port}");
    }
    format!("smtp-doctor check {}", shell_word(&arg))
}

/// The target as written before a port or in a URL, where an IPv6 address needs its brackets.
fn host_text(target: &Target, bracketed: bool) -> String {
    match target {
        Target::Ip(IpAddr::V6(ip)) if bracketed => format!("[{ip}]"),
        _ => target.to_string(),
    }
}

/// Quotes a word for a POSIX shell when it holds anything a shell would interpret (`[` globs in zsh).
pub(super) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@%+=,-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
