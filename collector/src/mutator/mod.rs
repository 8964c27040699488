//! Mutators: threads attached to a heap.
//!
//! A [`Mutator`] is a thread's right to touch the heap: its allocation cache,
//! its roots (a shadow stack of slots, and an optional root-scanner callback
//! through which a VM reports its own interpreter stack and registers), and
//! its safepoint flag. It is not `Send`: it belongs to the thread that
//! attached.
//!
//! # Running and native
//!
//! A mutator is either *running* — it may touch the heap and must poll a
//! safepoint now and then ([`Mutator::safepoint`]; every allocation polls too)
//! — or *in native code* ([`Mutator::enter_native`], [`Mutator::native`]) — it
//! promised not to touch the heap, and the collector may act on its behalf.
//!
//! Mechanically, each mutator's state (cache, roots, scanner) sits behind a
//! lock of its own, which the mutator holds while running. Parking at a
//! safepoint or entering native code releases it; the collector stops the
//! world by taking every mutator's lock, and acts for a native mutator by
//! taking its lock. So "the collector may touch a mutator's roots" and "the
//! mutator is not running" are the same fact, enforced by the lock, and the
//! roots need no other synchronisation. The protocol is in `mutator::safepoint`.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the public [`Mutator`]: attaching and detaching, safepoints, native state, collecting |
//! | `alloc.rs` | allocation, and the report to the pacer (assists, waiting at the hard limit); heap profile samples |
//! | `fields.rs` | loads and stores of fields, through the barrier |
//! | `header.rs` | the type index of an object, from its header |
//! | `layout.rs` | an object's layout read back; byte arrays as slices |
//! | `roots.rs` | the shadow stack, frames and the root scanner |
//! | `state.rs` | what the collector sees of a mutator, and who may touch it when |
//! | `safepoint.rs` | stopping the world and handshakes |
//! | `barrier.rs` | the write barrier's slow path, collector side |
//! | `assist.rs` | mark assists: allocation paid for with marking work |

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};
use tricolor_allocator::{AllocError, Cache};
use tricolor_barriers::Barrier;

use crate::descriptor::TypeId;
use crate::heap::inner::{CollectError, Heap, HeapInner};
use crate::profile::sample::Sampler;
use crate::stats::HeapAlloc;

use state::{
    attached_here, note_attached, note_detached, MutatorData, MutatorShared, HS_IDLE, POLL_STRESS,
};

mod alloc;
mod armed;
pub mod assist;
pub mod barrier;
mod fields;
mod header;
mod layout;
mod roots;
pub mod safepoint;
pub mod state;

/// Bytes a mutator allocates between reports to the pacer.
const ALLOC_REPORT_BYTES: u64 = 64 << 10;

/// Why a thread could not attach.
///
/// ```
/// use tricolor_collector::{AttachError, Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// let _m = heap.attach()?;
/// match heap.attach() {
///     Err(AttachError::AlreadyAttached) => {} // use the mutator this thread has
///     Ok(_) => unreachable!("one mutator per thread and heap"),
/// }
/// # Ok::<(), AttachError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// The thread already has a mutator of this heap.
    AlreadyAttached,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::AlreadyAttached => {
                write!(f, "this thread is already attached to this heap")
            }
        }
    }
}

impl std::error::Error for AttachError {}

/// Why an allocation failed.
///
/// ```
/// use tricolor_collector::{Config, GcAllocError, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config { max_object_size: 1 << 20, ..Config::default() });
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let buf = heap.register_type(TypeDescriptor::bytes("Buffer"))?;
/// let mut m = heap.attach()?;
/// let e = m.try_alloc(node, 3).unwrap_err();
/// assert!(matches!(e, GcAllocError::BadLength { len: 3, .. }));
/// // Over the configured object size limit: the VM raises its own
/// // out-of-memory error instead of aborting.
/// let e = m.try_alloc(buf, 2 << 20).unwrap_err();
/// assert!(matches!(e, GcAllocError::Alloc(_)), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum GcAllocError {
    /// The type id was registered with a different heap (ids are per heap).
    ForeignType(TypeId),
    /// The length does not suit the type (a fixed type allocated with a
    /// length, or an array so long its size overflows).
    BadLength {
        /// The type's name.
        type_name: String,
        /// The length asked for.
        len: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The allocator refused (size limit, heap limit, out of memory).
    Alloc(AllocError),
    /// The allocation waited for a collection (the heap far over its goal),
    /// and the collection failed ([`CollectError`]).
    CollectionFailed(CollectError),
}

impl fmt::Display for GcAllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcAllocError::ForeignType(t) => write!(
                f,
                "type id {} was registered with another heap; type ids are per heap",
                t.index
            ),
            GcAllocError::BadLength {
                type_name,
                len,
                reason,
            } => write!(
                f,
                "cannot allocate `{type_name}` with length {len}: {reason}"
            ),
            GcAllocError::Alloc(e) => write!(f, "{e}"),
            GcAllocError::CollectionFailed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GcAllocError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GcAllocError::Alloc(e) => Some(e),
            GcAllocError::CollectionFailed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CollectError> for GcAllocError {
    fn from(e: CollectError) -> Self {
        GcAllocError::CollectionFailed(e)
    }
}

impl From<AllocError> for GcAllocError {
    fn from(e: AllocError) -> Self {
        GcAllocError::Alloc(e)
    }
}

/// A thread attached to a heap. Not `Send`: it belongs to the thread that
/// attached. Dropping it detaches (also when the thread unwinds from a panic).
///
/// A VM thread attaches once, keeps its mutator for as long as it runs VM
/// code, and passes `&mut Mutator` to everything that allocates or touches
/// objects:
///
/// ```
/// use tricolor_collector::{Config, GcAllocError, Heap, Mutator, ObjRef, TypeId};
/// # use tricolor_collector::TypeDescriptor;
///
/// /// Builds the list `len, len - 1, ..., 1` of cons cells (car: an integer
/// /// word, cdr: a pointer).
/// fn build_list(m: &mut Mutator, cons: TypeId, len: u64) -> Result<Option<ObjRef>, GcAllocError> {
///     let list = m.push_root(None);
///     for i in 1..=len {
///         let cell = m.alloc(cons, 0);
///         // SAFETY: `cell` was just allocated (no safepoint since) and the
///         // tail is rooted in slot `list`; word 0 is data, word 1 a pointer.
///         unsafe {
///             m.store_word(cell, 0, i);
///             m.store(cell, 1, m.root(list));
///         }
///         m.set_root(list, Some(cell));
///     }
///     let head = m.root(list);
///     m.truncate_roots(list); // the caller roots the result before allocating
///     Ok(head)
/// }
///
/// let heap = Heap::new(Config::default());
/// # let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[1]))?;
/// let mut m = heap.attach()?;
/// let list = build_list(&mut m, cons, 100)?;
/// let root = m.push_root(list);
/// m.collect();
/// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 100);
/// # let _ = root;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It cannot move to another thread (the collector finds a thread's roots
/// through the mutator that thread attached):
///
/// ```compile_fail,E0277
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// let m = heap.attach().unwrap();
/// std::thread::spawn(move || drop(m)); // error: `Mutator` is not `Send`
/// ```
///
/// Nor can other threads borrow it (it is not `Sync` either):
///
/// ```compile_fail,E0277
/// use tricolor_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default());
/// let m = heap.attach().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| m.root_count()); // error: `Mutator` is not `Sync`
/// });
/// ```
pub struct Mutator {
    heap: Arc<HeapInner>,
    shared: Arc<MutatorShared>,
    /// Held while running; `None` while in native code.
    data: Option<ArcMutexGuard<RawMutex, MutatorData>>,
    /// Bytes (slot sizes) allocated since the last report to the pacer.
    allocated_unreported: u64,
    /// The fast path allocates while `allocated_unreported` stays at or
    /// under this: the nearer of the next report (`ALLOC_REPORT_BYTES`) and
    /// the next heap profile sample point (profile §1).
    report_at: u64,
    /// The next sample point, on the same scale as `allocated_unreported`
    /// (`u64::MAX` when sampling is off).
    sample_at: u64,
    /// The heap profile's random distances and the rate they were drawn at.
    sampler: Sampler,
    stress_countdown: u32,
    /// Inside a gc-stress collection (its own polls must not count).
    stressing: bool,
    /// Whether this mutator keeps the heap's threads alive (every mutator
    /// but the heap's own finalizer thread).
    counts_as_user: bool,
    /// True while running, false in native state: this thread's record of
    /// its mutators (`state::running_here`) reads it, so that a thread may
    /// call `Heap::collect` from native state. Written only here.
    running: Rc<Cell<bool>>,
    /// The span of the last generational barrier test (`armed` module).
    span_memo: armed::SpanMemo,
    _not_send: PhantomData<*mut ()>,
}

impl Mutator {
    pub(crate) fn attach(heap: Arc<HeapInner>) -> Result<Mutator, AttachError> {
        Mutator::attach_as(heap, true)
    }

    /// Attaches the calling thread; `counts_as_user: false` is for the
    /// heap's own threads (the finalizer thread), which must not keep the
    /// heap alive.
    pub(crate) fn attach_as(
        heap: Arc<HeapInner>,
        counts_as_user: bool,
    ) -> Result<Mutator, AttachError> {
        let id = heap.id();
        if attached_here(id) {
            return Err(AttachError::AlreadyAttached);
        }
        let data = Arc::new(Mutex::new(MutatorData {
            cache: Cache::new(heap.page.clone()),
            roots: Vec::new(),
            scanner: None,
            barrier: Barrier::new(heap.mode),
            stack_scanned: true,
            assist_debt: 0,
            log: Vec::new(),
            header_bits: 0,
        }));
        let mut guard = data.lock_arc();
        let shared;
        {
            // No attaching while the world is stopped. The phase changes
            // only with the world stopped, so it is stable here: a mutator
            // that joins a running mark allocates black from the start.
            let _world = heap.world.lock();
            guard.set_allocate_black(heap.phase.marking(), heap.generations.tenures_first());
            let mut reg = heap.registry.lock();
            shared = Arc::new(MutatorShared {
                id: heap.next_mutator_id.fetch_add(1, Ordering::Relaxed),
                poll: AtomicU32::new(if heap.config.gc_stress.is_some() {
                    POLL_STRESS
                } else {
                    0
                }),
                data,
                detached: AtomicBool::new(false),
                handshake: AtomicU8::new(HS_IDLE),
                handshake_fn: Mutex::new(None),
            });
            reg.push(shared.clone());
        }
        if counts_as_user {
            heap.add_user();
        }
        let running = note_attached(id);
        let stress = heap.config.gc_stress.map_or(0, |n| n.get());
        let sampler = Sampler::new(shared.id);
        let mut m = Mutator {
            heap,
            shared,
            data: Some(guard),
            allocated_unreported: 0,
            report_at: ALLOC_REPORT_BYTES,
            sample_at: u64::MAX,
            sampler,
            stress_countdown: stress,
            stressing: false,
            counts_as_user,
            running,
            span_memo: armed::SpanMemo::default(),
            _not_send: PhantomData,
        };
        m.sync_profile_rate();
        Ok(m)
    }

    /// This mutator's id (named in diagnostics).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, RootKind};
    ///
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// let slot = m.push_root(None);
    /// // How a checkmark or verifier message names this root:
    /// println!("{}", RootKind::ShadowStack(m.id(), slot));
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The heap's shared state.
    pub(crate) fn inner(&self) -> &Arc<HeapInner> {
        &self.heap
    }

    /// Panics unless the mutator is running (not in native state).
    #[track_caller]
    pub(crate) fn assert_running(&self) {
        if self.data.is_none() {
            native_misuse();
        }
    }

    #[inline]
    fn data_ref(&self) -> &MutatorData {
        match &self.data {
            Some(g) => g,
            None => native_misuse(),
        }
    }

    #[inline]
    fn data(&mut self) -> &mut MutatorData {
        match &mut self.data {
            Some(g) => g,
            None => native_misuse(),
        }
    }

    // ---- safepoints ---------------------------------------------------------

    /// Polls for a collector request: one load and a branch when there is none.
    /// A running mutator must call this regularly (loops, calls), so that the
    /// world can stop; allocation polls on its own.
    ///
    /// Like an allocation, a safepoint may run a collection: an object used
    /// after it must be rooted before it.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// let h = heap.clone();
    /// let gc = std::thread::spawn(move || h.collect());
    /// // An interpreter loop that does not allocate: poll on every back-edge,
    /// // or the collection above would wait forever.
    /// let mut acc = 0u64;
    /// while !gc.is_finished() {
    ///     acc = acc.wrapping_add(1);
    ///     m.safepoint();
    /// }
    /// gc.join().unwrap();
    /// # let _ = acc;
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    #[inline]
    pub fn safepoint(&mut self) {
        if self.shared.poll.load(Ordering::Acquire) != 0 {
            self.safepoint_slow();
        }
    }

    #[cold]
    fn safepoint_slow(&mut self) {
        let guard = match &mut self.data {
            Some(g) => g,
            None => native_misuse(),
        };
        safepoint::at_safepoint(&self.heap, &self.shared, guard);
        if self.shared.poll.load(Ordering::Relaxed) & POLL_STRESS != 0 && !self.stressing {
            // gc-stress: collect at every Nth poll (allocations poll too). The
            // polls inside that collection do not count.
            self.stress_countdown -= 1;
            if self.stress_countdown == 0 {
                self.stress_countdown = self.heap.config.gc_stress.map_or(1, |n| n.get());
                self.stressing = true;
                self.stress_collect();
                self.stressing = false;
            }
        }
    }

    /// Enters native code: the mutator promises not to touch the heap until
    /// [`leave_native`](Self::leave_native), and the collector may act for it
    /// meanwhile (scan its roots, flush its cache). Use around blocking calls.
    ///
    /// Prefer [`native`](Self::native), which leaves native state on every
    /// path. Touching the heap while in native state panics.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// let (tx, rx) = std::sync::mpsc::channel::<String>();
    /// # let h = heap.clone();
    /// # std::thread::spawn(move || { h.collect(); tx.send("hello".into()).unwrap() });
    /// m.enter_native();
    /// // Blocks, and another thread collects meanwhile: it need not wait.
    /// let line = rx.recv().unwrap();
    /// m.leave_native();
    /// assert_eq!(line, "hello");
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is already in native state.
    pub fn enter_native(&mut self) {
        assert!(
            self.data.is_some(),
            "enter_native: the mutator is already in native code"
        );
        self.data = None;
        self.running.set(false);
    }

    /// Leaves native code; waits if the world is stopped.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// m.enter_native();
    /// std::thread::sleep(std::time::Duration::from_millis(1)); // a blocking call
    /// m.leave_native();
    /// assert!(!m.is_native());
    /// m.push_root(None); // running again: the heap may be touched
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is not in native state.
    pub fn leave_native(&mut self) {
        assert!(
            self.data.is_none(),
            "leave_native: the mutator is not in native code"
        );
        self.data = Some(self.shared.data.lock_arc());
        self.running.set(true);
        self.safepoint();
    }

    /// Runs `f` in native state (no heap access inside; the mutator is
    /// borrowed, so the borrow checker enforces it).
    ///
    /// Leaves native state when `f` returns or unwinds. Objects used after
    /// the call must be rooted: the collector may run while `f` does.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// let h = heap.clone();
    /// let gc = std::thread::spawn(move || h.collect());
    /// // Waiting for another thread is a blocking call: do it in native state.
    /// m.native(|| gc.join().unwrap());
    /// let contents = m.native(|| std::fs::read_to_string("/nonexistent"));
    /// assert!(contents.is_err());
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    ///
    /// The mutator cannot be used inside:
    ///
    /// ```compile_fail,E0499
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach().unwrap();
    /// m.native(|| m.push_root(None)); // error: `m` is already borrowed
    /// ```
    pub fn native<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.enter_native();
        let guard = LeaveNative(self);
        let r = f();
        drop(guard);
        r
    }

    /// Whether the mutator is in native state.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// assert!(!m.is_native());
    /// m.enter_native();
    /// assert!(m.is_native());
    /// m.leave_native();
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    pub fn is_native(&self) -> bool {
        self.data.is_none()
    }

    /// Runs a full collection and returns when it has finished, sweep
    /// included (as Go's `runtime.GC`): on return every object the cycle
    /// found unreachable is freed, so heap figures read afterwards
    /// ([`Heap::heap_alloc`]) show no garbage from before the call.
    /// Finalizers of the objects found unreachable are queued, not run
    /// ([`wait_for_finalizers`](Self::wait_for_finalizers) waits for them).
    /// The mutator waits in native state, so the world can stop around it.
    ///
    /// Objects used after the call must be rooted (as for a safepoint).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let kept = m.alloc(node, 0);
    /// let slot = m.push_root(Some(kept));
    /// for _ in 0..10 {
    ///     m.alloc(node, 0); // garbage
    /// }
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// assert_eq!(m.root(slot), Some(kept), "non-moving: the address is unchanged");
    /// assert_eq!(m.heap_alloc().objects, 1, "the garbage is swept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is in native state, or a collection failed (see
    /// [`try_collect`](Self::try_collect), which returns that as an error).
    #[track_caller]
    pub fn collect(&mut self) {
        if let Err(e) = self.try_collect() {
            panic!("tricolor: {e}");
        }
    }

    /// [`collect`](Self::collect), for a VM that recovers from a failed
    /// collection: a checkmark or verifier failure, a bad pointer a marker
    /// found, a root scanner that panicked. After a failure the heap runs
    /// no more cycles, and every later collection returns the same error.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// // A VM's stack scanner with a bug: the collection fails, and says why.
    /// m.set_root_scanner(Some(Box::new(|_| panic!("interpreter stack corrupt"))));
    /// let err = m.try_collect().unwrap_err();
    /// assert!(err.message().contains("interpreter stack corrupt"), "{err}");
    /// assert_eq!(heap.failure(), Some(err));
    /// # m.set_root_scanner(None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CollectError`] with the failed cycle's message.
    ///
    /// # Panics
    /// If the mutator is in native state.
    #[track_caller]
    pub fn try_collect(&mut self) -> Result<(), CollectError> {
        assert!(
            self.data.is_some(),
            "tricolor: Mutator::collect called in native state; call leave_native first"
        );
        crate::events::assert_not_in_callback("Mutator::collect");
        self.report_allocation()?;
        let n = self.heap.request_cycle();
        self.enter_native();
        let done = self.heap.wait_for_cycle(n);
        if done.is_ok() {
            // Sweep what the cycle left, in native state: the world may
            // stop meanwhile; then tell the embedder (`events`).
            self.heap.page.finish_sweep();
            crate::sweep::report_sweep_done(&self.heap);
        }
        self.leave_native();
        done
    }

    /// [`Heap::heap_alloc`] for a running mutator: bytes and objects
    /// allocated and not yet freed, exact when read. The handshake it
    /// needs runs with this mutator in native state (so it flushes this
    /// mutator's cache too).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let before = m.heap_alloc();
    /// m.alloc(node, 0);
    /// assert_eq!(m.heap_alloc().objects, before.objects + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is in native state.
    pub fn heap_alloc(&mut self) -> HeapAlloc {
        self.assert_running();
        let heap = self.heap();
        self.native(|| heap.heap_alloc())
    }

    /// A full collection that returns at the end of mark termination,
    /// without finishing the sweep: objects the cycle found unreachable are
    /// freed afterwards, by the background sweeper and by allocating
    /// mutators (lazily, as their caches refill). For a VM that wants the
    /// cycle, not the figures: it returns sooner than
    /// [`collect`](Self::collect) on a heap with much garbage. Between its
    /// return and the sweep, a weak reference still reads the mark bits
    /// (`WeakRef::get` gives nothing for an unmarked object).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config { background_sweeper: false, ..Config::default() });
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// for _ in 0..100 {
    ///     m.alloc(node, 0); // garbage
    /// }
    /// m.collect_without_sweeping();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
    /// assert_eq!(m.heap_alloc().objects, 100, "found dead, not freed yet");
    /// m.collect();
    /// assert_eq!(m.heap_alloc().objects, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// As [`collect`](Self::collect).
    #[track_caller]
    pub fn collect_without_sweeping(&mut self) {
        crate::events::assert_not_in_callback("Mutator::collect_without_sweeping");
        assert!(
            self.data.is_some(),
            "tricolor: Mutator::collect called in native state; call leave_native first"
        );
        let n = self.heap.request_cycle();
        self.enter_native();
        let done = self.heap.wait_for_cycle(n);
        self.leave_native();
        if let Err(e) = done {
            panic!("tricolor: {e}");
        }
    }

    /// A gc-stress collection: as [`collect_without_sweeping`](Self::collect_without_sweeping),
    /// but a paced cycle rather than a forced one, so that in a
    /// generational heap the policy picks its kind (generation §2) and
    /// gc-stress runs minor cycles too.
    fn stress_collect(&mut self) {
        let n = self.heap.request_cycle_as(false);
        self.enter_native();
        let done = self.heap.wait_for_cycle(n);
        self.leave_native();
        if let Err(e) = done {
            panic!("tricolor: {e}");
        }
    }

    /// The heap this mutator belongs to.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, Mutator};
    ///
    /// fn report(m: &Mutator) -> u64 {
    ///     m.heap().stats().cycles
    /// }
    /// let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// m.collect();
    /// assert!(report(&m) >= 1);
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    pub fn heap(&self) -> Heap {
        self.heap.add_user();
        Heap {
            inner: self.heap.clone(),
        }
    }
}

#[cold]
#[track_caller]
fn native_misuse() -> ! {
    panic!("tricolor: a mutator in native code touched the heap; call leave_native first")
}

/// Leaves native state when dropped (so `native` leaves it even on unwind).
struct LeaveNative<'a>(&'a mut Mutator);

impl Drop for LeaveNative<'_> {
    fn drop(&mut self) {
        self.0.leave_native();
    }
}

impl Drop for Mutator {
    fn drop(&mut self) {
        if self.data.is_none() {
            // Native (or unwinding out of `native`): take our state back,
            // waiting out a stopped world.
            self.data = Some(self.shared.data.lock_arc());
        }
        self.report_allocation_on_detach();
        let mut guard = self.data.take().expect("data held");
        // Records of this mutator's last stores must reach the mark.
        barrier::flush(&self.heap, &mut guard, self.shared.id);
        // Objects its stores logged stay remembered (generation §3); the
        // world cannot stop while this mutator holds its state, so STW #1
        // takes the log either from the mutator or from here.
        self.heap.generations.orphan(&mut guard.log);
        guard.cache.release_all();
        guard.roots.clear();
        guard.scanner = None;
        self.shared.detached.store(true, Ordering::Release);
        self.heap
            .registry
            .lock()
            .retain(|m| !Arc::ptr_eq(m, &self.shared));
        drop(guard);
        note_detached(self.heap.id());
        if self.counts_as_user {
            self.heap.remove_user();
        }
    }
}

impl Mutator {
    fn report_allocation_on_detach(&mut self) {
        let n = std::mem::take(&mut self.allocated_unreported);
        self.heap
            .allocated_since_mark
            .fetch_add(n, Ordering::Relaxed);
    }
}
