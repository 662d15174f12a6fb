//! `input.generate`: messages made by a Bloblang mapping, every `interval`, `count` times
//! (0 = forever). Lets a demo run without Kafka.

use crossbeam_channel::Sender;
use serde::{Deserialize, Serialize};

use super::{Input, Message};
use crate::config::{Duration, Problems};
use crate::runtime::Control;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    pub mapping: String,
    /// Time between messages; `0s`/empty = as fast as possible. Bento's default is `1s`.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Messages to make before the input ends; 0 = no end.
    #[serde(default)]
    pub count: u64,
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
}

fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_batch_size() -> u64 {
    1
}

impl GenerateConfig {
    pub fn validate(&self, _path: &str, _p: &mut Problems) {}
}

pub struct GenerateInput;

impl GenerateInput {
    pub fn new(_: &GenerateConfig) -> anyhow::Result<GenerateInput> {
        anyhow::bail!("input.generate needs the Bloblang engine, which is not built yet")
    }
}

impl Input for GenerateInput {
    fn name(&self) -> &'static str {
        "generate"
    }
    fn run(self: Box<Self>, _out: Sender<Message>, _ctl: &Control) -> anyhow::Result<()> {
        Ok(())
    }
}
