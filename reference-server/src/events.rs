//! The room-event seam: the one place where a room's events are published to its members.
//!
//! Every event a room emits (the joiner's `room.state`, presence, chat, hands, recordings) is
//! encoded once into a frame and handed to [`EventSeam::publish`] together with its audience and
//! the room's local [`Members`]. By default (no [`RoomEvents`] installed) the frame is delivered
//! to the local members right away: a plain loop that queues the shared frame on each member's
//! connection, with no indirect call and no allocation per member. An installed [`RoomEvents`]
//! is called once per event (never per member) and decides what reaches whom: it may deliver
//! locally with [`Members::deliver`], rewrite, hold back, duplicate or drop the event, or send it
//! elsewhere; a bus that spans several nodes publishes it to the others and delivers what it
//! receives through the receiving node's [`crate::rooms::Rooms::deliver`].
//!
//! Contract: `publish` is synchronous and may be called while the room's lock is held
//! (membership changes and their events happen under it, so that every member sees them in the
//! same order). It must not block or call back into the room; work that waits (a network
//! publish) is queued to a task of its own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use crate::close::CloseReason;
use crate::connection::{ConnId, Connection};

/// Key of a room: rooms never cross tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomKey {
    /// Tenant id.
    pub tenant: String,
    /// Room id.
    pub room_id: String,
}

/// Who among a room's local members an event is for.
///
/// The connection ids are this node's own (they are unique in the process, not in a cluster).
/// A bus that carries events to other nodes must not send them along: there, an `Everyone` or
/// `AllBut` event reaches every member ([`crate::rooms::Rooms::deliver`]), and an `Only` event
/// (the joiner's `room.state`) is not sent at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every member.
    Everyone,
    /// Every member but the one on this connection.
    AllBut(ConnId),
    /// Only the member on this connection.
    Only(ConnId),
}

impl Audience {
    /// Whether the member on `conn` is part of the audience.
    pub fn includes(self, conn: ConnId) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::AllBut(except) => conn != except,
            Audience::Only(only) => conn == only,
        }
    }
}

/// Why a member left its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Its session ended, for this reason.
    Closed(CloseReason),
    /// A newer connection of the same participant took its place.
    Replaced,
    /// It was removed through the REST API.
    Removed,
}

/// What an event is about, beside its encoded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind<'a> {
    /// `room.state`, for the member that just joined.
    RoomState,
    /// `participant.joined`, about the member on `conn`.
    Joined {
        /// The participant who joined.
        participant_id: &'a str,
        /// Its connection.
        conn: ConnId,
    },
    /// `participant.left`.
    Left {
        /// The participant who left.
        participant_id: &'a str,
        /// Why.
        departure: Departure,
    },
    /// `chat.message`.
    Chat {
        /// The `sender_id` of the message.
        sender_id: &'a str,
        /// The connection the message was sent on.
        from: ConnId,
    },
    /// `hand.raised` or `hand.lowered`.
    Hand {
        /// Whose hand.
        participant_id: &'a str,
        /// Its connection.
        from: ConnId,
        /// Raised (or lowered).
        raised: bool,
    },
    /// `recording.started`.
    RecordingStarted {
        /// The new recording.
        recording_id: &'a str,
    },
    /// `recording.stopped`.
    RecordingStopped {
        /// The recording that stopped.
        recording_id: &'a str,
    },
}

/// One event of a room, ready to be delivered.
#[derive(Debug, Clone)]
pub struct RoomEvent<'a> {
    /// The room.
    pub room: &'a RoomKey,
    /// What the event is about.
    pub kind: EventKind<'a>,
    /// The encoded event, shared by every receiver.
    pub frame: Utf8Bytes,
    /// Who it is for.
    pub audience: Audience,
}

/// The local members of a room at the time of an event, in joining order.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    connections: &'a [Arc<Connection>],
}

impl<'a> Members<'a> {
    /// These connections.
    pub fn new(connections: &'a [Arc<Connection>]) -> Self {
        Self { connections }
    }

    /// Queues `frame` on the connection of every member of `audience`, without waiting.
    pub fn deliver(&self, audience: Audience, frame: &Utf8Bytes) {
        match audience {
            Audience::Everyone => {
                for conn in self.connections {
                    conn.send(frame.clone());
                }
            }
            Audience::AllBut(except) => {
                for conn in self.connections.iter().filter(|c| c.id() != except) {
                    conn.send(frame.clone());
                }
            }
            Audience::Only(only) => {
                if let Some(conn) = self.connections.iter().find(|c| c.id() == only) {
                    conn.send(frame.clone());
                }
            }
        }
    }

    /// The members' connections.
    pub fn connections(&self) -> &'a [Arc<Connection>] {
        self.connections
    }
}

/// Resolves once a join is complete where the events are (see [`RoomEvents::settled`]).
pub type Settled = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Publishes a room's events (see the module documentation).
pub trait RoomEvents: Send + Sync + fmt::Debug + 'static {
    /// Publishes `event`; `members` are the room's local members, to deliver to.
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>);

    /// For the connection that just joined: a future that resolves once its join is complete
    /// wherever the events go (a bus that joins in the background), after which every event of
    /// the room reaches it. The handshake waits for it before it answers `101`, so that a
    /// member counts as joined from its `101` on, as on a single process. `None` (the
    /// default): the join is complete already.
    fn settled(&self, _conn: ConnId) -> Option<Settled> {
        None
    }
}

/// Local delivery as a [`RoomEvents`]: what a single process does with no seam installed, for a
/// wrapper to wrap (`crate::Seams::room_events_around`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalDelivery;

impl RoomEvents for LocalDelivery {
    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        members.deliver(event.audience, &event.frame);
    }
}

/// The room-event seam as rooms hold it: local delivery, or the installed [`RoomEvents`].
#[derive(Debug, Clone, Default)]
pub struct EventSeam {
    installed: Option<Arc<dyn RoomEvents>>,
}

impl EventSeam {
    /// The seam with `events` installed (`None`: deliver locally).
    pub fn new(events: Option<Arc<dyn RoomEvents>>) -> Self {
        Self { installed: events }
    }

    /// What the session of `conn`, which just joined, waits for ([`RoomEvents::settled`]).
    pub fn settled(&self, conn: ConnId) -> Option<Settled> {
        self.installed
            .as_ref()
            .and_then(|events| events.settled(conn))
    }

    /// Publishes one event of a room to `members` (see the module documentation).
    pub fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        match &self.installed {
            None => members.deliver(event.audience, &event.frame),
            Some(events) => events.publish(event, members),
        }
    }
}
