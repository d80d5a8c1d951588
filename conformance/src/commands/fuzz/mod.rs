//! `chalk-conformance fuzz`: seeded protocol fuzzing of a Chalk server.
//!
//! Each case is a random sequence of client actions for participants in several rooms (six in
//! two at `--scale 1`; N times the participants and actions, most joining first, at `--scale
//! N`): joins, leaves of every kind (Close frames with 1000, 1001, 4000 or no code, dropped
//! connections), `chat.send` with the hard Unicode cases, `hand.raise`, `hand.lower`, `ping`,
//! and every kind of invalid frame ([`case`]). The case is played against the server
//! ([`play`]) and judged by the protocol's invariants ([`oracle`]): every frame valid against the
//! schemas, every accepted chat message delivered exactly once to every other participant of its
//! room in the sender's order and nowhere else, presence consistent, the connections of
//! well-behaved clients left alone, and a fresh connection accepted after every case. Allowed
//! choices (no echo, no pong, silent unknown events, a joiner told about itself, …) are only
//! checked when the server declares the extension that makes them promises.
//!
//! Cases come from proptest strategies driven by a seeded [`TestRunner`]: case *i* of seed *N* is
//! generated from a seed of its own, printed when it fails, so `--seed <that> --cases 1` makes
//! the same case again. Cases run several at a time against one server, each in rooms of its
//! own. When one fails, the cases still running are abandoned, and it is printed at once as it
//! was found, written to `NAME-found.json` beside the replay file, with the commands that replay
//! it; then its value tree is shrunk (proptest's
//! `simplify`/`complicate`) as long as the smaller case still breaks the same requirement and
//! the shrink budget (`--shrink-budget`, time, and `--max-shrink-runs`, plays) lasts; the
//! smallest case found is printed, written to the replay file, and replayed once more.
//! `--replay FILE` plays exactly that case again, against this server or another. With
//! `--time-budget` cases run until that much time is spent, instead of `--cases` of them.
//!
//! Every wait has a deadline: the event timeout for anything owed, the quiet window at the end of
//! a case, the case timeout for a whole case, the time budget (or, with `--cases`, the time limit)
//! after which no new case starts, and the shrink budget, counted from the failure.

pub mod case;
pub mod oracle;
pub mod play;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proptest::strategy::{Strategy as _, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::case::{Case, Shape};
use self::oracle::Declared;
use self::play::{Arena, Play};
use super::cli::{Config, DEFAULT_MAX_ACTIONS, FuzzArgs, Options};
use super::exit::ExitStatus;
use crate::contract::catalogue::Catalogue;
use crate::contract::judge::FrameJudge;
use crate::contract::schemas::SchemaSet;
use crate::driver::deployment::{
    Deployment, DeploymentError, EMBEDDED_LABEL, EmbeddedProvisioning, EmbeddedSetup,
};
use crate::driver::embedded::Tuning;
use crate::driver::provision::{ParticipantSource, run_id};
use crate::driver::redact::url_without_credentials;
use crate::report::console::Console;
use crate::suite::failure::Failure;

/// The first letters of fuzz run ids.
const RUN_ID_PREFIX: &str = "fz";

/// The `format` of a replay file.
pub const CASE_FORMAT: &str = "chalk-conformance-fuzz-case/1";

/// The most actions `--max-actions` allows: even all of them from one participant stay within
/// the reference server's rate limit (a burst of 100 events), so no event is dropped for it.
const MAX_MAX_ACTIONS: usize = 100;

/// The most cases at once `--concurrency` allows.
const MAX_CONCURRENCY: usize = 64;

/// The largest oversized frame a replay file may ask for (generated ones stay below 20,000).
const MAX_OVERSIZED_BYTES: usize = 1024 * 1024;

/// A replay file: one case and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    /// Always [`CASE_FORMAT`].
    pub format: String,
    /// The seed that generates the original (unshrunk) case with `--cases 1`.
    pub seed: Option<u64>,
    /// The requirement the case breaks.
    pub requirement: Option<String>,
    /// The case.
    pub case: Case,
}

/// The seed of case `index` of a run with `seed`: the run's own seed for the first case, so
/// that `--seed <printed case seed> --cases 1` makes that case again.
pub fn case_seed(seed: u64, index: usize) -> u64 {
    if index == 0 {
        seed
    } else {
        splitmix(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The value tree of the case a seed makes: its current value is the case; shrinking it
/// simplifies the case.
pub fn case_tree(seed: u64, shape: Shape) -> Box<dyn ValueTree<Value = Case>> {
    let mut bytes = [0u8; 32];
    let mut state = seed;
    for chunk in bytes.chunks_mut(8) {
        state = splitmix(state);
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    case::cases(shape)
        .boxed()
        .new_tree(&mut runner)
        .expect("case strategies reject nothing")
}

/// Runs `chalk-conformance fuzz`; `options` are the suite's, with the target options given after
/// `fuzz` already laid over them.
pub async fn run(args: &FuzzArgs, options: &Options, console: &Console) -> ExitStatus {
    let usage = |message: String| {
        console.line(&format!("chalk-conformance fuzz: {message}"));
        ExitStatus::Usage
    };
    if args.cases == 0 {
        return usage("--cases must be at least 1".to_owned());
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return usage(format!("--concurrency must be 1 to {MAX_CONCURRENCY}"));
    }
    if !(1..=MAX_MAX_ACTIONS).contains(&args.max_actions) {
        return usage(format!("--max-actions must be 1 to {MAX_MAX_ACTIONS}"));
    }
    if !(1..=case::MAX_SCALE).contains(&args.scale) {
        return usage(format!("--scale must be 1 to {}", case::MAX_SCALE));
    }
    let zero_budget = args.time_budget.is_some_and(|b| b.is_zero());
    if args.event_timeout.is_zero()
        || args.case_timeout.is_zero()
        || args.time_limit.is_zero()
        || zero_budget
    {
        return usage(
            "--event-timeout, --case-timeout, --time-limit and --time-budget must be more than zero"
                .to_owned(),
        );
    }
    let (access, mut config) = match Config::from_options(options) {
        Ok(checked) => checked,
        Err(e) => return usage(e.to_string()),
    };
    let replay = match &args.replay {
        Some(path) => match read_case_file(path) {
            Ok(file) => Some(file),
            Err(e) => return usage(e),
        },
        None => None,
    };
    let (catalogue, schemas) = match (Catalogue::bundled(), SchemaSet::bundled()) {
        (Ok(catalogue), Ok(schemas)) => (catalogue, schemas),
        (Err(e), _) => return usage(e.to_string()),
        (_, Err(e)) => return usage(e.to_string()),
    };
    // The REST API, for removals; participants get minted tokens all the same (no HTTP round
    // trip per participant, see `arena`).
    let embedded = EmbeddedSetup {
        provisioning: EmbeddedProvisioning::Rest,
        tuning: Tuning::AsShipped,
    };
    let deployment =
        match Deployment::start(access, config.recording_command.clone(), embedded).await {
            Ok(deployment) => deployment,
            Err(DeploymentError::Start(e)) => {
                console.line(&format!("chalk-conformance fuzz: {e}"));
                return ExitStatus::Unreachable;
            }
            Err(e) => return usage(e.to_string()),
        };
    if config.declared.is_none() {
        config.declared.clone_from(&deployment.known().extensions);
    }
    let status = match arena(&config, &deployment, &catalogue, schemas, args) {
        Ok(arena) => {
            let fuzz = Fuzz {
                seed: args.seed.unwrap_or_else(random_seed),
                arena: Arc::new(arena),
                args,
                options,
                config: &config,
                console,
                embedded: deployment.embedded(),
            };
            fuzz.go(replay).await
        }
        Err(e) => usage(e),
    };
    deployment.shutdown().await;
    status
}

fn read_case_file(path: &Path) -> Result<CaseFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: CaseFile = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a fuzz case file: {e}", path.display()))?;
    if file.format != CASE_FORMAT {
        return Err(format!(
            "{} has format {:?}; this version reads {CASE_FORMAT:?}",
            path.display(),
            file.format
        ));
    }
    let oversized = file.case.actions.iter().find_map(|action| match action {
        case::Action::Garbage {
            frame: case::Garbage::Oversized { bytes },
            ..
        } if *bytes > MAX_OVERSIZED_BYTES => Some(*bytes),
        _ => None,
    });
    if let Some(bytes) = oversized {
        return Err(format!(
            "{} asks for a frame of {bytes} bytes; at most {MAX_OVERSIZED_BYTES}",
            path.display()
        ));
    }
    if !(1..=case::MAX_SEATS).contains(&file.case.rooms.len()) {
        return Err(format!(
            "{} has {} seats; 1 to {} are allowed",
            path.display(),
            file.case.rooms.len(),
            case::MAX_SEATS
        ));
    }
    Ok(file)
}

/// The arena of a run: the deployment's target and provisioning (REST, then a token command,
/// then minted tokens, as the suite chooses).
fn arena(
    config: &Config,
    deployment: &Deployment,
    catalogue: &Catalogue,
    schemas: SchemaSet,
    args: &FuzzArgs,
) -> Result<Arena, String> {
    let mut provisioner = deployment
        .provisioner()
        .cloned()
        .ok_or_else(|| "no way to get participants".to_owned())?;
    // The embedded server's participants are minted with its key; its REST API stays, for
    // removals.
    if deployment.embedded()
        && let Some(minter) = &provisioner.minter
    {
        provisioner.participants = ParticipantSource::Mint(Arc::clone(minter));
    }
    let declared: BTreeSet<String> = config.declared.clone().unwrap_or_default();
    let mut arena = Arena::new(
        deployment.target().clone(),
        deployment.connector().clone(),
        provisioner,
        Arc::new(FrameJudge::new(schemas, catalogue, declared.clone())),
        Arc::new(deployment.redactor()),
        deployment.origin().map(str::to_owned),
        Declared::from_names(&declared),
        (args.event_timeout, args.quiet_window, args.case_timeout),
        run_id(RUN_ID_PREFIX),
    );
    if config.without.contains("participant-removal") {
        arena.removals = false;
    }
    Ok(arena)
}

/// A seed of its own for a run without `--seed` (printed, so the run can be repeated).
fn random_seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    // Kept below 2^63 so that it reads back into any signed or unsigned parser.
    u64::from_le_bytes(first) >> 1
}

/// One fuzz run.
struct Fuzz<'a> {
    seed: u64,
    arena: Arc<Arena>,
    args: &'a FuzzArgs,
    options: &'a Options,
    config: &'a Config,
    console: &'a Console,
    embedded: bool,
}

/// A case that failed, as first found.
struct Failed {
    index: usize,
    seed: u64,
    case: Case,
    play: Play,
}

impl Fuzz<'_> {
    async fn go(self, replay: Option<CaseFile>) -> ExitStatus {
        self.header(replay.is_some());
        if let Err(problem) = self
            .arena
            .probe(&format!("{}-preflight", self.arena.run_id))
            .await
        {
            self.console.line(&format!(
                "chalk-conformance fuzz: target unreachable or provisioning failed: {}",
                self.arena.redactor.redact(&problem)
            ));
            return ExitStatus::Unreachable;
        }
        match replay {
            Some(file) => self.replay(file).await,
            None => self.campaign().await,
        }
    }

    fn header(&self, replaying: bool) {
        let arena = &self.arena;
        let console = self.console;
        console.line(&format!(
            "chalk-conformance fuzz {} (run {})",
            env!("CARGO_PKG_VERSION"),
            arena.run_id
        ));
        console.line(&format!(
            "target:       {}{}",
            url_without_credentials(&arena.target.url),
            if self.embedded {
                format!(" ({EMBEDDED_LABEL})")
            } else {
                String::new()
            }
        ));
        console.line(&format!(
            "provisioning: {}",
            match &arena.provisioner.participants {
                ParticipantSource::Rest(_) => "REST API",
                ParticipantSource::Command(_) => "--token-command",
                ParticipantSource::Mint(_) => "tokens minted with the deployment's key",
            }
        ));
        console.line(&format!(
            "departures:   client closes (1000, 1001, 4000, no code), drops, rejoins{}",
            if arena.removals {
                ", removals through the REST API"
            } else if arena.provisioner.rest.is_some() {
                "; no removals through the REST API (--without participant-removal)"
            } else {
                "; no removals through the REST API (the run has none: give --api-url and --api-key)"
            }
        ));
        let declared = self.config.declared.clone().unwrap_or_default();
        console.line(&format!(
            "declared:     {}",
            if declared.is_empty() {
                "no extension".to_owned()
            } else {
                declared.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
        if !replaying {
            let shape = self.shape();
            let how_many = match self.args.time_budget {
                Some(budget) => format!("as many as {} allows", budget_words(budget)),
                None => self.args.cases.to_string(),
            };
            console.line(&format!(
                "cases:        {how_many}, {} participants in {} rooms, up to {} actions{}, {} at \
                 a time; seed {}\n",
                shape.seats,
                shape.rooms,
                shape.max_actions,
                if shape.crowd { " after most join" } else { "" },
                self.args.concurrency,
                self.seed
            ));
        }
    }

    /// The shape of the run's cases.
    fn shape(&self) -> Shape {
        Shape::scaled(self.args.scale, self.args.max_actions).with_removals(self.arena.removals)
    }

    async fn campaign(&self) -> ExitStatus {
        let args = self.args;
        let seed = self.seed;
        let started = Instant::now();
        // The search ends at the time budget when there is one, else at the time limit;
        // shrinking has a budget of its own, counted from the failure.
        let deadline = started + args.time_budget.unwrap_or(args.time_limit);
        let cases = if args.time_budget.is_some() {
            usize::MAX
        } else {
            args.cases
        };
        let shape = self.shape();
        let mut running = JoinSet::new();
        let mut next = 0;
        let mut passed = 0;
        let mut failed: Vec<Failed> = Vec::new();
        loop {
            while running.len() < args.concurrency
                && next < cases
                && failed.is_empty()
                && Instant::now() < deadline
            {
                let seed = case_seed(seed, next);
                let case = case_tree(seed, shape).current();
                let arena = Arc::clone(&self.arena);
                let index = next;
                running.spawn(async move {
                    let play = play::play(&arena, &case).await;
                    Failed {
                        index,
                        seed,
                        case,
                        play,
                    }
                });
                next += 1;
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            match joined {
                Ok(done) if done.play.failed() => {
                    // Printed at once: the cases still running are abandoned (their
                    // connections dropped), not waited for.
                    failed.push(done);
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                }
                Ok(_) => {
                    passed += 1;
                    if passed % 100 == 0 {
                        self.console.line(&format!(
                            "  {passed} cases passed ({:.1}s)",
                            started.elapsed().as_secs_f64()
                        ));
                    }
                }
                Err(e) => {
                    self.console
                        .line(&format!("chalk-conformance fuzz: a case stopped: {e}"));
                    return ExitStatus::Usage;
                }
            }
        }
        let Some(first) = failed.into_iter().min_by_key(|f| f.index) else {
            let stopped = match args.time_budget {
                Some(budget) => format!(" (time budget {} spent)", budget_words(budget)),
                None if next < args.cases => {
                    format!(" (time limit: {} of {} cases started)", next, args.cases)
                }
                None => String::new(),
            };
            self.console.line(&format!(
                "\n{passed} cases passed in {:.1}s (seed {seed}){stopped}.",
                started.elapsed().as_secs_f64()
            ));
            return ExitStatus::Conformant;
        };
        self.shrink_and_report(first, passed, started).await
    }

    async fn shrink_and_report(
        &self,
        first: Failed,
        passed: usize,
        started: Instant,
    ) -> ExitStatus {
        let console = self.console;
        let breaks = first.play.findings[0].violated().map(str::to_owned);
        console.line(&format!(
            "\nFAIL  case {} (case seed {}) after {passed} passing case(s), {:.1}s: {}",
            first.index + 1,
            first.seed,
            started.elapsed().as_secs_f64(),
            self.title(&first.play.findings[0])
        ));
        // The failure as found, at once: shrinking may take long, or be cut short.
        let path = self
            .args
            .case_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("chalk-fuzz-{}.json", first.seed)));
        let found_path = as_found_path(&path);
        console.line("\nAs found (unshrunk)");
        console.line("===================");
        console.write(&self.rooms_line(&first.case));
        console.write(&first.case.listing());
        self.print_findings_only(&first.play);
        self.write_and_show_replay(
            &found_path,
            first.seed,
            breaks.clone(),
            first.case.clone(),
            "the case as found",
        );
        let shrink_until = Instant::now() + self.args.shrink_budget;
        console.line(&format!(
            "\n      {} action(s); shrinking while it still breaks {} (at most {} or {} plays)…",
            first.case.actions.len(),
            breaks.as_deref().unwrap_or("the same way"),
            budget_words(self.args.shrink_budget),
            self.args.max_shrink_runs
        ));
        let shrink_started = Instant::now();
        let mut tree = case_tree(first.seed, self.shape());
        let mut best = (first.case.clone(), first.play);
        let mut runs = 0;
        let mut kept = 0;
        if tree.simplify() {
            while runs < self.args.max_shrink_runs && Instant::now() < shrink_until {
                runs += 1;
                let candidate = tree.current();
                let Some(play) = self.play_until(&candidate, shrink_until).await else {
                    break;
                };
                if play.breaks(breaks.as_deref()) {
                    kept += 1;
                    best = (candidate, play);
                    if !tree.simplify() {
                        break;
                    }
                } else if !tree.complicate() {
                    break;
                }
            }
        }
        // The actions that did nothing go, and seats and rooms are renamed in order of
        // appearance, when the case still fails that way.
        let trimmed = best.0.without(&best.1.useless());
        for candidate in [trimmed.canonical(), trimmed] {
            if candidate == best.0 || Instant::now() >= shrink_until {
                continue;
            }
            runs += 1;
            let Some(play) = self.play_until(&candidate, shrink_until).await else {
                break;
            };
            if play.breaks(breaks.as_deref()) {
                best = (candidate, play);
                break;
            }
        }
        let (minimal, play) = best;
        let cut_short = Instant::now() >= shrink_until;
        let again = if cut_short {
            None
        } else {
            runs += 1;
            self.play_until(&minimal, shrink_until).await
        };
        let cut_short = if cut_short || again.is_none() {
            " (the shrink budget ran out: it may shrink further)"
        } else {
            ""
        };
        console.line(&format!(
            "      shrunk from {} to {} action(s) in {runs} plays, {:.1}s ({kept} simplifications \
             kept){cut_short}.",
            first.case.actions.len(),
            minimal.actions.len(),
            shrink_started.elapsed().as_secs_f64()
        ));
        console.line("\nMinimal case");
        console.line("============");
        console.write(&self.rooms_line(&minimal));
        console.write(&minimal.listing());
        self.print_findings(&play);
        match again {
            Some(again) if !again.breaks(breaks.as_deref()) => console.line(
                "\nnote: played once more, the minimal case passed: the failure is intermittent.",
            ),
            Some(_) => {}
            None => console.line(
                "\nnote: the shrink budget ran out before the minimal case was played once more.",
            ),
        }
        self.write_and_show_replay(&path, first.seed, breaks, minimal, "the minimal case");
        ExitStatus::NonConformant
    }

    /// Plays `case`, unless `until` comes first (then the play is abandoned: its connections
    /// are dropped).
    async fn play_until(&self, case: &Case, until: Instant) -> Option<Play> {
        tokio::time::timeout_at(until, play::play(&self.arena, case))
            .await
            .ok()
    }

    /// Writes `case` to the replay file `path` and prints the commands that replay it exactly,
    /// and that generate (and shrink) the original case again.
    fn write_and_show_replay(
        &self,
        path: &Path,
        seed: u64,
        breaks: Option<String>,
        case: Case,
        what: &str,
    ) {
        let console = self.console;
        let file = CaseFile {
            format: CASE_FORMAT.to_owned(),
            seed: Some(seed),
            requirement: breaks,
            case,
        };
        let written = serde_json::to_string_pretty(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(path, text + "\n").map_err(|e| e.to_string()));
        console.line("\nReplay");
        console.line("======");
        match written {
            Ok(()) => console.line(&format!(
                "{what}, exactly ({} written):\n  {}",
                path.display(),
                self.command(&format!("--replay {}", quoted(&path.display().to_string())))
            )),
            Err(e) => console.line(&format!("cannot write {}: {e}", path.display())),
        }
        console.line(&format!(
            "the original case, generated and shrunk again:\n  {}",
            self.command(&format!("--seed {seed} --cases 1"))
        ));
    }

    async fn replay(&self, file: CaseFile) -> ExitStatus {
        let console = self.console;
        let path = self
            .args
            .replay
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        console.line(&format!(
            "replay:       {path} ({} action(s){})\n",
            file.case.actions.len(),
            file.requirement
                .as_deref()
                .map(|r| format!("; it broke {r}"))
                .unwrap_or_default()
        ));
        console.write(&self.rooms_line(&file.case));
        console.write(&file.case.listing());
        let play = play::play(&self.arena, &file.case).await;
        let idle: Vec<String> = play
            .useless()
            .iter()
            .enumerate()
            .filter(|(_, useless)| **useless)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if !idle.is_empty() {
            // A seat not connected, a rejoin of a seat still there or removed, a removal
            // without a REST API.
            console.line(&format!(
                "\nDid nothing (could not apply then): {}",
                idle.join(", ")
            ));
        }
        if play.failed() {
            self.print_findings(&play);
            console.line("\nThe case fails.");
            ExitStatus::NonConformant
        } else {
            console.line("\nThe case passes.");
            ExitStatus::Conformant
        }
    }

    fn rooms_line(&self, case: &Case) -> String {
        let mut joined: Vec<u8> = case
            .actions
            .iter()
            .filter(|a| matches!(a, case::Action::Join { .. }))
            .map(case::Action::who)
            .collect();
        joined.sort_unstable();
        joined.dedup();
        let mut out = String::new();
        for room in 0..case.room_count() {
            let seats: Vec<String> = joined
                .iter()
                .filter(|s| case.room_of(**s) == room)
                .map(|s| case::seat_name(*s))
                .collect();
            if !seats.is_empty() {
                let _ = writeln!(out, "  room {room}: {}", seats.join(", "));
            }
        }
        out
    }

    fn title(&self, finding: &Failure) -> String {
        match &finding.requirement {
            Some(r) => format!("[{}] {} ({})", r.id, r.title, r.level),
            None => finding.expected.clone(),
        }
    }

    /// The failures of `play`, without its transcript.
    fn print_findings_only(&self, play: &Play) {
        let redactor = &self.arena.redactor;
        let console = self.console;
        console.line("\nFailures");
        console.line("========");
        for finding in &play.findings {
            for line in redactor.redact(&finding.to_string()).lines() {
                console.line(&format!("  {line}"));
            }
            console.line("");
        }
    }

    fn print_findings(&self, play: &Play) {
        let console = self.console;
        self.print_findings_only(play);
        console.line("Transcript");
        console.line("==========");
        console.write(&play.transcript.render(&self.arena.redactor));
    }

    /// The command that runs fuzz again against the same target with `what`; secrets given on
    /// the command line are shown as the variables that carry them, and URLs lose any
    /// user-info and `token` parameter.
    fn command(&self, what: &str) -> String {
        let o = &self.options.provisioning;
        let mut parts = vec!["chalk-conformance fuzz".to_owned()];
        let mut add = |flag: &str, value: &str| parts.push(format!("{flag} {}", quoted(value)));
        for url in &o.url {
            add("--url", &url_without_credentials(url));
        }
        for api_url in &o.api_url {
            add("--api-url", &url_without_credentials(api_url));
        }
        if let Some(command) = &o.token_command {
            add("--token-command", &self.arena.redactor.redact(command));
        }
        if let (Some(key), Some(alg)) = (&o.jwt_private_key, &o.jwt_alg) {
            add("--jwt-private-key", &key.display().to_string());
            add("--jwt-alg", alg);
        }
        for (flag, value) in [
            ("--jwt-issuer", &o.jwt_issuer),
            ("--jwt-audience", &o.jwt_audience),
            ("--origin", &o.origin),
        ] {
            if let Some(value) = value {
                add(flag, value);
            }
        }
        if !o.claims.is_empty() {
            add("--claim", &o.claims.join(","));
        }
        if !self.options.declare.is_empty() {
            add("--declare", &self.options.declare.join(","));
        }
        for (flag, path) in [
            ("--profile", &self.options.profile),
            ("--ca-cert", &o.ca_cert),
        ] {
            if let Some(path) = path {
                add(flag, &path.display().to_string());
            }
        }
        if !o.url.is_empty() && !o.api_url.is_empty() {
            parts.push("--api-key \"$CHALK_API_KEY\"".to_owned());
        }
        if !o.url.is_empty() && o.jwt_secret.is_some() {
            parts.push("--jwt-secret \"$CHALK_JWT_SECRET\"".to_owned());
        }
        let a = self.args;
        if a.max_actions != DEFAULT_MAX_ACTIONS && !what.starts_with("--replay") {
            parts.push(format!("--max-actions {}", a.max_actions));
        }
        if a.scale != 1 && !what.starts_with("--replay") {
            parts.push(format!("--scale {}", a.scale));
        }
        for (flag, value, default) in [
            ("--event-timeout", a.event_timeout, Duration::from_secs(2)),
            ("--quiet-window", a.quiet_window, Duration::from_millis(200)),
        ] {
            if value != default {
                parts.push(format!("{flag} {}ms", value.as_millis()));
            }
        }
        parts.push(what.to_owned());
        parts.join(" ")
    }
}

/// `90s`, `2m`, `1.5s`: a budget as the options take it.
fn budget_words(budget: Duration) -> String {
    let secs = budget.as_secs_f64();
    if budget.subsec_millis() == 0 && budget.as_secs().is_multiple_of(60) && budget.as_secs() > 0 {
        format!("{}m", budget.as_secs() / 60)
    } else if budget.subsec_millis() == 0 {
        format!("{}s", budget.as_secs())
    } else {
        format!("{secs:.1}s")
    }
}

/// A shell word: as is when it is plain, single-quoted otherwise.
fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Where the case as found is written, beside the minimal case's `path`: `NAME-found.EXT`, so
/// that shrinking never overwrites it.
fn as_found_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chalk-fuzz".to_owned());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-found.{}", ext.to_string_lossy()),
        None => format!("{stem}-found"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_as_found_is_written_beside_the_minimal_one() {
        assert_eq!(
            as_found_path(Path::new("ci/fuzz-failure.json")),
            Path::new("ci/fuzz-failure-found.json")
        );
        assert_eq!(
            as_found_path(Path::new("chalk-fuzz-7.json")),
            Path::new("chalk-fuzz-7-found.json")
        );
        assert_eq!(as_found_path(Path::new("case")), Path::new("case-found"));
    }

    #[test]
    fn the_first_case_of_a_seed_is_the_case_of_that_seed() {
        assert_eq!(case_seed(42, 0), 42);
        assert_ne!(case_seed(42, 1), case_seed(42, 2));
        let shape = Shape::scaled(1, 10);
        let again = case_tree(case_seed(42, 7), shape).current();
        assert_eq!(case_tree(case_seed(42, 7), shape).current(), again);
        assert_eq!(
            case_tree(case_seed(case_seed(42, 7), 0), shape).current(),
            again
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            quoted("ws://127.0.0.1:80/api/v1/ws"),
            "ws://127.0.0.1:80/api/v1/ws"
        );
        assert_eq!(quoted("it's here"), r"'it'\''s here'");
        assert_eq!(quoted(""), "''");
    }
}
