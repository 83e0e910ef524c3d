//! The fault lab: real Postfix, dnsmasq and iptables in network namespaces; every fault the diagnosis claims to recognise, made for real.
//!
//! A custom harness (harness = false) so the lab comes up once, every scenario runs in order against it, and it is
//! torn down at the end whatever happened. `cargo test --test lab -- WORD` runs only scenarios whose name contains WORD.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use smtp_doctor::diagnosis::{Code, Layer};
use smtp_doctor::output::document::{
    JsonFleetReport, JsonMtaReport, JsonReport, JsonVerdict, TargetStatus,
};
use smtp_doctor::report::{Manager, NotRead};

use bounded::run_bounded;

#[path = "common/bounded.rs"]
mod bounded;
#[path = "common/plugin.rs"]
mod common_plugin;
#[path = "lab/ladder.rs"]
mod ladder;
#[path = "lab/nagios.rs"]
mod nagios;
#[path = "lab/prometheus.rs"]
mod prometheus;

/// Namespaces of this harness, apart from a lab someone runs by hand (default prefix sdlab); SDTEST_PREFIX
/// gives a second checkout its own lab, so two can run at once.
fn prefix() -> String {
    std::env::var("SDTEST_PREFIX")
        .ok()
        .filter(|p| {
            !p.is_empty()
                && p.len() <= 8
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        .unwrap_or_else(|| "sdtest".into())
}

/// All runtime state of this harness's lab.
fn state_dir() -> String {
    format!("/tmp/{}", prefix())
}
const MAIL: &str = "mail.lab.example.com";
/// Longest a single smtp-doctor run may take before it is killed and the scenario fails.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(40);

struct Scenario {
    name: &'static str,
    faults: &'static [&'static str],
    host: &'static str,
    args: &'static [&'static str],
    /// Password source for --user: the lab's right password, a wrong one, or none.
    password: Password,
    /// Run smtp-doctor as an unprivileged user (no rule listing, no conntrack).
    unprivileged: bool,
    ok: bool,
    verdict: Layer,
    ports: &'static [(u16, Layer)],
    /// The code of every finding, sorted; printed when it differs.
    codes: &'static [Code],
    /// Run the iptables/nft/ufw commands the report prints (in the client namespace), then check again: the
    /// ports must work.
    fix: bool,
    /// The firewall managers the report must name (host.firewall.managers), when the scenario is about them.
    managers: Option<&'static [Manager]>,
    /// The first fix command the report must print, in the manager's own syntax.
    command: Option<&'static str>,
    /// Run with `--env-file` instead of HOST: this file's text, `@PASSWORD@` replaced by the lab's password. When
    /// the file holds the password and the run is ok, every attempt's AUTH must have been accepted.
    env_file: Option<&'static str>,
    /// The keys the report must say it used (settings.keys with used = true), with their lines.
    keys: &'static [(&'static str, usize)],
    /// The code of the finding that decides the verdict, when the scenario is about which one does.
    verdict_code: Option<Code>,
    /// `--timeout` of the run: the lab's quick 2 s, or the default 10 s where the scenario is about the default
    /// (random loss, a slow greeting).
    timeout: &'static str,
    /// Runs in a row, each asserted alike: random loss needs more than one lucky run.
    runs: usize,
    /// Text the deciding finding's message or evidence must contain (e.g. the address of the router that blocks).
    mentions: &'static [&'static str],
}

#[derive(Clone, Copy, PartialEq)]
enum Password {
    None,
    Right,
    Wrong,
}

const fn s(
    name: &'static str,
    faults: &'static [&'static str],
    host: &'static str,
    args: &'static [&'static str],
    ok: bool,
    verdict: Layer,
    ports: &'static [(u16, Layer)],
) -> Scenario {
    Scenario {
        name,
        faults,
        host,
        args,
        password: Password::None,
        unprivileged: false,
        ok,
        verdict,
        ports,
        codes: &[],
        fix: false,
        managers: None,
        command: None,
        env_file: None,
        keys: &[],
        verdict_code: None,
        timeout: "2",
        runs: 1,
        mentions: &[],
    }
}

use Layer as L;

const ALL_NONE: &[(u16, Layer)] = &[(25, L::None), (465, L::None), (587, L::None)];

fn scenarios() -> Vec<Scenario> {
    let mut v = vec![
        // The minimum matrix of the issue, in its order.
        s("01_healthy", &[], MAIL, &[], true, L::None, ALL_NONE),
        Scenario {
            password: Password::Right,
            ..s(
                "02_healthy_auth",
                &[],
                MAIL,
                &["-p", "587", "-p", "465", "--user", "app@lab.example.com"],
                true,
                L::None,
                &[(587, L::None), (465, L::None)],
            )
        },
        s(
            "03_client_drop_587",
            &["client-drop-587"],
            MAIL,
            &[],
            false,
            L::Firewall,
            &[(25, L::None), (465, L::None), (587, L::Firewall)],
        ),
        s(
            "04_client_reject_465_v4",
            &["client-reject-465"],
            MAIL,
            &["-4"],
            false,
            L::Firewall,
            &[(25, L::None), (465, L::Firewall), (587, L::None)],
        ),
        s(
            "05_router_drop_25",
            &["router-drop-25"],
            MAIL,
            &[],
            false,
            L::IspBlock,
            &[(25, L::IspBlock), (465, L::None), (587, L::None)],
        ),
        s(
            "06_redirect_587_local_mta",
            &["redirect4-587-local"],
            MAIL,
            &["-4", "-p", "587"],
            false,
            L::LocalMta,
            &[(587, L::LocalMta)],
        ),
        Scenario {
            password: Password::Wrong,
            ..s(
                "07_wrong_password_587",
                &[],
                MAIL,
                &["-p", "587", "--user", "app@lab.example.com"],
                false,
                L::Credentials,
                &[(587, L::Credentials)],
            )
        },
        s(
            "08_name_does_not_exist",
            &[],
            "nothere.lab.example.com",
            &[],
            false,
            L::Dns,
            &[(25, L::Dns), (465, L::Dns), (587, L::Dns)],
        ),
        s(
            "09_resolver_silent",
            &["resolver-silent"],
            MAIL,
            &[],
            false,
            L::Dns,
            &[(25, L::Dns), (465, L::Dns), (587, L::Dns)],
        ),
        s(
            "10_nothing_listening_587",
            &["stop-587"],
            MAIL,
            &[],
            false,
            L::Server,
            &[(25, L::None), (465, L::None), (587, L::Server)],
        ),
        s(
            "11_self_signed",
            &[],
            "selfsigned.lab.example.com",
            &["-p", "587", "-p", "465"],
            false,
            L::Tls,
            &[(587, L::Tls), (465, L::Tls)],
        ),
        s(
            "12_no_starttls_587",
            &[],
            "notls.lab.example.com",
            &["-p", "587"],
            false,
            L::Tls,
            &[(587, L::Tls)],
        ),
        s(
            "13_ipv6_dropped_at_router",
            &["router-drop-v6"],
            MAIL,
            &[],
            true,
            L::Ipv6,
            ALL_NONE,
        ),
        s(
            "14_greeting_421",
            &[],
            "busy.lab.example.com",
            &["-p", "25", "-p", "587"],
            false,
            L::Server,
            &[(25, L::Server), (587, L::Server)],
        ),
        // Neighbours a real user meets.
        s(
            "20_client_reset_465",
            &["client-reset-465"],
            MAIL,
            &["-4"],
            false,
            L::Firewall,
            &[(25, L::None), (465, L::Firewall), (587, L::None)],
        ),
        s(
            "21_client_prohibit_587",
            &["client-prohibit-587"],
            MAIL,
            &["-4", "-p", "587", "-p", "465"],
            false,
            L::Firewall,
            &[(587, L::Firewall), (465, L::None)],
        ),
        s(
            "22_router_reject_25",
            &["router-reject-25"],
            MAIL,
            &["-4"],
            false,
            L::IspBlock,
            &[(25, L::IspBlock), (465, L::None), (587, L::None)],
        ),
        s(
            "23_router_prohibit_25",
            &["router-prohibit-25"],
            MAIL,
            &["-4"],
            false,
            L::IspBlock,
            &[(25, L::IspBlock), (465, L::None), (587, L::None)],
        ),
        s(
            "24_server_reject_587",
            &["server-reject-587"],
            MAIL,
            &["-4", "-p", "587", "-p", "465"],
            false,
            L::Server,
            &[(587, L::Server), (465, L::None)],
        ),
        s(
            "25_redirect_all_families_local",
            &["redirect-587-local"],
            MAIL,
            &["-p", "587"],
            false,
            L::LocalMta,
            &[(587, L::LocalMta)],
        ),
        s(
            "26_dnat_587_local",
            &["dnat-587-local"],
            MAIL,
            &["-4", "-p", "587"],
            false,
            L::LocalMta,
            &[(587, L::LocalMta)],
        ),
        s(
            "27_expired_certificate",
            &[],
            "expired.lab.example.com",
            &["-p", "465"],
            false,
            L::Tls,
            &[(465, L::Tls)],
        ),
        s(
            "28_name_mismatch",
            &[],
            "wrongname.lab.example.com",
            &["-p", "587"],
            false,
            L::Tls,
            &[(587, L::Tls)],
        ),
        s(
            "29_silent_server",
            &[],
            "silent.lab.example.com",
            &["-4", "-p", "587"],
            false,
            L::Server,
            &[(587, L::Server)],
        ),
        s(
            "30_no_default_route",
            &["no-default-route"],
            MAIL,
            &["-p", "587"],
            false,
            L::Network,
            &[(587, L::Network)],
        ),
        s(
            "31_resolver_refuses",
            &["resolver-refuse"],
            MAIL,
            &[],
            false,
            L::Dns,
            &[(25, L::Dns), (465, L::Dns), (587, L::Dns)],
        ),
        s(
            "32_no_ipv6_route",
            &["no-v6-route"],
            MAIL,
            &[],
            true,
            L::Ipv6,
            ALL_NONE,
        ),
        s(
            "33_dead_ipv6_address",
            &[],
            "deadv6.lab.example.com",
            &["-p", "587"],
            true,
            L::Ipv6,
            &[(587, L::None)],
        ),
        s(
            "34_router_unreachable",
            &["router-unreach-all"],
            MAIL,
            &["-4", "-p", "587"],
            false,
            L::Network,
            &[(587, L::Network)],
        ),
        s(
            "35_plaintext_on_implicit_port",
            &[],
            MAIL,
            &["-4", "-p", "587", "--mode", "implicit"],
            false,
            L::Tls,
            &[(587, L::Tls)],
        ),
        s(
            "36_tls_first_on_starttls_mode",
            &[],
            MAIL,
            &["-4", "-p", "465", "--mode", "starttls"],
            false,
            L::Tls,
            &[(465, L::Tls)],
        ),
        s(
            "37_only_the_v4_family",
            &[],
            "v4only.lab.example.com",
            &["-p", "587"],
            true,
            L::None,
            &[(587, L::None)],
        ),
        s(
            "38_mx_domain",
            &[],
            "lab.example.com",
            &["--mx"],
            true,
            L::None,
            &[(25, L::None)],
        ),
        s(
            "39_mx_host_missing",
            &[],
            "brokenmx.lab.example.com",
            &["--mx"],
            false,
            L::Dns,
            &[(25, L::Dns)],
        ),
        // Responders and DNS answers added later to the lab.
        s(
            "50_greeting_554_blocklisted",
            &[],
            "blocked.lab.example.com",
            &["-p", "25", "-p", "587"],
            false,
            L::Server,
            &[(25, L::Server), (587, L::Server)],
        ),
        s(
            "51_ssh_banner_on_587",
            &[],
            "notsmtp.lab.example.com",
            &["-p", "587"],
            false,
            L::Server,
            &[(587, L::Server)],
        ),
        s(
            "52_dns_servfail",
            &[],
            "servfail.lab.example.com",
            &[],
            false,
            L::Dns,
            &[(25, L::Dns), (465, L::Dns), (587, L::Dns)],
        ),
        s(
            "54_dns_blocked_here",
            &["client-drop-dns"],
            MAIL,
            &["-p", "587"],
            false,
            L::Dns,
            &[(587, L::Dns)],
        ),
        s(
            "55_resolver_port_closed",
            &["resolver-refuse"],
            MAIL,
            &["-p", "587"],
            false,
            L::Dns,
            &[(587, L::Dns)],
        ),
        s(
            "56_resolver_dead",
            &["resolver-silent"],
            MAIL,
            &["-p", "587"],
            false,
            L::Dns,
            &[(587, L::Dns)],
        ),
        s(
            "53_no_resolver_configured",
            &["resolver-none"],
            MAIL,
            &[],
            false,
            L::Dns,
            &[(25, L::Dns), (465, L::Dns), (587, L::Dns)],
        ),
    ];
    v.push(s(
        "15_client_nft_drop_587",
        &["client-nft-drop-587"],
        MAIL,
        &["-p", "587", "-p", "465"],
        false,
        L::Firewall,
        &[(587, L::Firewall), (465, L::None)],
    ));
    // Without root: no rule listing, no conntrack; the TTL probes and banner names must carry the verdict alone.
    for (name, faults, args, verdict, ports) in [
        (
            "40_unprivileged_client_drop",
            &["client-drop-587"][..],
            &["-4", "-p", "587", "-p", "465"][..],
            L::Firewall,
            &[(587, L::Firewall), (465, L::None)][..],
        ),
        (
            "41_unprivileged_client_reset",
            &["client-reset-465"],
            &["-4", "-p", "587", "-p", "465"],
            L::Firewall,
            &[(587, L::None), (465, L::Firewall)],
        ),
        (
            "42_unprivileged_router_drop",
            &["router-drop-25"],
            &["-4", "-p", "25", "-p", "587"],
            L::IspBlock,
            &[(25, L::IspBlock), (587, L::None)],
        ),
        (
            "43_unprivileged_redirect",
            &["redirect4-587-local"],
            &["-4", "-p", "587"],
            L::LocalMta,
            &[(587, L::LocalMta)],
        ),
        // A local relay to the real server: its banner and certificate are the server's; only the other end of
        // the connection, in this host's own socket table, gives it away.
        (
            "44_unprivileged_local_relay",
            &["redirect4-587-relay"],
            &["-4", "-p", "587"],
            L::LocalMta,
            &[(587, L::LocalMta)],
        ),
    ] {
        v.push(Scenario {
            unprivileged: true,
            ..s(name, faults, MAIL, args, false, verdict, ports)
        });
    }
    // A transparent proxy on the first router relays 25 to the real server: a TTL-1 SYN to 25 gets a SYN-ACK
    // while one to 587 gets "time exceeded". The session itself works (warning).
    v.push(s(
        "45_router_proxy_25",
        &["router-proxy-25"],
        MAIL,
        &["-4", "-p", "25", "-p", "587"],
        true,
        L::IspBlock,
        &[(25, L::None), (587, L::None)],
    ));
    v.extend(path_scenarios());
    v.extend(manager_scenarios());
    v.extend(envelope_scenarios());
    v.extend(env_file_scenarios());
    for sc in &mut v {
        sc.fix = FIXED_BY_THEIR_COMMANDS.contains(&sc.name);
        sc.codes = CODES
            .iter()
            .find(|(name, _)| *name == sc.name)
            .map_or(&[], |(_, codes)| *codes);
    }
    v
}

/// Router2's addresses as the client sees them: the source of its ICMP errors (tests/lab/lib.sh R2_T4, R2_T6).
const ROUTER2_4: &str = "192.0.2.2";
const ROUTER2_6: &str = "2001:db8:3::2";

/// The server two routers away (tests/lab/README.md, Topology): blocks at the second hop, random loss at either
/// router and a slow greeting, each with the verdict it must have. Loss and slow greetings run with the default
/// `--timeout` (10 s), as the issue states them.
///
/// Two scenarios the TTL ladders decide (three TTL-limited SYNs and no control port got both wrong):
/// - `156_router1_reset_25`: a TCP reset forged by router1 is not the server's: a SYN with TTL 2 is answered
///   although the server is three hops away, which only a hop on the way can do (isp_reject, not port_closed).
/// - `157_mute_router1_drop_25`: router1 sends no "time exceeded" and drops port 25: a silent first hop is
///   "unknown", never "never left this host", while the control port's ladder reaches the server (isp_drop).
fn path_scenarios() -> Vec<Scenario> {
    let isp25: &[(u16, Layer)] = &[(25, L::IspBlock), (465, L::None), (587, L::None)];
    let isp587: &[(u16, Layer)] = &[(587, L::IspBlock), (465, L::None)];
    let p587_465: &[&str] = &["-p", "587", "-p", "465"];
    let mut v = Vec::new();
    // Blocks at the second hop; the deciding finding must name router2's address.
    for (name, faults, args, ports, mentions) in [
        (
            "140_router2_drop_25",
            &["router2-drop-25"][..],
            &[][..],
            isp25,
            &[ROUTER2_4][..],
        ),
        (
            "141_router2_reject_25",
            &["router2-reject-25"],
            &["-4"],
            isp25,
            &[ROUTER2_4],
        ),
        (
            "142_router2_reject_25_v6",
            &["router2-reject-25"],
            &["-6"],
            isp25,
            &[ROUTER2_6],
        ),
        (
            "143_router2_prohibit_587",
            &["router2-prohibit-587"],
            p587_465,
            isp587,
            &[ROUTER2_4, ROUTER2_6],
        ),
    ] {
        v.push(Scenario {
            mentions,
            ..s(name, faults, MAIL, args, false, L::IspBlock, ports)
        });
    }
    v.push(Scenario {
        unprivileged: true,
        ..s(
            "144_unprivileged_router2_drop_587",
            &["router2-drop-587"],
            MAIL,
            &["-4", "-p", "587", "-p", "465"],
            false,
            L::IspBlock,
            isp587,
        )
    });
    // Random loss and slow greetings, with the default timeout; loss runs more than once.
    let c587: &[(u16, Layer)] = &[(25, L::None), (465, L::None), (587, L::Firewall)];
    let auth: &[&str] = &["-p", "587", "-p", "465", "--user", "app@lab.example.com"];
    for (name, faults, args, verdict, ports, runs) in [
        (
            "145_loss_5_router2_healthy",
            &["router2-loss-5"][..],
            &[][..],
            L::None,
            ALL_NONE,
            3,
        ),
        (
            "146_loss_5_router1_healthy",
            &["router-loss-5"],
            &[],
            L::None,
            ALL_NONE,
            3,
        ),
        (
            "147_loss_5_router2_router1_drop_25",
            &["router-drop-25", "router2-loss-5"],
            &[],
            L::IspBlock,
            isp25,
            2,
        ),
        (
            "148_loss_5_router1_router2_drop_25",
            &["router2-drop-25", "router-loss-5"],
            &[],
            L::IspBlock,
            isp25,
            2,
        ),
        (
            "149_loss_5_router1_router2_reject_25",
            &["router2-reject-25", "router-loss-5"],
            &["-4"],
            L::IspBlock,
            isp25,
            3,
        ),
        (
            "150_loss_5_router2_client_drop_587",
            &["client-drop-587", "router2-loss-5"],
            &["-4"],
            L::Firewall,
            c587,
            2,
        ),
        (
            "151_slow_greeting_2",
            &["slow-greeting-2"],
            &[],
            L::None,
            ALL_NONE,
            1,
        ),
        (
            "152_slow_greeting_3_auth",
            &["slow-greeting-3"],
            auth,
            L::None,
            &[(587, L::None), (465, L::None)],
            1,
        ),
        (
            "153_slow_greeting_3_router2_loss_5",
            &["slow-greeting-3", "router2-loss-5"],
            &[],
            L::None,
            ALL_NONE,
            1,
        ),
    ] {
        let ok = verdict == L::None;
        v.push(Scenario {
            timeout: "10",
            runs,
            password: if args == auth {
                Password::Right
            } else {
                Password::None
            },
            ..s(name, faults, MAIL, args, ok, verdict, ports)
        });
    }
    // Routers that never answer TTL expiry, and a reset forged by router1 (see above).
    v.extend([
        s(
            "154_mute_router2_drop_25",
            &["router2-no-time-exceeded", "router2-drop-25"],
            MAIL,
            &["-4"],
            false,
            L::IspBlock,
            isp25,
        ),
        s(
            "155_mute_routers_healthy",
            &["router-no-time-exceeded", "router2-no-time-exceeded"],
            MAIL,
            &[],
            true,
            L::None,
            ALL_NONE,
        ),
        s(
            "156_router1_reset_25",
            &["router-reset-25"],
            MAIL,
            &["-4"],
            false,
            L::IspBlock,
            isp25,
        ),
        s(
            "157_mute_router1_drop_25",
            &["router-no-time-exceeded", "router-drop-25"],
            MAIL,
            &["-4"],
            false,
            L::IspBlock,
            isp25,
        ),
    ]);
    v
}

/// Each firewall manager's own rule layout (tests/lab/layouts, real ufw): the manager named, the rule walked to,
/// the fix in the manager's syntax; owner rules seen as root, as `--as-user nobody` and without root.
fn manager_scenarios() -> Vec<Scenario> {
    use Manager as M;
    let m = |sc: Scenario, managers: &'static [Manager], command: Option<&'static str>| Scenario {
        managers: Some(managers),
        command,
        ..sc
    };
    let as_nobody = |sc: Scenario| Scenario {
        unprivileged: true,
        ..sc
    };
    let p587: &[(u16, Layer)] = &[(587, L::Firewall)];
    vec![
        m(
            s("50_ufw_deny_out_587", &["ufw-deny-out-587"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Ufw],
            Some("ufw allow out 587/tcp"),
        ),
        m(
            s("51_ufw_reject_out_465", &["ufw-reject-out-465"], MAIL, &["-p", "465"], false, L::Firewall, &[(465, L::Firewall)]),
            &[M::Ufw],
            Some("ufw allow out 465/tcp"),
        ),
        m(
            s("52_ufw_default_deny_out", &["ufw-default-deny-out"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Ufw],
            Some("ufw allow out 587/tcp"),
        ),
        m(
            s("53_firewalld_policy_reject_587", &["firewalld-policy-reject-587"], MAIL, &["-p", "587", "-p", "465"], false, L::Firewall, &[(587, L::Firewall), (465, L::None)]),
            &[M::Firewalld],
            Some("firewall-cmd --permanent --policy no-smtp-out --add-rich-rule='rule priority=\"-100\" port port=\"587\" protocol=\"tcp\" accept'"),
        ),
        m(
            s("54_firewalld_direct_reject_587", &["firewalld-direct-reject-587"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Firewalld],
            Some("firewall-cmd --permanent --direct --remove-rule ipv4 filter OUTPUT 0 -p tcp --dport 587 -j REJECT"),
        ),
        m(
            s("55_firewalld_iptables_direct_reject_587", &["firewalld-iptables-direct-reject-587"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Firewalld],
            Some("firewall-cmd --permanent --direct --remove-rule ipv4 filter OUTPUT 0 -p tcp --dport 587 -j REJECT"),
        ),
        // Root is exempt from SMTP_BLOCK (and SMTPOUTPUT accepts its 465 before TCP_OUT is looked at).
        m(
            s("56_csf_smtp_block_root", &["csf-smtp-block"], MAIL, &[], true, L::Firewall, ALL_NONE),
            &[M::Csf],
            None,
        ),
        m(
            s("57_csf_smtp_block_as_nobody", &["csf-smtp-block"], MAIL, &["--as-user", "nobody"], false, L::Firewall, &[(25, L::Firewall), (465, L::Firewall), (587, L::Firewall)]),
            &[M::Csf],
            Some("sed -i 's/^SMTP_ALLOWUSER = \"mail\"/SMTP_ALLOWUSER = \"mail,nobody\"/' /etc/csf/csf.conf"),
        ),
        as_nobody(m(
            s("58_csf_smtp_block_unprivileged", &["csf-smtp-block"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Csf],
            None,
        )),
        m(
            s("59_csf_tcp_out_587_missing", &["csf-tcp-out-587-missing"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[M::Csf],
            Some("sed -i 's/^TCP_OUT = \"20,21,22,25,37,43,53,80,110,113,443,465,853,873,993,995,2086,2087,2089,2703\"/TCP_OUT = \"20,21,22,25,37,43,53,80,110,113,443,465,853,873,993,995,2086,2087,2089,2703,587\"/' /etc/csf/csf.conf"),
        ),
        // The issue's defect: root's greeting comes from the real server; the rules exempt root, so must the verdict.
        m(
            s("60_cpanel_restrictions_root", &["cpanel-smtp-restrictions"], MAIL, &["-4"], true, L::LocalMta, ALL_NONE),
            &[M::Cpanel],
            None,
        ),
        m(
            s("61_cpanel_restrictions_as_nobody", &["cpanel-smtp-restrictions"], MAIL, &["-4", "--as-user", "nobody"], false, L::LocalMta, &[(25, L::LocalMta), (465, L::LocalMta), (587, L::LocalMta)]),
            &[M::Cpanel],
            Some("/scripts/smtpmailgidonly off"),
        ),
        as_nobody(m(
            s("62_cpanel_restrictions_unprivileged", &["cpanel-smtp-restrictions"], MAIL, &["-4", "-p", "587"], false, L::LocalMta, &[(587, L::LocalMta)]),
            &[M::Cpanel],
            None,
        )),
        m(
            s("63_hestia_and_a_plain_drop", &["hestia-input-only", "client-drop-587"], MAIL, &["-p", "587", "-p", "465"], false, L::Firewall, &[(587, L::Firewall), (465, L::None)]),
            &[M::Hestia, M::Iptables],
            Some("iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT"),
        ),
        m(
            s("64_docker_chains_harmless", &["docker-chains"], MAIL, &["-p", "587"], true, L::None, &[(587, L::None)]),
            &[M::Docker],
            None,
        ),
        m(
            s("65_owner_reject_root", &["owner-reject-587-65534"], MAIL, &["-p", "587"], true, L::Firewall, &[(587, L::None)]),
            &[M::Iptables],
            None,
        ),
        m(
            s("66_owner_reject_as_nobody", &["owner-reject-587-65534"], MAIL, &["-p", "587", "--as-user", "nobody"], false, L::Firewall, p587),
            &[M::Iptables],
            Some("iptables -I OUTPUT -p tcp --dport 587 -j ACCEPT"),
        ),
        as_nobody(m(
            s("67_owner_reject_unprivileged", &["owner-reject-587-65534"], MAIL, &["-p", "587"], false, L::Firewall, p587),
            &[],
            None,
        )),
    ]
}

/// The envelope after AUTH, against the lab's sender-login map (reject_known_sender_login_mismatch).
fn envelope_scenarios() -> Vec<Scenario> {
    let p587: &'static [(u16, Layer)] = &[(587, L::None)];
    let login = |sc: Scenario| Scenario {
        password: Password::Right,
        ..sc
    };
    vec![
        login(s(
            "70_sender_allowed",
            &[],
            MAIL,
            &[
                "-p",
                "587",
                "--user",
                "app@lab.example.com",
                "--from",
                "app@lab.example.com",
                "--to",
                "friend@example.net",
            ],
            true,
            L::None,
            p587,
        )),
        login(s(
            "71_sender_not_owned",
            &[],
            MAIL,
            &[
                "-4",
                "-p",
                "587",
                "-p",
                "465",
                "--user",
                "app@lab.example.com",
                "--from",
                "ceo@lab.example.com",
            ],
            false,
            L::Sender,
            &[(587, L::Sender), (465, L::Sender)],
        )),
        login(s(
            "72_send_test_message",
            &[],
            MAIL,
            &[
                "-p",
                "587",
                "--user",
                "app@lab.example.com",
                "--from",
                "app@lab.example.com",
                "--to",
                "hold@lab.example.com",
                "--send",
            ],
            true,
            L::None,
            p587,
        )),
        s(
            "73_relay_denied_without_login",
            &[],
            MAIL,
            &[
                "-4",
                "-p",
                "25",
                "--from",
                "someone@example.org",
                "--to",
                "friend@example.net",
            ],
            false,
            L::Sender,
            &[(25, L::Sender)],
        ),
    ]
}

const LARAVEL_ENV: &str = "APP_NAME=Shop\nMAIL_MAILER=smtp\nMAIL_HOST=mail.lab.example.com\nMAIL_PORT=587\nMAIL_USERNAME=app@lab.example.com\nMAIL_PASSWORD=\"@PASSWORD@\"\nMAIL_ENCRYPTION=tls\nMAIL_FROM_ADDRESS=\"app@lab.example.com\"\nMAIL_FROM_NAME=\"${APP_NAME}\"\n";
const LARAVEL_KEYS: &[(&str, usize)] = &[
    ("MAIL_MAILER", 2),
    ("MAIL_HOST", 3),
    ("MAIL_PORT", 4),
    ("MAIL_USERNAME", 5),
    ("MAIL_PASSWORD", 6),
    ("MAIL_ENCRYPTION", 7),
    ("MAIL_FROM_ADDRESS", 8),
];

/// The app's own settings (`--env-file`), one file per framework: well-formed ones log in; broken ones show the
/// contradiction found in the file and the verdict of the probe that follows it.
fn env_file_scenarios() -> Vec<Scenario> {
    let e = |name: &'static str,
             text: &'static str,
             keys: &'static [(&'static str, usize)],
             ok: bool,
             verdict: Layer,
             ports: &'static [(u16, Layer)]| Scenario {
        env_file: Some(text),
        keys,
        ..s(name, &[], "", &[], ok, verdict, ports)
    };
    let p587: &[(u16, Layer)] = &[(587, L::None)];
    let p465: &[(u16, Layer)] = &[(465, L::None)];
    vec![
        e("80_env_laravel_starttls", LARAVEL_ENV, LARAVEL_KEYS, true, L::None, p587),
        e(
            "81_env_symfony_dsn_implicit",
            "MAILER_DSN=smtp://app%40lab.example.com:@PASSWORD@@mail.lab.example.com:465\n",
            &[("MAILER_DSN", 1)],
            true,
            L::None,
            p465,
        ),
        e(
            "82_env_django_ssl",
            "# Django settings read with django-environ\nEMAIL_HOST=mail.lab.example.com\nEMAIL_PORT=465\nEMAIL_USE_SSL=True\nEMAIL_HOST_USER=app@lab.example.com\nEMAIL_HOST_PASSWORD='@PASSWORD@'\nDEFAULT_FROM_EMAIL=Shop <app@lab.example.com>\n",
            &[("EMAIL_HOST", 2), ("EMAIL_PORT", 3), ("EMAIL_USE_SSL", 4), ("EMAIL_HOST_USER", 5), ("EMAIL_HOST_PASSWORD", 6), ("DEFAULT_FROM_EMAIL", 7)],
            true,
            L::None,
            p465,
        ),
        e(
            "83_env_node_smtp_starttls",
            "export SMTP_HOST=mail.lab.example.com\nexport SMTP_PORT=587\nexport SMTP_SECURE=false\nexport SMTP_USER=app@lab.example.com\nexport SMTP_PASS=@PASSWORD@ # app password\nexport SMTP_FROM=app@lab.example.com\n",
            &[("SMTP_HOST", 1), ("SMTP_PORT", 2), ("SMTP_SECURE", 3), ("SMTP_USER", 4), ("SMTP_PASS", 5), ("SMTP_FROM", 6)],
            true,
            L::None,
            p587,
        ),
        e(
            "84_env_node_email_names",
            "EMAIL_HOST=mail.lab.example.com\r\nEMAIL_PORT=465\r\nEMAIL_USER=app@lab.example.com\r\nEMAIL_APP_PASSWORD=\"@PASSWORD@\"\r\n",
            &[("EMAIL_HOST", 1), ("EMAIL_PORT", 2), ("EMAIL_USER", 3), ("EMAIL_APP_PASSWORD", 4)],
            true,
            L::None,
            p465,
        ),
        Scenario {
            verdict_code: Some(C::WrongTlsModeStarttls),
            ..e(
                "85_env_node_secure_true_on_587",
                "SMTP_HOST=mail.lab.example.com\nSMTP_PORT=587\nSMTP_SECURE=true\nSMTP_USER=app@lab.example.com\nSMTP_PASS=@PASSWORD@\n",
                &[("SMTP_HOST", 1), ("SMTP_PORT", 2), ("SMTP_SECURE", 3), ("SMTP_USER", 4), ("SMTP_PASS", 5)],
                false,
                L::Tls,
                &[(587, L::Tls)],
            )
        },
        Scenario {
            verdict_code: Some(C::WrongTlsModeImplicit),
            ..e(
                "86_env_django_starttls_on_465",
                "EMAIL_HOST=mail.lab.example.com\nEMAIL_PORT=465\nEMAIL_USE_TLS=True\nEMAIL_HOST_USER=app@lab.example.com\nEMAIL_HOST_PASSWORD=@PASSWORD@\n",
                &[("EMAIL_HOST", 1), ("EMAIL_PORT", 2), ("EMAIL_USE_TLS", 3), ("EMAIL_HOST_USER", 4), ("EMAIL_HOST_PASSWORD", 5)],
                false,
                L::Tls,
                &[(465, L::Tls)],
            )
        },
        Scenario {
            verdict_code: Some(C::WrongTlsModeStarttls),
            ..e(
                "87_env_symfony_smtps_on_587",
                "MAILER_DSN=smtps://app%40lab.example.com:@PASSWORD@@mail.lab.example.com:587\n",
                &[("MAILER_DSN", 1)],
                false,
                L::Tls,
                &[(587, L::Tls)],
            )
        },
        // Quotes inside quotes: Django looks up "'mail.lab.example.com'"; the name meant is probed and logs in.
        e(
            "88_env_django_quoted_host",
            "EMAIL_HOST=\"'mail.lab.example.com'\"\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\nEMAIL_HOST_USER=app@lab.example.com\nEMAIL_HOST_PASSWORD=@PASSWORD@\n",
            &[("EMAIL_HOST", 1), ("EMAIL_PORT", 2), ("EMAIL_USE_TLS", 3), ("EMAIL_HOST_USER", 4), ("EMAIL_HOST_PASSWORD", 5)],
            false,
            L::Dns,
            p587,
        ),
        e(
            "89_env_laravel_wrong_password",
            "MAIL_MAILER=smtp\nMAIL_HOST=mail.lab.example.com\nMAIL_PORT=587\nMAIL_USERNAME=app@lab.example.com\nMAIL_PASSWORD=Wr0ng-password-for-the-lab\n",
            &[("MAIL_MAILER", 1), ("MAIL_HOST", 2), ("MAIL_PORT", 3), ("MAIL_USERNAME", 4), ("MAIL_PASSWORD", 5)],
            false,
            L::Credentials,
            &[(587, L::Credentials)],
        ),
        e(
            "90_env_django_port_not_a_number",
            "EMAIL_HOST=mail.lab.example.com\nEMAIL_PORT=587a\nEMAIL_USE_TLS=True\nEMAIL_HOST_USER=app@lab.example.com\nEMAIL_HOST_PASSWORD=@PASSWORD@\n",
            &[("EMAIL_HOST", 1), ("EMAIL_PORT", 2), ("EMAIL_USE_TLS", 3), ("EMAIL_HOST_USER", 4), ("EMAIL_HOST_PASSWORD", 5)],
            false,
            L::Network,
            p587,
        ),
        // No MAIL_HOST, no MAIL_PORT: Laravel 11+ sends to 127.0.0.1:2525, where nothing listens.
        e(
            "91_env_laravel_defaults_to_this_host",
            "MAIL_MAILER=smtp\nMAIL_FROM_ADDRESS=app@lab.example.com\n",
            &[("MAIL_MAILER", 1), ("MAIL_FROM_ADDRESS", 2)],
            false,
            L::LocalMta,
            &[(2525, L::Server)],
        ),
        e(
            "92_env_laravel_log_mailer",
            "MAIL_MAILER=log\nMAIL_HOST=mail.lab.example.com\nMAIL_PORT=587\nMAIL_USERNAME=app@lab.example.com\nMAIL_PASSWORD=@PASSWORD@\n",
            &[("MAIL_MAILER", 1), ("MAIL_HOST", 2), ("MAIL_PORT", 3), ("MAIL_USERNAME", 4), ("MAIL_PASSWORD", 5)],
            false,
            L::LocalMta,
            p587,
        ),
        e(
            "93_env_node_user_without_password",
            "SMTP_HOST=mail.lab.example.com\nSMTP_PORT=587\nSMTP_USER=app@lab.example.com\nSMTP_PASS=\n",
            &[("SMTP_HOST", 1), ("SMTP_PORT", 2), ("SMTP_USER", 3), ("SMTP_PASS", 4)],
            false,
            L::Credentials,
            p587,
        ),
        e(
            "94_env_django_tls_and_ssl",
            "EMAIL_HOST=mail.lab.example.com\nEMAIL_PORT=587\nEMAIL_USE_TLS=True\nEMAIL_USE_SSL=True\nEMAIL_HOST_USER=app@lab.example.com\nEMAIL_HOST_PASSWORD=@PASSWORD@\n",
            &[("EMAIL_HOST", 1), ("EMAIL_PORT", 2), ("EMAIL_USE_TLS", 3), ("EMAIL_USE_SSL", 4), ("EMAIL_HOST_USER", 5), ("EMAIL_HOST_PASSWORD", 6)],
            false,
            L::Tls,
            p587,
        ),
    ]
}

/// --send: the test message must be in the server's hold queue under the id the report gives; it is removed after.
fn find_sent_message(report: &JsonReport) -> Result<String, String> {
    let ids: Vec<String> = report
        .ports
        .iter()
        .flat_map(|p| &p.attempts)
        .filter_map(|a| a.envelope.as_ref()?.message.as_ref()?.queue_id.clone())
        .collect();
    let [id] = ids.as_slice() else {
        return Err(format!(
            "--send must queue exactly one message, the report gives {ids:?}"
        ));
    };
    let dir = format!("{}/postfix/server/etc", state_dir());
    let ns = format!("{}-server", prefix());
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns, "postqueue", "-c", &dir, "-j"]);
    let (_, stdout, stderr) = run_bounded(c, Duration::from_secs(20))?;
    let held = stdout.lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|m| {
            m["queue_id"] == id.as_str()
                && m["queue_name"] == "hold"
                && m["recipients"][0]["address"] == "hold@lab.example.com"
        })
    });
    let mut rm = Command::new("ip");
    rm.args(["netns", "exec", &ns, "postsuper", "-c", &dir, "-d", id]);
    let _ = run_bounded(rm, Duration::from_secs(20));
    if held {
        Ok(format!("message {id} found in the server's hold queue"))
    } else {
        Err(format!(
            "message {id} is not in the server's hold queue: {stdout}{stderr}"
        ))
    }
}

/// This host's own firewall faults: the lab runs the commands the report prints and checks again.
const FIXED_BY_THEIR_COMMANDS: &[&str] = &[
    "50_ufw_deny_out_587",
    "51_ufw_reject_out_465",
    "52_ufw_default_deny_out",
    "63_hestia_and_a_plain_drop",
    "66_owner_reject_as_nobody",
    "03_client_drop_587",
    "04_client_reject_465_v4",
    "06_redirect_587_local_mta",
    "15_client_nft_drop_587",
    "20_client_reset_465",
    "21_client_prohibit_587",
    "25_redirect_all_families_local",
    "26_dnat_587_local",
];

use Code as C;

/// Scenarios whose --send message the lab looks for on the server.
const SENDS: &[&str] = &["72_send_test_message"];

/// The code of every finding of each scenario, sorted.
const CODES: &[(&str, &[Code])] = &[
    ("03_client_drop_587", &[C::FirewallDrop]),
    ("04_client_reject_465_v4", &[C::FirewallReject]),
    ("05_router_drop_25", &[C::IspDrop]),
    ("06_redirect_587_local_mta", &[C::LocalRedirect]),
    ("07_wrong_password_587", &[C::AuthRejected]),
    ("71_sender_not_owned", &[C::SenderRefused, C::SenderRefused]),
    ("73_relay_denied_without_login", &[C::RelayDenied]),
    ("08_name_does_not_exist", &[C::Nxdomain]),
    ("09_resolver_silent", &[C::ResolverDead]),
    ("10_nothing_listening_587", &[C::PortClosed]),
    ("11_self_signed", &[C::CertSelfSigned, C::CertSelfSigned]),
    ("12_no_starttls_587", &[C::StarttlsNotOffered]),
    ("13_ipv6_dropped_at_router", &[C::Ipv6Broken]),
    ("14_greeting_421", &[C::ServerBusy, C::ServerBusy]),
    ("15_client_nft_drop_587", &[C::FirewallDrop]),
    ("20_client_reset_465", &[C::FirewallReject]),
    ("21_client_prohibit_587", &[C::FirewallReject]),
    ("22_router_reject_25", &[C::IspReject]),
    ("23_router_prohibit_25", &[C::IspReject]),
    ("24_server_reject_587", &[C::ServerReject]),
    ("25_redirect_all_families_local", &[C::LocalRedirect]),
    ("26_dnat_587_local", &[C::LocalRedirect]),
    ("27_expired_certificate", &[C::CertExpired]),
    ("28_name_mismatch", &[C::CertNameMismatch]),
    ("29_silent_server", &[C::GreetingSilent]),
    ("30_no_default_route", &[C::NoRoute]),
    ("31_resolver_refuses", &[C::ResolverNotServing]),
    ("32_no_ipv6_route", &[C::Ipv6Broken]),
    ("33_dead_ipv6_address", &[C::Ipv6Broken]),
    ("34_router_unreachable", &[C::HostUnreachable]),
    ("35_plaintext_on_implicit_port", &[C::WrongTlsModeStarttls]),
    ("36_tls_first_on_starttls_mode", &[C::WrongTlsModeImplicit]),
    ("38_mx_domain", &[C::MailDomainOnly]),
    (
        "39_mx_host_missing",
        &[C::MailDomainOnly, C::MxHostUnresolved],
    ),
    ("40_unprivileged_client_drop", &[C::FirewallDrop]),
    ("41_unprivileged_client_reset", &[C::FirewallReject]),
    ("42_unprivileged_router_drop", &[C::IspDrop]),
    ("43_unprivileged_redirect", &[C::LocalRedirect]),
    ("44_unprivileged_local_relay", &[C::LocalRedirect]),
    ("45_router_proxy_25", &[C::IspProxy]),
    (
        "50_greeting_554_blocklisted",
        &[C::GreetingRejected, C::GreetingRejected],
    ),
    ("51_ssh_banner_on_587", &[C::NotSmtp]),
    ("52_dns_servfail", &[C::DnsServfail]),
    ("53_no_resolver_configured", &[C::NoResolver]),
    ("54_dns_blocked_here", &[C::ResolverBlockedHere]),
    ("55_resolver_port_closed", &[C::ResolverNotServing]),
    ("56_resolver_dead", &[C::ResolverDead]),
    ("50_ufw_deny_out_587", &[C::FirewallDrop]),
    ("51_ufw_reject_out_465", &[C::FirewallReject]),
    ("52_ufw_default_deny_out", &[C::FirewallDrop]),
    ("53_firewalld_policy_reject_587", &[C::FirewallReject]),
    ("54_firewalld_direct_reject_587", &[C::FirewallReject]),
    (
        "55_firewalld_iptables_direct_reject_587",
        &[C::FirewallReject],
    ),
    (
        "56_csf_smtp_block_root",
        &[
            C::OwnerRuleBlocksOthers,
            C::OwnerRuleBlocksOthers,
            C::OwnerRuleBlocksOthers,
        ],
    ),
    (
        "57_csf_smtp_block_as_nobody",
        &[C::FirewallReject, C::FirewallReject, C::FirewallReject],
    ),
    ("58_csf_smtp_block_unprivileged", &[C::FirewallReject]),
    ("59_csf_tcp_out_587_missing", &[C::FirewallReject]),
    (
        "60_cpanel_restrictions_root",
        &[
            C::OwnerRuleRedirectsOthers,
            C::OwnerRuleRedirectsOthers,
            C::OwnerRuleRedirectsOthers,
        ],
    ),
    (
        "61_cpanel_restrictions_as_nobody",
        &[C::LocalRedirect, C::LocalRedirect, C::LocalRedirect],
    ),
    ("62_cpanel_restrictions_unprivileged", &[C::LocalRedirect]),
    ("63_hestia_and_a_plain_drop", &[C::FirewallDrop]),
    ("65_owner_reject_root", &[C::OwnerRuleBlocksOthers]),
    ("66_owner_reject_as_nobody", &[C::FirewallReject]),
    ("67_owner_reject_unprivileged", &[C::FirewallReject]),
    (
        "85_env_node_secure_true_on_587",
        &[C::WrongTlsModeStarttls, C::EnvImplicitTlsOnStarttlsPort],
    ),
    (
        "86_env_django_starttls_on_465",
        &[C::WrongTlsModeImplicit, C::EnvStarttlsOnImplicitPort],
    ),
    (
        "87_env_symfony_smtps_on_587",
        &[C::WrongTlsModeStarttls, C::EnvImplicitTlsOnStarttlsPort],
    ),
    ("88_env_django_quoted_host", &[C::EnvHostMalformed]),
    ("89_env_laravel_wrong_password", &[C::AuthRejected]),
    ("90_env_django_port_not_a_number", &[C::EnvPortInvalid]),
    (
        "91_env_laravel_defaults_to_this_host",
        &[C::EnvHostIsThisHost, C::PortClosed],
    ),
    ("92_env_laravel_log_mailer", &[C::EnvMailerLocal]),
    (
        "93_env_node_user_without_password",
        &[C::EnvLoginIncomplete],
    ),
    ("94_env_django_tls_and_ssl", &[C::EnvTlsAndSsl]),
    ("140_router2_drop_25", &[C::IspDrop]),
    ("141_router2_reject_25", &[C::IspReject]),
    ("142_router2_reject_25_v6", &[C::IspReject]),
    ("143_router2_prohibit_587", &[C::IspReject]),
    ("144_unprivileged_router2_drop_587", &[C::IspDrop]),
    ("147_loss_5_router2_router1_drop_25", &[C::IspDrop]),
    ("148_loss_5_router1_router2_drop_25", &[C::IspDrop]),
    ("149_loss_5_router1_router2_reject_25", &[C::IspReject]),
    ("150_loss_5_router2_client_drop_587", &[C::FirewallDrop]),
    ("154_mute_router2_drop_25", &[C::IspDrop]),
    ("156_router1_reset_25", &[C::IspReject]),
    ("157_mute_router1_drop_25", &[C::IspDrop]),
];

/// A scenario of `smtp-doctor mta` against the lab's relay Postfix (tests/lab/mta.sh): a configuration, mail submitted
/// with that instance's sendmail until it left the queue or was deferred, then the report.
struct MtaScenario {
    name: &'static str,
    faults: &'static [&'static str],
    /// The relay instance's configuration (mta.sh up CONFIG).
    config: &'static str,
    /// Messages submitted before the run.
    send: usize,
    /// Wait until that many are deferred (else until the queue is empty: relayed).
    deferred: bool,
    args: &'static [&'static str],
    unprivileged: bool,
    ok: bool,
    verdict: Layer,
    /// The MTA's own findings (set-up and queue), sorted.
    codes: &'static [Code],
    /// The relay probe's findings, sorted.
    probe_codes: &'static [Code],
    /// A fix command the report must print (a substring of one of its commands).
    command: Option<&'static str>,
    /// Run the printed fix (the lab's login in place of USER:PASSWORD) and wait for the queue to empty.
    apply_fix: bool,
}

const fn mta(name: &'static str, config: &'static str, deferred: bool) -> MtaScenario {
    MtaScenario {
        name,
        faults: &[],
        config,
        send: 1,
        deferred,
        args: &[],
        unprivileged: false,
        ok: true,
        verdict: Layer::None,
        codes: &[],
        probe_codes: &[],
        command: None,
        apply_fix: false,
    }
}

fn mta_scenarios() -> Vec<MtaScenario> {
    vec![
        mta("100_mta_relay_works", "relay-587", false),
        MtaScenario {
            send: 2,
            ok: false,
            verdict: L::Credentials,
            codes: &[C::QueueSaslFailed],
            probe_codes: &[C::AuthRejected],
            command: Some("postmap -c "),
            ..mta(
                "101_mta_wrong_password_in_the_map",
                "relay-587-wrong-password",
                true,
            )
        },
        MtaScenario {
            faults: &["router-drop-25"],
            ok: false,
            verdict: L::IspBlock,
            codes: &[C::QueuePort25Blocked],
            probe_codes: &[C::IspDrop],
            command: Some("'relayhost = [mail.lab.example.com]:587'"),
            apply_fix: true,
            ..mta("102_mta_relay_on_25_dropped", "relay-25", true)
        },
        MtaScenario {
            faults: &["router-drop-25"],
            args: &["--to", "someone@lab.example.com"],
            ok: false,
            verdict: L::IspBlock,
            codes: &[C::MtaDirectDelivery, C::QueuePort25Blocked],
            probe_codes: &[C::MailDomainOnly, C::IspDrop],
            command: Some("'relayhost = [smtp.provider.example]:587'"),
            ..mta("103_mta_direct_delivery_port_25_blocked", "direct", true)
        },
        MtaScenario {
            ok: false,
            verdict: L::Dns,
            codes: &[C::QueueNameNotFound],
            probe_codes: &[C::Nxdomain],
            ..mta("104_mta_relayhost_does_not_resolve", "relay-nxdomain", true)
        },
        MtaScenario {
            ok: false,
            verdict: L::Credentials,
            codes: &[
                C::MtaSaslMapReadable,
                C::MtaSaslMapStale,
                C::QueueLocalError,
            ],
            command: Some("postmap -c "),
            apply_fix: true,
            ..mta(
                "105_mta_map_never_postmapped",
                "relay-587-unbuilt-map",
                true,
            )
        },
        // Without root the map is not read: the login is not tested, so the deferred logins stay the verdict.
        MtaScenario {
            unprivileged: true,
            ok: false,
            verdict: L::Credentials,
            codes: &[C::QueueSaslFailed],
            ..mta("106_mta_unprivileged", "relay-587-wrong-password", true)
        },
        // The relay takes the MTA's login and its mail, but not the app's From address.
        MtaScenario {
            args: &["--from", "ceo@lab.example.com"],
            ok: false,
            verdict: L::Sender,
            probe_codes: &[C::SenderRefused],
            ..mta("107_mta_relay_refuses_the_apps_sender", "relay-587", false)
        },
    ]
}

/// --format nagios with its real consumers: Nagios 4 runs it, check_smtp beside it (tests/lab/nagios.rs).
type Run = fn() -> Result<String, String>;
fn nagios_scenarios() -> Vec<(&'static str, Run)> {
    vec![
        (
            "130_nagios4_runs_the_plugin",
            nagios::nagios4_runs_the_plugin,
        ),
        (
            "131_check_smtp_side_by_side",
            nagios::check_smtp_side_by_side,
        ),
    ]
}

/// The fleet scenario: one `check --targets` run over several of the lab's servers, each target's own verdict.
const FLEET_SCENARIO: &str = "110_fleet_many_lab_servers";

/// The variable holding the lab's password for the fleet scenario's first target; the last names one that is not set.
const FLEET_PASSWORD_ENV: &str = "SDLAB_FLEET_PASSWORD";

const FLEET_TARGETS: &str = r#"# smtp-doctor check --targets: several of the lab's servers in one run
[[target]]
name = "submission"
host = "mail.lab.example.com:587"
user = "app@lab.example.com"
password_env = "SDLAB_FLEET_PASSWORD"
from = "app@lab.example.com"

[[target]]
name = "relay"
host = "mail.lab.example.com"
ports = [25]

[[target]]
name = "notls"
host = "notls.lab.example.com:587"

[[target]]
name = "busy"
host = "busy.lab.example.com"
ports = [25, 587]

[[target]]
name = "silent"
host = "silent.lab.example.com:587"

[[target]]
name = "selfsigned"
host = "selfsigned.lab.example.com:465"

[[target]]
name = "blocked"
host = "blocked.lab.example.com:25"

[[target]]
name = "billing"
host = "mail.lab.example.com:465"
user = "billing@lab.example.com"
password_env = "SDLAB_FLEET_UNSET_PASSWORD"
"#;

/// (name, status, verdict layer, verdict code or the reason it was not probed) of each target, in the file's order.
const FLEET_WANT: &[(&str, TargetStatus, Layer, &str)] = &[
    ("submission", TargetStatus::Ok, L::None, "-"),
    ("relay", TargetStatus::Ok, L::None, "-"),
    (
        "notls",
        TargetStatus::Problem,
        L::Tls,
        "starttls_not_offered",
    ),
    ("busy", TargetStatus::Problem, L::Server, "server_busy"),
    (
        "silent",
        TargetStatus::Problem,
        L::Server,
        "greeting_silent",
    ),
    (
        "selfsigned",
        TargetStatus::Problem,
        L::Tls,
        "cert_self_signed",
    ),
    (
        "blocked",
        TargetStatus::Problem,
        L::Server,
        "greeting_rejected",
    ),
    ("billing", TargetStatus::Error, L::None, "password_unset"),
];

/// Runs the fleet scenario: one document, each target's verdict as the lab's server for it makes it.
fn run_fleet_scenario() -> Result<String, String> {
    run_script("fault.sh", &["clear"], Duration::from_secs(60))?;
    let path = write_env_file(FLEET_SCENARIO, FLEET_TARGETS)?;
    let password = lab_password()?;
    let ca = format!("{}/ca.pem", state_dir());
    let mut c = script("run-client.sh");
    c.arg(lab_binary())
        .arg("check")
        .arg("--targets")
        .arg(&path)
        .args(["--json", "--timeout", "2", "--ca-file", &ca])
        .env(FLEET_PASSWORD_ENV, &password)
        .env_remove("SDLAB_FLEET_UNSET_PASSWORD")
        .env_remove("SMTP_DOCTOR_PASSWORD");
    let start = Instant::now();
    let (code, stdout, stderr) = run_bounded(c, RUN_LIMIT)?;
    let wall = start.elapsed();
    if stdout.contains(&password) || stderr.contains(&password) {
        return Err("the password appears in the output".into());
    }
    let doc: JsonFleetReport = serde_json::from_str(&stdout).map_err(|e| {
        format!("stdout is not a fleet document ({e}); exit {code:?}\nstderr: {stderr}\nstdout: {stdout}")
    })?;
    let mut problems = Vec::new();
    if code != Some(1) || doc.ok {
        problems.push(format!("exit {code:?}, ok {} (want 1, false)", doc.ok));
    }
    let got: Vec<(String, TargetStatus, Layer, String)> = doc
        .targets
        .iter()
        .map(|t| {
            let (layer, code) = match (&t.report, &t.error) {
                (Some(r), _) => (
                    r.verdict.layer,
                    r.verdict.code.map_or("-", Code::name).to_string(),
                ),
                (None, Some(e)) => (L::None, e.code.clone()),
                (None, None) => (L::None, "?".into()),
            };
            (t.name.clone().unwrap_or_default(), t.status, layer, code)
        })
        .collect();
    let want: Vec<(String, TargetStatus, Layer, String)> = FLEET_WANT
        .iter()
        .map(|(n, s, l, c)| (n.to_string(), *s, *l, c.to_string()))
        .collect();
    for (g, w) in got.iter().zip(&want) {
        if g != w {
            problems.push(format!(
                "{}: got {:?} {} {} (want {:?} {} {})",
                w.0,
                g.1,
                g.2.name(),
                g.3,
                w.1,
                w.2.name(),
                w.3
            ));
        }
    }
    if got.len() != want.len() {
        problems.push(format!(
            "{} targets in the document (want {})",
            got.len(),
            want.len()
        ));
    }
    // The login of the first target came from its variable and was accepted on every address.
    let auth_ok = doc
        .targets
        .first()
        .and_then(|t| t.report.as_ref())
        .is_some_and(|r| {
            r.ports.iter().flat_map(|p| &p.attempts).all(|a| {
                a.auth.as_ref().map(|x| x.outcome)
                    == Some(smtp_doctor::report::AuthOutcome::Accepted)
            })
        });
    if !auth_ok {
        problems.push("the submission target's AUTH was not accepted on every address".into());
    }
    if problems.is_empty() {
        Ok(format!(
            "{} targets in {:.1}s: {} ok, {} problems, {} not probed",
            doc.targets.len(),
            wall.as_secs_f64(),
            doc.counts.ok,
            doc.counts.problem,
            doc.counts.error
        ))
    } else {
        Err(problems.join("\n"))
    }
}

fn relay_dir() -> String {
    format!("{}/postfix/relay/etc", state_dir())
}

/// Runs the MTA scenario and always stops its relay instance.
fn run_mta_scenario(sc: &MtaScenario) -> Result<String, String> {
    let result = mta_steps(sc);
    let stopped = run_script("mta.sh", &["down"], Duration::from_secs(60));
    match (result, stopped) {
        (Ok(what), Ok(())) => Ok(what),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(format!("the relay instance did not stop: {e}")),
    }
}

fn mta_steps(sc: &MtaScenario) -> Result<String, String> {
    run_script("fault.sh", &["clear"], Duration::from_secs(60))?;
    for f in sc.faults {
        run_script("fault.sh", &[f], Duration::from_secs(60))?;
    }
    run_script("mta.sh", &["up", sc.config], Duration::from_secs(60))?;
    let n = sc.send.to_string();
    run_script("mta.sh", &["send", &n], Duration::from_secs(30))?;
    if sc.deferred {
        run_script(
            "mta.sh",
            &["wait-deferred", &n, "30"],
            Duration::from_secs(60),
        )?;
    } else {
        run_script("mta.sh", &["wait-empty", "30"], Duration::from_secs(60))?;
    }
    let dir = relay_dir();
    let mut c = script("run-client.sh");
    c.arg(lab_binary())
        .args(["mta", "--postfix-config", &dir, "--json", "--timeout", "2"])
        .args(sc.args);
    if sc.unprivileged {
        c.env("SDLAB_RUN_AS", "nobody");
    }
    let start = Instant::now();
    let (code, stdout, stderr) = run_bounded(c, RUN_LIMIT)?;
    let wall = start.elapsed();
    for secret in [lab_password()?, "Wr0ng-password-in-the-map".to_string()] {
        if stdout.contains(&secret) || stderr.contains(&secret) {
            return Err("a password from the map appears in the output".into());
        }
    }
    let report: JsonMtaReport = serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "stdout is not an mta report ({e}); exit {code:?}\nstderr: {stderr}\nstdout: {stdout}"
        )
    })?;
    let mut problems = Vec::new();
    let want_code = if sc.ok { 0 } else { 1 };
    if report.ok != sc.ok || code != Some(want_code) {
        problems.push(format!(
            "ok {} exit {code:?} (want {} / {want_code})",
            report.ok, sc.ok
        ));
    }
    if report.verdict.layer != sc.verdict {
        problems.push(format!(
            "verdict {} (want {})",
            report.verdict.layer.name(),
            sc.verdict.name()
        ));
    }
    let mut own: Vec<Code> = report.findings.iter().map(|f| f.code).collect();
    own.sort();
    if own != sc.codes {
        problems.push(format!("codes {own:?} (want {:?})", sc.codes));
    }
    let probe: Vec<Code> = report.check.as_ref().map(codes_of).unwrap_or_default();
    if !sc.unprivileged && probe != sc.probe_codes {
        problems.push(format!("probe codes {probe:?} (want {:?})", sc.probe_codes));
    }
    if sc.deferred && report.mta.queue.deferred < sc.send {
        problems.push(format!(
            "{} deferred in the report (want {})",
            report.mta.queue.deferred, sc.send
        ));
    }
    let entry = report.mta.sasl.entry.state;
    if sc.unprivileged && entry != smtp_doctor::report::mta::EntryState::NotRoot {
        problems.push(format!("map entry {entry:?} without root (want not_root)"));
    }
    let commands: Vec<String> = report
        .findings
        .iter()
        .chain(report.check.iter().flat_map(|c| c.findings.iter()))
        .flat_map(|f| f.commands.clone())
        .collect();
    if let Some(want) = sc.command {
        if !commands.iter().any(|c| c.contains(want)) {
            problems.push(format!("no command contains {want:?}: {commands:?}"));
        }
    }
    if !problems.is_empty() {
        let findings: Vec<String> = report
            .findings
            .iter()
            .chain(report.check.iter().flat_map(|c| c.findings.iter()))
            .map(|f| {
                format!(
                    "  [{} {}] {} | {}",
                    f.layer.name(),
                    f.code.name(),
                    f.message,
                    f.evidence.join(" ; ")
                )
            })
            .collect();
        return Err(format!(
            "{}\n  summary: {}\n{}",
            problems.join(", "),
            report.verdict.summary,
            findings.join("\n")
        ));
    }
    let fixed = if sc.apply_fix {
        format!("; {}", apply_mta_fix(&report)?)
    } else {
        String::new()
    };
    Ok(passed(&report.verdict, wall, &fixed))
}

/// Runs the first MTA finding's fix with the lab's login in place of USER:PASSWORD (the fault stays), then waits for the
/// deferred mail to leave the queue through the new relay.
fn apply_mta_fix(report: &JsonMtaReport) -> Result<String, String> {
    let finding = report
        .findings
        .iter()
        .find(|f| !f.commands.is_empty())
        .ok_or("no MTA finding prints a fix")?;
    let login = format!("app@lab.example.com:{}", lab_password()?);
    for cmd in &finding.commands {
        let real = cmd.replace("USER:PASSWORD", &login);
        let mut c = script("run-client.sh");
        c.args(["bash", "-c", &real]);
        let (code, _, err) = run_bounded(c, Duration::from_secs(30))?;
        if code != Some(0) {
            return Err(format!("the printed command `{cmd}` failed: {err}"));
        }
    }
    run_script("mta.sh", &["wait-empty", "30"], Duration::from_secs(60))
        .map_err(|e| format!("after the fix the mail did not leave the queue: {e}"))?;
    Ok(format!(
        "fixed by {} commands; the queue emptied",
        finding.commands.len()
    ))
}

fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("lab")
}

fn script(name: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg(lab_dir().join(name))
        .env("SDLAB_PREFIX", prefix())
        .env("SDLAB_DIR", state_dir())
        .stdin(Stdio::null());
    c
}

/// Runs a lab script to completion; Err carries its output for the failure message.
fn run_script(name: &str, args: &[&str], limit: Duration) -> Result<(), String> {
    let mut c = script(name);
    c.args(args);
    let out = run_bounded(c, limit)?;
    if out.0 == Some(0) {
        Ok(())
    } else {
        Err(format!(
            "{name} {args:?} exited {:?}\n{}\n{}",
            out.0, out.1, out.2
        ))
    }
}

/// Where the binary under test is run from: a copy in the lab's state directory, so `nobody` can run it even
/// when the checkout sits below a directory only root may enter (a CI clone under /root).
fn lab_binary() -> PathBuf {
    Path::new(&state_dir()).join("smtp-doctor")
}

fn install_binary() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dest = lab_binary();
    std::fs::copy(env!("CARGO_BIN_EXE_smtp-doctor"), &dest)
        .map_err(|e| format!("cannot copy the binary into {}: {e}", state_dir()))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", dest.display()))
}

/// Writes a scenario's env file into the lab's state directory (mode 600: it holds the lab's password).
fn write_env_file(name: &str, text: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(&state_dir()).join("envfiles");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.env"));
    let text = if text.contains("@PASSWORD@") {
        text.replace("@PASSWORD@", &lab_password()?)
    } else {
        text.to_string()
    };
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    Ok(path)
}

fn lab_password() -> Result<String, String> {
    std::fs::read_to_string(Path::new(&state_dir()).join("auth").join("password"))
        .map(|s| s.trim_end().to_string())
        .map_err(|e| format!("cannot read the lab's password file: {e}"))
}

/// One run of smtp-doctor in the client namespace: the parsed report, its exit status and wall time.
fn run_check(sc: &Scenario) -> Result<(JsonReport, Option<i32>, Duration), String> {
    let ca = format!("{}/ca.pem", state_dir());
    let mut c = script("run-client.sh");
    c.arg(lab_binary()).arg("check");
    let mut file_secret = None;
    match sc.env_file {
        Some(text) => {
            let path = write_env_file(sc.name, text)?;
            c.arg("--env-file").arg(path);
            if text.contains("@PASSWORD@") {
                file_secret = Some(lab_password()?);
            }
        }
        None => {
            c.arg(sc.host);
        }
    }
    c.args(["--json", "--timeout", sc.timeout, "--ca-file", &ca])
        .args(sc.args)
        .env_remove("SMTP_DOCTOR_PASSWORD");
    if sc.unprivileged {
        c.env("SDLAB_RUN_AS", "nobody");
    }
    let secret = match sc.password {
        Password::None => None,
        Password::Right => Some(lab_password()?),
        Password::Wrong => Some("Wr0ng-password-for-the-lab".to_string()),
    };
    if let Some(p) = &secret {
        c.env("SMTP_DOCTOR_PASSWORD", p);
    }
    let start = Instant::now();
    let (code, stdout, stderr) = run_bounded(c, RUN_LIMIT)?;
    let wall = start.elapsed();
    if let Some(p) = secret.as_ref().or(file_secret.as_ref()) {
        if stdout.contains(p.as_str()) || stderr.contains(p.as_str()) {
            return Err("the password appears in the output".into());
        }
    }
    let report: JsonReport = serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "stdout is not a JSON report ({e}); exit {code:?}\nstderr: {stderr}\nstdout: {stdout}"
        )
    })?;
    Ok((report, code, wall))
}

/// What differs from the scenario's expectations.
fn problems(sc: &Scenario, report: &JsonReport, code: Option<i32>) -> Vec<String> {
    let mut want_ports: Vec<(u16, Layer)> = sc.ports.to_vec();
    let mut got_ports: Vec<(u16, Layer)> = report.ports.iter().map(|p| (p.port, p.layer)).collect();
    want_ports.sort_by_key(|p| p.0);
    got_ports.sort_by_key(|p| p.0);
    let want_code = if sc.ok { 0 } else { 1 };
    let mut problems = Vec::new();
    if report.ok != sc.ok {
        problems.push(format!("ok {} (want {})", report.ok, sc.ok));
    }
    if report.verdict.layer != sc.verdict {
        problems.push(format!(
            "verdict {} (want {})",
            report.verdict.layer.name(),
            sc.verdict.name()
        ));
    }
    if got_ports != want_ports {
        problems.push(format!("ports {got_ports:?} (want {want_ports:?})"));
    }
    if code != Some(want_code) {
        problems.push(format!("exit {code:?} (want {want_code})"));
    }
    let got_codes = codes_of(report);
    if got_codes != sc.codes {
        problems.push(format!("codes {got_codes:?} (want {:?})", sc.codes));
    }
    // Without root the rules are not read: no command may be guessed, and the report says why.
    if sc.unprivileged && !firewall_commands(report).is_empty() {
        problems.push(format!(
            "commands without the rules read: {:?}",
            firewall_commands(report)
        ));
    }
    let fw = report.host.firewall.as_ref();
    let why_not = fw.and_then(|f| f.why_not);
    if sc.unprivileged && why_not != Some(NotRead::NotRoot) {
        problems.push(format!("rules-not-read reason {why_not:?} (want not_root)"));
    }
    if let Some(want) = sc.managers {
        let got: Vec<Manager> =
            fw.map_or_else(Vec::new, |f| f.managers.iter().map(|m| m.manager).collect());
        if got != want {
            problems.push(format!("managers {got:?} (want {want:?})"));
        }
    }
    if let Some(want) = sc.command {
        let first = report.findings.iter().find_map(|f| f.commands.first());
        if first.map(String::as_str) != Some(want) {
            problems.push(format!("first command {first:?} (want {want:?})"));
        }
    }
    if let Some(want) = sc.verdict_code {
        if report.verdict.code != Some(want) {
            problems.push(format!(
                "verdict code {:?} (want {})",
                report.verdict.code.map(Code::name),
                want.name()
            ));
        }
    }
    if let Some(text) = sc.env_file {
        problems.extend(settings_problems(sc, text, report));
    }
    if !sc.mentions.is_empty() {
        let deciding: Vec<String> = report
            .findings
            .iter()
            .filter(|f| Some(f.code) == report.verdict.code)
            .flat_map(|f| std::iter::once(f.message.clone()).chain(f.evidence.iter().cloned()))
            .collect();
        for m in sc.mentions {
            if !deciding.iter().any(|line| line.contains(m)) {
                problems.push(format!("the deciding finding does not mention {m}"));
            }
        }
    }
    for f in &report.findings {
        if f.code.layer() != f.layer {
            problems.push(format!(
                "{} reported in layer {}",
                f.code.name(),
                f.layer.name()
            ));
        }
    }
    problems
}

/// The line of a scenario that passed: its verdict, how long the run took, and what fixed it.
fn passed(verdict: &JsonVerdict, wall: Duration, fixed: &str) -> String {
    format!(
        "{}/{} in {:.1}s: {}{fixed}",
        verdict.layer.name(),
        verdict.code.map_or("-", Code::name),
        wall.as_secs_f64(),
        verdict.summary
    )
}

/// An --env-file run: the keys it says it used, and AUTH accepted wherever a well-formed file gave the password.
fn settings_problems(sc: &Scenario, text: &str, report: &JsonReport) -> Vec<String> {
    let Some(settings) = &report.settings else {
        return vec!["no settings in the report".into()];
    };
    let mut problems = Vec::new();
    let used: Vec<(&str, usize)> = settings
        .keys
        .iter()
        .filter(|k| k.used)
        .map(|k| (k.key.as_str(), k.line))
        .collect();
    if used != sc.keys {
        problems.push(format!("keys used {used:?} (want {:?})", sc.keys));
    }
    if settings.keys.iter().any(|k| {
        k.secret
            && k.value
                .as_deref()
                .is_some_and(|v| !v.contains("[redacted]") && !v.is_empty())
    }) {
        problems.push("a secret key's value is shown".into());
    }
    if sc.ok && text.contains("@PASSWORD@") {
        for p in &report.ports {
            for a in &p.attempts {
                let outcome = a.auth.as_ref().map(|x| x.outcome);
                if outcome != Some(smtp_doctor::report::AuthOutcome::Accepted) {
                    problems.push(format!(
                        "{} port {}: AUTH {outcome:?} (want accepted)",
                        a.address, p.port
                    ));
                }
            }
        }
    }
    problems
}

fn codes_of(report: &JsonReport) -> Vec<Code> {
    let mut codes: Vec<Code> = report.findings.iter().map(|f| f.code).collect();
    codes.sort();
    codes
}

/// The fix commands the report prints for this host's packet filter: the ones the lab may run in a namespace.
fn firewall_commands(report: &JsonReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in report.findings.iter().flat_map(|f| &f.commands) {
        let tool = c.split_whitespace().next().unwrap_or("");
        if matches!(tool, "iptables" | "ip6tables" | "nft" | "ufw") && !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Runs the printed commands in the client namespace, then checks again: every port must work now.
fn apply_fix(sc: &Scenario, report: &JsonReport) -> Result<String, String> {
    let commands = firewall_commands(report);
    if commands.is_empty() {
        return Err("the report prints no iptables/nft/ufw command to fix it".into());
    }
    for cmd in &commands {
        let mut c = script("run-client.sh");
        c.args(cmd.split_whitespace());
        let (code, _, err) = run_bounded(c, Duration::from_secs(20))?;
        if code != Some(0) {
            return Err(format!("the printed command `{cmd}` failed: {err}"));
        }
    }
    let (after, code, _) = run_check(sc)?;
    let failing: Vec<String> = after
        .ports
        .iter()
        .filter(|p| !p.ok)
        .map(|p| format!("{} {}", p.port, p.layer.name()))
        .collect();
    if !after.ok || code != Some(0) || !failing.is_empty() {
        return Err(format!(
            "after running {commands:?} the check still fails: {failing:?}, {:?}",
            codes_of(&after)
        ));
    }
    Ok(format!("fixed by {}", commands.join(" && ")))
}

fn run_scenario(sc: &Scenario) -> Result<String, String> {
    run_script("fault.sh", &["clear"], Duration::from_secs(60))?;
    for f in sc.faults {
        run_script("fault.sh", &[f], Duration::from_secs(60))?;
    }
    let mut lines = Vec::new();
    for run in 1..=sc.runs.max(1) {
        let line = run_once(sc).map_err(|e| {
            if sc.runs > 1 {
                format!("run {run} of {}: {e}", sc.runs)
            } else {
                e
            }
        })?;
        lines.push(line);
    }
    Ok(lines.join(" | "))
}

/// One run of a scenario against the faults already applied: its verdict checked, then the fix or the sent message.
fn run_once(sc: &Scenario) -> Result<String, String> {
    let (report, code, wall) = run_check(sc)?;
    let problems = problems(sc, &report, code);
    if problems.is_empty() {
        let fixed = if sc.fix {
            format!("; {}", apply_fix(sc, &report)?)
        } else if SENDS.contains(&sc.name) {
            format!("; {}", find_sent_message(&report)?)
        } else {
            String::new()
        };
        Ok(passed(&report.verdict, wall, &fixed))
    } else {
        let findings: Vec<String> = report
            .findings
            .iter()
            .map(|f| {
                format!(
                    "  [{} {} {:?}] {} | {} | {:?}",
                    f.layer.name(),
                    f.code.name(),
                    f.severity,
                    f.message,
                    f.evidence.join(" ; "),
                    f.commands
                )
            })
            .collect();
        Err(format!(
            "{}\n  summary: {}\n{}",
            problems.join(", "),
            report.verdict.summary,
            findings.join("\n")
        ))
    }
}

/// Whether a scenario runs: every one without filter words, else those whose name contains one.
fn selected(name: &str, filters: &[String]) -> bool {
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let list_only = std::env::args().any(|a| a == "--list");
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let chosen: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|sc| selected(sc.name, &filters))
        .collect();
    let chosen_mta: Vec<MtaScenario> = mta_scenarios()
        .into_iter()
        .filter(|sc| filters.is_empty() || filters.iter().any(|f| sc.name.contains(f.as_str())))
        .collect();
    let chosen_nagios: Vec<(&str, Run)> = nagios_scenarios()
        .into_iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let chosen_prom: Vec<prometheus::PromScenario> = prometheus::scenarios()
        .into_iter()
        .chain(ladder::scenarios())
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let fleet_chosen =
        filters.is_empty() || filters.iter().any(|f| FLEET_SCENARIO.contains(f.as_str()));
    let fleet: &[&str] = if fleet_chosen { &[FLEET_SCENARIO] } else { &[] };
    if list_only {
        for name in chosen
            .iter()
            .map(|s| s.name)
            .chain(chosen_mta.iter().map(|s| s.name))
            .chain(chosen_nagios.iter().map(|(name, _)| *name))
            .chain(chosen_prom.iter().map(|(name, _)| *name))
            .chain(fleet.iter().copied())
        {
            println!("lab::{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let total =
        chosen.len() + chosen_mta.len() + chosen_nagios.len() + chosen_prom.len() + fleet.len();
    if total == 0 {
        println!("lab: no scenario matches {filters:?}");
        return ExitCode::SUCCESS;
    }
    let skip_or_fail = |why: String| -> ExitCode {
        if in_ci {
            eprintln!("lab: FAILED to start: {why}");
            println!("0 passed, {total} failed");
            ExitCode::FAILURE
        } else {
            println!("lab: skipped ({total} scenarios): {why}");
            println!("0 passed, 0 failed, {total} skipped");
            ExitCode::SUCCESS
        }
    };
    if !nix::unistd::geteuid().is_root() {
        return skip_or_fail(
            "needs root for network namespaces (run the suite as root, as CI does)".into(),
        );
    }
    let setup_start = Instant::now();
    if let Err(e) = run_script("install-deps.sh", &[], Duration::from_secs(900)) {
        return skip_or_fail(format!("installing the lab's packages failed: {e}"));
    }
    if let Err(e) =
        run_script("up.sh", &[], Duration::from_secs(300)).and_then(|_| install_binary())
    {
        let _ = run_script("down.sh", &[], Duration::from_secs(120));
        return skip_or_fail(format!("the lab did not come up: {e}"));
    }
    println!(
        "lab: up in {:.1}s; running {} scenarios",
        setup_start.elapsed().as_secs_f64(),
        total
    );
    let mut passed = 0;
    let mut failed = Vec::new();
    let runs = chosen
        .iter()
        .map(|sc| {
            (
                sc.name,
                Box::new(move || run_scenario(sc)) as Box<dyn Fn() -> Result<String, String>>,
            )
        })
        .chain(chosen_mta.iter().map(|sc| {
            (
                sc.name,
                Box::new(move || run_mta_scenario(sc)) as Box<dyn Fn() -> Result<String, String>>,
            )
        }))
        .chain(chosen_nagios.iter().map(|(name, run)| {
            (
                *name,
                Box::new(*run) as Box<dyn Fn() -> Result<String, String>>,
            )
        }))
        .chain(chosen_prom.iter().map(|(name, run)| {
            (
                *name,
                Box::new(*run) as Box<dyn Fn() -> Result<String, String>>,
            )
        }))
        .chain(fleet.iter().map(|&name| {
            (
                name,
                Box::new(run_fleet_scenario) as Box<dyn Fn() -> Result<String, String>>,
            )
        }));
    for (name, run) in runs {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err("the scenario panicked".into()));
        match result {
            Ok(what) => {
                passed += 1;
                println!("test lab::{name} ... ok ({what})");
            }
            Err(why) => {
                println!("test lab::{name} ... FAILED\n{why}");
                failed.push(name);
            }
        }
    }
    let _ = run_script("fault.sh", &["clear"], Duration::from_secs(60));
    if let Err(e) = run_script("down.sh", &[], Duration::from_secs(120)) {
        println!("lab: teardown failed: {e}");
        failed.push("teardown");
    }
    if !failed.is_empty() {
        println!("\nfailures: {}", failed.join(", "));
    }
    println!("{passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
