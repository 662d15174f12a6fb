//! `output.retry`: sends the events its output did not take again, with exponential backoff,
//! until it takes them or `max_retries` is spent (then they fail, e.g. to a `fallback`).
//! Field names and defaults are Bento's.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Backoff, OutputConfig, OutputPlan, OutputSpec, Planner};
use crate::config::Duration;
use crate::pipeline::{BatchPolicy, Delivery, Encoder, Event, Output, WriteContext};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The output to retry.
    pub output: Box<OutputConfig>,
    /// Retries after the first attempt before the events fail; 0 = no limit (Bento's default).
    #[serde(default)]
    pub max_retries: u64,
    #[serde(default)]
    pub backoff: RetryBackoff,
}

/// Bento's `backoff` block of the `retry` output.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBackoff {
    /// Wait before the first retry (doubling from there).
    #[serde(default = "default_initial")]
    pub initial_interval: Duration,
    /// Longest wait between two attempts.
    #[serde(default = "default_max")]
    pub max_interval: Duration,
    /// Stop retrying once this much time has passed since the first attempt; 0 = no limit.
    #[serde(default)]
    pub max_elapsed_time: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        RetryBackoff {
            initial_interval: default_initial(),
            max_interval: default_max(),
            max_elapsed_time: Duration::default(),
        }
    }
}

fn default_initial() -> Duration {
    Duration::from_millis(500)
}
fn default_max() -> Duration {
    Duration::from_secs(3)
}

impl OutputSpec for RetryConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        let b = &self.backoff;
        let mut ok = true;
        if b.initial_interval.is_zero() {
            cx.problem(
                format!("{path}.backoff.initial_interval"),
                "must be greater than zero (a retry loop without a pause)",
            );
            ok = false;
        }
        if b.max_interval < b.initial_interval {
            cx.problem(
                format!("{path}.backoff.max_interval"),
                "must not be less than `initial_interval`",
            );
            ok = false;
        }
        let inner = cx.one(&format!("{path}.output"), &self.output)?;
        ok.then(|| {
            Box::new(Plan {
                inner,
                max_retries: self.max_retries,
                backoff: Backoff {
                    initial: b.initial_interval.get(),
                    max: b.max_interval.get(),
                    max_elapsed: (!b.max_elapsed_time.is_zero()).then(|| b.max_elapsed_time.get()),
                    max_retries: u32::try_from(self.max_retries).unwrap_or(u32::MAX),
                },
            }) as Box<dyn OutputPlan>
        })
    }
}

struct Plan {
    inner: Box<dyn OutputPlan>,
    max_retries: u64,
    backoff: Backoff,
}

impl OutputPlan for Plan {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        Ok(Box::new(Retry {
            inner: self.inner.start()?,
            max_retries: self.max_retries,
            backoff: self.backoff,
        }))
    }
}

struct Retry {
    inner: Box<dyn Output>,
    max_retries: u64,
    backoff: Backoff,
}

impl Output for Retry {
    fn name(&self) -> &'static str {
        "retry"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        self.inner.encoder()
    }

    fn batching(&self) -> BatchPolicy {
        self.inner.batching()
    }

    fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }

    fn write(&self, events: Vec<Event>, cx: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        let first = Instant::now();
        let mut done = self.inner.write(events, cx)?;
        let mut retries = 0u64;
        while !done.failed.is_empty() {
            if self.max_retries > 0 && retries >= self.max_retries {
                break;
            }
            let wait = self
                .backoff
                .delay(retries.min(u64::from(u32::MAX)) as u32 + 1, None);
            if self
                .backoff
                .max_elapsed
                .is_some_and(|max| first.elapsed() + wait > max)
            {
                break;
            }
            retries += 1;
            tracing::warn!(
                events = done.failed.len(),
                reason = %done.failed[0].1.reason,
                retry = retries,
                wait_ms = wait.as_millis() as u64,
                "output did not take events; retrying"
            );
            if !cx.control.wait(wait) {
                let left = std::mem::take(&mut done.failed);
                done.abandoned.extend(left.into_iter().map(|(e, _)| e));
                break;
            }
            let again: Vec<Event> = std::mem::take(&mut done.failed)
                .into_iter()
                .map(|(e, _)| e)
                .collect();
            done.merge(self.inner.write(again, cx)?);
        }
        Ok(done)
    }
}
