//! `output.flexprice`: batches events and delivers them to the Flexprice events API.

mod config;

pub use config::{Batching, DeadLetter, FlexpriceConfig, RetryBackoff};

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::{Encoder, Event, JsonEncoder, Output};
use crate::runtime::Control;

pub struct FlexpriceOutput {
    #[allow(dead_code)]
    config: FlexpriceConfig,
}

impl FlexpriceOutput {
    pub fn new(config: FlexpriceConfig) -> anyhow::Result<FlexpriceOutput> {
        anyhow::bail!(
            "output.flexprice is not built yet (api_host {})",
            config.api_host
        )
    }
}

impl Output for FlexpriceOutput {
    fn name(&self) -> &'static str {
        "flexprice"
    }
    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }
    fn run(self: Box<Self>, _events: Receiver<Event>, _ctl: &Control) -> anyhow::Result<()> {
        Ok(())
    }
}
