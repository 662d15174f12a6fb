//! Shared reader for line-oriented inputs (stdin, files): JSON lines in, one message per line.
//!
//! Rule: a line that has been read is delivered. A stop only prevents *reading more*; every
//! complete line already in our buffer still goes into the pipeline (which is draining), so a
//! SIGTERM never strands consumed input. Reads from a pipe or terminal wait with `poll(2)` so a
//! stop is noticed even while the writer is silent.

use std::io::Read;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::pipeline::telemetry::metrics;
use crate::pipeline::AckCounter;
use crate::pipeline::Control;
use crate::pipeline::{Chunk, Message, Origin, Position};

/// Outcome of reading one source.
pub enum ReadEnd {
    /// The source was read to its end.
    Eof,
    /// A stop was requested (or the pipeline went away) first.
    Stopped,
}

/// A line-oriented source and, for pipes/terminals, the descriptor to wait on.
pub struct LineSource<R> {
    pub reader: R,
    pub name: Arc<str>,
    /// `Some` for sources whose reads may block indefinitely (stdin).
    pub poll_fd: Option<RawFd>,
}

/// How long one wait for input lasts before the stop flag is checked again.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// Where lines go: the pipeline's channel, a chunk at a time.
pub struct Outlet<'a> {
    pub out: &'a Sender<Chunk>,
    /// Most messages per chunk.
    pub chunk_len: usize,
    pub chunk: Chunk,
}

impl Outlet<'_> {
    /// Send the gathered messages; false if the pipeline is gone.
    ///
    /// Blocking on purpose: the lines are consumed from their source, so they must reach the
    /// pipeline. During a stop the pipeline is draining; if it is stuck, the runtime's
    /// shutdown_timeout ends the process.
    fn flush(&mut self) -> bool {
        if self.chunk.is_empty() {
            return true;
        }
        let n = self.chunk.len() as u64;
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_len));
        if self.out.send(chunk).is_err() {
            return false;
        }
        metrics::get().input_received.add(n);
        true
    }
}

/// Send each non-empty line as a message. Blank lines are skipped; `\r\n` endings are fine; a
/// last line without a newline is delivered at end of input. The lines of one read go out
/// together, in chunks of at most `chunk_len`.
pub fn pump<R: Read>(
    src: &mut LineSource<R>,
    seq: &mut u64,
    acks: &Arc<AckCounter>,
    out: &Sender<Chunk>,
    chunk_len: usize,
    ctl: &Control,
) -> std::io::Result<ReadEnd> {
    let chunk_len = chunk_len.max(1);
    let mut outlet = Outlet {
        out,
        chunk_len,
        chunk: Vec::with_capacity(chunk_len),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        // Deliver every complete line we hold.
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            if !emit(line, src, seq, acks, &mut outlet) {
                return Ok(ReadEnd::Stopped);
            }
        }
        buf.drain(..start);
        if !outlet.flush() {
            return Ok(ReadEnd::Stopped);
        }
        if ctl.stop_requested() {
            if !buf.is_empty() {
                tracing::warn!(source = %src.name, bytes = buf.len(), "stopped in the middle of a line; its start was not delivered");
            }
            return Ok(ReadEnd::Stopped);
        }
        if let Some(fd) = src.poll_fd {
            if !wait_readable(fd, POLL_SLICE)? {
                continue;
            }
        }
        let n = match src.reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let last = std::mem::take(&mut buf);
            if !emit(&last, src, seq, acks, &mut outlet) || !outlet.flush() {
                return Ok(ReadEnd::Stopped);
            }
            return Ok(ReadEnd::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Add one line to the outgoing chunk (sending it when full); false if the pipeline is gone.
fn emit<R>(
    line: &[u8],
    src: &LineSource<R>,
    seq: &mut u64,
    acks: &Arc<AckCounter>,
    outlet: &mut Outlet<'_>,
) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    *seq += 1;
    let msg = Message {
        payload: line.to_vec(),
        origin: Origin {
            received_at: Some(Instant::now()),
            ..Origin::at(Position::Sequence {
                input: Arc::clone(&src.name),
                seq: *seq,
            })
        },
        ack: acks.issue(),
    };
    outlet.chunk.push(msg);
    outlet.chunk.len() < outlet.chunk_len || outlet.flush()
}

/// Wait up to `timeout` for `fd` to have data (or EOF/error); true if a read will not block.
fn wait_readable(fd: RawFd, timeout: Duration) -> std::io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, for the duration of the call.
    let r = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}
