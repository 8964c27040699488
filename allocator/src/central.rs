//! Centrals: the spans of one span class not held by any cache (Go's `mcentral`).
//!
//! Each central keeps its spans in four sets: partial (some free slots) and
//! full (none), each split into swept and unswept. Which physical list is
//! "swept" depends on the heap's sweep generation `h`: index `h / 2 % 2` holds
//! the swept spans and the other the unswept ones, so when `h` advances by 2
//! every swept span becomes unswept at once, without touching any span.
//!
//! A span is on at most one list, and a thread that pops it owns it until it
//! pushes it somewhere again, hands it to a cache, or frees it. The central's
//! lock is held only to push or pop, never while sweeping.

use parking_lot::Mutex;

use crate::error::AllocError;
use crate::heap::PageHeap;
use crate::sizeclass::SpanClass;
use crate::span::{SpanPtr, SweepOutcome};

/// How many unswept spans a cache refill sweeps looking for free space
/// before it gives up and takes fresh pages (Go uses the same bound).
const REFILL_SWEEP_BUDGET: usize = 100;

#[derive(Default)]
struct Lists {
    partial: [Vec<SpanPtr>; 2],
    full: [Vec<SpanPtr>; 2],
}

/// The spans of one span class not held by a cache.
#[doc(alias = "mcentral")]
pub struct Central {
    spc: SpanClass,
    lists: Mutex<Lists>,
}

fn swept(h: u32) -> usize {
    (h / 2 % 2) as usize
}

fn unswept(h: u32) -> usize {
    1 - swept(h)
}

impl Central {
    pub(crate) fn new(spc: SpanClass) -> Central {
        Central {
            spc,
            lists: Mutex::new(Lists::default()),
        }
    }

    /// Finds a span with free slots for a cache (Go's `cacheSpan`): a swept
    /// partial span; else an unswept span, swept here; else fresh pages.
    /// The span comes back swept and marked cached (`h + 3`). The caller holds
    /// the sweep gate.
    pub(crate) fn cache_span(&self, heap: &PageHeap) -> Result<SpanPtr, AllocError> {
        let h = heap.sweepgen();
        let found = self.lists.lock().partial[swept(h)].pop();
        let span = match found {
            Some(span) => span,
            None => match self.sweep_for_space(heap, h) {
                Some(span) => span,
                None => {
                    let npages = self.spc.size_class().npages();
                    heap.alloc_span(npages, self.spc)?
                }
            },
        };
        debug_assert!(span.alloc_count() < span.nelems(), "cached a full span");
        span.set_cached(h);
        heap.note_cached(1);
        Ok(span)
    }

    /// Sweeps unswept spans of this class until one has a free slot.
    fn sweep_for_space(&self, heap: &PageHeap, h: u32) -> Option<SpanPtr> {
        for _ in 0..REFILL_SWEEP_BUDGET {
            let span = self.pop_unswept(h)?;
            let swept = heap.sweep_span(span, h);
            let (live, freed) = swept.as_ref().map_or((0, 0), |o| (o.live, o.freed));
            let found = if live == 0 && freed > 0 {
                heap.free_span(span);
                None
            } else if span.alloc_count() < span.nelems() {
                Some(span)
            } else {
                self.push_swept(span, h, true);
                None
            };
            if swept.is_some() {
                heap.note_lazy_sweep();
                heap.note_span_done();
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Pops an unswept span, partial ones first.
    pub(crate) fn pop_unswept(&self, h: u32) -> Option<SpanPtr> {
        let mut lists = self.lists.lock();
        let i = unswept(h);
        lists.partial[i].pop().or_else(|| lists.full[i].pop())
    }

    /// Files a span after it was swept: freed if nothing survived, else on
    /// the swept partial or full list.
    pub(crate) fn place_swept(
        &self,
        heap: &PageHeap,
        span: SpanPtr,
        outcome: &SweepOutcome,
        h: u32,
    ) {
        if outcome.live == 0 && outcome.freed > 0 {
            heap.free_span(span);
        } else {
            self.push_swept(span, h, span.alloc_count() == span.nelems());
        }
    }

    fn push_swept(&self, span: SpanPtr, h: u32, full: bool) {
        debug_assert_eq!(span.sweepgen(), h, "filing an unswept span as swept");
        let mut lists = self.lists.lock();
        if full {
            lists.full[swept(h)].push(span);
        } else {
            lists.partial[swept(h)].push(span);
        }
    }

    /// Files a freshly made large-object span (swept by construction).
    pub(crate) fn push_swept_full(&self, span: SpanPtr, h: u32) {
        self.push_swept(span, h, true);
    }

    /// Takes back a span from a cache (Go's `uncacheSpan`). The cache has
    /// already written its allocation state back into the span, and holds the
    /// sweep gate.
    pub(crate) fn uncache_span(&self, heap: &PageHeap, span: SpanPtr) {
        let h = heap.sweepgen();
        span.set_uncached(h);
        heap.note_cached(-1);
        self.push_swept(span, h, span.alloc_count() == span.nelems());
    }

    /// Number of spans on this central's lists (swept and unswept).
    pub fn len(&self) -> usize {
        let lists = self.lists.lock();
        lists.partial.iter().chain(&lists.full).map(Vec::len).sum()
    }

    /// Whether the central holds no spans.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
