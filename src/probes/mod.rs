//! Runs every probe of a plan concurrently and gathers the facts into one report; nothing here prints.

pub mod budget;
mod conn;
pub mod dns;
mod envelope;
pub mod firewall;
pub mod host;
pub mod ladder;
pub mod mta;
pub mod privilege;
pub mod smtp;
mod stopped;
pub mod tcp;
pub mod tls;
pub mod tool;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;

use crate::interrupt::Stop;
use crate::plan::{Family, Plan, Target};
use crate::redact::Redactor;
use crate::report::{
    DnsLookup, DnsOutcome, DnsReport, HostFacts, NatRedirect, PortMode, PortReport, Report,
};
pub use budget::Budget;

/// Milliseconds since `since`, to the microsecond: stage times in reports read cleanly.
pub fn elapsed_ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// The port probed on MX hosts (--mx): server-to-server SMTP.
const MX_PORT: u16 = 25;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("this process may open only {soft} files (RLIMIT_NOFILE) but needs at least {needed}; raise the limit, e.g. `ulimit -n 4096`, and run again")]
    TooFewFiles { soft: u64, needed: u64 },
    #[error("{0}")]
    AsUser(#[from] privilege::DropError),
}

/// Probes everything the plan asks for; every port and address runs at the same time (within RLIMIT_NOFILE).
/// When `stop` fires, the report holds what was known by then.
pub async fn run(plan: &Plan, stop: &Stop) -> Result<Report, RunError> {
    let start = Instant::now();
    match stop
        .or(Session::start(plan, descriptors_for(plan), false))
        .await
    {
        Some(session) => Ok(session?.stop_on(stop.clone()).probe(plan).await),
        None => Ok(stopped::before_start(plan, stop, elapsed_ms(start))),
    }
}

/// Descriptors one target like `plan` would use with every chain at once: its lookups, and each port on an
/// address of each family (two more chains for MX hosts). A guess made before DNS answers: chains beyond it wait.
pub fn descriptors_for(plan: &Plan) -> u64 {
    let families = if plan.family == Family::Any { 2 } else { 1 };
    let chains = plan.ports.len().max(1) * families + if plan.mx { 2 } else { 0 };
    // One ladder's width beside: a slow connect climbs it with descriptors the budget has free.
    u64::from(budget::FDS_PER_LOOKUP)
        + chains as u64 * u64::from(budget::FDS_PER_CHAIN)
        + u64::from(ladder::LADDER_WIDTH)
}

/// What every target of one run shares: this host's facts and rules (read once, as root, before --as-user
/// switches users), the trust store, the EHLO name, the NAT table and one descriptor budget.
pub struct Session {
    host: HostFacts,
    local_addrs: Vec<IpAddr>,
    trust: tls::Trust,
    helo: String,
    rules: tokio::sync::OnceCell<Arc<firewall::HostRules>>,
    /// The rule listing still running beside the probes (it costs no wall time of its own), until the first target awaits it.
    listing: std::sync::Mutex<Option<tokio::task::JoinHandle<firewall::HostRules>>>,
    nat: tokio::sync::Mutex<NatTable>,
    budget: Budget,
    /// What chains tell each other about paths: ports that connected, and the routers' ICMP budget.
    paths: Arc<ladder::Paths>,
    /// Several targets read one NAT table: each report keeps only the entries of its own addresses.
    shared: bool,
    /// Ctrl-C or SIGTERM: every target's probes stop where they are and report what they know.
    stop: Stop,
}

/// /proc/net/nf_conntrack, opened while root, and the redirects last read from it.
struct NatTable {
    file: Option<std::fs::File>,
    last: Option<(Instant, Arc<Vec<NatRedirect>>)>,
}

impl Session {
    /// Reads this host once, switches to --as-user's account if asked, and sizes the budget for `wanted` descriptors.
    /// `plan` gives the options every target shares (timeout, trust, EHLO name, --as-user).
    pub async fn start(plan: &Plan, wanted: u64, shared: bool) -> Result<Session, RunError> {
        // First: a limit too low for even one chain is said before anything is read or started.
        let budget = Budget::within_limit(wanted)?;
        Session::with_budget(plan, budget, shared).await
    }

    /// `start`, drawing on a budget that already exists (and may be shared beyond this session).
    pub async fn with_budget(
        plan: &Plan,
        budget: Budget,
        shared: bool,
    ) -> Result<Session, RunError> {
        let mut host = host::gather();
        // Root only, and read after the probes: opened now, while this process may still be root.
        let conntrack = firewall::open_conntrack();
        let listing = tokio::spawn({
            let timeout = plan.timeout;
            async move { firewall::read_rules(timeout).await }
        });
        let local_addrs = host::local_addresses();
        let trust = tls::Trust::load(&plan.extra_roots);
        // --as-user: the listing needs root, and every probe socket (the resolver's included) must be the
        // user's own, because owner-matching rules judge a packet by the socket that sent it. So the
        // listing is awaited first, then root is given up, and only then does anything touch the network.
        let (rules, listing) = match &plan.as_user {
            Some(user) => {
                let read = listing.await.unwrap_or_default();
                privilege::drop_to(user)?;
                (tokio::sync::OnceCell::new_with(Some(Arc::new(read))), None)
            }
            None => (tokio::sync::OnceCell::new(), Some(listing)),
        };
        host.user = privilege::current_user(plan.as_user.as_ref());
        Ok(Session {
            host,
            local_addrs,
            trust,
            helo: plan.helo.clone().unwrap_or_else(host::ehlo_name),
            rules,
            listing: std::sync::Mutex::new(listing),
            nat: tokio::sync::Mutex::new(NatTable {
                file: conntrack,
                last: None,
            }),
            budget,
            paths: ladder::shared(),
            shared,
            stop: Stop::never(),
        })
    }

    /// The session, its probes stopped when `stop` fires.
    pub fn stop_on(self, stop: Stop) -> Session {
        Session { stop, ..self }
    }

    /// The descriptor budget every target draws on.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// This host's rules, read once for every target.
    async fn rules(&self) -> Arc<firewall::HostRules> {
        self.rules
            .get_or_init(|| async {
                let handle = self.listing.lock().ok().and_then(|mut h| h.take());
                match handle {
                    Some(h) => Arc::new(h.await.unwrap_or_default()),
                    None => Arc::default(),
                }
            })
            .await
            .clone()
    }

    /// The NAT table's redirects on `ports` as they are after `since`: one read serves every target that finished
    /// before it began, so a thousand targets do not read the table a thousand times.
    async fn redirects(&self, since: Instant, ports: &[u16], addrs: &[IpAddr]) -> Vec<NatRedirect> {
        let mut nat = self.nat.lock().await;
        let snapshot = match &nat.last {
            Some((at, read)) if *at >= since => read.clone(),
            _ => {
                let at = Instant::now();
                let Some(file) = nat.file.as_mut() else {
                    return Vec::new();
                };
                let read = Arc::new(firewall::read_redirects(file));
                nat.last = Some((at, read.clone()));
                read
            }
        };
        snapshot
            .iter()
            .filter(|r| ports.contains(&r.original_port))
            .filter(|r| !self.shared || addrs.contains(&r.original_destination))
            .cloned()
            .collect()
    }

    /// Probes one target; every port and address at the same time, within the shared budget.
    pub async fn probe(&self, plan: &Plan) -> Report {
        let start = Instant::now();
        let mut host = self.host.clone();
        let probed_ports: Vec<u16> = plan
            .ports
            .iter()
            .map(|(p, _)| *p)
            .chain(plan.mx.then_some(MX_PORT))
            .collect();
        let redactor = plan
            .credentials
            .as_ref()
            .map(|c| Redactor::new(&c.user, c.password()))
            .unwrap_or_else(Redactor::none);

        // Settings whose host could not be made into a name leave nothing to resolve or probe.
        let (dns_report, addresses, dns) = if plan.ports.is_empty() && plan.settings.is_some() {
            (DnsReport::not_queried(), Vec::new(), None)
        } else {
            let lookups = async {
                let _permit = self.budget.lookup().await;
                resolve_target(plan).await
            };
            match self.stop.or(lookups).await {
                Some(resolved) => resolved,
                None => (stopped::dns(plan, elapsed_ms(start)), Vec::new(), None),
            }
        };
        let settings = plan.settings.clone().map(|mut s| {
            // The app's host is this machine: whether anything listens is then the probe's to tell.
            s.host_is_local = addresses
                .iter()
                .any(|a| a.is_loopback() || self.local_addrs.contains(a));
            s
        });

        // One chain per (host, port, address); MX hosts join with port 25 when --mx is given.
        // `check example.com --mx` names a mail domain, not a host: with no address of its own, only its MX hosts are probed.
        let domain_only = plan.mx && addresses.is_empty() && !dns_report.mx.is_empty();
        let mut targets: Vec<(String, u16, PortMode, Vec<IpAddr>)> = if domain_only {
            Vec::new()
        } else {
            plan.ports
                .iter()
                .map(|&(port, mode)| (plan.target.to_string(), port, mode, addresses.clone()))
                .collect()
        };
        // MX hosts not looked up when a signal came are left out: stages not reached stay absent.
        let mut mx_cut = false;
        if plan.mx {
            if let Some(dns) = &dns {
                let _permit = self.budget.lookup().await;
                for record in &dns_report.mx {
                    let lookup = dns.lookup_addresses(&record.host, plan.family);
                    let Some((a, aaaa)) = self.stop.or(lookup).await else {
                        mx_cut = true;
                        break;
                    };
                    let addrs = dns::addresses(&a, &aaaa);
                    targets.push((record.host.clone(), MX_PORT, PortMode::Starttls, addrs));
                }
            }
        }

        let base = smtp::Ctx {
            server_name: ServerName::try_from("invalid.invalid")
                .map(|n| n.to_owned())
                .unwrap_or(ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into())),
            helo: self.helo.clone(),
            timeout: plan.timeout,
            credentials: plan.credentials.clone(),
            redactor,
            trust: self.trust.clone(),
            accept_invalid_certs: plan.accept_invalid_certs,
            allow_cleartext_auth: plan.allow_cleartext_auth,
            local_addrs: self.local_addrs.clone(),
            paths: self.paths.clone(),
            budget: Some(self.budget.clone()),
            envelope: plan
                .envelope
                .clone()
                .map(|e| std::sync::Arc::new(envelope::Shared::new(e))),
            stop: self.stop.clone(),
        };
        let mut tasks = Vec::new();
        for (host_name, port, mode, addrs) in &targets {
            let mut ctx = base.clone();
            ctx.server_name = server_name_for(host_name);
            let ctx = Arc::new(ctx);
            let handles: Vec<_> = addrs
                .iter()
                .filter(|ip| plan.family.allows(ip))
                .map(|&ip| {
                    let ctx = ctx.clone();
                    let mode = *mode;
                    let port = *port;
                    let budget = self.budget.clone();
                    tokio::spawn(async move {
                        let _permit = budget.chain().await;
                        smtp::probe(&ctx, SocketAddr::new(ip, port), mode).await
                    })
                })
                .collect();
            tasks.push((host_name.clone(), *port, *mode, handles));
        }
        let mut ports = Vec::new();
        for (host_name, port, mode, handles) in tasks {
            let mut attempts = Vec::new();
            for h in handles {
                if let Ok(a) = h.await {
                    attempts.push(a);
                }
            }
            ports.push(PortReport {
                host: host_name,
                port,
                mode,
                attempts,
            });
        }
        let probed_at = Instant::now();

        let rules = self.rules().await;
        host.firewall = Some(rules.facts.clone());
        // Read after the probes: their own connections are what the NAT table shows.
        let probed_addrs: Vec<IpAddr> = targets
            .iter()
            .flat_map(|(_, _, _, addrs)| addrs.iter().copied())
            .collect();
        host.nat_redirects = self
            .redirects(probed_at, &probed_ports, &probed_addrs)
            .await;
        let mut report = Report {
            target: plan.target.to_string(),
            invocation: plan.invocation.clone(),
            host,
            dns: dns_report,
            ports,
            tls_verification: !plan.accept_invalid_certs,
            elapsed_ms: 0.0,
            settings,
            interrupted: None,
        };
        // Interrupted only when the signal cut something of this target's: one that had finished stays whole.
        if mx_cut || stopped::cut_short(&report) {
            report.interrupted = self.stop.signal();
        }
        firewall::walk_attempts(&rules, &mut report, &self.local_addrs);
        report.elapsed_ms = elapsed_ms(start);
        report
    }
}

fn server_name_for(host: &str) -> ServerName<'static> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ServerName::IpAddress(ip.into());
    }
    ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into()))
}

/// Resolves the target (or takes its IP literal) and looks up the MX records of its domain.
async fn resolve_target(plan: &Plan) -> (DnsReport, Vec<IpAddr>, Option<dns::Dns>) {
    let name = match &plan.target {
        Target::Ip(ip) => {
            let report = DnsReport::not_queried();
            return (report, vec![*ip], None);
        }
        Target::Name(n) => n.clone(),
    };
    let server = plan.resolver.map(|ip| SocketAddr::new(ip, 53));
    let dns = match dns::Dns::new(server, plan.timeout) {
        Ok(d) => d,
        Err(outcome) => {
            let failed = DnsLookup {
                outcome,
                records: Vec::new(),
                elapsed_ms: 0.0,
            };
            let (a, aaaa) = match plan.family {
                Family::V4 => (failed, DnsLookup::not_asked()),
                Family::V6 => (DnsLookup::not_asked(), failed),
                Family::Any => (failed.clone(), failed),
            };
            let report = DnsReport {
                queried: true,
                resolver: server
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "system".into()),
                a,
                aaaa,
                mx_domain: None,
                mx: Vec::new(),
                mx_lookup: DnsLookup::not_asked(),
                resolver_checks: Vec::new(),
            };
            return (report, Vec::new(), None);
        }
    };
    let (a, aaaa, mx_domain, mx_lookup, mx_records, addresses, resolver_checks) = {
        let addrs_fut = dns.lookup_addresses(&name, plan.family);
        let mx_fut = async {
            let mut last = (None, DnsLookup::not_asked(), Vec::new());
            for candidate in dns::mx_candidates(&name) {
                let (lookup, records) = dns.lookup_mx(&candidate).await;
                let answered = lookup.outcome == DnsOutcome::Answered;
                last = (Some(candidate), lookup, records);
                // Stop at the first answer, and at a dead resolver: asking the parent would only wait again.
                if answered || lookup_is_transport_failure(&last.1) {
                    break;
                }
            }
            last
        };
        // Each name server is asked directly at the same time as the lookups: when none of them answers a plain
        // question within --timeout (or each refuses it at once), and the lookups have had no answer either, the
        // resolver is dead and waiting for the lookups' retry would only cost time. A server that answers lets the
        // lookups run their course (the name's own servers may be the slow ones).
        let servers: Vec<SocketAddr> = dns.servers().iter().take(3).copied().collect();
        let limit = plan.timeout;
        let started = Instant::now();
        let checks = async {
            let mut out = Vec::new();
            let asks: Vec<_> = servers
                .iter()
                .map(|&s| tokio::spawn(dns::check_server(s, limit)))
                .collect();
            for ask in asks {
                if let Ok(c) = ask.await {
                    out.push(c);
                }
            }
            out
        };
        let lookups = async { tokio::join!(addrs_fut, mx_fut) };
        tokio::pin!(lookups);
        tokio::pin!(checks);
        let mut check_results: Option<Vec<crate::report::ResolverCheck>> = None;
        let finished = loop {
            tokio::select! {
                done = &mut lookups => break Some(done),
                c = &mut checks, if check_results.is_none() => {
                    use crate::report::ResolverReach as R;
                    let dead = !c.is_empty() && c.iter().all(|r| r.outcome != R::Answers);
                    // An ICMP error or this host's refusal for every server is an answer already: no wait.
                    let refused = !c.is_empty()
                        && c.iter().all(|r| {
                            matches!(r.outcome, R::PortUnreachable | R::BlockedHere | R::Unreachable)
                        });
                    check_results = Some(c);
                    if dead {
                        let until = if refused {
                            tokio::time::Instant::now()
                        } else {
                            tokio::time::Instant::from_std(started + plan.timeout)
                        };
                        match tokio::time::timeout_at(until, &mut lookups).await {
                            Ok(done) => break Some(done),
                            Err(_) => break None,
                        }
                    }
                }
            }
        };
        let ((a, aaaa), (mx_domain, mx_lookup, mx_records)) = match finished {
            Some(done) => done,
            None => {
                // Given up on at --timeout: nothing answered, and no name server answers a plain question.
                let waited = elapsed_ms(started);
                let gone = || DnsLookup {
                    outcome: DnsOutcome::Timeout,
                    records: Vec::new(),
                    elapsed_ms: waited,
                };
                let (a, aaaa) = match plan.family {
                    Family::V4 => (gone(), DnsLookup::not_asked()),
                    Family::V6 => (DnsLookup::not_asked(), gone()),
                    Family::Any => (gone(), gone()),
                };
                let mx_domain = dns::mx_candidates(&name).into_iter().next();
                let mx_lookup = if mx_domain.is_some() {
                    gone()
                } else {
                    DnsLookup::not_asked()
                };
                ((a, aaaa), (mx_domain, mx_lookup, Vec::new()))
            }
        };
        let addresses = dns::addresses(&a, &aaaa);
        let failed = [&a, &aaaa]
            .iter()
            .any(|l| matches!(l.outcome, DnsOutcome::Timeout | DnsOutcome::Error));
        let resolver_checks = match (failed, check_results) {
            (false, _) => Vec::new(),
            (true, Some(c)) => c,
            // The lookups failed before the checks ended (a refusal at once): their answer is near too.
            (true, None) => checks.await,
        };
        (
            a,
            aaaa,
            mx_domain,
            mx_lookup,
            mx_records,
            addresses,
            resolver_checks,
        )
    };
    let report = DnsReport {
        queried: true,
        resolver: dns.describe(),
        a,
        aaaa,
        mx_domain,
        mx: mx_records
            .into_iter()
            .map(|(preference, host)| crate::report::MxRecord { preference, host })
            .collect(),
        mx_lookup,
        resolver_checks,
    };
    (report, addresses, Some(dns))
}

fn lookup_is_transport_failure(l: &DnsLookup) -> bool {
    matches!(l.outcome, DnsOutcome::Timeout | DnsOutcome::NoResolver)
}
