//! Fault matrix, answers that are not the events' fault (the real binary, Apache Kafka, the
//! in-process API double): a 207 after the API stored half of each batch, a key the API
//! refuses (401) until it is fixed at the API side, a 404 on the bulk route for a while.
//! None of them may lose an event or dead-letter one; the held stream resumes when the
//! answer changes.
//!
//! "Lost" is the hostile definition: committed by the collector but not at the API (and not
//! dead-lettered). Each test waits for the group to commit everything, then counts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    events, expected_ids, ready, report, scaled, sink_on, wait_committed, wait_for, Cfg, Collector,
    Tally,
};
use crate::support::{create_topic, free_port, produce, Broker};
use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};

const P: i32 = 4;
const BATCH: usize = 100;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn cfg(broker: &str, topic: &str, group: &str, sink: SocketAddr, dir: &std::path::Path) -> Cfg {
    Cfg {
        batch_count: BATCH,
        // A finite budget: none of these answers may spend it into the dead-letter file.
        retry_max_attempts: 3,
        initial_interval: "100ms",
        max_interval: "1s",
        http_port: Some(free_port()),
        ..Cfg::new(broker, topic, group, sink, dir)
    }
}

/// Lines of the collector's log that hold `needle`.
fn log_lines(c: &Collector, needle: &str) -> usize {
    c.log_text().lines().filter(|l| l.contains(needle)).count()
}

/// A third of the requests are answered 207 after the API stored the first half of their
/// events. Only 202 is delivery: those requests are sent again whole (the stored half comes
/// twice, under the same `event_id` and timestamp). Before the fix the 207 acked the whole
/// batch: 501 of 1000 offsets committed for events never stored.
#[test]
fn a_207_after_half_was_stored_loses_nothing() {
    let n = events(10_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "ans-207", P);
    let landed = produce(&broker.addr, "ans-207", P, 0..n, 120, 500);
    let expected = expected_ids("ans-207", &landed);
    let sink = sink_on(
        any_port(),
        Faults {
            error_rate: 0.3,
            error_status: 207,
            injected_stores: 0.5,
            ..Faults::default()
        },
    );
    let cfg = cfg(
        &broker.addr,
        "ans-207",
        "g-ans-207",
        sink.addr(),
        dir.path(),
    );
    let started = Instant::now();
    let mut collector = Collector::spawn(&cfg, dir.path(), "207");
    assert!(
        wait_committed(
            &broker.addr,
            "g-ans-207",
            "ans-207",
            P,
            &landed,
            Duration::from_secs(120)
        ),
        "the group did not commit everything\n{}",
        collector.log_tail(30)
    );
    let took = started.elapsed();
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));
    let st = sink.stats();
    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    let answered_207 = st.status_counts.get(&207).copied().unwrap_or(0);
    // Each 207 stored at most half a batch (rounded up) that comes again.
    let bound = answered_207 * BATCH.div_ceil(2) as u64;
    report(
        "207 after half of the batch was stored (30% of requests)",
        &t,
        &format!("all committed in {:.1} s", took.as_secs_f64()),
        &format!("{answered_207} answers 207; dup bound {bound} (half a batch per 207)"),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, 0, "a 207 is not the events' fault");
    assert!(answered_207 > 0);
    assert!(
        t.duplicates <= bound,
        "{} duplicates > {bound}",
        t.duplicates
    );
}

/// The API refuses the collector's key (401) for a while, then takes it (the key was
/// re-activated at the API side; the collector's config is the same). Nothing is
/// dead-lettered (before the fix: 1000 of 1000 within 12 s); the stream is held with the
/// backlog in Kafka, `/ready` names the field to fix, the error is logged once, and delivery
/// resumes by itself once the key is taken.
#[test]
fn a_refused_key_holds_the_stream_until_it_is_fixed() {
    let n = events(10_000);
    // Longer than the group's session timeout (6 s): the member must stay in the group.
    let refused_for = scaled(Duration::from_secs(8));
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "ans-401", P);
    let landed = produce(&broker.addr, "ans-401", P, 0..n, 120, 500);
    let expected = expected_ids("ans-401", &landed);
    let sink = ApiDouble::start(ApiDoubleConfig {
        listen: any_port(),
        api_key: "the-key-before-it-was-fixed".into(),
        threads: 4,
        ..ApiDoubleConfig::default()
    })
    .expect("sink");
    let cfg = cfg(
        &broker.addr,
        "ans-401",
        "g-ans-401",
        sink.addr(),
        dir.path(),
    );
    let port = cfg.http_port.expect("http");
    let mut collector = Collector::spawn(&cfg, dir.path(), "401");
    assert!(
        wait_for(Duration::from_secs(60), || sink.stats().rejected_401 > 0),
        "no request\n{}",
        collector.log_tail(30)
    );
    let refused_at = Instant::now();
    let mut not_ready = (0, String::new());
    let reported = wait_for(Duration::from_secs(10), || {
        not_ready = ready(port);
        not_ready.0 == 503 && not_ready.1.contains("check output.flexprice.api_key")
    });
    std::thread::sleep(refused_for.saturating_sub(refused_at.elapsed())); // the fault's length
    let refusals = sink.stats().rejected_401;
    let error_lines = log_lines(&collector, "refuses the pipeline");
    let dead_during = std::fs::read_to_string(&cfg.dead_letter)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    assert!(collector.running(), "{}", collector.log_tail(30));
    sink.set_api_key("fault-key");
    let fixed = Instant::now();
    let delivered = wait_for(Duration::from_secs(30), || sink.stats().events_accepted > 0);
    let recovery = fixed.elapsed();
    assert!(
        wait_committed(
            &broker.addr,
            "g-ans-401",
            "ans-401",
            P,
            &landed,
            Duration::from_secs(120)
        ),
        "the group did not commit everything\n{}",
        collector.log_tail(30)
    );
    let ready_after = wait_for(Duration::from_secs(10), || ready(port).0 == 200);
    let revoked = log_lines(&collector, "partitions revoked");
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    report(
        &format!(
            "API refuses the key (401) for {} s, then takes it",
            refused_for.as_secs()
        ),
        &t,
        &format!(
            "first 202 {:.1} s after the key was fixed",
            recovery.as_secs_f64()
        ),
        &format!(
            "{refusals} requests refused (4 senders, backoff to 1 s); {error_lines} error line(s); \
             /ready 503 naming api_key: {reported}; rebalances: {revoked}"
        ),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(dead_during, 0, "nothing dead-lettered while refused");
    assert!(delivered, "delivery resumes once the key is taken");
    assert_eq!(t.dead_lettered, 0);
    assert_eq!(t.duplicates, 0, "nothing was taken twice");
    assert!(reported, "/ready while refused: {not_ready:?}");
    let most = 1 + refused_for.as_secs() as usize / 60;
    assert!(
        (1..=most).contains(&error_lines),
        "{error_lines} error lines in {refused_for:?} (at most one a minute)"
    );
    assert_eq!(revoked, 0, "the held member stays in its group");
    assert!(ready_after, "ready again once the key is taken");
    assert!(
        recovery <= Duration::from_secs(3),
        "recovery took {recovery:?} (max_interval 1 s)"
    );
}

/// The bulk route answers 404 (a gateway without it, a deployment half done) for a while,
/// then the API serves it. Held, never dead-lettered; `/ready` names api_host.
#[test]
fn a_404_on_the_bulk_route_holds_the_stream_until_it_is_there() {
    let n = events(10_000);
    let missing_for = scaled(Duration::from_secs(4));
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "ans-404", P);
    let landed = produce(&broker.addr, "ans-404", P, 0..n, 120, 500);
    let expected = expected_ids("ans-404", &landed);
    let sink = sink_on(
        any_port(),
        Faults {
            error_rate: 1.0,
            error_status: 404,
            ..Faults::default()
        },
    );
    let cfg = cfg(
        &broker.addr,
        "ans-404",
        "g-ans-404",
        sink.addr(),
        dir.path(),
    );
    let port = cfg.http_port.expect("http");
    let mut collector = Collector::spawn(&cfg, dir.path(), "404");
    assert!(
        wait_for(Duration::from_secs(60), || sink.stats().injected_errors > 0),
        "no request\n{}",
        collector.log_tail(30)
    );
    let missing_at = Instant::now();
    let mut not_ready = (0, String::new());
    let reported = wait_for(Duration::from_secs(10), || {
        not_ready = ready(port);
        not_ready.0 == 503 && not_ready.1.contains("(404)") && not_ready.1.contains("api_host")
    });
    std::thread::sleep(missing_for.saturating_sub(missing_at.elapsed())); // the fault's length
    let answered_404 = sink.stats().status_counts.get(&404).copied().unwrap_or(0);
    let error_lines = log_lines(&collector, "refuses the pipeline");
    let dead_during = std::fs::read_to_string(&cfg.dead_letter)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    assert!(collector.running(), "{}", collector.log_tail(30));
    sink.set_faults(Faults::default());
    let there = Instant::now();
    let delivered = wait_for(Duration::from_secs(30), || sink.stats().events_accepted > 0);
    let recovery = there.elapsed();
    assert!(
        wait_committed(
            &broker.addr,
            "g-ans-404",
            "ans-404",
            P,
            &landed,
            Duration::from_secs(120)
        ),
        "the group did not commit everything\n{}",
        collector.log_tail(30)
    );
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    report(
        &format!("404 on the bulk route for {} s", missing_for.as_secs()),
        &t,
        &format!(
            "first 202 {:.1} s after the route was there",
            recovery.as_secs_f64()
        ),
        &format!(
            "{answered_404} requests answered 404; {error_lines} error line(s); /ready 503 naming api_host: {reported}"
        ),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(
        dead_during, 0,
        "nothing dead-lettered while the route is missing"
    );
    assert_eq!(
        t.dead_lettered, 0,
        "a missing route is not the events' fault"
    );
    assert!(delivered, "delivery resumes once the route is there");
    assert_eq!(t.duplicates, 0);
    assert!(reported, "/ready while the route is missing: {not_ready:?}");
    let most = 1 + missing_for.as_secs() as usize / 60;
    assert!(
        (1..=most).contains(&error_lines),
        "{error_lines} error lines in {missing_for:?} (at most one a minute)"
    );
}
