//! Why a session ended, and the one place that maps each reason to its close code
//! (see `spec/extensions.md`, extension `close-codes`).

/// Why a WebSocket session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent a close frame (tungstenite echoes it).
    ClientClosed,
    /// The transport failed or the peer vanished; no close frame can be sent.
    ConnectionLost,
    /// Graceful shutdown.
    ShuttingDown,
    /// A WebSocket protocol violation (reserved bits, stray continuation, ...).
    ProtocolError,
    /// The client sent a binary frame.
    BinaryFrame,
    /// A text frame that is not UTF-8.
    InvalidUtf8,
    /// A frame or message above `max_message_bytes`.
    MessageTooBig,
    /// An internal error.
    Internal,
    /// The token's `exp` (plus leeway) passed.
    TokenExpired,
    /// The participant was removed through the REST API.
    Removed,
    /// The room was ended through the REST API.
    RoomEnded,
    /// Too many events dropped by the rate limit.
    RateLimited,
    /// A newer connection of the same participant replaced this one.
    Replaced,
    /// The outbound queue overflowed.
    SlowConsumer,
    /// Nothing received for `idle_timeout`.
    Idle,
    /// More client control frames (ping, pong) than `control_frames_per_second` allows.
    ControlFlood,
    /// Cluster mode: the other nodes took this node for dead while it could not reach Redis and
    /// reported its members left; its sockets are closed so that their clients reconnect and
    /// join again.
    ClusterResync,
}

impl CloseReason {
    /// The close code and reason text to send, or `None` when no close frame is sent by us.
    pub fn close_frame(self) -> Option<(u16, &'static str)> {
        Some(match self {
            CloseReason::ClientClosed | CloseReason::ConnectionLost => return None,
            CloseReason::ShuttingDown => (1001, "server shutting down"),
            CloseReason::ProtocolError => (1002, "protocol error"),
            CloseReason::BinaryFrame => (1003, "binary frames are not supported"),
            CloseReason::InvalidUtf8 => (1007, "text frame is not valid UTF-8"),
            CloseReason::ControlFlood => (1008, "too many control frames"),
            CloseReason::MessageTooBig => (1009, "message too big"),
            CloseReason::Internal => (1011, "internal error"),
            CloseReason::ClusterResync => (1012, "service restart: reconnect"),
            CloseReason::TokenExpired => (4001, "token expired"),
            CloseReason::Removed => (4003, "removed from the room"),
            CloseReason::RoomEnded => (4004, "room ended"),
            CloseReason::RateLimited => (4008, "rate limit exceeded"),
            CloseReason::Replaced => (4009, "replaced by a newer connection"),
            CloseReason::SlowConsumer => (4010, "slow consumer"),
            CloseReason::Idle => (4011, "idle timeout"),
        })
    }
}
