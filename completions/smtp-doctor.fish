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
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand check" -l json -d 'Print the report as JSON on standard output (schema_version 1), and nothing else there'
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
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l color -d 'When to colour the human report; NO_COLOR in the environment also turns colour off' -r -f -a "auto\t''
always\t''
never\t''"
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l danger-accept-invalid-certs -d 'Send the password even when the server\'s certificate fails verification (name, trust, dates)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l danger-allow-cleartext-auth -d 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s 4 -l ipv4 -d 'Probe IPv4 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s 6 -l ipv6 -d 'Probe IPv6 addresses only'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -l json -d 'Print the report as JSON on standard output (schema_version 1), and nothing else there'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s v -l verbose -d 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand mta" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand generate" -s h -l help -d 'Print help'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta generate help" -f -a "check" -d 'Probe a mail server on every port and address and name the failing layer'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta generate help" -f -a "mta" -d 'Read this host\'s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta generate help" -f -a "generate" -d 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)'
complete -c smtp-doctor -n "__fish_smtp_doctor_using_subcommand help; and not __fish_seen_subcommand_from check mta generate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
