//! The textbook lost-object interleavings, one per barrier mode, driven step
//! by step with `CycleStepper`. Each scenario is run twice: with the barrier
//! (checkmark passes and the object survives intact) and with the barrier
//! switched off by the test-only switch (checkmark must fail, naming the
//! object). A scenario that passed without its barrier would prove nothing.
//!
//! The mutator is the test thread; the collector's steps run on a helper
//! thread (a stepper must not run on an attached thread), and the mutator
//! sits in native code whenever the helper acts, so every step happens at an
//! exact point of the mutator's program.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{self, JoinHandle};

use tricolor_collector::{BarrierMode, Config, Heap, Mutator, ObjRef, TypeId};

/// Collector steps the helper thread performs.
enum Step {
    Begin,
    /// A minor cycle of a generational heap (generation §1).
    BeginMinor,
    ScanStacks,
    ScanGlobals,
    MarkAll,
    Finish,
}

/// The helper thread that owns the stepper.
struct Collector {
    steps: Sender<Step>,
    done: Receiver<Result<(), String>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn new(heap: &Heap) -> Collector {
        let (steps, rx) = channel::<Step>();
        let (tx, done) = channel();
        let heap = heap.clone();
        let thread = thread::spawn(move || {
            let mut cycle = None;
            for step in rx {
                let r = catch_unwind(AssertUnwindSafe(|| match step {
                    Step::Begin => cycle = Some(heap.begin_cycle()),
                    Step::BeginMinor => cycle = Some(heap.begin_minor_cycle()),
                    Step::ScanStacks => cycle.as_mut().unwrap().scan_stacks(),
                    Step::ScanGlobals => cycle.as_mut().unwrap().scan_globals(),
                    Step::MarkAll => while cycle.as_mut().unwrap().mark(1000) > 0 {},
                    Step::Finish => drop(cycle.take().unwrap().finish()),
                }));
                let failed = r.is_err();
                tx.send(r.map_err(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                }))
                .unwrap();
                if failed {
                    return;
                }
            }
        });
        Collector {
            steps,
            done,
            thread: Some(thread),
        }
    }

    /// Runs `step` while the mutator waits in native code.
    fn step(&self, m: &mut Mutator, step: Step) -> Result<(), String> {
        m.native(|| {
            self.steps.send(step).unwrap();
            self.done.recv().unwrap()
        })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let (tx, _) = channel();
        drop(std::mem::replace(&mut self.steps, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A node: two pointer fields and a data word holding a canary.
fn node_type(heap: &Heap) -> TypeId {
    node_type_with(heap, false)
}

/// [`node_type`], header-free if `header_free` (the object module's docs;
/// its log-armed bit lives in its span: generation §3).
fn node_type_with(heap: &Heap, header_free: bool) -> TypeId {
    common::three_word_node(heap, header_free)
}

const CANARY: u64 = 0xC0FF_EE00_DEAD_BEEF;

fn new_node(m: &mut Mutator, ty: TypeId) -> ObjRef {
    let o = m.alloc(ty, 0);
    // SAFETY (test): a fresh node; word 2 is its data word.
    unsafe { m.store_word(o, 2, CANARY) };
    o
}

/// Barrier mode `mode`, cycles only when stepped, every check on.
fn config(mode: BarrierMode) -> Config {
    Config {
        barrier: mode,
        manual_cycles: true,
        checkmark: true,
        verify: true,
        poison: true,
        ..Config::default()
    }
}

fn heap(mode: BarrierMode) -> Heap {
    Heap::new(config(mode))
}

/// [`heap`], generational (the collector's generation essay).
fn generational_heap(mode: BarrierMode) -> Heap {
    Heap::new(Config {
        generational: true,
        ..config(mode)
    })
}

/// Scenario 1, "black gets the only pointer": during marking the mutator
/// moves the only pointer to white C from a grey/unscanned B into an
/// already-black A, deletes it from B, and drops C from its stack.
///
/// - SATB: the deletion from B is recorded (Yuasa).
/// - Incremental update: the store into A is recorded (Dijkstra).
/// - Hybrid: both are recorded while the stack is unscanned.
///
/// A is black either because it was scanned (`BlackBy::Scan`: reached from
/// a global and drained before the mutator acts) or because it was
/// allocated during the mark (`BlackBy::Alloc`: allocate-black). In SATB
/// mode B sits on a stack scanned at sweep termination, so draining A would
/// drain B too; there A is made black by allocation.
///
/// Returns the result of the cycle's finish (checkmark runs there).
fn black_gets_only_pointer(
    mode: BarrierMode,
    black_by: BlackBy,
    barrier_on: bool,
) -> Result<(), String> {
    let heap = heap(mode);
    let ty = node_type(&heap);
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);

    // B is reached from the mutator's stack; C only via B.
    let a_old = new_node(&mut m, ty);
    let global = heap.add_global(Some(a_old));
    let b = new_node(&mut m, ty);
    let b_slot = m.push_root(Some(b));
    let c = new_node(&mut m, ty);
    // SAFETY (test): B is rooted and C fresh; field 0 is a pointer field.
    unsafe { m.store(b, 0, Some(c)) };

    gc.step(&mut m, Step::Begin)?;
    heap.disable_barrier_for_testing(!barrier_on);
    let a = match black_by {
        BlackBy::Scan => {
            // A (the global's node) turns black: globals scanned and
            // drained before the mutator acts.
            gc.step(&mut m, Step::ScanGlobals)?;
            gc.step(&mut m, Step::MarkAll)?;
            global.get().unwrap()
        }
        BlackBy::Alloc => {
            let a = new_node(&mut m, ty);
            global.set(Some(a));
            a
        }
    };

    // The mutator's move, with no safepoint in between.
    let b = m.root(b_slot).unwrap();
    // SAFETY (test): B is rooted; A is reachable from the global; C is
    // reachable from B until the second store, and from A after the first.
    unsafe {
        let c = m.load(b, 0).unwrap();
        m.store(a, 0, Some(c));
        m.store(b, 0, None);
    }
    heap.disable_barrier_for_testing(false);

    gc.step(&mut m, Step::ScanStacks)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::Finish)?;

    // C survived and is intact.
    let a = global.get().unwrap();
    // SAFETY (test): A is reachable from the global, C from A.
    unsafe {
        let c = m.load(a, 0).expect("C is still linked from A");
        assert_eq!(m.load_word(c, 2), CANARY, "C was freed and reused");
    }
    Ok(())
}

/// Scenario 2, "a pointer hidden on a scanned stack": after the mutator's
/// stack is scanned (black), it loads the only pointer to white C from
/// unscanned A onto its stack and deletes it from A. Only the deletion
/// barrier (SATB, hybrid) keeps C; incremental update covers this case by
/// rescanning stacks at mark termination instead (see the test below).
fn hidden_on_scanned_stack(mode: BarrierMode, barrier_on: bool) -> Result<(), String> {
    let heap = heap(mode);
    let ty = node_type(&heap);
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);

    let a = new_node(&mut m, ty);
    let global = heap.add_global(Some(a));
    let c = new_node(&mut m, ty);
    // SAFETY (test): A is reachable from the global, C is fresh.
    unsafe { m.store(a, 0, Some(c)) };

    gc.step(&mut m, Step::Begin)?;
    heap.disable_barrier_for_testing(!barrier_on);
    gc.step(&mut m, Step::ScanStacks)?; // this stack is black from now on
    let a = global.get().unwrap();
    // SAFETY (test): A is reachable from the global; C from A until the
    // store, and from the stack after the push.
    let c_slot = unsafe {
        let c = m.load(a, 0).unwrap();
        let slot = m.push_root(Some(c));
        m.store(a, 0, None);
        slot
    };
    heap.disable_barrier_for_testing(false);
    gc.step(&mut m, Step::ScanGlobals)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::Finish)?;

    let c = m.root(c_slot).unwrap();
    // SAFETY (test): C is rooted.
    assert_eq!(unsafe { m.load_word(c, 2) }, CANARY, "C was freed");
    Ok(())
}

/// Scenario 3, "an old object gets the only pointer to a young one"
/// (generation §4): outside any mark, the mutator stores a fresh (young)
/// C into A, which a major cycle made old, and keeps C nowhere else. The
/// minor cycle that follows scans no old object; only the store's log puts
/// A in its remembered set. Checks that the cycle was minor and scanned
/// one remembered object.
fn old_gets_only_pointer_to_young(
    mode: BarrierMode,
    barrier_on: bool,
    header_free: bool,
) -> Result<(), String> {
    let heap = generational_heap(mode);
    let ty = node_type_with(&heap, header_free);
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);

    let a = new_node(&mut m, ty);
    let global = heap.add_global(Some(a));
    // Two major cycles: A survived twice, so it is old (and armed).
    m.collect();
    m.collect();
    let a = global.get().unwrap();
    heap.disable_barrier_for_testing(!barrier_on);
    let c = new_node(&mut m, ty);
    // SAFETY (test): A is reachable from the global; C is fresh.
    unsafe { m.store(a, 0, Some(c)) };
    heap.disable_barrier_for_testing(false);
    // Some young garbage, which the minor cycle must free.
    for _ in 0..10 {
        new_node(&mut m, ty);
    }

    gc.step(&mut m, Step::BeginMinor)?;
    gc.step(&mut m, Step::ScanStacks)?;
    gc.step(&mut m, Step::ScanGlobals)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::Finish)?;

    let last = heap.stats().last_cycle.unwrap();
    assert_eq!(last.kind, tricolor_collector::CycleKind::Minor, "{mode}");
    assert_eq!(last.remembered, 1, "{mode}: A was logged");
    assert_eq!(
        last.objects_marked, 1,
        "{mode}: only C is young and reachable"
    );
    let a = global.get().unwrap();
    // SAFETY (test): A is reachable from the global, C from A.
    unsafe {
        let c = m.load(a, 0).expect("C is still linked from A");
        assert_eq!(m.load_word(c, 2), CANARY, "C was freed and reused");
    }
    Ok(())
}

/// Scenario 4, "old gets a pointer during a mark" (generation §3): old A,
/// already passed by a minor mark, gets the only pointer to C, allocated
/// black during that mark. C survives this cycle as a survivor, not old, so
/// the next minor cycle does not pre-mark it and reaches it only if A is
/// remembered: a store during a mark must log A too (its mark barrier keeps
/// C alive for this cycle only). Without the log, the next minor's
/// checkmark fails.
fn old_gets_pointer_during_a_mark(
    mode: BarrierMode,
    barrier_on: bool,
    header_free: bool,
) -> Result<(), String> {
    let heap = generational_heap(mode);
    let ty = node_type_with(&heap, header_free);
    let mut m = heap.attach().unwrap();
    let gc = Collector::new(&heap);

    let a = new_node(&mut m, ty);
    let global = heap.add_global(Some(a));
    m.collect();
    m.collect(); // A is old

    gc.step(&mut m, Step::BeginMinor)?;
    gc.step(&mut m, Step::ScanStacks)?;
    gc.step(&mut m, Step::ScanGlobals)?;
    gc.step(&mut m, Step::MarkAll)?;
    heap.disable_barrier_for_testing(!barrier_on);
    let c = new_node(&mut m, ty); // allocated black
    let a = global.get().unwrap();
    // SAFETY (test): A is reachable from the global; C is fresh.
    unsafe { m.store(a, 0, Some(c)) };
    heap.disable_barrier_for_testing(false);
    gc.step(&mut m, Step::Finish)?;

    // The next minor cycle: C is a survivor that only old A reaches.
    gc.step(&mut m, Step::BeginMinor)?;
    gc.step(&mut m, Step::ScanStacks)?;
    gc.step(&mut m, Step::ScanGlobals)?;
    gc.step(&mut m, Step::MarkAll)?;
    gc.step(&mut m, Step::Finish)?;
    let last = heap.stats().last_cycle.unwrap();
    assert_eq!(last.kind, tricolor_collector::CycleKind::Minor, "{mode}");
    assert_eq!(last.remembered, 1, "{mode}: A was logged during the mark");
    let a = global.get().unwrap();
    // SAFETY (test): A is reachable from the global, C from A.
    unsafe {
        let c = m.load(a, 0).expect("C is still linked from A");
        assert_eq!(m.load_word(c, 2), CANARY, "C was freed and reused");
    }
    Ok(())
}

fn expect_lost(r: Result<(), String>, mode: BarrierMode) {
    let msg = r.expect_err(&format!(
        "{mode}: without the barrier the object must be lost and checkmark must fail"
    ));
    assert!(
        msg.contains("checkmark") && msg.contains("`Node`"),
        "{mode}: unexpected failure: {msg}"
    );
}

#[derive(Copy, Clone, Debug)]
enum BlackBy {
    Scan,
    Alloc,
}

#[test]
fn black_gets_only_pointer_is_caught_by_every_barrier() {
    for (mode, black_by) in [
        (BarrierMode::Satb, BlackBy::Alloc),
        (BarrierMode::IncrementalUpdate, BlackBy::Scan),
        (BarrierMode::IncrementalUpdate, BlackBy::Alloc),
        (BarrierMode::Hybrid, BlackBy::Scan),
        (BarrierMode::Hybrid, BlackBy::Alloc),
    ] {
        black_gets_only_pointer(mode, black_by, true)
            .unwrap_or_else(|e| panic!("{mode} {black_by:?}: {e}"));
        expect_lost(black_gets_only_pointer(mode, black_by, false), mode);
    }
}

#[test]
fn pointer_hidden_on_a_scanned_stack_is_caught_by_deletion_barriers() {
    for mode in [BarrierMode::Satb, BarrierMode::Hybrid] {
        hidden_on_scanned_stack(mode, true).unwrap_or_else(|e| panic!("{mode}: {e}"));
        expect_lost(hidden_on_scanned_stack(mode, false), mode);
    }
}

#[test]
fn incremental_update_covers_hidden_pointers_by_rescanning_stacks() {
    // No barrier fires here (nothing is stored, only deleted); the rescan
    // of stacks at mark termination is what finds C. So this passes with
    // the barrier off too: it checks the rescan, not the barrier.
    let mode = BarrierMode::IncrementalUpdate;
    hidden_on_scanned_stack(mode, true).unwrap();
    hidden_on_scanned_stack(mode, false).unwrap();
}

#[test]
fn old_to_young_pointer_is_caught_by_the_generational_log() {
    for mode in [
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Hybrid,
    ] {
        for header_free in [false, true] {
            old_gets_only_pointer_to_young(mode, true, header_free)
                .unwrap_or_else(|e| panic!("{mode} (header-free: {header_free}): {e}"));
            expect_lost(
                old_gets_only_pointer_to_young(mode, false, header_free),
                mode,
            );
        }
    }
}

#[test]
fn old_gets_pointer_during_a_mark_is_caught_by_the_generational_log() {
    for mode in [
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Hybrid,
    ] {
        for header_free in [false, true] {
            old_gets_pointer_during_a_mark(mode, true, header_free)
                .unwrap_or_else(|e| panic!("{mode} (header-free: {header_free}): {e}"));
            expect_lost(
                old_gets_pointer_during_a_mark(mode, false, header_free),
                mode,
            );
        }
    }
}
