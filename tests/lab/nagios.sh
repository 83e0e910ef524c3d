#!/usr/bin/env bash
# A real Nagios 4 (Debian's nagios4-core) executing plugins inside the lab's client namespace, from an
# instance directory of its own (nagios.cfg, objects.cfg and var/, written by tests/lab.rs). It never reads
# or writes the host's /etc/nagios4, and every process it starts is stopped before it returns.
#   nagios.sh verify DIR       nagios4 -v DIR/nagios.cfg (the config check Nagios runs before a start)
#   nagios.sh run DIR SECS     starts Nagios in the foreground in the client namespace (it drops to the user
#                              nagios, so the plugins run unprivileged, as on a real Nagios host), waits until
#                              DIR/var/status.dat shows every service of objects.cfg checked (at most SECS),
#                              copies it to DIR/var/status.final (Nagios deletes status.dat on its way out),
#                              then stops it; exit 0 when every service was checked
#   nagios.sh stop DIR         stops whatever of that instance still runs (the daemon and its workers)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root

(($# >= 2)) || die "usage: nagios.sh verify|run|stop DIR [SECS]"
cmd=$1
DIR=$(cd "$2" && pwd)
[[ -f $DIR/nagios.cfg ]] || die "no nagios.cfg in $DIR"
case $DIR in /etc/*) die "nagios.sh runs instance directories only, never under /etc" ;; esac

alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}
# The instance's processes: the daemon and its workers have an argument that is a file of DIR
# (nagios4 DIR/nagios.cfg, nagios4 --worker DIR/var/rw/nagios.qh). Read in bash alone, so no helper
# process of ours (grep…) can match.
instance_pids() {
    local p pid args a
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        mapfile -d '' args 2>/dev/null < "$p/cmdline" || continue
        for a in "${args[@]}"; do
            [[ $a == "$DIR/"* ]] && { echo "$pid"; break; }
        done
    done
    return 0
}
stop_instance() {
    local pids pid i
    pids=$(instance_pids)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for pid in $pids; do
        for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 30; i++)); do
        [[ -z $(instance_pids) ]] && return 0
        sleep 0.1
    done
    echo "nagios.sh: processes of $DIR still running: $(instance_pids)" >&2
    return 1
}

# Services defined, and services status.dat shows checked.
wanted() { grep -c '^define service' "$DIR/objects.cfg" || true; }
checked() {
    local n
    n=$(grep -c '^[[:space:]]*has_been_checked=1' "$DIR/var/status.dat" 2>/dev/null) || true
    echo "${n:-0}"
}

case $cmd in
verify)
    exec nagios4 -v "$DIR/nagios.cfg"
    ;;
stop)
    stop_instance
    ;;
run)
    secs=${3:-60}
    [[ -z $(instance_pids) ]] || die "an instance of $DIR already runs: $(instance_pids)"
    rm -f "$DIR/var/status.dat" "$DIR/var/status.final"
    want=$(wanted)
    # Foreground (no -d): the pid is Nagios itself (ip netns exec, unshare and in-client.sh all exec).
    "$HERE/run-client.sh" nagios4 "$DIR/nagios.cfg" > "$DIR/var/foreground.log" 2>&1 &
    pid=$!
    trap 'stop_instance || true' EXIT
    deadline=$((SECONDS + secs))
    # status.dat counts the host too; every service plus the host is checked when the count reaches want+1.
    while ((SECONDS < deadline)); do
        alive "$pid" || { echo "nagios.sh: Nagios exited early:" >&2; tail -20 "$DIR/var/foreground.log" >&2; exit 1; }
        (($(checked) >= want + 1)) && break
        sleep 0.5
    done
    got=$(checked)
    # Nagios deletes status.dat when it stops: keep what it recorded (it writes the file whole, then renames it).
    cp "$DIR/var/status.dat" "$DIR/var/status.final" 2>/dev/null || true
    stop_instance
    trap - EXIT
    wait "$pid" 2>/dev/null || true
    if ((got < want + 1)); then
        echo "nagios.sh: after ${secs}s $got of $((want + 1)) objects checked" >&2
        tail -20 "$DIR/var/nagios.log" >&2 || true
        exit 1
    fi
    echo "nagios.sh: $want services checked"
    ;;
*)
    die "unknown command $cmd"
    ;;
esac
