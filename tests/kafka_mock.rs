//! The Kafka input against librdkafka's in-process mock cluster, for faults a real broker
//! process cannot easily produce: brokers going down and up, the group coordinator moving.

mod common;

use std::time::{Duration, Instant};

use common::{Running, Seen};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

fn produce(bootstrap: &str, topic: &str, partitions: i32, n: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for seq in 0..n {
        let body = common::payload(seq, 100);
        let mut rec: BaseRecord<(), String> = BaseRecord::to(topic)
            .partition((seq % partitions as usize) as i32)
            .payload(&body);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(Instant::now() < deadline, "produce stuck: {e}");
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn yaml(bootstrap: &str, topic: &str, group: &str, extra: &str) -> String {
    format!(
        "addresses: ['{bootstrap}']\ntopics: [{topic}]\nconsumer_group: '{group}'\n\
         commit_period: 100ms\n{extra}"
    )
}

/// Read until every seq in 0..n was seen, acking as we go.
fn drain_all(run: &Running, n: usize, seen: &mut Seen, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while seen.seqs.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} delivered: {:?}",
            seen.seqs.len(),
            seen.summary()
        );
        if let Ok(m) = run.rx.recv_timeout(Duration::from_millis(100)) {
            seen.record(&m);
            m.ack.ack();
        }
    }
}

#[test]
fn mock_stall_pause_resume() {
    const N: usize = 3000;
    let cluster = MockCluster::new(1).expect("mock cluster");
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("ms", 3, 1).expect("topic");
    produce(&bs, "ms", 3, N);
    let run = Running::start(
        &yaml(
            &bs,
            "ms",
            "g-ms",
            "checkpoint_limit: 50\nfetch_buffer_cap: 16\n\
             group: {session_timeout: 6s, heartbeat_interval: 1s, rebalance_timeout: 6s}\n",
        ),
        Duration::from_secs(10),
    );
    let mut seen = Seen::default();
    let mut held = Vec::new();
    while held.len() < 40 {
        let m = run.rx.recv_timeout(Duration::from_secs(20)).expect("first");
        seen.record(&m);
        held.push(m.ack);
    }
    std::thread::sleep(Duration::from_secs(3));
    flexprice_collector::delivery::Ack::ack_all(held.drain(..));
    drain_all(&run, N, &mut seen, Duration::from_secs(30));
    assert_eq!(seen.duplicates(), 0);
    run.stop().expect("stop");
}
