//! Serving pending inspections at mark termination (inspect §1): the
//! retaining-path search and the graph capture, both visitors of the walk.

use std::time::Instant;

use tricolor_allocator::ObjectRef;

use super::graph::{GraphEdge, GraphNode, HeapGraph};
use super::request::{BadTarget, Inspection, PathAnswer};
use super::walk::{Flow, Visitor, Walk};
use crate::heap::inner::HeapInner;
use crate::mark::source::RootKind;

/// Answers every request in `pending`, world stopped, grey set empty, the
/// sweep not begun: `roots` are the labelled roots (`walk::labelled_roots`),
/// `cycle` the cycle's number and `marked` the objects it marked.
pub(crate) fn serve(
    heap: &HeapInner,
    roots: &[(usize, RootKind)],
    pending: Vec<Inspection>,
    cycle: u64,
    marked: u64,
) {
    for inspection in pending {
        match inspection {
            Inspection::Path { target, reply } => {
                *reply.lock() = Some(retaining_path(heap, roots, target));
            }
            Inspection::Graph { reply } => {
                *reply.lock() = Some(capture(heap, roots, cycle, marked));
            }
        }
    }
}

/// Whether `target` is the start of an allocated object of this heap.
fn check_target(heap: &HeapInner, target: usize) -> Result<(), BadTarget> {
    let Some(o) = heap.page.find_object(target) else {
        return Err(BadTarget::Foreign(target));
    };
    if o.base() != target {
        return Err(BadTarget::Interior {
            addr: target,
            base: o.base(),
        });
    }
    // The caches are released: allocation states are exact, and an object
    // allocated during this mark is allocated (and black).
    if !o.span().is_allocated(o.index()) && !o.is_marked() {
        return Err(BadTarget::Freed(target));
    }
    Ok(())
}

/// A shortest path from a root to `target` (inspect §3), or `None` if no
/// root reaches it.
fn retaining_path(heap: &HeapInner, roots: &[(usize, RootKind)], target: usize) -> PathAnswer {
    check_target(heap, target)?;
    struct Search {
        target: usize,
        found: Option<u32>,
    }
    impl Visitor for Search {
        fn reached(&mut self, _: &Walk<'_>, obj: &ObjectRef<'_>, ordinal: u32) -> Flow {
            if obj.base() == self.target {
                self.found = Some(ordinal);
                return Flow::Stop;
            }
            Flow::Continue
        }
    }
    let mut search = Search {
        target,
        found: None,
    };
    let walk = Walk::run(heap, roots, &mut search);
    Ok(search.found.map(|ordinal| walk.path(ordinal)))
}

/// Every reachable object and reference (inspect §4).
fn capture(heap: &HeapInner, roots: &[(usize, RootKind)], cycle: u64, marked: u64) -> HeapGraph {
    let t0 = Instant::now();
    struct Capture<'r> {
        roots: &'r [(usize, RootKind)],
        graph: HeapGraph,
    }
    impl Visitor for Capture<'_> {
        fn reached(&mut self, walk: &Walk<'_>, obj: &ObjectRef<'_>, _: u32) -> Flow {
            self.graph.nodes.push(GraphNode {
                ty: walk.type_index(obj.base()),
                size: obj.span().elem_size() as u64,
                edges: 0,
            });
            Flow::Continue
        }
        fn root_edge(&mut self, root: usize, to: u32) {
            self.graph.roots.push((self.roots[root].1, to));
        }
        fn edge(&mut self, from: u32, field: u32, to: u32) {
            // The walk scans objects in ordinal order: the edges come
            // grouped by object, as the snapshot lists them.
            self.graph.edges.push(GraphEdge { field, to });
            self.graph.nodes[from as usize].edges += 1;
        }
    }
    let mut c = Capture {
        roots,
        graph: HeapGraph::default(),
    };
    Walk::run(heap, roots, &mut c);
    let mut graph = c.graph;
    let types = graph
        .nodes
        .iter()
        .map(|n| n.ty as usize + 1)
        .max()
        .unwrap_or(0);
    graph.type_names = (0..types as u32)
        .map(|i| {
            heap.types
                .by_index(i)
                .map_or_else(|| format!("<type {i}>"), |d| d.name().to_string())
        })
        .collect();
    graph.cycle = cycle;
    graph.marked_objects = marked;
    graph.walk = t0.elapsed();
    graph
}
