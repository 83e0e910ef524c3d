#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 660) with the machine's stable toolchain, then minimises
# each corpus into fuzz/corpus/<target>, which `cargo test` replays. Crashes land in fuzz/artifacts/<target>;
# copy a fixed crash into fuzz/regressions/<target> so the suite keeps it.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-660}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1   # cargo-fuzz passes -Z flags; the stable compiler accepts them this way
for t in reply ehlo redact mta serve targets; do
  mkdir -p "corpus/$t" "work/$t"
  cargo fuzz run -s none "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=5 -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
    2>&1 | tee "/tmp/fuzz-$t.log" | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==|SUMMARY|Done)' || true
  # Keep only a minimal corpus in the repository.
  rm -rf "min/$t" && mkdir -p "min/$t"
  cargo fuzz cmin -s none "$t" "work/$t" -- -merge=1 "min/$t" >/dev/null 2>&1 || true
  if [ -n "$(ls -A "min/$t" 2>/dev/null)" ]; then rm -rf "corpus/$t" && mv "min/$t" "corpus/$t"; fi
done
