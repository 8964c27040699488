//! Specials §5: the finalizer thread, which runs queued finalizers and
//! cleanups as a mutator of its own (the `specials` module's essay).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::heap::inner::HeapInner;
use crate::mark::scan::shade_all;
use crate::mark::source::{RootKind, Source};
use crate::mutator::Mutator;
use crate::object::ObjRef;
use crate::specials::records::{drop_fn_of, DropFn, Job, Specials, KIND_DROP};

thread_local! {
    /// The id of the heap whose finalizer thread this is (0: none). Read by
    /// `Mutator::wait_for_finalizers`, which must not run on it.
    pub(crate) static FINALIZER_THREAD_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the finalizer thread stopped and wakes every waiter, however the
/// thread leaves (specials §5).
struct StoppedGuard<'a>(&'a Specials);

impl Drop for StoppedGuard<'_> {
    fn drop(&mut self) {
        let mut q = self.0.queue.lock();
        q.running = false;
        q.stopped = true;
        drop(q);
        self.0.queue_cv.notify_all();
    }
}

// ---- the finalizer thread (specials §5) -------------------------------------

pub(crate) fn start_thread(heap: &Arc<HeapInner>) {
    let sp = &heap.specials;
    if sp.thread_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let h = heap.clone();
    let t = std::thread::Builder::new()
        .name("tricolor-finalizer".into())
        .spawn(move || finalizer_thread(h))
        .expect("spawning the finalizer thread");
    heap.add_thread(t);
}

fn finalizer_thread(heap: Arc<HeapInner>) {
    let mut m = match Mutator::attach_as(heap.clone(), false) {
        Ok(m) => m,
        Err(e) => unreachable!("a fresh thread attaches: {e}"),
    };
    let sp = &heap.specials;
    FINALIZER_THREAD_OF.with(|c| c.set(heap.id()));
    let _stopped = StoppedGuard(sp);
    loop {
        // Wait in native state: the world may stop meanwhile.
        let stop = m.native(|| {
            let mut q = sp.queue.lock();
            loop {
                if heap.shutting_down.load(Ordering::Acquire) {
                    return true;
                }
                if !q.jobs.is_empty() {
                    return false;
                }
                sp.queue_cv.wait(&mut q);
            }
        });
        if stop {
            return;
        }
        // Running now: run jobs until the queue is empty, passing a
        // safepoint between two jobs (never between a pop and its rooting).
        loop {
            let job = {
                let mut q = sp.queue.lock();
                let Some(job) = q.jobs.pop_front() else {
                    q.running = false;
                    drop(q);
                    // Idle: wake whoever waits for the queue to empty.
                    sp.queue_cv.notify_all();
                    break;
                };
                q.running = true;
                // The queue is a root scanned once per mark: taking a job
                // out of it while marking is a deletion (specials §5).
                let v = match job {
                    Job::Finalize { obj, .. } => obj,
                    Job::Cleanup { arg, .. } => arg,
                    Job::Drop { .. } => 0,
                };
                if v != 0 && heap.phase.marking() {
                    shade_all(&heap, &[v], Source::Root(RootKind::FinalizerQueue));
                }
                job
            };
            run_job(&mut m, job);
            if m.is_native() {
                m.leave_native(); // a finalizer that left the mutator native
            }
            m.safepoint();
            if heap.shutting_down.load(Ordering::Acquire) {
                return; // `_stopped` tells the waiters
            }
        }
    }
}

fn run_job(m: &mut Mutator, job: Job) {
    let heap = m.inner().clone();
    let sp = &heap.specials;
    let (what, result) = match job {
        Job::Finalize { obj, f } => {
            let o = ObjRef::from_addr(obj).expect("queued objects are non-null");
            let r = m.frame(|m| {
                m.push_root(Some(o));
                catch_unwind(AssertUnwindSafe(|| f.call(m as &mut dyn Any, obj)))
            });
            sp.finalizers_run.fetch_add(1, Ordering::Relaxed);
            ("finalizer", r)
        }
        Job::Cleanup { arg, f } => {
            let r = m.frame(|m| {
                m.push_root(ObjRef::from_addr(arg));
                catch_unwind(AssertUnwindSafe(|| f.call(m as &mut dyn Any, arg)))
            });
            sp.cleanups_run.fetch_add(1, Ordering::Relaxed);
            ("cleanup", r)
        }
        Job::Drop { mut words, f } => {
            // SAFETY: `words` is the payload the sweep moved out of a dead
            // object whose drop record named `f`; it is dropped here once
            // (`Mutator::set_drop`'s contract).
            ("drop", unsafe { run_drop(sp, f, &mut words) })
        }
    };
    report_panic(sp, what, result);
}

/// Runs drop function `f` on `words`, catching a panic; counts the drop.
///
/// # Safety
/// `words` holds the payload of an object whose drop record named `f`,
/// moved out of it, and is dropped once (`Mutator::set_drop`'s contract).
unsafe fn run_drop(sp: &Specials, f: DropFn, words: &mut [u64]) -> std::thread::Result<()> {
    // SAFETY: the caller's contract.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { f(words.as_mut_ptr()) }));
    sp.drops_run.fetch_add(1, Ordering::Relaxed);
    r
}

/// Counts and reports a panic of a finalizer, cleanup or drop.
fn report_panic(sp: &Specials, what: &str, result: std::thread::Result<()>) {
    if let Err(payload) = result {
        sp.finalizer_panics.fetch_add(1, Ordering::Relaxed);
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("tricolor: a {what} panicked: {msg}; later ones still run");
    }
}

/// Sweeps what the last cycle left (queuing every finalizer and cleanup it
/// found due), then waits until the finalizer thread has run them all.
///
/// # Panics
/// If the finalizer thread has stopped with jobs left (it stops only at
/// shutdown, or when a failed collection panicked on it): they would never
/// run.
pub(crate) fn wait_for_finalizers(heap: &HeapInner) {
    heap.page.finish_sweep();
    let sp = &heap.specials;
    let mut q = sp.queue.lock();
    while (!q.jobs.is_empty() || q.running) && !heap.shutting_down.load(Ordering::Acquire) {
        if q.stopped {
            let left = q.jobs.len();
            drop(q);
            panic!(
                "tricolor: wait_for_finalizers: the finalizer thread has stopped \
                 (a collection failed on it) with {left} finalizers and cleanups \
                 queued; they will not run"
            );
        }
        sp.queue_cv.wait(&mut q);
    }
}

// ---- when the heap is dropped (specials §6) -----------------------------------

/// Drops every value the heap still owns: the queued drops and the drop
/// records left on objects (specials §6). Called once, as the heap is
/// dropped: no mutator, handle or thread of it is left.
pub(crate) fn drop_remaining(heap: &HeapInner) {
    let sp = &*heap.specials;
    // The finalizer thread has stopped: the queue is ours. Finalizer and
    // cleanup jobs are dropped without running.
    let jobs = std::mem::take(&mut sp.queue.lock().jobs);
    for job in jobs {
        if let Job::Drop { mut words, f } = job {
            // SAFETY: as in `run_job`: moved out by the sweep, dropped once.
            let r = unsafe { run_drop(sp, f, &mut words) };
            report_panic(sp, "drop", r);
        }
    }
    heap.page.for_each_span(|span| {
        let records = span.specials().take_kind(KIND_DROP);
        for s in records {
            let obj = span.object_addr(s.index as usize);
            let n = span.elem_size() / 8 - 1;
            // SAFETY: the object holds the value its record stands for
            // (live, or dead and never swept: a sweep takes the record);
            // nothing can reach it any more, and its slot is `elem_size`
            // bytes: a header word and `n` payload words. The value is moved
            // out here, as the sweep does.
            let mut words: Box<[u64]> =
                unsafe { std::slice::from_raw_parts((obj + 8) as *const u64, n) }.into();
            // SAFETY: `data` of a drop record is a `DropFn`, stored by
            // `Mutator::set_drop`.
            let f = unsafe { drop_fn_of(s.data) };
            // SAFETY: moved out just above, its record taken: dropped once.
            let r = unsafe { run_drop(sp, f, &mut words) };
            report_panic(sp, "drop", r);
        }
    });
}
