//! Raw consume rate of `input.kafka` next to librdkafka's own, on the same topic.
//!
//! Starts `tansu` on a free local port (or uses `--brokers`), produces `--count` messages of
//! `--size` bytes over `--partitions` partitions, then reads the whole topic three times, each
//! with a fresh consumer group:
//! 1. `librdkafka`: a bare `BaseConsumer` poll loop that counts messages (the ceiling);
//! 2. `input`: the collector's Kafka input alone, into a channel drained by a thread that acks
//!    every message (offset tracking, watermark stores and commits included);
//! 3. `pipeline`: the whole runtime (`runtime::run`) with no processors and `output.drop`.
//!
//! Run it with `scripts/bench-consume`.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use flexprice_collector::config::Config;
use flexprice_collector::input::kafka::{KafkaConfig, KafkaInput};
use flexprice_collector::pipeline::telemetry::metrics;
use flexprice_collector::pipeline::Ack;
use flexprice_collector::pipeline::Control;
use flexprice_collector::pipeline::{chunk_len, chunk_slots, Input};
use flexprice_collector::runtime;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

struct Args {
    brokers: Option<String>,
    count: usize,
    size: usize,
    partitions: i32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        brokers: None,
        count: 1_000_000,
        size: 300,
        partitions: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--brokers" => a.brokers = Some(v()?),
            "--count" => a.count = v()?.parse()?,
            "--size" => a.size = v()?.parse()?,
            "--partitions" => a.partitions = v()?.parse()?,
            other => bail!("unknown argument {other} (--brokers, --count, --size, --partitions)"),
        }
    }
    Ok(a)
}

struct Tansu(Child);

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tansu() -> anyhow::Result<(Tansu, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("tcp://127.0.0.1:{port}");
    let bin = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
    let child = Command::new(&bin)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let guard = Tansu(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        if Instant::now() > deadline {
            bail!("tansu did not listen on {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((guard, addr))
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
/// partition is ever paused: tansu 0.6 answers a fetch that starts inside a record batch with
/// nothing, so a resume mid-batch would stall the benchmark (a real Kafka broker does not).
fn kafka_yaml(addr: &str, topic: &str, group: &str) -> String {
    format!(
        "addresses: ['{addr}']\ntopics: [{topic}]\nconsumer_group: {group}\n\
         checkpoint_limit: 100000\n\
         librdkafka_options: {{fetch.wait.max.ms: '10'}}\n"
    )
}

fn input_alone(addr: &str, topic: &str, n: usize) -> anyhow::Result<f64> {
    let cfg: KafkaConfig = serde_yaml_ng::from_str(&kafka_yaml(addr, topic, "bench-input"))?;
    let cap = cfg.fetch_buffer_cap;
    let (tx, rx) = crossbeam_channel::bounded(chunk_slots(cap));
    let input: Box<dyn Input> = Box::new(KafkaInput::new(cfg, false)?);
    let ctl = Control::new(Duration::from_secs(10));
    let c2 = ctl.clone();
    let t = std::thread::spawn(move || input.run(tx, chunk_len(cap), &c2));
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
    let config =
        Config::from_str_named("bench", &yaml, &|_| None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctl = Control::new(Duration::from_secs(10));
    let c2 = ctl.clone();
    let m = metrics::get();
    let base = m.output_sent.get() + m.output_error.get();
    let t = std::thread::spawn(move || runtime::run(&config, &c2));
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
    let (_broker, addr) = match &a.brokers {
        Some(b) => (None, b.clone()),
        None => {
            let (g, addr) = start_tansu()?;
            (Some(g), addr)
        }
    };
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
        a.count,
        a.size,
        a.partitions,
        if a.brokers.is_some() {
            &addr
        } else {
            "tansu (memory)"
        }
    );
    Ok(())
}
