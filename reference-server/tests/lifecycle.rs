//! Connection lifecycle: slow consumers (4010), idle timeout (4011), token expiry (4001), and
//! graceful shutdown (1001 to every socket, 503 for new upgrades).

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Client, DEADLINE, TestServer, now, unique};
use tokio_tungstenite::MaybeTlsStream;

/// Connects over a socket with a tiny receive buffer, so the server's writes back up quickly
/// when this client stops reading.
async fn connect_with_small_window(t: &TestServer, room: &str, participant: &str) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(t.server.local_addr()).await.unwrap();
    let request = t.request(&t.token(room, participant));
    let (ws, response) = tokio::time::timeout(
        DEADLINE,
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)),
    )
    .await
    .unwrap()
    .unwrap();
    Client {
        ws,
        response_headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn closes_a_slow_consumer_with_4010_without_affecting_the_others() {
    let t = TestServer::start_with(|c| {
        c.limits.outbound_queue = 16;
        c.limits.rate_per_second = 100_000.0;
        c.limits.rate_burst = 100_000;
    })
    .await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut slow = connect_with_small_window(&t, &room, "slow").await;
    alice.expect_event("participant.joined").await;

    // Alice keeps talking (and reading her echoes) while `slow` reads nothing.
    let text = "s".repeat(3000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 4010 after {sent} messages"
        );
        alice.chat(&text).await;
        sent += 1;
        let event = alice.next_event().await;
        if event["event"] == "participant.left" {
            assert_eq!(event["data"]["id"], "slow");
            break;
        }
        assert_eq!(event["event"], "chat.message");
    }
    // Alice is unaffected.
    alice.chat("still fine").await;
    while alice.wait_for("chat.message").await["data"]["text"] != "still fine" {}
    // The slow client, once it reads, finds the close code after the frames it had.
    slow.expect_close_code(4010).await;
}

/// The idle timeout of the two tests below: the client that reads answers a ping every 100 ms,
/// so it is closed only if its task stalls for well over a second (a loaded CI machine stalls a
/// thread for a few hundred milliseconds now and then); the idle one is closed within the
/// [`DEADLINE`] of the wait for its `participant.left`.
const IDLE_TIMEOUT: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn closes_an_idle_connection_with_4011() {
    let t = TestServer::start_with(|c| {
        c.limits.heartbeat_interval = Duration::from_millis(100);
        c.limits.idle_timeout = IDLE_TIMEOUT;
    })
    .await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut idle = t.join(&room, "idle").await;
    // Alice reads, so her client answers the heartbeats; `idle` reads nothing and so sends
    // nothing, not even pongs.
    let left = alice.wait_for("participant.left").await;
    assert_eq!(left["data"]["id"], "idle");
    idle.expect_close_code(4011).await;
}

#[tokio::test]
async fn keeps_a_client_that_answers_heartbeats_past_the_idle_timeout() {
    let t = TestServer::start_with(|c| {
        c.limits.heartbeat_interval = Duration::from_millis(100);
        c.limits.idle_timeout = IDLE_TIMEOUT;
    })
    .await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    // Reading makes the client answer the server's pings; that alone keeps it alive, for twice
    // the idle timeout. About 30 heartbeats are due; at least 10 must come even if the machine
    // is slow to wake the server's timer.
    let until = tokio::time::Instant::now() + 2 * IDLE_TIMEOUT;
    let mut pings = 0;
    while tokio::time::Instant::now() < until {
        let frame = tokio::time::timeout(
            Duration::from_millis(300),
            futures_util::StreamExt::next(&mut alice.ws),
        )
        .await;
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Ping(_)))) = frame {
            pings += 1;
        }
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(c)))) = frame {
            panic!("closed: {c:?}");
        }
    }
    assert!(pings >= 10, "only {pings} heartbeats");
    alice.chat("alive").await;
    assert_eq!(
        alice.wait_for("chat.message").await["data"]["text"],
        "alive"
    );
}

#[tokio::test]
async fn closes_with_4001_when_the_token_expires_mid_session() {
    let t = TestServer::start_with(|c| c.jwt.leeway = Duration::ZERO).await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    // `exp` has whole seconds: now() + 3 expires 2 to 3 s from here, which leaves the upgrade
    // (refused once expired) at least 2 s, and the close still comes well within the DEADLINE.
    let token = t.sign(&json!({"room_id": room, "participant_id": "short", "exp": now() + 3}));
    let mut short = t.connect(t.request(&token)).await;
    short.expect_event("room.state").await;
    short.expect_close_code(4001).await;
    let left = alice.wait_for("participant.left").await;
    assert_eq!(left["data"]["id"], "short");
}

#[tokio::test]
async fn shutdown_sends_1001_to_every_socket_and_refuses_new_upgrades() {
    let t = TestServer::start_with(|c| {
        c.limits.close_timeout = Duration::from_secs(3);
        c.shutdown_drain = Duration::from_secs(4);
    })
    .await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    let addr = t.server.local_addr();
    let late_request = t.request(&t.token(&room, "late"));
    let support::TestServer { server, config } = t;
    let shutting_down = tokio::spawn(server.shutdown());

    // Bob answers the close at once; Alice does not read yet, which keeps the drain going
    // while a newcomer tries to connect.
    bob.expect_close_code(1001).await;
    let refusal = match tokio_tungstenite::connect_async(late_request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response,
        other => panic!("expected 503 during the drain, got {:?}", other.map(|_| ())),
    };
    assert_eq!(refusal.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(refusal.body().as_ref().unwrap()).unwrap();
    assert_eq!(body, json!({"error": "server shutting down"}));

    alice.expect_close_code(1001).await;
    tokio::time::timeout(Duration::from_secs(10), shutting_down)
        .await
        .expect("shutdown finishes within the drain bound")
        .unwrap();
    // After shutdown the listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(config);
}

#[tokio::test]
async fn shutdown_is_bounded_even_if_clients_never_answer_the_close() {
    let t = TestServer::start_with(|c| {
        c.limits.close_timeout = Duration::from_millis(300);
        c.shutdown_drain = Duration::from_millis(500);
    })
    .await;
    let room = unique("room");
    let _silent = t.join(&room, "silent").await;
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), t.server.shutdown())
        .await
        .expect("shutdown is bounded");
    // Normally 300 to 500 ms (the close timeout, within the drain). The bound leaves a slow
    // machine room and is still below the 5 s of the default close timeout and drain, which a
    // shutdown ignoring the configured ones would take.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
