//! Stop-the-world pauses and scheduling latency under steady churn.
//!
//! The live heap is complete binary trees of 48-byte nodes (two pointers, a
//! canary word and a salt word; depth 8, 255 nodes, about 12 KiB a tree)
//! hanging off tables of 1024 slots, which hang off one top-level array per
//! mutator thread (rooted on its shadow stack). Two mutator threads build
//! their halves of the heap, then for a fixed time replace random trees with
//! new ones, so the live size stays constant while allocation runs as fast
//! as the mutators can build. Every 64th replaced tree is walked before it
//! is dropped: each node must carry its tree's salt and its height.
//!
//! A probe thread, not attached to the heap, sleeps until an absolute
//! deadline 1 ms ahead (`clock_nanosleep`, timer slack 1 ns) in a loop and
//! records how late it woke: the latency an unrelated thread of the process
//! sees while the collector works.
//!
//! Each configuration runs in a child process (this binary again, with
//! `--child`), so peak RSS (`VmHWM`) is per run. The matrix: for each live
//! size (256 MiB and 1 GiB), a baseline with collection off
//! (`PacerConfig::with_gogc(None)`), then each barrier mode (`off`, `satb`,
//! `incremental`, `hybrid`) with GOGC 100 and 200. The baseline never frees
//! anything, so it stops at an allocation budget (8 GiB by default, less if
//! the machine has less memory available) if it reaches it before the run
//! time; the output says when it did.
//!
//! Per run: cycles; STW pauses (each stop-the-world separately) p50, p99
//! and max, all together and split into STW #1 (sweep termination) and
//! STW #2 (mark termination), with a histogram, and split again into the
//! time to stop (`CycleStats::stop_waits`: waiting for the mutators to reach
//! a safepoint) and the rest (the collector's work); probe lateness p50, p99 and
//! max; minimum mutator utilisation (MMU) over 1, 10 and 100 ms windows;
//! mark CPU; allocation rate; peak RSS. The child polls `Heap::stats` every
//! few milliseconds and keeps each new `CycleStats`, so no pause is lost to
//! the 256-entry `recent_pauses` window; a cycle still running when the run
//! ends is finished by a collection afterwards and contributes its pauses
//! that began inside the run.
//!
//! Each run also reports the CPU time other processes used meanwhile
//! (`/proc/stat` less this process's CPU time): on a small machine that
//! load competes with the mutators, the collector and the probe, and the
//! figures mean little when it is high.
//!
//! MMU counts stop-the-world time only (not the CPU that mark assists and
//! background workers take). Pause start times come from `CycleStats`:
//! STW #1 at `start`, STW #2 at `start + sweep_termination + mark`; the sweep
//! that finishes before STW #1 is not recorded, so both pauses of a cycle are
//! placed early by that amount, which leaves their spacing, and the MMU,
//! unchanged.
//!
//! ```text
//! cargo bench -p tricolor-benches --bench pause -- [--quick] [--sizes 256,1024]
//!     [--modes off,satb,incremental,hybrid] [--gogc 100,200] [--no-baseline]
//!     [--seconds S] [--budget-mib N] [--cycle-events] [--plots DIR | --no-plots]
//! ```
//!
//! Pictures: per live size, the pause histogram of every collecting run
//! (`pauses-{size}mib.svg`) and its MMU curve, windows from 1 ms to 1 s
//! (`mmu-{size}mib.svg`), in `--plots DIR` (default `target/plots`).
//!
//! `--cycle-events` installs a cycle-event callback that counts the events
//! (`Heap::on_cycle_event`), to measure what delivering them costs against
//! the same run without one; `TRICOLOR_PER_TYPE_STATS=1` does the same for
//! per-type live counts.
//!
//! Run time defaults to 10 s at up to 256 MiB and 15 s above, after the heap
//! is built; `--seconds` or `PAUSE_SECONDS` sets it for every size. `--quick`
//! (or `PAUSE_QUICK=1`) is a smoke run: 64 MiB, 2 s, GOGC 100. The
//! `TRICOLOR_*` variables apply to every run (the heap's configuration comes
//! from `Config::with_env`), except that each run sets its own barrier mode
//! and GOGC.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tricolor::raw::{Config, CycleStats, Heap, Mutator, ObjRef, TypeDescriptor, TypeId};
use tricolor_benches::plot;
use tricolor_testkit::{args, child, procfs, Histogram, Rng, Summary};

/// Bytes of one node (4 words and the header, in the 48-byte class).
const NODE_BYTES: u64 = 48;
/// Levels of each tree.
const DEPTH: u32 = 8;
/// Tree slots per table.
const TABLE_LEN: usize = 1024;
/// Mutator threads.
const THREADS: usize = 2;
/// How long the probe sleeps.
const PROBE_PERIOD_NS: u64 = 1_000_000;
/// How often the child samples `Heap::stats` while the mutators run.
const POLL: Duration = Duration::from_millis(5);
/// MMU windows, in milliseconds.
const MMU_WINDOWS_MS: [u64; 3] = [1, 10, 100];
/// The windows of the MMU curve (`--plots`), in milliseconds: 1 ms to 1 s.
const MMU_CURVE_MS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
/// Every barrier mode, in the order of the tables.
const MODES: [&str; 4] = ["off", "satb", "incremental", "hybrid"];
/// The baseline's allocation budget unless memory is short or `--budget-mib`.
const DEFAULT_BUDGET_MIB: u64 = 8 << 10;

fn tree_bytes() -> u64 {
    ((1u64 << DEPTH) - 1) * NODE_BYTES
}

// ---- the workload ------------------------------------------------------------

#[derive(Copy, Clone)]
struct Types {
    /// left, right, canary, salt.
    node: TypeId,
    /// An array of pointers: the tables and each thread's top-level array.
    table: TypeId,
}

fn canary(height: u32) -> u64 {
    0x7EE5_0000_0000_0000 | height as u64
}

/// Builds a complete tree of `height` levels bottom-up (children first, so
/// each node is allocated after its subtrees and stored into while still
/// fresh) and leaves it in a new root slot on top of the shadow stack. The
/// finished subtrees wait in root slots, since any allocation may collect.
fn build(m: &mut Mutator, node: TypeId, height: u32, salt: u64) {
    if height > 1 {
        build(m, node, height - 1, salt);
        build(m, node, height - 1, salt);
    }
    let n = m.alloc(node, 0);
    let top = m.root_count();
    // SAFETY: `n` was just allocated (no safepoint since: stores and root
    // reads do not poll), and the two subtrees are rooted in the top slots.
    unsafe {
        m.store_word(n, 2, canary(height));
        m.store_word(n, 3, salt);
        if height > 1 {
            m.store(n, 0, m.root(top - 2));
            m.store(n, 1, m.root(top - 1));
        }
    }
    if height > 1 {
        m.truncate_roots(top - 2);
    }
    m.push_root(Some(n));
}

/// Walks a tree, checking every node's canary and salt; returns its nodes.
fn check(m: &Mutator, tree: ObjRef, height: u32, salt: u64) -> u64 {
    // SAFETY: `tree` was loaded from a table reachable from a root, and the
    // walk does not reach a safepoint (loads do not poll).
    let (c, s, l, r) = unsafe {
        (
            m.load_word(tree, 2),
            m.load_word(tree, 3),
            m.load(tree, 0),
            m.load(tree, 1),
        )
    };
    assert_eq!(c, canary(height), "corrupted node: wrong height canary");
    assert_eq!(s, salt, "node of another tree (freed and reused?)");
    match (l, r) {
        (Some(l), Some(r)) if height > 1 => {
            1 + check(m, l, height - 1, salt) + check(m, r, height - 1, salt)
        }
        (None, None) if height == 1 => 1,
        _ => panic!("malformed tree at height {height}"),
    }
}

/// What the mutators share.
struct Shared {
    ready: Barrier,
    go: Barrier,
    stop: AtomicBool,
    /// Bytes allocated by churning (not by building).
    allocated: AtomicU64,
    /// Stop when `allocated` reaches this.
    budget: u64,
}

struct MutatorResult {
    replaced: u64,
    checked: u64,
}

/// One mutator thread: builds `trees` trees, waits for the start, churns.
fn mutator(heap: Heap, t: Types, trees: usize, seed: u64, sh: &Shared) -> MutatorResult {
    let mut m = heap.attach().expect("attach");
    let mut rng = Rng::new(seed);
    let ntables = trees.div_ceil(TABLE_LEN);
    let top = m.alloc(t.table, ntables);
    let top_slot = m.push_root(Some(top));
    for k in 0..ntables {
        let table = m.alloc(t.table, TABLE_LEN.min(trees - k * TABLE_LEN));
        let top = m.root(top_slot).expect("rooted");
        // SAFETY: the top-level array is rooted; `table` is fresh.
        unsafe { m.store(top, k, Some(table)) };
    }
    let mut salts = vec![0u64; trees];
    for (i, salt) in salts.iter_mut().enumerate() {
        *salt = rng.next_u64();
        build(&mut m, t.node, DEPTH, *salt);
        let top = m.root(top_slot).expect("rooted");
        // SAFETY: the top-level array is rooted, so its tables are
        // reachable; no safepoint between the load and the store.
        unsafe {
            let table = m.load(top, i / TABLE_LEN).expect("table");
            m.store(table, i % TABLE_LEN, m.root(top_slot + 1));
        }
        m.truncate_roots(top_slot + 1);
    }
    m.native(|| sh.ready.wait());
    m.native(|| sh.go.wait());

    let bytes = tree_bytes();
    let mut replaced = 0u64;
    let mut checked = 0u64;
    while !sh.stop.load(Ordering::Relaxed) {
        let i = rng.below(trees);
        if replaced.is_multiple_of(64) {
            let top = m.root(top_slot).expect("rooted");
            // SAFETY: the top-level array is rooted; the table and the tree
            // are reachable from it, with no safepoint between.
            let old = unsafe {
                let table = m.load(top, i / TABLE_LEN).expect("table");
                m.load(table, i % TABLE_LEN).expect("tree")
            };
            assert_eq!(check(&m, old, DEPTH, salts[i]), (1 << DEPTH) - 1);
            checked += 1;
        }
        salts[i] = rng.next_u64();
        build(&mut m, t.node, DEPTH, salts[i]);
        let top = m.root(top_slot).expect("rooted");
        // SAFETY: as when building: the table is reachable from the rooted
        // top-level array and the new tree is rooted in the slot above it.
        unsafe {
            let table = m.load(top, i / TABLE_LEN).expect("table");
            m.store(table, i % TABLE_LEN, m.root(top_slot + 1));
        }
        m.truncate_roots(top_slot + 1);
        replaced += 1;
        if sh.allocated.fetch_add(bytes, Ordering::Relaxed) + bytes >= sh.budget {
            sh.stop.store(true, Ordering::Relaxed);
        }
    }
    MutatorResult { replaced, checked }
}

// ---- the probe -----------------------------------------------------------------

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC exists
    // on every Linux system.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One probe wake-up: when (seconds since the heap was made) and how late.
#[derive(Copy, Clone)]
struct Sample {
    at: f64,
    late_ns: u64,
}

/// Sleeps to absolute deadlines 1 ms apart (each from the last wake-up) until
/// `stop`, recording how late each wake-up came.
fn probe(epoch: Instant, stop: &AtomicBool) -> Vec<Sample> {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only
    // the calling thread's timer slack (1 ns instead of the default 50 µs).
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let mut out = Vec::with_capacity(1 << 15);
    while !stop.load(Ordering::Relaxed) {
        let deadline_ns = monotonic_ns() + PROBE_PERIOD_NS;
        let deadline = libc::timespec {
            tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
        };
        loop {
            // SAFETY: `deadline` is a valid timespec; with TIMER_ABSTIME the
            // remaining-time pointer is unused and may be null.
            let r = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &deadline,
                    std::ptr::null_mut(),
                )
            };
            if r != libc::EINTR {
                assert_eq!(r, 0, "clock_nanosleep");
                break;
            }
        }
        let woke = monotonic_ns();
        out.push(Sample {
            at: epoch.elapsed().as_secs_f64(),
            late_ns: woke.saturating_sub(deadline_ns),
        });
    }
    out
}

// ---- statistics --------------------------------------------------------------

/// Which stop-the-world of a cycle.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Which {
    /// The one pause of a cycle with the barrier off.
    Only,
    Stw1,
    Stw2,
}

#[derive(Copy, Clone)]
struct Pause {
    /// Seconds since the heap was made.
    start: f64,
    ns: u64,
    /// The part of `ns` spent waiting for the mutators to stop.
    stop_ns: u64,
    which: Which,
}

fn pauses_of(c: &CycleStats) -> Vec<Pause> {
    let start = c.start.as_secs_f64();
    let ns = |d: Duration| d.as_nanos() as u64;
    let stop = |i: usize| ns(c.stop_waits.get(i).copied().unwrap_or_default());
    match c.pauses.as_slice() {
        [only] => vec![Pause {
            start,
            ns: ns(*only),
            stop_ns: stop(0),
            which: Which::Only,
        }],
        [p1, p2] => vec![
            Pause {
                start,
                ns: ns(*p1),
                stop_ns: stop(0),
                which: Which::Stw1,
            },
            Pause {
                start: start + (c.sweep_termination + c.mark).as_secs_f64(),
                ns: ns(*p2),
                stop_ns: stop(1),
                which: Which::Stw2,
            },
        ],
        other => panic!("cycle {} has {} pauses", c.number, other.len()),
    }
}

/// p50, p99 and max of `values`, or `None` if there are none.
fn summary(values: impl IntoIterator<Item = u64>) -> Option<Summary> {
    values.into_iter().collect::<Histogram>().summary()
}

/// Minimum mutator utilisation over windows of `w` seconds inside
/// `[t0, t1]`: the least fraction of any such window not covered by a
/// pause. `pauses` are `(start, end)`, sorted and disjoint. The paused time
/// in a window is piecewise linear in the window's start, so its maximum is
/// at a start where either edge meets a pause's start or end.
fn mmu(pauses: &[(f64, f64)], t0: f64, t1: f64, w: f64) -> Option<f64> {
    if t1 - t0 < w {
        return None;
    }
    let paused = |a: f64| -> f64 {
        let b = a + w;
        let first = pauses.partition_point(|&(_, e)| e <= a);
        pauses[first..]
            .iter()
            .take_while(|&&(s, _)| s < b)
            .map(|&(s, e)| e.min(b) - s.max(a))
            .sum()
    };
    let worst = pauses
        .iter()
        .flat_map(|&(s, e)| [s, e, s - w, e - w])
        .map(|a| paused(a.clamp(t0, t1 - w)))
        .fold(0.0f64, f64::max);
    // Rounding can leave a fully paused window a hair below zero.
    Some((1.0 - worst / w).max(0.0))
}

/// CPU seconds used by this process (every thread).
fn own_cpu() -> f64 {
    procfs::process_cpu().as_secs_f64()
}

/// Microseconds, from nanoseconds: one decimal below 10 µs.
fn us(ns: u64) -> String {
    let u = ns as f64 / 1e3;
    if u < 10.0 {
        format!("{u:.1}")
    } else {
        format!("{u:.0}")
    }
}

/// "p50 / p99 / max" in µs from a summary in ns.
fn triple(t: Option<Summary>) -> String {
    match t {
        Some(s) => format!("{} / {} / {}", us(s.p50), us(s.p99), us(s.max)),
        None => "—".to_string(),
    }
}

// ---- one run (the child) ----------------------------------------------------

/// One configuration of the matrix.
#[derive(Clone)]
struct RunSpec {
    live_mib: u64,
    mode: String,
    gogc: Option<u32>,
    seconds: f64,
    /// Stop after this much churn allocation (the baseline).
    budget_mib: Option<u64>,
    /// Count cycle events with a callback (`--cycle-events`).
    cycle_events: bool,
}

impl RunSpec {
    fn gogc_str(&self) -> String {
        self.gogc.map_or("off".to_string(), |g| g.to_string())
    }

    fn label(&self) -> String {
        match self.gogc {
            None => format!("{} MiB, GOGC off (baseline)", self.live_mib),
            Some(g) => format!(
                "{} MiB, {}, GOGC {g}{}",
                self.live_mib,
                self.mode,
                if self.cycle_events {
                    ", counting cycle events"
                } else {
                    ""
                }
            ),
        }
    }

    fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--child".to_string(),
            "--live-mib".into(),
            self.live_mib.to_string(),
            "--mode".into(),
            self.mode.clone(),
            "--gogc".into(),
            self.gogc_str(),
            "--seconds".into(),
            self.seconds.to_string(),
        ];
        if let Some(b) = self.budget_mib {
            a.extend(["--budget-mib".into(), b.to_string()]);
        }
        if self.cycle_events {
            a.push("--cycle-events".into());
        }
        a
    }

    fn from_args(args: &[OsString]) -> Result<RunSpec, lexopt::Error> {
        use lexopt::prelude::*;
        let mut spec = RunSpec {
            live_mib: 256,
            mode: "hybrid".into(),
            gogc: Some(100),
            seconds: 10.0,
            budget_mib: None,
            cycle_events: false,
        };
        let mut p = lexopt::Parser::from_args(args);
        while let Some(arg) = p.next()? {
            match arg {
                Long("live-mib") => spec.live_mib = p.value()?.parse()?,
                Long("mode") => spec.mode = p.value()?.string()?,
                Long("gogc") => {
                    let v = p.value()?;
                    spec.gogc = if v == "off" { None } else { Some(v.parse()?) };
                }
                Long("seconds") => spec.seconds = p.value()?.parse()?,
                Long("budget-mib") => spec.budget_mib = Some(p.value()?.parse()?),
                Long("cycle-events") => spec.cycle_events = true,
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(spec)
    }
}

/// A run's figures: the child's result line. Times are in ns.
#[derive(Serialize, Deserialize)]
struct Figures {
    live_mib: u64,
    mode: String,
    /// GOGC, or "off".
    gogc: String,
    /// Seconds the run lasted.
    secs: f64,
    /// Whether it stopped at the allocation budget.
    budget_hit: bool,
    /// Cycles started in the run.
    cycles: usize,
    /// Stop-the-world pauses in the run.
    pauses: usize,
    /// Mark CPU seconds.
    mark_cpu: f64,
    /// MiB/s allocated by churning.
    alloc_rate: f64,
    rss_mib: u64,
    /// Cores other processes used, on average.
    other_cores: f64,
    /// Every pause.
    all: Option<Summary>,
    stw1: Option<Summary>,
    stw2: Option<Summary>,
    /// The time to stop of each pause.
    stop: Option<Summary>,
    /// The rest of each pause.
    work: Option<Summary>,
    /// Probe lateness.
    probe: Option<Summary>,
    /// MMU for each of `MMU_WINDOWS_MS`.
    mmu: Vec<Option<f64>>,
    /// Cycle events the callback counted (`--cycle-events`; else 0).
    #[serde(default)]
    cycle_events: u64,
    /// Every pause, in ns, in order (for the histogram picture).
    #[serde(default)]
    pause_ns: Vec<u64>,
    /// MMU for each of `MMU_CURVE_MS` (for the MMU picture; `None` where
    /// the run was shorter than the window).
    #[serde(default)]
    mmu_curve: Vec<Option<f64>>,
}

impl Figures {
    fn probe_p99(&self) -> Option<f64> {
        self.probe.map(|s| s.p99 as f64)
    }

    fn all_max(&self) -> Option<f64> {
        self.all.map(|s| s.max as f64)
    }
}

/// Records the last cycle if a new one completed since `last`.
fn poll(heap: &Heap, last: &mut u64, cycles: &mut Vec<CycleStats>, missed: &mut u64) {
    let s = heap.stats();
    if s.cycles > *last {
        *missed += s.cycles - *last - 1;
        cycles.extend(s.last_cycle);
        *last = s.cycles;
    }
}

fn child(spec: &RunSpec) {
    let mode = spec.mode.clone();
    let mut config = Config::default()
        .with_env(|k| {
            if k == "TRICOLOR_BARRIER" {
                Some(mode.clone())
            } else {
                std::env::var(k).ok()
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
    config.pacer = config.pacer.with_gogc(spec.gogc);
    let epoch = Instant::now();
    let heap = Heap::new(config);
    let heap_new = epoch.elapsed();
    let events = Arc::new(AtomicU64::new(0));
    if spec.cycle_events {
        let e = events.clone();
        heap.on_cycle_event(move |_| {
            e.fetch_add(1, Ordering::Relaxed);
        });
    }
    let t = Types {
        node: heap
            .register_type(TypeDescriptor::fixed("Node", 4, &[0, 1]))
            .expect("Node"),
        table: heap
            .register_type(TypeDescriptor::array("Table", 1, &[0]))
            .expect("Table"),
    };
    let trees = ((spec.live_mib << 20) / THREADS as u64 / tree_bytes()).max(1) as usize;
    let shared = Arc::new(Shared {
        ready: Barrier::new(THREADS + 1),
        go: Barrier::new(THREADS + 1),
        stop: AtomicBool::new(false),
        allocated: AtomicU64::new(0),
        budget: spec.budget_mib.map_or(u64::MAX, |b| b << 20),
    });

    let build_start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let heap = heap.clone();
            let sh = shared.clone();
            thread::spawn(move || mutator(heap, t, trees, 0x5EED + i as u64, &sh))
        })
        .collect();
    shared.ready.wait();
    let build = build_start.elapsed();
    // Settle: one full cycle over the finished heap, so every run starts
    // from a goal set by the whole live heap.
    let settle_start = Instant::now();
    heap.collect();
    let settle = settle_start.elapsed();

    let probe_stop = Arc::new(AtomicBool::new(false));
    let probe_thread = {
        let stop = probe_stop.clone();
        thread::spawn(move || probe(epoch, &stop))
    };
    let mut cycles = Vec::new();
    let mut last = heap.stats().cycles;
    let mut missed = 0u64;

    shared.go.wait();
    let t0 = epoch.elapsed().as_secs_f64();
    let (busy0, steal0, own0) = {
        let m = procfs::machine_cpu().unwrap_or_default();
        (m.busy, m.steal, own_cpu())
    };
    let deadline = Instant::now() + Duration::from_secs_f64(spec.seconds);
    loop {
        thread::sleep(POLL);
        poll(&heap, &mut last, &mut cycles, &mut missed);
        if Instant::now() >= deadline {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    let results: Vec<MutatorResult> = handles
        .into_iter()
        .map(|h| h.join().expect("mutator panicked"))
        .collect();
    let t1 = epoch.elapsed().as_secs_f64();
    let procfs::MachineCpu {
        busy: busy1,
        steal: steal1,
    } = procfs::machine_cpu().unwrap_or_default();
    let own = own_cpu() - own0;
    // CPU that other processes of the machine used during the run.
    let other = ((busy1 - busy0) - own).max(0.0);
    let steal = steal1 - steal0;
    probe_stop.store(true, Ordering::Relaxed);
    let samples = probe_thread.join().expect("probe panicked");
    // Finish a cycle that may still be running (its STW #1 was in the run):
    // a collection waits for it, then runs one more (outside the run).
    if spec.gogc.is_some() {
        let h = heap.clone();
        let done = thread::spawn(move || h.collect());
        while !done.is_finished() {
            thread::sleep(Duration::from_millis(1));
            poll(&heap, &mut last, &mut cycles, &mut missed);
        }
        done.join().expect("final collection panicked");
    }
    poll(&heap, &mut last, &mut cycles, &mut missed);
    let rss = procfs::peak_rss_bytes().unwrap_or(0);

    // ---- figures ----
    let elapsed = t1 - t0;
    let in_run = |s: f64| s >= t0 && s < t1;
    let run_cycles: Vec<&CycleStats> = cycles
        .iter()
        .filter(|c| in_run(c.start.as_secs_f64()))
        .collect();
    let pauses: Vec<Pause> = run_cycles
        .iter()
        .flat_map(|c| pauses_of(c))
        .filter(|p| in_run(p.start))
        .collect();
    let ns_of = |which: Which| {
        pauses
            .iter()
            .filter(move |p| p.which == which)
            .map(|p| p.ns)
    };
    let pause_ns: Histogram = pauses.iter().map(|p| p.ns).collect();
    let all = pause_ns.summary();
    let stw1 = summary(ns_of(Which::Stw1));
    let stw2 = summary(ns_of(Which::Stw2));
    let stop = summary(pauses.iter().map(|p| p.stop_ns));
    let work = summary(pauses.iter().map(|p| p.ns - p.stop_ns));
    let intervals: Vec<(f64, f64)> = pauses
        .iter()
        .map(|p| (p.start, (p.start + p.ns as f64 / 1e9).min(t1)))
        .collect();
    let mmus: Vec<Option<f64>> = MMU_WINDOWS_MS
        .iter()
        .map(|&w| mmu(&intervals, t0, t1, w as f64 / 1e3))
        .collect();
    let mmu_curve: Vec<Option<f64>> = MMU_CURVE_MS
        .iter()
        .map(|&w| mmu(&intervals, t0, t1, w / 1e3))
        .collect();

    let samples: Vec<Sample> = samples.into_iter().filter(|s| in_run(s.at)).collect();
    let late: Histogram = samples.iter().map(|s| s.late_ns).collect();
    let probe_all = late.summary();
    let cycle_spans: Vec<(f64, f64)> = run_cycles
        .iter()
        .map(|c| {
            let s = c.start.as_secs_f64();
            (
                s,
                s + (c.sweep_termination + c.mark + c.mark_termination).as_secs_f64(),
            )
        })
        .collect();
    let during = |at: f64| cycle_spans.iter().any(|&(s, e)| at >= s && at < e);
    let probe_in = summary(samples.iter().filter(|s| during(s.at)).map(|s| s.late_ns));
    let probe_out = summary(samples.iter().filter(|s| !during(s.at)).map(|s| s.late_ns));
    let probe_p999 = late.quantile(0.999);

    let mark_cpu: Duration = run_cycles.iter().map(|c| c.mark_cpu).sum();
    let assist: u64 = run_cycles.iter().map(|c| c.assist_bytes).sum();
    let assist_wait: Duration = run_cycles.iter().map(|c| c.assist_wait).sum();
    let mark_wall: Duration = run_cycles.iter().map(|c| c.mark).sum();
    let allocated = shared.allocated.load(Ordering::Relaxed);
    let alloc_rate = allocated as f64 / elapsed / (1u64 << 20) as f64;
    let replaced: u64 = results.iter().map(|r| r.replaced).sum();
    let checked: u64 = results.iter().map(|r| r.checked).sum();
    let budget_hit = allocated >= shared.budget;
    let cfg = heap.config();

    // ---- report ----
    println!("### {}\n", spec.label());
    println!(
        "- heap: {} threads x {} trees of depth {} ({} KiB each) = {} MiB live; barrier {}, GOGC {}, {} mark workers{}; built in {:.2} s, settling collection {:.2} s (Heap::new {:.1} ms)",
        THREADS,
        trees,
        DEPTH,
        tree_bytes() >> 10,
        (trees as u64 * THREADS as u64 * tree_bytes()) >> 20,
        cfg.barrier,
        spec.gogc_str(),
        cfg.effective_mark_workers(cfg.barrier),
        if spec.mode == "off" {
            " (in the pause)"
        } else if cfg.idle_priority_workers {
            " (background, idle priority)"
        } else {
            " (background, normal priority)"
        },
        build.as_secs_f64(),
        settle.as_secs_f64(),
        heap_new.as_secs_f64() * 1e3,
    );
    println!(
        "- run: {:.2} s{}; {} trees replaced ({} walked and checked), {} MiB allocated, {:.0} MiB/s; peak RSS {} MiB; this process {:.1} CPU-s, other processes {:.1} CPU-s ({:.2} cores on average), steal {:.1} s",
        elapsed,
        if budget_hit {
            format!(
                " (stopped at the {} MiB allocation budget)",
                shared.budget >> 20
            )
        } else {
            String::new()
        },
        replaced,
        checked,
        allocated >> 20,
        alloc_rate,
        rss >> 20,
        own,
        other,
        other / elapsed,
        steal,
    );
    println!(
        "- cycles: {} started in the run ({} missed by polling), mark {:.2} s wall ({:.0}% of the run), mark CPU {:.2} s, assists {} MiB, mutators parked in assists {:.1} ms{}",
        run_cycles.len(),
        missed,
        mark_wall.as_secs_f64(),
        100.0 * mark_wall.as_secs_f64() / elapsed,
        mark_cpu.as_secs_f64(),
        assist >> 20,
        assist_wait.as_secs_f64() * 1e3,
        if spec.cycle_events {
            format!(
                "; cycle events counted by the callback: {}",
                events.load(Ordering::Relaxed)
            )
        } else {
            String::new()
        },
    );
    let total_pause: u64 = pauses.iter().map(|p| p.ns).sum();
    println!(
        "- STW pauses (µs, p50 / p99 / max): all {} = {}; STW #1 {}; STW #2 {}; total {:.1} ms ({:.3}% of the run)",
        pauses.len(),
        triple(all),
        triple(stw1),
        triple(stw2),
        total_pause as f64 / 1e6,
        100.0 * total_pause as f64 / 1e9 / elapsed,
    );
    println!(
        "- of which time to stop (µs, p50 / p99 / max): {}; the rest, the collector's work: {}",
        triple(stop),
        triple(work),
    );
    let fmt_mmu = |m: Option<f64>| m.map_or("—".to_string(), |u| format!("{:.1}%", 100.0 * u));
    println!(
        "- MMU (STW only): {}",
        MMU_WINDOWS_MS
            .iter()
            .zip(&mmus)
            .map(|(w, m)| format!("{w} ms {}", fmt_mmu(*m)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "- probe lateness (µs, p50 / p99 / max): {} samples: {}, p99.9 {}; during cycles {}; outside cycles {}",
        samples.len(),
        triple(probe_all),
        us(probe_p999),
        triple(probe_in),
        triple(probe_out),
    );
    if !pause_ns.is_empty() {
        println!("- pause histogram (µs):");
        for (lo, n) in pause_ns.log2_buckets() {
            println!("  - [{}, {}): {}", us(lo), us(2 * lo), n);
        }
    }
    println!();

    child::emit(&Figures {
        live_mib: spec.live_mib,
        mode: spec.mode.clone(),
        gogc: spec.gogc_str(),
        secs: elapsed,
        budget_hit,
        cycles: run_cycles.len(),
        pauses: pauses.len(),
        mark_cpu: mark_cpu.as_secs_f64(),
        alloc_rate,
        rss_mib: rss >> 20,
        other_cores: other / elapsed,
        all,
        stw1,
        stw2,
        stop,
        work,
        probe: probe_all,
        mmu: mmus,
        cycle_events: events.load(Ordering::Relaxed),
        pause_ns: pauses.iter().map(|p| p.ns).collect(),
        mmu_curve,
    });
}

// ---- the matrix (the parent) ------------------------------------------------

struct Options {
    sizes: Vec<u64>,
    modes: Vec<String>,
    gogcs: Vec<u32>,
    baseline: bool,
    seconds: Option<f64>,
    budget_mib: Option<u64>,
    quick: bool,
    cycle_events: bool,
    /// Where the pictures go; `None` with `--no-plots`.
    plots: Option<PathBuf>,
}

const USAGE: &str = "pause [--quick] [--sizes 256,1024] [--modes off,satb,incremental,hybrid] \
                     [--gogc 100,200] [--no-baseline] [--seconds S] [--budget-mib N] \
                     [--cycle-events] [--plots DIR | --no-plots]";

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        sizes: vec![256, 1024],
        modes: MODES.iter().map(|m| m.to_string()).collect(),
        gogcs: vec![100, 200],
        baseline: true,
        seconds: match std::env::var("PAUSE_SECONDS") {
            Ok(v) => Some(
                v.parse()
                    .map_err(|_| format!("PAUSE_SECONDS={v}: not seconds"))?,
            ),
            Err(_) => None,
        },
        budget_mib: None,
        quick: std::env::var("PAUSE_QUICK").is_ok_and(|v| v == "1"),
        cycle_events: false,
        plots: Some(plot::default_dir()),
    };
    let (mut sizes, mut gogcs, mut seconds) = (None, None, None);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("quick") => o.quick = true,
            Long("sizes") => sizes = Some(args::list(&mut p)?),
            Long("modes") => {
                o.modes = args::list(&mut p)?;
                if let Some(m) = o.modes.iter().find(|m| !MODES.contains(&m.as_str())) {
                    return Err(format!("--modes: unknown mode {m}").into());
                }
            }
            Long("gogc") => gogcs = Some(args::list(&mut p)?),
            Long("no-baseline") => o.baseline = false,
            Long("seconds") => seconds = Some(p.value()?.parse()?),
            Long("budget-mib") => o.budget_mib = Some(p.value()?.parse()?),
            Long("cycle-events") => o.cycle_events = true,
            Long("plots") => o.plots = Some(plot::resolve_dir(p.value()?.into())),
            Long("no-plots") => o.plots = None,
            // Passed by `cargo bench`.
            Long("bench") => {}
            _ => return Err(args::unexpected(arg, USAGE)),
        }
    }
    if o.quick {
        o.sizes = vec![64];
        o.gogcs = vec![100];
        o.seconds = Some(2.0);
    }
    if let Some(s) = sizes {
        o.sizes = s;
    }
    if let Some(g) = gogcs {
        o.gogcs = g;
    }
    if seconds.is_some() {
        o.seconds = seconds;
    }
    Ok(o)
}

/// Runs one child; returns its report lines and its figures, or why it
/// failed.
fn run_child(spec: &RunSpec) -> Result<(Vec<String>, Figures), String> {
    // A hang in the collector shows as a child that never ends.
    let limit = Duration::from_secs_f64(300.0 + 4.0 * spec.seconds);
    match child::run(spec.to_args(), limit) {
        Ok(out) => Ok((out.lines, out.result)),
        Err(e @ child::Error::TimedOut(_)) => Err(format!("{e} (hang?)")),
        Err(e) => Err(e.to_string()),
    }
}

fn main() {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    if argv.first().is_some_and(|a| a == "--child") {
        let spec = args::or_exit(
            RunSpec::from_args(&argv[1..]),
            "pause --child [--live-mib N] [--mode M] [--gogc N|off] [--seconds S] [--budget-mib N] \
             [--cycle-events]",
        );
        child(&spec);
        return;
    }
    let o = args::or_exit(parse_options(), USAGE);
    let wall = Instant::now();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let avail = procfs::mem_available_bytes();
    let env: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("TRICOLOR_"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();

    let mut specs = Vec::new();
    for &size in &o.sizes {
        let seconds = o.seconds.unwrap_or(if size <= 256 { 10.0 } else { 15.0 });
        if o.baseline {
            // Nothing is freed: bound the allocation so the heap fits.
            let fits = avail.map_or(DEFAULT_BUDGET_MIB, |a| {
                ((a / 4 * 3) >> 20).saturating_sub(2 * size)
            });
            specs.push(RunSpec {
                live_mib: size,
                mode: "hybrid".into(),
                gogc: None,
                seconds,
                budget_mib: Some(o.budget_mib.unwrap_or(DEFAULT_BUDGET_MIB.min(fits))),
                cycle_events: o.cycle_events,
            });
        }
        for mode in &o.modes {
            for &g in &o.gogcs {
                specs.push(RunSpec {
                    live_mib: size,
                    mode: mode.clone(),
                    gogc: Some(g),
                    seconds,
                    budget_mib: None,
                    cycle_events: o.cycle_events,
                });
            }
        }
    }

    println!("# Pauses and latency under steady churn\n");
    println!(
        "{} cores; {} MiB available; {} mutator threads, one probe thread (1 ms absolute-deadline sleeps, not attached); trees of depth {DEPTH} ({} B nodes); {}",
        cores,
        avail.map_or("?".to_string(), |a| (a >> 20).to_string()),
        THREADS,
        NODE_BYTES,
        if env.is_empty() {
            "no TRICOLOR_* variables set".to_string()
        } else {
            format!("environment: {}", env.join(" "))
        },
    );
    println!(
        "load average before the runs: {}",
        procfs::load_average().unwrap_or_default()
    );
    println!(
        "matrix: sizes {:?} MiB; modes {}; GOGC {:?}{}; {} runs{}\n",
        o.sizes,
        o.modes.join(", "),
        o.gogcs,
        if o.baseline {
            " plus a GOGC-off baseline per size"
        } else {
            ""
        },
        specs.len(),
        if o.quick { " (--quick)" } else { "" },
    );
    for s in specs.iter().filter(|s| s.gogc.is_none()) {
        println!(
            "- baseline at {} MiB: {:.0} s or {} MiB of allocation, whichever comes first (GOGC off frees nothing)",
            s.live_mib,
            s.seconds,
            s.budget_mib.unwrap_or(0)
        );
    }
    println!();

    let mut rows: Vec<(RunSpec, Result<Figures, String>)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        eprintln!("[{}/{}] {} ...", i + 1, specs.len(), spec.label());
        let t = Instant::now();
        let r = run_child(spec);
        eprintln!("    done in {:.1} s", t.elapsed().as_secs_f64());
        match r {
            Ok((lines, data)) => {
                for l in lines {
                    println!("{l}");
                }
                rows.push((spec.clone(), Ok(data)));
            }
            Err(e) => {
                println!("### {}\n\nFAILED: {e}\n", spec.label());
                rows.push((spec.clone(), Err(e)));
            }
        }
    }

    // ---- the summary ----
    let baseline_p99 = |size: u64| -> Option<f64> {
        rows.iter().find_map(|(s, r)| match r {
            Ok(d) if s.live_mib == size && s.gogc.is_none() => d.probe_p99(),
            _ => None,
        })
    };
    println!("## Summary\n");
    println!(
        "Pauses and probe lateness in µs (p50 / p99 / max). MMU counts stop-the-world time only. Other load: CPU that other processes of the machine used during the run, in cores on average (it competes with the mutators, the collector and the probe).\n"
    );
    println!("| live | mode | GOGC | run (s) | cycles | STW all | STW #1 | STW #2 | probe late | probe p99 ÷ GOGC off | MMU 1 / 10 / 100 ms | mark CPU (s) | alloc (MiB/s) | peak RSS (MiB) | other load (cores) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (s, r) in &rows {
        let d = match r {
            Ok(d) => d,
            Err(_) => {
                println!(
                    "| {} MiB | {} | {} | FAILED | | | | | | | | | | | |",
                    s.live_mib,
                    s.mode,
                    s.gogc_str()
                );
                continue;
            }
        };
        let ratio = match (d.probe_p99(), baseline_p99(s.live_mib)) {
            (Some(p), Some(b)) if b > 0.0 => format!("{:.2}", p / b),
            _ => "—".into(),
        };
        let mmu = d
            .mmu
            .iter()
            .map(|m| m.map_or("—".to_string(), |u| format!("{:.1}%", 100.0 * u)))
            .collect::<Vec<_>>()
            .join(" / ");
        let mode = if s.gogc.is_none() {
            "— (baseline)".to_string()
        } else {
            s.mode.clone()
        };
        let secs = format!(
            "{:.2}{}",
            d.secs,
            if d.budget_hit { " (budget)" } else { "" }
        );
        println!(
            "| {} MiB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.0} | {} | {:.2} |",
            s.live_mib,
            mode,
            s.gogc_str(),
            secs,
            d.cycles,
            triple(d.all),
            triple(d.stw1),
            triple(d.stw2),
            triple(d.probe),
            ratio,
            mmu,
            d.mark_cpu,
            d.alloc_rate,
            d.rss_mib,
            d.other_cores,
        );
    }

    // ---- the targets ----
    println!("\n## Against the targets\n");
    println!("- probe p99 within 1.5x of GOGC off (same live size); STW max ≤ 100 µs in hybrid and SATB; STW max at the largest size ≤ 1.2x at the smallest.\n");
    let ok = |b: bool| if b { "met" } else { "missed" };
    for (s, r) in &rows {
        let (Ok(d), Some(g)) = (r, s.gogc) else {
            continue;
        };
        let mut notes = Vec::new();
        if let (Some(p), Some(b)) = (d.probe_p99(), baseline_p99(s.live_mib)) {
            if b > 0.0 {
                notes.push(format!("probe p99 {:.2}x: {}", p / b, ok(p <= 1.5 * b)));
            }
        }
        if s.mode == "hybrid" || s.mode == "satb" {
            if let Some(m) = d.all_max() {
                notes.push(format!(
                    "STW max {} µs: {}",
                    us(m as u64),
                    ok(m <= 100_000.0)
                ));
            }
        }
        let (lo, hi) = (o.sizes.iter().min(), o.sizes.iter().max());
        if let (Some(&lo), Some(&hi)) = (lo, hi) {
            if s.live_mib == hi && lo != hi {
                let small = rows.iter().find_map(|(t, r)| match r {
                    Ok(d) if t.live_mib == lo && t.mode == s.mode && t.gogc == s.gogc => {
                        d.all_max()
                    }
                    _ => None,
                });
                if let (Some(small), Some(big)) = (small, d.all_max()) {
                    if small > 0.0 {
                        notes.push(format!(
                            "STW max {hi} MiB ÷ {lo} MiB {:.2}x: {}",
                            big / small,
                            ok(big <= 1.2 * small)
                        ));
                    }
                }
            }
        }
        println!(
            "- {} MiB, {}, GOGC {g}: {}",
            s.live_mib,
            s.mode,
            notes.join("; ")
        );
    }
    if let Some(dir) = &o.plots {
        draw_pictures(dir, &o.sizes, &rows);
    }
    println!(
        "\nTotal time {:.0} s ({} runs).",
        wall.elapsed().as_secs_f64(),
        rows.len()
    );
}

/// Writes, per live size, the pause histogram and the MMU curve of every
/// collecting run (`pauses-{size}mib.svg`, `mmu-{size}mib.svg` in `dir`),
/// and says where they are. A picture that cannot be drawn is reported,
/// not fatal: the tables are already out.
fn draw_pictures(dir: &Path, sizes: &[u64], rows: &[(RunSpec, Result<Figures, String>)]) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        println!("\n(no pictures: cannot create {}: {e})", dir.display());
        return;
    }
    println!("\n## Pictures\n");
    for &size in sizes {
        let runs: Vec<(String, &Figures)> = rows
            .iter()
            .filter_map(|(s, r)| match (r, s.gogc) {
                (Ok(d), Some(g)) if s.live_mib == size => Some((format!("{} GOGC {g}", s.mode), d)),
                _ => None,
            })
            .collect();
        let pauses: Vec<(String, Vec<u64>)> = runs
            .iter()
            .map(|(label, d)| (label.clone(), d.pause_ns.clone()))
            .collect();
        let curves: Vec<(String, Vec<(f64, f64)>)> = runs
            .iter()
            .map(|(label, d)| {
                let pts = MMU_CURVE_MS
                    .iter()
                    .zip(&d.mmu_curve)
                    .filter_map(|(&w, m)| Some((w, (*m)?)))
                    .collect();
                (label.clone(), pts)
            })
            .collect();
        let hist = dir.join(format!("pauses-{size}mib.svg"));
        let mmu_path = dir.join(format!("mmu-{size}mib.svg"));
        let results = [
            (
                &hist,
                plot::pause_histogram(
                    &hist,
                    &format!("Stop-the-world pauses, {size} MiB live, 2 mutators churning"),
                    &pauses,
                ),
            ),
            (
                &mmu_path,
                plot::mmu_curves(
                    &mmu_path,
                    &format!(
                        "Minimum mutator utilisation, {size} MiB live (stop-the-world time only)"
                    ),
                    &curves,
                ),
            ),
        ];
        for (path, r) in results {
            match r {
                Ok(()) => println!("- {}", path.display()),
                Err(e) => println!("- {}: not drawn ({e})", path.display()),
            }
        }
    }
}
