//! The type registry: every [`TypeDescriptor`] a heap was given, by index.
//!
//! An object's header names its type by index (`object` module docs); markers
//! read the table without a lock, so it is append-only and each slot is set
//! once. A heap holds up to [`MAX_TYPES`] types, in chunks of `TYPE_CHUNK`
//! made as they are needed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tricolor_allocator::{ObjectKind, SpanClass};

use crate::descriptor::{DescriptorError, TypeDescriptor, TypeId, MAX_TYPES};

pub(crate) const TYPE_CHUNK: usize = 1024;
pub(crate) const TYPE_CHUNKS: usize = MAX_TYPES / TYPE_CHUNK;

/// The registered descriptors. Append-only, read without a lock by markers:
/// each slot is set once.
pub(crate) struct TypeTable {
    chunks: [OnceLock<Box<[OnceLock<TypeDescriptor>]>>; TYPE_CHUNKS],
    count: Mutex<usize>,
    /// This heap's tag in every `TypeId` it hands out (random per heap).
    tag: u32,
    /// Whether any type is header-free: until one is, no header read needs
    /// to ask a span (`HeapInner::object_type`). Set before the type's id
    /// is returned, so before any of its objects exists.
    any_header_free: AtomicBool,
}

impl TypeTable {
    pub(crate) fn new() -> TypeTable {
        use std::hash::{BuildHasher, Hasher};
        // std's RandomState is seeded randomly and differs per instance.
        let tag = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32;
        TypeTable {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            count: Mutex::new(0),
            tag,
            any_header_free: AtomicBool::new(false),
        }
    }

    /// Registers `desc`. A header-free descriptor gets an own span class
    /// from `own_class(slot bytes, kind, type index)` (the page heap's,
    /// whose spans carry the type index as their tag), or stays
    /// headed if that gives none (every own class taken, or a generational
    /// heap).
    pub(crate) fn register(
        &self,
        mut desc: TypeDescriptor,
        own_class: impl FnOnce(usize, ObjectKind, u32) -> Option<SpanClass>,
    ) -> Result<TypeId, DescriptorError> {
        desc.validate()?;
        let mut count = self.count.lock();
        let id = *count;
        if id >= TYPE_CHUNK * TYPE_CHUNKS {
            return Err(DescriptorError::TooManyTypes { name: desc.name });
        }
        desc.prepare(|bytes, kind| own_class(bytes, kind, id as u32));
        let small_fixed = desc.small_fixed;
        if small_fixed.is_some_and(|(spc, _)| spc.own().is_some()) {
            self.any_header_free.store(true, Ordering::Release);
        }
        let chunk = self.chunks[id / TYPE_CHUNK]
            .get_or_init(|| (0..TYPE_CHUNK).map(|_| OnceLock::new()).collect());
        chunk[id % TYPE_CHUNK]
            .set(desc)
            .unwrap_or_else(|_| unreachable!("type slots are set once, under the count lock"));
        *count += 1;
        Ok(TypeId {
            index: id as u32,
            heap: self.tag,
            small: small_fixed.map(|(spc, _)| spc),
        })
    }

    /// Whether any registered type is header-free.
    #[inline]
    pub(crate) fn has_header_free(&self) -> bool {
        self.any_header_free.load(Ordering::Acquire)
    }

    /// Whether `id` was handed out by this table (by this heap).
    #[inline]
    pub(crate) fn owns(&self, id: TypeId) -> bool {
        id.heap == self.tag
    }

    /// The descriptor for `id`, if `id` was registered with this heap.
    #[inline]
    pub(crate) fn get(&self, id: TypeId) -> Option<&TypeDescriptor> {
        if id.heap != self.tag {
            return None;
        }
        self.by_index(id.index)
    }

    /// The descriptor at `index` (from an object header), if registered.
    #[inline]
    pub(crate) fn by_index(&self, index: u32) -> Option<&TypeDescriptor> {
        let i = index as usize;
        self.chunks.get(i / TYPE_CHUNK)?.get()?[i % TYPE_CHUNK].get()
    }

    /// The `TypeId` for a header's type index.
    pub(crate) fn id_of(&self, index: u32) -> TypeId {
        self.id_with(index, self.by_index(index))
    }

    /// The `TypeId` and the descriptor at a header's type index, if
    /// registered: one table lookup for both.
    #[inline]
    pub(crate) fn entry(&self, index: u32) -> Option<(TypeId, &TypeDescriptor)> {
        let desc = self.by_index(index)?;
        Some((self.id_with(index, Some(desc)), desc))
    }

    /// The `TypeId` of index `index`, whose descriptor is `desc`.
    #[inline]
    fn id_with(&self, index: u32, desc: Option<&TypeDescriptor>) -> TypeId {
        TypeId {
            index,
            heap: self.tag,
            small: desc.and_then(|d| d.small_fixed).map(|(spc, _)| spc),
        }
    }
}
