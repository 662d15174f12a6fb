//! Readiness (`/ready`): is the input connected to its source, is the output connected to the
//! API. Components report transitions; `/ready` reads. Neither happens per event, so a mutex is
//! fine here.

use parking_lot::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Side {
    connected: bool,
    reason: String,
}

/// The readiness of both ends of the pipeline.
#[derive(Debug)]
pub struct Health {
    input: Mutex<Side>,
    output: Mutex<Side>,
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
            input: Mutex::new(Side {
                connected: false,
                reason: String::new(),
            }),
            output: Mutex::new(Side {
                connected: false,
                reason: String::new(),
            }),
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
            let s = side.lock();
            if !s.connected {
                let reason = if s.reason.is_empty() {
                    NOT_STARTED
                } else {
                    &s.reason
                };
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
        self.input.lock().connected
    }

    pub fn output_connected(&self) -> bool {
        self.output.lock().connected
    }
}

fn set(side: &Mutex<Side>, connected: bool, reason: &str) {
    let mut s = side.lock();
    s.connected = connected;
    s.reason.clear();
    if !connected {
        s.reason.push_str(reason);
    }
}

static HEALTH: Health = Health::new();

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
