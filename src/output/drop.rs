//! `output.drop`: acks everything, sends nothing (benchmarks, smoke tests).

use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::pipeline::telemetry::metrics;
use crate::pipeline::Ack;
use crate::pipeline::Control;
use crate::pipeline::{Body, Encoder, Event, JsonEncoder, Output};

pub struct DropOutput;

impl Output for DropOutput {
    fn name(&self) -> &'static str {
        "drop"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }

    fn run(self: Box<Self>, events: Receiver<Vec<Event>>, _ctl: &Control) -> anyhow::Result<()> {
        let m = metrics::get();
        for ev in events.iter().flatten() {
            if let Body::Failed { reason, .. } = &ev.body {
                tracing::error!(reason = %reason, position = %ev.origin.position, "message failed processing; dropped by output.drop");
                m.output_error.inc();
            } else {
                m.output_sent.inc();
            }
            Ack::ack(ev.ack);
        }
        Ok(())
    }
}
