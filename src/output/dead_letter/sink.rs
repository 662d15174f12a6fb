//! Where dead-lettered events are written: events the API will not take, kept where a human
//! can find them.
//!
//! A JSONL file, a durable log of complete records: created with mode 0600 (events can carry
//! customer data; an existing file keeps its mode, with a warning when others can read it),
//! appended to, and every write ends with `fsync`; only then are the events acked, so an
//! acked event is either at the API or durably on disk here. The log stays whole when the
//! world around it changes:
//! - before each write the path is checked against the open file (device and inode): a file
//!   deleted or moved away (log rotation) is not written to any more, the path is opened
//!   (created) again and the write goes there, with a warning;
//! - a write that fails (disk full, I/O error, also in `fsync`) is cut back to the length the
//!   file had before it, so a partial line never precedes a good record; the write fails and
//!   is retried by the caller;
//! - at open, a torn record at the end (a crash mid-write: never acked) is cut off, and a
//!   foreign unterminated last line is ended with a newline, so the first record is whole.
//!
//! Or a Kafka topic: each record (the same JSON line, without the newline) is one message,
//! keyed `topic-partition-offset` of the source. A write produces them all with `acks=all`
//! and idempotence, flushes, and returns `Ok` only if the broker acknowledged every one within
//! `timeout`; otherwise the events stay un-acked and are redelivered.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
    File(Mutex<FileLog>),
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
    pub fn open(path: &Path) -> io::Result<DeadLetterSink> {
        let log = FileLog::open(path)?;
        // `mode` applies only when the file is created. An existing file keeps the
        // permissions its owner gave it (never widened, never silently changed: a log
        // shipper may have been granted read access on purpose), but readable by others it
        // exposes customer data, so say so at start.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = log.file.metadata()?.permissions().mode() & 0o777;
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
            dest: Dest::File(Mutex::new(log)),
        })
    }

    /// A producer to `settings.topic`, with the client settings every Kafka client of the
    /// collector has (TLS, SASL, `librdkafka_options`); each record becomes one message (the
    /// same JSON line as in the file).
    pub fn kafka(settings: &DeadLetterKafka) -> io::Result<DeadLetterSink> {
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
            .map_err(io::Error::other)?;
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
    pub fn write(&self, records: &[Record<'_>]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let now = clock::now_rfc3339_ms();
        match &self.dest {
            Dest::File(log) => {
                let mut buf = Vec::with_capacity(records.len() * 512);
                for r in records {
                    encode(r, &now, &mut buf);
                }
                log.lock().append(&buf)
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
                                return Err(io::Error::other(format!(
                                    "dead-letter produce to `{topic}`: {e}"
                                )));
                            }
                        }
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                producer.flush(left).map_err(|e| {
                    io::Error::other(format!("dead-letter flush to `{topic}`: {e}"))
                })?;
                let failed = ctx.failed.load(Ordering::SeqCst);
                if failed > 0 {
                    let first = ctx.first_error.lock().take().unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "dead-letter: {failed} of {} records not acknowledged by Kafka (`{topic}`): {first}",
                        records.len()
                    )));
                }
                Ok(())
            }
        }
    }
}

/// Every record starts so (see [`encode`]): an unterminated last line that starts so is a
/// record of ours torn by a crash.
const RECORD_START: &[u8] = b"{\"reason\":";

/// The dead-letter file: complete records only, at its path (see the module docs).
struct FileLog {
    path: PathBuf,
    file: File,
    /// A failed write that could not be cut back: the length to cut the file to before
    /// anything else is appended to it.
    torn: Option<u64>,
}

impl FileLog {
    fn open(path: &Path) -> io::Result<FileLog> {
        let existed = path.exists();
        let mut opts = OpenOptions::new();
        opts.read(true).create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        if !existed {
            // The new name must survive a crash as well as the records written under it.
            sync_parent(path)?;
        }
        let log = FileLog {
            path: path.to_path_buf(),
            file,
            torn: None,
        };
        log.end_on_a_whole_line()?;
        Ok(log)
    }

    /// Append `buf` (whole records) durably, or leave the file as it was and fail.
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        if let Some(len) = self.torn {
            self.file.set_len(len)?;
            self.file.sync_data()?;
            self.torn = None;
        }
        self.follow_path()?;
        let meta = self.file.metadata()?;
        let before = meta.len();
        let written = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // With `O_APPEND` the next write goes to the end: cut the partial bytes off so it
            // starts on a fresh line. If even that fails, cut before the next write. (A
            // device, `/dev/full` say, has no length to cut.)
            if !meta.is_file() {
                return Err(e);
            }
            if self.file.set_len(before).is_err() {
                self.torn = Some(before);
            } else {
                let _ = self.file.sync_data();
            }
            return Err(e);
        }
        Ok(())
    }

    /// Reopen at the path when the open file is no longer the one the path names (deleted,
    /// or moved away by log rotation): writing on would put acked records where nobody looks.
    #[cfg(unix)]
    fn follow_path(&mut self) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata()?;
        let (gone, why) = match std::fs::metadata(&self.path) {
            Ok(m) => (
                m.dev() != open.dev() || m.ino() != open.ino(),
                "replaced by another file",
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (true, "deleted or moved away"),
            Err(e) => return Err(e),
        };
        if gone {
            let fresh = FileLog::open(&self.path)?;
            tracing::warn!(
                path = %self.path.display(),
                "the dead-letter file was {why} (log rotation?); writing to the file at the path from now on"
            );
            self.file = fresh.file;
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn follow_path(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Make the file end on a whole line: cut off a torn record of ours, end a foreign last
    /// line with a newline.
    fn end_on_a_whole_line(&self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let Some(tail) = last_line_start(&self.file, len)? else {
            return Ok(()); // empty, or ends with a newline
        };
        let mut head = [0u8; RECORD_START.len()];
        let n = read_at(&self.file, &mut head, tail)?;
        if head[..n] == RECORD_START[..n] {
            tracing::warn!(
                path = %self.path.display(),
                bytes = len - tail,
                "the dead-letter file ends with a torn record (a crash mid-write; its events were not acked and are redelivered); cutting it off"
            );
            self.file.set_len(tail)?;
        } else {
            tracing::warn!(
                path = %self.path.display(),
                "the dead-letter file's last line has no newline; ending it so the next record starts on its own line"
            );
            (&self.file).write_all(b"\n")?;
        }
        self.file.sync_data()
    }
}

/// Where the last line starts when the file does not end with a newline (`None` when it is
/// empty or does).
fn last_line_start(file: &File, len: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 64 * 1024;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let part = &mut buf[..(end - start) as usize];
        let n = read_at(file, part, start)?;
        if let Some(i) = part[..n].iter().rposition(|&b| b == b'\n') {
            let line = start + i as u64 + 1;
            return Ok((line < len).then_some(line));
        }
        end = start;
    }
    Ok((len > 0).then_some(0))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    f.read(buf)
}

/// fsync the directory holding `path`, so a file just created there survives a crash.
/// File systems that cannot sync a directory (`EINVAL`) are taken as they are.
fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
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

    fn origin(offset: i64) -> Origin {
        Origin::at(Position::Kafka {
            topic: Arc::from("usage"),
            partition: 0,
            offset,
        })
    }

    fn one(sink: &DeadLetterSink, offset: i64, pad: usize) -> io::Result<()> {
        let o = origin(offset);
        let body = format!("{{\"event_name\":\"{}\"}}", "x".repeat(pad));
        sink.write(&[Record {
            reason: "bad request",
            status: Some(400),
            attempts: 1,
            response: None,
            event: Payload::Event(body.as_bytes()),
            origin: &o,
        }])
    }

    /// Offsets of the file's records; panics on a line that is not a whole record.
    fn offsets(path: &Path) -> Vec<i64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("whole JSON line");
                v["source"]["offset"].as_i64().expect("offset")
            })
            .collect()
    }

    /// Log rotation moves the file away, or someone deletes it: the next record goes to a new
    /// file at the path (mode 0600), not to the old inode nobody will read.
    #[test]
    fn a_moved_or_deleted_file_is_reopened_at_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dlq.jsonl");
        let rotated = dir.path().join("dlq.jsonl.1");
        let sink = DeadLetterSink::open(&path).expect("open");
        one(&sink, 1, 0).expect("write");
        std::fs::rename(&path, &rotated).expect("rotate");
        one(&sink, 2, 0).expect("write after the rotation");
        assert_eq!(offsets(&rotated), vec![1]);
        assert_eq!(offsets(&path), vec![2], "the path holds the new record");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(&path).expect("delete");
        one(&sink, 3, 0).expect("write after the deletion");
        assert_eq!(offsets(&path), vec![3]);
        // Replaced by another file (`mv new dlq.jsonl`): that one is written to.
        let other = dir.path().join("other.jsonl");
        std::fs::write(&other, "").expect("other");
        std::fs::rename(&other, &path).expect("replace");
        one(&sink, 4, 0).expect("write after the replacement");
        assert_eq!(offsets(&path), vec![4]);
    }

    /// A crash mid-write leaves a torn record (never acked) at the end: it is cut off at open,
    /// so the next record is a line of its own. A foreign unterminated line is kept and ended.
    #[test]
    fn the_file_is_opened_on_a_whole_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dlq.jsonl");
        let sink = DeadLetterSink::open(&path).expect("open");
        one(&sink, 1, 0).expect("write");
        drop(sink);
        let whole = std::fs::read(&path).expect("read");
        let mut torn = whole.clone();
        torn.extend_from_slice(br#"{"reason":"bad request","status":400,"att"#);
        std::fs::write(&path, &torn).expect("tear");
        let sink = DeadLetterSink::open(&path).expect("reopen");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            whole,
            "torn tail cut off"
        );
        one(&sink, 2, 0).expect("write");
        assert_eq!(offsets(&path), vec![1, 2]);
        drop(sink);

        let foreign = dir.path().join("notes.jsonl");
        std::fs::write(&foreign, "kept by hand").expect("foreign");
        let sink = DeadLetterSink::open(&foreign).expect("open foreign");
        one(&sink, 3, 0).expect("write");
        let text = std::fs::read_to_string(&foreign).expect("read");
        let (first, rest) = text.split_once('\n').expect("two lines");
        assert_eq!(first, "kept by hand");
        assert!(rest.starts_with("{\"reason\""), "{text}");
    }

    /// A device that is always full: every write fails with the error, none panics.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_fails_each_write_with_its_error() {
        let sink = DeadLetterSink::open(Path::new("/dev/full")).expect("open /dev/full");
        for _ in 0..2 {
            let e = one(&sink, 1, 0).expect_err("no space");
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        }
    }

    /// The disk fills in the middle of a record (`RLIMIT_FSIZE` makes the kernel refuse bytes
    /// past a size with `EFBIG`, as a full disk refuses them with `ENOSPC`): the partial
    /// bytes are cut off, the file ends on the last whole record, and once there is room the
    /// same write succeeds. Runs in a process of its own (the limit is per process).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_cut_back_to_the_last_whole_record() {
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args([
                "output::dead_letter::sink::tests::full_disk_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("FLEXPRICE_FULL_DISK_CHILD", "1")
            .output()
            .expect("run the test binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "in its own process:\n{text}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[ignore = "run by a_failed_write_is_cut_back_to_the_last_whole_record in its own process"]
    fn full_disk_child() {
        if std::env::var_os("FLEXPRICE_FULL_DISK_CHILD").is_none() {
            return; // the limit would hit every test of this process
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dlq.jsonl");
        let sink = DeadLetterSink::open(&path).expect("open");
        one(&sink, 1, 0).expect("first record");
        let whole = std::fs::metadata(&path).expect("meta").len();
        let limit = |bytes: u64| {
            let l = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: plain setrlimit(2)/signal(2) on this process, which runs only this test.
            unsafe {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &l), 0);
            }
        };
        limit(whole + 100);
        let e = one(&sink, 2, 4000).expect_err("past the limit");
        assert_eq!(e.raw_os_error(), Some(libc::EFBIG), "{e}");
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            whole,
            "the partial record is cut off"
        );
        assert_eq!(offsets(&path), vec![1]);
        limit(libc::RLIM_INFINITY);
        one(&sink, 2, 4000).expect("room again");
        one(&sink, 3, 0).expect("and the next");
        assert_eq!(offsets(&path), vec![1, 2, 3], "whole lines only");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
