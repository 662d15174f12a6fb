//! Raw consume rate of `input.kafka` next to librdkafka's own, on the same topic.
//!
//! Against the broker at `--brokers` (`perf/bench-consume` starts Apache Kafka with
//! `scripts/kafka up`), produces `--count` messages of
//! `--size` bytes over `--partitions` partitions, then reads the whole topic three times, each
//! with a fresh consumer group:
//! 1. `librdkafka`: a bare `BaseConsumer` poll loop that counts messages (the ceiling);
//! 2. `input`: the collector's Kafka input alone, into a channel drained by a thread that acks
//!    every message (offset tracking, watermark stores and commits included);
//! 3. `pipeline`: the whole runtime (`runtime::run`) with no processors and `output.drop`.
//!
//! Run it with `perf/bench-consume`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use flexprice_collector::config::Problems;
use flexprice_collector::input::kafka::KafkaConfig;
use flexprice_collector::input::InputSpec;
use flexprice_collector::pipeline::telemetry::health::StageHealth;
use flexprice_collector::pipeline::telemetry::metrics;
use flexprice_collector::pipeline::{chunk_len, chunk_slots, Ack, Control, Input, InputContext};
use flexprice_collector::runtime::{self, Plan};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

struct Args {
    brokers: String,
    count: usize,
    size: usize,
    partitions: i32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        brokers: String::new(),
        count: 1_000_000,
        size: 300,
        partitions: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--brokers" => a.brokers = v()?,
            "--count" => a.count = v()?.parse()?,
            "--size" => a.size = v()?.parse()?,
            "--partitions" => a.partitions = v()?.parse()?,
            other => bail!("unknown argument {other} (--brokers, --count, --size, --partitions)"),
        }
    }
    anyhow::ensure!(
        !a.brokers.is_empty(),
        "give --brokers host:port (perf/bench-consume starts a broker)"
    );
    Ok(a)
}

fn block_on<F: Future>(f: F) -> F::Output {
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

fn setup(addr: &str, topic: &str, a: &Args) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in block_on(admin.create_topics(
        &[NewTopic::new(
            topic,
            a.partitions,
            TopicReplication::Fixed(1),
        )],
        &opts,
    ))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .create()?;
    let started = Instant::now();
    for seq in 0..a.count {
        let head = format!("{{\"event_name\":\"api_call\",\"external_customer_id\":\"cust-{}\",\"seq\":{seq},\"pad\":\"", seq % 1000);
        let body = format!(
            "{head}{}\"}}",
            "x".repeat(a.size.saturating_sub(head.len() + 2))
        );
        let mut rec: BaseRecord<(), String> = BaseRecord::to(topic)
            .partition((seq % a.partitions as usize) as i32)
            .payload(&body);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(300))?;
    eprintln!(
        "produced {} x {} B in {:.1?}",
        a.count,
        a.size,
        started.elapsed()
    );
    Ok(())
}

/// Messages per second from the first message to the last.
fn rate(n: usize, first: Instant, last: Instant) -> f64 {
    n as f64 / last.duration_since(first).as_secs_f64().max(1e-9)
}

fn raw_librdkafka(addr: &str, topic: &str, n: usize) -> anyhow::Result<f64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "bench-raw")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    c.subscribe(&[topic])?;
    let mut got = 0usize;
    let mut bytes = 0usize;
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < n {
        if Instant::now() > deadline {
            bail!("raw consumer read only {got} of {n}");
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            bytes += m.payload_len();
            got += 1;
        }
    }
    let last = Instant::now();
    std::hint::black_box(bytes);
    Ok(rate(n, first.unwrap_or(last), last))
}

/// `checkpoint_limit` is raised above what the pipeline's bounded queues can hold, so no
/// partition is paused: the input's rate, not the pausing's, is measured.
fn kafka_yaml(addr: &str, topic: &str, group: &str) -> String {
    format!(
        "addresses: ['{addr}']\ntopics: [{topic}]\nconsumer_group: {group}\n\
         checkpoint_limit: 100000\n\
         librdkafka_options: {{fetch.wait.max.ms: '10'}}\n"
    )
}

fn input_alone(addr: &str, topic: &str, n: usize) -> anyhow::Result<f64> {
    let cfg: KafkaConfig = serde_json::from_value(serde_json::json!({
        "addresses": [addr], "topics": [topic], "consumer_group": "bench-input",
        "checkpoint_limit": 100000, "librdkafka_options": {"fetch.wait.max.ms": "10"},
    }))?;
    let mut problems = Problems::default();
    let input: Box<dyn Input> = cfg
        .plan("input.kafka", &mut problems)
        .ok_or_else(|| anyhow::anyhow!("input.kafka: {problems:?}"))?;
    let cap = input.buffer();
    let (tx, rx) = crossbeam_channel::bounded(chunk_slots(cap));
    let ctl = Control::new(Duration::from_secs(10));
    let cx = InputContext {
        out: tx,
        chunk_len: chunk_len(cap),
        control: ctl.clone(),
        health: StageHealth::input(),
        metadata: false,
    };
    let t = std::thread::spawn(move || input.run(cx));
    let mut got = 0usize;
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while got < n {
        if Instant::now() > deadline {
            bail!("input delivered only {got} of {n}");
        }
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            got += chunk.len();
            Ack::ack_all(chunk.into_iter().map(|m| m.ack));
        }
    }
    let last = Instant::now();
    ctl.request_stop();
    drop(rx);
    ctl.mark_drained();
    t.join()
        .map_err(|_| anyhow::anyhow!("input thread panicked"))??;
    Ok(rate(n, first.unwrap_or(last), last))
}

fn pipeline_to_drop(addr: &str, topic: &str, n: usize) -> anyhow::Result<f64> {
    let yaml = format!(
        "http: {{enabled: false}}\ninput:\n  kafka:\n{}output:\n  drop: {{}}\nlogger: {{level: WARN}}\n",
        kafka_yaml(addr, topic, "bench-pipeline")
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let plan = Plan::from_text("bench", &yaml, &|_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctl = Control::new(Duration::from_secs(10));
    let c2 = ctl.clone();
    let m = metrics::get();
    let base = m.output_sent.get() + m.output_error.get();
    let t = std::thread::spawn(move || runtime::run(plan, &c2));
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first = None;
    loop {
        let done = (m.output_sent.get() + m.output_error.get() - base) as usize;
        if done > 0 {
            first.get_or_insert_with(Instant::now);
        }
        if done >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("pipeline delivered only {done} of {n}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let last = Instant::now();
    ctl.request_stop();
    t.join()
        .map_err(|_| anyhow::anyhow!("pipeline thread panicked"))??;
    Ok(rate(n, first.unwrap_or(last), last))
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let addr = a.brokers.clone();
    let topic = format!("bench-{}", std::process::id());
    setup(&addr, &topic, &a)?;
    let raw = raw_librdkafka(&addr, &topic, a.count)?;
    println!("librdkafka BaseConsumer : {raw:>12.0} msg/s");
    let input = input_alone(&addr, &topic, a.count)?;
    println!(
        "input.kafka alone       : {input:>12.0} msg/s  ({:.0}% of librdkafka)",
        100.0 * input / raw
    );
    let pipe = pipeline_to_drop(&addr, &topic, a.count)?;
    println!(
        "pipeline -> output.drop : {pipe:>12.0} msg/s  ({:.0}% of librdkafka)",
        100.0 * pipe / raw
    );
    println!(
        "messages {} x {} B, {} partitions, broker {}",
        a.count, a.size, a.partitions, addr
    );
    Ok(())
}
