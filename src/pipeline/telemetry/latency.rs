//! Latency histograms (hdrhistogram): batch send latency and end-to-end event latency.
//!
//! Hot path vs. scrape: every recording thread (the output's sender threads) gets its own
//! histogram, created on first use and registered here. Recording locks only that thread's own
//! mutex, which nobody else touches except the scraper, for the few microseconds it takes to
//! add the histogram into the merged one. So workers never wait on each other, and the cost of a
//! recording is an uncontended lock plus an array increment. The alternative, one shared
//! `Mutex<Histogram>`, serialises all `max_in_flight` senders on every batch; hdrhistogram's
//! `SyncHistogram` needs every recorder to check in before a read, which an idle sender never
//! does.
//!
//! What is exported (as a Prometheus summary, like Bento's `*_latency_ns` timers):
//! - `_count` and `_sum` are cumulative since start and never go backwards;
//! - quantiles cover a sliding window of the last 1–2 minutes (two 60 s slots), so p99 tells the
//!   operator about now rather than about the whole uptime. The end-of-run summary uses the
//!   cumulative histogram instead.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::pipeline::Origin;

/// Quantiles exported and shown.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Values are nanoseconds; 1 µs .. 1 h with 2 significant digits (1 % error) keeps a histogram
/// around 40 KiB, so per-thread copies stay cheap.
const LOWEST_NS: u64 = 1_000;
const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;
const SIGFIG: u8 = 2;

/// Histogram bounds when timings are exported as histograms: the Prometheus client default
/// buckets, which Bento uses when `histogram_buckets` is not set.
pub const BUCKETS_SECONDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How long one quantile slot lasts; quantiles cover the current and the previous slot.
const WINDOW: Duration = Duration::from_secs(60);

fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; this cannot fail at run time.
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// One thread's recordings since the last merge.
struct Slot {
    inner: Mutex<SlotInner>,
}

struct SlotInner {
    hist: Histogram<u64>,
    sum_ns: u128,
}

struct Merged {
    /// Since start: `_count`, `_sum`, and the end-of-run percentiles.
    total: Histogram<u64>,
    total_sum_ns: u128,
    current: Histogram<u64>,
    previous: Histogram<u64>,
    slot_started: Instant,
}

/// One latency series (e.g. batch send latency).
pub struct Latency {
    id: u64,
    slots: Mutex<Vec<Arc<Slot>>>,
    merged: Mutex<Option<Merged>>,
}

/// What a reader sees: cumulative count/sum and quantiles (nanoseconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub count: u64,
    pub sum_ns: f64,
    /// `(quantile, value_ns)` for each of [`QUANTILES`]; empty when there is no sample.
    pub quantiles: Vec<(f64, u64)>,
    /// `(upper bound in seconds, samples at or below it)` since start, for each of
    /// [`BUCKETS_SECONDS`] (`metrics.prometheus.use_histogram_timing`).
    pub buckets: Vec<(f64, u64)>,
}

impl Snapshot {
    /// The value at quantile `q` (one of [`QUANTILES`]).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.quantiles
            .iter()
            .find(|(x, _)| *x == q)
            .map(|(_, v)| Duration::from_nanos(*v))
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's slot for each latency series it recorded into, by series id.
    static MINE: RefCell<Vec<(u64, Arc<Slot>)>> = const { RefCell::new(Vec::new()) };
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        Latency {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots: Mutex::new(Vec::new()),
            merged: Mutex::new(None),
        }
    }

    /// Record one duration.
    pub fn record(&self, d: Duration) {
        self.record_many(std::iter::once(d));
    }

    /// Record several durations with one lock of this thread's slot (a batch's events).
    pub fn record_many(&self, ds: impl IntoIterator<Item = Duration>) {
        // `try_with`: a recording made while this thread's locals are being torn down is
        // dropped rather than panicking.
        let _ = MINE.try_with(|mine| {
            let mut mine = mine.borrow_mut();
            let i = match mine.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    let slot = Arc::new(Slot {
                        inner: Mutex::new(SlotInner {
                            hist: new_histogram(),
                            sum_ns: 0,
                        }),
                    });
                    self.slots.lock().push(Arc::clone(&slot));
                    mine.push((self.id, slot));
                    mine.len() - 1
                }
            };
            let mut s = mine[i].1.inner.lock();
            for d in ds {
                let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                s.hist.saturating_record(ns);
                s.sum_ns += u128::from(ns);
            }
        });
    }

    /// Move every thread's recordings into the merged histograms and rotate the window.
    fn merge<'a>(&self, merged: &'a mut Option<Merged>) -> &'a mut Merged {
        let m = merged.get_or_insert_with(|| Merged {
            total: new_histogram(),
            total_sum_ns: 0,
            current: new_histogram(),
            previous: new_histogram(),
            slot_started: Instant::now(),
        });
        if m.slot_started.elapsed() >= WINDOW {
            // A slot older than two windows means no scrape for a while: drop both.
            if m.slot_started.elapsed() >= 2 * WINDOW {
                m.previous.reset();
            } else {
                std::mem::swap(&mut m.previous, &mut m.current);
            }
            m.current.reset();
            m.slot_started = Instant::now();
        }
        let mut slots = self.slots.lock();
        for slot in slots.iter() {
            let mut s = slot.inner.lock();
            if s.hist.is_empty() {
                continue;
            }
            // Same bounds everywhere, so adding cannot fail.
            let _ = m.current.add(&s.hist);
            let _ = m.total.add(&s.hist);
            m.total_sum_ns += s.sum_ns;
            s.hist.reset();
            s.sum_ns = 0;
        }
        // A slot only the registry still holds belongs to a thread that ended; it was just
        // drained, so let it go.
        slots.retain(|s| Arc::strong_count(s) > 1);
        m
    }

    /// Cumulative count/sum, quantiles over the recent window (for `/metrics` and progress).
    pub fn window(&self) -> Snapshot {
        self.window_at(&QUANTILES, &BUCKETS_SECONDS)
    }

    /// [`Latency::window`] at the given quantiles and bucket bounds (seconds), which
    /// `metrics.prometheus.summary_quantiles_objectives` and `histogram_buckets` may choose.
    pub fn window_at(&self, quantiles: &[f64], buckets: &[f64]) -> Snapshot {
        let mut guard = self.merged.lock();
        let m = self.merge(&mut guard);
        let mut both = m.current.clone();
        let _ = both.add(&m.previous);
        snapshot(
            m.total.len(),
            m.total_sum_ns,
            &both,
            &m.total,
            quantiles,
            buckets,
        )
    }

    /// Everything since start (the end-of-run summary).
    pub fn total(&self) -> Snapshot {
        let mut guard = self.merged.lock();
        let m = self.merge(&mut guard);
        snapshot(
            m.total.len(),
            m.total_sum_ns,
            &m.total,
            &m.total,
            &QUANTILES,
            &BUCKETS_SECONDS,
        )
    }
}

/// Quantiles from `h`, buckets from `total` (buckets are cumulative since start).
fn snapshot(
    count: u64,
    sum_ns: u128,
    h: &Histogram<u64>,
    total: &Histogram<u64>,
    quantiles: &[f64],
    buckets: &[f64],
) -> Snapshot {
    Snapshot {
        buckets: buckets
            .iter()
            .map(|le| (*le, total.count_between(0, (*le * 1e9) as u64)))
            .collect(),
        count,
        sum_ns: sum_ns as f64,
        quantiles: if h.is_empty() {
            Vec::new()
        } else {
            quantiles
                .iter()
                .map(|q| (*q, h.value_at_quantile(*q)))
                .collect()
        },
    }
}

static BATCH_SEND: std::sync::OnceLock<Latency> = std::sync::OnceLock::new();
static EVENT_E2E: std::sync::OnceLock<Latency> = std::sync::OnceLock::new();

/// `bento_output_latency_ns`: how long one request (a batch, or a single event) took, from
/// starting the POST to the API's answer.
pub fn batch_send() -> &'static Latency {
    BATCH_SEND.get_or_init(Latency::new)
}

/// `bento_event_e2e_latency_ns`: from the event's Kafka timestamp (or, without one, the moment
/// the collector received it) to the 202 that accepted it.
pub fn event_e2e() -> &'static Latency {
    EVENT_E2E.get_or_init(Latency::new)
}

/// Record one request's send latency. The output calls this once per request it got an
/// answer to (success or not).
pub fn record_batch(d: Duration) {
    batch_send().record(d);
}

/// Record the end-to-end latency of events just accepted (202), one lock for the whole batch.
/// The output calls this once per accepted request, before acking the events.
pub fn record_delivered<'a>(origins: impl IntoIterator<Item = &'a Origin>) {
    let now_wall = SystemTime::now();
    let now = Instant::now();
    event_e2e().record_many(origins.into_iter().filter_map(|o| age(o, now_wall, now)));
}

/// How old an event is now: from its source timestamp when it has one (the Kafka message
/// timestamp, wall clock, clamped at 0 against clock skew), else from when it was received.
pub fn age(o: &Origin, now_wall: SystemTime, now: Instant) -> Option<Duration> {
    if let Some(ms) = o.timestamp_ms {
        let now_ms = now_wall.duration_since(UNIX_EPOCH).ok()?.as_millis();
        let now_ms = i64::try_from(now_ms).ok()?;
        return Some(Duration::from_millis(
            now_ms.saturating_sub(ms).max(0) as u64
        ));
    }
    o.received_at.map(|t| now.saturating_duration_since(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_from_many_threads_merge_into_one_summary() {
        let l = Arc::new(Latency::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || {
                    for ms in 1..=100u64 {
                        l.record(Duration::from_millis(ms));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("recorder thread");
        }
        let s = l.window();
        assert_eq!(s.count, 400);
        assert_eq!(s.sum_ns, 4.0 * 5050.0 * 1e6);
        let p50 = s.quantile(0.5).expect("p50").as_millis();
        let p99 = s.quantile(0.99).expect("p99").as_millis();
        assert!((49..=51).contains(&p50), "p50 {p50}");
        assert!((98..=100).contains(&p99), "p99 {p99}");
        // The threads ended, so their slots were dropped after the merge.
        assert!(l.slots.lock().is_empty());
        // Counts never go backwards: a second read still sees everything.
        assert_eq!(l.window().count, 400);
        assert_eq!(l.total().count, 400);
        // 1..=100 ms four times: 5 ms holds 4×5, 100 ms holds everything.
        let b = l.window().buckets;
        assert_eq!(b[0], (0.005, 20));
        assert_eq!(b[4], (0.1, 400));
    }

    #[test]
    fn empty_series_has_no_quantiles() {
        let l = Latency::new();
        let s = l.window();
        assert_eq!(s.count, 0);
        assert!(s.quantiles.is_empty());
        assert_eq!(s.quantile(0.99), None);
    }

    #[test]
    fn age_prefers_the_source_timestamp_and_clamps_skew() {
        let now_wall = SystemTime::now();
        let now = Instant::now();
        let ms = now_wall
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as i64;
        let o = Origin {
            timestamp_ms: Some(ms - 1500),
            received_at: Some(now),
            ..Origin::default()
        };
        assert_eq!(age(&o, now_wall, now), Some(Duration::from_millis(1500)));
        let future = Origin {
            timestamp_ms: Some(ms + 10_000),
            ..Origin::default()
        };
        assert_eq!(age(&future, now_wall, now), Some(Duration::ZERO));
        let local = Origin {
            received_at: Some(now),
            ..Origin::default()
        };
        assert_eq!(age(&local, now_wall, now), Some(Duration::ZERO));
        assert_eq!(age(&Origin::default(), now_wall, now), None);
    }
}
