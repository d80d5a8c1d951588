//! `chalk-conformance load`, run in-process as the binary runs it: a short bounded load against
//! the embedded reference server delivers every message exactly once and reports it, and a
//! target outside loopback is refused before anything is sent.
//!
//! Correctness only: how fast the server is belongs to the benchmarks (`benches/`), never to a
//! timed test.

use chalk_conformance::commands::exit::ExitStatus;
use chalk_tests::conformance;
use serde_json::Value;

#[tokio::test]
async fn a_short_load_delivers_every_message_exactly_once() {
    let json = std::env::temp_dir().join(format!("chalk-load-{}.json", std::process::id()));
    let json_arg = json.to_str().expect("a UTF-8 temp path");
    let (status, table) = conformance(&[
        "load",
        "--rooms",
        "1",
        "--participants",
        "10",
        "--window",
        "4",
        "--duration",
        "1s",
        "--quiet",
        "--results-json",
        json_arg,
    ])
    .await;
    assert_eq!(status, ExitStatus::Conformant, "{table}");
    for row in [
        "connections",
        "deliveries",
        "fan-out latency p50/p90/p99/p99.9",
        "lost / duplicated",
        "close codes",
        "server RSS",
    ] {
        assert!(table.contains(row), "no {row:?} row in:\n{table}");
    }
    assert!(table.contains("embedded reference server"), "{table}");
    assert!(!table.contains("cross-node"), "{table}");

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON was written"))
            .expect("the JSON parses");
    let _ = std::fs::remove_file(&json);
    assert_eq!(summary["verdict"], "ok");
    assert_eq!(summary["mode"], "chalk");
    assert!(
        summary.get("nodes").is_none(),
        "one URL: no same/cross-node split"
    );
    assert_eq!(summary["connections"]["established"], 10);
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["duplicated"], 0);
    assert_eq!(summary["misrouted"], 0);
    assert_eq!(
        summary["echo"], true,
        "the reference server echoes chat to its sender"
    );
    let sent = summary["messages_sent"].as_u64().expect("a count");
    assert!(sent > 0, "nothing was sent");
    // Every message reaches all ten members, the sender included.
    assert_eq!(summary["deliveries"].as_u64(), Some(sent * 10));
    assert_eq!(summary["deliveries_expected"].as_u64(), Some(sent * 10));
    assert_eq!(summary["close_codes"]["1000"], 10);
    assert_eq!(summary["errors"], serde_json::json!({}));
    let latency = &summary["fan_out_latency"];
    assert_eq!(latency["count"].as_u64(), Some(sent * 10));
    assert!(latency["p50_ms"].as_f64() <= latency["p99_ms"].as_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_room_state_is_not_at_fault() {
    // room.state is an extension: a server that greets nobody still passes when it delivers.
    let mut config = chalk_reference_server::Config::ephemeral();
    config.limits.rate_per_second = 1e9;
    config.limits.rate_burst = u32::MAX;
    let secret = config.jwt_secret().expect("a secret").to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let faults = chalk_faults::Faults::from(chalk_faults::Fault::NoRoomState);
    let server = chalk_faults::serve(config, faults)
        .await
        .expect("the reference server starts");
    let url = server.ws_url();
    let (status, table) = conformance(&[
        "load",
        "--url",
        &url,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--participants",
        "3",
        "--duration",
        "1s",
        "--quiet",
    ])
    .await;
    server.shutdown().await;
    assert_eq!(status, ExitStatus::Conformant, "{table}");
    assert!(table.contains("no room.state"), "{table}");
}

#[tokio::test]
async fn an_unreachable_target_is_one_line_and_exit_code_3() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (status, output) = conformance(&[
        "load",
        "--url",
        &url,
        "--raw",
        "--duration",
        "1s",
        "--quiet",
    ])
    .await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {output}");
    assert!(lines[0].contains("cannot connect to"), "{output}");
}

#[tokio::test]
async fn provisioning_errors_and_target_urls_never_show_secrets() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // A REST API that repeats the key it was given in its error body.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a listener");
    let port = listener.local_addr().expect("an address").port();
    let api = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 16 * 1024];
            let read = socket.read(&mut buffer).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).into_owned();
            let key = request
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("x-api-key")
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default();
            let body = format!(r#"{{"error":"unknown key {key}"}}"#);
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    let key = "a-load-api-key-that-must-never-show";
    let (status, output) = conformance(&[
        "load",
        "--url",
        &format!("ws://127.0.0.1:{port}/api/v1/ws"),
        "--api-url",
        &format!("http://127.0.0.1:{port}/api/v1"),
        "--api-key",
        key,
        "--quiet",
    ])
    .await;
    api.abort();
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert!(output.contains("provisioning failed"), "{output}");
    assert!(output.contains("401"), "{output}");
    assert!(!output.contains(key), "the API key leaked: {output}");

    // Credentials in the target URL stay out of what is printed.
    let (status, output) = conformance(&[
        "load",
        "--url",
        &format!("ws://user:a-url-password-that-must-never-show@127.0.0.1:{port}/ws?token=a-query-token-that-must-never-show"),
        "--raw",
        "--duration",
        "1s",
        "--quiet",
    ])
    .await;
    assert_eq!(status, ExitStatus::Unreachable, "{output}");
    assert!(!output.contains("must-never-show"), "{output}");
}

#[tokio::test]
async fn refuses_a_target_outside_loopback_without_connecting() {
    let (status, output) = conformance(&[
        "load",
        "--url",
        "ws://10.1.2.3/api/v1/ws",
        "--jwt-secret",
        "a-secret-that-is-never-used-here",
    ])
    .await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {output}");
    assert!(
        lines[0].contains("10.1.2.3 is not a loopback address"),
        "{output}"
    );
    assert!(lines[0].contains("--allow-remote"), "{output}");
    assert!(
        !output.contains("connect"),
        "no connection was attempted: {output}"
    );
}

#[tokio::test]
async fn refuses_a_remote_rest_api_too() {
    let (status, output) = conformance(&[
        "load",
        "--url",
        "ws://127.0.0.1:9/api/v1/ws",
        "--api-url",
        "http://10.1.2.3/api/v1",
        "--api-key",
        "a-key-that-is-never-used-here",
    ])
    .await;
    assert_eq!(status, ExitStatus::Usage, "{output}");
    assert!(
        output.contains("10.1.2.3 is not a loopback address"),
        "{output}"
    );
}
