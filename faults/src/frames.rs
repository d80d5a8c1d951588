//! Faults on the wire: [`FaultyFrames`], the session frame adapter, edits what a session sends
//! (binary frames, dropped `pong` and `error` events, no answer to a client's close) and what
//! it receives (held-back or re-attributed chat, events that close a connection or a whole
//! room, bad input that stops the server accepting, another close code for invalid UTF-8).
//!
//! The outgoing adapter sits between the connection's outbound queue and the socket. The
//! incoming adapter sits between the socket and the session loop: what it swallows, the session
//! never sees (nor counts against its rate limit).
//!
//! `idle-ignores-ping-event` keeps an idle timer of its own in the incoming adapter (the
//! session's own timer hears every frame, the `ping` event included, and so never fires while a
//! client pings), and drops the session's heartbeat pings on their way out, so that nothing else
//! keeps a client that only pings alive.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::Message;
use chalk_reference_server::close::CloseReason;
use chalk_reference_server::connection::Connection;
use chalk_reference_server::frames::{
    FrameAdapter, IncomingFrames, OutgoingFrames, SessionFrames, SessionInfo,
};
use chalk_reference_server::protocol::{
    ClientEvent, ErrorCode, EventError, ServerEvent, parse_client_event, timestamp_now,
};
use chalk_reference_server::rooms::{Room, RoomKey};
use chalk_reference_server::session::TransportError;
use futures_util::{Sink, Stream};
use tokio::time::{Instant, Sleep};
use tungstenite::error::{Error as WsError, ProtocolError};

use crate::directory::{Directory, Listing};
use crate::fault::{Fault, Faults};
use crate::rewrite::{data_of, event_name, rewrite, string_at};

/// How long `reorder-messages` holds a message back when no next one arrives.
const HOLD: Duration = Duration::from_millis(50);
/// The longest chat text, in characters, that `short-text-limit` lets through.
const SHORT_TEXT_LIMIT: usize = 500;

/// Whether some client sent bad input (for `stop-accepting-after-garbage`).
#[derive(Debug, Default)]
pub struct BadInput(AtomicBool);

impl BadInput {
    /// Records that some client sent bad input.
    pub fn note(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether some client sent bad input.
    pub fn seen(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The session frame adapter of a set of faults; it also lists every session in the
/// [`Directory`].
#[derive(Debug)]
pub struct FaultyFrames {
    faults: Faults,
    directory: Arc<Directory>,
    bad_input: Arc<BadInput>,
    /// The server's `max_text_chars`, to tell usable `chat.send` events as the server does.
    max_text_chars: usize,
    /// The server's `idle_timeout`, for `idle-ignores-ping-event`'s own idle timer.
    idle_timeout: Duration,
}

impl FaultyFrames {
    /// The adapter of `faults`.
    pub fn new(
        faults: Faults,
        directory: Arc<Directory>,
        bad_input: Arc<BadInput>,
        max_text_chars: usize,
    ) -> Self {
        Self {
            faults,
            directory,
            bad_input,
            max_text_chars,
            idle_timeout: Duration::MAX,
        }
    }

    /// The same adapter for a server whose `idle_timeout` is `timeout` (what
    /// `idle-ignores-ping-event` closes a connection after; unbounded until set).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

impl FrameAdapter for FaultyFrames {
    fn adapt(&self, session: &SessionInfo<'_>, frames: SessionFrames) -> SessionFrames {
        let client_closed = Arc::new(AtomicBool::new(false));
        let outgoing = Outgoing {
            inner: frames.outgoing,
            faults: self.faults,
            client_closed: client_closed.clone(),
            sent: 0,
        };
        let incoming = Incoming {
            inner: frames.incoming,
            faults: self.faults,
            conn: session.conn.clone(),
            room: session.room.clone(),
            participant_id: session.participant_id.to_owned(),
            directory: self.directory.clone(),
            bad_input: self.bad_input.clone(),
            max_text_chars: self.max_text_chars,
            client_closed,
            ended: false,
            held: None,
            hold: None,
            queue: VecDeque::new(),
            idle: self
                .faults
                .has(Fault::IdleIgnoresPingEvent)
                .then(|| IdleTimer::new(self.idle_timeout)),
            _listing: self.directory.list(session.room.key(), session.conn),
        };
        SessionFrames {
            outgoing: Box::pin(outgoing),
            incoming: Box::pin(incoming),
        }
    }
}

/// Frames towards the client.
struct Outgoing {
    inner: OutgoingFrames,
    faults: Faults,
    /// The client sent a close frame (seen by [`Incoming`]).
    client_closed: Arc<AtomicBool>,
    /// Text frames sent so far (`extra-envelope-fields` numbers them).
    sent: u64,
}

impl Outgoing {
    /// `no-pong` and `silent-unknown-events` drop their events; `idle-ignores-ping-event` drops
    /// the heartbeat pings; `binary-events` sends every
    /// text frame as a binary one.
    fn edit(&self, message: Message) -> Option<Message> {
        if self.faults.has(Fault::IdleIgnoresPingEvent) && matches!(message, Message::Ping(_)) {
            return None;
        }
        let Message::Text(text) = message else {
            return Some(message);
        };
        if self.faults.has(Fault::NoPong) || self.faults.has(Fault::SilentUnknownEvents) {
            match event_name(&text).as_deref() {
                Some("pong") if self.faults.has(Fault::NoPong) => return None,
                Some("error") if self.faults.has(Fault::SilentUnknownEvents) => return None,
                _ => {}
            }
        }
        if self.faults.has(Fault::BinaryEvents) {
            return Some(Message::Binary(Bytes::from(text)));
        }
        Some(Message::Text(text))
    }

    /// `extra-envelope-fields`: the frame with a sequence number and the server's time beside
    /// `event` and `data`, and a member of `data` the page does not show.
    fn decorate(&mut self, message: Message) -> Message {
        let Message::Text(text) = message else {
            return message;
        };
        self.sent += 1;
        let seq = self.sent;
        let now = chalk_reference_server::protocol::timestamp_now();
        Message::Text(rewrite(&text, |event| {
            event.insert("seq".into(), seq.into());
            event.insert("server_time".into(), now.into());
            if let Some(data) = data_of(event) {
                data.insert("x_node".into(), "node-1".into());
            }
        }))
    }

    /// `no-close-reply`: once the client closed, nothing more is written (tungstenite would
    /// write the echo of its close frame on the next flush).
    fn silenced(&self) -> bool {
        self.faults.has(Fault::NoCloseReply) && self.client_closed.load(Ordering::Relaxed)
    }
}

impl Sink<Message> for Outgoing {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().inner.as_mut().poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let item = if this.faults.has(Fault::ExtraEnvelopeFields) {
            this.decorate(item)
        } else {
            item
        };
        match this.edit(item) {
            Some(message) => this.inner.as_mut().start_send(message),
            None => Ok(()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.silenced() {
            return Poll::Ready(Ok(()));
        }
        this.inner.as_mut().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if this.silenced() {
            return Poll::Ready(Ok(()));
        }
        this.inner.as_mut().poll_close(cx)
    }
}

/// One item of the incoming half.
type Item = Result<Message, axum::Error>;

/// Frames from the client.
struct Incoming {
    inner: IncomingFrames,
    faults: Faults,
    conn: Arc<Connection>,
    room: Arc<Room>,
    /// The session's participant, for `chat-room-from-data`.
    participant_id: String,
    directory: Arc<Directory>,
    bad_input: Arc<BadInput>,
    max_text_chars: usize,
    client_closed: Arc<AtomicBool>,
    /// No more items: the socket ended, or `no-close-reply` ends the session after a close.
    ended: bool,
    /// The chat message `reorder-messages` holds back, and until when.
    held: Option<Message>,
    hold: Option<Pin<Box<Sleep>>>,
    /// Items to hand out before reading again.
    queue: VecDeque<Item>,
    /// `idle-ignores-ping-event`'s idle timer; `None` without that fault, or once it fired.
    idle: Option<IdleTimer>,
    /// The session's entry in the directory, for as long as it reads.
    _listing: Listing,
}

/// An idle timer that every client frame but the `ping` event restarts.
struct IdleTimer {
    timeout: Duration,
    fires: Pin<Box<Sleep>>,
}

impl IdleTimer {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            fires: Box::pin(tokio::time::sleep_until(Self::after(timeout))),
        }
    }

    /// `timeout` from now (far in the future for an unbounded one).
    fn after(timeout: Duration) -> Instant {
        let now = Instant::now();
        now.checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
    }

    /// Something other than the `ping` event was heard.
    fn heard(&mut self) {
        self.fires.as_mut().reset(Self::after(self.timeout));
    }
}

impl Incoming {
    /// `idle-ignores-ping-event`: restarts the idle timer unless `item` is the `ping` event.
    fn restart_idle_timer(&mut self, item: &Item) {
        let Some(idle) = &mut self.idle else { return };
        let ping_event = matches!(item, Ok(Message::Text(text))
            if matches!(parse_client_event(text, self.max_text_chars), Ok(ClientEvent::Ping)));
        if !ping_event {
            idle.heard();
        }
    }

    /// `idle-ignores-ping-event`: once the idle timer fires, the connection closes with 4011.
    fn poll_idle_timer(&mut self, cx: &mut Context<'_>) {
        if let Some(idle) = &mut self.idle
            && idle.fires.as_mut().poll(cx).is_ready()
        {
            self.idle = None;
            self.conn.close(CloseReason::Idle);
        }
    }

    /// What becomes of an item from the socket: handed on (possibly changed), or swallowed.
    fn inspect(&mut self, item: Item) -> Option<Item> {
        self.restart_idle_timer(&item);
        let message = match item {
            Err(error) => return Some(self.broken_frame(error)),
            Ok(message) => message,
        };
        let text = match &message {
            Message::Binary(_) => {
                self.bad_input(self.faults.has(Fault::GarbageClosesRoom));
                return Some(Ok(message));
            }
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| f.code);
                if self.faults.has(Fault::LeftOnlyFor1000) && code != Some(1000) {
                    self.directory
                        .keep_departure_quiet(self.room.key(), &self.participant_id);
                }
                self.client_closed.store(true, Ordering::Relaxed);
                self.ended = self.faults.has(Fault::NoCloseReply);
                return Some(Ok(message));
            }
            Message::Text(text) => text.clone(),
            _ => return Some(Ok(message)),
        };
        let item = Ok(message);
        let close_on = |fault| self.faults.has(fault);
        match parse_client_event(&text, self.max_text_chars) {
            Err(error) => {
                let closes_room = match error.code {
                    ErrorCode::InvalidJson | ErrorCode::InvalidEvent => {
                        self.faults.has(Fault::GarbageClosesRoom)
                    }
                    ErrorCode::UnknownEvent => self.faults.has(Fault::UnknownEventClosesRoom),
                    _ => false,
                };
                self.bad_input(closes_room);
                Some(item)
            }
            Ok(ClientEvent::HandRaise) if close_on(Fault::CloseOnHandRaise) => self.fail(),
            Ok(ClientEvent::HandLower) if close_on(Fault::CloseOnHandLower) => self.fail(),
            Ok(ClientEvent::Ping) if close_on(Fault::CloseOnPingEvent) => self.fail(),
            Ok(ClientEvent::ChatSend(chat)) => self.chat(item, &text, &chat),
            Ok(_) => Some(item),
        }
    }

    /// `close-on-hand-raise` and its kin: the connection closes with 1011; the event is gone.
    fn fail(&self) -> Option<Item> {
        self.conn.close(CloseReason::Internal);
        None
    }

    /// `short-text-limit`, `require-client-message-id`, `sender-id-from-client`,
    /// `chat-room-from-data` and
    /// `reorder-messages`.
    fn chat(&mut self, item: Item, frame: &str, text: &str) -> Option<Item> {
        if self.faults.has(Fault::ShortTextLimit) && text.chars().count() > SHORT_TEXT_LIMIT {
            self.conn.close(CloseReason::MessageTooBig);
            return None;
        }
        if self.faults.has(Fault::RequireClientMessageId) && string_at(frame, "/data/id").is_none()
        {
            let error = EventError {
                code: ErrorCode::InvalidData,
                message: "chat.send needs data.id as a string",
                event: Some("chat.send".to_owned()),
            };
            self.conn.send(error.encode());
            return None;
        }
        if self.faults.has(Fault::SenderIdFromClient)
            && let Some(claimed) = string_at(frame, "/data/sender_id")
        {
            self.room.chat(self.conn.id(), &claimed, text);
            return None;
        }
        if self.faults.has(Fault::ChatRoomFromData)
            && let Some(named) = string_at(frame, "/data/room_id")
        {
            let room = RoomKey {
                tenant: self.room.key().tenant.clone(),
                room_id: named,
            };
            let message = ServerEvent::ChatMessage {
                id: &format!("msg_{}", uuid::Uuid::new_v4().simple()),
                sender_id: &self.participant_id,
                text,
                timestamp: &timestamp_now(),
            };
            self.directory.send_to(&room, &message.encode());
            return None;
        }
        if !self.faults.has(Fault::ReorderMessages) {
            return Some(item);
        }
        match self.held.take() {
            None => {
                self.held = item.ok();
                self.hold = Some(Box::pin(tokio::time::sleep(HOLD)));
                None
            }
            Some(earlier) => {
                self.hold = None;
                self.queue.push_back(Ok(earlier));
                Some(item)
            }
        }
    }

    /// `utf8-closes-room` and `utf8-close-1002`: the answers to a frame the transport refused.
    fn broken_frame(&self, error: axum::Error) -> Item {
        let reason = error.close_reason();
        if reason == CloseReason::ConnectionLost {
            return Err(error);
        }
        let utf8 = reason == CloseReason::InvalidUtf8;
        self.bad_input(utf8 && self.faults.has(Fault::Utf8ClosesRoom));
        if utf8 && self.faults.has(Fault::Utf8Close1002) {
            return Err(axum::Error::new(WsError::Protocol(
                ProtocolError::NonZeroReservedBits,
            )));
        }
        Err(error)
    }

    /// `stop-accepting-after-garbage`, and closing the whole room when `closes_room`: the
    /// answers to a frame that cannot be acted on.
    fn bad_input(&self, closes_room: bool) {
        if self.faults.has(Fault::StopAcceptingAfterGarbage) {
            self.bad_input.note();
        }
        if closes_room {
            self.directory
                .close_room(self.room.key(), CloseReason::Internal);
        }
    }
}

impl Stream for Incoming {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.queue.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                // A message still held back when the socket ends is lost, as it always was.
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(item)) => {
                    // The held message waits for a quiet moment of HOLD after the last frame.
                    if this.held.is_some() {
                        this.hold = Some(Box::pin(tokio::time::sleep(HOLD)));
                    }
                    if let Some(item) = this.inspect(item) {
                        return Poll::Ready(Some(item));
                    }
                }
                Poll::Pending => {
                    // Closing is asked of the session; the socket stays pending until it acts.
                    this.poll_idle_timer(cx);
                    if let Some(hold) = &mut this.hold
                        && hold.as_mut().poll(cx).is_ready()
                    {
                        this.hold = None;
                        if let Some(held) = this.held.take() {
                            return Poll::Ready(Some(Ok(held)));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The adapters over an in-memory socket.

    use chalk_reference_server::auth::Identity;
    use chalk_reference_server::outbound;
    use chalk_reference_server::rooms::Rooms;
    use futures_util::{SinkExt, StreamExt, sink, stream};
    use tokio::sync::mpsc;

    use super::*;

    /// A session's adapted frames, the ends that feed and drain them, and the session's queue.
    struct Harness {
        frames: SessionFrames,
        conn: Arc<Connection>,
        to_session: mpsc::UnboundedSender<Item>,
        from_session: mpsc::UnboundedReceiver<Message>,
        _queue: outbound::Receiver,
    }

    fn adapted(faults: Faults) -> Harness {
        let (to_session, incoming) = mpsc::unbounded_channel::<Item>();
        let (outgoing, from_session) = mpsc::unbounded_channel::<Message>();
        let frames = SessionFrames {
            outgoing: Box::pin(sink::unfold(outgoing, |tx, message| async move {
                let _ = tx.send(message);
                Ok::<_, axum::Error>(tx)
            })),
            incoming: Box::pin(stream::unfold(incoming, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })),
        };
        let rooms = Rooms::default();
        let (conn, queue) = Connection::new(8);
        let identity = Identity {
            tenant: "default".into(),
            room_id: "room".into(),
            participant_id: "alice".into(),
            display_name: None,
            role: None,
            expires_at: u64::MAX,
        };
        let room = rooms.join(&identity, &conn).expect("joins");
        let adapter = FaultyFrames::new(
            faults,
            Arc::new(Directory::default()),
            Arc::new(BadInput::default()),
            4000,
        )
        .idle_timeout(IDLE_TIMEOUT);
        let info = SessionInfo {
            conn: &conn,
            room: &room,
            participant_id: "alice",
        };
        Harness {
            frames: adapter.adapt(&info, frames),
            conn: conn.clone(),
            to_session,
            from_session,
            _queue: queue,
        }
    }

    /// The idle timeout of the adapted sessions.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

    fn chat(text: &str) -> Item {
        Ok(Message::text(format!(
            r#"{{"event":"chat.send","data":{{"text":"{text}"}}}}"#
        )))
    }

    async fn next_text(h: &mut Harness) -> String {
        match h.frames.incoming.next().await {
            Some(Ok(Message::Text(text))) => text.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reorder_messages_swaps_chat_in_pairs_and_lets_a_lone_one_go_after_a_pause() {
        let mut h = adapted(Faults::from(Fault::ReorderMessages));
        for text in ["one", "two", "three"] {
            h.to_session.send(chat(text)).unwrap();
        }
        assert!(next_text(&mut h).await.contains("two"));
        assert!(next_text(&mut h).await.contains("one"));
        let started = tokio::time::Instant::now();
        assert!(next_text(&mut h).await.contains("three"));
        assert!(started.elapsed() >= HOLD);
    }

    #[tokio::test]
    async fn outgoing_events_lose_their_pongs_and_turn_binary() {
        let mut h = adapted([Fault::NoPong, Fault::BinaryEvents].into_iter().collect());
        let pong = r#"{"event":"pong","data":{"timestamp":"2026-01-01T00:00:00.000Z"}}"#;
        let chat = r#"{"event":"chat.message","data":{}}"#;
        h.frames.outgoing.send(Message::text(pong)).await.unwrap();
        h.frames.outgoing.send(Message::text(chat)).await.unwrap();
        assert_eq!(
            h.from_session.recv().await,
            Some(Message::Binary(Bytes::from_static(chat.as_bytes())))
        );
        assert!(h.from_session.try_recv().is_err());
    }

    /// Keeps reading the session's incoming frames for `how_long`, as the session loop does
    /// (the adapter's own timers run while it waits for a frame); nothing is expected.
    async fn listen(h: &mut Harness, how_long: Duration) {
        let heard = tokio::time::timeout(how_long, h.frames.incoming.next()).await;
        assert!(heard.is_err(), "unexpected frame: {heard:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_ignores_ping_event_closes_a_client_that_only_pings_and_sends_no_heartbeat() {
        let mut h = adapted(Faults::from(Fault::IdleIgnoresPingEvent));
        h.frames
            .outgoing
            .send(Message::Ping(Bytes::new()))
            .await
            .unwrap();
        assert!(h.from_session.try_recv().is_err(), "heartbeat sent");
        let started = tokio::time::Instant::now();
        let conn = h.conn.clone();
        let pinging = async {
            loop {
                let ping = Message::text(r#"{"event":"ping"}"#);
                h.to_session.send(Ok(ping)).unwrap();
                assert!(next_text(&mut h).await.contains("ping"));
                listen(&mut h, IDLE_TIMEOUT / 4).await;
            }
        };
        let reason = tokio::select! {
            reason = conn.close_requested() => reason,
            () = pinging => unreachable!(),
        };
        assert_eq!(reason, CloseReason::Idle);
        assert!(started.elapsed() >= IDLE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_ignores_ping_event_still_hears_chat() {
        let mut h = adapted(Faults::from(Fault::IdleIgnoresPingEvent));
        let conn = h.conn.clone();
        let chatting = async {
            for _ in 0..8 {
                listen(&mut h, IDLE_TIMEOUT / 2).await;
                h.to_session.send(chat("still here")).unwrap();
                assert!(next_text(&mut h).await.contains("still here"));
            }
        };
        tokio::select! {
            reason = conn.close_requested() => panic!("closed a client that chats: {reason:?}"),
            () = chatting => {}
        }
    }

    #[tokio::test]
    async fn no_close_reply_ends_the_session_after_the_clients_close() {
        let mut h = adapted(Faults::from(Fault::NoCloseReply));
        h.to_session.send(Ok(Message::Close(None))).unwrap();
        h.to_session.send(chat("after")).unwrap();
        assert!(matches!(
            h.frames.incoming.next().await,
            Some(Ok(Message::Close(None)))
        ));
        assert!(h.frames.incoming.next().await.is_none());
    }
}
