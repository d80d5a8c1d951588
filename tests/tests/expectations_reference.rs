//! Expectations files judged: the reference server's own (empty) file keeps the suite green; a
//! listed failure is reported as expected without failing the run; a listed requirement that
//! passes fails it; an unknown requirement is a configuration error.

use std::path::{Path, PathBuf};

use chalk_conformance::commands::exit::ExitStatus;
use chalk_faults::{Fault, Faults};
use chalk_reference_server::Config;
use chalk_tests::{conformance, scratch};

/// An expectations file listing `requirement`.
fn expecting(dir: &Path, requirement: &str, reason: &str) -> PathBuf {
    let path = dir.join("expectations.toml");
    std::fs::write(
        &path,
        format!("[[expected]]\nrequirement = \"{requirement}\"\nreason = \"{reason}\"\n"),
    )
    .expect("the file is written");
    path
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_servers_own_expectations_keep_the_suite_passing() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../expectations/reference-server.toml");
    let (status, output) = conformance(&["--expectations", path(&file)]).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        output.contains("(0 requirement(s) expected to fail)"),
        "{output}"
    );
    let last = output.lines().last().unwrap_or_default();
    // The only skips: the scenarios written for the other origin mode, and (one node) those
    // written for several nodes, one line each.
    let skipped = output.matches(" — needs --origin-mode ").count()
        + output.matches(" — needs two nodes: ").count();
    assert!(
        last.ends_with(&format!(
            " passed, 0 failed, 0 warned, 0 failed as expected, {skipped} skipped, 0 not declared"
        )),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expected_failure_keeps_the_run_green_and_is_reported_as_expected() {
    let config = Config::ephemeral();
    let secret = config.jwt_secret().expect("a secret").to_owned();
    let server = chalk_faults::serve(config, Faults::from(Fault::DuplicateDelivery))
        .await
        .expect("the reference server starts");
    let dir = scratch("expected-failure");
    let file = expecting(&dir, "CHAT-008", "duplicates until OPS-42 lands");
    let (junit, results) = (dir.join("junit.xml"), dir.join("results.json"));
    let url = server.ws_url();
    let (status, output) = conformance(&[
        "--url",
        &url,
        "--jwt-secret",
        &secret,
        "--declare",
        "chat-echo",
        "--tags",
        "@req.CHAT-008",
        "--expectations",
        path(&file),
        "--junit",
        path(&junit),
        "--results-json",
        path(&results),
    ])
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(output.contains("XFAIL CHAT-008"), "{output}");
    // CHAT-008 has more than one scenario; each is listed.
    assert!(output.contains("failed as expected (CHAT-008"), "{output}");
    let junit = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(
        junit.contains("expected failure: duplicates until OPS-42 lands"),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).expect("the results")).unwrap();
    assert_eq!(results["conformant"], true);
    let chat_008 = results["requirements"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == "CHAT-008"))
        .expect("CHAT-008 in the results");
    assert_eq!(chat_008["status"], "xfail");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_requirement_that_passes_fails_the_run_as_stale() {
    let dir = scratch("stale-expectation");
    let file = expecting(&dir, "CHAT-008", "duplicates until OPS-42 lands");
    let (junit, json) = (dir.join("junit.xml"), dir.join("cucumber.json"));
    let (status, output) = conformance(&[
        "--tags",
        "@req.CHAT-008",
        "--expectations",
        path(&file),
        "--junit",
        path(&junit),
        "--json",
        path(&json),
    ])
    .await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(
        output.contains("unexpected pass: the expectations file is stale"),
        "{output}"
    );
    assert!(output.contains("CHAT-008    passed, but"), "{output}");
    let junit = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(junit.contains("type=\"unexpected-pass\""), "{junit}");
    let json = std::fs::read_to_string(&json).expect("the Cucumber JSON file");
    assert!(json.contains("CHAT-008 is expected to fail"), "{json}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_requirement_in_the_file_is_a_configuration_error() {
    let dir = scratch("unknown-expectation");
    let file = expecting(&dir, "CHAT-080", "a typo");
    let (status, output) = conformance(&["--expectations", path(&file)]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert!(output.contains("\"CHAT-080\""), "{output}");
    assert!(
        output.contains("not a requirement of the catalogue"),
        "{output}"
    );
    assert!(!output.contains("PASS"), "nothing may run:\n{output}");
    let _ = std::fs::remove_dir_all(dir);
}
