//! `flexprice-load`: the load generator and the raw-consume yardstick of the benchmarks.
//!
//! - `produce` writes N synthetic usage events (event_name, external_customer_id, timestamp and
//!   5–10 properties of mixed types, ~300 bytes) into a topic, round-robin over its partitions,
//!   at a target rate or as fast as the broker takes them, with a progress line on stderr and
//!   a JSON summary on stdout.
//! - `consume` is librdkafka alone: a `BaseConsumer` that counts messages to N and throws them
//!   away. It is what "as fast as Kafka can be read on this machine" means in
//!   `scripts/bench-e2e`, so the collector's rate is reported as a ratio of it.
//!
//! Both are bounded: by count and by `--timeout`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argh::FromArgs;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

/// Load generator and raw consumer for the flexprice-collector benchmarks.
#[derive(FromArgs)]
struct Cli {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Produce(ProduceCmd),
    Consume(ConsumeCmd),
}

/// Produce N synthetic usage events into a topic.
#[derive(FromArgs)]
#[argh(subcommand, name = "produce")]
struct ProduceCmd {
    /// bootstrap servers (default 127.0.0.1:9092)
    #[argh(option, default = "String::from(\"127.0.0.1:9092\")")]
    brokers: String,
    /// topic (default usage-events)
    #[argh(option, default = "String::from(\"usage-events\")")]
    topic: String,
    /// events to produce (default 1000000)
    #[argh(option, short = 'n', default = "1_000_000")]
    count: u64,
    /// partitions to spread over, round-robin (default: all of the topic's)
    #[argh(option, short = 'p')]
    partitions: Option<i32>,
    /// target events per second; 0 = as fast as possible (default 0)
    #[argh(option, default = "0")]
    rate: u64,
    /// messages per record batch (librdkafka batch.num.messages, default 10000)
    #[argh(option, default = "10_000")]
    batch: u64,
    /// give up after this many seconds (default 600)
    #[argh(option, default = "600")]
    timeout: u64,
    /// no progress line
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// extra librdkafka property `key=value` (repeatable)
    #[argh(option, short = 'X')]
    set: Vec<String>,
}

/// Count N messages of a topic with librdkafka alone (nothing else is done with them).
#[derive(FromArgs)]
#[argh(subcommand, name = "consume")]
struct ConsumeCmd {
    /// bootstrap servers (default 127.0.0.1:9092)
    #[argh(option, default = "String::from(\"127.0.0.1:9092\")")]
    brokers: String,
    /// topic (default usage-events)
    #[argh(option, default = "String::from(\"usage-events\")")]
    topic: String,
    /// messages to count (default 1000000)
    #[argh(option, short = 'n', default = "1_000_000")]
    count: u64,
    /// consumer group (default: a fresh one, so the topic is read from the start)
    #[argh(option)]
    group: Option<String>,
    /// give up after this many seconds (default 300)
    #[argh(option, default = "300")]
    timeout: u64,
    /// no progress line
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// extra librdkafka property `key=value` (repeatable), applied last
    #[argh(option, short = 'X')]
    set: Vec<String>,
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    let r = match cli.command {
        Command::Produce(p) => produce(&p),
        Command::Consume(c) => consume(&c),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flexprice-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn apply_overrides(cfg: &mut ClientConfig, sets: &[String]) -> Result<(), String> {
    for kv in sets {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("-X {kv}: expected key=value"))?;
        cfg.set(k.trim(), v.trim());
    }
    Ok(())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Delivery reports: counted, never stored, so memory does not grow with N.
#[derive(Default)]
struct Reports {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: parking_lot::Mutex<Option<String>>,
}

struct Counting(Arc<Reports>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                self.0
                    .first_error
                    .lock()
                    .get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Small deterministic generator (xorshift64*): the same seq gives the same event, so runs
/// are comparable, and no per-event syscall or lock is spent on randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const EVENTS: [&str; 4] = [
    "api.request",
    "llm.tokens",
    "storage.usage",
    "compute.minutes",
];
const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "ap-south-1", "us-west-2"];
const MODELS: [&str; 3] = ["gpt-4o", "claude-3-5-sonnet", "llama-3-70b"];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// One synthetic usage event as a Flexprice collector would receive it: the API's shape, with
/// properties of mixed types (strings, integers, floats, booleans) that the seed mapping turns
/// into strings.
fn event(seq: u64, ts_ms: u64, out: &mut String) {
    use std::fmt::Write;
    out.clear();
    let mut r = Rng::new(seq);
    let name = EVENTS[(seq % EVENTS.len() as u64) as usize];
    let secs = ts_ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let days = secs / 86_400;
    let (y, mo, d) = civil(days as i64);
    let _ = write!(
        out,
        "{{\"event_name\":\"{name}\",\"external_customer_id\":\"cust_{:05}\",\
         \"timestamp\":\"{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z\",\"properties\":{{",
        r.below(10_000),
        ts_ms % 1000
    );
    let _ = write!(
        out,
        "\"region\":\"{}\",\"request_id\":\"req_{:016x}\",\"status_code\":{},\"duration_ms\":{}.{:02},\
         \"bytes\":{},\"cached\":{}",
        REGIONS[r.below(4) as usize],
        r.next(),
        [200, 201, 204, 400, 500][r.below(5) as usize],
        r.below(2000),
        r.below(100),
        r.below(10_000_000),
        r.below(2) == 0
    );
    // 6 to 10 properties: the extra ones vary by event.
    let extra = r.below(5);
    if extra > 0 {
        let _ = write!(
            out,
            ",\"model\":\"{}\"",
            MODELS[r.below(MODELS.len() as u64) as usize]
        );
    }
    if extra > 1 {
        let _ = write!(out, ",\"input_tokens\":{}", r.below(50_000));
    }
    if extra > 2 {
        let _ = write!(
            out,
            ",\"method\":\"{}\"",
            METHODS[r.below(METHODS.len() as u64) as usize]
        );
    }
    if extra > 3 {
        let _ = write!(
            out,
            ",\"endpoint\":\"/v1/projects/{}/items\"",
            r.below(1000)
        );
    }
    out.push_str("}}");
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn partition_count(client: &BaseConsumer, topic: &str) -> Result<i32, String> {
    let md = client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata for {topic}: {e}"))?;
    let n = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if n == 0 {
        return Err(format!("topic {topic} has no partitions (does it exist?)"));
    }
    Ok(n as i32)
}

fn produce(c: &ProduceCmd) -> Result<(), String> {
    let reports = Arc::new(Reports::default());
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &c.brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", c.batch.max(1).to_string())
        .set("batch.size", "4000000")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("compression.type", "none")
        .set("acks", "1");
    apply_overrides(&mut cfg, &c.set)?;
    let producer: BaseProducer<Counting> = cfg
        .create_with_context(Counting(Arc::clone(&reports)))
        .map_err(|e| format!("producer: {e}"))?;
    let partitions = match c.partitions {
        Some(p) if p > 0 => p,
        _ => {
            let probe: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &c.brokers)
                .create()
                .map_err(|e| format!("metadata client: {e}"))?;
            partition_count(&probe, &c.topic)?
        }
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(c.timeout);
    let mut next_progress = start + Duration::from_secs(1);
    let mut body = String::with_capacity(512);
    let mut bytes: u64 = 0;
    for seq in 0..c.count {
        if c.rate > 0 {
            // Pace against the schedule, not per event: sleep only when ahead by > 1 ms.
            let due = start + Duration::from_secs_f64(seq as f64 / c.rate as f64);
            let now = Instant::now();
            if due > now + Duration::from_millis(1) {
                producer.poll(Duration::ZERO);
                std::thread::sleep(due - now);
            }
        }
        event(seq, unix_ms(), &mut body);
        bytes += body.len() as u64;
        let mut record: BaseRecord<'_, (), str, ()> = BaseRecord::to(&c.topic)
            .partition((seq % partitions as u64) as i32)
            .payload(body.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if Instant::now() > deadline {
                        return Err(format!("timed out after {}s (queue full)", c.timeout));
                    }
                    record = r;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("produce: {e}")),
            }
        }
        if seq % 1024 == 0 {
            producer.poll(Duration::ZERO);
            let now = Instant::now();
            if now >= next_progress {
                next_progress = now + Duration::from_secs(1);
                progress(c.quiet, "produced", seq + 1, c.count, start);
            }
            if now > deadline {
                return Err(format!("timed out after {}s", c.timeout));
            }
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    producer
        .flush(left.max(Duration::from_secs(1)))
        .map_err(|e| format!("flush: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !c.quiet {
        eprintln!();
    }
    let ok = reports.ok.load(Ordering::Relaxed);
    let failed = reports.failed.load(Ordering::Relaxed);
    println!(
        "{{\"produced\":{ok},\"failed\":{failed},\"partitions\":{partitions},\"seconds\":{secs:.3},\
         \"events_per_sec\":{:.0},\"avg_bytes\":{:.0}}}",
        ok as f64 / secs,
        bytes as f64 / c.count.max(1) as f64
    );
    if failed > 0 || ok != c.count {
        let first = reports.first_error.lock().clone().unwrap_or_default();
        return Err(format!(
            "{failed} deliveries failed, {ok}/{} acknowledged; first error: {first}",
            c.count
        ));
    }
    Ok(())
}

fn progress(quiet: bool, what: &str, done: u64, total: u64, start: Instant) {
    if quiet {
        return;
    }
    let secs = start.elapsed().as_secs_f64();
    let pct = done as f64 * 100.0 / total.max(1) as f64;
    let width = 30usize;
    let filled = ((pct / 100.0) * width as f64) as usize;
    eprint!(
        "\r[{}{}] {what} {done}/{total} ({pct:.0}%) {:.0} ev/s   ",
        "#".repeat(filled.min(width)),
        " ".repeat(width - filled.min(width)),
        done as f64 / secs.max(1e-9)
    );
    let _ = std::io::stderr().flush();
}

fn consume(c: &ConsumeCmd) -> Result<(), String> {
    let group = c
        .group
        .clone()
        .unwrap_or_else(|| format!("raw-consume-{}-{}", std::process::id(), unix_ms()));
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &c.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    apply_overrides(&mut cfg, &c.set)?;
    let consumer: BaseConsumer = cfg.create().map_err(|e| format!("consumer: {e}"))?;
    consumer
        .subscribe(&[&c.topic])
        .map_err(|e| format!("subscribe: {e}"))?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(c.timeout);
    let mut first: Option<Instant> = None;
    let mut n: u64 = 0;
    let mut bytes: u64 = 0;
    let mut next_progress = start + Duration::from_secs(1);
    while n < c.count {
        let check = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                n += 1;
                bytes += m.payload_len() as u64;
                n % 4096 == 0
            }
            Some(Err(e)) => {
                eprintln!("consume error: {e}");
                true
            }
            None => true,
        };
        if check {
            let now = Instant::now();
            if now > deadline {
                return Err(format!("timed out after {}s at {n}/{}", c.timeout, c.count));
            }
            if now >= next_progress {
                next_progress = now + Duration::from_secs(1);
                progress(c.quiet, "consumed", n, c.count, start);
            }
        }
    }
    let end = Instant::now();
    if !c.quiet {
        eprintln!();
    }
    let from_first = end.duration_since(first.unwrap_or(start)).as_secs_f64();
    let wall = end.duration_since(start).as_secs_f64();
    println!(
        "{{\"consumed\":{n},\"bytes\":{bytes},\"seconds\":{from_first:.3},\"wall_seconds\":{wall:.3},\
         \"events_per_sec\":{:.0}}}",
        n as f64 / from_first.max(1e-9)
    );
    Ok(())
}
