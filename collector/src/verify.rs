//! Verification modes: checkmark and the heap verifier (essay step 4).
//!
//! **Checkmark** re-traces the object graph from the same roots, with its own
//! bookkeeping (a visited map that remembers how each object was reached),
//! single-threaded and independent of the mark queues and workers. Every
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

use std::collections::HashMap;
use std::fmt::Write;

use crate::heap::inner::HeapInner;
use crate::mark::scan::{bad_header, for_each_referent, resolve};
use crate::mark::source::{RootKind, Source};
use crate::object::{self, ObjRef};

#[derive(Copy, Clone)]
enum Parent {
    Root(RootKind),
    Field { obj: usize, field: Option<usize> },
}

fn type_name(heap: &HeapInner, obj: usize) -> String {
    let o = ObjRef::from_addr(obj).expect("non-null");
    // SAFETY: `obj` was resolved to an allocated object of this heap, and the
    // world is stopped.
    let (ty, _) = object::decode_header(unsafe { object::load_header(o) });
    heap.types
        .by_index(ty)
        .map_or_else(|| format!("<type {ty}>"), |d| d.name.clone())
}

fn path(heap: &HeapInner, parents: &HashMap<usize, Parent>, mut obj: usize) -> String {
    let mut steps = Vec::new();
    loop {
        match parents[&obj] {
            Parent::Root(kind) => {
                steps.push(format!("{kind} -> `{}`@{obj:#x}", type_name(heap, obj)));
                break;
            }
            Parent::Field { obj: from, field } => {
                let via = match field {
                    Some(f) => format!("field {f}"),
                    None => "trace callback".to_string(),
                };
                steps.push(format!("{via} -> `{}`@{obj:#x}", type_name(heap, obj)));
                obj = from;
            }
        }
    }
    steps.reverse();
    let mut s = String::new();
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{step}");
    }
    s
}

/// Re-traces from `roots` and panics if a reachable object is unmarked.
pub(crate) fn checkmark(heap: &HeapInner, roots: &[(usize, RootKind)]) {
    let mut parents: HashMap<usize, Parent> = HashMap::new();
    let mut stack = Vec::new();
    let check = |parents: &HashMap<usize, Parent>, o: &tricolor_allocator::ObjectRef<'_>| {
        if !o.is_marked() {
            panic!(
                "tricolor checkmark: `{}` object at {:#x} is reachable but was not marked \
                 (it would be freed while in use); reached by: {}",
                type_name(heap, o.base()),
                o.base(),
                path(heap, parents, o.base())
            );
        }
    };
    for &(v, kind) in roots {
        let Some(o) = resolve(heap, v, Source::Root(kind)) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(o.base()) {
            e.insert(Parent::Root(kind));
            check(&parents, &o);
            if !o.span().is_noscan() {
                stack.push(o.base());
            }
        }
    }
    while let Some(obj) = stack.pop() {
        let mut found = Vec::new();
        for_each_referent(heap, obj, |v, desc, field| {
            if let Some(o) = resolve(heap, v, Source::Field { obj, desc, field }) {
                found.push((o, field));
            }
        });
        for (o, field) in found {
            if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(o.base()) {
                e.insert(Parent::Field { obj, field });
                check(&parents, &o);
                if !o.span().is_noscan() {
                    stack.push(o.base());
                }
            }
        }
    }
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
            // SAFETY: an allocated slot of this heap; the world is stopped.
            let header = unsafe { object::load_header(o) };
            let (ty, len) = object::decode_header(header);
            let desc = heap.types.by_index(ty).unwrap_or_else(|| bad_header(obj, header));
            let words = desc.payload_words(len).unwrap_or(usize::MAX);
            assert!(
                words.saturating_add(1).saturating_mul(8) <= span.elem_size(),
                "tricolor verifier: `{}` object at {obj:#x} with length {len} needs {} bytes \
                 but its slot has {}",
                desc.name,
                words.saturating_add(1).saturating_mul(8),
                span.elem_size()
            );
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
