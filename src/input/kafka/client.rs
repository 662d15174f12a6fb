//! Turning `input.kafka` into librdkafka properties.
//!
//! Kept apart from the consumer so the exact key/values can be unit-tested (no broker needed),
//! and so there is one place that decides what librdkafka sees.

use rdkafka::ClientConfig;

use super::config::{GroupProtocol, KafkaConfig};

/// How often librdkafka emits statistics; the input reads per-partition lag from them.
pub(crate) const STATS_INTERVAL_MS: u64 = 1000;
/// How long librdkafka waits before fetching again for a partition whose prefetch queue was
/// full (its own default is 1000; see where it is set).
const FETCH_QUEUE_BACKOFF_MS: u64 = 50;

/// The librdkafka properties for a consumer of `c`. `group` says whether offsets are
/// committed to a consumer group (`consumer_group` set).
///
/// The shared part (brokers, TLS, SASL, `librdkafka_options`) comes from
/// [`crate::kafka::Client`].
pub fn consumer_config(c: &KafkaConfig) -> ClientConfig {
    let client = c.client();
    let mut cfg = client.properties("input.kafka");
    let group = c.consumer_group.trim();
    if !group.is_empty() {
        cfg.set("group.id", group);
        // librdkafka commits what we *store* on this period; we store only acked watermarks.
        cfg.set("enable.auto.commit", "true");
        cfg.set(
            "auto.commit.interval.ms",
            millis(c.commit_period.get()).max(1).to_string(),
        );
        // With the consumer protocol (KIP-848) the broker owns the session timeout and the
        // heartbeat interval, and librdkafka refuses both (and an assignment strategy) at
        // start-up; the group config's lint says so when they are set.
        if c.group_protocol().ok() == Some(GroupProtocol::Consumer) {
            cfg.set("group.protocol", GroupProtocol::Consumer.name());
        } else {
            cfg.set(
                "session.timeout.ms",
                millis(c.group.session_timeout()).to_string(),
            );
            cfg.set(
                "heartbeat.interval.ms",
                millis(c.group.heartbeat_interval()).to_string(),
            );
        }
        cfg.set(
            "max.poll.interval.ms",
            millis(c.group.rebalance_timeout.get()).to_string(),
        );
    } else {
        cfg.set("enable.auto.commit", "false");
    }
    // At-least-once: never let librdkafka store the offset of a message merely handed to us.
    cfg.set("enable.auto.offset.store", "false");
    // Events of an aborted transaction were never meant to be billed: only committed ones
    // reach the pipeline. librdkafka's default too, set here so the choice is visible (and
    // `librdkafka_options` can still say `read_uncommitted`).
    cfg.set("isolation.level", "read_committed");
    cfg.set(
        "auto.offset.reset",
        if c.start_from_oldest {
            "earliest"
        } else {
            "latest"
        },
    );
    cfg.set("enable.partition.eof", "false");
    // librdkafka stops fetching a partition whose prefetch queue is over its thresholds
    // (`queued.max.messages.kbytes`, 64 MB for the whole consumer) and waits this long before
    // looking again: 1 s by default. A backlog drained at a few hundred thousand events/s
    // empties 64 MB (~200k events) well within that second, so the pipeline starved in
    // bursts: 175k events/s with the default, 465k with 50 ms (one processor thread, same
    // topic; perf/README.md). 50 ms costs one timer check per partition per 50 ms while the
    // queue is full. `librdkafka_options` can still set it.
    cfg.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string());
    cfg.set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
    if !c.rack_id.is_empty() {
        cfg.set("client.rack", &c.rack_id);
    }
    client.apply_options(&mut cfg);
    cfg
}

fn millis(d: std::time::Duration) -> u128 {
    d.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn base() -> KafkaConfig {
        serde_yaml_ng::from_str(
            "addresses: ['b1:9092, b2:9093', ' b3:9094 ']\ntopics: [t]\nconsumer_group: g\n",
        )
        .expect("config")
    }

    #[test]
    fn defaults_give_at_least_once_group_consumer() {
        let c = base();
        let cfg = consumer_config(&c);
        assert_eq!(
            cfg.get("bootstrap.servers"),
            Some("b1:9092,b2:9093,b3:9094")
        );
        assert_eq!(cfg.get("group.id"), Some("g"));
        assert_eq!(cfg.get("client.id"), Some("flexprice-collector"));
        assert_eq!(cfg.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(cfg.get("enable.auto.commit"), Some("true"));
        assert_eq!(cfg.get("auto.commit.interval.ms"), Some("1000"));
        assert_eq!(cfg.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(cfg.get("session.timeout.ms"), Some("10000"));
        assert_eq!(cfg.get("heartbeat.interval.ms"), Some("3000"));
        assert_eq!(cfg.get("max.poll.interval.ms"), Some("60000"));
        assert_eq!(cfg.get("security.protocol"), Some("plaintext"));
        assert_eq!(cfg.get("fetch.queue.backoff.ms"), Some("50"));
        assert_eq!(cfg.get("client.rack"), None);
        assert_eq!(cfg.get("sasl.mechanism"), None);
        assert_eq!(cfg.get("isolation.level"), Some("read_committed"));
        assert_eq!(
            cfg.get("group.protocol"),
            None,
            "classic, librdkafka's default"
        );
    }

    #[test]
    fn consumer_protocol_sends_no_client_side_group_timings() {
        let mut c = base();
        c.group.protocol = GroupProtocol::Consumer;
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("group.protocol"), Some("consumer"));
        assert_eq!(cfg.get("session.timeout.ms"), None);
        assert_eq!(cfg.get("heartbeat.interval.ms"), None);
        assert_eq!(cfg.get("max.poll.interval.ms"), Some("60000"));
        // librdkafka accepts the set (it refuses session.timeout.ms with this protocol).
        let made: Result<rdkafka::consumer::BaseConsumer, _> = cfg.create();
        assert!(made.is_ok(), "{:?}", made.err());
        // The same through librdkafka_options.
        let mut c = base();
        c.librdkafka_options
            .insert("group.protocol".into(), "consumer".into());
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("session.timeout.ms"), None);
        let made: Result<rdkafka::consumer::BaseConsumer, _> = cfg.create();
        assert!(made.is_ok(), "{:?}", made.err());
    }

    #[test]
    fn sasl_plain_reaches_librdkafka_but_never_debug_output() {
        let mut c = base();
        c.sasl.mechanism = "PLAIN".into();
        c.sasl.user = "alice".into();
        c.sasl.password = Secret::new("hunter2-very-secret");
        c.rack_id = "eu-west-1a".into();
        c.start_from_oldest = false;
        c.librdkafka_options
            .insert("fetch.wait.max.ms".into(), "10".into());
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("security.protocol"), Some("sasl_plaintext"));
        assert_eq!(cfg.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(cfg.get("sasl.username"), Some("alice"));
        assert_eq!(cfg.get("sasl.password"), Some("hunter2-very-secret"));
        assert_eq!(cfg.get("client.rack"), Some("eu-west-1a"));
        assert_eq!(cfg.get("auto.offset.reset"), Some("latest"));
        assert_eq!(cfg.get("fetch.wait.max.ms"), Some("10"));
        for shown in [format!("{cfg:?}"), format!("{c:?}"), format!("{c:#?}")] {
            assert!(!shown.contains("hunter2"), "secret leaked: {shown}");
        }
        // A librdkafka client accepts every key we set.
        let made: Result<rdkafka::consumer::BaseConsumer, _> = cfg.create();
        assert!(made.is_ok(), "{:?}", made.err());
    }

    #[test]
    fn tls_with_client_cert_and_scram() {
        let mut c = base();
        c.tls.enabled = true;
        c.tls.skip_cert_verify = true;
        c.tls.root_cas_file = "/etc/ca.pem".into();
        c.tls.client_certs = vec![serde_yaml_ng::from_str(
            "cert_file: /c.pem\nkey_file: /k.pem\npassword: pw-secret",
        )
        .expect("cert")];
        c.sasl.mechanism = "SCRAM-SHA-512".into();
        c.sasl.user = "u".into();
        c.sasl.password = Secret::new("p");
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(cfg.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert_eq!(
            cfg.get("enable.ssl.certificate.verification"),
            Some("false")
        );
        assert_eq!(cfg.get("ssl.certificate.location"), Some("/c.pem"));
        assert_eq!(cfg.get("ssl.key.location"), Some("/k.pem"));
        assert_eq!(cfg.get("ssl.key.password"), Some("pw-secret"));
        assert_eq!(cfg.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert!(!format!("{cfg:?}").contains("pw-secret"));
    }

    #[test]
    fn explicit_partitions_without_group_commit_nothing() {
        let mut c = base();
        c.consumer_group = String::new();
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("group.id"), None);
        assert_eq!(cfg.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn oauthbearer_token_is_not_a_property() {
        let mut c = base();
        c.sasl.mechanism = "OAUTHBEARER".into();
        c.sasl.access_token = Secret::new("tok-secret");
        let cfg = consumer_config(&c);
        assert_eq!(cfg.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert!(!format!("{cfg:?}").contains("tok-secret"));
        assert_eq!(cfg.get("sasl.password"), None);
    }
}
