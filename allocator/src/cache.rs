//! Per-thread caches (Go's `mcache`): one span per span class, no locks.
//!
//! A cache copies the allocation state of each span it holds (`freeindex`,
//! `alloc_cache`, the object count) into its own slot, so the fast path reads
//! and writes only the cache: find the lowest set bit of the slot's
//! `alloc_cache`, advance, compute the address, clear it if the span may hold
//! old data. No lock, no atomic read-modify-write, no call.
//!
//! When a span runs out, the cache writes the state back into the span and
//! hands it to its central, which gives it another (sweeping one on the way if
//! needed). [`Cache::release_all`] hands every span back; it must run before
//! the heap's sweep generation advances (the collector does it with the world
//! stopped), and runs when the cache is dropped.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::AllocError;
use crate::heap::PageHeap;
use crate::memory;
use crate::sizeclass::{
    size_to_class_unchecked, ObjectKind, SizeClass, SpanClass, ALL_SPAN_CLASSES, MAX_SMALL_SIZE,
};
use crate::span::SpanPtr;

/// The cache's copy of one span's allocation state.
#[derive(Copy, Clone)]
struct Slot {
    /// Bit 0 is slot `freeindex`; a set bit is a free slot.
    alloc_cache: u64,
    freeindex: usize,
    nelems: usize,
    base: usize,
    elem_size: usize,
    /// Objects allocated in the span (the span's count plus ours).
    alloc_count: usize,
    /// `alloc_count` when statistics were last flushed.
    counted: usize,
    needzero: bool,
    span: Option<SpanPtr>,
}

const EMPTY: Slot = Slot {
    alloc_cache: 0,
    freeindex: 0,
    nelems: 0,
    base: 0,
    elem_size: 0,
    alloc_count: 0,
    counted: 0,
    needzero: false,
    span: None,
};

/// Slots of a cache: one per value of a span class's index byte.
const CACHE_SLOTS: usize = 256;
const _: () = assert!(ALL_SPAN_CLASSES <= CACHE_SLOTS);

/// A per-thread allocation cache.
///
/// Not `Sync`: one thread at a time allocates through a cache. It may be sent
/// to another thread.
#[doc(alias = "mcache")]
pub struct Cache {
    /// By span class index (`SpanClass::index`); 256 slots, of which
    /// the first `ALL_SPAN_CLASSES` are used, so that indexing by the
    /// class's byte needs no bounds check on the fast path.
    slots: Box<[Slot; CACHE_SLOTS]>,
    heap: Arc<PageHeap>,
    /// Allocate black: set the mark bit of every object handed out (Go's
    /// `gcmarknewobject`). The collector turns this on for the whole of a
    /// concurrent mark, so that objects made while marking survive it.
    /// Written only by the cache's owner, or by the collector while it owns
    /// the cache (the world stopped, or the mutator parked).
    black: bool,
}

impl Cache {
    /// An empty cache allocating from `heap`.
    pub fn new(heap: Arc<PageHeap>) -> Cache {
        Cache {
            slots: Box::new([EMPTY; CACHE_SLOTS]),
            heap,
            black: false,
        }
    }

    /// Turns allocate-black on or off: while on, every object this cache
    /// hands out already carries its mark bit, so a mark in progress treats
    /// it as reached (and scanned: a new object holds no pointers yet).
    pub fn set_allocate_black(&mut self, on: bool) {
        self.black = on;
    }

    /// Whether allocate-black is on.
    pub fn allocate_black(&self) -> bool {
        self.black
    }

    /// The page heap this cache allocates from.
    pub fn heap(&self) -> &Arc<PageHeap> {
        &self.heap
    }

    /// Allocates `size` bytes, zeroed, 8-aligned (objects of a size class
    /// whose size is a multiple of 16 or more are aligned to that too, up to
    /// the page). Objects up to [`MAX_SMALL_SIZE`] come from the cache; larger
    /// ones get a span of their own.
    #[inline]
    pub fn alloc(&mut self, size: usize, kind: ObjectKind) -> Result<NonNull<u8>, AllocError> {
        if size.wrapping_sub(1) < MAX_SMALL_SIZE {
            let class = SizeClass::from_raw(size_to_class_unchecked(size));
            self.alloc_class(SpanClass::new(class, kind))
        } else if size == 0 {
            Err(AllocError::ZeroSize)
        } else {
            let p = self.heap.alloc_large(size, kind)?;
            if self.black {
                self.heap.mark(p.as_ptr() as usize);
            }
            Ok(p)
        }
    }

    /// Allocates one object of span class `spc` (a small class), zeroed:
    /// [`try_alloc_class`](Self::try_alloc_class), else the slow path (the
    /// next 64-slot window of the span, or a new span from the central).
    #[inline]
    pub fn alloc_class(&mut self, spc: SpanClass) -> Result<NonNull<u8>, AllocError> {
        match self.try_alloc_class(spc) {
            Some(p) => Ok(p),
            None => self.alloc_slow(spc),
        }
    }

    /// The fast path of [`alloc_class`](Self::alloc_class): one
    /// count-trailing-zeros on the cached bits, or `None` when the cached
    /// window has no free slot (the caller then takes the slow path). Small
    /// enough to inline into an embedder's allocation sequence.
    #[inline(always)]
    pub fn try_alloc_class(&mut self, spc: SpanClass) -> Option<NonNull<u8>> {
        debug_assert!(spc.size_class() != SizeClass::LARGE);
        let slot = &mut self.slots[spc.index()];
        let bit = slot.alloc_cache.trailing_zeros() as usize;
        let index = slot.freeindex + bit;
        // Go's nextFreeFast: a free bit in the cached window, inside the span,
        // and not the last bit of a 64-slot window (which needs a refill).
        if bit < 64 && index < slot.nelems && !(index + 1).is_multiple_of(64) {
            slot.alloc_cache = (slot.alloc_cache >> bit) >> 1;
            slot.freeindex = index + 1;
            slot.alloc_count += 1;
            let addr = slot.base + index * slot.elem_size;
            if self.black {
                mark_new(slot, index);
            }
            if slot.needzero {
                // SAFETY: slot `index` was free (its alloc-cache bit was set)
                // and lies inside a span this cache owns, so no one else holds
                // or can hand out this memory.
                unsafe { memory::zero(addr, slot.elem_size) };
            }
            // SAFETY: `addr` is a heap address, never zero (arenas are mapped
            // by the OS above the null page).
            return Some(unsafe { NonNull::new_unchecked(addr as *mut u8) });
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, spc: SpanClass) -> Result<NonNull<u8>, AllocError> {
        loop {
            let slot = &mut self.slots[spc.index()];
            if let Some(span) = slot.span {
                let nelems = slot.nelems;
                if let Some(index) =
                    span.next_free(&mut slot.freeindex, &mut slot.alloc_cache, nelems)
                {
                    slot.alloc_count += 1;
                    let addr = slot.base + index * slot.elem_size;
                    if self.black {
                        mark_new(slot, index);
                    }
                    if slot.needzero {
                        // SAFETY: as in the fast path: a free slot of a span we own.
                        unsafe { memory::zero(addr, slot.elem_size) };
                    }
                    return Ok(NonNull::new(addr as *mut u8).expect("heap addresses are non-null"));
                }
                self.release(spc);
            }
            self.refill(spc)?;
        }
    }

    /// Takes a span with free slots from the central.
    fn refill(&mut self, spc: SpanClass) -> Result<(), AllocError> {
        let _gate = self.heap.sweep_gate();
        let span = self.heap.cache_span(spc)?;
        let (freeindex, alloc_cache, alloc_count, needzero) = span.load_alloc_state();
        self.slots[spc.index()] = Slot {
            alloc_cache,
            freeindex,
            nelems: span.nelems(),
            base: span.base(),
            elem_size: span.elem_size(),
            alloc_count,
            counted: alloc_count,
            needzero,
            span: Some(span),
        };
        Ok(())
    }

    /// Writes a slot's state back into its span and returns the span.
    fn release(&mut self, spc: SpanClass) {
        let slot = std::mem::replace(&mut self.slots[spc.index()], EMPTY);
        if let Some(span) = slot.span {
            let _gate = self.heap.sweep_gate();
            span.store_alloc_state(slot.freeindex, slot.alloc_cache, slot.alloc_count);
            self.heap
                .note_mallocs(spc.size_class(), slot.alloc_count - slot.counted);
            self.heap.uncache_span(self.heap.central(spc), span);
        }
    }

    /// Hands every cached span back to its central (Go's `releaseAll`).
    /// Required before the heap's sweep generation advances.
    pub fn release_all(&mut self) {
        for i in 0..ALL_SPAN_CLASSES {
            if let Some(span) = self.slots[i].span {
                self.release(span.span_class());
            }
        }
    }

    /// Adds the objects allocated since the last flush to the heap's
    /// statistics without giving up any span.
    pub fn flush_stats(&mut self) {
        for slot in self.slots.iter_mut() {
            if let Some(span) = slot.span {
                let n = slot.alloc_count - slot.counted;
                slot.counted = slot.alloc_count;
                self.heap.note_mallocs(span.span_class().size_class(), n);
            }
        }
    }

    /// Number of spans the cache holds.
    pub fn cached_spans(&self) -> usize {
        self.slots.iter().filter(|s| s.span.is_some()).count()
    }
}

/// Sets the mark bit of the object just allocated in slot `index` of the
/// slot's span (allocate-black).
#[inline]
fn mark_new(slot: &Slot, index: usize) {
    if let Some(span) = slot.span {
        span.mark_bits().test_and_set(index);
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.release_all();
    }
}

// A Cache owns its slots exclusively; the spans it points to are shared
// metadata whose owner-only fields it alone writes while it holds them.
// `SpanPtr` is Send, so Cache is Send automatically; it is deliberately not
// Sync-shared (all methods take `&mut self`).
