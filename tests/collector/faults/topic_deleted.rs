//! Fault matrix, a subscribed topic deleted while the real binary consumes it (Apache Kafka;
//! on tansu this crashed librdkafka). The collector subscribes to two topics; one is deleted
//! mid-load. It keeps running, as Bento does, and consumes the other one to its last message
//! and commits it; it says in its log which partitions went away, without a flood (librdkafka
//! reports the loss every second per partition and every commit, until its next metadata
//! refresh drops them from the group, 5 min by default); it stays ready (it still has
//! partitions to read), and a SIGTERM stops it cleanly.
//!
//! What was not yet delivered of the deleted topic is gone with it: not the collector's loss,
//! so the row counts the other topic only.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    events, expected_ids, report, sink_on, wait_for, Cfg, Collector, Tally,
};
use crate::support::{
    block_on, committed, create_topic, free_port, high_watermarks, produce, Broker,
};
use flexprice_api_double::Faults;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

const P: i32 = 2;
const GONE: &str = "del-gone";
const KEPT: &str = "del-kept";

fn ready(port: u16) -> Option<u16> {
    match ureq::get(format!("http://127.0.0.1:{port}/ready")).call() {
        Ok(r) => Some(r.status().as_u16()),
        Err(ureq::Error::StatusCode(s)) => Some(s),
        Err(_) => None,
    }
}

#[test]
fn deleting_a_subscribed_topic_mid_load_keeps_the_collector_running() {
    let n = events(10_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, GONE, P);
    create_topic(&broker.addr, KEPT, P);
    produce(&broker.addr, GONE, P, 0..n, 120, 500);
    let landed = produce(&broker.addr, KEPT, P, 0..n, 120, 500);
    let expected = expected_ids(KEPT, &landed);
    // Paced (~2k events/s over both topics), so the deletion lands mid-load.
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
        http_port: Some(port),
        // Two topics: the harness writes `topics: ['{topic}']`.
        ..Cfg::new(
            &broker.addr,
            &format!("{GONE}', '{KEPT}"),
            "g-del",
            sink.addr(),
            dir.path(),
        )
    };
    let mut collector = Collector::spawn(&cfg, dir.path(), "del");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= (n / 4) as u64),
        "load did not start\n{}",
        collector.log_tail(30)
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .expect("admin");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in block_on(admin.delete_topics(&[GONE], &opts)).expect("delete_topics") {
        r.expect("topic deleted");
    }
    let deleted = Instant::now();
    let kept_done = wait_for(Duration::from_secs(120), || {
        let ids: HashSet<String> = sink.accepted_ids().into_iter().collect();
        expected.iter().all(|id| ids.contains(id))
    });
    let took = deleted.elapsed();
    let hwm = high_watermarks(&broker.addr, KEPT, P);
    let committed_all = wait_for(Duration::from_secs(30), || {
        committed(&broker.addr, "g-del", KEPT, P) == hwm
    });
    let named = wait_for(Duration::from_secs(30), || {
        collector
            .log_text()
            .lines()
            .any(|l| l.contains("level=warning") && l.contains(&format!("{GONE}[")))
    });
    let running = collector.running();
    let ready_then = ready(port);
    let since = deleted.elapsed();
    collector.sigterm();
    let st = collector.wait(Duration::from_secs(15));
    let log = collector.log_text();
    let warnings = log.lines().filter(|l| l.contains("level=warning")).count();

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    let gone_delivered = t.foreign;
    eprintln!("{t:?}; {took:?} to finish {KEPT}; {warnings} warnings in {since:?}");
    report(
        &format!("a subscribed topic deleted mid-load (2 topics, {KEPT} kept)"),
        &t,
        &format!(
            "{KEPT} done {:.1} s after the deletion and committed to its end",
            took.as_secs_f64()
        ),
        &format!(
            "kept running and ready; {gone_delivered} of {GONE} delivered before it went; {warnings} warnings about it in {:.0} s",
            since.as_secs_f64()
        ),
    );
    assert!(running, "collector exited after the deletion\n{}", log);
    assert!(kept_done, "{KEPT} was not consumed to its end\n{log}");
    assert!(
        committed_all,
        "{KEPT} committed {:?}, high watermarks {hwm:?}",
        committed(&broker.addr, "g-del", KEPT, P)
    );
    assert!(
        named,
        "no warning named the deleted topic's partitions\n{log}"
    );
    assert_eq!(ready_then, Some(200), "/ready after the deletion");
    assert!(
        st.is_some_and(|s| s.success()),
        "{st:?} after SIGTERM\n{}",
        collector.log_tail(30)
    );
    // Every warning of the run is about the deletion: at most one of each kind (librdkafka's
    // error, the refused commit) per 30 s, and the stop's final commit.
    let bound = 2 * (since.as_secs() as usize / 30 + 1) + 1;
    assert!(
        warnings <= bound,
        "{warnings} warnings about the deleted topic in {since:?} (bound {bound})\n{log}"
    );
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.dead_lettered, 0);
}
