//! Batches: request bodies assembled from pre-encoded events, and the policy that cuts them.
//!
//! A bulk body is `{"events":[e1,e2,…]}` built by concatenating the bytes the encoder made;
//! each event's byte range is remembered so a rejected batch can be split (bisected) without
//! re-encoding anything.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::pipeline::Ack;
use crate::pipeline::Origin;

use super::config::Batching;
use super::encode::{BULK_OVERHEAD, MAX_BODY_BYTES};

/// The bulk API's per-request event cap.
pub const MAX_BULK_EVENTS: usize = 1000;

const OPEN: &[u8] = b"{\"events\":[";
const CLOSE: &[u8] = b"]}";

/// One event inside a batch: where its bytes are in the body, and what to ack.
#[derive(Debug)]
pub struct Item {
    pub range: Range<usize>,
    pub ack: Ack,
    pub origin: Origin,
}

/// A request body and the events it carries.
#[derive(Debug)]
pub struct Batch {
    /// `POST /v1/events/bulk` with `{"events":[…]}`; otherwise `POST /v1/events` with the
    /// single event as the body.
    pub bulk: bool,
    pub body: Vec<u8>,
    pub items: Vec<Item>,
}

impl Batch {
    /// The encoded JSON of one event.
    pub fn event_bytes(&self, item: &Item) -> &[u8] {
        self.body.get(item.range.clone()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Split a bulk batch into two halves (first half gets the smaller share), each with its
    /// own body. Used to isolate the events a 400 is about.
    pub fn split(self) -> (Batch, Batch) {
        let mid = self.items.len() / 2;
        let mut items = self.items;
        let second = items.split_off(mid);
        let a = Self::rebuild(&self.body, items);
        let b = Self::rebuild(&self.body, second);
        (a, b)
    }

    fn rebuild(old: &[u8], items: Vec<Item>) -> Batch {
        let bytes: usize = items.iter().map(|it| it.range.len() + 1).sum();
        let mut open = Open::new(true, (bytes + OPEN.len() + CLOSE.len(), items.len()));
        for it in items {
            let bytes = old.get(it.range.clone()).unwrap_or_default();
            open.add(bytes, it.ack, it.origin);
        }
        open.finish()
    }
}

/// The flush rules, resolved from the config into hard numbers.
#[derive(Clone, Debug)]
pub struct Policy {
    pub bulk: bool,
    pub max_count: usize,
    pub max_bytes: usize,
    pub period: Option<Duration>,
}

impl Policy {
    /// Bento's routing: no policy (`is_noop`) sends every event alone to `/v1/events`; any
    /// policy sends `/v1/events/bulk`. Limits are upper bounds capped at the API's.
    pub fn from_config(b: &Batching) -> Policy {
        if b.is_noop() {
            return Policy {
                bulk: false,
                max_count: 1,
                max_bytes: MAX_BODY_BYTES,
                period: None,
            };
        }
        Policy {
            bulk: true,
            max_count: match b.count {
                0 => MAX_BULK_EVENTS,
                n => n.min(MAX_BULK_EVENTS),
            },
            max_bytes: match b.byte_size {
                0 => MAX_BODY_BYTES,
                n => n.clamp(BULK_OVERHEAD + 2, MAX_BODY_BYTES),
            },
            period: (!b.period.is_zero()).then(|| b.period.get()),
        }
    }
}

/// The batch being filled.
#[derive(Debug)]
pub struct Open {
    bulk: bool,
    body: Vec<u8>,
    items: Vec<Item>,
}

impl Open {
    /// An empty batch with room for `room` (body bytes, events) up front.
    fn new(bulk: bool, room: (usize, usize)) -> Open {
        let mut body = Vec::with_capacity(room.0);
        if bulk {
            body.extend_from_slice(OPEN);
        }
        Open {
            bulk,
            body,
            items: Vec::with_capacity(room.1),
        }
    }

    /// Body size once closed, if `extra` more event bytes were added.
    fn size_with(&self, extra: usize) -> usize {
        if !self.bulk {
            return self.body.len() + extra;
        }
        let sep = usize::from(!self.items.is_empty());
        self.body.len() + sep + extra + CLOSE.len()
    }

    fn add(&mut self, bytes: &[u8], ack: Ack, origin: Origin) {
        if self.bulk && !self.items.is_empty() {
            self.body.push(b',');
        }
        let start = self.body.len();
        self.body.extend_from_slice(bytes);
        self.items.push(Item {
            range: start..self.body.len(),
            ack,
            origin,
        });
    }

    fn finish(mut self) -> Batch {
        if self.bulk {
            self.body.extend_from_slice(CLOSE);
        }
        Batch {
            bulk: self.bulk,
            body: self.body,
            items: self.items,
        }
    }
}

/// Cuts a stream of encoded events into batches.
#[derive(Debug)]
pub struct Batcher {
    policy: Policy,
    open: Open,
    /// When the first event of the open batch arrived: `period` counts from there, so an
    /// event never waits longer than `period` (Bento counts from the last flush instead).
    started: Option<Instant>,
}

impl Batcher {
    pub fn new(policy: Policy) -> Batcher {
        let open = Open::new(policy.bulk, (0, 0));
        Batcher {
            policy,
            open,
            started: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.open.items.is_empty()
    }

    /// When the open batch is due by `period`, if it has events and a period is set.
    pub fn due_at(&self) -> Option<Instant> {
        Some(self.started? + self.policy.period?)
    }

    /// Add an event; completed batches are pushed to `out`. The limits are upper bounds: a
    /// batch is closed *before* an event that would take it past `count` or `byte_size`. An
    /// event bigger than `byte_size` on its own is sent alone (it cannot be split; the encoder
    /// already refused anything over the API's 32 MiB cap).
    pub fn push(
        &mut self,
        bytes: &[u8],
        ack: Ack,
        origin: Origin,
        now: Instant,
        out: &mut Vec<Batch>,
    ) {
        if !self.is_empty() && self.open.size_with(bytes.len()) > self.policy.max_bytes {
            out.push(self.take());
        }
        if self.is_empty() {
            self.started = Some(now);
        }
        self.open.add(bytes, ack, origin);
        if self.open.items.len() >= self.policy.max_count
            || self.open.size_with(0) >= self.policy.max_bytes
        {
            out.push(self.take());
        }
    }

    /// Close the open batch (period elapsed, shutdown). Empty batches are never made.
    pub fn flush(&mut self) -> Option<Batch> {
        (!self.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Batch {
        self.started = None;
        // The next batch starts with room for this one's size plus a margin (within the
        // limits): it is usually the same shape. Grown from empty, a 1000-event body was
        // copied over and over as it doubled, most of the batcher thread's time.
        let body = self.open.body.len() + CLOSE.len();
        let room = (
            (body + body / 8).min(self.policy.max_bytes),
            (self.open.items.len() + 1).min(self.policy.max_count),
        );
        std::mem::replace(&mut self.open, Open::new(self.policy.bulk, room)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as CfgDuration;

    fn policy(count: usize, byte_size: usize, period_ms: u64) -> Policy {
        Policy::from_config(&Batching {
            count,
            byte_size,
            period: CfgDuration::from_millis(period_ms),
        })
    }

    fn ev(i: usize) -> Vec<u8> {
        format!("{{\"event_name\":\"e{i}\"}}").into_bytes()
    }

    fn feed(b: &mut Batcher, n: usize) -> Vec<Batch> {
        let mut out = Vec::new();
        let now = Instant::now();
        for i in 0..n {
            b.push(&ev(i), Ack::none(), Origin::default(), now, &mut out);
        }
        out
    }

    fn events_of(b: &Batch) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&b.body).expect("valid json body");
        v["events"].as_array().expect("events array").clone()
    }

    #[test]
    fn routing_follows_bento_is_noop() {
        assert!(!policy(0, 0, 0).bulk);
        assert!(!policy(1, 0, 0).bulk, "count 1 alone is no batching");
        assert!(policy(2, 0, 0).bulk);
        assert!(policy(1, 0, 10).bulk);
        assert!(policy(0, 100, 0).bulk);
    }

    #[test]
    fn single_mode_sends_bare_events() {
        let mut b = Batcher::new(policy(0, 0, 0));
        let out = feed(&mut b, 3);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].body, ev(1));
        assert!(!out[1].bulk);
        assert!(b.flush().is_none());
    }

    #[test]
    fn count_caps_at_1000_and_chunks() {
        let mut b = Batcher::new(policy(0, 0, 1000));
        let mut out = feed(&mut b, 2500);
        out.extend(b.flush());
        let sizes: Vec<usize> = out.iter().map(Batch::len).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
        assert_eq!(events_of(&out[2]).len(), 500);
        assert_eq!(events_of(&out[0])[999]["event_name"], "e999");
    }

    #[test]
    fn byte_size_is_an_upper_bound() {
        let one = ev(0).len(); // 18 bytes
        let limit = BULK_OVERHEAD + 3 * one + 2; // room for 3 events and their commas
        let mut b = Batcher::new(policy(0, limit, 0));
        let mut out = feed(&mut b, 10);
        out.extend(b.flush());
        for batch in &out {
            assert!(batch.body.len() <= limit, "{} > {limit}", batch.body.len());
            assert_eq!(events_of(batch).len(), batch.len());
        }
        assert_eq!(
            out.iter().map(Batch::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
    }

    #[test]
    fn period_is_counted_from_the_first_event() {
        let mut b = Batcher::new(policy(10, 0, 50));
        assert!(b.due_at().is_none());
        let t0 = Instant::now();
        let mut out = Vec::new();
        b.push(&ev(0), Ack::none(), Origin::default(), t0, &mut out);
        assert_eq!(b.due_at(), Some(t0 + Duration::from_millis(50)));
        b.push(
            &ev(1),
            Ack::none(),
            Origin::default(),
            t0 + Duration::from_millis(30),
            &mut out,
        );
        assert_eq!(b.due_at(), Some(t0 + Duration::from_millis(50)));
        let batch = b.flush().expect("open batch");
        assert_eq!(batch.len(), 2);
        assert!(b.due_at().is_none());
    }

    #[test]
    fn split_keeps_every_event_once_with_valid_bodies() {
        let mut b = Batcher::new(policy(5, 0, 0));
        let out = feed(&mut b, 5);
        let (l, r) = out.into_iter().next().expect("batch").split();
        assert_eq!((l.len(), r.len()), (2, 3));
        let names: Vec<_> = events_of(&l)
            .into_iter()
            .chain(events_of(&r))
            .map(|e| e["event_name"].as_str().map(String::from))
            .collect();
        assert_eq!(names.len(), 5);
        assert_eq!(names[4].as_deref(), Some("e4"));
        assert_eq!(r.event_bytes(&r.items[0]), ev(2).as_slice());
    }
}
