//! --format nagios read by its real consumers in the lab: Debian's Nagios 4 executes the plugin (and monitoring-plugins'
//! check_smtp beside it) in the client namespace, and what Nagios recorded is read back from its status.dat.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::common_plugin as plugin;
use super::{lab_binary, lab_password, run_bounded, run_script, script, state_dir};

/// The check_smtp of monitoring-plugins-basic.
const CHECK_SMTP: &str = "/usr/lib/nagios/plugins/check_smtp";

/// A service of the lab's Nagios: which host and command, and what Nagios must record.
struct Service {
    description: &'static str,
    host: &'static str,
    /// `smtp_doctor` or `check_smtp` (the command definitions of objects.cfg).
    command: &'static str,
    /// The service's $ARG1$.
    args: &'static str,
    state: u8,
    /// How plugin_output must begin.
    starts: &'static str,
    /// Perfdata items that must be recorded: label, and the warn field when it matters.
    perf: &'static [(&'static str, Option<&'static str>)],
    /// The recorded output must pass the strict reader (smtp-doctor's always; check_smtp's when it works).
    strict: bool,
}

const MAIL: &str = "mail.lab.example.com";
const NOTHERE: &str = "nothere.lab.example.com";

fn services() -> Vec<Service> {
    vec![
        Service {
            description: "smtp-doctor ok",
            host: MAIL,
            command: "smtp_doctor",
            args: "-p 587 -p 465 -w 10 -c 20",
            state: 0,
            starts: "SMTP OK - mail.lab.example.com: every probed path works (port 587, 465)",
            perf: &[
                ("587_connect", None),
                ("587_greeting", None),
                ("587_tls", None),
                ("587_ehlo_tls", None),
                ("465_tls", None),
                ("dns", None),
                ("time", Some("10")),
                ("cert_days", Some("14:")),
            ],
            strict: true,
        },
        // The login as the README advises it for Nagios: the password from a file only nagios reads, on stdin.
        Service {
            description: "smtp-doctor login",
            host: MAIL,
            command: "smtp_doctor",
            args: "-p 587 --user app@lab.example.com --password-stdin < @PASSFILE@",
            state: 0,
            starts: "SMTP OK - mail.lab.example.com: every probed path works (port 587)",
            perf: &[("587_auth", None)],
            strict: true,
        },
        Service {
            description: "smtp-doctor certificate",
            host: MAIL,
            command: "smtp_doctor",
            // The lab's certificates are valid for 30 days.
            args: "-p 587 --cert-warning-days 45",
            state: 1,
            starts: "SMTP WARNING - tls/cert_expires_soon: ",
            perf: &[("cert_days", Some("45:")), ("587_tls", None)],
            strict: true,
        },
        Service {
            description: "smtp-doctor closed port",
            host: MAIL,
            command: "smtp_doctor",
            args: "-p 2526",
            state: 2,
            starts: "SMTP CRITICAL - server/port_closed: ",
            perf: &[("2526_connect", None), ("time", None)],
            strict: true,
        },
        Service {
            description: "smtp-doctor no such name",
            host: NOTHERE,
            command: "smtp_doctor",
            args: "-p 587",
            state: 2,
            starts: "SMTP CRITICAL - dns/nxdomain: ",
            perf: &[("dns", None), ("time", None)],
            strict: true,
        },
        Service {
            description: "smtp-doctor bad range",
            host: MAIL,
            command: "smtp_doctor",
            args: "-p 587 --warning 5:1",
            state: 3,
            starts: "SMTP UNKNOWN - --warning '5:1' is not a Nagios range",
            perf: &[],
            strict: true,
        },
        Service {
            description: "check_smtp ok",
            host: MAIL,
            command: "check_smtp",
            args: "-p 25",
            state: 0,
            starts: "SMTP OK - ",
            perf: &[("time", None)],
            strict: true,
        },
        // check_smtp's own conventions, pinned: its status line comes second when the connect fails, so Nagios
        // records the connect error as the output; a name that does not resolve is UNKNOWN, not CRITICAL.
        Service {
            description: "check_smtp closed port",
            host: MAIL,
            command: "check_smtp",
            args: "-p 2526",
            state: 2,
            starts: "connect to address mail.lab.example.com and port 2526: Connection refused",
            perf: &[],
            strict: false,
        },
        Service {
            description: "check_smtp no such name",
            host: NOTHERE,
            command: "check_smtp",
            args: "-p 587",
            state: 3,
            starts: "check_smtp: Invalid hostname/address - nothere.lab.example.com",
            perf: &[],
            strict: false,
        },
    ]
}

/// The instance directory: everything Nagios reads and writes (never /etc/nagios4).
fn instance_dir() -> PathBuf {
    Path::new(&state_dir()).join("nagios")
}

/// nagios.cfg: state only under the instance, checks at once and no spread, status.dat every second, the
/// performance data also in a file; Debian's own illegal_macro_output_chars.
fn nagios_cfg(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "# Written by tests/lab/nagios.rs: one Nagios run in the lab's client namespace.
log_file={d}/var/nagios.log
cfg_file={d}/objects.cfg
object_cache_file={d}/var/objects.cache
precached_object_file={d}/var/objects.precache
status_file={d}/var/status.dat
status_update_interval=1
nagios_user=nagios
nagios_group=nagios
check_external_commands=0
command_file={d}/var/rw/nagios.cmd
query_socket={d}/var/rw/nagios.qh
lock_file={d}/var/nagios.lock
temp_file={d}/var/nagios.tmp
temp_path={d}/var/tmp
check_result_path={d}/var/spool/checkresults
check_result_reaper_frequency=1
state_retention_file={d}/var/retention.dat
retain_state_information=0
use_retained_program_state=0
use_retained_scheduling_info=0
service_inter_check_delay_method=n
host_inter_check_delay_method=n
max_service_check_spread=1
max_host_check_spread=1
service_check_timeout=30
interval_length=60
enable_notifications=0
enable_event_handlers=0
enable_flap_detection=0
process_performance_data=1
service_perfdata_file={d}/var/service-perfdata
service_perfdata_file_template=$SERVICEDESC$\\t$SERVICESTATE$\\t$SERVICEOUTPUT$\\t$SERVICEPERFDATA$
service_perfdata_file_mode=a
service_perfdata_file_processing_interval=0
illegal_macro_output_chars=`~$&|'\"<>
use_syslog=0
log_rotation_method=n
"
    )
}

/// objects.cfg: the two plugins as commands (smtp-doctor as the README's command definition has it), the hosts,
/// one service per row of `services()`.
fn objects_cfg(services: &[Service]) -> String {
    let binary = lab_binary();
    let ca = format!("{}/ca.pem", state_dir());
    let mut text = format!(
        "define timeperiod {{
    timeperiod_name always
    alias           always
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}}
define command {{
    command_name smtp_doctor
    command_line {} check $HOSTADDRESS$ --format nagios --timeout 2 --ca-file {ca} $ARG1$
}}
define command {{
    command_name check_smtp
    command_line {CHECK_SMTP} -H $HOSTADDRESS$ -t 5 $ARG1$
}}
define command {{
    command_name host_up
    command_line /usr/lib/nagios/plugins/check_dummy 0 up
}}
define command {{
    command_name notify_nobody
    command_line /bin/true
}}
define contact {{
    contact_name                  lab
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      always
    service_notification_period   always
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify_nobody
    service_notification_commands notify_nobody
}}
",
        binary.display()
    );
    for host in [MAIL, NOTHERE] {
        text.push_str(&format!(
            "define host {{
    host_name             {host}
    alias                 {host}
    address               {host}
    check_command         host_up
    max_check_attempts    1
    check_period          always
    notification_interval 0
    notification_period   always
    contacts              lab
}}
"
        ));
    }
    for s in services {
        text.push_str(&format!(
            "define service {{
    host_name             {}
    service_description   {}
    check_command         {}!{}
    max_check_attempts    1
    check_interval        5
    retry_interval        1
    check_period          always
    notification_interval 0
    notification_period   always
    contacts              lab
}}
",
            s.host,
            s.description,
            s.command,
            s.args
                .replace("@PASSFILE@", &pass_file().display().to_string())
        ));
    }
    text
}

/// The lab's SMTP password for the login service, readable by nagios alone.
fn pass_file() -> PathBuf {
    instance_dir().join("smtp.pass")
}

/// Writes the instance and hands it to the user nagios (Nagios drops to it before it writes anything).
fn write_instance(services: &[Service]) -> Result<PathBuf, String> {
    let dir = instance_dir();
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["var/rw", "var/spool/checkresults", "var/tmp"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
    }
    for (name, text) in [
        ("nagios.cfg", nagios_cfg(&dir)),
        ("objects.cfg", objects_cfg(services)),
    ] {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(pass_file(), lab_password()?)
            .map_err(|e| format!("cannot write the password file: {e}"))?;
        std::fs::set_permissions(pass_file(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict the password file: {e}"))?;
    }
    let mut chown = std::process::Command::new("chown");
    chown.arg("-R").arg("nagios:nagios").arg(&dir);
    let (code, _, err) = run_bounded(chown, Duration::from_secs(10))?;
    if code != Some(0) {
        return Err(format!("chown nagios {}: {err}", dir.display()));
    }
    Ok(dir)
}

/// The `servicestatus` blocks of status.dat, each as its key=value pairs.
fn service_status(text: &str) -> Vec<HashMap<String, String>> {
    let mut blocks = Vec::new();
    let mut current: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "servicestatus {" {
            current = Some(HashMap::new());
        } else if line == "}" {
            blocks.extend(current.take());
        } else if let (Some(block), Some((k, v))) = (current.as_mut(), line.split_once('=')) {
            block.insert(k.to_string(), v.to_string());
        }
    }
    blocks
}

/// status.dat writes a newline of the long output as `\n` and a backslash as `\\`.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Nagios 4 executes both plugins from the client namespace as the user nagios; what status.dat records for each
/// service must be the expected state, first line and perfdata, and smtp-doctor's, put back together, must pass
/// the strict reader.
pub fn nagios4_runs_the_plugin() -> Result<String, String> {
    run_script("fault.sh", &["clear"], Duration::from_secs(60))?;
    let services = services();
    let dir = write_instance(&services)?;
    let dir_arg = dir.display().to_string();
    let mut verify = script("nagios.sh");
    verify.args(["verify", &dir_arg]);
    let (code, out, err) = run_bounded(verify, Duration::from_secs(30))?;
    if code != Some(0) || !out.contains("Total Errors:   0") || !out.contains("Total Warnings: 0") {
        return Err(format!("nagios4 -v refuses the instance:\n{out}{err}"));
    }
    run_script(
        "nagios.sh",
        &["run", &dir_arg, "90"],
        Duration::from_secs(120),
    )?;
    let status = std::fs::read_to_string(dir.join("var/status.final"))
        .map_err(|e| format!("no status.dat kept: {e}"))?;
    let recorded = service_status(&status);
    let perf_file = std::fs::read_to_string(dir.join("var/service-perfdata")).unwrap_or_default();
    let mut problems = Vec::new();
    let password = lab_password()?;
    for (what, text) in [("status.dat", &status), ("the perfdata file", &perf_file)] {
        if text.contains(&password) {
            problems.push(format!("the lab's password appears in {what}"));
        }
    }
    let mut shown = Vec::new();
    for s in &services {
        let Some(block) = recorded
            .iter()
            .find(|b| b.get("service_description").map(String::as_str) == Some(s.description))
        else {
            problems.push(format!("{}: not in status.dat", s.description));
            continue;
        };
        let get = |k: &str| block.get(k).cloned().unwrap_or_default();
        let state = get("current_state");
        let output = get("plugin_output");
        let perf = get("performance_data");
        let long = unescape(&get("long_plugin_output"));
        if get("has_been_checked") != "1" || get("state_type") != "1" {
            problems.push(format!("{}: not checked to a hard state", s.description));
        }
        if state != s.state.to_string() {
            problems.push(format!(
                "{}: state {state} (want {}): {output}",
                s.description, s.state
            ));
        }
        if !output.starts_with(s.starts) {
            problems.push(format!(
                "{}: output {output:?} (want it to start {:?})",
                s.description, s.starts
            ));
        }
        // What the plugin printed, as Nagios split it: text | perfdata, then the long output.
        let mut whole = output.clone();
        if !perf.is_empty() {
            whole.push_str(&format!(" | {perf}"));
        }
        whole.push('\n');
        if !long.is_empty() {
            whole.push_str(&long);
            whole.push('\n');
        }
        let parsed = plugin::parse("SMTP", &whole, i32::from(s.state));
        if let (Err(why), true) = (&parsed, s.strict) {
            problems.push(format!(
                "{}: not a well-formed plugin run: {why}\n{whole}",
                s.description
            ));
        }
        for (label, warn) in s.perf {
            let item = parsed.as_ref().ok().and_then(|p| p.perf(label));
            match (item, warn) {
                (None, _) => {
                    problems.push(format!("{}: no perfdata {label}: {perf}", s.description))
                }
                (Some(i), Some(w)) if i.warn != *w => problems.push(format!(
                    "{}: {label} warn {:?} (want {w:?})",
                    s.description, i.warn
                )),
                _ => {}
            }
        }
        // The performance data file gets the same perfdata (its macro is not stripped of quotes).
        if !perf.is_empty()
            && !perf_file
                .lines()
                .any(|l| l.starts_with(s.description) && l.ends_with(&perf))
        {
            problems.push(format!("{}: perfdata file lacks {perf}", s.description));
        }
        shown.push(format!("{} = {state}", s.description));
    }
    if problems.is_empty() {
        Ok(format!("Nagios recorded: {}", shown.join(", ")))
    } else {
        Err(problems.join("\n"))
    }
}

/// smtp-doctor and check_smtp on the same lab server, run directly: where their conventions agree (state of a
/// healthy, a slow and a certificate-threshold case, the `time` perfdata, bad usage) and where check_smtp departs
/// from the guidelines and smtp-doctor does not (DNS failure, status line of a refused connect).
pub fn check_smtp_side_by_side() -> Result<String, String> {
    run_script("fault.sh", &["clear"], Duration::from_secs(60))?;
    let ca = format!("{}/ca.pem", state_dir());
    let binary = lab_binary().display().to_string();
    let doctor = |host: &str, args: &str| -> Result<(i32, String), String> {
        let mut c = script("run-client.sh");
        c.args([
            binary.as_str(),
            "check",
            host,
            "--format",
            "nagios",
            "--timeout",
            "2",
            "--ca-file",
            &ca,
        ])
        .args(args.split_whitespace());
        let (code, out, _) = run_bounded(c, Duration::from_secs(40))?;
        Ok((code.unwrap_or(-1), out))
    };
    let check_smtp = |host: &str, args: &str| -> Result<(i32, String), String> {
        let mut c = script("run-client.sh");
        c.args([CHECK_SMTP, "-H", host, "-t", "5"])
            .args(args.split_whitespace());
        let (code, out, _) = run_bounded(c, Duration::from_secs(40))?;
        Ok((code.unwrap_or(-1), out))
    };
    // (case, smtp-doctor's arguments, check_smtp's, both exit statuses, both strictly readable)
    #[allow(clippy::type_complexity)]
    let cases: &[(
        &str,
        &str,
        (&str, &str),
        (&str, &str),
        (i32, i32),
        (bool, bool),
    )] = &[
        (
            "healthy",
            MAIL,
            ("-p 25", "-p 25"),
            ("", ""),
            (0, 0),
            (true, true),
        ),
        (
            "slower than -w",
            MAIL,
            ("-p 25 -w 0.000001 -c 10", "-p 25 -w 0.000001 -c 10"),
            ("0.000001", "0.000001"),
            (1, 1),
            (true, true),
        ),
        (
            "certificate under 45 days",
            MAIL,
            ("-p 587 --cert-warning-days 45", "-p 587 -S -D 45"),
            ("", ""),
            (1, 1),
            (true, false),
        ),
        (
            "bad -w",
            MAIL,
            ("-p 25 -w abc", "-p 25 -w abc"),
            ("", ""),
            (3, 3),
            (true, false),
        ),
        (
            "refused connect",
            MAIL,
            ("-p 2526", "-p 2526"),
            ("", ""),
            (2, 2),
            (true, false),
        ),
        (
            "name does not exist",
            NOTHERE,
            ("-p 25", "-p 25"),
            ("", ""),
            (2, 3),
            (true, false),
        ),
    ];
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (
        case,
        host,
        (ours_args, theirs_args),
        (ours_warn, theirs_warn),
        (ours_code, theirs_code),
        (ours_strict, theirs_strict),
    ) in cases
    {
        let (oc, out) = doctor(host, ours_args)?;
        let (tc, their) = check_smtp(host, theirs_args)?;
        if (oc, tc) != (*ours_code, *theirs_code) {
            problems.push(format!("{case}: exit {oc} / check_smtp {tc} (want {ours_code} / {theirs_code})\n{out}{their}"));
            continue;
        }
        let ours = plugin::parse("SMTP", &out, oc);
        let theirs = plugin::parse("SMTP", &their, tc);
        if ours.is_ok() != *ours_strict || theirs.is_ok() != *theirs_strict {
            problems.push(format!("{case}: strictly readable {} / check_smtp {} (want {ours_strict} / {theirs_strict}): {:?} {:?}\n{out}{their}", ours.is_ok(), theirs.is_ok(), ours.as_ref().err(), theirs.as_ref().err()));
            continue;
        }
        // The total time: the same label, unit and lower bound in both; the warn field carries -w.
        if let (Ok(o), Ok(t)) = (&ours, &theirs) {
            let (ot, tt) = (o.perf("time"), t.perf("time"));
            let same = ot.zip(tt).is_some_and(|(a, b)| {
                a.uom == "s"
                    && b.uom == "s"
                    && a.min == Some(0.0)
                    && b.min == Some(0.0)
                    && a.warn == *ours_warn
                    && b.warn == *theirs_warn
            });
            if !same {
                problems.push(format!("{case}: time perfdata differs: {ot:?} / {tt:?}"));
            }
        }
        seen.push(format!("{case} {oc}/{tc}"));
    }
    if problems.is_empty() {
        Ok(format!("exit smtp-doctor/check_smtp: {}", seen.join(", ")))
    } else {
        Err(problems.join("\n"))
    }
}
