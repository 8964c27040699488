//! The front type a mutator holds: its heap's mode and its own buffer.

use crate::buffer::{BarrierBuffer, Sink};
use crate::decision::decide;
use crate::mode::BarrierMode;

/// A mutator's write barrier: the heap's [`BarrierMode`] and the mutator's
/// own [`BarrierBuffer`].
///
/// The collector calls [`on_store`](Self::on_store) after (or before; §10)
/// every pointer store of the mutator, and [`flush`](Self::flush) when it
/// needs the mutator's records: at a handshake, and for every mutator at
/// mark termination. Like the buffer it holds, a `Barrier` belongs to one
/// mutator (§10).
///
/// ```
/// use tricolor_barriers::{Barrier, BarrierMode};
///
/// let mut grey = Vec::new();
/// let mut sink = |batch: &[usize]| grey.extend_from_slice(batch);
/// let mut b = Barrier::new(BarrierMode::Hybrid);
///
/// // Not marking: nothing happens.
/// b.on_store(false, 0x10, 0x20, false, &mut sink);
/// assert!(b.buffer().is_empty());
///
/// // Marking, stack not yet scanned: old and new are recorded.
/// b.on_store(true, 0x10, 0x20, false, &mut sink);
/// // Marking, stack scanned: only the old value.
/// b.on_store(true, 0x30, 0x40, true, &mut sink);
/// assert_eq!(b.buffer().entries(), [0x10, 0x20, 0x30]);
///
/// b.flush(&mut sink);
/// assert_eq!(grey, [0x10, 0x20, 0x30]);
/// ```
#[derive(Debug)]
pub struct Barrier {
    mode: BarrierMode,
    buffer: BarrierBuffer,
}

impl Barrier {
    /// A barrier of `mode` with a buffer of
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY) entries.
    pub fn new(mode: BarrierMode) -> Barrier {
        Barrier::with_buffer(mode, BarrierBuffer::new())
    }

    /// A barrier of `mode` with a buffer of `capacity` entries.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn with_capacity(mode: BarrierMode, capacity: usize) -> Barrier {
        Barrier::with_buffer(mode, BarrierBuffer::with_capacity(capacity))
    }

    /// A barrier of `mode` recording into `buffer`.
    pub fn with_buffer(mode: BarrierMode, buffer: BarrierBuffer) -> Barrier {
        Barrier { mode, buffer }
    }

    /// The mode.
    #[inline]
    pub fn mode(&self) -> BarrierMode {
        self.mode
    }

    /// The buffer, to look at what is pending.
    #[inline]
    pub fn buffer(&self) -> &BarrierBuffer {
        &self.buffer
    }

    /// The barrier of one pointer store: the mutator stored `new` over `old`
    /// (addresses, 0 for null).
    ///
    /// `marking` is the caller's load of the heap's phase flag (a relaxed
    /// load is enough, §10); `stack_scanned` says whether this mutator's
    /// stack has been scanned in the current cycle (read only by the hybrid
    /// mode, §6). When `marking` is false this is one branch and nothing
    /// else; when it is true, the values the mode asks for
    /// ([`decide`](crate::decide())) are recorded in the buffer, which
    /// flushes into `sink` if it fills.
    ///
    /// The call must not contain a safepoint poll between the store and the
    /// record: a handshake that scans the stack or flushes the buffer must
    /// see both or neither (§10).
    #[inline]
    pub fn on_store<S: Sink + ?Sized>(
        &mut self,
        marking: bool,
        old: usize,
        new: usize,
        stack_scanned: bool,
        sink: &mut S,
    ) {
        if marking {
            self.on_store_marking(old, new, stack_scanned, sink);
        }
    }

    /// The barrier while marking, out of line so that the test above is all
    /// a store costs when marking is off.
    #[inline(never)]
    fn on_store_marking<S: Sink + ?Sized>(
        &mut self,
        old: usize,
        new: usize,
        stack_scanned: bool,
        sink: &mut S,
    ) {
        self.record(old, new, stack_scanned, sink);
    }

    /// The barrier of one pointer store for a caller that has already found
    /// the heap marking: records the values the mode asks for
    /// ([`decide`](crate::decide())), flushing into `sink` if the buffer
    /// fills. Inlined, so that a caller whose own slow path is already out
    /// of line pays no second call ([`on_store`](Self::on_store) is this
    /// behind the `marking` test). The same rule about safepoints holds
    /// (§10.3).
    ///
    /// ```
    /// use tricolor_barriers::{Barrier, BarrierMode};
    ///
    /// let mut b = Barrier::with_capacity(BarrierMode::Satb, 8);
    /// let mut shaded = Vec::new();
    /// // Marking is on (the caller checked): SATB records the old value.
    /// b.record(0x10, 0x20, true, &mut |batch: &[usize]| shaded.extend_from_slice(batch));
    /// assert_eq!(b.buffer().entries(), [0x10]);
    /// ```
    #[inline]
    pub fn record<S: Sink + ?Sized>(
        &mut self,
        old: usize,
        new: usize,
        stack_scanned: bool,
        sink: &mut S,
    ) {
        let shades = decide(self.mode, old, new, stack_scanned);
        self.buffer.record_all(shades, sink);
    }

    /// Hands every pending record to `sink` (see [`BarrierBuffer::flush`]).
    #[inline]
    pub fn flush<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        self.buffer.flush(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: BarrierMode, marking: bool, scanned: bool) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut sink = |batch: &[usize]| seen.extend_from_slice(batch);
        let mut b = Barrier::with_capacity(mode, 3);
        b.on_store(marking, 0x10, 0x20, scanned, &mut sink);
        b.on_store(marking, 0, 0x30, scanned, &mut sink);
        b.on_store(marking, 0x40, 0, scanned, &mut sink);
        b.flush(&mut sink);
        assert!(b.buffer().is_empty());
        seen
    }

    #[test]
    fn nothing_is_recorded_when_not_marking() {
        for mode in BarrierMode::ALL {
            for scanned in [false, true] {
                assert!(run(mode, false, scanned).is_empty(), "{mode}");
            }
        }
    }

    #[test]
    fn each_mode_records_its_values() {
        use BarrierMode::*;
        for scanned in [false, true] {
            assert!(run(Off, true, scanned).is_empty());
            assert_eq!(run(Satb, true, scanned), [0x10, 0x40]);
            assert_eq!(run(IncrementalUpdate, true, scanned), [0x20, 0x30]);
        }
        assert_eq!(run(Hybrid, true, false), [0x10, 0x20, 0x30, 0x40]);
        assert_eq!(run(Hybrid, true, true), [0x10, 0x40]);
    }

    #[test]
    fn a_full_buffer_flushes_during_the_store() {
        let mut batches = Vec::new();
        let mut sink = |batch: &[usize]| batches.push(batch.to_vec());
        let mut b = Barrier::with_capacity(BarrierMode::Hybrid, 3);
        b.on_store(true, 0x10, 0x20, false, &mut sink);
        b.on_store(true, 0x30, 0x40, false, &mut sink);
        assert_eq!(b.buffer().entries(), [0x40]);
        b.flush(&mut sink);
        assert_eq!(batches, [vec![0x10, 0x20, 0x30], vec![0x40]]);
    }

    #[test]
    fn constructors() {
        let b = Barrier::new(BarrierMode::Satb);
        assert_eq!(b.mode(), BarrierMode::Satb);
        assert_eq!(b.buffer().capacity(), crate::DEFAULT_CAPACITY);
        let b = Barrier::with_buffer(BarrierMode::Off, BarrierBuffer::with_capacity(7));
        assert_eq!(b.buffer().capacity(), 7);
    }
}
