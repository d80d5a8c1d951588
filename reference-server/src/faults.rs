//! Fault injection, compiled only with the `faults` cargo feature: named ways to make the reference
//! server break one catalogue requirement, so that the conformance suite can be shown to notice.
//!
//! Each [`Fault`] of kind [`Kind::Fault`] breaks exactly one requirement of
//! `spec/requirements.toml` (it may also break closely related ones as a side effect; the one it
//! names is the one it is about). Each of kind [`Kind::Variation`] is a choice the published page
//! allows, such as not echoing chat to its sender: the suite must still pass such a server when
//! it declares no extension.
//!
//! A fault is switched on in [`crate::Config::faults`] (or with `--fault NAME` on the binary) and
//! acts through a small `if faults.has(Fault::X)` at the spot of the server where the behaviour
//! lives. This module holds the names, the set type, and the few helpers those spots share: frame
//! rewriting, a synthesised identity, the held-back chat message of `reorder-messages`, the
//! binary sink of `binary-events`, and the I/O filter of `ignore-ping-frames`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use axum::serve::Listener;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::auth::{Identity, unix_now};
use crate::config::DEFAULT_TENANT;
use crate::rooms::Room;

/// What injecting a [`Fault`] does to the server's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Breaks the named catalogue requirement: the suite must find the server non-conformant and
    /// name that requirement.
    Fault {
        /// The requirement ID, e.g. `AUTH-005`.
        requirement: &'static str,
    },
    /// A behaviour the page allows: the suite must pass the server when no extension is declared.
    Variation {
        /// The reference extension the variation gives up, if any.
        withdraws: Option<&'static str>,
    },
}

const fn breaks(requirement: &'static str) -> Kind {
    Kind::Fault { requirement }
}

const fn allowed(withdraws: Option<&'static str>) -> Kind {
    Kind::Variation { withdraws }
}

macro_rules! faults {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, $kind:expr; )*) => {
        /// A named way of breaking the server (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Fault {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Fault {
            /// Every fault and variation, in catalogue order.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The kebab-case name used by `--fault`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Fault::$variant => $name,)*
                }
            }

            /// Whether it is a fault (and which requirement it breaks) or an allowed variation.
            pub fn kind(self) -> Kind {
                match self {
                    $(Fault::$variant => $kind,)*
                }
            }
        }
    };
}

faults! {
    // Authentication.
    /// AUTH-001: a token offered in `Sec-WebSocket-Protocol` is refused; only `?token=` works.
    RefuseHeaderToken = "refuse-header-token", breaks("AUTH-001");
    /// AUTH-002: a header token offered before `chalk` is refused as a malformed upgrade.
    RequireChalkFirst = "require-chalk-first", breaks("AUTH-002");
    /// AUTH-003: a `?token=` upgrade that offers no subprotocol is refused.
    RefuseQueryToken = "refuse-query-token", breaks("AUTH-003");
    /// AUTH-004: a `?token=` upgrade that offers `chalk` is refused.
    RefuseQueryTokenWithChalk = "refuse-query-token-with-chalk", breaks("AUTH-004");
    /// AUTH-005: an upgrade carrying no token at all is admitted under a made-up identity.
    AcceptMissingToken = "accept-missing-token", breaks("AUTH-005");
    /// AUTH-006: a token that is not a compact JWS (segments, base64url, JSON) is admitted under a
    /// made-up identity.
    AcceptMalformedToken = "accept-malformed-token", breaks("AUTH-006");
    /// AUTH-007: the signature is not checked: the token is re-signed with the server's HMAC
    /// secret before verification (no effect when tokens are verified with a public key).
    SkipSignatureCheck = "skip-signature-check", breaks("AUTH-007");
    /// AUTH-008: an unsecured token (`alg: none`, empty signature) is admitted with its claims.
    AcceptAlgNone = "accept-alg-none", breaks("AUTH-008");
    /// AUTH-009: `exp` is not checked.
    AcceptExpired = "accept-expired", breaks("AUTH-009");
    /// AUTH-010: `nbf` is not checked.
    IgnoreNbf = "ignore-nbf", breaks("AUTH-010");
    /// AUTH-011: a token without `room_id` is admitted to the room `lobby`.
    DefaultRoomId = "default-room-id", breaks("AUTH-011");
    /// AUTH-012: a token without `participant_id` is admitted as participant `anonymous`.
    DefaultParticipantId = "default-participant-id", breaks("AUTH-012");
    /// AUTH-013: a refused token is refused, but first announced with `participant.joined` in
    /// the room it names.
    AnnounceRefused = "announce-refused", breaks("AUTH-013");
    /// AUTH-014 (should): token refusals are answered with 403 instead of 401.
    TokenRefusal403 = "token-refusal-403", breaks("AUTH-014");
    /// AUTH-015 (should): the refusal body says which token check failed.
    DetailedTokenErrors = "detailed-token-errors", breaks("AUTH-015");
    /// AUTH-016 (should): the refusal body repeats the refused token.
    ReflectToken = "reflect-token", breaks("AUTH-016");
    /// AUTH-017 (should): empty `room_id` and `participant_id` claims are accepted.
    AcceptEmptyClaims = "accept-empty-claims", breaks("AUTH-017");
    /// AUTH-018 (should): a participant removed through REST is admitted again.
    ReadmitRemoved = "readmit-removed", breaks("AUTH-018");
    /// AUTH-019 (should): a room ended through REST can still be joined.
    JoinEndedRoom = "join-ended-room", breaks("AUTH-019");

    // Subprotocol.
    /// PROTO-001: the response selects no subprotocol although `chalk` was offered.
    NoProtocolHeader = "no-protocol-header", breaks("PROTO-001");
    /// PROTO-002: the response selects the offered `token.{jwt}` entry instead of `chalk`.
    EchoTokenProtocol = "echo-token-protocol", breaks("PROTO-002");
    /// PROTO-003: the response carries `Sec-WebSocket-Protocol: chalk, chalk`.
    TwoProtocolValues = "two-protocol-values", breaks("PROTO-003");
    /// PROTO-004: the response carries `Sec-WebSocket-Protocol: chalk` although nothing was offered.
    ProtocolHeaderWithoutOffer = "protocol-header-without-offer", breaks("PROTO-004");
    /// PROTO-005: the `101` carries a `Sec-WebSocket-Accept` that is not derived from the key.
    WrongAcceptKey = "wrong-accept-key", breaks("PROTO-005");

    // Origin.
    /// ORIGIN-001: every `Origin`, the allowed one included, is refused.
    RefuseEveryOrigin = "refuse-every-origin", breaks("ORIGIN-001");
    /// ORIGIN-002: well-formed origins outside the allow-list are accepted.
    IgnoreOrigin = "ignore-origin", breaks("ORIGIN-002");
    /// ORIGIN-003: the opaque origin `null` is accepted.
    AcceptNullOrigin = "accept-null-origin", breaks("ORIGIN-003");
    /// ORIGIN-004 (should): origin refusals are answered with 401 instead of 403.
    OriginRefusal401 = "origin-refusal-401", breaks("ORIGIN-004");
    /// ORIGIN-005 (should): an origin whose host contains an allowed host is accepted
    /// (`https://app.chalk.test.evil.com`).
    SubstringOriginMatch = "substring-origin-match", breaks("ORIGIN-005");

    // Presence.
    /// PRES-001: nobody is told about a newcomer.
    NoJoined = "no-joined", breaks("PRES-001");
    /// PRES-002: `participant.joined` carries a connection id instead of the participant id.
    WrongJoinedId = "wrong-joined-id", breaks("PRES-002");
    /// PRES-003 (should): `display_name` is the participant id and `role` is `participant`,
    /// whatever the REST record or the token say.
    JoinedFieldsFromNowhere = "joined-fields-from-nowhere", breaks("PRES-003");
    /// PRES-004: a participant that closes with a close handshake leaves unannounced.
    NoLeft = "no-left", breaks("PRES-004");
    /// PRES-005: a participant whose connection drops leaves unannounced (only clean closes are
    /// announced).
    LeftOnlyOnCleanClose = "left-only-on-clean-close", breaks("PRES-005");
    /// PRES-006: every departure is announced twice.
    DoubleLeft = "double-left", breaks("PRES-006");
    /// PRES-007: arrivals and departures are also announced in every other room of the tenant.
    PresenceAcrossRooms = "presence-across-rooms", breaks("PRES-007");

    // Chat.
    /// CHAT-001: a chat message is delivered to its sender only.
    NoChatDelivery = "no-chat-delivery", breaks("CHAT-001");
    /// CHAT-002: `sender_id` is `p_unknown` instead of the sender's participant id.
    WrongSenderId = "wrong-sender-id", breaks("CHAT-002");
    /// CHAT-003: non-ASCII characters are dropped from the text.
    DropNonAscii = "drop-non-ascii", breaks("CHAT-003");
    /// CHAT-004: every message has the id `msg_1`.
    ConstantMessageId = "constant-message-id", breaks("CHAT-004");
    /// CHAT-005: every receiver sees a different id for the same message.
    PerReceiverMessageId = "per-receiver-message-id", breaks("CHAT-005");
    /// CHAT-006: the timestamp is a bare time of day (`10:45:00`).
    TimestampNotRfc3339 = "timestamp-not-rfc3339", breaks("CHAT-006");
    /// CHAT-007 (should): the timestamp is local time with a `+02:00` offset instead of UTC.
    LocalTimeTimestamp = "local-time-timestamp", breaks("CHAT-007");
    /// CHAT-008: every receiver gets every message twice.
    DuplicateDelivery = "duplicate-delivery", breaks("CHAT-008");
    /// CHAT-009: each sender's messages are swapped in pairs (one is held back until the next
    /// arrives, or for 50 ms).
    ReorderMessages = "reorder-messages", breaks("CHAT-009");
    /// CHAT-010: a chat message is delivered in every room of the tenant.
    ChatAcrossRooms = "chat-across-rooms", breaks("CHAT-010");
    /// CHAT-011: a `sender_id` in `chat.send` replaces the authenticated sender.
    SenderIdFromClient = "sender-id-from-client", breaks("CHAT-011");

    // Hands and keepalive.
    /// HAND-001: `hand.raise` closes the sender's connection with 1011.
    CloseOnHandRaise = "close-on-hand-raise", breaks("HAND-001");
    /// HAND-002: `hand.lower` closes the sender's connection with 1011.
    CloseOnHandLower = "close-on-hand-lower", breaks("HAND-002");
    /// PING-001: the `ping` event closes the sender's connection with 1011.
    CloseOnPingEvent = "close-on-ping-event", breaks("PING-001");
    /// PING-002: WebSocket Ping frames get no Pong frame (pongs are dropped on their way out).
    IgnorePingFrames = "ignore-ping-frames", breaks("PING-002");

    // Recording.
    /// REC-001: `recording.started` is not sent.
    NoRecordingStarted = "no-recording-started", breaks("REC-001");
    /// REC-002: `recording.stopped` is not sent.
    NoRecordingStopped = "no-recording-stopped", breaks("REC-002");
    /// REC-003: `recording.stopped` names a fresh recording id.
    MismatchedRecordingId = "mismatched-recording-id", breaks("REC-003");
    /// REC-004: `recording.started` is also sent to every other room of the tenant.
    RecordingAcrossRooms = "recording-across-rooms", breaks("REC-004");
    /// REC-005 (should): every recording of a room has the same id.
    ReuseRecordingId = "reuse-recording-id", breaks("REC-005");

    // Schema.
    /// SCHEMA-001: every event is sent in a binary frame.
    BinaryEvents = "binary-events", breaks("SCHEMA-001");
    /// SCHEMA-002: `participant.joined` is sent as `participant.join`.
    MisspelledEvent = "misspelled-event", breaks("SCHEMA-002");
    /// SCHEMA-003: `participant.left` repeats `id` at the top level, outside `data`.
    FieldsOutsideData = "fields-outside-data", breaks("SCHEMA-003");
    /// SCHEMA-004: `chat.message` has no `timestamp`.
    NoTimestamp = "no-timestamp", breaks("SCHEMA-004");
    /// SCHEMA-005: `recording.started` carries `recording_id` as a number.
    RecordingIdNumber = "recording-id-number", breaks("SCHEMA-005");
    /// SCHEMA-006: `recording.stopped` carries `recording_id` as a number.
    StoppedIdNumber = "stopped-id-number", breaks("SCHEMA-006");
    /// SCHEMA-007: `chat.send` without a client-chosen `data.id` is refused with `invalid_data`.
    RequireClientMessageId = "require-client-message-id", breaks("SCHEMA-007");

    // Robustness.
    /// ROBUST-001: a frame that is not a usable event (or a binary frame) closes every connection
    /// of the sender's room.
    GarbageClosesRoom = "garbage-closes-room", breaks("ROBUST-001");
    /// ROBUST-002: an unknown event closes every connection of the sender's room.
    UnknownEventClosesRoom = "unknown-event-closes-room", breaks("ROBUST-002");
    /// ROBUST-003: after any bad input from any client, new upgrades get 503.
    StopAcceptingAfterGarbage = "stop-accepting-after-garbage", breaks("ROBUST-003");
    /// ROBUST-004: a client's close frame is not answered; the TCP connection is just dropped.
    NoCloseReply = "no-close-reply", breaks("ROBUST-004");
    /// ROBUST-005: invalid UTF-8 closes every connection of the sender's room.
    Utf8ClosesRoom = "utf8-closes-room", breaks("ROBUST-005");
    /// ROBUST-006 (should): invalid UTF-8 is closed with 1002 instead of 1007.
    Utf8Close1002 = "utf8-close-1002", breaks("ROBUST-006");

    // Allowed variations.
    /// Variation: the sender of `chat.send` does not get its own `chat.message` (no `chat-echo`).
    NoChatEcho = "no-chat-echo", allowed(Some("chat-echo"));
    /// Variation: the `ping` event is accepted silently (no `pong-event`).
    NoPong = "no-pong", allowed(Some("pong-event"));
    /// Variation: no `error` event is ever sent; unusable frames are dropped silently (no
    /// `error-event`).
    SilentUnknownEvents = "silent-unknown-events", allowed(Some("error-event"));
    /// Variation: the newcomer also receives `participant.joined` about itself.
    JoinedToSelf = "joined-to-self", allowed(None);
    /// Variation: the newcomer gets no `room.state` (no `room-state`).
    NoRoomState = "no-room-state", allowed(Some("room-state"));
    /// Variation: hands change silently, without `hand.raised` / `hand.lowered` (no `hand-events`).
    NoHandEvents = "no-hand-events", allowed(Some("hand-events"));
}

// The set is a bitmask over `Fault as u32`.
const _: () = assert!(Fault::ALL.len() <= 128);

impl Fault {
    /// The requirement a fault breaks; `None` for a variation.
    pub fn requirement(self) -> Option<&'static str> {
        match self.kind() {
            Kind::Fault { requirement } => Some(requirement),
            Kind::Variation { .. } => None,
        }
    }

    /// Whether this is an allowed variation rather than a fault.
    pub fn is_variation(self) -> bool {
        matches!(self.kind(), Kind::Variation { .. })
    }

    fn bit(self) -> u128 {
        1 << (self as u32)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Fault::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?} (--list-faults shows them all)")]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| UnknownFault(s.to_owned()))
    }
}

/// A set of injected faults; empty by default.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults(u128);

impl Faults {
    /// Whether `fault` is injected.
    pub fn has(self, fault: Fault) -> bool {
        self.0 & fault.bit() != 0
    }

    /// Injects `fault`.
    pub fn insert(&mut self, fault: Fault) {
        self.0 |= fault.bit();
    }

    /// Whether nothing is injected.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The injected faults, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Fault> {
        Fault::ALL.iter().copied().filter(move |f| self.has(*f))
    }
}

impl From<Fault> for Faults {
    fn from(fault: Fault) -> Self {
        Faults(fault.bit())
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut faults = Faults::default();
        for fault in iter {
            faults.insert(fault);
        }
        faults
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Fault::name)).finish()
    }
}

/// The identity given to clients admitted without a usable token.
pub(crate) fn anonymous() -> Identity {
    Identity {
        tenant: DEFAULT_TENANT.to_owned(),
        room_id: "lobby".to_owned(),
        participant_id: format!("anonymous-{}", uuid::Uuid::new_v4().simple()),
        display_name: None,
        role: None,
        expires_at: unix_now() + 3600,
    }
}

/// The frame with its top-level JSON object edited (wire-format faults).
pub(crate) fn rewrite(frame: &Utf8Bytes, edit: impl FnOnce(&mut Map<String, Value>)) -> Utf8Bytes {
    match serde_json::from_str::<Value>(frame.as_str()) {
        Ok(Value::Object(mut object)) => {
            edit(&mut object);
            Utf8Bytes::from(Value::Object(object).to_string())
        }
        _ => frame.clone(),
    }
}

/// The `data` object of an event being rewritten.
pub(crate) fn data_of(object: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    object.get_mut("data").and_then(Value::as_object_mut)
}

/// The `chat.message` timestamp under `timestamp-not-rfc3339` or `local-time-timestamp`.
pub(crate) fn chat_timestamp(faults: Faults, timestamp: String) -> String {
    let now = time::OffsetDateTime::now_utc();
    if faults.has(Fault::TimestampNotRfc3339) {
        format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second())
    } else if faults.has(Fault::LocalTimeTimestamp) {
        let local =
            now.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap_or(time::UtcOffset::UTC));
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+02:00",
            local.year(),
            u8::from(local.month()),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            local.millisecond()
        )
    } else {
        timestamp
    }
}

/// The string at `pointer` (such as `/data/sender_id`) of a client frame, if any.
pub(crate) fn client_field(frame: &str, pointer: &str) -> Option<String> {
    let value: Value = serde_json::from_str(frame).ok()?;
    value.pointer(pointer)?.as_str().map(str::to_owned)
}

/// How long `reorder-messages` holds a message back when no next one arrives.
const HOLD: Duration = Duration::from_millis(50);

/// The held-back chat message of `reorder-messages`, per connection.
#[derive(Debug, Default)]
pub(crate) struct HeldChat {
    active: bool,
    held: Option<String>,
}

impl HeldChat {
    /// A holder that does anything only when `reorder-messages` is injected.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            active: faults.has(Fault::ReorderMessages),
            held: None,
        }
    }

    /// Whether chat goes through [`HeldChat::chat`].
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// The next client frame; a held message is sent once nothing arrives for [`HOLD`].
    pub(crate) async fn next<St>(
        &mut self,
        stream: &mut St,
        room: &Room,
        sender: &str,
    ) -> Option<St::Item>
    where
        St: Stream + Unpin,
    {
        while let Some(text) = self.held.take() {
            match tokio::time::timeout(HOLD, stream.next()).await {
                Ok(item) => {
                    self.held = Some(text);
                    return item;
                }
                Err(_) => room.chat(sender, &text),
            }
        }
        stream.next().await
    }

    /// Holds the message when nothing is held; otherwise sends it, then the held one.
    pub(crate) fn chat(&mut self, room: &Room, sender: &str, text: String) {
        match self.held.take() {
            None => self.held = Some(text),
            Some(earlier) => {
                room.chat(sender, &text);
                room.chat(sender, &earlier);
            }
        }
    }
}

/// The session's sink; under `binary-events` every text frame leaves as a binary frame.
pub(crate) fn egress<Si>(sink: Si, faults: Faults) -> impl Sink<Message, Error = Si::Error> + Unpin
where
    Si: Sink<Message> + Unpin,
{
    let binary = faults.has(Fault::BinaryEvents);
    sink.with(move |message: Message| {
        let message = match message {
            Message::Text(text) if binary => Message::Binary(axum::body::Bytes::from(text)),
            other => other,
        };
        futures_util::future::ready(Ok::<_, Si::Error>(message))
    })
}

/// A listener whose connections drop every WebSocket Pong frame the server writes, when
/// `ignore-ping-frames` is injected (tungstenite answers pings itself and has no switch for it).
#[derive(Debug)]
pub struct PongDroppingListener<L> {
    inner: L,
    active: bool,
}

impl<L> PongDroppingListener<L> {
    /// Wraps `inner`; connections pass through untouched unless `ignore-ping-frames` is injected.
    pub fn new(inner: L, faults: Faults) -> Self {
        Self {
            inner,
            active: faults.has(Fault::IgnorePingFrames),
        }
    }
}

impl<L: Listener> Listener for PongDroppingListener<L> {
    type Io = PongDropper<L::Io>;
    type Addr = L::Addr;

    fn accept(&mut self) -> impl Future<Output = (Self::Io, Self::Addr)> + Send {
        let active = self.active;
        let accepted = self.inner.accept();
        async move {
            let (io, addr) = accepted.await;
            (PongDropper::new(io, active), addr)
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where the write side of a [`PongDropper`] is in the byte stream.
#[derive(Debug)]
enum Phase {
    /// The first HTTP response head, collected until its blank line.
    Head(Vec<u8>),
    /// Not a WebSocket connection: everything passes.
    Http,
    /// WebSocket frames: the header collected so far, or the payload still to pass or drop.
    Header(Vec<u8>),
    /// Inside a frame's payload.
    Payload { remaining: u64, drop: bool },
}

/// The I/O of one connection, dropping the Pong frames the server writes after a `101`.
#[derive(Debug)]
pub struct PongDropper<Io> {
    inner: Io,
    active: bool,
    phase: Phase,
    /// Accepted from the writer, not yet written to `inner`.
    pending: Vec<u8>,
}

const PONG_OPCODE: u8 = 0xA;

impl<Io> PongDropper<Io> {
    fn new(inner: Io, active: bool) -> Self {
        Self {
            inner,
            active,
            phase: Phase::Head(Vec::new()),
            pending: Vec::new(),
        }
    }

    /// Runs `bytes` through the filter into `pending`.
    fn filter(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Http => {
                    self.pending.extend_from_slice(bytes);
                    return;
                }
                Phase::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(bytes);
                    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return;
                    };
                    let end = end + 4;
                    let upgraded = head.starts_with(b"HTTP/1.1 101");
                    self.pending.extend_from_slice(&head[..end]);
                    bytes = &bytes[end - before..];
                    self.phase = if upgraded {
                        Phase::Header(Vec::new())
                    } else {
                        Phase::Http
                    };
                }
                Phase::Header(header) => {
                    header.push(bytes[0]);
                    bytes = &bytes[1..];
                    let Some((remaining, opcode)) = frame_header(header) else {
                        continue;
                    };
                    let drop = opcode == PONG_OPCODE;
                    if !drop {
                        self.pending.extend_from_slice(header);
                    }
                    self.phase = if remaining == 0 {
                        Phase::Header(Vec::new())
                    } else {
                        Phase::Payload { remaining, drop }
                    };
                }
                Phase::Payload { remaining, drop } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    if !*drop {
                        self.pending.extend_from_slice(&bytes[..take]);
                    }
                    bytes = &bytes[take..];
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.phase = Phase::Header(Vec::new());
                    }
                }
            }
        }
    }
}

/// The payload length and opcode of a complete frame header, or `None` while it is incomplete.
fn frame_header(header: &[u8]) -> Option<(u64, u8)> {
    if header.len() < 2 {
        return None;
    }
    let opcode = header[0] & 0x0F;
    let masked = header[1] & 0x80 != 0;
    let (extended, length) = match header[1] & 0x7F {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(u64::from(short))),
    };
    let full = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < full {
        return None;
    }
    let length = length.unwrap_or_else(|| {
        header[2..2 + extended]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    Some((length, opcode))
}

impl<Io: AsyncWrite + Unpin> PongDropper<Io> {
    /// Writes everything pending to the inner I/O.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for PongDropper<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for PongDropper<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if !this.active {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        ready!(this.poll_drain(cx))?;
        this.filter(buf);
        // Callers may write without flushing and then drop the I/O (tungstenite does so with
        // its last close frame): pass the bytes on now, as far as the inner I/O takes them. An
        // error here shows up again on the next write or flush.
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(*fault));
            assert_eq!(fault.to_string(), fault.name());
            assert!(seen.insert(fault.name()), "{fault} twice");
            assert!(
                fault
                    .name()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{fault} is not kebab-case"
            );
        }
        assert!("no-such-fault".parse::<Fault>().is_err());
    }

    #[test]
    fn covers_every_area_with_at_least_thirty_faults() {
        let faults: Vec<&str> = Fault::ALL.iter().filter_map(|f| f.requirement()).collect();
        assert!(faults.len() >= 30, "{} faults", faults.len());
        for area in [
            "AUTH", "PROTO", "ORIGIN", "PRES", "CHAT", "HAND", "PING", "REC", "SCHEMA", "ROBUST",
        ] {
            assert!(
                faults.iter().any(|r| r.starts_with(area)),
                "no fault for {area}"
            );
        }
        assert!(Fault::ALL.iter().filter(|f| f.is_variation()).count() >= 6);
    }

    #[test]
    fn the_set_holds_exactly_what_was_inserted() {
        let faults: Faults = [Fault::NoJoined, Fault::NoHandEvents].into_iter().collect();
        assert!(faults.has(Fault::NoJoined) && faults.has(Fault::NoHandEvents));
        assert!(!faults.has(Fault::NoLeft));
        assert_eq!(faults.iter().count(), 2);
        assert!(Faults::default().is_empty());
        assert_eq!(format!("{faults:?}"), r#"{"no-joined", "no-hand-events"}"#);
    }

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn drops_pong_frames_after_the_upgrade_only_whatever_the_write_sizes() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let mut stream = head.to_vec();
        stream.extend(frame(0x1, b"{\"event\":\"ping\"}"));
        stream.extend(frame(PONG_OPCODE, b"are you there?"));
        stream.extend(frame(0x9, b""));
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(b'x', 256));
        stream.extend(&long);
        let mut expected = head.to_vec();
        expected.extend(frame(0x1, b"{\"event\":\"ping\"}"));
        expected.extend(frame(0x9, b""));
        expected.extend(&long);
        for chunk in [1, 3, 7, stream.len()] {
            let mut dropper = PongDropper::new((), true);
            for piece in stream.chunks(chunk) {
                dropper.filter(piece);
            }
            assert_eq!(dropper.pending, expected, "chunks of {chunk}");
        }
        let mut refused = PongDropper::new((), true);
        let http = b"HTTP/1.1 401 Unauthorized\r\n\r\n\x8a\x00";
        refused.filter(http);
        assert_eq!(refused.pending, http);
    }
}
