//! Fault matrix, a compacted topic with tombstones (records with a key and a null value, how a
//! compacted topic deletes a key), against the real binary on Apache Kafka. A tombstone
//! carries no event: it is skipped (never sent, never dead-lettered), counted in
//! `bento_input_tombstones`, and committed (the group's offsets end at the high watermark
//! although the last record of every partition is a tombstone).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{events, metric, report, sink_on, wait_for, Cfg, Collector, Tally};
use crate::support::{committed, create_topic_with, free_port, high_watermarks, payload, Broker};
use flexprice_api_double::Faults;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const P: i32 = 2;
const TOPIC: &str = "tomb";

/// Message `seq` is a tombstone: every fifth, and the last of each partition.
fn tombstone(seq: usize, n: usize) -> bool {
    seq % 5 == 4 || seq + P as usize >= n
}

#[test]
fn tombstones_are_skipped_counted_and_committed() {
    let n = events(5_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic_with(&broker.addr, TOPIC, P, 1, &[("cleanup.policy", "compact")]);
    // Keys repeat (a compacted topic's keys are entities: here 50 of them), so a later
    // tombstone deletes earlier values of its key.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("linger.ms", "5")
        // In order, so seq s lands at offset s / P of partition s % P.
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut tombstones = 0;
    let mut values = Vec::new();
    let started = Instant::now();
    for seq in 0..n {
        let key = format!("k{}", seq % 50);
        let body = payload(seq, 120);
        let part = (seq % P as usize) as i32;
        let mut rec: BaseRecord<'_, String, String> =
            BaseRecord::to(TOPIC).partition(part).key(&key);
        if tombstone(seq, n) {
            tombstones += 1;
        } else {
            rec = rec.payload(&body);
            values.push(seq);
        }
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(started.elapsed() < Duration::from_secs(60), "{e}");
                    rec = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let expected: HashSet<String> = values
        .iter()
        .map(|s| format!("{TOPIC}-{}-{}", s % P as usize, s / P as usize))
        .collect();
    let hwm = high_watermarks(&broker.addr, TOPIC, P);
    assert_eq!(
        hwm.values().sum::<i64>(),
        n as i64,
        "every record, tombstones included, is in the topic"
    );

    let sink = sink_on(SocketAddr::from(([127, 0, 0, 1], 0)), Faults::default());
    let port = free_port();
    let cfg = Cfg {
        http_port: Some(port),
        ..Cfg::new(&broker.addr, TOPIC, "g-tomb", sink.addr(), dir.path())
    };
    let mut collector = Collector::spawn(&cfg, dir.path(), "tomb");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= expected.len() as u64),
        "only {} of {} values delivered\n{}",
        sink.stats().unique_event_ids,
        expected.len(),
        collector.log_tail(30)
    );
    let counted = wait_for(Duration::from_secs(10), || {
        metric(port, "bento_input_tombstones") >= tombstones as f64
    });
    let caught_up = wait_for(Duration::from_secs(30), || {
        committed(&broker.addr, "g-tomb", TOPIC, P) == hwm
    });
    let at_end = committed(&broker.addr, "g-tomb", TOPIC, P);
    let shown = metric(port, "bento_input_tombstones");
    let received = metric(port, "bento_input_received");
    assert!(collector.running(), "collector exited");
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    eprintln!("{t:?}; tombstones {tombstones}, metric {shown}; committed {at_end:?} of {hwm:?}");
    report(
        &format!("compacted topic, {tombstones} tombstones among {n} records (the last of each partition one)"),
        &t,
        &format!(
            "committed offsets at the high watermark: {}",
            if caught_up { "yes" } else { "no" }
        ),
        &format!("bento_input_tombstones {shown}; never sent, never dead-lettered"),
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0, "a tombstone reached the API");
    assert_eq!(t.dead_lettered, 0, "a tombstone was dead-lettered");
    assert_eq!(t.duplicates, 0);
    assert!(
        counted && shown == tombstones as f64,
        "bento_input_tombstones {shown}, produced {tombstones}"
    );
    assert_eq!(
        received,
        expected.len() as f64,
        "bento_input_received counts the values only"
    );
    assert!(
        caught_up,
        "committed {at_end:?} should reach the high watermarks {hwm:?}"
    );
}
