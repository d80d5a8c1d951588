//! `chalk-conformance load`: a load generator that speaks Chalk.
//!
//! It opens `--rooms` × `--participants` connections (plus `--idle-connections` that are only
//! held), each with the real handshake: a provisioned token, the `chalk` subprotocol and the
//! allowed origin, exactly as the suite gets them (embedded reference server by default, or
//! `--url` with the suite's provisioning options). Then `--senders` per room send chat messages
//! for `--duration`, either keeping `--window` messages in flight or at `--rate` messages per
//! second per room, and every receiver checks what arrives (see [`client`]). The result is a
//! table and, with `--results-json`, a JSON document ([`report`]); anything lost, duplicated or
//! misrouted, or any error, makes the exit code 1.
//!
//! `--raw` drops the Chalk handshake and loads a plain broadcast server (one that relays every
//! text frame to every connection of its room, `?room=` in the URL) with the same frames, so the
//! reference server can be compared like for like with general-purpose servers
//! (`benches/compare.sh`).
//!
//! With several `--url`s (the nodes of one deployment), the members of every room take the URLs
//! in turn ([`client::node_of`]), and each delivery counts as same-node (its sender connected to
//! the same URL as its receiver) or cross-node; the report splits deliveries and fan-out latency
//! that way. The node is known only by the URL a socket connected to: behind a load balancer
//! (one URL) everything is "same-node", and two URLs of one server make half of it "cross-node".
//!
//! Every loop is bounded: connections by `--max-connections`, sending by `--duration`, waiting
//! by fixed timeouts. Targets outside loopback are refused unless `--allow-remote` is given.

pub mod client;
pub mod marker;
pub mod process;
pub mod report;
pub mod stats;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::client::{Outcome, Pace, Phase, RoomShared, RunShared, Seat, node_of};
use self::process::Probe;
use self::report::{
    Connections, Cpu, LoadAverage, Memory, NodeSplit, RouteFigures, Shape, Summary, thousands,
};
use self::stats::{Percentiles, Recorder, Route, latency_histogram};
use super::cli::LoadArgs;
use super::exit::ExitStatus;
use crate::driver::deployment::{
    Access, Deployment, DeploymentError, EMBEDDED_LABEL, EmbeddedProvisioning, EmbeddedSetup,
};
use crate::driver::embedded::{SERVER_THREADS, Tuning};
use crate::driver::handshake::UpgradeRequest;
use crate::driver::provision::run_id;
use crate::driver::redact::url_without_credentials;
use crate::driver::transport::{self, Target};
use crate::report::console::Console;

/// The first letters of load run ids.
const RUN_ID_PREFIX: &str = "ld";

/// Prefix of the load generator's thread names.
const GENERATOR_THREADS: &str = "chalk-load";

/// Longest `--duration` accepted.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Largest `--window`: each sender keeps a ring of four windows of counters, and the
/// reference server's outbound queue (1024 frames) is full long before.
const MAX_WINDOW: u32 = 1024;

/// Largest `--rate` per room: a schedule in whole nanoseconds cannot pace much faster, and a
/// sender's interval must stay above zero for its loop to end.
const MAX_RATE: u32 = 1_000_000;

/// How long connections may take to get their first frame (Chalk: `room.state`).
const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the probe may take to reach every member of every room.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long after the probe reached the others the prober waits for its own copy.
const ECHO_GRACE: Duration = Duration::from_millis(300);

/// How long the connections get, together, to close after the run.
const CLOSING_TIMEOUT: Duration = Duration::from_secs(10);

/// Provisioning calls (REST, token command, minting) at once.
const PROVISIONING_CONCURRENCY: usize = 16;

/// Open files kept free for everything that is not a load connection.
const SPARE_FILES: u64 = 64;

/// A load shape that passed every check.
#[derive(Debug, Clone)]
struct Checked {
    args: LoadArgs,
    pace: Pace,
    /// The `--url`s, parsed: the nodes (none: the embedded server).
    targets: Vec<Target>,
    connections: u64,
}

/// Checks the options; the first problem, as one line.
fn check(args: &LoadArgs) -> Result<Checked, String> {
    let targets = args
        .provisioning
        .url
        .iter()
        .map(|url| Target::parse(url))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if !args.allow_remote {
        for (url, target) in args.provisioning.url.iter().zip(&targets) {
            refuse_remote(url, &target.host)?;
        }
        for api in &args.provisioning.api_url {
            let url = transport::check_api_url(api).map_err(|e| e.to_string())?;
            refuse_remote(api, url.host_str().unwrap_or_default())?;
        }
    }
    if args.raw && targets.is_empty() {
        return Err("--raw needs --url (the embedded server speaks only Chalk)".to_owned());
    }
    if args.rooms > 0 && args.participants == 0 {
        return Err("--participants must be at least 1".to_owned());
    }
    if args.rooms > 0 && (args.senders == 0 || args.senders > args.participants) {
        return Err("--senders must be between 1 and --participants".to_owned());
    }
    if args.idle_connections > 0 && args.idle_room_size == 0 {
        return Err("--idle-room-size must be at least 1".to_owned());
    }
    let pace = match (args.rate, args.window) {
        (Some(rate), _) if !(1..=MAX_RATE).contains(&rate) => {
            return Err(format!(
                "--rate must be between 1 and {MAX_RATE} messages per second"
            ));
        }
        (Some(rate), _) => Pace::Rate(f64::from(rate) / f64::from(args.senders.max(1))),
        (None, Some(window)) if !(1..=MAX_WINDOW).contains(&window) => {
            return Err(format!("--window must be between 1 and {MAX_WINDOW}"));
        }
        (None, Some(window)) => Pace::Window(window),
        (None, None) => Pace::Window(8),
    };
    if args.duration.is_zero() || args.duration > MAX_DURATION {
        return Err("--duration must be more than zero and at most 1h".to_owned());
    }
    if args.payload_bytes == 0 || args.payload_bytes > 1024 * 1024 {
        return Err("--payload-bytes must be between 1 and 1048576".to_owned());
    }
    if args.connect_timeout.is_zero() {
        return Err("--connect-timeout must be more than zero".to_owned());
    }
    if !(1..=1024).contains(&args.connect_concurrency) {
        return Err("--connect-concurrency must be between 1 and 1024".to_owned());
    }
    if !(1..=64).contains(&args.threads) || !(1..=64).contains(&args.server_threads) {
        return Err("--threads and --server-threads must be between 1 and 64".to_owned());
    }
    let connections =
        u64::from(args.rooms) * u64::from(args.participants) + u64::from(args.idle_connections);
    if connections == 0 {
        return Err("nothing to do: give --rooms and --participants, or --idle-connections".into());
    }
    if connections > u64::from(args.max_connections) {
        return Err(format!(
            "the shape needs {connections} connections, more than --max-connections {}",
            args.max_connections
        ));
    }
    // An embedded server holds the other end of every connection in this same process.
    let files = connections * if targets.is_empty() { 2 } else { 1 } + SPARE_FILES;
    if let Some((soft, _)) = process::open_file_limits()
        && files > soft
    {
        return Err(format!(
            "the shape needs about {files} open files and this process may open {soft} \
             (raise it with `ulimit -n`, or run the server as its own process with --url)"
        ));
    }
    Ok(Checked {
        args: args.clone(),
        pace,
        targets,
        connections,
    })
}

/// Refuses a host outside loopback.
fn refuse_remote(url: &str, host: &str) -> Result<(), String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "refusing to load {url}: {host} is not a loopback address \
             (pass --allow-remote to load a server you operate)"
        ))
    }
}

/// Runs `chalk-conformance load`: checks the options, then generates the load on a runtime of
/// its own (`--threads` workers) and reports.
pub async fn run(args: LoadArgs, console: &Console) -> ExitStatus {
    let checked = match check(&args) {
        Ok(checked) => checked,
        Err(problem) => {
            console.line(&format!("chalk-conformance load: {problem}"));
            return ExitStatus::Usage;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .thread_name(GENERATOR_THREADS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            console.line(&format!(
                "chalk-conformance load: cannot start the runtime: {e}"
            ));
            return ExitStatus::Usage;
        }
    };
    let (done, status) = oneshot::channel();
    let generator_console = console.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{GENERATOR_THREADS}-main"))
        .spawn(move || {
            let status = runtime.block_on(generate(checked, generator_console));
            let _ = done.send(status);
        });
    if let Err(e) = spawned {
        console.line(&format!(
            "chalk-conformance load: cannot start the generator: {e}"
        ));
        return ExitStatus::Usage;
    }
    status.await.unwrap_or_else(|_| {
        console.line("chalk-conformance load: the load generator stopped unexpectedly");
        ExitStatus::NonConformant
    })
}

/// A connection to open.
struct Planned {
    seat: Seat,
    target: Target,
    request: UpgradeRequest,
}

/// The whole run on the generator's runtime, phase by phase: enter the deployment, provision,
/// connect, wait for the greetings, probe, send and measure, close, then account (summarise)
/// and report.
async fn generate(checked: Checked, console: Console) -> ExitStatus {
    let args = &checked.args;
    let load_start = report::load_average();
    let deployment = match enter(&checked).await {
        Ok(deployment) => deployment,
        Err((status, problem)) => {
            console.line(&format!("chalk-conformance load: {problem}"));
            return status;
        }
    };
    let nodes = node_targets(&checked, &deployment);
    let urls: Vec<String> = nodes
        .iter()
        .map(|node| url_without_credentials(&node.url))
        .collect();
    let url = urls.join(", ");
    let (rooms, planned) = match provision(&checked, &deployment, &nodes, &url).await {
        Ok(provisioned) => provisioned,
        Err(problem) => {
            console.line(&format!(
                "chalk-conformance load: provisioning failed: {}",
                deployment.redactor().redact(&problem)
            ));
            deployment.shutdown().await;
            return ExitStatus::Unreachable;
        }
    };
    let probes = Probes::of(deployment.embedded(), args.server_pid);
    let run = Arc::new(RunShared {
        clock: Instant::now(),
        payload_bytes: args.payload_bytes,
        pace: checked.pace,
        recorder: Recorder::new(16),
        greeted: AtomicU32::new(0),
        schedule_lag_ns: AtomicU64::new(0),
        late_sends: AtomicU64::new(0),
        nodes: nodes.len() as u32,
    });
    let baseline_rss = probes.server_rss();
    let (phase, phase_rx) = watch::channel(Phase::Connecting);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();

    let mut connected = connect(&checked, &deployment, planned, &run, &phase_rx, &mut errors).await;
    if connected.established == 0 {
        // Nothing to measure: say why in one line, as the suite does for an unreachable target.
        let why = errors
            .keys()
            .next()
            .map_or("no connection", |e| e.trim_start_matches("connect: "));
        console.line(&format!(
            "chalk-conformance load: cannot connect to {url}: {why}"
        ));
        deployment.shutdown().await;
        return ExitStatus::Unreachable;
    }
    let ungreeted = await_greetings(args, &run, connected.established).await;
    let connected_rss = probes.server_rss();
    // One message per room shows every member is in, and whether the sender hears itself.
    let echo = rooms.is_empty() || probe(&rooms, &phase, &mut errors).await;
    let measured = send_and_measure(args, &rooms, &run, &phase, &probes, &connected.tasks).await;
    let after_load_rss = probes.server_rss();
    let outcomes = close(&phase, &mut connected.tasks, &mut errors).await;

    let observed = Observed {
        load_start,
        connected,
        ungreeted,
        echo,
        measured,
        rss: [baseline_rss, connected_rss, after_load_rss],
        server_measured: probes.server.is_some(),
        outcomes,
        errors,
    };
    let summary = summarise(&checked, &deployment, urls, &rooms, &run, observed);
    deployment.shutdown().await;
    write_report(&console, args, &summary)
}

/// Where the connections go: the `--url`s in order, or the embedded server.
fn node_targets(checked: &Checked, deployment: &Deployment) -> Vec<Target> {
    if checked.targets.is_empty() {
        vec![deployment.target().clone()]
    } else {
        checked.targets.clone()
    }
}

/// Provisions the rooms and participants of a new run id at `url`: each room's shared state,
/// and the connections to open, spread over `nodes`.
async fn provision(
    checked: &Checked,
    deployment: &Deployment,
    nodes: &[Target],
    url: &str,
) -> Result<(Vec<Arc<RoomShared>>, Vec<Planned>), String> {
    let args = &checked.args;
    let run_id = run_id(RUN_ID_PREFIX);
    let rooms: Vec<Arc<RoomShared>> = (0..args.rooms)
        .map(|i| {
            Arc::new(RoomShared::new(
                i,
                format!("{run_id}-r{i}"),
                args.senders,
                checked.pace,
            ))
        })
        .collect();
    progress(
        args,
        &format!("provisioning {} connections for {url}", checked.connections),
    );
    let planned = plan_connections(args, deployment, nodes, &rooms, &run_id).await?;
    Ok((rooms, planned))
}

/// A progress line on stderr, unless `--quiet`.
fn progress(args: &LoadArgs, line: &str) {
    if !args.quiet {
        eprintln!("load: {line}");
    }
}

/// Where the server's memory and CPU time and the generator's CPU time are read from.
struct Probes {
    /// The server's memory and CPU: the embedded server's (this process, its own threads) or
    /// `--server-pid`'s; `None` when neither.
    server: Option<(Probe, Probe)>,
    /// The generator's CPU: its own threads when the server shares the process.
    generator_cpu: Probe,
}

impl Probes {
    /// The probes of a run against the embedded server or a server with `server_pid`.
    fn of(embedded: bool, server_pid: Option<u32>) -> Self {
        let server = match (embedded, server_pid) {
            (true, _) => Some((Probe::process(None), Probe::own_threads(SERVER_THREADS))),
            (false, Some(pid)) => Some((Probe::process(Some(pid)), Probe::process(Some(pid)))),
            (false, None) => None,
        };
        let generator_cpu = if embedded {
            Probe::own_threads(GENERATOR_THREADS)
        } else {
            Probe::process(None)
        };
        Self {
            server,
            generator_cpu,
        }
    }

    /// The server's resident size now, when measured.
    fn server_rss(&self) -> Option<u64> {
        self.server
            .as_ref()
            .and_then(|(memory, _)| memory.rss_bytes())
    }

    /// The CPU time of the server and of the generator so far, in nanoseconds.
    fn cpu_ns(&self) -> (Option<u64>, Option<u64>) {
        (
            self.server.as_ref().and_then(|(_, cpu)| cpu.cpu_ns()),
            self.generator_cpu.cpu_ns(),
        )
    }
}

/// The connections that opened, each held by a task of its own until the run stops.
struct Connected {
    /// One task per connection; each ends with what its connection saw.
    tasks: JoinSet<(Seat, Outcome)>,
    /// How many opened.
    established: u64,
    /// How many opened to each node.
    per_node: Vec<u64>,
    /// How long opening them all took.
    seconds: f64,
    /// Connect and upgrade latency, in nanoseconds.
    latency: Histogram<u64>,
}

/// Opens the planned connections, `--connect-concurrency` at a time, and hands each to a
/// participant task; a failed attempt is counted in `errors`.
async fn connect(
    checked: &Checked,
    deployment: &Deployment,
    planned: Vec<Planned>,
    run: &Arc<RunShared>,
    phase: &watch::Receiver<Phase>,
    errors: &mut BTreeMap<String, u64>,
) -> Connected {
    let args = &checked.args;
    progress(
        args,
        &format!(
            "connecting {} ({} at once)",
            planned.len(),
            args.connect_concurrency
        ),
    );
    let mut latency = latency_histogram();
    let mut tasks: JoinSet<(Seat, Outcome)> = JoinSet::new();
    let started = Instant::now();
    let connector = deployment.connector().clone();
    let timeout = args.connect_timeout;
    let mut attempts = futures_util::stream::iter(planned)
        .map(|planned| {
            let connector = connector.clone();
            async move {
                let result =
                    client::connect(&connector, &planned.target, &planned.request, timeout).await;
                (planned.seat, result)
            }
        })
        .buffer_unordered(args.connect_concurrency);
    let mut established = 0u64;
    let mut per_node = vec![0u64; run.nodes.max(1) as usize];
    while let Some((seat, result)) = attempts.next().await {
        match result {
            Ok((ws, took)) => {
                established += 1;
                if let Some(count) = per_node.get_mut(seat.node as usize) {
                    *count += 1;
                }
                latency
                    .saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
                if let Some(room) = &seat.room {
                    room.connected.fetch_add(1, Ordering::AcqRel);
                }
                let (run, phase) = (run.clone(), phase.clone());
                tasks.spawn(async move {
                    let outcome = client::participate(ws, seat.clone(), run, phase).await;
                    (seat, outcome)
                });
            }
            Err(why) => *errors.entry(format!("connect: {why}")).or_default() += 1,
        }
    }
    drop(attempts);
    let seconds = started.elapsed().as_secs_f64();
    progress(
        args,
        &format!(
            "{established} of {} connected in {seconds:.2}s",
            checked.connections
        ),
    );
    Connected {
        tasks,
        established,
        per_node,
        seconds,
        latency,
    }
}

/// Waits until every connection got its first frame; how many got none in time.
///
/// A server with the room-state extension greets every joiner; waiting for it makes sure every
/// member is in. The API page promises no greeting, so a server without one is not at fault:
/// the wait runs out and the probe shows who is in. Raw mode has no greeting.
async fn await_greetings(args: &LoadArgs, run: &RunShared, established: u64) -> u64 {
    if args.raw {
        return 0;
    }
    let greeted = wait_until(GREETING_TIMEOUT, || {
        u64::from(run.greeted.load(Ordering::Acquire)) >= established
    })
    .await;
    if greeted {
        0
    } else {
        established - u64::from(run.greeted.load(Ordering::Acquire))
    }
}

/// The measured part of a run.
struct Measured {
    /// How long the senders sent.
    sending_seconds: f64,
    /// From the start of sending until every delivery arrived or the drain period ran out.
    measured_seconds: f64,
    /// CPU time of the server and the generator (nanoseconds) before sending.
    cpu_before: (Option<u64>, Option<u64>),
    /// The same after the drain.
    cpu_after: (Option<u64>, Option<u64>),
}

/// Lets the senders send for `--duration` (a progress line a second), then waits up to
/// `--drain` for the deliveries still in flight.
async fn send_and_measure(
    args: &LoadArgs,
    rooms: &[Arc<RoomShared>],
    run: &RunShared,
    phase: &watch::Sender<Phase>,
    probes: &Probes,
    tasks: &JoinSet<(Seat, Outcome)>,
) -> Measured {
    let cpu_before = probes.cpu_ns();
    let started = Instant::now();
    let until = started + args.duration;
    let mut measured_end = started;
    if !rooms.is_empty() {
        progress(
            args,
            &format!("sending for {:.1}s", args.duration.as_secs_f64()),
        );
    } else {
        progress(
            args,
            &format!(
                "holding the connections for {:.1}s",
                args.duration.as_secs_f64()
            ),
        );
    }
    let _ = phase.send(Phase::Run { until });
    let mut last = (started, 0u64, 0u64);
    while Instant::now() < until {
        let next = (last.0 + Duration::from_secs(1)).min(until);
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        let delivered = run.recorder.counts().deliveries;
        let sent: u64 = rooms.iter().map(|r| r.total_sent()).sum();
        let seconds = now.duration_since(last.0).as_secs_f64().max(1e-9);
        progress(
            args,
            &format!(
                "{:>5.1}s  {} deliveries/s  {} messages/s  {} connections",
                now.duration_since(started).as_secs_f64(),
                thousands((delivered - last.1) as f64 / seconds),
                thousands((sent - last.2) as f64 / seconds),
                tasks.len()
            ),
        );
        last = (now, delivered, sent);
    }
    let sending_seconds = started.elapsed().as_secs_f64();
    if !rooms.is_empty() {
        let drained = wait_until(args.drain, || {
            run.recorder.counts().deliveries >= deliveries_expected(rooms)
        })
        .await;
        measured_end = Instant::now();
        if !drained {
            progress(
                args,
                "some deliveries are still missing after the drain period",
            );
        }
    }
    let measured_seconds = if rooms.is_empty() {
        sending_seconds
    } else {
        measured_end.duration_since(started).as_secs_f64()
    };
    Measured {
        sending_seconds,
        measured_seconds,
        cpu_before,
        cpu_after: probes.cpu_ns(),
    }
}

/// The deliveries owed so far: every message sent, once to each of its room's recipients.
fn deliveries_expected(rooms: &[Arc<RoomShared>]) -> u64 {
    rooms
        .iter()
        .map(|r| r.total_sent() * u64::from(r.recipients.load(Ordering::Acquire)))
        .sum()
}

/// Tells every connection to stop and waits (at most [`CLOSING_TIMEOUT`]) for them to close;
/// what each saw. Tasks that fail or do not close in time are counted in `errors`.
async fn close(
    phase: &watch::Sender<Phase>,
    tasks: &mut JoinSet<(Seat, Outcome)>,
    errors: &mut BTreeMap<String, u64>,
) -> Vec<(Seat, Outcome)> {
    let _ = phase.send(Phase::Stop);
    let mut outcomes = Vec::with_capacity(tasks.len());
    let closing = async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(pair) => outcomes.push(pair),
                Err(_) => {
                    *errors
                        .entry("a connection task failed".to_owned())
                        .or_default() += 1
                }
            }
        }
    };
    if tokio::time::timeout(CLOSING_TIMEOUT, closing)
        .await
        .is_err()
    {
        let left = tasks.len() as u64;
        tasks.abort_all();
        *errors
            .entry("connections still closing after 10s".to_owned())
            .or_default() += left;
    }
    outcomes
}

/// What the phases of a run observed, for the summary.
struct Observed {
    /// The load average when the run started.
    load_start: String,
    /// The connect phase.
    connected: Connected,
    /// Connections that got no first frame in time.
    ungreeted: u64,
    /// Whether every room's sender heard its own probe.
    echo: bool,
    /// The measured phase.
    measured: Measured,
    /// The server's resident size before connecting, once connected, and after the load.
    rss: [Option<u64>; 3],
    /// Whether the server's memory and CPU were measured at all.
    server_measured: bool,
    /// What every connection saw.
    outcomes: Vec<(Seat, Outcome)>,
    /// What went wrong, with counts.
    errors: BTreeMap<String, u64>,
}

/// Accounts for every delivery and turns what the run observed into its summary and verdict.
fn summarise(
    checked: &Checked,
    deployment: &Deployment,
    urls: Vec<String>,
    rooms: &[Arc<RoomShared>],
    run: &RunShared,
    observed: Observed,
) -> Summary {
    let args = &checked.args;
    let Observed {
        load_start,
        connected,
        ungreeted,
        echo,
        measured,
        rss,
        server_measured,
        outcomes,
        mut errors,
    } = observed;
    let embedded = deployment.embedded();
    let counts = run.recorder.counts();
    let (lost, close_codes) = account(&outcomes, &mut errors);
    let messages_sent: u64 = rooms.iter().map(|r| r.total_sent()).sum();
    let deliveries_expected = deliveries_expected(rooms);
    let measured_seconds = measured.measured_seconds;
    let per_core = |before: Option<u64>, after: Option<u64>| -> Option<Cpu> {
        let ns = after?.checked_sub(before?)?;
        let seconds = ns as f64 / 1e9;
        Some(Cpu {
            seconds,
            percent_of_one_core: 100.0 * seconds / measured_seconds.max(1e-9),
            us_per_delivery: if counts.deliveries > 0 {
                ns as f64 / 1e3 / counts.deliveries as f64
            } else {
                0.0
            },
        })
    };
    let server_rss = match rss {
        [Some(baseline), Some(connected_bytes), Some(after)] => Some(Memory {
            baseline_bytes: baseline,
            connected_bytes,
            after_load_bytes: after,
            per_connection_bytes: connected_bytes.saturating_sub(baseline) as f64
                / connected.established.max(1) as f64,
            includes_generator: embedded,
        }),
        _ => None,
    };
    let mut notes = Vec::new();
    if ungreeted > 0 {
        notes.push(format!(
            "{ungreeted} connection(s) got no first frame within {}s (no room.state: the server \
             does not declare room-state); the probe alone showed who is in",
            GREETING_TIMEOUT.as_secs()
        ));
    }
    if embedded {
        notes.push(
            "the embedded reference server shares this process with the load generator: its \
             RSS includes both ends of every connection (run chalk-reference-server on its own \
             and pass --url and --server-pid for the server's own figure); the per-connection \
             rate limit and the connection cap are lifted"
                .to_owned(),
        );
    } else if !server_measured {
        notes.push("server memory and CPU not measured (pass --server-pid)".to_owned());
    }
    if urls.len() > 1 && server_measured && !embedded {
        notes.push(
            "server memory and CPU are those of --server-pid alone, one of the nodes".to_owned(),
        );
    }
    if args.raw {
        notes.push(
            "raw mode: the target only relays frames; a Chalk server also verifies a token per \
             connection and parses, validates, stamps (id, timestamp) and re-serialises every \
             message"
                .to_owned(),
        );
    }
    let mut summary = Summary {
        label: args
            .label
            .clone()
            .unwrap_or_else(|| target_label(deployment, args.raw)),
        target: urls.join(", "),
        mode: if args.raw { "raw" } else { "chalk" },
        shape: Shape {
            rooms: args.rooms,
            participants: args.participants,
            senders: if args.rooms > 0 { args.senders } else { 0 },
            pace: match (checked.pace, args.rate) {
                (Pace::Window(w), _) => format!("window {w}"),
                (Pace::Rate(_), Some(rate)) => format!("rate {rate}/s per room"),
                (Pace::Rate(r), None) => format!("rate {r}/s per sender"),
            },
            payload_bytes: args.payload_bytes,
            duration_seconds: args.duration.as_secs_f64(),
            idle_connections: args.idle_connections,
        },
        connections: Connections {
            attempted: checked.connections,
            established: connected.established,
            concurrency: args.connect_concurrency,
            per_second: connected.established as f64 / connected.seconds.max(1e-9),
            connect_latency: Percentiles::of(&connected.latency),
        },
        echo,
        messages_sent,
        deliveries_expected,
        deliveries: counts.deliveries,
        measured_seconds,
        deliveries_per_second: counts.deliveries as f64 / measured_seconds.max(1e-9),
        messages_per_second: messages_sent as f64 / measured.sending_seconds.max(1e-9),
        fan_out_latency: Percentiles::of(&run.recorder.latency()),
        nodes: (urls.len() > 1).then(|| {
            let route = |route: Route, deliveries: u64| RouteFigures {
                deliveries,
                deliveries_per_second: deliveries as f64 / measured_seconds.max(1e-9),
                fan_out_latency: Percentiles::of(&run.recorder.latency_of(route)),
            };
            NodeSplit {
                urls: urls.clone(),
                connections: connected.per_node.clone(),
                same_node: route(
                    Route::SameNode,
                    counts.deliveries - counts.cross_node_deliveries,
                ),
                cross_node: route(Route::CrossNode, counts.cross_node_deliveries),
            }
        }),
        schedule_lag_max_ms: run.schedule_lag_ns.load(Ordering::Relaxed) as f64 / 1e6,
        late_sends: run.late_sends.load(Ordering::Relaxed),
        lost,
        duplicated: counts.duplicates,
        reordered: counts.reordered,
        misrouted: counts.misrouted,
        other_frames: counts.other_frames,
        errors,
        close_codes,
        server_rss,
        server_cpu: per_core(measured.cpu_before.0, measured.cpu_after.0),
        generator_cpu: per_core(measured.cpu_before.1, measured.cpu_after.1),
        load_average: LoadAverage {
            start: load_start,
            end: report::load_average(),
        },
        notes,
        verdict: "ok",
    };
    if !summary.passed() {
        summary.verdict = "failed";
    }
    summary
}

/// Prints the table and writes the JSON of `--results-json`; the exit status of the run.
fn write_report(console: &Console, args: &LoadArgs, summary: &Summary) -> ExitStatus {
    console.write(&summary.table());
    if let Some(path) = &args.results_json {
        let json = serde_json::to_string_pretty(summary).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json + "\n") {
            console.line(&format!(
                "chalk-conformance load: cannot write {}: {e}",
                path.display()
            ));
            return ExitStatus::Usage;
        }
    }
    if summary.passed() {
        ExitStatus::Conformant
    } else {
        ExitStatus::NonConformant
    }
}

/// Sends the probe of every room and waits for it; decides each room's recipients per message.
/// Whether every room's sender heard its own probe (the server echoes).
async fn probe(
    rooms: &[Arc<RoomShared>],
    phase: &watch::Sender<Phase>,
    errors: &mut BTreeMap<String, u64>,
) -> bool {
    let _ = phase.send(Phase::Probe);
    let heard_by_all = |r: &RoomShared| {
        r.probe_heard.load(Ordering::Acquire) + 1 >= r.connected.load(Ordering::Acquire)
    };
    let reached = wait_until(PROBE_TIMEOUT, || rooms.iter().all(|r| heard_by_all(r))).await;
    if !reached {
        for room in rooms.iter().filter(|r| !heard_by_all(r)) {
            *errors
                .entry(format!(
                    "probe: room {} reached {} of {} other members",
                    room.index,
                    room.probe_heard.load(Ordering::Acquire),
                    room.connected.load(Ordering::Acquire).saturating_sub(1)
                ))
                .or_default() += 1;
        }
    }
    wait_until(ECHO_GRACE, || {
        rooms.iter().all(|r| r.probe_echoed.load(Ordering::Acquire))
    })
    .await;
    let mut echo = true;
    for room in rooms {
        let echoed = room.probe_echoed.load(Ordering::Acquire);
        echo &= echoed;
        let others = room.connected.load(Ordering::Acquire).saturating_sub(1);
        room.recipients
            .store(others + u32::from(echoed), Ordering::Release);
    }
    echo
}

/// Deliveries lost and close codes seen, from every connection's outcome; what went wrong is
/// added to `errors`.
fn account(
    outcomes: &[(Seat, Outcome)],
    errors: &mut BTreeMap<String, u64>,
) -> (u64, BTreeMap<String, u64>) {
    let mut lost = 0u64;
    let mut close_codes: BTreeMap<String, u64> = BTreeMap::new();
    for (seat, outcome) in outcomes {
        let code = outcome
            .close_code
            .map_or_else(|| "none".to_owned(), |c| c.to_string());
        *close_codes.entry(code.clone()).or_default() += 1;
        if outcome.closed_early {
            *errors
                .entry(format!("closed by the server during the run ({code})"))
                .or_default() += 1;
        }
        if let Some(why) = &outcome.failure {
            *errors.entry(format!("connection: {why}")).or_default() += 1;
        }
        if outcome.send_errors > 0 {
            *errors.entry("send failed".to_owned()).or_default() += outcome.send_errors;
        }
        let Some(room) = &seat.room else { continue };
        let echoed = room.probe_echoed.load(Ordering::Acquire);
        for (sender, track) in outcome.tracks.iter().enumerate() {
            // Without an echo, a sender owes itself nothing.
            if !echoed && seat.sender == Some(sender as u32) {
                continue;
            }
            let sent = room.sent[sender].load(Ordering::Acquire);
            lost += sent.saturating_sub(track.next - 1) + track.missing.len() as u64;
        }
        lost += outcome.lost_in_gaps;
    }
    (lost, close_codes)
}

/// The deployment to load: the embedded server (started here), a raw broadcast server, or the
/// Chalk server of `--url` with the suite's provisioning options (same rules, same messages).
async fn enter(checked: &Checked) -> Result<Deployment, (ExitStatus, String)> {
    let args = &checked.args;
    let usage = |e: String| (ExitStatus::Usage, e);
    let access = match checked.targets.first().cloned() {
        None => {
            let tls = transport::tls_config(None).map_err(|e| usage(e.to_string()))?;
            Access {
                targets: Vec::new(),
                api: None,
                token_command: None,
                minter: None,
                secrets: Vec::new(),
                origin: args.provisioning.origin.clone(),
                tls: Arc::new(tls),
            }
        }
        Some(target) if args.raw => {
            let tls = transport::tls_config(args.provisioning.ca_cert.as_deref())
                .map_err(|e| usage(e.to_string()))?;
            return Ok(Deployment::unprovisioned(
                target,
                Arc::new(tls),
                args.provisioning.origin.clone(),
            ));
        }
        Some(_) => args
            .provisioning
            .check()
            .map_err(|e| usage(e.to_string()))?,
    };
    let embedded = EmbeddedSetup {
        provisioning: EmbeddedProvisioning::Minted,
        tuning: Tuning::Load {
            threads: args.server_threads,
        },
    };
    Deployment::start(access, None, embedded)
        .await
        .map_err(|e| match e {
            DeploymentError::Start(e) => (ExitStatus::Unreachable, e),
            e => usage(e.to_string()),
        })
}

/// What the table and the JSON call the target, unless `--label` names it.
fn target_label(deployment: &Deployment, raw: bool) -> String {
    if deployment.embedded() {
        EMBEDDED_LABEL
    } else if raw {
        "raw broadcast server"
    } else {
        "Chalk server"
    }
    .to_owned()
}

/// Provisions every room and participant; the connections to open, active rooms first.
async fn plan_connections(
    args: &LoadArgs,
    deployment: &Deployment,
    nodes: &[Target],
    rooms: &[Arc<RoomShared>],
    run_id: &str,
) -> Result<Vec<Planned>, String> {
    // (seat, room id at the server, participant id)
    let mut seats: Vec<(Seat, String, String)> = Vec::new();
    let mut receiver = 0usize;
    let node_count = nodes.len() as u32;
    for room in rooms {
        for member in 0..args.participants {
            let sender = (member < args.senders).then_some(member);
            seats.push((
                Seat {
                    room: Some(room.clone()),
                    member,
                    sender,
                    receiver,
                    node: node_of(member, node_count),
                },
                room.id.clone(),
                format!("p{member}"),
            ));
            receiver += 1;
        }
    }
    for i in 0..args.idle_connections {
        let room = i / args.idle_room_size.max(1);
        seats.push((
            Seat {
                room: None,
                member: i,
                sender: None,
                receiver,
                node: node_of(i, node_count),
            },
            format!("{run_id}-idle{room}"),
            format!("i{i}"),
        ));
        receiver += 1;
    }
    let Some(provisioner) = deployment.provisioner() else {
        // Raw: the room goes in the query; no credentials.
        return Ok(seats
            .into_iter()
            .map(|(seat, room_id, _)| Planned {
                target: with_room_query(&nodes[seat.node as usize], &room_id),
                seat,
                request: UpgradeRequest {
                    query_token: None,
                    protocols: Vec::new(),
                    origin: deployment.origin().map(str::to_owned),
                },
            })
            .collect());
    };
    // Rooms at the server: created through REST when the run has it, else the local ids.
    let mut server_rooms: BTreeMap<String, String> = BTreeMap::new();
    for (_, room_id, _) in &seats {
        if !server_rooms.contains_key(room_id) {
            let created = provisioner
                .create_room(&format!("chalk-conformance load {room_id}"), room_id)
                .await
                .map_err(|e| e.to_string())?;
            server_rooms.insert(room_id.clone(), created);
        }
    }
    let server_rooms = &server_rooms;
    let provisioned: Vec<Result<Planned, String>> = futures_util::stream::iter(seats)
        .map(|(seat, room_id, participant)| async move {
            let room = &server_rooms[&room_id];
            let credentials = provisioner
                .add_participant(room, &participant, &participant, "participant")
                .await
                .map_err(|e| e.to_string())?;
            Ok(Planned {
                target: nodes[seat.node as usize].clone(),
                seat,
                request: UpgradeRequest {
                    query_token: None,
                    protocols: vec!["chalk".to_owned(), format!("token.{}", credentials.token)],
                    origin: deployment.origin().map(str::to_owned),
                },
            })
        })
        .buffered(PROVISIONING_CONCURRENCY)
        .collect()
        .await;
    provisioned.into_iter().collect()
}

/// `target` with `room=ROOM` added to its query (raw mode: the room of a broadcast server).
fn with_room_query(target: &Target, room: &str) -> Target {
    let mut target = target.clone();
    let separator = if target.path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    target.path_and_query = format!("{}{separator}room={room}", target.path_and_query);
    target
}

/// Polls `done` every 5 ms for at most `limit`; whether it became true.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn args(extra: &[&str]) -> LoadArgs {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            load: LoadArgs,
        }
        Wrapper::try_parse_from(std::iter::once("load").chain(extra.iter().copied()))
            .expect("parses")
            .load
    }

    #[test]
    fn refuses_targets_outside_loopback_unless_allowed() {
        let error = check(&args(&[
            "--url",
            "ws://10.1.2.3/api/v1/ws",
            "--jwt-secret",
            "s",
        ]))
        .unwrap_err();
        assert!(error.contains("not a loopback address"), "{error}");
        assert!(error.contains("--allow-remote"), "{error}");
        let error = check(&args(&[
            "--url",
            "ws://127.0.0.1:9/ws",
            "--api-url",
            "http://192.168.1.1/api/v1",
            "--api-key",
            "k",
        ]))
        .unwrap_err();
        assert!(error.contains("192.168.1.1"), "{error}");
        for url in [
            "ws://127.0.0.1:9/ws",
            "ws://127.8.9.10:9/ws",
            "ws://localhost:9/ws",
            "ws://[::1]:9/ws",
        ] {
            assert!(check(&args(&["--url", url, "--raw"])).is_ok(), "{url}");
        }
        assert!(
            check(&args(&[
                "--url",
                "ws://10.1.2.3/ws",
                "--raw",
                "--allow-remote"
            ]))
            .is_ok()
        );
    }

    #[test]
    fn refuses_shapes_that_cannot_work() {
        let problem = |extra: &[&str]| check(&args(extra)).unwrap_err();
        assert!(problem(&["--senders", "11"]).contains("--senders"));
        assert!(problem(&["--window", "0"]).contains("--window"));
        assert!(problem(&["--rate", "0"]).contains("--rate"));
        // A window this large would allocate gigabytes of counters (it aborted the process).
        assert!(problem(&["--window", "4294967295"]).contains("--window"));
        // A rate this large paced its senders at zero-nanosecond intervals: a loop that only
        // a failing send ended.
        assert!(problem(&["--rate", "4294967295"]).contains("--rate"));
        assert!(check(&args(&["--rate", "1000000"])).is_ok());
        assert!(check(&args(&["--window", "1024"])).is_ok());
        assert!(problem(&["--connect-timeout", "0s"]).contains("--connect-timeout"));
        assert!(problem(&["--duration", "7200s"]).contains("--duration"));
        assert!(problem(&["--raw"]).contains("--raw needs --url"));
        assert!(
            problem(&[
                "--rooms",
                "3",
                "--participants",
                "10",
                "--max-connections",
                "20"
            ])
            .contains("30 connections")
        );
    }

    #[test]
    fn paces_default_to_a_window_of_eight_and_split_rates_over_senders() {
        assert_eq!(check(&args(&[])).unwrap().pace, Pace::Window(8));
        let rate = check(&args(&["--rate", "200", "--senders", "4"])).unwrap();
        assert_eq!(rate.pace, Pace::Rate(50.0));
    }

    #[test]
    fn raw_rooms_go_in_the_query() {
        let target = Target::parse("ws://127.0.0.1:9/ws").unwrap();
        assert_eq!(with_room_query(&target, "r1").path_and_query, "/ws?room=r1");
        let target = Target::parse("ws://127.0.0.1:9/ws?x=1").unwrap();
        assert_eq!(
            with_room_query(&target, "r1").path_and_query,
            "/ws?x=1&room=r1"
        );
    }
}
