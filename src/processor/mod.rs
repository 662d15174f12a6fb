//! Processors: per-message transforms run on the `pipeline.threads` workers.
//!
//! A message becomes a [`Part`] (payload parsed on first use, metadata, origin). Each processor
//! edits the part in place, drops it (`deleted()`), or fails it with a reason that ends in the
//! dead-letter path. Processors are compiled once and shared read-only by all workers.

mod bloblang;
pub mod log;

use crate::bloblang::Mapping;
use crate::config::Problems;
use crate::document::{Map, Value};
use crate::input::Origin;

crate::one_of! {
    /// One entry of `pipeline.processors`: `mapping` builds a new document from `this`,
    /// `mutation` edits it in place, `bloblang` is Bento's older name of `mapping`, `noop`
    /// does nothing.
    pub enum ProcessorConfig via ProcessorSection = "ProcessorSection" ("processor") {
        mapping => Mapping(String),
        mutation => Mutation(String),
        bloblang => Bloblang(String),
        noop => Noop(crate::config::Empty),
        log => Log(log::LogConfig),
    }
}

impl ProcessorConfig {
    /// Compile mappings so `lint` reports their errors (line and column inside the mapping,
    /// with the offending line and a caret) before anything runs.
    pub fn validate(&self, path: &str, p: &mut Problems) {
        let (key, src) = match self {
            ProcessorConfig::Mapping(s) => ("mapping", s),
            ProcessorConfig::Mutation(s) => ("mutation", s),
            ProcessorConfig::Bloblang(s) => ("bloblang", s),
            ProcessorConfig::Log(l) => return l.validate(&format!("{path}.log"), p),
            ProcessorConfig::Noop(_) => return,
        };
        if let Err(e) = Mapping::compile(src) {
            p.add(format!("{path}.{key}"), format!("bad mapping: {e}"));
        }
    }

    pub fn build(&self) -> anyhow::Result<Box<dyn Processor>> {
        let compile =
            |src: &str| Mapping::compile(src).map_err(|e| anyhow::anyhow!("bad mapping: {e}"));
        Ok(match self {
            ProcessorConfig::Noop(_) => Box::new(Noop),
            ProcessorConfig::Mapping(s) | ProcessorConfig::Bloblang(s) => Box::new(
                bloblang::BloblangProcessor::new(compile(s)?, bloblang::Mode::Mapping),
            ),
            ProcessorConfig::Mutation(s) => Box::new(bloblang::BloblangProcessor::new(
                compile(s)?,
                bloblang::Mode::Mutation,
            )),
            ProcessorConfig::Log(l) => Box::new(log::LogProcessor::new(l)?),
        })
    }
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

struct Noop;

impl Processor for Noop {
    fn process(&self, _: &mut Part) -> Result<Step, ProcessError> {
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        false
    }
}
