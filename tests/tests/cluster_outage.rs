//! Cluster mode when Redis goes away (issue 11, item 5; the cluster figures of item 6): a node
//! that cannot reach Redis answers 503 with `Retry-After`, keeps its sockets, refuses chat
//! visibly (`unavailable`) and keeps departures for later; when Redis returns, chat crosses
//! nodes again, each message once, and the roster is right. A node cut off longer than the
//! liveness TTL, reaped by the others meanwhile, closes its sockets with 1012 when it comes
//! back instead of keeping orphans. See `reference-server/CLUSTER.md`.
//!
//! Each test starts its own `redis-server` ([`RedisServer`]) and nodes in this process; a node
//! cut off alone talks to Redis through a TCP relay of the test ([`Relay`]), which the test
//! cuts and restores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chalk_reference_server::node::{NodeId, RedisUrl};
use chalk_reference_server::{Config, Server, serve};
use chalk_tests::RedisServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Longest a test waits for one event or one change of state.
const DEADLINE: Duration = Duration::from_secs(10);

/// How long a client must stay silent for "nothing more arrives" to hold.
const QUIET: Duration = Duration::from_millis(700);

/// A TCP relay on loopback between one node and Redis: the test cuts it (every relayed
/// connection is dropped, and new ones are closed at once, as if Redis were unreachable from
/// that node only) and restores it, on the same port.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let task = {
            let (open, links) = (open.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Relay {
            port,
            open,
            links,
            task,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// Nodes on one Redis, with one configuration (credentials) for all.
struct Cluster {
    config: Config,
    servers: Vec<Server>,
}

impl Cluster {
    /// Starts one node per URL (`node-0` … talking to Redis at that URL).
    async fn start(urls: &[String]) -> Cluster {
        let mut config = Config::ephemeral();
        config.shutdown_drain = Duration::from_millis(500);
        let mut servers = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let mut node = config.clone();
            node.redis_url = Some(RedisUrl::parse(url).unwrap());
            node.node_id = Some(NodeId::parse(&format!("node-{i}")).unwrap());
            servers.push(serve(node).await.unwrap());
        }
        Cluster { config, servers }
    }

    fn token(&self, room: &str, participant: &str) -> String {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let claims = json!({"room_id": room, "participant_id": participant, "exp": exp});
        let key =
            jsonwebtoken::EncodingKey::from_secret(self.config.jwt_secret().unwrap().as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    /// Connects `participant` to `room` on node `node`; its `room.state` comes back with it.
    async fn join(&self, node: usize, room: &str, participant: &str) -> (Client, Value) {
        let upgraded = self.upgrade(node, room, participant).await;
        let mut client = upgraded.unwrap_or_else(|status| panic!("{participant}: {status:?}"));
        let state = client.next().await;
        assert_eq!(state["event"], "room.state", "{participant}: {state}");
        (client, state)
    }

    /// The upgrade of `participant` on node `node`: the client, or the refusal's status,
    /// `Retry-After` and `Chalk-Node`.
    async fn upgrade(
        &self,
        node: usize,
        room: &str,
        participant: &str,
    ) -> Result<Client, (u16, Option<String>, Option<String>)> {
        let mut request = self.servers[node].ws_url().into_client_request().unwrap();
        let protocols = format!("chalk, token.{}", self.token(room, participant));
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse().unwrap());
        let connected = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the upgrade is answered in time");
        match connected {
            Ok((socket, _)) => Ok(Client {
                name: participant.to_owned(),
                socket,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                };
                Err((
                    response.status().as_u16(),
                    header("retry-after"),
                    header("chalk-node"),
                ))
            }
            Err(other) => panic!("{participant}: {other}"),
        }
    }

    /// One REST request to node `node`: status, `Retry-After` and the JSON body.
    async fn rest(&self, node: usize, method: &str, path: &str) -> (u16, Option<String>, Value) {
        let server = &self.servers[node];
        let body = if method == "POST" {
            "{\"name\":\"r\"}"
        } else {
            ""
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: chalk.test\r\nX-API-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.config.api_key().unwrap(),
            body.len()
        );
        let (head, body) = http(server, &request).await;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let retry_after = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(|v| v.trim().to_owned())
        });
        (
            status,
            retry_after,
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    }

    /// The value of the sample `name` in node `node`'s `/metrics`.
    async fn metric(&self, node: usize, name: &str) -> Option<f64> {
        let (_, text) = http(
            &self.servers[node],
            "GET /metrics HTTP/1.1\r\nHost: chalk.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// Waits until node `node`'s sample `name` is `value`.
    async fn metric_becomes(&self, node: usize, name: &str, value: f64) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let now = self.metric(node, name).await;
            if now == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node-{node}: {name} is {now:?}, not {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// Sends `request` to `server` and reads the whole answer (the request says `close`): head
/// and body.
async fn http(server: &Server, request: &str) -> (String, String) {
    let work = async {
        let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        let text = String::from_utf8_lossy(&received).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (head.to_owned(), body.to_owned())
    };
    tokio::time::timeout(DEADLINE, work)
        .await
        .expect("the node answered in time")
}

/// One WebSocket client of a test.
struct Client {
    name: String,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Client {
    /// The next event, within [`DEADLINE`].
    async fn next(&mut self) -> Value {
        self.next_within(DEADLINE)
            .await
            .unwrap_or_else(|| panic!("{}: no event within {DEADLINE:?}", self.name))
    }

    /// The next event if one comes within `limit`.
    async fn next_within(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .unwrap_or_else(|e| panic!("{}: the socket stays open: {e}", self.name));
            match message {
                Message::Text(text) => return Some(serde_json::from_str(text.as_str()).unwrap()),
                Message::Close(frame) => panic!("{}: closed: {frame:?}", self.name),
                _ => {}
            }
        }
    }

    /// The next event named `name`, within [`DEADLINE`]; the ones before it are skipped.
    async fn next_named(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .next_within(left)
                .await
                .unwrap_or_else(|| panic!("{}: no {name} within {DEADLINE:?}", self.name));
            if event["event"] == name {
                return event;
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
        self.socket
            .send(Message::Text(event.to_string().into()))
            .await
            .unwrap();
    }

    async fn chat(&mut self, text: &str) {
        self.send(json!({"event": "chat.send", "data": {"text": text}}))
            .await;
    }

    /// Sends `ping` and waits for the `pong` (whatever comes before it is skipped).
    async fn ping(&mut self) {
        self.send(json!({"event": "ping"})).await;
        self.next_named("pong").await;
    }

    /// The close code the server ends the connection with, within [`DEADLINE`].
    async fn close_code(&mut self) -> u16 {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{}: not closed in time", self.name));
            match message {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(1005, |f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                other => panic!("{}: ended without a close frame: {other:?}", self.name),
            }
        }
    }

    async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The ids of a `room.state`'s roster, sorted.
fn roster(state: &Value) -> Vec<String> {
    let mut ids: Vec<String> = state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The texts of the `chat.message` events among `events`.
fn chat_texts(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e["event"] == "chat.message")
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect()
}

/// Waits until node `node` answers upgrades with 503 (it has noticed that Redis is gone),
/// and checks the refusal's headers.
async fn upgrades_are_refused(cluster: &Cluster, node: usize, room: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match cluster.upgrade(node, room, "late").await {
            Err((503, retry_after, named)) => {
                assert_eq!(retry_after.as_deref(), Some("2"));
                assert_eq!(named, Some(format!("node-{node}")));
                return;
            }
            Ok(client) => client.close().await,
            Err(other) => panic!("node-{node}: {other:?}"),
        }
        assert!(Instant::now() < deadline, "node-{node} never answered 503");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_restarts_nodes_refuse_with_503_keep_their_sockets_and_lose_nothing() {
    let mut redis = RedisServer::start();
    let cluster = Cluster::start(&[redis.url(), redis.url()]).await;
    let (mut bob, _) = cluster.join(0, "restart", "bob").await;
    let (mut ada, _) = cluster.join(1, "restart", "ada").await;
    let (mut dan, _) = cluster.join(1, "restart", "dan").await;
    for client in [&mut bob, &mut ada, &mut dan] {
        client.ping().await;
    }
    bob.rest().await;
    ada.rest().await;

    redis.stop();
    upgrades_are_refused(&cluster, 1, "restart").await;
    let (status, retry_after, body) = cluster.rest(1, "POST", "/api/v1/rooms").await;
    assert_eq!(status, 503, "a REST write: {body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(body["error"], "cluster storage unavailable");
    let (status, _, body) = cluster.rest(0, "GET", "/api/v1/rooms/restart").await;
    assert_eq!(status, 503, "a REST read: {body}");
    cluster.metric_becomes(1, "chalk_redis_up", 0.0).await;
    // The sockets stay open and answer; a chat message is refused visibly, to its sender only.
    ada.ping().await;
    ada.chat("lost in the outage").await;
    let refused = ada.next_named("error").await;
    assert_eq!(refused["data"]["code"], "unavailable", "{refused}");
    assert_eq!(refused["data"]["event"], "chat.send", "{refused}");
    ada.send(json!({"event": "hand.raise"})).await;
    let refused = ada.next_named("error").await;
    assert_eq!(refused["data"]["code"], "unavailable", "{refused}");
    assert_eq!(refused["data"]["event"], "hand.raise", "{refused}");
    // A departure during the outage is kept and reported once Redis is back.
    dan.close().await;
    redis.restart();

    cluster.metric_becomes(0, "chalk_redis_up", 1.0).await;
    cluster.metric_becomes(1, "chalk_redis_up", 1.0).await;
    for node in 0..2 {
        let reconnects = cluster.metric(node, "chalk_redis_reconnects_total").await;
        assert!(reconnects >= Some(1.0), "node-{node}: {reconnects:?}");
    }
    let left = bob.next_named("participant.left").await;
    assert_eq!(left["data"]["id"], "dan", "{left}");
    ada.chat("after the outage").await;
    let (at_bob, at_ada) = (bob.rest().await, ada.rest().await);
    assert_eq!(chat_texts(&at_bob), ["after the outage"], "{at_bob:?}");
    assert_eq!(chat_texts(&at_ada), ["after the outage"], "{at_ada:?}");
    assert!(
        at_bob.iter().all(|e| e["event"] != "participant.left"),
        "dan left once: {at_bob:?}"
    );
    assert!(
        at_bob.iter().all(|e| e["event"] != "hand.raised"),
        "the refused hand is not raised: {at_bob:?}"
    );
    let (_carol, state) = cluster.join(0, "restart", "carol").await;
    assert_eq!(roster(&state), ["ada", "bob", "carol"]);
    let hands: Vec<&Value> = state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["hand_raised"])
        .collect();
    assert!(hands.iter().all(|h| **h == false), "{state}");
    let lag = cluster.metric(0, "chalk_bus_lag_seconds_count").await;
    assert!(lag > Some(0.0), "entries read are timed: {lag:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_longer_than_the_ttl_closes_its_sockets_with_1012_when_it_returns() {
    let redis = RedisServer::start();
    let relay = Relay::start(redis.addr()).await;
    let cluster = Cluster::start(&[redis.url(), relay.url()]).await;
    let (mut bob, _) = cluster.join(0, "cutoff", "bob").await;
    let (mut ada, _) = cluster.join(1, "cutoff", "ada").await;
    ada.ping().await;
    assert_eq!(
        bob.next_named("participant.joined").await["data"]["id"],
        "ada"
    );

    relay.cut();
    // The other node takes node-1 for dead and reports its member left; ada's socket stays
    // open on node-1 meanwhile.
    let left = bob.next_named("participant.left").await;
    assert_eq!(left["data"]["id"], "ada", "{left}");
    upgrades_are_refused(&cluster, 1, "cutoff").await;
    ada.ping().await;
    relay.restore();

    // Back, node-1 finds it was reaped: no orphan, ada is told to reconnect.
    assert_eq!(ada.close_code().await, 1012);
    cluster.metric_becomes(1, "chalk_redis_up", 1.0).await;
    assert!(cluster.metric(1, "chalk_redis_reconnects_total").await >= Some(1.0));
    let (mut ada, state) = cluster.join(1, "cutoff", "ada").await;
    assert_eq!(roster(&state), ["ada", "bob"]);
    assert_eq!(
        bob.next_named("participant.joined").await["data"]["id"],
        "ada"
    );
    ada.chat("back").await;
    assert_eq!(chat_texts(&bob.rest().await), ["back"]);
    let (_carol, state) = cluster.join(0, "cutoff", "carol").await;
    assert_eq!(roster(&state), ["ada", "bob", "carol"]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_single_process_server_shows_no_cluster_figures() {
    let server = serve(Config::ephemeral()).await.unwrap();
    let (_, text) = http(
        &server,
        "GET /metrics HTTP/1.1\r\nHost: chalk.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.contains("chalk_connections"), "{text}");
    for name in [
        "chalk_redis_up",
        "chalk_redis_reconnects",
        "chalk_bus_lag",
        "chalk_bus_queue",
    ] {
        assert!(!text.contains(name), "{name}: {text}");
    }
    server.shutdown().await;
}

/// Everything written to it, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: every task of the node logs to this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn the_outage_log_never_shows_the_redis_password() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let mut redis = RedisServer::start_with_password("outage-pw-never-logged");
    let cluster = Cluster::start(&[redis.url()]).await;
    let (mut ada, _) = cluster.join(0, "logged", "ada").await;
    ada.ping().await;
    redis.stop();
    upgrades_are_refused(&cluster, 0, "logged").await;
    ada.chat("refused").await;
    assert_eq!(ada.next_named("error").await["data"]["code"], "unavailable");
    redis.restart();
    cluster.metric_becomes(0, "chalk_redis_up", 1.0).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("Redis unavailable"), "{log}");
    assert!(log.contains("Redis available again"), "{log}");
    assert!(!log.contains("outage-pw-never-logged"), "{log}");
    cluster.shutdown().await;
}
