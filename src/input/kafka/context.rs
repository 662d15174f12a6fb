//! The librdkafka client context: rebalance handling, statistics (lag), logs, OAUTHBEARER.
//!
//! With `BaseConsumer` every callback here runs inside `poll` on the input thread.

use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::TopicPartitionList;

use super::lag;
use super::state::Assigned;
use crate::config::Secret;

pub(crate) struct Ctx {
    pub state: Mutex<Assigned>,
    /// Offsets are committed to a consumer group.
    pub group: bool,
    /// Static OAUTHBEARER token and principal, when that mechanism is configured.
    pub oauth: Option<(Secret, String)>,
    /// Set once the final commit is done: the revoke that `close` triggers has nothing to add.
    pub closing: AtomicBool,
}

impl ClientContext for Ctx {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{msg}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{msg}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{msg}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{msg}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Broker connection losses are retried by librdkafka; they are worth a warning, not a stop.
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) {
            crate::observe::health::set_input_connected(false, &format!("{error}: {reason}"));
        }
    }

    fn stats_raw(&self, raw: &[u8]) {
        let st = self.state.lock();
        lag::update_from_stats(raw, |t, p| st.owned_name(t, p));
    }

    fn generate_oauth_token(&self, _: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        let (token, principal) = self
            .oauth
            .as_ref()
            .ok_or("sasl.mechanism is OAUTHBEARER but no access_token is configured")?;
        // A static token has no known expiry: librdkafka asks again at 80% of this lifetime
        // and gets the same token.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Ok(OAuthToken {
            token: token.expose().to_string(),
            principal_name: principal.clone(),
            lifetime_ms: now_ms + 3_600_000,
        })
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.revoke(consumer, tpl),
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.assign(consumer, tpl);
            crate::observe::health::set_input_connected(true, "");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::trace!(partitions = offsets.count(), "offsets committed"),
            // Nothing new was stored since the last commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "offset commit failed; retried on the next commit period")
            }
        }
    }
}

impl Ctx {
    /// Store what is done for the revoked partitions, commit it, and forget them. Their
    /// un-acked messages go to the new owner from the committed offset; late acks land in the
    /// dropped trackers and change nothing.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let done = {
            let mut st = self.state.lock();
            let done = st.take_watermarks(Some(tpl));
            for e in tpl.elements() {
                st.remove(e.topic(), e.partition());
                lag::forget(e.topic(), e.partition());
            }
            done
        };
        tracing::info!(partitions = tpl.count(), "partitions revoked");
        if !self.group || self.closing.load(Ordering::Acquire) {
            return;
        }
        if consumer.assignment_lost() {
            tracing::warn!(
                "assignment lost (session timed out); un-committed messages will be redelivered"
            );
            return;
        }
        if done.count() > 0 {
            if let Err(e) = consumer.store_offsets(&done) {
                tracing::warn!(error = %e, "could not store offsets of revoked partitions");
            }
        }
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "commit on revoke failed; those messages will be redelivered")
            }
        }
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let paused = {
            let mut st = self.state.lock();
            for e in tpl.elements() {
                st.insert(e.topic(), e.partition());
            }
            st.downstream_paused
        };
        tracing::info!(partitions = tpl.count(), "partitions assigned");
        // A fresh assignment starts un-paused unless the pipeline is stalled right now.
        let r = if paused {
            consumer.pause(tpl)
        } else {
            consumer.resume(tpl)
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "pause/resume of newly assigned partitions");
        }
    }
}
