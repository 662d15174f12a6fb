//! `input.kafka`: a consumer group member on librdkafka (`BaseConsumer`, polled on our thread).
//!
//! - [`config`]: the fields, with Bento's names and defaults.
//! - [`topics`]: `name` / `name:0` / `name:0-3` parsing.
//! - [`client`]: the librdkafka properties (unit-tested without a broker).
//! - `context`: rebalance callbacks (commit what is done on revoke, fresh trackers on
//!   assign), statistics, logs, OAUTHBEARER.
//! - `state`: owned partitions and their offset trackers.
//! - `consumer`: the poll loop (backpressure by pausing, never by not polling) and shutdown.
//! - [`lag`]: per-partition consumer lag for `/metrics`.

pub mod client;
mod config;
mod consumer;
mod context;
pub mod lag;
mod state;
pub mod topics;

pub use config::{GroupProtocol, KafkaConfig, KafkaGroup};
pub use lag::{lag, PartitionLag};

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::Mutex;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::InputSpec;
use crate::config::Problems;
use crate::pipeline::telemetry::health::StageHealth;
use crate::pipeline::{Input, InputContext};
use context::Ctx;
use state::Assigned;
use topics::Topics;

pub struct KafkaInput {
    config: KafkaConfig,
    topics: Topics,
}

impl InputSpec for KafkaConfig {
    fn plan(&self, path: &str, p: &mut Problems) -> Option<Box<dyn Input>> {
        let before = p.len();
        self.validate(path, p);
        if p.len() > before {
            return None;
        }
        // Checked by `validate`.
        let topics = topics::parse(&self.topics).ok()?;
        Some(Box::new(KafkaInput {
            config: self.clone(),
            topics,
        }))
    }
}

impl KafkaInput {
    /// `metadata`: copy each message's key and headers into its origin (only when a
    /// processor reads metadata: parsing headers was a sixth of the input thread's time).
    fn connect(&self, metadata: bool, health: StageHealth) -> anyhow::Result<consumer::Loop> {
        let c = &self.config;
        let cfg = client::consumer_config(c);
        let group = cfg.get("group.id").is_some();
        let oauth = (c.sasl.mechanism() == Some("OAUTHBEARER"))
            .then(|| (c.sasl.clone(), c.client_id.clone()));
        let max_poll = cfg
            .get("max.poll.interval.ms")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300_000);
        let ctx = Ctx {
            state: Mutex::new(Assigned::default()),
            group,
            oauth,
            closing: AtomicBool::new(false),
            health,
            incremental: c.group_protocol().ok() == Some(config::GroupProtocol::Consumer),
            warned: Mutex::new(std::collections::HashMap::new()),
        };
        let consumer = BaseConsumer::from_config_and_context(&cfg, ctx)
            .context("creating the kafka consumer")?;
        match &self.topics {
            Topics::Balanced(names) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                consumer
                    .subscribe(&names)
                    .with_context(|| format!("subscribing to {names:?}"))?;
                tracing::info!(topics = ?names, group = %c.consumer_group, "kafka consumer subscribed");
            }
            Topics::Explicit(parts) => {
                // Resume from the group's committed offsets when there is a group; otherwise
                // from where start_from_oldest says.
                let start = match (group, c.start_from_oldest) {
                    (true, _) => Offset::Stored,
                    (false, true) => Offset::Beginning,
                    (false, false) => Offset::End,
                };
                let mut tpl = TopicPartitionList::new();
                {
                    let mut st = consumer.context().state.lock();
                    for (t, p) in parts {
                        tpl.add_partition_offset(t, *p, start)
                            .with_context(|| format!("partition {t}:{p}"))?;
                        st.insert(t, *p);
                    }
                }
                consumer
                    .assign(&tpl)
                    .context("assigning explicit partitions")?;
                tracing::info!(
                    partitions = parts.len(),
                    "kafka consumer assigned explicit partitions"
                );
                health.connected();
            }
        }
        Ok(consumer::Loop {
            consumer,
            checkpoint_limit: c.checkpoint_limit.max(1),
            metadata,
            stall_pause_after: Duration::from_millis((max_poll / 10).clamp(10, 1000)),
            next_skip_check: std::cell::Cell::new(std::time::Instant::now()),
        })
    }
}

impl Input for KafkaInput {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn buffer(&self) -> usize {
        self.config.fetch_buffer_cap
    }

    fn reports_connection(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, cx: InputContext) -> anyhow::Result<()> {
        let lp = self.connect(cx.metadata, cx.health)?;
        lp.run(cx.out, cx.chunk_len, &cx.control)
    }
}
