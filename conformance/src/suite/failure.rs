//! The one verdict type: what was expected, what happened, and which requirement that breaks.
//!
//! Three tiers use it, as complement's `match` / `should` / `must` packages do:
//!
//! - a *matcher* ([`crate::suite::matchers`]) looks at what was exchanged and returns a
//!   [`Mismatch`] (Expected and Actual) when it is not what the API requires;
//! - *should*: [`Mismatch::against`] charges a mismatch to a requirement and gives a [`Failure`]
//!   without failing anything (the fuzz oracle and the load marker work at this tier);
//! - *must*: only a step fails a scenario, by recording its [`Failure`] in the scenario's
//!   [`FailureLog`] (see `ChalkWorld::judge` and `ChalkWorld::must`) and returning [`Failed`]
//!   so that cucumber marks the step failed.
//!
//! A failure is usually charged to the scenario's own requirement, and sometimes to another one
//! (a frame that breaks its schema fails SCHEMA-004 whatever scenario it arrived in; a room that
//! never announces a newcomer fails PRES-001 while a chat scenario is being set up), or to none
//! (a fuzz case that hung). The report reads the requirement, Expected and Actual from the
//! [`Failure`] itself, taken out of the log; the text is only ever rendered, never parsed back.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::contract::judge::RequirementRef;

/// What was expected, and what was found instead: a matcher's verdict, not yet charged to a
/// requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the requirement calls for.
    pub expected: String,
    /// What the server did.
    pub actual: String,
}

impl Mismatch {
    /// A mismatch from two descriptions.
    pub fn new(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// This mismatch charged to `requirement`.
    pub fn against(self, requirement: RequirementRef) -> Failure {
        Failure {
            requirement: Some(requirement),
            expected: self.expected,
            actual: self.actual,
        }
    }

    /// This mismatch charged to no particular requirement (the case hung, provisioning failed).
    pub fn general(self) -> Failure {
        Failure {
            requirement: None,
            expected: self.expected,
            actual: self.actual,
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expected: {}\nActual:   {}", self.expected, self.actual)
    }
}

/// A failed check: a mismatch charged to the requirement it breaks, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The requirement that was broken; `None` for a finding about no particular requirement.
    pub requirement: Option<RequirementRef>,
    /// What the requirement calls for.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
}

impl Failure {
    /// The ID of the broken requirement, if the failure names one.
    pub fn violated(&self) -> Option<&str> {
        self.requirement.as_ref().map(|r| r.id.as_str())
    }

    /// The failure with every text passed through `redact`.
    pub fn redacted(&self, redact: impl Fn(&str) -> String) -> Self {
        Self {
            requirement: self.requirement.as_ref().map(|r| RequirementRef {
                id: redact(&r.id),
                title: redact(&r.title),
                level: r.level,
            }),
            expected: redact(&self.expected),
            actual: redact(&self.actual),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(requirement) = &self.requirement {
            writeln!(
                f,
                "[{}] {} ({})",
                requirement.id, requirement.title, requirement.level
            )?;
        }
        write!(f, "Expected: {}\nActual:   {}", self.expected, self.actual)
    }
}

impl std::error::Error for Failure {}

/// What a step returns when it failed its scenario: the [`Failure`] itself is already in the
/// scenario's [`FailureLog`], where the report takes it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the step failed (its failure is in the scenario's failure log)")
    }
}

impl std::error::Error for Failed {}

/// The failures of one scenario: the channel from its steps to the report.
///
/// The runner files each scenario's log with the report when the scenario starts, as it does
/// the transcript. Steps record into it, oldest first, and the report takes each failure out as
/// cucumber tells it that a step failed; the end-of-scenario frame check records apart, so that
/// it is never mistaken for a step's.
#[derive(Debug, Clone, Default)]
pub struct FailureLog(Arc<Mutex<Recorded>>);

#[derive(Debug, Default)]
struct Recorded {
    steps: VecDeque<Failure>,
    end: Option<Failure>,
}

impl FailureLog {
    /// Records the failure of a step.
    pub fn record(&self, failure: Failure) {
        self.lock().steps.push_back(failure);
    }

    /// Takes out the oldest step failure not taken yet.
    pub fn take(&self) -> Option<Failure> {
        self.lock().steps.pop_front()
    }

    /// Records the failure of the end-of-scenario check.
    pub fn record_at_end(&self, failure: Failure) {
        self.lock().end = Some(failure);
    }

    /// Takes out the failure of the end-of-scenario check.
    pub fn take_at_end(&self) -> Option<Failure> {
        self.lock().end.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::catalogue::Level;

    fn expired_tokens() -> RequirementRef {
        RequirementRef {
            id: "AUTH-009".into(),
            title: "Expired tokens refused".into(),
            level: Level::Must,
        }
    }

    #[test]
    fn the_text_names_its_requirement_first() {
        let failure =
            Mismatch::new("a refusal", "101 Switching Protocols").against(expired_tokens());
        assert_eq!(failure.violated(), Some("AUTH-009"));
        assert_eq!(
            failure.to_string(),
            "[AUTH-009] Expired tokens refused (must)\nExpected: a refusal\nActual:   101 Switching Protocols"
        );
    }

    #[test]
    fn a_general_failure_names_no_requirement() {
        let failure = Mismatch::new("the case finished", "it hung").general();
        assert_eq!(failure.violated(), None);
        assert_eq!(
            failure.to_string(),
            "Expected: the case finished\nActual:   it hung"
        );
    }

    #[test]
    fn the_log_gives_failures_back_oldest_first() {
        let log = FailureLog::default();
        let first = Mismatch::new("one", "two").against(expired_tokens());
        let second = Mismatch::new("three", "four").general();
        log.clone().record(first.clone());
        log.record(second.clone());
        assert_eq!(log.take(), Some(first));
        assert_eq!(log.take(), Some(second));
        assert_eq!(log.take(), None);
    }

    #[test]
    fn the_end_of_scenario_failure_is_kept_apart_from_the_steps() {
        let log = FailureLog::default();
        let end = Mismatch::new("valid frames", "a bad frame").against(expired_tokens());
        log.record_at_end(end.clone());
        assert_eq!(log.take(), None);
        assert_eq!(log.take_at_end(), Some(end));
        assert_eq!(log.take_at_end(), None);
    }

    #[test]
    fn redaction_reaches_every_text() {
        let failure = Mismatch::new("no s3cret", "s3cret shown").against(expired_tokens());
        let redacted = failure.redacted(|t| t.replace("s3cret", "[token]"));
        assert_eq!(redacted.expected, "no [token]");
        assert_eq!(redacted.actual, "[token] shown");
        assert_eq!(redacted.violated(), Some("AUTH-009"));
    }
}
