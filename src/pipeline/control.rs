//! [`Control`]: how the runtime tells every stage to stop, and how the input learns that
//! everything downstream has drained.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// Shared by all stages. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Control {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stop: AtomicBool,
    // Closed (by dropping the sender) when a stop is requested: select on `stopping()`.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    drained_tx: Mutex<Option<Sender<()>>>,
    drained_rx: Receiver<()>,
    deadline: Mutex<Option<Instant>>,
    shutdown_timeout: Duration,
}

impl Control {
    pub fn new(shutdown_timeout: Duration) -> Control {
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let (drained_tx, drained_rx) = crossbeam_channel::bounded(0);
        Control {
            inner: Arc::new(Inner {
                stop: AtomicBool::new(false),
                stop_tx: Mutex::new(Some(stop_tx)),
                stop_rx,
                drained_tx: Mutex::new(Some(drained_tx)),
                drained_rx,
                deadline: Mutex::new(None),
                shutdown_timeout,
            }),
        }
    }

    /// Ask every stage to stop reading and drain. Idempotent; the first call starts the
    /// `shutdown_timeout` clock.
    pub fn request_stop(&self) {
        if !self.inner.stop.swap(true, Ordering::AcqRel) {
            *self.inner.deadline.lock() = Some(Instant::now() + self.inner.shutdown_timeout);
            self.inner.stop_tx.lock().take();
        }
    }

    pub fn stop_requested(&self) -> bool {
        self.inner.stop.load(Ordering::Acquire)
    }

    /// A channel that becomes ready (disconnected) once a stop is requested.
    pub fn stopping(&self) -> &Receiver<()> {
        &self.inner.stop_rx
    }

    /// When the graceful stop must end, if a stop was requested.
    pub fn deadline(&self) -> Option<Instant> {
        *self.inner.deadline.lock()
    }

    /// True once a stop was requested and its deadline has passed: stages stop waiting for
    /// in-flight work and leave it un-acked (it will be redelivered).
    pub fn past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Wait `d` before a retry. False (give up, leave the work un-acked) when a stop's
    /// deadline would pass before the wait ends: waiting longer is pointless, the runtime
    /// stops waiting for the stage at that deadline. A stop with time left does not cut the
    /// wait short: draining still retries.
    pub fn wait(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        if !self.stop_requested() {
            let left = until.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(self.stopping()) -> _ => {},
                default(left) => return true,
            }
        }
        // A stop was requested (before or during the wait).
        match self.deadline() {
            Some(deadline) if deadline <= until => false,
            _ => {
                let left = until.saturating_duration_since(Instant::now());
                let _ = crossbeam_channel::after(left).recv();
                true
            }
        }
    }

    /// Called by the runtime when the output has delivered (or given up on) everything.
    /// Public so a test harness that drives an input directly can play the output's part.
    pub fn mark_drained(&self) {
        self.inner.drained_tx.lock().take();
    }

    /// A channel that becomes ready (disconnected) once the output has drained.
    pub fn drained(&self) -> &Receiver<()> {
        &self.inner.drained_rx
    }

    /// Wait until the output has drained or `timeout` passed; true if drained.
    pub fn wait_drained(&self, timeout: Duration) -> bool {
        matches!(
            self.inner.drained_rx.recv_timeout(timeout),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_closes_the_stopping_channel_once() {
        let c = Control::new(Duration::from_secs(5));
        assert!(!c.stop_requested());
        assert!(c.stopping().try_recv().is_err());
        assert!(c.deadline().is_none());
        c.request_stop();
        let d = c.deadline();
        c.request_stop();
        assert_eq!(c.deadline(), d, "second request must not move the deadline");
        assert!(c.stopping().recv().is_err());
        assert!(!c.past_deadline());
    }

    #[test]
    fn a_wait_gives_up_only_when_the_deadline_would_pass() {
        let c = Control::new(Duration::from_millis(200));
        assert!(c.wait(Duration::from_millis(1)));
        c.request_stop();
        assert!(
            c.wait(Duration::from_millis(10)),
            "time left before the deadline"
        );
        assert!(!c.wait(Duration::from_secs(60)), "would pass the deadline");
    }

    #[test]
    fn drained_wakes_waiters() {
        let c = Control::new(Duration::from_secs(5));
        assert!(!c.wait_drained(Duration::from_millis(1)));
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.wait_drained(Duration::from_secs(10)));
        c.mark_drained();
        assert!(t.join().expect("waiter"));
    }
}
