//! Secrets never reach the logs: with TRACE logging of everything (this server, axum, hyper,
//! tungstenite), no token, token signature, API key or signing secret appears, whether the token
//! came in the subprotocol header, the query string, or was refused.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{TestServer, now, unique};
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn logs_at_trace_level_contain_no_token_or_secret() {
    let capture = Capture::default();
    // Everything at TRACE except the test's own clients, which log their requests.
    let filter = tracing_subscriber::EnvFilter::new(
        "trace,tungstenite::handshake::client=off,tokio_tungstenite::connect=off,reqwest=off,hyper_util::client=off",
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(capture.clone())
        .with_ansi(false)
        .try_init()
        .expect("first subscriber of this test binary");

    let t = TestServer::start().await;
    let room = unique("room");
    let header_token = t.token(&room, "alice");
    let query_token = t.token(&room, "bob");
    let refused_token =
        t.sign(&json!({"room_id": room, "participant_id": "eve", "exp": now() - 600}));

    let mut alice = t.connect(t.request(&header_token)).await;
    alice.expect_event("room.state").await;
    let mut query = t.bare_request(&format!("?token={query_token}"));
    query
        .headers_mut()
        .insert("origin", HeaderValue::from_static(support::ALLOWED_ORIGIN));
    let mut bob = t.connect(query).await;
    bob.expect_event("room.state").await;
    t.expect_refusal(t.request(&refused_token), 401, "invalid or missing token")
        .await;
    let mut bad_query = t.bare_request(&format!("?token={refused_token}"));
    bad_query
        .headers_mut()
        .insert("origin", HeaderValue::from_static(support::ALLOWED_ORIGIN));
    t.expect_refusal(bad_query, 401, "invalid or missing token")
        .await;

    alice.chat("hello").await;
    bob.wait_for("chat.message").await;
    let rest = t.rest();
    let rest_room = rest.create_room("logged").await;
    let minted = rest
        .add_participant(&rest_room, "Carol", "participant")
        .await;
    let minted_token = minted["access_token"].as_str().unwrap().to_owned();
    let mut carol = t.connect(t.request(&minted_token)).await;
    carol.expect_event("room.state").await;
    drop((alice, bob, carol));
    let TestServer { server, config } = t;
    server.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/api/v1/ws"),
        "the capture works and logs paths"
    );
    assert!(logs.contains("TRACE"), "TRACE events were captured");
    let mut secrets = vec![
        config.jwt_secret().unwrap().to_owned(),
        config.api_key().unwrap().to_owned(),
    ];
    for token in [&header_token, &query_token, &refused_token, &minted_token] {
        secrets.push(token.clone());
        secrets.push(token.rsplit('.').next().unwrap().to_owned());
    }
    for (i, secret) in secrets.iter().enumerate() {
        if let Some(at) = logs.find(secret.as_str()) {
            let start = logs[..at].rfind('\n').map_or(0, |n| n + 1);
            let line = logs[start..].lines().next().unwrap_or("");
            panic!(
                "secret #{i} leaked into the logs: {}",
                line.replace(secret.as_str(), "<SECRET>")
            );
        }
    }
    assert!(
        !logs.contains("token="),
        "a query string leaked into the logs"
    );
}

#[test]
fn debug_of_config_shows_no_secret() {
    let mut config = chalk_reference_server::Config::ephemeral();
    config.jwt.private_key_pem = Some("-----BEGIN PRIVATE KEY-----secret".into());
    config.tenants.insert(
        "acme".into(),
        chalk_reference_server::TenantConfig {
            api_key: Some("acme-api-key-0123456789abcdef".into()),
            allowed_origins: vec![],
        },
    );
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains(config.jwt_secret().unwrap()));
    assert!(!shown.contains(config.api_key().unwrap()));
    assert!(!shown.contains("acme-api-key"));
    assert!(!shown.contains("BEGIN PRIVATE KEY"));
}
