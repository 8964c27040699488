//! The per-mutator barrier buffer and the sink it flushes into.
//!
//! A store that must shade something does not touch the collector: it
//! appends the address to its mutator's buffer, which is plain memory owned
//! by that mutator (no atomics, no lock). Only when the buffer fills, or when
//! the collector asks at a handshake or at mark termination, are the entries
//! handed to the [`Sink`] in one batch. Until then they are grey objects the
//! collector cannot see yet; §9 and §10 of the crate docs say why that is
//! safe and what the collector must do about it.

use std::fmt;

/// Where a [`BarrierBuffer`] hands its entries: the collector's side.
///
/// The collector implements this to shade each address (set its mark bit if
/// it is clear, and if so queue it grey) and make the result visible to the
/// markers. The contract, from §9 and §10 of the crate docs:
///
/// - a batch may hold duplicates, and addresses that are already grey or
///   black: shading is idempotent;
/// - a batch never holds null (0);
/// - `shade` is called on the thread that owns the buffer (or on the thread
///   acting for it at a handshake), so what it publishes must be published
///   with release semantics for the markers to acquire (a locked queue or a
///   work-stealing deque does this);
/// - the batch is only borrowed: the buffer reuses its storage once `shade`
///   returns.
///
/// Any `FnMut(&[usize])` is a sink, which suits tests:
///
/// ```
/// use tricolor_barriers::{BarrierBuffer, Sink};
///
/// let mut seen = Vec::new();
/// let mut sink = |batch: &[usize]| seen.extend_from_slice(batch);
/// let mut buf = BarrierBuffer::with_capacity(2);
/// buf.record(0x10, &mut sink);
/// buf.record(0x20, &mut sink); // full: flushed
/// buf.record(0x30, &mut sink);
/// buf.flush(&mut sink);
/// assert_eq!(seen, [0x10, 0x20, 0x30]);
/// ```
pub trait Sink {
    /// Shades every address of `batch`.
    fn shade(&mut self, batch: &[usize]);
}

impl<F: FnMut(&[usize])> Sink for F {
    #[inline]
    fn shade(&mut self, batch: &[usize]) {
        self(batch)
    }
}

/// The capacity of a buffer made by [`BarrierBuffer::new`]: 256 entries
/// (2 KiB on a 64-bit target). Go's per-P write-barrier buffer had 256
/// entries when it was introduced and has 512 now; the right size here is
/// for the pause benches to say.
pub const DEFAULT_CAPACITY: usize = 256;

/// A mutator's buffer of addresses to shade, of fixed capacity.
///
/// The storage is one boxed slice allocated when the buffer is made; the
/// buffer never reallocates. [`record`](Self::record) appends and, when that
/// fills the buffer, flushes it; [`flush`](Self::flush) hands whatever is
/// pending to a [`Sink`]. A buffer belongs to one mutator: every method takes
/// `&mut self`, and nothing in it is shared (§10).
///
/// ```
/// use tricolor_barriers::BarrierBuffer;
///
/// let mut batches = Vec::new();
/// let mut sink = |batch: &[usize]| batches.push(batch.to_vec());
/// let mut buf = BarrierBuffer::with_capacity(3);
/// for addr in [8, 16, 24, 32] {
///     buf.record(addr, &mut sink);
/// }
/// assert_eq!(buf.entries(), [32]);
/// buf.flush(&mut sink);
/// assert!(buf.is_empty());
/// assert_eq!(batches, [vec![8, 16, 24], vec![32]]);
/// ```
pub struct BarrierBuffer {
    /// Storage; `entries[..len]` are pending.
    entries: Box<[usize]>,
    /// Pending entries; always `< entries.len()` between calls (a full
    /// buffer is flushed at once).
    len: usize,
}

impl BarrierBuffer {
    /// An empty buffer of [`DEFAULT_CAPACITY`] entries.
    pub fn new() -> BarrierBuffer {
        BarrierBuffer::with_capacity(DEFAULT_CAPACITY)
    }

    /// An empty buffer of `capacity` entries. Capacity 1 makes every record
    /// flush at once (an unbuffered barrier).
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn with_capacity(capacity: usize) -> BarrierBuffer {
        assert!(capacity > 0, "a barrier buffer needs room for one entry");
        BarrierBuffer {
            entries: vec![0; capacity].into_boxed_slice(),
            len: 0,
        }
    }

    /// How many entries the buffer holds before it flushes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// How many entries are pending.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pending entries, oldest first.
    #[inline]
    pub fn entries(&self) -> &[usize] {
        &self.entries[..self.len]
    }

    /// Appends `addr`; if that fills the buffer, flushes it into `sink`.
    ///
    /// `addr` must not be null (the decision functions never return null);
    /// debug builds check.
    #[inline]
    pub fn record<S: Sink + ?Sized>(&mut self, addr: usize, sink: &mut S) {
        debug_assert_ne!(addr, 0, "a barrier never records null");
        self.entries[self.len] = addr;
        self.len += 1;
        if self.len == self.entries.len() {
            self.flush_full(sink);
        }
    }

    /// Appends every address of `shades` (see [`record`](Self::record)).
    #[inline]
    pub fn record_all<S: Sink + ?Sized>(&mut self, shades: crate::Shades, sink: &mut S) {
        for addr in shades {
            self.record(addr, sink);
        }
    }

    /// Hands every pending entry to `sink` in one batch, and empties the
    /// buffer. Does not call the sink if nothing is pending.
    pub fn flush<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        if self.len != 0 {
            sink.shade(&self.entries[..self.len]);
            self.len = 0;
        }
    }

    /// The flush of a full buffer, kept out of line so that `record` stays a
    /// store, an increment and a compare.
    #[inline(never)]
    fn flush_full<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        self.flush(sink);
    }
}

impl fmt::Debug for BarrierBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierBuffer")
            .field("capacity", &self.capacity())
            .field("pending", &self.entries())
            .finish()
    }
}

impl Default for BarrierBuffer {
    /// Same as [`BarrierBuffer::new`].
    fn default() -> BarrierBuffer {
        BarrierBuffer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps its batches.
    #[derive(Default)]
    struct Batches(Vec<Vec<usize>>);

    impl Sink for Batches {
        fn shade(&mut self, batch: &[usize]) {
            assert!(!batch.is_empty(), "an empty batch is never handed over");
            self.0.push(batch.to_vec());
        }
    }

    #[test]
    fn default_capacity() {
        let b = BarrierBuffer::new();
        assert_eq!(b.capacity(), DEFAULT_CAPACITY);
        assert_eq!(BarrierBuffer::default().capacity(), DEFAULT_CAPACITY);
        assert!(b.is_empty());
        assert_eq!(b.len(), 0);
        assert!(b.entries().is_empty());
    }

    #[test]
    #[should_panic(expected = "room for one entry")]
    fn zero_capacity_is_refused() {
        BarrierBuffer::with_capacity(0);
    }

    #[test]
    fn flushes_when_full_in_order() {
        let mut sink = Batches::default();
        let mut b = BarrierBuffer::with_capacity(4);
        for a in 1..=10 {
            b.record(a * 8, &mut sink);
            assert!(b.len() < b.capacity(), "a full buffer flushes at once");
        }
        assert_eq!(sink.0, [vec![8, 16, 24, 32], vec![40, 48, 56, 64]]);
        assert_eq!(b.entries(), [72, 80]);
        b.flush(&mut sink);
        assert_eq!(sink.0.len(), 3);
        assert_eq!(sink.0[2], [72, 80]);
        assert!(b.is_empty());
    }

    #[test]
    fn empty_flush_does_not_call_the_sink() {
        let mut sink = Batches::default();
        let mut b = BarrierBuffer::with_capacity(2);
        b.flush(&mut sink);
        b.record(8, &mut sink);
        b.flush(&mut sink);
        b.flush(&mut sink);
        assert_eq!(sink.0, [vec![8]]);
    }

    #[test]
    fn capacity_one_is_unbuffered() {
        let mut sink = Batches::default();
        let mut b = BarrierBuffer::with_capacity(1);
        b.record(8, &mut sink);
        b.record(16, &mut sink);
        assert!(b.is_empty());
        assert_eq!(sink.0, [vec![8], vec![16]]);
    }

    #[test]
    fn duplicates_are_kept() {
        let mut seen = Vec::new();
        let mut b = BarrierBuffer::with_capacity(8);
        let mut sink = |batch: &[usize]| seen.extend_from_slice(batch);
        b.record(8, &mut sink);
        b.record(8, &mut sink);
        b.flush(&mut sink);
        assert_eq!(seen, [8, 8]);
    }

    #[test]
    fn record_all_takes_both_values_in_order() {
        let mut seen = Vec::new();
        let mut sink = |batch: &[usize]| seen.extend_from_slice(batch);
        let mut b = BarrierBuffer::with_capacity(2);
        b.record_all(crate::Shades::of(8, 16), &mut sink);
        assert!(b.is_empty(), "two entries filled a buffer of two");
        b.record_all(crate::Shades::NONE, &mut sink);
        assert!(b.is_empty());
        assert_eq!(seen, [8, 16]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "never records null")]
    fn null_is_refused_in_debug_builds() {
        let mut b = BarrierBuffer::with_capacity(2);
        b.record(0, &mut |_: &[usize]| {});
    }
}
