//! The results of a run as one model: what became of every planned scenario (its steps, their
//! timings, the failure's Expected and Actual, the whole wire transcript) and what the run was.
//!
//! Every output reads this model and none keeps its own: the console report ([`crate::report::console`]),
//! the JUnit and Cucumber JSON files ([`crate::report::export`]), the HTML report
//! ([`crate::report::html_report`]), the Markdown summary ([`crate::report::summary`]) and the run-result JSON
//! ([`RunResults`]), which the docs site ([`crate::commands::docs`]) reads back to show each
//! requirement's latest result. Everything in the model has already been through the run's
//! redactor.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contract::catalogue::{Catalogue, Level};
use crate::driver::transcript;
use crate::suite::failure::Failure;
use crate::suite::plan::{Disposition, Plan, PlannedScenario, ScenarioKey};

/// The `format` of the run-result JSON; bumped only when a field changes meaning or goes away
/// (`/2`: statuses are spelt like the keys, `not_declared` and `not_run`).
pub const RESULTS_FORMAT: &str = "chalk-conformance-results/2";

/// The formats [`RunResults`] still reads: `/1` spelt `not-declared` and `not-run`.
pub const READABLE_RESULTS_FORMATS: [&str; 2] = ["chalk-conformance-results/1", RESULTS_FORMAT];

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It did not run: an earlier step failed, or it has no definition.
    Skipped,
}

/// One step of a scenario that ran.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// `Given`, `When`, `Then`, `And`.
    pub keyword: String,
    /// The step's text.
    pub text: String,
    /// Its line.
    pub line: usize,
    /// How it went.
    pub status: StepStatus,
    /// How long it took.
    pub duration: Duration,
}

/// Why a scenario failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetail {
    /// The failing step, if a step failed (rather than the end-of-scenario frame check).
    pub step: Option<String>,
    /// What failed, redacted.
    pub cause: Cause,
    /// The scenario's wire transcript up to the failure, as text, redacted.
    pub transcript: String,
}

/// What made a scenario fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A check failed: the requirement, Expected and Actual, as the step recorded them.
    Check(Failure),
    /// The scenario could not be judged (a step panicked, has no definition, or the scenario
    /// never ran to its end): only why, without Expected and Actual.
    Reason(String),
}

impl FailureDetail {
    /// The requirement the failure names, if it names one.
    pub fn violated(&self) -> Option<&str> {
        match &self.cause {
            Cause::Check(failure) => failure.violated(),
            Cause::Reason(_) => None,
        }
    }

    /// The failure as text: the requirement's line, `Expected:` and `Actual:`, or the reason.
    pub fn message(&self) -> String {
        match &self.cause {
            Cause::Check(failure) => failure.to_string(),
            Cause::Reason(reason) => reason.clone(),
        }
    }

    /// The Expected and Actual of a failed check (a step that could not run says only why).
    pub fn expected_actual(&self) -> Option<(String, String)> {
        match &self.cause {
            Cause::Check(failure) => Some((
                failure.expected.trim().to_owned(),
                failure.actual.trim().to_owned(),
            )),
            Cause::Reason(_) => None,
        }
    }

    /// The title of what broke, or the whole reason when the failure has no Expected/Actual.
    pub fn headline(&self) -> String {
        match &self.cause {
            Cause::Check(Failure {
                requirement: Some(requirement),
                ..
            }) => format!("{} ({})", requirement.title, requirement.level)
                .trim()
                .to_owned(),
            cause => {
                let message = match cause {
                    Cause::Check(failure) => failure.to_string(),
                    Cause::Reason(reason) => reason.clone(),
                };
                message.lines().next().unwrap_or("failed").trim().to_owned()
            }
        }
    }

    /// One line for summaries: `expected …; got …`, or the reason.
    pub fn one_line(&self) -> String {
        match self.expected_actual() {
            Some((expected, actual)) => {
                format!("expected {}; got {}", flatten(&expected), flatten(&actual))
            }
            None => flatten(&self.message()),
        }
    }
}

/// Text on one line: runs of whitespace, newlines included, become one space.
fn flatten(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The result of one scenario that ran.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Which scenario.
    pub key: ScenarioKey,
    /// Its steps.
    pub steps: Vec<StepResult>,
    /// `None` when it passed.
    pub failure: Option<FailureDetail>,
    /// How long it took.
    pub duration: Duration,
    /// Everything its connections sent and received, on one timeline, redacted.
    pub transcript: Vec<transcript::Entry>,
}

/// Whether a failure makes the run fail: anything but a `should` requirement's own failure,
/// and that too under `--strict`.
pub fn counts_as_failure(
    planned: &PlannedScenario,
    failure: &FailureDetail,
    catalogue: &Catalogue,
    strict: bool,
) -> bool {
    let level = failure
        .violated()
        .and_then(|id| catalogue.requirement(id))
        .map_or(planned.requirement.level, |r| r.level);
    strict || level != Level::Should
}

/// What became of one planned scenario.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// It ran and passed.
    Passed,
    /// It ran and failed; `counts` says whether the failure fails the run.
    Failed {
        /// Why.
        detail: FailureDetail,
        /// Whether it fails the run (false for a `should` warning).
        counts: bool,
    },
    /// It ran and failed as the run was told to expect; the failure does not fail the run.
    ExpectedFailure {
        /// Why it failed.
        detail: FailureDetail,
        /// Why the failure was expected (the expectation's own words).
        reason: String,
    },
    /// It did not apply to this run.
    Skipped(String),
    /// Its extension was not declared.
    NotDeclared(String),
}

impl Verdict {
    /// The verdict's status.
    pub fn status(&self) -> Status {
        match self {
            Verdict::Passed => Status::Pass,
            Verdict::Failed { counts: true, .. } => Status::Fail,
            Verdict::Failed { counts: false, .. } => Status::Warn,
            Verdict::ExpectedFailure { .. } => Status::ExpectedFailure,
            Verdict::Skipped(_) => Status::Skipped,
            Verdict::NotDeclared(_) => Status::NotDeclared,
        }
    }

    /// The failure, for verdicts that have one.
    pub fn failure(&self) -> Option<&FailureDetail> {
        match self {
            Verdict::Failed { detail, .. } | Verdict::ExpectedFailure { detail, .. } => {
                Some(detail)
            }
            _ => None,
        }
    }

    /// Why the scenario did not count as a pass or a failure (a skip's reason, the undeclared
    /// extension, the expectation), in words.
    pub fn reason(&self) -> Option<String> {
        match self {
            Verdict::Skipped(reason) => Some(reason.clone()),
            Verdict::NotDeclared(extension) => Some(format!("not declared: extension {extension}")),
            Verdict::ExpectedFailure { reason, .. } => Some(format!("expected failure: {reason}")),
            _ => None,
        }
    }
}

/// A scenario's or a requirement's status, in the words every output uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A failure that fails the run.
    Fail,
    /// A `should` failure without `--strict`.
    Warn,
    /// A failure the run was told to expect.
    #[serde(rename = "xfail")]
    ExpectedFailure,
    /// Ran and passed.
    Pass,
    /// Could not apply to this run; the reason says why.
    Skipped,
    /// An extension the server does not claim.
    #[serde(alias = "not-declared")]
    NotDeclared,
    /// Not run at all: left out by `--tags`/`--name`, or no scenario.
    #[serde(alias = "not-run")]
    NotRun,
}

impl Status {
    /// Every status, worst first.
    pub const ALL: [Status; 7] = [
        Status::Fail,
        Status::Warn,
        Status::ExpectedFailure,
        Status::Pass,
        Status::Skipped,
        Status::NotDeclared,
        Status::NotRun,
    ];

    /// The short machine name: `fail`, `warn`, `xfail`, `pass`, `skipped`, `not_declared`,
    /// `not_run`, spelt like the run-result JSON's keys (filters, the run-result JSON and CSS
    /// classes use it).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::ExpectedFailure => "xfail",
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::NotDeclared => "not_declared",
            Status::NotRun => "not_run",
        }
    }

    /// The word a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Status::Fail => "failed",
            Status::Warn => "warning",
            Status::ExpectedFailure => "expected failure",
            Status::Pass => "passed",
            Status::Skipped => "skipped",
            Status::NotDeclared => "not declared",
            Status::NotRun => "not run",
        }
    }

    /// The status named by [`as_str`](Self::as_str).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The worse of two statuses: a requirement is as bad as its worst scenario.
    pub fn worst(self, other: Status) -> Status {
        self.min(other)
    }
}

/// One planned scenario with its verdict.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The scenario.
    pub planned: PlannedScenario,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its steps, when it ran.
    pub steps: Vec<StepResult>,
    /// How long it took, when it ran.
    pub duration: Duration,
    /// Its wire transcript, when it ran.
    pub transcript: Vec<transcript::Entry>,
}

impl Entry {
    /// The requirement this entry's outcome counts against: the one its failure names, or its
    /// own.
    pub fn charged_requirement(&self) -> &str {
        self.verdict
            .failure()
            .and_then(FailureDetail::violated)
            .unwrap_or(&self.planned.requirement.id)
    }
}

/// Counts of one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Passed.
    pub passed: usize,
    /// Failed, failing the run.
    pub failed: usize,
    /// Failed, as a warning.
    pub warned: usize,
    /// Failed as expected.
    #[serde(default)]
    pub expected_failures: usize,
    /// Skipped for a reason.
    pub skipped: usize,
    /// Extension not declared.
    pub not_declared: usize,
}

impl Tally {
    /// Counts one status.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Warn => self.warned += 1,
            Status::ExpectedFailure => self.expected_failures += 1,
            Status::Skipped => self.skipped += 1,
            Status::NotDeclared => self.not_declared += 1,
            Status::NotRun => {}
        }
    }

    /// Everything counted.
    pub fn total(&self) -> usize {
        self.passed
            + self.failed
            + self.warned
            + self.expected_failures
            + self.skipped
            + self.not_declared
    }
}

/// What the run was: where it pointed, when, with which suite.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// The suite's version.
    pub suite_version: String,
    /// The run id that prefixes everything the run created.
    pub run_id: String,
    /// The WebSocket URL judged, without credentials (see [`crate::driver::redact::url_without_credentials`]).
    pub target: String,
    /// What the target is, when the suite knows (`embedded reference server`).
    pub target_label: Option<String>,
    /// When the scenarios started, RFC 3339 in UTC.
    pub started_at: String,
    /// The extensions the server claims.
    pub declared: Vec<String>,
    /// The Origin header of connections meant to succeed.
    pub origin: Option<String>,
    /// How the deployment validates origins (`exact` or `patterns`, `--origin-mode`).
    pub origin_mode: String,
    /// How participants were provisioned, in words.
    pub provisioning: String,
}

/// The whole run's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every selected scenario, in feature order.
    pub entries: Vec<Entry>,
    /// Whether `should` failures fail the run.
    pub strict: bool,
    /// How many `must` scenarios may be skipped for a missing capability before the run cannot
    /// judge (`--max-skipped-must`); `None`: any number.
    pub max_skipped_must: Option<usize>,
    /// Errors cucumber reported about the features.
    pub errors: Vec<String>,
    /// Scenarios `--tags`/`--name` left out.
    pub not_selected: usize,
    /// Wall time of the scenarios.
    pub elapsed: Duration,
    /// What the run was.
    pub run: RunInfo,
    /// Requirements the expectations file says fail, which passed (see [`crate::report::expectations`]).
    pub unexpected_passes: Vec<UnexpectedPass>,
}

/// A requirement an expectations file lists as failing, which passed: the file is stale, and the
/// run fails until the entry is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnexpectedPass {
    /// The requirement's ID.
    pub requirement: String,
    /// The reason the file gave for expecting it to fail.
    pub reason: String,
    /// The expectations file.
    pub file: String,
}

/// A requirement of the catalogue with what the run found about it.
#[derive(Debug, Clone)]
pub struct RequirementOutcome {
    /// The requirement's ID.
    pub id: String,
    /// Its status: the worst of its scenarios and of failures elsewhere that name it.
    pub status: Status,
    /// Indexes into [`Report::entries`] of its own scenarios.
    pub scenarios: Vec<usize>,
    /// Indexes into [`Report::entries`] of other requirements' scenarios whose failure names it.
    pub broken_in: Vec<usize>,
}

impl Report {
    /// Joins the plan with the results.
    pub fn assemble(
        plan: &Plan,
        results: Vec<ScenarioResult>,
        errors: Vec<String>,
        catalogue: &Catalogue,
        strict: bool,
        elapsed: Duration,
    ) -> Self {
        let mut results: HashMap<ScenarioKey, ScenarioResult> =
            results.into_iter().map(|r| (r.key.clone(), r)).collect();
        let entries = plan
            .scenarios
            .iter()
            .map(|planned| {
                let (verdict, steps, duration, transcript) = match &planned.disposition {
                    Disposition::Skip(unmet) => (
                        Verdict::Skipped(unmet.to_string()),
                        Vec::new(),
                        Duration::ZERO,
                        Vec::new(),
                    ),
                    Disposition::NotDeclared(ext) => (
                        Verdict::NotDeclared(ext.clone()),
                        Vec::new(),
                        Duration::ZERO,
                        Vec::new(),
                    ),
                    Disposition::Run => match results.remove(&planned.key) {
                        Some(result) => {
                            let verdict = match result.failure {
                                None => Verdict::Passed,
                                Some(detail) => Verdict::Failed {
                                    counts: counts_as_failure(planned, &detail, catalogue, strict),
                                    detail,
                                },
                            };
                            (verdict, result.steps, result.duration, result.transcript)
                        }
                        None => (
                            Verdict::Failed {
                                detail: FailureDetail {
                                    step: None,
                                    cause: Cause::Reason(
                                        "the scenario did not run to its end".to_owned(),
                                    ),
                                    transcript: String::new(),
                                },
                                counts: true,
                            },
                            Vec::new(),
                            Duration::ZERO,
                            Vec::new(),
                        ),
                    },
                };
                Entry {
                    planned: planned.clone(),
                    verdict,
                    steps,
                    duration,
                    transcript,
                }
            })
            .collect();
        Self {
            entries,
            strict,
            max_skipped_must: None,
            errors,
            not_selected: plan.not_selected,
            elapsed,
            run: RunInfo::default(),
            unexpected_passes: Vec::new(),
        }
    }

    /// Counts per level.
    pub fn tallies(&self) -> BTreeMap<Level, Tally> {
        let mut tallies: BTreeMap<Level, Tally> = [Level::Must, Level::Should, Level::Extension]
            .into_iter()
            .map(|l| (l, Tally::default()))
            .collect();
        for entry in &self.entries {
            tallies
                .entry(entry.planned.requirement.level)
                .or_default()
                .add(entry.verdict.status());
        }
        tallies
    }

    /// Counts per area of the catalogue (areas without a selected scenario are left out).
    pub fn area_tallies(&self, catalogue: &Catalogue) -> BTreeMap<&'static str, Tally> {
        let mut tallies = BTreeMap::new();
        for entry in &self.entries {
            if let Some(requirement) = catalogue.requirement(&entry.planned.requirement.id) {
                tallies
                    .entry(requirement.area.as_str())
                    .or_insert_with(Tally::default)
                    .add(entry.verdict.status());
            }
        }
        tallies
    }

    /// Whether the server conforms: nothing failed that counts, the features were sound, and no
    /// expected failure passed.
    pub fn conformant(&self) -> bool {
        self.errors.is_empty()
            && self.unexpected_passes.is_empty()
            && !self
                .entries
                .iter()
                .any(|e| matches!(e.verdict, Verdict::Failed { counts: true, .. }))
    }

    /// The counts of the whole run, every status in the words of the verdict table:
    /// `N passed, N failed, N warned, N failed as expected, N skipped, N not declared`.
    /// "Skipped" means what it means in the header and the table: could not apply to this run
    /// (undeclared extensions are counted apart).
    pub fn closing_line(&self) -> String {
        let total = self
            .tallies()
            .values()
            .fold(Tally::default(), |mut sum, t| {
                sum.passed += t.passed;
                sum.failed += t.failed;
                sum.warned += t.warned;
                sum.expected_failures += t.expected_failures;
                sum.skipped += t.skipped;
                sum.not_declared += t.not_declared;
                sum
            });
        format!(
            "{} passed, {} failed, {} warned, {} failed as expected, {} skipped, {} not declared",
            total.passed,
            total.failed,
            total.warned,
            total.expected_failures,
            total.skipped,
            total.not_declared
        )
    }

    /// The `must` scenarios skipped because the run lacks what they need, counted per need
    /// (not those written for the other origin mode, which do not apply to the deployment).
    pub fn skipped_must(&self) -> BTreeMap<&str, usize> {
        let mut needs = BTreeMap::new();
        for entry in &self.entries {
            if entry.planned.requirement.level == Level::Must
                && let Disposition::Skip(unmet) = &entry.planned.disposition
                && unmet.applies
            {
                *needs.entry(unmet.need.as_str()).or_default() += 1;
            }
        }
        needs
    }

    /// `18 must scenarios skipped (needs rest-api)`, or with several needs
    /// `6 must scenarios skipped (needs forge-tokens: 4, recordings: 2)`; `None` when no `must`
    /// scenario was skipped.
    pub fn skipped_must_text(&self) -> Option<String> {
        let needs = self.skipped_must();
        let total: usize = needs.values().sum();
        if total == 0 {
            return None;
        }
        let needs = if needs.len() == 1 {
            needs.keys().copied().collect::<Vec<_>>().join("")
        } else {
            needs
                .iter()
                .map(|(need, count)| format!("{need}: {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Some(format!(
            "{total} must scenario{} skipped (needs {needs})",
            if total == 1 { "" } else { "s" }
        ))
    }

    /// Whether more `must` scenarios were skipped than `--max-skipped-must` allows: the run
    /// could not judge what it was asked to.
    pub fn too_many_skipped_must(&self) -> bool {
        self.max_skipped_must
            .is_some_and(|max| self.skipped_must().values().sum::<usize>() > max)
    }

    /// Every active requirement of the catalogue, in catalogue order, with its status and the
    /// scenarios that decided it.
    pub fn requirement_outcomes(&self, catalogue: &Catalogue) -> Vec<RequirementOutcome> {
        catalogue
            .active()
            .map(|requirement| {
                let mut outcome = RequirementOutcome {
                    id: requirement.id.clone(),
                    status: Status::NotRun,
                    scenarios: Vec::new(),
                    broken_in: Vec::new(),
                };
                for (index, entry) in self.entries.iter().enumerate() {
                    if entry.planned.requirement.id == requirement.id {
                        outcome.scenarios.push(index);
                    } else if entry.charged_requirement() == requirement.id {
                        outcome.broken_in.push(index);
                    } else {
                        continue;
                    }
                    // `NotRun` is the mildest status, so the first scenario replaces it.
                    outcome.status = outcome.status.worst(entry.verdict.status());
                }
                outcome
            })
            .collect()
    }

    /// The run-result JSON document of this report.
    pub fn run_results(&self, catalogue: &Catalogue) -> RunResults {
        let requirements = self
            .requirement_outcomes(catalogue)
            .into_iter()
            .filter_map(|outcome| {
                let requirement = catalogue.requirement(&outcome.id)?;
                Some(RequirementResult {
                    id: outcome.id,
                    level: requirement.level.as_str().to_owned(),
                    area: requirement.area.as_str().to_owned(),
                    title: requirement.title.clone(),
                    status: outcome.status,
                    scenarios: outcome
                        .scenarios
                        .iter()
                        .map(|&i| self.entries[i].planned.key.to_string())
                        .collect(),
                })
            })
            .collect();
        let scenarios = self
            .entries
            .iter()
            .map(|entry| {
                let failure = entry.verdict.failure().map(|detail| {
                    let (expected, actual) = detail.expected_actual().unzip();
                    FailureResult {
                        violated: entry.charged_requirement().to_owned(),
                        step: detail.step.clone(),
                        headline: detail.headline(),
                        expected,
                        actual,
                    }
                });
                ScenarioRecord {
                    requirement: entry.planned.requirement.id.clone(),
                    name: entry.planned.name.clone(),
                    feature: entry.planned.feature.clone(),
                    location: entry.planned.key.to_string(),
                    status: entry.verdict.status(),
                    duration_ms: millis(entry.duration),
                    reason: entry.verdict.reason(),
                    failure,
                }
            })
            .collect();
        RunResults {
            format: RESULTS_FORMAT.to_owned(),
            suite_version: self.run.suite_version.clone(),
            run_id: self.run.run_id.clone(),
            target: self.run.target.clone(),
            origin_mode: self.run.origin_mode.clone(),
            started_at: self.run.started_at.clone(),
            duration_ms: millis(self.elapsed),
            strict: self.strict,
            conformant: self.conformant(),
            skipped_must: self.skipped_must().values().sum(),
            cannot_judge: self.conformant() && self.too_many_skipped_must(),
            counts: self
                .tallies()
                .into_iter()
                .map(|(level, tally)| (level.as_str().to_owned(), tally))
                .collect(),
            requirements,
            scenarios,
            unexpected_passes: self.unexpected_passes.clone(),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The run-result JSON (`--results-json FILE`): a small, stable document of what a run found,
/// for dashboards and for `chalk-conformance docs --results`. It carries no transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Always [`RESULTS_FORMAT`].
    pub format: String,
    /// The suite's version.
    pub suite_version: String,
    /// The run id.
    pub run_id: String,
    /// The WebSocket URL judged, without credentials.
    pub target: String,
    /// How the deployment validates origins, as the run was told (`exact` or `patterns`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin_mode: String,
    /// When the scenarios started, RFC 3339 in UTC.
    pub started_at: String,
    /// Wall time of the scenarios.
    pub duration_ms: u64,
    /// Whether `should` failures failed the run.
    pub strict: bool,
    /// The verdict: nothing failed that counts (of what was checked).
    pub conformant: bool,
    /// `must` scenarios skipped because the run lacked what they need.
    #[serde(default)]
    pub skipped_must: usize,
    /// More `must` scenarios were skipped than `--max-skipped-must` allows: the run exits 3.
    #[serde(default)]
    pub cannot_judge: bool,
    /// Scenario counts per level (`must`, `should`, `extension`).
    pub counts: BTreeMap<String, Tally>,
    /// Every active requirement of the catalogue, in catalogue order.
    pub requirements: Vec<RequirementResult>,
    /// Every selected scenario, in feature order.
    pub scenarios: Vec<ScenarioRecord>,
    /// Requirements the expectations file says fail, which passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexpected_passes: Vec<UnexpectedPass>,
}

/// One requirement in the run-result JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementResult {
    /// `AUTH-009`.
    pub id: String,
    /// `must`, `should` or `extension`.
    pub level: String,
    /// The catalogue area.
    pub area: String,
    /// The catalogue title.
    pub title: String,
    /// The worst status of its scenarios (`not_run` when none was selected).
    pub status: Status,
    /// Its scenarios, as `path:line`.
    pub scenarios: Vec<String>,
}

/// One scenario in the run-result JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioRecord {
    /// The requirement it checks.
    pub requirement: String,
    /// Its name (outline rows with their example values).
    pub name: String,
    /// Its feature's name.
    pub feature: String,
    /// `path:line`.
    pub location: String,
    /// What became of it.
    pub status: Status,
    /// How long it took.
    pub duration_ms: u64,
    /// Why it was skipped, not declared, or expected to fail.
    pub reason: Option<String>,
    /// Its failure, if it failed.
    pub failure: Option<FailureResult>,
}

/// A failure in the run-result JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureResult {
    /// The requirement the failure counts against.
    pub violated: String,
    /// The failing step.
    pub step: Option<String>,
    /// What broke, in one line.
    pub headline: String,
    /// What the requirement calls for.
    pub expected: Option<String>,
    /// What happened instead.
    pub actual: Option<String>,
}

/// A small report of every kind of outcome, for the tests of the outputs that read the model.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;
    use crate::contract::judge::RequirementRef;
    use crate::driver::redact::Redactor;
    use crate::driver::transcript::Direction;
    use crate::suite::failure::Mismatch;

    /// A token of the sample run, registered with the sample redactor.
    pub const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tX2lkIjoiciIsInBhcnRpY2lwYW50X2lkIjoicCJ9.c2lnbmF0dXJlLW9mLXRoZS1zYW1wbGU";
    /// The API key of the sample run.
    pub const API_KEY: &str = "ck_sample_0123456789abcdef";

    fn planned(id: &str, name: &str, line: usize, disposition: Disposition) -> PlannedScenario {
        let catalogue = Catalogue::bundled().expect("the catalogue parses");
        let requirement = catalogue.requirement(id).expect("a catalogue ID");
        PlannedScenario {
            key: ScenarioKey {
                path: "features/sample.feature".to_owned(),
                line,
            },
            feature: "A sample feature".to_owned(),
            rule: Some(format!("{id} {}", requirement.title)),
            name: name.to_owned(),
            tags: vec![format!("req.{id}"), requirement.level.as_str().to_owned()],
            steps: vec![
                (
                    "When".to_owned(),
                    "Mallory connects with an expired token".to_owned(),
                    line + 1,
                ),
                (
                    "Then".to_owned(),
                    "the upgrade is refused".to_owned(),
                    line + 2,
                ),
            ],
            requirement: RequirementRef::of(requirement),
            extension: requirement.extension.clone(),
            disposition,
        }
    }

    fn failure(id: &str, expected: &str, actual: &str) -> FailureDetail {
        FailureDetail {
            step: Some("Then the upgrade is refused".to_owned()),
            cause: Cause::Check(Mismatch::new(expected, actual).against(RequirementRef {
                id: id.to_owned(),
                title: "a title".to_owned(),
                level: Level::Must,
            })),
            transcript: "  +  0.001s  Mallory#1  -> GET /api/v1/ws HTTP/1.1\n".to_owned(),
        }
    }

    fn line(at_ms: u64, actor: &str, direction: Direction, text: &str) -> transcript::Entry {
        transcript::Entry {
            at: Duration::from_millis(at_ms),
            actor: actor.to_owned(),
            direction,
            text: text.to_owned(),
        }
    }

    fn ran(
        planned: PlannedScenario,
        verdict: Verdict,
        transcript: Vec<transcript::Entry>,
    ) -> Entry {
        let failed = verdict.failure().is_some();
        let steps = planned
            .steps
            .iter()
            .enumerate()
            .map(|(i, (keyword, text, line))| StepResult {
                keyword: keyword.clone(),
                text: text.clone(),
                line: *line,
                status: if failed && i == 1 {
                    StepStatus::Failed
                } else {
                    StepStatus::Passed
                },
                duration: Duration::from_millis(3),
            })
            .collect();
        Entry {
            planned,
            verdict,
            steps,
            duration: Duration::from_millis(12),
            transcript,
        }
    }

    fn not_run(planned: PlannedScenario, verdict: Verdict) -> Entry {
        Entry {
            planned,
            verdict,
            steps: Vec::new(),
            duration: Duration::ZERO,
            transcript: Vec::new(),
        }
    }

    /// A redactor that knows the sample's secrets.
    pub fn redactor() -> Redactor {
        let redactor = Redactor::new();
        redactor.register_token(TOKEN, "Mallory");
        redactor.register(API_KEY, "api-key");
        redactor
    }

    /// One passed, one failed (with a hostile frame and a token in its transcript), one warned,
    /// one failure charged to another requirement, one expected failure, one skipped, one
    /// undeclared.
    pub fn report() -> Report {
        let handshake = format!(
            "GET /api/v1/ws HTTP/1.1\nSec-WebSocket-Protocol: chalk, token.{TOKEN}\nX-API-Key: {API_KEY}"
        );
        let entries = vec![
            ran(
                planned(
                    "AUTH-001",
                    "The token is offered after chalk",
                    10,
                    Disposition::Run,
                ),
                Verdict::Passed,
                vec![
                    line(1, "Alice#1", Direction::Out, &handshake),
                    line(
                        2,
                        "Alice#1",
                        Direction::In,
                        "HTTP/1.1 101 Switching Protocols\nsec-websocket-protocol: chalk",
                    ),
                ],
            ),
            ran(
                planned(
                    "AUTH-009",
                    "A token that expired two hours ago",
                    20,
                    Disposition::Run,
                ),
                Verdict::Failed {
                    detail: failure(
                        "AUTH-009",
                        "the upgrade refused before 101",
                        "101 Switching Protocols: the connection was opened",
                    ),
                    counts: true,
                },
                vec![
                    line(1, "setup", Direction::Note, "Mallory is participant p_1"),
                    line(3, "Mallory#1", Direction::Out, &handshake),
                    line(
                        4,
                        "Mallory#1",
                        Direction::In,
                        "HTTP/1.1 101 Switching Protocols",
                    ),
                    line(
                        5,
                        "Mallory#1",
                        Direction::In,
                        r#"{"event":"chat.message","data":{"text":"<script>alert(1)</script>"}}"#,
                    ),
                    line(
                        9,
                        "Mallory#1",
                        Direction::In,
                        "(close frame: 4001 token expired)",
                    ),
                ],
            ),
            ran(
                planned(
                    "AUTH-015",
                    "Different defects cannot be told apart",
                    30,
                    Disposition::Run,
                ),
                Verdict::Failed {
                    detail: failure("AUTH-015", "one answer", "two answers"),
                    counts: false,
                },
                Vec::new(),
            ),
            ran(
                planned("CHAT-001", "Everyone hears a message", 40, Disposition::Run),
                Verdict::Failed {
                    detail: failure(
                        "SCHEMA-004",
                        "frames that match their schema",
                        "chat.message without id",
                    ),
                    counts: true,
                },
                Vec::new(),
            ),
            ran(
                planned(
                    "PRES-001",
                    "The room hears of a newcomer",
                    50,
                    Disposition::Run,
                ),
                Verdict::ExpectedFailure {
                    detail: failure("PRES-001", "participant.joined", "nothing within 2s"),
                    reason: "tracked as CHALK-123".to_owned(),
                },
                Vec::new(),
            ),
            not_run(
                planned(
                    "REC-001",
                    "Starting a recording",
                    60,
                    Disposition::Skip(crate::suite::plan::Unmet {
                        need: "recordings".to_owned(),
                        why: "give --api-url and --api-key".to_owned(),
                        applies: true,
                    }),
                ),
                Verdict::Skipped("needs recordings: give --api-url and --api-key".to_owned()),
            ),
            not_run(
                planned(
                    "CHAT-012",
                    "The sender hears its own message",
                    70,
                    Disposition::NotDeclared("chat-echo".to_owned()),
                ),
                Verdict::NotDeclared("chat-echo".to_owned()),
            ),
        ];
        Report {
            entries,
            strict: false,
            max_skipped_must: None,
            errors: Vec::new(),
            not_selected: 0,
            elapsed: Duration::from_millis(1234),
            run: RunInfo {
                suite_version: "0.1.0".to_owned(),
                run_id: "cc123abc".to_owned(),
                target: "wss://staging.example.com/api/v1/ws".to_owned(),
                target_label: None,
                started_at: "2026-01-02T03:04:05Z".to_owned(),
                declared: vec!["pong-event".to_owned()],
                origin: Some("https://app.example.com".to_owned()),
                origin_mode: "patterns".to_owned(),
                provisioning: "REST API".to_owned(),
            },
            unexpected_passes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::judge::RequirementRef;
    use crate::suite::failure::Mismatch;

    #[test]
    fn requirements_take_the_worst_status_of_their_scenarios_and_of_failures_naming_them() {
        let catalogue = Catalogue::bundled().unwrap();
        let report = sample::report();
        let outcomes = report.requirement_outcomes(&catalogue);
        let status = |id: &str| outcomes.iter().find(|o| o.id == id).unwrap().status;
        assert_eq!(status("AUTH-001"), Status::Pass);
        assert_eq!(status("AUTH-009"), Status::Fail);
        assert_eq!(status("AUTH-015"), Status::Warn);
        assert_eq!(status("PRES-001"), Status::ExpectedFailure);
        assert_eq!(status("REC-001"), Status::Skipped);
        assert_eq!(status("CHAT-012"), Status::NotDeclared);
        assert_eq!(status("AUTH-002"), Status::NotRun);
        // CHAT-001's scenario failed because a frame broke SCHEMA-004: both show the failure.
        assert_eq!(status("CHAT-001"), Status::Fail);
        let schema = outcomes.iter().find(|o| o.id == "SCHEMA-004").unwrap();
        assert_eq!(schema.status, Status::Fail);
        assert_eq!(schema.broken_in, vec![3]);
    }

    #[test]
    fn expected_failures_neither_fail_the_run_nor_count_as_failures() {
        let report = sample::report();
        let tallies = report.tallies();
        assert_eq!(tallies[&Level::Must].expected_failures, 1);
        assert_eq!(tallies[&Level::Must].failed, 2);
        assert_eq!(
            report.closing_line(),
            "1 passed, 2 failed, 1 warned, 1 failed as expected, 1 skipped, 1 not declared"
        );
    }

    #[test]
    fn the_run_result_json_round_trips() {
        let catalogue = Catalogue::bundled().unwrap();
        let results = sample::report().run_results(&catalogue);
        assert_eq!(results.format, RESULTS_FORMAT);
        assert!(!results.conformant);
        let text = serde_json::to_string_pretty(&results).unwrap();
        let back: RunResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back, results);
        let failed = back
            .scenarios
            .iter()
            .find(|s| s.requirement == "AUTH-009")
            .unwrap();
        assert_eq!(failed.status, Status::Fail);
        let failure = failed.failure.as_ref().unwrap();
        assert_eq!(
            failure.expected.as_deref(),
            Some("the upgrade refused before 101")
        );
        assert_eq!(
            failure.actual.as_deref(),
            Some("101 Switching Protocols: the connection was opened")
        );
        assert_eq!(back.requirements.len(), catalogue.active().count());
    }

    fn detail(cause: Cause) -> FailureDetail {
        FailureDetail {
            step: Some("Then the upgrade is refused".into()),
            cause,
            transcript: String::new(),
        }
    }

    #[test]
    fn a_failure_gives_its_expected_actual_and_headline() {
        let failure = detail(Cause::Check(
            Mismatch::new("a refusal\nbefore 101", "101 Switching Protocols").against(
                RequirementRef {
                    id: "AUTH-009".into(),
                    title: "Expired tokens refused".into(),
                    level: Level::Must,
                },
            ),
        ));
        assert_eq!(failure.violated(), Some("AUTH-009"));
        assert_eq!(
            failure.expected_actual(),
            Some((
                "a refusal\nbefore 101".to_owned(),
                "101 Switching Protocols".to_owned()
            ))
        );
        assert_eq!(failure.headline(), "Expired tokens refused (must)");
        assert_eq!(
            failure.one_line(),
            "expected a refusal before 101; got 101 Switching Protocols"
        );
        assert_eq!(
            failure.message(),
            "[AUTH-009] Expired tokens refused (must)\nExpected: a refusal\nbefore 101\nActual:   101 Switching Protocols"
        );
        let bare = detail(Cause::Reason(
            "the scenario did not run to its end".to_owned(),
        ));
        assert_eq!(bare.violated(), None);
        assert_eq!(bare.expected_actual(), None);
        assert_eq!(bare.headline(), "the scenario did not run to its end");
        assert_eq!(bare.one_line(), "the scenario did not run to its end");
    }

    #[test]
    fn a_failure_of_no_particular_requirement_heads_with_its_expected() {
        let failure = detail(Cause::Check(
            Mismatch::new("the case finished", "it hung").general(),
        ));
        assert_eq!(failure.violated(), None);
        assert_eq!(failure.headline(), "Expected: the case finished");
        assert_eq!(
            failure.one_line(),
            "expected the case finished; got it hung"
        );
    }

    #[test]
    fn the_run_result_json_spells_statuses_like_its_keys() {
        let catalogue = Catalogue::bundled().unwrap();
        let text = serde_json::to_string(&sample::report().run_results(&catalogue)).unwrap();
        assert!(text.contains("\"not_declared\":1"), "{text}");
        assert!(text.contains("\"status\":\"not_declared\""), "{text}");
        assert!(text.contains("\"status\":\"not_run\""), "{text}");
        assert!(
            !text.contains("not-declared") && !text.contains("not-run"),
            "{text}"
        );
        // The first format's spelling is still read.
        let old: Status = serde_json::from_str("\"not-declared\"").unwrap();
        assert_eq!(old, Status::NotDeclared);
    }

    #[test]
    fn statuses_order_worst_first_and_round_trip_their_names() {
        assert_eq!(Status::Pass.worst(Status::Fail), Status::Fail);
        assert_eq!(Status::Skipped.worst(Status::Pass), Status::Pass);
        assert_eq!(Status::ExpectedFailure.worst(Status::Warn), Status::Warn);
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
