//! What the tests share: Apache Kafka ([`kafka`]), topic creation, a producer that records
//! where each message landed, a harness that runs the Kafka input on its own thread with the
//! test playing the output, the fault harness ([`faults`]) and the output harness
//! ([`outputs`]).
#![allow(dead_code)]

pub mod faults;
pub mod kafka;
pub mod outputs;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::TcpListener;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use flexprice_collector::input::kafka::KafkaConfig;
use flexprice_collector::input::InputSpec;
use flexprice_collector::pipeline::telemetry::health::StageHealth;
use flexprice_collector::pipeline::{
    chunk_len, chunk_slots, Chunk, Control, Input, InputContext, Message,
};
use parking_lot::Mutex;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

/// Logs to the test output, filtered by `RUST_LOG` (e.g. `RUST_LOG=flexprice_collector=debug`).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Run the test `name` (its full path in this binary, an `#[ignore]`d one) in a process of
/// its own, for tests of process-wide state (metrics, readiness), and fail if it fails.
pub fn in_own_process(name: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} in its own process:\n{text}"
    );
}

/// Poll `cond` until it holds; panic naming `what` if `timeout` passes first.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A broker to run a test against: the binary's shared Apache Kafka broker. Tests keep to
/// their own topics and groups.
pub struct Broker {
    pub addr: String,
}

impl Broker {
    pub fn start() -> Broker {
        Broker {
            addr: kafka::shared().bootstrap.clone(),
        }
    }
}

/// Run a future to completion on this thread (rdkafka's admin API returns futures; the
/// tests have no async runtime).
pub fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

pub fn create_topic(addr: &str, topic: &str, partitions: i32) {
    create_topic_with(addr, topic, partitions, 1, &[]);
}

/// [`create_topic`] with a replication factor and topic configs (`cleanup.policy`,
/// `min.insync.replicas`, …).
pub fn create_topic_with(
    addr: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let results = block_on(admin.create_topics(&[new], &opts)).expect("create_topics");
    for r in results {
        r.expect("topic created");
    }
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("metadata client");
    wait_until(Duration::from_secs(20), "topic metadata", || {
        probe
            .fetch_metadata(Some(topic), Duration::from_secs(2))
            .ok()
            .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
            == Some(partitions as usize)
    });
}

/// Where every produced message landed: seq -> (partition, offset).
#[derive(Default)]
struct Landed {
    at: Mutex<HashMap<usize, (i32, i64)>>,
    failed: Mutex<Vec<String>>,
}

struct Recorder(Arc<Landed>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
        match r {
            Ok(m) => {
                self.0.at.lock().insert(seq, (m.partition(), m.offset()));
            }
            Err((e, _)) => self.0.failed.lock().push(e.to_string()),
        }
    }
}

/// The payload of message `seq`: JSON with the seq and padding to about `size` bytes.
pub fn payload(seq: usize, size: usize) -> String {
    let head = format!("{{\"seq\":{seq},\"pad\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Produce messages `seqs` (round-robin over `partitions`, key = seq, payload from
/// [`payload`]) in record batches of at most `batch` messages, and return where each landed.
///
/// Real producers batch (`linger.ms`), so a restart's committed offset usually lies inside a
/// record batch; Kafka answers such a fetch with the whole batch and the consumer skips what
/// came before the offset. Tests produce in batches of `batch` to keep that case covered.
pub fn produce(
    addr: &str,
    topic: &str,
    partitions: i32,
    seqs: std::ops::Range<usize>,
    size: usize,
    batch: usize,
) -> HashMap<usize, (i32, i64)> {
    let landed = Arc::new(Landed::default());
    let producer: BaseProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", if batch == 1 { "0" } else { "5" })
        .set("batch.num.messages", batch.to_string())
        .set("queue.buffering.max.messages", "200000")
        .set("compression.type", "none")
        .create_with_context(Recorder(Arc::clone(&landed)))
        .expect("producer");
    let n = seqs.len();
    for seq in seqs {
        let body = payload(seq, size);
        let key = seq.to_string();
        let mut record = BaseRecord::with_opaque_to(topic, seq)
            .partition((seq % partitions as usize) as i32)
            .key(&key)
            .payload(&body);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(Instant::now() < deadline, "produce stuck: {e}");
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let failed = landed.failed.lock().clone();
    assert!(
        failed.is_empty(),
        "deliveries failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    let at = std::mem::take(&mut *landed.at.lock());
    assert_eq!(at.len(), n, "every produced message acknowledged");
    at
}

/// The seq in a payload written by [`payload`] (or in a JSON line an output wrote).
pub fn seq_of(bytes: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(bytes).ok()?;
    let i = s.find("\"seq\":")? + 6;
    let digits: String = s[i..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Each partition's high watermark (the offset after its last record, markers included).
pub fn high_watermarks(addr: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            let (_, hi) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            (p, hi)
        })
        .collect()
}

/// The offsets a consumer group has committed, per partition (-1 when none).
pub fn committed(addr: &str, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    got.elements()
        .iter()
        .map(|e| {
            let o = match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            (e.partition(), o)
        })
        .collect()
}

/// YAML for `input.kafka` against `addr`, with a short fetch wait plus `extra` lines
/// (already indented by two spaces).
/// `KAFKA_TEST_DEBUG=fetch,cgrp` turns on librdkafka's debug contexts (with `RUST_LOG=debug`).
pub fn kafka_yaml(addr: &str, topics: &str, group: &str, extra: &str) -> String {
    let debug = std::env::var("KAFKA_TEST_DEBUG")
        .map(|d| format!("  debug: '{d}'\n"))
        .unwrap_or_default();
    format!(
        "addresses: ['{addr}']\ntopics: [{topics}]\nconsumer_group: '{group}'\n{extra}\
         librdkafka_options:\n  fetch.wait.max.ms: '10'\n{debug}"
    )
}

/// The Kafka input running on its own thread; the test reads `rx` and acks, like an output.
pub struct Running {
    pub ctl: Control,
    pub rx: Inbox,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The test's end of the input's channel: takes the input's chunks and hands out their
/// messages one by one. A clone reads the same channel (with its own, empty, chunk buffer).
pub struct Inbox {
    rx: Receiver<Chunk>,
    chunk_len: usize,
    buf: std::cell::RefCell<std::collections::VecDeque<Message>>,
}

impl Clone for Inbox {
    fn clone(&self) -> Inbox {
        Inbox {
            rx: self.rx.clone(),
            chunk_len: self.chunk_len,
            buf: Default::default(),
        }
    }
}

impl Inbox {
    /// The next message, waiting up to `timeout` for a chunk.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            buf.extend(self.rx.recv_timeout(timeout)?);
        }
        buf.pop_front().ok_or(RecvTimeoutError::Timeout)
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Option<Message> {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            buf.extend(self.rx.try_recv().ok()?);
        }
        buf.pop_front()
    }

    /// The most messages the channel and this inbox can hold right now (every queued chunk
    /// counted at the largest a chunk can be: twice the chunk length).
    pub fn len(&self) -> usize {
        self.rx.len() * 2 * self.chunk_len + self.buf.borrow().len()
    }
}

impl Running {
    pub fn start(yaml: &str, shutdown: Duration) -> Running {
        init_logs();
        let cfg: KafkaConfig = serde_yaml_ng::from_str(yaml).expect("kafka config");
        // The runtime's sizes for this fetch_buffer_cap.
        let cap = cfg.fetch_buffer_cap;
        let chunk_len = chunk_len(cap);
        let (tx, rx) = crossbeam_channel::bounded(chunk_slots(cap));
        let mut problems = flexprice_collector::config::Problems::default();
        let input: Box<dyn Input> = cfg
            .plan("input.kafka", &mut problems)
            .unwrap_or_else(|| panic!("kafka input: {problems:?}"));
        let ctl = Control::new(shutdown);
        let cx = InputContext {
            out: tx,
            chunk_len,
            control: ctl.clone(),
            health: StageHealth::input(),
            metadata: true,
        };
        let thread = std::thread::Builder::new()
            .name("test-kafka-input".into())
            .spawn(move || input.run(cx))
            .expect("input thread");
        Running {
            ctl,
            rx: Inbox {
                rx,
                chunk_len,
                buf: Default::default(),
            },
            thread: Some(thread),
        }
    }

    /// Graceful stop: what was received has been acked by the caller; tell the input the
    /// output drained, and wait (bounded) for it to commit and return.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.ctl.request_stop();
        // Anything still queued is dropped un-acked (redelivered later), as an output would
        // leave it on a deadline.
        while self.rx.try_recv().is_some() {}
        self.ctl.mark_drained();
        let t = self.thread.take().expect("running");
        wait_until(Duration::from_secs(30), "the input to return", || {
            t.is_finished()
        });
        t.join().expect("input thread panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.ctl.request_stop();
        self.ctl.mark_drained();
    }
}

/// A Kafka message's (partition, offset).
pub fn partition_offset(m: &Message) -> (i32, i64) {
    m.origin
        .kafka()
        .expect("a message from the Kafka input has a Kafka position")
}

/// What a test output saw: (partition, offset) -> times, and seqs.
#[derive(Default, Debug)]
pub struct Seen {
    pub times: HashMap<(i32, i64), u32>,
    pub seqs: HashMap<usize, u32>,
    pub total: usize,
}

impl Seen {
    pub fn record(&mut self, m: &Message) {
        *self.times.entry(partition_offset(m)).or_default() += 1;
        if let Some(s) = seq_of(&m.payload) {
            *self.seqs.entry(s).or_default() += 1;
        }
        self.total += 1;
    }

    /// Per partition: (messages seen, highest offset), for failure messages.
    pub fn summary(&self) -> std::collections::BTreeMap<i32, (usize, i64)> {
        let mut out = std::collections::BTreeMap::new();
        for (p, o) in self.times.keys() {
            let e = out.entry(*p).or_insert((0, -1));
            e.0 += 1;
            e.1 = e.1.max(*o);
        }
        out
    }

    pub fn duplicates(&self) -> usize {
        self.total - self.times.len()
    }

    /// Every produced message seen, at its recorded place.
    pub fn assert_all(&self, landed: &HashMap<usize, (i32, i64)>) {
        let missing: Vec<_> = landed
            .iter()
            .filter(|(_, at)| !self.times.contains_key(at))
            .take(10)
            .collect();
        assert!(
            missing.is_empty(),
            "{} of {} messages never delivered, e.g. {missing:?}",
            landed.len()
                - landed
                    .values()
                    .filter(|at| self.times.contains_key(at))
                    .count(),
            landed.len()
        );
    }
}
