//! Request bodies assembled from pre-encoded events, and the batching policy the runtime cuts
//! the event stream with.
//!
//! A bulk body is `{"events":[e1,e2,…]}` built by concatenating the bytes the encoder made;
//! each event's byte range is remembered so a rejected batch can be split (bisected) without
//! re-encoding anything.

use std::ops::Range;

use super::config::Batching;
use super::encode::{BULK_OVERHEAD, MAX_BODY_BYTES};
use crate::pipeline::{BatchPolicy, Event};

/// The bulk API's per-request event cap.
pub const MAX_BULK_EVENTS: usize = 1000;

const OPEN: &[u8] = b"{\"events\":[";
const CLOSE: &[u8] = b"]}";

/// One event inside a batch: where its bytes are in the body.
#[derive(Debug)]
pub struct Item {
    pub range: Range<usize>,
    pub event: Event,
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
    /// The body for `events` (each already encoded: `Body::Ready`).
    pub fn new(bulk: bool, events: Vec<Event>) -> Batch {
        let bytes: usize = events.iter().map(|e| e.bytes().len() + 1).sum();
        let mut body = Vec::with_capacity(bytes + OPEN.len() + CLOSE.len());
        if bulk {
            body.extend_from_slice(OPEN);
        }
        let mut items = Vec::with_capacity(events.len());
        for event in events {
            if bulk && !items.is_empty() {
                body.push(b',');
            }
            let start = body.len();
            body.extend_from_slice(event.bytes());
            items.push(Item {
                range: start..body.len(),
                event,
            });
        }
        if bulk {
            body.extend_from_slice(CLOSE);
        }
        Batch { bulk, body, items }
    }

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
        let mut events: Vec<Event> = self.items.into_iter().map(|i| i.event).collect();
        let second = events.split_off(mid);
        (Batch::new(true, events), Batch::new(true, second))
    }

    /// The events, out of the batch.
    pub fn into_events(self) -> Vec<Event> {
        self.items.into_iter().map(|i| i.event).collect()
    }
}

/// Bento's routing and the API's limits as the runtime's batching rules: no policy
/// (`is_noop`) sends every event alone to `/v1/events`; any policy sends `/v1/events/bulk`.
/// Limits are upper bounds capped at the API's.
pub fn policy(b: &Batching) -> (bool, BatchPolicy) {
    if b.is_noop() {
        return (
            false,
            BatchPolicy {
                max_count: 1,
                max_bytes: MAX_BODY_BYTES,
                separator: 0,
                framing: 0,
                period: None,
                at_hand: false,
            },
        );
    }
    (
        true,
        BatchPolicy {
            max_count: match b.count {
                0 => MAX_BULK_EVENTS,
                n => n.min(MAX_BULK_EVENTS),
            },
            max_bytes: match b.byte_size {
                0 => MAX_BODY_BYTES,
                n => n.clamp(BULK_OVERHEAD + 2, MAX_BODY_BYTES),
            },
            // A comma between two events, and the `{"events":[` … `]}` around them.
            separator: 1,
            framing: BULK_OVERHEAD,
            period: (!b.period.is_zero()).then(|| b.period.get()),
            at_hand: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Duration as CfgDuration;
    use crate::pipeline::{Ack, Body, Origin};

    fn policy_of(count: usize, byte_size: usize, period_ms: u64) -> (bool, BatchPolicy) {
        policy(&Batching {
            count,
            byte_size,
            period: CfgDuration::from_millis(period_ms),
        })
    }

    fn ev(i: usize) -> Event {
        Event::new(
            Body::Ready(format!("{{\"event_name\":\"e{i}\"}}").into_bytes()),
            Origin::default(),
            Ack::none(),
        )
    }

    fn events_of(b: &Batch) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_slice(&b.body).expect("valid json body");
        v["events"].as_array().expect("events array").clone()
    }

    #[test]
    fn routing_follows_bento_is_noop() {
        assert!(!policy_of(0, 0, 0).0);
        assert!(!policy_of(1, 0, 0).0, "count 1 alone is no batching");
        assert!(policy_of(2, 0, 0).0);
        assert!(policy_of(1, 0, 10).0);
        assert!(policy_of(0, 100, 0).0);
        assert_eq!(policy_of(0, 0, 0).1.max_count, 1);
        assert_eq!(
            policy_of(0, 0, 1000).1.max_count,
            1000,
            "count caps at 1000"
        );
        assert_eq!(policy_of(5000, 0, 0).1.max_count, 1000);
    }

    #[test]
    fn single_mode_sends_the_bare_event() {
        let b = Batch::new(false, vec![ev(1)]);
        assert_eq!(b.body, ev(1).bytes());
        assert!(!b.bulk);
    }

    #[test]
    fn the_byte_limit_bounds_the_real_body() {
        let (_, p) = policy_of(0, 100, 0);
        let events: Vec<Event> = (0..4).map(ev).collect();
        let bytes: usize = events.iter().map(|e| e.bytes().len()).sum();
        let b = Batch::new(true, events);
        assert!(
            b.body.len() <= p.size(4, bytes),
            "{} > {}",
            b.body.len(),
            p.size(4, bytes)
        );
        assert_eq!(events_of(&b).len(), 4);
    }

    #[test]
    fn split_keeps_every_event_once_with_valid_bodies() {
        let b = Batch::new(true, (0..5).map(ev).collect());
        let (l, r) = b.split();
        assert_eq!((l.len(), r.len()), (2, 3));
        let names: Vec<_> = events_of(&l)
            .into_iter()
            .chain(events_of(&r))
            .map(|e| e["event_name"].as_str().map(String::from))
            .collect();
        assert_eq!(names.len(), 5);
        assert_eq!(names[4].as_deref(), Some("e4"));
        assert_eq!(r.event_bytes(&r.items[0]), ev(2).bytes());
    }
}
