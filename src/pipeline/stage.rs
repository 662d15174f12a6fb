//! The stage traits: what an input, a processor and an output are to the runtime that runs
//! them, and what each is given when it runs.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::{Chunk, Control, Event, Origin};
use crate::document::{Map, Value};

/// A source of messages.
pub trait Input: Send {
    /// Short name for logs (`kafka`, `stdin`, …).
    fn name(&self) -> &'static str;

    /// Read until the source ends or `ctl` asks to stop, sending every message to `out`, in
    /// chunks of at most `chunk` messages.
    ///
    /// Contract: return once no more messages will be sent (dropping `out` is what lets the
    /// rest of the pipeline drain). An input with positions to commit (Kafka) may keep running
    /// after that to commit acks: it calls `ctl.wait_drained(...)` after dropping `out`.
    fn run(self: Box<Self>, out: Sender<Chunk>, chunk: usize, ctl: &Control) -> anyhow::Result<()>;
}

/// A message inside the pipeline.
#[derive(Debug)]
pub struct Part {
    pub(crate) raw: Vec<u8>,
    pub(crate) value: Option<Value>,
    /// Metadata set by mappings (`meta foo = …`). Source metadata (`kafka_*`) comes from
    /// [`Part::origin`] on demand, so a message pays for it only when a mapping reads it.
    pub meta: Map,
    pub origin: Origin,
}

impl Part {
    pub fn new(raw: Vec<u8>, origin: Origin) -> Part {
        Part {
            raw,
            value: None,
            meta: Map::new(),
            origin,
        }
    }

    /// The raw payload as received (`content()`).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The payload as a document, parsed on first use.
    pub fn value(&mut self) -> Result<&mut Value, ProcessError> {
        if self.value.is_none() {
            // The parser works on its own copy: `raw` stays as received (for `content()`,
            // the dead-letter file, and the number literals `Value` keeps).
            let v = Value::from_json_bytes(&self.raw)
                .map_err(|e| ProcessError::new(format!("payload is not valid JSON: {e}")))?;
            self.value = Some(v);
        }
        Ok(self.value.get_or_insert(Value::Null))
    }

    /// Replace the document (a `mapping` result).
    pub fn set_value(&mut self, v: Value) {
        self.value = Some(v);
    }

    /// Take the document out, parsing it if no processor did.
    pub fn take_value(&mut self) -> Result<Value, ProcessError> {
        self.value()?;
        Ok(self.value.take().unwrap_or(Value::Null))
    }

    /// The origin and the raw payload, for what goes out (or to the dead-letter sink).
    pub fn into_parts(self) -> (Origin, Vec<u8>) {
        (self.origin, self.raw)
    }
}

/// What happens to a part after a processor ran.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Filtered out (`root = deleted()`): acked, counted, not sent.
    Drop,
}

/// Why a processor failed a message. Shown to users and written to the dead-letter sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessError(pub String);

impl ProcessError {
    pub fn new(m: impl Into<String>) -> ProcessError {
        ProcessError(m.into())
    }
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub trait Processor: Send + Sync {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError>;

    /// Reads a message's metadata: only then does the input carry each message's source
    /// metadata that costs a copy (a Kafka key, parsed headers) to the pipeline. True unless
    /// a processor knows better.
    fn reads_metadata(&self) -> bool {
        true
    }
}

/// Turns a finished document into the bytes the output sends, or says why it cannot.
/// Runs on processor threads; must be cheap to share.
pub trait Encoder: Send + Sync {
    fn encode(&self, doc: &Value, origin: &Origin) -> Result<Vec<u8>, String>;
}

pub trait Output: Send {
    fn name(&self) -> &'static str;

    /// The per-event encoder the processor threads use.
    fn encoder(&self) -> Arc<dyn Encoder>;

    /// Deliver events (in chunks, as the processor threads finish them) until `events` is
    /// closed and everything received is acked (or left un-acked for redelivery when `ctl`
    /// says the shutdown deadline has passed).
    fn run(self: Box<Self>, events: Receiver<Vec<Event>>, ctl: &Control) -> anyhow::Result<()>;
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
