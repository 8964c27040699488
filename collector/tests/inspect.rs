//! Retaining paths and heap snapshots (inspect §1–§4), checked against
//! graphs built here with a model of their edges and roots:
//! - a snapshot read back (serde_json) is well formed, has one node per
//!   marked object plus the synthetic root nodes, the cycle's per-type
//!   counts and bytes, exactly the model's edges and exactly its roots;
//! - retaining paths name the right root kind (shadow stack, global,
//!   scanner, finalizer referent, ephemeron value) and field, and follow
//!   trace callbacks;
//! - bad input and misuse are refused with clear messages.

mod common;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;
use serde_json::Value;
use tricolor_collector::{
    Config, GlobalRoot, Heap, InspectError, Mutator, ObjRef, RootKind, TypeDescriptor, Via,
};

/// A heap whose cycles run only when asked for, every check on, counting
/// live objects per type.
fn heap() -> Heap {
    Heap::new(Config {
        manual_cycles: true,
        per_type_stats: true,
        ..checked_config()
    })
}

/// A model object: what it is and where its edges lead.
struct Obj {
    obj: ObjRef,
    kind: Kind,
    edges: Vec<Option<usize>>,
}

/// A graph of every layout, built from a fixed seed, with its roots.
struct Model {
    objs: Vec<Obj>,
    /// (category node name, edge index, object) for each root.
    roots: Vec<(String, u64, usize)>,
    _globals: Vec<GlobalRoot>,
    reachable: usize,
}

fn build(heap: &Heap, m: &mut Mutator, t: &Types) -> Model {
    let mut rng = Rng::new(0x5EED_1A5E);
    let mut objs: Vec<Obj> = Vec::new();
    let new = |m: &mut Mutator, objs: &mut Vec<Obj>, kind: Kind| {
        let id = objs.len();
        let obj = alloc(m, t, kind, id as u64);
        objs.push(Obj {
            obj,
            kind,
            edges: vec![None; kind.slots()],
        });
        id
    };
    // Keep everything on the shadow stack while building (no cycle runs:
    // manual cycles), then drop those roots.
    let kinds = [
        Kind::Node,
        Kind::Pairs(3),
        Kind::Bytes,
        Kind::Tagged,
        Kind::Node,
        Kind::Pairs(1),
    ];
    for i in 0..300 {
        new(m, &mut objs, kinds[i % kinds.len()]);
    }
    for _ in 0..500 {
        let a = rng.below(objs.len());
        let b = rng.below(objs.len());
        let slots = objs[a].kind.slots();
        if slots == 0 {
            continue;
        }
        let s = rng.below(slots);
        // SAFETY (test): no cycle has run since both were allocated.
        unsafe { link(m, objs[a].kind, objs[a].obj, s, Some(objs[b].obj)) };
        objs[a].edges[s] = Some(b);
    }
    // A self-loop, and an edge into an object also rooted.
    // SAFETY (test): as above.
    unsafe { link(m, Kind::Node, objs[0].obj, 0, Some(objs[0].obj)) };
    objs[0].edges[0] = Some(0);
    let id = m.id();
    let mut roots = Vec::new();
    let mut globals = Vec::new();
    for &i in &[0usize, 3, 7] {
        let slot = m.push_root(Some(objs[i].obj));
        roots.push((format!("(Mutator {id} shadow stack)"), slot as u64, i));
    }
    for &i in &[11usize, 0] {
        let g = heap.add_global(Some(objs[i].obj));
        roots.push(("(Global roots)".to_string(), g.index() as u64, i));
        globals.push(g);
    }
    let scanned = vec![objs[20].obj, objs[21].obj];
    for (k, i) in [20usize, 21].into_iter().enumerate() {
        roots.push((format!("(Mutator {id} root scanner)"), k as u64, i));
    }
    m.set_root_scanner(Some(Box::new(move |v| {
        for &o in &scanned {
            v.visit(Some(o));
        }
    })));
    // Reachable in the model.
    let mut seen = vec![false; objs.len()];
    let mut stack: Vec<usize> = roots.iter().map(|r| r.2).collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(objs[i].edges.iter().flatten());
        }
    }
    Model {
        objs,
        roots,
        _globals: globals,
        reachable: seen.iter().filter(|&&s| s).count(),
    }
}

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Node => "Node",
        Kind::Pairs(_) => "Pairs",
        Kind::Bytes => "Bytes",
        Kind::Tagged => "Tagged",
    }
}

/// A parsed snapshot: its flat arrays and strings.
struct Snapshot {
    nodes: Vec<u64>,
    edges: Vec<u64>,
    strings: Vec<String>,
    /// Each node's first edge (index into `edges` / 3).
    first_edge: Vec<usize>,
}

impl Snapshot {
    fn parse(json: &[u8]) -> Snapshot {
        let v: Value = serde_json::from_slice(json).expect("valid JSON");
        let meta = &v["snapshot"]["meta"];
        let fields: Vec<&str> = meta["node_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "type",
                "name",
                "id",
                "self_size",
                "edge_count",
                "trace_node_id",
                "detachedness"
            ]
        );
        assert_eq!(meta["node_types"][0][3], "object");
        assert_eq!(meta["node_types"][0][9], "synthetic");
        assert_eq!(
            meta["edge_fields"],
            serde_json::json!(["type", "name_or_index", "to_node"])
        );
        assert_eq!(meta["edge_types"][0][1], "element");
        assert_eq!(meta["edge_types"][0][2], "property");
        for empty in ["trace_function_infos", "trace_tree", "samples", "locations"] {
            assert_eq!(v[empty], serde_json::json!([]), "{empty}");
        }
        let nums = |k: &str| -> Vec<u64> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().expect("a number"))
                .collect()
        };
        let (nodes, edges) = (nums("nodes"), nums("edges"));
        let strings: Vec<String> = v["strings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        assert_eq!(nodes.len() % 7, 0);
        assert_eq!(edges.len() % 3, 0);
        assert_eq!(
            v["snapshot"]["node_count"].as_u64(),
            Some(nodes.len() as u64 / 7)
        );
        assert_eq!(
            v["snapshot"]["edge_count"].as_u64(),
            Some(edges.len() as u64 / 3)
        );
        let mut first_edge = Vec::new();
        let mut e = 0;
        for n in nodes.chunks(7) {
            first_edge.push(e);
            e += n[4] as usize;
        }
        assert_eq!(e * 3, edges.len(), "edge counts add up to the edges");
        let mut ids: Vec<u64> = nodes.chunks(7).map(|n| n[2]).collect();
        assert!(ids.iter().all(|id| id % 2 == 1), "odd ids");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), nodes.len() / 7, "unique ids");
        for e in edges.chunks(3) {
            assert!(
                e[2] % 7 == 0 && (e[2] as usize) < nodes.len(),
                "to_node {}",
                e[2]
            );
        }
        Snapshot {
            nodes,
            edges,
            strings,
            first_edge,
        }
    }
    fn count(&self) -> usize {
        self.nodes.len() / 7
    }
    fn name(&self, n: usize) -> &str {
        &self.strings[self.nodes[n * 7 + 1] as usize]
    }
    fn ty(&self, n: usize) -> u64 {
        self.nodes[n * 7]
    }
    /// Node `n`'s edges: (type, name_or_index, target node).
    fn edges(&self, n: usize) -> Vec<(u64, u64, usize)> {
        let first = self.first_edge[n];
        (first..first + self.nodes[n * 7 + 4] as usize)
            .map(|e| {
                let e = &self.edges[e * 3..e * 3 + 3];
                (e[0], e[1], e[2] as usize / 7)
            })
            .collect()
    }
}

/// Model objects and snapshot nodes found to be the same, one to one.
#[derive(Default)]
struct Mapping {
    node_of: HashMap<usize, usize>,
    obj_of: HashMap<usize, usize>,
}

impl Mapping {
    /// Records that object `i` is node `n` (queueing `i` to be checked the
    /// first time), or checks that it was so recorded.
    fn map(&mut self, i: usize, n: usize, todo: &mut Vec<usize>) {
        match (self.node_of.get(&i), self.obj_of.get(&n)) {
            (None, None) => {
                self.node_of.insert(i, n);
                self.obj_of.insert(n, i);
                todo.push(i);
            }
            (Some(&n2), Some(&i2)) => assert_eq!((n2, i2), (n, i), "one node per object"),
            _ => panic!("object {i} and node {n} are mapped inconsistently"),
        }
    }
}

#[test]
fn snapshot_matches_the_live_heap() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let model = build(&heap, &mut m, &t);
    let mut json = Vec::new();
    let summary = m.write_heap_snapshot(&mut json).unwrap();
    let cycle = heap.stats().last_cycle.unwrap();
    assert_eq!(summary.cycle, cycle.number);
    assert_eq!(summary.objects, cycle.objects_marked);
    assert_eq!(summary.objects, model.reachable as u64);
    assert_eq!(summary.marked_objects, cycle.objects_marked);
    assert_eq!(summary.bytes, cycle.heap_marked);
    assert!(
        summary.objects > 50 && summary.edges > 50 && summary.objects < 300,
        "a graph of some size, with garbage: {summary:?}"
    );
    let s = Snapshot::parse(&json);

    // Nodes: the marked objects and the synthetic root nodes.
    let synthetic = (0..s.count()).filter(|&n| s.ty(n) == 9).count();
    assert_eq!(s.count() as u64, cycle.objects_marked + synthetic as u64);
    assert_eq!(summary.nodes, s.count() as u64);
    // Per type: the cycle's own counts.
    let mut per_type: HashMap<String, (u64, u64)> = HashMap::new();
    for n in (0..s.count()).filter(|&n| s.ty(n) == 3) {
        let e = per_type.entry(s.name(n).to_string()).or_default();
        e.0 += 1;
        e.1 += s.nodes[n * 7 + 3];
    }
    let expected: HashMap<String, (u64, u64)> = cycle
        .per_type
        .iter()
        .map(|t| (t.name.clone(), (t.objects, t.bytes)))
        .collect();
    assert_eq!(per_type, expected);

    // The root tree: "" -> (GC roots) -> one node per category -> objects.
    assert_eq!((s.name(0), s.ty(0)), ("", 9));
    let top = s.edges(0);
    assert_eq!(top.len(), 1);
    let gc_roots = top[0].2;
    assert_eq!(s.name(gc_roots), "(GC roots)");
    let mut found_roots = Vec::new();
    for (ty, _, cat) in s.edges(gc_roots) {
        assert_eq!(
            (ty, s.ty(cat)),
            (1, 9),
            "element edges to synthetic categories"
        );
        for (ty, index, to) in s.edges(cat) {
            assert_eq!(ty, 1, "stack, scanner and global roots are numbered");
            found_roots.push((s.name(cat).to_string(), index, to));
        }
    }
    assert_eq!(found_roots.len(), model.roots.len());
    assert_eq!(summary.root_edges, model.roots.len() as u64);

    // Every object node is a model object (one each), with exactly the
    // model's edges: mapped from the roots outwards.
    let mut mapping = Mapping::default();
    let mut todo = Vec::new();
    for (cat, index, i) in &model.roots {
        let hit = found_roots
            .iter()
            .find(|(c, x, _)| c == cat && x == index)
            .unwrap_or_else(|| panic!("no root edge {cat}[{index}]"));
        mapping.map(*i, hit.2, &mut todo);
    }
    let mut checked_edges = 0;
    while let Some(i) = todo.pop() {
        let n = mapping.node_of[&i];
        let o = &model.objs[i];
        assert_eq!(s.name(n), type_name(o.kind));
        let edges = s.edges(n);
        checked_edges += edges.len();
        match o.kind {
            Kind::Tagged => {
                let mut want: Vec<usize> = o.edges.iter().flatten().copied().collect();
                let mut got = Vec::new();
                for (k, (ty, name, to)) in edges.iter().enumerate() {
                    assert_eq!(
                        (*ty, s.strings[*name as usize].as_str()),
                        (2, &*format!("trace #{k}"))
                    );
                    got.push(*to);
                }
                assert_eq!(got.len(), want.len());
                // The callback reports in word order, as the model lists.
                for (w, &to) in want.drain(..).zip(&got) {
                    mapping.map(w, to, &mut todo);
                }
            }
            kind => {
                let field = |slot: usize| match kind {
                    Kind::Pairs(_) => 2 * slot as u64,
                    _ => slot as u64,
                };
                let want: Vec<(u64, usize)> = o
                    .edges
                    .iter()
                    .enumerate()
                    .filter_map(|(s, e)| e.map(|e| (field(s), e)))
                    .collect();
                assert_eq!(edges.len(), want.len(), "edges of object {i}");
                for ((ty, index, to), (f, j)) in edges.iter().zip(want) {
                    assert_eq!((*ty, *index), (1, f), "element edge with the field index");
                    mapping.map(j, *to, &mut todo);
                }
            }
        }
    }
    assert_eq!(
        mapping.node_of.len(),
        model.reachable,
        "every object node is a reachable object"
    );
    assert_eq!(checked_edges as u64, summary.edges);
    m.set_root_scanner(None);
}

#[test]
fn retaining_paths_name_the_root_and_the_fields() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    // shadow stack -> Node -field 1-> Pairs -field 2-> Tagged -trace-> Node
    let a = node(&mut m, &t, 1);
    let p = alloc(&mut m, &t, Kind::Pairs(2), 2);
    let tg = alloc(&mut m, &t, Kind::Tagged, 3);
    let b = node(&mut m, &t, 4);
    // SAFETY (test): all fresh, no cycle since.
    unsafe {
        link(&mut m, Kind::Node, a, 1, Some(p));
        link(&mut m, Kind::Pairs(2), p, 1, Some(tg));
        link(&mut m, Kind::Tagged, tg, 2, Some(b));
    }
    let slot = m.push_root(Some(a));
    let path = m.retaining_path(b).expect("reachable");
    assert_eq!(path.root(), RootKind::ShadowStack(m.id(), slot));
    let steps: Vec<(ObjRef, &str, Via)> = path
        .steps()
        .iter()
        .map(|s| (s.object, s.type_name.as_str(), s.via))
        .collect();
    assert_eq!(
        steps,
        [
            (
                a,
                "Node",
                Via::FromRoot(RootKind::ShadowStack(m.id(), slot))
            ),
            (p, "Pairs", Via::Field(1)),
            (tg, "Tagged", Via::Field(2)),
            (b, "Node", Via::TraceCallback),
        ]
    );
    assert_eq!(
        path.to_string(),
        format!(
            "shadow-stack slot {slot} of mutator {} -> `Node`@{:#x}, field 1 -> `Pairs`@{:#x}, \
             field 2 -> `Tagged`@{:#x}, trace callback -> `Node`@{:#x}",
            m.id(),
            a.addr(),
            p.addr(),
            tg.addr(),
            b.addr()
        )
    );
    // A shorter way in wins: a global straight to `tg`.
    let g = heap.add_global(Some(tg));
    let path = m.retaining_path(b).unwrap();
    assert_eq!((path.root(), path.len()), (RootKind::Global(g.index()), 2));
    // Cut both: garbage.
    drop(g);
    m.set_root(slot, None);
    assert_eq!(m.retaining_path(b), None);
}

#[test]
fn finalizer_and_ephemeron_roots_are_named() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    // An unreachable finalizable object keeps its referent for its
    // finalizer (specials §2).
    let fin = node(&mut m, &t, 1);
    let kept = node(&mut m, &t, 2);
    // SAFETY (test): fresh.
    unsafe { link(&mut m, Kind::Node, fin, 0, Some(kept)) };
    m.set_finalizer(fin, |_, _| {}).unwrap();
    let path = m.retaining_path(kept).expect("kept for the finalizer");
    assert_eq!(path.root(), RootKind::Finalizer(fin.addr()));
    assert_eq!(path.len(), 1);
    // An ephemeron value is kept while its key is reachable.
    let table = heap.ephemeron_table();
    let key = node(&mut m, &t, 3);
    let value = node(&mut m, &t, 4);
    let key_slot = m.push_root(Some(key));
    table.insert(&mut m, key, value).unwrap();
    let path = m.retaining_path(value).expect("its key is reachable");
    assert_eq!(path.root(), RootKind::Ephemeron);
    m.set_root(key_slot, None);
    m.wait_for_finalizers();
}

#[test]
fn an_unattached_thread_may_ask() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = node(&mut m, &t, 1);
    let slot = m.push_root(Some(a));
    let h = heap.clone();
    let asker = std::thread::spawn(move || {
        let path = h.retaining_path(a);
        let mut json = Vec::new();
        let summary = h.write_heap_snapshot(&mut json).unwrap();
        (path, summary.objects)
    });
    // The mutator waits in native state, so the cycles can stop the world.
    let (path, objects) = m.native(|| asker.join().unwrap());
    assert_eq!(path.unwrap().root(), RootKind::ShadowStack(m.id(), slot));
    assert_eq!(objects, 1);
}

#[test]
fn bad_targets_are_refused_with_a_reason() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = node(&mut m, &t, 1);
    m.push_root(Some(a));

    // Another heap's object.
    let other = Heap::new(Config::default());
    let ty = other
        .register_type(TypeDescriptor::fixed("Other", 1, &[]))
        .unwrap();
    let mut om = other.attach().unwrap();
    let foreign = om.alloc(ty, 0);
    let err = m.try_retaining_path(foreign).unwrap_err();
    assert_eq!(
        err,
        InspectError::NotInHeap {
            addr: foreign.addr()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "tricolor: retaining_path: {:#x} is not an object of this heap (another heap's \
             object, or not a heap pointer)",
            foreign.addr()
        )
    );
    // No heap address at all.
    let stray = ObjRef::from_addr(0x1000).unwrap();
    assert_eq!(
        m.try_retaining_path(stray),
        Err(InspectError::NotInHeap { addr: 0x1000 })
    );
    // Inside an object.
    let inside = ObjRef::from_addr(a.addr() + 16).unwrap();
    let err = m.try_retaining_path(inside).unwrap_err();
    assert_eq!(
        err,
        InspectError::Interior {
            addr: a.addr() + 16,
            base: a.addr()
        }
    );
    assert!(
        err.to_string().contains(&format!(
            "points inside the object at {:#x}, not at its start",
            a.addr()
        )),
        "{err}"
    );
    // A freed slot (its span kept by `a`, allocated just before it).
    let garbage = node(&mut m, &t, 2);
    m.collect();
    let err = m.try_retaining_path(garbage).unwrap_err();
    assert_eq!(
        err,
        InspectError::Freed {
            addr: garbage.addr()
        }
    );
    assert!(err.to_string().contains("already collected"), "{err}");
    // The panicking form says the same.
    let msg = catch_unwind(AssertUnwindSafe(|| m.retaining_path(inside)))
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(msg.contains("points inside the object"), "{msg}");
}

#[test]
fn misuse_is_refused_with_a_clear_message() {
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = node(&mut m, &t, 1);
    m.push_root(Some(a));
    let message = |r: Box<dyn std::any::Any + Send>| *r.downcast::<String>().unwrap();
    // The heap's form on a thread whose mutator runs would wait for itself.
    let err = catch_unwind(AssertUnwindSafe(|| heap.retaining_path(a))).unwrap_err();
    assert!(message(err)
        .contains("Heap::retaining_path called on a thread whose mutator of this heap is running"));
    let err = catch_unwind(AssertUnwindSafe(|| heap.write_heap_snapshot(Vec::new()))).unwrap_err();
    assert!(message(err).contains("call Mutator::write_heap_snapshot"));
    // The mutator's form needs a running mutator.
    m.enter_native();
    let err = catch_unwind(AssertUnwindSafe(|| m.retaining_path(a))).unwrap_err();
    assert!(message(err).contains("Mutator::retaining_path called in native state"));
    m.leave_native();
    // From native state, the heap's form is fine.
    let path = m.native(|| heap.retaining_path(a));
    assert_eq!(path.unwrap().target(), a);
}

#[test]
fn a_writer_error_is_returned() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let heap = heap();
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let a = node(&mut m, &t, 1);
    m.push_root(Some(a));
    let err = m.write_heap_snapshot(Full).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    // The heap is unharmed.
    m.collect();
    assert_eq!(marked(&heap), 1);
}

#[test]
fn every_barrier_mode_answers() {
    for mode in ALL_MODES {
        let heap = Heap::new(Config {
            barrier: mode,
            ..checked_config()
        });
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let a = node(&mut m, &t, 1);
        let b = node(&mut m, &t, 2);
        node(&mut m, &t, 3); // garbage
                             // SAFETY (test): fresh objects, no cycle since.
        unsafe { link(&mut m, Kind::Node, a, 2, Some(b)) };
        let slot = m.push_root(Some(a));
        let path = m.retaining_path(b).expect("reachable");
        assert_eq!(path.root(), RootKind::ShadowStack(m.id(), slot), "{mode:?}");
        assert_eq!(path.steps()[1].via, Via::Field(2), "{mode:?}");
        let mut json = Vec::new();
        let summary = m.write_heap_snapshot(&mut json).unwrap();
        assert_eq!((summary.objects, summary.edges), (2, 1), "{mode:?}");
        let s = Snapshot::parse(&json);
        assert_eq!(
            s.count(),
            2 + 3,
            "{mode:?}: root, (GC roots), one stack, two objects"
        );
    }
}
