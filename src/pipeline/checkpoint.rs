//! Per-partition offset tracking: acks in any order in, contiguous low watermark out.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Ack;

/// Tracks the in-flight messages of one partition (one assignment of it: a revoked and
/// re-assigned partition gets a fresh `Checkpointer`, so late acks for the old one are harmless).
///
/// Messages must be tracked in increasing offset order (the order a partition delivers them);
/// gaps between offsets (compaction, transaction markers) are fine.
#[derive(Debug)]
pub struct Checkpointer {
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// Sequence number of `entries[0]`.
    front_seq: u64,
    /// (offset, acked) of every tracked message not yet below the watermark, in offset order.
    entries: VecDeque<(i64, bool)>,
    /// Next offset that is safe to commit: every tracked offset below it is acked.
    watermark: Option<i64>,
    /// Highest offset ever tracked.
    last_tracked: Option<i64>,
    acked_total: u64,
}

impl Checkpointer {
    pub fn new() -> Arc<Checkpointer> {
        Arc::new(Checkpointer {
            window: Mutex::new(Window {
                front_seq: 0,
                entries: VecDeque::new(),
                watermark: None,
                last_tracked: None,
                acked_total: 0,
            }),
        })
    }

    /// Start tracking the message at `offset`; the returned [`Ack`] marks it done.
    ///
    /// # Panics
    /// Never on valid use; an offset not greater than the last tracked one is a caller bug and is
    /// tracked anyway (debug builds assert).
    pub fn track(self: &Arc<Self>, offset: i64) -> Ack {
        let mut w = self.window.lock();
        debug_assert!(
            w.last_tracked.is_none_or(|l| offset > l),
            "offsets must increase"
        );
        w.last_tracked = Some(offset);
        let seq = w.front_seq + w.entries.len() as u64;
        w.entries.push_back((offset, false));
        drop(w);
        Ack::checkpoint(Arc::clone(self), seq)
    }

    pub(crate) fn ack(&self, seq: u64) {
        let mut w = self.window.lock();
        w.mark(seq);
        w.advance();
    }

    pub(crate) fn ack_many(&self, seqs: &[u64]) {
        let mut w = self.window.lock();
        for &s in seqs {
            w.mark(s);
        }
        w.advance();
    }

    /// The next offset to commit (one past the highest offset below which everything is acked),
    /// or `None` while nothing has been acked contiguously from the start.
    pub fn watermark(&self) -> Option<i64> {
        self.window.lock().watermark
    }

    /// Move the watermark to `offset` when nothing is in flight and `offset` is past it: the
    /// offsets in between belong to records the consumer never hands out (transaction
    /// markers, the records of aborted transactions), which are done by definition. The
    /// caller vouches for that; no tracked message can be skipped, since one in flight blocks
    /// the move. True if the watermark moved.
    pub fn skip_to(&self, offset: i64) -> bool {
        let mut w = self.window.lock();
        let behind =
            w.watermark.is_none_or(|wm| wm < offset) && w.last_tracked.is_none_or(|l| l < offset);
        if !w.entries.is_empty() || !behind {
            return false;
        }
        w.watermark = Some(offset);
        // Later messages come from `offset` on.
        w.last_tracked = Some(offset - 1);
        true
    }

    /// Messages tracked but not yet below the watermark (acked-out-of-order ones included:
    /// they still hold their place until everything before them is done).
    pub fn in_flight(&self) -> usize {
        self.window.lock().entries.len()
    }

    /// Number of distinct messages acked so far.
    pub fn acked_total(&self) -> u64 {
        self.window.lock().acked_total
    }
}

impl Window {
    fn mark(&mut self, seq: u64) {
        if seq < self.front_seq {
            return; // already below the watermark: cannot happen with move-only Acks
        }
        let idx = (seq - self.front_seq) as usize;
        if let Some(e) = self.entries.get_mut(idx) {
            if !e.1 {
                e.1 = true;
                self.acked_total += 1;
            }
        }
    }

    fn advance(&mut self) {
        while let Some(&(offset, true)) = self.entries.front() {
            self.entries.pop_front();
            self.front_seq += 1;
            self.watermark = Some(offset + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_oldest_unacked() {
        let cp = Checkpointer::new();
        let mut acks: Vec<Option<Ack>> = [10, 11, 12, 15, 16]
            .iter()
            .map(|&o| Some(cp.track(o)))
            .collect();
        assert_eq!(cp.watermark(), None);
        acks[2].take().expect("ack").ack(); // 12
        acks[4].take().expect("ack").ack(); // 16
        assert_eq!(cp.watermark(), None, "10 and 11 are not done");
        acks[0].take().expect("ack").ack(); // 10
        assert_eq!(cp.watermark(), Some(11));
        acks[1].take().expect("ack").ack(); // 11 -> 12 already done
        assert_eq!(cp.watermark(), Some(13));
        assert_eq!(cp.in_flight(), 2);
        acks[3].take().expect("ack").ack(); // 15 -> 16 already done
        assert_eq!(cp.watermark(), Some(17));
        assert_eq!(cp.in_flight(), 0);
        assert_eq!(cp.acked_total(), 5);
    }

    #[test]
    fn skip_to_moves_only_an_idle_watermark_forward() {
        let cp = Checkpointer::new();
        assert!(
            cp.skip_to(3),
            "nothing tracked yet: records 0..3 were never handed out"
        );
        assert_eq!(cp.watermark(), Some(3));
        let a = cp.track(5);
        assert!(!cp.skip_to(9), "5 is in flight");
        assert_eq!(cp.watermark(), Some(3));
        a.ack();
        assert_eq!(cp.watermark(), Some(6));
        assert!(
            !cp.skip_to(6) && !cp.skip_to(4),
            "never backwards or in place"
        );
        assert!(cp.skip_to(8), "a marker at 6 and 7");
        assert_eq!(cp.watermark(), Some(8));
        cp.track(8).ack();
        assert_eq!(cp.watermark(), Some(9));
    }

    #[test]
    fn acks_in_every_order_from_many_threads_reach_the_end() {
        let cp = Checkpointer::new();
        let acks: Vec<Ack> = (0..10_000).map(|o| cp.track(o * 2)).collect();
        // Deal acks round-robin to 4 threads, each acking its share in reverse.
        let mut shares: Vec<Vec<Ack>> = (0..4).map(|_| Vec::new()).collect();
        for (i, a) in acks.into_iter().enumerate() {
            shares[i % 4].push(a);
        }
        let handles: Vec<_> = shares
            .into_iter()
            .map(|mut s| {
                std::thread::spawn(move || {
                    while let Some(a) = s.pop() {
                        a.ack();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("ack thread");
        }
        assert_eq!(cp.watermark(), Some(19_999));
        assert_eq!(cp.acked_total(), 10_000);
        assert_eq!(cp.in_flight(), 0);
    }

    #[test]
    fn batched_acks_count_once_and_advance() {
        let cp = Checkpointer::new();
        let acks: Vec<Ack> = (100..200).map(|o| cp.track(o)).collect();
        let (first, rest): (Vec<_>, Vec<_>) =
            acks.into_iter().enumerate().partition(|(i, _)| *i < 50);
        Ack::ack_all(rest.into_iter().map(|(_, a)| a));
        assert_eq!(cp.watermark(), None);
        Ack::ack_all(first.into_iter().map(|(_, a)| a));
        assert_eq!(cp.watermark(), Some(200));
        assert_eq!(cp.acked_total(), 100);
    }

    #[test]
    fn dropped_ack_holds_the_watermark() {
        let cp = Checkpointer::new();
        let a0 = cp.track(0);
        let a1 = cp.track(1);
        drop(a0); // nack: never done
        a1.ack();
        assert_eq!(cp.watermark(), None, "a nacked message must be redelivered");
        assert_eq!(cp.in_flight(), 2);
    }
}
