//! Words for a run a signal stopped: what was still running, and that no layer is blamed for it.

use std::net::SocketAddr;

use crate::diagnosis::{Facts, Finding, Running};
use crate::report::StageName;

use super::Words;

/// "the greeting on 192.0.2.1:25", "the DNS lookup of example.com".
fn place(r: &Running) -> String {
    if r.stage == StageName::Dns {
        return format!("the DNS lookup of {}", r.host);
    }
    let at = match (r.address, r.port) {
        (Some(a), Some(p)) => SocketAddr::new(a, p).to_string(),
        (None, Some(p)) => format!("{}:{p}", r.host),
        _ => r.host.clone(),
    };
    format!("the {} on {at}", r.stage.label())
}

pub(super) fn word(f: &Finding) -> Words {
    let Facts::Interrupted(ev) = &f.facts else {
        return Words::default();
    };
    let signal = ev.signal.name();
    let running = match ev.running.as_slice() {
        [] if ev.reading_mta => ": this host's MTA was still being read".to_string(),
        [] => String::new(),
        [one] => format!(": {} was still running", place(one)),
        [first, rest @ ..] => format!(
            ": {} and {} more stage(s) were still running",
            place(first),
            rest.len()
        ),
    };
    let message = format!(
        "{signal} stopped the run before it finished{running}; what had not finished is unknown and no layer is blamed for it"
    );
    let evidence = ev
        .running
        .iter()
        .map(|r| {
            format!(
                "{}: still running after {:.1} s",
                place(r),
                r.elapsed_ms / 1000.0
            )
        })
        .collect();
    Words::new(
        message,
        evidence,
        "Run it again and let it finish: each stage waits at most --timeout, and a stage that waits to the end is then named for what it is (a silent server, a dropped SYN, a dead resolver).",
    )
}
