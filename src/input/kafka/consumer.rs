//! The poll loop: messages out, acked watermarks into librdkafka's offset store, pauses for
//! backpressure, and the drain-then-commit shutdown.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TryRecvError, TrySendError};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::context::Ctx;
use crate::pipeline::telemetry::metrics;
use crate::pipeline::Control;
use crate::pipeline::{Chunk, Message, Origin, Position};

/// Poll timeout when nothing is pending: bounds how late a stop or a tick is noticed.
const POLL_IDLE: Duration = Duration::from_millis(50);
/// Slice of a blocking send into a full pipeline, between checks of the stop flag.
const SEND_SLICE: Duration = Duration::from_millis(10);
/// Bound on the local seek before a resume (no network: librdkafka's own thread answers).
const SEEK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often acked watermarks are stored and limit-paused partitions re-checked.
const TICK: Duration = Duration::from_millis(20);
/// How often caught-up partitions are checked for records never handed out (transaction
/// markers): it asks librdkafka for the assignment's positions.
const SKIP_CHECK: Duration = Duration::from_millis(250);
/// The most of `shutdown_timeout` kept, at its end, for the final commit and for leaving the
/// group (a quarter of it when that is less).
const CLOSE_RESERVE: Duration = Duration::from_secs(2);

pub(crate) struct Loop {
    pub consumer: BaseConsumer<Ctx>,
    pub checkpoint_limit: usize,
    /// A pipeline that has not taken a message for this long gets every partition paused, and
    /// the loop goes back to polling: well inside `max.poll.interval.ms`, so a stalled output
    /// never gets this member evicted. Short stalls (normal backpressure) just block, which
    /// keeps librdkafka's prefetched messages instead of discarding them on pause.
    pub stall_pause_after: Duration,
    /// Copy keys and headers into each message's origin (a processor reads metadata).
    pub metadata: bool,
    /// When [`Loop::skip_unseen`] may run next.
    pub next_skip_check: Cell<Instant>,
}

impl Loop {
    fn ctx(&self) -> &Ctx {
        self.consumer.context()
    }

    pub fn run(self, out: Sender<Chunk>, chunk: usize, ctl: &Control) -> anyhow::Result<()> {
        let result = self.consume(&out, chunk.max(1), ctl);
        drop(out); // lets the processors and the output drain
        self.finish(ctl);
        result
    }

    /// Hand messages to the pipeline until a stop is requested or the pipeline is gone.
    ///
    /// Messages go out in chunks of what librdkafka already holds (up to `chunk_len`): the
    /// first poll may wait, the rest of the chunk only takes what is ready, so a chunk never
    /// waits to fill up.
    fn consume(&self, out: &Sender<Chunk>, chunk_len: usize, ctl: &Control) -> anyhow::Result<()> {
        let m = metrics::get();
        // The chunk polled but not yet taken by the pipeline. At most one, of at most two
        // chunks' worth: while it waits, polling goes on (for the group's sake) and what it
        // returns joins it until every partition is paused; messages of paused partitions are
        // dropped (and re-fetched after the resume), never added to it.
        let mut stash: Option<Chunk> = None;
        let mut full_since: Option<Instant> = None;
        let mut next_tick = Instant::now() + TICK;
        loop {
            if ctl.stop_requested() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= next_tick {
                self.tick();
                next_tick = now + TICK;
            }
            if let Some(chunk) = stash.take() {
                let n = chunk.len() as u64;
                match out.send_timeout(chunk, SEND_SLICE) {
                    Ok(()) => {
                        m.input_received.add(n);
                        full_since = None;
                        self.set_downstream_paused(false);
                    }
                    Err(SendTimeoutError::Timeout(mut chunk)) => {
                        let since = *full_since.get_or_insert(now);
                        if now.duration_since(since) >= self.stall_pause_after
                            || chunk.len() >= 2 * chunk_len
                        {
                            self.set_downstream_paused(true);
                        }
                        // Poll on every slice of the wait, paused or not: a rebalance waits
                        // for this consumer's revoke, which is served inside `poll`, and the
                        // group's commits fail until then (a full pipeline moves a chunk at a
                        // time, so "until a chunk is taken" was long enough to stall a join).
                        // Unpaused, a message polled here joins the waiting chunk (at most
                        // one chunk more, then everything pauses); paused, it is dropped and
                        // fetched again after the resume.
                        self.poll_one(Duration::ZERO, &mut chunk)?;
                        stash = Some(chunk);
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return Ok(()),
                }
                continue;
            }
            let mut chunk = Vec::with_capacity(chunk_len);
            let mut polled = self.poll_one(POLL_IDLE, &mut chunk)?;
            while polled && chunk.len() < chunk_len {
                polled = self.poll_one(Duration::ZERO, &mut chunk)?;
            }
            if chunk.is_empty() {
                continue;
            }
            // One clock read per chunk (a clock read per message was a tenth of this thread's
            // time): its messages were all at hand together.
            let received = Some(Instant::now());
            for msg in &mut chunk {
                msg.origin.received_at = received;
            }
            let n = chunk.len() as u64;
            match out.try_send(chunk) {
                Ok(()) => m.input_received.add(n),
                Err(TrySendError::Full(chunk)) => stash = Some(chunk),
                Err(TrySendError::Disconnected(_)) => return Ok(()),
            }
        }
    }

    /// Poll once; a message becomes a tracked [`Message`] at the back of `chunk` (the caller
    /// sets its `received_at`). True if the poll returned anything (so more may be ready).
    fn poll_one(&self, timeout: Duration, chunk: &mut Chunk) -> anyhow::Result<bool> {
        match self.consumer.poll(timeout) {
            None => Ok(false),
            Some(Ok(msg)) => {
                if let Some(m) = self.track(&msg) {
                    chunk.push(m);
                }
                Ok(true)
            }
            Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                anyhow::bail!("kafka consumer failed fatally: {code}")
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "kafka consume error (librdkafka retries)");
                Ok(true)
            }
        }
    }

    /// Start tracking a polled message and turn it into a pipeline message. Tombstones and
    /// empty payloads are acked on the spot (there is nothing to send) and yield `None`.
    fn track(&self, msg: &BorrowedMessage<'_>) -> Option<Message> {
        let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
        let (name, ack) = {
            let mut st = self.ctx().state.lock();
            let downstream_paused = st.downstream_paused;
            let Some(p) = st.get_mut(topic, partition) else {
                // Not (or no longer) ours: a message that raced a revoke. The new owner reads it.
                tracing::debug!(
                    topic,
                    partition,
                    offset,
                    "message for an unowned partition skipped"
                );
                return None;
            };
            if p.limit_paused || downstream_paused {
                // librdkafka applies a pause on its own thread a moment later, and until then
                // (and for part of what it had prefetched) it still hands messages out, with
                // gaps where it filtered others. Taking them would let the watermark jump
                // such a gap, so they are dropped untracked and the resume seeks back to
                // exactly where we stopped taking.
                if p.next.is_none() {
                    p.dropped_from = Some(p.dropped_from.map_or(offset, |d| d.min(offset)));
                }
                return None;
            }
            if p.next.is_some_and(|n| offset < n) {
                // Rewound by librdkafka itself (offset reset): restart tracking. Nothing
                // below the old watermark is lost; what is above it is delivered again.
                tracing::warn!(
                    topic,
                    partition,
                    offset,
                    expected = p.next,
                    "partition rewound; tracking restarts"
                );
                p.cp = crate::pipeline::Checkpointer::new();
                p.stored = None;
            }
            p.next = Some(offset + 1);
            p.first.get_or_insert(offset);
            let ack = p.cp.track(offset);
            if !p.limit_paused && p.cp.in_flight() >= self.checkpoint_limit {
                p.limit_paused = true;
                tracing::debug!(
                    topic,
                    partition,
                    offset,
                    "checkpoint_limit reached: partition paused"
                );
                if !downstream_paused {
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(topic, partition);
                    if let Err(e) = self.consumer.pause(&tpl) {
                        tracing::warn!(topic, partition, error = %e, "could not pause partition at checkpoint_limit");
                    }
                }
            }
            (Arc::clone(&p.topic), ack)
        };
        let payload = match msg.payload() {
            Some(p) if !p.is_empty() => p.to_vec(),
            other => {
                // A tombstone (null value: a compacted topic deleting its key) carries no
                // event. Bento hands it on as an empty message flagged
                // `kafka_tombstone_message`, which a Flexprice mapping can only fail on and
                // dead-letter; here it is skipped, counted, and acked on the spot, so the
                // committed offset moves past it like past any delivered message.
                let tombstone = other.is_none();
                if tombstone {
                    metrics::get().input_tombstones.inc();
                }
                tracing::debug!(
                    topic,
                    partition,
                    offset,
                    tombstone,
                    "empty kafka message skipped"
                );
                ack.ack();
                return None;
            }
        };
        // Asking for the headers parses them (allocations even when there are none).
        let headers = self
            .metadata
            .then(|| msg.headers())
            .flatten()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Message {
            payload,
            origin: Origin {
                position: Position::Kafka {
                    topic: name,
                    partition,
                    offset,
                },
                timestamp_ms: msg.timestamp().to_millis(),
                key: msg.key().filter(|_| self.metadata).map(<[u8]>::to_vec),
                headers,
                received_at: None,
            },
            ack,
        })
    }

    /// Store watermarks that moved and resume partitions whose acks freed room.
    fn tick(&self) {
        let (done, resume) = {
            let mut st = self.ctx().state.lock();
            let downstream_paused = st.downstream_paused;
            // Resume at three quarters of the limit, not one below it: each resume makes
            // librdkafka fetch again, so flapping at the limit would cost a fetch per ack.
            let resume_at = (self.checkpoint_limit - self.checkpoint_limit / 4).max(1);
            let mut resume = Vec::new();
            for (p, s) in st.iter_mut() {
                if s.limit_paused && s.cp.in_flight() < resume_at {
                    s.limit_paused = false;
                    if !downstream_paused {
                        resume.push((Arc::clone(&s.topic), p));
                    }
                }
            }
            let done = if self.ctx().group {
                st.take_watermarks(None)
            } else {
                TopicPartitionList::new()
            };
            (done, resume)
        };
        let done = if self.ctx().group && Instant::now() >= self.next_skip_check.get() {
            self.next_skip_check.set(Instant::now() + SKIP_CHECK);
            self.skip_unseen(done)
        } else {
            done
        };
        if done.count() > 0 {
            if let Err(e) = self.consumer.store_offsets(&done) {
                tracing::debug!(error = %e, "storing offsets");
            }
        }
        if !resume.is_empty() {
            tracing::debug!(partitions = resume.len(), "acks freed room: resuming");
            self.resume(resume);
        }
    }

    /// Move the watermark of caught-up partitions past the records librdkafka read but never
    /// handed out: transaction markers (one after every transaction), and the records of
    /// aborted transactions (skipped under `read_committed`). Without this a partition whose
    /// log ends with a marker keeps its committed offset on the marker: lag 1 for ever, and
    /// an aborted transaction at the end is read (and dropped) again by every new owner.
    ///
    /// librdkafka's position (`rd_kafka_position`) is the offset after the last message *or
    /// marker* it served to this consumer. A partition qualifies only when that position is
    /// past the next offset we expect and everything we took is acked, and only when nothing
    /// of it can have been served and dropped by us: it is not paused (a paused partition's
    /// prefetched messages are dropped untracked, and its resume seeks back, which resets the
    /// position). Then everything between is a record no message came from. Adds the moved
    /// watermarks to `done`.
    fn skip_unseen(&self, mut done: TopicPartitionList) -> TopicPartitionList {
        let idle = {
            let mut st = self.ctx().state.lock();
            let downstream_paused = st.downstream_paused;
            !downstream_paused
                && st
                    .iter_mut()
                    .any(|(_, s)| !s.limit_paused && s.cp.in_flight() == 0)
        };
        if !idle {
            return done;
        }
        let positions = match self.consumer.position() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "consumer position");
                return done;
            }
        };
        let mut st = self.ctx().state.lock();
        if st.downstream_paused {
            return done;
        }
        for e in positions.elements() {
            let Offset::Offset(at) = e.offset() else {
                continue;
            };
            let Some(s) = st.get_mut(e.topic(), e.partition()) else {
                continue;
            };
            if s.limit_paused || s.dropped_from.is_some() || s.next.is_some_and(|n| at <= n) {
                continue;
            }
            if s.cp.skip_to(at) {
                tracing::debug!(
                    topic = e.topic(),
                    partition = e.partition(),
                    from = s.next,
                    to = at,
                    "past records never handed out (transaction markers, aborted transactions)"
                );
                s.next = Some(at);
                s.stored = Some(at);
                if let Some(mut el) = done.find_partition(e.topic(), e.partition()) {
                    let _ = el.set_offset(Offset::Offset(at));
                } else {
                    let _ = done.add_partition_offset(e.topic(), e.partition(), Offset::Offset(at));
                }
            }
        }
        done
    }

    /// Resume partitions, first seeking each back to the next offset we have not taken (the
    /// messages dropped while it was paused). The seek is synchronous: once it returns,
    /// librdkafka discards everything it fetched before, so no stale message can follow.
    /// A partition whose seek fails stays paused and is retried on a later tick.
    fn resume(&self, parts: Vec<(Arc<str>, i32)>) {
        let mut seek = TopicPartitionList::new();
        {
            let mut st = self.ctx().state.lock();
            for (t, p) in &parts {
                if let Some(s) = st.get_mut(t, *p) {
                    if let Some(at) = s.next.or(s.dropped_from) {
                        let _ = seek.add_partition_offset(t, *p, Offset::Offset(at));
                    }
                }
            }
        }
        let mut failed: Vec<(String, i32)> = Vec::new();
        if seek.count() > 0 {
            match self.consumer.seek_partitions(seek.clone(), SEEK_TIMEOUT) {
                Ok(res) => {
                    for e in res.elements() {
                        if let Err(err) = e.error() {
                            tracing::warn!(topic = e.topic(), partition = e.partition(), error = %err, "seek before resume failed; partition stays paused");
                            failed.push((e.topic().to_string(), e.partition()));
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "seek before resume failed; partitions stay paused");
                    failed.extend(
                        seek.elements()
                            .iter()
                            .map(|e| (e.topic().to_string(), e.partition())),
                    );
                }
            }
        }
        let mut tpl = TopicPartitionList::new();
        {
            let mut st = self.ctx().state.lock();
            for (t, p) in &parts {
                let Some(s) = st.get_mut(t, *p) else { continue };
                if failed.iter().any(|(ft, fp)| ft == t.as_ref() && fp == p) {
                    s.limit_paused = true; // retried by the next tick
                } else {
                    s.dropped_from = None;
                    tpl.add_partition(t, *p);
                }
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::warn!(error = %e, "could not resume partitions");
            }
        }
    }

    /// Pause (or resume) every owned partition because the pipeline is stalled (or moving
    /// again). Partitions at their checkpoint limit stay paused.
    fn set_downstream_paused(&self, pause: bool) {
        self.pause_all(pause, true);
    }

    fn pause_all(&self, pause: bool, announce: bool) {
        let (all, resume) = {
            let mut st = self.ctx().state.lock();
            if st.downstream_paused == pause {
                return;
            }
            st.downstream_paused = pause;
            let resume: Vec<(Arc<str>, i32)> = st
                .iter_mut()
                .filter(|(_, s)| !s.limit_paused)
                .map(|(p, s)| (Arc::clone(&s.topic), p))
                .collect();
            (st.all(), resume)
        };
        if pause {
            if announce {
                tracing::info!(
                partitions = all.count(),
                "pipeline stalled: partitions paused, still polling so the group keeps this member"
            );
            }
            if let Err(e) = self.consumer.pause(&all) {
                tracing::warn!(error = %e, "pause failed");
            }
        } else {
            tracing::info!("pipeline moving again: partitions resumed");
            self.resume(resume);
        }
    }

    /// After the last message went out: keep polling (paused, so no fetches, but the group
    /// keeps us) until the pipeline drained or the deadline passed, storing watermarks as acks
    /// arrive, then commit synchronously. Closing the consumer (on drop) leaves the group.
    ///
    /// The wait for the drain ends a little before `shutdown_timeout` runs out (a quarter of
    /// it, at most [`CLOSE_RESERVE`]): the runtime stops waiting at the deadline and the
    /// process exits, and a consumer cut off in the middle of its close never leaves its
    /// group, so the next member waits a whole session timeout for its partitions. The
    /// reserve gives the final commit and the LeaveGroup their time; acks that would have
    /// come in it are redelivered, as any un-acked message is.
    fn finish(self, ctl: &Control) {
        // Stop fetching: nothing polled from here on is taken.
        self.pause_all(true, false);
        let fallback = Instant::now() + Duration::from_secs(30);
        let started = Instant::now();
        let reserve = |deadline: Instant| {
            (deadline.saturating_duration_since(started) / 4).min(CLOSE_RESERVE)
        };
        loop {
            let deadline = ctl.deadline().unwrap_or(fallback);
            if matches!(ctl.drained().try_recv(), Err(TryRecvError::Disconnected)) {
                break;
            }
            if Instant::now() + reserve(deadline) >= deadline {
                tracing::warn!(
                    "shutdown_timeout nearly reached with events in flight: committing what is done and leaving the consumer group"
                );
                break;
            }
            // Paused: any message still returned is not tracked, so never committed.
            let _ = self.consumer.poll(POLL_IDLE);
            self.tick();
        }
        self.tick();
        let ctx = self.ctx();
        if ctx.group {
            match self.consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => {
                    ctx.mark_stored_committed();
                    tracing::info!("final offsets committed")
                }
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                    ctx.mark_stored_committed()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "final commit failed; un-committed messages will be redelivered")
                }
            }
        }
        ctx.closing.store(true, Ordering::Release);
        let owned: Vec<(Arc<str>, i32)> = {
            let mut st = ctx.state.lock();
            st.iter_mut()
                .map(|(p, s)| (Arc::clone(&s.topic), p))
                .collect()
        };
        for (t, p) in owned {
            super::lag::forget(&t, p);
        }
        let closing = Instant::now();
        let group = ctx.group;
        drop(self.consumer);
        if group {
            tracing::info!(
                took_ms = closing.elapsed().as_millis() as u64,
                "kafka consumer closed: left the consumer group"
            );
        }
    }
}
