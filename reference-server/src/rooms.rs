//! In-memory rooms: membership, presence, fan-out, and the REST-visible room records.
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
#[cfg(feature = "faults")]
use crate::faults::{Fault, Faults, data_of, rewrite};
use crate::protocol::{RosterEntry, ServerEvent, format_timestamp, timestamp_now};

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
    /// Leaves without `participant.left` (`no-left`, `left-only-on-clean-close`).
    #[cfg(feature = "faults")]
    quiet: bool,
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
    /// Faults injected on purpose (feature `faults` only), for what happens under the lock.
    #[cfg(feature = "faults")]
    faults: Faults,
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
        #[cfg(feature = "faults")]
        if member.quiet {
            return Some(member);
        }
        let left = ServerEvent::ParticipantLeft {
            id: &member.participant_id,
        }
        .encode();
        #[cfg(feature = "faults")]
        let left = if self.faults.has(Fault::FieldsOutsideData) {
            rewrite(&left, |event| {
                event.insert("id".into(), member.participant_id.clone().into());
            })
        } else {
            left
        };
        self.broadcast(&left);
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::DoubleLeft) {
            self.broadcast(&left);
        }
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
    /// Faults injected on purpose (feature `faults` only).
    #[cfg(feature = "faults")]
    faults: Faults,
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
                #[cfg(feature = "faults")]
                faults: Faults::default(),
            }),
            #[cfg(feature = "faults")]
            faults: Faults::default(),
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
        #[cfg(feature = "faults")]
        if let Some(verdict) = state.tolerant_admission(participant_id) {
            return verdict;
        }
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
        let timestamp = timestamp_now();
        #[cfg(feature = "faults")]
        let (faults, author) = (self.faults, sender_id);
        #[cfg(feature = "faults")]
        let (id, sender_id, timestamp) = (
            if faults.has(Fault::ConstantMessageId) {
                "msg_1".to_owned()
            } else {
                id
            },
            if faults.has(Fault::WrongSenderId) {
                "p_unknown"
            } else {
                sender_id
            },
            crate::faults::chat_timestamp(faults, timestamp),
        );
        #[cfg(feature = "faults")]
        let text: &str = &if faults.has(Fault::DropNonAscii) {
            text.chars().filter(char::is_ascii).collect()
        } else {
            text.to_owned()
        };
        let frame = ServerEvent::ChatMessage {
            id: &id,
            sender_id,
            text,
            timestamp: &timestamp,
        }
        .encode();
        #[cfg(feature = "faults")]
        let frame = if faults.has(Fault::NoTimestamp) {
            rewrite(&frame, |event| {
                data_of(event).map(|data| data.remove("timestamp"));
            })
        } else {
            frame
        };
        let receivers = self.lock().snapshot.clone();
        #[cfg(feature = "faults")]
        let receivers = self.chat_receivers(receivers, author);
        for conn in receivers.iter() {
            #[cfg(feature = "faults")]
            let frame = if faults.has(Fault::PerReceiverMessageId) {
                rewrite(&frame, |event| {
                    let fresh = format!("msg_{}", uuid::Uuid::new_v4().simple());
                    data_of(event).map(|data| data.insert("id".into(), fresh.into()));
                })
            } else {
                frame.clone()
            };
            conn.send(frame.clone());
            #[cfg(feature = "faults")]
            if faults.has(Fault::DuplicateDelivery) {
                conn.send(frame.clone());
            }
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
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::NoHandEvents) {
            return;
        }
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
        #[cfg(feature = "faults")]
        let id = if self.faults.has(Fault::ReuseRecordingId) {
            format!("rec_{}", self.key.room_id)
        } else {
            id
        };
        state.recording_id = Some(id.clone());
        state.persistent = true;
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::NoRecordingStarted) {
            return Ok(id);
        }
        let started = ServerEvent::RecordingStarted { recording_id: &id }.encode();
        #[cfg(feature = "faults")]
        let started = if self.faults.has(Fault::RecordingIdNumber) {
            rewrite(&started, |event| {
                data_of(event).map(|data| data.insert("recording_id".into(), 12345.into()));
            })
        } else {
            started
        };
        state.broadcast(&started);
        Ok(id)
    }

    /// Stops the running recording and tells everyone.
    pub fn stop_recording(&self) -> Result<String, RoomRefusal> {
        let mut state = self.lock();
        let Some(id) = state.recording_id.take() else {
            return Err(RoomRefusal::NoRecording);
        };
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::NoRecordingStopped) {
            return Ok(id);
        }
        let stopped = ServerEvent::RecordingStopped { recording_id: &id }.encode();
        #[cfg(feature = "faults")]
        let stopped = if self.faults.has(Fault::MismatchedRecordingId) {
            rewrite(&stopped, |event| {
                let fresh = format!("rec_{}", uuid::Uuid::new_v4().simple());
                data_of(event).map(|data| data.insert("recording_id".into(), fresh.into()));
            })
        } else if self.faults.has(Fault::StoppedIdNumber) {
            rewrite(&stopped, |event| {
                data_of(event).map(|data| data.insert("recording_id".into(), 12345.into()));
            })
        } else {
            stopped
        };
        state.broadcast(&stopped);
        Ok(id)
    }
}

/// All rooms of all tenants.
#[derive(Debug, Default)]
pub struct Rooms {
    map: RwLock<HashMap<RoomKey, Arc<Room>>>,
    /// Faults injected into every room created (feature `faults` only).
    #[cfg(feature = "faults")]
    faults: Faults,
    /// Some client sent bad input (for `stop-accepting-after-garbage`).
    #[cfg(feature = "faults")]
    garbage_seen: std::sync::atomic::AtomicBool,
}

impl Rooms {
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
            #[cfg(feature = "faults")]
            let faults = state.faults;
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
            #[cfg(feature = "faults")]
            let (display_name, role) = if faults.has(Fault::JoinedFieldsFromNowhere) {
                (identity.participant_id.clone(), "participant".to_owned())
            } else {
                (display_name, role)
            };
            state.members.push(Member {
                conn: conn.clone(),
                participant_id: identity.participant_id.clone(),
                display_name,
                role,
                hand_raised: false,
                #[cfg(feature = "faults")]
                quiet: false,
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
            #[cfg(not(feature = "faults"))]
            conn.send(room_state);
            #[cfg(feature = "faults")]
            if !faults.has(Fault::NoRoomState) {
                conn.send(room_state);
            }
            let joiner = state.members.last().map(|m| {
                ServerEvent::ParticipantJoined {
                    id: &m.participant_id,
                    display_name: &m.display_name,
                    role: &m.role,
                }
                .encode()
            });
            #[cfg(feature = "faults")]
            let joiner = joiner.and_then(|joined| mistreat_joined(faults, joined, conn));
            if let Some(joined) = &joiner {
                state.broadcast_except(conn.id(), joined);
            }
            drop(state);
            #[cfg(feature = "faults")]
            if let Some(joined) = &joiner
                && faults.has(Fault::PresenceAcrossRooms)
            {
                self.broadcast_elsewhere(&key, joined);
            }
            return Ok(room);
        }
    }

    /// Removes the connection from its room (if it is still a member: a replaced or removed
    /// connection already left) and retires the room when nothing keeps it.
    pub fn leave(&self, room: &Arc<Room>, conn_id: ConnId) {
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::PresenceAcrossRooms)
            && let Some(participant_id) = room.announced_departure(conn_id)
        {
            let left = ServerEvent::ParticipantLeft {
                id: &participant_id,
            }
            .encode();
            self.broadcast_elsewhere(&room.key, &left);
        }
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
            .or_insert_with(|| self.new_room(key.clone(), key.room_id.clone(), false))
            .clone()
    }

    fn new_room(&self, key: RoomKey, name: String, persistent: bool) -> Arc<Room> {
        let room = Room::new(key, name, persistent);
        #[cfg(feature = "faults")]
        let room = room.with_faults(self.faults);
        Arc::new(room)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RoomKey, Arc<Room>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `no-joined`, `wrong-joined-id`, `misspelled-event`, `joined-to-self`: what becomes of the
/// `participant.joined` about `conn`'s participant (`None`: nobody hears of it).
#[cfg(feature = "faults")]
fn mistreat_joined(faults: Faults, joined: Utf8Bytes, conn: &Connection) -> Option<Utf8Bytes> {
    if faults.has(Fault::NoJoined) {
        return None;
    }
    let mut joined = joined;
    if faults.has(Fault::WrongJoinedId) {
        joined = rewrite(&joined, |event| {
            data_of(event)
                .map(|data| data.insert("id".into(), format!("conn_{}", conn.id()).into()));
        });
    }
    if faults.has(Fault::MisspelledEvent) {
        joined = rewrite(&joined, |event| {
            event.insert("event".into(), "participant.join".into());
        });
    }
    if faults.has(Fault::JoinedToSelf) {
        conn.send(joined.clone());
    }
    Some(joined)
}

/// The rooms' injected faults (feature `faults` only).
#[cfg(feature = "faults")]
impl RoomState {
    /// `join-ended-room` and `readmit-removed`: the admission with those checks skipped, or
    /// `None` when neither is injected.
    fn tolerant_admission(&self, participant_id: &str) -> Option<Result<(), RoomRefusal>> {
        let join_ended = self.faults.has(Fault::JoinEndedRoom);
        let readmit = self.faults.has(Fault::ReadmitRemoved);
        if !join_ended && !readmit {
            return None;
        }
        if self.status == RoomStatus::Ended && !join_ended {
            return Some(Err(RoomRefusal::Ended));
        }
        if self.revoked.contains(participant_id) && !readmit {
            return Some(Err(RoomRefusal::Removed));
        }
        Some(Ok(()))
    }
}

/// The rooms' injected faults (feature `faults` only).
#[cfg(feature = "faults")]
impl Room {
    fn with_faults(mut self, faults: Faults) -> Room {
        self.faults = faults;
        self.state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .faults = faults;
        self
    }

    /// The faults injected into this room.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// `no-chat-delivery` (the sender only) and `no-chat-echo` (everyone but the sender).
    fn chat_receivers(
        &self,
        all: Arc<[Arc<Connection>]>,
        sender_id: &str,
    ) -> Arc<[Arc<Connection>]> {
        let keep_sender = if self.faults.has(Fault::NoChatDelivery) {
            true
        } else if self.faults.has(Fault::NoChatEcho) {
            false
        } else {
            return all;
        };
        let state = self.lock();
        state
            .members
            .iter()
            .filter(|m| (m.participant_id == sender_id) == keep_sender)
            .map(|m| m.conn.clone())
            .collect()
    }

    /// Marks the member on `conn_id` as leaving quietly when `reason` calls for it under
    /// `no-left` (a clean close) or `left-only-on-clean-close` (a dropped connection).
    pub fn prepare_departure(&self, conn_id: ConnId, reason: CloseReason) {
        let quiet = (reason == CloseReason::ClientClosed && self.faults.has(Fault::NoLeft))
            || (reason == CloseReason::ConnectionLost
                && self.faults.has(Fault::LeftOnlyOnCleanClose));
        if quiet
            && let Some(member) = self
                .lock()
                .members
                .iter_mut()
                .find(|m| m.conn.id() == conn_id)
        {
            member.quiet = true;
        }
    }

    /// The participant on `conn_id`, if it is a member whose departure will be announced.
    fn announced_departure(&self, conn_id: ConnId) -> Option<String> {
        let state = self.lock();
        let member = state.members.iter().find(|m| m.conn.id() == conn_id)?;
        (!member.quiet).then(|| member.participant_id.clone())
    }

    /// Closes every connection of the room (`garbage-closes-room` and its kin).
    pub fn close_all(&self, reason: CloseReason) {
        for member in &self.lock().members {
            member.conn.close(reason);
        }
    }
}

/// The registry's injected faults (feature `faults` only).
#[cfg(feature = "faults")]
impl Rooms {
    /// The registry with `faults` injected into every room it creates.
    pub fn with_faults(mut self, faults: Faults) -> Rooms {
        self.faults = faults;
        self
    }

    /// Records that some client sent bad input.
    pub fn note_garbage(&self) {
        self.garbage_seen
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether some client sent bad input.
    pub fn garbage_seen(&self) -> bool {
        self.garbage_seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `announce-refused`: tells the room a refused token names that its participant joined.
    pub fn announce_refused(&self, token: &str) {
        let Ok(claims) =
            jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
        else {
            return;
        };
        let tenant = claims["tenant_id"]
            .as_str()
            .unwrap_or(crate::config::DEFAULT_TENANT);
        let (Some(room_id), Some(participant_id)) = (
            claims["room_id"].as_str(),
            claims["participant_id"].as_str(),
        ) else {
            return;
        };
        if let Some(room) = self.find(tenant, room_id) {
            let joined = ServerEvent::ParticipantJoined {
                id: participant_id,
                display_name: participant_id,
                role: "participant",
            }
            .encode();
            room.lock().broadcast(&joined);
        }
    }

    /// Sends `frame` to every member of every other room of `key`'s tenant.
    pub fn broadcast_elsewhere(&self, key: &RoomKey, frame: &Utf8Bytes) {
        let others: Vec<Arc<Room>> = self
            .read()
            .iter()
            .filter(|(k, _)| k.tenant == key.tenant && k.room_id != key.room_id)
            .map(|(_, room)| room.clone())
            .collect();
        for room in others {
            room.lock().broadcast(frame);
        }
    }

    /// `chat-across-rooms`: the chat message sent in every room of `room`'s tenant.
    pub fn chat_everywhere(&self, room: &Room, sender_id: &str, text: &str) {
        let all: Vec<Arc<Room>> = self
            .read()
            .iter()
            .filter(|(k, _)| k.tenant == room.key.tenant)
            .map(|(_, room)| room.clone())
            .collect();
        for room in all {
            room.chat(sender_id, text);
        }
    }
}
