//! Outputs: where finished events go.
//!
//! Work is split in two so the hot path parallelises: an [`Encoder`] runs on every processor
//! thread and turns a finished document into the exact bytes the output will send (validating
//! it on the way); the output's own threads only batch and ship those bytes.

pub mod drop;
pub mod flexprice;
pub mod stdout;

use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::config::Problems;
use crate::delivery::Ack;
use crate::document::Value;
use crate::input::Origin;
use crate::runtime::Control;

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

/// A message that left the processors, on its way out.
#[derive(Debug)]
pub struct Event {
    pub body: Body,
    pub origin: Origin,
    pub ack: Ack,
}

#[derive(Debug)]
pub enum Body {
    /// Encoded by the output's [`Encoder`]: ready to send as is.
    Ready(Vec<u8>),
    /// Could not be processed or encoded: goes to the dead-letter path with the reason.
    Failed { raw: Vec<u8>, reason: String },
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
