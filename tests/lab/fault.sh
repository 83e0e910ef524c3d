#!/usr/bin/env bash
# Apply or remove faults in a running lab.
#   fault.sh NAME [NAME...]   apply faults (they stack; applying one twice is a no-op)
#   fault.sh clear            remove every fault: the lab is back to its state after up.sh
#   fault.sh list             print the fault names
#   fault.sh status           print the active faults
# PORT below is 25, 465 or 587; v4+v6 unless said otherwise. "~1 s": with no delay on the
# lab's links the ICMP error arrives while connect() still holds the socket, and Linux then
# only acts on the ICMP for the first retransmitted SYN (~1.0 s) -- for a blocking connect(),
# and for a non-blocking IPv6 connect without IPV6_RECVERR. A non-blocking connect (tokio)
# sees IPv4 errors, and IPv6 errors with IPV6_RECVERR, at once. See README.
#   client-drop-PORT       client OUTPUT DROP tcp dport PORT: connect times out
#   client-reject-PORT     client OUTPUT REJECT icmp(6)-port-unreachable: ECONNREFUSED, ~1 s
#   client-reset-PORT      client OUTPUT REJECT tcp-reset: ECONNREFUSED at once
#   client-prohibit-PORT   client OUTPUT REJECT icmp-admin-prohibited / icmp6-adm-prohibited:
#                          EHOSTUNREACH (v4) / EACCES (v6), ~1 s
#   router-drop-PORT       router1 (the first hop) FORWARD DROP tcp dport PORT (ISP silently blocks): times out
#   router-reject-PORT     router1 FORWARD REJECT port-unreachable (offender = 198.51.100.1): ECONNREFUSED, ~1 s
#   router-reset-PORT      router1 FORWARD REJECT tcp-reset (RST forged on the path): at once
#   router-prohibit-PORT   router1 FORWARD REJECT admin-prohibited: EHOSTUNREACH / EACCES, ~1 s
#   router2-drop-PORT      router2 (the second hop, the server's gateway) FORWARD DROP: times out; a TTL-2
#                          SYN still gets "time exceeded" from router2, a TTL-3 SYN dies silently
#   router2-reject-PORT    router2 FORWARD REJECT port-unreachable (offender = 192.0.2.2 / 2001:db8:3::2)
#   router2-reset-PORT     router2 FORWARD REJECT tcp-reset: ECONNREFUSED at once
#   router2-prohibit-PORT  router2 FORWARD REJECT admin-prohibited
#   router-loss-PCT        router1 drops PCT% (5 or 10) of the packets it forwards, at random, in each
#   router2-loss-PCT       direction (iptables -m statistic; this kernel has no netem): the same at router2.
#                          DNS (router1 itself) is not affected
#   router-no-time-exceeded   router1 never answers TTL expiry (its OUTPUT drops ICMP time exceeded, v4+v6),
#   router2-no-time-exceeded  as many real routers do: a TTL-limited probe gets no answer from that hop.
#                          Everything else is forwarded as before
#   slow-greeting-SECS     mail.lab.example.com greets only after SECS (1, 2 or 3) seconds of silence on 25,
#                          587 and 465 (465: after the TLS handshake); Postfix's `sleep` client restriction
#   server-drop-PORT       server INPUT DROP tcp dport PORT (server's firewall): times out
#   server-reject-PORT     server INPUT REJECT port-unreachable (offender = server): ~1 s
#   server-prohibit-PORT   server INPUT REJECT admin-prohibited: ~1 s
#   stop-PORT              mail.lab.example.com stops listening on PORT (Postfix reload): the
#                          server's kernel answers RST, ECONNREFUSED at once; variants unaffected
#   redirect-PORT-local    client nat OUTPUT REDIRECT tcp dport PORT (not to loopback) to the
#                          same port on loopback: the local MTA (client.lab.example.com) answers
#   redirect4-PORT-local   the same, IPv4 only (IPv6 still reaches the real server)
#   dnat-PORT-local        client nat OUTPUT DNAT to 127.0.0.1:PORT / [::1]:PORT
#   local-mta-off          stop the client's local MTA (nothing on loopback 25/465/587)
#   router-drop-v6         router ip6tables FORWARD DROP all: IPv6 black hole, v4 fine
#   router-reject-v6       router ip6tables FORWARD REJECT icmp6-no-route: ENETUNREACH, ~1 s
#   no-v6-route            client has no IPv6 default route: ENETUNREACH at once
#   no-default-route       client has no default route (v4 and v6): ENETUNREACH at once
#   router-drop-all        router FORWARD DROP all: everything beyond the router times out
#   router-unreach-all     router FORWARD REJECT icmp-host-unreachable / icmp6-addr-unreachable:
#                          EHOSTUNREACH, ~1 s
#   resolver-silent        resolver host (router INPUT) DROPs DNS from the client: lookups time out
#   resolver-refuse        resolver host REJECTs DNS (port unreachable): lookups fail at once
#   client-nft-drop-PORT   client drop of tcp dport PORT in a native nftables table (inet sdlab_fw, chain out)
#   client-drop-dns        client OUTPUT DROP udp/tcp 53: glibc fails at once (sendto EPERM),
#                          dig waits for its timeout
#   resolver-none          the client's /etc/netns/<ns>/resolv.conf keeps only comment lines (the
#                          lab's marker first): no nameserver configured at all. glibc then
#                          falls back to 127.0.0.1:53, where nothing listens (refused at once)
#   router-proxy-PORT      a transparent proxy on the router: nat PREROUTING REDIRECTs the client's tcp dport PORT
#                          to a socat on the router (port 10000+PORT) that relays to mail.lab.example.com:PORT; even
#                          a TTL-1 SYN gets a SYN-ACK (from the router), the session is the real server's
#   redirect4-PORT-relay   client nat OUTPUT REDIRECT (IPv4) of tcp dport PORT to a socat on the client's loopback
#                          (port 10000+PORT) that relays to mail over IPv6: the banner and certificate are the real
#                          server's, only the connection's local other end gives the redirect away
#   owner-reject-PORT-UID  client OUTPUT REJECT tcp dport PORT only for sockets of uid UID
#                          (-m owner --uid-owner, v4+v6; e.g. 65534 = nobody): root gets through
#
# Firewall managers (client namespace). Each makes the rule layout the manager itself makes, and
# puts the manager's files into the client's "host files" overlay (lib.sh hostfs_*), which only
# run-client.sh's commands see. The layouts in layouts/ were captured from the real tools run in
# the client namespace; see the README (Faults -> firewall managers) for the rule text and sources.
#   ufw-deny-out-PORT      the REAL ufw (confined to the namespace + overlay): ufw allow 22/tcp,
#                          ufw --force enable, ufw deny out PORT/tcp: timeout
#   ufw-reject-out-PORT    the same with ufw reject out PORT/tcp: ECONNREFUSED, ~1 s
#   ufw-default-deny-out   the real ufw: allow 22/tcp in; allow out 53, 22/tcp, 80/tcp, 443/tcp;
#                          default deny outgoing: 25/465/587 time out, DNS still works
#   firewalld-policy-reject-PORT
#                          firewalld 1.3.3, nftables backend: table inet firewalld with a policy
#                          no-smtp-out (HOST -> ANY) whose rich rule rejects tcp PORT: ~1 s refused
#   firewalld-direct-reject-PORT
#                          firewalld 1.3.3, nftables backend, direct rule `ipv4/ipv6 filter OUTPUT 0
#                          -p tcp --dport PORT -j REJECT`: firewalld puts it in iptables' OUTPUT
#                          itself (no OUTPUT_direct with this backend): ~1 s refused
#   firewalld-iptables-direct-reject-PORT
#                          the same direct rule with FirewallBackend=iptables: whole iptables
#                          layout of firewalld, rule in OUTPUT_direct: ~1 s refused
#   csf-smtp-block         csf 16.07 with SMTP_BLOCK=1 (SMTPOUTPUT chain): root, uid 8 (mail) and
#                          gid 8 (mail) pass; other users get REJECT on 25/465/587
#   csf-tcp-out-PORT-missing
#                          csf 16.07, TCP_OUT/TCP6_OUT without PORT: OUTPUT policy DROP, the SYN
#                          ends in LOGDROPOUT (*TCP_OUT Blocked*, REJECT): ~1 s refused
#   cpanel-smtp-restrictions
#                          cPanel "SMTP Restrictions": nat OUTPUT RETURN for gid 38, gid 8,
#                          uid 8 to 127.0.0.1, uid 0; then REDIRECT 25,465,587 (IPv4 only): other
#                          users reach the local MTA (220 client.lab.example.com)
#   hestia-input-only      HestiaCP's INPUT layout (chain hestia, fail2ban-* chains, policy DROP)
#                          from its default rules.conf: blocks nothing outbound
#   docker-chains          Docker 28's chains (DOCKER-USER, DOCKER-FORWARD, DOCKER-CT, ..., nat
#                          DOCKER), IPv4: harmless for host processes
#
# Not faults but fixed parts of the lab (see README): blocked.lab.example.com (554 greeting
# naming the client's address and zen.spamhaus.org, on 25 and 587), notsmtp.lab.example.com
# (an SSH banner on 587, then silence) and servfail.lab.example.com (SERVFAIL from dnsmasq).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=managers.sh
source "$HERE/managers.sh"
require_root

ACTIVE=$SDLAB_DIR/faults.active

list_faults() {
    local p a
    for a in drop reject reset prohibit; do for p in 25 465 587; do echo "client-$a-$p"; done; done
    for a in drop reject reset prohibit; do for p in 25 465 587; do echo "router-$a-$p"; done; done
    for a in drop reject reset prohibit; do for p in 25 465 587; do echo "router2-$a-$p"; done; done
    for p in 5 10; do echo "router-loss-$p"; echo "router2-loss-$p"; done
    echo router-no-time-exceeded; echo router2-no-time-exceeded
    for p in 1 2 3; do echo "slow-greeting-$p"; done
    for a in drop reject prohibit; do for p in 25 465 587; do echo "server-$a-$p"; done; done
    for p in 25 465 587; do echo "stop-$p"; done
    for p in 25 465 587; do echo "client-nft-drop-$p"; done
    for p in 25 465 587; do echo "redirect-$p-local"; echo "redirect4-$p-local"; echo "dnat-$p-local"; done
    for p in 25 465 587; do echo "router-proxy-$p"; echo "redirect4-$p-relay"; done
    for p in 25 465 587; do
        echo "owner-reject-$p-65534"; echo "ufw-deny-out-$p"; echo "ufw-reject-out-$p"
        echo "firewalld-policy-reject-$p"; echo "firewalld-direct-reject-$p"
        echo "firewalld-iptables-direct-reject-$p"; echo "csf-tcp-out-$p-missing"
    done
    printf '%s\n' ufw-default-deny-out csf-smtp-block cpanel-smtp-restrictions hestia-input-only docker-chains
    printf '%s\n' local-mta-off router-drop-v6 router-reject-v6 no-v6-route no-default-route \
        router-drop-all router-unreach-all resolver-silent resolver-refuse client-drop-dns resolver-none
}

require_lab() {
    local ns
    for ns in "${ALL_NS[@]}"; do ns_exists "$ns" || die "namespace $ns missing (run tests/lab/up.sh)"; done
    [[ -f $SDLAB_DIR/lab.env ]] || die "$SDLAB_DIR/lab.env missing (run tests/lab/up.sh)"
    touch "$ACTIVE"
}

# Rules for both families: $1=ns $2=chain $3=table, then the v4 rule and the v6 rule as strings.
rule46() {
    local ns=$1 chain=$2 table=$3 r4=$4 r6=$5
    # shellcheck disable=SC2086
    ipt4 "$ns" -t "$table" -A "$chain" $r4
    # shellcheck disable=SC2086
    ipt6 "$ns" -t "$table" -A "$chain" $r6
}

# REJECT targets: $1=kind -> "v4target|v6target"
reject_with() {
    case $1 in
        drop) echo "-j DROP|-j DROP" ;;
        reject) echo "-j REJECT --reject-with icmp-port-unreachable|-j REJECT --reject-with icmp6-port-unreachable" ;;
        reset) echo "-j REJECT --reject-with tcp-reset|-j REJECT --reject-with tcp-reset" ;;
        prohibit) echo "-j REJECT --reject-with icmp-admin-prohibited|-j REJECT --reject-with icmp6-adm-prohibited" ;;
    esac
}

server_master_reload() { # closed ports on mail...; GREETING_DELAY from the active slow-greeting fault
    GREETING_DELAY=${GREETING_DELAY-$(greeting_delay)} write_server_master_cf "$@"
    postfix_ctl "$NS_SERVER" "$PF_SERVER_DIR" reload ||
        { tail_log "$SDLAB_DIR/log/postfix-ctl.log"; die "postfix reload failed"; }
}

# A socat relay started by a fault: $1=name $2=ns $3=listen spec $4=connect spec; fault.sh clear stops it.
start_relay() {
    ip netns exec "$2" setsid socat -T 60 "$3,reuseaddr,fork" "$4" \
        </dev/null >>"$SDLAB_DIR/log/socat.log" 2>&1 &
    echo $! > "$SDLAB_DIR/run/socat-fault-$1.pid"
}

stop_relays() {
    local f pid
    for f in "$SDLAB_DIR"/run/socat-fault-*.pid; do
        [[ -f $f ]] || continue
        pid=$(tr -dc 0-9 < "$f")
        [[ -n $pid ]] && { kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; }
        rm -f "$f"
    done
}

greeting_delay() { grep -E '^slow-greeting-[1-9]$' "$ACTIVE" 2>/dev/null | tail -n 1 | sed 's/^slow-greeting-//' || true; }
stopped_ports() { grep -E '^stop-(25|465|587)$' "$ACTIVE" 2>/dev/null | sed 's/^stop-//' | tr '\n' ' ' || true; }

apply() {
    local f=$1 kind port t4 t6 target
    if grep -qxF -- "$f" "$ACTIVE"; then
        log "fault $f already active"
        return 0
    fi
    case $f in
        client-drop-25 | client-drop-465 | client-drop-587 | client-reject-25 | client-reject-465 | \
            client-reject-587 | client-reset-25 | client-reset-465 | client-reset-587 | \
            client-prohibit-25 | client-prohibit-465 | client-prohibit-587)
            kind=${f#client-}; port=${kind#*-}; kind=${kind%-*}
            target=$(reject_with "$kind"); t4=${target%|*}; t6=${target#*|}
            rule46 "$NS_CLIENT" SDLAB-OUT filter "-p tcp --dport $port $t4" "-p tcp --dport $port $t6"
            ;;
        router-drop-25 | router-drop-465 | router-drop-587 | router-reject-25 | router-reject-465 | \
            router-reject-587 | router-reset-25 | router-reset-465 | router-reset-587 | \
            router-prohibit-25 | router-prohibit-465 | router-prohibit-587 | \
            router2-drop-25 | router2-drop-465 | router2-drop-587 | router2-reject-25 | router2-reject-465 | \
            router2-reject-587 | router2-reset-25 | router2-reset-465 | router2-reset-587 | \
            router2-prohibit-25 | router2-prohibit-465 | router2-prohibit-587)
            local ns=$NS_ROUTER
            [[ $f == router2-* ]] && ns=$NS_ROUTER2
            kind=${f#router*-}; port=${kind#*-}; kind=${kind%-*}
            target=$(reject_with "$kind"); t4=${target%|*}; t6=${target#*|}
            rule46 "$ns" SDLAB-FWD filter "-p tcp --dport $port $t4" "-p tcp --dport $port $t6"
            ;;
        router-loss-5 | router-loss-10 | router2-loss-5 | router2-loss-10)
            # One rule per incoming interface, so each direction loses its share (and selftest can see both
            # counters move).
            local ns ifs probability i
            if [[ $f == router2-* ]]; then ns=$NS_ROUTER2 ifs=("$IF_R2_T" "$IF_RTR_S"); else ns=$NS_ROUTER ifs=("$IF_RTR_C" "$IF_R1_T"); fi
            probability=0.0${f##*-}; [[ ${f##*-} == 10 ]] && probability=0.10
            for i in "${ifs[@]}"; do
                rule46 "$ns" SDLAB-FWD filter "-i $i -m statistic --mode random --probability $probability -j DROP" \
                    "-i $i -m statistic --mode random --probability $probability -j DROP"
            done
            ;;
        router-no-time-exceeded | router2-no-time-exceeded)
            if [[ $f == router2-* ]]; then t4=$NS_ROUTER2; else t4=$NS_ROUTER; fi
            ipt4 "$t4" -A SDLAB-OUT -p icmp --icmp-type time-exceeded -j DROP
            ipt6 "$t4" -A SDLAB-OUT -p ipv6-icmp --icmpv6-type time-exceeded -j DROP
            ;;
        slow-greeting-1 | slow-greeting-2 | slow-greeting-3)
            grep -qE '^slow-greeting-' "$ACTIVE" && die "$f: another slow-greeting fault is active (clear first)"
            # shellcheck disable=SC2046
            GREETING_DELAY=${f#slow-greeting-} server_master_reload $(stopped_ports)
            [[ " $(stopped_ports) " == *" 25 "* ]] ||
                wait_mail_greeting "$((${f#slow-greeting-} * 1000 - 100))" "$((${f#slow-greeting-} * 1000 + 900))" ||
                die "$f: mail.$ZONE does not greet late after the reload"
            ;;
        server-drop-25 | server-drop-465 | server-drop-587 | server-reject-25 | server-reject-465 | \
            server-reject-587 | server-prohibit-25 | server-prohibit-465 | server-prohibit-587)
            kind=${f#server-}; port=${kind#*-}; kind=${kind%-*}
            target=$(reject_with "$kind"); t4=${target%|*}; t6=${target#*|}
            rule46 "$NS_SERVER" SDLAB-IN filter "-p tcp --dport $port $t4" "-p tcp --dport $port $t6"
            ;;
        stop-25 | stop-465 | stop-587)
            port=${f#stop-}
            # shellcheck disable=SC2046
            server_master_reload $(stopped_ports) "$port"
            wait_closed "$NS_SERVER" "$MAIL4" "$port" 5 && wait_closed "$NS_SERVER" "$MAIL6" "$port" 5 ||
                die "mail.$ZONE still listens on $port after reload"
            ;;
        client-nft-drop-25 | client-nft-drop-465 | client-nft-drop-587)
            port=${f#client-nft-drop-}
            ip netns exec "$NS_CLIENT" nft -f - <<NFT
table inet sdlab_fw {
    chain out {
        type filter hook output priority 0; policy accept;
        tcp dport $port drop
    }
}
NFT
            ;;
        redirect-25-local | redirect-465-local | redirect-587-local)
            port=${f#redirect-}; port=${port%-local}
            rule46 "$NS_CLIENT" SDLAB-NAT nat "-p tcp --dport $port ! -d 127.0.0.0/8 -j REDIRECT --to-ports $port" \
                "-p tcp --dport $port ! -d ::1/128 -j REDIRECT --to-ports $port"
            ;;
        redirect4-25-local | redirect4-465-local | redirect4-587-local)
            port=${f#redirect4-}; port=${port%-local}
            ipt4 "$NS_CLIENT" -t nat -A SDLAB-NAT -p tcp --dport "$port" ! -d 127.0.0.0/8 -j REDIRECT --to-ports "$port"
            ;;
        dnat-25-local | dnat-465-local | dnat-587-local)
            port=${f#dnat-}; port=${port%-local}
            rule46 "$NS_CLIENT" SDLAB-NAT nat "-p tcp --dport $port ! -d 127.0.0.0/8 -j DNAT --to-destination 127.0.0.1:$port" \
                "-p tcp --dport $port ! -d ::1/128 -j DNAT --to-destination [::1]:$port"
            ;;
        router-proxy-25 | router-proxy-465 | router-proxy-587)
            port=${f#router-proxy-}
            start_relay "proxy4-$port" "$NS_ROUTER" "TCP4-LISTEN:$((10000 + port))" "TCP4:$MAIL4:$port"
            start_relay "proxy6-$port" "$NS_ROUTER" "TCP6-LISTEN:$((10000 + port)),ipv6only=1" "TCP6:[$MAIL6]:$port"
            for ipt in ipt4 ipt6; do
                $ipt "$NS_ROUTER" -t nat -N SDLAB-PROXY 2>/dev/null || true
                $ipt "$NS_ROUTER" -t nat -C PREROUTING -j SDLAB-PROXY 2>/dev/null ||
                    $ipt "$NS_ROUTER" -t nat -A PREROUTING -j SDLAB-PROXY
                $ipt "$NS_ROUTER" -t nat -A SDLAB-PROXY -i "$IF_RTR_C" -p tcp --dport "$port" \
                    -j REDIRECT --to-ports $((10000 + port))
            done
            wait_listen "$NS_ROUTER" 0.0.0.0 $((10000 + port)) 5 || die "the router's proxy for $port did not start"
            ;;
        redirect4-25-relay | redirect4-465-relay | redirect4-587-relay)
            port=${f#redirect4-}; port=${port%-relay}
            start_relay "relay-$port" "$NS_CLIENT" "TCP4-LISTEN:$((10000 + port)),bind=127.0.0.1" "TCP6:[$MAIL6]:$port"
            ipt4 "$NS_CLIENT" -t nat -A SDLAB-NAT -p tcp --dport "$port" ! -d 127.0.0.0/8 -j REDIRECT \
                --to-ports $((10000 + port))
            wait_listen "$NS_CLIENT" 127.0.0.1 $((10000 + port)) 5 || die "the local relay for $port did not start"
            ;;
        local-mta-off)
            postfix_ctl "$NS_CLIENT" "$PF_LOCAL_DIR" stop || true
            wait_closed "$NS_CLIENT" 127.0.0.1 25 5 && wait_closed "$NS_CLIENT" 127.0.0.1 587 5 ||
                die "local MTA still listening after stop"
            ;;
        router-drop-v6)
            ipt6 "$NS_ROUTER" -A SDLAB-FWD -j DROP
            ;;
        router-reject-v6)
            ipt6 "$NS_ROUTER" -A SDLAB-FWD -j REJECT --reject-with icmp6-no-route
            ;;
        no-v6-route)
            ip -n "$NS_CLIENT" -6 route del default 2>/dev/null || true
            ;;
        no-default-route)
            ip -n "$NS_CLIENT" route del default 2>/dev/null || true
            ip -n "$NS_CLIENT" -6 route del default 2>/dev/null || true
            ;;
        router-drop-all)
            rule46 "$NS_ROUTER" SDLAB-FWD filter "-j DROP" "-j DROP"
            ;;
        router-unreach-all)
            rule46 "$NS_ROUTER" SDLAB-FWD filter "-j REJECT --reject-with icmp-host-unreachable" \
                "-j REJECT --reject-with icmp6-addr-unreachable"
            ;;
        resolver-silent | resolver-refuse)
            if [[ $f == resolver-silent ]]; then t4="-j DROP"; t6="-j DROP"; else
                t4="-j REJECT --reject-with icmp-port-unreachable"; t6="-j REJECT --reject-with icmp6-port-unreachable"; fi
            for proto in udp tcp; do
                rule46 "$NS_ROUTER" SDLAB-IN filter "-s $CLIENT4 -p $proto --dport 53 $t4" "-s $CLIENT6 -p $proto --dport 53 $t6"
            done
            ;;
        client-drop-dns)
            for proto in udp tcp; do
                rule46 "$NS_CLIENT" SDLAB-OUT filter "-p $proto --dport 53 -j DROP" "-p $proto --dport 53 -j DROP"
            done
            ;;
        resolver-none)
            write_client_resolv_conf none
            ;;
        owner-reject-25-* | owner-reject-465-* | owner-reject-587-*)
            port=${f#owner-reject-}; t4=${port#*-}; port=${port%%-*}
            [[ $t4 =~ ^[0-9]{1,10}$ ]] || die "owner-reject-PORT-UID: UID must be numeric (got '$t4')"
            # an admin's plain rule, straight in OUTPUT
            ipt4 "$NS_CLIENT" -A OUTPUT -p tcp --dport "$port" -m owner --uid-owner "$t4" -j REJECT
            ipt6 "$NS_CLIENT" -A OUTPUT -p tcp --dport "$port" -m owner --uid-owner "$t4" -j REJECT
            ;;
        ufw-deny-out-25 | ufw-deny-out-465 | ufw-deny-out-587 | ufw-reject-out-25 | ufw-reject-out-465 | ufw-reject-out-587)
            port=${f##*-}; kind=${f#ufw-}; kind=${kind%%-*}
            ufw_base
            ufw_in "$kind" out "$port/tcp"
            ;;
        ufw-default-deny-out)
            ufw_base
            for t4 in 53 22/tcp 80/tcp 443/tcp; do ufw_in allow out "$t4"; done
            ufw_in default deny outgoing
            ;;
        firewalld-policy-reject-25 | firewalld-policy-reject-465 | firewalld-policy-reject-587)
            firewalld_policy_reject "${f##*-}"
            ;;
        firewalld-direct-reject-25 | firewalld-direct-reject-465 | firewalld-direct-reject-587)
            firewalld_direct_reject "${f##*-}"
            ;;
        firewalld-iptables-direct-reject-25 | firewalld-iptables-direct-reject-465 | firewalld-iptables-direct-reject-587)
            firewalld_iptables_direct_reject "${f##*-}"
            ;;
        csf-smtp-block)
            csf_smtp_block
            ;;
        csf-tcp-out-25-missing | csf-tcp-out-465-missing | csf-tcp-out-587-missing)
            port=${f#csf-tcp-out-}; port=${port%-missing}
            csf_tcp_out_missing "$port"
            ;;
        cpanel-smtp-restrictions)
            cpanel_smtp
            ;;
        hestia-input-only)
            hestia_input
            ;;
        docker-chains)
            docker_chains
            ;;
        *)
            die "unknown fault '$f' (see: fault.sh list)"
            ;;
    esac
    echo "$f" >> "$ACTIVE"
    log "fault $f applied"
}

clear_all() {
    local ns ipt chain table had_stop=0 had_local=0
    grep -qE '^(stop|slow-greeting)-' "$ACTIVE" 2>/dev/null && had_stop=1
    grep -qxF local-mta-off "$ACTIVE" 2>/dev/null && had_local=1
    # The client's whole rule set goes back to up.sh's: the lab runs the fix commands smtp-doctor
    # prints (they insert rules into OUTPUT), and the firewall-manager faults replace whole tables,
    # set policies and add nft tables. So: flush everything, then the two empty hook chains again.
    ip netns exec "$NS_CLIENT" nft flush ruleset
    for ipt in ipt4 ipt6; do
        $ipt "$NS_CLIENT" -N SDLAB-OUT
        $ipt "$NS_CLIENT" -A OUTPUT -j SDLAB-OUT
        $ipt "$NS_CLIENT" -t nat -N SDLAB-NAT
        $ipt "$NS_CLIENT" -t nat -A OUTPUT -j SDLAB-NAT
        $ipt "$NS_ROUTER" -F SDLAB-FWD
        $ipt "$NS_ROUTER" -F SDLAB-IN
        $ipt "$NS_ROUTER2" -F SDLAB-FWD
        $ipt "$NS_ROUTER2" -F SDLAB-IN
        $ipt "$NS_ROUTER" -F SDLAB-OUT
        $ipt "$NS_ROUTER2" -F SDLAB-OUT
        $ipt "$NS_SERVER" -F SDLAB-IN
    done
    # The router's transparent proxies and the local relays.
    stop_relays
    for ipt in ipt4 ipt6; do
        $ipt "$NS_ROUTER" -t nat -D PREROUTING -j SDLAB-PROXY 2>/dev/null || true
        $ipt "$NS_ROUTER" -t nat -F SDLAB-PROXY 2>/dev/null || true
        $ipt "$NS_ROUTER" -t nat -X SDLAB-PROXY 2>/dev/null || true
    done
    # The managers' files (and the real ufw's state). Only in-client.sh mounts them, each time in
    # a mount namespace of its own, so nothing is mounted here.
    rm -rf "${HOSTFS:?}"
    ip -n "$NS_CLIENT" route replace default via "$RTR_C4"
    ip -n "$NS_CLIENT" -6 route replace default via "$RTR_C6"
    if [[ -d /etc/netns/$NS_CLIENT ]]; then write_client_resolv_conf normal; fi   # undoes resolver-none
    if ((had_stop)) || ! grep -qF "$MAIL4:587 inet" "$PF_SERVER_DIR/etc/master.cf" ||
        grep -qF smtpd_delay_reject=no "$PF_SERVER_DIR/etc/master.cf"; then
        GREETING_DELAY='' server_master_reload
        local p a
        for p in 25 465 587; do
            for a in "$MAIL4" "$MAIL6"; do
                wait_listen "$NS_SERVER" "$a" "$p" 5 || die "mail.$ZONE not listening on $a:$p after clear"
            done
        done
        wait_mail_greeting 0 500 || die "mail.$ZONE still greets late after clear"
    fi
    if ((had_local)) || ! is_listening "$NS_CLIENT" 127.0.0.1 25; then
        postfix_ctl "$NS_CLIENT" "$PF_LOCAL_DIR" start || true
        wait_listen "$NS_CLIENT" 127.0.0.1 25 5 && wait_listen "$NS_CLIENT" 127.0.0.1 587 5 &&
            wait_listen "$NS_CLIENT" ::1 465 5 ||
            { tail_log "$SDLAB_DIR/log/postfix-local.log"; die "local MTA did not come back"; }
    fi
    : > "$ACTIVE"
    log "faults cleared"
}

(($# > 0)) || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
case $1 in
    list) list_faults; exit 0 ;;
    status) require_lab; cat "$ACTIVE"; exit 0 ;;
    clear) require_lab; clear_all; exit 0 ;;
esac
require_lab
for f in "$@"; do apply "$f"; done
