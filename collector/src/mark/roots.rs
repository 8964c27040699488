//! Roots: where marking starts.
//!
//! Precise roots only: the heap's global roots, and for every mutator its
//! shadow stack and whatever its root-scanner callback reports (the VM's own
//! interpreter stack and registers); plus the finalizer queue and the
//! arguments of cleanups ([`crate::specials`]), scanned with the globals.
//!
//! - With the barrier off (stop-the-world marking) and for checkmark, every
//!   root is gathered at once with the world stopped (`gather`).
//! - In a concurrent mark the global roots are scanned by a background worker
//!   (or the collector thread) while mutators run (`scan_globals`); their
//!   writes are protected by the globals barrier (`mutator::barrier` module docs).
//! - A mutator's stack is scanned by the mutator itself at its next safepoint,
//!   or by the collector while it holds the state of a parked or native
//!   mutator (`scan_stack`); see `cycle` for when, per barrier mode.

use crate::heap::inner::HeapInner;
use crate::mark::scan::shade_roots;
use crate::mark::source::{RootKind, Source};
use crate::mutator::safepoint::StoppedWorld;
use crate::mutator::state::{MutatorData, RootVisitor};

/// Calls `f` with every non-empty root of one mutator's stack.
fn for_each_stack_root(id: u64, data: &mut MutatorData, mut f: impl FnMut(usize, RootKind)) {
    for (i, &v) in data.roots.iter().enumerate() {
        if v != 0 {
            f(v, RootKind::ShadowStack(id, i));
        }
    }
    if let Some(scanner) = data.scanner.as_mut() {
        let mut n = 0;
        let mut sink = |v: usize, _kind: RootKind| {
            f(v, RootKind::Scanner(id, n));
            n += 1;
        };
        scanner(&mut RootVisitor {
            sink: &mut sink,
            mutator: id,
        });
    }
}

/// Every root value with where it came from, gathered with the world
/// stopped (checkmark, and the stop-the-world mark). Empty slots are left
/// out.
pub(crate) fn gather(heap: &HeapInner, world: &mut StoppedWorld<'_>) -> Vec<(usize, RootKind)> {
    let mut roots = Vec::new();
    for (i, &v) in heap.globals.lock().slots.iter().enumerate() {
        if v != 0 {
            roots.push((v, RootKind::Global(i)));
        }
    }
    for (m, data) in world.mutators.iter_mut() {
        for_each_stack_root(m.id, data, |v, k| roots.push((v, k)));
    }
    heap.specials.for_each_root(|v, k| roots.push((v, k)));
    roots
}

/// Greys the running minor cycle's remembered set (generation §3): each
/// entry that is still an old object is pushed grey although its mark bit
/// is set, so that its fields are scanned; the others are skipped. Runs
/// with the global-roots job, once per cycle; a major cycle has no set.
pub(crate) fn scan_remembered(heap: &HeapInner) {
    let set = std::mem::take(&mut *heap.generations.cycle_set.lock());
    if set.is_empty() {
        return;
    }
    let ms = &heap.mark_state;
    for &x in &set {
        // Only old objects need scanning (§3): an entry whose object died
        // since it was logged has no old bit (a sweep freed it, and a new
        // object in its slot is young), nor has one that was a survivor and
        // was not reached again. An old object is marked already; pushing it
        // grey has it scanned (and armed, or carried over, by `scan`).
        if let Some(o) = heap.page.find_object(x) {
            if o.base() == x && o.age() == tricolor_allocator::Age::Old {
                debug_assert!(o.is_marked(), "an old object unmarked in a minor cycle");
                ms.injector.push(x);
            }
        }
    }
    ms.wake();
}

/// Shades every global root into the grey set, and the roots the specials
/// hold (the finalizer queue and cleanup arguments; a pop from the queue
/// while marking shades what it pops, specials §2, §5). Holds the globals
/// lock throughout, so a concurrent write either happened before (and its
/// value is scanned here) or after (and its barrier shades both values).
pub(crate) fn scan_globals(heap: &HeapInner) {
    let mut roots = Vec::new();
    {
        let g = heap.globals.lock();
        for (i, &v) in g.slots.iter().enumerate() {
            roots.push((v, Source::Root(RootKind::Global(i))));
        }
        shade_roots(heap, roots.drain(..));
    }
    heap.specials
        .for_each_root(|v, k| roots.push((v, Source::Root(k))));
    shade_roots(heap, roots);
    scan_remembered(heap);
}

/// Shades every root of one mutator's stack into the grey set and records
/// that the stack is scanned (black, in SATB and hybrid modes). Runs with
/// the mutator's state held: by the mutator at a safepoint, or by the
/// collector for a parked or native mutator.
pub(crate) fn scan_stack(heap: &HeapInner, id: u64, data: &mut MutatorData) {
    let mut roots = Vec::new();
    for_each_stack_root(id, data, |v, k| roots.push((v, Source::Root(k))));
    shade_roots(heap, roots);
    data.stack_scanned = true;
}
