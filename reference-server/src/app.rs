//! The route table ([`app`]): every path of the HTTP API and the layers around them.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, header};
use axum::routing::{get, post};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::hub::Hub;
use crate::{handshake, rest};

/// Largest request body the REST API reads (16 KiB); a larger body is refused.
pub const MAX_REST_BODY_BYTES: usize = 16 * 1024;

/// The route table.
pub fn app(hub: Arc<Hub>) -> Router {
    let api = Router::new()
        .route("/ws", get(handshake::upgrade))
        .route("/rooms", post(rest::create_room))
        .route("/rooms/{room_id}", get(rest::room))
        .route("/rooms/{room_id}/end", post(rest::end_room))
        .route("/rooms/{room_id}/participants", post(rest::add_participant))
        .route(
            "/rooms/{room_id}/participants/{participant_id}",
            get(rest::participant).delete(rest::remove_participant),
        )
        .route(
            "/rooms/{room_id}/recordings/start",
            post(rest::start_recording),
        )
        .route(
            "/rooms/{room_id}/recordings/stop",
            post(rest::stop_recording),
        );
    Router::new()
        .route("/healthz", get(rest::health))
        .route("/metrics", get(rest::metrics))
        .nest("/api/v1", api)
        .fallback(rest::not_found)
        .layer(DefaultBodyLimit::max(MAX_REST_BODY_BYTES))
        .layer(
            // The span records method and path only: never the query (`?token=`) or headers.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::SEC_WEBSOCKET_PROTOCOL,
            header::AUTHORIZATION,
            header::COOKIE,
            header::HeaderName::from_static("x-api-key"),
        ]))
        .with_state(hub)
}
