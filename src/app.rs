//! Runs a parsed command: builds the plan, probes, diagnoses, explains, writes the output, and returns its exit status.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{Cli, Command, FormatChoice};
use crate::exit;
use crate::interrupt::Stop;
use crate::output::{self, Format, Style};
use crate::plan::{MtaPlan, Output, Plan};
use crate::report::mta::{MtaFacts, MtaInterruption, MtaKind, MtaReport};
use crate::{diagnosis, explain, generate, probes};

/// Parses argv; an attempt to pass a password there is refused without echoing it (clap's own error would).
pub fn parse() -> Result<Cli, ExitCode> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => Ok(cli),
        Err(e) => {
            let password_flag = e.kind() == ErrorKind::UnknownArgument
                && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(a))
                    if a == "--password" || a.starts_with("--password=") || a.starts_with("--pass=") || a == "--pass");
            if password_flag {
                eprintln!("smtp-doctor: {}", crate::plan::PlanError::PasswordInArgv);
                return Err(ExitCode::from(exit::USAGE));
            }
            // Monitoring reads stdout and takes exit status 2 for CRITICAL: a plugin's bad usage is UNKNOWN, said there.
            if e.use_stderr() && nagios_in_argv() {
                let _ = e.print();
                let reason = e.render().to_string();
                let first = reason.lines().next().unwrap_or("bad usage");
                return Err(nagios_unknown(first.trim_start_matches("error: ")));
            }
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            Err(ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            }))
        }
    }
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(g) => {
            finish_output(generate::write(g.what, &mut io::stdout().lock()), exit::OK)
        }
        Command::Check(args) if crate::plan::is_fleet(&args) => {
            match crate::plan::FleetPlan::from_args(&args) {
                Ok(p) => fleet(&p.with_invocation(&invocation())),
                Err(e) => usage_error(e, args.probe.format == FormatChoice::Nagios),
            }
        }
        Command::Check(args) => match Plan::from_args(&args) {
            Ok(p) => check(&Plan {
                invocation: invocation(),
                ..p
            }),
            Err(e) => usage_error(e, args.probe.format == FormatChoice::Nagios),
        },
        Command::Serve(args) => crate::serve::run(&args),
        Command::Mta(args) => match MtaPlan::from_args(&args) {
            Ok(p) => mta(&MtaPlan {
                invocation: invocation(),
                ..p
            }),
            Err(e) => usage_error(e, args.probe.format == FormatChoice::Nagios),
        },
    }
}

/// Whether argv asks for --format nagios: read before clap has parsed it, to say a parse error the plugin's way.
fn nagios_in_argv() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--format=nagios")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "nagios")
}

/// `SMTP UNKNOWN - reason` on stdout, where Nagios and Icinga read it, and the plugin's UNKNOWN status.
fn nagios_unknown(reason: &str) -> ExitCode {
    let written = output::nagios::write_unknown(&mut io::stdout().lock(), reason);
    finish_output(written, exit::nagios::UNKNOWN)
}

/// A failure of smtp-doctor itself: on stderr, and for a plugin on stdout as UNKNOWN (the same status, 3).
fn internal_error(format: Format, reason: &str) -> ExitCode {
    eprintln!("smtp-doctor: {reason}");
    match format {
        Format::Nagios(_) => nagios_unknown(reason),
        Format::Human(_) | Format::Json | Format::Prometheus => ExitCode::from(exit::INTERNAL),
    }
}

/// The command line as typed, shell-quoted: reports quote it to say how to run it again (with sudo).
fn invocation() -> String {
    crate::plan::shell_words(std::env::args())
}

fn usage_error(e: crate::plan::PlanError, nagios: bool) -> ExitCode {
    eprintln!("smtp-doctor: {e}");
    if nagios {
        return nagios_unknown(&e.to_string());
    }
    ExitCode::from(exit::USAGE)
}

/// The runtime every probing command runs on, or why the process may not start one.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}; check the process limits (ulimit -n, ulimit -u)"))
}

fn format_of(output: Output) -> Format {
    match output {
        Output::Json => Format::Json,
        Output::Human { color, verbose } => Format::Human(Style { color, verbose }),
        Output::Nagios(t) => Format::Nagios(t),
        Output::Prometheus => Format::Prometheus,
    }
}

/// Reads the MTA, probes the path it sends by (as configured), diagnoses both, and writes the report.
fn mta(plan: &MtaPlan) -> ExitCode {
    let format = format_of(plan.options.output);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(why) => return internal_error(format, &why),
    };
    let stop = listen(&runtime);
    let start = std::time::Instant::now();
    let gathered = runtime.block_on(async {
        // Cut while the MTA is read: nothing of it is known, and nothing is probed.
        let Some(g) = stop.or(probes::mta::gather(plan)).await else {
            return (MtaFacts::new(MtaKind::None), None, true);
        };
        let mut facts = g.facts;
        let probe = match plan.probe_plan(&facts, g.credentials, g.trust) {
            Some((probe_plan, probed)) => {
                facts.probed = Some(probed);
                Some(probes::run(&probe_plan, &stop).await)
            }
            None => None,
        };
        (facts, probe, false)
    });
    let (facts, probe, reading_mta) = gathered;
    let probe = match probe.transpose() {
        Ok(p) => p,
        Err(e) => return internal_error(format, &e.to_string()),
    };
    let cut = reading_mta || probe.as_ref().is_some_and(|p| p.interrupted.is_some());
    let report = MtaReport {
        mta: facts,
        probe,
        invocation: plan.invocation.clone(),
        elapsed_ms: probes::elapsed_ms(start),
        interrupted: stop.signal().filter(|_| cut).map(|signal| MtaInterruption {
            signal,
            reading_mta,
        }),
    };
    let diagnosis = diagnosis::mta::diagnose(&report);
    let explained = explain::mta::explain(&report, &diagnosis);
    let code = output::mta::exit_status(format, &report, &explained);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = output::mta::write(format, &mut out, &report, &explained);
    let status = finish_output(written.and_then(|_| out.flush()), code);
    leave(runtime, &stop);
    status
}

fn check(plan: &Plan) -> ExitCode {
    let format = format_of(plan.output);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(why) => return internal_error(format, &why),
    };
    let stop = listen(&runtime);
    let report = match runtime.block_on(probes::run(plan, &stop)) {
        Ok(r) => r,
        Err(e) => return internal_error(format, &e.to_string()),
    };
    let diagnosis = diagnosis::diagnose(&report);
    let explained = explain::explain(&report, &diagnosis);
    let code = output::exit_status(format, &report, &explained);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = output::write(format, &mut out, &report, &explained);
    let status = finish_output(written.and_then(|_| out.flush()), code);
    leave(runtime, &stop);
    status
}

/// Ctrl-C and SIGTERM stop this run's probes from now on (a second one exits at once).
fn listen(runtime: &tokio::runtime::Runtime) -> Stop {
    let _inside = runtime.enter();
    crate::interrupt::listen()
}

/// Drops the runtime; after a signal, without waiting for work the signal left behind (a probe cut mid-way).
fn leave(runtime: tokio::runtime::Runtime, stop: &Stop) {
    if stop.signal().is_some() {
        runtime.shutdown_background();
    }
}

/// Several targets: each written as it finishes, their exit status together.
fn fleet(plan: &crate::plan::FleetPlan) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(why) => {
            eprintln!("smtp-doctor: {why}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let stop = listen(&runtime);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let status = match crate::fleet::run(&runtime, plan, &stop, &mut out, &mut io::stderr()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            ExitCode::from(exit::INTERNAL)
        }
    };
    leave(runtime, &stop);
    status
}

/// A closed pipe (`| head`) is not an error; anything else on stdout is.
fn finish_output(result: io::Result<()>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(code),
        Err(e) => {
            eprintln!("smtp-doctor: cannot write the report: {e}");
            ExitCode::from(exit::INTERNAL)
        }
    }
}
