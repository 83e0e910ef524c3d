//! The plan of a run over several targets (HOSTs, --targets, --json-lines): one checked Plan per target, or why that target cannot be probed.

use std::ffi::OsString;
use std::io::IsTerminal;

use super::secret::read_password;
use super::targets::{self, TargetSpec};
use super::{
    address, host_ports, Credentials, Envelope, HostInput, Output, PasswordSources, Plan,
    PlanError, ProbeOptions,
};
use crate::cli::CheckArgs;

/// Whether `check` runs as a fleet: several HOSTs, a targets file, or one report per line asked for.
pub fn is_fleet(args: &CheckArgs) -> bool {
    args.targets.is_some() || args.hosts.len() > 1 || args.json_lines
}

/// Everything a run over several targets needs, checked.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// In the order given: the HOSTs of the command line, then the file's targets.
    pub targets: Vec<FleetTarget>,
    /// Most targets probed at the same time.
    pub concurrency: usize,
    pub format: FleetFormat,
    /// The options every target shares (trust, timeout, resolver, EHLO name, --as-user); the run's shared state is built from it.
    pub base: Plan,
}

/// One target: what was written, and its plan or why it is not probed.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    pub name: Option<String>,
    /// The HOST argument or the file's host, as written.
    pub input: String,
    pub plan: Result<Plan, Unprobed>,
}

/// How the results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetFormat {
    /// --json: one document at the end.
    Document,
    /// --json-lines: one object per line as each target finishes.
    Lines,
    /// --format prometheus: one exposition of every target, written at the end.
    Prometheus,
    /// Each report for people as it finishes, then the summary table; `progress` draws a line on stderr meanwhile.
    Human {
        color: bool,
        verbose: bool,
        progress: bool,
    },
}

/// Why one target of a run is not probed while the others are: its own fault, reported beside their reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unprobed {
    #[error("not probed: the environment variable {var}, which holds the password of {user}, is not set; \
             export it before the run (export {var}=…), or fix password_env in the targets file")]
    PasswordUnset { var: String, user: String },
    #[error("not probed: the environment variable {var}, which holds the password of {user}, is empty; \
             export the password in it, or fix password_env in the targets file")]
    PasswordEmpty { var: String, user: String },
    #[error("not probed: the environment variable {var}, which holds the password of {user}, is not text (UTF-8); \
             export the password as text")]
    PasswordNotText { var: String, user: String },
}

impl Unprobed {
    /// The stable name of the reason, for JSON and the summary table.
    pub fn code(&self) -> &'static str {
        match self {
            Unprobed::PasswordUnset { .. } => "password_unset",
            Unprobed::PasswordEmpty { .. } => "password_empty",
            Unprobed::PasswordNotText { .. } => "password_not_text",
        }
    }
}

/// Whether stdout and stderr are terminals: colour and the progress line follow them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminals {
    pub stdout: bool,
    pub stderr: bool,
}

impl FleetPlan {
    /// Builds the plan from this process's standard input, environment and terminals.
    pub fn from_args(args: &CheckArgs) -> Result<FleetPlan, PlanError> {
        let terminals = Terminals {
            stdout: std::io::stdout().is_terminal(),
            stderr: std::io::stderr().is_terminal(),
        };
        super::with_process_passwords(|sources| {
            FleetPlan::build(args, sources, &|k| std::env::var_os(k), terminals)
        })
    }

    /// `env` looks up the variables a targets file names for its passwords.
    pub fn build(
        args: &CheckArgs,
        passwords: PasswordSources<'_>,
        env: &dyn Fn(&str) -> Option<OsString>,
        terminals: Terminals,
    ) -> Result<FleetPlan, PlanError> {
        let concurrency = usize::from(args.concurrency).max(1);
        if args.env_file.is_some() {
            if args.targets.is_some() || args.hosts.len() > 1 {
                return Err(PlanError::EnvFileSeveral);
            }
            // --json-lines on the app's settings: its one target, as a line.
            let plan = Plan::build(args, passwords, terminals.stdout)?;
            let input = args
                .env_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return Ok(FleetPlan {
                targets: vec![FleetTarget {
                    name: None,
                    input,
                    plan: Ok(plan.clone()),
                }],
                concurrency,
                format: format(args, plan.output, terminals)?,
                base: plan,
            });
        }
        let specs = match &args.targets {
            Some(path) => targets::load(path)?,
            None => Vec::new(),
        };
        if args.hosts.is_empty() {
            if let Some(flag) = args
                .typed
                .iter()
                .find(|f| matches!(**f, "--user" | "--password-stdin"))
            {
                return Err(PlanError::LoginWithoutHosts { flag });
            }
        }
        // Every HOST is checked before the password is asked for: a typo should not cost a prompt.
        let family = super::family(&args.probe);
        let mut hosts = Vec::new();
        for h in &args.hosts {
            let input = HostInput::parse(h)?;
            let ports = host_ports(&input, &args.ports, args.mode, family)?;
            hosts.push((h.clone(), input, ports));
        }
        let as_user = match &args.as_user {
            Some(name) => Some(super::run_as::resolve(
                name,
                nix::unistd::geteuid().is_root(),
            )?),
            None => None,
        };
        let options = ProbeOptions::build(&args.probe, terminals.stdout)?;
        let output = options.output;
        let base = Plan {
            mx: args.mx,
            as_user,
            ..Plan::with_options(options)
        };
        let cli_from = args
            .from
            .as_deref()
            .map(|f| address("--from", f))
            .transpose()?;
        let cli_to = args
            .to
            .iter()
            .map(|t| address("--to", t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets = Vec::with_capacity(hosts.len() + specs.len());
        if !hosts.is_empty() {
            if cli_from.is_none() && !cli_to.is_empty() {
                return Err(PlanError::ToWithoutFrom);
            }
            // One login for every HOST, its password read once.
            let credentials = match &args.user {
                Some(user) => Some(Credentials::new(
                    user.clone(),
                    read_password(args.password_stdin, passwords)?,
                )),
                None => None,
            };
            let envelope = cli_from.clone().map(|from| Envelope {
                from,
                to: cli_to.clone(),
                send: args.send,
            });
            for (written, input, ports) in hosts {
                targets.push(FleetTarget {
                    name: None,
                    input: written,
                    plan: Ok(Plan {
                        target: input.target,
                        ports,
                        credentials: credentials.clone(),
                        envelope: envelope.clone(),
                        ..base.clone()
                    }),
                });
            }
        }
        if let Some(path) = &args.targets {
            for spec in specs {
                let plan = file_target(args, &spec, &base, &cli_from, &cli_to, env).map_err(
                    |(line, key, why)| PlanError::TargetsFile {
                        path: path.clone(),
                        line: Some(line),
                        key: Some(key.into()),
                        why,
                    },
                )?;
                targets.push(FleetTarget {
                    name: spec.name.clone(),
                    input: spec.host.clone(),
                    plan,
                });
            }
        }
        Ok(FleetPlan {
            targets,
            concurrency,
            format: format(args, output, terminals)?,
            base,
        })
    }

    /// Every plan carries the command line as typed, to say how to run it again (with sudo).
    pub fn with_invocation(mut self, invocation: &str) -> FleetPlan {
        self.base.invocation = invocation.to_string();
        for t in &mut self.targets {
            if let Ok(p) = &mut t.plan {
                p.invocation = invocation.to_string();
            }
        }
        self
    }
}

fn format(
    args: &CheckArgs,
    output: Output,
    terminals: Terminals,
) -> Result<FleetFormat, PlanError> {
    Ok(match output {
        _ if args.json_lines => FleetFormat::Lines,
        Output::Json => FleetFormat::Document,
        Output::Prometheus => FleetFormat::Prometheus,
        // A plugin is one service: one server, one state.
        Output::Nagios(_) => return Err(PlanError::NagiosOneTarget),
        Output::Human { color, verbose } => FleetFormat::Human {
            color,
            verbose,
            progress: terminals.stderr,
        },
    })
}

/// A line, a key and why: an error of the targets file found once the command line is known.
type FileError = (usize, &'static str, String);

/// One target of the file as a plan: its own keys first, the command line's -p, --mode, --from and --to where it has none.
fn file_target(
    args: &CheckArgs,
    spec: &TargetSpec,
    base: &Plan,
    cli_from: &Option<lettre::Address>,
    cli_to: &[lettre::Address],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Result<Plan, Unprobed>, FileError> {
    let mode = spec.mode.or(args.mode);
    let ports = host_ports(
        &spec.input,
        spec.ports.as_deref().unwrap_or(&args.ports),
        mode,
        base.family,
    )
    .map_err(|e| {
        let (line, key) = match (&e, spec.lines.mode) {
            (PlanError::ModeConflict { .. }, Some(l)) => (l, "mode"),
            _ => (spec.lines.host, "host"),
        };
        (line, key, e.to_string())
    })?;
    let from = spec.from.clone().or_else(|| cli_from.clone());
    let to = if spec.to.is_empty() {
        cli_to.to_vec()
    } else {
        spec.to.clone()
    };
    let envelope = match from {
        Some(from) => Some(Envelope {
            from,
            send: args.send && !to.is_empty(),
            to,
        }),
        None if !to.is_empty() => {
            return Err((
                spec.lines.to.unwrap_or(spec.lines.host),
                "to",
                "a recipient needs a sender: add from = \"app@example.com\" to this target, or pass --from".into(),
            ))
        }
        None => None,
    };
    let credentials = match &spec.login {
        Some(login) => match password(&login.password_env, &login.user, env) {
            Ok(p) => Some(Credentials::new(login.user.clone(), p)),
            Err(why) => return Ok(Err(why)),
        },
        None => None,
    };
    Ok(Ok(Plan {
        target: spec.input.target.clone(),
        ports,
        credentials,
        envelope,
        ..base.clone()
    }))
}

/// The password a target names by its variable; its absence is this target's own fault, not the run's.
fn password(
    var: &str,
    user: &str,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<String, Unprobed> {
    let (var, user) = (var.to_string(), user.to_string());
    match env(&var).map(OsString::into_string) {
        None => Err(Unprobed::PasswordUnset { var, user }),
        Some(Err(_)) => Err(Unprobed::PasswordNotText { var, user }),
        Some(Ok(p)) if p.is_empty() => Err(Unprobed::PasswordEmpty { var, user }),
        Some(Ok(p)) => Ok(p),
    }
}

#[cfg(test)]
mod tests;
