//! Where dead-lettered events are written: events the API will not take, kept where a human
//! can find them.
//!
//! A JSONL file opened in append mode, created with mode 0600 (events can carry customer data;
//! an existing file keeps its mode, with a warning when others can read it). Every
//! write ends with `fsync`, and only then are the events acked: an acked event is either at
//! the API or durably on disk here.
//!
//! Or a Kafka topic: each record (the same JSON line, without the newline) is one message,
//! keyed `topic-partition-offset` of the source. A write produces them all with `acks=all`
//! and idempotence, flushes, and returns `Ok` only if the broker acknowledged every one within
//! `timeout`; otherwise the events stay un-acked and are redelivered.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::document::write_json_str;
use crate::pipeline::{Origin, Position};

use super::DeadLetterKafka;
use crate::document::time as clock;

/// What went wrong, for one dead-lettered event.
#[derive(Debug)]
pub struct Record<'a> {
    pub reason: &'a str,
    /// HTTP status of the last attempt, if a response came back.
    pub status: Option<u16>,
    /// Requests made for this event (0 if it never reached the network).
    pub attempts: u32,
    /// The API's response body, if any.
    pub response: Option<&'a str>,
    pub event: Payload<'a>,
    pub origin: &'a Origin,
}

#[derive(Debug)]
pub enum Payload<'a> {
    /// The encoded event JSON, embedded as a JSON value.
    Event(&'a [u8]),
    /// The raw message that could not become an event, embedded as a string.
    Raw(&'a [u8]),
}

/// Longest API response kept per record; error bodies are small, a proxy's HTML page is not.
const MAX_RESPONSE: usize = 4096;

pub struct DeadLetterSink {
    /// Where records go, for logs: the file path or `kafka:TOPIC`.
    label: String,
    dest: Dest,
}

enum Dest {
    File(Mutex<File>),
    Kafka {
        producer: BaseProducer<DeliveryCounter>,
        topic: String,
        flush_timeout: Duration,
        /// One write at a time, so the failure counter belongs to that write.
        lock: Mutex<()>,
    },
}

/// Counts failed deliveries (read and reset by each write); answers OAUTHBEARER token
/// requests; routes librdkafka's log lines.
struct DeliveryCounter {
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
    /// The SASL settings and client id, when the mechanism is OAUTHBEARER.
    oauth: Option<(crate::kafka::Sasl, String)>,
}

impl ClientContext for DeliveryCounter {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        crate::kafka::log(level, fac, msg);
    }

    fn generate_oauth_token(
        &self,
        _: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        match &self.oauth {
            Some((sasl, client_id)) => sasl.oauth_token(client_id),
            None => Err("sasl.mechanism is OAUTHBEARER but no access_token is configured".into()),
        }
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            self.failed.fetch_add(1, Ordering::SeqCst);
            self.first_error.lock().get_or_insert_with(|| e.to_string());
        }
    }
}

impl std::fmt::Debug for DeadLetterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeadLetterSink({})", self.label)
    }
}

impl DeadLetterSink {
    /// Open (create) the file now, so a path that cannot be written fails at start-up rather
    /// than at the first bad event.
    pub fn open(path: &Path) -> std::io::Result<DeadLetterSink> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        // `mode` applies only when the file is created. An existing file keeps the
        // permissions its owner gave it (never widened, never silently changed: a log
        // shipper may have been granted read access on purpose), but readable by others it
        // exposes customer data, so say so at start.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file.metadata()?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = %format!("{mode:03o}"),
                    "the dead-letter file is readable or writable by other users; it holds event payloads (customer data): `chmod 600` it unless that is intended"
                );
            }
        }
        Ok(DeadLetterSink {
            label: path.display().to_string(),
            dest: Dest::File(Mutex::new(file)),
        })
    }

    /// A producer to `settings.topic`, with the client settings every Kafka client of the
    /// collector has (TLS, SASL, `librdkafka_options`); each record becomes one message (the
    /// same JSON line as in the file).
    pub fn kafka(settings: &DeadLetterKafka) -> std::io::Result<DeadLetterSink> {
        let client = settings.client();
        let mut cfg = client.properties("dead_letter.kafka");
        let timeout_ms = settings.timeout.get().as_millis().max(1).to_string();
        cfg.set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.max.bytes", "34603008")
            .set("message.timeout.ms", &timeout_ms);
        client.apply_options(&mut cfg);
        let oauth = (settings.sasl.mechanism() == Some("OAUTHBEARER"))
            .then(|| (settings.sasl.clone(), settings.client_id.clone()));
        let producer: BaseProducer<DeliveryCounter> = cfg
            .create_with_context(DeliveryCounter {
                failed: AtomicUsize::new(0),
                first_error: Mutex::new(None),
                oauth,
            })
            .map_err(std::io::Error::other)?;
        Ok(DeadLetterSink {
            label: format!("kafka:{}", settings.topic),
            dest: Dest::Kafka {
                producer,
                topic: settings.topic.clone(),
                flush_timeout: settings.timeout.get(),
                lock: Mutex::new(()),
            },
        })
    }

    /// Where records go, for logs.
    pub fn describe(&self) -> &str {
        &self.label
    }

    /// Append the records and fsync. On `Ok` every record is durable.
    pub fn write(&self, records: &[Record<'_>]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let now = clock::now_rfc3339_ms();
        match &self.dest {
            Dest::File(file) => {
                let mut buf = Vec::with_capacity(records.len() * 512);
                for r in records {
                    encode(r, &now, &mut buf);
                }
                let mut f = file.lock();
                f.write_all(&buf)?;
                f.sync_data()
            }
            Dest::Kafka {
                producer,
                topic,
                flush_timeout,
                lock,
            } => {
                let _one_write = lock.lock();
                let ctx = producer.context();
                ctx.failed.store(0, Ordering::SeqCst);
                *ctx.first_error.lock() = None;
                let deadline = Instant::now() + *flush_timeout;
                let mut buf = Vec::with_capacity(512);
                for r in records {
                    buf.clear();
                    encode(r, &now, &mut buf);
                    let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                    let key = source_key(r.origin);
                    let mut rec = BaseRecord::to(topic).payload(line).key(&key);
                    loop {
                        match producer.send(rec) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                back,
                            )) if Instant::now() < deadline => {
                                // Bounded: the local queue drains as the broker acks.
                                producer.poll(Duration::from_millis(100));
                                rec = back;
                            }
                            Err((e, _)) => {
                                // Records already queued land or expire on their own
                                // (`message.timeout.ms`); this write is not acked either way.
                                return Err(std::io::Error::other(format!(
                                    "dead-letter produce to `{topic}`: {e}"
                                )));
                            }
                        }
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                producer.flush(left).map_err(|e| {
                    std::io::Error::other(format!("dead-letter flush to `{topic}`: {e}"))
                })?;
                let failed = ctx.failed.load(Ordering::SeqCst);
                if failed > 0 {
                    let first = ctx.first_error.lock().take().unwrap_or_default();
                    return Err(std::io::Error::other(format!(
                        "dead-letter: {failed} of {} records not acknowledged by Kafka (`{topic}`): {first}",
                        records.len()
                    )));
                }
                Ok(())
            }
        }
    }
}

fn encode(r: &Record<'_>, now: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"reason\":");
    write_json_str(r.reason, out);
    out.extend_from_slice(b",\"status\":");
    match r.status {
        Some(s) => out.extend_from_slice(s.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"attempts\":");
    out.extend_from_slice(r.attempts.to_string().as_bytes());
    out.extend_from_slice(b",\"response\":");
    match r.response {
        Some(body) => write_json_str(truncate(body, MAX_RESPONSE), out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"event\":");
    match r.event {
        Payload::Event(json) => out.extend_from_slice(json),
        Payload::Raw(raw) => match std::str::from_utf8(raw) {
            Ok(text) => write_json_str(text, out),
            Err(_) => {
                // JSON strings cannot hold arbitrary bytes: `event` shows the payload with
                // U+FFFD in place of the bad bytes, for reading; `event_base64` keeps the
                // exact bytes, so the message can be repaired and replayed.
                write_json_str(&String::from_utf8_lossy(raw), out);
                out.extend_from_slice(b",\"event_base64\":\"");
                out.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(raw)
                        .as_bytes(),
                );
                out.push(b'"');
            }
        },
    }
    out.extend_from_slice(b",\"source\":");
    write_source(r.origin, out);
    out.extend_from_slice(b",\"time\":");
    write_json_str(now, out);
    out.extend_from_slice(b"}\n");
}

/// The dead-letter record's `source`: `{"topic","partition","offset"}` of a Kafka record,
/// `{"input","sequence"}` of a message of stdin, a file or `generate`.
fn write_source(o: &Origin, out: &mut Vec<u8>) {
    match &o.position {
        Position::Kafka {
            topic,
            partition,
            offset,
        } => {
            out.extend_from_slice(b"{\"topic\":");
            write_json_str(topic, out);
            out.extend_from_slice(
                format!(",\"partition\":{partition},\"offset\":{offset}}}").as_bytes(),
            );
        }
        Position::Sequence { input, seq } => {
            out.extend_from_slice(b"{\"input\":");
            write_json_str(input, out);
            out.extend_from_slice(format!(",\"sequence\":{seq}}}").as_bytes());
        }
    }
}

/// The Kafka key of a dead-letter message: its source, `topic-partition-offset` (or
/// `input-sequence`), so records of one source partition land together.
fn source_key(o: &Origin) -> String {
    match &o.position {
        Position::Kafka {
            topic,
            partition,
            offset,
        } => format!("{topic}-{partition}-{offset}"),
        Position::Sequence { input, seq } => format!("{input}-{seq}"),
    }
}

/// At most `max` bytes, cut on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn records_are_json_lines_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dlq.jsonl");
        let sink = DeadLetterSink::open(&path).expect("open");
        let origin = Origin::at(Position::Kafka {
            topic: Arc::from("usage"),
            partition: 2,
            offset: 41,
        });
        sink.write(&[
            Record {
                reason: "bad request",
                status: Some(400),
                attempts: 1,
                response: Some("{\"code\":\"validation_error\"}"),
                event: Payload::Event(br#"{"event_name":"x"}"#),
                origin: &origin,
            },
            Record {
                reason: "payload is not valid JSON",
                status: None,
                attempts: 0,
                response: None,
                event: Payload::Raw(b"not \xffjson"),
                origin: &origin,
            },
        ])
        .expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["event"]["event_name"], "x");
        assert_eq!(lines[0]["source"]["offset"], 41);
        assert_eq!(lines[1]["status"], serde_json::Value::Null);
        assert_eq!(lines[1]["event"], "not \u{fffd}json");
        assert_eq!(lines[1]["event_base64"], "bm90IP9qc29u", "exact bytes kept");
        assert!(lines[0].get("event_base64").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
