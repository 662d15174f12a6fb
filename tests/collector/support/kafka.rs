//! Apache Kafka for the tests, through `scripts/kafka` (the same script people use): one
//! broker shared by the whole test binary ([`shared`]), and clusters of their own for the
//! tests that kill or restart brokers ([`Cluster::start`]).
//!
//! Every cluster is started with `--owner-pid` of this process, so a test binary that panics
//! or is killed never leaves brokers behind; a cluster of its own is also stopped when dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// One node of a cluster.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: u32,
    pub pid: u32,
    pub addr: String,
    pub sasl_addr: Option<String>,
}

/// A running Kafka cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    pub nodes: Vec<Node>,
    /// The plaintext listeners, comma-separated.
    pub bootstrap: String,
    /// The SASL_PLAINTEXT PLAIN listeners (users `collector`/`collector-secret`,
    /// `admin`/`admin-secret`), when started with SASL.
    pub sasl_bootstrap: Option<String>,
    /// Stopped (and its data removed) on drop; the shared one lives as long as the process.
    stop_on_drop: bool,
}

/// Settings of every test cluster: one partition for the internal topics (Kafka creates 50
/// by default, seconds at the first group join), and messages up to 64 MiB (the bad-input
/// corpus has events larger than Kafka's 1 MB default; the API takes 32 MiB bodies).
const QUICK: [&str; 4] = [
    "offsets.topic.num.partitions=1",
    "transaction.state.log.num.partitions=1",
    "message.max.bytes=67108864",
    "replica.fetch.max.bytes=67108864",
];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka")
}

impl Cluster {
    /// Start `brokers` nodes (with a SASL listener each when `sasl`), with `settings`
    /// (`key=value` broker properties) on top of the quick defaults.
    pub fn start(brokers: u32, sasl: bool, settings: &[&str]) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("flexprice-test-kafka-")
            .tempdir()
            .expect("a temp dir for the cluster")
            .keep();
        let mut cmd = Command::new(script());
        cmd.arg("up")
            .args(["--brokers", &brokers.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args(["--owner-pid", &std::process::id().to_string()]);
        if sasl {
            cmd.arg("--sasl");
        }
        for s in QUICK.iter().chain(settings) {
            cmd.args(["--set", s]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run scripts/kafka up");
        assert!(
            out.status.success(),
            "scripts/kafka up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = Cluster {
            dir,
            nodes: Vec::new(),
            bootstrap: String::new(),
            sasl_bootstrap: None,
            stop_on_drop: true,
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(b) = line.strip_prefix("bootstrap=") {
                cluster.bootstrap = b.to_string();
            } else if let Some(b) = line.strip_prefix("sasl_bootstrap=") {
                cluster.sasl_bootstrap = Some(b.to_string());
            } else if line.starts_with("broker=") {
                cluster.nodes.push(parse_node(line));
            }
        }
        assert!(
            !cluster.bootstrap.is_empty() && cluster.nodes.len() == brokers as usize,
            "scripts/kafka up printed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        cluster
    }

    /// Stop node `id` (SIGKILL when `kill`, else a clean shutdown); its data stays.
    pub fn stop_broker(&self, id: u32, kill: bool) {
        let mut cmd = Command::new(script());
        cmd.args(["stop-broker", &id.to_string()])
            .arg("--dir")
            .arg(&self.dir);
        if kill {
            cmd.arg("--kill");
        }
        let out = cmd.output().expect("run scripts/kafka stop-broker");
        assert!(
            out.status.success(),
            "scripts/kafka stop-broker {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start node `id` again with its data, on its ports; returns once it serves.
    pub fn start_broker(&self, id: u32) {
        let out = Command::new(script())
            .args(["start-broker", &id.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .expect("run scripts/kafka start-broker");
        assert!(
            out.status.success(),
            "scripts/kafka start-broker {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn parse_node(line: &str) -> Node {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    Node {
        id: field("broker")
            .and_then(|v| v.parse().ok())
            .expect("broker id"),
        pid: field("pid")
            .and_then(|v| v.parse().ok())
            .expect("broker pid"),
        addr: field("address").expect("broker address"),
        sasl_addr: field("sasl_address"),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            // Its data goes with it, so a graceful stop buys nothing, and a cluster that lost
            // a node can lose its controller quorum while the others stop: each waits for
            // the whole SIGTERM timeout (30 s) before it is killed.
            let _ = Command::new(script())
                .arg("down")
                .arg("--dir")
                .arg(&self.dir)
                .env("KAFKA_STOP_TIMEOUT", "3")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The broker every test of this binary shares (one node, with a SASL listener), started on
/// first use. Tests keep to their own topics and groups.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut c = Cluster::start(1, true, &[]);
        c.stop_on_drop = false; // statics are not dropped; the owner watcher stops it
        c
    })
}
