//! The wire format: client events parsed by hand (so every bad input gets a precise `error`
//! code instead of a serde message), and server events serialised once into shared frames.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::Value;

/// A client event the server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// `chat.send` with its text, exactly as sent.
    ChatSend(String),
    /// `hand.raise`.
    HandRaise,
    /// `hand.lower`.
    HandLower,
    /// `ping`.
    Ping,
}

/// The `code` of an `error` event (extension `error-event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON.
    InvalidJson,
    /// Not an object, `event` missing or not a string, or `data` present but not an object.
    InvalidEvent,
    /// An event name the server does not know.
    UnknownEvent,
    /// A field of the wrong type or missing (`text` not a string).
    InvalidData,
    /// `chat.send` with an empty text.
    TextEmpty,
    /// `chat.send` with more than `max_text_chars` Unicode scalar values.
    TextTooLong,
    /// The event was dropped by the rate limit.
    RateLimited,
    /// Cluster mode: the event could not be handed to the other nodes (Redis unavailable, or
    /// too much waiting for it); it was not delivered to anyone.
    Unavailable,
}

/// A client frame that cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: &'static str,
    /// The offending event's name, when known.
    pub event: Option<String>,
}

impl EventError {
    fn new(code: ErrorCode, message: &'static str, event: Option<&str>) -> Self {
        Self {
            code,
            message,
            event: event.map(str::to_owned),
        }
    }
}

/// Parses one text frame into an event, or says precisely what is wrong with it.
pub fn parse_client_event(text: &str, max_text_chars: usize) -> Result<ClientEvent, EventError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| EventError::new(ErrorCode::InvalidJson, "frame is not valid JSON", None))?;
    let Value::Object(mut object) = value else {
        return Err(EventError::new(
            ErrorCode::InvalidEvent,
            "frame must be a JSON object",
            None,
        ));
    };
    let name = match object.get("event") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(EventError::new(
                ErrorCode::InvalidEvent,
                "\"event\" must be a string",
                None,
            ));
        }
    };
    let data = match object.remove("data") {
        None => None,
        Some(Value::Object(data)) => Some(data),
        Some(_) => {
            return Err(EventError::new(
                ErrorCode::InvalidEvent,
                "\"data\" must be an object",
                Some(&name),
            ));
        }
    };
    match name.as_str() {
        "chat.send" => {
            let text = match data.and_then(|mut d| d.remove("text")) {
                Some(Value::String(text)) => text,
                _ => {
                    return Err(EventError::new(
                        ErrorCode::InvalidData,
                        "chat.send needs data.text as a string",
                        Some(&name),
                    ));
                }
            };
            if text.is_empty() {
                return Err(EventError::new(
                    ErrorCode::TextEmpty,
                    "chat text is empty",
                    Some(&name),
                ));
            }
            if text.chars().count() > max_text_chars {
                return Err(EventError::new(
                    ErrorCode::TextTooLong,
                    "chat text is too long",
                    Some(&name),
                ));
            }
            Ok(ClientEvent::ChatSend(text))
        }
        "hand.raise" => Ok(ClientEvent::HandRaise),
        "hand.lower" => Ok(ClientEvent::HandLower),
        "ping" => Ok(ClientEvent::Ping),
        _ => Err(EventError::new(
            ErrorCode::UnknownEvent,
            "unknown event",
            Some(&name),
        )),
    }
}

/// One entry of `room.state`'s roster.
#[derive(Debug, Clone, Serialize)]
pub struct RosterEntry<'a> {
    /// Participant id.
    pub id: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Role.
    pub role: &'a str,
    /// Whether the hand is raised.
    pub hand_raised: bool,
}

/// Every event the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", content = "data")]
pub enum ServerEvent<'a> {
    /// Someone joined (sent to the others).
    #[serde(rename = "participant.joined")]
    ParticipantJoined {
        /// Participant id.
        id: &'a str,
        /// Display name.
        display_name: &'a str,
        /// Role.
        role: &'a str,
    },
    /// Someone's connection ended.
    #[serde(rename = "participant.left")]
    ParticipantLeft {
        /// Participant id.
        id: &'a str,
    },
    /// A chat message, to everyone including the sender.
    #[serde(rename = "chat.message")]
    ChatMessage {
        /// Server-made unique id.
        id: &'a str,
        /// The sender, from its token.
        sender_id: &'a str,
        /// Text as sent.
        text: &'a str,
        /// RFC 3339 UTC.
        timestamp: &'a str,
    },
    /// Recording started.
    #[serde(rename = "recording.started")]
    RecordingStarted {
        /// Recording id.
        recording_id: &'a str,
    },
    /// Recording stopped.
    #[serde(rename = "recording.stopped")]
    RecordingStopped {
        /// Recording id.
        recording_id: &'a str,
    },
    /// Answer to `ping` (extension `pong-event`).
    #[serde(rename = "pong")]
    Pong {
        /// RFC 3339 UTC.
        timestamp: &'a str,
    },
    /// A hand went up (extension `hand-events`).
    #[serde(rename = "hand.raised")]
    HandRaised {
        /// Whose hand.
        participant_id: &'a str,
    },
    /// A hand went down (extension `hand-events`).
    #[serde(rename = "hand.lowered")]
    HandLowered {
        /// Whose hand.
        participant_id: &'a str,
    },
    /// The joiner's first frame (extension `room-state`).
    #[serde(rename = "room.state")]
    RoomState {
        /// Room id.
        room_id: &'a str,
        /// Everyone connected, the joiner included.
        participants: Vec<RosterEntry<'a>>,
        /// Active recording, if any.
        recording_id: Option<&'a str>,
    },
    /// A client frame could not be acted on (extension `error-event`).
    #[serde(rename = "error")]
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: &'a str,
        /// The offending event's name, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<&'a str>,
    },
}

impl ServerEvent<'_> {
    /// Serialises the event once into a frame that every receiver shares.
    pub fn encode(&self) -> Utf8Bytes {
        // Serialising these types cannot fail: string keys only, no maps with non-string keys.
        Utf8Bytes::from(serde_json::to_string(self).unwrap_or_default())
    }
}

impl EventError {
    /// The `error` event for this failure.
    pub fn encode(&self) -> Utf8Bytes {
        ServerEvent::Error {
            code: self.code,
            message: self.message,
            event: self.event.as_deref(),
        }
        .encode()
    }
}

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-01-06T10:45:00.123Z`.
pub fn timestamp_now() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// Formats a time as RFC 3339 UTC with milliseconds.
pub fn format_timestamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        parse_client_event(text, 10).unwrap_err().code
    }

    #[test]
    fn classifies_every_kind_of_bad_frame() {
        assert_eq!(code("not json"), ErrorCode::InvalidJson);
        assert_eq!(code("[]"), ErrorCode::InvalidEvent);
        assert_eq!(code("{}"), ErrorCode::InvalidEvent);
        assert_eq!(code(r#"{"event":1}"#), ErrorCode::InvalidEvent);
        assert_eq!(
            code(r#"{"event":"ping","data":[]}"#),
            ErrorCode::InvalidEvent
        );
        assert_eq!(code(r#"{"event":"nope"}"#), ErrorCode::UnknownEvent);
        assert_eq!(code(r#"{"event":"chat.send"}"#), ErrorCode::InvalidData);
        assert_eq!(
            code(r#"{"event":"chat.send","data":{"text":5}}"#),
            ErrorCode::InvalidData
        );
        assert_eq!(
            code(r#"{"event":"chat.send","data":{"text":""}}"#),
            ErrorCode::TextEmpty
        );
        assert_eq!(
            code(r#"{"event":"chat.send","data":{"text":"01234567890"}}"#),
            ErrorCode::TextTooLong
        );
    }

    #[test]
    fn counts_text_length_in_scalar_values() {
        let ten_emoji = "😀".repeat(10);
        let frame = serde_json::json!({"event": "chat.send", "data": {"text": ten_emoji}});
        assert_eq!(
            parse_client_event(&frame.to_string(), 10),
            Ok(ClientEvent::ChatSend(ten_emoji))
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert_eq!(code(&deep), ErrorCode::InvalidJson);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let at = time::macros::datetime!(2026-01-06 10:45:00.123 UTC);
        assert_eq!(format_timestamp(at), "2026-01-06T10:45:00.123Z");
    }

    #[test]
    fn events_serialise_with_event_and_data() {
        let frame = ServerEvent::ParticipantLeft { id: "p_1" }.encode();
        assert_eq!(
            frame.as_str(),
            r#"{"event":"participant.left","data":{"id":"p_1"}}"#
        );
    }
}
