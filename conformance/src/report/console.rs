//! What the run found, told to a person: a line per scenario as it finishes, the failures in
//! full, and a verdict per requirement level.
//!
//! [`Collector`] is the cucumber writer: it turns cucumber's events into one
//! [`ScenarioResult`] per scenario, with its steps, timings, failure and whole wire transcript
//! (the typed failure and the transcript come through the [`ScenarioBook`]), rendering a
//! failing scenario's transcript while its world is still at hand. The results model
//! ([`crate::report::results`]) joins those results with the plan's skips and decides the
//! verdict: a `must` failure, or a failure of a declared extension, makes the server
//! non-conformant; a `should` failure is a warning unless the run is `--strict`.
//! [`Report::render`] is the console's view of that model.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cucumber::event::{self, HookType};
use cucumber::gherkin;
use cucumber::{Event, parser};

use crate::contract::catalogue::Catalogue;
use crate::driver::redact::Redactor;
use crate::driver::transcript::Transcript;
use crate::report::expectations::Expectations;
use crate::suite::failure::{FailureLog, Mismatch};
use crate::suite::plan::{Plan, ScenarioKey};
use crate::suite::world::ChalkWorld;

pub use crate::report::results::{
    Cause, Entry, FailureDetail, Report, ScenarioResult, StepResult, StepStatus, Tally, Verdict,
    counts_as_failure,
};

/// Where the human-readable output goes: standard output, or a buffer (tests).
#[derive(Clone)]
pub struct Console(Arc<Mutex<Box<dyn std::io::Write + Send>>>);

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

impl Console {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self(Arc::new(Mutex::new(Box::new(std::io::stdout()))))
    }

    /// Writes to a buffer that can be read back.
    pub fn buffer() -> (Self, SharedBuffer) {
        let buffer = SharedBuffer::default();
        (Self(Arc::new(Mutex::new(Box::new(buffer.clone())))), buffer)
    }

    /// Writes text as is.
    pub fn write(&self, text: &str) {
        let mut sink = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = sink.write_all(text.as_bytes());
        let _ = sink.flush();
    }

    /// Writes one line.
    pub fn line(&self, text: &str) {
        self.write(&format!("{text}\n"));
    }
}

/// A growable byte buffer shared between a [`Console`] and whoever reads it.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The per-scenario channels from the scenarios that are running to the report: the runner's
/// `before` hook files each new scenario's transcript and [`FailureLog`] here. The
/// [`Collector`] takes a failure out of the log as cucumber reports a failed step, and what is
/// left (the end-of-scenario frame check) with the transcript when the scenario finishes
/// (cucumber hands the world only to failure events, so a passing scenario's transcript is
/// reached this way).
#[derive(Debug, Clone, Default)]
pub struct ScenarioBook(Arc<Mutex<HashMap<ScenarioKey, Channels>>>);

/// What a running scenario sends the report.
#[derive(Debug)]
struct Channels {
    transcript: Arc<Transcript>,
    failures: FailureLog,
}

impl ScenarioBook {
    /// Files the transcript and failure log of a scenario that is starting.
    pub fn file(&self, key: ScenarioKey, transcript: Arc<Transcript>, failures: FailureLog) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(
            key,
            Channels {
                transcript,
                failures,
            },
        );
    }

    /// The failure log of a scenario that is running.
    fn failures(&self, key: &ScenarioKey) -> Option<FailureLog> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map(|c| c.failures.clone())
    }

    /// Takes out the channels of a scenario that finished.
    fn take(&self, key: &ScenarioKey) -> Option<Channels> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key)
    }
}

#[derive(Debug)]
struct Running {
    started: Instant,
    step_started: Instant,
    steps: Vec<StepResult>,
    failure: Option<FailureDetail>,
}

/// The cucumber writer: collects results and prints a line per finished scenario.
#[derive(Debug)]
pub struct Collector {
    console: Console,
    redactor: Arc<Redactor>,
    catalogue: Arc<Catalogue>,
    plan: Arc<Plan>,
    strict: bool,
    running: HashMap<ScenarioKey, Running>,
    finished: Vec<ScenarioResult>,
    parse_errors: Vec<String>,
    scenarios: ScenarioBook,
    expectations: Option<Expectations>,
}

impl Collector {
    /// A collector printing to `console`.
    pub fn new(
        console: Console,
        redactor: Arc<Redactor>,
        catalogue: Arc<Catalogue>,
        plan: Arc<Plan>,
        strict: bool,
    ) -> Self {
        Self {
            console,
            redactor,
            catalogue,
            plan,
            strict,
            running: HashMap::new(),
            finished: Vec::new(),
            parse_errors: Vec::new(),
            scenarios: ScenarioBook::default(),
            expectations: None,
        }
    }

    /// Marks failures of the requirements `expectations` lists as `XFAIL` while the run goes.
    pub fn expecting(mut self, expectations: Option<Expectations>) -> Self {
        self.expectations = expectations;
        self
    }

    /// Where the runner files each starting scenario's transcript and failure log for this
    /// collector.
    pub fn scenarios(&self) -> ScenarioBook {
        self.scenarios.clone()
    }

    /// The results, and any errors cucumber reported about the features.
    pub fn into_results(self) -> (Vec<ScenarioResult>, Vec<String>) {
        (self.finished, self.parse_errors)
    }

    fn on_scenario(
        &mut self,
        feature: &gherkin::Feature,
        scenario: &gherkin::Scenario,
        event: event::Scenario<ChalkWorld>,
    ) {
        let key = ScenarioKey::of(feature, scenario);
        let now = Instant::now();
        match event {
            event::Scenario::Started => {
                self.running.insert(
                    key,
                    Running {
                        started: now,
                        step_started: now,
                        steps: Vec::new(),
                        failure: None,
                    },
                );
            }
            event::Scenario::Step(step, ev) | event::Scenario::Background(step, ev) => {
                self.on_step(&key, &step, ev, now);
            }
            event::Scenario::Hook(kind, event::Hook::Failed(world, info)) => {
                let reason = match kind {
                    HookType::Before => {
                        format!("the scenario could not start: {}", panic_text(&info))
                    }
                    HookType::After => panic_text(&info),
                };
                let failure = self.failure(
                    None,
                    Cause::Reason(reason),
                    world
                        .as_deref()
                        .and_then(ChalkWorld::scene_ref)
                        .map(|s| s.transcript()),
                );
                if let Some(running) = self.running.get_mut(&key) {
                    running.failure.get_or_insert(failure);
                }
            }
            event::Scenario::Finished => {
                let channels = self.scenarios.take(&key);
                // What the end-of-scenario check recorded counts only when no step failed first.
                let late = channels.as_ref().and_then(|c| {
                    let failure = c.failures.take_at_end()?;
                    Some(self.failure(None, Cause::Check(failure), Some(&c.transcript)))
                });
                let transcript = channels
                    .map(|c| c.transcript.redacted(&self.redactor))
                    .unwrap_or_default();
                if let Some(running) = self.running.remove(&key) {
                    let failure = running.failure.or(late);
                    let result = ScenarioResult {
                        key,
                        steps: running.steps,
                        failure,
                        duration: now.duration_since(running.started),
                        transcript,
                    };
                    self.print_progress(&result);
                    self.finished.push(result);
                }
            }
            event::Scenario::Hook(..) | event::Scenario::Log(_) => {}
        }
    }

    fn on_step(
        &mut self,
        key: &ScenarioKey,
        step: &gherkin::Step,
        event: event::Step<ChalkWorld>,
        now: Instant,
    ) {
        let shown = format!("{} {}", step.keyword.trim(), step.value);
        let failure = match &event {
            event::Step::Failed(_, _, world, error) => {
                // A step that failed its scenario recorded why; anything else is a bug in the
                // step, told as it panicked.
                let recorded = self.scenarios.failures(key).and_then(|log| log.take());
                let cause = match (recorded, error) {
                    (Some(failure), _) => Cause::Check(failure),
                    (None, event::StepError::Panic(info)) => Cause::Reason(panic_text(info)),
                    (None, other) => Cause::Reason(other.to_string()),
                };
                let transcript = world
                    .as_deref()
                    .and_then(ChalkWorld::scene_ref)
                    .map(|s| s.transcript());
                Some(self.failure(Some(shown.clone()), cause, transcript))
            }
            event::Step::Skipped => Some(FailureDetail {
                step: Some(shown.clone()),
                cause: Cause::Reason(format!(
                    "the step {shown:?} has no definition in this version of the suite"
                )),
                transcript: String::new(),
            }),
            _ => None,
        };
        let Some(running) = self.running.get_mut(key) else {
            return;
        };
        let status = match event {
            event::Step::Started => {
                running.step_started = now;
                return;
            }
            event::Step::Passed(..) => StepStatus::Passed,
            event::Step::Failed(..) => StepStatus::Failed,
            event::Step::Skipped => StepStatus::Skipped,
        };
        running.steps.push(StepResult {
            keyword: step.keyword.trim().to_owned(),
            text: step.value.clone(),
            line: step.position.line,
            status,
            duration: now.duration_since(running.step_started),
        });
        if let Some(failure) = failure {
            running.failure.get_or_insert(failure);
        }
    }

    /// A failure of the scenario, redacted, with its transcript so far.
    fn failure(
        &self,
        step: Option<String>,
        cause: Cause,
        transcript: Option<&Transcript>,
    ) -> FailureDetail {
        let redact = |text: &str| self.redactor.redact(text);
        let cause = match cause {
            Cause::Check(failure) => Cause::Check(failure.redacted(redact)),
            Cause::Reason(reason) => Cause::Reason(redact(&reason)),
        };
        FailureDetail {
            step,
            cause,
            transcript: transcript
                .map(|t| t.render(&self.redactor))
                .unwrap_or_default(),
        }
    }

    fn print_progress(&self, result: &ScenarioResult) {
        let Some(planned) = self.plan.get(&result.key) else {
            return;
        };
        let word = match &result.failure {
            None => "PASS",
            Some(failure)
                if self.expectations.as_ref().is_some_and(|e| {
                    e.reason(failure.violated().unwrap_or(&planned.requirement.id))
                        .is_some()
                }) =>
            {
                "XFAIL"
            }
            Some(failure) => {
                if counts_as_failure(planned, failure, &self.catalogue, self.strict) {
                    "FAIL"
                } else {
                    "WARN"
                }
            }
        };
        self.console.line(&progress_line(
            word,
            &planned.requirement.id,
            planned.requirement.level.as_str(),
            &planned.name,
        ));
    }
}

/// The line printed as a scenario finishes: its status word (`PASS`, `FAIL`, `WARN`, `XFAIL`),
/// then requirement, level and scenario name, each in a column of its own.
fn progress_line(word: &str, requirement: &str, level: &str, scenario: &str) -> String {
    format!("{word:<5} {requirement:<11} {level:<9} {scenario}")
}

impl cucumber::Writer<ChalkWorld> for Collector {
    type Cli = cucumber::cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<ChalkWorld>>>,
        _cli: &Self::Cli,
    ) {
        let event = match event {
            Ok(event) => event.value,
            Err(error) => {
                self.parse_errors.push(error.to_string());
                return;
            }
        };
        match event {
            event::Cucumber::Feature(feature, event::Feature::Scenario(scenario, retryable)) => {
                self.on_scenario(&feature, &scenario, retryable.event);
            }
            event::Cucumber::Feature(
                feature,
                event::Feature::Rule(_, event::Rule::Scenario(scenario, retryable)),
            ) => {
                self.on_scenario(&feature, &scenario, retryable.event);
            }
            _ => {}
        }
    }
}

// Results are keyed by scenario, so the interleaved events of concurrent scenarios are fine.
impl cucumber::writer::Normalized for Collector {}

fn panic_text(info: &event::Info) -> String {
    if let Some(text) = info.downcast_ref::<String>() {
        text.clone()
    } else if let Some(text) = info.downcast_ref::<&str>() {
        (*text).to_owned()
    } else {
        "the step panicked".to_owned()
    }
}

impl Report {
    /// The failures in full, the verdict table, the skips, and the closing line.
    pub fn render(&self, catalogue: &Catalogue) -> String {
        let mut out = String::new();
        let failures: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Failed { .. }))
            .collect();
        if !failures.is_empty() {
            out.push_str("\nFailures\n========\n");
            for entry in failures {
                render_failure(&mut out, entry, catalogue);
            }
        }
        for error in &self.errors {
            let _ = writeln!(out, "\nfeature error: {error}");
        }

        out.push_str("\nVerdict\n=======\n");
        let tallies = self.tallies();
        // The expected-failure column only when the run has expected failures.
        let with_expected = tallies.values().any(|t| t.expected_failures > 0);
        let _ = writeln!(
            out,
            "{:<10} {:>6} {:>6} {:>6}{} {:>7} {:>12}",
            "level",
            "passed",
            "failed",
            "warned",
            if with_expected { "  xfail" } else { "" },
            "skipped",
            "not declared"
        );
        for (level, t) in tallies {
            let _ = writeln!(
                out,
                "{:<10} {:>6} {:>6} {:>6}{} {:>7} {:>12}",
                level.as_str(),
                t.passed,
                t.failed,
                t.warned,
                if with_expected {
                    format!(" {:>6}", t.expected_failures)
                } else {
                    String::new()
                },
                t.skipped,
                t.not_declared
            );
        }
        let skipped: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Skipped(_)))
            .collect();
        if !skipped.is_empty() {
            out.push_str("\nSkipped (the run cannot exercise them):\n");
            for entry in skipped {
                if let Verdict::Skipped(reason) = &entry.verdict {
                    let _ = writeln!(
                        out,
                        "  {:<11} {} — {reason}",
                        entry.planned.requirement.id, entry.planned.name
                    );
                }
            }
        }
        let undeclared: BTreeMap<&str, usize> =
            self.entries.iter().fold(BTreeMap::new(), |mut acc, e| {
                if let Verdict::NotDeclared(ext) = &e.verdict {
                    *acc.entry(ext.as_str()).or_default() += 1;
                }
                acc
            });
        if !undeclared.is_empty() {
            out.push_str("\nNot declared (extensions the server does not claim; --declare NAME to check them):\n");
            for (extension, count) in undeclared {
                let _ = writeln!(out, "  {extension}: {count} scenario(s)");
            }
        }
        if self.not_selected > 0 {
            let _ = writeln!(
                out,
                "\n{} scenario(s) left out by --tags/--name.",
                self.not_selected
            );
        }
        let warned: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::Failed { counts: false, .. }))
            .map(|e| e.planned.requirement.id.as_str())
            .collect();
        if !warned.is_empty() {
            let _ = writeln!(
                out,
                "\nWarnings: {} should-level failure(s) ({}); --strict makes them fail the run.",
                warned.len(),
                warned.join(", ")
            );
        }
        let expected: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| matches!(e.verdict, Verdict::ExpectedFailure { .. }))
            .map(|e| e.planned.requirement.id.as_str())
            .collect();
        if !expected.is_empty() {
            let _ = writeln!(
                out,
                "\nExpected failures: {} scenario(s) failed as expected ({}); they do not fail the run.",
                expected.len(),
                expected.join(", ")
            );
        }
        if !self.unexpected_passes.is_empty() {
            out.push_str(
                "\nUnexpected passes (the expectations file is stale; remove these entries):\n",
            );
            for pass in &self.unexpected_passes {
                let _ = writeln!(
                    out,
                    "  {:<11} passed, but {} expects it to fail: {}",
                    pass.requirement, pass.file, pass.reason
                );
            }
        }
        let failed: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| match &e.verdict {
                Verdict::Failed {
                    counts: true,
                    detail,
                } => Some(
                    detail
                        .violated()
                        .unwrap_or(&e.planned.requirement.id)
                        .to_owned(),
                ),
                _ => None,
            })
            .collect();
        let _ = writeln!(out);
        let elapsed = self.elapsed.as_secs_f64();
        if self.conformant() {
            match (self.skipped_must_text(), self.max_skipped_must) {
                (Some(skipped), Some(max)) if self.too_many_skipped_must() => {
                    let _ = writeln!(
                        out,
                        "Cannot judge: {skipped}; --max-skipped-must allows {max} ({elapsed:.1}s)."
                    );
                }
                (Some(skipped), _) => {
                    let _ = writeln!(
                        out,
                        "Conformant for what was checked: {skipped} ({elapsed:.1}s)."
                    );
                }
                (None, _) => {
                    let _ = writeln!(out, "Conformant ({elapsed:.1}s).");
                }
            }
        } else if failed.is_empty() && self.errors.is_empty() {
            let ids: Vec<&str> = self
                .unexpected_passes
                .iter()
                .map(|p| p.requirement.as_str())
                .collect();
            let _ = writeln!(
                out,
                "Run failed: unexpected pass: the expectations file is stale: {} now pass{} ({:.1}s).",
                ids.join(", "),
                if ids.len() == 1 { "es" } else { "" },
                self.elapsed.as_secs_f64()
            );
        } else {
            let ids: Vec<String> = failed
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let _ = writeln!(
                out,
                "Not conformant: {} failure(s) of {} ({:.1}s).",
                failed.len(),
                if ids.is_empty() {
                    "the features".to_owned()
                } else {
                    ids.join(", ")
                },
                self.elapsed.as_secs_f64()
            );
        }
        out.push_str(&self.closing_line());
        out.push('\n');
        out
    }
}

fn render_failure(out: &mut String, entry: &Entry, catalogue: &Catalogue) {
    let Verdict::Failed { detail, counts } = &entry.verdict else {
        return;
    };
    let planned = &entry.planned;
    let violated = detail.violated().unwrap_or(&planned.requirement.id);
    let word = if *counts { "FAIL" } else { "WARN" };
    let _ = writeln!(
        out,
        "\n{word} {} ({}) {}",
        planned.requirement.id, planned.requirement.level, planned.requirement.title
    );
    let _ = writeln!(out, "  Scenario:    {}", planned.name);
    let _ = writeln!(out, "  Feature:     {} ({})", planned.feature, planned.key);
    if let Some(step) = &detail.step {
        let _ = writeln!(out, "  Step:        {step}");
    }
    if let Some(requirement) = catalogue.requirement(violated) {
        let _ = writeln!(
            out,
            "  Requirement: {} — {}",
            requirement.id, requirement.statement
        );
    }
    // The broken requirement is news only when it is another one than the scenario's.
    let message = match &detail.cause {
        Cause::Check(failure) if failure.violated() == Some(&planned.requirement.id) => {
            Mismatch::new(failure.expected.as_str(), failure.actual.as_str()).to_string()
        }
        _ => detail.message(),
    };
    for line in message.lines() {
        let _ = writeln!(out, "  {line}");
    }
    if !detail.transcript.is_empty() {
        out.push_str("  Transcript:\n");
        for line in detail.transcript.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::catalogue::Level;
    use crate::contract::judge::RequirementRef;
    use crate::suite::failure::{Failed, Failure};

    const FEATURE: &str = "Feature: Tokens\n\n  @req.AUTH-009\n  Scenario: Expired\n    Then the upgrade is refused\n";

    /// A collector, the one scenario it hears of, and that scenario's failure log as filed.
    fn collector() -> (Collector, gherkin::Feature, FailureLog) {
        let redactor = Arc::new(Redactor::new());
        redactor.register("s3cret-token-value", "token");
        let collector = Collector::new(
            Console::buffer().0,
            redactor,
            Arc::new(Catalogue::bundled().unwrap()),
            Arc::new(Plan::default()),
            false,
        );
        let feature = gherkin::Feature::parse(FEATURE, Default::default()).unwrap();
        let log = FailureLog::default();
        let key = ScenarioKey::of(&feature, &feature.scenarios[0]);
        collector
            .scenarios()
            .file(key, Arc::new(Transcript::new()), log.clone());
        (collector, feature, log)
    }

    fn expired_token_accepted() -> Failure {
        Mismatch::new(
            "a refusal",
            "101 Switching Protocols for s3cret-token-value",
        )
        .against(RequirementRef {
            id: "AUTH-009".into(),
            title: "Expired tokens refused".into(),
            level: Level::Must,
        })
    }

    /// Plays a scenario whose only step fails with `error`; its result.
    fn play(
        mut collector: Collector,
        feature: &gherkin::Feature,
        error: Option<event::StepError>,
    ) -> ScenarioResult {
        let scenario = &feature.scenarios[0];
        let step = event::Source::new(scenario.steps[0].clone());
        let step_event = match error {
            Some(error) => event::Step::Failed(None, None, None, error),
            None => event::Step::Passed(regex::Regex::new("").unwrap().capture_locations(), None),
        };
        for event in [
            event::Scenario::Started,
            event::Scenario::Step(step.clone(), event::Step::Started),
            event::Scenario::Step(step, step_event),
            event::Scenario::Finished,
        ] {
            collector.on_scenario(feature, scenario, event);
        }
        collector.into_results().0.remove(0)
    }

    fn panic(payload: String) -> event::StepError {
        event::StepError::Panic(Arc::new(payload))
    }

    #[test]
    fn a_failed_step_reports_the_failure_it_recorded_redacted() {
        let (collector, feature, log) = collector();
        log.record(expired_token_accepted());
        let result = play(collector, &feature, Some(panic(Failed.to_string())));
        let failure = result.failure.unwrap();
        assert_eq!(failure.step.as_deref(), Some("Then the upgrade is refused"));
        let Cause::Check(failure) = failure.cause else {
            panic!("a recorded failure is a failed check");
        };
        assert_eq!(failure.violated(), Some("AUTH-009"));
        assert_eq!(failure.expected, "a refusal");
        assert_eq!(failure.actual, "101 Switching Protocols for [token]");
    }

    #[test]
    fn an_unexpected_panic_is_reported_as_it_panicked() {
        let (collector, feature, _log) = collector();
        let result = play(
            collector,
            &feature,
            Some(panic("index out of bounds".to_owned())),
        );
        let failure = result.failure.unwrap();
        assert_eq!(
            failure.cause,
            Cause::Reason("index out of bounds".to_owned())
        );
        assert_eq!(failure.violated(), None);
    }

    #[test]
    fn the_end_of_scenario_check_fails_a_scenario_whose_steps_passed() {
        let (collector, feature, log) = collector();
        log.record_at_end(expired_token_accepted());
        let failure = play(collector, &feature, None).failure.unwrap();
        assert_eq!(failure.step, None);
        assert_eq!(failure.violated(), Some("AUTH-009"));
    }

    #[test]
    fn a_failed_step_comes_before_the_end_of_scenario_check() {
        let (collector, feature, log) = collector();
        log.record(expired_token_accepted());
        log.record_at_end(
            Mismatch::new("valid frames", "a bad frame").against(RequirementRef {
                id: "SCHEMA-004".into(),
                title: "chat.message shape".into(),
                level: Level::Must,
            }),
        );
        let result = play(collector, &feature, Some(panic(Failed.to_string())));
        assert_eq!(result.failure.unwrap().violated(), Some("AUTH-009"));
    }

    #[test]
    fn progress_lines_put_every_status_in_the_same_columns() {
        let lines: Vec<String> = ["PASS", "FAIL", "WARN", "XFAIL"]
            .into_iter()
            .map(|word| progress_line(word, "CHAT-008", "must", "A message is delivered once"))
            .collect();
        for line in &lines {
            assert_eq!(line.find("CHAT-008"), Some(6), "{line:?}");
            assert_eq!(line.find("must"), Some(18), "{line:?}");
            assert_eq!(line.find("A message"), Some(28), "{line:?}");
        }
        assert_eq!(
            lines[0],
            "PASS  CHAT-008    must      A message is delivered once"
        );
        assert_eq!(
            lines[3],
            "XFAIL CHAT-008    must      A message is delivered once"
        );
    }
}
