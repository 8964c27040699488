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
//! (`/proc/stat` less this process's `getrusage`): on a small machine that
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
//!     [--seconds S] [--budget-mib N]
//! ```
//!
//! Run time defaults to 10 s at up to 256 MiB and 15 s above, after the heap
//! is built; `--seconds` or `PAUSE_SECONDS` sets it for every size. `--quick`
//! (or `PAUSE_QUICK=1`) is a smoke run: 64 MiB, 2 s, GOGC 100. The
//! `TRICOLOR_*` variables apply to every run (the heap's configuration comes
//! from `Config::with_env`), except that each run sets its own barrier mode
//! and GOGC.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tricolor::raw::{Config, CycleStats, Heap, Mutator, ObjRef, TypeDescriptor, TypeId};

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
/// Every barrier mode, in the order of the tables.
const MODES: [&str; 4] = ["off", "satb", "incremental", "hybrid"];
/// The baseline's allocation budget unless memory is short or `--budget-mib`.
const DEFAULT_BUDGET_MIB: u64 = 8 << 10;

fn tree_bytes() -> u64 {
    ((1u64 << DEPTH) - 1) * NODE_BYTES
}

// ---- the workload ------------------------------------------------------------

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

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
    let n = m.alloc(node, 0).expect("allocation failed");
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
    let mut rng = Rng(seed);
    let ntables = trees.div_ceil(TABLE_LEN);
    let top = m.alloc(t.table, ntables).expect("top-level array");
    let top_slot = m.push_root(Some(top));
    for k in 0..ntables {
        let table = m
            .alloc(t.table, TABLE_LEN.min(trees - k * TABLE_LEN))
            .expect("table");
        let top = m.root(top_slot).expect("rooted");
        // SAFETY: the top-level array is rooted; `table` is fresh.
        unsafe { m.store(top, k, Some(table)) };
    }
    let mut salts = vec![0u64; trees];
    for (i, salt) in salts.iter_mut().enumerate() {
        *salt = rng.next();
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
        let i = (rng.next() % trees as u64) as usize;
        if replaced % 64 == 0 {
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
        salts[i] = rng.next();
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

/// The `p` quantile of sorted values (nearest rank).
fn quantile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// p50, p99 and max of `v` (sorted here), or `None` if empty.
fn summary(mut v: Vec<u64>) -> Option<[u64; 3]> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some([quantile(&v, 0.5), quantile(&v, 0.99), *v.last().unwrap()])
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

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib << 10)
}

/// Busy CPU seconds of the whole machine (user, nice, system, irq,
/// softirq) and seconds stolen by the hypervisor, from `/proc/stat`.
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / hz;
    // user nice system idle iowait irq softirq steal ...
    (at(0) + at(1) + at(2) + at(5) + at(6), at(7))
}

/// CPU seconds used by this process (every thread), from `getrusage`.
fn own_cpu() -> f64 {
    // SAFETY: `rusage` is plain data; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage and RUSAGE_SELF is valid.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(r, 0, "getrusage");
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

fn mem_available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib << 10)
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

fn triple(t: Option<[u64; 3]>) -> String {
    match t {
        Some([a, b, c]) => format!("{} / {} / {}", us(a), us(b), us(c)),
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
}

impl RunSpec {
    fn gogc_str(&self) -> String {
        self.gogc.map_or("off".to_string(), |g| g.to_string())
    }

    fn label(&self) -> String {
        match self.gogc {
            None => format!("{} MiB, GOGC off (baseline)", self.live_mib),
            Some(g) => format!("{} MiB, {}, GOGC {g}", self.live_mib, self.mode),
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
        a
    }

    fn from_args(args: &[String]) -> RunSpec {
        let mut spec = RunSpec {
            live_mib: 256,
            mode: "hybrid".into(),
            gogc: Some(100),
            seconds: 10.0,
            budget_mib: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--live-mib" => spec.live_mib = value().parse().expect("--live-mib N"),
                "--mode" => spec.mode = value().clone(),
                "--gogc" => {
                    let v = value();
                    spec.gogc = (v != "off").then(|| v.parse().expect("--gogc N|off"));
                }
                "--seconds" => spec.seconds = value().parse().expect("--seconds S"),
                "--budget-mib" => spec.budget_mib = Some(value().parse().expect("--budget-mib N")),
                other => panic!("unknown child flag {other}"),
            }
        }
        spec
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
        let (b, s) = machine_cpu();
        (b, s, own_cpu())
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
    let (busy1, steal1) = machine_cpu();
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
    let rss = peak_rss_bytes();

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
    let ns_of = |f: &dyn Fn(&Pause) -> bool| -> Vec<u64> {
        pauses.iter().filter(|p| f(p)).map(|p| p.ns).collect()
    };
    let all = summary(ns_of(&|_| true));
    let stw1 = summary(ns_of(&|p| p.which == Which::Stw1));
    let stw2 = summary(ns_of(&|p| p.which == Which::Stw2));
    let stop = summary(pauses.iter().map(|p| p.stop_ns).collect());
    let work = summary(pauses.iter().map(|p| p.ns - p.stop_ns).collect());
    let intervals: Vec<(f64, f64)> = pauses
        .iter()
        .map(|p| (p.start, (p.start + p.ns as f64 / 1e9).min(t1)))
        .collect();
    let mmus: Vec<Option<f64>> = MMU_WINDOWS_MS
        .iter()
        .map(|&w| mmu(&intervals, t0, t1, w as f64 / 1e3))
        .collect();

    let samples: Vec<Sample> = samples.into_iter().filter(|s| in_run(s.at)).collect();
    let probe_all = summary(samples.iter().map(|s| s.late_ns).collect());
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
    let probe_in = summary(
        samples
            .iter()
            .filter(|s| during(s.at))
            .map(|s| s.late_ns)
            .collect(),
    );
    let probe_out = summary(
        samples
            .iter()
            .filter(|s| !during(s.at))
            .map(|s| s.late_ns)
            .collect(),
    );
    let mut sorted_late: Vec<u64> = samples.iter().map(|s| s.late_ns).collect();
    sorted_late.sort_unstable();
    let probe_p999 = quantile(&sorted_late, 0.999);

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
        "- cycles: {} started in the run ({} missed by polling), mark {:.2} s wall ({:.0}% of the run), mark CPU {:.2} s, assists {} MiB, mutators parked in assists {:.1} ms",
        run_cycles.len(),
        missed,
        mark_wall.as_secs_f64(),
        100.0 * mark_wall.as_secs_f64() / elapsed,
        mark_cpu.as_secs_f64(),
        assist >> 20,
        assist_wait.as_secs_f64() * 1e3,
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
    if !pauses.is_empty() {
        let mut buckets = vec![0u64; 64];
        for p in &pauses {
            buckets[63 - p.ns.max(1).leading_zeros() as usize] += 1;
        }
        let lo = buckets.iter().position(|&n| n > 0).unwrap();
        let hi = buckets.iter().rposition(|&n| n > 0).unwrap();
        println!("- pause histogram (µs):");
        for (b, &n) in buckets.iter().enumerate().take(hi + 1).skip(lo) {
            println!("  - [{}, {}): {}", us(1u64 << b), us(1u64 << (b + 1)), n);
        }
    }
    println!();

    let opt = |t: Option<[u64; 3]>, i: usize| t.map_or("-".to_string(), |t| t[i].to_string());
    let mut data = vec![
        format!("size={}", spec.live_mib),
        format!("mode={}", spec.mode),
        format!("gogc={}", spec.gogc_str()),
        format!("secs={elapsed:.2}"),
        format!("budget_hit={budget_hit}"),
        format!("cycles={}", run_cycles.len()),
        format!("pauses={}", pauses.len()),
        format!("mark_cpu={:.3}", mark_cpu.as_secs_f64()),
        format!("alloc_rate={alloc_rate:.0}"),
        format!("rss_mib={}", rss >> 20),
        format!("other_cores={:.2}", other / elapsed),
    ];
    for (name, t) in [
        ("all", all),
        ("stw1", stw1),
        ("stw2", stw2),
        ("stop", stop),
        ("work", work),
        ("probe", probe_all),
    ] {
        for (i, q) in ["p50", "p99", "max"].iter().enumerate() {
            data.push(format!("{name}_{q}={}", opt(t, i)));
        }
    }
    for (w, m) in MMU_WINDOWS_MS.iter().zip(&mmus) {
        data.push(format!(
            "mmu{w}={}",
            m.map_or("-".to_string(), |u| format!("{u:.4}"))
        ));
    }
    println!("DATA {}", data.join(" "));
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
}

fn parse_list<T: std::str::FromStr>(v: &str, flag: &str) -> Vec<T> {
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{flag}: bad value {x:?}"))
        })
        .collect()
}

fn parse_options() -> Options {
    let mut o = Options {
        sizes: vec![256, 1024],
        modes: MODES.iter().map(|m| m.to_string()).collect(),
        gogcs: vec![100, 200],
        baseline: true,
        seconds: std::env::var("PAUSE_SECONDS")
            .ok()
            .map(|v| v.parse().expect("PAUSE_SECONDS=S")),
        budget_mib: None,
        quick: std::env::var("PAUSE_QUICK").is_ok_and(|v| v == "1"),
    };
    let (mut sizes, mut gogcs, mut seconds) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => o.quick = true,
            "--sizes" => sizes = Some(parse_list(&value(), "--sizes")),
            "--modes" => {
                o.modes = parse_list(&value(), "--modes");
                for m in &o.modes {
                    assert!(MODES.contains(&m.as_str()), "--modes: unknown mode {m}");
                }
            }
            "--gogc" => gogcs = Some(parse_list(&value(), "--gogc")),
            "--no-baseline" => o.baseline = false,
            "--seconds" => seconds = Some(value().parse().expect("--seconds S")),
            "--budget-mib" => o.budget_mib = Some(value().parse().expect("--budget-mib N")),
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "pause [--quick] [--sizes 256,1024] [--modes off,satb,incremental,hybrid] [--gogc 100,200] [--no-baseline] [--seconds S] [--budget-mib N]"
                );
                std::process::exit(0);
            }
            other => panic!("unknown flag {other}; try --help"),
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
    o
}

/// The `key=value` fields of a child's `DATA` line.
type Fields = HashMap<String, String>;

/// Runs one child; returns its report lines and its `DATA` fields, or why
/// it failed.
fn run_child(spec: &RunSpec) -> Result<(Vec<String>, Fields), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(spec.to_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut out = child.stdout.take().expect("piped");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    // A hang in the collector shows as a child that never ends.
    let limit = Duration::from_secs_f64(300.0 + 4.0 * spec.seconds);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "no result after {:.0} s: killed (hang?)",
                limit.as_secs_f64()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().expect("reader").map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("child failed: {status}\n{text}"));
    }
    let mut lines = Vec::new();
    let mut data = HashMap::new();
    for line in text.lines() {
        match line.strip_prefix("DATA ") {
            Some(rest) => {
                for kv in rest.split_whitespace() {
                    if let Some((k, v)) = kv.split_once('=') {
                        data.insert(k.to_string(), v.to_string());
                    }
                }
            }
            None => lines.push(line.to_string()),
        }
    }
    if data.is_empty() {
        return Err(format!("child printed no DATA line\n{text}"));
    }
    Ok((lines, data))
}

fn field(d: &Fields, k: &str) -> String {
    d.get(k).cloned().unwrap_or_else(|| "-".into())
}

fn num(d: &Fields, k: &str) -> Option<f64> {
    d.get(k).and_then(|v| v.parse().ok())
}

/// "p50 / p99 / max" in µs from `DATA` fields in ns.
fn data_triple(d: &Fields, name: &str) -> String {
    let get = |q: &str| num(d, &format!("{name}_{q}")).map(|v| v as u64);
    match (get("p50"), get("p99"), get("max")) {
        (Some(a), Some(b), Some(c)) => triple(Some([a, b, c])),
        _ => "—".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&RunSpec::from_args(&args[1..]));
        return;
    }
    let o = parse_options();
    let wall = Instant::now();
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let avail = mem_available_bytes();
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
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
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

    let mut rows: Vec<(RunSpec, Result<Fields, String>)> = Vec::new();
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
            Ok(d) if s.live_mib == size && s.gogc.is_none() => num(d, "probe_p99"),
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
        let ratio = match (num(d, "probe_p99"), baseline_p99(s.live_mib)) {
            (Some(p), Some(b)) if b > 0.0 => format!("{:.2}", p / b),
            _ => "—".into(),
        };
        let mmu = MMU_WINDOWS_MS
            .iter()
            .map(|w| {
                num(d, &format!("mmu{w}"))
                    .map_or("—".to_string(), |u| format!("{:.1}%", 100.0 * u))
            })
            .collect::<Vec<_>>()
            .join(" / ");
        let mode = if s.gogc.is_none() {
            "— (baseline)".to_string()
        } else {
            s.mode.clone()
        };
        let secs = format!(
            "{}{}",
            field(d, "secs"),
            if field(d, "budget_hit") == "true" {
                " (budget)"
            } else {
                ""
            }
        );
        println!(
            "| {} MiB | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.live_mib,
            mode,
            s.gogc_str(),
            secs,
            field(d, "cycles"),
            data_triple(d, "all"),
            data_triple(d, "stw1"),
            data_triple(d, "stw2"),
            data_triple(d, "probe"),
            ratio,
            mmu,
            field(d, "mark_cpu"),
            field(d, "alloc_rate"),
            field(d, "rss_mib"),
            field(d, "other_cores"),
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
        if let (Some(p), Some(b)) = (num(d, "probe_p99"), baseline_p99(s.live_mib)) {
            if b > 0.0 {
                notes.push(format!("probe p99 {:.2}x: {}", p / b, ok(p <= 1.5 * b)));
            }
        }
        if s.mode == "hybrid" || s.mode == "satb" {
            if let Some(m) = num(d, "all_max") {
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
                        num(d, "all_max")
                    }
                    _ => None,
                });
                if let (Some(small), Some(big)) = (small, num(d, "all_max")) {
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
    println!(
        "\nTotal time {:.0} s ({} runs).",
        wall.elapsed().as_secs_f64(),
        rows.len()
    );
}
