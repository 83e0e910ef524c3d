//! smtp-doctor: probes a mail server stage by stage and names the layer that keeps this host from sending mail.

pub mod app;
pub mod cli;
pub mod diagnosis;
pub mod exit;
pub mod explain;
pub mod fleet;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod generate;
pub mod host;
pub mod interrupt;
pub mod output;
pub mod plan;
pub mod probes;
pub mod redact;
pub mod report;
pub mod serve;
