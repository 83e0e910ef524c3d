//! Writes the man page and shell completions from the clap definitions, so they can never drift from the flags.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateWhat};

pub fn write(what: GenerateWhat, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match what {
        GenerateWhat::Man => return clap_mangen::Man::new(cmd).render(out),
        GenerateWhat::Bash => Shell::Bash,
        GenerateWhat::Zsh => Shell::Zsh,
        GenerateWhat::Fish => Shell::Fish,
        GenerateWhat::Powershell => Shell::PowerShell,
        GenerateWhat::Elvish => Shell::Elvish,
    };
    clap_complete::generate(shell, &mut cmd, "smtp-doctor", out);
    Ok(())
}

/// Every generated file: its path in the repository and what produces it.
pub const FILES: [(&str, GenerateWhat); 6] = [
    ("man/smtp-doctor.1", GenerateWhat::Man),
    ("completions/smtp-doctor.bash", GenerateWhat::Bash),
    ("completions/_smtp-doctor", GenerateWhat::Zsh),
    ("completions/smtp-doctor.fish", GenerateWhat::Fish),
    ("completions/_smtp-doctor.ps1", GenerateWhat::Powershell),
    ("completions/smtp-doctor.elv", GenerateWhat::Elvish),
];
