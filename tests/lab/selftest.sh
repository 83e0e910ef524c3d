#!/usr/bin/env bash
# Verify a running lab end to end from the client namespace with swaks, openssl s_client,
# dig, ping (the hops on the path, loss), perl TCP connects with a TTL and bash /dev/tcp probes:
# every instance, responder and fault. Leaves the lab with no
# faults. Prints one line per check and exits non-zero if any failed. Takes about a minute.
# Never prints the SASL password (only server replies are shown).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root
[[ -f $SDLAB_DIR/lab.env ]] || die "lab not up (run tests/lab/up.sh)"

RC=$HERE/run-client.sh
FAULT=$HERE/fault.sh
CA=$SDLAB_DIR/ca.pem
PASS=0 FAILS=()
ok() { PASS=$((PASS + 1)); printf 'ok    %s\n' "$1"; }
bad() { FAILS+=("$1"); printf 'FAIL  %s\n' "$1"; [[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/      | /'; }
check() { # description, then a command; passes if the command succeeds
    local d=$1 res; shift
    if res=$("$@" 2>&1); then ok "$d"; else bad "$d" "$res"; fi
}

# --- probes -----------------------------------------------------------------
# TCP connect from the client: prints "<outcome> <seconds>"; outcome is connected, refused,
# hostunreach, netunreach, denied, timeout or other:<message>. $1=addr $2=port $3=limit (s)
probe() {
    local addr=$1 port=$2 limit=${3:-3} t0 t1 err rc
    t0=$EPOCHREALTIME
    err=$("$RC" timeout "$limit" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$addr" "$port" 2>&1) && rc=0 || rc=$?
    t1=$EPOCHREALTIME
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
    local what
    if ((rc == 0)); then what=connected
    elif ((rc == 124)); then what=timeout
    elif [[ $err == *"Connection refused"* ]]; then what=refused
    elif [[ $err == *"No route to host"* ]]; then what=hostunreach
    elif [[ $err == *"Network is unreachable"* ]]; then what=netunreach
    elif [[ $err == *"Permission denied"* || $err == *"Operation not permitted"* ]]; then what=denied
    else what="other:${err//$'\n'/ }"
    fi
    echo "$what $secs"
}
# expect_probe DESC addr port outcome speed(fast|slow) [limit]
expect_probe() {
    local d=$1 addr=$2 port=$3 want=$4 speed=$5 limit=${6:-3} got what secs
    got=$(probe "$addr" "$port" "$limit"); what=${got% *}; secs=${got##* }
    if [[ $what != "$want" ]]; then bad "$d: want $want, got $got"; return; fi
    if [[ $speed == fast ]] && awk -v s="$secs" 'BEGIN{exit !(s > 1.5)}'; then bad "$d: $what but slow (${secs}s)"; return; fi
    ok "$d: $what in ${secs}s"
}

# swaks from the client; prints only the server's replies and swaks' own notes.
sw() {
    local pw=()
    [[ " $* " == *" --auth "* ]] && pw=("SWAKS_OPT_auth_password=$(cat "$SDLAB_DIR/auth/password")")
    env "${pw[@]}" "$RC" swaks --timeout 4 --from "test@$ZONE" --to "rcpt@$ZONE" --hide-send --auth-hide-password "$@" 2>&1 |
        grep -E '^( *<|<~|\*\*\*|===)' || true
}
sw_bad() { # like sw, with a wrong password
    SWAKS_OPT_auth_password=wrong-password "$RC" swaks --timeout 4 --from "test@$ZONE" --to "rcpt@$ZONE" \
        --hide-send --auth-hide-password "$@" 2>&1 | grep -E '^( *<|<~|\*\*\*|===)' || true
}
expect_sw() { # DESC regex swaks-args...
    local d=$1 re=$2 out; shift 2
    out=$(sw "$@")
    if grep -qE -- "$re" <<<"$out"; then ok "$d"; else bad "$d (want /$re/)" "$out"; fi
}
expect_sw_bad() {
    local d=$1 re=$2 out; shift 2
    out=$(sw_bad "$@")
    if grep -qE -- "$re" <<<"$out"; then ok "$d"; else bad "$d (want /$re/)" "$out"; fi
}
# openssl s_client verify result: $1=host:port $2=name $3=starttls(yes|no)
verify_code() {
    local st=()
    [[ $3 == yes ]] && st=(-starttls smtp)
    "$RC" timeout 6 openssl s_client -connect "$1" "${st[@]}" -CAfile "$CA" -servername "$2" \
        -verify_hostname "$2" </dev/null 2>&1 | grep -m1 'Verify return code' || echo "no handshake"
}
expect_verify() { # DESC host:port name starttls regex
    local got
    got=$(verify_code "$2" "$3" "$4")
    if [[ $got =~ $5 ]]; then ok "$1: $got"; else bad "$1: want /$5/, got '$got'"; fi
}
dig_status() { "$RC" dig +time=2 +tries=1 "$@" 2>&1 | grep -oE 'status: [A-Z]+|timed out|no servers could be reached|network unreachable|couldn.t get address|permission denied|Operation not permitted' | head -1; }
expect_dig() { # DESC regex dig-args
    local d=$1 re=$2 got t0 t1; shift 2
    t0=$EPOCHREALTIME; got=$(dig_status "$@" || true); t1=$EPOCHREALTIME
    got="$got ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s)"
    if [[ $got =~ $re ]]; then ok "$d: $got"; else bad "$d: want /$re/, got '$got'"; fi
}

# First line a server sends (CR stripped) and what happens in the 2 s after it:
# "LINE|closed", "LINE|open" (still connected, silent) or "LINE|more". $1=addr $2=port
greeting() {
    # shellcheck disable=SC2016
    "$RC" timeout 8 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
        IFS= read -r -t 4 l <&3 || l="(nothing)"
        if IFS= read -r -t 2 _ <&3; then s=more; elif (($? > 128)); then s=open; else s=closed; fi
        printf "%s|%s\n" "$l" "$s"' "$1" "$2" 2>&1 | tr -d '\r'
}
expect_greeting() { # DESC addr port expected-output
    local got
    got=$(greeting "$2" "$3")
    if [[ $got == "$4" ]]; then ok "$1"; else bad "$1: want '$4'" "$got"; fi
}

# The hop that answers a ping limited to $1 hops towards $2: the router's address, "reached" (the target
# answered) or "none" (no answer in 2 s).
hop_answer() {
    local fam=-4 out
    [[ $2 == *:* ]] && fam=-6
    out=$("$RC" ping "$fam" -n -c 1 -W 2 -t "$1" "$2" 2>&1 || true)
    if grep -q ' bytes from ' <<<"$out"; then echo reached
    elif [[ $out =~ From\ ([0-9a-f.:]+) ]]; then echo "${BASH_REMATCH[1]}"
    else echo none
    fi
}
expect_hop() { # DESC ttl addr want
    local got
    got=$(hop_answer "$2" "$3")
    if [[ $got == "$4" ]]; then ok "$1: $got"; else bad "$1: want $4, got $got"; fi
}
# A TCP connect whose SYN may cross $3 hops: connected, exceeded (a router answered "time exceeded":
# EHOSTUNREACH), refused, timeout (nothing within 3 s) or other:<errno text>. $1=addr $2=port $3=ttl
ttl_connect() {
    local out rc
    # shellcheck disable=SC2016
    out=$("$RC" timeout 3 perl -MSocket=:all -e '
        my ($a, $p, $t) = @ARGV;
        my $six = $a =~ /:/;
        socket(my $s, $six ? AF_INET6 : AF_INET, SOCK_STREAM, 0) or die "socket: $!";
        # IPV6_UNICAST_HOPS is 16 on Linux (Socket.pm does not export it everywhere). The value is packed: a
        # string from @ARGV would be passed as its bytes ("2" = TTL 50).
        my $v = pack("i", $t);
        ($six ? setsockopt($s, IPPROTO_IPV6, 16, $v) : setsockopt($s, IPPROTO_IP, IP_TTL, $v)) or die "ttl: $!";
        my $sa = $six ? pack_sockaddr_in6($p, inet_pton(AF_INET6, $a)) : pack_sockaddr_in($p, inet_aton($a));
        if (connect($s, $sa)) { print "connected\n" }
        elsif ($!{EHOSTUNREACH}) { print "exceeded\n" }
        elsif ($!{ECONNREFUSED}) { print "refused\n" }
        else { print "other:$!\n" }' "$1" "$2" "$3" 2>&1) && rc=0 || rc=$?
    if ((rc == 124)); then echo timeout; else echo "$out"; fi
}
expect_ttl() { # DESC addr port ttl want
    local got
    got=$(ttl_connect "$2" "$3" "$4")
    if [[ $got == "$5" ]]; then ok "$1: $got"; else bad "$1: want $5, got $got"; fi
}
# Packets a router's lab chain dropped or rejected: one count per rule. $1=ns $2=v4|v6
rule_counts() {
    local ipt=iptables
    [[ $2 == v6 ]] && ipt=ip6tables
    ip netns exec "$1" "$ipt" -w 5 -L SDLAB-FWD -v -n -x | awk 'NR > 2 {print $1}' | tr '\n' ' '
}
# Loss seen by 200 pings 5 ms apart (as "N%"). $1=addr
ping_loss() {
    "$RC" ping -n -q -c 200 -i 0.005 -W 1 "$1" 2>&1 | grep -oE '[0-9.]+% packet loss' | cut -d% -f1
}
expect_loss() { # DESC addr min max (percent)
    local got
    got=$(ping_loss "$2")
    if [[ -n $got ]] && awk -v g="$got" -v lo="$3" -v hi="$4" 'BEGIN{exit !(g >= lo && g <= hi)}'; then
        ok "$1: ${got}% of 200 pings lost"
    else
        bad "$1: want $3-$4% lost, got '${got:-no ping summary}'"
    fi
}
# Milliseconds until the first line of mail's (or a variant's) greeting, from the client. $1=addr $2=port
expect_greeting_ms() { # DESC addr port min max
    local got
    got=$(greeting_ms "$NS_CLIENT" "$2" "$3")
    if [[ $got != none ]] && ((got >= $4 && got <= $5)); then ok "$1: ${got} ms"; else bad "$1: want $4-$5 ms, got $got"; fi
}

"$FAULT" clear >/dev/null 2>&1

echo "== DNS (dnsmasq on $RTR_C4)"
check "A mail" bash -c "[[ \$('$RC' dig +short A $MAIL_NAME) == $MAIL4 ]]"
check "AAAA mail" bash -c "[[ \$('$RC' dig +short AAAA $MAIL_NAME) == $MAIL6 ]]"
check "MX $ZONE" bash -c "[[ \$('$RC' dig +short MX $ZONE) == '10 $MAIL_NAME.' ]]"
check "PTR $MAIL4" bash -c "[[ \$('$RC' dig +short -x $MAIL4) == '$MAIL_NAME.' ]]"
check "PTR $CLIENT4" bash -c "[[ \$('$RC' dig +short -x $CLIENT4) == '$CLIENT_NAME.' ]]"
expect_dig "unknown name in zone" 'NXDOMAIN' A "nothere.$ZONE"
expect_dig "AAAA of v4only (NODATA)" 'NOERROR' AAAA "v4only.$ZONE"
expect_dig "outside the zone" 'REFUSED' A example.org
check "A blocked, AAAA notsmtp" bash -c "[[ \$('$RC' dig +short A blocked.$ZONE) == $BLOCKED4 && \$('$RC' dig +short AAAA notsmtp.$ZONE) == $NOTSMTP6 ]]"
check "PTR $BLOCKED6" bash -c "[[ \$('$RC' dig +short -x $BLOCKED6) == 'blocked.$ZONE.' ]]"
expect_dig "$SERVFAIL_NAME A (udp), fast" 'SERVFAIL \(0\.' A "$SERVFAIL_NAME"
expect_dig "$SERVFAIL_NAME AAAA (tcp)" 'SERVFAIL' +tcp AAAA "$SERVFAIL_NAME"
expect_dig "$SERVFAIL_NAME MX (resolver's IPv6 address)" 'SERVFAIL' @"$RTR_C6" MX "$SERVFAIL_NAME"
check "search-free resolv.conf in client" bash -c "'$RC' cat /etc/resolv.conf | grep -qx 'nameserver $RTR_C4'"
check "client hostname" bash -c "[[ \$('$RC' hostname) == $CLIENT_NAME ]]"

echo "== main server $MAIL_NAME"
for fam in 4 6; do
    expect_sw "v$fam 25 EHLO offers STARTTLS, no AUTH" '250.STARTTLS' -$fam --server "$MAIL_NAME" --port 25 --quit-after EHLO
    out=$(sw -$fam --server "$MAIL_NAME" --port 25 --quit-after EHLO)
    if grep -q 'AUTH' <<<"$out"; then bad "v$fam 25 offers AUTH" "$out"; else ok "v$fam 25 offers no AUTH"; fi
    expect_sw "v$fam 25 STARTTLS + mail accepted (250)" '<~  250 2.0.0 Ok: queued' -$fam --server "$MAIL_NAME" --port 25 --tls
    expect_sw "v$fam 587 MAIL before STARTTLS -> 530" '530 5.7.0 Must issue a STARTTLS' -$fam --server "$MAIL_NAME" --port 587 --quit-after MAIL
    out=$(sw -$fam --server "$MAIL_NAME" --port 587 --quit-after EHLO)
    if grep -q 'AUTH' <<<"$out"; then bad "v$fam 587 offers AUTH before TLS" "$out"; else ok "v$fam 587 no AUTH before TLS"; fi
    for mech in PLAIN LOGIN; do
        expect_sw "v$fam 587 STARTTLS AUTH $mech good -> 235" '<~  235 ' -$fam --server "$MAIL_NAME" --port 587 --tls --auth "$mech" --auth-user "$SASL_USER" --quit-after AUTH
        expect_sw_bad "v$fam 587 STARTTLS AUTH $mech wrong -> 535" '<~\* 535 ' -$fam --server "$MAIL_NAME" --port 587 --tls --auth "$mech" --auth-user "$SASL_USER" --quit-after AUTH
    done
    expect_sw "v$fam 465 TLS AUTH good -> 235" '<~  235 ' -$fam --server "$MAIL_NAME" --port 465 --tlsc --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
    expect_sw_bad "v$fam 465 TLS AUTH wrong -> 535" '<~\* 535 ' -$fam --server "$MAIL_NAME" --port 465 --tlsc --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
    expect_sw "v$fam 587 relay after AUTH (250)" '<~  250 2.0.0 Ok: queued' -$fam --server "$MAIL_NAME" --port 587 --tls --auth PLAIN --auth-user "$SASL_USER" --to someone@example.org
done
expect_verify "25 STARTTLS cert verifies against ca.pem (v4)" "$MAIL4:25" "$MAIL_NAME" yes 'return code: 0 '
expect_verify "587 STARTTLS cert verifies (v6)" "[$MAIL6]:587" "$MAIL_NAME" yes 'return code: 0 '
expect_verify "465 cert verifies (v4)" "$MAIL4:465" "$MAIL_NAME" no 'return code: 0 '
expect_verify "wrongname -> hostname mismatch" "$MAIL4:465" "wrongname.$ZONE" no 'return code: 62 '

echo "== variants"
expect_sw "notls 587: no STARTTLS in EHLO" '250.AUTH PLAIN LOGIN' --server "notls.$ZONE" --port 587 --quit-after EHLO
out=$(sw --server "notls.$ZONE" --port 587 --quit-after EHLO)
if grep -q STARTTLS <<<"$out"; then bad "notls offers STARTTLS" "$out"; else ok "notls 587 offers no STARTTLS"; fi
expect_sw "notls 587 STARTTLS attempt fails" 'did not advertise STARTTLS' -6 --server "notls.$ZONE" --port 587 --tls --quit-after TLS
expect_sw "notls 587 AUTH in clear -> 235" '<-  235 ' --server "notls.$ZONE" --port 587 --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
expect_verify "selfsigned -> self-signed" "$SELF4:465" "selfsigned.$ZONE" no 'return code: 18 '
expect_verify "selfsigned 587 (v6)" "[$SELF6]:587" "selfsigned.$ZONE" yes 'return code: 18 '
expect_verify "expired -> expired" "$EXPIRED4:587" "expired.$ZONE" yes 'return code: 10 '
expect_sw "busy 25 greets 421" '<\*\* 421 4.3.2' --server "busy.$ZONE" --port 25
expect_sw "busy 587 greets 421 (v6)" '<\*\* 421 4.3.2' -6 --server "busy.$ZONE" --port 587
expect_sw "silent 587 never greets" 'Timeout' --server "silent.$ZONE" --port 587 --timeout 2
blocked_text="554 5.7.1 Service unavailable; client host [%s] blocked using zen.spamhaus.org|closed"
# shellcheck disable=SC2059
expect_greeting "blocked v4 25: 554 naming $CLIENT4, then closes" "$BLOCKED4" 25 "$(printf "$blocked_text" "$CLIENT4")"
# shellcheck disable=SC2059
expect_greeting "blocked v6 587: 554 naming $CLIENT6, then closes" "$BLOCKED6" 587 "$(printf "$blocked_text" "$CLIENT6")"
expect_sw "blocked 587 (swaks): 554 greeting" '<\*\* 554 5.7.1 Service unavailable' --server "blocked.$ZONE" --port 587
expect_greeting "notsmtp v4 587: SSH banner, stays open" "$NOTSMTP4" 587 "SSH-2.0-OpenSSH_9.2p1 Debian-2|open"
expect_greeting "notsmtp v6 587: SSH banner, stays open" "$NOTSMTP6" 587 "SSH-2.0-OpenSSH_9.2p1 Debian-2|open"
expect_probe "notsmtp 25: nothing listens" "$NOTSMTP4" 25 refused fast
expect_probe "deadv6 AAAA ($DEAD6) 25" "$DEAD6" 25 hostunreach slow 5
expect_sw "local MTA 127.0.0.1:587 is $CLIENT_NAME" "220 $CLIENT_NAME ESMTP" --server 127.0.0.1 --port 587 --quit-after CONNECT
expect_sw_bad "local MTA rejects the app's AUTH (535)" '<~\* 535 ' --server 127.0.0.1 --port 587 --tls --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
expect_verify "local MTA cert is self-signed $CLIENT_NAME" "127.0.0.1:465" "$CLIENT_NAME" no 'return code: 18 '

echo "== baseline reachability"
for p in 25 465 587; do
    expect_probe "v4 $p" "$MAIL4" "$p" connected fast
    expect_probe "v6 $p" "$MAIL6" "$p" connected fast
done

echo "== path: client - router1 - router2 - server"
expect_hop "TTL 1 v4: router1" 1 "$MAIL4" "$RTR_C4"
expect_hop "TTL 2 v4: router2" 2 "$MAIL4" "$R2_T4"
expect_hop "TTL 3 v4: the server" 3 "$MAIL4" reached
expect_hop "TTL 1 v6: router1" 1 "$MAIL6" "$RTR_C6"
expect_hop "TTL 2 v6: router2" 2 "$MAIL6" "$R2_T6"
expect_hop "TTL 3 v6: the server" 3 "$MAIL6" reached
expect_ttl "TCP TTL 2 to 25: time exceeded (router2)" "$MAIL4" 25 2 exceeded
expect_ttl "TCP TTL 3 to 25: the server" "$MAIL4" 25 3 connected
expect_ttl "TCP TTL 2 to 587 (v6): time exceeded" "$MAIL6" 587 2 exceeded
expect_ttl "TCP TTL 3 to 587 (v6): the server" "$MAIL6" 587 3 connected
limits() { ip netns exec "$1" sysctl -n net.ipv4.icmp_ratelimit net.ipv6.icmp.ratelimit | tr '\n' ' '; }
for ns in "$NS_ROUTER" "$NS_ROUTER2"; do
    got=$(limits "$ns")
    if [[ $got =~ ^[1-9][0-9]*\ [1-9][0-9]*\ $ ]]; then ok "$ns keeps Linux's default ICMP rate limits (v4 v6 ms: $got)"
    else bad "$ns ICMP rate limits: want the defaults (non-zero), got '$got'"; fi
done
for ns in "$NS_CLIENT" "$NS_SERVER"; do
    got=$(limits "$ns")
    if [[ $got == "0 0 " ]]; then ok "$ns: ICMP rate limits off"; else bad "$ns ICMP rate limits: want 0 0, got '$got'"; fi
done
# 20 TTL-1 pings in 0.2 s: router1 answers its burst (6), then one a second. (No -w: with a deadline, ping
# stops at the first error.)
n=$("$RC" timeout 5 ping -n -c 20 -i 0.01 -W 1 -t 1 "$MAIL4" 2>&1 | grep -c 'Time to live exceeded' || true)
if ((n >= 3 && n <= 12)); then ok "router1 rate-limits its ICMP: $n of 20 TTL-1 pings answered"
else bad "router1 rate limit: want 3-12 of 20 TTL-1 pings answered, got $n"; fi
sleep 6   # router1's ICMP budget for this client fills up again (one per second, up to the burst)

fault() { "$FAULT" "$@" >/dev/null || bad "fault.sh $* failed"; }

echo "== faults"
fault client-drop-587
expect_probe "client-drop-587: v4 587" "$MAIL4" 587 timeout slow
expect_probe "client-drop-587: v6 587" "$MAIL6" 587 timeout slow
expect_probe "client-drop-587: v4 25 unaffected" "$MAIL4" 25 connected fast
fault clear
for k in reject:refused reset:refused prohibit:hostunreach; do
    fault "client-${k%:*}-465"
    expect_probe "client-${k%:*}-465: v4" "$MAIL4" 465 "${k#*:}" fast
    want6=${k#*:}; [[ ${k%:*} == prohibit ]] && want6=denied
    expect_probe "client-${k%:*}-465: v6" "$MAIL6" 465 "$want6" fast
    expect_probe "client-${k%:*}-465: 587 unaffected" "$MAIL4" 587 connected fast
    fault clear
done
fault router-drop-25
expect_probe "router-drop-25: v4 25" "$MAIL4" 25 timeout slow
expect_probe "router-drop-25: v6 25" "$MAIL6" 25 timeout slow
expect_probe "router-drop-25: v4 587 unaffected" "$MAIL4" 587 connected fast
expect_probe "router-drop-25: v6 465 unaffected" "$MAIL6" 465 connected fast
fault clear
# A router's REJECT of one port, each kind: $1 = router|router2, $2 = its namespace, $3 = the port, $4 = another
# port that must still connect. The router's rule must have answered (its counters), in both families.
router_rejects() {
    local r=$1 ns=$2 port=$3 other=$4 k want6 c4 c6
    for k in reject:refused reset:refused prohibit:hostunreach; do
        fault "$r-${k%:*}-$port"
        expect_probe "$r-${k%:*}-$port: v4" "$MAIL4" "$port" "${k#*:}" fast
        want6=${k#*:}; [[ ${k%:*} == prohibit ]] && want6=denied
        expect_probe "$r-${k%:*}-$port: v6" "$MAIL6" "$port" "$want6" fast
        expect_probe "$r-${k%:*}-$port: $other unaffected" "$MAIL6" "$other" connected fast
        c4=$(rule_counts "$ns" v4) c6=$(rule_counts "$ns" v6)
        if [[ $c4 =~ ^[1-9] && $c6 =~ ^[1-9] ]]; then ok "$r-${k%:*}-$port: the rule at $ns answered (v4 $c4, v6 $c6 packets)"
        else bad "$r-${k%:*}-$port: the rule at $ns did not match (v4 '$c4', v6 '$c6')"; fi
        fault clear
    done
}
router_rejects router "$NS_ROUTER" 25 587
fault router2-drop-25
expect_probe "router2-drop-25: v4 25" "$MAIL4" 25 timeout slow
expect_probe "router2-drop-25: v6 25" "$MAIL6" 25 timeout slow
expect_probe "router2-drop-25: v4 587 unaffected" "$MAIL4" 587 connected fast
expect_ttl "router2-drop-25: TTL 2 SYN to 25 reaches router2 (time exceeded)" "$MAIL4" 25 2 exceeded
expect_ttl "router2-drop-25: TTL 3 SYN to 25 dies at router2" "$MAIL4" 25 3 timeout
fault clear
router_rejects router2 "$NS_ROUTER2" 587 25
fault router-no-time-exceeded
expect_hop "router-no-time-exceeded: TTL 1 unanswered" 1 "$MAIL4" none
expect_hop "router-no-time-exceeded: TTL 2 still router2" 2 "$MAIL4" "$R2_T4"
expect_hop "router-no-time-exceeded: TTL 1 unanswered (v6)" 1 "$MAIL6" none
expect_probe "router-no-time-exceeded: 25 connects" "$MAIL4" 25 connected fast
fault clear
fault router2-no-time-exceeded
expect_hop "router2-no-time-exceeded: TTL 1 router1" 1 "$MAIL4" "$RTR_C4"
expect_hop "router2-no-time-exceeded: TTL 2 unanswered" 2 "$MAIL4" none
expect_hop "router2-no-time-exceeded: TTL 3 the server" 3 "$MAIL4" reached
fault clear
# 5% per direction is about 10% of pings (request or reply lost); 10% about 19%. Both of the router's rules
# (one per incoming interface) must have dropped packets. $1=fault $2=ns $3=address $4/$5=range of loss in %
expect_lossy_router() {
    local c fam=v4
    [[ $3 == *:* ]] && fam=v6
    fault "$1"
    expect_loss "$1 ($fam)" "$3" "$4" "$5"
    c=$(rule_counts "$2" "$fam")
    if [[ $c =~ ^[1-9][0-9]*\ [1-9][0-9]*\ $ ]]; then ok "$1: both directions lose packets at $2 ($c)"
    else bad "$1: want drops in both directions at $2, got '$c'"; fi
}
expect_lossy_router router-loss-5 "$NS_ROUTER" "$MAIL4" 2 25
expect_probe "router-loss-5: 25 connects (a lost SYN costs 1 s)" "$MAIL4" 25 connected slow 8
expect_dig "router-loss-5: DNS (router1 itself) unaffected" 'NOERROR' A "$MAIL_NAME"
fault clear
expect_lossy_router router2-loss-10 "$NS_ROUTER2" "$MAIL6" 8 35
fault clear
expect_loss "loss cleared" "$MAIL4" 0 0
fault slow-greeting-2
expect_greeting_ms "slow-greeting-2: mail v4 25 greets after ~2 s" "$MAIL4" 25 1900 2900
expect_greeting_ms "slow-greeting-2: mail v6 587 greets after ~2 s" "$MAIL6" 587 1900 2900
expect_greeting_ms "slow-greeting-2: selfsigned 25 unaffected" "$SELF4" 25 0 500
fault stop-587
expect_probe "slow-greeting-2 + stop-587: 587 closed" "$MAIL4" 587 refused fast
expect_greeting_ms "slow-greeting-2 + stop-587: 25 still slow" "$MAIL4" 25 1900 2900
fault clear
expect_greeting_ms "slow-greeting cleared: mail 25 greets at once" "$MAIL4" 25 0 500
fault server-drop-587
expect_probe "server-drop-587: v4" "$MAIL4" 587 timeout slow
expect_probe "server-drop-587: 25 unaffected" "$MAIL4" 25 connected fast
fault clear
fault server-reject-587
expect_probe "server-reject-587: v4" "$MAIL4" 587 refused fast
fault clear
fault stop-587
expect_probe "stop-587: v4 587 (RST)" "$MAIL4" 587 refused fast
expect_probe "stop-587: v6 587 (RST)" "$MAIL6" 587 refused fast
expect_probe "stop-587: 465 unaffected" "$MAIL4" 465 connected fast
expect_probe "stop-587: selfsigned 587 unaffected" "$SELF4" 587 connected fast
fault clear
expect_sw "stop-587 cleared: 587 back" '<~  235 ' --server "$MAIL_NAME" --port 587 --tls --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
fault redirect-587-local
expect_sw "redirect-587-local: v4 greeting from $CLIENT_NAME" "220 $CLIENT_NAME ESMTP" -4 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
expect_sw "redirect-587-local: v6 greeting from $CLIENT_NAME" "220 $CLIENT_NAME ESMTP" -6 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
expect_sw_bad "redirect-587-local: app AUTH -> 535 from local MTA" '<~\* 535 ' --server "$MAIL_NAME" --port 587 --tls --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
expect_sw "redirect-587-local: 465 still real server" '<~  235 ' --server "$MAIL_NAME" --port 465 --tlsc --auth PLAIN --auth-user "$SASL_USER" --quit-after AUTH
check "redirect-587-local: conntrack shows original destination" bash -c \
    "'$RC' bash -c 'exec 3<>/dev/tcp/$MAIL4/587; grep -E \"dst=$MAIL4 .*dport=587 .*src=127.0.0.1 .*sport=587\" /proc/net/nf_conntrack'"
fault clear
fault redirect4-587-local
expect_sw "redirect4-587-local: v4 is local" "220 $CLIENT_NAME ESMTP" -4 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
expect_sw "redirect4-587-local: v6 is real" "220 $MAIL_NAME ESMTP" -6 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
fault clear
fault dnat-587-local
expect_sw "dnat-587-local: v4 is local" "220 $CLIENT_NAME ESMTP" -4 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
expect_sw "dnat-587-local: v6 is local" "220 $CLIENT_NAME ESMTP" -6 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
fault clear
expect_sw "redirect cleared: real server again" "220 $MAIL_NAME ESMTP" -4 --server "$MAIL_NAME" --port 587 --quit-after CONNECT
fault local-mta-off
expect_probe "local-mta-off: 127.0.0.1:25" 127.0.0.1 25 refused fast
fault clear
expect_probe "local-mta-off cleared: 127.0.0.1:25" 127.0.0.1 25 connected fast
fault router-drop-v6
expect_probe "router-drop-v6: v6 25" "$MAIL6" 25 timeout slow
expect_probe "router-drop-v6: v4 25 unaffected" "$MAIL4" 25 connected fast
fault clear
fault router-reject-v6
expect_probe "router-reject-v6: v6 587" "$MAIL6" 587 netunreach fast
fault clear
fault no-v6-route
expect_probe "no-v6-route: v6" "$MAIL6" 587 netunreach fast
expect_probe "no-v6-route: v4 unaffected" "$MAIL4" 587 connected fast
fault clear
fault no-default-route
expect_probe "no-default-route: v4" "$MAIL4" 25 netunreach fast
expect_probe "no-default-route: v6" "$MAIL6" 25 netunreach fast
fault clear
fault router-drop-all
expect_probe "router-drop-all: v4 465" "$MAIL4" 465 timeout slow
fault clear
fault router-unreach-all
expect_probe "router-unreach-all: v4" "$MAIL4" 465 hostunreach fast
expect_probe "router-unreach-all: v6" "$MAIL6" 465 hostunreach fast
fault clear
fault resolver-silent
expect_dig "resolver-silent" 'timed out|no servers could be reached' A "$MAIL_NAME"
fault clear
fault resolver-refuse
expect_dig "resolver-refuse" 'no servers could be reached|refused|timed out' A "$MAIL_NAME"
fault clear
fault client-drop-dns
expect_dig "client-drop-dns (dig)" 'no servers could be reached|permission|not permitted|timed out' A "$MAIL_NAME"
t0=$EPOCHREALTIME
if "$RC" getent ahosts "$MAIL_NAME" >/dev/null 2>&1; then bad "client-drop-dns: getent resolved"
else ok "client-drop-dns: glibc lookup fails at once (EPERM) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')s"; fi
fault clear
fault resolver-none
check "resolver-none: marker kept, no nameserver line" bash -c \
    "head -1 /etc/netns/$NS_CLIENT/resolv.conf | grep -qxF '$NETNS_MARK' && ! '$RC' grep -q '^nameserver' /etc/resolv.conf"
t0=$EPOCHREALTIME
if "$RC" getent ahosts "$MAIL_NAME" >/dev/null 2>&1; then bad "resolver-none: getent resolved"
else ok "resolver-none: glibc lookup fails (127.0.0.1:53 refused) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')s"; fi
fault clear
check "resolver-none cleared: nameserver back" bash -c "'$RC' cat /etc/resolv.conf | grep -qx 'nameserver $RTR_C4'"
expect_dig "DNS after clear" 'NOERROR' A "$MAIL_NAME"
fault client-drop-587 router-drop-25
check "faults stack (status lists 2)" bash -c "[[ \$('$FAULT' status | wc -l) == 2 ]]"
fault clear
check "clear empties status" bash -c "[[ -z \$('$FAULT' status) ]]"

echo
echo "passed: $PASS  failed: ${#FAILS[@]}"
((${#FAILS[@]} == 0)) || { printf '  %s\n' "${FAILS[@]}"; exit 1; }
