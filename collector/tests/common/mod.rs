//! Shared pieces of the collector's integration tests: the deterministic
//! PRNG (from `tricolor-testkit`), a small set of object types with canary
//! words, and a config with every verification mode on.
#![allow(dead_code)]

use tricolor_collector::{
    BarrierMode, Config, CycleStats, Edges, Heap, Mutator, ObjRef, ObjectView, Shape,
    TypeDescriptor, TypeId,
};
#[allow(unused_imports)] // not every test draws random numbers
pub use tricolor_testkit::Rng;

/// Checkmark, verifier and poisoning on; a fixed number of mark workers.
pub fn checked_config() -> Config {
    Config {
        checkmark: true,
        verify: true,
        poison: true,
        mark_workers: 2,
        ..Config::default()
    }
}

/// Every barrier mode, stop-the-world (`Off`) first.
pub const ALL_MODES: [BarrierMode; 4] = [
    BarrierMode::Off,
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// The barrier modes that mark concurrently.
pub const CONCURRENT_MODES: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// A heap in barrier mode `mode` whose cycles run only when asked for or
/// stepped, with every check on ([`checked_config`]).
pub fn manual_heap(mode: BarrierMode) -> Heap {
    Heap::new(Config {
        barrier: mode,
        manual_cycles: true,
        ..checked_config()
    })
}

/// The canary an object with identity `id` carries.
pub fn canary(id: u64) -> u64 {
    id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xC0FF_EE00_0000_0001 | 1
}

/// Tagged words for the traced type: an odd word is an integer, an even
/// non-zero word is a pointer.
pub fn decode_tagged(w: u64) -> Option<usize> {
    (w != 0 && w & 1 == 0).then_some(w as usize)
}

pub fn trace_tagged(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    for i in 0..view.words() {
        if let Some(p) = decode_tagged(view.word(i)) {
            edges.visit(p);
        }
    }
}

/// A node of three words: two pointer fields (0, 1) and a data word (2);
/// header-free if `header_free` (checked: the heap grants it). The
/// generational and lost-object tests run their scenarios with both.
pub fn three_word_node(heap: &Heap, header_free: bool) -> TypeId {
    let d = TypeDescriptor::fixed("Node", 3, &[0, 1]);
    let ty = heap
        .register_type(if header_free { d.header_free() } else { d })
        .unwrap();
    assert_eq!(ty.is_header_free(), header_free);
    ty
}

/// The test types.
#[derive(Copy, Clone)]
pub struct Types {
    /// Three pointer fields (0..3) and a canary (3).
    pub node: TypeId,
    /// Array of (pointer, canary) pairs.
    pub pairs: TypeId,
    /// Bytes; the first word is a canary.
    pub bytes: TypeId,
    /// Four tagged words; word 3 holds the canary (an odd value).
    pub tagged: TypeId,
}

impl Types {
    pub fn register(heap: &Heap) -> Types {
        Types {
            node: heap
                .register_type(TypeDescriptor::fixed("Node", 4, &[0, 1, 2]))
                .unwrap(),
            pairs: heap
                .register_type(TypeDescriptor::array("Pairs", 2, &[0]))
                .unwrap(),
            bytes: heap.register_type(TypeDescriptor::bytes("Bytes")).unwrap(),
            tagged: heap
                .register_type(TypeDescriptor::traced(
                    "Tagged",
                    Shape::Fixed { words: 4 },
                    trace_tagged,
                    decode_tagged,
                ))
                .unwrap(),
        }
    }
}

/// Kinds of test object, with how many outgoing edges each can hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Node,
    Pairs(usize),
    Bytes,
    Tagged,
}

impl Kind {
    pub fn slots(self) -> usize {
        match self {
            Kind::Node => 3,
            Kind::Pairs(n) => n,
            Kind::Bytes => 0,
            Kind::Tagged => 3,
        }
    }
}

/// Allocates an object of `kind` carrying `canary(id)`.
pub fn alloc(m: &mut Mutator, t: &Types, kind: Kind, id: u64) -> ObjRef {
    let c = canary(id);
    match kind {
        Kind::Node => {
            let o = m.alloc(t.node, 0);
            // SAFETY (test): a fresh object; word 3 is its data word.
            unsafe { m.store_word(o, 3, c) };
            o
        }
        Kind::Pairs(n) => {
            let o = m.alloc(t.pairs, n);
            for e in 0..n {
                // SAFETY (test): a fresh array of n pairs.
                unsafe { m.store_word(o, 2 * e + 1, c) };
            }
            o
        }
        Kind::Bytes => {
            let o = m.alloc(t.bytes, 24);
            // SAFETY (test): a fresh 24-byte array.
            unsafe { m.store_word(o, 0, c) };
            o
        }
        Kind::Tagged => {
            let o = m.alloc(t.tagged, 0);
            // SAFETY (test): a fresh tagged object; odd words are integers.
            unsafe {
                for w in 0..3 {
                    m.store_word(o, w, 1);
                }
                m.store_word(o, 3, c);
            }
            o
        }
    }
}

/// Sets edge `slot` of `obj` (of `kind`) to `to`.
///
/// # Safety
/// `obj` and `to` must be live.
pub unsafe fn link(m: &mut Mutator, kind: Kind, obj: ObjRef, slot: usize, to: Option<ObjRef>) {
    // SAFETY: the caller's contract.
    unsafe {
        match kind {
            Kind::Node => m.store(obj, slot, to),
            Kind::Pairs(_) => m.store(obj, 2 * slot, to),
            Kind::Tagged => m.store_word(obj, slot, to.map_or(1, |o| o.addr() as u64)),
            Kind::Bytes => unreachable!("bytes have no edges"),
        }
    }
}

/// Whether `obj` (of `kind`, identity `id`) still carries its canary.
///
/// # Safety
/// `obj` must be live.
pub unsafe fn canary_ok(m: &Mutator, kind: Kind, obj: ObjRef, id: u64) -> bool {
    let c = canary(id);
    // SAFETY: the caller's contract.
    unsafe {
        match kind {
            Kind::Node => m.load_word(obj, 3) == c,
            Kind::Pairs(n) => (0..n).all(|e| m.load_word(obj, 2 * e + 1) == c),
            Kind::Bytes => m.load_word(obj, 0) == c,
            Kind::Tagged => m.load_word(obj, 3) == c,
        }
    }
}

/// A fresh [`Kind::Node`] with identity `id`.
pub fn node(m: &mut Mutator, t: &Types, id: u64) -> ObjRef {
    alloc(m, t, Kind::Node, id)
}

/// A cycle and its whole sweep: collects, then waits for the finalizers
/// and cleanups the sweep queued (and so for the weak references and
/// ephemeron entries of the objects it found dead to be cleared).
pub fn settle(m: &mut Mutator) {
    m.collect();
    m.wait_for_finalizers();
}

/// Objects freed by every sweep so far.
pub fn freed(heap: &Heap) -> u64 {
    heap.stats().heap.freed_objects_total
}

/// Objects the last cycle marked.
pub fn marked(heap: &Heap) -> u64 {
    heap.stats().last_cycle.expect("a cycle ran").objects_marked
}

/// Runs one stepped minor cycle of a generational heap from a helper
/// thread while `m` waits in native code; returns its statistics.
pub fn minor(heap: &Heap, m: &mut Mutator) -> CycleStats {
    m.native(|| {
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut c = heap.begin_minor_cycle();
                c.scan_stacks();
                c.scan_globals();
                while c.mark(1000) > 0 {}
                c.finish()
            })
            .join()
            .unwrap()
        })
    })
}
