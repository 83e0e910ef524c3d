//! The parts of /probe that need no network: its parameters and its deadline.

use std::time::Duration;

use super::config::Module;
use super::{deadline_seconds, probe_params, quoted};
use crate::plan::{Family, Output, ProbeOptions};

fn module(timeout: f64) -> Module {
    Module {
        ports: Vec::new(),
        mode: None,
        credentials: None,
        envelope: None,
        timeout: Duration::from_secs_f64(timeout),
        options: ProbeOptions {
            family: Family::Any,
            timeout: Duration::from_secs(10),
            helo: None,
            extra_roots: Vec::new(),
            resolver: None,
            accept_invalid_certs: false,
            allow_cleartext_auth: false,
            output: Output::Prometheus,
        },
    }
}

#[test]
fn only_target_and_module_are_taken() {
    assert_eq!(
        probe_params("target=mail.example.com%3A587&module=submission"),
        Ok(("mail.example.com:587".into(), "submission".into()))
    );
    for (query, words) in [
        ("module=a", "missing parameter target"),
        ("target=&module=a", "missing parameter target"),
        ("target=h", "missing parameter module"),
        (
            "target=h&module=a&password=x",
            "unknown parameter 'password'",
        ),
        ("target=h&module=a&user=x", "unknown parameter 'user'"),
        ("target=h&module=a&timeout=9", "unknown parameter 'timeout'"),
        ("target=h&target=i&module=a", "given twice"),
        ("target=h&module=a&module=b", "given twice"),
        ("target=h&module=a&%0Aevil=1", "unknown parameter '\\nevil'"),
    ] {
        match probe_params(query) {
            Err(why) => {
                assert!(why.contains(words), "{query}: {why}");
                assert!(!why.contains('\n'), "{query}: not one line: {why:?}");
            }
            Ok(p) => panic!("{query} was accepted: {p:?}"),
        }
    }
}

#[test]
fn the_deadline_is_the_scrape_timeout_less_the_offset_capped_by_the_module() {
    let m = module(10.0);
    assert_eq!(deadline_seconds(Some("5"), 0.5, &m), Ok(4.5));
    assert_eq!(deadline_seconds(Some("30"), 0.5, &m), Ok(10.0));
    assert_eq!(deadline_seconds(None, 0.5, &m), Ok(10.0));
    assert_eq!(deadline_seconds(Some(" 2.5 "), 0.0, &m), Ok(2.5));
    // An offset that would leave nothing is not taken off.
    assert_eq!(deadline_seconds(Some("0.4"), 0.5, &m), Ok(0.4));
    for bad in ["0", "-1", "abc", "NaN", "inf", ""] {
        assert!(deadline_seconds(Some(bad), 0.5, &m).is_err(), "{bad}");
    }
}

#[test]
fn what_a_client_typed_is_quoted_on_one_bounded_line() {
    assert_eq!(quoted("a\nb\"c"), "a\\nb\\\"c");
    let long = "x".repeat(500);
    assert!(quoted(&long).chars().count() <= 81);
}
