//! The heap snapshot writer (inspect §4): a captured `HeapGraph` as the
//! `.heapsnapshot` JSON of Chrome DevTools' Memory panel, streamed to a
//! writer. Nothing here touches the heap.
//!
//! The format is V8's (`v8-profiler.h`, `HeapSnapshotJSONSerializer`): a
//! `snapshot.meta` naming the fields, then flat arrays. Each node is seven
//! numbers (type, name, id, self_size, edge_count, trace_node_id,
//! detachedness), each edge three (type, name_or_index, to_node); a node's
//! edges follow those of the nodes before it, `to_node` is the target's
//! index in `nodes` (its position times seven), and names are indices into
//! `strings`, written last so that they can be collected on the way.
//!
//! The shape is the one V8's own snapshots have: node 0 is the synthetic
//! root, whose one edge leads to a synthetic `(GC roots)` node, which has
//! one synthetic child per root category (`(Global roots)`, `(Mutator n
//! shadow stack)`, `(Mutator n root scanner)`, `(Finalizer referents)`,
//! ...), whose edges are the roots themselves. Every reachable object is an
//! `object` node named by its type, sized by its slot; a pointer field is
//! an `element` edge with the field's word index, a trace callback's
//! referent a `property` edge named `trace #k`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use super::graph::{HeapGraph, TRACED};
use crate::mark::source::RootKind;

/// What [`Heap::write_heap_snapshot`](crate::Heap::write_heap_snapshot)
/// wrote, and what the walk behind it cost.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0);
/// m.push_root(Some(a));
/// let mut out = Vec::new();
/// let summary = m.write_heap_snapshot(&mut out)?;
/// assert_eq!((summary.objects, summary.edges, summary.root_edges), (1, 0, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// The cycle whose mark termination took the snapshot.
    pub cycle: u64,
    /// Reachable objects: one node each.
    pub objects: u64,
    /// Their bytes (slot sizes, as the heap counts bytes).
    pub bytes: u64,
    /// References between objects: one edge each.
    pub edges: u64,
    /// References held by roots.
    pub root_edges: u64,
    /// All nodes of the file: the objects and the synthetic root nodes.
    pub nodes: u64,
    /// The objects the cycle marked: `objects`, plus any allocated during
    /// its mark and unreachable by its end (they go at the next cycle).
    pub marked_objects: u64,
    /// How long the walk took, inside the cycle's final pause (writing
    /// the file comes after the world restarts).
    pub walk: Duration,
}

/// The fields of a node and an edge, and the names of their types, as
/// DevTools reads them.
const META: &str = r#"{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]}"#;

/// Numbers per node.
const NODE_FIELDS: u64 = 7;
/// `node_types` indices.
const NODE_OBJECT: u32 = 3;
const NODE_SYNTHETIC: u32 = 9;
/// `edge_types` indices.
const EDGE_ELEMENT: u32 = 1;
const EDGE_PROPERTY: u32 = 2;

/// The synthetic node of a root's category, and the edge's name or index.
fn category(kind: RootKind, nth: &mut HashMap<String, u64>) -> (String, Name) {
    let (cat, name) = match kind {
        RootKind::Global(i) => ("(Global roots)".to_string(), Name::Index(i as u64)),
        RootKind::ShadowStack(m, i) => {
            (format!("(Mutator {m} shadow stack)"), Name::Index(i as u64))
        }
        RootKind::Scanner(m, i) => (format!("(Mutator {m} root scanner)"), Name::Index(i as u64)),
        RootKind::Finalizer(o) => (
            "(Finalizer referents)".to_string(),
            Name::Str(format!("referent of {o:#x}")),
        ),
        RootKind::FinalizerQueue => ("(Finalizer queue)".to_string(), Name::Next),
        RootKind::CleanupArg => ("(Cleanup arguments)".to_string(), Name::Next),
        RootKind::Weak => (
            "(Weak references read while marking)".to_string(),
            Name::Next,
        ),
        RootKind::Ephemeron => ("(Ephemeron values)".to_string(), Name::Next),
        // Not a root the walk starts from (only a minor mark uses the
        // remembered set, and only major cycles are inspected); named all
        // the same.
        RootKind::Remembered => ("(Remembered set)".to_string(), Name::Next),
    };
    let name = match name {
        Name::Next => {
            let n = nth.entry(cat.clone()).or_insert(0);
            *n += 1;
            Name::Index(*n - 1)
        }
        other => other,
    };
    (cat, name)
}

/// A root category's synthetic node: its name and its edges (edge type,
/// name or index, object ordinal).
type Category = (String, Vec<(u32, Name, u32)>);

/// An edge's name: an index (`element`) or a string (`property`).
enum Name {
    Index(u64),
    Str(String),
    /// The next index of the category.
    Next,
}

/// The `strings` table, filled while nodes and edges are written.
#[derive(Default)]
struct Strings {
    index: HashMap<String, u64>,
    list: Vec<String>,
}

impl Strings {
    fn id(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u64;
        self.list.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// Writes `s` as a JSON string.
fn json_string(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(b"\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<String> = match c {
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            c if (c as u32) < 0x20 => Some(format!("\\u{:04x}", c as u32)),
            _ => None,
        };
        if let Some(e) = esc {
            w.write_all(&s.as_bytes()[start..i])?;
            w.write_all(e.as_bytes())?;
            start = i + c.len_utf8();
        }
    }
    w.write_all(&s.as_bytes()[start..])?;
    w.write_all(b"\"")
}

/// Writes `graph` as a `.heapsnapshot` to `w` (buffered here).
pub(crate) fn write(graph: &HeapGraph, w: impl Write) -> io::Result<SnapshotSummary> {
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    // The root categories, in the order their first root was gathered,
    // each with its edges: (edge type, name or string, object ordinal).
    let mut nth = HashMap::new();
    let mut cats: Vec<Category> = Vec::new();
    let mut cat_of: HashMap<String, usize> = HashMap::new();
    for &(kind, to) in &graph.roots {
        let (cat, name) = category(kind, &mut nth);
        let c = *cat_of.entry(cat.clone()).or_insert_with(|| {
            cats.push((cat, Vec::new()));
            cats.len() - 1
        });
        let ty = match name {
            Name::Index(_) => EDGE_ELEMENT,
            _ => EDGE_PROPERTY,
        };
        cats[c].1.push((ty, name, to));
    }
    // Nodes: the root, (GC roots), the categories, then the objects.
    let synthetic = 2 + cats.len() as u64;
    let node_count = synthetic + graph.nodes.len() as u64;
    let edge_count = 1 + cats.len() as u64 + graph.roots.len() as u64 + graph.edges.len() as u64;
    let mut strings = Strings::default();
    write!(
        w,
        "{{\"snapshot\":{{\"meta\":{META},\"node_count\":{node_count},\"edge_count\":{edge_count},\"trace_function_count\":0}},\n\"nodes\":["
    )?;
    // Ids: odd, as V8's objects have, by position.
    let mut first = true;
    let mut node =
        |w: &mut io::BufWriter<_>, ty: u32, name: u64, index: u64, size: u64, edges: u64| {
            let sep = if std::mem::take(&mut first) {
                ""
            } else {
                ",\n"
            };
            write!(w, "{sep}{ty},{name},{},{size},{edges},0,0", 2 * index + 1)
        };
    node(&mut w, NODE_SYNTHETIC, strings.id(""), 0, 0, 1)?;
    node(
        &mut w,
        NODE_SYNTHETIC,
        strings.id("(GC roots)"),
        1,
        0,
        cats.len() as u64,
    )?;
    for (i, (name, edges)) in cats.iter().enumerate() {
        let name = strings.id(name);
        node(
            &mut w,
            NODE_SYNTHETIC,
            name,
            2 + i as u64,
            0,
            edges.len() as u64,
        )?;
    }
    let type_names: Vec<u64> = graph.type_names.iter().map(|n| strings.id(n)).collect();
    let mut bytes = 0;
    for (i, n) in graph.nodes.iter().enumerate() {
        bytes += n.size;
        let size = n.size.min(u64::from(u32::MAX));
        node(
            &mut w,
            NODE_OBJECT,
            type_names[n.ty as usize],
            synthetic + i as u64,
            size,
            u64::from(n.edges),
        )?;
    }
    w.write_all(b"],\n\"edges\":[")?;
    let mut first = true;
    let mut edge = |w: &mut io::BufWriter<_>, ty: u32, name: u64, to: u64| {
        let sep = if std::mem::take(&mut first) {
            ""
        } else {
            ",\n"
        };
        write!(w, "{sep}{ty},{name},{}", to * NODE_FIELDS)
    };
    let object = |ordinal: u32| synthetic + u64::from(ordinal);
    edge(&mut w, EDGE_ELEMENT, 1, 1)?;
    for i in 0..cats.len() as u64 {
        edge(&mut w, EDGE_ELEMENT, i + 1, 2 + i)?;
    }
    for (_, edges) in &cats {
        for (ty, name, to) in edges {
            let name = match name {
                Name::Index(i) => *i,
                Name::Str(s) => strings.id(s),
                Name::Next => unreachable!("numbered by `category`"),
            };
            edge(&mut w, *ty, name, object(*to))?;
        }
    }
    let mut at = graph.edges.iter();
    for n in &graph.nodes {
        // A trace callback's referents are numbered per object.
        let mut traced = 0;
        for e in at.by_ref().take(n.edges as usize) {
            if e.field == TRACED {
                let name = strings.id(&format!("trace #{traced}"));
                traced += 1;
                edge(&mut w, EDGE_PROPERTY, name, object(e.to))?;
            } else {
                edge(&mut w, EDGE_ELEMENT, u64::from(e.field), object(e.to))?;
            }
        }
    }
    w.write_all(b"],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[")?;
    for (i, s) in strings.list.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n")?;
        }
        json_string(&mut w, s)?;
    }
    w.write_all(b"]}\n")?;
    w.flush()?;
    Ok(SnapshotSummary {
        cycle: graph.cycle,
        objects: graph.nodes.len() as u64,
        bytes,
        edges: graph.edges.len() as u64,
        root_edges: graph.roots.len() as u64,
        nodes: node_count,
        marked_objects: graph.marked_objects,
        walk: graph.walk,
    })
}
