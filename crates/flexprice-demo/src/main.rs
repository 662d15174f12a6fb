//! `flexprice-demo`: the collector's main job end to end on an embedded default, with no
//! set-up — librdkafka's in-process mock Kafka cluster, the Flexprice API double, sample usage
//! events, the real pipeline — then a summary of what happened.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use flexprice_api_double::{ApiDouble, ApiDoubleConfig};
use flexprice_collector::pipeline::Control;
use flexprice_collector::runtime::{self, Plan};

/// The same allocator as the collector binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run the collector's main job end to end on an embedded default: an in-process mock Kafka
/// cluster, the Flexprice API double, sample usage events; then print what happened.
#[derive(argh::FromArgs)]
struct DemoOptions {
    /// usage events to produce (default 200000)
    #[argh(option, default = "200_000")]
    events: u64,
    /// topic partitions (default 4)
    #[argh(option, default = "4")]
    partitions: i32,
    /// make one event in N invalid (no customer id) to show dead-lettering; 0 = none (default 10000)
    #[argh(option, default = "10_000")]
    invalid_every: u64,
}

fn main() -> std::process::ExitCode {
    let opts: DemoOptions = argh::from_env();
    match run(&opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

const TOPIC: &str = "usage-events";
const API_KEY: &str = "demo-api-key";
/// ~300-byte events per partition that fit the mock broker's 5 MB partition log with room.
const MAX_EVENTS_PER_MOCK_PARTITION: u64 = 12_000;

/// The config the demo runs: the docs' mapping, bulk batching, a dead-letter file.
fn demo_config(bootstrap: &str, api: std::net::SocketAddr, dead_letter: &str) -> String {
    format!(
        r#"http: {{enabled: false}}
input:
  kafka:
    addresses: ["{bootstrap}"]
    topics: [{TOPIC}]
    consumer_group: flexprice-demo
    start_from_oldest: true
    commit_period: 500ms
    checkpoint_limit: 20000
    fetch_buffer_cap: 4096
pipeline:
  threads: -1
  processors:
    - mapping: |
        root = this
        root.properties = this.properties.map_each(p -> p.value.string())
output:
  flexprice:
    api_host: "{api}"
    api_key: {API_KEY}
    scheme: http
    max_in_flight: 4
    batching: {{count: 1000, period: 100ms}}
    retry_backoff: {{initial_interval: 100ms, max_interval: 1s}}
    dead_letter: {{path: "{dead_letter}"}}
logger: {{level: ${{DEMO_LOG_LEVEL:WARN}}, format: logfmt}}
shutdown_timeout: 10s
"#
    )
}

fn sample_event(i: u64, invalid_every: u64) -> String {
    let customer = if invalid_every > 0 && i % invalid_every == invalid_every - 1 {
        String::new()
    } else {
        format!(r#","external_customer_id":"cust_{:04}""#, i % 500)
    };
    format!(
        r#"{{"event_name":"api.request"{customer},"timestamp":"2026-11-25T06:00:00.000Z","properties":{{"endpoint":"/v1/chat/completions","method":"POST","status":200,"tokens":{},"latency_ms":{}.5,"model":"gpt-4o","cached":false}}}}"#,
        100 + i % 900,
        10 + i % 90
    )
}

fn run(opts: &DemoOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let api = ApiDouble::start(ApiDoubleConfig {
        api_key: API_KEY.into(),
        ..ApiDoubleConfig::default()
    })
    .context("starting the Flexprice API double")?;
    let cluster = MockCluster::new(1).context("starting the mock Kafka cluster")?;
    // librdkafka's mock broker keeps only the newest 5 MB of each partition: spread the sample
    // events so no partition exceeds ~3.5 MB, or the oldest would be gone before they are read.
    let partitions = opts
        .partitions
        .max(opts.events.div_ceil(MAX_EVENTS_PER_MOCK_PARTITION) as i32);
    cluster
        .create_topic(TOPIC, partitions, 1)
        .context("creating the demo topic")?;
    let bootstrap = cluster.bootstrap_servers();

    println!(
        "▶ mock Kafka at {bootstrap}, Flexprice API double at http://{}",
        api.addr()
    );
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .context("creating the demo producer")?;
    for i in 0..opts.events {
        let payload = sample_event(i, opts.invalid_every);
        let key = format!("cust_{:04}", i % 500);
        let mut record = BaseRecord::to(TOPIC).payload(&payload).key(&key);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(10));
                    record = r;
                }
                Err((e, _)) => return Err(e).context("producing demo events"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing demo events")?;
    let invalid = opts.events.checked_div(opts.invalid_every).unwrap_or(0);
    println!("▶ produced {} usage events into `{TOPIC}` ({} partitions, {invalid} without a customer id)", opts.events, partitions);

    let dir = std::env::temp_dir().join(format!("flexprice-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a temp dir")?;
    let dead_letter = dir.join("dead-letter.jsonl");
    let text = demo_config(&bootstrap, api.addr(), &dead_letter.display().to_string());
    let plan = Plan::from_text("demo", &text, &|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    flexprice_collector::observe::logs::init(&plan.config.logger);

    let ctl = Control::new(plan.config.shutdown_timeout.get());
    let run_started = Instant::now();
    let pipeline = {
        let ctl = ctl.clone();
        std::thread::Builder::new()
            .name("pipeline".into())
            .spawn(move || runtime::run(plan, &ctl))
            .context("starting the pipeline")?
    };
    // Stop once every event is accounted for: accepted by the API or dead-lettered. Bounded:
    // a demo that cannot finish says so instead of hanging.
    let limit = Instant::now() + Duration::from_secs(300);
    let m = flexprice_collector::pipeline::telemetry::metrics::get();
    while !pipeline.is_finished() && Instant::now() < limit {
        if api.stats().events_accepted + m.output_dead_letter.get() >= opts.events {
            break;
        }
        std::thread::sleep(Duration::from_millis(20)); // polling counters, not synchronising
    }
    let complete = api.stats().events_accepted + m.output_dead_letter.get() >= opts.events;
    ctl.request_stop();
    let summary = pipeline
        .join()
        .map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    let secs = run_started.elapsed().as_secs_f64();
    let stats = api.stats();
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!();
    println!("  events produced   {:>10}", opts.events);
    println!("  events read       {:>10}", summary.received);
    println!(
        "  sent (API 202)    {:>10}   unique event_ids at the API: {}, duplicates: {}",
        summary.sent, stats.unique_event_ids, stats.duplicate_events
    );
    println!(
        "  batches           {:>10}   bulk requests: {}, single: {}",
        summary.batches, stats.requests_bulk, stats.requests_single
    );
    println!(
        "  dead-lettered     {:>10}   -> {}",
        summary.dead_lettered,
        dead_letter.display()
    );
    println!("  filtered          {:>10}", summary.filtered);
    println!(
        "  latency           request p50 {}, p99 {}; event age at delivery p50 {}, p99 {} (all events were produced before the collector started)",
        ms(summary.send_latency.quantile(0.5)),
        ms(summary.send_latency.quantile(0.99)),
        ms(summary.e2e_latency.quantile(0.5)),
        ms(summary.e2e_latency.quantile(0.99)),
    );
    println!(
        "  throughput        {:>10.0} events/s ({} events in {secs:.2}s incl. the consumer-group join; {:.2}s with set-up)",
        summary.received as f64 / secs,
        summary.received,
        started.elapsed().as_secs_f64()
    );
    api.shutdown();
    if !complete {
        anyhow::bail!("not every event was accounted for within the time limit");
    }
    Ok(())
}
