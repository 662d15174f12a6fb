//! `output.flexprice.dead_letter.kafka`: dead-letter records go to a Kafka topic (Apache Kafka
//! on 127.0.0.1), and events are acked only once the broker acknowledged them.

use std::time::{Duration, Instant};

use crate::support::outputs::Running;
use crate::support::{create_topic, Broker};
use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};
use flexprice_collector::output::flexprice::FlexpriceConfig;
use flexprice_collector::pipeline::Control;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use serde_json::json;

const KEY: &str = "test-key";
const WAIT: Duration = Duration::from_secs(20);

fn sink() -> ApiDouble {
    ApiDouble::start(ApiDoubleConfig {
        api_key: KEY.into(),
        faults: Faults {
            reject_event_names: vec!["bad".into()],
            ..Faults::default()
        },
        ..ApiDoubleConfig::default()
    })
    .expect("sink starts")
}

fn config(api: std::net::SocketAddr, dlq: serde_json::Value) -> FlexpriceConfig {
    serde_json::from_value(json!({
        "api_host": api.to_string(),
        "api_key": KEY,
        "scheme": "http",
        "max_in_flight": 2,
        "timeout": "5s",
        "retry_max_attempts": 3,
        "retry_backoff": {"initial_interval": "10ms", "max_interval": "100ms"},
        "batching": {"count": 10, "period": "50ms"},
        "dead_letter": {"kafka": dlq},
    }))
    .expect("valid output config")
}

/// A running output fed like the processor threads do, acked through a `Checkpointer`.
/// An event as a mapping would produce it (the sink rejects the name `bad`, so those are
/// dead-lettered).
fn event(name: &str, i: usize) -> serde_json::Value {
    json!({
        "event_name": name,
        "external_customer_id": format!("cust_{i}"),
        "timestamp": "2026-11-25T06:00:00.000Z",
        "properties": {"tokens": i as i64},
    })
}

/// Read `want` messages from partition 0 of `topic` (bounded wait): (key, JSON payload).
fn consume(addr: &str, topic: &str, want: usize) -> Vec<(String, serde_json::Value)> {
    consume_with(
        ClientConfig::new().set("bootstrap.servers", addr),
        topic,
        want,
    )
}

fn consume_with(
    cfg: &mut ClientConfig,
    topic: &str,
    want: usize,
) -> Vec<(String, serde_json::Value)> {
    let c: BaseConsumer = cfg
        .set("group.id", "dlq-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let end = Instant::now() + WAIT;
    while out.len() < want && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let v = serde_json::from_slice(m.payload().unwrap_or_default())
                .expect("dead-letter message is one JSON record");
            out.push((key, v));
        }
    }
    out
}

#[test]
fn rejected_and_failed_events_land_on_the_kafka_dead_letter_topic() {
    let broker = Broker::start();
    create_topic(&broker.addr, "dlq", 1);
    let s = sink();
    let mut run = Running::start(config(
        s.addr(),
        json!({"addresses": [broker.addr], "topic": "dlq", "timeout": "10s"}),
    ));
    for i in 0..3 {
        run.send(event("good", i));
    }
    run.send(event("bad", 3));
    run.send(event("good", 4));
    run.send(event("bad", 5));
    run.send_failed(b"not json", "cannot parse");
    let (cp, n) = run.finish(WAIT);

    assert_eq!(s.stats().events_accepted, 4, "every good event delivered");
    let mut dl = consume(&broker.addr, "dlq", 3);
    dl.sort_by_key(|(_, v)| v["source"]["offset"].as_i64());
    let offsets: Vec<i64> = dl
        .iter()
        .filter_map(|(_, v)| v["source"]["offset"].as_i64())
        .collect();
    assert_eq!(offsets, vec![3, 5, 6], "{dl:?}");
    for (key, v) in &dl[..2] {
        assert_eq!(v["status"], 400);
        assert_eq!(v["event"]["event_name"], "bad");
        assert_eq!(key, &format!("usage-0-{}", v["source"]["offset"]));
    }
    assert_eq!(dl[2].1["reason"], "cannot parse");
    assert_eq!(dl[2].1["event"], "not json");
    assert_eq!(dl[2].0, "usage-0-6");

    assert_eq!(cp.acked_total(), n as u64, "every event acked once");
    assert_eq!(cp.watermark(), Some(n));
    assert_eq!(cp.in_flight(), 0);
}

#[test]
fn an_unreachable_dead_letter_broker_leaves_the_failed_events_unacked() {
    let closed = format!("127.0.0.1:{}", crate::support::free_port());
    let s = sink();
    let ctl = Control::new(Duration::from_secs(2));
    let mut run = Running::start_with(
        config(
            s.addr(),
            json!({"addresses": [closed], "topic": "dlq", "timeout": "1s"}),
        ),
        ctl.clone(),
    );
    run.send(event("good", 0));
    run.send(event("good", 1));
    run.send_failed(b"not json", "cannot parse");
    run.send(event("good", 3));
    // The dead-letter write is retried while the broker is away; a stop ends the retries at
    // its deadline with the event still un-acked.
    crate::support::wait_until(WAIT, "the good events at the API", || {
        s.stats().events_accepted == 3
    });
    ctl.request_stop();
    let (cp, n) = run.finish(WAIT);

    assert_eq!(s.stats().events_accepted, 3);
    assert_eq!(cp.acked_total(), n as u64 - 1, "all but the failed one");
    assert_eq!(
        cp.watermark(),
        Some(2),
        "the watermark stops at the un-acked event"
    );
    // Offset 2 (un-acked) and 3 (acked, but held behind it).
    assert_eq!(cp.in_flight(), 2);
}

/// The dead-letter producer has the client settings of every Kafka client of the collector:
/// against a listener that requires SASL (PLAIN), it authenticates with `dead_letter.kafka.sasl`
/// and the records land; with a wrong password nothing is acked (the write is retried until
/// the stop's deadline) and the error says why.
#[test]
fn the_dead_letter_producer_authenticates_with_sasl() {
    let cluster = crate::support::kafka::shared();
    let sasl = cluster
        .sasl_bootstrap
        .clone()
        .expect("the shared broker has a SASL listener");
    create_topic(&cluster.bootstrap, "dlq-sasl", 1);
    let s = sink();
    let mut run = Running::start(config(
        s.addr(),
        json!({"addresses": [sasl], "topic": "dlq-sasl", "timeout": "10s",
               "sasl": {"mechanism": "PLAIN", "user": "collector", "password": "collector-secret"}}),
    ));
    run.send(event("good", 0));
    run.send(event("bad", 1));
    let (cp, n) = run.finish(WAIT);
    assert_eq!(
        cp.acked_total(),
        n as u64,
        "both acked: one at the API, one on the topic"
    );
    let dl = consume_with(
        ClientConfig::new()
            .set("bootstrap.servers", &sasl)
            .set("security.protocol", "sasl_plaintext")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", "collector")
            .set("sasl.password", "collector-secret"),
        "dlq-sasl",
        1,
    );
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert_eq!(dl[0].1["event"]["event_name"], "bad");

    // The same with a wrong password: the record is not acknowledged, so not acked.
    let before = s.stats().requests_single + s.stats().requests_bulk;
    let ctl = Control::new(Duration::from_secs(3));
    let mut run = Running::start_with(
        config(
            s.addr(),
            json!({"addresses": [sasl], "topic": "dlq-sasl", "timeout": "2s",
                   "sasl": {"mechanism": "PLAIN", "user": "collector", "password": "wrong"}}),
        ),
        ctl.clone(),
    );
    run.send(event("bad", 0));
    crate::support::wait_until(WAIT, "the API to refuse the event", || {
        s.stats().requests_single + s.stats().requests_bulk > before
    });
    ctl.request_stop();
    let (cp, _) = run.finish(WAIT);
    assert_eq!(
        cp.acked_total(),
        0,
        "a record the broker never took is never acked"
    );
}
