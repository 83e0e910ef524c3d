//! One address of one port: runs the stage deciders in the order the chain ran and keeps every failed stage.

use crate::report::{
    Attempt, AuthOutcome, ConnectOutcome, PortMode, PortReport, Report, StageName, StageStatus,
};

use super::session::EhloCall;
use super::{auth, connect, envelope, interception, owner, session, tls};
use super::{Code, Confidence, Facts, Finding, Severity};

/// The report, the port and the address a decider looks at, and how it makes a finding about them.
pub(super) struct At<'a> {
    pub report: &'a Report,
    pub pr: &'a PortReport,
    pub a: &'a Attempt,
}

impl At<'_> {
    pub fn finding(&self, code: Code, confidence: Confidence, facts: Facts) -> Finding {
        Finding {
            code,
            severity: Severity::Error,
            confidence,
            host: self.pr.host.clone(),
            port: Some(self.pr.port),
            address: Some(self.a.address),
            facts,
            others: Vec::new(),
            other_addresses_work: false,
        }
    }

    pub fn note(&self, code: Code, severity: Severity, facts: Facts) -> Finding {
        Finding {
            severity,
            ..self.finding(code, Confidence::High, facts)
        }
    }

    /// The port was probed as (or turned out to speak) implicit TLS.
    pub fn implicit(&self) -> bool {
        self.pr.mode == PortMode::Implicit || self.a.speaks == Some(PortMode::Implicit)
    }
}

/// What one attempt says, before ports and families are weighed.
#[derive(Debug, Clone, Default)]
pub(super) struct AttemptCall {
    /// Every failed stage, first failure first; the first decides the attempt's layer.
    pub errors: Vec<Finding>,
    /// Warnings and notes that do not fail the attempt.
    pub notes: Vec<Finding>,
    /// How far the chain got before its first failure, to pick the most telling address.
    pub progress: u8,
    /// A signal stopped the chain: the stages from the interrupted one on decide nothing.
    pub interrupted: bool,
}

impl AttemptCall {
    pub fn error(&self) -> Option<&Finding> {
        self.errors.first()
    }

    /// Neither failed nor known to work: a signal stopped it before any finished stage failed.
    pub fn undecided(&self) -> bool {
        self.interrupted && self.errors.is_empty()
    }

    fn cut(mut self) -> AttemptCall {
        self.interrupted = true;
        self
    }

    fn fail(&mut self, progress: u8, f: Finding) {
        if self.errors.is_empty() {
            self.progress = progress;
        }
        self.errors.push(f);
    }
}

/// How far a chain that failed nowhere got.
const COMPLETE: u8 = 8;

pub(super) fn call_attempt(report: &Report, pr: &PortReport, a: &Attempt) -> AttemptCall {
    let at = At { report, pr, a };
    let mut call = AttemptCall {
        progress: COMPLETE,
        ..AttemptCall::default()
    };
    // A stage a signal cut has no outcome: its decider (which reads missing facts as silence or a timeout) and
    // every later one are skipped; what the finished stages proved still counts.
    let cut = a
        .stages
        .iter()
        .find(|s| s.status == StageStatus::Interrupted)
        .map(|s| s.name);
    let cut_at = |names: &[StageName]| cut.is_some_and(|c| names.contains(&c));
    if cut_at(&[StageName::Connect]) {
        return call.cut();
    }
    if a.connect.outcome != ConnectOutcome::Connected {
        call.fail(0, connect::decide(&at));
        return call;
    }
    call.notes.extend(owner::note(&at));
    // Nothing said after an interception or a mode mix-up is about the server asked for.
    if let Some(f) = interception::decide(&at) {
        call.fail(1, f);
        return call;
    }
    match interception::proxy(&at) {
        Some(f) if f.severity == Severity::Error => {
            call.fail(1, f);
            return call;
        }
        Some(f) => call.notes.push(f),
        None => {}
    }
    if let Some(f) = tls::wrong_mode(&at) {
        call.fail(2, f);
        return call;
    }
    if at.implicit() {
        if cut_at(&[StageName::Tls]) {
            return call.cut();
        }
        if let Some(f) = tls::implicit_handshake(&at) {
            call.fail(1, f);
            return call;
        }
    }
    if cut_at(&[StageName::Greeting]) {
        return call.cut();
    }
    if let Some(f) = session::greeting(&at) {
        call.fail(1, f);
        return call;
    }
    if cut_at(&[StageName::Ehlo]) {
        return call.cut();
    }
    if !at.implicit() {
        match session::ehlo(&at, a.ehlo.as_ref(), false) {
            EhloCall::Failed(f) => {
                call.fail(2, f);
                return call;
            }
            EhloCall::Passed(note) => call.notes.extend(note),
        }
    }
    if cut_at(&[StageName::Tls]) {
        return call.cut();
    }
    let tls = tls::decide(&at);
    call.notes.extend(tls.notes);
    let tls_failed = !tls.errors.is_empty();
    for f in tls.errors {
        call.fail(3 + u8::from(tls.session_went_on), f);
    }
    if !tls.session_went_on {
        return call;
    }
    if cut_at(&[StageName::EhloTls]) {
        return call.cut();
    }
    if tls.established {
        if let EhloCall::Failed(f) = session::ehlo(&at, a.ehlo_tls.as_ref(), true) {
            call.fail(5, f);
            return call;
        }
    }
    let withheld_for_tls = a
        .auth
        .as_ref()
        .is_some_and(|x| x.outcome == AuthOutcome::RefusedCleartext);
    if cut_at(&[StageName::Auth]) {
        return call.cut();
    }
    // A password withheld because TLS already failed is a consequence, not a finding of its own.
    if !(tls_failed && withheld_for_tls) {
        if let Some(f) = auth::decide(&at) {
            call.fail(6, f);
        }
    }
    call.notes.extend(auth::notes(&at));
    if cut_at(&[StageName::MailFrom, StageName::RcptTo, StageName::Data]) {
        return call.cut();
    }
    if let Some(f) = envelope::decide(&at) {
        call.fail(7, f);
    }
    // An interrupted QUIT decides nothing: every stage that could fail had finished.
    call
}
