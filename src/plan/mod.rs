//! The checked plan of a run: what to probe and how, built from the command line with no clap types left.

pub mod env_file;
pub mod fleet;
mod mta;
mod range;
mod run_as;
mod secret;
mod target;
pub mod targets;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::cli::{CheckArgs, ColorChoice, FormatChoice, ModeChoice, ProbeArgs};
use crate::report::settings::{shown, SettingsFacts, SettingsNote};
use crate::report::PortMode;

pub use fleet::{is_fleet, FleetFormat, FleetPlan, FleetTarget, Unprobed};
pub use mta::MtaPlan;
pub use range::{Range, RangeError, Thresholds};
pub use run_as::RunAs;
use secret::read_password;
pub use secret::{Credentials, PasswordSources};
use target::{check_command, shell_word};
pub use target::{HostInput, Scheme, Target};

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
    /// The command line as typed, shell-quoted: the report quotes it to say how to run it again (with sudo).
    pub invocation: String,
    /// --as-user: the account the probes run as, once the firewall rules are read as root.
    pub as_user: Option<RunAs>,
    /// --from/--to/--send: the envelope tested after AUTH.
    pub envelope: Option<Envelope>,
    /// --env-file: what the app's settings file said; the target, port, mode, login and sender above come from it.
    pub settings: Option<SettingsFacts>,
}

/// The envelope to test after AUTH: addresses checked by lettre's parser, so the wire never sees a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: lettre::Address,
    pub to: Vec<lettre::Address>,
    /// Send one test message instead of resetting after RCPT TO.
    pub send: bool,
}

impl Envelope {
    /// Checks the addresses; `flag` names where each came from, for the error.
    pub fn parse(from: &str, to: &[String], send: bool) -> Result<Envelope, PlanError> {
        Envelope::with_from(address("--from", from)?, to, send)
    }

    /// An envelope whose sender is already checked (the From address of --env-file).
    pub fn with_from(
        from: lettre::Address,
        to: &[String],
        send: bool,
    ) -> Result<Envelope, PlanError> {
        Ok(Envelope {
            from,
            to: to
                .iter()
                .map(|t| address("--to", t))
                .collect::<Result<_, _>>()?,
            send,
        })
    }
}

/// An email address as people type it (`<a@b>` too), checked by lettre's parser; `flag` names where it came from, for the error.
pub fn address(flag: &'static str, text: &str) -> Result<lettre::Address, PlanError> {
    let t = text.trim().trim_start_matches('<').trim_end_matches('>');
    t.parse::<lettre::Address>()
        .map_err(|_| PlanError::BadAddress {
            flag,
            text: text.to_string(),
        })
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
    Human {
        color: bool,
        verbose: bool,
    },
    /// --format nagios: a monitoring plugin's status line, perfdata and exit status.
    Nagios(Thresholds),
    /// The Prometheus text exposition (check and serve only).
    Prometheus,
}

/// Words quoted for a POSIX shell where they need it.
pub fn shell_words<I: IntoIterator<Item = String>>(words: I) -> String {
    words
        .into_iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,[]".contains(&b));
            if plain {
                w
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    #[error("{flag} '{text}' is not an email address; give one like app@example.com (no display name, no quotes)")]
    BadAddress { flag: &'static str, text: String },
    #[error("--user needs a password: set {PASSWORD_ENV}, pass --password-stdin, or run in a terminal to be prompted")]
    NoPassword,
    #[error("could not read the password: {0}")]
    PasswordRead(std::io::Error),
    #[error("the password is empty; set {PASSWORD_ENV} or type it at the prompt")]
    EmptyPassword,
    #[error("smtp-doctor does not take a password on the command line, where every user of this machine can read it (ps); \
             set {PASSWORD_ENV}, or use --password-stdin, or type it at the prompt — and consider changing the password you just typed")]
    PasswordInArgv,
    #[error(
        "--as-user needs root: run it with sudo, e.g. `sudo smtp-doctor check … --as-user {}`",
        shell_word(name)
    )]
    AsUserNeedsRoot { name: String },
    #[error(
        "no local user named '{name}': check the name with `getent passwd {}`",
        shell_word(name)
    )]
    NoSuchUser { name: String },
    #[error("--as-user {} names root (uid 0), and smtp-doctor already probes as root without it; \
             name the user your app runs as (www-data, nobody, the site's account), or drop --as-user", shell_word(name))]
    AsUserRoot { name: String },
    #[error("cannot look up the local user '{name}': {errno}; check the user database with `getent passwd {}`", shell_word(name))]
    UserLookup {
        name: String,
        errno: nix::errno::Errno,
    },
    #[error("--postfix-config {}: there is no main.cf in that directory; give the directory that holds the instance's main.cf, as `postconf -c` takes it (see `postconf -h alternate_config_directories` for the instances of this host)", .0.display())]
    NoPostfixConfig(PathBuf),
    #[error("{flag} '{text}' is not a Nagios range: {why}; write [@]start:end in seconds, such as 5 (alert above 5), 2: (below 2), ~:5, 1:5 or @1:5 (alert inside)")]
    BadRange {
        flag: &'static str,
        text: String,
        why: RangeError,
    },
    #[error(
        "{flag} is a threshold of the Nagios plugin output: add --format nagios, or drop {flag}"
    )]
    ThresholdWithoutNagios { flag: &'static str },
    #[error("--format prometheus is for check; mta writes its report for people, as JSON (--format json) or as a Nagios plugin (--format nagios)")]
    PrometheusForMta,
    #[error("--to needs a sender: give --from ADDR (or an --env-file whose From address is set)")]
    ToWithoutFrom,
    #[error("--env-file takes the port, the TLS mode and the login from the file, so {flag} cannot be given with it; \
             drop {flag} to probe what the app uses, or drop --env-file to probe with {flag}")]
    EnvFileWithFlag { flag: &'static str },
    #[error("--env-file takes the server from the file, so HOST ('{}') cannot be given with it; to probe what the app uses, drop HOST; to probe {} instead, drop --env-file", shown(host), shown(host))]
    EnvFileWithHost { host: String },
    #[error("cannot read the env file {}: {source}; give the path of the app's settings file (the .env next to artisan, manage.py or package.json)", path.display())]
    EnvFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is larger than 1 MiB, which no settings file is; give the path of the app's .env file", path.display())]
    EnvFileTooLarge { path: PathBuf },
    #[error("{} holds none of the mail settings smtp-doctor reads (Laravel MAIL_HOST…, Symfony MAILER_DSN, Django EMAIL_HOST…, \
             nodemailer SMTP_HOST… or EMAIL_USER…); check it is the file the app loads, or run `smtp-doctor check HOST:PORT --user USER` \
             with the server from the app's settings", path.display())]
    EnvNoMailKeys { path: PathBuf },
    #[error("{key}={mailer} ({}:{line}): the app sends through that provider's HTTP API or its own bridge, not through an SMTP server \
             smtp-doctor can probe; to check SMTP settings, set the mailer to smtp (MAIL_MAILER=smtp, MAILER_DSN=smtp://…) \
             or run `smtp-doctor check HOST:PORT` with the provider's SMTP host", path.display())]
    EnvApiMailer {
        path: PathBuf,
        key: String,
        line: usize,
        mailer: String,
    },
    #[error("MAILER_DSN ({}:{line}) cannot be read: {why}; Symfony refuses it too. Write it as \
             MAILER_DSN=smtp://USER:PASSWORD@HOST:PORT (percent-encode @ : / in the user and password)", path.display())]
    EnvDsnUnreadable {
        path: PathBuf,
        line: usize,
        why: &'static str,
    },
    #[error("--format nagios checks one server, as a Nagios or Icinga service does; give one HOST (a service per server), \
             or use --json, --json-lines or --format prometheus for several")]
    NagiosOneTarget,
    #[error("--env-file probes the one server of one app's settings, so it cannot be given with --targets or several HOSTs; \
             run one `smtp-doctor check --env-file FILE` per app, or list the servers in the targets file")]
    EnvFileSeveral,
    #[error("{flag} logs in to the HOSTs of the command line, and this run has none; in the targets file give each \
             target its own user and password_env (the name of the environment variable holding its password)")]
    LoginWithoutHosts { flag: &'static str },
    #[error("cannot read the targets file {}: {source}; give the path of a TOML file with one [[target]] table per server", path.display())]
    TargetsFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the targets file {} is larger than 8 MiB, which no list of servers is; check the path", path.display())]
    TargetsFileTooLarge { path: PathBuf },
    #[error("the targets file {}{}{}: {why}", path.display(),
            line.map(|l| format!(", line {l}")).unwrap_or_default(),
            key.as_ref().map(|k| format!(", key {k}")).unwrap_or_default())]
    TargetsFile {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        why: String,
    },
}

impl Plan {
    pub fn from_args(args: &CheckArgs) -> Result<Plan, PlanError> {
        let stdout_tty = std::io::stdout().is_terminal();
        with_process_passwords(|sources| Plan::build(args, sources, stdout_tty))
    }

    pub fn build(
        args: &CheckArgs,
        passwords: PasswordSources<'_>,
        stdout_is_terminal: bool,
    ) -> Result<Plan, PlanError> {
        // The server, its ports and the login come from HOST and the flags, or all from the app's settings file.
        let (from_file, input) = match (&args.env_file, args.hosts.first()) {
            (Some(_), Some(host)) => return Err(PlanError::EnvFileWithHost { host: host.clone() }),
            (Some(path), None) => {
                if let Some(flag) = args.typed.first() {
                    return Err(PlanError::EnvFileWithFlag { flag });
                }
                let loaded = env_file::load(path, &|k| std::env::var(k).ok())?;
                (Some(loaded), None)
            }
            (None, host) => (
                None,
                Some(HostInput::parse(host.map_or("", String::as_str))?),
            ),
        };
        let family = family(&args.probe);
        let target = match (&input, &from_file) {
            (Some(i), _) => Some(i.target.clone()),
            (None, Some(f)) => f.target.clone(),
            (None, None) => None,
        };
        if let Some(Target::Ip(ip)) = target {
            check_family(ip, family)?;
        }
        let ports = match (&input, &from_file) {
            (Some(i), _) => port_list(&args.ports, args.mode, i)?,
            // The one port and mode the app uses; nothing when no host could be made of its settings.
            (None, Some(f)) if f.target.is_some() => vec![(f.port, f.mode)],
            _ => Vec::new(),
        };
        // Before the password is read: a run that cannot switch users should not prompt first.
        let as_user = match &args.as_user {
            Some(name) => Some(run_as::resolve(name, nix::unistd::geteuid().is_root())?),
            None => None,
        };
        let options = ProbeOptions::build(&args.probe, stdout_is_terminal)?;
        let credentials = match (&from_file, &args.user) {
            (Some(f), _) => f.credentials.clone(),
            (None, Some(user)) => Some(Credentials::new(
                user.clone(),
                read_password(args.password_stdin, passwords)?,
            )),
            (None, None) => None,
        };
        let mut settings = from_file.as_ref().map(|f| f.facts.clone());
        let file_from = from_file.as_ref().and_then(|f| f.from.clone());
        // --from on the command line wins over the file's From address.
        let envelope = match (&args.from, file_from) {
            (Some(from), file) => {
                if let (Some(s), Some(_)) = (settings.as_mut(), file) {
                    if let Some(k) = s
                        .keys
                        .iter()
                        .find(|k| k.role == crate::report::settings::Role::From && k.used)
                    {
                        let note = SettingsNote::FromOverridden {
                            key: k.key.clone(),
                            line: k.line,
                        };
                        s.notes.push(note);
                    }
                    s.probed.from = None;
                }
                Some(Envelope::parse(from, &args.to, args.send)?)
            }
            (None, Some(file)) => Some(Envelope::with_from(file, &args.to, args.send)?),
            (None, None) if !args.to.is_empty() || args.send => {
                return Err(PlanError::ToWithoutFrom)
            }
            (None, None) => None,
        };
        // Without a host name there is nothing to probe; the report still carries the settings and their faults.
        let target = target.unwrap_or_else(|| {
            let written = settings
                .as_ref()
                .and_then(|s| s.probed.host_key.value.clone())
                .unwrap_or_default();
            Target::Name(shown(&written))
        });
        Ok(Plan {
            target,
            ports,
            credentials,
            mx: args.mx,
            as_user,
            envelope,
            settings,
            ..Plan::with_options(options)
        })
    }

    /// A plan that probes nothing yet: the shared settings, no target ports, no credentials.
    pub fn with_options(o: ProbeOptions) -> Plan {
        Plan {
            target: Target::Name(String::new()),
            ports: Vec::new(),
            family: o.family,
            timeout: o.timeout,
            helo: o.helo,
            credentials: None,
            extra_roots: Arc::new(o.extra_roots),
            resolver: o.resolver,
            mx: false,
            accept_invalid_certs: o.accept_invalid_certs,
            allow_cleartext_auth: o.allow_cleartext_auth,
            output: o.output,
            invocation: String::new(),
            as_user: None,
            envelope: None,
            settings: None,
        }
    }
}

/// The plan of one exporter probe: `target` read as check reads HOST, on the module's ports (then the target's own)
/// and mode, with the module's checked options, login and envelope.
pub fn exporter_plan(
    target: &str,
    ports: &[u16],
    mode: Option<ModeChoice>,
    options: ProbeOptions,
    credentials: Option<Credentials>,
    envelope: Option<Envelope>,
) -> Result<Plan, PlanError> {
    let input = HostInput::parse(target)?;
    // The module's family, not -4/-6, left the address out: say so.
    let ports = host_ports(&input, ports, mode, options.family).map_err(|e| match e {
        PlanError::FamilyExcludesAddress { ip, .. } => PlanError::FamilyExcludesAddress {
            ip,
            flag: "the module's family",
        },
        other => other,
    })?;
    Ok(Plan {
        target: input.target,
        ports,
        credentials,
        envelope,
        ..Plan::with_options(options)
    })
}

/// Calls `f` with this process's password sources: SMTP_DOCTOR_PASSWORD, standard input, and whether that is a terminal.
fn with_process_passwords<T>(f: impl FnOnce(PasswordSources<'_>) -> T) -> T {
    let stdin = std::io::stdin();
    let is_tty = stdin.is_terminal();
    let mut lock = stdin.lock();
    f(PasswordSources {
        env: std::env::var(PASSWORD_ENV).ok(),
        stdin: &mut lock,
        stdin_is_terminal: is_tty,
    })
}

/// The settings every probing command takes from ProbeArgs, checked.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub family: Family,
    pub timeout: Duration,
    pub helo: Option<String>,
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub resolver: Option<IpAddr>,
    pub accept_invalid_certs: bool,
    pub allow_cleartext_auth: bool,
    pub output: Output,
}

impl ProbeOptions {
    pub fn build(p: &ProbeArgs, stdout_is_terminal: bool) -> Result<ProbeOptions, PlanError> {
        let extra_roots = match &p.ca_file {
            Some(path) => load_ca_file(path)?,
            None => Vec::new(),
        };
        let format = if p.json { FormatChoice::Json } else { p.format };
        let output = match format {
            FormatChoice::Json => Output::Json,
            FormatChoice::Nagios => Output::Nagios(thresholds(p)?),
            FormatChoice::Prometheus => Output::Prometheus,
            FormatChoice::Human => {
                let color = match p.color {
                    ColorChoice::Always => true,
                    ColorChoice::Never => false,
                    ColorChoice::Auto => {
                        stdout_is_terminal
                            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    }
                };
                Output::Human {
                    color,
                    verbose: p.verbose,
                }
            }
        };
        if format != FormatChoice::Nagios {
            // Thresholds that nothing would judge are a mistake worth saying, not a silent no-op.
            let given = [
                (p.warning.is_some(), "--warning"),
                (p.critical.is_some(), "--critical"),
                (p.cert_warning_days.is_some(), "--cert-warning-days"),
                (p.cert_critical_days.is_some(), "--cert-critical-days"),
            ];
            if let Some((_, flag)) = given.iter().find(|(set, _)| *set) {
                return Err(PlanError::ThresholdWithoutNagios { flag });
            }
        }
        Ok(ProbeOptions {
            family: family(p),
            timeout: Duration::from_secs_f64(p.timeout),
            helo: p.helo.clone().filter(|h| !h.trim().is_empty()),
            extra_roots,
            resolver: p.resolver,
            accept_invalid_certs: p.danger_accept_invalid_certs,
            allow_cleartext_auth: p.danger_allow_cleartext_auth,
            output,
        })
    }
}

/// The thresholds of --format nagios, each range checked; the certificate's default is the diagnosis's own.
fn thresholds(p: &ProbeArgs) -> Result<Thresholds, PlanError> {
    let range = |flag: &'static str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                Range::parse(t).map_err(|why| PlanError::BadRange {
                    flag,
                    text: t.to_string(),
                    why,
                })
            })
            .transpose()
    };
    let days = |d: Option<u32>| d.map(|d| Range::at_least(f64::from(d)));
    Ok(Thresholds {
        warning: range("--warning", &p.warning)?,
        critical: range("--critical", &p.critical)?,
        cert_warning: days(
            p.cert_warning_days
                .or(Some(crate::diagnosis::EXPIRY_WARNING_DAYS)),
        ),
        cert_critical: days(p.cert_critical_days),
    })
}

/// An IP literal of the family -4/-6 leaves out is refused: nothing would be probed.
fn check_family(ip: IpAddr, family: Family) -> Result<(), PlanError> {
    if family.allows(&ip) {
        return Ok(());
    }
    Err(PlanError::FamilyExcludesAddress {
        ip,
        flag: if family == Family::V4 { "-4" } else { "-6" },
    })
}

/// The ports and modes of one HOST (or a targets file's host), with the address family checked against an IP literal.
pub fn host_ports(
    input: &HostInput,
    ports: &[u16],
    mode: Option<ModeChoice>,
    family: Family,
) -> Result<Vec<(u16, PortMode)>, PlanError> {
    if let Target::Ip(ip) = input.target {
        check_family(ip, family)?;
    }
    port_list(ports, mode, input)
}

/// -4 and -6 as a family (clap keeps them from both being given).
pub fn family(p: &ProbeArgs) -> Family {
    match (p.ipv4, p.ipv6) {
        (true, false) => Family::V4,
        (false, true) => Family::V6,
        _ => Family::Any,
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

pub(crate) fn load_ca_file(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, PlanError> {
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
#[cfg(test)]
mod tests;
