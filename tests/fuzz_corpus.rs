//! Replays the committed fuzz corpora (and any crash inputs) through the same invariant checks, so CI needs no nightly toolchain.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("read corpus file");
            check(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn reply_corpus() {
    assert!(
        replay("reply", smtp_doctor::fuzz_checks::check_reply) > 0,
        "no corpus for reply"
    );
}

#[test]
fn ehlo_corpus() {
    assert!(
        replay("ehlo", smtp_doctor::fuzz_checks::check_ehlo) > 0,
        "no corpus for ehlo"
    );
}

#[test]
fn redact_corpus() {
    assert!(
        replay("redact", smtp_doctor::fuzz_checks::check_redact) > 0,
        "no corpus for redact"
    );
}

#[test]
fn mta_corpus() {
    assert!(
        replay("mta", smtp_doctor::fuzz_checks::check_mta) > 0,
        "no corpus for mta"
    );
}

#[test]
fn serve_corpus() {
    assert!(
        replay("serve", smtp_doctor::fuzz_checks::check_serve) > 0,
        "no corpus for serve"
    );
}

#[test]
fn targets_corpus() {
    assert!(
        replay("targets", smtp_doctor::fuzz_checks::check_targets) > 0,
        "no corpus for targets"
    );
}
