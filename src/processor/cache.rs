//! `cache`: sets, adds, gets or deletes a key of a cache of `cache_resources`, as Bento's
//! processor does. `get` replaces the message with the cached value; a missing key (`get`) or
//! an existing one (`add`) fails the message (its error flag), so `catch` can handle it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Planner, ProcessorSpec};
use crate::bloblang::interp::Interpolated;
use crate::bloblang::MessageRef;
use crate::document::Value;
use crate::pipeline::{Part, ProcessError, Processor, Step};
use crate::resource::Cache;

/// `cache:` — Bento's fields.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheProcessorConfig {
    /// The label of an entry of `cache_resources`.
    pub resource: String,
    /// `set`, `add`, `get` or `delete`.
    pub operator: String,
    /// The key, with `${! … }` interpolations.
    pub key: String,
    /// The value to store (`set`, `add`), with interpolations; default the whole message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// How long the entry lives (`set`, `add`), e.g. `60s`; default the cache's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Add,
    Get,
    Delete,
}

impl ProcessorSpec for CacheProcessorConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn Processor>> {
        let op = match self.operator.as_str() {
            "set" => Some(Op::Set),
            "add" => Some(Op::Add),
            "get" => Some(Op::Get),
            "delete" => Some(Op::Delete),
            other => {
                cx.problem(
                    format!("{path}.operator"),
                    format!("unknown operator `{other}`; use set, add, get or delete"),
                );
                None
            }
        };
        let mut text = |field: &str, src: &str| match Interpolated::compile(src) {
            Ok(i) => Some(i),
            Err(e) => {
                cx.mapping_error(&format!("{path}.{field}"), &e);
                None
            }
        };
        let key = text("key", &self.key);
        let value = self.value.as_deref().map(|v| text("value", v));
        let ttl = match self.ttl.as_deref() {
            None => None,
            Some(t) => match crate::config::duration::parse(t) {
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    cx.problem(format!("{path}.ttl"), e);
                    Some(None)
                }
            },
        };
        let cache = cx.cache(&self.resource, &format!("{path}.resource"));
        Some(Box::new(CacheProcessor {
            cache: cache?,
            op: op?,
            key: key?,
            value: value.map_or(Some(None), |v| v.map(Some))?,
            ttl: ttl.map_or(Some(None), |t| t.map(Some))?,
        }))
    }
}

struct CacheProcessor {
    cache: Arc<dyn Cache>,
    op: Op,
    key: Interpolated,
    value: Option<Interpolated>,
    ttl: Option<std::time::Duration>,
}

impl Processor for CacheProcessor {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError> {
        let _ = part.value();
        let null = Value::Null;
        let m = MessageRef {
            doc: part.value.as_ref().unwrap_or(&null),
            meta: &part.meta,
            origin: Some(&part.origin),
            raw: &part.raw,
            error: part.error.as_deref(),
        };
        let key = self.key.render(&m);
        let value = || match &self.value {
            Some(v) => v.render(&m).into_bytes(),
            None => m.raw.to_vec(),
        };
        match self.op {
            Op::Set => self.cache.set(&key, value(), self.ttl),
            Op::Add => {
                if !self.cache.add(&key, value(), self.ttl) {
                    return Err(ProcessError::new(format!(
                        "cache: key `{key}` already exists"
                    )));
                }
            }
            Op::Delete => self.cache.delete(&key),
            Op::Get => match self.cache.get(&key) {
                Some(v) => part.set_content(v),
                None => {
                    return Err(ProcessError::new(format!(
                        "cache: key `{key}` does not exist"
                    )))
                }
            },
        }
        Ok(Step::Continue)
    }
}
