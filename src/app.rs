//! Runs a parsed command: builds the plan, probes, diagnoses, renders, and maps the result to an exit status.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::plan::{Output, Plan};
use crate::{diagnosis, generate, probes, render};

/// Every probed path works (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// A problem was diagnosed: the report names the layer.
pub const EXIT_PROBLEM: u8 = 1;
/// Bad usage: unknown flag, bad host, unreadable --ca-file, no password for --user.
pub const EXIT_USAGE: u8 = 2;
/// smtp-doctor itself could not run (no async runtime, output closed with an error).
pub const EXIT_INTERNAL: u8 = 3;

/// Each exit status with its meaning, for the man page and README.
pub const EXIT_CODES: [(u8, &str); 4] = [
    (EXIT_OK, "Every probed path works (warnings allowed): the report's ok is true."),
    (EXIT_PROBLEM, "A problem was diagnosed: the report's ok is false and verdict.layer names the layer."),
    (EXIT_USAGE, "Bad usage: unknown flag, bad host name, unreadable \\-\\-ca\\-file, no password for \\-\\-user."),
    (EXIT_INTERNAL, "smtp\\-doctor itself could not run (no async runtime, report could not be written)."),
];

/// Parses argv; an attempt to pass a password there is refused without echoing it (clap's own error would).
pub fn parse() -> Result<Cli, ExitCode> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::Parser;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => {
            let password_flag = e.kind() == ErrorKind::UnknownArgument
                && matches!(e.get(ContextKind::InvalidArg), Some(ContextValue::String(a))
                    if a == "--password" || a.starts_with("--password=") || a.starts_with("--pass=") || a == "--pass");
            if password_flag {
                eprintln!("smtp-doctor: {}", crate::plan::PlanError::PasswordInArgv);
                return Err(ExitCode::from(EXIT_USAGE));
            }
            // --help and --version are "errors" that print to stdout and succeed.
            let _ = e.print();
            Err(ExitCode::from(if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            }))
        }
    }
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(g) => {
            finish_output(generate::write(g.what, &mut io::stdout().lock()), EXIT_OK)
        }
        Command::Check(args) => {
            let plan = match Plan::from_args(&args) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("smtp-doctor: {e}");
                    return ExitCode::from(EXIT_USAGE);
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
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let report = match runtime.block_on(probes::run(plan)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("smtp-doctor: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let diagnosis = crate::explain::explain(&report, &diagnosis::diagnose(&report));
    let code = if diagnosis.ok { EXIT_OK } else { EXIT_PROBLEM };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = match plan.output {
        Output::Json => render::json(&mut out, &report, &diagnosis),
        Output::Human { color, verbose } => render::human(
            &mut out,
            &report,
            &diagnosis,
            render::Style { color, verbose },
        ),
    };
    finish_output(written.and_then(|_| out.flush()), code)
}

/// A closed pipe (`| head`) is not an error; anything else on stdout is.
fn finish_output(result: io::Result<()>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(code),
        Err(e) => {
            eprintln!("smtp-doctor: cannot write the report: {e}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}
