//! The collector's main scenarios, written against the safe API (no raw
//! object access; `unsafe` only to switch the barrier off in a control, to
//! free a mutator borrowed for `'static` in two misuse tests, and
//! in a deliberately wrong `Trace`), with checkmark, the verifier and
//! poisoning on wherever a heap is made:
//!
//! - three mutator threads allocate and rewire a shared graph through two
//!   [`Global`]s (a table and a mailbox), hide objects in roots across GC
//!   points, take weak references and drop roots in native state, while a
//!   collector thread runs cycles back to back, the pacer starts its own
//!   and one thread forces one halfway (after a barrier the threads pass in
//!   native state): in each concurrent barrier mode (SATB, incremental
//!   update, hybrid). Afterwards every reachable node has its canary and
//!   its label, the heap holds exactly the reachable objects, every weak
//!   reference is set exactly when its node is reachable, and once the
//!   globals are cleared every label has been dropped exactly once;
//! - stores into members inside enum variants (types traced through a
//!   callback, whose stores take the word-decoding barrier), by two threads
//!   while cycles run, in each concurrent mode; a hand-written `Trace` that
//!   contradicts itself about its layout is refused;
//! - finalizers: run once, with the object and what it reaches intact; may
//!   allocate and resurrect through a `Global`; the resurrected object is
//!   not finalized again; its weak reference is cleared before the
//!   finalizer runs (Go's order) and its cleanup waits for the real death;
//!   a finalizer that never runs does not keep its heap alive;
//! - cleanups run once per dead object (cycles included), not for live or
//!   cancelled ones;
//! - weak references are cleared after death, not before, for objects in
//!   cycles too;
//! - ephemeron tables: an entry goes with its key, its value with it even
//!   when the value points back at the key;
//! - values with drop glue (a `String`, a `Vec`) are dropped exactly once
//!   after their object dies, cycles and self-loops included, with their
//!   members already null, and never while the object lives;
//! - the values a heap still owns when it is dropped (live objects, dead
//!   ones not yet swept, drops queued) are dropped with it, exactly once;
//! - a root dropped inside `Mutator::native` keeps its object until the
//!   mutator leaves native state, and a collection from another thread
//!   meanwhile needs nothing from the native thread;
//! - misuse that compiles but is refused at run time, each with its message:
//!   a root used with another mutator (another heap's, or the thread's next
//!   one), a projection outside the object (`Gc::set`, `Gc::get`), an object
//!   of one heap stored into another heap's object, global or ephemeron
//!   table.
//!
//! Fixed seeds and a fixed amount of work; threads meet at joins and
//! barriers, never after sleeps.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use tricolor::raw::{BarrierMode, Config, PacerConfig};
use tricolor::{Array, Data, EphemeronTable, Gc, Global, Heap, Member, Mutator, Root, Trace, Weak};
use tricolor_testkit::Rng;

/// The barrier modes that mark concurrently with the mutators.
const CONCURRENT_MODES: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// Joins the worker threads, then tells the collecting thread to stop
/// (`done`) and joins it; passes on the first panic of any of them after
/// all have been joined. Returns the workers' results.
fn join_all<R, C>(
    workers: Vec<thread::JoinHandle<R>>,
    done: &AtomicBool,
    collector: thread::JoinHandle<C>,
) -> Vec<R> {
    let mut results = Vec::new();
    let mut failure = None;
    for w in workers {
        match w.join() {
            Ok(r) => results.push(r),
            Err(p) => {
                failure.get_or_insert(p);
            }
        }
    }
    done.store(true, Ordering::Release);
    if let Err(p) = collector.join() {
        failure.get_or_insert(p);
    }
    if let Some(p) = failure {
        std::panic::resume_unwind(p);
    }
    results
}

/// Checkmark, the verifier and poisoning on; one mark worker; a small
/// minimum heap so that the pacer starts cycles of its own.
fn checked(mode: BarrierMode) -> Config {
    Config {
        barrier: mode,
        checkmark: true,
        verify: true,
        poison: true,
        mark_workers: 1,
        pacer: PacerConfig::concurrent().with_min_heap(256 << 10),
        ..Config::default()
    }
}

fn checked_heap(mode: BarrierMode) -> Heap {
    Heap::with_config(checked(mode))
}

/// Whether the tests run under a sanitizer (`.ci/sanitize`): less work.
fn under_sanitizer() -> bool {
    std::env::var_os("TRICOLOR_UNDER_SANITIZER").is_some()
}

/// Objects allocated in the heap now (exact: every cache flushed).
fn objects(m: &mut Mutator) -> u64 {
    m.heap_alloc().objects
}

fn canary(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FF_EE00_5AFE_0001
}

// ---- threads rewiring a shared graph ------------------------------------------

/// Drops of [`Label`]s, one counter per test (tests run in parallel).
static LABEL_DROPS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// A node's heap-allocated text: counts its drops.
#[derive(Data)]
struct Label {
    text: String,
    tally: usize,
}

impl Drop for Label {
    fn drop(&mut self) {
        LABEL_DROPS[self.tally].fetch_add(1, Ordering::SeqCst);
    }
}

/// Header-free (`Trace::HEADER_FREE`): the scenario runs its drops, weak
/// references and barrier on objects whose type is in their span.
#[derive(Trace)]
#[trace(header_free)]
struct Node {
    kids: [Member<Node>; 2],
    id: u64,
    canary: u64,
    label: Label,
}

const SLOTS: usize = 32;

#[derive(Trace)]
struct Table {
    slots: [Member<Node>; SLOTS],
}

fn new_node(m: &mut Mutator, id: u64, tally: usize) -> tricolor::Root<Node> {
    m.alloc(Node {
        kids: Default::default(),
        id,
        canary: canary(id),
        label: Label {
            text: id.to_string(),
            tally,
        },
    })
}

/// Panics unless `n` is intact: canary and label match its id.
fn check_node(n: Gc<'_, Node>) {
    assert_eq!(
        n.canary,
        canary(n.id),
        "node {} corrupted: a reachable object was freed",
        n.id
    );
    assert_eq!(n.label.text, n.id.to_string(), "node {}'s label", n.id);
}

/// What a mutator thread hands back: its weak references (with the id of
/// their node) and how many labelled nodes it allocated.
struct Report {
    weaks: Vec<(u64, Weak<Node>)>,
    allocated: usize,
}

struct Shared {
    table: Global<Table>,
    mailbox: Global<Node>,
    halfway: Rendezvous,
}

/// A barrier that a panicking thread breaks (a `std::sync::Barrier` would
/// leave the others waiting forever for a thread that died). Its state is
/// atomics, the lock and condition variable only put waiters to sleep: the
/// standard library is not instrumented under ThreadSanitizer, which then
/// cannot see a `Mutex` order the data it guards.
struct Rendezvous {
    arrived: AtomicUsize,
    failed: AtomicBool,
    parties: usize,
    sleep: Mutex<()>,
    cv: Condvar,
}

impl Rendezvous {
    fn new(parties: usize) -> Rendezvous {
        Rendezvous {
            arrived: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            parties,
            sleep: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Waits for every party, or returns as soon as one has failed.
    fn wait(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock, after the update: a waiter that saw the old state
        // is asleep by now (it held the lock until it slept), so it wakes.
        self.cv.notify_all();
        while self.arrived.load(Ordering::SeqCst) < self.parties
            && !self.failed.load(Ordering::SeqCst)
        {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        let _g = self.sleep.lock().unwrap_or_else(|e| e.into_inner());
        self.cv.notify_all();
    }
}

/// Breaks the rendezvous if its thread panics.
struct BreakOnPanic<'a>(&'a Rendezvous);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.fail();
        }
    }
}

/// One mutator's program: `ops` random steps over the shared table.
fn rewire(heap: Heap, shared: Arc<Shared>, thread: u64, ops: usize, tally: usize) -> Report {
    let _break = BreakOnPanic(&shared.halfway);
    let mut rng = Rng::new(0x5AFE_0000 + thread);
    let mut m = heap.attach().unwrap();
    let mut next_id = (thread + 1) << 40;
    let mut report = Report {
        weaks: Vec::new(),
        allocated: 0,
    };
    for step in 0..ops {
        if step == ops / 2 {
            // Every thread is here before thread 0 forces a collection,
            // which the others then mutate through. Wait in native state:
            // a running mutator that blocks would stall the collector.
            m.native(|| shared.halfway.wait());
            if thread == 0 {
                m.collect();
            }
        }
        let a = rng.below(SLOTS);
        let b = rng.below(SLOTS);
        match rng.below(13) {
            0..=2 => {
                // A new node (allocated black if a mark runs), linked to
                // what slots b and c hold, into slot a.
                let c = rng.below(SLOTS);
                let n = new_node(&mut m, next_id, tally);
                next_id += 1;
                report.allocated += 1;
                let tab = shared.table.get(&m).unwrap();
                let n = n.get(&m);
                n.set(|n| &n.kids[0], tab.get(|t| &t.slots[b]));
                n.set(|n| &n.kids[1], tab.get(|t| &t.slots[c]));
                tab.set(|t| &t.slots[a], Some(n));
            }
            3 | 4 => {
                // Move: slot a's node takes slot b's as a child, and slot b
                // is cleared (the only pointer to it may move).
                let tab = shared.table.get(&m).unwrap();
                if let (Some(x), Some(y)) = (tab.get(|t| &t.slots[a]), tab.get(|t| &t.slots[b])) {
                    if !Gc::ptr_eq(x, y) {
                        let k = rng.below(2);
                        x.set(|n| &n.kids[k], Some(y));
                        tab.set(|t| &t.slots[b], None);
                    }
                }
            }
            5 => {
                // Hide a subtree in a root across a GC point, then put it
                // back elsewhere.
                let tab = shared.table.get(&m).unwrap();
                if let Some(x) = tab.get(|t| &t.slots[a]) {
                    let hidden = x.root();
                    tab.set(|t| &t.slots[a], None);
                    if rng.one_in(8) {
                        m.collect();
                    } else {
                        m.safepoint();
                    }
                    let tab = shared.table.get(&m).unwrap();
                    tab.set(|t| &t.slots[b], Some(hidden.get(&m)));
                }
            }
            6 => {
                // Pull a grandchild up into the table, dropping its parent.
                let tab = shared.table.get(&m).unwrap();
                if let Some(x) = tab.get(|t| &t.slots[a]) {
                    let c = x.get(|n| &n.kids[0]);
                    x.set(|n| &n.kids[0], None);
                    tab.set(|t| &t.slots[b], c);
                }
            }
            7 => {
                // Walk a chain, checking every node.
                let tab = shared.table.get(&m).unwrap();
                let mut cur = tab.get(|t| &t.slots[a]);
                for _ in 0..16 {
                    let Some(n) = cur else { break };
                    check_node(n);
                    let k = rng.below(2);
                    cur = n.get(|n| &n.kids[k]);
                }
            }
            8 => {
                // Garbage: a chain of labelled nodes, closed into a cycle.
                let first = new_node(&mut m, next_id, tally);
                next_id += 1;
                let mut last = first.get(&m).root();
                for _ in 0..3 {
                    let n = new_node(&mut m, next_id, tally);
                    next_id += 1;
                    n.get(&m).set(|n| &n.kids[1], Some(last.get(&m)));
                    last = n;
                }
                first.get(&m).set(|n| &n.kids[1], Some(last.get(&m)));
                report.allocated += 4;
            }
            9 => {
                // Through the mailbox: take what it holds into slot a, and
                // post slot b's node.
                let tab = shared.table.get(&m).unwrap();
                let posted = tab.get(|t| &t.slots[b]);
                let taken = shared.mailbox.get(&m);
                shared.mailbox.set(posted);
                if let Some(t) = taken {
                    check_node(t);
                    tab.set(|t| &t.slots[a], Some(t));
                }
            }
            10 => {
                // A weak reference to slot a's node; or check an old one.
                let tab = shared.table.get(&m).unwrap();
                if rng.bool() {
                    if let Some(x) = tab.get(|t| &t.slots[a]) {
                        report.weaks.push((x.id, x.weak()));
                    }
                } else if !report.weaks.is_empty() {
                    let (id, w) = &report.weaks[rng.below(report.weaks.len())];
                    if let Some(x) = w.get(&m) {
                        assert_eq!(x.id, *id, "a weak reference changed objects");
                        check_node(x);
                    }
                }
            }
            11 => {
                // Unlink slot a's node, keeping it only in a root that is
                // dropped in native state (the slot is cleared on the way
                // out); any thread may collect meanwhile.
                let tab = shared.table.get(&m).unwrap();
                if let Some(x) = tab.get(|t| &t.slots[a]) {
                    let r = x.root();
                    let w = x.weak();
                    tab.set(|t| &t.slots[a], None);
                    m.native(move || drop(r));
                    if let Some(x) = w.get(&m) {
                        check_node(x);
                    }
                }
            }
            _ => m.safepoint(),
        }
    }
    report
}

/// Runs three mutators and a collector thread in `mode`; `tally` names the
/// run's label counter. `barrier_on: false` switches the write barrier off
/// (test-only), to show that this test catches what the barrier prevents.
fn threads_rewire_shared_graph(mode: BarrierMode, tally: usize, barrier_on: bool) {
    let ops = if under_sanitizer() { 4_000 } else { 20_000 };
    let threads = 3;
    let heap = checked_heap(mode);
    if !barrier_on {
        // SAFETY: none: a reachable object may be freed and then read. Only
        // for the control below, which expects a check to catch exactly
        // that (and which never runs under a sanitizer).
        unsafe { heap.raw() }.disable_barrier_for_testing(true);
    }
    let shared = Arc::new(Shared {
        table: heap.global(),
        mailbox: heap.global(),
        halfway: Rendezvous::new(threads),
    });
    let drops_before = LABEL_DROPS[tally].load(Ordering::SeqCst);
    {
        let mut m = heap.attach().unwrap();
        let t = m.alloc(Table {
            slots: Default::default(),
        });
        shared.table.set(Some(t.get(&m)));
    }
    // Cycles back to back until the mutators are done; how many run does
    // not matter, and each `collect` returns once its cycle is over.
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, done) = (heap.clone(), done.clone());
        thread::spawn(move || {
            let mut cycles = 0u64;
            while !done.load(Ordering::Acquire) {
                heap.collect();
                cycles += 1;
            }
            cycles
        })
    };
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let (heap, shared) = (heap.clone(), shared.clone());
            thread::spawn(move || rewire(heap, shared, i as u64, ops, tally))
        })
        .collect();
    let reports = join_all(workers, &done, collector);

    let mut m = heap.attach().unwrap();
    m.collect();
    // Everything reachable from the globals, checked.
    let reachable: HashSet<u64> = {
        let tab = shared.table.get(&m).unwrap();
        let mut stack: Vec<Gc<'_, Node>> = (0..SLOTS)
            .filter_map(|i| tab.get(|t| &t.slots[i]))
            .chain(shared.mailbox.get(&m))
            .collect();
        let mut seen = HashSet::new();
        while let Some(n) = stack.pop() {
            if seen.insert(n.id) {
                check_node(n);
                stack.extend(n.get(|n| &n.kids[0]));
                stack.extend(n.get(|n| &n.kids[1]));
            }
        }
        seen
    };
    assert_eq!(
        objects(&mut m),
        reachable.len() as u64 + 1,
        "{mode}: the heap holds the reachable nodes and the table, nothing else"
    );
    // A weak reference is set exactly while its node is reachable.
    for (id, w) in reports.iter().flat_map(|r| &r.weaks) {
        match w.get(&m) {
            Some(n) => {
                assert_eq!(n.id, *id);
                assert!(reachable.contains(id), "{mode}: weak of dead node {id} set");
            }
            None => assert!(
                !reachable.contains(id),
                "{mode}: weak of live node {id} cleared"
            ),
        }
    }
    let stats = heap.stats();
    assert_eq!(stats.last_cycle.as_ref().unwrap().barrier, mode);
    assert!(stats.cycles >= 2, "{mode}: {} cycles", stats.cycles);
    eprintln!(
        "{mode}: {} cycles, {} reachable",
        stats.cycles,
        reachable.len()
    );

    // Clear the globals: every label is dropped, each once.
    shared.table.set(None);
    shared.mailbox.set(None);
    m.collect();
    assert_eq!(objects(&mut m), 0);
    m.wait_for_finalizers();
    let allocated: usize = reports.iter().map(|r| r.allocated).sum();
    assert_eq!(
        LABEL_DROPS[tally].load(Ordering::SeqCst) - drops_before,
        allocated,
        "{mode}: every label dropped exactly once"
    );
}

#[test]
fn satb_threads_rewire_shared_graph() {
    threads_rewire_shared_graph(BarrierMode::Satb, 0, true);
}

#[test]
fn incremental_update_threads_rewire_shared_graph() {
    threads_rewire_shared_graph(BarrierMode::IncrementalUpdate, 1, true);
}

#[test]
fn hybrid_threads_rewire_shared_graph() {
    threads_rewire_shared_graph(BarrierMode::Hybrid, 2, true);
}

/// The control: the same program with the write barrier switched off loses
/// objects, and one of the checks says so. Which object is lost, and when,
/// depends on thread timing, so the program repeats (bounded) until a
/// failure is seen. Not under a sanitizer: a lost object's value is dropped
/// while a thread may still read it.
#[test]
fn without_the_barrier_the_graph_test_fails() {
    if under_sanitizer() {
        return;
    }
    for _ in 0..20 {
        let r =
            std::panic::catch_unwind(|| threads_rewire_shared_graph(BarrierMode::Hybrid, 3, false));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(
                [
                    "checkmark",
                    "verifier",
                    "corrupted",
                    "freed",
                    "poison",
                    "weak",
                    "label"
                ]
                .iter()
                .any(|w| msg.contains(w)),
                "unexpected failure: {msg}"
            );
            return;
        }
    }
    panic!("20 runs without the barrier lost nothing: the graph test cannot fail");
}

// ---- traced types: stores into enums ----------------------------------------------

/// A link whose members depend on the variant: the type is traced through a
/// callback, and stores into it take the word-decoding barrier.
#[derive(Trace)]
enum Link {
    One(Member<Item>),
    Two(Member<Item>, Member<Item>),
}

impl Link {
    /// Member `k` (of one or two).
    fn side(&self, k: usize) -> &Member<Item> {
        match (self, k) {
            (Link::One(a), _) | (Link::Two(a, _), 0) => a,
            (Link::Two(_, b), _) => b,
        }
    }
}

#[derive(Trace)]
struct Item {
    link: Link,
    id: u64,
    canary: u64,
}

#[derive(Trace)]
struct Shelf {
    slots: [Link; 16],
}

fn item(m: &mut Mutator, id: u64) -> tricolor::Root<Item> {
    m.alloc(Item {
        link: if id.is_multiple_of(2) {
            Link::Two(Member::null(), Member::null())
        } else {
            Link::One(Member::null())
        },
        id,
        canary: canary(id),
    })
}

fn check_item(i: Gc<'_, Item>) {
    assert_eq!(i.canary, canary(i.id), "item {} corrupted", i.id);
}

/// Two threads rewire members inside enum variants (of a shared shelf and
/// of its items) while a collector thread runs cycles back to back.
fn traced_types_keep_every_reachable_object(mode: BarrierMode) {
    let ops = if under_sanitizer() { 2_000 } else { 10_000 };
    let heap = checked_heap(mode);
    let shelf = Arc::new(heap.global::<Shelf>());
    {
        let mut m = heap.attach().unwrap();
        let s = m.alloc(Shelf {
            slots: std::array::from_fn(|_| Link::Two(Member::null(), Member::null())),
        });
        shelf.set(Some(s.get(&m)));
    }
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, done) = (heap.clone(), done.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                heap.collect();
            }
        })
    };
    let workers: Vec<_> = (0..2u64)
        .map(|t| {
            let (heap, shelf) = (heap.clone(), shelf.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(0x7EAC + t);
                let mut m = heap.attach().unwrap();
                let mut next_id = (t + 1) << 40;
                for _ in 0..ops {
                    let (a, b, k) = (rng.below(16), rng.below(16), rng.below(2));
                    match rng.below(5) {
                        0 | 1 => {
                            // A new item linked to what slot b holds, into slot a.
                            let i = item(&mut m, next_id);
                            next_id += 1;
                            let (s, i) = (shelf.get(&m).unwrap(), i.get(&m));
                            i.set(|i| i.link.side(0), s.get(|s| s.slots[b].side(k)));
                            s.set(|s| s.slots[a].side(k), Some(i));
                        }
                        2 => {
                            // Move an item under another, clearing its slot.
                            let s = shelf.get(&m).unwrap();
                            let x = s.get(|s| s.slots[a].side(0));
                            let y = s.get(|s| s.slots[b].side(1));
                            if let (Some(x), Some(y)) = (x, y) {
                                if !Gc::ptr_eq(x, y) {
                                    x.set(|i| i.link.side(k), Some(y));
                                    s.set(|s| s.slots[b].side(1), None);
                                }
                            }
                        }
                        3 => {
                            // Walk, checking.
                            let s = shelf.get(&m).unwrap();
                            let mut cur = s.get(|s| s.slots[a].side(k));
                            for _ in 0..16 {
                                let Some(i) = cur else { break };
                                check_item(i);
                                cur = i.get(|i| i.link.side(rng.below(2)));
                            }
                        }
                        _ => m.safepoint(),
                    }
                }
            })
        })
        .collect();
    join_all(workers, &done, collector);
    let mut m = heap.attach().unwrap();
    m.collect();
    let reachable = {
        let s = shelf.get(&m).unwrap();
        let mut stack: Vec<Gc<'_, Item>> = (0..16)
            .flat_map(|i| [s.get(|s| s.slots[i].side(0)), s.get(|s| s.slots[i].side(1))])
            .flatten()
            .collect();
        let mut seen = HashSet::new();
        while let Some(i) = stack.pop() {
            if seen.insert(i.id) {
                check_item(i);
                stack.extend(i.get(|i| i.link.side(0)));
                stack.extend(i.get(|i| i.link.side(1)));
            }
        }
        seen.len() as u64
    };
    assert_eq!(objects(&mut m), reachable + 1, "{mode}");
    shelf.set(None);
    m.collect();
    assert_eq!(objects(&mut m), 0, "{mode}");
}

#[test]
fn satb_stores_into_enums() {
    traced_types_keep_every_reachable_object(BarrierMode::Satb);
}

#[test]
fn incremental_update_stores_into_enums() {
    traced_types_keep_every_reachable_object(BarrierMode::IncrementalUpdate);
}

#[test]
fn hybrid_stores_into_enums() {
    traced_types_keep_every_reachable_object(BarrierMode::Hybrid);
}

/// A hand-written `Trace` whose `pointer_words` reports a traced layout but
/// which keeps the default `FIXED_MEMBERS` (fixed): `Gc::set` would pick the
/// wrong raw store, so registration refuses the type.
struct Inconsistent {
    next: Member<Res>,
}

// SAFETY: the one member is visited; `pointer_words` reports a traced
// layout, which is allowed (the contract's mistake is `FIXED_MEMBERS`).
unsafe impl Trace for Inconsistent {
    const NO_MEMBERS: bool = false;
    fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool {
        false
    }
    fn trace(&self, t: &mut tricolor::Tracer<'_>) {
        t.visit(&self.next);
    }
}

#[test]
#[should_panic(expected = "Trace::pointer_words and Trace::FIXED_MEMBERS disagree")]
fn a_trace_impl_that_contradicts_itself_is_refused() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    m.alloc(Inconsistent {
        next: Member::null(),
    });
}

// ---- finalizers and cleanups --------------------------------------------------

#[derive(Trace)]
struct Res {
    next: Member<Res>,
    id: u64,
}

fn res(m: &mut Mutator, id: u64) -> tricolor::Root<Res> {
    m.alloc(Res {
        next: Member::null(),
        id,
    })
}

#[test]
fn finalizer_runs_once_and_may_resurrect_through_a_global() {
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let saved = Arc::new(heap.global::<Res>());
        let runs = Arc::new(AtomicUsize::new(0));
        let cleanups = Arc::new(AtomicUsize::new(0));
        let mut m = heap.attach().unwrap();
        let obj = res(&mut m, 7);
        let child = res(&mut m, 8);
        obj.get(&m).set(|r| &r.next, Some(child.get(&m)));
        let weak = obj.get(&m).weak();
        let weak_child = child.get(&m).weak();
        {
            let (saved, runs) = (saved.clone(), runs.clone());
            obj.get(&m)
                .set_finalizer(move |m, r| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // The object and what it reaches are intact.
                    let o = r.get(m);
                    assert_eq!(o.id, 7);
                    assert_eq!(o.get(|r| &r.next).unwrap().id, 8);
                    // The finalizer thread allocates, and resurrects the
                    // object behind a new one.
                    let holder = res(m, 9);
                    holder.get(m).set(|h| &h.next, Some(r.get(m)));
                    saved.set(Some(holder.get(m)));
                })
                .unwrap();
        }
        assert!(
            obj.get(&m)
                .set_finalizer(|_, _| unreachable!("a second finalizer"))
                .is_err(),
            "one finalizer per object"
        );
        let c = cleanups.clone();
        obj.get(&m).add_cleanup(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        // Rooted: nothing runs.
        m.collect();
        m.wait_for_finalizers();
        assert_eq!(runs.load(Ordering::SeqCst), 0, "{mode}");
        drop((obj, child));
        m.collect();
        m.wait_for_finalizers();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{mode}");
        // Go's order: weak references are cleared before the finalizer
        // runs, and stay cleared after resurrection; what the object
        // reaches was kept for it, so its weak reference is set.
        assert!(weak.get(&m).is_none(), "{mode}");
        assert_eq!(weak_child.get(&m).unwrap().id, 8, "{mode}");
        // Resurrected: reachable from the global, whole, its cleanup waiting.
        let holder = saved.get(&m).unwrap();
        let o = holder.get(|h| &h.next).unwrap();
        assert_eq!((holder.id, o.id), (9, 7));
        assert_eq!(o.get(|r| &r.next).unwrap().id, 8);
        assert_eq!(cleanups.load(Ordering::SeqCst), 0, "{mode}");
        m.collect();
        m.wait_for_finalizers();
        assert_eq!(objects(&mut m), 3, "{mode}: holder, object, child");
        // Dead for good: not finalized again, and the cleanup runs.
        saved.set(None);
        m.collect();
        m.wait_for_finalizers();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{mode}: finalized once");
        assert_eq!(cleanups.load(Ordering::SeqCst), 1, "{mode}");
        assert!(weak_child.get(&m).is_none());
        assert_eq!(objects(&mut m), 0, "{mode}");
    }
}

/// Sets a flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The heap owns its pending finalizers; one that never ran must not keep
/// the heap alive (it once held a strong handle to it: a cycle through the
/// heap, which then kept its threads and memory forever).
#[test]
fn a_finalizer_that_never_ran_is_dropped_with_its_heap() {
    let dropped = Arc::new(AtomicBool::new(false));
    let heap = checked_heap(BarrierMode::Hybrid);
    let mut m = heap.attach().unwrap();
    let obj = res(&mut m, 1);
    let flag = DropFlag(dropped.clone());
    obj.get(&m).set_finalizer(move |_, _| drop(flag)).unwrap();
    // No collection: the finalizer never runs.
    drop((obj, m, heap));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the finalizer's closure outlived its heap"
    );
}

#[test]
fn cleanups_run_once_per_dead_object_cycles_included() {
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let mut m = heap.attach().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut kept = Vec::new();
        let mut cancelled = Vec::new();
        for i in 0..30u64 {
            let a = res(&mut m, i);
            let b = res(&mut m, 100 + i);
            // A two-object cycle with a cleanup on each object.
            a.get(&m).set(|r| &r.next, Some(b.get(&m)));
            b.get(&m).set(|r| &r.next, Some(a.get(&m)));
            for r in [&a, &b] {
                let ran = ran.clone();
                let h = r.get(&m).add_cleanup(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                });
                if i % 10 == 9 {
                    cancelled.push(h);
                }
            }
            if i % 3 == 0 {
                kept.push(a);
            }
        }
        for h in &cancelled {
            assert!(h.cancel(), "cancelled before its object died");
        }
        m.collect();
        m.wait_for_finalizers();
        // 30 pairs: 10 kept (i % 3 == 0), 3 cancelled (i = 9, 19, 29; 9 is
        // kept), so 20 - 2 = 18 dead pairs run both cleanups.
        assert_eq!(ran.load(Ordering::SeqCst), 36, "{mode}");
        assert_eq!(objects(&mut m), 20, "{mode}: the kept pairs");
        drop(kept);
        m.collect();
        m.wait_for_finalizers();
        // The kept pairs (one of them cancelled) run theirs now.
        assert_eq!(ran.load(Ordering::SeqCst), 36 + 18, "{mode}");
        assert_eq!(objects(&mut m), 0, "{mode}");
    }
}

// ---- weak references and ephemerons -----------------------------------------

#[test]
fn weak_references_are_cleared_after_death_not_before() {
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let mut m = heap.attach().unwrap();
        // A ring of 8, a self-loop, and a chain hanging off the ring.
        let ring: Vec<_> = (0..8).map(|i| res(&mut m, i)).collect();
        for i in 0..8 {
            ring[i]
                .get(&m)
                .set(|r| &r.next, Some(ring[(i + 1) % 8].get(&m)));
        }
        let lone = res(&mut m, 50);
        lone.get(&m).set(|r| &r.next, Some(lone.get(&m)));
        let tail = res(&mut m, 60);
        let weak_ring: Vec<Weak<Res>> = ring.iter().map(|r| r.get(&m).weak()).collect();
        let (weak_lone, weak_tail) = (lone.get(&m).weak(), tail.get(&m).weak());
        assert_eq!(weak_ring[0], ring[0].get(&m).weak(), "one weak per object");
        let entry = ring[3].get(&m).root();
        drop((ring, lone, tail));
        m.collect();
        // The ring lives through `entry`; the rest is dead.
        for (i, w) in weak_ring.iter().enumerate() {
            assert_eq!(w.get(&m).unwrap().id, i as u64, "{mode}");
        }
        assert!(
            weak_lone.is_cleared() && weak_lone.get(&m).is_none(),
            "{mode}"
        );
        assert!(weak_tail.is_cleared(), "{mode}");
        drop(entry);
        m.collect();
        assert!(weak_ring.iter().all(Weak::is_cleared), "{mode}");
        assert_eq!(objects(&mut m), 0);
    }
}

#[derive(Trace)]
struct Key {
    id: u64,
}

#[derive(Trace)]
struct Val {
    /// Back to the entry's key: must not keep the key alive.
    key: Member<Key>,
    id: u64,
}

#[test]
fn ephemeron_entries_go_with_their_keys() {
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let table = EphemeronTable::<Key, Val>::new(&heap);
        let mut m = heap.attach().unwrap();
        let mut keys = Vec::new();
        let mut weak_vals = Vec::new();
        for i in 0..20u64 {
            let k = m.alloc(Key { id: i });
            let v = m.alloc(Val {
                key: Member::null(),
                id: 1000 + i,
            });
            v.get(&m).set(|v| &v.key, Some(k.get(&m)));
            assert!(!table.insert(k.get(&m), v.get(&m)));
            weak_vals.push(v.get(&m).weak());
            keys.push(k);
        }
        // Drop the odd keys: their entries and values go, even though each
        // value points back at its key.
        let kept: Vec<_> = keys.into_iter().filter(|k| k.get(&m).id % 2 == 0).collect();
        m.collect();
        assert_eq!(table.len(), 10, "{mode}");
        for k in &kept {
            let k = k.get(&m);
            let v = table.get(k).unwrap();
            assert_eq!(v.id, 1000 + k.id, "{mode}");
            assert!(Gc::ptr_eq(v.get(|v| &v.key).unwrap(), k));
        }
        for (i, w) in weak_vals.iter().enumerate() {
            assert_eq!(w.get(&m).is_some(), i % 2 == 0, "{mode}: value {i}");
        }
        assert_eq!(objects(&mut m), 20, "{mode}: 10 keys, 10 values");
        assert!(table.remove(kept[0].get(&m)));
        drop(kept);
        m.collect();
        assert!(table.is_empty(), "{mode}");
        assert_eq!(objects(&mut m), 0, "{mode}");
    }
}

// ---- drops -------------------------------------------------------------------

/// Drops of [`Doc`]s, and drops that saw a member still set.
static DOC_DROPS: AtomicUsize = AtomicUsize::new(0);
static DOC_BAD_DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Doc {
    peer: Member<Doc>,
    title: String,
    words: Vec<u32>,
}

impl Drop for Doc {
    fn drop(&mut self) {
        // On the finalizer thread: the members are null, the data intact.
        let ok = self.peer.is_null()
            && self.title.starts_with("doc ")
            && self.words.len() == self.title.len();
        if !ok {
            DOC_BAD_DROPS.fetch_add(1, Ordering::SeqCst);
        }
        DOC_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

fn doc(m: &mut Mutator, i: u32) -> tricolor::Root<Doc> {
    let title = format!("doc {i}");
    let words = (0..title.len() as u32).collect();
    m.alloc(Doc {
        peer: Member::null(),
        title,
        words,
    })
}

#[test]
fn values_are_dropped_once_after_death_cycles_included() {
    // The one test that allocates `Doc`s, so the counters are its own.
    let mut expected = 0;
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let mut m = heap.attach().unwrap();
        let mut kept = Vec::new();
        for i in 0..40u32 {
            let a = doc(&mut m, i);
            match i % 4 {
                0 => {}                                           // alone
                1 => a.get(&m).set(|d| &d.peer, Some(a.get(&m))), // a self-loop
                _ => {
                    // A two-object cycle.
                    let b = doc(&mut m, 1000 + i);
                    a.get(&m).set(|d| &d.peer, Some(b.get(&m)));
                    b.get(&m).set(|d| &d.peer, Some(a.get(&m)));
                }
            }
            if i % 5 == 0 {
                kept.push(a);
            }
        }
        // 40 heads + 20 partners = 60 docs; kept: i = 0, 5, ..., 35, of
        // which i % 4 in {2, 3} (10, 15, 30, 35) keep a partner too.
        m.collect();
        m.wait_for_finalizers();
        expected += 60 - 12;
        assert_eq!(DOC_DROPS.load(Ordering::SeqCst), expected, "{mode}");
        assert_eq!(objects(&mut m), 12, "{mode}");
        // The kept values were not dropped: their data is whole.
        for k in &kept {
            let d = k.get(&m);
            assert!(d.title.starts_with("doc "));
            assert_eq!(d.words.len(), d.title.len());
        }
        drop(kept);
        m.collect();
        m.wait_for_finalizers();
        expected += 12;
        assert_eq!(DOC_DROPS.load(Ordering::SeqCst), expected, "{mode}");
        assert_eq!(objects(&mut m), 0, "{mode}");
    }
    assert_eq!(DOC_BAD_DROPS.load(Ordering::SeqCst), 0);
}

/// Drops of [`Note`]s, and drops that saw a member still set.
static NOTE_DROPS: AtomicUsize = AtomicUsize::new(0);
static NOTE_BAD_DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Note {
    peer: Member<Note>,
    text: String,
}

impl Drop for Note {
    fn drop(&mut self) {
        if !self.peer.is_null() || !self.text.starts_with("note") {
            NOTE_BAD_DROPS.fetch_add(1, Ordering::SeqCst);
        }
        NOTE_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

fn note(m: &mut Mutator, peer: Option<&tricolor::Root<Note>>) -> tricolor::Root<Note> {
    let n = m.alloc(Note {
        peer: Member::null(),
        text: "note".repeat(4),
    });
    n.get(m).set(|n| &n.peer, peer.map(|p| p.get(m)));
    n
}

/// The values a heap still owns when it goes are dropped with it, exactly
/// once: those of live objects (rooted, in a global, in cycles), of dead
/// objects no sweep has reached, and drops queued but not yet run. (They
/// were leaked: nothing dropped them, and their `String`s showed up as
/// leaks under AddressSanitizer.)
#[test]
fn values_left_in_the_heap_are_dropped_with_it() {
    // The one test that allocates `Note`s.
    for mode in CONCURRENT_MODES {
        let before = NOTE_DROPS.load(Ordering::SeqCst);
        let heap = checked_heap(mode);
        let global = heap.global::<Note>();
        let mut m = heap.attach().unwrap();
        // Live: a rooted ring of 4 and an object in the global.
        let first = note(&mut m, None);
        let mut last = first.get(&m).root();
        for _ in 0..3 {
            last = note(&mut m, Some(&last));
        }
        first.get(&m).set(|n| &n.peer, Some(last.get(&m)));
        let g = note(&mut m, None);
        global.set(Some(g.get(&m)));
        drop(g);
        // Dead and swept: their drops are queued, maybe run.
        for _ in 0..10 {
            note(&mut m, None);
        }
        m.collect();
        // Dead and never swept: no collection after these.
        for _ in 0..10 {
            note(&mut m, None);
        }
        drop((global, m, heap));
        assert_eq!(
            NOTE_DROPS.load(Ordering::SeqCst) - before,
            4 + 1 + 10 + 10,
            "{mode}: every value dropped once, by the time the heap is gone"
        );
        // The roots outlived their mutator and heap: inert, and dropped
        // without touching either.
        drop((first, last));
    }
    assert_eq!(NOTE_BAD_DROPS.load(Ordering::SeqCst), 0);
}

// ---- arrays ------------------------------------------------------------------

/// A piece of the shared board: its children are an array of members.
#[derive(Trace)]
struct Piece {
    kids: Member<Array<Member<Piece>>>,
    id: u64,
    canary: u64,
}

/// A pin: members inside enum variants, so an array of pins is traced
/// through a callback and its stores take the word-decoding barrier.
#[derive(Trace)]
enum Pin {
    One(Member<Piece>),
    Two(Member<Piece>, Member<Piece>),
}

impl Pin {
    fn side(&self, k: usize) -> &Member<Piece> {
        match (self, k) {
            (Pin::One(a), _) | (Pin::Two(a, _), 0) => a,
            (Pin::Two(_, b), _) => b,
        }
    }
}

const BOARD: usize = 32;

struct Board {
    /// An array of members (a pointer map: one range over the array).
    slots: Global<Array<Member<Piece>>>,
    /// An array of enums (traced).
    pins: Global<Array<Pin>>,
}

/// A fresh piece with `kids` children, each taken from a random board slot.
fn piece(m: &mut Mutator, board: &Board, rng: &mut Rng, id: u64, kids: usize) -> Root<Piece> {
    let arr = m.alloc_array(kids, |_| Member::null());
    let p = m.alloc(Piece {
        kids: Member::null(),
        id,
        canary: canary(id),
    });
    let (pg, ag) = (p.get(m), arr.get(m));
    pg.set(|p| &p.kids, Some(ag));
    let slots = board.slots.get(m).unwrap();
    for j in 0..kids {
        ag.set_at(j, |e| e, slots.get_at(rng.below(BOARD), |e| e));
    }
    p
}

fn check_piece(p: Gc<'_, Piece>) {
    assert_eq!(
        p.canary,
        canary(p.id),
        "piece {} corrupted: a reachable object was freed",
        p.id
    );
    let kids = p.get(|p| &p.kids).expect("every piece has its array");
    assert!((1..=3).contains(&kids.len()), "piece {}'s array", p.id);
}

/// Two threads rewire a board of arrays (members, and members in enum
/// variants) while a collector thread runs cycles back to back and the
/// pacer starts its own: new pieces with arrays of children, moves between
/// slots, pins and children (the only pointer to an object moved while a
/// mark runs), pieces hidden in roots across GC points, and the board's
/// array replaced by a copy allocated mid-mark.
///
/// `barrier_on: false` switches the write barrier off (test-only), for the
/// control below.
fn arrays_keep_every_reachable_object(mode: BarrierMode, barrier_on: bool) {
    let ops = if under_sanitizer() { 2_000 } else { 10_000 };
    let heap = checked_heap(mode);
    if !barrier_on {
        // SAFETY: none: a reachable object may be freed and then read. Only
        // for the control below, which expects a check to catch exactly
        // that (and which never runs under a sanitizer).
        unsafe { heap.raw() }.disable_barrier_for_testing(true);
    }
    let board = Arc::new(Board {
        slots: heap.global(),
        pins: heap.global(),
    });
    {
        let mut m = heap.attach().unwrap();
        let slots = m.alloc_array(BOARD, |_| Member::null());
        let pins = m.alloc_array(BOARD, |i| {
            if i % 2 == 0 {
                Pin::Two(Member::null(), Member::null())
            } else {
                Pin::One(Member::null())
            }
        });
        board.slots.set(Some(slots.get(&m)));
        board.pins.set(Some(pins.get(&m)));
    }
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (heap, done) = (heap.clone(), done.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                heap.collect();
            }
        })
    };
    let workers: Vec<_> = (0..2u64)
        .map(|t| {
            let (heap, board) = (heap.clone(), board.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(0xA77A + t);
                let mut m = heap.attach().unwrap();
                let mut next_id = (t + 1) << 40;
                for _ in 0..ops {
                    let (a, b, k) = (rng.below(BOARD), rng.below(BOARD), rng.below(2));
                    match rng.below(9) {
                        0 | 1 => {
                            let kids = 1 + rng.below(3);
                            let p = piece(&mut m, &board, &mut rng, next_id, kids);
                            next_id += 1;
                            let slots = board.slots.get(&m).unwrap();
                            slots.set_at(a, |e| e, Some(p.get(&m)));
                        }
                        2 => {
                            // Slot b's piece becomes a child of slot a's; slot
                            // b is cleared.
                            let slots = board.slots.get(&m).unwrap();
                            let x = slots.get_at(a, |e| e);
                            let y = slots.get_at(b, |e| e);
                            if let (Some(x), Some(y)) = (x, y) {
                                if !Gc::ptr_eq(x, y) {
                                    let kids = x.get(|p| &p.kids).unwrap();
                                    kids.set_at(k % kids.len(), |e| e, Some(y));
                                    slots.set_at(b, |e| e, None);
                                }
                            }
                        }
                        3 => {
                            // Between the board and the pins, both ways.
                            let (slots, pins) =
                                (board.slots.get(&m).unwrap(), board.pins.get(&m).unwrap());
                            if rng.bool() {
                                pins.set_at(a, |p| p.side(k), slots.get_at(b, |e| e));
                                slots.set_at(b, |e| e, None);
                            } else {
                                slots.set_at(a, |e| e, pins.get_at(b, |p| p.side(k)));
                                pins.set_at(b, |p| p.side(k), None);
                            }
                        }
                        4 => {
                            // A child pulled up into the board.
                            let slots = board.slots.get(&m).unwrap();
                            if let Some(x) = slots.get_at(a, |e| e) {
                                let kids = x.get(|p| &p.kids).unwrap();
                                let c = kids.get_at(0, |e| e);
                                kids.set_at(0, |e| e, None);
                                slots.set_at(b, |e| e, c);
                            }
                        }
                        5 => {
                            // Hidden in a root across a GC point.
                            let slots = board.slots.get(&m).unwrap();
                            if let Some(x) = slots.get_at(a, |e| e) {
                                let hidden = x.root();
                                slots.set_at(a, |e| e, None);
                                if rng.one_in(8) {
                                    m.collect();
                                } else {
                                    m.safepoint();
                                }
                                let slots = board.slots.get(&m).unwrap();
                                slots.set_at(b, |e| e, Some(hidden.get(&m)));
                            }
                        }
                        6 => {
                            // A walk down random children, checking.
                            let slots = board.slots.get(&m).unwrap();
                            let mut cur = slots.get_at(a, |e| e);
                            for _ in 0..16 {
                                let Some(p) = cur else { break };
                                check_piece(p);
                                let kids = p.get(|p| &p.kids).unwrap();
                                cur = kids.get_at(rng.below(kids.len()), |e| e);
                            }
                        }
                        7 if rng.one_in(8) => {
                            // The board's array replaced by a copy (stores
                            // into the old one meanwhile are lost: only
                            // reachability is checked).
                            let copy = m.alloc_array(BOARD, |_| Member::null());
                            let (old, new) = (board.slots.get(&m).unwrap(), copy.get(&m));
                            for i in 0..BOARD {
                                new.set_at(i, |e| e, old.get_at(i, |e| e));
                            }
                            board.slots.set(Some(new));
                        }
                        _ => m.safepoint(),
                    }
                }
            })
        })
        .collect();
    join_all(workers, &done, collector);
    let mut m = heap.attach().unwrap();
    m.collect();
    // Every reachable piece checked; objects: pieces, their arrays and the
    // board's two arrays.
    let pieces = {
        let (slots, pins) = (board.slots.get(&m).unwrap(), board.pins.get(&m).unwrap());
        let mut stack: Vec<Gc<'_, Piece>> = Vec::new();
        for i in 0..BOARD {
            stack.extend(slots.get_at(i, |e| e));
            stack.extend(pins.get_at(i, |p| p.side(0)));
            stack.extend(pins.get_at(i, |p| p.side(1)));
        }
        let mut seen = HashSet::new();
        while let Some(p) = stack.pop() {
            if seen.insert(p.id) {
                check_piece(p);
                let kids = p.get(|p| &p.kids).unwrap();
                stack.extend((0..kids.len()).filter_map(|j| kids.get_at(j, |e| e)));
            }
        }
        seen.len() as u64
    };
    assert_eq!(objects(&mut m), 2 * pieces + 2, "{mode}");
    eprintln!(
        "{mode}: {} cycles, {pieces} reachable pieces",
        heap.stats().cycles
    );
    board.slots.set(None);
    board.pins.set(None);
    m.collect();
    assert_eq!(objects(&mut m), 0, "{mode}");
}

#[test]
fn satb_arrays_rewired_while_cycles_run() {
    arrays_keep_every_reachable_object(BarrierMode::Satb, true);
}

#[test]
fn incremental_update_arrays_rewired_while_cycles_run() {
    arrays_keep_every_reachable_object(BarrierMode::IncrementalUpdate, true);
}

#[test]
fn hybrid_arrays_rewired_while_cycles_run() {
    arrays_keep_every_reachable_object(BarrierMode::Hybrid, true);
}

/// The control: without the write barrier, the array program loses
/// objects and checkmark or a check of the test says so (within a bounded
/// number of runs: which object is lost depends on thread timing). Not
/// under a sanitizer: a lost object may be read after it is freed.
#[test]
fn without_the_barrier_the_array_test_fails() {
    if under_sanitizer() {
        return;
    }
    for _ in 0..20 {
        let r = std::panic::catch_unwind(|| {
            arrays_keep_every_reachable_object(BarrierMode::Hybrid, false)
        });
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(
                [
                    "checkmark",
                    "verifier",
                    "corrupted",
                    "poison",
                    "array",
                    "hybrid"
                ]
                .iter()
                .any(|w| msg.contains(w)),
                "unexpected failure: {msg}"
            );
            return;
        }
    }
    panic!("20 runs without the barrier lost nothing: the array test cannot fail");
}

/// Drops of [`Bead`]s, and drops that saw a member still set or a bead
/// broken.
static BEAD_DROPS: AtomicUsize = AtomicUsize::new(0);
static BEAD_BAD_DROPS: AtomicUsize = AtomicUsize::new(0);

/// An array element with drop glue and a member back to its string.
#[derive(Trace)]
struct Bead {
    string: Member<Strand>,
    text: String,
}

impl Drop for Bead {
    fn drop(&mut self) {
        if !self.string.is_null() || !self.text.starts_with("bead ") {
            BEAD_BAD_DROPS.fetch_add(1, Ordering::SeqCst);
        }
        BEAD_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Holds an array of beads, each pointing back at it: a cycle through
/// array elements.
#[derive(Trace)]
struct Strand {
    beads: Member<Array<Bead>>,
}

fn strand(m: &mut Mutator, beads: usize) -> Root<Strand> {
    let s = m.alloc(Strand {
        beads: Member::null(),
    });
    let a = m.alloc_array(beads, |i| Bead {
        string: Member::null(),
        text: format!("bead {i}"),
    });
    let (sg, ag) = (s.get(m), a.get(m));
    sg.set(|s| &s.beads, Some(ag));
    for i in 0..beads {
        ag.set_at(i, |b| &b.string, Some(sg));
    }
    s
}

/// Every element of a dead array is dropped once, on the finalizer thread,
/// members already null; none of a live one; and the arrays a heap still
/// owns when it goes (live, dead and unswept) are dropped with it.
#[test]
fn array_elements_are_dropped_once_after_death_cycles_included() {
    // The one test that allocates `Bead`s.
    for mode in CONCURRENT_MODES {
        let before = BEAD_DROPS.load(Ordering::SeqCst);
        let heap = checked_heap(mode);
        let mut m = heap.attach().unwrap();
        let kept = strand(&mut m, 7);
        for n in 0..10 {
            strand(&mut m, n); // garbage at once, 0..=9 beads: 45
        }
        // A large object (a span of its own): its whole payload is moved out.
        strand(&mut m, 5_000);
        m.collect();
        m.wait_for_finalizers();
        assert_eq!(
            BEAD_DROPS.load(Ordering::SeqCst) - before,
            45 + 5_000,
            "{mode}"
        );
        assert_eq!(objects(&mut m), 2, "{mode}");
        let beads = kept.get(&m).get(|s| &s.beads).unwrap();
        assert_eq!(beads.as_slice()[6].text, "bead 6", "{mode}: kept intact");
        // Dead and never swept, then the heap goes with a live one too.
        strand(&mut m, 5);
        drop((m, heap));
        assert_eq!(
            BEAD_DROPS.load(Ordering::SeqCst) - before,
            45 + 5_000 + 5 + 7,
            "{mode}: every element dropped once, by the time the heap is gone"
        );
        drop(kept);
    }
    assert_eq!(BEAD_BAD_DROPS.load(Ordering::SeqCst), 0);
}

/// An array's bytes are the heap's: the pacer counts them.
#[test]
fn an_array_is_counted_in_the_heap() {
    let heap = checked_heap(BarrierMode::Hybrid);
    let mut m = heap.attach().unwrap();
    let before = m.heap_alloc().bytes;
    let a = m.alloc_array(1 << 20, |i| i as f64);
    assert!(m.heap_alloc().bytes - before >= 8 << 20);
    m.collect();
    assert_eq!(a.get(&m).as_slice()[12345], 12345.0);
}

// ---- native state ------------------------------------------------------------

#[test]
fn a_root_dropped_in_native_state_keeps_its_object_until_the_mutator_leaves() {
    for mode in CONCURRENT_MODES {
        let heap = checked_heap(mode);
        let mut m = heap.attach().unwrap();
        let obj = res(&mut m, 5);
        let other = res(&mut m, 6);
        let weak = obj.get(&m).weak();
        assert_eq!(m.root_counts(), (2, 2));
        let h = heap.clone();
        m.native(move || {
            drop(obj);
            // Another thread collects: it needs nothing from this one,
            // which is in native state, and the dropped root's slot is
            // still scanned.
            thread::spawn(move || h.collect()).join().unwrap();
        });
        assert_eq!(
            m.root_counts(),
            (1, 1),
            "{mode}: the slot cleared on leaving"
        );
        assert_eq!(weak.get(&m).unwrap().id, 5, "{mode}: kept while native");
        m.collect();
        assert!(weak.get(&m).is_none(), "{mode}");
        assert_eq!(other.get(&m).id, 6);
        drop(other);
        m.collect();
        assert_eq!(objects(&mut m), 0, "{mode}");
    }
}

// ---- misuse refused at run time ------------------------------------------------

#[test]
#[should_panic(expected = "Root::get with a mutator that did not make the root")]
fn a_root_used_with_another_heaps_mutator_panics() {
    let (a, b) = (Heap::new(), Heap::new());
    let mut ma = a.attach().unwrap();
    let mb = b.attach().unwrap();
    let r = res(&mut ma, 1);
    let _ = r.get(&mb);
}

#[test]
#[should_panic(expected = "Root::get with a mutator that did not make the root")]
fn a_root_used_with_the_threads_next_mutator_panics() {
    let heap = Heap::new();
    let mut first = heap.attach().unwrap();
    let r = res(&mut first, 1);
    drop(first);
    // The root outlived its mutator: inert, and refused by the next one.
    let second = heap.attach().unwrap();
    let _ = r.get(&second);
}

#[test]
#[should_panic(expected = "Root::set with a mutator that did not make the root")]
fn root_set_with_another_heaps_object_panics() {
    let (a, b) = (Heap::new(), Heap::new());
    let mut ma = a.attach().unwrap();
    let mut mb = b.attach().unwrap();
    let mut r = res(&mut ma, 1);
    let foreign = res(&mut mb, 2);
    r.set(foreign.get(&mb));
}

/// A member outside any object.
static STRAY: Member<Res> = Member::null();

#[test]
#[should_panic(expected = "Gc::set: the projection must select a member of this object")]
fn set_with_a_projection_outside_the_object_panics() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let (a, b) = (res(&mut m, 1), res(&mut m, 2));
    a.get(&m).set(|_| &STRAY, Some(b.get(&m)));
}

#[test]
#[should_panic(expected = "Gc::get: the projection must select a member of this object")]
fn get_with_a_projection_outside_the_object_panics() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = res(&mut m, 1);
    let _ = a.get(&m).get(|_| &STRAY);
}

#[test]
#[should_panic(expected = "Gc::set with a value of another mutator (another heap)")]
fn storing_an_object_of_another_heap_panics() {
    let (a, b) = (
        checked_heap(BarrierMode::Hybrid),
        checked_heap(BarrierMode::Hybrid),
    );
    let mut ma = a.attach().unwrap();
    let mut mb = b.attach().unwrap();
    let x = res(&mut ma, 1);
    let y = res(&mut mb, 2);
    x.get(&ma).set(|r| &r.next, Some(y.get(&mb)));
}

#[test]
#[should_panic(expected = "Global::set with an object of another heap")]
fn a_global_refuses_an_object_of_another_heap() {
    let (a, b) = (Heap::new(), Heap::new());
    let g = a.global::<Res>();
    let mut mb = b.attach().unwrap();
    let y = res(&mut mb, 2);
    g.set(Some(y.get(&mb)));
}

#[test]
#[should_panic(expected = "EphemeronTable::insert with an object of another heap")]
fn an_ephemeron_table_refuses_a_key_of_another_heap() {
    let (a, b) = (Heap::new(), Heap::new());
    let table = EphemeronTable::<Key, Val>::new(&a);
    let mut mb = b.attach().unwrap();
    let k = mb.alloc(Key { id: 1 });
    let v = mb.alloc(Val {
        key: Member::null(),
        id: 2,
    });
    table.insert(k.get(&mb), v.get(&mb));
}

/// The refusals leave the heaps usable: a panic in one of the calls above
/// unwinds through roots and mutators, which detach cleanly.
#[test]
fn a_refused_store_leaves_both_heaps_usable() {
    let (a, b) = (
        checked_heap(BarrierMode::Hybrid),
        checked_heap(BarrierMode::Satb),
    );
    let mut ma = a.attach().unwrap();
    let mut mb = b.attach().unwrap();
    let x = res(&mut ma, 1);
    let y = res(&mut mb, 2);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        x.get(&ma).set(|r| &r.next, Some(y.get(&mb)));
    }));
    assert!(r.is_err());
    assert!(x.get(&ma).get(|r| &r.next).is_none(), "nothing was stored");
    ma.collect();
    mb.collect();
    assert_eq!((x.get(&ma).id, y.get(&mb).id), (1, 2));
    assert_eq!((objects(&mut ma), objects(&mut mb)), (1, 1));
}

#[test]
#[should_panic(expected = "Gc::get_at: index 4 is out of bounds for an array of 4 elements")]
fn an_index_out_of_bounds_panics() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |_| Member::<Res>::null());
    let _ = a.get(&m).get_at(4, |e| e);
}

#[test]
#[should_panic(expected = "Gc::set_at: index 9 is out of bounds for an array of 4 elements")]
fn a_store_out_of_bounds_panics() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |_| Member::<Res>::null());
    a.get(&m).set_at(9, |e| e, None);
}

#[test]
#[should_panic(expected = "Gc::set_at: the projection must select a member of element 0")]
fn set_at_with_another_elements_member_panics() {
    // A projection returns a member that outlives its argument only if the
    // member is `'static`: here, through a mutator borrowed for `'static`.
    with_static_mutator(|m| {
        let a = m.alloc_array(4, |_| Member::<Res>::null());
        let x = res(m, 1);
        let m: &'static Mutator = m;
        let g = a.get(m);
        let elems = g.as_slice();
        g.set_at(0, |_| &elems[1], Some(x.get(m)));
    });
}

/// Runs `body` with a mutator borrowed for `'static` (what a projection
/// needs to return a member that outlives its argument), then frees the
/// mutator and its heap, also when `body` panics (the panic is passed on),
/// so the leak checker under AddressSanitizer has nothing to report.
fn with_static_mutator(body: impl FnOnce(&'static mut Mutator)) {
    let p = Box::into_raw(Box::new(Heap::new().attach().unwrap()));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `p` is a fresh box, freed only below, after `body` has
        // returned or unwound; `body` keeps the reference nowhere outside
        // itself, and its roots are dropped inside it.
        body(unsafe { &mut *p })
    }));
    // SAFETY: no reference to `*p` is alive any more (above).
    drop(unsafe { Box::from_raw(p) });
    if let Err(e) = r {
        std::panic::resume_unwind(e);
    }
}

#[test]
#[should_panic(expected = "Gc::get_at: the projection must select a member of element 2")]
fn get_at_with_a_projection_outside_the_array_panics() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |_| Member::<Res>::null());
    let _ = a.get(&m).get_at(2, |_| &STRAY);
}

/// `Gc::set` of the array object itself reaches only the array's own
/// `Array<E>` (its length): an element is not a member of it.
#[test]
#[should_panic(expected = "Gc::set: the projection must select a member of this object")]
fn set_on_an_array_with_an_element_panics() {
    with_static_mutator(|m| {
        let a = m.alloc_array(4, |_| Member::<Res>::null());
        let x = res(m, 1);
        let m: &'static Mutator = m;
        let g = a.get(m);
        let elems = g.as_slice();
        g.set(|_| &elems[0], Some(x.get(m)));
    });
}

#[test]
#[should_panic(expected = "Gc::set_at with a value of another mutator (another heap)")]
fn storing_an_object_of_another_heap_into_an_array_panics() {
    let (a, b) = (
        checked_heap(BarrierMode::Hybrid),
        checked_heap(BarrierMode::Hybrid),
    );
    let mut ma = a.attach().unwrap();
    let mut mb = b.attach().unwrap();
    let arr = ma.alloc_array(2, |_| Member::<Res>::null());
    let y = res(&mut mb, 2);
    arr.get(&ma).set_at(0, |e| e, Some(y.get(&mb)));
}
