//! Runs a parsed command: builds the plan, probes, diagnoses, explains, writes the output, and returns its exit status.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit;
use crate::output::{self, Format, Style};
use crate::plan::{MtaPlan, Output, Plan};
use crate::report::mta::MtaReport;
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
                Err(e) => usage_error(e),
            }
        }
        Command::Check(args) => match Plan::from_args(&args) {
            Ok(p) => check(&Plan {
                invocation: invocation(),
                ..p
            }),
            Err(e) => usage_error(e),
        },
        Command::Mta(args) => match MtaPlan::from_args(&args) {
            Ok(p) => mta(&MtaPlan {
                invocation: invocation(),
                ..p
            }),
            Err(e) => usage_error(e),
        },
    }
}

/// The command line as typed, shell-quoted: reports quote it to say how to run it again (with sudo).
fn invocation() -> String {
    crate::plan::shell_words(std::env::args())
}

fn usage_error(e: crate::plan::PlanError) -> ExitCode {
    eprintln!("smtp-doctor: {e}");
    ExitCode::from(exit::USAGE)
}

/// The runtime every probing command runs on; None (after saying why) when the process may not start one.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("smtp-doctor: cannot start the async runtime: {e}; check the process limits (ulimit -n, ulimit -u)");
            None
        }
    }
}

fn format_of(output: Output) -> Format {
    match output {
        Output::Json => Format::Json,
        Output::Human { color, verbose } => Format::Human(Style { color, verbose }),
    }
}

/// Reads the MTA, probes the path it sends by (as configured), diagnoses both, and writes the report.
fn mta(plan: &MtaPlan) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::from(exit::INTERNAL);
    };
    let start = std::time::Instant::now();
    let gathered = runtime.block_on(async {
        let g = probes::mta::gather(plan).await;
        let mut facts = g.facts;
        let probe = match plan.probe_plan(&facts, g.credentials, g.trust) {
            Some((probe_plan, probed)) => {
                facts.probed = Some(probed);
                Some(probes::run(&probe_plan).await)
            }
            None => None,
        };
        (facts, probe)
    });
    let (facts, probe) = gathered;
    let probe = match probe.transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let report = MtaReport {
        mta: facts,
        probe,
        invocation: plan.invocation.clone(),
        elapsed_ms: probes::elapsed_ms(start),
    };
    let diagnosis = diagnosis::mta::diagnose(&report);
    let explained = explain::mta::explain(&report, &diagnosis);
    let format = format_of(plan.options.output);
    let code = output::mta::exit_status(&explained);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = output::mta::write(format, &mut out, &report, &explained);
    finish_output(written.and_then(|_| out.flush()), code)
}

fn check(plan: &Plan) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::from(exit::INTERNAL);
    };
    let report = match runtime.block_on(probes::run(plan)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let diagnosis = diagnosis::diagnose(&report);
    let explained = explain::explain(&report, &diagnosis);
    let format = format_of(plan.output);
    let code = output::exit_status(format, &explained);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = output::write(format, &mut out, &report, &explained);
    finish_output(written.and_then(|_| out.flush()), code)
}

/// Several targets: each written as it finishes, their exit status together.
fn fleet(plan: &crate::plan::FleetPlan) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::from(exit::INTERNAL);
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match crate::fleet::run(&runtime, plan, &mut out, &mut io::stderr()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            ExitCode::from(exit::INTERNAL)
        }
    }
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
