//! The faults and allowed variations, as data: each with its kebab-case name, what it breaks
//! (or that it is allowed), and the seam of the server it acts through.
//!
//! Each [`Fault`] of kind [`Kind::Fault`] breaks exactly one requirement of
//! `spec/requirements.toml` (it may also break closely related ones as a side effect; the one it
//! names is the one it is about). Each of kind [`Kind::Variation`] is a choice the published page
//! allows, such as not echoing chat to its sender: the suite must still pass such a server when
//! it declares no extension. Each of kind [`Kind::Control`] refuses what the suite's positive
//! controls need accepted (any valid token, tokens signed with the key the suite was given, the
//! allowed origin): from outside, such a server cannot be told from a run given the wrong key or
//! origin, so the suite must say that it cannot judge (exit 3), neither pass nor fail it.

use std::fmt;
use std::str::FromStr;

/// What injecting a [`Fault`] does to the server's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Breaks the named catalogue requirement: the suite must find the server non-conformant and
    /// name that requirement.
    Fault {
        /// The requirement ID, e.g. `AUTH-005`.
        requirement: &'static str,
    },
    /// Refuses what a positive control of the run needs accepted, breaking the named
    /// requirement: the suite must exit 3 (cannot judge), since a run given the wrong key or
    /// origin meets the same refusals.
    Control {
        /// The requirement ID, e.g. `AUTH-001`.
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

const fn defeats_control(requirement: &'static str) -> Kind {
    Kind::Control { requirement }
}

const fn allowed(withdraws: Option<&'static str>) -> Kind {
    Kind::Variation { withdraws }
}

/// The seam of the reference server a fault acts through (see `chalk_reference_server::seams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seam {
    /// The admission policy of the handshake: token, origin and subprotocol decisions.
    Admission,
    /// A tower layer around the route table: the HTTP response as it leaves.
    Http,
    /// The join rule: who may enter a room.
    JoinRule,
    /// The room-event seam: what reaches whom of a room's events.
    RoomEvents,
    /// The session frame adapter: a session's frames, both ways.
    Frames,
    /// The connection I/O adapter: bytes below WebSocket framing.
    Io,
    /// The node's own room-event path, wrapped: local delivery on a single process, the
    /// cluster's bus in cluster mode.
    RoomEventPath,
    /// The node's own room directory, wrapped: in memory, or Redis's records in cluster mode.
    RoomDirectory,
    /// The reaper's departures, wrapped: what a node appends for each member of a dead node it
    /// reports left (cluster mode).
    Departures,
}

macro_rules! faults {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, $kind:expr, $seam:ident; )*) => {
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

            /// The seam of the server it acts through.
            pub fn seam(self) -> Seam {
                match self {
                    $(Fault::$variant => Seam::$seam,)*
                }
            }
        }
    };
}

faults! {
    // Authentication.
    /// AUTH-001: a token offered in `Sec-WebSocket-Protocol` is refused; only `?token=` works.
    RefuseHeaderToken = "refuse-header-token", breaks("AUTH-001"), Admission;
    /// AUTH-002: a header token offered before `chalk` is refused as a malformed upgrade.
    RequireChalkFirst = "require-chalk-first", breaks("AUTH-002"), Admission;
    /// AUTH-003: a `?token=` upgrade that offers no subprotocol is refused.
    RefuseQueryToken = "refuse-query-token", breaks("AUTH-003"), Admission;
    /// AUTH-004: a `?token=` upgrade that offers `chalk` is refused.
    RefuseQueryTokenWithChalk = "refuse-query-token-with-chalk", breaks("AUTH-004"), Admission;
    /// AUTH-005: an upgrade carrying no token at all is admitted under a made-up identity.
    AcceptMissingToken = "accept-missing-token", breaks("AUTH-005"), Admission;
    /// AUTH-006: a token that is not a compact JWS (segments, base64url, JSON) is admitted under a
    /// made-up identity.
    AcceptMalformedToken = "accept-malformed-token", breaks("AUTH-006"), Admission;
    /// AUTH-007: the signature is not checked: the token is re-signed with the server's HMAC
    /// secret before verification (no effect when tokens are verified with a public key).
    SkipSignatureCheck = "skip-signature-check", breaks("AUTH-007"), Admission;
    /// AUTH-008: an unsecured token (`alg: none`, empty signature) is admitted with its claims.
    AcceptAlgNone = "accept-alg-none", breaks("AUTH-008"), Admission;
    /// AUTH-009: `exp` is not checked.
    AcceptExpired = "accept-expired", breaks("AUTH-009"), Admission;
    /// AUTH-010: `nbf` is not checked.
    IgnoreNbf = "ignore-nbf", breaks("AUTH-010"), Admission;
    /// AUTH-011: a token without `room_id` is admitted to the room `lobby`.
    DefaultRoomId = "default-room-id", breaks("AUTH-011"), Admission;
    /// AUTH-012: a token without `participant_id` is admitted as participant `anonymous`.
    DefaultParticipantId = "default-participant-id", breaks("AUTH-012"), Admission;
    /// AUTH-013: a refused token is refused, but first announced with `participant.joined` in
    /// the room it names.
    AnnounceRefused = "announce-refused", breaks("AUTH-013"), Admission;
    /// AUTH-014 (should): token refusals are answered with 403 instead of 401.
    TokenRefusal403 = "token-refusal-403", breaks("AUTH-014"), Http;
    /// AUTH-015 (should): the refusal body says which token check failed.
    DetailedTokenErrors = "detailed-token-errors", breaks("AUTH-015"), Http;
    /// AUTH-016 (should): the refusal body repeats the refused token.
    ReflectToken = "reflect-token", breaks("AUTH-016"), Http;
    /// AUTH-017 (should): empty `room_id` and `participant_id` claims are accepted.
    AcceptEmptyClaims = "accept-empty-claims", breaks("AUTH-017"), Admission;
    /// AUTH-018 (should): a participant removed through REST is admitted again.
    ReadmitRemoved = "readmit-removed", breaks("AUTH-018"), JoinRule;
    /// AUTH-019 (should): a room ended through REST can still be joined.
    JoinEndedRoom = "join-ended-room", breaks("AUTH-019"), JoinRule;
    /// AUTH-001: every token, valid ones included, is refused with 401 (a control: the run's
    /// provisioned participant is refused).
    RefuseEveryToken = "refuse-every-token", defeats_control("AUTH-001"), Admission;
    /// AUTH-001: only tokens the REST API issued are admitted; a valid token signed with the
    /// same key by anyone else is refused with 401, as by a deployment whose key the suite was
    /// not given (a control: the run's key control is refused, while every forged token would
    /// be refused for the wrong reason).
    RefuseForeignTokens = "refuse-foreign-tokens", defeats_control("AUTH-001"), Http;
    /// AUTH-009: a token in the `?token=` query parameter is admitted whatever its `exp`; the
    /// header token is checked as it should be.
    QueryTokenSkipsExpiry = "query-token-skips-expiry", breaks("AUTH-009"), Admission;
    /// AUTH-009: `exp` is checked with a leeway of 15 minutes, three times what RFC 7519's "a few
    /// minutes" allows (the bound the catalogue sets is 5 minutes).
    ExpiryLeeway15Minutes = "expiry-leeway-15-minutes", breaks("AUTH-009"), Admission;
    /// AUTH-025: a `room_id` query parameter puts the connection in that room instead of the
    /// one its token names.
    RoomFromQuery = "room-from-query", breaks("AUTH-025"), Admission;
    /// AUTH-025: a `chat.send` whose data names a `room_id` is delivered in that room (of the
    /// same tenant) instead of the sender's.
    ChatRoomFromData = "chat-room-from-data", breaks("AUTH-025"), Frames;

    // Subprotocol.
    /// PROTO-001: the response selects no subprotocol although `chalk` was offered.
    NoProtocolHeader = "no-protocol-header", breaks("PROTO-001"), Admission;
    /// PROTO-002: the response selects the offered `token.{jwt}` entry instead of `chalk`.
    EchoTokenProtocol = "echo-token-protocol", breaks("PROTO-002"), Admission;
    /// PROTO-003: the response carries `Sec-WebSocket-Protocol: chalk, chalk`.
    TwoProtocolValues = "two-protocol-values", breaks("PROTO-003"), Http;
    /// PROTO-004: the response carries `Sec-WebSocket-Protocol: chalk` although nothing was offered.
    ProtocolHeaderWithoutOffer = "protocol-header-without-offer", breaks("PROTO-004"), Http;
    /// PROTO-005: the `101` carries a `Sec-WebSocket-Accept` that is not derived from the key.
    WrongAcceptKey = "wrong-accept-key", breaks("PROTO-005"), Http;

    // Origin.
    /// ORIGIN-001: every `Origin`, the allowed one included, is refused (a control: the run's
    /// origin control is refused, as with a wrong `--origin`).
    RefuseEveryOrigin = "refuse-every-origin", defeats_control("ORIGIN-001"), Admission;
    /// ORIGIN-002: well-formed origins outside the allow-list are accepted.
    IgnoreOrigin = "ignore-origin", breaks("ORIGIN-002"), Admission;
    /// ORIGIN-003: the opaque origin `null` is accepted.
    AcceptNullOrigin = "accept-null-origin", breaks("ORIGIN-003"), Admission;
    /// ORIGIN-004 (should): origin refusals are answered with 401 instead of 403.
    OriginRefusal401 = "origin-refusal-401", breaks("ORIGIN-004"), Http;
    /// ORIGIN-005 (should): an origin whose host contains an allowed host is accepted
    /// (`https://app.chalk.test.evil.com`).
    SubstringOriginMatch = "substring-origin-match", breaks("ORIGIN-005"), Admission;
    /// ORIGIN-002: the origin is not checked when the token came in the `?token=` query
    /// parameter (the header path checks it).
    QueryTokenSkipsOrigin = "query-token-skips-origin", breaks("ORIGIN-002"), Admission;
    /// ORIGIN-006: a subdomain of an allowed origin's host (same scheme and port) is accepted,
    /// although the tenant's list is explicit (`https://x.app.chalk.test`).
    SubdomainOriginMatch = "subdomain-origin-match", breaks("ORIGIN-006"), Admission;

    // Cluster: faults only a deployment of several nodes shows.
    /// CLUSTER-001: a chat message is delivered to the members on its sender's node only,
    /// never handed to what links the nodes.
    ChatStaysOnItsNode = "chat-stays-on-its-node", breaks("CLUSTER-001"), RoomEventPath;
    /// CLUSTER-002: each sender's messages are handed to what links the nodes in swapped pairs
    /// (the second before the first; a message with no next one within 100 ms goes alone).
    ChatPairsSwapped = "chat-pairs-swapped", breaks("CLUSTER-002"), RoomEventPath;
    /// CLUSTER-003: a chat message is delivered to the members on its sender's node at once,
    /// and again when it comes back from what links the nodes.
    ChatTwiceOnItsNode = "chat-twice-on-its-node", breaks("CLUSTER-003"), RoomEventPath;
    /// CLUSTER-004: `participant.joined` reaches the members on the newcomer's node only (the
    /// other nodes get an event the page does not name).
    JoinedStaysOnItsNode = "joined-stays-on-its-node", breaks("CLUSTER-004"), RoomEventPath;
    /// CLUSTER-005: the `participant.left` of a clean close reaches the members on the leaver's
    /// node only (the other nodes get an event the page does not name).
    LeftStaysOnItsNode = "left-stays-on-its-node", breaks("CLUSTER-005"), RoomEventPath;
    /// CLUSTER-006: the `participant.left` of a dropped connection reaches the members on the
    /// leaver's node only (the other nodes get an event the page does not name).
    DroppedLeftStaysOnItsNode = "dropped-left-stays-on-its-node", breaks("CLUSTER-006"), RoomEventPath;
    /// CLUSTER-012: each node records its connections under a participant id of its own, so a
    /// participant's second connection on another node does not replace the first (on one node
    /// it still does).
    OneSessionPerNode = "one-session-per-node", breaks("CLUSTER-012"), RoomEventPath;
    /// CLUSTER-008: a removal through the REST API of one node of a participant connected to
    /// another is answered 204 and does nothing; one connected to the same node is removed.
    RemovalStaysOnItsNode = "removal-stays-on-its-node", breaks("CLUSTER-008"), RoomDirectory;
    /// CLUSTER-014: the members of a dead node are removed by the reaper, but nobody is told:
    /// their `participant.left` is never appended.
    DeadNodeDeparturesLost = "dead-node-departures-lost", breaks("CLUSTER-014"), Departures;
    /// CLUSTER-014: each member of a dead node is reported left twice: its `participant.left`
    /// is appended again right after the first.
    DeadNodeDeparturesTwice = "dead-node-departures-twice", breaks("CLUSTER-014"), Departures;
    /// CLUSTER-015: a node that restarts removes the members of its earlier run without telling
    /// anyone (their `participant.left` is never appended); those of a node lost for good are
    /// reported as they should be.
    RestartDeparturesLost = "restart-departures-lost", breaks("CLUSTER-015"), Departures;

    // Presence.
    /// PRES-001: nobody is told about a newcomer.
    NoJoined = "no-joined", breaks("PRES-001"), RoomEvents;
    /// PRES-002: `participant.joined` carries a connection id instead of the participant id.
    WrongJoinedId = "wrong-joined-id", breaks("PRES-002"), RoomEvents;
    /// PRES-003: `display_name` is the participant id and `role` is `participant`,
    /// whatever the REST record or the token say.
    JoinedFieldsFromNowhere = "joined-fields-from-nowhere", breaks("PRES-003"), RoomEvents;
    /// PRES-004: a participant that closes with a close handshake leaves unannounced.
    NoLeft = "no-left", breaks("PRES-004"), RoomEvents;
    /// PRES-005: a participant whose connection drops leaves unannounced (only clean closes are
    /// announced).
    LeftOnlyOnCleanClose = "left-only-on-clean-close", breaks("PRES-005"), RoomEvents;
    /// PRES-006: every departure is announced twice.
    DoubleLeft = "double-left", breaks("PRES-006"), RoomEvents;
    /// PRES-007: arrivals and departures (of every kind, replacements and removals included) are
    /// also announced in every other room of the tenant.
    PresenceAcrossRooms = "presence-across-rooms", breaks("PRES-007"), RoomEvents;
    /// PRES-003: `role` in `participant.joined` (and in `room.state`) is always `participant`,
    /// whatever role the participant was provisioned with; the display name is kept.
    RoleAlwaysParticipant = "role-always-participant", breaks("PRES-003"), RoomEvents;
    /// PRES-010: every `participant.joined` is delivered twice, the second copy about 50 ms
    /// after the first.
    DuplicateJoined = "duplicate-joined", breaks("PRES-010"), RoomEvents;
    /// PRES-001: a participant that has left a room is never announced again in that room (a
    /// re-join after a departure is silent; a replaced connection is no departure).
    NoRejoinAnnounce = "no-rejoin-announce", breaks("PRES-001"), RoomEvents;
    /// PRES-004: a clean close whose close frame carries any status other than 1000 (1001 on
    /// navigation, an application code, no code at all) leaves unannounced; drops are still
    /// announced.
    LeftOnlyFor1000 = "left-only-for-1000", breaks("PRES-004"), RoomEvents;
    /// PRES-007: presence, chat and recording events also reach rooms of the tenant whose id
    /// equals this room's id when letters are compared without case.
    RoomIdCaseInsensitive = "room-id-case-insensitive", breaks("PRES-007"), RoomEvents;

    // Chat.
    /// CHAT-001: a chat message is delivered to its sender only.
    NoChatDelivery = "no-chat-delivery", breaks("CHAT-001"), RoomEvents;
    /// CHAT-002: `sender_id` is `p_unknown` instead of the sender's participant id.
    WrongSenderId = "wrong-sender-id", breaks("CHAT-002"), RoomEvents;
    /// CHAT-003: non-ASCII characters are dropped from the text.
    DropNonAscii = "drop-non-ascii", breaks("CHAT-003"), RoomEvents;
    /// CHAT-004: every message has the id `msg_1`.
    ConstantMessageId = "constant-message-id", breaks("CHAT-004"), RoomEvents;
    /// CHAT-005: every receiver sees a different id for the same message.
    PerReceiverMessageId = "per-receiver-message-id", breaks("CHAT-005"), RoomEvents;
    /// CHAT-006: the timestamp is a bare time of day (`10:45:00`).
    TimestampNotRfc3339 = "timestamp-not-rfc3339", breaks("CHAT-006"), RoomEvents;
    /// CHAT-007 (should): the timestamp is local time with a `+02:00` offset instead of UTC.
    LocalTimeTimestamp = "local-time-timestamp", breaks("CHAT-007"), RoomEvents;
    /// CHAT-008: every receiver gets every message twice.
    DuplicateDelivery = "duplicate-delivery", breaks("CHAT-008"), RoomEvents;
    /// CHAT-009: each sender's messages are swapped in pairs (one is held back until the next
    /// arrives, or for 50 ms).
    ReorderMessages = "reorder-messages", breaks("CHAT-009"), Frames;
    /// CHAT-010: a chat message is delivered in every room of the tenant (the same frame, so the
    /// same message id, everywhere).
    ChatAcrossRooms = "chat-across-rooms", breaks("CHAT-010"), RoomEvents;
    /// CHAT-011: a `sender_id` in `chat.send` replaces the authenticated sender (such a
    /// `chat.send` is handled by the fault before the session's rate limit sees it).
    SenderIdFromClient = "sender-id-from-client", breaks("CHAT-011"), Frames;
    /// CHAT-001: room events (chat, presence, recordings) reach only the first 16 members of
    /// a room, in joining order.
    FanoutCap = "fanout-cap", breaks("CHAT-001"), RoomEvents;
    /// CHAT-003: chat texts longer than 1024 characters are cut to their first 1024.
    TruncateLongText = "truncate-long-text", breaks("CHAT-003"), RoomEvents;
    /// CHAT-010: chat, presence and recording events also reach rooms of the tenant whose id
    /// starts with this room's id, or that this room's id starts with.
    RoomPrefixMatch = "room-prefix-match", breaks("CHAT-010"), RoomEvents;

    // Hands and keepalive.
    /// HAND-001: `hand.raise` closes the sender's connection with 1011.
    CloseOnHandRaise = "close-on-hand-raise", breaks("HAND-001"), Frames;
    /// HAND-002: `hand.lower` closes the sender's connection with 1011.
    CloseOnHandLower = "close-on-hand-lower", breaks("HAND-002"), Frames;
    /// PING-001: the `ping` event closes the sender's connection with 1011.
    CloseOnPingEvent = "close-on-ping-event", breaks("PING-001"), Frames;
    /// PING-002: WebSocket Ping frames get no Pong frame (pongs are dropped on their way out).
    IgnorePingFrames = "ignore-ping-frames", breaks("PING-002"), Io;
    /// PING-005: the server sends no heartbeat pings, and its idle timer counts every client
    /// frame but the `ping` event: a client that only sends `ping` is closed with 4011 once the
    /// idle timeout has passed.
    IdleIgnoresPingEvent = "idle-ignores-ping-event", breaks("PING-005"), Frames;

    // Recording.
    /// REC-001: `recording.started` is not sent.
    NoRecordingStarted = "no-recording-started", breaks("REC-001"), RoomEvents;
    /// REC-002: `recording.stopped` is not sent.
    NoRecordingStopped = "no-recording-stopped", breaks("REC-002"), RoomEvents;
    /// REC-003: `recording.stopped` names a fresh recording id.
    MismatchedRecordingId = "mismatched-recording-id", breaks("REC-003"), RoomEvents;
    /// REC-004: `recording.started` is also sent to every other room of the tenant.
    RecordingAcrossRooms = "recording-across-rooms", breaks("REC-004"), RoomEvents;
    /// REC-005 (should): every recording of a room has the same id in its events
    /// (`recording.started`, `recording.stopped`, `room.state`); the REST answers show the real,
    /// fresh ids.
    ReuseRecordingId = "reuse-recording-id", breaks("REC-005"), RoomEvents;
    /// REC-006: every `recording.started` is sent again about 50 ms after the first.
    LateDuplicateRecordingStarted = "late-duplicate-recording-started", breaks("REC-006"), RoomEvents;
    /// REC-001: only a room's first recording is announced; later ones start and stop silently.
    SecondRecordingSilent = "second-recording-silent", breaks("REC-001"), RoomEvents;

    // Schema.
    /// SCHEMA-001: every event is sent in a binary frame.
    BinaryEvents = "binary-events", breaks("SCHEMA-001"), Frames;
    /// SCHEMA-002: `participant.joined` is sent as `participant.join`.
    MisspelledEvent = "misspelled-event", breaks("SCHEMA-002"), RoomEvents;
    /// SCHEMA-003: `participant.left` carries `id` at the top level instead of inside `data`
    /// (`data` is left empty). An extra top-level member alone is allowed; a missing `data.id` is
    /// not.
    FieldsOutsideData = "fields-outside-data", breaks("SCHEMA-003"), RoomEvents;
    /// SCHEMA-004: `chat.message` has no `timestamp`.
    NoTimestamp = "no-timestamp", breaks("SCHEMA-004"), RoomEvents;
    /// SCHEMA-005: `recording.started` carries `recording_id` as a number.
    RecordingIdNumber = "recording-id-number", breaks("SCHEMA-005"), RoomEvents;
    /// SCHEMA-006: `recording.stopped` carries `recording_id` as a number.
    StoppedIdNumber = "stopped-id-number", breaks("SCHEMA-006"), RoomEvents;
    /// SCHEMA-007: `chat.send` without a client-chosen `data.id` is refused with `invalid_data`
    /// (by the fault, before the session's rate limit sees it).
    RequireClientMessageId = "require-client-message-id", breaks("SCHEMA-007"), Frames;

    // Robustness.
    /// ROBUST-001: a frame that is not a usable event (or a binary frame) closes every connection
    /// of the sender's room.
    GarbageClosesRoom = "garbage-closes-room", breaks("ROBUST-001"), Frames;
    /// ROBUST-002: an unknown event closes every connection of the sender's room.
    UnknownEventClosesRoom = "unknown-event-closes-room", breaks("ROBUST-002"), Frames;
    /// ROBUST-003: after any bad input from any client, new upgrades get 503.
    StopAcceptingAfterGarbage = "stop-accepting-after-garbage", breaks("ROBUST-003"), Admission;
    /// ROBUST-004: a client's close frame is not answered; the TCP connection is just dropped.
    NoCloseReply = "no-close-reply", breaks("ROBUST-004"), Frames;
    /// ROBUST-005: invalid UTF-8 closes every connection of the sender's room.
    Utf8ClosesRoom = "utf8-closes-room", breaks("ROBUST-005"), Frames;
    /// ROBUST-006 (should): invalid UTF-8 is closed with 1002 instead of 1007.
    Utf8Close1002 = "utf8-close-1002", breaks("ROBUST-006"), Frames;

    // Allowed variations.
    /// Variation: the sender of `chat.send` does not get its own `chat.message` (no `chat-echo`).
    NoChatEcho = "no-chat-echo", allowed(Some("chat-echo")), RoomEvents;
    /// Variation: the `ping` event is accepted silently (no `pong-event`).
    NoPong = "no-pong", allowed(Some("pong-event")), Frames;
    /// Variation: no `error` event is ever sent; unusable frames are dropped silently (no
    /// `error-event`).
    SilentUnknownEvents = "silent-unknown-events", allowed(Some("error-event")), Frames;
    /// Variation: the newcomer also receives `participant.joined` about itself.
    JoinedToSelf = "joined-to-self", allowed(None), RoomEvents;
    /// Variation: the newcomer gets no `room.state` (no `room-state`).
    NoRoomState = "no-room-state", allowed(Some("room-state")), RoomEvents;
    /// Variation: hands change silently, without `hand.raised` / `hand.lowered` (no `hand-events`).
    NoHandEvents = "no-hand-events", allowed(Some("hand-events")), RoomEvents;
    /// Variation: every text frame carries top-level fields besides `event` and `data` (`seq`,
    /// `server_time`) and a member of `data` the page does not show (`x_node`).
    ExtraEnvelopeFields = "extra-envelope-fields", allowed(None), Frames;
    /// Variation: the server sends a WebSocket Ping frame on every connection every 80 ms.
    ServerPings = "server-pings", allowed(None), Io;
    /// Variation: every text message goes out fragmented: a text frame without FIN, then
    /// continuation frames (RFC 6455 §5.4).
    FragmentedFrames = "fragmented-frames", allowed(None), Io;
    /// Variation: every room event reaches its audience 500 ms late, in order.
    DeliveryLatency = "delivery-latency", allowed(None), RoomEvents;
    /// Variation: message and recording ids are bare UUIDs (no `msg_`/`rec_` prefix) and chat
    /// timestamps carry microseconds and a `+00:00` offset.
    OtherIdStyles = "other-id-styles", allowed(None), RoomEvents;
    /// Variation: the server also sends events the page does not name (`room.notice` to each
    /// joiner, `server.time` after each chat message).
    UnknownServerEvents = "unknown-server-events", allowed(None), RoomEvents;
    /// Variation: right after `room.state`, the newcomer receives `participant.joined` for every
    /// member already present.
    InitialRoster = "initial-roster", allowed(None), RoomEvents;
    /// Variation: chat texts longer than 500 characters are refused by closing the sender's
    /// connection with 1009 (the page sets no limit; the refusal is visible).
    ShortTextLimit = "short-text-limit", allowed(None), Frames;
}

// The set is a bitmask over `Fault as u32`.
const _: () = assert!(Fault::ALL.len() <= 128);

impl Fault {
    /// The requirement a fault (or a control fault) breaks; `None` for a variation.
    pub fn requirement(self) -> Option<&'static str> {
        match self.kind() {
            Kind::Fault { requirement } | Kind::Control { requirement } => Some(requirement),
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
    /// Whether any injected fault acts through `seam`.
    pub fn use_seam(self, seam: Seam) -> bool {
        self.iter().any(|f| f.seam() == seam)
    }

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
    fn the_control_faults_are_the_ones_a_misconfigured_run_cannot_tell_apart() {
        let controls: Vec<Fault> = Fault::ALL
            .iter()
            .copied()
            .filter(|f| matches!(f.kind(), Kind::Control { .. }))
            .collect();
        assert_eq!(
            controls,
            [
                Fault::RefuseEveryToken,
                Fault::RefuseForeignTokens,
                Fault::RefuseEveryOrigin
            ]
        );
        assert!(controls.iter().all(|f| f.requirement().is_some()));
    }

    #[test]
    fn names_the_seam_each_fault_uses() {
        assert_eq!(Fault::AcceptExpired.seam(), Seam::Admission);
        assert_eq!(Fault::WrongAcceptKey.seam(), Seam::Http);
        assert_eq!(Fault::DuplicateDelivery.seam(), Seam::RoomEvents);
        assert_eq!(Fault::BinaryEvents.seam(), Seam::Frames);
        assert_eq!(Fault::IgnorePingFrames.seam(), Seam::Io);
        let faults = Faults::from(Fault::ReadmitRemoved);
        assert!(faults.use_seam(Seam::JoinRule) && !faults.use_seam(Seam::Admission));
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
}
