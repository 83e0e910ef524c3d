#!/usr/bin/env bash
# Build the smtp-doctor fault lab: four network namespaces (client, router1, router2, server:
# the server sits three hops from the client), real Postfix with Cyrus SASL on the server, a
# Postfix "local MTA" on the client, dnsmasq as the client's resolver, socat responders, and
# empty iptables chains for fault.sh. Starts from a clean slate (runs down.sh first), so it is
# idempotent.
# Exits non-zero naming what did not come up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root
require_tools

set -E
trap 'echo "lab: up FAILED at up.sh line $LINENO: $BASH_COMMAND" >&2' ERR

# Refuse to take over a directory that is not a lab's (down.sh deletes $SDLAB_DIR).
if [[ -d $SDLAB_DIR && ! -f $SDLAB_DIR/.sdlab && -n $(ls -A "$SDLAB_DIR") ]]; then
    die "$SDLAB_DIR exists, is not empty and is not a lab directory; choose another SDLAB_DIR"
fi

t0=$(date +%s.%N)
"$HERE/down.sh" >/dev/null 2>&1 || "$HERE/down.sh" || true

mkdir -p "$SDLAB_DIR"
touch "$SDLAB_DIR/.sdlab"   # marker: down.sh only deletes a directory carrying it
mkdir -p "$SDLAB_DIR"/{log,run,bin,certs,auth,postfix}
chmod 755 "$SDLAB_DIR" "$SDLAB_DIR/log"
chmod 700 "$SDLAB_DIR/auth"

fail() {
    echo "lab: up FAILED: $1" >&2
    shift
    local f
    for f in "$@"; do tail_log "$f"; done
    echo "lab: the lab is left as it is for inspection; run tests/lab/down.sh to remove it" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Namespaces, links, addresses, routes
# ---------------------------------------------------------------------------
for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns"
    ns_exec "$ns" sysctl -qw \
        net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
        net.ipv6.conf.default.autoconf=0
    ip -n "$ns" link set lo up
done
# The end hosts answer every probe (their own REJECTs and closed ports); the routers keep Linux's
# default ICMP rate limits (a burst of about 6 errors per destination, then one per second, as
# real routers do or stricter), so a path probe must not count on an answer from every hop.
for ns in "$NS_CLIENT" "$NS_SERVER"; do
    ns_exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
done
for ns in "$NS_ROUTER" "$NS_ROUTER2"; do
    ns_exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
done

ip link add "$IF_CLIENT" netns "$NS_CLIENT" type veth peer name "$IF_RTR_C" netns "$NS_ROUTER"
ip link add "$IF_R1_T" netns "$NS_ROUTER" type veth peer name "$IF_R2_T" netns "$NS_ROUTER2"
ip link add "$IF_SERVER" netns "$NS_SERVER" type veth peer name "$IF_RTR_S" netns "$NS_ROUTER2"

ip -n "$NS_CLIENT" addr add "$CLIENT4/24" dev "$IF_CLIENT"
ip -n "$NS_CLIENT" addr add "$CLIENT6/64" dev "$IF_CLIENT" nodad
ip -n "$NS_ROUTER" addr add "$RTR_C4/24" dev "$IF_RTR_C"
ip -n "$NS_ROUTER" addr add "$RTR_C6/64" dev "$IF_RTR_C" nodad
ip -n "$NS_ROUTER" addr add "$R1_T4/24" dev "$IF_R1_T"
ip -n "$NS_ROUTER" addr add "$R1_T6/64" dev "$IF_R1_T" nodad
ip -n "$NS_ROUTER2" addr add "$R2_T4/24" dev "$IF_R2_T"
ip -n "$NS_ROUTER2" addr add "$R2_T6/64" dev "$IF_R2_T" nodad
ip -n "$NS_ROUTER2" addr add "$RTR_S4/24" dev "$IF_RTR_S"
ip -n "$NS_ROUTER2" addr add "$RTR_S6/64" dev "$IF_RTR_S" nodad
for a in "$MAIL4" "$NOTLS4" "$SELF4" "$EXPIRED4" "$BUSY4" "$SILENT4" "$BLOCKED4" "$NOTSMTP4"; do
    ip -n "$NS_SERVER" addr add "$a/24" dev "$IF_SERVER"
done
for a in "$MAIL6" "$NOTLS6" "$SELF6" "$EXPIRED6" "$BUSY6" "$SILENT6" "$BLOCKED6" "$NOTSMTP6"; do
    ip -n "$NS_SERVER" addr add "$a/64" dev "$IF_SERVER" nodad
done
for ns in "${ALL_NS[@]}"; do
    for l in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip -n "$ns" link set "$l" up
    done
done
# router1 reaches the server's networks through router2; router2 sends everything else back to router1.
ip -n "$NS_ROUTER" route add 203.0.113.0/24 via "$R2_T4"
ip -n "$NS_ROUTER" -6 route add 2001:db8:2::/64 via "$R2_T6"
ip -n "$NS_ROUTER2" route add default via "$R1_T4"
ip -n "$NS_ROUTER2" -6 route add default via "$R1_T6"
# Source address of the server's own traffic is its main address.
ip -n "$NS_CLIENT" route add default via "$RTR_C4"
ip -n "$NS_CLIENT" -6 route add default via "$RTR_C6"
ip -n "$NS_SERVER" route add default via "$RTR_S4" src "$MAIL4"
ip -n "$NS_SERVER" -6 route add default via "$RTR_S6" src "$MAIL6"

# /etc/netns/<ns>/ files are bind-mounted over /etc/ by `ip netns exec`.
mkdir -p "/etc/netns/$NS_CLIENT" "/etc/netns/$NS_SERVER"
# (every file there is bind-mounted, so the "made by the lab" marker is a comment line)
write_client_resolv_conf normal   # (lib.sh; fault resolver-none empties it)
printf '%s\nnameserver %s\n' "$NETNS_MARK" "$R1_T4" > "/etc/netns/$NS_SERVER/resolv.conf"   # dnsmasq, via router2
cat > "/etc/netns/$NS_CLIENT/hosts" <<EOF
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
$CLIENT4	$CLIENT_NAME client
$CLIENT6	$CLIENT_NAME client
EOF
cat > "/etc/netns/$NS_SERVER/hosts" <<EOF
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
$MAIL4	$MAIL_NAME mail
$MAIL6	$MAIL_NAME mail
EOF

# ---------------------------------------------------------------------------
# iptables: empty lab chains, hooked in once; fault.sh only fills/flushes them
# ---------------------------------------------------------------------------
for ipt in ipt4 ipt6; do
    $ipt "$NS_CLIENT" -N SDLAB-OUT
    $ipt "$NS_CLIENT" -A OUTPUT -j SDLAB-OUT
    $ipt "$NS_CLIENT" -t nat -N SDLAB-NAT
    $ipt "$NS_CLIENT" -t nat -A OUTPUT -j SDLAB-NAT
    for ns in "$NS_ROUTER" "$NS_ROUTER2"; do
        $ipt "$ns" -N SDLAB-FWD
        $ipt "$ns" -A FORWARD -j SDLAB-FWD
        $ipt "$ns" -N SDLAB-IN
        $ipt "$ns" -A INPUT -j SDLAB-IN
        $ipt "$ns" -N SDLAB-OUT   # what the router itself sends (its ICMP errors)
        $ipt "$ns" -A OUTPUT -j SDLAB-OUT
    done
    $ipt "$NS_SERVER" -N SDLAB-IN
    $ipt "$NS_SERVER" -A INPUT -j SDLAB-IN
done

# ---------------------------------------------------------------------------
# Certificates (EC P-256): test CA, CA-signed mail + expired, self-signed selfsigned + client
# ---------------------------------------------------------------------------
C=$SDLAB_DIR/certs
cat > "$C/openssl.cnf" <<EOF
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
for n in mail expired selfsigned client; do
    case $n in client) fqdn=$CLIENT_NAME ;; *) fqdn=$n.$ZONE ;; esac
    # mail's certificate also carries the family-test aliases (not wrongname: that one tests a name mismatch).
    sans="DNS:$fqdn"
    [[ $n == mail ]] && sans="$sans,DNS:v4only.$ZONE,DNS:v6only.$ZONE,DNS:deadv6.$ZONE"
    cat >> "$C/openssl.cnf" <<EOF
[leaf_$n]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
EOF
done
cat >> "$C/openssl.cnf" <<EOF
[ca]
default_ca = lab_ca
[lab_ca]
database = $C/index.txt
new_certs_dir = $C
serial = $C/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
EOF
: > "$C/index.txt"
echo 1000 > "$C/serial"
ossl() { openssl "$@" >>"$SDLAB_DIR/log/openssl.log" 2>&1 || fail "openssl $1 failed" "$SDLAB_DIR/log/openssl.log"; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

newkey "$C/ca.key"
ossl req -config "$C/openssl.cnf" -x509 -new -key "$C/ca.key" -sha256 -days 30 \
    -subj "/O=smtp-doctor lab/CN=smtp-doctor lab test CA" -extensions ca_ext -out "$C/ca.pem"
cp "$C/ca.pem" "$SDLAB_DIR/ca.pem"
# mail.lab.example.com: signed by the CA, valid now.
newkey "$C/mail.key"
ossl req -config "$C/openssl.cnf" -new -key "$C/mail.key" -subj "/O=smtp-doctor lab/CN=$MAIL_NAME" -out "$C/mail.csr"
ossl x509 -req -in "$C/mail.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -sha256 -extfile "$C/openssl.cnf" -extensions leaf_mail -out "$C/mail.pem"
# expired.lab.example.com: signed by the CA, valid 2024-01-01..2024-02-01 only.
newkey "$C/expired.key"
ossl req -config "$C/openssl.cnf" -new -key "$C/expired.key" -subj "/O=smtp-doctor lab/CN=expired.$ZONE" -out "$C/expired.csr"
ossl ca -batch -config "$C/openssl.cnf" -cert "$C/ca.pem" -keyfile "$C/ca.key" -in "$C/expired.csr" \
    -startdate 20240101000000Z -enddate 20240201000000Z -extensions leaf_expired -notext -out "$C/expired.pem"
# self-signed: selfsigned.lab.example.com (server variant), client.lab.example.com (local MTA).
for n in selfsigned client; do
    case $n in client) fqdn=$CLIENT_NAME ;; *) fqdn=$n.$ZONE ;; esac
    newkey "$C/$n.key"
    ossl req -config "$C/openssl.cnf" -x509 -new -key "$C/$n.key" -sha256 -days 30 \
        -subj "/O=smtp-doctor lab/CN=$fqdn" -extensions "leaf_$n" -out "$C/$n.pem"
done
chmod 644 "$C"/*.pem
chmod 640 "$C"/*.key
chgrp postfix "$C"/*.key

# ---------------------------------------------------------------------------
# SASL: sasldb with app@lab.example.com (server) and a user the app does not know (local MTA)
# ---------------------------------------------------------------------------
umask 077
openssl rand -hex 12 > "$PASSWORD_FILE.tmp"
tr -d '\n' < "$PASSWORD_FILE.tmp" > "$PASSWORD_FILE"
rm -f "$PASSWORD_FILE.tmp"
chmod 600 "$PASSWORD_FILE"
printf '%s\n' "$SASL_USER" > "$SDLAB_DIR/auth/user"
umask 022
chmod 644 "$SDLAB_DIR/auth/user"
chmod 711 "$SDLAB_DIR/auth"
for dir in "${PF_INSTANCES[@]}"; do
    mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
done
# Debian's Postfix reads $config_directory/sasl/smtpd.conf (and ignores cyrus_sasl_config_path,
# which main.cf sets to the same directory anyway).
for inst in server local; do
    if [[ $inst == server ]]; then S=$PF_SERVER_DIR/etc/sasl; else S=$PF_LOCAL_DIR/etc/sasl; fi
    mkdir -p "$S"
    rm -f "$S/sasldb2"
    cat > "$S/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $S/sasldb2
EOF
    if [[ $inst == server ]]; then
        saslpasswd2 -p -f "$S/sasldb2" -c -u "$ZONE" "${SASL_USER%@*}" < "$PASSWORD_FILE" \
            || fail "saslpasswd2 (server) failed"
    else
        openssl rand -hex 12 | tr -d '\n' | saslpasswd2 -p -f "$S/sasldb2" -c -u "$CLIENT_NAME" cpanel \
            || fail "saslpasswd2 (local) failed"
    fi
    chown root:postfix "$S/sasldb2"
    chmod 640 "$S/sasldb2"
done

# ---------------------------------------------------------------------------
# Postfix instances
# ---------------------------------------------------------------------------
write_postfix_main_cf "$PF_SERVER_DIR" server "$MAIL_NAME" all "$C/mail.key" "$C/mail.pem" "$PF_SERVER_DIR/etc/sasl"
write_server_master_cf
write_postfix_main_cf "$PF_LOCAL_DIR" local "$CLIENT_NAME" "127.0.0.1, [::1]" "$C/client.key" "$C/client.pem" "$PF_LOCAL_DIR/etc/sasl"
write_local_master_cf
postfix_alt_dirs add "$PF_SERVER_DIR/etc" "$PF_LOCAL_DIR/etc" "$PF_RELAY_DIR/etc"   # no-op when already listed
# Postfix pauses (300 ms steps) until a main.cf is at least ~2 s old ("let it cool down");
# these files are ours and complete, so date them back.
touch -d '-5 seconds' "$PF_SERVER_DIR/etc/main.cf" "$PF_LOCAL_DIR/etc/main.cf"
for dir in "${PF_INSTANCES[@]}"; do
    chown root:root "$dir" "$dir/etc" "$dir/queue"
    chown postfix "$dir/data"
done
# `postfix start` creates the queue directories (post-install create-missing) and runs
# its own checks; both instances start in parallel (about 1 s each).
postfix_ctl "$NS_SERVER" "$PF_SERVER_DIR" start & pf_server=$!
postfix_ctl "$NS_CLIENT" "$PF_LOCAL_DIR" start & pf_local=$!
wait "$pf_server" ||
    fail "postfix start (server)" "$SDLAB_DIR/log/postfix-ctl.log" "$SDLAB_DIR/log/postfix-server.log"
wait "$pf_local" ||
    fail "postfix start (local MTA)" "$SDLAB_DIR/log/postfix-ctl.log" "$SDLAB_DIR/log/postfix-local.log"

# ---------------------------------------------------------------------------
# dnsmasq on the router: the only resolver, authoritative-ish for lab.example.com, no upstreams
# ---------------------------------------------------------------------------
cat > "$SDLAB_DIR/dnsmasq.conf" <<EOF
# Generated by smtp-doctor tests/lab/up.sh
no-resolv
no-hosts
no-poll
bind-interfaces
listen-address=$RTR_C4,$RTR_C6,$R1_T4,$R1_T6
port=53
user=root
pid-file=$SDLAB_DIR/run/dnsmasq.pid
log-facility=$SDLAB_DIR/log/dnsmasq.log
log-queries
cache-size=0
local-ttl=60
# Never forward anything: unknown names in these zones are NXDOMAIN.
local=/$ZONE/
local=/100.51.198.in-addr.arpa/
local=/113.0.203.in-addr.arpa/
local=/2.0.192.in-addr.arpa/
local=/8.b.d.0.1.0.0.2.ip6.arpa/
domain-needed
bogus-priv
mx-host=$ZONE,$MAIL_NAME,10
mx-host=brokenmx.$ZONE,nothere.$ZONE,10
host-record=$MAIL_NAME,$MAIL4,$MAIL6
host-record=notls.$ZONE,$NOTLS4,$NOTLS6
host-record=selfsigned.$ZONE,$SELF4,$SELF6
host-record=expired.$ZONE,$EXPIRED4,$EXPIRED6
host-record=busy.$ZONE,$BUSY4,$BUSY6
host-record=silent.$ZONE,$SILENT4,$SILENT6
host-record=blocked.$ZONE,$BLOCKED4,$BLOCKED6
host-record=notsmtp.$ZONE,$NOTSMTP4,$NOTSMTP6
host-record=$CLIENT_NAME,$CLIENT4,$CLIENT6
host-record=gw.$ZONE,$RTR_C4,$RTR_C6
host-record=gw-server.$ZONE,$RTR_S4,$RTR_S6
# The transit link between the two routers; router2's ICMP errors to the client come from gw2's addresses.
host-record=gw1-transit.$ZONE,$R1_T4,$R1_T6
host-record=gw2.$ZONE,$R2_T4,$R2_T6
# Extra names for existing addresses. A PTR answer carries only the first host-record
# of an address, so these do not disturb the reverse names above.
# wrongname: the main server under a name its certificate does not carry
host-record=wrongname.$ZONE,$MAIL4,$MAIL6
# v4only / v6only: one address family only (the other type is NOERROR with no answer)
host-record=v4only.$ZONE,$MAIL4
host-record=v6only.$ZONE,$MAIL6
# deadv6: A works, AAAA is an unused address on the server's link
host-record=deadv6.$ZONE,$MAIL4,$DEAD6
# noaddr: the name exists (TXT) but has no A/AAAA
txt-record=noaddr.$ZONE,"no addresses here"
# servfail: the only name ever forwarded, to a responder on the router's own loopback that
# answers every query SERVFAIL; dnsmasq passes that on (a more specific server= wins over
# local=/$ZONE/). A dead port there would not do: dnsmasq's upstream sockets are unconnected,
# it never sees the ICMP error and never answers the client; an unroutable upstream (sendto
# fails) gets REFUSED, not SERVFAIL.
server=/$SERVFAIL_NAME/$SERVFAIL_UPSTREAM#$SERVFAIL_PORT
EOF
: > "$SDLAB_DIR/log/dnsmasq.log"
ns_exec "$NS_ROUTER" dnsmasq --conf-file="$SDLAB_DIR/dnsmasq.conf" </dev/null >>"$SDLAB_DIR/log/dnsmasq.log" 2>&1 ||
    fail "dnsmasq did not start" "$SDLAB_DIR/log/dnsmasq.log"

# ---------------------------------------------------------------------------
# socat responders on the server: busy (421 greeting), silent (never greets), blocked (554
# greeting naming the client's address and a DNSBL) and notsmtp (an SSH server's banner)
# ---------------------------------------------------------------------------
cat > "$SDLAB_DIR/bin/busy.sh" <<EOF
#!/bin/sh
printf '421 4.3.2 busy.$ZONE Service not available, closing transmission channel\r\n'
EOF
cat > "$SDLAB_DIR/bin/silent.sh" <<'EOF'
#!/bin/sh
exec cat >/dev/null
EOF
cat > "$SDLAB_DIR/bin/blocked.sh" <<'EOF'
#!/bin/bash
# blocked.lab.example.com: socat puts the peer's address in SOCAT_PEERADDR; socat 1.7 writes
# IPv6 in brackets and in full (2001:0db8:...): print it as a server logs it (RFC 5952 form).
ip=${SOCAT_PEERADDR#\[}
ip=${ip%\]}
if [[ $ip == *:* ]]; then
    IFS=: read -ra g <<<"$ip"
    if ((${#g[@]} == 8)); then
        for i in "${!g[@]}"; do printf -v "g[i]" '%x' "$((16#${g[i]:-0}))"; done
        best=-1 bestlen=1 run=0
        for i in "${!g[@]}"; do
            if [[ ${g[i]} == 0 ]]; then
                run=$((run + 1))
                if ((run > bestlen)); then bestlen=$run best=$((i - run + 1)); fi
            else run=0; fi
        done
        if ((best >= 0)); then
            head=$(IFS=:; echo "${g[*]:0:best}")
            tail=$(IFS=:; echo "${g[*]:best+bestlen}")
            ip="$head::$tail"
        else
            ip=$(IFS=:; echo "${g[*]}")
        fi
    fi
fi
printf '554 5.7.1 Service unavailable; client host [%s] blocked using zen.spamhaus.org\r\n' "$ip"
EOF
cat > "$SDLAB_DIR/bin/notsmtp.sh" <<'EOF'
#!/bin/sh
printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'
exec cat >/dev/null
EOF
# dnsmasq's upstream for servfail.lab.example.com (in the router, socat forks one per query).
cat > "$SDLAB_DIR/bin/servfail-dns.pl" <<'EOF'
#!/usr/bin/perl
# Answers one DNS query on stdin with SERVFAIL: same id, question and EDNS record; QR and RA
# set, opcode and RD copied, rcode 2. Argument "tcp": the query and reply carry the 2-byte
# length prefix of DNS over TCP.
use strict;
use warnings;
binmode STDIN;
binmode STDOUT;
my $tcp = @ARGV && $ARGV[0] eq 'tcp';
sub read_n {
    my ($want) = @_;
    my $buf = '';
    while (length($buf) < $want) {
        my $n = sysread(STDIN, $buf, $want - length($buf), length($buf));
        return undef unless $n;
    }
    return $buf;
}
my $q;
if ($tcp) {
    my $len = read_n(2);
    exit 0 unless defined $len;
    $q = read_n(unpack('n', $len));
} else {
    sysread(STDIN, $q, 4096);
}
exit 0 unless defined $q && length($q) >= 12;
my ($id, $flags) = unpack('n n', $q);
my $reply = pack('n n', $id, 0x8000 | ($flags & 0x7900) | 0x0080 | 2) . substr($q, 4);
$reply = pack('n', length($reply)) . $reply if $tcp;
syswrite(STDOUT, $reply) == length($reply) or exit 1;
EOF
chmod 755 "$SDLAB_DIR/bin/"*.sh "$SDLAB_DIR/bin/"*.pl
start_socat() { # $1=name $2=listen address spec $3=script [$4=idle limit in s, default 60] [$5=ns]
    ip netns exec "${5:-$NS_SERVER}" setsid socat -T "${4:-60}" "$2,reuseaddr,fork" "EXEC:$3" \
        </dev/null >>"$SDLAB_DIR/log/socat.log" 2>&1 &
    echo $! > "$SDLAB_DIR/run/socat-$1.pid"
}
for p in 25 587; do
    start_socat "busy4-$p" "TCP4-LISTEN:$p,bind=$BUSY4" "$SDLAB_DIR/bin/busy.sh"
    start_socat "busy6-$p" "TCP6-LISTEN:$p,bind=[$BUSY6],ipv6only=1" "$SDLAB_DIR/bin/busy.sh"
done
for p in 25 465 587; do
    start_socat "silent4-$p" "TCP4-LISTEN:$p,bind=$SILENT4" "$SDLAB_DIR/bin/silent.sh"
    start_socat "silent6-$p" "TCP6-LISTEN:$p,bind=[$SILENT6],ipv6only=1" "$SDLAB_DIR/bin/silent.sh"
done
for p in 25 587; do
    start_socat "blocked4-$p" "TCP4-LISTEN:$p,bind=$BLOCKED4" "$SDLAB_DIR/bin/blocked.sh"
    start_socat "blocked6-$p" "TCP6-LISTEN:$p,bind=[$BLOCKED6],ipv6only=1" "$SDLAB_DIR/bin/blocked.sh"
done
start_socat notsmtp4-587 "TCP4-LISTEN:587,bind=$NOTSMTP4" "$SDLAB_DIR/bin/notsmtp.sh" 30
start_socat notsmtp6-587 "TCP6-LISTEN:587,bind=[$NOTSMTP6],ipv6only=1" "$SDLAB_DIR/bin/notsmtp.sh" 30
# UDP: one long-lived server, not socat's fork-per-datagram, which can drop a query that arrives while it
# forks (dnsmasq sends A and AAAA together) and left the lab's SERVFAIL scenario flaky under load.
cat > "$SDLAB_DIR/bin/servfail-udp.pl" <<'EOF'
#!/usr/bin/perl
# Answers every DNS query on UDP $ARGV[0]:$ARGV[1] with SERVFAIL; exits after two hours at most.
use strict;
use warnings;
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Proto => 'udp', ReuseAddr => 1)
    or die "bind: $!";
my $deadline = time + 7200;
while (time < $deadline) {
    my $q = '';
    my $peer = $s->recv($q, 4096);
    next unless defined $peer && length($q) >= 12;
    my ($id, $flags) = unpack('n n', $q);
    $s->send(pack('n n', $id, 0x8000 | ($flags & 0x7900) | 0x0080 | 2) . substr($q, 4), 0, $peer);
}
EOF
chmod 755 "$SDLAB_DIR/bin/servfail-udp.pl"
ip netns exec "$NS_ROUTER" setsid perl "$SDLAB_DIR/bin/servfail-udp.pl" "$SERVFAIL_UPSTREAM" "$SERVFAIL_PORT" \
    </dev/null >>"$SDLAB_DIR/log/socat.log" 2>&1 &
echo $! > "$SDLAB_DIR/run/socat-servfail-udp.pid"
start_socat servfail-tcp "TCP4-LISTEN:$SERVFAIL_PORT,bind=$SERVFAIL_UPSTREAM" "$SDLAB_DIR/bin/servfail-dns.pl tcp" 5 "$NS_ROUTER"

# ---------------------------------------------------------------------------
# Wait (bounded) for every listener, then check the client's view end to end
# ---------------------------------------------------------------------------
# wait_all NS SECONDS "what|addr|port"...: poll one `ss` snapshot per round until every
# listener exists; on timeout print every missing one.
wait_all() {
    local ns=$1 secs=$2 deadline spec missing snap pat; shift 2
    deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
    while :; do
        snap=$(ip netns exec "$ns" ss -Htln 2>/dev/null | awk '{print $4}')
        missing=()
        for spec in "$@"; do
            IFS='|' read -r what addr port <<<"$spec"
            if [[ $addr == *:* ]]; then pat="[$addr]:$port"; else pat="$addr:$port"; fi
            grep -qxF -- "$pat" <<<"$snap" || missing+=("$what on $addr port $port")
        done
        ((${#missing[@]} == 0)) && return 0
        ((${EPOCHREALTIME/./} < deadline)) || break
        sleep 0.1
    done
    printf '%s\n' "${missing[@]}"
    return 1
}
server_specs=() client_specs=()
for a in "$MAIL4" "$MAIL6" "$SELF4" "$SELF6" "$EXPIRED4" "$EXPIRED6"; do
    for p in 25 587 465; do server_specs+=("server Postfix|$a|$p"); done
done
for a in "$NOTLS4" "$NOTLS6"; do for p in 25 587; do server_specs+=("server Postfix (notls)|$a|$p"); done; done
for a in "$BUSY4" "$BUSY6"; do for p in 25 587; do server_specs+=("socat busy responder|$a|$p"); done; done
for a in "$SILENT4" "$SILENT6"; do for p in 25 465 587; do server_specs+=("socat silent responder|$a|$p"); done; done
for a in "$BLOCKED4" "$BLOCKED6"; do for p in 25 587; do server_specs+=("socat blocked responder|$a|$p"); done; done
for a in "$NOTSMTP4" "$NOTSMTP6"; do server_specs+=("socat notsmtp responder|$a|587"); done
for a in 127.0.0.1 ::1; do for p in 25 587 465; do client_specs+=("local MTA Postfix|$a|$p"); done; done
if ! absent=$(wait_all "$NS_SERVER" 8 "${server_specs[@]}"); then
    fail "not listening in $NS_SERVER:"$'\n'"$absent" "$SDLAB_DIR/log/postfix-server.log" \
        "$SDLAB_DIR/log/postfix-ctl.log" "$SDLAB_DIR/log/socat.log"
fi
if ! absent=$(wait_all "$NS_CLIENT" 8 "${client_specs[@]}"); then
    fail "not listening in $NS_CLIENT:"$'\n'"$absent" "$SDLAB_DIR/log/postfix-local.log" "$SDLAB_DIR/log/postfix-ctl.log"
fi
if ! absent=$(wait_all "$NS_ROUTER" 8 "socat SERVFAIL responder (tcp)|$SERVFAIL_UPSTREAM|$SERVFAIL_PORT"); then
    fail "not listening in $NS_ROUTER:"$'\n'"$absent" "$SDLAB_DIR/log/socat.log"
fi

# UDP in the router: dnsmasq, and the SERVFAIL responder behind servfail.lab.example.com.
ok=0 udp=""
for ((i = 0; i < 50; i++)); do
    udp=$(ns_exec "$NS_ROUTER" ss -Hluln | awk '{print $4}')
    if grep -qxF "$RTR_C4:53" <<<"$udp" && grep -qxF "$SERVFAIL_UPSTREAM:$SERVFAIL_PORT" <<<"$udp"; then ok=1; break; fi
    sleep 0.1
done
grep -qxF "$RTR_C4:53" <<<"$udp" || fail "dnsmasq is not listening on $RTR_C4:53" "$SDLAB_DIR/log/dnsmasq.log"
((ok)) || fail "socat SERVFAIL responder (udp) is not listening on $SERVFAIL_UPSTREAM:$SERVFAIL_PORT in $NS_ROUTER" "$SDLAB_DIR/log/socat.log"

# From the client: DNS answers, and the main server greets over IPv4 and IPv6.
got=$(timeout 5 ip netns exec "$NS_CLIENT" getent ahostsv4 "$MAIL_NAME" 2>/dev/null | awk 'NR==1{print $1}') || true
[[ $got == "$MAIL4" ]] || fail "client cannot resolve $MAIL_NAME via dnsmasq (got '$got')" "$SDLAB_DIR/log/dnsmasq.log"
banner() { # ns addr port -> first line of the greeting
    timeout 5 ip netns exec "$1" bash -c 'exec 3<>"/dev/tcp/$0/$1" && IFS= read -r -t 4 line <&3 && printf "%s\n" "${line%$'"'"'\r'"'"'}"' "$2" "$3" 2>/dev/null || true
}
for a in "$MAIL4" "$MAIL6"; do
    g=$(banner "$NS_CLIENT" "$a" 25)
    [[ $g == "220 $MAIL_NAME ESMTP" ]] || fail "client does not get the Postfix greeting from $a:25 (got '$g')" "$SDLAB_DIR/log/postfix-server.log"
done
g=$(banner "$NS_CLIENT" 127.0.0.1 587)
[[ $g == "220 $CLIENT_NAME ESMTP" ]] || fail "local MTA greeting on 127.0.0.1:587 wrong (got '$g')" "$SDLAB_DIR/log/postfix-local.log"
g=$(banner "$NS_CLIENT" "$BUSY4" 587)
[[ $g == "421 "* ]] || fail "busy responder does not greet 421 (got '$g')" "$SDLAB_DIR/log/socat.log"
g=$(banner "$NS_CLIENT" "$BLOCKED6" 25)
[[ $g == "554 5.7.1 Service unavailable; client host [$CLIENT6] blocked using zen.spamhaus.org" ]] ||
    fail "blocked responder greeting wrong (got '$g')" "$SDLAB_DIR/log/socat.log"
g=$(banner "$NS_CLIENT" "$NOTSMTP4" 587)
[[ $g == "SSH-2.0-"* ]] || fail "notsmtp responder does not send an SSH banner (got '$g')" "$SDLAB_DIR/log/socat.log"
# servfail.lab.example.com: dnsmasq answers SERVFAIL (its upstream is a dead port).
got=$(timeout 5 ip netns exec "$NS_CLIENT" dig +time=2 +tries=1 A "$SERVFAIL_NAME" 2>&1 |
    grep -oE 'status: [A-Z]+' | head -1) || true
[[ $got == "status: SERVFAIL" ]] || fail "$SERVFAIL_NAME: want SERVFAIL from dnsmasq (got '$got')" "$SDLAB_DIR/log/dnsmasq.log" "$SDLAB_DIR/log/socat.log"

# A file the test harness can source (no secrets in it).
cat > "$SDLAB_DIR/lab.env" <<EOF
SDLAB_PREFIX=$SDLAB_PREFIX
SDLAB_DIR=$SDLAB_DIR
SDLAB_NS_CLIENT=$NS_CLIENT
SDLAB_NS_ROUTER=$NS_ROUTER
SDLAB_NS_SERVER=$NS_SERVER
SDLAB_ZONE=$ZONE
SDLAB_CLIENT_NAME=$CLIENT_NAME
SDLAB_MAIL_NAME=$MAIL_NAME
SDLAB_CA_FILE=$SDLAB_DIR/ca.pem
SDLAB_SASL_USER=$SASL_USER
SDLAB_PASSWORD_FILE=$PASSWORD_FILE
SDLAB_CLIENT4=$CLIENT4
SDLAB_CLIENT6=$CLIENT6
SDLAB_RESOLVER4=$RTR_C4
SDLAB_ROUTER4=$RTR_C4
SDLAB_ROUTER6=$RTR_C6
SDLAB_NS_ROUTER2=$NS_ROUTER2
SDLAB_ROUTER2_4=$R2_T4
SDLAB_ROUTER2_6=$R2_T6
SDLAB_ROUTER1_TRANSIT4=$R1_T4
SDLAB_ROUTER1_TRANSIT6=$R1_T6
SDLAB_MAIL4=$MAIL4
SDLAB_MAIL6=$MAIL6
SDLAB_NOTLS4=$NOTLS4
SDLAB_NOTLS6=$NOTLS6
SDLAB_SELF4=$SELF4
SDLAB_SELF6=$SELF6
SDLAB_EXPIRED4=$EXPIRED4
SDLAB_EXPIRED6=$EXPIRED6
SDLAB_BUSY4=$BUSY4
SDLAB_BUSY6=$BUSY6
SDLAB_SILENT4=$SILENT4
SDLAB_SILENT6=$SILENT6
SDLAB_BLOCKED4=$BLOCKED4
SDLAB_BLOCKED6=$BLOCKED6
SDLAB_NOTSMTP4=$NOTSMTP4
SDLAB_NOTSMTP6=$NOTSMTP6
SDLAB_SERVFAIL_NAME=$SERVFAIL_NAME
SDLAB_DEAD6=$DEAD6
EOF
: > "$SDLAB_DIR/faults.active"
t1=$(date +%s.%N)
log "up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s (prefix $SDLAB_PREFIX, state in $SDLAB_DIR)"
