//! The upgrade of `GET /api/v1/ws`: every refusal is decided before `101`, in the order
//! shutdown → connection caps → the admission policy ([`crate::admission`]: subprotocol offer →
//! token → origin) → room access → upgrade validity, and changes nothing in any room. Tokens are
//! never logged, echoed or put in a response. An admitted connection then joins its room, and
//! only once it has joined is it answered `101` (so that every room event after the `101`
//! reaches it); the session then runs over the socket, through the frame adapter when one is
//! installed ([`crate::frames`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;

use crate::admission::{Admitted, Handshake};
use crate::capacity::{Full, Slot};
use crate::close::CloseReason;
use crate::connection::Connection;
use crate::error::ApiError;
use crate::frames::{SessionFrames, SessionInfo};
use crate::hub::Hub;
use crate::rooms::RoomRefusal;
use crate::session::Session;
use crate::tracker::Registration;

/// The message size the socket's write-buffer ceiling leaves room for, at least (64 KiB): the
/// ceiling is the write buffer plus two messages of `max_message_bytes` or this, whichever is
/// larger.
pub const MIN_WRITE_HEADROOM_MESSAGE_BYTES: usize = 64 * 1024;

/// `GET /api/v1/ws`.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    peer: Result<ConnectInfo<SocketAddr>, axum::extract::rejection::ExtensionRejection>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let admitted = async {
        let query = query
            .map(|Query(pairs)| pairs)
            .map_err(|_| ApiError::MalformedUpgrade)?;
        let peer = peer.ok().map(|ConnectInfo(addr)| addr.ip());
        let mut admission = hub.admit(&headers, &query, peer)?;
        let recorded = hub
            .directory
            .admission(&admission.admitted.identity)
            .await
            .map_err(|refusal| {
                tracing::debug!(?refusal, "upgrade refused: room access");
                match refusal {
                    RoomRefusal::Unavailable => ApiError::RedisUnavailable,
                    _ => ApiError::AccessRevoked,
                }
            })?;
        // A participant the REST API added is shown as it was added, not as its token says
        // (in cluster mode the records are in Redis, not in the local room).
        if let Some(recorded) = recorded {
            let identity = &mut admission.admitted.identity;
            identity.display_name = Some(recorded.display_name);
            identity.role = Some(recorded.role);
        }
        let ws = ws.map_err(|_| ApiError::MalformedUpgrade)?;
        Ok((ws, admission))
    }
    .await;
    match admitted {
        Ok((ws, admission)) => hub.accept(ws, admission).await.inspect_err(|error| {
            hub.metrics.refused(error);
        }),
        Err(error) => {
            hub.metrics.refused(&error);
            Err(error)
        }
    }
}

/// A handshake that passed every check.
#[derive(Debug)]
pub struct Admission {
    /// What the admission policy decided.
    admitted: Admitted,
    /// The connection's place under the caps, held until the connection ends.
    slot: Slot,
}

impl Hub {
    /// Decides whether the upgrade from `peer` (the client's address, when known) may proceed.
    pub fn admit(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
        peer: Option<IpAddr>,
    ) -> Result<Admission, ApiError> {
        if self.sessions.is_shutting_down() {
            return Err(ApiError::ShuttingDown);
        }
        // Before the token: an overloaded server spends nothing on verifying it.
        let slot = self.capacity.acquire(peer).map_err(|full| {
            match full {
                Full::Total => tracing::debug!(
                    open = self.capacity.open(),
                    "upgrade refused: max_connections reached"
                ),
                Full::PerIp => {
                    tracing::debug!("upgrade refused: max_connections_per_ip reached");
                }
            }
            ApiError::TooManyConnections
        })?;
        let admitted = self.admission.admit(&Handshake { headers, query })?;
        self.rooms
            .admission(&admitted.identity)
            .map_err(|refusal| {
                tracing::debug!(?refusal, "upgrade refused: room access");
                ApiError::AccessRevoked
            })?;
        Ok(Admission { admitted, slot })
    }

    /// Joins the room, then answers `101`: the connection is a member from the `101` on, and
    /// every room event after it reaches the connection (queued until its session runs). In
    /// cluster mode the join is recorded in Redis and registered with the node's reader before
    /// the `101` ([`crate::events::RoomEvents::settled`]). A join refused or failed at this
    /// point (a REST removal or room end that raced the handshake, shutdown, a join Redis did not
    /// take) is answered like the handshake's own refusals; the room is left again and nobody
    /// hears of the connection except as a join and a departure.
    pub async fn accept(
        self: &Arc<Self>,
        ws: WebSocketUpgrade,
        admission: Admission,
    ) -> Result<Response, ApiError> {
        let limits = &self.limits;
        let mut ws = ws
            .read_buffer_size(limits.read_buffer_bytes)
            .write_buffer_size(limits.write_buffer_bytes)
            .max_write_buffer_size(
                limits.write_buffer_bytes
                    + 2 * limits
                        .max_message_bytes
                        .max(MIN_WRITE_HEADROOM_MESSAGE_BYTES),
            )
            .max_message_size(limits.max_message_bytes)
            .max_frame_size(limits.max_message_bytes)
            .accept_unmasked_frames(false);
        let Admission { admitted, slot } = admission;
        if let Some(subprotocol) = admitted.subprotocol {
            ws = ws.protocols([subprotocol]);
        }
        let identity = admitted.identity;
        let (conn, outbound) =
            Connection::with_traffic(self.limits.outbound_queue, self.metrics.traffic());
        let registration = self
            .sessions
            .register(&conn)
            .ok_or(ApiError::ShuttingDown)?;
        let room = self.rooms.join(&identity, &conn).map_err(|refusal| {
            tracing::debug!(?refusal, "upgrade refused: room access, at the join");
            ApiError::AccessRevoked
        })?;
        tracing::debug!(conn = conn.id(), room = ?identity.room_id, participant = ?identity.participant_id, "joined");
        let pending = PendingSession(Some(Session {
            conn,
            outbound,
            room,
            rooms: self.rooms.clone(),
            participant_id: identity.participant_id,
            limits: self.limits.clone(),
            expires_at: expiry_instant(identity.expires_at, self.verifier.leeway()),
        }));
        let conn = pending.conn();
        if let Some(settled) = self.rooms.settled(conn.id()) {
            settled.await;
        }
        if let Some(refusal) = conn.closing().and_then(refusal_before_101) {
            // `pending` leaves the room as it goes.
            return Err(refusal);
        }
        let hub = self.clone();
        Ok(ws
            .on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
            .on_upgrade(move |socket| hub.run_session(socket, pending, registration, slot)))
    }

    /// Runs the session of a connection that joined before its `101`. `slot` and
    /// `registration` are held until the socket is done with.
    ///
    /// Not an `async fn`: a future built after the session is taken out of `pending` does not
    /// keep an emptied copy of it for the whole session (several hundred bytes per connection).
    fn run_session(
        self: Arc<Self>,
        socket: WebSocket,
        mut pending: PendingSession,
        registration: Registration,
        slot: Slot,
    ) -> impl Future<Output = ()> + Send {
        use futures_util::future::Either;
        let session = pending.take();
        // Without an adapter the session runs over the socket itself (no boxing); with one,
        // over the adapted halves.
        let run = match &self.frames {
            None => Either::Left(session.run(socket)),
            Some(adapter) => {
                let (outgoing, incoming) = socket.split();
                let info = SessionInfo {
                    conn: &session.conn,
                    room: &session.room,
                    participant_id: &session.participant_id,
                };
                let frames = adapter.adapt(
                    &info,
                    SessionFrames {
                        outgoing: Box::pin(outgoing),
                        incoming: Box::pin(incoming),
                    },
                );
                Either::Right(session.run_split(frames.outgoing, frames.incoming))
            }
        };
        async move {
            // Dropped in reverse: the session leaves the tracker, then gives its slot back.
            let _slot = slot;
            let _registration = registration;
            run.await;
        }
    }
}

/// A session whose connection joined its room before the `101`, not yet running: dropped
/// without running (the upgrade failed, or was refused after the join), it leaves the room.
struct PendingSession(Option<Session>);

impl PendingSession {
    /// The connection's handle.
    fn conn(&self) -> Arc<Connection> {
        self.0
            .as_ref()
            .map(|session| session.conn.clone())
            .expect("a pending session holds its session until it runs")
    }

    /// The session, to run: from now on it leaves the room itself.
    fn take(&mut self) -> Session {
        self.0
            .take()
            .expect("a pending session is taken once, to run")
    }
}

impl Drop for PendingSession {
    fn drop(&mut self) {
        if let Some(session) = self.0.take() {
            let reason = session
                .conn
                .closing()
                .unwrap_or(CloseReason::ConnectionLost);
            tracing::debug!(
                conn = session.conn.id(),
                ?reason,
                "left before the session ran"
            );
            session
                .rooms
                .leave(&session.room, session.conn.id(), reason);
        }
    }
}

/// How a connection asked to close while it joined is answered instead of `101`: the reasons
/// the handshake would have refused it for, had they come a moment earlier. Any other close
/// (a newer connection of the participant, say) is left to the session, after the `101`.
fn refusal_before_101(reason: CloseReason) -> Option<ApiError> {
    match reason {
        CloseReason::ShuttingDown => Some(ApiError::ShuttingDown),
        CloseReason::Removed | CloseReason::RoomEnded => Some(ApiError::AccessRevoked),
        // The one internal failure of a join: in cluster mode, a join Redis did not take.
        CloseReason::Internal => Some(ApiError::RedisUnavailable),
        _ => None,
    }
}

/// The instant at which `exp` + leeway passes; `None` if it is beyond any practical horizon.
fn expiry_instant(exp: u64, leeway: Duration) -> Option<tokio::time::Instant> {
    let deadline = UNIX_EPOCH
        .checked_add(Duration::from_secs(exp))?
        .checked_add(leeway)?;
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::time::Instant::now().checked_add(remaining.min(Duration::from_secs(10 * 365 * 86_400)))
}
