//! Fault matrix, a stop that runs out of time (Apache Kafka, the real binary): the API hangs,
//! so every sender is stuck when SIGTERM comes, and `shutdown_timeout` (2 s) passes with work
//! in flight. The collector still commits what is done and leaves its consumer group before
//! it exits, so the group is empty at once and a new member gets every partition right away,
//! not after the session timeout (45 s here, so the difference cannot be missed). Then the
//! API recovers: nothing lost, and every duplicate was announced by the stopped member's
//! revoke.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    announced_redeliveries, events, expected_ids, log_field, metric, report, sink_on, wait_for,
    Cfg, Collector, Tally,
};
use crate::support::{create_topic, free_port, produce, Broker};
use flexprice_api_double::Faults;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

const P: i32 = 4;
const SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The members of consumer group `group`, as the broker sees them.
fn members(addr: &str, group: &str) -> Option<usize> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .expect("admin consumer");
    let list = c
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .ok()?;
    list.groups().first().map(|g| g.members().len())
}

#[test]
fn stop_past_shutdown_timeout_still_leaves_the_group() {
    let n = events(8_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    let (topic, group) = ("stop", "g-stop");
    create_topic(&broker.addr, topic, P);
    let landed = produce(&broker.addr, topic, P, 0..n, 120, 500);
    let expected = expected_ids(topic, &landed);
    // Paced, so the load is still running when the API hangs.
    let sink = sink_on(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        },
    );
    let port = free_port();
    let cfg = Cfg {
        batch_count: 20,
        shutdown_timeout: "2s",
        http_port: Some(port),
        group_block: format!(
            "{{session_timeout: {}s, heartbeat_interval: 3s, rebalance_timeout: 60s}}",
            SESSION_TIMEOUT.as_secs()
        ),
        ..Cfg::new(&broker.addr, topic, group, sink.addr(), dir.path())
    };
    let mut a = Collector::spawn(&cfg, dir.path(), "a");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= (n / 4) as u64),
        "load did not start\n{}",
        a.log_tail(30)
    );
    sink.set_faults(Faults {
        hang: true,
        ..Faults::default()
    });
    // Every sender is stuck on the API.
    assert!(
        wait_for(Duration::from_secs(30), || metric(
            port,
            "bento_output_in_flight"
        ) >= cfg.max_in_flight as f64),
        "the senders never all hung\n{}",
        a.log_tail(30)
    );
    let at_stop = sink.stats().unique_event_ids;
    let stop = Instant::now();
    a.sigterm();
    let st = a
        .wait(Duration::from_secs(10))
        .expect("exits within shutdown_timeout (2 s) and slack");
    let exited = Instant::now();
    let stop_took = exited - stop;
    assert!(st.success(), "{st:?}\n{}", a.log_tail(30));
    // The broker already counts no member: A left, it did not just vanish.
    let left = members(&broker.addr, group);

    let mut b = Collector::spawn(&cfg, dir.path(), "b");
    let assigned = wait_for(SESSION_TIMEOUT + Duration::from_secs(30), || {
        log_field(&b.log_text(), "partitions assigned", "partitions")
            .iter()
            .sum::<usize>()
            >= P as usize
    });
    let reassigned = exited.elapsed();
    assert!(assigned, "B never got every partition\n{}", b.log_tail(30));

    sink.set_faults(Faults::default());
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= n as u64),
        "only {} of {n} delivered after the API recovered\n{}",
        sink.stats().unique_event_ids,
        b.log_tail(30)
    );
    let (a_log, b_log) = (a.log_text(), b.log_text());
    let (announced, revokes) = announced_redeliveries(&[&a_log]);
    b.sigterm();
    assert!(b.wait(Duration::from_secs(15)).is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    eprintln!(
        "{t:?}; stop {stop_took:?}; group members after A exited {left:?}; B assigned {reassigned:?} after; A announced {announced} in {revokes} revokes; {at_stop} delivered at the stop"
    );
    report(
        "stop past shutdown_timeout (2 s) with the API hanging, then a new member",
        &t,
        &format!(
            "exit {:.1} s after SIGTERM; new member assigned {:.1} s after the exit (session timeout {} s)",
            stop_took.as_secs_f64(),
            reassigned.as_secs_f64(),
            SESSION_TIMEOUT.as_secs()
        ),
        &format!("dup bound {announced} (announced by the stopped member's revoke)"),
    );
    assert!(
        a_log.contains("left the consumer group"),
        "A closed its consumer\n{}",
        a.log_tail(30)
    );
    assert_eq!(
        left,
        Some(0),
        "A left the group before exiting (members the broker still counts)\n{}",
        a.log_tail(30)
    );
    assert!(
        reassigned < SESSION_TIMEOUT / 2,
        "B waited {reassigned:?} for the partitions: A's membership had to time out"
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, 0);
    assert!(
        t.duplicates as usize <= announced,
        "{} duplicates > {announced} announced\n{}",
        t.duplicates,
        b_log
    );
}
