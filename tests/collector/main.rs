//! The collector's integration tests: one binary (one build, one shared Kafka broker), a
//! module per area, and the support they share.
//!
//! Kafka tests run against Apache Kafka 4.x started by `scripts/kafka` (one broker shared by
//! the binary; tests that kill or restart brokers start their own) and librdkafka's
//! `MockCluster` for injected faults. HTTP tests run against the Flexprice API double.

mod bad_input;
mod bloblang;
mod bloblang_diff;
mod cli;
mod dead_letter_kafka;
mod faults;
mod flexprice_metrics;
mod flexprice_output;
mod fuzz;
mod kafka;
mod observe;
mod security;
mod support;
