//! The dead-letter target of the flexprice output (`output.flexprice.dead_letter`): a JSONL
//! file or a Kafka topic that events go to when the API will not take them or they failed
//! processing, each as a record saying why. It is the last output of a fallback: it only
//! answers "delivered" once a record is durable (fsync'd, or acknowledged by every in-sync
//! replica), and keeps retrying a failed write with backoff, so the partition's commit point
//! waits for it instead of moving past an event that exists nowhere. While writes fail,
//! `/ready` says why, `bento_output_dead_letter_error` counts the failed attempts and
//! `bento_output_dead_letter_pending` the events waiting; the error is logged at once and
//! then once a minute.

mod sink;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};

pub use sink::{truncate, DeadLetterSink, Payload, Record};

use super::{Backoff, LogLimit};
use crate::config::{Duration, Problems};
use crate::kafka::{Client, Sasl, Tls};
use crate::pipeline::telemetry::metrics;
use crate::pipeline::{Body, Delivery, Encoder, Event, JsonEncoder, Output, WriteContext};

/// Where events go that cannot be delivered: a JSONL file or a Kafka topic.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// A JSONL file, created with mode 0600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Kafka topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<DeadLetterKafka>,
}

/// The file a flexprice output writes its dead letters to when no `dead_letter` is given
/// (and no `fallback` takes its failures).
pub const DEFAULT_PATH: &str = "./flexprice-dead-letter.jsonl";

/// `dead_letter.kafka`, with the client fields of Bento's `kafka` output.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterKafka {
    /// Broker addresses; an item may hold several, comma-separated.
    pub addresses: Vec<String>,
    pub topic: String,
    /// How long one dead-letter write waits for the broker to acknowledge every record;
    /// past it the write fails and is retried (the events stay un-acked meanwhile).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub sasl: Sasl,
    /// Raw librdkafka properties, applied last.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub librdkafka_options: std::collections::BTreeMap<String, String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_client_id() -> String {
    "flexprice-collector".into()
}

impl DeadLetterKafka {
    /// The client settings it shares with every Kafka client of the collector.
    pub fn client(&self) -> Client<'_> {
        Client {
            addresses: &self.addresses,
            client_id: &self.client_id,
            tls: &self.tls,
            sasl: &self.sasl,
            librdkafka_options: &self.librdkafka_options,
        }
    }
}

impl DeadLetter {
    /// Every problem, at `path` (`output.flexprice.dead_letter`).
    pub fn check(&self, path: &str, p: &mut Problems) {
        match (&self.path, &self.kafka) {
            (Some(_), Some(_)) => p.add(path, "set only one of `path` and `kafka`"),
            (None, None) => p.add(path, "set `path` (a JSONL file) or `kafka`"),
            (Some(f), None) if f.trim().is_empty() => {
                p.add(format!("{path}.path"), "must not be empty")
            }
            (_, Some(k)) => {
                k.client().check(&format!("{path}.kafka"), p);
                if k.topic.trim().is_empty() {
                    p.add(format!("{path}.kafka.topic"), "must not be empty");
                }
                if k.timeout.is_zero() {
                    p.add(format!("{path}.kafka.timeout"), "must be greater than zero");
                }
            }
            _ => {}
        }
    }

    /// Open the file or make the producer.
    pub fn open(&self) -> anyhow::Result<DeadLetterOutput> {
        use anyhow::Context;
        let sink = match (&self.path, &self.kafka) {
            (Some(p), _) => DeadLetterSink::open(std::path::Path::new(p))
                .with_context(|| format!("cannot open dead-letter file `{p}`"))?,
            (None, Some(k)) => {
                DeadLetterSink::kafka(k).context("cannot create the dead-letter Kafka producer")?
            }
            (None, None) => anyhow::bail!("dead_letter: set `path` or `kafka`"),
        };
        Ok(DeadLetterOutput {
            sink,
            log: LogLimit::per_minute(),
        })
    }
}

/// Writes each event it is given as a dead-letter record.
pub struct DeadLetterOutput {
    sink: DeadLetterSink,
    /// Failed writes are retried every few seconds by every writer: log them once a minute.
    log: LogLimit,
}

/// How long a failed dead-letter write waits before it is tried again, at first and at most.
const RETRY_FIRST: StdDuration = StdDuration::from_millis(100);
const RETRY_MAX: StdDuration = StdDuration::from_secs(5);

impl DeadLetterOutput {
    /// Where records go, for logs.
    pub fn describe(&self) -> &str {
        self.sink.describe()
    }
}

impl Output for DeadLetterOutput {
    fn name(&self) -> &'static str {
        "dead_letter"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(JsonEncoder)
    }

    fn write(&self, events: Vec<Event>, cx: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        if events.is_empty() {
            return Ok(Delivery::default());
        }
        let records: Vec<Record<'_>> = events.iter().map(record).collect();
        let n = records.len() as u64;
        let m = metrics::get();
        let backoff = Backoff {
            initial: RETRY_FIRST,
            max: RETRY_MAX,
            max_elapsed: None,
            max_retries: 0,
        };
        let mut attempt = 0u32;
        // The events are counted as waiting from their first failed write until they are
        // written or abandoned.
        let mut waiting = false;
        loop {
            attempt += 1;
            match self.sink.write(&records) {
                Ok(()) => {
                    m.output_dead_letter.add(n);
                    cx.health.dead_letter_ok();
                    if waiting {
                        m.output_dead_letter_pending.sub(n);
                        self.log.clear();
                        tracing::info!(
                            dead_letter = %self.sink.describe(),
                            events = n,
                            attempts = attempt,
                            "dead-letter write succeeded after failed attempts"
                        );
                    }
                    for r in &records {
                        tracing::warn!(reason = %r.reason, position = %r.origin.position, dead_letter = %self.sink.describe(), "event dead-lettered");
                    }
                    drop(records);
                    return Ok(Delivery::delivered(events));
                }
                Err(e) => {
                    m.output_dead_letter_error.inc();
                    if !waiting {
                        waiting = true;
                        m.output_dead_letter_pending.add(n);
                    }
                    cx.health.dead_letter_failing(&format!(
                        "cannot write to `{}`: {e}; the events wait un-acked (their partitions do not commit past them) and the write is retried",
                        self.sink.describe()
                    ));
                    let wait = backoff.delay(attempt, None);
                    if self.log.allow(&e.to_string()) {
                        tracing::error!(
                            error = %e,
                            dead_letter = %self.sink.describe(),
                            events = n,
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "cannot write dead-letter records; retrying (the events stay un-acked meanwhile; logged once a minute while it lasts)"
                        );
                    } else {
                        tracing::debug!(error = %e, dead_letter = %self.sink.describe(), attempt, "dead-letter write failed again");
                    }
                    if !cx.control.wait(wait) {
                        m.output_dead_letter_pending.sub(n);
                        drop(records);
                        return Ok(Delivery::abandoned(events));
                    }
                }
            }
        }
    }
}

/// The record of one event: why (the output's failure, or the processing error), and the
/// event or the payload as received.
fn record(e: &Event) -> Record<'_> {
    let (reason, status, attempts, response) = match (&e.failure, &e.body) {
        (Some(f), _) => (
            f.reason.as_str(),
            f.status,
            f.attempts,
            f.response.as_deref(),
        ),
        (None, Body::Failed { reason, .. }) => (reason.as_str(), None, 0, None),
        (None, Body::Ready(_)) => ("no output took the event", None, 0, None),
    };
    Record {
        reason,
        status,
        attempts,
        response,
        event: match &e.body {
            Body::Ready(b) => Payload::Event(b),
            Body::Failed { raw, .. } => Payload::Raw(raw),
        },
        origin: &e.origin,
    }
}
