//! Multi-threaded stress: several allocating threads, a background sweeper,
//! parallel marking, and lazy sweeping by cache refills, all racing over the
//! same centrals. Fixed seeds, a fixed number of cycles.
//!
//! Checked every cycle:
//! - every object a thread kept still holds its stamp (nothing freed early or
//!   handed out twice), and every new object is zeroed;
//! - each span is swept exactly once per cycle: the number of sweeps in a
//!   cycle equals the number of spans in use when it started (a second sweep
//!   of a span would also panic inside the allocator);
//! - accounting balances exactly at the end of each cycle.

mod common;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::{check_stamp, is_zeroed, object_size, stamp, Rng};
use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap};

const THREADS: usize = 4;
const CYCLES: usize = 12;
const ALLOCS_PER_CYCLE: usize = 6_000;

#[derive(Clone, Copy)]
struct Obj {
    ptr: NonNull<u8>,
    size: usize,
    tag: u64,
}
// SAFETY (test): the pointer is only dereferenced by the thread that owns the
// object, or by the marker while the owner waits at a barrier.
unsafe impl Send for Obj {}

fn stress(poison: bool, seed: u64) {
    let heap = PageHeap::new(Config {
        poison,
        ..Config::default()
    });
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let kept: Arc<Vec<Mutex<Vec<Obj>>>> =
        Arc::new((0..THREADS).map(|_| Mutex::new(Vec::new())).collect());
    let stop = Arc::new(AtomicBool::new(false));

    // The background sweeper races with the allocating threads' lazy sweeps.
    // So that both kinds take part whatever the scheduling, the coordinator
    // holds the allocating threads back in the first sweep cycle until the
    // sweeper has swept a span, and holds the sweeper back (`hold`, which
    // it acknowledges in `held`) for all of the second.
    // `looks` counts its calls of `sweep_one`, `swept` those that swept.
    let (looks, swept) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let hold = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicBool::new(false));
    let sweeper = {
        let (heap, stop) = (heap.clone(), stop.clone());
        let (looks, swept) = (looks.clone(), swept.clone());
        let (hold, held) = (hold.clone(), held.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if hold.load(Ordering::SeqCst) {
                    held.store(true, Ordering::SeqCst);
                    thread::yield_now();
                    continue;
                }
                held.store(false, Ordering::SeqCst);
                looks.fetch_add(1, Ordering::SeqCst);
                match heap.sweep_one() {
                    Some(_) => {
                        swept.fetch_add(1, Ordering::SeqCst);
                    }
                    None => thread::yield_now(),
                }
            }
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let heap = heap.clone();
            let barrier = barrier.clone();
            let kept = kept.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(seed ^ ((t as u64 + 1) * 0x1234_5678));
                let mut cache = Cache::new(heap.clone());
                let mut tag = (t as u64) << 48;
                for _ in 0..CYCLES {
                    // Mutate: allocate, keep some, check what is kept.
                    let mut mine = std::mem::take(&mut *kept[t].lock().unwrap());
                    for i in 0..ALLOCS_PER_CYCLE {
                        let size = object_size(&mut rng, 96 * 1024);
                        let kind = if rng.one_in(4) {
                            ObjectKind::NoScan
                        } else {
                            ObjectKind::Scan
                        };
                        let ptr = cache.alloc(size, kind).expect("allocation");
                        assert!(
                            is_zeroed(ptr, size.min(4096)),
                            "thread {t}: object not zeroed"
                        );
                        let rounded = size.max(8) & !7;
                        tag += 1;
                        stamp(ptr, rounded, tag);
                        if rng.chance(15, 100) {
                            mine.push(Obj {
                                ptr,
                                size: rounded,
                                tag,
                            });
                        }
                        if i % 997 == 0 {
                            for o in &mine {
                                assert!(
                                    check_stamp(o.ptr, o.size, o.tag),
                                    "thread {t}: object {:#x} overwritten",
                                    o.tag
                                );
                            }
                        }
                    }
                    // Drop about a third of what was kept.
                    mine.retain(|_| rng.below(3) != 0);
                    *kept[t].lock().unwrap() = mine;
                    cache.release_all();
                    barrier.wait(); // 1: world stopped, caches released
                    barrier.wait(); // 2: previous sweep finished by the coordinator
                                    // Mark in parallel with the other threads.
                    for o in kept[t].lock().unwrap().iter() {
                        assert!(heap.mark(o.ptr.as_ptr() as usize));
                    }
                    barrier.wait(); // 3: marking done
                    barrier.wait(); // 4: sweep cycle started
                }
            })
        })
        .collect();

    let mut marked_prev = 0u64;
    let mut cycle_start: Option<(usize, u64)> = None; // (spans in use, sweeps so far)
    for cycle in 0..CYCLES {
        barrier.wait(); // 1: all caches released
        heap.finish_sweep();
        assert!(heap.sweep_done());
        let s = heap.stats();
        if let Some((spans, swept_before)) = cycle_start {
            assert_eq!(
                s.spans_swept_total - swept_before,
                spans as u64,
                "cycle {cycle}: each span in use at the start of the sweep must be swept exactly once"
            );
        }
        // Live = survivors of the last mark + everything allocated since.
        assert_eq!(
            s.heap_alloc_flushed_objects(),
            marked_prev + (THREADS * ALLOCS_PER_CYCLE) as u64,
            "cycle {cycle}: object accounting"
        );
        assert_eq!(s.committed_bytes, s.in_use_bytes + s.idle_bytes);
        heap.verify().unwrap();
        barrier.wait(); // 2
        barrier.wait(); // 3: marked
        marked_prev = kept.iter().map(|k| k.lock().unwrap().len() as u64).sum();
        let s = heap.stats();
        cycle_start = Some((s.spans_in_use, s.spans_swept_total));
        hold.store(cycle == 1, Ordering::SeqCst);
        while cycle == 1 && !held.load(Ordering::SeqCst) && !sweeper.is_finished() {
            thread::yield_now();
        }
        let background_before = swept.load(Ordering::SeqCst);
        heap.start_sweep_cycle();
        // Until the sweeper has swept a span, or has made a whole call of
        // `sweep_one` since the sweep began (which, with every span unswept
        // and nobody else sweeping, must have swept one).
        let looks_before = looks.load(Ordering::SeqCst);
        while cycle == 0 && !sweeper.is_finished() {
            let looked = looks.load(Ordering::SeqCst);
            if swept.load(Ordering::SeqCst) > background_before || looked >= looks_before + 2 {
                break;
            }
            thread::yield_now();
        }
        barrier.wait(); // 4
    }
    for w in workers {
        w.join().unwrap();
    }
    heap.finish_sweep();
    stop.store(true, Ordering::Relaxed);
    sweeper.join().unwrap();
    let background = swept.load(Ordering::SeqCst);
    let s = heap.stats();
    let (spans, swept_before) = cycle_start.unwrap();
    assert_eq!(s.spans_swept_total - swept_before, spans as u64);
    assert_eq!(
        s.heap_alloc_flushed_objects(),
        marked_prev,
        "after the last sweep only marked objects remain"
    );
    heap.verify().unwrap();
    // Both kinds of sweeper took part (otherwise the race was not exercised).
    assert!(background > 0, "the background sweeper swept nothing");
    assert!(
        s.spans_swept_lazily_total > 0,
        "lazy sweeping by cache refills swept nothing"
    );
}

#[test]
fn threads_allocate_mark_and_sweep_concurrently() {
    stress(false, 0xC0FFEE);
}

#[test]
fn threads_allocate_mark_and_sweep_concurrently_with_poisoning() {
    stress(true, 0xBADC0DE);
}
