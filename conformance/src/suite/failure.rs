//! How a failed check reads: the requirement, what was expected, what happened.
//!
//! A step that fails returns a [`Failure`]. Its text starts with the ID of the requirement that
//! was broken in brackets, which is usually the scenario's own requirement, and sometimes another
//! one (a frame that breaks its schema fails SCHEMA-004 whatever scenario it arrived in; a room
//! that never announces a newcomer fails PRES-001 while a chat scenario is being set up). The
//! report reads the ID back with [`requirement_of`] to count the failure at the right level.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::contract::judge::RequirementRef;
use crate::suite::matchers::Mismatch;

/// `[AUTH-009]` at the start of a failure's text.
static REQUIREMENT_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([A-Z]+-\d{3})\]").expect("valid regex"));

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The requirement that was broken.
    pub requirement: RequirementRef,
    /// What the requirement calls for.
    pub expected: String,
    /// What happened instead.
    pub actual: String,
}

impl Failure {
    /// A failure of `requirement` from a mismatch.
    pub fn new(requirement: RequirementRef, mismatch: Mismatch) -> Self {
        Self {
            requirement,
            expected: mismatch.expected,
            actual: mismatch.actual,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} ({})\nExpected: {}\nActual:   {}",
            self.requirement.id,
            self.requirement.title,
            self.requirement.level,
            self.expected,
            self.actual
        )
    }
}

impl std::error::Error for Failure {}

/// The requirement ID a failure text names, if it names one.
pub fn requirement_of(text: &str) -> Option<&str> {
    REQUIREMENT_MARK
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::catalogue::Level;

    #[test]
    fn the_text_names_its_requirement_first() {
        let failure = Failure::new(
            RequirementRef {
                id: "AUTH-009".into(),
                title: "Expired tokens refused".into(),
                level: Level::Must,
            },
            Mismatch::new("a refusal", "101 Switching Protocols"),
        );
        let text = failure.to_string();
        assert_eq!(requirement_of(&text), Some("AUTH-009"));
        assert!(text.contains("\nExpected: a refusal\nActual:   101 Switching Protocols"));
        assert_eq!(requirement_of("no mark here"), None);
    }
}
