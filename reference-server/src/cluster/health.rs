//! Whether this node can use Redis right now ([`RedisHealth`]), one state for the whole node.
//!
//! Every Redis call of the node (the publisher's scripts, the heartbeat, the reaper, the
//! directory's REST reads and writes, the handshake's admission check) runs through
//! [`RedisHealth::call`], which bounds it by [`REDIS_COMMAND_TIMEOUT`]: a Redis that is down,
//! unreachable or hung counts as unavailable within about a second. A call that fails for such
//! a reason marks the node's Redis unavailable. The reader's calls are bounded the same way
//! ([`bounded`]) but mark nothing: the loss of the reader's own connection does not keep the
//! node from publishing, and the reader resumes from its ids by itself. Only the heartbeat marks it available
//! again ([`RedisHealth::regained`]), after it has checked that this run of the node was not
//! reaped meanwhile (see [`super::liveness`]): so nothing is published on behalf of members the
//! other nodes have already reported left.
//!
//! While unavailable, the node refuses what needs Redis at once, without trying: upgrades and
//! REST calls are answered 503 with `Retry-After`, a `chat.send` or a hand change gets the
//! `error` event with code `unavailable`. Departures are kept and handed over once Redis is
//! back (see [`super::bus`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::metrics::ClusterFigures;
use crate::node::RedisUrl;

/// Longest one Redis call may take before the node takes Redis for unavailable.
pub const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether this node can use Redis (see the module documentation).
#[derive(Debug)]
pub struct RedisHealth {
    up: AtomicBool,
    figures: ClusterFigures,
    /// To scrub the credentials out of an error before it is logged.
    url: RedisUrl,
}

impl RedisHealth {
    /// Available (the node has just reached Redis at `url`), reporting into `figures`.
    pub fn new(figures: ClusterFigures, url: RedisUrl) -> RedisHealth {
        figures.redis_up.set(1);
        RedisHealth {
            up: AtomicBool::new(true),
            figures,
            url,
        }
    }

    /// `error` as it may be logged: without the Redis URL's credentials.
    pub fn describe(&self, error: &redis::RedisError) -> String {
        self.url.scrub(&error.to_string())
    }

    /// Whether the node can use Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The node's cluster metrics.
    pub fn figures(&self) -> &ClusterFigures {
        &self.figures
    }

    /// Runs `call` within [`REDIS_COMMAND_TIMEOUT`]; a failure that says Redis cannot be used
    /// (no connection, a dropped one, no answer in time) marks it unavailable. `what` names the
    /// call in the log.
    pub async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        let result = bounded(call).await;
        if let Err(error) = &result
            && is_outage(error)
        {
            self.lost(what, error);
        }
        result
    }

    /// Marks Redis unavailable after `error` in `what` (logged once per outage).
    pub fn lost(&self, what: &'static str, error: &redis::RedisError) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.figures.redis_up.set(0);
            let error = self.describe(error);
            tracing::warn!(%error, call = what, "Redis unavailable: refusing what needs it");
        }
    }

    /// Marks Redis available again; counts a reconnect if it was not.
    pub fn regained(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            self.figures.redis_up.set(1);
            self.figures.reconnects.inc();
            tracing::info!("Redis available again");
        }
    }
}

/// Runs `call` within [`REDIS_COMMAND_TIMEOUT`] (a timeout is an I/O error), without marking
/// anything: for the reader, whose connection's loss alone does not stop the node from
/// publishing, and which resumes by itself.
pub async fn bounded<T>(
    call: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    match tokio::time::timeout(REDIS_COMMAND_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer from Redis in time",
        ))),
    }
}

/// Whether `error` says that Redis cannot be used (rather than a refusal by a script): no
/// connection, a dropped one, no answer in time, or a Redis that is still loading its data
/// after a restart (`LOADING`) or cannot serve writes (`MASTERDOWN`, `TRYAGAIN`).
pub fn is_outage(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::TryAgain
            )
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn a_failed_call_marks_redis_down_and_only_a_regain_counts_a_reconnect() {
        let health = RedisHealth::new(
            Metrics::new().cluster(),
            RedisUrl::parse("redis://:pw@127.0.0.1:1").unwrap(),
        );
        assert!(health.is_up());
        let refused = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let failed: redis::RedisResult<()> = health.call("test", async { Err(refused) }).await;
        assert!(failed.is_err());
        assert!(!health.is_up());
        assert_eq!(health.figures().redis_up.get(), 0);
        // A success of any other call does not bring it back: the heartbeat does.
        let _ = health.call("test", async { Ok(()) }).await;
        assert!(!health.is_up());
        health.regained();
        health.regained();
        assert!(health.is_up());
        assert_eq!(health.figures().reconnects.get(), 1);
        assert_eq!(health.figures().redis_up.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_call_counts_as_an_outage_after_the_timeout() {
        let health = RedisHealth::new(
            Metrics::new().cluster(),
            RedisUrl::parse("redis://:pw@127.0.0.1:1").unwrap(),
        );
        let hung: redis::RedisResult<()> = health
            .call("test", std::future::pending::<redis::RedisResult<()>>())
            .await;
        assert!(hung.is_err_and(|e| is_outage(&e)));
        assert!(!health.is_up());
    }
}
