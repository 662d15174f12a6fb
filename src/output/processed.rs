//! An output's own `processors:` (Bento's output processors): each event is run through them
//! just before the output writes it, as a message of its own (the encoded event is its
//! content), then encoded for that output again.

use std::sync::Arc;

use super::OutputPlan;
use crate::pipeline::{
    run_chain, BatchPolicy, Body, Delivery, Encoder, Event, Output, Part, Processor, Step,
    WriteContext,
};

pub struct Plan {
    pub processors: Vec<Box<dyn Processor>>,
    pub inner: Box<dyn OutputPlan>,
}

impl OutputPlan for Plan {
    fn start(self: Box<Self>) -> anyhow::Result<Box<dyn Output>> {
        let inner = self.inner.start()?;
        Ok(Box::new(Processed {
            encoder: inner.encoder(),
            processors: self.processors,
            inner,
        }))
    }
}

struct Processed {
    processors: Vec<Box<dyn Processor>>,
    encoder: Arc<dyn Encoder>,
    inner: Box<dyn Output>,
}

impl Output for Processed {
    fn name(&self) -> &'static str {
        self.inner.name()
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
        let mut keep = Vec::with_capacity(events.len());
        let mut filtered = Vec::new();
        for mut ev in events {
            let (raw, error) = match std::mem::replace(&mut ev.body, Body::Ready(Vec::new())) {
                Body::Ready(b) => (b, None),
                Body::Failed { raw, reason } => (raw, Some(reason)),
            };
            let mut part = Part::new(raw, ev.origin.clone());
            part.error = error;
            if run_chain(&self.processors, &mut part) == Step::Drop {
                // Filtered out by the output's own processors: done, as Bento acks it.
                ev.body = Body::Ready(Vec::new());
                filtered.push(ev);
                continue;
            }
            ev.body = match part.error.take() {
                Some(reason) => Body::Failed {
                    raw: part.into_parts().1,
                    reason,
                },
                None => match part
                    .take_value()
                    .map_err(|e| e.0)
                    .and_then(|doc| self.encoder.encode(&doc, &ev.origin))
                {
                    Ok(bytes) => Body::Ready(bytes),
                    Err(reason) => Body::Failed {
                        raw: part.into_parts().1,
                        reason,
                    },
                },
            };
            keep.push(ev);
        }
        let mut done = if keep.is_empty() {
            Delivery::default()
        } else {
            self.inner.write(keep, cx)?
        };
        done.delivered.extend(filtered);
        Ok(done)
    }
}
