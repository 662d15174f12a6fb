//! Exponential backoff with jitter: how long a retry waits (the flexprice output's requests,
//! the `retry` output, dead-letter writes).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The retry schedule: `initial_interval` doubling up to `max_interval`, at most
/// `max_retries` retries after the first attempt (0 = no limit where the caller says so), and
/// no retry that would start after `max_elapsed` (when set).
#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub max_elapsed: Option<Duration>,
    pub max_retries: u32,
}

impl Backoff {
    /// The un-jittered wait before retry number `retry` (1-based).
    pub fn base(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The wait before retry number `retry`: the base minus up to 20% jitter (so concurrent
    /// senders that failed together do not retry in lock-step, and `max_interval` stays a
    /// true maximum). A `Retry-After` from the server is a floor, itself capped at
    /// `max_interval` so a misbehaving server cannot park the sender pool for hours.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.base(retry);
        let jitter = base.mul_f64(0.2 * unit_random());
        let d = base.saturating_sub(jitter);
        match retry_after {
            Some(ra) => d.max(ra.min(self.max)),
            None => d,
        }
    }
}

/// A uniform number in [0, 1) from a per-thread xorshift generator seeded by the std
/// hasher's random keys: enough for jitter, and no extra dependency.
fn unit_random() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish() | 1);
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            max_elapsed: None,
            max_retries: 5,
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy();
        let bases: Vec<u128> = (1..=5).map(|r| p.base(r).as_millis()).collect();
        assert_eq!(bases, vec![100, 200, 400, 500, 500]);
        assert_eq!(p.base(200), Duration::from_millis(500), "no overflow");
    }

    #[test]
    fn jitter_stays_within_20_percent_below_base() {
        let p = policy();
        let mut seen_distinct = std::collections::HashSet::new();
        for _ in 0..1000 {
            let d = p.delay(2, None);
            assert!(
                d <= Duration::from_millis(200) && d >= Duration::from_millis(160),
                "{d:?}"
            );
            seen_distinct.insert(d);
        }
        assert!(seen_distinct.len() > 10, "jitter must vary");
    }

    #[test]
    fn retry_after_is_a_floor_capped_at_max() {
        let p = policy();
        assert!(p.delay(1, Some(Duration::from_millis(300))) >= Duration::from_millis(300));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_millis(500)
        );
    }
}
