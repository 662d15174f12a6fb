//! The input stage: a source of messages, run on its own thread.

use crossbeam_channel::Sender;

use super::telemetry::health::StageHealth;
use super::{Chunk, Control};

/// A source of messages.
pub trait Input: Send {
    /// Short name for logs (`kafka`, `stdin`, …).
    fn name(&self) -> &'static str;

    /// Messages this input wants buffered between it and the processors (the pipeline's
    /// queues are sized from it; Kafka: `fetch_buffer_cap`).
    fn buffer(&self) -> usize {
        1024
    }

    /// Whether the input tells `/ready` itself when it is connected (Kafka: once it has
    /// joined its group). Otherwise it counts as connected once it runs.
    fn reports_connection(&self) -> bool {
        false
    }

    /// Read until the source ends or `cx.control` asks to stop, sending every message to
    /// `cx.out` in chunks of at most `cx.chunk_len` messages.
    ///
    /// Contract: return once no more messages will be sent (dropping `out` is what lets the
    /// rest of the pipeline drain). An input with positions to commit (Kafka) may keep running
    /// after that to commit acks: it calls `control.wait_drained(...)` after dropping `out`.
    fn run(self: Box<Self>, cx: InputContext) -> anyhow::Result<()>;
}

/// What an input is given when it runs.
pub struct InputContext {
    /// Where its chunks go; a full channel blocks it (backpressure).
    pub out: Sender<Chunk>,
    /// The most messages per chunk.
    pub chunk_len: usize,
    pub control: Control,
    /// Its side of `/ready`.
    pub health: StageHealth,
    /// A processor reads message metadata: bring the source's along (a Kafka message's key
    /// and headers cost a copy and a parse each, so they come only when read).
    pub metadata: bool,
}
