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
//! ```
//!
//! `--sizes` picks the rows of the first table (an empty list skips it),
//! `--workers` the rows of the second, and `--throughput-mib` its live heap.
//! Other arguments (a filter meant for the criterion benches) are ignored.
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

struct Run {
    live_mib: usize,
    workers: usize,
    cycles: Vec<CycleStats>,
    build: Duration,
}

fn run(live_mib: usize, workers: usize, cycles: usize) -> Run {
    let heap = Heap::new(Config {
        mark_workers: workers,
        // The benchmark decides when to collect.
        pacer: tricolor::raw::PacerConfig {
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
    let tree_bytes = ((1usize << DEPTH) - 1) * NODE_BYTES;
    let trees = (live_mib << 20) / tree_bytes;
    let t0 = Instant::now();
    let mut m = heap.attach().unwrap();
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
    m.collect(); // sweeps the churn garbage away afterwards
    let mut stats = Vec::new();
    for _ in 0..cycles {
        m.collect();
        stats.push(heap.stats().last_cycle.unwrap());
    }
    Run {
        live_mib,
        workers,
        cycles: stats,
        build: build_time,
    }
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
}

const USAGE: &str = "gc_pause [--max-mib 1024] [--cycles 5] [--sizes 64,128,256,512,1024] \
                     [--workers 1,2,4] [--throughput-mib 256]";

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        max_mib: 1024,
        cycles: 5,
        sizes: vec![64, 128, 256, 512, 1024],
        workers: vec![1, 2, 4],
        throughput_mib: 256,
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
    } = args::or_exit(parse_options(), USAGE);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    sizes.retain(|&s| s <= max_mib);
    if !sizes.is_empty() {
        println!("## Full-collection pause against live heap ({cores} mark workers)\n");
        println!("| live heap | objects marked | pause median (ms) | pause max (ms) | mark median (ms) | mark throughput (MiB/s) | sweep termination median (ms) |");
        println!("|---|---|---|---|---|---|---|");
    }
    for &mib in &sizes {
        let r = run(mib, cores, cycles);
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
        eprintln!("(built {} MiB in {:.1} s)", mib, r.build.as_secs_f64());
    }

    if worker_counts.is_empty() {
        return;
    }
    let mib = throughput_mib.min(max_mib);
    println!("\n## Mark throughput against mark workers ({mib} MiB live, {cores} cores)\n");
    println!("| workers | mark median (ms) | mark throughput (MiB/s) | mark CPU median (ms) | ns per object | speed-up |");
    println!("|---|---|---|---|---|---|");
    let mut base = None;
    for workers in worker_counts {
        let r = run(mib, workers, cycles);
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
