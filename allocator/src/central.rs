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

#[cfg(doc)]
use crate::sizeclass::SpanClass;
use crate::span::SpanPtr;

/// How many unswept spans a cache refill sweeps looking for free space
/// before it gives up and takes fresh pages (Go uses the same bound).

#[derive(Default)]
struct Lists {
    partial: [Vec<SpanPtr>; 2],
    full: [Vec<SpanPtr>; 2],
}

/// The spans of one span class not held by a cache. The page heap keeps
/// one per span class, at the class's [`index`](SpanClass::index).
#[doc(alias = "mcentral")]
pub struct Central {
    lists: Mutex<Lists>,
}

fn swept(h: u32) -> usize {
    (h / 2 % 2) as usize
}

fn unswept(h: u32) -> usize {
    1 - swept(h)
}

impl Central {
    pub(crate) fn new() -> Central {
        Central {
            lists: Mutex::new(Lists::default()),
        }
    }

    /// Takes a swept span with free slots, if there is one.
    pub(crate) fn pop_swept_partial(&self, h: u32) -> Option<SpanPtr> {
        self.lists.lock().partial[swept(h)].pop()
    }

    /// Pops an unswept span, partial ones first.
    pub(crate) fn pop_unswept(&self, h: u32) -> Option<SpanPtr> {
        let mut lists = self.lists.lock();
        let i = unswept(h);
        lists.partial[i].pop().or_else(|| lists.full[i].pop())
    }

    pub(crate) fn push_swept(&self, span: SpanPtr, h: u32, full: bool) {
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
