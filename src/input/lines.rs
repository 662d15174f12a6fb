//! Shared reader for line-oriented inputs (stdin, files): JSON lines in, one message per line.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{select, Sender};

use super::{Message, Origin};
use crate::delivery::AckCounter;
use crate::observe::metrics;
use crate::runtime::Control;

/// Outcome of reading one source.
pub enum ReadEnd {
    /// The source was read to its end.
    Eof,
    /// A stop was requested (or the pipeline went away) first.
    Stopped,
}

/// Send each non-empty line of `reader` as a message. Blank lines are skipped; a trailing `\r`
/// is removed. Blocks on a full channel, but gives up as soon as a stop is requested.
pub fn pump(
    reader: &mut dyn BufRead,
    name: &Arc<str>,
    seq: &mut i64,
    acks: &Arc<AckCounter>,
    out: &Sender<Message>,
    ctl: &Control,
) -> std::io::Result<ReadEnd> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if ctl.stop_requested() {
            return Ok(ReadEnd::Stopped);
        }
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(ReadEnd::Eof);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        *seq += 1;
        let msg = Message {
            payload: std::mem::replace(&mut buf, Vec::with_capacity(1024)),
            origin: Origin {
                topic: Arc::clone(name),
                partition: -1,
                offset: *seq,
                received_at: Some(Instant::now()),
                ..Origin::default()
            },
            ack: acks.issue(),
        };
        metrics::get().input_received.inc();
        select! {
            send(out, msg) -> res => if res.is_err() { return Ok(ReadEnd::Stopped) },
            recv(ctl.stopping()) -> _ => return Ok(ReadEnd::Stopped),
        }
    }
}
