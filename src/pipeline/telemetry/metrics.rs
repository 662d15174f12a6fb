//! Process-wide metrics. Hot-path updates are single relaxed atomic adds; the Prometheus text
//! is rendered only when `/metrics` is scraped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (requests in flight).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub const fn new() -> Gauge {
        Gauge(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Saturates at 0: an unmatched `dec` must not wrap to 2^64 on the dashboard.
    pub fn dec(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Saturates at 0, like [`Gauge::dec`].
    pub fn sub(&self, n: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every counter the collector keeps. Names in comments are the exported Prometheus names.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `bento_input_received`: messages read from the input.
    pub input_received: Counter,
    /// `bento_input_tombstones`: Kafka records with a null value (tombstones of compacted
    /// topics), skipped (they carry no event) and committed.
    pub input_tombstones: Counter,
    /// `bento_processor_dropped`: messages filtered out by `deleted()`.
    pub processor_dropped: Counter,
    /// `bento_processor_error`: messages failed by a processor or the event encoder.
    pub processor_error: Counter,
    /// `bento_output_sent`: events accepted by the destination.
    pub output_sent: Counter,
    /// `bento_output_error`: failed send attempts (one per failed request).
    pub output_error: Counter,
    /// `bento_output_retry`: requests retried.
    pub output_retry: Counter,
    /// `bento_output_dead_letter`: events written to the dead-letter sink.
    pub output_dead_letter: Counter,
    /// `bento_output_dead_letter_error`: failed dead-letter writes (one per failed attempt;
    /// each is retried).
    pub output_dead_letter_error: Counter,
    /// `bento_output_dead_letter_pending`: events whose dead-letter write failed and is being
    /// retried (un-acked meanwhile: their partitions' commits wait).
    pub output_dead_letter_pending: Gauge,
    /// `bento_batch_created`: batches (requests' bodies) assembled.
    pub batch_created: Counter,
    /// `bento_output_in_flight`: requests currently in flight.
    pub output_in_flight: Gauge,
}

static METRICS: Metrics = Metrics {
    input_received: Counter::new(),
    input_tombstones: Counter::new(),
    processor_dropped: Counter::new(),
    processor_error: Counter::new(),
    output_sent: Counter::new(),
    output_error: Counter::new(),
    output_retry: Counter::new(),
    output_dead_letter: Counter::new(),
    output_dead_letter_error: Counter::new(),
    output_dead_letter_pending: Gauge::new(),
    batch_created: Counter::new(),
    output_in_flight: Gauge::new(),
};

/// The process-wide metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

// --- Consumer lag -------------------------------------------------------------------------------

/// `bento_input_lag{topic,partition}`: messages between the committed/consumed position and the
/// partition's high watermark. Keyed topic → partition so a lookup by `&str` needs no
/// allocation; the write lock is taken only when a partition appears or goes away (assignment
/// changes), every other update is a read lock plus one atomic store.
static LAG: RwLock<BTreeMap<String, BTreeMap<i32, AtomicI64>>> = RwLock::new(BTreeMap::new());

/// Record the current lag of one partition (the Kafka input calls this, e.g. from its
/// statistics callback or after each poll). Negative values are stored as 0.
pub fn set_lag(topic: &str, partition: i32, lag: i64) {
    let lag = lag.max(0);
    {
        let map = LAG.read();
        if let Some(cell) = map.get(topic).and_then(|p| p.get(&partition)) {
            cell.store(lag, Ordering::Relaxed);
            return;
        }
    }
    LAG.write()
        .entry(topic.to_string())
        .or_default()
        .entry(partition)
        .or_insert_with(|| AtomicI64::new(0))
        .store(lag, Ordering::Relaxed);
}

/// Forget a partition (revoked in a rebalance): its series disappears from `/metrics` instead of
/// freezing at a stale value.
pub fn remove_lag(topic: &str, partition: i32) {
    let mut map = LAG.write();
    if let Some(parts) = map.get_mut(topic) {
        parts.remove(&partition);
        if parts.is_empty() {
            map.remove(topic);
        }
    }
}

/// Forget every partition (the input stopped).
pub fn clear_lag() {
    LAG.write().clear();
}

/// Every known partition's lag, sorted by topic then partition.
pub fn lags() -> Vec<(String, i32, i64)> {
    let map = LAG.read();
    let mut out = Vec::new();
    for (topic, parts) in map.iter() {
        for (p, v) in parts {
            out.push((topic.clone(), *p, v.load(Ordering::Relaxed)));
        }
    }
    out
}

/// The sum over all partitions (the progress line's `lag`); `None` when no partition reports.
pub fn total_lag() -> Option<i64> {
    let map = LAG.read();
    let mut any = false;
    let mut sum = 0i64;
    for parts in map.values() {
        for v in parts.values() {
            any = true;
            sum = sum.saturating_add(v.load(Ordering::Relaxed));
        }
    }
    any.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_goes_up_and_down_but_not_below_zero() {
        let g = Gauge::new();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
        g.dec();
        g.dec();
        assert_eq!(g.get(), 0);
    }

    #[test]
    fn lag_is_set_updated_and_removed_per_partition() {
        // A topic name no other test uses: the registry is process-wide.
        let t = "lag-unit-test-topic";
        set_lag(t, 0, 10);
        set_lag(t, 1, 5);
        set_lag(t, 0, 7);
        set_lag(t, 2, -3);
        let mine: Vec<_> = lags().into_iter().filter(|(x, _, _)| x == t).collect();
        assert_eq!(
            mine,
            vec![
                (t.to_string(), 0, 7),
                (t.to_string(), 1, 5),
                (t.to_string(), 2, 0)
            ]
        );
        remove_lag(t, 1);
        remove_lag(t, 0);
        remove_lag(t, 2);
        assert!(lags().iter().all(|(x, _, _)| x != t));
    }
}
