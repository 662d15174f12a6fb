//! `output.fallback`: a list of outputs tried in order. Events the first one does not take go
//! to the second, with why they failed (the dead-letter record's reason; Bento's
//! `fallback_error`), and so on. An event is delivered when any of them took it; it fails only
//! when the last one refused it too.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{OutputConfig, OutputPlan, OutputSpec, Planner};
use crate::pipeline::{BatchPolicy, Delivery, Encoder, Event, Output, WriteContext};

/// `fallback:` — the outputs, in the order they are tried.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct FallbackConfig(pub Vec<OutputConfig>);

impl OutputSpec for FallbackConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        if self.0.len() < 2 {
            cx.problem(
                path,
                "give at least two outputs: the first, and where its failures go",
            );
            return None;
        }
        let last = self.0.len() - 1;
        let outer = cx.has_fallback();
        let planned: Vec<_> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, c)| cx.with_fallback(i < last || outer, &format!("{path}.{i}"), c))
            .collect();
        Some(Box::new(Plan(planned.into_iter().collect::<Option<_>>()?)))
    }
}

struct Plan(Vec<Box<dyn OutputPlan>>);

impl OutputPlan for Plan {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        let outputs = self
            .0
            .into_iter()
            .map(|p| p.start())
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Box::new(Fallback::new(outputs)))
    }
}

/// The outputs, tried in order.
pub struct Fallback {
    outputs: Vec<Box<dyn Output>>,
}

impl Fallback {
    /// At least one output (the first is the one events are encoded for).
    pub fn new(outputs: Vec<Box<dyn Output>>) -> Fallback {
        Fallback { outputs }
    }
}

impl Output for Fallback {
    fn name(&self) -> &'static str {
        "fallback"
    }

    /// Events are encoded for the first output, the one that takes nearly all of them.
    fn encoder(&self) -> Arc<dyn Encoder> {
        self.outputs[0].encoder()
    }

    fn batching(&self) -> BatchPolicy {
        self.outputs[0].batching()
    }

    fn max_in_flight(&self) -> usize {
        self.outputs[0].max_in_flight()
    }

    fn write(&self, events: Vec<Event>, cx: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        let mut outputs = self.outputs.iter();
        let Some(first) = outputs.next() else {
            return Ok(Delivery::abandoned(events));
        };
        let mut done = first.write(events, cx)?;
        for (next, out) in outputs.enumerate() {
            if done.failed.is_empty() {
                break;
            }
            let failed = std::mem::take(&mut done.failed);
            tracing::warn!(
                events = failed.len(),
                reason = %failed[0].1.reason,
                to = out.name(),
                fallback = next + 1,
                "output did not take events; handing them to the next output of the fallback"
            );
            let moved: Vec<Event> = failed
                .into_iter()
                .map(|(mut e, f)| {
                    e.failure = Some(Box::new(f));
                    e
                })
                .collect();
            done.merge(out.write(moved, cx)?);
        }
        Ok(done)
    }
}
