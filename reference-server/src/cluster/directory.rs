//! The room directory of cluster mode ([`RedisDirectory`]): rooms' records in Redis, shared by
//! every node, so that the REST API of any node acts on the whole cluster.
//!
//! Every write is one Lua script that checks, changes and (where members must hear of it)
//! appends to the room's partition stream in one step: a visible event (`recording.started`,
//! `participant.left`) or an internal entry the nodes act on (`c=remove`: the node holding the
//! participant's connection closes it with 4003; `c=end`: every node closes the room's sockets
//! with 4004). See `CLUSTER.md`.
//!
//! While the node takes Redis for unavailable ([`RedisHealth`]) every call, reads and the
//! handshake's admission check included, is refused at once with
//! [`ApiError::RedisUnavailable`] (503, `Retry-After`); a call that fails for a connection
//! reason gets the same answer, never a 500.

use std::collections::HashMap;
use std::sync::Arc;

use redis::aio::ConnectionManager;
use serde_json::Value;

use super::bus::{RoomKeys, STREAM_MAXLEN};
use super::health::{RedisHealth, is_outage};
use crate::auth::Identity;
use crate::directory::{Pending, Recorded, RoomDirectory};
use crate::error::ApiError;
use crate::events::RoomKey;
use crate::protocol::{ServerEvent, timestamp_now};
use crate::rooms::{ParticipantView, RoomRefusal, RoomStatus, RoomView};

/// Ends a room: refused when missing or already ended; clears the recording and the
/// membership, and tells every node to close the room's sockets.
const END: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return 'ended' end
redis.call('HSET', KEYS[1], 'status', 'ended')
redis.call('HDEL', KEYS[1], 'recording_id')
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'r', ARGV[1], 'c', 'end')
return 'ok'
"#;

/// Records a REST participant, unless the room is missing or ended.
const ADD: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return 'ended' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'ok'
"#;

/// Removes a participant known to the room (provisioned or connected) and not removed yet;
/// when connected, tells its node to close it (4003) and appends its `participant.left`.
const REMOVE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local member = redis.call('HGET', KEYS[4], ARGV[1])
local known = member or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1
if not known or redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 'unknown' end
redis.call('SADD', KEYS[3], ARGV[1])
if member then
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[1])
  local holder = cjson.decode(member).owner
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[2], 'c', 'remove', 'o', holder)
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[2], 'f', ARGV[3])
end
return 'ok'
"#;

/// Starts a recording: one per room in the whole cluster.
const START: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'status') == 'ended' then return 'ended' end
if redis.call('HEXISTS', KEYS[1], 'recording_id') == 1 then return 'active' end
redis.call('HSET', KEYS[1], 'recording_id', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[2], 'f', ARGV[3])
return 'ok'
"#;

/// Stops the running recording; the `recording.stopped` frame is the one the server encodes.
const STOP: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local id = redis.call('HGET', KEYS[1], 'recording_id')
if not id then return {'none'} end
redis.call('HDEL', KEYS[1], 'recording_id')
local frame = '{"event":"recording.stopped","data":{"recording_id":' .. cjson.encode(id) .. '}}'
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'r', ARGV[1], 'f', frame)
return {'ok', id}
"#;

/// Rooms' records in Redis (see the module documentation).
pub struct RedisDirectory {
    redis: ConnectionManager,
    health: Arc<RedisHealth>,
    end: redis::Script,
    add: redis::Script,
    remove: redis::Script,
    start: redis::Script,
    stop: redis::Script,
}

impl std::fmt::Debug for RedisDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisDirectory")
    }
}

/// A Redis failure, as the REST API answers it: 503 when Redis cannot be used (see
/// [`super::health`]), 500 for anything else (logged, never shown).
fn refusal(health: &RedisHealth, error: redis::RedisError) -> ApiError {
    if is_outage(&error) {
        return ApiError::RedisUnavailable;
    }
    let error = health.describe(&error);
    tracing::error!(%error, "Redis call of the room directory failed");
    ApiError::Internal
}

/// A script's verdict as the REST API answers it.
fn verdict(outcome: &str) -> Result<(), ApiError> {
    match outcome {
        "ok" => Ok(()),
        "missing" => Err(ApiError::NotFound("room not found")),
        "ended" => Err(RoomRefusal::Ended.into()),
        "active" => Err(RoomRefusal::RecordingActive.into()),
        "none" => Err(RoomRefusal::NoRecording.into()),
        "unknown" => Err(RoomRefusal::UnknownParticipant.into()),
        _ => Err(ApiError::Internal),
    }
}

fn keys(tenant: &str, room_id: &str) -> RoomKeys {
    RoomKeys::of(&RoomKey {
        tenant: tenant.to_owned(),
        room_id: room_id.to_owned(),
    })
}

impl RedisDirectory {
    /// The directory on this connection, refusing with 503 while `health` says Redis is
    /// unavailable.
    pub fn new(redis: ConnectionManager, health: Arc<RedisHealth>) -> Self {
        Self {
            redis,
            health,
            end: redis::Script::new(END),
            add: redis::Script::new(ADD),
            remove: redis::Script::new(REMOVE),
            start: redis::Script::new(START),
            stop: redis::Script::new(STOP),
        }
    }

    /// Runs one Redis call of the directory: refused at once while Redis is unavailable,
    /// bounded in time otherwise.
    async fn run<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ApiError> {
        if !self.health.is_up() {
            return Err(ApiError::RedisUnavailable);
        }
        self.health
            .call("room directory", call)
            .await
            .map_err(|error| refusal(&self.health, error))
    }

    async fn view_of(&self, tenant: &str, room_id: &str) -> Result<RoomView, ApiError> {
        let keys = keys(tenant, room_id);
        let (record, connected): (HashMap<String, String>, usize) = self
            .run(
                redis::pipe()
                    .hgetall(&keys.record)
                    .hlen(&keys.members)
                    .query_async(&mut self.redis.clone()),
            )
            .await?;
        if record.is_empty() {
            return Err(ApiError::NotFound("room not found"));
        }
        let field = |name: &str| record.get(name).cloned().unwrap_or_default();
        Ok(RoomView {
            id: room_id.to_owned(),
            name: field("name"),
            status: if field("status") == "ended" {
                RoomStatus::Ended
            } else {
                RoomStatus::Active
            },
            created_at: field("created_at"),
            participant_count: connected,
            connected_count: connected,
            recording_id: record.get("recording_id").cloned(),
        })
    }
}

impl RoomDirectory for RedisDirectory {
    fn create<'a>(
        &'a self,
        tenant: &'a str,
        name: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(async move {
            let room_id = format!("room_{}", uuid::Uuid::new_v4().simple());
            let keys = keys(tenant, &room_id);
            let fields = [
                ("name", name.to_owned()),
                ("created_at", timestamp_now()),
                ("status", "active".to_owned()),
            ];
            self.run(
                redis::cmd("HSET")
                    .arg(&keys.record)
                    .arg(&fields[..])
                    .query_async::<()>(&mut self.redis.clone()),
            )
            .await?;
            self.view_of(tenant, &room_id).await
        })
    }

    fn view<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(self.view_of(tenant, room_id))
    }

    fn end<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<RoomView, ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let outcome: String = self
                .run(
                    self.end
                        .key(&keys.record)
                        .key(&keys.members)
                        .key(&keys.hands)
                        .key(&keys.stream)
                        .arg(room_id)
                        .arg(STREAM_MAXLEN)
                        .invoke_async(&mut self.redis.clone()),
                )
                .await?;
            verdict(&outcome)?;
            self.view_of(tenant, room_id).await
        })
    }

    fn add_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        display_name: &'a str,
        role: &'a str,
    ) -> Pending<'a, Result<(String, RoomView), ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let id = format!("p_{}", uuid::Uuid::new_v4().simple());
            let record = serde_json::json!({"display_name": display_name, "role": role});
            let outcome: String = self
                .run(
                    self.add
                        .key(&keys.record)
                        .key(&keys.participants)
                        .arg(&id)
                        .arg(record.to_string())
                        .invoke_async(&mut self.redis.clone()),
                )
                .await?;
            verdict(&outcome)?;
            Ok((id, self.view_of(tenant, room_id).await?))
        })
    }

    fn participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<ParticipantView, ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let (exists, record, revoked, connected): (bool, Option<String>, bool, bool) = self
                .run(
                    redis::pipe()
                        .exists(&keys.record)
                        .hget(&keys.participants, participant_id)
                        .sismember(&keys.revoked, participant_id)
                        .hexists(&keys.members, participant_id)
                        .query_async(&mut self.redis.clone()),
                )
                .await?;
            if !exists {
                return Err(ApiError::NotFound("room not found"));
            }
            let not_found = ApiError::NotFound("participant not found");
            let record: serde_json::Value = match record {
                Some(text) if !revoked => serde_json::from_str(&text).map_err(|_| not_found)?,
                _ => return Err(ApiError::NotFound("participant not found")),
            };
            Ok(ParticipantView {
                id: participant_id.to_owned(),
                room_id: room_id.to_owned(),
                display_name: record["display_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                role: record["role"].as_str().unwrap_or_default().to_owned(),
                connected,
            })
        })
    }

    fn remove_participant<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
        participant_id: &'a str,
    ) -> Pending<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let left = ServerEvent::ParticipantLeft { id: participant_id }.encode();
            let outcome: String = self
                .run(
                    self.remove
                        .key(&keys.record)
                        .key(&keys.participants)
                        .key(&keys.revoked)
                        .key(&keys.members)
                        .key(&keys.hands)
                        .key(&keys.stream)
                        .arg(participant_id)
                        .arg(room_id)
                        .arg(left.as_str())
                        .arg(STREAM_MAXLEN)
                        .invoke_async(&mut self.redis.clone()),
                )
                .await?;
            verdict(&outcome)
        })
    }

    fn start_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let id = format!("rec_{}", uuid::Uuid::new_v4().simple());
            let started = ServerEvent::RecordingStarted { recording_id: &id }.encode();
            let outcome: String = self
                .run(
                    self.start
                        .key(&keys.record)
                        .key(&keys.stream)
                        .arg(&id)
                        .arg(room_id)
                        .arg(started.as_str())
                        .arg(STREAM_MAXLEN)
                        .invoke_async(&mut self.redis.clone()),
                )
                .await?;
            verdict(&outcome)?;
            Ok(id)
        })
    }

    fn stop_recording<'a>(
        &'a self,
        tenant: &'a str,
        room_id: &'a str,
    ) -> Pending<'a, Result<String, ApiError>> {
        Box::pin(async move {
            let keys = keys(tenant, room_id);
            let outcome: Vec<String> = self
                .run(
                    self.stop
                        .key(&keys.record)
                        .key(&keys.stream)
                        .arg(room_id)
                        .arg(STREAM_MAXLEN)
                        .invoke_async(&mut self.redis.clone()),
                )
                .await?;
            verdict(outcome.first().map_or("", String::as_str))?;
            outcome.get(1).cloned().ok_or(ApiError::Internal)
        })
    }

    /// The record of a participant added through the REST API of any node: the local room
    /// does not hold it, so the handshake hands it to the join.
    fn admission<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> Pending<'a, Result<Option<Recorded>, RoomRefusal>> {
        Box::pin(async move {
            let keys = keys(&identity.tenant, &identity.room_id);
            let checked: Result<(Option<String>, bool, Option<String>), ApiError> = self
                .run(
                    redis::pipe()
                        .hget(&keys.record, "status")
                        .sismember(&keys.revoked, &identity.participant_id)
                        .hget(&keys.participants, &identity.participant_id)
                        .query_async(&mut self.redis.clone()),
                )
                .await;
            match checked {
                Ok((status, removed, record)) => crate::rooms::JoinFacts {
                    ended: status.as_deref() == Some("ended"),
                    removed,
                }
                .standard_verdict()
                .map(|()| record.as_deref().and_then(recorded)),
                // Nothing can be decided without the records: the upgrade is answered 503.
                Err(_) => Err(RoomRefusal::Unavailable),
            }
        })
    }
}

/// A participant's REST record (`{"display_name","role"}`), as the room shows it.
fn recorded(record: &str) -> Option<Recorded> {
    let record: Value = serde_json::from_str(record).ok()?;
    Some(Recorded {
        display_name: record["display_name"].as_str()?.to_owned(),
        role: record["role"].as_str()?.to_owned(),
    })
}
