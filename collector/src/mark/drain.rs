//! Draining the grey set: the loops that take grey objects and scan them
//! (Go's `gcDrain`), one per kind of marker, all over the one scanner
//! (`mark::scan::scan`) and the queues of `mark::queue`.
//!
//! - `drain_worker`: a marker whose deque others steal from, that works
//!   until no grey object can be found: a background worker
//!   (`mark::workers`) and each worker of a stop-the-world mark
//!   (`mark::stw`). Its private stack and prefetch ring are offered to its
//!   deque as the others run dry.
//! - `drain_private`: a marker nobody can steal from, that works to a
//!   budget: a mark assist, the collector thread while it waits for the
//!   mark's end, a stepped cycle's `mark`. It counts itself in
//!   `private_drains` while it holds grey objects, and hands whatever it
//!   did not finish back to the injector.
//! - `mark_closure_alone`: the finalizer stage's trace of what one
//!   finalizable object reaches, on the calling thread alone.

use std::sync::atomic::Ordering;

use crossbeam_deque::Worker;

use crate::heap::inner::HeapInner;
use crate::mark::queue::{balance, offer, steal_into, MarkState, Prefetched, Tally, PRIVATE_MAX};
use crate::mark::scan::{count_scanned, for_each_referent, grey, resolve, scan, settle, Lookup};
use crate::mark::source::Source;

/// Objects a worker scans between calls of its `keep_going` (publishing
/// its counters, looking whether the mark was stopped).
pub(crate) const PUBLISH_EVERY: usize = 256;

/// The loop of a marker with a stealable deque `local`: takes grey objects
/// from its private stack through its prefetch ring, else from `local`,
/// else from `steal`, scans each onto the stack, and offers part of the
/// stack to `local` for others (`mark::queue::offer`). Every
/// [`PUBLISH_EVERY`] scans it calls `keep_going` with its tally (to publish
/// it) and stops if that returns false. Returns the objects scanned.
///
/// On return the ring and the stack are empty: normally because nothing was
/// left; if `keep_going` stopped it, what they held went to the injector,
/// where the termination check sees it. `local` may still hold objects in
/// that case; the caller hands them back.
pub(crate) fn drain_worker(
    heap: &HeapInner,
    local: &Worker<usize>,
    steal: impl Fn() -> Option<usize>,
    tally: &mut Tally,
    mut keep_going: impl FnMut(&mut Tally) -> bool,
) -> usize {
    let ms = &heap.mark_state;
    let mut ring = Prefetched::new();
    let mut lk = Lookup::new(heap);
    let mut stack: Vec<usize> = Vec::with_capacity(PRIVATE_MAX * 2);
    let mut scanned = 0usize;
    while let Some(obj) = ring.take(&mut stack, || local.pop().or_else(&steal)) {
        scan(&mut lk, obj, &mut stack, tally);
        scanned += 1;
        offer(&mut stack, local, scanned);
        if scanned.is_multiple_of(PUBLISH_EVERY) && !keep_going(tally) {
            break;
        }
    }
    for v in stack.drain(..) {
        ms.injector.push(v);
    }
    ring.spill(&ms.injector);
    scanned
}

/// Drains grey objects on the calling thread with a private deque until
/// `budget` bytes are scanned or no grey object can be found; whatever is
/// left in the private deque goes back to the injector. Returns the bytes
/// scanned. Used by mark assists and by the collector thread.
pub(crate) fn drain_private(heap: &HeapInner, budget: u64, tally: &mut Tally) -> u64 {
    drain_private_limited(heap, budget, usize::MAX, tally).0
}

/// [`drain_private`] limited to `objects` objects; returns the objects
/// scanned.
pub(crate) fn drain_private_objects(heap: &HeapInner, objects: usize, tally: &mut Tally) -> usize {
    drain_private_limited(heap, u64::MAX, objects, tally).1
}

fn drain_private_limited(
    heap: &HeapInner,
    budget: u64,
    objects: usize,
    tally: &mut Tally,
) -> (u64, usize) {
    let ms = &heap.mark_state;
    // Dropped at the end of the function, after the leftovers are pushed:
    // the drain must count as running until its work is visible again
    // (the termination model in collector/tests/loom_termination.rs fails otherwise).
    let _drain = PrivateDrain::enter(ms);
    // Receives stolen batches; nobody steals from it.
    let local = Worker::new_lifo();
    let mut stack = Vec::new();
    let mut ring = Prefetched::new();
    let mut lk = Lookup::new(heap);
    let mut done = 0u64;
    let mut count = 0usize;
    while done < budget && count < objects {
        let Some(obj) = ring.take(&mut stack, || {
            local
                .pop()
                .or_else(|| steal_into(&ms.injector, ms.stealers(), None, &local))
        }) else {
            break;
        };
        done += scan(&mut lk, obj, &mut stack, tally);
        count += 1;
        balance(ms, &mut stack, count);
    }
    let mut pushed = ring.spill(&ms.injector);
    for v in stack.drain(..).chain(std::iter::from_fn(|| local.pop())) {
        ms.injector.push(v);
        pushed = true;
    }
    ms.add(tally);
    if pushed {
        ms.wake();
    }
    (done, count)
}

/// A private drain in progress, counted in `private_drains` so that the
/// termination check waits for it (a private deque is invisible to
/// others). Leaving on a panic (a bad pointer found in debug builds) fails
/// the cycle: the grey objects in the deque are lost.
struct PrivateDrain<'a>(&'a MarkState);

impl<'a> PrivateDrain<'a> {
    fn enter(ms: &'a MarkState) -> PrivateDrain<'a> {
        ms.private_drains.fetch_add(1, Ordering::SeqCst);
        ms.epoch.fetch_add(1, Ordering::SeqCst);
        PrivateDrain(ms)
    }
}

impl Drop for PrivateDrain<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .failure
                .lock()
                .get_or_insert_with(|| "a marker panicked while draining".into());
        }
        self.0.private_drains.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks, on the calling thread alone, everything reachable from `values`
/// through white objects: they are shaded into a private deque that no one
/// steals from, and only that deque is drained (no work is taken from or
/// offered to others). On return every such object is marked; objects that
/// were already grey elsewhere are left to their markers, so what lies
/// beyond them may not be marked yet. Every object this call marked is
/// appended to `marked` (noscan ones included). The finalizer stage
/// (specials §2) uses it to learn what one finalizable object reaches,
/// directly or through ephemeron entries, without waking the background
/// workers for each. Returns what it marked and scanned; the caller adds it
/// to the cycle's totals ([`MarkState::add`] when marking concurrently).
pub(crate) fn mark_closure_alone(
    heap: &HeapInner,
    values: &[usize],
    src: Source<'_>,
    marked: &mut Vec<usize>,
) -> Tally {
    let _drain = PrivateDrain::enter(&heap.mark_state);
    let mut local = Vec::new();
    let mut tally = heap.mark_state.tally();
    // Shades like `mark::scan::shade`, and records what it marked.
    let mut shade_recording =
        |v: usize, src: Source<'_>, tally: &mut Tally, local: &mut Vec<usize>| {
            if let Some(o) = resolve(heap, v, src) {
                if grey(o, local, tally) {
                    marked.push(o.base());
                }
            }
        };
    for &v in values {
        if v != 0 {
            shade_recording(v, src, &mut tally, &mut local);
        }
    }
    while let Some(obj) = local.pop() {
        // As in `scan` (generation §3).
        let tenure_all = tally.arm && heap.generations.tenures_first();
        let ages =
            tally.arm && !tenure_all && heap.page.find_object(obj).is_some_and(|o| o.promotes());
        let mut young = false;
        let scanned = for_each_referent(heap, obj, |v, desc, field| {
            if ages && !young {
                young = heap.page.find_object(v).is_some_and(|o| !o.promotes());
            }
            shade_recording(
                v,
                Source::Field { obj, desc, field },
                &mut tally,
                &mut local,
            );
        });
        if ages || tenure_all {
            // SAFETY: `obj` was marked in this mark from a validated
            // pointer; nothing is freed while marking.
            unsafe { settle(heap, obj, young, &mut tally) };
        }
        tally.scanned_bytes += scanned.bytes();
        if tally.per_type {
            count_scanned(&mut tally, scanned);
        }
    }
    tally
}
