//! What the stages report while they run: counters and gauges ([`metrics`]), latency
//! histograms ([`latency`]) and readiness ([`health`]). Stages write; `observe` renders.

pub mod health;
pub mod latency;
pub mod metrics;
