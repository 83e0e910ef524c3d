//! Runs a parsed command: builds the plan, probes, diagnoses, explains, writes the output, and returns its exit status.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit;
use crate::output::{self, Format, Style};
use crate::plan::{Output, Plan};
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
        Command::Check(args) => {
            let plan = match Plan::from_args(&args) {
                Ok(p) => Plan {
                    invocation: crate::plan::shell_words(std::env::args()),
                    ..p
                },
                Err(e) => {
                    eprintln!("smtp-doctor: {e}");
                    return ExitCode::from(exit::USAGE);
                }
            };
            check(&plan)
        }
    }
}

fn check(plan: &Plan) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-doctor: cannot start the async runtime: {e}; check the process limits (ulimit -n, ulimit -u)");
            return ExitCode::from(exit::INTERNAL);
        }
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
    let format = match plan.output {
        Output::Json => Format::Json,
        Output::Human { color, verbose } => Format::Human(Style { color, verbose }),
    };
    let code = output::exit_status(format, &explained);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = output::write(format, &mut out, &report, &explained);
    finish_output(written.and_then(|_| out.flush()), code)
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
