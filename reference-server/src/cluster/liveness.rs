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
//! is gone, it runs the `LEAVE` script for each member in its index (the script removes the
//! member and appends `participant.left` only if the member is still owned by that connection:
//! of several reapers racing, one reports each departure), then forgets the incarnation. A node
//! starting with a node id whose earlier incarnation is still listed reaps that one at once,
//! before it serves anything: a restart never resurrects its previous members.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;

use super::bus::{LEAVE, leave_script};
use super::incarnation::{Incarnation, MemberEntry, members_key};
use crate::protocol::ServerEvent;

/// How long an incarnation counts as alive after its last heartbeat.
pub const LIVENESS_TTL: Duration = Duration::from_secs(3);

/// How often a node refreshes its liveness key.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// How often a node looks for dead incarnations to reap.
pub const REAP_PERIOD: Duration = Duration::from_secs(1);

/// Hash of the known incarnations: incarnation → node id.
const NODES_KEY: &str = "chalk:nodes";

/// The liveness key of a run: present while it is alive.
fn alive_key(incarnation: &str) -> String {
    format!("chalk:node:{incarnation}:alive")
}

/// The heartbeat and the reaper of one incarnation; [`Liveness::stop`] ends both.
#[derive(Debug)]
pub struct Liveness {
    me: Incarnation,
    redis: ConnectionManager,
    tasks: Vec<JoinHandle<()>>,
}

impl Liveness {
    /// Announces `me` as alive, reaps at once what is dead (an earlier incarnation of the same
    /// node id included, alive or not), then starts the heartbeat and the reaper.
    pub async fn start(me: Incarnation, mut redis: ConnectionManager) -> redis::RedisResult<Self> {
        beat(&me, &mut redis).await?;
        reap_dead(&me, &mut redis).await?;
        let heartbeat = {
            let (me, mut redis) = (me.clone(), redis.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(HEARTBEAT_PERIOD);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(error) = beat(&me, &mut redis).await {
                        tracing::warn!(%error, "refreshing this node's liveness key");
                    }
                }
            })
        };
        let reaper = {
            let (me, mut redis) = (me.clone(), redis.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(REAP_PERIOD);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(error) = reap_dead(&me, &mut redis).await {
                        tracing::warn!(%error, "looking for dead nodes");
                    }
                }
            })
        };
        Ok(Liveness {
            me,
            redis,
            tasks: vec![heartbeat, reaper],
        })
    }

    /// Stops the heartbeat and the reaper and removes the liveness key, so that the other
    /// nodes reap within [`REAP_PERIOD`] whatever this one has not reported left itself.
    pub async fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let mut redis = self.redis.clone();
        let removed: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(alive_key(self.me.as_str()))
            .query_async(&mut redis)
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, "removing this node's liveness key");
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

/// Refreshes `me`'s liveness key and its place among the known incarnations.
async fn beat(me: &Incarnation, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
    redis::pipe()
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

/// Reaps every known incarnation other than `me` whose liveness key is gone, and every earlier
/// incarnation of `me`'s node id.
async fn reap_dead(me: &Incarnation, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
    let known: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(NODES_KEY)
        .query_async(redis)
        .await?;
    for (incarnation, node) in known {
        if incarnation == me.as_str() {
            continue;
        }
        if node != me.node().as_str() {
            let alive: bool = redis::cmd("EXISTS")
                .arg(alive_key(&incarnation))
                .query_async(redis)
                .await?;
            if alive {
                continue;
            }
        }
        reap(&incarnation, redis).await?;
    }
    Ok(())
}

/// Reports every member of `incarnation` left (once across the cluster, by the `LEAVE` script)
/// and forgets the incarnation.
async fn reap(incarnation: &str, redis: &mut ConnectionManager) -> redis::RedisResult<()> {
    let index = members_key(incarnation);
    let entries: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&index)
        .query_async(redis)
        .await?;
    let leave = redis::Script::new(LEAVE);
    let mut reported = 0_usize;
    for entry in entries.iter().filter_map(|e| MemberEntry::decode(e)) {
        let left = ServerEvent::ParticipantLeft {
            id: &entry.participant_id,
        }
        .encode();
        let appended: Option<String> = leave_script(&leave, &index, &entry, &left)
            .invoke_async(redis)
            .await?;
        reported += usize::from(appended.is_some());
    }
    redis::pipe()
        .cmd("DEL")
        .arg(&index)
        .arg(alive_key(incarnation))
        .ignore()
        .cmd("HDEL")
        .arg(NODES_KEY)
        .arg(incarnation)
        .ignore()
        .query_async::<()>(redis)
        .await?;
    tracing::info!(
        incarnation,
        members = entries.len(),
        reported,
        "reaped a node that stopped"
    );
    Ok(())
}
