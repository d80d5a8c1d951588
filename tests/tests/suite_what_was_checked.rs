//! A verdict only for what the run checked: a selection of no scenario is a usage error, a
//! capability the deployment does not offer (found by trying its route, or stated with
//! `--without`) skips the scenarios that need it with the reason, and `--max-skipped-must`
//! makes a run that skipped `must` scenarios unable to judge (exit 3). The closing lines say
//! what was skipped.
//!
//! Every run goes through `chalk_conformance::commands::execute` in-process, against the
//! embedded reference server or a reference server of its own on 127.0.0.1.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chalk_conformance::commands::exit::ExitStatus;
use chalk_conformance::contract::catalogue::KNOWN_EXTENSIONS;
use chalk_reference_server::{Config, Seams, serve_with};
use chalk_tests::{conformance, scratch};

/// The scenarios that remove a participant or end a room, and one that needs neither (AUTH-018
/// and AUTH-019 each have three: the token in the header, and in the query string both ways).
const OPERATOR_SCENARIOS: &str =
    "@req.AUTH-001 or @req.AUTH-018 or @req.AUTH-019 or @req.AUTH-021 or @req.AUTH-022";

/// The last line of a run's output.
fn last_line(output: &str) -> &str {
    output.lines().last().unwrap_or_default()
}

/// The verdict line, just before the closing counts.
fn verdict_line(output: &str) -> &str {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(2)]
}

/// A REST API without participant removal (405, as a route with other methods answers) and
/// without room end (404, with a body that repeats the status).
async fn refuse_operator_routes(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let removal = request.method() == Method::DELETE && path.contains("/participants/");
    let end = request.method() == Method::POST && path.ends_with("/end");
    if removal {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if end {
        return (StatusCode::NOT_FOUND, "404: Not Found").into_response();
    }
    next.run(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_of_no_scenario_exits_2_in_one_line() {
    for args in [
        &["--tags", "@no-such-tag"][..],
        &["--name", "^no scenario is called this$"][..],
    ] {
        let (status, output) = conformance(args).await;
        assert_eq!(status, ExitStatus::Usage, "{output}");
        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(
            output.contains("nothing to check: --tags/--name select none of the"),
            "{output}"
        );
    }
    // Selected, but nothing of it can run: an undeclared extension checks nothing either.
    let (status, output) =
        conformance(&["--tags", "@req.CHAT-012", "--declare", "pong-event"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(
        output.trim_end(),
        "chalk-conformance: nothing to check: none of the 1 selected scenario(s) can run here (0 skipped, 1 not declared)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_removal_or_room_end_gets_skips_with_reasons() {
    let config = Config::ephemeral();
    let secret = config.jwt_secret().unwrap().to_owned();
    let api_key = config.api_key().unwrap().to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let seams = Seams::default().layer(middleware::from_fn(refuse_operator_routes));
    let server = serve_with(config, seams).await.expect("the server starts");
    let (ws_url, api_url) = (server.ws_url(), server.api_url());
    let declared = KNOWN_EXTENSIONS.join(",");
    let (status, output) = conformance(&[
        "--url",
        &ws_url,
        "--api-url",
        &api_url,
        "--api-key",
        &api_key,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--declare",
        &declared,
        "--strict",
        "--tags",
        OPERATOR_SCENARIOS,
    ])
    .await;
    // Skipped, never passed nor warned: --strict would turn a warning into a failure.
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        output.contains(
            "not offered:  participant-removal (DELETE /rooms/{room_id}/participants/{participant_id} answered 405)\n"
        ),
        "{output}"
    );
    assert!(
        output.contains("not offered:  room-end (POST /rooms/{room_id}/end answered 404)\n"),
        "{output}"
    );
    assert!(
        output.contains("scenarios:    1 to run, 8 skipped, 0 not declared"),
        "{output}"
    );
    assert!(
        output.contains(
            "AUTH-018    Reconnecting after removal — needs participant-removal: not offered by the deployment (DELETE /rooms/{room_id}/participants/{participant_id} answered 405)"
        ),
        "{output}"
    );
    assert!(
        output.contains("AUTH-019    Connecting to an ended room — needs room-end: not offered by the deployment (POST /rooms/{room_id}/end answered 404)"),
        "{output}"
    );
    assert!(
        !output.contains("WARN") && !output.contains("FAIL"),
        "{output}"
    );
    assert!(!output.contains("404: 404"), "{output}");
    assert_eq!(
        last_line(&output),
        "1 passed, 0 failed, 0 warned, 0 failed as expected, 8 skipped, 0 not declared"
    );
    assert!(
        !output.contains(&secret) && !output.contains(&api_key),
        "{output}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_stated_missing_are_skipped_without_being_tried() {
    let (status, output) = conformance(&[
        "--without",
        "participant-removal,room-end",
        "--tags",
        OPERATOR_SCENARIOS,
    ])
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(!output.contains("not offered: "), "{output}");
    assert!(
        output.contains("needs room-end: not offered (--without room-end)"),
        "{output}"
    );
    assert!(
        output.contains("needs participant-removal: not offered (--without participant-removal)"),
        "{output}"
    );
    assert_eq!(
        last_line(&output),
        "1 passed, 0 failed, 0 warned, 0 failed as expected, 8 skipped, 0 not declared"
    );
    // None of them is a must: the verdict is whole.
    assert!(
        verdict_line(&output).starts_with("Conformant ("),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_must_scenarios_are_counted_and_can_fail_a_ci_run() {
    let tags = "@req.AUTH-001 or @req.REC-001 or @req.REC-002";
    let (status, output) = conformance(&["--without", "recordings", "--tags", tags]).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let skipped = output
        .lines()
        .filter(|l| l.contains("needs recordings: not offered (--without recordings)"))
        .count();
    assert!(skipped >= 2, "{output}");
    assert!(
        verdict_line(&output).starts_with(&format!(
            "Conformant for what was checked: {skipped} must scenarios skipped (needs recordings) ("
        )),
        "{output}"
    );

    let dir = scratch("skipped-must");
    let (summary, results) = (dir.join("summary.md"), dir.join("results.json"));
    for limit in [
        &["--max-skipped-must"][..],
        &["--max-skipped-must", "0"][..],
    ] {
        let mut args = vec!["--without", "recordings", "--tags", tags];
        args.extend(limit);
        args.extend([
            "--summary",
            summary.to_str().unwrap(),
            "--results-json",
            results.to_str().unwrap(),
        ]);
        let (status, output) = conformance(&args).await;
        assert_eq!(status, ExitStatus::Unreachable, "{output}");
        assert!(
            verdict_line(&output).starts_with(&format!(
                "Cannot judge: {skipped} must scenarios skipped (needs recordings); --max-skipped-must allows 0 ("
            )),
            "{output}"
        );
        // The files agree with the exit code.
        let markdown = std::fs::read_to_string(&summary).unwrap();
        assert!(
            markdown.starts_with("## ❌ Chalk conformance: cannot judge"),
            "{markdown}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
        assert_eq!(json["cannot_judge"], true, "{json}");
        assert_eq!(json["skipped_must"], skipped, "{json}");
    }
    std::fs::remove_dir_all(dir).unwrap();

    let enough = skipped.to_string();
    let (status, output) = conformance(&[
        "--without",
        "recordings",
        "--tags",
        tags,
        "--max-skipped-must",
        &enough,
    ])
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
}

/// A deployment that admits tokens only for rooms it created (`room_…`, the ids its REST API
/// gives) and only participants of the role `participant`, as the page shows: every other
/// upgrade is refused with 403 before it reaches the server.
async fn only_created_rooms_and_the_participant_role(request: Request, next: Next) -> Response {
    let protocols = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter_map(|p| p.strip_prefix("token."))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.strip_prefix("token="))
        .map(str::to_owned);
    for token in protocols.into_iter().chain(query) {
        let Some(claims) = chalk_conformance::driver::tokens::claims_of(&token) else {
            continue;
        };
        let claim = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if claim("room_id").is_some_and(|room| !room.starts_with("room_")) {
            return (StatusCode::FORBIDDEN, "no such room").into_response();
        }
        if claim("role").is_some_and(|role| role != "participant") {
            return (StatusCode::FORBIDDEN, "no such role").into_response();
        }
    }
    next.run(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_without_suite_named_rooms_or_other_roles_gets_skips_not_failures() {
    let config = Config::ephemeral();
    let secret = config.jwt_secret().unwrap().to_owned();
    let api_key = config.api_key().unwrap().to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let seams = Seams::default().layer(middleware::from_fn(
        only_created_rooms_and_the_participant_role,
    ));
    let server = serve_with(config, seams).await.expect("the server starts");
    let (ws_url, api_url) = (server.ws_url(), server.api_url());
    let declared = KNOWN_EXTENSIONS.join(",");
    let args = [
        "--url",
        &ws_url,
        "--api-url",
        &api_url,
        "--api-key",
        &api_key,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--declare",
        &declared,
        "--strict",
        "--tags",
        "@req.PRES-003 or @req.CHAT-010 or @req.PRES-007",
    ];
    let (status, output) = conformance(&args).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    assert!(
        output.contains(
            "not offered:  name-rooms (a token signed with the run's key for the room id"
        ),
        "{output}"
    );
    assert!(
        output.contains(
            "not offered:  custom-roles (a participant with the role \"moderator\" was refused: 403"
        ),
        "{output}"
    );
    for (id, need) in [
        ("CHAT-010", "name-rooms"),
        ("PRES-007", "name-rooms"),
        ("PRES-003", "custom-roles"),
    ] {
        assert!(
            output.lines().any(|l| l.starts_with(&format!("  {id} "))
                && l.contains(&format!("needs {need}: not offered by the deployment"))),
            "{output}"
        );
    }
    assert!(
        !output.contains("FAIL") && !output.contains("WARN"),
        "{output}"
    );
    // The distinctive names with the role the page shows, and the other rooms whose ids the
    // REST API gave, still run, and pass.
    assert_eq!(
        last_line(&output),
        "8 passed, 0 failed, 0 warned, 0 failed as expected, 4 skipped, 0 not declared"
    );
    assert!(
        verdict_line(&output).starts_with(
            "Conformant for what was checked: 4 must scenarios skipped (needs custom-roles: 2, name-rooms: 2) ("
        ),
        "{output}"
    );
    // A CI run that allows no skipped must scenario cannot judge it (exit 3).
    let mut strict = args.to_vec();
    strict.extend(["--max-skipped-must", "0"]);
    let (status, output) = conformance(&strict).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert!(
        !output.contains(&secret) && !output.contains(&api_key),
        "{output}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_for_the_other_origin_mode_are_skipped_with_the_reason_but_never_cannot_judge() {
    let tags = "@req.ORIGIN-001 or @req.ORIGIN-005 or @req.ORIGIN-006";
    let args = [
        "--origin-mode",
        "patterns",
        "--tags",
        tags,
        "--max-skipped-must",
        "0",
    ];
    let (status, output) = conformance(&args).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let skipped = output
        .lines()
        .filter(|l| l.contains("ORIGIN-006") && l.contains(" — needs --origin-mode exact: "))
        .count();
    assert!(skipped >= 10, "{output}");
    assert!(
        last_line(&output).ends_with(&format!(
            " failed as expected, {skipped} skipped, 0 not declared"
        )),
        "{output}"
    );
    // ORIGIN-006 is a must, but it does not apply to a tenant without a list: the verdict is
    // whole, and --max-skipped-must 0 does not make the run unable to judge.
    assert!(
        verdict_line(&output).starts_with("Conformant ("),
        "{output}"
    );
}
