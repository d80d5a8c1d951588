//! `GET /metrics`: what a node is doing, in the Prometheus text exposition format (version
//! 0.0.4), encoded by the Prometheus project's own Rust client (`prometheus-client`).
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `chalk_connections` | gauge | open WebSocket connections on this node |
//! | `chalk_rooms` | gauge | rooms this node holds (live ones, and REST rooms kept for their records) |
//! | `chalk_deliveries_total` | counter | server frames queued to a connection (room events, replies) |
//! | `chalk_refusals_total{reason}` | counter | upgrades refused before `101`, by reason |
//! | `chalk_outbound_drops_total` | counter | frames that did not fit a connection's outbound queue (the connection is closed as a slow consumer) |
//!
//! In cluster mode only ([`Metrics::cluster`], registered when the node connects to Redis):
//!
//! | metric | type | meaning |
//! | --- | --- | --- |
//! | `chalk_redis_up` | gauge | 1 while this node can use Redis, 0 while it takes Redis for unavailable |
//! | `chalk_redis_reconnects_total` | counter | times Redis became usable again after being unavailable |
//! | `chalk_bus_lag_seconds` | histogram | from a stream entry's append (its id's milliseconds, Redis's clock) to its delivery by this node's reader |
//! | `chalk_bus_queue` | gauge | chat messages, hand changes and recording events of this node waiting for Redis (the bounded part of the publisher's queue) |
//!
//! The gauges are read when scraped; the counters count as things happen, with one atomic
//! increment each. Nothing here carries a token, an API key or a participant id: labels are the
//! fixed refusal reasons of [`reason`] only.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::ApiError;

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The label set of a refusal: `reason="…"`.
type ReasonLabel = [(&'static str, &'static str); 1];

/// The counters a connection's handle updates as frames are queued.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Frames queued.
    pub deliveries: Counter,
    /// Frames that did not fit.
    pub drops: Counter,
}

/// The cluster figures (see the module documentation), shared by the parts of cluster mode
/// that update them.
#[derive(Debug, Clone)]
pub struct ClusterFigures {
    /// `chalk_redis_up`.
    pub redis_up: Gauge,
    /// `chalk_redis_reconnects_total`.
    pub reconnects: Counter,
    /// `chalk_bus_lag_seconds`.
    pub bus_lag: Histogram,
    /// `chalk_bus_queue`.
    pub bus_queue: Gauge,
}

/// The buckets of `chalk_bus_lag_seconds`, from 1 ms to 10 s.
const BUS_LAG_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A node's metrics (see the module documentation).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms: Gauge,
    traffic: Traffic,
    refusals: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let connections = Gauge::default();
        let rooms = Gauge::default();
        let traffic = Traffic::default();
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "chalk_connections",
            "Open WebSocket connections on this node",
            connections.clone(),
        );
        registry.register(
            "chalk_rooms",
            "Rooms this node holds in memory",
            rooms.clone(),
        );
        registry.register(
            "chalk_deliveries",
            "Server frames queued to a connection",
            traffic.deliveries.clone(),
        );
        registry.register(
            "chalk_refusals",
            "WebSocket upgrades refused before 101, by reason",
            refusals.clone(),
        );
        registry.register(
            "chalk_outbound_drops",
            "Frames that did not fit a connection's outbound queue (slow consumer closed)",
            traffic.drops.clone(),
        );
        // Every reason is shown from the start, at zero, so that a rate over it is defined.
        for error in REASONS {
            let _ = refusals.get_or_create(&[("reason", reason(error))]);
        }
        Metrics {
            registry,
            connections,
            rooms,
            traffic,
            refusals,
        }
    }

    /// Registers the cluster figures (once, when the node joins its cluster) and returns them,
    /// with `chalk_redis_up` at 1: the node has just reached Redis.
    pub fn cluster(&mut self) -> ClusterFigures {
        let figures = ClusterFigures {
            redis_up: Gauge::default(),
            reconnects: Counter::default(),
            bus_lag: Histogram::new(BUS_LAG_BUCKETS),
            bus_queue: Gauge::default(),
        };
        figures.redis_up.set(1);
        self.registry.register(
            "chalk_redis_up",
            "1 while this node can use Redis, 0 while it takes Redis for unavailable",
            figures.redis_up.clone(),
        );
        self.registry.register(
            "chalk_redis_reconnects",
            "Times Redis became usable again after being unavailable",
            figures.reconnects.clone(),
        );
        self.registry.register(
            "chalk_bus_lag_seconds",
            "Time from a stream entry's append to its delivery by this node's reader",
            figures.bus_lag.clone(),
        );
        self.registry.register(
            "chalk_bus_queue",
            "Commands of this node waiting for Redis",
            figures.bus_queue.clone(),
        );
        figures
    }

    /// The counters for a new connection's handle.
    pub fn traffic(&self) -> Traffic {
        self.traffic.clone()
    }

    /// Counts an upgrade refused with `error`.
    pub fn refused(&self, error: &ApiError) {
        self.refusals
            .get_or_create(&[("reason", reason(error))])
            .inc();
    }

    /// The exposition, with the gauges set to `connections` and `rooms`.
    pub fn render(&self, connections: usize, rooms: usize) -> String {
        self.connections.set(gauge_value(connections));
        self.rooms.set(gauge_value(rooms));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// One error of each refusal reason an upgrade can get.
const REASONS: [&ApiError; 7] = [
    &ApiError::MalformedUpgrade,
    &ApiError::InvalidToken,
    &ApiError::OriginNotAllowed,
    &ApiError::AccessRevoked,
    &ApiError::ShuttingDown,
    &ApiError::TooManyConnections,
    &ApiError::RedisUnavailable,
];

/// The `reason` label of an upgrade refused with `error`.
pub fn reason(error: &ApiError) -> &'static str {
    match error {
        ApiError::MalformedUpgrade => "malformed_upgrade",
        ApiError::InvalidToken => "invalid_token",
        ApiError::OriginNotAllowed => "origin_not_allowed",
        ApiError::AccessRevoked => "access_revoked",
        ApiError::ShuttingDown => "shutting_down",
        ApiError::TooManyConnections => "too_many_connections",
        ApiError::RedisUnavailable => "redis_unavailable",
        _ => "other",
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `name` (labels included).
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn counts_render_in_the_text_format_with_help_and_type() {
        let metrics = Metrics::new();
        let traffic = metrics.traffic();
        traffic.deliveries.inc_by(3);
        traffic.drops.inc();
        metrics.refused(&ApiError::InvalidToken);
        metrics.refused(&ApiError::InvalidToken);
        let text = metrics.render(5, 2);
        assert_eq!(sample(&text, "chalk_connections"), Some(5.0), "{text}");
        assert_eq!(sample(&text, "chalk_rooms"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "chalk_deliveries_total"), Some(3.0), "{text}");
        assert_eq!(
            sample(&text, "chalk_outbound_drops_total"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"chalk_refusals_total{reason="invalid_token"}"#),
            Some(2.0),
            "{text}"
        );
        // Reasons never seen are there at zero.
        assert_eq!(
            sample(
                &text,
                r#"chalk_refusals_total{reason="origin_not_allowed"}"#
            ),
            Some(0.0),
            "{text}"
        );
        assert!(
            text.contains("# TYPE chalk_deliveries_total counter"),
            "{text}"
        );
        assert!(text.contains("# TYPE chalk_connections gauge"), "{text}");
        assert!(text.contains("# HELP chalk_refusals_total "), "{text}");
        assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
        assert!(
            !text.contains("chalk_redis_up"),
            "cluster figures only in cluster mode"
        );
    }

    #[test]
    fn the_cluster_figures_render_once_registered() {
        let mut metrics = Metrics::new();
        let figures = metrics.cluster();
        figures.reconnects.inc();
        figures.bus_queue.set(3);
        figures.bus_lag.observe(0.004);
        let text = metrics.render(0, 0);
        assert_eq!(sample(&text, "chalk_redis_up"), Some(1.0), "{text}");
        assert_eq!(
            sample(&text, "chalk_redis_reconnects_total"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(sample(&text, "chalk_bus_queue"), Some(3.0), "{text}");
        assert_eq!(
            sample(&text, "chalk_bus_lag_seconds_count"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, r#"chalk_bus_lag_seconds_bucket{le="0.005"}"#),
            Some(1.0),
            "{text}"
        );
        assert!(
            text.contains("# TYPE chalk_bus_lag_seconds histogram"),
            "{text}"
        );
    }
}
