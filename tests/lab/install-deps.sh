#!/usr/bin/env bash
# Install the Debian packages the smtp-doctor fault lab needs, non-interactively
# (with --scale, also prometheus-blackbox-exporter for benches/fleet.rs).
# Runs `apt-get update` once, only if something is missing. Never starts the
# host's default Postfix, and stops it if something else started it.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
fi

# package -> a command (or file) that proves it is installed
declare -A PROBE=(
    [postfix]=/usr/sbin/postfix
    [dnsmasq-base]=/usr/sbin/dnsmasq
    [iptables]=/usr/sbin/iptables
    [nftables]=/usr/sbin/nft
    [sasl2-bin]=/usr/sbin/saslpasswd2
    [libsasl2-modules]=-
    [libsasl2-modules-db]=-
    [iproute2]=/usr/sbin/ip
    [openssl]=/usr/bin/openssl
    [swaks]=/usr/bin/swaks
    [libnet-ssleay-perl]=-
    [libio-socket-ssl-perl]=/usr/share/perl5/IO/Socket/SSL.pm
    [libauthen-sasl-perl]=/usr/share/perl5/Authen/SASL.pm
    [libio-socket-inet6-perl]=/usr/share/perl5/IO/Socket/INET6.pm
    [socat]=/usr/bin/socat
    [bind9-dnsutils]=/usr/bin/dig
    [procps]=/usr/bin/ps
    # selftest.sh names the routers on the path with TTL-limited pings
    [iputils-ping]=/bin/ping
    [util-linux]=/usr/bin/unshare
    [ufw]=/usr/sbin/ufw
    [prometheus]=/usr/bin/promtool
    [curl]=/usr/bin/curl
    # --format nagios is run by a real Nagios 4 (the daemon alone: nagios4 would add the CGIs and Apache) and
    # compared with monitoring-plugins' check_smtp; tests/lab/nagios.sh runs it in instance directories only.
    [nagios4-core]=/usr/sbin/nagios4
    [monitoring-plugins-basic]=/usr/lib/nagios/plugins/check_smtp
)

# `install-deps.sh --scale`: also the exporter benches/fleet.rs measures smtp-doctor against.
if [[ ${1:-} == --scale ]]; then
    PROBE[prometheus-blackbox-exporter]=/usr/bin/prometheus-blackbox-exporter
fi

missing=()
for pkg in "${!PROBE[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    elif [[ ${PROBE[$pkg]} != - && ! -e ${PROBE[$pkg]} ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "install-deps.sh: installing: ${missing[*]}"
    # Postfix: install the binaries only, no main.cf, no service configuration.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package scripts from starting services (Docker-style policy), but only
    # if the host has no policy of its own; remove ours afterwards.
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    cleanup_policy() { if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    timeout 600 apt-get update -q
    timeout 900 apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
else
    echo "install-deps.sh: all packages present"
fi

# The lab runs its own Postfix instances with their own config directories; the
# default instance (/etc/postfix) must stay stopped on the host.
if [[ ! -e /etc/postfix/main.cf ]]; then
    # `postfix -c DIR` reads the default main.cf for alternate_config_directories.
    cat > /etc/postfix/main.cf <<'EOF'
# Minimal default Postfix configuration created by smtp-doctor's tests/lab/install-deps.sh.
# The default instance is not used and is not started; the fault lab runs its own
# instances from directories listed in alternate_config_directories (added by up.sh).
compatibility_level = 3.6
inet_interfaces = loopback-only
mydestination =
alternate_config_directories =
EOF
fi
if /usr/sbin/postfix status >/dev/null 2>&1; then
    echo "install-deps.sh: stopping the host's default Postfix instance"
    /usr/sbin/postfix stop || true
fi

# Sanity: the tools the lab scripts call.
for cmd in ip iptables ip6tables nft postfix postconf dnsmasq saslpasswd2 openssl socat swaks unshare ss ufw prometheus promtool curl nagios4 /usr/lib/nagios/plugins/check_smtp; do
    command -v "$cmd" >/dev/null || { echo "install-deps.sh: $cmd still missing" >&2; exit 1; }
done
id nagios >/dev/null 2>&1 || { echo "install-deps.sh: the nagios user is missing (nagios4-common makes it)" >&2; exit 1; }
echo "install-deps.sh: ok"
