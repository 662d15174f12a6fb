//! `input.kafka` fields, with Bento's names and defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Duration, Problems};
use crate::kafka::{Client, Sasl, Tls};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Broker addresses; an item may hold several, comma-separated.
    pub addresses: Vec<String>,
    /// `topic`, `topic:partition` or `topic:0-3` (explicit partitions, no group).
    pub topics: Vec<String>,
    #[serde(default)]
    pub consumer_group: String,
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default = "yes")]
    pub start_from_oldest: bool,
    #[serde(default = "default_commit_period")]
    pub commit_period: Duration,
    /// Un-acked messages allowed per partition before it is paused.
    #[serde(default = "default_checkpoint_limit")]
    pub checkpoint_limit: usize,
    /// Messages buffered between the consumer and the processors.
    #[serde(default = "default_fetch_buffer_cap")]
    pub fetch_buffer_cap: usize,
    #[serde(default = "default_max_processing_period")]
    pub max_processing_period: Duration,
    /// Broker rack of this collector (`client.rack`): lets a cluster with follower fetching
    /// serve reads from a replica in the same zone.
    #[serde(default)]
    pub rack_id: String,
    /// Group membership timings (Bento's `group` block).
    #[serde(default)]
    pub group: KafkaGroup,
    /// Accepted so existing Bento configs load; librdkafka negotiates protocol versions itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub sasl: Sasl,
    /// Raw librdkafka properties, applied last (escape hatch).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub librdkafka_options: BTreeMap<String, String>,
}

/// Bento's `group` block, plus the group protocol.
///
/// `rebalance_timeout` maps to librdkafka's `max.poll.interval.ms` (the rebalance timeout it
/// sends in JoinGroup, and the poll interval the consumer protocol enforces); the input polls
/// continuously, paused partitions included, so a slow output never exceeds it.
///
/// `protocol` is librdkafka's `group.protocol`, and sits here so that its config path,
/// `input.kafka.group.protocol`, reads as the librdkafka property it sets. Bento's inputs have
/// no such field (kafka_franz speaks the classic protocol only), so a Bento config keeps the
/// classic protocol. `consumer` is KIP-848 (Kafka 4.0+ brokers): the broker assigns partitions,
/// incrementally, and the session timeout and heartbeat interval are broker settings
/// (`group.consumer.session.timeout.ms`, `group.consumer.heartbeat.interval.ms`), which
/// librdkafka refuses to take from the client. So with `consumer`, `session_timeout` and
/// `heartbeat_interval` are not sent, and setting them is a config problem rather than a
/// silently ignored value. They are optional here only to tell "set" from "default".
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<Duration>,
    #[serde(default = "default_rebalance_timeout")]
    pub rebalance_timeout: Duration,
    #[serde(default)]
    pub protocol: GroupProtocol,
}

/// librdkafka's `group.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupProtocol {
    /// The JoinGroup/SyncGroup protocol every Kafka version speaks; eager rebalances with the
    /// default assignors.
    #[default]
    Classic,
    /// KIP-848: broker-side assignment, incremental rebalances.
    Consumer,
}

impl GroupProtocol {
    pub fn name(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }
}

impl Default for KafkaGroup {
    fn default() -> Self {
        KafkaGroup {
            session_timeout: None,
            heartbeat_interval: None,
            rebalance_timeout: default_rebalance_timeout(),
            protocol: GroupProtocol::default(),
        }
    }
}

impl KafkaGroup {
    /// `session_timeout`, or Bento's default (10 s).
    pub fn session_timeout(&self) -> std::time::Duration {
        self.session_timeout
            .unwrap_or(Duration::from_secs(10))
            .get()
    }

    /// `heartbeat_interval`, or Bento's default (3 s).
    pub fn heartbeat_interval(&self) -> std::time::Duration {
        self.heartbeat_interval
            .unwrap_or(Duration::from_secs(3))
            .get()
    }
}

fn default_rebalance_timeout() -> Duration {
    Duration::from_secs(60)
}

/// The most messages `checkpoint_limit` and `fetch_buffer_cap` may allow (per partition and
/// in the pipeline's queues): beyond it the limits no longer bound memory in any useful way.
pub const MAX_MESSAGES: usize = 1_000_000;

fn yes() -> bool {
    true
}
fn default_client_id() -> String {
    "flexprice-collector".into()
}
fn default_commit_period() -> Duration {
    Duration::from_secs(1)
}
fn default_checkpoint_limit() -> usize {
    1024
}
fn default_fetch_buffer_cap() -> usize {
    256
}
fn default_max_processing_period() -> Duration {
    Duration::from_millis(100)
}

impl KafkaConfig {
    /// The client settings it shares with every Kafka client of the collector.
    pub fn client(&self) -> Client<'_> {
        Client {
            addresses: &self.addresses,
            client_id: &self.client_id,
            tls: &self.tls,
            sasl: &self.sasl,
            librdkafka_options: &self.librdkafka_options,
        }
    }

    /// The group protocol in effect: `librdkafka_options` can set `group.protocol` too, and,
    /// applied last, wins over `group.protocol`. `Err` names an option value librdkafka does
    /// not know.
    pub fn group_protocol(&self) -> Result<GroupProtocol, String> {
        match self
            .librdkafka_options
            .get("group.protocol")
            .map(|v| v.trim())
        {
            None => Ok(self.group.protocol),
            Some(v) if v.eq_ignore_ascii_case("classic") => Ok(GroupProtocol::Classic),
            Some(v) if v.eq_ignore_ascii_case("consumer") => Ok(GroupProtocol::Consumer),
            Some(v) => Err(format!(
                "unknown group protocol `{v}`: expected `classic` or `consumer`"
            )),
        }
    }

    pub fn validate(&self, path: &str, p: &mut Problems) {
        self.client().check(path, p);
        match self.group_protocol() {
            Err(e) => p.add(format!("{path}.librdkafka_options.group.protocol"), e),
            Ok(GroupProtocol::Consumer) => {
                let broker_side = |what: &str, broker: &str| {
                    format!(
                        "not used with group protocol `consumer` (KIP-848): the broker sets the {what} \
                         (`{broker}`, or per group with kafka-configs); remove it here"
                    )
                };
                if self.group.session_timeout.is_some() {
                    p.add(
                        format!("{path}.group.session_timeout"),
                        broker_side("session timeout", "group.consumer.session.timeout.ms"),
                    );
                }
                if self.group.heartbeat_interval.is_some() {
                    p.add(
                        format!("{path}.group.heartbeat_interval"),
                        broker_side("heartbeat interval", "group.consumer.heartbeat.interval.ms"),
                    );
                }
                // librdkafka refuses these at start-up with the consumer protocol.
                for key in [
                    "session.timeout.ms",
                    "heartbeat.interval.ms",
                    "partition.assignment.strategy",
                    "group.protocol.type",
                ] {
                    if self.librdkafka_options.contains_key(key) {
                        let hint = if key == "partition.assignment.strategy" {
                            "use `group.remote.assignor` (`uniform` or `range`) instead"
                        } else {
                            "the broker sets it with this protocol"
                        };
                        p.add(
                            format!("{path}.librdkafka_options.{key}"),
                            format!(
                                "not supported with group protocol `consumer` (KIP-848): {hint}"
                            ),
                        );
                    }
                }
            }
            Ok(GroupProtocol::Classic) => {}
        }
        match super::topics::parse(&self.topics) {
            Err(e) => p.add(format!("{path}.topics"), e.0),
            Ok(super::topics::Topics::Balanced(_)) if self.consumer_group.trim().is_empty() => {
                p.add(
                    format!("{path}.consumer_group"),
                    "a consumer group is required to consume topics without explicit partitions",
                );
            }
            Ok(_) => {}
        }
        for (field, v) in [
            ("checkpoint_limit", self.checkpoint_limit),
            ("fetch_buffer_cap", self.fetch_buffer_cap),
        ] {
            if !(1..=MAX_MESSAGES).contains(&v) {
                p.add(
                    format!("{path}.{field}"),
                    format!("{v} is out of range: 1..={MAX_MESSAGES}"),
                );
            }
        }
        if self.commit_period.is_zero() {
            p.add(
                format!("{path}.commit_period"),
                "must be greater than zero (offsets are committed every commit_period)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems `lint` would report for this `input.kafka` body.
    fn problems(yaml: &str) -> Vec<String> {
        let c: KafkaConfig = serde_yaml_ng::from_str(yaml).expect("parses");
        let mut p = Problems::default();
        c.validate("input.kafka", &mut p);
        p.iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn bento_defaults() {
        let c: KafkaConfig =
            serde_yaml_ng::from_str("addresses: [a]\ntopics: [t]\nconsumer_group: g\n")
                .expect("parses");
        assert_eq!(c.checkpoint_limit, 1024);
        assert_eq!(c.fetch_buffer_cap, 256);
        assert_eq!(c.commit_period.get(), std::time::Duration::from_secs(1));
        assert!(c.start_from_oldest);
        assert_eq!(
            c.group.session_timeout(),
            std::time::Duration::from_secs(10)
        );
        assert_eq!(
            c.group.heartbeat_interval(),
            std::time::Duration::from_secs(3)
        );
        assert_eq!(
            c.group.rebalance_timeout.get(),
            std::time::Duration::from_secs(60)
        );
        assert_eq!(c.group.protocol, GroupProtocol::Classic);
        let c: KafkaConfig = serde_yaml_ng::from_str(
            "addresses: [a]\ntopics: [t]\nconsumer_group: g\ngroup: {session_timeout: 6s}\n",
        )
        .expect("parses");
        assert_eq!(
            c.group.rebalance_timeout.get(),
            std::time::Duration::from_secs(60),
            "a partial group block keeps the other defaults"
        );
        assert!(problems("addresses: [a]\ntopics: [t]\nconsumer_group: g\n").is_empty());
    }

    #[test]
    fn invalid_combinations_are_named() {
        let p = problems("addresses: [a]\ntopics: [t]\n");
        assert!(
            p.iter().any(|m| m.contains("input.kafka.consumer_group")),
            "{p:?}"
        );
        assert!(
            problems("addresses: [a]\ntopics: ['t:0-3']\n").is_empty(),
            "explicit partitions need no group"
        );
        let p = problems("addresses: [a]\ntopics: [t, 'u:1']\nconsumer_group: g\n");
        assert!(p.iter().any(|m| m.contains("cannot be mixed")), "{p:?}");
        let p = problems(
            "addresses: [a]\ntopics: [t]\nconsumer_group: g\nsasl: {mechanism: OAUTHBEARER}\n",
        );
        assert!(p.iter().any(|m| m.contains("access_token")), "{p:?}");
        let p =
            problems("addresses: [a]\ntopics: [t]\nconsumer_group: g\nsasl: {mechanism: PLAIN}\n");
        assert!(p.iter().any(|m| m.contains("needs a `user`")), "{p:?}");
        let p = problems(
            "addresses: [a]\ntopics: [t]\nconsumer_group: g\ncheckpoint_limit: 1000000000000\nfetch_buffer_cap: 0\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter().all(|m| m.contains("out of range: 1..=1000000")),
            "{p:?}"
        );
    }

    #[test]
    fn consumer_protocol_rejects_client_side_group_timings() {
        let base = "addresses: [a]\ntopics: [t]\nconsumer_group: g\n";
        assert!(problems(&format!("{base}group: {{protocol: consumer}}\n")).is_empty());
        let p = problems(&format!(
            "{base}group: {{protocol: consumer, session_timeout: 6s, heartbeat_interval: 1s}}\n"
        ));
        assert!(
            p.iter()
                .any(|m| m.starts_with("input.kafka.group.session_timeout:")
                    && m.contains("group.consumer.session.timeout.ms")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("input.kafka.group.heartbeat_interval:")),
            "{p:?}"
        );
        // The classic protocol takes them.
        assert!(problems(&format!(
            "{base}group: {{protocol: classic, session_timeout: 6s, heartbeat_interval: 1s}}\n"
        ))
        .is_empty());
        // Through librdkafka_options, which win.
        let p = problems(&format!(
            "{base}librdkafka_options: {{group.protocol: consumer, partition.assignment.strategy: range}}\n"
        ));
        assert!(
            p.iter().any(|m| m.contains("partition.assignment.strategy")
                && m.contains("group.remote.assignor")),
            "{p:?}"
        );
        let p = problems(&format!(
            "{base}librdkafka_options: {{group.protocol: modern}}\n"
        ));
        assert!(p.iter().any(|m| m.contains("`modern`")), "{p:?}");
        let bad: Result<KafkaConfig, _> =
            serde_yaml_ng::from_str(&format!("{base}group: {{protocol: modern}}\n"));
        assert!(bad.is_err());
    }
}
