//! Shared resources that components refer to by label (Bento's `rate_limit_resources` and
//! `cache_resources`): one instance per label, shared by every component that names it, built
//! when the config is planned (no I/O).

pub mod cache;
pub mod rate_limit;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Problems;

pub use cache::{Cache, CacheConfig};
pub use rate_limit::{RateLimit, RateLimitConfig};

/// The rate limits and caches of a config, by label.
#[derive(Default)]
pub struct Resources {
    pub rate_limits: BTreeMap<String, Arc<dyn RateLimit>>,
    pub caches: BTreeMap<String, Arc<dyn Cache>>,
}

impl Resources {
    /// Build every resource; each problem at its entry (`rate_limit_resources.0.local.count`).
    pub fn plan(
        rate_limits: &[(String, RateLimitConfig)],
        caches: &[(String, CacheConfig)],
        p: &mut Problems,
    ) -> Resources {
        let mut out = Resources::default();
        for (at, c) in rate_limits {
            let path = format!("{at}.{}", c.component.name());
            if let Some(r) = c.component.spec().plan(&path, p) {
                out.rate_limits.insert(c.label.clone(), r);
            }
        }
        for (at, c) in caches {
            let path = format!("{at}.{}", c.component.name());
            if let Some(r) = c.component.spec().plan(&path, p) {
                out.caches.insert(c.label.clone(), r);
            }
        }
        out
    }

    /// The rate limit labelled `name`, or a problem at `path` naming the ones there are.
    pub fn rate_limit(
        &self,
        name: &str,
        path: &str,
        p: &mut Problems,
    ) -> Option<Arc<dyn RateLimit>> {
        found(
            &self.rate_limits,
            "rate limit",
            "rate_limit_resources",
            name,
            path,
            p,
        )
    }

    /// The cache labelled `name`, or a problem at `path` naming the ones there are.
    pub fn cache(&self, name: &str, path: &str, p: &mut Problems) -> Option<Arc<dyn Cache>> {
        found(&self.caches, "cache", "cache_resources", name, path, p)
    }
}

fn found<T: ?Sized>(
    map: &BTreeMap<String, Arc<T>>,
    what: &str,
    section: &str,
    name: &str,
    path: &str,
    p: &mut Problems,
) -> Option<Arc<T>> {
    match map.get(name) {
        Some(r) => Some(Arc::clone(r)),
        None => {
            missing(map.keys(), what, section, name, path, p);
            None
        }
    }
}

/// The entry labelled `name` of a resource section whose entries are planned where they are
/// used (`output_resources`, `processor_resources`: config and path by label), unless it is
/// missing or already being planned (`resolving`: the labels on the way here, so a resource
/// that names itself is a problem, not an endless loop).
pub fn entry<'r, T>(
    map: &'r BTreeMap<String, (String, T)>,
    resolving: &[String],
    what: &str,
    section: &str,
    name: &str,
    path: &str,
    p: &mut Problems,
) -> Option<&'r (String, T)> {
    let Some(e) = map.get(name) else {
        missing(map.keys(), what, section, name, path, p);
        return None;
    };
    if resolving.iter().any(|r| r == name) {
        p.add(
            path,
            format!(
                "{what} resource `{name}` refers to itself (through {})",
                resolving.join(" → ")
            ),
        );
        return None;
    }
    Some(e)
}

fn missing<'k>(
    known: impl Iterator<Item = &'k String>,
    what: &str,
    section: &str,
    name: &str,
    path: &str,
    p: &mut Problems,
) {
    let known: Vec<&str> = known.map(String::as_str).collect();
    p.add(
        path,
        if known.is_empty() {
            format!("no {what} resource `{name}`: `{section}` is empty")
        } else {
            format!(
                "no {what} resource `{name}`; `{section}` has {}",
                known.join(", ")
            )
        },
    );
}
