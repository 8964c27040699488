//! One collection cycle, start to end (the essay's steps 1–5, in order).
//!
//! A cycle is built from the steps below, used in this order by the heap's
//! collector thread (`driver`) and, one at a time, by [`CycleStepper`] for
//! deterministic tests:
//!
//! | step | function | world |
//! |---|---|---|
//! | 2 sweep termination | `sweep_termination` | stopped (STW #1) |
//! | 3a roots | global-roots job for a worker; stacks by handshake (`scan_stacks`) | running |
//! | 3b mark | background workers, assists, `drain_some` | running |
//! | 4a termination | `flush_buffers` until nothing is found | running |
//! | 4b mark termination | `mark_termination` | stopped (STW #2) |
//! | 5 sweep | background sweeper and lazy sweeping | running |
//!
//! With [`BarrierMode::Off`] the whole mark runs inside one stop-the-world
//! (`run_stw_cycle`).
//!
//! # Termination (step 4), and why it cannot miss a grey object
//!
//! Grey objects can be in: the injector, a background worker's deque or
//! prefetch ring, the private stack and ring of an assist or drain, or a
//! mutator's barrier buffer (as a recorded value). A worker goes idle only
//! with its deque and ring empty; a private drain
//! pushes its stack and ring to the injector before it stops counting as
//! running. The concurrent part loops: wait until
//! [`MarkState::quiescent`](crate::gcwork) holds (every worker idle with an
//! empty deque, no private drain running, shared queues empty, and no marker
//! took work while this was checked: the epoch counter), then flush every
//! barrier buffer by handshake; if the flush shaded no new object and the
//! markers are still quiescent, stop the world. That loop is only a heuristic for a short
//! second pause. Correctness rests on mark termination itself: with the world
//! stopped no mutator stores, allocates or assists, so no grey object can
//! appear except from the places above; mark termination flushes every
//! buffer, rescans stacks in incremental-update mode, and drains until
//! quiescent again. Quiescence with no mutator running is stable, so at that
//! point the grey set is empty and, by the barrier mode's invariant
//! (`tricolor-barriers` §4–§6), everything reachable is black.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tricolor_barriers::BarrierMode;

use crate::gcwork::{self, Tally};
use crate::heap::HeapInner;
use crate::phase::{transition, Phase};
use crate::stats::CycleStats;
use crate::{assist, barrier, ephemeron, mark, roots, safepoint, specials, verify};

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
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _one = heap.cycle_lock.lock();
            heap.cycles.lock().started += 1;
            run_cycle(&heap)
        }));
        end_cycle(&heap, result.err());
    }
}

/// Records a cycle's end (and its failure, if it panicked) and wakes waiters.
pub(crate) fn end_cycle(heap: &HeapInner, panic: Option<Box<dyn std::any::Any + Send>>) {
    let mut c = heap.cycles.lock();
    c.completed += 1;
    if let Some(payload) = panic {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        c.failed = Some(msg);
        // Whatever state the cycle died in, markers must stop looking.
        heap.mark_state.active.store(false, Ordering::Release);
        heap.mark_state.wake_all();
    }
    drop(c);
    heap.cycle_cv.notify_all();
    heap.sweep_cv.notify_all();
}

/// Runs one whole cycle on the calling (collector) thread.
pub(crate) fn run_cycle(heap: &HeapInner) {
    if heap.mode == BarrierMode::Off {
        run_stw_cycle(heap);
        return;
    }
    let mut run = sweep_termination(heap, true);
    // Step 3a (stacks; a worker takes the globals) and 3b run meanwhile.
    scan_stacks(heap);
    // Step 4a: flush rounds until a flush shades nothing new.
    let t = Instant::now();
    let mut last_progress = (t, heap.mark_state.epoch.load(Ordering::Relaxed));
    loop {
        check_markers(heap);
        if !heap.mark_state.quiescent() {
            help_if_stalled(heap, &mut last_progress);
            continue;
        }
        run.flush_rounds += 1;
        let (_, before) = heap.mark_state.totals();
        flush_buffers(heap);
        let (_, after) = heap.mark_state.totals();
        // Buffers are rarely empty while mutators store, but their values
        // are mostly black already: what matters is whether the flush
        // shaded anything new (Go's gcMarkDone asks the same).
        if after == before && heap.mark_state.quiescent() {
            // Marking from the roots has gone quiet: apply the ephemeron
            // rule (ephemeron §2), then run the finalizer stage (specials
            // §2), each with the world running; more marking may follow.
            if ephemeron::pass_and_shade(heap) > 0 {
                continue;
            }
            if !heap.specials.stage_done.load(Ordering::Acquire) {
                specials::finalizer_stage(heap);
                continue;
            }
            break;
        }
    }
    mark_termination(heap, run);
}

/// Waits a little for the markers; if there are none, or they made no
/// progress for a while (idle-priority workers starved of CPU, mutators not
/// allocating so not assisting), drains on this thread.
fn help_if_stalled(heap: &HeapInner, last: &mut (Instant, u64)) {
    const STALL: Duration = Duration::from_millis(5);
    let ms = &heap.mark_state;
    if ms.workers == 0 {
        drain_some(heap, u64::MAX);
        return;
    }
    let epoch = ms.epoch.load(Ordering::Relaxed);
    let credit = ms.bg_credit.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_micros(100));
    let now = Instant::now();
    let progressed =
        ms.epoch.load(Ordering::Relaxed) != epoch || ms.bg_credit.load(Ordering::Relaxed) != credit;
    if heap.shutting_down.load(Ordering::Acquire) {
        // The last user is gone and the workers have exited: finish the
        // mark on this thread.
        drain_some(heap, u64::MAX);
    } else if progressed {
        *last = (now, epoch);
    } else if now - last.0 > STALL && (ms.work_visible() || ms.roots_pending()) {
        drain_some(heap, 256 << 10);
        *last = (Instant::now(), ms.epoch.load(Ordering::Relaxed));
    }
}

/// Panics if a marker thread found a bad pointer (it recorded the message).
fn check_markers(heap: &HeapInner) {
    if let Some(msg) = heap.mark_state.failure.lock().clone() {
        panic!("{msg}");
    }
}

/// The state of a cycle between its two stop-the-world pauses.
pub(crate) struct CycleRun {
    number: u64,
    start: Duration,
    heap_trigger: u64,
    heap_before: u64,
    stw1: Duration,
    /// Time to stop of STW #1.
    stop_wait1: Duration,
    mark_began: Instant,
    flush_rounds: u32,
    /// `finalizer_cycles` summed over the heap's life, when the cycle began.
    fin_cycles_before: u64,
}

/// Where every cycle starts (essay steps 1–2a): take the cycle's number and
/// the trigger estimate, sweep what is left with the world running (as Go's
/// gcStart does, so the pause does not include sweeping), stop the world,
/// enter sweep termination and finish the sweep (normally nothing is left).
fn begin_sweep_termination(heap: &HeapInner) -> (CycleStart, safepoint::StoppedWorld<'_>) {
    let number = heap.cycles.lock().started;
    let start = heap.started_at.elapsed();
    let heap_trigger = heap.paced_heap();
    while heap.page.sweep_one().is_some() {}
    let t0 = Instant::now();
    let world = safepoint::stop_the_world(heap);
    transition(heap, Phase::Off, Phase::SweepTermination);
    heap.page.finish_sweep();
    let begun = CycleStart {
        number,
        start,
        heap_trigger,
        t0,
        stop_wait: world.stop_wait,
    };
    (begun, world)
}

/// What `begin_sweep_termination` measured.
struct CycleStart {
    number: u64,
    start: Duration,
    heap_trigger: u64,
    /// When the world began to stop.
    t0: Instant,
    /// How long stopping it took (`StoppedWorld::stop_wait`).
    stop_wait: Duration,
}

/// Where every cycle ends (essay steps 4b–5), world stopped: the pacer's
/// next goal from `marked_bytes`, the allocator's sweep generation advanced
/// (every span now needs sweeping), phase back to `Off`.
fn end_mark_termination(heap: &HeapInner, marked_bytes: u64) -> crate::pacer::CycleGoal {
    let goal = heap.pacer.lock().end_cycle(marked_bytes);
    heap.live_after_mark.store(marked_bytes, Ordering::Relaxed);
    heap.allocated_since_mark.store(0, Ordering::Relaxed);
    heap.page.start_sweep_cycle();
    transition(heap, Phase::MarkTermination, Phase::Off);
    goal
}

/// Step 2, sweep termination (STW #1): finish the last sweep, set up the
/// mark, turn on the barrier and allocate-black, and (SATB) scan every stack.
/// `collector_driven`: the collector thread runs this cycle to its end (not
/// a [`CycleStepper`]), so mark assists may park ([`crate::assist`]).
pub(crate) fn sweep_termination(heap: &HeapInner, collector_driven: bool) -> CycleRun {
    // 2a: finish the sweep, the world stopped.
    let (begun, mut world) = begin_sweep_termination(heap);
    // 2b: every cache hands its spans back, so the spans' allocation state
    // is exact for the debug checks during the mark; from now on each
    // allocation is black. Stacks are unscanned (grey).
    let satb = heap.mode == BarrierMode::Satb;
    for (m, data) in world.mutators.iter_mut() {
        data.cache.release_all();
        data.cache.set_allocate_black(true);
        data.stack_scanned = false;
        data.assist_debt = 0;
        debug_assert!(
            data.barrier.buffer().is_empty(),
            "mutator {} has barrier records from outside a mark",
            m.id
        );
    }
    // The runway is measured in the pacer's terms, as the goal is.
    let heap_before = heap.paced_heap();
    let (goal, expected) = {
        let p = heap.pacer.lock();
        (p.goal(), p.live_after_last_mark())
    };
    heap.mark_state.reset(
        assist::ratio(expected, goal.saturating_sub(heap_before)),
        collector_driven && heap.config.mark_assists,
    );
    heap.specials.begin_mark();
    // 2c (SATB): the snapshot's roots. SATB's deletion barrier does not
    // cover stacks that are not yet scanned (barriers §5, §7), so every
    // stack is scanned before any mutator stores again.
    if satb {
        for (m, data) in world.mutators.iter_mut() {
            roots::scan_stack(heap, m.id, data);
        }
    }
    // 2d: the barrier is on from the moment mutators see `Mark`.
    transition(heap, Phase::SweepTermination, Phase::Mark);
    heap.mark_state.post_roots_job();
    heap.mark_state.active.store(true, Ordering::Release);
    let stw1 = begun.t0.elapsed();
    world.start();
    heap.mark_state.wake_all();
    CycleRun {
        number: begun.number,
        start: begun.start,
        heap_trigger: begun.heap_trigger,
        heap_before,
        stw1,
        stop_wait1: begun.stop_wait,
        mark_began: Instant::now(),
        flush_rounds: 0,
        fin_cycles_before: heap.specials.finalizer_cycles.load(Ordering::Relaxed),
    }
}

/// Step 3a: scans every mutator's stack by handshake (hybrid and
/// incremental update; SATB scanned them at sweep termination). Each
/// running mutator scans its own at its next safepoint; the collector scans
/// those of parked or native mutators. In hybrid mode a scanned stack is
/// black and is never scanned again this cycle.
pub(crate) fn scan_stacks(heap: &HeapInner) {
    if heap.mode == BarrierMode::Satb {
        return;
    }
    safepoint::handshake(heap, Arc::new(roots::scan_stack));
}

/// Scans the global roots on this thread if no worker has taken the job.
pub(crate) fn scan_globals_if_pending(heap: &HeapInner) {
    if heap.mark_state.take_roots_job() {
        roots::scan_globals(heap);
    }
}

/// Step 3b on the calling thread: scans up to `budget` bytes of grey
/// objects; returns the bytes scanned (0: no grey object could be found).
pub(crate) fn drain_some(heap: &HeapInner, budget: u64) -> u64 {
    scan_globals_if_pending(heap);
    let mut tally = Tally::default();
    gcwork::drain_private(heap, budget, &mut tally)
}

/// Step 4a: flushes every mutator's barrier buffer into the grey set by
/// handshake; returns how many values the buffers held.
pub(crate) fn flush_buffers(heap: &HeapInner) -> usize {
    let found = Arc::new(AtomicUsize::new(0));
    let f = found.clone();
    safepoint::handshake(
        heap,
        Arc::new(move |heap, id, data| {
            f.fetch_add(barrier::flush(heap, data, id), Ordering::Relaxed);
        }),
    );
    found.load(Ordering::Relaxed)
}

/// Step 4b, mark termination (STW #2): flush every buffer, rescan stacks in
/// incremental-update mode, drain to an empty grey set, turn the barrier and
/// allocate-black off, verify, compute the next goal, start the sweep.
pub(crate) fn mark_termination(heap: &HeapInner, run: CycleRun) -> CycleStats {
    let mark_wall = run.mark_began.elapsed();
    let t0 = Instant::now();
    // Step 4b: the world stopped, the barrier off for mutators.
    let mut world = safepoint::stop_the_world(heap);
    let stop_wait2 = world.stop_wait;
    transition(heap, Phase::Mark, Phase::MarkTermination);
    // A global write runs its barrier under the globals lock, from any
    // thread (stopping the world does not stop unattached ones): taking the
    // lock once waits out a write that still saw `Mark`; later ones see the
    // new phase and shade nothing.
    drop(heap.globals.lock());
    let (_, objects_before) = heap.mark_state.totals();
    scan_globals_if_pending(heap);
    for (m, data) in world.mutators.iter_mut() {
        barrier::flush(heap, data, m.id);
        if heap.mode == BarrierMode::IncrementalUpdate || !data.stack_scanned {
            // Incremental update: stacks have no barrier and stay grey all
            // cycle (barriers §4). Any mode: a stack no handshake reached
            // (a stepped cycle that skipped it) is scanned now, the latest
            // point its scan could have come.
            roots::scan_stack(heap, m.id, data);
        }
    }
    // Drain with the world stopped until quiescent: nothing can refill the
    // grey set now, so quiescence is final (module docs).
    drain_stopped(heap);
    // The ephemeron rule to a fixpoint, and the finalizer stage if the
    // concurrent part did not reach it, with the world stopped: final
    // (ephemeron §2, specials §2).
    loop {
        if ephemeron::pass_and_shade(heap) > 0 {
            drain_stopped(heap);
            continue;
        }
        if !heap.specials.stage_done.load(Ordering::Acquire) {
            specials::finalizer_stage(heap);
            drain_stopped(heap);
            continue;
        }
        break;
    }
    let ms = &heap.mark_state;
    ms.active.store(false, Ordering::Release);
    // Parked assists wait for this (they leave native state once the world
    // restarts).
    ms.wake_assists();
    let (marked_bytes, marked_objects) = ms.totals();
    for (_, data) in world.mutators.iter_mut() {
        data.cache.set_allocate_black(false);
        data.cache.release_all();
    }
    if heap.config.checkmark {
        let mut roots = roots::gather(heap, &mut world);
        specials::checkmark_roots(heap, &mut roots);
        ephemeron::checkmark_roots(heap, &mut roots);
        verify::checkmark(heap, &roots);
    }
    if heap.config.verify {
        verify::verify_heap(heap);
    }
    // Entries of dead keys go before anything is freed (ephemeron §2).
    let ephemerons_dropped = ephemeron::drop_dead_entries(heap);
    let goal = end_mark_termination(heap, marked_bytes);
    let stw2 = t0.elapsed();
    world.start();

    let stats = CycleStats {
        number: run.number,
        start: run.start,
        barrier: heap.mode,
        sweep_termination: run.stw1,
        mark: mark_wall,
        mark_termination: stw2,
        mark_cpu: Duration::from_nanos(ms.cpu_ns.load(Ordering::Relaxed)),
        assist_bytes: ms.assist_bytes.load(Ordering::Relaxed),
        assist_wait: Duration::from_nanos(ms.assist_wait_ns.load(Ordering::Relaxed)),
        pause: run.stw1 + stw2,
        pauses: vec![run.stw1, stw2],
        stop_waits: vec![run.stop_wait1, stop_wait2],
        heap_trigger: run.heap_trigger,
        heap_before: run.heap_before,
        heap_marked: marked_bytes,
        objects_marked: marked_objects,
        termination_objects: marked_objects - objects_before,
        flush_rounds: run.flush_rounds,
        goal: goal.goal,
        workers: ms.workers,
        finalizer_cycles: heap.specials.finalizer_cycles.load(Ordering::Relaxed)
            - run.fin_cycles_before,
        ephemerons_dropped,
        specials: heap.specials.stats(),
    };
    if heap.config.gctrace {
        eprintln!("{}", stats.trace_line());
    }
    heap.stats.lock().record(stats.clone());
    stats
}

/// Drains the grey set with the world stopped until the markers are
/// quiescent, which is then final (module docs).
fn drain_stopped(heap: &HeapInner) {
    loop {
        check_markers(heap);
        let mut tally = Tally::default();
        gcwork::drain_private(heap, u64::MAX, &mut tally);
        if heap.mark_state.quiescent() {
            break;
        }
        std::thread::yield_now();
    }
}

/// A whole cycle with the world stopped throughout ([`BarrierMode::Off`]):
/// parallel marking by `mark_workers` threads, no barrier needed.
pub(crate) fn run_stw_cycle(heap: &HeapInner) {
    // Step 2: sweep termination, world stopped.
    let (begun, mut world) = begin_sweep_termination(heap);
    let CycleStart {
        number,
        start,
        heap_trigger,
        t0,
        stop_wait,
    } = begun;
    for (_, data) in world.mutators.iter_mut() {
        data.cache.release_all();
    }
    let heap_before = heap.paced_heap();
    let t1 = Instant::now();

    // Step 3: mark, with the world still stopped.
    transition(heap, Phase::SweepTermination, Phase::Mark);
    let roots = roots::gather(heap, &mut world);
    let workers = heap.config.effective_mark_workers(heap.mode);
    let mut marked = mark::mark(heap, &roots, workers);
    // The ephemeron rule to a fixpoint and the finalizer stage (ephemeron
    // §2, specials §2).
    let fin_cycles_before = heap.specials.finalizer_cycles.load(Ordering::Relaxed);
    heap.specials.begin_mark();
    loop {
        let values: Vec<_> = ephemeron::pass(heap)
            .into_iter()
            .map(|v| (v, crate::RootKind::Ephemeron))
            .collect();
        if !values.is_empty() {
            marked += mark::mark(heap, &values, workers);
            continue;
        }
        if !heap.specials.stage_done.load(Ordering::Acquire) {
            marked += specials::finalizer_stage_stw(heap).0;
            continue;
        }
        break;
    }
    let t2 = Instant::now();

    // Step 4: mark termination.
    transition(heap, Phase::Mark, Phase::MarkTermination);
    if heap.config.checkmark {
        let mut roots = roots;
        specials::checkmark_roots(heap, &mut roots);
        ephemeron::checkmark_roots(heap, &mut roots);
        verify::checkmark(heap, &roots);
    }
    if heap.config.verify {
        verify::verify_heap(heap);
    }
    let ephemerons_dropped = ephemeron::drop_dead_entries(heap);
    let goal = end_mark_termination(heap, marked.live_bytes);
    let t3 = Instant::now();
    world.start();

    let stats = CycleStats {
        number,
        start,
        barrier: BarrierMode::Off,
        sweep_termination: t1 - t0,
        mark: t2 - t1,
        mark_termination: t3 - t2,
        mark_cpu: marked.cpu,
        pause: t3 - t0,
        pauses: vec![t3 - t0],
        stop_waits: vec![stop_wait],
        heap_trigger,
        heap_before,
        heap_marked: marked.live_bytes,
        objects_marked: marked.live_objects,
        goal: goal.goal,
        workers,
        finalizer_cycles: heap.specials.finalizer_cycles.load(Ordering::Relaxed)
            - fin_cycles_before,
        ephemerons_dropped,
        specials: heap.specials.stats(),
        ..CycleStats::default()
    };
    if heap.config.gctrace {
        eprintln!("{}", stats.trace_line());
    }
    heap.stats.lock().record(stats);
}

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
/// let a = m.alloc(node, 0)?;
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
    heap: &'h HeapInner,
    run: Option<CycleRun>,
    _one_cycle: parking_lot::MutexGuard<'h, ()>,
}

impl<'h> CycleStepper<'h> {
    pub(crate) fn begin(heap: &'h HeapInner) -> CycleStepper<'h> {
        assert!(
            heap.mode != BarrierMode::Off,
            "tricolor: begin_cycle needs a concurrent barrier mode; with the barrier off \
             marking stops the world (use collect)"
        );
        assert!(
            !crate::mutator::attached_here(heap.id()),
            "tricolor: begin_cycle called from a thread attached to this heap; step a cycle \
             from another thread while the mutators run or sit in native code"
        );
        let lock = heap.cycle_lock.lock();
        {
            let mut c = heap.cycles.lock();
            if let Some(msg) = &c.failed {
                panic!("tricolor: a collection failed: {msg}");
            }
            c.started += 1;
            c.requested = c.requested.max(c.started);
        }
        let run = sweep_termination(heap, false);
        CycleStepper {
            heap,
            run: Some(run),
            _one_cycle: lock,
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
        if self.heap.mode == BarrierMode::Satb {
            return;
        }
        safepoint::handshake_some(self.heap, Arc::new(roots::scan_stack), |m| m.id == mutator);
    }

    /// Scans the global roots, unless already scanned this cycle.
    pub fn scan_globals(&mut self) {
        scan_globals_if_pending(self.heap);
    }

    /// Scans at most `objects` grey objects on this thread; returns how
    /// many it scanned (0: the grey set is empty, as far as the shared
    /// queues show; barrier buffers may still hold values).
    pub fn mark(&mut self, objects: usize) -> usize {
        let mut tally = Tally::default();
        gcwork::drain_private_objects(self.heap, objects, &mut tally)
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
        crate::ephemeron::pass_and_shade(self.heap)
    }

    /// The finalizer stage (specials §2), if it has not run this cycle:
    /// marks the referents of every unmarked finalizable object, draining
    /// after each. Returns how many finalizable objects it found in cycles.
    pub fn finalizer_stage(&mut self) -> u64 {
        crate::specials::finalizer_stage(self.heap)
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
            Ok(stats) => {
                end_cycle(heap, None);
                stats
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                end_cycle(heap, Some(p));
                panic!("{}", msg.unwrap_or_else(|| "collection failed".into()));
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
