//! The Kafka input against librdkafka's in-process mock cluster, for faults a real broker
//! process cannot easily produce: brokers going down and up, the group coordinator moving.

use std::time::{Duration, Instant};

use crate::support::{Running, Seen};
use flexprice_collector::pipeline::Ack;
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;

fn produce(bootstrap: &str, topic: &str, partitions: i32, n: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for seq in 0..n {
        let body = crate::support::payload(seq, 100);
        let mut rec: BaseRecord<(), String> = BaseRecord::to(topic)
            .partition((seq % partitions as usize) as i32)
            .payload(&body);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(Instant::now() < deadline, "produce stuck: {e}");
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn yaml(bootstrap: &str, topic: &str, group: &str, extra: &str) -> String {
    format!(
        "addresses: ['{bootstrap}']\ntopics: [{topic}]\nconsumer_group: '{group}'\n\
         commit_period: 100ms\n{extra}"
    )
}

/// Read until every seq in 0..n was seen, acking as we go.
fn drain_all(run: &Running, n: usize, seen: &mut Seen, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while seen.seqs.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} delivered: {:?}",
            seen.seqs.len(),
            seen.summary()
        );
        if let Ok(m) = run.rx.recv_timeout(Duration::from_millis(100)) {
            seen.record(&m);
            m.ack.ack();
        }
    }
}

/// Pauses at `checkpoint_limit` and during an output stall, then resumes: nothing lost,
/// nothing delivered twice (the resume seeks back over what was dropped while paused).
#[test]
fn pause_and_resume_deliver_each_message_once() {
    const N: usize = 3000;
    let cluster = MockCluster::new(1).expect("mock cluster");
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("ms", 3, 1).expect("topic");
    produce(&bs, "ms", 3, N);
    let run = Running::start(
        &yaml(
            &bs,
            "ms",
            "g-ms",
            "checkpoint_limit: 50\nfetch_buffer_cap: 16\n\
             group: {session_timeout: 6s, heartbeat_interval: 1s, rebalance_timeout: 6s}\n",
        ),
        Duration::from_secs(10),
    );
    let mut seen = Seen::default();
    let mut held = Vec::new();
    while held.len() < 40 {
        let m = run.rx.recv_timeout(Duration::from_secs(20)).expect("first");
        seen.record(&m);
        held.push(m.ack);
    }
    // The output stalls (the scenario itself): long enough for the pause-all to kick in.
    std::thread::sleep(Duration::from_secs(2));
    Ack::ack_all(held.drain(..));
    drain_all(&run, N, &mut seen, Duration::from_secs(30));
    assert_eq!(seen.duplicates(), 0);
    run.stop().expect("stop");
    let c = crate::support::committed(&bs, "g-ms", "ms", 3);
    assert_eq!(c.values().sum::<i64>(), N as i64, "all committed: {c:?}");
}

/// Every broker goes down mid-stream and comes back: the input rides it out (no crash, no
/// stop) and delivers everything.
#[test]
fn brokers_down_and_up_mid_stream() {
    const N: usize = 3000;
    let cluster = MockCluster::new(3).expect("mock cluster");
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("bd", 4, 3).expect("topic");
    produce(&bs, "bd", 4, N);
    let run = Running::start(
        &yaml(
            &bs,
            "bd",
            "g-bd",
            "checkpoint_limit: 100\nfetch_buffer_cap: 16\n",
        ),
        Duration::from_secs(10),
    );
    let mut seen = Seen::default();
    drain_all(&run, N / 3, &mut seen, Duration::from_secs(30));
    for b in 1..=3 {
        cluster.broker_down(b).expect("down");
    }
    // Down for a while (the fault itself): the input must keep running meanwhile.
    let down_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < down_until {
        if let Ok(m) = run.rx.recv_timeout(Duration::from_millis(50)) {
            seen.record(&m);
            m.ack.ack();
        }
    }
    for b in 1..=3 {
        cluster.broker_up(b).expect("up");
    }
    drain_all(&run, N, &mut seen, Duration::from_secs(60));
    run.stop().expect("the input survived the outage");
}

/// The group coordinator moves to another broker and offset commits fail for a while: the
/// stream goes on, and the final commit lands on the new coordinator.
#[test]
fn coordinator_moves_and_commits_fail_then_recover() {
    const N: usize = 3000;
    let cluster = MockCluster::new(3).expect("mock cluster");
    let bs = cluster.bootstrap_servers();
    cluster.create_topic("co", 3, 3).expect("topic");
    produce(&bs, "co", 3, N);
    cluster
        .coordinator(MockCoordinator::Group("g-co".into()), 1)
        .expect("coordinator");
    let run = Running::start(
        &yaml(&bs, "co", "g-co", "checkpoint_limit: 100\n"),
        Duration::from_secs(15),
    );
    let mut seen = Seen::default();
    drain_all(&run, N / 3, &mut seen, Duration::from_secs(30));
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 5],
    );
    cluster
        .coordinator(MockCoordinator::Group("g-co".into()), 2)
        .expect("coordinator moves");
    drain_all(&run, N, &mut seen, Duration::from_secs(60));
    run.stop().expect("clean stop");
    let c = crate::support::committed(&bs, "g-co", "co", 3);
    assert_eq!(c.values().sum::<i64>(), N as i64, "all committed: {c:?}");
}

/// A mapping that reads metadata gets each message's Kafka key and headers through the whole
/// collector (the input copies them only when some processor reads metadata).
#[test]
fn mapping_reads_the_kafka_key_and_headers() {
    use rdkafka::message::{Header, OwnedHeaders};
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("meta", 2, 1).expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");
    let n = 20;
    for seq in 0..n {
        let (body, key, tenant) = (
            format!(r#"{{"seq":{seq}}}"#),
            format!("cust-{seq}"),
            format!("t{}", seq % 3),
        );
        let headers = OwnedHeaders::new().insert(Header {
            key: "tenant",
            value: Some(&tenant),
        });
        let rec = BaseRecord::to("meta")
            .partition(seq % 2)
            .key(&key)
            .payload(&body)
            .headers(headers);
        p.send(rec).map_err(|(e, _)| e).expect("send");
    }
    p.flush(Duration::from_secs(30)).expect("flush");

    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"http: {{enabled: false}}
input:
  kafka:
    addresses: ['{bootstrap}']
    topics: [meta]
    consumer_group: g-meta
    start_from_oldest: true
pipeline:
  processors:
    - mapping: |
        root.seq = this.seq
        root.customer = @kafka_key
        root.tenant = meta("tenant")
        root.partition = metadata("kafka_partition")
output:
  stdout: {{}}
logger: {{level: WARN}}
"#
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flexprice-collector"))
        .arg("-c")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("collector");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = std::collections::BTreeMap::new();
    while got.len() < n as usize {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("only {} of {n} lines: {got:?}", got.len());
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        got.insert(v["seq"].as_i64().expect("seq"), v);
    }
    let _ = child.kill();
    let _ = child.wait();
    for (seq, v) in got {
        assert_eq!(v["customer"], format!("cust-{seq}"), "{v}");
        assert_eq!(v["tenant"], format!("t{}", seq % 3), "{v}");
        // `metadata()` gives source metadata as text, like `meta()`.
        assert_eq!(v["partition"], (seq % 2).to_string(), "{v}");
    }
}
