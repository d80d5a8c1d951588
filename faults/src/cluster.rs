//! Faults of cluster mode: a node that keeps to itself what should reach the whole cluster.
//!
//! [`ClusterEvents`] wraps the node's own room-event path (the bus, in cluster mode) and
//! [`ClusterDirectory`] its room directory (Redis's records), both through the server's wrapping
//! seams: a chat message or a presence event delivered to the node's own members instead of
//! being handed to the bus (or as well as), a participant recorded under a name of the node's
//! own (so that a connection on another node does not replace it), a removal that closes nothing
//! on another node, a handshake that knows only of the removals and ends made through its own
//! node. [`ClusterDepartures`] wraps what the reaper appends for each member of a dead node: its
//! `participant.left` lost (always, or when a restarted node reaps its earlier run), or appended
//! twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chalk_reference_server::ApiError;
use chalk_reference_server::auth::Identity;
use chalk_reference_server::close::CloseReason;
use chalk_reference_server::connection::ConnId;
use chalk_reference_server::directory::{Pending, Recorded, RoomDirectory};
use chalk_reference_server::events::{
    Audience, Departure, EventKind, Members, RoomEvent, RoomEvents, Settled,
};
use chalk_reference_server::rooms::{ParticipantView, RoomKey, RoomRefusal, RoomView};
use chalk_reference_server::seams::{DeadRun, Departures};
use serde_json::Value;

use crate::fault::{Fault, Faults};
use crate::rewrite::rewrite;

/// What the bus carries in place of a presence event kept on its node: an
/// event name the page does not define, so that clients skip it; its `data` is the original's
/// (the bus records the member's roster fields from it).
const NODE_LOCAL_PRESENCE_PREFIX: &str = "x-node-local.";

/// The participants connected to this node, by room: how many of their connections are members
/// (a replacement on the node briefly makes two).
#[derive(Debug, Default)]
pub struct LocalMembers {
    counts: Mutex<HashMap<(RoomKey, String), usize>>,
}

impl LocalMembers {
    fn joined(&self, room: &RoomKey, participant_id: &str) {
        *self
            .lock()
            .entry((room.clone(), participant_id.to_owned()))
            .or_default() += 1;
    }

    fn left(&self, room: &RoomKey, participant_id: &str) {
        let mut counts = self.lock();
        let key = (room.clone(), participant_id.to_owned());
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }

    /// Whether `participant_id` is a member of `room` on this node.
    pub fn holds(&self, room: &RoomKey, participant_id: &str) -> bool {
        self.lock()
            .contains_key(&(room.clone(), participant_id.to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(RoomKey, String), usize>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reaper's departures with the faults of a set: what the node appends for each member of
/// a dead node it reports left.
#[derive(Debug)]
pub struct ClusterDepartures {
    faults: Faults,
    own: Arc<dyn Departures>,
}

impl ClusterDepartures {
    /// `own` (the production departures) with the departure faults of `faults`.
    pub fn new(faults: Faults, own: Arc<dyn Departures>) -> Self {
        ClusterDepartures { faults, own }
    }
}

impl Departures for ClusterDepartures {
    fn report(&self, run: DeadRun, left: String) -> Vec<String> {
        let frames = self.own.report(run, left);
        if self.faults.has(Fault::DeadNodeDeparturesLost)
            || (run == DeadRun::Restarted && self.faults.has(Fault::RestartDeparturesLost))
        {
            return Vec::new();
        }
        if self.faults.has(Fault::DeadNodeDeparturesTwice) {
            return frames.iter().flat_map(|f| [f.clone(), f.clone()]).collect();
        }
        frames
    }
}

/// The node's own room-event path with the cluster faults of a set.
#[derive(Debug)]
pub struct ClusterEvents {
    faults: Faults,
    own: Arc<dyn RoomEvents>,
    local: Arc<LocalMembers>,
    /// `one-session-per-node`: what this node appends to each participant id it hands to the
    /// bus.
    node_suffix: String,
    /// `chat-pairs-swapped`: the chat message held back, by the connection that sent it.
    held: Arc<Mutex<HashMap<ConnId, HeldChat>>>,
}

/// How long `chat-pairs-swapped` holds a message back waiting for its sender's next one.
const HOLD_FOR_THE_NEXT: Duration = Duration::from_millis(100);

/// A chat message `chat-pairs-swapped` holds back, with what the bus needs of it.
#[derive(Debug)]
struct HeldChat {
    /// Tells this message from a later one held for the same connection.
    number: u64,
    room: RoomKey,
    sender_id: String,
    frame: Utf8Bytes,
    audience: Audience,
}

impl HeldChat {
    /// Hands the message to `own`. Members are not needed: this is for the bus, which delivers
    /// what it reads.
    fn release(self, from: ConnId, own: &dyn RoomEvents) {
        own.publish(
            RoomEvent {
                room: &self.room,
                kind: EventKind::Chat {
                    sender_id: &self.sender_id,
                    from,
                },
                frame: self.frame,
                audience: self.audience,
            },
            &Members::new(&[]),
        );
    }
}

impl ClusterEvents {
    /// `own` (the bus, in cluster mode) with the faults of `faults`; `node` names this node,
    /// `local` is kept up to date with its members.
    pub fn new(
        faults: Faults,
        own: Arc<dyn RoomEvents>,
        node: &str,
        local: Arc<LocalMembers>,
    ) -> Self {
        Self {
            faults,
            own,
            local,
            node_suffix: format!("~{node}"),
            held: Arc::default(),
        }
    }

    /// `chat-pairs-swapped`: holds `event` back until its sender's next message has been handed
    /// on (or [`HOLD_FOR_THE_NEXT`] passed); hands on the message held before it after it.
    /// Whether `event` was handed on.
    fn swap_pairs(&self, event: &RoomEvent<'_>, members: &Members<'_>) -> bool {
        let EventKind::Chat { sender_id, from } = event.kind else {
            return false;
        };
        let earlier = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&from);
        if let Some(earlier) = earlier {
            self.own.publish(event.clone(), members);
            earlier.release(from, self.own.as_ref());
            return true;
        }
        static NUMBERS: AtomicU64 = AtomicU64::new(0);
        let number = NUMBERS.fetch_add(1, Ordering::Relaxed);
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                from,
                HeldChat {
                    number,
                    room: event.room.clone(),
                    sender_id: sender_id.to_owned(),
                    frame: event.frame.clone(),
                    audience: event.audience,
                },
            );
        let (held, own) = (self.held.clone(), self.own.clone());
        tokio::spawn(async move {
            tokio::time::sleep(HOLD_FOR_THE_NEXT).await;
            let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
            if held.get(&from).is_some_and(|h| h.number == number)
                && let Some(alone) = held.remove(&from)
            {
                drop(held);
                alone.release(from, own.as_ref());
            }
        });
        true
    }

    /// The participant id as the bus records it: under `one-session-per-node`, with this node's
    /// suffix, so that another node's connection of the same participant is another member.
    fn recorded_id(&self, participant_id: &str) -> String {
        if self.faults.has(Fault::OneSessionPerNode) {
            format!("{participant_id}{}", self.node_suffix)
        } else {
            participant_id.to_owned()
        }
    }

    /// Whether `kind` is a presence event a fault keeps on its node.
    fn stays_on_its_node(&self, kind: EventKind<'_>) -> bool {
        match kind {
            EventKind::Joined { .. } => self.faults.has(Fault::JoinedStaysOnItsNode),
            EventKind::Left {
                departure: Departure::Closed(CloseReason::ClientClosed),
                ..
            } => self.faults.has(Fault::LeftStaysOnItsNode),
            EventKind::Left {
                departure: Departure::Closed(CloseReason::ConnectionLost),
                ..
            } => self.faults.has(Fault::DroppedLeftStaysOnItsNode),
            _ => false,
        }
    }
}

/// The frame with its event renamed so that clients skip it (see
/// [`NODE_LOCAL_PRESENCE_PREFIX`]).
fn node_local(frame: &Utf8Bytes) -> Utf8Bytes {
    rewrite(frame, |event| {
        if let Some(Value::String(name)) = event.get_mut("event") {
            name.insert_str(0, NODE_LOCAL_PRESENCE_PREFIX);
        }
    })
}

impl RoomEvents for ClusterEvents {
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        match event.kind {
            EventKind::Joined { participant_id, .. } => {
                self.local.joined(event.room, participant_id)
            }
            EventKind::Left { participant_id, .. } => self.local.left(event.room, participant_id),
            _ => {}
        }
        if self.faults.has(Fault::ChatPairsSwapped) && self.swap_pairs(&event, members) {
            return;
        }
        if matches!(event.kind, EventKind::Chat { .. }) {
            if self.faults.has(Fault::ChatStaysOnItsNode) {
                members.deliver(event.audience, &event.frame);
                return;
            }
            if self.faults.has(Fault::ChatTwiceOnItsNode) {
                members.deliver(event.audience, &event.frame);
            }
        }
        let event = if self.stays_on_its_node(event.kind) {
            members.deliver(event.audience, &event.frame);
            RoomEvent {
                frame: node_local(&event.frame),
                ..event
            }
        } else {
            event
        };
        if !self.faults.has(Fault::OneSessionPerNode) {
            self.own.publish(event, members);
            return;
        }
        let renamed;
        let kind = match event.kind {
            EventKind::Joined {
                participant_id,
                conn,
            } => {
                renamed = self.recorded_id(participant_id);
                EventKind::Joined {
                    participant_id: &renamed,
                    conn,
                }
            }
            EventKind::Left {
                participant_id,
                departure,
            } => {
                renamed = self.recorded_id(participant_id);
                EventKind::Left {
                    participant_id: &renamed,
                    departure,
                }
            }
            EventKind::Chat { sender_id, from } => {
                renamed = self.recorded_id(sender_id);
                EventKind::Chat {
                    sender_id: &renamed,
                    from,
                }
            }
            EventKind::Hand {
                participant_id,
                from,
                raised,
            } => {
                renamed = self.recorded_id(participant_id);
                EventKind::Hand {
                    participant_id: &renamed,
                    from,
                    raised,
                }
            }
            other => other,
        };
        self.own.publish(RoomEvent { kind, ..event }, members);
    }

    fn settled(&self, conn: ConnId) -> Option<Settled> {
        self.own.settled(conn)
    }
}

/// The node's own room directory with the cluster faults of a set.
#[derive(Debug)]
pub struct ClusterDirectory {
    faults: Faults,
    own: Arc<dyn RoomDirectory>,
    local: Arc<LocalMembers>,
}

impl ClusterDirectory {
    /// `own` (Redis's records, in cluster mode) with the faults of `faults`; `local` are the
    /// node's members, as [`ClusterEvents`] keeps them.
    pub fn new(faults: Faults, own: Arc<dyn RoomDirectory>, local: Arc<LocalMembers>) -> Self {
        Self { faults, own, local }
    }
}

impl RoomDirectory for ClusterDirectory {
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.own.create(tenant, name)
    }

    fn view<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.own.view(tenant, room_id)
    }

    fn end<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        self.own.end(tenant, room_id)
    }

    fn add_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        display_name: &'a str,
        role: &'a str,
    ) -> Pending<'a, Result<(String, RoomView), ApiError>> {
        self.own
            .add_participant(tenant, room_id, display_name, role)
    }

    fn participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<ParticipantView, ApiError>> {
        self.own.participant(tenant, room_id, participant_id)
    }

    /// `removal-stays-on-its-node`: a participant connected to another node is not removed at
    /// all (answered as removed); one connected here, or nowhere, is.
    fn remove_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<(), ApiError>> {
        Box::pin(async move {
            if self.faults.has(Fault::RemovalStaysOnItsNode) {
                let room = RoomKey {
                    tenant: tenant.to_owned(),
                    room_id: room_id.to_owned(),
                };
                let elsewhere = !self.local.holds(&room, participant_id)
                    && self
                        .own
                        .participant(tenant, room_id, participant_id)
                        .await
                        .is_ok_and(|p| p.connected);
                if elsewhere {
                    return Ok(());
                }
            }
            self.own
                .remove_participant(tenant, room_id, participant_id)
                .await
        })
    }

    fn start_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        self.own.start_recording(tenant, room_id)
    }

    fn stop_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        self.own.stop_recording(tenant, room_id)
    }

    fn admission<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> Pending<'a, Result<Option<Recorded>, RoomRefusal>> {
        self.own.admission(identity)
    }
}

#[cfg(test)]
mod tests {
    use chalk_reference_server::connection::Connection;
    use chalk_reference_server::seams::ReportOnce;

    use super::*;
    use crate::rewrite::{event_name, string_at};

    /// What the wrapped path was handed: the participant (or sender) id and the frame.
    #[derive(Debug, Default)]
    struct Handed(Mutex<Vec<(String, Utf8Bytes)>>);

    impl RoomEvents for Handed {
        fn publish(&self, event: RoomEvent<'_>, _members: &Members<'_>) {
            let who = match event.kind {
                EventKind::Joined { participant_id, .. }
                | EventKind::Left { participant_id, .. } => participant_id,
                EventKind::Chat { sender_id, .. } => sender_id,
                _ => "",
            };
            self.0
                .lock()
                .unwrap()
                .push((who.to_owned(), event.frame.clone()));
        }
    }

    impl Handed {
        fn taken(&self) -> Vec<(String, Utf8Bytes)> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn wrapped(fault: Fault) -> (ClusterEvents, Arc<Handed>) {
        let handed = Arc::new(Handed::default());
        let events = ClusterEvents::new(
            Faults::from(fault),
            handed.clone(),
            "node-a",
            Arc::default(),
        );
        (events, handed)
    }

    fn departures(fault: Fault) -> ClusterDepartures {
        ClusterDepartures::new(Faults::from(fault), Arc::new(ReportOnce))
    }

    const LEFT: &str = r#"{"event":"participant.left","data":{"id":"bob"}}"#;

    #[test]
    fn lost_departures_append_nothing_for_a_dead_member() {
        let lost = departures(Fault::DeadNodeDeparturesLost);
        for run in [DeadRun::Expired, DeadRun::Restarted] {
            assert!(lost.report(run, LEFT.to_owned()).is_empty());
        }
    }

    #[test]
    fn twice_departures_append_the_same_left_twice() {
        let frames =
            departures(Fault::DeadNodeDeparturesTwice).report(DeadRun::Expired, LEFT.to_owned());
        assert_eq!(frames, [LEFT, LEFT]);
    }

    #[test]
    fn restart_departures_are_lost_only_for_an_earlier_run_of_the_node() {
        let restart = departures(Fault::RestartDeparturesLost);
        assert!(
            restart
                .report(DeadRun::Restarted, LEFT.to_owned())
                .is_empty()
        );
        assert_eq!(restart.report(DeadRun::Expired, LEFT.to_owned()), [LEFT]);
    }

    fn room() -> RoomKey {
        RoomKey {
            tenant: "default".to_owned(),
            room_id: "r".to_owned(),
        }
    }

    fn chat<'a>(room: &'a RoomKey, from: ConnId, text: &str) -> RoomEvent<'a> {
        RoomEvent {
            room,
            kind: EventKind::Chat {
                sender_id: "alice",
                from,
            },
            frame: Utf8Bytes::from(format!(
                r#"{{"event":"chat.message","data":{{"text":"{text}"}}}}"#
            )),
            audience: Audience::Everyone,
        }
    }

    #[test]
    fn a_chat_kept_on_its_node_reaches_the_local_members_and_never_the_bus() {
        let (events, handed) = wrapped(Fault::ChatStaysOnItsNode);
        let (member, mut queue) = Connection::new(8);
        let room = room();
        events.publish(
            chat(&room, member.id(), "hi"),
            &Members::new(std::slice::from_ref(&member)),
        );
        assert!(queue.try_recv().is_some_and(|f| f.contains("hi")));
        assert!(handed.taken().is_empty());
    }

    #[test]
    fn a_joined_kept_on_its_node_reaches_the_bus_under_a_name_clients_skip() {
        let (events, handed) = wrapped(Fault::JoinedStaysOnItsNode);
        let (member, mut queue) = Connection::new(8);
        let room = room();
        let joined = RoomEvent {
            room: &room,
            kind: EventKind::Joined {
                participant_id: "bob",
                conn: member.id(),
            },
            frame: Utf8Bytes::from_static(
                r#"{"event":"participant.joined","data":{"id":"bob","display_name":"Bob"}}"#,
            ),
            audience: Audience::Everyone,
        };
        events.publish(joined, &Members::new(std::slice::from_ref(&member)));
        let local = queue.try_recv().expect("delivered on the node");
        assert_eq!(event_name(&local).as_deref(), Some("participant.joined"));
        let handed = handed.taken();
        assert_eq!(handed.len(), 1);
        assert_eq!(
            event_name(&handed[0].1).as_deref(),
            Some("x-node-local.participant.joined")
        );
        // The bus still records the member's roster fields from it.
        assert_eq!(
            string_at(&handed[0].1, "/data/display_name").as_deref(),
            Some("Bob")
        );
    }

    #[test]
    fn one_session_per_node_hands_the_bus_a_participant_id_of_the_node() {
        let (events, handed) = wrapped(Fault::OneSessionPerNode);
        let (member, _queue) = Connection::new(8);
        let room = room();
        events.publish(chat(&room, member.id(), "hi"), &Members::new(&[]));
        assert_eq!(handed.taken()[0].0, "alice~node-a");
    }

    #[tokio::test(start_paused = true)]
    async fn swapped_pairs_hand_the_second_message_first_and_a_lone_one_after_the_hold() {
        let (events, handed) = wrapped(Fault::ChatPairsSwapped);
        let (member, _queue) = Connection::new(8);
        let room = room();
        for text in ["one", "two", "three"] {
            events.publish(chat(&room, member.id(), text), &Members::new(&[]));
        }
        let texts = |handed: Vec<(String, Utf8Bytes)>| -> Vec<String> {
            handed
                .iter()
                .filter_map(|(_, f)| string_at(f, "/data/text"))
                .collect()
        };
        assert_eq!(texts(handed.taken()), ["two", "one"]);
        tokio::time::sleep(HOLD_FOR_THE_NEXT * 2).await;
        assert_eq!(texts(handed.taken()), ["three"]);
    }
}
