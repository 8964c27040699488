//! Type descriptors: how big an object is and where its pointers are.
//!
//! The collector is precise: a word is a pointer only if the object's
//! descriptor says so. A descriptor has a *shape* (a fixed number of payload
//! words, an array of fixed-size elements, or an array of bytes) and a
//! *pointer map*:
//!
//! - [`Pointers::None`]: no pointers; objects go to noscan spans and are
//!   never scanned.
//! - [`Pointers::Bitmap`]: one bit per payload word (per element word for
//!   arrays, repeated for every element); a set bit is a pointer field, which
//!   holds 0 (null) or the base address of an object of the same heap.
//! - [`Pointers::Traced`]: a callback for layouts a bitmap cannot describe,
//!   such as tagged or NaN-boxed values. `trace` reports the objects an object
//!   refers to; `decode` turns one stored word into the pointer it carries,
//!   if any (the write barrier uses it on stores).
//!
//! Descriptors are registered with a heap ([`crate::Heap::register_type`]),
//! which checks them and returns a [`TypeId`] that goes into each object's
//! header word.

use std::fmt;

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
}

/// The shape of objects of a type.
///
/// The constructors of [`TypeDescriptor`] choose the shape; give it
/// explicitly to [`TypeDescriptor::traced`].
///
/// ```
/// use tricolor_collector::{Shape, TypeDescriptor};
///
/// assert_eq!(TypeDescriptor::fixed("Pair", 2, &[0, 1]).shape(), Shape::Fixed { words: 2 });
/// assert_eq!(TypeDescriptor::array("Map", 2, &[0, 1]).shape(), Shape::Array { elem_words: 2 });
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
    /// `len` bytes (rounded up to whole words); never holds pointers.
    Bytes,
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

/// Where the pointers of an object are.
///
/// ```
/// use tricolor_collector::{Pointers, TypeDescriptor};
///
/// let d = TypeDescriptor::fixed("Node", 3, &[0, 2]);
/// match d.pointers() {
///     Pointers::Bitmap(bits) => assert_eq!(bits[0], 0b101),
///     other => panic!("expected a bitmap, got {other:?}"),
/// }
/// assert!(matches!(TypeDescriptor::bytes("String").pointers(), Pointers::None));
/// ```
#[derive(Clone)]
pub enum Pointers {
    /// The object holds no pointers (noscan).
    None,
    /// Bit `i` set ⇒ payload word `i` (of the object, or of each element of
    /// an array) is a pointer field.
    Bitmap(Box<[u64]>),
    /// A callback finds the pointers.
    Traced {
        /// Reports every referent of an object.
        trace: TraceFn,
        /// Extracts the pointer a stored word carries.
        decode: DecodeFn,
    },
}

impl fmt::Debug for Pointers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointers::None => write!(f, "None"),
            Pointers::Bitmap(bits) => write!(f, "Bitmap({bits:x?})"),
            Pointers::Traced { .. } => write!(f, "Traced"),
        }
    }
}

/// A type descriptor.
///
/// Made by [`fixed`](Self::fixed), [`array`](Self::array),
/// [`bytes`](Self::bytes) or [`traced`](Self::traced), and registered with
/// [`Heap::register_type`](crate::Heap::register_type).
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
    /// skips the size → class lookup.
    pub(crate) small_fixed: Option<(tricolor_allocator::SpanClass, u32)>,
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
    /// A pointer index lies outside the object (or element).
    PointerOutOfRange {
        /// The type's name.
        name: String,
        /// The offending word index.
        index: u32,
        /// Words available.
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
        TypeDescriptor {
            name: name.into(),
            shape: Shape::Fixed { words },
            pointers: if pointer_words.is_empty() {
                Pointers::None
            } else {
                Pointers::Bitmap(bitmap(pointer_words))
            },
            small_fixed: None,
        }
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
        TypeDescriptor {
            name: name.into(),
            shape: Shape::Array { elem_words },
            pointers: if pointer_words.is_empty() {
                Pointers::None
            } else {
                Pointers::Bitmap(bitmap(pointer_words))
            },
            small_fixed: None,
        }
    }

    /// A byte array (strings, buffers): no pointers, length in bytes.
    ///
    /// The bytes are rounded up to whole words and accessed a word at a time
    /// with [`Mutator::load_word`](crate::Mutator::load_word) and
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
        TypeDescriptor {
            name: name.into(),
            shape: Shape::Bytes,
            pointers: Pointers::None,
            small_fixed: None,
        }
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
        TypeDescriptor {
            name: name.into(),
            shape,
            pointers: Pointers::Traced { trace, decode },
            small_fixed: None,
        }
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
        !matches!(self.pointers, Pointers::None)
    }

    /// Fills in what registration precomputes (see `small_fixed`).
    pub(crate) fn prepare(&mut self) {
        use tricolor_allocator::{ObjectKind, SizeClass, SpanClass};
        self.small_fixed = match self.shape {
            Shape::Fixed { words } => {
                let bytes = (words as usize + 1) * 8;
                SizeClass::for_size(bytes).map(|class| {
                    let kind = if self.has_pointers() {
                        ObjectKind::Scan
                    } else {
                        ObjectKind::NoScan
                    };
                    (SpanClass::new(class, kind), class.size() as u32)
                })
            }
            _ => None,
        };
    }

    /// Checks the descriptor is self-consistent.
    pub(crate) fn validate(&self) -> Result<(), DescriptorError> {
        let unit = match self.shape {
            Shape::Fixed { words } => words,
            Shape::Array { elem_words: 0 } => {
                return Err(DescriptorError::EmptyElement {
                    name: self.name.clone(),
                })
            }
            Shape::Array { elem_words } => elem_words,
            Shape::Bytes => {
                if self.has_pointers() {
                    return Err(DescriptorError::PointersInBytes {
                        name: self.name.clone(),
                    });
                }
                return Ok(());
            }
        };
        if let Pointers::Bitmap(bits) = &self.pointers {
            let past_end = bits.view_bits::<Lsb0>().get(unit as usize..);
            if let Some(beyond) = past_end.and_then(|b| b.first_one()) {
                return Err(DescriptorError::PointerOutOfRange {
                    name: self.name.clone(),
                    index: unit + beyond as u32,
                    words: unit,
                });
            }
        }
        Ok(())
    }

    /// Payload words of an object of this type with length `len`, or `None`
    /// if `len` does not suit the shape or the size overflows.
    pub(crate) fn payload_words(&self, len: usize) -> Option<usize> {
        match self.shape {
            Shape::Fixed { words } => (len == 0).then_some(words as usize),
            Shape::Array { elem_words } => len.checked_mul(elem_words as usize),
            Shape::Bytes => Some(len.div_ceil(8)),
        }
    }

    /// Whether payload word `index` of an object of length `len` is a pointer
    /// field (bitmap types only; traced types answer `false`).
    #[inline]
    pub(crate) fn is_pointer_word(&self, index: usize) -> bool {
        let Pointers::Bitmap(bits) = &self.pointers else {
            return false;
        };
        let unit = match self.shape {
            Shape::Fixed { words } => words as usize,
            Shape::Array { elem_words } => elem_words as usize,
            Shape::Bytes => return false,
        };
        let i = index % unit.max(1);
        bits.view_bits::<Lsb0>().get(i).is_some_and(|b| *b)
    }

    /// Calls `f(word_index)` for every pointer field of an object of length
    /// `len` (bitmap types).
    #[inline]
    pub(crate) fn for_each_pointer_word(&self, len: usize, mut f: impl FnMut(usize)) {
        let Pointers::Bitmap(bits) = &self.pointers else {
            return;
        };
        let (unit, count) = match self.shape {
            Shape::Fixed { words } => (words as usize, 1),
            Shape::Array { elem_words } => (elem_words as usize, len),
            Shape::Bytes => return,
        };
        // The mark loop's inner loop (every object scanned, every array
        // element): one `trailing_zeros` per pointer over the raw words, as
        // bitvec's `iter_ones` re-slices for each bit it finds.
        for e in 0..count {
            let base = e * unit;
            for (w, &word) in bits.iter().enumerate() {
                let mut b = word;
                while b != 0 {
                    f(base + w * 64 + b.trailing_zeros() as usize);
                    b &= b - 1;
                }
            }
        }
    }
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
    fn small_fixed_types_get_their_span_class_at_registration() {
        use tricolor_allocator::{ObjectKind, SizeClass, SpanClass};
        let mut node = TypeDescriptor::fixed("Node", 4, &[0, 1]);
        node.prepare();
        // Header and four words: 40 bytes, in the 48-byte class.
        let class = SizeClass::for_size(40).unwrap();
        assert_eq!(
            node.small_fixed,
            Some((SpanClass::new(class, ObjectKind::Scan), 48))
        );
        let mut blob = TypeDescriptor::fixed("Blob", 2, &[]);
        blob.prepare();
        assert!(blob.small_fixed.unwrap().0.is_noscan());
        // Over 32 KiB: a large object, no size class.
        let mut huge = TypeDescriptor::fixed("Huge", 5000, &[0]);
        huge.prepare();
        assert_eq!(huge.small_fixed, None);
        let mut arr = TypeDescriptor::array("Arr", 1, &[0]);
        arr.prepare();
        assert_eq!(arr.small_fixed, None, "arrays are sized per allocation");
    }
}
