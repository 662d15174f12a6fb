//! `output.stdout`: one JSON line per event. An event is delivered once its line is flushed.

use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{OutputPlan, OutputSpec, Planner};
use crate::pipeline::telemetry::metrics;
use crate::pipeline::{
    BatchPolicy, Body, Delivery, Encoder, Event, JsonEncoder, Output, WriteContext,
};

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Accepted for Bento compatibility; only `lines` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
}

impl OutputSpec for StdoutConfig {
    fn plan(&self, path: &str, cx: &mut Planner<'_>) -> Option<Box<dyn OutputPlan>> {
        if let Some(c) = &self.codec {
            if c != "lines" {
                cx.problem(
                    format!("{path}.codec"),
                    format!("codec `{c}` is not supported; use `lines`"),
                );
                return None;
            }
        }
        Some(Box::new(StdoutPlan))
    }
}

struct StdoutPlan;

impl OutputPlan for StdoutPlan {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        Ok(Box::new(StdoutOutput {
            out: Mutex::new(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            )),
        }))
    }
}

pub struct StdoutOutput {
    out: Mutex<std::io::BufWriter<std::io::Stdout>>,
}

impl Output for StdoutOutput {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }

    /// Whatever is at hand, written and flushed once: an acked line is a line that reached
    /// stdout. One writer, so lines keep their order.
    fn batching(&self) -> BatchPolicy {
        BatchPolicy::at_hand(1024)
    }

    fn write(&self, events: Vec<Event>, _: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        let m = metrics::get();
        let mut out = self.out.lock();
        for ev in &events {
            match &ev.body {
                Body::Ready(bytes) => {
                    out.write_all(bytes)?;
                    out.write_all(b"\n")?;
                    m.output_sent.inc();
                }
                Body::Failed { reason, .. } => {
                    tracing::error!(reason = %reason, position = %ev.origin.position, "message failed processing; not written");
                    m.output_error.inc();
                }
            }
        }
        out.flush()?;
        Ok(Delivery::delivered(events))
    }
}
