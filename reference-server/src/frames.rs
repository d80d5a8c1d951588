//! The session frame adapter: the seam around one session's socket, as the session loop sees
//! it.
//!
//! After the `101` the server splits the socket into its outgoing `Sink` and its incoming
//! `Stream` and, when a [`FrameAdapter`] is installed, hands both halves to it once, before the
//! session starts; the session then runs over whatever the adapter returns. An adapter may map,
//! drop, hold back or add frames in either direction (as futures' `SinkExt::with` and
//! `StreamExt::filter` do), or act on the session's connection. Without an adapter (the
//! production default) the session runs over the socket itself: nothing is boxed and nothing is
//! called.
//!
//! Order: the outgoing half sits between the connection's outbound queue
//! ([`crate::outbound`]) and the socket, so an adapter sees each frame after it left the queue
//! (and after the slow-consumer check), and sees the session's own pings and close frame too.
//! Control frames that tungstenite answers by itself (pongs, the echo of a client's close) never
//! pass through the `Sink`.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::ws::Message;
use futures_util::{Sink, Stream};

use crate::connection::Connection;
use crate::rooms::Room;

/// The outgoing half of a session's socket, boxed.
pub type OutgoingFrames = Pin<Box<dyn Sink<Message, Error = axum::Error> + Send>>;

/// The incoming half of a session's socket, boxed.
pub type IncomingFrames = Pin<Box<dyn Stream<Item = Result<Message, axum::Error>> + Send>>;

/// Both halves of a session's socket.
pub struct SessionFrames {
    /// Frames towards the client.
    pub outgoing: OutgoingFrames,
    /// Frames from the client, and transport errors.
    pub incoming: IncomingFrames,
}

impl fmt::Debug for SessionFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFrames").finish_non_exhaustive()
    }
}

/// The session whose frames are being adapted.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo<'a> {
    /// Its connection (to queue frames to it or ask it to close).
    pub conn: &'a Arc<Connection>,
    /// The room it joined.
    pub room: &'a Arc<Room>,
    /// The authenticated participant.
    pub participant_id: &'a str,
}

/// Wraps a session's frame streams (see the module documentation).
pub trait FrameAdapter: Send + Sync + fmt::Debug + 'static {
    /// The halves the session runs over, given the socket's own.
    fn adapt(&self, session: &SessionInfo<'_>, frames: SessionFrames) -> SessionFrames;
}
