//! Node failure: which runs of the cluster's nodes are alive, and the reaper that reports the
//! members of a dead one left.
//!
//! Each run of a node is an [`Incarnation`]: its node id and a random id drawn at start. The
//! members a node records in Redis are owned by `INCARNATION/CONN` and listed in the
//! incarnation's index (`chalk:node:{incarnation}:members`, kept by the `JOIN` and `LEAVE`
//! scripts). While it runs, a node refreshes its liveness key (`chalk:node:{incarnation}:alive`,
//! expiring after [`LIVENESS_TTL`]) every [`HEARTBEAT_PERIOD`], and lists itself in the hash of
//! known incarnations (`chalk:nodes`, incarnation → node id).
//!
//! Every node runs a reaper every [`REAP_PERIOD`]: for each known incarnation whose liveness key
//! is gone, it runs the `REAP` script, which in one atomic step checks again that the key is
//! gone, reports each member of the index left (removes it and appends `participant.left`, only
//! if the member is still owned by that connection: of several reapers racing, one reports each
//! departure), and forgets the incarnation. What it appends for each member is the
//! `participant.left` frame as the departures seam makes it ([`Departures`]; once, in
//! production). A node starting with a node id whose earlier
//! incarnation is still listed reaps that one at once, before it serves anything: a restart
//! never resurrects its previous members.
//!
//! The heartbeat refreshes the liveness key only while the incarnation is still listed (the
//! `BEAT` script), so a node that was cut off from Redis longer than [`LIVENESS_TTL`] and reaped
//! meanwhile does not resurrect itself: it finds out at its first heartbeat after Redis returns,
//! closes its local sockets with 1012 (their members were reported left elsewhere; their
//! clients reconnect and join again), and lists itself again. The heartbeat is also what tells
//! the node that Redis is usable again ([`RedisHealth::regained`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;

use super::bus::{ClusterBus, RoomKeys, STREAM_MAXLEN};
use super::health::RedisHealth;
use super::incarnation::{Incarnation, MemberEntry, members_key};
use crate::protocol::ServerEvent;
use crate::seams::{DeadRun, Departures};

/// How long an incarnation counts as alive after its last heartbeat.
pub const LIVENESS_TTL: Duration = Duration::from_secs(3);

/// How often a node refreshes its liveness key.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// How often a node looks for dead incarnations to reap.
pub const REAP_PERIOD: Duration = Duration::from_secs(1);

/// Hash of the known incarnations: incarnation → node id.
const NODES_KEY: &str = "chalk:nodes";

/// Refreshes the liveness key of a run only while the run is listed: 1, or 0 when it was
/// reaped (and must not come back under this name without having closed its members).
const BEAT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
"#;

/// Reaps a run in one step: unless its liveness key is back (when `ARGV[2]` is `1`), reports
/// each member of its index left, as `LEAVE` does, and forgets the run. The index must be
/// exactly the entries passed (`changed` otherwise: the caller reads it again). `KEYS`: the
/// list of runs, the liveness key, the index, then members, hands and stream of each entry;
/// `ARGV`: the run, whether to check the key, `MAXLEN`, the number of entries, then for each:
/// participant, owner, room, index entry, the number of frames to append when it is reported
/// left (one `participant.left`, but through the departures seam), and those frames.
const REAP: &str = r#"
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then return {'alive', 0} end
local n = tonumber(ARGV[4])
if redis.call('SCARD', KEYS[3]) ~= n then return {'changed', 0} end
local a = 5
for i = 0, n - 1 do
  if redis.call('SISMEMBER', KEYS[3], ARGV[a + 3]) == 0 then return {'changed', 0} end
  a = a + 5 + tonumber(ARGV[a + 4])
end
local reported = 0
a = 5
for i = 0, n - 1 do
  local k, frames = 3 + i * 3, tonumber(ARGV[a + 4])
  local current = redis.call('HGET', KEYS[k + 1], ARGV[a])
  if current and cjson.decode(current).owner == ARGV[a + 1] then
    redis.call('HDEL', KEYS[k + 1], ARGV[a])
    redis.call('SREM', KEYS[k + 2], ARGV[a])
    for f = 1, frames do
      redis.call('XADD', KEYS[k + 3], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[a + 2], 'f', ARGV[a + 4 + f])
    end
    reported = reported + 1
  end
  a = a + 5 + frames
end
redis.call('DEL', KEYS[3], KEYS[2])
redis.call('HDEL', KEYS[1], ARGV[1])
return {'reaped', reported}
"#;

/// How many times the reaper reads a run's index again when it changed under it, per round.
const REAP_ATTEMPTS: usize = 3;

/// The liveness key of a run: present while it is alive.
fn alive_key(incarnation: &str) -> String {
    format!("chalk:node:{incarnation}:alive")
}

/// The heartbeat and the reaper of one incarnation; [`Liveness::stop`] ends both.
#[derive(Debug)]
pub struct Liveness {
    me: Incarnation,
    redis: ConnectionManager,
    health: Arc<RedisHealth>,
    tasks: Vec<JoinHandle<()>>,
}

impl Liveness {
    /// Announces `me` as alive, reaps at once what is dead (an earlier incarnation of the same
    /// node id included, alive or not), then starts the heartbeat and the reaper. `bus` is told
    /// to close its members if the others reap `me` while it cannot reach Redis; `health` is
    /// the node's view of Redis, which the heartbeat restores; `departures` says what is
    /// appended for each member reported left (see [`Departures`]).
    pub async fn start(
        me: Incarnation,
        mut redis: ConnectionManager,
        bus: Arc<ClusterBus>,
        health: Arc<RedisHealth>,
        departures: Arc<dyn Departures>,
    ) -> redis::RedisResult<Self> {
        register(&me, &mut redis).await?;
        reap_dead(&me, &mut redis, &health, departures.as_ref()).await?;
        let heartbeat = {
            let (me, mut redis, health) = (me.clone(), redis.clone(), health.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(HEARTBEAT_PERIOD);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    beat(&me, &mut redis, &bus, &health).await;
                }
            })
        };
        let reaper = {
            let (me, mut redis, health) = (me.clone(), redis.clone(), health.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(REAP_PERIOD);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut reconnects = health.figures().reconnects.get();
                let mut quiet_until = tokio::time::Instant::now();
                loop {
                    ticks.tick().await;
                    if !health.is_up() {
                        continue;
                    }
                    // Back from an outage, which the other nodes may have had too (a Redis
                    // restart): they get one TTL to beat again before any is taken for dead.
                    let now_reconnects = health.figures().reconnects.get();
                    if now_reconnects != reconnects {
                        reconnects = now_reconnects;
                        quiet_until = tokio::time::Instant::now() + LIVENESS_TTL;
                    }
                    if tokio::time::Instant::now() < quiet_until {
                        continue;
                    }
                    if let Err(error) =
                        reap_dead(&me, &mut redis, &health, departures.as_ref()).await
                    {
                        tracing::warn!(error = %health.describe(&error), "looking for dead nodes");
                    }
                }
            })
        };
        Ok(Liveness {
            me,
            redis,
            health,
            tasks: vec![heartbeat, reaper],
        })
    }

    /// Stops the heartbeat and the reaper and removes the liveness key, so that the other
    /// nodes reap within [`REAP_PERIOD`] whatever this one has not reported left itself.
    pub async fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let (mut redis, health) = (self.redis.clone(), &self.health);
        let removed = tokio::time::timeout(
            super::health::REDIS_COMMAND_TIMEOUT,
            redis::cmd("DEL")
                .arg(alive_key(self.me.as_str()))
                .query_async::<()>(&mut redis),
        )
        .await;
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %health.describe(&error), "removing this node's liveness key")
            }
            Err(_) => tracing::warn!("removing this node's liveness key: no answer in time"),
        }
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Lists `me` among the known incarnations and sets its liveness key.
async fn register(me: &Incarnation, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
    redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(alive_key(me.as_str()))
        .arg(1)
        .arg("PX")
        .arg(LIVENESS_TTL.as_millis() as u64)
        .ignore()
        .cmd("HSET")
        .arg(NODES_KEY)
        .arg(me.as_str())
        .arg(me.node().as_str())
        .ignore()
        .query_async(redis)
        .await
}

/// One heartbeat: refreshes `me`'s liveness key while it is listed, and then takes Redis for
/// available. When `me` was reaped meanwhile, first has `bus` close its members (the others
/// reported them left) and lists `me` again.
async fn beat(
    me: &Incarnation,
    redis: &mut ConnectionManager,
    bus: &ClusterBus,
    health: &RedisHealth,
) {
    let refreshed: redis::RedisResult<i64> = health
        .call(
            "heartbeat",
            redis::Script::new(BEAT)
                .key(NODES_KEY)
                .key(alive_key(me.as_str()))
                .arg(me.as_str())
                .arg(LIVENESS_TTL.as_millis() as u64)
                .invoke_async(redis),
        )
        .await;
    match refreshed {
        Ok(1) => health.regained(),
        Ok(_) => {
            tracing::warn!(
                incarnation = %me,
                "this node was taken for dead while it could not reach Redis; closing its sockets (1012)"
            );
            bus.close_orphans();
            match health.call("heartbeat", register(me, redis)).await {
                Ok(()) => health.regained(),
                Err(error) => {
                    tracing::warn!(error = %health.describe(&error), "listing this node again")
                }
            }
        }
        Err(error) => {
            tracing::debug!(error = %health.describe(&error), "refreshing this node's liveness key")
        }
    }
}

/// Reaps every known incarnation other than `me` whose liveness key is gone, and every earlier
/// incarnation of `me`'s node id.
async fn reap_dead(
    me: &Incarnation,
    redis: &mut ConnectionManager,
    health: &RedisHealth,
    departures: &dyn Departures,
) -> redis::RedisResult<()> {
    let known: HashMap<String, String> = health
        .call(
            "looking for dead nodes",
            redis::cmd("HGETALL").arg(NODES_KEY).query_async(redis),
        )
        .await?;
    for (incarnation, node) in known {
        if incarnation == me.as_str() {
            continue;
        }
        // An earlier run of this node id cannot be running: reaped even if its key is there.
        let check_alive = node != me.node().as_str();
        if check_alive {
            let alive: bool = health
                .call(
                    "looking for dead nodes",
                    redis::cmd("EXISTS")
                        .arg(alive_key(&incarnation))
                        .query_async(redis),
                )
                .await?;
            if alive {
                continue;
            }
        }
        reap(&incarnation, check_alive, redis, health, departures).await?;
    }
    Ok(())
}

/// Reports every member of `incarnation` left (once across the cluster) and forgets the
/// incarnation, in one `REAP` script; not if its liveness key came back meanwhile (when
/// `check_alive`). What is appended for each member is what `departures` makes of its
/// `participant.left`.
async fn reap(
    incarnation: &str,
    check_alive: bool,
    redis: &mut ConnectionManager,
    health: &RedisHealth,
    departures: &dyn Departures,
) -> redis::RedisResult<()> {
    let index = members_key(incarnation);
    let script = redis::Script::new(REAP);
    // What the seam made of each member's departure: asked once per member, however many
    // attempts the script takes.
    let mut reported_frames: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for _attempt in 0..REAP_ATTEMPTS {
        let listed: Vec<String> = health
            .call(
                "reaping a dead node",
                redis::cmd("SMEMBERS").arg(&index).query_async(redis),
            )
            .await?;
        let (entries, unreadable): (Vec<_>, Vec<_>) = listed
            .into_iter()
            .map(|text| (MemberEntry::decode(&text), text))
            .partition(|(entry, _)| entry.is_some());
        let entries: Vec<(String, MemberEntry)> = entries
            .into_iter()
            .filter_map(|(entry, text)| Some((text, entry?)))
            .collect();
        // An entry no run of this server wrote cannot be reported; dropped, so that the index
        // can match the entries passed.
        for (_, text) in unreadable {
            health
                .call(
                    "reaping a dead node",
                    redis::cmd("SREM")
                        .arg(&index)
                        .arg(text)
                        .query_async::<()>(redis),
                )
                .await?;
        }
        let mut invocation = script.key(NODES_KEY);
        invocation
            .key(alive_key(incarnation))
            .key(&index)
            .arg(incarnation)
            .arg(if check_alive { "1" } else { "0" })
            .arg(STREAM_MAXLEN)
            .arg(entries.len());
        for (text, entry) in &entries {
            let keys = RoomKeys::of(&entry.room);
            let left = ServerEvent::ParticipantLeft {
                id: &entry.participant_id,
            }
            .encode();
            let run = if check_alive {
                DeadRun::Expired
            } else {
                DeadRun::Restarted
            };
            let frames = reported_frames
                .entry(text.clone())
                .or_insert_with(|| departures.report(run, left.as_str().to_owned()))
                .clone();
            invocation
                .key(keys.members)
                .key(keys.hands)
                .key(keys.stream)
                .arg(&entry.participant_id)
                .arg(&entry.owner)
                .arg(&entry.room.room_id)
                .arg(text)
                .arg(frames.len())
                .arg(frames);
        }
        let (verdict, reported): (String, usize) = health
            .call("reaping a dead node", invocation.invoke_async(redis))
            .await?;
        match verdict.as_str() {
            "changed" => continue,
            "alive" => return Ok(()),
            _ => {
                tracing::info!(
                    incarnation,
                    members = entries.len(),
                    reported,
                    "reaped a node that stopped"
                );
                return Ok(());
            }
        }
    }
    Ok(())
}
