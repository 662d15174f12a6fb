//! Fault matrix, consumer-group rebalances under load (two real collector processes, one
//! Apache Kafka broker or librdkafka's mock cluster, one API double): a second instance joins
//! mid-load, takes partitions, then leaves (gracefully, then the variant where it is killed) —
//! 0 lost, and every duplicate was announced by a revoke's `redelivered` count (or was in
//! flight on a killed member). On Apache Kafka also with `group.protocol: consumer` (KIP-848),
//! where the broker assigns and every rebalance is incremental: the first member gives up only
//! the partitions that move, and keeps the rest (and their trackers) throughout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    events, expected_ids, log_field, mock_expected, mock_produce, report, sink_on, wait_for, Cfg,
    Collector, Tally,
};
use crate::support::{create_topic, produce, Broker};
use flexprice_api_double::Faults;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

const P: i32 = 4;
const LIMIT: usize = 256;

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Apache,
    Mock,
}

/// The broker of a run: held only to keep it alive until the run ends.
#[allow(dead_code)]
enum Kafka {
    Apache(Broker),
    Mock(MockCluster<'static, DefaultProducerContext>),
}

/// The consumer group protocol the members speak.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Classic,
    /// KIP-848 (`group: {protocol: consumer}`); Apache Kafka only.
    Consumer,
}

fn run(backend: Backend, leave_by_kill: bool) {
    run_with(backend, leave_by_kill, Protocol::Classic);
}

fn run_with(backend: Backend, leave_by_kill: bool, protocol: Protocol) {
    let n = events(20_000);
    let topic = match (backend, leave_by_kill, protocol) {
        (Backend::Apache, false, Protocol::Classic) => "rb",
        (Backend::Apache, true, Protocol::Classic) => "rbk",
        (Backend::Apache, false, Protocol::Consumer) => "rbc",
        (Backend::Apache, true, Protocol::Consumer) => "rbck",
        (Backend::Mock, false, _) => "rbm",
        (Backend::Mock, true, _) => "rbmk",
    };
    let group = format!("g-{topic}");
    let dir = tempfile::tempdir().expect("tmp");
    let (kafka, addr, expected) = match backend {
        Backend::Apache => {
            let broker = Broker::start();
            create_topic(&broker.addr, topic, P);
            let landed = produce(&broker.addr, topic, P, 0..n, 120, 500);
            let addr = broker.addr.clone();
            (Kafka::Apache(broker), addr, expected_ids(topic, &landed))
        }
        Backend::Mock => {
            let cluster = MockCluster::new(1).expect("mock cluster");
            cluster.create_topic(topic, P, 1).expect("topic");
            let addr = cluster.bootstrap_servers();
            mock_produce(&addr, topic, P, n);
            (Kafka::Mock(cluster), addr, mock_expected(topic, P, n))
        }
    };
    // Paced (~2k events/s) so both rebalances happen mid-load.
    let sink = sink_on(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        },
    );
    let mut cfg = Cfg {
        checkpoint_limit: LIMIT,
        batch_count: 20,
        ..Cfg::new(&addr, topic, &group, sink.addr(), dir.path())
    };
    if protocol == Protocol::Consumer {
        // The session timeout and heartbeat interval are the broker's with this protocol.
        cfg.group_block = "{protocol: consumer, rebalance_timeout: 10s}".into();
    }
    let mut a = Collector::spawn(&cfg, dir.path(), "a");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= (n / 5) as u64),
        "load did not start\n{}",
        a.log_tail(30)
    );
    let mut b = Collector::spawn(&cfg, dir.path(), "b");
    let joined = Instant::now();
    // B joined once it owns partitions (its log says so) and the load still moves.
    assert!(
        wait_for(Duration::from_secs(60), || b
            .log_text()
            .contains("partitions assigned")),
        "second instance never got partitions\n{}",
        b.log_tail(30)
    );
    let join_took = joined.elapsed();
    let at_join = sink.stats().unique_event_ids;
    assert!(
        wait_for(Duration::from_secs(60), || sink.stats().unique_event_ids
            >= at_join + (n / 10) as u64),
        "no progress with two members\n{}\n{}",
        a.log_tail(20),
        b.log_tail(20)
    );
    assert!(
        sink.stats().unique_event_ids < n as u64,
        "load finished before the second instance left: the test proves nothing"
    );
    let left = Instant::now();
    if leave_by_kill {
        b.kill9();
    } else {
        b.sigterm();
        let st = b.wait(Duration::from_secs(15)).expect("B exits");
        assert!(st.success(), "{st:?}\n{}", b.log_tail(30));
    }
    assert!(
        wait_for(Duration::from_secs(180), || sink.stats().unique_event_ids
            >= n as u64),
        "only {} of {n} delivered after B left\n{}",
        sink.stats().unique_event_ids,
        a.log_tail(30)
    );
    let finish = left.elapsed();
    assert!(a.running(), "A exited during the rebalances");
    // Read before A's own stop, whose final revoke moves nothing.
    let (a_log, b_log) = (a.log_text(), b.log_text());
    let moved = moved_partitions(&a_log, &b_log, leave_by_kill);
    a.sigterm();
    assert!(a.wait(Duration::from_secs(15)).is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    eprintln!("{t:?}; join {join_took:?}; finish after leave {finish:?}");
    // With the consumer protocol A never gives up everything: the join moves only B's
    // share, and every assignment is an increment.
    let a_revoked = log_field(&a_log, "partitions revoked", "partitions");
    let incremental = [&a_log, &b_log].iter().all(|log| {
        log.lines()
            .filter(|l| l.contains("msg=\"partitions assigned\""))
            .all(|l| l.contains("incremental=true"))
    });
    // A revoke logs how many messages the next owners read again (`redelivered`: what was in
    // flight, plus what was acked since the last commit that succeeded; on a loaded machine a
    // join can take several rounds, each failing the commits of the one before). Every
    // duplicate must have been announced so, except on the partitions B held when it was
    // killed: there, what was in flight (at most checkpoint_limit each) plus a commit
    // period's worth (500 at this pace).
    let bound = moved.redelivered + moved.killed_held * LIMIT + if leave_by_kill { 500 } else { 0 };
    report(
        &format!(
            "rebalance ({}): 2nd instance joins, then leaves by {} mid-load",
            match (backend, protocol) {
                (Backend::Mock, _) => "MockCluster",
                (Backend::Apache, Protocol::Classic) => "Apache Kafka",
                (Backend::Apache, Protocol::Consumer) =>
                    "Apache Kafka, KIP-848 `consumer` protocol",
            },
            if leave_by_kill { "kill -9" } else { "SIGTERM" }
        ),
        &t,
        &format!(
            "join took {:.1} s; rest done {:.1} s after the leave",
            join_took.as_secs_f64(),
            finish.as_secs_f64()
        ),
        &format!(
            "dup bound {bound} ({} announced in {} rounds, {} partitions held at the kill)",
            moved.redelivered, moved.rounds, moved.killed_held
        ),
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, 0);
    assert!(
        t.duplicates as usize <= bound,
        "{} duplicates > {bound}",
        t.duplicates
    );
    assert!(
        moved.rounds >= 2,
        "two rebalances at least (the join, the leave): {moved:?}"
    );
    if protocol == Protocol::Consumer {
        assert!(incremental, "every assignment incremental\n{a_log}");
        assert!(
            a_revoked.iter().all(|&r| r < P as usize),
            "A gave up only what moved, never all {P} partitions: {a_revoked:?}"
        );
    }
    drop(kafka);
}

#[derive(Debug)]
struct Moved {
    /// Messages the revokes said the next owners would read again.
    redelivered: usize,
    /// Partitions B held when it was killed (0 for a graceful leave).
    killed_held: usize,
    /// Revokes (rebalance rounds seen by a member) plus the kill.
    rounds: usize,
}

/// What the rebalances moved, from the members' `partitions revoked` / `partitions assigned`
/// log lines (logfmt: `msg="partitions revoked" partitions=N redelivered=M`).
fn moved_partitions(a_log: &str, b_log: &str, b_killed: bool) -> Moved {
    let field = |log: &str, what: &str, name: &str| -> Vec<usize> {
        let prefix = format!("{name}=");
        log.lines()
            .filter(|l| l.contains(&format!("msg=\"partitions {what}\"")))
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|f| f.strip_prefix(prefix.as_str()))
                    .and_then(|n| n.parse().ok())
            })
            .collect()
    };
    let revoked = |log: &str| field(log, "revoked", "partitions");
    let (a_rev, b_rev) = (revoked(a_log), revoked(b_log));
    let redelivered = [a_log, b_log]
        .iter()
        .flat_map(|log| field(log, "revoked", "redelivered"))
        .sum();
    assert_eq!(
        a_rev.len() + b_rev.len(),
        [a_log, b_log]
            .iter()
            .map(|log| field(log, "revoked", "redelivered").len())
            .sum::<usize>(),
        "every revoke says how much it redelivers"
    );
    let mut rounds = a_rev.len() + b_rev.len();
    let mut killed_held = 0;
    if b_killed {
        killed_held = field(b_log, "assigned", "partitions").iter().sum::<usize>()
            - b_rev.iter().sum::<usize>();
        rounds += 1;
    }
    Moved {
        redelivered,
        killed_held,
        rounds,
    }
}

#[test]
fn second_instance_joins_and_leaves_gracefully_mid_load() {
    run(Backend::Apache, false);
}

#[test]
fn second_instance_joins_and_is_killed_mid_load_mock_cluster() {
    run(Backend::Mock, true);
}

/// KIP-848: the same join and graceful leave with `group.protocol: consumer`. (A kill would
/// wait for the broker's `group.consumer.session.timeout.ms`, 45 s by default.)
#[test]
fn second_instance_joins_and_leaves_gracefully_mid_load_consumer_protocol() {
    run_with(Backend::Apache, false, Protocol::Consumer);
}

/// The same on Apache Kafka: after the killed member's session times out, the survivor is
/// assigned its partitions too.
#[test]
fn second_instance_joins_and_is_killed_mid_load_apache_kafka() {
    run(Backend::Apache, true);
}
