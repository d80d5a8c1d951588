//! Cluster mode: the link of a node to the Redis its cluster shares ([`Cluster`]), and the
//! room-event bus that carries rooms across nodes through it ([`bus`]).
//!
//! [`Cluster::connect`] connects at start and checks that Redis answers; a node that cannot
//! reach it does not start. The Redis client is compiled with the crate's `cluster` feature
//! (on by default); without it a Redis URL is refused at start with
//! [`StartError::ClusterNotBuilt`], and nothing else changes: this module is the only place
//! that knows whether the client is there.

use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use crate::directory::RoomDirectory;
use crate::error::StartError;
use crate::events::RoomEvents;
use crate::metrics::ClusterFigures;
use crate::node::{NodeId, RedisUrl};
use crate::seams::Departures;

#[cfg(feature = "cluster")]
pub mod bus;
#[cfg(feature = "cluster")]
pub mod directory;
#[cfg(feature = "cluster")]
pub mod health;
#[cfg(feature = "cluster")]
pub mod incarnation;
#[cfg(feature = "cluster")]
pub mod liveness;

/// Longest a node waits at start for Redis to accept the connection and answer `PING`.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest pause between two attempts of a connection to reconnect to Redis (the attempts
/// back off exponentially from 100 ms, with jitter, up to this): a Redis that returns is found
/// within about this long.
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// The settings of every Redis connection of a node: bounded waits, reconnection with backoff
/// and jitter.
#[cfg(feature = "cluster")]
fn connection_settings() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
        .set_response_timeout(Some(REDIS_CONNECT_TIMEOUT))
        .set_max_delay(RECONNECT_MAX_DELAY)
}

/// A node's connection to its cluster's Redis.
pub struct Cluster {
    node: NodeId,
    url: RedisUrl,
    /// Reconnects by itself (with backoff and jitter) after a lost connection.
    #[cfg(feature = "cluster")]
    redis: redis::aio::ConnectionManager,
    #[cfg(feature = "cluster")]
    client: redis::Client,
    /// This run of the node: owns its members in Redis.
    #[cfg(feature = "cluster")]
    incarnation: incarnation::Incarnation,
    /// The bus once started, to flush at shutdown.
    #[cfg(feature = "cluster")]
    bus: Option<Arc<bus::ClusterBus>>,
    /// The heartbeat and the reaper once started.
    #[cfg(feature = "cluster")]
    liveness: Option<liveness::Liveness>,
    /// Whether Redis is usable, once the bus is started.
    #[cfg(feature = "cluster")]
    health: Option<Arc<health::RedisHealth>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's own `Debug` would show its connection details, password included.
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("redis", &self.url)
            .finish()
    }
}

impl Cluster {
    /// Connects `node` to the Redis at `url` and checks that it answers `PING`, within
    /// [`REDIS_CONNECT_TIMEOUT`].
    #[cfg(feature = "cluster")]
    pub async fn connect(url: &RedisUrl, node: &NodeId) -> Result<Cluster, StartError> {
        let unreachable = |reason: String| StartError::RedisUnreachable {
            url: url.to_string(),
            reason: url.scrub(&reason),
        };
        let client = redis::Client::open(url.expose()).map_err(|e| unreachable(e.to_string()))?;
        let settings = connection_settings();
        let connect = async {
            // One plain attempt first: the manager would retry a refused connection until the
            // deadline and report only that time ran out, not why.
            let mut probe = client.get_multiplexed_async_connection().await?;
            let _: String = redis::cmd("PING").query_async(&mut probe).await?;
            drop(probe);
            let mut redis = client.get_connection_manager_with_config(settings).await?;
            let _: String = redis::cmd("PING").query_async(&mut redis).await?;
            Ok::<_, redis::RedisError>(redis)
        };
        let redis = tokio::time::timeout(REDIS_CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer within {} s",
                    REDIS_CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Cluster {
            node: node.clone(),
            url: url.clone(),
            redis,
            client,
            incarnation: incarnation::Incarnation::new(node),
            bus: None,
            liveness: None,
            health: None,
        })
    }

    /// Starts the room-event bus of this node for the rooms of `tenants` (see [`bus`]); it
    /// reads on a connection of its own. Then starts this incarnation's heartbeat and reaper
    /// (see [`liveness`]), having reaped the dead ones first (an earlier run of this node id
    /// included), reporting their members left through `departures`. The node's view of Redis ([`health`]) reports into `figures`.
    #[cfg(feature = "cluster")]
    pub async fn room_events(
        &mut self,
        tenants: Vec<String>,
        figures: ClusterFigures,
        departures: Arc<dyn Departures>,
    ) -> Result<Arc<dyn RoomEvents>, StartError> {
        let unreachable = |error: redis::RedisError| StartError::RedisUnreachable {
            url: self.url.to_string(),
            reason: self.url.scrub(&error.to_string()),
        };
        let health = Arc::new(health::RedisHealth::new(figures, self.url.clone()));
        self.health = Some(health.clone());
        let reader = self
            .client
            .get_connection_manager_with_config(connection_settings())
            .await
            .map_err(unreachable)?;
        let bus = bus::ClusterBus::start(
            self.incarnation.clone(),
            self.redis.clone(),
            reader,
            tenants,
            health.clone(),
        )
        .await
        .map_err(unreachable)?;
        let bus = Arc::new(bus);
        self.bus = Some(bus.clone());
        let liveness = liveness::Liveness::start(
            self.incarnation.clone(),
            self.redis.clone(),
            bus.clone(),
            health,
            departures,
        )
        .await
        .map_err(unreachable)?;
        self.liveness = Some(liveness);
        Ok(bus)
    }

    /// Leaves the cluster at a graceful shutdown, once the sessions are closed: waits (up to
    /// [`REDIS_CONNECT_TIMEOUT`]) for the departures they queued to reach Redis, then stops the
    /// heartbeat and removes the liveness key, so that the other nodes reap whatever is left
    /// within a reaper period.
    #[cfg(feature = "cluster")]
    pub async fn leave(&self) {
        if let Some(bus) = &self.bus
            && tokio::time::timeout(REDIS_CONNECT_TIMEOUT, bus.flush())
                .await
                .is_err()
        {
            tracing::warn!("departures still queued for Redis at shutdown; other nodes reap them");
        }
        if let Some(liveness) = &self.liveness {
            liveness.stop().await;
        }
    }

    /// Without the `cluster` feature there is no cluster to leave.
    #[cfg(not(feature = "cluster"))]
    pub async fn leave(&self) {}

    /// The cluster's room directory: rooms' records in Redis (see [`directory`]). Call it
    /// after [`Cluster::room_events`], which sets up the node's view of Redis it answers 503
    /// by.
    #[cfg(feature = "cluster")]
    pub fn directory(&self) -> Arc<dyn RoomDirectory> {
        let health = self.health.clone().unwrap_or_else(|| {
            Arc::new(health::RedisHealth::new(
                crate::metrics::Metrics::new().cluster(),
                self.url.clone(),
            ))
        });
        Arc::new(directory::RedisDirectory::new(self.redis.clone(), health))
    }

    /// Without the `cluster` feature there are no records in Redis.
    #[cfg(not(feature = "cluster"))]
    pub fn directory(&self) -> Arc<dyn RoomDirectory> {
        unreachable!("Cluster::connect never succeeds without the `cluster` feature")
    }

    /// Without the `cluster` feature there is no cluster to publish to.
    #[cfg(not(feature = "cluster"))]
    pub async fn room_events(
        &mut self,
        _tenants: Vec<String>,
        _figures: ClusterFigures,
        _departures: Arc<dyn Departures>,
    ) -> Result<Arc<dyn RoomEvents>, StartError> {
        Err(StartError::ClusterNotBuilt)
    }

    /// Without the `cluster` feature: always [`StartError::ClusterNotBuilt`].
    #[cfg(not(feature = "cluster"))]
    pub async fn connect(_url: &RedisUrl, _node: &NodeId) -> Result<Cluster, StartError> {
        Err(StartError::ClusterNotBuilt)
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// A handle on the connection (cheap to clone; commands on clones share it).
    #[cfg(feature = "cluster")]
    pub fn redis(&self) -> redis::aio::ConnectionManager {
        self.redis.clone()
    }

    /// The Redis URL, to show (its `Display` has no credentials).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }
}
