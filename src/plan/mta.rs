//! The checked plan of `smtp-doctor mta`: which Postfix instance, which recipient, the probe settings; and, once the MTA is read, the plan that probes the path it sends by, as it is configured.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::{Credentials, Envelope, Family, Plan, PlanError, ProbeOptions, Target};
use crate::cli::MtaArgs;
use crate::host::postfix::DEFAULT_CONFIG;
use crate::report::mta::{MtaFacts, ProbedKind, ProbedPath, Route};
use crate::report::PortMode;

/// The port MX hosts are probed on (server-to-server SMTP).
const MX_PORT: u16 = 25;

#[derive(Debug, Clone)]
pub struct MtaPlan {
    pub postfix_config: PathBuf,
    /// --postfix-config was given: Postfix is the MTA meant, whatever else is installed.
    pub postfix_named: bool,
    /// --to: the recipient whose MX hosts stand for "the Internet" when the MTA delivers directly.
    pub to: Option<lettre::Address>,
    /// --from: the sender the relay (or MX host) is asked about after the login.
    pub from: Option<lettre::Address>,
    pub options: ProbeOptions,
    /// The command line as typed, shell-quoted: the report quotes it to say how to run it again (with sudo).
    pub invocation: String,
}

impl MtaPlan {
    pub fn from_args(args: &MtaArgs) -> Result<MtaPlan, PlanError> {
        MtaPlan::build(args, std::io::stdout().is_terminal())
    }

    pub fn build(args: &MtaArgs, stdout_is_terminal: bool) -> Result<MtaPlan, PlanError> {
        let options = ProbeOptions::build(&args.probe, stdout_is_terminal)?;
        if options.output == super::Output::Prometheus {
            return Err(PlanError::PrometheusForMta);
        }
        let to = match &args.to {
            Some(text) => Some(super::address("--to", text)?),
            None => None,
        };
        let from = match &args.from {
            Some(text) => Some(super::address("--from", text)?),
            None => None,
        };
        let (postfix_config, postfix_named) = match &args.postfix_config {
            Some(dir) => {
                if !dir.join("main.cf").is_file() {
                    return Err(PlanError::NoPostfixConfig(dir.clone()));
                }
                (dir.clone(), true)
            }
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        Ok(MtaPlan {
            postfix_config,
            postfix_named,
            to,
            from,
            options,
            invocation: String::new(),
        })
    }

    /// The probe of the path the MTA sends by: its relay exactly as configured (host, port, TLS from the first byte
    /// or STARTTLS, the map's password when SASL is on), or port 25 of the MX hosts of --to when it delivers
    /// directly. None when there is nothing to probe (no MTA, no relay and no --to, a relay that is no host name).
    pub fn probe_plan(
        &self,
        facts: &MtaFacts,
        credentials: Option<Credentials>,
        trust: Vec<CertificateDer<'static>>,
    ) -> Option<(Plan, ProbedPath)> {
        let mut plan = Plan::with_options(self.options.clone());
        plan.invocation = self.invocation.clone();
        // -4/-6 win; otherwise the families the MTA itself uses (inet_protocols).
        if plan.family == Family::Any {
            plan.family = match (facts.families.v4, facts.families.v6) {
                (true, false) => Family::V4,
                (false, true) => Family::V6,
                _ => Family::Any,
            };
        }
        let mut roots = self.options.extra_roots.clone();
        roots.extend(trust);
        plan.extra_roots = Arc::new(roots);
        let probed = match &facts.route {
            Route::Relay(relay) => {
                plan.target = Target::parse(&relay.host).ok()?;
                let mode = if relay.implicit_tls {
                    PortMode::Implicit
                } else {
                    PortMode::Starttls
                };
                plan.ports = vec![(relay.port, mode)];
                // An unbracketed relay on port 25 is mail routing by MX, as --mx probes it.
                plan.mx = relay.mx_lookup && relay.port == MX_PORT;
                plan.credentials = credentials.filter(|_| facts.sasl.enabled);
                ProbedPath {
                    kind: ProbedKind::Relay,
                    target: relay.host.clone(),
                    ports: vec![relay.port],
                    user: plan.credentials.as_ref().map(|c| c.user.clone()),
                }
            }
            Route::Direct => {
                let to = self.to.as_ref()?;
                let domain = to.domain().to_string();
                plan.target = Target::parse(&domain).ok()?;
                plan.mx = true;
                ProbedPath {
                    kind: ProbedKind::RecipientMx,
                    target: domain,
                    ports: vec![MX_PORT],
                    user: None,
                }
            }
            Route::Invalid { .. } | Route::Unknown => return None,
        };
        plan.envelope = self.from.clone().map(|from| Envelope {
            from,
            to: self.to.clone().into_iter().collect(),
            send: false,
        });
        Some((plan, probed))
    }
}
