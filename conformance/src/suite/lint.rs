//! The rules the features must keep, checked against the catalogue.
//!
//! - every scenario carries exactly one `@req.<ID>` tag naming an active catalogue entry, and
//!   exactly one level tag (`@must`, `@should`, `@extension`) equal to that entry's level;
//! - every `Rule:` starts with the ID its scenarios cite;
//! - `@needs.<capability>` tags name capabilities the catalogue knows, and `@origins.<mode>`
//!   tags an origin mode (`exact`, `patterns`);
//! - every scenario has exactly one `When`, and no host, port, sleep or retry in its steps;
//! - every `must` and `should` requirement has at least one scenario.

use std::collections::BTreeSet;
use std::fmt;

use cucumber::gherkin::{self, StepType};

use crate::contract::catalogue::{Catalogue, KNOWN_NEEDS, Level};
use crate::suite::plan::{
    ScenarioKey, all_scenarios, effective_tags, level_tags, need_tags, origin_mode_tag,
    requirement_tags,
};

/// Words that betray mechanics in a declarative feature.
const FORBIDDEN_WORDS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "ws://",
    "wss://",
    "sleep",
    "retry",
    "port 80",
];

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintProblem {
    /// Where (a scenario, or the catalogue for missing coverage).
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for LintProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

/// Every broken rule of `features` against `catalogue`; empty when all is well.
pub fn lint(features: &[gherkin::Feature], catalogue: &Catalogue) -> Vec<LintProblem> {
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for (feature, rule, scenario) in all_scenarios(features) {
        let place = format!("{} {:?}", ScenarioKey::of(feature, scenario), scenario.name);
        let mut report = |problem: String| {
            problems.push(LintProblem {
                place: place.clone(),
                problem,
            })
        };
        let tags = effective_tags(feature, rule, scenario);
        let ids = requirement_tags(&tags);
        let levels = level_tags(&tags);
        if ids.len() != 1 {
            report(format!("has {} @req tags, needs exactly one", ids.len()));
        }
        if levels.len() != 1 {
            report(format!(
                "has {} level tags, needs exactly one of @must, @should, @extension",
                levels.len()
            ));
        }
        if let [id] = ids.as_slice() {
            match catalogue.requirement(id) {
                None => report(format!("cites {id}, which is not in the catalogue")),
                Some(r) if r.retired => report(format!("cites {id}, which is retired")),
                Some(r) => {
                    covered.insert(r.id.clone());
                    if let [level] = levels.as_slice()
                        && *level != r.level
                    {
                        report(format!("is tagged @{level} but {id} is {}", r.level));
                    }
                    if let Some(rule) = rule
                        && !rule.name.starts_with(&format!("{id} "))
                    {
                        report(format!(
                            "is under the rule {:?}, which does not start with {id}",
                            rule.name
                        ));
                    }
                }
            }
        }
        for need in need_tags(&tags) {
            if !KNOWN_NEEDS.contains(&need) {
                report(format!(
                    "@needs.{need} is not a known need ({})",
                    KNOWN_NEEDS.join(", ")
                ));
            }
        }
        if let Some(Err(unknown)) = origin_mode_tag(&tags) {
            report(unknown);
        }
        let whens = scenario
            .steps
            .iter()
            .filter(|s| s.ty == StepType::When)
            .count();
        if whens != 1 {
            report(format!("has {whens} When steps, needs exactly one"));
        }
        for step in &scenario.steps {
            let text = format!(
                "{} {}",
                step.value,
                step.docstring.as_deref().unwrap_or_default()
            )
            .to_lowercase();
            if let Some(word) = FORBIDDEN_WORDS.iter().find(|w| text.contains(*w)) {
                report(format!(
                    "step {:?} mentions {word:?}; features stay declarative",
                    step.value
                ));
            }
        }
    }
    for requirement in catalogue.active() {
        if matches!(requirement.level, Level::Must | Level::Should)
            && !covered.contains(&requirement.id)
        {
            problems.push(LintProblem {
                place: "spec/requirements.toml".to_owned(),
                problem: format!("{} ({}) has no scenario", requirement.id, requirement.level),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use cucumber::gherkin::GherkinEnv;

    fn feature(text: &str) -> gherkin::Feature {
        let mut feature = gherkin::Feature::parse(text, GherkinEnv::default()).unwrap();
        feature.path = Some("features/test.feature".into());
        feature
    }

    fn problems(text: &str) -> Vec<String> {
        let catalogue = Catalogue::bundled().unwrap();
        lint(&[feature(text)], &catalogue)
            .into_iter()
            .filter(|p| p.place != "spec/requirements.toml")
            .map(|p| p.problem)
            .collect()
    }

    #[test]
    fn a_well_formed_scenario_passes() {
        let text = "Feature: F\n  Rule: AUTH-001 Header tokens\n    @req.AUTH-001 @must\n    Scenario: S\n      When Alice connects\n      Then the upgrade is accepted\n";
        assert_eq!(problems(text), Vec::<String>::new());
    }

    #[test]
    fn finds_missing_double_unknown_and_wrong_tags() {
        let text = "Feature: F\n  Scenario: none\n    When a\n  @req.AUTH-001 @req.AUTH-002 @must\n  Scenario: two\n    When a\n  @req.NOPE-001 @must\n  Scenario: unknown\n    When a\n  @req.AUTH-001 @should\n  Scenario: level\n    When a\n";
        let found = problems(text);
        assert!(found.iter().any(|p| p.contains("0 @req tags")), "{found:?}");
        assert!(found.iter().any(|p| p.contains("2 @req tags")), "{found:?}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("NOPE-001, which is not in the catalogue")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("tagged @should but AUTH-001 is must")),
            "{found:?}"
        );
    }

    #[test]
    fn finds_unknown_origin_modes() {
        let text = "Feature: F\n  Rule: ORIGIN-005 Look-alikes\n    @req.ORIGIN-005 @should @origins.loose\n    Scenario: S\n      When Mallory connects from the null origin\n";
        let found = problems(text);
        assert!(
            found
                .iter()
                .any(|p| p.contains("@origins.loose names no origin mode")),
            "{found:?}"
        );
    }

    #[test]
    fn finds_mechanics_and_extra_whens() {
        let text = "Feature: F\n  @req.AUTH-001 @must\n  Scenario: S\n    When Alice connects to ws://localhost:80\n    And Bob connects\n";
        let found = problems(text);
        assert!(
            found.iter().any(|p| p.contains("2 When steps")),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.contains("localhost")), "{found:?}");
    }

    #[test]
    fn finds_uncovered_requirements() {
        let catalogue = Catalogue::bundled().unwrap();
        let found = lint(&[], &catalogue);
        assert!(
            found
                .iter()
                .any(|p| p.problem.starts_with("AUTH-001 (must) has no scenario"))
        );
        assert!(!found.iter().any(|p| p.problem.starts_with("PING-004")));
    }
}
