//! The VM's user bits in object headers (`object` module docs): bits 16–30
//! of the header, which the VM reads and writes
//! (`Mutator::user_bits`, `set_user_bits`, `try_set_user_bits`,
//! `alloc_with_user_bits`) and the collector never changes.
//!
//! - They round-trip, start at 0 (also in a slot a freed object had), and
//!   leave the type index, the length and the payload alone, for every
//!   shape, on the allocation fast path and the general one.
//! - Values over 15 bits are refused, and nothing is written.
//! - They survive collections, in every barrier mode, with and without
//!   generations (minor cycles too).
//! - Setting them is a read-modify-write that leaves the log-armed bit
//!   (generation §3) alone: an old object whose user bits were set is still
//!   logged by its next store, once.
//! - Races with the collector: a mutator sets user bits on old objects and
//!   stores young objects into them while a helper thread steps minor and
//!   major cycles (the marker arming the same headers), and, free-running,
//!   while a collector thread runs cycles back to back and two mutators
//!   set the user bits of shared objects. The bits end as last written, and
//!   checkmark (after every mark, minor ones included), the verifier and
//!   poisoning find nothing: a log-armed bit lost to a user-bits write would
//!   hide an old-to-young pointer from the next minor cycle.
//!
//! Fixed seeds and fixed step counts throughout; what is checked does not
//! depend on how the threads interleave.

mod common;

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;

use common::*;
use tricolor_collector::{
    BarrierMode, Config, CycleEvent, CycleKind, Heap, Mutator, ObjRef, TypeId, UserBitsError,
    MAX_USER_BITS, USER_BITS,
};

/// A heap in barrier mode `mode`, generational or not, cycles only when
/// asked for or stepped, every check on.
fn heap(mode: BarrierMode, generational: bool) -> Heap {
    Heap::new(Config {
        barrier: mode,
        manual_cycles: true,
        generational,
        ..checked_config()
    })
}

/// The test kinds, with the type id and the length each is allocated with.
fn kinds(t: &Types) -> [(Kind, TypeId, usize); 6] {
    [
        (Kind::Node, t.node, 0),
        (Kind::Pairs(3), t.pairs, 3),
        // A large object (80 KB): the general path, a span of its own.
        (Kind::Pairs(5000), t.pairs, 5000),
        (Kind::Bytes, t.bytes, 24),
        (Kind::Tagged, t.tagged, 0),
        (Kind::Node, t.node, 0),
    ]
}

/// A random value that fits the user bits.
fn random_bits(rng: &mut Rng) -> u16 {
    rng.below_u64(u64::from(MAX_USER_BITS) + 1) as u16
}

/// Checks `obj` (of `kind`, type `ty`, length `len`, identity `id`): its
/// user bits, type index, shape and canary.
///
/// # Safety
/// `obj` must be live.
unsafe fn check(
    m: &Mutator,
    obj: ObjRef,
    (kind, ty, len): (Kind, TypeId, usize),
    id: u64,
    bits: u16,
) {
    // SAFETY: the caller's contract.
    unsafe {
        assert_eq!(m.user_bits(obj), bits, "{kind:?} object {id}: user bits");
        assert_eq!(
            m.type_index_of(obj),
            ty.index(),
            "{kind:?} object {id}: type index"
        );
        assert_eq!(
            m.shape_of(obj),
            (ty, len),
            "{kind:?} object {id}: type and length"
        );
        assert!(canary_ok(m, kind, obj, id), "{kind:?} object {id}: payload");
    }
}

#[test]
fn the_constants() {
    assert_eq!(USER_BITS, 15);
    assert_eq!(MAX_USER_BITS, 0x7FFF);
}

#[test]
fn user_bits_round_trip_and_start_at_zero() {
    let heap = heap(BarrierMode::Hybrid, false);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    for (i, k) in kinds(&t).into_iter().enumerate() {
        let id = i as u64 + 1;
        let obj = alloc(&mut m, &t, k.0, id);
        // SAFETY (test): `obj` is fresh; no safepoint below.
        unsafe {
            check(&m, obj, k, id, 0);
            for bits in [1, MAX_USER_BITS, 0x5555, 0x2AAA, 0x4000, 0] {
                m.set_user_bits(obj, bits);
                check(&m, obj, k, id, bits);
                m.try_set_user_bits(obj, bits ^ 0x7001).unwrap();
                check(&m, obj, k, id, bits ^ 0x7001);
            }
        }
    }
}

#[test]
fn alloc_with_user_bits_sets_them_at_birth() {
    for generational in [false, true] {
        let heap = heap(BarrierMode::Hybrid, generational);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        for (i, (kind, ty, len)) in kinds(&t).into_iter().enumerate() {
            for bits in [0, 1, MAX_USER_BITS, 0x1234] {
                let obj = m.alloc_with_user_bits(ty, len, bits);
                // SAFETY (test): `obj` is fresh, no safepoint since.
                unsafe {
                    assert_eq!(m.user_bits(obj), bits, "{kind:?}");
                    assert_eq!(m.shape_of(obj), (ty, len), "{kind:?}");
                    assert_eq!(m.type_index_of(obj), ty.index(), "{kind:?}");
                }
                // The next plain allocation of the same type starts at 0.
                let plain = m.alloc(ty, len);
                // SAFETY (test): as above.
                assert_eq!(unsafe { m.user_bits(plain) }, 0, "{kind:?} {i}");
            }
        }
    }
}

#[test]
fn bits_over_fifteen_are_refused() {
    let heap = heap(BarrierMode::Hybrid, false);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let obj = node(&mut m, &t, 1);
    let slot = m.push_root(Some(obj));
    // SAFETY (test): `obj` is rooted.
    unsafe { m.set_user_bits(obj, 0x0F0F) };
    for bad in [0x8000, 0x8001, 0xFFFF, 0xABCD] {
        // SAFETY (test): `obj` is rooted.
        let e = unsafe { m.try_set_user_bits(obj, bad) }.unwrap_err();
        assert_eq!(e.bits(), bad);
        assert!(e.to_string().contains("15 user bits"), "{e}");
        // SAFETY (test): as above.
        assert_eq!(unsafe { m.user_bits(obj) }, 0x0F0F, "nothing written");
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY (test): as above.
            unsafe { m.set_user_bits(obj, bad) }
        }))
        .expect_err("set_user_bits panics on bits over 15");
        let msg = panicked.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains(&format!("{bad:#x}")) && msg.contains("do not fit"),
            "{msg}"
        );
        // SAFETY (test): as above.
        assert_eq!(unsafe { m.user_bits(obj) }, 0x0F0F, "nothing written");
        let before = m.heap_alloc().objects;
        let panicked = catch_unwind(AssertUnwindSafe(|| m.alloc_with_user_bits(t.node, 0, bad)))
            .expect_err("alloc_with_user_bits panics on bits over 15");
        let msg = panicked.downcast_ref::<String>().unwrap();
        assert!(msg.contains("do not fit"), "{msg}");
        assert_eq!(m.heap_alloc().objects, before, "nothing allocated");
    }
    let e: UserBitsError = {
        // SAFETY (test): `obj` is rooted.
        unsafe { m.try_set_user_bits(obj, MAX_USER_BITS + 1) }.unwrap_err()
    };
    assert_eq!(
        e.to_string(),
        "user bits 0x8000 do not fit in the header's 15 user bits (at most 0x7fff)"
    );
    m.collect();
    assert_eq!(m.root(slot), Some(obj));
}

/// Rooted objects of every kind with random user bits, among garbage with
/// user bits of its own, through several collections (and minor cycles in
/// a generational heap); after each, the bits are as last set, some are
/// changed, and fresh objects (in the slots the garbage had) start at 0.
fn bits_survive(mode: BarrierMode, generational: bool, seed: u64) {
    const OBJECTS: usize = 600;
    const CYCLES: usize = 4;
    let heap = heap(mode, generational);
    let t = Types::register(&heap);
    let ks = kinds(&t);
    let mut m = heap.attach().unwrap();
    let mut rng = Rng::new(seed);
    // The table: one pointer per object, in its even words.
    let table = m.alloc(t.pairs, OBJECTS);
    let tslot = m.push_root(Some(table));
    let mut objects = Vec::with_capacity(OBJECTS);
    for i in 0..OBJECTS {
        let k = ks[rng.below(ks.len())];
        let id = i as u64 + 1;
        let bits = random_bits(&mut rng);
        let obj = alloc(&mut m, &t, k.0, id);
        // SAFETY (test): `obj` is fresh and the table rooted.
        unsafe {
            m.set_user_bits(obj, bits);
            m.store(m.root(tslot).unwrap(), 2 * i, Some(obj));
        }
        objects.push((k, id, bits));
        // Garbage with user bits set, at birth or after.
        let (_, gty, glen) = ks[rng.below(ks.len())];
        let g = m.alloc_with_user_bits(gty, glen, random_bits(&mut rng) | 1);
        // SAFETY (test): `g` is fresh.
        unsafe { m.set_user_bits(g, random_bits(&mut rng) | 1) };
    }
    for cycle in 0..CYCLES {
        if generational && mode != BarrierMode::Off && cycle % 2 == 1 {
            let s = minor(&heap, &mut m);
            assert_eq!(s.kind, CycleKind::Minor, "{mode}");
        } else {
            m.collect();
        }
        let table = m.root(tslot).unwrap();
        for (i, (k, id, bits)) in objects.iter_mut().enumerate() {
            // SAFETY (test): the table is rooted; no safepoint in this loop.
            unsafe {
                let obj = m.load(table, 2 * i).unwrap();
                check(&m, obj, *k, *id, *bits);
                if rng.one_in(3) {
                    *bits = random_bits(&mut rng);
                    m.set_user_bits(obj, *bits);
                }
            }
        }
        // Fresh objects, some in slots freed garbage had: 0 until set.
        for _ in 0..OBJECTS {
            let (kind, ty, len) = ks[rng.below(ks.len())];
            let obj = m.alloc(ty, len);
            // SAFETY (test): `obj` is fresh.
            assert_eq!(unsafe { m.user_bits(obj) }, 0, "{mode}: a fresh {kind:?}");
            // SAFETY (test): as above; it becomes garbage.
            unsafe { m.set_user_bits(obj, random_bits(&mut rng) | 1) };
        }
    }
}

#[test]
fn bits_survive_collections_without_generations() {
    for (i, mode) in ALL_MODES.into_iter().enumerate() {
        bits_survive(mode, false, 0xB175_0000 + i as u64);
    }
}

#[test]
fn bits_survive_collections_with_generations() {
    for (i, mode) in ALL_MODES.into_iter().enumerate() {
        bits_survive(mode, true, 0xB175_1000 + i as u64);
    }
}

/// The store barrier of generation §3 logs an armed old object on its next
/// pointer store outside a mark, once. Setting the object's user bits must
/// neither disarm it (the store would not log it, and the minor cycle
/// would miss the young object: checkmark fails) nor re-arm it once logged
/// (a second store would log it again). So the minor cycle's remembered
/// set holds it exactly once.
#[test]
fn setting_user_bits_leaves_the_log_armed_bit_alone() {
    for mode in CONCURRENT_MODES {
        let heap = heap(mode, true);
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let old = node(&mut m, &t, 1);
        let slot = m.push_root(Some(old));
        // Two major cycles: survived twice, so old; it points to nothing
        // young, so armed (generation §1, §3).
        m.collect();
        m.collect();
        let old = m.root(slot).unwrap();
        // SAFETY (test): `old` is rooted; each young node is fresh.
        unsafe {
            m.set_user_bits(old, 0x7ABC);
            let young = node(&mut m, &t, 2);
            m.store(old, 0, Some(young)); // armed still: logs and disarms
            m.set_user_bits(old, 0x0123);
            let young = node(&mut m, &t, 3);
            m.store(old, 1, Some(young)); // logged already: nothing
            m.set_user_bits(old, 0x0456);
        }
        let s = minor(&heap, &mut m);
        assert_eq!(s.kind, CycleKind::Minor, "{mode}");
        assert_eq!(s.remembered, 1, "{mode}: `old`, logged once");
        assert_eq!(
            s.objects_marked, 2,
            "{mode}: both young nodes, found through `old`"
        );

        m.collect();
        let old = m.root(slot).unwrap();
        // SAFETY (test): `old` is rooted, its children reachable from it.
        unsafe {
            check(&m, old, (Kind::Node, t.node, 0), 1, 0x0456);
            for (f, id) in [(0, 2), (1, 3)] {
                let child = m.load(old, f).unwrap();
                check(&m, child, (Kind::Node, t.node, 0), id, 0);
            }
        }
    }
}

/// What the mutator of the stepped race test does, step by step.
struct Racer {
    rng: Rng,
    /// Old objects (reachable from a rooted table, so live throughout).
    olds: Vec<ObjRef>,
    /// The user bits each old object was last given.
    bits: Vec<u16>,
    /// The identity of the young node in each pointer field of each old
    /// object (0: none).
    children: Vec<[u64; 3]>,
    next_id: u64,
}

/// The user bits a child node is born with.
fn child_bits(id: u64) -> u16 {
    (id.wrapping_mul(0x9E37_79B9) >> 7) as u16 & MAX_USER_BITS
}

impl Racer {
    /// `n` random steps: set an old object's user bits, store a fresh node
    /// (born with user bits) into an old object, or check an old object
    /// and a child of it; each followed by a safepoint.
    fn steps(&mut self, m: &mut Mutator, t: &Types, n: usize) {
        for _ in 0..n {
            let j = self.rng.below(self.olds.len());
            let old = self.olds[j];
            // SAFETY (test): `old` is reachable from the rooted table; a
            // fresh node is stored before the next safepoint; a child is
            // reachable from `old`.
            unsafe {
                match self.rng.below(8) {
                    0..=3 => {
                        self.bits[j] = random_bits(&mut self.rng);
                        m.set_user_bits(old, self.bits[j]);
                    }
                    4..=6 => {
                        let id = self.next_id;
                        self.next_id += 1;
                        let young = m.alloc_with_user_bits(t.node, 0, child_bits(id));
                        m.store_word(young, 3, canary(id));
                        let f = self.rng.below(3);
                        m.store(old, f, Some(young));
                        self.children[j][f] = id;
                    }
                    _ => {
                        check(m, old, (Kind::Node, t.node, 0), j as u64 + 1, self.bits[j]);
                        let f = self.rng.below(3);
                        let id = self.children[j][f];
                        if id != 0 {
                            let child = m.load(old, f).unwrap();
                            check(m, child, (Kind::Node, t.node, 0), id, child_bits(id));
                        }
                    }
                }
            }
            m.safepoint();
        }
    }

    /// Checks every old object and every child.
    fn check_all(&self, m: &Mutator, t: &Types) {
        for (j, &old) in self.olds.iter().enumerate() {
            // SAFETY (test): as in `steps`.
            unsafe {
                check(m, old, (Kind::Node, t.node, 0), j as u64 + 1, self.bits[j]);
                for (f, &id) in self.children[j].iter().enumerate() {
                    if id != 0 {
                        let child = m.load(old, f).unwrap();
                        check(m, child, (Kind::Node, t.node, 0), id, child_bits(id));
                    }
                }
            }
        }
    }
}

/// Objects with user bits, in a table rooted by `m`'s shadow stack.
fn own_objects(m: &mut Mutator, t: &Types, n: usize, rng: &mut Rng) -> (Vec<ObjRef>, Vec<u16>) {
    let table = m.alloc(t.pairs, n);
    let tslot = m.push_root(Some(table));
    let (mut olds, mut bits) = (Vec::new(), Vec::new());
    for j in 0..n {
        let b = random_bits(rng);
        let o = node(m, t, j as u64 + 1);
        // SAFETY (test): `o` is fresh and the table rooted.
        unsafe {
            m.set_user_bits(o, b);
            m.store(m.root(tslot).unwrap(), 2 * j, Some(o));
        }
        olds.push(o);
        bits.push(b);
    }
    (olds, bits)
}

/// A helper thread steps cycles, minor and major in turn, while the
/// mutator (the test thread) sets user bits and stores into old objects:
/// a batch of steps during each mark before its stack scan, a batch while
/// the helper marks (it arms the headers the mutator writes), and a batch
/// between cycles (the stores log old objects). Every mark is checked
/// (checkmark, verifier); at the end every user bit is as last written.
fn stepped_race(mode: BarrierMode, seed: u64) {
    const OLDS: usize = 48;
    const ROUNDS: usize = 16;
    const BATCH: usize = 150;
    let heap = heap(mode, true);
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let mut rng = Rng::new(seed);
    let (olds, bits) = own_objects(&mut m, &t, OLDS, &mut rng);
    // Two major cycles: survived twice, they are old (generation §1).
    m.collect();
    m.collect();
    let mut racer = Racer {
        rng,
        olds,
        bits,
        children: vec![[0; 3]; OLDS],
        next_id: 1 << 20,
    };
    // The mutator, the channels' ends and the helper live in the scope: if
    // the mutator's side panics, its mutator detaches and its sender
    // drops, so the helper does not wait for it forever.
    let (kinds, mut m) = std::thread::scope(|s| {
        let mut m = m;
        let (to_mutator, marking) = channel::<Option<CycleKind>>();
        let (to_helper, go_on) = channel::<()>();
        let heap = &heap;
        s.spawn(move || {
            for round in 0..ROUNDS {
                let mut c = if round % 2 == 0 {
                    heap.begin_minor_cycle()
                } else {
                    heap.begin_cycle()
                };
                to_mutator.send(None).unwrap();
                go_on.recv().unwrap(); // batch 1 done
                c.scan_stacks();
                c.scan_globals();
                while c.mark(8) > 0 {}
                go_on.recv().unwrap(); // batch 2 done
                let stats = c.finish();
                to_mutator.send(Some(stats.kind)).unwrap();
                go_on.recv().unwrap(); // batch 3 done
            }
        });
        let mut kinds = Vec::new();
        for _ in 0..ROUNDS {
            // During the mark, before the stacks are scanned.
            assert_eq!(m.native(|| marking.recv().unwrap()), None);
            racer.steps(&mut m, &t, BATCH);
            to_helper.send(()).unwrap();
            // While the helper scans and marks.
            racer.steps(&mut m, &t, BATCH);
            to_helper.send(()).unwrap();
            // After the mark: stores log old objects.
            kinds.push(m.native(|| marking.recv().unwrap()).unwrap());
            racer.steps(&mut m, &t, BATCH);
            racer.check_all(&m, &t);
            to_helper.send(()).unwrap();
        }
        (kinds, m)
    });
    assert!(kinds.contains(&CycleKind::Minor), "{mode}: {kinds:?}");
    racer.check_all(&m, &t);
    let s = minor(&heap, &mut m);
    assert_eq!(s.kind, CycleKind::Minor, "{mode}");
    racer.check_all(&m, &t);
    m.collect();
    racer.check_all(&m, &t);
    assert!(heap.failure().is_none(), "{mode}: {:?}", heap.failure());
}

#[test]
fn user_bits_race_stepped_minor_and_major_cycles() {
    for (i, mode) in CONCURRENT_MODES.into_iter().enumerate() {
        stepped_race(mode, 0x5E7B_0000 + i as u64);
    }
}

/// Mutator threads of the free-running race test.
const THREADS: usize = 2;
/// Steps per mutator thread.
const STEPS: usize = 20_000;
/// Old objects whose user bits every thread sets.
const SHARED: usize = 8;
/// gc-stress: each mutator runs a cycle (minor or major, as the policy
/// picks) at every this many safepoint polls, so that every thread's steps
/// span many cycles however the threads are scheduled.
const STRESS: u32 = 150;

/// The value thread `t` writes into a shared object's user bits: its own
/// high bit pattern, so that a value mixing two threads' writes is neither.
fn shared_bits(t: usize, v: u16) -> u16 {
    (if t == 0 { 0x5500 } else { 0x2A00 }) | (v & 0xFF)
}

/// Free-running: a collector thread runs cycles back to back (major ones,
/// and stepped minor ones in turn) until the mutators finish, and
/// gc-stress runs paced ones from the mutators; each mutator
/// sets the user bits of its own old objects and stores fresh nodes into
/// them, and sets the user bits of objects all of them share. At the end
/// each object's bits are the last its owner wrote, and each shared
/// object's are the last write of one of the threads, whole.
fn free_race(mode: BarrierMode, seed: u64) {
    const OLDS: usize = 32;
    let heap = Heap::new(Config {
        barrier: mode,
        generational: true,
        gc_stress: NonZeroU32::new(STRESS),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let (minors, majors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (mi, ma) = (minors.clone(), majors.clone());
    heap.on_cycle_event(move |e| {
        if let CycleEvent::End(s) = e {
            match s.kind {
                CycleKind::Minor => mi.fetch_add(1, Ordering::Relaxed),
                CycleKind::Major => ma.fetch_add(1, Ordering::Relaxed),
            };
        }
    });
    let (shared, globals): (Vec<ObjRef>, Vec<_>) = {
        let mut m = heap.attach().unwrap();
        (0..SHARED)
            .map(|j| {
                let o = node(&mut m, &t, 1000 + j as u64);
                (o, heap.add_global(Some(o)))
            })
            .unzip()
    };
    let finished = Arc::new(AtomicUsize::new(0));
    let last_shared = std::thread::scope(|s| {
        let collector = {
            let (heap, finished) = (&heap, finished.clone());
            s.spawn(move || {
                let mut n = 0u64;
                while finished.load(Ordering::Acquire) < THREADS {
                    if n % 2 == 1 && mode != BarrierMode::Off {
                        let mut c = heap.begin_minor_cycle();
                        c.scan_stacks();
                        c.scan_globals();
                        while c.mark(64) > 0 {}
                        drop(c.finish());
                    } else {
                        heap.collect();
                    }
                    n += 1;
                }
            })
        };
        let handles: Vec<_> = (0..THREADS)
            .map(|th| {
                let (heap, t, shared) = (&heap, &t, &shared);
                let finished = finished.clone();
                s.spawn(move || {
                    struct Finished(Arc<AtomicUsize>);
                    impl Drop for Finished {
                        fn drop(&mut self) {
                            self.0.fetch_add(1, Ordering::Release);
                        }
                    }
                    let _finished = Finished(finished);
                    let mut m = heap.attach().unwrap();
                    let mut rng = Rng::new(seed + th as u64);
                    // Young until the collector's cycles have seen them
                    // survive twice, old after (generation §1).
                    let (olds, bits) = own_objects(&mut m, t, OLDS, &mut rng);
                    let mut racer = Racer {
                        rng,
                        olds,
                        bits,
                        children: vec![[0; 3]; OLDS],
                        next_id: (th as u64 + 1) << 32,
                    };
                    let mut last = [None; SHARED];
                    for step in 0..STEPS {
                        if step % 4 == 0 {
                            let j = racer.rng.below(SHARED);
                            let v = shared_bits(th, racer.rng.next_u64() as u16);
                            // SAFETY (test): the shared objects are held by
                            // globals.
                            unsafe { m.set_user_bits(shared[j], v) };
                            last[j] = Some(v);
                        } else {
                            racer.steps(&mut m, t, 1);
                        }
                    }
                    racer.check_all(&m, t);
                    m.collect();
                    racer.check_all(&m, t);
                    last
                })
            })
            .collect();
        let last: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        collector.join().unwrap();
        last
    });
    let mut m = heap.attach().unwrap();
    m.collect();
    for (j, &obj) in shared.iter().enumerate() {
        // SAFETY (test): held by a global.
        let bits = unsafe { m.user_bits(obj) };
        let candidates: Vec<u16> = last_shared.iter().filter_map(|l| l[j]).collect();
        if candidates.is_empty() {
            assert_eq!(bits, 0, "{mode}: shared object {j} was never written");
        } else {
            assert!(
                candidates.contains(&bits),
                "{mode}: shared object {j} has user bits {bits:#x}, not the last write of \
                 any thread ({candidates:x?})"
            );
        }
        // SAFETY (test): as above.
        unsafe { check(&m, obj, (Kind::Node, t.node, 0), 1000 + j as u64, bits) };
    }
    assert!(heap.failure().is_none(), "{mode}: {:?}", heap.failure());
    let (minors, majors) = (
        minors.load(Ordering::Relaxed),
        majors.load(Ordering::Relaxed),
    );
    eprintln!("{mode}: {minors} minor and {majors} major cycles");
    drop(globals);
}

#[test]
fn user_bits_race_free_running_cycles() {
    for (i, mode) in ALL_MODES.into_iter().enumerate() {
        free_race(mode, 0xF8EE_0000 + i as u64);
    }
}
