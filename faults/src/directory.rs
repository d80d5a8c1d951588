//! The faults' own record of live sessions by room, kept by the frame adapter: what a fault
//! needs to reach rooms other than the one an event belongs to (misrouting, announcing a refused
//! token) or every connection of a room (closing it), without reaching into the server.
//!
//! Delivery goes straight to each connection's outbound queue ([`Connection::send`]); no room
//! lock is ever taken, so the directory may be used while the server holds one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use chalk_reference_server::close::CloseReason;
use chalk_reference_server::connection::Connection;
use chalk_reference_server::rooms::RoomKey;

/// Live sessions by room.
#[derive(Debug, Default)]
pub struct Directory {
    rooms: Mutex<HashMap<RoomKey, Vec<Arc<Connection>>>>,
    /// Departures to leave unannounced (`left-only-for-1000`), by room and participant id.
    quiet_departures: Mutex<HashSet<(RoomKey, String)>>,
}

/// A session's entry in the [`Directory`]; removed when dropped.
#[derive(Debug)]
pub struct Listing {
    directory: Arc<Directory>,
    room: RoomKey,
    conn: Arc<Connection>,
}

impl Drop for Listing {
    fn drop(&mut self) {
        let mut rooms = self.directory.lock();
        if let Some(conns) = rooms.get_mut(&self.room) {
            conns.retain(|c| c.id() != self.conn.id());
            if conns.is_empty() {
                rooms.remove(&self.room);
            }
        }
    }
}

impl Directory {
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomKey, Vec<Arc<Connection>>>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists `conn` in `room` until the returned [`Listing`] is dropped.
    pub fn list(self: &Arc<Self>, room: &RoomKey, conn: &Arc<Connection>) -> Listing {
        self.lock()
            .entry(room.clone())
            .or_default()
            .push(conn.clone());
        Listing {
            directory: self.clone(),
            room: room.clone(),
            conn: conn.clone(),
        }
    }

    /// The connections for which `pick` holds, picked under the lock and returned without it.
    fn connections(&self, pick: impl Fn(&RoomKey) -> bool) -> Vec<Arc<Connection>> {
        self.lock()
            .iter()
            .filter(|(key, _)| pick(key))
            .flat_map(|(_, conns)| conns.iter().cloned())
            .collect()
    }

    /// Queues `frame` on every connection of `room`.
    pub fn send_to(&self, room: &RoomKey, frame: &Utf8Bytes) {
        for conn in self.connections(|key| key == room) {
            conn.send(frame.clone());
        }
    }

    /// Queues `frame` on every connection of every other room of `room`'s tenant.
    pub fn send_elsewhere(&self, room: &RoomKey, frame: &Utf8Bytes) {
        let elsewhere = |key: &RoomKey| key.tenant == room.tenant && key.room_id != room.room_id;
        for conn in self.connections(elsewhere) {
            conn.send(frame.clone());
        }
    }

    /// Queues `frame` on every connection of every other room of `room`'s tenant whose id
    /// `resembles` (called with this room's id and the other's) says looks like this one's.
    pub fn send_to_lookalikes(
        &self,
        room: &RoomKey,
        resembles: impl Fn(&str, &str) -> bool,
        frame: &Utf8Bytes,
    ) {
        let lookalike = |key: &RoomKey| {
            key.tenant == room.tenant
                && key.room_id != room.room_id
                && resembles(&room.room_id, &key.room_id)
        };
        for conn in self.connections(lookalike) {
            conn.send(frame.clone());
        }
    }

    /// Notes that the next departure of `participant_id` from `room` is to go unannounced.
    pub fn keep_departure_quiet(&self, room: &RoomKey, participant_id: &str) {
        self.quiet_departures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((room.clone(), participant_id.to_owned()));
    }

    /// Whether the departure of `participant_id` from `room` was to go unannounced (forgotten
    /// once asked).
    pub fn departure_kept_quiet(&self, room: &RoomKey, participant_id: &str) -> bool {
        self.quiet_departures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(room.clone(), participant_id.to_owned()))
    }

    /// Asks every connection of `room` to close with `reason`.
    pub fn close_room(&self, room: &RoomKey, reason: CloseReason) {
        for conn in self.connections(|key| key == room) {
            conn.close(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(room: &str) -> RoomKey {
        RoomKey {
            tenant: "default".to_owned(),
            room_id: room.to_owned(),
        }
    }

    #[test]
    fn reaches_other_rooms_of_the_tenant_and_forgets_ended_sessions() {
        let directory = Arc::new(Directory::default());
        let (here, mut here_queue) = Connection::new(8);
        let (there, mut there_queue) = Connection::new(8);
        let _here = directory.list(&key("a"), &here);
        let there_listing = directory.list(&key("b"), &there);
        directory.send_elsewhere(&key("a"), &Utf8Bytes::from_static("x"));
        assert_eq!(here_queue.try_recv(), None);
        assert_eq!(there_queue.try_recv().as_deref(), Some("x"));
        drop(there_listing);
        directory.send_to(&key("b"), &Utf8Bytes::from_static("y"));
        assert_eq!(there_queue.try_recv(), None);
    }
}
