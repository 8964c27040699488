//! Full-collection pause against live-heap size, and mark throughput against
//! the number of mark workers.
//!
//! The live heap is binary trees of 48-byte nodes (two pointers, two data
//! words), the shape of a typical interpreter's object graph: pointer-rich,
//! small objects, poor locality after churn. For each configuration the heap
//! is built, churned once (a quarter of the trees replaced, so the graph is
//! not laid out in allocation order), then collected several times by
//! `Heap::collect`; the figures are the median and max over those cycles.
//!
//! ```text
//! cargo bench -p tricolor-benches --bench gc_pause -- [--max-mib 1024] [--cycles 5]
//!     [--sizes 64,128,256,512,1024] [--workers 1,2,4] [--throughput-mib 256]
//!     [--strings] [--cycle-events]
//! ```
//!
//! `--strings` builds a heap of pointer-free objects instead: 24-byte byte
//! arrays (32-byte slots) hanging off tables of 1024 slots, each table's
//! strings taken from all over the heap (the table and slot of each string
//! are drawn at random), so the marker meets them in no address order.
//! `--cycle-events` installs a cycle-event callback that counts the events
//! (`Heap::on_cycle_event`), to compare with the same run without one.
//!
//! `--sizes` picks the rows of the first table (an empty list skips it),
//! `--workers` the rows of the second, and `--throughput-mib` its live heap.
//! Other arguments (a filter meant for the criterion benches) are ignored.
//! The `TRICOLOR_*` variables apply (`Config::from_env`), except that each
//! run sets its mark workers and turns GOGC off: `TRICOLOR_BARRIER=off`
//! makes the mark stop the world, `TRICOLOR_PER_TYPE_STATS=1` adds the
//! per-type counts to every mark.
//!
//! Prints markdown tables (the format of docs/PERFORMANCE.md).

use std::time::{Duration, Instant};

use tricolor::raw::{Config, CycleStats, Heap, Mutator, ObjRef, TypeDescriptor, TypeId};
use tricolor_testkit::{args, median, Rng};

const NODE_BYTES: usize = 48;
const DEPTH: u32 = 10;

#[derive(Copy, Clone)]
struct Types {
    node: TypeId,
    table: TypeId,
}

fn build(m: &mut Mutator, t: Types, depth: u32) -> ObjRef {
    m.frame(|m| {
        let node = m.alloc(t.node, 0);
        let slot = m.push_root(Some(node));
        if depth > 1 {
            let l = build(m, t, depth - 1);
            // SAFETY: the node is rooted in `slot`; `l` is fresh.
            unsafe { m.store(m.root(slot).unwrap(), 0, Some(l)) };
            let r = build(m, t, depth - 1);
            // SAFETY: as above.
            unsafe { m.store(m.root(slot).unwrap(), 1, Some(r)) };
        }
        m.root(slot).unwrap()
    })
}

/// Builds the `--strings` heap: about `live_mib` MiB of 24-byte byte arrays
/// under tables of 1024 slots, each string stored at a random table and
/// slot (a later string may replace an earlier one). Returns the top-level
/// table, rooted in the mutator's shadow stack.
fn build_strings(m: &mut Mutator, t: Types, live_mib: usize) {
    const TABLE: usize = 1024;
    let string = m
        .heap()
        .register_type(TypeDescriptor::bytes("String"))
        .unwrap();
    let tables = ((live_mib << 20) / 32 / TABLE).max(1);
    let top = m.alloc(t.table, tables);
    let slot = m.push_root(Some(top));
    for i in 0..tables {
        let table = m.alloc(t.table, TABLE);
        // SAFETY: the top table is rooted; `table` is fresh.
        unsafe { m.store(m.root(slot).unwrap(), i, Some(table)) };
    }
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    for _ in 0..tables * TABLE {
        let s = m.alloc(string, 24);
        let (i, j) = (rng.below(tables), rng.below(TABLE));
        // SAFETY: the top table is rooted, so are its tables; `s` is fresh.
        unsafe {
            let table = m.load(m.root(slot).unwrap(), i).unwrap();
            m.store(table, j, Some(s));
        }
    }
}

struct Run {
    live_mib: usize,
    workers: usize,
    cycles: Vec<CycleStats>,
    build: Duration,
    /// Events the `--cycle-events` callback counted.
    events: u64,
}

fn run(live_mib: usize, workers: usize, cycles: usize, o: &Shape) -> Run {
    let heap = Heap::new(Config {
        mark_workers: workers,
        // The benchmark decides when to collect.
        pacer: tricolor::raw::PacerConfig {
            gogc: None,
            ..Default::default()
        },
        ..Config::from_env().unwrap_or_else(|e| panic!("{e}"))
    });
    let events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if o.cycle_events {
        let e = events.clone();
        heap.on_cycle_event(move |_| {
            e.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
    let t = Types {
        node: heap
            .register_type(TypeDescriptor::fixed("Node", 4, &[0, 1]))
            .unwrap(),
        table: heap
            .register_type(TypeDescriptor::array("Table", 1, &[0]))
            .unwrap(),
    };
    let tree_bytes = ((1usize << DEPTH) - 1) * NODE_BYTES;
    let trees = (live_mib << 20) / tree_bytes;
    let t0 = Instant::now();
    let mut m = heap.attach().unwrap();
    if o.strings {
        build_strings(&mut m, t, live_mib);
        let build_time = t0.elapsed();
        return collect_and_measure(&heap, m, live_mib, workers, cycles, build_time, events);
    }
    let table = m.alloc(t.table, trees);
    let slot = m.push_root(Some(table));
    for i in 0..trees {
        let tree = build(&mut m, t, DEPTH);
        // SAFETY: the table is rooted; the tree is fresh.
        unsafe { m.store(m.root(slot).unwrap(), i, Some(tree)) };
    }
    // Churn a quarter of the trees so the graph is not in allocation order.
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..trees / 4 {
        let i = rng.below(trees);
        let tree = build(&mut m, t, DEPTH);
        // SAFETY: as above.
        unsafe { m.store(m.root(slot).unwrap(), i, Some(tree)) };
    }
    let build_time = t0.elapsed();
    collect_and_measure(&heap, m, live_mib, workers, cycles, build_time, events)
}

/// One collection to settle (it sweeps the build's garbage away
/// afterwards), then `cycles` measured ones.
fn collect_and_measure(
    heap: &Heap,
    mut m: Mutator,
    live_mib: usize,
    workers: usize,
    cycles: usize,
    build: Duration,
    events: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Run {
    m.collect();
    let mut stats = Vec::new();
    for _ in 0..cycles {
        m.collect();
        stats.push(heap.stats().last_cycle.unwrap());
    }
    Run {
        live_mib,
        workers,
        cycles: stats,
        build,
        events: events.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// What heap to build, and whether to count cycle events.
struct Shape {
    strings: bool,
    cycle_events: bool,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// The command line.
struct Options {
    max_mib: usize,
    cycles: usize,
    sizes: Vec<usize>,
    workers: Vec<usize>,
    throughput_mib: usize,
    shape: Shape,
}

const USAGE: &str = "gc_pause [--max-mib 1024] [--cycles 5] [--sizes 64,128,256,512,1024] \
                     [--workers 1,2,4] [--throughput-mib 256] [--strings] [--cycle-events]";

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        max_mib: 1024,
        cycles: 5,
        sizes: vec![64, 128, 256, 512, 1024],
        workers: vec![1, 2, 4],
        throughput_mib: 256,
        shape: Shape {
            strings: false,
            cycle_events: false,
        },
    };
    let mut p = lexopt::Parser::from_env();
    loop {
        match p.next() {
            Ok(None) => break,
            Ok(Some(Long("max-mib"))) => o.max_mib = p.value()?.parse()?,
            Ok(Some(Long("cycles"))) => o.cycles = p.value()?.parse()?,
            Ok(Some(Long("sizes"))) => o.sizes = args::list(&mut p)?,
            Ok(Some(Long("workers"))) => o.workers = args::list(&mut p)?,
            Ok(Some(Long("throughput-mib"))) => o.throughput_mib = p.value()?.parse()?,
            Ok(Some(Long("strings"))) => o.shape.strings = true,
            Ok(Some(Long("cycle-events"))) => o.shape.cycle_events = true,
            Ok(Some(Short('h') | Long("help"))) => args::help(USAGE),
            // `--bench` from `cargo bench`, and anything else, with the
            // `=value` of an unknown `--flag=value`.
            Ok(Some(_)) | Err(lexopt::Error::UnexpectedValue { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(o)
}

fn main() {
    let Options {
        max_mib,
        cycles,
        mut sizes,
        workers: worker_counts,
        throughput_mib,
        shape,
    } = args::or_exit(parse_options(), USAGE);
    let what = format!(
        "{}{}",
        if shape.strings {
            "pointer-free strings"
        } else {
            "binary trees"
        },
        if shape.cycle_events {
            ", cycle events counted"
        } else {
            ""
        }
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    sizes.retain(|&s| s <= max_mib);
    if !sizes.is_empty() {
        println!("## Full-collection pause against live heap ({cores} mark workers; {what})\n");
        println!("| live heap | objects marked | pause median (ms) | pause max (ms) | mark median (ms) | mark throughput (MiB/s) | sweep termination median (ms) |");
        println!("|---|---|---|---|---|---|---|");
    }
    for &mib in &sizes {
        let r = run(mib, cores, cycles, &shape);
        let pause = median(r.cycles.iter().map(|c| c.pause));
        let pmax = r.cycles.iter().map(|c| c.pause).max().unwrap();
        let mark = median(r.cycles.iter().map(|c| c.mark));
        let st = median(r.cycles.iter().map(|c| c.sweep_termination));
        let marked = r.cycles[0].heap_marked;
        println!(
            "| {} MiB | {} | {} | {} | {} | {:.0} | {} |",
            r.live_mib,
            r.cycles[0].objects_marked,
            ms(pause),
            ms(pmax),
            ms(mark),
            marked as f64 / 1048576.0 / mark.as_secs_f64(),
            ms(st),
        );
        eprintln!(
            "(built {} MiB in {:.1} s; {} cycle events counted)",
            mib,
            r.build.as_secs_f64(),
            r.events
        );
    }

    if worker_counts.is_empty() {
        return;
    }
    let mib = throughput_mib.min(max_mib);
    println!("\n## Mark throughput against mark workers ({mib} MiB live, {cores} cores; {what})\n");
    println!("| workers | mark median (ms) | mark throughput (MiB/s) | mark CPU median (ms) | ns per object | speed-up |");
    println!("|---|---|---|---|---|---|");
    let mut base = None;
    for workers in worker_counts {
        let r = run(mib, workers, cycles, &shape);
        let mark = median(r.cycles.iter().map(|c| c.mark));
        let cpu = median(r.cycles.iter().map(|c| c.mark_cpu));
        let marked = r.cycles[0].heap_marked;
        let b = *base.get_or_insert(mark);
        println!(
            "| {} | {} | {:.0} | {} | {:.1} | {:.2}x |",
            r.workers,
            ms(mark),
            marked as f64 / 1048576.0 / mark.as_secs_f64(),
            ms(cpu),
            cpu.as_nanos() as f64 / r.cycles[0].objects_marked.max(1) as f64,
            b.as_secs_f64() / mark.as_secs_f64(),
        );
    }
}
