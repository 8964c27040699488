//! The state one heap's threads share (`HeapInner`), and the handle type
//! [`Heap`] that owns a share of it.
//!
//! This module sits below every part of the collector that acts on a heap
//! (safepoints, marking, sweeping, the cycle): they take `&HeapInner` and
//! read the parts they need. It only composes the parts' own state types
//! (the type table, the phase word, the mark queues, the specials, the
//! pacer, the statistics, the mutator registry), each defined in its part's
//! module; the public methods of [`Heap`] are in `heap/mod.rs`, at the top.
//!
//! Each field says who writes it and when; "world stopped" means inside a
//! stop-the-world (`mutator::safepoint`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tricolor_allocator::PageHeap;

use crate::events::Events;
use crate::inspect::request::Inspections;
use crate::mark::queue::MarkState;
use crate::mutator::state::MutatorShared;
use crate::object::{self, ObjRef};
use crate::phase::PhaseWord;
use crate::policy::{Config, Pacer};
use crate::profile::pprof::{self, HeapProfileSummary};
use crate::profile::Profile;
use crate::specials::records::Specials;
use crate::stats::StatsState;
use crate::types::TypeTable;

/// Cycle requests between mutators and the cycle driver.
#[derive(Default)]
pub(crate) struct CycleControl {
    /// Cycles asked for (a cycle number: "at least this many cycles").
    pub(crate) requested: u64,
    /// Cycles completed.
    pub(crate) completed: u64,
    /// Cycles started.
    pub(crate) started: u64,
    /// The highest cycle number asked for by a forcing call (`collect`,
    /// gc-stress, a stepped cycle) rather than by the pacer: a cycle whose
    /// number is at most this is forced ("(forced)" in gctrace).
    pub(crate) forced: u64,
    /// Set when the last user handle goes away.
    pub(crate) shutdown: bool,
    /// Set when a cycle panicked (a checkmark or verifier failure): the
    /// message. The heap runs no more cycles; waiters panic with it.
    pub(crate) failed: Option<String>,
}

/// Why a collection failed: a checkmark or verifier failure, a bad pointer
/// or a corrupt object a marker found, a root scanner or trace callback
/// that panicked. After a failure the heap runs no more cycles: every later
/// collection, and every allocation that must wait for one, reports the
/// same failure. Returned by [`Mutator::try_collect`](crate::Mutator::try_collect),
/// [`Heap::try_collect`](crate::Heap::try_collect) and
/// [`Heap::failure`](crate::Heap::failure).
///
/// ```
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// assert_eq!(heap.failure(), None, "a healthy heap");
/// heap.try_collect()?;
/// # Ok::<(), tricolor_collector::CollectError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectError {
    message: String,
}

impl CollectError {
    /// What the failed cycle reported (the panic message of the check or
    /// the callback that failed).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap};
    /// let heap = Heap::new(Config::default());
    /// if let Some(e) = heap.failure() {
    ///     eprintln!("the collector stopped: {}", e.message());
    /// }
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a collection failed: {}", self.message)
    }
}

impl std::error::Error for CollectError {}

/// Everything a heap is; shared by [`Heap`] handles, mutators and the
/// background threads.
pub(crate) struct HeapInner {
    pub(crate) config: Config,
    pub(crate) page: Arc<PageHeap>,
    pub(crate) types: TypeTable,
    /// Global roots: slot values (object addresses, 0 when empty), and a
    /// free list of slot indices. Read by the collector with the world stopped.
    pub(crate) globals: Mutex<Globals>,
    /// Attached mutators. Changed under `world` (see `mutator::safepoint`).
    pub(crate) registry: Mutex<Vec<Arc<MutatorShared>>>,
    /// Held for the whole of a stop-the-world; attaching takes it briefly, so
    /// no mutator attaches while the world is stopped. Parked mutators wait
    /// on it.
    pub(crate) world: Mutex<()>,
    /// The collector's phase ([`Phase`]); read by the barrier entry point.
    pub(crate) phase: PhaseWord,
    pub(crate) pacer: Mutex<Pacer>,
    /// Bytes (slot sizes) allocated since the last mark finished, flushed
    /// from mutators in chunks. Added to by mutators; reset at mark
    /// termination (world stopped).
    pub(crate) allocated_since_mark: AtomicU64,
    /// Live bytes (slot sizes, allocated-black bytes included) found by the
    /// last mark. Written at mark termination (world stopped).
    pub(crate) live_after_mark: AtomicU64,
    pub(crate) cycles: Mutex<CycleControl>,
    pub(crate) cycle_cv: Condvar,
    pub(crate) sweep_cv: Condvar,
    pub(crate) stats: Mutex<StatsState>,
    pub(crate) started_at: Instant,
    /// The barrier mode (fixed for the heap's life). `Off` marks with the
    /// world stopped.
    pub(crate) mode: tricolor_barriers::BarrierMode,
    /// The grey set and counters of the current concurrent mark.
    pub(crate) mark_state: MarkState,
    /// Test-only: the write barrier records nothing (to show that tests of
    /// lost-object interleavings fail without it). Never set in production.
    pub(crate) barrier_disabled_for_testing: AtomicBool,
    /// Test-only: a background worker that wakes for work counts itself busy
    /// and then waits, taking nothing, while this is set, and the
    /// collector thread does not end the mark even if no worker has woken
    /// yet: what a busy worker the OS does not run looks like to the rest
    /// of the mark. Never set in production.
    pub(crate) workers_stalled_for_testing: AtomicBool,
    /// Held for the whole of a cycle by whoever runs it (the collector
    /// thread, or a [`CycleStepper`](crate::CycleStepper)).
    pub(crate) cycle_lock: Mutex<()>,
    /// `Heap` handles plus attached mutators; the threads stop at zero.
    pub(crate) users: AtomicUsize,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) next_mutator_id: AtomicU64,
    /// Serialises handshakes (see `safepoint::handshake`).
    pub(crate) handshake_lock: Mutex<()>,
    /// Finalizers, cleanups, weak references and ephemeron tables
    /// (`specials` module docs).
    pub(crate) specials: Arc<Specials>,
    /// Print a gctrace line per cycle: [`Config::gctrace`] at first, then
    /// whatever [`Heap::set_gctrace`] last said. Read by the cycle's end.
    pub(crate) gctrace: AtomicBool,
    /// The embedder's cycle-event and near-limit callbacks, and what has
    /// been delivered (`events` module docs).
    pub(crate) events: Events,
    /// Generational collection: the running cycle's kind, the old
    /// generation's size, the remembered set (generation §1–§5).
    pub(crate) generations: crate::generation::GenState,
    /// The heap profile's rate and buckets (`profile` module docs); shared
    /// with the sweep hook.
    pub(crate) profile: Arc<Profile>,
    /// Retaining-path and snapshot requests waiting for a mark termination
    /// (inspect §1). Pushed to by callers; taken by the cycle, world
    /// stopped.
    pub(crate) inspections: Inspections,
}

#[derive(Default)]
pub(crate) struct Globals {
    pub(crate) slots: Vec<usize>,
    pub(crate) free: Vec<usize>,
}

impl HeapInner {
    /// `obj`'s allocator record if it is of a header-free type (its span's
    /// class is the type's own), else `None`; asks no span in a heap with
    /// no header-free type.
    #[inline]
    fn header_free(&self, obj: ObjRef) -> Option<tricolor_allocator::ObjectRef<'_>> {
        if !self.types.has_header_free() {
            return None;
        }
        self.page
            .find_object(obj.addr())
            .filter(|o| o.span().own_tag().is_some())
    }

    /// Whether `obj`'s log-armed bit is set (generation §3): its header's
    /// bit, or a header-free object's armed flag in its span (object module
    /// docs). The generational store barrier's fast-path test.
    ///
    /// # Safety
    /// `obj` must be an allocated object of this heap.
    #[inline(always)]
    pub(crate) unsafe fn log_armed(&self, obj: ObjRef) -> bool {
        match self.header_free(obj) {
            Some(o) => o.is_armed(),
            // SAFETY: the caller's contract; not header-free, so it has a
            // header.
            None => unsafe { object::log_armed(obj) },
        }
    }

    /// Sets `obj`'s log-armed bit ([`log_armed`](Self::log_armed);
    /// `object::arm_log`).
    ///
    /// # Safety
    /// As for [`log_armed`](Self::log_armed).
    #[inline]
    pub(crate) unsafe fn arm_log(&self, obj: ObjRef) {
        match self.header_free(obj) {
            Some(o) => o.arm(),
            // SAFETY: as in `log_armed`.
            None => unsafe { object::arm_log(obj) },
        }
    }

    /// Clears `obj`'s log-armed bit; `true` if this call cleared it
    /// ([`log_armed`](Self::log_armed); `object::disarm_log`).
    ///
    /// # Safety
    /// As for [`log_armed`](Self::log_armed).
    #[inline]
    pub(crate) unsafe fn disarm_log(&self, obj: ObjRef) -> bool {
        match self.header_free(obj) {
            Some(o) => o.disarm(),
            // SAFETY: as in `log_armed`.
            None => unsafe { object::disarm_log(obj) },
        }
    }

    /// The type index and length of object `obj`, and its header word if
    /// it has one: from the header, or, for an object of a header-free
    /// type, from its span's own class (object module docs). A heap with
    /// no header-free type reads the header and nothing else.
    ///
    /// # Safety
    /// `obj` must be an allocated object of this heap.
    #[inline]
    pub(crate) unsafe fn object_type(&self, obj: ObjRef) -> (u32, usize, Option<u64>) {
        if self.types.has_header_free() {
            // A header-free type's spans carry its index as their tag.
            if let Some(ty) = self.page.span_of(obj.addr()).and_then(|s| s.own_tag()) {
                return (ty, 0, None);
            }
        }
        // SAFETY: the caller's contract; an object outside an own class's
        // span has a header.
        let header = unsafe { object::load_header(obj) };
        let (ty, len) = object::decode_header(header);
        (ty, len, Some(header))
    }

    /// Identity of this heap for "is this thread attached to it" checks.
    pub(crate) fn id(&self) -> usize {
        self as *const HeapInner as usize
    }

    pub(crate) fn add_user(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a user; the last one stops the background threads.
    pub(crate) fn remove_user(self: &Arc<Self>) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shutting_down.store(true, Ordering::Release);
            self.cycles.lock().shutdown = true;
            self.cycle_cv.notify_all();
            self.sweep_cv.notify_all();
            self.mark_state.wake_all();
            self.specials.wake_for_shutdown();
            let threads = std::mem::take(&mut *self.threads.lock());
            let me = std::thread::current().id();
            for t in threads {
                if t.thread().id() != me {
                    let _ = t.join();
                }
            }
            if let Some(path) = &self.config.heap_profile_path {
                let written = std::fs::File::create(path)
                    .and_then(|f| self.write_heap_profile(std::io::BufWriter::new(f)));
                if let Err(e) = written {
                    eprintln!(
                        "tricolor: writing the heap profile to {} (TRICOLOR_HEAP_PROFILE): {e}",
                        path.display()
                    );
                }
            }
        }
    }

    /// Writes the heap profile (profile §4), types named by the registry.
    pub(crate) fn write_heap_profile(
        &self,
        w: impl std::io::Write,
    ) -> std::io::Result<HeapProfileSummary> {
        let name = |i: u32| {
            self.types
                .by_index(i)
                .map_or_else(|| format!("type #{i}"), |d| d.name.to_string())
        };
        pprof::write(&self.profile, name, w)
    }

    /// Adds a background thread to be joined when the heap shuts down.
    pub(crate) fn add_thread(&self, t: JoinHandle<()>) {
        self.threads.lock().push(t);
    }

    /// The heap as the pacer sees it: live after the last mark plus what
    /// mutators have reported allocating since (each may hold up to
    /// `ALLOC_REPORT_BYTES` unreported). In slot bytes, like every count the
    /// pacer uses.
    pub(crate) fn paced_heap(&self) -> u64 {
        self.live_after_mark.load(Ordering::Relaxed)
            + self.allocated_since_mark.load(Ordering::Relaxed)
    }

    /// Asks for a cycle to start after this call (a forced cycle: not the
    /// pacer's); returns its number.
    pub(crate) fn request_cycle(&self) -> u64 {
        self.request_cycle_as(true)
    }

    /// [`request_cycle`](Self::request_cycle); `forced: false` leaves the
    /// kind of cycle to the policy, as for a paced one (gc-stress, so that
    /// it runs minor cycles in a generational heap; generation §2).
    pub(crate) fn request_cycle_as(&self, forced: bool) -> u64 {
        let mut c = self.cycles.lock();
        let target = c.started + 1;
        if forced {
            c.forced = c.forced.max(target);
        }
        if c.requested < target {
            c.requested = target;
            self.cycle_cv.notify_all();
        }
        target
    }

    /// Asks for a cycle unless one is already asked for or running.
    pub(crate) fn nudge_cycle(&self) {
        let mut c = self.cycles.lock();
        if c.requested <= c.completed && c.started == c.completed {
            c.requested = c.completed + 1;
            self.cycle_cv.notify_all();
        }
    }

    /// Waits until `cycles` cycles have completed (or the heap shuts down).
    /// The caller must not be a running mutator (it would stop the world
    /// from finishing): mutators wait in native state.
    ///
    /// # Errors
    /// The failure, if a cycle has failed (the heap runs no more).
    pub(crate) fn wait_for_cycle(&self, cycles: u64) -> Result<(), CollectError> {
        let mut c = self.cycles.lock();
        while c.completed < cycles && !c.shutdown && c.failed.is_none() {
            self.cycle_cv.wait(&mut c);
        }
        match &c.failed {
            Some(message) => Err(CollectError {
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The failure of a cycle, if one failed.
    pub(crate) fn failure(&self) -> Option<CollectError> {
        let c = self.cycles.lock();
        c.failed.clone().map(|message| CollectError { message })
    }
}

/// A garbage-collected heap. Cheap to clone (a handle); the heap lives until
/// the last handle and the last mutator are gone.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0);
/// let root = m.push_root(Some(a));
/// m.collect();
/// assert_eq!(m.root(root), Some(a), "a rooted object survives");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

impl Clone for Heap {
    fn clone(&self) -> Self {
        self.inner.add_user();
        Heap {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        self.inner.remove_user();
    }
}

impl Drop for HeapInner {
    /// The last reference is gone: drop the Rust values the heap still owns
    /// (specials §6) before its memory goes.
    fn drop(&mut self) {
        crate::specials::records::drop_remaining(&self.specials, &self.page);
    }
}
