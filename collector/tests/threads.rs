//! Several mutator threads attach, detach, enter and leave native code,
//! allocate, link, drop roots and collect, all at once; fixed seeds and a
//! fixed amount of work. Checkmark, the verifier and poisoning are on, so a
//! missed object or a bad pointer fails the cycle that meets it.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use tricolor_collector::{Config, Heap, ObjRef};

/// One thread's program: keep a rooted list of nodes, grow and shrink it,
/// hang garbage off it, and now and then do something disruptive.
fn worker(heap: Heap, types: Types, seed: u64, rounds: usize) -> u64 {
    let mut rng = Rng::new(seed);
    let mut cycles_asked = 0;
    let mut m = heap.attach().unwrap();
    // The list: root slot 0 is the head; the model is the ids in order.
    let head = m.push_root(None);
    let mut ids: Vec<u64> = Vec::new();
    let mut next_id = seed << 32;
    for round in 0..rounds {
        match rng.below(100) {
            0..=59 => {
                // Push a node (and some garbage).
                let n = alloc(&mut m, &types, Kind::Node, next_id);
                let old = m.root(head);
                // SAFETY (test): `n` is fresh, `old` is rooted.
                unsafe { m.store(n, 0, old) };
                m.set_root(head, Some(n));
                ids.push(next_id);
                next_id += 1;
                for _ in 0..rng.below(4) {
                    let g = alloc(&mut m, &types, Kind::Pairs(3), 0);
                    if rng.bool() {
                        // Garbage pointing into the live list.
                        // SAFETY (test): both live now.
                        unsafe { m.store(g, 0, Some(n)) };
                    }
                }
            }
            60..=79 if !ids.is_empty() => {
                // Pop a node.
                let h = m.root(head).unwrap();
                // SAFETY (test): the head is rooted; its field 0 is the rest.
                let rest = unsafe { m.load(h, 0) };
                m.set_root(head, rest);
                ids.pop();
            }
            80..=87 => {
                m.native(|| thread::sleep(Duration::from_micros(200)));
            }
            88..=91 => {
                m.collect();
                cycles_asked += 1;
            }
            92..=95 => {
                // Detach and re-attach: the list must survive through a
                // global root meanwhile.
                let g = heap.add_global(m.root(head));
                drop(m);
                thread::yield_now();
                m = heap.attach().unwrap();
                let h = m.push_root(g.get());
                assert_eq!(h, head);
            }
            _ => m.safepoint(),
        }
        if round % 64 == 0 {
            check_list(&m, head, &ids);
        }
    }
    m.collect();
    check_list(&m, head, &ids);
    cycles_asked
}

fn check_list(m: &tricolor_collector::Mutator, head: usize, ids: &[u64]) {
    // Walk from the head: newest first.
    let mut cur: Option<ObjRef> = m.root(head);
    for &id in ids.iter().rev() {
        let n = cur.expect("list shorter than the model");
        // SAFETY (test): reachable from a root.
        assert!(
            unsafe { canary_ok(m, Kind::Node, n, id) },
            "node {id:#x} corrupted"
        );
        // SAFETY (test): as above.
        cur = unsafe { m.load(n, 0) };
    }
    assert!(cur.is_none(), "list longer than the model");
}

fn run(threads: usize, rounds: usize, config: Config) {
    let heap = Heap::new(config);
    let types = Types::register(&heap);
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let heap = heap.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                worker(heap, types, 0xA11CE + t as u64, rounds)
            })
        })
        .collect();
    let asked: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let stats = heap.stats();
    assert!(stats.cycles >= asked.min(1), "cycles ran");
    assert!(stats.pause_max > Duration::ZERO);
}

#[test]
fn four_mutators_with_checkmark_verifier_and_poison() {
    run(4, 1500, checked_config());
}

#[test]
fn four_mutators_under_gc_stress() {
    let config = Config {
        gc_stress: std::num::NonZeroU32::new(97),
        ..checked_config()
    };
    run(4, 400, config);
}

#[test]
fn a_panicking_mutator_thread_detaches_cleanly() {
    let heap = Heap::new(checked_config());
    let types = Types::register(&heap);
    let h2 = heap.clone();
    let r = thread::spawn(move || {
        let mut m = h2.attach().unwrap();
        let n = alloc(&mut m, &types, Kind::Node, 1);
        m.push_root(Some(n));
        panic!("the VM thread fails");
    })
    .join();
    assert!(r.is_err());
    // The heap still collects: the dead thread is no longer a mutator, and
    // its roots are gone.
    heap.collect();
    heap.collect();
    assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
}

#[test]
fn a_mutator_blocked_in_native_code_does_not_hold_up_collection() {
    let heap = Heap::new(checked_config());
    let types = Types::register(&heap);
    let h2 = heap.clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let blocked = thread::spawn(move || {
        let mut m = h2.attach().unwrap();
        let n = alloc(&mut m, &types, Kind::Node, 7);
        let slot = m.push_root(Some(n));
        m.native(|| {
            ready_tx.send(()).unwrap();
            rx.recv().unwrap(); // blocks until the main thread has collected
        });
        // SAFETY (test): rooted throughout.
        assert!(unsafe { canary_ok(&m, Kind::Node, m.root(slot).unwrap(), 7) });
    });
    ready_rx.recv().unwrap();
    heap.collect(); // must not wait for the native thread
    heap.collect();
    assert_eq!(
        heap.stats().last_cycle.unwrap().objects_marked,
        1,
        "its roots were scanned for it"
    );
    tx.send(()).unwrap();
    blocked.join().unwrap();
}

#[test]
fn handshake_reaches_running_and_native_mutators() {
    let heap = Heap::new(checked_config());
    let types = Types::register(&heap);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Every mutator is attached before the first handshake.
    let attached = Arc::new(Barrier::new(4));
    let mut handles = Vec::new();
    for t in 0..3 {
        let heap = heap.clone();
        let stop = stop.clone();
        let attached = attached.clone();
        handles.push(thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            attached.wait();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if t == 2 {
                    m.native(|| thread::sleep(Duration::from_millis(1)));
                } else {
                    alloc(&mut m, &types, Kind::Bytes, 0);
                    n += 1;
                }
            }
            n
        }));
    }
    attached.wait();
    // What this proves is liveness: the handshake returns while two mutators
    // run (they run it at their polls) and one sits in native code (the
    // caller runs it for that one); a hang fails the test. That it runs
    // exactly once per mutator is checked by the loom model.
    for _ in 0..20 {
        heap.flush_allocation_stats();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let allocated: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    // After every mutator detached (releasing its cache), the counters are
    // exact: the handshakes neither lost nor double-counted allocations.
    assert_eq!(heap.stats().heap.allocated_objects_total, allocated);
}

#[test]
fn several_heaps_in_one_process_are_independent() {
    let handles: Vec<_> = (0..3)
        .map(|i| {
            thread::spawn(move || {
                let heap = Heap::new(checked_config());
                let types = Types::register(&heap);
                let mut m = heap.attach().unwrap();
                let keep = m.push_root(None);
                for k in 0..(1000 * (i + 1)) {
                    let n = alloc(&mut m, &types, Kind::Node, k);
                    if k % 10 == 0 {
                        let old = m.root(keep);
                        // SAFETY (test): fresh and rooted.
                        unsafe { m.store(n, 0, old) };
                        m.set_root(keep, Some(n));
                    }
                }
                m.collect();
                heap.stats().last_cycle.unwrap().objects_marked
            })
        })
        .collect();
    let marked: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(marked, vec![100, 200, 300]);
}

#[test]
fn concurrent_handshakes_from_several_threads_all_return() {
    // Two threads flushing statistics at once while a mutator polls: each
    // handshake must complete (they are serialised per heap).
    let heap = Heap::new(Config::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polling = {
        let (heap, stop) = (heap.clone(), stop.clone());
        thread::spawn(move || {
            let mut m = heap.attach().unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                m.safepoint();
                thread::sleep(Duration::from_micros(100));
            }
        })
    };
    let flushers: Vec<_> = (0..3)
        .map(|_| {
            let heap = heap.clone();
            thread::spawn(move || (0..300).for_each(|_| heap.flush_allocation_stats()))
        })
        .collect();
    for f in flushers {
        f.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    polling.join().unwrap();
}

/// An allocation that reports to the pacer at the hard limit waits for a
/// cycle; the object it returns must survive that cycle (it is reported
/// before the object is carved out, so the wait happens while nothing
/// unrooted exists). Large arrays allocated back to back reach the hard
/// limit again and again; poisoning and the verifier catch a freed one.
#[test]
fn allocations_that_wait_for_a_cycle_keep_their_object() {
    use tricolor_collector::TypeDescriptor;
    let heap = Heap::new(Config {
        poison: true,
        verify: true,
        checkmark: true,
        ..Config::default()
    });
    let doubles = heap
        .register_type(TypeDescriptor::bytes("Doubles"))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let slots = [m.push_root(None), m.push_root(None)];
    for i in 0..200u64 {
        let a = m.alloc(doubles, 4 << 20);
        // SAFETY (test): `a` is fresh; no safepoint since.
        unsafe { m.store_word(a, 0, i) };
        m.set_root(slots[(i % 2) as usize], Some(a));
        for (k, &s) in slots.iter().enumerate() {
            if let Some(o) = m.root(s) {
                let want = if k as u64 == i % 2 { i } else { i - 1 };
                // SAFETY (test): rooted.
                assert_eq!(unsafe { m.load_word(o, 0) }, want, "array {want} was freed");
            }
        }
    }
    assert!(heap.stats().cycles > 0);
}
