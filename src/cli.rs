//! Command-line definitions: every flag is documented here once, and the man page and completions come from it.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tells you why this server cannot send mail, and which layer is to blame.
///
/// smtp-doctor probes a mail server stage by stage (DNS, TCP connect, greeting, EHLO, TLS, AUTH) on every
/// port and address at once, then names the one layer that fails: dns, network, ipv6, firewall (this
/// host), isp_block (between this host and the server), local_mta (a local MTA answers in the server's
/// place), server, tls, credentials or sender (the server refuses the envelope after the login), with the
/// evidence and the fix.
#[derive(Debug, Parser)]
#[command(name = "smtp-doctor", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a mail server on every port and address and name the failing layer.
    #[command(after_long_help = crate::exit::help())]
    Check(Box<CheckArgs>),
    /// Read this host's own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue.
    #[command(after_long_help = crate::exit::help())]
    Mta(Box<MtaArgs>),
    /// Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter's own health.
    ///
    /// Prometheus scrapes it the way it scrapes blackbox_exporter (relabel __address__ to __param_target). Each
    /// module of the TOML config file names the ports, TLS mode, login (the user, and the name of the
    /// environment variable holding the password), envelope and time limit of a probe; a request names only
    /// the target and the module, never a credential or an option. A probe must answer within the scrape's
    /// X-Prometheus-Scrape-Timeout-Seconds less --timeout-offset, capped by the module's timeout, and answers
    /// with the exposition of `check --format prometheus` plus probe_timeout_seconds.
    #[command(after_long_help = crate::serve::help())]
    Serve(ServeArgs),
    /// Write the shell completions and the man page (for packagers; the checked-in copies come from here).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Mail server to probe, as your app's settings hold it: smtp.gmail.com, 203.0.113.5, host:587, [2001:db8::5]:465 or a URL; several are probed at once.
    ///
    /// A port in HOST is the one your app uses: it is probed alone, or after the -p ports. smtp://host means
    /// port 587 and smtps://host port 465, as in nodemailer; smtps:// means TLS from the first byte on any
    /// port, so --mode may not contradict it. A user name or password in the address is refused: use --user.
    /// Not given with --env-file, whose settings name the host. With several HOSTs (or --targets) every
    /// target gets its own report, then a summary line each; the flags apply to every HOST.
    #[arg(value_name = "HOST", required_unless_present_any = ["env_file", "targets"])]
    pub hosts: Vec<String>,

    /// Probe every server listed in this TOML file, each with its own ports, TLS mode, login and envelope.
    ///
    /// One [[target]] table per server: host (as HOST), and optionally name (a label for the reports),
    /// ports (a list), mode (starttls, implicit or detect), user with password_env (the NAME of the
    /// environment variable holding its password: a password never goes into the file), from and to
    /// (a list) for the envelope test. -p, --mode, --from and --to apply to targets that leave them out;
    /// --user applies to HOST arguments only. A target whose password variable is unset is reported as not
    /// probed while the others run; a malformed file is exit status 2, naming its line and key.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// How many targets (HOSTs or --targets entries) are probed at the same time.
    ///
    /// Every port and address of the targets in flight share one budget of open files (RLIMIT_NOFILE,
    /// raised towards its hard limit when needed): targets beyond it wait for a slot rather than fail.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,

    /// Print each target's JSON report on one line as soon as it finishes (JSON Lines), instead of one document at the end.
    ///
    /// Each line is one object: index (the target's place in the order given), name, input, status (ok,
    /// problem or error), ok, elapsed_ms, error (why it was not probed) and report (the document --json
    /// writes for one HOST). Nothing else goes to standard output.
    #[arg(long, conflicts_with_all = ["json", "format"])]
    pub json_lines: bool,

    /// Probe exactly what your app's settings file configures: host, port, TLS mode, user, password and From address.
    ///
    /// Reads the file as the app's dotenv loader does (quotes, export, comments, ${VAR} expansion) with the key
    /// names of Laravel (MAIL_*), Symfony (MAILER_DSN), Django (EMAIL_HOST, EMAIL_USE_TLS…) or nodemailer
    /// (SMTP_*, or EMAIL_USER/EMAIL_PASSWORD…), and says which keys it used, with their line numbers. A file
    /// with several frameworks' keys is read as the one that names a server with the most keys. Contradictions
    /// and typos (implicit TLS on 587, STARTTLS on 465, a quoted host, a port that is not a number, a user
    /// without a password, a mailer that does not send) are findings with the line to write. The password is
    /// taken from the file and never shown; --from replaces the file's From address. HOST, -p, --mode and
    /// --user cannot be given with it: the file decides them.
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587).
    ///
    /// 465 is implicit TLS; 25, 587 and 2525 start in plaintext and upgrade with STARTTLS when it is
    /// offered. Any other port is probed and its mode detected (TLS first, or a plaintext 220 greeting);
    /// --mode sets the mode for every port instead.
    #[arg(
        short,
        long = "port",
        value_name = "PORT",
        env = "SMTP_DOCTOR_PORTS",
        value_delimiter = ','
    )]
    pub ports: Vec<u16>,

    /// How TLS starts on every given port, instead of the mode that follows from the port number.
    ///
    /// starttls: a plaintext greeting, then STARTTLS (as on 25 and 587); implicit: TLS from the first
    /// byte (as on 465); detect: find out which of the two the port speaks. Use it for a server on a
    /// custom port whose mode you know, so a wrong mode is diagnosed rather than detected.
    #[arg(long, value_enum, value_name = "MODE", env = "SMTP_DOCTOR_MODE")]
    pub mode: Option<ModeChoice>,

    /// User name for an AUTH test (PLAIN or LOGIN, only over TLS).
    ///
    /// The password is read from the environment variable SMTP_DOCTOR_PASSWORD, or from standard input
    /// with --password-stdin, or from a prompt without echo when standard input is a terminal. It is
    /// never taken from the command line, where any user of this machine could read it with ps.
    #[arg(long, value_name = "USER", env = "SMTP_DOCTOR_USER")]
    pub user: Option<String>,

    /// Read the password for --user from the first line of standard input.
    #[arg(long, requires = "user")]
    pub password_stdin: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    /// Also probe port 25 on every MX host of the target's domain.
    #[arg(long)]
    pub mx: bool,

    /// Envelope sender to test after AUTH: MAIL FROM:<ADDR>, then RSET (no message is sent).
    ///
    /// A login that works is not yet permission to send as this address: Microsoft 365 answers
    /// 5.7.60 SendAsDenied, Amazon SES "Email address is not verified", Postfix "Sender address rejected:
    /// not owned by user". Such a refusal is the layer sender.
    #[arg(long, value_name = "ADDR", env = "SMTP_DOCTOR_FROM")]
    pub from: Option<String>,

    /// Envelope recipient to test after --from (or the From address of --env-file): RCPT TO:<ADDR>, then RSET; repeat for several.
    #[arg(long = "to", value_name = "ADDR")]
    pub to: Vec<String>,

    /// Really send one short test message from --from to --to (on the first port that gets that far), and report the queue id the server gives.
    ///
    /// The message says in its subject and body that it is a smtp-doctor test. Without --send nothing is
    /// delivered: the envelope is tested and reset.
    #[arg(long, requires = "to")]
    pub send: bool,

    /// Probe as this local user (root only): this host's firewall rules are read as root first, then the process drops to USER's uid, gid and supplementary groups before any probe socket is opened — the view an application running as USER gets.
    ///
    /// USER is a local account (a name, or a uid), not the SMTP login of --user. Outgoing-mail rules often
    /// exempt root (cPanel "SMTP Restrictions", CSF SMTP_BLOCK, iptables -m owner --uid-owner), so a test
    /// run as root can pass while the web app (www-data, nobody, the site's account) is blocked or
    /// redirected. The DNS lookups run as USER too, and the report says who probed.
    #[arg(long, value_name = "USER")]
    pub as_user: Option<String>,

    /// The flags among -p, --mode, --user and --password-stdin typed on the command line, as opposed to set by
    /// SMTP_DOCTOR_* variables: beside --env-file the first are refused and the second left aside.
    #[arg(skip)]
    pub typed: Vec<&'static str>,
}

#[derive(Debug, Args)]
pub struct MtaArgs {
    /// The Postfix instance to read, by its configuration directory, as `postconf -c DIR` takes it (default /etc/postfix).
    ///
    /// smtp-doctor runs `postconf -c DIR`, `postqueue -c DIR -j` and `postmap -c DIR -q` to learn how that
    /// instance sends (relayhost, SASL, TLS), whether its password map has an entry for the relay, and what
    /// waits in its queue; the fix commands it prints carry the same -c DIR.
    #[arg(long, value_name = "DIR", env = "SMTP_DOCTOR_POSTFIX_CONFIG")]
    pub postfix_config: Option<PathBuf>,

    /// A recipient address to test direct delivery with: when the MTA has no relay, port 25 of this address's MX hosts is probed.
    ///
    /// An MTA without a relay hands every message straight to the recipient domain's MX hosts on port 25,
    /// the port most cloud and hosting providers block. Give an address you send to (such as a Gmail
    /// address): nothing is sent, the probe stops after EHLO and STARTTLS.
    #[arg(long = "to", value_name = "ADDR")]
    pub to: Option<String>,

    /// The sender your app's mail carries: after the MTA's login, the relay (or the MX host) is asked MAIL FROM:<ADDR> and RCPT TO (--to, else ADDR itself), then RSET; nothing is sent.
    ///
    /// A relay that takes the MTA's login may still refuse the app's From address (Microsoft 365
    /// SendAsDenied, Amazon SES "not verified", Postfix "not owned by user"); mail then waits in the queue
    /// with that reason. Such a refusal is the layer sender.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,

    #[command(flatten)]
    pub probe: ProbeArgs,
}

/// The probe's own settings, shared by `check` and `mta`: how long to wait, whom to trust, which family, how to report.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Also trust the CA certificates in this PEM file (self-hosted or test servers).
    ///
    /// The system trust store is always used as well.
    #[arg(long, value_name = "PEM", env = "SMTP_DOCTOR_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Send the password even when the server's certificate fails verification (name, trust, dates).
    ///
    /// By default the probe still completes the handshake and EHLO on a bad certificate, so you see
    /// everything in one run, but it withholds the password: whoever holds that certificate may not be
    /// your mail server. Reports made with this flag say that verification was overridden.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered).
    ///
    /// Anyone on the path can read a password sent this way. Use it only on a network you control.
    #[arg(long)]
    pub danger_allow_cleartext_auth: bool,

    /// Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query.
    #[arg(long, value_name = "SECS", default_value = "10", env = "SMTP_DOCTOR_TIMEOUT",
          value_parser = parse_timeout)]
    pub timeout: f64,

    /// Probe IPv4 addresses only.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Probe IPv6 addresses only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Ask this DNS server instead of the ones in /etc/resolv.conf.
    #[arg(long, value_name = "IP", env = "SMTP_DOCTOR_RESOLVER")]
    pub resolver: Option<IpAddr>,

    /// Name to send in EHLO (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,

    /// How to write the report on standard output: human (for people, the default), json (one document,
    /// schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line,
    /// perfdata, plugin exit status) or prometheus (check only).
    ///
    /// nagios prints `SMTP OK|WARNING|CRITICAL|UNKNOWN - layer/code: verdict`, perfdata for each port's stage
    /// times, the total time (`time`) and the certificate's days left (`cert_days`), then one line per finding;
    /// it exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. An error finding of any layer (DNS failures and
    /// timeouts included) is CRITICAL, a warning finding is WARNING; bad usage and internal failures are
    /// UNKNOWN, said on standard output. --warning, --critical and the --cert-*-days thresholds apply to it
    /// alone.
    ///
    /// prometheus writes the text exposition for node_exporter's textfile collector: probe_success, the
    /// durations, each port's success and stage times, the verdict's layer and code and every finding's code,
    /// each sample labelled with target. With it the exit status is 0 whenever the exposition was written,
    /// whatever it says (a failing target is probe_success 0), so that `check HOST --format prometheus >
    /// f.tmp && mv f.tmp f.prom` publishes failures too; 2 and 3 keep their meaning.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = FormatChoice::Human)]
    pub format: FormatChoice,

    /// Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// --format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside).
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub warning: Option<String>,

    /// --format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning).
    #[arg(short, long, value_name = "RANGE", allow_hyphen_values = true)]
    pub critical: Option<String>,

    /// --format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon).
    ///
    /// With --format nagios the certificate thresholds decide about a certificate that is still valid; an
    /// expired, untrusted or misnamed certificate is an error finding, so CRITICAL whatever they say.
    #[arg(long, value_name = "DAYS")]
    pub cert_warning_days: Option<u32>,

    /// --format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway).
    #[arg(long, value_name = "DAYS")]
    pub cert_critical_days: Option<u32>,

    /// When to colour the human report; NO_COLOR in the environment also turns colour off.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Also show each SMTP conversation (AUTH lines redacted) and the certificate chain.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `serve`: where to listen, which config file, and the limits that keep one scraper or client from holding it.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on, such as 127.0.0.1:9125 or [::]:9125 (port 0: one the kernel picks, printed on stderr).
    #[arg(long, value_name = "ADDR", env = "SMTP_DOCTOR_LISTEN")]
    pub listen: std::net::SocketAddr,

    /// The TOML file of modules (see README "Prometheus"); an error in it is exit status 2 naming its line and key.
    #[arg(long, value_name = "FILE", env = "SMTP_DOCTOR_CONFIG")]
    pub config: PathBuf,

    /// Seconds taken off X-Prometheus-Scrape-Timeout-Seconds, so the answer reaches Prometheus before it gives up.
    #[arg(long, value_name = "SECS", default_value = "0.5", value_parser = parse_offset)]
    pub timeout_offset: f64,

    /// Probes run at once; a request beyond it waits for a free slot within its deadline, then gets 503.
    #[arg(long, value_name = "N", default_value = "10",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_concurrent: u32,

    /// Client connections held at once; a connection beyond it is closed as soon as it is accepted.
    #[arg(long, value_name = "N", default_value = "100",
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub max_connections: u32,

    /// Seconds a client has to send a request's headers, from its first byte (or from the end of the previous response); then the connection is closed.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_timeout)]
    pub header_timeout: f64,
}

/// Flags the app's settings file decides when --env-file is given: (argument id, as people type it).
pub const DECIDED_BY_ENV_FILE: [(&str, &str); 4] = [
    ("ports", "-p"),
    ("mode", "--mode"),
    ("user", "--user"),
    ("password_stdin", "--password-stdin"),
];

impl Cli {
    /// Parses argv like `Cli::try_parse_from`, and notes which of the flags --env-file decides were typed rather
    /// than taken from the environment: clap's own conflicts would refuse an exported SMTP_DOCTOR_PORTS too.
    pub fn parse_args<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches_from(argv)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let (Command::Check(args), Some(m)) =
            (&mut cli.command, matches.subcommand_matches("check"))
        {
            args.typed = DECIDED_BY_ENV_FILE
                .iter()
                .filter(|(id, _)| m.value_source(id) == Some(ValueSource::CommandLine))
                .map(|(_, flag)| *flag)
                .collect();
        }
        Ok(cli)
    }
}

/// The values of --mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    Starttls,
    Implicit,
    Detect,
}

/// The values of --format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatChoice {
    Human,
    Json,
    Nagios,
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to write.
    #[arg(value_enum)]
    pub what: GenerateWhat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    Man,
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds (try 10 or 2.5)"))?;
    if !(v.is_finite() && v > 0.0 && v <= 600.0) {
        return Err(format!(
            "{s} seconds is out of range: give more than 0 and at most 600"
        ));
    }
    Ok(v)
}

fn parse_offset(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds (try 0.5)"))?;
    if !(v.is_finite() && (0.0..=60.0).contains(&v)) {
        return Err(format!("{s} seconds is out of range: give 0 to 60"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeout_rejects_nonsense() {
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("NaN").is_err());
        assert!(parse_timeout("abc").is_err());
        assert_eq!(parse_timeout("2.5"), Ok(2.5));
    }

    #[test]
    fn json_is_short_for_format_json_and_conflicts_with_another_format() {
        let parsed = |argv: &[&str]| Cli::parse_args(argv.iter().copied());
        let format = |argv: &[&str]| match parsed(argv) {
            Ok(Cli {
                command: Command::Check(args),
            }) => Some((args.probe.format, args.probe.json)),
            _ => None,
        };
        assert_eq!(
            format(&["smtp-doctor", "check", "h", "--json"]),
            Some((FormatChoice::Human, true))
        );
        assert_eq!(
            format(&["smtp-doctor", "check", "h", "--format", "prometheus"]),
            Some((FormatChoice::Prometheus, false))
        );
        assert!(parsed(&[
            "smtp-doctor",
            "check",
            "h",
            "--json",
            "--format",
            "prometheus"
        ])
        .is_err());
    }

    #[test]
    fn timeout_offset_rejects_nonsense() {
        assert!(parse_offset("-0.1").is_err());
        assert!(parse_offset("inf").is_err());
        assert_eq!(parse_offset("0"), Ok(0.0));
    }
}
