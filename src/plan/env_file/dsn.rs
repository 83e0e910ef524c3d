//! Symfony Mailer's DSN (`MAILER_DSN=smtp://user:pass@host:587?options`), read like PHP's parse_url and written back without the password.

use crate::plan::target::percent_decode;
use crate::report::settings::Syntax;

/// A Symfony mailer DSN: `scheme://user:password@host:port?options`; user and password percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    /// The port as written (it may not be a number).
    pub port: Option<String>,
    pub query: Vec<(String, String)>,
}

impl std::fmt::Debug for Dsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnError {
    Empty,
    NoScheme,
    NoHost,
    Syntax(Syntax),
}

impl DsnError {
    pub fn words(self) -> &'static str {
        match self {
            DsnError::Empty => "it is empty",
            DsnError::NoScheme => "it does not start with a scheme such as smtp://",
            DsnError::NoHost => "it names no host",
            DsnError::Syntax(s) => s.words(),
        }
    }
}

impl Dsn {
    pub fn option(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The DSN with its password replaced, fit to show.
    pub fn redacted(&self) -> String {
        self.render(None, None, None, false, "[redacted]")
    }

    /// `MAILER_DSN=…` as it should be written, with `PASSWORD` standing for the password (never printed).
    pub fn line(
        &self,
        scheme: Option<&str>,
        host: Option<&str>,
        port: Option<&str>,
        drop_auto_tls: bool,
    ) -> String {
        format!(
            "MAILER_DSN={}",
            self.render(scheme, host, port, drop_auto_tls, "PASSWORD")
        )
    }

    fn render(
        &self,
        scheme: Option<&str>,
        host: Option<&str>,
        port: Option<&str>,
        drop_auto_tls: bool,
        password: &str,
    ) -> String {
        let mut s = format!("{}://", scheme.unwrap_or(&self.scheme));
        if let Some(u) = &self.user {
            s.push_str(&encode(u));
            if self.password.is_some() {
                s.push(':');
                s.push_str(password);
            }
            s.push('@');
        }
        let host = host.unwrap_or(&self.host);
        if host.contains(':') {
            s.push_str(&format!("[{host}]"));
        } else {
            s.push_str(host);
        }
        if let Some(p) = port.or(self.port.as_deref()) {
            s.push(':');
            s.push_str(p);
        }
        let query: Vec<String> = self
            .query
            .iter()
            .filter(|(k, _)| !(drop_auto_tls && k == "auto_tls"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !query.is_empty() {
            s.push('?');
            s.push_str(&query.join("&"));
        }
        s
    }
}

/// Percent-encodes what would break a DSN's user part.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` decoded; bytes that are not UTF-8 become U+FFFD.
fn decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode(s)).into_owned()
}

/// Reads a DSN like PHP's parse_url; `failover(a b)` and `roundrobin(a b)` give their first DSN, which is tried first.
pub fn parse_dsn(text: &str) -> Result<Dsn, DsnError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DsnError::Empty);
    }
    for wrapper in ["failover(", "roundrobin("] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            let first = inner.split_whitespace().next().ok_or(DsnError::Empty)?;
            return parse_dsn(first);
        }
    }
    let (scheme, rest) = t.split_once("://").ok_or(DsnError::NoScheme)?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Err(DsnError::NoScheme);
    }
    // The query starts at the first `?` after the userinfo; the userinfo ends at the last `@` before it.
    let at = rest.rfind('@');
    let after_user = at.map_or(0, |i| i + 1);
    let (authority_end, query) = match rest[after_user..].find(['?', '#', '/']) {
        Some(i) => {
            let q = &rest[after_user + i..];
            let query = q
                .strip_prefix('?')
                .or_else(|| q.split_once('?').map(|(_, q)| q))
                .unwrap_or("");
            (after_user + i, query)
        }
        None => (rest.len(), ""),
    };
    let (user, password) = match at {
        Some(i) => {
            let info = &rest[..i];
            match info.split_once(':') {
                Some((u, p)) => (
                    Some(decode(u)).filter(|u| !u.is_empty()),
                    Some(decode(p)).filter(|p| !p.is_empty()),
                ),
                None => (Some(decode(info)).filter(|u| !u.is_empty()), None),
            }
        }
        None => (None, None),
    };
    let hostport = &rest[after_user..authority_end];
    let (host, port) = if let Some(inside) = hostport.strip_prefix('[') {
        match inside.split_once(']') {
            Some((h, after)) => (h.to_string(), after.strip_prefix(':').map(str::to_string)),
            None => return Err(DsnError::NoHost),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(DsnError::NoHost);
    }
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect();
    Ok(Dsn {
        scheme: scheme.to_ascii_lowercase(),
        user,
        password,
        host,
        port,
        query,
    })
}
