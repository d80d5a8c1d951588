//! The kill matrix: the conformance suite against the reference server with each injected fault
//! of `chalk_faults`, and with each allowed variation.
//!
//! - A fault must be *killed*: the run exits 1 and the requirement the fault breaks is among the
//!   failures (a failing scenario of that requirement, or a failure that names it). Must-level
//!   faults run without `--strict`, so that the exit code comes from must-level failures alone;
//!   should-level faults run with `--strict`. Every reference extension is declared, so that the
//!   extension scenarios run too.
//! - A variation must *pass*: the run exits 0 under `--strict` with no extension declared.
//! - A variation must not be a no-op: declaring the extension it gives up, the run exits 1 with a
//!   requirement of that extension failing; a variation that gives up no extension must leave its
//!   witness (see [`witness`]) in the run's HTML report, whose transcripts show what the server sent.
//! - A control fault (the server refuses any valid token, tokens signed with the key the suite
//!   was given, or the allowed origin) must make the run say that it *cannot judge*: exit 3 and
//!   a `cannot judge:` line, neither a pass nor a failure, since a run given the wrong key or
//!   origin meets the same refusals.
//! - Every must- and should-level requirement of the catalogue has at least one fault, but
//!   those of [`WITHOUT_A_FAULT_HERE`], each listed with the reason.
//! - A fault of a cluster requirement is judged on a cluster: [`CLUSTER_NODES`] faulty nodes
//!   sharing a private Redis, the suite given one `--url` and `--api-url` per node; and the
//!   unbroken reference server on such a cluster must pass with every extension declared,
//!   under `--strict` ([`Mode::Reference`]), so that a cluster fault is not killed by a
//!   scenario that would fail anyway.
//! - A fault of a lost node ([`FAILOVER_REQUIREMENTS`]) is judged on [`FAILOVER_NODES`] nodes
//!   that are processes (the `chalk-faults` binary, each with the fault, since the survivors'
//!   reapers report the lost node's members), which the suite kills and restarts through
//!   `--node-kill-command` and `--node-restart-command`, with the failover scenarios alone; the
//!   unbroken server deployed the same way must pass them ([`Mode::Failover`]). These runs need
//!   the binary built next to this test (`cargo build -p chalk-faults`; `cargo test
//!   --workspace` builds it).
//!
//! The test prints the matrix (run → failing requirements) and fails listing every run that was
//! not judged as expected.
//!
//! Each run happens in a child process (this binary again, with `--run-one`), because the runner
//! admits one run per process at a time: the child starts its own faulty server with
//! `chalk_faults::serve` (the reference server with the fault's seams installed; for a
//! clustered run, [`CLUSTER_NODES`] of them and a private `redis-server`) and runs the suite
//! against it with `chalk_conformance::commands::execute`, writing the suite's Cucumber
//! JSON report for the parent to read. At most [`PARALLEL_RUNS`] children run at once, and each
//! is killed after [`RUN_DEADLINE`]. The harness is our own (`harness = false` in `Cargo.toml`): this binary holds
//! one test, `every_fault_is_killed_and_every_variation_passes`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chalk_conformance::commands::{self, exit::ExitStatus};
use chalk_conformance::contract::catalogue::{Area, Catalogue, KNOWN_EXTENSIONS, Level};
use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
use chalk_conformance::report::console::Console;
use chalk_faults::{Fault, Faults, Kind};
use chalk_reference_server::Config;
use chalk_reference_server::config::EPHEMERAL_ALLOWED_ORIGIN;
use chalk_reference_server::node::{NodeId, RedisUrl};
use chalk_tests::RedisServer;
use serde_json::Value;

/// The one test of this binary.
const TEST_NAME: &str = "every_fault_is_killed_and_every_variation_passes";

/// What the suite's line starts with when it cannot judge.
const CANNOT_JUDGE: &str = "chalk-conformance: cannot judge: ";

/// The flag that turns this binary into one run of the suite: `--run-one FAULT MODE JSON_FILE`
/// (`--run-one none reference JSON_FILE` for the clustered control, `--run-one none failover
/// JSON_FILE` for the failover control).
const RUN_ONE: &str = "--run-one";

/// Children running at once. A child is a server plus a suite running 32 scenarios at a time;
/// most of a run is spent waiting for events that a faulty server never sends.
const PARALLEL_RUNS: usize = 4;

/// A child that has not finished after this long is killed, and its run counts as broken. A
/// guard against hangs, not a judgement of speed: a run takes a few seconds on an idle 2-core
/// machine, and up to a minute when other builds load it (seen in a clean-clone run beside two
/// builds), so the guard leaves room for three times that.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// Nodes of a clustered run, sharing one private Redis: the suite's cluster scenarios need two.
const CLUSTER_NODES: usize = 2;

/// The requirements of a lost node, whose faults are judged on nodes the suite can kill.
const FAILOVER_REQUIREMENTS: &[&str] = &["CLUSTER-014", "CLUSTER-015"];

/// Nodes of a failover run: the failover scenarios never lose node 1, and each loses a node of
/// its own.
const FAILOVER_NODES: usize = 3;

/// The scenarios a failover run runs.
const FAILOVER_TAGS: &str = "@req.CLUSTER-014 or @req.CLUSTER-015";

/// How the suite is pointed at a server, and what it must conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every extension declared (`--strict` for a should-level fault): exit 1, requirement failing.
    Fault,
    /// No extension declared, `--strict`: exit 0.
    Variation,
    /// Only the extension the variation gives up declared: exit 1, one of its requirements failing.
    Declared,
    /// Every extension declared, against a control fault: exit 3 with a `cannot judge` line.
    Control,
    /// Every extension declared, `--strict`, against the reference server unbroken, in a
    /// cluster: exit 0 (the control of the clustered runs).
    Reference,
    /// Every extension declared, `--strict`, the failover scenarios alone, against the reference
    /// server unbroken on [`FAILOVER_NODES`] processes the suite kills: exit 0 (the control of
    /// the failover runs).
    Failover,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fault => "fault",
            Mode::Variation => "variation",
            Mode::Declared => "declared",
            Mode::Control => "control",
            Mode::Reference => "reference",
            Mode::Failover => "failover",
        }
    }

    fn parse(text: &str) -> Option<Mode> {
        [
            Mode::Fault,
            Mode::Variation,
            Mode::Declared,
            Mode::Control,
            Mode::Reference,
            Mode::Failover,
        ]
        .into_iter()
        .find(|m| m.name() == text)
    }
}

/// One run of the matrix.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// `None`: the reference server unbroken ([`Mode::Reference`], [`Mode::Failover`]).
    fault: Option<Fault>,
    mode: Mode,
}

/// The name `--run-one` takes for the unbroken server of [`Mode::Reference`].
const NO_FAULT: &str = "none";

impl Run {
    /// Every run: each fault, each variation, each variation that gives up an extension again
    /// with that extension declared, and the unbroken server on a cluster.
    fn all() -> Vec<Run> {
        let mut runs = Vec::new();
        for fault in Fault::ALL.iter().copied() {
            let fault_run = |mode| Run {
                fault: Some(fault),
                mode,
            };
            match fault.kind() {
                Kind::Fault { .. } => runs.push(fault_run(Mode::Fault)),
                Kind::Control { .. } => runs.push(fault_run(Mode::Control)),
                Kind::Variation { withdraws } => {
                    runs.push(fault_run(Mode::Variation));
                    if withdraws.is_some() {
                        runs.push(fault_run(Mode::Declared));
                    }
                }
            }
        }
        for mode in [Mode::Reference, Mode::Failover] {
            runs.push(Run { fault: None, mode });
        }
        runs
    }

    /// What the fault is (`None` for the unbroken server).
    fn kind(self) -> Option<Kind> {
        self.fault.map(Fault::kind)
    }

    /// The fault's name for `--run-one`, [`NO_FAULT`] for none.
    fn fault_name(self) -> &'static str {
        self.fault.map_or(NO_FAULT, Fault::name)
    }

    /// Whether the run is against a cluster of [`CLUSTER_NODES`] nodes: the unbroken server's,
    /// and a fault's of a requirement of the cluster area (only such a deployment shows it).
    fn clustered(self, catalogue: &Catalogue) -> bool {
        match self.fault.and_then(Fault::requirement) {
            None => self.fault.is_none(),
            Some(id) => catalogue
                .requirement(id)
                .is_some_and(|r| r.area == Area::Cluster),
        }
    }

    /// Whether the run is against nodes the suite kills: the unbroken server's of
    /// [`Mode::Failover`], and a fault's of a requirement of [`FAILOVER_REQUIREMENTS`].
    fn failover(self) -> bool {
        match self.fault.and_then(Fault::requirement) {
            None => self.mode == Mode::Failover,
            Some(id) => FAILOVER_REQUIREMENTS.contains(&id),
        }
    }

    fn label(self) -> String {
        match (self.mode, self.fault, self.kind()) {
            (
                Mode::Declared,
                Some(fault),
                Some(Kind::Variation {
                    withdraws: Some(extension),
                }),
            ) => {
                format!("{fault} +{extension}")
            }
            (_, Some(fault), _) => fault.to_string(),
            (Mode::Failover, None, _) => format!("reference, {FAILOVER_NODES} nodes killed"),
            (_, None, _) => format!("reference, {CLUSTER_NODES} nodes"),
        }
    }

    /// What the run must find, for the matrix.
    fn expects(self) -> String {
        match (self.mode, self.kind()) {
            (Mode::Fault, Some(Kind::Fault { requirement })) => requirement.to_owned(),
            (Mode::Declared, _) => "extension".to_owned(),
            (Mode::Control, _) => "cannot judge".to_owned(),
            _ => "conformant".to_owned(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == RUN_ONE) {
        let fault = args.get(at + 1).and_then(|f| match f.as_str() {
            NO_FAULT => Some(None),
            name => name.parse::<Fault>().ok().map(Some),
        });
        let mode = args.get(at + 2).and_then(|m| Mode::parse(m));
        return match (fault, mode, args.get(at + 3)) {
            (Some(fault), Some(mode), Some(json))
                if fault.is_none() == matches!(mode, Mode::Reference | Mode::Failover) =>
            {
                run_one(Run { fault, mode }, Path::new(json))
            }
            _ => {
                eprintln!(
                    "usage: kill_matrix {RUN_ONE} FAULT fault|variation|declared|control JSON_FILE\n   \
                     or: kill_matrix {RUN_ONE} {NO_FAULT} reference|failover JSON_FILE"
                );
                ExitCode::from(2)
            }
        };
    }
    if args.iter().any(|a| a == "--list") {
        println!("{TEST_NAME}: test");
        return ExitCode::SUCCESS;
    }
    // Behave like a libtest binary given a name filter: `cargo test some_other_test` skips us.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| TEST_NAME.contains(f.as_str())) {
        println!("running 0 tests ({TEST_NAME} filtered out)");
        return ExitCode::SUCCESS;
    }
    println!("running 1 test: {TEST_NAME}");
    if every_fault_is_killed_and_every_variation_passes() {
        println!("test {TEST_NAME} ... ok");
        ExitCode::SUCCESS
    } else {
        println!("test {TEST_NAME} ... FAILED");
        ExitCode::FAILURE
    }
}

/// What one run found.
#[derive(Debug)]
struct Outcome {
    run: Run,
    /// The exit code of the suite, or `None` when the run broke (killed after the deadline,
    /// crashed).
    exit: Option<i32>,
    /// Every failing requirement, and whether a failure message names it (rather than only the
    /// tag of a scenario that failed because of something else).
    failing: BTreeMap<String, bool>,
    /// The run's console output, shown when the outcome is not the expected one.
    output: String,
    /// For a variation with a [`witness`]: whether the run's report shows it.
    witnessed: Option<bool>,
    elapsed: Duration,
}

impl Outcome {
    /// Whether the suite judged the server the way the matrix expects.
    fn as_expected(&self, catalogue: &Catalogue) -> bool {
        match (self.run.mode, self.run.kind()) {
            (Mode::Fault, Some(Kind::Fault { requirement })) => {
                self.exit == Some(1) && self.failing.contains_key(requirement)
            }
            (
                Mode::Declared,
                Some(Kind::Variation {
                    withdraws: Some(extension),
                }),
            ) => {
                self.exit == Some(1)
                    && catalogue
                        .of_extension(extension)
                        .any(|r| self.failing.contains_key(&r.id))
            }
            (Mode::Control, _) => {
                self.exit == Some(3) && self.output.lines().any(|l| l.starts_with(CANNOT_JUDGE))
            }
            _ => self.exit == Some(0) && self.witnessed != Some(false),
        }
    }

    fn verdict(&self, catalogue: &Catalogue) -> &'static str {
        match (self.run.mode, self.as_expected(catalogue)) {
            (Mode::Fault, true) => "killed",
            (Mode::Fault, false) => "SURVIVED",
            (Mode::Variation, true) => "passes",
            (Mode::Variation, false) if self.exit == Some(0) => "UNSEEN",
            (Mode::Variation, false) => "FAILS",
            (Mode::Declared, true) => "caught",
            (Mode::Declared, false) => "NO-OP",
            (Mode::Control, true) => "refused",
            (Mode::Control, false) => "JUDGED",
            (Mode::Reference, true) => "passes",
            (Mode::Reference, false) => "FAILS",
            (Mode::Failover, true) => "passes",
            (Mode::Failover, false) => "FAILS",
        }
    }

    /// The failing requirements, the one the run is about first, those no failure message names
    /// marked with `*`, at most [`SHOWN`] of them.
    fn failing_shown(&self) -> String {
        const SHOWN: usize = 12;
        let about = self.run.fault.and_then(Fault::requirement);
        let mut ids: Vec<(&String, &bool)> = self.failing.iter().collect();
        ids.sort_by_key(|(id, _)| Some(id.as_str()) != about);
        let mut shown: Vec<String> = ids
            .iter()
            .take(SHOWN)
            .map(|(id, named)| {
                if **named {
                    (*id).clone()
                } else {
                    format!("{id}*")
                }
            })
            .collect();
        if ids.len() > SHOWN {
            shown.push(format!("… {} more", ids.len() - SHOWN));
        }
        shown.join(", ")
    }
}

fn every_fault_is_killed_and_every_variation_passes() -> bool {
    let started = Instant::now();
    let catalogue = match Catalogue::bundled() {
        Ok(catalogue) => catalogue,
        Err(e) => {
            println!("the bundled catalogue does not load: {e}");
            return false;
        }
    };
    let uncovered = requirements_without_a_fault(&catalogue);
    for (id, _) in WITHOUT_A_FAULT_HERE {
        if Fault::ALL.iter().any(|f| f.requirement() == Some(*id)) {
            println!("{id} has a fault now: take it off WITHOUT_A_FAULT_HERE");
            return false;
        }
        if catalogue.requirement(id).is_none() {
            println!("{id} of WITHOUT_A_FAULT_HERE is not in the catalogue");
            return false;
        }
    }
    for (name, _) in WITNESSES {
        if !name.parse::<Fault>().is_ok_and(Fault::is_variation) {
            println!("the witness of {name:?} names no variation of chalk_faults");
            return false;
        }
    }
    let dir = std::env::temp_dir().join(format!("chalk-kill-matrix-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        println!("cannot create {}: {e}", dir.display());
        return false;
    }
    let queue = Arc::new(Mutex::new(Run::all().into_iter().collect::<VecDeque<_>>()));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..PARALLEL_RUNS)
        .map(|_| {
            let (queue, outcomes, dir) = (Arc::clone(&queue), Arc::clone(&outcomes), dir.clone());
            std::thread::spawn(move || {
                while let Some(run) = next(&queue) {
                    let outcome = run_child(run, &dir);
                    outcomes
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(outcome);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut outcomes = std::mem::take(&mut *outcomes.lock().unwrap_or_else(|e| e.into_inner()));
    let order = Run::all();
    outcomes.sort_by_key(|o| {
        order
            .iter()
            .position(|r| r.fault == o.run.fault && r.mode == o.run.mode)
    });

    println!("{}", render_matrix(&outcomes, &catalogue));
    let unexpected: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.as_expected(&catalogue))
        .collect();
    for outcome in &unexpected {
        println!(
            "\n---- {} ({}) ----\n{}",
            outcome.run.label(),
            outcome.verdict(&catalogue),
            outcome.output
        );
    }
    let count = |wanted: fn(Kind) -> bool| Fault::ALL.iter().filter(|f| wanted(f.kind())).count();
    println!(
        "\n{} faults, {} control faults, {} variations, {} runs in {:.1}s",
        count(|k| matches!(k, Kind::Fault { .. })),
        count(|k| matches!(k, Kind::Control { .. })),
        count(|k| matches!(k, Kind::Variation { .. })),
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    if !uncovered.is_empty() {
        println!(
            "\nRequirements no fault breaks (add one to chalk_faults): {}",
            uncovered.join(", ")
        );
    }
    if unexpected.is_empty() && outcomes.len() == order.len() && uncovered.is_empty() {
        return true;
    }
    if unexpected.is_empty() {
        return false;
    }
    println!("\nNot judged as expected:");
    for outcome in unexpected {
        println!(
            "  {:<34} expected {}; got {} with [{}]",
            outcome.run.label(),
            outcome.run.expects(),
            outcome
                .exit
                .map_or("no verdict".to_owned(), |c| format!("exit {c}")),
            outcome.failing_shown()
        );
    }
    false
}

/// The must- and should-level requirements no fault breaks, but those of
/// [`WITHOUT_A_FAULT_HERE`].
fn requirements_without_a_fault(catalogue: &Catalogue) -> Vec<String> {
    catalogue
        .active()
        .filter(|r| matches!(r.level, Level::Must | Level::Should))
        .filter(|r| !WITHOUT_A_FAULT_HERE.iter().any(|(id, _)| *id == r.id))
        .filter(|r| {
            !Fault::ALL
                .iter()
                .any(|f| f.requirement() == Some(r.id.as_str()))
        })
        .map(|r| r.id.clone())
        .collect()
}

/// The requirements this matrix has no fault for, each with the reason. A fault added for one
/// of them must take it off this list (the test checks that none here has a fault).
const WITHOUT_A_FAULT_HERE: &[(&str, &str)] = &[
    (
        "CLUSTER-009",
        "a removed participant is refused twice: by the handshake's directory check and by the \
         JOIN script, which runs before the 101; a node whose directory overlooks a removal made \
         elsewhere still answers 403, and the script is behind every seam a fault can wrap",
    ),
    (
        "CLUSTER-011",
        "as CLUSTER-009, for a room ended through another node (the JOIN script refuses an ended \
         room before the 101)",
    ),
    (
        "CLUSTER-013",
        "in cluster mode the recording events are appended by the Redis directory's own \
         scripts, behind every seam a fault can wrap",
    ),
];

fn next(queue: &Mutex<VecDeque<Run>>) -> Option<Run> {
    queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
}

/// Runs this binary with `--run-one`, bounded by [`RUN_DEADLINE`], and reads its report.
fn run_child(run: Run, dir: &Path) -> Outcome {
    let started = Instant::now();
    let json = dir.join(format!("{}-{}.json", run.fault_name(), run.mode.name()));
    let witnessed = || {
        let wanted = witness(run.fault?).filter(|_| run.mode == Mode::Variation)?;
        let report = std::fs::read_to_string(json.with_extension("html")).unwrap_or_default();
        Some(report.contains(wanted))
    };
    let outcome = |exit, failing, output| Outcome {
        run,
        exit,
        failing,
        output,
        witnessed: witnessed(),
        elapsed: started.elapsed(),
    };
    let child = std::env::current_exe().and_then(|exe| {
        let mut command = Command::new(exe);
        command
            .args([RUN_ONE, run.fault_name(), run.mode.name()])
            .arg(&json)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Every option of the suite can come from a CHALK_* variable; the matrix sets its own.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CHALK_") {
                command.env_remove(name);
            }
        }
        command.spawn()
    });
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            return outcome(
                None,
                BTreeMap::new(),
                format!("cannot start the child: {e}"),
            );
        }
    };
    let (exit, output) = wait_bounded(child, RUN_DEADLINE);
    match read_failing(&json) {
        Ok(failing) => outcome(exit, failing, output),
        Err(e) => outcome(
            exit,
            BTreeMap::new(),
            format!("{output}\n(no usable report: {e})"),
        ),
    }
}

/// Waits for `child` at most `deadline` (killing it then); its exit code and its output.
fn wait_bounded(mut child: Child, deadline: Duration) -> (Option<i32>, String) {
    // The pipes are read on threads so that a full pipe cannot stall the child.
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let until = Instant::now() + deadline;
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut output = stdout.join().unwrap_or_default();
    let errors = stderr.join().unwrap_or_default();
    if !errors.trim().is_empty() {
        let _ = write!(output, "\nstderr:\n{errors}");
    }
    if exit.is_none() {
        let _ = write!(output, "\n(killed after {}s)", deadline.as_secs());
    }
    (exit, output)
}

/// The failing requirements of a Cucumber JSON report: the `[ID]` each failure message starts
/// with (named), and the `@req.` tag of every scenario with a failed step or hook.
fn read_failing(path: &Path) -> Result<BTreeMap<String, bool>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let report: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut failing = BTreeMap::new();
    let scenarios = report
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|feature| feature["elements"].as_array().into_iter().flatten());
    for scenario in scenarios {
        let failures: Vec<&Value> = ["steps", "after"]
            .iter()
            .flat_map(|part| scenario[*part].as_array().into_iter().flatten())
            .map(|entry| &entry["result"])
            .filter(|result| result["status"] == "failed")
            .collect();
        if failures.is_empty() {
            continue;
        }
        for message in failures.iter().filter_map(|r| r["error_message"].as_str()) {
            if let Some((id, _)) = message.strip_prefix('[').and_then(|m| m.split_once(']')) {
                failing.insert(id.to_owned(), true);
            }
        }
        let tags = scenario["tags"].as_array().into_iter().flatten();
        for id in tags.filter_map(|t| t["name"].as_str()?.strip_prefix("@req.")) {
            failing.entry(id.to_owned()).or_insert(false);
        }
    }
    Ok(failing)
}

fn render_matrix(outcomes: &[Outcome], catalogue: &Catalogue) -> String {
    let mut out = String::from("\nKill matrix\n===========\n");
    let _ = writeln!(
        out,
        "{:<34} {:<11} {:>4} {:<8} {:>6}  failing requirements (* = a scenario of it failed, \
         but no failure names it)",
        "run", "expects", "exit", "verdict", "time"
    );
    for outcome in outcomes {
        let _ = writeln!(
            out,
            "{:<34} {:<11} {:>4} {:<8} {:>5.1}s  {}",
            outcome.run.label(),
            outcome.run.expects(),
            outcome.exit.map_or("-".to_owned(), |c| c.to_string()),
            outcome.verdict(catalogue),
            outcome.elapsed.as_secs_f64(),
            outcome.failing_shown()
        );
    }
    out
}

/// The child: one faulty server, one run of the suite against it, the report written to `json`.
fn run_one(run: Run, json: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let status = runtime.block_on(judge(run, json.to_owned()));
    ExitCode::from(status.code())
}

/// Serves the reference server with the run's fault (on [`CLUSTER_NODES`] nodes sharing a
/// private Redis, for a clustered run) and runs the suite against it, one `--url` and
/// `--api-url` per node.
async fn judge(run: Run, json: PathBuf) -> ExitStatus {
    let catalogue = match Catalogue::bundled() {
        Ok(catalogue) => catalogue,
        Err(e) => {
            println!("the bundled catalogue does not load: {e}");
            return ExitStatus::Unreachable;
        }
    };
    let mut config = Config::ephemeral();
    config.shutdown_drain = Duration::from_millis(500);
    // The embedded run's short idle timeout and heartbeat, stated to the suite as a user would:
    // the keepalive scenario then lasts seconds, well inside RUN_DEADLINE.
    config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
    config.limits.heartbeat_interval = SUITE_HEARTBEAT;
    if run.failover() {
        return judge_failover(run, &config, &json).await;
    }
    let secret = config.jwt_secret().unwrap_or_default().to_owned();
    let api_key = config.api_key().unwrap_or_default().to_owned();
    let faults = run.fault.map(Faults::from).unwrap_or_default();
    // Stopped when dropped, after the nodes.
    let redis = run.clustered(&catalogue).then(RedisServer::start);
    let mut nodes = Vec::new();
    for index in 1..=redis.as_ref().map_or(1, |_| CLUSTER_NODES) {
        let mut node = config.clone();
        if let Some(redis) = &redis {
            node.redis_url = RedisUrl::parse(&redis.url()).ok();
            node.node_id = NodeId::parse(&format!("node-{index}")).ok();
        }
        match chalk_faults::serve(node, faults).await {
            Ok(server) => nodes.push(server),
            Err(e) => {
                println!("the faulty server does not start: {e}");
                for server in nodes {
                    server.shutdown().await;
                }
                return ExitStatus::Unreachable;
            }
        }
    }
    let mut args = vec!["chalk-conformance".to_owned()];
    for server in &nodes {
        args.extend([
            "--url".to_owned(),
            server.ws_url(),
            "--api-url".to_owned(),
            server.api_url(),
        ]);
    }
    args.extend([
        "--jwt-secret".to_owned(),
        secret,
        "--api-key".to_owned(),
        api_key,
        "--origin".to_owned(),
        EPHEMERAL_ALLOWED_ORIGIN.to_owned(),
        "--json".to_owned(),
        json.display().to_string(),
        // The faulty servers' tenant has an explicit origin list; a fault of ORIGIN-005, the
        // look-alikes under patterns, is judged as a deployment without one.
        "--origin-mode".to_owned(),
        match run.fault.and_then(Fault::requirement) {
            Some("ORIGIN-005") => "patterns",
            _ => "exact",
        }
        .to_owned(),
        "--idle-timeout".to_owned(),
        format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis()),
    ]);
    if run.fault.and_then(witness).is_some() && run.mode == Mode::Variation {
        args.extend([
            "--report".to_owned(),
            json.with_extension("html").display().to_string(),
        ]);
    }
    match (run.mode, run.kind()) {
        (Mode::Control, _) => {
            args.extend(["--declare".to_owned(), KNOWN_EXTENSIONS.join(",")]);
        }
        (Mode::Fault, Some(Kind::Fault { requirement })) => {
            args.extend(["--declare".to_owned(), KNOWN_EXTENSIONS.join(",")]);
            if is_should(requirement) {
                args.push("--strict".to_owned());
            }
        }
        (
            Mode::Declared,
            Some(Kind::Variation {
                withdraws: Some(extension),
            }),
        ) => {
            args.extend(["--declare".to_owned(), extension.to_owned()]);
        }
        (Mode::Reference, _) => {
            args.extend([
                "--declare".to_owned(),
                KNOWN_EXTENSIONS.join(","),
                "--strict".to_owned(),
            ]);
        }
        _ => args.push("--strict".to_owned()),
    }
    let (console, output) = Console::buffer();
    let status = commands::execute(args, &console).await;
    print!("{}", output.contents());
    for server in nodes {
        server.shutdown().await;
    }
    drop(redis);
    status
}

/// A failover run: [`FAILOVER_NODES`] processes of the `chalk-faults` binary with the run's
/// fault (none for [`Mode::Failover`]) on a private Redis, and the failover scenarios alone,
/// given the commands that kill a node and start it again.
async fn judge_failover(run: Run, config: &Config, json: &Path) -> ExitStatus {
    let binary = match faults_binary() {
        Ok(binary) => binary,
        Err(missing) => {
            println!("{missing}");
            return ExitStatus::Unreachable;
        }
    };
    let redis = RedisServer::start();
    let nodes = ScriptedNodes {
        dir: json.with_extension("nodes"),
        binary,
    };
    let mut args = vec!["chalk-conformance".to_owned()];
    for index in 1..=FAILOVER_NODES {
        let port = match nodes.start(index, run.fault, config, &redis.url()) {
            Ok(port) => port,
            Err(e) => {
                println!("the faulty node {index} does not start: {e}");
                return ExitStatus::Unreachable;
            }
        };
        args.extend([
            "--url".to_owned(),
            format!("ws://127.0.0.1:{port}/api/v1/ws"),
        ]);
        // Node 1's REST API alone: the suite spreads its provisioning over every `--api-url`,
        // a killed node's included, and the failover scenarios never lose node 1.
        if index == 1 {
            args.extend([
                "--api-url".to_owned(),
                format!("http://127.0.0.1:{port}/api/v1"),
            ]);
        }
    }
    let dir = nodes.dir.display().to_string();
    args.extend([
        "--jwt-secret".to_owned(),
        config.jwt_secret().unwrap_or_default().to_owned(),
        "--api-key".to_owned(),
        config.api_key().unwrap_or_default().to_owned(),
        "--origin".to_owned(),
        EPHEMERAL_ALLOWED_ORIGIN.to_owned(),
        "--json".to_owned(),
        json.display().to_string(),
        "--tags".to_owned(),
        FAILOVER_TAGS.to_owned(),
        "--node-kill-command".to_owned(),
        format!("kill -9 $(cat '{dir}/pid-'$CHALK_NODE_INDEX)"),
        "--node-restart-command".to_owned(),
        format!("sh '{dir}/start-'$CHALK_NODE_INDEX.sh"),
        "--declare".to_owned(),
        KNOWN_EXTENSIONS.join(","),
        "--strict".to_owned(),
    ]);
    let (console, output) = Console::buffer();
    let status = commands::execute(args, &console).await;
    print!("{}", output.contents());
    drop(nodes);
    drop(redis);
    status
}

/// The `chalk-faults` binary next to this test's (`target/debug/chalk-faults`), or what to do
/// when it is missing.
fn faults_binary() -> Result<PathBuf, String> {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("chalk-faults")))
        .ok_or("cannot tell where this test binary is")?;
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "{} is missing: the failover runs start it as the nodes the suite kills; build it \
             first (cargo build -p chalk-faults)",
            binary.display()
        ))
    }
}

/// The nodes of a failover run: a start script per node in `dir` (`start-N.sh`, which the
/// restart command runs again), each writing the node's process id to `pid-N` (which the kill
/// command reads) and its log to `log-N`. Dropping it kills (SIGKILL) the nodes still running,
/// if their id is still a `chalk-faults` process, and removes `dir`.
struct ScriptedNodes {
    dir: PathBuf,
    binary: PathBuf,
}

impl ScriptedNodes {
    /// Writes and runs the start script of node `index` (`node-{index}`) on a free port, with
    /// `fault` if any; the port once the node says it is ready.
    fn start(
        &self,
        index: usize,
        fault: Option<Fault>,
        config: &Config,
        redis_url: &str,
    ) -> std::io::Result<u16> {
        std::fs::create_dir_all(&self.dir)?;
        let port = chalk_tests::free_loopback_port();
        let fault = fault.map_or(String::new(), |f| format!(" --fault {}", f.name()));
        // The secrets go in the environment, never on a command line `ps` shows.
        let script = format!(
            "#!/bin/sh\n\
             log='{dir}/log-{index}'\n\
             : > \"$log\"\n\
             env -i RUST_LOG=info CHALK_JWT_SECRET='{secret}' CHALK_API_KEY='{key}' \\\n\
             \x20 '{bin}' --listen 127.0.0.1:{port} --node-id node-{index} --redis-url '{redis_url}' \\\n\
             \x20 --allowed-origin '{origin}'{fault} >/dev/null 2>>\"$log\" &\n\
             echo $! > '{dir}/pid-{index}'\n\
             tries=0\n\
             until grep -q ready \"$log\"; do\n\
             \x20 tries=$((tries + 1)); [ $tries -gt 200 ] && exit 1; sleep 0.05\n\
             done\n",
            dir = self.dir.display(),
            secret = config.jwt_secret().unwrap_or_default(),
            key = config.api_key().unwrap_or_default(),
            bin = self.binary.display(),
            origin = EPHEMERAL_ALLOWED_ORIGIN,
        );
        let path = self.dir.join(format!("start-{index}.sh"));
        std::fs::write(&path, script)?;
        let status = Command::new("sh").arg(&path).status()?;
        if status.success() {
            Ok(port)
        } else {
            let log =
                std::fs::read_to_string(self.dir.join(format!("log-{index}"))).unwrap_or_default();
            Err(std::io::Error::other(format!(
                "no ready line within 10 s:\n{log}"
            )))
        }
    }
}

impl Drop for ScriptedNodes {
    fn drop(&mut self) {
        for index in 1..=FAILOVER_NODES {
            let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("pid-{index}"))) else {
                continue;
            };
            let pid = pid.trim();
            // The id may have been reused since the node was killed.
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("chalk-faults"));
            if ours {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the catalogue has `id` at level should.
fn is_should(id: &str) -> bool {
    Catalogue::bundled()
        .ok()
        .and_then(|catalogue| catalogue.requirement(id).map(|r| r.level == Level::Should))
        .unwrap_or(false)
}

/// What the wire transcripts of a variation's run must show, for a variation that gives up no
/// extension (one that does is shown not to be a no-op by [`Mode::Declared`]): proof that the
/// variation acted, so that one which silently did nothing cannot pass for "allowed". Variations
/// that leave no trace in a transcript (fragments are reassembled, latency is only timing) are
/// checked on the wire by the unit tests of `chalk-faults`.
fn witness(fault: Fault) -> Option<&'static str> {
    WITNESSES
        .iter()
        .find(|(name, _)| *name == fault.name())
        .map(|(_, shown)| *shown)
}

/// Each variation with a witness, and the text its run's report must contain (as the HTML
/// report writes it; none of them appears in a report on the reference server as it ships).
const WITNESSES: &[(&str, &str)] = &[
    ("extra-envelope-fields", "server_time"),
    // A ping the server sent: the variation's payload is the 9 bytes "variation".
    ("server-pings", "(ping frame, 9 bytes; answered)"),
    // A timestamp in a received frame, written with +00:00 (the catalogue's text has it too,
    // but never followed by a closing quote).
    ("other-id-styles", "+00:00&quot;"),
    ("unknown-server-events", "room.notice"),
];
