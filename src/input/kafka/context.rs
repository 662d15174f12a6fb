//! The librdkafka client context: rebalance handling, statistics (lag), logs, OAUTHBEARER.
//!
//! With `BaseConsumer` every callback here runs inside `poll` on the input thread.

use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::lag;
use super::state::{Assigned, PartitionState};
use crate::pipeline::telemetry::health::StageHealth;

pub(crate) struct Ctx {
    pub state: Mutex<Assigned>,
    /// Offsets are committed to a consumer group.
    pub group: bool,
    /// The SASL settings and client id, when the mechanism is OAUTHBEARER.
    pub oauth: Option<(crate::kafka::Sasl, String)>,
    /// Set once the final commit is done: the revoke that `close` triggers has nothing to add.
    pub closing: AtomicBool,
    /// The input's side of `/ready`: connected once partitions are assigned.
    pub health: StageHealth,
    /// The group speaks the consumer protocol (KIP-848): every rebalance is incremental.
    pub incremental: bool,
    /// When each rate-limited warning was last logged.
    pub warned: Mutex<HashMap<Warning, Instant>>,
}

impl ClientContext for Ctx {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        crate::kafka::log(level, fac, msg);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as Code;
        if matches!(
            error.rdkafka_error_code(),
            Some(Code::UnknownTopicOrPartition | Code::UnknownPartition | Code::UnknownTopic)
        ) {
            // A subscribed topic was deleted (or a partition is gone): librdkafka reports it
            // every second per partition, and keeps the partitions assigned until its next
            // full metadata refresh (`topic.metadata.refresh.interval.ms`, 5 min by default)
            // makes the group rebalance without them. The other topics go on meanwhile.
            if self.warn_due(Warning::TopicGone) {
                tracing::warn!(
                    target: "librdkafka",
                    error = %error,
                    "{reason}: a subscribed topic or partition no longer exists (deleted?); the other topics are consumed meanwhile, and the group drops it at librdkafka's next metadata refresh (topic.metadata.refresh.interval.ms); repeated at most every {}s",
                    WARN_EVERY.as_secs()
                );
            } else {
                tracing::debug!(target: "librdkafka", error = %error, "{reason}");
            }
            return;
        }
        // Broker connection losses are retried by librdkafka; they are worth a warning, not a stop.
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) {
            self.health.disconnected(&format!("{error}: {reason}"));
        }
    }

    fn stats_raw(&self, raw: &[u8]) {
        let st = self.state.lock();
        lag::update_from_stats(raw, |t, p| st.owned_name(t, p));
    }

    fn generate_oauth_token(&self, _: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        match &self.oauth {
            Some((sasl, client_id)) => sasl.oauth_token(client_id),
            None => Err("sasl.mechanism is OAUTHBEARER but no access_token is configured".into()),
        }
    }
}

impl ConsumerContext for Ctx {
    /// librdkafka's rebalance callback, served inside `poll`. The assignment change is ours to
    /// make, and how depends on the protocol: an eager rebalance (the classic protocol with
    /// its default assignors) revokes everything and assigns the whole new set, with
    /// `assign`; an incremental one (the consumer protocol, KIP-848, or a cooperative assignor
    /// set through `librdkafka_options`) hands over only the partitions that move, with
    /// `incremental_assign`/`incremental_unassign`, and librdkafka forbids `assign` there.
    /// librdkafka reports the consumer protocol as cooperative only once the subscription is
    /// in place, so the configured protocol decides too, not the report alone.
    ///
    /// Our part is the same in both: a revoke commits what is done for exactly the partitions
    /// in the list and forgets them; an assign starts fresh trackers for exactly those in the
    /// list (the partitions kept through an incremental rebalance keep theirs).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let incremental = self.incremental
            || matches!(
                consumer.rebalance_protocol(),
                RebalanceProtocol::Cooperative
            );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let r = if incremental {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                match r {
                    Ok(()) => {
                        self.assign(consumer, tpl, incremental);
                        self.health.connected();
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        partitions = tpl.count(),
                        "could not take the assigned partitions; the group rebalances again"
                    ),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoke(consumer, tpl);
                self.unassign(consumer, tpl, incremental);
            }
            other => {
                // librdkafka documents only the two above; on anything else give up what we
                // hold, as its own default handling does.
                let code: RDKafkaErrorCode = other.into();
                tracing::warn!(error = %code, "consumer group rebalance error; giving up the assignment");
                let all = self.state.lock().all();
                self.revoke(consumer, &all);
                self.unassign(consumer, &all, incremental);
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                let mut st = self.state.lock();
                for e in offsets.elements() {
                    if let (Some(p), Offset::Offset(o)) =
                        (st.get_mut(e.topic(), e.partition()), e.offset())
                    {
                        p.committed = p.committed.max(Some(o));
                    }
                }
                tracing::trace!(partitions = offsets.count(), "offsets committed")
            }
            // Nothing new was stored since the last commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            // Some partitions' offsets were refused (a deleted topic's, every commit period
            // until the group drops them); the others are committed.
            Err(
                e @ KafkaError::ConsumerCommit(
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
                ),
            ) => {
                let refused: Vec<String> = offsets
                    .elements()
                    .iter()
                    .filter(|p| p.error().is_err())
                    .map(|p| format!("{}[{}]", p.topic(), p.partition()))
                    .collect();
                if self.warn_due(Warning::CommitRefused) {
                    tracing::warn!(
                        error = %e,
                        partitions = %refused.join(","),
                        "offset commit refused for partitions that no longer exist; the others are committed; repeated at most every {}s",
                        WARN_EVERY.as_secs()
                    )
                } else {
                    tracing::debug!(error = %e, partitions = %refused.join(","), "offset commit refused");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "offset commit failed; retried on the next commit period")
            }
        }
    }
}

/// How often a warning that repeats for as long as its cause lasts is logged.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Warnings logged at most every [`WARN_EVERY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Warning {
    TopicGone,
    CommitRefused,
}

impl Ctx {
    /// True (and the clock restarted) when `w` was not logged in the last [`WARN_EVERY`].
    fn warn_due(&self, w: Warning) -> bool {
        let mut last = self.warned.lock();
        let now = Instant::now();
        match last.get(&w) {
            Some(&at) if now.duration_since(at) < WARN_EVERY => false,
            _ => {
                last.insert(w, now);
                true
            }
        }
    }

    /// Store what is done for the revoked partitions, commit it, and forget them. Their
    /// un-acked messages go to the new owner from the committed offset; late acks land in the
    /// dropped trackers and change nothing. The log line says how many messages the next
    /// owners read again (`redelivered`): what was in flight, plus, when this commit could
    /// not be made, what was acked since the last one that was.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let (done, mut gone) = {
            let mut st = self.state.lock();
            let done = st.take_watermarks(Some(tpl));
            let mut gone = Vec::with_capacity(tpl.count());
            for e in tpl.elements() {
                gone.extend(st.remove(e.topic(), e.partition()));
                lag::forget(e.topic(), e.partition());
            }
            (done, gone)
        };
        let committed = self.commit_revoked(consumer, &done);
        if committed {
            gone.iter_mut()
                .for_each(PartitionState::mark_stored_committed);
        }
        let redelivered: u64 = gone.iter().map(PartitionState::redelivered).sum();
        tracing::info!(partitions = tpl.count(), redelivered, "partitions revoked");
    }

    /// The commit of a revoke; true if what was stored is now committed.
    fn commit_revoked(&self, consumer: &BaseConsumer<Self>, done: &TopicPartitionList) -> bool {
        if !self.group || self.closing.load(Ordering::Acquire) {
            // The final commit (its outcome already in the states) came just before.
            return false;
        }
        if consumer.assignment_lost() {
            tracing::warn!(
                "assignment lost (session timed out); un-committed messages will be redelivered"
            );
            return false;
        }
        let mut stored = true;
        if done.count() > 0 {
            if let Err(e) = consumer.store_offsets(done) {
                // What was stored before still gets committed below.
                tracing::warn!(error = %e, "could not store offsets of revoked partitions");
                stored = false;
            }
        }
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "commit on revoke failed; those messages will be redelivered");
                false
            }
        }
    }

    /// The final commit succeeded: every owned partition's stored watermark is committed.
    pub fn mark_stored_committed(&self) {
        let mut st = self.state.lock();
        st.iter_mut().for_each(|(_, p)| p.mark_stored_committed());
    }

    fn unassign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList, incremental: bool) {
        let r = if incremental {
            consumer.incremental_unassign(tpl)
        } else {
            consumer.unassign()
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, partitions = tpl.count(), "could not give up revoked partitions");
        }
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList, incremental: bool) {
        let paused = {
            let mut st = self.state.lock();
            for e in tpl.elements() {
                st.insert(e.topic(), e.partition());
            }
            st.downstream_paused
        };
        tracing::info!(partitions = tpl.count(), incremental, "partitions assigned");
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
