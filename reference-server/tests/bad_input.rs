//! Bad client input never hurts anyone else: each class gets its `error` event or close code,
//! and arbitrary frames (property test) never take down the server or another participant.

mod support;

use std::sync::OnceLock;

use chalk_reference_server::config::DEFAULT_MAX_MESSAGE_BYTES;
use proptest::prelude::*;
use serde_json::json;
use support::{TestServer, unique};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

async fn expect_error(client: &mut support::Client, frame: &str, code: &str, event: Option<&str>) {
    client.send_text(frame).await;
    let error = client.expect_event("error").await;
    assert_eq!(error["data"]["code"], code, "answer to {frame:?}: {error}");
    match event {
        Some(name) => assert_eq!(error["data"]["event"], name),
        None => assert!(error["data"].get("event").is_none(), "{error}"),
    }
}

#[tokio::test]
async fn answers_every_kind_of_bad_frame_with_an_error_and_stays_usable() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut mallory = t.join(&room, "mallory").await;
    let mut alice = t.join(&room, "alice").await;
    mallory.expect_event("participant.joined").await;

    expect_error(&mut mallory, "not json", "invalid_json", None).await;
    expect_error(&mut mallory, "{\"event\":", "invalid_json", None).await;
    expect_error(&mut mallory, "[]", "invalid_event", None).await;
    expect_error(&mut mallory, "42", "invalid_event", None).await;
    expect_error(&mut mallory, "{}", "invalid_event", None).await;
    expect_error(&mut mallory, r#"{"event":7}"#, "invalid_event", None).await;
    expect_error(
        &mut mallory,
        r#"{"event":"ping","data":"x"}"#,
        "invalid_event",
        Some("ping"),
    )
    .await;
    expect_error(
        &mut mallory,
        r#"{"event":"hand.wave"}"#,
        "unknown_event",
        Some("hand.wave"),
    )
    .await;
    expect_error(
        &mut mallory,
        r#"{"event":"chat.send"}"#,
        "invalid_data",
        Some("chat.send"),
    )
    .await;
    expect_error(
        &mut mallory,
        r#"{"event":"chat.send","data":{"text":123}}"#,
        "invalid_data",
        Some("chat.send"),
    )
    .await;
    expect_error(
        &mut mallory,
        r#"{"event":"chat.send","data":{"text":""}}"#,
        "text_empty",
        Some("chat.send"),
    )
    .await;
    let too_long = json!({"event": "chat.send", "data": {"text": "é".repeat(4001)}}).to_string();
    expect_error(&mut mallory, &too_long, "text_too_long", Some("chat.send")).await;
    let deep = "[".repeat(10_000);
    expect_error(&mut mallory, &deep, "invalid_json", None).await;

    // Exactly the maximum (4000 scalar values, multi-byte) is accepted.
    let max = "😀".repeat(4000);
    mallory.chat(&max).await;
    assert_eq!(
        mallory.expect_event("chat.message").await["data"]["text"],
        max.as_str()
    );

    // Alice saw none of the errors, only the one valid message.
    let seen = alice.drain_until_own_echo().await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["event"], "chat.message");
}

#[tokio::test]
async fn closes_with_1003_on_a_binary_frame() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut mallory = t.join(&room, "mallory").await;
    mallory.send(Message::binary(vec![1u8, 2, 3])).await;
    mallory.expect_close_code(1003).await;
    alice.wait_for("participant.left").await;
    assert!(alice.drain_until_own_echo().await.is_empty());
}

#[tokio::test]
async fn closes_with_1007_on_invalid_utf8() {
    let t = TestServer::start().await;
    let mut mallory = t.join(&unique("room"), "mallory").await;
    let frame = Frame::message(vec![0xC3u8, 0x28], OpCode::Data(Data::Text), true);
    mallory.send(Message::Frame(frame)).await;
    mallory.expect_close_code(1007).await;
}

#[tokio::test]
async fn closes_with_1007_when_invalid_utf8_hides_in_a_later_fragment() {
    let t = TestServer::start().await;
    let mut mallory = t.join(&unique("room"), "mallory").await;
    let first = Frame::message(
        b"{\"event\":\"chat.send\",".to_vec(),
        OpCode::Data(Data::Text),
        false,
    );
    let second = Frame::message(vec![0xFFu8, 0xFE], OpCode::Data(Data::Continue), true);
    mallory.send(Message::Frame(first)).await;
    mallory.send(Message::Frame(second)).await;
    mallory.expect_close_code(1007).await;
}

#[tokio::test]
async fn closes_with_1002_on_a_frame_with_reserved_bits() {
    let t = TestServer::start().await;
    let mut mallory = t.join(&unique("room"), "mallory").await;
    let mut frame = Frame::message(
        b"{\"event\":\"ping\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    frame.header_mut().rsv1 = true; // no extension was negotiated
    mallory.send(Message::Frame(frame)).await;
    mallory.expect_close_code(1002).await;
}

#[tokio::test]
async fn closes_with_1009_on_an_oversized_message() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut mallory = t.join(&room, "mallory").await;
    mallory
        .send_text(&"x".repeat(DEFAULT_MAX_MESSAGE_BYTES + 1))
        .await;
    mallory.expect_close_code(1009).await;
    alice.wait_for("participant.left").await;
    assert!(alice.drain_until_own_echo().await.is_empty());
}

#[tokio::test]
async fn closes_with_1009_when_fragments_add_up_to_too_much() {
    let t = TestServer::start().await;
    let mut mallory = t.join(&unique("room"), "mallory").await;
    let chunk = vec![b'x'; 10 * 1024];
    mallory
        .send(Message::Frame(Frame::message(
            chunk.clone(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    mallory
        .send(Message::Frame(Frame::message(
            chunk,
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    mallory.expect_close_code(1009).await;
}

#[tokio::test]
async fn honours_a_configured_smaller_message_limit() {
    let t = TestServer::start_with(|c| c.limits.max_message_bytes = 1024).await;
    let mut mallory = t.join(&unique("room"), "mallory").await;
    mallory.chat(&"y".repeat(900)).await;
    mallory.expect_event("chat.message").await;
    mallory.chat(&"y".repeat(1100)).await;
    mallory.expect_close_code(1009).await;
}

#[tokio::test]
async fn drops_events_over_the_rate_limit_then_closes_with_4008() {
    let t = TestServer::start_with(|c| {
        c.limits.rate_per_second = 0.0;
        c.limits.rate_burst = 2;
        c.limits.rate_close_after = 3;
    })
    .await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut mallory = t.join(&room, "mallory").await;
    for _ in 0..6 {
        mallory.send_text(r#"{"event":"ping"}"#).await;
    }
    let before = mallory.expect_close_code(4008).await;
    let names: Vec<&str> = before
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pong", "pong", "error", "error", "error", "error"]);
    assert!(
        before[2..]
            .iter()
            .all(|e| e["data"]["code"] == "rate_limited")
    );
    alice.wait_for("participant.left").await;
    assert!(alice.drain_until_own_echo().await.is_empty());
}

#[tokio::test]
async fn closes_a_ping_flood_with_1008_and_spares_the_others() {
    // Default limits: 20 control frames per second, a burst of 40.
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    let mut mallory = t.join(&room, "mallory").await;
    alice.expect_event("participant.joined").await;
    bob.expect_event("participant.joined").await;

    // A single ping, as a normal client sends, is answered and changes nothing.
    bob.send(Message::Ping(b"hello".to_vec().into())).await;
    bob.chat("after one ping").await;
    assert_eq!(
        bob.wait_for("chat.message").await["data"]["text"],
        "after one ping"
    );

    // 200 pings as fast as the socket takes them; the server stops reading at the limit.
    for _ in 0..200 {
        use futures_util::SinkExt;
        let sent = tokio::time::timeout(
            support::DEADLINE,
            mallory.ws.send(Message::Ping(Vec::new().into())),
        )
        .await
        .expect("send within the deadline");
        if sent.is_err() {
            break;
        }
    }
    let (code, reason, _) = mallory.expect_close().await;
    assert_eq!(code, 1008, "close reason {reason:?}");
    assert!(!reason.is_empty());

    // The others: one participant.left for mallory, then chat goes on as before.
    let mut left = 0;
    loop {
        let event = alice.next_event().await;
        match event["event"].as_str() {
            Some("participant.left") => {
                assert_eq!(event["data"]["id"], "mallory");
                left += 1;
            }
            Some("chat.message") if event["data"]["text"] == "after one ping" => {}
            _ => panic!("unexpected {event}"),
        }
        if left == 1 {
            break;
        }
    }
    bob.chat("still here").await;
    let before = {
        let mut before = Vec::new();
        loop {
            let event = alice.next_event().await;
            if event["event"] == "chat.message" && event["data"]["text"] == "still here" {
                break before;
            }
            before.push(event);
        }
    };
    assert!(before.is_empty(), "{before:?}");
}

/// A client frame of any kind.
#[derive(Debug, Clone)]
enum Input {
    Text(String),
    Binary(Vec<u8>),
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("chat.send".to_owned()),
        Just("hand.raise".to_owned()),
        Just("hand.lower".to_owned()),
        Just("ping".to_owned()),
        "[a-z.]{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::hash_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (event_name(), json_value()).prop_map(|(event, data)| {
            Input::Text(json!({"event": event, "data": data}).to_string())
        }),
        2 => (event_name(), any::<String>()).prop_map(|(event, text)| {
            Input::Text(json!({"event": event, "data": {"text": text}}).to_string())
        }),
        2 => any::<String>().prop_map(Input::Text),
        1 => json_value().prop_map(|v| Input::Text(v.to_string())),
        1 => (1usize..40_000).prop_map(|n| Input::Text("z".repeat(n))),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Binary),
    ]
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    server: TestServer,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(TestServer::start());
        Shared { runtime, server }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_hurt_the_server_or_another_participant(
        inputs in prop::collection::vec(input(), 1..12)
    ) {
        let Shared { runtime, server: t } = shared();
        runtime.block_on(async {
            let room = unique("room");
            let mut alice = t.join(&room, "alice").await;
            let mut mallory = t.join(&room, "mallory").await;
            alice.expect_event("participant.joined").await;
            for input in &inputs {
                let message = match input {
                    Input::Text(text) => Message::text(text.clone()),
                    Input::Binary(bytes) => Message::binary(bytes.clone()),
                };
                // Mallory may already be closed by an earlier frame of this case.
                if futures_util::SinkExt::send(&mut mallory.ws, message).await.is_err() {
                    break;
                }
            }
            // Mallory is either still usable or was closed with a documented code.
            let marker = unique("marker");
            let _ = futures_util::SinkExt::send(
                &mut mallory.ws,
                Message::text(json!({"event": "chat.send", "data": {"text": marker}}).to_string()),
            )
            .await;
            loop {
                match mallory.observe().await {
                    support::Observed::Event(e) if e["data"]["text"] == marker.as_str() => break,
                    support::Observed::Event(_) => {}
                    support::Observed::Closed(Some((code, _))) => {
                        assert!([1003, 1009, 4008].contains(&code), "mallory closed with {code}");
                        break;
                    }
                    support::Observed::Closed(None) => panic!("mallory's socket ended without a close frame"),
                }
            }
            // Alice's connection still works, and everything she got is schema-valid.
            let seen = alice.drain_until_own_echo().await;
            for event in &seen {
                let name = event["event"].as_str().unwrap();
                assert!(
                    ["chat.message", "hand.raised", "hand.lowered", "participant.left"].contains(&name),
                    "alice got {event}"
                );
            }
            // The server still admits newcomers.
            let mut bob = t.join(&room, "bob").await;
            bob.chat("after the storm").await;
            bob.expect_event("chat.message").await;
        });
    }
}
