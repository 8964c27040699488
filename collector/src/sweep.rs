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

//!
//! With a cycle-event callback set (`events`), the background sweeper also
//! waits out spans other threads are sweeping when it finds nothing left,
//! and delivers the cycle's `SweepDone`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::heap::inner::HeapInner;

/// Delivers `SweepDone` for every cycle whose sweep is now complete and
/// whose end was delivered (`events`). Called outside pauses and locks: by
/// the background sweeper, the thread that runs the next cycle, and
/// `collect` once it has finished the sweep. One relaxed load when no
/// callback is set.
pub(crate) fn report_sweep_done(heap: &HeapInner) {
    heap.events
        .deliver_sweep_done(|| heap.page.sweep_done(), || heap.started_at.elapsed());
}

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
        if heap.events.enabled() {
            // Nothing left to take; spans other threads are sweeping are
            // finished shortly (no safepoint inside a span's sweep).
            heap.page.finish_sweep();
            report_sweep_done(&heap);
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
