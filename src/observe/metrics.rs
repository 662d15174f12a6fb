//! Process-wide metrics. Hot-path updates are single relaxed atomic adds; the Prometheus text
//! is rendered only when `/metrics` is scraped.

use std::sync::atomic::{AtomicU64, Ordering};

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
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
    /// `bento_batch_created`: batches (requests' bodies) assembled.
    pub batch_created: Counter,
    /// `bento_output_in_flight`: requests currently in flight.
    pub output_in_flight: Gauge,
}

static METRICS: Metrics = Metrics {
    input_received: Counter::new(),
    processor_dropped: Counter::new(),
    processor_error: Counter::new(),
    output_sent: Counter::new(),
    output_error: Counter::new(),
    output_retry: Counter::new(),
    output_dead_letter: Counter::new(),
    batch_created: Counter::new(),
    output_in_flight: Gauge::new(),
};

/// The process-wide metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}
