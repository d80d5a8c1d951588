//! The reference server in cluster mode (`redis_url` set), on a private Redis of each test:
//! what a node is at start (its id, its `Chalk-Node` header on every answer, its refusal to
//! start without its Redis) and that a Redis password never shows.
//!
//! Each test starts its own `redis-server` ([`RedisServer`]); it must be installed (`.ci/run`
//! installs Debian's).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chalk_reference_server::error::{EXIT_REDIS_UNREACHABLE, StartError};
use chalk_reference_server::node::{NODE_HEADER, NodeId, RedisUrl};
use chalk_reference_server::{Config, Server, serve};
use chalk_tests::{RedisServer, free_loopback_port};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::instrument::WithSubscriber;

/// Longest any single HTTP exchange of these tests may take.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(10);

/// A node's configuration: fresh credentials, port 0, the Redis at `redis_url`, id `node`.
fn node_config(redis_url: &str, node: &str) -> Config {
    let mut config = Config::ephemeral();
    config.redis_url = Some(RedisUrl::parse(redis_url).unwrap());
    config.node_id = Some(NodeId::parse(node).unwrap());
    config
}

/// One HTTP/1.1 answer as it came: status and header lines (names lower-cased), and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Whether `received` holds a whole answer: its head, and as much body as its
/// `Content-Length` says (none for a `101`).
fn complete(received: &[u8]) -> bool {
    let Some(head_end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    received.len() >= head_end + 4 + length
}

/// Sends `request` (a complete HTTP/1.1 request) to `server` and reads one answer: its head,
/// and its body when it has one (not the frames after a `101`).
async fn exchange(server: &Server, request: String) -> Answer {
    let work = async {
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            received.extend_from_slice(&chunk[..n]);
            if n == 0 || complete(&received) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&received).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default();
        let status = status
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    };
    tokio::time::timeout(EXCHANGE_DEADLINE, work)
        .await
        .expect("the node answered in time")
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: chalk.test\r\n{extra}Connection: close\r\n\r\n")
}

fn post(path: &str, api_key: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nHost: chalk.test\r\nX-API-Key: {api_key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn upgrade(protocols: &str) -> String {
    get(
        "/api/v1/ws",
        &format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocols}\r\n"
        ),
    )
    .replace("Connection: close\r\n", "")
}

/// Creates a room and a participant through `server`'s REST API; the participant's token.
async fn minted_token(server: &Server, api_key: &str) -> String {
    let room = exchange(
        server,
        post("/api/v1/rooms", api_key, &serde_json::json!({"name": "r"})),
    )
    .await;
    assert_eq!(room.status, 201, "{room:?}");
    let id = room.json()["id"].as_str().unwrap().to_owned();
    let added = exchange(
        server,
        post(
            &format!("/api/v1/rooms/{id}/participants"),
            api_key,
            &serde_json::json!({"display_name": "Ada"}),
        ),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    added.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_answer_of_a_node_names_the_node() {
    let redis = RedisServer::start();
    let config = node_config(&redis.url(), "node-a");
    let api_key = config.api_key().unwrap().to_owned();
    let server = serve(config).await.unwrap();
    assert!(server.is_clustered());
    assert_eq!(server.node_id().as_str(), "node-a");
    let named = |answer: &Answer| answer.header(NODE_HEADER.as_str()).map(str::to_owned);

    let token = minted_token(&server, &api_key).await;
    let accepted = exchange(&server, upgrade(&format!("chalk, token.{token}"))).await;
    assert_eq!(accepted.status, 101, "{accepted:?}");
    assert_eq!(named(&accepted).as_deref(), Some("node-a"));

    let refused = exchange(&server, upgrade("chalk, token.not-a-token")).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(named(&refused).as_deref(), Some("node-a"));

    let created = exchange(
        &server,
        post("/api/v1/rooms", &api_key, &serde_json::json!({"name": "n"})),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(named(&created).as_deref(), Some("node-a"));

    let unauthorised = exchange(
        &server,
        post("/api/v1/rooms", "wrong-key", &serde_json::json!({})),
    )
    .await;
    assert_eq!(unauthorised.status, 401);
    assert_eq!(named(&unauthorised).as_deref(), Some("node-a"));

    for (path, status) in [("/healthz", 200), ("/no/such/path", 404)] {
        let answer = exchange(&server, get(path, "")).await;
        assert_eq!(answer.status, status, "{path}: {answer:?}");
        assert_eq!(named(&answer).as_deref(), Some("node-a"), "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn two_nodes_on_one_redis_each_answer_with_their_own_id() {
    let redis = RedisServer::start();
    let a = serve(node_config(&redis.url(), "a")).await.unwrap();
    let b = serve(node_config(&redis.url(), "b")).await.unwrap();
    for (server, id) in [(&a, "a"), (&b, "b")] {
        let answer = exchange(server, get("/healthz", "")).await;
        assert_eq!(answer.header("chalk-node"), Some(id));
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_single_process_server_names_itself_with_a_generated_id() {
    let server = serve(Config::ephemeral()).await.unwrap();
    assert!(!server.is_clustered());
    let answer = exchange(&server, get("/healthz", "")).await;
    let id = answer.header("chalk-node").expect("the header is there");
    assert_eq!(id, server.node_id().as_str());
    assert!(NodeId::parse(id).is_ok(), "{id}");
    let other = serve(Config::ephemeral()).await.unwrap();
    assert_ne!(other.node_id(), server.node_id());
    server.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn a_node_whose_redis_is_unreachable_does_not_start_and_shows_no_password() {
    let closed = free_loopback_port();
    let url = format!("redis://:unreachable-secret-pw@127.0.0.1:{closed}");
    let error = serve(node_config(&url, "lonely")).await.unwrap_err();
    assert!(
        matches!(error, StartError::RedisUnreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), EXIT_REDIS_UNREACHABLE);
    let message = error.to_string();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains(&format!("redis://[redacted]@127.0.0.1:{closed}")),
        "{message}"
    );
    assert!(!message.contains("unreachable-secret-pw"), "{message}");
    assert!(!format!("{error:?}").contains("unreachable-secret-pw"));
}

#[tokio::test]
async fn a_wrong_redis_password_stops_the_start_without_showing_either_password() {
    let redis = RedisServer::start_with_password("the-right-secret-pw");
    let wrong = format!("redis://:a-wrong-secret-pw@127.0.0.1:{}", redis.port());
    let error = serve(node_config(&wrong, "n1")).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, StartError::RedisUnreachable { .. }),
        "{message}"
    );
    for secret in ["a-wrong-secret-pw", "the-right-secret-pw"] {
        assert!(!message.contains(secret), "{message}");
    }
    let server = serve(node_config(&redis.url(), "n2")).await.unwrap();
    assert!(server.is_clustered());
    server.shutdown().await;
}

/// Everything written to it, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_start_log_names_the_node_and_its_redis_without_the_password() {
    let redis = RedisServer::start_with_password("logged-nowhere-pw");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let server = serve(node_config(&redis.url(), "logged-node"))
        .with_subscriber(subscriber)
        .await
        .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("cluster mode"), "{log}");
    assert!(log.contains("logged-node"), "{log}");
    assert!(
        log.contains(&format!("redis://[redacted]@127.0.0.1:{}", redis.port())),
        "{log}"
    );
    assert!(!log.contains("logged-nowhere-pw"), "{log}");
    server.shutdown().await;
}

#[test]
fn a_private_redis_is_gone_once_dropped() {
    let redis = RedisServer::start();
    let addr = redis.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(redis);
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens on {addr} any more"
    );
}

/// Longest a test waits for one event.
const EVENT_DEADLINE: Duration = Duration::from_secs(10);

/// How long a client must stay silent for "nothing more arrives" to hold.
const QUIET: Duration = Duration::from_millis(500);

/// Redis and reference nodes sharing it, with one configuration (credentials) for all.
struct Nodes {
    config: Config,
    servers: Vec<Server>,
    redis: RedisServer,
}

impl Nodes {
    /// Starts Redis and `count` nodes, `node-0` … on free ports, with limits that let a test
    /// send a few hundred messages at once.
    async fn start(count: usize) -> Nodes {
        let redis = RedisServer::start();
        let mut config = node_config(&redis.url(), "node-0");
        config.limits.rate_per_second = 10_000.0;
        config.limits.rate_burst = 10_000;
        // Clients that are still open when a test ends need not be waited for long.
        config.shutdown_drain = Duration::from_millis(500);
        let mut servers = Vec::new();
        for i in 0..count {
            let mut node = config.clone();
            node.node_id = Some(NodeId::parse(&format!("node-{i}")).unwrap());
            servers.push(serve(node).await.unwrap());
        }
        Nodes {
            config,
            servers,
            redis,
        }
    }

    fn token(&self, room: &str, participant: &str) -> String {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let claims =
            serde_json::json!({"room_id": room, "participant_id": participant, "exp": exp});
        let key =
            jsonwebtoken::EncodingKey::from_secret(self.config.jwt_secret().unwrap().as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    /// Connects `participant` to `room` on node `node`; its `room.state` comes back with it.
    async fn join(&self, node: usize, room: &str, participant: &str) -> (Client, Value) {
        self.join_with(node, &self.token(room, participant), participant)
            .await
    }

    /// Connects with `token` to node `node`; the `room.state` comes back with it.
    async fn join_with(&self, node: usize, token: &str, participant: &str) -> (Client, Value) {
        let server = &self.servers[node];
        join_at(
            &server.ws_url(),
            &format!("node-{node}"),
            token,
            participant,
        )
        .await
    }

    async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// Connects with `token` to the node `node` listening at `ws_url`; the `room.state` comes back
/// with it.
async fn join_at(ws_url: &str, node: &str, token: &str, participant: &str) -> (Client, Value) {
    let mut client = upgrade_at(ws_url, node, token, participant).await;
    let state = client.next().await;
    assert_eq!(state["event"], "room.state", "{participant}: {state}");
    (client, state)
}

/// Connects with `token` to the node `node` listening at `ws_url`, reading nothing after the
/// `101`.
async fn upgrade_at(ws_url: &str, node: &str, token: &str, participant: &str) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = ws_url.into_client_request().unwrap();
    let protocols = format!("chalk, token.{token}");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (socket, response) =
        tokio::time::timeout(EVENT_DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the upgrade is answered in time")
            .expect("the upgrade succeeds");
    assert_eq!(response.headers()["chalk-node"].to_str().unwrap(), node);
    Client {
        name: participant.to_owned(),
        socket,
    }
}

/// One WebSocket client of a test.
struct Client {
    name: String,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Client {
    /// The next event, within [`EVENT_DEADLINE`].
    async fn next(&mut self) -> Value {
        self.next_within(EVENT_DEADLINE)
            .await
            .unwrap_or_else(|| panic!("{}: no event within {EVENT_DEADLINE:?}", self.name))
    }

    /// The next event if one comes within `limit`.
    async fn next_within(&mut self, limit: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .expect("the socket stays open");
            if let Message::Text(text) = message {
                return Some(serde_json::from_str(text.as_str()).unwrap());
            }
        }
    }

    /// Everything that arrives until the client has been quiet for [`QUIET`].
    async fn rest(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(event) = self.next_within(QUIET).await {
            events.push(event);
        }
        events
    }

    async fn send(&mut self, event: Value) {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::Text(event.to_string().into()))
            .await
            .unwrap();
    }

    async fn chat(&mut self, text: &str) {
        self.send(serde_json::json!({"event": "chat.send", "data": {"text": text}}))
            .await;
    }

    /// The close code the server ends the connection with, within [`EVENT_DEADLINE`]; the
    /// events that came before it.
    async fn close_code(&mut self) -> (u16, Vec<Value>) {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let mut before = Vec::new();
        let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: not closed in time", self.name));
            match message {
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map_or(1005, |f| u16::from(f.code)), before);
                }
                Some(Ok(Message::Text(text))) => {
                    before.push(serde_json::from_str(text.as_str()).unwrap());
                }
                Some(Ok(_)) => {}
                other => panic!("{}: ended without a close frame: {other:?}", self.name),
            }
        }
    }

    /// The close code the server ends the connection with, whatever came before it.
    async fn close_code_quietly(mut self) -> u16 {
        self.close_code().await.0
    }

    async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn roster(state: &Value) -> Vec<String> {
    state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The events of `events` named `name`.
fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_chat_and_hands_cross_nodes_both_ways_exactly_once() {
    let nodes = Nodes::start(2).await;
    let (mut ada, state) = nodes.join(0, "crossing", "ada").await;
    assert_eq!(roster(&state), ["ada"]);
    let (mut bob, state) = nodes.join(1, "crossing", "bob").await;
    assert_eq!(roster(&state), ["ada", "bob"]);
    let joined = ada.next().await;
    assert_eq!(joined["event"], "participant.joined", "{joined}");
    assert_eq!(joined["data"]["id"], "bob");

    ada.chat("from node 0").await;
    bob.chat("from node 1").await;
    bob.send(serde_json::json!({"event": "hand.raise", "data": {}}))
        .await;
    let ada_saw = ada.rest().await;
    let bob_saw = bob.rest().await;
    for (who, saw) in [("ada", &ada_saw), ("bob", &bob_saw)] {
        let chats: Vec<&str> = named(saw, "chat.message")
            .iter()
            .map(|e| e["data"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            chats.len(),
            2,
            "{who} got each chat once, the own echo included: {saw:?}"
        );
        assert!(
            chats.contains(&"from node 0") && chats.contains(&"from node 1"),
            "{who}: {saw:?}"
        );
        let hands = named(saw, "hand.raised");
        assert_eq!(hands.len(), 1, "{who}: {saw:?}");
        assert_eq!(hands[0]["data"]["participant_id"], "bob");
        assert!(
            named(saw, "participant.joined").is_empty(),
            "{who}: {saw:?}"
        );
    }
    // Bob's own messages reach him in the order he sent them: chat, then hand.
    let bob_order: Vec<&str> = bob_saw
        .iter()
        .filter(|e| e["event"] == "hand.raised" || e["data"]["text"] == "from node 1")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(bob_order, ["chat.message", "hand.raised"]);

    // The other way: a hand raised and a departure on node 0, heard on node 1.
    ada.send(serde_json::json!({"event": "hand.raise", "data": {}}))
        .await;
    let saw = bob.rest().await;
    assert_eq!(named(&saw, "hand.raised").len(), 1, "{saw:?}");
    assert_eq!(
        named(&saw, "hand.raised")[0]["data"]["participant_id"],
        "ada"
    );
    assert_eq!(named(&ada.rest().await, "hand.raised").len(), 1);

    bob.close().await;
    let after = ada.rest().await;
    let left = named(&after, "participant.left");
    assert_eq!(left.len(), 1, "{after:?}");
    assert_eq!(left[0]["data"]["id"], "bob");
    let (mut carol, state) = nodes.join(1, "crossing", "carol").await;
    assert_eq!(
        roster(&state),
        ["ada", "carol"],
        "bob is gone from every node"
    );
    assert_eq!(state["data"]["participants"][0]["hand_raised"], true);
    assert_eq!(named(&ada.rest().await, "participant.joined").len(), 1);
    ada.close().await;
    let after = carol.rest().await;
    let left = named(&after, "participant.left");
    assert_eq!(left.len(), 1, "{after:?}");
    assert_eq!(left[0]["data"]["id"], "ada");
    nodes.shutdown().await;
}

/// A member counts as joined from its `101` on: a message sent on another node the moment the
/// upgrade is answered reaches it, though it has sent nothing and read nothing yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_hears_every_message_sent_after_its_101() {
    let nodes = Nodes::start(2).await;
    let (mut ada, _) = nodes.join(0, "prompt", "ada").await;
    // A busy member of another room on node 1: node 1 has work queued for Redis when each
    // newcomer's upgrade comes in.
    let (mut busy, _) = nodes.join(1, "busy", "busy").await;
    for round in 0..10 {
        for i in 0..300 {
            busy.chat(&format!("busy {round}/{i}")).await;
        }
        let who = format!("late-{round}");
        let mut late = upgrade_at(
            &nodes.servers[1].ws_url(),
            "node-1",
            &nodes.token("prompt", &who),
            &who,
        )
        .await;
        let text = format!("sent right after {who}'s 101");
        ada.chat(&text).await;
        let state = late.next().await;
        assert_eq!(state["event"], "room.state", "{who}: {state}");
        loop {
            let event = late
                .next_within(EVENT_DEADLINE)
                .await
                .unwrap_or_else(|| panic!("{who} never got the message sent after its 101"));
            if event["data"]["text"] == text.as_str() {
                break;
            }
        }
        late.close().await;
    }
    busy.close().await;
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_sender_order_holds_across_nodes_over_200_messages() {
    let nodes = Nodes::start(3).await;
    let (mut ada, _) = nodes.join(0, "ordered", "ada").await;
    let (mut bob, _) = nodes.join(1, "ordered", "bob").await;
    let (mut carol, _) = nodes.join(2, "ordered", "carol").await;
    for _ in 0..2 {
        assert_eq!(ada.next().await["event"], "participant.joined");
    }
    assert_eq!(bob.next().await["event"], "participant.joined");
    let sent: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    for text in &sent {
        ada.chat(text).await;
    }
    for client in [&mut ada, &mut bob, &mut carol] {
        let mut received = Vec::new();
        while received.len() < sent.len() {
            let event = client.next().await;
            assert_eq!(event["event"], "chat.message", "{}: {event}", client.name);
            assert_eq!(event["data"]["sender_id"], "ada");
            received.push(event["data"]["text"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            received, sent,
            "{} got ada's messages in order",
            client.name
        );
        let extra = client.rest().await;
        assert!(
            extra.is_empty(),
            "{}: nothing twice: {extra:?}",
            client.name
        );
    }
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_state_lists_the_members_of_every_node() {
    let nodes = Nodes::start(3).await;
    let (_a, _) = nodes.join(0, "everyone", "a").await;
    let (_b, _) = nodes.join(1, "everyone", "b").await;
    let (mut b_on_c, _) = nodes.join(2, "elsewhere", "b").await;
    let (_c, state) = nodes.join(2, "everyone", "c").await;
    assert_eq!(roster(&state), ["a", "b", "c"]);
    assert!(b_on_c.rest().await.is_empty(), "another room hears nothing");
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_connecting_on_another_node_replaces_its_connection_there() {
    let nodes = Nodes::start(2).await;
    let (mut old_ada, _) = nodes.join(0, "single", "ada").await;
    let (mut bob, _) = nodes.join(1, "single", "bob").await;
    assert_eq!(old_ada.next().await["event"], "participant.joined");
    let (mut new_ada, state) = nodes.join(1, "single", "ada").await;
    assert_eq!(roster(&state), ["bob", "ada"]);
    let (code, before) = old_ada.close_code().await;
    assert_eq!(code, 4009, "replaced by a newer connection: {before:?}");
    assert!(
        before.iter().all(|e| e["data"]["id"] != "ada"),
        "the replaced connection hears nothing about itself: {before:?}"
    );
    let seen: Vec<(String, String)> = bob
        .rest()
        .await
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["data"]["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [("participant.left", "ada"), ("participant.joined", "ada")]
        .map(|(e, id)| (e.to_owned(), id.to_owned()));
    assert_eq!(seen, expected, "once each, left first");
    new_ada.chat("still here").await;
    assert_eq!(bob.next().await["data"]["text"], "still here");
    let (_carol, state) = nodes.join(0, "single", "carol").await;
    assert_eq!(roster(&state), ["bob", "ada", "carol"]);
    nodes.shutdown().await;
}

fn delete(path: &str, api_key: &str) -> String {
    format!(
        "DELETE {path} HTTP/1.1\r\nHost: chalk.test\r\nX-API-Key: {api_key}\r\n\
         Connection: close\r\n\r\n"
    )
}

/// As on a single process, a participant the REST API added is shown with the name and role it
/// was added with, even when it connects to another node with a token that claims neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_added_through_one_node_is_shown_as_added_on_another() {
    let nodes = Nodes::start(2).await;
    let key = nodes.config.api_key().unwrap().to_owned();
    let created = exchange(
        &nodes.servers[0],
        post(
            "/api/v1/rooms",
            &key,
            &serde_json::json!({"name": "recorded"}),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let room = created.json()["id"].as_str().unwrap().to_owned();
    let added = exchange(
        &nodes.servers[0],
        post(
            &format!("/api/v1/rooms/{room}/participants"),
            &key,
            &serde_json::json!({"display_name": "Réka Ó", "role": "host"}),
        ),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    let id = added.json()["participant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut ada, _) = nodes.join(1, &room, "ada").await;
    // A token minted outside the REST API: room and participant, no name, no role.
    let (_reka, state) = nodes.join_with(1, &nodes.token(&room, &id), "reka").await;
    let shown = state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the roster lists the newcomer: {state}"));
    assert_eq!(shown["display_name"], "Réka Ó", "{state}");
    assert_eq!(shown["role"], "host", "{state}");
    let joined = ada.next().await;
    assert_eq!(joined["event"], "participant.joined", "{joined}");
    assert_eq!(joined["data"]["display_name"], "Réka Ó", "{joined}");
    assert_eq!(joined["data"]["role"], "host", "{joined}");
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_of_any_node_acts_on_the_whole_cluster() {
    let nodes = Nodes::start(3).await;
    let key = nodes.config.api_key().unwrap().to_owned();
    let [a, b, c] = [&nodes.servers[0], &nodes.servers[1], &nodes.servers[2]];
    let body = |v: Value| v;

    // Created on A, provisioned on B, connected to C.
    let created = exchange(
        a,
        post(
            "/api/v1/rooms",
            &key,
            &body(serde_json::json!({"name": "spread"})),
        ),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let room = created.json()["id"].as_str().unwrap().to_owned();
    let added = exchange(
        b,
        post(
            &format!("/api/v1/rooms/{room}/participants"),
            &key,
            &serde_json::json!({"display_name": "Ada"}),
        ),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    let ada_id = added.json()["participant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada_token = added.json()["access_token"].as_str().unwrap().to_owned();
    let (mut ada, _) = nodes.join_with(2, &ada_token, "ada").await;
    let (mut bob, state) = nodes.join(1, &room, "bob").await;
    assert_eq!(roster(&state), [ada_id.as_str(), "bob"]);
    assert_eq!(ada.next().await["event"], "participant.joined");

    // Reads count every node.
    let view = exchange(
        a,
        get(
            &format!("/api/v1/rooms/{room}"),
            &format!("X-API-Key: {key}\r\n"),
        ),
    )
    .await;
    assert_eq!(view.json()["connected_count"], 2, "{view:?}");
    let participant = exchange(
        c,
        get(
            &format!("/api/v1/rooms/{room}/participants/{ada_id}"),
            &format!("X-API-Key: {key}\r\n"),
        ),
    )
    .await;
    assert_eq!(participant.json()["connected"], true, "{participant:?}");

    // One recording in the whole cluster.
    let started = exchange(
        a,
        post(
            &format!("/api/v1/rooms/{room}/recordings/start"),
            &key,
            &serde_json::json!({}),
        ),
    )
    .await;
    assert_eq!(started.status, 201, "{started:?}");
    let again = exchange(
        b,
        post(
            &format!("/api/v1/rooms/{room}/recordings/start"),
            &key,
            &serde_json::json!({}),
        ),
    )
    .await;
    assert_eq!(again.status, 409, "{again:?}");
    for client in [&mut ada, &mut bob] {
        let saw = client.rest().await;
        assert_eq!(
            named(&saw, "recording.started").len(),
            1,
            "{}: {saw:?}",
            client.name
        );
    }

    // Removed through A: the socket on C closes with 4003, bob hears it once, the token is dead.
    let removed = exchange(
        a,
        delete(&format!("/api/v1/rooms/{room}/participants/{ada_id}"), &key),
    )
    .await;
    assert_eq!(removed.status, 204, "{removed:?}");
    let (code, _) = ada.close_code().await;
    assert_eq!(code, 4003);
    let saw = bob.rest().await;
    let left = named(&saw, "participant.left");
    assert_eq!(left.len(), 1, "{saw:?}");
    assert_eq!(left[0]["data"]["id"], ada_id.as_str());
    let refused = exchange(b, upgrade(&format!("chalk, token.{ada_token}"))).await;
    assert_eq!(refused.status, 403, "{refused:?}");

    // Ended through C: bob's socket on B closes with 4004, nobody joins on A any more.
    let ended = exchange(
        c,
        post(
            &format!("/api/v1/rooms/{room}/end"),
            &key,
            &serde_json::json!({}),
        ),
    )
    .await;
    assert_eq!(ended.status, 200, "{ended:?}");
    assert_eq!(ended.json()["status"], "ended");
    let (code, _) = bob.close_code().await;
    assert_eq!(code, 4004);
    let late = exchange(
        a,
        upgrade(&format!("chalk, token.{}", nodes.token(&room, "carol"))),
    )
    .await;
    assert_eq!(late.status, 403, "{late:?}");
    nodes.shutdown().await;
}

/// The suite's options that let it in to nodes configured as `config`: the API key, the signing
/// key, the allowed origin, and every extension the reference server declares.
fn suite_credentials(config: &Config) -> Vec<String> {
    use chalk_conformance::contract::catalogue::KNOWN_EXTENSIONS;
    vec![
        "--api-key".to_owned(),
        config.api_key().unwrap().to_owned(),
        "--jwt-secret".to_owned(),
        config.jwt_secret().unwrap().to_owned(),
        "--origin".to_owned(),
        config.default_tenant.allowed_origins[0].clone(),
        "--declare".to_owned(),
        KNOWN_EXTENSIONS.join(","),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_finds_a_node_of_a_cluster_conformant() {
    use chalk_conformance::commands::exit::ExitStatus;
    use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
    let redis = RedisServer::start();
    let mut config = node_config(&redis.url(), "judged");
    config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
    config.limits.heartbeat_interval = SUITE_HEARTBEAT;
    let mut other = config.clone();
    other.node_id = Some(NodeId::parse("bystander").unwrap());
    let judged = serve(config.clone()).await.unwrap();
    let bystander = serve(other).await.unwrap();
    let mut args = vec![
        "--url".to_owned(),
        judged.ws_url(),
        "--api-url".to_owned(),
        judged.api_url(),
        "--idle-timeout".to_owned(),
        format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis()),
    ];
    args.extend(suite_credentials(&config));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, output) = chalk_tests::conformance(&args).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    let closing = output.lines().last().unwrap_or_default();
    let passed: usize = closing
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 123, "every scenario ran: {closing}");
    judged.shutdown().await;
    bystander.shutdown().await;
}

/// Sends one command to the Redis at `addr` (RESP) and returns the raw answer.
fn redis_command(addr: std::net::SocketAddr, args: &[&str]) -> String {
    use std::io::Read;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Read until the server has been quiet for the read timeout (answers here are small).
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_loses_its_redis_connection_resumes_without_loss_or_duplicates() {
    let nodes = Nodes::start(2).await;
    let (mut ada, _) = nodes.join(0, "resumed", "ada").await;
    let (mut bob, _) = nodes.join(1, "resumed", "bob").await;
    assert_eq!(ada.next().await["event"], "participant.joined");
    // The readers are the clients whose last command was XREAD (one may be between two
    // reads, or catching up with XRANGE, for a moment); cut their connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let readers = loop {
        let clients = redis_command(nodes.redis.addr(), &["CLIENT", "LIST"]);
        let readers: Vec<String> = clients
            .lines()
            .filter(|line| line.contains("cmd=xread"))
            .filter_map(|line| line.split_whitespace().next()?.strip_prefix("id="))
            .map(str::to_owned)
            .collect();
        if readers.len() == 2 {
            break readers;
        }
        assert!(std::time::Instant::now() < deadline, "{clients}");
    };
    for id in readers {
        let killed = redis_command(nodes.redis.addr(), &["CLIENT", "KILL", "ID", &id]);
        assert!(killed.starts_with(":1"), "{killed}");
    }
    let sent: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
    for text in &sent {
        ada.chat(text).await;
    }
    for client in [&mut ada, &mut bob] {
        let saw = client.rest().await;
        let texts: Vec<&str> = named(&saw, "chat.message")
            .iter()
            .map(|e| e["data"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, sent, "{}: all, once, in order", client.name);
    }
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_with_three_urls_finds_a_three_node_cluster_conformant() {
    use chalk_conformance::commands::exit::ExitStatus;
    use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
    let redis = RedisServer::start();
    let mut config = node_config(&redis.url(), "node-a");
    config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
    config.limits.heartbeat_interval = SUITE_HEARTBEAT;
    let mut nodes = Vec::new();
    for id in ["node-a", "node-b", "node-c"] {
        let mut node = config.clone();
        node.node_id = Some(NodeId::parse(id).unwrap());
        nodes.push(serve(node).await.unwrap());
    }
    let mut args = Vec::new();
    for node in &nodes {
        args.extend(["--url".to_owned(), node.ws_url()]);
        args.extend(["--api-url".to_owned(), node.api_url()]);
    }
    args.extend(suite_credentials(&config));
    args.extend([
        "--idle-timeout".to_owned(),
        format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis()),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, output) = chalk_tests::conformance(&args).await;
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    // Every scenario ran across the nodes, the cluster ones included; only the failover ones
    // (no --node-kill-command here) and the other origin mode's are skipped.
    assert!(!output.contains("needs two nodes"), "{output}");
    // The header lists the three nodes given.
    for (alias, node) in ["node1", "node2", "node3"].iter().zip(&nodes) {
        assert!(
            output.contains(&format!("{alias} {}", node.ws_url())),
            "{output}"
        );
    }
    let closing = output.lines().last().unwrap_or_default();
    let passed: usize = closing
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 230, "every scenario ran: {closing}");
    for node in nodes {
        node.shutdown().await;
    }
}

/// Longest the failover tests wait for a dead node's members to be reported left: generous,
/// the documented bound is about 4.2 s (see `reference-server/CLUSTER.md`, "Node failure").
const FAILOVER_DEADLINE: Duration = Duration::from_secs(10);

/// How long a survivor must hear nothing more for "reported once" to hold: longer than a
/// reaper period, so that a second report, if any, would have come.
const AFTER_FAILOVER_QUIET: Duration = Duration::from_secs(3);

/// The `chalk-reference-server` binary of this build, next to the test executable
/// (`target/debug/deps/..` → `target/debug/`). Cargo builds it for the workspace's tests; a
/// run of this crate alone needs `cargo build -p chalk-reference-server` first.
fn server_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| dir.join("chalk-reference-server"))
        .unwrap();
    assert!(
        binary.exists(),
        "{} is missing: build it first (cargo build -p chalk-reference-server)",
        binary.display()
    );
    binary
}

/// A node run as its own process (the real binary), so that a test can kill it with SIGKILL;
/// killed on drop.
struct NodeProcess {
    child: std::process::Child,
    ws_url: String,
}

impl NodeProcess {
    /// Starts the binary as node `node` of the cluster of `nodes` (same Redis, same secrets)
    /// and waits for its "ready" line.
    fn start(nodes: &Nodes, node: &str) -> NodeProcess {
        use std::io::BufRead;
        let config = &nodes.config;
        let mut child = std::process::Command::new(server_binary())
            .env_clear()
            .env("RUST_LOG", "info")
            .args(["--listen", "127.0.0.1:0", "--node-id", node])
            .args(["--redis-url", &nodes.redis.url()])
            .args(["--api-key", config.api_key().unwrap()])
            .args(["--jwt-secret", config.jwt_secret().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        let ready = loop {
            match received.recv_timeout(EVENT_DEADLINE) {
                Ok(line) if line.contains("ready") => break line,
                Ok(line) => seen.push_str(&line),
                Err(_) => panic!("{node} did not start; it said:\n{seen}"),
            }
        };
        // Keep draining the log so that the process never blocks on a full pipe.
        std::thread::spawn(move || while received.recv().is_ok() {});
        let start = ready.find("ws://").expect("the ready line has the URL");
        let ws_url = ready[start..].split_whitespace().next().unwrap().to_owned();
        NodeProcess { child, ws_url }
    }

    /// SIGKILL: no goodbye of any kind.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a graceful stop; returns once the process has exited (bounded).
    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = std::time::Instant::now() + EVENT_DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "still running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `client`'s next `participant.left` and checks that it is `who`'s and the only event
/// for a while after it; returns how long it took.
async fn left_once(client: &mut Client, who: &str) -> Duration {
    let since = std::time::Instant::now();
    let event = client
        .next_within(FAILOVER_DEADLINE)
        .await
        .unwrap_or_else(|| panic!("{}: no participant.left for {who}", client.name));
    let took = since.elapsed();
    assert_eq!(event["event"], "participant.left", "{event}");
    assert_eq!(event["data"]["id"], who, "{event}");
    let more = client.next_within(AFTER_FAILOVER_QUIET).await;
    assert_eq!(more, None, "{}: reported once", client.name);
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_a_killed_node_are_reported_left_once_to_the_other_nodes() {
    let nodes = Nodes::start(2).await;
    let mut doomed = NodeProcess::start(&nodes, "node-k");
    let (mut ada, _) = nodes.join(0, "failover", "ada").await;
    let (mut bob, _) = nodes.join(1, "failover", "bob").await;
    assert_eq!(ada.next().await["data"]["id"], "bob");
    let token = nodes.token("failover", "kim");
    let (_kim, state) = join_at(&doomed.ws_url, "node-k", &token, "kim").await;
    assert_eq!(roster(&state), ["ada", "bob", "kim"]);
    for client in [&mut ada, &mut bob] {
        assert_eq!(client.next().await["data"]["id"], "kim");
    }
    doomed.kill();
    let took = left_once(&mut ada, "kim").await;
    left_once(&mut bob, "kim").await;
    eprintln!("kim reported left {took:?} after the SIGKILL");
    let (_carol, state) = nodes.join(1, "failover", "carol").await;
    assert_eq!(roster(&state), ["ada", "bob", "carol"], "kim is gone");
    nodes.shutdown().await;
}

/// Records what the reaper asks of the departures seam, and answers as production does.
#[derive(Debug)]
struct RecordedDepartures {
    own: Arc<dyn chalk_reference_server::seams::Departures>,
    seen: Arc<Mutex<Vec<(chalk_reference_server::seams::DeadRun, String)>>>,
}

impl chalk_reference_server::seams::Departures for RecordedDepartures {
    fn report(&self, run: chalk_reference_server::seams::DeadRun, left: String) -> Vec<String> {
        self.seen.lock().unwrap().push((run, left.clone()));
        self.own.report(run, left)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_departures_seam_is_asked_once_per_member_of_a_lost_node() {
    use chalk_reference_server::seams::{DeadRun, Seams};
    let redis = RedisServer::start();
    let mut config = node_config(&redis.url(), "node-0");
    config.shutdown_drain = Duration::from_millis(500);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seams = {
        let seen = seen.clone();
        Seams::default().departures_around(move |own| Arc::new(RecordedDepartures { own, seen }))
    };
    let survivor = chalk_reference_server::serve_with(config.clone(), seams)
        .await
        .unwrap();
    let nodes = Nodes {
        config,
        servers: vec![survivor],
        redis,
    };
    let mut doomed = NodeProcess::start(&nodes, "node-k");
    let (mut ada, _) = nodes.join(0, "seam", "ada").await;
    let token = nodes.token("seam", "kim");
    let (_kim, _) = join_at(&doomed.ws_url, "node-k", &token, "kim").await;
    assert_eq!(ada.next().await["data"]["id"], "kim");
    doomed.kill();
    left_once(&mut ada, "kim").await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one member reaped: {seen:?}");
    let (run, left) = &seen[0];
    assert_eq!(*run, DeadRun::Expired);
    let left: Value = serde_json::from_str(left).unwrap();
    assert_eq!(left["event"], "participant.left");
    assert_eq!(left["data"]["id"], "kim");
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_at_once_with_its_id_reports_its_previous_members_left() {
    let nodes = Nodes::start(1).await;
    let mut first = NodeProcess::start(&nodes, "node-k");
    let (mut ada, _) = nodes.join(0, "restart", "ada").await;
    let token = nodes.token("restart", "kim");
    let (_kim, _) = join_at(&first.ws_url, "node-k", &token, "kim").await;
    assert_eq!(ada.next().await["data"]["id"], "kim");
    let since = std::time::Instant::now();
    first.kill();
    // Well inside the liveness window of the first run.
    let second = NodeProcess::start(&nodes, "node-k");
    left_once(&mut ada, "kim").await;
    eprintln!(
        "kim reported left within {:?} of the SIGKILL",
        since.elapsed() - AFTER_FAILOVER_QUIET
    );
    let token = nodes.token("restart", "carol");
    let (_carol, state) = join_at(&second.ws_url, "node-k", &token, "carol").await;
    assert_eq!(roster(&state), ["ada", "carol"], "kim is not resurrected");
    let (_dan, state) = nodes.join(0, "restart", "dan").await;
    assert_eq!(roster(&state), ["ada", "carol", "dan"]);
    drop(second);
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_a_node_stopped_with_sigterm_are_reported_left_once() {
    let nodes = Nodes::start(1).await;
    let mut stopping = NodeProcess::start(&nodes, "node-t");
    let (mut ada, _) = nodes.join(0, "sigterm", "ada").await;
    let token = nodes.token("sigterm", "tom");
    let (tom, _) = join_at(&stopping.ws_url, "node-t", &token, "tom").await;
    assert_eq!(ada.next().await["data"]["id"], "tom");
    // Tom's client answers the server's close, as a live client does.
    let tom = tokio::spawn(async move { tom.close_code_quietly().await });
    let since = std::time::Instant::now();
    tokio::task::block_in_place(|| stopping.terminate());
    let took = since.elapsed() + left_once(&mut ada, "tom").await;
    eprintln!("tom reported left {took:?} after the SIGTERM");
    assert_eq!(tom.await.unwrap(), 1001);
    let (_carol, state) = nodes.join(0, "sigterm", "carol").await;
    assert_eq!(roster(&state), ["ada", "carol"]);
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_members_of_a_node_shut_down_gracefully_are_reported_left() {
    let mut nodes = Nodes::start(2).await;
    let (mut ada, _) = nodes.join(0, "graceful", "ada").await;
    let (bob, _) = nodes.join(1, "graceful", "bob").await;
    assert_eq!(ada.next().await["data"]["id"], "bob");
    // Bob's client answers the server's close, as a live client does.
    let bob = tokio::spawn(async move { bob.close_code_quietly().await });
    let leaving = nodes.servers.pop().unwrap();
    let since = std::time::Instant::now();
    leaving.shutdown().await;
    let took = since.elapsed() + left_once(&mut ada, "bob").await;
    eprintln!("bob reported left {took:?} after the shutdown began");
    assert_eq!(bob.await.unwrap(), 1001);
    let (_carol, state) = nodes.join(0, "graceful", "carol").await;
    assert_eq!(roster(&state), ["ada", "carol"]);
    nodes.shutdown().await;
}

/// A node of the suite's failover run: the binary started by a shell script of its own in a
/// scratch directory (`start-N.sh`, which holds the secrets, so that no command line shows
/// them), which records the process id in `pid-N` and returns once the node is ready. The
/// suite's restart command runs the same script; its kill command is `kill -9` of the id.
fn node_script(dir: &std::path::Path, index: usize, nodes: &Nodes, port: u16) {
    let config = &nodes.config;
    let script = format!(
        "#!/bin/sh\n\
         log={dir}/log-{index}\n\
         : > \"$log\"\n\
         env -i RUST_LOG=info CHALK_JWT_SECRET='{secret}' CHALK_API_KEY='{key}' \\\n\
         \x20 '{bin}' --listen 127.0.0.1:{port} --node-id node-{index} --redis-url '{redis}' \\\n\
         \x20 --allowed-origin '{origin}' >/dev/null 2>>\"$log\" &\n\
         echo $! > {dir}/pid-{index}\n\
         tries=0\n\
         until grep -q ready \"$log\"; do\n\
         \x20 tries=$((tries + 1)); [ $tries -gt 200 ] && exit 1; sleep 0.05\n\
         done\n",
        dir = dir.display(),
        secret = config.jwt_secret().unwrap(),
        key = config.api_key().unwrap(),
        bin = server_binary().display(),
        redis = nodes.redis.url(),
        origin = config.default_tenant.allowed_origins[0],
    );
    std::fs::write(dir.join(format!("start-{index}.sh")), script).unwrap();
}

/// Runs `start-N.sh` of `dir` and checks that node N started.
fn start_node(dir: &std::path::Path, index: usize) {
    let status = std::process::Command::new("sh")
        .arg(dir.join(format!("start-{index}.sh")))
        .status()
        .unwrap();
    assert!(status.success(), "node {index} did not start");
}

/// The scratch directory of the scripted nodes; dropping it kills (SIGKILL) the nodes that
/// still run, by the ids their `pid-N` files hold (and only if that process is still this
/// test's binary: an id may have been reused since the node was killed), and removes it.
struct ScriptedNodes {
    dir: std::path::PathBuf,
    indexes: Vec<usize>,
}

impl Drop for ScriptedNodes {
    fn drop(&mut self) {
        for index in &self.indexes {
            let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("pid-{index}"))) else {
                continue;
            };
            let pid = pid.trim();
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("chalk-reference-server"));
            if ours {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_finds_a_cluster_that_loses_nodes_conformant() {
    use chalk_conformance::commands::exit::ExitStatus;
    let nodes = Nodes::start(1).await;
    let scripted = ScriptedNodes {
        dir: chalk_tests::scratch("failover"),
        indexes: vec![2, 3],
    };
    let dir = &scripted.dir;
    let ports = [free_loopback_port(), free_loopback_port()];
    for (index, port) in [(2, ports[0]), (3, ports[1])] {
        node_script(dir, index, &nodes, port);
        start_node(dir, index);
    }
    let config = &nodes.config;
    // One REST API per node, as a staging run gives them: the calls of a scenario that comes
    // after a node was killed must not go to its API.
    let mut args = vec![
        "--url".to_owned(),
        nodes.servers[0].ws_url(),
        "--api-url".to_owned(),
        nodes.servers[0].api_url(),
    ];
    for port in ports {
        args.extend([
            "--url".to_owned(),
            format!("ws://127.0.0.1:{port}/api/v1/ws"),
            "--api-url".to_owned(),
            format!("http://127.0.0.1:{port}/api/v1"),
        ]);
    }
    args.extend([
        "--tags".to_owned(),
        "@req.CLUSTER-014 or @req.CLUSTER-015".to_owned(),
        "--node-kill-command".to_owned(),
        format!("kill -9 $(cat {}/pid-$CHALK_NODE_INDEX)", dir.display()),
        "--node-restart-command".to_owned(),
        format!("sh {}/start-$CHALK_NODE_INDEX.sh", dir.display()),
    ]);
    args.extend(suite_credentials(config));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, output) = chalk_tests::conformance(&args).await;
    drop(scripted);
    assert_eq!(status, ExitStatus::Conformant, "{output}");
    for requirement in ["CLUSTER-014", "CLUSTER-015"] {
        assert!(output.contains(requirement), "{requirement} ran: {output}");
    }
    let closing = output.lines().last().unwrap_or_default();
    assert!(closing.starts_with("2 passed"), "both ran: {closing}");
    assert!(closing.contains(" 0 skipped"), "{closing}");
    for secret in [config.jwt_secret().unwrap(), config.api_key().unwrap()] {
        assert!(!output.contains(secret), "no secret in the report");
    }
    nodes.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_from_a_connection_that_no_longer_holds_its_member_is_not_appended() {
    // The member record goes from Redis before the sender's node hears of it (as when a removal
    // or a replacement on another node races a message already queued): its chat must not reach
    // anyone, so no message can follow its sender's participant.left.
    let nodes = Nodes::start(2).await;
    let (mut ada, _) = nodes.join(0, "gone", "ada").await;
    let (mut bob, _) = nodes.join(1, "gone", "bob").await;
    assert_eq!(ada.next().await["event"], "participant.joined");
    ada.chat("before").await;
    assert_eq!(bob.next().await["data"]["text"], "before");
    assert_eq!(ada.next().await["data"]["text"], "before");
    let answer = redis_command(
        nodes.redis.addr(),
        &["HDEL", "chalk:default:room:gone:members", "ada"],
    );
    assert!(
        answer.starts_with(":1"),
        "the member record was there: {answer:?}"
    );
    ada.chat("after").await;
    // Bob's own message still goes through, after ada's would have.
    bob.chat("still here").await;
    let heard: Vec<Value> = bob.rest().await;
    let texts: Vec<&str> = heard
        .iter()
        .filter(|e| e["event"] == "chat.message")
        .filter_map(|e| e["data"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["still here"], "{heard:?}");
    nodes.shutdown().await;
}
