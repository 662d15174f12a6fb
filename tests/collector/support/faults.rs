//! The fault matrix's shared harness: the real `flexprice-collector` binary as a subprocess
//! (killed on drop), its YAML config, the in-process Flexprice-compatible sink that counts
//! `event_id`s, and the tally that turns "what was produced" and "what the sink accepted"
//! into lost / duplicated figures.
//!
//! Every event is produced without an `event_id`, so the collector derives one from the
//! source message (`topic-partition-offset`): a redelivery of the same message carries the
//! same id, and the sink's duplicate count is exactly the number of redeliveries it accepted.
//!
//! Sizes scale with `FAULT_SCALE` (default 1 = the CI size); `scripts/faults` runs the
//! full-size matrix. Every test appends its row to `$FAULT_REPORT` when that is set.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use flexprice_api_double::{ApiDouble, ApiDoubleConfig, Faults};
use rdkafka::producer::Producer as _;

pub const BIN: &str = env!("CARGO_BIN_EXE_flexprice-collector");

/// The multiplier from `FAULT_SCALE` (1 when unset or unparsable).
pub fn scale() -> f64 {
    std::env::var("FAULT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0)
}

/// `base` events times the scale.
pub fn events(base: usize) -> usize {
    ((base as f64) * scale()).round().max(1.0) as usize
}

/// `base` times the scale.
pub fn scaled(base: Duration) -> Duration {
    base.mul_f64(scale())
}

/// Poll `cond` every 20 ms until it holds or `timeout` passes; true if it held. The sleep is
/// the polling interval of a condition wait, not a synchronisation by itself. Under
/// `FAULT_SCALE` > 1 the timeout grows with the load.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout.mul_f64(scale().max(1.0));
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A sink on `listen` (port 0 = any) with the test key.
pub fn sink_on(listen: SocketAddr, faults: Faults) -> ApiDouble {
    sink_recording(listen, faults, None)
}

/// A sink that also appends every accepted event to `record`.
pub fn sink_recording(listen: SocketAddr, faults: Faults, record: Option<&Path>) -> ApiDouble {
    ApiDouble::start(ApiDoubleConfig {
        listen,
        api_key: "fault-key".into(),
        threads: 4,
        faults,
        record: record.map(Path::to_path_buf),
        ..ApiDoubleConfig::default()
    })
    .expect("start sink")
}

/// A counter or gauge from the collector's `/metrics` (0 when absent or unreachable).
pub fn metric(http_port: u16, name: &str) -> f64 {
    let Ok(mut resp) = ureq::get(format!("http://127.0.0.1:{http_port}/metrics")).call() else {
        return 0.0;
    };
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            let key = k.split('{').next()?;
            (key == name).then(|| v.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Samples a process's RSS every 50 ms on its own thread until dropped; keeps the peak.
pub struct RssSampler {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: i32) -> RssSampler {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Highest RSS seen so far, KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forget the peak so far (start a new measuring window).
    pub fn reset(&self) {
        self.peak.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Resident set size of `pid` in KiB, from /proc.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The collector's config knobs the fault tests vary.
#[derive(Clone, Debug)]
pub struct Cfg {
    pub broker: String,
    pub topic: String,
    pub group: String,
    pub sink: SocketAddr,
    pub dead_letter: PathBuf,
    pub checkpoint_limit: usize,
    pub commit_period: &'static str,
    pub max_in_flight: usize,
    pub batch_count: usize,
    pub retry_max_attempts: u32,
    pub initial_interval: &'static str,
    pub max_interval: &'static str,
    pub timeout: &'static str,
    pub shutdown_timeout: &'static str,
    /// `http.address` port for /metrics; `None` disables the HTTP server.
    pub http_port: Option<u16>,
    /// Extra `input.kafka` lines (two-space indented under `kafka:` by the caller's text).
    pub kafka_extra: String,
    /// The `input.kafka.group` block, as a YAML flow map.
    pub group_block: String,
    /// The Bloblang expression for `event_name` (`throw(…)` in it fails the event, which is
    /// then dead-lettered).
    pub event_name: String,
    /// Dead letters to this Kafka topic (`addresses`, `topic`) instead of the file.
    pub dead_letter_kafka: Option<(String, String)>,
}

impl Cfg {
    pub fn new(broker: &str, topic: &str, group: &str, sink: SocketAddr, dir: &Path) -> Cfg {
        Cfg {
            broker: broker.into(),
            topic: topic.into(),
            group: group.into(),
            sink,
            dead_letter: dir.join("dead-letter.jsonl"),
            checkpoint_limit: 256,
            commit_period: "100ms",
            max_in_flight: 4,
            batch_count: 100,
            retry_max_attempts: 1000,
            initial_interval: "50ms",
            max_interval: "1s",
            timeout: "5s",
            shutdown_timeout: "10s",
            http_port: None,
            kafka_extra: String::new(),
            group_block: "{session_timeout: 6s, heartbeat_interval: 1s, rebalance_timeout: 10s}"
                .into(),
            event_name: "\"usage\"".into(),
            dead_letter_kafka: None,
        }
    }

    /// The YAML the collector runs. The mapping turns the test payload `{"seq":N,"pad":…}`
    /// into a valid event without `event_id`, so the id is derived from the source message.
    pub fn yaml(&self) -> String {
        let http = match self.http_port {
            Some(p) => format!("http: {{enabled: true, address: '127.0.0.1:{p}'}}"),
            None => "http: {enabled: false}".into(),
        };
        format!(
            r#"{http}
input:
  kafka:
    addresses: ['{broker}']
    topics: ['{topic}']
    consumer_group: '{group}'
    start_from_oldest: true
    commit_period: {commit}
    checkpoint_limit: {limit}
    fetch_buffer_cap: 256
    group: {group_block}
{extra}    librdkafka_options:
      fetch.wait.max.ms: '10'
pipeline:
  threads: 2
  processors:
    - mapping: |
        root.event_name = {event_name}
        root.external_customer_id = "c-" + (this.seq % 7).string()
        root.properties = {{"seq": this.seq}}
output:
  flexprice:
    api_host: '{sink}'
    api_key: fault-key
    scheme: http
    max_in_flight: {mif}
    timeout: {timeout}
    batching: {{count: {batch}, period: 20ms}}
    retry_max_attempts: {retries}
    retry_backoff: {{initial_interval: {initial}, max_interval: {max}}}
    dead_letter: {dlq}
logger: {{level: INFO, format: logfmt, progress_period: 0s}}
shutdown_timeout: {shutdown}
"#,
            broker = self.broker,
            topic = self.topic,
            group = self.group,
            commit = self.commit_period,
            limit = self.checkpoint_limit,
            extra = self.kafka_extra,
            group_block = self.group_block,
            sink = self.sink,
            mif = self.max_in_flight,
            timeout = self.timeout,
            batch = self.batch_count,
            retries = self.retry_max_attempts,
            initial = self.initial_interval,
            max = self.max_interval,
            dlq = match &self.dead_letter_kafka {
                Some((addr, topic)) => {
                    format!("{{kafka: {{addresses: ['{addr}'], topic: '{topic}', timeout: 2s}}}}")
                }
                None => format!("{{path: '{}'}}", self.dead_letter.display()),
            },
            event_name = self.event_name,
            shutdown = self.shutdown_timeout,
        )
    }
}

/// The collector binary running a config; killed (SIGKILL) and reaped on drop.
pub struct Collector {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Collector {
    /// Write `cfg` to `dir/<name>.yaml` and start the binary; stderr goes to `dir/<name>.log`.
    pub fn spawn(cfg: &Cfg, dir: &Path, name: &str) -> Collector {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, cfg.yaml()).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let err = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(BIN)
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn collector");
        Collector {
            child: Some(child),
            log,
        }
    }

    /// As [`Collector::spawn`], with the size of any file the collector writes limited to
    /// `file_size` bytes (`RLIMIT_FSIZE`, `SIGXFSZ` ignored: a write past it fails with
    /// `EFBIG`, as writes to a full disk fail with `ENOSPC`). The log goes through a pipe, so
    /// the limit does not cut it. [`Collector::lift_file_size_limit`] frees the "disk".
    pub fn spawn_limited(cfg: &Cfg, dir: &Path, name: &str, file_size: u64) -> Collector {
        use std::os::unix::process::CommandExt;
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, cfg.yaml()).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let mut out = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let l = libc::rlimit {
                    rlim_cur: file_size,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn collector");
        let mut err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut err, &mut out);
        });
        Collector {
            child: Some(child),
            log,
        }
    }

    /// Lift the file size limit of [`Collector::spawn_limited`]: the disk has room again.
    pub fn lift_file_size_limit(&self) {
        let l = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: prlimit(2) on our own child, with a valid limit and no old-limit out.
        let rc = unsafe { libc::prlimit(self.pid(), libc::RLIMIT_FSIZE, &l, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn signal(&self, sig: i32) {
        let pid = self.pid();
        assert!(pid > 0, "collector not running");
        // SAFETY: plain kill(2) on a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let st = self
            .wait(Duration::from_secs(10))
            .expect("reaped after SIGKILL");
        assert!(!st.success());
        self.child = None;
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Wait (bounded) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        wait_for(limit, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The ids the collector derives for the produced messages.
pub fn expected_ids(topic: &str, landed: &HashMap<usize, (i32, i64)>) -> HashSet<String> {
    landed
        .values()
        .map(|(p, o)| format!("{topic}-{p}-{o}"))
        .collect()
}

/// `/ready` of the collector's HTTP server: (status, body); (0, "") when unreachable.
pub fn ready(http_port: u16) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    match agent
        .get(format!("http://127.0.0.1:{http_port}/ready"))
        .call()
    {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// Wait (bounded) until the group has committed every produced message of `topic`: the
/// collector considers all of it delivered or dead-lettered. False on timeout.
pub fn wait_committed(
    broker: &str,
    group: &str,
    topic: &str,
    partitions: i32,
    landed: &HashMap<usize, (i32, i64)>,
    timeout: Duration,
) -> bool {
    let mut end: HashMap<i32, i64> = HashMap::new();
    for (p, o) in landed.values() {
        let e = end.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    let deadline = Instant::now() + timeout.mul_f64(scale().max(1.0));
    loop {
        // A coordinator that is moving answers an error: ask again.
        let c = committed_now(broker, group, topic, partitions).unwrap_or_default();
        if end
            .iter()
            .all(|(p, want)| c.get(p).is_some_and(|got| got >= want))
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // The polling interval of a condition wait (each check is a consumer of its own).
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The group's committed offsets (absent: none), or the broker's error.
fn committed_now(
    broker: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<HashMap<i32, i64>, rdkafka::error::KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Lines of a dead-letter file that are not a whole JSON record (a torn write, or two
/// records run together): must be 0.
pub fn corrupt_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .count()
}

/// `source` ids (`topic-partition-offset`) of the dead-letter file's records.
pub fn dead_lettered_ids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let s = v.get("source")?;
            Some(format!(
                "{}-{}-{}",
                s.get("topic")?.as_str()?,
                s.get("partition")?.as_i64()?,
                s.get("offset")?.as_i64()?
            ))
        })
        .collect()
}

/// The `event_id`s of a sink record file (one accepted event per line).
pub fn recorded_ids(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some(v.get("event_id")?.as_str()?.to_string()))
        .collect()
}

/// What the sink (and the dead-letter file) hold against what was produced.
#[derive(Debug, Clone)]
pub struct Tally {
    pub produced: usize,
    /// Distinct expected ids the sink accepted.
    pub delivered: usize,
    /// Distinct expected ids neither accepted nor dead-lettered.
    pub lost: usize,
    /// Accepted events whose id had been accepted before.
    pub duplicates: u64,
    pub dead_lettered: usize,
    /// Accepted ids that match no produced message (must be 0: an id not derived from its
    /// source would make redeliveries unrecognisable).
    pub foreign: usize,
    pub missing_sample: Vec<String>,
}

impl Tally {
    /// From a live sink's accepted ids.
    pub fn take(sink: &ApiDouble, expected: &HashSet<String>, dlq: &Path) -> Tally {
        Tally::compute(&sink.accepted_ids(), expected, dlq)
    }

    /// From the JSONL record file(s) of one or more sinks (a sink restarted on the same
    /// port loses its in-memory counts; its record file keeps them).
    pub fn from_records(records: &[&Path], expected: &HashSet<String>, dlq: &Path) -> Tally {
        let mut ids = Vec::new();
        for r in records {
            ids.extend(recorded_ids(r));
        }
        Tally::compute(&ids, expected, dlq)
    }

    pub fn compute(accepted: &[String], expected: &HashSet<String>, dlq: &Path) -> Tally {
        let dl: HashSet<String> = dead_lettered_ids(dlq).into_iter().collect();
        Tally::compute_with(accepted, expected, &dl)
    }

    /// With the dead-lettered ids given (several files, a Kafka topic).
    pub fn compute_with(
        accepted: &[String],
        expected: &HashSet<String>,
        dl: &HashSet<String>,
    ) -> Tally {
        let mut seen: HashSet<&str> = HashSet::with_capacity(accepted.len());
        let mut foreign = 0;
        let mut duplicates = 0;
        for id in accepted {
            if !expected.contains(id.as_str()) {
                foreign += 1;
            } else if !seen.insert(id.as_str()) {
                duplicates += 1;
            }
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !seen.contains(id.as_str()) && !dl.contains(*id))
            .collect();
        Tally {
            produced: expected.len(),
            delivered: seen.len(),
            lost: missing.len(),
            duplicates,
            dead_lettered: dl.len(),
            foreign,
            missing_sample: missing.iter().take(5).map(|s| s.to_string()).collect(),
        }
    }

    /// Everything produced is at the sink or in the dead-letter file.
    pub fn complete(&self) -> bool {
        self.lost == 0
    }
}

/// A field of a member's logfmt lines with message `msg` (e.g. `partitions revoked`,
/// `partitions`), one value per line that has it.
pub fn log_field(log: &str, msg: &str, name: &str) -> Vec<usize> {
    let prefix = format!("{name}=");
    log.lines()
        .filter(|l| l.contains(&format!("msg=\"{msg}\"")))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix(prefix.as_str()))
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

/// What the members' revokes announced they leave to the next owners (`partitions revoked
/// … redelivered=M`, summed) and how many revokes there were: every duplicate a rebalance
/// makes must be among those (see `faults/rebalance.rs`).
pub fn announced_redeliveries(logs: &[&str]) -> (usize, usize) {
    let mut sum = 0;
    let mut revokes = 0;
    for log in logs {
        let r = log_field(log, "partitions revoked", "redelivered");
        assert_eq!(
            r.len(),
            log_field(log, "partitions revoked", "partitions").len(),
            "every revoke says how much it redelivers"
        );
        revokes += r.len();
        sum += r.iter().sum::<usize>();
    }
    (sum, revokes)
}

/// One row of the fault table: printed, and appended to `$FAULT_REPORT` if set.
pub fn report(fault: &str, t: &Tally, recovery: &str, notes: &str) {
    let row = format!(
        "| {fault} | {} | {} | {} | {} | {} | {recovery} | {notes} |",
        t.produced, t.delivered, t.dead_lettered, t.lost, t.duplicates
    );
    eprintln!("FAULT-ROW {row}");
    if let Ok(path) = std::env::var("FAULT_REPORT") {
        if let Ok(mut f) = std::fs::File::options()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{row}");
        }
    }
}

/// A small seeded generator (splitmix64) for kill points; the seed is printed so a failing
/// run can be replayed with `FAULT_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Rng {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
            });
        eprintln!("FAULT_SEED={seed}");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// A one-node Apache Kafka of the test's own, killed and restarted with its data (topics,
/// messages, committed offsets) on the same port. Stopped on drop.
pub struct DurableBroker {
    cluster: super::kafka::Cluster,
    pub addr: String,
}

impl DurableBroker {
    pub fn start() -> DurableBroker {
        let cluster = super::kafka::Cluster::start(1, false, &[]);
        DurableBroker {
            addr: cluster.bootstrap.clone(),
            cluster,
        }
    }

    /// Start the node again and wait until it serves.
    pub fn up(&mut self) {
        self.cluster.start_broker(1);
    }

    /// kill -9 the node.
    pub fn kill(&mut self) {
        self.cluster.stop_broker(1, true);
    }
}

/// The test payload (as [`super::payload`] makes it): `{"seq":N,"pad":"xx…"}`.
fn payload(seq: usize, size: usize) -> String {
    let head = format!("{{\"seq\":{seq},\"pad\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Produce `n` test payloads round-robin into a mock cluster topic, and check the mock broker
/// kept them all: it deletes a partition's oldest segments beyond a few MiB, which at 200k
/// events of 120 bytes silently dropped ~20% of the topic before the collector ever read it.
/// Small payloads stay under that, and the assertion keeps [`mock_expected`] honest.
pub fn mock_produce(bootstrap: &str, topic: &str, partitions: i32, n: usize) {
    let p: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for seq in 0..n {
        let body = payload(seq, 32);
        let mut rec: rdkafka::producer::BaseRecord<(), String> =
            rdkafka::producer::BaseRecord::to(topic)
                .partition((seq % partitions as usize) as i32)
                .payload(&body);
        let deadline = Instant::now() + Duration::from_secs(60);
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
    p.flush(Duration::from_secs(60)).expect("flush");
    use rdkafka::consumer::Consumer as _;
    let probe: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("probe");
    for part in 0..partitions {
        let (lo, hi) = probe
            .fetch_watermarks(topic, part, Duration::from_secs(10))
            .expect("watermarks");
        let want = (n / partitions as usize
            + usize::from((part as usize) < n % partitions as usize)) as i64;
        assert_eq!(
            (lo, hi),
            (0, want),
            "mock broker did not keep every message of partition {part}"
        );
    }
}

/// Mock cluster offsets are dense from 0, so the produced set is every (partition, offset)
/// below each partition's count.
pub fn mock_expected(topic: &str, partitions: i32, n: usize) -> HashSet<String> {
    (0..n)
        .map(|seq| {
            let p = (seq % partitions as usize) as i32;
            let o = (seq / partitions as usize) as i64;
            format!("{topic}-{p}-{o}")
        })
        .collect()
}
