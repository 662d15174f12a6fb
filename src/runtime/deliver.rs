//! The output stage: cut the event stream into batches by the output's [`BatchPolicy`], and
//! have a pool of `max_in_flight` writers deliver them and ack what was delivered.
//!
//! ```text
//! events ──▶ batcher (this thread) ──bounded(max_in_flight)──▶ writers ──▶ Output::write
//!                                                                ├─ delivered: ack
//!                                                                ├─ abandoned: dropped un-acked
//!                                                                └─ failed: written again
//! ```
//! An event that the whole output (a fallback's last output included) refused is written
//! again with backoff, as Bento retries a nacked message, never acked and never dropped: the
//! partition's commit point waits for it and the logs say why.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::output::Backoff;
use crate::pipeline::telemetry::health::StageHealth;
use crate::pipeline::telemetry::metrics;
use crate::pipeline::{Ack, BatchPolicy, Body, Control, Event, Output, WriteContext};

/// Events that failed processing, collected before one write (one fsync for many) while
/// such events keep coming; written as soon as the stream pauses.
const FAILED_GROUP: usize = 256;

/// Deliver everything `events` brings until it closes; then every batch is written (or, past
/// the shutdown deadline, abandoned). `Err` when the output broke.
pub fn run(
    output: &dyn Output,
    events: &Receiver<Vec<Event>>,
    ctl: &Control,
) -> anyhow::Result<()> {
    let writers = output.max_in_flight().max(1);
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Event>>(writers);
    let broken: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| -> anyhow::Result<()> {
        for i in 0..writers {
            let rx = rx.clone();
            let broken = &broken;
            std::thread::Builder::new()
                .name(format!("{}-write-{i}", output.name()))
                .spawn_scoped(s, move || {
                    for batch in &rx {
                        if broken.lock().is_some() {
                            continue; // the output is broken: batches stay un-acked
                        }
                        if let Err(e) = write_until_done(output, batch, ctl) {
                            broken.lock().get_or_insert(e);
                            ctl.request_stop();
                        }
                    }
                })?;
        }
        drop(rx);
        batch_loop(events, &tx, &output.batching());
        drop(tx); // writers finish what is queued, then exit; the scope joins them
        Ok(())
    })?;
    match broken.into_inner() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Write a batch until every event is delivered or abandoned.
fn write_until_done(output: &dyn Output, events: Vec<Event>, ctl: &Control) -> anyhow::Result<()> {
    let cx = WriteContext {
        control: ctl,
        health: StageHealth::output(),
    };
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
        max_elapsed: None,
        max_retries: 0,
    };
    let mut pending = events;
    let mut attempt = 0u32;
    // `/ready`: an output at work that has never delivered is not ready yet.
    let _working = cx.health.write_started();
    loop {
        let done = output.write(pending, &cx)?;
        if !done.delivered.is_empty() {
            cx.health.delivered();
        }
        Ack::ack_all(done.delivered.into_iter().map(|e| e.ack));
        drop(done.abandoned);
        if done.failed.is_empty() {
            return Ok(());
        }
        attempt += 1;
        let wait = backoff.delay(attempt, None);
        tracing::error!(
            output = output.name(),
            events = done.failed.len(),
            reason = %done.failed[0].1.reason,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "no output took these events; writing them again (they stay un-acked meanwhile)"
        );
        if !ctl.wait(wait) {
            return Ok(()); // past the shutdown deadline: un-acked, redelivered on restart
        }
        pending = done.failed.into_iter().map(|(e, _)| e).collect();
    }
}

/// Cut the stream into batches until `events` closes, then send what is left.
fn batch_loop(events: &Receiver<Vec<Event>>, out: &Sender<Vec<Event>>, policy: &BatchPolicy) {
    let m = metrics::get();
    let mut open = Open::new(policy);
    let mut failed: Vec<Event> = Vec::new();
    // `bento_batch_created` counts the batches of a batching policy (the flexprice output's
    // requests), not the "what is at hand" writes of stdout or drop.
    let counted = !policy.at_hand;
    let send = |batch: Vec<Event>, count: bool| -> bool {
        if batch.is_empty() {
            return true;
        }
        if count && counted {
            m.batch_created.inc();
        }
        out.send(batch).is_ok()
    };
    loop {
        let next = match open.due_at() {
            Some(at) => events.recv_deadline(at),
            None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let ok = match next {
            Ok(chunk) => {
                let now = Instant::now();
                let mut ok = true;
                for ev in chunk {
                    if matches!(ev.body, Body::Failed { .. }) {
                        failed.push(ev);
                        continue;
                    }
                    for full in open.push(ev, now) {
                        ok &= send(full, true);
                    }
                }
                let paused = events.is_empty();
                if paused && policy.at_hand {
                    ok &= send(open.take(), true);
                }
                // A failed event never waits for company once the stream pauses.
                if failed.len() >= FAILED_GROUP || (paused && !failed.is_empty()) {
                    ok &= send(std::mem::take(&mut failed), false);
                }
                ok
            }
            Err(RecvTimeoutError::Timeout) => send(open.take(), true),
            Err(RecvTimeoutError::Disconnected) => {
                send(std::mem::take(&mut failed), false);
                send(open.take(), true);
                return;
            }
        };
        if !ok {
            return; // the writers are gone (cannot happen while the scope runs)
        }
    }
}

/// The batch being filled.
struct Open<'p> {
    policy: &'p BatchPolicy,
    events: Vec<Event>,
    bytes: usize,
    /// When the first event of the open batch arrived: `period` counts from there, so an
    /// event never waits longer than `period` (Bento counts from the last flush instead).
    started: Option<Instant>,
    /// The size the next batch starts with room for: usually the same shape as the last.
    room: usize,
}

impl<'p> Open<'p> {
    fn new(policy: &'p BatchPolicy) -> Open<'p> {
        Open {
            policy,
            events: Vec::new(),
            bytes: 0,
            started: None,
            room: 0,
        }
    }

    /// When the open batch is due by `period`, if it has events and a period is set.
    fn due_at(&self) -> Option<Instant> {
        Some(self.started? + self.policy.period?)
    }

    /// Add an event; returns the batches it completed. The limits are upper bounds: a batch is
    /// closed *before* an event that would take it past `max_count` or `max_bytes`. An event
    /// bigger than `max_bytes` on its own is sent alone.
    fn push(&mut self, ev: Event, now: Instant) -> Vec<Vec<Event>> {
        let mut full = Vec::new();
        let len = ev.bytes().len();
        let p = self.policy;
        if !self.events.is_empty() && p.size(self.events.len() + 1, self.bytes + len) > p.max_bytes
        {
            full.push(self.take());
        }
        if self.events.is_empty() {
            self.started = Some(now);
            self.events.reserve(self.room.min(p.max_count));
        }
        self.events.push(ev);
        self.bytes += len;
        if self.events.len() >= p.max_count || p.size(self.events.len(), self.bytes) >= p.max_bytes
        {
            full.push(self.take());
        }
        full
    }

    /// Close the open batch (full, period elapsed, stream paused, shutdown).
    fn take(&mut self) -> Vec<Event> {
        self.started = None;
        self.bytes = 0;
        self.room = self.room.max(self.events.len());
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Origin, Position};
    use std::sync::Arc;

    fn ev(i: usize) -> Event {
        Event::new(
            Body::Ready(format!("{{\"event_name\":\"e{i}\"}}").into_bytes()),
            Origin::at(Position::Sequence {
                input: Arc::from("t"),
                seq: i as u64,
            }),
            Ack::none(),
        )
    }

    fn policy(count: usize, bytes: usize, period_ms: u64) -> BatchPolicy {
        BatchPolicy {
            max_count: count,
            max_bytes: bytes,
            separator: 1,
            framing: 13,
            period: (period_ms > 0).then(|| Duration::from_millis(period_ms)),
            at_hand: false,
        }
    }

    fn sizes(batches: &[Vec<Event>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    #[test]
    fn count_is_an_upper_bound() {
        let p = policy(1000, usize::MAX, 0);
        let mut open = Open::new(&p);
        let now = Instant::now();
        let mut out: Vec<Vec<Event>> = (0..2500).flat_map(|i| open.push(ev(i), now)).collect();
        out.push(open.take());
        assert_eq!(sizes(&out), vec![1000, 1000, 500]);
    }

    #[test]
    fn byte_size_is_an_upper_bound() {
        let one = ev(0).bytes().len(); // 18 bytes
        let limit = 13 + 3 * one + 2; // room for 3 events and the commas between them
        let p = policy(1000, limit, 0);
        let mut open = Open::new(&p);
        let now = Instant::now();
        let mut out: Vec<Vec<Event>> = (0..10).flat_map(|i| open.push(ev(i), now)).collect();
        out.push(open.take());
        assert_eq!(sizes(&out), vec![3, 3, 3, 1]);
        for b in &out {
            let bytes: usize = b.iter().map(|e| e.bytes().len()).sum();
            assert!(p.size(b.len(), bytes) <= limit);
        }
    }

    #[test]
    fn period_is_counted_from_the_first_event() {
        let p = policy(10, usize::MAX, 50);
        let mut open = Open::new(&p);
        assert!(open.due_at().is_none());
        let t0 = Instant::now();
        assert!(open.push(ev(0), t0).is_empty());
        assert_eq!(open.due_at(), Some(t0 + Duration::from_millis(50)));
        assert!(open.push(ev(1), t0 + Duration::from_millis(30)).is_empty());
        assert_eq!(open.due_at(), Some(t0 + Duration::from_millis(50)));
        assert_eq!(open.take().len(), 2);
        assert!(open.due_at().is_none());
    }

    /// The loop: failed events travel apart (and are not batches), at-hand batching closes a
    /// batch when the stream pauses, and nothing is left behind when the stream ends.
    #[test]
    fn the_loop_sends_everything_and_keeps_failed_events_apart() {
        let (in_tx, in_rx) = crossbeam_channel::bounded(4);
        let (out_tx, out_rx) = crossbeam_channel::bounded(64);
        let mut chunk: Vec<Event> = (0..5).map(ev).collect();
        chunk.push(Event::new(
            Body::Failed {
                raw: b"x".to_vec(),
                reason: "bad".into(),
            },
            Origin::default(),
            Ack::none(),
        ));
        in_tx.send(chunk).expect("queued");
        drop(in_tx);
        batch_loop(&in_rx, &out_tx, &BatchPolicy::at_hand(3));
        drop(out_tx);
        let got: Vec<Vec<Event>> = out_rx.iter().collect();
        let failed: Vec<usize> = got
            .iter()
            .filter(|b| matches!(b[0].body, Body::Failed { .. }))
            .map(Vec::len)
            .collect();
        assert_eq!(failed, vec![1]);
        let ready: usize = got
            .iter()
            .filter(|b| matches!(b[0].body, Body::Ready(_)))
            .map(|b| {
                assert!(b.len() <= 3);
                b.len()
            })
            .sum();
        assert_eq!(ready, 5);
    }
}
