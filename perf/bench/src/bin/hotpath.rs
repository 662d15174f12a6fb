//! A processor thread's whole per-event job (parse, seed mapping, validate + encode), N times,
//! with the collector binary's allocator: the harness for `perf stat -e instructions` and
//! `perf record`, whose counts do not move with the neighbours' load the way wall time does.
//!
//! `cargo build --release -p flexprice-bench --bin hotpath && perf stat -e
//!  instructions,task-clock target/release/hotpath 1000000` (or `perf/instructions`)

use std::sync::Arc;
use std::time::Instant;

use flexprice_collector::output::flexprice::EventEncoder;
use flexprice_collector::pipeline::{Encoder, Origin, Part, Position};
use flexprice_collector::processor;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEED: &str = "root = this\nroot.properties = this.properties.map_each(p -> p.value.string())";

const EVENT: &str = r#"{"event_name":"llm.tokens","external_customer_id":"cust_04217","timestamp":"2026-11-25T06:41:07.123Z","properties":{"region":"eu-west-1","request_id":"req_9f2c4e6a1b3d5f70","status_code":200,"duration_ms":1234.56,"bytes":5242880,"cached":false,"model":"claude-3-5-sonnet","input_tokens":18234,"method":"POST"}}"#;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mapping = std::env::var("HOTPATH_MAPPING").unwrap_or_else(|_| SEED.to_string());
    let procs = match processor::plan_alone(&[processor::mapping(&mapping)]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bad mapping: {e}");
            std::process::exit(2);
        }
    };
    let encoder = EventEncoder::new();
    let topic: Arc<str> = Arc::from("usage-events");
    let t0 = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let origin = Origin {
            timestamp_ms: Some(1_764_052_867_123),
            ..Origin::at(Position::Kafka {
                topic: topic.clone(),
                partition: 3,
                offset: i as i64,
            })
        };
        let mut part = Part::new(EVENT.as_bytes().to_vec(), origin);
        for p in &procs {
            if let Err(e) = p.process(&mut part) {
                eprintln!("event {i}: {e}");
                std::process::exit(1);
            }
        }
        let out = part
            .take_value()
            .map_err(|e| e.to_string())
            .and_then(|v| encoder.encode(&v, &part.origin));
        match out {
            Ok(b) => bytes += b.len(),
            Err(e) => {
                eprintln!("event {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    let took = t0.elapsed();
    println!(
        "{n} events, {bytes} bytes out, {:.3} us/event",
        took.as_secs_f64() * 1e6 / n as f64
    );
}
