//! The upgrade of `GET /api/v1/ws`: every refusal is decided before `101`, in the order
//! shutdown → connection caps → the admission policy ([`crate::admission`]: subprotocol offer →
//! token → origin) → room access → upgrade validity, and changes nothing in any room. Tokens are
//! never logged, echoed or put in a response. After the `101`, the session runs over the socket,
//! through the frame adapter when one is installed ([`crate::frames`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;

use crate::admission::{Admitted, Handshake};
use crate::auth::Identity;
use crate::capacity::{Full, Slot};
use crate::close::CloseReason;
use crate::connection::Connection;
use crate::error::ApiError;
use crate::frames::{SessionFrames, SessionInfo};
use crate::hub::Hub;
use crate::rooms::RoomRefusal;
use crate::session::Session;

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
        let admission = hub.admit(&headers, &query, peer)?;
        hub.directory
            .admission(&admission.admitted.identity)
            .await
            .map_err(|refusal| {
                tracing::debug!(?refusal, "upgrade refused: room access");
                match refusal {
                    RoomRefusal::Unavailable => ApiError::RedisUnavailable,
                    _ => ApiError::AccessRevoked,
                }
            })?;
        let ws = ws.map_err(|_| ApiError::MalformedUpgrade)?;
        Ok((ws, admission))
    }
    .await;
    match admitted {
        Ok((ws, admission)) => Ok(hub.accept(ws, admission)),
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

    /// Configures the socket limits and completes the upgrade.
    pub fn accept(self: &Arc<Self>, ws: WebSocketUpgrade, admission: Admission) -> Response {
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
        let hub = self.clone();
        ws.on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
            .on_upgrade(move |socket| hub.run_session(socket, admitted.identity, slot))
    }

    /// Joins the room and runs the session; or closes at once when shutdown or a REST change
    /// got there first. `slot` is held until the socket is done with.
    ///
    /// Not an `async fn`: joining needs no waiting, and a future built after it does not keep
    /// the socket and the identity it was called with for the whole session (several hundred
    /// bytes per connection).
    fn run_session(
        self: Arc<Self>,
        socket: WebSocket,
        identity: Identity,
        slot: Slot,
    ) -> impl Future<Output = ()> + Send {
        use futures_util::future::Either;
        let close_timeout = self.limits.close_timeout;
        let (conn, outbound) =
            Connection::with_traffic(self.limits.outbound_queue, self.metrics.traffic());
        let Some(registration) = self.sessions.register(&conn) else {
            return Either::Left(close_immediately(
                socket,
                CloseReason::ShuttingDown,
                close_timeout,
                slot,
            ));
        };
        let room = match self.rooms.join(&identity, &conn) {
            Ok(room) => room,
            Err(refusal) => {
                let reason = match refusal {
                    RoomRefusal::Removed => CloseReason::Removed,
                    _ => CloseReason::RoomEnded,
                };
                return Either::Left(close_immediately(socket, reason, close_timeout, slot));
            }
        };
        tracing::debug!(conn = conn.id(), room = %identity.room_id, participant = %identity.participant_id, "joined");
        let conn_id = conn.id();
        let session = Session {
            conn,
            outbound,
            room,
            rooms: self.rooms.clone(),
            participant_id: identity.participant_id,
            limits: self.limits.clone(),
            expires_at: expiry_instant(identity.expires_at, self.verifier.leeway()),
        };
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
        let settled = self.rooms.settled(conn_id);
        Either::Right(async move {
            // Dropped in reverse: the session leaves the tracker, then gives its slot back.
            let _slot = slot;
            let _registration = registration;
            if let Some(settled) = settled {
                settled.await;
            }
            run.await;
        })
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

/// Closes a socket that never joined (refused after the upgrade by a race with a REST change
/// or with shutdown); its `slot` is given back at the end.
async fn close_immediately(
    mut socket: WebSocket,
    reason: CloseReason,
    limit: Duration,
    slot: Slot,
) {
    use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
    let _slot = slot;
    if let Some((code, text)) = reason.close_frame() {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(text),
        };
        let _ = tokio::time::timeout(limit, async {
            if socket.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(_)) = socket.next().await {}
            }
        })
        .await;
    }
}
