//! The platform's REST API, as far as the suite needs it: rooms, participants, recordings.
//!
//! Every call carries the tenant API key in `X-API-Key`. A non-2xx answer becomes a
//! [`RestError`] that names the method, the path and the status, never the key.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio_rustls::rustls::ClientConfig;

/// How long one REST call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most characters of an error body quoted in a message.
const MAX_QUOTED_BODY: usize = 200;

/// Why a REST call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// The request did not get an answer.
    #[error("{method} {path}: no answer: {reason}")]
    Transport {
        /// The HTTP method.
        method: String,
        /// The path below the API base.
        path: String,
        /// Why.
        reason: String,
    },
    /// The API answered with a non-success status (the body is left out when it only repeats
    /// the status, so that the code shows once).
    #[error("{method} {path} answered {status}{}", quoted_body(*status, body))]
    Status {
        /// The HTTP method.
        method: String,
        /// The path below the API base.
        path: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer lacked a field the suite needs.
    #[error("{method} {path}: the answer has no {field}")]
    Shape {
        /// The HTTP method.
        method: String,
        /// The path below the API base.
        path: String,
        /// The missing field, as a JSON pointer.
        field: &'static str,
    },
}

/// `: body`, or nothing when the body is empty or only repeats the status (`404: Not Found`,
/// `Not Found`, `404`).
fn quoted_body(status: u16, body: &str) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or_default();
    let code = status.to_string();
    let rest = body
        .trim()
        .trim_start_matches(&code)
        .trim_start_matches(':');
    let rest = rest.trim();
    if rest.is_empty() || rest.eq_ignore_ascii_case(reason) {
        String::new()
    } else {
        format!(": {}", body.trim())
    }
}

impl RestError {
    /// Whether the API does not offer what was asked: the route answered 404 (no such route) or
    /// 405 (not with this method).
    pub fn not_offered(&self) -> bool {
        matches!(
            self,
            RestError::Status {
                status: 404 | 405,
                ..
            }
        )
    }

    /// The status the API answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A participant as the REST API created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedParticipant {
    /// `access_token`.
    pub token: String,
    /// `participant.id`.
    pub participant_id: String,
    /// `room.id`, when the answer has it.
    pub room_id: Option<String>,
    /// `participant.display_name`, when the answer has it: the name the platform recorded.
    pub display_name: Option<String>,
    /// `participant.role`, when the answer has it: the role the platform recorded.
    pub role: Option<String>,
}

/// A client of the REST API of one tenant.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: Client,
    /// The base URL as given.
    url: String,
    /// The base URL without a trailing slash, which every path is appended to.
    base: String,
    api_key: String,
}

impl RestClient {
    /// A client for the API at `base` (e.g. `https://host/api/v1`) with `api_key`.
    pub fn new(base: &str, api_key: &str, tls: Arc<ClientConfig>) -> Result<Self, RestError> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tls_backend_preconfigured((*tls).clone())
            .build()
            .map_err(|e| RestError::Client(e.to_string()))?;
        Ok(Self {
            http,
            url: base.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    /// The API's base URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `POST /rooms {"name"}`: the new room's id.
    pub async fn create_room(&self, name: &str) -> Result<String, RestError> {
        let path = "/rooms".to_owned();
        let answer = self
            .call(Method::POST, &path, Some(json!({ "name": name })))
            .await?;
        string_at(&answer, "/id").ok_or(RestError::Shape {
            method: "POST".into(),
            path,
            field: "/id",
        })
    }

    /// `POST /rooms/{id}/participants {"display_name","role"}`: the participant and its token.
    pub async fn add_participant(
        &self,
        room_id: &str,
        display_name: &str,
        role: &str,
    ) -> Result<CreatedParticipant, RestError> {
        let path = format!("/rooms/{room_id}/participants");
        let body = json!({ "display_name": display_name, "role": role });
        let answer = self.call(Method::POST, &path, Some(body)).await?;
        let shape = |field| RestError::Shape {
            method: "POST".into(),
            path: path.clone(),
            field,
        };
        Ok(CreatedParticipant {
            token: string_at(&answer, "/access_token").ok_or_else(|| shape("/access_token"))?,
            participant_id: string_at(&answer, "/participant/id")
                .ok_or_else(|| shape("/participant/id"))?,
            room_id: string_at(&answer, "/room/id"),
            display_name: string_at(&answer, "/participant/display_name"),
            role: string_at(&answer, "/participant/role"),
        })
    }

    /// `POST /rooms/{id}/recordings/start` or `/stop`.
    pub async fn recording(&self, room_id: &str, action: RecordingAction) -> Result<(), RestError> {
        let path = format!("/rooms/{room_id}/recordings/{}", action.as_str());
        self.call(Method::POST, &path, None).await.map(drop)
    }

    /// `DELETE /rooms/{id}/participants/{pid}`.
    pub async fn remove_participant(
        &self,
        room_id: &str,
        participant_id: &str,
    ) -> Result<(), RestError> {
        let path = format!("/rooms/{room_id}/participants/{participant_id}");
        self.call(Method::DELETE, &path, None).await.map(drop)
    }

    /// `POST /rooms/{id}/end`.
    pub async fn end_room(&self, room_id: &str) -> Result<(), RestError> {
        let path = format!("/rooms/{room_id}/end");
        self.call(Method::POST, &path, None).await.map(drop)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, RestError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-API-Key", &self.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| RestError::Transport {
            method: method.to_string(),
            path: path.to_owned(),
            reason: without_url(&e),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RestError::Status {
                method: method.to_string(),
                path: path.to_owned(),
                status: status.as_u16(),
                body: text.chars().take(MAX_QUOTED_BODY).collect(),
            });
        }
        if status == StatusCode::NO_CONTENT || text.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Starting or stopping a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingAction {
    /// Start recording.
    Start,
    /// Stop recording.
    Stop,
}

impl RecordingAction {
    /// `start` or `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingAction::Start => "start",
            RecordingAction::Stop => "stop",
        }
    }
}

fn string_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// reqwest's error text without the URL it carries (the URL is already in our message).
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut deepest = error.to_string();
    while let Some(inner) = source {
        deepest = inner.to_string();
        source = inner.source();
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else {
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &str) -> String {
        RestError::Status {
            method: "DELETE".into(),
            path: "/rooms/r/participants/p".into(),
            status,
            body: body.into(),
        }
        .to_string()
    }

    #[test]
    fn a_status_shows_once_when_the_body_only_repeats_it() {
        let path = "DELETE /rooms/r/participants/p";
        assert_eq!(
            answered(404, "404: Not Found"),
            format!("{path} answered 404")
        );
        assert_eq!(
            answered(405, "Method Not Allowed"),
            format!("{path} answered 405")
        );
        assert_eq!(answered(404, ""), format!("{path} answered 404"));
        assert_eq!(
            answered(409, r#"{"error":"room ended"}"#),
            format!(r#"{path} answered 409: {{"error":"room ended"}}"#)
        );
    }
}
