//! The fault matrix: each fault against the real binary, a real broker and the API double,
//! counting unique `event_id`s (`scripts/faults` runs it at ten times the size).

mod api_answers;
mod broker;
mod crash;
mod dead_letter;
mod leader;
mod outage;
mod rebalance;
mod shutdown;
mod tombstones;
mod topic_deleted;
mod transactions;
