//! Table tests of the diagnosis over hand-built reports: each row is a situation, its facts, and the layers it must yield.

use std::net::IpAddr;

use super::*;
use crate::report::settings as rs;
use crate::report::*;

const V4: &str = "203.0.113.10";
const V6: &str = "2001:db8:2::10";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn reply(code: u16, lines: &[&str]) -> ReplyFacts {
    ReplyFacts {
        outcome: ReplyOutcome::Reply,
        code: Some(code),
        enhanced: lines
            .first()
            .and_then(|l| l.split_whitespace().next())
            .filter(|w| w.matches('.').count() == 2)
            .map(str::to_string),
        lines: lines.iter().map(|s| s.to_string()).collect(),
        elapsed_ms: 5.0,
    }
}

fn ehlo(name: &str, keywords: &[&str]) -> EhloFacts {
    let mut lines = vec![name];
    lines.extend_from_slice(keywords);
    EhloFacts {
        reply: reply(250, &lines),
        helo_fallback: false,
        keywords: keywords.iter().map(|s| s.to_string()).collect(),
    }
}

fn good_tls() -> TlsFacts {
    TlsFacts {
        outcome: TlsOutcome::Established,
        starttls_reply: Some(reply(220, &["2.0.0 Ready to start TLS"])),
        injected_bytes: 0,
        version: Some("TLSv1.3".into()),
        cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
        chain: vec![CertFacts {
            subject: "CN=mail.example.com".into(),
            issuer: "CN=Test CA".into(),
            sans: vec!["mail.example.com".into()],
            not_before: "Jan 1 00:00:00 2026 +00:00".into(),
            not_after: "Jan 1 00:00:00 2027 +00:00".into(),
            not_after_unix: 1_798_761_600,
            days_left: 200,
            self_signed: false,
        }],
        chain_verified: true,
        chain_error: None,
        name_matches: true,
        handshake_error: None,
        elapsed_ms: 20.0,
    }
}

/// A chain that worked end to end (with AUTH accepted when `auth` is set).
pub(super) fn healthy(addr: &str, mode: PortMode, auth: bool) -> Attempt {
    let mut a = Attempt::new(ip(addr));
    a.connect = ConnectFacts {
        outcome: ConnectOutcome::Connected,
        errno: None,
        elapsed_ms: 12.0,
        local_port: None,
        icmp: None,
        cut_short: false,
        answered_here: false,
    };
    a.speaks = Some(mode);
    a.greeting = Some(reply(220, &["mail.example.com ESMTP Postfix"]));
    if mode == PortMode::Starttls {
        a.ehlo = Some(ehlo(
            "mail.example.com",
            &["PIPELINING", "STARTTLS", "8BITMIME"],
        ));
    }
    a.tls = Some(good_tls());
    a.ehlo_tls = Some(ehlo(
        "mail.example.com",
        &["PIPELINING", "AUTH PLAIN LOGIN"],
    ));
    if auth {
        a.auth = Some(AuthFacts {
            outcome: AuthOutcome::Accepted,
            mechanism: Some("PLAIN".into()),
            offered: vec!["LOGIN".into(), "PLAIN".into()],
            reply: Some(reply(235, &["2.7.0 Authentication successful"])),
        });
    }
    a
}

fn failed_connect(addr: &str, outcome: ConnectOutcome, errno: Option<i32>, ms: f64) -> Attempt {
    let mut a = Attempt::new(ip(addr));
    a.connect = ConnectFacts {
        outcome,
        errno,
        elapsed_ms: ms,
        local_port: None,
        icmp: None,
        cut_short: false,
        answered_here: false,
    };
    a
}

fn with_icmp(mut a: Attempt, t: u8, c: u8, from: &str, local: bool) -> Attempt {
    a.connect.icmp = Some(IcmpFacts {
        icmp_type: t,
        icmp_code: c,
        offender: Some(ip(from)),
        offender_is_local: local,
    });
    a
}

fn with_path(mut a: Attempt, hops: &[(u8, HopOutcome, Option<&str>)]) -> Attempt {
    a.path = Some(PathFacts {
        hops: hops
            .iter()
            .map(|(ttl, outcome, router)| {
                let mut h = HopFacts::new(*ttl, *outcome);
                h.router = router.map(ip);
                h.elapsed_ms = 1.0;
                h
            })
            .collect(),
        on_link: false,
        control: Vec::new(),
        silence_ms: 0.0,
        summary: None,
    });
    a
}

/// One rung of a ladder: TTL, answer, who answered, how many SYNs got it, and when the first was sent (ms).
type Rung = (u8, HopOutcome, Option<&'static str>, usize, f64);

fn rungs(rows: &[Rung]) -> Vec<HopFacts> {
    rows.iter()
        .flat_map(|&(ttl, outcome, router, n, sent)| {
            (0..n).map(move |k| {
                let mut h = HopFacts::new(ttl, outcome);
                h.router = router.map(ip);
                h.sent_ms = sent + k as f64 * 0.1;
                h.elapsed_ms = if outcome == HopOutcome::Silent {
                    600.0
                } else {
                    1.0
                };
                h
            })
        })
        .collect()
}

/// The ladders of a timed-out connect: the port's, and the control's (`control_port`, which connected in the run).
fn with_ladders(mut a: Attempt, probed: &[Rung], control_port: u16, control: &[Rung]) -> Attempt {
    a.connect.cut_short = true;
    let mut path = PathFacts {
        hops: rungs(probed),
        on_link: false,
        control: vec![ControlLadder {
            port: control_port,
            connected_in_run: true,
            hops: rungs(control),
        }],
        silence_ms: 200.0,
        summary: None,
    };
    path.summary = Some(path.summarize());
    a.path = Some(path);
    a
}

/// Three routers, then the server at TTL 4, as the control (465) sees them.
const CONTROL_4: &[Rung] = &[
    (1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 1, 0.1),
    (2, HopOutcome::TimeExceeded, Some("192.0.2.1"), 1, 25.0),
    (3, HopOutcome::TimeExceeded, Some("192.0.2.2"), 1, 50.0),
    (4, HopOutcome::SynAck, Some("203.0.113.10"), 1, 75.0),
];

fn timed_out(ms: f64) -> Attempt {
    failed_connect(V4, ConnectOutcome::TimedOut, None, ms)
}

pub(super) fn port(n: u16, attempts: Vec<Attempt>) -> PortReport {
    PortReport {
        host: "mail.example.com".into(),
        port: n,
        mode: crate::plan::mode_for_port(n),
        attempts,
    }
}

fn answered(records: &[&str]) -> DnsLookup {
    DnsLookup {
        outcome: DnsOutcome::Answered,
        records: records.iter().map(|s| s.to_string()).collect(),
        elapsed_ms: 3.0,
    }
}

fn dns_outcome(o: DnsOutcome) -> DnsLookup {
    DnsLookup {
        outcome: o,
        records: Vec::new(),
        elapsed_ms: 3.0,
    }
}

pub(super) fn report(target: &str, ports: Vec<PortReport>) -> Report {
    Report {
        target: target.into(),
        invocation: String::new(),
        host: HostFacts {
            hostname: "client.example.org".into(),
            user: Default::default(),
            mail_listeners: Vec::new(),
            firewall: None,
            nat_redirects: Vec::new(),
        },
        dns: DnsReport {
            queried: true,
            resolver: "system (192.0.2.53)".into(),
            a: answered(&[V4]),
            aaaa: answered(&[V6]),
            mx_domain: Some("example.com".into()),
            mx: vec![MxRecord {
                preference: 10,
                host: "mail.example.com".into(),
            }],
            mx_lookup: answered(&["10 mail.example.com"]),
            resolver_checks: Vec::new(),
        },
        ports,
        tls_verification: true,
        elapsed_ms: 100.0,
        settings: None,
        interrupted: None,
    }
}

fn three_ports_v4(p25: Attempt, p465: Attempt, p587: Attempt) -> Vec<PortReport> {
    vec![
        port(25, vec![p25]),
        port(465, vec![p465]),
        port(587, vec![p587]),
    ]
}

fn ok4(mode: PortMode) -> Attempt {
    healthy(V4, mode, false)
}

pub(crate) struct Case {
    pub name: &'static str,
    pub report: Report,
    ok: bool,
    verdict: Layer,
    ports: Vec<(u16, Layer)>,
    /// The code of the finding that decides the verdict (None when nothing fails).
    pub code: Option<Code>,
    /// Words the verdict's finding must contain (message, remedy or evidence), checked by the wording's tests.
    pub mentions: &'static [&'static str],
}

#[allow(clippy::vec_init_then_push)] // rows are built one by one, some from earlier rows
pub(crate) fn cases() -> Vec<Case> {
    let s = PortMode::Starttls;
    let i = PortMode::Implicit;
    let mut v = Vec::new();

    v.push(Case {
        name: "healthy on all three ports",
        report: report("mail.example.com", three_ports_v4(ok4(s), ok4(i), ok4(s))),
        ok: true,
        verdict: Layer::None,
        ports: vec![(25, Layer::None), (465, Layer::None), (587, Layer::None)],
        code: None,
        mentions: &[],
    });

    v.push(Case {
        name: "plain RST from the server",
        report: report(
            "mail.example.com",
            vec![port(
                587,
                vec![failed_connect(V4, ConnectOutcome::Refused, Some(111), 20.0)],
            )],
        ),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::PortClosed),
        mentions: &["nothing is listening"],
    });

    v.push(Case {
        name: "this host rejects with ICMP from its own address",
        report: report(
            "mail.example.com",
            three_ports_v4(
                ok4(s),
                with_icmp(
                    failed_connect(V4, ConnectOutcome::Refused, Some(111), 0.1),
                    3,
                    3,
                    "198.51.100.10",
                    true,
                ),
                ok4(s),
            ),
        ),
        ok: false,
        verdict: Layer::Firewall,
        ports: vec![
            (25, Layer::None),
            (465, Layer::Firewall),
            (587, Layer::None),
        ],
        code: Some(Code::FirewallReject),
        mentions: &["iptables"],
    });

    v.push(Case {
        name: "silent drop that never leaves this host",
        report: report(
            "mail.example.com",
            three_ports_v4(
                ok4(s),
                ok4(i),
                with_path(
                    failed_connect(V4, ConnectOutcome::TimedOut, None, 2000.0),
                    &[
                        (1, HopOutcome::Silent, None),
                        (2, HopOutcome::Silent, None),
                        (3, HopOutcome::Silent, None),
                    ],
                ),
            ),
        ),
        ok: false,
        verdict: Layer::Firewall,
        ports: vec![
            (25, Layer::None),
            (465, Layer::None),
            (587, Layer::Firewall),
        ],
        code: Some(Code::FirewallDrop),
        mentions: &["never leaves this host"],
    });

    v.push(Case {
        name: "silent drop past the first router (provider blocks 25)",
        report: report(
            "mail.example.com",
            three_ports_v4(
                with_path(
                    failed_connect(V4, ConnectOutcome::TimedOut, None, 2000.0),
                    &[
                        (1, HopOutcome::TimeExceeded, Some("198.51.100.1")),
                        (2, HopOutcome::Silent, None),
                        (3, HopOutcome::Silent, None),
                    ],
                ),
                ok4(i),
                ok4(s),
            ),
        ),
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![
            (25, Layer::IspBlock),
            (465, Layer::None),
            (587, Layer::None),
        ],
        code: Some(Code::IspDrop),
        mentions: &["port 25", "provider"],
    });

    v.push(Case {
        name: "a router answers admin-prohibited",
        report: report(
            "mail.example.com",
            vec![port(
                25,
                vec![with_icmp(
                    failed_connect(V4, ConnectOutcome::HostUnreachable, Some(113), 3.0),
                    3,
                    13,
                    "198.51.100.1",
                    false,
                )],
            )],
        ),
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![(25, Layer::IspBlock)],
        code: Some(Code::IspReject),
        mentions: &["198.51.100.1"],
    });

    v.push(Case {
        name: "no route at all",
        report: report(
            "mail.example.com",
            vec![port(
                587,
                vec![failed_connect(
                    V4,
                    ConnectOutcome::NetworkUnreachable,
                    Some(101),
                    0.1,
                )],
            )],
        ),
        ok: false,
        verdict: Layer::Network,
        ports: vec![(587, Layer::Network)],
        code: Some(Code::NoRoute),
        mentions: &["no route"],
    });

    let mut with_reject_rule = report(
        "mail.example.com",
        three_ports_v4(
            ok4(s),
            failed_connect(V4, ConnectOutcome::Refused, Some(111), 0.05),
            ok4(s),
        ),
    );
    with_reject_rule.host.firewall = Some(FirewallFacts {
        read: true,
        why_not: None,
        managers: Vec::new(),
    });
    with_reject_rule.ports[1].attempts[0].host_path = Some(HostPath {
        outcome: PathOutcome::Reject,
        decided_by: Some(FirewallRule {
            source: "iptables".into(),
            table: "filter".into(),
            chain: "OUTPUT".into(),
            v6: false,
            action: RuleAction::Reject,
            text: "-A OUTPUT -p tcp -m tcp --dport 465 -j REJECT --reject-with tcp-reset".into(),
            comment: None,
            manager: Manager::Iptables,
            via: Vec::new(),
            origin: None,
        }),
        nat: None,
        met: Vec::new(),
        unsure: Vec::new(),
        others: None,
    });
    v.push(Case {
        name: "a local REJECT with tcp-reset, seen in the rules",
        report: with_reject_rule,
        ok: false,
        verdict: Layer::Firewall,
        ports: vec![
            (25, Layer::None),
            (465, Layer::Firewall),
            (587, Layer::None),
        ],
        code: Some(Code::FirewallReject),
        mentions: &["tcp-reset"],
    });

    v.push(Case {
        name: "a TTL-1 SYN is reset too: the reset is local",
        report: report(
            "mail.example.com",
            three_ports_v4(
                ok4(s),
                with_path(
                    failed_connect(V4, ConnectOutcome::Refused, Some(111), 0.05),
                    &[(1, HopOutcome::Reset, None)],
                ),
                ok4(s),
            ),
        ),
        ok: false,
        verdict: Layer::Firewall,
        ports: vec![
            (25, Layer::None),
            (465, Layer::Firewall),
            (587, Layer::None),
        ],
        code: Some(Code::FirewallReject),
        mentions: &["comes from this host"],
    });

    v.push(Case {
        name: "a TTL-1 SYN meets the first router: the refusal is the server's",
        report: report(
            "mail.example.com",
            vec![port(
                587,
                vec![with_path(
                    failed_connect(V4, ConnectOutcome::Refused, Some(111), 0.4),
                    &[(1, HopOutcome::TimeExceeded, Some("198.51.100.1"))],
                )],
            )],
        ),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::PortClosed),
        mentions: &["further away"],
    });

    v.push(Case {
        name: "ICMP port-unreachable from the server itself",
        report: report(
            "mail.example.com",
            vec![port(
                587,
                vec![with_icmp(
                    failed_connect(V4, ConnectOutcome::Refused, Some(111), 1000.0),
                    3,
                    3,
                    V4,
                    false,
                )],
            )],
        ),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::ServerReject),
        mentions: &["server's own firewall"],
    });

    let mut busy_tls = ok4(s);
    busy_tls.tls = Some(TlsFacts {
        outcome: TlsOutcome::Refused,
        starttls_reply: Some(reply(421, &["4.7.0 Too many connections, try later"])),
        chain: Vec::new(),
        ..good_tls()
    });
    busy_tls.ehlo_tls = None;
    v.push(Case {
        name: "421 in answer to STARTTLS is the server, not TLS",
        report: report("mail.example.com", vec![port(587, vec![busy_tls])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::ServerBusy),
        mentions: &["421"],
    });

    let mut redirected = report("mail.example.com", vec![port(587, vec![ok4(s)])]);
    redirected.ports[0].attempts[0].connect.local_port = Some(40000);
    redirected.host.nat_redirects = vec![NatRedirect {
        original_source_port: 40000,
        original_destination: ip(V4),
        original_port: 587,
        answered_by: ip("127.0.0.1"),
        answered_port: 10587,
    }];
    v.push(Case {
        name: "conntrack shows the connection answered locally",
        report: redirected,
        ok: false,
        verdict: Layer::LocalMta,
        ports: vec![(587, Layer::LocalMta)],
        code: Some(Code::LocalRedirect),
        mentions: &["127.0.0.1:10587"],
    });

    let mut ipv6_ports = Vec::new();
    for (n, mode) in [(25, s), (465, i), (587, s)] {
        ipv6_ports.push(port(
            n,
            vec![
                healthy(V4, mode, false),
                with_path(
                    failed_connect(V6, ConnectOutcome::TimedOut, None, 2000.0),
                    &[
                        (1, HopOutcome::TimeExceeded, Some("2001:db8:1::1")),
                        (2, HopOutcome::Silent, None),
                    ],
                ),
            ],
        ));
    }
    v.push(Case {
        name: "IPv6 broken everywhere, IPv4 fine",
        report: report("mail.example.com", ipv6_ports),
        ok: true,
        verdict: Layer::Ipv6,
        ports: vec![(25, Layer::None), (465, Layer::None), (587, Layer::None)],
        code: Some(Code::Ipv6Broken),
        mentions: &["IPv6", "family: 4"],
    });

    let mut g421 = ok4(s);
    g421.greeting = Some(reply(
        421,
        &["4.3.2 Service not available, closing channel"],
    ));
    g421.ehlo = None;
    g421.tls = None;
    g421.ehlo_tls = None;
    v.push(Case {
        name: "421 greeting",
        report: report("mail.example.com", vec![port(587, vec![g421])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::ServerBusy),
        mentions: &["421"],
    });

    let mut g554 = ok4(s);
    g554.greeting = Some(reply(554, &["5.7.1 Your IP is listed at zen.spamhaus.org"]));
    g554.ehlo = None;
    g554.tls = None;
    g554.ehlo_tls = None;
    v.push(Case {
        name: "554 greeting",
        report: report("mail.example.com", vec![port(25, vec![g554])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(25, Layer::Server)],
        code: Some(Code::GreetingRejected),
        mentions: &["blocklist"],
    });

    let mut silent = ok4(s);
    silent.greeting = Some(ReplyFacts {
        outcome: ReplyOutcome::Silent,
        code: None,
        enhanced: None,
        lines: Vec::new(),
        elapsed_ms: 2000.0,
    });
    silent.speaks = None;
    silent.ehlo = None;
    silent.tls = None;
    silent.ehlo_tls = None;
    v.push(Case {
        name: "accepts and never greets",
        report: report("mail.example.com", vec![port(587, vec![silent])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::GreetingSilent),
        mentions: &["never sends a greeting"],
    });

    let mut local = ok4(s);
    local.greeting = Some(reply(220, &["client.example.org ESMTP Exim 4.96"]));
    local.ehlo = Some(ehlo("client.example.org", &["STARTTLS"]));
    local.connect.elapsed_ms = 0.05;
    v.push(Case {
        name: "a local MTA answers in the server's place",
        report: report("mail.example.com", vec![port(587, vec![local])]),
        ok: false,
        verdict: Layer::LocalMta,
        ports: vec![(587, Layer::LocalMta)],
        code: Some(Code::LocalRedirect),
        mentions: &["client.example.org", "iptables -t nat"],
    });

    let mut generic = ok4(s);
    generic.greeting = Some(reply(220, &["localhost ESMTP Exim 4.96"]));
    generic.ehlo = Some(ehlo("localhost", &["STARTTLS"]));
    v.push(Case {
        name: "a remote server that calls itself localhost is not interception",
        report: report("mail.example.com", vec![port(587, vec![generic.clone()])]),
        ok: true,
        verdict: Layer::None,
        ports: vec![(587, Layer::None)],
        code: None,
        mentions: &[],
    });
    generic.connect.elapsed_ms = 0.05;
    let mut local_generic = report("mail.example.com", vec![port(587, vec![generic])]);
    local_generic.host.mail_listeners = vec![Listener {
        address: ip("127.0.0.1"),
        port: 587,
    }];
    v.push(Case {
        name: "localhost banner, local listener on the port and a loopback-fast connect",
        report: local_generic,
        ok: false,
        verdict: Layer::LocalMta,
        ports: vec![(587, Layer::LocalMta)],
        code: Some(Code::LocalRedirect),
        mentions: &["localhost", "listens on this host"],
    });

    let mut own = ok4(s);
    own.greeting = Some(reply(220, &["client.example.org ESMTP"]));
    v.push(Case {
        name: "probing this host itself is not interception",
        report: report("client.example.org", vec![port(587, vec![own])]),
        ok: true,
        verdict: Layer::None,
        ports: vec![(587, Layer::None)],
        code: None,
        mentions: &[],
    });

    let mut selfsigned = ok4(s);
    if let Some(t) = selfsigned.tls.as_mut() {
        t.chain_verified = false;
        t.chain_error = Some(CertProblem::SelfSigned);
    }
    v.push(Case {
        name: "self-signed certificate",
        report: report("mail.example.com", vec![port(587, vec![selfsigned])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::CertSelfSigned),
        mentions: &["self-signed"],
    });

    let mut mismatch = ok4(s);
    if let Some(t) = mismatch.tls.as_mut() {
        t.name_matches = false;
        t.chain[0].sans = vec!["other.example.net".into()];
    }
    v.push(Case {
        name: "certificate for another name",
        report: report("mail.example.com", vec![port(587, vec![mismatch])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::CertNameMismatch),
        mentions: &["other.example.net"],
    });

    let mut expired = ok4(i);
    if let Some(t) = expired.tls.as_mut() {
        t.chain_verified = false;
        t.chain_error = Some(CertProblem::Expired);
        t.chain[0].days_left = -3;
    }
    v.push(Case {
        name: "expired certificate",
        report: report("mail.example.com", vec![port(465, vec![expired])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(465, Layer::Tls)],
        code: Some(Code::CertExpired),
        mentions: &["expired", "renew"],
    });

    let mut soon = ok4(i);
    if let Some(t) = soon.tls.as_mut() {
        t.chain[0].days_left = 5;
    }
    v.push(Case {
        name: "certificate about to expire is a warning",
        report: report("mail.example.com", vec![port(465, vec![soon])]),
        ok: true,
        verdict: Layer::Tls,
        ports: vec![(465, Layer::None)],
        code: Some(Code::CertExpiresSoon),
        mentions: &["5 days"],
    });

    let mut notls587 = ok4(s);
    notls587.ehlo = Some(ehlo("mail.example.com", &["PIPELINING", "AUTH PLAIN"]));
    notls587.tls = Some(TlsFacts {
        outcome: TlsOutcome::NotOffered,
        ..good_tls()
    });
    notls587.ehlo_tls = None;
    let notls25 = PortReport {
        port: 25,
        ..port(587, vec![notls587.clone()])
    };
    v.push(Case {
        name: "587 without STARTTLS",
        report: report("mail.example.com", vec![port(587, vec![notls587])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::StarttlsNotOffered),
        mentions: &["STARTTLS"],
    });
    v.push(Case {
        name: "25 without STARTTLS is only a warning",
        report: report("mail.example.com", vec![notls25]),
        ok: true,
        verdict: Layer::Tls,
        ports: vec![(25, Layer::None)],
        code: Some(Code::StarttlsNotOffered),
        mentions: &["unencrypted"],
    });

    let mut implicit_on_587 = ok4(s);
    implicit_on_587.speaks = Some(PortMode::Implicit);
    implicit_on_587.ehlo = None;
    v.push(Case {
        name: "TLS spoken on a STARTTLS port",
        report: report("mail.example.com", vec![port(587, vec![implicit_on_587])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::WrongTlsModeImplicit),
        mentions: &["secure: true"],
    });

    let mut plain_on_465 = Attempt::new(ip(V4));
    plain_on_465.connect = ok4(i).connect;
    plain_on_465.speaks = Some(PortMode::Starttls);
    plain_on_465.greeting = Some(reply(220, &["mail.example.com ESMTP"]));
    plain_on_465.tls = Some(TlsFacts {
        outcome: TlsOutcome::HandshakeFailed,
        handshake_error: Some(HandshakeError::PlaintextReply),
        chain: Vec::new(),
        ..good_tls()
    });
    v.push(Case {
        name: "plaintext on 465",
        report: report("mail.example.com", vec![port(465, vec![plain_on_465])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(465, Layer::Tls)],
        code: Some(Code::WrongTlsModeStarttls),
        mentions: &["wrong version number", "secure: false"],
    });

    let mut injected = ok4(s);
    if let Some(t) = injected.tls.as_mut() {
        t.injected_bytes = 24;
    }
    v.push(Case {
        name: "STARTTLS response injection",
        report: report("mail.example.com", vec![port(587, vec![injected])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::StarttlsInjection),
        mentions: &["injection"],
    });

    let mut gmail = healthy(V4, s, true);
    if let Some(auth) = gmail.auth.as_mut() {
        auth.outcome = AuthOutcome::Rejected;
        auth.reply = Some(reply(
            535,
            &[
                "5.7.8 Username and Password not accepted. For more information, go to",
                "5.7.8  https://support.google.com/mail/?p=BadCredentials",
            ],
        ));
    }
    let mut gmail_report = report("smtp.gmail.com", vec![port(587, vec![gmail])]);
    gmail_report.ports[0].host = "smtp.gmail.com".into();
    v.push(Case {
        name: "Gmail 535 5.7.8",
        report: gmail_report,
        ok: false,
        verdict: Layer::Credentials,
        ports: vec![(587, Layer::Credentials)],
        code: Some(Code::AuthRejected),
        mentions: &["App Password"],
    });

    let mut m365 = healthy(V4, s, true);
    if let Some(auth) = m365.auth.as_mut() {
        auth.outcome = AuthOutcome::Rejected;
        auth.reply = Some(reply(
            535,
            &["5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."],
        ));
    }
    let mut m365_report = report("smtp.office365.com", vec![port(587, vec![m365])]);
    m365_report.ports[0].host = "smtp.office365.com".into();
    v.push(Case {
        name: "Microsoft 365 5.7.139",
        report: m365_report,
        ok: false,
        verdict: Layer::Credentials,
        ports: vec![(587, Layer::Credentials)],
        code: Some(Code::AuthSmtpDisabled),
        mentions: &["Authenticated SMTP"],
    });

    let mut exim = healthy(V4, i, true);
    if let Some(auth) = exim.auth.as_mut() {
        auth.outcome = AuthOutcome::Rejected;
        auth.reply = Some(reply(535, &["Incorrect authentication data"]));
    }
    v.push(Case {
        name: "Exim's wording",
        report: report("mail.example.com", vec![port(465, vec![exim])]),
        ok: false,
        verdict: Layer::Credentials,
        ports: vec![(465, Layer::Credentials)],
        code: Some(Code::AuthRejected),
        mentions: &["Exim"],
    });

    let mut tempfail = healthy(V4, s, true);
    if let Some(auth) = tempfail.auth.as_mut() {
        auth.outcome = AuthOutcome::Rejected;
        auth.reply = Some(reply(454, &["4.7.0 Temporary authentication failure"]));
    }
    v.push(Case {
        name: "454 during AUTH is the server, not the password",
        report: report("mail.example.com", vec![port(587, vec![tempfail])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::AuthTemporaryFailure),
        mentions: &["temporary"],
    });

    let mut unverified = healthy(V4, s, true);
    if let Some(t) = unverified.tls.as_mut() {
        t.chain_verified = false;
        t.chain_error = Some(CertProblem::UnknownIssuer);
    }
    if let Some(auth) = unverified.auth.as_mut() {
        auth.outcome = AuthOutcome::RefusedUnverified;
        auth.reply = None;
    }
    v.push(Case {
        name: "password withheld from an untrusted certificate",
        report: report("mail.example.com", vec![port(587, vec![unverified])]),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::CertChainIncomplete),
        mentions: &["intermediate"],
    });

    for (name, outcome, words, code) in [
        (
            "NXDOMAIN",
            DnsOutcome::NxDomain,
            "does not exist",
            Code::Nxdomain,
        ),
        (
            "SERVFAIL",
            DnsOutcome::ServFail,
            "SERVFAIL",
            Code::DnsServfail,
        ),
        (
            "resolver silent",
            DnsOutcome::Timeout,
            "did not answer",
            Code::ResolverDead,
        ),
        (
            "no resolver",
            DnsOutcome::NoResolver,
            "no DNS resolver",
            Code::NoResolver,
        ),
        ("REFUSED", DnsOutcome::Refused, "REFUSED", Code::DnsRefused),
    ] {
        let mut r = report("nope.example.com", vec![port(587, Vec::new())]);
        r.dns.a = dns_outcome(outcome);
        r.dns.aaaa = dns_outcome(outcome);
        v.push(Case {
            name,
            report: r,
            ok: false,
            verdict: Layer::Dns,
            ports: vec![(587, Layer::Dns)],
            code: Some(code),
            mentions: match words {
                "does not exist" => &["does not exist"],
                "SERVFAIL" => &["SERVFAIL"],
                "did not answer" => &["did not answer"],
                "no DNS resolver" => &["no DNS resolver"],
                _ => &["REFUSED"],
            },
        });
    }

    for (reach, words, code) in [
        (
            ResolverReach::BlockedHere,
            "firewall blocks DNS",
            Code::ResolverBlockedHere,
        ),
        (
            ResolverReach::PortUnreachable,
            "refuses DNS",
            Code::ResolverNotServing,
        ),
        (
            ResolverReach::Answers,
            "gets no answer",
            Code::ZoneUnreachable,
        ),
        (ResolverReach::Silent, "did not answer", Code::ResolverDead),
    ] {
        let mut r = report("mail.example.com", vec![port(587, Vec::new())]);
        r.dns.a = dns_outcome(DnsOutcome::Timeout);
        r.dns.aaaa = dns_outcome(DnsOutcome::Timeout);
        r.dns.resolver_checks = vec![ResolverCheck {
            server: "192.0.2.53:53".into(),
            outcome: reach,
        }];
        v.push(Case {
            name: "a timed-out lookup explained by asking the resolver directly",
            report: r,
            ok: false,
            verdict: Layer::Dns,
            ports: vec![(587, Layer::Dns)],
            code: Some(code),
            mentions: match words {
                "firewall blocks DNS" => &["firewall blocks DNS"],
                "refuses DNS" => &["refuses DNS"],
                "gets no answer" => &["gets no answer"],
                _ => &["did not answer"],
            },
        });
    }

    let mut r = report("example.com", vec![port(587, Vec::new())]);
    r.dns.a = dns_outcome(DnsOutcome::NoRecords);
    r.dns.aaaa = dns_outcome(DnsOutcome::NoRecords);
    v.push(Case {
        name: "a mail domain without address records points at its MX",
        report: r,
        ok: false,
        verdict: Layer::Dns,
        ports: vec![(587, Layer::Dns)],
        code: Some(Code::MxHostUnresolved),
        mentions: &["mail.example.com"],
    });

    v.extend(envelope_cases());
    v.extend(settings_cases());
    v
}

/// Settings read from an env file, with the given problems; the host key is MAIL_HOST on line 2.
pub(crate) fn settings_facts(
    port: u16,
    mode: PortMode,
    problems: Vec<rs::SettingsProblem>,
) -> rs::SettingsFacts {
    use rs::*;
    SettingsFacts {
        file: ".env".into(),
        framework: Framework::Laravel,
        keys: Vec::new(),
        probed: ProbedSettings {
            host: Some("mail.example.com".into()),
            host_key: KeyRef {
                key: "MAIL_HOST".into(),
                line: Some(2),
                value: Some("mail.example.com".into()),
            },
            port,
            mode,
            user: None,
            password: false,
            from: None,
        },
        problems,
        notes: Vec::new(),
        host_is_local: false,
    }
}

pub(crate) fn settings_problem(
    kind: rs::ProblemKind,
    key: &str,
    line: usize,
    value: &str,
) -> rs::SettingsProblem {
    rs::SettingsProblem {
        kind,
        keys: vec![rs::KeyRef {
            key: key.into(),
            line: Some(line),
            value: Some(value.into()),
        }],
        fix: vec![rs::FixLine {
            text: format!("{key}=fixed"),
            replaces: Some(line),
        }],
        unreadable: None,
    }
}

/// The app's own settings (--env-file): what the probe saw on the wire decides within a layer, a typo in a lower layer decides above it.
fn settings_cases() -> Vec<Case> {
    use rs::{HostTypo, ProblemKind};
    let s = PortMode::Starttls;
    let with = |mut r: Report, facts: rs::SettingsFacts| {
        r.settings = Some(facts);
        r
    };
    let mut v = Vec::new();

    // SMTP_SECURE=true on 587: the probe speaks TLS first and gets a plaintext greeting.
    let mut plain_on_587 = Attempt::new(ip(V4));
    plain_on_587.connect = ok4(s).connect;
    plain_on_587.speaks = Some(PortMode::Starttls);
    plain_on_587.greeting = Some(reply(220, &["mail.example.com ESMTP"]));
    plain_on_587.tls = Some(TlsFacts {
        outcome: TlsOutcome::HandshakeFailed,
        handshake_error: Some(HandshakeError::PlaintextReply),
        chain: Vec::new(),
        ..good_tls()
    });
    let implicit_587 = PortReport {
        mode: PortMode::Implicit,
        ..port(587, vec![plain_on_587])
    };
    v.push(Case {
        name: "settings: secure on 587 is seen as 'wrong version number'",
        report: with(
            report("mail.example.com", vec![implicit_587]),
            settings_facts(
                587,
                PortMode::Implicit,
                vec![settings_problem(
                    ProblemKind::ImplicitTlsOnStarttlsPort {
                        port: 587,
                        honoured: true,
                    },
                    "SMTP_SECURE",
                    3,
                    "true",
                )],
            ),
        ),
        ok: false,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::Tls)],
        code: Some(Code::WrongTlsModeStarttls),
        mentions: &["wrong version number"],
    });

    v.push(Case {
        name: "settings: a quoted host decides though its corrected name works",
        report: with(
            report("mail.example.com", vec![port(587, vec![ok4(s)])]),
            settings_facts(
                587,
                s,
                vec![settings_problem(
                    ProblemKind::HostMalformed {
                        typos: vec![HostTypo::Quotes],
                        probed: Some("mail.example.com".into()),
                    },
                    "EMAIL_HOST",
                    2,
                    "'mail.example.com'",
                )],
            ),
        ),
        ok: false,
        verdict: Layer::Dns,
        ports: vec![(587, Layer::None)],
        code: Some(Code::EnvHostMalformed),
        mentions: &[
            "EMAIL_HOST='mail.example.com' (.env:2)",
            "quotes",
            "probed mail.example.com",
            "`EMAIL_HOST=fixed` on line 2",
        ],
    });

    v.push(Case {
        name: "settings: a setting the framework ignores is a warning",
        report: with(
            report("mail.example.com", vec![port(587, vec![ok4(s)])]),
            settings_facts(
                587,
                s,
                vec![settings_problem(
                    ProblemKind::ImplicitTlsOnStarttlsPort {
                        port: 587,
                        honoured: false,
                    },
                    "MAIL_ENCRYPTION",
                    5,
                    "ssl",
                )],
            ),
        ),
        ok: true,
        verdict: Layer::Tls,
        ports: vec![(587, Layer::None)],
        code: Some(Code::EnvImplicitTlsOnStarttlsPort),
        mentions: &[
            "Laravel 9 and newer ignore it",
            "MAIL_ENCRYPTION=ssl (.env:5)",
        ],
    });

    let refused_here = |port_n: u16| {
        let mut a = failed_connect("127.0.0.1", ConnectOutcome::Refused, Some(111), 0.1);
        a.address = ip("127.0.0.1");
        port(port_n, vec![a])
    };
    let mut local = settings_facts(2525, s, Vec::new());
    local.host_is_local = true;
    local.probed.host_key = rs::KeyRef {
        key: "MAIL_HOST".into(),
        line: None,
        value: Some("127.0.0.1".into()),
    };
    v.push(Case {
        name: "settings: the app's host is this machine and nothing listens",
        report: with(
            report("mail.example.com", vec![refused_here(2525)]),
            local.clone(),
        ),
        ok: false,
        verdict: Layer::LocalMta,
        ports: vec![(2525, Layer::Server)],
        code: Some(Code::EnvHostIsThisHost),
        mentions: &["MAIL_HOST is not set", "127.0.0.1", "port 2525"],
    });
    local.host_is_local = false;
    v.push(Case {
        name: "settings: a refused remote host is only the server",
        report: with(report("mail.example.com", vec![refused_here(2525)]), local),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(2525, Layer::Server)],
        code: Some(Code::PortClosed),
        mentions: &[],
    });

    v.push(Case {
        name: "settings: a host no name can be made of leaves nothing to probe",
        report: with(
            report("smtp example.com", Vec::new()),
            settings_facts(
                587,
                s,
                vec![settings_problem(
                    ProblemKind::HostMalformed {
                        typos: vec![HostTypo::Spaces],
                        probed: None,
                    },
                    "EMAIL_HOST",
                    2,
                    "smtp example.com",
                )],
            ),
        ),
        ok: false,
        verdict: Layer::Dns,
        ports: vec![],
        code: Some(Code::EnvHostMalformed),
        mentions: &["spaces", "nothing was probed"],
    });

    // The TTL ladders (a slow connect climbs them beside a control port of the same address).
    v.push(Case {
        name: "ladders: the port's SYNs die after hop 2 while the control reaches the server",
        report: report(
            "mail.example.com",
            three_ports_v4(
                with_ladders(
                    timed_out(400.0),
                    &[
                        (1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 3, 0.0),
                        (2, HopOutcome::TimeExceeded, Some("192.0.2.1"), 2, 25.0),
                        (3, HopOutcome::Silent, None, 2, 50.0),
                        (4, HopOutcome::Silent, None, 2, 75.0),
                        (5, HopOutcome::Silent, None, 2, 100.0),
                        (6, HopOutcome::Silent, None, 2, 125.0),
                    ],
                    465,
                    CONTROL_4,
                ),
                ok4(PortMode::Implicit),
                ok4(PortMode::Starttls),
            ),
        ),
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![
            (25, Layer::IspBlock),
            (465, Layer::None),
            (587, Layer::None),
        ],
        code: Some(Code::IspDrop),
        mentions: &["past hop 2 (192.0.2.1)", "past 192.0.2.2"],
    });

    // An unreachable one ladder SYN got, where the connect's own SYNs met the router out of ICMP budget.
    let icmp = |mut a: Attempt, icmp_type: u8, icmp_code: u8| {
        if let Some(h) = a.path.as_mut().and_then(|p| {
            p.hops
                .iter_mut()
                .find(|h| h.outcome == HopOutcome::Unreachable)
        }) {
            h.icmp_type = Some(icmp_type);
            h.icmp_code = Some(icmp_code);
        }
        a
    };
    v.push(Case {
        name: "ladders: a router's port unreachable to one SYN while the control gets through is its rejection",
        report: report(
            "mail.example.com",
            three_ports_v4(
                icmp(
                    with_ladders(
                        timed_out(2000.0),
                        &[
                            (1, HopOutcome::Silent, None, 3, 0.0),
                            (2, HopOutcome::Silent, None, 2, 25.0),
                            (30, HopOutcome::Unreachable, Some("198.51.100.1"), 1, 50.0),
                        ],
                        465,
                        CONTROL_4,
                    ),
                    3,
                    3,
                ),
                ok4(PortMode::Implicit),
                ok4(PortMode::Starttls),
            ),
        ),
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![
            (25, Layer::IspBlock),
            (465, Layer::None),
            (587, Layer::None),
        ],
        code: Some(Code::IspReject),
        mentions: &["198.51.100.1"],
    });
    v.push(Case {
        name: "ladders: a router's host unreachable to one SYN, nothing else answering, is the address unreachable",
        report: report(
            "mail.example.com",
            vec![port(
                587,
                vec![icmp(
                    with_ladders(
                        timed_out(2000.0),
                        &[
                            (1, HopOutcome::Silent, None, 3, 0.0),
                            (30, HopOutcome::Unreachable, Some("198.51.100.1"), 1, 50.0),
                        ],
                        443,
                        &[(1, HopOutcome::Silent, None, 1, 0.1)],
                    ),
                    3,
                    1,
                )],
            )],
        ),
        ok: false,
        verdict: Layer::Network,
        ports: vec![(587, Layer::Network)],
        code: Some(Code::HostUnreachable),
        mentions: &["198.51.100.1"],
    });

    v.push(Case {
        name: "ladders: no SYN leaves this host while the first router answers the control at the same moment",
        report: report(
            "mail.example.com",
            three_ports_v4(
                ok4(PortMode::Starttls),
                ok4(PortMode::Implicit),
                with_ladders(
                    timed_out(400.0),
                    &[
                        (1, HopOutcome::Silent, None, 3, 0.0),
                        (2, HopOutcome::Silent, None, 2, 25.0),
                        (3, HopOutcome::Silent, None, 2, 50.0),
                        (4, HopOutcome::Silent, None, 2, 75.0),
                        (5, HopOutcome::Silent, None, 2, 100.0),
                        (6, HopOutcome::Silent, None, 2, 125.0),
                    ],
                    465,
                    CONTROL_4,
                ),
            ),
        ),
        ok: false,
        verdict: Layer::Firewall,
        ports: vec![
            (25, Layer::None),
            (465, Layer::None),
            (587, Layer::Firewall),
        ],
        code: Some(Code::FirewallDrop),
        mentions: &["no SYN to the port leaves this host"],
    });

    // The first router answered the control a second later only: its ICMP budget may have silenced the port's
    // SYNs, so nothing says they never left. Undecided, said so.
    let mut late_control: Vec<Rung> = CONTROL_4.to_vec();
    late_control[0].4 = 1000.0;
    v.push(Case {
        name: "ladders: a silent first hop without the router's answer at that moment stays undecided",
        report: report(
            "mail.example.com",
            three_ports_v4(
                ok4(PortMode::Starttls),
                ok4(PortMode::Implicit),
                with_ladders(
                    timed_out(10_000.0),
                    &[
                        (1, HopOutcome::Silent, None, 3, 0.0),
                        (2, HopOutcome::Silent, None, 2, 25.0),
                        (3, HopOutcome::Silent, None, 2, 50.0),
                        (4, HopOutcome::Silent, None, 2, 75.0),
                        (5, HopOutcome::Silent, None, 2, 100.0),
                        (6, HopOutcome::Silent, None, 2, 125.0),
                    ],
                    465,
                    &late_control,
                ),
            ),
        ),
        ok: false,
        verdict: Layer::Server,
        ports: vec![
            (25, Layer::None),
            (465, Layer::None),
            (587, Layer::Server),
        ],
        code: Some(Code::ConnectTimeout),
        mentions: &["could not place the drop", "budget was spent"],
    });

    // Loss: the connect's SYN and its retransmission were lost, yet one of the ladder's SYNs reached the server.
    // The silences that look like a block are overruled.
    v.push(Case {
        name: "ladders: one SYN that reached the server overrules a block (loss)",
        report: report(
            "mail.example.com",
            three_ports_v4(
                with_ladders(
                    timed_out(2000.0),
                    &[
                        (1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 3, 0.0),
                        (2, HopOutcome::TimeExceeded, Some("192.0.2.1"), 2, 25.0),
                        (3, HopOutcome::TimeExceeded, Some("192.0.2.2"), 1, 50.0),
                        (3, HopOutcome::Silent, None, 1, 50.0),
                        (4, HopOutcome::Silent, None, 2, 75.0),
                        (5, HopOutcome::Silent, None, 1, 100.0),
                        (5, HopOutcome::SynAck, Some("203.0.113.10"), 1, 100.0),
                        (6, HopOutcome::Silent, None, 2, 125.0),
                    ],
                    465,
                    CONTROL_4,
                ),
                ok4(PortMode::Implicit),
                ok4(PortMode::Starttls),
            ),
        ),
        ok: false,
        verdict: Layer::Network,
        ports: vec![(25, Layer::Network), (465, Layer::None), (587, Layer::None)],
        code: Some(Code::ConnectLossy),
        mentions: &["lost on the way", "TTL 5 reached the server"],
    });

    // Loss seen (two SYNs with the same TTL answered differently): five silences are not enough to be sure.
    v.push(Case {
        name: "ladders: with loss seen, too few silences leave the drop unplaced",
        report: report(
            "mail.example.com",
            three_ports_v4(
                with_ladders(
                    timed_out(2000.0),
                    &[
                        (1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 2, 0.0),
                        (1, HopOutcome::Silent, None, 1, 0.0),
                        (2, HopOutcome::Silent, None, 2, 25.0),
                        (3, HopOutcome::Silent, None, 2, 50.0),
                        (4, HopOutcome::Silent, None, 2, 75.0),
                        (5, HopOutcome::Silent, None, 2, 100.0),
                        (6, HopOutcome::Silent, None, 1, 125.0),
                    ],
                    465,
                    CONTROL_4,
                ),
                ok4(PortMode::Implicit),
                ok4(PortMode::Starttls),
            ),
        ),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(25, Layer::Server), (465, Layer::None), (587, Layer::None)],
        code: Some(Code::ConnectTimeout),
        mentions: &["could not place the drop"],
    });

    // Root's rule listing names a DROP rule, but the port's SYNs got "time exceeded" from two routers: the SYN
    // left this host, so the rule is not what stopped it.
    let mut rule_but_left = report(
        "mail.example.com",
        three_ports_v4(
            with_ladders(
                timed_out(400.0),
                &[
                    (1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 3, 0.0),
                    (2, HopOutcome::TimeExceeded, Some("192.0.2.1"), 2, 25.0),
                    (3, HopOutcome::Silent, None, 2, 50.0),
                    (4, HopOutcome::Silent, None, 2, 75.0),
                    (5, HopOutcome::Silent, None, 2, 100.0),
                    (6, HopOutcome::Silent, None, 2, 125.0),
                ],
                465,
                CONTROL_4,
            ),
            ok4(PortMode::Implicit),
            ok4(PortMode::Starttls),
        ),
    );
    rule_but_left.host.firewall = Some(FirewallFacts {
        read: true,
        why_not: None,
        managers: Vec::new(),
    });
    rule_but_left.ports[0].attempts[0].host_path = Some(HostPath {
        outcome: PathOutcome::Drop,
        decided_by: Some(FirewallRule {
            source: "iptables".into(),
            table: "filter".into(),
            chain: "OUTPUT".into(),
            v6: false,
            action: RuleAction::Drop,
            text: "-A OUTPUT -p tcp -m tcp --dport 25 -j DROP".into(),
            comment: None,
            manager: Manager::Iptables,
            via: Vec::new(),
            origin: None,
        }),
        nat: None,
        met: Vec::new(),
        unsure: Vec::new(),
        others: None,
    });
    v.push(Case {
        name: "ladders: SYNs that passed two routers overrule a DROP rule the listing seemed to match",
        report: rule_but_left,
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![
            (25, Layer::IspBlock),
            (465, Layer::None),
            (587, Layer::None),
        ],
        code: Some(Code::IspDrop),
        mentions: &["past hop 2"],
    });

    // A connection that works, but a TTL-1 SYN to 25 got a SYN-ACK while one to 587 got "time exceeded" from the
    // first router: that router answers for the server on 25.
    let mut proxied = ok4(PortMode::Starttls);
    proxied.path = Some(PathFacts::single(
        rungs(&[(1, HopOutcome::SynAck, Some(V4), 1, 0.0)])
            .into_iter()
            .next()
            .unwrap_or_else(|| HopFacts::new(1, HopOutcome::SynAck)),
        false,
    ));
    let mut beside = ok4(PortMode::Starttls);
    beside.path = Some(PathFacts::single(
        rungs(&[(1, HopOutcome::TimeExceeded, Some("198.51.100.1"), 1, 0.0)])
            .into_iter()
            .next()
            .unwrap_or_else(|| HopFacts::new(1, HopOutcome::TimeExceeded)),
        false,
    ));
    let mut proxied_bad_cert = proxied.clone();
    if let Some(t) = proxied_bad_cert.tls.as_mut() {
        t.chain_verified = false;
        t.chain_error = Some(CertProblem::UnknownIssuer);
    }
    v.push(Case {
        name: "a first router that answers for the server, passing TLS through: a warning",
        report: report(
            "mail.example.com",
            vec![port(25, vec![proxied]), port(587, vec![beside.clone()])],
        ),
        ok: true,
        verdict: Layer::IspBlock,
        ports: vec![(25, Layer::None), (587, Layer::None)],
        code: Some(Code::IspProxy),
        mentions: &["hop 1 (198.51.100.1)", "transparent proxy"],
    });
    v.push(Case {
        name: "a first router that answers for the server with its own certificate: an error",
        report: report(
            "mail.example.com",
            vec![port(25, vec![proxied_bad_cert]), port(587, vec![beside])],
        ),
        ok: false,
        verdict: Layer::IspBlock,
        ports: vec![(25, Layer::IspBlock), (587, Layer::None)],
        code: Some(Code::IspProxy),
        mentions: &["transparent proxy"],
    });

    // Without root and with a banner and certificate that are the server's own: the connection's other end is a
    // socket of this host (its socket table), which decides alone.
    let mut relayed = ok4(PortMode::Starttls);
    relayed.connect.answered_here = true;
    v.push(Case {
        name: "a connection answered by a socket of this host, whatever its banner says",
        report: report("mail.example.com", vec![port(587, vec![relayed])]),
        ok: false,
        verdict: Layer::LocalMta,
        ports: vec![(587, Layer::LocalMta)],
        code: Some(Code::LocalRedirect),
        mentions: &["socket of this host"],
    });
    // Under loss with a short --timeout, the EHLO reply can fail to arrive: that is no answer, not a refusal.
    let mut unanswered = ok4(PortMode::Starttls);
    if let Some(e) = unanswered.ehlo.as_mut() {
        e.reply = ReplyFacts {
            outcome: ReplyOutcome::Silent,
            code: None,
            enhanced: None,
            lines: Vec::new(),
            elapsed_ms: 2000.0,
        };
        e.keywords.clear();
    }
    unanswered.tls = None;
    unanswered.ehlo_tls = None;
    v.push(Case {
        name: "an EHLO that got no reply at all is unanswered, not refused",
        report: report("mail.example.com", vec![port(587, vec![unanswered])]),
        ok: false,
        verdict: Layer::Server,
        ports: vec![(587, Layer::Server)],
        code: Some(Code::EhloNoAnswer),
        mentions: &[],
    });
    v
}

#[test]
fn diagnosis_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let d = diagnose(&case.report);
        let got_ports: Vec<(u16, Layer)> = d.ports.iter().map(|p| (p.port, p.layer)).collect();
        if d.ok != case.ok
            || d.verdict.layer() != case.verdict
            || d.verdict.code != case.code
            || got_ports != case.ports
        {
            failures.push(format!(
                "{}: ok {} (want {}), verdict {:?}/{:?} (want {:?}/{:?}), ports {:?} (want {:?})",
                case.name,
                d.ok,
                case.ok,
                d.verdict.layer(),
                d.verdict.code,
                case.verdict,
                case.code,
                got_ports,
                case.ports
            ));
        }
        for f in &d.findings {
            if f.layer() != f.code.layer() {
                failures.push(format!("{}: {:?} off its layer", case.name, f.code));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn diagnosis_is_pure() {
    for case in cases() {
        assert_eq!(
            diagnose(&case.report),
            diagnose(&case.report),
            "{}",
            case.name
        );
    }
}

#[test]
fn layer_names_are_the_json_names() {
    for (layer, name) in [
        (Layer::None, "none"),
        (Layer::Dns, "dns"),
        (Layer::Network, "network"),
        (Layer::Ipv6, "ipv6"),
        (Layer::Firewall, "firewall"),
        (Layer::IspBlock, "isp_block"),
        (Layer::LocalMta, "local_mta"),
        (Layer::Server, "server"),
        (Layer::Tls, "tls"),
        (Layer::Credentials, "credentials"),
        (Layer::Sender, "sender"),
    ] {
        assert_eq!(layer.name(), name);
        assert_eq!(
            serde_json::to_value(layer).ok(),
            Some(serde_json::Value::String(name.into()))
        );
    }
}

/// Every failed stage gets its finding, even when a lower layer decides the verdict.
#[test]
fn a_rejected_login_is_reported_beside_a_lower_failure() {
    let rejected = |a: &mut Attempt| {
        a.auth = Some(AuthFacts {
            outcome: AuthOutcome::Rejected,
            mechanism: Some("PLAIN".into()),
            offered: vec!["PLAIN".into()],
            reply: Some(reply(535, &["5.7.8 Authentication credentials invalid"])),
        });
    };
    // --danger-allow-cleartext-auth on a 587 without STARTTLS.
    let mut cleartext = ok4(PortMode::Starttls);
    cleartext.ehlo = Some(ehlo("mail.example.com", &["AUTH PLAIN"]));
    cleartext.tls = Some(TlsFacts {
        outcome: TlsOutcome::NotOffered,
        ..good_tls()
    });
    cleartext.ehlo_tls = None;
    rejected(&mut cleartext);
    // --danger-accept-invalid-certs on a self-signed certificate.
    let mut untrusted = ok4(PortMode::Starttls);
    if let Some(t) = untrusted.tls.as_mut() {
        t.chain_verified = false;
        t.chain_error = Some(CertProblem::SelfSigned);
    }
    rejected(&mut untrusted);
    for (a, first) in [
        (cleartext, Code::StarttlsNotOffered),
        (untrusted, Code::CertSelfSigned),
    ] {
        let d = diagnose(&report("mail.example.com", vec![port(587, vec![a])]));
        let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
        assert_eq!(d.verdict.code, Some(first), "{codes:?}");
        assert_eq!(d.ports[0].layer, first.layer());
        assert!(codes.contains(&Code::AuthRejected), "{codes:?}");
    }
}

/// A password withheld because TLS already failed is no finding of its own.
#[test]
fn a_withheld_password_after_a_tls_failure_adds_nothing() {
    let mut a = ok4(PortMode::Starttls);
    a.tls = Some(TlsFacts {
        outcome: TlsOutcome::NotOffered,
        ..good_tls()
    });
    a.ehlo_tls = None;
    a.auth = Some(AuthFacts {
        outcome: AuthOutcome::RefusedCleartext,
        mechanism: None,
        offered: vec!["PLAIN".into()],
        reply: None,
    });
    let d = diagnose(&report("mail.example.com", vec![port(587, vec![a])]));
    let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![Code::StarttlsNotOffered]);
}

/// A healthy 587 chain logged in as app@example.com whose envelope got these replies.
fn with_envelope(
    mail: ReplyFacts,
    rcpt: Option<ReplyFacts>,
    outcome: EnvelopeOutcome,
    authenticated: bool,
) -> Attempt {
    let mut a = healthy(V4, PortMode::Starttls, authenticated);
    a.envelope = Some(EnvelopeFacts {
        from: "ceo@example.org".into(),
        outcome,
        authenticated,
        login: authenticated.then(|| "app@example.com".to_string()),
        mail_from: Some(mail),
        recipients: rcpt
            .map(|reply| RecipientFacts {
                address: "friend@example.net".into(),
                reply,
            })
            .into_iter()
            .collect(),
        recipient_implied: false,
        message: None,
    });
    a
}

/// The envelope: the command refused and its codes decide; the provider's words only pick the remedy.
fn envelope_cases() -> Vec<Case> {
    let ok_mail = || reply(250, &["2.1.0 Ok"]);
    let one = |name, a: Attempt, layer: Layer, code: Option<Code>, mentions| Case {
        name,
        report: report("mail.example.com", vec![port(587, vec![a])]),
        ok: code.is_none(),
        verdict: layer,
        ports: vec![(587, layer)],
        code,
        mentions,
    };
    let mut sent = with_envelope(
        ok_mail(),
        Some(reply(250, &["2.1.5 Ok"])),
        EnvelopeOutcome::Sent,
        true,
    );
    if let Some(e) = sent.envelope.as_mut() {
        e.message = Some(MessageFacts {
            message_id: "<x@example.com>".into(),
            data_reply: reply(354, &["End data with <CR><LF>.<CR><LF>"]),
            reply: Some(reply(250, &["2.0.0 Ok: queued as 4XkQ2b"])),
            queue_id: Some("4XkQ2b".into()),
        });
    }
    let mut refused_message = sent.clone();
    if let Some(e) = refused_message.envelope.as_mut() {
        e.outcome = EnvelopeOutcome::MessageRefused;
        if let Some(m) = e.message.as_mut() {
            m.reply = Some(reply(554, &["5.7.1 Message rejected as spam"]));
            m.queue_id = None;
        }
    }
    vec![
        one("envelope accepted", with_envelope(ok_mail(), Some(reply(250, &["2.1.5 Ok"])), EnvelopeOutcome::Accepted, true), Layer::None, None, &[]),
        one("test message queued", sent, Layer::None, None, &[]),
        one(
            "Postfix sender login mismatch",
            with_envelope(reply(553, &["5.7.1 <ceo@example.org>: Sender address rejected: not owned by user app@example.com"]), None, EnvelopeOutcome::SenderRefused, true),
            Layer::Sender, Some(Code::SenderRefused), &["smtpd_sender_login_maps", "app@example.com"],
        ),
        one(
            "Postfix judges the sender at RCPT TO",
            with_envelope(ok_mail(), Some(reply(553, &["5.7.1 <ceo@example.org>: Sender address rejected: not owned by user app@example.com"])), EnvelopeOutcome::RecipientRefused, true),
            Layer::Sender, Some(Code::SenderRefused), &["smtpd_sender_login_maps"],
        ),
        one(
            "Microsoft 365 SendAsDenied",
            with_envelope(reply(550, &["5.7.60 SMTP; Client does not have permissions to send as this sender"]), None, EnvelopeOutcome::SenderRefused, true),
            Layer::Sender, Some(Code::SenderRefused), &["Send As"],
        ),
        one(
            "Amazon SES unverified address",
            with_envelope(reply(554, &["Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ceo@example.org"]), None, EnvelopeOutcome::SenderRefused, true),
            Layer::Sender, Some(Code::SenderRefused), &["SES", "example.org"],
        ),
        one(
            "relay denied without a login",
            with_envelope(ok_mail(), Some(reply(554, &["5.7.1 <friend@example.net>: Relay access denied"])), EnvelopeOutcome::RecipientRefused, false),
            Layer::Sender, Some(Code::RelayDenied), &["needs a login"],
        ),
        one(
            "unknown recipient",
            with_envelope(ok_mail(), Some(reply(550, &["5.1.1 <friend@example.net>: Recipient address rejected: User unknown"])), EnvelopeOutcome::RecipientRefused, true),
            Layer::Sender, Some(Code::RecipientRefused), &["friend@example.net"],
        ),
        one(
            "login needed before MAIL FROM",
            with_envelope(reply(530, &["5.7.0 Authentication required"]), None, EnvelopeOutcome::SenderRefused, false),
            Layer::Credentials, Some(Code::AuthRequired), &["--user"],
        ),
        one(
            "greylisted recipient",
            with_envelope(ok_mail(), Some(reply(451, &["4.7.1 <friend@example.net>: Recipient address rejected: Greylisted"])), EnvelopeOutcome::RecipientRefused, true),
            Layer::Server, Some(Code::EnvelopeDeferred), &["later"],
        ),
        one(
            "421 to MAIL FROM",
            with_envelope(reply(421, &["4.7.0 Too many connections"]), None, EnvelopeOutcome::SenderRefused, true),
            Layer::Server, Some(Code::ServerBusy), &["MAIL FROM"],
        ),
        one("message refused", refused_message, Layer::Sender, Some(Code::MessageRefused), &["content"]),
        one(
            "server gone during RCPT TO",
            with_envelope(
                ok_mail(),
                Some(ReplyFacts { outcome: ReplyOutcome::Closed, code: None, enhanced: None, lines: Vec::new(), elapsed_ms: 1.0 }),
                EnvelopeOutcome::Broken,
                true,
            ),
            Layer::Server, Some(Code::EnvelopeBrokenOff), &["RCPT TO"],
        ),
    ]
}
