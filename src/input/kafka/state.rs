//! The partitions this consumer owns right now, each with its offset tracker.
//!
//! Shared between the poll loop and the rebalance callbacks; both run on the input thread
//! (with `BaseConsumer` the callbacks run inside `poll`), so the lock is never contended and
//! never held across a `poll`.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::{Offset, TopicPartitionList};

use crate::pipeline::Checkpointer;

/// One owned partition (one assignment of it).
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub topic: Arc<str>,
    pub cp: Arc<Checkpointer>,
    /// Next offset expected from the broker; a lower one means the partition was rewound.
    pub next: Option<i64>,
    /// Last watermark handed to librdkafka's offset store.
    pub stored: Option<i64>,
    /// First offset taken in this assignment: where the group's committed offset stood when
    /// it began, as far as this member knows until one of its own commits succeeds.
    pub first: Option<i64>,
    /// Highest offset the group confirmed committing for this partition in this assignment.
    pub committed: Option<i64>,
    /// Paused because `checkpoint_limit` messages are un-acked.
    pub limit_paused: bool,
    /// Lowest offset polled and dropped while paused before any message was taken in this
    /// assignment: where to seek on resume when `next` is still unknown.
    pub dropped_from: Option<i64>,
}

impl PartitionState {
    pub fn new(topic: Arc<str>) -> PartitionState {
        PartitionState {
            topic,
            cp: Checkpointer::new(),
            next: None,
            stored: None,
            first: None,
            committed: None,
            limit_paused: false,
            dropped_from: None,
        }
    }

    /// Messages taken in this assignment that the partition's next owner reads again: all
    /// from the last offset the group committed for it (or, without any commit of ours, from
    /// the first one taken) up to the last taken. Acked ones among them come twice; the rest
    /// (in flight, or filtered out) may.
    pub fn redelivered(&self) -> u64 {
        let (Some(next), Some(from)) = (self.next, self.committed.or(self.first)) else {
            return 0;
        };
        next.saturating_sub(from).max(0) as u64
    }

    /// The offset store was committed: everything stored is now the group's.
    pub fn mark_stored_committed(&mut self) {
        if self.stored > self.committed {
            self.committed = self.stored;
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Assigned {
    pub topics: HashMap<Arc<str>, HashMap<i32, PartitionState>>,
    /// Every owned partition is paused because the pipeline has not taken a message for a
    /// while (see the poll loop): newly assigned partitions start paused too.
    pub downstream_paused: bool,
}

impl Assigned {
    pub fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        self.topics.get_mut(topic)?.get_mut(&partition)
    }

    pub fn insert(&mut self, topic: &str, partition: i32) -> &mut PartitionState {
        let name = match self.topics.get_key_value(topic) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(topic),
        };
        self.topics
            .entry(Arc::clone(&name))
            .or_default()
            .entry(partition)
            .or_insert_with(|| PartitionState::new(name))
    }

    pub fn remove(&mut self, topic: &str, partition: i32) -> Option<PartitionState> {
        let parts = self.topics.get_mut(topic)?;
        let st = parts.remove(&partition);
        if parts.is_empty() {
            self.topics.remove(topic);
        }
        st
    }

    pub fn owned_name(&self, topic: &str, partition: i32) -> Option<Arc<str>> {
        let (name, parts) = self.topics.get_key_value(topic)?;
        parts.contains_key(&partition).then(|| Arc::clone(name))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut PartitionState)> {
        self.topics
            .values_mut()
            .flat_map(|ps| ps.iter_mut().map(|(p, s)| (*p, s)))
    }

    /// Every owned partition, as a list for pause/resume.
    pub fn all(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (t, ps) in &self.topics {
            for p in ps.keys() {
                tpl.add_partition(t, *p);
            }
        }
        tpl
    }

    /// Watermarks that moved since they were last stored, marked as stored. `only` limits it
    /// to some partitions (a revoke).
    pub fn take_watermarks(&mut self, only: Option<&TopicPartitionList>) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (t, ps) in self.topics.iter_mut() {
            for (p, st) in ps.iter_mut() {
                if let Some(only) = only {
                    if only.find_partition(t, *p).is_none() {
                        continue;
                    }
                }
                if let Some(w) = st.cp.watermark() {
                    if st.stored != Some(w)
                        && tpl.add_partition_offset(t, *p, Offset::Offset(w)).is_ok()
                    {
                        st.stored = Some(w);
                    }
                }
            }
        }
        tpl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivered_counts_from_the_last_commit_or_the_first_message() {
        let mut p = PartitionState::new(Arc::from("t"));
        assert_eq!(p.redelivered(), 0, "nothing taken");
        p.first = Some(100);
        p.next = Some(150);
        assert_eq!(p.redelivered(), 50, "no commit of ours: all taken");
        p.stored = Some(140);
        p.mark_stored_committed();
        assert_eq!(p.committed, Some(140));
        assert_eq!(p.redelivered(), 10, "only what is past the commit");
        p.stored = Some(120); // an older store never moves the commit back
        p.mark_stored_committed();
        assert_eq!(p.committed, Some(140));
    }
}
