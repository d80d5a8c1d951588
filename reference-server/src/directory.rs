//! The room directory seam ([`RoomDirectory`]): where the REST API and the handshake find a
//! room's records (the room itself, its REST-provisioned participants, removals, the end of the
//! room, its recording) and change them.
//!
//! A single-process server keeps them with its rooms in memory ([`LocalDirectory`]); a node in
//! cluster mode keeps them in Redis, shared by every node (`crate::cluster::directory`). The
//! implementation is chosen at start from the configuration; the handlers call the seam
//! unconditionally.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::rooms::{ParticipantView, Room, RoomRefusal, RoomView, Rooms};

/// What a directory call gives back, boxed (the seam is a trait object).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where rooms' REST-visible records live (see the module documentation). Every refusal is the
/// [`ApiError`] the REST API answers with.
pub trait RoomDirectory: Send + Sync + fmt::Debug + 'static {
    /// Creates a room named `name`.
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>>;
    /// The room as the REST API shows it.
    fn view<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>>;
    /// Ends the room: every socket closes with 4004, later joins are refused.
    fn end<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>>;
    /// Records a participant; its id and the room.
    fn add_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        display_name: &'a str,
        role: &'a str,
    ) -> Pending<'a, Result<(String, RoomView), ApiError>>;
    /// A REST-provisioned participant, unless it was removed.
    fn participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<ParticipantView, ApiError>>;
    /// Removes a participant: its socket closes with 4003, the others see `participant.left`,
    /// its token is refused from then on.
    fn remove_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<(), ApiError>>;
    /// Starts a recording; its id.
    fn start_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>>;
    /// Stops the running recording; its id.
    fn stop_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>>;
    /// Whether `identity` may enter its room, by the records (at the handshake, before `101`);
    /// and, when the records hold the participant as the REST API added it and the room's own
    /// state will not know it, that record, which the room shows instead of the token's claims.
    fn admission<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> Pending<'a, Result<Option<Recorded>, RoomRefusal>>;
}

/// A participant as the REST API recorded it: the name and role the room shows of it, whatever
/// its token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The display name it was added with.
    pub display_name: String,
    /// The role it was added with.
    pub role: String,
}

/// The records of a single process: its in-memory rooms.
#[derive(Debug)]
pub struct LocalDirectory {
    rooms: Arc<Rooms>,
}

impl LocalDirectory {
    /// The directory of these rooms.
    pub fn new(rooms: Arc<Rooms>) -> Self {
        Self { rooms }
    }

    fn find(&self, tenant: &str, room_id: &str) -> Result<Arc<Room>, ApiError> {
        self.rooms
            .find(tenant, room_id)
            .ok_or(ApiError::NotFound("room not found"))
    }
}

impl RoomDirectory for LocalDirectory {
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(async move { Ok(self.rooms.create(tenant, name)) })
    }

    fn view<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(async move { Ok(self.find(tenant, room_id)?.view()) })
    }

    fn end<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(async move { Ok(self.find(tenant, room_id)?.end()?) })
    }

    fn add_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        display_name: &'a str,
        role: &'a str,
    ) -> Pending<'a, Result<(String, RoomView), ApiError>> {
        Box::pin(async move {
            let room = self.find(tenant, room_id)?;
            let id = room.add_participant(display_name, role)?;
            Ok((id, room.view()))
        })
    }

    fn participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<ParticipantView, ApiError>> {
        Box::pin(async move {
            self.find(tenant, room_id)?
                .participant(participant_id)
                .ok_or(ApiError::NotFound("participant not found"))
        })
    }

    fn remove_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<(), ApiError>> {
        Box::pin(async move {
            Ok(self
                .find(tenant, room_id)?
                .remove_participant(participant_id)?)
        })
    }

    fn start_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        Box::pin(async move { Ok(self.find(tenant, room_id)?.start_recording()?) })
    }

    fn stop_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        Box::pin(async move { Ok(self.find(tenant, room_id)?.stop_recording()?) })
    }

    /// The room's own state holds what the REST API recorded: nothing to hand over.
    fn admission<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> Pending<'a, Result<Option<Recorded>, RoomRefusal>> {
        Box::pin(async move { self.rooms.admission(identity).map(|()| None) })
    }
}
