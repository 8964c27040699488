//! Misuse is caught with a message that says what was wrong.

use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap};

#[test]
#[should_panic(expected = "still held by caches")]
fn advancing_the_sweep_generation_with_cached_spans_panics() {
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    cache.alloc(64, ObjectKind::Scan).unwrap();
    heap.start_sweep_cycle();
}

#[test]
#[should_panic(expected = "not swept yet")]
fn starting_a_cycle_before_the_last_sweep_ends_panics() {
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    cache.alloc(64, ObjectKind::Scan).unwrap();
    cache.release_all();
    heap.start_sweep_cycle();
    heap.start_sweep_cycle();
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "is not a pointer into this heap")]
fn marking_a_foreign_pointer_panics_in_debug() {
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    cache.alloc(64, ObjectKind::Scan).unwrap();
    let local = 5u64;
    heap.mark(&local as *const u64 as usize);
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "is not a pointer into this heap")]
fn a_pointer_into_another_heap_is_foreign() {
    let a = PageHeap::new(Config::default());
    let b = PageHeap::new(Config::default());
    let mut cache_b = Cache::new(b.clone());
    let p = cache_b.alloc(64, ObjectKind::Scan).unwrap();
    a.mark(p.as_ptr() as usize);
}

#[test]
fn foreign_and_tail_addresses_are_not_objects() {
    let heap = PageHeap::new(Config::default());
    let mut cache = Cache::new(heap.clone());
    // 48-byte class: 170 objects per page and a 32-byte tail.
    let p = cache.alloc(48, ObjectKind::Scan).unwrap();
    let span = heap.span_of(p.as_ptr() as usize).unwrap();
    assert!(heap.find_object(span.base() + 170 * 48).is_none(), "tail");
    assert!(heap.find_object(0).is_none());
    assert!(heap.find_object(usize::MAX).is_none());
    assert!(heap.find_object(&heap as *const _ as usize).is_none());
}

#[test]
fn poisoning_fills_freed_objects() {
    let heap = PageHeap::new(Config {
        poison: true,
        ..Config::default()
    });
    let mut cache = Cache::new(heap.clone());
    let keep = cache.alloc(32, ObjectKind::Scan).unwrap();
    let dead = cache.alloc(32, ObjectKind::Scan).unwrap();
    // SAFETY (test): fresh objects we own.
    unsafe { dead.as_ptr().cast::<u64>().write(7) };
    heap.mark(keep.as_ptr() as usize);
    cache.release_all();
    heap.start_sweep_cycle();
    heap.finish_sweep();
    // SAFETY (test): the span survives (one object is live), so the dead slot
    // is still committed memory; reading it is what a use-after-free would do.
    let words = unsafe { std::slice::from_raw_parts(dead.as_ptr().cast::<u64>(), 4) };
    assert!(words.iter().all(|&w| w == tricolor_allocator::POISON_WORD));
    // And it comes back zeroed.
    let again = cache.alloc(32, ObjectKind::Scan).unwrap();
    assert_eq!(again, dead, "the freed slot is the next one handed out");
    // SAFETY (test): a fresh object we own.
    assert_eq!(unsafe { again.as_ptr().cast::<u64>().read() }, 0);
}
