//! flexprice-collector: Kafka → Bloblang → Flexprice events API, at-least-once.
//!
//! The module tree is the pipeline: [`config`] → [`input`] → [`processor`] (with the
//! [`bloblang`] engine) → [`output`], tied together by [`delivery`] (acks and offsets),
//! watched by [`observe`] and run by [`runtime`].

pub mod bloblang;
pub mod config;
pub mod document;
pub mod input;
pub mod observe;
pub mod output;
pub mod pipeline;
pub mod processor;
pub mod runtime;
