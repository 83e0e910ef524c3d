#!/usr/bin/env bash
# Internal helper of run-client.sh and fault.sh, not meant to be called by hand. It runs as root
# INSIDE the client namespace, in a private mount (and UTS) namespace of its own:
#   in-client.sh HOSTNAME COMMAND [ARGS...]
# 1. sets the hostname (the UTS namespace is private);
# 2. if the lab's "host files" overlay exists ($SDLAB_DIR/hostfs, made by fault.sh for the
#    firewall-manager faults), mounts it: /etc, /usr/local, /var and /run each become an overlayfs
#    whose lower layer is the host's directory and whose upper layer is
#    $SDLAB_DIR/hostfs/<dir>/upper. The command sees the manager files the fault placed
#    there (e.g. /etc/csf/csf.conf, /etc/ufw/user.rules) and every write it makes under these
#    four trees (ufw writing /etc/ufw/*.rules and /run/ufw.lock) lands in the upper layer,
#    never on the host. The mounts vanish with this process's mount namespace;
# 3. execs COMMAND (which may be setpriv ... when run-client.sh drops privileges: the mounts
#    are made before that).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
(($# >= 2)) || die "usage: in-client.sh HOSTNAME COMMAND [ARGS...]"
echo "$1" > /proc/sys/kernel/hostname
shift
hostfs_mount
exec "$@"
