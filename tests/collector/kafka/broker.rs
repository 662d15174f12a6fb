//! The Kafka input against a real broker (Apache Kafka): delivery, commits, backpressure
//! without eviction, and a second group member joining mid-stream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{committed, create_topic, kafka_yaml, produce, Broker, Running, Seen};
use flexprice_collector::input::kafka::lag;
use flexprice_collector::pipeline::Ack;

/// 100k messages over 4 partitions: each (partition, offset) arrives exactly once with its
/// metadata, acks in scrambled order still commit everything, and lag drops to zero.
#[test]
fn every_message_delivered_once_and_committed() {
    const N: usize = 100_000;
    const P: i32 = 4;
    let broker = Broker::start();
    create_topic(&broker.addr, "all", P);
    let landed = produce(&broker.addr, "all", P, 0..N, 100, 10_000);

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
        let (p, o) = landed[&crate::support::seq_of(&m.payload).expect("seq")];
        assert_eq!(
            crate::support::partition_offset(&m),
            (p, o),
            "origin matches"
        );
        assert_eq!(m.origin.stream(), "all");
        assert!(m.origin.timestamp_ms.is_some_and(|t| t > 0));
        assert_eq!(
            m.origin.key.as_deref(),
            Some(
                crate::support::seq_of(&m.payload)
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
    crate::support::wait_until(Duration::from_secs(10), "lag to reach zero", || {
        let l: Vec<_> = lag().into_iter().filter(|l| &*l.topic == "all").collect();
        l.len() == P as usize
            && l.iter()
                .all(|l| l.lag == 0 && l.high_watermark == per_partition[&l.partition])
    });
    // The same figures reach /metrics as `bento_input_lag{topic,partition}`.
    let text = flexprice_collector::observe::prom::render();
    for p in 0..P {
        let series = format!("bento_input_lag{{topic=\"all\",partition=\"{p}\"}} 0");
        assert!(text.contains(&series), "missing {series} in\n{text}");
    }

    run.stop().expect("clean stop");
    let c = committed(&broker.addr, "g-all", "all", P);
    for (p, end) in &per_partition {
        assert_eq!(c[p], *end, "partition {p} committed to its end on shutdown");
    }
}

/// An output that stops taking messages for longer than `max.poll.interval.ms` (6 s here):
/// the input pauses and keeps polling, so the group never evicts it. Eviction would re-assign
/// the partitions and redeliver the held, un-acked messages: duplicates. None may appear, and
/// nothing may be lost.
#[test]
fn stalled_output_longer_than_max_poll_interval_is_not_evicted() {
    const N: usize = 3_000;
    const P: i32 = 3;
    let broker = Broker::start();
    create_topic(&broker.addr, "stall", P);
    let landed = produce(&broker.addr, "stall", P, 0..N, 200, 500);
    let run = Running::start(
        &kafka_yaml(
            &broker.addr,
            "stall",
            "g-stall",
            "checkpoint_limit: 50\nfetch_buffer_cap: 16\n\
             group: {session_timeout: 6s, heartbeat_interval: 1s, rebalance_timeout: 6s}\n",
        ),
        Duration::from_secs(10),
    );
    let mut seen = Seen::default();
    let mut held = Vec::new();
    while held.len() < 40 {
        let m = run
            .rx
            .recv_timeout(Duration::from_secs(20))
            .expect("first messages");
        seen.record(&m);
        held.push(m.ack);
    }
    // The stall itself (the scenario, not a synchronisation): 9 s > max.poll.interval.ms.
    std::thread::sleep(Duration::from_secs(9));
    assert!(
        run.rx.len() <= 16,
        "the input never buffers more than fetch_buffer_cap"
    );
    Ack::ack_all(held.drain(..));
    let deadline = Instant::now() + Duration::from_secs(25);
    while seen.times.len() < N {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} delivered: {:?}, lag {:?}",
            seen.times.len(),
            seen.summary(),
            lag()
        );
        if let Ok(m) = run.rx.recv_timeout(Duration::from_millis(200)) {
            seen.record(&m);
            m.ack.ack();
        }
    }
    // Anything redelivered after an eviction would show up within a moment.
    let extra_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < extra_until {
        if let Ok(m) = run.rx.recv_timeout(Duration::from_millis(100)) {
            seen.record(&m);
            m.ack.ack();
        }
    }
    seen.assert_all(&landed);
    assert_eq!(
        seen.duplicates(),
        0,
        "a redelivery means the member was evicted"
    );
    run.stop().expect("clean stop");
    let c = committed(&broker.addr, "g-stall", "stall", P);
    assert_eq!(
        c.values().sum::<i64>(),
        N as i64,
        "everything committed: {c:?}"
    );
}

/// A second collector joins the group mid-stream: the partitions are split between the two
/// and, together, they deliver every message; duplicates stay within the un-acked window.
#[test]
fn second_member_joining_mid_stream_loses_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use parking_lot::Mutex;

    const N: usize = 6_000;
    const P: i32 = 4;
    const LIMIT: usize = 200;
    const BUF: usize = 32;
    let broker = Broker::start();
    create_topic(&broker.addr, "join", P);
    let landed = produce(&broker.addr, "join", P, 0..N, 200, 500);
    let yaml = kafka_yaml(
        &broker.addr,
        "join",
        "g-join",
        &format!(
            "checkpoint_limit: {LIMIT}\nfetch_buffer_cap: {BUF}\ncommit_period: 100ms\n\
             group: {{session_timeout: 6s, heartbeat_interval: 500ms, rebalance_timeout: 10s}}\n"
        ),
    );
    let seen = Arc::new(Mutex::new(Seen::default()));
    let done = Arc::new(AtomicBool::new(false));
    // A slow output (1 ms per message) so the stream is still running when B joins.
    let drain = |run: &Running, who: &'static str| {
        let rx = run.rx.clone();
        let seen = Arc::clone(&seen);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut mine = 0usize;
            while !done.load(Ordering::Acquire) {
                if let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
                    std::thread::sleep(Duration::from_millis(1));
                    seen.lock().record(&m);
                    m.ack.ack();
                    mine += 1;
                }
            }
            (who, mine)
        })
    };
    let a = Running::start(&yaml, Duration::from_secs(10));
    let ta = drain(&a, "a");
    crate::support::wait_until(Duration::from_secs(30), "A to get going", || {
        seen.lock().times.len() >= 1_000
    });
    let b = Running::start(&yaml, Duration::from_secs(10));
    let tb = drain(&b, "b");
    crate::support::wait_until(
        Duration::from_secs(90),
        "A and B to deliver everything",
        || seen.lock().times.len() >= N,
    );
    done.store(true, Ordering::Release);
    let (_, from_a) = ta.join().expect("a");
    let (_, from_b) = tb.join().expect("b");
    a.stop().expect("a stops");
    b.stop().expect("b stops");
    let seen = seen.lock();
    seen.assert_all(&landed);
    assert!(
        from_b > 0,
        "B was given partitions (A {from_a}, B {from_b})"
    );
    assert!(
        seen.duplicates() <= P as usize * LIMIT + 2 * BUF,
        "{} duplicates exceed the un-acked window",
        seen.duplicates()
    );
}
