//! Fault matrix, the Kafka side failing under the real binary:
//! - the Apache Kafka broker killed (-9) and restarted mid-load, with its data (it comes back
//!   with its messages and committed offsets);
//! - librdkafka's mock cluster (3 brokers, in this process, reached over 127.0.0.1): a
//!   partition leader down and up, the group coordinator moving, offset commits failing.
//!
//! Each: 0 lost, the collector never exits on its own, ids derived from the source.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    announced_redeliveries, events, expected_ids, mock_expected, mock_produce, report, scaled,
    sink_on, wait_for, Cfg, Collector, DurableBroker, Tally,
};
use flexprice_api_double::Faults;
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const P: i32 = 4;
const LIMIT: usize = 256;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Slow enough that the load is still running when the faults land: 4 senders × 20 events
/// per 40 ms request ≈ 2k events/s.
fn paced_sink() -> flexprice_api_double::ApiDouble {
    sink_on(
        any_port(),
        Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        },
    )
}

#[test]
fn broker_killed_and_restarted_mid_load_loses_nothing() {
    let n = events(20_000);
    let dir = tempfile::tempdir().expect("tmp");
    let mut broker = DurableBroker::start();
    crate::support::create_topic(&broker.addr, "bk", P);
    let landed = crate::support::produce(&broker.addr, "bk", P, 0..n, 120, 500);
    let expected = expected_ids("bk", &landed);
    let sink = paced_sink();
    let cfg = Cfg {
        checkpoint_limit: LIMIT,
        batch_count: 20,
        ..Cfg::new(&broker.addr, "bk", "g-bk", sink.addr(), dir.path())
    };
    let mut collector = Collector::spawn(&cfg, dir.path(), "bk");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= (n / 4) as u64),
        "load did not start\n{}",
        collector.log_tail(30)
    );
    broker.kill();
    let down = Instant::now();
    std::thread::sleep(scaled(Duration::from_secs(3))); // the outage itself
    broker.up();
    let restarted = Instant::now();
    let at_restart = sink.stats().unique_event_ids;
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            > at_restart),
        "no progress after the broker came back\n{}",
        collector.log_tail(30)
    );
    let recovery = restarted.elapsed();
    assert!(
        wait_for(Duration::from_secs(240), || sink.stats().unique_event_ids
            >= n as u64),
        "only {} of {n} delivered\n{}",
        sink.stats().unique_event_ids,
        collector.log_tail(30)
    );
    assert!(collector.running(), "collector exited on a broker restart");
    collector.sigterm();
    let st = collector.wait(Duration::from_secs(15)).expect("exits");
    assert!(st.success(), "{st:?}\n{}", collector.log_tail(30));
    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    // The broker is the group coordinator too: while it is down the commits fail, and when it
    // is back the member rejoins, its revoke announcing what the next assignment reads again.
    let (announced, revokes) = announced_redeliveries(&[&collector.log_text()]);
    eprintln!(
        "{t:?}; broker down {:?}; {announced} announced by {revokes} revokes",
        restarted - down
    );
    report(
        &format!(
            "broker kill -9 + restart mid-load ({} s down)",
            scaled(Duration::from_secs(3)).as_secs()
        ),
        &t,
        &format!(
            "first new delivery {:.1} s after the broker was back",
            recovery.as_secs_f64()
        ),
        &format!("dup bound {announced} ({revokes} revokes announced it); collector kept running"),
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, 0);
    assert!(
        t.duplicates as usize <= announced,
        "{} duplicates > {announced} announced",
        t.duplicates
    );
}

#[test]
fn mock_cluster_leader_down_coordinator_move_and_commit_errors_lose_nothing() {
    let n = events(20_000);
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = MockCluster::new(3).expect("mock cluster");
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("mk", P, 3).expect("topic");
    for p in 0..P {
        cluster
            .partition_leader("mk", p, Some(1 + p % 3))
            .expect("leader");
    }
    cluster
        .coordinator(MockCoordinator::Group("g-mk".into()), 1)
        .expect("coordinator");
    mock_produce(&bs, "mk", P, n);
    let expected = mock_expected("mk", P, n);
    let sink = paced_sink();
    let cfg = Cfg {
        checkpoint_limit: LIMIT,
        batch_count: 20,
        ..Cfg::new(&bs, "mk", "g-mk", sink.addr(), dir.path())
    };
    let mut collector = Collector::spawn(&cfg, dir.path(), "mk");
    let reach = |frac: f64, what: &str, c: &Collector| {
        let target = (n as f64 * frac) as u64;
        assert!(
            wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
                >= target),
            "{what}: only {} of {n}\n{}",
            sink.stats().unique_event_ids,
            c.log_tail(30)
        );
    };

    // 1. The leader of partitions 0 and 3 (broker 1, also the coordinator) goes down.
    reach(0.2, "before broker down", &collector);
    cluster.broker_down(1).expect("down");
    std::thread::sleep(scaled(Duration::from_secs(3))); // the outage itself
    let at_up = sink.stats().unique_event_ids;
    cluster.broker_up(1).expect("up");
    let up = Instant::now();
    assert!(
        wait_for(Duration::from_secs(60), || sink.stats().unique_event_ids
            > at_up),
        "no progress after the broker came back\n{}",
        collector.log_tail(30)
    );
    let broker_recovery = up.elapsed();

    // 2. The group coordinator moves to broker 3.
    reach(0.4, "before coordinator move", &collector);
    cluster
        .coordinator(MockCoordinator::Group("g-mk".into()), 3)
        .expect("coordinator move");

    // 3. Offset commits fail for a while (not coordinator, then timeouts).
    reach(0.6, "before commit errors", &collector);
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );

    reach(1.0, "to the end", &collector);
    assert!(collector.running(), "collector exited on broker faults");
    collector.sigterm();
    let st = collector.wait(Duration::from_secs(15)).expect("exits");
    assert!(st.success(), "{st:?}\n{}", collector.log_tail(30));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    eprintln!("{t:?}");
    report(
        &format!(
            "MockCluster: leader+coordinator broker down {} s/up, coordinator move, commit errors",
            scaled(Duration::from_secs(3)).as_secs()
        ),
        &t,
        &format!(
            "first new delivery {:.1} s after broker up",
            broker_recovery.as_secs_f64()
        ),
        "collector kept running",
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, 0);
}
