//! Statistics and the gctrace line.
//!
//! # gctrace
//!
//! With `TRICOLOR_GCTRACE=1` (or [`Config::gctrace`](crate::Config::gctrace))
//! every cycle prints one line to standard error, in the spirit of Go's
//! `GODEBUG=gctrace=1`:
//!
//! ```text
//! gc 12 @3.456s hybrid: 0.031+84.2+0.044 ms clock, 61.0 ms mark cpu (12.5 MiB assist, 0.4 ms waited), 120->130->64 MiB, 128 MiB goal, 1 workers, 1200000 objects marked (35 at termination, 2 flush rounds), pause 0.031+0.044 ms (stop 0.006+0.009)
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `gc 12` | cycle number, from 1 |
//! | `@3.456s` | when the cycle started, since the heap was made |
//! | `hybrid` | the barrier mode (`off`: the whole mark stopped the world) |
//! | `a+b+c ms clock` | wall time of sweep termination (STW #1), mark (concurrent unless `off`), and mark termination (STW #2) |
//! | `x ms mark cpu` | CPU time of background workers and assists (`off`: of the mark workers) |
//! | `(N MiB assist, W ms waited)` | scan work done by mark assists, and the time mutators spent parked in assists (owing work and finding none), summed over mutators |
//! | `A->B->C MiB` | heap when the cycle was triggered and when marking began (both live after the last mark plus allocation since, as the pacer counts it), and live heap marked (allocated-black bytes included); all in slot bytes |
//! | `G MiB goal` | the goal the pacer set for the next cycle |
//! | `N workers` | mark workers (background workers for a concurrent mark) |
//! | `objects marked` | objects found live; in parentheses, how many were marked during mark termination, and how many flush rounds the termination protocol took |
//! | `pause` | each stop-the-world pause of the cycle (two for a concurrent mark, one for `off`) |
//! | `(stop ...)` | the part of each pause spent waiting for the mutators to stop (time to safepoint) |
//! | `fin R/Q run (P panicked, C in cycles)` | only once the heap has used finalizers, cleanups, weak references or ephemerons: finalizers run / queued and panicked so far, and finalizable objects this cycle found to reach themselves (one per group of finalizable objects in a cycle: they leak) |
//! | `cleanups R/Q run` | cleanups run / queued so far |
//! | `weak W cleared` | weak cells cleared so far |
//! | `eph D dropped` | ephemeron entries this cycle removed (their key died) |

use std::time::Duration;

use tricolor_barriers::BarrierMode;

/// Pauses kept for [`GcStats::recent_pauses`].
const RECENT_PAUSES: usize = 256;

/// A histogram of pause durations with power-of-two buckets: bucket `i`
/// counts pauses of `[2^i, 2^(i+1))` nanoseconds.
///
/// ```
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// heap.collect();
/// let h = heap.stats().pause_histogram;
/// assert_eq!(h.buckets.iter().sum::<u64>(), 2, "one concurrent cycle, two pauses");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PauseHistogram {
    /// Counts per bucket.
    pub buckets: Vec<u64>,
}

impl PauseHistogram {
    fn record(&mut self, d: Duration) {
        let ns = d.as_nanos().max(1) as u64;
        let b = 63 - ns.leading_zeros() as usize;
        if self.buckets.len() <= b {
            self.buckets.resize(b + 1, 0);
        }
        self.buckets[b] += 1;
    }

    /// The smallest bucket upper bound below which fraction `q` of pauses
    /// fall (an upper estimate of the `q` quantile).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tricolor_collector::PauseHistogram;
    ///
    /// // Three pauses in [512 ns, 1024 ns), one in [2048 ns, 4096 ns).
    /// let h = PauseHistogram { buckets: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1] };
    /// assert_eq!(h.quantile_upper_bound(0.5), Duration::from_nanos(1024));
    /// assert_eq!(h.quantile_upper_bound(0.99), Duration::from_nanos(4096));
    /// assert_eq!(PauseHistogram::default().quantile_upper_bound(0.99), Duration::ZERO);
    /// ```
    pub fn quantile_upper_bound(&self, q: f64) -> Duration {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Duration::from_nanos(1u64 << (i + 1));
            }
        }
        Duration::from_nanos(1u64 << self.buckets.len())
    }
}

/// What one cycle did.
///
/// ```
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// heap.collect();
/// let cycle = heap.stats().last_cycle.expect("one cycle ran");
/// assert_eq!(cycle.number, 1);
/// assert_eq!(cycle.pauses.len(), 2, "sweep termination and mark termination");
/// assert_eq!(cycle.pause, cycle.pauses[0] + cycle.pauses[1]);
/// // Each pause's time to stop is part of it.
/// assert_eq!(cycle.stop_waits.len(), 2);
/// assert!(cycle.stop_waits.iter().zip(&cycle.pauses).all(|(s, p)| s <= p));
/// assert_eq!(cycle.objects_marked, 0, "nothing was allocated");
/// ```
#[derive(Clone, Debug, Default)]
pub struct CycleStats {
    /// Cycle number, from 1.
    pub number: u64,
    /// When the cycle started, since the heap was made.
    pub start: Duration,
    /// The barrier mode the cycle ran with (`Off`: marking stopped the world).
    pub barrier: BarrierMode,
    /// Wall time of sweep termination (STW #1; with the barrier off, the
    /// first part of the one pause).
    pub sweep_termination: Duration,
    /// Wall time marking (concurrent, unless the barrier is off).
    pub mark: Duration,
    /// Wall time of mark termination (STW #2: the last flush and drain,
    /// verification, next goal, starting the sweep).
    pub mark_termination: Duration,
    /// CPU time spent marking: background workers and assists (with the
    /// barrier off, the mark workers).
    pub mark_cpu: Duration,
    /// Bytes of scan work done by mark assists.
    pub assist_bytes: u64,
    /// Time mutators spent parked in mark assists, summed over mutators: an
    /// assist that owes work and finds no grey object waits for the
    /// background workers' credit, more grey objects, or the mark's end
    /// ([`crate::mutator::assist`]). Zero when the background workers keep up.
    pub assist_wait: Duration,
    /// Total stop-the-world time of the cycle.
    pub pause: Duration,
    /// Each stop-the-world pause of the cycle, in order: STW #1 and STW #2
    /// for a concurrent mark, one pause with the barrier off.
    pub pauses: Vec<Duration>,
    /// For each pause of [`pauses`](Self::pauses), in the same order, its
    /// *time to stop*: from asking every mutator to stop until the last
    /// one had (a running mutator stops at its next safepoint poll; on a
    /// busy machine, once the OS runs it again). Included in the pause;
    /// the rest of the pause is the collector's work.
    pub stop_waits: Vec<Duration>,
    /// Objects marked during mark termination (found in the last buffer
    /// flush or, in incremental-update mode, the stack rescan).
    pub termination_objects: u64,
    /// Rounds of the termination protocol (barrier-buffer flushes by
    /// handshake before mark termination).
    pub flush_rounds: u32,
    /// The pacer's heap when the cycle was triggered: live after the last
    /// mark plus allocation reported since, in slot bytes.
    pub heap_trigger: u64,
    /// The same count when marking began (after sweep termination).
    pub heap_before: u64,
    /// Live bytes marked.
    pub heap_marked: u64,
    /// Objects marked.
    pub objects_marked: u64,
    /// Goal for the next cycle.
    pub goal: u64,
    /// Mark workers used.
    pub workers: usize,
    /// Finalizable objects this cycle found to reach themselves: one per
    /// group of finalizable objects in a cycle (never collected; see
    /// [`SpecialStats::finalizer_cycles`] and [`Mutator::set_finalizer`]).
    ///
    /// [`Mutator::set_finalizer`]: crate::Mutator::set_finalizer
    /// [`SpecialStats::finalizer_cycles`]: crate::specials::records::SpecialStats::finalizer_cycles
    pub finalizer_cycles: u64,
    /// Ephemeron entries this cycle removed because their key died.
    pub ephemerons_dropped: u64,
    /// The heap's finalizer, cleanup, weak and ephemeron counters at the
    /// end of this cycle's mark termination (summed over the heap's life;
    /// finalizers and cleanups are queued by the sweep, after it).
    pub specials: crate::specials::records::SpecialStats,
}

impl CycleStats {
    /// The gctrace line for this cycle (the format [`Config::gctrace`]
    /// prints).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// heap.collect();
    /// let line = heap.stats().last_cycle.unwrap().trace_line();
    /// assert!(line.starts_with("gc 1 @"), "{line}");
    /// // A VM may send it to its own log instead of standard error.
    /// # let log = |s: &str| drop(s);
    /// log(&line);
    /// ```
    ///
    /// [`Config::gctrace`]: crate::Config::gctrace
    pub fn trace_line(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mib = |b: u64| b >> 20;
        let concurrent = self.barrier != BarrierMode::Off;
        let assist = if concurrent {
            format!(
                " ({:.1} MiB assist, {:.1} ms waited)",
                self.assist_bytes as f64 / (1u64 << 20) as f64,
                ms(self.assist_wait)
            )
        } else {
            String::new()
        };
        let termination = if concurrent {
            format!(
                " ({} at termination, {} flush rounds)",
                self.termination_objects, self.flush_rounds
            )
        } else {
            String::new()
        };
        let sp = &self.specials;
        let specials = if *sp == crate::specials::records::SpecialStats::default()
            && self.finalizer_cycles == 0
        {
            String::new()
        } else {
            format!(
                ", fin {}/{} run ({} panicked, {} in cycles), cleanups {}/{} run, weak {} cleared, eph {} dropped",
                sp.finalizers_run,
                sp.finalizers_queued,
                sp.finalizer_panics,
                self.finalizer_cycles,
                sp.cleanups_run,
                sp.cleanups_queued,
                sp.weak_cleared,
                self.ephemerons_dropped,
            )
        };
        let joined = |ds: &[Duration]| {
            if ds.is_empty() {
                "0".to_string()
            } else {
                let v: Vec<String> = ds.iter().map(|&d| format!("{:.3}", ms(d))).collect();
                v.join("+")
            }
        };
        format!(
            "gc {} @{:.3}s {}: {:.3}+{:.3}+{:.3} ms clock, {:.1} ms mark cpu{}, {}->{}->{} MiB, {} MiB goal, {} workers, {} objects marked{}, pause {} ms (stop {}){}",
            self.number,
            self.start.as_secs_f64(),
            self.barrier,
            ms(self.sweep_termination),
            ms(self.mark),
            ms(self.mark_termination),
            ms(self.mark_cpu),
            assist,
            mib(self.heap_trigger),
            mib(self.heap_before),
            mib(self.heap_marked),
            if self.goal == u64::MAX { "inf".to_string() } else { mib(self.goal).to_string() },
            self.workers,
            self.objects_marked,
            termination,
            joined(&self.pauses),
            joined(&self.stop_waits),
            specials,
        )
    }
}

/// A snapshot of a heap's counters (Go's `MemStats`, for one heap).
///
/// Taken by [`Heap::stats`](crate::Heap::stats).
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let blob = heap.register_type(TypeDescriptor::bytes("Blob"))?;
/// let mut m = heap.attach()?;
/// let keep = m.alloc(blob, 1000);
/// m.push_root(Some(keep));
/// m.collect();
/// let s = heap.stats();
/// assert_eq!(s.cycles, 1);
/// assert!(s.marked_bytes >= 1008, "the blob and its header");
/// assert!(s.goal > s.marked_bytes);
/// println!("{} cycles, max pause {:?}", s.cycles, s.pause_max);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct GcStats {
    /// Completed cycles.
    pub cycles: u64,
    /// Sum of all stop-the-world pauses.
    pub pause_total: Duration,
    /// Longest pause.
    pub pause_max: Duration,
    /// The last pauses, oldest first (at most 256). Each stop-the-world is
    /// one entry: two per concurrent cycle.
    pub recent_pauses: Vec<Duration>,
    /// All pauses (each stop-the-world separately), bucketed.
    pub pause_histogram: PauseHistogram,
    /// The time to stop of each of [`recent_pauses`](Self::recent_pauses),
    /// in the same order ([`CycleStats::stop_waits`]).
    pub recent_stop_waits: Vec<Duration>,
    /// Longest time to stop.
    pub stop_wait_max: Duration,
    /// Totals over all cycles of each phase's wall time.
    pub sweep_termination_total: Duration,
    /// Total mark wall time.
    pub mark_total: Duration,
    /// Total mark-termination wall time.
    pub mark_termination_total: Duration,
    /// Total mark CPU time.
    pub mark_cpu_total: Duration,
    /// The last cycle, if any.
    pub last_cycle: Option<CycleStats>,
    /// Bytes the last mark found reachable (slot sizes, objects allocated
    /// black during that mark included): the live heap the pacer sets the
    /// next goal from. Not what is allocated now: that is
    /// [`Heap::heap_alloc`](crate::Heap::heap_alloc) (exact), or roughly
    /// `heap.heap_alloc_flushed_bytes()` (without the allocations mutators'
    /// caches have not reported yet).
    pub marked_bytes: u64,
    /// The current heap goal.
    pub goal: u64,
    /// Bytes allocated since the last mark (reported by mutators in chunks,
    /// and on detaching; [`Heap::flush_allocation_stats`] does not flush it).
    ///
    /// [`Heap::flush_allocation_stats`]: crate::Heap::flush_allocation_stats
    pub allocated_since_mark: u64,
    /// The allocator's counters (reserved, committed, in use, per class...).
    pub heap: tricolor_allocator::HeapStats,
    /// Finalizers, cleanups, weak references and ephemerons.
    pub specials: crate::specials::records::SpecialStats,
}

/// Running totals, under the heap's stats lock.
#[derive(Default)]
pub(crate) struct StatsState {
    pub(crate) cycles: u64,
    pub(crate) pause_total: Duration,
    pub(crate) pause_max: Duration,
    pub(crate) recent: std::collections::VecDeque<Duration>,
    /// Time to stop of each of `recent`.
    pub(crate) recent_stop: std::collections::VecDeque<Duration>,
    pub(crate) stop_wait_max: Duration,
    pub(crate) histogram: PauseHistogram,
    pub(crate) sweep_term_total: Duration,
    pub(crate) mark_total: Duration,
    pub(crate) mark_term_total: Duration,
    pub(crate) mark_cpu_total: Duration,
    pub(crate) last: Option<CycleStats>,
}

impl StatsState {
    pub(crate) fn record(&mut self, c: CycleStats) {
        self.cycles = c.number;
        for (i, &p) in c.pauses.iter().enumerate() {
            let stop = c.stop_waits.get(i).copied().unwrap_or_default();
            self.pause_total += p;
            self.pause_max = self.pause_max.max(p);
            self.stop_wait_max = self.stop_wait_max.max(stop);
            if self.recent.len() == RECENT_PAUSES {
                self.recent.pop_front();
                self.recent_stop.pop_front();
            }
            self.recent.push_back(p);
            self.recent_stop.push_back(stop);
            self.histogram.record(p);
        }
        self.sweep_term_total += c.sweep_termination;
        self.mark_total += c.mark;
        self.mark_term_total += c.mark_termination;
        self.mark_cpu_total += c.mark_cpu;
        self.last = Some(c);
    }
}

/// Bytes and objects allocated and not yet freed by a sweep, exact when
/// read ([`Heap::heap_alloc`](crate::Heap::heap_alloc),
/// [`Mutator::heap_alloc`](crate::Mutator::heap_alloc)): Go's `HeapAlloc`
/// and `HeapObjects`. Bytes are slot sizes (size-class or page-rounded).
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 3, &[0]))?;
/// let mut m = heap.attach()?;
/// let keep = m.alloc(node, 0);
/// m.push_root(Some(keep));
/// for _ in 0..99 {
///     m.alloc(node, 0);
/// }
/// assert_eq!(m.heap_alloc().objects, 100);
/// m.collect(); // sweeps before it returns
/// assert_eq!(m.heap_alloc().objects, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapAlloc {
    /// Bytes in allocated objects (slot sizes).
    pub bytes: u64,
    /// Allocated objects.
    pub objects: u64,
}

impl HeapAlloc {
    /// From allocator counters that every cache has flushed into.
    pub(crate) fn of(s: &tricolor_allocator::HeapStats) -> HeapAlloc {
        HeapAlloc {
            bytes: s.heap_alloc_flushed_bytes(),
            objects: s.heap_alloc_flushed_objects(),
        }
    }
}

/// CPU time consumed by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_powers_of_two() {
        let mut h = PauseHistogram::default();
        for us in [1u64, 3, 3, 100, 5000] {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.buckets.iter().sum::<u64>(), 5);
        assert_eq!(h.buckets[9], 1, "1 µs = 1000 ns lies in [512, 1024)");
        assert!(h.quantile_upper_bound(0.5) >= Duration::from_micros(3));
        assert!(h.quantile_upper_bound(1.0) >= Duration::from_micros(5000));
        assert!(h.quantile_upper_bound(1.0) < Duration::from_micros(10000));
    }

    #[test]
    fn trace_line_has_every_field() {
        let c = CycleStats {
            number: 3,
            start: Duration::from_millis(1500),
            mark: Duration::from_micros(2500),
            heap_trigger: 10 << 20,
            heap_before: 10 << 20,
            heap_marked: 4 << 20,
            goal: 8 << 20,
            workers: 2,
            objects_marked: 77,
            ..CycleStats::default()
        };
        let l = c.trace_line();
        assert!(
            l.starts_with("gc 3 @1.500s hybrid: 0.000+2.500+0.000 ms clock"),
            "{l}"
        );
        assert!(
            l.contains("10->10->4 MiB, 8 MiB goal, 2 workers, 77 objects marked"),
            "{l}"
        );
    }
}
