//! The TTL ladder: SYNs with TTL 1, 2, 3… to the port that does not answer and to a control port of the same address, all in flight at once, until the facts decide where the SYN dies.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::{AbortHandle, JoinSet};

use super::tcp;
use super::Budget;
use crate::report::{ConnectOutcome, ControlLadder, HopFacts, HopOutcome, PathFacts};

/// The highest TTL tried: beyond any real path to a mail server.
pub const MAX_TTL: u8 = 30;
/// SYNs per TTL to the probed port below the server (each may be lost); the control sends one. TTL 1 gets more:
/// its silence alone tells "never left this host" from "dropped by the first router" (and more still once they
/// all stay silent with loss seen).
const TRIES: usize = 2;
const TRIES_TTL1: usize = crate::report::TTL1_SILENCES_NEEDED;
/// Between one TTL and the next. An answer from the server stops the raising, so at most RTT/STEP SYNs go
/// beyond it (each one a connection the server sees).
const STEP: Duration = Duration::from_millis(25);
/// Between the extra SYNs sent at a TTL that reaches the server, when more silences are needed to be sure.
const EXTRA_GAP: Duration = Duration::from_millis(60);
/// Between two TTL-1 pairs (the port's SYN, then the control's) sent when the first router answered neither:
/// a Linux router's ICMP budget grows by one a second.
const PAIR_GAP: Duration = Duration::from_millis(1100);
/// Silent rungs in a row after which a ladder stops climbing (traceroute gives up after a similar gap).
const GAP_LIMIT: usize = 8;
/// The highest rung of the climb whose SYN follows a high-TTL one (see the climb): blocks sit near either end.
const BESIDE_UP_TO: u8 = 16;
/// How often a ladder waiting for a router's ICMP budget looks again.
const HOPE_STEP: Duration = Duration::from_millis(50);
/// TTLs beyond the control's hop count still tried on the probed port: paths of different flows may differ a little.
const BEYOND: u8 = 2;
/// How long a TTL-limited SYN is waited for. The kernel sends the SYN again after its initial retransmission
/// timeout (1 s), and an answer to that copy would be placed at the first one's moment: a router whose ICMP budget
/// was empty then would seem to have answered. So each SYN lives just under one RTO, and is silent after it.
const SYN_LIFE: Duration = Duration::from_millis(950);
/// The least time a SYN goes unanswered before it counts as silent, and the most (its whole life).
const SILENCE_MIN: Duration = Duration::from_millis(200);
const SILENCE_MAX: Duration = SYN_LIFE;
/// Routers limit the ICMP errors they send to one destination (Linux: a token bucket of 6, one token back a
/// second; real routers are often stricter). This run keeps the same bucket per hop for the SYNs a router there
/// must answer, so a silence is never the run's own doing as long as nothing else spends the router's budget.
const ICMP_BURST: f64 = 6.0;
const ICMP_PER_SECOND: f64 = 1.0;
/// Descriptors one ladder may hold beyond its chain's own, when the budget has them.
pub const LADDER_WIDTH: u32 = 30;
/// Ports tried as the control when no other port of the run connected: servers usually answer there (a RST
/// from a closed port tells the hop count as well as a SYN-ACK).
pub const FALLBACK_CONTROLS: [u16; 2] = [443, 80];

/// What the chains of a run tell each other about paths: which ports of an address connected, and how many
/// TTL-limited SYNs each hop has had to answer lately (its ICMP rate limit is shared by every ladder).
#[derive(Debug, Default)]
pub struct Paths {
    inner: Mutex<PathsInner>,
}

#[derive(Debug, Default)]
struct PathsInner {
    /// Per (IPv6, TTL): the bucket of SYNs a router at that hop can still answer, and when it was last filled.
    icmp: HashMap<(bool, u8), (f64, Instant)>,
    /// Per address and port: the connect's time, when it connected.
    connected: HashMap<SocketAddr, f64>,
}

impl Paths {
    /// A chain's connect ended: remember it when it connected, for other chains' controls and patience.
    pub fn note_connect(&self, addr: SocketAddr, outcome: ConnectOutcome, elapsed_ms: f64) {
        if outcome != ConnectOutcome::Connected {
            return;
        }
        if let Ok(mut inner) = self.inner.lock() {
            inner.connected.insert(addr, elapsed_ms);
        }
    }

    /// Ports of `ip` that connected in this run, with their connect times.
    pub fn connected(&self, ip: IpAddr) -> Vec<(u16, f64)> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(u16, f64)> = inner
            .connected
            .iter()
            .filter(|(a, _)| a.ip() == ip)
            .map(|(a, ms)| (a.port(), *ms))
            .collect();
        out.sort_by_key(|(p, _)| *p);
        out
    }

    /// How many SYNs the router budget at `ttl` has left now.
    fn icmp_left(&self, v6: bool, ttl: u8, now: Instant) -> usize {
        let Ok(mut inner) = self.inner.lock() else {
            return 0;
        };
        refill(&mut inner, v6, ttl, now).floor() as usize
    }

    /// Takes one SYN of the router budget at `ttl` if there is one left; false means "not now".
    pub fn take_icmp(&self, v6: bool, ttl: u8, now: Instant) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return true;
        };
        if refill(&mut inner, v6, ttl, now) < 1.0 {
            return false;
        }
        if let Some(b) = inner.icmp.get_mut(&(v6, ttl)) {
            b.0 -= 1.0;
        }
        true
    }
}

/// The bucket at (`v6`, `ttl`) brought up to `now`: full the first time, one token more a second since.
fn refill(inner: &mut PathsInner, v6: bool, ttl: u8, now: Instant) -> f64 {
    let b = inner.icmp.entry((v6, ttl)).or_insert((ICMP_BURST, now));
    let since = now.saturating_duration_since(b.1).as_secs_f64();
    b.0 = (b.0 + since * ICMP_PER_SECOND).min(ICMP_BURST);
    b.1 = now;
    b.0
}

/// Which ladder a SYN belongs to: the probed port's, or control `i`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rung {
    Probed,
    Control(usize),
}

struct Sent {
    rung: Rung,
    ttl: u8,
    at: Instant,
    answer: Option<HopFacts>,
    abort: Option<AbortHandle>,
}

impl Sent {
    /// Stops waiting for this SYN (its socket closes) and records it silent for as long as it waited.
    fn give_up(&mut self, now: Instant) {
        if let Some(a) = self.abort.take() {
            a.abort();
        }
        let mut h = HopFacts::new(self.ttl, HopOutcome::Silent);
        h.elapsed_ms = ms(now.saturating_duration_since(self.at));
        self.answer = Some(h);
    }
}

/// One ladder's raising: the next TTL, and whether it still goes up.
struct Raise {
    next: u8,
    on: bool,
}

pub struct Climb<'a> {
    pub target: SocketAddr,
    /// Control ports, the best first (one of this run that connected, else 443 and 80).
    pub controls: Vec<(u16, bool)>,
    pub deadline: Instant,
    pub local_addrs: &'a [IpAddr],
    pub paths: &'a Paths,
    pub budget: Option<&'a Budget>,
}

impl Climb<'_> {
    /// Climbs both ladders until the reading is decided, nothing more can be learnt, or the deadline.
    pub async fn run(self) -> PathFacts {
        let start = Instant::now();
        let on_link = super::host::on_link(&self.target.ip());
        // Descriptors: two come with the chain; more when the budget has them now (never waited for, so
        // chains holding theirs cannot deadlock over the rest).
        let (width, _permit) = match self.budget {
            Some(b) => b.try_extra(LADDER_WIDTH),
            None => (LADDER_WIDTH, None),
        };
        let width = (width + 2) as usize;
        let v6 = self.target.is_ipv6();
        let mut set: JoinSet<(usize, HopFacts)> = JoinSet::new();
        let mut sent: Vec<Sent> = Vec::new();
        let mut probed = Raise { next: 1, on: true };
        let mut controls: Vec<Raise> = self
            .controls
            .iter()
            .map(|_| Raise { next: 1, on: true })
            .collect();
        // SYNs the router budget or the descriptor width held back: (rung, ttl), sent as soon as they may.
        let mut waiting: VecDeque<(Rung, u8)> = VecDeque::new();
        let mut next_step = start;
        let mut next_extra = start;
        let mut next_pair = start;
        let mut next_drop_pair = start;
        loop {
            let now = Instant::now();
            expire(&mut sent, now);
            let facts = self.snapshot(&sent, on_link, now, start);
            let reading = facts.read();
            if facts.settled() || now >= self.deadline {
                set.abort_all();
                return facts;
            }
            let server_at = facts.server_at();
            // Raising stops where the server answered, and for the probed port a little beyond the control's count.
            // (The high-TTL SYNs sent beside the short ones do not count: only a rung of the climb places an answer.)
            if sent
                .iter()
                .filter(|s| s.rung == Rung::Probed && s.ttl < MAX_TTL)
                .any(|s| s.answer.as_ref().is_some_and(|a| a.reached()))
                || server_at.is_some_and(|d| probed.next > d.saturating_add(BEYOND))
                || probed.next > MAX_TTL
            {
                probed.on = false;
            }
            for (i, c) in controls.iter_mut().enumerate() {
                let reached = sent.iter().any(|s| {
                    s.rung == Rung::Control(i) && s.answer.as_ref().is_some_and(|a| a.reached())
                });
                if reached || c.next > MAX_TTL || server_at.is_some() {
                    c.on = false;
                }
            }
            // A router that rejects answers every SYN that reaches it, from one ICMP budget: more SYNs would only
            // take the answer the connect itself waits for. And rungs that stay silent on both ladders, several
            // in a row, say nothing more higher up.
            let unreachable = sent.iter().any(|s| {
                s.answer
                    .as_ref()
                    .is_some_and(|a| a.outcome == HopOutcome::Unreachable && !a.here)
            });
            // The answers are as they were at this turn's start until the sends below: one window for the turn.
            let window = silence_window(&sent);
            if unreachable || silent_gap(&sent, window, now) >= GAP_LIMIT {
                probed.on = false;
                for c in &mut controls {
                    c.on = false;
                }
                if unreachable {
                    waiting.clear();
                }
            }
            if now >= next_step {
                // The port's SYNs go first: a router answering the control right after them was answering then.
                if probed.on {
                    let t = probed.next;
                    let tries = if t == 1 { TRIES_TTL1 } else { TRIES };
                    let short = server_at.is_none_or(|d| t < d);
                    for i in 0..tries {
                        // Below the server, each SYN follows one with the highest TTL at once: if the router at
                        // hop t answers it but the high one dies unanswered, that router had ICMP budget and sent no
                        // unreachable (a drop, not a reject it was too rate-limited to send; see PathFacts::beside).
                        // (At most one a rung past TTL 1, and none past BESIDE_UP_TO: a path the control has not
                        // measured yet gets few SYNs at the server.)
                        if short && (t == 1 || (i == 0 && t <= BESIDE_UP_TO)) && !on_link {
                            waiting.push_back((Rung::Probed, MAX_TTL));
                        }
                        waiting.push_back((Rung::Probed, t));
                        // At TTL 1 the control's SYN follows the port's first at once: a pair the router's budget
                        // cannot split (see PathFacts::read).
                        if t == 1 && i == 0 {
                            if let Some(c) = controls.first_mut().filter(|c| c.on && c.next == 1) {
                                waiting.push_back((Rung::Control(0), 1));
                                c.next = 2;
                            }
                        }
                    }
                    probed.next += 1;
                }
                for (i, c) in controls.iter_mut().enumerate() {
                    // One control's answer at TTL 1 is enough; the first router's ICMP budget is the scarcest.
                    if c.on && c.next == 1 && i > 0 {
                        c.next = 2;
                    }
                    if c.on {
                        waiting.push_back((Rung::Control(i), c.next));
                        c.next += 1;
                    }
                }
                next_step = now + STEP;
            }
            // More SYNs that reach the server, when the silences so far are too few to be sure.
            if let Some(d) = server_at.filter(|_| !probed.on && now >= next_extra) {
                let needed = if facts.lossy() {
                    crate::report::SILENCES_NEEDED_LOSSY
                } else {
                    crate::report::SILENCES_NEEDED
                };
                let counted = sent
                    .iter()
                    .filter(|s| s.rung == Rung::Probed && s.ttl >= d)
                    .filter(|s| {
                        s.answer
                            .as_ref()
                            .is_none_or(|a| a.outcome == HopOutcome::Silent)
                    })
                    .count()
                    + waiting.iter().filter(|(r, _)| *r == Rung::Probed).count();
                if counted < needed {
                    waiting.push_back((Rung::Probed, d.saturating_add(BEYOND)));
                    next_extra = now + EXTRA_GAP;
                }
            }
            // The port's TTL-1 SYNs all silent so far and nothing of the port's answered: more of them (with the
            // control's at once), up to what "never left" needs, as the router budget allows. The climb sends two,
            // not three: the first router's budget is the scarcest, and when it answers two are plenty.
            let ttl1_silent = facts
                .hops
                .iter()
                .filter(|h| h.ttl == 1)
                .all(|h| h.outcome == HopOutcome::Silent && h.elapsed_ms >= facts.silence_ms);
            if ttl1_silent && facts.hops.iter().all(|h| !h.answered()) {
                let needed = if facts.lossy() {
                    crate::report::TTL1_SILENCES_NEEDED_LOSSY
                } else {
                    crate::report::TTL1_SILENCES_NEEDED
                };
                let ttl1 = sent
                    .iter()
                    .filter(|s| s.rung == Rung::Probed && s.ttl == 1)
                    .count()
                    + waiting
                        .iter()
                        .filter(|(r, t)| *r == Rung::Probed && *t == 1)
                        .count();
                if ttl1 < needed {
                    waiting.push_back((Rung::Probed, 1));
                    if let Some(i) = (!self.controls.is_empty()).then_some(0) {
                        waiting.push_back((Rung::Control(i), 1));
                    }
                }
            }
            // No answer to the port's TTL-1 SYNs and none to the control's at that moment: the first router may be out
            // of ICMP budget. A pair (the port's SYN, then the control's at once) when the budget allows both: if
            // the router answers only the control, the port's SYN never reached it.
            if let crate::report::PathReading::NeverLeft {
                router_answers: false,
            } = reading
            {
                if now >= next_pair
                    && !self.controls.is_empty()
                    && self.paths.icmp_left(v6, 1, now) >= 2
                {
                    waiting.push_front((Rung::Control(0), 1));
                    waiting.push_front((Rung::Probed, 1));
                    next_pair = now + PAIR_GAP;
                }
            }
            // The port's SYNs die after hop N: a rejecting router out of ICMP budget looks the same as a drop. A SYN
            // past the server, then at once one the router at hop N answers: if it answers the second only, it had
            // budget for an unreachable and sent none.
            if let crate::report::PathReading::DroppedAfter {
                hop,
                no_reject: false,
                ..
            } = reading
            {
                let paired = waiting
                    .iter()
                    .any(|(r, t)| *r == Rung::Probed && (*t == hop || *t == hop + 1));
                if let Some(d) = server_at.filter(|_| now >= next_drop_pair && !paired) {
                    let needed = if facts.lossy() {
                        crate::report::BESIDE_NEEDED_LOSSY
                    } else {
                        crate::report::BESIDE_NEEDED
                    };
                    if facts.beside(hop) < needed && self.paths.icmp_left(v6, hop, now) >= 1 {
                        waiting.push_front((Rung::Probed, hop));
                        waiting.push_front((Rung::Probed, d));
                        next_drop_pair = now + EXTRA_GAP;
                    }
                    // And whether the port's SYNs reach the next router at all: its SYN, then the control's at once.
                    let next = hop + 1;
                    if !facts.next_hop_unreached(hop)
                        && next < d
                        && !self.controls.is_empty()
                        && self.paths.icmp_left(v6, next, now) >= 2
                    {
                        waiting.push_back((Rung::Probed, next));
                        waiting.push_back((Rung::Control(0), next));
                        next_drop_pair = now + EXTRA_GAP;
                    }
                }
            }
            // Send what may be sent now, in order; what may not waits for the next turn.
            let mut held = VecDeque::new();
            while let Some((rung, ttl)) = waiting.pop_front() {
                // A TTL-1 pair goes as one, or waits as one.
                let pair = rung == Rung::Probed
                    && ttl == 1
                    && waiting.front() == Some(&(Rung::Control(0), 1));
                if pair && self.paths.icmp_left(v6, 1, now) < 2 {
                    held.push_back((rung, ttl));
                    if let Some(c) = waiting.pop_front() {
                        held.push_back(c);
                    }
                    continue;
                }
                let in_flight = sent.iter().filter(|s| s.answer.is_none()).count();
                if in_flight >= width && !free_one(&mut sent, window, now) {
                    held.push_back((rung, ttl));
                    continue;
                }
                let below_server = ttl < MAX_TTL && server_at.is_none_or(|d| ttl < d);
                if below_server && !self.paths.take_icmp(v6, ttl, now) {
                    held.push_back((rung, ttl));
                    continue;
                }
                let port = match rung {
                    Rung::Probed => self.target.port(),
                    Rung::Control(i) => self.controls.get(i).map_or(0, |c| c.0),
                };
                let addr = SocketAddr::new(self.target.ip(), port);
                let locals = self.local_addrs.to_vec();
                let idx = sent.len();
                // Sent here, in this order, not when its task first runs: a TTL-1 pair must reach the router
                // port's SYN first.
                let syn = tcp::send_syn(addr, ttl);
                let at = Instant::now();
                let abort = set.spawn(async move { (idx, syn.answer(&locals).await) });
                sent.push(Sent {
                    rung,
                    ttl,
                    at,
                    answer: None,
                    abort: Some(abort),
                });
            }
            waiting = held;
            let pending = sent.iter().any(|s| s.answer.is_none());
            let raising = probed.on || controls.iter().any(|c| c.on);
            // A pair the routers' ICMP budget holds back may still be sent before the deadline.
            let hoping = !unreachable
                && matches!(
                    reading,
                    crate::report::PathReading::NeverLeft {
                        router_answers: false
                    } | crate::report::PathReading::DroppedAfter {
                        no_reject: false,
                        ..
                    }
                );
            if !pending && !raising && waiting.is_empty() && !hoping {
                return self.snapshot(&sent, on_link, Instant::now(), start);
            }
            // Wake for the next answer, the next TTL, the moment a SYN turns silent, or the deadline.
            let silent_at = sent
                .iter()
                .filter(|s| s.answer.is_none())
                .flat_map(|s| [s.at + window, s.at + SYN_LIFE])
                .filter(|t| *t > now)
                .min();
            let mut wake = self.deadline;
            if raising || !waiting.is_empty() {
                wake = wake.min(next_step);
            }
            if server_at.is_some() && !probed.on {
                wake = wake.min(next_extra.max(now + Duration::from_millis(5)));
            }
            if matches!(
                reading,
                crate::report::PathReading::NeverLeft {
                    router_answers: false
                }
            ) {
                wake = wake.min(next_pair.max(now + Duration::from_millis(5)));
            }
            if let Some(t) = silent_at {
                wake = wake.min(t);
            }
            if hoping {
                // The budget grows by one a second: look again now and then.
                wake = wake.min(now + HOPE_STEP);
            }
            tokio::select! {
                Some(done) = set.join_next(), if pending => {
                    if let Ok((idx, hop)) = done {
                        if let Some(s) = sent.get_mut(idx) {
                            s.answer = Some(hop);
                            s.abort = None;
                        }
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake.max(now))) => {}
            }
        }
    }

    /// The facts so far: a SYN still unanswered is silent for as long as it has waited.
    fn snapshot(&self, sent: &[Sent], on_link: bool, now: Instant, start: Instant) -> PathFacts {
        let hop = |s: &Sent| {
            let mut h = s.answer.clone().unwrap_or_else(|| {
                let mut h = HopFacts::new(s.ttl, HopOutcome::Silent);
                h.elapsed_ms = ms(now.saturating_duration_since(s.at));
                h
            });
            h.sent_ms = ms(s.at.saturating_duration_since(start));
            h
        };
        let mut facts = PathFacts {
            hops: sent
                .iter()
                .filter(|s| s.rung == Rung::Probed)
                .map(hop)
                .collect(),
            on_link,
            control: self
                .controls
                .iter()
                .enumerate()
                .map(|(i, &(port, connected_in_run))| ControlLadder {
                    port,
                    connected_in_run,
                    hops: sent
                        .iter()
                        .filter(|s| s.rung == Rung::Control(i))
                        .map(hop)
                        .collect(),
                })
                .filter(|c| !c.hops.is_empty())
                .collect(),
            silence_ms: ms(silence_window(sent)),
            summary: None,
        };
        facts.summary = Some(facts.summarize());
        facts
    }
}

/// How long a SYN must go unanswered to count as silent: three times the slowest answer seen, within bounds.
fn silence_window(sent: &[Sent]) -> Duration {
    let slowest = sent
        .iter()
        .filter_map(|s| s.answer.as_ref())
        .filter(|a| a.answered())
        .map(|a| a.elapsed_ms)
        .fold(0.0_f64, f64::max);
    Duration::from_secs_f64((3.0 * slowest / 1e3).max(0.0)).clamp(SILENCE_MIN, SILENCE_MAX)
}

/// Rungs in a row, above the highest that got any answer, whose SYNs (both ladders) are all silent.
fn silent_gap(sent: &[Sent], window: Duration, now: Instant) -> usize {
    let top = sent
        .iter()
        .filter(|s| s.ttl < MAX_TTL && s.answer.as_ref().is_some_and(|a| a.answered()))
        .map(|s| s.ttl)
        .max()
        .unwrap_or(0);
    let silent_rung = |t: u8| {
        let mut at = sent.iter().filter(|s| s.ttl == t).peekable();
        at.peek().is_some()
            && at.all(|s| match &s.answer {
                Some(a) => a.outcome == HopOutcome::Silent,
                None => now.saturating_duration_since(s.at) >= window,
            })
    };
    (top.saturating_add(1)..MAX_TTL)
        .take_while(|&t| silent_rung(t))
        .count()
}

/// Ends every SYN that has waited its whole life (SYN_LIFE) as silent, before the kernel sends it again.
fn expire(sent: &mut [Sent], now: Instant) {
    for s in sent
        .iter_mut()
        .filter(|s| s.answer.is_none() && now.saturating_duration_since(s.at) >= SYN_LIFE)
    {
        s.give_up(now);
    }
}

/// Gives up on the oldest SYN that has already counted as silent, freeing its descriptor; false when none has.
fn free_one(sent: &mut [Sent], window: Duration, now: Instant) -> bool {
    let oldest = sent
        .iter_mut()
        .filter(|s| s.answer.is_none() && now.saturating_duration_since(s.at) >= window)
        .min_by_key(|s| s.at);
    match oldest {
        Some(s) => {
            s.give_up(now);
            true
        }
        None => false,
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The control ports for `target`: ports of this run that connected to the same address, else 443 and 80.
pub fn controls_for(paths: &Paths, target: SocketAddr) -> Vec<(u16, bool)> {
    let ran: Vec<(u16, bool)> = paths
        .connected(target.ip())
        .into_iter()
        .filter(|(p, _)| *p != target.port())
        .map(|(p, _)| (p, true))
        .take(1)
        .collect();
    if !ran.is_empty() {
        return ran;
    }
    FALLBACK_CONTROLS
        .iter()
        .filter(|p| **p != target.port())
        .map(|p| (*p, false))
        .collect()
}

/// A shared `Paths` for one run (or one session of many targets).
pub fn shared() -> Arc<Paths> {
    Arc::new(Paths::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_budget_holds_back_the_seventh_syn_at_a_hop_for_a_second() {
        let paths = Paths::default();
        let now = Instant::now();
        for _ in 0..6 {
            assert!(paths.take_icmp(false, 1, now));
        }
        assert!(!paths.take_icmp(false, 1, now));
        assert_eq!(paths.icmp_left(false, 1, now), 0);
        // Another hop, and the other family, have budgets of their own.
        assert!(paths.take_icmp(false, 2, now));
        assert!(paths.take_icmp(true, 1, now));
        let later = now + Duration::from_millis(1000);
        assert!(paths.take_icmp(false, 1, later));
        assert!(!paths.take_icmp(false, 1, later));
    }

    #[test]
    fn a_port_that_connected_is_the_control_else_443_and_80() {
        let paths = Paths::default();
        let target: SocketAddr = "203.0.113.10:25"
            .parse()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 25)));
        assert_eq!(
            controls_for(&paths, target),
            vec![(443, false), (80, false)]
        );
        paths.note_connect(
            SocketAddr::new(target.ip(), 465),
            ConnectOutcome::Connected,
            1.0,
        );
        paths.note_connect(
            SocketAddr::new(target.ip(), 587),
            ConnectOutcome::TimedOut,
            1.0,
        );
        assert_eq!(controls_for(&paths, target), vec![(465, true)]);
    }

    #[tokio::test]
    async fn a_loopback_port_is_reached_at_once() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await;
        let Ok(l) = l else { return };
        let Ok(addr) = l.local_addr() else { return };
        let paths = Paths::default();
        let facts = Climb {
            target: addr,
            controls: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(2),
            local_addrs: &[],
            paths: &paths,
            budget: None,
        }
        .run()
        .await;
        assert!(facts.on_link);
        assert_eq!(
            facts.summary.map(|s| s.reading),
            Some(crate::report::PathReading::Reached { ttl: 1 })
        );
    }
}
