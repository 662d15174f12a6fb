//! flexprice-collector: Kafka → Bloblang → Flexprice events API, at-least-once.
//!
//! The module tree is layered; a module imports only layers below it:
//!
//! 1. [`document`]: the value every stage shares, JSON read and write, time.
//! 2. [`pipeline`]: the vocabulary of stages (messages, origins, events, acks, control, the
//!    stage traits, telemetry).
//! 3. [`config`]: the YAML file, `${VAR}`s, problems and where they are.
//! 4. [`bloblang`]: the mapping language.
//! 5. Components: [`kafka`] (client settings shared by every Kafka client), [`resource`]
//!    (rate limits and caches shared by label), [`processor`], [`input`], [`output`].
//! 6. [`observe`]: metrics rendering, logs, the HTTP endpoints, the progress line.
//! 7. [`runtime`]: plans a config, starts and stops the stages. Nothing imports it.

pub mod bloblang;
pub mod config;
pub mod document;
pub mod input;
pub mod kafka;
pub mod observe;
pub mod output;
pub mod pipeline;
pub mod processor;
pub mod resource;
pub mod runtime;
