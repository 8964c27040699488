//! Type descriptors: how big an object is and where its pointers are.
//!
//! The collector is precise: a word is a pointer only if the object's
//! descriptor says so. A descriptor has a *shape* ([`Shape`]: a fixed number
//! of payload words, an array of fixed-size elements, a fixed prefix
//! followed by such an array, or an array of bytes) and a *pointer map*
//! ([`Pointers`]):
//!
//! - [`Pointers::None`]: no pointers; objects go to noscan spans and are
//!   never scanned.
//! - [`Pointers::Bitmap`]: one bit per payload word (per element word for
//!   arrays, repeated for every element); a set bit is a pointer field, which
//!   holds 0 (null) or the base address of an object of the same heap.
//! - [`Pointers::Leading`]: the first `n` words (of the object, or of each
//!   element) are pointer fields and the rest data: no bitmap, and a range
//!   loop in the marker.
//! - [`Pointers::PrefixArray`]: for [`Shape::PrefixArray`], one
//!   [`PointerWords`] (none, leading, or bitmap) for the prefix and one for
//!   an element.
//! - [`Pointers::Traced`] and [`Pointers::TracedWith`]: a callback for
//!   layouts a map cannot describe, such as tagged or NaN-boxed values, as
//!   an `fn` pointer or as a closure that carries the VM's context. `trace`
//!   reports the objects an object refers to; `decode` turns one stored word
//!   into the pointer it carries, if any (the write barrier uses it on
//!   stores).
//!
//! Descriptors are registered with a heap ([`crate::Heap::register_type`]),
//! which checks them and returns a [`TypeId`] that goes into each object's
//! header word.

use std::fmt;
use std::sync::Arc;

use bitvec::order::Lsb0;
use bitvec::view::BitView;

use crate::object::ObjectView;

/// Index of a registered descriptor; what an object's header names.
///
/// Returned by [`Heap::register_type`](crate::Heap::register_type) and
/// passed to [`Mutator::alloc`](crate::Mutator::alloc). Ids are numbered
/// per heap: use an id only with the heap that returned it.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor, TypeId};
///
/// struct VmTypes {
///     string: TypeId,
///     list: TypeId,
/// }
/// let heap = Heap::new(Config::default());
/// let types = VmTypes {
///     string: heap.register_type(TypeDescriptor::bytes("String"))?,
///     list: heap.register_type(TypeDescriptor::array("List", 1, &[0]))?,
/// };
/// assert_ne!(types.string, types.list);
/// # Ok::<(), tricolor_collector::DescriptorError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TypeId {
    /// Index in the registering heap's type table (what object headers hold).
    pub(crate) index: u32,
    /// A tag of the registering heap: an id is only valid with its own heap.
    pub(crate) heap: u32,
    /// The descriptor's `small_fixed` span class, copied at registration so
    /// that allocating a small fixed-size object reads no descriptor. An id
    /// is made only by its heap (`TypeTable::register`, `id_of`), from the
    /// descriptor, so the copy always agrees with it.
    pub(crate) small: Option<tricolor_allocator::SpanClass>,
}

impl TypeId {
    /// The raw index.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default());
    /// let first = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let second = heap.register_type(TypeDescriptor::bytes("Symbol"))?;
    /// assert_eq!((first.index(), second.index()), (0, 1));
    /// # Ok::<(), tricolor_collector::DescriptorError>(())
    /// ```
    pub fn index(self) -> u32 {
        self.index
    }

    /// Whether objects of this type have no header: it was registered
    /// [`header_free`](TypeDescriptor::header_free), and the heap granted
    /// it.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config { generational: false, ..Config::default() });
    /// let pair = heap.register_type(TypeDescriptor::fixed("Pair", 2, &[0, 1]).header_free())?;
    /// let list = heap.register_type(TypeDescriptor::array("List", 1, &[0]).header_free())?;
    /// assert!(pair.is_header_free());
    /// assert!(!list.is_header_free(), "arrays keep their header (it holds the length)");
    /// # Ok::<(), tricolor_collector::DescriptorError>(())
    /// ```
    #[inline]
    pub fn is_header_free(self) -> bool {
        self.small.is_some_and(|spc| spc.is_own())
    }
}

/// The shape of objects of a type.
///
/// The constructors of [`TypeDescriptor`] choose the shape; give it
/// explicitly to [`TypeDescriptor::traced`], [`TypeDescriptor::traced_with`]
/// and [`TypeDescriptor::new`].
///
/// ```
/// use tricolor_collector::{PointerWords, Shape, TypeDescriptor};
///
/// assert_eq!(TypeDescriptor::fixed("Pair", 2, &[0, 1]).shape(), Shape::Fixed { words: 2 });
/// assert_eq!(TypeDescriptor::array("Map", 2, &[0, 1]).shape(), Shape::Array { elem_words: 2 });
/// let closure =
///     TypeDescriptor::prefix_array("Closure", 1, PointerWords::leading(1), 1, PointerWords::leading(1));
/// assert_eq!(closure.shape(), Shape::PrefixArray { prefix_words: 1, elem_words: 1 });
/// assert_eq!(TypeDescriptor::bytes("String").shape(), Shape::Bytes);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Exactly `words` payload words; allocated with length 0.
    Fixed {
        /// Payload words after the header.
        words: u32,
    },
    /// `len` elements of `elem_words` words each; the length is chosen at
    /// allocation and kept in the header.
    Array {
        /// Words per element (at least 1).
        elem_words: u32,
    },
    /// `prefix_words` words, then `len` elements of `elem_words` words each:
    /// a fixed part followed by an array tail (a closure and its upvalues, a
    /// table's counts and its entries), in one object. The length (elements)
    /// is chosen at allocation and kept in the header; element `e` starts at
    /// payload word `prefix_words + e * elem_words`.
    PrefixArray {
        /// Words of the fixed part (may be 0).
        prefix_words: u32,
        /// Words per element (at least 1).
        elem_words: u32,
    },
    /// `len` bytes (rounded up to whole words); never holds pointers.
    Bytes,
}

impl Shape {
    /// Payload words of an object of this shape with length `len`, or
    /// `None` if `len` does not suit the shape (a fixed shape takes 0) or
    /// the size overflows.
    ///
    /// ```
    /// use tricolor_collector::Shape;
    ///
    /// assert_eq!(Shape::Fixed { words: 3 }.payload_words(0), Some(3));
    /// assert_eq!(Shape::Fixed { words: 3 }.payload_words(1), None);
    /// assert_eq!(Shape::Array { elem_words: 2 }.payload_words(5), Some(10));
    /// assert_eq!(Shape::PrefixArray { prefix_words: 2, elem_words: 3 }.payload_words(4), Some(14));
    /// assert_eq!(Shape::Bytes.payload_words(13), Some(2));
    /// assert_eq!(Shape::Array { elem_words: 2 }.payload_words(usize::MAX), None);
    /// ```
    #[inline]
    pub fn payload_words(self, len: usize) -> Option<usize> {
        match self {
            Shape::Fixed { words } => (len == 0).then_some(words as usize),
            Shape::Array { elem_words } => len.checked_mul(elem_words as usize),
            Shape::PrefixArray {
                prefix_words,
                elem_words,
            } => len
                .checked_mul(elem_words as usize)?
                .checked_add(prefix_words as usize),
            Shape::Bytes => Some(len.div_ceil(8)),
        }
    }
}

/// Receives the referents a [`Pointers::Traced`] callback reports.
///
/// Handed to a [`TraceFn`] by the collector; see [`TypeDescriptor::traced`]
/// for a whole example.
pub struct Edges<'a> {
    pub(crate) sink: &'a mut dyn FnMut(usize),
}

impl Edges<'_> {
    /// Reports that the object refers to the object at `addr` (a base
    /// address in the same heap; 0 is ignored).
    ///
    /// ```
    /// use tricolor_collector::{Edges, ObjectView};
    ///
    /// /// A closure object: word 0 is a code index, words 1.. hold captured
    /// /// objects (or 0).
    /// fn trace_closure(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     for i in 1..view.words() {
    ///         edges.visit(view.word(i) as usize); // 0 (no capture) is ignored
    ///     }
    /// }
    /// # let _: tricolor_collector::TraceFn = trace_closure;
    /// ```
    #[inline]
    pub fn visit(&mut self, addr: usize) {
        if addr != 0 {
            (self.sink)(addr);
        }
    }
}

/// Enumerates the referents of an object of a traced type.
///
/// Runs on mark workers, possibly several at once: it must only read the
/// object (through the [`ObjectView`]) and report what it finds.
///
/// ```
/// use tricolor_collector::{Edges, ObjectView, TraceFn};
///
/// fn trace_even_words(view: ObjectView<'_>, edges: &mut Edges<'_>) {
///     (0..view.words()).step_by(2).for_each(|i| edges.visit(view.word(i) as usize));
/// }
/// let trace: TraceFn = trace_even_words;
/// # let _ = trace;
/// ```
pub type TraceFn = fn(ObjectView<'_>, &mut Edges<'_>);
/// Decodes one stored word into the object address it carries, if any.
///
/// ```
/// use tricolor_collector::DecodeFn;
///
/// // NaN-boxing: a quiet NaN with tag 0x0001 in the top bits carries a
/// // 48-bit pointer; any other word is a double.
/// fn decode_nanbox(w: u64) -> Option<usize> {
///     (w >> 48 == 0xFFF9).then(|| (w & 0xFFFF_FFFF_FFFF) as usize).filter(|&p| p != 0)
/// }
/// let decode: DecodeFn = decode_nanbox;
/// assert_eq!(decode(1.5f64.to_bits()), None);
/// assert_eq!(decode(0xFFF9_0000_0000_1000), Some(0x1000));
/// ```
pub type DecodeFn = fn(u64) -> Option<usize>;

/// A trace callback that may carry context: what
/// [`TypeDescriptor::traced_with`] stores (see [`TraceFn`] for the
/// contract).
///
/// Shared by every clone of the descriptor; it is called on mark workers,
/// several at once, so it is `Send + Sync`.
///
/// ```
/// use std::sync::Arc;
/// use tricolor_collector::{Edges, ObjectView, TraceClosure};
///
/// let tag_bits = 3; // VM context: the pointer tag width chosen at start-up
/// let trace: Arc<TraceClosure> = Arc::new(move |view: ObjectView<'_>, edges: &mut Edges<'_>| {
///     for i in 0..view.words() {
///         let w = view.word(i);
///         if w & ((1 << tag_bits) - 1) == 0 {
///             edges.visit(w as usize);
///         }
///     }
/// });
/// # let _ = trace;
/// ```
pub type TraceClosure = dyn Fn(ObjectView<'_>, &mut Edges<'_>) + Send + Sync;

/// A decode callback that may carry context: what
/// [`TypeDescriptor::traced_with`] stores (see [`DecodeFn`]).
///
/// It runs on the mutator that stores a word into an object of the type
/// while a mark is running.
///
/// ```
/// use std::sync::Arc;
/// use tricolor_collector::DecodeClosure;
///
/// let tag_bits = 3;
/// let decode: Arc<DecodeClosure> =
///     Arc::new(move |w: u64| (w != 0 && w & ((1 << tag_bits) - 1) == 0).then_some(w as usize));
/// assert_eq!(decode(0x1000), Some(0x1000));
/// assert_eq!(decode(0x1001), None);
/// ```
pub type DecodeClosure = dyn Fn(u64) -> Option<usize> + Send + Sync;

/// The pointer words of one run of payload words: the prefix of a
/// [`Shape::PrefixArray`] object, or one of its elements (the parts of
/// [`Pointers::PrefixArray`]).
///
/// ```
/// use tricolor_collector::PointerWords;
///
/// assert_eq!(PointerWords::leading(2), PointerWords::Leading(2));
/// assert_eq!(PointerWords::leading(0), PointerWords::None);
/// assert_eq!(PointerWords::at(&[0, 2]), PointerWords::Bitmap(Box::new([0b101])));
/// assert_eq!(PointerWords::at(&[]), PointerWords::None);
/// assert!(PointerWords::at(&[0, 2]).contains(2));
/// assert!(!PointerWords::Leading(2).contains(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PointerWords {
    /// No pointer words.
    None,
    /// Words `0..n` are pointer fields, the rest data. Costs no memory
    /// however large `n` is, and the marker scans it with a range loop.
    Leading(u32),
    /// Bit `i` set ⇒ word `i` is a pointer field.
    Bitmap(Box<[u64]>),
}

impl PointerWords {
    /// The first `n` words are pointer fields ([`None`](Self::None) for 0).
    ///
    /// ```
    /// use tricolor_collector::PointerWords;
    ///
    /// // A hash-table entry: key and value (pointers), then the hash.
    /// let entry = PointerWords::leading(2);
    /// assert!(entry.contains(1) && !entry.contains(2));
    /// ```
    pub fn leading(n: u32) -> PointerWords {
        if n == 0 {
            PointerWords::None
        } else {
            PointerWords::Leading(n)
        }
    }

    /// The words at the given indices are pointer fields (a bitmap;
    /// [`None`](Self::None) for no index).
    ///
    /// ```
    /// use tricolor_collector::PointerWords;
    ///
    /// // A closure's prefix: an arity (data) and its function (a pointer).
    /// let prefix = PointerWords::at(&[1]);
    /// assert!(prefix.contains(1) && !prefix.contains(0));
    /// ```
    pub fn at(indices: &[u32]) -> PointerWords {
        if indices.is_empty() {
            PointerWords::None
        } else {
            PointerWords::Bitmap(bitmap(indices))
        }
    }

    /// Whether word `i` of the run is a pointer field.
    ///
    /// ```
    /// use tricolor_collector::PointerWords;
    ///
    /// assert!(PointerWords::Leading(3).contains(2));
    /// assert!(!PointerWords::None.contains(0));
    /// ```
    pub fn contains(&self, i: usize) -> bool {
        self.words().contains(i)
    }

    /// The borrowed form the scanner loops over.
    #[inline]
    fn words(&self) -> Words<'_> {
        match self {
            PointerWords::None => Words::None,
            PointerWords::Leading(n) => Words::Leading(*n as usize),
            PointerWords::Bitmap(bits) => Words::Bits(bits),
        }
    }
}

/// Pointer words of one run, borrowed: what the marker loops over, the
/// same for [`Pointers::Bitmap`], [`Pointers::Leading`] and the parts of
/// [`Pointers::PrefixArray`].
#[derive(Copy, Clone)]
enum Words<'a> {
    None,
    Leading(usize),
    Bits(&'a [u64]),
}

impl Words<'_> {
    /// Whether word `i` is a pointer.
    #[inline]
    fn contains(self, i: usize) -> bool {
        match self {
            Words::None => false,
            Words::Leading(n) => i < n,
            Words::Bits(bits) => bits.view_bits::<Lsb0>().get(i).is_some_and(|b| *b),
        }
    }

    /// The first pointer word at or after `limit`: a word a run of `limit`
    /// words does not have.
    fn first_from(self, limit: usize) -> Option<usize> {
        match self {
            Words::None => None,
            Words::Leading(n) => (n > limit).then_some(limit),
            Words::Bits(bits) => {
                let past_end = bits.view_bits::<Lsb0>().get(limit..);
                past_end.and_then(|b| b.first_one()).map(|i| limit + i)
            }
        }
    }

    /// Whether the run has no pointer word.
    fn is_empty(self) -> bool {
        self.first_from(0).is_none()
    }

    /// Calls `f` for every pointer word of `count` runs of `unit` words
    /// each, the first at `base`, in order.
    #[inline(always)]
    fn for_each_repeated(self, base: usize, unit: usize, count: usize, f: &mut impl FnMut(usize)) {
        match self {
            Words::None => {}
            Words::Leading(n) => for_each_leading(n, base, unit, count, f),
            Words::Bits(bits) => {
                for e in 0..count {
                    for_each_bit(bits, base + e * unit, f);
                }
            }
        }
    }
}

/// Calls `f` for the first `n` words of `count` runs of `unit` words each,
/// the first at `base`, in order: a range loop.
#[inline(always)]
fn for_each_leading(n: usize, base: usize, unit: usize, count: usize, f: &mut impl FnMut(usize)) {
    // Plain loops, calling `f` directly: `Iterator::for_each(&mut f)` can
    // stay an out-of-line call, which makes `f`'s captures escape and costs
    // the whole mark loop reloads.
    if n == unit {
        // Every word a pointer: the runs make one range.
        for i in base..base + n * count {
            f(i);
        }
    } else {
        for e in 0..count {
            let b = base + e * unit;
            for i in b..b + n {
                f(i);
            }
        }
    }
}

/// The mark loop's inner loop over a bitmap: one `trailing_zeros` per
/// pointer over the raw words, as bitvec's `iter_ones` re-slices for each
/// bit it finds.
#[inline(always)]
fn for_each_bit(bits: &[u64], base: usize, f: &mut impl FnMut(usize)) {
    for (w, &word) in bits.iter().enumerate() {
        let mut b = word;
        while b != 0 {
            f(base + w * 64 + b.trailing_zeros() as usize);
            b &= b - 1;
        }
    }
}

/// Where the pointers of an object are.
///
/// ```
/// use tricolor_collector::{PointerWords, Pointers, TypeDescriptor};
///
/// let d = TypeDescriptor::fixed("Node", 3, &[0, 2]);
/// match d.pointers() {
///     Pointers::Bitmap(bits) => assert_eq!(bits[0], 0b101),
///     other => panic!("expected a bitmap, got {other:?}"),
/// }
/// let v = TypeDescriptor::array_leading("Vector", 1, 1);
/// assert!(matches!(v.pointers(), Pointers::Leading(1)));
/// let c = TypeDescriptor::prefix_array("Closure", 2, PointerWords::at(&[1]), 1, PointerWords::leading(1));
/// assert!(matches!(
///     c.pointers(),
///     Pointers::PrefixArray { prefix: PointerWords::Bitmap(_), elem: PointerWords::Leading(1) }
/// ));
/// assert!(matches!(TypeDescriptor::bytes("String").pointers(), Pointers::None));
/// ```
#[derive(Clone)]
// An explicit tag, not a niche in a variant's fields: the marker matches on
// it for every object it scans, and a niche would cost a few instructions
// more each time.
#[repr(u8)]
pub enum Pointers {
    /// The object holds no pointers (noscan).
    None,
    /// Bit `i` set ⇒ payload word `i` (of the object, or of each element of
    /// an array) is a pointer field. For [`Shape::Fixed`] and
    /// [`Shape::Array`].
    Bitmap(Box<[u64]>),
    /// Payload words `0..n` (of the object, or of each element of an array)
    /// are pointer fields, the rest data. For [`Shape::Fixed`] and
    /// [`Shape::Array`]; needs no bitmap however large `n` is, and the
    /// marker scans it with a range loop (one range for the whole array when
    /// every element word is a pointer).
    Leading(u32),
    /// For [`Shape::PrefixArray`]: the pointer words of the prefix and of
    /// each element (indices within the prefix, and within one element).
    PrefixArray {
        /// The prefix's pointer words.
        prefix: PointerWords,
        /// Each element's pointer words.
        elem: PointerWords,
    },
    /// A callback finds the pointers.
    Traced {
        /// Reports every referent of an object.
        trace: TraceFn,
        /// Extracts the pointer a stored word carries.
        decode: DecodeFn,
    },
    /// A callback that carries context finds the pointers
    /// ([`TypeDescriptor::traced_with`]).
    TracedWith {
        /// Reports every referent of an object.
        trace: Arc<TraceClosure>,
        /// Extracts the pointer a stored word carries.
        decode: Arc<DecodeClosure>,
    },
}

impl fmt::Debug for Pointers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointers::None => write!(f, "None"),
            Pointers::Bitmap(bits) => write!(f, "Bitmap({bits:x?})"),
            Pointers::Leading(n) => write!(f, "Leading({n})"),
            Pointers::PrefixArray { prefix, elem } => {
                write!(f, "PrefixArray {{ prefix: {prefix:?}, elem: {elem:?} }}")
            }
            Pointers::Traced { .. } => write!(f, "Traced"),
            Pointers::TracedWith { .. } => write!(f, "TracedWith"),
        }
    }
}

impl From<PointerWords> for Pointers {
    /// The map of a fixed-size object, or of each element of an array, from
    /// that of one run of words.
    ///
    /// ```
    /// use tricolor_collector::{PointerWords, Pointers, Shape, TypeDescriptor};
    ///
    /// let map = PointerWords::at(&[0, 2]);
    /// let d = TypeDescriptor::new("Triple", Shape::Fixed { words: 3 }, map.into());
    /// assert!(matches!(d.pointers(), Pointers::Bitmap(_)));
    /// ```
    fn from(words: PointerWords) -> Pointers {
        match words {
            PointerWords::None => Pointers::None,
            PointerWords::Leading(n) => Pointers::Leading(n),
            PointerWords::Bitmap(bits) => Pointers::Bitmap(bits),
        }
    }
}

/// The pointer words of an object's two parts: the run at its start (a
/// fixed object's words, or a prefix) and each element, with their sizes in
/// words. Types without a map have neither.
type Parts<'a> = ((Words<'a>, usize), (Words<'a>, usize));

const NO_PARTS: Parts<'static> = ((Words::None, 0), (Words::None, 0));

/// A type descriptor.
///
/// Made by [`fixed`](Self::fixed), [`fixed_leading`](Self::fixed_leading),
/// [`array`](Self::array), [`array_leading`](Self::array_leading),
/// [`prefix_array`](Self::prefix_array), [`bytes`](Self::bytes),
/// [`traced`](Self::traced), [`traced_with`](Self::traced_with) or, from a
/// shape and a pointer map, [`new`](Self::new); registered with
/// [`Heap::register_type`](crate::Heap::register_type), which checks it.
///
/// | shape | pointer maps | length at allocation | payload words |
/// |---|---|---|---|
/// | [`Shape::Fixed`] | none, bitmap, leading, traced | 0 | `words` |
/// | [`Shape::Array`] | none, bitmap, leading (per element), traced | elements | `len * elem_words` |
/// | [`Shape::PrefixArray`] | none, [`Pointers::PrefixArray`], traced | elements | `prefix_words + len * elem_words` |
/// | [`Shape::Bytes`] | none | bytes | `len` rounded up to words |
///
/// What the marker does per object, by map: a bitmap costs one
/// `trailing_zeros` per pointer word (and a loop over the bitmap's words per
/// element); a leading count is a range loop (one range over the whole
/// array when every element word is a pointer); a traced type is one
/// indirect call, to a `fn` pointer or a closure.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// // An object with a class pointer (word 0), a field-array pointer (word 1)
/// // and a hash (word 2).
/// let object = TypeDescriptor::fixed("Object", 3, &[0, 1]);
/// let object = heap.register_type(object)?;
/// # let _ = object;
/// # Ok::<(), tricolor_collector::DescriptorError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TypeDescriptor {
    pub(crate) name: String,
    pub(crate) shape: Shape,
    pub(crate) pointers: Pointers,
    /// For a fixed-size type small enough for a size class: its span class
    /// and slot size in bytes (the class's size, which is what the heap's
    /// byte counts use), computed once at registration so that allocation
    /// skips the size → class lookup. A header-free type's span class is
    /// an own class (`SpanClass::own`).
    pub(crate) small_fixed: Option<(tricolor_allocator::SpanClass, u32)>,
    /// Asked for: objects without a header ([`header_free`](Self::header_free)).
    pub(crate) header_free: bool,
}

/// Why a descriptor or an allocation request was rejected.
///
/// ```
/// use tricolor_collector::{Config, DescriptorError, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let e = heap.register_type(TypeDescriptor::array("Empty", 0, &[])).unwrap_err();
/// assert!(matches!(e, DescriptorError::EmptyElement { .. }));
/// assert_eq!(e.to_string(), "type `Empty`: array elements must have at least one word");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptorError {
    /// A pointer index lies outside the object (or element, or prefix).
    PointerOutOfRange {
        /// The type's name.
        name: String,
        /// The offending word index (within the element, or the prefix, for
        /// the parts of array shapes).
        index: u32,
        /// Words available (in the object, the element or the prefix).
        words: u32,
    },
    /// An array element must have at least one word.
    EmptyElement {
        /// The type's name.
        name: String,
    },
    /// A byte array cannot hold pointers.
    PointersInBytes {
        /// The type's name.
        name: String,
    },
    /// The heap's type table is full: it holds [`MAX_TYPES`] types.
    TooManyTypes {
        /// The type that did not fit.
        name: String,
    },
    /// The pointer map does not go with the shape ([`TypeDescriptor::new`]):
    /// [`Pointers::PrefixArray`] goes with [`Shape::PrefixArray`] only, and
    /// [`Pointers::Bitmap`] and [`Pointers::Leading`] with [`Shape::Fixed`]
    /// and [`Shape::Array`] only.
    PointersDoNotFitShape {
        /// The type's name.
        name: String,
        /// Its shape.
        shape: Shape,
    },
}

/// The most types one heap can register (65,536).
///
/// Types cannot be unregistered: a type's id is in the header of every
/// object of it, and a registered descriptor is read without a lock by
/// markers on every scan. A VM registers its types once, at start-up; one
/// whose types are made at run time (a class per user class, a shape per
/// object layout) registers one traced type and keeps its own class or
/// shape pointer in each object.
pub const MAX_TYPES: usize = 1 << 16;

/// The largest payload, in bytes, of a type whose objects can be header-free
/// ([`TypeDescriptor::header_free`]): 512, as in Go, whose objects up to
/// that size carry no header. A larger object's header is a small share of
/// it.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor, MAX_HEADER_FREE_BYTES};
///
/// let heap = Heap::new(Config { generational: false, ..Config::default() });
/// let words = (MAX_HEADER_FREE_BYTES / 8) as u32;
/// let fits = heap.register_type(TypeDescriptor::fixed("Fits", words, &[]).header_free())?;
/// let big = heap.register_type(TypeDescriptor::fixed("Big", words + 1, &[]).header_free())?;
/// assert!(fits.is_header_free() && !big.is_header_free());
/// # Ok::<(), tricolor_collector::DescriptorError>(())
/// ```
pub const MAX_HEADER_FREE_BYTES: usize = 512;
// A type index fits the header's type bits (`object` module docs).
const _: () = assert!(MAX_TYPES as u64 <= crate::object::TYPE_MASK + 1);

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::PointerOutOfRange { name, index, words } => write!(
                f,
                "type `{name}`: pointer word {index} is outside its {words} payload words"
            ),
            DescriptorError::EmptyElement { name } => {
                write!(
                    f,
                    "type `{name}`: array elements must have at least one word"
                )
            }
            DescriptorError::PointersInBytes { name } => {
                write!(f, "type `{name}`: a byte array cannot hold pointers")
            }
            DescriptorError::TooManyTypes { name } => write!(
                f,
                "type `{name}`: the heap's type table is full ({MAX_TYPES} types); types \
                 cannot be unregistered, so register each once, at start-up"
            ),
            DescriptorError::PointersDoNotFitShape { name, shape } => write!(
                f,
                "type `{name}`: its pointer map does not go with the shape {shape:?} \
                 (Pointers::PrefixArray goes with Shape::PrefixArray; Bitmap and Leading \
                 with Fixed and Array)"
            ),
        }
    }
}

impl std::error::Error for DescriptorError {}

fn bitmap(pointer_words: &[u32]) -> Box<[u64]> {
    let words = pointer_words
        .iter()
        .map(|&i| i as usize / 64 + 1)
        .max()
        .unwrap_or(0);
    let mut bits = vec![0u64; words];
    let view = bits.view_bits_mut::<Lsb0>();
    for &i in pointer_words {
        view.set(i as usize, true);
    }
    bits.into_boxed_slice()
}

impl TypeDescriptor {
    /// A descriptor from a shape and a pointer map: the general form of the
    /// other constructors, for a VM that builds its descriptors from a
    /// table. Registration checks that the map goes with the shape
    /// ([`DescriptorError::PointersDoNotFitShape`]) and lies inside it.
    ///
    /// ```
    /// use tricolor_collector::{Config, DescriptorError, Heap, Pointers, Shape, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let v = TypeDescriptor::new("Values", Shape::Array { elem_words: 2 }, Pointers::Leading(1));
    /// assert!(heap.register_type(v).is_ok());
    /// let bad = TypeDescriptor::new(
    ///     "Bad",
    ///     Shape::PrefixArray { prefix_words: 1, elem_words: 1 },
    ///     Pointers::Leading(1), // a PrefixArray shape takes Pointers::PrefixArray
    /// );
    /// assert!(matches!(
    ///     heap.register_type(bad),
    ///     Err(DescriptorError::PointersDoNotFitShape { .. })
    /// ));
    /// ```
    pub fn new(name: impl Into<String>, shape: Shape, pointers: Pointers) -> TypeDescriptor {
        TypeDescriptor {
            name: name.into(),
            shape,
            pointers,
            small_fixed: None,
            header_free: false,
        }
    }

    /// A fixed-size type of `words` payload words whose pointer fields are
    /// the word indices in `pointer_words`.
    ///
    /// Without pointer words the type is *noscan*: its objects are never
    /// scanned.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A hash-map entry: key and value pointers (0, 1), cached hash (2).
    /// let entry = heap.register_type(TypeDescriptor::fixed("Entry", 3, &[0, 1]))?;
    /// // A boxed integer: one data word, no pointers.
    /// let int = heap.register_type(TypeDescriptor::fixed("Int", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let e = m.alloc(entry, 0); // fixed-size types are allocated with length 0
    /// # let _ = (e, int);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fixed(name: impl Into<String>, words: u32, pointer_words: &[u32]) -> TypeDescriptor {
        TypeDescriptor::new(
            name,
            Shape::Fixed { words },
            PointerWords::at(pointer_words).into(),
        )
    }

    /// A fixed-size type of `words` payload words of which the first
    /// `pointer_words` are pointer fields and the rest data
    /// ([`Pointers::Leading`]): no index list and no bitmap however large the
    /// object, and a range loop in the marker. Without pointer words the
    /// type is noscan.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A module's globals: 4096 slots (pointers), then a 4-word header of data.
    /// let globals = heap.register_type(TypeDescriptor::fixed_leading("Globals", 4100, 4096))?;
    /// let mut m = heap.attach()?;
    /// let g = m.alloc(globals, 0);
    /// // SAFETY: `g` was just allocated (no safepoint since); word 4095 is
    /// // the last pointer field, word 4096 the first data word.
    /// unsafe {
    ///     m.store(g, 4095, Some(g));
    ///     m.store_word(g, 4096, 7);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fixed_leading(
        name: impl Into<String>,
        words: u32,
        pointer_words: u32,
    ) -> TypeDescriptor {
        TypeDescriptor::new(
            name,
            Shape::Fixed { words },
            PointerWords::leading(pointer_words).into(),
        )
    }

    /// An array type: each element has `elem_words` words, of which those in
    /// `pointer_words` are pointer fields.
    ///
    /// The length (number of elements) is chosen at each allocation; the
    /// pointer map repeats for every element.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // Hash-table buckets: each element is (key pointer, hash word).
    /// let buckets = heap.register_type(TypeDescriptor::array("Buckets", 2, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let b = m.alloc(buckets, 8); // 8 elements = 16 payload words
    /// // SAFETY: `b` was just allocated (no safepoint since); word 2k is the
    /// // key of element k, word 2k + 1 its hash.
    /// unsafe {
    ///     m.store(b, 2 * 3, Some(b));
    ///     m.store_word(b, 2 * 3 + 1, 0xfeed);
    ///     assert_eq!(m.shape_of(b), (buckets, 8));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn array(
        name: impl Into<String>,
        elem_words: u32,
        pointer_words: &[u32],
    ) -> TypeDescriptor {
        TypeDescriptor::new(
            name,
            Shape::Array { elem_words },
            PointerWords::at(pointer_words).into(),
        )
    }

    /// An array type whose elements have `elem_words` words, of which the
    /// first `pointer_words` are pointer fields ([`Pointers::Leading`]).
    /// With `pointer_words == elem_words` every word is a pointer, and the
    /// marker scans the whole array as one range.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A vector of values: every word a pointer (or null).
    /// let vector = heap.register_type(TypeDescriptor::array_leading("Vector", 1, 1))?;
    /// // Entries: key and value pointers, then a cached hash.
    /// let entries = heap.register_type(TypeDescriptor::array_leading("Entries", 3, 2))?;
    /// let mut m = heap.attach()?;
    /// let v = m.alloc(vector, 1000);
    /// let slot = m.push_root(Some(v));
    /// let e = m.alloc(entries, 4);
    /// // SAFETY: `v` is rooted and `e` fresh (no safepoint since); entry 1 is
    /// // words 3..6: key 3, value 4, hash 5.
    /// unsafe {
    ///     m.store(e, 3, Some(v));
    ///     m.store_word(e, 5, 0x9e37);
    ///     m.store(v, 999, Some(e));
    /// }
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// # let _ = slot;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn array_leading(
        name: impl Into<String>,
        elem_words: u32,
        pointer_words: u32,
    ) -> TypeDescriptor {
        TypeDescriptor::new(
            name,
            Shape::Array { elem_words },
            PointerWords::leading(pointer_words).into(),
        )
    }

    /// A type whose objects are a fixed prefix of `prefix_words` words
    /// followed by an array of `len` elements of `elem_words` words each
    /// ([`Shape::PrefixArray`]): a closure and its upvalues, a table's count
    /// and its entries, in one object. `prefix` names the pointer words of
    /// the prefix, `elem` those of one element (indices within it; the map
    /// repeats for every element). Without pointer words in either, the
    /// type is noscan.
    ///
    /// Payload word `i` is word `i` of the prefix for `i < prefix_words`,
    /// and word `(i - prefix_words) % elem_words` of element
    /// `(i - prefix_words) / elem_words` after it; the length is the element
    /// count, chosen at allocation (0 is a prefix alone).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, PointerWords, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A closure: its arity (data) and function (a pointer), then one
    /// // pointer per captured upvalue.
    /// let closure = heap.register_type(TypeDescriptor::prefix_array(
    ///     "Closure",
    ///     2,
    ///     PointerWords::at(&[1]),
    ///     1,
    ///     PointerWords::leading(1),
    /// ))?;
    /// let function = heap.register_type(TypeDescriptor::bytes("Function"))?;
    /// let mut m = heap.attach()?;
    /// let f = m.alloc(function, 16);
    /// let slot = m.push_root(Some(f));
    /// let c = m.alloc(closure, 3); // 2 + 3 payload words
    /// // SAFETY: `c` is fresh (no safepoint since) and `f` rooted; word 1 is
    /// // the function, words 2..5 the upvalues.
    /// unsafe {
    ///     m.store_word(c, 0, 2); // arity
    ///     m.store(c, 1, Some(f));
    ///     m.store(c, 4, Some(f)); // upvalue 2
    /// }
    /// m.set_root(slot, Some(c));
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prefix_array(
        name: impl Into<String>,
        prefix_words: u32,
        prefix: PointerWords,
        elem_words: u32,
        elem: PointerWords,
    ) -> TypeDescriptor {
        let shape = Shape::PrefixArray {
            prefix_words,
            elem_words,
        };
        let pointers = if prefix.words().is_empty() && elem.words().is_empty() {
            Pointers::None
        } else {
            Pointers::PrefixArray { prefix, elem }
        };
        TypeDescriptor::new(name, shape, pointers)
    }

    /// A byte array (strings, buffers): no pointers, length in bytes.
    ///
    /// The bytes are rounded up to whole words. They are read and written as
    /// slices with [`Mutator::bytes`](crate::Mutator::bytes),
    /// [`Mutator::bytes_mut`](crate::Mutator::bytes_mut) and
    /// [`Mutator::copy_bytes`](crate::Mutator::copy_bytes), or a word at a
    /// time with [`Mutator::load_word`](crate::Mutator::load_word) and
    /// [`Mutator::store_word`](crate::Mutator::store_word).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let text = b"tri-colour"; // 10 bytes: two payload words
    /// let s = m.alloc(string, text.len());
    /// for (i, chunk) in text.chunks(8).enumerate() {
    ///     let mut word = [0u8; 8];
    ///     word[..chunk.len()].copy_from_slice(chunk);
    ///     // SAFETY: `s` was just allocated (no safepoint since); `i` < 2.
    ///     unsafe { m.store_word(s, i, u64::from_le_bytes(word)) };
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes(name: impl Into<String>) -> TypeDescriptor {
        TypeDescriptor::new(name, Shape::Bytes, Pointers::None)
    }

    /// A type whose pointers a callback finds (tagged values, NaN-boxing).
    ///
    /// `trace` reports every object an object refers to; `decode` extracts
    /// the pointer one stored word carries, for the write barrier. Fields of
    /// a traced type are read and written with
    /// [`Mutator::load_word`](crate::Mutator::load_word) and
    /// [`Mutator::store_word`](crate::Mutator::store_word).
    ///
    /// Here values are tagged words: odd words are integers (`n << 1 | 1`),
    /// even non-zero words are pointers (objects are 8-byte aligned), and 0
    /// is nil.
    ///
    /// ```
    /// use tricolor_collector::{Config, Edges, Heap, ObjRef, ObjectView, Shape, TypeDescriptor};
    ///
    /// fn decode(w: u64) -> Option<usize> {
    ///     (w != 0 && w & 1 == 0).then_some(w as usize)
    /// }
    /// fn trace(view: ObjectView<'_>, edges: &mut Edges<'_>) {
    ///     for i in 0..view.words() {
    ///         if let Some(p) = decode(view.word(i)) {
    ///             edges.visit(p);
    ///         }
    ///     }
    /// }
    /// let heap = Heap::new(Config::default());
    /// let tuple = heap.register_type(TypeDescriptor::traced(
    ///     "Tuple", Shape::Array { elem_words: 1 }, trace, decode,
    /// ))?;
    /// let mut m = heap.attach()?;
    /// let inner = m.alloc(tuple, 1);
    /// let slot = m.push_root(Some(inner));
    /// let outer = m.alloc(tuple, 2);
    /// // SAFETY: `outer` is fresh (no safepoint since) and the pointer it
    /// // stores, `inner`, is rooted.
    /// unsafe {
    ///     m.store_word(outer, 0, (42 << 1) | 1); // the integer 42
    ///     m.store_word(outer, 1, inner.addr() as u64); // a pointer
    /// }
    /// m.set_root(slot, Some(outer)); // `inner` stays reachable through `outer`
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// // SAFETY: `outer` is rooted.
    /// let w = unsafe { m.load_word(m.root(slot).unwrap(), 1) };
    /// assert_eq!(ObjRef::from_addr(decode(w).unwrap()), Some(inner));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn traced(
        name: impl Into<String>,
        shape: Shape,
        trace: TraceFn,
        decode: DecodeFn,
    ) -> TypeDescriptor {
        TypeDescriptor::new(name, shape, Pointers::Traced { trace, decode })
    }

    /// [`traced`](Self::traced), with closures: `trace` and `decode` may
    /// capture the VM's context (its value encoding, a table of its own,
    /// counters), which `fn` pointers cannot. Stored as
    /// [`Pointers::TracedWith`], shared (`Arc`) by every clone of the
    /// descriptor.
    ///
    /// The contract is [`traced`](Self::traced)'s: `trace` runs on mark
    /// workers, several at once, and must only read the object through its
    /// [`ObjectView`] and what it captured; `decode` runs on a mutator's
    /// store while a mark is running, and must find in a word every pointer
    /// `trace` would report from it. Neither may block on anything a mutator
    /// can hold across a safepoint (a lock held while allocating): with the
    /// barrier off, marking runs while every mutator waits at one. A mark
    /// calls `trace` once per object it scans, through one indirect call, as
    /// for a `fn` pointer.
    ///
    /// Here the VM chooses its value encoding at start-up: which tag marks a
    /// pointer, in the low three bits of a word (objects are 8-byte
    /// aligned). Both callbacks capture it; `trace` also counts its calls.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use tricolor_collector::{Config, Heap, Shape, TypeDescriptor};
    ///
    /// struct Encoding {
    ///     pointer_tag: u64,
    ///     traced: AtomicU64,
    /// }
    /// impl Encoding {
    ///     fn decode(&self, w: u64) -> Option<usize> {
    ///         (w & 7 == self.pointer_tag && w >> 3 != 0).then_some((w & !7) as usize)
    ///     }
    ///     fn encode(&self, addr: usize) -> u64 {
    ///         addr as u64 | self.pointer_tag
    ///     }
    /// }
    /// let enc = Arc::new(Encoding { pointer_tag: 0b101, traced: AtomicU64::new(0) });
    ///
    /// let heap = Heap::new(Config::default());
    /// let (t, d) = (enc.clone(), enc.clone());
    /// let list = heap.register_type(TypeDescriptor::traced_with(
    ///     "List",
    ///     Shape::Array { elem_words: 1 },
    ///     move |view, edges| {
    ///         t.traced.fetch_add(1, Ordering::Relaxed);
    ///         for i in 0..view.words() {
    ///             if let Some(p) = t.decode(view.word(i)) {
    ///                 edges.visit(p);
    ///             }
    ///         }
    ///     },
    ///     move |w| d.decode(w),
    /// ))?;
    /// let mut m = heap.attach()?;
    /// let inner = m.alloc(list, 0);
    /// let slot = m.push_root(Some(inner));
    /// let outer = m.alloc(list, 2);
    /// // SAFETY: `outer` is fresh (no safepoint since); `inner` is rooted.
    /// unsafe {
    ///     m.store_word(outer, 0, 42 << 3); // an integer (tag 0)
    ///     m.store_word(outer, 1, enc.encode(inner.addr()));
    /// }
    /// m.set_root(slot, Some(outer));
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// assert!(enc.traced.load(Ordering::Relaxed) >= 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn traced_with(
        name: impl Into<String>,
        shape: Shape,
        trace: impl Fn(ObjectView<'_>, &mut Edges<'_>) + Send + Sync + 'static,
        decode: impl Fn(u64) -> Option<usize> + Send + Sync + 'static,
    ) -> TypeDescriptor {
        let pointers = Pointers::TracedWith {
            trace: Arc::new(trace),
            decode: Arc::new(decode),
        };
        TypeDescriptor::new(name, shape, pointers)
    }

    /// Asks for objects without a header word: each object of the type
    /// takes only its payload, in spans of the type's own, which name the
    /// type (object module docs). A binary-tree node of two pointers takes
    /// a 16-byte slot instead of 24.
    ///
    /// What the objects give up is what the header holds: the user bits
    /// ([`Mutator::set_user_bits`](crate::Mutator::set_user_bits) refuses
    /// them, [`Mutator::user_bits`](crate::Mutator::user_bits) reads 0).
    /// Their spans are the type's alone, so a heap of many header-free
    /// types with few objects each holds more partly-used spans.
    ///
    /// The request is granted at registration
    /// ([`TypeId::is_header_free`] tells) for a fixed-size type of at most
    /// [`MAX_HEADER_FREE_BYTES`] bytes, while the heap has own span classes
    /// left (64), in a heap that is not generational (whose store barrier
    /// reads the header's log-armed bit); otherwise the type's objects get a
    /// header as usual, and everything else works the same.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config { generational: false, ..Config::default() });
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0, 1]).header_free())?;
    /// assert!(node.is_header_free());
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// // SAFETY: `a` was just allocated, with no safepoint since.
    /// assert_eq!(unsafe { m.shape_of(a) }, (node, 0), "its span names its type");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header_free(mut self) -> TypeDescriptor {
        self.header_free = true;
        self
    }

    /// The type's name.
    ///
    /// ```
    /// use tricolor_collector::TypeDescriptor;
    ///
    /// assert_eq!(TypeDescriptor::bytes("String").name(), "String");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shape.
    ///
    /// ```
    /// use tricolor_collector::{Shape, TypeDescriptor};
    ///
    /// let d = TypeDescriptor::array("Vector", 1, &[0]);
    /// assert_eq!(d.shape(), Shape::Array { elem_words: 1 });
    /// ```
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The pointer map.
    ///
    /// ```
    /// use tricolor_collector::{Pointers, TypeDescriptor};
    ///
    /// let d = TypeDescriptor::fixed("Int", 1, &[]);
    /// assert!(matches!(d.pointers(), Pointers::None));
    /// ```
    pub fn pointers(&self) -> &Pointers {
        &self.pointers
    }

    /// Whether objects of this type may hold pointers.
    ///
    /// ```
    /// use tricolor_collector::TypeDescriptor;
    ///
    /// assert!(TypeDescriptor::fixed("Cons", 2, &[0, 1]).has_pointers());
    /// assert!(!TypeDescriptor::fixed("Float", 1, &[]).has_pointers());
    /// assert!(!TypeDescriptor::bytes("String").has_pointers());
    /// ```
    pub fn has_pointers(&self) -> bool {
        match &self.pointers {
            Pointers::None => false,
            Pointers::PrefixArray { prefix, elem } => {
                !(prefix.words().is_empty() && elem.words().is_empty())
            }
            _ => true,
        }
    }

    /// Payload words of an object of this type with length `len`, or `None`
    /// if `len` does not suit the shape or the size overflows
    /// ([`Shape::payload_words`]).
    ///
    /// ```
    /// use tricolor_collector::{PointerWords, TypeDescriptor};
    ///
    /// let table = TypeDescriptor::prefix_array("Table", 2, PointerWords::None, 3, PointerWords::leading(2));
    /// assert_eq!(table.payload_words(8), Some(2 + 8 * 3));
    /// assert_eq!(TypeDescriptor::bytes("String").payload_words(9), Some(2));
    /// ```
    #[inline]
    pub fn payload_words(&self, len: usize) -> Option<usize> {
        self.shape.payload_words(len)
    }

    /// Whether payload word `index` of an object of this type is a pointer
    /// field by its map (`false` for types without pointers and for traced
    /// types, whose words the callback interprets; `false` past the end of
    /// a fixed-size object). For array shapes the element's map repeats for
    /// every index past the prefix: the object's length is not needed.
    ///
    /// ```
    /// use tricolor_collector::{PointerWords, TypeDescriptor};
    ///
    /// // Prefix: a count (data) and a class pointer; elements: (key, value, hash).
    /// let d = TypeDescriptor::prefix_array("Table", 2, PointerWords::at(&[1]), 3, PointerWords::leading(2));
    /// let pointers: Vec<usize> = (0..8).filter(|&i| d.is_pointer_word(i)).collect();
    /// assert_eq!(pointers, [1, 2, 3, 5, 6]);
    /// ```
    #[inline]
    pub fn is_pointer_word(&self, index: usize) -> bool {
        let ((head, head_words), (elem, elem_words)) = self.parts();
        if index < head_words {
            head.contains(index)
        } else if elem_words == 0 {
            false
        } else {
            elem.contains((index - head_words) % elem_words)
        }
    }

    /// The pointer words of the run at the object's start and of each
    /// element, with their sizes: [`Parts`]. Pairs of shape and map that
    /// `validate` rejects have none.
    #[inline(always)]
    fn parts(&self) -> Parts<'_> {
        let unit = match &self.pointers {
            Pointers::Bitmap(bits) => Words::Bits(bits),
            Pointers::Leading(n) => Words::Leading(*n as usize),
            Pointers::PrefixArray { prefix, elem } => {
                let Shape::PrefixArray {
                    prefix_words,
                    elem_words,
                } = self.shape
                else {
                    return NO_PARTS;
                };
                return (
                    (prefix.words(), prefix_words as usize),
                    (elem.words(), elem_words as usize),
                );
            }
            _ => return NO_PARTS,
        };
        match self.shape {
            Shape::Fixed { words } => ((unit, words as usize), (Words::None, 0)),
            Shape::Array { elem_words } => ((Words::None, 0), (unit, elem_words as usize)),
            _ => NO_PARTS,
        }
    }

    /// For a traced type, the pointers a word `old` replaced by `new`
    /// carry (0 for none), for the write barrier of a `store_word`; `None`
    /// for other types, whose data words the barrier ignores.
    #[inline]
    pub(crate) fn decode_store(&self, old: u64, new: u64) -> Option<(usize, usize)> {
        fn both(decode: impl Fn(u64) -> Option<usize>, old: u64, new: u64) -> (usize, usize) {
            (decode(old).unwrap_or(0), decode(new).unwrap_or(0))
        }
        match &self.pointers {
            Pointers::Traced { decode, .. } => Some(both(decode, old, new)),
            Pointers::TracedWith { decode, .. } => Some(both(&**decode, old, new)),
            _ => None,
        }
    }

    /// Fills in what registration precomputes (see `small_fixed`). A
    /// header-free type asks `own_class(slot bytes, kind)` for its own span
    /// class, and keeps a header if it gets none.
    pub(crate) fn prepare(
        &mut self,
        own_class: impl FnOnce(
            usize,
            tricolor_allocator::ObjectKind,
        ) -> Option<tricolor_allocator::SpanClass>,
    ) {
        use tricolor_allocator::{ObjectKind, SizeClass, SpanClass};
        let kind = if self.has_pointers() {
            ObjectKind::Scan
        } else {
            ObjectKind::NoScan
        };
        self.small_fixed = match self.shape {
            Shape::Fixed { words } => {
                let own = if self.header_free && words as usize * 8 <= MAX_HEADER_FREE_BYTES {
                    // A 0-word object still takes an 8-byte slot.
                    let bytes = (words as usize * 8).max(8);
                    own_class(bytes, kind).map(|spc| (spc, spc.size_class().size() as u32))
                } else {
                    None
                };
                own.or_else(|| {
                    // The header and the payload; at least 16 bytes, so
                    // that the object's address (after the header) lies
                    // inside its slot.
                    let bytes = ((words as usize + 1) * 8).max(16);
                    SizeClass::for_size(bytes)
                        .map(|class| (SpanClass::new(class, kind), class.size() as u32))
                })
            }
            _ => None,
        };
    }

    /// Checks the descriptor is self-consistent: elements have words, the
    /// map goes with the shape, and every pointer word it names lies inside
    /// its run.
    pub(crate) fn validate(&self) -> Result<(), DescriptorError> {
        let name = || self.name.clone();
        match self.shape {
            Shape::Array { elem_words: 0 } | Shape::PrefixArray { elem_words: 0, .. } => {
                return Err(DescriptorError::EmptyElement { name: name() })
            }
            Shape::Bytes if self.has_pointers() => {
                return Err(DescriptorError::PointersInBytes { name: name() })
            }
            _ => {}
        }
        let fits = match (&self.pointers, self.shape) {
            (Pointers::None | Pointers::Traced { .. } | Pointers::TracedWith { .. }, _) => true,
            (Pointers::Bitmap(_) | Pointers::Leading(_), shape) => {
                matches!(shape, Shape::Fixed { .. } | Shape::Array { .. })
            }
            (Pointers::PrefixArray { .. }, shape) => matches!(shape, Shape::PrefixArray { .. }),
        };
        if !fits {
            return Err(DescriptorError::PointersDoNotFitShape {
                name: name(),
                shape: self.shape,
            });
        }
        let ((head, head_words), (elem, elem_words)) = self.parts();
        for (words, limit) in [(head, head_words), (elem, elem_words)] {
            if let Some(index) = words.first_from(limit) {
                return Err(DescriptorError::PointerOutOfRange {
                    name: name(),
                    index: index as u32,
                    words: limit as u32,
                });
            }
        }
        Ok(())
    }

    /// Calls `f(word_index)` for every pointer field of an object of length
    /// `len`, in order (types with a map; none for traced types). The mark
    /// loop's inner loop: every object scanned, every array element.
    #[inline(always)]
    pub(crate) fn for_each_pointer_word(&self, len: usize, mut f: impl FnMut(usize)) {
        // One match on the map and the shape, then the loop: no
        // intermediate form in the mark loop for fixed and array shapes.
        match (&self.pointers, self.shape) {
            // Fixed-size objects (most objects): one run, no element loop.
            (Pointers::Bitmap(bits), Shape::Fixed { .. }) => for_each_bit(bits, 0, &mut f),
            (Pointers::Bitmap(bits), Shape::Array { elem_words }) => {
                for e in 0..len {
                    for_each_bit(bits, e * elem_words as usize, &mut f);
                }
            }
            (&Pointers::Leading(n), Shape::Fixed { .. }) => {
                for i in 0..n as usize {
                    f(i);
                }
            }
            (&Pointers::Leading(n), Shape::Array { elem_words }) => {
                for_each_leading(n as usize, 0, elem_words as usize, len, &mut f);
            }
            (Pointers::PrefixArray { .. }, _) => {
                let ((head, head_words), (elem, elem_words)) = self.parts();
                head.for_each_repeated(0, head_words, 1, &mut f);
                elem.for_each_repeated(head_words, elem_words, len, &mut f);
            }
            _ => {}
        }
    }

    /// Runs the trace callback of a traced type (nothing for other types).
    /// Not generic: the marker's shading step sits behind `edges`, once.
    #[inline]
    pub(crate) fn trace(&self, view: ObjectView<'_>, edges: &mut Edges<'_>) {
        match &self.pointers {
            Pointers::Traced { trace, .. } => trace(view, edges),
            Pointers::TracedWith { trace, .. } => trace(view, edges),
            _ => {}
        }
    }
}

/// An object's layout, read back from its header and its type's descriptor
/// ([`Mutator::layout_of`](crate::Mutator::layout_of)): what a VM's printer,
/// debugger or heap walker needs to interpret the payload words.
///
/// ```
/// use tricolor_collector::{Config, Heap, PointerWords, Shape, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let closure = heap.register_type(TypeDescriptor::prefix_array(
///     "Closure", 2, PointerWords::at(&[1]), 1, PointerWords::leading(1),
/// ))?;
/// let mut m = heap.attach()?;
/// let c = m.alloc(closure, 3);
/// // SAFETY: `c` was just allocated, with no safepoint since.
/// let layout = unsafe { m.layout_of(c) };
/// assert_eq!((layout.ty, layout.len, layout.words), (closure, 3, 5));
/// assert_eq!(layout.descriptor.name(), "Closure");
/// assert_eq!(layout.descriptor.shape(), Shape::PrefixArray { prefix_words: 2, elem_words: 1 });
/// let pointers: Vec<usize> =
///     (0..layout.words).filter(|&i| layout.descriptor.is_pointer_word(i)).collect();
/// assert_eq!(pointers, [1, 2, 3, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Copy, Clone, Debug)]
pub struct ObjectLayout<'h> {
    /// The object's type.
    pub ty: TypeId,
    /// The length its header records: elements for array shapes, bytes for
    /// a byte array, 0 for a fixed-size type.
    pub len: usize,
    /// Its payload words (after the header):
    /// `descriptor.payload_words(len)`.
    pub words: usize,
    /// The type's registered descriptor.
    pub descriptor: &'h TypeDescriptor,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_bad_descriptors() {
        assert!(TypeDescriptor::fixed("ok", 3, &[0, 2]).validate().is_ok());
        let e = TypeDescriptor::fixed("Node", 2, &[2])
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "type `Node`: pointer word 2 is outside its 2 payload words"
        );
        assert!(matches!(
            TypeDescriptor::array("A", 0, &[]).validate(),
            Err(DescriptorError::EmptyElement { .. })
        ));
        let t = TypeDescriptor::traced("T", Shape::Bytes, |_, _| {}, |_| None);
        assert!(matches!(
            t.validate(),
            Err(DescriptorError::PointersInBytes { .. })
        ));
    }

    #[test]
    fn pointer_words_repeat_per_element() {
        let d = TypeDescriptor::array("Pair", 3, &[0, 2]);
        let mut got = Vec::new();
        d.for_each_pointer_word(3, |i| got.push(i));
        assert_eq!(got, vec![0, 2, 3, 5, 6, 8]);
        assert!(d.is_pointer_word(5) && !d.is_pointer_word(4));
        assert_eq!(d.payload_words(3), Some(9));
        assert_eq!(d.payload_words(usize::MAX), None);
        let f = TypeDescriptor::fixed("F", 70, &[1, 65]);
        let mut got = Vec::new();
        f.for_each_pointer_word(0, |i| got.push(i));
        assert_eq!(got, vec![1, 65]);
        assert_eq!(f.payload_words(1), None, "fixed types take length 0");
    }

    #[test]
    fn validation_of_leading_and_prefix_array_maps() {
        let err = |d: TypeDescriptor| d.validate().unwrap_err();
        assert!(TypeDescriptor::fixed_leading("ok", 3, 3).validate().is_ok());
        assert_eq!(
            err(TypeDescriptor::fixed_leading("F", 3, 5)),
            DescriptorError::PointerOutOfRange {
                name: "F".into(),
                index: 3,
                words: 3
            }
        );
        assert!(matches!(
            err(TypeDescriptor::array_leading("A", 2, 3)),
            DescriptorError::PointerOutOfRange {
                index: 2,
                words: 2,
                ..
            }
        ));
        let pa = |prefix_words, prefix, elem_words, elem| {
            TypeDescriptor::prefix_array("P", prefix_words, prefix, elem_words, elem)
        };
        assert!(pa(0, PointerWords::None, 1, PointerWords::leading(1))
            .validate()
            .is_ok());
        assert!(matches!(
            err(pa(2, PointerWords::at(&[2]), 1, PointerWords::None)),
            DescriptorError::PointerOutOfRange {
                index: 2,
                words: 2,
                ..
            }
        ));
        assert!(matches!(
            err(pa(2, PointerWords::None, 2, PointerWords::at(&[0, 3]))),
            DescriptorError::PointerOutOfRange {
                index: 3,
                words: 2,
                ..
            }
        ));
        assert!(matches!(
            err(pa(2, PointerWords::leading(1), 0, PointerWords::None)),
            DescriptorError::EmptyElement { .. }
        ));
        let prefix_map = Pointers::PrefixArray {
            prefix: PointerWords::leading(1),
            elem: PointerWords::None,
        };
        for (shape, pointers) in [
            (Shape::Fixed { words: 2 }, prefix_map.clone()),
            (Shape::Array { elem_words: 2 }, prefix_map),
            (
                Shape::PrefixArray {
                    prefix_words: 1,
                    elem_words: 1,
                },
                Pointers::Leading(1),
            ),
        ] {
            let e = err(TypeDescriptor::new("M", shape, pointers));
            assert!(
                matches!(e, DescriptorError::PointersDoNotFitShape { .. }),
                "{e}"
            );
        }
        assert!(matches!(
            err(TypeDescriptor::new("B", Shape::Bytes, Pointers::Leading(1))),
            DescriptorError::PointersInBytes { .. }
        ));
        let none = pa(2, PointerWords::None, 1, PointerWords::leading(0));
        assert!(!none.has_pointers() && matches!(none.pointers, Pointers::None));
    }

    /// Which payload words of an object of length `len` the descriptor's
    /// maps make pointers, computed word by word from the definition.
    fn model(
        prefix_words: usize,
        prefix: &[bool],
        elem_words: usize,
        elem: &[bool],
        len: usize,
    ) -> Vec<usize> {
        let words = prefix_words + len * elem_words;
        (0..words)
            .filter(|&i| {
                if i < prefix_words {
                    prefix[i]
                } else {
                    elem[(i - prefix_words) % elem_words]
                }
            })
            .collect()
    }

    fn map_of(bits: &[bool], leading: bool) -> PointerWords {
        let n = bits.iter().take_while(|&&b| b).count();
        if leading {
            return PointerWords::leading(n as u32);
        }
        let at: Vec<u32> = (0..bits.len() as u32)
            .filter(|&i| bits[i as usize])
            .collect();
        PointerWords::at(&at)
    }

    proptest::proptest! {
        /// The scanner's order and the field check agree with the model,
        /// for prefix-array, fixed and array shapes, bitmap and leading maps.
        #[test]
        fn pointer_words_match_the_model(
            prefix in proptest::collection::vec(proptest::bool::ANY, 0..70),
            elem in proptest::collection::vec(proptest::bool::ANY, 1..70),
            prefix_leading in proptest::bool::ANY,
            elem_leading in proptest::bool::ANY,
            len in 0usize..6,
        ) {
            // A leading map keeps only the first run of set bits.
            let cut = |bits: &[bool], leading: bool| -> Vec<bool> {
                if !leading {
                    return bits.to_vec();
                }
                let n = bits.iter().take_while(|&&b| b).count();
                (0..bits.len()).map(|i| i < n).collect()
            };
            let (p, e) = (cut(&prefix, prefix_leading), cut(&elem, elem_leading));
            let (pw, ew) = (prefix.len(), elem.len());
            let want = model(pw, &p, ew, &e, len);
            let d = TypeDescriptor::prefix_array(
                "P", pw as u32, map_of(&p, prefix_leading), ew as u32, map_of(&e, elem_leading),
            );
            proptest::prop_assert!(d.validate().is_ok());
            proptest::prop_assert_eq!(d.payload_words(len), Some(pw + len * ew));
            let mut got = Vec::new();
            d.for_each_pointer_word(len, |i| got.push(i));
            proptest::prop_assert_eq!(&got, &want);
            let checked: Vec<usize> =
                (0..pw + len * ew).filter(|&i| d.is_pointer_word(i)).collect();
            proptest::prop_assert_eq!(&checked, &want);
            proptest::prop_assert_eq!(d.has_pointers(), p.contains(&true) || e.contains(&true));
            // The same element map as an array, and the prefix map as a
            // fixed-size object.
            let arr = map_of(&e, elem_leading).into();
            let a = TypeDescriptor::new("A", Shape::Array { elem_words: ew as u32 }, arr);
            let mut got = Vec::new();
            a.for_each_pointer_word(len, |i| got.push(i));
            proptest::prop_assert_eq!(got, model(0, &[], ew, &e, len));
            let fix = map_of(&p, prefix_leading).into();
            let f = TypeDescriptor::new("F", Shape::Fixed { words: pw as u32 }, fix);
            let mut got = Vec::new();
            f.for_each_pointer_word(0, |i| got.push(i));
            proptest::prop_assert_eq!(got, model(pw, &p, 1, &[false], 0));
        }
    }

    #[test]
    fn small_fixed_types_get_their_span_class_at_registration() {
        use tricolor_allocator::{ObjectKind, SizeClass, SpanClass};
        let none = |_: usize, _: ObjectKind| -> Option<SpanClass> { None };
        let mut node = TypeDescriptor::fixed("Node", 4, &[0, 1]);
        node.prepare(none);
        // Header and four words: 40 bytes, in the 48-byte class.
        let class = SizeClass::for_size(40).unwrap();
        assert_eq!(
            node.small_fixed,
            Some((SpanClass::new(class, ObjectKind::Scan), 48))
        );
        let mut blob = TypeDescriptor::fixed("Blob", 2, &[]);
        blob.prepare(none);
        assert!(blob.small_fixed.unwrap().0.is_noscan());
        // A header and no payload: the 16-byte class, so that the object's
        // address (after the header) is inside its slot.
        let mut empty = TypeDescriptor::fixed("Empty", 0, &[]);
        empty.prepare(none);
        assert_eq!(empty.small_fixed.map(|(_, size)| size), Some(16));
        // Over 32 KiB: a large object, no size class.
        let mut huge = TypeDescriptor::fixed("Huge", 5000, &[0]);
        huge.prepare(none);
        assert_eq!(huge.small_fixed, None);
        let mut arr = TypeDescriptor::array("Arr", 1, &[0]);
        arr.prepare(none);
        assert_eq!(arr.small_fixed, None, "arrays are sized per allocation");
    }

    #[test]
    fn header_free_types_ask_for_an_own_class_by_payload_size() {
        use tricolor_allocator::{ObjectKind, PageHeap, SizeClass, SpanClass};
        let page = PageHeap::new(tricolor_allocator::Config::default());
        let mut asked = Vec::new();
        let mut ask = |bytes: usize, kind: ObjectKind| {
            asked.push((bytes, kind));
            page.own_class(bytes, kind, 0, 0)
        };
        let mut node = TypeDescriptor::fixed("Node", 2, &[0, 1]).header_free();
        node.prepare(&mut ask);
        let (spc, size) = node.small_fixed.unwrap();
        assert_eq!((spc.own(), size), (Some(1), 16), "two words, no header");
        let mut unit = TypeDescriptor::fixed("Unit", 0, &[]).header_free();
        unit.prepare(&mut ask);
        assert_eq!(
            unit.small_fixed.unwrap().1,
            8,
            "an empty object takes a word"
        );
        // Too big for header-free: a header, a shared class, nothing asked.
        let words = (MAX_HEADER_FREE_BYTES / 8) as u32 + 1;
        let mut big = TypeDescriptor::fixed("Big", words, &[]).header_free();
        big.prepare(&mut ask);
        let class = SizeClass::for_size((words as usize + 1) * 8).unwrap();
        assert_eq!(
            big.small_fixed.unwrap().0,
            SpanClass::new(class, ObjectKind::NoScan)
        );
        // Refused (every own class taken): a header as usual.
        let mut refused = TypeDescriptor::fixed("Refused", 2, &[0, 1]).header_free();
        refused.prepare(|_, _| None);
        assert_eq!(refused.small_fixed.unwrap().1, 24);
        assert_eq!(asked, [(16, ObjectKind::Scan), (8, ObjectKind::NoScan)]);
    }
}
