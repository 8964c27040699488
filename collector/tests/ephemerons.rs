//! Ephemeron tables ([`EphemeronTable`]), under every barrier mode (Off,
//! SATB, incremental update, hybrid) with checkmark, the verifier and
//! poisoning on:
//!
//! - a value is kept (with what it reaches, canaries intact) while its key
//!   is rooted; once the key is unreachable the entry is removed (`len`,
//!   `ephemerons_dropped`) and the value freed (exact marked and freed
//!   counts, weak references as witnesses);
//! - a value reachable from elsewhere survives its key;
//! - chains k1 → v1 → k2 → v2 → … inserted in random order across two
//!   tables, of several lengths, are kept whole from a rooted first key;
//!   broken in the middle, the tail is dropped and freed;
//! - a value that reaches its own key does not keep the key alive, nor do
//!   two entries whose values reach each other's key;
//! - a key with a finalizer loses its entry before the finalizer runs, and
//!   stays without it after resurrection; what the key reaches stays keyed,
//!   also when the finalizer stage runs at mark termination or is stepped
//!   (a pass must follow it); a finalizable key that reaches itself through
//!   an entry is kept whole and counted as a finalizer cycle;
//! - a dropped table keeps nothing;
//! - map semantics (replace, remove, one entry per key), refused input, and
//!   a mutator of another heap;
//! - four mutator threads inserting, getting, replacing and removing in a
//!   shared and a private table while collections run;
//! - stepped interleavings: insert while marking with the key already black
//!   (after a pass settled it: a new value, and a new entry) or still white
//!   (kept, or dropped with its key); `get` while marking
//!   producing the only strong reference to a value that then leaves the
//!   table (survives with checkmark; with the test-only barrier switch off,
//!   checkmark fails naming the value); a chain completed while marking
//!   (every value keeps its canary).

mod common;
mod stepper;

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use stepper::{Collector, Step};
use tricolor_collector::{
    BarrierMode, Config, EphemeronTable, Heap, Mutator, ObjRef, SpecialError, WeakRef,
};

/// Asserts that `obj` carries `canary(id)`.
///
/// # Safety
/// `obj` must be a live object of `m`'s heap (as for `Mutator::load`).
unsafe fn assert_intact(m: &Mutator, obj: ObjRef, id: u64) {
    // SAFETY: the caller's contract.
    let ok = unsafe { canary_ok(m, Kind::Node, obj, id) };
    assert!(ok, "object {id} at {obj:?} lost its canary");
}

/// `table.get(m, key)`, checked to be the object with `canary(id)`.
fn get_checked(m: &Mutator, table: &EphemeronTable, key: ObjRef, id: u64) -> ObjRef {
    let v = table
        .get(m, key)
        .unwrap_or_else(|| panic!("no entry for the key of value {id}"));
    // SAFETY: just returned by the table: live until the next safepoint.
    unsafe { assert_intact(m, v, id) };
    v
}

/// Pointer field `field` (0..3) of the Node `obj`.
///
/// # Safety
/// `obj` must be a live Node of `m`'s heap (as for `Mutator::load`).
unsafe fn field(m: &Mutator, obj: ObjRef, field: usize) -> Option<ObjRef> {
    // SAFETY: the caller's contract; fields 0..3 of Node are pointers.
    unsafe { m.load(obj, field) }
}

/// Stores `to` into pointer field `field` (0..3) of the Node `obj`.
///
/// # Safety
/// `obj` and `to` must be live objects of `m`'s heap, `obj` a Node (as for
/// `Mutator::store`).
unsafe fn link(m: &mut Mutator, obj: ObjRef, field: usize, to: Option<ObjRef>) {
    // SAFETY: the caller's contract; fields 0..3 of Node are pointers.
    unsafe { m.store(obj, field, to) }
}

fn dropped(heap: &Heap) -> u64 {
    heap.stats().specials.ephemerons_dropped
}

#[test]
fn a_value_is_kept_while_its_key_is_rooted_and_dropped_with_it() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let table = heap.ephemeron_table();
        let mut m = heap.attach().unwrap();
        settle(&mut m);
        let freed_before = freed(&heap);
        let k = node(&mut m, &t, 1);
        let ks = m.push_root(Some(k));
        let v = node(&mut m, &t, 2);
        let vs = m.push_root(Some(v));
        let w = node(&mut m, &t, 3); // reached from the value only
                                     // SAFETY: `v` is rooted, `w` fresh.
        unsafe { link(&mut m, v, 0, Some(w)) };
        let k = m.root(ks).unwrap();
        assert_eq!(table.insert(&mut m, k, v).unwrap(), None);
        assert!(!table.is_empty());
        let w_value = m.weak_ref(v).unwrap();
        m.set_root(vs, None);
        for cycle in 0..3 {
            node(&mut m, &t, 100); // garbage
            settle(&mut m);
            assert_eq!(
                marked(&heap),
                3,
                "{mode}: cycle {cycle}: key, value, its child"
            );
            assert_eq!(table.len(), 1, "{mode}: cycle {cycle}");
            let v = get_checked(&m, &table, m.root(ks).unwrap(), 2);
            // SAFETY: `v` was just returned by the table, `w` loaded from
            // it; no safepoint since.
            unsafe {
                let w = field(&m, v, 0).expect("the value's child");
                assert_intact(&m, w, 3);
            }
        }
        assert_eq!(dropped(&heap), 0, "{mode}");

        m.set_root(ks, None);
        m.collect();
        assert_eq!(table.len(), 0, "{mode}: the entry went with its key");
        let last = heap.stats().last_cycle.unwrap();
        assert_eq!(
            (last.objects_marked, last.ephemerons_dropped),
            (0, 1),
            "{mode}"
        );
        m.wait_for_finalizers();
        assert!(w_value.is_cleared(), "{mode}: the value was freed");
        assert_eq!(dropped(&heap), 1, "{mode}");
        assert_eq!(
            freed(&heap) - freed_before,
            3 + 3,
            "{mode}: 3 objects, 3 garbage"
        );
    }
}

#[test]
fn a_value_reachable_elsewhere_survives_its_key() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let table = heap.ephemeron_table();
        let other = heap.ephemeron_table();
        let mut m = heap.attach().unwrap();
        let v = node(&mut m, &t, 1);
        let vs = m.push_root(Some(v));
        let k1 = node(&mut m, &t, 2); // dies
        let k2 = node(&mut m, &t, 3);
        let k2s = m.push_root(Some(k2));
        let v = m.root(vs).unwrap();
        table.insert(&mut m, k1, v).unwrap();
        other.insert(&mut m, k2, v).unwrap(); // one value, two keys
        let w_k1 = m.weak_ref(k1).unwrap();
        settle(&mut m);
        assert_eq!((table.len(), other.len()), (0, 1), "{mode}");
        assert_eq!(dropped(&heap), 1, "{mode}");
        assert_eq!(marked(&heap), 2, "{mode}: the value and k2");
        assert!(w_k1.is_cleared(), "{mode}");
        // SAFETY: rooted.
        unsafe { assert_intact(&m, m.root(vs).unwrap(), 1) };
        assert_eq!(
            get_checked(&m, &other, m.root(k2s).unwrap(), 1),
            m.root(vs).unwrap()
        );

        // Unrooted, the value is still kept by its other key.
        m.set_root(vs, None);
        settle(&mut m);
        assert_eq!(marked(&heap), 2, "{mode}");
        get_checked(&m, &other, m.root(k2s).unwrap(), 1);
    }
}

/// A chain of `len` entries: key i → value i, value i's field 0 → key i + 1;
/// entry i in one of two tables, inserted in random order; key 0 rooted.
/// Then the link out of value `len / 2` is cut.
fn chain(mode: BarrierMode, len: usize, seed: u64) {
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let tables = [heap.ephemeron_table(), heap.ephemeron_table()];
    let mut rng = Rng::new(seed);
    let mut m = heap.attach().unwrap();
    settle(&mut m);
    let freed_before = freed(&heap);
    let key_id = |i: usize| 2 * i as u64;
    let value_id = |i: usize| 2 * i as u64 + 1;
    // Build with everything rooted, then drop all roots but key 0's.
    let frame = m.root_count();
    let keys: Vec<usize> = (0..len)
        .map(|i| {
            let k = node(&mut m, &t, key_id(i));
            m.push_root(Some(k))
        })
        .collect();
    let values: Vec<usize> = (0..len)
        .map(|i| {
            let v = node(&mut m, &t, value_id(i));
            m.push_root(Some(v))
        })
        .collect();
    for i in 0..len - 1 {
        let (v, k) = (m.root(values[i]).unwrap(), m.root(keys[i + 1]));
        // SAFETY: both rooted.
        unsafe { link(&mut m, v, 0, k) };
    }
    let which: Vec<usize> = (0..len).map(|_| rng.below(2)).collect();
    let mut order: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut order);
    for &i in &order {
        let (k, v) = (m.root(keys[i]).unwrap(), m.root(values[i]).unwrap());
        assert_eq!(tables[which[i]].insert(&mut m, k, v).unwrap(), None);
    }
    let witnesses: Vec<WeakRef> = (0..len)
        .map(|i| m.weak_ref(m.root(values[i]).unwrap()).unwrap())
        .collect();
    let head = m.root(keys[0]);
    m.truncate_roots(frame);
    let head_slot = m.push_root(head);

    // Walks the chain from key 0; returns the values reached.
    let walk = |m: &Mutator| {
        let mut k = m.root(head_slot);
        let mut n = 0;
        while let Some(key) = k {
            // SAFETY: `key` is rooted or was loaded from a value the table
            // just returned; no safepoint during the walk.
            unsafe { assert_intact(m, key, key_id(n)) };
            let v = get_checked(m, &tables[which[n]], key, value_id(n));
            // SAFETY: just returned by the table.
            k = unsafe { field(m, v, 0) };
            n += 1;
        }
        n
    };

    for _ in 0..2 {
        settle(&mut m);
        let total = (tables[0].len() + tables[1].len()) as u64;
        assert_eq!(total, len as u64, "{mode} len {len}: every entry kept");
        assert_eq!(marked(&heap), 2 * len as u64, "{mode} len {len}");
        assert_eq!(walk(&m), len, "{mode} len {len}");
    }
    assert_eq!(dropped(&heap), 0);

    // Cut the chain after value `b`: keys b+1.. die, and their values.
    let b = len / 2;
    let mut k = m.root(head_slot).unwrap();
    for i in 0..=b {
        let v = tables[which[i]].get(&m, k).unwrap();
        // SAFETY: `v` was just returned by the table (no safepoint in this
        // walk); it is a Node.
        unsafe {
            if i == b {
                link(&mut m, v, 0, None);
            } else {
                k = field(&m, v, 0).unwrap();
            }
        }
    }
    settle(&mut m);
    let lost = (len - b - 1) as u64;
    let total = (tables[0].len() + tables[1].len()) as u64;
    assert_eq!(
        total,
        b as u64 + 1,
        "{mode} len {len}: the tail was dropped"
    );
    assert_eq!(dropped(&heap), lost, "{mode} len {len}");
    assert_eq!(marked(&heap), 2 * (b as u64 + 1), "{mode} len {len}");
    assert_eq!(freed(&heap) - freed_before, 2 * lost, "{mode} len {len}");
    assert_eq!(walk(&m), b + 1, "{mode} len {len}");
    for (i, w) in witnesses.iter().enumerate() {
        assert_eq!(w.is_cleared(), i > b, "{mode} len {len}: value {i}");
    }
}

#[test]
fn chains_across_two_tables_in_any_order_are_kept_and_cut_tails_dropped() {
    for mode in ALL_MODES {
        for (len, seed) in [(1, 1), (2, 2), (5, 3), (17, 4), (64, 5)] {
            chain(mode, len, seed);
        }
    }
}

#[test]
fn a_value_that_reaches_its_own_key_does_not_keep_it() {
    for mode in ALL_MODES {
        for key_reaches_value in [false, true] {
            let heap = manual_heap(mode);
            let t = Types::register(&heap);
            let table = heap.ephemeron_table();
            let mut m = heap.attach().unwrap();
            settle(&mut m);
            let freed_before = freed(&heap);
            let k = node(&mut m, &t, 1);
            let ks = m.push_root(Some(k));
            let v = node(&mut m, &t, 2);
            let k = m.root(ks).unwrap();
            // SAFETY: `k` is rooted, `v` fresh.
            unsafe {
                link(&mut m, v, 0, Some(k));
                if key_reaches_value {
                    link(&mut m, k, 1, Some(v));
                }
            }
            table.insert(&mut m, k, v).unwrap();
            let (wk, wv) = (m.weak_ref(k).unwrap(), m.weak_ref(v).unwrap());

            // Control: with the key rooted, both live.
            settle(&mut m);
            assert_eq!((marked(&heap), table.len()), (2, 1), "{mode}");
            let v = get_checked(&m, &table, m.root(ks).unwrap(), 2);
            // SAFETY: just returned by the table.
            assert_eq!(unsafe { field(&m, v, 0) }, m.root(ks));

            m.set_root(ks, None);
            settle(&mut m);
            let ctx = format!("{mode}, key reaches value: {key_reaches_value}");
            assert_eq!((marked(&heap), table.len()), (0, 0), "{ctx}");
            assert_eq!(dropped(&heap), 1, "{ctx}");
            assert_eq!(freed(&heap) - freed_before, 2, "{ctx}");
            assert!(wk.is_cleared() && wv.is_cleared(), "{ctx}");
        }
    }
}

#[test]
fn entries_whose_values_reach_each_others_keys_die_together() {
    for mode in ALL_MODES {
        for same_table in [true, false] {
            let heap = manual_heap(mode);
            let t = Types::register(&heap);
            let t1 = heap.ephemeron_table();
            let t2 = heap.ephemeron_table();
            let second = if same_table { &t1 } else { &t2 };
            let mut m = heap.attach().unwrap();
            settle(&mut m);
            let freed_before = freed(&heap);
            let frame = m.root_count();
            let objs: Vec<usize> = (1..=4)
                .map(|id| {
                    let o = node(&mut m, &t, id);
                    m.push_root(Some(o))
                })
                .collect();
            let r = |m: &Mutator, i: usize| m.root(objs[i]).unwrap();
            let (k1, v1, k2, v2) = (r(&m, 0), r(&m, 1), r(&m, 2), r(&m, 3));
            // SAFETY: all four are rooted.
            unsafe {
                link(&mut m, v1, 0, Some(k2));
                link(&mut m, v2, 0, Some(k1));
            }
            t1.insert(&mut m, k1, v1).unwrap();
            second.insert(&mut m, k2, v2).unwrap();
            let witnesses: Vec<WeakRef> = [k1, v1, k2, v2]
                .into_iter()
                .map(|o| m.weak_ref(o).unwrap())
                .collect();
            m.truncate_roots(frame);
            let k1s = m.push_root(Some(k1));

            // Control: rooting k1 keeps all four (k1 → v1 → k2 → v2 → k1).
            settle(&mut m);
            let ctx = format!("{mode}, same table: {same_table}");
            assert_eq!(marked(&heap), 4, "{ctx}");
            let v1 = get_checked(&m, &t1, m.root(k1s).unwrap(), 2);
            // SAFETY: `v1` and `v2` were just returned by the tables; no
            // safepoint since.
            let k2 = unsafe { field(&m, v1, 0) }.unwrap();
            let v2 = get_checked(&m, second, k2, 4);
            // SAFETY: as above.
            assert_eq!(unsafe { field(&m, v2, 0) }, m.root(k1s), "{ctx}");

            m.set_root(k1s, None);
            settle(&mut m);
            assert_eq!(
                marked(&heap),
                0,
                "{ctx}: neither key is reached from outside"
            );
            assert_eq!(t1.len() + t2.len(), 0, "{ctx}");
            assert_eq!(dropped(&heap), 2, "{ctx}");
            assert_eq!(freed(&heap) - freed_before, 4, "{ctx}");
            assert!(witnesses.iter().all(WeakRef::is_cleared), "{ctx}");
        }
    }
}

/// What the key's finalizer saw.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    len: usize,
    own_entry: bool,
    child_entry_intact: bool,
}

#[test]
fn a_finalizable_key_loses_its_entry_before_its_finalizer_runs() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let table = Arc::new(heap.ephemeron_table());
        let mut m = heap.attach().unwrap();
        settle(&mut m);
        // k (finalizable) → k2; entries (k, v) and (k2, v2).
        let k = node(&mut m, &t, 1);
        let ks = m.push_root(Some(k));
        let k2 = node(&mut m, &t, 2);
        let k = m.root(ks).unwrap();
        // SAFETY: `k` is rooted, `k2` fresh.
        unsafe { link(&mut m, k, 0, Some(k2)) };
        let v = node(&mut m, &t, 3);
        let k = m.root(ks).unwrap();
        table.insert(&mut m, k, v).unwrap();
        let v2 = node(&mut m, &t, 4);
        let k = m.root(ks).unwrap();
        // SAFETY: `k` is rooted.
        let k2 = unsafe { field(&m, k, 0) }.unwrap();
        table.insert(&mut m, k2, v2).unwrap();
        let wv = m.weak_ref(v).unwrap();
        let home = Arc::new(heap.add_global(None));
        let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
        let (table_in, home_in, seen_in) = (table.clone(), home.clone(), seen.clone());
        m.set_finalizer(k, move |m, obj| {
            // SAFETY: the finalizer's object is rooted while it runs; field
            // 0 of Node is a pointer.
            let k2 = unsafe { m.load(obj, 0) }.expect("k still reaches k2");
            let child_entry_intact = table_in.get(m, k2).is_some_and(|v2| {
                // SAFETY: just returned by the table, no safepoint since.
                unsafe { canary_ok(m, Kind::Node, v2, 4) }
            });
            *seen_in.lock().unwrap() = Some(Seen {
                len: table_in.len(),
                own_entry: table_in.get(m, obj).is_some(),
                child_entry_intact,
            });
            home_in.set(Some(obj)); // resurrected
        })
        .unwrap();
        m.set_root(ks, None);
        settle(&mut m);
        let saw = seen.lock().unwrap().take().expect("the finalizer ran");
        assert_eq!(
            saw,
            Seen {
                len: 1,
                own_entry: false,
                child_entry_intact: true
            },
            "{mode}: k's entry is gone, k2's (kept for k's finalizer) is not"
        );
        assert_eq!(dropped(&heap), 1, "{mode}");
        assert!(wv.is_cleared(), "{mode}: k's value was freed");

        // Resurrected: still no entry, and k2's entry lives on through k.
        for _ in 0..2 {
            settle(&mut m);
            let k = home.get().unwrap();
            // SAFETY: `k` is held by the global; `k2` is loaded from it.
            let k2 = unsafe {
                assert_intact(&m, k, 1);
                field(&m, k, 0).unwrap()
            };
            assert_eq!(table.get(&m, k), None, "{mode}");
            get_checked(&m, &table, k2, 4);
        }
        // The resurrected key can be used again.
        let v3 = node(&mut m, &t, 5);
        let k = home.get().unwrap();
        assert_eq!(table.insert(&mut m, k, v3).unwrap(), None);
        settle(&mut m);
        get_checked(&m, &table, home.get().unwrap(), 5);
        assert_eq!(marked(&heap), 4, "{mode}: k, k2, v2, v3");
        home.set(None);
        settle(&mut m);
        assert_eq!(table.len(), 0, "{mode}");
        assert_eq!(dropped(&heap), 3, "{mode}");
        assert_eq!(heap.stats().specials.finalizers_run, 1, "{mode}");
    }
}

/// The finalizer stage left to mark termination (a stepped cycle that never
/// runs it concurrently), or run by the stepper: the referent of an
/// unreachable finalizable key is marked for the finalizer, so the entry it
/// keys must keep its value: the stage follows the entries of the keys it
/// marks itself, and a pass after it finds nothing left to do.
#[test]
fn a_pass_follows_the_finalizer_stage() {
    for mode in CONCURRENT_MODES {
        for explicit in [false, true] {
            let ctx = format!("{mode}, stage stepped: {explicit}");
            let heap = manual_heap(mode);
            let t = Types::register(&heap);
            let table = heap.ephemeron_table();
            let mut m = heap.attach().unwrap();
            let gc = Collector::new(&heap);
            let frame = m.root_count();
            let slots: Vec<usize> = (1..=4)
                .map(|id| {
                    let o = node(&mut m, &t, id);
                    m.push_root(Some(o))
                })
                .collect();
            let r = |m: &Mutator, i: usize| m.root(slots[i]).unwrap();
            let (k, k2, v, v2) = (r(&m, 0), r(&m, 1), r(&m, 2), r(&m, 3));
            // SAFETY: both rooted.
            unsafe { link(&mut m, k, 0, Some(k2)) };
            table.insert(&mut m, k, v).unwrap();
            table.insert(&mut m, k2, v2).unwrap();
            m.set_finalizer(k, |_, _| {}).unwrap();
            let (wk, wv, wv2) = (
                m.weak_ref(k).unwrap(),
                m.weak_ref(v).unwrap(),
                m.weak_ref(v2).unwrap(),
            );
            m.truncate_roots(frame); // nothing is rooted

            gc.count(&mut m, Step::Begin);
            gc.count(&mut m, Step::ScanStacks);
            gc.count(&mut m, Step::ScanGlobals);
            assert_eq!(gc.count(&mut m, Step::MarkAll), 0, "{ctx}");
            if explicit {
                assert_eq!(gc.count(&mut m, Step::EphemeronPass), 0, "{ctx}");
                assert_eq!(gc.count(&mut m, Step::FinalizerStage), 0, "{ctx}: no cycle");
                assert_eq!(
                    gc.count(&mut m, Step::EphemeronPass),
                    0,
                    "{ctx}: the stage marked v2 through k2's entry"
                );
                gc.count(&mut m, Step::MarkAll);
            }
            let stats = gc
                .step(&mut m, Step::Finish)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"))
                .stats();
            assert_eq!(stats.objects_marked, 2, "{ctx}: k2 and v2");
            assert_eq!(stats.ephemerons_dropped, 1, "{ctx}: k's entry");
            m.wait_for_finalizers();
            assert_eq!(heap.stats().specials.finalizers_run, 1, "{ctx}");
            assert!(wk.is_cleared() && wv.is_cleared(), "{ctx}");
            assert!(!wv2.is_cleared(), "{ctx}");
            assert_eq!(table.len(), 1, "{ctx}");
            // k is freed now, and with it the last path to k2.
            settle(&mut m);
            assert!(wv2.is_cleared(), "{ctx}");
            assert_eq!((table.len(), dropped(&heap)), (0, 2), "{ctx}");
        }
    }
}

/// A finalizable key k → k2, with an entry (k2, v2) whose value reaches k:
/// nothing outside reaches k. The stage keeps k2 for k's finalizer, so k2's
/// entry keeps v2 (anything else would leave the entry's value dangling),
/// and v2 keeps k: k reaches itself through the entry, a finalizer cycle.
/// Builds it and runs `cycles` collections; returns the heap, the table and
/// handles to k, k2 and v2.
fn finalizer_cycle_through_an_entry(
    mode: BarrierMode,
    cycles: usize,
) -> (Heap, EphemeronTable, Mutator, [WeakRef; 3]) {
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let table = heap.ephemeron_table();
    let mut m = heap.attach().unwrap();
    let frame = m.root_count();
    let slots: Vec<usize> = (1..=3)
        .map(|id| {
            let o = node(&mut m, &t, id);
            m.push_root(Some(o))
        })
        .collect();
    let r = |m: &Mutator, i: usize| m.root(slots[i]).unwrap();
    let (k, k2, v2) = (r(&m, 0), r(&m, 1), r(&m, 2));
    // SAFETY: all three are rooted.
    unsafe {
        link(&mut m, k, 0, Some(k2));
        link(&mut m, v2, 0, Some(k));
    }
    table.insert(&mut m, k2, v2).unwrap();
    m.set_finalizer(k, |_, _| panic!("k reaches itself: never finalized"))
        .unwrap();
    let handles = [k, k2, v2].map(|o| m.weak_ref(o).unwrap());
    m.truncate_roots(frame);
    for _ in 0..cycles {
        settle(&mut m);
    }
    (heap, table, m, handles)
}

#[test]
fn a_finalizable_key_reaching_itself_through_an_entry_is_kept_whole() {
    for mode in ALL_MODES {
        let (heap, table, m, handles) = finalizer_cycle_through_an_entry(mode, 3);
        let s = heap.stats();
        assert_eq!(s.specials.finalizers_run, 0, "{mode}");
        assert_eq!(s.last_cycle.unwrap().objects_marked, 3, "{mode}");
        assert_eq!(table.len(), 1, "{mode}");
        // Nothing dangles: every handle still yields its intact object, and
        // the entry still maps k2 to v2.
        let [wk, wk2, wv2] = &handles;
        let k = wk.get(&m).expect("k");
        let k2 = wk2.get(&m).expect("k2");
        let v2 = get_checked(&m, &table, k2, 3);
        assert_eq!(wv2.get(&m), Some(v2), "{mode}");
        // SAFETY: all three were just returned by weak references or the
        // table; no safepoint since.
        unsafe {
            assert_intact(&m, k, 1);
            assert_intact(&m, k2, 2);
            assert_eq!(field(&m, k, 0), Some(k2), "{mode}");
            assert_eq!(field(&m, v2, 0), Some(k), "{mode}");
        }
    }
}

#[test]
fn a_finalizable_key_reaching_itself_through_an_entry_is_counted_as_a_cycle() {
    // `Mutator::set_finalizer`: objects in a cycle of finalizable objects
    // are reported in `SpecialStats::finalizer_cycles`, one object per
    // group and collection, ephemeron entries included. k reaches itself (k → k2 ⇒ v2 → k) and is never
    // finalized, so each of the three cycles must count it.
    for mode in ALL_MODES {
        let (heap, _table, _m, _handles) = finalizer_cycle_through_an_entry(mode, 3);
        let s = heap.stats().specials;
        assert_eq!(s.finalizers_run, 0, "{mode}");
        assert_eq!(
            s.finalizer_cycles, 3,
            "{mode}: k leaks, and must be counted"
        );
    }
}

#[test]
fn a_dropped_table_keeps_nothing() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let kept = heap.ephemeron_table();
        let table = heap.ephemeron_table();
        let mut m = heap.attach().unwrap();
        let k = node(&mut m, &t, 1);
        let ks = m.push_root(Some(k));
        let v = node(&mut m, &t, 2);
        let k = m.root(ks).unwrap();
        table.insert(&mut m, k, v).unwrap();
        let v2 = node(&mut m, &t, 3);
        let k = m.root(ks).unwrap();
        kept.insert(&mut m, k, v2).unwrap();
        let wv = m.weak_ref(v).unwrap();
        settle(&mut m);
        assert_eq!(marked(&heap), 3, "{mode}");
        get_checked(&m, &table, m.root(ks).unwrap(), 2);
        drop(table);
        settle(&mut m);
        assert_eq!(
            marked(&heap),
            2,
            "{mode}: the key and the other table's value"
        );
        assert!(wv.is_cleared(), "{mode}");
        assert_eq!(
            dropped(&heap),
            0,
            "{mode}: no entry was dropped for a dead key"
        );
        get_checked(&m, &kept, m.root(ks).unwrap(), 3);
    }
}

#[test]
fn insert_get_and_remove_follow_map_semantics() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Types::register(&heap);
    let table = heap.ephemeron_table();
    let mut m = heap.attach().unwrap();
    let k = node(&mut m, &t, 1);
    let ks = m.push_root(Some(k));
    let v1 = node(&mut m, &t, 2);
    let v1s = m.push_root(Some(v1));
    let v2 = node(&mut m, &t, 3);
    let v2s = m.push_root(Some(v2));
    let k = m.root(ks).unwrap();
    assert_eq!(table.get(&m, k), None);
    assert_eq!(table.insert(&mut m, k, v1).unwrap(), None);
    assert_eq!(table.insert(&mut m, k, v2).unwrap(), Some(v1), "replaces");
    assert_eq!(table.len(), 1, "one entry per key");
    settle(&mut m);
    let k = m.root(ks).unwrap();
    assert_eq!(table.get(&m, k), m.root(v2s));
    assert_eq!(table.remove(&mut m, k), m.root(v2s));
    assert_eq!(table.remove(&mut m, k), None);
    assert!(table.is_empty());
    // SAFETY: rooted.
    unsafe { assert_intact(&m, m.root(v1s).unwrap(), 2) };

    // Refused input names the operation and the problem.
    let inside = ObjRef::from_addr(k.addr() + 8).unwrap();
    let e = table.insert(&mut m, inside, k).unwrap_err();
    assert!(matches!(e, SpecialError::InteriorPointer { .. }), "{e}");
    assert!(
        e.to_string().contains("EphemeronTable::insert (key)"),
        "{e}"
    );
    let e = table.insert(&mut m, k, inside).unwrap_err();
    assert!(
        e.to_string().contains("EphemeronTable::insert (value)"),
        "{e}"
    );
    assert!(table.is_empty());

    // A mutator of another heap is refused.
    let other = manual_heap(BarrierMode::Hybrid);
    let table = Arc::new(table);
    let (table2, k_addr) = (table.clone(), k.addr());
    let foreign = thread::spawn(move || {
        let m2 = other.attach().unwrap();
        let key = ObjRef::from_addr(k_addr).unwrap();
        catch_unwind(AssertUnwindSafe(|| table2.get(&m2, key))).map_err(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        })
    });
    let msg = m.native(|| foreign.join().unwrap()).unwrap_err();
    assert!(msg.contains("another heap"), "{msg}");
}

/// One thread's program for the concurrent test. Returns its private table
/// and the number of entries whose key it dropped while the entry existed.
///
/// Values come either fresh (allocated black if a mark is running) or from
/// a pool of spares allocated earlier and held only by the stack until they
/// go into a table: those are white in a mark that began after them, so an
/// insert while marking must get them looked at by a later pass.
fn eph_worker(
    heap: Heap,
    t: Types,
    shared: Arc<EphemeronTable>,
    start: Arc<Barrier>,
    seed: u64,
) -> (EphemeronTable, u64) {
    const ROUNDS: usize = 2000;
    struct Entry {
        slot: usize,
        key: u64,
        value: u64,
        private: bool,
        value_reaches_key: bool,
    }
    let own = heap.ephemeron_table();
    let mut rng = Rng::new(seed);
    let mut m = heap.attach().unwrap();
    m.native(|| start.wait());
    let mut entries: Vec<Entry> = Vec::new();
    // Spare values: (root slot, id).
    let mut spares: Vec<(usize, u64)> = Vec::new();
    let mut next_id = seed << 32;
    let mut keys_dropped = 0;
    let check = |m: &Mutator, entries: &[Entry]| {
        for e in entries {
            let table = if e.private { &own } else { &*shared };
            let k = m.root(e.slot).unwrap();
            // SAFETY: rooted.
            unsafe { assert_intact(m, k, e.key) };
            let v = get_checked(m, table, k, e.value);
            // SAFETY: just returned by the table.
            let back = unsafe { field(m, v, 0) };
            assert_eq!(back == Some(k), e.value_reaches_key);
        }
    };
    // A value for an insert: a spare if there is one (half the time), else
    // a fresh object. Its root slot, if any, is cleared by the caller after
    // the insert.
    fn value(
        m: &mut Mutator,
        t: &Types,
        rng: &mut Rng,
        next_id: &mut u64,
        spares: &mut Vec<(usize, u64)>,
    ) -> (ObjRef, u64, Option<usize>) {
        if !spares.is_empty() && rng.bool() {
            let (slot, id) = spares.swap_remove(rng.below(spares.len()));
            (m.root(slot).unwrap(), id, Some(slot))
        } else {
            *next_id += 1;
            (node(m, t, *next_id), *next_id, None)
        }
    }
    for _ in 0..ROUNDS {
        match rng.below(100) {
            0..=24 => {
                next_id += 1;
                let key_id = next_id;
                let k = node(&mut m, &t, key_id);
                let slot = m.push_root(Some(k));
                let (v, value_id, spare_slot) =
                    value(&mut m, &t, &mut rng, &mut next_id, &mut spares);
                let value_reaches_key = rng.bool();
                let k = m.root(slot).unwrap();
                if value_reaches_key {
                    // SAFETY: `k` is rooted; `v` is fresh or a rooted spare.
                    unsafe { link(&mut m, v, 0, Some(k)) };
                }
                let private = rng.bool();
                let table = if private { &own } else { &*shared };
                assert_eq!(table.insert(&mut m, k, v).unwrap(), None);
                if let Some(s) = spare_slot {
                    m.set_root(s, None);
                }
                entries.push(Entry {
                    slot,
                    key: key_id,
                    value: value_id,
                    private,
                    value_reaches_key,
                });
            }
            25..=32 => {
                for _ in 0..4 {
                    next_id += 1;
                    let v = node(&mut m, &t, next_id);
                    spares.push((m.push_root(Some(v)), next_id));
                }
            }
            33..=44 => check(&m, &entries),
            45..=54 if !entries.is_empty() => {
                // Replace the value.
                let i = rng.below(entries.len());
                let (v, value_id, spare_slot) =
                    value(&mut m, &t, &mut rng, &mut next_id, &mut spares);
                let e = &mut entries[i];
                let table = if e.private { &own } else { &*shared };
                let k = m.root(e.slot).unwrap();
                let old = table.insert(&mut m, k, v).unwrap().expect("an entry");
                // SAFETY: just returned by the table (shaded if marking).
                unsafe { assert_intact(&m, old, e.value) };
                if let Some(s) = spare_slot {
                    m.set_root(s, None);
                }
                e.value = value_id;
                // Fresh objects and spares link nowhere.
                // SAFETY: `v` is in the table under the rooted `k`, with no
                // safepoint since the insert.
                assert_eq!(unsafe { field(&m, v, 0) }, None);
                e.value_reaches_key = false;
            }
            55..=62 if !entries.is_empty() => {
                // Remove the entry, then drop the key.
                let e = entries.swap_remove(rng.below(entries.len()));
                let table = if e.private { &own } else { &*shared };
                let k = m.root(e.slot).unwrap();
                let v = table.remove(&mut m, k).expect("an entry");
                // SAFETY: just returned by the table (shaded if marking).
                unsafe { assert_intact(&m, v, e.value) };
                assert_eq!(table.get(&m, k), None);
                m.set_root(e.slot, None);
            }
            63..=76 if !entries.is_empty() => {
                // Drop the key, leaving its entry to the collector.
                let e = entries.swap_remove(rng.below(entries.len()));
                m.set_root(e.slot, None);
                keys_dropped += 1;
            }
            77..=86 => {
                // A cycle that starts after this request finds every key
                // dropped before it dead: the private table holds exactly
                // the entries of rooted keys.
                m.collect();
                let want = entries.iter().filter(|e| e.private).count();
                assert_eq!(own.len(), want, "entries of dead keys are gone");
                check(&m, &entries);
            }
            87..=92 => m.native(|| thread::sleep(Duration::from_micros(100))),
            _ => m.safepoint(),
        }
    }
    m.collect();
    check(&m, &entries);
    // Detaching drops the remaining keys (their entries too, next cycle).
    (own, keys_dropped + entries.len() as u64)
}

#[test]
fn four_mutators_share_tables_while_collections_run() {
    let heap = Heap::new(Config {
        gc_stress: NonZeroU32::new(97),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let shared = Arc::new(heap.ephemeron_table());
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = (0..4u64)
        .map(|i| {
            let (heap, shared, start) = (heap.clone(), shared.clone(), start.clone());
            thread::spawn(move || eph_worker(heap, t, shared, start, 0xE9 + i))
        })
        .collect();
    let results: Vec<(EphemeronTable, u64)> =
        workers.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(heap.stats().cycles > 10, "collections ran meanwhile");
    heap.collect();
    let expected: u64 = results.iter().map(|r| r.1).sum();
    assert_eq!(shared.len(), 0);
    assert!(results.iter().all(|r| r.0.is_empty()));
    assert_eq!(
        dropped(&heap),
        expected,
        "each entry whose key died is dropped exactly once"
    );
    assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
}

// ---- stepped interleavings ---------------------------------------------------

/// Insert while marking, with the key already black, after a pass has run
/// in this mark: `k` was settled (its old value shaded) before the mutator
/// replaces its value, and a new entry comes under the black key `k2`. The
/// new values, which were allocated before the mark and whose only other
/// reference (the stack) the mutator then drops, must be kept by their
/// entries: an insert while marking has to be looked at again by a later
/// pass. With `explicit_pass`, the stepper runs that pass; otherwise mark
/// termination's passes must find it.
fn insert_under_a_black_key(mode: BarrierMode, explicit_pass: bool) {
    let ctx = format!("{mode}, explicit pass: {explicit_pass}");
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let table = heap.ephemeron_table();
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);
    let k = node(&mut m, &t, 1);
    let g1 = heap.add_global(Some(k));
    let k2 = node(&mut m, &t, 2);
    let g2 = heap.add_global(Some(k2));
    let v_old = node(&mut m, &t, 3);
    table.insert(&mut m, k, v_old).unwrap();
    let w_old = m.weak_ref(v_old).unwrap();
    let v_old_addr = v_old.addr();
    let v_new = node(&mut m, &t, 4);
    let s_new = m.push_root(Some(v_new));
    let v2 = node(&mut m, &t, 5);
    let s2 = m.push_root(Some(v2));

    gc.count(&mut m, Step::Begin);
    gc.count(&mut m, Step::ScanGlobals);
    gc.count(&mut m, Step::MarkAll); // k and k2 are black
    assert_eq!(gc.count(&mut m, Step::EphemeronPass), 1, "{ctx}: v_old");
    gc.count(&mut m, Step::MarkAll);
    // The mutator: a new value for the settled key, a new entry under k2.
    let (k, k2) = (g1.get().unwrap(), g2.get().unwrap());
    let (v_new, v2) = (m.root(s_new).unwrap(), m.root(s2).unwrap());
    let old = table.insert(&mut m, k, v_new).unwrap();
    assert_eq!(old.map(ObjRef::addr), Some(v_old_addr));
    assert_eq!(table.insert(&mut m, k2, v2).unwrap(), None);
    m.set_root(s_new, None);
    m.set_root(s2, None);
    gc.count(&mut m, Step::ScanStacks);
    gc.count(&mut m, Step::MarkAll);
    if explicit_pass {
        // SATB scanned the stack (holding both values) when the mark
        // began; in the other modes only the entries hold them now.
        let want = if mode == BarrierMode::Satb { 0 } else { 2 };
        assert_eq!(gc.count(&mut m, Step::EphemeronPass), want, "{ctx}");
        gc.count(&mut m, Step::MarkAll);
    }
    let stats = gc
        .step(&mut m, Step::Finish)
        .unwrap_or_else(|e| panic!("{ctx}: {e}"))
        .stats();
    // k, k2, the old value (taken out while marking, so kept this cycle)
    // and the two new values.
    assert_eq!(stats.objects_marked, 5, "{ctx}");
    m.wait_for_finalizers();
    get_checked(&m, &table, g1.get().unwrap(), 4);
    get_checked(&m, &table, g2.get().unwrap(), 5);
    settle(&mut m);
    get_checked(&m, &table, g1.get().unwrap(), 4);
    get_checked(&m, &table, g2.get().unwrap(), 5);
    assert!(
        w_old.is_cleared(),
        "{ctx}: the replaced value dies a cycle later"
    );
    assert_eq!(marked(&heap), 4, "{ctx}");
    assert_eq!(dropped(&heap), 0, "{ctx}");
}

#[test]
fn insert_while_marking_under_a_black_key_keeps_the_value() {
    for mode in CONCURRENT_MODES {
        for explicit_pass in [true, false] {
            insert_under_a_black_key(mode, explicit_pass);
        }
    }
}

/// Insert while marking, with the key still white. Reached later through an
/// unscanned global, the key (and so the value) is kept; dropped from the
/// stack before the stack is scanned, it dies and its entry goes, except
/// under SATB, whose snapshot holds both for this cycle.
#[test]
fn insert_while_marking_with_a_white_key() {
    for mode in CONCURRENT_MODES {
        // Reached later.
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let table = heap.ephemeron_table();
        let mut m = heap.attach().unwrap();
        let gc = Collector::new(&heap);
        let a = node(&mut m, &t, 1);
        let global = heap.add_global(Some(a));
        let k = node(&mut m, &t, 2);
        // SAFETY: `a` is held by the global, `k` fresh.
        unsafe { link(&mut m, a, 0, Some(k)) };
        let v = node(&mut m, &t, 3);
        let vs = m.push_root(Some(v));
        gc.count(&mut m, Step::Begin);
        // SAFETY: `a` is held by the global.
        let k = unsafe { field(&m, global.get().unwrap(), 0) }.unwrap();
        let v = m.root(vs).unwrap();
        table.insert(&mut m, k, v).unwrap();
        m.set_root(vs, None);
        gc.count(&mut m, Step::ScanStacks);
        gc.count(&mut m, Step::MarkAll);
        assert_eq!(
            gc.count(&mut m, Step::EphemeronPass),
            0,
            "{mode}: k is white"
        );
        gc.count(&mut m, Step::ScanGlobals);
        gc.count(&mut m, Step::MarkAll);
        let want = u64::from(mode != BarrierMode::Satb);
        assert_eq!(gc.count(&mut m, Step::EphemeronPass), want, "{mode}");
        gc.count(&mut m, Step::MarkAll);
        let stats = gc.step(&mut m, Step::Finish).unwrap().stats();
        assert_eq!(stats.objects_marked, 3, "{mode}: a, k, v");
        m.wait_for_finalizers();
        // SAFETY: `a` is held by the global.
        let k = unsafe { field(&m, global.get().unwrap(), 0) }.unwrap();
        get_checked(&m, &table, k, 3);
        drop(gc);
        drop(m);

        // Dropped before the stack scan.
        let heap = manual_heap(mode);
        let t = Types::register(&heap);
        let table = heap.ephemeron_table();
        let mut m = heap.attach().unwrap();
        let gc = Collector::new(&heap);
        let k = node(&mut m, &t, 1);
        let ks = m.push_root(Some(k));
        let v = node(&mut m, &t, 2);
        let vs = m.push_root(Some(v));
        let (wk, wv) = (m.weak_ref(k).unwrap(), m.weak_ref(v).unwrap());
        gc.count(&mut m, Step::Begin);
        let (k, v) = (m.root(ks).unwrap(), m.root(vs).unwrap());
        table.insert(&mut m, k, v).unwrap();
        m.set_root(ks, None);
        m.set_root(vs, None);
        gc.count(&mut m, Step::ScanStacks);
        gc.count(&mut m, Step::ScanGlobals);
        gc.count(&mut m, Step::MarkAll);
        gc.count(&mut m, Step::EphemeronPass);
        gc.count(&mut m, Step::MarkAll);
        let stats = gc.step(&mut m, Step::Finish).unwrap().stats();
        m.wait_for_finalizers();
        let satb = mode == BarrierMode::Satb;
        assert_eq!(stats.objects_marked, if satb { 2 } else { 0 }, "{mode}");
        assert_eq!(stats.ephemerons_dropped, u64::from(!satb), "{mode}");
        assert_eq!(table.len(), usize::from(satb), "{mode}");
        assert_eq!(wk.is_cleared() && wv.is_cleared(), !satb, "{mode}");
        settle(&mut m);
        assert!(
            table.is_empty() && wk.is_cleared() && wv.is_cleared(),
            "{mode}"
        );
        assert_eq!(dropped(&heap), 1, "{mode}");
    }
}

/// How the mutator takes the value out of the table. Each way is the only
/// one that shades the value in its scenario, so each is tested alone.
#[derive(Copy, Clone, Debug)]
enum Out {
    /// `remove` the entry; the value is what `remove` returns.
    Remove,
    /// `insert` another value under the key; the value is what `insert`
    /// returns.
    Replace,
    /// `get` the value, then drop the table (which shades nothing).
    GetThenDropTable,
}

/// Where the mutator keeps the value.
#[derive(Copy, Clone, Debug)]
enum Dest {
    /// A field of the (black) key.
    BlackObject,
    /// A root slot of the (scanned) stack.
    Root,
}

/// During marking, after the stack was scanned and the key (held by a
/// global) was marked black, the mutator takes the value, which nothing but
/// the entry reaches, out of the table (`out`) and keeps it in `dest`. The
/// operation that hands it out must shade it: it is the only strong
/// reference, made after the stack scan, and the entry no longer keeps it.
/// Returns the cycle's result and the value's address.
fn value_taken_while_marking(
    mode: BarrierMode,
    out: Out,
    dest: Dest,
    barrier_on: bool,
) -> (Result<(), String>, usize) {
    let mut v_addr = 0;
    let r = value_taken_while_marking_at(mode, out, dest, barrier_on, &mut v_addr);
    (r, v_addr)
}

fn value_taken_while_marking_at(
    mode: BarrierMode,
    out: Out,
    dest: Dest,
    barrier_on: bool,
    v_addr_out: &mut usize,
) -> Result<(), String> {
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let mut table = Some(heap.ephemeron_table());
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);
    let k = node(&mut m, &t, 1);
    let global = heap.add_global(Some(k));
    let v = node(&mut m, &t, 2);
    let v_addr = v.addr();
    *v_addr_out = v_addr;
    table.as_ref().unwrap().insert(&mut m, k, v).unwrap();
    let slot = m.push_root(None);

    gc.step(&mut m, Step::Begin)?;
    heap.disable_barrier_for_testing(!barrier_on);
    gc.step(&mut m, Step::ScanGlobals)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::ScanStacks)?;
    // The replacement, allocated before the program below (allocation is a
    // safepoint), and black.
    let fresh = node(&mut m, &t, 3);
    // The mutator's program, with no safepoint until the value is stored.
    let k = global.get().unwrap();
    let tab = table.as_ref().unwrap();
    let v = match out {
        Out::Remove => tab.remove(&mut m, k),
        Out::Replace => tab.insert(&mut m, k, fresh).unwrap(),
        Out::GetThenDropTable => tab.get(&m, k),
    }
    .expect("the entry of a live key");
    assert_eq!(v.addr(), v_addr);
    match dest {
        // SAFETY: `k` is held by the global; `v` was just handed out.
        Dest::BlackObject => unsafe { link(&mut m, k, 1, Some(v)) },
        Dest::Root => m.set_root(slot, Some(v)),
    }
    if let Out::GetThenDropTable = out {
        drop(table.take());
    }
    heap.disable_barrier_for_testing(false);
    gc.step(&mut m, Step::FlushBuffers)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::EphemeronPass)?;
    gc.step(&mut m, Step::MarkAll)?;
    let stats = gc.step(&mut m, Step::Finish)?.stats();
    // The key and the value (the replacement, allocated black, is not
    // counted among the objects marked).
    assert_eq!(stats.objects_marked, 2, "{mode} {out:?} {dest:?}");
    if let Some(table) = &table {
        // Replaced: the entry holds the replacement; removed: no entry.
        let entry = table.get(&m, global.get().unwrap());
        assert_eq!(
            entry.is_some(),
            matches!(out, Out::Replace),
            "{mode} {out:?}"
        );
    }
    m.wait_for_finalizers();
    let v = match dest {
        // SAFETY: `k` is held by the global.
        Dest::BlackObject => unsafe { field(&m, global.get().unwrap(), 1) },
        Dest::Root => m.root(slot),
    }
    .expect("the value is still held");
    assert_eq!(v.addr(), v_addr);
    // SAFETY: held by the key or a root.
    unsafe { assert_intact(&m, v, 2) };
    Ok(())
}

fn expect_lost(r: Result<(), String>, lost: usize, what: &str) {
    let msg = r.expect_err(&format!(
        "{what}: without the barrier the object must be lost and checkmark must fail"
    ));
    assert!(
        msg.contains("checkmark") && msg.contains("`Node`"),
        "{what}: unexpected failure: {msg}"
    );
    assert!(
        msg.contains(&format!("{lost:#x}")),
        "{what}: names the object: {msg}"
    );
}

#[test]
fn a_value_taken_out_while_marking_is_shaded() {
    for mode in CONCURRENT_MODES {
        for out in [Out::Remove, Out::Replace, Out::GetThenDropTable] {
            for dest in [Dest::BlackObject, Dest::Root] {
                let what = format!("{mode} {out:?} {dest:?}");
                value_taken_while_marking(mode, out, dest, true)
                    .0
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                // Incremental update rescans stacks at mark termination: a
                // value kept in a root survives without the barrier too.
                if matches!((mode, dest), (BarrierMode::IncrementalUpdate, Dest::Root)) {
                    value_taken_while_marking(mode, out, dest, false).0.unwrap();
                } else {
                    let (r, v) = value_taken_while_marking(mode, out, dest, false);
                    expect_lost(r, v, &what);
                }
            }
        }
    }
}

/// A chain k0 → v0, k1 → v1 → k2 → v2 whose first link (v0 → k1) is made
/// while marking, after v0 was found through k0 and scanned; k1 was only on
/// the unscanned stack and is dropped from it. Everything must survive with
/// canaries intact. Returns the cycle's result and k1's address.
fn chain_completed_while_marking(
    mode: BarrierMode,
    barrier_on: bool,
) -> (Result<(), String>, usize) {
    let heap = manual_heap(mode);
    let t = Types::register(&heap);
    let (t1, t2) = (heap.ephemeron_table(), heap.ephemeron_table());
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);
    let frame = m.root_count();
    let slots: Vec<usize> = (0..6)
        .map(|id| {
            let o = node(&mut m, &t, id);
            m.push_root(Some(o))
        })
        .collect();
    let r = |m: &Mutator, i: usize| m.root(slots[i]).unwrap();
    let (k0, v0, k1, v1, k2, v2) = (r(&m, 0), r(&m, 1), r(&m, 2), r(&m, 3), r(&m, 4), r(&m, 5));
    // SAFETY: both rooted.
    unsafe { link(&mut m, v1, 0, Some(k2)) };
    t1.insert(&mut m, k0, v0).unwrap();
    t2.insert(&mut m, k1, v1).unwrap();
    t1.insert(&mut m, k2, v2).unwrap();
    let k1_addr = k1.addr();
    let global = heap.add_global(Some(k0));
    m.truncate_roots(frame);
    let k1s = m.push_root(Some(k1));

    let mut run = || -> Result<(), String> {
        gc.step(&mut m, Step::Begin)?;
        gc.step(&mut m, Step::ScanGlobals)?;
        gc.step(&mut m, Step::MarkAll)?;
        let shaded = gc.step(&mut m, Step::EphemeronPass)?.count();
        if mode != BarrierMode::Satb {
            assert_eq!(shaded, 1, "{mode}: v0 alone (k1 is white)");
        }
        gc.step(&mut m, Step::MarkAll)?;
        heap.disable_barrier_for_testing(!barrier_on);
        // The mutator completes the chain and drops k1 from its stack.
        let v0 = t1.get(&m, global.get().unwrap()).unwrap();
        let k1 = m.root(k1s);
        // SAFETY: `v0` was just returned by the table, `k1` is rooted.
        unsafe { link(&mut m, v0, 0, k1) };
        m.set_root(k1s, None);
        heap.disable_barrier_for_testing(false);
        gc.step(&mut m, Step::ScanStacks)?;
        gc.step(&mut m, Step::FlushBuffers)?;
        gc.step(&mut m, Step::MarkAll)?;
        let stats = gc.step(&mut m, Step::Finish)?.stats();
        assert_eq!(stats.objects_marked, 6, "{mode}");
        assert_eq!(stats.ephemerons_dropped, 0, "{mode}");
        Ok(())
    };
    let result = run();
    if result.is_ok() {
        m.wait_for_finalizers();
        let k0 = global.get().unwrap();
        let v0 = get_checked(&m, &t1, k0, 1);
        // SAFETY: `v0` and `v1` were just returned by the tables, the keys
        // loaded from them; no safepoint during the walk.
        let k1 = unsafe { field(&m, v0, 0) }.unwrap();
        // SAFETY: as above.
        unsafe { assert_intact(&m, k1, 2) };
        let v1 = get_checked(&m, &t2, k1, 3);
        // SAFETY: as above.
        let k2 = unsafe { field(&m, v1, 0) }.unwrap();
        // SAFETY: as above.
        unsafe { assert_intact(&m, k2, 4) };
        get_checked(&m, &t1, k2, 5);
        assert_eq!(t1.len() + t2.len(), 3);
    }
    (result, k1_addr)
}

#[test]
fn a_chain_completed_while_marking_is_kept() {
    for mode in CONCURRENT_MODES {
        let (r, _) = chain_completed_while_marking(mode, true);
        r.unwrap_or_else(|e| panic!("{mode}: {e}"));
        if mode != BarrierMode::Satb {
            // SATB's snapshot holds k1 (it was on the stack when the mark
            // began); the other modes need the barrier on the link.
            let (r, k1) = chain_completed_while_marking(mode, false);
            expect_lost(r, k1, &format!("{mode}"));
        }
    }
}
