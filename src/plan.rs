//! The checked plan of a run: what to probe and how, built from the command line with no clap types left.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::cli::{CheckArgs, ColorChoice, ModeChoice};
use crate::report::PortMode;

/// Environment variable that carries the password for --user.
pub const PASSWORD_ENV: &str = "SMTP_DOCTOR_PASSWORD";

/// The ports probed when none are given.
pub const DEFAULT_PORTS: [u16; 3] = [25, 465, 587];

/// What the user asked for, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub ports: Vec<(u16, PortMode)>,
    pub family: Family,
    pub timeout: Duration,
    /// The EHLO name; None sends this host's name, which the probes look up.
    pub helo: Option<String>,
    pub credentials: Option<Credentials>,
    pub extra_roots: Arc<Vec<CertificateDer<'static>>>,
    pub resolver: Option<IpAddr>,
    pub mx: bool,
    pub accept_invalid_certs: bool,
    pub allow_cleartext_auth: bool,
    pub output: Output,
}

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

/// The user name of a URL, decoded; a name that cannot be shown safely becomes a placeholder.
fn user_name(raw: &str) -> String {
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
    match String::from_utf8(out) {
        Ok(name) if !name.is_empty() && !name.chars().any(char::is_control) => name,
        _ => "USER".to_string(),
    }
}

/// The command that probes `target` as given, ready to paste into a shell.
fn check_command(scheme: Option<Scheme>, target: &Target, port: Option<&str>) -> String {
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
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/@%+=,-".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    pub fn allows(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Human { color: bool, verbose: bool },
}

/// A user name and password; the password never prints, not even in Debug.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    password: String,
}

impl Credentials {
    pub fn new(user: String, password: String) -> Self {
        Credentials { user, password }
    }
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Why the command line could not become a plan (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("'{0}' is not a host name or an IP address; give something like smtp.example.com or 203.0.113.5")]
    BadHost(String),
    #[error("'{0}' is not a host name, an IP address or host:port; an IPv6 address with a port goes in brackets, like [2001:db8::5]:465")]
    BadHostColons(String),
    #[error("port 0 cannot be probed; give a port between 1 and 65535")]
    PortZero,
    #[error("the port after '{host}:' is not a number from 1 to 65535; give the port your app uses: `{fix}`")]
    BadPort { host: String, fix: String },
    #[error("smtp-doctor probes SMTP servers, and {scheme}:// is not SMTP; to probe the mail ports of that host, run `{fix}`")]
    UnknownScheme { scheme: String, fix: String },
    #[error("smtp-doctor probes a server, and the URL has a path or options after the host; run `{fix}`")]
    PathInUrl { fix: String },
    #[error("the address holds a user name{}; give the host alone and pass the user with --user \
             (the password through {PASSWORD_ENV} or --password-stdin): `{fix}`{}",
            if *password { " and password" } else { "" },
            if *password { " — and consider changing the password: other users of this machine can read command lines (ps)" } else { "" })]
    CredentialsInHost { password: bool, fix: String },
    #[error("that is an email address, not a mail server; give the outgoing (SMTP) server from your mail settings, \
             such as smtp.example.com:587, or probe the domain's MX hosts: `smtp-doctor check {domain} --mx`")]
    EmailAddress { domain: String },
    #[error("{ip} is an IPv{} address, but {flag} probes IPv{} only; drop {flag}, or give a host name or an IPv{} address",
            if ip.is_ipv4() { 4 } else { 6 }, if ip.is_ipv4() { 6 } else { 4 }, if ip.is_ipv4() { 6 } else { 4 })]
    FamilyExcludesAddress { ip: IpAddr, flag: &'static str },
    #[error("smtps:// means TLS from the first byte, but --mode (or SMTP_DOCTOR_MODE) asks for {mode}; \
             to probe as your app connects, drop --mode: `{fix}`; to try {mode} instead, run `{alternative}`")]
    ModeConflict {
        mode: &'static str,
        fix: String,
        alternative: String,
    },
    #[error("cannot read the CA file {path}: {source}; check the path and that it is readable")]
    CaFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the CA file {0} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    CaFileEmpty(PathBuf),
    #[error("--user needs a password: set {PASSWORD_ENV}, pass --password-stdin, or run in a terminal to be prompted")]
    NoPassword,
    #[error("could not read the password: {0}")]
    PasswordRead(std::io::Error),
    #[error("the password is empty; set {PASSWORD_ENV} or type it at the prompt")]
    EmptyPassword,
    #[error("smtp-doctor does not take a password on the command line, where every user of this machine can read it (ps); \
             set {PASSWORD_ENV}, or use --password-stdin, or type it at the prompt — and consider changing the password you just typed")]
    PasswordInArgv,
}

/// Where the password comes from; separated so tests can feed it without a terminal.
pub struct PasswordSources<'a> {
    pub env: Option<String>,
    pub stdin: &'a mut dyn BufRead,
    pub stdin_is_terminal: bool,
}

impl Plan {
    pub fn from_args(args: &CheckArgs) -> Result<Plan, PlanError> {
        let stdin = std::io::stdin();
        let is_tty = stdin.is_terminal();
        let mut lock = stdin.lock();
        let sources = PasswordSources {
            env: std::env::var(PASSWORD_ENV).ok(),
            stdin: &mut lock,
            stdin_is_terminal: is_tty,
        };
        let stdout_tty = std::io::stdout().is_terminal();
        Plan::build(args, sources, stdout_tty)
    }

    pub fn build(
        args: &CheckArgs,
        passwords: PasswordSources<'_>,
        stdout_is_terminal: bool,
    ) -> Result<Plan, PlanError> {
        let input = HostInput::parse(&args.host)?;
        let family = match (args.ipv4, args.ipv6) {
            (true, false) => Family::V4,
            (false, true) => Family::V6,
            _ => Family::Any,
        };
        if let Target::Ip(ip) = input.target {
            if !family.allows(&ip) {
                return Err(PlanError::FamilyExcludesAddress {
                    ip,
                    flag: if family == Family::V4 { "-4" } else { "-6" },
                });
            }
        }
        let ports = port_list(&args.ports, args.mode, &input)?;
        let target = input.target;
        let extra_roots = match &args.ca_file {
            Some(path) => load_ca_file(path)?,
            None => Vec::new(),
        };
        let credentials = match &args.user {
            Some(user) => Some(Credentials::new(
                user.clone(),
                read_password(args.password_stdin, passwords)?,
            )),
            None => None,
        };
        let helo = args.helo.clone().filter(|h| !h.trim().is_empty());
        let output = if args.json {
            Output::Json
        } else {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    stdout_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            Output::Human {
                color,
                verbose: args.verbose,
            }
        };
        Ok(Plan {
            target,
            ports,
            family,
            timeout: Duration::from_secs_f64(args.timeout),
            helo,
            credentials,
            extra_roots: Arc::new(extra_roots),
            resolver: args.resolver,
            mx: args.mx,
            accept_invalid_certs: args.danger_accept_invalid_certs,
            allow_cleartext_auth: args.danger_allow_cleartext_auth,
            output,
        })
    }
}

/// The ports to probe and how: -p in its order, then the port in HOST; with neither, the scheme's port or the defaults.
///
/// A port in HOST is the one the user's app uses, so without -p it is probed alone. The port an smtp(s)://
/// URL implies without naming one is a default, which -p replaces like DEFAULT_PORTS.
fn port_list(
    flags: &[u16],
    mode: Option<ModeChoice>,
    input: &HostInput,
) -> Result<Vec<(u16, PortMode)>, PlanError> {
    let mut wanted: Vec<u16> = match (flags.is_empty(), input.port, input.scheme) {
        (true, Some(p), _) => vec![p],
        (true, None, Some(scheme)) => vec![scheme.default_port()],
        (true, None, None) => DEFAULT_PORTS.to_vec(),
        (false, Some(p), _) => flags.iter().copied().chain([p]).collect(),
        (false, None, _) => flags.to_vec(),
    };
    let mut seen = Vec::new();
    wanted.retain(|p| {
        let first = !seen.contains(p);
        seen.push(*p);
        first
    });
    if wanted.contains(&0) {
        return Err(PlanError::PortZero);
    }
    // smtps:// pins implicit TLS on the ports the URL stands for: its own, else those of -p (as in nodemailer's
    // `{url, port}`); other -p ports are probed the usual way.
    let pinned =
        |p: u16| input.scheme == Some(Scheme::Smtps) && input.port.is_none_or(|own| own == p);
    if let Some(choice) =
        mode.filter(|&m| m != ModeChoice::Implicit && wanted.iter().any(|&p| pinned(p)))
    {
        let name = match choice {
            ModeChoice::Starttls => "starttls",
            _ => "detect",
        };
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let own = input.port.map(|p| p.to_string());
        let mut fix = check_command(input.scheme, &input.target, own.as_deref());
        if !flags.is_empty() {
            fix = format!("{fix} -p {}", list(flags));
        }
        return Err(PlanError::ModeConflict {
            mode: name,
            fix,
            alternative: format!(
                "{} -p {} --mode {name}",
                check_command(None, &input.target, None),
                list(&wanted)
            ),
        });
    }
    let ports = wanted
        .into_iter()
        .map(|p| {
            let mode = match (pinned(p), mode) {
                (true, _) => PortMode::Implicit,
                (false, Some(ModeChoice::Starttls)) => PortMode::Starttls,
                (false, Some(ModeChoice::Implicit)) => PortMode::Implicit,
                (false, Some(ModeChoice::Detect)) => PortMode::Detect,
                (false, None) => mode_for_port(p),
            };
            (p, mode)
        })
        .collect();
    Ok(ports)
}

/// 465 is SMTPS; the registered plaintext ports start with STARTTLS; anything else is detected.
pub fn mode_for_port(port: u16) -> PortMode {
    match port {
        465 => PortMode::Implicit,
        25 | 587 | 2525 => PortMode::Starttls,
        _ => PortMode::Detect,
    }
}

fn load_ca_file(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, PlanError> {
    let bytes = std::fs::read(path).map_err(|source| PlanError::CaFileRead {
        path: path.clone(),
        source,
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(PlanError::CaFileEmpty(path.clone()));
    }
    Ok(certs)
}

fn read_password(from_stdin: bool, src: PasswordSources<'_>) -> Result<String, PlanError> {
    let pw = if from_stdin {
        let mut line = String::new();
        src.stdin
            .read_line(&mut line)
            .map_err(PlanError::PasswordRead)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(env) = src.env {
        env
    } else if src.stdin_is_terminal {
        prompt_no_echo("Password: ").map_err(PlanError::PasswordRead)?
    } else {
        return Err(PlanError::NoPassword);
    };
    if pw.is_empty() {
        return Err(PlanError::EmptyPassword);
    }
    Ok(pw)
}

/// Prompts on the terminal with echo off, restoring the terminal even when reading fails.
fn prompt_no_echo(prompt: &str) -> std::io::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let fd = stdin.lock();
    let original = tcgetattr(&fd).map_err(std::io::Error::from)?;
    let mut silent = original.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    silent.local_flags.insert(LocalFlags::ECHONL);
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    tcsetattr(&fd, SetArg::TCSANOW, &silent).map_err(std::io::Error::from)?;
    let mut line = String::new();
    let result = std::io::stdin().lock().read_line(&mut line);
    let restore = tcsetattr(&fd, SetArg::TCSANOW, &original);
    result?;
    restore.map_err(std::io::Error::from)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("SMTP.Gmail.com.").ok(),
            Some(Target::Name("smtp.gmail.com".into()))
        );
        assert_eq!(
            Target::parse("[2001:db8::1]").ok(),
            Some(Target::Ip(
                "2001:db8::1".parse().unwrap_or(IpAddr::from([0; 4]))
            ))
        );
        assert!(matches!(
            Target::parse("192.0.2.7"),
            Ok(Target::Ip(IpAddr::V4(_)))
        ));
        for bad in ["", "a..b", "-x.com", "bad host", "x/y", "ex ample.com"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn modes_follow_ports() {
        assert_eq!(mode_for_port(465), PortMode::Implicit);
        assert_eq!(mode_for_port(587), PortMode::Starttls);
        assert_eq!(mode_for_port(25), PortMode::Starttls);
        assert_eq!(mode_for_port(10025), PortMode::Detect);
    }

    fn plan_for(args: &[&str]) -> Result<Plan, PlanError> {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let argv = ["smtp-doctor", "check"].iter().chain(args);
        let cli = Cli::try_parse_from(argv).expect("valid command line");
        let Command::Check(args) = cli.command else {
            panic!("expected check");
        };
        let mut empty: &[u8] = b"";
        let sources = PasswordSources {
            env: Some("pw".into()),
            stdin: &mut empty,
            stdin_is_terminal: false,
        };
        Plan::build(&args, sources, false)
    }

    fn ip(s: &str) -> Target {
        Target::Ip(s.parse().expect("literal IP in the test table"))
    }

    fn name(s: &str) -> Target {
        Target::Name(s.into())
    }

    #[test]
    fn host_inputs_parse() {
        use Scheme::{Smtp, Smtps};
        let table: &[(&str, Target, Option<u16>, Option<Scheme>)] = &[
            ("smtp.example.com", name("smtp.example.com"), None, None),
            ("SMTP.Example.com.", name("smtp.example.com"), None, None),
            (" h.test:587 ", name("h.test"), Some(587), None),
            ("h.test.:2525", name("h.test"), Some(2525), None),
            ("192.0.2.7", ip("192.0.2.7"), None, None),
            ("192.0.2.7:25", ip("192.0.2.7"), Some(25), None),
            ("[192.0.2.7]", ip("192.0.2.7"), None, None),
            ("2001:db8::5", ip("2001:db8::5"), None, None),
            // Valid IPv6 wins: the last group is an address group, not a port.
            ("2001:db8::5:465", ip("2001:db8::5:465"), None, None),
            ("[2001:db8::5]", ip("2001:db8::5"), None, None),
            ("[2001:db8::5]:465", ip("2001:db8::5"), Some(465), None),
            ("smtp://h.test", name("h.test"), None, Some(Smtp)),
            ("smtp://h.test/", name("h.test"), None, Some(Smtp)),
            ("SMTP://H.test:0587", name("h.test"), Some(587), Some(Smtp)),
            ("smtps://h.test", name("h.test"), None, Some(Smtps)),
            (
                "smtps://h.test:587/",
                name("h.test"),
                Some(587),
                Some(Smtps),
            ),
            (
                "smtps://[2001:db8::5]:465",
                ip("2001:db8::5"),
                Some(465),
                Some(Smtps),
            ),
            (
                "smtp://198.51.100.9:2525",
                ip("198.51.100.9"),
                Some(2525),
                Some(Smtp),
            ),
        ];
        for (input, target, port, scheme) in table {
            let want = HostInput {
                target: target.clone(),
                port: *port,
                scheme: *scheme,
            };
            assert_eq!(HostInput::parse(input).ok(), Some(want), "{input:?}");
        }
    }

    fn kind(e: &PlanError) -> &'static str {
        match e {
            PlanError::BadHost(_) => "bad host",
            PlanError::BadHostColons(_) => "colons",
            PlanError::PortZero => "port 0",
            PlanError::BadPort { .. } => "bad port",
            PlanError::UnknownScheme { .. } => "scheme",
            PlanError::PathInUrl { .. } => "path",
            PlanError::CredentialsInHost { .. } => "credentials",
            PlanError::EmailAddress { .. } => "email",
            PlanError::FamilyExcludesAddress { .. } => "family",
            PlanError::ModeConflict { .. } => "mode",
            _ => "other",
        }
    }

    #[test]
    fn host_inputs_refused_with_the_command_to_type() {
        let table: &[(&str, &str, &str)] = &[
            ("", "bad host", "smtp.example.com"),
            ("bad host!", "bad host", "smtp.example.com"),
            ("x/y", "bad host", "smtp.example.com"),
            (
                "h.test:abc",
                "bad port",
                "`smtp-doctor check h.test -p PORT`",
            ),
            ("h.test:", "bad port", "`smtp-doctor check h.test -p PORT`"),
            ("h.test:+587", "bad port", "-p PORT"),
            ("h.test:65536", "bad port", "-p PORT"),
            (
                "[2001:db8::5]:x",
                "bad port",
                "`smtp-doctor check 2001:db8::5 -p PORT`",
            ),
            (
                "smtps://h.test:x",
                "bad port",
                "`smtp-doctor check smtps://h.test:PORT`",
            ),
            ("h.test:0", "port 0", "between 1 and 65535"),
            ("smtp://h.test:0", "port 0", "between 1 and 65535"),
            ("2001:db8::zz:465", "colons", "[2001:db8::5]:465"),
            ("h.test:25:26", "colons", "brackets"),
            ("[2001:db8::5", "bad host", ""),
            ("[2001:db8::5]465", "bad host", ""),
            ("[h.test]:25", "bad host", ""),
            ("https://h.test", "scheme", "`smtp-doctor check h.test`"),
            ("imap://h.test:993", "scheme", "`smtp-doctor check h.test`"),
            ("imap://bad host", "scheme", "`smtp-doctor check HOST`"),
            (
                "smtp://h.test:587/foo",
                "path",
                "`smtp-doctor check smtp://h.test:587`",
            ),
            (
                "smtp://h.test?verify_peer=0",
                "path",
                "`smtp-doctor check smtp://h.test`",
            ),
            (
                "smtp://app%40example.com:S3cret@h.test:587",
                "credentials",
                "`smtp-doctor check smtp://h.test:587 --user app@example.com`",
            ),
            (
                "smtps://u:S3c@ret@[2001:db8::5]",
                "credentials",
                "`smtp-doctor check 'smtps://[2001:db8::5]' --user u`",
            ),
            ("smtp://u:S3c/ret@h.test", "credentials", "--user u`"),
            (
                "u:S3cret@h.test:587",
                "credentials",
                "`smtp-doctor check h.test:587 --user u`",
            ),
            ("smtp://:S3cret@h.test", "credentials", "--user USER`"),
            ("smtp://u%0a:S3cret@h.test", "credentials", "--user USER`"),
            (
                "smtp://o'neil@h.test",
                "credentials",
                r"--user 'o'\''neil'`",
            ),
            (
                "https://u:S3cret@h.test",
                "scheme",
                "`smtp-doctor check h.test`",
            ),
            (
                "app@example.com",
                "email",
                "`smtp-doctor check example.com --mx`",
            ),
            (
                "app@h.test:587",
                "credentials",
                "`smtp-doctor check h.test:587 --user app`",
            ),
        ];
        for (input, want, says) in table {
            match HostInput::parse(input) {
                Ok(h) => panic!("{input:?} parsed as {h:?}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert_eq!(kind(&e), *want, "{input:?}: {msg}");
                    assert!(msg.contains(says), "{input:?}: {msg}");
                    assert!(
                        !msg.contains("S3c") && !format!("{e:?}").contains("S3c"),
                        "{input:?} echoed the password: {msg}"
                    );
                }
            }
        }
        let with_password = HostInput::parse("smtp://u:S3cret@h.test")
            .err()
            .map(|e| e.to_string());
        assert!(with_password.is_some_and(
            |m| m.contains("user name and password") && m.contains("changing the password")
        ));
        let user_only = HostInput::parse("smtp://u@h.test")
            .err()
            .map(|e| e.to_string());
        assert!(user_only.is_some_and(|m| m.contains("user name;") && !m.contains("changing")));
    }

    #[test]
    fn ports_follow_host_and_flags() {
        use PortMode::{Detect, Implicit, Starttls};
        type Row<'a> = (&'a [&'a str], &'a [(u16, PortMode)]);
        let table: &[Row] = &[
            (
                &["h.test"],
                &[(25, Starttls), (465, Implicit), (587, Starttls)],
            ),
            (&["h.test:587"], &[(587, Starttls)]),
            (&["h.test:10025"], &[(10025, Detect)]),
            (&["[2001:db8::5]:465"], &[(465, Implicit)]),
            (&["smtp://h.test"], &[(587, Starttls)]),
            (&["smtps://h.test"], &[(465, Implicit)]),
            (&["smtp://h.test:465"], &[(465, Implicit)]),
            (&["smtps://h.test:587"], &[(587, Implicit)]),
            // -p first in its order, then HOST's port, once.
            (
                &["h.test:2525", "-p", "587,25"],
                &[(587, Starttls), (25, Starttls), (2525, Starttls)],
            ),
            (
                &["h.test:587", "-p", "587,25"],
                &[(587, Starttls), (25, Starttls)],
            ),
            // The port a URL only implies gives way to -p, as the defaults do.
            (&["smtp://h.test", "-p", "2525"], &[(2525, Starttls)]),
            // smtps:// without a port stands for the -p ports; with one, only for its own.
            (&["smtps://h.test", "-p", "587"], &[(587, Implicit)]),
            (
                &["smtps://h.test:587", "-p", "25"],
                &[(25, Starttls), (587, Implicit)],
            ),
            (
                &["smtps://h.test:587", "--mode", "implicit"],
                &[(587, Implicit)],
            ),
            (
                &["smtp://h.test:587", "--mode", "implicit"],
                &[(587, Implicit)],
            ),
            (
                &["smtps://h.test:587", "-p", "25", "--mode", "implicit"],
                &[(25, Implicit), (587, Implicit)],
            ),
            (&["h.test:2600", "--mode", "starttls"], &[(2600, Starttls)]),
            (
                &["h.test", "-p", "465,2600"],
                &[(465, Implicit), (2600, Detect)],
            ),
            (
                &["h.test", "-p", "465,2600", "--mode", "starttls"],
                &[(465, Starttls), (2600, Starttls)],
            ),
            (
                &["h.test", "-p", "2600", "--mode", "implicit"],
                &[(2600, Implicit)],
            ),
        ];
        for (argv, want) in table {
            match plan_for(argv) {
                Ok(p) => assert_eq!(p.ports, *want, "{argv:?}"),
                Err(e) => panic!("{argv:?}: {e}"),
            }
        }
    }

    #[test]
    fn contradictions_are_usage_errors() {
        let table: &[(&[&str], &str, &str)] = &[
            (&["h.test", "-p", "0"], "port 0", ""),
            (&["h.test:25", "-p", "0"], "port 0", ""),
            (
                &["smtps://h.test:587", "--mode", "starttls"],
                "mode",
                "drop --mode: `smtp-doctor check smtps://h.test:587`; to try starttls instead, run `smtp-doctor check h.test -p 587 --mode starttls`",
            ),
            (&["smtps://h.test", "--mode", "detect"], "mode", "`smtp-doctor check h.test -p 465 --mode detect`"),
            (&["smtps://h.test", "-p", "587,2525", "--mode", "starttls"], "mode", "`smtp-doctor check smtps://h.test -p 587,2525`"),
            (&["203.0.113.5", "-6"], "family", "203.0.113.5 is an IPv4 address, but -6"),
            (&["[2001:db8::5]:465", "-4"], "family", "2001:db8::5 is an IPv6 address, but -4"),
            (&["smtps://[2001:db8::5]", "--ipv4"], "family", "drop -4"),
        ];
        for (argv, want, says) in table {
            match plan_for(argv) {
                Ok(p) => panic!("{argv:?} planned {:?}", p.ports),
                Err(e) => {
                    assert_eq!(kind(&e), *want, "{argv:?}: {e}");
                    assert!(e.to_string().contains(says), "{argv:?}: {e}");
                }
            }
        }
        assert!(plan_for(&["203.0.113.5", "-4"]).is_ok());
        assert!(plan_for(&["h.test", "-6"]).is_ok());
    }

    #[test]
    fn helo_is_left_to_the_probes_unless_given() {
        assert_eq!(plan_for(&["h.test"]).ok().map(|p| p.helo), Some(None));
        assert_eq!(
            plan_for(&["h.test", "--helo", " "]).ok().map(|p| p.helo),
            Some(None)
        );
        assert_eq!(
            plan_for(&["h.test", "--helo", "client.example.com"])
                .ok()
                .map(|p| p.helo),
            Some(Some("client.example.com".into()))
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let c = Credentials::new("u".into(), "hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn password_sources_in_order() {
        let mut input: &[u8] = b"from-stdin\n";
        let pw = read_password(
            true,
            PasswordSources {
                env: Some("from-env".into()),
                stdin: &mut input,
                stdin_is_terminal: false,
            },
        );
        assert_eq!(pw.ok().as_deref(), Some("from-stdin"));
        let mut empty: &[u8] = b"";
        let pw = read_password(
            false,
            PasswordSources {
                env: Some("from-env".into()),
                stdin: &mut empty,
                stdin_is_terminal: false,
            },
        );
        assert_eq!(pw.ok().as_deref(), Some("from-env"));
        let mut empty: &[u8] = b"";
        let pw = read_password(
            false,
            PasswordSources {
                env: None,
                stdin: &mut empty,
                stdin_is_terminal: false,
            },
        );
        assert!(matches!(pw, Err(PlanError::NoPassword)));
    }
}
