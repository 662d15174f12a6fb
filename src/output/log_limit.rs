//! At most one log line a minute for a condition that repeats on every retry (a key the API
//! refuses, a full dead-letter disk): the first occurrence is logged at once, a changed one
//! too, then a reminder a minute later, instead of a line per attempt per sender.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Shared by every writer of one output.
#[derive(Debug)]
pub struct LogLimit {
    every: Duration,
    /// When the last line was logged, and what it was about.
    last: Mutex<Option<(Instant, String)>>,
}

impl LogLimit {
    pub const fn per_minute() -> LogLimit {
        LogLimit {
            every: Duration::from_secs(60),
            last: Mutex::new(None),
        }
    }

    /// Whether a line about `what` is due now: the first time, when `what` changed, or a
    /// minute after the last line. Taking the answer `true` counts as logging it.
    pub fn allow(&self, what: &str) -> bool {
        self.allow_at(what, Instant::now())
    }

    fn allow_at(&self, what: &str, now: Instant) -> bool {
        let mut last = self.last.lock();
        let due = match &*last {
            Some((at, about)) => about != what || now.saturating_duration_since(*at) >= self.every,
            None => true,
        };
        if due {
            *last = Some((now, what.to_string()));
        }
        due
    }

    /// The condition is over: the next occurrence is logged at once.
    pub fn clear(&self) {
        *self.last.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_minute_per_condition() {
        let l = LogLimit::per_minute();
        let t = Instant::now();
        assert!(l.allow_at("401", t));
        assert!(!l.allow_at("401", t + Duration::from_secs(1)));
        assert!(!l.allow_at("401", t + Duration::from_secs(59)));
        assert!(l.allow_at("401", t + Duration::from_secs(60)));
        assert!(
            l.allow_at("404", t + Duration::from_secs(61)),
            "a new condition"
        );
        l.clear();
        assert!(
            l.allow_at("404", t + Duration::from_secs(62)),
            "after it ended"
        );
    }
}
