//! `rate_limit_resources`: limits that `rate_limit` processors share by label. Bento's `local`
//! rate limit: at most `count` messages (and, when set, `byte_size` bytes) per `interval`.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::{Duration, Problems};

crate::one_of! {
    /// One entry of `rate_limit_resources` (it needs a `label`).
    pub struct RateLimitConfig of RateLimitKind as RateLimitSpec, via RateLimitSection = "RateLimitSection" ("rate limit") {
        local => Local(LocalConfig),
    }
}

/// What every rate-limit component's config does: check itself and become the limit.
pub trait RateLimitSpec {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Arc<dyn RateLimit>>;
}

/// A limit shared by every processor that names it.
pub trait RateLimit: Send + Sync {
    /// Take one access for a message of `bytes` bytes: `None` if granted now, else how long
    /// to wait before asking again.
    fn access(&self, bytes: usize) -> Option<StdDuration>;
}

/// `local:` — Bento's fields and defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Messages allowed per interval.
    #[serde(default = "default_count")]
    pub count: u64,
    /// Bytes allowed per interval; 0 = no byte limit.
    #[serde(default)]
    pub byte_size: u64,
    /// The window the limits apply to.
    #[serde(default = "default_interval")]
    pub interval: Duration,
}

fn default_count() -> u64 {
    1000
}
fn default_interval() -> Duration {
    Duration::from_secs(1)
}

impl RateLimitSpec for LocalConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Arc<dyn RateLimit>> {
        let mut ok = true;
        if self.count == 0 {
            p.add(format!("{path}.count"), "must be at least 1");
            ok = false;
        }
        if self.interval.is_zero() {
            p.add(format!("{path}.interval"), "must be greater than zero");
            ok = false;
        }
        ok.then(|| {
            Arc::new(Local {
                count: self.count,
                byte_size: self.byte_size,
                interval: self.interval.get(),
                window: Mutex::new(Window {
                    started: Instant::now(),
                    used: 0,
                    bytes: 0,
                }),
            }) as Arc<dyn RateLimit>
        })
    }
}

/// A fixed window that starts again every `interval`, as Bento's local rate limit counts.
struct Local {
    count: u64,
    byte_size: u64,
    interval: StdDuration,
    window: Mutex<Window>,
}

struct Window {
    started: Instant,
    used: u64,
    bytes: u64,
}

impl RateLimit for Local {
    fn access(&self, bytes: usize) -> Option<StdDuration> {
        let now = Instant::now();
        let mut w = self.window.lock();
        if now.duration_since(w.started) >= self.interval {
            *w = Window {
                started: now,
                used: 0,
                bytes: 0,
            };
        }
        let bytes = bytes as u64;
        let over_bytes = self.byte_size > 0 && w.bytes > 0 && w.bytes + bytes > self.byte_size;
        if w.used >= self.count || over_bytes {
            return Some((w.started + self.interval).saturating_duration_since(now));
        }
        w.used += 1;
        w.bytes += bytes;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_grants_count_then_says_how_long_to_wait() {
        let c = LocalConfig {
            count: 3,
            byte_size: 0,
            interval: Duration::from_secs(60),
        };
        let limit = c.plan("r", &mut Problems::default()).expect("plans");
        for _ in 0..3 {
            assert_eq!(limit.access(10), None);
        }
        let wait = limit.access(10).expect("the fourth waits");
        assert!(wait > StdDuration::from_secs(50) && wait <= StdDuration::from_secs(60));
    }

    #[test]
    fn zero_count_or_interval_is_a_problem() {
        let mut p = Problems::default();
        let c = LocalConfig {
            count: 0,
            byte_size: 0,
            interval: Duration::default(),
        };
        assert!(c.plan("rate_limit_resources.0.local", &mut p).is_none());
        assert_eq!(p.len(), 2);
    }
}
