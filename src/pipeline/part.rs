//! The processor stage: a message being processed ([`Part`]) and what a processor is.

use super::Origin;
use crate::document::{Map, Value};

/// Stack of a processor thread. Parsing, mapping, encoding and dropping a document recurse
/// once per nesting level; the deepest document the parser accepts (1023 levels) needs about
/// 1–2 MiB of stack in a debug build (far less in release), close to Rust's 2 MiB default.
/// 8 MiB is the margin; it is address space, and only the pages actually used are committed.
pub const PROCESSOR_STACK: usize = 8 << 20;

/// A message inside the pipeline.
#[derive(Debug)]
pub struct Part {
    pub(crate) raw: Vec<u8>,
    pub(crate) value: Option<Value>,
    /// Metadata set by mappings (`meta foo = …`). Source metadata (`kafka_*`) comes from
    /// [`Part::origin`] on demand, so a message pays for it only when a mapping reads it.
    pub meta: Map,
    pub origin: Origin,
    /// Bento's error flag: set when a processor failed the message, read by `error()` and
    /// `errored()`, cleared by `catch`. A message still errored at the end of the chain goes
    /// to the dead-letter path with this reason instead of out as if valid.
    pub error: Option<String>,
    /// A processor has changed the document since it was parsed from `raw` (so `raw` alone
    /// can no longer restore it).
    pub(crate) edited: bool,
}

impl Part {
    pub fn new(raw: Vec<u8>, origin: Origin) -> Part {
        Part {
            raw,
            value: None,
            meta: Map::new(),
            origin,
            error: None,
            edited: false,
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
        self.edited = true;
    }

    /// Replace the whole message content (the document is parsed from it when next read).
    pub fn set_content(&mut self, raw: Vec<u8>) {
        self.raw = raw;
        self.value = None;
        self.edited = true;
    }

    /// The document was changed in place (a mutation, an in-place mapping).
    pub fn mark_edited(&mut self) {
        self.edited = true;
    }

    /// Whether a processor has changed the document since it was parsed.
    pub fn is_edited(&self) -> bool {
        self.edited
    }

    /// A processor that ran on the document in place failed and left it in no defined state:
    /// forget it, so the next reader parses `raw` again, which is the document as it was
    /// when no processor had changed it yet (callers snapshot it otherwise).
    pub fn discard_value(&mut self) {
        self.value = None;
    }

    /// Mark the message failed (Bento's error flag); the latest failure is the reason.
    pub fn fail(&mut self, e: ProcessError) {
        self.error = Some(e.0);
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

/// A per-message transform, compiled once and shared read-only by every processor thread.
///
/// `Err` fails the message: the chain marks it errored ([`Part::fail`]) and goes on, as Bento
/// does; a processor must then leave the document as it found it.
pub trait Processor: Send + Sync {
    fn process(&self, part: &mut Part) -> Result<Step, ProcessError>;

    /// Reads a message's metadata: only then does the input carry each message's source
    /// metadata that costs a copy (a Kafka key, parsed headers) to the pipeline. True unless
    /// a processor knows better.
    fn reads_metadata(&self) -> bool {
        true
    }
}

/// Run a chain of processors on a part, Bento's way: a failure marks the part errored and the
/// next processor still runs; `deleted()` ends the chain.
pub fn run_chain(processors: &[Box<dyn Processor>], part: &mut Part) -> Step {
    for p in processors {
        match p.process(part) {
            Ok(Step::Continue) => {}
            Ok(Step::Drop) => return Step::Drop,
            Err(e) => part.fail(e),
        }
    }
    Step::Continue
}
