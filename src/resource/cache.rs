//! `cache_resources`: key/value caches that components share by label. Bento's `memory`
//! cache: entries expire `default_ttl` after they were set (a `ttl` per set overrides it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::{Duration, Problems};

crate::one_of! {
    /// One entry of `cache_resources` (it needs a `label`).
    pub struct CacheConfig of CacheKind as CacheSpec, via CacheSection = "CacheSection" ("cache") {
        memory => Memory(MemoryConfig),
    }
}

/// What every cache component's config does: check itself and become the cache.
pub trait CacheSpec {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Arc<dyn Cache>>;
}

/// A cache shared by every component that names it.
pub trait Cache: Send + Sync {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Set `key`, for `ttl` (or the cache's default).
    fn set(&self, key: &str, value: Vec<u8>, ttl: Option<StdDuration>);
    /// Set `key` only if it is not there; false if it was.
    fn add(&self, key: &str, value: Vec<u8>, ttl: Option<StdDuration>) -> bool;
    fn delete(&self, key: &str);
}

/// `memory:` — Bento's fields and defaults.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// How long an entry lives; 0 = for ever.
    #[serde(default = "default_ttl")]
    pub default_ttl: Duration,
    /// How often expired entries are removed (they are never returned after expiry anyway).
    #[serde(default = "default_compaction")]
    pub compaction_interval: Duration,
    /// Entries the cache starts with.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub init_values: std::collections::BTreeMap<String, String>,
    /// Accepted for Bento compatibility (one lock is plenty here).
    #[serde(default = "default_shards")]
    pub shards: u64,
}

fn default_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_compaction() -> Duration {
    Duration::from_secs(60)
}
fn default_shards() -> u64 {
    1
}

/// The most entries a memory cache holds; beyond it, adding evicts expired entries first and
/// then refuses (a cache must not grow the collector's memory without bound).
pub const MAX_ENTRIES: usize = 100_000;

impl CacheSpec for MemoryConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Arc<dyn Cache>> {
        if self.shards == 0 {
            p.add(format!("{path}.shards"), "must be at least 1");
            return None;
        }
        let ttl = (!self.default_ttl.is_zero()).then(|| self.default_ttl.get());
        let cache = Memory {
            ttl,
            compaction: self.compaction_interval.get(),
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                compacted: Instant::now(),
            }),
        };
        for (k, v) in &self.init_values {
            cache.set(k, v.clone().into_bytes(), None);
        }
        Some(Arc::new(cache))
    }
}

struct Memory {
    ttl: Option<StdDuration>,
    compaction: StdDuration,
    entries: Mutex<Entries>,
}

struct Entries {
    map: HashMap<String, (Vec<u8>, Option<Instant>)>,
    compacted: Instant,
}

impl Entries {
    fn live(&self, key: &str, now: Instant) -> Option<&Vec<u8>> {
        match self.map.get(key) {
            Some((v, expires)) if expires.is_none_or(|e| e > now) => Some(v),
            _ => None,
        }
    }

    fn compact(&mut self, now: Instant, every: StdDuration) {
        if now.duration_since(self.compacted) >= every || self.map.len() >= MAX_ENTRIES {
            self.map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
            self.compacted = now;
        }
    }
}

impl Memory {
    fn put(&self, key: &str, value: Vec<u8>, ttl: Option<StdDuration>, only_new: bool) -> bool {
        let now = Instant::now();
        let mut e = self.entries.lock();
        e.compact(now, self.compaction);
        if only_new && e.live(key, now).is_some() {
            return false;
        }
        if e.map.len() >= MAX_ENTRIES && !e.map.contains_key(key) {
            tracing::warn!(
                entries = MAX_ENTRIES,
                "memory cache is full; entry not stored"
            );
            return false;
        }
        let expires = ttl.or(self.ttl).map(|t| now + t);
        e.map.insert(key.to_string(), (value, expires));
        true
    }
}

impl Cache for Memory {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.lock().live(key, Instant::now()).cloned()
    }

    fn set(&self, key: &str, value: Vec<u8>, ttl: Option<StdDuration>) {
        self.put(key, value, ttl, false);
    }

    fn add(&self, key: &str, value: Vec<u8>, ttl: Option<StdDuration>) -> bool {
        self.put(key, value, ttl, true)
    }

    fn delete(&self, key: &str) {
        self.entries.lock().map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl_ms: u64) -> Arc<dyn Cache> {
        let c = MemoryConfig {
            default_ttl: Duration::from_millis(ttl_ms),
            compaction_interval: Duration::from_secs(60),
            init_values: [("seed".to_string(), "1".to_string())].into(),
            shards: 1,
        };
        c.plan("c", &mut Problems::default()).expect("plans")
    }

    #[test]
    fn set_get_add_delete_and_expiry() {
        let c = cache(0);
        assert_eq!(c.get("seed").as_deref(), Some(&b"1"[..]));
        assert!(c.add("k", b"a".to_vec(), None));
        assert!(!c.add("k", b"b".to_vec(), None), "add keeps what is there");
        c.set("k", b"c".to_vec(), None);
        assert_eq!(c.get("k").as_deref(), Some(&b"c"[..]));
        c.delete("k");
        assert_eq!(c.get("k"), None);
        c.set("short", b"x".to_vec(), Some(StdDuration::ZERO));
        assert_eq!(c.get("short"), None, "expired at once");
    }
}
