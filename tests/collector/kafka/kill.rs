//! kill -9 of the real collector binary mid-stream, then a restart: every message is
//! delivered at least once, and the only duplicates are messages that were past the group's
//! committed offset at the moment of the kill (the un-acked window).
//!
//! The collector assigns its partitions explicitly (`k9:0-3`) and commits to its consumer
//! group, so the restart resumes at once (a group member killed -9 would hold its partitions
//! until its session timed out). Offsets, commits and the restart from them are the same code
//! in both modes; the fault matrix covers the subscribed group.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{committed, create_topic, produce, seq_of, wait_until, Broker};

const N: usize = 24_000;
const P: i32 = 4;
const CHUNK: usize = 3_000;
const BACKLOG: usize = 12_000;

/// Complete lines (a kill can leave a torn last line) and the seqs they carry.
fn seqs_in(path: &Path) -> Vec<usize> {
    let text = std::fs::read(path).unwrap_or_default();
    let complete = match text.iter().rposition(|b| *b == b'\n') {
        Some(i) => &text[..=i],
        None => &[][..],
    };
    complete
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| seq_of(l).expect("every written line carries its seq"))
        .collect()
}

fn start(config: &Path, out: &Path, err: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_flexprice-collector"))
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(File::create(out).expect("stdout file"))
        .stderr(File::create(err).expect("stderr file"))
        .spawn()
        .expect("collector binary")
}

/// Kills the child on drop, so a failing test never leaves a collector running.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_minus_9_then_restart_delivers_everything_with_bounded_duplicates() {
    let broker = Broker::start();
    create_topic(&broker.addr, "k9", P);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "http: {{enabled: false}}\n\
             input:\n  kafka:\n    addresses: ['{}']\n    topics: ['k9:0-3']\n    consumer_group: g-k9\n\
             \x20   commit_period: 100ms\n    checkpoint_limit: 256\n\
             \x20   librdkafka_options: {{fetch.wait.max.ms: '10'}}\n\
             pipeline: {{threads: 2}}\n\
             output:\n  stdout: {{}}\n\
             logger: {{level: INFO}}\n\
             shutdown_timeout: 10s\n",
            broker.addr
        ),
    )
    .expect("config");

    // A backlog before the collector starts (so the kill lands with messages in flight), the
    // rest produced while it runs, in record batches: the committed offset at the kill usually
    // lies inside one.
    let mut backlog = produce(&broker.addr, "k9", P, 0..BACKLOG, 150, 500);
    let addr = broker.addr.clone();
    let producer = std::thread::spawn(move || {
        let mut landed = HashMap::new();
        for start in (BACKLOG..N).step_by(CHUNK) {
            landed.extend(produce(&addr, "k9", P, start..start + CHUNK, 150, 500));
        }
        landed
    });

    let (out1, out2) = (dir.path().join("out1.jsonl"), dir.path().join("out2.jsonl"));
    let mut first = Reap(start(&config, &out1, &dir.path().join("err1.log")));
    wait_until(
        Duration::from_secs(60),
        "the first run to write N/4 lines",
        || seqs_in(&out1).len() >= N / 4,
    );
    first.0.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    first.0.wait().expect("reaped");
    let at_kill = committed(&broker.addr, "g-k9", "k9", P);
    let run1 = seqs_in(&out1);
    assert!(run1.len() < N, "the kill must land mid-stream");
    let window_note = format!("run 1 wrote {} lines before the kill", run1.len());
    assert!(
        at_kill.values().any(|o| *o > 0),
        "offsets were committed while running: {at_kill:?}"
    );

    backlog.extend(producer.join().expect("producer"));
    let landed = backlog;
    let mut second = Reap(start(&config, &out2, &dir.path().join("err2.log")));
    let seen1: HashSet<usize> = run1.iter().copied().collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut all = seen1.clone();
        all.extend(seqs_in(&out2));
        if all.len() == N {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {N} delivered (run 1 {}, committed at kill {at_kill:?}, now {:?}); run 2 log:\n{}",
            all.len(),
            seen1.len(),
            committed(&broker.addr, "g-k9", "k9", P),
            std::fs::read_to_string(dir.path().join("err2.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Graceful stop of the second run: SIGTERM, drain, commit, exit 0.
    let pid = second.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    wait_until(Duration::from_secs(30), "the second run to exit", || {
        matches!(second.0.try_wait(), Ok(Some(_)))
    });
    let code = second.0.wait().expect("exit status");
    assert!(
        code.success(),
        "graceful stop exits 0: {code:?}\n{}",
        std::fs::read_to_string(dir.path().join("err2.log")).unwrap_or_default()
    );
    let run2 = seqs_in(&out2);

    // Run 2 on its own delivers each message once and starts exactly at the committed offsets.
    let unique2: HashSet<usize> = run2.iter().copied().collect();
    assert_eq!(unique2.len(), run2.len(), "no duplicates within one run");
    for s in &unique2 {
        let (p, o) = landed[s];
        assert!(
            o >= at_kill[&p],
            "seq {s} ({p}:{o}) was committed before the kill yet delivered again"
        );
    }
    // Duplicates across the kill are exactly the run-1 lines past the committed offsets.
    let dups: Vec<usize> = unique2.intersection(&seen1).copied().collect();
    let window = seen1
        .iter()
        .filter(|s| {
            let (p, o) = landed[*s];
            o >= at_kill[&p]
        })
        .count();
    assert!(
        dups.len() <= window,
        "{} duplicates exceed the un-acked window of {window} ({window_note})",
        dups.len()
    );
    let mut per_part: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in landed.values() {
        let e = per_part.entry(*p).or_default();
        *e = (*e).max(o + 1);
    }
    assert_eq!(
        committed(&broker.addr, "g-k9", "k9", P),
        per_part,
        "a graceful stop commits everything"
    );
    eprintln!(
        "kill -9 test: run 1 wrote {}, run 2 wrote {}, duplicates {} (window {window})",
        run1.len(),
        run2.len(),
        dups.len()
    );
}
