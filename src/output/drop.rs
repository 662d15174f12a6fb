//! `output.drop`: takes everything, sends nothing (benchmarks, smoke tests).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{OutputPlan, OutputSpec, Planner};
use crate::pipeline::telemetry::metrics;
use crate::pipeline::{
    BatchPolicy, Body, Delivery, Encoder, Event, JsonEncoder, Output, WriteContext,
};

/// `drop: {}` takes no options.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {}

impl OutputSpec for DropConfig {
    fn plan(&self, _: &str, _: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        Some(Box::new(DropOutput))
    }
}

pub struct DropOutput;

impl OutputPlan for DropOutput {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        Ok(self)
    }
}

impl Output for DropOutput {
    fn name(&self) -> &'static str {
        "drop"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }

    fn batching(&self) -> BatchPolicy {
        BatchPolicy::at_hand(4096)
    }

    fn write(&self, events: Vec<Event>, _: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        let m = metrics::get();
        for ev in &events {
            if let Body::Failed { reason, .. } = &ev.body {
                tracing::error!(reason = %reason, position = %ev.origin.position, "message failed processing; dropped by output.drop");
                m.output_error.inc();
            } else {
                m.output_sent.inc();
            }
        }
        Ok(Delivery::delivered(events))
    }
}
