//! The walk (inspect §2): a breadth-first search from the labelled roots,
//! with the world stopped after marking, that remembers how each object
//! was first reached. Checkmark (`verify`), retaining paths and heap
//! snapshots (`inspect::serve`) are visitors of this one traversal.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use tricolor_allocator::ObjectRef;

use super::graph::TRACED;
use super::path::{PathStep, RetainingPath, Via};
use crate::heap::inner::HeapInner;
use crate::mark::scan::{bad_header, for_each_referent, resolve};
use crate::mark::source::{RootKind, Source};
use crate::mark::{ephemeron, finalizers, roots};
use crate::mutator::safepoint::StoppedWorld;
use crate::object::ObjRef;

/// Every root of the heap with its label, world stopped, after marking:
/// globals, stacks and scanner reports (`mark::roots`), the referents of
/// unreachable finalizable objects (specials §2) and the values of
/// ephemeron entries with marked keys (ephemeron §1). What marking treated
/// as roots, so what checkmark re-traces from.
pub(crate) fn labelled_roots(
    heap: &HeapInner,
    world: &mut StoppedWorld<'_>,
) -> Vec<(usize, RootKind)> {
    let mut roots = roots::gather(heap, world);
    finalizers::checkmark_roots(heap, &mut roots);
    ephemeron::checkmark_roots(heap, &mut roots);
    roots
}

/// Whether a visitor wants the walk to go on.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// What a walk tells its visitor. Objects get ordinals in the order they
/// are first reached (the roots' objects first), which is the order the
/// walk scans them in: a breadth-first order, so an object's ordinal path
/// from the roots is a shortest one.
pub(crate) trait Visitor {
    /// `obj` is reached for the first time, as `ordinal`; the walk already
    /// knows how (so [`Walk::path`] works for it).
    fn reached(&mut self, _walk: &Walk<'_>, _obj: &ObjectRef<'_>, _ordinal: u32) -> Flow {
        Flow::Continue
    }
    /// Root number `root` (an index into the walk's roots) holds `to`.
    fn root_edge(&mut self, _root: usize, _to: u32) {}
    /// Word `field` of `from` (or its trace callback, [`TRACED`]) holds
    /// `to`. Called for every reference, not only the first to an object.
    fn edge(&mut self, _from: u32, _field: u32, _to: u32) {}
}

/// The ordinal of a slot the walk has not reached.
const UNREACHED: u32 = u32::MAX;

/// How an object was first reached.
#[derive(Copy, Clone)]
enum Parent {
    /// By the root at this index of the walk's roots.
    Root(u32),
    /// By a field of the object with this ordinal.
    Field { from: u32, field: u32 },
}

/// A reached object.
struct Reached {
    addr: usize,
    parent: Parent,
    /// Whether it may hold pointers (not in a noscan span).
    scan: bool,
}

/// A finished (or stopped) walk: what it reached and how.
pub(crate) struct Walk<'h> {
    heap: &'h HeapInner,
    roots: &'h [(usize, RootKind)],
    /// Per span reached (by base address), each slot's ordinal, or
    /// `UNREACHED`: a few bytes per slot, indexed like the span's mark
    /// bits, so that looking an object up costs one small map probe (a few
    /// thousand spans) and one array read near its neighbours' entries.
    ordinals: HashMap<usize, Box<[u32]>, BuildHasherDefault<AddrHasher>>,
    reached: Vec<Reached>,
}

impl<'h> Walk<'h> {
    /// The type index of `addr`, an object this walk reached.
    pub(crate) fn type_index(&self, addr: usize) -> u32 {
        type_index(self.heap, addr)
    }

    /// Walks from `roots`, telling `visitor`, until everything reachable is
    /// reached or the visitor stops it. The world must be stopped and the
    /// mark over (allocation states and headers do not change under it).
    pub(crate) fn run(
        heap: &'h HeapInner,
        roots: &'h [(usize, RootKind)],
        visitor: &mut impl Visitor,
    ) -> Walk<'h> {
        let mut walk = Walk {
            heap,
            roots,
            ordinals: HashMap::default(),
            reached: Vec::new(),
        };
        walk.walk(visitor);
        walk
    }

    fn walk(&mut self, v: &mut impl Visitor) {
        let (heap, roots) = (self.heap, self.roots);
        for (i, &(value, kind)) in roots.iter().enumerate() {
            let Some(o) = resolve(heap, value, Source::Root(kind)) else {
                continue;
            };
            let (to, flow) = self.reach(&o, Parent::Root(i as u32), v);
            v.root_edge(i, to);
            if flow == Flow::Stop {
                return;
            }
        }
        let mut found = Vec::new();
        let mut next = 0;
        while next < self.reached.len() {
            let (obj, scan) = (self.reached[next].addr, self.reached[next].scan);
            let from = next as u32;
            next += 1;
            if !scan {
                continue;
            }
            for_each_referent(heap, obj, |value, desc, field| {
                if let Some(o) = resolve(heap, value, Source::Field { obj, desc, field }) {
                    found.push((o, field.map_or(TRACED, |f| f as u32)));
                }
            });
            for (o, field) in found.drain(..) {
                let (to, flow) = self.reach(&o, Parent::Field { from, field }, v);
                v.edge(from, field, to);
                if flow == Flow::Stop {
                    return;
                }
            }
        }
    }

    /// `o`'s ordinal, giving it the next one (and telling the visitor) if
    /// this is the first time it is reached.
    fn reach(&mut self, o: &ObjectRef<'_>, parent: Parent, v: &mut impl Visitor) -> (u32, Flow) {
        let ordinal = self.reached.len() as u32;
        let span = o.span();
        let slots = match self.ordinals.entry(span.base()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(vec![UNREACHED; span.nelems()].into_boxed_slice()),
        };
        let slot = &mut slots[o.index()];
        if *slot != UNREACHED {
            return (*slot, Flow::Continue);
        }
        assert!(
            ordinal != UNREACHED,
            "tricolor: more objects than a walk can number"
        );
        *slot = ordinal;
        self.reached.push(Reached {
            addr: o.base(),
            parent,
            scan: !o.span().is_noscan(),
        });
        (ordinal, v.reached(self, o, ordinal))
    }

    /// The shortest path by which the walk reached `ordinal`, root first.
    pub(crate) fn path(&self, ordinal: u32) -> RetainingPath {
        let mut steps = Vec::new();
        let mut at = ordinal;
        loop {
            let r = &self.reached[at as usize];
            let (via, up) = match r.parent {
                Parent::Root(i) => (Via::FromRoot(self.roots[i as usize].1), None),
                Parent::Field {
                    from,
                    field: TRACED,
                } => (Via::TraceCallback, Some(from)),
                Parent::Field { from, field } => (Via::Field(field as usize), Some(from)),
            };
            let (ty, desc) = self
                .heap
                .types
                .entry(type_index(self.heap, r.addr))
                .unwrap_or_else(|| bad_header(r.addr, 0));
            steps.push(PathStep {
                object: ObjRef::from_addr(r.addr).expect("a reached object is not null"),
                ty,
                type_name: desc.name().to_string(),
                via,
            });
            match up {
                Some(from) => at = from,
                None => break,
            }
        }
        steps.reverse();
        RetainingPath::new(steps)
    }
}

/// The type index of `addr`, an object the walk reached.
pub(crate) fn type_index(heap: &HeapInner, addr: usize) -> u32 {
    let o = ObjRef::from_addr(addr).expect("a reached object is not null");
    // SAFETY: `addr` was resolved to an object of this heap that is
    // allocated or marked (so allocated, the caches being released), and
    // the world is stopped: its header word, if any, is committed memory
    // nobody writes.
    unsafe { heap.object_type(o) }.0
}

/// A hasher for span addresses (page-aligned, dense): one multiply, its
/// halves folded so that the low bits a table indexes by depend on all of
/// the address.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
