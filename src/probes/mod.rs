//! Runs every probe of a plan concurrently and gathers the facts into one report; nothing here prints.

mod conn;
pub mod dns;
mod envelope;
pub mod firewall;
pub mod host;
pub mod mta;
pub mod privilege;
pub mod smtp;
pub mod tcp;
pub mod tls;
pub mod tool;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;

use crate::plan::{Family, Plan, Target};
use crate::redact::Redactor;
use crate::report::{DnsLookup, DnsOutcome, DnsReport, PortMode, PortReport, Report};

/// Milliseconds since `since`, to the microsecond: stage times in reports read cleanly.
pub fn elapsed_ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// The port probed on MX hosts (--mx): server-to-server SMTP.
const MX_PORT: u16 = 25;

/// Descriptors one chain may hold at once: its socket and the TTL-limited path probes, each with a duplicate.
const FDS_PER_CHAIN: u64 = 2 * (1 + smtp::PATH_TTLS.len() as u64);
/// Descriptors kept for everything else: stdio, the runtime, the resolver, rule listings.
const FD_RESERVE: u64 = 64;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("this process may open only {soft} files (RLIMIT_NOFILE) but needs at least {needed}; raise the limit, e.g. `ulimit -n 4096`, and run again")]
    TooFewFiles { soft: u64, needed: u64 },
    #[error("{0}")]
    AsUser(#[from] privilege::DropError),
}

/// This host's rule listing: still running beside the probes, or read already because --as-user gave root up.
enum Rules {
    Running(tokio::task::JoinHandle<firewall::HostRules>),
    Read(firewall::HostRules),
}

impl Rules {
    async fn get(self) -> firewall::HostRules {
        match self {
            Rules::Running(handle) => handle.await.unwrap_or_default(),
            Rules::Read(rules) => rules,
        }
    }
}

/// How many chains may run at once within RLIMIT_NOFILE, keeping `reserve` descriptors for everything else, raising
/// the soft limit towards the hard one if needed.
fn chain_slots(chains: usize, reserve: u64) -> Result<usize, RunError> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = chains as u64 * FDS_PER_CHAIN + reserve;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(chains.max(1));
    };
    let mut soft = soft;
    if soft < wanted {
        let raised = wanted.min(hard);
        if setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() {
            soft = raised;
        }
    }
    if soft < reserve + FDS_PER_CHAIN {
        return Err(RunError::TooFewFiles {
            soft,
            needed: reserve + FDS_PER_CHAIN,
        });
    }
    Ok((((soft - reserve) / FDS_PER_CHAIN) as usize).clamp(1, chains.max(1)))
}

/// Chain slots within RLIMIT_NOFILE, shared by every run that holds a clone: runs at the same time (the
/// exporter's concurrent probes) then draw on one descriptor budget instead of each assuming it has them all.
#[derive(Debug, Clone)]
pub struct Budget {
    slots: Arc<tokio::sync::Semaphore>,
    size: usize,
}

impl Budget {
    /// Room for `chains` chains at once (fewer when RLIMIT_NOFILE cannot be raised that far), keeping `reserve`
    /// descriptors besides the usual one for what is not a chain (listening sockets, client connections).
    pub fn for_chains(chains: usize, reserve: u64) -> Result<Budget, RunError> {
        let size = chain_slots(chains, FD_RESERVE.saturating_add(reserve))?;
        Ok(Budget {
            slots: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
        })
    }

    /// How many chains may run at once.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// Probes everything the plan asks for; every port and address runs at the same time (within RLIMIT_NOFILE).
pub async fn run(plan: &Plan) -> Result<Report, RunError> {
    run_within(plan, None).await
}

/// `run`, drawing its chains from `budget` when given (shared with other runs) instead of a budget of its own.
pub async fn run_within(plan: &Plan, budget: Option<&Budget>) -> Result<Report, RunError> {
    let start = Instant::now();
    let mut host = host::gather();
    let probed_ports: Vec<u16> = plan
        .ports
        .iter()
        .map(|(p, _)| *p)
        .chain(plan.mx.then_some(MX_PORT))
        .collect();
    // Root only, and read after the probes: opened now, while this process may still be root.
    let mut conntrack = firewall::open_conntrack();
    // The rule listing runs beside DNS and the probes; it costs no wall time of its own.
    let rules = tokio::spawn({
        let timeout = plan.timeout;
        async move { firewall::read_rules(timeout).await }
    });
    let local_addrs = host::local_addresses();
    let trust = tls::Trust::load(&plan.extra_roots);
    let redactor = plan
        .credentials
        .as_ref()
        .map(|c| Redactor::new(&c.user, c.password()))
        .unwrap_or_else(Redactor::none);

    // --as-user: the listing needs root, and every probe socket (the resolver's included) must be the
    // user's own, because owner-matching rules judge a packet by the socket that sent it. So the
    // listing is awaited first, then root is given up, and only then does anything touch the network.
    let rules = match &plan.as_user {
        Some(user) => {
            let read = rules.await.unwrap_or_default();
            privilege::drop_to(user)?;
            Rules::Read(read)
        }
        None => Rules::Running(rules),
    };
    host.user = privilege::current_user(plan.as_user.as_ref());

    // Settings whose host could not be made into a name leave nothing to resolve or probe.
    let (dns_report, addresses, dns) = if plan.ports.is_empty() && plan.settings.is_some() {
        (DnsReport::not_queried(), Vec::new(), None)
    } else {
        resolve_target(plan).await
    };
    let settings = plan.settings.clone().map(|mut s| {
        // The app's host is this machine: whether anything listens is then the probe's to tell.
        s.host_is_local = addresses
            .iter()
            .any(|a| a.is_loopback() || local_addrs.contains(a));
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
    if plan.mx {
        if let Some(dns) = &dns {
            for record in &dns_report.mx {
                let (a, aaaa) = dns.lookup_addresses(&record.host, plan.family).await;
                let addrs = dns::addresses(&a, &aaaa);
                targets.push((record.host.clone(), MX_PORT, PortMode::Starttls, addrs));
            }
        }
    }

    let base = smtp::Ctx {
        server_name: ServerName::try_from("invalid.invalid")
            .map(|n| n.to_owned())
            .unwrap_or(ServerName::IpAddress(IpAddr::from([0, 0, 0, 0]).into())),
        helo: plan.helo.clone().unwrap_or_else(host::ehlo_name),
        timeout: plan.timeout,
        credentials: plan.credentials.clone(),
        redactor,
        trust,
        accept_invalid_certs: plan.accept_invalid_certs,
        allow_cleartext_auth: plan.allow_cleartext_auth,
        local_addrs: local_addrs.clone(),
        envelope: plan
            .envelope
            .clone()
            .map(|e| std::sync::Arc::new(envelope::Shared::new(e))),
    };
    let chains: usize = targets
        .iter()
        .map(|(_, _, _, addrs)| addrs.iter().filter(|ip| plan.family.allows(ip)).count())
        .sum();
    let slots = match budget {
        Some(b) => b.slots.clone(),
        None => Arc::new(tokio::sync::Semaphore::new(chain_slots(
            chains, FD_RESERVE,
        )?)),
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
                let slots = slots.clone();
                tokio::spawn(async move {
                    // The semaphore is never closed, so acquire only fails if it were; run unthrottled then.
                    let _permit = slots.acquire_owned().await.ok();
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

    let rules = rules.get().await;
    host.firewall = Some(rules.facts.clone());
    // Read after the probes: their own connections are what the NAT table shows.
    host.nat_redirects = conntrack
        .as_mut()
        .map(|file| firewall::read_redirects(file, &probed_ports))
        .unwrap_or_default();
    let mut report = Report {
        target: plan.target.to_string(),
        invocation: plan.invocation.clone(),
        host,
        dns: dns_report,
        ports,
        tls_verification: !plan.accept_invalid_certs,
        elapsed_ms: 0.0,
        settings,
    };
    firewall::walk_attempts(&rules, &mut report, &local_addrs);
    report.elapsed_ms = elapsed_ms(start);
    Ok(report)
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
    // A lookup still running after one timeout is failing; asking each server directly meanwhile says whether
    // it is dead, refusing or blocked here, at no extra wall time. Fast failures (EPERM) get the check after.
    let servers: Vec<SocketAddr> = dns.servers().iter().take(3).copied().collect();
    let limit = plan.timeout.min(std::time::Duration::from_secs(2));
    let check_all = |servers: Vec<SocketAddr>| async move {
        let mut out = Vec::new();
        for server in servers {
            out.push(dns::check_server(server, limit).await);
        }
        out
    };
    let (((a, aaaa), (mx_domain, mx_lookup, mx_records)), early_checks) = {
        let lookups = async { tokio::join!(addrs_fut, mx_fut) };
        tokio::pin!(lookups);
        tokio::select! {
            done = &mut lookups => (done, None),
            _ = tokio::time::sleep(plan.timeout) => {
                let (done, checks) = tokio::join!(&mut lookups, check_all(servers.clone()));
                (done, Some(checks))
            }
        }
    };
    let addresses = dns::addresses(&a, &aaaa);
    let failed = [&a, &aaaa]
        .iter()
        .any(|l| matches!(l.outcome, DnsOutcome::Timeout | DnsOutcome::Error));
    let resolver_checks = match (failed, early_checks) {
        (false, _) => Vec::new(),
        (true, Some(c)) => c,
        (true, None) => check_all(servers).await,
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
