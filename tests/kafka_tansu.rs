//! The Kafka input against a real broker process (`tansu`): delivery, commits, backpressure
//! without eviction, and a second group member joining mid-stream.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{committed, create_topic, kafka_yaml, produce, Broker, Running, Seen};
use flexprice_collector::delivery::Ack;
use flexprice_collector::input::kafka::lag;

/// 100k messages over 4 partitions: each (partition, offset) arrives exactly once with its
/// metadata, acks in scrambled order still commit everything, and lag drops to zero.
#[test]
fn every_message_delivered_once_and_committed() {
    const N: usize = 100_000;
    const P: i32 = 4;
    let broker = Broker::start();
    create_topic(&broker.addr, "all", P);
    let landed = produce(&broker.addr, "all", P, 0..N, 100);

    let run = Running::start(
        &kafka_yaml(&broker.addr, "all", "g-all", "checkpoint_limit: 2048\n"),
        Duration::from_secs(10),
    );
    let mut seen = Seen::default();
    let mut held: Vec<Ack> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.times.len() < N {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} delivered",
            seen.times.len()
        );
        let Ok(m) = run.rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        seen.record(&m);
        let (p, o) = landed[&common::seq_of(&m.payload).expect("seq")];
        assert_eq!(
            (m.origin.partition, m.origin.offset),
            (p, o),
            "origin matches"
        );
        assert_eq!(&*m.origin.topic, "all");
        assert!(m.origin.timestamp_ms.is_some_and(|t| t > 0));
        assert_eq!(
            m.origin.key.as_deref(),
            Some(
                common::seq_of(&m.payload)
                    .expect("seq")
                    .to_string()
                    .as_bytes()
            )
        );
        // Ack in batches of 64, newest first: the watermark must still reach the end.
        held.push(m.ack);
        if held.len() == 64 {
            while let Some(a) = held.pop() {
                a.ack();
            }
        }
    }
    Ack::ack_all(held.drain(..).rev());
    assert_eq!(seen.duplicates(), 0, "no message twice in one clean run");
    seen.assert_all(&landed);

    // Lag is published per partition and reaches zero once everything is read.
    let mut per_partition: HashMap<i32, i64> = HashMap::new();
    for (p, o) in landed.values() {
        let e = per_partition.entry(*p).or_default();
        *e = (*e).max(o + 1);
    }
    common::wait_until(Duration::from_secs(10), "lag to reach zero", || {
        let l: Vec<_> = lag().into_iter().filter(|l| &*l.topic == "all").collect();
        l.len() == P as usize
            && l.iter()
                .all(|l| l.lag == 0 && l.high_watermark == per_partition[&l.partition])
    });

    run.stop().expect("clean stop");
    let c = committed(&broker.addr, "g-all", "all", P);
    for (p, end) in &per_partition {
        assert_eq!(c[p], *end, "partition {p} committed to its end on shutdown");
    }
}
