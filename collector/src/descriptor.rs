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

use crate::object::ObjectView;

/// Index of a registered descriptor; what an object's header names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TypeId(pub(crate) u32);

impl TypeId {
    /// The raw index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// The shape of objects of a type.
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
pub struct Edges<'a> {
    pub(crate) sink: &'a mut dyn FnMut(usize),
}

impl Edges<'_> {
    /// Reports that the object refers to the object at `addr` (a base
    /// address in the same heap; 0 is ignored).
    #[inline]
    pub fn visit(&mut self, addr: usize) {
        if addr != 0 {
            (self.sink)(addr);
        }
    }
}

/// Enumerates the referents of an object of a traced type.
pub type TraceFn = fn(ObjectView<'_>, &mut Edges<'_>);
/// Decodes one stored word into the object address it carries, if any.
pub type DecodeFn = fn(u64) -> Option<usize>;

/// Where the pointers of an object are.
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
#[derive(Clone, Debug)]
pub struct TypeDescriptor {
    pub(crate) name: String,
    pub(crate) shape: Shape,
    pub(crate) pointers: Pointers,
}

/// Why a descriptor or an allocation request was rejected.
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
    /// Too many types registered.
    TooManyTypes,
}

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
            DescriptorError::TooManyTypes => write!(f, "too many types registered"),
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
    for &i in pointer_words {
        bits[i as usize / 64] |= 1 << (i % 64);
    }
    bits.into_boxed_slice()
}

impl TypeDescriptor {
    /// A fixed-size type of `words` payload words whose pointer fields are
    /// the word indices in `pointer_words`.
    pub fn fixed(name: impl Into<String>, words: u32, pointer_words: &[u32]) -> TypeDescriptor {
        TypeDescriptor {
            name: name.into(),
            shape: Shape::Fixed { words },
            pointers: if pointer_words.is_empty() {
                Pointers::None
            } else {
                Pointers::Bitmap(bitmap(pointer_words))
            },
        }
    }

    /// An array type: each element has `elem_words` words, of which those in
    /// `pointer_words` are pointer fields.
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
        }
    }

    /// A byte array (strings, buffers): no pointers, length in bytes.
    pub fn bytes(name: impl Into<String>) -> TypeDescriptor {
        TypeDescriptor {
            name: name.into(),
            shape: Shape::Bytes,
            pointers: Pointers::None,
        }
    }

    /// A type whose pointers a callback finds (tagged values, NaN-boxing).
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
        }
    }

    /// The type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The pointer map.
    pub fn pointers(&self) -> &Pointers {
        &self.pointers
    }

    /// Whether objects of this type may hold pointers.
    pub fn has_pointers(&self) -> bool {
        !matches!(self.pointers, Pointers::None)
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
            for (w, &word) in bits.iter().enumerate() {
                let mut b = word;
                while b != 0 {
                    let index = (w * 64) as u32 + b.trailing_zeros();
                    b &= b - 1;
                    if index >= unit {
                        return Err(DescriptorError::PointerOutOfRange {
                            name: self.name.clone(),
                            index,
                            words: unit,
                        });
                    }
                }
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
        bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
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
}
