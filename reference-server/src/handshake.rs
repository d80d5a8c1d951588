//! The upgrade of `GET /api/v1/ws`: every refusal is decided before `101`, in the order
//! shutdown → connection caps → subprotocol offer → token → origin → room access → upgrade
//! validity, and changes nothing in any room. Tokens are never logged, echoed or put in a
//! response.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;

use crate::auth::Identity;
use crate::capacity::{Full, Slot};
use crate::close::CloseReason;
use crate::connection::Connection;
use crate::error::ApiError;
#[cfg(feature = "faults")]
use crate::faults::Fault;
use crate::hub::Hub;
use crate::rooms::RoomRefusal;
use crate::session::Session;

/// The message size the socket's write-buffer ceiling leaves room for, at least (64 KiB): the
/// ceiling is the write buffer plus two messages of `max_message_bytes` or this, whichever is
/// larger.
pub const MIN_WRITE_HEADROOM_MESSAGE_BYTES: usize = 64 * 1024;

/// The subprotocol the server speaks.
pub const SUBPROTOCOL: &str = "chalk";

/// `GET /api/v1/ws`.
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    peer: Result<ConnectInfo<SocketAddr>, axum::extract::rejection::ExtensionRejection>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = query
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::MalformedUpgrade)?;
    let peer = peer.ok().map(|ConnectInfo(addr)| addr.ip());
    let admission = hub.admit(&headers, &query, peer)?;
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
    /// Whether the token was offered before `chalk` (for `require-chalk-first`).
    #[cfg(feature = "faults")]
    pub token_first: bool,
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
                    #[cfg(feature = "faults")]
                    {
                        offer.token_first |= !offer.chalk;
                    }
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
    /// The connection's place under the caps, held until the connection ends.
    slot: Slot,
    /// The token offered in the header (for `echo-token-protocol`).
    #[cfg(feature = "faults")]
    offered_token: Option<String>,
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
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::StopAcceptingAfterGarbage) && self.rooms.garbage_seen() {
            return Err(ApiError::ShuttingDown);
        }
        let offer = ProtocolOffer::parse(headers)?;
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::RequireChalkFirst) && offer.token_first {
            return Err(ApiError::MalformedUpgrade);
        }
        let from_query = query_token(query)?;
        #[cfg(feature = "faults")]
        if self.refuses_token_source(&offer, from_query.is_some()) {
            return Err(ApiError::InvalidToken);
        }
        let identity = match (&offer.token, from_query) {
            (Some(token), _) => self.verify(token)?,
            (None, Some(token)) => self.verify(token)?,
            (None, None) => self.missing_token()?,
        };
        self.origins
            .check(&identity.tenant, headers)
            .map_err(|reason| {
                tracing::debug!(%reason, tenant = %identity.tenant, "upgrade refused: origin");
                #[cfg(feature = "faults")]
                if self.faults.has(Fault::OriginRefusal401) {
                    let text = ApiError::OriginNotAllowed.to_string();
                    return ApiError::Injected(axum::http::StatusCode::UNAUTHORIZED, text);
                }
                ApiError::OriginNotAllowed
            })?;
        self.rooms.admission(&identity).map_err(|refusal| {
            tracing::debug!(?refusal, "upgrade refused: room access");
            ApiError::AccessRevoked
        })?;
        Ok(Admission {
            identity,
            select_chalk: offer.chalk,
            slot,
            #[cfg(feature = "faults")]
            offered_token: offer.token,
        })
    }

    /// The identity of a token, or the refusal every token problem gets.
    fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        self.verifier.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "upgrade refused: token");
            #[cfg(feature = "faults")]
            if let Some(refusal) = self.mistreat_refused_token(Some(token), Some(&reason)) {
                return refusal;
            }
            ApiError::InvalidToken
        })
    }

    /// The refusal of an upgrade without any token.
    fn missing_token(&self) -> Result<Identity, ApiError> {
        #[cfg(feature = "faults")]
        if self.faults.has(Fault::AcceptMissingToken) {
            return Ok(crate::faults::anonymous());
        }
        tracing::debug!("upgrade refused: no token");
        #[cfg(feature = "faults")]
        if let Some(refusal) = self.mistreat_refused_token(None, None) {
            return Err(refusal);
        }
        Err(ApiError::InvalidToken)
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
        if admission.select_chalk {
            ws = ws.protocols([SUBPROTOCOL]);
        }
        #[cfg(feature = "faults")]
        let ws = self.mistreat_protocol_selection(ws, &admission);
        #[cfg(feature = "faults")]
        let select_chalk = admission.select_chalk;
        let hub = self.clone();
        let response = ws
            .on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
            .on_upgrade(move |socket| hub.run_session(socket, admission.identity, admission.slot));
        #[cfg(feature = "faults")]
        let response = self.mistreat_response_headers(response, select_chalk);
        response
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
        let (conn, outbound) = Connection::new(self.limits.outbound_queue);
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
        let session = Session {
            conn,
            outbound,
            room,
            rooms: self.rooms.clone(),
            participant_id: identity.participant_id,
            limits: self.limits.clone(),
            expires_at: expiry_instant(identity.expires_at, self.verifier.leeway()),
            #[cfg(feature = "faults")]
            faults: self.faults,
        };
        let run = session.run(socket);
        Either::Right(async move {
            // Dropped in reverse: the session leaves the tracker, then gives its slot back.
            let _slot = slot;
            let _registration = registration;
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
    use futures_util::StreamExt;
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

/// The handshake's injected faults (feature `faults` only).
#[cfg(feature = "faults")]
impl Hub {
    /// `refuse-header-token`, `refuse-query-token`, `refuse-query-token-with-chalk`: whether
    /// the token is refused for where it travels.
    fn refuses_token_source(&self, offer: &ProtocolOffer, in_query: bool) -> bool {
        let from_query = offer.token.is_none() && in_query;
        (offer.token.is_some() && self.faults.has(Fault::RefuseHeaderToken))
            || (from_query && !offer.any && self.faults.has(Fault::RefuseQueryToken))
            || (from_query && offer.chalk && self.faults.has(Fault::RefuseQueryTokenWithChalk))
    }

    /// `announce-refused`, `token-refusal-403`, `detailed-token-errors`, `reflect-token`: what a
    /// token refusal turns into, or `None` for the normal refusal.
    fn mistreat_refused_token(
        &self,
        token: Option<&str>,
        reason: Option<&crate::auth::TokenRejection>,
    ) -> Option<ApiError> {
        use axum::http::StatusCode;
        if let Some(token) = token
            && self.faults.has(Fault::AnnounceRefused)
        {
            self.rooms.announce_refused(token);
        }
        let text = ApiError::InvalidToken.to_string();
        if self.faults.has(Fault::TokenRefusal403) {
            return Some(ApiError::Injected(StatusCode::FORBIDDEN, text));
        }
        if let Some(reason) = reason
            && self.faults.has(Fault::DetailedTokenErrors)
        {
            return Some(ApiError::Injected(
                StatusCode::UNAUTHORIZED,
                format!("{text}: {reason}"),
            ));
        }
        if let Some(token) = token
            && self.faults.has(Fault::ReflectToken)
        {
            return Some(ApiError::Injected(
                StatusCode::UNAUTHORIZED,
                format!("{text}: {token}"),
            ));
        }
        None
    }

    /// `no-protocol-header` and `echo-token-protocol`: another selection than `chalk`.
    fn mistreat_protocol_selection(
        &self,
        ws: WebSocketUpgrade,
        admission: &Admission,
    ) -> WebSocketUpgrade {
        if self.faults.has(Fault::NoProtocolHeader) {
            return ws.protocols(std::iter::empty::<&'static str>());
        }
        match &admission.offered_token {
            Some(token) if self.faults.has(Fault::EchoTokenProtocol) => {
                ws.protocols([format!("token.{token}")])
            }
            _ => ws,
        }
    }

    /// `two-protocol-values`, `protocol-header-without-offer` and `wrong-accept-key`: response
    /// headers the client cannot accept.
    fn mistreat_response_headers(&self, mut response: Response, select_chalk: bool) -> Response {
        use axum::http::HeaderValue;
        let headers = response.headers_mut();
        if self.faults.has(Fault::WrongAcceptKey) {
            headers.insert(
                header::SEC_WEBSOCKET_ACCEPT,
                HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            );
        }
        if select_chalk && self.faults.has(Fault::TwoProtocolValues) {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static("chalk, chalk"),
            );
        }
        if !select_chalk && self.faults.has(Fault::ProtocolHeaderWithoutOffer) {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
        }
        response
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
