//! Seeing inside the heap: retaining paths ("why is this alive?") and heap
//! snapshots for Chrome DevTools. This page is the design; the files cite
//! its sections as "inspect §n".
//!
//! ## §1 The inspection point
//!
//! An inspection needs the reachable graph exactly, and the one moment a
//! collector has it is the end of a mark: the world stopped, the grey set
//! empty, nothing swept yet. Checkmark already works there (the essay's
//! step 4b), and inspections share its place: a caller queues a request on
//! the heap (`request::Inspections`), forces a cycle and waits for it; the
//! cycle's `finish_mark_termination` takes the queue, gathers the labelled
//! roots once (`walk::labelled_roots`, the same list checkmark
//! re-traces from), runs checkmark if configured, then answers each
//! request (`serve`) before the dead ephemeron entries are dropped and the
//! sweep begins. Any mark termination after the request answers it: the
//! forced cycle's, or that of a cycle already running.
//!
//! The caller waits as [`Heap::collect`](crate::Heap::collect) does: a
//! thread with no mutator of the heap just waits; a mutator waits in native
//! state ([`Mutator::retaining_path`](crate::Mutator::retaining_path),
//! [`Mutator::write_heap_snapshot`](crate::Mutator::write_heap_snapshot)),
//! so the world can stop around it. A `Heap` method called on a thread
//! whose mutator is running would wait for a stop that waits for it; it
//! panics instead, saying what to call. So does a call from a cycle-event
//! callback.
//!
//! ## §2 The walk
//!
//! One traversal serves checkmark, retaining paths and snapshots
//! (`walk::Walk`): a breadth-first search from the labelled roots, single
//! threaded, with its own visited map, independent of the mark bits, the
//! mark queues and the workers. It gives each object an ordinal in the
//! order it is first reached, roots' objects first, and since it scans
//! objects in that order its queue is the ordinal list itself: per span
//! reached, an array of its slots' ordinals (4 bytes a slot), and one
//! vector (per ordinal: address, parent, whether the object may hold
//! pointers; 24 bytes). Each object's first parent (a root, or an object and a field)
//! makes the path to it; breadth-first, that path is a shortest one.
//! Visitors hear of each new object, each root reference and each field
//! reference, and may stop the walk.
//!
//! The labels are `RootKind`s: a global slot, a mutator's shadow-stack
//! slot, a root scanner's report, the referents of an unreachable
//! finalizable object (specials §2), the finalizer queue, a cleanup's
//! argument, a weak reference read while marking, the value of an
//! ephemeron entry whose key is marked (ephemeron §1). An ephemeron value
//! is labelled as a root of its own: the path says that the table keeps
//! it, not which path keeps its key (ask for the key's).
//!
//! ## §3 Retaining paths
//!
//! `serve` checks the target first (an object of this heap, at its start,
//! not a free slot; otherwise [`InspectError`] says which), then walks
//! until the target is reached and reads the path back through the
//! parents: the root's label, then each object with its type name and the
//! field (a word index) or trace callback it was reached through
//! ([`RetainingPath`], whose `Display` reads as checkmark's message does).
//! No path means no root reaches the object: the sweep that follows frees
//! it (an object allocated during that cycle's mark is black and goes at
//! the next cycle).
//!
//! ## §4 Heap snapshots
//!
//! `serve` walks to the end and captures the graph (`graph::HeapGraph`):
//! per object its address, type index, slot size and reference count,
//! per reference its field and target ordinal, per root its label and
//! target. That is all the writer needs, so the file is written after the
//! world restarts, streamed, by the caller's thread ([`snapshot`] gives the
//! format). The snapshot holds what the roots reach: an object allocated
//! during the mark and dropped before its end is marked (the cycle's
//! `objects_marked` counts it) but is no node.
//!
//! ## §5 What it costs
//!
//! Nothing until asked: no field, branch or counter on any path of the
//! allocator, the barrier or the mark, and one lock of an empty queue per
//! mark termination. When asked, the walk lengthens the final pause of the
//! forced cycle by a single-threaded traversal of the whole reachable
//! heap, a hash-map insert per object (a retaining-path walk stops at the
//! target): pause time then grows with the heap, which the collector
//! otherwise never allows, so this is a diagnostic, not something to run
//! in production at a steady rate. `docs/PERFORMANCE.md` ("Seeing inside
//! the heap") has the figures.

pub mod api;
pub(crate) mod graph;
pub mod path;
pub(crate) mod request;
pub(crate) mod serve;
pub mod snapshot;
pub(crate) mod walk;

pub use api::InspectError;
pub use path::{PathStep, RetainingPath, Via};
pub use snapshot::SnapshotSummary;
