//! The write-barrier entry point. Every pointer store of a mutator passes
//! through `on_store` with the old and the new value, so that concurrent
//! marking plugs in here without touching any call site.
//!
//! With the world stopped for the whole of marking (the collector as it is
//! now), no store can happen while marking, so the barrier has nothing to
//! record: the phase check below is the whole of it, one load and a branch
//! that is never taken. The algorithms that run when marking is concurrent
//! live in `tricolor-barriers`.

use crate::heap::HeapInner;
use crate::phase::Phase;

/// Called after a mutator stored `new` over `old` (object addresses, 0 for
/// null) in a pointer field.
#[inline(always)]
pub(crate) fn on_store(heap: &HeapInner, old: usize, new: usize) {
    // One relaxed load and a branch: the phase changes only with the world
    // stopped, and restarting the world orders it before any later store.
    if heap.phase.load(std::sync::atomic::Ordering::Relaxed) == Phase::Mark as u8 {
        on_store_marking(old, new);
    }
}

/// Marking is stop-the-world: a running mutator cannot observe `Mark`.
#[cold]
fn on_store_marking(old: usize, new: usize) {
    unreachable!(
        "a mutator stored {new:#x} over {old:#x} while marking, but marking stops the world"
    );
}
