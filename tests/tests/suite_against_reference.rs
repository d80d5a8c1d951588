//! The judge judged: the whole conformance suite against the reference server, in each of the
//! ways a team can point it at a server, and against a reference server configured to break a
//! must-level requirement.
//!
//! Every run goes through `chalk_conformance::commands::execute` in-process, exactly as the binary does;
//! the runner lets only one run proceed at a time, so the tests of this file may run in parallel.

use std::path::PathBuf;
use std::time::Duration;

use chalk_conformance::commands::exit::ExitStatus;
use chalk_conformance::contract::catalogue::KNOWN_EXTENSIONS;
use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
use chalk_reference_server::{Config, Server, serve};
use chalk_tests::conformance;
use chalk_tests::jwt_shaped;

/// The counts of the closing line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Closing {
    passed: usize,
    failed: usize,
    warned: usize,
    expected_failures: usize,
    skipped: usize,
    not_declared: usize,
}

/// The last line, `N passed, N failed, N warned, N failed as expected, N skipped, N not
/// declared`, as numbers.
fn closing_counts(output: &str) -> Closing {
    let last = output.lines().last().unwrap_or_default();
    let numbers: Vec<usize> = last
        .split(", ")
        .filter_map(|part| part.split_whitespace().next()?.parse().ok())
        .collect();
    let [
        passed,
        failed,
        warned,
        expected_failures,
        skipped,
        not_declared,
    ] = numbers[..]
    else {
        panic!("closing line {last:?}");
    };
    Closing {
        passed,
        failed,
        warned,
        expected_failures,
        skipped,
        not_declared,
    }
}

/// How many scenarios the run skipped as written for another kind of deployment or run (one
/// line each): for the other origin mode (`— needs --origin-mode exact: ...`), with one node for
/// several (`— needs two nodes: ...`), or for a run that may take nodes down (`— needs
/// --node-kill-command: ...`). The only skips a run against the reference server has.
fn other_origin_mode(output: &str) -> usize {
    output
        .lines()
        .filter(|line| {
            [
                " — needs --origin-mode ",
                " — needs two nodes: ",
                " — needs --node-kill-command: ",
                " — needs --node-restart-command: ",
            ]
            .iter()
            .any(|reason| line.contains(reason))
        })
        .count()
}

/// A reference server of its own, with the credentials the suite needs to reach it.
struct Reference {
    server: Server,
    secret: String,
    api_key: String,
    origin: String,
}

impl Reference {
    /// Serves `config` with the embedded run's short idle timeout and heartbeat (which
    /// [`Self::jwt_args`] states with `--idle-timeout`), so that the keepalive scenario lasts
    /// seconds.
    async fn start(mut config: Config) -> Self {
        config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
        config.limits.heartbeat_interval = SUITE_HEARTBEAT;
        let secret = config
            .jwt_secret()
            .expect("ephemeral has a secret")
            .to_owned();
        let api_key = config
            .api_key()
            .expect("ephemeral has an API key")
            .to_owned();
        let origin = config.default_tenant.allowed_origins[0].clone();
        let server = serve(config).await.expect("the reference server starts");
        Self {
            server,
            secret,
            api_key,
            origin,
        }
    }

    /// `--url`, `--api-url`, `--api-key`, `--jwt-secret`, `--origin`, every extension declared.
    fn rest_args(&self) -> Vec<String> {
        let mut args = self.jwt_args();
        args.extend([
            "--api-url".into(),
            self.server.api_url(),
            "--api-key".into(),
            self.api_key.clone(),
        ]);
        args
    }

    /// `--url`, `--jwt-secret`, `--origin`, every extension declared.
    fn jwt_args(&self) -> Vec<String> {
        vec![
            "--url".into(),
            self.server.ws_url(),
            "--jwt-secret".into(),
            self.secret.clone(),
            "--origin".into(),
            self.origin.clone(),
            "--declare".into(),
            KNOWN_EXTENSIONS.join(","),
            "--idle-timeout".into(),
            format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis()),
        ]
    }
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_reference_server_passes_every_scenario() {
    let (status, output) = conformance(&["--max-skipped-must"]).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert!(counts.passed > 100, "{output}");
    assert_eq!(
        counts,
        Closing {
            passed: counts.passed,
            failed: 0,
            warned: 0,
            expected_failures: 0,
            skipped: other_origin_mode(&output),
            not_declared: 0
        },
        "{output}"
    );
    // The embedded server's tenant has an origin list: the patterns-only scenarios are skipped
    // with their reason, counted as skipped.
    assert!(
        output.contains("— needs --origin-mode patterns: ") && counts.skipped > 0,
        "{output}"
    );
    assert!(output.contains("(embedded reference server)"));
    // One node: the cluster scenarios are listed as skipped, and the run still judges every
    // must scenario it can (--max-skipped-must does not count them).
    assert!(output.contains("CLUSTER-001 "), "{output}");
    assert!(
        output.contains(
            " — needs two nodes: written for a deployment of several nodes; this run has one \
             (give each node's --url)"
        ),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_provisioning_of_a_separate_server_passes_every_scenario() {
    let reference = Reference::start(Config::ephemeral()).await;
    let (status, output) = conformance(&refs(&reference.rest_args())).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert!(counts.passed >= 123, "{output}");
    assert!(
        output.contains("defective tokens forged with the deployment's key"),
        "{output}"
    );
    assert_eq!(
        (counts.failed, counts.skipped, counts.not_declared),
        (0, other_origin_mode(&output), 0),
        "{output}"
    );
    // --url without --origin-mode: patterns, so the ORIGIN-006 scenarios are skipped, and
    // being written for the other mode, they are not must scenarios the run failed to judge.
    assert!(output.contains("— needs --origin-mode exact: "), "{output}");
    assert!(output.contains("\nConformant ("), "{output}");
    assert!(!output.contains(&reference.secret) && !output.contains(&reference.api_key));
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_pass_and_rest_only_scenarios_are_skipped_with_a_reason() {
    let reference = Reference::start(Config::ephemeral()).await;
    let (status, output) = conformance(&refs(&reference.jwt_args())).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert!(counts.passed > 100, "{output}");
    assert_eq!(counts.failed, 0, "{output}");
    assert!(counts.skipped > 0, "{output}");
    assert!(
        output.contains(
            "AUTH-018    Reconnecting after removal — needs participant-removal: give --api-url and --api-key"
        ),
        "{output}"
    );
    assert!(
        output.contains("needs recordings: give --api-url and --api-key, or --recording-command")
    );
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_making_other_allowed_choices_still_conforms() {
    // Declaring no extension stands for a server that echoes no chat to its sender, sends no
    // pong event, ignores unknown events silently, sends no roster: the published page allows
    // all of it. Every must and should scenario must then pass without relying on them.
    let reference = Reference::start(Config::ephemeral()).await;
    let mut args = reference.rest_args();
    let declare = args.iter().position(|a| a == "--declare").unwrap();
    args.drain(declare..declare + 2);
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert_eq!(counts.failed, 0, "{output}");
    assert!(output.contains("declared:     no extension"), "{output}");
    assert!(output.contains("chat-echo: 1 scenario(s)"), "{output}");
    assert!(counts.skipped + counts.not_declared >= 25, "{output}");
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_expired_tokens_is_non_conformant_and_names_auth_009() {
    let mut config = Config::ephemeral();
    config.jwt.leeway = Duration::from_secs(30_000);
    let reference = Reference::start(config).await;
    let mut args = reference.rest_args();
    args.extend(["--tags".into(), "@must".into()]);
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(output.contains("FAIL  AUTH-009"), "{output}");
    assert!(output.contains("Not conformant"), "{output}");
    assert!(closing_counts(&output).failed >= 1, "{output}");
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_report_shows_the_requirement_expected_actual_and_a_redacted_transcript() {
    let mut config = Config::ephemeral();
    config.jwt.leeway = Duration::from_secs(30_000);
    let reference = Reference::start(config).await;
    let mut args = reference.rest_args();
    args.extend([
        "--tags".into(),
        "@req.AUTH-009".into(),
        "--name".into(),
        "^A token that expired two hours ago$".into(),
    ]);
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    assert!(!output.contains(&reference.secret), "the JWT secret leaked");
    assert!(!output.contains(&reference.api_key), "the API key leaked");
    assert_eq!(jwt_shaped(&output), None, "a token leaked:\n{output}");
    insta::with_settings!({filters => vec![
        // The roster the reference server sends on joining may or may not arrive before the
        // scenario ends; it is beside the point of this report.
        (r#"(?m)^.*<- \{"event":"room\.state".*\n"#, ""),
        (r"\bcc[0-9a-f]{6}\b", "[run]"),
        (r"room_[0-9a-f]+", "[room]"),
        (r"p_[0-9a-f]+", "[participant]"),
        (r"127\.0\.0\.1:\d+", "[host]"),
        (r"\+\s*\d+\.\d{3}s", "+[time]"),
        (r"\(\d+\.\ds\)", "([time])"),
        (r"(?i)(sec-websocket-(key|accept)): \S+", "$1: [key]"),
        (r"(?i)date: .*", "date: [date]"),
        // The reference server's node id is generated at each start.
        (r"(?i)chalk-node: \S+", "chalk-node: [node]"),
    ]}, {
        insta::assert_snapshot!("auth_009_failure_report", output);
    });
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_and_cucumber_json_reports_are_written_with_skips() {
    let dir = std::env::temp_dir().join(format!("chalk-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junit: PathBuf = dir.join("junit.xml");
    let json: PathBuf = dir.join("cucumber.json");
    let (status, output) = conformance(&[
        "--tags",
        "@req.AUTH-001 or @req.CHAT-012 or @req.PING-003",
        "--declare",
        "pong-event",
        "--junit",
        junit.to_str().unwrap(),
        "--cucumber-json",
        json.to_str().unwrap(),
    ])
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            "<testcase classname=\"features/connection/authentication/token-placement.feature\""
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"not declared: extension chat-echo\"/>"),
        "{xml}"
    );
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let statuses: Vec<String> = document
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["elements"].as_array().unwrap().clone())
        .flat_map(|e| e["steps"].as_array().unwrap().clone())
        .map(|s| s["result"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses.iter().any(|s| s == "passed"));
    assert!(statuses.iter().any(|s| s == "skipped"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2_and_unreachable_targets_exit_3_in_one_line() {
    let (status, output) = conformance(&["--declare", "telepathy"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.contains("unknown extension \"telepathy\""),
        "{output}"
    );

    let (status, output) = conformance(&["--no-such-flag"]).await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("ws://127.0.0.1:{port}/api/v1/ws");
    let (status, output) =
        conformance(&["--url", &url, "--jwt-secret", "a-secret-that-must-not-show"]).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    let last = output.lines().last().unwrap();
    assert!(last.contains("target unreachable"), "{output}");
    assert!(!output.contains("a-secret-that-must-not-show"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_key_for_minted_tokens_cannot_judge_in_one_line() {
    let reference = Reference::start(Config::ephemeral()).await;
    let url = reference.server.ws_url();
    let wrong = "not-the-deployment-secret-0123456789";
    let (status, output) = conformance(&[
        "--url",
        &url,
        "--jwt-secret",
        wrong,
        "--origin",
        &reference.origin,
    ])
    .await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.starts_with(
            "chalk-conformance: cannot judge: the deployment refused a valid token minted with \
             the given signing key (401"
        ),
        "{output}"
    );
    assert!(
        output.trim_end().ends_with(
            "the signing key (--jwt-secret / CHALK_JWT_SECRET) is probably not the deployment's"
        ),
        "{output}"
    );
    assert!(!output.contains(wrong), "{output}");
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_key_with_rest_provisioning_cannot_judge_instead_of_passing() {
    let reference = Reference::start(Config::ephemeral()).await;
    let wrong = "a-wrong-key-that-must-not-show-0123456789";
    let mut args = reference.rest_args();
    let at = args.iter().position(|a| a == "--jwt-secret").unwrap() + 1;
    args[at] = wrong.to_owned();
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.starts_with(
            "chalk-conformance: cannot judge: the deployment refused a valid token minted with \
             the given signing key (401 "
        ),
        "{output}"
    );
    assert!(
        output.contains(
            "; the signing key (--jwt-secret / CHALK_JWT_SECRET) is probably not the deployment's"
        ),
        "{output}"
    );
    assert!(
        !output.contains("forged with the deployment's key"),
        "{output}"
    );
    for secret in [wrong, &reference.secret, &reference.api_key] {
        assert!(!output.contains(secret), "{output}");
    }
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_origin_cannot_judge_with_the_servers_answer_and_a_hint() {
    let reference = Reference::start(Config::ephemeral()).await;
    let mut args = reference.rest_args();
    let at = args.iter().position(|a| a == "--origin").unwrap() + 1;
    args[at] = "https://not-the-allowed-origin.example".to_owned();
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.starts_with(
            "chalk-conformance: cannot judge: the deployment refused a valid token from the \
             given origin https://not-the-allowed-origin.example (403 "
        ),
        "{output}"
    );
    assert!(output.contains("origin not allowed"), "{output}");
    assert!(
        output
            .trim_end()
            .ends_with("; check --origin (CHALK_ORIGIN)"),
        "{output}"
    );
    for secret in [&reference.secret, &reference.api_key] {
        assert!(!output.contains(secret.as_str()), "{output}");
    }
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_not_credited_when_its_positive_control_is_refused_too() {
    // The header token is refused whatever it is, so refusing a forged one proves nothing; the
    // query token still works, so the preflight lets the scenarios judge.
    let config = Config::ephemeral();
    let secret = config.jwt_secret().unwrap().to_owned();
    let api_key = config.api_key().unwrap().to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let faults = chalk_faults::Faults::from(chalk_faults::Fault::RefuseHeaderToken);
    let server = chalk_faults::serve(config, faults).await.unwrap();
    let (status, output) = conformance(&[
        "--url",
        &server.ws_url(),
        "--api-url",
        &server.api_url(),
        "--api-key",
        &api_key,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--tags",
        "@req.AUTH-007 or @req.ORIGIN-003",
    ])
    .await;
    assert_eq!(status, ExitStatus::NonConformant, "{output}");
    // The three header scenarios are not credited; the six that present the token in the query
    // string, where this server accepts their controls, are judged and pass.
    let counts = closing_counts(&output);
    assert_eq!((counts.passed, counts.failed), (6, 3), "{output}");
    assert!(
        output.contains("Expected: the positive control of the refusal accepted"),
        "{output}"
    );
    assert!(
        output.contains("the server refused the control too"),
        "{output}"
    );
    assert!(output.contains("[AUTH-001]"), "{output}");
    assert!(
        !output.contains(&secret) && !output.contains(&api_key),
        "{output}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_reached_by_two_urls_is_a_deployment_of_two_nodes_that_passes() {
    // A single node reached by two URLs is a valid deployment: every scenario's participants
    // are spread over the two "nodes", and its REST calls over their two APIs.
    let reference = Reference::start(Config::ephemeral()).await;
    let (ws, api) = (reference.server.ws_url(), reference.server.api_url());
    let mut args = reference.rest_args();
    args.extend(["--url".into(), ws.clone(), "--api-url".into(), api.clone()]);
    let report = chalk_tests::scratch("two-nodes").join("report.html");
    args.extend(["--report".into(), report.display().to_string()]);
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert!(counts.passed >= 123, "{output}");
    assert_eq!(
        (counts.failed, counts.skipped, counts.not_declared),
        (0, other_origin_mode(&output), 0),
        "{output}"
    );
    // Two nodes: the cluster scenarios run (and pass) too, but for the failover ones, which
    // need a command that kills a node.
    assert!(!output.contains("needs two nodes"), "{output}");
    assert!(
        output.contains(
            "CLUSTER-014 A node dies with a member on it — needs --node-kill-command: it loses a \
             node of the deployment"
        ),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "nodes:        node1 {ws}\n              node2 {ws}\n"
        )),
        "{output}"
    );
    assert!(
        output.contains(&format!("REST API of each node ({api}, {api})")),
        "{output}"
    );
    // Each participant's upgrade says which node it reached, and the REST calls say which
    // node's API they went through.
    let html = std::fs::read_to_string(&report).unwrap();
    // The reference server names itself in Chalk-Node (one server here: the same id twice).
    for seen in [
        "(Chalk-Node; asked node1 at ",
        "(Chalk-Node; asked node2 at ",
        "connecting to node2 (through node1&#39;s REST API)",
        "(through node2&#39;s REST API)",
    ] {
        assert!(html.contains(seen), "the report lacks {seen:?}");
    }
    assert!(!output.contains(&reference.secret) && !output.contains(&reference.api_key));
    reference.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_url_count_that_is_neither_one_nor_one_per_node_is_a_usage_error() {
    let (status, output) = conformance(&[
        "--url",
        "ws://127.0.0.1:9/ws,ws://127.0.0.1:10/ws,ws://127.0.0.1:11/ws",
        "--api-url",
        "http://127.0.0.1:9/api/v1",
        "--api-url",
        "http://127.0.0.1:10/api/v1",
        "--api-key",
        "a-key-that-must-not-show",
    ])
    .await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert_eq!(output.lines().count(), 1, "{output}");
    assert!(
        output.contains("--api-url given 2 times for 3 --url"),
        "{output}"
    );
    assert!(!output.contains("a-key-that-must-not-show"), "{output}");
}

/// A node of a test deployment that can be lost: a TCP relay to the reference server on a port
/// of its own. Told to die (a file `kill-N` in `dir`, N its node number), it cuts every
/// connection through it without a goodbye and from then on drops every new one; told to come
/// back (`restart-N`), it relays again. It removes the file once done, which is what the kill
/// and restart commands of the test wait for.
async fn losable_node(upstream: std::net::SocketAddr, dir: PathBuf, number: usize) -> u16 {
    use tokio::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (kill, restart) = (
            dir.join(format!("kill-{number}")),
            dir.join(format!("restart-{number}")),
        );
        let mut up = true;
        let mut relays: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut client, _)) = accepted else { continue };
                    if !up {
                        continue;
                    }
                    relays.push(tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }));
                }
                _ = tick.tick() => {
                    if kill.exists() {
                        up = false;
                        relays.drain(..).for_each(|relay| relay.abort());
                        let _ = std::fs::remove_file(&kill);
                    }
                    if restart.exists() {
                        up = true;
                        let _ = std::fs::remove_file(&restart);
                    }
                }
            }
        }
    });
    port
}

/// A shell command that asks the losable node named by CHALK_NODE_INDEX to `what` (kill or
/// restart) through `dir`, notes CHALK_NODE_URL in `dir/what`, and waits (at most 10 s) until
/// the node has done it.
fn node_command(dir: &std::path::Path, what: &str) -> String {
    let dir = dir.display();
    format!(
        "echo \"$CHALK_NODE_URL\" >> '{dir}/{what}'; f='{dir}/{what}-'\"$CHALK_NODE_INDEX\"; \
         touch \"$f\"; i=0; while [ -e \"$f\" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
         [ ! -e \"$f\" ]"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_scenarios_run_last_each_losing_a_node_of_its_own() {
    // Three nodes: the reference server itself, and two relays to it that the kill command
    // cuts off. A member behind a cut relay has dropped, which the server reports.
    let reference = Reference::start(Config::ephemeral()).await;
    let ws = reference.server.ws_url();
    let upstream: std::net::SocketAddr = ws
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let dir = chalk_tests::scratch("failover");
    let mut urls = vec![ws.clone()];
    for number in [2, 3] {
        let port = losable_node(upstream, dir.clone(), number).await;
        urls.push(ws.replace(&format!(":{}/", upstream.port()), &format!(":{port}/")));
    }
    let mut args = reference.rest_args();
    args[1] = urls.join(",");
    args.extend([
        "--node-kill-command".into(),
        node_command(&dir, "kill"),
        "--node-restart-command".into(),
        node_command(&dir, "restart"),
        "--failover-bound".into(),
        "3s".into(),
    ]);
    let (status, output) = conformance(&refs(&args)).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let counts = closing_counts(&output);
    assert_eq!(
        (counts.failed, counts.skipped, counts.not_declared),
        (0, other_origin_mode(&output), 0),
        "{output}"
    );
    // Both failover scenarios ran, after every other one, each losing a node of its own: the
    // last node first, never the first node.
    let verdicts: Vec<&str> = output.lines().filter(|l| l.starts_with("PASS  ")).collect();
    let failover: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("CLUSTER-014") || l.contains("CLUSTER-015"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        failover,
        [verdicts.len() - 2, verdicts.len() - 1],
        "{output}"
    );
    let killed = std::fs::read_to_string(dir.join("kill")).unwrap();
    assert_eq!(killed, format!("{}\n{}\n", urls[2], urls[1]), "{output}");
    let restarted = std::fs::read_to_string(dir.join("restart")).unwrap();
    assert_eq!(restarted, format!("{}\n", urls[1]), "{output}");
    reference.server.shutdown().await;
}
