//! The embedding contract as a new user meets it: what `collect` promises
//! when it returns, from which threads a heap may be collected, errors the
//! Rust way (`alloc` and `try_alloc`, failed collections as values), the
//! type table's limit, and which heap figure means what.
//!
//! Each test failed before the change it pins down.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::ALL_MODES;
use tricolor_collector::{
    Config, DescriptorError, GcAllocError, Heap, HeapAlloc, TypeDescriptor, MAX_TYPES,
};

/// The panic message of `f`, which must panic.
fn panic_of(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the call should panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A heap with no background sweeper: what is swept when `collect`
/// returns is what `collect` swept.
fn heap_without_sweeper(mode: tricolor_collector::BarrierMode) -> Heap {
    Heap::new(Config {
        barrier: mode,
        background_sweeper: false,
        ..Config::default()
    })
}

/// `collect` returns with the sweep finished (as Go's `runtime.GC`): the
/// exact heap figure then counts the rooted objects only. It used to return
/// right after mark termination, with every dead object still counted.
#[test]
fn collect_returns_with_the_garbage_swept() {
    for mode in ALL_MODES {
        let heap = heap_without_sweeper(mode);
        let node = heap
            .register_type(TypeDescriptor::fixed("Node", 3, &[0]))
            .unwrap();
        let blob = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
        let mut m = heap.attach().unwrap();
        let kept = m.alloc(node, 0);
        m.push_root(Some(kept));
        // 8 MiB of garbage: small objects and large ones.
        for i in 0..100_000 {
            m.alloc(node, 0);
            if i % 1000 == 0 {
                m.alloc(blob, 40_000);
            }
        }
        m.collect();
        assert_eq!(
            m.heap_alloc(),
            HeapAlloc {
                bytes: 32,
                objects: 1
            },
            "{mode}: after Mutator::collect only the rooted node is allocated"
        );
        // The same through a thread that is not attached.
        for _ in 0..1000 {
            m.alloc(node, 0);
        }
        let h = heap.clone();
        let from_outside = std::thread::spawn(move || {
            h.collect();
            h.heap_alloc()
        });
        let after = m.native(|| from_outside.join().unwrap());
        assert_eq!(after.objects, 1, "{mode}: after Heap::collect");
    }
}

/// A thread whose mutator is in native state has promised not to touch the
/// heap, so it may collect through the heap, flush the allocation counts
/// and read the exact figures. It used to panic because it was attached.
#[test]
fn a_native_mutators_thread_may_collect_through_the_heap() {
    let heap = heap_without_sweeper(tricolor_collector::BarrierMode::Hybrid);
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 1, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    for _ in 0..10 {
        m.alloc(node, 0);
    }
    let (allocated, after) = m.native(|| {
        heap.flush_allocation_stats();
        let allocated = heap.stats().heap.heap_alloc_flushed_objects();
        heap.collect();
        (allocated, heap.heap_alloc())
    });
    assert_eq!(allocated, 10, "the flush reached this thread's own cache");
    assert_eq!(after.objects, 0, "nothing was rooted");
    let cycles = heap.stats().cycles;
    // A begun cycle too: the stepper's handshakes act for this thread's
    // native mutator.
    m.native(|| heap.begin_cycle().finish());
    assert_eq!(heap.stats().cycles, cycles + 1);
}

/// A running mutator's thread must not wait for the collector from outside
/// its mutator (the world could not stop): the call panics at once, saying
/// what to do instead, rather than deadlocking.
#[test]
fn a_running_mutators_thread_is_told_to_collect_through_its_mutator() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach().unwrap();
    for (what, call) in [
        (
            "Heap::collect",
            Box::new(|| heap.collect()) as Box<dyn FnOnce()>,
        ),
        (
            "Heap::flush_allocation_stats",
            Box::new(|| heap.flush_allocation_stats()),
        ),
        (
            "Heap::heap_alloc",
            Box::new(|| {
                heap.heap_alloc();
            }),
        ),
        (
            "Heap::wait_for_finalizers",
            Box::new(|| heap.wait_for_finalizers()),
        ),
    ] {
        let msg = panic_of(call);
        assert!(
            msg.contains(what) && msg.contains("native state"),
            "{what}: {msg}"
        );
    }
    let msg = panic_of(|| drop(heap.begin_cycle()));
    assert!(
        msg.contains("begin_cycle") && msg.contains("native state"),
        "{msg}"
    );
    m.collect(); // the mutator's own call works
}

/// `alloc` is infallible for the common case and panics with the reason;
/// `try_alloc` returns the same reason as an error.
#[test]
fn alloc_panics_where_try_alloc_returns_the_error() {
    let heap = Heap::new(Config {
        max_object_size: 1 << 20,
        ..Config::default()
    });
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 2, &[0]))
        .unwrap();
    let buf = heap.register_type(TypeDescriptor::bytes("Buffer")).unwrap();
    let mut m = heap.attach().unwrap();
    let e = m.try_alloc(node, 3).unwrap_err();
    assert!(matches!(e, GcAllocError::BadLength { len: 3, .. }), "{e}");
    let msg = panic_of(|| {
        m.alloc(node, 3);
    });
    assert!(
        msg.contains("allocation failed") && msg.contains(&e.to_string()),
        "{msg}"
    );
    let e = m.try_alloc(buf, 2 << 20).unwrap_err();
    assert!(matches!(e, GcAllocError::Alloc(_)), "{e}");
    let msg = panic_of(|| {
        m.alloc(buf, 2 << 20);
    });
    assert!(msg.contains(&e.to_string()), "{msg}");
    // The mutator is still usable after a caught allocation panic.
    let ok = m.alloc(node, 0);
    m.push_root(Some(ok));
    m.collect();
}

/// A failed collection is a value: `try_collect` returns it, the heap
/// reports it, every later collection returns the same error, and `collect`
/// panics with its message. It used to be only a panic on every waiter.
#[test]
fn a_failed_collection_is_an_error_value() {
    let heap = Heap::new(Config::default());
    let mut m = heap.attach().unwrap();
    m.set_root_scanner(Some(Box::new(|_| {
        panic!("the interpreter stack is corrupt")
    })));
    let e = m.try_collect().unwrap_err();
    assert!(
        e.message().contains("the interpreter stack is corrupt"),
        "{e}"
    );
    assert_eq!(heap.failure().as_ref(), Some(&e));
    m.set_root_scanner(None);
    assert_eq!(
        m.try_collect(),
        Err(e.clone()),
        "a failed heap runs no more cycles"
    );
    let h = heap.clone();
    let outside = m.native(|| std::thread::spawn(move || h.try_collect()).join().unwrap());
    assert_eq!(outside, Err(e.clone()));
    let msg = panic_of(|| m.collect());
    assert!(
        msg.contains("a collection failed") && msg.contains(e.message()),
        "{msg}"
    );
}

/// The type table's limit is public, and going past it is an error naming
/// the type and the limit.
#[test]
fn the_type_table_limit_is_a_clear_error() {
    let heap = Heap::new(Config::default());
    for i in 0..MAX_TYPES {
        heap.register_type(TypeDescriptor::fixed(format!("T{i}"), 1, &[]))
            .unwrap_or_else(|e| panic!("type {i} of {MAX_TYPES}: {e}"));
    }
    let e = heap
        .register_type(TypeDescriptor::fixed("OneTooMany", 1, &[]))
        .unwrap_err();
    assert!(
        matches!(&e, DescriptorError::TooManyTypes { name } if name == "OneTooMany"),
        "{e:?}"
    );
    assert!(e.to_string().contains(&MAX_TYPES.to_string()), "{e}");
}

/// Which figure is which: `GcStats::marked_bytes` is what the last mark
/// found; `heap_alloc` is what is allocated now, exact; the allocator's
/// flushed count lags a running mutator's cache until a flush.
#[test]
fn heap_figures_say_what_they_count() {
    let heap = heap_without_sweeper(tricolor_collector::BarrierMode::Hybrid);
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 1, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let kept = m.alloc(node, 0);
    m.push_root(Some(kept));
    m.collect();
    assert_eq!(heap.stats().marked_bytes, 16, "one 16-byte slot marked");
    for _ in 0..100 {
        m.alloc(node, 0);
    }
    // Still in this mutator's cache: the flushed count has not seen them.
    let flushed = heap.stats().heap.heap_alloc_flushed_objects();
    let exact = m.heap_alloc();
    assert_eq!(exact.objects, 101);
    assert_eq!(exact.bytes, 101 * 16);
    assert!(
        flushed < exact.objects,
        "{flushed} flushed of {}",
        exact.objects
    );
    assert_eq!(
        heap.stats().marked_bytes,
        16,
        "unchanged until the next mark"
    );
}
