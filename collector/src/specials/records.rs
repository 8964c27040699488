//! Specials §1: the records, their tables and the finalizer queue, for one
//! heap (`Specials`). The algorithm is the `specials` module's essay; the
//! code that acts on these records is in `specials::sweep` (§3),
//! `mark::finalizers` (§2), `specials::finalizer_thread` (§5) and
//! `specials::api`.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex};
use tricolor_allocator::PageHeap;

use crate::mark::source::RootKind;
use crate::specials::tables::TableInner;

/// Special kinds (specials §1). Weak sorts first.
pub(crate) const KIND_WEAK: u8 = 1;
pub(crate) const KIND_FINALIZER: u8 = 2;
pub(crate) const KIND_CLEANUP: u8 = 3;
/// A drop record: `data` is the [`DropFn`] itself (no table).
pub(crate) const KIND_DROP: u8 = 4;
/// A heap profile record: `data` is the index of the sample's bucket
/// (profile §3; no table here).
pub(crate) const KIND_PROFILE: u8 = 5;

/// Drops a value moved out of a dead object: called on the finalizer thread
/// with a buffer holding a bitwise copy of the object's payload words
/// ([`Mutator::set_drop`](crate::Mutator::set_drop)).
pub type DropFn = unsafe fn(*mut u64);

/// A drop function as a record's `data` word: its address, with its
/// provenance exposed so that [`drop_fn_of`] can take it back.
pub(crate) fn drop_fn_data(f: DropFn) -> usize {
    (f as *const ()).expose_provenance()
}

/// The drop function a drop record's `data` holds.
///
/// # Safety
/// `data` came from [`drop_fn_data`].
pub(crate) unsafe fn drop_fn_of(data: usize) -> DropFn {
    let p: *const () = std::ptr::with_exposed_provenance(data);
    // SAFETY: `p` is the address of a `DropFn`, with its provenance (the
    // caller's contract); a function pointer and a data pointer have the
    // same size and representation on every platform Rust supports.
    unsafe { std::mem::transmute::<*const (), DropFn>(p) }
}

/// A finalizer or cleanup closure, its context type erased. The records
/// and the queue sit below the public `Mutator` that the user's closures
/// take (the heap's state holds them, and `Mutator` holds the heap); the
/// code that makes a callback (`specials::api`) and the one that runs it
/// (`specials::finalizer_thread`) both know that type and meet through
/// `&mut dyn Any`. Erasing it costs no allocation beyond the one box
/// (the user's closure lives inside the boxed wrapper) and one type-id
/// comparison per run.
pub(crate) trait Callback: Send {
    /// Runs the closure with the finalizer thread's mutator `m` (a
    /// `Mutator`) and `obj`: the finalized object, or a cleanup's argument
    /// (0: none).
    fn call(self: Box<Self>, m: &mut dyn Any, obj: usize);
}

/// Why a finalizer, cleanup or weak-reference call was refused.
///
/// ```
/// use tricolor_collector::{Config, Heap, ObjRef, SpecialError, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let mut m = heap.attach()?;
/// let obj = m.alloc(node, 0);
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
    /// as far as the allocator can tell (see [`Mutator::set_finalizer`](crate::Mutator::set_finalizer)'s
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
    pub(crate) items: Vec<Option<T>>,
    pub(crate) free: Vec<usize>,
    pub(crate) len: usize,
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
    pub(crate) obj: usize,
    pub(crate) f: Box<dyn Callback>,
}

pub(crate) struct CleanupRec {
    pub(crate) obj: usize,
    /// The argument (0: none); a root while the record exists.
    pub(crate) arg: usize,
    /// Unique per cleanup: a handle names its record by (slot, id).
    pub(crate) id: u64,
    pub(crate) f: Box<dyn Callback>,
}

/// The cell every [`WeakRef`] to one object shares: the object's address,
/// or 0 once the object was found unreachable.
#[derive(Debug)]
pub(crate) struct WeakCell {
    pub(crate) ptr: AtomicUsize,
}

pub(crate) enum Job {
    Finalize {
        obj: usize,
        f: Box<dyn Callback>,
    },
    Cleanup {
        arg: usize,
        f: Box<dyn Callback>,
    },
    /// A dead object's payload, moved out by the sweep, and its drop.
    Drop {
        words: Box<[u64]>,
        f: DropFn,
    },
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) jobs: VecDeque<Job>,
    /// The finalizer thread is running a job.
    pub(crate) running: bool,
    /// The finalizer thread has stopped: set once, by its exit guard, when
    /// it returns or unwinds (a failed collection panics in a safepoint).
    /// Jobs queued after this never run.
    pub(crate) stopped: bool,
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
/// let obj = m.alloc(node, 0);
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
    /// Drop records registered and not yet queued.
    pub drops_pending: u64,
    /// Drops queued because their object was found unreachable.
    pub drops_queued: u64,
    /// Drops that have run (panicked ones included).
    pub drops_run: u64,
    /// Weak cells cleared (one per object, however many handles share it).
    pub weak_cleared: u64,
    /// Ephemeron entries removed because their key died.
    pub ephemerons_dropped: u64,
}

/// Everything the specials keep for one heap. Shared by the heap and the
/// sweep hook (`specials::sweep`, which the allocator holds).
pub(crate) struct Specials {
    pub(crate) finalizers: Mutex<Slab<FinalizerRec>>,
    pub(crate) cleanups: Mutex<Slab<CleanupRec>>,
    pub(crate) weak: Mutex<Slab<Arc<WeakCell>>>,
    pub(crate) queue: Mutex<Queue>,
    /// Signalled when a job is queued (finalizer thread) and when the queue
    /// goes idle (`wait_for_finalizers`).
    pub(crate) queue_cv: Condvar,
    /// The finalizer thread was started.
    pub(crate) thread_started: AtomicBool,
    /// The finalizer stage ran this cycle (specials §2). Reset at sweep
    /// termination; set by whoever runs the stage.
    pub(crate) stage_done: AtomicBool,
    /// Number of the mark in progress or last run (ephemeron §2: a table's
    /// unsettled list belongs to one mark). Advanced by `begin_mark`, at
    /// sweep termination (world stopped).
    pub(crate) mark_epoch: AtomicU64,
    pub(crate) next_cleanup_id: AtomicU64,
    pub(crate) finalizers_queued: AtomicU64,
    pub(crate) finalizers_run: AtomicU64,
    pub(crate) finalizer_panics: AtomicU64,
    pub(crate) finalizer_cycles: AtomicU64,
    pub(crate) cleanups_queued: AtomicU64,
    pub(crate) cleanups_run: AtomicU64,
    pub(crate) cleanups_cancelled: AtomicU64,
    pub(crate) drops_registered: AtomicU64,
    pub(crate) drops_queued: AtomicU64,
    pub(crate) drops_run: AtomicU64,
    pub(crate) weak_cleared: AtomicU64,
    pub(crate) ephemerons_dropped: AtomicU64,
    /// The ephemeron tables of this heap (`specials::ephemeron`).
    pub(crate) tables: Mutex<Vec<Weak<TableInner>>>,
    /// The weak slot arrays of this heap (`specials::weak_slots`).
    pub(crate) weak_slots: Mutex<Vec<Weak<crate::specials::tables::SlotsInner>>>,
}

impl Specials {
    pub(crate) fn new() -> Specials {
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
            drops_registered: AtomicU64::new(0),
            drops_queued: AtomicU64::new(0),
            drops_run: AtomicU64::new(0),
            weak_cleared: AtomicU64::new(0),
            ephemerons_dropped: AtomicU64::new(0),
            tables: Mutex::default(),
            weak_slots: Mutex::default(),
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
            drops_pending: r(&self.drops_registered).saturating_sub(r(&self.drops_queued)),
            drops_queued: r(&self.drops_queued),
            drops_run: r(&self.drops_run),
            weak_cleared: r(&self.weak_cleared),
            ephemerons_dropped: r(&self.ephemerons_dropped),
        }
    }
}

impl Specials {
    /// Calls `f` with every root the specials hold: queued finalizer
    /// objects, queued cleanup arguments, and the arguments of registered
    /// cleanups (specials §2).
    pub(crate) fn for_each_root(&self, mut f: impl FnMut(usize, RootKind)) {
        for job in self.queue.lock().jobs.iter() {
            match *job {
                Job::Finalize { obj, .. } => f(obj, RootKind::FinalizerQueue),
                Job::Cleanup { arg, .. } if arg != 0 => f(arg, RootKind::CleanupArg),
                Job::Cleanup { .. } | Job::Drop { .. } => {}
            }
        }
        for rec in self.cleanups.lock().iter() {
            if rec.arg != 0 {
                f(rec.arg, RootKind::CleanupArg);
            }
        }
    }
}

// ---- running drops, and the heap's last ones (specials §6) --------------------

/// Runs drop function `f` on `words`, catching a panic; counts the drop.
///
/// # Safety
/// `words` holds the payload of an object whose drop record named `f`,
/// moved out of it, and is dropped once (`Mutator::set_drop`'s contract).
pub(crate) unsafe fn run_drop(
    sp: &Specials,
    f: DropFn,
    words: &mut [u64],
) -> std::thread::Result<()> {
    // SAFETY: the caller's contract.
    let r = catch_unwind(AssertUnwindSafe(|| unsafe { f(words.as_mut_ptr()) }));
    sp.drops_run.fetch_add(1, Ordering::Relaxed);
    r
}

/// Counts and reports a panic of a finalizer, cleanup or drop.
pub(crate) fn report_panic(sp: &Specials, what: &str, result: std::thread::Result<()>) {
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

// ---- when the heap is dropped (specials §6) -----------------------------------

/// Drops every value the heap still owns: the queued drops and the drop
/// records left on objects (specials §6). Called once, as the heap is
/// dropped: no mutator, handle or thread of it is left.
pub(crate) fn drop_remaining(sp: &Specials, page: &PageHeap) {
    // The finalizer thread has stopped: the queue is ours. Finalizer and
    // cleanup jobs are dropped without running.
    let jobs = std::mem::take(&mut sp.queue.lock().jobs);
    for job in jobs {
        if let Job::Drop { mut words, f } = job {
            // SAFETY: as in the finalizer thread's `run_job`: moved out by
            // the sweep, dropped once.
            let r = unsafe { run_drop(sp, f, &mut words) };
            report_panic(sp, "drop", r);
        }
    }
    page.for_each_span(|span| {
        let records = span.specials().take_kind(KIND_DROP);
        for s in records {
            let obj = span.object_addr(s.index as usize);
            let n = (span.elem_size() - span.object_offset()) / 8;
            // The slot is the header word, if any (the span's object
            // offset), then the `n` payload words from `obj`; the value is
            // moved out here, as the sweep does.
            // SAFETY: the object holds the value its record stands for (a
            // sweep takes the record), and nothing can reach it any more.
            let mut words: Box<[u64]> =
                unsafe { std::slice::from_raw_parts(obj as *const u64, n) }.into();
            // SAFETY: `data` of a drop record is a `DropFn`, stored by
            // `Mutator::set_drop`.
            let f = unsafe { drop_fn_of(s.data) };
            // SAFETY: moved out just above, its record taken: dropped once.
            let r = unsafe { run_drop(sp, f, &mut words) };
            report_panic(sp, "drop", r);
        }
    });
}
