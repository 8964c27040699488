//! What finalizers, cleanups, weak references and ephemeron tables cost.
//!
//! Three measurements, each printed as a markdown table (the format of
//! docs/PERFORMANCE.md):
//!
//! 1. **Per object, end to end.** One mutator allocates `--objects` small
//!    objects (32 bytes, two pointer fields), registers one special on each
//!    (a finalizer, a cleanup, a weak reference, or nothing), drops them all
//!    and collects until they are gone: registering, the collection that
//!    finds them dead, the sweep that acts on their specials and the
//!    finalizer thread running every finalizer or cleanup, and (finalizers
//!    only) the second collection that frees the objects. The baseline is
//!    the same number of `Box`es with a `Drop` impl on mimalloc: the cost of
//!    a destructor with no collector at all.
//! 2. **Sweep with specials.** A heap of `--objects` objects, a fraction of
//!    which carry a weak reference, either all live (rooted: the sweep walks
//!    their records and keeps them) or all dead (the sweep clears the cells);
//!    the figure is the time to sweep every span after one collection, with
//!    the background sweeper off so the sweep is measured alone.
//! 3. **Ephemerons at mark termination.** A table of N entries whose keys
//!    are rooted; the ephemeron fixpoint runs once concurrently and once in
//!    the mark-termination pause. The figure is that pause, per barrier mode.
//!
//! ```text
//! cargo bench -p tricolor-benches --bench specials -- [--objects 200000] [--reps 3]
//! ```
//!
//! Other arguments (a filter meant for the criterion benches) are ignored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tricolor::raw::{
    BarrierMode, Config, EphemeronTable, Heap, Mutator, ObjRef, PacerConfig, TypeDescriptor, TypeId,
};
use tricolor_testkit::{args, median, median_by_key};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Copy, Clone)]
struct Types {
    node: TypeId,
    table: TypeId,
}

/// A heap whose collections happen only when the benchmark asks, swept only
/// by the benchmark (no background sweeper).
fn heap(mode: BarrierMode) -> (Heap, Types) {
    let heap = Heap::new(Config {
        barrier: mode,
        background_sweeper: false,
        pacer: PacerConfig {
            gogc: None,
            ..Default::default()
        },
        ..Config::default()
    });
    let t = Types {
        node: heap
            .register_type(TypeDescriptor::fixed("Node", 4, &[0, 1]))
            .unwrap(),
        table: heap
            .register_type(TypeDescriptor::array("Table", 1, &[0]))
            .unwrap(),
    };
    (heap, t)
}

/// A rooted array of `n` fresh nodes; returns the root slot.
fn rooted_nodes(m: &mut Mutator, t: Types, n: usize) -> usize {
    let table = m.alloc(t.table, n);
    let slot = m.push_root(Some(table));
    for i in 0..n {
        let node = m.alloc(t.node, 0);
        // SAFETY: the table is rooted in `slot` and has `n` pointer slots;
        // `node` is fresh.
        unsafe { m.store(m.root(slot).unwrap(), i, Some(node)) };
    }
    slot
}

/// Element `i` of the rooted array in `slot`.
fn element(m: &Mutator, slot: usize, i: usize) -> ObjRef {
    // SAFETY: the array is rooted in `slot` and was filled with nodes.
    unsafe { m.load(m.root(slot).unwrap(), i) }.unwrap()
}

// ---- 1: per object, end to end ----------------------------------------------------

#[derive(Copy, Clone, PartialEq)]
enum Kind {
    Nothing,
    Finalizer,
    Cleanup,
    Weak,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Nothing => "no special",
            Kind::Finalizer => "finalizer",
            Kind::Cleanup => "cleanup",
            Kind::Weak => "weak reference",
        }
    }
}

#[derive(Default, Clone, Copy)]
struct EndToEnd {
    register: Duration,
    collect: Duration,
    sweep_and_run: Duration,
    free: Duration,
}

impl EndToEnd {
    fn total(&self) -> Duration {
        self.register + self.collect + self.sweep_and_run + self.free
    }
}

fn end_to_end(kind: Kind, n: usize) -> EndToEnd {
    let (heap, t) = heap(BarrierMode::Hybrid);
    let mut m = heap.attach().unwrap();
    let ran = Arc::new(AtomicU64::new(0));
    // Warm the heap: the spans exist and the finalizer thread is running,
    // as in a VM that has been up for a while.
    for _ in 0..2 {
        let o = m.alloc(t.node, 0);
        let r = ran.clone();
        m.add_cleanup(o, None, move |_, _| {
            r.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        for _ in 0..n {
            m.alloc(t.node, 0);
        }
        m.collect();
        m.wait_for_finalizers();
    }
    ran.store(0, Ordering::Relaxed);
    let mut weak = Vec::with_capacity(if kind == Kind::Weak { n } else { 0 });

    let t0 = Instant::now();
    for _ in 0..n {
        let o = m.alloc(t.node, 0);
        match kind {
            Kind::Nothing => {}
            Kind::Finalizer => {
                let r = ran.clone();
                m.set_finalizer(o, move |_, _| {
                    r.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            }
            Kind::Cleanup => {
                let r = ran.clone();
                m.add_cleanup(o, None, move |_, _| {
                    r.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            }
            Kind::Weak => weak.push(m.weak_ref(o).unwrap()),
        }
    }
    let register = t0.elapsed();
    let t1 = Instant::now();
    m.collect();
    let collect = t1.elapsed();
    let t2 = Instant::now();
    m.wait_for_finalizers();
    let sweep_and_run = t2.elapsed();
    let t3 = Instant::now();
    if kind == Kind::Finalizer {
        // The objects were kept for their finalizers; this cycle frees them.
        m.collect();
        m.wait_for_finalizers();
    }
    let free = t3.elapsed();

    match kind {
        Kind::Finalizer | Kind::Cleanup => assert_eq!(ran.load(Ordering::Relaxed), n as u64),
        Kind::Weak => assert!(weak.iter().all(|w| w.is_cleared())),
        Kind::Nothing => {}
    }
    EndToEnd {
        register,
        collect,
        sweep_and_run,
        free,
    }
}

struct Counted(#[allow(dead_code)] [u64; 4], Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

/// `n` boxed 32-byte values with a counting destructor, made then dropped.
fn boxes(n: usize) -> (Duration, Duration) {
    let dropped = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let v: Vec<Box<Counted>> = (0..n)
        .map(|i| Box::new(Counted([i as u64; 4], dropped.clone())))
        .collect();
    let make = t0.elapsed();
    let t1 = Instant::now();
    drop(v);
    let drop_time = t1.elapsed();
    assert_eq!(dropped.load(Ordering::Relaxed), n as u64);
    (make, drop_time)
}

fn ns_per(d: Duration, n: usize) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e9 / n as f64)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

// ---- 2: sweep with specials ---------------------------------------------------------

/// Sweep time after a collection of `n` live (rooted) objects,
/// `per_mille`/1000 of which have a weak reference.
fn sweep_live_with_weak(n: usize, per_mille: usize) -> Duration {
    let (heap, t) = heap(BarrierMode::Hybrid);
    let mut m = heap.attach().unwrap();
    let slot = rooted_nodes(&mut m, t, n);
    let mut weak = Vec::new();
    if let Some(step) = 1000usize.checked_div(per_mille) {
        for i in (0..n).step_by(step) {
            let o = element(&m, slot, i);
            weak.push(m.weak_ref(o).unwrap());
        }
    }
    // The first sweep after building settles the spans; measure the next.
    m.collect();
    m.wait_for_finalizers();
    m.collect();
    let t0 = Instant::now();
    m.wait_for_finalizers(); // finishes the sweep; no finalizers queued
    let d = t0.elapsed();
    assert!(weak.iter().all(|w| !w.is_cleared()));
    d
}

/// As [`sweep_live_with_weak`] for objects that die: the sweep of the cycle
/// that finds them dead clears the cells.
fn sweep_dead_with_weak(n: usize, per_mille: usize) -> Duration {
    let (heap, t) = heap(BarrierMode::Hybrid);
    let mut m = heap.attach().unwrap();
    let slot = rooted_nodes(&mut m, t, n);
    m.collect();
    m.wait_for_finalizers();
    let mut weak = Vec::new();
    if let Some(step) = 1000usize.checked_div(per_mille) {
        for i in (0..n).step_by(step) {
            let o = element(&m, slot, i);
            weak.push(m.weak_ref(o).unwrap());
        }
    }
    m.set_root(slot, None);
    m.collect();
    let t0 = Instant::now();
    m.wait_for_finalizers();
    let d = t0.elapsed();
    assert!(weak.iter().all(|w| w.is_cleared()));
    d
}

// ---- 3: ephemerons at mark termination -------------------------------------------

/// Mark-termination pause (median of `reps` cycles) with a table of
/// `entries` entries whose keys are rooted and values fresh.
fn ephemeron_pause(
    mode: BarrierMode,
    entries: usize,
    reps: usize,
) -> (Duration, Duration, Duration) {
    let (heap, t) = heap(mode);
    let table: EphemeronTable = heap.ephemeron_table();
    let mut m = heap.attach().unwrap();
    let keys = rooted_nodes(&mut m, t, entries.max(1));
    for i in 0..entries {
        let k = element(&m, keys, i);
        let v = m.alloc(t.node, 0);
        table.insert(&mut m, k, v).unwrap();
    }
    m.collect();
    m.wait_for_finalizers();
    let mut pauses = Vec::new();
    let mut marks = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..reps {
        m.collect();
        let c = heap.stats().last_cycle.unwrap();
        pauses.push(c.mark_termination);
        marks.push(c.mark);
        totals.push(c.pause);
        m.wait_for_finalizers();
    }
    assert_eq!(table.len(), entries);
    (median(pauses), median(marks), median(totals))
}

const USAGE: &str = "specials [--objects 200000] [--reps 3]";

/// `--objects` and `--reps`.
fn parse_options() -> Result<(usize, usize), lexopt::Error> {
    use lexopt::prelude::*;
    let (mut n, mut reps) = (200_000, 3);
    let mut p = lexopt::Parser::from_env();
    loop {
        match p.next() {
            Ok(None) => break,
            Ok(Some(Long("objects"))) => n = p.value()?.parse()?,
            Ok(Some(Long("reps"))) => reps = p.value()?.parse()?,
            Ok(Some(Short('h') | Long("help"))) => args::help(USAGE),
            // `--bench` from `cargo bench`, and anything else, with the
            // `=value` of an unknown `--flag=value`.
            Ok(Some(_)) | Err(lexopt::Error::UnexpectedValue { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((n, reps))
}

fn main() {
    let (n, reps) = args::or_exit(parse_options(), USAGE);

    println!("## Finalizers, cleanups and weak references: per object, end to end ({n} objects, hybrid, medians of {reps})\n");
    println!("| special | register (ns/obj) | collect (ms) | sweep + run (ms) | second cycle (ms) | total (ns/obj) | vs no special | vs Box+Drop |");
    println!("|---|---|---|---|---|---|---|---|");
    let (bm, bd) = median_by_key((0..reps).map(|_| boxes(n)), |(a, b)| *a + *b);
    let box_total = bm + bd;
    println!(
        "| `Box` + `Drop` (mimalloc) | {} | — | {} (drop) | — | {} | — | 1.00x |",
        ns_per(bm, n),
        ms(bd),
        ns_per(box_total, n)
    );
    let mut base = None;
    for kind in [Kind::Nothing, Kind::Finalizer, Kind::Cleanup, Kind::Weak] {
        let r = median_by_key((0..reps).map(|_| end_to_end(kind, n)), |r| r.total());
        let b = *base.get_or_insert(r.total());
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2}x | {:.1}x |",
            kind.name(),
            ns_per(r.register, n),
            ms(r.collect),
            ms(r.sweep_and_run),
            ms(r.free),
            ns_per(r.total(), n),
            r.total().as_secs_f64() / b.as_secs_f64(),
            r.total().as_secs_f64() / box_total.as_secs_f64(),
        );
    }

    let sweep_n = n * 5;
    println!(
        "\n## Sweep with weak references ({sweep_n} objects of 32 bytes, medians of {reps})\n"
    );
    println!("| objects with a weak reference | sweep, all live (ms) | vs none | sweep, all dead (ms) | vs none |");
    println!("|---|---|---|---|---|");
    let mut base_live = None;
    let mut base_dead = None;
    for per_mille in [0, 10, 100, 1000] {
        let live = median((0..reps).map(|_| sweep_live_with_weak(sweep_n, per_mille)));
        let dead = median((0..reps).map(|_| sweep_dead_with_weak(sweep_n, per_mille)));
        let bl = *base_live.get_or_insert(live);
        let bd = *base_dead.get_or_insert(dead);
        println!(
            "| {}% | {} | {:.2}x | {} | {:.2}x |",
            per_mille as f64 / 10.0,
            ms(live),
            live.as_secs_f64() / bl.as_secs_f64(),
            ms(dead),
            dead.as_secs_f64() / bd.as_secs_f64(),
        );
    }

    println!("\n## Ephemeron entries in the mark-termination pause (keys rooted, medians of {reps} cycles)\n");
    println!("| entries | hybrid: mark termination (ms) | hybrid: concurrent mark (ms) | off: whole stop-the-world mark (ms) |");
    println!("|---|---|---|---|");
    for entries in [0, 10_000, 100_000, 1_000_000] {
        let (hp, hm, _) = ephemeron_pause(BarrierMode::Hybrid, entries, reps);
        // With the barrier off the whole mark is inside the one pause.
        let (_, _, off) = ephemeron_pause(BarrierMode::Off, entries, reps);
        println!("| {entries} | {} | {} | {} |", ms(hp), ms(hm), ms(off));
    }
}
