//! Faults of rooms: [`FaultyJoinRule`] lets the ended and the removed back in, and
//! [`FaultyEvents`], on the room-event seam, decides what of a room's events reaches whom:
//! events dropped, rewritten, duplicated, sent to the wrong members or to other rooms. It also
//! plays the allowed variations of that seam: late delivery ([`Latency`]), other id and
//! timestamp styles, events the page does not name, and an initial roster for the newcomer.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chalk_reference_server::close::CloseReason;
use chalk_reference_server::connection::{ConnId, Connection};
use chalk_reference_server::events::{
    Audience, Departure, EventKind, Members, RoomEvent, RoomEvents,
};
use chalk_reference_server::rooms::{JoinFacts, JoinRule, RoomKey, RoomRefusal};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::directory::Directory;
use crate::fault::{Fault, Faults};
use crate::rewrite::{data_of, rewrite};

/// The join rule with `join-ended-room` and `readmit-removed`.
#[derive(Debug)]
pub struct FaultyJoinRule {
    faults: Faults,
}

impl FaultyJoinRule {
    /// The rule of `faults`.
    pub fn new(faults: Faults) -> Self {
        Self { faults }
    }
}

impl JoinRule for FaultyJoinRule {
    fn admits(&self, facts: JoinFacts) -> Result<(), RoomRefusal> {
        JoinFacts {
            ended: facts.ended && !self.faults.has(Fault::JoinEndedRoom),
            removed: facts.removed && !self.faults.has(Fault::ReadmitRemoved),
        }
        .standard_verdict()
    }
}

/// How many members `fanout-cap` lets a room's events reach.
const FANOUT_CAP: usize = 16;
/// How many characters of a chat text `truncate-long-text` keeps.
const TRUNCATED_TEXT_CHARS: usize = 1024;
/// How long after the original the late duplicates (`duplicate-joined`,
/// `late-duplicate-recording-started`) come.
const LATE_DUPLICATE: Duration = Duration::from_millis(50);

/// The room-event seam with the event faults of a set.
#[derive(Debug)]
pub struct FaultyEvents {
    faults: Faults,
    /// Live sessions, for the faults that reach other rooms.
    directory: Arc<Directory>,
    /// `delivery-latency`: the queue of late deliveries.
    latency: Latency,
    /// `other-id-styles`: the UUID each recording id of the server is shown as.
    recording_ids: Mutex<HashMap<String, String>>,
    /// `no-rejoin-announce`: the participants that have left each room (a replaced connection
    /// does not count: its participant is still there).
    departed: Mutex<HashSet<(RoomKey, String)>>,
    /// `second-recording-silent`: the rooms that have had a recording, and the recordings kept
    /// silent.
    recorded: Mutex<(HashSet<RoomKey>, HashSet<String>)>,
}

impl FaultyEvents {
    /// The seam of `faults`.
    pub fn new(faults: Faults, directory: Arc<Directory>) -> Self {
        Self {
            faults,
            directory,
            latency: Latency::default(),
            recording_ids: Mutex::default(),
            departed: Mutex::default(),
            recorded: Mutex::default(),
        }
    }

    /// `room-id-case-insensitive` and `room-prefix-match`: `frame` also goes to the rooms whose
    /// id looks like `room`'s.
    fn misroute(&self, room: &RoomKey, frame: &Utf8Bytes) {
        if self.has(Fault::RoomIdCaseInsensitive) {
            self.directory.send_to_lookalikes(
                room,
                |ours, theirs| ours.eq_ignore_ascii_case(theirs),
                frame,
            );
        }
        if self.has(Fault::RoomPrefixMatch) {
            self.directory.send_to_lookalikes(
                room,
                |ours, theirs| theirs.starts_with(ours) || ours.starts_with(theirs),
                frame,
            );
        }
    }

    /// `no-rejoin-announce`: whether `participant_id` has left `room` before.
    fn left_before(&self, room: &RoomKey, participant_id: &str) -> bool {
        self.has(Fault::NoRejoinAnnounce)
            && self
                .departed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&(room.clone(), participant_id.to_owned()))
    }

    /// `no-rejoin-announce`: notes a departure (a replacement is none).
    fn note_departure(&self, room: &RoomKey, participant_id: &str, departure: Departure) {
        if self.has(Fault::NoRejoinAnnounce) && departure != Departure::Replaced {
            self.departed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((room.clone(), participant_id.to_owned()));
        }
    }

    /// `second-recording-silent`: whether the recording event is kept from the room.
    fn recording_silenced(&self, room: &RoomKey, recording_id: &str, started: bool) -> bool {
        if !self.has(Fault::SecondRecordingSilent) {
            return false;
        }
        let mut recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        let (rooms, silenced) = &mut *recorded;
        if started && !rooms.insert(room.clone()) {
            silenced.insert(recording_id.to_owned());
        }
        silenced.contains(recording_id)
    }

    fn has(&self, fault: Fault) -> bool {
        self.faults.has(fault)
    }

    /// `joined-fields-from-nowhere` and `reuse-recording-id` in the joiner's `room.state`.
    fn room_state(&self, frame: Utf8Bytes, room_id: &str) -> Option<Utf8Bytes> {
        if self.has(Fault::NoRoomState) {
            return None;
        }
        let mut frame = frame;
        if self.has(Fault::JoinedFieldsFromNowhere) {
            frame = rewrite(&frame, |event| {
                let roster = data_of(event)
                    .and_then(|data| data.get_mut("participants"))
                    .and_then(Value::as_array_mut);
                for entry in roster
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object_mut)
                {
                    let id = entry.get("id").cloned().unwrap_or(Value::Null);
                    entry.insert("display_name".into(), id);
                    entry.insert("role".into(), "participant".into());
                }
            });
        }
        if self.has(Fault::RoleAlwaysParticipant) {
            frame = rewrite(&frame, |event| {
                let roster = data_of(event)
                    .and_then(|data| data.get_mut("participants"))
                    .and_then(Value::as_array_mut);
                for entry in roster
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object_mut)
                {
                    entry.insert("role".into(), "participant".into());
                }
            });
        }
        if self.has(Fault::ReuseRecordingId) {
            frame = rewrite(&frame, |event| {
                if let Some(data) = data_of(event)
                    && data.get("recording_id").is_some_and(|id| !id.is_null())
                {
                    data.insert("recording_id".into(), format!("rec_{room_id}").into());
                }
            });
        }
        Some(frame)
    }

    /// `no-joined`, `wrong-joined-id`, `misspelled-event`, `joined-fields-from-nowhere`: what
    /// becomes of the `participant.joined` about the member on `conn`.
    fn joined(&self, frame: Utf8Bytes, conn: ConnId) -> Option<Utf8Bytes> {
        if self.has(Fault::NoJoined) {
            return None;
        }
        let mut frame = frame;
        if self.has(Fault::WrongJoinedId) {
            frame = rewrite(&frame, |event| {
                data_of(event).map(|data| data.insert("id".into(), format!("conn_{conn}").into()));
            });
        }
        if self.has(Fault::MisspelledEvent) {
            frame = rewrite(&frame, |event| {
                event.insert("event".into(), "participant.join".into());
            });
        }
        if self.has(Fault::JoinedFieldsFromNowhere) {
            frame = rewrite(&frame, |event| {
                if let Some(data) = data_of(event) {
                    let id = data.get("id").cloned().unwrap_or(Value::Null);
                    data.insert("display_name".into(), id);
                    data.insert("role".into(), "participant".into());
                }
            });
        }
        if self.has(Fault::RoleAlwaysParticipant) {
            frame = rewrite(&frame, |event| {
                data_of(event).map(|data| data.insert("role".into(), "participant".into()));
            });
        }
        Some(frame)
    }

    /// `no-left` (a clean close) and `left-only-on-clean-close` (a dropped connection): whether
    /// a departure goes unannounced.
    fn quiet(&self, departure: Departure) -> bool {
        (departure == Departure::Closed(CloseReason::ClientClosed) && self.has(Fault::NoLeft))
            || (departure == Departure::Closed(CloseReason::ConnectionLost)
                && self.has(Fault::LeftOnlyOnCleanClose))
    }

    /// The chat faults that rewrite the message for everyone.
    fn chat(&self, frame: Utf8Bytes) -> Utf8Bytes {
        let rewrites = [
            Fault::ConstantMessageId,
            Fault::WrongSenderId,
            Fault::DropNonAscii,
            Fault::TimestampNotRfc3339,
            Fault::LocalTimeTimestamp,
            Fault::NoTimestamp,
            Fault::TruncateLongText,
        ];
        if !rewrites.into_iter().any(|fault| self.has(fault)) {
            return frame;
        }
        rewrite(&frame, |event| {
            let Some(data) = data_of(event) else { return };
            if self.has(Fault::ConstantMessageId) {
                data.insert("id".into(), "msg_1".into());
            }
            if self.has(Fault::WrongSenderId) {
                data.insert("sender_id".into(), "p_unknown".into());
            }
            if self.has(Fault::DropNonAscii)
                && let Some(Value::String(text)) = data.get_mut("text")
            {
                text.retain(|c| c.is_ascii());
            }
            if let Some(timestamp) = self.chat_timestamp() {
                data.insert("timestamp".into(), timestamp.into());
            }
            if self.has(Fault::NoTimestamp) {
                data.remove("timestamp");
            }
            if self.has(Fault::TruncateLongText)
                && let Some(Value::String(text)) = data.get_mut("text")
                && let Some((cut, _)) = text.char_indices().nth(TRUNCATED_TEXT_CHARS)
            {
                text.truncate(cut);
            }
        })
    }

    /// The `chat.message` timestamp under `timestamp-not-rfc3339` or `local-time-timestamp`.
    fn chat_timestamp(&self) -> Option<String> {
        let now = time::OffsetDateTime::now_utc();
        if self.has(Fault::TimestampNotRfc3339) {
            return Some(format!(
                "{:02}:{:02}:{:02}",
                now.hour(),
                now.minute(),
                now.second()
            ));
        }
        if !self.has(Fault::LocalTimeTimestamp) {
            return None;
        }
        let local =
            now.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap_or(time::UtcOffset::UTC));
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+02:00",
            local.year(),
            u8::from(local.month()),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            local.millisecond()
        ))
    }

    /// `recording-id-number`, `stopped-id-number`, `mismatched-recording-id` and
    /// `reuse-recording-id`: the recording id a recording event names.
    fn recording(&self, frame: Utf8Bytes, room_id: &str, started: bool) -> Utf8Bytes {
        let id: Option<Value> = if started && self.has(Fault::RecordingIdNumber)
            || !started && self.has(Fault::StoppedIdNumber)
        {
            Some(12345.into())
        } else if !started && self.has(Fault::MismatchedRecordingId) {
            Some(format!("rec_{}", uuid::Uuid::new_v4().simple()).into())
        } else if self.has(Fault::ReuseRecordingId) {
            Some(format!("rec_{room_id}").into())
        } else {
            None
        };
        match id {
            None => frame,
            Some(id) => rewrite(&frame, |event| {
                data_of(event).map(|data| data.insert("recording_id".into(), id));
            }),
        }
    }
}

/// The allowed variations of the room-event seam.
impl FaultyEvents {
    /// `other-id-styles`: a chat message's id as a bare UUID and its timestamp with
    /// microseconds and `+00:00`; recording ids as bare UUIDs (the same UUID for the same
    /// recording in every event).
    fn restyled<'a>(&self, event: RoomEvent<'a>) -> RoomEvent<'a> {
        if !self.has(Fault::OtherIdStyles) {
            return event;
        }
        let frame = match event.kind {
            EventKind::Chat { .. } => rewrite(&event.frame, |object| {
                let Some(data) = data_of(object) else { return };
                data.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
                let now = time::OffsetDateTime::now_utc();
                data.insert("timestamp".into(), offset_time(now).into());
            }),
            EventKind::RoomState
            | EventKind::RecordingStarted { .. }
            | EventKind::RecordingStopped { .. } => rewrite(&event.frame, |object| {
                let Some(data) = data_of(object) else { return };
                if let Some(Value::String(id)) = data.get("recording_id") {
                    let shown = self.recording_uuid(id);
                    data.insert("recording_id".into(), shown.into());
                }
            }),
            _ => event.frame,
        };
        RoomEvent { frame, ..event }
    }

    /// The UUID `other-id-styles` shows the server's recording `id` as.
    fn recording_uuid(&self, id: &str) -> String {
        let mut ids = self.recording_ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.entry(id.to_owned())
            .or_insert_with(|| uuid::Uuid::new_v4().to_string())
            .clone()
    }

    /// `initial-roster` and `unknown-server-events`: what the joiner receives after its
    /// `room.state` (whose roster lists the members already present, then the joiner).
    fn after_room_state(&self, room_state: &Utf8Bytes, audience: Audience, members: &Members<'_>) {
        if self.has(Fault::InitialRoster) {
            let state: Value = serde_json::from_str(room_state.as_str()).unwrap_or_default();
            let roster = state
                .pointer("/data/participants")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let present = &roster[..roster.len().saturating_sub(1)];
            for member in present {
                let joined = json!({"event": "participant.joined", "data": {
                    "id": member.get("id"),
                    "display_name": member.get("display_name"),
                    "role": member.get("role"),
                }});
                members.deliver(audience, &Utf8Bytes::from(joined.to_string()));
            }
        }
        if self.has(Fault::UnknownServerEvents) {
            let notice = json!({"event": "room.notice", "data": {"text": "Welcome!"}});
            members.deliver(audience, &Utf8Bytes::from(notice.to_string()));
        }
    }
}

/// An RFC 3339 UTC time with milliseconds and `Z`, as the reference server writes them.
fn protocol_time(at: time::OffsetDateTime) -> String {
    chalk_reference_server::protocol::format_timestamp(at)
}

/// An RFC 3339 UTC time with microseconds and the offset written `+00:00`.
fn offset_time(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

/// How late `delivery-latency` delivers every room event: longer than the suite's default quiet
/// window (300 ms), well within its default event deadline (2 s).
pub const LATENCY: Duration = Duration::from_millis(500);

/// One delivery `delivery-latency` holds back.
struct LateDelivery {
    due: Instant,
    audience: Audience,
    frame: Utf8Bytes,
    members: Vec<Arc<Connection>>,
}

/// `delivery-latency`: every room event is queued, with the members it is for at the time of
/// the event, and delivered [`LATENCY`] later by one task, in the order of the queue. Events are
/// queued under their room's lock, so each room's order (and so each member's) is kept.
#[derive(Debug, Default)]
pub struct Latency {
    queue: OnceLock<mpsc::UnboundedSender<LateDelivery>>,
}

impl Latency {
    /// Queues `frame` for `audience` among `members`, to be delivered [`LATENCY`] from now.
    fn deliver_later(&self, audience: Audience, frame: Utf8Bytes, members: &Members<'_>) {
        let queue = self.queue.get_or_init(|| {
            let (sender, mut receiver) = mpsc::unbounded_channel::<LateDelivery>();
            tokio::spawn(async move {
                while let Some(late) = receiver.recv().await {
                    tokio::time::sleep_until(late.due).await;
                    Members::new(&late.members).deliver(late.audience, &late.frame);
                }
            });
            sender
        });
        let _ = queue.send(LateDelivery {
            due: Instant::now() + LATENCY,
            audience,
            frame,
            members: members.connections().to_vec(),
        });
    }
}

impl RoomEvents for FaultyEvents {
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        if self.has(Fault::DeliveryLatency) {
            self.latency
                .deliver_later(event.audience, event.frame, members);
            return;
        }
        let event = self.restyled(event);
        let RoomEvent {
            room,
            kind,
            frame,
            audience,
        } = event;
        let all = members.connections();
        let capped = Members::new(&all[..all.len().min(FANOUT_CAP)]);
        let members = if self.has(Fault::FanoutCap) {
            &capped
        } else {
            members
        };
        match kind {
            EventKind::RoomState => {
                if let Some(frame) = self.room_state(frame, &room.room_id) {
                    members.deliver(audience, &frame);
                    self.after_room_state(&frame, audience, members);
                }
            }
            EventKind::Joined {
                conn,
                participant_id,
            } => {
                if self.left_before(room, participant_id) {
                    return;
                }
                let Some(frame) = self.joined(frame, conn) else {
                    return;
                };
                let audience = if self.has(Fault::JoinedToSelf) {
                    Audience::Everyone
                } else {
                    audience
                };
                members.deliver(audience, &frame);
                if self.has(Fault::DuplicateJoined) {
                    deliver_later(members, audience, &frame);
                }
                if self.has(Fault::PresenceAcrossRooms) {
                    self.directory.send_elsewhere(room, &frame);
                }
                self.misroute(room, &frame);
            }
            EventKind::Left {
                departure,
                participant_id,
            } => {
                self.note_departure(room, participant_id, departure);
                // Asked first, so that a departure noted as quiet is forgotten in any case.
                let kept_quiet = departure == Departure::Closed(CloseReason::ClientClosed)
                    && self.directory.departure_kept_quiet(room, participant_id);
                if self.quiet(departure) || kept_quiet {
                    return;
                }
                let frame = if self.has(Fault::FieldsOutsideData) {
                    rewrite(&frame, |event| {
                        let id = data_of(event).and_then(|data| data.remove("id"));
                        event.insert("id".into(), id.unwrap_or(Value::Null));
                    })
                } else {
                    frame
                };
                members.deliver(audience, &frame);
                if self.has(Fault::DoubleLeft) {
                    members.deliver(audience, &frame);
                }
                if self.has(Fault::PresenceAcrossRooms) {
                    self.directory.send_elsewhere(room, &frame);
                }
                self.misroute(room, &frame);
            }
            EventKind::Chat { from, .. } => {
                let frame = self.chat(frame);
                let audience = if self.has(Fault::NoChatDelivery) {
                    Audience::Only(from)
                } else if self.has(Fault::NoChatEcho) {
                    Audience::AllBut(from)
                } else {
                    audience
                };
                if self.has(Fault::PerReceiverMessageId) {
                    for conn in members.connections() {
                        if audience.includes(conn.id()) {
                            conn.send(rewrite(&frame, |event| {
                                let fresh = format!("msg_{}", uuid::Uuid::new_v4().simple());
                                data_of(event).map(|data| data.insert("id".into(), fresh.into()));
                            }));
                        }
                    }
                } else {
                    members.deliver(audience, &frame);
                }
                if self.has(Fault::DuplicateDelivery) {
                    members.deliver(audience, &frame);
                }
                if self.has(Fault::ChatAcrossRooms) {
                    self.directory.send_elsewhere(room, &frame);
                }
                if self.has(Fault::UnknownServerEvents) {
                    let now = protocol_time(time::OffsetDateTime::now_utc());
                    let tick = json!({"event": "server.time", "data": {"now": now}});
                    members.deliver(audience, &Utf8Bytes::from(tick.to_string()));
                }
                self.misroute(room, &frame);
            }
            EventKind::Hand { .. } => {
                if !self.has(Fault::NoHandEvents) {
                    members.deliver(audience, &frame);
                }
            }
            EventKind::RecordingStarted { recording_id } => {
                if self.has(Fault::NoRecordingStarted)
                    || self.recording_silenced(room, recording_id, true)
                {
                    return;
                }
                let frame = self.recording(frame, &room.room_id, true);
                members.deliver(audience, &frame);
                if self.has(Fault::LateDuplicateRecordingStarted) {
                    deliver_later(members, audience, &frame);
                }
                if self.has(Fault::RecordingAcrossRooms) {
                    self.directory.send_elsewhere(room, &frame);
                }
                self.misroute(room, &frame);
            }
            EventKind::RecordingStopped { recording_id } => {
                if !self.has(Fault::NoRecordingStopped)
                    && !self.recording_silenced(room, recording_id, false)
                {
                    let frame = self.recording(frame, &room.room_id, false);
                    members.deliver(audience, &frame);
                    self.misroute(room, &frame);
                }
            }
            _ => members.deliver(audience, &frame),
        }
    }
}

/// Queues `frame` again on every member of `audience`, [`LATE_DUPLICATE`] from now (on the
/// server's runtime; without one, nothing is sent).
fn deliver_later(members: &Members<'_>, audience: Audience, frame: &Utf8Bytes) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let receivers: Vec<_> = members
        .connections()
        .iter()
        .filter(|conn| audience.includes(conn.id()))
        .cloned()
        .collect();
    let frame = frame.clone();
    runtime.spawn(async move {
        tokio::time::sleep(LATE_DUPLICATE).await;
        for conn in receivers {
            conn.send(frame.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use chalk_reference_server::connection::Connection;

    use super::*;

    #[test]
    fn readmit_removed_opens_the_door_to_the_removed_only() {
        let rule = FaultyJoinRule::new(Faults::from(Fault::ReadmitRemoved));
        let facts = |ended, removed| JoinFacts { ended, removed };
        assert_eq!(rule.admits(facts(false, true)), Ok(()));
        assert_eq!(rule.admits(facts(true, false)), Err(RoomRefusal::Ended));
    }

    #[test]
    fn no_chat_echo_leaves_the_sender_out_and_duplicate_delivery_sends_twice() {
        let (alice, mut to_alice) = Connection::new(8);
        let (bob, mut to_bob) = Connection::new(8);
        let members = [alice.clone(), bob];
        let faults = [Fault::NoChatEcho, Fault::DuplicateDelivery]
            .into_iter()
            .collect();
        let events = FaultyEvents::new(faults, Arc::new(Directory::default()));
        let room = RoomKey {
            tenant: "default".to_owned(),
            room_id: "room".to_owned(),
        };
        let chat = RoomEvent {
            room: &room,
            kind: EventKind::Chat {
                sender_id: "alice",
                from: alice.id(),
            },
            frame: Utf8Bytes::from_static(r#"{"event":"chat.message","data":{}}"#),
            audience: Audience::Everyone,
        };
        events.publish(chat, &Members::new(&members));
        assert_eq!(to_alice.try_recv(), None);
        assert!(to_bob.try_recv().is_some() && to_bob.try_recv().is_some());
        assert_eq!(to_bob.try_recv(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn delivery_latency_delivers_late_and_in_order() {
        let (bob, mut to_bob) = Connection::new(8);
        let members = [bob];
        let events = FaultyEvents::new(
            Faults::from(Fault::DeliveryLatency),
            Arc::new(Directory::default()),
        );
        let room = RoomKey {
            tenant: "default".to_owned(),
            room_id: "room".to_owned(),
        };
        for text in ["first", "second"] {
            let frame = format!(r#"{{"event":"chat.message","data":{{"text":"{text}"}}}}"#);
            let chat = RoomEvent {
                room: &room,
                kind: EventKind::Chat {
                    sender_id: "alice",
                    from: members[0].id(),
                },
                frame: Utf8Bytes::from(frame),
                audience: Audience::Everyone,
            };
            events.publish(chat, &Members::new(&members));
        }
        tokio::time::sleep(LATENCY - Duration::from_millis(10)).await;
        assert_eq!(to_bob.try_recv(), None, "nothing before the latency");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let first = to_bob.try_recv().expect("the first event, late");
        let second = to_bob.try_recv().expect("the second event, late");
        assert!(format!("{first:?}").contains("first") && format!("{second:?}").contains("second"));
    }
}
