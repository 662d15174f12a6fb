//! The Kafka input against a real broker (Apache Kafka), the mock cluster, and kill -9.

mod broker;
mod kill;
mod mock;
