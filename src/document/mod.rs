//! The document layer, at the bottom of the crate: the value every stage shares, its JSON read
//! and write, and time. It imports nothing else of the crate.
//!
//! - [`value`]: [`Value`] and [`Map`], the parsed form of a message payload.
//! - [`json_read`]: JSON bytes to a `Value` (simd-json's tape; numbers keep their text).
//! - [`json_write`]: a `Value` to JSON bytes (escaping, numbers as Bento prints them).
//! - [`time`]: timestamps, time zones, layouts and durations; the one RFC 3339 check.

pub mod json_read;
pub mod json_write;
mod map;
pub mod time;
pub mod value;

pub use json_read::MAX_JSON_DEPTH;
pub use json_write::{escape_html, write_json_str};
pub use map::{Entry, Map};
pub use value::Value;
