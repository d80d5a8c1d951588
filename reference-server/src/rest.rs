//! The REST subset of the platform API (`X-API-Key`, JSON in and out, `{"error": "..."}` on
//! failure). Handlers extract and delegate to the room directory ([`crate::directory`]); the
//! tenant comes from the API key.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::TokenSubject;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::rooms::RoomRefusal;

/// Longest room name accepted by `POST /api/v1/rooms`, in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 256;

/// Longest participant `display_name` accepted, in bytes.
pub const MAX_DISPLAY_NAME_BYTES: usize = 128;

/// Longest participant `role` accepted, in bytes.
pub const MAX_ROLE_BYTES: usize = 64;

/// The tenant authenticated by `X-API-Key`.
#[derive(Debug, Clone)]
pub struct Tenant(pub String);

impl FromRequestParts<Arc<Hub>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        hub: &Arc<Hub>,
    ) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all("x-api-key").iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(ApiError::InvalidApiKey);
        };
        let key = value.to_str().map_err(|_| ApiError::InvalidApiKey)?;
        hub.tenant_for_api_key(key)
            .map(|t| Tenant(t.to_owned()))
            .ok_or(ApiError::InvalidApiKey)
    }
}

/// A JSON body whose rejections become `400 {"error": ...}`.
pub struct JsonBody<T>(T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    Json<T>: axum::extract::FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "invalid JSON body: {}",
                rejection.body_text()
            ))),
        }
    }
}

impl From<RoomRefusal> for ApiError {
    fn from(refusal: RoomRefusal) -> Self {
        match refusal {
            RoomRefusal::Ended => ApiError::Conflict("room has ended"),
            RoomRefusal::Removed => ApiError::NotFound("participant not found"),
            RoomRefusal::RecordingActive => ApiError::Conflict("recording already started"),
            RoomRefusal::NoRecording => ApiError::Conflict("no recording in progress"),
            RoomRefusal::UnknownParticipant => ApiError::NotFound("participant not found"),
            RoomRefusal::Unavailable => ApiError::RedisUnavailable,
        }
    }
}

/// Checks a required, bounded, non-blank text field.
fn text_field(name: &'static str, value: &str, max_bytes: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::BadRequest(format!("{name} must not be empty")));
    }
    if value.len() > max_bytes {
        return Err(ApiError::BadRequest(format!(
            "{name} is longer than {max_bytes} bytes"
        )));
    }
    Ok(())
}

/// `GET /healthz`.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: the node's metrics in the Prometheus text format ([`crate::metrics`]).
/// Like `/healthz` it needs no API key and shows no secret: counts only.
pub async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let text = hub.metrics.render(hub.sessions.live(), hub.rooms.count());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("not found")
}

/// Body of `POST /api/v1/rooms`.
#[derive(Debug, Deserialize)]
pub struct CreateRoom {
    name: String,
}

/// `POST /api/v1/rooms`.
pub async fn create_room(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    JsonBody(body): JsonBody<CreateRoom>,
) -> Result<Response, ApiError> {
    text_field("name", &body.name, MAX_ROOM_NAME_BYTES)?;
    let room = hub.directory.create(&tenant.0, &body.name).await?;
    Ok((StatusCode::CREATED, Json(room)).into_response())
}

/// `GET /api/v1/rooms/{room_id}`.
pub async fn room(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path(room_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(hub.directory.view(&tenant.0, &room_id).await?).into_response())
}

/// `POST /api/v1/rooms/{room_id}/end`.
pub async fn end_room(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path(room_id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(hub.directory.end(&tenant.0, &room_id).await?).into_response())
}

/// Body of `POST /api/v1/rooms/{room_id}/participants`.
#[derive(Debug, Deserialize)]
pub struct AddParticipant {
    display_name: String,
    #[serde(default)]
    role: Option<String>,
}

/// `POST /api/v1/rooms/{room_id}/participants`: records the participant and mints its token.
pub async fn add_participant(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path(room_id): Path<String>,
    JsonBody(body): JsonBody<AddParticipant>,
) -> Result<Response, ApiError> {
    hub.directory.view(&tenant.0, &room_id).await?;
    let issuer = hub
        .issuer
        .as_ref()
        .ok_or(ApiError::TokenIssuanceNotConfigured)?;
    text_field("display_name", &body.display_name, MAX_DISPLAY_NAME_BYTES)?;
    let role = body.role.unwrap_or_else(|| "participant".to_owned());
    text_field("role", &role, MAX_ROLE_BYTES)?;
    let (participant_id, room) = hub
        .directory
        .add_participant(&tenant.0, &room_id, &body.display_name, &role)
        .await?;
    let access_token = issuer
        .mint(TokenSubject {
            tenant: &tenant.0,
            room_id: &room_id,
            participant_id: &participant_id,
            display_name: &body.display_name,
            role: &role,
        })
        .map_err(|error| {
            tracing::error!(%error, "token minting failed");
            ApiError::Internal
        })?;
    let body = json!({
        "access_token": access_token,
        "refresh_token": format!("rt_{}", uuid::Uuid::new_v4().simple()),
        "token_type": "Bearer",
        "expires_in": issuer.ttl().as_secs(),
        "participant": {
            "id": participant_id,
            "room_id": room_id,
            "display_name": body.display_name,
            "role": role,
        },
        "room": room,
    });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/v1/rooms/{room_id}/participants/{participant_id}`.
pub async fn participant(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path((room_id, participant_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = hub
        .directory
        .participant(&tenant.0, &room_id, &participant_id)
        .await?;
    Ok(Json(view).into_response())
}

/// `DELETE /api/v1/rooms/{room_id}/participants/{participant_id}`.
pub async fn remove_participant(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path((room_id, participant_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    hub.directory
        .remove_participant(&tenant.0, &room_id, &participant_id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/rooms/{room_id}/recordings/start`.
pub async fn start_recording(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path(room_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = hub.directory.start_recording(&tenant.0, &room_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "recording_id": id, "room_id": room_id, "status": "recording" })),
    )
        .into_response())
}

/// `POST /api/v1/rooms/{room_id}/recordings/stop`.
pub async fn stop_recording(
    State(hub): State<Arc<Hub>>,
    tenant: Tenant,
    Path(room_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = hub.directory.stop_recording(&tenant.0, &room_id).await?;
    Ok(
        Json(json!({ "recording_id": id, "room_id": room_id, "status": "stopped" }))
            .into_response(),
    )
}
