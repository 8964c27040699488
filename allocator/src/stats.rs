//! Allocator statistics (the allocator's part of Go's `MemStats`).

/// Per-size-class counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Object size of the class in bytes (0 for class 0, large objects).
    pub size: usize,
    /// Objects allocated, cumulative.
    pub nmalloc: u64,
    /// Objects freed by sweeping, cumulative.
    pub nfree: u64,
}

/// A snapshot of the page heap's counters.
///
/// Byte figures relate as: `committed = in_use + idle`; `idle_dirty ≤ idle`
/// (the rest of `idle` reads as zero and is not resident: fresh or released).
/// `heap_alloc_flushed_bytes()` is allocated minus freed, so it includes
/// garbage not yet swept, as Go's `HeapAlloc` does; but only allocations a
/// cache has flushed are counted (a cache counts locally, and adds its
/// counts when it refills, releases a span, or is asked to flush), so
/// between flushes it undercounts.
#[derive(Clone, Debug, Default)]
pub struct HeapStats {
    /// Address space reserved (arenas).
    pub reserved_bytes: usize,
    /// Memory made accessible (committed) in those arenas.
    pub committed_bytes: usize,
    /// Bytes of pages in in-use spans.
    pub in_use_bytes: usize,
    /// Committed bytes in free pages.
    pub idle_bytes: usize,
    /// Free bytes that may be resident (neither fresh nor released).
    pub idle_dirty_bytes: usize,
    /// Bytes returned to the OS by the scavenger, cumulative.
    pub released_bytes_total: u64,
    /// Bytes of objects allocated (size-class or page-rounded size), cumulative.
    pub allocated_bytes_total: u64,
    /// Bytes of objects freed by sweeping, cumulative.
    pub freed_bytes_total: u64,
    /// Objects allocated, cumulative.
    pub allocated_objects_total: u64,
    /// Objects freed, cumulative.
    pub freed_objects_total: u64,
    /// Spans in use.
    pub spans_in_use: usize,
    /// Runs of free pages (a fragmentation figure: fewer is better).
    pub free_runs: usize,
    /// Spans swept, cumulative.
    pub spans_swept_total: u64,
    /// Of those, spans swept by a cache refill looking for space (lazy sweeping).
    pub spans_swept_lazily_total: u64,
    /// The heap's current sweep generation.
    pub sweepgen: u32,
    /// Per size class; index 0 is large objects.
    pub classes: Vec<ClassStats>,
}

impl HeapStats {
    /// Bytes in allocated objects not yet freed by a sweep, counting the
    /// allocations caches have flushed (see the type's docs).
    pub fn heap_alloc_flushed_bytes(&self) -> u64 {
        self.allocated_bytes_total - self.freed_bytes_total
    }

    /// Objects allocated and not yet freed by a sweep, counting the
    /// allocations caches have flushed (see the type's docs).
    pub fn heap_alloc_flushed_objects(&self) -> u64 {
        self.allocated_objects_total - self.freed_objects_total
    }
}
