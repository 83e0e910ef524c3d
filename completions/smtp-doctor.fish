# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_smtp_doctor_global_optspecs
    string join \n h/help V/version
end

function __fish_smtp_doctor_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_smtp_doctor_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_smtp_doctor_using_subcommand
    set -l cmd (__fish_smtp_doctor_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -s V -l version -d 'Print version'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -f -a "check" -d 'Probe a mail server on every port and address and name the failing layer'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -f -a "mta" -d 'Read this host\'s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -f -a "serve" -d 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter\'s own health'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -f -a "generate" -d 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)'
complete -c smtp-doctor -n "__fish_smtp_doctor_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l targets -d 'Probe every server listed in this TOML file, each with its own ports, TLS mode, login and envelope' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l concurrency -d 'How many targets (HOSTs or --targets entries) are probed at the same time' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l env-file -d 'Probe exactly what your app\'s settings file configures: host, port, TLS mode, user, password and From address' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s p -l port -d 'Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l mode -d 'How TLS starts on every given port, instead of the mode that follows from the port number' -r -f -a "starttls\t''
implicit\t''
detect\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l user -d 'User name for an AUTH test (PLAIN or LOGIN, only over TLS)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l ca-file -d 'Also trust the CA certificates in this PEM file (self-hosted or test servers)' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l timeout -d 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l resolver -d 'Ask this DNS server instead of the ones in /etc/resolv.conf' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l helo -d 'Name to send in EHLO (default: this host\'s name)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l format -d 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)' -r -f -a "human\t''
json\t''
nagios\t''
prometheus\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s w -l warning -d '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s c -l critical -d '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l cert-warning-days -d '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l cert-critical-days -d '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l color -d 'When to colour the human report; NO_COLOR in the environment also turns colour off' -r -f -a "auto\t''
always\t''
never\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l from -d 'Envelope sender to test after AUTH: MAIL FROM:<ADDR>, then RSET (no message is sent)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l to -d 'Envelope recipient to test after --from (or the From address of --env-file): RCPT TO:<ADDR>, then RSET; repeat for several' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l as-user -d 'Probe as this local user (root only): this host\'s firewall rules are read as root first, then the process drops to USER\'s uid, gid and supplementary groups before any probe socket is opened — the view an application running as USER gets' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l json-lines -d 'Print each target\'s JSON report on one line as soon as it finishes (JSON Lines), instead of one document at the end'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l password-stdin -d 'Read the password for --user from the first line of standard input'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l danger-accept-invalid-certs -d 'Send the password even when the server\'s certificate fails verification (name, trust, dates)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l danger-allow-cleartext-auth -d 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s 4 -l ipv4 -d 'Probe IPv4 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s 6 -l ipv6 -d 'Probe IPv6 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l json -d 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s v -l verbose -d 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l mx -d 'Also probe port 25 on every MX host of the target\'s domain'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l send -d 'Really send one short test message from --from to --to (on the first port that gets that far), and report the queue id the server gives'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l postfix-config -d 'The Postfix instance to read, by its configuration directory, as `postconf -c DIR` takes it (default /etc/postfix)' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l to -d 'A recipient address to test direct delivery with: when the MTA has no relay, port 25 of this address\'s MX hosts is probed' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l from -d 'The sender your app\'s mail carries: after the MTA\'s login, the relay (or the MX host) is asked MAIL FROM:<ADDR> and RCPT TO (--to, else ADDR itself), then RSET; nothing is sent' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l ca-file -d 'Also trust the CA certificates in this PEM file (self-hosted or test servers)' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l timeout -d 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l resolver -d 'Ask this DNS server instead of the ones in /etc/resolv.conf' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l helo -d 'Name to send in EHLO (default: this host\'s name)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l format -d 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)' -r -f -a "human\t''
json\t''
nagios\t''
prometheus\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s w -l warning -d '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s c -l critical -d '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l cert-warning-days -d '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l cert-critical-days -d '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l color -d 'When to colour the human report; NO_COLOR in the environment also turns colour off' -r -f -a "auto\t''
always\t''
never\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l danger-accept-invalid-certs -d 'Send the password even when the server\'s certificate fails verification (name, trust, dates)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l danger-allow-cleartext-auth -d 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s 4 -l ipv4 -d 'Probe IPv4 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s 6 -l ipv6 -d 'Probe IPv6 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l json -d 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s v -l verbose -d 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l listen -d 'Address and port to listen on, such as 127.0.0.1:9125 or [::]:9125 (port 0: one the kernel picks, printed on stderr)' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l config -d 'The TOML file of modules (see README "Prometheus"); an error in it is exit status 2 naming its line and key' -r -F
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l timeout-offset -d 'Seconds taken off X-Prometheus-Scrape-Timeout-Seconds, so the answer reaches Prometheus before it gives up' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l max-concurrent -d 'Probes run at once; a request beyond it waits for a free slot within its deadline, then gets 503' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l max-connections -d 'Client connections held at once; a connection beyond it is closed as soon as it is accepted' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -l header-timeout -d 'Seconds a client has to send a request\'s headers, from its first byte (or from the end of the previous response); then the connection is closed' -r
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand generate" -s h -l help -d 'Print help'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta serve generate help" -f -a "check" -d 'Probe a mail server on every port and address and name the failing layer'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta serve generate help" -f -a "mta" -d 'Read this host\'s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta serve generate help" -f -a "serve" -d 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter\'s own health'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta serve generate help" -f -a "generate" -d 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta serve generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
