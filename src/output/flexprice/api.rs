//! The flexprice output's writes: send a batch, classify the answer, retry, bisect, and say
//! per event whether the API took it.
//!
//! A retrying batch keeps its sender thread busy, so retries count against `max_in_flight`
//! instead of piling up new requests (the retry storms and memory blow-ups seen in other
//! Kafka→HTTP pipelines). Every event of a batch ends in exactly one of three ways: delivered
//! after a 2xx, failed (with the reason, for the fallback: the dead-letter target), or
//! abandoned when the shutdown deadline passes, to be redelivered on the next start.
//!
//! The retry budget (`retry_max_attempts`, `retry_backoff.max_elapsed_time`) exists to stop a
//! batch the API keeps failing *because of that batch* from blocking a sender for ever. An
//! outage is different: when the API accepts nothing at all, dead-lettering would turn a
//! transient outage into a manual replay of everything that passed by, while Kafka could
//! simply keep the backlog (the input pauses its partitions and keeps polling, so the group
//! keeps us). So a failed attempt spends the budget only when the API has meanwhile accepted
//! a request that was *sent after this batch's previous failure* (the API is up for others,
//! so this batch is the problem). Requests that were already in flight when an outage began
//! and still got their 202 prove nothing about the API now, hence "sent after". While the API
//! accepts nothing, the batch is held and retried at the capped interval. A 429 never spends
//! the budget: throttling says "slower", never "this batch is bad". A stop still ends the
//! wait at `shutdown_timeout`, leaving the batch un-acked for redelivery.
//!
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::Batch;
use super::encode::EventEncoder;
use super::retry::{classify, parse_retry_after, Class};
use crate::config::Secret;
use crate::output::dead_letter::truncate;
use crate::output::Backoff;
use crate::pipeline::telemetry::{latency, metrics};
use crate::pipeline::{BatchPolicy, Body, Delivery, Encoder, Event, Failure, Output, WriteContext};

/// Largest response body read (the rest is discarded); error bodies are small.
const MAX_RESPONSE_READ: u64 = 64 * 1024;
/// Longest response excerpt put in a log line.
const MAX_RESPONSE_LOG: usize = 1024;

/// The Flexprice events API as an output; shared by reference across the writer pool.
pub struct FlexpriceApi {
    pub agent: ureq::Agent,
    pub single_url: String,
    pub bulk_url: String,
    pub api_key: Secret,
    pub retry: Backoff,
    pub encoder: Arc<EventEncoder>,
    /// `/v1/events/bulk` (a batching policy is set) or one event per `/v1/events`.
    pub bulk: bool,
    pub policy: BatchPolicy,
    pub max_in_flight: usize,
    /// Reference point for [`FlexpriceApi::last_accepted_sent`].
    pub epoch: Instant,
    /// When (nanoseconds after `epoch`) the most recently sent request that the API accepted
    /// (2xx) was sent, by any writer: tells an outage from a batch-specific failure.
    pub last_accepted_sent: AtomicU64,
}

/// The result of one HTTP attempt.
#[derive(Debug)]
struct Attempt {
    /// When the request was sent.
    sent: Instant,
    /// None for transport errors (connect, timeout, reset).
    status: Option<u16>,
    body: String,
    retry_after: Option<Duration>,
}

/// How a batch's attempts ended.
enum Outcome {
    Accepted,
    /// Given up, with why.
    Failed(Failure),
    /// The shutdown deadline passed: leave un-acked.
    Abandoned,
}

impl Output for FlexpriceApi {
    fn name(&self) -> &'static str {
        "flexprice"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::clone(&self.encoder) as Arc<dyn Encoder>
    }

    fn batching(&self) -> BatchPolicy {
        self.policy.clone()
    }

    fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Events that failed processing never reach the API: they fail at once, with their
    /// reason. The rest go out as one request (bisected on a 400/413).
    fn write(&self, events: Vec<Event>, cx: &WriteContext<'_>) -> anyhow::Result<Delivery> {
        let mut done = Delivery::default();
        let mut ready = Vec::with_capacity(events.len());
        for e in events {
            match &e.body {
                Body::Ready(_) => ready.push(e),
                Body::Failed { reason, .. } => {
                    let f = Failure::local(reason.clone());
                    done.failed.push((e, f));
                }
            }
        }
        if !ready.is_empty() {
            self.deliver(Batch::new(self.bulk, ready), cx, &mut done);
        }
        Ok(done)
    }
}

impl FlexpriceApi {
    /// Deliver one batch to its end (see the module docs).
    fn deliver(&self, batch: Batch, cx: &WriteContext<'_>, done: &mut Delivery) {
        if cx.control.past_deadline() {
            // Never sent (or the rest of a split batch): redelivered on the next start. The
            // runtime no longer waits for us.
            done.abandoned.extend(batch.into_events());
            return;
        }
        match self.send_with_retry(&batch, cx) {
            Outcome::Accepted => {
                tracing::debug!(
                    events = batch.len(),
                    bulk = batch.bulk,
                    bytes = batch.body.len(),
                    "events accepted by the Flexprice API"
                );
                metrics::get().output_sent.add(batch.len() as u64);
                latency::record_delivered(batch.items.iter().map(|i| &i.event.origin));
                done.delivered.extend(batch.into_events());
            }
            Outcome::Failed(Failure {
                status: Some(status @ (400 | 413)),
                ..
            }) if batch.bulk && batch.len() > 1 => {
                // One bad event must not sink its neighbours: split and resend each half,
                // until the offenders stand alone and fail with the API's reason.
                tracing::warn!(
                    status,
                    events = batch.len(),
                    "bulk request rejected; splitting it to isolate the rejected events"
                );
                let (a, b) = batch.split();
                self.deliver(a, cx, done);
                self.deliver(b, cx, done);
            }
            Outcome::Failed(f) => {
                let body = f.response.as_deref().unwrap_or("");
                tracing::error!(
                    status = f.status.map(i64::from).unwrap_or(-1),
                    attempts = f.attempts,
                    events = batch.len(),
                    response = truncate(body, MAX_RESPONSE_LOG),
                    reason = %f.reason,
                    "events not accepted by the Flexprice API"
                );
                done.failed
                    .extend(batch.into_events().into_iter().map(|e| (e, f.clone())));
            }
            Outcome::Abandoned => {
                tracing::warn!(
                    events = batch.len(),
                    "shutdown deadline reached; leaving events un-acked for redelivery"
                );
                done.abandoned.extend(batch.into_events());
            }
        }
    }

    fn since_epoch(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn note_accepted(&self, a: &Attempt) {
        self.last_accepted_sent
            .fetch_max(self.since_epoch(a.sent), Ordering::AcqRel);
    }

    fn send_with_retry(&self, batch: &Batch, cx: &WriteContext<'_>) -> Outcome {
        let m = metrics::get();
        let first = Instant::now();
        let mut attempts = 0u32;
        // Failed attempts charged to the budget: see the module docs.
        let mut charged = 0u32;
        // The API must accept a request sent after this for a failure to be charged.
        let mut last_failure = self.since_epoch(first);
        let mut holding = false;
        loop {
            attempts += 1;
            let a = self.send_once(batch, cx);
            let (class, what) = match a.status {
                Some(s) => (classify(s), format!("HTTP {s}")),
                None => (Class::Transient, a.body.clone()),
            };
            match class {
                Class::Accepted => {
                    self.note_accepted(&a);
                    return Outcome::Accepted;
                }
                Class::AcceptedUnexpected => {
                    self.note_accepted(&a);
                    tracing::warn!(
                        status = a.status.unwrap_or(0),
                        "Flexprice API answered with an unexpected 2xx (expected 202); treating the events as accepted"
                    );
                    return Outcome::Accepted;
                }
                Class::Permanent => {
                    m.output_error.inc();
                    return Outcome::Failed(Failure {
                        reason: format!("rejected by the API ({what}); not retried"),
                        status: a.status,
                        response: Some(a.body),
                        attempts,
                    });
                }
                Class::Transient => {
                    m.output_error.inc();
                    let api_up = self.last_accepted_sent.load(Ordering::Acquire) > last_failure;
                    last_failure = self.since_epoch(Instant::now());
                    let charge = api_up && a.status != Some(429);
                    if charge {
                        charged += 1;
                    }
                    let give_up = |why: &str| {
                        Outcome::Failed(Failure {
                            reason: format!("{what}; {why}"),
                            status: a.status,
                            response: a.status.map(|_| a.body.clone()),
                            attempts,
                        })
                    };
                    let wait = self.retry.delay(attempts, a.retry_after);
                    if charge {
                        if charged > self.retry.max_retries {
                            return give_up(&format!(
                                "gave up after {attempts} attempts (retry_max_attempts {})",
                                self.retry.max_retries
                            ));
                        }
                        if let Some(max) = self.retry.max_elapsed {
                            if first.elapsed() + wait > max {
                                return give_up(&format!(
                                    "gave up after {attempts} attempts (retry_backoff.max_elapsed_time {})",
                                    crate::config::duration::format(max)
                                ));
                            }
                        }
                    } else if !holding && attempts > self.retry.max_retries {
                        holding = true;
                        tracing::warn!(
                            error = %what,
                            attempts,
                            events = batch.len(),
                            "the API accepts nothing right now (outage or throttling): the batch is held and \
                             retried instead of dead-lettered; Kafka keeps the backlog"
                        );
                    }
                    tracing::warn!(
                        error = %what,
                        response = truncate(&a.body, MAX_RESPONSE_LOG),
                        attempt = attempts,
                        wait_ms = wait.as_millis() as u64,
                        events = batch.len(),
                        "Flexprice request failed; retrying"
                    );
                    if !cx.control.wait(wait) {
                        return Outcome::Abandoned;
                    }
                    m.output_retry.inc();
                }
            }
        }
    }

    fn send_once(&self, batch: &Batch, cx: &WriteContext<'_>) -> Attempt {
        let m = metrics::get();
        let url = if batch.bulk {
            &self.bulk_url
        } else {
            &self.single_url
        };
        m.output_in_flight.inc();
        let started = Instant::now();
        let res = self
            .agent
            .post(url)
            .header("x-api-key", self.api_key.expose())
            .header("content-type", "application/json")
            .send(&batch.body[..]);
        let out = match res {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                // Reading the whole (bounded) body returns the connection to the pool.
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_RESPONSE_READ)
                    .read_to_vec()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                latency::record_batch(started.elapsed());
                Attempt {
                    sent: started,
                    status: Some(status),
                    body,
                    retry_after,
                }
            }
            Err(e) => Attempt {
                sent: started,
                status: None,
                body: format!("request failed: {e}"),
                retry_after: None,
            },
        };
        m.output_in_flight.dec();
        // Readiness: the API answered (anything but a server error) = connected.
        match out.status {
            Some(s) if s < 500 => cx.health.connected(),
            Some(s) => cx.health.disconnected(&format!("POST {url}: HTTP {s}")),
            None => cx.health.disconnected(&format!("POST {url}: {}", out.body)),
        }
        out
    }
}
