//! What the app's own settings file said (--env-file): the file and keys read, the connection probed from them, and their faults.

use serde::{Deserialize, Serialize};

use super::PortMode;

/// The mail settings an application reads from its env file, as smtp-doctor understood them. Secret values are never kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsFacts {
    /// The file as given on the command line.
    pub file: String,
    /// Whose key names, value rules and defaults the file was read with.
    pub framework: Framework,
    /// Every mail key of that framework found in the file, in file order.
    pub keys: Vec<KeyUse>,
    /// The connection these settings make, which is what was probed.
    pub probed: ProbedSettings,
    /// Contradictions and typos, each with the keys and lines behind it.
    pub problems: Vec<SettingsProblem>,
    /// What is worth knowing but no fault: defaults, other frameworks' keys left aside, unreadable lines elsewhere.
    pub notes: Vec<SettingsNote>,
    /// Whether the host resolves to this machine (loopback or one of its own addresses); filled in by the probes.
    #[serde(default)]
    pub host_is_local: bool,
}

/// The frameworks whose settings smtp-doctor reads: each has its own key names, dotenv rules and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// MAIL_* read by Laravel's config/mail.php through phpdotenv and env().
    Laravel,
    /// MAILER_DSN read by Symfony Mailer through symfony/dotenv.
    Symfony,
    /// EMAIL_* read by Django's settings through python-dotenv or django-environ.
    Django,
    /// SMTP_* handed to nodemailer by a Node.js app through dotenv.
    NodeSmtp,
    /// EMAIL_* (EMAIL_USER, EMAIL_PASSWORD…) handed to nodemailer by a Node.js app through dotenv.
    NodeEmail,
}

impl Framework {
    /// The word JSON uses.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Laravel => "laravel",
            Framework::Symfony => "symfony",
            Framework::Django => "django",
            Framework::NodeSmtp => "node_smtp",
            Framework::NodeEmail => "node_email",
        }
    }

    /// How people call it.
    pub fn title(self) -> &'static str {
        match self {
            Framework::Laravel => "Laravel",
            Framework::Symfony => "Symfony Mailer",
            Framework::Django => "Django",
            Framework::NodeSmtp => "nodemailer (SMTP_* names)",
            Framework::NodeEmail => "nodemailer (EMAIL_* names)",
        }
    }

    /// The program that reads the settings, as its errors name it.
    pub fn app(self) -> &'static str {
        match self {
            Framework::Laravel => "Laravel",
            Framework::Symfony => "Symfony Mailer",
            Framework::Django => "Django",
            Framework::NodeSmtp | Framework::NodeEmail => "nodemailer",
        }
    }
}

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Which mailer or backend sends (MAIL_MAILER, EMAIL_BACKEND).
    Mailer,
    /// A whole connection URL (MAILER_DSN).
    Dsn,
    Host,
    Port,
    /// How TLS starts (MAIL_SCHEME, MAIL_ENCRYPTION, EMAIL_USE_TLS/SSL, SMTP_SECURE).
    Tls,
    User,
    Password,
    From,
}

/// How a value was written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quoting {
    None,
    Single,
    Double,
}

/// One key read from the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyUse {
    pub key: String,
    /// The line the key is on (1-based).
    pub line: usize,
    pub role: Role,
    /// The value as the app reads it (control characters made visible); None for secrets and unreadable lines.
    pub value: Option<String>,
    /// The value is a secret (a password, or a DSN that holds one) and never shown whole.
    pub secret: bool,
    /// False when a later line or a stronger key overrides it.
    pub used: bool,
    pub quoting: Quoting,
    /// Variables expanded into the value (`${NAME}`, `$NAME`).
    #[serde(default)]
    pub expanded: Vec<String>,
    /// Why a dotenv loader cannot read the line, when it cannot.
    #[serde(default)]
    pub unreadable: Option<Syntax>,
}

impl KeyUse {
    pub fn as_ref(&self) -> KeyRef {
        KeyRef {
            key: self.key.clone(),
            line: Some(self.line),
            value: self.value.clone(),
        }
    }
}

/// A key a problem is about: its line, or none when the framework's default stands in for a missing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    pub key: String,
    pub line: Option<usize>,
    /// The value as shown (None for secrets, unreadable lines and missing keys).
    pub value: Option<String>,
}

/// A line to write into the file to fix a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixLine {
    /// The whole line, `KEY=value`.
    pub text: String,
    /// The line it replaces; None to add it.
    pub replaces: Option<usize>,
}

/// The connection the settings make: host, the one port, how TLS starts, the login, the sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbedSettings {
    /// None when the host setting could not be turned into a host name: nothing was probed then.
    pub host: Option<String>,
    /// The key the host comes from, with the value written there (no line: the framework's default).
    pub host_key: KeyRef,
    pub port: u16,
    /// Starttls or Implicit: the app's own choice, never detected.
    pub mode: PortMode,
    pub user: Option<String>,
    /// A password from the file is used for AUTH (its value is never kept).
    pub password: bool,
    /// The envelope sender from the file (None when --from replaced it or it is not an address).
    pub from: Option<String>,
}

/// One contradiction or typo in the settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsProblem {
    /// In JSON its fields sit beside the others: `{"kind": "port_invalid", "probed": 587, …, "keys": […]}`.
    #[serde(flatten)]
    pub kind: ProblemKind,
    /// The keys behind it, the deciding one first.
    pub keys: Vec<KeyRef>,
    /// The lines that fix it.
    pub fix: Vec<FixLine>,
    /// The deciding key's line cannot be read by a dotenv loader at all.
    #[serde(default)]
    pub unreadable: Option<Syntax>,
}

/// What is wrong, with the facts the words and the severity need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemKind {
    /// The host value is not a bare host name; `probed` is the name meant, when one could be made.
    HostMalformed {
        typos: Vec<HostTypo>,
        probed: Option<String>,
    },
    /// The port value is not a port number; `probed` is the port that was probed instead.
    PortInvalid { probed: u16, fallback: PortFallback },
    /// Implicit TLS asked on a port that speaks plaintext first (587, 25, 2525); `honoured` is false when the
    /// framework ignores the setting there (Laravel 9+ with MAIL_ENCRYPTION=ssl).
    ImplicitTlsOnStarttlsPort { port: u16, honoured: bool },
    /// STARTTLS (or plaintext) asked on 465, which speaks TLS from the first byte.
    StarttlsOnImplicitPort { port: u16, honoured: bool },
    /// Django's EMAIL_USE_TLS and EMAIL_USE_SSL both on.
    TlsAndSsl,
    /// A login without any TLS: the password would travel in cleartext, or the server offers no AUTH.
    NoTls { port: u16 },
    /// A TLS setting whose value the framework does not read as on or off.
    TlsSettingInvalid,
    /// A user without a password, or a password without a user.
    LoginIncomplete { missing: LoginPart },
    /// The From address is not an email address.
    FromInvalid,
    /// The app does not send through SMTP at all.
    MailerNotSmtp {
        mailer: String,
        goes: MailerDestination,
        /// The mailer key is missing and the framework's default applies.
        defaulted: bool,
    },
    /// The host is this machine and nothing listens on the port (decided from the probe).
    HostIsThisHost { port: u16 },
}

/// Ways a host value goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostTypo {
    Empty,
    Spaces,
    Quotes,
    /// `smtp://`, `ssl://`… in front of the name.
    Scheme,
    /// `:587` after the name.
    Port,
    TrailingDot,
    TrailingComma,
    /// Nothing that could be a host name is left once the rest is removed.
    NotAName,
}

/// What was probed when the port is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortFallback {
    /// The digits the value starts with (what was meant; the app itself fails).
    Digits,
    /// The port the app itself falls back to (nodemailer: 587, or 465 with secure).
    AppDefault,
    /// Nothing to salvage: the framework's default port.
    FrameworkDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginPart {
    User,
    Password,
}

/// Where mail goes when the mailer is not SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailerDestination {
    /// Written to the app's log.
    Log,
    /// Kept in memory (a test mailer).
    Memory,
    /// Printed on the console.
    Console,
    /// Written to files.
    Files,
    /// Handed to this host's sendmail binary (the local MTA).
    Sendmail,
    /// Thrown away.
    Discarded,
}

/// Why a line cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syntax {
    /// A quote opened after `=` is never closed.
    UnterminatedQuote,
    /// Text follows the closing quote.
    TextAfterQuote,
    /// An unquoted value holds whitespace (phpdotenv and symfony/dotenv refuse it).
    SpaceInValue,
    /// A backslash sequence the loader refuses inside double quotes.
    BadEscape,
    /// The name before `=` is not a variable name.
    BadName,
    /// A line with a name and no `=`.
    NoEquals,
    /// Bytes that are not UTF-8.
    NotUtf8,
}

impl Syntax {
    /// A few words on what is wrong with the line.
    pub fn words(self) -> &'static str {
        match self {
            Syntax::UnterminatedQuote => "its quote is never closed",
            Syntax::TextAfterQuote => "text follows its closing quote",
            Syntax::SpaceInValue => "its value holds spaces without quotes",
            Syntax::BadEscape => "it holds a backslash sequence the loader refuses",
            Syntax::BadName => "the name before = is not a variable name",
            Syntax::NoEquals => "it has no =",
            Syntax::NotUtf8 => "it holds bytes that are not UTF-8",
        }
    }
}

/// Facts about the file that are no fault of the mail settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SettingsNote {
    /// Another framework's mail keys, left aside.
    OtherFramework {
        framework: Framework,
        keys: Vec<KeyRef>,
    },
    /// A missing key whose default the framework uses.
    Default { key: String, value: String },
    /// A key set on several lines: the last one wins.
    Duplicate { key: String, lines: Vec<usize> },
    /// A variable used in a value that the file and the environment leave undefined.
    UndefinedVariable {
        key: String,
        line: usize,
        variable: String,
    },
    /// A line elsewhere in the file that dotenv loaders cannot read.
    UnreadableLine {
        key: Option<String>,
        line: usize,
        syntax: Syntax,
    },
    /// --from on the command line replaces the file's From address.
    FromOverridden { key: String, line: usize },
    /// A key smtp-doctor does not follow (MAIL_URL): the app may connect elsewhere.
    NotFollowed { key: String, line: usize },
    /// The mailer is not one the framework ships; taken to be SMTP.
    UnknownMailer {
        key: String,
        line: usize,
        mailer: String,
    },
    /// A TLS setting the app reads from its own code (nodemailer's `secure`): the default was assumed.
    SecureAssumed { key: String, port: u16 },
}

/// A value as it may be shown: control characters (a newline, an escape) become U+FFFD, so no file can steer the terminal.
pub fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}
