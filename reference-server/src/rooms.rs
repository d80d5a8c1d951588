//! In-memory rooms: membership, presence, fan-out, and the REST-visible room records.
//!
//! Every event a room emits goes through the room-event seam ([`crate::events`]), once per
//! event; who may enter a room is decided by its [`JoinRule`] (the production rule by default).
//!
//! Locking: the registry (`RwLock<HashMap>`) is touched only to find, create or retire a room.
//! Each room has its own mutex for its state. Membership changes and their events happen under
//! that mutex, so every member sees them in the same order. Chat fan-out copies the room's member
//! snapshot (an `Arc` of connection handles) under the mutex, releases it, and then queues one
//! shared frame per receiver without blocking (`try_send`); a full queue marks that receiver as
//! a slow consumer and affects nobody else.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::Identity;
use crate::close::CloseReason;
use crate::connection::{ConnId, Connection};
pub use crate::events::RoomKey;
use crate::events::{Audience, Departure, EventKind, EventSeam, Members, RoomEvent, RoomEvents};
use crate::protocol::{RosterEntry, ServerEvent, format_timestamp, timestamp_now};

/// Status of a room as the REST API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Open for joins.
    Active,
    /// Ended through the REST API; joins refused.
    Ended,
}

/// A room as the REST API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct RoomView {
    /// Room id.
    pub id: String,
    /// Name given at creation (the id for rooms first seen through a socket).
    pub name: String,
    /// `active` or `ended`.
    pub status: RoomStatus,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Participants currently connected.
    pub participant_count: usize,
    /// Sockets currently connected (equal to `participant_count` under the single-session rule).
    pub connected_count: usize,
    /// Active recording, or null.
    pub recording_id: Option<String>,
}

/// A participant added through the REST API.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantView {
    /// Participant id.
    pub id: String,
    /// Room id.
    pub room_id: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: String,
    /// Whether a socket of this participant is connected.
    pub connected: bool,
}

#[derive(Debug)]
struct ParticipantRecord {
    display_name: String,
    role: String,
}

#[derive(Debug)]
struct Member {
    conn: Arc<Connection>,
    participant_id: String,
    display_name: String,
    role: String,
    hand_raised: bool,
}

#[derive(Debug)]
struct RoomState {
    name: String,
    created_at: OffsetDateTime,
    /// Created or touched through REST: kept when nobody is connected.
    persistent: bool,
    status: RoomStatus,
    recording_id: Option<String>,
    participants: HashMap<String, ParticipantRecord>,
    revoked: HashSet<String>,
    members: Vec<Member>,
    snapshot: Arc<[Arc<Connection>]>,
    /// Removed from the registry; a join that finds this must look the room up again.
    retired: bool,
}

impl RoomState {
    fn refresh_snapshot(&mut self) {
        self.snapshot = self.members.iter().map(|m| m.conn.clone()).collect();
    }

    fn members(&self) -> Members<'_> {
        Members::new(&self.snapshot)
    }

    /// Removes the member with `conn_id`, tells the others why it left, and returns it.
    fn remove_member(
        &mut self,
        key: &RoomKey,
        events: &EventSeam,
        conn_id: ConnId,
        departure: Departure,
    ) -> Option<Member> {
        let index = self.members.iter().position(|m| m.conn.id() == conn_id)?;
        let member = self.members.remove(index);
        self.refresh_snapshot();
        let left = RoomEvent {
            room: key,
            kind: EventKind::Left {
                participant_id: &member.participant_id,
                departure,
            },
            frame: ServerEvent::ParticipantLeft {
                id: &member.participant_id,
            }
            .encode(),
            audience: Audience::Everyone,
        };
        events.publish(left, &self.members());
        Some(member)
    }

    fn is_idle(&self) -> bool {
        !self.persistent && self.members.is_empty()
    }
}

/// One room.
#[derive(Debug)]
pub struct Room {
    key: RoomKey,
    state: Mutex<RoomState>,
    /// Where the room's events are published.
    events: EventSeam,
}

/// Why a join or a REST change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRefusal {
    /// The room was ended.
    Ended,
    /// The participant was removed.
    Removed,
    /// A recording is already running.
    RecordingActive,
    /// No recording is running.
    NoRecording,
    /// The participant is unknown in this room.
    UnknownParticipant,
    /// Cluster mode: the records cannot be read (Redis is unavailable); nothing was decided.
    Unavailable,
}

/// What a [`JoinRule`] decides on: the room and the participant as they stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinFacts {
    /// The room was ended through the REST API.
    pub ended: bool,
    /// The participant was removed from the room through the REST API.
    pub removed: bool,
}

impl JoinFacts {
    /// The production rule: nobody enters an ended room, a removed participant never again.
    pub fn standard_verdict(self) -> Result<(), RoomRefusal> {
        if self.ended {
            return Err(RoomRefusal::Ended);
        }
        if self.removed {
            return Err(RoomRefusal::Removed);
        }
        Ok(())
    }
}

/// The seam of who may enter a room: asked at the handshake (before `101`) and again when the
/// connection joins, under the room's lock (so it must not block). Held by [`Rooms`] as
/// `Arc<dyn JoinRule>` (once per join, a cold path); without one, [`JoinFacts::standard_verdict`]
/// applies.
pub trait JoinRule: Send + Sync + std::fmt::Debug + 'static {
    /// Whether a participant may enter a room with these facts.
    fn admits(&self, facts: JoinFacts) -> Result<(), RoomRefusal>;
}

impl Room {
    fn new(key: RoomKey, name: String, persistent: bool, events: EventSeam) -> Room {
        Room {
            key,
            state: Mutex::new(RoomState {
                name,
                created_at: OffsetDateTime::now_utc(),
                persistent,
                status: RoomStatus::Active,
                recording_id: None,
                participants: HashMap::new(),
                revoked: HashSet::new(),
                members: Vec::new(),
                snapshot: Arc::from(Vec::new()),
                retired: false,
            }),
            events,
        }
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock must not take the room down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The room id.
    pub fn id(&self) -> &str {
        &self.key.room_id
    }

    /// The room's key (tenant and id).
    pub fn key(&self) -> &RoomKey {
        &self.key
    }

    /// What the join rule decides on for `participant_id`.
    fn join_facts(state: &RoomState, participant_id: &str) -> JoinFacts {
        JoinFacts {
            ended: state.status == RoomStatus::Ended,
            removed: state.revoked.contains(participant_id),
        }
    }

    /// Sends a chat message from `sender_id` (on connection `from`) to everyone, the sender
    /// included. The frame is serialised once and shared by all receivers, and the fan-out
    /// happens outside the room's lock.
    pub fn chat(&self, from: ConnId, sender_id: &str, text: &str) {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let timestamp = timestamp_now();
        let frame = ServerEvent::ChatMessage {
            id: &id,
            sender_id,
            text,
            timestamp: &timestamp,
        }
        .encode();
        let receivers = self.lock().snapshot.clone();
        let chat = RoomEvent {
            room: &self.key,
            kind: EventKind::Chat { sender_id, from },
            frame,
            audience: Audience::Everyone,
        };
        self.events.publish(chat, &Members::new(&receivers));
    }

    /// Raises or lowers the hand of the member on `conn_id`; tells everyone on a change.
    pub fn set_hand(&self, conn_id: ConnId, raised: bool) {
        let mut state = self.lock();
        let Some(member) = state.members.iter_mut().find(|m| m.conn.id() == conn_id) else {
            return;
        };
        if member.hand_raised == raised {
            return;
        }
        member.hand_raised = raised;
        let participant_id = member.participant_id.clone();
        let frame = if raised {
            ServerEvent::HandRaised {
                participant_id: &participant_id,
            }
        } else {
            ServerEvent::HandLowered {
                participant_id: &participant_id,
            }
        }
        .encode();
        let hand = RoomEvent {
            room: &self.key,
            kind: EventKind::Hand {
                participant_id: &participant_id,
                from: conn_id,
                raised,
            },
            frame,
            audience: Audience::Everyone,
        };
        self.events.publish(hand, &state.members());
    }

    /// The REST view of the room.
    pub fn view(&self) -> RoomView {
        let state = self.lock();
        Self::view_of(&self.key, &state)
    }

    fn view_of(key: &RoomKey, state: &RoomState) -> RoomView {
        RoomView {
            id: key.room_id.clone(),
            name: state.name.clone(),
            status: state.status,
            created_at: format_timestamp(state.created_at),
            participant_count: state.members.len(),
            connected_count: state.members.len(),
            recording_id: state.recording_id.clone(),
        }
    }

    /// Ends the room: every socket closes with 4004 and later joins are refused.
    pub fn end(&self) -> Result<RoomView, RoomRefusal> {
        let mut state = self.lock();
        if state.status == RoomStatus::Ended {
            return Err(RoomRefusal::Ended);
        }
        state.status = RoomStatus::Ended;
        state.persistent = true;
        state.recording_id = None;
        for member in state.members.drain(..) {
            member.conn.close(CloseReason::RoomEnded);
        }
        state.refresh_snapshot();
        Ok(Self::view_of(&self.key, &state))
    }

    /// Records a participant added through the REST API; returns its id.
    pub fn add_participant(&self, display_name: &str, role: &str) -> Result<String, RoomRefusal> {
        let mut state = self.lock();
        if state.status == RoomStatus::Ended {
            return Err(RoomRefusal::Ended);
        }
        let id = format!("p_{}", uuid::Uuid::new_v4().simple());
        state.participants.insert(
            id.clone(),
            ParticipantRecord {
                display_name: display_name.to_owned(),
                role: role.to_owned(),
            },
        );
        state.persistent = true;
        Ok(id)
    }

    /// A participant added through the REST API, unless it was removed.
    pub fn participant(&self, participant_id: &str) -> Option<ParticipantView> {
        let state = self.lock();
        if state.revoked.contains(participant_id) {
            return None;
        }
        let record = state.participants.get(participant_id)?;
        Some(ParticipantView {
            id: participant_id.to_owned(),
            room_id: self.key.room_id.clone(),
            display_name: record.display_name.clone(),
            role: record.role.clone(),
            connected: state
                .members
                .iter()
                .any(|m| m.participant_id == participant_id),
        })
    }

    /// Removes a participant: its socket closes with 4003, the others see `participant.left`,
    /// and its token is refused from now on. Works for participants known only from a socket.
    pub fn remove_participant(&self, participant_id: &str) -> Result<(), RoomRefusal> {
        let mut state = self.lock();
        let connected = state
            .members
            .iter()
            .find(|m| m.participant_id == participant_id)
            .map(|m| m.conn.clone());
        let known = state.participants.contains_key(participant_id) || connected.is_some();
        if !known || state.revoked.contains(participant_id) {
            return Err(RoomRefusal::UnknownParticipant);
        }
        state.revoked.insert(participant_id.to_owned());
        state.persistent = true;
        if let Some(conn) = connected {
            state.remove_member(&self.key, &self.events, conn.id(), Departure::Removed);
            conn.close(CloseReason::Removed);
        }
        Ok(())
    }

    /// Starts a recording and tells everyone.
    pub fn start_recording(&self) -> Result<String, RoomRefusal> {
        let mut state = self.lock();
        if state.status == RoomStatus::Ended {
            return Err(RoomRefusal::Ended);
        }
        if state.recording_id.is_some() {
            return Err(RoomRefusal::RecordingActive);
        }
        let id = format!("rec_{}", uuid::Uuid::new_v4().simple());
        state.recording_id = Some(id.clone());
        state.persistent = true;
        let started = RoomEvent {
            room: &self.key,
            kind: EventKind::RecordingStarted { recording_id: &id },
            frame: ServerEvent::RecordingStarted { recording_id: &id }.encode(),
            audience: Audience::Everyone,
        };
        self.events.publish(started, &state.members());
        Ok(id)
    }

    /// Stops the running recording and tells everyone.
    pub fn stop_recording(&self) -> Result<String, RoomRefusal> {
        let mut state = self.lock();
        let Some(id) = state.recording_id.take() else {
            return Err(RoomRefusal::NoRecording);
        };
        let stopped = RoomEvent {
            room: &self.key,
            kind: EventKind::RecordingStopped { recording_id: &id },
            frame: ServerEvent::RecordingStopped { recording_id: &id }.encode(),
            audience: Audience::Everyone,
        };
        self.events.publish(stopped, &state.members());
        Ok(id)
    }
}

/// All rooms of all tenants.
#[derive(Debug, Default)]
pub struct Rooms {
    map: RwLock<HashMap<RoomKey, Arc<Room>>>,
    /// Where every room's events are published.
    events: EventSeam,
    /// Who may enter a room; `None`: [`JoinFacts::standard_verdict`].
    join_rule: Option<Arc<dyn JoinRule>>,
}

impl Rooms {
    /// The registry with these seams installed (`None`: the production behaviour).
    pub fn new(events: Option<Arc<dyn RoomEvents>>, join_rule: Option<Arc<dyn JoinRule>>) -> Self {
        Self {
            map: RwLock::default(),
            events: EventSeam::new(events),
            join_rule,
        }
    }

    /// Publishes every room's events through `events` from now on: how cluster mode installs
    /// its bus once connected. Call it before the first room exists (rooms keep the seam they
    /// were created with).
    pub fn publish_through(&mut self, events: Arc<dyn RoomEvents>) {
        self.events = EventSeam::new(Some(events));
    }

    /// Creates a room through the REST API.
    pub fn create(&self, tenant: &str, name: &str) -> RoomView {
        let key = RoomKey {
            tenant: tenant.to_owned(),
            room_id: format!("room_{}", uuid::Uuid::new_v4().simple()),
        };
        let room = self.new_room(key.clone(), name.to_owned(), true);
        let view = room.view();
        self.write().insert(key, room);
        view
    }

    /// The room, if it exists for this tenant (created through REST or currently in use).
    pub fn find(&self, tenant: &str, room_id: &str) -> Option<Arc<Room>> {
        let key = RoomKey {
            tenant: tenant.to_owned(),
            room_id: room_id.to_owned(),
        };
        self.read().get(&key).cloned()
    }

    /// Queues `frame` on every local member of the room of `key`, if it exists here: how a
    /// room-event bus delivers an event published on another node. It takes no [`Audience`]:
    /// an audience names connections of the node that published the event (see
    /// [`Audience`]), and every member of this node is outside the exception it makes.
    pub fn deliver(&self, key: &RoomKey, frame: &Utf8Bytes) {
        let Some(room) = self.read().get(key).cloned() else {
            return;
        };
        let receivers = room.lock().snapshot.clone();
        Members::new(&receivers).deliver(Audience::Everyone, frame);
    }

    /// What the session of `conn` waits for once joined (see
    /// [`crate::events::RoomEvents::settled`]).
    pub fn settled(&self, conn: ConnId) -> Option<crate::events::Settled> {
        self.events.settled(conn)
    }

    /// Whether `participant_id` may (still) join, by the join rule.
    fn admits(&self, state: &RoomState, participant_id: &str) -> Result<(), RoomRefusal> {
        let facts = Room::join_facts(state, participant_id);
        match &self.join_rule {
            None => facts.standard_verdict(),
            Some(rule) => rule.admits(facts),
        }
    }

    /// Checks, without changing anything, whether `identity` may join its room.
    pub fn admission(&self, identity: &Identity) -> Result<(), RoomRefusal> {
        match self.find(&identity.tenant, &identity.room_id) {
            Some(room) => self.admits(&room.lock(), &identity.participant_id),
            None => Ok(()),
        }
    }

    /// Adds the connection to its room (created on first use). The joiner gets `room.state`
    /// first; an older connection of the same participant is closed with 4009 and the others
    /// see its `participant.left`, then the new `participant.joined`.
    pub fn join(
        &self,
        identity: &Identity,
        conn: &Arc<Connection>,
    ) -> Result<Arc<Room>, RoomRefusal> {
        let key = RoomKey {
            tenant: identity.tenant.clone(),
            room_id: identity.room_id.clone(),
        };
        loop {
            let room = self.find_or_create(&key);
            let mut state = room.lock();
            if state.retired {
                continue;
            }
            self.admits(&state, &identity.participant_id)?;
            if let Some(old) = state
                .members
                .iter()
                .find(|m| m.participant_id == identity.participant_id)
                .map(|m| m.conn.clone())
            {
                state.remove_member(&room.key, &room.events, old.id(), Departure::Replaced);
                old.close(CloseReason::Replaced);
            }
            let (display_name, role) = match state.participants.get(&identity.participant_id) {
                Some(record) => (record.display_name.clone(), record.role.clone()),
                None => (
                    identity
                        .display_name
                        .clone()
                        .unwrap_or_else(|| identity.participant_id.clone()),
                    identity
                        .role
                        .clone()
                        .unwrap_or_else(|| "participant".to_owned()),
                ),
            };
            state.members.push(Member {
                conn: conn.clone(),
                participant_id: identity.participant_id.clone(),
                display_name,
                role,
                hand_raised: false,
            });
            state.refresh_snapshot();
            let roster = state
                .members
                .iter()
                .map(|m| RosterEntry {
                    id: &m.participant_id,
                    display_name: &m.display_name,
                    role: &m.role,
                    hand_raised: m.hand_raised,
                })
                .collect();
            let room_state = RoomEvent {
                room: &room.key,
                kind: EventKind::RoomState,
                frame: ServerEvent::RoomState {
                    room_id: &identity.room_id,
                    participants: roster,
                    recording_id: state.recording_id.as_deref(),
                }
                .encode(),
                audience: Audience::Only(conn.id()),
            };
            room.events.publish(room_state, &state.members());
            if let Some(joiner) = state.members.last() {
                let joined = RoomEvent {
                    room: &room.key,
                    kind: EventKind::Joined {
                        participant_id: &joiner.participant_id,
                        conn: conn.id(),
                    },
                    frame: ServerEvent::ParticipantJoined {
                        id: &joiner.participant_id,
                        display_name: &joiner.display_name,
                        role: &joiner.role,
                    }
                    .encode(),
                    audience: Audience::AllBut(conn.id()),
                };
                room.events.publish(joined, &state.members());
            }
            drop(state);
            return Ok(room);
        }
    }

    /// Removes the connection from its room (if it is still a member: a replaced or removed
    /// connection already left) because its session ended for `reason`, and retires the room
    /// when nothing keeps it.
    pub fn leave(&self, room: &Arc<Room>, conn_id: ConnId, reason: CloseReason) {
        let idle = {
            let mut state = room.lock();
            state.remove_member(&room.key, &room.events, conn_id, Departure::Closed(reason));
            state.is_idle()
        };
        if idle {
            let mut map = self.write();
            let mut state = room.lock();
            if state.is_idle() && !state.retired {
                state.retired = true;
                map.remove(&room.key);
            }
        }
    }

    fn find_or_create(&self, key: &RoomKey) -> Arc<Room> {
        if let Some(room) = self.read().get(key) {
            return room.clone();
        }
        self.write()
            .entry(key.clone())
            .or_insert_with(|| self.new_room(key.clone(), key.room_id.clone(), false))
            .clone()
    }

    fn new_room(&self, key: RoomKey, name: String, persistent: bool) -> Arc<Room> {
        Arc::new(Room::new(key, name, persistent, self.events.clone()))
    }

    /// How many rooms are held.
    pub fn count(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(room_id: &str, participant_id: &str) -> Identity {
        Identity {
            tenant: "default".into(),
            room_id: room_id.into(),
            participant_id: participant_id.into(),
            display_name: None,
            role: None,
            expires_at: u64::MAX,
        }
    }

    fn drain(queue: &mut crate::outbound::Receiver) -> Vec<String> {
        std::iter::from_fn(|| queue.try_recv())
            .map(|frame| frame.as_str().to_owned())
            .collect()
    }

    #[test]
    fn an_event_from_another_node_reaches_every_local_member_of_its_room_only() {
        let rooms = Rooms::default();
        let (alice, mut alice_queue) = Connection::new(8);
        let (bob, mut bob_queue) = Connection::new(8);
        let (carol, mut carol_queue) = Connection::new(8);
        rooms.join(&identity("room", "alice"), &alice).unwrap();
        rooms.join(&identity("room", "bob"), &bob).unwrap();
        rooms.join(&identity("other", "carol"), &carol).unwrap();
        for queue in [&mut alice_queue, &mut bob_queue, &mut carol_queue] {
            drain(queue);
        }
        let key = RoomKey {
            tenant: "default".into(),
            room_id: "room".into(),
        };
        let frame = Utf8Bytes::from_static(r#"{"event":"chat.message","data":{}}"#);
        rooms.deliver(&key, &frame);
        assert_eq!(drain(&mut alice_queue), [frame.as_str()]);
        assert_eq!(drain(&mut bob_queue), [frame.as_str()]);
        assert!(drain(&mut carol_queue).is_empty());
        let nowhere = RoomKey {
            tenant: "default".into(),
            room_id: "not-here".into(),
        };
        rooms.deliver(&nowhere, &frame);
        assert!(drain(&mut alice_queue).is_empty());
    }
}
