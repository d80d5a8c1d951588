//! The room-event bus of cluster mode ([`ClusterBus`]): the [`RoomEvents`] implementation that
//! carries a room's events through Redis streams to every node, the publishing node included.
//!
//! Publishing: [`RoomEvents::publish`] is synchronous and called under the room's lock, so it
//! only queues a command; one task per node (the publisher) runs the commands in order, each as
//! one Lua script or one `XADD` that checks, changes the room's membership in Redis and appends
//! the event to the room's partition stream atomically. One task means per-sender order: a
//! sender's events are appended in the order its node accepted them.
//!
//! Delivering: one task per node (the reader) reads every partition stream with `XREAD BLOCK`
//! from the last id it saw and queues each entry's frame on the local members of its room. Local
//! events take the same path as remote ones: nothing is delivered straight from `publish`, so
//! every member sees the stream's order and nothing arrives twice. A member is registered with
//! the id of its own `participant.joined` entry and receives exactly the entries after it (the
//! reader fetches with `XRANGE` what it already passed when a registration comes late).
//!
//! `room.state` stays a local event, but its roster is the one the join script returned: the
//! members of every node.
//!
//! Redis unavailable (see [`super::health`]): a chat message or a hand change is refused to its
//! sender with the `error` event, code `unavailable`, instead of being queued (and so is one
//! that finds the queue at [`QUEUE_LIMIT`], or whose script fails); it is never kept to be
//! sent later, so it is never delivered twice. A departure is kept and handed to Redis once it
//! is back: the pending departures are bounded by the node's members. A join that cannot be
//! handed over is answered 503 by the handshake, which waits for it, instead of a `101`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use redis::aio::ConnectionManager;
use redis::streams::StreamReadReply;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::health::{RedisHealth, bounded, is_outage};
use super::incarnation::{Incarnation, MemberEntry};
use crate::close::CloseReason;
use crate::connection::{ConnId, Connection};
use crate::events::{Audience, EventKind, Members, RoomEvent, RoomEvents, RoomKey, Settled};
use crate::protocol::{ErrorCode, EventError, RosterEntry, ServerEvent, timestamp_now};

/// Number of partition streams per tenant; a room's events go to one of them.
pub const PARTITIONS: u64 = 8;

/// Approximate length each partition stream is trimmed to (`XADD … MAXLEN ~`): how far back a
/// reader that lost its connection can resume.
pub const STREAM_MAXLEN: u64 = 100_000;

/// How long one `XREAD` waits for new entries before the reader looks at new registrations.
const READ_BLOCK: Duration = Duration::from_millis(100);

/// Most entries one `XREAD` returns per stream.
const READ_COUNT: usize = 1000;

/// Pause after a failed Redis call of the reader before it tries again from the same ids.
const READ_RETRY: Duration = Duration::from_millis(250);

/// Most chat messages, hand changes and recording events waiting for Redis in the publisher's
/// queue; past it they are refused (`unavailable`). Joins and departures are not counted
/// against it: they are bounded by the node's connections.
pub const QUEUE_LIMIT: i64 = 10_000;

/// How often the publisher tries again the departures Redis did not take, while it is
/// available.
const LEAVE_RETRY: Duration = Duration::from_millis(250);

/// The Redis keys of one room.
pub(crate) struct RoomKeys {
    /// Hash: `name`, `created_at`, `status`, `recording_id`.
    pub(crate) record: String,
    /// Hash: participant id → REST record (`display_name`, `role`).
    pub(crate) participants: String,
    /// Set: removed participants.
    pub(crate) revoked: String,
    /// Hash: participant id → member record (roster fields, owner, joining order).
    pub(crate) members: String,
    /// Set: raised hands.
    pub(crate) hands: String,
    /// Counter: joining order.
    pub(crate) seq: String,
    /// The room's partition stream.
    pub(crate) stream: String,
}

impl RoomKeys {
    pub(crate) fn of(room: &RoomKey) -> RoomKeys {
        let base = format!("chalk:{}:room:{}", room.tenant, room.room_id);
        RoomKeys {
            record: base.clone(),
            participants: format!("{base}:participants"),
            revoked: format!("{base}:revoked"),
            members: format!("{base}:members"),
            hands: format!("{base}:hands"),
            seq: format!("{base}:seq"),
            stream: stream_key(&room.tenant, partition(&room.room_id)),
        }
    }
}

/// The partition of a room: FNV-1a of its id, modulo [`PARTITIONS`] (stable across nodes and
/// builds).
pub fn partition(room_id: &str) -> u64 {
    let hash = room_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % PARTITIONS
}

/// The partition stream `chalk:{tenant}:events:{partition}`.
pub fn stream_key(tenant: &str, partition: u64) -> String {
    format!("chalk:{tenant}:events:{partition}")
}

/// Joins: records the member (who owns it: this run of the node and the connection), lowers its hand, appends
/// `participant.joined`; returns the entry id, the roster (members and raised hands) and the
/// running recording; refuses an ended room or a removed participant (the handshake checked
/// both, but a REST call may have come in between). A room first seen through a socket gets its
/// record here. When
/// another node's connection holds the participant, first appends the internal entry that
/// closes it there (4009) and its `participant.left`: one connection per participant in the
/// cluster. The member is also listed in its incarnation's index, for the reaper.
const JOIN: &str = r#"
if redis.call('HGET', KEYS[5], 'status') == 'ended' then return {'ended', '', {}, {}, false} end
if redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 1 then return {'removed', '', {}, {}, false} end
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('HSET', KEYS[5], 'name', ARGV[3], 'created_at', ARGV[7], 'status', 'active')
end
local seq = redis.call('INCR', KEYS[3])
local member = cjson.decode(ARGV[2])
member.seq = seq
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous then
  local holder = cjson.decode(previous).owner
  if holder ~= member.owner then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'c', 'replace', 'o', holder)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'f', ARGV[6])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(member))
redis.call('SADD', KEYS[7], ARGV[8])
redis.call('SREM', KEYS[2], ARGV[1])
local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'f', ARGV[4])
return {'ok', id, redis.call('HGETALL', KEYS[1]), redis.call('SMEMBERS', KEYS[2]),
  redis.call('HGET', KEYS[5], 'recording_id')}
"#;

/// Leaves: forgets the member in its incarnation's index; only if the member is still owned
/// by this connection (a newer connection may have taken it), removes it and appends
/// `participant.left`; returns the entry id or nil. The reaper runs it too, for the members of a
/// dead incarnation (see [`super::liveness`]): of several nodes racing, one appends the event.
pub(crate) const LEAVE: &str = r#"
redis.call('SREM', KEYS[4], ARGV[6])
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
if cjson.decode(current).owner ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'f', ARGV[4])
"#;

/// Appends a chat message only while its sender is still the member this connection holds
/// (not removed, replaced or gone): nil otherwise, so no message follows its sender's
/// `participant.left`.
const CHAT: &str = r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
if cjson.decode(current).owner ~= ARGV[2] then return false end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'f', ARGV[4])
"#;

/// Raises or lowers a member's hand and appends the event; nil when it is not a member, or no
/// longer held by the connection that asked (removed, replaced on another node, reaped).
const HAND: &str = r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return false end
if cjson.decode(current).owner ~= ARGV[6] then return false end
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[3], 'f', ARGV[4])
"#;

/// A chat message of `participant_id`, sent on this node's connection `conn`.
struct ChatMessage {
    room: RoomKey,
    participant_id: String,
    conn: ConnId,
    frame: Utf8Bytes,
    /// Told `unavailable` if Redis does not take it.
    sender: Option<Arc<Connection>>,
}

/// Most chat messages the publisher hands to Redis in one pipeline.
const CHAT_BATCH: usize = 64;

/// What the publisher does, in the order the node accepted it.
enum Command {
    Join {
        room: RoomKey,
        conn: Arc<Connection>,
        participant_id: String,
        joined: Utf8Bytes,
        state: Option<Utf8Bytes>,
        /// The `participant.left` others see if a connection elsewhere is replaced.
        left: Utf8Bytes,
        /// Told once the join is done (or failed): the session waits for it.
        settled: oneshot::Sender<()>,
    },
    Leave {
        room: RoomKey,
        participant_id: String,
        left: Utf8Bytes,
    },
    /// A hand change of `participant_id`, asked on this node's connection `conn`.
    Hand {
        room: RoomKey,
        participant_id: String,
        conn: ConnId,
        raised: bool,
        frame: Utf8Bytes,
        /// Told `unavailable` if Redis does not take it.
        sender: Option<Arc<Connection>>,
    },
    Append {
        room: RoomKey,
        frame: Utf8Bytes,
    },
    /// A chat message of a member of this node.
    Chat(ChatMessage),
    /// Told once every command queued before it is done.
    Flush {
        done: oneshot::Sender<()>,
    },
    /// The other nodes reaped this run while it could not reach Redis: close every local
    /// member (1012), whom they reported left.
    Orphaned,
}

impl Command {
    /// Whether the command counts against [`QUEUE_LIMIT`] (and is refused past it).
    fn is_bounded(&self) -> bool {
        matches!(
            self,
            Command::Chat(_) | Command::Hand { .. } | Command::Append { .. }
        )
    }
}

/// What the reader is told by the publisher.
enum Registration {
    /// Deliver to `conn` the entries of its room after `after`.
    Add {
        room: RoomKey,
        conn: Arc<Connection>,
        after: EntryId,
    },
    /// Deliver nothing more to this connection.
    Remove { conn: ConnId },
    /// Close every registered connection with `reason` and forget them.
    CloseAll { reason: CloseReason },
}

/// A stream entry id, `MS-SEQ`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EntryId(u64, u64);

impl EntryId {
    fn parse(text: &str) -> Option<EntryId> {
        let (ms, seq) = text.split_once('-')?;
        Some(EntryId(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// The cluster's room-event bus (see the module documentation).
pub struct ClusterBus {
    commands: mpsc::UnboundedSender<Command>,
    health: Arc<RedisHealth>,
    /// `room.state` frames of joins whose `participant.joined` has not been published yet (the
    /// room publishes both under one lock, state first).
    pending_states: Mutex<HashMap<ConnId, Utf8Bytes>>,
    /// Joins queued and not yet done, for [`RoomEvents::settled`].
    settling: Mutex<HashMap<ConnId, oneshot::Receiver<()>>>,
}

impl std::fmt::Debug for ClusterBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterBus")
    }
}

impl ClusterBus {
    /// Starts the publisher (on `redis`) and the reader (on `reader`, a connection of its own:
    /// a blocking `XREAD` holds its connection) for the streams of `tenants`.
    pub async fn start(
        node: Incarnation,
        redis: ConnectionManager,
        mut reader: ConnectionManager,
        tenants: Vec<String>,
        health: Arc<RedisHealth>,
    ) -> redis::RedisResult<ClusterBus> {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (registrations, registration_rx) = mpsc::unbounded_channel();
        // Start reading at Redis's own clock: every member registers later than this.
        let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut reader).await?;
        let start = EntryId(seconds * 1000 + micros / 1000, 0);
        let streams = tenants
            .iter()
            .flat_map(|t| (0..PARTITIONS).map(move |p| (t.clone(), stream_key(t, p))))
            .collect::<Vec<_>>();
        tokio::spawn(publish_loop(
            node.clone(),
            redis,
            command_rx,
            registrations,
            health.clone(),
        ));
        tokio::spawn(read_loop(
            node.clone(),
            reader,
            streams,
            start,
            registration_rx,
            health.clone(),
        ));
        Ok(ClusterBus {
            commands,
            health,
            pending_states: Mutex::default(),
            settling: Mutex::default(),
        })
    }

    /// Resolves once every command queued before the call is done (or the publisher is gone).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        self.queue(Command::Flush { done });
        let _ = flushed.await;
    }

    /// Closes every local member with 1012 (this run was reaped while it could not reach
    /// Redis: the other nodes reported them left), after whatever is
    /// queued before.
    pub fn close_orphans(&self) {
        self.queue(Command::Orphaned);
    }

    fn queue(&self, command: Command) {
        let bounded = command.is_bounded();
        // Counted before the send, so that the publisher's decrement never comes first (the
        // limit is checked before, so several senders at once may pass it by a few).
        if bounded {
            self.health.figures().bus_queue.inc();
        }
        // The tasks live as long as the runtime; a send fails only while it shuts down.
        if self.commands.send(command).is_err() && bounded {
            self.health.figures().bus_queue.dec();
        }
    }

    /// Queues a chat message or a hand change of the member on `sender`, or refuses it to
    /// `sender` while Redis is unavailable or the queue is full.
    fn queue_or_refuse(&self, command: Command, sender: Option<&Arc<Connection>>, event: &str) {
        if self.health.is_up() && self.health.figures().bus_queue.get() < QUEUE_LIMIT {
            self.queue(command);
        } else if let Some(sender) = sender {
            refuse(sender, event);
        }
    }
}

/// Tells `sender` that its `event` was not handed to the other nodes: the `error` event with
/// code `unavailable`.
fn refuse(sender: &Connection, event: &str) {
    sender.send(
        EventError {
            code: ErrorCode::Unavailable,
            message: "the cluster cannot take this event now; try again shortly",
            event: Some(event.to_owned()),
        }
        .encode(),
    );
}

impl RoomEvents for ClusterBus {
    fn settled(&self, conn: ConnId) -> Option<Settled> {
        let settling = self
            .settling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&conn)?;
        Some(Box::pin(async move {
            // A dropped sender (the publisher is gone) settles too.
            let _ = settling.await;
        }))
    }

    fn publish(&self, event: RoomEvent<'_>, members: &Members<'_>) {
        let room = event.room.clone();
        match event.kind {
            EventKind::RoomState => {
                if let Audience::Only(conn) = event.audience {
                    self.pending_states
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(conn, event.frame);
                }
            }
            EventKind::Joined {
                participant_id,
                conn,
            } => {
                let Some(connection) = members.connections().iter().find(|c| c.id() == conn) else {
                    return;
                };
                let state = self
                    .pending_states
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&conn);
                let (settled, settling) = oneshot::channel();
                self.settling
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(conn, settling);
                self.queue(Command::Join {
                    room,
                    conn: connection.clone(),
                    participant_id: participant_id.to_owned(),
                    joined: event.frame,
                    state,
                    left: ServerEvent::ParticipantLeft { id: participant_id }.encode(),
                    settled,
                });
            }
            EventKind::Left { participant_id, .. } => self.queue(Command::Leave {
                room,
                participant_id: participant_id.to_owned(),
                left: event.frame,
            }),
            EventKind::Hand {
                participant_id,
                from,
                raised,
            } => {
                let sender = members.connections().iter().find(|c| c.id() == from);
                let command = Command::Hand {
                    room,
                    participant_id: participant_id.to_owned(),
                    conn: from,
                    raised,
                    frame: event.frame,
                    sender: sender.cloned(),
                };
                let name = if raised { "hand.raise" } else { "hand.lower" };
                self.queue_or_refuse(command, sender, name);
            }
            EventKind::Chat { sender_id, from } => {
                let sender = members.connections().iter().find(|c| c.id() == from);
                let command = Command::Chat(ChatMessage {
                    room,
                    participant_id: sender_id.to_owned(),
                    conn: from,
                    frame: event.frame,
                    sender: sender.cloned(),
                });
                self.queue_or_refuse(command, sender, "chat.send");
            }
            EventKind::RecordingStarted { .. } | EventKind::RecordingStopped { .. } => {
                self.queue(Command::Append {
                    room,
                    frame: event.frame,
                })
            }
        }
    }
}

/// Runs the commands in order (see the module documentation).
async fn publish_loop(
    node: Incarnation,
    mut redis: ConnectionManager,
    mut commands: mpsc::UnboundedReceiver<Command>,
    registrations: mpsc::UnboundedSender<Registration>,
    health: Arc<RedisHealth>,
) {
    let join = redis::Script::new(JOIN);
    let leave = redis::Script::new(LEAVE);
    let hand = redis::Script::new(HAND);
    // Which connection of this node holds each participant it joined.
    let mut owners: HashMap<(RoomKey, String), ConnId> = HashMap::new();
    // Departures Redis did not take, in order: tried again while it is available. At most one
    // per member of this node.
    let mut pending: Vec<(MemberEntry, Utf8Bytes)> = Vec::new();
    let mut retry = tokio::time::interval(LEAVE_RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A command taken from the queue while gathering a batch of chat messages, to run next.
    let mut next: Option<Command> = None;
    loop {
        let command = match next.take() {
            Some(command) => command,
            None => tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => command,
                    None => return,
                },
                _ = retry.tick(), if !pending.is_empty() => {
                    if health.is_up() {
                        hand_over_departures(&node, &leave, &mut redis, &health, &mut pending).await;
                    }
                    continue;
                }
            },
        };
        if command.is_bounded() {
            health.figures().bus_queue.dec();
        }
        if health.is_up() && !pending.is_empty() {
            hand_over_departures(&node, &leave, &mut redis, &health, &mut pending).await;
        }
        // While Redis is unavailable nothing is tried: each command fails at once, as if Redis
        // had refused it, instead of waiting for the timeout one after the other.
        let available = health.is_up();
        let outcome = match command {
            Command::Join {
                room,
                conn,
                participant_id,
                joined,
                state,
                left,
                settled,
            } => {
                let keys = RoomKeys::of(&room);
                let member = member_record(&node, conn.id(), &joined);
                type Joined = (String, String, Vec<String>, Vec<String>, Option<String>);
                let entry =
                    MemberEntry::new(&room, &participant_id, &owner(&node, conn.id())).encode();
                let result: redis::RedisResult<Joined> = if available {
                    health
                        .call(
                            "join",
                            join.key(&keys.members)
                                .key(&keys.hands)
                                .key(&keys.seq)
                                .key(&keys.stream)
                                .key(&keys.record)
                                .key(&keys.revoked)
                                .key(node.members_key())
                                .arg(&participant_id)
                                .arg(member.to_string())
                                .arg(&room.room_id)
                                .arg(joined.as_str())
                                .arg(STREAM_MAXLEN)
                                .arg(left.as_str())
                                .arg(timestamp_now())
                                .arg(entry)
                                .invoke_async(&mut redis),
                        )
                        .await
                } else {
                    Err(not_tried())
                };
                let joining = Arc::clone(&conn);
                let failed_key = (room.clone(), participant_id.clone());
                let joined = result.map(|(verdict, id, members, hands, recording)| {
                    let refused = match verdict.as_str() {
                        "ended" => Some(CloseReason::RoomEnded),
                        "removed" => Some(CloseReason::Removed),
                        _ => None,
                    };
                    if let Some(reason) = refused {
                        conn.close(reason);
                        return;
                    }
                    if let Some(state) = state {
                        let state = cluster_room_state(&state, &members, &hands, recording);
                        conn.send(state);
                    }
                    owners.insert((room.clone(), participant_id), conn.id());
                    if let Some(after) = EntryId::parse(&id) {
                        let _ = registrations.send(Registration::Add { room, conn, after });
                    }
                });
                // A join Redis did not take would leave a socket that hears nothing: the
                // handshake, which waits for the join, answers 503 instead of its 101.
                // Redis may still have run the script (an answer lost or late): the member is
                // kept as this connection's, so that the departure the refusal brings runs
                // `LEAVE`, which removes it if it is there and does nothing otherwise.
                if joined.is_err() {
                    owners.insert(failed_key, joining.id());
                    joining.close(CloseReason::Internal);
                }
                // Joined, refused or failed: the handshake goes on (a refused or failed one to
                // its refusal).
                let _ = settled.send(());
                joined
            }
            Command::Leave {
                room,
                participant_id,
                left,
            } => {
                let Some(conn) = owners.remove(&(room.clone(), participant_id.clone())) else {
                    continue;
                };
                let _ = registrations.send(Registration::Remove { conn });
                let entry = MemberEntry::new(&room, &participant_id, &owner(&node, conn));
                let result = if available {
                    health
                        .call(
                            "departure",
                            leave_script(&leave, &node.members_key(), &entry, &left)
                                .invoke_async::<Option<String>>(&mut redis),
                        )
                        .await
                        .map(drop)
                } else {
                    Err(not_tried())
                };
                match result {
                    // Kept, and handed over once Redis is back: a departure is never lost.
                    Err(error) if is_outage(&error) => {
                        pending.push((entry, left));
                        continue;
                    }
                    result => result,
                }
            }
            Command::Flush { done } => {
                let _ = done.send(());
                continue;
            }
            Command::Orphaned => {
                let _ = registrations.send(Registration::CloseAll {
                    reason: CloseReason::ClusterResync,
                });
                continue;
            }
            Command::Hand {
                room,
                participant_id,
                conn,
                raised,
                frame,
                sender,
            } => {
                let keys = RoomKeys::of(&room);
                let result = if available {
                    health
                        .call(
                            "hand",
                            hand.key(&keys.members)
                                .key(&keys.hands)
                                .key(&keys.stream)
                                .arg(&participant_id)
                                .arg(if raised { "1" } else { "0" })
                                .arg(&room.room_id)
                                .arg(frame.as_str())
                                .arg(STREAM_MAXLEN)
                                .arg(owner(&node, conn))
                                .invoke_async::<Option<String>>(&mut redis),
                        )
                        .await
                        .map(drop)
                } else {
                    Err(not_tried())
                };
                if result.is_err()
                    && let Some(sender) = &sender
                {
                    refuse(sender, if raised { "hand.raise" } else { "hand.lower" });
                }
                result
            }
            Command::Chat(message) => {
                // The chat messages queued behind this one go with it, in one pipeline: one
                // round trip to Redis for the lot, in the order the node accepted them.
                let mut batch = vec![message];
                while batch.len() < CHAT_BATCH {
                    match commands.try_recv() {
                        Ok(Command::Chat(message)) => {
                            health.figures().bus_queue.dec();
                            batch.push(message);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                append_chats(&node, &mut redis, &health, available, &batch).await
            }
            Command::Append { room, frame } => {
                let keys = RoomKeys::of(&room);
                if available {
                    health
                        .call(
                            "append",
                            redis::cmd("XADD")
                                .arg(&keys.stream)
                                .arg("MAXLEN")
                                .arg("~")
                                .arg(STREAM_MAXLEN)
                                .arg("*")
                                .arg("r")
                                .arg(&room.room_id)
                                .arg("f")
                                .arg(frame.as_str())
                                .query_async::<String>(&mut redis),
                        )
                        .await
                        .map(drop)
                } else {
                    Err(not_tried())
                }
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(error = %health.describe(&error), "a room event could not be handed to Redis");
        }
    }
}

/// Appends `batch` in order, each by the `CHAT` script, in one pipeline (one round trip); a
/// message Redis did not take is refused to its sender. The error of the first one not taken.
async fn append_chats(
    node: &Incarnation,
    redis: &mut ConnectionManager,
    health: &RedisHealth,
    available: bool,
    batch: &[ChatMessage],
) -> redis::RedisResult<()> {
    let answers: redis::RedisResult<Vec<redis::RedisResult<Option<String>>>> = if available {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for message in batch {
            let keys = RoomKeys::of(&message.room);
            // EVAL, not EVALSHA: a script missing from Redis's cache (after a restart) would
            // fail that message alone, and the ones after it would overtake its retry.
            pipe.cmd("EVAL")
                .arg(CHAT)
                .arg(2)
                .arg(&keys.members)
                .arg(&keys.stream)
                .arg(&message.participant_id)
                .arg(owner(node, message.conn))
                .arg(&message.room.room_id)
                .arg(message.frame.as_str())
                .arg(STREAM_MAXLEN);
        }
        health.call("chat", pipe.query_async(redis)).await
    } else {
        Err(not_tried())
    };
    let mut first_error = None;
    for (i, message) in batch.iter().enumerate() {
        let error = match &answers {
            Ok(answers) => match answers.get(i) {
                Some(Ok(_)) => continue,
                Some(Err(error)) => error.clone(),
                None => not_tried(),
            },
            Err(error) => error.clone(),
        };
        if let Some(sender) = &message.sender {
            refuse(sender, "chat.send");
        }
        first_error.get_or_insert(error);
    }
    first_error.map_or(Ok(()), Err)
}

/// The error of a command the publisher did not try because Redis is unavailable.
fn not_tried() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "Redis unavailable: not tried",
    ))
}

/// Runs the departures Redis did not take, in order, until one fails for an outage (kept with
/// those after it for the next try).
async fn hand_over_departures(
    node: &Incarnation,
    leave: &redis::Script,
    redis: &mut ConnectionManager,
    health: &RedisHealth,
    pending: &mut Vec<(MemberEntry, Utf8Bytes)>,
) {
    let mut done = 0;
    for (entry, left) in pending.iter() {
        let result = health
            .call(
                "departure",
                leave_script(leave, &node.members_key(), entry, left)
                    .invoke_async::<Option<String>>(redis),
            )
            .await;
        match result {
            Err(error) if is_outage(&error) => break,
            Err(error) => {
                tracing::warn!(error = %health.describe(&error), "a departure could not be handed to Redis")
            }
            Ok(_) => {}
        }
        done += 1;
    }
    pending.drain(..done);
}

/// The `LEAVE` script's invocation for `entry` (a member listed in the index `index`), with
/// `left` the `participant.left` frame to append.
pub(crate) fn leave_script<'a>(
    leave: &'a redis::Script,
    index: &str,
    entry: &MemberEntry,
    left: &Utf8Bytes,
) -> redis::ScriptInvocation<'a> {
    let keys = RoomKeys::of(&entry.room);
    let mut invocation = leave.key(&keys.members);
    invocation
        .key(&keys.hands)
        .key(&keys.stream)
        .key(index)
        .arg(&entry.participant_id)
        .arg(&entry.owner)
        .arg(&entry.room.room_id)
        .arg(left.as_str())
        .arg(STREAM_MAXLEN)
        .arg(entry.encode());
    invocation
}

/// `node@incarnation/conn`: who holds a member.
fn owner(node: &Incarnation, conn: ConnId) -> String {
    format!("{node}/{conn}")
}

/// The member record stored in Redis: the roster fields of the `participant.joined` frame and
/// its owner.
fn member_record(node: &Incarnation, conn: ConnId, joined: &Utf8Bytes) -> Value {
    let data = serde_json::from_str::<Value>(joined.as_str())
        .ok()
        .and_then(|mut v| v.get_mut("data").map(Value::take))
        .unwrap_or_default();
    serde_json::json!({
        "display_name": data["display_name"],
        "role": data["role"],
        "owner": owner(node, conn),
    })
}

/// The local `room.state` frame with its roster replaced by the cluster's: `members` is
/// `HGETALL` of the members hash (participant, record, …), `hands` the raised hands.
fn cluster_room_state(
    local: &Utf8Bytes,
    members: &[String],
    hands: &[String],
    recording: Option<String>,
) -> Utf8Bytes {
    let Ok(mut state) = serde_json::from_str::<Value>(local.as_str()) else {
        return local.clone();
    };
    let mut roster: Vec<(u64, String, Value)> = members
        .chunks_exact(2)
        .filter_map(|pair| {
            let record: Value = serde_json::from_str(&pair[1]).ok()?;
            Some((record["seq"].as_u64()?, pair[0].clone(), record))
        })
        .collect();
    roster.sort_by_key(|(seq, _, _)| *seq);
    let participants = roster
        .iter()
        .map(|(_, id, record)| {
            serde_json::to_value(RosterEntry {
                id,
                display_name: record["display_name"].as_str().unwrap_or(id),
                role: record["role"].as_str().unwrap_or("participant"),
                hand_raised: hands.contains(id),
            })
            .unwrap_or_default()
        })
        .collect();
    state["data"]["participants"] = Value::Array(participants);
    state["data"]["recording_id"] = recording.map_or(Value::Null, Value::String);
    Utf8Bytes::from(state.to_string())
}

/// A member of this node as the reader knows it.
struct Registered {
    conn: Arc<Connection>,
    after: EntryId,
}

/// Reads every partition stream from where it left off and delivers each entry to the local
/// members of its room registered before it (see the module documentation).
async fn read_loop(
    node: Incarnation,
    mut redis: ConnectionManager,
    streams: Vec<(String, String)>,
    start: EntryId,
    mut registrations: mpsc::UnboundedReceiver<Registration>,
    health: Arc<RedisHealth>,
) {
    let mut last: Vec<EntryId> = vec![start; streams.len()];
    let index_of: HashMap<&str, usize> = streams
        .iter()
        .enumerate()
        .map(|(i, (_, key))| (key.as_str(), i))
        .collect();
    let mut rooms: HashMap<RoomKey, Vec<Registered>> = HashMap::new();
    let mut room_of: HashMap<ConnId, RoomKey> = HashMap::new();
    loop {
        loop {
            let registration = match registrations.try_recv() {
                Ok(registration) => registration,
                Err(mpsc::error::TryRecvError::Empty) => break,
                // The publisher is gone (the bus was dropped: the node stopped): so is the
                // reader, instead of polling Redis for nobody.
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            };
            match registration {
                Registration::Add { room, conn, after } => {
                    let stream = stream_key(&room.tenant, partition(&room.room_id));
                    let seen = index_of.get(stream.as_str()).map(|&i| last[i]);
                    let conn_id = conn.id();
                    room_of.insert(conn_id, room.clone());
                    rooms.entry(room.clone()).or_default().push(Registered {
                        conn: conn.clone(),
                        after: seen.map_or(after, |seen| seen.max(after)),
                    });
                    // Entries this reader already passed, which the new member must still get
                    // (or act on: an end, or its own removal or replacement).
                    let Some(seen) = seen.filter(|seen| *seen > after) else {
                        continue;
                    };
                    let range: redis::RedisResult<redis::streams::StreamRangeReply> = bounded(
                        redis::cmd("XRANGE")
                            .arg(&stream)
                            .arg(format!("({after}"))
                            .arg(seen.to_string())
                            .query_async(&mut redis),
                    )
                    .await;
                    let range = match range {
                        Ok(range) => range,
                        Err(error) => {
                            // Its gap cannot be filled: closed with 1011 rather than left
                            // without the events it missed.
                            tracing::error!(error = %health.describe(&error), "catching up a new member");
                            conn.close(CloseReason::Internal);
                            continue;
                        }
                    };
                    for entry in &range.ids {
                        if entry.get::<String>("r").as_deref() != Some(&room.room_id) {
                            continue;
                        }
                        if let Some(command) = entry.get::<String>("c") {
                            let holder = entry.get::<String>("o");
                            act_on(
                                &node,
                                &command,
                                &room,
                                holder.as_deref(),
                                &mut rooms,
                                &mut room_of,
                            );
                        } else if !room_of.contains_key(&conn_id) {
                            break;
                        } else if let Some(frame) = entry.get::<String>("f") {
                            conn.send(Utf8Bytes::from(frame));
                        }
                    }
                }
                Registration::Remove { conn } => {
                    if let Some(room) = room_of.remove(&conn)
                        && let Some(members) = rooms.get_mut(&room)
                    {
                        members.retain(|m| m.conn.id() != conn);
                        if members.is_empty() {
                            rooms.remove(&room);
                        }
                    }
                }
                Registration::CloseAll { reason } => {
                    for member in rooms.drain().flat_map(|(_, members)| members) {
                        member.conn.close(reason);
                    }
                    room_of.clear();
                }
            }
        }
        // While Redis is unavailable the reader waits for the heartbeat to find it back (and
        // to find whether this run was reaped meanwhile, which closes its members first).
        if !health.is_up() {
            tokio::time::sleep(READ_RETRY).await;
            continue;
        }
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS");
        for (_, key) in &streams {
            read.arg(key);
        }
        for id in &last {
            read.arg(id.to_string());
        }
        let reply: Option<StreamReadReply> = match bounded(read.query_async(&mut redis)).await {
            Ok(reply) => reply,
            Err(error) => {
                tracing::warn!(error = %health.describe(&error), "reading the room streams; resuming from the last ids");
                tokio::time::sleep(READ_RETRY).await;
                continue;
            }
        };
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(&index) = index_of.get(stream.key.as_str()) else {
                continue;
            };
            let tenant = &streams[index].0;
            for entry in &stream.ids {
                let Some(id) = EntryId::parse(&entry.id) else {
                    continue;
                };
                last[index] = last[index].max(id);
                observe_lag(&health, id);
                if let Some(command) = entry.get::<String>("c") {
                    let room_id = entry.get::<String>("r").unwrap_or_default();
                    let key = RoomKey {
                        tenant: tenant.clone(),
                        room_id,
                    };
                    let holder = entry.get::<String>("o");
                    act_on(
                        &node,
                        &command,
                        &key,
                        holder.as_deref(),
                        &mut rooms,
                        &mut room_of,
                    );
                    continue;
                }
                let (Some(room_id), Some(frame)) =
                    (entry.get::<String>("r"), entry.get::<String>("f"))
                else {
                    continue;
                };
                let key = RoomKey {
                    tenant: tenant.clone(),
                    room_id,
                };
                if let Some(members) = rooms.get(&key) {
                    let frame = Utf8Bytes::from(frame);
                    for member in members.iter().filter(|m| m.after < id) {
                        member.conn.send(frame.clone());
                    }
                }
            }
        }
    }
}

/// Records in `chalk_bus_lag_seconds` the time from the append of the entry `id` (its
/// milliseconds are Redis's clock at the append) to now.
fn observe_lag(health: &RedisHealth, id: EntryId) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let lag_ms = now.saturating_sub(id.0);
    health.figures().bus_lag.observe(lag_ms as f64 / 1000.0);
}

/// Carries out an internal entry: `end` closes every local connection of the room with 4004;
/// `remove` (4003) and `replace` (4009) close the one connection `holder` names, if it is this
/// node's. A closed connection gets nothing more.
fn act_on(
    node: &Incarnation,
    command: &str,
    room: &RoomKey,
    holder: Option<&str>,
    rooms: &mut HashMap<RoomKey, Vec<Registered>>,
    room_of: &mut HashMap<ConnId, RoomKey>,
) {
    let reason = match command {
        "end" => CloseReason::RoomEnded,
        "remove" => CloseReason::Removed,
        "replace" => CloseReason::Replaced,
        _ => return,
    };
    let Some(members) = rooms.get_mut(room) else {
        return;
    };
    let only = holder.map(|holder| {
        holder
            .strip_prefix(node.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|conn| conn.parse::<ConnId>().ok())
    });
    let closes = |member: &Registered| match only {
        None => true,
        Some(conn) => Some(member.conn.id()) == conn,
    };
    for member in members.iter().filter(|m| closes(m)) {
        member.conn.close(reason);
        room_of.remove(&member.conn.id());
    }
    members.retain(|m| !closes(m));
    if members.is_empty() {
        rooms.remove(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_as_redis_orders_them() {
        let a = EntryId::parse("1700000000000-9").unwrap();
        let b = EntryId::parse("1700000000001-0").unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-9");
        assert!(EntryId::parse("nope").is_none());
    }

    #[test]
    fn a_room_always_lands_in_the_same_partition() {
        assert_eq!(partition("room_1"), partition("room_1"));
        assert!((0..100).all(|i| partition(&format!("room_{i}")) < PARTITIONS));
        assert_eq!(stream_key("default", 3), "chalk:default:events:3");
    }

    #[test]
    fn the_cluster_roster_replaces_the_local_one_in_joining_order() {
        let local = Utf8Bytes::from(
            r#"{"event":"room.state","data":{"room_id":"r","participants":[],"recording_id":null}}"#,
        );
        let members = [
            "bob".to_owned(),
            r#"{"display_name":"Bob","role":"host","owner":"b/1","seq":2}"#.to_owned(),
            "ada".to_owned(),
            r#"{"display_name":"Ada","role":"participant","owner":"a/7","seq":1}"#.to_owned(),
        ];
        let state = cluster_room_state(&local, &members, &["bob".to_owned()], None);
        let state: Value = serde_json::from_str(state.as_str()).unwrap();
        let ids: Vec<&str> = state["data"]["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ada", "bob"]);
        assert_eq!(state["data"]["participants"][1]["hand_raised"], true);
        assert_eq!(state["data"]["room_id"], "r");
    }
}
