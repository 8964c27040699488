//! The verification modes catch what they exist to catch. Each test builds
//! the bug the mode is meant to find and checks the message names it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use tricolor_collector::{Config, Edges, Heap, ObjectView, Shape, TypeDescriptor};

/// A trace callback that reports its referent only to the marker's first
/// pass: the kind of bug (a callback missing a case) that leaves a reachable
/// object white. Checkmark's independent re-trace must catch it.
static HIDE: AtomicBool = AtomicBool::new(false);

fn flaky_trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    // Report word 0 only every other call: the marker sees nothing, the
    // checkmark pass sees the referent.
    if !HIDE.fetch_xor(true, Ordering::SeqCst) {
        return;
    }
    edges.visit(view.word(0) as usize);
}

#[test]
fn checkmark_names_an_object_the_marker_missed_and_its_path() {
    let heap = Heap::new(Config {
        checkmark: true,
        mark_workers: 1,
        ..Config::default()
    });
    let holder = heap
        .register_type(TypeDescriptor::traced(
            "Holder",
            Shape::Fixed { words: 1 },
            flaky_trace,
            |w| (w != 0).then_some(w as usize),
        ))
        .unwrap();
    let leaf = heap
        .register_type(TypeDescriptor::fixed("Leaf", 1, &[]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let h = m.alloc(holder, 0);
    m.push_root(Some(h));
    let l = m.alloc(leaf, 0);
    // SAFETY (test): both live.
    unsafe { m.store_word(h, 0, l.addr() as u64) };
    HIDE.store(false, Ordering::SeqCst);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.collect()))
        .expect_err("checkmark must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("tricolor checkmark: `Leaf` object at"),
        "{msg}"
    );
    assert!(msg.contains("is reachable but was not marked"), "{msg}");
    assert!(
        msg.contains("shadow-stack slot 0 of mutator"),
        "path names the root: {msg}"
    );
    assert!(msg.contains("`Holder`@"), "path names the holder: {msg}");
}

#[test]
fn checkmark_passes_on_a_correct_heap() {
    let heap = Heap::new(checked_config());
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let root = m.push_root(None);
    for i in 0..5000 {
        let n = alloc(&mut m, &t, Kind::Node, i);
        let old = m.root(root);
        // SAFETY (test): fresh and rooted.
        unsafe { m.store(n, (i % 3) as usize, old) };
        m.set_root(root, Some(n));
    }
    m.collect();
    assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 5000);
}

#[test]
fn reaching_a_freed_object_is_reported() {
    let heap = Heap::new(checked_config());
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let keep = alloc(&mut m, &t, Kind::Node, 1);
    m.push_root(Some(keep));
    // A neighbour that keeps the span alive, and a victim that dies.
    let victim = alloc(&mut m, &t, Kind::Node, 2);
    m.collect();
    m.collect(); // the first cycle's sweep finished: the victim is freed and poisoned
                 // The VM bug: a pointer to the freed object is stored in a live one.
                 // SAFETY (test): deliberately breaks the contract; that is the bug under test.
    unsafe { m.store(keep, 0, Some(victim)) };
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.collect()))
        .expect_err("the collector must notice");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("freed"), "{msg}");
}

#[test]
fn gc_stress_collects_at_every_nth_allocation() {
    let heap = Heap::new(Config {
        gc_stress: std::num::NonZeroU32::new(25),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let root = m.push_root(None);
    for i in 0..1000 {
        let n = alloc(&mut m, &t, Kind::Node, i);
        let old = m.root(root);
        // SAFETY (test): fresh and rooted.
        unsafe { m.store(n, 0, old) };
        m.set_root(root, Some(n));
    }
    assert!(heap.stats().cycles >= 39, "cycles: {}", heap.stats().cycles);
    let mut cur = m.root(root);
    for i in (0..1000).rev() {
        let n = cur.unwrap();
        // SAFETY (test): reachable.
        assert!(unsafe { canary_ok(&m, Kind::Node, n, i) });
        cur = unsafe { m.load(n, 0) };
    }
}

#[test]
fn the_pacer_starts_cycles_and_bounds_the_heap() {
    let heap = Heap::new(Config::default());
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    // 64 MiB of garbage through a heap whose live set is tiny: with GOGC=100
    // and the 4 MiB minimum goal the heap must be collected many times.
    for _ in 0..(64 << 20) / 4096 {
        m.alloc(t.bytes, 4000);
    }
    let s = heap.stats();
    assert!(s.cycles >= 4, "only {} cycles", s.cycles);
    assert!(
        s.heap.in_use_bytes < 32 << 20,
        "heap grew to {} bytes",
        s.heap.in_use_bytes
    );
}

#[test]
fn gc_stress_counts_explicit_safepoints_too() {
    let heap = Heap::new(Config {
        gc_stress: std::num::NonZeroU32::new(1),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let n = alloc(&mut m, &t, Kind::Node, 9);
    let slot = m.push_root(Some(n));
    let before = heap.stats().cycles;
    for _ in 0..10 {
        m.safepoint();
    }
    assert_eq!(
        heap.stats().cycles - before,
        10,
        "one collection per poll at N = 1"
    );
    // SAFETY (test): rooted.
    assert!(unsafe { canary_ok(&m, Kind::Node, m.root(slot).unwrap(), 9) });
}

/// A trace callback that reports an interior pointer: the marker must refuse
/// it and say where it came from.
fn interior_trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    edges.visit(view.word(0) as usize + 8);
}

#[cfg(debug_assertions)]
#[test]
fn a_bad_pointer_from_a_trace_callback_is_named() {
    let heap = Heap::new(checked_config());
    let holder = heap
        .register_type(TypeDescriptor::traced(
            "Holder",
            Shape::Fixed { words: 1 },
            interior_trace,
            |_| None,
        ))
        .unwrap();
    let leaf = heap
        .register_type(TypeDescriptor::fixed("Leaf", 2, &[]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let h = m.alloc(holder, 0);
    m.push_root(Some(h));
    let l = m.alloc(leaf, 0);
    m.push_root(Some(l));
    // SAFETY (test): both live.
    unsafe { m.store_word(h, 0, l.addr() as u64) };
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.collect()))
        .expect_err("must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("trace callback of `Holder`"), "{msg}");
    assert!(msg.contains("interior pointer"), "{msg}");
}
