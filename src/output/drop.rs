//! `output.drop`: acks everything, sends nothing (benchmarks, smoke tests).

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::{Body, Encoder, Event, JsonEncoder, Output};
use crate::delivery::Ack;
use crate::observe::metrics;
use crate::runtime::Control;

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
                tracing::error!(reason = %reason, topic = %ev.origin.topic, partition = ev.origin.partition, offset = ev.origin.offset, "message failed processing; dropped by output.drop");
                m.output_error.inc();
            } else {
                m.output_sent.inc();
            }
            Ack::ack(ev.ack);
        }
        Ok(())
    }
}
