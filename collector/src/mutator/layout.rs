//! Reading an object's layout back, and byte arrays as slices.
//!
//! A byte array ([`Shape::Bytes`]) is noscan: it lives in a noscan span, and
//! no marker, verifier or sweeper reads its payload while it is live. Its
//! bytes are therefore the mutators' alone, and can be lent out as plain
//! `&[u8]` / `&mut [u8]` (not word by word through atomics, as fields that
//! markers read must be). What keeps such a slice valid is the borrow of the
//! mutator it holds: [`Mutator::bytes`] gives the reasons.

use super::Mutator;
use crate::descriptor::{ObjectLayout, Shape};
use crate::mark::scan::bad_header;
use crate::object::{self, ObjRef};

impl Mutator {
    // ---- layout --------------------------------------------------------------

    /// The layout of `obj`: its type, the length its header records, its
    /// payload words and its type's descriptor.
    ///
    /// Costs a load of the header and a lookup in the type table (two
    /// loads, no lock); in debug builds, also the check that `obj` is the
    /// start of an object of this heap (as for [`load`](Self::load)).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, Shape, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 13);
    /// // SAFETY: `s` was just allocated, with no safepoint since.
    /// let layout = unsafe { m.layout_of(s) };
    /// assert_eq!((layout.ty, layout.len, layout.words), (string, 13, 2));
    /// assert_eq!(layout.descriptor.shape(), Shape::Bytes);
    /// assert_eq!(layout.descriptor.name(), "String");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load): `obj` must be a live object of this heap.
    ///
    /// # Panics
    /// If the header names no registered type (a freed, poisoned object, or
    /// corrupted memory); in debug builds, if `obj` is not the start of an
    /// object of this heap.
    #[inline]
    pub unsafe fn layout_of(&self, obj: ObjRef) -> ObjectLayout<'_> {
        if cfg!(debug_assertions) {
            self.check_object(obj, "object");
        }
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        let (index, len, header) = unsafe { self.heap.object_type(obj) };
        let Some((ty, descriptor)) = self.heap.types.entry(index) else {
            bad_header(obj.addr(), header.unwrap_or(0))
        };
        // An allocated object's length always suits its type: `alloc`
        // checked it against the descriptor.
        let words = descriptor.payload_words(len).unwrap_or(0);
        ObjectLayout {
            ty,
            len,
            words,
            descriptor,
        }
    }

    // ---- byte arrays ---------------------------------------------------------

    /// The bytes of byte array `obj` ([`Shape::Bytes`]), as long as its
    /// header records.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let text = "tri-colour!!!"; // 13 bytes: not a whole number of words
    /// let s = m.alloc(string, text.len());
    /// // SAFETY: `s` was just allocated (no safepoint since); no other
    /// // thread knows it.
    /// unsafe { m.bytes_mut(s).copy_from_slice(text.as_bytes()) };
    /// let slot = m.push_root(Some(s));
    /// m.collect();
    /// let s = m.root(slot).unwrap();
    /// // SAFETY: `s` is rooted; only this thread writes it.
    /// let back = unsafe { m.bytes(s) };
    /// assert_eq!(std::str::from_utf8(back)?, text);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Why the slice stays valid
    ///
    /// The slice borrows the mutator (`&'m self`), and that borrow is what
    /// keeps the bytes allocated and unchanged while it lives:
    ///
    /// - An object is freed only by a sweep, after a mark termination, and
    ///   mark termination (and the start of a cycle) stops the world: it
    ///   waits for every running mutator to reach a safepoint. Reaching one
    ///   (polling, allocating, collecting, entering native state) takes
    ///   `&mut self`, which the borrow forbids; so while the slice lives no
    ///   cycle can start or end, and an object live when the slice was made
    ///   is not freed. (In native state the collector does not wait for this
    ///   mutator; `obj` must then be rooted, as for every access.)
    /// - Nothing else writes the bytes: every write through this mutator
    ///   takes `&mut self`, the collector never writes a live object, and no
    ///   marker reads a byte array's payload (it is noscan), so plain reads
    ///   race with nothing. Other threads are the caller's to exclude.
    ///
    /// Copy the bytes out (`to_vec`, `String::from_utf8_lossy`) to keep them
    /// past the next allocation.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap (as for
    /// [`load`](Self::load)), and no other thread may write its bytes while
    /// the slice lives.
    ///
    /// # Panics
    /// If `obj` is not a byte array. This is checked in every build, not
    /// only in debug builds: the check reads the header the length comes
    /// from anyway, plus the type table (two loads, usually cached), and a
    /// slice over another kind of object would let safe code read, or with
    /// [`bytes_mut`](Self::bytes_mut) overwrite, the pointer fields the
    /// marker follows. In debug builds, also if `obj` is not the start of an
    /// object of this heap.
    #[inline]
    pub unsafe fn bytes(&self, obj: ObjRef) -> &[u8] {
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        let len = unsafe { self.byte_len(obj, "bytes") };
        // SAFETY: `obj` is a live byte array (checked) whose header records
        // `len` bytes, so its slot holds `len` initialised bytes (zeroed at
        // allocation) after the header. They stay allocated and unwritten
        // while the returned borrow of `self` lives: no safepoint, so no
        // sweep can free them; no write through this mutator; none by
        // another thread (the caller's contract); none by the collector,
        // which does not write or scan a live noscan object.
        unsafe { std::slice::from_raw_parts(object::payload_ptr(obj), len) }
    }

    /// The bytes of byte array `obj`, to write in place.
    ///
    /// The slice is valid for the reasons [`bytes`](Self::bytes) gives; the
    /// `&mut` borrow of the mutator also keeps this thread from reading the
    /// bytes any other way while the slice lives. No barrier is needed: a
    /// byte array holds no pointers. To copy between two byte arrays, use
    /// [`copy_bytes`](Self::copy_bytes); to write a Rust slice at an offset,
    /// `m.bytes_mut(obj)[at..at + src.len()].copy_from_slice(src)`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let buffer = heap.register_type(TypeDescriptor::bytes("Buffer"))?;
    /// let mut m = heap.attach()?;
    /// let b = m.alloc(buffer, 5);
    /// // SAFETY: `b` was just allocated (no safepoint since); no other
    /// // thread knows it.
    /// unsafe {
    ///     let bytes = m.bytes_mut(b);
    ///     assert_eq!(bytes, [0; 5], "a new byte array is zeroed");
    ///     bytes[1..4].copy_from_slice(b"abc");
    ///     assert_eq!(m.bytes(b), b"\0abc\0");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap, and no other thread may
    /// read or write its bytes while the slice lives.
    ///
    /// # Panics
    /// As for [`bytes`](Self::bytes).
    #[inline]
    pub unsafe fn bytes_mut(&mut self, obj: ObjRef) -> &mut [u8] {
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        let len = unsafe { self.byte_len(obj, "bytes_mut") };
        // SAFETY: as in `bytes`, and the `&mut self` borrow makes this the
        // only access from this thread; the caller excludes other threads.
        unsafe { std::slice::from_raw_parts_mut(object::payload_ptr(obj), len) }
    }

    /// Copies `len` bytes of byte array `src`, from byte `src_offset`, into
    /// byte array `dst` at byte `dst_offset`. `src` and `dst` may be the same
    /// object, with overlapping ranges (a `memmove`). This is how to join
    /// two byte arrays: [`bytes`](Self::bytes) and
    /// [`bytes_mut`](Self::bytes_mut) cannot be held at once.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let new_string = |m: &mut tricolor_collector::Mutator, s: &str| {
    ///     let o = m.alloc(string, s.len());
    ///     // SAFETY: `o` was just allocated; no other thread knows it.
    ///     unsafe { m.bytes_mut(o).copy_from_slice(s.as_bytes()) };
    ///     m.push_root(Some(o))
    /// };
    /// let (a, b) = (new_string(&mut m, "tri-"), new_string(&mut m, "colour"));
    /// // A string concatenation, as a VM's `+` does it.
    /// let (a_len, b_len) = (4, 6);
    /// let joined = m.alloc(string, a_len + b_len);
    /// let (a, b) = (m.root(a).unwrap(), m.root(b).unwrap());
    /// // SAFETY: `a` and `b` are rooted, `joined` was just allocated (no
    /// // safepoint since); only this thread knows them.
    /// unsafe {
    ///     m.copy_bytes(a, 0, joined, 0, a_len);
    ///     m.copy_bytes(b, 0, joined, a_len, b_len);
    ///     assert_eq!(m.bytes(joined), b"tri-colour");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `src` and `dst` must be live objects of this heap, and no other
    /// thread may write `src`'s bytes, or read or write `dst`'s, during the
    /// call.
    ///
    /// # Panics
    /// If either is not a byte array, or a range is not inside its
    /// object's bytes (checked in every build, like the bounds of a slice).
    pub unsafe fn copy_bytes(
        &mut self,
        src: ObjRef,
        src_offset: usize,
        dst: ObjRef,
        dst_offset: usize,
        len: usize,
    ) {
        // SAFETY: the caller guarantees both are live objects of this heap.
        let (src_len, dst_len) = unsafe {
            (
                self.byte_len(src, "copy_bytes"),
                self.byte_len(dst, "copy_bytes"),
            )
        };
        check_range("source", src, src_offset, len, src_len);
        check_range("destination", dst, dst_offset, len, dst_len);
        // SAFETY: both are live byte arrays (checked) and both ranges lie
        // inside their bytes (checked above); `ptr::copy` allows overlap.
        // No other thread accesses them (the caller's contract), nor does
        // the collector (as in `bytes`).
        unsafe {
            std::ptr::copy(
                object::payload_ptr(src).add(src_offset),
                object::payload_ptr(dst).add(dst_offset),
                len,
            );
        }
    }

    /// The byte length of byte array `obj`, from its header; panics naming
    /// the call `op` if `obj` is not a byte array.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap.
    #[inline]
    unsafe fn byte_len(&self, obj: ObjRef, op: &str) -> usize {
        if cfg!(debug_assertions) {
            self.check_object(obj, "object");
        }
        // SAFETY: the caller's contract.
        let (index, len, header) = unsafe { self.heap.object_type(obj) };
        match self.heap.types.by_index(index) {
            Some(d) if d.shape == Shape::Bytes => len,
            Some(d) => not_bytes(op, obj, &d.name),
            None => bad_header(obj.addr(), header.unwrap_or(0)),
        }
    }
}

/// The panic of a byte-array call on another kind of object.
#[cold]
#[inline(never)]
fn not_bytes(op: &str, obj: ObjRef, type_name: &str) -> ! {
    panic!(
        "tricolor: Mutator::{op} needs a byte array (Shape::Bytes), but {obj:?} is a \
         `{type_name}`"
    );
}

/// Panics unless `offset..offset + len` lies inside the `bytes` bytes of
/// `obj`, the `what` of a copy.
#[inline]
fn check_range(what: &str, obj: ObjRef, offset: usize, len: usize, bytes: usize) {
    if offset.checked_add(len).is_none_or(|end| end > bytes) {
        range_failed(what, obj, offset, len, bytes);
    }
}

#[cold]
#[inline(never)]
fn range_failed(what: &str, obj: ObjRef, offset: usize, len: usize, bytes: usize) -> ! {
    panic!(
        "tricolor: copy_bytes {what} range {offset}..{offset}+{len} is outside the {bytes} \
         bytes of {obj:?}"
    );
}
