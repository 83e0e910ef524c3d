//! The exit statuses, defined once: the binary returns them, and the man page, `check --help` and the README show them.

/// Every probed path works (warnings allowed).
pub const OK: u8 = 0;
/// A problem was diagnosed: the report names the layer.
pub const PROBLEM: u8 = 1;
/// Bad usage: unknown flag, bad host, unreadable --ca-file or --env-file, a malformed --targets file, no password for --user.
pub const USAGE: u8 = 2;
/// smtp-doctor itself could not run (no async runtime, output closed with an error).
pub const INTERNAL: u8 = 3;
/// Stopped by Ctrl-C (SIGINT): 128 + 2, as a shell reports a command the signal ended.
pub const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

/// The exit status of a run a signal stopped.
pub fn signal_status(signal: crate::report::Signal) -> u8 {
    match signal {
        crate::report::Signal::Sigint => INTERRUPTED,
        crate::report::Signal::Sigterm => TERMINATED,
    }
}

/// Each exit status with its meaning in plain text; each place that shows it does its own escaping.
pub const TABLE: [(u8, &str); 6] = [
    (
        OK,
        "Every probed path works (warnings allowed): the report's ok is true.",
    ),
    (
        PROBLEM,
        "A problem was diagnosed: the report's ok is false and verdict.layer names the layer. With several targets: any target has a problem, or was not probed (its password variable is unset).",
    ),
    (
        USAGE,
        "Bad usage: unknown flag, bad host name, unreadable --ca-file, an --env-file that cannot be read or holds no mail settings, a malformed --targets file, no password for --user.",
    ),
    (
        INTERNAL,
        "smtp-doctor itself could not run (no async runtime, report could not be written).",
    ),
    (
        INTERRUPTED,
        "Interrupted by Ctrl-C (SIGINT): what was known so far is written, the stages still running marked interrupted (\"interrupted\": true in JSON); in every format but nagios. A second Ctrl-C exits at once, writing nothing more.",
    ),
    (
        TERMINATED,
        "Stopped by SIGTERM: as for Ctrl-C.",
    ),
];

/// --format nagios: the plugin states, by the exit status Nagios and Icinga read them from.
pub mod nagios {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const CRITICAL: u8 = 2;
    /// Bad usage or an internal failure: the check itself could not be made (never a DNS failure or a timeout).
    pub const UNKNOWN: u8 = 3;

    /// Each state with its exit status and when smtp-doctor reports it.
    pub const TABLE: [(u8, &str, &str); 4] = [
        (
            OK,
            "OK",
            "No finding is an error or a warning (notes allowed); the total time and the certificates' days left are within the thresholds.",
        ),
        (
            WARNING,
            "WARNING",
            "A warning finding (ipv6_broken, dns_partial_failure, owner_rule_blocks_others, helo_only, starttls_not_offered on port 25…), or the total time alerts on --warning, or a certificate has fewer days left than --cert-warning-days (default 14).",
        ),
        (
            CRITICAL,
            "CRITICAL",
            "An error finding of any layer: dns (NXDOMAIN, SERVFAIL, timeouts), network, firewall, isp_block, local_mta, server (closed port, timeouts), tls (expired, untrusted, self-signed or misnamed certificate, failed handshake, no STARTTLS on a submission port), credentials, sender; or the total time alerts on --critical, or a certificate has fewer days left than --cert-critical-days.",
        ),
        (
            UNKNOWN,
            "UNKNOWN",
            "Bad usage (unknown flag, bad host, bad range, an unreadable --ca-file) or smtp-doctor could not run: said on standard output as SMTP UNKNOWN - reason. Also a run stopped by Ctrl-C or SIGTERM before it could decide (a second Ctrl-C exits 130 at once).",
        ),
    ];
}

/// The "Exit status" paragraph of `check --help`.
pub fn help() -> String {
    let mut text = String::from("Exit status:");
    for (code, meaning) in TABLE {
        text.push_str(&format!("\n  {code}  {meaning}"));
    }
    text.push_str("\n\nWith --format nagios, the plugin states instead:");
    for (code, state, meaning) in nagios::TABLE {
        text.push_str(&format!("\n  {code}  {state}: {meaning}"));
    }
    text
}

/// The README's table row for one status, as the README must spell it.
pub fn readme_row(code: u8, meaning: &str) -> String {
    format!("| {code} | {meaning} |")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = TABLE.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            vec![OK, PROBLEM, USAGE, INTERNAL, INTERRUPTED, TERMINATED]
        );
        let states: Vec<u8> = nagios::TABLE.iter().map(|(c, _, _)| *c).collect();
        assert_eq!(
            states,
            vec![
                nagios::OK,
                nagios::WARNING,
                nagios::CRITICAL,
                nagios::UNKNOWN
            ]
        );
        // An internal failure means UNKNOWN in both tables, so the runtime's failure path needs no format.
        assert_eq!(INTERNAL, nagios::UNKNOWN);
    }
}
