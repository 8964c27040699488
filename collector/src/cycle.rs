//! One collection cycle, start to end (the essay's steps 1–5, in order).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::heap::HeapInner;
use crate::phase::{transition, Phase};
use crate::stats::CycleStats;
use crate::{mark, roots, safepoint, verify};

/// The cycle driver thread: runs a cycle whenever one is requested (step 1's
/// trigger arrives here from the pacer, `collect`, or gc-stress).
///
/// A cycle that panics (a checkmark or verifier failure, a corrupt header)
/// marks the heap failed; every later request and waiter panics with the
/// original message, so the failure surfaces in the thread that asked.
pub(crate) fn driver(heap: Arc<HeapInner>) {
    loop {
        {
            let mut c = heap.cycles.lock();
            while c.requested <= c.started && !c.shutdown {
                heap.cycle_cv.wait(&mut c);
            }
            if c.shutdown {
                return;
            }
            if c.failed.is_some() {
                // A failed heap runs no more cycles; waiters see the failure.
                c.completed = c.requested;
                c.started = c.requested;
                drop(c);
                heap.cycle_cv.notify_all();
                continue;
            }
            c.started += 1;
        }
        let result = catch_unwind(AssertUnwindSafe(|| run_cycle(&heap)));
        let mut c = heap.cycles.lock();
        c.completed += 1;
        if let Err(payload) = result {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            c.failed = Some(msg);
        }
        drop(c);
        heap.cycle_cv.notify_all();
        heap.sweep_cv.notify_all();
    }
}

/// Runs one cycle. Today marking runs with the world stopped; the phases are
/// already the ones concurrent marking will use.
pub(crate) fn run_cycle(heap: &HeapInner) {
    let number = heap.cycles.lock().started;
    let start = heap.started_at.elapsed();
    let heap_trigger = heap.live_after_mark.load(Ordering::Relaxed)
        + heap.allocated_since_mark.load(Ordering::Relaxed);

    // Step 2: sweep termination, world stopped.
    let t0 = Instant::now();
    let mut world = safepoint::stop_the_world(heap);
    transition(heap, Phase::Off, Phase::SweepTermination);
    heap.page.finish_sweep();
    for (_, data) in world.mutators.iter_mut() {
        data.cache.release_all();
    }
    let heap_before = heap.page.stats().live_bytes();
    let t1 = Instant::now();

    // Step 3: mark (with the world still stopped, for now).
    transition(heap, Phase::SweepTermination, Phase::Mark);
    let roots = roots::gather(heap, &mut world);
    let marked = mark::mark(heap, &roots, heap.workers);
    let t2 = Instant::now();

    // Step 4: mark termination.
    transition(heap, Phase::Mark, Phase::MarkTermination);
    if heap.config.checkmark {
        verify::checkmark(heap, &roots);
    }
    if heap.config.verify {
        verify::verify_heap(heap);
    }
    let goal = heap.pacer.lock().end_cycle(marked.live_bytes);
    heap.live_after_mark
        .store(marked.live_bytes, Ordering::Relaxed);
    heap.allocated_since_mark.store(0, Ordering::Relaxed);
    // Step 5 begins: every span now needs sweeping; the world restarts and
    // sweeping runs concurrently (background sweeper, lazy refills).
    heap.page.start_sweep_cycle();
    transition(heap, Phase::MarkTermination, Phase::Off);
    let t3 = Instant::now();
    world.start();

    let stats = CycleStats {
        number,
        start,
        sweep_termination: t1 - t0,
        mark: t2 - t1,
        mark_termination: t3 - t2,
        mark_cpu: marked.cpu,
        pause: t3 - t0,
        heap_trigger,
        heap_before,
        heap_marked: marked.live_bytes,
        objects_marked: marked.live_objects,
        goal: goal.goal,
        workers: heap.workers,
    };
    if heap.config.gctrace {
        eprintln!("{}", stats.trace_line());
    }
    heap.stats.lock().record(stats);
}
