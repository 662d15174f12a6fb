//! The sender pool's work: send a batch, classify the answer, retry, bisect, dead-letter, ack.
//!
//! A retrying batch keeps its sender thread busy, so retries count against `max_in_flight`
//! instead of piling up new requests (the retry storms and memory blow-ups seen in other
//! Kafka→HTTP pipelines). Every event of a batch ends in exactly one of three ways: acked
//! after a 2xx, acked after a durable dead-letter write, or left un-acked (dropped) when the
//! shutdown deadline passes, to be redelivered on the next start.
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
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::config::Secret;
use crate::pipeline::telemetry::{health, latency, metrics};
use crate::pipeline::Ack;
use crate::pipeline::Control;

use super::batch::Batch;
use super::dead_letter::{truncate, DeadLetterSink, Payload, Record};
use super::retry::{classify, parse_retry_after, Class, RetryPolicy};

/// Largest response body read (the rest is discarded); error bodies are small.
const MAX_RESPONSE_READ: u64 = 64 * 1024;
/// Longest response excerpt put in a log line.
const MAX_RESPONSE_LOG: usize = 1024;

/// Everything a sender thread needs; shared by reference across the pool.
pub struct Sender {
    pub agent: ureq::Agent,
    pub single_url: String,
    pub bulk_url: String,
    pub api_key: Secret,
    pub retry: RetryPolicy,
    pub dead_letter: DeadLetterSink,
    /// Reference point for [`Sender::last_accepted_sent`].
    pub epoch: Instant,
    /// When (nanoseconds after `epoch`) the most recently sent request that the API accepted
    /// (2xx) was sent, by any sender thread: tells an outage from a batch-specific failure.
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
    /// Given up: dead-letter with this.
    Failed {
        reason: String,
        status: Option<u16>,
        response: Option<String>,
        attempts: u32,
    },
    /// The shutdown deadline passed: leave un-acked.
    Abandoned,
}

impl Sender {
    /// A sender thread's loop: until the batch channel closes.
    pub fn run(&self, batches: &Receiver<Batch>, ctl: &Control) {
        for batch in batches {
            self.deliver(batch, ctl);
        }
    }

    /// Deliver one batch to its end (see the module docs).
    pub fn deliver(&self, batch: Batch, ctl: &Control) {
        if ctl.past_deadline() {
            // Never sent (or the rest of a split batch), never acked: redelivered on the next
            // start. The runtime no longer waits for us.
            drop(batch);
            return;
        }
        match self.send_with_retry(&batch, ctl) {
            Outcome::Accepted => {
                tracing::debug!(
                    events = batch.len(),
                    bulk = batch.bulk,
                    bytes = batch.body.len(),
                    "events accepted by the Flexprice API"
                );
                metrics::get().output_sent.add(batch.len() as u64);
                latency::record_delivered(batch.items.iter().map(|i| &i.origin));
                Ack::ack_all(batch.items.into_iter().map(|i| i.ack));
            }
            Outcome::Failed {
                status: Some(status @ (400 | 413)),
                ..
            } if batch.bulk && batch.len() > 1 => {
                // One bad event must not sink its neighbours: split and resend each half,
                // until the offenders stand alone and are dead-lettered with the API's reason.
                tracing::warn!(
                    status,
                    events = batch.len(),
                    "bulk request rejected; splitting it to isolate the rejected events"
                );
                let (a, b) = batch.split();
                self.deliver(a, ctl);
                self.deliver(b, ctl);
            }
            Outcome::Failed {
                reason,
                status,
                response,
                attempts,
            } => {
                let body = response.as_deref().unwrap_or("");
                tracing::error!(
                    status = status.map(i64::from).unwrap_or(-1),
                    attempts,
                    events = batch.len(),
                    response = truncate(body, MAX_RESPONSE_LOG),
                    reason = %reason,
                    dead_letter = %self.dead_letter.describe(),
                    "events not accepted by the Flexprice API; writing them to the dead-letter file"
                );
                self.dead_letter_batch(batch, &reason, status, response.as_deref(), attempts);
            }
            Outcome::Abandoned => {
                tracing::warn!(
                    events = batch.len(),
                    "shutdown deadline reached; leaving events un-acked for redelivery"
                );
                drop(batch);
            }
        }
    }

    fn dead_letter_batch(
        &self,
        batch: Batch,
        reason: &str,
        status: Option<u16>,
        response: Option<&str>,
        attempts: u32,
    ) {
        let records: Vec<Record<'_>> = batch
            .items
            .iter()
            .map(|it| Record {
                reason,
                status,
                attempts,
                response,
                event: Payload::Event(batch.event_bytes(it)),
                origin: &it.origin,
            })
            .collect();
        match self.dead_letter.write(&records) {
            Ok(()) => {
                drop(records);
                metrics::get().output_dead_letter.add(batch.len() as u64);
                Ack::ack_all(batch.items.into_iter().map(|i| i.ack));
            }
            Err(e) => {
                // Not durable, so not done: un-acked events are redelivered after a restart.
                tracing::error!(
                    error = %e,
                    path = %self.dead_letter.describe(),
                    events = batch.len(),
                    "cannot write the dead-letter file; events stay un-acked"
                );
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

    fn send_with_retry(&self, batch: &Batch, ctl: &Control) -> Outcome {
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
            let a = self.send_once(batch);
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
                    return Outcome::Failed {
                        reason: format!("rejected by the API ({what}); not retried"),
                        status: a.status,
                        response: Some(a.body),
                        attempts,
                    };
                }
                Class::Transient => {
                    m.output_error.inc();
                    let api_up = self.last_accepted_sent.load(Ordering::Acquire) > last_failure;
                    last_failure = self.since_epoch(Instant::now());
                    let charge = api_up && a.status != Some(429);
                    if charge {
                        charged += 1;
                    }
                    let give_up = |why: &str| Outcome::Failed {
                        reason: format!("{what}; {why}"),
                        status: a.status,
                        response: a.status.map(|_| a.body.clone()),
                        attempts,
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
                    if !wait_or_deadline(wait, ctl) {
                        return Outcome::Abandoned;
                    }
                    m.output_retry.inc();
                }
            }
        }
    }

    fn send_once(&self, batch: &Batch) -> Attempt {
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
            Some(s) if s < 500 => health::set_output_connected(true, ""),
            Some(s) => health::set_output_connected(false, &format!("POST {url}: HTTP {s}")),
            None => health::set_output_connected(false, &format!("POST {url}: {}", out.body)),
        }
        out
    }
}

/// Wait `d` for the next retry. Returns false (give up, leave un-acked) when a shutdown
/// deadline would pass before the retry could start: waiting longer is pointless, the
/// runtime stops waiting for us at that deadline.
fn wait_or_deadline(d: Duration, ctl: &Control) -> bool {
    let until = Instant::now() + d;
    loop {
        if ctl.stop_requested() {
            return match ctl.deadline() {
                Some(deadline) if deadline <= until => false,
                _ => {
                    // Stop requested but time remains: the stopping channel is closed (always
                    // ready), so wait on a plain timer.
                    let left = until.saturating_duration_since(Instant::now());
                    std::thread::sleep(left);
                    true
                }
            };
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        crossbeam_channel::select! {
            recv(ctl.stopping()) -> _ => continue,
            default(left) => return true,
        }
    }
}
