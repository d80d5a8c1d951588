//! `chalk-conformance load`: a load generator that speaks Chalk.
//!
//! It opens `--rooms` × `--participants` connections (plus `--idle-connections` that are only
//! held), each with the real handshake: a provisioned token, the `chalk` subprotocol and the
//! allowed origin, exactly as the suite gets them (embedded reference server by default, or
//! `--url` with the suite's provisioning options). Then `--senders` per room send chat messages
//! for `--duration`, either keeping `--window` messages in flight or at `--rate` messages per
//! second per room, and every receiver checks what arrives (see [`client`]). The result is a
//! table and, with `--json`, a JSON document ([`report`]); anything lost, duplicated or
//! misrouted, or any error, makes the exit code 1.
//!
//! `--raw` drops the Chalk handshake and loads a plain broadcast server (one that relays every
//! text frame to every connection of its room, `?room=` in the URL) with the same frames, so the
//! reference server can be compared like for like with general-purpose servers
//! (`benches/compare.sh`).
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
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use self::client::{Outcome, Pace, Phase, RoomShared, RunShared, Seat};
use self::process::Probe;
use self::report::{Connections, Cpu, LoadAverage, Memory, Shape, Summary, thousands};
use self::stats::{Percentiles, Recorder, latency_histogram};
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
    target: Option<Target>,
    connections: u64,
}

/// Checks the options; the first problem, as one line.
fn check(args: &LoadArgs) -> Result<Checked, String> {
    let target = args
        .provisioning
        .url
        .as_deref()
        .map(Target::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    if !args.allow_remote {
        if let Some(target) = &target {
            refuse_remote(
                args.provisioning.url.as_deref().unwrap_or_default(),
                &target.host,
            )?;
        }
        if let Some(api) = &args.provisioning.api_url {
            let url = transport::check_api_url(api).map_err(|e| e.to_string())?;
            refuse_remote(api, url.host_str().unwrap_or_default())?;
        }
    }
    if args.raw && target.is_none() {
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
    let files = connections * if target.is_none() { 2 } else { 1 } + SPARE_FILES;
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
        target,
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

/// The whole run on the generator's runtime.
async fn generate(checked: Checked, console: Console) -> ExitStatus {
    let args = &checked.args;
    let progress = |line: &str| {
        if !args.quiet {
            eprintln!("load: {line}");
        }
    };
    let started_load = report::load_average();
    let deployment = match enter(&checked).await {
        Ok(deployment) => deployment,
        Err((status, problem)) => {
            console.line(&format!("chalk-conformance load: {problem}"));
            return status;
        }
    };
    let url = url_without_credentials(&deployment.target().url);
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
    progress(&format!(
        "provisioning {} connections for {}",
        checked.connections, url
    ));
    let planned = match plan_connections(args, &deployment, &rooms, &run_id).await {
        Ok(planned) => planned,
        Err(problem) => {
            console.line(&format!(
                "chalk-conformance load: provisioning failed: {}",
                deployment.redactor().redact(&problem)
            ));
            deployment.shutdown().await;
            return ExitStatus::Unreachable;
        }
    };
    let embedded = deployment.embedded();
    let server = match (embedded, args.server_pid) {
        (true, _) => Some((Probe::process(None), Probe::own_threads(SERVER_THREADS))),
        (false, Some(pid)) => Some((Probe::process(Some(pid)), Probe::process(Some(pid)))),
        (false, None) => None,
    };
    let generator_cpu = if embedded {
        Probe::own_threads(GENERATOR_THREADS)
    } else {
        Probe::process(None)
    };
    let run = Arc::new(RunShared {
        clock: Instant::now(),
        payload_bytes: args.payload_bytes,
        pace: checked.pace,
        recorder: Recorder::new(16),
        greeted: AtomicU32::new(0),
        schedule_lag_ns: AtomicU64::new(0),
        late_sends: AtomicU64::new(0),
    });
    let baseline_rss = server.as_ref().and_then(|(memory, _)| memory.rss_bytes());
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();

    // Connect.
    progress(&format!(
        "connecting {} ({} at once)",
        planned.len(),
        args.connect_concurrency
    ));
    let mut connect_latency = latency_histogram();
    let mut tasks: JoinSet<(Seat, Outcome)> = JoinSet::new();
    let connect_started = Instant::now();
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
    while let Some((seat, result)) = attempts.next().await {
        match result {
            Ok((ws, took)) => {
                established += 1;
                connect_latency
                    .saturating_record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
                if let Some(room) = &seat.room {
                    room.connected.fetch_add(1, Ordering::AcqRel);
                }
                let (run, phase) = (run.clone(), phase_rx.clone());
                tasks.spawn(async move {
                    let outcome = client::participate(ws, seat.clone(), run, phase).await;
                    (seat, outcome)
                });
            }
            Err(why) => *errors.entry(format!("connect: {why}")).or_default() += 1,
        }
    }
    drop(attempts);
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    progress(&format!(
        "{established} of {} connected in {connect_seconds:.2}s",
        checked.connections
    ));
    if established == 0 {
        // Nothing to measure: say why in one line, as the suite does for an unreachable target.
        let why = errors
            .keys()
            .next()
            .map_or("no connection", |e| e.trim_start_matches("connect: "));
        console.line(&format!(
            "chalk-conformance load: cannot connect to {}: {why}",
            url
        ));
        deployment.shutdown().await;
        return ExitStatus::Unreachable;
    }

    // A server with the room-state extension greets every joiner; wait for it so that every
    // member is in. The API page promises no greeting, so a server without one is not at
    // fault: the wait runs out and the probe shows who is in.
    let mut ungreeted = 0;
    if !args.raw {
        let greeted = wait_until(GREETING_TIMEOUT, || {
            u64::from(run.greeted.load(Ordering::Acquire)) >= established
        })
        .await;
        if !greeted {
            ungreeted = established - u64::from(run.greeted.load(Ordering::Acquire));
        }
    }
    let connected_rss = server.as_ref().and_then(|(memory, _)| memory.rss_bytes());

    // Probe: one message per room shows every member is in, and whether the sender hears itself.
    let echo = rooms.is_empty() || probe(&rooms, &phase_tx, &mut errors).await;

    // The measured run.
    let cpu_before = (
        server.as_ref().and_then(|(_, cpu)| cpu.cpu_ns()),
        generator_cpu.cpu_ns(),
    );
    let started = Instant::now();
    let until = started + args.duration;
    let mut measured_end = started;
    if !rooms.is_empty() {
        progress(&format!("sending for {:.1}s", args.duration.as_secs_f64()));
    } else {
        progress(&format!(
            "holding the connections for {:.1}s",
            args.duration.as_secs_f64()
        ));
    }
    let _ = phase_tx.send(Phase::Run { until });
    let mut last = (started, 0u64, 0u64);
    while Instant::now() < until {
        let next = (last.0 + Duration::from_secs(1)).min(until);
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        let delivered = run.recorder.counts().deliveries;
        let sent: u64 = rooms.iter().map(|r| r.total_sent()).sum();
        let seconds = now.duration_since(last.0).as_secs_f64().max(1e-9);
        progress(&format!(
            "{:>5.1}s  {} deliveries/s  {} messages/s  {} connections",
            now.duration_since(started).as_secs_f64(),
            thousands((delivered - last.1) as f64 / seconds),
            thousands((sent - last.2) as f64 / seconds),
            tasks.len()
        ));
        last = (now, delivered, sent);
    }
    let sending_seconds = started.elapsed().as_secs_f64();
    let expected = || -> u64 {
        rooms
            .iter()
            .map(|r| r.total_sent() * u64::from(r.recipients.load(Ordering::Acquire)))
            .sum()
    };
    if !rooms.is_empty() {
        let drained = wait_until(args.drain, || {
            run.recorder.counts().deliveries >= expected()
        })
        .await;
        measured_end = Instant::now();
        if !drained {
            progress("some deliveries are still missing after the drain period");
        }
    }
    let measured_seconds = if rooms.is_empty() {
        sending_seconds
    } else {
        measured_end.duration_since(started).as_secs_f64()
    };
    let cpu_after = (
        server.as_ref().and_then(|(_, cpu)| cpu.cpu_ns()),
        generator_cpu.cpu_ns(),
    );
    let after_load_rss = server.as_ref().and_then(|(memory, _)| memory.rss_bytes());

    // Stop and close.
    let _ = phase_tx.send(Phase::Stop);
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

    // Account.
    let counts = run.recorder.counts();
    let (lost, close_codes) = account(&outcomes, &mut errors);
    let messages_sent: u64 = rooms.iter().map(|r| r.total_sent()).sum();
    let deliveries_expected = expected();
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
    let server_rss = match (baseline_rss, connected_rss, after_load_rss) {
        (Some(baseline), Some(connected), Some(after)) => Some(Memory {
            baseline_bytes: baseline,
            connected_bytes: connected,
            after_load_bytes: after,
            per_connection_bytes: connected.saturating_sub(baseline) as f64
                / established.max(1) as f64,
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
    } else if server.is_none() {
        notes.push("server memory and CPU not measured (pass --server-pid)".to_owned());
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
            .unwrap_or_else(|| target_label(&deployment, args.raw)),
        target: url,
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
            established,
            concurrency: args.connect_concurrency,
            per_second: established as f64 / connect_seconds.max(1e-9),
            connect_latency: Percentiles::of(&connect_latency),
        },
        echo,
        messages_sent,
        deliveries_expected,
        deliveries: counts.deliveries,
        measured_seconds,
        deliveries_per_second: counts.deliveries as f64 / measured_seconds.max(1e-9),
        messages_per_second: messages_sent as f64 / sending_seconds.max(1e-9),
        fan_out_latency: Percentiles::of(&run.recorder.latency()),
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
        server_cpu: per_core(cpu_before.0, cpu_after.0),
        generator_cpu: per_core(cpu_before.1, cpu_after.1),
        load_average: LoadAverage {
            start: started_load,
            end: report::load_average(),
        },
        notes,
        verdict: "ok",
    };
    if !summary.passed() {
        summary.verdict = "failed";
    }
    deployment.shutdown().await;
    console.write(&summary.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
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
    let access = match checked.target.clone() {
        None => {
            let tls = transport::tls_config(None).map_err(|e| usage(e.to_string()))?;
            Access {
                target: None,
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
    rooms: &[Arc<RoomShared>],
    run_id: &str,
) -> Result<Vec<Planned>, String> {
    // (seat, room id at the server, participant id)
    let mut seats: Vec<(Seat, String, String)> = Vec::new();
    let mut receiver = 0usize;
    for room in rooms {
        for member in 0..args.participants {
            let sender = (member < args.senders).then_some(member);
            seats.push((
                Seat {
                    room: Some(room.clone()),
                    member,
                    sender,
                    receiver,
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
                seat,
                target: with_room_query(deployment.target(), &room_id),
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
                seat,
                target: deployment.target().clone(),
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
