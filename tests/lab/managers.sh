# shellcheck shell=bash
# Firewall-manager faults of the client namespace, sourced by fault.sh (needs lib.sh). Each
# function makes the rule layout a real manager makes and puts the manager's files into the
# client's "host files" overlay (lib.sh hostfs_*), never on the host.
#
# Where the layouts come from (details and the rule text: README.md, "Firewall managers"):
# - ufw: the real ufw 0.36.2 (Debian bookworm package) runs in the namespace (ufw_in).
# - firewalld: layouts/firewalld-*.{nft,v4,v6} were captured from the real firewalld 1.3.3
#   (Debian bookworm's firewalld + python3-firewall packages, unpacked, not installed) run in the
#   client namespace with a private D-Bus, after `firewall-cmd --permanent --new-policy ...`
#   / `--direct --add-rule ...` and `--reload`. The code that writes them: firewalld v1.3.3
#   src/firewall/core/nftables.py (build_default_rules, build_policy_*, build_rfc3964_ipv4_rules),
#   ipXtables.py (build_default_rules: the *_direct chains) and fw_direct.py (with nftables the
#   direct rule goes into the built-in chain itself, "don't append _direct").
# - csf: layouts/csf-*.{v4,v6} were captured from the real csf.pl 16.07 (github cpanel/cpanel-csf,
#   csf.pl sub dostart / doportfilters, etc/csf.conf defaults) run as `csf -sf` in the client
#   namespace, over overlays, with the csf.conf values written by csf_conf below.
# - cPanel SMTP Restrictions: the nat OUTPUT listing in cPanel's support article 360052429614
#   ("SMTP Restrictions (WHM) versus SMTP_BLOCK (CSF)"), with Debian ids (see cpanel_smtp).
# - HestiaCP: bin/v-update-firewall, install/common/firewall/rules.conf, bin/v-add-firewall-chain,
#   install/deb/fail2ban/jail.local (github hestiacp/hestiacp), replayed by hestia_input.
# - Docker 28: moby v28.5.2 integration/network/bridge/iptablesdoc/generated/new-daemon.md
#   (libnetwork/drivers/bridge/internal/iptabler/iptabler.go setupIPChains).

LAYOUTS=$HERE/layouts
FWD_POLICY=no-smtp-out   # name of the firewalld policy of firewalld-policy-reject-PORT

nsx() { ip netns exec "$NS_CLIENT" "$@"; }

# The lab's hook chains (up.sh): empty unless another fault fills them. After a layout that
# replaces whole tables (csf, firewalld's iptables backend) they are put back at the top of
# OUTPUT / nat OUTPUT, so the plain client faults still stack.
lab_hooks_ensure() {
    local ipt
    for ipt in ipt4 ipt6; do
        $ipt "$NS_CLIENT" -n -L SDLAB-OUT >/dev/null 2>&1 || $ipt "$NS_CLIENT" -N SDLAB-OUT
        $ipt "$NS_CLIENT" -C OUTPUT -j SDLAB-OUT 2>/dev/null || $ipt "$NS_CLIENT" -I OUTPUT 1 -j SDLAB-OUT
        $ipt "$NS_CLIENT" -t nat -n -L SDLAB-NAT >/dev/null 2>&1 || $ipt "$NS_CLIENT" -t nat -N SDLAB-NAT
        $ipt "$NS_CLIENT" -t nat -C OUTPUT -j SDLAB-NAT 2>/dev/null ||
            $ipt "$NS_CLIENT" -t nat -I OUTPUT 1 -j SDLAB-NAT
    done
}

# Faults that replace whole tables cannot be combined with one another.
exclusive_layout() { # $1 = this fault; the others of the same kind are in $ACTIVE
    local other
    other=$(grep -E '^(csf-|firewalld-|hestia-|docker-|ufw-|cpanel-)' "$ACTIVE" || true)
    [[ -z $other ]] || die "fault $1 replaces the client's whole rule set: clear first (active: ${other//$'\n'/ })"
}

# ---------------------------------------------------------------------------
# ufw: the real one
# ---------------------------------------------------------------------------
# ufw writes /etc/ufw/*.rules, /etc/ufw/ufw.conf, /etc/default/ufw and /run/ufw.lock: all under
# the overlay. /lib/ufw (= /usr/lib/ufw) holds only ufw-init, which ufw reads and never writes.
# IPT_SYSCTL points at an empty file so `ufw enable` changes no sysctl (ufw-init-functions only
# runs `sysctl -p` when the file is non-empty).
ufw_in() { in_client ufw "$@" >/dev/null; }

ufw_check() {
    local other
    other=$(grep -E '^(csf-|firewalld-|hestia-|docker-|cpanel-)' "$ACTIVE" || true)
    [[ -z $other ]] || die "ufw faults do not combine with other managers' layouts: clear first (active: ${other//$'\n'/ })"
}

ufw_base() {
    ufw_check
    if grep -qsx 'ENABLED=yes' "$(hostfs_path /etc/ufw/ufw.conf)"; then return 0; fi
    [[ -x /usr/sbin/ufw ]] || die "ufw is not installed (run tests/lab/install-deps.sh)"
    hostfs_put /etc/ufw/sdlab-no-sysctl.conf </dev/null
    sed 's|^IPT_SYSCTL=.*|IPT_SYSCTL=/etc/ufw/sdlab-no-sysctl.conf|' /etc/default/ufw | hostfs_put /etc/default/ufw
    grep -qx 'IPT_SYSCTL=/etc/ufw/sdlab-no-sysctl.conf' "$(hostfs_path /etc/default/ufw)" ||
        die "could not set IPT_SYSCTL in the overlay's /etc/default/ufw"
    ufw_in allow 22/tcp          # what an admin does before enabling ufw over ssh
    ufw_in --force enable
}

# ---------------------------------------------------------------------------
# firewalld
# ---------------------------------------------------------------------------
firewalld_conf() { # $1 = nftables|iptables: Debian bookworm's firewalld.conf settings
    hostfs_put /etc/firewalld/firewalld.conf <<EOF
# firewalld config file (the settings of Debian bookworm's firewalld 1.3.3 /etc/firewalld/firewalld.conf,
# written by the smtp-doctor lab)
DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FirewallBackend=$1
FlushAllOnReload=yes
RFC3964_IPv4=yes
EOF
    chmod 750 "$(hostfs_path /etc/firewalld)"
}

# /etc/firewalld/direct.xml for every direct-rule port in $ACTIVE (plus $1), as firewalld writes it.
firewalld_direct_xml() {
    local p ports
    ports=$(grep -E '^firewalld-(iptables-)?direct-reject-' "$ACTIVE" | grep -oE '[0-9]+$' || true)
    {
        echo '<?xml version="1.0" encoding="utf-8"?>'
        echo '<direct>'
        for p in $ports $1; do
            echo "  <rule ipv=\"ipv4\" table=\"filter\" chain=\"OUTPUT\" priority=\"0\">-p tcp --dport $p -j REJECT</rule>"
            echo "  <rule ipv=\"ipv6\" table=\"filter\" chain=\"OUTPUT\" priority=\"0\">-p tcp --dport $p -j REJECT</rule>"
        done
        echo '</direct>'
    } | hostfs_put /etc/firewalld/direct.xml
}

firewalld_backend_check() { # $1 = nftables|iptables
    local other
    other=$(grep -E '^(csf-|hestia-|docker-|ufw-|cpanel-)' "$ACTIVE" || true)
    [[ -z $other ]] || die "firewalld faults replace the client's rule set: clear first (active: ${other//$'\n'/ })"
    if [[ $1 == nftables ]] && grep -q '^firewalld-iptables-' "$ACTIVE"; then
        die "firewalld with the iptables backend is active: clear first"
    fi
    if [[ $1 == iptables ]] && grep -qE '^firewalld-(policy|direct)-' "$ACTIVE"; then
        die "firewalld with the nftables backend is active: clear first"
    fi
}

firewalld_policy_reject() { # $1 = port
    local port=$1 p
    firewalld_backend_check nftables
    if ! nsx nft list chain inet firewalld "filter_OUT_policy_$FWD_POLICY" >/dev/null 2>&1; then
        nsx nft delete table inet firewalld 2>/dev/null || true
        sed "s/@PORT@/$port/g" "$LAYOUTS/firewalld-nft-policy.nft" | nsx nft -f -
    else
        # a second rich rule of the same policy: firewalld adds it to the same _deny chain
        nsx nft add rule inet firewalld "filter_OUT_policy_${FWD_POLICY}_deny" tcp dport "$port" reject
    fi
    firewalld_conf nftables
    {
        echo '<?xml version="1.0" encoding="utf-8"?>'
        echo '<policy target="CONTINUE">'
        for p in $(grep -E '^firewalld-policy-reject-' "$ACTIVE" | grep -oE '[0-9]+$' || true) "$port"; do
            echo '  <rule>'
            echo "    <port port=\"$p\" protocol=\"tcp\"/>"
            echo '    <reject/>'
            echo '  </rule>'
        done
        echo '  <ingress-zone name="HOST"/>'
        echo '  <egress-zone name="ANY"/>'
        echo '</policy>'
    } | hostfs_put "/etc/firewalld/policies/$FWD_POLICY.xml"
}

firewalld_direct_reject() { # $1 = port; nftables backend
    local port=$1
    firewalld_backend_check nftables
    nsx nft list table inet firewalld >/dev/null 2>&1 || nsx nft -f "$LAYOUTS/firewalld-nft.nft"
    # fw_direct.py: with nftables "just put the direct rules in the chain specified by the user"
    ipt4 "$NS_CLIENT" -A OUTPUT -p tcp --dport "$port" -j REJECT
    ipt6 "$NS_CLIENT" -A OUTPUT -p tcp --dport "$port" -j REJECT
    firewalld_conf nftables
    firewalld_direct_xml "$port"
}

firewalld_iptables_direct_reject() { # $1 = port; iptables backend
    local port=$1
    firewalld_backend_check iptables
    if ! ipt4 "$NS_CLIENT" -n -L OUTPUT_direct >/dev/null 2>&1; then
        sed "s/@PORT@/$port/g" "$LAYOUTS/firewalld-iptables.v4" | nsx iptables-restore -w 5
        sed "s/@PORT@/$port/g" "$LAYOUTS/firewalld-iptables.v6" | nsx ip6tables-restore -w 5
        lab_hooks_ensure
    else
        ipt4 "$NS_CLIENT" -A OUTPUT_direct -p tcp -m tcp --dport "$port" -j REJECT --reject-with icmp-port-unreachable
        ipt6 "$NS_CLIENT" -A OUTPUT_direct -p tcp -m tcp --dport "$port" -j REJECT --reject-with icmp6-port-unreachable
    fi
    firewalld_conf iptables
    firewalld_direct_xml "$port"
}

# ---------------------------------------------------------------------------
# csf
# ---------------------------------------------------------------------------
# /etc/csf/csf.conf: the keys that shape the layout, with the values the real csf.pl ran with
# (all other keys were at the csf.conf defaults of cpanel-csf 16.07). SMTP_ALLOWUSER is "mail"
# (uid 8 on Debian) instead of csf's default "cpanel", which does not exist here; "mailman" of
# SMTP_ALLOWGROUP does not exist on Debian either, so csf (getgrnam) makes no rule for it.
csf_conf() { # $1 = SMTP_BLOCK, $2 = TCP_OUT = TCP6_OUT
    hostfs_put /etc/csf/csf.conf 600 <<EOF
###############################################################################
# /etc/csf/csf.conf (excerpt written by the smtp-doctor lab: the keys below have the values
# csf 16.07 was run with to make this layout; every other key has csf.conf's default)
###############################################################################
TESTING = "0"
TCP_IN = "20,21,22,25,53,80,110,143,443,465,587,853,993,995,2077,2078,2079,2080,2082,2083,2086,2087,2095,2096,8443"
TCP_OUT = "$2"
UDP_IN = "20,21,53,80,443,853"
UDP_OUT = "20,21,53,113,123,853,873,6277,24441"
ICMP_IN = "1"
ICMP_OUT = "1"
LF_SPI = "1"
IPV6 = "1"
IPV6_SPI = "1"
TCP6_IN = "20,21,22,25,53,80,110,143,443,465,587,853,993,995,2077,2078,2082,2083,2086,2087,2095,2096,8443"
TCP6_OUT = "$2"
UDP6_IN = "20,21,53,80,443"
UDP6_OUT = "20,21,53,113,123,873,6277,24441"
ETH_DEVICE = ""
USE_CONNTRACK = "1"
DNS_STRICT = "0"
FASTSTART = "1"
LF_DAEMON = "0"
PACKET_FILTER = "1"
SMTP_BLOCK = "$1"
SMTP_ALLOWLOCAL = "1"
SMTP_REDIRECT = "0"
SMTP_PORTS = "25,465,587"
SMTP_ALLOWUSER = "mail"
SMTP_ALLOWGROUP = "mail,mailman"
DROP = "DROP"
DROP_OUT = "REJECT"
DROP_LOGGING = "1"
DROP_OUT_LOGGING = "1"
DROP_UID_LOGGING = "1"
DROP_NOLOG = "23,67,68,111,113,135:139,445,500,513,520"
EOF
    echo "16.07" | hostfs_put /etc/csf/version.txt
}

# csf.conf's default TCP_OUT (and TCP6_OUT): 465 is not in it.
CSF_TCP_OUT_DEFAULT="20,21,22,25,37,43,53,80,110,113,443,587,853,873,993,995,2086,2087,2089,2703"
# TCP_OUT of layouts/csf-tcp-out.*: the default plus 465, so each SMTP port has its rule.
CSF_TCP_OUT_ALL="20,21,22,25,37,43,53,80,110,113,443,465,587,853,873,993,995,2086,2087,2089,2703"

csf_smtp_block() {
    exclusive_layout csf-smtp-block
    nsx iptables-restore -w 5 < "$LAYOUTS/csf-smtp-block.v4"
    nsx ip6tables-restore -w 5 < "$LAYOUTS/csf-smtp-block.v6"
    lab_hooks_ensure
    csf_conf 1 "$CSF_TCP_OUT_DEFAULT"
}

csf_tcp_out_missing() { # $1 = port left out of TCP_OUT / TCP6_OUT
    local port=$1 line
    exclusive_layout "csf-tcp-out-$port-missing"
    # csf (doportfilters) makes one such ACCEPT per TCP_OUT port and nothing else per port: a run
    # of the real csf with 587 left out differed from the full run by exactly this line (v4, v6).
    line="-A OUTPUT ! -o lo -p tcp -m conntrack --ctstate NEW -m tcp --dport $port -j ACCEPT"
    grep -qxF -- "$line" "$LAYOUTS/csf-tcp-out.v4" || die "csf layout has no TCP_OUT rule for $port"
    grep -vxF -- "$line" "$LAYOUTS/csf-tcp-out.v4" | nsx iptables-restore -w 5
    grep -vxF -- "$line" "$LAYOUTS/csf-tcp-out.v6" | nsx ip6tables-restore -w 5
    lab_hooks_ensure
    csf_conf 0 "$(tr ',' '\n' <<<"$CSF_TCP_OUT_ALL" | grep -vx "$port" | paste -sd, -)"
}

# ---------------------------------------------------------------------------
# cPanel "SMTP Restrictions" (WHM > Security Center; /scripts/smtpmailgidonly on)
# ---------------------------------------------------------------------------
# cPanel's article lists (iptables -t nat -nL OUTPUT):
#   1 RETURN tcp 0.0.0.0/0 0.0.0.0/0  multiport dports 25,465,587 owner GID match 990   (mailman)
#   2 RETURN tcp 0.0.0.0/0 0.0.0.0/0  multiport dports 25,465,587 owner GID match 12    (mail)
#   3 RETURN tcp 0.0.0.0/0 127.0.0.1  multiport dports 25,465,587 owner UID match 202   (cpanel)
#   4 RETURN tcp 0.0.0.0/0 0.0.0.0/0  multiport dports 25,465,587 owner UID match 0
#   5 REDIRECT tcp 0.0.0.0/0 0.0.0.0/0 multiport dports 25,465,587
# IPv4 only. The lab uses ids that exist on Debian: gid 38 (list, the group of Debian's mailman)
# for mailman, gid 8 (mail) for mail, uid 8 (mail) in the cpanel slot, uid 0.
cpanel_smtp() {
    exclusive_layout cpanel-smtp-restrictions
    local m="-p tcp -m multiport --dports 25,465,587"
    # shellcheck disable=SC2086
    {
        ipt4 "$NS_CLIENT" -t nat -I OUTPUT 1 $m -m owner --gid-owner 38 -j RETURN
        ipt4 "$NS_CLIENT" -t nat -I OUTPUT 2 $m -m owner --gid-owner 8 -j RETURN
        ipt4 "$NS_CLIENT" -t nat -I OUTPUT 3 -d 127.0.0.1/32 $m -m owner --uid-owner 8 -j RETURN
        ipt4 "$NS_CLIENT" -t nat -I OUTPUT 4 $m -m owner --uid-owner 0 -j RETURN
        ipt4 "$NS_CLIENT" -t nat -I OUTPUT 5 $m -j REDIRECT
    }
    echo "11.118.0.15" | hostfs_put /usr/local/cpanel/version
    printf 'smtpmailgidonly=1\n' | hostfs_put /var/cpanel/cpanel.config
}

# ---------------------------------------------------------------------------
# HestiaCP: INPUT only
# ---------------------------------------------------------------------------
HESTIA=/usr/local/hestia
hestia_input() {
    exclusive_layout hestia-input-only
    hostfs_put $HESTIA/data/firewall/rules.conf <<'EOF'
RULE='1' ACTION='ACCEPT' PROTOCOL='ICMP' PORT='0' IP='0.0.0.0/0' COMMENT='PING' SUSPENDED='no' TIME='17:13:48' DATE='2014-09-16'
RULE='2' ACTION='ACCEPT' PROTOCOL='TCP' PORT='8083' IP='0.0.0.0/0' COMMENT='HESTIA' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='3' ACTION='ACCEPT' PROTOCOL='TCP' PORT='143,993' IP='0.0.0.0/0' COMMENT='IMAP' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='4' ACTION='ACCEPT' PROTOCOL='TCP' PORT='110,995' IP='0.0.0.0/0' COMMENT='POP3' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='5' ACTION='ACCEPT' PROTOCOL='TCP' PORT='25,465,587' IP='0.0.0.0/0' COMMENT='SMTP' SUSPENDED='no' TIME='21:47:04' DATE='2018-11-07'
RULE='6' ACTION='ACCEPT' PROTOCOL='TCP' PORT='53' IP='0.0.0.0/0' COMMENT='DNS' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='7' ACTION='ACCEPT' PROTOCOL='UDP' PORT='53' IP='0.0.0.0/0' COMMENT='DNS' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='8' ACTION='ACCEPT' PROTOCOL='TCP' PORT='21,12000-12100' IP='0.0.0.0/0' COMMENT='FTP' SUSPENDED='no' TIME='07:40:16' DATE='2014-05-25'
RULE='9' ACTION='ACCEPT' PROTOCOL='TCP' PORT='80,443' IP='0.0.0.0/0' COMMENT='WEB' SUSPENDED='no' TIME='17:04:27' DATE='2014-09-24'
RULE='10' ACTION='ACCEPT' PROTOCOL='TCP' PORT='22' IP='0.0.0.0/0' COMMENT='SSH' SUSPENDED='no' TIME='17:14:41' DATE='2014-09-16'
EOF
    hostfs_put $HESTIA/data/firewall/chains.conf <<'EOF'
CHAIN='SSH' PORT='22' PROTOCOL='TCP'
CHAIN='MAIL' PORT='25,465,587,110,995,143,993' PROTOCOL='TCP'
CHAIN='HESTIA' PORT='8083' PROTOCOL='TCP'
CHAIN='WEB' PORT='80,443' PROTOCOL='TCP'
CHAIN='RECIDIVE' PORT='1:65535' PROTOCOL='TCP'
EOF
    printf "OWNER='admin' STATUS='shared' NAME='' U_SYS_USERS='' U_WEB_DOMAINS='0' INTERFACE='eth0' NETMASK='255.255.255.0' NAT='' TIME='00:00:00' DATE='2026-01-01'\n" |
        hostfs_put "$HESTIA/data/ips/$CLIENT4"
    printf "FIREWALL_SYSTEM='iptables'\nFIREWALL_EXTENSION='fail2ban'\n" | hostfs_put $HESTIA/conf/hestia.conf
    # v-update-firewall, step by step (conntrack and nf_conntrack_ftp available):
    local i="ipt4 $NS_CLIENT" line ACTION PROTOCOL PORT IP CHAIN SUSPENDED port state
    $i -P INPUT ACCEPT
    $i -F INPUT
    $i -A INPUT -i lo -j ACCEPT
    $i -A INPUT -s "$CLIENT4" -j ACCEPT
    $i -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
    while IFS= read -r line; do
        eval "$line"   # CHAIN='..' PORT='..' PROTOCOL='..' (our own file, as parse_object_kv_list)
        if [[ $PORT =~ ,|-|: ]]; then port="-m multiport --dports $PORT"; else port="--dport $PORT"; fi
        $i -N "fail2ban-$CHAIN"
        $i -F "fail2ban-$CHAIN"
        $i -A "fail2ban-$CHAIN" -s 0.0.0.0/0 -j RETURN
        # shellcheck disable=SC2086
        $i -A INPUT -p "$PROTOCOL" $port -j "fail2ban-$CHAIN"
    done < "$(hostfs_path $HESTIA/data/firewall/chains.conf)"
    while IFS= read -r line; do
        eval "$line"
        [[ $SUSPENDED == no ]] || continue
        port="--dport $PORT"; state=""
        [[ $PORT =~ ,|-|: ]] && port="-m multiport --dports ${PORT//-/:}"
        [[ $PORT == 0 || $PROTOCOL == ICMP ]] && port=""
        [[ $PORT == 21 ]] && state="-m conntrack --ctstate NEW"   # only PORT='21' (or TYPE FTP)
        # shellcheck disable=SC2086
        $i -A INPUT -p "$PROTOCOL" $port -s "$IP" $state -j "$ACTION"
    done < <(sort -r -n -k 2 -t \' "$(hostfs_path $HESTIA/data/firewall/rules.conf)")
    $i -P INPUT DROP
    $i -N hestia
    nsx iptables-save | sed -e 's/[[0-9]\+:[0-9]\+]/[0:0]/g' -e '/^-A fail2ban-[A-Z]\+ -s .\+$/d' |
        hostfs_put /etc/iptables.rules
}

# ---------------------------------------------------------------------------
# Docker 28 (IPv4, default bridge docker0, no containers)
# ---------------------------------------------------------------------------
docker_chains() {
    exclusive_layout docker-chains
    nsx iptables-restore -w 5 --noflush <<'EOF'
*filter
:DOCKER - [0:0]
:DOCKER-BRIDGE - [0:0]
:DOCKER-CT - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
-A DOCKER ! -i docker0 -o docker0 -j DROP
-A DOCKER-BRIDGE -o docker0 -j DOCKER
-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
EOF
}
