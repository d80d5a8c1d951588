//! Faults of cluster mode: a node that keeps to itself what should reach the whole cluster.
//!
//! [`ClusterEvents`] wraps the node's own room-event path (the bus, in cluster mode) and
//! [`ClusterDirectory`] its room directory (Redis's records), both through the server's wrapping
//! seams: a chat message or a presence event delivered to the node's own members instead of
//! being handed to the bus (or as well as), a participant recorded under a name of the node's
//! own (so that a connection on another node does not replace it), a removal that closes nothing
//! on another node, a handshake that knows only of the removals and ends made through its own
//! node.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::Utf8Bytes;
use chalk_reference_server::ApiError;
use chalk_reference_server::auth::Identity;
use chalk_reference_server::close::CloseReason;
use chalk_reference_server::connection::ConnId;
use chalk_reference_server::directory::{Pending, RoomDirectory};
use chalk_reference_server::events::{
    Departure, EventKind, Members, RoomEvent, RoomEvents, Settled,
};
use chalk_reference_server::rooms::{ParticipantView, RoomKey, RoomRefusal, RoomView};
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

/// The node's own room-event path with the cluster faults of a set.
#[derive(Debug)]
pub struct ClusterEvents {
    faults: Faults,
    own: Arc<dyn RoomEvents>,
    local: Arc<LocalMembers>,
    /// `one-session-per-node`: what this node appends to each participant id it hands to the
    /// bus.
    node_suffix: String,
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
        }
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
                raised,
            } => {
                renamed = self.recorded_id(participant_id);
                EventKind::Hand {
                    participant_id: &renamed,
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
    /// `removal-unknown-elsewhere`: the participants removed through this node, by tenant and
    /// room.
    removed_here: Mutex<HashSet<(String, String, String)>>,
    /// `end-unknown-elsewhere`: the rooms ended through this node, by tenant.
    ended_here: Mutex<HashSet<(String, String)>>,
}

impl ClusterDirectory {
    /// `own` (Redis's records, in cluster mode) with the faults of `faults`; `local` are the
    /// node's members, as [`ClusterEvents`] keeps them.
    pub fn new(faults: Faults, own: Arc<dyn RoomDirectory>, local: Arc<LocalMembers>) -> Self {
        Self {
            faults,
            own,
            local,
            removed_here: Mutex::default(),
            ended_here: Mutex::default(),
        }
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
        self.ended_here
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((tenant.to_owned(), room_id.to_owned()));
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
            self.removed_here
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert((
                    tenant.to_owned(),
                    room_id.to_owned(),
                    participant_id.to_owned(),
                ));
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

    /// `removal-unknown-elsewhere` and `end-unknown-elsewhere`: a refusal for a removal or an
    /// end made through another node is overlooked.
    fn admission<'a>(&'a self, identity: &'a Identity) -> Pending<'a, Result<(), RoomRefusal>> {
        Box::pin(async move {
            let room = (identity.tenant.clone(), identity.room_id.clone());
            match self.own.admission(identity).await {
                Err(RoomRefusal::Removed)
                    if self.faults.has(Fault::RemovalUnknownElsewhere)
                        && !self
                            .removed_here
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .contains(&(
                                room.0.clone(),
                                room.1.clone(),
                                identity.participant_id.clone(),
                            )) =>
                {
                    Ok(())
                }
                Err(RoomRefusal::Ended)
                    if self.faults.has(Fault::EndUnknownElsewhere)
                        && !self
                            .ended_here
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .contains(&room) =>
                {
                    Ok(())
                }
                verdict => verdict,
            }
        })
    }
}
