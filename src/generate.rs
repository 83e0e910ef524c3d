//! Writes the man page and shell completions from the clap definitions, so they can never drift from the flags.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateWhat};

pub fn write(what: GenerateWhat, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match what {
        GenerateWhat::Man => return man_page(cmd, out),
        GenerateWhat::Bash => Shell::Bash,
        GenerateWhat::Zsh => Shell::Zsh,
        GenerateWhat::Fish => Shell::Fish,
        GenerateWhat::Powershell => Shell::PowerShell,
        GenerateWhat::Elvish => Shell::Elvish,
    };
    clap_complete::generate(shell, &mut cmd, "smtp-doctor", out);
    Ok(())
}

/// The top-level page, then each probing subcommand's synopsis and flags (`check`, `mta`), exit status and environment.
fn man_page(mut cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    cmd.build();
    let top = clap_mangen::Man::new(cmd.clone());
    top.render_title(out)?;
    top.render_name_section(out)?;
    top.render_synopsis_section(out)?;
    top.render_description_section(out)?;
    top.render_subcommands_section(out)?;
    for (name, title) in [("check", "CHECK"), ("mta", "MTA"), ("serve", "SERVE")] {
        let Some(sub) = cmd.find_subcommand(name) else {
            continue;
        };
        let page = clap_mangen::Man::new(sub.clone().bin_name(format!("smtp-doctor {name}")));
        let mut synopsis = Vec::new();
        page.render_synopsis_section(&mut synopsis)?;
        let mut description = Vec::new();
        page.render_description_section(&mut description)?;
        let mut options = Vec::new();
        page.render_options_section(&mut options)?;
        writeln!(out, ".SH \"{title}\"")?;
        out.write_all(&without_heading(&synopsis))?;
        if name != "check" {
            out.write_all(&without_heading(&description))?;
        }
        writeln!(out, ".SH \"{title} OPTIONS\"")?;
        out.write_all(&without_heading(&options))?;
        if name == "serve" {
            // serve's statuses differ from the probing commands' table below.
            let help = crate::serve::help();
            let mut lines = help.lines().skip(1);
            writeln!(out, ".SH \"SERVE EXIT STATUS\"")?;
            for line in lines.by_ref() {
                let (code, meaning) = line.trim().split_once("  ").unwrap_or(("", line));
                writeln!(out, ".TP\n{code}\n{}", roff(meaning.trim()))?;
            }
        }
    }
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (code, meaning) in crate::exit::TABLE {
        writeln!(out, ".TP\n{code}\n{}", roff(meaning))?;
    }
    writeln!(
        out,
        ".PP\nWith \\-\\-format nagios, the plugin states instead:"
    )?;
    for (code, state, meaning) in crate::exit::nagios::TABLE {
        writeln!(out, ".TP\n{code} ({state})\n{}", roff(meaning))?;
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    writeln!(
        out,
        ".TP\n{}\nThe password for \\-\\-user. Prefer it to any command-line form: argv is visible to every user in ps.",
        crate::plan::PASSWORD_ENV
    )?;
    writeln!(out, ".TP\nNO_COLOR\nWhen set and not empty, the human report has no colour (unless \\-\\-color always).")?;
    top.render_version_section(out)
}

/// Plain text as roff: a bare `-` is a hyphen there, and an option must keep its minus signs.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A rendered section without its own `.SH` heading, so it can sit under ours.
fn without_heading(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with(".SH")).collect();
    let mut out = kept.join("\n").into_bytes();
    out.push(b'\n');
    out
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

/// Where the README's table of finding codes sits; the text between the markers is generated.
pub const CODES_BEGIN: &str = "<!-- codes: generated from src/diagnosis/code.rs -->";
pub const CODES_END: &str = "<!-- end of codes -->";

/// The README's table of finding codes (code, layer, meaning, typical fix), from the one definition of the codes.
pub fn codes_table() -> String {
    let mut out = String::from("| code | layer | meaning | typical fix |\n|---|---|---|---|\n");
    for c in crate::diagnosis::Code::ALL {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            c.name(),
            c.layer().name(),
            c.meaning(),
            c.typical_fix()
        ));
    }
    out
}
