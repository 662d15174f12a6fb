//! The flexprice output's writes: send a batch, classify the answer, retry, bisect, and say
//! per event whether the API took it.
//!
//! A retrying batch keeps its sender thread busy, so retries count against `max_in_flight`
//! instead of piling up new requests (the retry storms and memory blow-ups seen in other
//! Kafka→HTTP pipelines). Every event of a batch ends in exactly one of three ways: delivered
//! after a success (202, or a status in `successful_on`; nothing else), failed (with the
//! reason, for the fallback: the dead-letter target), or abandoned when the shutdown deadline
//! passes, to be redelivered on the next start.
//!
//! Only the events' own faults fail them: a rejection that names them (400/422 with the API's
//! error, 413 once bisected down to the event, `drop_on`), or a batch the API keeps failing
//! while it takes other requests (the retry budget, below). The pipeline's faults (a refused
//! key, a wrong route or host, a redirect, TLS, a refused connection) and outages hold the
//! batch instead: it is retried at the capped interval, the senders fill, the input pauses
//! its partitions and keeps polling (so the group keeps us), the backlog waits in Kafka, and
//! `/ready` says what to fix. Dead-lettering them would turn a typo in a config into a manual
//! replay of the whole stream.
//!
//! The retry budget (`retry_max_attempts`, `retry_backoff.max_elapsed_time`) exists to stop a
//! batch the API keeps failing *because of that batch* from blocking a sender for ever. So a
//! transient failure spends the budget only when the API has meanwhile accepted a request
//! that was *sent after this batch's previous failure* (the API is up for others, so this
//! batch is the problem). Requests that were already in flight when an outage began and
//! still got their 202 prove nothing about the API now, hence "sent after". While the API
//! accepts nothing, the batch is held. A 429 never spends the budget: throttling says
//! "slower", never "this batch is bad"; nor does a 2xx that is not a success (a 207 from a
//! gateway says "stored some", not "refused these"). A stop still ends the wait at
//! `shutdown_timeout`, leaving the batch un-acked for redelivery.
//!
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::Batch;
use super::encode::EventEncoder;
use super::retry::{self, parse_retry_after, Class, Statuses};
use crate::config::Secret;
use crate::output::dead_letter::truncate;
use crate::output::{Backoff, LogLimit};
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
    /// was sent, by any writer: tells an outage from a batch-specific failure.
    pub last_accepted_sent: AtomicU64,
    /// What each answer means (`successful_on`, `backoff_on`, `drop_on`).
    pub statuses: Statuses,
    /// The per-request timeout: `/ready` turns false for a request older than half of it.
    pub timeout: Duration,
    /// A held batch is retried by every sender: its error is logged once a minute.
    pub held_log: LogLimit,
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
    class: Class,
    /// What happened, for logs and dead-letter records: `HTTP 503` or the transport error.
    what: String,
    /// For a held attempt: what to fix (shown by `/ready`, logged).
    remedy: Option<String>,
}

/// How a batch's attempts ended.
enum Outcome {
    Accepted,
    /// The API refused these events: bisected when there are several, else dead-lettered.
    Rejected(Failure),
    /// Given up (retry budget spent), with why.
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
            Outcome::Rejected(f) if batch.bulk && batch.len() > 1 => {
                // One bad event must not sink its neighbours: split and resend each half,
                // until the offenders stand alone and fail with the API's reason.
                tracing::warn!(
                    status = f.status.map(i64::from).unwrap_or(-1),
                    events = batch.len(),
                    "bulk request rejected; splitting it to isolate the rejected events"
                );
                let (a, b) = batch.split();
                self.deliver(a, cx, done);
                self.deliver(b, cx, done);
            }
            Outcome::Rejected(f) | Outcome::Failed(f) => {
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
        // Held for the pipeline's fault at least once (logged when it ends).
        let mut refused = false;
        loop {
            attempts += 1;
            let a = self.send_once(batch, cx);
            let what = &a.what;
            match a.class {
                Class::Accepted => {
                    self.note_accepted(&a);
                    if refused {
                        self.held_log.clear();
                        tracing::info!(
                            attempts,
                            events = batch.len(),
                            "the Flexprice API accepts the held batch: delivery resumes"
                        );
                    }
                    return Outcome::Accepted;
                }
                Class::Rejected => {
                    m.output_error.inc();
                    return Outcome::Rejected(Failure {
                        reason: format!("rejected by the API ({what}); not retried"),
                        status: a.status,
                        response: Some(a.body),
                        attempts,
                    });
                }
                Class::Held => {
                    // The pipeline's fault: never charged, never dead-lettered.
                    m.output_error.inc();
                    refused = true;
                    let remedy = a.remedy.as_deref().unwrap_or(what);
                    let wait = self.retry.delay(attempts, a.retry_after);
                    if self.held_log.allow(remedy) {
                        tracing::error!(
                            problem = remedy,
                            error = %what,
                            response = truncate(&a.body, MAX_RESPONSE_LOG),
                            attempt = attempts,
                            events = batch.len(),
                            "the Flexprice API refuses the pipeline, not the events: the batch is held and \
                             retried (never dead-lettered) until this is fixed; Kafka keeps the backlog \
                             (logged once a minute while it lasts)"
                        );
                    } else {
                        tracing::debug!(problem = remedy, attempt = attempts, "batch still held");
                    }
                    if !cx.control.wait(wait) {
                        return Outcome::Abandoned;
                    }
                    m.output_retry.inc();
                }
                Class::Transient => {
                    m.output_error.inc();
                    let other_2xx = a.status.is_some_and(|s| (200..300).contains(&s));
                    if other_2xx {
                        tracing::warn!(
                            status = a.status.unwrap_or(0),
                            response = truncate(&a.body, MAX_RESPONSE_LOG),
                            events = batch.len(),
                            "the Flexprice API answered a 2xx that is not its success (202): the events may \
                             not all be stored, so the whole request is sent again (same event_id and \
                             timestamp: duplicates collapse); list the status in successful_on if it means success"
                        );
                    }
                    let api_up = self.last_accepted_sent.load(Ordering::Acquire) > last_failure;
                    last_failure = self.since_epoch(Instant::now());
                    // Neither throttling nor a 2xx says "this batch is bad".
                    let charge = api_up && a.status != Some(429) && !other_2xx;
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
        let in_flight = cx.health.request_sent(self.timeout);
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
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let retry_after = header("retry-after").as_deref().and_then(parse_retry_after);
                let location = header("location");
                // Reading the whole (bounded) body returns the connection to the pool.
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_RESPONSE_READ)
                    .read_to_vec()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                latency::record_batch(started.elapsed());
                let class = self.statuses.classify(status, &body);
                Attempt {
                    sent: started,
                    status: Some(status),
                    retry_after,
                    class,
                    what: format!("HTTP {status}"),
                    remedy: (class == Class::Held)
                        .then(|| retry::remedy(status, url, location.as_deref())),
                    body,
                }
            }
            Err(e) => {
                let (class, remedy) = retry::transport(&e, host_of(url));
                Attempt {
                    sent: started,
                    status: None,
                    body: format!("request failed: {e}"),
                    retry_after: None,
                    class,
                    what: format!("request failed: {e}"),
                    remedy,
                }
            }
        };
        drop(in_flight);
        m.output_in_flight.dec();
        // Readiness: connected unless the answer says the API is away or refuses the
        // pipeline (throttling and rejected events are the API working).
        match (&out.class, out.status) {
            (Class::Held, _) => {
                let why = out.remedy.as_deref().unwrap_or(&out.what);
                cx.health.disconnected(why);
            }
            (Class::Transient, Some(s)) if s >= 500 || (200..300).contains(&s) => {
                cx.health.disconnected(&format!("POST {url}: HTTP {s}"));
            }
            (Class::Transient, None) => {
                cx.health.disconnected(&format!("POST {url}: {}", out.body));
            }
            _ => cx.health.connected(),
        }
        out
    }
}

/// `host[:port]` of a URL, for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}
