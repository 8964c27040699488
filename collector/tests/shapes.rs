//! Shapes: leading pointer counts, a fixed prefix followed by an array
//! tail, trace and decode closures that carry context, layouts read back,
//! and byte arrays as slices. Every test runs in every barrier mode it
//! applies to, with checkmark, the verifier and poisoning on
//! (`common::checked_config`): a referent the scanner missed fails
//! checkmark, a data word it took for a pointer fails the debug build's
//! pointer check, and a freed string is poisoned.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tricolor_collector::{
    BarrierMode, DescriptorError, Heap, Mutator, ObjRef, PointerWords, Pointers, Shape,
    TypeDescriptor, TypeId,
};

/// A word that is not the start of an object (odd) but would be followed
/// if the scanner took it for a pointer: in debug builds that panics.
const DATA: u64 = 0xDEAD_BEEF_0000_0001;

/// The types of a small Lox-like VM.
#[derive(Copy, Clone)]
struct Lox {
    /// Bytes.
    string: TypeId,
    /// Prefix: arity (data), function (pointer); elements: one upvalue
    /// (pointer) each.
    closure: TypeId,
    /// Prefix: count (data), class (pointer); elements: key and value
    /// (pointers), hash (data).
    table: TypeId,
    /// Six words: four pointers, then two data words.
    globals: TypeId,
    /// Array of values: every word a pointer.
    vector: TypeId,
}

impl Lox {
    fn register(heap: &Heap) -> Lox {
        let reg = |d| heap.register_type(d).unwrap();
        Lox {
            string: reg(TypeDescriptor::bytes("String")),
            closure: reg(TypeDescriptor::prefix_array(
                "Closure",
                2,
                PointerWords::at(&[1]),
                1,
                PointerWords::leading(1),
            )),
            table: reg(TypeDescriptor::prefix_array(
                "Table",
                2,
                PointerWords::at(&[1]),
                3,
                PointerWords::leading(2),
            )),
            globals: reg(TypeDescriptor::fixed_leading("Globals", 6, 4)),
            vector: reg(TypeDescriptor::array_leading("Vector", 1, 1)),
        }
    }
}

/// A new string holding `text`.
fn string(m: &mut Mutator, t: &Lox, text: &str) -> ObjRef {
    let s = m.alloc(t.string, text.len());
    // SAFETY (test): `s` is fresh; no other thread knows it.
    unsafe { m.bytes_mut(s).copy_from_slice(text.as_bytes()) };
    s
}

/// The text of string `s`.
///
/// # Safety
/// `s` must be a live string.
unsafe fn text(m: &Mutator, s: ObjRef) -> String {
    // SAFETY (test): the caller's contract.
    String::from_utf8(unsafe { m.bytes(s) }.to_vec()).expect("a string holds UTF-8")
}

/// Strings `name0`, `name1`, … rooted in new shadow-stack slots; returns
/// the slots.
fn strings(m: &mut Mutator, t: &Lox, name: &str, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let s = string(m, t, &format!("{name}{i}"));
            m.push_root(Some(s))
        })
        .collect()
}

#[test]
fn leading_pointer_words_keep_their_referents_and_skip_data() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Lox::register(&heap);
        let mut m = heap.attach().unwrap();
        let frame = m.root_count();
        let leaves = strings(&mut m, &t, "leaf", 12);
        let g = m.alloc(t.globals, 0);
        let g_slot = m.push_root(Some(g));
        let v = m.alloc(t.vector, 100);
        let v_slot = m.push_root(Some(v));
        let leaf = |m: &Mutator, i: usize| m.root(leaves[i]);
        // SAFETY (test): `g` and `v` are rooted, the leaves too; words 0..4
        // of `Globals` and every word of `Vector` are pointer fields.
        unsafe {
            for i in 0..4 {
                m.store(g, i, leaf(&m, i));
            }
            m.store_word(g, 4, DATA);
            m.store_word(g, 5, 0x10); // even, and no object of this heap
            for (e, i) in (0..100).step_by(13).zip(4..) {
                m.store(v, e, leaf(&m, i));
            }
            m.store(v, 99, Some(g));
        }
        // Only the vector stays rooted; it reaches the globals.
        let v = m.root(v_slot);
        let _ = g_slot;
        m.truncate_roots(frame);
        let v_slot = m.push_root(v);
        let freed_before = freed(&heap);
        m.collect();
        // Vector, Globals and leaves 0..12 (0..4 through Globals, 4..12
        // through Vector); nothing was garbage.
        assert_eq!(marked(&heap), 2 + 12, "{mode}");
        assert_eq!(freed(&heap), freed_before, "{mode}");
        let v = m.root(v_slot).unwrap();
        // SAFETY (test): `v` is rooted, and everything it reaches is live.
        unsafe {
            assert_eq!(text(&m, m.load(v, 13 * 3).unwrap()), "leaf7", "{mode}");
            let g = m.load(v, 99).unwrap();
            assert_eq!(text(&m, m.load(g, 2).unwrap()), "leaf2", "{mode}");
            assert_eq!(m.load_word(g, 4), DATA, "{mode}");
            // Cut half of the globals and most of the vector: freed.
            m.store(g, 1, None);
            m.store(g, 3, None);
            for e in (13..100).step_by(13) {
                m.store(v, e, None);
            }
        }
        m.collect();
        assert_eq!(marked(&heap), 2 + 3, "{mode}");
        assert_eq!(freed(&heap) - freed_before, 9, "{mode}");
    }
}

/// A closure over `upvalues` strings (upvalue `k` null when `k % 3 == 2`)
/// and a table of `entries` (key, value) string pairs; both reachable from
/// a `Vector` of two elements in the returned slot. Returns the slot and
/// how many strings are reachable.
fn lox_graph(m: &mut Mutator, t: &Lox, upvalues: usize, entries: usize) -> (usize, usize) {
    let frame = m.root_count();
    let f = string(m, t, "fn");
    m.push_root(Some(f));
    let c = m.alloc(t.closure, upvalues);
    let c_slot = m.push_root(Some(c));
    let tab = m.alloc(t.table, entries);
    let tab_slot = m.push_root(Some(tab));
    let mut reachable = 1;
    for k in 0..upvalues {
        if k % 3 == 2 {
            continue;
        }
        let s = string(m, t, &format!("up{k}"));
        let c = m.root(c_slot).unwrap();
        // SAFETY (test): `c` is rooted and `s` fresh; word 2 + k is upvalue
        // k, a pointer field.
        unsafe { m.store(c, 2 + k, Some(s)) };
        reachable += 1;
    }
    for e in 0..entries {
        let key = string(m, t, &format!("k{e}"));
        let key_slot = m.push_root(Some(key));
        let value = string(m, t, &format!("v{e}"));
        let (tab, key) = (m.root(tab_slot).unwrap(), m.root(key_slot).unwrap());
        // SAFETY (test): `tab` and `key` are rooted, `value` fresh; entry e
        // is words 2 + 3e (key), 3e + 3 (value), 3e + 4 (hash).
        unsafe {
            m.store(tab, 2 + 3 * e, Some(key));
            m.store(tab, 3 + 3 * e, Some(value));
            m.store_word(tab, 4 + 3 * e, DATA);
        }
        m.truncate_roots(key_slot);
        reachable += 2;
    }
    let (f, c, tab) = (
        m.root(frame).unwrap(),
        m.root(c_slot).unwrap(),
        m.root(tab_slot).unwrap(),
    );
    // SAFETY (test): all three are rooted; the prefix's word 1 is a pointer
    // field, word 0 data.
    unsafe {
        m.store_word(c, 0, upvalues as u64);
        m.store(c, 1, Some(f));
        m.store_word(tab, 0, entries as u64);
        m.store(tab, 1, Some(c)); // the table's class: the closure
    }
    let v = m.alloc(t.vector, 2);
    // SAFETY (test): `v` is fresh; both rooted.
    unsafe {
        m.store(v, 0, Some(c));
        m.store(v, 1, m.root(tab_slot));
    }
    m.truncate_roots(frame);
    (m.push_root(Some(v)), reachable)
}

#[test]
fn prefix_array_objects_keep_prefix_and_tail_referents_and_free_the_rest() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Lox::register(&heap);
        let mut m = heap.attach().unwrap();
        let (slot, strings) = lox_graph(&mut m, &t, 7, 5);
        let empty = m.alloc(t.closure, 0); // the prefix alone
        let freed_before = freed(&heap);
        m.collect();
        // Vector, closure, table, and the strings; `empty` is garbage.
        assert_eq!(marked(&heap), 3 + strings as u64, "{mode}");
        assert_eq!(freed(&heap) - freed_before, 1, "{mode}: the empty closure");
        let _ = empty;
        let v = m.root(slot).unwrap();
        // SAFETY (test): `v` is rooted; everything below is reachable from it.
        unsafe {
            let c = m.load(v, 0).unwrap();
            let tab = m.load(v, 1).unwrap();
            assert_eq!(text(&m, m.load(c, 1).unwrap()), "fn");
            assert_eq!(text(&m, m.load(c, 2 + 4).unwrap()), "up4");
            assert_eq!(m.load(c, 2 + 5), None);
            assert_eq!(m.load_word(c, 0), 7);
            assert_eq!(m.load(tab, 1), Some(c));
            assert_eq!(text(&m, m.load(tab, 2 + 3 * 4).unwrap()), "k4");
            assert_eq!(text(&m, m.load(tab, 3 + 3 * 4).unwrap()), "v4");
            assert_eq!(m.load_word(tab, 4 + 3 * 4), DATA);
            // Drop the closure's function and two upvalues, and the
            // table's last two entries.
            m.store(c, 1, None);
            m.store(c, 2, None);
            m.store(c, 2 + 6, None);
            for e in 3..5 {
                m.store(tab, 2 + 3 * e, None);
                m.store(tab, 3 + 3 * e, None);
            }
        }
        m.collect();
        assert_eq!(marked(&heap), 3 + strings as u64 - 7, "{mode}");
        assert_eq!(freed(&heap) - freed_before, 1 + 7, "{mode}");
    }
}

/// The textbook lost object, with prefix arrays: the only pointer to
/// string C moves from the tail of table B (reachable from a global not yet
/// scanned) into the tail or the prefix of closure A (already black) while
/// a cycle marks. Every barrier keeps C: the store into A (incremental
/// update) or the deletion from B (SATB, hybrid) is recorded. With the
/// barrier disabled checkmark must fail, naming the string.
fn moved_into_black(mode: BarrierMode, into_prefix: bool, barrier: bool) -> Result<(), String> {
    let heap = manual_heap(mode);
    let t = Lox::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = m.alloc(t.closure, 3);
    let a_slot = m.push_root(Some(a));
    let b = m.alloc(t.table, 2);
    let global = heap.add_global(Some(b));
    let c = string(&mut m, &t, "only one pointer");
    // SAFETY (test): B is reachable from the global, C fresh; word 5 is the
    // value of B's entry 1.
    unsafe { m.store(b, 5, Some(c)) };

    let mut cycle = m.native(|| heap.begin_cycle());
    heap.disable_barrier_for_testing(!barrier);
    // A (on the stack) turns black; B and C stay white (globals unscanned).
    m.native(|| {
        cycle.scan_stacks();
        while cycle.mark(1000) > 0 {}
    });
    let (a, b) = (m.root(a_slot).unwrap(), global.get().unwrap());
    let field = if into_prefix { 1 } else { 2 + 2 };
    // SAFETY (test): A is rooted, B reachable from the global, C from B
    // until the second store and from A after the first.
    unsafe {
        let c = m.load(b, 5).unwrap();
        m.store(a, field, Some(c));
        m.store(b, 5, None);
    }
    heap.disable_barrier_for_testing(false);
    let finished = m.native(|| {
        catch_unwind(AssertUnwindSafe(|| {
            cycle.scan_globals();
            while cycle.mark(1000) > 0 {}
            cycle.finish()
        }))
    });
    let stats = finished.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })?;
    // A, B and C.
    assert_eq!(stats.objects_marked, 3, "{mode}");
    let a = m.root(a_slot).unwrap();
    // SAFETY (test): A is rooted, C reachable from it.
    unsafe { assert_eq!(text(&m, m.load(a, field).unwrap()), "only one pointer") };
    Ok(())
}

#[test]
fn a_pointer_moved_into_a_black_prefix_array_is_kept_by_every_barrier() {
    for mode in CONCURRENT_MODES {
        for into_prefix in [false, true] {
            moved_into_black(mode, into_prefix, true)
                .unwrap_or_else(|e| panic!("{mode}, into the prefix: {into_prefix}: {e}"));
            let lost = moved_into_black(mode, into_prefix, false)
                .expect_err("without the barrier the string is lost");
            assert!(
                lost.contains("checkmark") && lost.contains("`String`"),
                "{mode}: {lost}"
            );
        }
    }
}

/// The VM context the traced type's callbacks capture: its pointer tag,
/// and counts of their calls.
struct Encoding {
    tag: u64,
    traced: AtomicUsize,
    decoded: AtomicUsize,
}

impl Encoding {
    fn decode(&self, w: u64) -> Option<usize> {
        (w & 7 == self.tag && w >> 3 != 0).then_some((w & !7) as usize)
    }

    fn encode(&self, o: Option<ObjRef>) -> u64 {
        o.map_or(0, |o| o.addr() as u64 | self.tag)
    }
}

/// A traced prefix-array type (prefix: one word; elements: one word each)
/// whose words are tagged by `enc`.
fn tagged_list(heap: &Heap, enc: &Arc<Encoding>) -> TypeId {
    let (t, d) = (enc.clone(), enc.clone());
    heap.register_type(TypeDescriptor::traced_with(
        "TaggedList",
        Shape::PrefixArray {
            prefix_words: 1,
            elem_words: 1,
        },
        move |view, edges| {
            t.traced.fetch_add(1, Ordering::Relaxed);
            for i in 0..view.words() {
                if let Some(p) = t.decode(view.word(i)) {
                    edges.visit(p);
                }
            }
        },
        move |w| {
            d.decoded.fetch_add(1, Ordering::Relaxed);
            d.decode(w)
        },
    ))
    .unwrap()
}

#[test]
fn trace_and_decode_closures_see_the_vm_context() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Lox::register(&heap);
        let enc = Arc::new(Encoding {
            tag: 0b011,
            traced: AtomicUsize::new(0),
            decoded: AtomicUsize::new(0),
        });
        let list = tagged_list(&heap, &enc);
        let mut m = heap.attach().unwrap();
        let s = string(&mut m, &t, "tagged");
        let s_slot = m.push_root(Some(s));
        let l = m.alloc(list, 4);
        let l_slot = m.push_root(Some(l));
        // SAFETY (test): `l` and the string are rooted; a word with the tag
        // carries a pointer, others are data.
        unsafe {
            m.store_word(l, 0, 42 << 3); // prefix: an integer
            m.store_word(l, 3, enc.encode(m.root(s_slot)));
            m.store_word(l, 4, DATA);
        }
        // Only the list stays rooted; it reaches the string.
        let l = m.root(l_slot);
        m.truncate_roots(s_slot);
        let l_slot = m.push_root(l);
        m.collect();
        assert_eq!(marked(&heap), 2, "{mode}");
        assert!(enc.traced.load(Ordering::Relaxed) >= 1, "{mode}");
        if mode != BarrierMode::Off {
            // A store while marking runs the barrier, which decodes both the
            // old and the new word through the closure.
            let mut cycle = m.native(|| heap.begin_cycle());
            let before = enc.decoded.load(Ordering::Relaxed);
            let l = m.root(l_slot).unwrap();
            // SAFETY (test): `l` is rooted, and so reaches the string.
            unsafe {
                let w = m.load_word(l, 3);
                m.store_word(l, 1, w);
                m.store_word(l, 3, 1 << 3);
            }
            assert_eq!(enc.decoded.load(Ordering::Relaxed) - before, 4, "{mode}");
            m.native(|| {
                cycle.scan_stacks();
                while cycle.mark(1000) > 0 {}
                drop(cycle.finish());
            });
        }
        let l = m.root(l_slot).unwrap();
        // SAFETY (test): `l` is rooted, and so is what its tagged words carry.
        unsafe {
            let word = if mode == BarrierMode::Off { 3 } else { 1 };
            let s = ObjRef::from_addr(enc.decode(m.load_word(l, word)).unwrap()).unwrap();
            assert_eq!(text(&m, s), "tagged", "{mode}");
        }
    }
}

#[test]
fn layout_of_reads_every_shape_back() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Lox::register(&heap);
    let enc = Arc::new(Encoding {
        tag: 1,
        traced: AtomicUsize::new(0),
        decoded: AtomicUsize::new(0),
    });
    let list = tagged_list(&heap, &enc);
    let pair = heap
        .register_type(TypeDescriptor::fixed("Pair", 2, &[0, 1]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    let pointer_words = |m: &Mutator, o: ObjRef| {
        // SAFETY (test): `o` was just allocated (no safepoint since).
        let layout = unsafe { m.layout_of(o) };
        let d = layout.descriptor;
        let words: Vec<usize> = (0..layout.words)
            .filter(|&i| d.is_pointer_word(i))
            .collect();
        (
            layout.ty,
            layout.len,
            layout.words,
            d.name().to_string(),
            words,
        )
    };
    let o = m.alloc(t.table, 2);
    assert_eq!(
        pointer_words(&m, o),
        (t.table, 2, 8, "Table".into(), vec![1, 2, 3, 5, 6])
    );
    let o = m.alloc(t.closure, 0);
    assert_eq!(
        pointer_words(&m, o),
        (t.closure, 0, 2, "Closure".into(), vec![1])
    );
    let o = m.alloc(t.globals, 0);
    assert_eq!(
        pointer_words(&m, o),
        (t.globals, 0, 6, "Globals".into(), vec![0, 1, 2, 3])
    );
    let o = m.alloc(t.vector, 3);
    assert_eq!(
        pointer_words(&m, o),
        (t.vector, 3, 3, "Vector".into(), vec![0, 1, 2])
    );
    let o = m.alloc(pair, 0);
    assert_eq!(
        pointer_words(&m, o),
        (pair, 0, 2, "Pair".into(), vec![0, 1])
    );
    let o = m.alloc(t.string, 13);
    assert_eq!(
        pointer_words(&m, o),
        (t.string, 13, 2, "String".into(), vec![])
    );
    // A traced type's words are the callback's to interpret.
    let o = m.alloc(list, 2);
    assert_eq!(
        pointer_words(&m, o),
        (list, 2, 3, "TaggedList".into(), vec![])
    );
    // SAFETY (test): `o` was just allocated.
    let layout = unsafe { m.layout_of(o) };
    assert!(matches!(
        layout.descriptor.pointers(),
        Pointers::TracedWith { .. }
    ));
    assert_eq!(
        layout.descriptor.shape(),
        Shape::PrefixArray {
            prefix_words: 1,
            elem_words: 1
        }
    );
    assert_eq!(layout.descriptor.payload_words(5), Some(6));
}

#[test]
fn strings_round_trip_through_byte_slices_in_every_mode() {
    // Lengths around the word size, and one over a page of words.
    let texts: Vec<String> = [0, 1, 7, 8, 9, 13, 16, 4099]
        .iter()
        .map(|&n| (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect())
        .collect();
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Lox::register(&heap);
        let mut m = heap.attach().unwrap();
        let slots: Vec<usize> = texts
            .iter()
            .map(|s| {
                let o = string(&mut m, &t, s);
                let _garbage = string(&mut m, &t, "garbage, poisoned when freed");
                m.push_root(Some(o))
            })
            .collect();
        m.collect();
        for _ in 0..2 {
            for (s, &slot) in texts.iter().zip(&slots) {
                let o = m.root(slot).unwrap();
                // SAFETY (test): `o` is rooted; only this thread knows it.
                unsafe {
                    assert_eq!(text(&m, o), *s, "{mode}");
                    assert_eq!(m.layout_of(o).len, s.len(), "{mode}");
                    assert_eq!(m.layout_of(o).words, s.len().div_ceil(8), "{mode}");
                }
            }
            m.collect();
        }
        // The bytes past the length, up to the word boundary, stay zero:
        // what a word-at-a-time reader of the last word sees.
        let o = m.root(slots[5]).unwrap();
        // SAFETY (test): `o` is rooted; 13 bytes are two payload words.
        let last = unsafe { m.load_word(o, 1) }.to_le_bytes();
        assert_eq!(&last[..5], b"ijklm", "{mode}");
        assert_eq!(&last[5..], [0; 3], "{mode}");
    }
}

#[test]
fn copy_bytes_joins_strings_and_moves_overlapping_ranges() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Lox::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = string(&mut m, &t, "tri-");
    let a = m.push_root(Some(a));
    let b = string(&mut m, &t, "colour");
    let b = m.push_root(Some(b));
    let joined = m.alloc(t.string, 10);
    let (a, b) = (m.root(a).unwrap(), m.root(b).unwrap());
    // SAFETY (test): all three are live; only this thread knows them.
    unsafe {
        m.copy_bytes(a, 0, joined, 0, 4);
        m.copy_bytes(b, 0, joined, 4, 6);
        assert_eq!(m.bytes(joined), b"tri-colour");
        // Overlapping, within one object: a memmove.
        m.copy_bytes(joined, 0, joined, 2, 8);
        assert_eq!(m.bytes(joined), b"trtri-colo");
        m.copy_bytes(joined, 2, joined, 0, 8);
        assert_eq!(m.bytes(joined), b"tri-cololo");
        m.copy_bytes(a, 4, joined, 10, 0); // empty ranges at the ends
        m.bytes_mut(joined)[4..].copy_from_slice(b"COLOUR");
        assert_eq!(text(&m, joined), "tri-COLOUR");
    }
}

#[test]
#[should_panic(expected = "Mutator::bytes needs a byte array (Shape::Bytes), but")]
fn bytes_of_an_object_that_is_not_a_byte_array_panics() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Lox::register(&heap);
    let mut m = heap.attach().unwrap();
    let v = m.alloc(t.vector, 8);
    // SAFETY (test): `v` is live; its type is what is checked.
    let _ = unsafe { m.bytes(v) };
}

#[test]
#[should_panic(expected = "copy_bytes destination range 8..8+3 is outside the 10 bytes")]
fn copy_bytes_out_of_range_panics() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let t = Lox::register(&heap);
    let mut m = heap.attach().unwrap();
    let s = string(&mut m, &t, "0123456789");
    // SAFETY (test): `s` is live; the range is what is checked.
    unsafe { m.copy_bytes(s, 0, s, 8, 3) };
}

#[test]
fn descriptors_whose_map_does_not_fit_are_refused() {
    let heap = manual_heap(BarrierMode::Hybrid);
    let e = heap
        .register_type(TypeDescriptor::new(
            "Closure",
            Shape::PrefixArray {
                prefix_words: 2,
                elem_words: 1,
            },
            Pointers::Bitmap(Box::new([1])),
        ))
        .unwrap_err();
    assert!(matches!(e, DescriptorError::PointersDoNotFitShape { .. }));
    assert!(e
        .to_string()
        .starts_with("type `Closure`: its pointer map does not go with the shape PrefixArray"));
    let e = heap
        .register_type(TypeDescriptor::prefix_array(
            "Table",
            2,
            PointerWords::None,
            3,
            PointerWords::leading(4),
        ))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "type `Table`: pointer word 3 is outside its 3 payload words"
    );
    let e = heap
        .register_type(TypeDescriptor::fixed_leading(
            "Huge",
            1 << 20,
            (1 << 20) + 1,
        ))
        .unwrap_err();
    assert!(matches!(e, DescriptorError::PointerOutOfRange { .. }));
    // Two million pointer words: no index list, no bitmap.
    let huge = TypeDescriptor::fixed_leading("Huge", 2 << 20, 2 << 20);
    assert!(matches!(huge.pointers(), Pointers::Leading(n) if *n == 2 << 20));
    heap.register_type(huge).unwrap();
}

/// A large object with every word a pointer, scanned by a range loop:
/// every referent found, in every mode.
#[test]
fn a_large_leading_object_is_scanned_whole() {
    for mode in ALL_MODES {
        let heap = manual_heap(mode);
        let t = Lox::register(&heap);
        let big = heap
            .register_type(TypeDescriptor::fixed_leading("Big", 70_000, 70_000))
            .unwrap();
        let mut m = heap.attach().unwrap();
        let o = m.alloc(big, 0);
        let slot = m.push_root(Some(o));
        for i in (0..70_000).step_by(7_000) {
            let s = string(&mut m, &t, "x");
            // SAFETY (test): the big object is rooted, `s` fresh.
            unsafe { m.store(m.root(slot).unwrap(), i + 6_999, Some(s)) };
        }
        m.collect();
        assert_eq!(marked(&heap), 1 + 10, "{mode}");
    }
}

#[cfg(debug_assertions)]
mod debug_checks {
    use super::*;

    fn closure(m: &mut Mutator, heap: &Heap) -> ObjRef {
        let t = Lox::register(heap);
        m.alloc(t.closure, 2)
    }

    #[test]
    #[should_panic(expected = "field 0 of `Closure` is not a pointer field")]
    fn a_pointer_into_a_prefix_data_word_panics() {
        let heap = manual_heap(BarrierMode::Hybrid);
        let mut m = heap.attach().unwrap();
        let c = closure(&mut m, &heap);
        // SAFETY (test): `c` is live; the field is what is checked.
        unsafe { m.store(c, 0, Some(c)) };
    }

    #[test]
    #[should_panic(expected = "field 3 of `Closure` is a pointer field")]
    fn data_into_an_element_pointer_word_panics() {
        let heap = manual_heap(BarrierMode::Hybrid);
        let mut m = heap.attach().unwrap();
        let c = closure(&mut m, &heap);
        // SAFETY (test): `c` is live; the field is what is checked.
        unsafe { m.store_word(c, 3, 7) };
    }

    #[test]
    #[should_panic(expected = "field 4 of a `Closure` with 4 payload words")]
    fn a_field_past_the_tail_panics() {
        let heap = manual_heap(BarrierMode::Hybrid);
        let mut m = heap.attach().unwrap();
        let c = closure(&mut m, &heap);
        // SAFETY (test): `c` is live; the field is what is checked.
        unsafe { m.load(c, 4) };
    }
}

/// One random prefix-array type and object: which prefix and element
/// words are pointers (as a leading count or a bitmap), the length, and
/// which pointer words hold a string.
#[derive(Debug, Clone)]
struct Case {
    mode: usize,
    prefix: Vec<bool>,
    prefix_leading: bool,
    elem: Vec<bool>,
    elem_leading: bool,
    len: usize,
    fill: Vec<bool>,
    garbage: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..ALL_MODES.len(),
        prop::collection::vec(any::<bool>(), 0..6),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 1..5),
        any::<bool>(),
        0usize..12,
        prop::collection::vec(any::<bool>(), 64),
        0usize..4,
    )
        .prop_map(
            |(mode, prefix, prefix_leading, elem, elem_leading, len, fill, garbage)| Case {
                mode,
                prefix,
                prefix_leading,
                elem,
                elem_leading,
                len,
                fill,
                garbage,
            },
        )
}

/// The map of one run as the case gives it: a leading map keeps the
/// first run of set bits only.
fn map(bits: &[bool], leading: bool) -> (Vec<bool>, PointerWords) {
    if leading {
        let n = bits.iter().take_while(|&&b| b).count();
        let bits = (0..bits.len()).map(|i| i < n).collect();
        return (bits, PointerWords::leading(n as u32));
    }
    let at: Vec<u32> = (0..bits.len() as u32)
        .filter(|&i| bits[i as usize])
        .collect();
    (bits.to_vec(), PointerWords::at(&at))
}

fn run_case(c: Case) -> Result<(), TestCaseError> {
    let mode = ALL_MODES[c.mode];
    let heap = manual_heap(mode);
    let t = Lox::register(&heap);
    let (prefix, prefix_map) = map(&c.prefix, c.prefix_leading);
    let (elem, elem_map) = map(&c.elem, c.elem_leading);
    let (pw, ew) = (prefix.len(), elem.len());
    let ty = heap
        .register_type(TypeDescriptor::prefix_array(
            "Random", pw as u32, prefix_map, ew as u32, elem_map,
        ))
        .unwrap();
    // The model: word i is a pointer by the definition of the shape.
    let is_pointer = |i: usize| {
        if i < pw {
            prefix[i]
        } else {
            elem[(i - pw) % ew]
        }
    };
    let words = pw + c.len * ew;
    let mut m = heap.attach().unwrap();
    let o = m.alloc(ty, c.len);
    let slot = m.push_root(Some(o));
    let mut filled = Vec::new();
    for i in 0..words {
        let o = m.root(slot).unwrap();
        if !is_pointer(i) {
            // SAFETY (test): `o` is rooted; word i is data by the model.
            unsafe { m.store_word(o, i, DATA ^ ((i as u64) << 8)) };
        } else if c.fill[i % c.fill.len()] {
            let s = string(&mut m, &t, &format!("word {i}"));
            let o = m.root(slot).unwrap();
            // SAFETY (test): `o` is rooted, `s` fresh; word i is a pointer.
            unsafe { m.store(o, i, Some(s)) };
            filled.push(i);
        }
    }
    for _ in 0..c.garbage {
        string(&mut m, &t, "garbage");
    }
    let freed_before = freed(&heap);
    m.collect();
    prop_assert_eq!(marked(&heap), 1 + filled.len() as u64, "{}", mode);
    prop_assert_eq!(freed(&heap) - freed_before, c.garbage as u64, "{}", mode);
    let o = m.root(slot).unwrap();
    for i in 0..words {
        // SAFETY (test): `o` is rooted, and reaches every string it holds.
        unsafe {
            if !is_pointer(i) {
                prop_assert_eq!(m.load_word(o, i), DATA ^ ((i as u64) << 8));
            } else if let Some(s) = m.load(o, i) {
                prop_assert!(filled.contains(&i));
                prop_assert_eq!(text(&m, s), format!("word {i}"));
            }
        }
    }
    // Cut every other filled word: exactly those strings are freed.
    let cut: Vec<usize> = filled.iter().copied().step_by(2).collect();
    for &i in &cut {
        // SAFETY (test): `o` is rooted; word i is a pointer.
        unsafe { m.store(o, i, None) };
    }
    let freed_before = freed(&heap);
    m.collect();
    prop_assert_eq!(freed(&heap) - freed_before, cut.len() as u64, "{}", mode);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random prefix-array types and objects, against the model of which
    /// words are pointers: exactly the strings in pointer words are
    /// marked, data words are never followed, and what is cut is freed.
    #[test]
    fn prefix_and_tail_scanning_matches_the_model(c in case()) {
        run_case(c)?;
    }
}
