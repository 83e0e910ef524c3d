//! The checks every framework's values get: a host that is a host name, a port that is a number, TLS that fits the port.

use crate::plan::Target;
use crate::report::settings::{FixLine, HostTypo, KeyRef, ProblemKind, SettingsProblem};
use crate::report::PortMode;

/// What servers speak on a port: TLS first on 465, plaintext then STARTTLS on the registered submission and relay ports.
pub(super) fn usual_mode(port: u16) -> Option<PortMode> {
    match port {
        465 => Some(PortMode::Implicit),
        25 | 587 | 2525 => Some(PortMode::Starttls),
        _ => None,
    }
}

/// A host value checked: what is wrong with it, and the host name it stands for when one can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostCheck {
    pub typos: Vec<HostTypo>,
    pub probed: Option<String>,
}

/// Checks a host value as the app passes it to its resolver: every typo is listed, and the name meant is made
/// by removing what the typos added (blanks, quotes, a scheme, a port, trailing dots and commas).
pub(super) fn host(value: &str) -> HostCheck {
    let mut typos = Vec::new();
    let add = |t: HostTypo, typos: &mut Vec<HostTypo>| {
        if !typos.contains(&t) {
            typos.push(t);
        }
    };
    if value.is_empty() {
        return HostCheck {
            typos: vec![HostTypo::Empty],
            probed: None,
        };
    }
    let mut s = value.to_string();
    if s.trim() != s {
        add(HostTypo::Spaces, &mut typos);
        s = s.trim().to_string();
    }
    if s.contains(['\'', '"', '`']) {
        add(HostTypo::Quotes, &mut typos);
        s = s.replace(['\'', '"', '`'], "").trim().to_string();
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            add(HostTypo::Scheme, &mut typos);
            s = rest.split(['/', '?', '#']).next().unwrap_or("").to_string();
        }
    }
    if let Some(stripped) = strip_port(&s) {
        add(HostTypo::Port, &mut typos);
        s = stripped;
    }
    loop {
        if let Some(rest) = s.strip_suffix('.') {
            add(HostTypo::TrailingDot, &mut typos);
            s = rest.to_string();
        } else if let Some(rest) = s.strip_suffix(',') {
            add(HostTypo::TrailingComma, &mut typos);
            s = rest.to_string();
        } else {
            break;
        }
    }
    if s.chars().any(char::is_whitespace) {
        add(HostTypo::Spaces, &mut typos);
        return HostCheck {
            typos,
            probed: None,
        };
    }
    match Target::parse(&s) {
        Ok(t) => HostCheck {
            typos,
            probed: Some(t.to_string()),
        },
        Err(_) => {
            add(HostTypo::NotAName, &mut typos);
            HostCheck {
                typos,
                probed: None,
            }
        }
    }
}

/// `name:587` or `[v6]:587` without the port; None when no port follows the name (a bare IPv6 address keeps its colons).
fn strip_port(s: &str) -> Option<String> {
    if let Some(inside) = s.strip_prefix('[') {
        let (ip, after) = inside.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return port_number(port).map(|_| ip.to_string());
    }
    let (name, port) = s.split_once(':')?;
    if port.contains(':') {
        return None;
    }
    port_number(port).map(|_| name.to_string())
}

/// A port value as every framework reads it (blanks around it allowed): None unless a number from 1 to 65535.
pub(super) fn port_number(value: &str) -> Option<u16> {
    let t = value.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u16>().ok().filter(|&p| p != 0)
}

/// The port a malformed value was meant to be: the digits it starts with once blanks and quotes are gone (`587a`, `'587'`).
pub(super) fn leading_digits(value: &str) -> Option<u16> {
    let t = value.trim().trim_start_matches(['\'', '"']);
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    port_number(&digits)
}

/// A contradiction between the TLS mode the settings ask for and the mode servers speak on that port.
pub(super) fn tls_against_port(
    asked: PortMode,
    port: u16,
    honoured: bool,
    keys: Vec<KeyRef>,
    fix: Vec<FixLine>,
) -> Option<SettingsProblem> {
    let kind = match (asked, usual_mode(port)) {
        (PortMode::Implicit, Some(PortMode::Starttls)) => {
            ProblemKind::ImplicitTlsOnStarttlsPort { port, honoured }
        }
        (PortMode::Starttls, Some(PortMode::Implicit)) => {
            ProblemKind::StarttlsOnImplicitPort { port, honoured }
        }
        _ => return None,
    };
    Some(SettingsProblem {
        kind,
        keys,
        fix,
        unreadable: None,
    })
}

/// A From value: a bare address, or `Name <address>`; None when it holds no email address.
pub(super) fn from_address(value: &str) -> Option<lettre::Address> {
    let t = value.trim();
    let inner = match (t.rfind('<'), t.ends_with('>')) {
        (Some(i), true) => &t[i + 1..t.len() - 1],
        _ => t,
    };
    inner.trim().parse::<lettre::Address>().ok()
}

/// How the common boolean readers take a word (django-environ, python-decouple, `=== 'true'` in Node): None when unsure.
pub(super) fn bool_word(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}
