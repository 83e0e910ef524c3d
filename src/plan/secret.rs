//! The password: where it may come from (environment, standard input, a prompt without echo) and how it never prints.

use std::fmt;
use std::io::{BufRead, Write};

use super::PlanError;

/// A user name and password; the password never prints, not even in Debug.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    password: String,
}

impl Credentials {
    pub fn new(user: String, password: String) -> Self {
        Credentials { user, password }
    }
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Where the password comes from; separated so tests can feed it without a terminal.
pub struct PasswordSources<'a> {
    pub env: Option<String>,
    pub stdin: &'a mut dyn BufRead,
    pub stdin_is_terminal: bool,
}

pub(super) fn read_password(
    from_stdin: bool,
    src: PasswordSources<'_>,
) -> Result<String, PlanError> {
    let pw = if from_stdin {
        let mut line = String::new();
        src.stdin
            .read_line(&mut line)
            .map_err(PlanError::PasswordRead)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(env) = src.env {
        env
    } else if src.stdin_is_terminal {
        prompt_no_echo("Password: ").map_err(PlanError::PasswordRead)?
    } else {
        return Err(PlanError::NoPassword);
    };
    if pw.is_empty() {
        return Err(PlanError::EmptyPassword);
    }
    Ok(pw)
}

/// Prompts on the terminal with echo off, restoring the terminal even when reading fails.
fn prompt_no_echo(prompt: &str) -> std::io::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let fd = stdin.lock();
    let original = tcgetattr(&fd).map_err(std::io::Error::from)?;
    let mut silent = original.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    silent.local_flags.insert(LocalFlags::ECHONL);
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    tcsetattr(&fd, SetArg::TCSANOW, &silent).map_err(std::io::Error::from)?;
    let mut line = String::new();
    let result = std::io::stdin().lock().read_line(&mut line);
    let restore = tcsetattr(&fd, SetArg::TCSANOW, &original);
    result?;
    restore.map_err(std::io::Error::from)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
