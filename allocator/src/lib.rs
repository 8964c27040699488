//! # tricolor-allocator
//!
//! The memory layer of the tricolor collector: Go's span-based size-class
//! allocator (`mheap` / `mcentral` / `mcache` / `mspan`), written in Rust. It
//! knows nothing of the collector: it hands out zeroed object slots, keeps one
//! mark bit per slot for a marker to set, and on sweeping turns the mark bits
//! into the new allocation state. The collector decides what is marked.
//!
//! ## The design, in six parts
//!
//! 1. **Arenas** ([`arena`] module). Address space is reserved in
//!    64 MiB-aligned arenas with `PROT_NONE` and `MAP_NORESERVE`, and committed
//!    in chunks as the page heap grows. Pages are 8 KiB. Any address maps to its
//!    arena through a two-level radix index (two loads), and to its span
//!    through the arena's page table (one more load): O(1), no lock.
//!
//! 2. **Size classes** ([`SizeClass`], [`SpanClass`]). Objects up to 32 KiB are
//!    rounded up to one of 67 classes (Go's table, re-derived by a test); each
//!    class has a span length in pages that leaves at most 1/8 of the span as
//!    tail. A span class is a size class in a scan or noscan flavour; objects
//!    with no pointers live in noscan spans, which the marker never scans.
//!    Besides these shared classes, an owner may take up to 64 *own* classes
//!    ([`PageHeap::own_class`]): spans of a size class that hold its objects
//!    only and carry its tag, which is how the collector keeps objects of a
//!    type without a header, reading the type from the span. Where in its
//!    slot an object is known ([`Config::object_offset`]: after a
//!    collector's header word) is the allocator's to say, so that lookups
//!    resolve any address in a slot to the object's address.
//!
//! 3. **Spans** ([`Span`]). A run of pages holding objects of one span class,
//!    with `alloc_bits` and `mark_bits` (one bit per slot), a `freeindex` and a
//!    64-bit `alloc_cache` to find the next free slot with one
//!    count-trailing-zeros, a sweep generation, and a list of per-object
//!    specials. An interior pointer maps to its object's index with one
//!    multiply by a precomputed reciprocal. The field-by-field ownership rules
//!    and the sweep-generation table are in the [`span`] module.
//!
//! 4. **Centrals** ([`Central`], one per span class). Spans not held by a
//!    cache, as partial/full × swept/unswept sets; a cache refill takes a swept
//!    partial span, else sweeps unswept ones on the spot, else takes fresh pages.
//!
//! 5. **Caches** ([`Cache`], one per thread). One span per span class; the fast
//!    path touches only the cache (no lock, no atomic read-modify-write).
//!    Objects over 32 KiB get a span of their own from the page heap.
//!
//! 6. **The page heap** ([`PageHeap`]). Free page runs, coalesced, found by
//!    best fit in O(log n) through two ordered maps; large objects; the sweep
//!    generation and the sweep entry points; the scavenger, which returns free
//!    pages to the OS with `madvise(MADV_DONTNEED)`, found through one dirty
//!    bit per page; statistics.
//!
//! ## Dependencies, and what is written by hand
//!
//! - **`libc`** for the four memory calls (reserve, commit, release, unmap),
//!   not `memmap2`: it cannot map `PROT_NONE`, change the protection of part of
//!   a mapping, or give back the alignment slack of a reservation. The `os`
//!   module gives the reasons in full, and a timing comparison.
//! - **`bitvec`** for plain (non-atomic) bit arrays: the page heap's dirty bits,
//!   which are touched only under the heap lock.
//! - **Hand-written atomic bitmaps** ([`GcBits`]) for the spans' mark and
//!   alloc bits. Marking needs a test-and-set that tells the caller whether
//!   *it* set the bit (`fetch_or` returning the old word), and `bitvec` has
//!   none on shared atomic storage: `set_aliased` returns nothing, and the
//!   methods that return the previous bit take `&mut`. The `bitmap` module has
//!   the details.
//! - **No `crossbeam-epoch`.** Nothing the allocator publishes to lock-free
//!   readers (arenas, the index's level-2 tables, span metadata) is freed
//!   while the heap lives; span metadata is recycled in place and readers
//!   check the span's state. So a reader never holds a dangling pointer and
//!   there is nothing to reclaim by epoch. (`crossbeam-epoch` reaches the
//!   workspace only as a dependency of the collector's `crossbeam-deque`.)
//!
//! ## Zeroing
//!
//! Every slot handed out reads as zero: a precise collector would otherwise
//! see stale pointers. Pages fresh from the OS, or released by the scavenger,
//! are known to be zero and are not cleared again; a span whose pages may hold
//! old data, or from which a sweep freed objects, clears each slot as it hands
//! it out (Go's `needzero`).
//!
//! ## Sweeping, and the contract with a collector
//!
//! One cycle, from the allocator's side:
//!
//! 1. The collector marks reachable objects: [`PageHeap::mark`] or
//!    [`ObjectRef::mark`]. Objects allocated while marking must be marked too
//!    ("allocate black"); objects a sweep must keep must be marked.
//! 2. With the world stopped, every [`Cache`] calls [`Cache::release_all`], then
//!    the collector calls [`PageHeap::start_sweep_cycle`]: every span now needs
//!    sweeping.
//! 3. Spans are swept lazily by refilling caches and by any number of threads
//!    calling [`PageHeap::sweep_one`]; the sweep-generation CAS makes each span
//!    swept exactly once. [`PageHeap::finish_sweep`] completes the cycle; it
//!    must be done before the next mark starts.
//!
//! Sweeping a span: unmarked objects become free, the mark bits become the
//! alloc bits, the mark bits are cleared, specials of dead objects are handed
//! back, and a span with nothing live returns its pages to the page heap.
//!
//! ## Errors
//!
//! A zero-byte request, a request over [`Config::max_object_size`], growth past
//! [`Config::max_heap_bytes`] and refusal by the OS are [`AllocError`]s.
//! Misuse that would corrupt the heap (a double sweep, a mark bit on a free
//! slot, pages freed twice, advancing the sweep generation while caches hold
//! spans) panics with a message that says what was wrong; a foreign pointer
//! passed to [`PageHeap::mark`] or [`PageHeap::expect_object`] panics in debug
//! builds.
//!
//! ## Example
//!
//! ```
//! use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap};
//!
//! let heap = PageHeap::new(Config::default());
//! let mut cache = Cache::new(heap.clone());
//! let keep = cache.alloc(48, ObjectKind::Scan)?;
//! let drop_me = cache.alloc(48, ObjectKind::Scan)?;
//!
//! // A "collector": mark what is reachable, then sweep.
//! assert!(heap.mark(keep.as_ptr() as usize));
//! cache.release_all();
//! heap.start_sweep_cycle();
//! heap.finish_sweep();
//!
//! cache.flush_stats();
//! let stats = heap.stats();
//! assert_eq!(stats.heap_alloc_flushed_objects(), 1);
//! assert!(heap.find_object(drop_me.as_ptr() as usize).is_some(), "the slot is free, the span remains");
//! # Ok::<(), tricolor_allocator::AllocError>(())
//! ```
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod arena;
mod bitmap;
mod cache;
mod central;
mod error;
mod heap;
mod memory;
mod os;
mod pages;
mod sizeclass;
pub mod span;
mod stats;

pub use arena::{ARENA_SIZE, PAGES_PER_ARENA_CHUNK};
pub use bitmap::GcBits;
pub use cache::Cache;
pub use central::Central;
pub use error::AllocError;
pub use heap::{Config, ObjectRef, PageHeap};
pub use memory::POISON_WORD;
pub use os::resident_bytes;
pub use sizeclass::{
    slot_size, ObjectKind, SizeClass, SpanClass, ALL_SPAN_CLASSES, MAX_OBJECTS_PER_SPAN,
    MAX_SMALL_SIZE, NUM_OWN_CLASSES, NUM_SIZE_CLASSES, NUM_SPAN_CLASSES, PAGE_SHIFT, PAGE_SIZE,
};
pub use span::{Age, Span, SpanState, Special, SpecialsGuard, SweepHook, SweepOutcome};
pub use stats::{ClassStats, HeapStats};
