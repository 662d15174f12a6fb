//! Throughput of `output.flexprice` alone, to the in-process Flexprice-compatible sink on
//! 127.0.0.1: events are encoded up front (processor cost excluded), then fed through a
//! bounded channel as fast as the output takes them, and timed until every event is acked.
//!
//! cargo run --release -p flexprice-bench --bin output -- [events] [count] [max_in_flight]

use std::sync::Arc;
use std::time::{Duration, Instant};

use flexprice_api_double::{ApiDouble, ApiDoubleConfig};

use flexprice_collector::document::{Map, Value};
use flexprice_collector::output::flexprice::FlexpriceConfig;
use flexprice_collector::output::{OutputConfig, OutputKind};
use flexprice_collector::pipeline::{
    Body, Checkpointer, Control, Event, Origin, Position, CHUNK_MAX,
};
use flexprice_collector::runtime;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let n = arg(1, 500_000);
    let count = arg(2, 1000);
    let in_flight = arg(3, 4);
    let sink = ApiDouble::start(ApiDoubleConfig {
        api_key: "bench-key".into(),
        threads: 4,
        ..ApiDoubleConfig::default()
    })?;
    let dir = std::env::temp_dir().join(format!("flexprice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg: FlexpriceConfig = serde_json::from_value(serde_json::json!({
        "api_host": sink.addr().to_string(),
        "api_key": "bench-key",
        "scheme": "http",
        "max_in_flight": in_flight,
        "batching": {"count": count, "period": "100ms"},
        "dead_letter": {"path": dir.join("dlq.jsonl").to_string_lossy()},
    }))?;
    let out = runtime::start_output(&OutputConfig {
        label: String::new(),
        processors: Vec::new(),
        component: OutputKind::Flexprice(cfg),
    })?;
    let encoder = out.encoder();

    // A realistic event: ~230 bytes encoded.
    let cp = Checkpointer::new();
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let mut props = Map::new();
        props.insert("endpoint".into(), Value::Str("/api/orders".into()));
        props.insert("method".into(), Value::Str("POST".into()));
        props.insert("status_code".into(), Value::Str("200".into()));
        props.insert(
            "response_time_ms".into(),
            Value::Str(format!("{}", i % 500)),
        );
        let mut m = Map::new();
        m.insert("event_name".into(), Value::Str("api.request".into()));
        m.insert(
            "external_customer_id".into(),
            Value::Str(format!("cust_{}", i % 1000)),
        );
        m.insert(
            "timestamp".into(),
            Value::Str("2026-11-25T06:00:00.000Z".into()),
        );
        m.insert("properties".into(), Value::Object(props));
        let origin = Origin::at(Position::Kafka {
            topic: Arc::from("usage"),
            partition: 0,
            offset: i as i64,
        });
        let bytes = encoder
            .encode(&Value::Object(m), &origin)
            .map_err(anyhow::Error::msg)?;
        let ack = cp.track(i as i64);
        events.push(Event::new(Body::Ready(bytes), origin, ack));
    }
    let avg = events
        .iter()
        .map(|e| match &e.body {
            Body::Ready(b) => b.len(),
            Body::Failed { .. } => 0,
        })
        .sum::<usize>()
        / n.max(1);

    // In chunks, as the processor threads hand them over.
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Event>>(16);
    let ctl = Control::new(Duration::from_secs(30));
    let c = ctl.clone();
    let t0 = Instant::now();
    let runner = std::thread::spawn(move || runtime::run_output(out.as_ref(), &rx, &c));
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<Event> = events.by_ref().take(CHUNK_MAX).collect();
        tx.send(chunk)
            .map_err(|_| anyhow::anyhow!("output stopped early"))?;
    }
    drop(tx);
    runner
        .join()
        .map_err(|_| anyhow::anyhow!("output panicked"))??;
    let secs = t0.elapsed().as_secs_f64();
    let st = sink.stats();
    anyhow::ensure!(cp.acked_total() == n as u64, "not every event was acked");
    anyhow::ensure!(
        st.events_accepted == n as u64,
        "sink did not accept every event"
    );
    println!(
        "events={n} avg_event_bytes={avg} count={count} max_in_flight={in_flight} \
         elapsed={secs:.3}s rate={:.0} events/s ({:.1} MB/s of bodies) bulk_requests={} max_concurrent={}",
        n as f64 / secs,
        st.bytes_received as f64 / secs / 1e6,
        st.requests_bulk,
        st.max_concurrent_requests
    );
    sink.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
