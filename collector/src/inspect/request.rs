//! Pending inspections (inspect §1): what a caller asks of the next mark
//! termination, and the slot its answer comes back in. Shared state, below
//! `heap::inner`; the walk that answers lives in `inspect::serve`.

use std::sync::Arc;

use parking_lot::Mutex;

use super::graph::HeapGraph;
use super::path::RetainingPath;

/// Why an inspection could not look at the object it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadTarget {
    /// Not an address inside this heap.
    Foreign(usize),
    /// Inside the object at `base`, not its start.
    Interior { addr: usize, base: usize },
    /// The start of a free slot: the object was freed.
    Freed(usize),
}

/// The answer to a retaining-path request.
pub(crate) type PathAnswer = Result<Option<RetainingPath>, BadTarget>;

/// A one-shot answer slot, filled by the collector at mark termination and
/// read by the caller once the cycle is over.
pub(crate) type Reply<T> = Arc<Mutex<Option<T>>>;

/// One request, served at the first mark termination after it is queued.
pub(crate) enum Inspection {
    /// A shortest path from a root to the object at this address.
    Path {
        target: usize,
        reply: Reply<PathAnswer>,
    },
    /// The whole reachable graph (for a heap snapshot).
    Graph { reply: Reply<HeapGraph> },
}

/// The queue of pending inspections. Pushed to by callers with the world
/// running; taken whole by the collector at mark termination, world
/// stopped.
#[derive(Default)]
pub(crate) struct Inspections {
    pending: Mutex<Vec<Inspection>>,
}

impl Inspections {
    /// Queues `i` for the next mark termination.
    pub(crate) fn push(&self, i: Inspection) {
        self.pending.lock().push(i);
    }

    /// Takes every pending inspection.
    pub(crate) fn take(&self) -> Vec<Inspection> {
        std::mem::take(&mut *self.pending.lock())
    }
}
