//! Inputs: where messages come from. Each runs on its own thread and pushes [`Message`]s, in
//! chunks, into a bounded channel; a full channel blocks it (backpressure).

pub mod file;
pub mod generate;
pub mod kafka;
pub mod lines;
pub mod stdin;

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::config::Problems;
use crate::delivery::Ack;
use crate::runtime::Control;

crate::one_of! {
    /// `input:` — exactly one of these.
    pub enum InputConfig via InputSection = "InputSection" ("input") {
        kafka => Kafka(kafka::KafkaConfig),
        generate => Generate(generate::GenerateConfig),
        stdin => Stdin(stdin::StdinConfig),
        file => File(file::FileConfig),
    }
}

impl InputConfig {
    pub fn validate(&self, path: &str, p: &mut Problems) {
        match self {
            InputConfig::Kafka(c) => c.validate(&format!("{path}.kafka"), p),
            InputConfig::Generate(c) => c.validate(&format!("{path}.generate"), p),
            InputConfig::Stdin(_) => {}
            InputConfig::File(c) => c.validate(&format!("{path}.file"), p),
        }
    }

    /// Build the input. Errors name the problem (unreachable file, bad mapping, …).
    /// `metadata`: a processor reads message metadata, so the source's (a Kafka message's key
    /// and headers, which cost a copy and a parse each) must come along.
    pub fn build(&self, metadata: bool) -> anyhow::Result<Box<dyn Input>> {
        Ok(match self {
            InputConfig::Kafka(c) => Box::new(kafka::KafkaInput::new(c.clone(), metadata)?),
            InputConfig::Generate(c) => Box::new(generate::GenerateInput::new(c)?),
            InputConfig::Stdin(c) => Box::new(stdin::StdinInput::new(c)),
            InputConfig::File(c) => Box::new(file::FileInput::new(c)),
        })
    }
}

/// Messages cross from the input to the processors (and, as events, on to the output) in
/// chunks: one channel operation, and at most one thread wake-up, per chunk instead of per
/// message. A chunk is only what is already at hand (an input never waits to fill one), so a
/// trickle of messages still moves one by one, without added latency.
pub type Chunk = Vec<Message>;

/// The most messages in one chunk. 128, not 256: with chunks able to grow to twice this
/// while held back (see [`chunk_slots`]), the channel stays 16 chunks deep at the benchmark's
/// `fetch_buffer_cap: 4096`, 3–5 % faster end to end than 8 chunks of 256.
pub const CHUNK_MAX: usize = 128;

/// Messages per chunk for a pipeline buffer of `cap` messages: a quarter of it, so the channel
/// holds several chunks and the stages overlap, and at most [`CHUNK_MAX`].
pub fn chunk_len(cap: usize) -> usize {
    (cap / 4).clamp(1, CHUNK_MAX)
}

/// Channel slots, in chunks, for a buffer of `cap` messages. A chunk an input had to hold back
/// while the pipeline was full may have grown to twice [`chunk_len`] (the Kafka input keeps
/// polling meanwhile), so queued messages never exceed `cap` (or two chunks, when `cap` is
/// smaller than that).
pub fn chunk_slots(cap: usize) -> usize {
    (cap / (2 * chunk_len(cap))).max(1)
}

/// One message as read from a source.
#[derive(Debug)]
pub struct Message {
    pub payload: Vec<u8>,
    pub origin: Origin,
    pub ack: Ack,
}

/// Where a message came from: its identity (for deterministic event ids) and the source
/// metadata Bloblang reads with `meta("kafka_topic")` etc.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// Kafka topic, or the input's name (`stdin`, a file path, `generate`).
    pub topic: Arc<str>,
    /// Kafka partition; -1 for inputs without partitions.
    pub partition: i32,
    /// Kafka offset, or the message's sequence number in its input.
    pub offset: i64,
    /// Source timestamp (Kafka message timestamp) in ms since the epoch, if known.
    pub timestamp_ms: Option<i64>,
    /// Kafka key, if any.
    pub key: Option<Vec<u8>>,
    /// Kafka headers (name, value).
    pub headers: Vec<(String, Vec<u8>)>,
    /// When the collector received it (for end-to-end latency).
    pub received_at: Option<std::time::Instant>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_never_hold_more_than_the_buffer() {
        for cap in [1, 2, 3, 4, 5, 7, 64, 255, 256, 1000, 4096, 16384, 100_000] {
            let (len, slots) = (chunk_len(cap), chunk_slots(cap));
            assert!((1..=CHUNK_MAX).contains(&len), "cap {cap}: chunk {len}");
            assert!(
                2 * len * slots <= cap.max(2 * len),
                "cap {cap}: {slots} x 2 x {len}"
            );
            assert!(
                slots >= (cap / 2).clamp(1, 2),
                "cap {cap}: only {slots} slots"
            );
        }
        assert_eq!((chunk_len(256), chunk_slots(256)), (64, 2));
        assert_eq!((chunk_len(4096), chunk_slots(4096)), (128, 16));
    }
}
