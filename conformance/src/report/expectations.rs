//! Expectations files (`--expectations FILE`): the failures a team knows about, written down as
//! data with a reason each, so that a known gap does not hide a new one.
//!
//! ```toml
//! [[expected]]
//! requirement = "CHAT-007"
//! reason = "timestamps are in server local time until ticket OPS-123 lands"
//! ```
//!
//! A failure charged to a listed requirement is reported as an *expected failure* and does not
//! fail the run. A listed requirement that passes is an *unexpected pass*: the gap was closed and
//! the file is stale, so the run fails until the entry is removed (the way web-platform-tests and
//! connectrpc treat their expectations). A listed requirement that this run did not check
//! (skipped, not declared, left out by `--tags`) is neither. An ID that is not in the catalogue,
//! or a retired one, is a configuration error: a typo must not silently expect nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::contract::catalogue::Catalogue;
use crate::report::results::{FailureDetail, Report, Status, UnexpectedPass, Verdict};

/// Why an expectations file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectationsError {
    /// The file cannot be read.
    #[error("cannot read the expectations file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file is not TOML of the expected shape.
    #[error("the expectations file {path} is not valid: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An entry names a requirement the catalogue does not have.
    #[error(
        "the expectations file {path} names {id:?}, which is not a requirement of the catalogue"
    )]
    UnknownRequirement {
        /// The file.
        path: String,
        /// The ID as written.
        id: String,
    },
    /// An entry names a retired requirement, which no scenario checks any more.
    #[error("the expectations file {path} names {id}, which is retired")]
    RetiredRequirement {
        /// The file.
        path: String,
        /// The ID.
        id: String,
    },
    /// Two entries name the same requirement.
    #[error("the expectations file {path} names {id} twice")]
    Duplicate {
        /// The file.
        path: String,
        /// The ID.
        id: String,
    },
    /// An entry gives no reason.
    #[error("the expectations file {path} gives no reason for {id}")]
    NoReason {
        /// The file.
        path: String,
        /// The ID.
        id: String,
    },
}

/// The shape of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectationsFile {
    #[serde(default)]
    expected: Vec<ExpectedEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedEntry {
    requirement: String,
    reason: String,
}

/// A checked expectations file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The file, as given on the command line.
    pub source: String,
    /// Requirement ID → why it is expected to fail.
    pub expected: BTreeMap<String, String>,
}

/// What applying the expectations to a report found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Scenarios whose failure was expected.
    pub expected_failures: usize,
    /// Listed requirements this run did not check, with their status.
    pub unchecked: Vec<(String, Status)>,
}

impl Expectations {
    /// Reads and checks `path` against the catalogue.
    pub fn load(path: &Path, catalogue: &Catalogue) -> Result<Self, ExpectationsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExpectationsError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &shown, catalogue)
    }

    /// Checks the text of an expectations file; `source` names it in messages.
    pub fn parse(
        text: &str,
        source: &str,
        catalogue: &Catalogue,
    ) -> Result<Self, ExpectationsError> {
        let file: ExpectationsFile =
            toml::from_str(text).map_err(|e| ExpectationsError::Malformed {
                path: source.to_owned(),
                reason: e.message().to_owned(),
            })?;
        let mut expected = BTreeMap::new();
        for entry in file.expected {
            let id = entry.requirement.trim().to_owned();
            let path = source.to_owned();
            match catalogue.requirement(&id) {
                None => return Err(ExpectationsError::UnknownRequirement { path, id }),
                Some(requirement) if requirement.retired => {
                    return Err(ExpectationsError::RetiredRequirement { path, id });
                }
                Some(_) => {}
            }
            let reason = entry.reason.trim().to_owned();
            if reason.is_empty() {
                return Err(ExpectationsError::NoReason { path, id });
            }
            if expected.insert(id.clone(), reason).is_some() {
                return Err(ExpectationsError::Duplicate { path, id });
            }
        }
        Ok(Self {
            source: source.to_owned(),
            expected,
        })
    }

    /// Why `id` is expected to fail, when it is listed.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.expected.get(id).map(String::as_str)
    }

    /// Whether the file lists nothing.
    pub fn is_empty(&self) -> bool {
        self.expected.is_empty()
    }

    /// Turns failures charged to listed requirements into expected failures, and records every
    /// listed requirement that passed as an unexpected pass (which fails the run).
    pub fn apply(&self, report: &mut Report, catalogue: &Catalogue) -> Applied {
        let mut applied = Applied::default();
        for entry in &mut report.entries {
            let charged = entry.charged_requirement().to_owned();
            let Some(reason) = self.reason(&charged) else {
                continue;
            };
            if let Verdict::Failed { detail, .. } = &entry.verdict {
                let detail: FailureDetail = detail.clone();
                entry.verdict = Verdict::ExpectedFailure {
                    detail,
                    reason: reason.to_owned(),
                };
                applied.expected_failures += 1;
            }
        }
        let outcomes = report.requirement_outcomes(catalogue);
        for (id, reason) in &self.expected {
            let status = outcomes
                .iter()
                .find(|o| &o.id == id)
                .map_or(Status::NotRun, |o| o.status);
            match status {
                Status::Pass => report.unexpected_passes.push(UnexpectedPass {
                    requirement: id.clone(),
                    reason: reason.clone(),
                    file: self.source.clone(),
                }),
                Status::Skipped | Status::NotDeclared | Status::NotRun => {
                    applied.unchecked.push((id.clone(), status));
                }
                Status::ExpectedFailure | Status::Fail | Status::Warn => {}
            }
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::sample;

    fn catalogue() -> Catalogue {
        Catalogue::bundled().expect("the catalogue parses")
    }

    fn parse(text: &str) -> Result<Expectations, ExpectationsError> {
        Expectations::parse(text, "expectations.toml", &catalogue())
    }

    #[test]
    fn an_empty_file_expects_nothing() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing yet\n").unwrap().is_empty());
    }

    #[test]
    fn refuses_unknown_ids_duplicates_missing_reasons_and_stray_keys() {
        let entry = |id: &str, reason: &str| {
            format!("[[expected]]\nrequirement = \"{id}\"\nreason = \"{reason}\"\n")
        };
        assert!(matches!(
            parse(&entry("CHAT-999", "typo")),
            Err(ExpectationsError::UnknownRequirement { .. })
        ));
        assert!(matches!(
            parse(&format!(
                "{}{}",
                entry("CHAT-007", "a"),
                entry("CHAT-007", "b")
            )),
            Err(ExpectationsError::Duplicate { .. })
        ));
        assert!(matches!(
            parse(&entry("CHAT-007", "  ")),
            Err(ExpectationsError::NoReason { .. })
        ));
        assert!(matches!(
            parse("[[expected]]\nrequirement = \"CHAT-007\"\nreason = \"x\"\nticket = 1\n"),
            Err(ExpectationsError::Malformed { .. })
        ));
        let message = parse(&entry("chat-7", "x")).unwrap_err().to_string();
        assert!(message.contains("\"chat-7\""), "{message}");
    }

    #[test]
    fn listed_failures_become_expected_and_listed_passes_become_unexpected() {
        let catalogue = catalogue();
        let mut report = sample::report();
        let expectations = parse(
            "[[expected]]\nrequirement = \"AUTH-009\"\nreason = \"OPS-1\"\n\
             [[expected]]\nrequirement = \"AUTH-001\"\nreason = \"OPS-2\"\n\
             [[expected]]\nrequirement = \"REC-001\"\nreason = \"OPS-3\"\n",
        )
        .unwrap();
        let applied = expectations.apply(&mut report, &catalogue);
        assert_eq!(applied.expected_failures, 1);
        assert_eq!(
            applied.unchecked,
            vec![("REC-001".to_owned(), Status::Skipped)]
        );
        let auth_009 = report
            .entries
            .iter()
            .find(|e| e.planned.requirement.id == "AUTH-009")
            .unwrap();
        assert_eq!(auth_009.verdict.status(), Status::ExpectedFailure);
        assert_eq!(
            auth_009.verdict.reason().as_deref(),
            Some("expected failure: OPS-1")
        );
        assert_eq!(
            report.unexpected_passes,
            vec![UnexpectedPass {
                requirement: "AUTH-001".to_owned(),
                reason: "OPS-2".to_owned(),
                file: "expectations.toml".to_owned(),
            }]
        );
        assert!(!report.conformant());
    }

    #[test]
    fn a_failure_charged_elsewhere_stays_a_failure() {
        let catalogue = catalogue();
        let mut report = sample::report();
        // CHAT-001's scenario failed because a frame broke SCHEMA-004: expecting CHAT-001 to
        // fail does not excuse a schema violation.
        let expectations =
            parse("[[expected]]\nrequirement = \"CHAT-001\"\nreason = \"x\"\n").unwrap();
        expectations.apply(&mut report, &catalogue);
        let chat = report
            .entries
            .iter()
            .find(|e| e.planned.requirement.id == "CHAT-001")
            .unwrap();
        assert_eq!(chat.verdict.status(), Status::Fail);
        assert!(report.unexpected_passes.is_empty());
    }
}
