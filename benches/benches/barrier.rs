//! The cost of one pointer store: a plain atomic store against
//! [`Mutator::store`] with the write barrier off its path (no mark running)
//! and on it (a mark held open), and the barrier's own decision and buffer
//! (`tricolor_barriers::Barrier::on_store`) on its own.
//!
//! Every subject runs the same loop over the same shape of data: 1024 objects
//! of type `Node` (three payload words, the first two pointers; 32 bytes with
//! the header), allocated once, rooted on the mutator's shadow stack, and
//! kept in a fixed array. Pass `k` of the loop stores object `(i + k) % 1024`
//! into field 0 of object `i`, for every `i`, and `k` moves on by one each
//! pass (never 0), so every store writes a pointer other than the one it
//! overwrites. One criterion iteration is one store, so criterion's time per
//! iteration is the time per store (throughput: stores per second).
//!
//! Groups:
//!
//! * `store_plain` — no collector code: `release_store` is an
//!   `AtomicU64::store(Release)` into the same field word of the same heap
//!   objects; `load_release_store` adds the `Relaxed` load of the old value
//!   that `Mutator::store` does for the barrier.
//! * `store_not_marking` — `Mutator::store` on a heap of each barrier mode
//!   with no mark running: the production path of every store outside a
//!   mark. It is the same code for every mode. `hybrid_generational` is a
//!   generational heap whose objects a collection made old: each store
//!   also loads the stored-into object's header and tests its log bit (the
//!   first store into each object logs it, during criterion's warm-up);
//!   `hybrid_generational_header_free` the same with header-free nodes,
//!   whose log bits are in their spans (24-byte objects; the test goes
//!   through the mutator's span memo, and the 1024 objects fill three spans,
//!   so consecutive stores mostly hit it).
//! * `store_marking` — `Mutator::store` while a mark is held open: the heap
//!   has `manual_cycles` (no background markers), another thread has begun a
//!   cycle with `Heap::begin_cycle` while the mutator sat in native code, and
//!   the cycle does not go on until the measurements are over. Each store
//!   records into the mutator's barrier buffer, which shades its entries into
//!   the grey set whenever it fills (every 256 entries); that flush is part
//!   of the measured cost. Hybrid is measured twice: before the mutator's
//!   stack is scanned (two values recorded per store) and after (one).
//!   Before each of these benchmarks the bench checks, through the
//!   stepper's buffer flush, that a store records the number of values its
//!   mode says.
//! * `barrier_on_store` — `Barrier::on_store` with `marking` true and a sink
//!   that discards: the decision and the buffer alone, without the store, the
//!   phase load or the grey set. The old value passed is the address of the
//!   object stored into, the new one the object stored.
//!
//! After the run the binary prints a table of criterion's median ns per
//! store, with the fastest of criterion's samples beside it (on a loaded
//! machine other processes only ever add time, so the minimum moves less
//! than the median). Criterion measures one benchmark after another, and on
//! a small shared machine the state changes between them, so a plain run (no
//! filter) ends with a paired check as in the alloc bench: the plain stores
//! and the not-marking `Mutator::store` of two heaps interleaved batch by
//! batch, with the median of the per-round differences against
//! `release_store`.
//!
//! Figures of one or two ns per store depend on where the loop lands in the
//! binary, not only on what it executes. On Intel cores with the microcode
//! fix for the jump-conditional-code erratum (Skylake and its derivatives,
//! Cascade Lake Xeons among them), a loop whose branch crosses or ends on a
//! 32-byte boundary runs from the legacy decoders instead of the decoded
//! µop cache, which can add about a nanosecond per iteration to a loop this
//! short. Any edit here or in the collector can move a loop across such a
//! boundary. Building with
//! `RUSTFLAGS="-C llvm-args=-x86-branches-within-32B-boundaries"` pads
//! branches off those boundaries, and shows whether a difference comes from
//! the placement.
//!
//! Run: `cargo bench -p tricolor-benches --bench barrier`.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use tricolor::raw::{Config, CycleStats, Heap, Mutator, ObjRef, TypeDescriptor};
use tricolor_barriers::{Barrier, BarrierMode, Sink};
use tricolor_benches::{criterion_args, interleaved_rounds, run_started, saved_json};
use tricolor_testkit::stats::quartiles;

/// Objects in the array stored into (a power of two).
const N: usize = 1024;
const MASK: usize = N - 1;
/// The pointer field every store writes.
const FIELD: usize = 0;

type Objs = [ObjRef; N];

const GROUP_PLAIN: &str = "store_plain";
const GROUP_NOT_MARKING: &str = "store_not_marking";
const GROUP_MARKING: &str = "store_marking";
const GROUP_PURE: &str = "barrier_on_store";

/// Benchmarks that ran in this process (criterion skips filtered-out ones),
/// so the summary never reports estimates left over from an earlier run.
static RAN: Mutex<BTreeSet<(&'static str, &'static str)>> = Mutex::new(BTreeSet::new());

fn note_ran(group: &'static str, name: &'static str) {
    RAN.lock().unwrap().insert((group, name));
}

// ---- the heaps and the store loop ---------------------------------------------

/// A heap of one barrier mode, this thread's mutator, and the objects.
struct Fixture {
    // Field order: the mutator detaches before the heap handle goes.
    m: Mutator,
    heap: Heap,
    objs: Box<Objs>,
}

impl Fixture {
    fn new(mode: BarrierMode) -> Fixture {
        Fixture::with(mode, false, false)
    }

    /// A generational heap's fixture: after the objects are made, a (major)
    /// collection makes them old, so each store goes through the
    /// generational check of the stored-into object's header; the first
    /// store into each logs it (the warm-up takes that), later ones find
    /// it logged already.
    fn generational(mode: BarrierMode) -> Fixture {
        Fixture::with(mode, true, false)
    }

    /// [`generational`](Self::generational) with header-free nodes: the
    /// generational check reads the stored-into object's armed flag in its
    /// span, through the mutator's span memo.
    fn generational_header_free(mode: BarrierMode) -> Fixture {
        Fixture::with(mode, true, true)
    }

    fn with(mode: BarrierMode, generational: bool, header_free: bool) -> Fixture {
        let heap = Heap::new(Config {
            barrier: mode,
            // No cycle starts unless the bench begins one; no background
            // mark workers.
            manual_cycles: true,
            generational,
            ..Config::default()
        });
        let desc = TypeDescriptor::fixed("Node", 3, &[0, 1]);
        let node = heap
            .register_type(if header_free {
                desc.header_free()
            } else {
                desc
            })
            .expect("register Node");
        let mut m = heap.attach().expect("attach");
        let mut objs = Vec::with_capacity(N);
        for _ in 0..N {
            let o = m.alloc(node, 0);
            m.push_root(Some(o));
            objs.push(o);
        }
        // Every field starts non-null, so SATB records on the first pass too.
        for i in 0..N {
            // SAFETY: both objects are rooted on the shadow stack; field 0
            // is a pointer field of `Node`.
            unsafe { m.store(objs[i], FIELD, Some(objs[(i + 1) & MASK])) };
        }
        if generational {
            m.collect();
        }
        let objs: Box<Objs> = objs.into_boxed_slice().try_into().expect("N objects");
        Fixture { m, heap, objs }
    }
}

/// Runs `iters` stores in passes over `objs` (module docs), calling
/// `store(obj, value)` for each; returns the time they took. `pass` carries
/// the pass counter from one call to the next.
#[inline(always)]
fn run_stores(
    objs: &Objs,
    iters: u64,
    pass: &mut usize,
    mut store: impl FnMut(ObjRef, ObjRef),
) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(N as u64) as usize;
        let k = *pass % (N - 1) + 1;
        *pass += 1;
        for (i, &obj) in objs[..n].iter().enumerate() {
            store(obj, objs[(i + k) & MASK]);
        }
        left -= n as u64;
    }
    start.elapsed()
}

/// The field word `FIELD` of `obj`: the word after the header.
///
/// # Safety
/// `obj` must be a live object of a live heap with more than `FIELD`
/// payload words, and stay so while the reference is used.
#[inline(always)]
unsafe fn field_word<'a>(obj: ObjRef) -> &'a AtomicU64 {
    // SAFETY: an object is its header word followed by its payload words
    // (8-aligned, committed); the caller guarantees the word is inside.
    unsafe { &*(obj.addr() as *const AtomicU64).add(1 + FIELD) }
}

/// A plain release store of `value` into the field of `obj`.
#[inline(always)]
fn plain_store(obj: ObjRef, value: ObjRef) {
    // SAFETY: `obj` is one of a fixture's rooted `Node`s (three payload
    // words), and the fixture outlives every loop that calls this.
    let w = unsafe { field_word(obj) };
    w.store(value.addr() as u64, Ordering::Release);
}

/// The same store preceded by a relaxed load of the old value, as
/// `Mutator::store` does; the old value is kept alive by `black_box`.
#[inline(always)]
fn plain_load_store(obj: ObjRef, value: ObjRef) {
    // SAFETY: as in `plain_store`.
    let w = unsafe { field_word(obj) };
    let old = w.load(Ordering::Relaxed);
    w.store(value.addr() as u64, Ordering::Release);
    black_box(old);
}

/// `Mutator::store` of `value` into the field of `obj`.
#[inline(always)]
fn mutator_store(m: &mut Mutator, obj: ObjRef, value: ObjRef) {
    // SAFETY: `obj` and `value` are rooted `Node`s of `m`'s heap (the
    // fixture's shadow stack); field 0 is a pointer field.
    unsafe { m.store(obj, FIELD, Some(value)) };
}

/// A sink that discards what it is given.
struct Discard;

impl Sink for Discard {
    #[inline]
    fn shade(&mut self, batch: &[usize]) {
        black_box(batch);
    }
}

// ---- a mark held open -------------------------------------------------------

enum Step {
    ScanStacks,
    Flush,
    Finish,
}

/// A cycle begun by another thread and held in its mark phase until
/// [`finish`](Self::finish). Every step that needs the collector to act for
/// the mutator is taken with the mutator in native state.
struct OpenMark {
    to: mpsc::Sender<Step>,
    from: mpsc::Receiver<usize>,
    thread: JoinHandle<CycleStats>,
}

impl OpenMark {
    fn begin(f: &mut Fixture) -> OpenMark {
        let (to, steps) = mpsc::channel();
        let (reply, from) = mpsc::channel();
        let heap = f.heap.clone();
        f.m.enter_native();
        let thread = std::thread::spawn(move || {
            let mut cycle = heap.begin_cycle();
            reply.send(0).unwrap();
            while let Ok(step) = steps.recv() {
                match step {
                    Step::ScanStacks => {
                        cycle.scan_stacks();
                        reply.send(0).unwrap();
                    }
                    Step::Flush => reply.send(cycle.flush_buffers()).unwrap(),
                    Step::Finish => break,
                }
            }
            cycle.finish()
        });
        from.recv().expect("the cycle began");
        f.m.leave_native();
        OpenMark { to, from, thread }
    }

    /// Runs `step` on the cycle's thread; returns its answer.
    fn step(&self, f: &mut Fixture, step: Step) -> usize {
        f.m.enter_native();
        self.to.send(step).unwrap();
        let r = self.from.recv().expect("the cycle's thread answers");
        f.m.leave_native();
        r
    }

    fn finish(self, f: &mut Fixture) -> CycleStats {
        f.m.enter_native();
        self.to.send(Step::Finish).unwrap();
        let stats = self.thread.join().expect("the cycle finished");
        f.m.leave_native();
        stats
    }
}

/// Checks that the mark is open and a store records `per_store` values:
/// empties the buffer, stores three times, and counts what a flush finds.
fn check_records(f: &mut Fixture, mark: &OpenMark, per_store: usize, what: &str) {
    mark.step(f, Step::Flush);
    for i in 0..3 {
        mutator_store(&mut f.m, f.objs[i], f.objs[(i + 7) & MASK]);
    }
    let found = mark.step(f, Step::Flush);
    eprintln!("[check] {what}: 3 stores recorded {found} values (expected {per_store} per store)");
    assert_eq!(found, 3 * per_store, "{what}: records per store");
}

// ---- the benchmarks ---------------------------------------------------------

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
        .throughput(Throughput::Elements(1));
}

fn bench_mutator(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &'static str,
    name: &'static str,
    f: &mut Fixture,
) {
    let mut pass = 0;
    g.bench_function(name, |b| {
        note_ran(group, name);
        b.iter_custom(|iters| {
            let m = &mut f.m;
            run_stores(&f.objs, iters, &mut pass, |o, v| mutator_store(m, o, v))
        })
    });
}

fn name_of(mode: BarrierMode) -> &'static str {
    mode.as_str()
}

fn bench_plain(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP_PLAIN);
    configure(&mut g);
    let f = Fixture::new(BarrierMode::Hybrid);
    let mut pass = 0;
    g.bench_function("release_store", |b| {
        note_ran(GROUP_PLAIN, "release_store");
        b.iter_custom(|iters| run_stores(&f.objs, iters, &mut pass, plain_store))
    });
    g.bench_function("load_release_store", |b| {
        note_ran(GROUP_PLAIN, "load_release_store");
        b.iter_custom(|iters| run_stores(&f.objs, iters, &mut pass, plain_load_store))
    });
    g.finish();
}

fn bench_not_marking(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP_NOT_MARKING);
    configure(&mut g);
    for mode in BarrierMode::ALL {
        let mut f = Fixture::new(mode);
        bench_mutator(&mut g, GROUP_NOT_MARKING, name_of(mode), &mut f);
    }
    let mut f = Fixture::generational(BarrierMode::Hybrid);
    bench_mutator(&mut g, GROUP_NOT_MARKING, "hybrid_generational", &mut f);
    let mut f = Fixture::generational_header_free(BarrierMode::Hybrid);
    bench_mutator(
        &mut g,
        GROUP_NOT_MARKING,
        "hybrid_generational_header_free",
        &mut f,
    );
    g.finish();
}

fn bench_marking(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP_MARKING);
    configure(&mut g);
    for (mode, per_store) in [
        (BarrierMode::Satb, 1),
        (BarrierMode::IncrementalUpdate, 1),
        (BarrierMode::Hybrid, 2),
    ] {
        let mut f = Fixture::new(mode);
        let mark = OpenMark::begin(&mut f);
        let name = if mode == BarrierMode::Hybrid {
            "hybrid_unscanned"
        } else {
            name_of(mode)
        };
        check_records(&mut f, &mark, per_store, name);
        bench_mutator(&mut g, GROUP_MARKING, name, &mut f);
        if mode == BarrierMode::Hybrid {
            mark.step(&mut f, Step::ScanStacks);
            check_records(&mut f, &mark, 1, "hybrid_scanned");
            bench_mutator(&mut g, GROUP_MARKING, "hybrid_scanned", &mut f);
        }
        let stats = mark.finish(&mut f);
        eprintln!(
            "[cycle] {name}: the held mark ended with {} objects marked \
             (the {N} rooted nodes), {} flush rounds",
            stats.objects_marked, stats.flush_rounds
        );
        assert_eq!(stats.objects_marked, N as u64, "every rooted node marked");
    }
    g.finish();
}

fn bench_pure(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP_PURE);
    configure(&mut g);
    let f = Fixture::new(BarrierMode::Off);
    for (mode, scanned, name) in [
        (BarrierMode::Off, false, "off"),
        (BarrierMode::Satb, true, "satb"),
        (BarrierMode::IncrementalUpdate, false, "incremental"),
        (BarrierMode::Hybrid, false, "hybrid_unscanned"),
        (BarrierMode::Hybrid, true, "hybrid_scanned"),
    ] {
        let mut barrier = Barrier::new(mode);
        let mut pass = 0;
        g.bench_function(name, |b| {
            note_ran(GROUP_PURE, name);
            let marking = black_box(true);
            b.iter_custom(|iters| {
                run_stores(&f.objs, iters, &mut pass, |o, v| {
                    barrier.on_store(marking, o.addr(), v.addr(), scanned, &mut Discard)
                })
            })
        });
    }
    g.finish();
}

// ---- the summary ------------------------------------------------------------

/// Median time per iteration (per store), in ns, from criterion's
/// `estimates.json`, and the fastest sample's time per iteration from its
/// `sample.json`, if this process wrote them.
fn median_and_min_ns(group: &str, name: &str, since: SystemTime) -> Option<(f64, f64)> {
    let id = format!("{group}/{name}");
    let median = tricolor_benches::median_ns(&id, since)?;
    let samples = saved_json(&id, "sample.json", since)?;
    let (iters, times) = (samples["iters"].as_array()?, samples["times"].as_array()?);
    let min = iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .fold(f64::INFINITY, f64::min);
    Some((median, min))
}

fn print_summary(since: SystemTime) {
    let ran = RAN.lock().unwrap().clone();
    let rows: Vec<_> = ran
        .iter()
        .filter_map(|&(g, n)| median_and_min_ns(g, n, since).map(|(med, min)| (g, n, med, min)))
        .collect();
    if rows.is_empty() {
        return; // e.g. `--test` or `--profile-time`: no estimates are saved
    }
    let base = rows
        .iter()
        .find(|&&(g, n, _, _)| g == GROUP_PLAIN && n == "release_store")
        .map(|&(_, _, med, min)| (med, min));
    println!();
    println!("ns per store (criterion, this run): the median estimate and the fastest sample;");
    println!("the last two columns are differences from store_plain/release_store, derived");
    println!("from those figures");
    println!(
        "{:<18} {:<18} {:>8} {:>8} {:>12} {:>12}",
        "group", "subject", "median", "min", "median diff", "min diff"
    );
    for group in [GROUP_PLAIN, GROUP_NOT_MARKING, GROUP_MARKING, GROUP_PURE] {
        for &(g, n, med, min) in rows.iter().filter(|r| r.0 == group) {
            let (d_med, d_min) = match (base, g) {
                (_, GROUP_PURE) | (None, _) => ("-".to_string(), "-".to_string()),
                (Some((b_med, b_min)), _) => (
                    format!("{:+.2}", med - b_med),
                    format!("{:+.2}", min - b_min),
                ),
            };
            println!("{g:<18} {n:<18} {med:>8.2} {min:>8.2} {d_med:>12} {d_min:>12}");
        }
    }
}

// ---- the paired check ------------------------------------------------------

/// The median and quartiles of `v`: (p50, p25, p75).
fn median_and_quartiles(v: &[f64]) -> (f64, f64, f64) {
    let q = quartiles(v);
    (q.p50, q.p25, q.p75)
}

/// One subject of the paired check: runs a batch of stores, returns its time.
type Batch<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Interleaves the plain stores and the not-marking `Mutator::store` of an
/// `Off` and a `Hybrid` heap: round after round, one batch of each, in
/// rotating order, for `wall` of wall time. Reports each subject's median ns
/// per store, and the median and quartiles of the per-round differences and
/// ratios against `release_store`, which disturbances that last longer than
/// a round cannot bias.
fn paired(wall: Duration) {
    const BATCH: u64 = 16 * N as u64;
    let mut hybrid = Fixture::new(BarrierMode::Hybrid);
    let mut off = Fixture::new(BarrierMode::Off);
    let mut gen = Fixture::generational(BarrierMode::Hybrid);
    let mut subjects: Vec<(&str, Batch<'_>)> = Vec::new();
    {
        let objs = &*hybrid.objs;
        let mut pass = 0;
        subjects.push((
            "release_store",
            Box::new(move |n| run_stores(objs, n, &mut pass, plain_store)),
        ));
        let mut pass = 0;
        subjects.push((
            "load_release_store",
            Box::new(move |n| run_stores(objs, n, &mut pass, plain_load_store)),
        ));
        let m = &mut hybrid.m;
        let mut pass = 0;
        subjects.push((
            "store_hybrid",
            Box::new(move |n| run_stores(objs, n, &mut pass, |o, v| mutator_store(m, o, v))),
        ));
    }
    {
        let objs = &*off.objs;
        let m = &mut off.m;
        let mut pass = 0;
        subjects.push((
            "store_off",
            Box::new(move |n| run_stores(objs, n, &mut pass, |o, v| mutator_store(m, o, v))),
        ));
    }
    {
        let objs = &*gen.objs;
        let m = &mut gen.m;
        let mut pass = 0;
        subjects.push((
            "store_generational",
            Box::new(move |n| run_stores(objs, n, &mut pass, |o, v| mutator_store(m, o, v))),
        ));
    }
    // Warm-up, untimed.
    for _ in 0..20 {
        for (_, run) in subjects.iter_mut() {
            run(BATCH);
        }
    }
    let per_round = interleaved_rounds(subjects.len(), wall, 5, |i| {
        let t = (subjects[i].1)(BATCH);
        t.as_nanos() as f64 / BATCH as f64
    });
    let round = per_round[0].len();
    println!();
    println!(
        "paired check: {round} interleaved rounds of {BATCH} stores per subject \
         ({} ms of wall time); per-round figures: median [p25, p75]",
        wall.as_millis()
    );
    println!(
        "{:<20} {:>10} {:>26} {:>26}",
        "subject", "ns/store", "- release_store (ns)", "/ release_store"
    );
    for (i, (name, _)) in subjects.iter().enumerate() {
        let (med, _, _) = median_and_quartiles(&per_round[i]);
        let diffs: Vec<f64> = per_round[i]
            .iter()
            .zip(&per_round[0])
            .map(|(x, y)| x - y)
            .collect();
        let ratios: Vec<f64> = per_round[i]
            .iter()
            .zip(&per_round[0])
            .map(|(x, y)| x / y)
            .collect();
        let (d, d25, d75) = median_and_quartiles(&diffs);
        let (r, r25, r75) = median_and_quartiles(&ratios);
        println!(
            "{name:<20} {med:>10.3} {:>26} {:>26}",
            format!("{d:+.3} [{d25:+.3}, {d75:+.3}]"),
            format!("{r:.2} [{r25:.2}, {r75:.2}]")
        );
    }
    drop(subjects);
    let target = 1.0;
    for (name, i) in [
        ("store_off", 3),
        ("store_hybrid", 2),
        ("store_generational", 4),
    ] {
        let diffs: Vec<f64> = per_round[i]
            .iter()
            .zip(&per_round[0])
            .map(|(x, y)| x - y)
            .collect();
        let (d, _, _) = median_and_quartiles(&diffs);
        println!(
            "{name}: {d:+.3} ns per store over a plain release store: {} (target: at most {target} ns)",
            if d <= target { "within" } else { "OVER" }
        );
    }
}

fn main() {
    // The paired check runs after a plain `cargo bench` (no filter, no
    // `--test`, `--list` or `--profile-time`).
    let plain_run = criterion_args(std::env::args_os().skip(1), &[]).plain;
    let since = run_started();
    let mut c = Criterion::default().configure_from_args();
    bench_plain(&mut c);
    bench_not_marking(&mut c);
    bench_marking(&mut c);
    bench_pure(&mut c);
    c.final_summary();

    print_summary(since);
    if plain_run {
        paired(Duration::from_millis(3000));
    }
}
