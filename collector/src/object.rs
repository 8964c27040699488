//! Objects in memory: the header word and word-sized fields.
//!
//! An object is its payload words, and an [`ObjRef`] is the address of the
//! first. Most objects have a header word just before it:
//!
//! ```text
//! +----------------------------------+---------+---------+-----
//! | header: len | armed | user | type | word 0  | word 1  | ...
//! +----------------------------------+---------+---------+-----
//!                                    ^ ObjRef points here
//! ```
//!
//! The objects of a *header-free* type
//! ([`TypeDescriptor::header_free`](crate::TypeDescriptor::header_free))
//! have none: they live in spans of an own span class of the type's
//! (`tricolor_allocator::PageHeap::own_class`), so the span names their
//! type (its tag is the type's index), their length is 0 (they are
//! fixed-size), they have no user bits, and their log-armed bit is a
//! per-object flag of the span (`tricolor_allocator::ObjectRef::arm`;
//! `generation` §3). The word before such an object belongs to its
//! neighbour: nothing may read it as a header, which is why every header
//! read goes through `HeapInner::object_type` (or a marker's span memo),
//! and every read or write of the log-armed bit through
//! `HeapInner::{log_armed, arm_log, disarm_log}` (or the store barrier's
//! span memo, `mutator::armed`), which ask the span first.
//!
//! The header word, from its low bits up:
//!
//! | bits  | what |
//! |-------|------|
//! | 0–15  | the [`TypeId`](crate::TypeId)'s index ([`TYPE_MASK`]) |
//! | 16–30 | the VM's user bits ([`USER_MASK`]; 0 in a new object) |
//! | 31    | the log-armed bit ([`LOG_ARMED`]; generational mode) |
//! | 32–63 | the length: array elements, bytes for a byte array, 0 for fixed types |
//!
//! Two parts of a header change after the object is made, and nothing
//! else does:
//!
//! - the log-armed bit (`generation` essay §3): in generational mode the
//!   marker sets it on each object it scans that will be old and points to
//!   no object that will not be (and clears it on one it carries over to
//!   the next remembered set), and a mutator's store clears it when it logs
//!   the object into the remembered set;
//! - the user bits, which the VM writes whenever it likes
//!   ([`Mutator::set_user_bits`](crate::Mutator::set_user_bits)), on any
//!   of its threads.
//!
//! Both can change at once from different threads, so every write of either
//! after the object is made is an atomic read-modify-write of the whole
//! word that changes its own bits only ([`arm_log`], [`disarm_log`],
//! [`set_user_bits`]): a plain store would undo a racing write of the other
//! part. The type index and the length are written once, and
//! [`decode_header`] reads nothing else.
//!
//! Every access to object memory goes through this module and is an atomic
//! operation on a whole word: the mutator stores pointer fields (through the
//! write barrier) while marker threads load them, and with atomic accesses this
//! is free of data races in the Rust memory model. Pointer stores are
//! `Release` and field loads `Acquire` (plain moves on x86-64): a thread that
//! finds a pointer in a field also sees everything its storer did before,
//! in particular the header of a new object and its allocate-black mark bit,
//! so a concurrent marker never scans a half-made object (barriers essay
//! §10). The header is written whole with `Release` when the object is made
//! and read with `Acquire` by the marker; the later read-modify-writes of
//! its changing bits keep the type and the length as they were.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// A reference to a heap object: the address of its first payload word
/// (its header, if it has one, is the word before; module docs).
///
/// An `ObjRef` is just an address. It stays valid only while the object is
/// reachable from a root (a global, a mutator's shadow stack or root scanner,
/// or another reachable object): the collector does not know about `ObjRef`s
/// held anywhere else, and frees what it cannot reach.
///
/// So an `ObjRef` in a Rust local is good until the next allocation,
/// safepoint or collection of its mutator, unless the object is rooted:
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0);
/// let slot = m.push_root(Some(a)); // without this, `a` could be freed below
/// let b = m.alloc(node, 0);
/// // SAFETY: `a` is rooted and `b` is fresh (no safepoint since).
/// unsafe { m.store(a, 0, Some(b)) };
/// # let _ = slot;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ObjRef(NonNull<u64>);

// SAFETY: an ObjRef is an address; every access through it goes through the
// (unsafe, documented) accessors, which use atomic operations.
unsafe impl Send for ObjRef {}
// SAFETY: as for Send.
unsafe impl Sync for ObjRef {}

impl ObjRef {
    /// The object's address.
    ///
    /// A VM that packs pointers into tagged words stores this address (see
    /// [`TypeDescriptor::traced`](crate::TypeDescriptor::traced)).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// assert_eq!(obj.addr() % 8, 0, "objects are word-aligned: the low bits are free for tags");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// An `ObjRef` from a non-null address (one the allocator handed out).
    #[inline]
    pub(crate) fn from_non_null(p: NonNull<u8>) -> ObjRef {
        ObjRef(p.cast())
    }

    /// An `ObjRef` from an address; `None` for 0. No check that the address
    /// is an object: the accessors that take an `ObjRef` are `unsafe` and
    /// require it.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// use tricolor_collector::ObjRef;
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// let word = obj.addr() as u64; // e.g. stored in a tagged field
    /// assert_eq!(ObjRef::from_addr(word as usize), Some(obj));
    /// assert_eq!(ObjRef::from_addr(0), None, "0 is nil");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn from_addr(addr: usize) -> Option<ObjRef> {
        NonNull::new(addr as *mut u64).map(ObjRef)
    }

    /// A pointer to payload word `i` of the object.
    #[inline]
    fn word(self, i: usize) -> *const AtomicU64 {
        // `wrapping_add` keeps this function safe; dereferencing is what the
        // callers' safety contracts cover.
        self.0.as_ptr().wrapping_add(i) as *const AtomicU64
    }

    /// A pointer to the object's header word: the word before its payload
    /// (meaningful only for an object that has a header).
    #[inline]
    fn header_word(self) -> *const AtomicU64 {
        // As in `word`.
        self.0.as_ptr().wrapping_sub(1) as *const AtomicU64
    }
}

impl fmt::Debug for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjRef({:#x})", self.addr())
    }
}

/// Encodes a header word: the type's index in its heap's type table
/// (`TypeId::index`) and the length.
#[inline]
pub(crate) fn header(type_index: u32, len: u32) -> u64 {
    debug_assert!(
        type_index as u64 <= TYPE_MASK,
        "type index {type_index} over 16 bits"
    );
    (len as u64) << 32 | type_index as u64
}

/// The header bits of the type index (`descriptor::MAX_TYPES` is checked
/// against it there).
pub(crate) const TYPE_MASK: u64 = 0xFFFF;

/// The lowest header bit of the user bits.
pub(crate) const USER_BITS_SHIFT: u32 = 16;

/// How many user bits a header has: bits 16–30.
pub(crate) const USER_BITS_WIDTH: u32 = 15;

/// The header bits of the user bits.
pub(crate) const USER_MASK: u64 = ((1 << USER_BITS_WIDTH) - 1) << USER_BITS_SHIFT;

/// Header bit 31: the object is old (marked by a generational cycle) and not
/// in the remembered set, so the next pointer store into it outside a mark
/// must log it (`generation` essay §3).
pub(crate) const LOG_ARMED: u64 = 1 << 31;

// The four parts of a header are disjoint and cover the word (the module
// docs' table).
const _: () = {
    let len = 0xFFFF_FFFF << 32;
    assert!(TYPE_MASK & USER_MASK == 0 && (TYPE_MASK | USER_MASK) & LOG_ARMED == 0);
    assert!((TYPE_MASK | USER_MASK | LOG_ARMED) & len == 0);
    assert!(TYPE_MASK | USER_MASK | LOG_ARMED | len == u64::MAX);
};

/// How many bits of each object's header are the VM's own: 15. A VM keeps
/// there what it wants one load away from the object's address, such as a
/// cached hash code or the index of the object's class; the collector
/// never reads them, and a new object's are 0. See
/// [`Mutator::set_user_bits`](crate::Mutator::set_user_bits).
///
/// ```
/// use tricolor_collector::{MAX_USER_BITS, USER_BITS};
///
/// assert_eq!(USER_BITS, 15);
/// assert_eq!(u32::from(MAX_USER_BITS), (1 << USER_BITS) - 1);
/// ```
pub const USER_BITS: u32 = USER_BITS_WIDTH;

/// The largest value the user bits hold: `0x7FFF`, all [`USER_BITS`] set.
/// A VM that caches a wider hash code in them keeps its low bits
/// (`hash & MAX_USER_BITS`).
///
/// ```
/// use tricolor_collector::MAX_USER_BITS;
///
/// let hash: u64 = 0xDEAD_BEEF_CAFE_F00D;
/// let cached = (hash & u64::from(MAX_USER_BITS)) as u16;
/// assert_eq!(cached, 0x700D);
/// ```
pub const MAX_USER_BITS: u16 = (USER_MASK >> USER_BITS_SHIFT) as u16;

/// User bits that do not fit in a header's [`USER_BITS`]: the error of
/// [`Mutator::try_set_user_bits`](crate::Mutator::try_set_user_bits).
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor, UserBitsError};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let obj = m.alloc(node, 0);
/// // SAFETY: `obj` was just allocated, with no safepoint since.
/// let e: UserBitsError = unsafe { m.try_set_user_bits(obj, 0x8000) }.unwrap_err();
/// assert_eq!(e.bits(), 0x8000);
/// assert_eq!(
///     e.to_string(),
///     "user bits 0x8000 do not fit in the header's 15 user bits (at most 0x7fff)"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserBitsError {
    bits: u16,
    /// The object has no header to hold them
    /// ([`TypeDescriptor::header_free`](crate::TypeDescriptor::header_free)).
    header_free: bool,
}

impl UserBitsError {
    /// User bits asked of an object with no header.
    pub(crate) fn header_free(bits: u16) -> UserBitsError {
        UserBitsError {
            bits,
            header_free: true,
        }
    }

    /// Whether the object has no header to hold user bits (it is of a
    /// [header-free](crate::TypeDescriptor::header_free) type), rather
    /// than the value being too wide.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config { generational: false, ..Config::default() });
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0, 1]).header_free())?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// // SAFETY: `obj` was just allocated, with no safepoint since.
    /// let e = unsafe { m.try_set_user_bits(obj, 1) }.unwrap_err();
    /// assert!(e.is_header_free());
    /// assert_eq!(e.to_string(), "user bits 0x1 cannot be set: the object's type is header-free");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_header_free(&self) -> bool {
        self.header_free
    }

    /// The value that did not fit.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// # let mut m = heap.attach()?;
    /// # let obj = m.alloc(node, 0);
    /// // SAFETY: `obj` was just allocated, with no safepoint since.
    /// let e = unsafe { m.try_set_user_bits(obj, u16::MAX) }.unwrap_err();
    /// assert_eq!(e.bits(), u16::MAX);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bits(&self) -> u16 {
        self.bits
    }
}

impl fmt::Display for UserBitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.header_free {
            return write!(
                f,
                "user bits {:#x} cannot be set: the object's type is header-free",
                self.bits
            );
        }
        write!(
            f,
            "user bits {:#x} do not fit in the header's {USER_BITS} user bits (at most {:#x})",
            self.bits, MAX_USER_BITS
        )
    }
}

impl std::error::Error for UserBitsError {}

/// `bits` placed in the header's user bits, or the error if they do not
/// fit.
#[inline]
pub(crate) fn user_bits_field(bits: u16) -> Result<u64, UserBitsError> {
    if bits > MAX_USER_BITS {
        return Err(UserBitsError {
            bits,
            header_free: false,
        });
    }
    Ok(u64::from(bits) << USER_BITS_SHIFT)
}

/// Decodes a header word into (type index, length); the user bits and the
/// log-armed bit are part of neither.
#[inline]
pub(crate) fn decode_header(h: u64) -> (u32, usize) {
    ((h & TYPE_MASK) as u32, (h >> 32) as usize)
}

/// The user bits of a header word.
#[inline]
pub(crate) fn decode_user_bits(h: u64) -> u16 {
    ((h & USER_MASK) >> USER_BITS_SHIFT) as u16
}

/// Sets `obj`'s log-armed bit (`generation` essay §3). A relaxed load and,
/// if the bit is clear, a relaxed `fetch_or`: a read-modify-write, because
/// other bits of the header can change meanwhile (the VM's user bits, set
/// by any of its threads), and a plain store of the word read would undo
/// such a write. Racing with a store that logs the object (which clears the
/// bit) is harmless either way: the object ends armed and already logged,
/// so a later store logs it once more. The load keeps the common case of an
/// object already armed a read.
///
/// # Safety
/// `obj` must be an allocated object of a live heap that has a header
/// (not of a header-free type).
#[inline]
pub(crate) unsafe fn arm_log(obj: ObjRef) {
    // SAFETY: the caller guarantees `obj` is an allocated object with a
    // header, whose header word is committed, 8-aligned memory that lives
    // as long as the heap.
    let w = unsafe { &*obj.header_word() };
    if w.load(Ordering::Relaxed) & LOG_ARMED == 0 {
        w.fetch_or(LOG_ARMED, Ordering::Relaxed);
    }
}

/// Whether `obj`'s log-armed bit is set: the generational store barrier's
/// fast-path test.
///
/// # Safety
/// As for [`arm_log`].
#[inline(always)]
pub(crate) unsafe fn log_armed(obj: ObjRef) -> bool {
    // SAFETY: as for `arm_log`.
    unsafe { (*obj.header_word()).load(Ordering::Relaxed) & LOG_ARMED != 0 }
}

/// Clears `obj`'s log-armed bit; returns whether this call cleared it (so
/// that of two threads storing into the object at once, one logs it).
///
/// # Safety
/// As for [`arm_log`].
#[inline]
pub(crate) unsafe fn disarm_log(obj: ObjRef) -> bool {
    // SAFETY: as for `arm_log`.
    unsafe { (*obj.header_word()).fetch_and(!LOG_ARMED, Ordering::Relaxed) & LOG_ARMED != 0 }
}

/// Reads the header word.
///
/// # Safety
/// `obj` must be an allocated object of a live heap that has a header
/// (not of a header-free type).
#[inline]
pub(crate) unsafe fn load_header(obj: ObjRef) -> u64 {
    // SAFETY: the caller guarantees `obj` is an allocated object with a
    // header, whose header word is committed, 8-aligned memory that lives
    // as long as the heap.
    unsafe { (*obj.header_word()).load(Ordering::Acquire) }
}

/// Replaces `obj`'s user bits with `field` (already in place:
/// [`user_bits_field`]): a compare-and-swap loop on the whole word that
/// keeps every other bit as it finds it, so that a racing arm or disarm of
/// the log-armed bit (`generation` §3), or a racing write of the user bits
/// by another thread, is never undone: the two writes take effect one after
/// the other. `AcqRel`, so that the user bits publish what their writer
/// did before, as a field store does (the reader loads the header with
/// `Acquire`).
///
/// # Safety
/// `obj` must be an allocated object of a live heap that has a header
/// (not of a header-free type).
#[inline]
pub(crate) unsafe fn set_user_bits(obj: ObjRef, field: u64) {
    debug_assert_eq!(field & !USER_MASK, 0, "user bits out of place");
    // SAFETY: as for `load_header`.
    let w = unsafe { &*obj.header_word() };
    let mut h = w.load(Ordering::Relaxed);
    loop {
        match w.compare_exchange_weak(
            h,
            (h & !USER_MASK) | field,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => h = now,
        }
    }
}

/// Writes the header word of a new object.
///
/// # Safety
/// `obj` must be a fresh object with a header, in a slot the caller owns.
#[inline]
pub(crate) unsafe fn init_header(obj: ObjRef, h: u64) {
    // SAFETY: as for `load_header`; the slot is ours.
    unsafe { (*obj.header_word()).store(h, Ordering::Release) }
}

/// Loads payload word `field`.
///
/// # Safety
/// `obj` must be an allocated object of a live heap with more than `field`
/// payload words.
#[inline]
pub(crate) unsafe fn load_field(obj: ObjRef, field: usize) -> u64 {
    // SAFETY: the caller guarantees the word lies inside the object.
    unsafe { (*obj.word(field)).load(Ordering::Acquire) }
}

/// Stores payload word `field` (`Release`).
///
/// # Safety
/// As for [`load_field`].
#[inline]
pub(crate) unsafe fn store_field(obj: ObjRef, field: usize, value: u64) {
    // SAFETY: the caller guarantees the word lies inside the object.
    unsafe { (*obj.word(field)).store(value, Ordering::Release) }
}

/// Stores payload word `field` (`Release`); returns the value a `Relaxed`
/// load of it read just before.
///
/// This is not an atomic swap. Several threads may store into one word at
/// once, and then the value returned may not be the one this store
/// replaced: a value another store wrote can be overwritten without any
/// store returning it. The write barrier needs no more (barriers §10.9).
/// The first store of a mark to overwrite the value the word held when
/// marking began returns that value, and a value lost to a race was
/// written during the mark.
///
/// # Safety
/// As for [`load_field`].
#[inline]
pub(crate) unsafe fn swap_field(obj: ObjRef, field: usize, value: u64) -> u64 {
    // SAFETY: the caller guarantees the word lies inside the object. A load
    // and a store, not an atomic swap: stores racing on one word may each
    // return the same old value, which the barrier tolerates (the doc
    // comment above, barriers §10.9); both are atomic, so a race is no data
    // race.
    unsafe {
        let w = &*obj.word(field);
        let old = w.load(Ordering::Relaxed);
        w.store(value, Ordering::Release);
        old
    }
}

/// The address of the first payload byte of `obj` (its address), with the
/// provenance of `obj`'s pointer. Computing it is safe; accessing memory
/// through it is what the callers' safety contracts cover.
#[inline]
pub(crate) fn payload_ptr(obj: ObjRef) -> *mut u8 {
    obj.0.as_ptr().cast()
}

/// Read access to an object's payload words, handed to trace callbacks.
///
/// ```
/// use tricolor_collector::{Edges, ObjectView};
///
/// /// A growable vector: word 0 counts the slots in use; the words after it
/// /// are slots holding pointers, of which only the used ones are valid.
/// fn trace_vector(view: ObjectView<'_>, edges: &mut Edges<'_>) {
///     let used = view.word(0) as usize;
///     for i in 1..view.words().min(used + 1) {
///         edges.visit(view.word(i) as usize);
///     }
/// }
/// # let _: tricolor_collector::TraceFn = trace_vector;
/// ```
#[derive(Copy, Clone)]
pub struct ObjectView<'a> {
    obj: ObjRef,
    words: usize,
    len: usize,
    _life: std::marker::PhantomData<&'a ()>,
}

impl ObjectView<'_> {
    /// # Safety
    /// `obj` must be a live object with `words` payload words, for `'a`.
    pub(crate) unsafe fn new(obj: ObjRef, words: usize, len: usize) -> Self {
        ObjectView {
            obj,
            words,
            len,
            _life: std::marker::PhantomData,
        }
    }

    /// The object.
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// /// Word 0 is a pointer, often to the object itself (a sentinel);
    /// /// reporting a self-reference is harmless but needless.
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     let w = view.word(0) as usize;
    ///     if w != view.obj().addr() {
    ///         edges.visit(w);
    ///     }
    /// }
    /// # let _: tricolor_collector::TraceFn = trace;
    /// ```
    pub fn obj(&self) -> ObjRef {
        self.obj
    }

    /// Number of payload words.
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// /// Every even word is a pointer (or 0).
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     for i in (0..view.words()).step_by(2) {
    ///         edges.visit(view.word(i) as usize);
    ///     }
    /// }
    /// # let _: tricolor_collector::TraceFn = trace;
    /// ```
    pub fn words(&self) -> usize {
        self.words
    }

    /// The length recorded in the header (array elements or bytes; 0 for
    /// fixed types).
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// /// An array of 3-word elements whose word 0 is a pointer.
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     for e in 0..view.len() {
    ///         edges.visit(view.word(3 * e) as usize);
    ///     }
    /// }
    /// # let _: tricolor_collector::TraceFn = trace;
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is 0.
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     if view.is_empty() {
    ///         return; // an empty array refers to nothing
    ///     }
    ///     edges.visit(view.word(0) as usize);
    /// }
    /// # let _: tricolor_collector::TraceFn = trace;
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Payload word `i`.
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// /// Word 0 is a tag; words 1 and 2 are pointers only when the tag is 1.
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     if view.word(0) == 1 {
    ///         edges.visit(view.word(1) as usize);
    ///         edges.visit(view.word(2) as usize);
    ///     }
    /// }
    /// # let _: tricolor_collector::TraceFn = trace;
    /// ```
    ///
    /// # Panics
    /// If `i` is not below [`words`](Self::words).
    #[inline]
    pub fn word(&self, i: usize) -> u64 {
        assert!(i < self.words, "word {i} of a {}-word object", self.words);
        // SAFETY: the view was made for a live object with `words` payload
        // words, and `i` is in range.
        unsafe { load_field(self.obj, i) }
    }
}
