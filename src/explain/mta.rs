//! Words for the MTA: its set-up and its queue's deferrals, and the relay probe's findings given the MTA's own fix (postconf -e, postmap, postfix reload, postqueue -f; Debian's Exim files), with -c DIR for an instance that is not the default.

use crate::diagnosis::mta::{Decider, DeferralGroup, MtaDiagnosis, MtaEvidence};
use crate::diagnosis::{Code, Facts, Finding, Layer, Severity};
use crate::host::exim;
use crate::host::postfix::{Instance, DEFAULT_CONFIG};
use crate::plan::shell_words;
use crate::report::mta::{EntryState, MapRole, MtaFacts, MtaKind, MtaReport, Route};

use super::{explained, Explained, ExplainedFinding, ExplainedVerdict, Words};

/// The MTA's diagnosis with its words, and the relay probe's, as every output format shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct MtaExplained {
    pub ok: bool,
    pub verdict: ExplainedVerdict,
    /// The MTA's own findings (set-up and queue).
    pub findings: Vec<ExplainedFinding>,
    /// The relay probe, worded as `check` words it, with the MTA's fix added where the fix is the MTA's.
    pub probe: Option<Explained>,
}

/// Words for the whole diagnosis.
pub fn explain(r: &MtaReport, d: &MtaDiagnosis) -> MtaExplained {
    let findings: Vec<ExplainedFinding> =
        d.findings.iter().map(|f| explained(f, word(f))).collect();
    let probe = match (&r.probe, &d.probe) {
        (Some(report), Some(diag)) => {
            let mut e = super::explain(report, diag);
            for f in &mut e.findings {
                add_mta_fix(&r.mta, f, &findings);
            }
            Some(e)
        }
        _ => None,
    };
    let summary = match d.decided_by {
        Some(Decider::Own(i)) => findings.get(i).map(|f| f.message.clone()),
        Some(Decider::Probe(i)) => probe
            .as_ref()
            .and_then(|p| p.findings.get(i))
            .map(|f| f.message.clone()),
        None => None,
    }
    .unwrap_or_else(|| working_summary(&r.mta));
    MtaExplained {
        ok: d.ok,
        verdict: ExplainedVerdict {
            layer: d.verdict.layer(),
            code: d.verdict.code,
            summary,
        },
        findings,
        probe,
    }
}

fn working_summary(m: &MtaFacts) -> String {
    let untested_login = m.sasl.enabled && m.probed.as_ref().is_some_and(|p| p.user.is_none());
    let login = if untested_login {
        " (its login not tested: the password map was not read)"
    } else {
        ""
    };
    let queue = match (m.queue.read, m.queue.deferred) {
        (true, 0) => "; nothing waits deferred",
        (true, _) => "",
        (false, _) => "; the queue was not read",
    };
    match (&m.route, &m.probed) {
        (Route::Relay(r), Some(_)) => format!(
            "{} relays through {}:{} and that path works{login}{queue}",
            m.kind.title(),
            r.host,
            r.port
        ),
        (Route::Direct, Some(p)) => format!(
            "{} delivers to MX hosts directly, and port 25 of {}'s MX hosts answers{queue}",
            m.kind.title(),
            p.target
        ),
        _ => format!("{} shows no problem{queue}", m.kind.title()),
    }
}

fn instance(m: &MtaFacts) -> Instance<'_> {
    Instance {
        dir: m.config.as_deref().unwrap_or(DEFAULT_CONFIG),
        default: m.default_instance,
    }
}

/// The Exim binary's name on this host (Debian calls it exim4).
fn exim_binary(m: &MtaFacts) -> &'static str {
    if m.evidence.iter().any(|e| e.contains("exim4")) {
        "exim4"
    } else {
        "exim"
    }
}

/// Retrying every deferred message now.
fn retry(m: &MtaFacts) -> String {
    match m.kind {
        MtaKind::Exim => exim::retry_command(exim_binary(m)),
        _ => instance(m).flush(),
    }
}

/// "/etc/postfix" or "the instance /etc/postfix-out".
fn instance_words(m: &MtaFacts) -> String {
    match (&m.config, m.default_instance) {
        (Some(dir), false) => format!("{} (instance {dir})", m.kind.title()),
        _ => m.kind.title().to_string(),
    }
}

/// The relay written as a fix writes it: `[host]:port` (Postfix).
fn bracketed(host: &str, port: u16) -> String {
    format!("[{host}]:{port}")
}

/// Sending through a submission relay with a login: the whole change, in this MTA's own terms.
fn relay_fix(m: &MtaFacts, host: &str, port: u16) -> Vec<String> {
    match m.kind {
        MtaKind::Exim => exim::smarthost_fix(exim_binary(m), host, port),
        _ => instance(m).relay_fix(&bracketed(host, port), &m.sasl.maps, port == 465),
    }
}

/// Where a port-25 block is worked around: the same relay's submission port, or a provider's when mail goes direct.
fn submission_relay(m: &MtaFacts) -> (String, bool) {
    match &m.route {
        Route::Relay(r) => (r.host.clone(), true),
        _ => ("smtp.provider.example".to_string(), false),
    }
}

fn port25_remedy(m: &MtaFacts) -> (String, Vec<String>) {
    let (host, known) = submission_relay(m);
    let which = if known {
        format!(
            "{host} on its submission port 587 (most providers' relays take logins there), or your mail provider's \
             submission server"
        )
    } else {
        format!(
            "your mail provider's submission server on port 587 (smtp.gmail.com, smtp.office365.com, your host's relay; \
             the commands name {host}: put its name there)"
        )
    };
    (
        format!(
            "Port 25 is blocked between this host and the Internet — most cloud and hosting providers (AWS, GCP, Azure, \
             DigitalOcean, OVH, Hetzner…) do it by default. Send through {which}, logged in with that account: replace \
             USER:PASSWORD with its login, then run the rest. Or ask the provider to lift the block."
        ),
        relay_fix(m, &host, 587),
    )
}

/// The map file people edit, and the key a fix writes (the relay as written).
fn map_source(m: &MtaFacts) -> Option<String> {
    match m.kind {
        MtaKind::Exim => m.sasl.maps.first().cloned(),
        _ => m
            .sasl
            .maps
            .iter()
            .flat_map(|map| crate::host::postfix::map_files(map))
            .find(|(_, role)| *role == MapRole::Source)
            .map(|(path, _)| path),
    }
}

fn entry_key(m: &MtaFacts) -> Option<String> {
    m.sasl.keys.last().cloned()
}

/// After the password in the map is corrected: rebuild, reload, retry.
fn map_rebuild(m: &MtaFacts) -> Vec<String> {
    match m.kind {
        MtaKind::Exim => vec![retry(m)],
        _ => {
            let inst = instance(m);
            let map = inst.map_or_default(&m.sasl.maps);
            vec![inst.postmap(&map), inst.reload(), retry(m)]
        }
    }
}

/// The symbolic name of the errnos a connect meets.
fn errno_name(e: i32) -> Option<&'static str> {
    [
        (libc::ETIMEDOUT, "ETIMEDOUT"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::EHOSTUNREACH, "EHOSTUNREACH"),
        (libc::ENETUNREACH, "ENETUNREACH"),
        (libc::EACCES, "EACCES"),
        (libc::EPERM, "EPERM"),
        (libc::ECONNRESET, "ECONNRESET"),
    ]
    .iter()
    .find(|(n, _)| *n == e)
    .map(|(_, name)| *name)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "40s", "3m", "4h", "2d".
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 90 * 60 => format!("{}m", s / 60),
        s if s < 72 * 3600 => format!("{}h", (s + 1800) / 3600),
        s => format!("{}d", (s + 43_200) / 86_400),
    }
}

/// The words of one MTA finding.
pub fn word(f: &Finding) -> Words {
    if let Facts::Interrupted(_) = &f.facts {
        return super::interrupted::word(f);
    }
    let Facts::Mta(ev) = &f.facts else {
        return Words::default();
    };
    match &ev.group {
        Some(g) => queue_words(f, ev, g),
        None => setup_words(f, &ev.mta),
    }
}

fn setup_words(f: &Finding, m: &MtaFacts) -> Words {
    let who = instance_words(m);
    let inst = instance(m);
    let relay = match &m.route {
        Route::Relay(r) => Some(r),
        _ => None,
    };
    let mut w = match f.code {
        Code::MtaNotFound => Words::new(
            "no MTA on this host: neither Postfix (postconf) nor Exim was found".into(),
            m.evidence.clone(),
            "Mail handed to sendmail or to localhost:25 goes nowhere. Install Postfix and relay through your provider's \
             submission server, or have the app send to that server itself and test it with `smtp-doctor check \
             smtp.provider.example:587 --user …`.",
        ),
        Code::MtaNotRunning => {
            let start = match m.kind {
                MtaKind::Exim => "systemctl start exim4".to_string(),
                _ if m.default_instance => "systemctl start postfix".to_string(),
                _ => format!("postfix -c {} start", shell_words([inst.dir.to_string()])),
            };
            let mut w = Words::new(
                format!("{who} is configured but does not run: mail waits in its queue"),
                m.queue.detail.iter().cloned().collect(),
                "Start it, then look at its log for why it stopped (journalctl -u postfix, or the maillog_file).",
            );
            w.commands = vec![start];
            w
        }
        Code::MtaConfigUnreadable => Words::new(
            format!("{who}'s configuration could not be read"),
            m.errors.clone(),
            "Run the command in the evidence yourself to see the whole error; a syntax error in main.cf stops Postfix too.",
        ),
        Code::MtaDirectDelivery => {
            let mut evidence = vec![match m.kind {
                MtaKind::Exim => "dc_eximconfig_configtype='internet' (or a dnslookup router and no smarthost)".to_string(),
                _ => format!("relayhost is empty ({} -h relayhost)", inst_tool(m, "postconf")),
            }];
            evidence.push(match &m.probed {
                Some(p) => format!("port 25 of the MX hosts of {} was probed (--to)", p.target),
                None => "port 25 was not probed: pass --to with an address you send to (a Gmail address, say)".into(),
            });
            Words::new(
                format!("{who} has no relay: it delivers straight to each recipient's MX hosts on port 25"),
                evidence,
                "Most cloud and hosting providers block outgoing port 25, and mail from a server without reverse DNS, SPF \
                 and DKIM is often refused even when it gets through. If port 25 is blocked, relay through your mail \
                 provider's submission server on 587 with a login.",
            )
        }
        Code::MtaRelayInvalid => {
            let text = match &m.route {
                Route::Invalid { text } => text.clone(),
                _ => String::new(),
            };
            Words::new(
                format!("the relay setting '{text}' of {who} is not a host name with a port"),
                Vec::new(),
                "Postfix: relayhost = [smtp.provider.example]:587 (brackets: connect to that host, no MX lookup). Exim on \
                 Debian: dc_smarthost='smtp.provider.example::587' in update-exim4.conf.conf, then update-exim4.conf.",
            )
        }
        Code::MtaRelayMxLookup => {
            let mut w = Words::new(
                format!(
                    "relayhost = {} is not in brackets: Postfix looks up MX records of {} instead of connecting to it",
                    relay.map(|r| r.text.as_str()).unwrap_or(""),
                    relay.map(|r| r.host.as_str()).unwrap_or("")
                ),
                Vec::new(),
                "Without brackets Postfix treats the name as a mail domain: where it has MX records, mail goes to those \
                 hosts (the provider's inbound servers, which do not relay). Write the relay in brackets.",
            );
            if let Some(r) = relay {
                w.commands = vec![
                    inst.set(&[("relayhost", &bracketed(&r.host, r.port))]),
                    inst.reload(),
                    retry(m),
                ];
            }
            w
        }
        Code::MtaSaslOff => {
            let (host, port) = relay.map_or((String::new(), 0), |r| (r.host.clone(), r.port));
            let mut w = Words::new(
                format!("{who} relays through {host}:{port}, a submission port, without logging in (SASL is off)"),
                vec![match m.kind {
                    MtaKind::Exim => format!("no {} entry for {host}", exim::PASSWD_CLIENT),
                    _ => "smtp_sasl_auth_enable = no".into(),
                }],
                "Submission servers relay only for logged-in users; they answer \"530 5.7.0 Authentication required\" \
                 or \"554 5.7.1 Relay access denied\". Turn SASL on with the account's login: replace USER:PASSWORD, then \
                 run the rest.",
            );
            w.commands = relay_fix(m, &host, port);
            w
        }
        Code::MtaSaslNoEntry => {
            let maps = m.sasl.maps.join(", ");
            let key = entry_key(m).unwrap_or_default();
            let mut w = Words::new(
                format!("SASL is on, but {} has no entry for the relay: {who} sends without logging in", if maps.is_empty() { "no password map is set (smtp_sasl_password_maps)".to_string() } else { maps.clone() }),
                vec![format!(
                    "looked up {} in order: not found",
                    m.sasl.keys.join(", then ")
                )],
                format!(
                    "{} looks the relay up by the server's host name, then by the relay as written ({key}). Add a line \
                     with that key and the account's login (replace USER:PASSWORD), then rebuild the map.",
                    m.kind.title()
                ),
            );
            if let (MtaKind::Postfix, Some(path)) = (m.kind, map_source(m)) {
                w.commands = vec![format!(
                    "echo {} >> {}",
                    shell_words([format!("{key} USER:PASSWORD")]),
                    shell_words([path.clone()])
                ), format!("chmod 600 {}", shell_words([path]))];
                w.commands.extend(map_rebuild(m));
            } else if m.kind == MtaKind::Postfix || m.sasl.maps.is_empty() {
                if let Some(r) = relay {
                    w.commands = relay_fix(m, &r.host, r.port);
                }
            }
            w
        }
        Code::MtaSaslMapReadable => {
            let open: Vec<&crate::report::mta::MapFile> = m
                .sasl
                .files
                .iter()
                .filter(|f| f.exists && (f.world_readable() || (m.kind == MtaKind::Postfix && f.group_readable())))
                .collect();
            let evidence = open
                .iter()
                .map(|f| {
                    format!(
                        "{}: mode {:04o}, owner {}:{}",
                        f.path,
                        f.mode.unwrap_or(0),
                        f.owner.clone().unwrap_or_else(|| f.uid.map_or("?".into(), |u| u.to_string())),
                        f.group.clone().unwrap_or_else(|| f.gid.map_or("?".into(), |g| g.to_string()))
                    )
                })
                .collect();
            let paths: Vec<String> = open.iter().map(|f| f.path.clone()).collect();
            let mut w = Words::new(
                format!("the SASL password map can be read by other users of this host: {}", paths.join(", ")),
                evidence,
                match m.kind {
                    MtaKind::Exim => "passwd.client holds the relay's password in clear: only root and Exim's group may read it.",
                    _ => "The map and its database hold the relay's password in clear; Postfix reads them as root, so no one else needs to.",
                },
            );
            w.commands = match m.kind {
                MtaKind::Exim => vec![
                    format!("chown root:Debian-exim {}", exim::PASSWD_CLIENT),
                    format!("chmod 640 {}", exim::PASSWD_CLIENT),
                ],
                _ => vec![format!("chmod 600 {}", paths.iter().map(|p| shell_words([p.clone()])).collect::<Vec<_>>().join(" "))],
            };
            w
        }
        Code::MtaSaslMapStale => {
            let source = map_source(m).unwrap_or_default();
            let message = if m.sasl.entry.state == EntryState::NoDatabase {
                format!("{source} has no database: postmap never ran, so Postfix cannot read the password")
            } else {
                format!("{source} was changed after its database was built: Postfix still uses the old entries")
            };
            let mut w = Words::new(
                message,
                m.sasl.entry.detail.iter().cloned().collect(),
                "postmap builds the database Postfix reads; rebuild it after every edit, then reload.",
            );
            w.commands = map_rebuild(m);
            w
        }
        Code::MtaTlsOff => {
            let (host, port) = relay.map_or((String::new(), 0), |r| (r.host.clone(), r.port));
            let mut w = Words::new(
                format!("{who} talks to {host}:{port} without TLS (smtp_tls_security_level = none)"),
                Vec::new(),
                "The password and every message cross the network in clear, and submission servers refuse AUTH before \
                 STARTTLS (\"530 5.7.0 Must issue a STARTTLS command first\"). Require TLS to the relay.",
            );
            if m.kind == MtaKind::Postfix {
                let mut pairs = vec![("smtp_tls_security_level", "encrypt")];
                if port == 465 {
                    pairs.push(("smtp_tls_wrappermode", "yes"));
                }
                w.commands = vec![inst.set(&pairs), inst.reload(), retry(m)];
            }
            w
        }
        _ => Words::default(),
    };
    if w.message.is_empty() {
        w.message = f.code.meaning().to_string();
    }
    w
}

fn inst_tool(m: &MtaFacts, tool: &str) -> String {
    let inst = instance(m);
    if inst.default {
        tool.to_string()
    } else {
        format!("{tool} -c {}", shell_words([inst.dir.to_string()]))
    }
}

fn queue_words(f: &Finding, ev: &MtaEvidence, g: &DeferralGroup) -> Words {
    let m = &ev.mta;
    let n = g.messages;
    let hosts = if g.hosts.is_empty() {
        "the destination".to_string()
    } else {
        g.hosts.join(", ")
    };
    let port = g.port.map(|p| format!(" port {p}")).unwrap_or_default();
    let first = g.deferrals.first();
    let reply = first
        .and_then(|d| {
            d.facts.reply_code.map(|c| {
                format!(
                    "{c}{}",
                    d.facts
                        .enhanced
                        .as_ref()
                        .map(|e| format!(" {e}"))
                        .unwrap_or_default()
                )
            })
        })
        .unwrap_or_default();
    let command = first
        .and_then(|d| d.facts.command.clone())
        .unwrap_or_default();
    let what = match f.code {
        Code::QueuePort25Blocked => format!("connections to port 25 of {hosts} time out"),
        Code::QueueConnectTimeout => format!("connections to {hosts}{port} time out"),
        Code::QueueConnectRefused => format!("{hosts} refuses connections on{port}"),
        Code::QueueNoRoute => format!("this host has no route to {hosts}"),
        Code::QueueBlockedHere => {
            format!("this host's firewall refuses the MTA's connections to {hosts}{port}")
        }
        Code::QueueNameNotFound => format!("{hosts} does not resolve"),
        Code::QueueTlsFailed => format!("TLS with {hosts} failed"),
        Code::QueueSaslFailed => format!("{hosts} refuses {}'s login ({reply})", m.kind.title()),
        Code::QueueSaslNoMechanism => format!(
            "{} finds no SASL mechanism it may use with {hosts}",
            m.kind.title()
        ),
        Code::QueueAuthRequired => format!("{hosts} demands a login ({reply} to {command})"),
        Code::QueueRelayDenied => format!("{hosts} refuses to relay ({reply} to {command})"),
        Code::QueueSenderRefused => format!("{hosts} refuses the sender ({reply} to {command})"),
        Code::QueueServerDeferred => {
            format!("{hosts} answers with a temporary refusal ({reply} to {command})")
        }
        Code::QueueConnectionLost => {
            format!("the connection to {hosts} was lost after it was made")
        }
        Code::QueueLocalError => format!(
            "{} could not read a table of its own while talking to {hosts}",
            m.kind.title()
        ),
        _ => "for a reason smtp-doctor does not recognise".to_string(),
    };
    let message = format!(
        "{} deferred in the queue: {what}",
        plural(n, "message", "messages")
    );
    let mut evidence = vec![format!(
        "{} of {}{}",
        plural(g.deferrals.len(), "recipient", "recipients"),
        plural(n, "message", "messages"),
        g.oldest_age_s
            .map(|a| format!(", the oldest queued {} ago", age(a)))
            .unwrap_or_default()
    )];
    let mut reasons: Vec<&str> = Vec::new();
    for d in &g.deferrals {
        if reasons.len() >= 3 || reasons.contains(&d.reason.as_str()) {
            continue;
        }
        reasons.push(&d.reason);
        evidence.push(format!("{} ({}): {}", d.recipient, d.queue_id, d.reason));
    }
    if let Some(d) = first {
        let mut facts = Vec::new();
        if let Some(e) = d.facts.errno {
            facts.push(match errno_name(e) {
                Some(name) => format!("errno {e} ({name})"),
                None => format!("errno {e}"),
            });
        }
        if let Some(c) = d.facts.reply_code {
            facts.push(format!("reply {c}"));
        }
        if let Some(e) = &d.facts.enhanced {
            facts.push(format!("status {e}"));
        }
        if let Some(c) = &d.facts.command {
            facts.push(format!("to {c}"));
        }
        if let (Some(r), Some(t)) = (&d.facts.router, &d.facts.transport) {
            facts.push(format!("router {r}, transport {t}"));
        }
        if !facts.is_empty() {
            evidence.push(format!("read from the reason: {}", facts.join(", ")));
        }
    }
    if f.severity == Severity::Warning {
        evidence.push(
            "the probe just now found the path working: these wait for their next retry".into(),
        );
    }
    let again = format!("`{}` tries them again now.", retry(m));
    let (remedy, commands): (String, Vec<String>) = match f.code {
        Code::QueuePort25Blocked => port25_remedy(m),
        Code::QueueSaslFailed => {
            let user = m.sasl.entry.user.clone().unwrap_or_else(|| "the account".into());
            match (m.kind, map_source(m), m.sasl.entry.key.clone().or_else(|| entry_key(m))) {
                (MtaKind::Postfix, Some(path), Some(key)) => (
                    format!(
                        "The relay rejects the password {} sends for {user}: correct the line for {key} in {path} (for \
                         Gmail and Microsoft 365 an app password; some accounts need SMTP AUTH enabled), then rebuild the \
                         map, reload and retry.",
                        m.kind.title()
                    ),
                    map_rebuild(m),
                ),
                _ => (
                    format!("The relay rejects the password for {user}: correct it in {}, then retry.", m.sasl.maps.join(", ")),
                    vec![retry(m)],
                ),
            }
        }
        Code::QueueLocalError => (
            String::from(
                "\"local data error\" means a lookup table failed on this host, most often a SASL password map that \
                 postmap never built (its .db is missing) or that the MTA cannot open; its log names the file. Build the \
                 maps, reload, retry."
            ),
            match m.kind {
                MtaKind::Postfix if !m.sasl.maps.is_empty() => map_rebuild(m),
                _ => Vec::new(),
            },
        ),
        Code::QueueSaslNoMechanism => match m.kind {
            MtaKind::Postfix => {
                let inst = instance(m);
                (
                    "smtp_sasl_security_options forbids every mechanism the relay offers (the default, noplaintext, rules out \
                     PLAIN and LOGIN, which most relays offer only over TLS). Allow them; the TLS level keeps them encrypted."
                        .into(),
                    vec![
                        inst.set(&[
                            ("smtp_sasl_security_options", "noanonymous"),
                            ("smtp_sasl_tls_security_options", "noanonymous"),
                        ]),
                        inst.reload(),
                        retry(m),
                    ],
                )
            }
            _ => ("Allow a mechanism the relay offers (PLAIN or LOGIN over TLS) in Exim's authenticators.".into(), Vec::new()),
        },
        Code::QueueAuthRequired | Code::QueueRelayDenied => match &m.route {
            Route::Relay(r) => (
                "The relay serves only logged-in users: turn SASL on with the account's login (replace USER:PASSWORD), \
                 then run the rest."
                    .into(),
                relay_fix(m, &r.host, r.port),
            ),
            _ => ("The receiving server refuses to relay: mail for other domains goes through your provider's submission server.".into(), Vec::new()),
        },
        Code::QueueSenderRefused => (
            format!(
                "The relay's account may not send as this sender. Send as an address the account owns (Postfix: \
                 smtp_generic_maps or sender_canonical_maps), or let the account send as it at the provider. {again}"
            ),
            Vec::new(),
        ),
        Code::QueueNameNotFound => (
            format!("Fix the relay's name (a typo?) or this host's resolver (the probe shows which). {again}"),
            Vec::new(),
        ),
        Code::QueueTlsFailed => {
            let level = m.tls.level.clone().unwrap_or_default();
            let verifies = matches!(level.as_str(), "verify" | "secure" | "dane" | "require");
            if verifies && m.tls.ca_file.is_none() && m.kind == MtaKind::Postfix {
                let inst = instance(m);
                (
                    format!(
                        "At smtp_tls_security_level = {level} Postfix verifies the relay's certificate, and no \
                         smtp_tls_CAfile is set to verify it with. Point it at the system's CA bundle (or the relay's CA)."
                    ),
                    vec![
                        inst.set(&[("smtp_tls_CAfile", "/etc/ssl/certs/ca-certificates.crt")]),
                        inst.reload(),
                        retry(m),
                    ],
                )
            } else {
                (format!("Fix the relay's certificate or the trust the MTA uses for it (the probe shows the certificate). {again}"), Vec::new())
            }
        }
        Code::QueueConnectionLost => match &m.route {
            Route::Relay(r) if r.port == 465 && !r.implicit_tls && m.kind == MtaKind::Postfix => {
                let inst = instance(m);
                (
                    "Port 465 speaks TLS from the first byte, but the MTA waits for a plaintext greeting: turn on \
                     wrapper mode."
                        .into(),
                    vec![
                        inst.set(&[("smtp_tls_wrappermode", "yes"), ("smtp_tls_security_level", "encrypt")]),
                        inst.reload(),
                        retry(m),
                    ],
                )
            }
            _ => (format!("The server dropped the session (its log says why: limits, a TLS mismatch, a proxy). {again}"), Vec::new()),
        },
        Code::QueueBlockedHere => (
            format!("This host's own firewall stops the MTA: `sudo smtp-doctor check {hosts}` names the rule and its fix. {again}"),
            Vec::new(),
        ),
        Code::QueueNoRoute => (
            format!("Fix this host's routes, or limit the MTA to the address family it has (inet_protocols = ipv4). {again}"),
            Vec::new(),
        ),
        _ => (
            format!("The probe above shows what the path does now; fix that, or wait for the next retry. {again}"),
            Vec::new(),
        ),
    };
    Words {
        message,
        evidence,
        remedy,
        commands,
    }
}

/// The relay probe's findings where the fix is the MTA's: a blocked port 25, a password from the map, the TLS mode.
/// When one of the MTA's own findings prints the same commands already, this one points at it instead.
fn add_mta_fix(m: &MtaFacts, f: &mut ExplainedFinding, own: &[ExplainedFinding]) {
    if m.kind == MtaKind::None {
        return;
    }
    let inst = instance(m);
    let (extra, commands): (String, Vec<String>) = match f.code {
        Code::IspDrop | Code::IspReject if f.port == Some(25) => {
            let (host, _) = submission_relay(m);
            (
                format!(
                    "For {}: the fix makes it send through {host} on 587 with a login (put the account's login \
                     in place of USER:PASSWORD first).",
                    instance_words(m)
                ),
                relay_fix(m, &host, 587),
            )
        }
        c if c.layer() == Layer::Credentials
            && m.probed.as_ref().is_some_and(|p| p.user.is_some()) =>
        {
            let source = map_source(m).unwrap_or_else(|| m.sasl.maps.join(", "));
            let key = m.sasl.entry.key.clone().unwrap_or_default();
            (
                format!(
                    "The password is the one {} sends: the entry {key} in {source}. Correct it there, then rebuild, reload \
                     and retry.",
                    instance_words(m)
                ),
                map_rebuild(m),
            )
        }
        Code::WrongTlsModeImplicit | Code::WrongTlsModeStarttls if m.kind == MtaKind::Postfix => {
            let implicit = f.code == Code::WrongTlsModeImplicit;
            let what = if implicit {
                "this port wants TLS from the first byte: turn wrapper mode on"
            } else {
                "this port starts in plaintext and upgrades with STARTTLS: turn wrapper mode off"
            };
            (
                format!("For {}: {what}.", instance_words(m)),
                vec![
                    inst.set(&[
                        ("smtp_tls_wrappermode", if implicit { "yes" } else { "no" }),
                        ("smtp_tls_security_level", "encrypt"),
                    ]),
                    inst.reload(),
                    retry(m),
                ],
            )
        }
        _ => return,
    };
    if let Some(same) = own
        .iter()
        .find(|o| !commands.is_empty() && o.commands == commands)
    {
        f.remedy = format!(
            "{} {extra} The commands are those of {} below.",
            f.remedy,
            same.code.name()
        );
        return;
    }
    f.remedy = format!("{} {extra}", f.remedy);
    for c in commands {
        if !f.commands.contains(&c) {
            f.commands.push(c);
        }
    }
}
