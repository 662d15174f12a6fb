//! [`Event`]: a message that left the processors, on its way out, and [`Failure`]: why an
//! output did not take one.

use super::{Ack, Origin};

/// A message that left the processors, on its way out.
#[derive(Debug)]
pub struct Event {
    pub body: Body,
    pub origin: Origin,
    pub ack: Ack,
    /// Why an earlier output did not take it, once a `fallback` hands it to the next one
    /// (Bento's `fallback_error` metadata; the dead-letter record's reason).
    pub failure: Option<Box<Failure>>,
}

impl Event {
    pub fn new(body: Body, origin: Origin, ack: Ack) -> Event {
        Event {
            body,
            origin,
            ack,
            failure: None,
        }
    }

    /// The bytes an output sends: the encoded event, or the payload as received.
    pub fn bytes(&self) -> &[u8] {
        match &self.body {
            Body::Ready(b) => b,
            Body::Failed { raw, .. } => raw,
        }
    }
}

#[derive(Debug)]
pub enum Body {
    /// Encoded by the output's encoder: ready to send as is.
    Ready(Vec<u8>),
    /// Could not be processed or encoded: goes to the dead-letter path with the reason.
    Failed { raw: Vec<u8>, reason: String },
}

/// Why an output did not take an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// HTTP status of the last attempt, if a response came back.
    pub status: Option<u16>,
    /// Requests made for this event (0 if it never reached the network).
    pub attempts: u32,
    /// The destination's response body, if any.
    pub response: Option<String>,
}

impl Failure {
    /// A failure that never reached the network (a message that failed processing).
    pub fn local(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            status: None,
            attempts: 0,
            response: None,
        }
    }
}
