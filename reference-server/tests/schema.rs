//! Every kind of frame the server emits conforms to `schemas/`. (All other test files validate
//! every frame they receive too; this one makes sure each server event is produced at least once
//! and that the validator really rejects bad frames.)

mod support;

use serde_json::json;
use support::{TestServer, schema};

#[test]
fn the_validator_rejects_frames_that_break_the_schemas() {
    let bad = [
        json!({"event": "chat.message", "data": {"id": "m", "sender_id": "p", "text": "t", "timestamp": "yesterday"}}),
        json!({"event": "participant.left", "data": {}}),
        json!({"event": "error", "data": {"code": "no_such_code", "message": "m"}}),
        json!({"event": "no.such.event"}),
        json!({"data": {}}),
    ];
    for frame in bad {
        assert!(
            schema::server_frame_errors(&frame).is_err(),
            "{frame} passed"
        );
    }
}

#[tokio::test]
async fn every_server_event_conforms_to_its_schema() {
    let t = TestServer::start().await;
    let rest = t.rest();
    let room = rest.create_room("all events").await;
    let mut alice = t.join(&room, "alice").await; // room.state
    let mut bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    bob.chat("hello").await;
    alice.expect_event("chat.message").await;
    bob.send_json(json!({"event": "hand.raise"})).await;
    bob.send_json(json!({"event": "hand.lower"})).await;
    alice.expect_event("hand.raised").await;
    alice.expect_event("hand.lowered").await;
    alice.send_json(json!({"event": "ping"})).await;
    alice.expect_event("pong").await;
    alice.send_text("nonsense").await;
    alice.expect_event("error").await;
    rest.post_empty(&format!("/rooms/{room}/recordings/start"))
        .await;
    alice.expect_event("recording.started").await;
    rest.post_empty(&format!("/rooms/{room}/recordings/stop"))
        .await;
    alice.expect_event("recording.stopped").await;
    drop(bob);
    alice.wait_for("participant.left").await;

    let missing: Vec<String> = schema::server_events()
        .difference(&schema::validated_events())
        .cloned()
        .collect();
    assert!(missing.is_empty(), "never produced: {missing:?}");
}
