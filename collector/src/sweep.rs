//! Sweeping (essay step 5): concurrent, by a background thread and lazily by
//! allocating mutators.
//!
//! At mark termination the collector advances the allocator's sweep
//! generation, which makes every span "needs sweeping" at once. From then
//! on, a cache refill sweeps spans of its own size class until it finds
//! space, and the background sweeper sweeps the rest one span at a time. The
//! allocator's sweep-generation CAS lets both race safely: each span is swept
//! exactly once. The next cycle's sweep termination finishes whatever is
//! left before marking starts, so marking never sees an unswept span.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::heap::inner::HeapInner;

/// The background sweeper's loop: sweep while there is work, sleep until the
/// next cycle otherwise.
pub(crate) fn background_sweeper(heap: Arc<HeapInner>) {
    loop {
        // Read the cycle count *before* looking for work: a cycle that ends
        // after `sweep_one` last found nothing bumps `completed` past `done`,
        // so the wait below returns at once and its sweep is not skipped.
        let done = heap.cycles.lock().completed;
        loop {
            if heap.shutting_down.load(Ordering::Acquire) {
                return;
            }
            if heap.page.sweep_one().is_none() {
                break;
            }
        }
        let mut c = heap.cycles.lock();
        // Sleep until the next cycle ends (it starts a new sweep).
        while c.completed == done && !c.shutdown {
            heap.sweep_cv.wait(&mut c);
        }
        if c.shutdown {
            return;
        }
    }
}
