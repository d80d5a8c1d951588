//! In-memory rooms: membership, presence, fan-out, and the REST-visible room records.
//!
//! Locking: the registry (`RwLock<HashMap>`) is touched only to find, create or retire a room.
//! Each room has its own mutex for its state. Membership changes and their events happen under
//! that mutex, so every member sees them in the same order. Chat fan-out copies the room's member
//! snapshot (an `Arc` of connection handles) under the mutex, releases it, and then queues one
//! shared frame per receiver without blocking (`try_send`); a full queue marks that receiver as
//! a slow consumer and affects nobody else.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc};

use crate::auth::Identity;
use crate::close::CloseReason;
use crate::protocol::{RosterEntry, ServerEvent, format_timestamp, timestamp_now};

/// Id of one WebSocket connection, unique in the process.
pub type ConnId = u64;

/// The handle through which rooms and the shutdown tracker reach one connection.
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    outbound: mpsc::Sender<Utf8Bytes>,
    close_reason: OnceLock<CloseReason>,
    close_requested: Notify,
}

impl Connection {
    /// A new handle and the receiving end of its bounded outbound queue.
    pub fn new(queue: usize) -> (Arc<Connection>, mpsc::Receiver<Utf8Bytes>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (outbound, rx) = mpsc::channel(queue.max(1));
        let conn = Connection {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            outbound,
            close_reason: OnceLock::new(),
            close_requested: Notify::new(),
        };
        (Arc::new(conn), rx)
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues a frame without waiting. A full queue closes the connection as a slow consumer.
    pub fn send(&self, frame: Utf8Bytes) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbound.try_send(frame) {
            self.close(CloseReason::SlowConsumer);
        }
    }

    /// Asks the session to close with `reason`; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        if self.close_reason.set(reason).is_ok() {
            self.close_requested.notify_one();
        }
    }

    /// Resolves once [`Connection::close`] has been called.
    pub async fn close_requested(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.close_reason.get() {
                return *reason;
            }
            self.close_requested.notified().await;
        }
    }
}

/// Key of a room: rooms never cross tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    /// Tenant id.
    pub tenant: String,
    /// Room id.
    pub room_id: String,
}

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

    fn broadcast(&self, frame: &Utf8Bytes) {
        for m in &self.members {
            m.conn.send(frame.clone());
        }
    }

    fn broadcast_except(&self, except: ConnId, frame: &Utf8Bytes) {
        for m in self.members.iter().filter(|m| m.conn.id() != except) {
            m.conn.send(frame.clone());
        }
    }

    /// Removes the member with `conn_id`, tells the others, and returns it.
    fn remove_member(&mut self, conn_id: ConnId) -> Option<Member> {
        let index = self.members.iter().position(|m| m.conn.id() == conn_id)?;
        let member = self.members.remove(index);
        self.refresh_snapshot();
        let left = ServerEvent::ParticipantLeft {
            id: &member.participant_id,
        }
        .encode();
        self.broadcast(&left);
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
}

impl Room {
    fn new(key: RoomKey, name: String, persistent: bool) -> Room {
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

    /// Whether `participant_id` may (still) join.
    fn admits(state: &RoomState, participant_id: &str) -> Result<(), RoomRefusal> {
        if state.status == RoomStatus::Ended {
            return Err(RoomRefusal::Ended);
        }
        if state.revoked.contains(participant_id) {
            return Err(RoomRefusal::Removed);
        }
        Ok(())
    }

    /// Sends a chat message from `sender_id` to everyone, the sender included. The frame is
    /// serialised once and shared by all receivers.
    pub fn chat(&self, sender_id: &str, text: &str) {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let frame = ServerEvent::ChatMessage {
            id: &id,
            sender_id,
            text,
            timestamp: &timestamp_now(),
        }
        .encode();
        let receivers = self.lock().snapshot.clone();
        for conn in receivers.iter() {
            conn.send(frame.clone());
        }
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
        let event = if raised {
            ServerEvent::HandRaised {
                participant_id: &participant_id,
            }
        } else {
            ServerEvent::HandLowered {
                participant_id: &participant_id,
            }
        };
        state.broadcast(&event.encode());
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
            state.remove_member(conn.id());
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
        state.broadcast(&ServerEvent::RecordingStarted { recording_id: &id }.encode());
        Ok(id)
    }

    /// Stops the running recording and tells everyone.
    pub fn stop_recording(&self) -> Result<String, RoomRefusal> {
        let mut state = self.lock();
        let Some(id) = state.recording_id.take() else {
            return Err(RoomRefusal::NoRecording);
        };
        state.broadcast(&ServerEvent::RecordingStopped { recording_id: &id }.encode());
        Ok(id)
    }
}

/// All rooms of all tenants.
#[derive(Debug, Default)]
pub struct Rooms {
    map: RwLock<HashMap<RoomKey, Arc<Room>>>,
}

impl Rooms {
    /// Creates a room through the REST API.
    pub fn create(&self, tenant: &str, name: &str) -> RoomView {
        let key = RoomKey {
            tenant: tenant.to_owned(),
            room_id: format!("room_{}", uuid::Uuid::new_v4().simple()),
        };
        let room = Arc::new(Room::new(key.clone(), name.to_owned(), true));
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

    /// Checks, without changing anything, whether `identity` may join its room.
    pub fn admission(&self, identity: &Identity) -> Result<(), RoomRefusal> {
        match self.find(&identity.tenant, &identity.room_id) {
            Some(room) => Room::admits(&room.lock(), &identity.participant_id),
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
            Room::admits(&state, &identity.participant_id)?;
            if let Some(old) = state
                .members
                .iter()
                .find(|m| m.participant_id == identity.participant_id)
                .map(|m| m.conn.clone())
            {
                state.remove_member(old.id());
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
            let room_state = ServerEvent::RoomState {
                room_id: &identity.room_id,
                participants: roster,
                recording_id: state.recording_id.as_deref(),
            }
            .encode();
            conn.send(room_state);
            let joiner = state.members.last().map(|m| {
                ServerEvent::ParticipantJoined {
                    id: &m.participant_id,
                    display_name: &m.display_name,
                    role: &m.role,
                }
                .encode()
            });
            if let Some(joined) = joiner {
                state.broadcast_except(conn.id(), &joined);
            }
            drop(state);
            return Ok(room);
        }
    }

    /// Removes the connection from its room (if it is still a member: a replaced or removed
    /// connection already left) and retires the room when nothing keeps it.
    pub fn leave(&self, room: &Arc<Room>, conn_id: ConnId) {
        let idle = {
            let mut state = room.lock();
            state.remove_member(conn_id);
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
            .or_insert_with(|| Arc::new(Room::new(key.clone(), key.room_id.clone(), false)))
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}
