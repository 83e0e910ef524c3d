//! DNS probe: A, AAAA and MX lookups of exact names, each outcome told apart by response code.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::plan::Family;
use crate::probes::elapsed_ms;
use crate::report::{DnsLookup, DnsOutcome, ResolverCheck, ResolverReach};

/// One retry absorbs a single lost UDP packet without letting a dead resolver stall the run.
const RETRIES: usize = 1;

/// hickory adds the timeout to `Instant::now()` unchecked; a huge value would panic there.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Slack on top of hickory's own deadline, so our outer bound never pre-empts its verdict.
const OUTER_SLACK: Duration = Duration::from_millis(250);

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// A resolver set up for diagnosis: no cache, bounded retries, exact names only.
pub struct Dns {
    resolver: TokioResolver,
    /// Upper bound on one lookup, retries included.
    budget: Duration,
    description: String,
    /// The name servers asked, for a direct reachability check when lookups time out.
    servers: Vec<SocketAddr>,
}

impl Dns {
    /// `server`: None = system configuration (/etc/resolv.conf); Some(addr) = ask only that server (UDP+TCP, port from addr).
    /// Timeout applies to each query; one retry, so a lookup takes at most about twice the timeout.
    /// Err(DnsOutcome::NoResolver) when the system config has no name server (missing/empty resolv.conf), Err(DnsOutcome::Error) for other build failures.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Dns, DnsOutcome> {
        match server {
            None => match hickory_resolver::system_conf::read_system_conf() {
                Ok((config, opts)) => Dns::system(config, opts, timeout),
                Err(_) => Err(system_conf_failure()),
            },
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for conn in &mut server.connections {
                    conn.port = addr.port();
                }
                let config = ResolverConfig::from_name_servers(vec![server]);
                let mut opts = ResolverOpts::default();
                // Asking one server means reporting that server's answer, not /etc/hosts.
                opts.use_hosts_file = ResolveHosts::Never;
                let description = if addr.port() == 53 {
                    addr.ip().to_string()
                } else {
                    addr.to_string()
                };
                Dns::build(config, opts, timeout, description, vec![addr])
            }
        }
    }

    /// The system path, split from `new` so tests can feed a resolv.conf of their own.
    fn system(
        config: ResolverConfig,
        opts: ResolverOpts,
        timeout: Duration,
    ) -> Result<Dns, DnsOutcome> {
        if config.name_servers().is_empty() {
            return Err(DnsOutcome::NoResolver);
        }
        let servers: Vec<String> = config
            .name_servers()
            .iter()
            .map(|ns| ns.ip.to_string())
            .collect();
        let description = format!("system ({})", servers.join(", "));
        let addrs: Vec<SocketAddr> = config
            .name_servers()
            .iter()
            .map(|ns| SocketAddr::new(ns.ip, 53))
            .collect();
        // resolv.conf's own timeout/attempts are replaced below; use_hosts_file stays as read
        // (Auto), so names in /etc/hosts resolve as they do for the mail server itself.
        Dns::build(config, opts, timeout, description, addrs)
    }

    fn build(
        config: ResolverConfig,
        mut opts: ResolverOpts,
        timeout: Duration,
        description: String,
        servers: Vec<SocketAddr>,
    ) -> Result<Dns, DnsOutcome> {
        let timeout = timeout.min(MAX_TIMEOUT);
        opts.timeout = timeout;
        opts.attempts = RETRIES;
        // A cached answer would hide what the resolver says now.
        opts.cache_size = 0;
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        *builder.options_mut() = opts;
        let resolver = builder.build().map_err(|_| DnsOutcome::Error)?;
        let tries = u32::try_from(RETRIES + 1).unwrap_or(u32::MAX);
        let budget = timeout.saturating_mul(tries).saturating_add(OUTER_SLACK);
        Ok(Dns {
            resolver,
            budget,
            description,
            servers,
        })
    }

    /// The name servers this resolver asks.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// "system (203.0.113.53)" or the address asked; for the report's `resolver` field.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// A and AAAA (only the families `family` allows; the other lookup gets DnsLookup::not_asked()), concurrently.
    pub async fn lookup_addresses(&self, name: &str, family: Family) -> (DnsLookup, DnsLookup) {
        let (want_a, want_aaaa) = match family {
            Family::Any => (true, true),
            Family::V4 => (true, false),
            Family::V6 => (false, true),
        };
        let a = async {
            if want_a {
                self.lookup_ips(name, RecordType::A).await
            } else {
                DnsLookup::not_asked()
            }
        };
        let aaaa = async {
            if want_aaaa {
                self.lookup_ips(name, RecordType::AAAA).await
            } else {
                DnsLookup::not_asked()
            }
        };
        tokio::join!(a, aaaa)
    }

    /// MX of `domain`: records as "10 mx1.example.com" strings sorted by preference, plus the (preference, host) pairs.
    /// A null MX (RFC 7505, "the domain takes no mail") shows as "0 ." with host ".".
    pub async fn lookup_mx(&self, domain: &str) -> (DnsLookup, Vec<(u16, String)>) {
        let (result, elapsed_ms) = self.query(domain, RecordType::MX).await;
        let lookup = match result {
            Ok(lookup) => lookup,
            Err(outcome) => return (failed(outcome, elapsed_ms), Vec::new()),
        };
        let mut pairs: Vec<(u16, String)> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some((mx.preference, host_text(&mx.exchange))),
                _ => None,
            })
            .collect();
        // Host as tie-break keeps the output stable across runs (servers rotate equal records).
        pairs.sort();
        pairs.dedup();
        let records = pairs
            .iter()
            .map(|(pref, host)| format!("{pref} {host}"))
            .collect();
        (answered(records, elapsed_ms), pairs)
    }

    async fn lookup_ips(&self, name: &str, rtype: RecordType) -> DnsLookup {
        let (result, elapsed_ms) = self.query(name, rtype).await;
        let lookup = match result {
            Ok(lookup) => lookup,
            Err(outcome) => return failed(outcome, elapsed_ms),
        };
        let mut records: Vec<String> = Vec::new();
        for record in lookup.answers() {
            // The answer also carries any CNAME chain; only the addresses matter here.
            let ip = match &record.data {
                RData::A(a) if rtype == RecordType::A => IpAddr::V4(a.0),
                RData::AAAA(aaaa) if rtype == RecordType::AAAA => IpAddr::V6(aaaa.0),
                _ => continue,
            };
            let text = ip.to_string();
            if !records.contains(&text) {
                records.push(text);
            }
        }
        answered(records, elapsed_ms)
    }

    /// One timed question for the exact name, never a search-list expansion of it.
    async fn query(&self, name: &str, rtype: RecordType) -> (Result<Lookup, DnsOutcome>, f64) {
        let start = Instant::now();
        let Some(name) = absolute_name(name) else {
            return (Err(DnsOutcome::Error), elapsed_ms(start));
        };
        let result =
            match tokio::time::timeout(self.budget, self.resolver.lookup(name, rtype)).await {
                Ok(Ok(lookup)) => Ok(lookup),
                Ok(Err(err)) => Err(outcome_of(&err)),
                Err(_) => Err(DnsOutcome::Timeout),
            };
        (result, elapsed_ms(start))
    }
}

/// The domain whose MX records are shown for a host: the host itself first; the caller asks mx_candidates(host) in order and uses the first that has MX records.
/// Stops at two labels, so never a bare TLD; an IP literal, a single-label or malformed name gives none.
/// (Without a public-suffix list "co.uk" can still appear, but only after "example.co.uk".)
pub fn mx_candidates(host: &str) -> Vec<String> {
    let host = host.trim();
    let host = host.strip_suffix('.').unwrap_or(host);
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Vec::new();
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Vec::new();
    }
    (0..=labels.len() - 2)
        .map(|skip| labels[skip..].join("."))
        .collect()
}

/// Turns a lookup's records into addresses (for A/AAAA DnsLookup.records which are textual IPs).
pub fn addresses(a: &DnsLookup, aaaa: &DnsLookup) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in a
        .records
        .iter()
        .chain(aaaa.records.iter())
        .filter_map(|r| r.parse::<IpAddr>().ok())
    {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The typed error decides; hickory's message text is not a stable interface.
fn outcome_of(err: &NetError) -> DnsOutcome {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => DnsOutcome::NxDomain,
            ResponseCode::NoError => DnsOutcome::NoRecords,
            _ => DnsOutcome::Error,
        },
        NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsOutcome::ServFail,
        NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsOutcome::Refused,
        NetError::Timeout => DnsOutcome::Timeout,
        NetError::Io(io_err) if io_err.kind() == io::ErrorKind::TimedOut => DnsOutcome::Timeout,
        _ => DnsOutcome::Error,
    }
}

/// hickory reports a missing resolv.conf and one without name servers as the same kind of
/// io error as other parse failures, so look at the file itself to tell "no resolver" apart.
fn system_conf_failure() -> DnsOutcome {
    match std::fs::read_to_string(RESOLV_CONF) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => DnsOutcome::NoResolver,
        Ok(text) if !lists_name_server(&text) => DnsOutcome::NoResolver,
        _ => DnsOutcome::Error,
    }
}

fn lists_name_server(resolv_conf: &str) -> bool {
    resolv_conf.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("nameserver") && words.next().is_some()
    })
}

/// A trailing dot makes the name absolute, so resolv.conf's search list and ndots never apply.
fn absolute_name(name: &str) -> Option<Name> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut parsed = Name::from_utf8(name).ok()?;
    parsed.set_fqdn(true);
    Some(parsed)
}

/// The host as people write it: no trailing dot, except the root itself (null MX).
fn host_text(name: &Name) -> String {
    if name.is_root() {
        return ".".to_string();
    }
    let text = name.to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

fn answered(records: Vec<String>, elapsed_ms: f64) -> DnsLookup {
    // A reply holding only a CNAME chain is, for this record type, an empty answer.
    let outcome = if records.is_empty() {
        DnsOutcome::NoRecords
    } else {
        DnsOutcome::Answered
    };
    DnsLookup {
        outcome,
        records,
        elapsed_ms,
    }
}

fn failed(outcome: DnsOutcome, elapsed_ms: f64) -> DnsLookup {
    DnsLookup {
        outcome,
        records: Vec::new(),
        elapsed_ms,
    }
}

/// Asks one name server a trivial question (the root's NS) on a connected UDP socket, whose errno says
/// what the resolver library does not: ICMP port unreachable, no route, or this host's own firewall. The
/// question is sent three times within `timeout`, so one lost packet does not make a live resolver silent.
pub async fn check_server(server: SocketAddr, timeout: Duration) -> ResolverCheck {
    let outcome = match tokio::time::timeout(timeout, ask_root(server, timeout / 3)).await {
        Err(_) => ResolverReach::Silent,
        Ok(r) => r,
    };
    ResolverCheck {
        server: server.to_string(),
        outcome,
    }
}

async fn ask_root(server: SocketAddr, again_after: Duration) -> ResolverReach {
    use hickory_resolver::proto::op::{Message, Query};
    use hickory_resolver::proto::rr::{Name, RecordType};
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let errno = |e: std::io::Error| reach_from_errno(e.raw_os_error());
    let socket = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return errno(e),
    };
    if let Err(e) = socket.connect(server).await {
        return errno(e);
    }
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::root(), RecordType::NS));
    let Ok(bytes) = query.to_vec() else {
        return ResolverReach::Other;
    };
    let again_after = again_after.max(Duration::from_millis(50));
    let mut buf = [0u8; 512];
    // The caller's timeout ends the loop; each turn sends the question once more.
    loop {
        if let Err(e) = socket.send(&bytes).await {
            return errno(e);
        }
        match tokio::time::timeout(again_after, socket.recv(&mut buf)).await {
            Ok(Ok(_)) => return ResolverReach::Answers,
            Ok(Err(e)) => return errno(e),
            Err(_) => {}
        }
    }
}

fn reach_from_errno(errno: Option<i32>) -> ResolverReach {
    match errno {
        Some(libc::ECONNREFUSED) => ResolverReach::PortUnreachable,
        Some(libc::EPERM) | Some(libc::EACCES) => ResolverReach::BlockedHere,
        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::EADDRNOTAVAIL) => {
            ResolverReach::Unreachable
        }
        _ => ResolverReach::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;
    use std::sync::{Arc, Mutex};

    use hickory_resolver::proto::op::{Edns, Message};
    use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, SOA};
    use hickory_resolver::proto::rr::Record;
    use tokio::net::UdpSocket;
    use tokio::task::JoinHandle;

    const TIMEOUT: Duration = Duration::from_millis(300);
    /// The scripted server stops by itself after this many datagrams or this long.
    const MAX_QUERIES: usize = 200;
    const SERVER_LIFETIME: Duration = Duration::from_secs(30);

    /// A UDP DNS server on 127.0.0.1 that answers from a fixed script, stopped when dropped.
    struct Scripted {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<String>>>,
        task: JoinHandle<()>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Scripted {
        async fn start() -> Scripted {
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind scripted DNS server");
            let addr = socket.local_addr().expect("local addr");
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let task = tokio::spawn(async move {
                let serve = async {
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..MAX_QUERIES {
                        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                            return;
                        };
                        let Ok(request) = Message::from_vec(&buf[..len]) else {
                            continue;
                        };
                        if let Some(query) = request.queries.first() {
                            log.lock().expect("log lock").push(format!(
                                "{} {}",
                                query.name(),
                                query.query_type()
                            ));
                        }
                        if let Some(reply) = script(&request) {
                            if let Ok(bytes) = reply.to_vec() {
                                let _ = socket.send_to(&bytes, peer).await;
                            }
                        }
                    }
                };
                let _ = tokio::time::timeout(SERVER_LIFETIME, serve).await;
            });
            Scripted { addr, seen, task }
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().expect("log lock").clone()
        }

        fn dns(&self) -> Dns {
            Dns::new(Some(self.addr), TIMEOUT).expect("resolver for scripted server")
        }
    }

    fn name(text: &str) -> Name {
        Name::from_str(text).expect("test name")
    }

    /// None = stay silent.
    fn script(request: &Message) -> Option<Message> {
        let query = request.queries.first()?.clone();
        let qname = query.name().to_ascii().to_ascii_lowercase();
        let qtype = query.query_type();
        let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
        reply.metadata.recursion_desired = request.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.add_query(query.clone());
        if request.edns.is_some() {
            reply.set_edns(Edns::new());
        }
        let owner = query.name().clone();
        let soa = || {
            Record::from_rdata(
                name("test."),
                60,
                RData::SOA(SOA::new(
                    name("ns.test."),
                    name("hostmaster.test."),
                    1,
                    3600,
                    600,
                    86400,
                    60,
                )),
            )
        };
        match (qname.as_str(), qtype) {
            ("silent.test.", _) => return None,
            ("addr.test.", RecordType::A) => {
                for last in [10, 11] {
                    reply.add_answer(Record::from_rdata(
                        owner.clone(),
                        60,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
                    ));
                }
            }
            ("addr.test.", RecordType::AAAA) => {
                reply.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10))),
                ));
            }
            ("alias.test.", RecordType::A) => {
                reply.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::CNAME(CNAME(name("addr.test."))),
                ));
                reply.add_answer(Record::from_rdata(
                    name("addr.test."),
                    60,
                    RData::A(A(Ipv4Addr::new(198, 51, 100, 7))),
                ));
            }
            ("mail.test.", RecordType::MX) => {
                // Deliberately out of order: the probe must sort by preference.
                for (pref, host) in [(20, "mx2.mail.test."), (10, "mx1.mail.test.")] {
                    reply.add_answer(Record::from_rdata(
                        owner.clone(),
                        60,
                        RData::MX(MX::new(pref, name(host))),
                    ));
                }
            }
            ("nullmx.test.", RecordType::MX) => {
                reply.add_answer(Record::from_rdata(
                    owner,
                    60,
                    RData::MX(MX::new(0, Name::root())),
                ));
            }
            ("nx.test.", _) => {
                reply.metadata.response_code = ResponseCode::NXDomain;
                reply.add_authority(soa());
            }
            ("servfail.test.", _) => reply.metadata.response_code = ResponseCode::ServFail,
            ("refused.test.", _) => reply.metadata.response_code = ResponseCode::Refused,
            // Everything else exists but has no record of the asked type (empty NOERROR).
            _ => {
                reply.add_authority(soa());
            }
        }
        Some(reply)
    }

    #[tokio::test]
    async fn answered_a_and_aaaa() {
        let server = Scripted::start().await;
        let dns = server.dns();
        let (a, aaaa) = dns.lookup_addresses("addr.test", Family::Any).await;
        assert_eq!(a.outcome, DnsOutcome::Answered);
        assert_eq!(a.records, vec!["192.0.2.10", "192.0.2.11"]);
        assert_eq!(aaaa.outcome, DnsOutcome::Answered);
        assert_eq!(aaaa.records, vec!["2001:db8::10"]);
        assert!(a.elapsed_ms > 0.0 && aaaa.elapsed_ms > 0.0);
        assert_eq!(
            addresses(&a, &aaaa),
            vec![
                IpAddr::from([192, 0, 2, 10]),
                IpAddr::from([192, 0, 2, 11]),
                "2001:db8::10".parse::<IpAddr>().expect("ip"),
            ]
        );
    }

    #[tokio::test]
    async fn family_limits_the_questions() {
        let server = Scripted::start().await;
        let dns = server.dns();
        let (a, aaaa) = dns.lookup_addresses("addr.test.", Family::V4).await;
        assert_eq!(a.outcome, DnsOutcome::Answered);
        assert_eq!(aaaa, DnsLookup::not_asked());
        let (a, aaaa) = dns.lookup_addresses("addr.test.", Family::V6).await;
        assert_eq!(a, DnsLookup::not_asked());
        assert_eq!(aaaa.records, vec!["2001:db8::10"]);
        assert_eq!(server.seen(), vec!["addr.test. A", "addr.test. AAAA"]);
    }

    #[tokio::test]
    async fn cname_chain_yields_only_addresses() {
        let server = Scripted::start().await;
        let (a, _) = server
            .dns()
            .lookup_addresses("alias.test", Family::V4)
            .await;
        assert_eq!(a.outcome, DnsOutcome::Answered);
        assert_eq!(a.records, vec!["198.51.100.7"]);
    }

    #[tokio::test]
    async fn negative_answers_are_told_apart() {
        let server = Scripted::start().await;
        let dns = server.dns();
        let cases = [
            ("nx.test", DnsOutcome::NxDomain),
            ("empty.test", DnsOutcome::NoRecords),
            ("servfail.test", DnsOutcome::ServFail),
            ("refused.test", DnsOutcome::Refused),
        ];
        for (host, want) in cases {
            let (a, aaaa) = dns.lookup_addresses(host, Family::Any).await;
            assert_eq!(a.outcome, want, "{host} A");
            assert_eq!(aaaa.outcome, want, "{host} AAAA");
            assert!(a.records.is_empty() && aaaa.records.is_empty(), "{host}");
        }
    }

    #[tokio::test]
    async fn silence_is_a_timeout() {
        let server = Scripted::start().await;
        let (a, aaaa) = server
            .dns()
            .lookup_addresses("silent.test", Family::Any)
            .await;
        for lookup in [&a, &aaaa] {
            assert_eq!(lookup.outcome, DnsOutcome::Timeout);
            assert!(lookup.elapsed_ms >= 250.0, "{}", lookup.elapsed_ms);
            // One try plus one retry, concurrently for A and AAAA, plus scheduling slack.
            assert!(lookup.elapsed_ms < 2000.0, "{}", lookup.elapsed_ms);
        }
    }

    #[tokio::test]
    async fn closed_port_is_not_an_answer() {
        let port = {
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("bind");
            socket.local_addr().expect("addr").port()
        };
        let dns = Dns::new(Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))), TIMEOUT)
            .expect("resolver");
        // The ICMP port-unreachable is not surfaced by hickory: the resolver just never answered.
        let (a, _) = dns.lookup_addresses("addr.test", Family::V4).await;
        assert_eq!(a.outcome, DnsOutcome::Timeout);
    }

    #[tokio::test]
    async fn mx_sorted_by_preference() {
        let server = Scripted::start().await;
        let (lookup, pairs) = server.dns().lookup_mx("mail.test").await;
        assert_eq!(lookup.outcome, DnsOutcome::Answered);
        assert_eq!(lookup.records, vec!["10 mx1.mail.test", "20 mx2.mail.test"]);
        assert_eq!(
            pairs,
            vec![
                (10, "mx1.mail.test".to_string()),
                (20, "mx2.mail.test".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn mx_negative_and_null() {
        let server = Scripted::start().await;
        let dns = server.dns();
        let (lookup, pairs) = dns.lookup_mx("addr.test").await;
        assert_eq!(lookup.outcome, DnsOutcome::NoRecords);
        assert!(pairs.is_empty());
        let (lookup, _) = dns.lookup_mx("nx.test").await;
        assert_eq!(lookup.outcome, DnsOutcome::NxDomain);
        let (lookup, pairs) = dns.lookup_mx("nullmx.test").await;
        assert_eq!(lookup.records, vec!["0 ."]);
        assert_eq!(pairs, vec![(0, ".".to_string())]);
    }

    #[tokio::test]
    async fn bad_name_is_an_error_without_a_query() {
        let server = Scripted::start().await;
        let dns = server.dns();
        let long_label = "a".repeat(64);
        let (a, _) = dns
            .lookup_addresses(&format!("{long_label}.test"), Family::V4)
            .await;
        assert_eq!(a.outcome, DnsOutcome::Error);
        let (a, _) = dns.lookup_addresses("  ", Family::V4).await;
        assert_eq!(a.outcome, DnsOutcome::Error);
        assert!(server.seen().is_empty());
    }

    /// A resolv.conf like the system's, pointed at the scripted server.
    fn system_like(server: &Scripted, resolv_conf: &str) -> Dns {
        let (config, opts) =
            hickory_resolver::system_conf::parse_resolv_conf(resolv_conf).expect("resolv.conf");
        let (domain, search, mut servers) = config.into_parts();
        for ns in &mut servers {
            for conn in &mut ns.connections {
                conn.port = server.addr.port();
            }
        }
        let config = ResolverConfig::from_parts(domain, search, servers);
        Dns::system(config, opts, TIMEOUT).expect("system-like resolver")
    }

    #[tokio::test]
    async fn search_domains_are_never_appended() {
        let server = Scripted::start().await;
        let dns = system_like(
            &server,
            "nameserver 127.0.0.1\nsearch example.org\noptions ndots:5 attempts:5 timeout:30\n",
        );
        assert_eq!(dns.describe(), "system (127.0.0.1)");
        let (a, aaaa) = dns.lookup_addresses("nx.test", Family::Any).await;
        assert_eq!(a.outcome, DnsOutcome::NxDomain);
        assert_eq!(aaaa.outcome, DnsOutcome::NxDomain);
        let mut seen = server.seen();
        seen.sort();
        assert_eq!(seen, vec!["nx.test. A", "nx.test. AAAA"]);
        // resolv.conf's timeout:30 and attempts:5 must not stretch a dead resolver's wait.
        let (a, _) = dns.lookup_addresses("silent.test", Family::V4).await;
        assert_eq!(a.outcome, DnsOutcome::Timeout);
        assert!(a.elapsed_ms < 2000.0, "{}", a.elapsed_ms);
    }

    #[tokio::test]
    async fn system_config_keeps_hosts_file() {
        let server = Scripted::start().await;
        let dns = system_like(&server, "nameserver 127.0.0.1\n");
        assert_ne!(dns.resolver.options().use_hosts_file, ResolveHosts::Never);
        assert_eq!(
            server.dns().resolver.options().use_hosts_file,
            ResolveHosts::Never
        );
        // "localhost" is answered by hickory itself (RFC 6761), so look for another entry.
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let entry = hosts.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let ip = words.next()?.parse::<Ipv4Addr>().ok()?;
            let host = words.find(|w| {
                !w.eq_ignore_ascii_case("localhost")
                    && w.contains(|c: char| c.is_ascii_alphabetic())
            })?;
            Some((ip, host.to_string()))
        });
        let Some((ip, host)) = entry else {
            eprintln!("no IPv4 entry besides localhost in /etc/hosts; skipping the live check");
            return;
        };
        let (a, _) = dns.lookup_addresses(&host, Family::V4).await;
        assert_eq!(a.outcome, DnsOutcome::Answered, "{host}");
        assert!(
            a.records.contains(&ip.to_string()),
            "{host}: {:?}",
            a.records
        );
        assert!(
            server.seen().iter().all(|q| !q.ends_with(" A")),
            "{:?}",
            server.seen()
        );
    }

    #[test]
    fn empty_system_config_is_no_resolver() {
        let (config, opts) =
            hickory_resolver::system_conf::parse_resolv_conf("nameserver 127.0.0.1\n")
                .expect("resolv.conf");
        let (domain, search, _) = config.into_parts();
        let empty = ResolverConfig::from_parts(domain, search, Vec::new());
        assert!(matches!(
            Dns::system(empty, opts, TIMEOUT),
            Err(DnsOutcome::NoResolver)
        ));
        assert!(hickory_resolver::system_conf::parse_resolv_conf("search example.org\n").is_err());
        assert!(!lists_name_server(""));
        assert!(!lists_name_server(
            "# nameserver 192.0.2.53\nsearch example.org\nnameserver\n"
        ));
        assert!(lists_name_server(
            "options ndots:2\n  nameserver 192.0.2.53\n"
        ));
    }

    #[test]
    fn system_resolver_builds_or_says_why_not() {
        // Building reads /etc/resolv.conf but sends nothing.
        match Dns::new(None, TIMEOUT) {
            Ok(dns) => assert!(dns.describe().starts_with("system ("), "{}", dns.describe()),
            Err(outcome) => assert_eq!(outcome, DnsOutcome::NoResolver),
        }
    }

    #[test]
    fn explicit_server_description() {
        let on_53 = Dns::new(Some("203.0.113.53:53".parse().expect("addr")), TIMEOUT);
        assert_eq!(on_53.expect("dns").describe(), "203.0.113.53");
        let other = Dns::new(Some("[2001:db8::53]:5353".parse().expect("addr")), TIMEOUT);
        assert_eq!(other.expect("dns").describe(), "[2001:db8::53]:5353");
        let huge = Dns::new(Some("127.0.0.1:53".parse().expect("addr")), Duration::MAX);
        assert!(huge.is_ok());
    }

    #[test]
    fn mx_candidate_domains() {
        assert_eq!(
            mx_candidates("smtp.gmail.com"),
            vec!["smtp.gmail.com", "gmail.com"]
        );
        assert_eq!(mx_candidates("example.com"), vec!["example.com"]);
        assert_eq!(mx_candidates("example.com."), vec!["example.com"]);
        assert_eq!(
            mx_candidates("a.b.example.org"),
            vec!["a.b.example.org", "b.example.org", "example.org"]
        );
        assert!(mx_candidates("localhost").is_empty());
        assert!(mx_candidates("com").is_empty());
        assert!(mx_candidates("").is_empty());
        assert!(mx_candidates("a..example.com").is_empty());
        assert!(mx_candidates("192.0.2.1").is_empty());
        assert!(mx_candidates("[2001:db8::1]").is_empty());
    }

    #[test]
    fn addresses_skip_junk_and_duplicates() {
        let a = DnsLookup {
            outcome: DnsOutcome::Answered,
            records: vec!["192.0.2.1".into(), "not an ip".into(), "192.0.2.1".into()],
            elapsed_ms: 1.0,
        };
        let aaaa = DnsLookup::not_asked();
        assert_eq!(addresses(&a, &aaaa), vec![IpAddr::from([192, 0, 2, 1])]);
    }

    #[test]
    fn typed_errors_map_to_outcomes() {
        assert_eq!(outcome_of(&NetError::Timeout), DnsOutcome::Timeout);
        assert_eq!(
            outcome_of(&NetError::from(io::Error::from(io::ErrorKind::TimedOut))),
            DnsOutcome::Timeout
        );
        assert_eq!(
            outcome_of(&NetError::Dns(DnsError::ResponseCode(
                ResponseCode::FormErr
            ))),
            DnsOutcome::Error
        );
        assert_eq!(outcome_of(&NetError::NoConnections), DnsOutcome::Error);
    }
}
