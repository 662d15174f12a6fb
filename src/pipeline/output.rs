//! The output stage: what an output is to the runtime, and what it answers.
//!
//! Work is split in two so the hot path parallelises: an [`Encoder`] runs on every processor
//! thread and turns a finished document into the exact bytes the output will send (validating
//! it on the way); the runtime batches those events by the output's [`BatchPolicy`] and a pool
//! of `max_in_flight` threads calls [`Output::write`].
//!
//! Outputs compose as in Bento: `write` is synchronous and says per event what happened, so
//! a wrapping output (`fallback`, `retry`) decides what a failure means by calling its
//! children in turn; nothing between them is a queue, so no composition can deadlock.

use std::sync::Arc;
use std::time::Duration;

use super::telemetry::health::StageHealth;
use super::{Control, Event, Failure, Origin};
use crate::document::Value;

/// Turns a finished document into the bytes the output sends, or says why it cannot.
/// Runs on processor threads; must be cheap to share.
pub trait Encoder: Send + Sync {
    fn encode(&self, doc: &Value, origin: &Origin) -> Result<Vec<u8>, String>;
}

/// Encodes a document as compact JSON (outputs that do not reshape events).
pub struct JsonEncoder;

impl Encoder for JsonEncoder {
    fn encode(&self, doc: &Value, _: &Origin) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(256);
        doc.write_json(&mut out);
        Ok(out)
    }
}

/// A destination, or a composition of destinations.
pub trait Output: Send + Sync {
    /// Short name for logs (`flexprice`, `fallback`, …).
    fn name(&self) -> &'static str;

    /// The per-event encoder the processor threads run for this output.
    fn encoder(&self) -> Arc<dyn Encoder>;

    /// How the runtime cuts the event stream into the batches `write` gets.
    fn batching(&self) -> BatchPolicy {
        BatchPolicy::at_hand(1024)
    }

    /// How many `write` calls may run at once (threads in the runtime's writer pool).
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Deliver `events` and say what became of each: every event comes back in exactly one
    /// list of the [`Delivery`]. `Err` means the output itself is broken (stdout closed): the
    /// pipeline stops, the events stay un-acked and are redelivered.
    fn write(&self, events: Vec<Event>, cx: &WriteContext<'_>) -> anyhow::Result<Delivery>;
}

/// What became of the events given to [`Output::write`].
#[derive(Debug, Default)]
pub struct Delivery {
    /// Taken by the destination (or durably written): the runtime acks them.
    pub delivered: Vec<Event>,
    /// Not taken, each with why: a wrapping output may try elsewhere.
    pub failed: Vec<(Event, Failure)>,
    /// Left undecided because the shutdown deadline passed: dropped un-acked, so they are
    /// redelivered after a restart.
    pub abandoned: Vec<Event>,
}

impl Delivery {
    pub fn delivered(events: Vec<Event>) -> Delivery {
        Delivery {
            delivered: events,
            ..Delivery::default()
        }
    }

    pub fn abandoned(events: Vec<Event>) -> Delivery {
        Delivery {
            abandoned: events,
            ..Delivery::default()
        }
    }

    /// Every event failed for the same reason.
    pub fn failed(events: Vec<Event>, failure: &Failure) -> Delivery {
        Delivery {
            failed: events.into_iter().map(|e| (e, failure.clone())).collect(),
            ..Delivery::default()
        }
    }

    /// Add another delivery's events to this one.
    pub fn merge(&mut self, other: Delivery) {
        self.delivered.extend(other.delivered);
        self.failed.extend(other.failed);
        self.abandoned.extend(other.abandoned);
    }

    pub fn len(&self) -> usize {
        self.delivered.len() + self.failed.len() + self.abandoned.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a `write` is given besides its events.
pub struct WriteContext<'a> {
    /// The stop signal and its deadline: past it, a write gives up waiting and abandons.
    pub control: &'a Control,
    /// The output side of `/ready`.
    pub health: StageHealth,
}

/// How the runtime cuts events into batches for one output. The limits are upper bounds: a
/// batch is closed before an event that would take it past `max_count` or `max_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_count: usize,
    /// Bytes of a batch: the events' bytes, `separator` between two events, `framing` once.
    pub max_bytes: usize,
    pub separator: usize,
    pub framing: usize,
    /// Close a batch this long after its first event arrived.
    pub period: Option<Duration>,
    /// Close a batch whenever no more events are waiting (write what is at hand): for outputs
    /// where a batch only saves work, not a request count the user chose.
    pub at_hand: bool,
}

impl BatchPolicy {
    /// Batches of what is at hand, at most `max_count`.
    pub fn at_hand(max_count: usize) -> BatchPolicy {
        BatchPolicy {
            max_count: max_count.max(1),
            max_bytes: usize::MAX,
            separator: 0,
            framing: 0,
            period: None,
            at_hand: true,
        }
    }

    /// Bytes a batch of `count` events totalling `bytes` takes.
    pub fn size(&self, count: usize, bytes: usize) -> usize {
        bytes
            .saturating_add(count.saturating_sub(1).saturating_mul(self.separator))
            .saturating_add(self.framing)
    }
}
