# shellcheck shell=bash
# Shared definitions for the smtp-doctor fault lab. Sourced by up.sh, down.sh,
# fault.sh and run-client.sh; not meant to be run on its own.
#
# Environment:
#   SDLAB_PREFIX  prefix of the namespace names (default: sdlab)
#   SDLAB_DIR     runtime state: configs, certs, logs, pid files (default: /tmp/$SDLAB_PREFIX,
#                 i.e. /tmp/sdlab). Two labs at once need different prefixes AND dirs; with
#                 only SDLAB_PREFIX set the dir follows it.

SDLAB_PREFIX=${SDLAB_PREFIX:-sdlab}
SDLAB_DIR=${SDLAB_DIR:-/tmp/$SDLAB_PREFIX}
export SDLAB_PREFIX SDLAB_DIR

if [[ ! $SDLAB_PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]]; then
    echo "lab: SDLAB_PREFIX must be 1-8 lowercase letters/digits, starting with a letter" >&2
    exit 2
fi
# Postfix, socat and dnsmasq configs embed this path: keep it plain and absolute.
if [[ ! $SDLAB_DIR =~ ^/[A-Za-z0-9._/-]+$ || $SDLAB_DIR == / || $SDLAB_DIR =~ (^|/)\.\.(/|$) ]]; then
    echo "lab: SDLAB_DIR must be an absolute path of [A-Za-z0-9._/-] (got '$SDLAB_DIR')" >&2
    exit 2
fi
SDLAB_DIR=${SDLAB_DIR%/}

NS_CLIENT=$SDLAB_PREFIX-client
NS_ROUTER=$SDLAB_PREFIX-router     # router1: the client's first hop (its ISP) and the resolver
NS_ROUTER2=$SDLAB_PREFIX-router2   # router2: the server's last hop; the server sits three hops from the client
NS_SERVER=$SDLAB_PREFIX-server
ALL_NS=("$NS_CLIENT" "$NS_ROUTER" "$NS_ROUTER2" "$NS_SERVER")

ZONE=lab.example.com
CLIENT_NAME=client.$ZONE
MAIL_NAME=mail.$ZONE

# Addresses (documentation ranges only: 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
CLIENT4=198.51.100.10   CLIENT6=2001:db8:1::10
RTR_C4=198.51.100.1     RTR_C6=2001:db8:1::1      # router1, client side; also the DNS resolver
R1_T4=192.0.2.1         R1_T6=2001:db8:3::1       # router1, transit side (towards router2)
R2_T4=192.0.2.2         R2_T6=2001:db8:3::2       # router2, transit side: the source of router2's ICMP to the client
RTR_S4=203.0.113.1      RTR_S6=2001:db8:2::1      # router2, server side (the server's gateway)
MAIL4=203.0.113.10      MAIL6=2001:db8:2::10      # main Postfix: 25 STARTTLS, 587 STARTTLS+AUTH, 465 TLS+AUTH
NOTLS4=203.0.113.11     NOTLS6=2001:db8:2::11     # no TLS at all: 25, 587 (AUTH in clear)
SELF4=203.0.113.12      SELF6=2001:db8:2::12      # self-signed certificate: 25, 587, 465
EXPIRED4=203.0.113.13   EXPIRED6=2001:db8:2::13   # CA-signed but expired certificate: 25, 587, 465
BUSY4=203.0.113.20      BUSY6=2001:db8:2::20      # socat: greets "421" and closes, on 25 and 587
SILENT4=203.0.113.21    SILENT6=2001:db8:2::21    # socat: accepts, never greets, on 25, 465 and 587
BLOCKED4=203.0.113.22   BLOCKED6=2001:db8:2::22   # socat: greets "554 ... blocked using zen.spamhaus.org" and closes, on 25 and 587
NOTSMTP4=203.0.113.23   NOTSMTP6=2001:db8:2::23   # socat: sends an SSH banner, then waits (30 s idle limit), on 587
DEAD6=2001:db8:2::99                              # on the server link, nobody home (AAAA of deadv6)
SERVFAIL_NAME=servfail.$ZONE                      # the one name dnsmasq forwards: to SERVFAIL_UPSTREAM
SERVFAIL_UPSTREAM=127.0.0.1 SERVFAIL_PORT=5300    # router's loopback: socat+perl answering SERVFAIL to all

# Interfaces (created directly inside the namespaces, never visible on the host).
IF_CLIENT=eth0          # in client
IF_RTR_C=eth-client     # in router1, towards client
IF_R1_T=eth-transit     # in router1, towards router2
IF_R2_T=eth-transit     # in router2, towards router1
IF_RTR_S=eth-server     # in router2, towards server
IF_SERVER=eth0          # in server

PF_SERVER_DIR=$SDLAB_DIR/postfix/server   # Postfix instance on the server (all server variants)
PF_LOCAL_DIR=$SDLAB_DIR/postfix/local     # Postfix "local MTA" on the client (127.0.0.1, ::1)
PF_RELAY_DIR=$SDLAB_DIR/postfix/relay     # Postfix on the client that relays or delivers (mta.sh), no smtpd
PF_INSTANCES=("$PF_SERVER_DIR" "$PF_LOCAL_DIR" "$PF_RELAY_DIR")

NETNS_MARK="# written by smtp-doctor tests/lab/up.sh"   # first line of /etc/netns/<ns>/resolv.conf

# The client's resolv.conf: normal (nameserver = the router), or without any nameserver line
# (fault resolver-none). The marker stays the first line either way, so down.sh recognises it.
write_client_resolv_conf() { # $1 = normal|none
    # Written in place: a temporary file in /etc/netns/<ns>/ would be bind-mounted too (and break
    # every `ip netns exec` while it exists).
    local f=/etc/netns/$NS_CLIENT/resolv.conf
    if [[ $1 == none ]]; then
        printf '%s\n# fault resolver-none: no nameserver line\n' "$NETNS_MARK" > "$f"
    else
        printf '%s\nnameserver %s\n' "$NETNS_MARK" "$RTR_C4" > "$f"
    fi
}

SASL_USER=app@$ZONE
PASSWORD_FILE=$SDLAB_DIR/auth/password    # mode 600; the password of $SASL_USER

ns_exec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }

# iptables in a namespace; -w waits for the xtables lock.
ipt4() { local ns=$1; shift; ip netns exec "$ns" iptables -w 5 "$@"; }
ipt6() { local ns=$1; shift; ip netns exec "$ns" ip6tables -w 5 "$@"; }

die() { echo "lab: error: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

require_tools() {
    local t missing=()
    for t in ip iptables ip6tables postfix postconf dnsmasq saslpasswd2 openssl socat perl unshare ss flock timeout; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run tests/lab/install-deps.sh)"
}

# Edit alternate_config_directories of the default /etc/postfix/main.cf under a lock.
# $1 = add|remove, rest = directories.
postfix_alt_dirs() {
    local op=$1; shift
    [[ -e /etc/postfix/main.cf ]] || die "/etc/postfix/main.cf missing (run tests/lab/install-deps.sh)"
    (
        flock -w 10 9 || die "cannot lock /run/sdlab-postfix-main-cf.lock"
        local cur d x out=() keep
        cur=$(postconf -h alternate_config_directories 2>/dev/null || true)
        for d in ${cur//,/ }; do
            keep=1
            if [[ $op == remove ]]; then for x in "$@"; do [[ $d == "$x" ]] && keep=0; done; fi
            ((keep)) && out+=("$d")
        done
        if [[ $op == add ]]; then
            for x in "$@"; do
                keep=1
                for d in "${out[@]}"; do [[ $d == "$x" ]] && keep=0; done
                ((keep)) && out+=("$x")
            done
        fi
        local joined
        joined=$(IFS=' '; echo "${out[*]}")
        if [[ $joined != "$cur" ]]; then
            postconf -e "alternate_config_directories = $joined"
        fi
    ) 9>/run/sdlab-postfix-main-cf.lock
}

# Is there a TCP listener on addr:port in a namespace? $1=ns $2=addr $3=port
is_listening() {
    local pat
    if [[ $2 == *:* ]]; then pat="[$2]:$3"; else pat="$2:$3"; fi
    ip netns exec "$1" ss -Htln 2>/dev/null | awk '{print $4}' | grep -qxF -- "$pat"
}

# Wait until a TCP listener exists (or, wait_closed, no longer exists) in a namespace,
# polling every 0.1 s for at most $4 seconds (default 5). $1=ns $2=addr $3=port
wait_listen() {
    local deadline=$((${EPOCHREALTIME/./} + ${4:-5} * 1000000))
    while ! is_listening "$1" "$2" "$3"; do
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.1
    done
}
wait_closed() {
    local deadline=$((${EPOCHREALTIME/./} + ${4:-5} * 1000000))
    while is_listening "$1" "$2" "$3"; do
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        sleep 0.1
    done
}

# Milliseconds until the first line of a server's greeting (connect included), or "none". $1=ns $2=addr $3=port
greeting_ms() {
    # shellcheck disable=SC2016
    ip netns exec "$1" timeout 12 bash -c 't0=${EPOCHREALTIME/./}
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        IFS= read -r -t 10 _ <&3 || exit 1
        echo $(((${EPOCHREALTIME/./} - t0) / 1000))' "$2" "$3" 2>/dev/null || echo none
}

# Wait (bounded, 10 s) until mail.lab.example.com's port 25 greets after at least $1 and at most $2 ms, as
# seen from the server itself: after a reload, smtpd processes of the old configuration may still answer.
wait_mail_greeting() {
    local lo=$1 hi=$2 deadline=$((${EPOCHREALTIME/./} + 10000000)) ms=none
    while ((${EPOCHREALTIME/./} < deadline)); do
        ms=$(greeting_ms "$NS_SERVER" "$MAIL4" 25)
        [[ $ms != none ]] && ((ms >= lo && ms <= hi)) && return 0
        sleep 0.2
    done
    echo "lab: mail's greeting took ${ms} ms (want $lo-$hi)" >&2
    return 1
}

# Print the last lines of a file to stderr, labelled.
tail_log() {
    local f=$1 n=${2:-30}
    if [[ -f $f ]]; then
        echo "----- last $n lines of $f -----" >&2
        tail -n "$n" "$f" >&2
        echo "-----" >&2
    else
        echo "(no log file $f)" >&2
    fi
}

# ---------------------------------------------------------------------------
# Postfix configuration
# ---------------------------------------------------------------------------

# Write main.cf for an instance.
# $1=instance dir $2=name (for syslog/log) $3=myhostname $4=inet_interfaces $5=key $6=cert $7=sasl dir
write_postfix_main_cf() {
    local dir=$1 name=$2 host=$3 ifaces=$4 key=$5 cert=$6 sasl=$7
    cat > "$dir/etc/main.cf" <<EOC
# Generated by smtp-doctor tests/lab/up.sh -- instance "$name"
compatibility_level = 3.6
config_directory = $dir/etc
queue_directory = $dir/queue
data_directory = $dir/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = $SDLAB_PREFIX-$name
maillog_file = $SDLAB_DIR/log/postfix-$name.log
maillog_file_prefixes = /var, /dev/stdout, $SDLAB_DIR/log
myhostname = $host
mydomain = $ZONE
myorigin = \$myhostname
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
readme_directory = no
inet_interfaces = $ifaces
inet_protocols = all
mynetworks = 127.0.0.0/8 [::1]/128
# Accept mail for the lab zone (and, after AUTH, anywhere) and throw it away.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = $ZONE
relay_recipient_maps =
default_transport = discard:lab
relay_transport = discard:lab
local_transport = discard:lab
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_peername_lookup = no
smtpd_tls_chain_files = $key, $cert
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtp_tls_security_level = none
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_local_domain =
broken_sasl_auth_clients = no
smtpd_timeout = 30s
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
smtpd_client_connection_rate_limit = 0
anvil_rate_time_unit = 60s
# Who may send as whom after AUTH (reject_known_sender_login_mismatch on the submission ports): the lab
# user owns its own address, ceo@ belongs to someone else; any other sender is unknown and passes.
smtpd_sender_login_maps = inline:{$SASL_USER=$SASL_USER, ceo@$ZONE=boss@$ZONE}
# Mail for hold@ stays in the hold queue, where the lab finds the test message of --send.
smtpd_recipient_restrictions = check_recipient_access inline:{hold@$ZONE=HOLD}
EOC
}

# The fixed (non-smtpd) part of master.cf; chroot "n" everywhere.
postfix_master_base() {
    cat <<'EOC'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOC
}

# smtpd services for one address. $1=addr $2=tag (for syslog_name) $3=ports ("25 587 465")
# $4=tls mode (tls|notls) $5... extra "-o" options applied to every service of this address.
postfix_smtpd_services() {
    local addr=$1 tag=$2 ports=$3 mode=$4; shift 4
    local extra="" o port listen
    for o in "$@"; do extra+="
  -o $o"; done
    if [[ $addr == *:* ]]; then listen="[$addr]"; else listen=$addr; fi
    for port in $ports; do
        echo "$listen:$port inet n - n - - smtpd"
        echo "  -o syslog_name=$SDLAB_PREFIX-$tag/$port$extra"
        case $port/$mode in
            25/tls) ;;
            25/notls) echo "  -o smtpd_tls_security_level=none" ;;
            587/tls)
                echo "  -o smtpd_tls_security_level=encrypt"
                echo "  -o smtpd_tls_auth_only=yes"
                echo "  -o smtpd_sasl_auth_enable=yes"
                echo "  -o smtpd_sender_restrictions=reject_known_sender_login_mismatch"
                echo "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject" ;;
            587/notls)
                echo "  -o smtpd_tls_security_level=none"
                echo "  -o smtpd_tls_auth_only=no"
                echo "  -o smtpd_sasl_auth_enable=yes"
                echo "  -o smtpd_sender_restrictions=reject_known_sender_login_mismatch"
                echo "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject" ;;
            465/tls)
                echo "  -o smtpd_tls_wrappermode=yes"
                echo "  -o smtpd_tls_auth_only=yes"
                echo "  -o smtpd_sasl_auth_enable=yes"
                echo "  -o smtpd_sender_restrictions=reject_known_sender_login_mismatch"
                echo "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject" ;;
            *) die "bad smtpd service $port/$mode" ;;
        esac
    done
}

# master.cf of the server instance. Arguments: ports to leave closed on mail.lab.example.com
# (the stop-PORT faults), e.g. "587". GREETING_DELAY=N (the slow-greeting-N faults): mail.lab.example.com
# greets only after N seconds of silence, on every port (465: after the TLS handshake). It is Postfix's own
# anti-zombie pause: with smtpd_delay_reject = no the client restrictions run before the 220, and `sleep N`
# is one of them.
write_server_master_cf() {
    local closed=" $* " mail_ports="" p c=$SDLAB_DIR/certs delay=${GREETING_DELAY:-} slow=()
    for p in 25 587 465; do [[ $closed == *" $p "* ]] || mail_ports+=" $p"; done
    if [[ -n $delay ]]; then
        [[ $delay =~ ^[1-9]$ ]] || die "GREETING_DELAY must be 1-9 seconds (got '$delay')"
        slow=(smtpd_delay_reject=no "smtpd_client_restrictions=sleep,$delay")
    fi
    {
        echo "# Generated by smtp-doctor tests/lab -- server instance (closed on mail: ${*:-none}; greeting delay: ${delay:-none})"
        local a
        for a in "$MAIL4" "$MAIL6"; do
            [[ -n ${mail_ports// /} ]] && postfix_smtpd_services "$a" mail "$mail_ports" tls "${slow[@]}"
        done
        for a in "$NOTLS4" "$NOTLS6"; do
            postfix_smtpd_services "$a" notls "25 587" notls "myhostname=notls.$ZONE"
        done
        for a in "$SELF4" "$SELF6"; do
            postfix_smtpd_services "$a" selfsigned "25 587 465" tls "myhostname=selfsigned.$ZONE" \
                "smtpd_tls_chain_files=$c/selfsigned.key,$c/selfsigned.pem"
        done
        for a in "$EXPIRED4" "$EXPIRED6"; do
            postfix_smtpd_services "$a" expired "25 587 465" tls "myhostname=expired.$ZONE" \
                "smtpd_tls_chain_files=$c/expired.key,$c/expired.pem"
        done
        postfix_master_base
    } > "$PF_SERVER_DIR/etc/master.cf.new"
    mv -f "$PF_SERVER_DIR/etc/master.cf.new" "$PF_SERVER_DIR/etc/master.cf"
}

write_local_master_cf() {
    {
        echo "# Generated by smtp-doctor tests/lab -- client-side local MTA"
        local a
        for a in 127.0.0.1 ::1; do
            postfix_smtpd_services "$a" local "25 587 465" tls
        done
        postfix_master_base
    } > "$PF_LOCAL_DIR/etc/master.cf"
}

# Start/stop/reload a Postfix instance in a namespace. Output goes to the instance's start log.
postfix_ctl() {
    local ns=$1 dir=$2 action=$3
    if ns_exists "$ns"; then
        ip netns exec "$ns" postfix -c "$dir/etc" "$action" </dev/null >>"$SDLAB_DIR/log/postfix-ctl.log" 2>&1
    else
        postfix -c "$dir/etc" "$action" </dev/null >>"$SDLAB_DIR/log/postfix-ctl.log" 2>&1
    fi
}

# ---------------------------------------------------------------------------
# "Host files" overlay of the client (firewall-manager faults)
# ---------------------------------------------------------------------------
# Faults that imitate a firewall manager place the manager's files (/etc/csf/csf.conf,
# /etc/firewalld/..., /usr/local/cpanel/version, /usr/local/hestia/data/firewall/rules.conf, the
# real ufw's /etc/ufw/*) in upper layers under $HOSTFS. in-client.sh (run by run-client.sh and by
# fault.sh for the real ufw) mounts each HOSTFS_DIRS entry as an overlayfs (lower = the host's
# directory, upper = $HOSTFS/<dir>/upper) in a private mount namespace inside the client
# namespace, so only commands run that way see them, and their writes never reach the host.
# `fault.sh clear` deletes $HOSTFS.
HOSTFS=$SDLAB_DIR/hostfs
HOSTFS_DIRS=(etc usr/local var run)

hostfs_key() { local d=${1#/}; echo "${d//\//-}"; }   # usr/local -> usr-local

hostfs_init() {
    local d k
    for d in "${HOSTFS_DIRS[@]}"; do
        k=$(hostfs_key "$d")
        mkdir -p "$HOSTFS/$k/upper" "$HOSTFS/$k/work"
        chmod 755 "$HOSTFS" "$HOSTFS/$k" "$HOSTFS/$k/upper"
    done
}

# Path in the upper layer for an absolute path under one of HOSTFS_DIRS. $1 = /etc/csf/csf.conf
hostfs_path() {
    local p=$1 d
    for d in "${HOSTFS_DIRS[@]}"; do
        if [[ $p == "/$d/"* ]]; then
            echo "$HOSTFS/$(hostfs_key "$d")/upper/${p#"/$d/"}"
            return 0
        fi
    done
    die "hostfs: $p is not under /${HOSTFS_DIRS[*]}"
}

# Write a file into the overlay from stdin. $1 = absolute path, $2 = mode (default 644).
# Directories on the way get mode 755 unless they already exist in the upper layer.
hostfs_put() {
    local f
    hostfs_init
    f=$(hostfs_path "$1")
    mkdir -p "$(dirname "$f")"
    cat > "$f"
    chmod "${2:-644}" "$f"
}

# Mount the overlays (only if $HOSTFS exists). Must run as root inside a private mount namespace
# in the client namespace (in-client.sh). `ip netns exec` bind-mounted /etc/netns/<ns>/* over
# /etc/*; the overlay on /etc hides those binds, so they are made again on top of it.
hostfs_mount() {
    [[ -d $HOSTFS/etc/upper ]] || return 0
    local d k f
    for d in "${HOSTFS_DIRS[@]}"; do
        k=$(hostfs_key "$d")
        mount -t overlay "sdlab-hostfs-$k" \
            -o "lowerdir=/$d,upperdir=$HOSTFS/$k/upper,workdir=$HOSTFS/$k/work" "/$d"
    done
    for f in "/etc/netns/$NS_CLIENT"/*; do
        [[ -f $f ]] && mount --bind "$f" "/etc/${f##*/}"
    done
    return 0
}

# Run a command as root in the client namespace with the host-files overlay mounted (the way
# run-client.sh runs commands), without touching the caller's mount namespace.
in_client() {
    ip netns exec "$NS_CLIENT" unshare --uts --mount --propagation private -- \
        bash "$(dirname "${BASH_SOURCE[0]}")/in-client.sh" "$CLIENT_NAME" "$@"
}
