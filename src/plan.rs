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
    /// The EHLO name asked for; None: this host's own name, which the probes look up (a host fact).
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
    #[error("port 0 cannot be probed; give a port between 1 and 65535")]
    PortZero,
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
        let target = Target::parse(&args.host)?;
        let mut ports: Vec<(u16, PortMode)> = Vec::new();
        let wanted: Vec<u16> = if args.ports.is_empty() {
            DEFAULT_PORTS.to_vec()
        } else {
            args.ports.clone()
        };
        for p in wanted {
            if p == 0 {
                return Err(PlanError::PortZero);
            }
            if !ports.iter().any(|(q, _)| *q == p) {
                let mode = match args.mode {
                    Some(ModeChoice::Starttls) => PortMode::Starttls,
                    Some(ModeChoice::Implicit) => PortMode::Implicit,
                    Some(ModeChoice::Detect) => PortMode::Detect,
                    None => mode_for_port(p),
                };
                ports.push((p, mode));
            }
        }
        let family = match (args.ipv4, args.ipv6) {
            (true, false) => Family::V4,
            (false, true) => Family::V6,
            _ => Family::Any,
        };
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

    #[test]
    fn mode_flag_overrides_every_port() {
        use crate::cli::{Cli, Command};
        use clap::Parser;
        let plan_for = |argv: &[&str]| {
            let cli = Cli::try_parse_from(argv).expect("valid command line");
            let Command::Check(args) = cli.command else {
                panic!("expected check");
            };
            let mut empty: &[u8] = b"";
            let sources = PasswordSources {
                env: None,
                stdin: &mut empty,
                stdin_is_terminal: false,
            };
            Plan::build(&args, sources, false).expect("valid plan")
        };
        let p = plan_for(&["smtp-doctor", "check", "h.test", "-p", "465,2600"]);
        assert_eq!(
            p.ports,
            vec![(465, PortMode::Implicit), (2600, PortMode::Detect)]
        );
        let p = plan_for(&[
            "smtp-doctor",
            "check",
            "h.test",
            "-p",
            "465,2600",
            "--mode",
            "starttls",
        ]);
        assert_eq!(
            p.ports,
            vec![(465, PortMode::Starttls), (2600, PortMode::Starttls)]
        );
        let p = plan_for(&[
            "smtp-doctor",
            "check",
            "h.test",
            "-p",
            "2600",
            "--mode",
            "implicit",
        ]);
        assert_eq!(p.ports, vec![(2600, PortMode::Implicit)]);
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
