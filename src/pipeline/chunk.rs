//! Chunks: messages cross from the input to the processors (and, as events, on to the output)
//! in chunks, so there is one channel operation, and at most one thread wake-up, per chunk
//! instead of per message. A chunk is only what is already at hand (an input never waits to
//! fill one), so a trickle of messages still moves one by one, without added latency.

use super::Message;

/// Messages on their way to the processors.
pub type Chunk = Vec<Message>;

/// The most messages in one chunk. 128, not 256: with chunks able to grow to twice this
/// while held back (see [`chunk_slots`]), the channel stays 16 chunks deep at the benchmark's
/// `fetch_buffer_cap: 4096`, 3–5 % faster end to end than 8 chunks of 256.
pub const CHUNK_MAX: usize = 128;

/// Messages per chunk for a pipeline buffer of `cap` messages: a quarter of it, so the channel
/// holds several chunks and the stages overlap, and at most [`CHUNK_MAX`].
pub fn chunk_len(cap: usize) -> usize {
    (cap / 4).clamp(1, CHUNK_MAX)
}

/// Channel slots, in chunks, for a buffer of `cap` messages. A chunk an input had to hold back
/// while the pipeline was full may have grown to twice [`chunk_len`] (the Kafka input keeps
/// polling meanwhile), so queued messages never exceed `cap` (or two chunks, when `cap` is
/// smaller than that).
pub fn chunk_slots(cap: usize) -> usize {
    (cap / (2 * chunk_len(cap))).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_never_hold_more_than_the_buffer() {
        for cap in [1, 2, 3, 4, 5, 7, 64, 255, 256, 1000, 4096, 16384, 100_000] {
            let (len, slots) = (chunk_len(cap), chunk_slots(cap));
            assert!((1..=CHUNK_MAX).contains(&len), "cap {cap}: chunk {len}");
            assert!(
                2 * len * slots <= cap.max(2 * len),
                "cap {cap}: {slots} x 2 x {len}"
            );
            assert!(
                slots >= (cap / 2).clamp(1, 2),
                "cap {cap}: only {slots} slots"
            );
        }
        assert_eq!((chunk_len(256), chunk_slots(256)), (64, 2));
        assert_eq!((chunk_len(4096), chunk_slots(4096)), (128, 16));
    }
}
