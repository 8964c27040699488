//! Finalizers, cleanups and weak references: per-object records kept as
//! "specials" on the object's span (Go's `mspan.specials`), acted on by the
//! sweep. The user contract is on the public items ([`Mutator::set_finalizer`],
//! [`Mutator::add_cleanup`], [`Mutator::weak_ref`]); this page is the
//! algorithm, cited from the code as "specials §n".
//!
//! # §1 Records
//!
//! Each record is a [`Special`] on the span of its object: `(object index,
//! kind, data)`, kept sorted, where `data` indexes one of three tables here
//! (finalizer closures, cleanup closures and arguments, weak cells). Kinds
//! sort weak < finalizer < cleanup, so per object the weak record comes
//! first. Records are added and removed under the span's specials lock; the
//! tables have their own locks, always taken *after* a span's specials lock.
//!
//! # §2 Marking: what a finalizer keeps alive
//!
//! An object with a finalizer is not a root: if it becomes unreachable it
//! must be found unmarked. But when its finalizer runs, the object and
//! everything it reaches must still exist, so the mark keeps its
//! **referents** (not the object) alive, as Go's `markrootSpans` does. Here
//! that is a separate stage of the mark (the *finalizer stage*), run once
//! per cycle when marking from the roots has gone quiet (the termination
//! loop in [`crate::cycle`], or mark termination at the latest): each
//! finalizable object still unmarked has its referents marked, one object
//! at a time, by the stage's thread alone (so that when it looks at the
//! object's mark bit afterwards, its own referents have been traced). The
//! closure includes ephemeron entries: the values of entries whose keys it
//! marks are marked from too, to a fixpoint (ephemeron §2).
//!
//! An object marked before its turn is reachable from another finalizable
//! object (a chain): it is finalized in a later cycle, after the one that
//! reaches it. An object found marked after its *own* closure reaches
//! itself: it is in a cycle of finalizable objects and will never be
//! collected. Go documents the same leak; we also count it
//! (`finalizer_cycles`). Only candidates unmarked at their turn are looked
//! at, so a *group* of finalizable objects that reach one another is
//! counted once per collection (its first member the stage looks at marks
//! the rest), and only if no other unreachable finalizable object looked
//! at before it reaches it; a group such an object reaches is counted once
//! that object has been finalized. While marking concurrently, the closure
//! stops at objects that are grey elsewhere (a mutator's barrier shaded
//! them), so a group a mutator is touching at that moment can be missed,
//! and an object a mutator revives through a weak reference at that moment
//! can be counted. The count is a report, not a proof: non-zero means
//! leaking groups exist, zero does not prove there are none.
//!
//! A finalizer set while marking shades the object's referents at once (the
//! stage may have passed). Stores into an unmarked finalizable object after
//! the stage are covered by the barrier as any store is: SATB and hybrid
//! mark everything reachable at the snapshot or allocated since, and
//! incremental update shades every value stored.
//!
//! The finalizer queue and the cleanup arguments are roots, scanned with
//! the globals (a pop from the queue while marking shades what it pops, as a
//! global write does).
//!
//! # §3 Sweep: acting on dead objects
//!
//! The sweep of a span hands the records of its unmarked objects to
//! `SpecialsHook` before freeing anything (the allocator's [`SweepHook`]),
//! with the span's specials lock held. Per object, in this order:
//!
//! 1. weak records: the cell is cleared (it now yields nothing, forever);
//! 2. a finalizer record: removed, the object is kept for one more cycle
//!    (its mark bit set: its referents are marked by §2), and the finalizer
//!    is queued with the object;
//! 3. cleanup records: if the object was kept by step 2, they stay on it;
//!    otherwise each is removed and queued with its argument.
//!
//! Sweeping finishes before the next mark starts (sweep termination), so no
//! record is queued while marking, and a queued object is rooted by the
//! queue from the next mark on.
//!
//! # §4 Weak references after mark termination
//!
//! Between mark termination and the sweep of its span, a dead object's weak
//! cell still holds its address. [`WeakRef::get`] therefore checks the span:
//! swept (or cached) means the cell is final; unswept means the mark bit
//! decides. It reads the mark bit holding the span's specials lock, which
//! the sweep must take before it clears mark bits, so the bit is intact.
//! While marking, `get` shades what it returns (it may be creating the only
//! strong reference, after this mutator's stack was scanned: the same duty
//! as the deletion half of the hybrid barrier).
//!
//! # §5 The finalizer thread
//!
//! Queued finalizers and cleanups run on one thread per heap, started with
//! the first finalizer or cleanup. It is a mutator of the heap (finalizers
//! allocate and store) that does not keep the heap alive. It waits in native
//! state; it pops a job only while running, and roots the job's object in
//! the same step (no safepoint between), so the object is never unrooted at
//! a safepoint. It runs jobs back to back, with a safepoint between two,
//! and tells waiters only when the queue has gone empty. A panicking finalizer is caught, counted and reported to
//! standard error; the next one runs.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex};
use tricolor_allocator::{Span, Special, SweepHook};

use crate::heap::HeapInner;
use crate::mark::Source;
use crate::mutator::{Mutator, RootKind};
use crate::object::ObjRef;
use crate::{barrier, gcwork};

/// Special kinds (specials §1). Weak sorts first.
pub(crate) const KIND_WEAK: u8 = 1;
pub(crate) const KIND_FINALIZER: u8 = 2;
pub(crate) const KIND_CLEANUP: u8 = 3;

/// A finalizer: runs on the finalizer thread with the object.
pub(crate) type FinalizerFn = Box<dyn FnOnce(&mut Mutator, ObjRef) + Send>;
/// A cleanup: runs on the finalizer thread with its argument.
pub(crate) type CleanupFn = Box<dyn FnOnce(&mut Mutator, Option<ObjRef>) + Send>;

/// Why a finalizer, cleanup or weak-reference call was refused.
///
/// ```
/// use tricolor_collector::{Config, Heap, ObjRef, SpecialError, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let mut m = heap.attach()?;
/// let obj = m.alloc(node, 0)?;
/// m.set_finalizer(obj, |_, _| {})?;
/// let again = m.set_finalizer(obj, |_, _| {});
/// assert!(matches!(again, Err(SpecialError::AlreadyHasFinalizer { .. })));
/// let inside = ObjRef::from_addr(obj.addr() + 8).unwrap();
/// let e = m.set_finalizer(inside, |_, _| {}).unwrap_err();
/// assert!(e.to_string().contains("interior pointer"), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecialError {
    /// The address is not inside an object of this heap.
    NotAHeapObject {
        /// What was passed.
        addr: usize,
        /// What the call was.
        what: &'static str,
    },
    /// The address points inside an object, not at its start.
    InteriorPointer {
        /// What was passed.
        addr: usize,
        /// The start of the object it points into.
        base: usize,
        /// What the call was.
        what: &'static str,
    },
    /// The object was freed by an earlier collection (a dangling reference),
    /// as far as the allocator can tell (see [`Mutator::set_finalizer`]'s
    /// errors).
    FreedObject {
        /// What was passed.
        addr: usize,
        /// What the call was.
        what: &'static str,
    },
    /// `set_finalizer` on an object that already has one (at most one per
    /// object; clear it first).
    AlreadyHasFinalizer {
        /// The object.
        addr: usize,
    },
    /// `add_cleanup` whose argument is the object itself: the argument is
    /// kept alive by the cleanup, so the object would never die.
    CleanupArgIsObject {
        /// The object.
        addr: usize,
    },
}

impl std::fmt::Display for SpecialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SpecialError::NotAHeapObject { addr, what } => {
                write!(f, "{what}: {addr:#x} is not an object of this heap")
            }
            SpecialError::InteriorPointer { addr, base, what } => write!(
                f,
                "{what}: {addr:#x} is an interior pointer into the object at {base:#x}; \
                 pass the start of the object"
            ),
            SpecialError::FreedObject { addr, what } => write!(
                f,
                "{what}: the object at {addr:#x} was freed by an earlier collection \
                 (a dangling reference)"
            ),
            SpecialError::AlreadyHasFinalizer { addr } => write!(
                f,
                "set_finalizer: the object at {addr:#x} already has a finalizer \
                 (at most one per object; clear_finalizer first)"
            ),
            SpecialError::CleanupArgIsObject { addr } => write!(
                f,
                "add_cleanup: the argument is the object at {addr:#x} itself; the cleanup \
                 keeps its argument alive, so the object could never be collected"
            ),
        }
    }
}

impl std::error::Error for SpecialError {}

/// A table whose indices are stable (the `data` of a [`Special`]).
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, v: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                debug_assert!(self.items[i].is_none());
                self.items[i] = Some(v);
                i
            }
            None => {
                self.items.push(Some(v));
                self.items.len() - 1
            }
        }
    }

    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.items.get_mut(i)?.take();
        if v.is_some() {
            self.len -= 1;
            self.free.push(i);
        }
        v
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)?.as_ref()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

pub(crate) struct FinalizerRec {
    obj: usize,
    f: FinalizerFn,
}

pub(crate) struct CleanupRec {
    obj: usize,
    /// The argument (0: none); a root while the record exists.
    arg: usize,
    /// Unique per cleanup: a handle names its record by (slot, id).
    id: u64,
    f: CleanupFn,
}

/// The cell every [`WeakRef`] to one object shares: the object's address,
/// or 0 once the object was found unreachable.
#[derive(Debug)]
pub(crate) struct WeakCell {
    ptr: AtomicUsize,
}

enum Job {
    Finalize { obj: usize, f: FinalizerFn },
    Cleanup { arg: usize, f: CleanupFn },
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The finalizer thread is running a job.
    running: bool,
    /// The finalizer thread has stopped: set once, by its exit guard, when
    /// it returns or unwinds (a failed collection panics in a safepoint).
    /// Jobs queued after this never run.
    stopped: bool,
}

thread_local! {
    /// The id of the heap whose finalizer thread this is (0: none). Read by
    /// `Mutator::wait_for_finalizers`, which must not run on it.
    static FINALIZER_THREAD_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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

/// Counters of finalizers, cleanups, weak references and ephemerons, summed
/// over the heap's life ([`GcStats::specials`](crate::GcStats::specials)).
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let obj = m.alloc(node, 0)?;
/// m.set_finalizer(obj, |_, _| {})?; // not rooted: garbage at the next cycle
/// m.collect();
/// m.wait_for_finalizers();
/// let s = heap.stats().specials;
/// assert_eq!((s.finalizers_queued, s.finalizers_run), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialStats {
    /// Finalizers registered and not yet queued.
    pub finalizers_pending: u64,
    /// Finalizers queued because their object was found unreachable.
    pub finalizers_queued: u64,
    /// Finalizers that have run (panicked ones included).
    pub finalizers_run: u64,
    /// Finalizers that panicked.
    pub finalizer_panics: u64,
    /// Finalizable objects found to reach themselves (so they are never
    /// collected), summed over cycles: per collection, one object of each
    /// group of finalizable objects that reach one another and that no
    /// other unreachable finalizable object reaches (specials §2). A lower
    /// bound on the objects that leak, not their number.
    pub finalizer_cycles: u64,
    /// Cleanups registered and not yet queued or cancelled.
    pub cleanups_pending: u64,
    /// Cleanups queued because their object was freed.
    pub cleanups_queued: u64,
    /// Cleanups that have run (panicked ones included).
    pub cleanups_run: u64,
    /// Cleanups cancelled before they were queued.
    pub cleanups_cancelled: u64,
    /// Weak cells cleared (one per object, however many handles share it).
    pub weak_cleared: u64,
    /// Ephemeron entries removed because their key died.
    pub ephemerons_dropped: u64,
}

/// Everything this module keeps for one heap. Shared by the heap and the
/// sweep hook (which cannot hold the heap: the heap holds it).
pub(crate) struct Specials {
    finalizers: Mutex<Slab<FinalizerRec>>,
    cleanups: Mutex<Slab<CleanupRec>>,
    weak: Mutex<Slab<Arc<WeakCell>>>,
    queue: Mutex<Queue>,
    /// Signalled when a job is queued (finalizer thread) and when the queue
    /// goes idle (`wait_for_finalizers`).
    queue_cv: Condvar,
    /// The finalizer thread was started.
    thread_started: AtomicBool,
    /// The finalizer stage ran this cycle (specials §2). Reset at sweep
    /// termination; set by whoever runs the stage.
    pub(crate) stage_done: AtomicBool,
    /// Number of the mark in progress or last run (ephemeron §2: a table's
    /// unsettled list belongs to one mark). Advanced by `begin_mark`, at
    /// sweep termination (world stopped).
    pub(crate) mark_epoch: AtomicU64,
    next_cleanup_id: AtomicU64,
    finalizers_queued: AtomicU64,
    finalizers_run: AtomicU64,
    finalizer_panics: AtomicU64,
    pub(crate) finalizer_cycles: AtomicU64,
    cleanups_queued: AtomicU64,
    cleanups_run: AtomicU64,
    cleanups_cancelled: AtomicU64,
    weak_cleared: AtomicU64,
    pub(crate) ephemerons_dropped: AtomicU64,
    /// The ephemeron tables of this heap ([`crate::ephemeron`]).
    pub(crate) tables: Mutex<Vec<Weak<crate::ephemeron::TableInner>>>,
    /// The heap, for debug checks in the sweep hook.
    heap: Weak<HeapInner>,
}

impl Specials {
    pub(crate) fn new(heap: Weak<HeapInner>) -> Specials {
        Specials {
            finalizers: Mutex::default(),
            cleanups: Mutex::default(),
            weak: Mutex::default(),
            queue: Mutex::default(),
            queue_cv: Condvar::new(),
            thread_started: AtomicBool::new(false),
            stage_done: AtomicBool::new(false),
            mark_epoch: AtomicU64::new(0),
            next_cleanup_id: AtomicU64::new(1),
            finalizers_queued: AtomicU64::new(0),
            finalizers_run: AtomicU64::new(0),
            finalizer_panics: AtomicU64::new(0),
            finalizer_cycles: AtomicU64::new(0),
            cleanups_queued: AtomicU64::new(0),
            cleanups_run: AtomicU64::new(0),
            cleanups_cancelled: AtomicU64::new(0),
            weak_cleared: AtomicU64::new(0),
            ephemerons_dropped: AtomicU64::new(0),
            tables: Mutex::default(),
            heap,
        }
    }

    /// A mark begins (world stopped): the finalizer stage is due again and
    /// ephemeron tables start a new unsettled list.
    pub(crate) fn begin_mark(&self) {
        self.stage_done.store(false, Ordering::Release);
        self.mark_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Wakes the finalizer thread (and anyone waiting for the queue) to see
    /// `shutting_down`. The queue lock is taken first: a waiter checks the
    /// flag under it, so the wake-up cannot fall between its check and its
    /// wait.
    pub(crate) fn wake_for_shutdown(&self) {
        drop(self.queue.lock());
        self.queue_cv.notify_all();
    }

    pub(crate) fn stats(&self) -> SpecialStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SpecialStats {
            finalizers_pending: self.finalizers.lock().len() as u64,
            finalizers_queued: r(&self.finalizers_queued),
            finalizers_run: r(&self.finalizers_run),
            finalizer_panics: r(&self.finalizer_panics),
            finalizer_cycles: r(&self.finalizer_cycles),
            cleanups_pending: self.cleanups.lock().len() as u64,
            cleanups_queued: r(&self.cleanups_queued),
            cleanups_run: r(&self.cleanups_run),
            cleanups_cancelled: r(&self.cleanups_cancelled),
            weak_cleared: r(&self.weak_cleared),
            ephemerons_dropped: r(&self.ephemerons_dropped),
        }
    }
}

/// The allocator's sweep hook: specials §3.
pub(crate) struct SpecialsHook(pub(crate) Arc<Specials>);

impl SweepHook for SpecialsHook {
    fn sweep_specials(&self, span: &Span, dead: &mut Vec<Special>, resurrect: &mut Vec<u32>) {
        let sp = &*self.0;
        let mut jobs = Vec::new();
        // 1: weak cells first, so a handle is empty before the finalizer of
        // its object can run.
        dead.retain(|s| {
            if s.kind != KIND_WEAK {
                return true;
            }
            if let Some(cell) = sp.weak.lock().remove(s.data) {
                cell.ptr.store(0, Ordering::Release);
                sp.weak_cleared.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        // 2: finalizers: keep the object one more cycle and queue.
        let mut kept = Vec::new();
        dead.retain(|s| {
            if s.kind != KIND_FINALIZER {
                return true;
            }
            if let Some(rec) = sp.finalizers.lock().remove(s.data) {
                debug_assert_eq!(rec.obj, span.object_addr(s.index as usize));
                if cfg!(debug_assertions) {
                    check_referents_kept(&sp.heap, rec.obj);
                }
                resurrect.push(s.index);
                kept.push(s.index);
                jobs.push(Job::Finalize {
                    obj: rec.obj,
                    f: rec.f,
                });
                sp.finalizers_queued.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        // 3: cleanups of objects that really die.
        dead.retain(|s| {
            if s.kind != KIND_CLEANUP {
                return true;
            }
            if kept.contains(&s.index) {
                return true; // stays on the kept object
            }
            if let Some(rec) = sp.cleanups.lock().remove(s.data) {
                jobs.push(Job::Cleanup {
                    arg: rec.arg,
                    f: rec.f,
                });
                sp.cleanups_queued.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        if !jobs.is_empty() {
            sp.queue.lock().jobs.extend(jobs);
            sp.queue_cv.notify_all();
        }
    }
}

/// Debug check of specials §2 at the moment a finalizable object is kept by
/// the sweep: everything it points to survived the mark (marked, or already
/// swept as live).
fn check_referents_kept(heap: &Weak<HeapInner>, obj: usize) {
    let Some(heap) = heap.upgrade() else { return };
    crate::mark::for_each_referent(&heap, obj, |v, desc, field| {
        let o = heap.page.find_object(v);
        let ok = o.is_some_and(|o| o.is_marked() || o.span().is_allocated(o.index()));
        assert!(
            ok,
            "tricolor: the finalizable object at {obj:#x} (`{}`) is kept for its finalizer, \
             but its field {field:?} points to {v:#x}, which did not survive the mark \
             (specials §2 broken)",
            desc.name
        );
    });
}

/// Checks that `obj` is the start of a live object of this heap (as far as
/// the allocator can tell; see [`Mutator::set_finalizer`]'s errors).
pub(crate) fn check_live(
    heap: &HeapInner,
    obj: ObjRef,
    what: &'static str,
) -> Result<(), SpecialError> {
    let addr = obj.addr();
    let o = heap
        .page
        .find_object(addr)
        .ok_or(SpecialError::NotAHeapObject { addr, what })?;
    if o.base() != addr {
        return Err(SpecialError::InteriorPointer {
            addr,
            base: o.base(),
            what,
        });
    }
    let span = o.span();
    let h = heap.page.sweepgen();
    let sg = span.sweepgen();
    let freed = if sg == h.wrapping_sub(2) {
        // Not swept since the last mark: mark bits say who survived
        // (specials §4); while marking, allocation state is exact only
        // for uncached spans, so say nothing then.
        !barrier::marking(heap) && !o.is_marked()
    } else if sg == h {
        // Swept and not cached: the allocation state is exact.
        !span.is_allocated(o.index()) && !o.is_marked()
    } else {
        false // being swept, or cached: the allocator cannot tell
    };
    // A poisoned header is a freed object whatever the span says.
    // SAFETY: `addr` is the start of a slot of this heap (checked above);
    // slots stay mapped while the heap lives, and the header word is read
    // atomically.
    let header = unsafe { crate::object::load_header(obj) };
    if freed || header == tricolor_allocator::POISON_WORD {
        return Err(SpecialError::FreedObject { addr, what });
    }
    Ok(())
}

// ---- marking (specials §2) --------------------------------------------------

/// The referents of `obj` (unmarked, allocated: nothing is freed while
/// marking).
fn referents(heap: &HeapInner, obj: usize) -> Vec<usize> {
    let mut out = Vec::new();
    crate::mark::for_each_referent(heap, obj, |v, _, _| out.push(v));
    out
}

fn is_marked(heap: &HeapInner, addr: usize) -> bool {
    heap.page.find_object(addr).is_some_and(|o| o.is_marked())
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
fn mark_from_candidate(heap: &HeapInner, obj: usize) -> (gcwork::Tally, bool) {
    let mut marked = Vec::new();
    let refs = referents(heap, obj);
    let mut tally = gcwork::mark_closure_alone(
        heap,
        &refs,
        Source::Root(RootKind::Finalizer(obj)),
        &mut marked,
    );
    loop {
        let values = crate::ephemeron::values_of_keys(heap, &marked);
        if values.is_empty() {
            break;
        }
        marked.clear();
        let t = gcwork::mark_closure_alone(
            heap,
            &values,
            Source::Root(RootKind::Ephemeron),
            &mut marked,
        );
        tally.marked_bytes += t.marked_bytes;
        tally.marked_objects += t.marked_objects;
        tally.scanned_bytes += t.scanned_bytes;
    }
    (tally, is_marked(heap, obj))
}

/// The finalizer stage itself (specials §2): each candidate still unmarked
/// at its turn is marked from. Returns what it marked and how many
/// candidates were found to reach themselves.
fn run_stage(heap: &HeapInner) -> (gcwork::Tally, u64) {
    let mut total = gcwork::Tally::default();
    let mut cycles = 0;
    for obj in unmarked_finalizable(heap) {
        if is_marked(heap, obj) {
            continue; // reached from an earlier candidate: a chain
        }
        let (t, reaches_itself) = mark_from_candidate(heap, obj);
        total.marked_bytes += t.marked_bytes;
        total.marked_objects += t.marked_objects;
        total.scanned_bytes += t.scanned_bytes;
        cycles += u64::from(reaches_itself);
    }
    heap.specials
        .finalizer_cycles
        .fetch_add(cycles, Ordering::Relaxed);
    (total, cycles)
}

/// The finalizer stage of a concurrent mark (specials §2), on the calling
/// thread. Returns how many candidates were found to reach themselves.
/// Runs at most once per cycle (the first caller wins).
pub(crate) fn finalizer_stage(heap: &HeapInner) -> u64 {
    if heap.specials.stage_done.swap(true, Ordering::AcqRel) {
        return 0;
    }
    let (mut tally, cycles) = run_stage(heap);
    heap.mark_state.add(&mut tally);
    cycles
}

/// The finalizer stage of a stop-the-world mark: as [`finalizer_stage`],
/// on the thread that stopped the world. Returns what it marked.
pub(crate) fn finalizer_stage_stw(heap: &HeapInner) -> (crate::mark::MarkOutcome, u64) {
    heap.specials.stage_done.store(true, Ordering::Release);
    let cpu0 = crate::mark::thread_cpu_time();
    let (tally, cycles) = run_stage(heap);
    let out = crate::mark::MarkOutcome {
        live_bytes: tally.marked_bytes,
        live_objects: tally.marked_objects,
        cpu: crate::mark::thread_cpu_time().saturating_sub(cpu0),
    };
    (out, cycles)
}

/// Calls `f` with every root this module holds: queued finalizer objects,
/// queued cleanup arguments, and the arguments of registered cleanups.
pub(crate) fn for_each_root(heap: &HeapInner, mut f: impl FnMut(usize, RootKind)) {
    let sp = &heap.specials;
    for job in sp.queue.lock().jobs.iter() {
        match *job {
            Job::Finalize { obj, .. } => f(obj, RootKind::FinalizerQueue),
            Job::Cleanup { arg, .. } if arg != 0 => f(arg, RootKind::CleanupArg),
            Job::Cleanup { .. } => {}
        }
    }
    for rec in sp.cleanups.lock().iter() {
        if rec.arg != 0 {
            f(rec.arg, RootKind::CleanupArg);
        }
    }
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

// ---- the finalizer thread (specials §5) -------------------------------------

fn start_thread(heap: &Arc<HeapInner>) {
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
                if barrier::marking(&heap) {
                    let v = match job {
                        Job::Finalize { obj, .. } => obj,
                        Job::Cleanup { arg, .. } => arg,
                    };
                    gcwork::shade_all(&heap, &[v], Source::Root(RootKind::FinalizerQueue));
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
                catch_unwind(AssertUnwindSafe(|| f(m, o)))
            });
            sp.finalizers_run.fetch_add(1, Ordering::Relaxed);
            ("finalizer", r)
        }
        Job::Cleanup { arg, f } => {
            let a = ObjRef::from_addr(arg);
            let r = m.frame(|m| {
                m.push_root(a);
                catch_unwind(AssertUnwindSafe(|| f(m, a)))
            });
            sp.cleanups_run.fetch_add(1, Ordering::Relaxed);
            ("cleanup", r)
        }
    };
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

// ---- the public API -----------------------------------------------------------

impl Mutator {
    /// Sets a finalizer on `obj`: when the collector finds `obj`
    /// unreachable, it queues `f` to run with `obj` on the heap's finalizer
    /// thread. Go's `runtime.SetFinalizer`, for this heap.
    ///
    /// # The contract
    ///
    /// - **At most one per object.** A second `set_finalizer` is an error;
    ///   [`clear_finalizer`](Self::clear_finalizer) first to replace one.
    /// - **When it runs.** Only after a cycle finds `obj` unreachable from
    ///   the roots (globals, shadow stacks, root scanners, the finalizer
    ///   queue, cleanup arguments, live ephemeron entries). Never before;
    ///   no promise of how soon after (sweeping is lazy, and the finalizer
    ///   thread runs one at a time), and none at all if the heap is dropped
    ///   first. [`wait_for_finalizers`](Self::wait_for_finalizers) waits
    ///   for everything found so far.
    /// - **What it sees.** `obj` and everything it reaches are kept for that
    ///   cycle, so the finalizer can read them; the finalizer is cleared
    ///   (it runs once), and `obj` is rooted while it runs.
    /// - **Resurrection.** The finalizer may store `obj` somewhere
    ///   reachable; then it lives on, without a finalizer (set a new one
    ///   if wanted). Otherwise `obj` is freed by a later cycle.
    /// - **Weak references** to `obj` are cleared when it is first found
    ///   unreachable, before the finalizer runs, and stay cleared if it is
    ///   resurrected. Ephemeron entries keyed by `obj` are removed then too.
    /// - **Order.** If finalizable A reaches finalizable B, A's finalizer
    ///   runs first (B is kept reachable by A), and B's in a later cycle.
    /// - **Cycles leak.** Objects in a cycle of finalizable objects (A
    ///   reaches B reaches A, or A reaches itself) are never collected and
    ///   their finalizers never run: each keeps the other alive. Such
    ///   cycles are reported in [`SpecialStats::finalizer_cycles`] and the
    ///   gctrace line: each collection counts one object of every group of
    ///   finalizable objects that reach one another (ephemeron entries
    ///   included) unless another unreachable finalizable object reaches
    ///   the group, which is then reported once that one is finalized. The
    ///   figure says that cycles exist, not how many objects they hold.
    ///   Put the resource that needs finalizing in a small
    ///   object of its own, outside the cycle.
    /// - **Where it runs.** On the heap's finalizer thread, which is a
    ///   mutator: `f` may allocate, load and store through the `&mut
    ///   Mutator` it gets. Finalizers run one at a time; a slow one delays
    ///   the rest. A panicking finalizer is caught, counted
    ///   ([`SpecialStats::finalizer_panics`]) and reported on standard
    ///   error, and later finalizers still run.
    /// - **Capture nothing from the heap** in `f`: an `ObjRef` a closure
    ///   captures is not a root. Reach the heap through `obj`. Nor a
    ///   [`Heap`](crate::Heap): the heap owns its pending finalizers, so a
    ///   finalizer holding the heap keeps it from ever being dropped
    ///   (use the `&mut Mutator` the finalizer gets).
    /// - **Do not wait for finalizers in one**: calling
    ///   [`wait_for_finalizers`](Self::wait_for_finalizers) on the
    ///   finalizer thread would wait for itself; it panics instead.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A file handle object: one data word, the descriptor.
    /// let file = heap.register_type(TypeDescriptor::fixed("File", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let f = m.alloc(file, 0)?;
    /// // SAFETY: `f` was just allocated; word 0 is data.
    /// unsafe { m.store_word(f, 0, 42) };
    /// let c = closed.clone();
    /// m.set_finalizer(f, move |m, f| {
    ///     // SAFETY: the finalizer's object is live and rooted while it runs.
    ///     let fd = unsafe { m.load_word(f, 0) };
    ///     c.store(fd as usize, Ordering::SeqCst); // "close(fd)"
    /// })?;
    /// m.collect(); // `f` was never rooted: unreachable
    /// m.wait_for_finalizers();
    /// assert_eq!(closed.load(Ordering::SeqCst), 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SpecialError`] if `obj` is not the start of an object of this heap,
    /// was freed, or already has a finalizer. A freed object is detected
    /// when the allocator can tell: a small object always with poisoning
    /// on, otherwise unless its span is held by a mutator's cache; a freed
    /// large object's pages go back to the page heap, so it is refused as
    /// [`SpecialError::NotAHeapObject`] (or, once its pages are reused, is
    /// taken for the new object there: no check can see that).
    pub fn set_finalizer(
        &mut self,
        obj: ObjRef,
        f: impl FnOnce(&mut Mutator, ObjRef) + Send + 'static,
    ) -> Result<(), SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "set_finalizer")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        {
            let mut g = o.span().specials();
            if g.find(index, KIND_FINALIZER).is_some() {
                return Err(SpecialError::AlreadyHasFinalizer { addr: obj.addr() });
            }
            let data = heap.specials.finalizers.lock().insert(FinalizerRec {
                obj: obj.addr(),
                f: Box::new(f),
            });
            g.add(Special {
                index,
                kind: KIND_FINALIZER,
                data,
            });
        }
        if barrier::marking(&heap) {
            // The finalizer stage may have passed (specials §2).
            let refs = referents(&heap, obj.addr());
            gcwork::shade_all(&heap, &refs, Source::Root(RootKind::Finalizer(obj.addr())));
        }
        start_thread(&heap);
        Ok(())
    }

    /// Removes `obj`'s finalizer; returns whether it had one. A finalizer
    /// already queued (its object found unreachable) still runs.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0)?;
    /// m.set_finalizer(obj, |_, _| panic!("cleared: never runs"))?;
    /// assert_eq!(m.clear_finalizer(obj), Ok(true));
    /// assert_eq!(m.clear_finalizer(obj), Ok(false));
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert_eq!(heap.stats().specials.finalizers_run, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`set_finalizer`](Self::set_finalizer), except that having a
    /// finalizer is not an error.
    pub fn clear_finalizer(&mut self, obj: ObjRef) -> Result<bool, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "clear_finalizer")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let mut g = o.span().specials();
        match g.remove(o.index() as u32, KIND_FINALIZER, |_| true) {
            Some(s) => {
                heap.specials.finalizers.lock().remove(s.data);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds a cleanup to `obj`: after the collector has found `obj`
    /// unreachable and freed it, `f` runs with `arg` on the heap's
    /// finalizer thread. Go's `runtime.AddCleanup`, for this heap.
    ///
    /// # The contract
    ///
    /// - **Several per object**, each run exactly once, in no set order;
    ///   each returns a [`CleanupHandle`] that can cancel it until it is
    ///   queued.
    /// - **No resurrection.** `f` never sees `obj`: it gets `arg`, a heap
    ///   object (or `None`) that the cleanup keeps alive until it has run.
    ///   `arg` must not be `obj` (an error: `obj` could never die) and should
    ///   not reach `obj` (then `obj` never dies, silently: the same leak as a
    ///   finalizer cycle). Capture no `ObjRef` of `obj` in `f` either (it
    ///   would dangle).
    /// - **When it runs.** After the cycle that frees `obj`; if `obj` has a
    ///   finalizer that resurrects it, the cleanups wait until `obj` really
    ///   dies. Cleanups of objects freed together run in no set order.
    ///   Panics are caught and counted as for finalizers.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let obj = m.alloc(node, 0)?;
    /// let r = ran.clone();
    /// let handle = m.add_cleanup(obj, None, move |_, _| r.store(true, Ordering::SeqCst))?;
    /// let other = m.alloc(node, 0)?;
    /// let cancelled = m.add_cleanup(other, None, |_, _| panic!("never runs"))?;
    /// assert!(cancelled.cancel());
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert!(ran.load(Ordering::SeqCst));
    /// assert!(!handle.cancel(), "too late: it ran");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SpecialError::CleanupArgIsObject`] if `arg` is `obj`; otherwise as
    /// for [`set_finalizer`](Self::set_finalizer) for `obj` and `arg`.
    pub fn add_cleanup(
        &mut self,
        obj: ObjRef,
        arg: Option<ObjRef>,
        f: impl FnOnce(&mut Mutator, Option<ObjRef>) + Send + 'static,
    ) -> Result<CleanupHandle, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "add_cleanup")?;
        if let Some(a) = arg {
            if a == obj {
                return Err(SpecialError::CleanupArgIsObject { addr: obj.addr() });
            }
            check_live(&heap, a, "add_cleanup (its argument)")?;
        }
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        let id = heap
            .specials
            .next_cleanup_id
            .fetch_add(1, Ordering::Relaxed);
        let arg = arg.map_or(0, ObjRef::addr);
        let slot = {
            let mut g = o.span().specials();
            let slot = heap.specials.cleanups.lock().insert(CleanupRec {
                obj: obj.addr(),
                arg,
                id,
                f: Box::new(f),
            });
            g.add(Special {
                index,
                kind: KIND_CLEANUP,
                data: slot,
            });
            slot
        };
        if arg != 0 && barrier::marking(&heap) {
            // A new root that the roots job may already have scanned.
            gcwork::shade_all(&heap, &[arg], Source::Root(RootKind::CleanupArg));
        }
        start_thread(&heap);
        Ok(CleanupHandle {
            heap: Arc::downgrade(&heap),
            slot,
            id,
        })
    }

    /// A weak reference to `obj`: it yields `obj` while `obj` is reachable
    /// and `None` once a cycle has found it unreachable. Go's `weak.Make`.
    ///
    /// # The contract
    ///
    /// - Weak references to the same object are equal (`==`, and hash the
    ///   same), however and whenever they were made, while the object is
    ///   alive; they share one cell.
    /// - A weak reference does not keep its object alive.
    /// - It is cleared when the object is first found unreachable, before
    ///   the object's finalizer (if any) runs, and stays cleared even if the
    ///   finalizer resurrects the object. A weak reference made to the
    ///   resurrected object later is a new one (not equal to the old).
    /// - [`WeakRef::get`] while a mark runs makes the object reachable
    ///   again (it is shaded), exactly like loading a strong pointer.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let kept = m.alloc(node, 0)?;
    /// let slot = m.push_root(Some(kept));
    /// let lost = m.alloc(node, 0)?;
    /// let w_kept = m.weak_ref(kept)?;
    /// let w_lost = m.weak_ref(lost)?;
    /// assert_eq!(w_kept, m.weak_ref(kept)?, "one cell per object");
    /// m.collect();
    /// assert_eq!(w_kept.get(&m), m.root(slot));
    /// assert_eq!(w_lost.get(&m), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`set_finalizer`](Self::set_finalizer): a pointer that is not
    /// the start of a live object of this heap.
    pub fn weak_ref(&mut self, obj: ObjRef) -> Result<WeakRef, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "weak_ref")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        let mut g = o.span().specials();
        let cell = match g.find(index, KIND_WEAK) {
            Some(s) => heap
                .specials
                .weak
                .lock()
                .get(s.data)
                .cloned()
                .expect("a weak record names a live cell"),
            None => {
                let cell = Arc::new(WeakCell {
                    ptr: AtomicUsize::new(obj.addr()),
                });
                let data = heap.specials.weak.lock().insert(cell.clone());
                g.add(Special {
                    index,
                    kind: KIND_WEAK,
                    data,
                });
                cell
            }
        };
        Ok(WeakRef {
            heap: Arc::downgrade(&heap),
            cell,
        })
    }

    /// Runs `f` with `obj` kept reachable until `f` returns: Go's
    /// `runtime.KeepAlive` for code whose only reference to `obj` is an
    /// unrooted `ObjRef` or a native resource read from it.
    ///
    /// A finalizer may run as soon as its object is unreachable, which can
    /// be while native code still uses a resource the object owns (a file
    /// descriptor read out of it): root the object across that use.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let file = heap.register_type(TypeDescriptor::fixed("File", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let f = m.alloc(file, 0)?;
    /// m.set_finalizer(f, |_, _| { /* close the descriptor */ })?;
    /// // SAFETY: `f` is fresh.
    /// let fd = unsafe { m.load_word(f, 0) };
    /// m.keep_alive(f, |m| {
    ///     m.collect(); // cannot finalize `f`: it is rooted here
    ///     let _ = fd; // ... use the descriptor ...
    /// });
    /// assert_eq!(heap.stats().specials.finalizers_queued, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keep_alive<R>(&mut self, obj: ObjRef, f: impl FnOnce(&mut Mutator) -> R) -> R {
        self.frame(|m| {
            m.push_root(Some(obj));
            f(m)
        })
    }

    /// Waits until every finalizer and cleanup due so far has run: sweeps
    /// what the collections so far have left (which queues everything they
    /// found unreachable), then waits for the finalizer thread to empty its
    /// queue. Waits in native state. Returns at once if the heap is shutting
    /// down.
    ///
    /// See [`set_finalizer`](Self::set_finalizer) for an example.
    ///
    /// # Panics
    /// On the finalizer thread (in a finalizer or cleanup, which would wait
    /// for itself), and if the finalizer thread has stopped with jobs left
    /// (a collection failed on it).
    pub fn wait_for_finalizers(&mut self) {
        let heap = self.inner().clone();
        assert!(
            FINALIZER_THREAD_OF.with(|c| c.get()) != heap.id(),
            "tricolor: wait_for_finalizers called from a finalizer or cleanup: \
             the finalizer thread would wait for itself"
        );
        self.native(|| wait_for_finalizers(&heap));
    }
}

impl crate::Heap {
    /// [`Mutator::wait_for_finalizers`], for a thread that is not attached.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// {
    ///     let mut m = heap.attach()?;
    ///     let obj = m.alloc(node, 0)?;
    ///     m.set_finalizer(obj, |_, _| {})?;
    /// }
    /// heap.collect();
    /// heap.wait_for_finalizers();
    /// assert_eq!(heap.stats().specials.finalizers_run, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread is attached to this heap (a running mutator
    /// would keep the finalizer thread's collections from finishing): use
    /// the mutator's method.
    pub fn wait_for_finalizers(&self) {
        assert!(
            !crate::mutator::attached_here(self.inner.id()),
            "Heap::wait_for_finalizers called from a thread attached to this heap; \
             use Mutator::wait_for_finalizers"
        );
        wait_for_finalizers(&self.inner);
    }
}

/// Cancels a cleanup ([`Mutator::add_cleanup`]). Dropping the handle does
/// not cancel.
#[derive(Debug)]
pub struct CleanupHandle {
    heap: Weak<HeapInner>,
    slot: usize,
    id: u64,
}

impl CleanupHandle {
    /// Cancels the cleanup; returns `true` if it was still registered (it
    /// will not run), `false` if it was already queued, run or cancelled.
    ///
    /// See [`Mutator::add_cleanup`] for an example.
    pub fn cancel(&self) -> bool {
        let Some(heap) = self.heap.upgrade() else {
            return false;
        };
        let sp = &heap.specials;
        let obj = match sp.cleanups.lock().get(self.slot) {
            Some(rec) if rec.id == self.id => rec.obj,
            _ => return false,
        };
        // Lock order: the span's specials, then the table (specials §1).
        let Some(o) = heap.page.find_object(obj) else {
            return false;
        };
        let mut g = o.span().specials();
        let mut table = sp.cleanups.lock();
        match table.get(self.slot) {
            Some(rec) if rec.id == self.id => {}
            _ => return false, // queued meanwhile
        }
        let removed = g.remove(o.index() as u32, KIND_CLEANUP, |s| s.data == self.slot);
        debug_assert!(removed.is_some(), "a registered cleanup has its record");
        drop(table.remove(self.slot));
        sp.cleanups_cancelled.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// A weak reference to an object ([`Mutator::weak_ref`]): yields the object
/// while it is reachable, `None` after. Handles to one object compare equal.
/// `Send` and `Sync`; [`get`](Self::get) needs a running mutator of the
/// same heap.
#[derive(Clone)]
pub struct WeakRef {
    heap: Weak<HeapInner>,
    cell: Arc<WeakCell>,
}

impl PartialEq for WeakRef {
    fn eq(&self, other: &WeakRef) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl Eq for WeakRef {}

impl std::hash::Hash for WeakRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.cell) as usize).hash(state);
    }
}

impl std::fmt::Debug for WeakRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.ptr.load(Ordering::Relaxed) {
            0 => write!(f, "WeakRef(cleared)"),
            p => write!(f, "WeakRef({p:#x})"),
        }
    }
}

impl WeakRef {
    /// The object, if it has not been found unreachable; the result is a
    /// live object until the mutator's next safepoint, as any loaded
    /// pointer (root it to keep it).
    ///
    /// See [`Mutator::weak_ref`] for an example.
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap.
    pub fn get(&self, m: &Mutator) -> Option<ObjRef> {
        m.assert_running();
        let heap = m.inner();
        assert!(
            std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap)),
            "tricolor: WeakRef::get with a mutator of another heap"
        );
        loop {
            let p = self.cell.ptr.load(Ordering::Acquire);
            if p == 0 {
                return None;
            }
            if barrier::marking(heap) {
                // Specials §4: the caller may be making the only strong
                // reference after its stack was scanned.
                if !heap.barrier_disabled_for_testing.load(Ordering::Relaxed) {
                    gcwork::shade_all(heap, &[p], Source::Root(RootKind::Weak));
                }
                return ObjRef::from_addr(p);
            }
            // Not marking, and no mark can start before this mutator's next
            // safepoint: the sweep generation `h` is fixed meanwhile.
            let h = heap.page.sweepgen();
            let Some(span) = heap.page.span_of(p) else {
                // The span was freed by its sweep, which cleared the cell first.
                continue;
            };
            let g = span.specials();
            let sg = span.sweepgen();
            if sg == h.wrapping_sub(2) {
                // Unswept: with the specials lock held, the sweep cannot clear
                // the mark bits or run the hook (specials §4).
                let live = span
                    .object_index(p)
                    .is_some_and(|i| span.mark_bits().get(i));
                drop(g);
                return if live { ObjRef::from_addr(p) } else { None };
            }
            drop(g);
            if sg == h.wrapping_sub(1) {
                std::thread::yield_now(); // being swept: wait for the outcome
                continue;
            }
            // Swept (maybe cached since): the hook has cleared the cell if the
            // object died, before the sweep published `h` (Acquire above).
            return ObjRef::from_addr(self.cell.ptr.load(Ordering::Acquire));
        }
    }

    /// Whether the reference has been cleared. A `false` answer may be stale
    /// by the time it is used; `true` is final.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0)?;
    /// let w = m.weak_ref(obj)?;
    /// assert!(!w.is_cleared());
    /// m.collect();
    /// m.wait_for_finalizers(); // also finishes the sweep, which clears it
    /// assert!(w.is_cleared());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_cleared(&self) -> bool {
        self.cell.ptr.load(Ordering::Acquire) == 0
    }
}
