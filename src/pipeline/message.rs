//! [`Message`]: one payload as read from a source, with its [`Origin`] and its [`Ack`].

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::Ack;

/// One message as read from a source.
#[derive(Debug)]
pub struct Message {
    pub payload: Vec<u8>,
    pub origin: Origin,
    pub ack: Ack,
}

/// Where a message came from: its identity (for deterministic event ids and the dead-letter
/// record) and the source metadata Bloblang reads with `meta("kafka_topic")` etc.
#[derive(Clone, Debug)]
pub struct Origin {
    pub position: Position,
    /// Source timestamp (a Kafka message's timestamp) in ms since the epoch, if known.
    pub timestamp_ms: Option<i64>,
    /// Kafka key, if any (carried only when a processor reads metadata).
    pub key: Option<Vec<u8>>,
    /// Kafka headers (name, value) (carried only when a processor reads metadata).
    pub headers: Vec<(String, Vec<u8>)>,
    /// When the collector received it (for end-to-end latency).
    pub received_at: Option<Instant>,
}

/// A message's place in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// A Kafka record: stable across restarts, so a redelivery has the same identity.
    Kafka {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
    /// The `seq`-th message (from 1) of an input whose position is not persisted (stdin, a
    /// file, `generate`), named by the input: stable within a run only.
    Sequence { input: Arc<str>, seq: u64 },
}

impl Origin {
    /// An origin with nothing known but its position.
    pub fn at(position: Position) -> Origin {
        Origin {
            position,
            timestamp_ms: None,
            key: None,
            headers: Vec::new(),
            received_at: None,
        }
    }

    /// The Kafka topic, or the name of the input.
    pub fn stream(&self) -> &str {
        match &self.position {
            Position::Kafka { topic, .. } => topic,
            Position::Sequence { input, .. } => input,
        }
    }

    /// Partition and offset of a Kafka record.
    pub fn kafka(&self) -> Option<(i32, i64)> {
        match self.position {
            Position::Kafka {
                partition, offset, ..
            } => Some((partition, offset)),
            Position::Sequence { .. } => None,
        }
    }
}

impl Default for Origin {
    /// A message of no particular source (tests, `blobl`).
    fn default() -> Self {
        Origin::at(Position::Sequence {
            input: Arc::from(""),
            seq: 0,
        })
    }
}

/// `topic/partition@offset` or `input#seq`, for logs.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Kafka {
                topic,
                partition,
                offset,
            } => write!(f, "{topic}/{partition}@{offset}"),
            Position::Sequence { input, seq } => write!(f, "{input}#{seq}"),
        }
    }
}
