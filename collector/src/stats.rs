//! Statistics and the gctrace line.
//!
//! # gctrace
//!
//! With `TRICOLOR_GCTRACE=1` (or [`Config::gctrace`](crate::Config::gctrace))
//! every cycle prints one line to standard error, laid out as Go's
//! `GODEBUG=gctrace=1` line is, field for field where there is a Go field:
//!
//! ```text
//! gc 12 @3.456s 4%: 0.031+84.2+0.044 ms clock, 0.030+12.1/20.3/28.6+0.040 ms cpu (12.5 MiB assist, 0.4 ms waited), 120->130->64 MiB, 128 MiB goal, 1 workers (hybrid), 1200000 objects marked (35 at termination, 2 flush rounds), pause 0.031+0.044 ms (stop 0.006+0.009) (forced)
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `gc 12` | cycle number, from 1 |
//! | `@3.456s` | when the cycle started, since the heap was made |
//! | `4%` | the share of the machine's CPU time the collector has used since the heap was made, this cycle included ([`CycleStats::gc_cpu_fraction`]) |
//! | `a+b+c ms clock` | wall time of sweep termination (STW #1), mark (concurrent unless the barrier is `off`), and mark termination (STW #2) |
//! | `a+b/c/d+e ms cpu` | CPU time of STW #1, then of the mark split into mark assists / background workers / idle-priority workers, then of STW #2 (the columns below) |
//! | `(N MiB assist, W ms waited)` | scan work done by mark assists, and the time mutators spent parked in assists (owing work and finding none), summed over mutators |
//! | `A->B->C MiB` | the heap when marking began, the heap at mark termination, and the live heap marked (below) |
//! | `G MiB goal` | the goal the pacer set for the next cycle |
//! | `N workers (mode)` | mark workers (background workers for a concurrent mark, the stop-the-world mark's threads for `off`) and the barrier mode (`off`: the whole mark stopped the world) |
//! | `objects marked` | objects found live; in parentheses, how many were marked during mark termination, and how many flush rounds the termination protocol took |
//! | `pause` | each stop-the-world pause of the cycle (two for a concurrent mark, one for `off`) |
//! | `(stop ...)` | the part of each pause spent waiting for the mutators to stop (time to safepoint) |
//! | `fin R/Q run (P panicked, C in cycles)` | only once the heap has used finalizers, cleanups, weak references or ephemerons: finalizers run / queued and panicked so far, and finalizable objects this cycle found to reach themselves (one per group of finalizable objects in a cycle: they leak) |
//! | `cleanups R/Q run` | cleanups run / queued so far |
//! | `weak W cleared` | weak cells cleared so far |
//! | `eph D dropped` | ephemeron entries this cycle removed (their key died) |
//! | `(forced)` | the cycle was asked for (`collect`, gc-stress, a stepped cycle), not started by the pacer |
//!
//! ## Where the line means what Go's means, and where not
//!
//! - **`A->B->C`** is Go's triple: `A` is the heap when the cycle began
//!   marking (Go's `heap0`, read in sweep termination), `B` the heap at mark
//!   termination, allocation during the mark included (`heap1`), and `C`
//!   the live heap the mark found, objects allocated black during it
//!   included (`heap2`, Go's `bytesMarked`, which counts them too). Go's
//!   heap counts whole spans once a cache holds them; this one counts the
//!   slot bytes mutators have reported (in chunks of up to 64 KiB per
//!   mutator) on top of the last mark's live heap, which is what the pacer
//!   uses. Both overestimate a little, differently. The heap when the
//!   pacer triggered the cycle, which an earlier version of this line
//!   printed as `A`, is [`CycleStats::heap_trigger`]; Go prints it only
//!   under `gcpacertrace`. Units are MiB (Go prints "MB" for the same
//!   unit).
//! - **CPU of the pauses** (`a` and `e`) is the CPU time of the thread that
//!   ran the pause, measured; Go counts a pause's wall time times
//!   `GOMAXPROCS`, since no goroutine can run then. Here a stopped mutator
//!   frees its core for other threads of the process, so the pause costs
//!   the process only what the collector does in it.
//! - **background** (`c`) is background workers at normal priority
//!   (`TRICOLOR_MARK_IDLE=0`), the collector thread's own marking while it
//!   waits for the mark's end, and the finalizer stage when it runs outside
//!   a pause; with the barrier off, every thread of the stop-the-world mark.
//!   **idle** (`d`) is background workers at the operating system's idle
//!   priority (the default): like Go's idle mark workers, they get only
//!   CPU time no other thread wants. Go's background column holds its
//!   dedicated and fractional workers; there are no fractional workers
//!   here.
//! - **The percentage** is Go's `GCCPUFraction` in per cent: GC CPU time
//!   (all five columns, summed over cycles) over the wall time since the
//!   heap was made times the cores available to the process. Since pauses
//!   are counted as measured CPU (above), it is lower than Go's for the
//!   same pauses. A process with several heaps prints each heap's share.
//! - **`(forced)`** marks cycles asked for by the program (Go: by
//!   `runtime.GC` or the periodic forced collection, which tricolor does
//!   not have); gc-stress and stepped cycles count as asked for.
//! - Go's `# MB stacks, # MB globals, # P` have no counterpart: stacks and
//!   globals here are root slots, not heap; `N workers` stands where `# P`
//!   stands.

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

/// Pause quantiles over every pause since the heap was made (each
/// stop-the-world separately), to three significant digits: an
/// HdrHistogram, recorded after each cycle once the world runs again, so
/// the pause itself pays nothing for it. Go's `/gc/pauses:seconds` metric
/// read as quantiles.
///
/// ```
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// heap.collect();
/// heap.collect();
/// let q = heap.stats().pause_quantiles;
/// assert_eq!(q.count, 4, "two concurrent cycles, two pauses each");
/// assert!(q.p50 <= q.p99 && q.p99 <= q.max);
/// assert_eq!(q.max, heap.stats().pause_max, "the maximum is exact");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseQuantiles {
    /// Pauses recorded.
    pub count: u64,
    /// The median pause.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The 99.9th percentile.
    pub p999: Duration,
    /// The longest pause, exactly.
    pub max: Duration,
}

/// The histogram behind [`PauseQuantiles`]: nanoseconds, three significant
/// digits, growing with the longest pause (about 45 KiB of counts once a
/// pause of a millisecond was seen).
pub(crate) struct PauseHdr {
    hist: hdrhistogram::Histogram<u32>,
    pub(crate) quantiles: PauseQuantiles,
}

impl PauseHdr {
    fn new() -> PauseHdr {
        PauseHdr {
            hist: hdrhistogram::Histogram::new(3)
                .expect("3 significant digits is a valid precision"),
            quantiles: PauseQuantiles::default(),
        }
    }

    fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        // Past the histogram's range (2^62 ns), or a count at u32::MAX:
        // counted at the top rather than lost.
        if self.hist.record(ns).is_err() {
            self.hist.saturating_record(ns);
        }
        self.quantiles.max = self.quantiles.max.max(d);
    }

    /// Recomputes the quantiles; called once per cycle, after its pauses
    /// are recorded.
    fn refresh(&mut self) {
        let at =
            |q: f64| Duration::from_nanos(self.hist.value_at_quantile(q)).min(self.quantiles.max);
        self.quantiles = PauseQuantiles {
            count: self.hist.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: self.quantiles.max,
        };
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
    /// Minor or major (generation §1); always major unless the heap is
    /// generational ([`Config::generational`](crate::Config::generational)).
    pub kind: crate::CycleKind,
    /// The heap collects generationally; the gctrace line then names each
    /// cycle's kind.
    pub generational: bool,
    /// Entries of a minor cycle's remembered set (generation §3): old
    /// objects that stores logged since the last cycle, or that the last
    /// mark carried over because they point to objects not old yet; an
    /// entry whose object has died since is counted but not scanned. 0 in
    /// a major cycle.
    pub remembered: u64,
    /// The cycle made every survivor old, a first survival included,
    /// because most of what was allocated before the last cycle survived
    /// it (generation §1, `policy::generations::tenure_at_first_survival`);
    /// otherwise an object is old at its second survival. Always `false`
    /// unless the heap is generational.
    pub tenured_first: bool,
    /// Wall time of sweep termination (STW #1; with the barrier off, the
    /// first part of the one pause).
    pub sweep_termination: Duration,
    /// Wall time marking (concurrent, unless the barrier is off).
    pub mark: Duration,
    /// Wall time of mark termination (STW #2: the last flush and drain,
    /// verification, next goal, starting the sweep).
    pub mark_termination: Duration,
    /// CPU time spent marking outside the pauses: assists, background and
    /// idle workers, the collector thread's own marking (with the barrier
    /// off, the mark's threads): the sum of
    /// [`assist_cpu`](Self::assist_cpu),
    /// [`background_cpu`](Self::background_cpu) and
    /// [`idle_cpu`](Self::idle_cpu).
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
    /// The same count when marking began (after sweep termination): the
    /// `A` of the gctrace line's `A->B->C` (Go's `heap0`).
    pub heap_before: u64,
    /// Live bytes marked (slot sizes), allocated-black bytes included: the
    /// `C` of `A->B->C` (Go's `heap2`). In a minor cycle (generation §5),
    /// the live heap as the pacer sees it: the old generation plus what
    /// this cycle marked.
    pub heap_marked: u64,
    /// Objects marked.
    pub objects_marked: u64,
    /// Goal for the next cycle.
    pub goal: u64,
    /// Mark workers used.
    pub workers: usize,
    /// The cycle was asked for (`collect`, gc-stress, a
    /// [`CycleStepper`](crate::CycleStepper)) rather than started by the
    /// pacer: "(forced)" in the gctrace line.
    pub forced: bool,
    /// The pacer's heap at mark termination (after the last flush, before
    /// the next goal): [`heap_before`](Self::heap_before) plus what
    /// mutators reported allocating during the mark, in slot bytes. The
    /// `B` of the gctrace line's `A->B->C` (Go's `heap1`).
    pub heap_end: u64,
    /// Bytes (slot sizes) allocated during the mark, black, as mutators
    /// reported them: part of [`heap_marked`](Self::heap_marked), counted
    /// in neither [`objects_marked`](Self::objects_marked) nor
    /// [`per_type`](Self::per_type).
    pub allocated_black_bytes: u64,
    /// CPU time of the thread that ran sweep termination (STW #1), during
    /// the pause (the first `cpu` column of the gctrace line).
    pub sweep_termination_cpu: Duration,
    /// CPU time of mark assists.
    pub assist_cpu: Duration,
    /// CPU time of marking outside the pauses by background workers at
    /// normal priority and by the collector thread (its own draining while
    /// it waits for the mark's end, the finalizer stage); with the barrier
    /// off, of the stop-the-world mark's threads.
    pub background_cpu: Duration,
    /// CPU time of background workers at the operating system's idle
    /// priority ([`Config::idle_priority_workers`](crate::Config::idle_priority_workers)).
    pub idle_cpu: Duration,
    /// CPU time of the thread that ran mark termination (STW #2), during
    /// the pause; with the barrier off, from the end of the mark to the
    /// restart.
    pub mark_termination_cpu: Duration,
    /// The share of the machine's CPU time the heap's collector has used
    /// since the heap was made, as of this cycle's end: GC CPU time (every
    /// CPU field of every cycle so far, [`CycleStats::gc_cpu`]) over the
    /// wall time since the heap was made times the cores available to the
    /// process. Go's `MemStats.GCCPUFraction`, for one heap; the `N%` of
    /// the gctrace line.
    pub gc_cpu_fraction: f64,
    /// Live objects and bytes per type, largest first (by bytes, then by
    /// name), when [`Config::per_type_stats`](crate::Config::per_type_stats)
    /// is on; empty otherwise. Counts what the markers marked: the
    /// objects sum to [`objects_marked`](Self::objects_marked), and the
    /// bytes (slot sizes) to [`heap_marked`](Self::heap_marked) less
    /// [`allocated_black_bytes`](Self::allocated_black_bytes).
    pub per_type: Vec<TypeStats>,
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

/// Live objects and bytes of one type after a cycle (cppgc's
/// `HeapStatistics`, per type): an entry of [`CycleStats::per_type`],
/// filled when [`Config::per_type_stats`](crate::Config::per_type_stats) is
/// on.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config { per_type_stats: true, ..Config::default() });
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let text = heap.register_type(TypeDescriptor::bytes("Text"))?;
/// let mut m = heap.attach()?;
/// let list = m.push_root(None);
/// for _ in 0..10 {
///     let n = m.alloc(node, 0);
///     // SAFETY: `n` is fresh; the list is rooted.
///     unsafe { m.store(n, 0, m.root(list)) };
///     m.set_root(list, Some(n));
/// }
/// let s = m.alloc(text, 100); // 8 + 100 bytes: a 112-byte slot
/// m.push_root(Some(s));
/// m.collect();
/// let stats = heap.stats();
/// let by_name = |name: &str| stats.per_type().iter().find(|t| t.name == name).cloned();
/// let nodes = by_name("Node").unwrap();
/// assert_eq!((nodes.objects, nodes.bytes), (10, 160), "16-byte slots");
/// assert_eq!(by_name("Text").unwrap().bytes, 112);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeStats {
    /// The type.
    pub ty: crate::TypeId,
    /// Its descriptor's name.
    pub name: String,
    /// Live objects of the type.
    pub objects: u64,
    /// Their bytes, slot sizes (header and rounding to the size class
    /// included), as `heap_marked` counts them.
    pub bytes: u64,
}

impl CycleStats {
    /// The collector's CPU time in this cycle: both pauses, assists,
    /// background and idle workers (the five columns of the gctrace line's
    /// `cpu`).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// heap.collect();
    /// let c = heap.stats().last_cycle.unwrap();
    /// assert_eq!(
    ///     c.gc_cpu(),
    ///     c.sweep_termination_cpu + c.mark_cpu + c.mark_termination_cpu,
    /// );
    /// ```
    pub fn gc_cpu(&self) -> Duration {
        self.sweep_termination_cpu
            + self.assist_cpu
            + self.background_cpu
            + self.idle_cpu
            + self.mark_termination_cpu
    }

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
            "gc {} @{:.3}s {:.0}%: {:.3}+{:.3}+{:.3} ms clock, {:.3}+{:.3}/{:.3}/{:.3}+{:.3} ms cpu{}, {}->{}->{} MiB, {} MiB goal, {} workers ({}), {} objects marked{}, pause {} ms (stop {}){}{}{}",
            self.number,
            self.start.as_secs_f64(),
            self.gc_cpu_fraction * 100.0,
            ms(self.sweep_termination),
            ms(self.mark),
            ms(self.mark_termination),
            ms(self.sweep_termination_cpu),
            ms(self.assist_cpu),
            ms(self.background_cpu),
            ms(self.idle_cpu),
            ms(self.mark_termination_cpu),
            assist,
            mib(self.heap_before),
            mib(self.heap_end),
            mib(self.heap_marked),
            if self.goal == u64::MAX { "inf".to_string() } else { mib(self.goal).to_string() },
            self.workers,
            self.barrier,
            self.objects_marked,
            termination,
            joined(&self.pauses),
            joined(&self.stop_waits),
            specials,
            if self.generational {
                let kind = match self.kind {
                    crate::CycleKind::Minor => format!(", minor ({} remembered)", self.remembered),
                    crate::CycleKind::Major => ", major".to_string(),
                };
                if self.tenured_first {
                    kind + ", tenured at first survival"
                } else {
                    kind
                }
            } else {
                String::new()
            },
            if self.forced { " (forced)" } else { "" },
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
    /// All pauses (each stop-the-world separately), bucketed by powers of
    /// two.
    pub pause_histogram: PauseHistogram,
    /// All pauses' quantiles, to three significant digits.
    pub pause_quantiles: PauseQuantiles,
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
    /// The collector's CPU time over all cycles ([`CycleStats::gc_cpu`]
    /// summed).
    pub gc_cpu_total: Duration,
    /// [`gc_cpu_total`](Self::gc_cpu_total) over the wall time since the
    /// heap was made times the cores available to the process, as of the
    /// call (Go's `GCCPUFraction`; [`CycleStats::gc_cpu_fraction`] is the
    /// same as of a cycle's end).
    pub gc_cpu_fraction: f64,
}

impl GcStats {
    /// Live objects and bytes per type after the last cycle, largest first
    /// ([`CycleStats::per_type`]); empty unless
    /// [`Config::per_type_stats`](crate::Config::per_type_stats) is on, or
    /// before the first cycle. [`TypeStats`] has an example.
    pub fn per_type(&self) -> &[TypeStats] {
        self.last_cycle.as_ref().map_or(&[], |c| &c.per_type)
    }
}

/// Running totals, under the heap's stats lock.
pub(crate) struct StatsState {
    /// Cores available to the process when the heap was made (the
    /// denominator of `gc_cpu_fraction`, read once: the query reads files
    /// on Linux).
    pub(crate) cores: usize,
    /// GC CPU time over all cycles.
    pub(crate) gc_cpu_total: Duration,
    pub(crate) cycles: u64,
    pub(crate) pause_total: Duration,
    pub(crate) pause_max: Duration,
    pub(crate) recent: std::collections::VecDeque<Duration>,
    /// Time to stop of each of `recent`.
    pub(crate) recent_stop: std::collections::VecDeque<Duration>,
    pub(crate) stop_wait_max: Duration,
    pub(crate) histogram: PauseHistogram,
    pub(crate) hdr: PauseHdr,
    pub(crate) sweep_term_total: Duration,
    pub(crate) mark_total: Duration,
    pub(crate) mark_term_total: Duration,
    pub(crate) mark_cpu_total: Duration,
    pub(crate) last: Option<CycleStats>,
}

impl StatsState {
    pub(crate) fn new() -> StatsState {
        StatsState {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            gc_cpu_total: Duration::ZERO,
            cycles: 0,
            pause_total: Duration::ZERO,
            pause_max: Duration::ZERO,
            recent: Default::default(),
            recent_stop: Default::default(),
            stop_wait_max: Duration::ZERO,
            histogram: PauseHistogram::default(),
            hdr: PauseHdr::new(),
            sweep_term_total: Duration::ZERO,
            mark_total: Duration::ZERO,
            mark_term_total: Duration::ZERO,
            mark_cpu_total: Duration::ZERO,
            last: None,
        }
    }

    /// The share of the machine's CPU that `gc_cpu` is over `elapsed`
    /// (the wall time since the heap was made).
    pub(crate) fn cpu_fraction(&self, gc_cpu: Duration, elapsed: Duration) -> f64 {
        let available = elapsed.as_secs_f64() * self.cores as f64;
        if available > 0.0 {
            gc_cpu.as_secs_f64() / available
        } else {
            0.0
        }
    }

    /// Adds a finished cycle to the totals, filling in its
    /// `gc_cpu_fraction` (as of `elapsed` since the heap was made); returns
    /// it as recorded.
    pub(crate) fn record(&mut self, mut c: CycleStats, elapsed: Duration) -> CycleStats {
        self.gc_cpu_total += c.gc_cpu();
        c.gc_cpu_fraction = self.cpu_fraction(self.gc_cpu_total, elapsed);
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
            self.hdr.record(p);
        }
        self.hdr.refresh();
        self.sweep_term_total += c.sweep_termination;
        self.mark_total += c.mark;
        self.mark_term_total += c.mark_termination;
        self.mark_cpu_total += c.mark_cpu;
        self.last = Some(c.clone());
        c
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
    fn pause_quantiles_are_within_three_digits() {
        // 1..=1000 µs: the q quantile is q × 1000 µs (nearest rank).
        let mut h = PauseHdr::new();
        for us in (1..=1000u64).rev() {
            h.record(Duration::from_micros(us));
        }
        h.refresh();
        let q = h.quantiles;
        let near = |got: Duration, us: u64| {
            let want = Duration::from_micros(us);
            let err = got.abs_diff(want).as_nanos() as f64 / want.as_nanos() as f64;
            assert!(err <= 1e-3, "got {got:?}, want {want:?}");
        };
        assert_eq!(q.count, 1000);
        near(q.p50, 500);
        near(q.p90, 900);
        near(q.p99, 990);
        near(q.p999, 999);
        assert_eq!(q.max, Duration::from_micros(1000), "exact");
        // A pause past any bound is kept, at the top.
        h.record(Duration::from_secs(u64::MAX));
        h.refresh();
        assert_eq!(h.quantiles.count, 1001);
        assert_eq!(h.quantiles.max, Duration::from_secs(u64::MAX));
    }

    #[test]
    fn trace_line_has_every_field() {
        let c = CycleStats {
            number: 3,
            start: Duration::from_millis(1500),
            mark: Duration::from_micros(2500),
            heap_trigger: 10 << 20,
            heap_before: 10 << 20,
            heap_end: 12 << 20,
            heap_marked: 4 << 20,
            goal: 8 << 20,
            workers: 2,
            objects_marked: 77,
            ..CycleStats::default()
        };
        let l = c.trace_line();
        assert!(
            l.starts_with("gc 3 @1.500s 0%: 0.000+2.500+0.000 ms clock"),
            "{l}"
        );
        assert!(
            l.contains("10->12->4 MiB, 8 MiB goal, 2 workers (hybrid), 77 objects marked"),
            "{l}"
        );
        assert!(!l.contains("forced"), "{l}");
        let forced = CycleStats {
            forced: true,
            gc_cpu_fraction: 0.13,
            sweep_termination_cpu: Duration::from_micros(10),
            assist_cpu: Duration::from_micros(1500),
            background_cpu: Duration::from_micros(250),
            idle_cpu: Duration::from_millis(3),
            mark_termination_cpu: Duration::from_micros(20),
            ..c
        };
        let l = forced.trace_line();
        assert!(l.starts_with("gc 3 @1.500s 13%: "), "{l}");
        assert!(
            l.contains(", 0.010+1.500/0.250/3.000+0.020 ms cpu (0.0 MiB assist"),
            "{l}"
        );
        assert!(l.ends_with(" (forced)"), "{l}");
        assert_eq!(forced.gc_cpu(), Duration::from_micros(4780));
    }

    #[test]
    fn cpu_fraction_counts_every_core() {
        let mut s = StatsState::new();
        s.cores = 4;
        let c = CycleStats {
            number: 1,
            background_cpu: Duration::from_millis(300),
            mark_termination_cpu: Duration::from_millis(100),
            ..CycleStats::default()
        };
        let c = s.record(c, Duration::from_secs(1));
        assert!(
            (c.gc_cpu_fraction - 0.1).abs() < 1e-12,
            "{}",
            c.gc_cpu_fraction
        );
        assert_eq!(s.gc_cpu_total, Duration::from_millis(400));
        assert_eq!(s.cpu_fraction(s.gc_cpu_total, Duration::ZERO), 0.0);
    }
}
