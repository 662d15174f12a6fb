//! Consumer lag per partition, for `/metrics`.
//!
//! librdkafka already tracks the broker's high watermark and our position per partition and
//! publishes them in its statistics (every [`super::client::STATS_INTERVAL_MS`]); the input
//! copies the numbers of the partitions it owns into this process-wide registry. Reading it
//! never touches the consumer, so a scrape cannot slow the poll loop.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

/// One partition's lag as of the last statistics event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: Arc<str>,
    pub partition: i32,
    /// Offset of the next message the broker will append (log end).
    pub high_watermark: i64,
    /// Next offset this collector will hand to the pipeline.
    pub position: i64,
    /// Last offset committed to the consumer group (-1 if none yet).
    pub committed: i64,
    /// `high_watermark - position`: messages not yet read.
    pub lag: i64,
}

static LAG: Mutex<BTreeMap<(Arc<str>, i32), PartitionLag>> = Mutex::new(BTreeMap::new());

/// Snapshot of the lag of every partition this process currently consumes, sorted by
/// (topic, partition). Empty until the first statistics event after an assignment.
pub fn lag() -> Vec<PartitionLag> {
    LAG.lock().values().cloned().collect()
}

pub(crate) fn forget(topic: &str, partition: i32) {
    LAG.lock()
        .retain(|(t, p), _| !(t.as_ref() == topic && *p == partition));
    crate::pipeline::telemetry::metrics::remove_lag(topic, partition);
}

/// The subset of librdkafka's statistics JSON we read (parsing the whole document would
/// allocate every broker and window field for nothing).
#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    topics: BTreeMap<String, TopicStats>,
}

#[derive(Deserialize)]
struct TopicStats {
    #[serde(default)]
    partitions: BTreeMap<String, PartStats>,
}

#[derive(Deserialize)]
struct PartStats {
    partition: i32,
    #[serde(default = "invalid")]
    hi_offset: i64,
    #[serde(default = "invalid")]
    app_offset: i64,
    #[serde(default = "invalid")]
    committed_offset: i64,
}

fn invalid() -> i64 {
    -1
}

/// Update the registry from a statistics document, for the partitions `owned` says we own.
pub(crate) fn update_from_stats(raw: &[u8], owned: impl Fn(&str, i32) -> Option<Arc<str>>) {
    let stats: Stats = match serde_json::from_slice(raw) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "unreadable librdkafka statistics; lag not updated");
            return;
        }
    };
    let mut reg = LAG.lock();
    for (topic, t) in &stats.topics {
        for p in t.partitions.values() {
            if p.partition < 0 {
                continue; // librdkafka's internal "unassigned" partition
            }
            let Some(name) = owned(topic, p.partition) else {
                continue;
            };
            if p.hi_offset < 0 {
                continue; // no fetch answer yet
            }
            // Before the first message, our position is the committed offset (or unknown).
            let position = if p.app_offset >= 0 {
                p.app_offset
            } else if p.committed_offset >= 0 {
                p.committed_offset
            } else {
                continue;
            };
            let lag = (p.hi_offset - position).max(0);
            crate::pipeline::telemetry::metrics::set_lag(&name, p.partition, lag);
            reg.insert(
                (Arc::clone(&name), p.partition),
                PartitionLag {
                    topic: name,
                    partition: p.partition,
                    high_watermark: p.hi_offset,
                    position,
                    committed: p.committed_offset.max(-1),
                    lag,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_owned_partitions_from_statistics() {
        let raw =
            br#"{"name":"c","topics":{"lag-test-topic":{"topic":"lag-test-topic","partitions":{
            "0":{"partition":0,"hi_offset":100,"app_offset":40,"committed_offset":30},
            "1":{"partition":1,"hi_offset":5,"app_offset":-1001,"committed_offset":2},
            "2":{"partition":2,"hi_offset":9,"app_offset":9,"committed_offset":9},
            "-1":{"partition":-1,"hi_offset":-1,"app_offset":-1,"committed_offset":-1}}}}}"#;
        let name: Arc<str> = Arc::from("lag-test-topic");
        update_from_stats(raw, |t, p| {
            (t == "lag-test-topic" && p != 2).then(|| Arc::clone(&name))
        });
        let mine: Vec<_> = lag()
            .into_iter()
            .filter(|l| &*l.topic == "lag-test-topic")
            .map(|l| (l.partition, l.high_watermark, l.position, l.lag))
            .collect();
        assert_eq!(mine, vec![(0, 100, 40, 60), (1, 5, 2, 3)]);
        forget("lag-test-topic", 0);
        forget("lag-test-topic", 1);
        assert!(lag().iter().all(|l| &*l.topic != "lag-test-topic"));
    }
}
