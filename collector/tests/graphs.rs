//! Property test: random object graphs and root sets.
//!
//! A model keeps the graph (objects of four layouts: pointer bitmap, array of
//! pairs, bytes, tagged words with a trace callback) and the roots (globals,
//! shadow-stack slots, and a root-scanner callback). After each collection,
//! with checkmark, the verifier and poisoning on:
//! - exactly the reachable objects were marked (the cycle's marked count);
//! - every reachable object still carries its canary and its edges;
//! - once the sweep has finished, the allocator holds exactly the reachable
//!   objects: everything unreachable was freed.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use proptest::prelude::*;
use tricolor_collector::{GlobalRoot, Heap, ObjRef};

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

    let collect = |m: &mut tricolor_collector::Mutator,
                   objs: &mut Vec<Obj>,
                   roots: &Vec<(usize, Root)>|
     -> Result<(), TestCaseError> {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn collection_keeps_exactly_the_reachable_objects(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops)?;
    }
}
