//! Processors: per-message transforms run on the `pipeline.threads` workers.
//!
//! A message becomes a [`Part`] (payload parsed on first use, metadata, origin). Each processor
//! edits the part in place, drops it (`deleted()`), or fails it with a reason that ends in the
//! dead-letter path. Processors are compiled once and shared read-only by all workers.

mod bloblang;
pub mod log;

use crate::bloblang::Mapping;
use crate::config::Problems;
use crate::pipeline::{Part, ProcessError, Processor, Step};

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

struct Noop;

impl Processor for Noop {
    fn process(&self, _: &mut Part) -> Result<Step, ProcessError> {
        Ok(Step::Continue)
    }

    fn reads_metadata(&self) -> bool {
        false
    }
}
