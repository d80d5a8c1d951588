//! The upgrade of `GET /api/v1/ws`: every refusal is decided before `101`, in the order
//! shutdown → subprotocol offer → token → origin → room access → upgrade validity, and changes
//! nothing in any room. Tokens are never logged, echoed or put in a response.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use crate::app::Hub;
use crate::auth::Identity;
use crate::close::CloseReason;
use crate::error::ApiError;
use crate::rooms::{Connection, RoomRefusal};
use crate::session::Session;

/// The subprotocol the server speaks.
pub const SUBPROTOCOL: &str = "chalk";

/// `GET /api/v1/ws`.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = query
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::MalformedUpgrade)?;
    let admission = hub.admit(&headers, &query)?;
    let ws = ws.map_err(|_| ApiError::MalformedUpgrade)?;
    Ok(hub.accept(ws, admission))
}

/// What the client offered in `Sec-WebSocket-Protocol`, in client order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProtocolOffer {
    /// Whether `chalk` was offered.
    pub chalk: bool,
    /// The token of the `token.{jwt}` entry, if any.
    pub token: Option<String>,
    /// Whether anything at all was offered.
    pub any: bool,
}

impl ProtocolOffer {
    /// Parses every `Sec-WebSocket-Protocol` header line: comma-separated, trimmed, empty
    /// elements skipped. Two different tokens, or a non-ASCII header, are malformed.
    pub fn parse(headers: &HeaderMap) -> Result<ProtocolOffer, ApiError> {
        let mut offer = ProtocolOffer::default();
        for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
            let text = value.to_str().map_err(|_| ApiError::MalformedUpgrade)?;
            for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                offer.any = true;
                if entry == SUBPROTOCOL {
                    offer.chalk = true;
                } else if let Some(token) = entry.strip_prefix("token.") {
                    match &offer.token {
                        Some(existing) if existing != token => {
                            return Err(ApiError::MalformedUpgrade);
                        }
                        _ => offer.token = Some(token.to_owned()),
                    }
                }
            }
        }
        if offer.any && !offer.chalk {
            return Err(ApiError::MalformedUpgrade);
        }
        Ok(offer)
    }
}

/// A handshake that passed every check.
#[derive(Debug)]
pub struct Admission {
    identity: Identity,
    select_chalk: bool,
}

/// The single `?token=` value, if any; different values are malformed.
fn query_token(pairs: &[(String, String)]) -> Result<Option<&str>, ApiError> {
    let mut found: Option<&str> = None;
    for (_, value) in pairs.iter().filter(|(k, _)| k == "token") {
        match found {
            Some(existing) if existing != value => return Err(ApiError::MalformedUpgrade),
            _ => found = Some(value),
        }
    }
    Ok(found)
}

impl Hub {
    /// Decides whether the upgrade may proceed.
    pub fn admit(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<Admission, ApiError> {
        if self.sessions.is_shutting_down() {
            return Err(ApiError::ShuttingDown);
        }
        let offer = ProtocolOffer::parse(headers)?;
        let from_query = query_token(query)?;
        let token = match (&offer.token, from_query) {
            (Some(token), _) => token.as_str(),
            (None, Some(token)) => token,
            (None, None) => {
                tracing::debug!("upgrade refused: no token");
                return Err(ApiError::InvalidToken);
            }
        };
        let identity = self.verifier.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "upgrade refused: token");
            ApiError::InvalidToken
        })?;
        self.origins
            .check(&identity.tenant, headers)
            .map_err(|reason| {
                tracing::debug!(%reason, tenant = %identity.tenant, "upgrade refused: origin");
                ApiError::OriginNotAllowed
            })?;
        self.rooms.admission(&identity).map_err(|refusal| {
            tracing::debug!(?refusal, "upgrade refused: room access");
            ApiError::AccessRevoked
        })?;
        Ok(Admission {
            identity,
            select_chalk: offer.chalk,
        })
    }

    /// Configures the socket limits and completes the upgrade.
    pub fn accept(self: &Arc<Self>, ws: WebSocketUpgrade, admission: Admission) -> Response {
        let limits = &self.limits;
        let mut ws = ws
            .read_buffer_size(limits.read_buffer_bytes)
            .write_buffer_size(limits.write_buffer_bytes)
            .max_write_buffer_size(
                limits.write_buffer_bytes + 2 * limits.max_message_bytes.max(64 * 1024),
            )
            .max_message_size(limits.max_message_bytes)
            .max_frame_size(limits.max_message_bytes)
            .accept_unmasked_frames(false);
        if admission.select_chalk {
            ws = ws.protocols([SUBPROTOCOL]);
        }
        let hub = self.clone();
        ws.on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
            .on_upgrade(move |socket| hub.run_session(socket, admission.identity))
    }

    async fn run_session(self: Arc<Self>, socket: WebSocket, identity: Identity) {
        let (conn, outbound) = Connection::new(self.limits.outbound_queue);
        let Some(_registration) = self.sessions.register(&conn) else {
            close_immediately(socket, CloseReason::ShuttingDown, self.limits.close_timeout).await;
            return;
        };
        let room = match self.rooms.join(&identity, &conn) {
            Ok(room) => room,
            Err(refusal) => {
                let reason = match refusal {
                    RoomRefusal::Removed => CloseReason::Removed,
                    _ => CloseReason::RoomEnded,
                };
                close_immediately(socket, reason, self.limits.close_timeout).await;
                return;
            }
        };
        tracing::debug!(conn = conn.id(), room = %identity.room_id, participant = %identity.participant_id, "joined");
        let session = Session {
            conn,
            outbound,
            room,
            rooms: self.rooms.clone(),
            participant_id: identity.participant_id,
            limits: self.limits.clone(),
            expires_at: expiry_instant(identity.expires_at, self.verifier.leeway()),
        };
        session.run(socket).await;
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
/// or with shutdown).
async fn close_immediately(mut socket: WebSocket, reason: CloseReason, limit: Duration) {
    use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
    use futures_util::StreamExt;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn offer(lines: &[&str]) -> Result<ProtocolOffer, ApiError> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(line).unwrap(),
            );
        }
        ProtocolOffer::parse(&headers)
    }

    #[test]
    fn finds_the_token_in_any_order_and_across_header_lines() {
        for lines in [
            &["chalk, token.a.b.c"][..],
            &["token.a.b.c, chalk"][..],
            &["token.a.b.c", "chalk"][..],
            &[" chalk ,, token.a.b.c , other"][..],
        ] {
            let o = offer(lines).unwrap();
            assert!(o.chalk);
            assert_eq!(o.token.as_deref(), Some("a.b.c"));
        }
    }

    #[test]
    fn refuses_tokens_without_chalk_and_conflicting_tokens() {
        assert_eq!(offer(&["token.a.b.c"]), Err(ApiError::MalformedUpgrade));
        assert_eq!(
            offer(&["Chalk, token.a.b.c"]),
            Err(ApiError::MalformedUpgrade)
        );
        assert_eq!(
            offer(&["chalk, token.a.b.c, token.x.y.z"]),
            Err(ApiError::MalformedUpgrade)
        );
        assert!(offer(&["chalk, token.a.b.c, token.a.b.c"]).is_ok());
        assert_eq!(offer(&[]).unwrap(), ProtocolOffer::default());
    }
}
