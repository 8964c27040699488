//! The reachable object graph, as a heap snapshot needs it (inspect §4):
//! captured by the walk with the world stopped, written out by
//! `inspect::snapshot` after the world restarts. Plain data: nothing in it
//! points into the heap, so writing it needs no lock and reads no object.

use std::time::Duration;

use crate::mark::source::RootKind;

/// A reference held by a root or a field, to the object of ordinal `to`.
#[derive(Copy, Clone, Debug)]
pub(crate) struct GraphEdge {
    /// The payload word index, or [`TRACED`] for a trace callback's referent.
    pub(crate) field: u32,
    pub(crate) to: u32,
}

/// `GraphEdge::field` of a referent reported by a trace callback.
pub(crate) const TRACED: u32 = u32::MAX;

/// A reachable object, by ordinal (the order the breadth-first walk
/// reached it: roots' objects first).
#[derive(Copy, Clone, Debug)]
pub(crate) struct GraphNode {
    /// Its type's index in the heap's type table.
    pub(crate) ty: u32,
    /// Its slot size in bytes.
    pub(crate) size: u64,
    /// Its outgoing references (in `HeapGraph::edges`, after those of the
    /// objects before it).
    pub(crate) edges: u32,
}

/// Everything reachable at one mark termination.
#[derive(Debug, Default)]
pub(crate) struct HeapGraph {
    /// Every root reference, in the order the roots were gathered, with
    /// the ordinal of the object it holds.
    pub(crate) roots: Vec<(RootKind, u32)>,
    pub(crate) nodes: Vec<GraphNode>,
    /// The objects' references, grouped by object in ordinal order.
    pub(crate) edges: Vec<GraphEdge>,
    /// Every registered type's name, by index.
    pub(crate) type_names: Vec<String>,
    /// How long the walk took, inside the cycle's final pause.
    pub(crate) walk: Duration,
    /// The cycle that served the request.
    pub(crate) cycle: u64,
    /// The objects that cycle marked (reachable ones, and any allocated
    /// during its mark and dropped before its end).
    pub(crate) marked_objects: u64,
}
