//! The finalizer stage of a mark (specials §2, in the `specials` module's
//! essay): what an unreachable finalizable object reaches is kept for its
//! finalizer, traced one candidate at a time by the stage's thread alone.
//! The cycle runs the stage once per mark, when marking from the roots has
//! gone quiet (`cycle` module docs); checkmark re-traces from the same
//! referents (`checkmark_roots`).

use std::sync::atomic::Ordering;

use crate::heap::inner::HeapInner;
use crate::mark::drain::mark_closure_alone;
use crate::mark::ephemeron::values_of_keys;
use crate::mark::queue::Tally;
use crate::mark::scan::{for_each_referent, is_marked};
use crate::mark::source::{RootKind, Source};
use crate::stats::thread_cpu_time;

/// The referents of `obj` (unmarked, allocated: nothing is freed while
/// marking).
pub(crate) fn referents(heap: &HeapInner, obj: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for_each_referent(heap, obj, |v, _, _| out.push(v));
    out
}

/// The finalizable objects not marked (yet): the finalizer stage's
/// candidates.
fn unmarked_finalizable(heap: &HeapInner) -> Vec<usize> {
    heap.specials
        .finalizers
        .lock()
        .iter()
        .map(|r| r.obj)
        .filter(|&o| !is_marked(heap, o))
        .collect()
}

/// Marks, on the calling thread alone, what the finalizable object `obj`
/// reaches: its referents, their closure, and the values of ephemeron
/// entries whose keys that closure marks, to a fixpoint (specials §2).
/// Returns what it marked and whether `obj` reaches itself.
fn mark_from_candidate(heap: &HeapInner, obj: usize) -> (Tally, bool) {
    let mut marked = Vec::new();
    let refs = referents(heap, obj);
    let mut tally = mark_closure_alone(
        heap,
        &refs,
        Source::Root(RootKind::Finalizer(obj)),
        &mut marked,
    );
    loop {
        let values = values_of_keys(heap, &marked);
        if values.is_empty() {
            break;
        }
        marked.clear();
        let t = mark_closure_alone(
            heap,
            &values,
            Source::Root(RootKind::Ephemeron),
            &mut marked,
        );
        tally += t;
    }
    (tally, is_marked(heap, obj))
}

/// The finalizer stage itself (specials §2): each candidate still unmarked
/// at its turn is marked from. Returns what it marked and how many
/// candidates were found to reach themselves.
fn run_stage(heap: &HeapInner) -> (Tally, u64) {
    let mut total = heap.mark_state.tally();
    let mut cycles = 0;
    for obj in unmarked_finalizable(heap) {
        if is_marked(heap, obj) {
            continue; // reached from an earlier candidate: a chain
        }
        let (t, reaches_itself) = mark_from_candidate(heap, obj);
        total += t;
        cycles += u64::from(reaches_itself);
    }
    heap.specials
        .finalizer_cycles
        .fetch_add(cycles, Ordering::Relaxed);
    (total, cycles)
}

/// The finalizer stage (specials §2), on the calling thread, in either
/// kind of mark; what it marks is added to the cycle's totals and, when
/// `background` (it runs outside a pause, whose CPU time is measured
/// whole), its CPU time to the mark's background CPU. Returns how many
/// candidates were found to reach themselves. Runs at most once per cycle
/// (the first caller wins).
pub(crate) fn finalizer_stage(heap: &HeapInner, background: bool) -> u64 {
    if heap.specials.stage_done.swap(true, Ordering::AcqRel) {
        return 0;
    }
    let cpu0 = thread_cpu_time();
    let (mut tally, cycles) = run_stage(heap);
    let ms = &heap.mark_state;
    ms.add(&mut tally);
    if background {
        ms.background_cpu_ns.fetch_add(
            thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
            Ordering::Relaxed,
        );
    }
    cycles
}

/// Checkmark roots for specials §2: the referents of every unmarked
/// finalizable object (they must survive for its finalizer), so checkmark
/// re-traces from them too.
pub(crate) fn checkmark_roots(heap: &HeapInner, roots: &mut Vec<(usize, RootKind)>) {
    let objs: Vec<usize> = heap
        .specials
        .finalizers
        .lock()
        .iter()
        .map(|r| r.obj)
        .collect();
    for obj in objs {
        if !is_marked(heap, obj) {
            for v in referents(heap, obj) {
                roots.push((v, RootKind::Finalizer(obj)));
            }
        }
    }
}
