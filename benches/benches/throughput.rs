//! Throughput workloads: binary-trees and GCBench, each run by tricolor
//! (through its raw API and through its safe API) and by two baselines side
//! by side in the same invocation.
//!
//! * **binary-trees** (the Benchmarks Game program): a stretch tree of depth
//!   `max + 1`, a long-lived tree of depth `max`, then for depths
//!   `4, 6, .., max` `2^(max - d + 4)` trees built bottom-up and walked with
//!   the item check. A tree of depth `d` has `2^(d+1) - 1` nodes, so every
//!   `check` total is known in closed form and is asserted.
//! * **GCBench** (Ellis, Kovac and Boehm): a stretch tree of depth 18, a
//!   long-lived tree of depth 16 and a long-lived array of 500 000 doubles,
//!   then for depths 4, 6, .., 16 `2 * TreeSize(18) / TreeSize(d)` trees built
//!   top-down (`Populate`) and as many bottom-up (`MakeTree`). The number of
//!   nodes each phase allocates, the long-lived tree (walked at the end) and
//!   the array are asserted.
//!
//! The implementations:
//!
//! * `tricolor` — nodes are collector objects allocated through one attached
//!   [`Mutator`], roots on its shadow stack, every pointer store through
//!   [`Mutator::store`]; the node types are header-free
//!   ([`TypeDescriptor::header_free`]: granted unless the heap is
//!   generational); the heap is configured by [`Config::from_env`], so
//!   `TRICOLOR_GOGC`, `TRICOLOR_BARRIER`, `TRICOLOR_GCTRACE` and the rest
//!   apply (gctrace lines go to standard error).
//! * `headed` — the same, with a header on every node: what header-free
//!   objects save.
//! * `safe` — the same heap through the safe API, written as its user
//!   would: `#[derive(Trace)]` nodes, [`Root`]s for what must survive an
//!   allocation, [`Gc`] handles for the walks, every store through
//!   [`Gc::set`]; the heap is `tricolor::Heap::from_env`, so the same
//!   variables apply. Its ratios are also given against `tricolor`.
//! * `box+mimalloc` — `Box`ed nodes, with mimalloc as this binary's global
//!   allocator (the tricolor heap does not allocate objects through the
//!   global allocator).
//! * `arena` — nodes in a [`Vec`] addressed by `u32` index, all freed at once
//!   per tree (the memory is kept for the next one): the no-collector limit.
//!
//! A binary-trees node is two pointers (`Node`: 2 words, both pointers); a
//! GCBench node also carries the original's two unused ints `i` and `j`
//! (`GcBenchNode`: 3 words, the first two pointers). All five
//! implementations use the same fields. GCBench's long-lived array of
//! doubles is a collector object in both tricolor versions (the raw API's
//! array type, the safe API's [`Array<f64>`](tricolor::Array)); the raw
//! version stores the first half's words after allocating it zeroed, the
//! safe one writes every element as it allocates.
//!
//! Every run happens in a child process (this binary again, with `--child`),
//! so that peak RSS (`VmHWM`) belongs to one implementation; the parent runs
//! each implementation `--reps` times (3 by default), rotating the order
//! between rounds, and prints median figures with ratios against
//! Box+mimalloc, then the time of each phase. Process CPU counts every
//! thread (tricolor's mark workers and sweeper too); mutator thread CPU only
//! the thread that runs the workload (for tricolor, including its mark
//! assists). Pauses are tricolor's stop-the-world pauses, each one separately.
//!
//! ```text
//! cargo bench -p tricolor-benches --bench throughput -- [--depth 18] [--reps 3] [--workload binary-trees|gcbench|all] [--impl tricolor,headed,safe,box+mimalloc,arena] [--timeout 600] [--plots DIR | --no-plots]
//! ```
//!
//! The parent also draws `throughput.svg` (in `--plots DIR`, default
//! `target/plots`): each workload's wall time and peak RSS against
//! Box+mimalloc, as bars per implementation.
//!
//! `--impl` runs only the implementations named (all five by default);
//! the ratios against Box+mimalloc need it among them. One run alone, in
//! this process, for a profiler: `--child WORKLOAD IMPL [--depth N]`.
//!
//! A run that has not finished after `--timeout` seconds is killed and
//! the bench fails, naming it.
//!
//! `THROUGHPUT_DEPTH=21` sets the binary-trees depth too (the argument wins).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tricolor::raw::{Config, Heap, Mutator, ObjRef, TypeDescriptor, TypeId};
use tricolor::{Array, Gc, Member, Root, Trace};
use tricolor_benches::plot;
use tricolor_testkit::{args, child, median, procfs};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Binary-trees depth when neither `--depth` nor `THROUGHPUT_DEPTH` is given.
const DEFAULT_DEPTH: u32 = 18;
/// Binary-trees: the shallowest tree depth.
const MIN_DEPTH: u32 = 4;

/// GCBench constants, as in the original.
const K_STRETCH_TREE_DEPTH: u32 = 18;
const K_LONG_LIVED_TREE_DEPTH: u32 = 16;
const K_ARRAY_SIZE: usize = 500_000;
const K_MIN_TREE_DEPTH: u32 = 4;
const K_MAX_TREE_DEPTH: u32 = 16;

/// Nodes in a complete binary tree of depth `d` (GCBench's `TreeSize`).
fn tree_size(d: u32) -> u64 {
    (1u64 << (d + 1)) - 1
}

/// GCBench's `NumIters`.
fn num_iters(d: u32) -> u64 {
    2 * tree_size(K_STRETCH_TREE_DEPTH) / tree_size(d)
}

// ---- output of one run --------------------------------------------------------

/// What a workload reports: its standard output lines (the same for every
/// implementation) and the wall time of each phase.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    phases: Vec<(String, Duration)>,
}

impl Report {
    fn out(&mut self, line: String) {
        self.lines.push(line);
    }

    fn phase(&mut self, name: String, since: Instant) {
        self.phases.push((name, since.elapsed()));
    }
}

// ---- binary-trees ---------------------------------------------------------------

/// One implementation of binary-trees.
trait BinaryTrees {
    /// Builds a tree of depth `depth` bottom-up and returns its item check;
    /// the tree is garbage afterwards.
    fn temp_tree_check(&mut self, depth: u32) -> u64;
    /// Builds the long-lived tree of depth `depth` and keeps it.
    fn make_long_lived(&mut self, depth: u32);
    /// The item check of the long-lived tree.
    fn long_lived_check(&mut self) -> u64;
}

/// The Benchmarks Game algorithm, with every check asserted.
fn binary_trees(t: &mut impl BinaryTrees, max_depth: u32, r: &mut Report) {
    let max_depth = max_depth.max(MIN_DEPTH + 2);
    let stretch = max_depth + 1;

    let t0 = Instant::now();
    let check = t.temp_tree_check(stretch);
    assert_eq!(check, tree_size(stretch), "stretch tree check");
    r.out(format!("stretch tree of depth {stretch}\t check: {check}"));
    r.phase(format!("stretch tree (depth {stretch})"), t0);

    let t0 = Instant::now();
    t.make_long_lived(max_depth);
    r.phase(format!("long-lived tree (depth {max_depth})"), t0);

    for d in (MIN_DEPTH..=max_depth).step_by(2) {
        let t0 = Instant::now();
        let iterations = 1u64 << (max_depth - d + MIN_DEPTH);
        let mut check = 0;
        for _ in 0..iterations {
            check += t.temp_tree_check(d);
        }
        assert_eq!(check, iterations * tree_size(d), "depth {d} check");
        r.out(format!(
            "{iterations}\t trees of depth {d}\t check: {check}"
        ));
        r.phase(format!("{iterations} trees of depth {d}"), t0);
    }

    let t0 = Instant::now();
    let check = t.long_lived_check();
    assert_eq!(check, tree_size(max_depth), "long-lived tree check");
    r.out(format!(
        "long lived tree of depth {max_depth}\t check: {check}"
    ));
    r.phase("long-lived check".to_string(), t0);
}

// ---- GCBench ----------------------------------------------------------------------

/// One implementation of GCBench. The node counts returned are the nodes
/// actually allocated.
trait GcBench {
    /// Builds a tree of `depth` bottom-up and drops it; returns nodes allocated.
    fn stretch(&mut self, depth: u32) -> u64;
    /// `longLivedTree = new Node(); Populate(depth, longLivedTree)`.
    fn make_long_lived(&mut self, depth: u32);
    /// The long-lived array of `len` doubles, `a[i] = 1.0 / i` for `i < len / 2`.
    fn make_array(&mut self, len: usize);
    /// `tempTree = new Node(); Populate(depth, tempTree); tempTree = null`;
    /// returns nodes allocated.
    fn top_down(&mut self, depth: u32) -> u64;
    /// `tempTree = MakeTree(depth); tempTree = null`; returns nodes allocated.
    fn bottom_up(&mut self, depth: u32) -> u64;
    /// Walks the long-lived tree: (nodes, sum of the `i` and `j` fields).
    fn long_lived_walk(&mut self) -> (u64, i64);
    /// The array's length and its element 1000.
    fn array_probe(&mut self) -> (usize, f64);
}

/// The classic GCBench driver, with the counts asserted.
fn gcbench(t: &mut impl GcBench, r: &mut Report) {
    r.out("Garbage Collector Test".to_string());
    r.out(format!(
        " Stretching memory with a binary tree of depth {K_STRETCH_TREE_DEPTH}"
    ));
    let t0 = Instant::now();
    let n = t.stretch(K_STRETCH_TREE_DEPTH);
    assert_eq!(n, tree_size(K_STRETCH_TREE_DEPTH), "stretch tree nodes");
    r.phase(format!("stretch tree (depth {K_STRETCH_TREE_DEPTH})"), t0);

    r.out(format!(
        " Creating a long-lived binary tree of depth {K_LONG_LIVED_TREE_DEPTH}"
    ));
    let t0 = Instant::now();
    t.make_long_lived(K_LONG_LIVED_TREE_DEPTH);
    r.phase(
        format!("long-lived tree (depth {K_LONG_LIVED_TREE_DEPTH})"),
        t0,
    );

    r.out(format!(
        " Creating a long-lived array of {K_ARRAY_SIZE} doubles"
    ));
    let t0 = Instant::now();
    t.make_array(K_ARRAY_SIZE);
    r.phase("long-lived array".to_string(), t0);

    for d in (K_MIN_TREE_DEPTH..=K_MAX_TREE_DEPTH).step_by(2) {
        let iters = num_iters(d);
        r.out(format!("Creating {iters} trees of depth {d}"));
        let t0 = Instant::now();
        let mut n = 0;
        for _ in 0..iters {
            n += t.top_down(d);
        }
        assert_eq!(n, iters * tree_size(d), "top-down nodes at depth {d}");
        r.out(format!("\tTop down construction: {n} nodes"));
        r.phase(format!("depth {d}: top down"), t0);
        let t0 = Instant::now();
        let mut n = 0;
        for _ in 0..iters {
            n += t.bottom_up(d);
        }
        assert_eq!(n, iters * tree_size(d), "bottom-up nodes at depth {d}");
        r.out(format!("\tBottom up construction: {n} nodes"));
        r.phase(format!("depth {d}: bottom up"), t0);
    }

    let t0 = Instant::now();
    let (nodes, ij) = t.long_lived_walk();
    assert_eq!(nodes, tree_size(K_LONG_LIVED_TREE_DEPTH), "long-lived tree");
    assert_eq!(ij, 0, "long-lived tree fields");
    let (len, a1000) = t.array_probe();
    assert_eq!(len, K_ARRAY_SIZE, "array length");
    assert_eq!(a1000, 1.0 / 1000.0, "array[1000]");
    r.out(format!(
        " Long-lived tree: {nodes} nodes; array[1000] = {a1000}"
    ));
    r.phase("final checks".to_string(), t0);
}

// ---- tricolor ---------------------------------------------------------------------

/// Tricolor: collector objects, one mutator, roots on the shadow stack.
struct Tricolor {
    m: Mutator,
    /// Binary-trees node: left, right.
    node: TypeId,
    /// GCBench node: left, right, and `i`, `j` packed in one data word.
    gcb_node: TypeId,
    /// An array of doubles (no pointers).
    doubles: TypeId,
    /// Root slot of the long-lived tree.
    long_lived: usize,
    /// Root slot of the long-lived array.
    array: usize,
}

impl Tricolor {
    /// The implementation on `heap`; its nodes are header-free if
    /// `header_free` (and the heap grants it: not in generational mode).
    fn new(heap: &Heap, header_free: bool) -> Tricolor {
        let node_type = |d: TypeDescriptor| if header_free { d.header_free() } else { d };
        let node = heap
            .register_type(node_type(TypeDescriptor::fixed("Node", 2, &[0, 1])))
            .expect("register Node");
        let gcb_node = heap
            .register_type(node_type(TypeDescriptor::fixed("GcBenchNode", 3, &[0, 1])))
            .expect("register GcBenchNode");
        let doubles = heap
            .register_type(TypeDescriptor::array("Doubles", 1, &[]))
            .expect("register Doubles");
        let mut m = heap.attach().expect("attach");
        let long_lived = m.push_root(None);
        let array = m.push_root(None);
        Tricolor {
            m,
            node,
            gcb_node,
            doubles,
            long_lived,
            array,
        }
    }
}

/// Allocates one node of `ty` (all fields null or zero).
fn tc_alloc(m: &mut Mutator, ty: TypeId) -> ObjRef {
    m.alloc(ty, 0)
}

/// Builds a tree of `depth` bottom-up: both subtrees first, then their
/// parent. Each subtree is rooted on the shadow stack while the next
/// allocation happens. The result is unrooted: the caller roots it before
/// its next allocation or safepoint.
fn tc_bottom_up(m: &mut Mutator, ty: TypeId, depth: u32, count: &mut u64) -> ObjRef {
    *count += 1;
    if depth == 0 {
        return tc_alloc(m, ty);
    }
    m.frame(|m| {
        let l = tc_bottom_up(m, ty, depth - 1, count);
        let ls = m.push_root(Some(l));
        let r = tc_bottom_up(m, ty, depth - 1, count);
        let rs = m.push_root(Some(r));
        let n = tc_alloc(m, ty);
        // SAFETY: `n` was just allocated (no safepoint since); both children
        // are rooted in `ls` and `rs`; fields 0 and 1 are pointer fields.
        unsafe {
            m.store(n, 0, m.root(ls));
            m.store(n, 1, m.root(rs));
        }
        n
    })
}

/// GCBench's `Populate`: gives `node` two fresh children, then populates
/// them. `node` must be reachable from a root, and stays so: only null
/// fields are written below it.
fn tc_populate(m: &mut Mutator, ty: TypeId, depth: u32, node: ObjRef, count: &mut u64) {
    if depth == 0 {
        return;
    }
    let l = tc_alloc(m, ty);
    // SAFETY: `node` is reachable from a root (this function's contract);
    // `l` was just allocated; field 0 is a pointer field.
    unsafe { m.store(node, 0, Some(l)) };
    let r = tc_alloc(m, ty);
    // SAFETY: `node` is still reachable (the allocation cannot free it), and
    // `l` is reachable through it; `r` was just allocated.
    unsafe { m.store(node, 1, Some(r)) };
    *count += 2;
    tc_populate(m, ty, depth - 1, l, count);
    tc_populate(m, ty, depth - 1, r, count);
}

/// The item check: nodes in the tree at `node`.
///
/// `node` must be reachable from a root; the walk does not allocate or poll
/// a safepoint, so the whole tree stays live during it.
fn tc_check(m: &Mutator, node: ObjRef) -> u64 {
    // SAFETY: `node` is reachable (this function's contract); field 0 is a
    // pointer field.
    match unsafe { m.load(node, 0) } {
        None => 1,
        Some(l) => {
            // SAFETY: as above; field 1 is a pointer field.
            let r = unsafe { m.load(node, 1) }.expect("a node with one child");
            1 + tc_check(m, l) + tc_check(m, r)
        }
    }
}

/// GCBench's long-lived tree walk: (nodes, sum of `i` and `j`). Same
/// contract as [`tc_check`].
fn tc_walk(m: &Mutator, node: Option<ObjRef>) -> (u64, i64) {
    let Some(n) = node else { return (0, 0) };
    // SAFETY: `n` is reachable and nothing allocates during the walk; word
    // 2 is the data word, 0 and 1 the pointer fields.
    let (ij, l, r) = unsafe { (m.load_word(n, 2), m.load(n, 0), m.load(n, 1)) };
    let (i, j) = (ij as u32 as i32, (ij >> 32) as u32 as i32);
    let (nl, sl) = tc_walk(m, l);
    let (nr, sr) = tc_walk(m, r);
    (1 + nl + nr, i as i64 + j as i64 + sl + sr)
}

impl BinaryTrees for Tricolor {
    fn temp_tree_check(&mut self, depth: u32) -> u64 {
        let ty = self.node;
        self.m.frame(|m| {
            let mut count = 0;
            let t = tc_bottom_up(m, ty, depth, &mut count);
            let slot = m.push_root(Some(t));
            tc_check(m, m.root(slot).expect("rooted"))
        })
    }

    fn make_long_lived(&mut self, depth: u32) {
        let mut count = 0;
        let t = tc_bottom_up(&mut self.m, self.node, depth, &mut count);
        self.m.set_root(self.long_lived, Some(t));
    }

    fn long_lived_check(&mut self) -> u64 {
        let t = self.m.root(self.long_lived).expect("long-lived tree");
        tc_check(&self.m, t)
    }
}

impl GcBench for Tricolor {
    fn stretch(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        tc_bottom_up(&mut self.m, self.gcb_node, depth, &mut count);
        count
    }

    fn make_long_lived(&mut self, depth: u32) {
        let mut count = 1;
        let root = tc_alloc(&mut self.m, self.gcb_node);
        self.m.set_root(self.long_lived, Some(root));
        tc_populate(&mut self.m, self.gcb_node, depth, root, &mut count);
    }

    fn make_array(&mut self, len: usize) {
        let a = self.m.alloc(self.doubles, len);
        self.m.set_root(self.array, Some(a));
        for i in 0..len / 2 {
            // SAFETY: `a` is rooted in the array slot; element `i` is in
            // range and is a data word.
            unsafe { self.m.store_word(a, i, (1.0 / i as f64).to_bits()) };
        }
    }

    fn top_down(&mut self, depth: u32) -> u64 {
        let ty = self.gcb_node;
        self.m.frame(|m| {
            let mut count = 1;
            let t = tc_alloc(m, ty);
            m.push_root(Some(t));
            tc_populate(m, ty, depth, t, &mut count);
            count
        })
    }

    fn bottom_up(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        tc_bottom_up(&mut self.m, self.gcb_node, depth, &mut count);
        count
    }

    fn long_lived_walk(&mut self) -> (u64, i64) {
        tc_walk(&self.m, self.m.root(self.long_lived))
    }

    fn array_probe(&mut self) -> (usize, f64) {
        let a = self.m.root(self.array).expect("array");
        // SAFETY: `a` is rooted; shape_of and element 1000 (in range) read it.
        unsafe {
            let (_, len) = self.m.shape_of(a);
            (len, f64::from_bits(self.m.load_word(a, 1000)))
        }
    }
}

// ---- tricolor, safe API ---------------------------------------------------------------

/// A binary-trees node of the safe API: two members, 2 words like `Node`,
/// header-free like it.
#[derive(Trace, Default)]
#[trace(header_free)]
struct SafeNode {
    left: Member<SafeNode>,
    right: Member<SafeNode>,
}

/// A GCBench node of the safe API: two members and the original's two
/// unused ints, 3 words like `GcBenchNode`, header-free like it.
#[derive(Trace, Default)]
#[trace(header_free)]
struct SafeGcNode {
    left: Member<SafeGcNode>,
    right: Member<SafeGcNode>,
    i: i32,
    j: i32,
}

/// Tricolor through the safe API: `Root`s for whatever must survive an
/// allocation, `Gc` handles in between, every store through `Gc::set`.
struct Safe {
    m: tricolor::Mutator,
    long_lived: Option<Root<SafeNode>>,
    gc_long_lived: Option<Root<SafeGcNode>>,
    array: Option<Root<Array<f64>>>,
}

impl Safe {
    fn new(heap: &tricolor::Heap) -> Safe {
        Safe {
            m: heap.attach().expect("attach"),
            long_lived: None,
            gc_long_lived: None,
            array: None,
        }
    }
}

/// Builds a tree of `depth` bottom-up: both subtrees (each held by its
/// root across the next allocation), then their parent.
fn safe_bottom_up(m: &mut tricolor::Mutator, depth: u32) -> Root<SafeNode> {
    if depth == 0 {
        return m.alloc(SafeNode::default());
    }
    let left = safe_bottom_up(m, depth - 1);
    let right = safe_bottom_up(m, depth - 1);
    let node = m.alloc(SafeNode::default());
    let n = node.get(m);
    n.set(|n| &n.left, Some(left.get(m)));
    n.set(|n| &n.right, Some(right.get(m)));
    node
}

/// The item check: nodes in the tree at `node`.
fn safe_check(node: Gc<'_, SafeNode>) -> u64 {
    match node.get(|n| &n.left) {
        None => 1,
        Some(l) => {
            let r = node.get(|n| &n.right).expect("a node with one child");
            1 + safe_check(l) + safe_check(r)
        }
    }
}

/// GCBench's `MakeTree`: bottom-up, as [`safe_bottom_up`].
fn safe_make_tree(m: &mut tricolor::Mutator, depth: u32, count: &mut u64) -> Root<SafeGcNode> {
    *count += 1;
    if depth == 0 {
        return m.alloc(SafeGcNode::default());
    }
    let left = safe_make_tree(m, depth - 1, count);
    let right = safe_make_tree(m, depth - 1, count);
    let node = m.alloc(SafeGcNode::default());
    let n = node.get(m);
    n.set(|n| &n.left, Some(left.get(m)));
    n.set(|n| &n.right, Some(right.get(m)));
    node
}

/// GCBench's `Populate`: gives the rooted `node` two fresh children, then
/// populates them.
fn safe_populate(m: &mut tricolor::Mutator, depth: u32, node: &Root<SafeGcNode>, count: &mut u64) {
    if depth == 0 {
        return;
    }
    let left = m.alloc(SafeGcNode::default());
    node.get(m).set(|n| &n.left, Some(left.get(m)));
    let right = m.alloc(SafeGcNode::default());
    node.get(m).set(|n| &n.right, Some(right.get(m)));
    *count += 2;
    safe_populate(m, depth - 1, &left, count);
    safe_populate(m, depth - 1, &right, count);
}

/// GCBench's long-lived tree walk: (nodes, sum of `i` and `j`).
fn safe_walk(node: Option<Gc<'_, SafeGcNode>>) -> (u64, i64) {
    let Some(n) = node else { return (0, 0) };
    let (nl, sl) = safe_walk(n.get(|n| &n.left));
    let (nr, sr) = safe_walk(n.get(|n| &n.right));
    (1 + nl + nr, n.i as i64 + n.j as i64 + sl + sr)
}

impl BinaryTrees for Safe {
    fn temp_tree_check(&mut self, depth: u32) -> u64 {
        let t = safe_bottom_up(&mut self.m, depth);
        safe_check(t.get(&self.m))
    }

    fn make_long_lived(&mut self, depth: u32) {
        self.long_lived = Some(safe_bottom_up(&mut self.m, depth));
    }

    fn long_lived_check(&mut self) -> u64 {
        let t = self.long_lived.as_ref().expect("long-lived tree");
        safe_check(t.get(&self.m))
    }
}

impl GcBench for Safe {
    fn stretch(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        safe_make_tree(&mut self.m, depth, &mut count);
        count
    }

    fn make_long_lived(&mut self, depth: u32) {
        let mut count = 1;
        let root = self.m.alloc(SafeGcNode::default());
        safe_populate(&mut self.m, depth, &root, &mut count);
        self.gc_long_lived = Some(root);
    }

    fn make_array(&mut self, len: usize) {
        // GCBench's array: the first half 1/i, the rest 0 (as the raw
        // version's zeroed object with its first half stored).
        let a = self
            .m
            .alloc_array(len, |i| if i < len / 2 { 1.0 / i as f64 } else { 0.0 });
        self.array = Some(a);
    }

    fn top_down(&mut self, depth: u32) -> u64 {
        let mut count = 1;
        let t = self.m.alloc(SafeGcNode::default());
        safe_populate(&mut self.m, depth, &t, &mut count);
        count
    }

    fn bottom_up(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        safe_make_tree(&mut self.m, depth, &mut count);
        count
    }

    fn long_lived_walk(&mut self) -> (u64, i64) {
        let t = self.gc_long_lived.as_ref().map(|t| t.get(&self.m));
        safe_walk(t)
    }

    fn array_probe(&mut self) -> (usize, f64) {
        let a = self.array.as_ref().expect("array").get(&self.m);
        (a.len(), a.as_slice()[1000])
    }
}

// ---- Box + mimalloc ----------------------------------------------------------------

/// A binary-trees node.
struct BoxTree {
    left: Option<Box<BoxTree>>,
    right: Option<Box<BoxTree>>,
}

fn box_bottom_up(depth: u32) -> Box<BoxTree> {
    if depth == 0 {
        Box::new(BoxTree {
            left: None,
            right: None,
        })
    } else {
        Box::new(BoxTree {
            left: Some(box_bottom_up(depth - 1)),
            right: Some(box_bottom_up(depth - 1)),
        })
    }
}

fn box_check(t: &BoxTree) -> u64 {
    match (&t.left, &t.right) {
        (Some(l), Some(r)) => 1 + box_check(l) + box_check(r),
        _ => 1,
    }
}

/// A GCBench node: two children and the two unused ints of the original.
#[derive(Default)]
struct BoxGcNode {
    left: Option<Box<BoxGcNode>>,
    right: Option<Box<BoxGcNode>>,
    i: i32,
    j: i32,
}

fn box_make_tree(depth: u32, count: &mut u64) -> Box<BoxGcNode> {
    *count += 1;
    if depth == 0 {
        Box::default()
    } else {
        Box::new(BoxGcNode {
            left: Some(box_make_tree(depth - 1, count)),
            right: Some(box_make_tree(depth - 1, count)),
            i: 0,
            j: 0,
        })
    }
}

fn box_populate(depth: u32, node: &mut BoxGcNode, count: &mut u64) {
    if depth == 0 {
        return;
    }
    node.left = Some(Box::default());
    node.right = Some(Box::default());
    *count += 2;
    if let (Some(l), Some(r)) = (node.left.as_deref_mut(), node.right.as_deref_mut()) {
        box_populate(depth - 1, l, count);
        box_populate(depth - 1, r, count);
    }
}

fn box_walk(node: Option<&BoxGcNode>) -> (u64, i64) {
    let Some(n) = node else { return (0, 0) };
    let (nl, sl) = box_walk(n.left.as_deref());
    let (nr, sr) = box_walk(n.right.as_deref());
    (1 + nl + nr, n.i as i64 + n.j as i64 + sl + sr)
}

/// Box-based trees on mimalloc.
#[derive(Default)]
struct Boxed {
    long_lived: Option<Box<BoxTree>>,
    gc_long_lived: Option<Box<BoxGcNode>>,
    array: Vec<f64>,
}

impl BinaryTrees for Boxed {
    fn temp_tree_check(&mut self, depth: u32) -> u64 {
        box_check(&box_bottom_up(depth))
    }

    fn make_long_lived(&mut self, depth: u32) {
        self.long_lived = Some(box_bottom_up(depth));
    }

    fn long_lived_check(&mut self) -> u64 {
        box_check(self.long_lived.as_ref().expect("long-lived tree"))
    }
}

impl GcBench for Boxed {
    fn stretch(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        drop(box_make_tree(depth, &mut count));
        count
    }

    fn make_long_lived(&mut self, depth: u32) {
        let mut count = 1;
        let root = self.gc_long_lived.insert(Box::default());
        box_populate(depth, root, &mut count);
    }

    fn make_array(&mut self, len: usize) {
        let mut a = vec![0.0; len];
        for (i, x) in a.iter_mut().enumerate().take(len / 2) {
            *x = 1.0 / i as f64;
        }
        self.array = a;
    }

    fn top_down(&mut self, depth: u32) -> u64 {
        let mut count = 1;
        let mut t = Box::<BoxGcNode>::default();
        box_populate(depth, &mut t, &mut count);
        drop(t);
        count
    }

    fn bottom_up(&mut self, depth: u32) -> u64 {
        let mut count = 0;
        drop(box_make_tree(depth, &mut count));
        count
    }

    fn long_lived_walk(&mut self) -> (u64, i64) {
        box_walk(self.gc_long_lived.as_deref())
    }

    fn array_probe(&mut self) -> (usize, f64) {
        (self.array.len(), self.array[1000])
    }
}

// ---- bump arena --------------------------------------------------------------------

/// No child (arena indices).
const NIL: u32 = u32::MAX;

/// A typed bump arena: values in one `Vec`, addressed by `u32` index, all
/// freed at once by [`reset`](Arena::reset), which keeps the memory for the
/// next tree.
struct Arena<T> {
    items: Vec<T>,
}

impl<T> Arena<T> {
    fn new() -> Arena<T> {
        Arena { items: Vec::new() }
    }

    #[inline]
    fn alloc(&mut self, value: T) -> u32 {
        let i = self.items.len();
        debug_assert!(i < NIL as usize, "arena full");
        self.items.push(value);
        i as u32
    }

    #[inline]
    fn get(&self, i: u32) -> &T {
        &self.items[i as usize]
    }

    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.items[i as usize]
    }

    fn reset(&mut self) {
        self.items.clear();
    }
}

/// A binary-trees node in an arena.
#[derive(Copy, Clone)]
struct ArenaTree {
    left: u32,
    right: u32,
}

fn arena_bottom_up(a: &mut Arena<ArenaTree>, depth: u32) -> u32 {
    if depth == 0 {
        a.alloc(ArenaTree {
            left: NIL,
            right: NIL,
        })
    } else {
        let left = arena_bottom_up(a, depth - 1);
        let right = arena_bottom_up(a, depth - 1);
        a.alloc(ArenaTree { left, right })
    }
}

fn arena_check(a: &Arena<ArenaTree>, i: u32) -> u64 {
    let n = a.get(i);
    if n.left == NIL {
        1
    } else {
        1 + arena_check(a, n.left) + arena_check(a, n.right)
    }
}

/// A GCBench node in an arena.
#[derive(Copy, Clone)]
struct ArenaGcNode {
    left: u32,
    right: u32,
    i: i32,
    j: i32,
}

impl Default for ArenaGcNode {
    fn default() -> Self {
        ArenaGcNode {
            left: NIL,
            right: NIL,
            i: 0,
            j: 0,
        }
    }
}

fn arena_make_tree(a: &mut Arena<ArenaGcNode>, depth: u32) -> u32 {
    if depth == 0 {
        a.alloc(ArenaGcNode::default())
    } else {
        let left = arena_make_tree(a, depth - 1);
        let right = arena_make_tree(a, depth - 1);
        a.alloc(ArenaGcNode {
            left,
            right,
            ..ArenaGcNode::default()
        })
    }
}

fn arena_populate(a: &mut Arena<ArenaGcNode>, depth: u32, node: u32) {
    if depth == 0 {
        return;
    }
    let l = a.alloc(ArenaGcNode::default());
    a.get_mut(node).left = l;
    let r = a.alloc(ArenaGcNode::default());
    a.get_mut(node).right = r;
    arena_populate(a, depth - 1, l);
    arena_populate(a, depth - 1, r);
}

fn arena_walk(a: &Arena<ArenaGcNode>, i: u32) -> (u64, i64) {
    if i == NIL {
        return (0, 0);
    }
    let n = *a.get(i);
    let (nl, sl) = arena_walk(a, n.left);
    let (nr, sr) = arena_walk(a, n.right);
    (1 + nl + nr, n.i as i64 + n.j as i64 + sl + sr)
}

/// Arena-based trees: one arena for temporary trees (reset per tree), one
/// for the long-lived tree.
struct Arenas {
    temp: Arena<ArenaTree>,
    long_lived: Arena<ArenaTree>,
    long_lived_root: u32,
    gc_temp: Arena<ArenaGcNode>,
    gc_long_lived: Arena<ArenaGcNode>,
    array: Vec<f64>,
}

impl Arenas {
    fn new() -> Arenas {
        Arenas {
            temp: Arena::new(),
            long_lived: Arena::new(),
            long_lived_root: NIL,
            gc_temp: Arena::new(),
            gc_long_lived: Arena::new(),
            array: Vec::new(),
        }
    }
}

impl BinaryTrees for Arenas {
    fn temp_tree_check(&mut self, depth: u32) -> u64 {
        self.temp.reset();
        let t = arena_bottom_up(&mut self.temp, depth);
        arena_check(&self.temp, t)
    }

    fn make_long_lived(&mut self, depth: u32) {
        self.long_lived_root = arena_bottom_up(&mut self.long_lived, depth);
    }

    fn long_lived_check(&mut self) -> u64 {
        arena_check(&self.long_lived, self.long_lived_root)
    }
}

impl GcBench for Arenas {
    fn stretch(&mut self, depth: u32) -> u64 {
        self.gc_temp.reset();
        arena_make_tree(&mut self.gc_temp, depth);
        self.gc_temp.items.len() as u64
    }

    fn make_long_lived(&mut self, depth: u32) {
        let root = self.gc_long_lived.alloc(ArenaGcNode::default());
        arena_populate(&mut self.gc_long_lived, depth, root);
    }

    fn make_array(&mut self, len: usize) {
        let mut a = vec![0.0; len];
        for (i, x) in a.iter_mut().enumerate().take(len / 2) {
            *x = 1.0 / i as f64;
        }
        self.array = a;
    }

    fn top_down(&mut self, depth: u32) -> u64 {
        self.gc_temp.reset();
        let t = self.gc_temp.alloc(ArenaGcNode::default());
        arena_populate(&mut self.gc_temp, depth, t);
        self.gc_temp.items.len() as u64
    }

    fn bottom_up(&mut self, depth: u32) -> u64 {
        self.gc_temp.reset();
        arena_make_tree(&mut self.gc_temp, depth);
        self.gc_temp.items.len() as u64
    }

    fn long_lived_walk(&mut self) -> (u64, i64) {
        arena_walk(&self.gc_long_lived, 0)
    }

    fn array_probe(&mut self) -> (usize, f64) {
        (self.array.len(), self.array[1000])
    }
}

// ---- the child: one run ----------------------------------------------------------

/// The implementations, in table order.
const IMPLS: [&str; 5] = ["tricolor", "headed", "safe", "box+mimalloc", "arena"];
/// The baseline of the ratios.
const BASELINE: &str = "box+mimalloc";
/// The safe API's ratios are also given against this one: the raw API it
/// is built on.
const RAW: &str = "tricolor";
/// The workloads.
const WORKLOADS: [&str; 2] = ["binary-trees", "gcbench"];

/// A field of `/proc/self/status`, in KiB (`VmHWM`, `VmRSS`).
fn proc_status_kib(field: &str) -> u64 {
    procfs::status_kib(field).unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// The clocks of one run, read at its start and at its end.
#[derive(Clone, Copy)]
struct Clocks {
    wall: Instant,
    process: Duration,
    thread: Duration,
    user: Duration,
    sys: Duration,
}

impl Clocks {
    fn now() -> Clocks {
        let (user, sys) = procfs::user_and_system_cpu().expect("/proc/self/stat");
        Clocks {
            wall: Instant::now(),
            process: procfs::process_cpu(),
            thread: procfs::thread_cpu(),
            user,
            sys,
        }
    }
}

/// Runs one workload with one implementation and prints the results for
/// the parent on standard output: the workload's own output lines, then the
/// figures as one JSON line ([`child::emit`] of a [`Figures`]). The clocks
/// stop when the workload ends; tearing the data structures down is not
/// timed.
fn run_one(workload: &str, imp: &str, depth: u32) {
    let mut r = Report::default();
    let mut gc = None;
    let rss_before = proc_status_kib("VmRSS");
    let start = Clocks::now();
    let end;
    match imp {
        "tricolor" | "headed" => {
            let config = Config::from_env().unwrap_or_else(|e| panic!("tricolor: {e}"));
            let heap = Heap::new(config);
            let mut t = Tricolor::new(&heap, imp == "tricolor");
            match workload {
                "binary-trees" => binary_trees(&mut t, depth, &mut r),
                _ => gcbench(&mut t, &mut r),
            }
            end = Clocks::now();
            gc = Some(heap.stats());
            drop(t);
            drop(heap);
        }
        "safe" => {
            let heap = tricolor::Heap::from_env();
            let mut t = Safe::new(&heap);
            match workload {
                "binary-trees" => binary_trees(&mut t, depth, &mut r),
                _ => gcbench(&mut t, &mut r),
            }
            end = Clocks::now();
            gc = Some(heap.stats());
            drop(t);
            drop(heap);
        }
        "box+mimalloc" => {
            let mut t = Boxed::default();
            match workload {
                "binary-trees" => binary_trees(&mut t, depth, &mut r),
                _ => gcbench(&mut t, &mut r),
            }
            end = Clocks::now();
        }
        "arena" => {
            let mut t = Arenas::new();
            match workload {
                "binary-trees" => binary_trees(&mut t, depth, &mut r),
                _ => gcbench(&mut t, &mut r),
            }
            end = Clocks::now();
        }
        other => panic!("unknown implementation {other:?}"),
    }
    let wall = end.wall - start.wall;
    let thread = end.thread - start.thread;
    let process = end.process - start.process;
    let (user, sys) = (end.user - start.user, end.sys - start.sys);
    let peak = proc_status_kib("VmHWM");

    let ns = |d: Duration| d.as_nanos() as u64;
    let mut stats = BTreeMap::new();
    let mut stat = |k: &str, v: u64| stats.insert(k.to_string(), v);
    stat("wall_ns", ns(wall));
    stat("process_cpu_ns", ns(process));
    stat("thread_cpu_ns", ns(thread));
    stat("user_ns", ns(user));
    stat("sys_ns", ns(sys));
    stat("peak_rss_kib", peak);
    stat("start_rss_kib", rss_before);
    if let Some(g) = gc {
        stat("gc_cycles", g.cycles);
        stat("gc_pause_max_ns", ns(g.pause_max));
        stat("gc_pause_total_ns", ns(g.pause_total));
        let pauses = &g.recent_pauses;
        let median_pause = (!pauses.is_empty()).then(|| median(pauses.iter().copied()));
        stat("gc_pause_median_ns", median_pause.map_or(0, ns));
        stat("gc_mark_cpu_ns", ns(g.mark_cpu_total));
        stat("gc_mark_ns", ns(g.mark_total));
        stat("gc_sweep_termination_ns", ns(g.sweep_termination_total));
    }
    for l in &r.lines {
        println!("{l}");
    }
    child::emit(&Figures {
        phases: r.phases.iter().map(|(n, d)| (n.clone(), ns(*d))).collect(),
        stats,
    });
}

// ---- the parent: runs and tables ---------------------------------------------------

/// The figures of one child run, its result line.
#[derive(Serialize, Deserialize)]
struct Figures {
    /// Wall time of each phase, in ns.
    phases: Vec<(String, u64)>,
    /// Clocks, memory and (tricolor only) GC figures: `wall_ns`,
    /// `process_cpu_ns`, `thread_cpu_ns`, `user_ns`, `sys_ns`,
    /// `peak_rss_kib`, `start_rss_kib`, `gc_*`.
    stats: BTreeMap<String, u64>,
}

/// What one child reported.
struct Run {
    /// The workload's output lines.
    lines: Vec<String>,
    phases: Vec<(String, u64)>,
    stats: BTreeMap<String, u64>,
}

impl Run {
    fn stat(&self, key: &str) -> Option<u64> {
        self.stats.get(key).copied()
    }
}

fn run_child(workload: &str, imp: &str, depth: u32, timeout: Duration) -> Run {
    let args = ["--child", workload, imp, "--depth", &depth.to_string()];
    match child::run::<Figures>(args, timeout) {
        Ok(out) => Run {
            lines: out.lines,
            phases: out.result.phases,
            stats: out.result.stats,
        },
        Err(child::Error::TimedOut(_)) => panic!(
            "{workload} / {imp}: no result after {} s, killed (--timeout); \
             run it alone with TRICOLOR_GCTRACE=1 to see where it stops",
            timeout.as_secs()
        ),
        Err(child::Error::Failed { status, stdout }) => {
            panic!("{workload} / {imp} failed ({status}); its standard output:\n{stdout}")
        }
        Err(e) => panic!("{workload} / {imp}: {e}"),
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e9)
}

fn millis(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

/// Milliseconds with microsecond resolution (pauses).
fn millis3(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_string()
    } else {
        format!("{:.2}x", a as f64 / b as f64)
    }
}

/// An implementation's median wall time and peak RSS as ratios against
/// the baseline (`None` without it).
type Ratios = (Option<f64>, Option<f64>);

/// Prints one workload's tables; returns, per implementation in table
/// order, its median wall time and peak RSS as ratios against the baseline
/// (`None` without the baseline), for the picture.
fn report(title: &str, runs: &[(&str, Vec<Run>)], reps: usize) -> Vec<Ratios> {
    // The standard output, which every run must have printed identically.
    let first = &runs[0].1[0].lines;
    for (imp, rs) in runs {
        for r in rs {
            assert_eq!(&r.lines, first, "{imp} printed different output");
        }
    }
    println!("## {title}\n");
    println!("```text");
    for l in first {
        println!("{l}");
    }
    println!("```\n");

    let med = |rs: &[Run], key: &str| -> Option<u64> {
        let v: Vec<u64> = rs.iter().filter_map(|r| r.stat(key)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    let runs_of = |name: &str| runs.iter().find(|(imp, _)| *imp == name).map(|(_, rs)| rs);
    // Without the baseline (`--impl`), its ratios are left out.
    let base = runs_of(BASELINE);
    let base_med = |key: &str| base.map_or(0, |b| med(b, key).unwrap());
    let (base_wall, base_cpu, base_rss) = (
        base_med("wall_ns"),
        base_med("process_cpu_ns"),
        base_med("peak_rss_kib"),
    );

    println!("Medians of {reps} runs, each in its own process. Ratios are against {BASELINE}.\n");
    println!("| implementation | wall (s) | wall min-max (s) | wall ratio | process CPU (s) | CPU ratio | mutator thread CPU (s) | peak RSS (MiB) | RSS ratio | GC cycles | max pause (ms) | median pause (ms) | total pause (ms) | mark CPU (s) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let of = |a: u64, b: u64| (base.is_some() && b > 0).then(|| a as f64 / b as f64);
    for (imp, rs) in runs {
        let walls: Vec<u64> = rs.iter().filter_map(|r| r.stat("wall_ns")).collect();
        let wall = median(walls.iter().copied());
        let cpu = med(rs, "process_cpu_ns").unwrap();
        let thread = med(rs, "thread_cpu_ns").unwrap();
        let rss = med(rs, "peak_rss_kib").unwrap();
        let gc = |key: &str, f: fn(u64) -> String| med(rs, key).map_or("-".to_string(), f);
        ratios.push((of(wall, base_wall), of(rss, base_rss)));
        println!(
            "| {imp} | {} | {}-{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            secs(wall),
            secs(*walls.iter().min().unwrap()),
            secs(*walls.iter().max().unwrap()),
            ratio(wall, base_wall),
            secs(cpu),
            ratio(cpu, base_cpu),
            secs(thread),
            mib(rss),
            ratio(rss, base_rss),
            gc("gc_cycles", |v| v.to_string()),
            gc("gc_pause_max_ns", millis3),
            gc("gc_pause_median_ns", millis3),
            gc("gc_pause_total_ns", millis3),
            gc("gc_mark_cpu_ns", secs),
        );
    }

    if let (Some(safe), Some(raw)) = (runs_of("safe"), runs_of(RAW)) {
        let r = |key: &str| ratio(med(safe, key).unwrap(), med(raw, key).unwrap());
        println!(
            "\nThe safe API against the raw one (safe / {RAW}, medians): wall {}, process CPU {}, \
             mutator thread CPU {}, peak RSS {}.",
            r("wall_ns"),
            r("process_cpu_ns"),
            r("thread_cpu_ns"),
            r("peak_rss_kib"),
        );
    }

    println!("\nWall time per phase, ms (median of {reps} runs):\n");
    let mut header = "| phase |".to_string();
    let mut rule = "|---|".to_string();
    for (imp, _) in runs {
        write!(header, " {imp} |").unwrap();
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    for (i, (name, _)) in runs[0].1[0].phases.iter().enumerate() {
        let mut row = format!("| {name} |");
        for (_, rs) in runs {
            let v = median(rs.iter().map(|r| r.phases[i].1));
            write!(row, " {} |", millis(v)).unwrap();
        }
        println!("{row}");
    }
    println!();
    ratios
}

const USAGE: &str = "throughput [--depth N] [--reps N] [--workload binary-trees|gcbench|all] \
                     [--impl tricolor,headed,safe,box+mimalloc,arena] [--timeout SECONDS] \
                     [--plots DIR | --no-plots]\n\
                     (THROUGHPUT_DEPTH=N also sets the binary-trees depth)";

/// The command line.
struct Options {
    depth: u32,
    reps: usize,
    /// Seconds.
    timeout: u64,
    workloads: Vec<&'static str>,
    /// The implementations to run, in table order.
    impls: Vec<&'static str>,
    /// `--child WORKLOAD IMPL`: one run, in this process.
    child: Option<(String, String)>,
    /// Where the picture goes; `None` with `--no-plots`.
    plots: Option<std::path::PathBuf>,
}

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut o = Options {
        depth: match std::env::var("THROUGHPUT_DEPTH") {
            Ok(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("THROUGHPUT_DEPTH={v}: not a depth"))?,
            Err(_) => DEFAULT_DEPTH,
        },
        reps: 3,
        timeout: 600,
        workloads: WORKLOADS.to_vec(),
        impls: IMPLS.to_vec(),
        child: None,
        plots: Some(plot::default_dir()),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("depth") => o.depth = p.value()?.parse()?,
            Long("reps") => o.reps = p.value()?.parse()?,
            Long("timeout") => o.timeout = p.value()?.parse()?,
            Long("plots") => o.plots = Some(plot::resolve_dir(p.value()?.into())),
            Long("no-plots") => o.plots = None,
            Long("workload") => {
                let w = p.value()?.string()?;
                o.workloads = match WORKLOADS.into_iter().find(|&x| x == w) {
                    Some(x) => vec![x],
                    None if w == "all" => WORKLOADS.to_vec(),
                    None => return Err(format!("unknown workload {w:?}").into()),
                };
            }
            Long("impl") => {
                let chosen: Vec<String> = args::list(&mut p)?;
                if let Some(bad) = chosen.iter().find(|c| !IMPLS.contains(&c.as_str())) {
                    return Err(format!("unknown implementation {bad:?}").into());
                }
                o.impls = IMPLS
                    .into_iter()
                    .filter(|i| chosen.iter().any(|c| c == i))
                    .collect();
            }
            Long("child") => {
                let v = p.values()?.take(2).map(|v| v.string());
                let v: Vec<String> = v.collect::<Result<_, _>>()?;
                let [w, i] = <[String; 2]>::try_from(v)
                    .map_err(|_| "--child takes a workload and an implementation")?;
                o.child = Some((w, i));
            }
            // Passed by `cargo bench`.
            Long("bench") => {}
            _ => return Err(args::unexpected(arg, USAGE)),
        }
    }
    if o.reps == 0 || !(MIN_DEPTH..=26).contains(&o.depth) {
        return Err(format!("--reps must be at least 1 and --depth in {MIN_DEPTH}..=26").into());
    }
    if o.impls.is_empty() {
        return Err("--impl names no implementation".into());
    }
    Ok(o)
}

fn main() {
    let Options {
        depth,
        reps,
        timeout,
        workloads,
        impls,
        child: child_run,
        plots,
    } = args::or_exit(parse_options(), USAGE);
    if let Some((w, i)) = child_run {
        run_one(&w, &i, depth);
        return;
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# Throughput: binary-trees and GCBench ({cores} cores)\n");
    // Per workload: its name and each implementation's ratios.
    let mut pictured: Vec<(&str, Vec<Ratios>)> = Vec::new();
    for workload in workloads {
        let title = match workload {
            "binary-trees" => format!("binary-trees, depth {depth}"),
            _ => format!(
                "GCBench (long-lived tree {K_LONG_LIVED_TREE_DEPTH}, array {K_ARRAY_SIZE}, trees {K_MIN_TREE_DEPTH}..{K_MAX_TREE_DEPTH}, stretch {K_STRETCH_TREE_DEPTH})"
            ),
        };
        let mut runs: Vec<(&str, Vec<Run>)> = impls.iter().map(|&i| (i, Vec::new())).collect();
        for rep in 0..reps {
            // Interleaved: each round starts with the next implementation.
            for k in 0..impls.len() {
                let idx = (rep + k) % impls.len();
                let imp = impls[idx];
                let run = run_child(workload, imp, depth, Duration::from_secs(timeout));
                eprintln!(
                    "{workload} {imp} (round {}/{reps}): {} s",
                    rep + 1,
                    secs(run.stat("wall_ns").unwrap())
                );
                runs[idx].1.push(run);
            }
        }
        pictured.push((workload, report(&title, &runs, reps)));
    }
    if let Some(dir) = plots {
        if impls.contains(&BASELINE) {
            draw_bars(&dir, depth, &impls, &pictured);
        }
    }
}

/// Writes `throughput.svg` in `dir`: per workload, wall time and peak RSS
/// of each implementation against the baseline, and says where it is.
fn draw_bars(dir: &std::path::Path, depth: u32, impls: &[&str], pictured: &[(&str, Vec<Ratios>)]) {
    let mut groups: Vec<plot::BarGroup> = Vec::new();
    for (workload, ratios) in pictured {
        let name = match *workload {
            "binary-trees" => format!("binary-trees {depth}"),
            _ => "GCBench".to_string(),
        };
        groups.push((
            format!("{name}: wall"),
            ratios.iter().map(|r| r.0).collect(),
        ));
        groups.push((
            format!("{name}: peak RSS"),
            ratios.iter().map(|r| r.1).collect(),
        ));
    }
    let bars: Vec<String> = impls.iter().map(|i| i.to_string()).collect();
    let path = dir.join("throughput.svg");
    let r = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            plot::ratio_bars(
                &path,
                &format!("Throughput and memory against {BASELINE} (medians; lower is better)"),
                &format!("× {BASELINE}"),
                &bars,
                &groups,
            )
        });
    match r {
        Ok(()) => println!("Picture: {}", path.display()),
        Err(e) => println!("Picture {}: not drawn ({e})", path.display()),
    }
}
