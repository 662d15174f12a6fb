//! The periodic progress line (`logger.progress_period`, default 10s, `0s` = off): what a
//! person watching the terminal wants to know without a Prometheus at hand.
//!
//! ```text
//! level=info msg=progress received=120000 sent=119800 filtered=150 failed=50 dead_lettered=50 in_per_sec=12000 sent_per_sec=11980 in_flight=4 output_errors=0 retries=0 lag=230 e2e_p99_ms=41.9
//! ```
//! `lag` appears only when an input reports partitions, `e2e_p99_ms` only when events were
//! delivered in the last minute or two.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::pipeline::telemetry::{latency, metrics};

/// Counter values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub received: u64,
    pub sent: u64,
    pub filtered: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub in_flight: u64,
    /// Failed requests and retries: rising numbers mean the API is in trouble.
    pub output_errors: u64,
    pub retries: u64,
}

impl Sample {
    pub fn now() -> Sample {
        let m = metrics::get();
        Sample {
            received: m.input_received.get(),
            sent: m.output_sent.get(),
            filtered: m.processor_dropped.get(),
            failed: m.processor_error.get(),
            dead_lettered: m.output_dead_letter.get(),
            in_flight: m.output_in_flight.get(),
            output_errors: m.output_error.get(),
            retries: m.output_retry.get(),
        }
    }
}

/// Events per second between two samples, one decimal.
pub fn rate(prev: u64, cur: u64, dt: Duration) -> f64 {
    let secs = dt.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    (cur.saturating_sub(prev) as f64 / secs * 10.0).round() / 10.0
}

/// Log one progress line.
pub fn log_line(prev: &Sample, cur: &Sample, dt: Duration) {
    let p99 = latency::event_e2e()
        .window()
        .quantile(0.99)
        .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0);
    tracing::info!(
        received = cur.received,
        sent = cur.sent,
        filtered = cur.filtered,
        failed = cur.failed,
        dead_lettered = cur.dead_lettered,
        in_per_sec = rate(prev.received, cur.received, dt),
        sent_per_sec = rate(prev.sent, cur.sent, dt),
        in_flight = cur.in_flight,
        output_errors = cur.output_errors,
        retries = cur.retries,
        lag = metrics::total_lag(),
        e2e_p99_ms = p99,
        "progress"
    );
}

/// The running progress thread; [`Progress::stop`] (or drop) ends it promptly.
pub struct Progress {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Start logging a progress line every `period`; `None` when `period` is zero (off).
pub fn start(period: Duration) -> anyhow::Result<Option<Progress>> {
    if period.is_zero() {
        return Ok(None);
    }
    // Nothing is ever sent: dropping the sender is the stop signal, and the timeout is the tick.
    let (tx, rx) = crossbeam_channel::bounded::<()>(0);
    let thread = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let mut prev = Sample::now();
            let mut at = Instant::now();
            loop {
                match rx.recv_timeout(period) {
                    Err(RecvTimeoutError::Timeout) => {
                        let cur = Sample::now();
                        let now = Instant::now();
                        log_line(&prev, &cur, now - at);
                        prev = cur;
                        at = now;
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
    Ok(Some(Progress {
        stop: Some(tx),
        thread: Some(thread),
    }))
}

impl Progress {
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_per_second_and_safe() {
        assert_eq!(rate(100, 350, Duration::from_millis(500)), 500.0);
        assert_eq!(rate(10, 10, Duration::from_secs(1)), 0.0);
        assert_eq!(rate(10, 5, Duration::from_secs(1)), 0.0);
        assert_eq!(rate(0, 5, Duration::ZERO), 0.0);
    }

    #[test]
    fn zero_period_is_off_and_stop_is_prompt() {
        assert!(start(Duration::ZERO).expect("start").is_none());
        let p = start(Duration::from_secs(3600))
            .expect("start")
            .expect("running");
        let t = Instant::now();
        p.stop();
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
