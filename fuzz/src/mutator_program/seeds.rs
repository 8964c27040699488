//! The seed programs of the corpus (`fuzz/corpus/mutator_program/seed-*`).

use tricolor_collector::BarrierMode;

use super::action::Resurrect;
use super::builder::{Builder, Ran};
use super::input::{OpKind, NULL};

/// The seed programs, by name (the corpus holds each as `seed-NAME`).
///
/// The first five are the textbook lost objects; each loses an object
/// unless the barrier (or, for incremental update, the stack rescan at
/// mark termination) saves it:
///
/// - `lost-black-grey-*`: during marking, the only pointer to a white object
///   moves into an already scanned (black) object and is deleted from the
///   grey one. Every mode needs its barrier here.
/// - `lost-black-grey-via-global`: the same, done by another mutator that
///   reaches the objects through a global root.
/// - `lost-hidden-on-scanned-stack`: a pointer is loaded onto a stack that
///   was already scanned, then deleted from the heap. SATB and hybrid need
///   the deletion barrier; incremental update finds it by the rescan.
/// - `lost-hidden-on-scanned-stack-other-mutator`: the same, the load by one
///   mutator and the deletion by another.
/// - `lost-from-unscanned-stack`: the only pointer, on a stack not yet
///   scanned, is stored into a black (newly allocated) object and dropped
///   from the stack. Hybrid and incremental update need the insertion half;
///   SATB scanned every stack when the cycle began.
/// - `hybrid-transfer-between-stacks`: a pointer moves from an unscanned
///   stack through a shared object onto a scanned stack.
///
/// Then finalizers, cleanups, weak references and ephemerons:
///
/// - `weak-get-revives-during-mark-*`: a weak reference read while marking
///   yields the only strong reference, onto a scanned stack;
/// - `ephemeron-keys-die`: a key-in-value cycle across the two tables keeps
///   neither; weak references to both are cleared, the entries go;
/// - `finalizer-resurrects-*`: a finalizer resurrects its object into a new
///   global; the old weak reference stays cleared, its ephemeron entry is
///   gone, its cleanup runs when it really dies;
/// - `finalizer-resurrects-during-mark`: into its global root while a mark
///   runs, after the globals were scanned, then loaded onto a scanned stack;
/// - `finalizer-referent-stored-after-stage-*`: a finalizable object gets a
///   referent after the finalizer stage, then dies in that cycle;
/// - `ephemeron-chain-during-mark-*`: a chain of entries across both tables
///   completed while marking, its last link held by no stack at the end;
/// - `cleanups-*`: with an argument, cancelled, refused, and on an object
///   with a finalizer;
/// - `finalizer-chain-and-cycle`, `finalizer-clear-and-steps`.
///
/// Then generational heaps (generation §3, §4 in the collector):
///
/// - `generational-old-to-young-*`: between cycles, an old object (made
///   old by two major cycles) gets the only pointer to a young one; the minor
///   cycle that follows keeps it through the remembered set, frees young
///   garbage, and keeps an old dead object with a finalizer until the next
///   major cycle.
/// - `generational-store-during-mark-*`: during a minor mark, after the
///   old object's turn has passed, it gets the only pointer to an object
///   allocated black, which is a survivor (not old) after the cycle; the
///   next minor cycle keeps it only because the store logged the old
///   object.
///
/// Both come in a `header-free-*` version too, whose nodes are of the
/// header-free type (their log-armed bits live in their spans).
///
/// The rest use every operation under every mode, and a few are random
/// bytes.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use BarrierMode::{Hybrid, IncrementalUpdate as Incremental, Satb};
    use OpKind::*;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, b: Builder| out.push((name.to_string(), b.build()));

    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (a, grey, white) = (b.node(0), b.node(0), b.node(0));
        b.link(0, a, 0, grey);
        b.link(0, grey, 0, white);
        b.pop(0, 2); // only `a` is a root
        b.begin();
        b.scan_stack(0);
        b.mark(1); // `a` black, `grey` grey, `white` white
        b.link(0, a, 1, white);
        b.unlink(0, grey, 0);
        b.finish();
        add(&format!("lost-black-grey-{name}"), b);
    }

    // Each twice: with nodes that have headers, and with header-free ones
    // (whose log-armed bits live in their spans).
    let modes = [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ];
    for ((mode, name), free) in modes.into_iter().flat_map(|m| [(m, false), (m, true)]) {
        let name = if free {
            format!("header-free-{name}")
        } else {
            name.to_string()
        };
        let mut b = Builder::new_generational(mode, 2, 1);
        let a = b.node_of(0, free);
        b.set_global(0, 0, Some(a));
        let doomed = b.node_of(1, free);
        b.set_finalizer(1, doomed, Resurrect::No);
        // Two major cycles: `a` and `doomed` survive twice, so they are old
        // (generation §1).
        for _ in 0..2 {
            b.begin();
            b.scan_stack(0);
            b.scan_stack(1);
            b.plain(ScanGlobals, 0);
            b.mark(0);
            b.finish();
        }
        b.pop(1, 1); // `doomed` is old and unreachable
        let young = b.node_of(0, free);
        b.link(0, a, 0, young); // an old-to-young store: logged
        b.pop(0, 2); // `young` is reachable only through `a`
        b.node_of(1, free); // young garbage
        b.pop(1, 1);
        b.begin_minor();
        b.scan_stack(0);
        b.scan_stack(1);
        b.plain(ScanGlobals, 0);
        b.mark(0);
        b.finish();
        b.plain(Check, 0);
        b.begin(); // major: `doomed` is found now
        b.plain(ScanGlobals, 0);
        b.mark(0);
        b.finish();
        b.plain(Check, 1);
        add(&format!("generational-old-to-young-{name}"), b);

        let mut b = Builder::new_generational(mode, 2, 1);
        let a = b.node_of(0, free); // stays on the stack: a root, but old, so not scanned
        b.set_global(0, 0, Some(a));
        for _ in 0..2 {
            b.begin();
            b.scan_stack(0);
            b.scan_stack(1);
            b.plain(ScanGlobals, 0);
            b.mark(0);
            b.finish();
        }
        b.begin_minor();
        b.scan_stack(0);
        b.scan_stack(1);
        b.plain(ScanGlobals, 0);
        b.mark(0);
        let young = b.node_of(0, free); // allocated black: a survivor after this cycle
        b.link(0, a, 0, young); // a store into an old object during the mark
        b.pop(0, 1);
        b.finish();
        b.begin_minor();
        b.scan_stack(0);
        b.scan_stack(1);
        b.plain(ScanGlobals, 0);
        b.mark(0);
        b.finish();
        b.plain(Check, 0);
        add(&format!("generational-store-during-mark-{name}"), b);
    }

    let mut b = Builder::new(Hybrid, 3, 1);
    let (a, grey, white) = (b.node(0), b.node(0), b.node(0));
    b.link(0, a, 0, grey);
    b.link(0, grey, 0, white);
    b.set_global(0, 0, Some(a));
    b.pop(0, 3);
    b.begin();
    b.scan_globals_then_mark_one();
    b.link(1, a, 1, white);
    b.unlink(1, grey, 0);
    b.scan_stack(2);
    b.finish();
    add("lost-black-grey-via-global", b);

    let mut b = Builder::new(Satb, 2, 0);
    let (holder, x) = (b.node(0), b.node(0));
    b.link(0, holder, 0, x);
    b.pop(0, 1);
    b.begin();
    b.scan_stack(0);
    b.load(0, holder, 0, None); // onto the scanned stack
    b.unlink(0, holder, 0);
    b.mark(0);
    b.finish();
    add("lost-hidden-on-scanned-stack", b);

    let mut b = Builder::new(Hybrid, 2, 1);
    let (holder, x) = (b.node(0), b.node(0));
    b.link(0, holder, 0, x);
    b.set_global(0, 0, Some(holder));
    b.pop(0, 2);
    b.begin();
    b.scan_stack(1);
    b.load(1, holder, 0, None);
    b.unlink(0, holder, 0);
    b.plain(ScanGlobals, 0);
    b.mark(0);
    b.scan_stack(0);
    b.finish();
    add("lost-hidden-on-scanned-stack-other-mutator", b);

    let mut b = Builder::new(Incremental, 2, 0);
    let x = b.node(0);
    b.begin();
    let black = b.node(0);
    b.link(0, black, 0, x);
    b.set(0, 0, None); // the stack no longer holds `x`
    b.scan_stack(0);
    b.mark(0);
    b.finish();
    add("lost-from-unscanned-stack", b);

    let mut b = Builder::new(Hybrid, 2, 1);
    let shared = b.node(0);
    b.set_global(0, 0, Some(shared));
    b.pop(0, 1);
    let x = b.node(1);
    b.begin();
    b.scan_stack(0);
    b.mark(0);
    b.link(1, shared, 0, x); // from the unscanned stack of mutator 1
    b.pop(1, 1);
    b.load(0, shared, 0, None); // onto the scanned stack of mutator 0
    b.unlink(0, shared, 0);
    b.scan_stack(1);
    b.mark(0);
    b.finish();
    add("hybrid-transfer-between-stacks", b);

    // Every kind of object, large ones included, array elements as edges,
    // marking in small steps and a check in the middle of a cycle.
    let mut b = Builder::new(Satb, 2, 0);
    let arr = b.alloc(0, 5, 7); // 8 elements
    let big = b.alloc(0, 6, NULL); // a large array
    let s = b.alloc(0, 7, 3); // 16 bytes
    let blob = b.alloc(0, 7, NULL); // a large byte array
    b.link(0, arr, 0, big);
    b.link(0, arr, 7, s);
    b.link(0, big, 200, blob);
    b.link(0, big, 17, arr); // a cycle
    b.pop(0, 3);
    b.begin();
    b.scan_stack(0);
    b.mark(1);
    let n = b.node(0);
    b.link(0, big, 99, n);
    b.plain(Check, 1);
    b.mark(2);
    b.unlink(0, arr, 7);
    b.mark(0);
    b.finish();
    b.unlink(0, big, 17);
    b.begin();
    b.scan_stack(0);
    b.scan_stack(1);
    b.finish();
    add("alloc-every-kind", b);

    // Global roots: added, set, loaded and dropped, in and out of cycles.
    let mut b = Builder::new(Incremental, 3, 2);
    let (g0, g1) = (b.node(0), b.alloc(0, 5, 3));
    b.set_global(0, 0, Some(g0));
    b.set_global(0, 1, Some(g1));
    b.pop(0, 2);
    b.begin();
    b.load_global(1, 0, None);
    let fresh = b.node(1);
    b.link(1, g0, 0, fresh);
    b.add_global(1, Some(fresh));
    b.set_global(2, 0, None);
    b.plain(ScanGlobals, 0);
    b.load_global(2, 1, None);
    b.drop_global(1);
    b.mark(0);
    b.scan_stack(1);
    b.scan_stack(2);
    b.finish();
    b.add_global(1, None);
    b.begin();
    b.set_global(2, 2, Some(g1));
    b.drop_global(0);
    b.finish();
    add("globals", b);

    // Native calls, safepoints, and a mutator that waits running: the
    // stop-the-world parks it at its safepoint and it runs its handshakes
    // itself.
    let mut b = Builder::new(Hybrid, 3, 0);
    let a = b.node(1);
    b.toggle_wait(1);
    b.native_call(0);
    b.plain(Safepoint, 1);
    b.begin();
    let c = b.node(1);
    b.link(1, a, 0, c);
    b.plain(Flush, 0);
    b.scan_stack(1);
    b.native_call(1);
    b.plain(Safepoint, 2);
    b.mark(0);
    b.toggle_wait(2);
    b.scan_stack(2);
    b.scan_stack(0);
    b.finish();
    b.toggle_wait(1);
    b.begin();
    b.finish();
    b.toggle_wait(2);
    add("native-and-waiting-running", b);

    // A mutator detaches in the middle of a mark and a fresh one attaches
    // on the same thread (empty, hence scanned, stack; allocating black).
    let mut b = Builder::new(Satb, 2, 1);
    let (a, x) = (b.node(1), b.node(1));
    b.link(1, a, 0, x);
    b.set_global(1, 0, Some(a));
    b.begin();
    b.unlink(1, a, 0);
    b.reattach(1);
    b.push(1, Some(a));
    b.push(1, None);
    let y = b.node(1);
    b.link(1, a, 1, y);
    b.scan_stack(1);
    b.scan_stack(0);
    b.mark(0);
    b.finish();
    b.reattach(0);
    add("reattach-during-mark", b);

    // Stores recorded by the barrier reach the mark through flushes.
    let mut b = Builder::new(Incremental, 2, 0);
    let (root, spare) = (b.alloc(0, 5, 15), b.alloc(0, 5, 7)); // 16 and 8 elements
    let mut nodes = Vec::new();
    for i in 0..6 {
        let n = b.node(0);
        b.link(0, spare, i, n);
        b.pop(0, 1);
        nodes.push(n);
    }
    b.begin();
    b.scan_stack(0);
    for (i, &n) in nodes.iter().enumerate() {
        b.link(0, root, i as u8, n);
        b.unlink(0, spare, i as u8);
    }
    b.plain(Flush, 0);
    b.mark(3);
    for i in 0..3 {
        b.unlink(0, root, i);
    }
    b.plain(Flush, 1);
    b.mark(0);
    b.finish();
    add("flush-rounds", b);

    // A list grown and cut across several cycles.
    let mut b = Builder::new(Hybrid, 2, 0);
    let head = b.node(0);
    let mut tail = head;
    for round in 0..4u8 {
        b.begin();
        if round % 2 == 0 {
            b.scan_stack(0);
            b.scan_stack(1);
        }
        for _ in 0..3 {
            let n = b.node(0);
            b.link(0, tail, 1, n);
            b.pop(0, 1);
            tail = n;
        }
        b.mark(2);
        if round == 2 {
            b.load(0, head, 1, None);
        }
        b.scan_stack(0);
        b.scan_stack(1);
        b.finish();
    }
    b.unlink(0, head, 1);
    b.begin();
    b.scan_stack(0);
    b.finish();
    add("list-across-cycles", b);

    // Four mutators share a table through a global and swap its entries.
    let mut b = Builder::new(Satb, 4, 1);
    let table = b.alloc(0, 5, 3); // 4 elements
    b.set_global(0, 0, Some(table));
    b.pop(0, 1);
    for m in 0..4 {
        let n = b.node(m);
        b.link(m, table, m as u8, n);
    }
    b.begin();
    for m in 0..4 {
        b.load(m, table, (m as u8 + 1) % 4, None);
        b.unlink(m, table, (m as u8 + 1) % 4);
        b.scan_stack(m);
    }
    b.mark(0);
    b.finish();
    add("four-mutators", b);

    // A weak reference read while marking yields the only strong reference
    // to its object, onto a stack already scanned: in hybrid mode only the
    // shading `get` does keeps the object (SATB scanned the stack that held
    // it at the snapshot; incremental update rescans stacks).
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let x = b.node(1);
        let w = b.weak_ref(1, x);
        b.begin();
        b.scan_stack(0);
        b.pop(1, 1); // `x` leaves the unscanned stack (no barrier on stacks)
        b.weak_get(0, w, true, true);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        b.plain(Check, 1);
        add(&format!("weak-get-revives-during-mark-{name}"), b);
    }

    // Ephemerons whose keys die: a key-in-value cycle across the two tables
    // keeps neither; weak references to both are cleared, the entries go.
    let mut b = Builder::new(Hybrid, 2, 1);
    let holder = b.node(0);
    b.set_global(0, 0, Some(holder));
    let (k, v) = (b.node(0), b.node(0));
    b.link(0, holder, 0, k);
    b.eph_insert(0, 0, k, v);
    b.eph_insert(0, 1, v, k);
    let (wk, wv) = (b.weak_ref(0, k), b.weak_ref(0, v));
    b.pop(0, 3);
    b.begin();
    b.scan_stack(0);
    b.scan_stack(1);
    b.plain(ScanGlobals, 0);
    b.mark(0);
    b.ephemeron_pass();
    b.mark(0);
    b.finish();
    b.weak_get(1, wv, false, true); // kept by `k`'s entry; used under keep_alive
    b.eph_get(1, 0, k, false, true);
    b.unlink(0, holder, 0); // `k` stays reachable through the entry of `v`, on m1's stack
    b.pop(1, 1); // now only the two entries hold them: garbage
    b.begin();
    b.finish();
    b.weak_get(0, wk, true, false);
    b.weak_get(0, wv, false, false);
    b.wait(None, &[]);
    b.plain(Check, 1);
    add("ephemeron-keys-die", b);

    // A finalizer resurrects its object; the weak reference made before
    // stays cleared, the ephemeron entry keyed by it is gone, a cleanup
    // waits until the object really dies.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (f, c) = (b.node(0), b.node(0));
        b.link(0, f, 0, c);
        b.pop(0, 1); // `c` only through `f`
        let r = b.set_finalizer(0, f, Resurrect::NewGlobal);
        let cl = b.add_cleanup(0, f, None).expect("a cleanup");
        let w_old = b.weak_ref(0, f);
        b.eph_insert(0, 0, f, c);
        b.pop(0, 1); // `f` is garbage; `c` is kept for its finalizer
        b.begin();
        b.scan_stack(0);
        b.scan_stack(1);
        b.finalizer_stage();
        b.mark(0);
        b.finish();
        b.weak_get(1, w_old, true, false);
        b.wait(None, &[Ran::Fin(r)]);
        let g = b.model.globals.len() as u8 - 1;
        b.load_global(0, g, None); // `f` is back, with `c`
        b.plain(Check, 1);
        b.weak_get(0, w_old, false, false); // cleared for good
        let w_new = b.weak_ref(0, f);
        b.eph_get(0, 0, f, false, true); // the entry went with the first death
        b.weak_get(1, w_new, true, true);
        b.pop(0, 2);
        b.pop(1, 1);
        b.drop_global(g);
        b.begin();
        b.finish();
        b.wait(Some(1), &[Ran::Cleanup(cl)]);
        b.cancel(cl, false);
        add(&format!("finalizer-resurrects-{name}"), b);
    }

    // A finalizer resurrects its object into its global root while a mark
    // runs, after the globals were scanned; the object is then loaded onto
    // a scanned stack. The job was popped (and its object shaded) when the
    // sweep queued it; the global store's barrier shades it again.
    let mut b = Builder::new(Hybrid, 2, 0);
    let (f, arr) = (b.node(0), b.alloc(0, 5, 3));
    b.link(0, f, 1, arr);
    b.pop(0, 1);
    let r = b.set_finalizer(0, f, Resurrect::Slot);
    b.pop(0, 1);
    b.begin();
    b.finish();
    b.begin(); // its sweep queues the finalizer
    b.scan_stack(0);
    b.plain(ScanGlobals, 0);
    b.wait(Some(1), &[Ran::Fin(r)]);
    b.load_global(0, 0, None);
    b.mark(0);
    b.scan_stack(1);
    b.finish();
    b.plain(Check, 1);
    add("finalizer-resurrects-during-mark", b);

    // A finalizer whose object gets a referent after the finalizer stage,
    // stored from an unscanned stack: the barrier must keep the referent
    // for the finalizer (which reads it). SATB keeps both as floating
    // garbage, and finalizes in the next cycle.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (f, x) = (b.node(1), b.node(1));
        let r = b.set_finalizer(1, f, Resurrect::No);
        b.begin();
        b.scan_stack(0);
        b.finalizer_stage();
        b.link(1, f, 0, x);
        b.pop(1, 2);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        if mode == Satb {
            b.wait(None, &[]);
            b.begin();
            b.finish();
        }
        b.wait(None, &[Ran::Fin(r)]);
        add(&format!("finalizer-referent-stored-after-stage-{name}"), b);
    }

    // An ephemeron chain k1 -> k2 -> k3 -> v across both tables, completed
    // while marking by an entry whose value is held only by a stack that
    // drops it before its scan: the passes at mark termination keep it.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 1);
        let k1 = b.node(0);
        b.set_global(0, 0, Some(k1));
        let k2 = b.node(0);
        b.eph_insert(0, 0, k1, k2);
        b.pop(0, 2);
        let (k3, v) = (b.node(1), b.alloc(1, 7, 2));
        b.eph_insert(1, 1, k3, v);
        b.pop(1, 1);
        b.begin();
        b.plain(ScanGlobals, 0);
        b.mark(0);
        b.ephemeron_pass();
        b.mark(0);
        b.scan_stack(0);
        b.eph_get(1, 0, k1, false, true); // `k2` onto m1's stack
        b.eph_insert(1, 0, k2, k3);
        b.pop(1, 2);
        b.scan_stack(1);
        b.mark(0);
        b.ephemeron_pass();
        b.mark(0);
        b.finish();
        b.plain(Check, 1);
        b.set_global(0, 0, None); // the chain dies with its head
        b.begin();
        b.finish();
        b.plain(Check, 0);
        add(&format!("ephemeron-chain-during-mark-{name}"), b);
    }

    // Cleanups: one with an argument kept only by the cleanup, one
    // cancelled, one refused (its argument is its object), one on an object
    // with a finalizer (it runs when the object really dies).
    for (mode, name) in [(Satb, "satb"), (Hybrid, "hybrid")] {
        let mut b = Builder::new(mode, 2, 0);
        let (o, arg, o2) = (b.node(0), b.alloc(0, 7, 1), b.node(0));
        let c1 = b.add_cleanup(0, o, Some(arg)).expect("a cleanup");
        let c2 = b.add_cleanup(0, o, None).expect("a cleanup");
        assert_eq!(b.add_cleanup(0, o, Some(o)), None);
        b.cancel(c2, true);
        let r = b.set_finalizer(0, o2, Resurrect::No);
        let c3 = b.add_cleanup(0, o2, Some(arg)).expect("a cleanup");
        b.pop(0, 3);
        b.begin();
        b.scan_stack(0);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        b.wait(Some(0), &[Ran::Cleanup(c1), Ran::Fin(r)]);
        b.cancel(c1, false); // too late: it ran
        b.begin();
        b.finish();
        b.wait(None, &[Ran::Cleanup(c3)]);
        b.cancel(c3, false);
        b.begin();
        b.finish();
        add(&format!("cleanups-{name}"), b);
    }

    // Finalizers in a chain run one cycle apart; finalizers in a cycle
    // never run (they keep each other).
    let mut b = Builder::new(Satb, 2, 0);
    let (f1, f2, f3, f4) = (b.node(0), b.node(0), b.node(0), b.node(0));
    b.link(0, f1, 0, f2);
    b.link(0, f3, 0, f4);
    b.link(0, f4, 1, f3);
    let recs: Vec<usize> = [f1, f2, f3, f4]
        .into_iter()
        .map(|f| b.set_finalizer(0, f, Resurrect::No))
        .collect();
    b.pop(0, 4);
    b.begin();
    b.finish();
    b.wait(None, &[Ran::Fin(recs[0])]);
    b.begin();
    b.scan_stack(0);
    b.finalizer_stage();
    b.finish();
    b.wait(None, &[Ran::Fin(recs[1])]);
    b.begin();
    b.finish();
    b.wait(None, &[]);
    add("finalizer-chain-and-cycle", b);

    // Set, clear, set again; a finalizable key; the object is dropped
    // while marking (the global's barrier keeps it as floating garbage),
    // then finalized with the collector steps run by hand, and resurrected.
    let mut b = Builder::new(Incremental, 3, 1);
    let (a, x) = (b.node(0), b.node(0));
    b.link(0, a, 0, x);
    b.set_global(0, 0, Some(a));
    b.set_finalizer(0, a, Resurrect::Slot);
    b.clear_finalizer(0, a);
    b.clear_finalizer(0, a);
    let r = b.set_finalizer(0, a, Resurrect::NewGlobal);
    b.set_finalizer_refused(0, a);
    b.eph_insert(0, 1, a, x);
    b.pop(0, 2);
    b.begin();
    b.scan_stack(0);
    b.finalizer_stage();
    b.ephemeron_pass();
    b.set_global(1, 0, None);
    b.mark(0);
    b.plain(ScanGlobals, 0);
    b.plain(Flush, 0);
    b.finish();
    b.wait(None, &[]);
    b.begin();
    b.ephemeron_pass();
    b.finalizer_stage();
    b.finish();
    b.wait(Some(2), &[Ran::Fin(r)]);
    b.load_global(1, 1, None);
    b.eph_get(1, 1, a, false, true);
    b.plain(Check, 2);
    add("finalizer-clear-and-steps", b);

    let mut out2 = out;
    for (i, len) in [120usize, 300, 600, 900, 1400, 2000]
        .into_iter()
        .enumerate()
    {
        let mut rng = tricolor_testkit::Rng::new(0x5EED_0000 + i as u64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        out2.push((format!("random-{i}"), bytes));
    }
    out2
}
