//! Weak references ([`Mutator::weak_ref`], [`WeakRef`]), after the scenarios
//! of Go's weak-pointer tests, under every barrier mode with checkmark, the
//! verifier and poisoning on:
//!
//! - a weak reference yields its object (canary intact) while the object is
//!   rooted, across several cycles, and `None` once it is unreachable;
//! - handles to one object are equal and hash alike, however and whenever
//!   they were made; handles to different objects are not, nor is a handle
//!   to a new object that took a dead object's address;
//! - a weak reference does not keep its object alive (exact marked and freed
//!   counts, `weak_cleared`);
//! - ordering with finalizers: the handle is already cleared when the
//!   object's finalizer runs and stays cleared after the finalizer
//!   resurrects the object; a handle made to the resurrected object is a new,
//!   unequal one that works;
//! - `get` between mark termination and the lazy sweep of the object's span
//!   (no background sweeper) answers from the mark bits, for live and dead,
//!   small and large objects;
//! - four mutator threads making weak references to rooted and unrooted
//!   objects while collections run; `weak_cleared` counts each object once;
//! - refused input: an interior pointer, a pointer outside the heap, and a
//!   freed object, each with the error and message that names the problem;
//! - stepped interleavings: during marking, after the mutator's stack was
//!   scanned, `get` produces the only strong reference to an otherwise
//!   unreachable object, which is stored into a black object or a root; the
//!   object survives and checkmark passes, and with the barrier switched off
//!   (test-only switch, which also stops `get` from shading) checkmark fails
//!   naming the object. A weak reference made while marking is not a strong
//!   one;
//! - objects of every layout (fixed, array, bytes, traced; small and large);
//! - `get` with a mutator of another heap, or in native state, panics.

mod common;
mod stepper;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use stepper::{Collector, Step};
use tricolor_collector::{
    BarrierMode, Config, Heap, Mutator, ObjRef, SpecialError, TypeDescriptor, WeakRef,
};

/// `w.get(m)`, checking that what it yields still carries `canary(id)`.
fn get_checked(m: &Mutator, w: &WeakRef, id: u64) -> Option<ObjRef> {
    let got = w.get(m)?;
    // SAFETY: `get` returned it, so it is live until this mutator's next
    // safepoint, and there is none before the read.
    let ok = unsafe { canary_ok(m, Kind::Node, got, id) };
    assert!(
        ok,
        "weak reference to object {id} yields {got:?}, which lost its canary"
    );
    Some(got)
}

/// The object in root slot `slot`, checked to carry `canary(id)`.
fn rooted_checked(m: &Mutator, slot: usize, id: u64) -> ObjRef {
    let obj = m.root(slot).expect("the slot holds an object");
    // SAFETY: the object is rooted.
    let ok = unsafe { canary_ok(m, Kind::Node, obj, id) };
    assert!(ok, "rooted object {id} at {obj:?} lost its canary");
    obj
}

fn hash_of(w: &WeakRef) -> u64 {
    let mut h = DefaultHasher::new();
    w.hash(&mut h);
    h.finish()
}

#[test]
fn weak_ref_yields_its_object_while_rooted_and_none_once_unreachable() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let x = node(&mut m, &t, 1);
        let slot = m.push_root(Some(x));
        let w = m.weak_ref(x).unwrap();
        assert_eq!(get_checked(&m, &w, 1), Some(x), "{mode}: before any cycle");
        for cycle in 0..4 {
            // Garbage that would take x's slot if x were freed.
            for i in 0..64 {
                node(&mut m, &t, 1000 + i);
            }
            settle(&mut m);
            assert_eq!(marked(&heap), 1, "{mode}: cycle {cycle} marks x alone");
            let x = rooted_checked(&m, slot, 1);
            assert_eq!(get_checked(&m, &w, 1), Some(x), "{mode}: cycle {cycle}");
            assert!(!w.is_cleared(), "{mode}: cycle {cycle}");
        }
        assert_eq!(heap.stats().specials.weak_cleared, 0, "{mode}");

        m.set_root(slot, None);
        m.collect();
        assert_eq!(w.get(&m), None, "{mode}: x was found unreachable");
        m.wait_for_finalizers();
        assert!(w.is_cleared(), "{mode}: the sweep cleared the cell");
        assert_eq!(w.get(&m), None, "{mode}");
        assert_eq!(heap.stats().specials.weak_cleared, 1, "{mode}");
        for _ in 0..2 {
            node(&mut m, &t, 2000);
            settle(&mut m);
            assert_eq!(w.get(&m), None, "{mode}: cleared for good");
        }
        assert_eq!(
            heap.stats().specials.weak_cleared,
            1,
            "{mode}: counted once"
        );
    }
}

// `WeakRef` holds an atomic, but hashes and compares by the identity of its
// cell, which never changes: a sound key, whatever the lint infers.
#[allow(clippy::mutable_key_type)]
#[test]
fn handles_to_one_object_are_equal_and_hash_alike() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = node(&mut m, &t, 1);
        let sa = m.push_root(Some(a));
        let b = node(&mut m, &t, 2);
        let sb = m.push_root(Some(b));
        let wa1 = m.weak_ref(a).unwrap();
        let wb = m.weak_ref(b).unwrap();
        settle(&mut m);
        // Made after a cycle, by another path, and on another thread.
        let wa2 = m.weak_ref(m.root(sa).unwrap()).unwrap();
        let wa3 = wa1.clone();
        let wa4 = {
            let heap = heap.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let main_rooted = m.root(sa).unwrap().addr();
            let other = thread::spawn(move || {
                let mut m2 = heap.attach().unwrap();
                let a = ObjRef::from_addr(main_rooted).unwrap();
                // `a` stays rooted by the main thread, which waits in native
                // code until this thread is done.
                tx.send(m2.weak_ref(a).unwrap()).unwrap();
            });
            m.native(|| other.join().unwrap());
            rx.recv().unwrap()
        };
        for w in [&wa2, &wa3, &wa4] {
            assert_eq!(&wa1, w, "{mode}");
            assert_eq!(
                hash_of(&wa1),
                hash_of(w),
                "{mode}: equal handles hash alike"
            );
        }
        assert_ne!(wa1, wb, "{mode}");
        let set: HashSet<WeakRef> = [&wa1, &wa2, &wa3, &wa4, &wb].into_iter().cloned().collect();
        assert_eq!(set.len(), 2, "{mode}: two objects, two handles");
        assert_eq!(get_checked(&m, &wa4, 1), m.root(sa));
        assert_eq!(get_checked(&m, &wb, 2), m.root(sb));

        // `a` dies; a new object that takes its address gets a new handle.
        let a_addr = m.root(sa).unwrap().addr();
        m.set_root(sa, None);
        settle(&mut m);
        assert!(
            wa1.is_cleared() && wa4.is_cleared(),
            "{mode}: one shared cell"
        );
        let keep = m.push_root(None);
        let mut reused = None;
        for i in 0..10_000 {
            let c = node(&mut m, &t, 3);
            if c.addr() == a_addr {
                reused = Some(c);
                break;
            }
            if i % 2 == 0 {
                // Keep some, so the search walks forward through the span.
                m.set_root(keep, Some(c));
            }
        }
        let c = reused.expect("the allocator reuses the freed slot");
        // Cleared handles keep their identity: still equal to each other,
        // still unequal to a handle of another object.
        assert_eq!(wa1, wa2, "{mode}");
        assert_eq!(hash_of(&wa1), hash_of(&wa2), "{mode}");
        assert_ne!(wa1, wb, "{mode}");
        let wc = m.weak_ref(c).unwrap();
        assert_ne!(wc, wa1, "{mode}: a new object at a dead object's address");
        assert_eq!(wa1.get(&m), None, "{mode}");
        assert_eq!(get_checked(&m, &wc, 3), Some(c), "{mode}");
        assert_eq!(heap.stats().specials.weak_cleared, 1, "{mode}");
        // Two dead objects' handles are still told apart (as Go's weak
        // pointers are: identity is the handle, not the address).
        m.set_root(sb, None);
        settle(&mut m);
        assert!(wb.is_cleared(), "{mode}");
        assert_ne!(wa1, wb, "{mode}: handles of two dead objects");
        let set: HashSet<WeakRef> = [&wa1, &wa2, &wb].into_iter().cloned().collect();
        assert_eq!(set.len(), 2, "{mode}");
    }
}

#[test]
fn a_weak_ref_does_not_keep_its_object_alive() {
    const N: u64 = 200;
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        settle(&mut m);
        let freed_before = freed(&heap);
        let mut handles = Vec::new();
        let mut rooted = Vec::new();
        let mut last_rooted = None;
        for id in 0..N {
            let x = node(&mut m, &t, id);
            let w = m.weak_ref(x).unwrap();
            if id % 3 == 0 {
                // A second handle, made separately: the same cell.
                assert_eq!(m.weak_ref(x).unwrap(), w);
            }
            if id % 4 == 0 {
                rooted.push((id, m.push_root(Some(x))));
                last_rooted = Some(x);
            } else if let Some(r) = last_rooted {
                // Garbage pointing at a live object keeps nothing alive.
                // SAFETY: `x` is fresh, `r` rooted; field 0 is a pointer.
                unsafe { m.store(x, 0, Some(r)) };
            }
            handles.push((id, w));
        }
        let n_rooted = rooted.len() as u64;
        settle(&mut m);
        assert_eq!(marked(&heap), n_rooted, "{mode}: only the rooted ones");
        assert_eq!(freed(&heap) - freed_before, N - n_rooted, "{mode}");
        assert_eq!(heap.stats().specials.weak_cleared, N - n_rooted, "{mode}");
        for (id, w) in &handles {
            let want = rooted
                .iter()
                .find(|(i, _)| i == id)
                .map(|&(_, s)| rooted_checked(&m, s, *id));
            assert_eq!(get_checked(&m, w, *id), want, "{mode}: object {id}");
            assert_eq!(w.is_cleared(), want.is_none(), "{mode}: object {id}");
        }
    }
}

/// What the finalizer saw.
struct Seen {
    cleared: bool,
    got: Option<ObjRef>,
    intact: bool,
    fresh: WeakRef,
}

#[test]
fn weak_ref_is_cleared_before_the_finalizer_runs_and_stays_cleared_after_resurrection() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        settle(&mut m);
        let freed_before = freed(&heap);
        let x = node(&mut m, &t, 7);
        let w = m.weak_ref(x).unwrap();
        let home = Arc::new(heap.add_global(None));
        let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
        let (w_in, home_in, seen_in) = (w.clone(), home.clone(), seen.clone());
        m.set_finalizer(x, move |m, obj| {
            let cleared = w_in.is_cleared();
            let got = w_in.get(m);
            // SAFETY: the finalizer's object is rooted while it runs.
            let intact = unsafe { canary_ok(m, Kind::Node, obj, 7) };
            home_in.set(Some(obj)); // resurrected
            let fresh = m.weak_ref(obj).expect("the resurrected object is live");
            *seen_in.lock().unwrap() = Some(Seen {
                cleared,
                got,
                intact,
                fresh,
            });
        })
        .unwrap();
        settle(&mut m); // x is unreachable: cleared, then finalized
        let seen = seen.lock().unwrap().take().expect("the finalizer ran");
        assert!(seen.cleared, "{mode}: not cleared when the finalizer ran");
        assert_eq!(seen.got, None, "{mode}: get inside the finalizer");
        assert!(
            seen.intact,
            "{mode}: the finalizer's object lost its canary"
        );
        let s = heap.stats().specials;
        assert_eq!((s.weak_cleared, s.finalizers_run), (1, 1), "{mode}");
        assert_eq!(
            freed(&heap),
            freed_before,
            "{mode}: x kept for its finalizer"
        );
        let fresh = seen.fresh;
        assert_ne!(
            fresh, w,
            "{mode}: a handle to the resurrected object is new"
        );

        for cycle in 0..3 {
            settle(&mut m);
            let x = home.get().expect("resurrected into the global");
            assert_eq!(w.get(&m), None, "{mode}: cycle {cycle}: stays cleared");
            assert!(w.is_cleared());
            assert_eq!(get_checked(&m, &fresh, 7), Some(x), "{mode}: cycle {cycle}");
            assert_eq!(m.weak_ref(x).unwrap(), fresh, "{mode}: cycle {cycle}");
            assert_eq!(marked(&heap), 1, "{mode}: cycle {cycle}");
        }
        assert_eq!(heap.stats().specials.weak_cleared, 1, "{mode}");

        home.set(None);
        settle(&mut m);
        assert!(
            fresh.is_cleared(),
            "{mode}: the second death clears the new cell"
        );
        assert_eq!(fresh.get(&m), None);
        let s = heap.stats().specials;
        assert_eq!((s.weak_cleared, s.finalizers_run), (2, 1), "{mode}");
        assert_eq!(freed(&heap) - freed_before, 1, "{mode}: x freed at last");
    }
}

#[test]
fn get_between_mark_termination_and_the_sweep_reads_the_mark_bits() {
    const LARGE: usize = 40 << 10; // a span of its own
    for mode in ALL_MODES {
        let heap = Heap::new(Config {
            barrier: mode,
            manual_cycles: true,
            background_sweeper: false,
            ..checked_config()
        });
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        settle(&mut m); // nothing left to sweep from earlier cycles
        let live = node(&mut m, &t, 1);
        let sl = m.push_root(Some(live));
        let dead = node(&mut m, &t, 2);
        let w_live = m.weak_ref(live).unwrap();
        let w_dead = m.weak_ref(dead).unwrap();
        let big_live = m.alloc(t.bytes, LARGE);
        let sbl = m.push_root(Some(big_live));
        let big_dead = m.alloc(t.bytes, LARGE);
        let w_big_live = m.weak_ref(big_live).unwrap();
        let w_big_dead = m.weak_ref(big_dead).unwrap();
        let swept_before = heap.stats().heap.spans_swept_total;

        m.collect_without_sweeping();
        // Mark termination is over; no span of this cycle is swept yet.
        assert_eq!(heap.stats().heap.spans_swept_total, swept_before, "{mode}");
        assert!(
            !w_dead.is_cleared() && !w_big_dead.is_cleared(),
            "{mode}: the cells are cleared by the sweep, which has not run"
        );
        assert_eq!(get_checked(&m, &w_live, 1), m.root(sl), "{mode}");
        assert_eq!(w_dead.get(&m), None, "{mode}: dead, span unswept");
        assert_eq!(w_big_live.get(&m), m.root(sbl), "{mode}");
        assert_eq!(w_big_dead.get(&m), None, "{mode}: dead large object");
        // Making a handle in the window: the live object's cell is found; the
        // dead object is refused.
        assert_eq!(m.weak_ref(m.root(sl).unwrap()).unwrap(), w_live, "{mode}");
        assert!(
            matches!(m.weak_ref(dead), Err(SpecialError::FreedObject { .. })),
            "{mode}: a dead object in an unswept span"
        );
        assert_eq!(
            heap.stats().heap.spans_swept_total,
            swept_before,
            "{mode}: get and weak_ref did not sweep"
        );
        assert_eq!(heap.stats().specials.weak_cleared, 0, "{mode}");

        m.wait_for_finalizers(); // finishes the sweep
        assert!(w_dead.is_cleared() && w_big_dead.is_cleared(), "{mode}");
        assert_eq!(w_dead.get(&m), None, "{mode}");
        assert_eq!(w_big_dead.get(&m), None, "{mode}");
        assert_eq!(get_checked(&m, &w_live, 1), m.root(sl), "{mode}");
        assert_eq!(w_big_live.get(&m), m.root(sbl), "{mode}");
        assert!(!w_live.is_cleared() && !w_big_live.is_cleared(), "{mode}");
        assert_eq!(heap.stats().specials.weak_cleared, 2, "{mode}");
    }
}

/// One thread's program for the concurrent test; returns how many distinct
/// objects it made weak references to.
fn weak_worker(
    heap: Heap,
    t: Types,
    shared: Arc<(WeakRef, usize)>,
    start: Arc<Barrier>,
    seed: u64,
) -> u64 {
    const ROUNDS: usize = 2000;
    let mut rng = Rng::new(seed);
    let mut m = heap.attach().unwrap();
    m.native(|| start.wait());
    let (ws, shared_addr) = (&shared.0, shared.1);
    // Everyone makes a handle to the shared object at once: one cell.
    // The shared object is held by a global for the whole test.
    let mine = m.weak_ref(ObjRef::from_addr(shared_addr).unwrap()).unwrap();
    assert_eq!(&mine, ws);
    let mut next_id = seed << 32;
    let mut distinct = 0u64;
    // (root slot, id, handle) of rooted objects.
    let mut rooted: Vec<(usize, u64, WeakRef)> = Vec::new();
    // Unrooted objects not yet seen dead: (id, handle, seen None).
    let mut dropped: Vec<(u64, WeakRef, bool)> = Vec::new();
    let mut dead: Vec<WeakRef> = Vec::new();
    let check = |m: &mut Mutator,
                 rooted: &[(usize, u64, WeakRef)],
                 dropped: &mut Vec<(u64, WeakRef, bool)>| {
        for (slot, id, w) in rooted {
            let x = rooted_checked(m, *slot, *id);
            assert_eq!(get_checked(m, w, *id), Some(x), "rooted object {id:#x}");
        }
        for (id, w, seen_none) in dropped.iter_mut() {
            // Unrooted: it may still be alive (a mark in progress keeps what
            // it finds), but whatever `get` yields is intact, and once
            // `None`, always `None`.
            match get_checked(m, w, *id) {
                Some(_) => assert!(!*seen_none, "object {id:#x} came back"),
                None => *seen_none = true,
            }
        }
        assert_eq!(ws.get(m).map(ObjRef::addr), Some(shared_addr));
    };
    for _ in 0..ROUNDS {
        match rng.below(100) {
            0..=34 => {
                let x = node(&mut m, &t, next_id);
                let slot = m.push_root(Some(x));
                let w = m.weak_ref(x).unwrap();
                if rng.bool() {
                    assert_eq!(m.weak_ref(x).unwrap(), w);
                }
                rooted.push((slot, next_id, w));
                next_id += 1;
                distinct += 1;
            }
            35..=59 => {
                let x = node(&mut m, &t, next_id);
                let w = m.weak_ref(x).unwrap();
                assert_eq!(w.get(&m), Some(x), "no safepoint since the allocation");
                dropped.push((next_id, w, false));
                next_id += 1;
                distinct += 1;
            }
            60..=74 if !rooted.is_empty() => {
                let (slot, id, w) = rooted.swap_remove(rng.below(rooted.len()));
                m.set_root(slot, None);
                dropped.push((id, w, false));
            }
            75..=86 => check(&mut m, &rooted, &mut dropped),
            87..=92 => {
                // A cycle that starts after this request: everything
                // unrooted before it is found dead, since this thread waits
                // in native code meanwhile and cannot resurrect anything.
                m.collect();
                for (id, w, _) in dropped.drain(..) {
                    assert_eq!(w.get(&m), None, "unrooted object {id:#x} survived");
                    dead.push(w);
                }
                check(&mut m, &rooted, &mut dropped);
            }
            93..=96 => m.native(|| thread::sleep(Duration::from_micros(100))),
            _ => m.safepoint(),
        }
    }
    m.collect();
    for (id, w, _) in dropped.drain(..) {
        assert_eq!(w.get(&m), None, "unrooted object {id:#x} survived");
        dead.push(w);
    }
    check(&mut m, &rooted, &mut dropped);
    for w in &dead {
        assert_eq!(w.get(&m), None);
    }
    distinct
}

#[test]
fn weak_refs_from_four_mutators_while_collections_run() {
    let heap = Heap::new(Config {
        gc_stress: NonZeroU32::new(97),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let (global, shared) = {
        let mut m = heap.attach().unwrap();
        let s = node(&mut m, &t, 99);
        let global = heap.add_global(Some(s));
        let ws = m.weak_ref(s).unwrap();
        (global, Arc::new((ws, s.addr())))
    };
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4u64)
        .map(|i| {
            let (heap, shared, start) = (heap.clone(), shared.clone(), start.clone());
            thread::spawn(move || weak_worker(heap, t, shared, start, 0x5EED + i))
        })
        .collect();
    let distinct: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(heap.stats().cycles > 10, "collections ran meanwhile");
    // Every worker detached: all their objects are garbage now.
    heap.collect();
    heap.wait_for_finalizers();
    assert_eq!(
        heap.stats().specials.weak_cleared,
        distinct,
        "one clearing per object, however many handles"
    );
    assert!(!shared.0.is_cleared());
    drop(global);
    heap.collect();
    heap.wait_for_finalizers();
    assert!(shared.0.is_cleared());
    assert_eq!(heap.stats().specials.weak_cleared, distinct + 1);
}

#[test]
fn weak_ref_refuses_interior_foreign_and_freed_pointers() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();

    let x = node(&mut m, &t, 1);
    let sx = m.push_root(Some(x));
    let inside = ObjRef::from_addr(x.addr() + 8).unwrap();
    let e = m.weak_ref(inside).unwrap_err();
    assert_eq!(
        e,
        SpecialError::InteriorPointer {
            addr: x.addr() + 8,
            base: x.addr(),
            what: "weak_ref"
        }
    );
    let msg = e.to_string();
    assert!(msg.starts_with("weak_ref: "), "{msg}");
    assert!(msg.contains("interior pointer"), "{msg}");
    assert!(
        msg.contains(&format!("{:#x}", x.addr())),
        "names the object: {msg}"
    );

    let outside = Box::new([0u64; 4]);
    let addr = outside.as_ptr() as usize;
    let e = m.weak_ref(ObjRef::from_addr(addr).unwrap()).unwrap_err();
    assert_eq!(
        e,
        SpecialError::NotAHeapObject {
            addr,
            what: "weak_ref"
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("not an object of this heap"), "{msg}");
    assert!(msg.contains(&format!("{addr:#x}")), "{msg}");

    // An object of another heap is not an object of this one.
    let other = manual_heap(BarrierMode::Hybrid);
    let ot = Types::register(&other);
    let foreign = thread::spawn(move || {
        let mut m2 = other.attach().unwrap();
        let o = node(&mut m2, &ot, 5);
        let addr = o.addr();
        drop(m2);
        (addr, other)
    });
    let (foreign_addr, other) = m.native(|| foreign.join().unwrap());
    let e = m
        .weak_ref(ObjRef::from_addr(foreign_addr).unwrap())
        .unwrap_err();
    assert!(matches!(e, SpecialError::NotAHeapObject { .. }), "{e}");
    drop(other);

    // A freed object: `g` and `y` die, `n` between them keeps the span.
    let g = node(&mut m, &t, 2);
    let g_addr = g.addr();
    let n = node(&mut m, &t, 3);
    let sn = m.push_root(Some(n));
    let y = node(&mut m, &t, 4);
    let y_addr = y.addr();
    settle(&mut m);
    let y = ObjRef::from_addr(y_addr).unwrap();
    let e = m.weak_ref(y).unwrap_err();
    assert_eq!(
        e,
        SpecialError::FreedObject {
            addr: y_addr,
            what: "weak_ref"
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("freed by an earlier collection"), "{msg}");
    assert!(msg.contains(&format!("{y_addr:#x}")), "{msg}");
    // Once the span is back in a cache, the allocator cannot tell a free
    // slot from a live one: the poisoned header still can.
    let fresh = node(&mut m, &t, 5);
    assert_eq!(fresh.addr(), g_addr, "the cache took the span and g's slot");
    let sf = m.push_root(Some(fresh));
    assert_eq!(
        m.weak_ref(y).unwrap_err(),
        SpecialError::FreedObject {
            addr: y_addr,
            what: "weak_ref"
        }
    );
    // Refusals leave nothing behind; valid calls still work.
    let wf = m.weak_ref(fresh).unwrap();
    settle(&mut m);
    assert_eq!(heap.stats().specials.weak_cleared, 0);
    assert_eq!(get_checked(&m, &wf, 5), m.root(sf));
    rooted_checked(&m, sx, 1);
    rooted_checked(&m, sn, 3);
}

/// Where the mutator puts the strong reference `get` gave it.
#[derive(Copy, Clone, Debug)]
enum Dest {
    /// A field of an object that is already black.
    BlackObject,
    /// A root slot of the (scanned) stack.
    Root,
}

/// During marking, after the mutator's stack was scanned and a global's
/// object A was marked black, the mutator turns a weak reference to X (which
/// nothing else reaches) into the only strong reference and stores it into
/// A or a root. `get` must shade X: the SATB and hybrid barriers record only
/// the overwritten value, and neither rescans a scanned stack.
///
/// Returns the cycle's result (checkmark runs in `Finish`) and X's address.
fn weak_get_during_mark(
    mode: BarrierMode,
    into: Dest,
    barrier_on: bool,
) -> (Result<(), String>, usize) {
    let mut x_addr = 0;
    let r = weak_get_during_mark_at(mode, into, barrier_on, &mut x_addr);
    (r, x_addr)
}

fn weak_get_during_mark_at(
    mode: BarrierMode,
    into: Dest,
    barrier_on: bool,
    x_addr_out: &mut usize,
) -> Result<(), String> {
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);
    let a = node(&mut m, &t, 1);
    let global = heap.add_global(Some(a));
    let x = node(&mut m, &t, 2);
    let x_addr = x.addr();
    *x_addr_out = x_addr;
    let w = m.weak_ref(x).unwrap();
    let slot = m.push_root(None);

    gc.step(&mut m, Step::Begin)?;
    heap.disable_barrier_for_testing(!barrier_on);
    gc.step(&mut m, Step::ScanGlobals)?;
    assert_eq!(
        gc.step(&mut m, Step::MarkAll)?.count(),
        1,
        "A alone is black"
    );
    gc.step(&mut m, Step::ScanStacks)?;
    // The mutator's program, with no safepoint in between.
    let x = w.get(&m).expect("X is not found dead while the mark runs");
    assert_eq!(x.addr(), x_addr);
    match into {
        Dest::BlackObject => {
            let a = global.get().unwrap();
            // SAFETY: A is reachable from the global; X was just returned
            // by `get`; field 0 is a pointer field.
            unsafe { m.store(a, 0, Some(x)) };
        }
        Dest::Root => m.set_root(slot, Some(x)),
    }
    heap.disable_barrier_for_testing(false);
    gc.step(&mut m, Step::FlushBuffers)?;
    gc.step(&mut m, Step::MarkAll)?;
    let stats = gc.step(&mut m, Step::Finish)?.stats();
    assert_eq!(stats.objects_marked, 2, "{mode} {into:?}: A and X");

    let x = match into {
        // SAFETY: A is reachable from the global; field 0 is a pointer.
        Dest::BlackObject => unsafe { m.load(global.get().unwrap(), 0) },
        Dest::Root => m.root(slot),
    }
    .expect("X is still stored");
    assert_eq!(x.addr(), x_addr);
    m.wait_for_finalizers(); // the sweep: X must not be freed
    assert_eq!(get_checked(&m, &w, 2), Some(x), "{mode} {into:?}");
    assert_eq!(heap.stats().specials.weak_cleared, 0, "{mode} {into:?}");
    let x = m.weak_ref(x).unwrap();
    assert_eq!(x, w);
    Ok(())
}

fn expect_lost((r, x_addr): (Result<(), String>, usize), mode: BarrierMode, into: Dest) {
    let msg = r.expect_err(&format!(
        "{mode} {into:?}: without the barrier X must be lost and checkmark must fail"
    ));
    assert!(
        msg.contains("checkmark")
            && msg.contains("`Node`")
            && msg.contains(&format!("{x_addr:#x}")),
        "{mode} {into:?}: unexpected failure (must name X at {x_addr:#x}): {msg}"
    );
}

#[test]
fn get_while_marking_shades_the_only_strong_reference() {
    for (mode, into) in [
        (BarrierMode::Satb, Dest::BlackObject),
        (BarrierMode::Satb, Dest::Root),
        (BarrierMode::IncrementalUpdate, Dest::BlackObject),
        (BarrierMode::Hybrid, Dest::BlackObject),
        (BarrierMode::Hybrid, Dest::Root),
    ] {
        weak_get_during_mark(mode, into, true)
            .0
            .unwrap_or_else(|e| panic!("{mode} {into:?}: {e}"));
        expect_lost(weak_get_during_mark(mode, into, false), mode, into);
    }
}

#[test]
fn incremental_update_keeps_a_weak_result_stored_on_the_stack_by_rescanning() {
    // Incremental update rescans stacks at mark termination, so X stored in
    // a root survives even with the barrier (and `get`'s shading) off: this
    // checks the rescan, not `get`.
    let mode = BarrierMode::IncrementalUpdate;
    weak_get_during_mark(mode, Dest::Root, true).0.unwrap();
    weak_get_during_mark(mode, Dest::Root, false).0.unwrap();
}

#[test]
fn a_weak_ref_made_while_marking_is_not_a_strong_reference() {
    for mode in [
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Hybrid,
    ] {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let gc = Collector::new(&heap);
        let x = node(&mut m, &t, 1);
        let slot = m.push_root(Some(x));
        gc.count(&mut m, Step::Begin);
        // Before this stack is scanned (SATB: it was, at sweep termination),
        // the mutator makes a handle and drops X from its stack.
        let w = m.weak_ref(m.root(slot).unwrap()).unwrap();
        m.set_root(slot, None);
        gc.count(&mut m, Step::ScanStacks);
        gc.count(&mut m, Step::ScanGlobals);
        gc.count(&mut m, Step::MarkAll);
        let stats = gc.step(&mut m, Step::Finish).unwrap().stats();
        m.wait_for_finalizers();
        // SATB keeps what was reachable when the mark began; the other two
        // modes find X dead in this cycle.
        let survives = mode == BarrierMode::Satb;
        assert_eq!(stats.objects_marked, u64::from(survives), "{mode}");
        assert_eq!(w.is_cleared(), !survives, "{mode}");
        assert_eq!(get_checked(&m, &w, 1).is_some(), survives, "{mode}");
        settle(&mut m);
        assert!(
            w.is_cleared(),
            "{mode}: dead by the next cycle at the latest"
        );
        assert_eq!(heap.stats().specials.weak_cleared, 1, "{mode}");
    }
}

#[test]
fn weak_refs_work_for_every_object_shape() {
    // Weak references to objects of each layout: fixed, array, bytes and
    // traced, small and large; the dead ones are cleared, the live ones
    // yield their object.
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Types::register(&heap);
    let extra = heap
        .register_type(TypeDescriptor::fixed("Leaf", 1, &[]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let kinds = [
        Kind::Node,
        Kind::Pairs(3),
        Kind::Pairs(5000),
        Kind::Bytes,
        Kind::Tagged,
    ];
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for (i, &k) in kinds.iter().enumerate() {
        for keep in [true, false] {
            let id = 10 * i as u64 + u64::from(keep);
            let o = alloc(&mut m, &t, k, id);
            let w = m.weak_ref(o).unwrap();
            if keep {
                live.push((k, id, m.push_root(Some(o)), w));
            } else {
                dead.push(w);
            }
        }
    }
    let leaf = m.alloc(extra, 0);
    dead.push(m.weak_ref(leaf).unwrap());
    settle(&mut m);
    for (k, id, slot, w) in &live {
        let o = m.root(*slot).unwrap();
        assert_eq!(w.get(&m), Some(o), "{k:?}");
        // SAFETY: rooted.
        assert!(unsafe { canary_ok(&m, *k, o, *id) }, "{k:?}");
    }
    for w in &dead {
        assert!(w.is_cleared());
    }
    assert_eq!(heap.stats().specials.weak_cleared, dead.len() as u64);
}

/// The message of a panic payload.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn get_needs_a_running_mutator_of_the_same_heap() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let x = node(&mut m, &t, 1);
    let slot = m.push_root(Some(x));
    let w = m.weak_ref(x).unwrap();

    let other = manual_heap(BarrierMode::Hybrid);
    let w2 = w.clone();
    let foreign = thread::spawn(move || {
        let m2 = other.attach().unwrap();
        catch_unwind(AssertUnwindSafe(|| w2.get(&m2))).map_err(panic_message)
    });
    let msg = m.native(|| foreign.join().unwrap()).unwrap_err();
    assert!(msg.contains("another heap"), "{msg}");

    m.enter_native();
    let r = catch_unwind(AssertUnwindSafe(|| w.get(&m))).map_err(panic_message);
    m.leave_native();
    assert!(r.unwrap_err().contains("native"), "names the misuse");
    // Both refusals left the handle and the mutator usable.
    assert_eq!(get_checked(&m, &w, 1), m.root(slot));
}
