//! The allocator against the operating system: resident memory really falls
//! after scavenging, released pages come back zeroed, the heap grows across
//! many arenas and several GiB of reservation, and limits give errors.
//!
//! These tests read the process's resident set size, so they run one at a
//! time (a process-wide lock) and compare generous margins.

mod common;

use std::ptr::NonNull;
use std::sync::Mutex;

use common::is_zeroed;
use tricolor_allocator::{
    resident_bytes, AllocError, Cache, Config, ObjectKind, PageHeap, ARENA_SIZE, PAGE_SIZE,
};

static RSS_LOCK: Mutex<()> = Mutex::new(());
const MIB: usize = 1 << 20;

fn collect_all(heap: &PageHeap, cache: &mut Cache) {
    heap.finish_sweep();
    cache.release_all();
    heap.start_sweep_cycle();
    heap.finish_sweep();
}

#[test]
fn scavenging_returns_memory_and_reuse_is_zeroed() {
    let _serial = RSS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    let base_rss = resident_bytes().expect("/proc/self/statm");

    // 192 MiB of 256-byte objects, every byte written: three arenas' worth.
    let n = 192 * MIB / 256;
    let mut objs: Vec<NonNull<u8>> = Vec::with_capacity(n);
    for _ in 0..n {
        let p = cache.alloc(256, ObjectKind::NoScan).unwrap();
        // SAFETY (test): a fresh 256-byte object we own.
        unsafe { p.as_ptr().write_bytes(0xA5, 256) };
        objs.push(p);
    }
    let full_rss = resident_bytes().unwrap();
    assert!(
        full_rss > base_rss + 150 * MIB,
        "writing 192 MiB should raise RSS: {base_rss} -> {full_rss}"
    );
    assert!(heap.stats().reserved_bytes >= 3 * ARENA_SIZE);

    // Nothing marked: everything dies, every span returns to the page heap.
    objs.clear();
    collect_all(&heap, &mut cache);
    let s = heap.stats();
    assert_eq!(s.heap_alloc_flushed_objects(), 0);
    assert_eq!(s.spans_in_use, 0);
    assert!(s.idle_dirty_bytes >= 190 * MIB);
    heap.verify().unwrap();

    let released = heap.scavenge(0);
    assert!(released >= 190 * MIB, "released only {released} bytes");
    let after_rss = resident_bytes().unwrap();
    assert!(
        after_rss + 150 * MIB < full_rss,
        "RSS did not fall after scavenging: {full_rss} -> {after_rss}"
    );
    assert_eq!(heap.stats().idle_dirty_bytes, 0);

    // Reuse: the same pages come back, zeroed, without the allocator
    // clearing them (the pages are known-zero after release).
    for _ in 0..n {
        let p = cache.alloc(256, ObjectKind::Scan).unwrap();
        assert!(is_zeroed(p, 256));
    }
    heap.verify().unwrap();
    assert_eq!(
        heap.stats().reserved_bytes,
        s.reserved_bytes,
        "no new arenas for reuse"
    );
}

#[test]
fn scavenger_keeps_the_retained_amount() {
    let _serial = RSS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    for _ in 0..(16 * MIB / 4096) {
        let p = cache.alloc(4096, ObjectKind::NoScan).unwrap();
        // SAFETY (test): a fresh object we own.
        unsafe { p.as_ptr().write_bytes(1, 4096) };
    }
    collect_all(&heap, &mut cache);
    let idle = heap.stats().idle_dirty_bytes;
    assert!(idle >= 15 * MIB);
    let released = heap.scavenge(4 * MIB);
    assert_eq!(released, idle - 4 * MIB);
    assert_eq!(heap.stats().idle_dirty_bytes, 4 * MIB);
    assert_eq!(
        heap.scavenge(4 * MIB),
        0,
        "nothing more above the retained amount"
    );
    heap.verify().unwrap();
}

#[test]
fn heap_grows_to_several_gib_of_reservation() {
    let _serial = RSS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    let base_rss = resident_bytes().unwrap();
    // 40 large objects of 100 MiB: each needs a 128 MiB reservation of its own.
    let mut big = Vec::new();
    for i in 0..40 {
        let p = cache.alloc(100 * MIB, ObjectKind::NoScan).unwrap();
        let addr = p.as_ptr() as usize;
        for off in [0, 1, 50 * MIB, 100 * MIB - 1] {
            let o = heap
                .find_object(addr + off)
                .expect("interior of a large object");
            assert_eq!(o.base(), addr, "object {i} offset {off}");
        }
        assert!(heap.find_object(addr + 100 * MIB).is_none(), "past the end");
        big.push(addr);
    }
    let s = heap.stats();
    assert!(
        s.reserved_bytes >= 5 * (1 << 30),
        "reserved {}",
        s.reserved_bytes
    );
    assert!(s.committed_bytes >= 4000 * MIB);
    // Fresh pages are known-zero: nothing was touched, so RSS barely moved.
    let rss = resident_bytes().unwrap();
    if !common::under_sanitizer() {
        assert!(
            rss < base_rss + 64 * MIB,
            "fresh large objects were touched: {base_rss} -> {rss}"
        );
    }
    // Small objects still work with all those arenas around.
    let small = cache.alloc(24, ObjectKind::Scan).unwrap();
    assert!(heap.find_object(small.as_ptr() as usize).is_some());

    // Keep every other large object.
    for &a in big.iter().step_by(2) {
        assert!(heap.mark(a));
    }
    collect_all(&heap, &mut cache);
    let s = heap.stats();
    assert_eq!(s.heap_alloc_flushed_objects(), 20);
    assert_eq!(s.heap_alloc_flushed_bytes(), 20 * 100 * MIB as u64);
    heap.verify().unwrap();
    // A freed large object's pages are reused for the next one of that size.
    let again = cache.alloc(100 * MIB, ObjectKind::Scan).unwrap();
    assert!(big.contains(&(again.as_ptr() as usize)));
    assert_eq!(heap.stats().reserved_bytes, s.reserved_bytes);
}

#[test]
fn limits_give_errors_not_aborts() {
    let heap = PageHeap::new(Config {
        max_heap_bytes: 2 * ARENA_SIZE,
        max_object_size: 100 * MIB,
        ..Config::default()
    });
    let mut cache = Cache::new(heap.clone());
    assert!(matches!(
        cache.alloc(0, ObjectKind::Scan),
        Err(AllocError::ZeroSize)
    ));
    let err = cache.alloc(100 * MIB + 1, ObjectKind::Scan).unwrap_err();
    assert!(matches!(err, AllocError::TooLarge { .. }));
    assert!(
        err.to_string().contains("exceeds the object size limit"),
        "{err}"
    );

    // One 100 MiB object takes both arenas' worth of the limit...
    cache.alloc(100 * MIB, ObjectKind::NoScan).unwrap();
    // ...so the next growth fails with a clear error, and so does a small
    // allocation that needs a new arena.
    let err = cache.alloc(60 * MIB, ObjectKind::NoScan).unwrap_err();
    assert!(matches!(err, AllocError::HeapLimit { .. }), "{err}");
    assert!(err.to_string().contains("heap limit reached"), "{err}");
    // The heap is intact after the failure.
    heap.verify().unwrap();
    // 28 MiB remain committed-able in the second arena: small objects fit.
    for _ in 0..1000 {
        cache.alloc(1024, ObjectKind::Scan).unwrap();
    }
    heap.verify().unwrap();
}

#[test]
fn pages_are_page_aligned_and_spans_fill_arenas_exactly() {
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    let p = cache.alloc(PAGE_SIZE, ObjectKind::Scan).unwrap();
    assert_eq!(p.as_ptr() as usize % PAGE_SIZE, 0);
    let span = heap.span_of(p.as_ptr() as usize).unwrap();
    assert_eq!(span.base() % PAGE_SIZE, 0);
    assert_eq!(span.base() % ARENA_SIZE, 0, "first span starts the arena");
}
