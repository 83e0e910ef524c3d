//! The closed vocabulary of the diagnosis: layers, finding codes (each fixed to one layer), severity and confidence.

use serde::{Deserialize, Serialize};

/// The closed set of layers a failure can be blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    None,
    Dns,
    Network,
    Ipv6,
    Firewall,
    IspBlock,
    LocalMta,
    Server,
    Tls,
    Credentials,
    Sender,
}

impl Layer {
    pub const ALL: [Layer; 11] = [
        Layer::None,
        Layer::Dns,
        Layer::Network,
        Layer::Ipv6,
        Layer::Firewall,
        Layer::IspBlock,
        Layer::LocalMta,
        Layer::Server,
        Layer::Tls,
        Layer::Credentials,
        Layer::Sender,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::None => "none",
            Layer::Dns => "dns",
            Layer::Network => "network",
            Layer::Ipv6 => "ipv6",
            Layer::Firewall => "firewall",
            Layer::IspBlock => "isp_block",
            Layer::LocalMta => "local_mta",
            Layer::Server => "server",
            Layer::Tls => "tls",
            Layer::Credentials => "credentials",
            Layer::Sender => "sender",
        }
    }

    /// Lower layers first: a failure low in the stack hides everything above it.
    pub fn rank(self) -> u8 {
        match self {
            Layer::Dns => 0,
            Layer::Network => 1,
            Layer::Firewall => 2,
            Layer::IspBlock => 3,
            Layer::LocalMta => 4,
            Layer::Server => 5,
            Layer::Tls => 6,
            Layer::Credentials => 7,
            Layer::Sender => 8,
            Layer::Ipv6 => 9,
            Layer::None => 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// How strongly the facts support the code named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    High,
    Medium,
    Low,
}

impl Confidence {
    pub fn name(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }
}

/// Declares the codes once: the enum, each code's stable name, its layer, and the README's words for it.
macro_rules! codes {
    ($($variant:ident => $name:literal, $layer:ident, $meaning:literal, $fix:literal;)+) => {
        /// Why a finding was made: one code per cause a user would act on differently. Part of the contract:
        /// the JSON names are stable, and renaming one is a breaking change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Code {
            $($variant,)+
        }

        impl Code {
            /// Every code, in the order of the README's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The stable name, as in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)+
                }
            }

            /// The layer this code belongs to: fixed by the code, never chosen per finding.
            pub fn layer(self) -> Layer {
                match self {
                    $(Code::$variant => Layer::$layer,)+
                }
            }

            /// One line on what the code means (README table).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)+
                }
            }

            /// One line on the usual fix (README table); the finding's own remedy is specific to its facts.
            pub fn typical_fix(self) -> &'static str {
                match self {
                    $(Code::$variant => $fix,)+
                }
            }
        }
    };
}

codes! {
    // DNS
    NoResolver => "no_resolver", Dns, "this host has no DNS resolver configured", "add a nameserver to /etc/resolv.conf or pass --resolver";
    Nxdomain => "nxdomain", Dns, "the name does not exist (NXDOMAIN)", "fix the spelling of the host name";
    NoAddressRecord => "no_address_record", Dns, "the name exists but has no A/AAAA record", "use the provider's submission host, or add the record";
    DnsServfail => "dns_servfail", Dns, "the resolver could not get an answer (SERVFAIL)", "retry, try another resolver, or ask the domain's owner (DNSSEC, dead name servers)";
    DnsRefused => "dns_refused", Dns, "the resolver refused the query (REFUSED)", "point /etc/resolv.conf at a recursive resolver";
    ResolverBlockedHere => "resolver_blocked_here", Dns, "this host's firewall blocks DNS to its resolver (EPERM)", "allow outgoing UDP/TCP 53 in this host's firewall";
    ResolverNotServing => "resolver_not_serving", Dns, "nothing serves DNS at the resolver's address (ICMP port unreachable)", "start the local resolver or point /etc/resolv.conf elsewhere";
    ResolverUnreachable => "resolver_unreachable", Dns, "no route to the resolver", "fix routes or the nameserver lines";
    ResolverDead => "resolver_dead", Dns, "the resolver does not answer at all", "check the resolver is up and reachable, or pass --resolver";
    ZoneUnreachable => "zone_unreachable", Dns, "the resolver works but the name's own servers do not answer", "check the domain's NS records and DNS hosting";
    DnsError => "dns_error", Dns, "the lookup failed for another reason", "check /etc/resolv.conf; try --resolver";
    DnsPartialFailure => "dns_partial_failure", Dns, "one of the A/AAAA lookups failed while the other answered (warning)", "check the resolver and the zone's name servers";
    MailDomainOnly => "mail_domain_only", Dns, "the target is a mail domain without an address; its MX hosts were probed (info)", "nothing to do";
    NoAddressForFamily => "no_address_for_family", Dns, "the name has no address of the family asked for (-4/-6)", "drop -4/-6 or fix the records";
    MxHostUnresolved => "mx_host_unresolved", Dns, "an MX host does not resolve", "fix the MX record to name a host with A/AAAA records";
    EnvHostMalformed => "env_host_malformed", Dns, "the app's host setting is not a bare host name (quotes, spaces, a scheme, a port, a trailing dot or comma): its lookup fails", "write the host name alone on that line of the env file";
    // Network
    NoRoute => "no_route", Network, "this host has no route or address for the server's family (ENETUNREACH)", "fix routes/addresses, or make the client use the other family";
    HostUnreachable => "host_unreachable", Network, "the server's address is unreachable (EHOSTUNREACH)", "check the address and the routes (ip route get, mtr)";
    ConnectFailed => "connect_failed", Network, "the connect failed for another reason", "run with --verbose; check routes and addresses";
    ConnectLossy => "connect_lossy", Network, "the connect timed out, yet TTL-limited SYNs of the same run reached the server and were answered: packets are lost on the way, the port is not blocked", "run again, with a longer --timeout; check the link for loss (mtr)";
    EnvPortInvalid => "env_port_invalid", Network, "the app's port setting is not a port number: the app cannot open the connection it is set up for", "write the port number alone (587, 465) on that line of the env file";
    // Address families
    Ipv6Broken => "ipv6_broken", Ipv6, "IPv6 fails on some ports while IPv4 works (warning)", "fix IPv6 on the failing layer, or make the client use IPv4";
    Ipv4Broken => "ipv4_broken", Ipv6, "IPv4 fails on some ports while IPv6 works (warning)", "fix IPv4 on the failing layer, or make the client use IPv6";
    // This host's firewall
    FirewallDrop => "firewall_drop", Firewall, "this host's firewall silently drops the outgoing SYN", "allow the port in this host's OUTPUT chain (commands given when the rule was read)";
    FirewallReject => "firewall_reject", Firewall, "this host's firewall rejects the outgoing connection (ICMP error, EPERM or a local reset)", "allow the port in this host's OUTPUT chain (commands given when the rule was read)";
    OwnerRuleBlocksOthers => "owner_rule_blocks_others", Firewall, "this user gets through, but owner rules (-m owner, meta skuid) block the same connection for other users, such as an application's (warning)", "rerun as root with --as-user APPUSER; let that user out in the rule's manager (CSF SMTP_ALLOWUSER…) or send through the local MTA";
    // Between this host and the server
    IspDrop => "isp_drop", IspBlock, "the SYN leaves this host and is dropped on the way (provider, security group, or the server's firewall)", "ask the provider to open the port, or use 587/465 through a relay";
    IspReject => "isp_reject", IspBlock, "a router on the way rejects the connection: an ICMP error, or a RST forged short of the server", "ask the provider to open the port, or use another port";
    IspProxy => "isp_proxy", IspBlock, "a router on the way answers in the server's place (a provider's transparent SMTP proxy): a SYN too short-lived to reach the server gets a SYN-ACK or RST", "ask the provider to stop intercepting the port, or use 465 (implicit TLS) through a relay";
    // A local MTA in the server's place
    LocalRedirect => "local_redirect", LocalMta, "a mail server on this host answers in the remote server's place (NAT redirect, proxy, local MTA)", "remove the nat rule / WHM SMTP Restrictions / CSF SMTP_BLOCK, or relay through the local MTA on purpose";
    OwnerRuleRedirectsOthers => "owner_rule_redirects_others", LocalMta, "this user reaches the server, but owner rules send other users to a mail server on this host (cPanel SMTP Restrictions, CSF SMTP_REDIRECT) (warning)", "rerun as root with --as-user APPUSER; send through the local MTA on purpose, or turn the restriction off";
    EnvMailerLocal => "env_mailer_local", LocalMta, "the app's mailer does not send through SMTP: mail goes to a log, memory, files or this host's sendmail (a warning when only the framework's default says so)", "set the mailer to SMTP (MAIL_MAILER=smtp, MAILER_DSN=smtp://…, the SMTP EmailBackend)";
    EnvHostIsThisHost => "env_host_is_this_host", LocalMta, "the app's host is this machine, and nothing listens on its port here", "point the host setting at the provider's SMTP server, or run a mail server here";
    // The server
    PortClosed => "port_closed", Server, "nothing listens on the port (RST from the server)", "start the mail service or fix the port";
    ServerReject => "server_reject", Server, "the server itself rejects the port with an ICMP error (its own firewall)", "ask the server's operator to allow this host";
    ConnectTimeout => "connect_timeout", Server, "connections time out and the path facts cannot place the drop", "check the server is up and reachable";
    GreetingRejected => "greeting_rejected", Server, "the server refuses the session in its greeting (5xx: blocklist, access rule)", "check blocklists, reverse DNS and the server's access rules";
    ServerBusy => "server_busy", Server, "the server answers 421 or another temporary refusal (busy, rate-limited, shutting down)", "try later; check the server's limits";
    GreetingSlow => "greeting_slow", Server, "the greeting trickles in too slowly (tarpit, overload)", "check the server's load and greeting delays (postscreen)";
    GreetingSilent => "greeting_silent", Server, "the server accepts the connection but never greets", "check the server's load and any proxy holding connections";
    GreetingClosed => "greeting_closed", Server, "the server closes the connection before greeting", "check the server's connection limits and access rules";
    ConnectionReset => "connection_reset", Server, "the server resets the connection before greeting", "check the server's log and limits";
    NotSmtp => "not_smtp", Server, "something that is not an SMTP server answers on the port", "check the port number";
    ReplyTooLarge => "reply_too_large", Server, "a reply breaks every sane size limit", "check the service on the port";
    EhloRefused => "ehlo_refused", Server, "the server refuses EHLO", "check the server's log and HELO restrictions";
    EhloNoAnswer => "ehlo_no_answer", Server, "the server stops answering before EHLO is answered", "run with --verbose; check the server";
    HeloOnly => "helo_only", Server, "the server refuses EHLO and accepts only HELO (warning)", "use a modern submission server";
    SessionDropped => "session_dropped", Server, "the server ends the session during STARTTLS", "check the server's log";
    AuthNotOffered => "auth_not_offered", Server, "the server offers no AUTH on this port", "enable SMTP AUTH, or use the submission port";
    AuthMechanismsUnsupported => "auth_mechanisms_unsupported", Server, "the server offers only AUTH mechanisms smtp-doctor does not test (not PLAIN/LOGIN)", "test with the client's own mechanism";
    AuthTemporaryFailure => "auth_temporary_failure", Server, "the server could not check the password right now (454/451/421)", "try later; check the server's auth backend";
    AuthMechanismRefused => "auth_mechanism_refused", Server, "the server refuses the AUTH mechanism it advertised (504)", "fix the server's SASL mechanisms";
    AuthBrokenOff => "auth_broken_off", Server, "the server broke off during AUTH", "run with --verbose; check the server's log";
    // TLS
    StarttlsNotOffered => "starttls_not_offered", Tls, "no STARTTLS in EHLO (an error on submission ports, a warning on 25)", "enable STARTTLS on the server, or use 465";
    StarttlsRefused => "starttls_refused", Tls, "STARTTLS offered but refused", "fix the server's TLS setup (certificate/key files)";
    StarttlsInjection => "starttls_injection", Tls, "bytes arrived after the STARTTLS 220, before TLS (response injection)", "report to the server's operator";
    StarttlsStripped => "starttls_stripped", Tls, "STARTTLS accepted with 220, then the server went on in plaintext", "check SMTP inspection on the path";
    WrongTlsModeImplicit => "wrong_tls_mode_implicit", Tls, "the port speaks implicit TLS while the client is set for STARTTLS", "set the client for implicit TLS (secure: true)";
    WrongTlsModeStarttls => "wrong_tls_mode_starttls", Tls, "the port speaks plaintext SMTP while the client is set for implicit TLS ('wrong version number')", "set the client for STARTTLS (secure: false)";
    TlsHandshakeFailed => "tls_handshake_failed", Tls, "the TLS handshake failed (alert, closed, other)", "fix the server's TLS configuration";
    TlsOutdated => "tls_outdated", Tls, "no TLS version or cipher in common (the server offers only outdated TLS)", "update the server's TLS settings";
    TlsHandshakeTimeout => "tls_handshake_timeout", Tls, "the TLS handshake did not finish in time", "check the server's load and TLS-inspecting middleboxes";
    TlsNotTls => "tls_not_tls", Tls, "the answer to the TLS handshake is neither TLS nor SMTP", "check the port and the server";
    CertSelfSigned => "cert_self_signed", Tls, "the certificate is self-signed", "install a CA-signed certificate, or trust it with --ca-file / the client's CA option";
    CertUntrusted => "cert_untrusted", Tls, "the certificate's issuer is not trusted here", "use a public CA, or pass the private CA with --ca-file";
    CertChainIncomplete => "cert_chain_incomplete", Tls, "the server sends only its leaf certificate, not the intermediate", "configure the full chain (fullchain.pem) on the server";
    CertExpired => "cert_expired", Tls, "the certificate has expired", "renew it on the server; check this host's clock";
    CertNotYetValid => "cert_not_yet_valid", Tls, "the certificate is not valid yet", "check the clocks";
    CertNameMismatch => "cert_name_mismatch", Tls, "the certificate does not name the host connected to", "connect with a name it carries, or fix the certificate";
    CertInvalid => "cert_invalid", Tls, "the certificate is rejected for another reason (revoked, bad signature, usage)", "replace the certificate";
    CertExpiresSoon => "cert_expires_soon", Tls, "the certificate expires within 14 days (warning)", "renew it now";
    AuthCleartextRefused => "auth_cleartext_refused", Tls, "the password would travel unencrypted, so it was not sent", "use a port with TLS";
    AuthRequiresTls => "auth_requires_tls", Tls, "the server demands TLS before AUTH (530)", "use STARTTLS or implicit TLS";
    AuthWithheldUnverified => "auth_withheld_unverified", Tls, "the password was not sent because the certificate failed verification (info)", "fix the certificate first";
    VerificationOverridden => "verification_overridden", Tls, "results were gathered with certificate verification turned off (info)", "drop --danger-accept-invalid-certs once fixed";
    EnvImplicitTlsOnStarttlsPort => "env_implicit_tls_on_starttls_port", Tls, "the app's settings ask for implicit TLS on a port that starts in plaintext (587, 25): 'wrong version number' (a warning where the framework ignores the setting)", "set STARTTLS in the settings (SMTP_SECURE=false, EMAIL_USE_TLS=True…), or use 465";
    EnvStarttlsOnImplicitPort => "env_starttls_on_implicit_port", Tls, "the app's settings ask for STARTTLS or plaintext on 465, which speaks TLS from the first byte: the app times out (a warning where the framework ignores the setting)", "set implicit TLS in the settings (SMTP_SECURE=true, EMAIL_USE_SSL=True…), or use 587";
    EnvTlsAndSsl => "env_tls_and_ssl", Tls, "Django's EMAIL_USE_TLS and EMAIL_USE_SSL are both on: Django refuses to send", "turn off the one that does not fit the port";
    EnvNoTls => "env_no_tls", Tls, "the app logs in without any TLS: the server offers no AUTH, or sees the password in cleartext", "turn STARTTLS on in the settings (EMAIL_USE_TLS=True…)";
    EnvTlsSettingInvalid => "env_tls_setting_invalid", Tls, "a TLS setting of the app is not a value it reads as on or off", "write true or false (True/False for Django)";
    // Credentials
    AuthRejected => "auth_rejected", Credentials, "the server rejects the user name or password (535 and other 5xx)", "check the user name and password";
    AuthAppPasswordRequired => "auth_app_password_required", Credentials, "the provider demands an app password (5.7.9)", "create an app password and use it";
    AuthSmtpDisabled => "auth_smtp_disabled", Credentials, "SMTP AUTH is disabled for the mailbox or tenant (Microsoft 5.7.139)", "enable authenticated SMTP for the mailbox, or use OAuth2";
    AuthRequired => "auth_required", Credentials, "the server takes no mail without a login (530 to MAIL FROM or RCPT TO, with no --user given)", "log in: set the app's SMTP user and password (test with --user)";
    // The envelope (--from, --to, --send)
    SenderRefused => "sender_refused", Sender, "the server refuses the envelope sender after the login (5xx to MAIL FROM): the account may not send as that address, or it is not verified with the provider", "send as an address the account owns, or give the account the right to send as it (send-as, verified identity)";
    RelayDenied => "relay_denied", Sender, "the server refuses to relay to the recipient for this session (5.7.x to RCPT TO: \"Relay access denied\")", "log in before sending (relaying needs AUTH), or send through the server meant for this account";
    RecipientRefused => "recipient_refused", Sender, "the server refuses the recipient address (5xx to RCPT TO: no such mailbox, bad domain); part of the envelope the app hands over, so the layer is sender", "check the recipient address";
    MessageRefused => "message_refused", Sender, "the server takes the envelope but refuses the test message itself (5xx to DATA or after it: content or size policy)", "check the server's content and size limits for this account";
    EnvelopeDeferred => "envelope_deferred", Server, "the server defers the envelope or the message (4xx: rate limit, greylisting, quota, a backend down)", "try again later; check the account's sending limits";
    EnvelopeBrokenOff => "envelope_broken_off", Server, "the server stops answering or closes the connection during MAIL FROM, RCPT TO or DATA", "run with --verbose; check the server's log";
    // This host's own MTA (smtp-doctor mta): how it is set up to send
    MtaNotFound => "mta_not_found", LocalMta, "no Postfix or Exim was found on this host (mta)", "install an MTA, or have the app send to a submission server itself (check)";
    MtaNotRunning => "mta_not_running", LocalMta, "the MTA is configured but its daemon does not run: mail waits in its queue (mta)", "start it: systemctl start postfix (or exim4)";
    MtaConfigUnreadable => "mta_config_unreadable", LocalMta, "the MTA's configuration could not be read: postconf or exim failed (mta)", "run the command named in the evidence and fix what it reports";
    MtaDirectDelivery => "mta_direct_delivery", IspBlock, "the MTA has no relay: it delivers straight to each recipient's MX hosts on port 25, which most providers block (info)", "probe it with --to ADDR, or relay through a submission server on 587";
    MtaRelayInvalid => "mta_relay_invalid", Dns, "the relay setting is not a host name and port (relayhost, dc_smarthost)", "write it as [host]:port (Exim: host::port)";
    MtaRelayMxLookup => "mta_relay_mx_lookup", Dns, "the relayhost is not in brackets: Postfix looks up MX records of the name instead of connecting to it (warning)", "write relayhost = [host]:port";
    MtaSaslOff => "mta_sasl_off", Credentials, "the relay is a submission port (587/465) but the MTA does not log in (SASL off) (warning)", "turn SASL on with a password map entry for the relay";
    MtaSaslNoEntry => "mta_sasl_no_entry", Credentials, "SASL is on but the password map has no entry for the relay: the MTA sends without logging in", "add the relay's line to the map, postmap it, reload";
    MtaSaslMapReadable => "mta_sasl_map_readable", Credentials, "the SASL password map can be read by other users of this host (warning)", "chmod 600 the map and its database (Exim's passwd.client: 640, group Debian-exim)";
    MtaSaslMapStale => "mta_sasl_map_stale", Credentials, "the password map's database is missing, or older than its text file: postmap never ran after the last edit", "postmap the map, then reload";
    MtaTlsOff => "mta_tls_off", Tls, "the MTA talks to its relay without TLS (smtp_tls_security_level = none): password and mail travel in clear, and submission servers refuse AUTH", "set smtp_tls_security_level = encrypt";
    // The MTA's queue: deferred mail, grouped by the cause its reason shows
    QueuePort25Blocked => "queue_port25_blocked", IspBlock, "deferred mail: connections to port 25 time out (a provider's port-25 block)", "relay through a submission server on 587 (commands given), or ask the provider to open port 25";
    QueueConnectTimeout => "queue_connect_timeout", Server, "deferred mail: connections to the relay's port time out", "check the relay's host and port; the relay probe places the drop";
    QueueConnectRefused => "queue_connect_refused", Server, "deferred mail: the relay or MX host refuses the connection (nothing listens)", "check the relay's host and port";
    QueueNoRoute => "queue_no_route", Network, "deferred mail: no route to the relay or MX host (ENETUNREACH, EHOSTUNREACH)", "fix the routes, or restrict inet_protocols to the family this host has";
    QueueBlockedHere => "queue_blocked_here", Firewall, "deferred mail: this host's firewall refuses the MTA's connections (EPERM, EACCES)", "allow the port in this host's OUTPUT chain (smtp-doctor check names the rule)";
    QueueNameNotFound => "queue_name_not_found", Dns, "deferred mail: the relay's or the recipient domain's name does not resolve", "fix the relay's name, or this host's resolver";
    QueueTlsFailed => "queue_tls_failed", Tls, "deferred mail: TLS with the relay failed (certificate not verified, TLS not offered, handshake)", "fix the trust (smtp_tls_CAfile) or the TLS level";
    QueueSaslFailed => "queue_sasl_failed", Credentials, "deferred mail: the relay refused the MTA's SASL login (535)", "fix the password in the map, postmap it, reload, postqueue -f";
    QueueLocalError => "queue_local_error", Credentials, "deferred mail: the MTA could not read a table of its own ('local data error'), most often a SASL password map postmap never built", "postmap the maps, reload, and read the MTA's log for the file";
    QueueSaslNoMechanism => "queue_sasl_no_mechanism", Credentials, "deferred mail: SASL could not start, no mechanism both sides allow (smtp_sasl_security_options)", "set smtp_sasl_security_options = noanonymous";
    QueueAuthRequired => "queue_auth_required", Credentials, "deferred mail: the relay demands a login the MTA did not make (530, 5.7.0)", "turn SASL on with a map entry for the relay";
    QueueRelayDenied => "queue_relay_denied", Sender, "deferred mail: the relay refuses to relay to the recipients (Relay access denied, 5.7.1 to RCPT TO)", "log in to the relay (SASL), or have the relay allow this host";
    QueueSenderRefused => "queue_sender_refused", Sender, "deferred mail: the relay refuses the envelope sender (the reply to MAIL FROM)", "send as an address the relay's account may use (smtp_generic_maps)";
    QueueServerDeferred => "queue_server_deferred", Server, "deferred mail: the receiving server answers with a temporary refusal (4xx: greylisting, rate limit, busy)", "wait for the next retry, or check the server's limits";
    QueueConnectionLost => "queue_connection_lost", Server, "deferred mail: the connection was lost or timed out after it was made (a TLS mode mismatch on 465 looks like this)", "check the relay's port and TLS mode (smtp_tls_wrappermode on 465)";
    QueueDeferredOther => "queue_deferred_other", Server, "deferred mail for a reason smtp-doctor does not recognise", "read the reason in the evidence; postqueue -f retries";
    EnvLoginIncomplete => "env_login_incomplete", Credentials, "the app's settings give a user without a password, or a password without a user (or a line the loader cannot read)", "set both the user and the password";
    // Sender
    EnvFromInvalid => "env_from_invalid", Sender, "the app's From address setting is not an email address", "write an address the account may send as";
    // The run itself: no layer
    Interrupted => "interrupted", None, "Ctrl-C or SIGTERM stopped the run before every stage had finished: what was still running is unknown, so no layer is blamed for it (the verdict names one only when a finished stage decided)", "run it again and let it finish; --timeout bounds how long each stage waits";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.name()), "duplicate {}", c.name());
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.name()));
            // An interrupted run blames no layer for what it could not finish: the one code without one.
            if *c != Code::Interrupted {
                assert_ne!(c.layer(), Layer::None, "{} has no layer", c.name());
            }
        }
    }
}
