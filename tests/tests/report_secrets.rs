//! No report of a failing run shows a secret: not the HTML report, the Markdown summary, the
//! JUnit file, the Cucumber JSON, the run-result JSON, nor the console.
//!
//! The run goes through a recording TCP proxy in front of the reference server, so the test
//! knows every token that crossed the wire — the ones the REST API issued and the defective
//! ones the suite forged — without trusting the suite to say which tokens it used. Each of them,
//! each token's signature, the JWT secret and the API key are then looked for in every file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chalk_conformance::commands::{self, exit::ExitStatus};
use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
use chalk_conformance::report::console::Console;
use chalk_reference_server::config::EPHEMERAL_ALLOWED_ORIGIN;
use chalk_reference_server::{Config, serve};
use chalk_tests::jwt_shaped;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every byte that crossed the proxy, one buffer per connection and direction.
type Capture = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A TCP proxy to `upstream` that keeps a copy of everything it forwards.
async fn recording_proxy(upstream: SocketAddr) -> (SocketAddr, Capture) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let capture: Capture = Arc::default();
    let streams = Arc::clone(&capture);
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            for (from, to) in [(in_read, out_write), (out_read, in_write)] {
                let copy = Arc::new(Mutex::new(Vec::new()));
                streams.lock().unwrap().push(Arc::clone(&copy));
                tokio::spawn(forward(from, to, copy));
            }
        }
    });
    (address, capture)
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    copy: Arc<Mutex<Vec<u8>>>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                copy.lock().unwrap().extend_from_slice(&buffer[..n]);
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Every token in the captured traffic: each run of token characters that starts like a JWT
/// (`eyJ`, base64url of `{"`), however defective the rest of it is.
fn tokens_in(capture: &Capture) -> Vec<String> {
    let mut tokens = Vec::new();
    for stream in capture.lock().unwrap().iter() {
        let text = String::from_utf8_lossy(&stream.lock().unwrap()).into_owned();
        for token in tokens_in_text(&text) {
            if !tokens.contains(&token) {
                tokens.push(token);
            }
        }
    }
    tokens
}

/// The tokens of one stream of traffic (see [`tokens_in`]).
///
/// The random nonces of the handshake (`Sec-WebSocket-Key`, 24 characters, and
/// `Sec-WebSocket-Accept`, 28) are standard base64 and sometimes start with `eyJ` by chance (about
/// one handshake in 40 000; a full run has hundreds). They are never tokens, and the report
/// rightly shows them, so their header lines are skipped.
fn tokens_in_text(text: &str) -> Vec<String> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "-_.+/=".contains(c);
    let mut tokens = Vec::new();
    for (at, _) in text.match_indices("eyJ") {
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        let line = text[line_start..at].to_ascii_lowercase();
        if line.starts_with("sec-websocket-key:") || line.starts_with("sec-websocket-accept:") {
            continue;
        }
        let token: String = text[at..].chars().take_while(|c| token_char(*c)).collect();
        let token = token.trim_end_matches('.').to_owned();
        if token.len() >= 24 {
            tokens.push(token);
        }
    }
    tokens
}

#[test]
fn handshake_nonces_that_start_like_a_jwt_are_not_taken_for_tokens() {
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tX2lkIjoiciJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nSec-WebSocket-Key: eyJ0aGlzaXNyYW5kb21uZQ==\r\n\
         Sec-WebSocket-Protocol: chalk, token.{token}\r\n\r\n"
    );
    let found = tokens_in_text(&request);
    assert_eq!(found.first().map(String::as_str), Some(token), "{found:?}");
    // The rest are the token's own later segments, not the nonce.
    assert!(
        found.iter().all(|t| token.contains(t.as_str())),
        "{found:?}"
    );
    let response = "HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: \
                    eyJzb21lcmFuZG9tYnl0ZXNoYQ0=\r\n\r\n";
    assert!(tokens_in_text(response).is_empty());
}

/// A token's signature segment, when it has three and the last is long enough to identify it.
fn signature(token: &str) -> Option<&str> {
    let parts: Vec<&str> = token.split('.').collect();
    (parts.len() == 3 && parts[2].len() >= 16).then(|| parts[2])
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("report-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_report_of_a_failing_run_shows_a_token_the_secret_or_the_api_key() {
    let mut config = Config::ephemeral();
    config.jwt.leeway = Duration::from_secs(30_000);
    config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
    config.limits.heartbeat_interval = SUITE_HEARTBEAT;
    let secret = config.jwt_secret().unwrap().to_owned();
    let api_key = config.api_key().unwrap().to_owned();
    let server = serve(config).await.expect("the reference server starts");
    let (proxy, capture) = recording_proxy(server.local_addr()).await;

    let dir = output_dir();
    let files = [
        dir.join("report.html"),
        dir.join("summary.md"),
        dir.join("junit.xml"),
        dir.join("cucumber.json"),
        dir.join("results.json"),
    ];
    let path = |i: usize| files[i].to_str().unwrap().to_owned();
    let args = [
        "chalk-conformance".to_owned(),
        "--url".into(),
        format!("ws://{proxy}/api/v1/ws"),
        "--api-url".into(),
        format!("http://{proxy}/api/v1"),
        "--api-key".into(),
        api_key.clone(),
        "--jwt-secret".into(),
        secret.clone(),
        "--origin".into(),
        EPHEMERAL_ALLOWED_ORIGIN.into(),
        "--idle-timeout".into(),
        format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis()),
        "--report".into(),
        path(0),
        "--summary".into(),
        path(1),
        "--junit".into(),
        path(2),
        "--json".into(),
        path(3),
        "--results-json".into(),
        path(4),
    ];
    let (console, output) = Console::buffer();
    let status = commands::execute(args, &console).await;
    let console_text = output.contents();
    server.shutdown().await;
    assert_eq!(status, ExitStatus::NonConformant, "{console_text}");
    assert!(console_text.contains("FAIL  AUTH-009"), "{console_text}");

    let tokens = tokens_in(&capture);
    assert!(
        tokens.len() > 100,
        "the proxy saw only {} tokens; is it in the path?",
        tokens.len()
    );
    let mut secrets: Vec<(String, String)> = vec![
        ("the JWT secret".into(), secret),
        ("the API key".into(), api_key),
    ];
    for token in &tokens {
        secrets.push((format!("token {}…", &token[..24]), token.clone()));
        if let Some(signature) = signature(token) {
            secrets.push((
                format!("signature of {}…", &token[..24]),
                signature.to_owned(),
            ));
        }
    }

    let mut outputs: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("{} was not written: {e}", f.display()));
            (f.display().to_string(), text)
        })
        .collect();
    outputs.push(("the console".into(), console_text));
    for (name, text) in &outputs {
        assert!(text.len() > 200, "{name} is nearly empty");
        for (what, value) in &secrets {
            assert!(!text.contains(value.as_str()), "{name} shows {what}");
        }
        if let Some(shaped) = jwt_shaped(text) {
            panic!("{name} shows something shaped like a JWT: {shaped}…");
        }
    }
    // The report does show where the tokens were, by label.
    assert!(
        outputs[0].1.contains("token.[token:"),
        "the report hides the handshakes"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
