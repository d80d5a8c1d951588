//! The `chalk-reference-server` binary: refusing weak or missing secrets in one line with exit
//! code 2, the `--dev` banner, and configuration precedence (flags > environment > file).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_chalk-reference-server");

fn command() -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().env("RUST_LOG", "info");
    command
}

/// Runs to completion (bounded) and returns (exit code, stderr).
fn run_to_end(command: &mut Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            return (status.code(), stderr);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the binary did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running server process whose stderr lines arrive on a channel; killed on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(command: &mut Command) -> Running {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Collects stderr until a line contains `needle` (bounded).
    fn until(&self, needle: &str) -> String {
        let mut seen = String::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(needle) {
                        return seen;
                    }
                }
                Err(_) => panic!("no line with {needle:?}; got:\n{seen}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address from the "ready" log line (`ws=ws://127.0.0.1:PORT/api/v1/ws`).
fn api_from(log: &str) -> String {
    let start = log.find("ws://").expect("ready line has the URL") + "ws://".len();
    let addr: String = log[start..].chars().take_while(|c| *c != '/').collect();
    format!("http://{addr}/api/v1")
}

#[test]
fn refuses_to_start_without_secrets_in_one_line_with_exit_code_2() {
    let (code, stderr) = run_to_end(command().args(["--listen", "127.0.0.1:0"]));
    assert_eq!(code, Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--jwt-secret"), "{stderr}");
}

#[test]
fn refuses_a_short_hmac_secret() {
    let (code, stderr) = run_to_end(command().args([
        "--listen",
        "127.0.0.1:0",
        "--jwt-secret",
        "too-short",
        "--api-key",
        "a-long-enough-api-key",
    ]));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret is not echoed: {stderr}"
    );
}

#[test]
fn refuses_a_token_ttl_above_the_maximum_lifetime_from_flag_or_environment() {
    let base = [
        "--listen",
        "127.0.0.1:0",
        "--api-key",
        "an-api-key-of-enough-length",
        "--jwt-secret",
        "a-jwt-secret-of-at-least-32-bytes-0123456789",
    ];
    // The minted-token lifetime defaults to 1 h; a 30 min cap cannot hold it.
    let (code, stderr) = run_to_end(
        command()
            .args(base)
            .args(["--jwt-max-token-lifetime", "30m"]),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("max_token_lifetime"), "{stderr}");
    let (code, stderr) = run_to_end(
        command()
            .args(base)
            .env("CHALK_JWT_MAX_TOKEN_LIFETIME", "1800"),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("max_token_lifetime"), "{stderr}");
}

#[test]
fn refuses_a_missing_api_key() {
    let (code, stderr) = run_to_end(
        command()
            .args(["--listen", "127.0.0.1:0"])
            .env("CHALK_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("API key"), "{stderr}");
}

#[test]
fn dev_mode_announces_itself_and_explains_how_to_get_a_token() {
    let running = Running::start(command().args(["--dev", "--listen", "127.0.0.1:0"]));
    let banner = running.until("Then connect");
    assert!(banner.contains("DEVELOPMENT MODE"), "{banner}");
    assert!(
        banner.contains("curl -s -X POST http://127.0.0.1:"),
        "{banner}"
    );
    assert!(banner.contains("X-API-Key: chalk-dev-api-key"), "{banner}");
    assert!(!banner.contains("eyJ"), "no token is printed: {banner}");
}

#[tokio::test]
async fn flags_win_over_environment_and_environment_over_file() {
    let dir = std::env::temp_dir().join(format!("chalk-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chalk.toml");
    std::fs::write(
        &file,
        r#"
listen = "127.0.0.1:0"
api_key = "key-from-the-file-0123456789"
[jwt]
secret = "secret-from-the-file-0123456789abcdef"
"#,
    )
    .unwrap();
    let running = Running::start(
        command()
            .arg("--config")
            .arg(&file)
            .env("CHALK_API_KEY", "key-from-the-environment-0123")
            .env("CHALK_JWT_SECRET", "secret-from-the-environment-0123456789")
            .args(["--api-key", "key-from-the-flag-0123456789"]),
    );
    let api = api_from(&running.until("ready"));
    // Whole-workspace builds compile reqwest with `rustls-no-provider`; see support::http_client.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let status = |key: &'static str| {
        let http = http.clone();
        let url = format!("{api}/rooms");
        async move {
            http.post(url)
                .header("x-api-key", key)
                .json(&serde_json::json!({"name": "precedence"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("key-from-the-flag-0123456789").await, 201);
    assert_eq!(status("key-from-the-environment-0123").await, 401);
    assert_eq!(status("key-from-the-file-0123456789").await, 401);

    // The environment's secret, not the file's, verifies tokens: a minted token decodes with it.
    let room = http
        .post(format!("{api}/rooms"))
        .header("x-api-key", "key-from-the-flag-0123456789")
        .json(&serde_json::json!({"name": "r"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let added = http
        .post(format!(
            "{api}/rooms/{}/participants",
            room["id"].as_str().unwrap()
        ))
        .header("x-api-key", "key-from-the-flag-0123456789")
        .json(&serde_json::json!({"display_name": "A"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let token = added["access_token"].as_str().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let env_key = jsonwebtoken::DecodingKey::from_secret(b"secret-from-the-environment-0123456789");
    assert!(jsonwebtoken::decode::<serde_json::Value>(token, &env_key, &validation).is_ok());
    drop(running);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stops_gracefully_on_sigterm() {
    let mut running = Running::start(command().args(["--dev", "--listen", "127.0.0.1:0"]));
    running.until("ready");
    let pid = running.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let log = running.until("stopped");
    assert!(log.contains("shutting down"), "{log}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = running.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// Flags of a server that would start, but for its Redis.
const STARTABLE: [&str; 6] = [
    "--listen",
    "127.0.0.1:0",
    "--api-key",
    "an-api-key-of-enough-length",
    "--jwt-secret",
    "a-jwt-secret-of-at-least-32-bytes-0123456789",
];

#[test]
fn an_unreachable_redis_stops_the_start_with_exit_code_3_and_no_password() {
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:binary-secret-pw@127.0.0.1:{port}/0");
    let (code, stderr) = run_to_end(command().args(STARTABLE).args(["--redis-url", &url]));
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot reach Redis at redis://[redacted]@127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("binary-secret-pw"), "{stderr}");
    let (code, stderr) = run_to_end(command().args(STARTABLE).env("CHALK_REDIS_URL", &url));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(!stderr.contains("binary-secret-pw"), "{stderr}");
}

#[test]
fn a_malformed_redis_url_or_node_id_stops_the_start_with_exit_code_2_and_no_password() {
    let (code, stderr) = run_to_end(
        command()
            .args(STARTABLE)
            .args(["--redis-url", "redis://:binary-secret-pw@host:port"]),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid Redis URL"), "{stderr}");
    assert!(!stderr.contains("binary-secret-pw"), "{stderr}");
    let (code, stderr) = run_to_end(command().args(STARTABLE).args(["--node-id", "no spaces"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("invalid node id"), "{stderr}");
}
