//! # tricolor
//!
//! A precise, concurrent, tri-colour garbage collector for language VMs,
//! following the design of the Go runtime's collector.
//!
//! - [`raw`]: the embedding API a VM author calls — [`raw::Heap`],
//!   [`raw::Mutator`], type descriptors, object references, roots, statistics.
//!   Its design and the algorithm are documented in `tricolor-collector`.
//! - [`allocator`]: the span allocator underneath (Go's mheap / mcentral /
//!   mcache design), usable on its own.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The span allocator (`tricolor-allocator`).
pub use tricolor_allocator as allocator;

/// The raw embedding API: everything a VM calls, in one place.
///
/// ```
/// use tricolor::raw::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// // A cons cell: two pointer fields.
/// let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[0, 1]))?;
/// let mut m = heap.attach()?;
/// let list = m.push_root(None);
/// for _ in 0..1000 {
///     let cell = m.alloc(cons, 0);
///     let tail = m.root(list);
///     // SAFETY: `cell` was just allocated and `tail` is rooted.
///     unsafe { m.store(cell, 1, tail) };
///     m.set_root(list, Some(cell));
/// }
/// let garbage = m.alloc(cons, 0);
/// m.collect();
/// assert_eq!(m.heap().stats().last_cycle.unwrap().objects_marked, 1000);
/// # let _ = garbage;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod raw {
    pub use tricolor_collector::policy::PacerConfig;
    pub use tricolor_collector::{
        AttachError, BarrierMode, CleanupHandle, CollectError, Config, ConfigError, CycleStats,
        DecodeClosure, DecodeFn, DescriptorError, Edges, EphemeronTable, GcAllocError, GcStats,
        GlobalRoot, Heap, HeapAlloc, Mutator, ObjRef, ObjectLayout, ObjectView, PauseHistogram,
        PointerWords, Pointers, RootKind, RootScanner, RootVisitor, Shape, SpecialError,
        SpecialStats, TraceClosure, TraceFn, TypeDescriptor, TypeId, WeakRef, WeakSlots,
    };
}
