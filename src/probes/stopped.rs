//! What a run stopped by a signal keeps: each chain's running stage marked interrupted, and the lookups still waiting.

use std::net::SocketAddr;
use std::time::Instant;

use super::conn::note;
use super::smtp::{stage, Ctx};
use crate::interrupt::Stop;
use crate::plan::{Family, Plan, Target};
use crate::probes::elapsed_ms;
use crate::report::{
    Attempt, AuthOutcome, DnsLookup, DnsOutcome, DnsReport, PortMode, Report, Signal, StageName,
    StageStatus, TlsOutcome,
};

/// What a chain does after the stages it has finished, as far as the run's options decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub mode: PortMode,
    /// --user was given: AUTH follows EHLO.
    pub login: bool,
    /// --from or --to was given: the envelope follows AUTH (or EHLO without a login).
    pub envelope: bool,
    /// --send: DATA follows RCPT TO.
    pub send: bool,
}

/// The stage a chain was running when it was stopped: the one that follows the last it recorded, in the order
/// smtp.rs runs them. The chain records a stage only when it ends, so the stage after the last is the one under
/// way. None when the chain had nothing left to do.
pub fn running_stage(a: &Attempt, shape: Shape) -> Option<StageName> {
    use StageName::*;
    let after_login = || {
        let logged_in = a
            .auth
            .as_ref()
            .is_some_and(|x| x.outcome == AuthOutcome::Accepted);
        // With a login to test, the envelope is only tried once the login worked (envelope.rs).
        if shape.envelope && (!shape.login || logged_in) {
            MailFrom
        } else {
            Quit
        }
    };
    let after_ehlo = || if shape.login { Auth } else { after_login() };
    let next = match a.stages.last().map(|s| s.name) {
        None | Some(Dns) => Connect,
        Some(Connect) if shape.mode == PortMode::Implicit => Tls,
        Some(Connect) => Greeting,
        // Implicit TLS greets inside the session, after the handshake.
        Some(Greeting) if a.stage(Tls).is_some() => EhloTls,
        Some(Greeting) => Ehlo,
        Some(Ehlo) => Tls,
        Some(Tls) => match a.tls.as_ref().map(|t| t.outcome) {
            Some(TlsOutcome::NotOffered) => after_ehlo(),
            Some(TlsOutcome::Refused) => Quit,
            _ if a.stage(Greeting).is_none() => Greeting,
            _ => EhloTls,
        },
        Some(EhloTls) => after_ehlo(),
        Some(Auth) => after_login(),
        Some(MailFrom) => RcptTo,
        Some(RcptTo) if shape.send => Data,
        Some(RcptTo | Data) => Quit,
        Some(Quit) => return None,
    };
    Some(next)
}

/// Marks the stage a chain stopped by `ctx.stop` was running as interrupted.
pub fn mark(a: &mut Attempt, ctx: &Ctx, mode: PortMode, began: Instant) {
    let shape = Shape {
        mode,
        login: ctx.credentials.is_some(),
        envelope: ctx.envelope.is_some(),
        send: ctx.envelope.as_ref().is_some_and(|e| e.envelope.send),
    };
    if let Some(signal) = ctx.stop.signal() {
        mark_with(a, shape, signal, began);
    }
}

/// Marks the stage a stopped chain was running as interrupted, with the time it had run so far.
fn mark_with(a: &mut Attempt, shape: Shape, signal: Signal, began: Instant) {
    let Some(name) = running_stage(a, shape) else {
        return;
    };
    // Stages run one after another: what the chain spent beyond the finished ones went to this one.
    let finished: f64 = a.stages.iter().map(|s| s.elapsed_ms).sum();
    let ms = ((elapsed_ms(began) - finished).max(0.0) * 1e3).round() / 1e3;
    note(
        a,
        format!(
            "{} stopped the run during {} after {:.1}s",
            signal.name(),
            name.label(),
            ms / 1000.0
        ),
    );
    let detail = format!(
        "interrupted by {} after {:.1}s: its outcome is unknown",
        signal.name(),
        ms / 1000.0
    );
    stage(a, name, StageStatus::Interrupted, ms, detail);
}

/// The DNS part of a report whose lookups a signal cut: every lookup the target needed is interrupted (those
/// that had already answered beside one still waiting are not kept).
pub fn dns(plan: &Plan, ms: f64) -> DnsReport {
    let Target::Name(name) = &plan.target else {
        return DnsReport::not_queried();
    };
    let cut = DnsLookup {
        outcome: DnsOutcome::Interrupted,
        records: Vec::new(),
        elapsed_ms: ms,
    };
    let (a, aaaa) = match plan.family {
        Family::V4 => (cut.clone(), DnsLookup::not_asked()),
        Family::V6 => (DnsLookup::not_asked(), cut.clone()),
        Family::Any => (cut.clone(), cut.clone()),
    };
    let mx_domain = super::dns::mx_candidates(name).into_iter().next();
    DnsReport {
        queried: true,
        resolver: plan
            .resolver
            .map(|ip| SocketAddr::new(ip, 53).to_string())
            .unwrap_or_else(|| "system".into()),
        a,
        aaaa,
        mx_lookup: if mx_domain.is_some() {
            cut
        } else {
            DnsLookup::not_asked()
        },
        mx_domain,
        mx: Vec::new(),
        resolver_checks: Vec::new(),
    }
}

/// Whether a signal cut a lookup or a stage of this report.
pub fn cut_short(report: &Report) -> bool {
    let d = &report.dns;
    [&d.a, &d.aaaa, &d.mx_lookup]
        .iter()
        .any(|l| l.outcome == DnsOutcome::Interrupted)
        || report
            .ports
            .iter()
            .flat_map(|p| &p.attempts)
            .flat_map(|a| &a.stages)
            .any(|s| s.status == StageStatus::Interrupted)
}

/// The report of a run stopped before its first probe began (while this host's rules were read for --as-user).
pub fn before_start(plan: &Plan, stop: &Stop, ms: f64) -> Report {
    Report {
        target: plan.target.to_string(),
        invocation: plan.invocation.clone(),
        host: super::host::gather(),
        dns: DnsReport::not_queried(),
        ports: Vec::new(),
        tls_verification: !plan.accept_invalid_certs,
        elapsed_ms: ms,
        settings: plan.settings.clone(),
        interrupted: stop.signal(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::report::{AuthFacts, Stage, TlsFacts};

    fn shape(mode: PortMode) -> Shape {
        Shape {
            mode,
            login: false,
            envelope: false,
            send: false,
        }
    }

    fn with(stages: &[StageName]) -> Attempt {
        let mut a = Attempt::new(IpAddr::V4(Ipv4Addr::LOCALHOST));
        a.stages = stages
            .iter()
            .map(|&name| Stage {
                name,
                status: StageStatus::Ok,
                elapsed_ms: 10.0,
                detail: String::new(),
            })
            .collect();
        a
    }

    #[test]
    fn the_stage_under_way_follows_the_last_one_finished() {
        use StageName::*;
        let starttls = shape(PortMode::Starttls);
        let implicit = shape(PortMode::Implicit);
        let login = Shape {
            login: true,
            envelope: true,
            send: true,
            ..starttls
        };
        let mut accepted = with(&[Connect, Greeting, Ehlo, Tls, EhloTls, Auth]);
        accepted.auth = Some(AuthFacts {
            outcome: AuthOutcome::Accepted,
            mechanism: None,
            offered: Vec::new(),
            reply: None,
        });
        let mut refused = accepted.clone();
        if let Some(auth) = refused.auth.as_mut() {
            auth.outcome = AuthOutcome::Rejected;
        }
        let mut not_offered = with(&[Connect, Greeting, Ehlo, Tls]);
        not_offered.tls = Some(TlsFacts::new(TlsOutcome::NotOffered));
        let mut established = with(&[Connect, Greeting, Ehlo, Tls]);
        established.tls = Some(TlsFacts::new(TlsOutcome::Established));
        let cases: Vec<(&str, Attempt, Shape, Option<StageName>)> = vec![
            ("nothing finished", with(&[]), starttls, Some(Connect)),
            ("connected", with(&[Connect]), starttls, Some(Greeting)),
            (
                "connected, TLS first",
                with(&[Connect]),
                implicit,
                Some(Tls),
            ),
            ("greeted", with(&[Connect, Greeting]), starttls, Some(Ehlo)),
            (
                "after EHLO",
                with(&[Connect, Greeting, Ehlo]),
                starttls,
                Some(Tls),
            ),
            ("STARTTLS done", established, starttls, Some(EhloTls)),
            (
                "no STARTTLS, no login",
                not_offered.clone(),
                starttls,
                Some(Quit),
            ),
            ("no STARTTLS, a login", not_offered, login, Some(Auth)),
            (
                "implicit handshake done",
                with(&[Connect, Tls]),
                implicit,
                Some(Greeting),
            ),
            (
                "implicit greeting",
                with(&[Connect, Tls, Greeting]),
                implicit,
                Some(EhloTls),
            ),
            ("logged in", accepted, login, Some(MailFrom)),
            ("login refused", refused, login, Some(Quit)),
            (
                "sender taken",
                with(&[Connect, Greeting, MailFrom]),
                login,
                Some(RcptTo),
            ),
            (
                "recipient taken, --send",
                with(&[MailFrom, RcptTo]),
                login,
                Some(Data),
            ),
            (
                "recipient taken",
                with(&[MailFrom, RcptTo]),
                starttls,
                Some(Quit),
            ),
            ("all done", with(&[Connect, Greeting, Quit]), starttls, None),
        ];
        for (name, a, shape, want) in cases {
            assert_eq!(running_stage(&a, shape), want, "{name}");
        }
    }

    #[test]
    fn the_running_stage_is_marked_with_the_time_beyond_the_finished_ones() {
        let mut a = with(&[StageName::Connect]);
        let began = Instant::now() - std::time::Duration::from_millis(1010);
        mark_with(&mut a, shape(PortMode::Starttls), Signal::Sigint, began);
        let greeting = a.stage(StageName::Greeting);
        assert_eq!(
            greeting.map(|s| s.status),
            Some(StageStatus::Interrupted),
            "{a:?}"
        );
        let ms = greeting.map_or(0.0, |s| s.elapsed_ms);
        assert!((1000.0..1500.0).contains(&ms), "{ms}");
        assert!(
            greeting.is_some_and(|s| s.detail.contains("SIGINT")),
            "{a:?}"
        );
        // A chain with nothing left to do keeps its stages as they are.
        let mut done = with(&[StageName::Connect, StageName::Greeting, StageName::Quit]);
        let before = done.clone();
        mark_with(&mut done, shape(PortMode::Starttls), Signal::Sigterm, began);
        assert_eq!(done, before);
    }
}
