//! The seams, used from outside as a test double would: each is called where its documentation
//! says, and what it decides is what clients see.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::ws::Message;
use chalk_reference_server::Seams;
use chalk_reference_server::admission::{AdmissionPolicy, Admitted, Handshake, StandardAdmission};
use chalk_reference_server::auth::Identity;
use chalk_reference_server::directory::{Pending, Recorded, RoomDirectory};
use chalk_reference_server::error::ApiError;
use chalk_reference_server::events::{EventKind, Members, RoomEvent, RoomEvents};
use chalk_reference_server::frames::{FrameAdapter, SessionFrames, SessionInfo};
use chalk_reference_server::rooms::{JoinFacts, JoinRule, ParticipantView, RoomRefusal, RoomView};
use futures_util::SinkExt;
use support::{TestServer, unique};

/// Refuses the participant `mallory`, admits everyone else as the production policy does.
#[derive(Debug)]
struct NoMallory(StandardAdmission);

impl AdmissionPolicy for NoMallory {
    fn admit(&self, handshake: &Handshake<'_>) -> Result<Admitted, ApiError> {
        let admitted = self.0.admit(handshake)?;
        if admitted.identity.participant_id == "mallory" {
            return Err(ApiError::AccessRevoked);
        }
        Ok(admitted)
    }
}

#[tokio::test]
async fn an_admission_policy_decides_every_handshake() {
    let seams = Seams::default().admission(|standard| Arc::new(NoMallory(standard)));
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let room = unique("room");
    let request = t.request(&t.token(&room, "mallory"));
    t.expect_refusal(request, 403, "room access revoked").await;
    t.join(&room, "alice").await;
}

/// Records the kind of every event published, then delivers it as the server would.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

impl RoomEvents for Recorder {
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        let kind = match event.kind {
            EventKind::RoomState => "room.state",
            EventKind::Joined { .. } => "joined",
            EventKind::Left { .. } => "left",
            EventKind::Chat { .. } => "chat",
            _ => "other",
        };
        self.0.lock().unwrap().push(kind.to_owned());
        members.deliver(event.audience, &event.frame);
    }
}

#[tokio::test]
async fn every_room_event_is_published_once_to_the_room_event_seam() {
    let recorder = Arc::new(Recorder::default());
    let seams = Seams::default().room_events(recorder.clone());
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    alice.chat("hello").await;
    alice.expect_event("chat.message").await;
    bob.close().await;
    alice.expect_event("participant.left").await;
    let seen = recorder.0.lock().unwrap().clone();
    // Each joiner's arrival is published even when nobody else is there to hear of it.
    let expected = [
        "room.state",
        "joined",
        "room.state",
        "joined",
        "chat",
        "left",
    ];
    assert_eq!(seen, expected);
}

/// Lets nobody into an ended room, but readmits removed participants.
#[derive(Debug)]
struct Forgiving;

impl JoinRule for Forgiving {
    fn admits(&self, facts: JoinFacts) -> Result<(), RoomRefusal> {
        JoinFacts {
            removed: false,
            ..facts
        }
        .standard_verdict()
    }
}

#[tokio::test]
async fn a_join_rule_decides_who_enters_a_room() {
    let seams = Seams::default().join_rule(Arc::new(Forgiving));
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let rest = t.rest();
    let room = rest.create_room("forgiving").await;
    let mut alice = t.join(&room, "alice").await;
    let answer = rest
        .delete(&format!("/rooms/{room}/participants/alice"))
        .await;
    assert_eq!(answer.status, 204);
    alice.expect_close_code(4003).await;
    t.join(&room, "alice").await;
}

/// Adds a text frame of its own before everything the session sends.
#[derive(Debug)]
struct Greeter;

impl FrameAdapter for Greeter {
    fn adapt(&self, _: &SessionInfo<'_>, mut frames: SessionFrames) -> SessionFrames {
        let greeted = futures_util::FutureExt::now_or_never(frames.outgoing.feed(Message::text(
            r#"{"event":"pong","data":{"timestamp":"2026-01-01T00:00:00.000Z"}}"#,
        )));
        assert!(greeted.is_some_and(|fed| fed.is_ok()));
        frames
    }
}

#[tokio::test]
async fn a_frame_adapter_sits_between_the_session_and_its_socket() {
    let seams = Seams::default().frames(Arc::new(Greeter));
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let room = unique("room");
    let mut alice = t.connect(t.request(&t.token(&room, "alice"))).await;
    let first = alice.next_event().await;
    assert_eq!(first["event"], "pong", "{first}");
    alice.expect_event("room.state").await;
}

/// Counts the events it sees, then hands each to the path it wraps.
#[derive(Debug)]
struct Counting {
    own: Arc<dyn RoomEvents>,
    seen: Arc<Mutex<usize>>,
}

impl RoomEvents for Counting {
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        *self.seen.lock().unwrap() += 1;
        self.own.publish(event, members);
    }
}

#[tokio::test]
async fn a_room_event_wrapper_wraps_local_delivery_on_one_process() {
    let seen = Arc::new(Mutex::new(0));
    let counted = seen.clone();
    let seams =
        Seams::default().room_events_around(move |own| Arc::new(Counting { own, seen: counted }));
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let room = unique("room");
    let mut alice = t.join(&room, "alice").await;
    let _bob = t.join(&room, "bob").await;
    alice.expect_event("participant.joined").await;
    alice.chat("through the wrapper").await;
    alice.expect_event("chat.message").await;
    // Two room.state, two joined, one chat: each seen by the wrapper, each delivered.
    assert_eq!(*seen.lock().unwrap(), 5);
}

/// Answers every removal with 404 itself; hands every other call to the directory it wraps.
#[derive(Debug)]
struct NoRemovals(Arc<dyn RoomDirectory>);

impl RoomDirectory for NoRemovals {
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.0.create(tenant, name)
    }
    fn view<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.0.view(tenant, room_id)
    }
    fn end<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.0.end(tenant, room_id)
    }
    fn add_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        display_name: &'a str,
        role: &'a str,
    ) -> Pending<'a, Result<(String, RoomView), ApiError>> {
        self.0.add_participant(tenant, room_id, display_name, role)
    }
    fn participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<ParticipantView, ApiError>> {
        self.0.participant(tenant, room_id, participant_id)
    }
    fn remove_participant<'a>(
        &'a self,
        _tenant: &'a str,
        _room_id: &'a str,
        _participant_id: &'a str,
    ) -> Pending<'a, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::NotFound("participant not found")) })
    }
    fn start_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        self.0.start_recording(tenant, room_id)
    }
    fn stop_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        self.0.stop_recording(tenant, room_id)
    }
    fn admission<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> Pending<'a, Result<Option<Recorded>, RoomRefusal>> {
        self.0.admission(identity)
    }
}

#[tokio::test]
async fn a_directory_wrapper_sees_each_rest_call_before_the_directory_it_wraps() {
    let seams = Seams::default().directory_around(|own| Arc::new(NoRemovals(own)));
    let t = TestServer::start_with_seams(|_| {}, seams).await;
    let rest = t.rest();
    let room = rest.create_room("kept").await;
    let mut alice = t.join(&room, "alice").await;
    let answer = rest
        .delete(&format!("/rooms/{room}/participants/alice"))
        .await;
    assert_eq!(answer.status, 404);
    alice.chat("still here").await;
    alice.expect_event("chat.message").await;
}
