//! Readiness (`/ready`): can the pipeline do its job right now. Components report what they
//! see; `/ready` reads and says what is wrong.
//!
//! Not ready while any of these holds:
//! - the input is not connected to its source;
//! - the output's destination is not reachable or refuses the pipeline (the reason names the
//!   remedy, e.g. a key the API refuses);
//! - the dead-letter target cannot be written (its events wait un-acked);
//! - the output has work and has not delivered anything yet: "connected" before the first
//!   success is only a hope. An output with nothing to send is ready (an idle collector);
//! - a request has waited longer than half its timeout: a hanging API looks connected.
//!
//! The output reports after every request, so reporting "connected" while already connected
//! is one atomic load, no lock; the locks (for reason texts and the in-flight requests) are
//! taken once per request or on a change, never per event.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[derive(Debug)]
struct Side {
    ok: AtomicBool,
    reason: Mutex<String>,
}

impl Side {
    const fn new(ok: bool) -> Side {
        Side {
            ok: AtomicBool::new(ok),
            reason: Mutex::new(String::new()),
        }
    }

    fn set(&self, ok: bool, reason: &str) {
        if ok && self.ok.load(Ordering::Acquire) {
            return; // the common case: still fine
        }
        let mut r = self.reason.lock();
        r.clear();
        if !ok {
            r.push_str(reason);
        }
        self.ok.store(ok, Ordering::Release);
    }

    fn is_ok(&self) -> bool {
        self.ok.load(Ordering::Acquire)
    }

    /// The reason, or `fallback` when none was given.
    fn why(&self, fallback: &str) -> String {
        let r = self.reason.lock();
        if r.is_empty() {
            fallback.to_string()
        } else {
            r.clone()
        }
    }
}

/// A request to the destination, from when it was sent.
#[derive(Debug)]
struct Request {
    id: u64,
    sent: Instant,
    timeout: Duration,
}

/// The readiness of the whole pipeline.
#[derive(Debug)]
pub struct Health {
    input: Side,
    output: Side,
    /// Dead-letter writes succeed (`ok`), or why they fail.
    dead_letter: Side,
    /// The output has delivered something since the run started.
    delivered: AtomicBool,
    /// Writes (batches) the output is working on.
    writes: AtomicU64,
    /// Requests sent and not yet answered.
    requests: Mutex<Vec<Request>>,
    next_request: AtomicU64,
}

const NOT_STARTED: &str = "pipeline not started";

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

impl Health {
    pub const fn new() -> Health {
        Health {
            input: Side::new(false),
            output: Side::new(false),
            dead_letter: Side::new(true),
            delivered: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            next_request: AtomicU64::new(0),
        }
    }

    pub fn set_input(&self, connected: bool, reason: &str) {
        self.input.set(connected, reason);
    }

    pub fn set_output(&self, connected: bool, reason: &str) {
        self.output.set(connected, reason);
    }

    /// Both ends disconnected with the same reason (before a run, after it), and the output's
    /// progress forgotten: the next run must succeed again before it is ready.
    pub fn reset(&self, reason: &str) {
        self.set_input(false, reason);
        self.set_output(false, reason);
        self.dead_letter.set(true, "");
        self.delivered.store(false, Ordering::Release);
        self.writes.store(0, Ordering::Release);
        self.requests.lock().clear();
    }

    /// `Ok` when the pipeline can do its job, else everything that stops it, e.g.
    /// `output not connected: the API refuses the key (401): check output.flexprice.api_key`.
    pub fn readiness(&self) -> Result<(), String> {
        self.readiness_at(Instant::now())
    }

    fn readiness_at(&self, now: Instant) -> Result<(), String> {
        let mut why = Vec::new();
        if !self.input.is_ok() {
            why.push(format!(
                "input not connected: {}",
                self.input.why(NOT_STARTED)
            ));
        }
        if !self.output.is_ok() {
            why.push(format!(
                "output not connected: {}",
                self.output.why(NOT_STARTED)
            ));
        } else if !self.delivered.load(Ordering::Acquire) {
            let writes = self.writes.load(Ordering::Acquire);
            if writes > 0 {
                why.push(format!(
                    "output has not delivered anything yet ({writes} batch{} waiting for the first success)",
                    if writes == 1 { "" } else { "es" }
                ));
            }
        }
        if !self.dead_letter.is_ok() {
            why.push(format!(
                "dead-letter target failing: {}",
                self.dead_letter.why("write failed")
            ));
        }
        if let Some((age, timeout)) = self.stalled_request(now) {
            why.push(format!(
                "output request unanswered for {:.1} s (more than half of its {} s timeout)",
                age.as_secs_f64(),
                timeout.as_secs_f64()
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }

    /// The oldest request that has waited more than half its timeout: (age, timeout).
    fn stalled_request(&self, now: Instant) -> Option<(Duration, Duration)> {
        self.requests
            .lock()
            .iter()
            .map(|r| (now.saturating_duration_since(r.sent), r.timeout))
            .filter(|(age, timeout)| *age > *timeout / 2)
            .max_by_key(|(age, _)| *age)
    }

    pub fn input_connected(&self) -> bool {
        self.input.is_ok()
    }

    pub fn output_connected(&self) -> bool {
        self.output.is_ok()
    }
}

static HEALTH: Health = Health::new();

#[derive(Clone, Copy, Debug)]
enum End {
    Input,
    Output,
}

/// One stage's part of `/ready`, handed to it in its context: it reports what it sees.
#[derive(Clone, Copy, Debug)]
pub struct StageHealth {
    health: &'static Health,
    end: End,
}

impl StageHealth {
    /// The input's side.
    pub fn input() -> StageHealth {
        StageHealth::input_of(&HEALTH)
    }

    /// The output's side.
    pub fn output() -> StageHealth {
        StageHealth::output_of(&HEALTH)
    }

    /// The input's side of `health` (tests use a `Health` of their own).
    pub fn input_of(health: &'static Health) -> StageHealth {
        StageHealth {
            health,
            end: End::Input,
        }
    }

    /// The output's side of `health`.
    pub fn output_of(health: &'static Health) -> StageHealth {
        StageHealth {
            health,
            end: End::Output,
        }
    }

    fn side(&self) -> &'static Side {
        match self.end {
            End::Input => &self.health.input,
            End::Output => &self.health.output,
        }
    }

    /// Connected (cheap when already so: one atomic load).
    pub fn connected(&self) {
        self.side().set(true, "");
    }

    /// Not connected, and why (shown by `/ready`): name the remedy where there is one.
    pub fn disconnected(&self, reason: &str) {
        self.side().set(false, reason);
    }

    pub fn is_connected(&self) -> bool {
        self.side().is_ok()
    }

    /// Dead-letter writes succeed again (cheap when they already did).
    pub fn dead_letter_ok(&self) {
        self.health.dead_letter.set(true, "");
    }

    /// Dead-letter writes fail, and why.
    pub fn dead_letter_failing(&self, reason: &str) {
        self.health.dead_letter.set(false, reason);
    }

    /// The output starts working on a batch; the batch's end is the guard's drop. While the
    /// output works and has never delivered, it is not ready.
    pub fn write_started(&self) -> WriteGuard {
        self.health.writes.fetch_add(1, Ordering::AcqRel);
        WriteGuard {
            health: self.health,
        }
    }

    /// The output delivered events (to the destination or durably dead-lettered).
    pub fn delivered(&self) {
        if !self.health.delivered.load(Ordering::Acquire) {
            self.health.delivered.store(true, Ordering::Release);
        }
    }

    /// A request was sent with this `timeout` (zero: none; counted as 30 s); the guard's drop
    /// is its answer. Unanswered past half the timeout, the output is not ready.
    pub fn request_sent(&self, timeout: Duration) -> RequestGuard {
        let id = self.health.next_request.fetch_add(1, Ordering::Relaxed);
        let timeout = if timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            timeout
        };
        self.health.requests.lock().push(Request {
            id,
            sent: Instant::now(),
            timeout,
        });
        RequestGuard {
            health: self.health,
            id,
        }
    }
}

/// A batch the output works on; dropped when it is done.
#[derive(Debug)]
pub struct WriteGuard {
    health: &'static Health,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let _ = self
            .health
            .writes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(1))
            });
    }
}

/// A request in flight; dropped when it is answered (or failed).
#[derive(Debug)]
pub struct RequestGuard {
    health: &'static Health,
    id: u64,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut r = self.health.requests.lock();
        if let Some(i) = r.iter().position(|q| q.id == self.id) {
            r.swap_remove(i);
        }
    }
}

/// The process-wide readiness state.
pub fn get() -> &'static Health {
    &HEALTH
}

/// The input reports whether it is connected (Kafka: `true` once the consumer has joined the
/// group / got an assignment; `false` with the librdkafka error when brokers go away).
pub fn set_input_connected(connected: bool, reason: &str) {
    HEALTH.set_input(connected, reason);
}

/// The output reports whether it can reach the API (Flexprice: `true` after an answer that
/// is not the pipeline's fault, `false` with the error and its remedy otherwise).
pub fn set_output_connected(connected: bool, reason: &str) {
    HEALTH.set_output(connected, reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_both_ends_are_connected_and_says_why_not() {
        let h = Health::new();
        assert_eq!(
            h.readiness(),
            Err("input not connected: pipeline not started; output not connected: pipeline not started".into())
        );
        h.set_input(true, "");
        assert_eq!(
            h.readiness(),
            Err("output not connected: pipeline not started".into())
        );
        h.set_output(true, "ignored when connected");
        assert_eq!(h.readiness(), Ok(()));
        h.set_output(false, "connection refused");
        assert_eq!(
            h.readiness(),
            Err("output not connected: connection refused".into())
        );
        h.reset("pipeline stopped");
        assert!(!h.input_connected() && !h.output_connected());
    }

    /// Connected is not enough: an output with work and no success yet, a failing
    /// dead-letter target, and a request hanging past half its timeout are not ready; an
    /// idle output is.
    #[test]
    fn ready_needs_a_first_success_a_working_dead_letter_and_no_hanging_request() {
        static H: Health = Health::new();
        H.set_input(true, "");
        H.set_output(true, "");
        let out = StageHealth::output_of(&H);
        assert_eq!(H.readiness(), Ok(()), "idle: nothing to send");

        let write = out.write_started();
        let err = H.readiness().expect_err("work, no success yet");
        assert!(err.contains("has not delivered anything yet"), "{err}");
        out.delivered();
        assert_eq!(H.readiness(), Ok(()));
        drop(write);

        out.dead_letter_failing("`dl.jsonl`: No space left on device");
        assert_eq!(
            H.readiness(),
            Err("dead-letter target failing: `dl.jsonl`: No space left on device".into())
        );
        out.dead_letter_ok();
        assert_eq!(H.readiness(), Ok(()));

        let req = out.request_sent(Duration::from_secs(10));
        let sent = Instant::now();
        assert_eq!(H.readiness_at(sent + Duration::from_secs(4)), Ok(()));
        let err = H
            .readiness_at(sent + Duration::from_secs(6))
            .expect_err("past half the timeout");
        assert!(
            err.starts_with(
                "output request unanswered for 6.0 s (more than half of its 10 s timeout)"
            ),
            "{err}"
        );
        drop(req);
        assert_eq!(H.readiness_at(sent + Duration::from_secs(60)), Ok(()));

        H.reset("pipeline stopped");
        H.set_input(true, "");
        H.set_output(true, "");
        let _w = out.write_started();
        assert!(H.readiness().is_err(), "a new run must succeed again");
    }
}
