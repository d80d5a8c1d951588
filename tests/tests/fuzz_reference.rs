//! The fuzzer judged: `chalk-conformance fuzz` finds nothing wrong with the reference server, nor
//! with one that makes only allowed choices, and finds, shrinks and replays a broken delivery.
//!
//! Every run goes through `chalk_conformance::commands::execute` in-process, exactly as the binary
//! does; replays run the very command line the failing run printed.

use std::path::PathBuf;
use std::time::Duration;

use chalk_conformance::commands::exit::ExitStatus;
use chalk_conformance::contract::catalogue::KNOWN_EXTENSIONS;
use chalk_faults::Fault;
use chalk_reference_server::{Config, Server};
use chalk_tests::{conformance, scratch};

/// A reference server with `faults`, and the options that point the fuzzer at it.
struct Target {
    server: Server,
    secret: String,
    origin: String,
}

impl Target {
    async fn start(faults: &[Fault]) -> Self {
        Self::start_with(faults, |_| {}).await
    }

    /// A reference server with `faults` and its configuration changed by `change`.
    async fn start_with(faults: &[Fault], change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::ephemeral();
        change(&mut config);
        let secret = config
            .jwt_secret()
            .expect("ephemeral has a secret")
            .to_owned();
        let origin = config.default_tenant.allowed_origins[0].clone();
        let server = chalk_faults::serve(config, faults.iter().copied().collect())
            .await
            .expect("the reference server starts");
        Self {
            server,
            secret,
            origin,
        }
    }

    /// `fuzz --url … --jwt-secret … --origin …`, then `declare` and `rest`.
    fn fuzz(&self, declare: &[&str], rest: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "fuzz",
            "--url",
            &self.server.ws_url(),
            "--jwt-secret",
            &self.secret,
            "--origin",
            &self.origin,
        ]
        .map(str::to_owned)
        .to_vec();
        if !declare.is_empty() {
            args.extend(["--declare".to_owned(), declare.join(",")]);
        }
        args.extend(rest.iter().map(|a| (*a).to_owned()));
        args
    }
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The printed command line under `heading`, as arguments after the program name, with the
/// secret the command refers to by its variable filled in.
fn printed_command(output: &str, heading: &str, secret: &str) -> Vec<String> {
    let line = output
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .nth(1)
        .unwrap_or_else(|| panic!("no command under {heading:?}:\n{output}"));
    let line = line
        .trim()
        .strip_prefix("chalk-conformance ")
        .expect("the command runs chalk-conformance")
        .replace("\"$CHALK_JWT_SECRET\"", secret);
    // The fuzzer quotes only words with shell characters; these have none but the quotes.
    line.split_whitespace()
        .map(|word| word.trim_matches('\'').to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_embedded_reference_server_finds_nothing() {
    // A failing case would be written into the scratch folder, never beside the tests.
    let dir = scratch("fuzz-embedded");
    let case_file = dir.join("case.json");
    let case_file = case_file.to_str().expect("a UTF-8 path");
    let (status, output) = conformance(&[
        "fuzz",
        "--cases",
        "100",
        "--seed",
        "20260101",
        "--case-file",
        case_file,
    ])
    .await;
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(output.contains("(embedded reference server)"), "{output}");
    assert!(
        output.contains("100 cases passed in") && output.contains("(seed 20260101)"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_choices_pass_when_their_extensions_are_not_declared() {
    let target = Target::start(&[
        Fault::NoChatEcho,
        Fault::NoPong,
        Fault::SilentUnknownEvents,
        Fault::JoinedToSelf,
        Fault::NoRoomState,
        Fault::NoHandEvents,
    ])
    .await;
    let dir = scratch("fuzz-allowed");
    let case_file = dir.join("case.json");
    let args = target.fuzz(
        &[],
        &[
            "--cases",
            "60",
            "--seed",
            "7",
            "--case-file",
            case_file.to_str().expect("a UTF-8 path"),
        ],
    );
    let (status, output) = conformance(&refs(&args)).await;
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(output.contains("declared:     no extension"), "{output}");
    target.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_delivery_is_found_shrunk_and_replayed() {
    let target = Target::start(&[Fault::DuplicateDelivery]).await;
    let dir = scratch("fuzz-duplicates");
    let case_file = dir.join("minimal.json");
    let args = target.fuzz(
        KNOWN_EXTENSIONS,
        &[
            "--cases",
            "50",
            "--seed",
            "1",
            "--case-file",
            case_file.to_str().expect("a UTF-8 path"),
        ],
    );
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(
        output.contains("[CHAT-008] Exactly once (must)"),
        "{output}"
    );
    assert!(
        !output.contains(&target.secret),
        "the secret leaked:\n{output}"
    );

    // Shrunk: one participant joins and sends once (its echo arrives twice), or two do.
    let minimal: Vec<&str> = output
        .lines()
        .skip_while(|l| *l != "Minimal case")
        .skip(2)
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .collect();
    assert!(
        (2..=3).contains(&minimal.len()),
        "not shrunk to a minimal case: {minimal:?}\n{output}"
    );
    assert!(minimal[0].ends_with("A joins room 0"), "{minimal:?}");
    assert!(
        minimal
            .last()
            .is_some_and(|l| l.contains("sends chat.send")),
        "{minimal:?}"
    );
    assert!(case_file.is_file(), "no replay file:\n{output}");

    // The exact replay of the minimal case breaks the same requirement.
    let replay = printed_command(&output, "the minimal case, exactly", &target.secret);
    assert!(replay.iter().any(|a| a == "--replay"), "{replay:?}");
    let (status, replayed) = conformance(&refs(&replay)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{replayed}");
    assert!(
        replayed.contains("[CHAT-008] Exactly once (must)"),
        "{replayed}"
    );
    assert!(replayed.contains("The case fails."), "{replayed}");

    // So does the original case, from its printed seed, shrunk again to the same size.
    let again = printed_command(&output, "the original case", &target.secret);
    assert!(again.windows(2).any(|w| w == ["--cases", "1"]), "{again:?}");
    let again: Vec<String> = again
        .into_iter()
        .chain([
            "--case-file".to_owned(),
            dir.join("again.json").display().to_string(),
        ])
        .collect();
    let (status, reshrunk) = conformance(&refs(&again)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{reshrunk}");
    assert!(reshrunk.contains("FAIL  case 1 "), "{reshrunk}");
    assert!(reshrunk.contains("[CHAT-008]"), "{reshrunk}");
    assert!(reshrunk.contains("shrunk from"), "{reshrunk}");

    target.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_file_plays_against_a_sound_server_and_passes() {
    let broken = Target::start(&[Fault::ReorderMessages]).await;
    let dir = scratch("fuzz-reorder");
    let case_file = dir.join("reorder.json");
    let args = broken.fuzz(
        KNOWN_EXTENSIONS,
        &[
            "--cases",
            "50",
            "--seed",
            "2",
            "--case-file",
            case_file.to_str().expect("a UTF-8 path"),
        ],
    );
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(
        output.contains("[CHAT-009] Per-sender order (must)"),
        "{output}"
    );
    broken.server.shutdown().await;

    let sound = Target::start(&[]).await;
    let args = sound.fuzz(
        KNOWN_EXTENSIONS,
        &["--replay", case_file.to_str().expect("a UTF-8 path")],
    );
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(output.contains("it broke CHAT-009"), "{output}");
    assert!(output.contains("The case passes."), "{output}");
    sound.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A replay file in `dir` holding a case of `actions` (JSON), every seat in room 0.
fn case_file(dir: &std::path::Path, name: &str, actions: serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    let file = serde_json::json!({
        "format": "chalk-conformance-fuzz-case/1",
        "seed": null,
        "requirement": null,
        "case": { "rooms": [0, 0, 0, 0, 0, 0], "actions": actions },
    });
    std::fs::write(&path, file.to_string()).expect("the case file is written");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_larger_message_limit_may_deliver_an_oversized_chat() {
    // The API sets no size limit: a server that takes 1 MiB delivers a 17,000-byte chat.send,
    // byte for byte. Only a server that declares close-codes promises to refuse it.
    let target = Target::start_with(&[], |config| {
        config.limits.max_message_bytes = 1024 * 1024;
        config.limits.max_text_chars = 1_000_000;
    })
    .await;
    let dir = scratch("fuzz-large-limit");
    let case = case_file(
        &dir,
        "oversized.json",
        serde_json::json!([
            { "action": "join", "who": 0 },
            { "action": "join", "who": 1 },
            { "action": "garbage", "who": 0, "frame": { "frame": "oversized", "bytes": 17000 } },
        ]),
    );
    let case = case.to_str().expect("a UTF-8 path");
    let (status, output) = conformance(&refs(&target.fuzz(&[], &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let (status, output) =
        conformance(&refs(&target.fuzz(&["close-codes"], &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(output.contains("[ROBUST-012]"), "{output}");
    assert!(!output.contains("[CHAT-003]"), "{output}");
    target.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_may_refuse_a_long_text_by_closing_unless_it_declares_error_event() {
    // A server whose messages stop at 2 KiB closes a 3,000-character chat.send with 1009: its
    // choice, since the API sets no limit. Under error-event such a text must be delivered.
    let target = Target::start_with(&[], |config| config.limits.max_message_bytes = 2048).await;
    let dir = scratch("fuzz-small-limit");
    let case = case_file(
        &dir,
        "long.json",
        serde_json::json!([
            { "action": "join", "who": 0 },
            { "action": "join", "who": 1 },
            { "action": "chat", "who": 0, "text": "x".repeat(3000), "extra": "none" },
        ]),
    );
    let case = case.to_str().expect("a UTF-8 path");
    let (status, output) = conformance(&refs(&target.fuzz(&[], &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let (status, output) =
        conformance(&refs(&target.fuzz(&["error-event"], &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(output.contains("[CHAT-001]"), "{output}");
    target.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_options_that_cannot_work_are_usage_errors() {
    let (status, output) = conformance(&["fuzz", "--cases", "0"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    let (status, output) = conformance(&["fuzz", "--url", "ws://127.0.0.1:9/ws"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert!(output.contains("no way to get participants"), "{output}");
    let (status, output) = conformance(&["fuzz", "--replay", "/nonexistent/case.json"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    // A time limit of zero would run no case and pass.
    let (status, output) = conformance(&["fuzz", "--time-limit", "0s"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    // A time limit bounds --cases; with a time budget it would cut the budget short unsaid.
    let (status, output) =
        conformance(&["fuzz", "--time-budget", "20m", "--time-limit", "10m"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    // A replay file asking for an absurd frame is refused, not played.
    let dir = scratch("fuzz-absurd");
    let case = case_file(
        &dir,
        "absurd.json",
        serde_json::json!([
            { "action": "join", "who": 0 },
            { "action": "garbage", "who": 0, "frame": { "frame": "oversized", "bytes": u64::MAX } },
        ]),
    );
    let case = case.to_str().expect("a UTF-8 path");
    let (status, output) = conformance(&["fuzz", "--replay", case]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_shapes_pass_against_the_reference_server_until_the_time_budget_is_spent() {
    let started = std::time::Instant::now();
    let dir = scratch("fuzz-realistic");
    let case_file = dir.join("case.json");
    let (status, output) = conformance(&[
        "fuzz",
        "--scale",
        "8",
        "--time-budget",
        "4s",
        "--seed",
        "20261206",
        "--case-file",
        case_file.to_str().expect("a UTF-8 path"),
    ])
    .await;
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        output.contains("48 participants in 4 rooms, up to 192 actions after most join"),
        "{output}"
    );
    assert!(output.contains("(time budget 4s spent)"), "{output}");
    let passed: usize = output
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no closing count:\n{output}"));
    assert!(passed >= 1, "{output}");
    // Cases already started finish (each bounded by the case timeout); none starts after 4 s.
    assert!(started.elapsed() < Duration::from_secs(40), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_found_at_realistic_shapes_printed_at_once_and_shrunk_within_the_budget() {
    for (fault, requirement) in [
        (Fault::DuplicateDelivery, "[CHAT-008]"),
        (Fault::NoLeft, "[PRES-004]"),
    ] {
        let target = Target::start(&[fault]).await;
        let dir = scratch(&format!("fuzz-scaled-{fault}"));
        let case_file = dir.join("case.json");
        let args = target.fuzz(
            KNOWN_EXTENSIONS,
            &[
                "--scale",
                "6",
                "--cases",
                "8",
                "--seed",
                "11",
                "--shrink-budget",
                "3s",
                "--case-file",
                case_file.to_str().expect("a UTF-8 path"),
            ],
        );
        let (status, output) = conformance(&refs(&args)).await;
        assert_eq!(status, ExitStatus::NonConformant, "{output}");
        assert!(output.contains(requirement), "{fault}: {output}");
        // The case as found comes first, with its replay, before any shrinking.
        let found = output.find("As found (unshrunk)").expect("printed at once");
        let replay = output
            .find("the case as found, exactly")
            .expect("its replay");
        let shrinking = output
            .find("shrinking while it still breaks")
            .expect("shrinks");
        assert!(found < replay && replay < shrinking, "{output}");
        // Both cases stay on disk: the one as found beside the minimal one, not overwritten.
        let case_in = |path: &std::path::Path| -> serde_json::Value {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("{}: {e}\n{output}", path.display()));
            let file: serde_json::Value = serde_json::from_str(&text).expect("a JSON case file");
            file["case"].clone()
        };
        let as_found = case_in(&dir.join("case-found.json"));
        let minimal = case_in(&case_file);
        let shrunk = output
            .lines()
            .find(|l| l.contains("shrunk from"))
            .unwrap_or_else(|| panic!("no shrink summary:\n{output}"));
        let seconds: f64 = shrunk
            .split(" plays, ")
            .nth(1)
            .and_then(|rest| rest.split('s').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no shrink time in {shrunk:?}"));
        // A play still running when the budget runs out is abandoned.
        assert!(seconds < 3.0 + 1.0, "{shrunk}");
        let counts: Vec<usize> = shrunk
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        let actions = |case: &serde_json::Value| case["actions"].as_array().expect("actions").len();
        assert_eq!(actions(&as_found), counts[0], "{shrunk}");
        assert_eq!(actions(&minimal), counts[1], "{shrunk}");
        if !shrunk.contains("(0 simplifications kept)") {
            assert_ne!(as_found, minimal, "{shrunk}");
        }
        let replay = printed_command(&output, "the minimal case, exactly", &target.secret);
        let (status, replayed) = conformance(&refs(&replay)).await;
        assert_eq!(status, ExitStatus::NonConformant, "{replayed}");
        assert!(replayed.contains(requirement), "{replayed}");
        target.server.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `fuzz --api-url … --api-key …` besides `target.fuzz(declare, rest)`: removals through REST.
fn with_rest(target: &Target, config_key: &str, declare: &[&str], rest: &[&str]) -> Vec<String> {
    let mut args = target.fuzz(declare, rest);
    args.extend([
        "--api-url".to_owned(),
        target.server.api_url(),
        "--api-key".to_owned(),
        config_key.to_owned(),
    ]);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_rejoin_is_found_by_a_rejoin_only() {
    // no-rejoin-announce: a participant that left and connects again is not announced again.
    // Without the rejoin the case passes; with it, the one present throughout misses the second
    // participant.joined (PRES-001).
    let target = Target::start(&[Fault::NoRejoinAnnounce]).await;
    let dir = scratch("fuzz-rejoin");
    let before = serde_json::json!([
        { "action": "join", "who": 0 },
        { "action": "join", "who": 1 },
        { "action": "leave", "who": 1, "how": "drop" },
    ]);
    let mut after = before.clone();
    after.as_array_mut().expect("a list").extend([
        serde_json::json!({ "action": "rejoin", "who": 1 }),
        serde_json::json!({ "action": "chat", "who": 1, "text": "back", "extra": "none" }),
    ]);
    let without = case_file(&dir, "without.json", before);
    let with = case_file(&dir, "with.json", after);
    let (status, output) = conformance(&refs(&target.fuzz(
        KNOWN_EXTENSIONS,
        &["--replay", without.to_str().expect("a UTF-8 path")],
    )))
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let (status, output) = conformance(&refs(&target.fuzz(
        KNOWN_EXTENSIONS,
        &["--replay", with.to_str().expect("a UTF-8 path")],
    )))
    .await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(output.contains("[PRES-001]"), "{output}");
    assert!(output.contains("B joins again"), "{output}");
    // Generated cases rejoin too, and the fault is found and shrunk to a rejoin.
    let found = dir.join("found.json");
    let args = target.fuzz(
        KNOWN_EXTENSIONS,
        &[
            "--scale",
            "2",
            "--cases",
            "20",
            "--seed",
            "5",
            "--shrink-budget",
            "5s",
            "--case-file",
            found.to_str().expect("a UTF-8 path"),
        ],
    );
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(found.is_file(), "no replay file:\n{output}");
    assert!(output.contains("[PRES-001]"), "{output}");
    assert!(
        output.contains("no removals through the REST API"),
        "{output}"
    );
    let minimal = output
        .split("the minimal case")
        .next()
        .and_then(|head| head.rsplit("shrunk from").next())
        .unwrap_or_default();
    assert!(minimal.contains("joins again"), "{output}");
    target.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_through_rest_are_departures_and_are_never_rejoined() {
    let mut key = String::new();
    let target = Target::start_with(&[], |config| {
        key = config
            .api_key()
            .expect("ephemeral has an API key")
            .to_owned();
    })
    .await;
    let dir = scratch("fuzz-removal");
    let case = case_file(
        &dir,
        "removal.json",
        serde_json::json!([
            { "action": "join", "who": 0 },
            { "action": "join", "who": 1 },
            { "action": "chat", "who": 0, "text": "before", "extra": "none" },
            { "action": "remove", "who": 0 },
            { "action": "rejoin", "who": 0 },
            { "action": "chat", "who": 0, "text": "after", "extra": "none" },
            { "action": "chat", "who": 1, "text": "still here", "extra": "none" },
        ]),
    );
    let case = case.to_str().expect("a UTF-8 path");
    let (status, output) = conformance(&refs(&with_rest(
        &target,
        &key,
        KNOWN_EXTENSIONS,
        &["--replay", case],
    )))
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(output.contains("removals through the REST API"), "{output}");
    assert!(
        !output.contains(&key),
        "the API key is never shown: {output}"
    );
    // The removal applied (the server closed A, and B heard of it: the case passes); A, removed,
    // does not join again, nor send anything.
    assert!(
        output.contains("Did nothing (could not apply then): 5, 6\n"),
        "{output}"
    );
    // Without close-codes declared, the page does not say what a removal does to the
    // connection: the same case passes, and nothing waits for a close.
    let (status, output) =
        conformance(&refs(&with_rest(&target, &key, &[], &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        !output.contains(&key),
        "the API key is never shown: {output}"
    );
    // Without a REST API the removal is not done, and A stays.
    let (status, output) =
        conformance(&refs(&target.fuzz(KNOWN_EXTENSIONS, &["--replay", case]))).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        output.contains("no removals through the REST API"),
        "{output}"
    );
    assert!(
        output.contains("Did nothing (could not apply then): 4, 5\n"),
        "{output}"
    );
    assert!(
        !output.contains(&key),
        "the API key is never shown: {output}"
    );
    // Generated cases with removals and rejoins pass against the reference server.
    let args = with_rest(
        &target,
        &key,
        KNOWN_EXTENSIONS,
        &[
            "--scale",
            "3",
            "--cases",
            "12",
            "--seed",
            "7",
            "--case-file",
            dir.join("generated.json").to_str().expect("a UTF-8 path"),
        ],
    );
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        !output.contains(&key),
        "the API key is never shown: {output}"
    );
    target.server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
