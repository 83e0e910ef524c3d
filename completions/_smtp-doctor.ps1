
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'smtp-doctor' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'smtp-doctor'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'smtp-doctor' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Probe a mail server on every port and address and name the failing layer')
            [CompletionResult]::new('mta', 'mta', [CompletionResultType]::ParameterValue, 'Read this host''s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter''s own health')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'smtp-doctor;check' {
            [CompletionResult]::new('--targets', '--targets', [CompletionResultType]::ParameterName, 'Probe every server listed in this TOML file, each with its own ports, TLS mode, login and envelope')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'How many targets (HOSTs or --targets entries) are probed at the same time')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Probe exactly what your app''s settings file configures: host, port, TLS mode, user, password and From address')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587)')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'How TLS starts on every given port, instead of the mode that follows from the port number')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'User name for an AUTH test (PLAIN or LOGIN, only over TLS)')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file (self-hosted or test servers)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query')
            [CompletionResult]::new('--resolver', '--resolver', [CompletionResultType]::ParameterName, 'Ask this DNS server instead of the ones in /etc/resolv.conf')
            [CompletionResult]::new('--helo', '--helo', [CompletionResultType]::ParameterName, 'Name to send in EHLO (default: this host''s name)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)')
            [CompletionResult]::new('--warning', '--warning', [CompletionResultType]::ParameterName, '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)')
            [CompletionResult]::new('--critical', '--critical', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)')
            [CompletionResult]::new('--cert-warning-days', '--cert-warning-days', [CompletionResultType]::ParameterName, '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)')
            [CompletionResult]::new('--cert-critical-days', '--cert-critical-days', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the human report; NO_COLOR in the environment also turns colour off')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Envelope sender to test after AUTH: MAIL FROM:<ADDR>, then RSET (no message is sent)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Envelope recipient to test after --from (or the From address of --env-file): RCPT TO:<ADDR>, then RSET; repeat for several')
            [CompletionResult]::new('--as-user', '--as-user', [CompletionResultType]::ParameterName, 'Probe as this local user (root only): this host''s firewall rules are read as root first, then the process drops to USER''s uid, gid and supplementary groups before any probe socket is opened — the view an application running as USER gets')
            [CompletionResult]::new('--json-lines', '--json-lines', [CompletionResultType]::ParameterName, 'Print each target''s JSON report on one line as soon as it finishes (JSON Lines), instead of one document at the end')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password for --user from the first line of standard input')
            [CompletionResult]::new('--danger-accept-invalid-certs', '--danger-accept-invalid-certs', [CompletionResultType]::ParameterName, 'Send the password even when the server''s certificate fails verification (name, trust, dates)')
            [CompletionResult]::new('--danger-allow-cleartext-auth', '--danger-allow-cleartext-auth', [CompletionResultType]::ParameterName, 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Probe IPv4 addresses only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'Probe IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Probe IPv6 addresses only')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'Probe IPv6 addresses only')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain')
            [CompletionResult]::new('--mx', '--mx', [CompletionResultType]::ParameterName, 'Also probe port 25 on every MX host of the target''s domain')
            [CompletionResult]::new('--send', '--send', [CompletionResultType]::ParameterName, 'Really send one short test message from --from to --to (on the first port that gets that far), and report the queue id the server gives')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'smtp-doctor;mta' {
            [CompletionResult]::new('--postfix-config', '--postfix-config', [CompletionResultType]::ParameterName, 'The Postfix instance to read, by its configuration directory, as `postconf -c DIR` takes it (default /etc/postfix)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'A recipient address to test direct delivery with: when the MTA has no relay, port 25 of this address''s MX hosts is probed')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'The sender your app''s mail carries: after the MTA''s login, the relay (or the MX host) is asked MAIL FROM:<ADDR> and RCPT TO (--to, else ADDR itself), then RSET; nothing is sent')
            [CompletionResult]::new('--ca-file', '--ca-file', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file (self-hosted or test servers)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query')
            [CompletionResult]::new('--resolver', '--resolver', [CompletionResultType]::ParameterName, 'Ask this DNS server instead of the ones in /etc/resolv.conf')
            [CompletionResult]::new('--helo', '--helo', [CompletionResultType]::ParameterName, 'Name to send in EHLO (default: this host''s name)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)')
            [CompletionResult]::new('--warning', '--warning', [CompletionResultType]::ParameterName, '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)')
            [CompletionResult]::new('--critical', '--critical', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)')
            [CompletionResult]::new('--cert-warning-days', '--cert-warning-days', [CompletionResultType]::ParameterName, '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)')
            [CompletionResult]::new('--cert-critical-days', '--cert-critical-days', [CompletionResultType]::ParameterName, '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour the human report; NO_COLOR in the environment also turns colour off')
            [CompletionResult]::new('--danger-accept-invalid-certs', '--danger-accept-invalid-certs', [CompletionResultType]::ParameterName, 'Send the password even when the server''s certificate fails verification (name, trust, dates)')
            [CompletionResult]::new('--danger-allow-cleartext-auth', '--danger-allow-cleartext-auth', [CompletionResultType]::ParameterName, 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)')
            [CompletionResult]::new('-4', '-4', [CompletionResultType]::ParameterName, 'Probe IPv4 addresses only')
            [CompletionResult]::new('--ipv4', '--ipv4', [CompletionResultType]::ParameterName, 'Probe IPv4 addresses only')
            [CompletionResult]::new('-6', '-6', [CompletionResultType]::ParameterName, 'Probe IPv6 addresses only')
            [CompletionResult]::new('--ipv6', '--ipv6', [CompletionResultType]::ParameterName, 'Probe IPv6 addresses only')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'smtp-doctor;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address and port to listen on, such as 127.0.0.1:9125 or [::]:9125 (port 0: one the kernel picks, printed on stderr)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'The TOML file of modules (see README "Prometheus"); an error in it is exit status 2 naming its line and key')
            [CompletionResult]::new('--timeout-offset', '--timeout-offset', [CompletionResultType]::ParameterName, 'Seconds taken off X-Prometheus-Scrape-Timeout-Seconds, so the answer reaches Prometheus before it gives up')
            [CompletionResult]::new('--max-concurrent', '--max-concurrent', [CompletionResultType]::ParameterName, 'Probes run at once; a request beyond it waits for a free slot within its deadline, then gets 503')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Client connections held at once; a connection beyond it is closed as soon as it is accepted')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'Seconds a client has to send a request''s headers, from its first byte (or from the end of the previous response); then the connection is closed')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'smtp-doctor;generate' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'smtp-doctor;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Probe a mail server on every port and address and name the failing layer')
            [CompletionResult]::new('mta', 'mta', [CompletionResultType]::ParameterValue, 'Read this host''s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter''s own health')
            [CompletionResult]::new('generate', 'generate', [CompletionResultType]::ParameterValue, 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'smtp-doctor;help;check' {
            break
        }
        'smtp-doctor;help;mta' {
            break
        }
        'smtp-doctor;help;serve' {
            break
        }
        'smtp-doctor;help;generate' {
            break
        }
        'smtp-doctor;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
