//! The bad-input corpus, end to end: garbage produced to a real broker (Apache Kafka), read by the
//! real collector binary, delivered to the Flexprice-compatible sink. Every bad message must be
//! dead-lettered with a reason a person can act on, every good message around it delivered,
//! the committed offset must reach the end of the topic, and nothing may panic.
//!
//! `docs/bad-input.md` is the table of what a user sees for each input; keep them in step.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{committed, create_topic, free_port, wait_until, Broker};
use base64::Engine;
use flexprice_api_double::{ApiDouble, ApiDoubleConfig};
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message as _};

const TOPIC: &str = "bad-input";
const GROUP: &str = "g-bad-input";
/// Largest message the test produces (the 33 MB case), plus headroom.
const MAX_MESSAGE: usize = 40 * 1024 * 1024;

/// What must become of one corpus message.
#[derive(Clone, Debug)]
enum Expect {
    /// Accepted by the sink (found there by its `event_id`).
    Delivered(&'static str),
    /// One dead-letter record at its offset whose reason contains this.
    DeadLetter(&'static str),
    /// Acked without being sent anywhere (empty payloads carry no event).
    Skipped,
}

/// A mapping like the shipped ones (`root = this` plus a typed field), with a runtime error
/// path: `qty` must be numeric.
const MAPPING: &str = "root = this\n\
    root.qty = deleted()\n\
    root.properties.qty = if this.qty != null { this.qty.number() }\n";

fn event(id: &str, extra: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{id}","event_name":"api.call","external_customer_id":"cust-1"{extra}}}"#
    )
    .into_bytes()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// The corpus: (name, payload, expectation). `None` payload = a tombstone.
fn corpus() -> Vec<(&'static str, Option<Vec<u8>>, Expect)> {
    use Expect::*;
    let big_string = "x".repeat(5 * 1024 * 1024);
    vec![
        (
            "not JSON",
            Some(b"hello, world".to_vec()),
            DeadLetter("payload is not valid JSON: syntax error at byte 0 ('h')"),
        ),
        (
            "truncated JSON",
            Some(br#"{"event_name":"api.call","external_cus"#.to_vec()),
            DeadLetter("payload is not valid JSON: syntax error (malformed or truncated"),
        ),
        (
            "invalid UTF-8 inside a string",
            Some(b"{\"event_name\":\"api\xff\xfe\",\"external_customer_id\":\"c\"}".to_vec()),
            DeadLetter("invalid UTF-8 at byte 18"),
        ),
        (
            "a JSON array of events",
            Some(format!("[{}]", String::from_utf8_lossy(&event("arr", ""))).into_bytes()),
            DeadLetter("event must be a JSON object, got array"),
        ),
        (
            "a JSON string",
            Some(br#""api.call""#.to_vec()),
            DeadLetter("event must be a JSON object, got string"),
        ),
        (
            "JSON null",
            Some(b"null".to_vec()),
            DeadLetter("event must be a JSON object, got null"),
        ),
        ("empty payload", Some(Vec::new()), Skipped),
        ("tombstone (no payload)", None, Skipped),
        (
            "missing event_name",
            Some(br#"{"external_customer_id":"c"}"#.to_vec()),
            DeadLetter("`event_name` is required"),
        ),
        (
            "empty event_name",
            Some(br#"{"event_name":"","external_customer_id":"c"}"#.to_vec()),
            DeadLetter("`event_name` must not be empty"),
        ),
        (
            "missing external_customer_id",
            Some(br#"{"event_name":"api.call"}"#.to_vec()),
            DeadLetter("`external_customer_id` is required"),
        ),
        (
            "empty external_customer_id",
            Some(br#"{"event_name":"api.call","external_customer_id":""}"#.to_vec()),
            DeadLetter("`external_customer_id` must not be empty"),
        ),
        (
            "event_name not a string",
            Some(br#"{"event_name":42,"external_customer_id":"c"}"#.to_vec()),
            DeadLetter("`event_name` must be a string, got number"),
        ),
        (
            "timestamp not RFC 3339",
            Some(event("ts1", r#","timestamp":"2024-01-02 15:04:05""#)),
            DeadLetter("is not RFC 3339"),
        ),
        (
            "timestamp out of range",
            Some(event("ts2", r#","timestamp":"2024-13-45T25:61:61Z""#)),
            DeadLetter("is not RFC 3339"),
        ),
        (
            "timestamp as epoch number",
            Some(event("ts3", r#","timestamp":1700000000"#)),
            DeadLetter("`timestamp` must be a string, got number"),
        ),
        (
            "properties a string",
            Some(event("p1", r#","properties":"units=5""#)),
            DeadLetter("`properties` must be an object, got string"),
        ),
        (
            "properties an array",
            Some(event("p2", r#","properties":[1,2]"#)),
            DeadLetter("`properties` must be an object, got array"),
        ),
        (
            "unknown top-level field",
            Some(event("u1", r#","customer":"c""#)),
            DeadLetter("unknown field `customer`"),
        ),
        (
            "unknown field with a 1 MB name",
            Some(event("u2", &format!(r#","{}":1"#, "k".repeat(1024 * 1024)))),
            DeadLetter("unknown field `kkkk"),
        ),
        (
            "mapping runtime error (.number() of \"abc\")",
            Some(event("m1", r#","qty":"abc""#)),
            DeadLetter("failed assignment (line 3)"),
        ),
        (
            "number out of range (1e400)",
            Some(event("n1", r#","properties":{"x":1e400}"#)),
            DeadLetter("payload is not valid JSON: invalid number"),
        ),
        (
            "nested 10 000 levels",
            Some(nested(10_000).into_bytes()),
            DeadLetter("nested deeper than 1024 levels"),
        ),
        (
            "an event with properties nested 10 000 levels",
            Some(event(
                "d1",
                &format!(r#","properties":{{"deep":{}}}"#, nested(10_000)),
            )),
            DeadLetter("nested deeper than 1024 levels"),
        ),
        (
            "5 MB of garbage",
            Some(vec![b'#'; 5 * 1024 * 1024]),
            DeadLetter("payload is not valid JSON: syntax error at byte 0"),
        ),
        (
            "a 33 MB event (over the API's 32 MiB request cap)",
            Some(event(
                "too-big",
                &format!(
                    r#","properties":{{"blob":"{}"}}"#,
                    "y".repeat(33 * 1024 * 1024)
                ),
            )),
            DeadLetter("the API accepts at most 33554419 bytes per request"),
        ),
        // Inputs that look odd but are valid events: delivered, never dead-lettered.
        (
            "properties nested 1000 levels (under the limit)",
            Some(event(
                "deep-ok",
                &format!(r#","properties":{{"deep":{}}}"#, nested(1000)),
            )),
            Delivered("deep-ok"),
        ),
        (
            "a 5 MB event (under the API's 32 MiB cap)",
            Some(event(
                "big-ok",
                &format!(r#","properties":{{"blob":"{big_string}"}}"#),
            )),
            Delivered("big-ok"),
        ),
        (
            "control characters and NUL in strings",
            Some(event(
                "ctl-ok",
                r#","properties":{"s":"a\u0000b\u001fc\"d"}"#,
            )),
            Delivered("ctl-ok"),
        ),
        (
            "numeric qty as a string (the mapping converts it)",
            Some(event("qty-ok", r#","qty":"5""#)),
            Delivered("qty-ok"),
        ),
    ]
}

/// Where each produced message landed, by index.
#[derive(Default)]
struct Landed(Mutex<HashMap<usize, Result<i64, String>>>);

struct Recorder(Arc<Landed>);
impl ClientContext for Recorder {}
impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, i: usize) {
        let v = match r {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0 .0.lock().insert(i, v);
    }
}

/// Produce `payloads` in order to partition 0 (one in flight, so offsets follow the order);
/// returns each one's offset.
fn produce_raw(addr: &str, payloads: &[Option<Vec<u8>>]) -> Vec<i64> {
    let landed = Arc::new(Landed::default());
    let producer: BaseProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", "0")
        .set("max.in.flight", "1")
        .set("compression.type", "none")
        // librdkafka refuses to produce a message larger than this (default 1 MB).
        .set("message.max.bytes", MAX_MESSAGE.to_string())
        .create_with_context(Recorder(Arc::clone(&landed)))
        .expect("producer");
    for (i, p) in payloads.iter().enumerate() {
        let key = i.to_string();
        let mut rec = BaseRecord::with_opaque_to(TOPIC, i).partition(0).key(&key);
        if let Some(p) = p {
            rec = rec.payload(p);
        }
        producer.send(rec).map_err(|(e, _)| e).expect("enqueue");
        // One at a time, so the offsets follow the corpus order.
        producer.flush(Duration::from_secs(30)).expect("flush");
    }
    let got = landed.0.lock();
    (0..payloads.len())
        .map(|i| match got.get(&i) {
            Some(Ok(o)) => *o,
            other => panic!("message {i} not produced: {other:?}"),
        })
        .collect()
}

fn spawn_collector(dir: &Path, broker: &str, sink: &str, dlq: &Path) -> Child {
    let http_port = free_port();
    let cfg = format!(
        r#"
http: {{enabled: true, address: "127.0.0.1:{http_port}"}}
input:
  kafka:
    addresses: ["{broker}"]
    topics: ["{TOPIC}"]
    consumer_group: "{GROUP}"
    start_from_oldest: true
    commit_period: 100ms
    librdkafka_options:
      fetch.wait.max.ms: "10"
      # Nothing about sizes: librdkafka's defaults read the 33 MB message (a fetch returns at
      # least one whole record batch; receive.message.max.bytes is 100 MB). docs/bad-input.md.
pipeline:
  threads: 2
  processors:
    - mapping: |
{mapping}
output:
  flexprice:
    api_host: "{sink}"
    api_key: test-key
    scheme: http
    batching: {{count: 20, period: 20ms}}
    retry_backoff: {{initial_interval: 10ms, max_interval: 100ms}}
    dead_letter: {{path: "{dlq}"}}
logger: {{level: INFO, format: json, progress_period: 0s}}
shutdown_timeout: 10s
"#,
        mapping = MAPPING
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        dlq = dlq.display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, cfg).expect("config");
    Command::new(env!("CARGO_BIN_EXE_flexprice-collector"))
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("stderr file"))
        .spawn()
        .expect("spawn collector")
}

/// The complete records so far: while the collector appends a multi-megabyte record, a
/// reader can see the first part of it, so a last line without its `\n` is not read yet.
fn dead_letters(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).expect("each dead-letter line is JSON"))
        .collect()
}

#[test]
fn bad_input_is_dead_lettered_with_its_reason_and_the_pipeline_keeps_going() {
    let broker = Broker::start();
    create_topic(&broker.addr, TOPIC, 1);
    let sink = ApiDouble::start(ApiDoubleConfig::default()).expect("sink");
    let dir = tempfile::tempdir().expect("tempdir");
    let dlq = dir.path().join("dead-letter.jsonl");

    // Every corpus message sits between two good events: a bad one must not take its
    // neighbours down.
    let cases = corpus();
    let mut payloads = Vec::new();
    let mut expect = Vec::new();
    for (i, (name, payload, want)) in cases.iter().enumerate() {
        let id = format!("good-{i}");
        payloads.push(Some(event(&id, r#","properties":{"units":1}"#)));
        expect.push((
            "good neighbour",
            Expect::Delivered(Box::leak(id.into_boxed_str())),
        ));
        payloads.push(payload.clone());
        expect.push((name, want.clone()));
    }
    payloads.push(Some(event("good-last", "")));
    expect.push(("good neighbour", Expect::Delivered("good-last")));
    let offsets = produce_raw(&broker.addr, &payloads);
    let end = offsets.last().expect("produced") + 1;

    let mut child = spawn_collector(dir.path(), &broker.addr, &sink.addr().to_string(), &dlq);
    let delivered_want = expect
        .iter()
        .filter(|(_, e)| matches!(e, Expect::Delivered(_)))
        .count() as u64;
    let dead_want = expect
        .iter()
        .filter(|(_, e)| matches!(e, Expect::DeadLetter(_)))
        .count();
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    wait_until(
        Duration::from_secs(90),
        "every event delivered or dead-lettered",
        || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("collector exited early ({status}):\n{}", stderr());
            }
            sink.stats().events_accepted >= delivered_want && dead_letters(&dlq).len() >= dead_want
        },
    );
    // Offsets advance past every message, bad ones and skipped ones included.
    wait_until(
        Duration::from_secs(30),
        "the committed offset to reach the end",
        || committed(&broker.addr, GROUP, TOPIC, 1).get(&0) == Some(&end),
    );

    // SIGTERM: a clean stop, exit 0.
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "signal the collector");
    wait_until(Duration::from_secs(20), "the collector to exit", || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    let status = child.wait().expect("exit status");
    let log = stderr();
    assert!(status.success(), "collector exit {status}:\n{log}");
    assert!(!log.contains("panicked"), "a panic:\n{log}");

    // Outcomes, one by one.
    let accepted: std::collections::HashSet<String> = sink.accepted_ids().into_iter().collect();
    let records = dead_letters(&dlq);
    let by_offset: BTreeMap<i64, &serde_json::Value> = records
        .iter()
        .map(|r| (r["source"]["offset"].as_i64().expect("offset"), r))
        .collect();
    assert_eq!(
        by_offset.len(),
        records.len(),
        "one record per dead-lettered message"
    );
    let mut failures = Vec::new();
    for ((name, want), offset) in expect.iter().zip(&offsets) {
        let dl = by_offset.get(offset);
        match want {
            Expect::Delivered(id) => {
                if !accepted.contains(*id) {
                    failures.push(format!("{name} ({id}): not delivered; dead letter: {dl:?}"));
                }
            }
            Expect::DeadLetter(reason) => match dl {
                Some(r) => {
                    let got = r["reason"].as_str().unwrap_or_default();
                    // Reasons quote the input but stay readable (and log lines short).
                    if got.len() > 1200 {
                        failures.push(format!("{name}: reason of {} bytes", got.len()));
                    }
                    eprintln!(
                        "{name:<50} -> {}",
                        got.chars().take(200).collect::<String>()
                    );
                    if !got.contains(reason) {
                        failures.push(format!("{name}: reason {got:?}, want {reason:?}"));
                    }
                    if r["source"]["topic"] != TOPIC || r["event"].is_null() {
                        failures.push(format!("{name}: record lacks its source or payload"));
                    }
                    // The exact payload can be recovered from the record, to fix and replay.
                    let i = offsets.iter().position(|o| o == offset).expect("offset");
                    let raw = payloads[i].clone().unwrap_or_default();
                    let kept = match (r["event"].as_str(), r["event_base64"].as_str()) {
                        (_, Some(b64)) => {
                            base64::engine::general_purpose::STANDARD.decode(b64).ok()
                        }
                        (Some(text), None) => Some(text.as_bytes().to_vec()),
                        (None, None) => None,
                    };
                    if kept.as_deref() != Some(&raw[..]) {
                        failures.push(format!("{name}: payload not kept byte for byte"));
                    }
                }
                None => failures.push(format!("{name}: not dead-lettered")),
            },
            Expect::Skipped => {
                if dl.is_some() {
                    failures.push(format!("{name}: dead-lettered, want skipped"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(records.len(), dead_want, "nothing else dead-lettered");
    assert_eq!(sink.stats().duplicate_events, 0);
}
