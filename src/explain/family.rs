//! Words for an address family that fails while the other works: the remedy follows the layer that broke it.

use crate::diagnosis::{Facts, Finding, Layer};
use crate::report::Report;

use super::{connect, word as word_of, Words};

pub(super) fn word(report: &Report, f: &Finding) -> Words {
    let Facts::Family(ev) = &f.facts else {
        return Words::default();
    };
    let (broken, other) = if ev.v6 {
        ("IPv6", "IPv4")
    } else {
        ("IPv4", "IPv6")
    };
    let list: Vec<String> = ev.ports.iter().map(u16::to_string).collect();
    let mut evidence: Vec<String> = ev
        .failures
        .iter()
        .map(|x| {
            format!(
                "port {} over {broken}: {} [{}]",
                x.port.unwrap_or(0),
                word_of(report, x).message,
                x.code.name()
            )
        })
        .collect();
    evidence.dedup();
    let fallback = if ev.v6 {
        "make the client use IPv4: nodemailer `family: 4`, or set the host's address preference (gai.conf \
         `precedence ::ffff:0:0/96 100`)"
    } else {
        "make the client use IPv6"
    };
    let why = if ev.v6 {
        "Clients that try IPv6 first (Node.js 17+, some PHP and Python setups) fail or stall here."
    } else {
        "Clients that use IPv4 fail here."
    };
    let layers: Vec<Layer> = ev.failures.iter().map(Finding::layer).collect();
    let mut commands = Vec::new();
    let remedy = if let Some(fw) = ev.failures.iter().find(|x| x.layer() == Layer::Firewall) {
        // This host's own firewall breaks the family: its fix, not a general "fix the family".
        let (fix, cmds) = match &fw.facts {
            Facts::Connect(c) => connect::firewall_fix(report, c, fw.port.unwrap_or(0)),
            _ => (String::new(), Vec::new()),
        };
        commands = cmds;
        format!("{why} {fix} Or {fallback}.")
    } else if layers
        .iter()
        .all(|l| matches!(l, Layer::IspBlock | Layer::Server))
    {
        format!(
            "{why} The {broken} packets leave this host and are lost beyond it (the provider's {broken} routing or filtering, \
             or the server's {broken} side): ask the provider or the server's operator, and meanwhile {fallback}."
        )
    } else if layers.iter().all(|l| *l == Layer::Network) {
        format!(
            "{why} This host has no working {broken} route or address: check ip {}route and ip {}addr, or {fallback}.",
            if ev.v6 { "-6 " } else { "" },
            if ev.v6 { "-6 " } else { "" }
        )
    } else {
        format!("{why} Fix {broken} on the layer named above, or {fallback}.")
    };
    Words {
        message: format!(
            "{broken} is broken on port {} while {other} works",
            list.join(", ")
        ),
        evidence,
        remedy,
        commands,
    }
}
