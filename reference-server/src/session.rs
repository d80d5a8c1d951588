//! One WebSocket session after the upgrade: reading client events, writing queued frames in
//! batches, heartbeats, the idle timer, token expiry, the rate limits of events and of control
//! frames, close requests from the rest of the server, and the closing handshake.
//!
//! The loop is written over any `Sink<Message> + Stream<Item = Result<Message, E>>`, so it runs
//! the same over an axum socket, over the halves a frame adapter returns ([`crate::frames`],
//! [`Session::run_split`]), and over an in-memory fake in unit tests. Whatever ends the
//! session becomes a [`CloseReason`]; [`CloseReason::close_frame`] alone decides the code.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use crate::close::CloseReason;
use crate::config::Limits;
use crate::connection::Connection;
use crate::outbound;
use crate::protocol::{
    ClientEvent, ErrorCode, EventError, ServerEvent, parse_client_event, timestamp_now,
};
use crate::rooms::{Room, Rooms};

/// A transport error that knows which close reason it stands for.
pub trait TransportError: std::error::Error + Send + Sync + 'static {
    /// The close reason for this read error.
    fn close_reason(&self) -> CloseReason;
}

impl TransportError for axum::Error {
    fn close_reason(&self) -> CloseReason {
        use tungstenite::error::{Error as WsError, ProtocolError};
        let inner = std::error::Error::source(self).and_then(|s| s.downcast_ref::<WsError>());
        match inner {
            Some(WsError::Utf8(_)) => CloseReason::InvalidUtf8,
            Some(WsError::Capacity(_)) => CloseReason::MessageTooBig,
            Some(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                CloseReason::ConnectionLost
            }
            Some(WsError::Protocol(_)) => CloseReason::ProtocolError,
            _ => CloseReason::ConnectionLost,
        }
    }
}

/// Everything a session needs besides its socket.
#[derive(Debug)]
pub struct Session {
    /// This connection's handle (also held by the room and the tracker).
    pub conn: Arc<Connection>,
    /// Receiving end of the connection's outbound queue.
    pub outbound: outbound::Receiver,
    /// The room joined.
    pub room: Arc<Room>,
    /// The registry, to leave the room at the end.
    pub rooms: Arc<Rooms>,
    /// The authenticated participant.
    pub participant_id: String,
    /// Limits and timers.
    pub limits: Limits,
    /// When the token stops being valid (`exp` + leeway).
    pub expires_at: Option<Instant>,
}

/// Time of the last frame received, shared between the reader and the idle timer; and whether
/// the last heartbeat ping is still unanswered, so that its pong does not count against the
/// control-frame limit.
struct LastHeard {
    start: Instant,
    millis: AtomicU64,
    ping_outstanding: AtomicBool,
}

impl LastHeard {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            millis: AtomicU64::new(0),
            ping_outstanding: AtomicBool::new(false),
        }
    }

    /// A heartbeat ping went out.
    fn pinged(&self) {
        self.ping_outstanding.store(true, Ordering::Relaxed);
    }

    /// Whether a pong just received answers an outstanding heartbeat ping (at most one pong per
    /// ping is free: unanswered pings do not add up to a larger allowance).
    fn take_ping_answer(&self) -> bool {
        self.ping_outstanding.swap(false, Ordering::Relaxed)
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(ms, Ordering::Relaxed);
    }

    fn at(&self) -> Instant {
        self.start + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// A token bucket (of client events, or of client control frames). The rate and the size come
/// from the limits at each call, so that a connection keeps only the level and the time.
struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens.
    fn full(burst: u32) -> Self {
        Self {
            tokens: f64::from(burst.max(1)),
            refilled: Instant::now(),
        }
    }

    /// Takes one token if there is one, after refilling at `rate` per second up to `burst`.
    fn admit(&mut self, rate: f64, burst: u32) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.max(0.0)).min(f64::from(burst.max(1)));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Session {
    /// Runs the session over `socket` to its end, leaves the room, performs the closing
    /// handshake, and returns why it ended.
    pub fn run<S, E>(self, socket: S) -> impl Future<Output = CloseReason> + Send
    where
        S: Stream<Item = Result<Message, E>> + Sink<Message, Error = E> + Send + Unpin,
        E: TransportError,
    {
        let (sink, stream) = socket.split();
        self.run_split(sink, stream)
    }

    /// Like [`Session::run`], over the two halves of a socket (such as a frame adapter's).
    ///
    /// Not an `async fn`: the session is taken apart before the future is built, so that the
    /// future does not carry an emptied copy of it for the whole session (several hundred bytes
    /// per connection).
    pub fn run_split<Si, St, E>(
        self,
        mut sink: Si,
        mut stream: St,
    ) -> impl Future<Output = CloseReason> + Send
    where
        Si: Sink<Message, Error = E> + Send + Unpin,
        St: Stream<Item = Result<Message, E>> + Send + Unpin,
        E: TransportError,
    {
        let Session {
            conn,
            mut outbound,
            room,
            rooms,
            participant_id,
            limits,
            expires_at,
        } = self;
        async move {
            let heard = LastHeard::new();
            let reason = {
                let timers = Timers {
                    heartbeat: limits.heartbeat_interval,
                    idle: limits.idle_timeout,
                    expires_at,
                };
                let writer = write_frames(&mut sink, &mut outbound, &heard, timers);
                let reader =
                    read_frames(&mut stream, &room, &conn, &participant_id, &limits, &heard);
                tokio::select! {
                    reason = writer => reason,
                    reason = reader => reason,
                    reason = conn.close_requested() => reason,
                }
            };
            rooms.leave(&room, conn.id(), reason);
            tracing::debug!(conn = conn.id(), ?reason, "session ended");
            close(
                &mut sink,
                &mut stream,
                &mut outbound,
                reason,
                limits.close_timeout,
            )
            .await;
            reason
        }
    }
}

/// The session's deadlines, all served by the writer's one timer.
#[derive(Debug, Clone, Copy)]
struct Timers {
    /// Interval of WebSocket pings.
    heartbeat: Duration,
    /// Close with 4011 after receiving nothing for this long.
    idle: Duration,
    /// When the token stops being valid.
    expires_at: Option<Instant>,
}

/// Writes queued frames: after the first one, every frame already queued is fed, then one
/// flush. Sends a WebSocket ping every `heartbeat`, and ends the session when nothing was heard
/// for `idle` or when the token expires. One timer serves all three (a connection's state is
/// kept small: a timer costs more than a hundred bytes per connection); it is re-armed only
/// when it fires.
async fn write_frames<Si, E>(
    sink: &mut Si,
    outbound: &mut outbound::Receiver,
    heard: &LastHeard,
    timers: Timers,
) -> CloseReason
where
    Si: Sink<Message, Error = E> + Unpin,
{
    let mut next_ping = Instant::now() + timers.heartbeat;
    let next_deadline = |next_ping: Instant| {
        let idle_at = heard.at() + timers.idle;
        let first = next_ping.min(idle_at);
        timers.expires_at.map_or(first, |at| first.min(at))
    };
    let timer = tokio::time::sleep_until(next_deadline(next_ping));
    tokio::pin!(timer);
    loop {
        tokio::select! {
            frame = outbound.recv() => {
                let Some(frame) = frame else { return CloseReason::Internal };
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return CloseReason::ConnectionLost;
                }
                while let Some(frame) = outbound.try_recv() {
                    if sink.feed(Message::Text(frame)).await.is_err() {
                        return CloseReason::ConnectionLost;
                    }
                }
                if sink.flush().await.is_err() {
                    return CloseReason::ConnectionLost;
                }
            }
            () = &mut timer => {
                let now = Instant::now();
                if timers.expires_at.is_some_and(|at| now >= at) {
                    return CloseReason::TokenExpired;
                }
                if now >= heard.at() + timers.idle {
                    return CloseReason::Idle;
                }
                if now >= next_ping {
                    heard.pinged();
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        return CloseReason::ConnectionLost;
                    }
                    next_ping = now + timers.heartbeat;
                }
                timer.as_mut().reset(next_deadline(next_ping));
            }
        }
    }
}

/// Reads and acts on client frames until one of them ends the session.
async fn read_frames<St, E>(
    stream: &mut St,
    room: &Room,
    conn: &Connection,
    participant_id: &str,
    limits: &Limits,
    heard: &LastHeard,
) -> CloseReason
where
    St: Stream<Item = Result<Message, E>> + Unpin,
    E: TransportError,
{
    let mut rate = TokenBucket::full(limits.rate_burst);
    let mut control = TokenBucket::full(limits.control_frame_burst);
    let mut dropped: u32 = 0;
    while let Some(item) = stream.next().await {
        heard.touch();
        let frame = match item {
            Err(error) => {
                tracing::debug!(conn = conn.id(), %error, "read failed");
                return error.close_reason();
            }
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => return CloseReason::BinaryFrame,
            // tungstenite queues the pong of a ping by itself; the limit bounds that work.
            Ok(Message::Pong(_)) if heard.take_ping_answer() => continue,
            Ok(Message::Ping(_) | Message::Pong(_)) => {
                if control.admit(limits.control_frames_per_second, limits.control_frame_burst) {
                    continue;
                }
                tracing::debug!(conn = conn.id(), "control-frame flood");
                return CloseReason::ControlFlood;
            }
            Ok(Message::Close(_)) => return CloseReason::ClientClosed,
        };
        if !rate.admit(limits.rate_per_second, limits.rate_burst) {
            dropped = dropped.saturating_add(1);
            let error = EventError {
                code: ErrorCode::RateLimited,
                message: "rate limit exceeded; event dropped",
                event: None,
            };
            conn.send(error.encode());
            if dropped > limits.rate_close_after {
                return CloseReason::RateLimited;
            }
            continue;
        }
        match parse_client_event(&frame, limits.max_text_chars) {
            Ok(ClientEvent::ChatSend(text)) => room.chat(conn.id(), participant_id, &text),
            Ok(ClientEvent::HandRaise) => room.set_hand(conn.id(), true),
            Ok(ClientEvent::HandLower) => room.set_hand(conn.id(), false),
            Ok(ClientEvent::Ping) => conn.send(
                ServerEvent::Pong {
                    timestamp: &timestamp_now(),
                }
                .encode(),
            ),
            Err(error) => conn.send(error.encode()),
        }
    }
    CloseReason::ConnectionLost
}

/// The closing handshake, bounded by `limit`: deliver what is already queued (unless the client
/// is the reason the queue overflowed), send our close frame, and wait for the client's.
async fn close<Si, St, E>(
    sink: &mut Si,
    stream: &mut St,
    outbound: &mut outbound::Receiver,
    reason: CloseReason,
    limit: Duration,
) where
    Si: Sink<Message, Error = E> + Unpin,
    St: Stream<Item = Result<Message, E>> + Unpin,
{
    let handshake = async {
        match reason.close_frame() {
            None if reason == CloseReason::ClientClosed => {
                // tungstenite has queued the echo of the client's close frame.
                let _ = sink.flush().await;
            }
            None => return,
            Some((code, text)) => {
                if reason != CloseReason::SlowConsumer {
                    while let Some(frame) = outbound.try_recv() {
                        if sink.feed(Message::Text(frame)).await.is_err() {
                            return;
                        }
                    }
                }
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(text),
                };
                if sink.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
            }
        }
        while let Some(Ok(_)) = stream.next().await {}
    };
    let _ = tokio::time::timeout(limit, handshake).await;
}

#[cfg(test)]
mod tests {
    //! The session loop over an in-memory socket: no network involved.

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    use super::*;
    use crate::auth::Identity;

    #[derive(Debug, thiserror::Error)]
    #[error("fake transport error")]
    struct FakeError(CloseReason);

    impl TransportError for FakeError {
        fn close_reason(&self) -> CloseReason {
            self.0
        }
    }

    /// A socket whose incoming frames come from a channel and whose outgoing frames go to one.
    struct FakeSocket {
        incoming: mpsc::UnboundedReceiver<Result<Message, FakeError>>,
        outgoing: mpsc::UnboundedSender<Message>,
    }

    impl Stream for FakeSocket {
        type Item = Result<Message, FakeError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_recv(cx)
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = FakeError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), FakeError>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), FakeError> {
            self.outgoing
                .send(item)
                .map_err(|_| FakeError(CloseReason::ConnectionLost))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), FakeError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), FakeError>> {
            Poll::Ready(Ok(()))
        }
    }

    struct Harness {
        to_server: mpsc::UnboundedSender<Result<Message, FakeError>>,
        from_server: mpsc::UnboundedReceiver<Message>,
        done: tokio::task::JoinHandle<CloseReason>,
    }

    fn start(limits: Limits) -> Harness {
        let rooms = Arc::new(Rooms::default());
        let identity = Identity {
            tenant: "default".into(),
            room_id: "room".into(),
            participant_id: "alice".into(),
            display_name: None,
            role: None,
            expires_at: u64::MAX,
        };
        let (conn, outbound) = Connection::new(limits.outbound_queue);
        let room = rooms.join(&identity, &conn).unwrap();
        let (to_server, incoming) = mpsc::unbounded_channel();
        let (outgoing, from_server) = mpsc::unbounded_channel();
        let session = Session {
            conn,
            outbound,
            room,
            rooms,
            participant_id: identity.participant_id,
            limits,
            expires_at: None,
        };
        let done = tokio::spawn(session.run(FakeSocket { incoming, outgoing }));
        Harness {
            to_server,
            from_server,
            done,
        }
    }

    async fn next_text(h: &mut Harness) -> serde_json::Value {
        loop {
            match h.from_server.recv().await.expect("socket open") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                _ => continue,
            }
        }
    }

    #[tokio::test]
    async fn echoes_chat_and_survives_bad_frames_without_a_network() {
        let mut h = start(Limits::default());
        assert_eq!(next_text(&mut h).await["event"], "room.state");
        h.to_server.send(Ok(Message::text("{oops"))).unwrap();
        assert_eq!(next_text(&mut h).await["data"]["code"], "invalid_json");
        h.to_server
            .send(Ok(Message::text(
                r#"{"event":"chat.send","data":{"text":"hi"}}"#,
            )))
            .unwrap();
        let chat = next_text(&mut h).await;
        assert_eq!(chat["data"]["sender_id"], "alice");
        assert_eq!(chat["data"]["text"], "hi");
    }

    #[tokio::test]
    async fn maps_transport_errors_to_their_close_codes() {
        let mut h = start(Limits::default());
        h.to_server
            .send(Err(FakeError(CloseReason::InvalidUtf8)))
            .unwrap();
        let close = loop {
            if let Message::Close(frame) = h.from_server.recv().await.unwrap() {
                break frame.unwrap();
            }
        };
        assert_eq!(close.code, 1007);
        drop(h.to_server);
        assert_eq!(h.done.await.unwrap(), CloseReason::InvalidUtf8);
    }

    #[tokio::test(start_paused = true)]
    async fn closes_an_idle_connection_with_4011() {
        let mut h = start(Limits {
            idle_timeout: Duration::from_secs(5),
            ..Limits::default()
        });
        let close = loop {
            if let Message::Close(frame) = h.from_server.recv().await.unwrap() {
                break frame.unwrap();
            }
        };
        assert_eq!(close.code, 4011);
        drop(h.to_server);
        assert_eq!(h.done.await.unwrap(), CloseReason::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn closes_a_control_frame_flood_with_1008_but_not_heartbeat_answers() {
        let mut h = start(Limits {
            control_frames_per_second: 0.0,
            control_frame_burst: 3,
            heartbeat_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        });
        assert_eq!(next_text(&mut h).await["event"], "room.state");
        // Ten heartbeats, each answered: one pong per ping is free.
        for _ in 0..10 {
            loop {
                if let Message::Ping(_) = h.from_server.recv().await.unwrap() {
                    break;
                }
            }
            h.to_server.send(Ok(Message::Pong(Bytes::new()))).unwrap();
        }
        // Then unsolicited control frames: three fit in the bucket, the fourth closes.
        for _ in 0..4 {
            h.to_server.send(Ok(Message::Ping(Bytes::new()))).unwrap();
        }
        let close = loop {
            if let Message::Close(frame) = h.from_server.recv().await.unwrap() {
                break frame.unwrap();
            }
        };
        assert_eq!(close.code, 1008);
        drop(h.to_server);
        assert_eq!(h.done.await.unwrap(), CloseReason::ControlFlood);
    }

    #[tokio::test]
    async fn rate_limits_then_closes_with_4008() {
        let mut h = start(Limits {
            rate_per_second: 0.0,
            rate_burst: 1,
            rate_close_after: 2,
            ..Limits::default()
        });
        for _ in 0..4 {
            h.to_server
                .send(Ok(Message::text(r#"{"event":"ping"}"#)))
                .unwrap();
        }
        let mut codes = Vec::new();
        loop {
            match h.from_server.recv().await.unwrap() {
                Message::Text(t) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    codes.push(v["event"].as_str().unwrap().to_owned());
                }
                Message::Close(frame) => {
                    assert_eq!(frame.unwrap().code, 4008);
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(codes, ["room.state", "pong", "error", "error", "error"]);
    }
}
