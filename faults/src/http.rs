//! Faults of the HTTP response as it leaves: a tower layer around the whole route table
//! (axum's `from_fn_with_state` over [`edit`], with [`HttpFaults`]) that edits the answers of `GET /api/v1/ws`: the refusal statuses and bodies, and the
//! `101`'s `Sec-WebSocket-Protocol` and `Sec-WebSocket-Accept` headers. For
//! `refuse-foreign-tokens` it also reads the tokens the REST API issues, and refuses every other
//! token before the handshake is served.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chalk_reference_server::admission::{ProtocolOffer, StandardAdmission};
use chalk_reference_server::auth::TokenVerifier;
use chalk_reference_server::error::ApiError;

use crate::fault::{Fault, Faults};

/// Path of the WebSocket endpoint, whose answers the layer edits.
const WS_PATH: &str = "/api/v1/ws";

/// How the path of the REST route that issues participant tokens ends.
const PARTICIPANTS_SUFFIX: &str = "/participants";

/// Largest refusal body read back (refusals are a short JSON object).
const MAX_REFUSAL_BODY_BYTES: usize = 64 * 1024;

/// Largest REST answer read back for the token it issues.
const MAX_ISSUED_BODY_BYTES: usize = 64 * 1024;

/// What the layer needs besides the faults.
#[derive(Debug)]
pub struct HttpFaults {
    faults: Faults,
    /// The server's own token verifier, to say why a token was refused
    /// (`detailed-token-errors`).
    verifier: TokenVerifier,
    /// The tokens the REST API issued (`refuse-foreign-tokens`).
    issued: Mutex<HashSet<String>>,
}

impl HttpFaults {
    /// The state of the layer of `faults`, which verifies tokens as `verifier` does.
    pub fn new(faults: Faults, verifier: TokenVerifier) -> Arc<Self> {
        Arc::new(Self {
            faults,
            verifier,
            issued: Mutex::new(HashSet::new()),
        })
    }

    fn issued(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token a handshake offers, as the server takes it: the `token.` protocol entry first,
/// then `?token=`.
fn offered_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Ok(offer) = ProtocolOffer::parse(headers)
        && let Some(token) = offer.token
    {
        return Some(token);
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    StandardAdmission::query_token(&pairs)
        .ok()
        .flatten()
        .map(str::to_owned)
}

/// The layer's function (see the module documentation): runs the request and edits the answer
/// of a WebSocket handshake.
pub async fn edit(State(state): State<Arc<HttpFaults>>, request: Request, next: Next) -> Response {
    let foreign_refused = state.faults.has(Fault::RefuseForeignTokens);
    if request.uri().path() != WS_PATH {
        let issues =
            request.method() == Method::POST && request.uri().path().ends_with(PARTICIPANTS_SUFFIX);
        let response = next.run(request).await;
        if foreign_refused && issues {
            return remember_issued(&state, response).await;
        }
        return response;
    }
    let token = offered_token(request.headers(), request.uri());
    if foreign_refused
        && let Some(token) = &token
        && !state.issued().contains(token)
    {
        return refusal(StatusCode::UNAUTHORIZED, ApiError::InvalidToken.to_string());
    }
    let mut response = next.run(request).await;
    let faults = state.faults;
    match response.status() {
        StatusCode::SWITCHING_PROTOCOLS => {
            let headers = response.headers_mut();
            if faults.has(Fault::WrongAcceptKey) {
                headers.insert(
                    header::SEC_WEBSOCKET_ACCEPT,
                    HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                );
            }
            let selected = headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL);
            if selected && faults.has(Fault::TwoProtocolValues) {
                headers.insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static("chalk, chalk"),
                );
            }
            if !selected && faults.has(Fault::ProtocolHeaderWithoutOffer) {
                headers.insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_static("chalk"),
                );
            }
            response
        }
        StatusCode::UNAUTHORIZED => token_refusal(&state, token.as_deref()).unwrap_or(response),
        StatusCode::FORBIDDEN if faults.has(Fault::OriginRefusal401) => {
            origin_refusal_401(response).await
        }
        _ => response,
    }
}

/// `refuse-foreign-tokens`: notes the `access_token` of a REST answer as issued, and passes the
/// answer on unchanged.
async fn remember_issued(state: &HttpFaults, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ISSUED_BODY_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(token) = answer["access_token"].as_str()
    {
        state.issued().insert(token.to_owned());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `token-refusal-403`, `detailed-token-errors`, `reflect-token`: what a token refusal turns
/// into, or `None` for the normal refusal.
fn token_refusal(state: &HttpFaults, token: Option<&str>) -> Option<Response> {
    let text = ApiError::InvalidToken.to_string();
    if state.faults.has(Fault::TokenRefusal403) {
        return Some(refusal(StatusCode::FORBIDDEN, text));
    }
    let token = token?;
    if state.faults.has(Fault::DetailedTokenErrors)
        && let Err(reason) = state.verifier.verify(token)
    {
        return Some(refusal(
            StatusCode::UNAUTHORIZED,
            format!("{text}: {reason}"),
        ));
    }
    if state.faults.has(Fault::ReflectToken) {
        return Some(refusal(
            StatusCode::UNAUTHORIZED,
            format!("{text}: {token}"),
        ));
    }
    None
}

/// `origin-refusal-401`: an origin refusal answered with 401 (other 403 refusals unchanged).
async fn origin_refusal_401(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REFUSAL_BODY_BYTES).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let text = ApiError::OriginNotAllowed.to_string();
    let is_origin = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|body| body["error"] == text.as_str());
    if is_origin {
        return refusal(StatusCode::UNAUTHORIZED, text);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A refusal with this status and this `error` text, shaped as the server shapes its own.
fn refusal(status: StatusCode, text: String) -> Response {
    (status, Json(serde_json::json!({ "error": text }))).into_response()
}
