//! Fault matrix, the dead-letter target failing under load (the real binary, Apache Kafka, the
//! in-process API double): the dead-letter file rotated away mid-run, the disk under it full
//! and then freed, the dead-letter Kafka broker down and then up. One event in 25 fails its
//! mapping (`throw`), so dead letters flow all the time.
//!
//! "Lost" is the hostile definition: committed by the collector (so acked) but neither at the
//! API nor in a whole dead-letter record anyone can find. Each test waits for the group to
//! commit everything, then counts.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    corrupt_lines, dead_lettered_ids, events, expected_ids, metric, ready, report, scaled, sink_on,
    wait_committed, wait_for, Cfg, Collector, Tally,
};
use crate::support::kafka::Cluster;
use crate::support::{create_topic, free_port, produce, Broker};
use flexprice_api_double::Faults;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

const P: i32 = 4;
/// One event in this many fails its mapping and is dead-lettered.
const BAD_EVERY: usize = 25;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A run paced so the faults land mid-load: small batches, 20 ms per request.
fn paced(broker: &str, topic: &str, group: &str, sink: SocketAddr, dir: &std::path::Path) -> Cfg {
    Cfg {
        batch_count: 20,
        http_port: Some(free_port()),
        event_name: format!(
            "if this.seq % {BAD_EVERY} == 3 {{ throw(\"seq \" + this.seq.string() + \" is bad\") }} else {{ \"usage\" }}"
        ),
        ..Cfg::new(broker, topic, group, sink, dir)
    }
}

fn slow_sink() -> flexprice_api_double::ApiDouble {
    sink_on(
        any_port(),
        Faults {
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
    )
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// logrotate's way: the file is moved to `.1` while the collector writes, later compressed
/// (read) and deleted. Records written after the move must go to a new file at the path;
/// before the fix they went to the moved inode and, after its deletion, nowhere (30 of 30
/// lost, nothing logged).
#[test]
fn dead_letter_file_rotated_mid_run_loses_nothing() {
    let n = events(5_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "dl-rotate", P);
    let landed = produce(&broker.addr, "dl-rotate", P, 0..n, 120, 500);
    let expected = expected_ids("dl-rotate", &landed);
    let sink = slow_sink();
    let cfg = paced(
        &broker.addr,
        "dl-rotate",
        "g-dl-rotate",
        sink.addr(),
        dir.path(),
    );
    let mut collector = Collector::spawn(&cfg, dir.path(), "rotate");
    let bad = n / BAD_EVERY;
    assert!(
        wait_for(Duration::from_secs(60), || lines(&cfg.dead_letter)
            >= bad / 4),
        "no dead letters\n{}",
        collector.log_tail(30)
    );
    let rotated = dir.path().join("dead-letter.jsonl.1");
    let archive = dir.path().join("dead-letter.jsonl.1.archive");
    let port = cfg.http_port.expect("http");
    let written = metric(port, "bento_output_dead_letter");
    std::fs::rename(&cfg.dead_letter, &rotated).expect("rotate");
    let moved_at = Instant::now();
    // Some records later (wherever they went), compressing reads the moved file as it is
    // then, and the moved file is deleted; dead letters keep coming after that.
    assert!(
        wait_for(Duration::from_secs(30), || metric(
            port,
            "bento_output_dead_letter"
        ) >= written + 20.0),
        "no dead letters after the move
{}",
        collector.log_tail(30)
    );
    let new_file = lines(&cfg.dead_letter) > 0;
    let new_after = moved_at.elapsed();
    std::thread::sleep(Duration::from_millis(200)); // a write under way ends first
    std::fs::copy(&rotated, &archive).expect("archive");
    std::fs::remove_file(&rotated).expect("delete the rotated file");
    assert!(
        wait_committed(
            &broker.addr,
            "g-dl-rotate",
            "dl-rotate",
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
    let log = collector.log_text();

    let mut dl: HashSet<String> = dead_lettered_ids(&archive).into_iter().collect();
    dl.extend(dead_lettered_ids(&cfg.dead_letter));
    let t = Tally::compute_with(&sink.accepted_ids(), &expected, &dl);
    let reopened = log.contains("writing to the file at the path from now on");
    report(
        "dead-letter file rotated mid-run (moved to .1, archived, deleted)",
        &t,
        &format!(
            "new file at the path {}",
            if new_file {
                format!("within {:.1} s of the move", new_after.as_secs_f64())
            } else {
                "never".into()
            }
        ),
        &format!(
            "{} records in the archive, {} in the new file; reopen logged: {reopened}",
            lines(&archive),
            lines(&cfg.dead_letter)
        ),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, bad, "every bad event dead-lettered once");
    assert!(
        new_file,
        "records after the move go to a new file at the path"
    );
    assert!(reopened, "the reopen is logged");
    assert_eq!(corrupt_lines(&cfg.dead_letter) + corrupt_lines(&archive), 0);
}

/// The disk under the dead-letter file fills (`RLIMIT_FSIZE` on the collector: writes past
/// the size fail as on a full disk), stays full for a while, then has room again. Failed
/// writes are cut back (no partial line before a good record), retried, counted, shown on
/// `/ready`; once there is room the held partitions resume. Before the fix the partial line
/// of a failed write was followed by the retried records: an acked record existed only
/// inside a corrupt line.
#[test]
fn dead_letter_disk_full_then_freed_loses_nothing() {
    let n = events(5_000);
    let full_for = scaled(Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "dl-full", P);
    let landed = produce(&broker.addr, "dl-full", P, 0..n, 120, 500);
    let expected = expected_ids("dl-full", &landed);
    let sink = slow_sink();
    let cfg = paced(
        &broker.addr,
        "dl-full",
        "g-dl-full",
        sink.addr(),
        dir.path(),
    );
    let port = cfg.http_port.expect("http");
    // Room for about 30 of the 200 records.
    let mut collector = Collector::spawn_limited(&cfg, dir.path(), "full", 12 * 1024);
    assert!(
        wait_for(Duration::from_secs(60), || collector
            .log_text()
            .contains("cannot write dead-letter records")),
        "the dead-letter disk never filled\n{}",
        collector.log_tail(30)
    );
    let full_at = Instant::now();
    // While full: not ready, with the reason; the waiting events are counted.
    let mut not_ready = (0, String::new());
    let reported = wait_for(Duration::from_secs(10), || {
        not_ready = ready(port);
        not_ready.0 == 503 && not_ready.1.contains("dead-letter target failing")
    });
    let pending = metric(port, "bento_output_dead_letter_pending");
    std::thread::sleep(full_for.saturating_sub(full_at.elapsed())); // the fault's length
    let errors = metric(port, "bento_output_dead_letter_error");
    let during = lines(&cfg.dead_letter);
    assert!(collector.running(), "{}", collector.log_tail(30));
    collector.lift_file_size_limit();
    let freed = Instant::now();
    let wrote_again = wait_for(Duration::from_secs(30), || lines(&cfg.dead_letter) > during);
    let resumed = freed.elapsed();
    assert!(
        wait_committed(
            &broker.addr,
            "g-dl-full",
            "dl-full",
            P,
            &landed,
            Duration::from_secs(120)
        ),
        "the group did not commit everything\n{}",
        collector.log_tail(30)
    );
    let ready_after = wait_for(Duration::from_secs(10), || ready(port).0 == 200);
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    let corrupt = corrupt_lines(&cfg.dead_letter);
    report(
        &format!(
            "dead-letter disk full {} s (RLIMIT_FSIZE 12 KiB), then freed",
            full_for.as_secs()
        ),
        &t,
        &format!(
            "first record written {:.1} s after the disk was freed (retries back off to 5 s)",
            resumed.as_secs_f64()
        ),
        &format!(
            "{errors} failed writes, {pending} events waiting (metrics); /ready 503 while full: {reported}; {corrupt} corrupt lines"
        ),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(corrupt, 0, "every line a whole record");
    assert!(
        reported,
        "/ready while the dead-letter disk is full: {not_ready:?}"
    );
    assert!(wrote_again, "dead-letter writes resume once there is room");
    assert!(errors > 0.0, "failed writes are counted");
    assert_eq!(t.dead_lettered, n / BAD_EVERY);
    assert!(pending > 0.0, "waiting events are counted");
    assert!(ready_after, "ready again once the disk has room");
}

/// Every record on a dead-letter topic, by source id (`topic-partition-offset`), with how
/// many times each came.
fn topic_records(addr: &str, topic: &str, want: usize) -> (HashSet<String>, usize) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", "dl-down-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    c.assign(&tpl).expect("assign");
    let mut ids = HashSet::new();
    let mut total = 0;
    let end = Instant::now() + Duration::from_secs(30);
    let mut quiet_since = Instant::now();
    while Instant::now() < end {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                total += 1;
                quiet_since = Instant::now();
                ids.insert(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
            }
            _ if ids.len() >= want && quiet_since.elapsed() > Duration::from_secs(1) => break,
            _ => {}
        }
    }
    (ids, total)
}

/// The broker of `dead_letter.kafka` goes down under load and comes back: dead-letter writes
/// fail (within `timeout`) and are retried, `/ready` says so, the failures are counted; once
/// the broker is back every record lands and the partitions resume.
#[test]
fn kafka_dead_letter_broker_down_then_up_loses_nothing() {
    let n = events(5_000);
    let down_for = scaled(Duration::from_secs(5));
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "dl-kafka", P);
    let landed = produce(&broker.addr, "dl-kafka", P, 0..n, 120, 500);
    let expected = expected_ids("dl-kafka", &landed);
    let dlq = Cluster::start(1, false, &[]);
    create_topic(&dlq.bootstrap, "dl-kafka-dead", 1);
    let sink = slow_sink();
    let cfg = Cfg {
        dead_letter_kafka: Some((dlq.bootstrap.clone(), "dl-kafka-dead".into())),
        ..paced(
            &broker.addr,
            "dl-kafka",
            "g-dl-kafka",
            sink.addr(),
            dir.path(),
        )
    };
    let port = cfg.http_port.expect("http");
    let mut collector = Collector::spawn(&cfg, dir.path(), "kafka-dl");
    assert!(
        wait_for(Duration::from_secs(60), || metric(
            port,
            "bento_output_dead_letter"
        ) >= 20.0),
        "no dead letters\n{}",
        collector.log_tail(30)
    );
    dlq.stop_broker(1, false);
    let down = Instant::now();
    let mut not_ready = (0, String::new());
    let reported = wait_for(Duration::from_secs(15), || {
        not_ready = ready(port);
        not_ready.0 == 503 && not_ready.1.contains("dead-letter target failing")
    });
    std::thread::sleep(down_for.saturating_sub(down.elapsed())); // the outage's length
    let errors = metric(port, "bento_output_dead_letter_error");
    let pending = metric(port, "bento_output_dead_letter_pending");
    assert!(collector.running(), "{}", collector.log_tail(30));
    dlq.start_broker(1);
    let up = Instant::now();
    let before = metric(port, "bento_output_dead_letter");
    assert!(
        wait_for(Duration::from_secs(60), || metric(
            port,
            "bento_output_dead_letter"
        ) > before),
        "no dead-letter write after the broker came back\n{}",
        collector.log_tail(30)
    );
    let resumed = up.elapsed();
    assert!(
        wait_committed(
            &broker.addr,
            "g-dl-kafka",
            "dl-kafka",
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

    let (dl, records) = topic_records(&dlq.bootstrap, "dl-kafka-dead", n / BAD_EVERY);
    let t = Tally::compute_with(&sink.accepted_ids(), &expected, &dl);
    report(
        &format!(
            "dead_letter.kafka broker down {} s, then up",
            down_for.as_secs()
        ),
        &t,
        &format!(
            "first dead letter {:.1} s after the broker was back",
            resumed.as_secs_f64()
        ),
        &format!(
            "{errors} failed writes, {pending} events waiting while down; /ready 503: {reported}; {} records on the topic for {} events",
            records,
            dl.len()
        ),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
    assert_eq!(t.dead_lettered, n / BAD_EVERY);
    assert!(errors > 0.0, "failed writes are counted");
    assert!(reported, "/ready while the broker is down: {not_ready:?}");
}
