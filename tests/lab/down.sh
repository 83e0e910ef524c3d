#!/usr/bin/env bash
# Tear the smtp-doctor fault lab down: stop every process the lab started, delete its
# namespaces and /etc/netns entries, and remove $SDLAB_DIR (SDLAB_KEEP=1 keeps it, e.g.
# to read the logs; SDLAB_UNREGISTER=1 also unlists its Postfix dirs from
# /etc/postfix/main.cf). Safe to run repeatedly and after a partial up.sh. Touches
# nothing else on the host.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root

# A zombie counts as gone: PID 1 on these machines may reap orphans late.
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}
# Wait (bounded, 0.1 s steps) for a pid to go away.
wait_gone() { local pid=$1 tries=${2:-50} i; for ((i = 0; i < tries; i++)); do alive "$pid" || return 0; sleep 0.1; done; return 1; }
readpid() { [[ -f $1 ]] && tr -dc 0-9 < "$1" || true; }
# Is this pid ours? In one of our namespaces while they exist; otherwise (namespace already
# gone) only if its command line or environment names $SDLAB_DIR (postfix's master carries
# MAIL_CONFIG=<dir>, dnsmasq and socat name their files). $2 is unused documentation.
ours() {
    local pid=$1 ns any=0
    for ns in "${ALL_NS[@]}"; do
        ns_exists "$ns" || continue
        any=1
        [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) == $(ip netns exec "$ns" readlink /proc/self/ns/net 2>/dev/null) ]] && return 0
    done
    ((any)) && return 1
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$SDLAB_DIR/" && return 0
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qF -- "$SDLAB_DIR/"
}

ctl_log=/dev/null
[[ -d $SDLAB_DIR/log ]] && ctl_log=$SDLAB_DIR/log/postfix-ctl.log

# 1. Postfix instances: a clean stop, then the master's pid file as a fallback.
for dir in "${PF_INSTANCES[@]}"; do
    [[ -f $dir/etc/main.cf ]] || continue
    pid=$(readpid "$dir/queue/pid/master.pid")
    postfix -c "$dir/etc" stop </dev/null >>"$ctl_log" 2>&1 || true
    if [[ -n $pid ]] && alive "$pid" && ours "$pid" master; then
        wait_gone "$pid" 50 || { kill -KILL "$pid" 2>/dev/null || true; }
    fi
done

# 2. dnsmasq via its pid file.
pid=$(readpid "$SDLAB_DIR/run/dnsmasq.pid")
if [[ -n $pid ]] && alive "$pid" && ours "$pid" dnsmasq; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
fi

# 3. socat responders: each is a process-group leader (setsid); its children share the group.
for f in "$SDLAB_DIR"/run/socat-*.pid; do
    [[ -f $f ]] || continue
    pid=$(readpid "$f")
    if [[ -n $pid ]] && alive "$pid" && ours "$pid" socat; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 20 || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$f"
done

# 4. Anything else still running inside the lab's namespaces (e.g. a stray smtpd or a
#    command left by run-client.sh) was started by the lab: TERM, then KILL.
for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || continue
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for pid in $pids; do wait_gone "$pid" 20 || kill -KILL "$pid" 2>/dev/null || true; done
done

# 5. Namespaces and their /etc/netns directories (only those up.sh created).
for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then
        ip netns del "$ns" 2>/dev/null || echo "lab: warning: cannot delete namespace $ns" >&2
    fi
    if [[ -f /etc/netns/$ns/resolv.conf ]] && grep -qxF "$NETNS_MARK" "/etc/netns/$ns/resolv.conf"; then
        rm -rf "/etc/netns/${ns:?}"
    fi
done
rmdir /etc/netns 2>/dev/null || true   # only if empty (up.sh may have created it)

# 6. The Postfix config directories stay listed in alternate_config_directories of
#    /etc/postfix/main.cf (a stale entry is harmless): every edit of main.cf makes each
#    Postfix command wait ~2 s for the file to "cool down". SDLAB_UNREGISTER=1 removes them.
if [[ ${SDLAB_UNREGISTER:-0} == 1 && -f /etc/postfix/main.cf ]]; then
    postfix_alt_dirs remove "$PF_SERVER_DIR/etc" "$PF_LOCAL_DIR/etc" "$PF_RELAY_DIR/etc"
fi

# 7. Runtime state.
if [[ ${SDLAB_KEEP:-0} != 1 && -f $SDLAB_DIR/.sdlab ]]; then
    rm -rf "${SDLAB_DIR:?}"
elif [[ -d $SDLAB_DIR ]]; then
    rm -f "$SDLAB_DIR"/run/*.pid 2>/dev/null || true
fi

# 8. Report leftovers (should be none).
left=()
for ns in "${ALL_NS[@]}"; do ns_exists "$ns" && left+=("namespace $ns"); done
if ((${#left[@]})); then
    echo "lab: down incomplete: ${left[*]}" >&2
    exit 1
fi
log "down (prefix $SDLAB_PREFIX)"
