
use builtin;
use str;

set edit:completion:arg-completer[smtp-doctor] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'smtp-doctor'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'smtp-doctor'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Probe a mail server on every port and address and name the failing layer'
            cand mta 'Read this host''s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue'
            cand serve 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter''s own health'
            cand generate 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'smtp-doctor;check'= {
            cand --targets 'Probe every server listed in this TOML file, each with its own ports, TLS mode, login and envelope'
            cand --concurrency 'How many targets (HOSTs or --targets entries) are probed at the same time'
            cand --env-file 'Probe exactly what your app''s settings file configures: host, port, TLS mode, user, password and From address'
            cand -p 'Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587)'
            cand --port 'Port to probe; repeat for several (default: the port in HOST, else 25, 465 and 587)'
            cand --mode 'How TLS starts on every given port, instead of the mode that follows from the port number'
            cand --user 'User name for an AUTH test (PLAIN or LOGIN, only over TLS)'
            cand --ca-file 'Also trust the CA certificates in this PEM file (self-hosted or test servers)'
            cand --timeout 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query'
            cand --resolver 'Ask this DNS server instead of the ones in /etc/resolv.conf'
            cand --helo 'Name to send in EHLO (default: this host''s name)'
            cand --format 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)'
            cand -w '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)'
            cand --warning '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)'
            cand -c '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)'
            cand --critical '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)'
            cand --cert-warning-days '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)'
            cand --cert-critical-days '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)'
            cand --color 'When to colour the human report; NO_COLOR in the environment also turns colour off'
            cand --from 'Envelope sender to test after AUTH: MAIL FROM:<ADDR>, then RSET (no message is sent)'
            cand --to 'Envelope recipient to test after --from (or the From address of --env-file): RCPT TO:<ADDR>, then RSET; repeat for several'
            cand --as-user 'Probe as this local user (root only): this host''s firewall rules are read as root first, then the process drops to USER''s uid, gid and supplementary groups before any probe socket is opened — the view an application running as USER gets'
            cand --json-lines 'Print each target''s JSON report on one line as soon as it finishes (JSON Lines), instead of one document at the end'
            cand --password-stdin 'Read the password for --user from the first line of standard input'
            cand --danger-accept-invalid-certs 'Send the password even when the server''s certificate fails verification (name, trust, dates)'
            cand --danger-allow-cleartext-auth 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)'
            cand -4 'Probe IPv4 addresses only'
            cand --ipv4 'Probe IPv4 addresses only'
            cand -6 'Probe IPv6 addresses only'
            cand --ipv6 'Probe IPv6 addresses only'
            cand --json 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)'
            cand -v 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
            cand --verbose 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
            cand --mx 'Also probe port 25 on every MX host of the target''s domain'
            cand --send 'Really send one short test message from --from to --to (on the first port that gets that far), and report the queue id the server gives'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'smtp-doctor;mta'= {
            cand --postfix-config 'The Postfix instance to read, by its configuration directory, as `postconf -c DIR` takes it (default /etc/postfix)'
            cand --to 'A recipient address to test direct delivery with: when the MTA has no relay, port 25 of this address''s MX hosts is probed'
            cand --from 'The sender your app''s mail carries: after the MTA''s login, the relay (or the MX host) is asked MAIL FROM:<ADDR> and RCPT TO (--to, else ADDR itself), then RSET; nothing is sent'
            cand --ca-file 'Also trust the CA certificates in this PEM file (self-hosted or test servers)'
            cand --timeout 'Seconds allowed for each network step: connect, each reply, the TLS handshake, each DNS query'
            cand --resolver 'Ask this DNS server instead of the ones in /etc/resolv.conf'
            cand --helo 'Name to send in EHLO (default: this host''s name)'
            cand --format 'How to write the report on standard output: human (for people, the default), json (one document, schema_version 1, and nothing else there; as --json), nagios (a Nagios/Icinga plugin: status line, perfdata, plugin exit status) or prometheus (check only)'
            cand -w '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)'
            cand --warning '--format nagios: WARNING when the total time in seconds alerts on this Nagios range ([@]start:end, inclusive; 5 alerts above 5 s, 2: below 2, @1:3 inside)'
            cand -c '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)'
            cand --critical '--format nagios: CRITICAL when the total time in seconds alerts on this Nagios range (as --warning)'
            cand --cert-warning-days '--format nagios: WARNING when a certificate shown has fewer days left than DAYS (default 14, as the finding cert_expires_soon)'
            cand --cert-critical-days '--format nagios: CRITICAL when a certificate shown has fewer days left than DAYS (default: none; an expired certificate is CRITICAL anyway)'
            cand --color 'When to colour the human report; NO_COLOR in the environment also turns colour off'
            cand --danger-accept-invalid-certs 'Send the password even when the server''s certificate fails verification (name, trust, dates)'
            cand --danger-allow-cleartext-auth 'Send the password even over an unencrypted connection (no TLS, or STARTTLS not offered)'
            cand -4 'Probe IPv4 addresses only'
            cand --ipv4 'Probe IPv4 addresses only'
            cand -6 'Probe IPv6 addresses only'
            cand --ipv6 'Probe IPv6 addresses only'
            cand --json 'Print the report as JSON on standard output (schema_version 1), and nothing else there (short for --format json)'
            cand -v 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
            cand --verbose 'Also show each SMTP conversation (AUTH lines redacted) and the certificate chain'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'smtp-doctor;serve'= {
            cand --listen 'Address and port to listen on, such as 127.0.0.1:9125 or [::]:9125 (port 0: one the kernel picks, printed on stderr)'
            cand --config 'The TOML file of modules (see README "Prometheus"); an error in it is exit status 2 naming its line and key'
            cand --timeout-offset 'Seconds taken off X-Prometheus-Scrape-Timeout-Seconds, so the answer reaches Prometheus before it gives up'
            cand --max-concurrent 'Probes run at once; a request beyond it waits for a free slot within its deadline, then gets 503'
            cand --max-connections 'Client connections held at once; a connection beyond it is closed as soon as it is accepted'
            cand --header-timeout 'Seconds a client has to send a request''s headers, from its first byte (or from the end of the previous response); then the connection is closed'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'smtp-doctor;generate'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'smtp-doctor;help'= {
            cand check 'Probe a mail server on every port and address and name the failing layer'
            cand mta 'Read this host''s own mail server (Postfix or Exim): how it sends, its relay probed as configured, and its queue'
            cand serve 'Run a Prometheus exporter: /probe?target=HOST&module=NAME probes HOST with a module of the config file, /metrics tells the exporter''s own health'
            cand generate 'Write the shell completions and the man page (for packagers; the checked-in copies come from here)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'smtp-doctor;help;check'= {
        }
        &'smtp-doctor;help;mta'= {
        }
        &'smtp-doctor;help;serve'= {
        }
        &'smtp-doctor;help;generate'= {
        }
        &'smtp-doctor;help;help'= {
        }
    ]
    $completions[$command]
}
