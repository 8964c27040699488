//! Header-free objects (`TypeDescriptor::header_free`; `object` module
//! docs): a type's objects carry no header word and live in spans of an own
//! span class of the type's, which name the type.
//!
//! - A header-free two-word node takes a 16-byte slot (a headed one takes
//!   24), by the marker's count and the allocator's.
//! - The heap grants the request only where it can: a fixed-size type of
//!   at most `MAX_HEADER_FREE_BYTES`, while own classes are left (64);
//!   otherwise the type gets a header and works the same. Generational
//!   heaps grant it too (the generational tests run header-free nodes).
//! - Type queries, layouts, per-type statistics, retaining paths and heap
//!   snapshots name the type from the span.
//! - User bits are refused (there is no header to hold them) with an error
//!   that says so, and read 0.
//! - Finalizers, weak references and ephemerons take header-free objects.
//! - Graphs mixing header-free and headed objects (pointer maps and a
//!   traced type with tagged words) survive churn with gc-stress in every
//!   barrier mode, with checkmark, the verifier and poisoning on; a
//!   pointer into the middle of a header-free object is reported as one.
//!
//! Fixed seeds and fixed step counts throughout.

mod common;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use tricolor_collector::{
    BarrierMode, Config, Heap, Mutator, ObjRef, Shape, SpecialError, TypeDescriptor, TypeId,
    MAX_HEADER_FREE_BYTES,
};

/// A heap that is not generational, every check on, cycles only when asked
/// for.
fn heap(mode: BarrierMode) -> Heap {
    Heap::new(Config {
        barrier: mode,
        manual_cycles: true,
        generational: false,
        per_type_stats: true,
        ..checked_config()
    })
}

/// A two-pointer node (words 0, 1), header-free if the heap grants it.
fn pair_type(heap: &Heap, name: &str) -> TypeId {
    heap.register_type(TypeDescriptor::fixed(name, 2, &[0, 1]).header_free())
        .unwrap()
}

/// A tree of `depth` levels of `ty` nodes (two pointer fields), built bottom
/// up with its subtrees rooted while the parent is made.
fn tree(m: &mut Mutator, ty: TypeId, depth: u32) -> ObjRef {
    if depth == 0 {
        return m.alloc(ty, 0);
    }
    let l = tree(m, ty, depth - 1);
    let ls = m.push_root(Some(l));
    let r = tree(m, ty, depth - 1);
    let rs = m.push_root(Some(r));
    let n = m.alloc(ty, 0);
    // SAFETY (test): `n` is fresh; both children are rooted.
    unsafe {
        m.store(n, 0, m.root(ls));
        m.store(n, 1, m.root(rs));
    }
    m.truncate_roots(ls);
    n
}

/// Nodes in a tree of `depth` levels, checked by walking it.
fn count(m: &Mutator, n: Option<ObjRef>) -> u64 {
    match n {
        None => 0,
        // SAFETY (test): the tree is rooted by the caller.
        Some(n) => unsafe { 1 + count(m, m.load(n, 0)) + count(m, m.load(n, 1)) },
    }
}

#[test]
fn a_header_free_pair_takes_a_sixteen_byte_slot() {
    let heap = heap(BarrierMode::Hybrid);
    let free = pair_type(&heap, "Free");
    let headed = heap
        .register_type(TypeDescriptor::fixed("Headed", 2, &[0, 1]))
        .unwrap();
    assert!(free.is_header_free() && !headed.is_header_free());
    let mut m = heap.attach().unwrap();
    for (ty, slot) in [(free, 16), (headed, 24)] {
        let t = tree(&mut m, ty, 10);
        let r = m.push_root(Some(t));
        m.collect();
        let nodes = (1 << 11) - 1;
        assert_eq!(count(&m, m.root(r)), nodes);
        let last = heap.stats().last_cycle.unwrap();
        assert_eq!(last.objects_marked, nodes);
        assert_eq!(last.heap_marked, nodes * slot, "{ty:?}: {slot}-byte slots");
        let by_type = heap.stats();
        let row = by_type.per_type().iter().find(|s| s.ty == ty).unwrap();
        assert_eq!((row.objects, row.bytes), (nodes, nodes * slot));
        m.truncate_roots(r);
    }
    m.collect();
    assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
}

#[test]
fn the_request_is_granted_only_where_it_can_be() {
    let heap = heap(BarrierMode::Satb);
    let words = (MAX_HEADER_FREE_BYTES / 8) as u32;
    let ok = |d: TypeDescriptor| heap.register_type(d).unwrap();
    assert!(ok(TypeDescriptor::fixed("Widest", words, &[0]).header_free()).is_header_free());
    assert!(!ok(TypeDescriptor::fixed("TooWide", words + 1, &[0]).header_free()).is_header_free());
    assert!(!ok(TypeDescriptor::array("Array", 1, &[0]).header_free()).is_header_free());
    assert!(!ok(TypeDescriptor::bytes("Bytes").header_free()).is_header_free());
    assert!(!ok(TypeDescriptor::fixed("Asked", 2, &[0])).is_header_free());
    let traced = ok(TypeDescriptor::traced(
        "Tagged",
        Shape::Fixed { words: 3 },
        trace_tagged,
        decode_tagged,
    )
    .header_free());
    assert!(
        traced.is_header_free(),
        "a traced fixed type can be header-free"
    );
    // 64 own classes: the 62 left go to the next 62 types, then headers.
    let more: Vec<TypeId> = (0..70)
        .map(|i| pair_type(&heap, &format!("P{i}")))
        .collect();
    assert_eq!(more.iter().filter(|t| t.is_header_free()).count(), 62);
    assert!(more[..62].iter().all(|t| t.is_header_free()));
    // Every one of them allocates and collects the same.
    let mut m = heap.attach().unwrap();
    let slots: Vec<_> = more
        .iter()
        .map(|&t| {
            let o = tree(&mut m, t, 2);
            m.push_root(Some(o))
        })
        .collect();
    m.collect();
    for s in slots {
        assert_eq!(count(&m, m.root(s)), 7);
    }
    // A generational heap grants it too: the log-armed bit lives in the
    // span (generation §3).
    let gen = Heap::new(Config {
        generational: true,
        ..checked_config()
    });
    let t = pair_type(&gen, "Pair");
    assert!(t.is_header_free());
    let mut m = gen.attach().unwrap();
    let o = tree(&mut m, t, 4);
    let r = m.push_root(Some(o));
    m.collect();
    assert_eq!(count(&m, m.root(r)), 31);
}

#[test]
fn types_and_layouts_come_from_the_span() {
    let heap = heap(BarrierMode::Hybrid);
    let pair = pair_type(&heap, "Pair");
    let unit = heap
        .register_type(TypeDescriptor::fixed("Unit", 0, &[]).header_free())
        .unwrap();
    assert!(unit.is_header_free());
    let mut m = heap.attach().unwrap();
    let p = m.alloc(pair, 0);
    let ps = m.push_root(Some(p));
    let u = m.alloc(unit, 0);
    let us = m.push_root(Some(u));
    m.collect();
    let (p, u) = (m.root(ps).unwrap(), m.root(us).unwrap());
    // SAFETY (test): both are rooted.
    unsafe {
        assert_eq!(m.shape_of(p), (pair, 0));
        assert_eq!(m.shape_of(u), (unit, 0));
        assert_eq!(m.type_index_of(p), pair.index());
        let l = m.layout_of(p);
        assert_eq!((l.ty, l.len, l.words), (pair, 0, 2));
        assert_eq!(m.layout_of(u).words, 0);
    }
    let path = m.retaining_path(p).expect("rooted");
    assert_eq!(path.steps().last().unwrap().type_name, "Pair");
    let mut snapshot = Vec::new();
    m.write_heap_snapshot(&mut snapshot).unwrap();
    let text = String::from_utf8(snapshot).unwrap();
    assert!(text.contains("\"Pair\"") && text.contains("\"Unit\""));
}

#[test]
fn user_bits_are_refused_with_a_clear_error() {
    let heap = heap(BarrierMode::Satb);
    let pair = pair_type(&heap, "Pair");
    let mut m = heap.attach().unwrap();
    let p = m.alloc(pair, 0);
    // SAFETY (test): `p` is fresh.
    unsafe {
        let e = m.try_set_user_bits(p, 5).unwrap_err();
        assert!(e.is_header_free());
        assert_eq!(e.bits(), 5);
        assert_eq!(m.user_bits(p), 0);
    }
    let _ = m.alloc_with_user_bits(pair, 0, 0); // no bits: fine
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.alloc_with_user_bits(pair, 0, 3);
    }));
    let msg = r.unwrap_err();
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(msg.contains("header-free"), "{msg}");
}

#[test]
fn finalizers_weak_references_and_ephemerons_take_header_free_objects() {
    let heap = heap(BarrierMode::IncrementalUpdate);
    let pair = pair_type(&heap, "Pair");
    let mut m = heap.attach().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let kept = m.alloc(pair, 0);
    let ks = m.push_root(Some(kept));
    let lost = m.alloc(pair, 0);
    let ls = m.push_root(Some(lost));
    let w_kept = m.weak_ref(kept).unwrap();
    let w_lost = m.weak_ref(lost).unwrap();
    {
        let ran = ran.clone();
        m.set_finalizer(lost, move |_, _| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    // An ephemeron whose key is header-free and whose value is too.
    let table = heap.ephemeron_table();
    let value = m.alloc(pair, 0);
    table.insert(&mut m, kept, value).unwrap();
    let inside = ObjRef::from_addr(kept.addr() + 8).unwrap();
    assert!(matches!(
        m.weak_ref(inside),
        Err(SpecialError::InteriorPointer { .. })
    ));
    m.set_root(ls, None); // `lost` is garbage now
    settle(&mut m);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    settle(&mut m);
    assert_eq!(w_lost.get(&m), None);
    assert_eq!(w_kept.get(&m), m.root(ks));
    let v = table.get(&m, m.root(ks).unwrap()).expect("the key lives");
    // SAFETY (test): `v` is held by the table, whose key is rooted.
    assert_eq!(unsafe { m.shape_of(v) }, (pair, 0));
}

/// Churn: a table of roots over a mix of header-free pairs, headed nodes
/// and header-free traced objects with tagged words, rewired at random
/// while gc-stress runs cycles (concurrent ones in the concurrent modes;
/// minor and major ones in generational heaps, where rewiring stores into
/// old objects).
#[test]
fn mixed_graphs_survive_churn_in_every_mode() {
    let runs = ALL_MODES
        .into_iter()
        .flat_map(|mode| [(mode, false), (mode, true)]);
    for (i, (mode, generational)) in runs.enumerate() {
        let heap = Heap::new(Config {
            barrier: mode,
            generational,
            gc_stress: NonZeroU32::new(97),
            ..checked_config()
        });
        let pair = pair_type(&heap, "Pair");
        let tagged = heap
            .register_type(
                TypeDescriptor::traced(
                    "Tagged",
                    Shape::Fixed { words: 3 },
                    trace_tagged,
                    decode_tagged,
                )
                .header_free(),
            )
            .unwrap();
        let t = Types::register(&heap);
        assert!(pair.is_header_free() && tagged.is_header_free());
        let mut m = heap.attach().unwrap();
        let mut rng = Rng::new(0x4EAD_F4EE + i as u64);
        const ROOTS: usize = 48;
        let base = m.push_root(None);
        for _ in 1..ROOTS {
            m.push_root(None);
        }
        for step in 0..30_000u64 {
            let r = base + rng.below(ROOTS);
            let other = m.root(base + rng.below(ROOTS));
            match rng.below(6) {
                0 => {
                    let o = m.alloc(pair, 0);
                    // SAFETY (test): `o` fresh, `other` rooted.
                    unsafe { m.store(o, 0, other) };
                    m.set_root(r, Some(o));
                }
                1 => {
                    let o = m.alloc(tagged, 0);
                    // SAFETY (test): `o` fresh, `other` rooted; word 2 is
                    // an integer (odd) carrying the step.
                    unsafe {
                        m.store_word(o, 0, other.map_or(1, |p| p.addr() as u64));
                        m.store_word(o, 1, 1);
                        m.store_word(o, 2, step << 1 | 1);
                    }
                    m.set_root(r, Some(o));
                }
                2 => {
                    let o = node(&mut m, &t, step);
                    // SAFETY (test): `o` fresh, `other` rooted.
                    unsafe { m.store(o, 0, other) };
                    m.set_root(r, Some(o));
                }
                3 => {
                    // Rewire: a field of a rooted object to another root.
                    if let Some(o) = m.root(r) {
                        // SAFETY (test): `o` and `other` are rooted.
                        unsafe {
                            let (ty, _) = m.shape_of(o);
                            if ty == tagged {
                                m.store_word(o, 1, other.map_or(1, |p| p.addr() as u64));
                            } else {
                                m.store(o, 1, other);
                            }
                        }
                    }
                }
                4 => m.set_root(r, None),
                _ => {
                    // Walk: every object reachable in two steps is intact.
                    if let Some(o) = m.root(r) {
                        // SAFETY (test): rooted, and its referents live.
                        unsafe { check(&m, &t, tagged, o, 2) };
                    }
                }
            }
        }
        m.collect();
        for k in 0..ROOTS {
            if let Some(o) = m.root(base + k) {
                // SAFETY (test): rooted.
                unsafe { check(&m, &t, tagged, o, 3) };
            }
        }
        assert!(
            heap.stats().cycles > 20,
            "{mode} (generational: {generational}): gc-stress ran cycles"
        );
    }
}

/// Checks `o` and what it reaches within `depth` steps: types known, the
/// headed nodes' canaries and the tagged objects' integers intact.
///
/// # Safety
/// `o` must be live.
unsafe fn check(m: &Mutator, t: &Types, tagged: TypeId, o: ObjRef, depth: u32) {
    // SAFETY: the caller's contract, and what a live object points to is live.
    unsafe {
        let (ty, _) = m.shape_of(o);
        let next: Vec<Option<ObjRef>> = if ty == t.node {
            // Every canary is odd (`common::canary`).
            assert_eq!(m.load_word(o, 3) & 1, 1, "a node's canary");
            vec![m.load(o, 0), m.load(o, 1)]
        } else if ty == tagged {
            assert_eq!(m.load_word(o, 2) & 1, 1, "a tagged object's integer word");
            (0..2)
                .map(|w| decode_tagged(m.load_word(o, w)).and_then(ObjRef::from_addr))
                .collect()
        } else {
            assert_eq!(m.layout_of(o).words, 2);
            vec![m.load(o, 0), m.load(o, 1)]
        };
        if depth > 0 {
            for n in next.into_iter().flatten() {
                check(m, t, tagged, n, depth - 1);
            }
        }
    }
}

#[test]
fn a_pointer_into_a_header_free_object_is_reported() {
    let heap = heap(BarrierMode::Off);
    let pair = pair_type(&heap, "Pair");
    let mut m = heap.attach().unwrap();
    let a = m.alloc(pair, 0);
    let b = m.alloc(pair, 0);
    let inside = ObjRef::from_addr(b.addr() + 8).unwrap();
    if cfg!(debug_assertions) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY (test): the checks under test run before any store.
            unsafe { m.store(a, 0, Some(inside)) }
        }));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("points inside the object"), "{msg}");
    }
}
