//! The main demonstration: several mutator threads churn a large heap.
//!
//! Each thread keeps a table of binary trees (its share of the live heap,
//! 256 MiB in total by default) and, for the set time, replaces random trees
//! with new ones, so the live heap stays constant while garbage pours out.
//! The collector runs when the pacer says (GOGC=100 unless `TRICOLOR_GOGC`
//! says otherwise), prints one gctrace line per cycle, and the run ends with a
//! pause summary. Every replaced tree is checked before it is dropped: its
//! nodes' canaries must be intact.
//!
//! ```text
//! cargo run --release --example churn -- [--threads N] [--live-mib M] [--seconds S] [--depth D]
//! ```
//!
//! All `TRICOLOR_*` variables apply (gctrace is on unless `TRICOLOR_GCTRACE=0`).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use tricolor::raw::{Config, Heap, Mutator, ObjRef, TypeDescriptor, TypeId};
use tricolor_testkit::{Histogram, Rng};

const USAGE: &str = "churn [--threads N] [--live-mib M] [--seconds S] [--depth D]";

#[derive(Copy, Clone)]
struct Types {
    /// left, right, canary, payload: 4 words, header-free: a 32-byte slot
    /// (48 with a header).
    node: TypeId,
    /// The per-thread table of trees.
    table: TypeId,
}

/// A node's slot: four words and no header (the type is header-free).
const NODE_BYTES: usize = 32;

fn canary(depth: u32, salt: u64) -> u64 {
    (depth as u64) << 56 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Builds a tree of `depth` levels. Each new node is rooted while its
/// children are built (the shadow stack), since any allocation may collect.
fn build(m: &mut Mutator, t: Types, depth: u32, salt: u64) -> ObjRef {
    m.frame(|m| {
        let node = m.alloc(t.node, 0);
        let slot = m.push_root(Some(node));
        // SAFETY: `node` is rooted in `slot` from here on.
        unsafe { m.store_word(node, 2, canary(depth, salt)) };
        if depth > 1 {
            let left = build(m, t, depth - 1, salt);
            let node = m.root(slot).expect("rooted");
            // SAFETY: `node` is rooted, `left` was just made and nothing
            // collected since.
            unsafe { m.store(node, 0, Some(left)) };
            let right = build(m, t, depth - 1, salt);
            let node = m.root(slot).expect("rooted");
            // SAFETY: as above.
            unsafe { m.store(node, 1, Some(right)) };
        }
        m.root(slot).expect("rooted")
    })
}

/// Checks a tree's canaries; returns its node count.
fn check(m: &Mutator, tree: ObjRef, depth: u32, salt: u64) -> usize {
    // SAFETY: the tree is reachable from the thread's table, a root.
    unsafe {
        assert_eq!(m.load_word(tree, 2), canary(depth, salt), "corrupted node");
        match (m.load(tree, 0), m.load(tree, 1)) {
            (Some(l), Some(r)) => 1 + check(m, l, depth - 1, salt) + check(m, r, depth - 1, salt),
            (None, None) => 1,
            _ => panic!("half a tree"),
        }
    }
}

fn mutator(
    heap: Heap,
    t: Types,
    trees: usize,
    depth: u32,
    seconds: f64,
    seed: u64,
    allocated: &AtomicU64,
) -> u64 {
    let mut m = heap.attach().expect("attach");
    let mut rng = Rng::new(seed);
    let table = m.alloc(t.table, trees);
    let table_slot = m.push_root(Some(table));
    let mut salts = vec![0u64; trees];
    for (i, salt) in salts.iter_mut().enumerate() {
        *salt = rng.next_u64();
        let tree = build(&mut m, t, depth, *salt);
        let table = m.root(table_slot).expect("rooted");
        // SAFETY: the table is rooted; the tree was just built.
        unsafe { m.store(table, i, Some(tree)) };
    }
    let nodes_per_tree = (1usize << depth) - 1;
    let start = Instant::now();
    let mut replaced = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let i = rng.below(trees);
        let table = m.root(table_slot).expect("rooted");
        // SAFETY: the table is rooted, so its trees are reachable.
        let old = unsafe { m.load(table, i) }.expect("tree");
        if replaced.is_multiple_of(64) {
            assert_eq!(check(&m, old, depth, salts[i]), nodes_per_tree);
        }
        salts[i] = rng.next_u64();
        let tree = build(&mut m, t, depth, salts[i]);
        let table = m.root(table_slot).expect("rooted");
        // SAFETY: as above.
        unsafe { m.store(table, i, Some(tree)) };
        replaced += 1;
        allocated.fetch_add((nodes_per_tree * NODE_BYTES) as u64, Ordering::Relaxed);
    }
    replaced
}

fn main() {
    let args = support::parse_args(USAGE, Some(8));
    let depth = args.depth.expect("churn takes --depth");
    let mut config = Config::from_env().unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("TRICOLOR_GCTRACE").is_none() {
        config.gctrace = true;
    }
    let heap = Heap::new(config);
    let t = Types {
        node: heap
            .register_type(TypeDescriptor::fixed("Node", 4, &[0, 1]).header_free())
            .expect("Node"),
        table: heap
            .register_type(TypeDescriptor::array("Table", 1, &[0]))
            .expect("Table"),
    };
    let tree_bytes = ((1usize << depth) - 1) * NODE_BYTES;
    let trees = ((args.live_mib << 20) / args.threads / tree_bytes).max(1);
    println!(
        "churn: {} threads x {} trees of depth {} ({} KiB each) = {} MiB live, for {:.0} s; barrier {}, mark workers {}, GOGC {:?}",
        args.threads,
        trees,
        depth,
        tree_bytes >> 10,
        (trees * args.threads * tree_bytes) >> 20,
        args.seconds,
        heap.config().barrier,
        heap.config().effective_mark_workers(heap.config().barrier),
        heap.config().pacer.gogc,
    );
    let allocated = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..args.threads)
        .map(|i| {
            let heap = heap.clone();
            let allocated = allocated.clone();
            let seconds = args.seconds;
            thread::spawn(move || {
                mutator(
                    heap,
                    t,
                    trees,
                    depth,
                    seconds,
                    0xC0DE + i as u64,
                    &allocated,
                )
            })
        })
        .collect();
    let replaced: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("mutator panicked"))
        .sum();
    let elapsed = start.elapsed().as_secs_f64();

    let s = heap.stats();
    let pauses: Histogram = s.recent_pauses.iter().copied().collect();
    let pct = |p: f64| pauses.quantile_ms(p);
    println!("---");
    println!(
        "summary: {} cycles in {elapsed:.1} s; stop-the-world pause p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (last {} cycles); total pause {:.3} s ({:.1}% of wall time)",
        s.cycles,
        pct(0.50),
        pct(0.99),
        s.pause_max.as_secs_f64() * 1e3,
        pauses.len(),
        s.pause_total.as_secs_f64(),
        100.0 * s.pause_total.as_secs_f64() / elapsed,
    );
    let alloc = allocated.load(Ordering::Relaxed);
    println!(
        "mutators: {replaced} trees replaced, {} MiB allocated, {:.0} MiB/s",
        alloc >> 20,
        alloc as f64 / elapsed / 1048576.0
    );
    println!(
        "collector: mark {:.3} s wall, {:.3} s CPU; live after last mark {} MiB; goal {} MiB",
        s.mark_total.as_secs_f64(),
        s.mark_cpu_total.as_secs_f64(),
        s.marked_bytes >> 20,
        s.goal >> 20
    );
    println!(
        "heap: reserved {} MiB, committed {} MiB, in use {} MiB; rss {} MiB",
        s.heap.reserved_bytes >> 20,
        s.heap.committed_bytes >> 20,
        s.heap.in_use_bytes >> 20,
        tricolor::allocator::resident_bytes().unwrap_or(0) >> 20
    );
}
