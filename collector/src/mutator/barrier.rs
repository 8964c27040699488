//! The write barrier, collector side. Every pointer store of a mutator
//! (`Mutator::store`, and `store_word` into a traced type, through its
//! `decode`) and every write of a global root passes through here with the
//! old and the new value.
//!
//! The algorithms and their proofs are in `tricolor-barriers` (its crate
//! docs, §1–§11); this module only plugs them in:
//!
//! - **Fast path** (inlined into `Mutator::store`): one relaxed load of the
//!   heap's phase (`PhaseWord::marking`) and a
//!   branch. The phase changes only with the world stopped, and restarting
//!   the world (releasing the mutators' locks) orders the change before any
//!   later store of every mutator (barriers §10.2).
//! - **Slow path**: one cold, out-of-line call, `Mutator::barrier_slow`,
//!   into which `record_store` and the mutator's own
//!   [`Barrier::record`](tricolor_barriers::Barrier::record) are inlined:
//!   the barrier decides what to record for the heap's [`BarrierMode`] and
//!   whether this mutator's stack is scanned (hybrid), and records into the
//!   mutator's buffer. A full buffer, a flush handshake and mark
//!   termination hand the records to `HeapSink`, which shades them into
//!   the grey set (`mark::scan::shade_all`). No safepoint lies between the
//!   store and the record (barriers §10.3), so a handshake sees both or
//!   neither.
//! - **Globals** (`on_global_store`): a global slot can be written by any
//!   thread, attached or not, and belongs to no stack; while marking, both
//!   values are shaded at once (deletion and insertion barrier together),
//!   which is sound under every mode, whenever the workers scan the globals.
//!
//! With [`BarrierMode::Off`] the collector marks with the world stopped, so
//! no mutator can observe the `Mark` phase; the slow path checks that.

use std::sync::atomic::Ordering;

use tricolor_barriers::{BarrierMode, Sink};

use crate::heap::inner::HeapInner;
use crate::mark::scan::shade_all;
use crate::mark::source::{RootKind, Source};
use crate::mutator::state::MutatorData;

/// The sink of a mutator's barrier buffer: shades each recorded value.
pub(crate) struct HeapSink<'a> {
    pub(crate) heap: &'a HeapInner,
    pub(crate) mutator: u64,
}

impl Sink for HeapSink<'_> {
    fn shade(&mut self, batch: &[usize]) {
        shade_all(self.heap, batch, Source::Barrier(self.mutator));
    }
}

/// The slow path of a mutator's pointer store while marking: `new` was
/// stored over `old` (addresses, 0 for null) by mutator `id`. Inlined into
/// the one cold call (`Mutator::barrier_slow`), so that a store while
/// marking costs one call, plus the flush when the buffer fills.
#[inline(always)]
pub(crate) fn record_store(
    heap: &HeapInner,
    data: &mut MutatorData,
    id: u64,
    old: usize,
    new: usize,
) {
    if heap.mode == BarrierMode::Off {
        off_but_marking(id, old, new);
    }
    if heap.barrier_disabled_for_testing.load(Ordering::Relaxed) {
        return;
    }
    let MutatorData {
        barrier,
        stack_scanned,
        ..
    } = data;
    barrier.record(
        old,
        new,
        *stack_scanned,
        &mut HeapSink { heap, mutator: id },
    );
}

#[cold]
fn off_but_marking(id: u64, old: usize, new: usize) -> ! {
    unreachable!(
        "mutator {id} stored {new:#x} over {old:#x} while marking, but with the barrier \
         off marking stops the world"
    );
}

/// The barrier of a write to global slot `index`: shades both values while
/// marking. Called with the globals lock held, so that the write and the
/// shading are one step for the workers that scan the globals.
#[inline]
pub(crate) fn on_global_store(heap: &HeapInner, index: usize, old: usize, new: usize) {
    if heap.phase.marking() && !heap.barrier_disabled_for_testing.load(Ordering::Relaxed) {
        shade_all(heap, &[old, new], Source::Root(RootKind::Global(index)));
    }
}

/// Flushes a mutator's barrier buffer into the grey set; returns how many
/// values it held.
pub(crate) fn flush(heap: &HeapInner, data: &mut MutatorData, id: u64) -> usize {
    let n = data.barrier.buffer().len();
    data.barrier.flush(&mut HeapSink { heap, mutator: id });
    n
}
