//! The stop-the-world mark, used with the barrier off (`BarrierMode::Off`):
//! essay steps 2–4 in one pause. The cycle shades the roots into the
//! injector (`mark::scan::shade_roots`), as a concurrent mark's root scans
//! do, and `drain_stopped_world` drains with `workers` threads, each
//! running the same loop as a background worker (`mark::drain::drain_worker`):
//! private stack, prefetch ring, a deque the others steal from, the shared
//! injector. Counts go to the heap's mark state as in a concurrent mark, so
//! the cycle reads its totals from one place in either mode.
//!
//! Termination: a worker with nothing to pop or steal counts itself idle; it
//! leaves when all workers are idle at once. Only a busy worker creates grey
//! objects, and it pushes them onto its own stack, which it empties (with
//! its ring and deque) before it can go idle; so "all idle" means every
//! stack and deque is empty and nothing can refill one: with the world
//! stopped, the grey set is empty (essay step 4's condition).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_deque::{Stealer, Worker};

use crate::heap::inner::HeapInner;
use crate::mark::drain::drain_worker;
use crate::mark::queue::steal_into;
use crate::stats::thread_cpu_time;

/// Drains the grey set with `workers` threads (the calling thread is one of
/// them) until it is empty. The world must be stopped and every cache
/// released. A worker's panic (a bad pointer found in a debug build) stops
/// the others and is passed on once every worker has returned.
pub(crate) fn drain_stopped_world(heap: &HeapInner, workers: usize) {
    let workers = workers.max(1);
    let deques: Vec<Worker<usize>> = (0..workers).map(|_| Worker::new_lifo()).collect();
    let stealers: Vec<Stealer<usize>> = deques.iter().map(Worker::stealer).collect();
    let idle = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let ctx = Ctx {
        heap,
        stealers: &stealers,
        idle: &idle,
        abort: &abort,
        workers,
    };
    let mut deques = deques.into_iter();
    let first = deques.next().expect("at least one worker");
    std::thread::scope(|s| {
        let handles: Vec<_> = deques
            .enumerate()
            .map(|(i, w)| {
                let ctx = &ctx;
                s.spawn(move || ctx.run(i + 1, w))
            })
            .collect();
        // Join every worker explicitly, even when this one panicked, before
        // passing the panic on: no worker outlives the mark, and the join is
        // the happens-before edge (also for ThreadSanitizer).
        let first = catch_unwind(AssertUnwindSafe(|| ctx.run(0, first)));
        let rest: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        first.unwrap_or_else(|p| resume_unwind(p));
        for r in rest {
            r.unwrap_or_else(|p| resume_unwind(p));
        }
    });
}

/// What the workers of one stop-the-world drain share.
struct Ctx<'a> {
    heap: &'a HeapInner,
    /// Every worker's deque, by worker number.
    stealers: &'a [Stealer<usize>],
    /// Workers that found nothing to do; all of them at once ends the drain.
    idle: &'a AtomicUsize,
    /// Set by a worker that panicked (a bad pointer, a corrupt header), so
    /// the others stop instead of waiting for it to go idle.
    abort: &'a AtomicBool,
    workers: usize,
}

impl Ctx<'_> {
    fn work_visible(&self) -> bool {
        !self.heap.mark_state.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn run(&self, me: usize, local: Worker<usize>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.drain(me, &local))) {
            self.abort.store(true, Ordering::SeqCst);
            resume_unwind(payload)
        }
    }

    fn drain(&self, me: usize, local: &Worker<usize>) {
        let ms = &self.heap.mark_state;
        let cpu0 = thread_cpu_time();
        let mut tally = ms.tally();
        let steal = || steal_into(&ms.injector, self.stealers, Some(me), local);
        loop {
            drain_worker(self.heap, local, steal, &mut tally, |_| {
                !self.abort.load(Ordering::Relaxed)
            });
            // Nothing left to take: idle until every worker is, or until
            // someone's deque or the injector shows work.
            self.idle.fetch_add(1, Ordering::SeqCst);
            let mut spins = 0u32;
            loop {
                if self.idle.load(Ordering::SeqCst) == self.workers
                    || self.abort.load(Ordering::Relaxed)
                {
                    ms.add(&mut tally);
                    // Worker 0 is the cycle's own thread, which counts
                    // its whole part of the mark itself.
                    if me != 0 {
                        ms.background_cpu_ns.fetch_add(
                            thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
                            Ordering::Relaxed,
                        );
                    }
                    return;
                }
                if self.work_visible() {
                    self.idle.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                spins += 1;
                if spins < 100 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}
