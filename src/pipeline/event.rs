//! [`Event`]: a message that left the processors, on its way out.

use super::{Ack, Origin};

/// A message that left the processors, on its way out.
#[derive(Debug)]
pub struct Event {
    pub body: Body,
    pub origin: Origin,
    pub ack: Ack,
}

#[derive(Debug)]
pub enum Body {
    /// Encoded by the output's encoder: ready to send as is.
    Ready(Vec<u8>),
    /// Could not be processed or encoded: goes to the dead-letter path with the reason.
    Failed { raw: Vec<u8>, reason: String },
}
