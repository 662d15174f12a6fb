//! Outputs: where finished events go.
//!
//! Work is split in two so the hot path parallelises: an [`Encoder`] runs on every processor
//! thread and turns a finished document into the exact bytes the output will send (validating
//! it on the way); the output's own threads only batch and ship those bytes.

pub mod drop;
pub mod flexprice;
pub mod stdout;

use crate::config::Problems;
use crate::pipeline::Output;

crate::one_of! {
    /// `output:` — exactly one of these.
    pub enum OutputConfig via OutputSection = "OutputSection" ("output") {
        flexprice => Flexprice(flexprice::FlexpriceConfig),
        stdout => Stdout(stdout::StdoutConfig),
        drop => Drop(crate::config::Empty),
    }
}

impl OutputConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        match self {
            OutputConfig::Flexprice(c) => c.validate(&format!("{path}.flexprice"), p),
            OutputConfig::Stdout(c) => c.validate(&format!("{path}.stdout"), p),
            OutputConfig::Drop(_) => {}
        }
    }

    pub fn build(&self) -> anyhow::Result<Box<dyn Output>> {
        Ok(match self {
            OutputConfig::Flexprice(c) => Box::new(flexprice::FlexpriceOutput::new(c.clone())?),
            OutputConfig::Stdout(c) => Box::new(stdout::StdoutOutput::new(c)),
            OutputConfig::Drop(_) => Box::new(drop::DropOutput),
        })
    }
}
