//! Room behaviour seen by clients: presence, chat fan-out, isolation, hands, ping, and the
//! single-session rule.

mod support;

use std::collections::HashSet;

use serde_json::json;
use support::{TestServer, now, unique};

#[tokio::test]
async fn joiner_gets_room_state_first_and_the_others_get_participant_joined() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t
        .connect(
            t.request(&t.sign(&json!({"room_id": room, "participant_id": "bob",
            "exp": now() + 300, "display_name": "Bob B.", "role": "host"}))),
        )
        .await;
    let state = bob.expect_event("room.state").await;
    let ids: HashSet<&str> = state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, HashSet::from(["alice", "bob"]));
    assert_eq!(state["data"]["recording_id"], serde_json::Value::Null);

    let joined = alice.expect_event("participant.joined").await;
    assert_eq!(
        joined["data"],
        json!({"id": "bob", "display_name": "Bob B.", "role": "host"})
    );
    let not_told_about_itself = bob.drain_until_own_echo().await;
    assert!(
        not_told_about_itself.is_empty(),
        "{not_told_about_itself:?}"
    );
}

#[tokio::test]
async fn defaults_display_name_to_the_id_and_role_to_participant() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let _bob = t.join(&room, "bob").await;
    let joined = alice.expect_event("participant.joined").await;
    assert_eq!(
        joined["data"],
        json!({"id": "bob", "display_name": "bob", "role": "participant"})
    );
}

#[tokio::test]
async fn announces_participant_left_once_on_a_clean_close() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    bob.ws.close(None).await.unwrap();
    let left = alice.expect_event("participant.left").await;
    assert_eq!(left["data"], json!({"id": "bob"}));
    let after = alice.drain_until_own_echo().await;
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn announces_participant_left_once_when_the_tcp_stream_drops() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    drop(bob); // no close frame: the TCP connection just goes away
    let left = alice.expect_event("participant.left").await;
    assert_eq!(left["data"]["id"], "bob");
    let after = alice.drain_until_own_echo().await;
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn delivers_chat_to_everyone_including_the_sender_with_one_id() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    alice.chat("Hello!").await;
    let to_alice = alice.expect_event("chat.message").await;
    let to_bob = bob.expect_event("chat.message").await;
    assert_eq!(to_alice, to_bob);
    let data = &to_bob["data"];
    assert_eq!(data["sender_id"], "alice");
    assert_eq!(data["text"], "Hello!");
    assert!(data["id"].as_str().unwrap().starts_with("msg_"));
    let ts = data["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-01-06T10:45:00.123Z".len(),
        "{ts}"
    );
}

#[tokio::test]
async fn ignores_a_spoofed_sender_id_and_other_client_fields() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    alice
        .send_json(
            json!({"event": "chat.send", "data": {"text": "hi", "sender_id": "bob",
            "id": "msg_forged", "timestamp": "1999-01-01T00:00:00Z"}, "sender_id": "bob"}),
        )
        .await;
    let message = alice.expect_event("chat.message").await;
    assert_eq!(message["data"]["sender_id"], "alice");
    assert_ne!(message["data"]["id"], "msg_forged");
    assert_ne!(message["data"]["timestamp"], "1999-01-01T00:00:00Z");
}

#[tokio::test]
async fn round_trips_unicode_text_byte_for_byte() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    let samples = [
        "こんにちは 👋",
        "e\u{301} vs é", // not normalised
        "👩‍👩‍👧‍👦 family (ZWJ)",
        "\u{202E}reversed\u{202C}",
        "nul\u{0}inside",
        "   ", // whitespace-only is accepted as is
        "quotes \" and \\ backslash\n newline",
    ];
    for text in samples {
        alice.chat(text).await;
        let got = bob.expect_event("chat.message").await;
        assert_eq!(
            got["data"]["text"].as_str().unwrap().as_bytes(),
            text.as_bytes()
        );
    }
}

#[tokio::test]
async fn keeps_each_senders_order_without_loss_or_duplicates() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    let mut carol = t.join(&room, "carol").await;
    alice.wait_for("participant.joined").await;
    alice.wait_for("participant.joined").await;
    bob.wait_for("participant.joined").await;
    const N: usize = 50;
    for i in 0..N {
        alice.chat(&format!("a{i}")).await;
        bob.chat(&format!("b{i}")).await;
    }
    let mut ids = HashSet::new();
    let (mut next_a, mut next_b) = (0, 0);
    while next_a < N || next_b < N {
        let m = carol.wait_for("chat.message").await;
        assert!(
            ids.insert(m["data"]["id"].as_str().unwrap().to_owned()),
            "duplicate {m}"
        );
        let text = m["data"]["text"].as_str().unwrap();
        match m["data"]["sender_id"].as_str().unwrap() {
            "alice" => {
                assert_eq!(text, format!("a{next_a}"));
                next_a += 1;
            }
            "bob" => {
                assert_eq!(text, format!("b{next_b}"));
                next_b += 1;
            }
            other => panic!("unexpected sender {other}"),
        }
    }
}

#[tokio::test]
async fn nothing_crosses_rooms() {
    let t = TestServer::start().await;
    let (room_a, room_b) = (unique("room"), unique("room"));
    let mut alice = t.join(&room_a, "alice").await;
    let mut bob = t.join(&room_b, "bob").await;
    let _carol = t.join(&room_a, "carol").await; // a join in room A
    alice.expect_event("participant.joined").await;
    alice.chat("only for room A").await;
    alice.expect_event("chat.message").await;
    let seen = bob.drain_until_own_echo().await;
    assert!(seen.is_empty(), "room B saw {seen:?}");
}

#[tokio::test]
async fn nothing_crosses_tenants_even_with_the_same_room_id() {
    let t = TestServer::start_with(|c| {
        c.tenants.insert(
            "acme".into(),
            chalk_reference_server::TenantConfig {
                api_key: Some("acme-api-key-0123456789abcdef".into()),
                allowed_origins: vec!["https://acme.chalk.test".into()],
            },
        );
    })
    .await;
    let room = unique("shared");
    let mut default_tenant = t.join(&room, "alice").await;
    let acme_token = t.sign(&json!({"room_id": room, "participant_id": "mallory",
        "tenant_id": "acme", "exp": now() + 300}));
    let mut request = t.request(&acme_token);
    request.headers_mut().insert(
        "origin",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("https://acme.chalk.test"),
    );
    let mut acme = t.connect(request).await;
    let state = acme.expect_event("room.state").await;
    assert_eq!(state["data"]["participants"].as_array().unwrap().len(), 1);
    acme.chat("acme only").await;
    acme.expect_event("chat.message").await;
    let seen = default_tenant.drain_until_own_echo().await;
    assert!(seen.is_empty(), "the default tenant saw {seen:?}");

    // The default tenant's allowed origin is not acme's.
    let mut wrong_origin = t.request(&acme_token);
    wrong_origin.headers_mut().insert(
        "origin",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static(support::ALLOWED_ORIGIN),
    );
    t.expect_refusal(wrong_origin, 403, "origin not allowed")
        .await;
}

#[tokio::test]
async fn answers_ping_with_pong_to_the_sender_only() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    alice.send_json(json!({"event": "ping"})).await;
    let pong = alice.expect_event("pong").await;
    assert!(pong["data"]["timestamp"].as_str().unwrap().ends_with('Z'));
    let seen = bob.drain_until_own_echo().await;
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn announces_hand_changes_to_everyone_once() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    bob.send_json(json!({"event": "hand.raise"})).await;
    bob.send_json(json!({"event": "hand.raise"})).await; // already raised: nothing
    bob.send_json(json!({"event": "hand.lower"})).await;
    for client in [&mut alice, &mut bob] {
        let raised = client.expect_event("hand.raised").await;
        assert_eq!(raised["data"], json!({"participant_id": "bob"}));
        let lowered = client.expect_event("hand.lowered").await;
        assert_eq!(lowered["data"], json!({"participant_id": "bob"}));
    }
    bob.send_json(json!({"event": "hand.raise"})).await;
    alice.expect_event("hand.raised").await;
    let mut carol = t.connect(t.request(&t.token(&room, "carol"))).await;
    let state = carol.expect_event("room.state").await;
    let bob_entry = state["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob_entry["hand_raised"], true);
}

#[tokio::test]
async fn a_second_connection_replaces_the_first_with_4009() {
    let t = TestServer::start().await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let mut bob_old = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    let mut bob_new = t.join(&room, "bob").await;
    bob_old.expect_close_code(4009).await;
    let left = alice.expect_event("participant.left").await;
    assert_eq!(left["data"]["id"], "bob");
    let joined = alice.expect_event("participant.joined").await;
    assert_eq!(joined["data"]["id"], "bob");
    // The new connection works; the old one's end produces no second participant.left.
    bob_new.chat("still here").await;
    assert_eq!(
        alice.expect_event("chat.message").await["data"]["text"],
        "still here"
    );
    let after = alice.drain_until_own_echo().await;
    assert!(
        after.iter().all(|e| e["event"] == "chat.message"),
        "{after:?}"
    );
}
