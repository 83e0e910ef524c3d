//! The diagnosis: a pure function from a report's typed facts to the failing layer, the evidence and the fix.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::report::{
    Attempt, AuthOutcome, CertProblem, ConnectOutcome, DnsLookup, DnsOutcome, EhloFacts,
    FirewallRule, HandshakeError, HopOutcome, PortMode, PortReport, ReplyFacts, ReplyOutcome,
    Report, RuleAction, TlsOutcome,
};

pub mod code;

pub use code::{Code, Confidence, Layer, Severity};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub layer: Layer,
    pub severity: Severity,
    pub port: Option<u16>,
    pub address: Option<IpAddr>,
    pub message: String,
    pub evidence: Vec<String>,
    pub remedy: String,
    pub confidence: Confidence,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub layer: Layer,
    pub summary: String,
}

/// The verdict on one port of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortVerdict {
    pub host: String,
    pub port: u16,
    pub ok: bool,
    pub layer: Layer,
    /// Index into the port's attempts of the one whose stages tell the story.
    pub shown_attempt: Option<usize>,
    /// Per attempt (same order as the port's attempts): the layer its own failure points at, `none` if it worked.
    pub attempt_layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub ok: bool,
    pub verdict: Verdict,
    pub ports: Vec<PortVerdict>,
    pub findings: Vec<Finding>,
}

/// What one attempt says, before ports and families are weighed.
#[derive(Debug, Clone)]
struct AttemptCall {
    /// The error finding, if the attempt failed.
    error: Option<Finding>,
    /// Warnings and notes that do not fail the attempt.
    notes: Vec<Finding>,
    /// How far the chain got (stages passed), to pick the most telling failure.
    progress: u8,
}

/// Diagnoses a report. Pure: same report, same diagnosis.
pub fn diagnose(report: &Report) -> Diagnosis {
    let mut findings = Vec::new();
    let dns_failed = dns_findings(report, &mut findings);

    let mut ports = Vec::new();
    let mut family_trouble: Vec<FamilyTrouble> = Vec::new();
    for pr in &report.ports {
        let calls: Vec<AttemptCall> = pr
            .attempts
            .iter()
            .map(|a| call_attempt(report, pr, a))
            .collect();
        let ok_idx: Vec<usize> = (0..calls.len())
            .filter(|&i| calls[i].error.is_none())
            .collect();
        let bad_idx: Vec<usize> = (0..calls.len())
            .filter(|&i| calls[i].error.is_some())
            .collect();
        for &i in &ok_idx {
            findings.extend(calls[i].notes.iter().cloned());
        }
        let attempt_layers: Vec<Layer> = calls
            .iter()
            .map(|c| c.error.as_ref().map_or(Layer::None, |f| f.layer))
            .collect();
        if pr.attempts.is_empty() {
            // The target's own failed lookup is already a finding; an MX host that does not resolve needs its own.
            if !dns_failed || pr.host != report.target {
                let (message, remedy) = if pr.host != report.target {
                    (
                        format!(
                            "the MX host {} does not resolve, so mail for {} cannot reach it",
                            pr.host, report.target
                        ),
                        "Fix the domain's MX record to name a host with A/AAAA records."
                            .to_string(),
                    )
                } else {
                    (
                        format!(
                            "{} has no address of the family asked for, so port {} was not probed",
                            pr.host, pr.port
                        ),
                        "Drop -4/-6, or check the DNS records of the name.".to_string(),
                    )
                };
                findings.push(Finding {
                    code: Code::PortFailed,
                    layer: Layer::Dns,
                    severity: Severity::Error,
                    port: Some(pr.port),
                    address: None,
                    message,
                    evidence: if pr.host == report.target {
                        vec![format!(
                            "A: {}, AAAA: {}",
                            outcome_words(report.dns.a.outcome),
                            outcome_words(report.dns.aaaa.outcome)
                        )]
                    } else {
                        vec![format!("no A or AAAA answer for {}", pr.host)]
                    },
                    remedy,
                    confidence: Confidence::High,
                });
            }
            ports.push(PortVerdict {
                host: pr.host.clone(),
                port: pr.port,
                ok: false,
                layer: Layer::Dns,
                shown_attempt: None,
                attempt_layers,
            });
            continue;
        }
        if bad_idx.is_empty() {
            ports.push(PortVerdict {
                host: pr.host.clone(),
                port: pr.port,
                ok: true,
                layer: Layer::None,
                shown_attempt: Some(0),
                attempt_layers,
            });
            continue;
        }
        if ok_idx.is_empty() {
            // Every address fails: the attempt that got furthest tells the most.
            let best = pick_failure(pr, &calls, &bad_idx);
            let mut f = calls[best]
                .error
                .clone()
                .unwrap_or_else(|| generic_failure(pr));
            for &i in &bad_idx {
                if i != best {
                    if let Some(other) = &calls[i].error {
                        f.evidence
                            .push(format!("{}: {}", pr.attempts[i].address, other.message));
                    }
                }
            }
            let layer = f.layer;
            findings.push(f);
            findings.extend(calls[best].notes.iter().cloned());
            ports.push(PortVerdict {
                host: pr.host.clone(),
                port: pr.port,
                ok: false,
                layer,
                shown_attempt: Some(best),
                attempt_layers,
            });
            continue;
        }
        // Some addresses work and some fail: the port works for a client that falls back, so these are warnings.
        let failing: Vec<&Attempt> = bad_idx.iter().map(|&i| &pr.attempts[i]).collect();
        let working: Vec<&Attempt> = ok_idx.iter().map(|&i| &pr.attempts[i]).collect();
        let fails_v6 = failing.iter().all(|a| a.address.is_ipv6());
        let fails_v4 = failing.iter().all(|a| a.address.is_ipv4());
        let works_other = if fails_v6 {
            working.iter().any(|a| a.address.is_ipv4())
        } else {
            working.iter().any(|a| a.address.is_ipv6())
        };
        let family_wide = (fails_v6 || fails_v4)
            && works_other
            && !working.iter().any(|a| a.address.is_ipv6() == fails_v6);
        if family_wide {
            let best = pick_failure(pr, &calls, &bad_idx);
            family_trouble.push(FamilyTrouble {
                v6: fails_v6,
                port: pr.port,
                failure: calls[best].error.clone(),
            });
        } else {
            for &i in &bad_idx {
                if let Some(mut f) = calls[i].error.clone() {
                    f.severity = Severity::Warning;
                    f.message = format!("{} (other addresses of {} work)", f.message, pr.host);
                    findings.push(f);
                }
            }
        }
        ports.push(PortVerdict {
            host: pr.host.clone(),
            port: pr.port,
            ok: true,
            layer: Layer::None,
            shown_attempt: Some(ok_idx[0]),
            attempt_layers,
        });
    }
    findings.extend(family_findings(&family_trouble));

    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(a.layer.rank().cmp(&b.layer.rank()))
            .then(a.port.cmp(&b.port))
    });
    let ok = !findings.iter().any(|f| f.severity == Severity::Error);
    let verdict = match findings.iter().find(|f| f.severity != Severity::Info) {
        Some(f) => Verdict {
            layer: f.layer,
            summary: f.message.clone(),
        },
        None => Verdict {
            layer: Layer::None,
            summary: working_summary(report),
        },
    };
    Diagnosis {
        ok,
        verdict,
        ports,
        findings,
    }
}

struct FamilyTrouble {
    v6: bool,
    port: u16,
    failure: Option<Finding>,
}

/// One finding per broken family, naming the ports, instead of one per port.
fn family_findings(trouble: &[FamilyTrouble]) -> Vec<Finding> {
    let mut out = Vec::new();
    for v6 in [true, false] {
        let ports: Vec<&FamilyTrouble> = trouble.iter().filter(|t| t.v6 == v6).collect();
        if ports.is_empty() {
            continue;
        }
        let (broken, other) = if v6 {
            ("IPv6", "IPv4")
        } else {
            ("IPv4", "IPv6")
        };
        let list: Vec<String> = ports.iter().map(|t| t.port.to_string()).collect();
        let mut evidence: Vec<String> = ports
            .iter()
            .filter_map(|t| {
                t.failure.as_ref().map(|f| {
                    format!(
                        "port {} over {broken}: {} [{}]",
                        t.port,
                        f.message,
                        f.layer.name()
                    )
                })
            })
            .collect();
        evidence.dedup();
        let remedy = if v6 {
            "Clients that try IPv6 first (Node.js 17+, some PHP and Python setups) fail or stall here. Fix IPv6 \
             on this host (address, route, firewall: ip -6 route, ip6tables -S) or make the client use IPv4: \
             nodemailer `family: 4`, or set the host's address preference (gai.conf `precedence ::ffff:0:0/96 100`)."
        } else {
            "Clients that use IPv4 fail here; make them use IPv6, or fix IPv4 on this host (address, route, firewall)."
        };
        out.push(Finding {
            code: Code::PortFailed,
            layer: Layer::Ipv6,
            severity: Severity::Warning,
            port: None,
            address: None,
            message: format!(
                "{broken} is broken on port {} while {other} works",
                list.join(", ")
            ),
            evidence,
            remedy: remedy.into(),
            confidence: Confidence::High,
        });
    }
    out
}

fn pick_failure(pr: &PortReport, calls: &[AttemptCall], bad: &[usize]) -> usize {
    let mut best = bad[0];
    for &i in bad {
        let score = |j: usize| {
            let a = &pr.attempts[j];
            let family_only = matches!(
                a.connect.outcome,
                ConnectOutcome::NoLocalAddress | ConnectOutcome::NetworkUnreachable
            );
            (calls[j].progress, !family_only, a.address.is_ipv4())
        };
        if score(i) > score(best) {
            best = i;
        }
    }
    best
}

fn generic_failure(pr: &PortReport) -> Finding {
    Finding {
        code: Code::PortFailed,
        layer: Layer::Server,
        severity: Severity::Error,
        port: Some(pr.port),
        address: None,
        message: format!("port {} of {} failed", pr.port, pr.host),
        evidence: Vec::new(),
        remedy: "Run again with --verbose to see the conversation.".into(),
        confidence: Confidence::Low,
    }
}

fn working_summary(report: &Report) -> String {
    let ports: Vec<String> = report.ports.iter().map(|p| p.port.to_string()).collect();
    if ports.is_empty() {
        return "nothing was probed".into();
    }
    format!(
        "{}: every probed path works (port {})",
        report.target,
        ports.join(", ")
    )
}

fn outcome_words(o: DnsOutcome) -> &'static str {
    match o {
        DnsOutcome::NotAsked => "not asked",
        DnsOutcome::Answered => "answered",
        DnsOutcome::NxDomain => "NXDOMAIN (no such name)",
        DnsOutcome::NoRecords => "no records",
        DnsOutcome::ServFail => "SERVFAIL",
        DnsOutcome::Refused => "REFUSED",
        DnsOutcome::Timeout => "no answer (timeout)",
        DnsOutcome::NoResolver => "no resolver configured",
        DnsOutcome::Error => "error",
    }
}

/// Adds DNS findings; true when no address could be had at all.
fn dns_findings(report: &Report, findings: &mut Vec<Finding>) -> bool {
    let d = &report.dns;
    if !d.queried {
        return false;
    }
    let asked: Vec<&DnsLookup> = [&d.a, &d.aaaa]
        .into_iter()
        .filter(|l| l.outcome != DnsOutcome::NotAsked)
        .collect();
    let any_answer = asked.iter().any(|l| l.outcome == DnsOutcome::Answered);
    let probing_mx_only =
        !report.ports.is_empty() && report.ports.iter().all(|p| p.host != report.target);
    if !any_answer && probing_mx_only && asked.iter().all(|l| l.outcome == DnsOutcome::NoRecords) {
        findings.push(Finding {
            code: Code::PortFailed,
            layer: Layer::Dns,
            severity: Severity::Info,
            port: None,
            address: None,
            message: format!(
                "{} is a mail domain without an address of its own; its MX hosts were probed",
                report.target
            ),
            evidence: d
                .mx
                .iter()
                .map(|m| format!("MX {} {}", m.preference, m.host))
                .collect(),
            remedy: "Nothing to do: mail for the domain goes to its MX hosts.".into(),
            confidence: Confidence::High,
        });
        return false;
    }
    let evidence = vec![
        format!("resolver: {}", d.resolver),
        format!(
            "A: {} {}",
            outcome_words(d.a.outcome),
            d.a.records.join(" ")
        )
        .trim()
        .to_string(),
        format!(
            "AAAA: {} {}",
            outcome_words(d.aaaa.outcome),
            d.aaaa.records.join(" ")
        )
        .trim()
        .to_string(),
    ];
    if any_answer {
        for l in &asked {
            if matches!(
                l.outcome,
                DnsOutcome::ServFail | DnsOutcome::Timeout | DnsOutcome::Refused
            ) {
                findings.push(Finding {
                    code: Code::PortFailed,
                    layer: Layer::Dns,
                    severity: Severity::Warning,
                    port: None,
                    address: None,
                    message: format!("one of the address lookups for {} failed ({})", report.target, outcome_words(l.outcome)),
                    evidence: evidence.clone(),
                    remedy: "Some clients wait for both lookups; check the resolver (cat /etc/resolv.conf) and the zone's name servers.".into(),
                    confidence: Confidence::Medium,
                });
            }
        }
        return false;
    }
    // The most telling outcome: a definite answer beats a transport failure.
    let order = [
        DnsOutcome::NoResolver,
        DnsOutcome::NxDomain,
        DnsOutcome::ServFail,
        DnsOutcome::Refused,
        DnsOutcome::Timeout,
        DnsOutcome::NoRecords,
        DnsOutcome::Error,
    ];
    let worst = order
        .iter()
        .find(|o| asked.iter().any(|l| l.outcome == **o))
        .copied()
        .unwrap_or(DnsOutcome::Error);
    let t = &report.target;
    let mx_hint = d
        .mx
        .first()
        .map(|m| format!(" The domain's mail is handled by {} (MX); did you mean that host, or your provider's submission host?", m.host))
        .unwrap_or_default();
    let (message, remedy) = match worst {
        DnsOutcome::NoResolver => (
            "this host has no DNS resolver configured".to_string(),
            "Add a nameserver line to /etc/resolv.conf (or fix systemd-resolved), or pass --resolver IP.".to_string(),
        ),
        DnsOutcome::NxDomain => (
            format!("{t} does not exist in DNS (NXDOMAIN)"),
            format!("Check the spelling of the host name in your mail settings.{mx_hint}"),
        ),
        DnsOutcome::ServFail => (
            format!("the DNS lookup of {t} failed on the server side (SERVFAIL)"),
            "The resolver could not get an answer from the zone's name servers (broken DNSSEC or dead name servers). Try again, try --resolver with another server, or ask the domain's owner.".to_string(),
        ),
        DnsOutcome::Refused => (
            format!("the resolver refused to look up {t} (REFUSED)"),
            "The configured resolver does not serve this host; point /etc/resolv.conf at a working recursive resolver, or pass --resolver.".to_string(),
        ),
        DnsOutcome::Timeout | DnsOutcome::Error => resolver_timeout_words(d, t),
        DnsOutcome::NoRecords => (
            format!("{t} exists but has no address record (A/AAAA)"),
            format!("The name has no A or AAAA record, so nothing can connect to it.{mx_hint}"),
        ),
        _ => (
            format!("the DNS lookup of {t} failed"),
            "Check /etc/resolv.conf and try --resolver with another server.".to_string(),
        ),
    };
    findings.push(Finding {
        code: Code::PortFailed,
        layer: Layer::Dns,
        severity: Severity::Error,
        port: None,
        address: None,
        message,
        evidence,
        remedy,
        confidence: Confidence::High,
    });
    true
}

/// Why lookups timed out, from the direct check of each name server.
fn resolver_timeout_words(d: &crate::report::DnsReport, t: &str) -> (String, String) {
    use crate::report::ResolverReach;
    let find = |r: ResolverReach| d.resolver_checks.iter().find(|c| c.outcome == r);
    if let Some(c) = find(ResolverReach::BlockedHere) {
        return (
            format!("this host's firewall blocks DNS to its resolver {}", c.server),
            "Allow outgoing DNS (UDP and TCP port 53) in this host's firewall: iptables -S OUTPUT; nft list ruleset.".into(),
        );
    }
    if let Some(c) = find(ResolverReach::PortUnreachable) {
        return (
            format!("the resolver {} refuses DNS (ICMP port unreachable): no DNS service runs there", c.server),
            "Point /etc/resolv.conf at a working resolver (or start the local one: systemctl status systemd-resolved), or pass --resolver.".into(),
        );
    }
    if let Some(c) = find(ResolverReach::Answers) {
        return (
            format!("the resolver {} works, but gets no answer for {t}", c.server),
            format!("The name servers of {t}'s zone do not answer; check the domain's NS records and its DNS hosting, or try later."),
        );
    }
    if let Some(c) = find(ResolverReach::Unreachable) {
        return (
            format!("this host has no route to its resolver {}", c.server),
            "Check this host's routes and the nameserver lines of /etc/resolv.conf.".into(),
        );
    }
    (
        format!("the DNS resolver did not answer for {t}"),
        format!(
            "Check that the resolver in /etc/resolv.conf ({}) is up and that this host may send DNS (UDP and TCP port 53) to it.",
            d.resolver
        ),
    )
}

/// How surely a name in a banner or certificate means this very host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NameMatch {
    No,
    /// "localhost" and friends: misconfigured remote servers announce it too.
    Generic,
    /// This host's own name.
    Own,
}

fn names_this_host(report: &Report, name: &str) -> NameMatch {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let h = report.host.hostname.to_ascii_lowercase();
    let short = h.split('.').next().unwrap_or("");
    if matches!(
        n.as_str(),
        "localhost" | "localhost.localdomain" | "localhost6" | "localhost6.localdomain6"
    ) {
        return NameMatch::Generic;
    }
    if !n.is_empty() && (n == h || (n == short && short != "localhost")) {
        return NameMatch::Own;
    }
    NameMatch::No
}

/// The target itself is this host: then its own name in the banner is no sign of interception.
fn target_is_this_host(report: &Report, a: &Attempt) -> bool {
    a.address.is_loopback() || names_this_host(report, &report.target) != NameMatch::No
}

fn call_attempt(report: &Report, pr: &PortReport, a: &Attempt) -> AttemptCall {
    let mut notes = Vec::new();
    let port = pr.port;
    let here = std::net::SocketAddr::new(a.address, port).to_string();
    let fail = |layer: Layer,
                message: String,
                evidence: Vec<String>,
                remedy: String,
                confidence: Confidence| Finding {
        code: Code::PortFailed,
        layer,
        severity: Severity::Error,
        port: Some(port),
        address: Some(a.address),
        message,
        evidence,
        remedy,
        confidence,
    };

    // 1. connect
    if a.connect.outcome != ConnectOutcome::Connected {
        let f = connect_failure(report, pr, a, &here);
        return AttemptCall {
            error: Some(fail(f.0, f.1, f.2, f.3, f.4)),
            notes,
            progress: 0,
        };
    }

    // 2. a local MTA answering for a remote target
    if let Some(f) = local_mta_evidence(report, pr, a) {
        return AttemptCall {
            error: Some(fail(Layer::LocalMta, f.0, f.1, f.2, Confidence::High)),
            notes,
            progress: 1,
        };
    }

    // 3. wrong TLS mode
    if let Some(f) = wrong_mode(pr, a) {
        return AttemptCall {
            error: Some(fail(Layer::Tls, f.0, f.1, f.2, Confidence::High)),
            notes,
            progress: 2,
        };
    }

    // 4. TLS handshake failures before any greeting (implicit TLS)
    if pr.mode == PortMode::Implicit || a.speaks == Some(PortMode::Implicit) {
        if let Some(t) = &a.tls {
            if t.outcome != TlsOutcome::Established {
                let (m, r) = handshake_words(t.handshake_error, port);
                return AttemptCall {
                    error: Some(fail(
                        Layer::Tls,
                        m,
                        vec![format!("{here}: TLS handshake failed")],
                        r,
                        Confidence::High,
                    )),
                    notes,
                    progress: 1,
                };
            }
        }
    }

    // 5. greeting
    match &a.greeting {
        Some(g) if g.outcome == ReplyOutcome::Reply && g.code == Some(220) => {}
        Some(g) => {
            let (m, r) = greeting_words(g, &here);
            return AttemptCall {
                error: Some(fail(
                    Layer::Server,
                    m,
                    vec![format!("greeting: {}", reply_evidence(g))],
                    r,
                    Confidence::High,
                )),
                notes,
                progress: 1,
            };
        }
        None => {
            return AttemptCall {
                error: Some(fail(
                    Layer::Server,
                    format!("{here} sent no greeting"),
                    Vec::new(),
                    "Run again with --verbose to see what happened.".into(),
                    Confidence::Low,
                )),
                notes,
                progress: 1,
            };
        }
    }

    // 6. EHLO (plaintext)
    if pr.mode != PortMode::Implicit && a.speaks != Some(PortMode::Implicit) {
        match &a.ehlo {
            Some(e) if e.reply.code == Some(250) => {
                if e.helo_fallback {
                    notes.push(note(port, a, Layer::Server, Severity::Warning,
                        format!("{here} refused EHLO and accepted only HELO: no STARTTLS, no AUTH, no size limits are advertised"),
                        "The server is very old or misconfigured; use a modern submission server.".into()));
                }
            }
            other => {
                return AttemptCall {
                    error: Some(ehlo_failure(other.as_ref(), &here, "", &fail)),
                    notes,
                    progress: 2,
                };
            }
        }
    }

    // 7. TLS
    match &a.tls {
        None => {}
        Some(t) => match t.outcome {
            TlsOutcome::NotOffered => {
                let on_relay_port = port == 25;
                let f = Finding {
                    code: Code::PortFailed,
                    layer: Layer::Tls,
                    severity: if on_relay_port {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    port: Some(port),
                    address: Some(a.address),
                    message: format!(
                        "{here} does not offer STARTTLS: mail{} would travel unencrypted",
                        if on_relay_port { "" } else { " and passwords" }
                    ),
                    evidence: vec![format!(
                        "EHLO keywords: {}",
                        a.ehlo
                            .as_ref()
                            .map(|e| e.keywords.join(", "))
                            .unwrap_or_default()
                    )],
                    remedy: if on_relay_port {
                        "Receivers accept it, but enable STARTTLS on the server (Postfix: smtpd_tls_security_level = may, with a certificate).".into()
                    } else {
                        "Most mail clients refuse to send a password here. Enable STARTTLS on the server (Postfix: smtpd_tls_security_level = encrypt on submission) or use port 465 if it offers implicit TLS.".into()
                    },
                    confidence: Confidence::High,
                };
                if on_relay_port {
                    notes.push(f);
                } else {
                    return AttemptCall {
                        error: Some(f),
                        notes,
                        progress: 3,
                    };
                }
            }
            TlsOutcome::Refused => {
                let r = t.starttls_reply.as_ref();
                // 421 is the server closing the session (overload, shutdown), whatever command it answers.
                if let Some(r) =
                    r.filter(|r| r.code == Some(421) || r.outcome != ReplyOutcome::Reply)
                {
                    return AttemptCall {
                        error: Some(fail(
                            Layer::Server,
                            format!("{here} dropped the session at STARTTLS: {}", reply_short(r)),
                            vec![format!("STARTTLS reply: {}", reply_evidence(r))],
                            reply_remedy(r),
                            Confidence::High,
                        )),
                        notes,
                        progress: 3,
                    };
                }
                return AttemptCall {
                    error: Some(fail(Layer::Tls,
                        format!("{here} offered STARTTLS but refused it: {}", r.map(reply_short).unwrap_or_default()),
                        r.map(|r| vec![format!("STARTTLS reply: {}", reply_evidence(r))]).unwrap_or_default(),
                        "The server's TLS setup is broken (often an unreadable certificate or key file): check the server's mail log.".into(),
                        Confidence::High)),
                    notes,
                    progress: 3,
                };
            }
            TlsOutcome::HandshakeFailed => {
                let (m, r) = handshake_words(t.handshake_error, port);
                // Plaintext after the 220 is this server's fault; the words for a port-mode mix-up do not fit it.
                let (m, r) = if t.injected_bytes > 0 {
                    (format!("{here} sent {} extra bytes right after its STARTTLS 220 (STARTTLS response injection), then {m}", t.injected_bytes),
                        INJECTION_REMEDY.to_string())
                } else if t.handshake_error == Some(HandshakeError::PlaintextReply) {
                    (format!("{here} accepted STARTTLS with 220 but went on in plaintext SMTP instead of TLS"),
                        "The server or a middlebox in front of it (an SMTP-inspecting firewall such as Cisco 'inspect esmtp') breaks STARTTLS; check the server's TLS setup and any SMTP inspection on the path.".to_string())
                } else {
                    (format!("{here}: {m}"), r)
                };
                return AttemptCall {
                    error: Some(fail(
                        Layer::Tls,
                        m,
                        vec!["STARTTLS accepted with 220, then the handshake failed".into()],
                        r,
                        Confidence::High,
                    )),
                    notes,
                    progress: 3,
                };
            }
            TlsOutcome::Established => {
                if let Some(f) = cert_failure(report, pr, a, &here) {
                    // Keep going: AUTH facts are still worth showing, but the port fails at tls.
                    let mut call = AttemptCall {
                        error: Some(f),
                        notes,
                        progress: 4,
                    };
                    auth_notes(report, pr, a, &mut call.notes);
                    return call;
                }
                if t.injected_bytes > 0 {
                    return AttemptCall {
                        error: Some(fail(Layer::Tls,
                            format!("{here} sent {} extra bytes right after its STARTTLS 220 (STARTTLS response injection)", t.injected_bytes),
                            vec!["bytes were waiting before the TLS handshake began".into()],
                            INJECTION_REMEDY.into(),
                            Confidence::High)),
                        notes,
                        progress: 4,
                    };
                }
                if let Some(leaf) = t.chain.first() {
                    if leaf.days_left < 14 {
                        notes.push(note(port, a, Layer::Tls, Severity::Warning,
                            format!("the certificate of {here} expires in {} days ({})", leaf.days_left, leaf.not_after),
                            "Renew the certificate now (certbot renew, then reload the mail server).".into()));
                    }
                }
            }
        },
    }

    // 8. EHLO after TLS
    if a.tls
        .as_ref()
        .is_some_and(|t| t.outcome == TlsOutcome::Established)
    {
        match &a.ehlo_tls {
            Some(e) if e.reply.code == Some(250) => {}
            other => {
                return AttemptCall {
                    error: Some(ehlo_failure(other.as_ref(), &here, " after TLS", &fail)),
                    notes,
                    progress: 5,
                };
            }
        }
    }

    // 9. AUTH
    let mut call = AttemptCall {
        error: None,
        notes,
        progress: 6,
    };
    if let Some(f) = auth_failure(pr, a, &here) {
        call.error = Some(f);
    }
    auth_notes(report, pr, a, &mut call.notes);
    if call.error.is_none() {
        call.progress = 7;
    }
    call
}

/// An EHLO that was refused (with its reply) or never answered (None); `when` says which EHLO.
fn ehlo_failure(
    e: Option<&EhloFacts>,
    here: &str,
    when: &str,
    fail: &dyn Fn(Layer, String, Vec<String>, String, Confidence) -> Finding,
) -> Finding {
    match e {
        Some(e) => fail(
            Layer::Server,
            format!("{here} refused EHLO{when}: {}", reply_short(&e.reply)),
            vec![format!("EHLO reply: {}", reply_evidence(&e.reply))],
            reply_remedy(&e.reply),
            Confidence::High,
        ),
        None => fail(
            Layer::Server,
            format!("{here} stopped answering before EHLO{when} was answered"),
            Vec::new(),
            "Run again with --verbose to see the conversation.".into(),
            Confidence::Medium,
        ),
    }
}

fn note(
    port: u16,
    a: &Attempt,
    layer: Layer,
    severity: Severity,
    message: String,
    remedy: String,
) -> Finding {
    Finding {
        code: Code::PortFailed,
        layer,
        severity,
        port: Some(port),
        address: Some(a.address),
        message,
        evidence: Vec::new(),
        remedy,
        confidence: Confidence::High,
    }
}

type Call = (Layer, String, Vec<String>, String, Confidence);

/// This host's rules that stop outgoing TCP to this port and family.
fn blocking_rules<'a>(
    report: &'a Report,
    a: &Attempt,
    port: u16,
    actions: &[RuleAction],
) -> Vec<&'a FirewallRule> {
    report
        .host
        .firewall
        .iter()
        .flat_map(|f| f.rules.iter())
        .filter(|r| {
            r.v6 == a.address.is_ipv6() && actions.contains(&r.action) && r.matches_port(port)
        })
        .collect()
}

fn rules_were_read(report: &Report) -> bool {
    report.host.firewall.as_ref().is_some_and(|f| f.read)
}

fn connect_failure(report: &Report, pr: &PortReport, a: &Attempt, here: &str) -> Call {
    let c = &a.connect;
    let port = pr.port;
    let mut ev = vec![format!(
        "connect: {:?} after {:.1} ms{}",
        c.outcome,
        c.elapsed_ms,
        c.errno.map(|e| format!(", errno {e}")).unwrap_or_default()
    )];
    if let Some(i) = &c.icmp {
        ev.push(format!(
            "ICMP type {} code {} from {}{}",
            i.icmp_type,
            i.icmp_code,
            i.offender
                .map(|o| o.to_string())
                .unwrap_or_else(|| "?".into()),
            if i.offender_is_local {
                " (this host)"
            } else {
                ""
            }
        ));
    }
    if let Some(p) = &a.path {
        for h in &p.hops {
            ev.push(format!(
                "SYN with TTL {}: {:?}{}",
                h.ttl,
                h.outcome,
                h.router.map(|r| format!(" from {r}")).unwrap_or_default()
            ));
        }
    }
    let other_port_works = report.ports.iter().any(|p| {
        p.port != port
            && p.attempts
                .iter()
                .any(|o| o.address == a.address && o.connect.outcome == ConnectOutcome::Connected)
    });
    if other_port_works {
        ev.push(format!(
            "other ports of {} connect, so the server is up",
            a.address
        ));
    }
    let drop_rules = blocking_rules(report, a, port, &[RuleAction::Drop, RuleAction::PolicyDrop]);
    let reject_rules = blocking_rules(report, a, port, &[RuleAction::Reject]);
    for r in drop_rules.iter().chain(reject_rules.iter()) {
        ev.push(format!(
            "rule on this host ({} {} {}): {}",
            r.source, r.table, r.chain, r.text
        ));
    }
    let local_icmp = c.icmp.as_ref().is_some_and(|i| i.offender_is_local);
    let router_icmp = c
        .icmp
        .as_ref()
        .and_then(|i| i.offender)
        .filter(|o| *o != a.address && !c.icmp.as_ref().is_some_and(|i| i.offender_is_local));
    let fw_remedy = format!(
        "This host's own firewall blocks outgoing port {port}. Look for the rule: iptables -S OUTPUT; ip6tables -S OUTPUT; nft list ruleset \
         (and CSF/UFW: csf -l, ufw status). Allow it, e.g. iptables -I OUTPUT -p tcp --dport {port} -j ACCEPT, or ask the administrator."
    );
    let block_remedy = if port == 25 {
        "Something between this host and the server blocks port 25 — most cloud and hosting providers (AWS, GCP, Azure, DigitalOcean, \
         OVH, Hetzner…) block outgoing port 25 by default. Ask the provider to lift the block, or send through a relay/submission \
         service on port 587 or 465 instead."
            .to_string()
    } else {
        format!(
            "Something between this host and the server drops port {port}: the provider's network policy, a cloud security group \
             or network ACL, or the server's own firewall. Check the provider's firewall settings; try another port (587/465/2525)."
        )
    };
    match c.outcome {
        ConnectOutcome::Refused => {
            if local_icmp || !reject_rules.is_empty() {
                return (
                    Layer::Firewall,
                    format!("this host's firewall rejects outgoing connections to {here}"),
                    ev,
                    fw_remedy,
                    Confidence::High,
                );
            }
            if let Some(r) = router_icmp {
                return (
                    Layer::IspBlock,
                    format!("a router on the way ({r}) rejects connections to {here}"),
                    ev,
                    block_remedy,
                    Confidence::High,
                );
            }
            if c.icmp.as_ref().and_then(|i| i.offender) == Some(a.address) {
                return (
                    Layer::Server,
                    format!("{here} rejects the connection with an ICMP error: the server's own firewall blocks port {port}"),
                    ev,
                    format!("The server (or a firewall on it) refuses port {port}: ask its operator to allow this host, or use another port."),
                    Confidence::High,
                );
            }
            let ttl1 = a.path.as_ref().and_then(|p| {
                let first = p.hops.iter().find(|h| h.ttl == 1)?;
                Some((first.outcome, p.on_link))
            });
            if let Some((HopOutcome::Reached, false)) = ttl1 {
                // The server is at least one router away, yet a SYN that could not pass the first router was answered.
                let mut ev = ev;
                ev.push(
                    "a SYN limited to one hop was refused too, so the refusal comes from this host"
                        .into(),
                );
                return (
                    Layer::Firewall,
                    format!("this host's firewall resets outgoing connections to {here}"),
                    ev,
                    fw_remedy,
                    Confidence::Medium,
                );
            }
            let mut ev = ev;
            if let Some((HopOutcome::TimeExceeded, _)) = ttl1 {
                ev.push("a SYN limited to one hop left this host (the first router answered), so the refusal comes from further away".into());
            }
            (
                Layer::Server,
                format!("{here} refused the connection: nothing is listening on port {port}"),
                ev,
                format!("The server is not accepting mail on port {port}: the mail service is stopped, or listens on other ports or addresses. \
                         On the server: ss -ltnp | grep ':{port}', and check the mail server's log. If you run the client, check the port number."),
                Confidence::Medium,
            )
        }
        ConnectOutcome::TimedOut => {
            let hops = a.path.as_ref().map(|p| p.hops.as_slice()).unwrap_or(&[]);
            let first = hops.iter().find(|h| h.ttl == 1);
            let left_host = hops
                .iter()
                .any(|h| h.outcome == HopOutcome::TimeExceeded || h.outcome == HopOutcome::Reached);
            if !drop_rules.is_empty() && !left_host {
                return (
                    Layer::Firewall,
                    format!("this host's firewall drops outgoing connections to {here}"),
                    ev,
                    fw_remedy,
                    Confidence::High,
                );
            }
            match first.map(|h| h.outcome) {
                Some(HopOutcome::Silent) if !left_host => (
                    Layer::Firewall,
                    format!("connections to {here} time out, and a SYN limited to one hop is not answered either: it never leaves this host"),
                    ev,
                    fw_remedy,
                    // With the rules read and none matching, a first router that ignores TTL expiry is as likely.
                    if rules_were_read(report) {
                        Confidence::Low
                    } else if other_port_works {
                        Confidence::High
                    } else {
                        Confidence::Medium
                    },
                ),
                _ if left_host => {
                    let last = hops.iter().filter(|h| h.outcome == HopOutcome::TimeExceeded).map(|h| h.ttl).max().unwrap_or(0);
                    let mut ev = ev;
                    ev.push(format!("the SYN left this host and passed {last} router(s); then it was dropped"));
                    (
                        Layer::IspBlock,
                        format!("connections to {here} time out beyond this host: the SYN is dropped on the way"),
                        ev,
                        block_remedy,
                        if other_port_works { Confidence::High } else { Confidence::Medium },
                    )
                }
                _ => (
                    Layer::Server,
                    format!("connections to {here} time out"),
                    ev,
                    "The server is down or drops connections; check it is running and reachable.".into(),
                    Confidence::Low,
                ),
            }
        }
        ConnectOutcome::HostUnreachable | ConnectOutcome::PermissionDenied => {
            let fast = c.elapsed_ms < 100.0;
            if local_icmp && fast
                || (c.outcome == ConnectOutcome::PermissionDenied && c.icmp.is_none())
            {
                return (
                    Layer::Firewall,
                    format!("this host's firewall rejects outgoing connections to {here}"),
                    ev,
                    fw_remedy,
                    Confidence::High,
                );
            }
            if let Some(r) = router_icmp {
                let prohibited = c.icmp.as_ref().is_some_and(|i| {
                    matches!((i.icmp_type, i.icmp_code), (3, 9 | 10 | 13) | (1, 1))
                });
                if prohibited || other_port_works {
                    return (
                        Layer::IspBlock,
                        format!("a router on the way ({r}) rejects connections to {here}"),
                        ev,
                        block_remedy,
                        Confidence::High,
                    );
                }
                return (Layer::Network, format!("{} is unreachable: router {r} has no way to it", a.address), ev,
                    "The server's network is down or unreachable from here; check the address and try again later (mtr / traceroute to it).".into(), Confidence::Medium);
            }
            (Layer::Network, format!("{} is unreachable from this host", a.address), ev,
                "Check this host's routes (ip route get ADDRESS) and that the server's address is right.".into(), Confidence::Medium)
        }
        ConnectOutcome::NetworkUnreachable | ConnectOutcome::NoLocalAddress => {
            if local_icmp {
                return (
                    Layer::Firewall,
                    format!("this host's firewall rejects outgoing connections to {here}"),
                    ev,
                    fw_remedy,
                    Confidence::High,
                );
            }
            let fam = if a.address.is_ipv6() { "IPv6" } else { "IPv4" };
            (Layer::Network, format!("this host has no route to {} ({fam} network unreachable)", a.address), ev,
                format!("This host has no {fam} route for the server (no default route, or no {fam} address). Check ip route / ip -6 route; \
                         if {fam} is not meant to work here, make the client use the other family (e.g. nodemailer family: 4)."),
                Confidence::High)
        }
        ConnectOutcome::Other | ConnectOutcome::NotTried | ConnectOutcome::Connected => (
            Layer::Network,
            format!("connecting to {here} failed"),
            ev,
            "Run again with --verbose; check routes and addresses on this host.".into(),
            Confidence::Low,
        ),
    }
}

/// A banner, EHLO name or certificate that names this host while the target is elsewhere.
fn local_mta_evidence(
    report: &Report,
    pr: &PortReport,
    a: &Attempt,
) -> Option<(String, Vec<String>, String)> {
    if target_is_this_host(report, a) {
        return None;
    }
    let mut ev = Vec::new();
    // The strongest sign seen: a name (own or generic), or the kernel's own NAT facts (counted as Own).
    let mut strength = NameMatch::No;
    let mut saw = |m: NameMatch, ev: &mut Vec<String>, text: String| {
        if m != NameMatch::No {
            strength = strength.max(m);
            ev.push(text);
        }
    };
    if let Some(n) = a.greeting.as_ref().and_then(|g| g.announced_name()) {
        saw(
            names_this_host(report, n),
            &mut ev,
            format!("the greeting names {n}, which is this host"),
        );
    }
    if let Some((n, m)) = [&a.ehlo, &a.ehlo_tls]
        .into_iter()
        .flatten()
        .filter_map(|e| e.reply.announced_name())
        .map(|n| (n, names_this_host(report, n)))
        .find(|(_, m)| *m != NameMatch::No)
    {
        saw(
            m,
            &mut ev,
            format!("the EHLO reply names {n}, which is this host"),
        );
    }
    if let Some(t) = &a.tls {
        if let Some(leaf) = t.chain.first() {
            let best = leaf
                .sans
                .iter()
                .map(|s| names_this_host(report, s))
                .max()
                .unwrap_or(NameMatch::No);
            if !t.name_matches {
                saw(
                    best,
                    &mut ev,
                    format!(
                        "the certificate names this host ({}) instead of {}",
                        leaf.sans.join(", "),
                        pr.host
                    ),
                );
            }
        }
    }
    for r in &report.host.nat_redirects {
        // Only this attempt's own connection: the table keeps older ones for minutes.
        if Some(r.original_source_port) == a.connect.local_port
            && r.original_destination == a.address
            && r.original_port == pr.port
            && r.answered_by != a.address
        {
            saw(
                NameMatch::Own,
                &mut ev,
                format!(
                    "the kernel's NAT table shows this connection to {}:{} answered by {}:{}",
                    r.original_destination, r.original_port, r.answered_by, r.answered_port
                ),
            );
        }
    }
    for r in blocking_rules(
        report,
        a,
        pr.port,
        &[RuleAction::Redirect, RuleAction::Dnat],
    ) {
        saw(
            NameMatch::Own,
            &mut ev,
            format!(
                "rule on this host ({} {} {}): {}",
                r.source, r.table, r.chain, r.text
            ),
        );
    }
    let listener_here = report.host.mail_listeners.iter().any(|l| l.port == pr.port);
    let local_fast = a.connect.elapsed_ms < 0.5;
    // "localhost" alone is what some badly set-up remote servers say; it counts only with a local sign beside it.
    if strength == NameMatch::Generic && !(listener_here && local_fast) {
        return None;
    }
    if ev.is_empty() {
        return None;
    }
    if report
        .host
        .mail_listeners
        .iter()
        .any(|l| l.port == pr.port || l.address.is_loopback())
    {
        let l: Vec<String> = report
            .host
            .mail_listeners
            .iter()
            .map(|l| format!("{}:{}", l.address, l.port))
            .collect();
        ev.push(format!(
            "a mail server listens on this host: {}",
            l.join(", ")
        ));
    }
    if a.connect.elapsed_ms < 0.5 {
        ev.push(format!(
            "the connect took {:.2} ms, as fast as a local socket",
            a.connect.elapsed_ms
        ));
    }
    Some((
        format!("a mail server on this host answers instead of {} on port {}: outgoing SMTP is intercepted", pr.host, pr.port),
        ev,
        format!(
            "A local MTA or proxy (cPanel/Exim with CSF's SMTP_BLOCK, a Postfix relay, an iptables REDIRECT/DNAT) captures outgoing port {}. \
             Find the rule: iptables -t nat -S OUTPUT; nft list ruleset; in WHM turn off 'SMTP Restrictions' or CSF SMTP_BLOCK, or allow \
             this user (SMTP_ALLOWUSER); or send through the local MTA on purpose (host localhost).",
            pr.port
        ),
    ))
}

fn wrong_mode(pr: &PortReport, a: &Attempt) -> Option<(String, Vec<String>, String)> {
    let here = std::net::SocketAddr::new(a.address, pr.port).to_string();
    match (pr.mode, a.speaks) {
        (PortMode::Starttls, Some(PortMode::Implicit)) => Some((
            format!("{here} speaks TLS from the first byte (implicit TLS), not plaintext SMTP with STARTTLS"),
            vec!["no greeting arrived in plaintext; a TLS ClientHello was answered".into()],
            format!("Configure the client for implicit TLS on port {}: nodemailer secure: true, PHPMailer SMTPSecure = 'ssl', \
                     Django EMAIL_USE_SSL = True, Laravel MAIL_ENCRYPTION=ssl.", pr.port),
        )),
        (PortMode::Implicit, Some(PortMode::Starttls)) => Some((
            format!("{here} answers in plaintext SMTP, not TLS: clients set for implicit TLS fail with 'wrong version number'"),
            vec![format!("the server greeted with {}", a.greeting.as_ref().map(reply_short).unwrap_or_default())],
            format!("Configure the client for STARTTLS on port {}: nodemailer secure: false (STARTTLS is used when offered; add requireTLS: true), \
                     PHPMailer SMTPSecure = 'tls', Django EMAIL_USE_TLS = True, Laravel MAIL_ENCRYPTION=tls. Or use a port that really is implicit TLS.", pr.port),
        )),
        _ => None,
    }
}

const INJECTION_REMEDY: &str = "The server or a middlebox in front of it is broken or tampering with the session; report it to the server's operator (see CVE-2011-0411).";

fn handshake_words(e: Option<HandshakeError>, port: u16) -> (String, String) {
    match e {
        Some(HandshakeError::Alert) => (
            "the server ended the TLS handshake with an alert".into(),
            "The server rejected our TLS parameters: it may allow only old protocols (TLS 1.0/1.1) or demand a client certificate. Update the server's TLS settings.".into(),
        ),
        Some(HandshakeError::NoCommonParameters) => (
            "no TLS version or cipher in common with the server".into(),
            "The server offers only outdated TLS (1.0/1.1 or weak ciphers) that current clients refuse; update its TLS configuration.".into(),
        ),
        Some(HandshakeError::PlaintextReply) => (
            "the server answered the TLS handshake in plaintext".into(),
            format!("Port {port} is not an implicit-TLS port; use STARTTLS (secure: false) on it."),
        ),
        Some(HandshakeError::Garbage) => (
            "the server answered the TLS handshake with bytes that are neither TLS nor SMTP".into(),
            "Something that is not a mail server answers on this port; check the port and the server.".into(),
        ),
        Some(HandshakeError::Closed) => (
            "the server closed the connection during the TLS handshake".into(),
            "The server's TLS setup is broken (certificate or key unreadable, or no protocol in common); check the server's log.".into(),
        ),
        Some(HandshakeError::Timeout) => (
            "the TLS handshake did not finish in time".into(),
            "The server or the path stalls during TLS; check the server's load and any middlebox that inspects TLS.".into(),
        ),
        Some(HandshakeError::Other) | None => (
            "the TLS handshake failed".into(),
            "Run again with --verbose; check the server's TLS configuration.".into(),
        ),
    }
}

fn cert_failure(report: &Report, pr: &PortReport, a: &Attempt, here: &str) -> Option<Finding> {
    let t = a.tls.as_ref()?;
    if t.chain_verified && t.name_matches {
        return None;
    }
    let leaf = t.chain.first();
    let mut ev = Vec::new();
    if let Some(l) = leaf {
        ev.push(format!("subject: {}", l.subject));
        ev.push(format!(
            "names: {}",
            if l.sans.is_empty() {
                "(none)".into()
            } else {
                l.sans.join(", ")
            }
        ));
        ev.push(format!("issuer: {}", l.issuer));
        ev.push(format!(
            "valid until {} ({} days)",
            l.not_after, l.days_left
        ));
    }
    let name = &pr.host;
    let (message, remedy) = match t.chain_error {
        Some(CertProblem::SelfSigned) => (
            format!("{here} presents a self-signed certificate, which clients do not trust"),
            "Install a certificate from a public CA on the server (e.g. Let's Encrypt). For a private server, give the client the \
             certificate to trust (nodemailer tls.ca, or --ca-file here) rather than turning verification off.".to_string(),
        ),
        Some(CertProblem::UnknownIssuer) => (
            format!("{here} presents a certificate from an issuer this host does not trust"),
            "If it comes from a public CA, the server is probably not sending the intermediate certificate: configure the full chain \
             (fullchain.pem). For a private CA, pass --ca-file (and give that CA to the client).".to_string(),
        ),
        Some(CertProblem::Expired) => (
            format!("the certificate of {here} has expired{}", leaf.map(|l| format!(" ({})", l.not_after)).unwrap_or_default()),
            "Renew the certificate on the server (certbot renew) and reload the mail server. If it looks valid, check this host's clock.".to_string(),
        ),
        Some(CertProblem::NotYetValid) => (
            format!("the certificate of {here} is not valid yet"),
            "Check the clock on this host (timedatectl) and on the server.".to_string(),
        ),
        Some(p) => (
            format!("the certificate of {here} is rejected ({})", crate::probes::smtp::cert_problem_words(p)),
            "Replace the server's certificate with a valid one from a trusted CA.".to_string(),
        ),
        None => (
            format!("the certificate of {here} does not name {name}"),
            format!(
                "Connect with a name the certificate carries{}, or get a certificate for {name} on the server.",
                leaf.filter(|l| !l.sans.is_empty()).map(|l| format!(" ({})", l.sans.join(", "))).unwrap_or_default()
            ),
        ),
    };
    let mut message = message;
    if t.chain_error.is_some() && !t.name_matches {
        message.push_str(&format!(", and it does not name {name} either"));
    }
    if !report.tls_verification {
        ev.push(
            "certificate verification was overridden with --danger-accept-invalid-certs".into(),
        );
    }
    Some(Finding {
        code: Code::PortFailed,
        layer: Layer::Tls,
        severity: Severity::Error,
        port: Some(pr.port),
        address: Some(a.address),
        message,
        evidence: ev,
        remedy,
        confidence: Confidence::High,
    })
}

fn auth_failure(pr: &PortReport, a: &Attempt, here: &str) -> Option<Finding> {
    let auth = a.auth.as_ref()?;
    let port = pr.port;
    let mk = |layer: Layer, message: String, evidence: Vec<String>, remedy: String| Finding {
        code: Code::PortFailed,
        layer,
        severity: Severity::Error,
        port: Some(port),
        address: Some(a.address),
        message,
        evidence,
        remedy,
        confidence: Confidence::High,
    };
    match auth.outcome {
        AuthOutcome::Accepted | AuthOutcome::NotReached | AuthOutcome::RefusedUnverified => None,
        AuthOutcome::RefusedCleartext => Some(mk(
            Layer::Tls,
            format!("{here} would take the password unencrypted, so it was not sent"),
            vec!["no TLS on this connection".into()],
            "Use a port with TLS (587 with STARTTLS, or 465). --danger-allow-cleartext-auth tests it anyway on a network you control.".into(),
        )),
        AuthOutcome::NotOffered => {
            let msg = if auth.offered.is_empty() {
                format!("{here} offers no authentication (no AUTH in EHLO)")
            } else {
                format!("{here} offers only {} for authentication; smtp-doctor tests PLAIN and LOGIN", auth.offered.join(" "))
            };
            let mut f = mk(Layer::Server, msg, vec![format!("AUTH offered: {}", if auth.offered.is_empty() { "none".into() } else { auth.offered.join(" ") })],
                if port == 25 {
                    "Port 25 is for server-to-server mail and usually takes no login; submit with a password on port 587 (STARTTLS) or 465 (TLS).".into()
                } else {
                    "Enable SMTP AUTH on this port (Postfix: smtpd_sasl_auth_enable = yes), or use the provider's submission host and port.".into()
                });
            if port == 25 {
                f.severity = Severity::Warning;
            }
            Some(f)
        }
        AuthOutcome::Rejected => {
            let r = auth.reply.as_ref();
            let code = r.and_then(|r| r.code);
            let enhanced = r.and_then(|r| r.enhanced.clone()).unwrap_or_default();
            let ev = r.map(|r| vec![format!("AUTH {}: {}", auth.mechanism.as_deref().unwrap_or(""), reply_evidence(r))]).unwrap_or_default();
            match code {
                Some(530) if enhanced.starts_with("5.7.0") || enhanced.is_empty() => Some(mk(Layer::Tls, format!("{here} requires TLS before AUTH"), ev,
                    "Use STARTTLS (secure: false + requireTLS on 587) or implicit TLS on 465.".into())),
                Some(454) | Some(421) | Some(451) => Some(mk(Layer::Server, format!("{here} could not check the password right now ({})", r.map(reply_short).unwrap_or_default()), ev,
                    "A temporary failure on the server (its authentication backend is down or rate-limiting). Try again later; if it lasts, check the server's SASL/auth service.".into())),
                Some(504) => Some(mk(Layer::Server, format!("{here} does not accept the AUTH mechanism it advertised"), ev,
                    "The server's AUTH configuration is inconsistent; check its SASL mechanisms.".into())),
                None => Some(mk(Layer::Server, format!("{here} broke off during AUTH"), ev, "Run with --verbose to see the exchange; check the server's log.".into())),
                Some(_) => {
                    let (m, remedy) = credential_words(&enhanced, r, &pr.host);
                    Some(mk(Layer::Credentials, format!("{here}: {m}"), ev, remedy))
                }
            }
        }
    }
}

/// The provider-specific meaning of a rejected login, keyed on the enhanced status code first.
fn credential_words(enhanced: &str, r: Option<&ReplyFacts>, host: &str) -> (String, String) {
    let text = r
        .map(|r| r.lines.join(" "))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let h = host.to_ascii_lowercase();
    let google =
        h.ends_with("gmail.com") || h.ends_with("google.com") || h.ends_with("googlemail.com");
    let microsoft = h.ends_with("office365.com")
        || h.ends_with("outlook.com")
        || h.ends_with("hotmail.com")
        || h.ends_with("live.com");
    match enhanced {
        "5.7.9" => (
            "the provider demands an app password for this account".into(),
            "Google: turn on 2-Step Verification and create an App Password (myaccount.google.com/apppasswords); use it instead of the account password.".into(),
        ),
        "5.7.8" if google => (
            "Gmail rejected the user name or password".into(),
            "Gmail no longer takes the account password over SMTP: create an App Password (needs 2-Step Verification) at myaccount.google.com/apppasswords, or use OAuth2 (XOAUTH2).".into(),
        ),
        "5.7.139" | "5.7.3" if microsoft || text.contains("smtpclientauthentication") => (
            "Microsoft 365 refused SMTP AUTH for this mailbox or tenant".into(),
            "Authenticated SMTP is disabled: in the Microsoft 365 admin center enable 'Authenticated SMTP' for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false), \
             check Security Defaults / MFA (which block basic auth), or move to OAuth2.".into(),
        ),
        _ if text.contains("incorrect authentication data") => (
            "the server (Exim) rejected the user name or password".into(),
            "Check the user name (usually the full address) and password in the mail account on the server (cPanel → Email Accounts); after repeated failures cPHulk or fail2ban may be blocking this IP.".into(),
        ),
        _ => (
            "the server rejected the user name or password".into(),
            "Check the user name (often the full email address) and the password; reset the password if unsure. Some providers need an app-specific password or have SMTP login disabled per account.".into(),
        ),
    }
}

fn auth_notes(report: &Report, pr: &PortReport, a: &Attempt, notes: &mut Vec<Finding>) {
    let Some(auth) = &a.auth else { return };
    if auth.outcome == AuthOutcome::RefusedUnverified {
        notes.push(note(
            pr.port,
            a,
            Layer::Tls,
            Severity::Info,
            format!(
                "the password was not sent to {}:{} because its certificate failed verification",
                a.address, pr.port
            ),
            "Fix the certificate first; --danger-accept-invalid-certs tests the password anyway."
                .into(),
        ));
    }
    if !report.tls_verification && auth.outcome == AuthOutcome::Accepted {
        notes.push(note(
            pr.port,
            a,
            Layer::Tls,
            Severity::Info,
            "results were gathered with certificate verification overridden".into(),
            "Drop --danger-accept-invalid-certs once the certificate is fixed.".into(),
        ));
    }
}

fn greeting_words(g: &ReplyFacts, here: &str) -> (String, String) {
    match g.outcome {
        ReplyOutcome::Reply => {
            let m = format!("{here} refused the session in its greeting: {}", reply_short(g));
            (m, reply_remedy(g))
        }
        // The greeting began but did not end in time (drip-fed, tarpit).
        ReplyOutcome::Incomplete => (
            format!("{here} sends its greeting too slowly: {}", reply_short(g)),
            "The server trickles its greeting (a tarpit, or an overloaded server or link), so clients time out. Check the \
             server's load and any anti-spam tarpit or greeting delay (Postfix postscreen, Exim, OpenBSD spamd) that \
             treats this client as suspect."
                .into(),
        ),
        ReplyOutcome::Silent => (
            format!("{here} accepts connections but never sends a greeting"),
            "The server is overloaded or tarpitting, or a proxy/firewall holds the connection open. Check the server's load and \
             connection limits; try again later."
                .into(),
        ),
        ReplyOutcome::Closed => (
            format!("{here} closed the connection before greeting"),
            "The server drops this client at once: a connection limit, an access rule (tcpwrappers, Exim host_reject_connection), or \
             a blocklist. Check the server's log for this host's address."
                .into(),
        ),
        ReplyOutcome::NotSmtp => (
            format!("{here} answers, but not in SMTP ({})", g.lines.first().map(String::as_str).unwrap_or("")),
            "Another service listens on this port; check the port number and the server.".into(),
        ),
        ReplyOutcome::TlsRecord => (
            format!("{here} sent TLS data before any greeting"),
            "The port's service is not an SMTP server; check the port number.".into(),
        ),
        ReplyOutcome::TooLarge => (
            format!("{here} sent a greeting beyond every sane size limit"),
            "The service on this port is broken or hostile; check the port and the server.".into(),
        ),
        ReplyOutcome::Error => (
            format!("{here} reset the connection before greeting"),
            "Check the server's log and its connection limits.".into(),
        ),
    }
}

fn reply_short(r: &ReplyFacts) -> String {
    crate::probes::smtp::describe_reply(r)
}

fn reply_evidence(r: &ReplyFacts) -> String {
    let mut s = crate::probes::smtp::describe_reply(r);
    if r.lines.len() > 1 {
        s.push_str(&format!(" (+{} lines)", r.lines.len() - 1));
    }
    s
}

fn reply_remedy(r: &ReplyFacts) -> String {
    match r.code {
        Some(421) => "421 means the server is busy, rate-limiting this client, or shutting down; try again later and check the server's connection limits.".into(),
        Some(554) | Some(550) | Some(521) => "The server refuses this client outright: this host's IP may be on a blocklist (check it on Spamhaus/MXToolbox), lack reverse DNS (PTR), or be outside the server's allowed networks.".into(),
        Some(c) if (400..500).contains(&c) => "A temporary refusal; try again later and check the server's log.".into(),
        _ => "Check the server's log for this host's address.".into(),
    }
}

#[cfg(test)]
mod tests;
