//! Arenas and the address → span index.
//!
//! An `Arena` is one reservation of address space, a whole number of
//! [`ARENA_SIZE`] chunks aligned to [`ARENA_SIZE`]. Each arena keeps a table with
//! one entry per page naming the span that owns the page (Go's `heapArena.spans`).
//!
//! The `ArenaIndex` maps any address to its arena in O(1) with two loads: the
//! address space (47 bits on x86-64 and AArch64 Linux) is cut into 64 MiB chunks,
//! and a two-level radix table over the chunk number holds a pointer to the
//! arena that covers each chunk. Level-2 tables are allocated only for the
//! parts of the address space the heap uses.
//!
//! Concurrency: entries are written only under the page-heap lock and read
//! without any lock. Writers publish with `Release`, readers load with
//! `Acquire`, so a reader that sees an entry also sees the arena or span
//! initialisation that preceded it. Arenas and spans are never freed while the
//! heap lives (spans are recycled, not freed), so a pointer read from a table
//! never dangles; it may be stale, which is why lookups also check span state.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering::*};

use crate::sizeclass::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::Span;

/// log2 of [`ARENA_SIZE`].
pub const ARENA_SHIFT: usize = 26;
/// Granularity of address-space reservation: 64 MiB.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages in one [`ARENA_SIZE`] chunk.
pub const PAGES_PER_ARENA_CHUNK: usize = ARENA_SIZE / PAGE_SIZE;

/// Bits of user address space the index covers.
const ADDRESS_BITS: usize = 47;
const CHUNK_BITS: usize = ADDRESS_BITS - ARENA_SHIFT; // 21
const L2_BITS: usize = 11;
const L1_BITS: usize = CHUNK_BITS - L2_BITS; // 10
const L1_ENTRIES: usize = 1 << L1_BITS;
const L2_ENTRIES: usize = 1 << L2_BITS;

/// One reservation of address space and its page → span table.
#[doc(alias = "heapArena")]
pub(crate) struct Arena {
    /// First byte; a multiple of [`ARENA_SIZE`]. Immutable.
    pub(crate) base: usize,
    /// Length in bytes; a multiple of [`ARENA_SIZE`]. Immutable.
    pub(crate) size: usize,
    /// Dense index of this arena in the page heap's arena list. Immutable.
    pub(crate) id: usize,
    /// Owner span of each page, or null. An in-use span is entered for every
    /// one of its pages; free pages have null. Written under the heap lock.
    spans: Box<[AtomicPtr<Span>]>,
}

impl Arena {
    pub(crate) fn new(base: usize, size: usize, id: usize) -> Arena {
        debug_assert!(
            base.is_multiple_of(ARENA_SIZE) && size.is_multiple_of(ARENA_SIZE) && size > 0
        );
        let npages = size / PAGE_SIZE;
        Arena {
            base,
            size,
            id,
            spans: (0..npages)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// Pages in the arena.
    pub(crate) fn npages(&self) -> usize {
        self.spans.len()
    }

    /// Whether `addr` lies inside this arena.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.size
    }

    /// Page index of `addr`, which must lie inside the arena.
    #[inline]
    pub(crate) fn page_of(&self, addr: usize) -> usize {
        debug_assert!(self.contains(addr));
        (addr - self.base) >> PAGE_SHIFT
    }

    /// Address of page `page`.
    pub(crate) fn page_addr(&self, page: usize) -> usize {
        self.base + (page << PAGE_SHIFT)
    }

    /// The span owning page `page`, if any.
    #[inline]
    pub(crate) fn span_at(&self, page: usize) -> Option<NonNull<Span>> {
        NonNull::new(self.spans[page].load(Acquire))
    }

    /// Enters `span` (or null) for pages `first .. first + n`. Caller holds the
    /// heap lock.
    pub(crate) fn set_spans(&self, first: usize, n: usize, span: *mut Span) {
        for entry in &self.spans[first..first + n] {
            entry.store(span, Release);
        }
    }
}

/// Address → arena, in O(1). See the module docs.
pub(crate) struct ArenaIndex {
    l1: Box<[AtomicPtr<[AtomicPtr<Arena>; L2_ENTRIES]>]>,
}

impl ArenaIndex {
    pub(crate) fn new() -> ArenaIndex {
        ArenaIndex {
            l1: (0..L1_ENTRIES)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// The arena covering `addr`, if the heap has one.
    #[inline]
    pub(crate) fn lookup(&self, addr: usize) -> Option<NonNull<Arena>> {
        let chunk = addr >> ARENA_SHIFT;
        if chunk >> CHUNK_BITS != 0 {
            return None;
        }
        let l2 = self.l1[chunk >> L2_BITS].load(Acquire);
        if l2.is_null() {
            return None;
        }
        // SAFETY: a non-null level-1 entry points to a level-2 table allocated
        // by `insert` and freed only in `drop`, which needs `&mut self`.
        let l2 = unsafe { &*l2 };
        NonNull::new(l2[chunk & (L2_ENTRIES - 1)].load(Acquire))
    }

    /// Enters `arena` for every chunk it covers. Caller holds the heap lock
    /// (inserts are serialised), and the arena outlives the index.
    pub(crate) fn insert(&self, arena: &Arena) {
        let first = arena.base >> ARENA_SHIFT;
        let last = (arena.base + arena.size - 1) >> ARENA_SHIFT;
        assert!(
            last >> CHUNK_BITS == 0,
            "arena at {:#x} lies beyond the {ADDRESS_BITS}-bit address space the index covers",
            arena.base
        );
        for chunk in first..=last {
            let slot = &self.l1[chunk >> L2_BITS];
            let mut l2 = slot.load(Acquire);
            if l2.is_null() {
                let fresh: Box<[AtomicPtr<Arena>; L2_ENTRIES]> =
                    Box::new(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())));
                l2 = Box::into_raw(fresh);
                slot.store(l2, Release);
            }
            // SAFETY: `l2` is a live level-2 table (just made, or made earlier by
            // this function), freed only in `drop`.
            let l2 = unsafe { &*l2 };
            l2[chunk & (L2_ENTRIES - 1)].store(arena as *const Arena as *mut Arena, Release);
        }
    }
}

impl Drop for ArenaIndex {
    fn drop(&mut self) {
        for slot in self.l1.iter() {
            let l2 = slot.load(Relaxed);
            if !l2.is_null() {
                // SAFETY: every non-null entry came from `Box::into_raw` in
                // `insert`, and `&mut self` means no reader remains.
                drop(unsafe { Box::from_raw(l2) });
            }
        }
    }
}
