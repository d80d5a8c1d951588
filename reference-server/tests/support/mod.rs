//! Shared test support: an in-process server, token minting, a WebSocket client whose every
//! received frame is validated against `schemas/`, and a REST client.
//!
//! Every wait is bounded by [`DEADLINE`]; a timeout fails the test with what was awaited.

#![allow(dead_code)]

pub mod schema;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chalk_reference_server::{Config, Seams, Server, serve_with};
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound of every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// The origin allowed by [`Config::ephemeral`].
pub const ALLOWED_ORIGIN: &str = chalk_reference_server::config::EPHEMERAL_ALLOWED_ORIGIN;

/// Seconds since the Unix epoch.
/// A plain-HTTP client for the REST API.
///
/// In a whole-workspace build reqwest is compiled with `rustls-no-provider` (the conformance
/// runner's choice), and building any client then needs a process-wide rustls crypto provider,
/// even for `http://` URLs. Installing ring's is idempotent: a second call finds one in place.
pub fn http_client() -> reqwest::Client {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh id so tests never share rooms.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A running in-process server and its configuration.
pub struct TestServer {
    pub server: Server,
    pub config: Config,
}

impl TestServer {
    /// A server with [`Config::ephemeral`].
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server with [`Config::ephemeral`] adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with_seams(adjust, Seams::default()).await
    }

    /// A server with [`Config::ephemeral`] adjusted by `adjust`, and `seams` installed.
    pub async fn start_with_seams(adjust: impl FnOnce(&mut Config), seams: Seams) -> TestServer {
        let mut config = Config::ephemeral();
        adjust(&mut config);
        let server = serve_with(config.clone(), seams)
            .await
            .expect("server starts");
        TestServer { server, config }
    }

    /// Signs arbitrary claims with the server's HS256 secret.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(Algorithm::HS256, claims)
    }

    /// Signs arbitrary claims with the server's secret and the given HMAC algorithm.
    pub fn sign_with(&self, alg: Algorithm, claims: &Value) -> String {
        let key = EncodingKey::from_secret(self.config.jwt_secret().unwrap().as_bytes());
        encode(&Header::new(alg), claims, &key).unwrap()
    }

    /// A valid token for `participant` in `room` (default tenant, five minutes).
    pub fn token(&self, room: &str, participant: &str) -> String {
        self.sign(&json!({"room_id": room, "participant_id": participant, "exp": now() + 300}))
    }

    /// The upgrade request: `chalk, token.{token}` and the allowed origin.
    pub fn request(&self, token: &str) -> Request {
        let mut request = self.server.ws_url().into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&format!("chalk, token.{token}")).unwrap(),
        );
        headers.insert("origin", HeaderValue::from_static(ALLOWED_ORIGIN));
        request
    }

    /// A bare upgrade request (no protocol, no origin) to `ws_url` + `suffix`.
    pub fn bare_request(&self, suffix: &str) -> Request {
        format!("{}{suffix}", self.server.ws_url())
            .into_client_request()
            .unwrap()
    }

    /// Connects `participant` to `room` and consumes its `room.state`.
    pub async fn join(&self, room: &str, participant: &str) -> Client {
        let mut client = self
            .connect(self.request(&self.token(room, participant)))
            .await;
        let state = client.expect_event("room.state").await;
        assert_eq!(state["data"]["room_id"], room);
        client
    }

    /// Performs an upgrade that must succeed.
    pub async fn connect(&self, request: Request) -> Client {
        match self.try_connect(request).await {
            Ok(client) => client,
            Err(refusal) => panic!("upgrade refused: {refusal:?}"),
        }
    }

    /// Performs an upgrade and reports a refusal as data.
    pub async fn try_connect(&self, request: Request) -> Result<Client, Refusal> {
        let attempt = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("upgrade answered within the deadline");
        Self::outcome(attempt)
    }

    /// Performs an upgrade from the loopback address `source` (any of 127.0.0.0/8 on Linux),
    /// so that the server sees another client address than 127.0.0.1.
    pub async fn try_connect_from(
        &self,
        source: std::net::Ipv4Addr,
        request: Request,
    ) -> Result<Client, Refusal> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .expect("bind a loopback source address");
        let attempt = tokio::time::timeout(DEADLINE, async {
            let stream = socket.connect(self.server.local_addr()).await.unwrap();
            tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await
        })
        .await
        .expect("upgrade answered within the deadline");
        Self::outcome(attempt)
    }

    fn outcome(
        attempt: Result<
            (
                WebSocketStream<MaybeTlsStream<TcpStream>>,
                tungstenite::handshake::client::Response,
            ),
            tungstenite::Error,
        >,
    ) -> Result<Client, Refusal> {
        match attempt {
            Ok((ws, response)) => Ok(Client {
                ws,
                response_headers: response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
            }),
            Err(tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err(Refusal {
                    status: response.status().as_u16(),
                    json: serde_json::from_str(&body).unwrap_or(Value::Null),
                    body,
                    headers: format!("{:?}", response.headers()),
                    retry_after: response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                })
            }
            Err(other) => panic!("upgrade failed without an HTTP answer: {other}"),
        }
    }

    /// Asserts that the upgrade is refused with `status` and the `error` text.
    pub async fn expect_refusal(&self, request: Request, status: u16, error: &str) -> Refusal {
        match self.try_connect(request).await {
            Ok(_) => panic!("expected {status} {error:?}, got 101"),
            Err(refusal) => {
                assert_eq!(refusal.status, status, "status of {refusal:?}");
                assert_eq!(
                    refusal.json,
                    json!({ "error": error }),
                    "body of {refusal:?}"
                );
                refusal
            }
        }
    }

    /// A REST client with the default tenant's API key.
    pub fn rest(&self) -> Rest {
        Rest {
            http: http_client(),
            base: self.server.api_url(),
            api_key: self.config.api_key().map(str::to_owned),
        }
    }
}

/// A refused upgrade.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub body: String,
    pub json: Value,
    pub headers: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// A connected WebSocket client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub response_headers: Vec<(String, String)>,
}

/// What the client observed while waiting.
#[derive(Debug)]
pub enum Observed {
    Event(Value),
    Closed(Option<(u16, String)>),
}

impl Client {
    /// The response header `name`, if present (lower-case name).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, value: Value) {
        self.send(Message::text(value.to_string())).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// Sends any message.
    pub async fn send(&mut self, message: Message) {
        tokio::time::timeout(DEADLINE, self.ws.send(message))
            .await
            .expect("send within the deadline")
            .expect("send succeeds");
    }

    /// Sends `chat.send` with `text`.
    pub async fn chat(&mut self, text: &str) {
        self.send_json(json!({"event": "chat.send", "data": {"text": text}}))
            .await;
    }

    /// The next event or close, skipping control frames; every event is schema-checked.
    pub async fn observe(&mut self) -> Observed {
        let next = async {
            loop {
                match self.ws.next().await {
                    None => return Observed::Closed(None),
                    Some(Err(_)) => return Observed::Closed(None),
                    Some(Ok(Message::Text(text))) => {
                        let value: Value =
                            serde_json::from_str(&text).expect("server frames are JSON");
                        schema::check_server_frame(&value);
                        return Observed::Event(value);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Observed::Closed(
                            frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                        );
                    }
                    Some(Ok(Message::Binary(_))) => panic!("server sent a binary frame"),
                    Some(Ok(_)) => continue,
                }
            }
        };
        tokio::time::timeout(DEADLINE, next)
            .await
            .expect("a frame within the deadline")
    }

    /// The next event, which must exist (not a close).
    pub async fn next_event(&mut self) -> Value {
        match self.observe().await {
            Observed::Event(v) => v,
            Observed::Closed(c) => panic!("expected an event, the socket closed: {c:?}"),
        }
    }

    /// The next event, which must be called `name`.
    pub async fn expect_event(&mut self, name: &str) -> Value {
        let event = self.next_event().await;
        assert_eq!(event["event"], name, "unexpected event {event}");
        event
    }

    /// Skips events until one called `name` arrives.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        loop {
            let event = self.next_event().await;
            if event["event"] == name {
                return event;
            }
        }
    }

    /// Reads until the close frame and returns its code and reason; events before it are
    /// returned too.
    pub async fn expect_close(&mut self) -> (u16, String, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            match self.observe().await {
                Observed::Event(v) => before.push(v),
                Observed::Closed(Some((code, reason))) => return (code, reason, before),
                Observed::Closed(None) => panic!("socket ended without a close frame"),
            }
        }
    }

    /// Closes with 1000 and reads until the server's answer (bounded); the server has then
    /// finished its side of the closing handshake or is about to.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(DEADLINE, self.ws.close(None)).await;
        let _ = tokio::time::timeout(DEADLINE, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Reads until the close frame and asserts its code.
    pub async fn expect_close_code(&mut self, code: u16) -> Vec<Value> {
        let (got, reason, before) = self.expect_close().await;
        assert_eq!(got, code, "close code (reason {reason:?})");
        before
    }

    /// A barrier: sends a chat with a fresh marker and returns every event that arrived before
    /// its echo. Anything queued for this client before the marker shows up here.
    pub async fn drain_until_own_echo(&mut self) -> Vec<Value> {
        let marker = unique("marker");
        self.chat(&marker).await;
        let mut before = Vec::new();
        loop {
            let event = self.next_event().await;
            if event["event"] == "chat.message" && event["data"]["text"] == marker.as_str() {
                return before;
            }
            before.push(event);
        }
    }
}

/// A REST client for the in-process server.
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
    pub api_key: Option<String>,
}

/// A REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Rest {
    /// Sends `method path` with an optional JSON body and the API key.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = tokio::time::timeout(DEADLINE, request.send())
            .await
            .expect("REST answer within the deadline")
            .expect("REST request succeeds");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Answer {
        self.call(reqwest::Method::POST, path, None).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, name: &str) -> String {
        let answer = self.post("/rooms", json!({"name": name})).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.json["id"].as_str().unwrap().to_owned()
    }

    /// Adds a participant and returns the whole answer body.
    pub async fn add_participant(&self, room: &str, name: &str, role: &str) -> Value {
        let answer = self
            .post(
                &format!("/rooms/{room}/participants"),
                json!({"display_name": name, "role": role}),
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.json
    }
}
