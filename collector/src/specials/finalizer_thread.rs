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
use crate::specials::records::{report_panic, run_drop, Job, Specials};

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
