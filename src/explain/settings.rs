//! Words for the app's own settings (--env-file): the key and line at fault, what the app then does, and the line to write.

use crate::diagnosis::{Facts, Finding, SettingsEvidence};
use crate::report::settings::{
    FixLine, Framework, HostTypo, KeyRef, LoginPart, MailerDestination, PortFallback,
    ProbedSettings, ProblemKind, SettingsNote,
};
use crate::report::{PortMode, Report};

use super::Words;

pub(super) fn word(report: &Report, f: &Finding) -> Words {
    let Facts::Settings(ev) = &f.facts else {
        return Words::default();
    };
    let w = Wording { report, ev };
    let p = &ev.problem;
    let (message, remedy) = match &p.kind {
        ProblemKind::HostMalformed { typos, probed } => w.host(typos, probed.as_deref()),
        ProblemKind::PortInvalid { probed, fallback } => w.port(*probed, *fallback),
        ProblemKind::ImplicitTlsOnStarttlsPort { port, honoured } => w.implicit_on(*port, *honoured),
        ProblemKind::StarttlsOnImplicitPort { port, honoured } => w.starttls_on(*port, *honoured),
        ProblemKind::TlsAndSsl => (
            format!(
                "{} are both on: Django refuses to send (\"EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive\"); probed {}",
                w.keys(),
                w.probed_mode()
            ),
            w.fix_or("Turn off the one that does not fit the port: EMAIL_USE_SSL=True for 465, EMAIL_USE_TLS=True for 587."),
        ),
        ProblemKind::NoTls { port } => (
            format!(
                "{} logs in on port {port} without any TLS ({}): servers that offer AUTH only after STARTTLS answer \
                 \"SMTP AUTH extension not supported\", the others receive the password in cleartext; probed with STARTTLS",
                w.app(),
                w.keys()
            ),
            w.fix_or("Turn STARTTLS on in the settings."),
        ),
        ProblemKind::TlsSettingInvalid => w.tls_setting(),
        ProblemKind::LoginIncomplete { missing } => w.login(*missing),
        ProblemKind::FromInvalid => w.from(),
        ProblemKind::MailerNotSmtp {
            goes, defaulted, ..
        } => w.mailer(*goes, *defaulted),
        ProblemKind::HostIsThisHost { port } => w.local_host(*port),
    };
    let mut evidence: Vec<String> = p.keys.iter().map(|k| w.evidence(k)).collect();
    evidence.dedup();
    if p.fix.iter().any(|l| l.text.contains("PASSWORD@")) {
        evidence.push(
            "PASSWORD in the line to write stands for the password, which smtp-doctor never prints"
                .into(),
        );
    }
    Words::new(message, evidence, remedy)
}

struct Wording<'a> {
    report: &'a Report,
    ev: &'a SettingsEvidence,
}

impl Wording<'_> {
    fn app(&self) -> &'static str {
        self.ev.framework.app()
    }

    /// The deciding key.
    fn first(&self) -> Option<&KeyRef> {
        self.ev.problem.keys.first()
    }

    fn file(&self) -> &str {
        &self.ev.file
    }

    /// `KEY=value (.env:4)`, `KEY (.env:4)` for a secret or unreadable line, `KEY (not set)` for a missing one.
    fn written(&self, k: &KeyRef) -> String {
        match (k.line, &k.value) {
            (Some(line), Some(v)) => format!("{}={v} ({}:{line})", k.key, self.file()),
            (Some(line), None) => format!("{} ({}:{line})", k.key, self.file()),
            (None, Some(v)) => format!("{} (not set, so {v})", k.key),
            (None, None) => format!("{} (not set)", k.key),
        }
    }

    fn keys(&self) -> String {
        let parts: Vec<String> = self
            .ev
            .problem
            .keys
            .iter()
            .map(|k| self.written(k))
            .collect();
        join_and(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn evidence(&self, k: &KeyRef) -> String {
        match (k.line, &k.value) {
            (Some(line), Some(v)) => format!("{}:{line}: {}={v}", self.file(), k.key),
            (Some(line), None) => format!("{}:{line}: {} (value not shown)", self.file(), k.key),
            (None, Some(v)) => format!(
                "{}: no {} line; {} uses {v}",
                self.file(),
                k.key,
                self.app()
            ),
            (None, None) => format!("{}: no {} line", self.file(), k.key),
        }
    }

    fn first_written(&self) -> String {
        self.first().map(|k| self.written(k)).unwrap_or_default()
    }

    fn first_key(&self) -> String {
        self.first().map(|k| k.key.clone()).unwrap_or_default()
    }

    /// Why the deciding line cannot be read, when it cannot.
    fn unreadable(&self) -> Option<String> {
        let why = self.ev.problem.unreadable?;
        let k = self.first()?;
        Some(format!(
            "{} ({}:{}) cannot be read: {}",
            k.key,
            self.file(),
            k.line.unwrap_or(0),
            why.words()
        ))
    }

    /// "Write `X` on line 4 of .env" for each fix line, or `otherwise` when there is none.
    fn fix_or(&self, otherwise: &str) -> String {
        let lines: Vec<String> = self
            .ev
            .problem
            .fix
            .iter()
            .map(|l| self.fix_line(l))
            .collect();
        if lines.is_empty() {
            return otherwise.to_string();
        }
        format!("{}.", capitalised(&lines.join(", and ")))
    }

    fn fix_line(&self, l: &FixLine) -> String {
        match l.replaces {
            Some(line) => format!("write `{}` on line {line} of {}", l.text, self.file()),
            None => format!("add `{}` to {}", l.text, self.file()),
        }
    }

    fn probed_mode(&self) -> String {
        self.report
            .settings
            .as_ref()
            .map(|s| format!("port {} with {}", s.probed.port, mode_words(s.probed.mode)))
            .unwrap_or_default()
    }

    fn host(&self, typos: &[HostTypo], probed: Option<&str>) -> (String, String) {
        let key = self.first_key();
        let example = format!("Write the SMTP server's name alone, e.g. `{key}=smtp.example.com`.");
        if let Some(why) = self.unreadable() {
            return (
                format!("{why}: {} has no server to connect to", self.app()),
                example,
            );
        }
        if typos.contains(&HostTypo::Empty) {
            return (
                format!(
                    "{} is empty: {} has no server to connect to",
                    self.first_written(),
                    self.app()
                ),
                example,
            );
        }
        let what: Vec<&str> = typos.iter().map(|t| typo_words(*t)).collect();
        let mut message = format!(
            "{} is not a bare host name: it holds {}; {} uses it as written, and the lookup or the certificate's name check fails",
            self.first_written(),
            join_and(&what),
            self.app()
        );
        match probed {
            Some(h) => message.push_str(&format!("; probed {h}, the name meant")),
            None => message.push_str("; nothing was probed"),
        }
        (message, self.fix_or(&example))
    }

    fn port(&self, probed: u16, fallback: PortFallback) -> (String, String) {
        let start = match self.unreadable() {
            Some(why) => why,
            None => format!("{} is not a port number", self.first_written()),
        };
        let message = match fallback {
            PortFallback::Digits => format!(
                "{start}: {} cannot use it; probed port {probed}, the number it starts with",
                self.app()
            ),
            PortFallback::AppDefault => format!(
                "{start}: {} ignores it and connects to port {probed}, its default",
                self.app()
            ),
            PortFallback::FrameworkDefault => format!(
                "{start} from 1 to 65535: {} cannot use it; probed port {probed}, its default",
                self.app()
            ),
        };
        (
            message,
            self.fix_or("Write the port number alone on that line: 587 for STARTTLS, 465 for TLS from the first byte."),
        )
    }

    fn implicit_on(&self, port: u16, honoured: bool) -> (String, String) {
        if honoured {
            return (
                format!(
                    "{} ask for implicit TLS (TLS from the first byte) on port {port}, which starts in plaintext and \
                     upgrades with STARTTLS: {} fails with \"wrong version number\"",
                    self.keys(),
                    self.app()
                ),
                format!(
                    "{} Or keep implicit TLS and use port 465.",
                    self.fix_or("Set the app for STARTTLS on this port.")
                ),
            );
        }
        (
            format!(
                "{} asks for implicit TLS on port {port}: Laravel 9 and newer ignore it there and use STARTTLS, as \
                 probed; Laravel 8 and older fail with \"wrong version number\"",
                self.first_written()
            ),
            format!(
                "{} Every Laravel reads that as STARTTLS on port {port}.",
                self.fix_or("Set the encryption to tls.")
            ),
        )
    }

    fn starttls_on(&self, port: u16, honoured: bool) -> (String, String) {
        if honoured {
            return (
                format!(
                    "{} make {} start in plaintext on port {port}, which speaks TLS from the first byte: it waits for a \
                     greeting that never comes and times out",
                    self.keys(),
                    self.app()
                ),
                format!(
                    "{} Or keep STARTTLS and use port 587.",
                    self.fix_or("Set the app for implicit TLS on this port.")
                ),
            );
        }
        (
            format!(
                "{} asks for STARTTLS on port {port}: Laravel 9 and newer use implicit TLS there anyway, as probed; \
                 Laravel 8 and older wait for a plaintext greeting and time out",
                self.first_written()
            ),
            format!(
                "{} Every Laravel reads that as implicit TLS on port {port}.",
                self.fix_or("Set the encryption to ssl.")
            ),
        )
    }

    fn tls_setting(&self) -> (String, String) {
        let message = match self.unreadable() {
            Some(why) => format!("{why}, so {} takes TLS as off", self.app()),
            None => format!(
                "{} is not a value {} reads as on or off{}",
                self.first_written(),
                self.app(),
                if self.ev.framework == Framework::Django {
                    " (django-environ takes it as False, python-decouple refuses it)"
                } else {
                    " (`=== 'true'` takes it as false)"
                }
            ),
        };
        let words = if self.ev.framework == Framework::Django {
            "True or False"
        } else {
            "true or false"
        };
        (
            message,
            self.fix_or(&format!("Write {words} on that line.")),
        )
    }

    fn login(&self, missing: LoginPart) -> (String, String) {
        let keys = &self.ev.problem.keys;
        let (Some(user), Some(password)) = (keys.first(), keys.get(1)) else {
            return (String::new(), String::new());
        };
        let state = |k: &KeyRef| -> String {
            match (self.ev.problem.unreadable, k.line, &k.value) {
                (Some(why), Some(line), _) => {
                    format!(
                        "on a line that cannot be read ({}:{line}: {})",
                        self.file(),
                        why.words()
                    )
                }
                (None, Some(line), _) => format!("empty ({}:{line})", self.file()),
                _ => "not set".to_string(),
            }
        };
        match missing {
            LoginPart::Password => (
                format!(
                    "{} names a user, but {} is {}: {} cannot log in",
                    self.written(user),
                    password.key,
                    state(password),
                    self.app()
                ),
                format!(
                    "Set {} to the account's password, in double quotes if it holds spaces, # or $ (`{}=\"…\"`).",
                    password.key, password.key
                ),
            ),
            LoginPart::User => (
                format!(
                    "{} holds a password, but {} is {}: {} never logs in, and servers that require a login refuse the mail",
                    self.written(password),
                    user.key,
                    state(user),
                    self.app()
                ),
                format!(
                    "Set {} to the account's user name (often the full email address).",
                    user.key
                ),
            ),
        }
    }

    fn from(&self) -> (String, String) {
        let key = self.first_key();
        let message = match self.unreadable() {
            Some(why) => format!("{why}: the app has no sender address"),
            None => format!(
                "{} is not an email address: the server refuses it in MAIL FROM, or {} refuses to send",
                self.first_written(),
                self.app()
            ),
        };
        (
            message,
            format!("Write an address the account may send as, e.g. `{key}=app@example.com`."),
        )
    }

    fn mailer(&self, goes: MailerDestination, defaulted: bool) -> (String, String) {
        let does = match goes {
            MailerDestination::Log => "writes every mail to its log and sends nothing",
            MailerDestination::Memory => "keeps every mail in memory (a test mailer) and sends nothing",
            MailerDestination::Console => "prints every mail on the console and sends nothing",
            MailerDestination::Files => "writes every mail to files and sends nothing",
            MailerDestination::Sendmail => {
                "hands every mail to this host's sendmail, so the local MTA sends it, through its own relay and queue"
            }
            MailerDestination::Discarded => "throws every mail away",
        };
        let probed = if self.report.ports.is_empty() {
            ""
        } else {
            "; the SMTP settings were probed anyway"
        };
        let message = if defaulted {
            format!(
                "{} is not set: Laravel 11 and newer then use the log mailer, which {does} (Laravel 10 and older use smtp){probed}",
                self.first_key()
            )
        } else {
            format!("{}: {} {does}{probed}", self.first_written(), self.app())
        };
        let example = if self.ev.framework == Framework::Symfony {
            "Write `MAILER_DSN=smtp://USER:PASSWORD@smtp.example.com:587` with the provider's server and account."
        } else {
            "Set the mailer to SMTP."
        };
        (message, self.fix_or(example))
    }

    fn local_host(&self, port: u16) -> (String, String) {
        let (key, host) = self
            .first()
            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
            .unwrap_or_default();
        let defaulted = self.first().is_some_and(|k| k.line.is_none());
        let message = if defaulted {
            format!(
                "{key} is not set, so {} connects to {host}, this machine, where nothing listens on port {port}: the connection is refused",
                self.app()
            )
        } else {
            format!(
                "{} is this machine, and nothing listens on port {port} here: the app's connection is refused",
                self.first_written()
            )
        };
        (
            message,
            format!(
                "Point {key} at the provider's SMTP server (`{key}=smtp.example.com`), or run a mail server on this machine that listens on port {port}."
            ),
        )
    }
}

fn typo_words(t: HostTypo) -> &'static str {
    match t {
        HostTypo::Empty => "nothing",
        HostTypo::Spaces => "spaces",
        HostTypo::Quotes => "quotes",
        HostTypo::Scheme => "a URL scheme",
        HostTypo::Port => "a port",
        HostTypo::TrailingDot => "a trailing dot",
        HostTypo::TrailingComma => "a trailing comma",
        HostTypo::NotAName => "characters no host name has",
    }
}

fn mode_words(m: PortMode) -> &'static str {
    match m {
        PortMode::Implicit => "implicit TLS",
        PortMode::Starttls => "STARTTLS",
        PortMode::Detect => "its mode detected",
    }
}

fn join_and(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A note on the settings file in one line, for the report's settings block.
pub fn note_words(n: &SettingsNote, framework: Framework) -> String {
    match n {
        SettingsNote::OtherFramework { framework: other, keys } => {
            let list: Vec<String> = keys
                .iter()
                .map(|k| format!("{} (line {})", k.key, k.line.unwrap_or(0)))
                .collect();
            format!("{} keys left aside: {}", other.title(), list.join(", "))
        }
        SettingsNote::Default { key, value } => format!("{key} not set: {} uses {value}", framework.app()),
        SettingsNote::Duplicate { key, lines } => {
            let list: Vec<String> = lines.iter().map(usize::to_string).collect();
            format!("{key} is set on lines {}: the last one wins", list.join(", "))
        }
        SettingsNote::UndefinedVariable { key, line, variable } => format!(
            "{key} (line {line}) uses ${{{variable}}}, which neither the file nor this environment defines"
        ),
        SettingsNote::UnreadableLine { key, line, syntax } => match key {
            Some(k) => format!("line {line} ({k}) cannot be read: {}", syntax.words()),
            None => format!("line {line} cannot be read: {}", syntax.words()),
        },
        SettingsNote::FromOverridden { key, line } => {
            format!("--from replaces {key} (line {line}) as the sender")
        }
        SettingsNote::NotFollowed { key, line } => format!(
            "{key} (line {line}) is set: Laravel then takes the connection from that URL, which smtp-doctor does not read; the keys here were probed"
        ),
        SettingsNote::UnknownMailer { key, line, mailer } => format!(
            "{key}={mailer} (line {line}) is no mailer {} ships: taken to send through SMTP",
            framework.app()
        ),
        SettingsNote::SecureAssumed { key, port } => format!(
            "{key} not set: nodemailer uses implicit TLS on {port} when the app leaves `secure` out (an app that passes secure: false gets STARTTLS and times out)"
        ),
    }
}

/// The connection the settings make, in one line.
pub fn probed_words(p: &ProbedSettings) -> String {
    let Some(host) = &p.host else {
        return "nothing probed: the settings give no SMTP server to connect to".to_string();
    };
    let mut s = format!("{host} port {} with {}", p.port, mode_words(p.mode));
    match (&p.user, p.password) {
        (Some(u), true) => s.push_str(&format!(", login {u} (password from the file)")),
        (None, true) => s.push_str(", login (user and password from the file)"),
        _ => s.push_str(", no login"),
    }
    if let Some(from) = &p.from {
        s.push_str(&format!(", sender {from}"));
    }
    s
}
