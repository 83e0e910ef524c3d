//! The smtp-doctor binary: parse the command line, run, turn the outcome into an exit status.

fn main() -> std::process::ExitCode {
    match smtp_doctor::app::parse() {
        Ok(cli) => smtp_doctor::app::run(cli),
        Err(code) => code,
    }
}
