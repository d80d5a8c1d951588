//! Counting deliveries and measuring their latency without a shared hot spot.
//!
//! Receivers record into a few [`Shard`]s (a receiver always uses the same one) and only in
//! batches: a receiver keeps what it measured in a [`Batch`] and hands it over when its socket
//! has nothing more to read right away, or when the batch is full. So a delivery costs a push
//! onto a local vector, and the lock of a shard is taken once per burst of frames, from
//! whichever worker thread the receiver runs on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hdrhistogram::Histogram;

/// Highest latency recorded exactly: one minute, in nanoseconds (higher values saturate).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Frames a receiver measures before it hands them over even while more are waiting.
const BATCH_LIMIT: usize = 256;

/// A new latency histogram: 1 ns to a minute, three significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds and precision are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// Whether a delivery stayed on one node: the sender and the receiver connected to the same URL
/// (same node), or to different ones (cross node). With one URL every delivery is same-node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Sender and receiver on the same URL.
    SameNode,
    /// Sender and receiver on different URLs.
    CrossNode,
}

/// Delivery counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Measured messages received for the first time (the deliveries).
    pub deliveries: u64,
    /// Of the deliveries, those whose sender was on another node ([`Route::CrossNode`]).
    pub cross_node_deliveries: u64,
    /// Measured messages received again.
    pub duplicates: u64,
    /// Measured messages that arrived after a later one of the same sender.
    pub reordered: u64,
    /// Load messages of another room.
    pub misrouted: u64,
    /// Frames that carry no load message (presence, `room.state`, errors, ...).
    pub other_frames: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.deliveries += other.deliveries;
        self.cross_node_deliveries += other.cross_node_deliveries;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.misrouted += other.misrouted;
        self.other_frames += other.other_frames;
    }
}

/// What one shard holds.
#[derive(Debug)]
pub struct Shard {
    /// Fan-out latency of every same-node delivery, in nanoseconds.
    pub same_node: Histogram<u64>,
    /// Fan-out latency of every cross-node delivery, in nanoseconds.
    pub cross_node: Histogram<u64>,
    /// Counters.
    pub counts: Counts,
}

/// The shards of one run.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Arc<Mutex<Shard>>>,
}

impl Recorder {
    /// A recorder with `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                Arc::new(Mutex::new(Shard {
                    same_node: latency_histogram(),
                    cross_node: latency_histogram(),
                    counts: Counts::default(),
                }))
            })
            .collect();
        Self { shards }
    }

    /// A batch for receiver number `receiver`.
    pub fn batch(&self, receiver: usize) -> Batch {
        Batch {
            shard: self.shards[receiver % self.shards.len()].clone(),
            latencies: Vec::with_capacity(BATCH_LIMIT),
            counts: Counts::default(),
        }
    }

    /// Counters summed over every shard (batches not yet handed over are not in them).
    pub fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for shard in &self.shards {
            total.add(&lock(shard).counts);
        }
        total
    }

    /// Every latency recorded so far, both routes, merged.
    pub fn latency(&self) -> Histogram<u64> {
        let mut merged = latency_histogram();
        for shard in &self.shards {
            let shard = lock(shard);
            // Same bounds on every side: adding cannot fail.
            let _ = merged.add(&shard.same_node);
            let _ = merged.add(&shard.cross_node);
        }
        merged
    }

    /// The latencies of the deliveries of `route` recorded so far, merged.
    pub fn latency_of(&self, route: Route) -> Histogram<u64> {
        let mut merged = latency_histogram();
        for shard in &self.shards {
            let shard = lock(shard);
            let _ = merged.add(match route {
                Route::SameNode => &shard.same_node,
                Route::CrossNode => &shard.cross_node,
            });
        }
        merged
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one receiver measured since it last handed over.
#[derive(Debug)]
pub struct Batch {
    shard: Arc<Mutex<Shard>>,
    latencies: Vec<(u64, Route)>,
    /// Counters of this batch.
    pub counts: Counts,
}

impl Batch {
    /// Records one delivery, its latency and its route; hands the batch over when it is full.
    pub fn delivered(&mut self, latency_ns: u64, route: Route) {
        self.counts.deliveries += 1;
        if route == Route::CrossNode {
            self.counts.cross_node_deliveries += 1;
        }
        self.latencies.push((latency_ns, route));
        if self.latencies.len() >= BATCH_LIMIT {
            self.hand_over();
        }
    }

    /// Moves everything measured into the shard.
    pub fn hand_over(&mut self) {
        if self.latencies.is_empty() && self.counts == Counts::default() {
            return;
        }
        let mut shard = lock(&self.shard);
        for &(latency, route) in &self.latencies {
            match route {
                Route::SameNode => shard.same_node.saturating_record(latency.max(1)),
                Route::CrossNode => shard.cross_node.saturating_record(latency.max(1)),
            }
        }
        shard.counts.add(&self.counts);
        drop(shard);
        self.latencies.clear();
        self.counts = Counts::default();
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// Percentiles of a histogram of nanoseconds, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `histogram` (nanoseconds).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_reach_the_totals_when_handed_over_or_dropped() {
        let recorder = Recorder::new(4);
        let mut a = recorder.batch(0);
        let mut b = recorder.batch(1);
        for i in 1..=10 {
            a.delivered(i * 1_000_000, Route::SameNode);
        }
        b.delivered(5_000_000, Route::CrossNode);
        b.counts.duplicates += 1;
        assert_eq!(recorder.counts().deliveries, 0);
        a.hand_over();
        drop(b);
        let counts = recorder.counts();
        assert_eq!((counts.deliveries, counts.duplicates), (11, 1));
        let p = Percentiles::of(&recorder.latency());
        assert_eq!(p.count, 11);
        assert!((p.p50_ms - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.max_ms - 10.0).abs() < 0.01, "{p:?}");
        assert_eq!(counts.cross_node_deliveries, 1);
        let cross = Percentiles::of(&recorder.latency_of(Route::CrossNode));
        assert_eq!(cross.count, 1);
        assert!((cross.p50_ms - 5.0).abs() < 0.01, "{cross:?}");
        assert_eq!(
            Percentiles::of(&recorder.latency_of(Route::SameNode)).count,
            10
        );
    }
}
