//! Acknowledgements: the at-least-once backbone.
//!
//! Every message an input emits carries an [`Ack`]. The output consumes it (by value, so the type
//! system makes a second ack impossible) once the message is *done*: accepted by the API, written
//! to the dead-letter sink, or filtered out by a mapping. An `Ack` dropped without being acked is a
//! "nack": nothing is recorded and the source will redeliver the message after a restart.
//!
//! Inputs choose what an ack means:
//! - [`Checkpointer`] (one per Kafka partition) turns acks arriving in any order into the
//!   contiguous low watermark: the next offset that is safe to commit. A later acked offset never
//!   moves the watermark past an earlier un-acked one.
//! - [`AckCounter`] only counts, for finite inputs (stdin, files, generate) whose position is not
//!   persisted.
//!
//! Acks are recorded directly in shared, bounded state (no ack channel), so an output can never
//! block on an input that is itself blocked on a full queue.

use super::Checkpointer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Proof that one message is done. Consume it with [`Ack::ack`].
#[must_use = "an Ack that is dropped un-acked means the message will be redelivered"]
pub struct Ack {
    target: Target,
}

enum Target {
    None,
    Counter(Arc<AckCounter>),
    Checkpoint(Arc<Checkpointer>, u64),
}

impl Ack {
    /// An ack that records nothing (tests, synthetic messages).
    pub fn none() -> Ack {
        Ack {
            target: Target::None,
        }
    }

    pub(crate) fn checkpoint(cp: Arc<Checkpointer>, seq: u64) -> Ack {
        Ack {
            target: Target::Checkpoint(cp, seq),
        }
    }

    /// Mark the message done. Exactly once: this consumes the handle.
    pub fn ack(self) {
        match self.target {
            Target::None => {}
            Target::Counter(c) => {
                c.acked.fetch_add(1, Ordering::Release);
            }
            Target::Checkpoint(cp, seq) => cp.ack(seq),
        }
    }

    /// Ack many at once; acks that share a checkpointer take its lock once per run.
    pub fn ack_all(acks: impl IntoIterator<Item = Ack>) {
        let mut run: Option<(Arc<Checkpointer>, Vec<u64>)> = None;
        for a in acks {
            match a.target {
                Target::Checkpoint(cp, seq) => match &mut run {
                    Some((cur, seqs)) if Arc::ptr_eq(cur, &cp) => seqs.push(seq),
                    _ => {
                        if let Some((cur, seqs)) = run.take() {
                            cur.ack_many(&seqs);
                        }
                        run = Some((cp, vec![seq]));
                    }
                },
                other => Ack { target: other }.ack(),
            }
        }
        if let Some((cur, seqs)) = run {
            cur.ack_many(&seqs);
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::None => f.write_str("Ack(none)"),
            Target::Counter(_) => f.write_str("Ack(counter)"),
            Target::Checkpoint(_, seq) => write!(f, "Ack(checkpoint #{seq})"),
        }
    }
}

/// Counts issued and acked messages of an input whose position is not persisted.
#[derive(Debug, Default)]
pub struct AckCounter {
    issued: AtomicU64,
    acked: AtomicU64,
}

impl AckCounter {
    pub fn new() -> Arc<AckCounter> {
        Arc::new(AckCounter::default())
    }

    /// A fresh ack handle for one more message.
    pub fn issue(self: &Arc<Self>) -> Ack {
        self.issued.fetch_add(1, Ordering::Relaxed);
        Ack {
            target: Target::Counter(Arc::clone(self)),
        }
    }

    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Acquire)
    }

    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_counts_each_ack_once() {
        let c = AckCounter::new();
        let acks: Vec<Ack> = (0..10).map(|_| c.issue()).collect();
        assert_eq!(c.issued(), 10);
        assert_eq!(c.acked(), 0);
        let mut it = acks.into_iter();
        it.next().expect("ack").ack();
        assert_eq!(c.acked(), 1);
        Ack::ack_all(it.by_ref().take(5));
        assert_eq!(c.acked(), 6);
        drop(it); // dropped un-acked: nacks, not counted
        assert_eq!(c.acked(), 6);
    }
}
