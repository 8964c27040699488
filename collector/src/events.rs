//! What a heap tells its embedder about its cycles: the cycle-event
//! callback ([`Heap::on_cycle_event`], bdwgc's
//! `GC_set_on_collection_event`), the near-limit callback
//! ([`Heap::on_near_limit`]), and, with the cargo feature `tracing`, a
//! `tracing` span per phase.
//!
//! # The events of a cycle, in order
//!
//! | event | when | phase ([`Phase`]) |
//! |---|---|---|
//! | [`CycleEvent::MarkStart`] | sweep termination (STW #1) is over and marking runs | `SweepTermination → Mark` |
//! | [`CycleEvent::MarkTermination`] | mark termination (STW #2) is over: the barrier is off, the sweep has begun | `MarkTermination → Off` |
//! | [`CycleEvent::End`] | right after, with the cycle's [`CycleStats`] | `Off` |
//! | [`CycleEvent::SweepDone`] | every span the cycle left unswept has been swept | `Off` |
//!
//! With the barrier off the whole cycle is one pause, and its `MarkStart`,
//! `MarkTermination` and `End` are delivered together after it. A cycle's
//! `SweepDone` always comes before the next cycle's `MarkStart` (the next
//! cycle finishes the sweep before it marks).
//!
//! # Where and when callbacks run
//!
//! Never inside a stop-the-world pause and never while the world is held:
//! an event that happens in a pause is delivered right after the world
//! restarts, by the thread that ran the pause (the heap's collector thread,
//! or the thread stepping a [`CycleStepper`]). `SweepDone` is delivered by
//! whichever thread first sees the sweep finished outside a pause: the
//! background sweeper, the thread that runs the next cycle, or a thread
//! returning from [`Heap::collect`] or [`Mutator::collect`], which finish
//! the sweep themselves (a mutator's thread is then still in native
//! state: the callback must not use that mutator). So when `collect`
//! returns, every event of its cycle has been delivered.
//!
//! Callbacks of one heap run one at a time, in the order above; they hold
//! no lock of the collector's, except that `MarkStart` of a concurrent
//! cycle runs while the collector thread holds the heap's cycle lock (only
//! code that runs a cycle takes it). A callback therefore must not start a
//! collection or wait for one: [`Heap::collect`] from a callback panics
//! (the thread that would run the cycle is the one waiting). It may read
//! [`Heap::stats`], change GOGC or the memory limit, or send the event to
//! another thread. Keep it short: the cycle's thread waits for it (a
//! `MarkStart` callback delays the end of the mark, an `End` callback the
//! return of `collect` and of mutators waiting for the cycle). A callback
//! that panics is caught (the panic hook has reported it) and the heap
//! goes on.
//!
//! The cost with no callback set is one relaxed load at each delivery
//! point; with one set, one event value and a mutex per event, and the
//! `SweepDone` bookkeeping (PERFORMANCE.md, "Seeing inside the heap").
//!
//! [`Heap::on_cycle_event`]: crate::Heap::on_cycle_event
//! [`Heap::on_near_limit`]: crate::Heap::on_near_limit
//! [`Heap::collect`]: crate::Heap::collect
//! [`Heap::stats`]: crate::Heap::stats
//! [`Mutator::collect`]: crate::Mutator::collect
//! [`CycleStepper`]: crate::CycleStepper

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::phase::Phase;
use crate::policy::pacer::LimitWatch;
use crate::stats::CycleStats;

/// A phase transition of a cycle, or its end, as delivered to the callback
/// of [`Heap::on_cycle_event`](crate::Heap::on_cycle_event) (the
/// [module docs](self) give the order and the threads).
///
/// `at` is the time since the heap was made.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tricolor_collector::{Config, CycleEvent, Heap};
///
/// let heap = Heap::new(Config::default());
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// heap.on_cycle_event(move |e| {
///     let what = match e {
///         CycleEvent::MarkStart { .. } => "mark start".to_string(),
///         CycleEvent::MarkTermination { .. } => "mark termination".to_string(),
///         CycleEvent::End(stats) => format!("end: {} objects live", stats.objects_marked),
///         CycleEvent::SweepDone { .. } => "sweep done".to_string(),
///         _ => return, // events added later
///     };
///     log.lock().unwrap().push((e.cycle(), what));
/// });
/// heap.collect(); // every event of the cycle is delivered when it returns
/// assert_eq!(
///     *seen.lock().unwrap(),
///     [
///         (1, "mark start".to_string()),
///         (1, "mark termination".to_string()),
///         (1, "end: 0 objects live".to_string()),
///         (1, "sweep done".to_string()),
///     ]
/// );
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum CycleEvent<'a> {
    /// Sweep termination (STW #1) is over: the heap is in [`Phase::Mark`],
    /// the barrier on; `at` is when the world restarted (with the barrier
    /// off, when the mark began inside the one pause).
    MarkStart {
        /// The cycle's number.
        cycle: u64,
        /// When, since the heap was made.
        at: Duration,
    },
    /// Mark termination (STW #2) is over: the heap is back in
    /// [`Phase::Off`], the barrier off, the sweep begun; `at` is when the
    /// world restarted.
    MarkTermination {
        /// The cycle's number.
        cycle: u64,
        /// When, since the heap was made.
        at: Duration,
    },
    /// The cycle is over (its mark; the sweep goes on): its statistics, as
    /// [`Heap::stats`](crate::Heap::stats) records them.
    End(&'a CycleStats),
    /// Every span the cycle left unswept has been swept: its garbage is
    /// free; `at` is when that was seen.
    SweepDone {
        /// The cycle's number.
        cycle: u64,
        /// When, since the heap was made.
        at: Duration,
    },
}

impl CycleEvent<'_> {
    /// The number of the cycle the event belongs to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tricolor_collector::CycleEvent;
    ///
    /// let e = CycleEvent::MarkStart { cycle: 3, at: Duration::ZERO };
    /// assert_eq!(e.cycle(), 3);
    /// ```
    pub fn cycle(&self) -> u64 {
        match *self {
            CycleEvent::MarkStart { cycle, .. }
            | CycleEvent::MarkTermination { cycle, .. }
            | CycleEvent::SweepDone { cycle, .. } => cycle,
            CycleEvent::End(stats) => stats.number,
        }
    }

    /// The phase the heap entered at the event: [`Phase::Mark`] for
    /// `MarkStart`, [`Phase::Off`] for the others.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tricolor_collector::{phase::Phase, CycleEvent};
    ///
    /// let e = CycleEvent::MarkTermination { cycle: 1, at: Duration::ZERO };
    /// assert_eq!(e.phase(), Phase::Off);
    /// ```
    pub fn phase(&self) -> Phase {
        match self {
            CycleEvent::MarkStart { .. } => Phase::Mark,
            _ => Phase::Off,
        }
    }
}

/// The live heap after a cycle has reached the near-limit threshold: the
/// argument of the callback of [`Heap::on_near_limit`](crate::Heap::on_near_limit).
/// Bytes are the pacer's slot bytes.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// heap.set_memory_limit(Some(1 << 20));
/// let warnings = Arc::new(AtomicU64::new(0));
/// let w = warnings.clone();
/// heap.on_near_limit(0.5, move |near| {
///     assert!(near.live >= near.threshold && near.threshold == near.limit / 2);
///     w.fetch_add(1, Ordering::Relaxed);
/// });
/// let blob = heap.register_type(TypeDescriptor::bytes("Blob"))?;
/// let mut m = heap.attach()?;
/// let big = m.alloc(blob, 600 << 10); // 600 KiB live: past half the limit
/// m.push_root(Some(big));
/// m.collect();
/// m.collect(); // still past it: not reported again
/// assert_eq!(warnings.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearLimit {
    /// The cycle whose end found it.
    pub cycle: u64,
    /// The live heap after the cycle ([`CycleStats::heap_marked`]).
    pub live: u64,
    /// The memory limit in force at the cycle's end.
    pub limit: u64,
    /// The live size that counts as near: `round(limit * fraction)`.
    pub threshold: u64,
}

/// The callback of [`Heap::on_cycle_event`](crate::Heap::on_cycle_event).
pub(crate) type CycleCallback = dyn Fn(&CycleEvent<'_>) + Send + Sync;
/// The callback of [`Heap::on_near_limit`](crate::Heap::on_near_limit).
pub(crate) type NearLimitCallback = dyn Fn(&NearLimit) + Send + Sync;

thread_local! {
    /// Set while this thread runs one of a heap's callbacks.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread is running a cycle-event or near-limit
/// callback (where starting or waiting for a collection would deadlock).
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(Cell::get)
}

/// Panics, naming `what`, if the calling thread runs a heap's callback:
/// the collection it would start or wait for waits for the callback.
#[track_caller]
pub(crate) fn assert_not_in_callback(what: &str) {
    if in_callback() {
        panic!(
            "tricolor: {what} called from a cycle-event or near-limit callback: the callback \
             runs where cycles are run and told, so the collection would wait for itself"
        );
    }
}

/// Runs `f` as a callback: marked in `IN_CALLBACK`, its panic caught.
fn run_callback(f: impl FnOnce()) {
    let outer = IN_CALLBACK.with(|c| c.replace(true));
    // The panic hook has printed the message; the heap goes on.
    let _ = catch_unwind(AssertUnwindSafe(f));
    IN_CALLBACK.with(|c| c.set(outer));
}

/// Which cycles' events have been delivered; under `Events::delivery`,
/// which is held while a callback runs (so callbacks run one at a time, in
/// order).
#[derive(Default)]
struct Delivery {
    /// The last cycle whose `End` was delivered.
    ended: u64,
    /// The last cycle whose `SweepDone` was delivered (or skipped: a cycle
    /// whose `End` was not delivered gets no `SweepDone` either).
    swept: u64,
}

/// A heap's callbacks and the bookkeeping of their delivery. Part of
/// `HeapInner`; the cycle (`cycle`) and the sweep (`sweep`) deliver.
pub(crate) struct Events {
    /// A cycle-event or a near-limit callback is set. Read (relaxed) at
    /// every delivery point: the whole cost when none is. Written under
    /// the callbacks' locks by `Heap::on_cycle_event` and friends.
    enabled: AtomicBool,
    /// The cycle-event callback. Replaced by `Heap::on_cycle_event`; read
    /// (the `Arc` cloned, the lock released) by each delivery.
    cycle: Mutex<Option<Arc<CycleCallback>>>,
    /// The near-limit watch and its callback. Replaced by
    /// `Heap::on_near_limit`; the watch is fed by each cycle's `End`.
    near_limit: Mutex<Option<(LimitWatch, Arc<NearLimitCallback>)>>,
    /// Held while callbacks run (nothing else takes it).
    delivery: Mutex<Delivery>,
    /// The cycle whose sweep is the current one: written at its mark
    /// termination (world stopped), read by `SweepDone` delivery. 0 before
    /// the first cycle's.
    sweep_cycle: AtomicU64,
}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            enabled: AtomicBool::new(false),
            cycle: Mutex::new(None),
            near_limit: Mutex::new(None),
            delivery: Mutex::new(Delivery::default()),
            sweep_cycle: AtomicU64::new(0),
        }
    }

    /// Whether any callback is set: one relaxed load.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn update_enabled(&self, cycle: bool, near: bool) {
        self.enabled.store(cycle || near, Ordering::Relaxed);
    }

    /// Sets (or, with `None`, removes) the cycle-event callback.
    pub(crate) fn set_cycle_callback(&self, f: Option<Arc<CycleCallback>>) {
        let mut c = self.cycle.lock();
        *c = f;
        let near = self.near_limit.lock().is_some();
        self.update_enabled(c.is_some(), near);
    }

    /// Sets (or, with `None`, removes) the near-limit callback, with a
    /// fresh (armed) watch.
    pub(crate) fn set_near_limit(&self, f: Option<(f64, Arc<NearLimitCallback>)>) {
        // Locks in the order `set_cycle_callback` takes them.
        let c = self.cycle.lock();
        let mut n = self.near_limit.lock();
        *n = f.map(|(fraction, f)| (LimitWatch::new(fraction), f));
        self.update_enabled(c.is_some(), n.is_some());
    }

    /// Records that cycle `cycle`'s sweep has begun (at its mark
    /// termination, world stopped): every earlier sweep is complete.
    pub(crate) fn sweep_started(&self, cycle: u64) {
        self.sweep_cycle.store(cycle, Ordering::Release);
    }

    /// Delivers `event` to the cycle callback, if one is set.
    pub(crate) fn deliver(&self, event: CycleEvent<'_>) {
        if !self.enabled() {
            return;
        }
        let _order = self.delivery.lock();
        self.call(&event);
    }

    fn call(&self, event: &CycleEvent<'_>) {
        let f = self.cycle.lock().clone();
        if let Some(f) = f {
            run_callback(|| f(event));
        }
    }

    /// Delivers the end of a cycle: `MarkTermination` (at `at`), `End`
    /// with `stats`, and the near-limit callback if `stats.heap_marked`
    /// has just reached the threshold of `limit` (the memory limit in force).
    pub(crate) fn deliver_end(&self, stats: &CycleStats, at: Duration, limit: Option<u64>) {
        if !self.enabled() {
            return;
        }
        let mut d = self.delivery.lock();
        let n = stats.number;
        self.call(&CycleEvent::MarkTermination { cycle: n, at });
        self.call(&CycleEvent::End(stats));
        // Cycles whose `End` was not delivered (no callback was set then)
        // get no `SweepDone` either.
        if d.ended + 1 < n {
            d.swept = d.swept.max(n - 1);
        }
        d.ended = d.ended.max(n);
        let near = self.near_limit.lock().as_mut().and_then(|(watch, f)| {
            let c = watch.observe(stats.heap_marked, limit)?;
            Some((
                NearLimit {
                    cycle: n,
                    live: c.live,
                    limit: c.limit,
                    threshold: c.threshold,
                },
                f.clone(),
            ))
        });
        if let Some((near, f)) = near {
            run_callback(|| f(&near));
        }
    }

    /// Delivers `SweepDone` for every cycle whose `End` was delivered and
    /// whose sweep is complete: a sweep older than the current one is (the
    /// next cycle finished it before it marked), and the current one is if
    /// `sweep_done()` says so. `now` gives the time since the heap was made.
    pub(crate) fn deliver_sweep_done(
        &self,
        sweep_done: impl Fn() -> bool,
        now: impl Fn() -> Duration,
    ) {
        if !self.enabled() {
            return;
        }
        let mut d = self.delivery.lock();
        // Read before asking whether the sweep is done: if a newer sweep
        // begins in between, `sweep_done` speaks of it, and a newer sweep
        // beginning means this one was complete.
        let current = self.sweep_cycle.load(Ordering::Acquire);
        let last = current.min(d.ended);
        if d.swept >= last {
            return;
        }
        let upto = if last < current || sweep_done() {
            last
        } else {
            last - 1
        };
        while d.swept < upto {
            d.swept += 1;
            let cycle = d.swept;
            self.call(&CycleEvent::SweepDone { cycle, at: now() });
        }
    }
}

/// The phases the `tracing` feature makes spans of.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TracedPhase {
    /// STW #1 (with the barrier off, the start of the one pause).
    SweepTermination,
    /// The mark (concurrent, unless the barrier is off).
    Mark,
    /// STW #2 (with the barrier off, the end of the one pause).
    MarkTermination,
}

/// A `tracing` span for one phase of cycle `cycle`, entered until dropped
/// (feature `tracing`: target `tricolor::gc`, level INFO, field `cycle`);
/// nothing without the feature. The span is entered and left inside the
/// pause it covers, so a subscriber's `enter` and `exit` run there.
pub(crate) fn phase_span(phase: TracedPhase, cycle: u64) -> PhaseSpan {
    #[cfg(feature = "tracing")]
    {
        let span = match phase {
            TracedPhase::SweepTermination => {
                tracing::info_span!(target: "tricolor::gc", "sweep_termination", cycle)
            }
            TracedPhase::Mark => tracing::info_span!(target: "tricolor::gc", "mark", cycle),
            TracedPhase::MarkTermination => {
                tracing::info_span!(target: "tricolor::gc", "mark_termination", cycle)
            }
        };
        PhaseSpan {
            _span: span.entered(),
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (phase, cycle);
        PhaseSpan {}
    }
}

/// A `tracing` span for a whole cycle run by the collector thread (the
/// parent of its phases' spans); nothing without the feature.
pub(crate) fn cycle_span(cycle: u64) -> PhaseSpan {
    #[cfg(feature = "tracing")]
    {
        PhaseSpan {
            _span: tracing::info_span!(target: "tricolor::gc", "gc_cycle", cycle).entered(),
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = cycle;
        PhaseSpan {}
    }
}

/// An entered `tracing` span (feature `tracing`), left when dropped or
/// ended.
pub(crate) struct PhaseSpan {
    #[cfg(feature = "tracing")]
    _span: tracing::span::EnteredSpan,
}

impl PhaseSpan {
    /// Leaves the span (drops it; a named call, since without the feature
    /// there is nothing to drop).
    pub(crate) fn end(self) {
        #[cfg(feature = "tracing")]
        drop(self._span);
    }
}

/// A `tracing` event at the end of each cycle (feature `tracing`: target
/// `tricolor::gc`, level INFO, the main figures as fields and the gctrace
/// line as the message); nothing without the feature.
pub(crate) fn trace_cycle_end(stats: &CycleStats) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "tricolor::gc",
        cycle = stats.number,
        forced = stats.forced,
        heap_before = stats.heap_before,
        heap_end = stats.heap_end,
        heap_marked = stats.heap_marked,
        goal = stats.goal,
        objects_marked = stats.objects_marked,
        pause_ns = stats.pause.as_nanos() as u64,
        gc_cpu_ns = stats.gc_cpu().as_nanos() as u64,
        "{}",
        stats.trace_line()
    );
    #[cfg(not(feature = "tracing"))]
    let _ = stats;
}
