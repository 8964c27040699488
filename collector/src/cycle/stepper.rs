//! [`CycleStepper`]: one cycle, driven step by step by its caller, with the
//! same steps as the collector thread's (`cycle` module docs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tricolor_barriers::BarrierMode;

use crate::cycle::{
    after_cycle, deliver_mark_start, end_cycle, flush_buffers, mark_termination, panic_message,
    scan_globals_if_pending, scan_stacks, scan_stacks_of, sweep_termination, CycleRun,
};
use crate::events::in_callback;
use crate::generation::CycleKind;
use crate::heap::inner::HeapInner;
use crate::mark::drain::drain_private_objects;
use crate::mark::{ephemeron, finalizers};
use crate::mutator::state::running_here;
use crate::stats::CycleStats;

/// One collection cycle driven step by step by the caller: for tests that
/// need an exact interleaving of mutator actions and marking, and for the
/// `mutator_program` fuzz target. Made by
/// [`Heap::begin_cycle`](crate::Heap::begin_cycle), which runs sweep
/// termination (STW #1); [`finish`](Self::finish) (or dropping the stepper)
/// runs the rest of the mark and mark termination (STW #2).
///
/// Between the two, mutators run as usual, with the barrier on and
/// allocating black; the stepper's methods do what the collector's threads
/// would: scan stacks, scan globals, mark, flush barrier buffers. With
/// [`Config::manual_cycles`](crate::Config::manual_cycles) there are no
/// background workers, so nothing marks unless a step (or a mark assist)
/// does, and the interleaving is the caller's.
///
/// The stepper must be used from a thread that is not a running mutator of
/// the heap: stack scans and flushes wait for each mutator's next safepoint
/// (or act for it at once if it is in native code).
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config { manual_cycles: true, ..Config::default() });
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0);
/// let slot = m.push_root(Some(a));
///
/// m.enter_native(); // the stepper's thread acts for this mutator
/// let h = heap.clone();
/// let stats = std::thread::spawn(move || {
///     let mut cycle = h.begin_cycle();
///     cycle.scan_stacks();
///     while cycle.mark(100) > 0 {}
///     cycle.finish()
/// })
/// .join()
/// .unwrap();
/// m.leave_native();
/// assert_eq!(stats.objects_marked, 1);
/// assert_eq!(m.root(slot), Some(a));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the stepper finishes the cycle at once"]
pub struct CycleStepper<'h> {
    heap: &'h Arc<HeapInner>,
    run: Option<CycleRun>,
    /// The heap's cycle lock, released before the cycle's end is told
    /// (`events`).
    one_cycle: Option<parking_lot::MutexGuard<'h, ()>>,
}

impl<'h> CycleStepper<'h> {
    pub(crate) fn begin(heap: &'h Arc<HeapInner>, kind: CycleKind) -> CycleStepper<'h> {
        assert!(
            heap.mode != BarrierMode::Off,
            "tricolor: begin_cycle needs a concurrent barrier mode; with the barrier off \
             marking stops the world (use collect)"
        );
        assert!(
            !in_callback(),
            "tricolor: begin_cycle called from a cycle-event or near-limit callback"
        );
        assert!(
            !running_here(heap.id()),
            "tricolor: begin_cycle called on a thread whose mutator of this heap is running; \
             step a cycle from another thread, or from this one in native state"
        );
        let lock = heap.cycle_lock.lock();
        {
            let mut c = heap.cycles.lock();
            if let Some(msg) = &c.failed {
                panic!("tricolor: a collection failed: {msg}");
            }
            c.started += 1;
            c.requested = c.requested.max(c.started);
            // Asked for, not paced.
            c.forced = c.forced.max(c.started);
        }
        let run = sweep_termination(heap, false, Some(kind));
        deliver_mark_start(heap, &run);
        CycleStepper {
            heap,
            run: Some(run),
            one_cycle: Some(lock),
        }
    }

    /// Scans every mutator's stack by handshake (SATB: nothing to do, its
    /// stacks were scanned at sweep termination).
    pub fn scan_stacks(&mut self) {
        scan_stacks(self.heap);
    }

    /// Scans the stack of the mutator with id `mutator` by handshake, if it
    /// is attached (SATB: nothing to do).
    pub fn scan_stack(&mut self, mutator: u64) {
        scan_stacks_of(self.heap, |id| id == mutator);
    }

    /// Scans the global roots, unless already scanned this cycle.
    pub fn scan_globals(&mut self) {
        scan_globals_if_pending(self.heap);
    }

    /// Scans at most `objects` grey objects on this thread; returns how
    /// many it scanned (0: the grey set is empty, as far as the shared
    /// queues show; barrier buffers may still hold values).
    pub fn mark(&mut self, objects: usize) -> usize {
        drain_private_objects(self.heap, objects, &mut self.heap.mark_state.tally())
    }

    /// Flushes every mutator's barrier buffer into the grey set by
    /// handshake; returns how many values they held.
    pub fn flush_buffers(&mut self) -> usize {
        flush_buffers(self.heap)
    }

    /// One ephemeron pass (ephemeron §2): shades the value of every entry
    /// whose key is marked and whose value is not; returns how many it
    /// shaded (drain with [`mark`](Self::mark) afterwards).
    pub fn ephemeron_pass(&mut self) -> usize {
        ephemeron::pass_and_shade(self.heap)
    }

    /// The finalizer stage (specials §2), if it has not run this cycle:
    /// marks the referents of every unmarked finalizable object, draining
    /// after each. Returns how many finalizable objects it found in cycles.
    pub fn finalizer_stage(&mut self) -> u64 {
        finalizers::finalizer_stage(self.heap, true)
    }

    /// Runs the rest of the cycle: the global roots if not yet scanned, then
    /// mark termination (STW #2), which scans any stack not yet scanned,
    /// flushes every barrier buffer and drains the grey set with the world
    /// stopped. Returns the cycle's stats.
    ///
    /// # Panics
    /// If checkmark or the verifier finds a fault (the heap is then marked
    /// failed, as for a failed collection).
    pub fn finish(mut self) -> CycleStats {
        self.complete()
    }

    fn complete(&mut self) -> CycleStats {
        let run = self.run.take().expect("a cycle in progress");
        let heap = self.heap;
        let result = catch_unwind(AssertUnwindSafe(|| {
            scan_globals_if_pending(heap);
            mark_termination(heap, run)
        }));
        match result {
            Ok(end) => {
                // Told with the cycle lock released, before waiters wake.
                self.one_cycle = None;
                let stats = after_cycle(heap, end);
                end_cycle(heap, None);
                stats
            }
            Err(p) => {
                let msg = panic_message(p.as_ref());
                end_cycle(heap, Some(p));
                panic!("{msg}");
            }
        }
    }
}

impl Drop for CycleStepper<'_> {
    fn drop(&mut self) {
        if self.run.is_some() && !std::thread::panicking() {
            self.complete();
        }
    }
}
