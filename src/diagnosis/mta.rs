//! The MTA's diagnosis: its set-up (no relay, a relay without brackets, SASL without an entry, a readable map…) and its queue's deferrals grouped by the typed facts of their reasons, weighed together with the relay probe's own diagnosis.

use std::collections::BTreeMap;

use crate::report::mta::{
    Deferral, DeferralStep, EntryState, MapRole, MtaFacts, MtaKind, MtaReport, QueueNotRead, Route,
};

use super::{Code, Confidence, Diagnosis, Facts, Finding, Layer, Severity, Verdict};

/// The facts behind an MTA finding: the MTA as read, and for a queue finding the deferrals it groups.
#[derive(Debug, Clone, PartialEq)]
pub struct MtaEvidence {
    pub mta: MtaFacts,
    pub group: Option<DeferralGroup>,
}

/// Deferred recipients with one cause.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferralGroup {
    pub deferrals: Vec<Deferral>,
    /// Distinct messages among them.
    pub messages: usize,
    /// The hosts their reasons name.
    pub hosts: Vec<String>,
    /// The port the MTA was connecting to, when the reasons or the route tell.
    pub port: Option<u16>,
    pub oldest_age_s: Option<u64>,
}

/// Which finding decided the verdict: one of the MTA's own, or one of the probe's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    Own(usize),
    Probe(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MtaDiagnosis {
    pub ok: bool,
    pub verdict: Verdict,
    pub decided_by: Option<Decider>,
    /// The MTA's own findings (set-up and queue), most important first.
    pub findings: Vec<Finding>,
    /// The relay probe's diagnosis, as `check` makes it.
    pub probe: Option<Diagnosis>,
}

/// Diagnoses the MTA and its probe. Pure: same report, same diagnosis.
pub fn diagnose(r: &MtaReport) -> MtaDiagnosis {
    let probe = r.probe.as_ref().map(super::diagnose);
    let mut findings = match r.interrupted.filter(|i| i.reading_mta) {
        // None of the MTA's facts were read: nothing is said of it, not even that it is missing.
        Some(i) => vec![super::interrupted::reading_mta(i.signal)],
        None => setup(&r.mta),
    };
    if findings.iter().all(|f| f.code != Code::Interrupted) {
        findings.extend(queue(
            &r.mta,
            probe.as_ref(),
            r.mta
                .probed
                .as_ref()
                .and_then(|p| p.user.as_ref())
                .is_some(),
        ));
    }
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.layer().rank().cmp(&b.layer().rank()))
    });
    // The live probe says what fails now; the queue and the set-up say why mail waited. Ties go to the probe.
    let mut ranked: Vec<(Severity, u8, u8, Decider)> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.severity, f.layer().rank(), 1, Decider::Own(i)))
        .collect();
    if let Some(p) = &probe {
        ranked.extend(
            p.findings
                .iter()
                .enumerate()
                .map(|(i, f)| (f.severity, f.layer().rank(), 0, Decider::Probe(i))),
        );
    }
    ranked.sort_by_key(|(sev, rank, source, _)| (*sev, *rank, *source));
    let decided_by = ranked
        .iter()
        .find(|(sev, ..)| *sev != Severity::Info)
        .map(|(.., d)| *d);
    let code = decided_by.and_then(|d| match d {
        Decider::Own(i) => findings.get(i).map(|f| f.code),
        Decider::Probe(i) => probe
            .as_ref()
            .and_then(|p| p.findings.get(i))
            .map(|f| f.code),
    });
    let ok = !ranked.iter().any(|(sev, ..)| *sev == Severity::Error);
    MtaDiagnosis {
        ok,
        verdict: Verdict { code },
        decided_by,
        findings,
        probe,
    }
}

fn finding(m: &MtaFacts, code: Code, severity: Severity, group: Option<DeferralGroup>) -> Finding {
    let (host, port) = match &m.route {
        Route::Relay(r) => (
            r.host.clone(),
            group.as_ref().and_then(|g| g.port).or(Some(r.port)),
        ),
        _ => (
            m.config
                .clone()
                .unwrap_or_else(|| m.kind.title().to_string()),
            group.as_ref().and_then(|g| g.port),
        ),
    };
    Finding {
        code,
        severity,
        confidence: Confidence::High,
        host,
        port,
        address: None,
        facts: Facts::Mta(Box::new(MtaEvidence {
            mta: m.clone(),
            group,
        })),
        others: Vec::new(),
        other_addresses_work: false,
    }
}

/// Findings on how the MTA is set up to send.
fn setup(m: &MtaFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    let add = |out: &mut Vec<Finding>, code, severity| out.push(finding(m, code, severity, None));
    if m.kind == MtaKind::None {
        add(&mut out, Code::MtaNotFound, Severity::Error);
        return out;
    }
    if m.route == Route::Unknown && !m.errors.is_empty() {
        add(&mut out, Code::MtaConfigUnreadable, Severity::Error);
        return out;
    }
    if m.running == Some(false) {
        add(&mut out, Code::MtaNotRunning, Severity::Error);
    }
    match &m.route {
        Route::Direct => add(&mut out, Code::MtaDirectDelivery, Severity::Info),
        Route::Invalid { .. } => add(&mut out, Code::MtaRelayInvalid, Severity::Error),
        Route::Relay(r) => {
            if r.mx_lookup && m.kind == MtaKind::Postfix {
                add(&mut out, Code::MtaRelayMxLookup, Severity::Warning);
            }
            let submission = matches!(r.port, 587 | 465);
            if !m.sasl.enabled && submission {
                add(&mut out, Code::MtaSaslOff, Severity::Warning);
            }
            if m.sasl.enabled && m.sasl.entry.state == EntryState::Missing {
                add(&mut out, Code::MtaSaslNoEntry, Severity::Error);
            }
            if m.tls.off() && (m.sasl.enabled || submission) {
                add(&mut out, Code::MtaTlsOff, Severity::Error);
            }
        }
        Route::Unknown => {}
    }
    // Exim's passwd.client must stay readable by Exim's group; Postfix opens its maps as root.
    let exposed = m.sasl.files.iter().any(|f| {
        f.exists && (f.world_readable() || (m.kind == MtaKind::Postfix && f.group_readable()))
    });
    if exposed {
        add(&mut out, Code::MtaSaslMapReadable, Severity::Warning);
    }
    let modified = |role| {
        m.sasl
            .files
            .iter()
            .find(|f| f.role == role && f.exists)
            .and_then(|f| f.modified)
    };
    if m.sasl.enabled && m.sasl.entry.state == EntryState::NoDatabase {
        add(&mut out, Code::MtaSaslMapStale, Severity::Error);
    } else if let (Some(source), Some(db)) =
        (modified(MapRole::Source), modified(MapRole::Database))
    {
        if m.sasl.enabled && source > db {
            add(&mut out, Code::MtaSaslMapStale, Severity::Warning);
        }
    }
    out
}

/// The port a deferral was connecting to: its own, else the route's (a smarthost's port, or 25 for MX delivery).
fn port_of(m: &MtaFacts, d: &Deferral) -> Option<u16> {
    if d.facts.port.is_some() {
        return d.facts.port;
    }
    let via_mx = d.facts.router.as_deref() == Some("dnslookup");
    match &m.route {
        Route::Relay(r) if !via_mx => Some(r.port),
        Route::Relay(_) | Route::Direct => Some(25),
        _ => None,
    }
}

/// The cause of one deferral, from its typed facts (errno, reply code, enhanced status, command), never its wording alone.
pub fn cause(m: &MtaFacts, d: &Deferral) -> Code {
    let f = &d.facts;
    let enhanced = f.enhanced.as_deref().unwrap_or("");
    let command = f.command.as_deref().unwrap_or("").to_ascii_uppercase();
    match f.step {
        DeferralStep::Connect => match f.errno {
            Some(e) if e == libc::ETIMEDOUT => {
                if port_of(m, d) == Some(25) {
                    Code::QueuePort25Blocked
                } else {
                    Code::QueueConnectTimeout
                }
            }
            Some(e) if e == libc::ECONNREFUSED => Code::QueueConnectRefused,
            Some(e) if e == libc::ENETUNREACH || e == libc::EHOSTUNREACH => Code::QueueNoRoute,
            Some(e) if e == libc::EPERM || e == libc::EACCES => Code::QueueBlockedHere,
            _ => Code::QueueDeferredOther,
        },
        DeferralStep::NameLookup => Code::QueueNameNotFound,
        DeferralStep::Tls => Code::QueueTlsFailed,
        DeferralStep::Auth => Code::QueueSaslFailed,
        DeferralStep::AuthNoMechanism => Code::QueueSaslNoMechanism,
        DeferralStep::Lost => Code::QueueConnectionLost,
        DeferralStep::Local => Code::QueueLocalError,
        DeferralStep::Reply => {
            let code = f.reply_code.unwrap_or(0);
            let rcpt = command.starts_with("RCPT");
            let mail = command.starts_with("MAIL");
            // RFC 4954: 530 5.7.0 "Authentication required" (Postfix also says "Must issue a STARTTLS command
            // first" with it; mta_tls_off names that case from the settings).
            if code == 530 {
                Code::QueueAuthRequired
            } else if rcpt
                && (enhanced == "5.7.1"
                    || (code == 554 && enhanced.starts_with("5.7."))
                    || (code == 454 && enhanced == "4.7.1"))
            {
                Code::QueueRelayDenied
            } else if mail && (500..600).contains(&code) {
                Code::QueueSenderRefused
            } else if (400..500).contains(&code) {
                Code::QueueServerDeferred
            } else {
                Code::QueueDeferredOther
            }
        }
        DeferralStep::Other => Code::QueueDeferredOther,
    }
}

/// Deferred recipients grouped by cause: one finding each, an error unless the live probe shows the path works now.
fn queue(m: &MtaFacts, probe: Option<&Diagnosis>, auth_probed: bool) -> Vec<Finding> {
    let q = &m.queue;
    if !q.read || q.why_not == Some(QueueNotRead::NotRunning) {
        return Vec::new();
    }
    let mut groups: BTreeMap<Code, Vec<&Deferral>> = BTreeMap::new();
    for d in &q.deferrals {
        groups.entry(cause(m, d)).or_default().push(d);
    }
    groups
        .into_iter()
        .map(|(code, ds)| {
            let mut ids: Vec<&str> = ds.iter().map(|d| d.queue_id.as_str()).collect();
            ids.sort();
            ids.dedup();
            let mut hosts: Vec<String> = ds.iter().filter_map(|d| d.facts.host.clone()).collect();
            hosts.sort();
            hosts.dedup();
            let mut ports: Vec<u16> = ds.iter().filter_map(|d| port_of(m, d)).collect();
            ports.sort();
            ports.dedup();
            let group = DeferralGroup {
                messages: ids.len(),
                hosts,
                port: (ports.len() == 1).then(|| ports[0]),
                oldest_age_s: ds.iter().filter_map(|d| d.age_s).max(),
                deferrals: ds.into_iter().cloned().collect(),
            };
            // A login the probe did not try (no password read) is not shown to work by a probe that passed.
            // Nor does any probe reach the MTA's own tables.
            let covered = code != Code::QueueLocalError
                && (auth_probed || !matches!(code.layer(), Layer::Credentials | Layer::Sender));
            let works_now = probe.is_some_and(|p| p.ok) && covered;
            let severity = if works_now {
                Severity::Warning
            } else {
                Severity::Error
            };
            let mut f = finding(m, code, severity, Some(group));
            // The live probe confirms the cause when its verdict is the same layer.
            f.confidence = match probe {
                Some(p) if p.verdict.layer() == code.layer() => Confidence::High,
                _ => Confidence::Medium,
            };
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::tests::{healthy, port, report};
    use crate::report::mta::{DeferralFacts, ProbedKind, ProbedPath, QueueFacts, Relay};
    use crate::report::PortMode;

    fn relay_mta(deferral: Option<DeferralFacts>, reason: &str) -> MtaFacts {
        let mut m = MtaFacts::new(MtaKind::Postfix);
        m.config = Some("/etc/postfix".into());
        m.running = Some(true);
        m.route = Route::Relay(Relay {
            text: "[mail.example.com]:587".into(),
            host: "mail.example.com".into(),
            port: 587,
            mx_lookup: false,
            implicit_tls: false,
            others: Vec::new(),
        });
        m.sasl.enabled = true;
        m.sasl.entry.state = EntryState::Found;
        m.queue = QueueFacts {
            read: true,
            ..QueueFacts::default()
        };
        if let Some(facts) = deferral {
            m.queue.messages = 1;
            m.queue.deferred = 1;
            m.queue.deferrals.push(Deferral {
                queue_id: "ABC".into(),
                recipient: "x@example.org".into(),
                age_s: Some(600),
                reason: reason.into(),
                facts,
            });
        }
        m
    }

    fn codes(d: &MtaDiagnosis) -> Vec<(Code, Severity)> {
        d.findings.iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn a_deferral_is_an_error_until_the_probe_shows_the_path_working() {
        let reason = "SASL authentication failed; server mail.example.com[203.0.113.10] said: 535 5.7.8 Error";
        let facts = crate::host::postfix::parse_delay_reason(reason);
        let alone = MtaReport {
            mta: relay_mta(Some(facts.clone()), reason),
            probe: None,
            invocation: String::new(),
            elapsed_ms: 1.0,
            interrupted: None,
        };
        let d = diagnose(&alone);
        assert_eq!(codes(&d), vec![(Code::QueueSaslFailed, Severity::Error)]);
        assert_eq!(d.verdict.layer(), Layer::Credentials);
        assert!(!d.ok);

        // The relay answers and accepts the map's password now: the old deferral waits for its retry.
        let mut mta = relay_mta(Some(facts), reason);
        mta.probed = Some(ProbedPath {
            kind: ProbedKind::Relay,
            target: "mail.example.com".into(),
            ports: vec![587],
            user: Some("app@example.com".into()),
        });
        let working = MtaReport {
            mta,
            probe: Some(report(
                "mail.example.com",
                vec![port(
                    587,
                    vec![healthy("203.0.113.10", PortMode::Starttls, true)],
                )],
            )),
            invocation: String::new(),
            elapsed_ms: 1.0,
            interrupted: None,
        };
        let d = diagnose(&working);
        assert_eq!(codes(&d), vec![(Code::QueueSaslFailed, Severity::Warning)]);
        assert!(d.ok);

        // Without the map's password the probe did not test the login: a passing probe proves nothing about it.
        let mut untested = working.clone();
        if let Some(p) = untested.mta.probed.as_mut() {
            p.user = None;
        }
        assert_eq!(
            codes(&diagnose(&untested)),
            vec![(Code::QueueSaslFailed, Severity::Error)]
        );
    }

    #[test]
    fn causes_come_from_the_typed_facts() {
        let m = relay_mta(None, "");
        let d = |facts: DeferralFacts| Deferral {
            queue_id: "Q".into(),
            recipient: "r@x".into(),
            age_s: None,
            reason: String::new(),
            facts,
        };
        let connect = |errno: i32, port: Option<u16>| DeferralFacts {
            step: DeferralStep::Connect,
            errno: Some(errno),
            port,
            ..DeferralFacts::default()
        };
        let reply = |code: u16, enhanced: &str, command: &str| DeferralFacts {
            step: DeferralStep::Reply,
            reply_code: Some(code),
            enhanced: Some(enhanced.into()).filter(|e: &String| !e.is_empty()),
            command: Some(command.into()),
            ..DeferralFacts::default()
        };
        let table = [
            (connect(libc::ETIMEDOUT, Some(25)), Code::QueuePort25Blocked),
            // The relay's own port comes from the route when the reason has none.
            (connect(libc::ETIMEDOUT, None), Code::QueueConnectTimeout),
            (
                connect(libc::ECONNREFUSED, Some(587)),
                Code::QueueConnectRefused,
            ),
            (connect(libc::ENETUNREACH, None), Code::QueueNoRoute),
            (connect(libc::EPERM, None), Code::QueueBlockedHere),
            (reply(554, "5.7.1", "RCPT TO"), Code::QueueRelayDenied),
            (reply(530, "5.7.0", "MAIL FROM"), Code::QueueAuthRequired),
            (reply(553, "5.7.1", "MAIL FROM"), Code::QueueSenderRefused),
            (reply(451, "4.7.1", "RCPT TO"), Code::QueueServerDeferred),
            (reply(250, "", "DATA"), Code::QueueDeferredOther),
        ];
        for (facts, want) in table {
            assert_eq!(cause(&m, &d(facts.clone())), want, "{facts:?}");
        }
    }
}
