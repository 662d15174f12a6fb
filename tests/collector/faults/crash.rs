//! Fault matrix, crashes and stops of the collector process itself (the real binary against a
//! Apache Kafka broker and the in-process API double):
//! - kill -9 at random points of a load, three times, restarting each time;
//! - SIGTERM under load, then a restart.
//!
//! Messages are produced in record batches of 500, as real producers batch: a restart resumes
//! from a committed offset that usually lies inside a batch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::faults::{
    events, expected_ids, report, sink_on, wait_for, Cfg, Collector, Rng, Tally,
};
use crate::support::{create_topic, produce, Broker};
use flexprice_api_double::Faults;

const P: i32 = 4;
const LIMIT: usize = 256;

/// The peak delivery rate, from samples of the sink's unique count at least 0.5 s apart.
struct PeakRate {
    last: Option<(Instant, u64)>,
    peak: f64,
}

impl PeakRate {
    fn sample(&mut self, unique: u64) {
        let now = Instant::now();
        match self.last {
            Some((t, n)) if now.duration_since(t) >= Duration::from_millis(500) => {
                let r = unique.saturating_sub(n) as f64 / now.duration_since(t).as_secs_f64();
                self.peak = self.peak.max(r);
                self.last = Some((now, unique));
            }
            Some(_) => {}
            None => self.last = Some((now, unique)),
        }
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// kill -9 three times at random points of the load, restart each time: every produced
/// message ends up at the sink under its derived id, and what came twice is bounded by what
/// can be in flight or acked-but-not-yet-committed at the moment of each kill.
#[test]
fn kill_9_three_times_under_load_loses_nothing() {
    let n = events(20_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "crash", P);
    let landed = produce(&broker.addr, "crash", P, 0..n, 120, 500);
    let expected = expected_ids("crash", &landed);
    // A little latency keeps requests in flight when the kill lands.
    let sink = sink_on(
        any_port(),
        Faults {
            latency: Duration::from_millis(2),
            ..Faults::default()
        },
    );
    let cfg = Cfg {
        checkpoint_limit: LIMIT,
        ..Cfg::new(&broker.addr, "crash", "g-crash", sink.addr(), dir.path())
    };
    let mut rng = Rng::from_env();
    let mut points: Vec<f64> = (0..3).map(|_| rng.range(0.1, 0.8)).collect();
    points.sort_by(f64::total_cmp);

    let started = Instant::now();
    let mut collector = Collector::spawn(&cfg, dir.path(), "crash-0");
    let mut recoveries = Vec::new();
    let mut at_kill = Vec::new();
    let mut peak = PeakRate {
        last: None,
        peak: 0.0,
    };
    for (i, frac) in points.iter().enumerate() {
        let target = ((n as f64) * frac) as u64;
        assert!(
            wait_for(Duration::from_secs(120), || {
                let u = sink.stats().unique_event_ids;
                peak.sample(u);
                u >= target
            }),
            "kill {i}: only {} of {n} delivered before the kill point\n{}",
            sink.stats().unique_event_ids,
            collector.log_tail(30)
        );
        assert!(collector.running(), "collector died on its own");
        collector.kill9();
        let before = sink.stats();
        at_kill.push(before.unique_event_ids);
        let restart = Instant::now();
        collector = Collector::spawn(&cfg, dir.path(), &format!("crash-{}", i + 1));
        // Recovery: until the restarted collector delivers something not seen before.
        assert!(
            wait_for(Duration::from_secs(60), || sink.stats().unique_event_ids
                > before.unique_event_ids
                || before.unique_event_ids as usize == n),
            "kill {i}: no progress after the restart\n{}",
            collector.log_tail(30)
        );
        recoveries.push(restart.elapsed());
    }
    assert!(
        wait_for(Duration::from_secs(180), || sink.stats().unique_event_ids
            >= n as u64),
        "only {} of {n} delivered after the last restart\n{}",
        sink.stats().unique_event_ids,
        collector.log_tail(30)
    );
    let load = started.elapsed();
    collector.sigterm();
    let st = collector
        .wait(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert!(st.success(), "exit status {st:?}");

    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    let rate = n as f64 / load.as_secs_f64();
    // Per kill, what can be delivered but not committed: up to checkpoint_limit un-acked
    // messages per partition, plus what was acked since the last commit at the peak rate
    // (commit_period 100 ms plus the 20 ms store tick and the commit's round trip; doubled).
    let per_kill = P as usize * LIMIT + (peak.peak.max(rate) * 0.3) as usize;
    let bound = 3 * per_kill;
    let worst = recoveries.iter().max().copied().unwrap_or_default();
    eprintln!(
        "kill points (delivered at kill) {at_kill:?}; recoveries {recoveries:?}; {rate:.0} ev/s avg, {:.0} peak; {t:?}",
        peak.peak
    );
    report(
        &format!("kill -9 x3 during load ({P} partitions, checkpoint_limit {LIMIT})"),
        &t,
        &format!("{:.1} s (worst of 3 restarts)", worst.as_secs_f64()),
        &format!("dup bound {bound}"),
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0, "ids not derived from their source message");
    assert_eq!(t.dead_lettered, 0, "nothing should be dead-lettered");
    assert!(
        t.duplicates as usize <= bound,
        "{} duplicates > bound {bound}",
        t.duplicates
    );
}

/// SIGTERM under load: exit 0 within shutdown_timeout, every event the collector committed
/// was delivered, and a restart delivers the rest without re-sending anything committed.
#[test]
fn sigterm_under_load_commits_only_delivered_and_restart_resends_nothing_committed() {
    let n = events(20_000);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, "term", P);
    let landed = produce(&broker.addr, "term", P, 0..n, 120, 500);
    let expected = expected_ids("term", &landed);
    let sink = sink_on(
        any_port(),
        Faults {
            latency: Duration::from_millis(2),
            ..Faults::default()
        },
    );
    let cfg = Cfg {
        checkpoint_limit: LIMIT,
        shutdown_timeout: "10s",
        ..Cfg::new(&broker.addr, "term", "g-term", sink.addr(), dir.path())
    };
    let mut collector = Collector::spawn(&cfg, dir.path(), "term-0");
    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= (n / 3) as u64),
        "load did not start\n{}",
        collector.log_tail(30)
    );
    let stop = Instant::now();
    collector.sigterm();
    let st = collector
        .wait(Duration::from_secs(12))
        .expect("exits within shutdown_timeout (10 s) + slack");
    let stop_took = stop.elapsed();
    assert!(
        st.success(),
        "exit status {st:?}\n{}",
        collector.log_tail(30)
    );
    let after_stop = sink.stats();
    assert_eq!(
        after_stop.duplicate_events, 0,
        "a clean run sends nothing twice"
    );

    // Everything committed must be at the sink.
    let committed = crate::support::committed(&broker.addr, "g-term", "term", P);
    let mut committed_ids = 0usize;
    let accepted: std::collections::HashSet<String> = sink.accepted_ids().into_iter().collect();
    for (&p, &upto) in &committed {
        for o in 0..upto.max(0) {
            let id = format!("term-{p}-{o}");
            assert!(accepted.contains(&id), "{id} committed but never delivered");
            committed_ids += 1;
        }
    }
    // A graceful stop commits what it delivered: at most a checkpoint window per partition
    // may be delivered beyond the commit (acks that raced the final commit).
    assert!(
        after_stop.unique_event_ids as usize - committed_ids <= P as usize * LIMIT,
        "delivered {} but committed only {committed_ids}",
        after_stop.unique_event_ids
    );

    let restart = Instant::now();
    let mut again = Collector::spawn(&cfg, dir.path(), "term-1");
    assert!(
        wait_for(Duration::from_secs(180), || sink.stats().unique_event_ids
            >= n as u64),
        "only {} of {n} delivered after the restart\n{}",
        sink.stats().unique_event_ids,
        again.log_tail(30)
    );
    let recovery = restart.elapsed();
    again.sigterm();
    assert!(again
        .wait(Duration::from_secs(12))
        .is_some_and(|s| s.success()));
    // Nothing below the committed offsets came again.
    let ids = sink.accepted_ids();
    let mut count: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for id in &ids {
        *count.entry(id.as_str()).or_default() += 1;
    }
    for (&p, &upto) in &committed {
        for o in 0..upto.max(0) {
            let id = format!("term-{p}-{o}");
            assert_eq!(
                count.get(id.as_str()),
                Some(&1),
                "{id} was committed, then re-sent"
            );
        }
    }
    let t = Tally::take(&sink, &expected, &cfg.dead_letter);
    report(
        "SIGTERM under load, then restart",
        &t,
        &format!(
            "stop {:.1} s (exit 0); restart to done {:.1} s",
            stop_took.as_secs_f64(),
            recovery.as_secs_f64()
        ),
        "0 re-sent below the commit",
    );
    assert_eq!(t.lost, 0, "lost events, e.g. {:?}", t.missing_sample);
    assert_eq!(t.foreign, 0);
}
