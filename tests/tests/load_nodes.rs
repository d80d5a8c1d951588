//! `chalk-conformance load` over several `--url`s: the members of each room take the URLs in
//! turn, and the report splits deliveries and fan-out latency into same-node and cross-node.
//! Against two reference nodes on a private Redis, messages cross nodes and every one arrives
//! exactly once; against two URLs of one server, the split is by URL alone.
//!
//! Correctness only: how fast a cluster is belongs to the benchmark (`benches/compare.sh`).

use std::time::Duration;

use chalk_conformance::commands::exit::ExitStatus;
use chalk_reference_server::node::{NodeId, RedisUrl};
use chalk_reference_server::{Config, serve};
use chalk_tests::{RedisServer, conformance};
use serde_json::Value;

/// A configuration whose per-connection rate limit does not get in the way of a load.
fn load_config() -> Config {
    let mut config = Config::ephemeral();
    config.limits.rate_per_second = 1e9;
    config.limits.rate_burst = u32::MAX;
    config.shutdown_drain = Duration::from_millis(500);
    config
}

/// Runs `load` with `urls` and the credentials of `config`: the exit status, the table, and
/// the JSON summary.
async fn load_over(urls: &[String], config: &Config, name: &str) -> (ExitStatus, String, Value) {
    let json = std::env::temp_dir().join(format!("chalk-load-{name}-{}.json", std::process::id()));
    let url = urls.join(",");
    let secret = config.jwt_secret().expect("a secret").to_owned();
    let origin = config.default_tenant.allowed_origins[0].clone();
    let (status, table) = conformance(&[
        "load",
        "--url",
        &url,
        "--jwt-secret",
        &secret,
        "--origin",
        &origin,
        "--rooms",
        "1",
        "--participants",
        "6",
        "--senders",
        "2",
        "--window",
        "4",
        "--duration",
        "1s",
        "--quiet",
        "--results-json",
        json.to_str().expect("a UTF-8 temp path"),
    ])
    .await;
    let summary = std::fs::read_to_string(&json)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_file(&json);
    (status, table, summary)
}

/// The same-node and cross-node deliveries of a summary, checked to add up to the whole.
fn split(summary: &Value) -> (u64, u64) {
    let nodes = &summary["nodes"];
    let same = nodes["same_node"]["deliveries"].as_u64().expect("a count");
    let cross = nodes["cross_node"]["deliveries"].as_u64().expect("a count");
    assert_eq!(
        Some(same + cross),
        summary["deliveries"].as_u64(),
        "{summary}"
    );
    assert_eq!(
        nodes["cross_node"]["fan_out_latency"]["count"].as_u64(),
        Some(cross),
        "{summary}"
    );
    (same, cross)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_over_two_cluster_nodes_crosses_nodes_and_delivers_each_message_once() {
    let redis = RedisServer::start();
    let mut config = load_config();
    config.redis_url = Some(RedisUrl::parse(&redis.url()).unwrap());
    let mut servers = Vec::new();
    for i in 0..2 {
        let mut node = config.clone();
        node.node_id = Some(NodeId::parse(&format!("load-{i}")).unwrap());
        servers.push(serve(node).await.expect("a node starts"));
    }
    let urls: Vec<String> = servers.iter().map(|s| s.ws_url()).collect();
    let (status, table, summary) = load_over(&urls, &config, "cluster").await;
    for server in servers {
        server.shutdown().await;
    }
    assert_eq!(status, ExitStatus::Conformant, "{table}");
    assert_eq!(summary["verdict"], "ok", "{table}");
    assert_eq!(summary["lost"], 0, "{table}");
    assert_eq!(summary["duplicated"], 0, "{table}");
    assert_eq!(summary["nodes"]["connections"], serde_json::json!([3, 3]));
    let (same, cross) = split(&summary);
    assert!(cross > 0, "nothing crossed nodes: {table}");
    assert!(same > 0, "nothing stayed on a node: {table}");
    // Each message reaches the 3 members of the other node; each sender's node has 3 too.
    assert_eq!(same, cross, "{table}");
    for row in ["nodes", "same-node deliveries", "cross-node deliveries"] {
        assert!(table.contains(row), "no {row:?} row in:\n{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_urls_of_one_server_are_split_by_url_alone() {
    let config = load_config();
    let server = serve(config.clone()).await.expect("the server starts");
    let urls = vec![server.ws_url(), server.ws_url()];
    let (status, table, summary) = load_over(&urls, &config, "one-server").await;
    server.shutdown().await;
    assert_eq!(status, ExitStatus::Conformant, "{table}");
    assert_eq!(summary["lost"], 0, "{table}");
    assert_eq!(summary["duplicated"], 0, "{table}");
    assert_eq!(summary["nodes"]["connections"], serde_json::json!([3, 3]));
    let (same, cross) = split(&summary);
    assert!(same > 0 && cross > 0, "{table}");
}
