//! [`Array`]: a variable-length array of `E`s in one heap object.
//!
//! # Layout, and why the length is a payload word
//!
//! An `Array<E>` object is the collector's prefix-array shape
//! ([`Shape::PrefixArray`]): one prefix word holding the length (elements),
//! then the elements, `size_of::<E>()` bytes apart from payload byte 8 on, as
//! in a Rust slice (so the elements *are* a `[E]`, and
//! [`Gc::as_slice`](crate::Gc::as_slice) is a slice of them).
//!
//! The header has a length of its own, but it counts the collector's units,
//! and the safe layer needs the element count in the payload:
//!
//! - a value with drop glue is dropped from a bitwise copy of the *payload*
//!   (the sweep moves it out of the dead object; the heap's drop moves out
//!   the ones left when it goes): the drop function gets those words and
//!   nothing else — not the header, and not the slot's exact size (slots
//!   are rounded up to size classes). The prefix word is how it knows how
//!   many elements to drop;
//! - an array of plain data is packed (a `[u8]` takes a byte per element),
//!   and the collector's units are whole words: its header counts words;
//! - an array being built (its elements written one by one by the caller's
//!   closure) reads as empty until the last one is written, so a panic in
//!   the closure leaves an object whose trace callback visits nothing that
//!   was not made.
//!
//! The collector's view, by the element type:
//!
//! | `E` | element words | header length | pointer map |
//! |---|---|---|---|
//! | no members (`E::NO_MEMBERS`) | 1 | payload words of the elements (`len * size_of::<E>()` rounded up) | none: a noscan object |
//! | members at fixed words (`E::FIXED_MEMBERS`) | `size_of::<E>() / 8` | `len` | `E::pointer_words`, per element: a leading count when they are words `0..k` (a range loop in the marker; one range for an array of `Member`s), else a bitmap |
//! | members that depend on the value (an enum) | `size_of::<E>() / 8` | `len` | a trace callback over every element |
//!
//! A type holding a member is word-aligned (a member is a word), so its
//! size is a whole number of words, and element `i`'s members are at fixed
//! words of the object. Stores into them mirror [`Gc::set`](crate::Gc::set):
//! the raw `store` (checked against the pointer map) for a mapped element
//! type, `store_word` (the barrier decodes the old and the new word) for a
//! traced one.

use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::NonNull;

use tricolor_collector::{PointerWords, Shape, TypeDescriptor};

use crate::gc::{payload_of, Gc};
use crate::member::Member;
use crate::trace::{Trace, Tracer};

/// A variable-length array of `E`s in one heap object: made by
/// [`Mutator::alloc_array`](crate::Mutator::alloc_array), read through a
/// [`Gc<Array<E>>`](Gc) ([`len`](Gc::len), [`as_slice`](Gc::as_slice),
/// [`iter`](Gc::iter), [`get_at`](Gc::get_at)) and written through
/// [`set_at`](Gc::set_at), which runs the write barrier.
///
/// The elements lie in the heap, counted by the pacer like any object, and
/// may hold members: an array of [`Member`]s, of structs with members (at
/// fixed words, or in enum variants), or of plain data. As for any object,
/// there is no `&mut` access: elements change through their members, or
/// interior mutability (`Cell`, atomics).
///
/// An `Array<E>` value exists only inside its object: there is no way to
/// make one outside the heap. Its own `Trace` says it holds no member (its
/// Rust value is just the length); the elements are described to the
/// collector by the array's own type descriptor.
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Leaf(u32);
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// // Four null members, then filled in.
/// let slots = m.alloc_array(4, |_| Member::<Leaf>::null());
/// for i in 0..4 {
///     let leaf = m.alloc(Leaf(i as u32 * 10));
///     slots.get(&m).set_at(i, |e| e, Some(leaf.get(&m)));
/// }
/// m.collect(); // the leaves live through the array
/// let a = slots.get(&m);
/// let sum: u32 = (0..a.len()).map(|i| a.get_at(i, |e| e).unwrap().0).sum();
/// assert_eq!(sum, 60);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(C)]
pub struct Array<E> {
    /// The number of elements (the prefix word).
    len: usize,
    /// The elements follow, from payload byte 8; a zero-length array field
    /// gives `Array<E>` `E`'s auto traits and alignment, and no size.
    _elems: [E; 0],
    _t: PhantomData<E>,
}

impl<E> Array<E> {
    /// The number of elements: the same as [`Gc::len`].
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(3, |i| i as u64);
    /// let array: &tricolor::Array<u64> = a.get(&m).value();
    /// assert_eq!(array.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no element.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(0, |_| 0u8);
    /// assert!(a.get(&m).value().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

// SAFETY: an `Array<E>` value is its length word and nothing else
// (`size_of::<Array<E>>()` is 8): no member lies inside it. Its elements
// lie after it in the object, described by the array's own descriptor
// (`descriptor` below), never by this impl.
unsafe impl<E: Trace> Trace for Array<E> {
    const NO_MEMBERS: bool = true;
    #[inline]
    fn pointer_words(_base: u32, _out: &mut Vec<u32>) -> bool {
        true
    }
    #[inline]
    fn trace(&self, _tracer: &mut Tracer<'_>) {}
}

/// Bytes of the prefix (the length word) before element 0.
const PREFIX_BYTES: usize = 8;

/// The collector's length of an `Array<E>` of `len` elements (see the
/// module docs' table), or `None` if the size overflows.
#[inline]
pub(crate) fn units<E: Trace>(len: usize) -> Option<usize> {
    if E::NO_MEMBERS {
        Some(len.checked_mul(size_of::<E>())?.div_ceil(8))
    } else {
        Some(len)
    }
}

/// The address of the length word (the prefix) of the array object `obj`,
/// with `obj`'s provenance.
#[inline]
fn length_of(obj: *mut u8) -> *mut usize {
    obj.cast()
}

/// The address of element 0 of the array object `obj`, with `obj`'s
/// provenance.
#[inline]
pub(crate) fn elements_of<E>(obj: *mut u8) -> *mut E {
    obj.wrapping_add(PREFIX_BYTES).cast()
}

/// The descriptor of `Array<E>` (the module docs' table).
pub(crate) fn descriptor<E: Trace>() -> TypeDescriptor {
    let name = std::any::type_name::<Array<E>>();
    if E::NO_MEMBERS {
        return TypeDescriptor::prefix_array(name, 1, PointerWords::None, 1, PointerWords::None);
    }
    assert!(
        size_of::<E>() > 0 && size_of::<E>().is_multiple_of(8),
        "tricolor: `{name}`: an element type with members must be word-sized (a member is a word)"
    );
    let elem_words = (size_of::<E>() / 8) as u32;
    let mut pointers = Vec::new();
    let fixed = E::pointer_words(0, &mut pointers);
    // `set_at` picks the raw store by `FIXED_MEMBERS`, as `Gc::set` does.
    assert_eq!(
        fixed,
        E::FIXED_MEMBERS,
        "tricolor: `{name}`: Trace::pointer_words and Trace::FIXED_MEMBERS disagree"
    );
    if fixed {
        pointers.sort_unstable();
        pointers.dedup();
        let leading = pointers.iter().enumerate().all(|(i, &w)| w == i as u32);
        let elem = if leading {
            PointerWords::leading(pointers.len() as u32)
        } else {
            PointerWords::at(&pointers)
        };
        return TypeDescriptor::prefix_array(name, 1, PointerWords::None, elem_words, elem);
    }
    TypeDescriptor::traced_with(
        name,
        Shape::PrefixArray {
            prefix_words: 1,
            elem_words,
        },
        |view, edges| {
            let obj = view.obj().addr() as *mut u8;
            // SAFETY: the marker calls this only for live objects of this
            // type: the prefix word is the number of initialised elements
            // (0 until the last one is written), which follow it. `trace`
            // reads only members (atomic) and what cannot change after
            // allocation (the `Trace` contract), so reading them while
            // mutators run is no data race.
            let elems = unsafe {
                let len = *length_of(obj);
                std::slice::from_raw_parts(elements_of::<E>(obj), len)
            };
            let mut visit = |a: usize| edges.visit(a);
            let mut tracer = Tracer::new(&mut visit);
            for e in elems {
                e.trace(&mut tracer);
            }
        },
        // A member word holds an object's address or 0, nothing else.
        |w| (w != 0).then_some(w as usize),
    )
}

/// Writes the elements of a fresh array object; what
/// [`Mutator::alloc_array`](crate::Mutator::alloc_array) does between the
/// allocation and the root.
///
/// # Safety
/// `obj` is a fresh, zeroed, unpublished object of `Array<E>`'s type made
/// for `len` elements; no GC point of its mutator happens during this call
/// (`f` cannot reach the mutator: the caller holds it mutably).
pub(crate) unsafe fn init<E: Trace>(obj: NonNull<u8>, len: usize, mut f: impl FnMut(usize) -> E) {
    /// Drops the elements written so far if `f` panics: the object stays
    /// garbage with length 0, and no drop record.
    struct Partial<E> {
        elems: *mut E,
        done: usize,
    }
    impl<E> Drop for Partial<E> {
        fn drop(&mut self) {
            // SAFETY: elements `0..done` were written and are dropped here
            // once; nothing else will (the length word still says 0).
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.elems, self.done))
            };
        }
    }
    let mut partial = Partial {
        elems: elements_of::<E>(obj.as_ptr()),
        done: 0,
    };
    while partial.done < len {
        let value = f(partial.done);
        // SAFETY: element `done` < `len` lies inside the object (its payload
        // is at least 8 + len * size_of::<E>() bytes: `units`), aligned for
        // `E` (16 bytes past an 8-aligned object start, plus a multiple of
        // `size_of::<E>()`; `E`'s alignment is at most 8), unwritten, and
        // ours alone; its
        // members are null (a member outside the heap always is), so the
        // write stores no pointer the barrier should have seen.
        unsafe { partial.elems.add(partial.done).write(value) };
        partial.done += 1;
    }
    std::mem::forget(partial);
    // SAFETY: the prefix word is the payload's first word, ours alone; the
    // elements it counts are all written.
    unsafe { length_of(obj.as_ptr()).write(len) };
}

/// The drop function of an `Array<E>` whose `E` has drop glue (see
/// [`Mutator::alloc`](crate::Mutator::alloc)'s drop rules): reads the
/// length from the moved-out words, nulls every element's members, then
/// drops the elements.
///
/// # Safety
/// `words` holds the payload words of a dead (or heap-dropped) `Array<E>`
/// object, moved out (bitwise), owned by the caller and dropped once.
pub(crate) unsafe fn drop_moved<E: Trace + Send>(words: *mut u64) {
    // SAFETY: the caller's contract: word 0 is the length, the elements
    // follow it (8-aligned: `E`'s alignment is at most 8), all initialised.
    let elems = unsafe {
        let len = *(words as *const usize);
        &mut *std::ptr::slice_from_raw_parts_mut(words.add(1) as *mut E, len)
    };
    if !E::NO_MEMBERS {
        // Null every member first: the objects they named may be freed
        // already, and a `Drop` must not reach them.
        let mut clear = Tracer::clear();
        for e in elems.iter() {
            e.trace(&mut clear);
        }
    }
    // SAFETY: the caller's contract: dropped once.
    unsafe { std::ptr::drop_in_place(elems) };
}

impl<'m, E: Trace> Gc<'m, Array<E>> {
    /// The number of elements.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(5, |i| i as f64);
    /// assert_eq!(a.get(&m).len(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn len(self) -> usize {
        // SAFETY: a live `Array<E>` object (the handle's contract): its
        // first payload word is its length, written before it was
        // published and never after.
        unsafe { *length_of(self.ptr().as_ptr()) }
    }

    /// Whether the array has no element.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(0, |_| 0u32);
    /// assert!(a.get(&m).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The elements, for as long as the handle is valid.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let squares = m.alloc_array(4, |i| (i * i) as u32);
    /// assert_eq!(squares.get(&m).as_slice(), &[0, 1, 4, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn as_slice(self) -> &'m [E] {
        let len = self.len();
        // SAFETY: the object is live for 'm (the handle's contract) and
        // holds `len` initialised elements after its length word, inside
        // its payload; the pointer is the object's own (its provenance
        // covers the whole object, not just an `Array<E>`'s 8 bytes), and
        // no `&mut` to an object is ever made.
        unsafe { std::slice::from_raw_parts(elements_of::<E>(self.ptr().as_ptr()), len) }
    }

    /// An iterator over the elements.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(10, |i| i as u64);
    /// assert_eq!(a.get(&m).iter().sum::<u64>(), 45);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn iter(self) -> std::slice::Iter<'m, E> {
        self.as_slice().iter()
    }

    /// Loads the member that `field` selects in element `i`: the object it
    /// holds, as a handle of the same mutator ([`Gc::get`] for an element).
    ///
    /// # Panics
    /// If `i` is out of bounds, or `field` returns a member that is not
    /// inside element `i`.
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    /// #[derive(Trace)]
    /// struct Edge { to: Member<Vertex>, weight: u32 }
    /// #[derive(Trace)]
    /// struct Vertex { id: u32 }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let v = m.alloc(Vertex { id: 7 });
    /// let edges = m.alloc_array(3, |i| Edge { to: Member::null(), weight: i as u32 });
    /// edges.get(&m).set_at(1, |e| &e.to, Some(v.get(&m)));
    /// let e = edges.get(&m);
    /// assert!(e.get_at(0, |e| &e.to).is_none());
    /// assert_eq!(e.get_at(1, |e| &e.to).unwrap().id, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get_at<U: Trace>(
        self,
        i: usize,
        field: impl FnOnce(&E) -> &Member<U>,
    ) -> Option<Gc<'m, U>> {
        let member = field(self.element(i, "Gc::get_at"));
        self.check_element_member(i, member, "Gc::get_at");
        let addr = member.raw_load();
        // SAFETY: the member lies inside element `i` of this live object of
        // the mutator's heap (checked), so it holds 0 or a live object of
        // that heap whose payload is a `U` (only `set_at` writes an
        // element's member, with a `Gc<U>` of the same mutator); loaded now,
        // it stays live until the mutator's next safepoint.
        NonNull::new(addr as *mut u8).map(|obj| unsafe { Gc::from_raw(obj, self.mutator()) })
    }

    /// Stores `value` into the member that `field` selects in element `i`,
    /// through the write barrier ([`Gc::set`] for an element).
    ///
    /// # Panics
    /// If `i` is out of bounds, `field` returns a member that is not inside
    /// element `i`, or `value` belongs to another mutator (hence another
    /// heap).
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    /// #[derive(Trace)]
    /// struct Word(&'static str);
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let words = m.alloc_array(2, |_| Member::<Word>::null());
    /// let hello = m.alloc(Word("hello"));
    /// words.get(&m).set_at(0, |e| e, Some(hello.get(&m)));
    /// drop(hello);
    /// m.collect(); // kept by the array
    /// assert_eq!(words.get(&m).get_at(0, |e| e).unwrap().0, "hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn set_at<U: Trace>(
        self,
        i: usize,
        field: impl FnOnce(&E) -> &Member<U>,
        value: Option<Gc<'m, U>>,
    ) {
        let member = field(self.element(i, "Gc::set_at"));
        let word = self.check_element_member(i, member, "Gc::set_at");
        if let Some(v) = value {
            assert!(
                std::ptr::eq(v.mutator(), self.mutator()),
                "tricolor: Gc::set_at with a value of another mutator (another heap)"
            );
        }
        let obj = self.obj_ref();
        let new = value.map(|v| v.obj_ref());
        // SAFETY: the mutator is running (it lends a `Gc`), and no other
        // reference to the raw mutator is alive (no method of this crate
        // keeps one while user code runs).
        let raw = unsafe { self.mutator().raw_mut() };
        if E::FIXED_MEMBERS {
            // SAFETY: `obj` is a live object of the mutator's heap and
            // `word` is one of its member words (checked to lie in element
            // `i`; a member word of an element is a pointer word of the
            // element map, by the `Trace` contract); `new` is a live object
            // of the same heap.
            unsafe { raw.store(obj, word, new) };
        } else {
            // A traced element type (an enum): no pointer map, a word store
            // whose barrier decodes the old and the new word (as `Gc::set`).
            // SAFETY: as above; `word` is a word of `obj`'s payload, and the
            // pointer it will carry is a live object of the same heap.
            unsafe { raw.store_word(obj, word, new.map_or(0, |o| o.addr() as u64)) };
        }
    }

    /// Element `i`, or the out-of-bounds panic.
    #[inline]
    fn element(self, i: usize, what: &'static str) -> &'m E {
        let elems = self.as_slice();
        match elems.get(i) {
            Some(e) => e,
            None => out_of_bounds(what, i, elems.len()),
        }
    }

    /// Checks that `member` lies inside element `i` (in bounds); returns its
    /// payload word.
    #[inline]
    fn check_element_member<U>(self, i: usize, member: &Member<U>, what: &'static str) -> usize {
        // Element `i`'s offset in the payload: `i < len` (checked by
        // `element`) and the elements fit in the object, so no overflow.
        let start = PREFIX_BYTES + i * size_of::<E>();
        let offset = (member as *const Member<U> as usize)
            .wrapping_sub(payload_of(self.ptr().as_ptr() as usize));
        let within = offset.wrapping_sub(start);
        if !(within < size_of::<E>() && offset.is_multiple_of(8)) {
            not_a_member_of_element(what, i);
        }
        offset / 8
    }
}

/// The panic of a projection outside its element, out of line.
#[cold]
#[inline(never)]
fn not_a_member_of_element(what: &'static str, i: usize) -> ! {
    panic!("tricolor: {what}: the projection must select a member of element {i}")
}

/// The panic of an index out of bounds, out of line.
#[cold]
#[inline(never)]
fn out_of_bounds(what: &'static str, i: usize, len: usize) -> ! {
    panic!("tricolor: {what}: index {i} is out of bounds for an array of {len} elements")
}

impl<'m, E: Trace> IntoIterator for Gc<'m, Array<E>> {
    type Item = &'m E;
    type IntoIter = std::slice::Iter<'m, E>;

    /// The elements, in order ([`Gc::iter`]).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(3, |i| i as u8);
    /// let mut seen = Vec::new();
    /// for x in a.get(&m) {
    ///     seen.push(*x);
    /// }
    /// assert_eq!(seen, [0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<E: Trace + fmt::Debug> fmt::Debug for Gc<'_, Array<E>> {
    /// The elements, as a list.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc_array(3, |i| i as u8);
    /// assert_eq!(format!("{:?}", a.get(&m)), "[0, 1, 2]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}
