//! The smtp-doctor binary: parse the command line, run, turn the outcome into an exit status.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = smtp_doctor::cli::Cli::parse();
    smtp_doctor::app::run(cli)
}
