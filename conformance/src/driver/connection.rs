//! One open WebSocket connection of a scenario: sending, and an inbox of everything received.
//!
//! A reader task drains the socket as frames arrive, judges each one ([`FrameJudge`]), writes it
//! to the scenario's transcript and appends it to the connection's [`Inbox`]. Steps never read the
//! socket themselves: they wait, with a deadline, until the inbox holds what they look for. So a
//! frame that arrives early is never lost, and a step never blocks the other scenarios.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::contract::frame::FrameView;
use crate::contract::judge::{FrameJudge, SchemaViolation};
use crate::driver::transcript::{Direction, Transcript};
use crate::driver::transport::Transport;

/// How long sending one frame may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// One thing received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When, relative to the scenario's start.
    pub at: Duration,
    /// What.
    pub kind: ReceivedKind,
}

/// What was received.
#[derive(Debug, Clone)]
pub enum ReceivedKind {
    /// A text frame holding JSON (judged separately; may still break a schema).
    Json(Value),
    /// A text frame that is not JSON.
    NotJson(String),
    /// A binary data frame of this many bytes.
    Binary(usize),
    /// A Pong control frame and its payload.
    Pong(Vec<u8>),
}

impl Received {
    /// The JSON value, for JSON frames.
    pub fn json(&self) -> Option<&Value> {
        match &self.kind {
            ReceivedKind::Json(value) => Some(value),
            _ => None,
        }
    }

    /// The frame seen as an event envelope, for JSON frames.
    pub fn view(&self) -> Option<FrameView<'_>> {
        self.json().map(FrameView)
    }

    /// The event name, for JSON frames that have one.
    pub fn event(&self) -> Option<&str> {
        self.view()?.event()
    }
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A Close frame arrived from the server.
    CloseFrame {
        /// Its status code, if it had one.
        code: Option<u16>,
        /// Its reason.
        reason: String,
        /// When.
        at: Duration,
    },
    /// The connection ended without a Close frame (TCP closed or reset, protocol error).
    Dropped {
        /// What the client library said.
        detail: String,
        /// When.
        at: Duration,
    },
}

impl Ending {
    /// A one-line description for failure messages.
    pub fn describe(&self) -> String {
        match self {
            Ending::CloseFrame {
                code: Some(code),
                reason,
                ..
            } if reason.is_empty() => {
                format!("closed by the server with code {code}")
            }
            Ending::CloseFrame {
                code: Some(code),
                reason,
                ..
            } => {
                format!("closed by the server with code {code} ({reason:?})")
            }
            Ending::CloseFrame { code: None, .. } => {
                "closed by the server with a Close frame without a code".to_owned()
            }
            Ending::Dropped { detail, .. } => format!("ended without a Close frame: {detail}"),
        }
    }
}

/// Everything a connection has received so far.
#[derive(Debug, Default)]
pub struct InboxState {
    /// Data and Pong frames, in arrival order.
    pub frames: Vec<Received>,
    /// How the connection ended, once it has.
    pub ending: Option<Ending>,
    /// Frames that broke the contract.
    pub violations: Vec<SchemaViolation>,
}

/// The shared inbox of a connection, with a change signal for waiters.
#[derive(Debug)]
pub struct Inbox {
    state: Mutex<InboxState>,
    changed: watch::Sender<u64>,
}

impl Inbox {
    fn new() -> Self {
        Self {
            state: Mutex::new(InboxState::default()),
            changed: watch::Sender::new(0),
        }
    }

    /// The current state.
    pub fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut InboxState)) {
        change(&mut self.lock());
        self.changed.send_modify(|v| *v += 1);
    }

    /// Waits until `check` finds what it looks for, or until `deadline`.
    pub async fn wait_for<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&InboxState) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.changed.subscribe();
        loop {
            if let Some(found) = check(&self.lock()) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return check(&self.lock()),
            }
        }
    }
}

/// Why a frame could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection was already dropped by the suite.
    #[error("the connection was already dropped")]
    Dropped,
    /// Writing failed (the server closed, reset, …).
    #[error("{0}")]
    Write(String),
    /// Writing did not finish in time.
    #[error("sending timed out")]
    Timeout,
}

/// One open WebSocket connection.
#[derive(Debug)]
pub struct Connection {
    label: String,
    sink: Option<SplitSink<WebSocketStream<Transport>, Message>>,
    inbox: Arc<Inbox>,
    reader: Option<JoinHandle<()>>,
    transcript: Arc<Transcript>,
    /// Frames before this index arrived before the scenario's action (`When`).
    mark: usize,
    /// Whether the suite started the closing handshake.
    closed_by_client: bool,
}

impl Connection {
    /// Starts reading `ws` in the background.
    pub fn start(
        label: String,
        ws: WebSocketStream<Transport>,
        judge: Arc<FrameJudge>,
        transcript: Arc<Transcript>,
    ) -> Self {
        let (sink, mut stream) = ws.split();
        let inbox = Arc::new(Inbox::new());
        let reader = {
            let inbox = Arc::clone(&inbox);
            let transcript = Arc::clone(&transcript);
            let label = label.clone();
            tokio::spawn(async move {
                // Members the page does not show, each noted once per connection.
                let mut unlisted_noted = std::collections::BTreeSet::new();
                while let Some(message) = stream.next().await {
                    let at = transcript.elapsed();
                    match message {
                        Ok(Message::Text(text)) => {
                            transcript.record(&label, Direction::In, text.as_str());
                            let (value, violation) = judge.judge_text(text.as_str());
                            let unlisted: Vec<String> = value
                                .iter()
                                .flat_map(|v| judge.unlisted_members(v))
                                .filter(|member| unlisted_noted.insert(member.clone()))
                                .collect();
                            if !unlisted.is_empty() {
                                transcript.record(
                                    &label,
                                    Direction::Note,
                                    format!(
                                        "members the page does not show (allowed): {}",
                                        unlisted.join(", ")
                                    ),
                                );
                            }
                            let kind = match value {
                                Some(value) => ReceivedKind::Json(value),
                                None => ReceivedKind::NotJson(text.as_str().to_owned()),
                            };
                            inbox.update(|s| {
                                s.frames.push(Received { at, kind });
                                s.violations.extend(violation);
                            });
                        }
                        Ok(Message::Binary(bytes)) => {
                            transcript.record(
                                &label,
                                Direction::In,
                                format!("(binary frame, {} bytes)", bytes.len()),
                            );
                            let violation = judge.judge_binary(bytes.len());
                            inbox.update(|s| {
                                s.frames.push(Received {
                                    at,
                                    kind: ReceivedKind::Binary(bytes.len()),
                                });
                                s.violations.push(violation);
                            });
                        }
                        Ok(Message::Ping(payload)) => {
                            transcript.record(
                                &label,
                                Direction::In,
                                format!("(ping frame, {} bytes; answered)", payload.len()),
                            );
                        }
                        Ok(Message::Pong(payload)) => {
                            transcript.record(
                                &label,
                                Direction::In,
                                format!("(pong frame: {:?})", String::from_utf8_lossy(&payload)),
                            );
                            inbox.update(|s| {
                                s.frames.push(Received {
                                    at,
                                    kind: ReceivedKind::Pong(payload.to_vec()),
                                });
                            });
                        }
                        Ok(Message::Close(frame)) => {
                            let (code, reason) = match &frame {
                                Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                                None => (None, String::new()),
                            };
                            let ending = Ending::CloseFrame { code, reason, at };
                            transcript.record(
                                &label,
                                Direction::In,
                                format!("(close frame: {})", ending.describe()),
                            );
                            inbox.update(|s| {
                                s.ending.get_or_insert(ending);
                            });
                        }
                        Ok(Message::Frame(_)) => {}
                        Err(error) => {
                            let detail = error.to_string();
                            transcript.record(
                                &label,
                                Direction::Note,
                                format!("connection ended: {detail}"),
                            );
                            inbox.update(|s| {
                                s.ending.get_or_insert(Ending::Dropped { detail, at });
                            });
                            return;
                        }
                    }
                }
                let at = transcript.elapsed();
                inbox.update(|s| {
                    if s.ending.is_none() {
                        transcript.record(
                            &label,
                            Direction::Note,
                            "connection ended without a close frame",
                        );
                        s.ending = Some(Ending::Dropped {
                            detail: "the server ended the TCP connection".to_owned(),
                            at,
                        });
                    }
                });
            })
        };
        Self {
            label,
            sink: Some(sink),
            inbox,
            reader: Some(reader),
            transcript,
            mark: 0,
            closed_by_client: false,
        }
    }

    /// The connection's label, e.g. `Alice#1`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The inbox.
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// Index of the first frame received since the scenario's action.
    pub fn mark(&self) -> usize {
        self.mark
    }

    /// Marks everything received so far as "before the action".
    pub fn set_mark(&mut self) {
        self.mark = self.inbox.lock().frames.len();
    }

    /// Whether the suite started the closing handshake.
    pub fn closed_by_client(&self) -> bool {
        self.closed_by_client
    }

    /// Whether the suite dropped the connection.
    pub fn is_dropped(&self) -> bool {
        self.sink.is_none()
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.transcript.record(&self.label, Direction::Out, text);
        self.send(Message::text(text)).await
    }

    /// Sends any message; the transcript line is written by the caller.
    pub async fn send_raw(&mut self, message: Message, described: &str) -> Result<(), SendError> {
        self.transcript
            .record(&self.label, Direction::Out, described);
        self.send(message).await
    }

    /// Starts the closing handshake with `code`.
    pub async fn close(&mut self, code: u16) -> Result<(), SendError> {
        self.closed_by_client = true;
        self.transcript.record(
            &self.label,
            Direction::Out,
            format!("(close frame, code {code})"),
        );
        self.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        })))
        .await
    }

    /// Starts the closing handshake with a close frame that carries no status code.
    pub async fn close_without_code(&mut self) -> Result<(), SendError> {
        self.closed_by_client = true;
        self.transcript
            .record(&self.label, Direction::Out, "(close frame, no status code)");
        self.send(Message::Close(None)).await
    }

    async fn send(&mut self, message: Message) -> Result<(), SendError> {
        let sink = self.sink.as_mut().ok_or(SendError::Dropped)?;
        let result = tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await;
        let outcome = match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::Write(e.to_string())),
            Err(_) => Err(SendError::Timeout),
        };
        if let Err(e) = &outcome {
            self.transcript
                .record(&self.label, Direction::Note, format!("sending failed: {e}"));
        }
        outcome
    }

    /// Ends the TCP connection without a closing handshake.
    pub fn drop_abruptly(&mut self) {
        self.transcript.record(
            &self.label,
            Direction::Note,
            "(TCP connection dropped, no close frame)",
        );
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
        self.sink = None;
    }

    /// Says goodbye politely if the connection is still open, then lets go of it. Reading
    /// stops first: the transcript ends with the scenario, not with its cleanup.
    pub async fn shut(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
        let open = self.inbox.lock().ending.is_none();
        if open
            && !self.closed_by_client
            && let Some(sink) = self.sink.as_mut()
        {
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            let _ = tokio::time::timeout(Duration::from_millis(200), sink.send(close)).await;
        }
        self.sink = None;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subject(value: Value) -> Option<String> {
        FrameView(&value).subject().map(str::to_owned)
    }

    #[test]
    fn subjects_follow_each_events_field() {
        assert_eq!(
            subject(json!({"event":"participant.left","data":{"id":"p1"}})).as_deref(),
            Some("p1")
        );
        assert_eq!(
            subject(json!({"event":"hand.raised","data":{"participant_id":"p2"}})).as_deref(),
            Some("p2")
        );
        assert_eq!(
            subject(json!({"event":"chat.message","data":{"sender_id":"p3"}})).as_deref(),
            Some("p3")
        );
        assert_eq!(subject(json!({"event":"pong"})), None);
        assert_eq!(subject(json!({"data":{"id":"p1"}})), None);
    }

    #[test]
    fn a_view_reads_the_envelope_without_judging_it() {
        let value = json!({"event":"error","data":{"code":"unknown_event","n":1}});
        let frame = FrameView(&value);
        assert!(frame.is("error"));
        assert_eq!(frame.text("code"), Some("unknown_event"));
        assert_eq!(frame.text("n"), None);
        assert_eq!(frame.text("missing"), None);
        let bare = json!(["not", "an", "envelope"]);
        assert_eq!(FrameView(&bare).event(), None);
        assert_eq!(FrameView(&bare).data(), None);
        let received = Received {
            at: Duration::ZERO,
            kind: ReceivedKind::Binary(4),
        };
        assert_eq!(received.view(), None);
        assert_eq!(received.event(), None);
    }

    #[test]
    fn a_roster_lists_the_ids_of_its_participants() {
        let value = json!({"event":"room.state","data":{"participants":[
            {"id":"p1"},{"name":"no id"},{"id":"p2"}
        ]}});
        assert_eq!(FrameView(&value).roster(), ["p1", "p2"]);
        assert!(
            FrameView(&json!({"event":"room.state"}))
                .roster()
                .is_empty()
        );
    }
}
