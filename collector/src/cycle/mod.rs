//! One collection cycle, start to end (the essay's steps 1–5, in order).
//!
//! A cycle is built from the steps below, used in this order by the heap's
//! collector thread (`driver`) and, one at a time, by [`CycleStepper`] for
//! deterministic tests:
//!
//! | step | function | world |
//! |---|---|---|
//! | 2 sweep termination | `stop_for_sweep_termination`, then `sweep_termination` | stopped (STW #1) |
//! | 3a roots | global-roots job for a worker; stacks by handshake (`scan_stacks`) | running |
//! | 3b mark | background workers (`mark::workers`), assists (`mutator::assist`), `drain_some` | running |
//! | 4a termination | `await_mark_end`: `flush_buffers` until nothing is found, then `weak_rules` | running |
//! | 4b mark termination | `mark_termination`, then `finish_mark_termination` | stopped (STW #2) |
//! | 5 sweep | background sweeper (`sweep`) and lazy sweeping | running |
//!
//! The embedder hears of the steps through `events`: `MarkStart` after
//! step 2, `MarkTermination` and `End` after step 4b, `SweepDone` once
//! step 5 is over, each delivered by the thread that ran the step once the
//! world runs again (`deliver_mark_start`, `after_cycle`,
//! `sweep::report_sweep_done`).
//!
//! With [`BarrierMode::Off`] the same steps run inside one stop-the-world
//! (`stop_the_world_cycle`): `stop_for_sweep_termination`, the roots
//! shaded and drained by `mark::stw`, the same `weak_rules` fixpoint, and
//! the same `finish_mark_termination`. Every step is written once; the two
//! modes differ only in whether the world restarts between them.
//!
//! # Termination (step 4), and why it cannot miss a grey object
//!
//! Grey objects can be in: the injector, a background worker's deque or
//! prefetch ring, the private stack and ring of an assist or drain, or a
//! mutator's barrier buffer (as a recorded value). A worker goes idle only
//! with its deque and ring empty; a private drain
//! pushes its stack and ring to the injector before it stops counting as
//! running. The concurrent part loops: wait until
//! `MarkState::quiescent` (`mark::queue`) holds (every worker idle with an
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

use crate::events::{self, CycleEvent, TracedPhase};
use crate::generation::CycleKind;
use crate::heap::inner::HeapInner;
use crate::inspect;
use crate::mark::drain::drain_private;
use crate::mark::scan::shade_roots;
use crate::mark::source::Source;
use crate::mark::{ephemeron, finalizers, roots, stw};
use crate::mutator::safepoint::{self, StoppedWorld};
use crate::mutator::{assist, barrier};
use crate::phase::Phase;
use crate::policy::generations;
use crate::stats::{thread_cpu_time, CycleStats, TypeStats};
use crate::sweep::report_sweep_done;
use crate::verify;

pub mod stepper;

pub use stepper::CycleStepper;

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
            let number = {
                let mut c = heap.cycles.lock();
                c.started += 1;
                c.started
            };
            let _span = events::cycle_span(number);
            run_cycle(&heap)
        }));
        // The cycle lock is released: the end of the cycle is told before
        // its waiters are woken (so `collect` returns after it).
        let result = result.map(|end| after_cycle(&heap, end));
        end_cycle(&heap, result.err());
    }
}

/// What a finished cycle hands to [`after_cycle`]: its statistics and the
/// times of the events still to deliver.
pub(crate) struct CycleEnd {
    pub(crate) stats: CycleStats,
    /// `MarkStart`'s time, if it is still to be delivered (the barrier was
    /// off: the mark began inside the one pause).
    mark_start_at: Option<Duration>,
    /// When the world restarted after mark termination, since the heap was
    /// made.
    mark_termination_at: Duration,
}

/// Delivers what step 2 ends with, once the world runs again: the last
/// cycle's `SweepDone` (STW #1 finished that sweep) and `MarkStart`.
pub(crate) fn deliver_mark_start(heap: &HeapInner, run: &CycleRun) {
    if heap.events.enabled() {
        report_sweep_done(heap);
        heap.events.deliver(CycleEvent::MarkStart {
            cycle: run.number,
            at: run.mark_start_at,
        });
    }
}

/// The end of a cycle, told to the embedder by the thread that ran it,
/// with the world running and no collector lock held: `MarkStart` too if
/// the whole cycle was one pause, then `MarkTermination`, `End`, the
/// near-limit callback, and `SweepDone` if the sweep is over already.
pub(crate) fn after_cycle(heap: &HeapInner, end: CycleEnd) -> CycleStats {
    events::trace_cycle_end(&end.stats);
    if heap.events.enabled() {
        if let Some(at) = end.mark_start_at {
            report_sweep_done(heap);
            heap.events.deliver(CycleEvent::MarkStart {
                cycle: end.stats.number,
                at,
            });
        }
        let limit = heap.pacer.lock().config().memory_limit;
        heap.events
            .deliver_end(&end.stats, end.mark_termination_at, limit);
        report_sweep_done(heap);
    }
    end.stats
}

/// Records a cycle's end (and its failure, if it panicked) and wakes waiters.
pub(crate) fn end_cycle(heap: &HeapInner, panic: Option<Box<dyn std::any::Any + Send>>) {
    let mut c = heap.cycles.lock();
    c.completed += 1;
    if let Some(payload) = panic {
        c.failed = Some(panic_message(payload.as_ref()));
        // Whatever state the cycle died in, markers must stop looking.
        heap.mark_state.active.store(false, Ordering::Release);
        heap.mark_state.wake_all();
    }
    drop(c);
    heap.cycle_cv.notify_all();
    heap.sweep_cv.notify_all();
}

/// The message a panic carried (a `String` or a `&str`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs one whole cycle on the calling (collector) thread.
pub(crate) fn run_cycle(heap: &Arc<HeapInner>) -> CycleEnd {
    if heap.mode == BarrierMode::Off {
        return stop_the_world_cycle(heap);
    }
    let mut run = sweep_termination(heap, true, None);
    deliver_mark_start(heap, &run);
    let mark_span = events::phase_span(TracedPhase::Mark, run.number);
    // What this thread does until mark termination (stack scans for
    // native mutators, draining when the markers stall, the finalizer
    // stage) is background marking.
    let cpu0 = thread_cpu_time();
    // Step 3a (stacks; a worker takes the globals) and 3b run meanwhile.
    scan_stacks(heap);
    await_mark_end(heap, &mut run);
    heap.mark_state.background_cpu_ns.fetch_add(
        thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
        Ordering::Relaxed,
    );
    mark_span.end();
    mark_termination(heap, run)
}

/// The whole cycle with the world stopped throughout ([`BarrierMode::Off`]):
/// the concurrent cycle's steps, with no restart between them and the mark
/// drained by `mark_workers` threads (`mark::stw`); no barrier is needed.
fn stop_the_world_cycle(heap: &HeapInner) -> CycleEnd {
    let (mut run, mut world) = stop_for_sweep_termination(heap, false, None);
    // Step 3, with the world still stopped: the roots, then the grey set.
    heap.phase.transition(Phase::SweepTermination, Phase::Mark);
    run.mark_began = Instant::now();
    run.mark_start_at = heap.started_at.elapsed();
    let cpu_mark = thread_cpu_time();
    run.sweep_termination_cpu = cpu_mark.saturating_sub(run.cpu0);
    if let Some(span) = run.span.take() {
        span.end();
    }
    let mark_span = events::phase_span(TracedPhase::Mark, run.number);
    let roots = roots::gather(heap, &mut world);
    shade_roots(heap, roots.iter().map(|&(v, kind)| (v, Source::Root(kind))));
    roots::scan_remembered(heap);
    let workers = heap.config.effective_mark_workers(heap.mode);
    stw::drain_stopped_world(heap, workers);
    // Step 4's fixpoint of the weak rules.
    while weak_rules(heap) {
        stw::drain_stopped_world(heap, workers);
    }
    let mark_ended = Instant::now();
    // This thread's part of the mark (it is the mark's first worker, which
    // `mark::stw` leaves to be counted here) is background marking.
    let cpu_end = thread_cpu_time();
    heap.mark_state.background_cpu_ns.fetch_add(
        cpu_end.saturating_sub(cpu_mark).as_nanos() as u64,
        Ordering::Relaxed,
    );
    mark_span.end();
    let span = events::phase_span(TracedPhase::MarkTermination, run.number);
    heap.phase.transition(Phase::Mark, Phase::MarkTermination);
    let mark = mark_ended - run.mark_began;
    let end = finish_mark_termination(
        heap,
        run,
        world,
        MarkEnd {
            mark,
            since: mark_ended,
            cpu_since: cpu_end,
            stop_wait: None,
            termination_objects: 0,
            workers,
        },
    );
    span.end();
    end
}

/// Step 4a (with 4a'): with the world running, waits for the markers to
/// go quiet and flushes every barrier buffer, until a flush shades nothing
/// new; then applies the weak rules (`weak_rules`), and starts over if they
/// greyed anything. Returns when the grey set looks empty and the weak
/// rules are settled; mark termination then makes it final (module docs).
fn await_mark_end(heap: &Arc<HeapInner>, run: &mut CycleRun) {
    let ms = &heap.mark_state;
    let mut last_progress = (Instant::now(), ms.epoch.load(Ordering::Relaxed));
    loop {
        check_markers(heap);
        // Stalled workers (tests only) hold the mark open whether or not
        // they have woken yet, as busy workers the OS does not run would.
        if !ms.quiescent() || heap.workers_stalled_for_testing.load(Ordering::SeqCst) {
            help_if_stalled(heap, &mut last_progress);
            continue;
        }
        run.flush_rounds += 1;
        let (_, before) = ms.totals();
        flush_buffers(heap);
        let (_, after) = ms.totals();
        // Buffers are rarely empty while mutators store, but their values
        // are mostly black already: what matters is whether the flush
        // shaded anything new (Go's gcMarkDone asks the same).
        if after == before && ms.quiescent() && !weak_rules(heap) {
            return;
        }
    }
}

/// Steps 4a' and 4b's fixpoint, once marking from the roots has gone quiet:
/// one ephemeron pass (an entry whose key is marked shades its value;
/// ephemeron §2), else the finalizer stage if it has not run this cycle
/// (specials §2). Returns whether it may have greyed anything: the caller
/// marks, and asks again until it returns false.
fn weak_rules(heap: &HeapInner) -> bool {
    if ephemeron::pass_and_shade(heap) > 0 {
        return true;
    }
    if !heap.specials.stage_done.load(Ordering::Acquire) {
        // Its CPU time is in the pause's, or in the collector thread's
        // background marking (`run_cycle`, `stop_the_world_cycle`).
        finalizers::finalizer_stage(heap, false);
        return true;
    }
    false
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

/// The state of a cycle from sweep termination to the end of mark
/// termination.
pub(crate) struct CycleRun {
    number: u64,
    /// When the cycle began, since the heap was made.
    start: Duration,
    /// The paced heap when the cycle was triggered.
    heap_trigger: u64,
    /// The paced heap at sweep termination, caches released.
    heap_before: u64,
    /// When the world began to stop for sweep termination.
    t0: Instant,
    /// Time to stop of STW #1.
    stop_wait1: Duration,
    /// STW #1's length, once the world restarted after it; `None` while it
    /// is still stopped (a stop-the-world cycle keeps it stopped).
    stw1: Option<Duration>,
    /// When marking began.
    mark_began: Instant,
    /// Barrier-buffer flush rounds of step 4a.
    flush_rounds: u32,
    /// `finalizer_cycles` summed over the heap's life, when the cycle began.
    fin_cycles_before: u64,
    /// Asked for rather than paced (`CycleControl::forced`).
    forced: bool,
    /// This thread's CPU time when the world began to stop for STW #1.
    cpu0: Duration,
    /// This thread's CPU time in STW #1 (with the barrier off, up to the
    /// start of the mark).
    sweep_termination_cpu: Duration,
    /// When marking began, since the heap was made: `MarkStart`'s time.
    mark_start_at: Duration,
    /// The sweep-termination span (feature `tracing`), until STW #1 ends.
    span: Option<events::PhaseSpan>,
    /// Minor or major (generation §2).
    kind: CycleKind,
    /// The remembered set's size, taken at STW #1 (generation §3).
    remembered: u64,
}

/// Step 2, as both kinds of cycle begin it: take the cycle's number and the
/// trigger estimate, sweep what is left with the world running (as Go's
/// gcStart does, so the pause does not include sweeping), stop the world,
/// enter sweep termination and finish the sweep (2a; normally nothing is
/// left), release every cache, and set up the mark's counters (2b). For a
/// concurrent mark, allocation turns black and stacks grey (unscanned).
/// `collector_driven`: the collector thread runs this cycle to its end (not
/// a [`CycleStepper`]), so mark assists may park (`mutator::assist`).
/// `wish`: the kind a stepper asked for (generation §2); `None` lets the
/// policy choose, and a forced cycle is major.
fn stop_for_sweep_termination(
    heap: &HeapInner,
    collector_driven: bool,
    wish: Option<CycleKind>,
) -> (CycleRun, StoppedWorld<'_>) {
    let (number, forced) = {
        let c = heap.cycles.lock();
        (c.started, c.forced >= c.started)
    };
    let start = heap.started_at.elapsed();
    let heap_trigger = heap.paced_heap();
    while heap.page.sweep_one().is_some() {}
    // Generation §2: a major cycle after a sweep that kept the marks
    // clears them first, with the world running (nothing marks now, and
    // allocation does not touch mark bits outside a mark).
    // A cycle the program asked for is major, unless a stepper asked for
    // a minor one.
    let wish = wish.or(forced.then_some(CycleKind::Major));
    let (kind, clear_marks) = heap.generations.choose(wish);
    if clear_marks {
        heap.page.finish_sweep();
        heap.page.clear_marks();
        heap.generations.marks_cleared();
    }
    let span = events::phase_span(TracedPhase::SweepTermination, number);
    let t0 = Instant::now();
    let cpu0 = thread_cpu_time();
    let mut world = safepoint::stop_the_world(heap);
    heap.phase.transition(Phase::Off, Phase::SweepTermination);
    heap.page.finish_sweep();
    // Generation §3: the stores' logs become a minor cycle's remembered
    // set (a major cycle drops them).
    heap.generations
        .begin(kind, heap.page.first_survivor_bytes());
    let remembered = if heap.generations.enabled {
        heap.generations.take_logs(
            &mut heap.mark_state.carried.lock(),
            world.mutators.iter_mut().map(|(_, data)| &mut data.log),
        )
    } else {
        0
    };
    // 2b: every cache hands its spans back, so the spans' allocation state
    // is exact for the debug checks during the mark.
    let concurrent = heap.mode != BarrierMode::Off;
    for (m, data) in world.mutators.iter_mut() {
        data.cache.release_all();
        if concurrent {
            // From now on each allocation is black; stacks are grey.
            data.set_allocate_black(true, heap.generations.tenures_first());
            data.stack_scanned = false;
            data.assist_debt = 0;
        }
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
        collector_driven && concurrent && heap.config.mark_assists,
    );
    heap.specials.begin_mark();
    let run = CycleRun {
        number,
        start,
        heap_trigger,
        heap_before,
        t0,
        stop_wait1: world.stop_wait,
        stw1: None,
        mark_began: t0,
        flush_rounds: 0,
        fin_cycles_before: heap.specials.finalizer_cycles.load(Ordering::Relaxed),
        forced,
        cpu0,
        sweep_termination_cpu: Duration::ZERO,
        mark_start_at: start,
        span: Some(span),
        kind,
        remembered: remembered as u64,
    };
    (run, world)
}

/// Step 2 of a concurrent cycle (STW #1): `stop_for_sweep_termination`,
/// then (SATB) every stack scanned, the barrier turned on, and the world
/// restarted.
pub(crate) fn sweep_termination(
    heap: &HeapInner,
    collector_driven: bool,
    wish: Option<CycleKind>,
) -> CycleRun {
    let (mut run, mut world) = stop_for_sweep_termination(heap, collector_driven, wish);
    // 2c (SATB): the snapshot's roots. SATB's deletion barrier does not
    // cover stacks that are not yet scanned (barriers §5, §7), so every
    // stack is scanned before any mutator stores again.
    if heap.mode == BarrierMode::Satb {
        for (m, data) in world.mutators.iter_mut() {
            roots::scan_stack(heap, m.id, data);
        }
    }
    // 2d: the barrier is on from the moment mutators see `Mark`.
    heap.phase.transition(Phase::SweepTermination, Phase::Mark);
    let ms = &heap.mark_state;
    ms.post_roots_job();
    ms.active.store(true, Ordering::Release);
    run.stw1 = Some(run.t0.elapsed());
    world.start();
    run.sweep_termination_cpu = thread_cpu_time().saturating_sub(run.cpu0);
    if let Some(span) = run.span.take() {
        span.end();
    }
    ms.wake_all();
    run.mark_began = Instant::now();
    run.mark_start_at = heap.started_at.elapsed();
    run
}

/// Step 3a: scans every mutator's stack by handshake (hybrid and
/// incremental update; SATB scanned them at sweep termination). Each
/// running mutator scans its own at its next safepoint; the collector scans
/// those of parked or native mutators. In hybrid mode a scanned stack is
/// black and is never scanned again this cycle.
pub(crate) fn scan_stacks(heap: &Arc<HeapInner>) {
    scan_stacks_of(heap, |_| true);
}

/// [`scan_stacks`] for the mutators whose id `which` accepts.
pub(crate) fn scan_stacks_of(heap: &Arc<HeapInner>, which: impl Fn(u64) -> bool) {
    if heap.mode == BarrierMode::Satb {
        return;
    }
    let h = heap.clone();
    safepoint::handshake_some(
        heap,
        Arc::new(move |id, data| roots::scan_stack(&h, id, data)),
        |m| which(m.id),
    );
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
    drain_private(heap, budget, &mut heap.mark_state.tally())
}

/// Step 4a: flushes every mutator's barrier buffer into the grey set by
/// handshake; returns how many values the buffers held.
pub(crate) fn flush_buffers(heap: &Arc<HeapInner>) -> usize {
    let found = Arc::new(AtomicUsize::new(0));
    let (f, h) = (found.clone(), heap.clone());
    safepoint::handshake(
        heap,
        Arc::new(move |id, data| {
            f.fetch_add(barrier::flush(&h, data, id), Ordering::Relaxed);
        }),
    );
    found.load(Ordering::Relaxed)
}

/// Step 4b, mark termination of a concurrent cycle (STW #2): flush every
/// buffer, rescan stacks in incremental-update mode, drain to an empty grey
/// set and settle the weak rules with the world stopped, turn
/// allocate-black off; then `finish_mark_termination`.
pub(crate) fn mark_termination(heap: &HeapInner, run: CycleRun) -> CycleEnd {
    let _span = events::phase_span(TracedPhase::MarkTermination, run.number);
    let mark = run.mark_began.elapsed();
    let since = Instant::now();
    let cpu_since = thread_cpu_time();
    let mut world = safepoint::stop_the_world(heap);
    let stop_wait = world.stop_wait;
    heap.phase.transition(Phase::Mark, Phase::MarkTermination);
    // A global write runs its barrier under the globals lock, from any
    // thread (stopping the world does not stop unattached ones): taking the
    // lock once waits out a write that still saw `Mark`; later ones see the
    // new phase and shade nothing.
    drop(heap.globals.lock());
    let ms = &heap.mark_state;
    let (_, objects_before) = ms.totals();
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
    // grey set now, so quiescence is final (module docs); the weak rules
    // to a fixpoint likewise (ephemeron §2, specials §2).
    drain_stopped(heap);
    while weak_rules(heap) {
        drain_stopped(heap);
    }
    ms.active.store(false, Ordering::Release);
    // Parked assists wait for this (they leave native state once the world
    // restarts).
    ms.wake_assists();
    for (_, data) in world.mutators.iter_mut() {
        data.set_allocate_black(false, false);
        data.cache.release_all();
    }
    let (_, objects_after) = ms.totals();
    finish_mark_termination(
        heap,
        run,
        world,
        MarkEnd {
            mark,
            since,
            cpu_since,
            stop_wait: Some(stop_wait),
            termination_objects: objects_after - objects_before,
            workers: ms.workers,
        },
    )
}

/// How the mark of a cycle ended, for its statistics.
struct MarkEnd {
    /// The mark's wall time.
    mark: Duration,
    /// When the last part of the cycle's final pause began: STW #2's stop
    /// (concurrent), or the end of marking (stop-the-world).
    since: Instant,
    /// This thread's CPU time at `since`.
    cpu_since: Duration,
    /// Time to stop of STW #2 (concurrent only).
    stop_wait: Option<Duration>,
    /// Objects marked inside STW #2.
    termination_objects: u64,
    /// Mark workers of the cycle.
    workers: usize,
}

/// The end of every cycle (essay steps 4b–5), world stopped, grey set
/// empty: checkmark and the verifier if configured (`verify`), pending
/// retaining-path and snapshot requests answered (inspect §1), entries of
/// dead ephemeron keys removed before anything is freed (ephemeron §2), the
/// pacer's next goal from the marked bytes, the allocator's sweep
/// generation advanced (every span now needs sweeping), phase back to
/// `Off`, the world restarted; then the cycle's statistics are recorded
/// and, with gctrace, printed.
fn finish_mark_termination(
    heap: &HeapInner,
    run: CycleRun,
    mut world: StoppedWorld<'_>,
    end: MarkEnd,
) -> CycleEnd {
    let ms = &heap.mark_state;
    let (marked_bytes, marked_objects) = ms.totals();
    // Every marker has published (the grey set is empty and no marker
    // runs): the per-type counts are final.
    let types = ms.take_types();
    // Checkmark and pending inspections walk from the same labelled roots,
    // gathered once (inspect §1), before dead ephemeron entries go.
    // Only a major cycle answers (generation §1): in a minor one dead old
    // objects are still marked, so "unreachable" could not be told.
    let inspections = if run.kind == CycleKind::Major {
        heap.inspections.take()
    } else {
        Vec::new()
    };
    if heap.config.checkmark || !inspections.is_empty() {
        let roots = inspect::walk::labelled_roots(heap, &mut world);
        if heap.config.checkmark {
            verify::checkmark(heap, &roots);
        }
        inspect::serve::serve(heap, &roots, inspections, run.number, marked_objects);
    }
    if heap.config.verify {
        verify::verify_heap(heap);
    }
    let ephemerons_dropped = ephemeron::drop_dead_entries(heap);
    crate::mark::weak_slots::clear_dead(heap);
    let heap_end = heap.paced_heap();
    // Generation §2, §5: after a minor cycle the heap in use, and the
    // live heap the next goal is set from, is the old generation at its
    // start plus what it marked; the policy picks the next cycle's kind,
    // and the sweep keeps the marks for a minor one.
    let (in_use, live, minor_base, keep_marks) = if heap.generations.enabled {
        let config = heap.pacer.lock().config().clone();
        let g =
            heap.generations
                .end_mark(marked_bytes, heap.page.old_bytes(), |old, base, minors| {
                    generations::next_is_major(&config, old, base, minors)
                });
        (g.in_use, g.live, g.minor_base, g.keep_marks)
    } else {
        (marked_bytes, marked_bytes, None, false)
    };
    let goal = match minor_base {
        Some(base) => heap.pacer.lock().end_minor_cycle(live, base),
        None => heap.pacer.lock().end_cycle(live),
    };
    heap.live_after_mark.store(live, Ordering::Relaxed);
    heap.generations
        .record_allocated(heap.allocated_since_mark.swap(0, Ordering::Relaxed));
    heap.page
        .start_generational_sweep_cycle(keep_marks, heap.generations.tenures_first());
    heap.events.sweep_started(run.number);
    heap.phase.transition(Phase::MarkTermination, Phase::Off);
    let last = end.since.elapsed();
    world.start();
    let mark_termination_cpu = thread_cpu_time().saturating_sub(end.cpu_since);
    let mark_termination_at = heap.started_at.elapsed();

    let (sweep_termination, mark_termination, pauses, stop_waits) = match (run.stw1, end.stop_wait)
    {
        // Concurrent: two pauses.
        (Some(stw1), Some(stop_wait2)) => (
            stw1,
            last,
            vec![stw1, last],
            vec![run.stop_wait1, stop_wait2],
        ),
        // Stop-the-world: one pause, from the first stop to now.
        _ => {
            let whole = end.since + last - run.t0;
            (
                run.mark_began - run.t0,
                last,
                vec![whole],
                vec![run.stop_wait1],
            )
        }
    };
    let (assist_cpu, background_cpu, idle_cpu) = ms.cpu();
    let stats = CycleStats {
        number: run.number,
        start: run.start,
        barrier: heap.mode,
        kind: run.kind,
        generational: heap.generations.enabled,
        remembered: run.remembered,
        tenured_first: heap.generations.tenures_first(),
        sweep_termination,
        mark: end.mark,
        mark_termination,
        mark_cpu: assist_cpu + background_cpu + idle_cpu,
        forced: run.forced,
        heap_end,
        allocated_black_bytes: ms.black_bytes.load(Ordering::Relaxed),
        sweep_termination_cpu: run.sweep_termination_cpu,
        assist_cpu,
        background_cpu,
        idle_cpu,
        mark_termination_cpu,
        // Filled in when the cycle is recorded.
        gc_cpu_fraction: 0.0,
        per_type: per_type_stats(heap, types),
        assist_bytes: ms.assist_bytes.load(Ordering::Relaxed),
        assist_wait: Duration::from_nanos(ms.assist_wait_ns.load(Ordering::Relaxed)),
        pause: pauses.iter().sum(),
        pauses,
        stop_waits,
        heap_trigger: run.heap_trigger,
        heap_before: run.heap_before,
        heap_marked: in_use,
        objects_marked: marked_objects,
        termination_objects: end.termination_objects,
        flush_rounds: run.flush_rounds,
        goal: goal.goal,
        workers: end.workers,
        finalizer_cycles: heap.specials.finalizer_cycles.load(Ordering::Relaxed)
            - run.fin_cycles_before,
        ephemerons_dropped,
        specials: heap.specials.stats(),
    };
    let stats = heap.stats.lock().record(stats, heap.started_at.elapsed());
    if heap.gctrace.load(Ordering::Relaxed) {
        eprintln!("{}", stats.trace_line());
    }
    CycleEnd {
        stats,
        // With the barrier off the mark began inside the one pause.
        mark_start_at: run.stw1.is_none().then_some(run.mark_start_at),
        mark_termination_at,
    }
}

/// The cycle's per-type table (`MarkState::take_types`) with each type's
/// id and name, largest first (by bytes, then by name).
fn per_type_stats(heap: &HeapInner, types: Vec<crate::mark::queue::TypeCount>) -> Vec<TypeStats> {
    let mut out: Vec<TypeStats> = types
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.objects != 0)
        .filter_map(|(i, c)| {
            let (ty, desc) = heap.types.entry(i as u32)?;
            Some(TypeStats {
                ty,
                name: desc.name().to_string(),
                objects: c.objects,
                bytes: c.bytes,
            })
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Drains the grey set with the world stopped until the markers are
/// quiescent, which is then final (module docs).
fn drain_stopped(heap: &HeapInner) {
    loop {
        check_markers(heap);
        drain_private(heap, u64::MAX, &mut heap.mark_state.tally());
        if heap.mark_state.quiescent() {
            break;
        }
        std::thread::yield_now();
    }
}
