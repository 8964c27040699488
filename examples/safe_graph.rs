//! A graph with cycles, shared by four threads through one [`Global`]: each
//! node has four edge members and an atomic visit counter, and the threads
//! walk it, count visits, rewire edges (racing stores into the same members
//! are allowed) and hang new nodes into it, while collections run: started
//! by the pacer (a small minimum heap) and forced by the threads.
//!
//! It shows:
//!
//! - sharing: a `Global<Graph>` is `Send + Sync` because `Graph` is (its
//!   members point at `Sync` nodes; counters are atomics), so an
//!   `Arc<Global<_>>` goes to every thread, and each thread attaches its own
//!   mutator;
//! - the write barrier at work: edges move between nodes while other
//!   threads' marks run, and nothing reachable is lost;
//! - afterwards, on the main thread: every reachable node is well-formed
//!   (its check word matches its id, its id is one that was handed out),
//!   the visit counters add up to the visits the threads counted, and after
//!   a collection the heap holds exactly the reachable nodes and the graph.
//!
//! Fixed seeds and a fixed number of steps per thread; which thread's
//! store lands last differs from run to run, and every check holds for any
//! order.
//!
//! ```text
//! cargo run --release --example safe_graph -- [STEPS]   (per thread, default 200000)
//! ```
//!
//! The `TRICOLOR_*` variables apply (`TRICOLOR_BARRIER`, `TRICOLOR_CHECKMARK`, ...).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use tricolor::raw::{Config, PacerConfig};
use tricolor::{Gc, Global, Heap, Member, Mutator, Trace};
use tricolor_testkit::Rng;

/// Nodes the graph holds directly (never replaced); the threads add more.
const NODES: usize = 256;
/// Edges per node.
const EDGES: usize = 4;
/// Threads walking and rewiring.
const THREADS: u64 = 4;

#[derive(Trace)]
struct Node {
    edges: [Member<Node>; EDGES],
    id: u64,
    /// `check_of(id)`: a node freed while reachable would lose it (the
    /// collector's poisoning overwrites freed objects).
    check: u64,
    visits: AtomicU64,
}

#[derive(Trace)]
struct Graph {
    nodes: [Member<Node>; NODES],
}

fn check_of(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6EA9_0000_0000_0001
}

/// The id of a thread's `seq`th new node (the graph's own are `0..NODES`).
fn new_id(thread: u64, seq: u64) -> u64 {
    (thread + 1) << 32 | seq
}

fn new_node(m: &mut Mutator, id: u64) -> tricolor::Root<Node> {
    m.alloc(Node {
        edges: Default::default(),
        id,
        check: check_of(id),
        visits: AtomicU64::new(0),
    })
}

fn assert_well_formed(n: Gc<'_, Node>) {
    assert_eq!(n.check, check_of(n.id), "node {:#x} corrupted", n.id);
}

/// A walk of up to `steps` random edges from graph node `start`; returns
/// where it stopped. Counts a visit on each of the graph's own nodes it
/// passes (into `visits` too).
fn walk<'m>(
    graph: Gc<'m, Graph>,
    start: usize,
    steps: usize,
    rng: &mut Rng,
    visits: &mut u64,
) -> Gc<'m, Node> {
    let mut cur = graph.get(|g| &g.nodes[start]).expect("graph nodes stay");
    for _ in 0..steps {
        assert_well_formed(cur);
        if cur.id < NODES as u64 {
            cur.visits.fetch_add(1, Ordering::Relaxed);
            *visits += 1;
        }
        let e = rng.below(EDGES);
        match cur.get(|n| &n.edges[e]) {
            Some(next) => cur = next,
            None => break,
        }
    }
    cur
}

/// What one thread did.
struct Work {
    visits: u64,
    created: u64,
}

fn worker(heap: Heap, graph: Arc<Global<Graph>>, thread: u64, steps: usize) -> Work {
    let mut m = heap.attach().expect("a fresh thread attaches");
    let mut rng = Rng::new(0x6EA9 + thread);
    let mut work = Work {
        visits: 0,
        created: 0,
    };
    let every = (steps / 8).max(1);
    for step in 0..steps {
        if thread == 0 && step % every == every / 2 {
            // Thread 0 forces a collection at fixed steps (eight in all).
            m.collect();
        }
        let (a, b) = (rng.below(NODES), rng.below(NODES));
        match rng.below(10) {
            0..=3 => {
                let g = graph.get(&m).unwrap();
                walk(g, a, 8, &mut rng, &mut work.visits);
            }
            4 | 5 => {
                // Rewire: an edge of a node somewhere along a walk now
                // points at graph node b, or nowhere. Other threads may be
                // storing into the same edge.
                let g = graph.get(&m).unwrap();
                let x = walk(g, a, rng.below(4), &mut rng, &mut work.visits);
                let to = if rng.one_in(8) {
                    None
                } else {
                    g.get(|g| &g.nodes[b])
                };
                let e = rng.below(EDGES);
                x.set(|n| &n.edges[e], to);
            }
            6 => {
                // A new node with edges into the graph, hung from a node
                // along a walk. The allocation is a GC point: handles from
                // before it are gone, so the walk comes after.
                let n = new_node(&mut m, new_id(thread, work.created));
                work.created += 1;
                let (g, n) = (graph.get(&m).unwrap(), n.get(&m));
                for e in 0..EDGES {
                    let to = rng.below(NODES);
                    n.set(|n| &n.edges[e], g.get(|g| &g.nodes[to]));
                }
                let x = walk(g, a, rng.below(4), &mut rng, &mut work.visits);
                let e = rng.below(EDGES);
                x.set(|n| &n.edges[e], Some(n));
            }
            7 => {
                // Hold a node in a root across allocations (a burst of
                // garbage), then walk on from it.
                let g = graph.get(&m).unwrap();
                let held = walk(g, a, 3, &mut rng, &mut work.visits).root();
                for _ in 0..8 {
                    new_node(&mut m, u64::MAX);
                }
                let x = held.get(&m);
                assert_well_formed(x);
                let e = rng.below(EDGES);
                if let Some(y) = x.get(|n| &n.edges[e]) {
                    assert_well_formed(y);
                }
            }
            8 => m.safepoint(),
            _ => {
                // Now and then, any thread collects.
                if rng.one_in(100) {
                    m.collect();
                }
            }
        }
    }
    work
}

/// What a run found.
pub struct Summary {
    pub reachable: usize,
    pub created: u64,
    pub visits: u64,
    pub collections: u64,
}

/// Builds the graph, runs the threads for `steps` steps each on a heap with
/// `config`, and checks the invariants; panics if one fails.
pub fn run(config: Config, steps: usize) -> Summary {
    let heap = Heap::with_config(config);
    let graph = Arc::new(heap.global::<Graph>());
    {
        // The graph: NODES nodes, each with random edges into it.
        let mut m = heap.attach().expect("a fresh thread attaches");
        let g = m.alloc(Graph {
            nodes: [const { Member::null() }; NODES],
        });
        for i in 0..NODES {
            let n = new_node(&mut m, i as u64);
            g.get(&m).set(|g| &g.nodes[i], Some(n.get(&m)));
        }
        let mut rng = Rng::new(0x6EA9);
        let g = g.get(&m);
        for i in 0..NODES {
            let n = g.get(|g| &g.nodes[i]).unwrap();
            for e in 0..EDGES {
                let to = rng.below(NODES);
                n.set(|n| &n.edges[e], g.get(|g| &g.nodes[to]));
            }
        }
        graph.set(Some(g));
    }

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (heap, graph) = (heap.clone(), graph.clone());
            thread::spawn(move || worker(heap, graph, t, steps))
        })
        .collect();
    let work: Vec<Work> = threads
        .into_iter()
        .map(|t| t.join().expect("a worker failed"))
        .collect();

    // Every reachable node, checked.
    let mut m = heap.attach().expect("the main thread attaches");
    m.collect();
    let created: Vec<u64> = work.iter().map(|w| w.created).collect();
    let (reachable, visits) = {
        let g = graph.get(&m).unwrap();
        let mut seen = HashSet::new();
        let mut visits = 0;
        let mut stack = Vec::new();
        for i in 0..NODES {
            let n = g.get(|g| &g.nodes[i]).expect("graph nodes stay");
            assert_eq!(n.id, i as u64, "graph node {i} replaced");
            stack.push(n);
        }
        while let Some(n) = stack.pop() {
            if !seen.insert(n.id) {
                continue;
            }
            assert_well_formed(n);
            if n.id < NODES as u64 {
                visits += n.visits.load(Ordering::Relaxed);
            } else {
                let (t, seq) = ((n.id >> 32) - 1, n.id & 0xFFFF_FFFF);
                assert!(
                    t < THREADS && seq < created[t as usize],
                    "node {:#x}: an id nobody handed out",
                    n.id
                );
                assert_eq!(n.visits.load(Ordering::Relaxed), 0);
            }
            for e in 0..EDGES {
                stack.extend(n.get(|n| &n.edges[e]));
            }
        }
        (seen.len(), visits)
    };
    let counted: u64 = work.iter().map(|w| w.visits).sum();
    assert_eq!(visits, counted, "the counters add up to the visits made");
    assert_eq!(
        m.heap_alloc().objects,
        reachable as u64 + 1,
        "the heap holds the reachable nodes and the graph, nothing else"
    );
    Summary {
        reachable,
        created: created.iter().sum(),
        visits,
        collections: heap.stats().cycles,
    }
}

fn main() {
    let steps = match std::env::args().nth(1) {
        Some(a) => a.parse().expect("usage: safe_graph [STEPS]"),
        None => 200_000,
    };
    let config = Config::from_env().unwrap_or_else(|e| {
        eprintln!("safe_graph: {e}");
        std::process::exit(2)
    });
    // A small minimum heap, so that the pacer starts cycles on its own
    // (unless TRICOLOR_GOGC or a memory limit says otherwise).
    let config = Config {
        pacer: PacerConfig {
            min_heap: 256 << 10,
            ..config.pacer
        },
        ..config
    };
    let barrier = config.barrier;
    let s = run(config, steps);
    println!(
        "safe_graph ({barrier}): {THREADS} threads x {steps} steps, {} nodes added, \
         {} visits counted; {} collections; {} nodes reachable at the end, all well-formed",
        s.created, s.visits, s.collections, s.reachable
    );
}
