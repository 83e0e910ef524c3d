//! One probe chain against one address: connect, greeting, EHLO, TLS, EHLO again, AUTH, QUIT — each stage timed and recorded.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials as LettreCredentials, Mechanism};
use lettre::transport::smtp::commands::{Auth, Ehlo, Quit, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension};
use lettre::transport::smtp::response::Response;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::{note, push_line, reply_facts, Conn};
use super::envelope;
use crate::plan::Credentials;
use crate::probes::elapsed_ms;
use crate::probes::tls::{self, Trust};
use crate::probes::wire::{self, Reply};
use crate::probes::{ladder, tcp, Budget};
use crate::redact::{Redactor, MARK};
use crate::report::{
    Attempt, AuthFacts, AuthOutcome, ConnectFacts, ConnectOutcome, ControlLadder, EhloFacts,
    HandshakeError, HopFacts, HopOutcome, PathFacts, PathReading, PortMode, ReplyFacts,
    ReplyOutcome, Stage, StageName, StageStatus, TlsFacts, TlsOutcome,
};

/// How long a port stays silent before a TLS handshake is tried on a second connection, beside the wait for its
/// greeting (on a port of unknown mode and on a STARTTLS port alike).
const TLS_TRY_AFTER: Duration = Duration::from_millis(1500);

/// What every chain of one run shares.
#[derive(Clone)]
pub struct Ctx {
    pub server_name: ServerName<'static>,
    pub helo: String,
    pub timeout: Duration,
    pub credentials: Option<Credentials>,
    pub redactor: Redactor,
    pub trust: Trust,
    pub accept_invalid_certs: bool,
    pub allow_cleartext_auth: bool,
    pub local_addrs: Vec<IpAddr>,
    /// What the chains of a run tell each other about paths (ports that connected, routers' ICMP budget).
    pub paths: std::sync::Arc<ladder::Paths>,
    /// The run's descriptor budget, which a TTL ladder draws its extra SYNs from (None: unbounded, in tests).
    pub budget: Option<Budget>,
    /// --from/--to/--send, shared by every chain of the run.
    pub envelope: Option<std::sync::Arc<envelope::Shared>>,
    /// Ctrl-C or SIGTERM: the chain stops where it is, and its running stage is marked interrupted.
    pub stop: crate::interrupt::Stop,
}

/// Runs the whole chain against one address and port; never fails, every problem becomes a fact.
pub async fn probe(ctx: &Ctx, addr: SocketAddr, mode: PortMode) -> Attempt {
    let mut a = Attempt::new(addr.ip());
    let began = Instant::now();
    if ctx.stop.or(chain(ctx, addr, mode, &mut a)).await.is_none() {
        super::stopped::mark(&mut a, ctx, mode, began);
    }
    a
}

async fn chain(ctx: &Ctx, addr: SocketAddr, mode: PortMode, a: &mut Attempt) {
    let Some(stream) = connect_stage(ctx, addr, a).await else {
        return;
    };
    let hop1 = first_hop_check(ctx, addr);
    let conn = Conn::new(stream, ctx);
    match mode {
        PortMode::Implicit => implicit_chain(ctx, conn, a).await,
        PortMode::Starttls | PortMode::Detect => greeting_or_tls(ctx, addr, conn, a).await,
    }
    if let Some((sent, check)) = hop1 {
        // Its answer usually came long ago; a first router that stays silent costs at most a moment more.
        let grace = (sent + FIRST_HOP_WAIT).saturating_duration_since(Instant::now());
        let grace = grace.min(Duration::from_millis(100));
        if let Ok(Ok(hop)) = tokio::time::timeout(grace, check).await {
            if hop.outcome != HopOutcome::Silent {
                note(
                    a,
                    format!("first-hop check: {}", rungs(std::slice::from_ref(&hop))),
                );
                let answered_for_server = hop.reached() && !hop.here;
                let mut path = PathFacts::single(hop, false);
                if answered_for_server {
                    // Something within one hop answered for a server further away: the first router's own answer
                    // to another port at TTL 1 says who sits there, even when its ICMP budget was spent a moment ago.
                    if let Some(control) = first_router(ctx, addr).await {
                        note(
                            a,
                            format!(
                                "first-hop check of port {}: {}",
                                control.port,
                                rungs(&control.hops)
                            ),
                        );
                        path.control.push(control);
                    }
                }
                a.path = Some(path);
            }
        }
    }
}

/// TTL-1 SYNs to a control port of `addr`, one a little over a second apart (a router's ICMP budget grows by one
/// a second), until the first router answers "time exceeded": at most three, within --timeout.
async fn first_router(ctx: &Ctx, addr: SocketAddr) -> Option<ControlLadder> {
    let (port, connected_in_run) = ladder::controls_for(&ctx.paths, addr).into_iter().next()?;
    let control = SocketAddr::new(addr.ip(), port);
    let start = Instant::now();
    let deadline = start + ctx.timeout;
    let mut hops = Vec::new();
    for i in 0..FIRST_ROUTER_TRIES {
        let at = start + FIRST_ROUTER_GAP * i as u32;
        if at >= deadline {
            break;
        }
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        // Under one retransmission timeout: an answer to the kernel's second SYN would be another moment's.
        let wait = deadline
            .min(at + FIRST_ROUTER_GAP)
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(900));
        let hop = tcp::hop(control, 1, wait, &ctx.local_addrs).await;
        let answered = hop.outcome == HopOutcome::TimeExceeded;
        hops.push(hop);
        if answered {
            break;
        }
    }
    Some(ControlLadder {
        port,
        connected_in_run,
        hops,
    })
}

const FIRST_ROUTER_TRIES: usize = 3;
const FIRST_ROUTER_GAP: Duration = Duration::from_millis(1100);

/// The most a refused connect's ladders may add to it: a RST is placed within a few round trips once the control
/// has reached the server; a control port that never answers leaves it where it was.
const REFUSAL_LADDER: Duration = Duration::from_secs(1);

/// How long the first-hop check of a connection waits for its answer.
const FIRST_HOP_WAIT: Duration = Duration::from_millis(900);

/// A connection made to a server that is not on a directly attached network: one SYN with TTL 1 to the same
/// port, in the background, says whether the connection's other end is within one hop (a SYN-ACK where a
/// first router should say "time exceeded": this host or that router answers for the server).
fn first_hop_check(
    ctx: &Ctx,
    addr: SocketAddr,
) -> Option<(Instant, tokio::task::JoinHandle<HopFacts>)> {
    let remote = !addr.ip().is_loopback() && !ctx.local_addrs.contains(&addr.ip());
    if !remote || crate::probes::host::on_link(&addr.ip()) {
        return None;
    }
    // The first router's ICMP budget is shared with every ladder of the run: no check rather than a silenced one.
    if !ctx.paths.take_icmp(addr.is_ipv6(), 1, Instant::now()) {
        return None;
    }
    let locals = ctx.local_addrs.clone();
    let check = tokio::spawn(async move { tcp::hop(addr, 1, FIRST_HOP_WAIT, &locals).await });
    Some((Instant::now(), check))
}

async fn connect_stage(ctx: &Ctx, addr: SocketAddr, a: &mut Attempt) -> Option<TcpStream> {
    let start = Instant::now();
    let deadline = start + ctx.timeout;
    let main = tcp::connect(addr, None, ctx.timeout, &ctx.local_addrs);
    tokio::pin!(main);
    // A connect that is not done promptly climbs the TTL ladders beside it; whichever decides first ends the wait.
    let ((facts, stream), path) = tokio::select! {
        r = &mut main => (r, None),
        _ = patience(ctx, addr, start) => {
            let climb = ladder::Climb {
                target: addr,
                controls: ladder::controls_for(&ctx.paths, addr),
                deadline,
                local_addrs: &ctx.local_addrs,
                paths: &ctx.paths,
                budget: ctx.budget.as_ref(),
            }
            .run();
            tokio::pin!(climb);
            tokio::select! {
                r = &mut main => {
                    // A connect that ran out of time keeps what the ladders learnt: they end by the same deadline.
                    let path = if r.0.outcome == ConnectOutcome::TimedOut {
                        Some((&mut climb).await)
                    } else {
                        None
                    };
                    (r, path)
                }
                path = &mut climb => {
                    let reading = path.read();
                    if reading.decided() && !matches!(reading, PathReading::Reached { .. }) {
                        // Certain (see PathFacts::read): no SYN-ACK will come, so waiting on would only cost time.
                        (cut_short(start), Some(path))
                    } else {
                        // The SYN got through, or nothing is certain: --timeout stays the bound.
                        (main.await, Some(path))
                    }
                }
            }
        }
    };
    let on_link = crate::probes::host::on_link(&addr.ip());
    let remote = !addr.ip().is_loopback() && !ctx.local_addrs.contains(&addr.ip());
    let path = match (path, facts.outcome) {
        // A RST from a server routers away: the ladders tell whether it came from the server's distance or
        // from a hop on the way that answers for it (a provider's filter, or a local REJECT at TTL 1).
        (None, ConnectOutcome::Refused) if facts.icmp.is_none() && remote && !on_link => {
            let climb = ladder::Climb {
                target: addr,
                controls: ladder::controls_for(&ctx.paths, addr),
                deadline: Instant::now() + ctx.timeout.min(REFUSAL_LADDER),
                local_addrs: &ctx.local_addrs,
                paths: &ctx.paths,
                budget: ctx.budget.as_ref(),
            };
            Some(climb.run().await)
        }
        // Any other fast refusal: one SYN with TTL 1 tells whether it came from beyond the first router
        // (time exceeded) or from this host itself.
        (
            None,
            ConnectOutcome::Refused
            | ConnectOutcome::HostUnreachable
            | ConnectOutcome::PermissionDenied,
        ) => {
            let wait = ctx.timeout.min(Duration::from_secs(2));
            let hop = tcp::hop(addr, 1, wait, &ctx.local_addrs).await;
            Some(PathFacts::single(hop, on_link))
        }
        (p, _) => p,
    };
    // ECONNRESET only ends an established connection (a reset during the handshake is ECONNREFUSED): the
    // server accepted, then reset before the connect was seen to finish. A slightly slower connect sees
    // the same server reset the greeting read; record it that way, so the verdict does not depend on the
    // race (it would be a failed connect, the network layer).
    let mut facts = facts;
    let reset_at_once =
        facts.outcome == ConnectOutcome::Other && facts.errno == Some(libc::ECONNRESET);
    if reset_at_once {
        facts.outcome = ConnectOutcome::Connected;
    }
    // The other end in this host's own socket table: something here answered for a remote address.
    if let (Some(s), true) = (&stream, remote) {
        facts.answered_here = s.local_addr().is_ok_and(tcp::peer_is_here);
    }
    ctx.paths
        .note_connect(addr, facts.outcome, facts.elapsed_ms);
    let (status, detail) = match facts.outcome {
        ConnectOutcome::Connected => (StageStatus::Ok, format!("connected to {}", fmt_addr(addr))),
        other => {
            let mut d = if facts.cut_short {
                format!(
                    "no answer after {:.1}s; stopped waiting: the TTL-limited SYNs decided",
                    facts.elapsed_ms / 1000.0
                )
            } else {
                connect_detail(other, facts.errno, ctx.timeout)
            };
            if let Some(i) = &facts.icmp {
                let from = i.offender.map(|o| format!(" from {o}")).unwrap_or_default();
                d.push_str(&format!(
                    "; ICMP {}{from}",
                    icmp_words(i.icmp_type, i.icmp_code, addr.is_ipv6())
                ));
            }
            (StageStatus::Failed, d)
        }
    };
    stage(a, StageName::Connect, status, facts.elapsed_ms, detail);
    a.connect = facts;
    if let Some(p) = &path {
        for line in path_notes(p, addr) {
            note(a, line);
        }
    }
    a.path = path;
    if reset_at_once {
        let errno = vec![format!("errno {}", libc::ECONNRESET)];
        let greeting = reply_facts(ReplyOutcome::Error, 0.0, errno);
        note(a, crate::report::ReplyFacts::describe(&greeting));
        record_greeting(a, greeting);
    }
    stream
}

/// The facts of a connect given up on because the ladders decided.
fn cut_short(start: Instant) -> (ConnectFacts, Option<TcpStream>) {
    (
        ConnectFacts {
            outcome: ConnectOutcome::TimedOut,
            errno: None,
            elapsed_ms: elapsed_ms(start),
            local_port: None,
            icmp: None,
            cut_short: true,
            answered_here: false,
        },
        None,
    )
}

/// Resolves when the connect started at `start` is no longer prompt: after a twentieth of --timeout (between
/// 150 and 500 ms), or sooner once another port of the same address has connected and four of its connect
/// times have passed.
async fn patience(ctx: &Ctx, addr: SocketAddr, start: Instant) {
    let most = (ctx.timeout / 20).clamp(Duration::from_millis(150), Duration::from_millis(500));
    loop {
        let waited = start.elapsed();
        let sibling = ctx
            .paths
            .connected(addr.ip())
            .into_iter()
            .filter(|(p, _)| *p != addr.port())
            .map(|(_, ms)| ms)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let enough = sibling.map_or(most, |ms| {
            Duration::from_secs_f64(4.0 * ms / 1e3)
                .max(Duration::from_millis(50))
                .min(most)
        });
        if waited >= enough {
            return;
        }
        tokio::time::sleep((enough - waited).min(Duration::from_millis(10))).await;
    }
}

/// The ladders in a few lines: each TTL's answers to the probed port and to the control.
fn path_notes(p: &PathFacts, addr: SocketAddr) -> Vec<String> {
    let mut out = vec![format!(
        "path probe port {}: {}",
        addr.port(),
        rungs(&p.hops)
    )];
    for c in &p.control {
        out.push(format!(
            "path probe control port {}: {}",
            c.port,
            rungs(&c.hops)
        ));
    }
    if let Some(s) = &p.summary {
        out.push(format!(
            "path: server at ttl {}, ladders part at ttl {}, {} silent SYN(s) that would reach the server{}",
            s.server_at.map_or_else(|| "?".into(), |t| t.to_string()),
            s.parted_at.map_or_else(|| "-".into(), |t| t.to_string()),
            s.silences,
            if s.lossy { ", loss seen" } else { "" }
        ));
    }
    out
}

/// "ttl=1 time exceeded from 198.51.100.1 ×2; ttl=2 no answer ×2" — equal answers at one TTL counted once.
fn rungs(hops: &[HopFacts]) -> String {
    let mut parts: Vec<(u8, String, usize)> = Vec::new();
    let mut sorted: Vec<&HopFacts> = hops.iter().collect();
    sorted.sort_by_key(|h| h.ttl);
    for h in sorted {
        let what = format!(
            "{}{}",
            h.outcome.name(),
            h.router.map(|r| format!(" from {r}")).unwrap_or_default()
        );
        match parts.last_mut() {
            Some((t, w, n)) if *t == h.ttl && *w == what => *n += 1,
            _ => parts.push((h.ttl, what, 1)),
        }
    }
    parts
        .into_iter()
        .map(|(t, w, n)| {
            if n > 1 {
                format!("ttl={t} {w} ×{n}")
            } else {
                format!("ttl={t} {w}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The name of an ICMP or ICMPv6 error as RFC 792 / RFC 4443 give it.
fn icmp_words(t: u8, c: u8, v6: bool) -> String {
    let name = match (v6, t, c) {
        (false, 3, 0) => "network unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 9 | 10 | 13) => "administratively prohibited",
        (false, 11, _) => "time exceeded",
        (true, 1, 0) => "no route",
        (true, 1, 1) => "administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, 4) => "port unreachable",
        (true, 3, _) => "time exceeded",
        _ => "",
    };
    if name.is_empty() {
        format!("type {t} code {c}")
    } else {
        format!("{name} (type {t} code {c})")
    }
}

fn connect_detail(o: ConnectOutcome, errno: Option<i32>, timeout: Duration) -> String {
    let e = errno.map(|n| format!(" (errno {n})")).unwrap_or_default();
    match o {
        ConnectOutcome::Refused => format!("connection refused{e}"),
        ConnectOutcome::TimedOut => format!("no answer within {:.1}s", timeout.as_secs_f64()),
        ConnectOutcome::HostUnreachable => format!("host unreachable{e}"),
        ConnectOutcome::NetworkUnreachable => format!("network unreachable{e}"),
        ConnectOutcome::PermissionDenied => format!("not permitted{e}"),
        ConnectOutcome::NoLocalAddress => format!("this host has no address of that family{e}"),
        ConnectOutcome::Other | ConnectOutcome::NotTried | ConnectOutcome::Connected => {
            format!("connect failed{e}")
        }
    }
}

fn fmt_addr(addr: SocketAddr) -> String {
    addr.to_string()
}

/// The plaintext start of a STARTTLS (or detected plaintext) port, from the greeting on.
async fn plaintext_chain<S>(ctx: &Ctx, mut conn: Conn<S>, a: &mut Attempt, greeting: ReplyFacts)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if greeting.outcome == ReplyOutcome::Reply {
        a.speaks = Some(PortMode::Starttls);
    }
    if !record_greeting(a, greeting) {
        return;
    }
    let Some(ehlo) = ehlo_stage(&mut conn, a, StageName::Ehlo, &ctx.helo).await else {
        return;
    };
    let offers_tls =
        wire::server_info(&ehlo.keywords).is_some_and(|i| i.supports_feature(Extension::StartTls));
    if !offers_tls {
        a.tls = Some(TlsFacts::new(TlsOutcome::NotOffered));
        stage(
            a,
            StageName::Tls,
            StageStatus::Failed,
            0.0,
            "STARTTLS not offered: mail and passwords on this port would travel unencrypted".into(),
        );
        if ctx.credentials.is_some() {
            auth_stage(ctx, &mut conn, a, &ehlo, false).await;
        }
        if envelope::run(ctx, &mut conn, a).await {
            quit_stage(&mut conn, a).await;
        }
        return;
    }
    let start = Instant::now();
    if conn.send(a, &Starttls.to_string(), None).await.is_err() {
        closed_stage(a, StageName::Tls, start);
        return;
    }
    let (reply, parsed) = conn.reply(a).await;
    if parsed.as_ref().map(|r| r.code) != Some(220) {
        let detail = format!(
            "STARTTLS refused: {}",
            crate::report::ReplyFacts::describe(&reply)
        );
        let mut facts = TlsFacts::new(TlsOutcome::NotOffered);
        facts.outcome = TlsOutcome::Refused;
        facts.starttls_reply = Some(reply);
        a.tls = Some(facts);
        stage(
            a,
            StageName::Tls,
            StageStatus::Failed,
            elapsed_ms(start),
            detail,
        );
        quit_stage(&mut conn, a).await;
        return;
    }
    // Bytes already buffered after the 220 came before our ClientHello: STARTTLS response injection.
    let injected = conn.io.buffer().len();
    if injected > 0 {
        note(a, format!("{injected} bytes arrived after \"220\" to STARTTLS, before the TLS handshake (response injection)"));
    }
    let raw = conn.io.into_inner();
    let hs = tls::handshake(raw, &ctx.trust, ctx.server_name.clone(), ctx.timeout).await;
    let mut facts = hs.facts;
    facts.starttls_reply = Some(reply);
    facts.injected_bytes = injected;
    facts.elapsed_ms = elapsed_ms(start);
    let ok = tls_stage(ctx, a, facts);
    let Some(stream) = hs.stream.filter(|_| ok) else {
        return;
    };
    let mut conn = Conn::new(stream, ctx);
    let Some(ehlo2) = ehlo_stage(&mut conn, a, StageName::EhloTls, &ctx.helo).await else {
        return;
    };
    if ctx.credentials.is_some() {
        auth_stage(ctx, &mut conn, a, &ehlo2, true).await;
    }
    if envelope::run(ctx, &mut conn, a).await {
        quit_stage(&mut conn, a).await;
    }
}

/// Implicit TLS (465): handshake first, then the greeting inside TLS.
async fn implicit_chain(ctx: &Ctx, conn: Conn<TcpStream>, a: &mut Attempt) {
    let raw = conn.io.into_inner();
    let start = Instant::now();
    let hs = tls::handshake(raw, &ctx.trust, ctx.server_name.clone(), ctx.timeout).await;
    let mut facts = hs.facts;
    facts.elapsed_ms = elapsed_ms(start);
    if facts.handshake_error == Some(HandshakeError::PlaintextReply) {
        // The port greeted in plaintext: show that greeting, the wrong-mode finding needs it.
        a.speaks = Some(PortMode::Starttls);
        let greeting = greeting_from_bytes(&hs.peer_first_bytes, &ctx.redactor);
        push_line(
            a,
            "S",
            format!(
                "{} {}",
                greeting.code.map(|c| c.to_string()).unwrap_or_default(),
                greeting.lines.join(" ")
            ),
        );
        let d = format!(
            "plaintext greeting where TLS was expected: {}",
            crate::report::ReplyFacts::describe(&greeting)
        );
        stage(
            a,
            StageName::Greeting,
            StageStatus::Warning,
            facts.elapsed_ms,
            d,
        );
        a.greeting = Some(greeting);
    } else if facts.outcome == TlsOutcome::Established {
        a.speaks = Some(PortMode::Implicit);
    }
    let ok = tls_stage(ctx, a, facts);
    let Some(stream) = hs.stream.filter(|_| ok) else {
        return;
    };
    tls_session(ctx, Conn::new(stream, ctx), a).await;
}

/// The greeting on this connection and, after a short silence, a TLS handshake on a second connection at the
/// same time. A completed handshake is certain proof that the port speaks TLS first (plaintext SMTP cannot
/// complete one) and ends the wait at once; anything else leaves the decision to the greeting's own wait.
async fn greeting_or_tls(ctx: &Ctx, addr: SocketAddr, mut conn: Conn<TcpStream>, a: &mut Attempt) {
    let start = Instant::now();
    let after = ctx.timeout.min(TLS_TRY_AFTER);
    let tls_try = async {
        tokio::time::sleep(after).await;
        let left = ctx.timeout.saturating_sub(start.elapsed());
        let (_, stream) = tcp::connect(addr, None, left, &ctx.local_addrs).await;
        let stream = stream?;
        let left = ctx
            .timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(100));
        let began = Instant::now();
        let hs = tls::handshake(stream, &ctx.trust, ctx.server_name.clone(), left).await;
        Some((hs, elapsed_ms(began)))
    };
    tokio::pin!(tls_try);
    // The greeting's lines are kept apart while the TLS try may still write to the attempt.
    let mut heard = Attempt::new(a.address);
    let (greeting, tried) = {
        let read = conn.reply_within(&mut heard, ctx.timeout, ctx.timeout);
        tokio::pin!(read);
        tokio::select! {
            (g, _) = &mut read => (Some(g), None),
            t = &mut tls_try => {
                let established = t
                    .as_ref()
                    .is_some_and(|(hs, _)| hs.facts.outcome == TlsOutcome::Established);
                if established {
                    (None, Some(t))
                } else {
                    let (g, _) = read.await;
                    (Some(g), Some(t))
                }
            }
        }
    };
    a.transcript.append(&mut heard.transcript);
    let greeting = match greeting {
        // Only true silence suggests TLS first; a greeting that began but did not finish (drip-fed) is
        // plaintext and fails as a greeting.
        Some(g) if g.outcome != ReplyOutcome::Silent => {
            return plaintext_chain(ctx, conn, a, g).await;
        }
        g => g,
    };
    drop(conn);
    note(
        a,
        format!(
            "no greeting within {:.1}s: a TLS handshake was tried on a second connection, in case the port expects TLS first",
            after.as_secs_f64()
        ),
    );
    // The greeting's wait ended in silence: the TLS try, if still running, ends by the same deadline.
    let tried = match tried {
        Some(t) => t,
        None => tls_try.await,
    };
    match tried {
        Some((hs, ms)) if hs.facts.outcome == TlsOutcome::Established => {
            a.speaks = Some(PortMode::Implicit);
            note(a, "the second connection completed a TLS handshake: the port speaks TLS from the first byte (implicit TLS)".into());
            let mut facts = hs.facts;
            facts.elapsed_ms = ms;
            let ok = tls_stage(ctx, a, facts);
            if let Some(stream) = hs.stream.filter(|_| ok) {
                tls_session(ctx, Conn::new(stream, ctx), a).await;
            }
        }
        other => {
            let silent =
                greeting.unwrap_or_else(|| reply_facts(ReplyOutcome::Silent, 0.0, Vec::new()));
            if let Some((hs, _)) = &other {
                if hs.facts.handshake_error == Some(HandshakeError::PlaintextReply) {
                    note(a, "the second connection was greeted in plaintext: the port speaks SMTP, but this connection's greeting never came".into());
                }
            }
            let d = format!(
                "nothing received in {:.1}s, and no answer to TLS either",
                silent.elapsed_ms / 1000.0
            );
            stage(
                a,
                StageName::Greeting,
                StageStatus::Failed,
                silent.elapsed_ms,
                d,
            );
            // The TLS try is part of the time this port took; show it, though it only probed.
            let ms = other.as_ref().map_or(0.0, |(_, ms)| *ms);
            stage(
                a,
                StageName::Tls,
                StageStatus::Skipped,
                ms,
                "probe only: no answer to a TLS ClientHello on a second connection either".into(),
            );
            a.greeting = Some(silent);
        }
    }
}

/// Greeting, EHLO, AUTH and QUIT inside an established TLS session.
async fn tls_session<S>(ctx: &Ctx, mut conn: Conn<S>, a: &mut Attempt)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (greeting, _) = conn.reply(a).await;
    if !record_greeting(a, greeting) {
        return;
    }
    let Some(ehlo) = ehlo_stage(&mut conn, a, StageName::EhloTls, &ctx.helo).await else {
        return;
    };
    if ctx.credentials.is_some() {
        auth_stage(ctx, &mut conn, a, &ehlo, true).await;
    }
    if envelope::run(ctx, &mut conn, a).await {
        quit_stage(&mut conn, a).await;
    }
}

/// Records the TLS stage; true when the session can go on (established, even with a bad certificate).
fn tls_stage(ctx: &Ctx, a: &mut Attempt, facts: TlsFacts) -> bool {
    let (status, detail, go_on) = match facts.outcome {
        TlsOutcome::Established => {
            let what = format!(
                "{} {}",
                facts.version.as_deref().unwrap_or("TLS"),
                facts.cipher.as_deref().unwrap_or("")
            );
            let mut problems = Vec::new();
            if let Some(p) = facts.chain_error {
                problems.push(format!(
                    "certificate not trusted ({})",
                    crate::report::CertProblem::words(p)
                ));
            }
            if !facts.name_matches {
                problems.push(format!(
                    "certificate does not name {}",
                    server_name_text(&ctx.server_name)
                ));
            }
            if facts.injected_bytes > 0 {
                problems.push("STARTTLS response injection".into());
            }
            if problems.is_empty() {
                (StageStatus::Ok, what.trim().to_string(), true)
            } else {
                (
                    StageStatus::Failed,
                    format!("{}; {}", what.trim(), problems.join("; ")),
                    true,
                )
            }
        }
        _ => {
            let why = match facts.handshake_error {
                Some(HandshakeError::PlaintextReply) => {
                    "the server answered in plaintext SMTP, not TLS"
                }
                Some(HandshakeError::Alert) => "the server sent a TLS alert",
                Some(HandshakeError::Garbage) => {
                    "the server sent bytes that are neither TLS nor SMTP"
                }
                Some(HandshakeError::NoCommonParameters) => "no TLS version or cipher in common",
                Some(HandshakeError::Closed) => {
                    "the server closed the connection during the handshake"
                }
                Some(HandshakeError::Timeout) => "the handshake did not finish in time",
                Some(HandshakeError::Other) | None => "the handshake failed",
            };
            (
                StageStatus::Failed,
                format!("TLS handshake failed: {why}"),
                false,
            )
        }
    };
    let ms = facts.elapsed_ms;
    a.tls = Some(facts);
    stage(a, StageName::Tls, status, ms, detail);
    go_on
}

pub fn server_name_text(n: &ServerName<'_>) -> String {
    match n {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        _ => "the target".to_string(),
    }
}

/// Records the greeting; true when it is a 220 and the session can go on.
fn record_greeting(a: &mut Attempt, greeting: ReplyFacts) -> bool {
    let (status, go_on) = match (greeting.outcome, greeting.code) {
        (ReplyOutcome::Reply, Some(220)) => (StageStatus::Ok, true),
        _ => (StageStatus::Failed, false),
    };
    let detail = crate::report::ReplyFacts::describe(&greeting);
    stage(a, StageName::Greeting, status, greeting.elapsed_ms, detail);
    a.greeting = Some(greeting);
    go_on
}

fn greeting_from_bytes(bytes: &[u8], redactor: &Redactor) -> ReplyFacts {
    let text = wire::printable(bytes);
    let first = text
        .split('\u{fffd}')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let code = first.get(..3).and_then(|c| c.parse::<u16>().ok());
    let rest = first.get(4..).unwrap_or("").to_string();
    ReplyFacts {
        outcome: ReplyOutcome::Reply,
        code,
        enhanced: None,
        lines: vec![redactor.clean(&rest)],
        elapsed_ms: 0.0,
    }
}

/// EHLO, falling back to HELO when EHLO is refused.
async fn ehlo_stage<S>(
    conn: &mut Conn<S>,
    a: &mut Attempt,
    name: StageName,
    helo: &str,
) -> Option<EhloFacts>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let ehlo = Ehlo::new(client_id(helo)).to_string();
    if conn.send(a, &ehlo, None).await.is_err() {
        closed_stage(a, name, start);
        return None;
    }
    let (reply, parsed) = conn.reply(a).await;
    let facts = match parsed {
        Some(r) if r.code == 250 => EhloFacts {
            keywords: r.lines.iter().skip(1).cloned().collect(),
            reply,
            helo_fallback: false,
        },
        Some(r) if (500..=504).contains(&r.code) || r.code == 550 => {
            // Old or minimal servers: RFC 5321 says fall back to HELO when EHLO is not recognised.
            let helo_cmd = format!("HELO {}\r\n", client_id(helo));
            if conn.send(a, &helo_cmd, None).await.is_err() {
                closed_stage(a, name, start);
                return None;
            }
            let (reply2, parsed2) = conn.reply(a).await;
            if parsed2.as_ref().map(|r| r.code) != Some(250) {
                let d = format!(
                    "EHLO and HELO refused: {}",
                    crate::report::ReplyFacts::describe(&reply2)
                );
                stage(a, name, StageStatus::Failed, elapsed_ms(start), d);
                set_ehlo(
                    a,
                    name,
                    EhloFacts {
                        reply: reply2,
                        helo_fallback: true,
                        keywords: Vec::new(),
                    },
                );
                return None;
            }
            EhloFacts {
                keywords: Vec::new(),
                reply: reply2,
                helo_fallback: true,
            }
        }
        _ => {
            let d = format!(
                "EHLO refused: {}",
                crate::report::ReplyFacts::describe(&reply)
            );
            stage(a, name, StageStatus::Failed, elapsed_ms(start), d);
            set_ehlo(
                a,
                name,
                EhloFacts {
                    reply,
                    helo_fallback: false,
                    keywords: Vec::new(),
                },
            );
            return None;
        }
    };
    let detail = if facts.helo_fallback {
        "EHLO refused; HELO accepted (no extensions)".to_string()
    } else {
        let mut k: Vec<&str> = facts
            .keywords
            .iter()
            .map(|k| k.split_whitespace().next().unwrap_or(""))
            .filter(|k| !k.is_empty())
            .collect();
        k.truncate(12);
        format!("{} keywords: {}", facts.keywords.len(), k.join(" "))
    };
    let status = if facts.helo_fallback {
        StageStatus::Warning
    } else {
        StageStatus::Ok
    };
    stage(a, name, status, elapsed_ms(start), detail);
    set_ehlo(a, name, facts.clone());
    Some(facts)
}

fn set_ehlo(a: &mut Attempt, name: StageName, facts: EhloFacts) {
    if name == StageName::EhloTls {
        a.ehlo_tls = Some(facts);
    } else {
        a.ehlo = Some(facts);
    }
}

fn client_id(helo: &str) -> ClientId {
    let inner = helo.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.strip_prefix("IPv6:").unwrap_or(inner);
    match inner.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => ClientId::Ipv4(v4),
        Ok(IpAddr::V6(v6)) => ClientId::Ipv6(v6),
        Err(_) => ClientId::Domain(helo.to_string()),
    }
}

/// AUTH with PLAIN or LOGIN; `encrypted` says whether the channel is TLS.
async fn auth_stage<S>(
    ctx: &Ctx,
    conn: &mut Conn<S>,
    a: &mut Attempt,
    ehlo: &EhloFacts,
    encrypted: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(creds) = &ctx.credentials else {
        return;
    };
    let start = Instant::now();
    let offered = ehlo.auth_mechanisms();
    let mechanism = wire::server_info(&ehlo.keywords)
        .and_then(|i| i.get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]));
    let mut facts = AuthFacts {
        outcome: AuthOutcome::NotOffered,
        mechanism: mechanism.map(|m| m.to_string()),
        offered: offered.clone(),
        reply: None,
    };
    if !encrypted && !ctx.allow_cleartext_auth {
        facts.outcome = AuthOutcome::RefusedCleartext;
        a.auth = Some(facts);
        stage(
            a,
            StageName::Auth,
            StageStatus::Skipped,
            0.0,
            "password not sent: the connection is not encrypted".into(),
        );
        return;
    }
    let cert_ok = a
        .tls
        .as_ref()
        .is_some_and(|t| t.chain_verified && t.name_matches);
    if encrypted && !cert_ok && !ctx.accept_invalid_certs {
        facts.outcome = AuthOutcome::RefusedUnverified;
        a.auth = Some(facts);
        stage(
            a,
            StageName::Auth,
            StageStatus::Skipped,
            0.0,
            "password not sent: the certificate failed verification".into(),
        );
        return;
    }
    let Some(mech) = mechanism else {
        let d = if offered.is_empty() {
            "the server offers no AUTH here".to_string()
        } else {
            format!("no usable mechanism: server offers {}", offered.join(" "))
        };
        a.auth = Some(facts);
        stage(a, StageName::Auth, StageStatus::Failed, 0.0, d);
        return;
    };
    let lettre_creds = LettreCredentials::new(creds.user.clone(), creds.password().to_string());
    let shown = format!("AUTH {mech} {MARK}");
    let first = match Auth::new(mech, lettre_creds.clone(), None) {
        Ok(cmd) => cmd.to_string(),
        Err(_) => return,
    };
    let shown_first = if mech == Mechanism::Login {
        format!("AUTH {mech}")
    } else {
        shown
    };
    if conn.send(a, &first, Some(&shown_first)).await.is_err() {
        closed_stage(a, StageName::Auth, start);
        return;
    }
    let mut last: Option<(ReplyFacts, Option<Reply>)> = None;
    // LOGIN asks for the user name and the password: two challenges, a third is a protocol error.
    for _ in 0..3 {
        let (reply, parsed) = conn.reply(a).await;
        let code = parsed.as_ref().map(|r| r.code);
        if code != Some(334) {
            last = Some((reply, parsed));
            break;
        }
        let answer = parsed
            .as_ref()
            .map(|r| {
                Response::new(
                    lettre::transport::smtp::response::Code::new(
                        lettre::transport::smtp::response::Severity::PositiveIntermediate,
                        lettre::transport::smtp::response::Category::Unspecified3,
                        lettre::transport::smtp::response::Detail::Four,
                    ),
                    r.lines.clone(),
                )
            })
            .and_then(|resp| Auth::new_from_response(mech, lettre_creds.clone(), &resp).ok());
        let (wire_text, shown) = match answer {
            Some(cmd) => (cmd.to_string(), MARK.to_string()),
            // An unknown challenge: cancel the exchange as RFC 4954 allows.
            None => ("*\r\n".to_string(), "*".to_string()),
        };
        if conn.send(a, &wire_text, Some(&shown)).await.is_err() {
            closed_stage(a, StageName::Auth, start);
            return;
        }
        last = Some((reply, parsed));
    }
    let Some((reply, parsed)) = last else { return };
    let code = parsed.as_ref().map(|r| r.code);
    facts.outcome = if code == Some(235) {
        AuthOutcome::Accepted
    } else {
        AuthOutcome::Rejected
    };
    let status = if facts.outcome == AuthOutcome::Accepted {
        StageStatus::Ok
    } else {
        StageStatus::Failed
    };
    let detail = format!("{mech}: {}", crate::report::ReplyFacts::describe(&reply));
    facts.reply = Some(reply);
    a.auth = Some(facts);
    stage(a, StageName::Auth, status, elapsed_ms(start), detail);
}

async fn quit_stage<S>(conn: &mut Conn<S>, a: &mut Attempt)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    if conn.send(a, &Quit.to_string(), None).await.is_err() {
        stage(
            a,
            StageName::Quit,
            StageStatus::Warning,
            elapsed_ms(start),
            "connection already closed".into(),
        );
        return;
    }
    let (reply, parsed) = conn.reply(a).await;
    let (status, detail) = match parsed.map(|r| r.code) {
        Some(221) => (StageStatus::Ok, crate::report::ReplyFacts::describe(&reply)),
        _ => (
            StageStatus::Warning,
            format!("no 221: {}", crate::report::ReplyFacts::describe(&reply)),
        ),
    };
    stage(a, StageName::Quit, status, elapsed_ms(start), detail);
    let _ = conn.io.get_mut().shutdown().await;
}

fn closed_stage(a: &mut Attempt, name: StageName, start: Instant) {
    stage(
        a,
        name,
        StageStatus::Failed,
        elapsed_ms(start),
        "the server closed the connection".into(),
    );
}

pub fn stage(a: &mut Attempt, name: StageName, status: StageStatus, ms: f64, detail: String) {
    a.stages.retain(|s| s.name != name);
    a.stages.push(Stage {
        name,
        status,
        elapsed_ms: ms,
        detail,
    });
}
