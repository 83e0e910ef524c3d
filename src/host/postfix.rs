//! Postfix: recognised by postconf and its main.cf; read from `postconf -x`, `postmap -q` and `postqueue -j` output (parsed here, run by the probe); fixed with `postconf -e`, `postmap`, `postfix reload` and `postqueue -f`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::queue::{errno_of, host_address, reply_in};
use crate::plan::shell_words;
use crate::report::mta::{
    Deferral, DeferralFacts, DeferralStep, Families, MapRole, MtaFacts, MtaKind, QueueFacts, Relay,
    Route, SaslFacts, TlsPolicy, MAX_DEFERRALS,
};

/// The default instance's configuration directory.
pub const DEFAULT_CONFIG: &str = "/etc/postfix";

/// The parameters that decide how Postfix sends: asked of `postconf -x` by name.
pub const PARAMS: &[&str] = &[
    "mail_version",
    "config_directory",
    "queue_directory",
    "myhostname",
    "inet_protocols",
    "relayhost",
    "default_transport",
    "relay_transport",
    "transport_maps",
    "sender_dependent_relayhost_maps",
    "smtp_sasl_auth_enable",
    "smtp_sasl_password_maps",
    "smtp_sasl_security_options",
    "smtp_sasl_tls_security_options",
    "smtp_tls_security_level",
    "smtp_tls_wrappermode",
    "smtp_use_tls",
    "smtp_enforce_tls",
    "smtp_tls_CAfile",
    "smtp_tls_CApath",
];

/// The arguments of `postconf` that print PARAMS for the instance in `dir`, with `$name` references expanded.
pub fn postconf_args(dir: &str) -> Vec<String> {
    let mut args = vec!["-c".to_string(), dir.to_string(), "-x".to_string()];
    args.extend(PARAMS.iter().map(|p| p.to_string()));
    args
}

/// The facts `postconf -x` output gives about the instance in `dir`: how it sends, its TLS and SASL settings and the
/// lookup keys of the relay. The probe adds what needs a tool or a file: the map's entry and files, the queue.
pub fn read(postconf: &str, dir: &str) -> MtaFacts {
    let settings = parse_postconf(postconf);
    let mut f = MtaFacts::new(MtaKind::Postfix);
    f.config = Some(dir.to_string());
    f.default_instance = dir.trim_end_matches('/') == DEFAULT_CONFIG;
    f.version = settings.get("mail_version").cloned();
    f.route = route(&settings);
    f.tls = tls_policy(&settings);
    f.families = families(&settings);
    f.sasl = SaslFacts {
        enabled: sasl_enabled(&settings),
        maps: password_maps(&settings),
        security_options: settings.get("smtp_sasl_security_options").cloned(),
        keys: match &f.route {
            Route::Relay(r) => lookup_keys(r),
            _ => Vec::new(),
        },
        ..SaslFacts::default()
    };
    f.settings = settings
        .into_iter()
        .filter(|(k, _)| PARAMS.contains(&k.as_str()))
        .collect();
    f
}

/// `name = value` lines of postconf; warnings and anything else are skipped.
pub fn parse_postconf(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().take(10_000) {
        let Some((name, value)) = line.split_once(" = ").or_else(|| {
            // postconf prints "name =" for an empty value.
            line.strip_suffix(" =").map(|n| (n, ""))
        }) else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.insert(name.to_string(), value.trim().to_string());
    }
    out
}

fn yes(settings: &BTreeMap<String, String>, name: &str) -> bool {
    settings
        .get(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"))
}

/// The port a relayhost names: a number, or a service name from /etc/services that Postfix users write.
pub fn service_port(name: &str) -> Option<u16> {
    match name {
        "smtp" => Some(25),
        "submission" => Some(587),
        "smtps" | "submissions" => Some(465),
        _ => name.parse::<u16>().ok().filter(|p| *p > 0),
    }
}

/// Reads a relayhost: `[host]:port`, `host:port`, `[host]`, `host` (MX lookup), `[address]:port`; lists keep their first.
pub fn parse_relayhost(text: &str, wrappermode: bool) -> Route {
    let all: Vec<&str> = text
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(first) = all.first() else {
        return Route::Direct;
    };
    let invalid = || Route::Invalid {
        text: text.to_string(),
    };
    let (host, port_text, mx_lookup) = if let Some(rest) = first.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return invalid();
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return invalid(),
            },
        };
        // Postfix writes an IPv6 address as [ipv6:2001:db8::1].
        let inside = inside.strip_prefix("ipv6:").unwrap_or(inside);
        (inside, port, false)
    } else {
        match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p), true),
            None => (*first, None, true),
        }
    };
    let port = match port_text {
        None => Some(25),
        Some(p) => service_port(p),
    };
    let host_ok = host.bytes().any(|b| b.is_ascii_alphanumeric())
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b));
    let (Some(port), true) = (port, host_ok) else {
        return invalid();
    };
    Route::Relay(Relay {
        text: text.trim().to_string(),
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        port,
        mx_lookup,
        implicit_tls: wrappermode,
        others: all.iter().skip(1).map(|s| s.to_string()).collect(),
    })
}

/// How this instance sends: its relayhost, or straight to MX hosts.
pub fn route(settings: &BTreeMap<String, String>) -> Route {
    let relayhost = settings.get("relayhost").map(String::as_str).unwrap_or("");
    parse_relayhost(relayhost, yes(settings, "smtp_tls_wrappermode"))
}

/// The TLS settings for outgoing mail; the legacy smtp_use_tls/smtp_enforce_tls count when no level is set.
pub fn tls_policy(settings: &BTreeMap<String, String>) -> TlsPolicy {
    let level = settings
        .get("smtp_tls_security_level")
        .filter(|l| !l.is_empty())
        .cloned()
        .or_else(|| {
            if yes(settings, "smtp_enforce_tls") {
                Some("encrypt".into())
            } else if yes(settings, "smtp_use_tls") {
                Some("may".into())
            } else {
                Some("none".into())
            }
        });
    TlsPolicy {
        level,
        wrappermode: yes(settings, "smtp_tls_wrappermode"),
        ca_file: settings
            .get("smtp_tls_CAfile")
            .filter(|f| !f.is_empty())
            .cloned(),
    }
}

/// inet_protocols: all (the default), ipv4, ipv6, or both named.
pub fn families(settings: &BTreeMap<String, String>) -> Families {
    let v = settings
        .get("inet_protocols")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_else(|| "all".into());
    if v.trim().is_empty() || v.contains("all") {
        return Families { v4: true, v6: true };
    }
    let f = Families {
        v4: v.contains("ipv4"),
        v6: v.contains("ipv6"),
    };
    // Something unreadable: Postfix would refuse to start; probe both rather than nothing.
    if !f.v4 && !f.v6 {
        return Families { v4: true, v6: true };
    }
    f
}

pub fn sasl_enabled(settings: &BTreeMap<String, String>) -> bool {
    yes(settings, "smtp_sasl_auth_enable")
}

/// The password maps as configured: `type:name` entries, separated by commas or spaces.
pub fn password_maps(settings: &BTreeMap<String, String>) -> Vec<String> {
    settings
        .get("smtp_sasl_password_maps")
        .map(|v| {
            v.split([',', ' ', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The keys Postfix's SMTP client looks a relay up by in smtp_sasl_password_maps: the server's host name first, then
/// the next-hop destination as written (`[host]:port`); see smtp_sasl_passwd_lookup() in smtp_sasl_glue.c.
pub fn lookup_keys(relay: &Relay) -> Vec<String> {
    let first = relay.text.split([',', ' ', '\t']).next().unwrap_or("");
    let mut keys = vec![relay.host.clone()];
    if !first.is_empty() && first != relay.host {
        keys.push(first.to_string());
    }
    keys
}

/// The files behind a map that hold its entries: the source people edit and the database postmap builds.
pub fn map_files(map: &str) -> Vec<(String, MapRole)> {
    let Some((kind, path)) = map.split_once(':') else {
        return Vec::new();
    };
    if !path.starts_with('/') {
        return Vec::new();
    }
    let db = match kind {
        "hash" | "btree" => Some(format!("{path}.db")),
        "lmdb" => Some(format!("{path}.lmdb")),
        "cdb" => Some(format!("{path}.cdb")),
        "dbm" | "sdbm" => Some(format!("{path}.pag")),
        "texthash" | "regexp" | "pcre" | "cidr" => None,
        // mysql:, pgsql:, ldap:, proxy:… keep the secret in a database or a config file of their own.
        _ => return Vec::new(),
    };
    let mut out = vec![(path.to_string(), MapRole::Source)];
    if let Some(db) = db {
        out.push((db, MapRole::Database));
    }
    out
}

/// A map value `user:password` (smtp_sasl_passwd_res_delim, `:` by default); the password may hold further colons.
pub fn split_entry(value: &str) -> Option<(String, String)> {
    let v = value.trim_end_matches(['\r', '\n']);
    let (user, password) = v.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_string(), password.to_string()))
}

/// One message of `postqueue -j`; fields Postfix adds later are ignored.
#[derive(Debug, Deserialize)]
struct JsonMessage {
    #[serde(default)]
    queue_name: String,
    #[serde(default)]
    queue_id: String,
    #[serde(default)]
    arrival_time: Option<i64>,
    #[serde(default)]
    recipients: Vec<JsonRecipient>,
}

#[derive(Debug, Deserialize)]
struct JsonRecipient {
    #[serde(default)]
    address: String,
    #[serde(default)]
    delay_reason: Option<String>,
}

/// Reads `postqueue -j` (one JSON object per line) as of `now` (seconds since the epoch).
pub fn parse_queue(text: &str, now: i64) -> QueueFacts {
    let mut q = QueueFacts {
        read: true,
        ..QueueFacts::default()
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(m) = serde_json::from_str::<JsonMessage>(line) else {
            q.unparsed += 1;
            continue;
        };
        q.messages += 1;
        *q.by_queue.entry(m.queue_name.clone()).or_default() += 1;
        let age = m
            .arrival_time
            .map(|t| u64::try_from(now.saturating_sub(t)).unwrap_or(0));
        if let Some(a) = age {
            q.oldest_age_s = Some(q.oldest_age_s.map_or(a, |o| o.max(a)));
        }
        let mut deferred = false;
        for r in m.recipients {
            let Some(reason) = r.delay_reason.filter(|r| !r.trim().is_empty()) else {
                continue;
            };
            deferred = true;
            if q.deferrals.len() < MAX_DEFERRALS {
                q.deferrals.push(Deferral {
                    queue_id: m.queue_id.clone(),
                    recipient: r.address,
                    age_s: age,
                    facts: parse_delay_reason(&reason),
                    reason,
                });
            }
        }
        // A message in the deferred queue was deferred even when Postfix kept no reason for it.
        if deferred || m.queue_name == "deferred" {
            q.deferred += 1;
        }
    }
    q
}

/// Typed facts from a Postfix delay reason, by the fixed formats of its SMTP client (smtp_connect.c, smtp_proto.c,
/// smtp_sasl_proto.c, smtp_tls): "connect to H[A]:P: <strerror>", "SASL authentication failed; server H[A] said: …",
/// "host H[A] said: CODE X.Y.Z … (in reply to CMD command)", "Host or domain name not found. …", TLS failures and lost connections.
pub fn parse_delay_reason(reason: &str) -> DeferralFacts {
    let mut t = reason.trim();
    // qmgr prefixes the reason of a destination it has given up on for now.
    while let Some(rest) = t.strip_prefix("delivery temporarily suspended:") {
        t = rest.trim_start();
    }
    let mut f = DeferralFacts::default();
    if let Some(rest) = t.strip_prefix("connect to ") {
        let (host, address, port, after) = host_address(rest);
        f.step = DeferralStep::Connect;
        f.host = host;
        f.address = address;
        f.port = port;
        f.errno = errno_of(after.trim_start_matches(':'));
        return f;
    }
    if t.starts_with("Host or domain name not found") || t.starts_with("Name service error") {
        f.step = DeferralStep::NameLookup;
        f.host = t
            .split_whitespace()
            .find_map(|w| w.strip_prefix("name="))
            .map(|n| n.trim_end_matches([',', ':']).to_string());
        return f;
    }
    if let Some(rest) = t.strip_prefix("SASL authentication failed;") {
        let rest = rest.trim_start();
        let (after_host, no_mechanism) = if let Some(r) = rest.strip_prefix("server ") {
            (r, false)
        } else if let Some(r) = rest.strip_prefix("cannot authenticate to server ") {
            (r, true)
        } else {
            (rest, false)
        };
        let (host, address, port, after) = host_address(after_host);
        f.host = host;
        f.address = address;
        f.port = port;
        f.command = Some("AUTH".into());
        if no_mechanism || after.contains("no mechanism available") {
            f.step = DeferralStep::AuthNoMechanism;
        } else {
            f.step = DeferralStep::Auth;
            if let Some(said) = after.split_once("said:").map(|(_, s)| s) {
                if let Some((code, enhanced)) = reply_in(said) {
                    f.reply_code = Some(code);
                    f.enhanced = enhanced;
                }
            }
        }
        return f;
    }
    if let Some(rest) = t.strip_prefix("host ") {
        let (host, address, port, after) = host_address(rest);
        f.host = host;
        f.address = address;
        f.port = port;
        let said = after
            .trim_start()
            .strip_prefix("said:")
            .or_else(|| after.trim_start().strip_prefix("refused to talk to me:"));
        if let Some(said) = said {
            f.step = DeferralStep::Reply;
            if let Some((code, enhanced)) = reply_in(said) {
                f.reply_code = Some(code);
                f.enhanced = enhanced;
            }
            f.command = match said.rsplit_once("(in reply to ") {
                Some((_, cmd)) => cmd
                    .trim_end()
                    .trim_end_matches(')')
                    .trim_end()
                    .strip_suffix(" command")
                    .map(|c| c.trim().to_string()),
                // "refused to talk to me": the greeting itself.
                None => Some("greeting".into()),
            };
            return f;
        }
    }
    for (prefix, step) in [
        ("lost connection with ", DeferralStep::Lost),
        ("conversation with ", DeferralStep::Lost),
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let (host, address, port, _) = host_address(rest);
            f.step = step;
            f.host = host;
            f.address = address;
            f.port = port;
            return f;
        }
    }
    // smtp_proto.c/smtp_sasl_glue.c: a lookup table failed (a map postmap never built, a database it cannot open).
    for prefix in [
        "local data error while talking to ",
        "local configuration error",
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let (host, address, port, _) = host_address(rest);
            f.step = DeferralStep::Local;
            f.host = host;
            f.address = address;
            f.port = port;
            return f;
        }
    }
    let tls = [
        "Server certificate not verified",
        "Server certificate not trusted",
        "TLS is required, but",
        "Cannot start TLS",
        "server certificate verification failed",
        "TLS handshake failed",
    ];
    if tls.iter().any(|p| t.starts_with(p)) {
        f.step = DeferralStep::Tls;
        // "TLS is required, but was not offered by host H[A]" / "… but host H[A] refused to start TLS: …"
        if let Some(i) = t.find("host ") {
            let (host, address, port, _) = host_address(&t[i + 5..]);
            f.host = host;
            f.address = address;
            f.port = port;
        }
        return f;
    }
    f
}

/// The instance a command acts on: the default one needs no `-c`.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub dir: &'a str,
    pub default: bool,
}

impl Instance<'_> {
    /// "postconf" or "postconf -c /etc/postfix-out": the tool with this instance's directory.
    fn tool(&self, name: &str) -> String {
        if self.default {
            name.to_string()
        } else {
            format!("{name} -c {}", shell_words([self.dir.to_string()]))
        }
    }

    /// `postconf -e 'name = value' …`: one command setting every pair.
    pub fn set(&self, pairs: &[(&str, &str)]) -> String {
        let words: Vec<String> = pairs
            .iter()
            .map(|(k, v)| shell_words([format!("{k} = {v}")]))
            .collect();
        format!("{} -e {}", self.tool("postconf"), words.join(" "))
    }

    pub fn postmap(&self, map: &str) -> String {
        format!(
            "{} {}",
            self.tool("postmap"),
            shell_words([map.to_string()])
        )
    }

    pub fn reload(&self) -> String {
        format!("{} reload", self.tool("postfix"))
    }

    /// `postqueue -f`: every deferred message is tried again now.
    pub fn flush(&self) -> String {
        format!("{} -f", self.tool("postqueue"))
    }

    /// The password map a fix writes to: the first configured one, else sasl_passwd beside main.cf.
    pub fn map_or_default(&self, maps: &[String]) -> String {
        maps.first()
            .cloned()
            .unwrap_or_else(|| format!("hash:{}/sasl_passwd", self.dir.trim_end_matches('/')))
    }

    /// The whole change to sending through `relay` (e.g. `[smtp.example.com]:587`) with SASL and TLS: settings,
    /// the map line, its mode and database, the reload and the retry.
    pub fn relay_fix(&self, relay: &str, maps: &[String], implicit_tls: bool) -> Vec<String> {
        let map = self.map_or_default(maps);
        let map_spec = map.clone();
        let path = map.split_once(':').map_or(map.as_str(), |(_, p)| p);
        let mut settings: Vec<(&str, &str)> = vec![
            ("relayhost", relay),
            ("smtp_sasl_auth_enable", "yes"),
            ("smtp_sasl_password_maps", map_spec.as_str()),
            ("smtp_sasl_security_options", "noanonymous"),
            ("smtp_tls_security_level", "encrypt"),
        ];
        if implicit_tls {
            settings.push(("smtp_tls_wrappermode", "yes"));
        }
        vec![
            self.set(&settings),
            format!(
                "echo {} >> {}",
                shell_words([format!("{relay} USER:PASSWORD")]),
                shell_words([path.to_string()])
            ),
            format!("chmod 600 {}", shell_words([path.to_string()])),
            self.postmap(&map),
            self.reload(),
            self.flush(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(text: &str) -> Option<Relay> {
        match parse_relayhost(text, false) {
            Route::Relay(r) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn relayhost_forms() {
        let r = relay("[smtp.example.com]:587").unwrap_or_else(|| panic!("bracketed with port"));
        assert_eq!(
            (r.host.as_str(), r.port, r.mx_lookup),
            ("smtp.example.com", 587, false)
        );
        let r = relay("[smtp.example.com]").unwrap_or_else(|| panic!("bracketed"));
        assert_eq!((r.port, r.mx_lookup), (25, false));
        let r = relay("smtp.example.com:submission").unwrap_or_else(|| panic!("service name"));
        assert_eq!((r.port, r.mx_lookup), (587, true));
        let r = relay("Example.COM.").unwrap_or_else(|| panic!("bare domain"));
        assert_eq!(
            (r.host.as_str(), r.port, r.mx_lookup),
            ("example.com", 25, true)
        );
        let r = relay("[ipv6:2001:db8::5]:465").unwrap_or_else(|| panic!("v6"));
        assert_eq!((r.host.as_str(), r.port), ("2001:db8::5", 465));
        let r = relay("[a.example]:587, [b.example]:587").unwrap_or_else(|| panic!("list"));
        assert_eq!(
            (r.host.as_str(), r.others.clone()),
            ("a.example", vec!["[b.example]:587".to_string()])
        );
        assert_eq!(parse_relayhost("", false), Route::Direct);
        assert_eq!(parse_relayhost("   ", false), Route::Direct);
        for bad in [
            "[smtp.example.com",
            "[h]x",
            "[h]:",
            "h:0",
            "h:99999",
            "[]:587",
            "bad/host",
            "h:abc",
            "[::]:25",
        ] {
            assert!(
                matches!(parse_relayhost(bad, false), Route::Invalid { .. }),
                "{bad:?} should be invalid"
            );
        }
    }

    #[test]
    fn lookup_keys_follow_smtp_sasl_glue() {
        let r = relay("[mail.lab.example.com]:587").unwrap_or_else(|| panic!("relay"));
        assert_eq!(
            lookup_keys(&r),
            vec![
                "mail.lab.example.com".to_string(),
                "[mail.lab.example.com]:587".to_string()
            ]
        );
        let r = relay("mail.example.com").unwrap_or_else(|| panic!("relay"));
        assert_eq!(lookup_keys(&r), vec!["mail.example.com".to_string()]);
    }

    #[test]
    fn map_files_by_type() {
        assert_eq!(
            map_files("hash:/etc/postfix/sasl_passwd"),
            vec![
                ("/etc/postfix/sasl_passwd".to_string(), MapRole::Source),
                ("/etc/postfix/sasl_passwd.db".to_string(), MapRole::Database)
            ]
        );
        assert_eq!(map_files("texthash:/etc/postfix/p").len(), 1);
        assert!(map_files("mysql:/etc/postfix/mysql.cf").is_empty());
        assert!(map_files("hash:relative").is_empty());
        assert!(map_files("nonsense").is_empty());
    }

    #[test]
    fn entries_split_at_the_first_colon() {
        assert_eq!(
            split_entry("app@example.com:pa:ss\n"),
            Some(("app@example.com".into(), "pa:ss".into()))
        );
        assert_eq!(split_entry("nocolon"), None);
        assert_eq!(split_entry(":x"), None);
    }

    #[test]
    fn postconf_lines() {
        let s = parse_postconf(
            "relayhost = [mail.lab.example.com]:587\nsmtp_tls_CApath =\npostconf: warning: x: unknown parameter\n= odd\n",
        );
        assert_eq!(
            s.get("relayhost").map(String::as_str),
            Some("[mail.lab.example.com]:587")
        );
        assert_eq!(s.get("smtp_tls_CApath").map(String::as_str), Some(""));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn tls_and_families() {
        let mut s = BTreeMap::new();
        assert_eq!(tls_policy(&s).level.as_deref(), Some("none"));
        s.insert("smtp_use_tls".to_string(), "yes".to_string());
        assert_eq!(tls_policy(&s).level.as_deref(), Some("may"));
        s.insert("smtp_tls_security_level".to_string(), "encrypt".to_string());
        assert_eq!(tls_policy(&s).level.as_deref(), Some("encrypt"));
        s.insert("inet_protocols".to_string(), "ipv4".to_string());
        assert_eq!(
            families(&s),
            Families {
                v4: true,
                v6: false
            }
        );
        s.insert("inet_protocols".to_string(), "ipv4, ipv6".to_string());
        assert_eq!(families(&s), Families { v4: true, v6: true });
        s.insert("inet_protocols".to_string(), "junk".to_string());
        assert_eq!(families(&s), Families { v4: true, v6: true });
    }

    /// The reply facts of a reason, for one assertion.
    fn replied(f: &DeferralFacts) -> (DeferralStep, Option<u16>, Option<&str>, Option<&str>) {
        (
            f.step,
            f.reply_code,
            f.enhanced.as_deref(),
            f.command.as_deref(),
        )
    }

    #[test]
    fn delay_reasons_by_their_structure() {
        let f = parse_delay_reason(
            "connect to mail.lab.example.com[203.0.113.10]:25: Connection timed out",
        );
        assert_eq!(f.step, DeferralStep::Connect);
        assert_eq!(f.errno, Some(libc::ETIMEDOUT));
        assert_eq!(f.port, Some(25));
        assert_eq!(f.host.as_deref(), Some("mail.lab.example.com"));
        let f = parse_delay_reason(
            "delivery temporarily suspended: connect to mx.example.com[2001:db8::1]:25: Network is unreachable",
        );
        assert_eq!(
            (f.step, f.errno),
            (DeferralStep::Connect, Some(libc::ENETUNREACH))
        );
        let f = parse_delay_reason("SASL authentication failed; server mail.lab.example.com[2001:db8:2::10] said: 535 5.7.8 Error: authentication failed: authentication failure");
        assert_eq!(
            replied(&f),
            (DeferralStep::Auth, Some(535), Some("5.7.8"), Some("AUTH"))
        );
        let f = parse_delay_reason("SASL authentication failed; cannot authenticate to server smtp.example.com[192.0.2.5]: no mechanism available");
        assert_eq!(f.step, DeferralStep::AuthNoMechanism);
        let f = parse_delay_reason("host smtp.example.com[192.0.2.5] said: 554 5.7.1 <x@example.org>: Relay access denied (in reply to RCPT TO command)");
        assert_eq!(
            replied(&f),
            (
                DeferralStep::Reply,
                Some(554),
                Some("5.7.1"),
                Some("RCPT TO")
            )
        );
        let f = parse_delay_reason("host mx.example.org[192.0.2.9] said: 451 4.7.1 Please try again later (in reply to end of DATA command)");
        assert_eq!(f.command.as_deref(), Some("end of DATA"));
        let f = parse_delay_reason(
            "host mx.example.org[192.0.2.9] refused to talk to me: 421 4.7.0 Try again later",
        );
        assert_eq!(
            (f.step, f.reply_code, f.command.as_deref()),
            (DeferralStep::Reply, Some(421), Some("greeting"))
        );
        let f = parse_delay_reason("Host or domain name not found. Name service error for name=nothere.lab.example.com type=AAAA: Host not found");
        assert_eq!(
            (f.step, f.host.as_deref()),
            (DeferralStep::NameLookup, Some("nothere.lab.example.com"))
        );
        let f = parse_delay_reason(
            "local data error while talking to mail.lab.example.com[2001:db8:2::10]",
        );
        assert_eq!(
            (f.step, f.host.as_deref()),
            (DeferralStep::Local, Some("mail.lab.example.com"))
        );
        let f = parse_delay_reason("Server certificate not verified");
        assert_eq!(f.step, DeferralStep::Tls);
        let f = parse_delay_reason(
            "TLS is required, but was not offered by host smtp.example.com[192.0.2.5]",
        );
        assert_eq!(
            (f.step, f.host.as_deref()),
            (DeferralStep::Tls, Some("smtp.example.com"))
        );
        let f = parse_delay_reason("lost connection with smtp.example.com[192.0.2.5] while receiving the initial server greeting");
        assert_eq!(f.step, DeferralStep::Lost);
        let f = parse_delay_reason("conversation with smtp.example.com[192.0.2.5] timed out while receiving the initial server greeting");
        assert_eq!(f.step, DeferralStep::Lost);
        assert_eq!(
            parse_delay_reason("mail transport unavailable").step,
            DeferralStep::Other
        );
    }

    #[test]
    fn odd_delay_reasons_do_not_panic() {
        for odd in [
            "",
            "connect to ",
            "connect to [",
            "connect to h[1.2.3.4]:",
            "host ",
            "host h[1.2.3.4] said:",
            "host h[1.2.3.4] said: (in reply to",
            "SASL authentication failed;",
            "SASL authentication failed; server",
            "delivery temporarily suspended:",
            "TLS is required, but host ",
            "Host or domain name not found name=",
            "\u{0}\u{ffff}[]:::",
        ] {
            let _ = parse_delay_reason(odd);
        }
    }

    #[test]
    fn queue_lines_with_unknown_fields_and_junk() {
        let text = concat!(
            r#"{"queue_name": "deferred", "queue_id": "A1", "arrival_time": 1000, "message_size": 365, "forced_expire": false, "sender": "a@x", "recipients": [{"address": "b@y", "delay_reason": "connect to mx.y[192.0.2.1]:25: Connection timed out"}], "new_field": {"x": 1}}"#,
            "\n",
            r#"{"queue_name": "active", "queue_id": "A2", "arrival_time": 1900, "recipients": [{"address": "c@y", "orig_address": "c@y", "bounce_reason": "x"}]}"#,
            "\nnot json\n\n",
            r#"{"queue_name": "deferred", "queue_id": "A3", "recipients": []}"#,
            "\n"
        );
        let q = parse_queue(text, 2000);
        assert_eq!((q.messages, q.deferred, q.unparsed), (3, 2, 1));
        assert_eq!(q.oldest_age_s, Some(1000));
        assert_eq!(q.deferrals.len(), 1);
        assert_eq!(q.deferrals[0].facts.errno, Some(libc::ETIMEDOUT));
        assert_eq!(q.by_queue.get("deferred"), Some(&2));
        // An arrival in the future (clock skew) is age 0, not a wrap-around.
        let q = parse_queue(
            r#"{"queue_id": "F", "arrival_time": 5000, "recipients": []}"#,
            2000,
        );
        assert_eq!(q.oldest_age_s, Some(0));
    }

    #[test]
    fn commands_carry_the_instance() {
        let default = Instance {
            dir: DEFAULT_CONFIG,
            default: true,
        };
        assert_eq!(default.flush(), "postqueue -f");
        assert_eq!(
            default.set(&[("relayhost", "[smtp.example.com]:587")]),
            "postconf -e 'relayhost = [smtp.example.com]:587'"
        );
        let other = Instance {
            dir: "/etc/postfix-out",
            default: false,
        };
        assert_eq!(other.reload(), "postfix -c /etc/postfix-out reload");
        assert_eq!(
            other.postmap("hash:/etc/postfix-out/sasl_passwd"),
            "postmap -c /etc/postfix-out hash:/etc/postfix-out/sasl_passwd"
        );
        let fix = default.relay_fix("[smtp.example.com]:587", &[], false);
        assert_eq!(
            fix,
            vec![
                "postconf -e 'relayhost = [smtp.example.com]:587' 'smtp_sasl_auth_enable = yes' 'smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd' 'smtp_sasl_security_options = noanonymous' 'smtp_tls_security_level = encrypt'".to_string(),
                "echo '[smtp.example.com]:587 USER:PASSWORD' >> /etc/postfix/sasl_passwd".to_string(),
                "chmod 600 /etc/postfix/sasl_passwd".to_string(),
                "postmap hash:/etc/postfix/sasl_passwd".to_string(),
                "postfix reload".to_string(),
                "postqueue -f".to_string(),
            ]
        );
    }
}
