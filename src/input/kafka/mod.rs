//! `input.kafka`: a consumer group member on librdkafka (`BaseConsumer`, polled on our thread).

mod config;

pub use config::{KafkaConfig, KafkaSasl, KafkaTls};

use crossbeam_channel::Sender;

use super::{Input, Message};
use crate::runtime::Control;

pub struct KafkaInput {
    #[allow(dead_code)]
    config: KafkaConfig,
}

impl KafkaInput {
    pub fn new(config: KafkaConfig) -> anyhow::Result<KafkaInput> {
        anyhow::bail!(
            "input.kafka is not built yet ({} topics)",
            config.topics.len()
        )
    }
}

impl Input for KafkaInput {
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn run(self: Box<Self>, _out: Sender<Message>, _ctl: &Control) -> anyhow::Result<()> {
        Ok(())
    }
}
