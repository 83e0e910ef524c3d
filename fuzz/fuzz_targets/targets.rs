//! Fuzz target: smtp_doctor::fuzz_checks::check_targets on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    smtp_doctor::fuzz_checks::check_targets(data);
});
