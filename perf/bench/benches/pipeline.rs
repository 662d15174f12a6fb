//! Per-event cost of the collector's hot path, stage by stage, on a realistic ~300-byte usage
//! event (the shape `flexprice-load` produces) and the seed mapping of the Flexprice docs.
//!
//! `cargo bench -p flexprice-bench --bench pipeline` measures; under `cargo test --all-targets` criterion runs
//! each benchmark once as a smoke test, so the test suite stays fast.
//!
//! - `parse`: simd-json into the shared document model (what `Part::value` does).
//! - `bloblang/seed_mapping`: the engine alone on an already parsed document.
//! - `event/parse_map_encode`: everything a processor thread does per event.
//! - `batch/assemble_1000`: the flexprice output joining 1000 encoded events into one bulk body.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flexprice_collector::bloblang::Mapping;
use flexprice_collector::document::Value;
use flexprice_collector::output::flexprice::{Batch, EventEncoder};
use flexprice_collector::pipeline::{Ack, Body, Encoder, Event, Origin, Part, Position};
use flexprice_collector::processor;

const SEED: &str = "root = this\nroot.properties = this.properties.map_each(p -> p.value.string())";

const EVENT: &str = r#"{"event_name":"llm.tokens","external_customer_id":"cust_04217","timestamp":"2026-11-25T06:41:07.123Z","properties":{"region":"eu-west-1","request_id":"req_9f2c4e6a1b3d5f70","status_code":200,"duration_ms":1234.56,"bytes":5242880,"cached":false,"model":"claude-3-5-sonnet","input_tokens":18234,"method":"POST"}}"#;

const EVENT_WRITTEN: &str = r#"{"event_name":"llm.tokens","external_customer_id":"cust_04217","timestamp":"2026-11-25T06:41:07.123Z","properties":{"region":"eu-west-1","request_id":"req_9f2c4e6a1b3d5f70","status_code":200,"duration_ms":1234.50,"cost_usd":0.10,"rate":2.50,"bytes":5e6,"cached":false,"model":"claude-3-5-sonnet","input_tokens":18234,"method":"POST"}}"#;

fn origin(offset: i64) -> Origin {
    Origin {
        timestamp_ms: Some(1_764_052_867_123),
        received_at: Some(Instant::now()),
        ..Origin::at(Position::Kafka {
            topic: Arc::from("usage-events"),
            partition: 3,
            offset,
        })
    }
}

fn per_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Elements(1));

    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut buf = EVENT.as_bytes().to_vec();
            black_box(Value::from_json_slice(&mut buf).ok())
        })
    });

    // The same event with billing values written the way producers often do (`0.10`,
    // `2.50`, `1e3`): those keep their text (one small allocation each).
    g.bench_function("parse_numbers_as_written", |b| {
        b.iter(|| {
            let mut buf = EVENT_WRITTEN.as_bytes().to_vec();
            black_box(Value::from_json_slice(&mut buf).ok())
        })
    });

    let mapping = Mapping::compile(SEED).expect("seed mapping compiles");
    let mut buf = EVENT.as_bytes().to_vec();
    let doc = Value::from_json_slice(&mut buf).expect("event parses");
    g.bench_function("bloblang_seed_mapping", |b| {
        b.iter(|| black_box(mapping.exec_value(black_box(&doc)).ok()))
    });

    let procs = processor::plan_alone(&[processor::mapping(SEED)]).expect("processor plans");
    let encoder = EventEncoder::new();
    let o = origin(42);
    g.bench_function("parse_map_encode", |b| {
        b.iter(|| {
            let mut part = Part::new(EVENT.as_bytes().to_vec(), o.clone());
            for p in &procs {
                let _ = p.process(&mut part);
            }
            let v = part.take_value().ok();
            black_box(v.and_then(|v| encoder.encode(&v, &part.origin).ok()))
        })
    });
    g.finish();
}

fn batching(c: &mut Criterion) {
    let mapping = Mapping::compile(SEED).expect("seed mapping compiles");
    let mut buf = EVENT.as_bytes().to_vec();
    let doc = Value::from_json_slice(&mut buf).expect("event parses");
    let encoded: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let out = match mapping.exec_value(&doc) {
                Ok(flexprice_collector::bloblang::Outcome::Doc(v)) => v,
                _ => doc.clone(),
            };
            EventEncoder::new()
                .encode(&out, &origin(i))
                .expect("event encodes")
        })
        .collect();
    let origins: Vec<Origin> = (0..1000).map(origin).collect();
    let mut g = c.benchmark_group("batch");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("assemble_1000", |b| {
        b.iter(|| {
            let events: Vec<Event> = encoded
                .iter()
                .zip(&origins)
                .map(|(e, o)| Event::new(Body::Ready(e.clone()), o.clone(), Ack::none()))
                .collect();
            black_box(Batch::new(true, events))
        })
    });
    g.finish();
}

criterion_group!(benches, per_event, batching);
criterion_main!(benches);
