//! The output's counters. Metrics are process-wide and the other tests of this binary run in
//! parallel, so the test runs itself in a process of its own (the same binary, this test only).

use std::sync::Arc;
use std::time::Duration;

use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};

use crate::support::outputs::start;
use flexprice_collector::document::{Map, Value};
use flexprice_collector::output::flexprice::FlexpriceConfig;
use flexprice_collector::pipeline::telemetry::metrics;
use flexprice_collector::pipeline::{Body, Checkpointer, Control, Event, Origin, Position};
use flexprice_collector::runtime;

#[test]
fn counters_match_what_happened() {
    crate::support::in_own_process("flexprice_metrics::counters_alone");
}

#[test]
#[ignore = "run by counters_match_what_happened in a process of its own"]
fn counters_alone() {
    let sink = ApiDouble::start(ApiDoubleConfig {
        api_key: "k".into(),
        faults: Faults {
            script: vec![503],
            reject_event_names: vec!["bad".into()],
            ..Faults::default()
        },
        ..ApiDoubleConfig::default()
    })
    .expect("sink");
    let dir = tempfile::tempdir().expect("tempdir");
    // One sender, so the request sequence is deterministic.
    let cfg: FlexpriceConfig = serde_json::from_value(serde_json::json!({
        "api_host": sink.addr().to_string(), "api_key": "k", "scheme": "http",
        "max_in_flight": 1,
        "batching": {"count": 5, "period": "1h"},
        "retry_backoff": {"initial_interval": "5ms", "max_interval": "10ms"},
        "dead_letter": {"path": dir.path().join("dl.jsonl").to_string_lossy()},
    }))
    .expect("config");
    let out = start(cfg);
    let enc = out.encoder();
    let (tx, rx) = crossbeam_channel::bounded(16);
    let ctl = Control::new(Duration::from_secs(5));
    let runner = std::thread::spawn(move || runtime::run_output(out.as_ref(), &rx, &ctl));
    let cp = Checkpointer::new();
    for i in 0..11i64 {
        let origin = Origin {
            received_at: Some(std::time::Instant::now()),
            ..Origin::at(Position::Kafka {
                topic: Arc::from("t"),
                partition: 0,
                offset: i,
            })
        };
        let body = if i == 10 {
            Body::Failed {
                raw: b"x".to_vec(),
                reason: "not JSON".into(),
            }
        } else {
            let mut m = Map::new();
            let name = if i == 2 { "bad" } else { "ok" };
            m.insert("event_name".into(), Value::Str(name.into()));
            m.insert("external_customer_id".into(), Value::Str("c".into()));
            Body::Ready(enc.encode(&Value::Object(m), &origin).expect("valid"))
        };
        let ack = cp.track(i);
        tx.send(vec![Event::new(body, origin, ack)]).expect("send");
    }
    drop(tx);
    runner.join().expect("no panic").expect("ok");

    // Batch [0..5): 503, retried; 400 → [0,1] 202, [2,3,4] 400 → [2] 400 (dead-lettered), [3,4] 202.
    // Batch [5..10): 202. Event 10 failed processing: dead-lettered without a request.
    let m = metrics::get();
    assert_eq!(m.output_sent.get(), 9);
    assert_eq!(m.output_dead_letter.get(), 2);
    assert_eq!(m.output_retry.get(), 1);
    assert_eq!(m.output_error.get(), 4, "503, 400, 400, 400");
    assert_eq!(m.batch_created.get(), 2);
    assert_eq!(m.output_in_flight.get(), 0);
    assert_eq!(cp.acked_total(), 11);
    assert_eq!(cp.watermark(), Some(11));
    assert_eq!(sink.stats().events_accepted, 9);
    // Latency: one sample per answered request (7), one end-to-end sample per accepted event.
    use flexprice_collector::pipeline::telemetry::latency;
    assert_eq!(latency::batch_send().total().count, 7);
    assert_eq!(latency::event_e2e().total().count, 9);
}
