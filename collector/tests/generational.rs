//! Generational collection with sticky mark bits (the collector's
//! `generation` module, §1–§5), with checkmark, the verifier and poisoning
//! on in every heap: checkmark proves after each minor mark that no young
//! object reachable through an old one was missed (generation §4).
//!
//! - Minor cycles free young garbage and keep old objects, dead or not;
//!   the next major cycle frees the dead old ones.
//! - Finalizers of old objects wait for a major cycle; weak references to
//!   them are cleared then.
//! - Ephemeron entries across generations: an old key with a young value
//!   keeps the value; a young dead key drops its entry, an old dead one
//!   waits for a major cycle.
//! - Paced cycles under churn, in every barrier mode: old tables whose slots
//!   are rewired to fresh trees between cycles (old-to-young stores, the
//!   remembered set's whole job), with canaries checked; the pacer runs
//!   minor and major cycles.
//!
//! The lost-object test of the remembered set (the old-to-young store that
//! a missing log loses) is in `lost_object.rs`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use tricolor_collector::{
    BarrierMode, Config, CycleEvent, CycleKind, Heap, Mutator, ObjRef, TypeDescriptor, TypeId,
};

/// A generational heap in barrier mode `mode`, cycles only when asked for
/// or stepped, every check on.
fn gen_heap(mode: BarrierMode) -> Heap {
    Heap::new(Config {
        barrier: mode,
        manual_cycles: true,
        generational: true,
        ..checked_config()
    })
}

/// A node: two pointer fields and a canary word; header-free (its
/// log-armed bit in its span: generation §3) if `header_free`.
fn node_type(heap: &Heap, header_free: bool) -> TypeId {
    three_word_node(heap, header_free)
}

/// Each concurrent mode, with headed nodes and with header-free ones.
fn modes_and_layouts() -> impl Iterator<Item = (BarrierMode, bool)> {
    CONCURRENT_MODES
        .into_iter()
        .flat_map(|mode| [(mode, false), (mode, true)])
}

fn node(m: &mut Mutator, ty: TypeId, id: u64) -> ObjRef {
    let o = m.alloc(ty, 0);
    // SAFETY (test): a fresh node; word 2 is its data word.
    unsafe { m.store_word(o, 2, canary(id)) };
    o
}

#[test]
fn young_garbage_dies_in_a_minor_cycle_old_garbage_waits_for_a_major() {
    for (mode, header_free) in modes_and_layouts() {
        let heap = gen_heap(mode);
        let ty = node_type(&heap, header_free);
        let mut m = heap.attach().unwrap();

        let old_live = node(&mut m, ty, 1);
        let keep = heap.add_global(Some(old_live));
        let old_dead = node(&mut m, ty, 2);
        let doomed = heap.add_global(Some(old_dead));
        let w_old_dead = m.weak_ref(old_dead).unwrap();
        // Two major cycles: survived twice, both are old (generation §1).
        m.collect();
        m.collect();
        assert_eq!(heap.stats().last_cycle.unwrap().kind, CycleKind::Major);
        drop(doomed); // old and unreachable

        let young_dead = node(&mut m, ty, 3);
        let w_young_dead = m.weak_ref(young_dead).unwrap();
        let young_live = node(&mut m, ty, 4);
        let old_live = keep.get().unwrap();
        // SAFETY (test): `old_live` is reachable from a global; `young_live`
        // is fresh. An old-to-young store: it logs `old_live`.
        unsafe { m.store(old_live, 0, Some(young_live)) };

        let s = minor(&heap, &mut m);
        assert_eq!(s.kind, CycleKind::Minor, "{mode}");
        assert_eq!(s.remembered, 1, "{mode}");
        assert_eq!(
            s.objects_marked, 1,
            "{mode}: only the young survivor is marked"
        );
        assert_eq!(w_young_dead.get(&m), None, "{mode}: young garbage is freed");
        assert!(
            w_old_dead.get(&m).is_some(),
            "{mode}: an old object is not collected by a minor cycle"
        );
        // SAFETY (test): reachable from the global, and the young node from it.
        unsafe {
            let y = m
                .load(keep.get().unwrap(), 0)
                .expect("the young node is linked");
            assert_eq!(m.load_word(y, 2), canary(4), "{mode}");
        }

        m.collect(); // major
        assert_eq!(w_old_dead.get(&m), None, "{mode}: the major cycle frees it");
        let last = heap.stats().last_cycle.unwrap();
        assert_eq!(last.kind, CycleKind::Major);
        assert_eq!(
            last.objects_marked, 2,
            "{mode}: the old node and its (now old) child"
        );
    }
}

/// Aging (generation §1): an object is a survivor after its first
/// survival and old after its second. A survivor that dies is freed by the
/// next minor cycle; an old object that points to a young one stays in the
/// remembered set (carried over) until that one is old too.
#[test]
fn survivors_age_before_they_are_old() {
    for (mode, header_free) in modes_and_layouts() {
        let heap = gen_heap(mode);
        let ty = node_type(&heap, header_free);
        let mut m = heap.attach().unwrap();
        let a = node(&mut m, ty, 1);
        let g = heap.add_global(Some(a));
        m.collect();
        m.collect(); // `a` is old

        // Garbage that survived once dies in the next minor cycle.
        let t = node(&mut m, ty, 2);
        let gt = heap.add_global(Some(t));
        let wt = m.weak_ref(t).unwrap();
        let s = minor(&heap, &mut m);
        assert_eq!(s.objects_marked, 1, "{mode}: `t` survives, `a` is old");
        drop(gt);
        let s = minor(&heap, &mut m);
        assert_eq!(s.objects_marked, 0, "{mode}");
        assert_eq!(
            wt.get(&m),
            None,
            "{mode}: a dead survivor is freed by a minor cycle"
        );

        // An old-to-young pointer: remembered by the log, then carried over
        // while `y` is a survivor, then not needed: `y` is old.
        let y = node(&mut m, ty, 3);
        // SAFETY (test): `a` is reachable from the global; `y` is fresh.
        unsafe { m.store(g.get().unwrap(), 0, Some(y)) };
        let s1 = minor(&heap, &mut m);
        assert_eq!((s1.remembered, s1.objects_marked), (1, 1), "{mode}: logged");
        let s2 = minor(&heap, &mut m);
        assert_eq!(
            (s2.remembered, s2.objects_marked),
            (1, 1),
            "{mode}: carried over"
        );
        let s3 = minor(&heap, &mut m);
        assert_eq!(
            (s3.remembered, s3.objects_marked),
            (0, 0),
            "{mode}: `y` is old"
        );
        // SAFETY (test): reachable from the global through `a`.
        unsafe {
            let y = m.load(g.get().unwrap(), 0).expect("linked");
            assert_eq!(m.load_word(y, 2), canary(3), "{mode}");
        }
    }
}

/// Tenuring (generation §1, `policy::generations::tenure_at_first_survival`):
/// after a cycle that most of the allocation before it survived, the next
/// cycle makes every survivor old at once; after one where little was
/// allocated, objects age as usual.
#[test]
fn a_cycle_after_most_allocation_survived_tenures_at_the_first_survival() {
    for (mode, header_free) in modes_and_layouts() {
        let heap = gen_heap(mode);
        let ty = node_type(&heap, header_free);
        let mut m = heap.attach().unwrap();
        // 2.25 MiB of nodes in 32-byte slots, every one kept: a list.
        const N: u64 = 72 * 1024;
        let head = m.push_root(None);
        for i in 0..N {
            let n = node(&mut m, ty, i);
            // SAFETY (test): `n` is fresh, the old head rooted.
            unsafe { m.store(n, 0, m.root(head)) };
            m.set_root(head, Some(n));
        }
        m.collect(); // everything allocated survives, for the first time
        let s = minor(&heap, &mut m);
        assert!(s.tenured_first, "{mode}: most survived the last cycle");
        assert_eq!(s.objects_marked, N, "{mode}: survivors are traced again");
        let s = minor(&heap, &mut m);
        assert!(!s.tenured_first, "{mode}: nothing was allocated since");
        assert_eq!(s.objects_marked, 0, "{mode}: the whole list is old");
        // SAFETY (test): the list is rooted; walk it and check every canary.
        unsafe {
            let mut at = m.root(head);
            let mut i = N;
            while let Some(n) = at {
                i -= 1;
                assert_eq!(m.load_word(n, 2), canary(i), "{mode}");
                at = m.load(n, 0);
            }
            assert_eq!(i, 0, "{mode}: the whole list is there");
        }
    }
}

#[test]
fn finalizers_of_old_objects_run_after_a_major_cycle() {
    for (mode, header_free) in modes_and_layouts() {
        let heap = gen_heap(mode);
        let ty = node_type(&heap, header_free);
        let mut m = heap.attach().unwrap();
        let ran = Arc::new(AtomicU64::new(0));

        let old = node(&mut m, ty, 1);
        let g = heap.add_global(Some(old));
        let r = ran.clone();
        m.set_finalizer(old, move |_, _| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        // Two major cycles: survived twice, it is old (generation §1).
        m.collect();
        m.collect();
        drop(g);
        let young = node(&mut m, ty, 2);
        let r = ran.clone();
        m.set_finalizer(young, move |_, _| {
            r.fetch_add(10, Ordering::SeqCst);
        })
        .unwrap();

        let s = minor(&heap, &mut m);
        assert_eq!(s.kind, CycleKind::Minor);
        m.wait_for_finalizers();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            10,
            "{mode}: only the young one ran"
        );

        m.collect();
        m.wait_for_finalizers();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            11,
            "{mode}: the major cycle found the old one"
        );
        // The resurrected objects went back to the heap after their
        // finalizers; nothing is left.
        m.collect();
        m.collect();
        assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0, "{mode}");
    }
}

#[test]
fn ephemeron_entries_across_generations() {
    for (mode, header_free) in modes_and_layouts() {
        let heap = gen_heap(mode);
        let ty = node_type(&heap, header_free);
        let mut m = heap.attach().unwrap();
        let table = heap.ephemeron_table();

        let old_key = node(&mut m, ty, 1);
        let g_key = heap.add_global(Some(old_key));
        let old_dead_key = node(&mut m, ty, 2);
        let g_dead = heap.add_global(Some(old_dead_key));
        let old_value = node(&mut m, ty, 3);
        table.insert(&mut m, old_dead_key, old_value).unwrap();
        // Two major cycles: survived twice, all three are old (generation §1).
        m.collect();
        m.collect();
        drop(g_dead);

        // Old key, young value: the value lives by the key alone.
        let young_value = node(&mut m, ty, 4);
        let old_key = g_key.get().unwrap();
        table.insert(&mut m, old_key, young_value).unwrap();
        // Young key, young value, the key unreachable: the entry goes.
        let young_key = node(&mut m, ty, 5);
        let young_value2 = node(&mut m, ty, 6);
        table.insert(&mut m, young_key, young_value2).unwrap();
        assert_eq!(table.len(), 3);

        let s = minor(&heap, &mut m);
        assert_eq!(s.kind, CycleKind::Minor);
        assert_eq!(
            table.len(),
            2,
            "{mode}: the young dead key's entry is dropped, the old dead key's waits"
        );
        let v = table
            .get(&m, g_key.get().unwrap())
            .expect("old key's entry");
        // SAFETY (test): `v` was just read from a live entry.
        assert_eq!(
            unsafe { m.load_word(v, 2) },
            canary(4),
            "{mode}: the young value survived"
        );

        m.collect(); // major: the old dead key's entry goes
        assert_eq!(table.len(), 1, "{mode}");
    }
}

/// Paced cycles under churn: each thread keeps an old table of `SLOTS`
/// slots, each holding a small tree, and replaces random slots' trees with
/// fresh ones, or a tree's left subtree under its (old) root (old-to-young
/// stores into the table and into nodes) while the pacer runs cycles;
/// every tree is walked and its canaries checked now and then, and at the
/// end.
fn churn(mode: BarrierMode, seed: u64, header_free: bool, rounds: usize) -> (u64, u64) {
    const SLOTS: usize = 256;
    const DEPTH: u32 = 5;
    let heap = Heap::new(Config {
        barrier: mode,
        generational: true,
        ..checked_config()
    });
    let ty = node_type(&heap, header_free);
    let table_ty = heap
        .register_type(TypeDescriptor::array("Table", 1, &[0]))
        .unwrap();
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

    fn tree(m: &mut Mutator, ty: TypeId, depth: u32, id: u64) -> ObjRef {
        let n = node(m, ty, id);
        if depth > 0 {
            let slot = m.push_root(Some(n));
            let l = tree(m, ty, depth - 1, id * 2);
            let n = m.root(slot).unwrap();
            // SAFETY (test): `n` is rooted, `l` fresh.
            unsafe { m.store(n, 0, Some(l)) };
            let r = tree(m, ty, depth - 1, id * 2 + 1);
            let n = m.root(slot).unwrap();
            // SAFETY (test): as above.
            unsafe { m.store(n, 1, Some(r)) };
            m.truncate_roots(slot);
            return n;
        }
        n
    }

    fn check(m: &Mutator, n: ObjRef, depth: u32, id: u64) {
        // SAFETY (test): `n` is reachable (from a rooted table) and no
        // safepoint happens during the walk.
        unsafe {
            assert_eq!(
                m.load_word(n, 2),
                canary(id),
                "a tree node was freed or overwritten"
            );
            if depth > 0 {
                check(m, m.load(n, 0).unwrap(), depth - 1, id * 2);
                check(m, m.load(n, 1).unwrap(), depth - 1, id * 2 + 1);
            }
        }
    }

    std::thread::scope(|s| {
        for t in 0..2u64 {
            let heap = heap.clone();
            s.spawn(move || {
                let mut m = heap.attach().unwrap();
                let mut rng = tricolor_testkit::Rng::new(seed ^ t);
                let table = m.alloc(table_ty, SLOTS);
                let tslot = m.push_root(Some(table));
                let mut ids = vec![0u64; SLOTS];
                for (i, id) in ids.iter_mut().enumerate() {
                    *id = (t << 40) | ((i as u64) << 20) | 1;
                    let tr = tree(&mut m, ty, DEPTH, *id);
                    let table = m.root(tslot).unwrap();
                    // SAFETY (test): the table is rooted, `tr` fresh.
                    unsafe { m.store(table, i, Some(tr)) };
                }
                for round in 0..rounds {
                    let i = rng.below(SLOTS);
                    let table = m.root(tslot).unwrap();
                    // SAFETY (test): the table is rooted.
                    let old = unsafe { m.load(table, i) }.unwrap();
                    if round % 16 == 0 {
                        check(&m, old, DEPTH, ids[i]);
                    }
                    if round % 2 == 1 {
                        // A fresh left subtree (same ids) under the old
                        // root: an old-to-young store into a node.
                        let sub = tree(&mut m, ty, DEPTH - 1, ids[i] * 2);
                        let table = m.root(tslot).unwrap();
                        // SAFETY (test): the table is rooted, so is its
                        // tree; `sub` is fresh.
                        unsafe {
                            let root = m.load(table, i).unwrap();
                            m.store(root, 0, Some(sub));
                        }
                        continue;
                    }
                    ids[i] = (t << 40) | ((i as u64) << 20) | ((round as u64 + 2) & 0xFFFFF);
                    let tr = tree(&mut m, ty, DEPTH, ids[i]);
                    let table = m.root(tslot).unwrap();
                    // SAFETY (test): as above: the old table (old after the
                    // first major cycle) gets a young tree.
                    unsafe { m.store(table, i, Some(tr)) };
                }
                let table = m.root(tslot).unwrap();
                for (i, &id) in ids.iter().enumerate() {
                    // SAFETY (test): the table is rooted.
                    check(&m, unsafe { m.load(table, i) }.unwrap(), DEPTH, id);
                }
            });
        }
    });
    heap.collect();
    (
        minors.load(Ordering::Relaxed),
        majors.load(Ordering::Relaxed),
    )
}

#[test]
fn paced_churn_with_old_to_young_stores_in_every_mode() {
    for (i, mode) in ALL_MODES.into_iter().enumerate() {
        let (minors, majors) = churn(mode, 0x5EED_0000 + i as u64, false, 12_000);
        eprintln!("{mode}: {minors} minor, {majors} major cycles");
        assert!(minors >= 1, "{mode}: no minor cycle ran ({majors} major)");
        assert!(
            majors >= 2,
            "{mode}: the first cycle and the last collect are major"
        );
    }
}

/// The churn above with header-free nodes: their log-armed bits live in
/// their spans (generation §3).
#[test]
fn paced_churn_of_header_free_nodes_in_every_mode() {
    for (i, mode) in ALL_MODES.into_iter().enumerate() {
        let (minors, majors) = churn(mode, 0xF4EE_0000 + i as u64, true, 8_000);
        eprintln!("{mode}: {minors} minor, {majors} major cycles");
        assert!(minors >= 1, "{mode}: no minor cycle ran ({majors} major)");
        assert!(
            majors >= 2,
            "{mode}: the first cycle and the last collect are major"
        );
    }
}
