//! Fault matrix, a transactional producer (Apache Kafka): it commits some transactions and
//! aborts others, interleaved, while the real binary consumes. Only the committed messages
//! reach the API double, every one of them; none of an aborted transaction does (the input
//! reads `read_committed`); and the group's committed offsets end at each partition's high
//! watermark, past the aborted records and the transaction markers, which no message comes
//! from (the topic ends with an aborted transaction, so without that the commit would stay
//! behind it for ever).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::faults::{events, report, sink_on, wait_for, Cfg, Collector, Tally};
use crate::support::{committed, create_topic, high_watermarks, payload, Broker};
use flexprice_api_double::Faults;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message as _};

const P: i32 = 4;
const TOPIC: &str = "txn";
/// Messages per transaction (spread over every partition).
const PER_TXN: usize = 200;

/// Where each message of a transaction landed, by seq.
#[derive(Default)]
struct Landed(Mutex<Vec<(usize, i32, i64)>>);

struct Recorder(Arc<Landed>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &DeliveryResult<'_>, seq: usize) {
        // A failed delivery is missing from the list, which the test checks.
        if let Ok(m) = r {
            self.0 .0.lock().push((seq, m.partition(), m.offset()));
        }
    }
}

/// Transaction `t` is aborted when this says so: every third one, and the last.
fn aborted(t: usize, txns: usize) -> bool {
    t % 3 == 2 || t + 1 == txns
}

#[test]
fn aborted_transactions_never_reach_the_api_and_the_commit_moves_past_them() {
    let n = events(10_000);
    let txns = n.div_ceil(PER_TXN);
    let dir = tempfile::tempdir().expect("tmp");
    let broker = Broker::start();
    create_topic(&broker.addr, TOPIC, P);
    let sink = sink_on(SocketAddr::from(([127, 0, 0, 1], 0)), Faults::default());
    let cfg = Cfg::new(&broker.addr, TOPIC, "g-txn", sink.addr(), dir.path());
    // The collector reads while the transactions are written: a read_committed consumer
    // waits at each open transaction (the last stable offset) until it ends.
    let mut collector = Collector::spawn(&cfg, dir.path(), "txn");

    let landed = Arc::new(Landed::default());
    let producer: BaseProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("transactional.id", "flexprice-test-txn")
        .set("linger.ms", "5")
        .create_with_context(Recorder(Arc::clone(&landed)))
        .expect("transactional producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    let mut aborted_seqs = HashSet::new();
    let produced = Instant::now();
    for t in 0..txns {
        producer.begin_transaction().expect("begin");
        for i in 0..PER_TXN {
            let seq = t * PER_TXN + i;
            let body = payload(seq, 120);
            let key = seq.to_string();
            let mut rec = BaseRecord::with_opaque_to(TOPIC, seq)
                .partition((seq % P as usize) as i32)
                .key(&key)
                .payload(&body);
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((e, r)) => {
                        assert!(produced.elapsed() < Duration::from_secs(120), "{e}");
                        rec = r;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        // Written (delivery reports polled) before the transaction ends, so an aborted
        // transaction leaves its records in the log, as a producer that fails late does.
        producer.flush(Duration::from_secs(30)).expect("flush");
        if aborted(t, txns) {
            producer
                .abort_transaction(Duration::from_secs(30))
                .expect("abort");
            aborted_seqs.extend(t * PER_TXN..(t + 1) * PER_TXN);
        } else {
            producer
                .commit_transaction(Duration::from_secs(30))
                .expect("commit");
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let all = std::mem::take(&mut *landed.0.lock());
    assert_eq!(all.len(), txns * PER_TXN, "every message was written");
    let expected: HashSet<String> = all
        .iter()
        .filter(|(seq, _, _)| !aborted_seqs.contains(seq))
        .map(|(_, p, o)| format!("{TOPIC}-{p}-{o}"))
        .collect();
    let aborted_ids: HashSet<String> = all
        .iter()
        .filter(|(seq, _, _)| aborted_seqs.contains(seq))
        .map(|(_, p, o)| format!("{TOPIC}-{p}-{o}"))
        .collect();

    assert!(
        wait_for(Duration::from_secs(120), || sink.stats().unique_event_ids
            >= expected.len() as u64),
        "only {} of {} committed messages delivered\n{}",
        sink.stats().unique_event_ids,
        expected.len(),
        collector.log_tail(30)
    );
    // The commit reaches the end of every partition: past the last (aborted) transaction
    // and its marker.
    let hwm = high_watermarks(&broker.addr, TOPIC, P);
    let caught_up = wait_for(Duration::from_secs(30), || {
        committed(&broker.addr, "g-txn", TOPIC, P) == hwm
    });
    let at_end = committed(&broker.addr, "g-txn", TOPIC, P);
    assert!(collector.running(), "collector exited");
    collector.sigterm();
    assert!(collector
        .wait(Duration::from_secs(15))
        .is_some_and(|s| s.success()));

    let accepted = sink.accepted_ids();
    let leaked = accepted
        .iter()
        .filter(|id| aborted_ids.contains(*id))
        .count();
    let t = Tally::compute(&accepted, &expected, &cfg.dead_letter);
    eprintln!("{t:?}; committed {at_end:?}, high watermarks {hwm:?}");
    report(
        &format!(
            "transactional producer: {} transactions of {PER_TXN}, every 3rd and the last aborted",
            txns
        ),
        &t,
        &format!(
            "committed offsets at the high watermark: {}",
            if caught_up { "yes" } else { "no" }
        ),
        &format!(
            "{} aborted messages, {leaked} of them delivered",
            aborted_ids.len()
        ),
    );
    assert_eq!(leaked, 0, "messages of aborted transactions were delivered");
    assert_eq!(t.foreign, 0);
    assert_eq!(t.lost, 0, "lost, e.g. {:?}", t.missing_sample);
    assert_eq!(t.duplicates, 0);
    assert_eq!(t.dead_lettered, 0);
    assert!(
        caught_up,
        "committed {at_end:?} should reach the high watermarks {hwm:?} (past the markers and the aborted transaction at the end)"
    );
}
