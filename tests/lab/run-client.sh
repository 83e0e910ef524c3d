#!/usr/bin/env bash
# Run a command inside the lab's client namespace, in a private UTS namespace whose
# hostname is client.lab.example.com. stdin/stdout/stderr and the exit status pass through.
#   tests/lab/run-client.sh /path/to/smtp-doctor check mail.lab.example.com --json \
#       --timeout 2 --ca-file "$SDLAB_DIR/ca.pem"
# SDLAB_RUN_AS=USER runs the command as that user (setpriv, with the user's groups) after
# the namespaces and the overlay mounts are set up, to exercise the unprivileged code paths.
# When a firewall-manager fault made the "host files" overlay ($SDLAB_DIR/hostfs), the command
# sees /etc, /usr/local, /var and /run through it (see in-client.sh).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
(($# > 0)) || { echo "usage: run-client.sh COMMAND [ARGS...]" >&2; exit 2; }
ns_exists "$NS_CLIENT" || die "namespace $NS_CLIENT does not exist (run tests/lab/up.sh)"
drop=()
if [[ -n ${SDLAB_RUN_AS:-} ]]; then
    id "$SDLAB_RUN_AS" >/dev/null 2>&1 || die "SDLAB_RUN_AS: no user '$SDLAB_RUN_AS'"
    drop=(setpriv --reuid="$SDLAB_RUN_AS" --regid="$(id -g "$SDLAB_RUN_AS")" --init-groups --)
fi
# `ip netns exec` bind-mounts /etc/netns/$NS_CLIENT/{resolv.conf,hosts}; unshare --uts gives a
# hostname of our own without touching the host's, unshare --mount a mount namespace of our own
# where in-client.sh mounts the "host files" overlay of the firewall-manager faults (when one
# exists, see lib.sh hostfs_*) before dropping privileges. So `run-client.sh ufw allow out 587/tcp`
# runs the real ufw against the lab's overlay: its rules go into the client namespace, its files
# into $SDLAB_DIR/hostfs.
exec ip netns exec "$NS_CLIENT" unshare --uts --mount --propagation private -- \
    bash "$HERE/in-client.sh" "$CLIENT_NAME" "${drop[@]}" "$@"
