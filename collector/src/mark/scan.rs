//! One object at a time: resolving a value to an object, shading it, and
//! scanning a grey object's fields. Every marker uses these (background
//! workers, assists, the collector thread, the stop-the-world workers, root
//! scans, barrier flushes), so there is one shading loop in the collector.
//!
//! A marker scans an object by loading each pointer field its descriptor
//! names (relaxed atomic loads), setting the referent's mark bit (an atomic
//! test-and-set on the span's mark bitmap), and pushing the referent if it
//! won the bit and the referent may hold pointers (objects in noscan spans
//! are marked, never scanned). Each object is therefore scanned once, by
//! the marker that marked it.
//!
//! **Shading** (`shade`) is the only way an object turns grey: resolve the
//! value to an object (checked in debug builds), win its mark bit, and if it
//! may hold pointers push it onto the marker's grey sink (`Grey`).

use crate::descriptor::{Edges, Pointers, TypeDescriptor};
use crate::heap::inner::HeapInner;
use crate::mark::queue::{Grey, Tally};
use crate::mark::source::Source;
use crate::object::{self, ObjRef, ObjectView};

/// Checks that `value`, found at `src`, is the start of an allocated object
/// of this heap; returns the object. A value that is not an object panics
/// with a message naming `src` in debug builds and is ignored in release
/// builds (marking a non-object could only do harm).
#[inline]
pub(crate) fn resolve<'h>(
    heap: &'h HeapInner,
    value: usize,
    src: Source<'_>,
) -> Option<tricolor_allocator::ObjectRef<'h>> {
    check_resolved(heap.page.find_object(value), value, src)
}

/// The debug-build checks of [`resolve`] on what a lookup of `value` found.
#[inline]
fn check_resolved<'h>(
    found: Option<tricolor_allocator::ObjectRef<'h>>,
    value: usize,
    src: Source<'_>,
) -> Option<tricolor_allocator::ObjectRef<'h>> {
    if cfg!(debug_assertions) {
        let Some(o) = found else {
            panic!("tricolor: {src} holds {value:#x}, which is not a pointer into this heap");
        };
        if o.base() != value {
            panic!(
                "tricolor: {src} holds {value:#x}, an interior pointer into the object at {:#x}; \
                 pointer fields must hold the start of an object",
                o.base()
            );
        }
        // An object allocated during a concurrent mark may sit in a span a
        // mutator's cache holds, whose allocation state the span does not
        // show yet; such an object is allocated black, so its mark bit is
        // set (and visible: see the object module's ordering rules).
        if !o.span().is_allocated(o.index()) && !o.is_marked() {
            panic!("tricolor: {src} holds {value:#x}, a freed object (dangling pointer)");
        }
    }
    found
}

/// Whether `addr` is an object of this heap with its mark bit set.
pub(crate) fn is_marked(heap: &HeapInner, addr: usize) -> bool {
    heap.page.find_object(addr).is_some_and(|o| o.is_marked())
}

/// One marker's memo of its last lookups: the span of the last object it
/// resolved and the descriptor of the last object it scanned. Neighbouring
/// objects of a graph often share a span (they were allocated together),
/// and a heap's objects are mostly of few types, so a memo hit skips the
/// arena index and page table walk (four dependent loads) or the type
/// table's two.
///
/// A memo lives for one drain, inside one mark phase (essay steps 2-4), and
/// that is what makes it sound: a span found in use stays in use, with the
/// same address range, until a sweep frees it, and no sweep runs while
/// marking; a registered descriptor never changes.
pub(crate) struct Lookup<'h> {
    heap: &'h HeapInner,
    /// The span of the last object resolved (`None` before the first), and
    /// its first byte and length in bytes (0: matches no address).
    span: Option<&'h tricolor_allocator::Span>,
    span_base: usize,
    span_bytes: usize,
    /// The type index of the last object scanned and its descriptor.
    ty: u32,
    desc: Option<&'h TypeDescriptor>,
}

impl<'h> Lookup<'h> {
    /// An empty memo for a drain of `heap`.
    pub(crate) fn new(heap: &'h HeapInner) -> Lookup<'h> {
        Lookup {
            heap,
            span: None,
            span_base: 0,
            span_bytes: 0,
            ty: u32::MAX,
            desc: None,
        }
    }

    /// [`resolve`], through the span memo.
    #[inline]
    pub(crate) fn resolve(
        &mut self,
        value: usize,
        src: Source<'_>,
    ) -> Option<tricolor_allocator::ObjectRef<'h>> {
        let found = self.find(value);
        check_resolved(found, value, src)
    }

    /// The object slot holding `value`, through the span memo, unchecked.
    #[inline]
    fn find(&mut self, value: usize) -> Option<tricolor_allocator::ObjectRef<'h>> {
        match self.span {
            Some(span) if value.wrapping_sub(self.span_base) < self.span_bytes => {
                span.find_object(value)
            }
            _ => {
                let found = self.heap.page.find_object(value);
                if let Some(o) = found {
                    let span = o.span();
                    self.span = Some(span);
                    self.span_base = span.base();
                    self.span_bytes = span.bytes();
                }
                found
            }
        }
    }

    /// The descriptor and length of object `obj`, and whether it has a
    /// header: from its header, or from its span for an object of a
    /// header-free type (object module docs), through the memos. `obj` must
    /// be an allocated object of this heap: one that a marker shaded from
    /// a validated pointer during this mark.
    #[inline]
    pub(crate) fn header_of(&mut self, obj: usize) -> (&'h TypeDescriptor, usize, bool) {
        let (ty, len, headed) = match self.own_tag(obj) {
            Some(ty) => (ty, 0, false),
            None => {
                let header = load_header_of(obj);
                let (ty, len) = object::decode_header(header);
                if ty != self.ty && self.heap.types.by_index(ty).is_none() {
                    bad_header(obj, header)
                }
                (ty, len, true)
            }
        };
        if let (true, Some(desc)) = (ty == self.ty, self.desc) {
            return (desc, len, headed);
        }
        let desc = self
            .heap
            .types
            .by_index(ty)
            .expect("a header's type was checked; an own class's type is registered");
        self.ty = ty;
        self.desc = Some(desc);
        (desc, len, headed)
    }

    /// The type index of `obj` if it is of a header-free type: its span's
    /// tag, through the span memo. Asks no span in a heap without such
    /// types.
    #[inline]
    fn own_tag(&mut self, obj: usize) -> Option<u32> {
        if !self.heap.types.has_header_free() {
            return None;
        }
        self.find(obj).and_then(|o| o.span().own_tag())
    }
}

/// The header of an object a marker reached, which has one (it is not of a
/// header-free type).
#[inline]
fn load_header_of(obj: usize) -> u64 {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    // `obj` was marked from a validated pointer; only the sweep frees
    // objects, and no sweep runs while marking or verifying (essay steps
    // 2-4); its header was published before the pointer we found (object
    // module docs).
    // SAFETY: so `obj` is an allocated object of this heap for this call,
    // and the caller knows it has a header.
    unsafe { object::load_header(o) }
}

/// Reports an unreadable header: the object was freed and poisoned, or
/// memory was corrupted. Always fatal: scanning it would follow garbage.
#[cold]
pub(crate) fn bad_header(obj: usize, header: u64) -> ! {
    if header as u32 == tricolor_allocator::POISON_WORD as u32 {
        panic!(
            "tricolor: reached the freed (poisoned) object at {obj:#x}: a pointer to it \
             survived its collection"
        );
    }
    panic!("tricolor: object at {obj:#x} has an invalid header {header:#x} (unknown type)");
}

/// What scanning one object found out about it: its type, its payload
/// words, and whether it has a header.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Scanned {
    pub(crate) ty: u32,
    pub(crate) words: usize,
    pub(crate) headed: bool,
}

impl Scanned {
    /// The bytes scanned: the payload and the header word, if any.
    #[inline]
    pub(crate) fn bytes(self) -> u64 {
        (self.words as u64 + u64::from(self.headed)) * 8
    }

    /// The object's slot size, as allocation accounted it.
    #[inline]
    pub(crate) fn slot(self) -> u64 {
        let bytes = if self.headed {
            ((self.words + 1) * 8).max(16)
        } else {
            (self.words * 8).max(8)
        };
        tricolor_allocator::slot_size(bytes) as u64
    }
}

/// Calls `f(referent, field)` for every non-null pointer in `obj`; returns
/// what it found out about the object. `obj` must be an allocated object
/// of this heap that cannot be freed meanwhile (marked in this mark, or
/// the world stopped).
#[inline]
pub(crate) fn for_each_referent(
    heap: &HeapInner,
    obj: usize,
    f: impl FnMut(usize, &TypeDescriptor, Option<usize>),
) -> Scanned {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    // SAFETY: the caller's contract.
    let (ty, len, header) = unsafe { heap.object_type(o) };
    let desc = heap
        .types
        .by_index(ty)
        .unwrap_or_else(|| bad_header(obj, header.unwrap_or(0)));
    let words = referents(obj, desc, len, f);
    Scanned {
        ty,
        words,
        headed: header.is_some(),
    }
}

/// [`for_each_referent`] for an object whose descriptor and length are
/// known (read from its header by the caller).
#[inline(always)]
pub(crate) fn referents(
    obj: usize,
    desc: &TypeDescriptor,
    len: usize,
    mut f: impl FnMut(usize, &TypeDescriptor, Option<usize>),
) -> usize {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    let words = desc.payload_words(len).unwrap_or(0);
    match &desc.pointers {
        Pointers::None => {}
        Pointers::Traced { .. } | Pointers::TracedWith { .. } => {
            // SAFETY: `obj` is an allocated object of this heap (the
            // callers' contract, as in `load_header_of`) with `words`
            // payload words, as its descriptor computes them.
            let view = unsafe { ObjectView::new(o, words, len) };
            let mut sink = |v: usize| f(v, desc, None);
            desc.trace(view, &mut Edges { sink: &mut sink });
        }
        // Bitmaps, leading counts, prefix and element maps.
        _ => desc.for_each_pointer_word(len, |i| {
            // SAFETY: `obj` is an allocated object of this heap (the
            // callers' contract, as in `load_header_of`), and the
            // descriptor says word `i` is inside it.
            let v = unsafe { object::load_field(o, i) } as usize;
            if v != 0 {
                f(v, desc, Some(i));
            }
        }),
    }
    words
}

/// Shades `value`, found at `src`: marks it and, if it won the mark bit and
/// may hold pointers, pushes it onto `out`.
#[inline]
pub(crate) fn shade(
    heap: &HeapInner,
    value: usize,
    src: Source<'_>,
    out: &mut impl Grey,
    tally: &mut Tally,
) {
    if let Some(o) = resolve(heap, value, src) {
        grey(o, out, tally);
    }
}

/// The second half of shading, for a value already resolved to object `o`:
/// wins its mark bit, and if this call won it, counts it and pushes it onto
/// `out` unless it is in a noscan span. Returns whether this call won.
#[inline(always)]
pub(crate) fn grey(
    o: tricolor_allocator::ObjectRef<'_>,
    out: &mut impl Grey,
    tally: &mut Tally,
) -> bool {
    let won = o.mark();
    if won {
        tally.marked_bytes += o.size() as u64;
        tally.marked_objects += 1;
        if !o.span().is_noscan() {
            out.push_grey(o.base());
        } else if tally.per_type {
            match o.span().own_tag() {
                // Header-free: the span names the type.
                Some(ty) => tally.count_type(ty, o.size() as u64),
                // Never scanned: counted once its header arrives (an
                // object with pointers is counted when it is scanned, its
                // header read then anyway).
                None => tally.count_noscan(o.base(), o.size() as u64),
            }
        }
    }
    won
}

/// Per-type statistics: counts the object a marker just scanned, by its
/// slot size (what its allocation accounted and `grey` counted).
#[inline]
pub(crate) fn count_scanned(tally: &mut Tally, scanned: Scanned) {
    tally.count_type(scanned.ty, scanned.slot());
}

/// Settles the age of grey object `obj`, which a marker just scanned and
/// which will be old after this cycle (it is marked, and old or a
/// survivor, or the cycle tenures at the first survival: generation §1,
/// §3). If it points to an object that will not be old
/// (`young`), it goes to the next cycle's remembered set, disarmed so that
/// no store logs it twice; otherwise it is armed, and a store into it
/// outside a mark logs it from now on.
///
/// # Safety
/// `obj` must be an allocated object of `heap`.
#[inline]
pub(crate) unsafe fn settle(heap: &HeapInner, obj: usize, young: bool, tally: &mut Tally) {
    let o = ObjRef::from_addr(obj).expect("non-null object");
    if young {
        // SAFETY: the caller's contract.
        if unsafe { heap.log_armed(o) } {
            // SAFETY: as above.
            unsafe { heap.disarm_log(o) };
        }
        tally.carry.push(obj);
    } else {
        // SAFETY: the caller's contract.
        unsafe { heap.arm_log(o) };
    }
}

/// Shades a batch of values into the injector and wakes the markers; the
/// sink of barrier-buffer flushes, ephemeron passes and the weak-reference
/// and finalizer-queue reads while marking.
pub(crate) fn shade_all(heap: &HeapInner, values: &[usize], src: Source<'_>) {
    shade_roots(heap, values.iter().map(|&v| (v, src)));
}

/// Shades root values, each with where it was found, into the injector
/// and wakes the markers: every root scan, and the roots of a
/// stop-the-world mark. Zero values are skipped.
pub(crate) fn shade_roots<'a>(
    heap: &HeapInner,
    values: impl IntoIterator<Item = (usize, Source<'a>)>,
) {
    let ms = &heap.mark_state;
    let mut tally = ms.tally();
    for (v, src) in values {
        if v != 0 {
            shade(heap, v, src, &mut &ms.injector, &mut tally);
        }
    }
    ms.add(&mut tally);
    ms.wake();
}

/// Scans grey object `obj`: shades every referent onto `out`. Returns the
/// bytes scanned (header included). `lk` is the calling marker's memo.
#[inline]
pub(crate) fn scan(lk: &mut Lookup<'_>, obj: usize, out: &mut impl Grey, tally: &mut Tally) -> u64 {
    // Generational (§3): whether `obj` will be old, and if so, whether it
    // points to an object that will not be; in a cycle that tenures at the
    // first survival every scanned object will be old, and so will all it
    // points to (§1).
    let tenure_all = tally.arm && lk.heap.generations.tenures_first();
    let ages = tally.arm && !tenure_all && lk.find(obj).is_some_and(|o| o.promotes());
    let mut young = false;
    let (desc, len, headed) = lk.header_of(obj);
    let words = referents(obj, desc, len, |v, desc, field| {
        if let Some(o) = lk.resolve(v, Source::Field { obj, desc, field }) {
            if ages && !young {
                young = !o.promotes();
            }
            grey(o, out, tally);
        }
    });
    if ages || tenure_all {
        // SAFETY: `obj` is grey: marked from a validated pointer during
        // this mark, so allocated until a sweep, and none runs while
        // marking (as in `load_header_of`).
        unsafe { settle(lk.heap, obj, young, tally) };
    }
    // `header_of` left the object's type in the memo.
    let scanned = Scanned {
        ty: lk.ty,
        words,
        headed,
    };
    tally.scanned_bytes += scanned.bytes();
    if tally.per_type {
        count_scanned(tally, scanned);
    }
    scanned.bytes()
}
