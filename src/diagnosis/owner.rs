//! Owner rules: the probing user passes, but rules keyed on the user stop or divert others (an application's user).

use crate::report::PathOutcome;

use super::attempt::At;
use super::{Code, Facts, Finding, OwnerEvidence, Severity};

/// A warning when this attempt's own path passes unchanged while a user the owner rules do not name is stopped or diverted.
pub(super) fn note(at: &At<'_>) -> Option<Finding> {
    let path = at.a.host_path.as_ref()?;
    let others = path.others.as_ref()?;
    if path.outcome != PathOutcome::Pass || path.nat.is_some() {
        return None;
    }
    let code = if others.outcome != PathOutcome::Pass {
        Code::OwnerRuleBlocksOthers
    } else if others.nat.is_some() {
        Code::OwnerRuleRedirectsOthers
    } else {
        return None;
    };
    Some(at.note(
        code,
        Severity::Warning,
        Facts::Owner(Box::new(OwnerEvidence {
            others: others.clone(),
            user: at.report.host.user.clone(),
        })),
    ))
}
