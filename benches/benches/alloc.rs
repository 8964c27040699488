//! Allocation benchmarks: tricolor's span allocator against mimalloc and the
//! system allocator (glibc malloc), object sizes 16 B to 64 KiB.
//!
//! Two groups, each with every allocator side by side for each size, so the
//! ratios between allocators come from measurements taken minutes apart at
//! most, on the same machine state:
//!
//! * `alloc_fast_path` — only allocations are timed, in batches; between
//!   batches, untimed, the batch is reclaimed (tricolor: release the cache,
//!   start a sweep cycle with nothing marked, finish it; malloc: free every
//!   object), so every batch allocates from reused memory.
//! * `alloc_churn` — allocation *and* reclamation are timed: tricolor
//!   allocates a batch and runs the whole sweep cycle; malloc allocates a
//!   batch and frees it.
//!
//! The subjects: `tricolor` ([`Cache::alloc`]); `tricolor_class`
//! ([`Cache::alloc_class`] with the span class computed once: the fast path
//! without the size → class lookup); `mimalloc` and `system` through
//! [`GlobalAlloc::alloc`], which does not zero; `mimalloc_zeroed` and
//! `system_zeroed` through [`GlobalAlloc::alloc_zeroed`], which does, as
//! tricolor must; and `zero_only`, no allocator at all, only the clearing of
//! each slot of a resident batch-sized buffer: the cost of zeroing by itself.
//!
//! One criterion iteration is one object, so criterion's time per iteration
//! is the time per allocation (fast path) or per allocated-and-reclaimed
//! object (churn). After the run the binary prints, from criterion's saved
//! estimates, a table of median ns per object and the tricolor/mimalloc
//! ratios, then the process's resident memory and the tricolor heap figures
//! that show the sweeps really returned the memory.
//!
//! Criterion measures one benchmark after another, and on a small shared
//! machine the state changes between them, so a plain run (no filter) ends
//! with a paired check: tricolor and mimalloc batches interleaved round by
//! round, with the median of the per-round ratios (see [`paired`]).
//!
//! Run: `cargo bench -p tricolor-benches --bench alloc` (add
//! `-- --paired-only` for the paired check alone).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion};
use mimalloc::MiMalloc;
use tricolor_allocator::{
    resident_bytes, Cache, Config, ObjectKind, PageHeap, SizeClass, SpanClass, MAX_SMALL_SIZE,
};
use tricolor_benches::{criterion_args, interleaved_rounds, run_started};
use tricolor_testkit::{procfs, stats::quartiles};

/// Object sizes, in bytes. 64 KiB is over tricolor's 32 KiB small-object
/// limit, so it measures the large-object path (a span per object).
const SIZES: [usize; 7] = [16, 32, 64, 128, 512, 4 << 10, 64 << 10];

/// Objects per batch: 4096, or fewer so that a batch stays at 16 MiB
/// (256 objects of 64 KiB).
fn batch_len(size: usize) -> usize {
    ((16 << 20) / size).clamp(1, 4096)
}

const GROUP_FAST: &str = "alloc_fast_path";
const GROUP_CHURN: &str = "alloc_churn";

/// The allocators, in the column order of the summary table.
const FAST_SUBJECTS: [&str; 7] = [
    "tricolor",
    "tricolor_class",
    "mimalloc",
    "mimalloc_zeroed",
    "system",
    "system_zeroed",
    "zero_only",
];
const CHURN_SUBJECTS: [&str; 4] = ["tricolor", "mimalloc", "mimalloc_zeroed", "system"];

/// Benchmarks that ran in this process (criterion skips filtered-out ones),
/// so the summary never reports estimates left over from an earlier run.
static RAN: Mutex<BTreeSet<(&'static str, &'static str, usize)>> = Mutex::new(BTreeSet::new());

fn note_ran(group: &'static str, subject: &'static str, size: usize) {
    RAN.lock().unwrap().insert((group, subject, size));
}

// ---- the allocators under test -------------------------------------------

/// One allocator, allocating objects of one fixed size.
trait Subject {
    /// Allocates one object.
    fn alloc(&mut self) -> *mut u8;
    /// Reclaims every object of the batch `objs` (and, for tricolor, every
    /// other unmarked object: nothing is marked).
    fn reclaim(&mut self, objs: &[*mut u8]);
}

/// tricolor through [`Cache::alloc`] (size → class lookup, then the cache).
struct Tricolor {
    heap: Arc<PageHeap>,
    cache: Cache,
    size: usize,
}

impl Tricolor {
    fn new(size: usize) -> Tricolor {
        let heap = PageHeap::new(Config::default());
        let cache = Cache::new(heap.clone());
        Tricolor { heap, cache, size }
    }

    /// A full collection cycle with nothing marked: every object is freed.
    fn sweep_all(&mut self) {
        self.cache.release_all();
        self.heap.start_sweep_cycle();
        self.heap.finish_sweep();
    }
}

impl Subject for Tricolor {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        match self.cache.alloc(self.size, ObjectKind::Scan) {
            Ok(p) => p.as_ptr(),
            Err(e) => panic!("tricolor alloc({}) failed: {e}", self.size),
        }
    }

    fn reclaim(&mut self, _objs: &[*mut u8]) {
        self.sweep_all();
    }
}

/// tricolor through [`Cache::alloc_class`] with the span class computed once,
/// outside the timed loop: the fast path without the size → class lookup.
struct TricolorClass {
    inner: Tricolor,
    spc: SpanClass,
}

impl TricolorClass {
    fn new(size: usize) -> TricolorClass {
        let class = SizeClass::for_size(size).expect("a small size");
        TricolorClass {
            inner: Tricolor::new(size),
            spc: SpanClass::new(class, ObjectKind::Scan),
        }
    }
}

impl Subject for TricolorClass {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        match self.inner.cache.alloc_class(self.spc) {
            Ok(p) => p.as_ptr(),
            Err(e) => panic!("tricolor alloc_class({:?}) failed: {e}", self.spc),
        }
    }

    fn reclaim(&mut self, _objs: &[*mut u8]) {
        self.inner.sweep_all();
    }
}

/// Not an allocator: hands out consecutive `size`-byte slots of one
/// preallocated, resident, page-aligned buffer of a batch's size, clearing
/// each one the way tricolor clears a reused slot (same call, same slot
/// alignment, since tricolor's spans are page-aligned). The cost of the
/// zeroing alone, on the footprint and access pattern of a batch of reused
/// tricolor slots.
struct ZeroOnly {
    buf: *mut u8,
    layout: Layout,
    size: usize,
    next: usize,
    cap: usize,
}

impl ZeroOnly {
    fn new(size: usize) -> ZeroOnly {
        let cap = batch_len(size);
        let layout = Layout::from_size_align(cap * size, 4096).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let buf = unsafe { std::alloc::alloc(layout) };
        assert!(!buf.is_null(), "out of memory");
        // Fill with ones, so every page is resident and dirty before timing.
        // SAFETY: `buf` is `layout.size()` bytes, just allocated.
        unsafe { std::ptr::write_bytes(buf, 0xff, layout.size()) };
        ZeroOnly {
            buf,
            layout,
            size,
            next: 0,
            cap,
        }
    }
}

impl Drop for ZeroOnly {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.buf, self.layout) };
    }
}

impl Subject for ZeroOnly {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        if self.next == self.cap {
            self.next = 0;
        }
        // SAFETY: `next < cap`, so the slot `[p, p + size)` lies inside `buf`.
        let p = unsafe { self.buf.add(self.next * self.size) };
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(p, 0, self.size) };
        self.next += 1;
        p
    }

    fn reclaim(&mut self, _objs: &[*mut u8]) {
        self.next = 0;
    }
}

/// A [`GlobalAlloc`], through `alloc` or `alloc_zeroed`, freeing with `dealloc`.
struct Global<A: GlobalAlloc, const ZEROED: bool> {
    a: A,
    layout: Layout,
}

impl<A: GlobalAlloc, const ZEROED: bool> Global<A, ZEROED> {
    fn new(a: A, size: usize) -> Self {
        // 8-byte alignment: what tricolor guarantees for every object.
        let layout = Layout::from_size_align(size, 8).expect("valid layout");
        Global { a, layout }
    }
}

impl<A: GlobalAlloc, const ZEROED: bool> Subject for Global<A, ZEROED> {
    #[inline(always)]
    fn alloc(&mut self) -> *mut u8 {
        // SAFETY: the layout has a non-zero size.
        let p = unsafe {
            if ZEROED {
                self.a.alloc_zeroed(self.layout)
            } else {
                self.a.alloc(self.layout)
            }
        };
        assert!(
            !p.is_null(),
            "allocation of {} bytes failed",
            self.layout.size()
        );
        p
    }

    #[inline(always)]
    fn reclaim(&mut self, objs: &[*mut u8]) {
        for &p in objs {
            // SAFETY: `p` was allocated by `self.a` with `self.layout` and is
            // freed exactly once (each batch is reclaimed once).
            unsafe { self.a.dealloc(p, self.layout) };
        }
    }
}

// ---- the timed loops ----------------------------------------------------------

/// Allocates `iters` objects in batches of `objs.len()`, timing only the
/// allocations; reclaims each batch untimed.
fn run_fast<S: Subject>(s: &mut S, objs: &mut [*mut u8], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(objs.len() as u64) as usize;
        let batch = &mut objs[..n];
        let start = Instant::now();
        for slot in batch.iter_mut() {
            *slot = black_box(s.alloc());
        }
        total += start.elapsed();
        s.reclaim(black_box(&*batch));
        left -= n as u64;
    }
    total
}

/// Allocates `iters` objects in batches of `objs.len()` and reclaims each
/// batch, timing both.
fn run_churn<S: Subject>(s: &mut S, objs: &mut [*mut u8], iters: u64) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(objs.len() as u64) as usize;
        let batch = &mut objs[..n];
        for slot in batch.iter_mut() {
            *slot = black_box(s.alloc());
        }
        s.reclaim(black_box(&*batch));
        left -= n as u64;
    }
    start.elapsed()
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Mode {
    Fast,
    Churn,
}

impl Mode {
    fn group(self) -> &'static str {
        match self {
            Mode::Fast => GROUP_FAST,
            Mode::Churn => GROUP_CHURN,
        }
    }
}

fn bench_one<S: Subject>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    mode: Mode,
    name: &'static str,
    size: usize,
    s: &mut S,
) {
    let mut objs = vec![std::ptr::null_mut::<u8>(); batch_len(size)];
    g.bench_function(BenchmarkId::new(name, size), |b| {
        note_ran(mode.group(), name, size);
        b.iter_custom(|iters| match mode {
            Mode::Fast => run_fast(s, &mut objs, iters),
            Mode::Churn => run_churn(s, &mut objs, iters),
        })
    });
}

/// Checks, after a tricolor benchmark, that the last sweep freed everything
/// and the heap did not grow past what one batch needs; prints the figures.
fn check_tricolor(mode: Mode, name: &str, size: usize, t: &mut Tricolor) {
    t.cache.flush_stats();
    let st = t.heap.stats();
    let batch_bytes = batch_len(size) * size;
    eprintln!(
        "[heap] {}/{name}/{size}: allocated {} objects, freed {}, spans in use {}, \
         committed {:.1} MiB (one batch: {:.1} MiB), swept {} spans, resident {:.1} MiB",
        mode.group(),
        st.allocated_objects_total,
        st.freed_objects_total,
        st.spans_in_use,
        st.committed_bytes as f64 / (1 << 20) as f64,
        batch_bytes as f64 / (1 << 20) as f64,
        st.spans_swept_total,
        resident_bytes().unwrap_or(0) as f64 / (1 << 20) as f64,
    );
    // Nothing is ever marked and every benchmark call ends with a sweep, so
    // nothing may be left; the heap may hold a batch plus slack for span tails
    // and the 1 MiB commit granule, never more.
    let ok_freed = st.allocated_objects_total == st.freed_objects_total && st.spans_in_use == 0;
    let ok_bounded = st.committed_bytes <= 2 * batch_bytes + (4 << 20);
    if !ok_freed || !ok_bounded {
        eprintln!(
            "[heap] CHECK FAILED for {}/{name}/{size}: everything freed: {ok_freed}, \
             committed bounded by 2 batches + 4 MiB: {ok_bounded}",
            mode.group()
        );
    }
}

fn group(c: &mut Criterion, mode: Mode) {
    let mut g = c.benchmark_group(mode.group());
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30);
    for size in SIZES {
        let mut t = Tricolor::new(size);
        bench_one(&mut g, mode, "tricolor", size, &mut t);
        check_tricolor(mode, "tricolor", size, &mut t);
        drop(t);

        if matches!(mode, Mode::Fast) && size <= MAX_SMALL_SIZE {
            let mut t = TricolorClass::new(size);
            bench_one(&mut g, mode, "tricolor_class", size, &mut t);
            check_tricolor(mode, "tricolor_class", size, &mut t.inner);
        }

        bench_one(
            &mut g,
            mode,
            "mimalloc",
            size,
            &mut Global::<_, false>::new(MiMalloc, size),
        );
        bench_one(
            &mut g,
            mode,
            "mimalloc_zeroed",
            size,
            &mut Global::<_, true>::new(MiMalloc, size),
        );
        bench_one(
            &mut g,
            mode,
            "system",
            size,
            &mut Global::<_, false>::new(System, size),
        );
        if matches!(mode, Mode::Fast) {
            bench_one(
                &mut g,
                mode,
                "system_zeroed",
                size,
                &mut Global::<_, true>::new(System, size),
            );
            bench_one(&mut g, mode, "zero_only", size, &mut ZeroOnly::new(size));
        }
    }
    g.finish();
}

// ---- the summary ------------------------------------------------------------

/// Median time per iteration, in ns, from criterion's `estimates.json` for
/// one benchmark, if it was written by this process.
fn median_ns(group: &str, subject: &str, size: usize, since: SystemTime) -> Option<f64> {
    tricolor_benches::median_ns(&format!("{group}/{subject}/{size}"), since)
}

fn print_summary(group: &'static str, subjects: &[&'static str], since: SystemTime) {
    let ran = RAN.lock().unwrap().clone();
    let found = ran
        .iter()
        .any(|&(g, s, size)| g == group && median_ns(g, s, size, since).is_some());
    if !found {
        return; // e.g. `--test` or `--profile-time`: no estimates are saved
    }
    println!();
    println!("{group}: median ns per object (criterion estimates of this run)");
    let mut header = format!("{:>8}", "size");
    for s in subjects {
        header += &format!(" {s:>16}");
    }
    let ratios: &[(&str, &str)] = &[
        ("tricolor", "mimalloc"),
        ("tricolor", "mimalloc_zeroed"),
        ("tricolor_class", "mimalloc"),
    ];
    let ratios: Vec<_> = ratios
        .iter()
        .filter(|(num, _)| subjects.contains(num))
        .collect();
    for (num, den) in &ratios {
        header += &format!(" {:>32}", format!("{num}/{den}"));
    }
    println!("{header}");
    for size in SIZES {
        let get = |s: &'static str| {
            ran.contains(&(group, s, size))
                .then(|| median_ns(group, s, size, since))
                .flatten()
        };
        let mut line = format!("{size:>8}");
        for &s in subjects {
            line += &match get(s) {
                Some(ns) => format!(" {ns:>16.2}"),
                None => format!(" {:>16}", "-"),
            };
        }
        for (num, den) in &ratios {
            line += &match (get(num), get(den)) {
                (Some(n), Some(d)) => format!(" {:>32.2}", n / d),
                _ => format!(" {:>32}", "-"),
            };
        }
        println!("{line}");
    }
}

// ---- the paired check ------------------------------------------------------

/// One subject of the paired check: runs one batch, returns the timed part.
type Batch = Box<dyn FnMut(&mut [*mut u8]) -> Duration>;

fn batch_runner<S: Subject + 'static>(mode: Mode, mut s: S) -> Batch {
    Box::new(move |objs: &mut [*mut u8]| {
        let n = objs.len() as u64;
        match mode {
            Mode::Fast => run_fast(&mut s, objs, n),
            Mode::Churn => run_churn(&mut s, objs, n),
        }
    })
}

/// Criterion measures one subject after another, so a change in the machine's
/// state between two benchmarks (another process on the sibling core, a
/// frequency change) moves one subject's figure and not the other's. This
/// check interleaves them instead: round after round, one batch of each
/// subject, in rotating order, for `per_size` of wall time per size; it
/// reports the median batch time per object of each subject and the median
/// (and quartiles) of the per-round ratios, which disturbances that last
/// longer than a round cannot bias.
fn paired(mode: Mode, per_size: Duration) {
    let names: &[&str] = match mode {
        Mode::Fast => &["tricolor", "tricolor_class", "mimalloc", "mimalloc_zeroed"],
        Mode::Churn => &["tricolor", "mimalloc", "mimalloc_zeroed"],
    };
    println!();
    println!(
        "{} paired check: median ns per object over interleaved rounds \
         ({} ms of wall time per size), and per-round ratios: median [p25, p75]",
        mode.group(),
        per_size.as_millis()
    );
    let mut header = format!("{:>8} {:>7}", "size", "rounds");
    for n in names {
        header += &format!(" {n:>16}");
    }
    header += &format!(
        " {:>30} {:>30}",
        "tricolor/mimalloc", "tricolor/mimalloc_zeroed"
    );
    if mode == Mode::Fast {
        header += &format!(" {:>30}", "tricolor_class/mimalloc");
    }
    println!("{header}");
    for size in SIZES {
        let mut subjects: Vec<(&str, Batch)> = Vec::new();
        subjects.push(("tricolor", batch_runner(mode, Tricolor::new(size))));
        if mode == Mode::Fast && size <= MAX_SMALL_SIZE {
            subjects.push((
                "tricolor_class",
                batch_runner(mode, TricolorClass::new(size)),
            ));
        }
        subjects.push((
            "mimalloc",
            batch_runner(mode, Global::<_, false>::new(MiMalloc, size)),
        ));
        subjects.push((
            "mimalloc_zeroed",
            batch_runner(mode, Global::<_, true>::new(MiMalloc, size)),
        ));
        let mut objs = vec![std::ptr::null_mut::<u8>(); batch_len(size)];
        // Warm-up: a few batches each, untimed.
        for _ in 0..3 {
            for (_, run) in subjects.iter_mut() {
                run(&mut objs);
            }
        }
        let per_round = interleaved_rounds(subjects.len(), per_size, 5, |i| {
            let t = (subjects[i].1)(&mut objs);
            t.as_nanos() as f64 / objs.len() as f64
        });
        let round = per_round[0].len();
        let column = |name: &str| subjects.iter().position(|(n, _)| *n == name);
        let median_of = |i: usize| quartiles(&per_round[i]).p50;
        let ratio = |num: &str, den: &str| match (column(num), column(den)) {
            (Some(a), Some(b)) => {
                let r: Vec<f64> = per_round[a]
                    .iter()
                    .zip(&per_round[b])
                    .map(|(x, y)| x / y)
                    .collect();
                let q = quartiles(&r);
                format!("{:.2} [{:.2}, {:.2}]", q.p50, q.p25, q.p75)
            }
            _ => "-".to_string(),
        };
        let mut line = format!("{size:>8} {round:>7}");
        for n in names {
            line += &match column(n) {
                Some(i) => format!(" {:>16.2}", median_of(i)),
                None => format!(" {:>16}", "-"),
            };
        }
        line += &format!(
            " {:>30} {:>30}",
            ratio("tricolor", "mimalloc"),
            ratio("tricolor", "mimalloc_zeroed")
        );
        if mode == Mode::Fast {
            line += &format!(" {:>30}", ratio("tricolor_class", "mimalloc"));
        }
        println!("{line}");
    }
}

fn main() {
    // The paired check runs after a plain `cargo bench` (no filter, no
    // `--test`, `--list` or `--profile-time`).
    let args = criterion_args(std::env::args_os().skip(1), &["paired-only"]);
    // `--paired-only`: the paired check alone, without the criterion groups
    // (a quick before/after comparison of two builds).
    if args.own.contains("paired-only") {
        paired(Mode::Fast, Duration::from_millis(1000));
        paired(Mode::Churn, Duration::from_millis(1000));
        return;
    }
    let since = run_started();
    let mut c = Criterion::default().configure_from_args();
    group(&mut c, Mode::Fast);
    group(&mut c, Mode::Churn);
    c.final_summary();

    print_summary(GROUP_FAST, &FAST_SUBJECTS, since);
    print_summary(GROUP_CHURN, &CHURN_SUBJECTS, since);
    if args.plain {
        paired(Mode::Fast, Duration::from_millis(1000));
        paired(Mode::Churn, Duration::from_millis(1000));
    }
    let mib = |b: Option<u64>| b.map_or(f64::NAN, |b| b as f64 / (1 << 20) as f64);
    eprintln!();
    eprintln!(
        "resident memory at exit: {:.1} MiB (peak {:.1} MiB)",
        mib(resident_bytes().map(|b| b as u64)),
        mib(procfs::peak_rss_bytes())
    );
}
