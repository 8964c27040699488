//! Verification modes: checkmark and the heap verifier (essay step 4).
//!
//! **Checkmark** re-traces the object graph from the same roots, with its own
//! bookkeeping (a visited map that remembers how each object was reached),
//! single-threaded and independent of the mark queues and workers: the
//! inspection walk (inspect §2), which retaining paths and heap snapshots
//! use too. Every
//! object it reaches must already carry a mark bit; one that does not would
//! be freed while reachable, and checkmark panics naming the object, its type
//! and the whole path from the root. This is the tri-colour invariant checked
//! after the fact: at the end of marking no black object points to a white one.
//!
//! **The verifier** walks every span and checks each live (marked) object: its
//! header names a registered type whose size fits the slot, and each pointer
//! field is null or the start of an allocated, marked object of this heap.
//! A failure names the object, its type and the field.
//!
//! Both run with the world stopped, after marking and before the sweep.

use crate::heap::inner::HeapInner;
use crate::inspect::walk::{Flow, Visitor, Walk};
use crate::mark::scan::{bad_header, for_each_referent};
use crate::mark::source::RootKind;
use crate::object::ObjRef;

/// Re-traces from `roots` and panics if a reachable object is unmarked.
/// The trace is the inspection walk (inspect §2), breadth-first, so the
/// path in the message is a shortest one.
pub(crate) fn checkmark(heap: &HeapInner, roots: &[(usize, RootKind)]) {
    struct Check;
    impl Visitor for Check {
        fn reached(
            &mut self,
            walk: &Walk<'_>,
            o: &tricolor_allocator::ObjectRef<'_>,
            ordinal: u32,
        ) -> Flow {
            if !o.is_marked() {
                let path = walk.path(ordinal);
                panic!(
                    "tricolor checkmark: `{}` object at {:#x} is reachable but was not marked \
                     (it would be freed while in use); reached by: {path}",
                    path.steps()[path.len() - 1].type_name,
                    o.base(),
                );
            }
            Flow::Continue
        }
    }
    Walk::run(heap, roots, &mut Check);
}

/// Checks every live object's header and pointer fields; panics naming the
/// first bad field.
pub(crate) fn verify_heap(heap: &HeapInner) {
    heap.page.for_each_span(|span| {
        for index in span.mark_bits().iter_ones(span.nelems()) {
            let obj = span.object_addr(index);
            assert!(
                span.is_allocated(index),
                "tricolor verifier: object slot {obj:#x} is marked but not allocated"
            );
            let o = ObjRef::from_addr(obj).expect("non-null");
            // SAFETY: an allocated object of this heap; the world is stopped.
            let (ty, len, header) = unsafe { heap.object_type(o) };
            let desc = heap
                .types
                .by_index(ty)
                .unwrap_or_else(|| bad_header(obj, header.unwrap_or(0)));
            let words = desc.payload_words(len).unwrap_or(usize::MAX);
            // The payload, from the object's address to its slot's end.
            let room = span.elem_size() - span.object_offset();
            assert!(
                words.saturating_mul(8) <= room,
                "tricolor verifier: `{}` object at {obj:#x} with length {len} needs {} payload \
                 bytes but its slot has room for {room}",
                desc.name,
                words.saturating_mul(8),
            );
            if let Some(t) = span.own_tag() {
                assert_eq!(
                    (t, len),
                    (ty, 0),
                    "tricolor verifier: object at {obj:#x} in a span of header-free type {t}"
                );
            }
            for_each_referent(heap, obj, |v, desc, field| {
                let at = match field {
                    Some(f) => format!("field {f} of `{}` object at {obj:#x}", desc.name),
                    None => format!("a referent traced from `{}` object at {obj:#x}", desc.name),
                };
                let Some(r) = heap.page.find_object(v) else {
                    panic!("tricolor verifier: {at} holds {v:#x}, which is not a pointer into this heap");
                };
                assert_eq!(
                    r.base(),
                    v,
                    "tricolor verifier: {at} holds {v:#x}, an interior pointer into the object at {:#x}",
                    r.base()
                );
                assert!(
                    r.span().is_allocated(r.index()),
                    "tricolor verifier: {at} holds {v:#x}, a freed object"
                );
                assert!(
                    r.is_marked(),
                    "tricolor verifier: {at} holds {v:#x}, an unmarked object: a black object \
                     points to a white one"
                );
            });
        }
    });
}
