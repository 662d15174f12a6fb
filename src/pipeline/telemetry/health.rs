//! Readiness (`/ready`): is the input connected to its source, is the output connected to the
//! API. Components report what they see; `/ready` reads.
//!
//! The output may report after every request, so reporting "connected" while already connected
//! is one atomic load, no lock; the lock (for the reason text) is taken only on a change or a
//! failure.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

#[derive(Debug)]
struct Side {
    connected: AtomicBool,
    reason: Mutex<String>,
}

impl Side {
    const fn new() -> Side {
        Side {
            connected: AtomicBool::new(false),
            reason: Mutex::new(String::new()),
        }
    }
}

/// The readiness of both ends of the pipeline.
#[derive(Debug)]
pub struct Health {
    input: Side,
    output: Side,
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
            input: Side::new(),
            output: Side::new(),
        }
    }

    pub fn set_input(&self, connected: bool, reason: &str) {
        set(&self.input, connected, reason);
    }

    pub fn set_output(&self, connected: bool, reason: &str) {
        set(&self.output, connected, reason);
    }

    /// Both ends disconnected with the same reason (before a run, after it).
    pub fn reset(&self, reason: &str) {
        self.set_input(false, reason);
        self.set_output(false, reason);
    }

    /// `Ok` when both ends are connected, else what is not, e.g.
    /// `output not connected: POST /v1/events: connection refused`.
    pub fn readiness(&self) -> Result<(), String> {
        let mut why = Vec::new();
        for (name, side) in [("input", &self.input), ("output", &self.output)] {
            if !side.connected.load(Ordering::Acquire) {
                let r = side.reason.lock();
                let reason = if r.is_empty() { NOT_STARTED } else { &r };
                why.push(format!("{name} not connected: {reason}"));
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }

    pub fn input_connected(&self) -> bool {
        self.input.connected.load(Ordering::Acquire)
    }

    pub fn output_connected(&self) -> bool {
        self.output.connected.load(Ordering::Acquire)
    }
}

fn set(side: &Side, connected: bool, reason: &str) {
    if connected && side.connected.load(Ordering::Acquire) {
        return; // the common case: still connected
    }
    let mut r = side.reason.lock();
    r.clear();
    if !connected {
        r.push_str(reason);
    }
    side.connected.store(connected, Ordering::Release);
}

static HEALTH: Health = Health::new();

/// One stage's side of `/ready`, handed to it in its context: it reports what it sees.
#[derive(Clone, Copy, Debug)]
pub struct StageHealth {
    side: &'static Side,
}

impl StageHealth {
    /// The input's side.
    pub fn input() -> StageHealth {
        StageHealth {
            side: &HEALTH.input,
        }
    }

    /// The output's side.
    pub fn output() -> StageHealth {
        StageHealth {
            side: &HEALTH.output,
        }
    }

    /// Connected (cheap when already so: one atomic load).
    pub fn connected(&self) {
        set(self.side, true, "");
    }

    /// Not connected, and why (shown by `/ready`).
    pub fn disconnected(&self, reason: &str) {
        set(self.side, false, reason);
    }

    pub fn is_connected(&self) -> bool {
        self.side.connected.load(Ordering::Acquire)
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

/// The output reports whether it can reach the API (Flexprice: `true` after a 2xx/4xx answer,
/// `false` with the error after a connection failure, timeout or 5xx).
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
}
