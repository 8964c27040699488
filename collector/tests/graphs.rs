//! Property test: random object graphs and root sets.
//!
//! A model keeps the graph (objects of four layouts: pointer bitmap, array of
//! pairs, bytes, tagged words with a trace callback) and the roots (globals,
//! shadow-stack slots, and a root-scanner callback). After each collection,
//! with checkmark, the verifier and poisoning on:
//! - exactly the reachable objects were marked (the cycle's marked count);
//! - every reachable object still carries its canary and its edges;
//! - once the sweep has finished, the allocator holds exactly the reachable
//!   objects: everything unreachable was freed;
//! - before each collection, for a few sampled objects, `retaining_path` is
//!   `None` exactly for the unreachable ones, and for a reachable one it is
//!   as long as the model's shortest distance from a root, starts at a root
//!   the model has, and follows edges the model has.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use common::*;
use proptest::prelude::*;
use tricolor_collector::{GlobalRoot, Heap, InspectError, ObjRef, RootKind, Via};

#[derive(Debug, Clone)]
enum Op {
    New(u8),
    Link(prop::sample::Index, prop::sample::Index, u8),
    Cut(prop::sample::Index, u8),
    RootShadow(prop::sample::Index),
    RootGlobal(prop::sample::Index),
    RootScanner(prop::sample::Index),
    DropRoot(prop::sample::Index),
    Collect,
}

fn op() -> impl Strategy<Value = Op> {
    use prop::sample::Index;
    prop_oneof![
        8 => any::<u8>().prop_map(Op::New),
        8 => (any::<Index>(), any::<Index>(), any::<u8>()).prop_map(|(a, b, s)| Op::Link(a, b, s)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(a, s)| Op::Cut(a, s)),
        2 => any::<Index>().prop_map(Op::RootShadow),
        1 => any::<Index>().prop_map(Op::RootGlobal),
        1 => any::<Index>().prop_map(Op::RootScanner),
        2 => any::<Index>().prop_map(Op::DropRoot),
        1 => Just(Op::Collect),
    ]
}

struct Obj {
    obj: ObjRef,
    kind: Kind,
    edges: Vec<Option<usize>>,
    alive: bool,
}

enum Root {
    Shadow(usize),
    Global(GlobalRoot),
    Scanner(usize),
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let heap = Heap::new(common::checked_config());
    let types = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let scanner_roots: Arc<Mutex<Vec<ObjRef>>> = Arc::default();
    {
        let sr = scanner_roots.clone();
        m.set_root_scanner(Some(Box::new(move |v| {
            for &o in sr.lock().unwrap().iter() {
                v.visit(Some(o));
            }
        })));
    }
    let mut objs: Vec<Obj> = Vec::new();
    let mut roots: Vec<(usize, Root)> = Vec::new(); // (object index, root)

    let mut batches = 0;
    let mut collect = |m: &mut tricolor_collector::Mutator,
                       objs: &mut Vec<Obj>,
                       roots: &Vec<(usize, Root)>|
     -> Result<(), TestCaseError> {
        batches += 1;
        check_paths(m, objs, roots, batches)?;
        m.collect();
        // Model reachability.
        let mut reach = vec![false; objs.len()];
        let mut stack: Vec<usize> = roots.iter().map(|(i, _)| *i).collect();
        while let Some(i) = stack.pop() {
            if reach[i] {
                continue;
            }
            reach[i] = true;
            stack.extend(objs[i].edges.iter().flatten().copied());
        }
        let expected = reach.iter().filter(|&&r| r).count() as u64;
        let stats = heap.stats();
        let cycle = stats.last_cycle.expect("a cycle ran");
        prop_assert_eq!(cycle.objects_marked, expected, "marked count");
        for (i, o) in objs.iter_mut().enumerate() {
            if !reach[i] {
                o.alive = false;
                continue;
            }
            // SAFETY (test): reachable, so live.
            prop_assert!(
                unsafe { canary_ok(m, o.kind, o.obj, i as u64) },
                "object {} lost its canary",
                i
            );
        }
        Ok(())
    };

    for op in ops {
        let live: Vec<usize> = (0..objs.len()).filter(|&i| objs[i].alive).collect();
        match op {
            Op::New(k) => {
                let kind = match k % 4 {
                    0 => Kind::Node,
                    1 => Kind::Pairs(1 + (k as usize / 4) % 6),
                    2 => Kind::Bytes,
                    _ => Kind::Tagged,
                };
                let id = objs.len();
                let obj = alloc(&mut m, &types, kind, id as u64);
                objs.push(Obj {
                    obj,
                    kind,
                    edges: vec![None; kind.slots()],
                    alive: true,
                });
                // Root the newest object until the next op decides, so that
                // a gc-stress or pacer cycle cannot free it under us.
                let slot = m.push_root(Some(obj));
                roots.push((id, Root::Shadow(slot)));
            }
            Op::Link(a, b, s) if !live.is_empty() => {
                let (a, b) = (live[a.index(live.len())], live[b.index(live.len())]);
                let slots = objs[a].kind.slots();
                if slots > 0 {
                    let s = s as usize % slots;
                    // SAFETY (test): both live.
                    unsafe { link(&mut m, objs[a].kind, objs[a].obj, s, Some(objs[b].obj)) };
                    objs[a].edges[s] = Some(b);
                }
            }
            Op::Cut(a, s) if !live.is_empty() => {
                let a = live[a.index(live.len())];
                let slots = objs[a].kind.slots();
                if slots > 0 {
                    let s = s as usize % slots;
                    // SAFETY (test): live.
                    unsafe { link(&mut m, objs[a].kind, objs[a].obj, s, None) };
                    objs[a].edges[s] = None;
                }
            }
            Op::RootShadow(a) if !live.is_empty() => {
                let a = live[a.index(live.len())];
                let slot = m.push_root(Some(objs[a].obj));
                roots.push((a, Root::Shadow(slot)));
            }
            Op::RootGlobal(a) if !live.is_empty() => {
                let a = live[a.index(live.len())];
                roots.push((a, Root::Global(heap.add_global(Some(objs[a].obj)))));
            }
            Op::RootScanner(a) if !live.is_empty() => {
                let a = live[a.index(live.len())];
                let mut sr = scanner_roots.lock().unwrap();
                sr.push(objs[a].obj);
                roots.push((a, Root::Scanner(sr.len() - 1)));
            }
            Op::DropRoot(r) if !roots.is_empty() => {
                let (_, root) = roots.remove(r.index(roots.len()));
                match root {
                    Root::Shadow(slot) => m.set_root(slot, None),
                    Root::Global(g) => drop(g),
                    Root::Scanner(i) => {
                        // Keep indices stable: replace with a still-rooted object
                        // if any, else clear by truncating the vector's use.
                        let mut sr = scanner_roots.lock().unwrap();
                        let keep: Vec<ObjRef> = roots
                            .iter()
                            .filter_map(|(j, r)| {
                                matches!(r, Root::Scanner(_)).then_some(objs[*j].obj)
                            })
                            .collect();
                        let _ = i;
                        *sr = keep;
                        // Renumber scanner roots.
                        let mut n = 0;
                        for (_, r) in roots.iter_mut() {
                            if let Root::Scanner(k) = r {
                                *k = n;
                                n += 1;
                            }
                        }
                    }
                }
            }
            Op::Collect => collect(&mut m, &mut objs, &roots)?,
            _ => {}
        }
    }
    collect(&mut m, &mut objs, &roots)?;
    let first = heap.stats().last_cycle.unwrap();
    // The next cycle finishes the previous sweep before it marks, and
    // nothing was allocated in between: the bytes in use it finds are exactly
    // the bytes the previous mark kept. Everything unreachable was freed.
    collect(&mut m, &mut objs, &roots)?;
    let second = heap.stats().last_cycle.unwrap();
    prop_assert_eq!(
        second.heap_before,
        first.heap_marked,
        "unreachable objects were not all freed"
    );
    prop_assert_eq!(second.heap_marked, first.heap_marked);
    Ok(())
}

/// The model's shortest distance from a root to each object (`None`:
/// unreachable): a breadth-first search from every root at once.
fn distances(objs: &[Obj], roots: &[(usize, Root)]) -> Vec<Option<usize>> {
    let mut dist = vec![None; objs.len()];
    let mut queue = VecDeque::new();
    for &(i, _) in roots {
        if dist[i].is_none() {
            dist[i] = Some(0);
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        for &j in objs[i].edges.iter().flatten() {
            if dist[j].is_none() {
                dist[j] = Some(dist[i].unwrap() + 1);
                queue.push_back(j);
            }
        }
    }
    dist
}

/// Asks `retaining_path` about a few live model objects (which ones turns
/// with `batch`): first one the model says is unreachable, if any (its
/// cycle frees the garbage, so a second such question would find a free
/// slot), then up to three reachable ones, the deepest among them,
/// checked against the model.
fn check_paths(
    m: &mut tricolor_collector::Mutator,
    objs: &[Obj],
    roots: &[(usize, Root)],
    batch: usize,
) -> Result<(), TestCaseError> {
    let dist = distances(objs, roots);
    let live: Vec<usize> = (0..objs.len()).filter(|&i| objs[i].alive).collect();
    if live.is_empty() {
        return Ok(());
    }
    let turned = |pred: &dyn Fn(usize) -> bool| -> Vec<usize> {
        let n = live.len();
        (0..n)
            .map(|k| live[(k + batch * 7) % n])
            .filter(|&i| pred(i))
            .collect()
    };
    let index: HashMap<usize, usize> = live.iter().map(|&i| (objs[i].obj.addr(), i)).collect();
    let id = m.id();
    let root_kinds: Vec<(RootKind, usize)> = roots
        .iter()
        .map(|(i, r)| {
            let kind = match r {
                Root::Shadow(slot) => RootKind::ShadowStack(id, *slot),
                Root::Global(g) => RootKind::Global(g.index()),
                Root::Scanner(k) => RootKind::Scanner(id, *k),
            };
            (kind, *i)
        })
        .collect();
    if let Some(&dead) = turned(&|i| dist[i].is_none()).first() {
        let path = m.try_retaining_path(objs[dead].obj);
        prop_assert_eq!(
            path,
            Ok(None),
            "object {} is unreachable in the model",
            dead
        );
    }
    // The two deepest (most objects are rooted directly) and one more.
    let mut reachable = turned(&|i| dist[i].is_some());
    let next = reachable.first().copied();
    reachable.sort_by_key(|&i| std::cmp::Reverse(dist[i]));
    reachable.truncate(2);
    reachable.extend(next.filter(|n| !reachable.contains(n)));
    for target in reachable {
        let path = m.try_retaining_path(objs[target].obj);
        let path = match path {
            Ok(Some(p)) => p,
            other => {
                return Err(TestCaseError::fail(format!(
                    "object {target} is reachable in the model, but: {other:?}"
                )))
            }
        };
        prop_assert_eq!(
            path.len(),
            dist[target].unwrap() + 1,
            "not a shortest path: {}",
            path
        );
        prop_assert_eq!(path.target(), objs[target].obj);
        let steps = path.steps();
        let first = index[&steps[0].object.addr()];
        prop_assert!(
            root_kinds.contains(&(path.root(), first)),
            "the path starts at {} holding object {}, not a root of the model: {}",
            path.root(),
            first,
            path
        );
        for w in steps.windows(2) {
            let (from, to) = (index[&w[0].object.addr()], index[&w[1].object.addr()]);
            let edges = &objs[from].edges;
            let ok = match (objs[from].kind, w[1].via) {
                (Kind::Node, Via::Field(f)) => edges.get(f) == Some(&Some(to)),
                (Kind::Pairs(_), Via::Field(f)) => {
                    f % 2 == 0 && edges.get(f / 2) == Some(&Some(to))
                }
                (Kind::Tagged, Via::TraceCallback) => edges.contains(&Some(to)),
                _ => false,
            };
            prop_assert!(
                ok,
                "step {} -> {} is no edge of the model: {}",
                from,
                to,
                path
            );
        }
    }
    // An interior pointer is refused, not walked (into a reachable
    // object: the garbage's spans may be gone by now).
    let Some(&kept) = turned(&|i| dist[i].is_some()).first() else {
        return Ok(());
    };
    let inside = ObjRef::from_addr(objs[kept].obj.addr() + 8).unwrap();
    let refused = m.try_retaining_path(inside);
    prop_assert!(
        matches!(refused, Err(InspectError::Interior { .. })),
        "{:?}",
        refused
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn collection_keeps_exactly_the_reachable_objects(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops)?;
    }
}
