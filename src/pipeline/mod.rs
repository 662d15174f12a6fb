//! The pipeline's vocabulary, shared by every stage and by the runtime: messages and where
//! they came from, chunks, events, acks and the checkpoints they move, the stop signal, the
//! stage traits and their contexts, and the telemetry every stage reports to. It imports only
//! the document layer below it (a message's parsed body is a document).

mod ack;
mod checkpoint;
mod chunk;
mod control;
mod event;
mod input;
mod message;
mod output;
mod part;
pub mod telemetry;

pub use ack::{Ack, AckCounter};
pub use checkpoint::Checkpointer;
pub use chunk::{chunk_len, chunk_slots, Chunk, CHUNK_MAX};
pub use control::Control;
pub use event::{Body, Event, Failure};
pub use input::{Input, InputContext};
pub use message::{Message, Origin, Position};
pub use output::{BatchPolicy, Delivery, Encoder, JsonEncoder, Output, WriteContext};
pub use part::{run_chain, Part, ProcessError, Processor, Step, PROCESSOR_STACK};
