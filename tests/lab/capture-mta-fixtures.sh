#!/usr/bin/env bash
# Capture what the lab's relay Postfix (mta.sh) prints, for the Rust unit tests of `smtp-doctor mta`:
#   capture-mta-fixtures.sh [CASE...]      default: every case below
# For each case: fault.sh clear, the case's faults, mta.sh up CONFIG, one message (two for the wrong
# password, one per address family) submitted with the instance's sendmail, then (bounded) until it left
# the queue or was deferred; then, exactly as printed, into tests/fixtures/mta/postfix/<case>/:
#   postconf.txt      postconf -c DIR -x <the parameters smtp-doctor asks, read from src/host/postfix.rs>
#   postqueue.jsonl   postqueue -c DIR -j
#   captured_at       the capture time (seconds since the epoch), so the tests compute the same ages
# Ends with mta.sh down and fault.sh clear. The lab must be up (up.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/tests/fixtures/mta/postfix
ETC=$PF_RELAY_DIR/etc

# case -> "CONFIG FAULTS MESSAGES WAIT" (FAULTS "-" = none; WAIT empty|deferred)
declare -A CASE=(
    [relay-587]="relay-587 - 1 empty"
    [relay-587-wrong-password]="relay-587-wrong-password - 2 deferred"
    [relay-587-unbuilt-map]="relay-587-unbuilt-map - 1 deferred"
    [relay-25-router-drop]="relay-25 router-drop-25 1 deferred"
    [direct-router-drop]="direct router-drop-25 1 deferred"
    [relay-nxdomain]="relay-nxdomain - 1 deferred"
)

# The parameter names, from the one list smtp-doctor itself uses.
mapfile -t PARAMS < <(sed -n '/^pub const PARAMS/,/^];/p' "$ROOT/src/host/postfix.rs" | grep -o '"[a-zA-Z_]*"' | tr -d '"')
((${#PARAMS[@]} > 5)) || die "could not read PARAMS from src/host/postfix.rs"

names=("$@")
if ((${#names[@]} == 0)); then mapfile -t names < <(printf '%s\n' "${!CASE[@]}" | sort); fi

for name in "${names[@]}"; do
    [[ -n ${CASE[$name]:-} ]] || die "unknown case '$name' (known: ${!CASE[*]})"
    read -r config faults count wait <<<"${CASE[$name]}"
    "$HERE/fault.sh" clear
    # shellcheck disable=SC2086
    [[ $faults == - ]] || "$HERE/fault.sh" $faults
    "$HERE/mta.sh" up "$config"
    "$HERE/mta.sh" send "$count"
    if [[ $wait == empty ]]; then
        "$HERE/mta.sh" wait-empty 30
    else
        "$HERE/mta.sh" wait-deferred "$count" 30
    fi
    dir=$OUT/$name
    rm -rf "${dir:?}"
    mkdir -p "$dir"
    ip netns exec "$NS_CLIENT" postconf -c "$ETC" -x "${PARAMS[@]}" > "$dir/postconf.txt"
    ip netns exec "$NS_CLIENT" postqueue -c "$ETC" -j > "$dir/postqueue.jsonl"
    date +%s > "$dir/captured_at"
    log "captured $name"
done
"$HERE/mta.sh" down
"$HERE/fault.sh" clear
