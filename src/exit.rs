//! The exit statuses, defined once: the binary returns them, and the man page, `check --help` and the README show them.

/// Every probed path works (warnings allowed).
pub const OK: u8 = 0;
/// A problem was diagnosed: the report names the layer.
pub const PROBLEM: u8 = 1;
/// Bad usage: unknown flag, bad host, unreadable --ca-file or --env-file, a malformed --targets file, no password for --user.
pub const USAGE: u8 = 2;
/// smtp-doctor itself could not run (no async runtime, output closed with an error).
pub const INTERNAL: u8 = 3;

/// Each exit status with its meaning in plain text; each place that shows it does its own escaping.
pub const TABLE: [(u8, &str); 4] = [
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
];

/// The "Exit status" paragraph of `check --help`.
pub fn help() -> String {
    let mut text = String::from("Exit status:");
    for (code, meaning) in TABLE {
        text.push_str(&format!("\n  {code}  {meaning}"));
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
        assert_eq!(codes, vec![OK, PROBLEM, USAGE, INTERNAL]);
    }
}
