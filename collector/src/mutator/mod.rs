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
//! | `mod.rs` | the public [`Mutator`]: attaching, safepoints, native state, allocation, fields, roots |
//! | `state.rs` | what the collector sees of a mutator, and who may touch it when |
//! | `safepoint.rs` | stopping the world and handshakes |
//! | `barrier.rs` | the write barrier's slow path, collector side |
//! | `assist.rs` | mark assists: allocation paid for with marking work |

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};
use tricolor_allocator::{AllocError, Cache, ObjectKind};
use tricolor_barriers::Barrier;

use crate::descriptor::{Pointers, TypeId};
use crate::heap::inner::{Heap, HeapInner};
use crate::object::{self, ObjRef};
use crate::policy::Decision;

use assist::Owed;
use state::{
    attached_here, note_attached, note_detached, MutatorData, MutatorShared, RootScanner, HS_IDLE,
    POLL_STRESS,
};

pub mod assist;
pub mod barrier;
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
/// let e = m.alloc(node, 3).unwrap_err();
/// assert!(matches!(e, GcAllocError::BadLength { len: 3, .. }));
/// // Over the configured object size limit: the VM raises its own
/// // out-of-memory error instead of aborting.
/// let e = m.alloc(buf, 2 << 20).unwrap_err();
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
        }
    }
}

impl std::error::Error for GcAllocError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GcAllocError::Alloc(e) => Some(e),
            _ => None,
        }
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
///         let cell = m.alloc(cons, 0)?;
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
    allocated_unreported: u64,
    stress_countdown: u32,
    /// Inside a gc-stress collection (its own polls must not count).
    stressing: bool,
    /// Whether this mutator keeps the heap's threads alive (every mutator
    /// but the heap's own finalizer thread).
    counts_as_user: bool,
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
        }));
        let mut guard = data.lock_arc();
        let shared;
        {
            // No attaching while the world is stopped. The phase changes
            // only with the world stopped, so it is stable here: a mutator
            // that joins a running mark allocates black from the start.
            let _world = heap.world.lock();
            guard.cache.set_allocate_black(heap.phase.marking());
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
        note_attached(id);
        let stress = heap.config.gc_stress.map_or(0, |n| n.get());
        Ok(Mutator {
            heap,
            shared,
            data: Some(guard),
            allocated_unreported: 0,
            stress_countdown: stress,
            stressing: false,
            counts_as_user,
            _not_send: PhantomData,
        })
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
                self.collect();
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

    /// Runs a full collection and returns when it has finished. The mutator
    /// waits in native state, so the world can stop around it.
    ///
    /// Objects used after the call must be rooted (as for a safepoint).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let kept = m.alloc(node, 0)?;
    /// let slot = m.push_root(Some(kept));
    /// for _ in 0..10 {
    ///     m.alloc(node, 0)?; // garbage
    /// }
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// assert_eq!(m.root(slot), Some(kept), "non-moving: the address is unchanged");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is in native state, or a collection failed (a
    /// checkmark or verifier failure).
    pub fn collect(&mut self) {
        assert!(
            self.data.is_some(),
            "tricolor: Mutator::collect called in native state; call leave_native first"
        );
        self.report_allocation();
        let n = self.heap.request_cycle();
        self.enter_native();
        self.heap.wait_for_cycle(n);
        self.leave_native();
    }

    // ---- allocation ----------------------------------------------------------

    /// Allocates an object of type `ty` with length `len` (0 for fixed types;
    /// elements for arrays; bytes for byte arrays). The object is zeroed
    /// except for its header: every pointer field is null.
    ///
    /// The new object is reachable only through the returned `ObjRef` until it
    /// is stored in a root or another object; the next safepoint (including
    /// the next allocation) may free it if it is not.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let pair = heap.register_type(TypeDescriptor::fixed("Pair", 2, &[0, 1]))?;
    /// let vector = heap.register_type(TypeDescriptor::array("Vector", 1, &[0]))?;
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    ///
    /// let s = m.alloc(string, 5)?; // 5 bytes (one payload word), zeroed
    /// let s_slot = m.push_root(Some(s)); // rooted before the next allocation
    /// let v = m.alloc(vector, 3)?; // 3 elements, all null
    /// // SAFETY: `v` was just allocated (no safepoint since), `s` is rooted,
    /// // and element 0 is a pointer field of `Vector`.
    /// unsafe { m.store(v, 0, m.root(s_slot)) };
    /// m.set_root(s_slot, Some(v)); // `s` stays reachable through `v`
    /// let p = m.alloc(pair, 0)?; // fixed-size types take length 0
    /// # let _ = p;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`GcAllocError::ForeignType`] if `ty` came from another heap,
    /// [`GcAllocError::BadLength`] if `len` does not suit the type, and
    /// [`GcAllocError::Alloc`] if the allocator refuses (the object size
    /// limit, the heap limit, or the system is out of memory).
    #[inline]
    pub fn alloc(&mut self, ty: TypeId, len: usize) -> Result<ObjRef, GcAllocError> {
        match self.try_alloc_fast(ty, len) {
            Some(obj) => Ok(obj),
            None => self.alloc_general(ty, len),
        }
    }

    /// The inlined part of [`alloc`](Self::alloc): a small fixed-size
    /// object of this heap from the cache's current window, when no
    /// safepoint request and no allocation report is due. `None` sends the
    /// caller to [`alloc_general`](Self::alloc_general), which handles every
    /// case (including these, and errors) in full.
    #[inline(always)]
    fn try_alloc_fast(&mut self, ty: TypeId, len: usize) -> Option<ObjRef> {
        if self.shared.poll.load(Ordering::Acquire) != 0
            || self.allocated_unreported >= ALLOC_REPORT_BYTES
            || len != 0
        {
            return None;
        }
        let spc = ty.small?;
        if !self.heap.types.owns(ty) {
            return None;
        }
        // In native state (no data) the general path reports the misuse.
        let ptr = self.data.as_mut()?.cache.try_alloc_class(spc)?;
        Some(self.finish_alloc(ptr, ty, 0, spc.size_class().size()))
    }

    /// Everything [`alloc`](Self::alloc) does: the safepoint poll, the
    /// allocation report (assists, pacing), every shape and size, errors.
    #[inline(never)]
    fn alloc_general(&mut self, ty: TypeId, len: usize) -> Result<ObjRef, GcAllocError> {
        self.safepoint();
        // Report earlier allocation (which may assist, or wait for a cycle
        // at the hard limit) before carving out the new object: after it,
        // the object is unrooted until the caller stores it.
        if self.allocated_unreported >= ALLOC_REPORT_BYTES {
            self.report_allocation();
        }
        let heap = &*self.heap;
        if let (Some(spc), 0, true) = (ty.small, len, heap.types.owns(ty)) {
            // The common case: a small fixed-size object of this heap, its
            // span class carried in the id (no descriptor read). The slot's
            // size is the class's size, as `small_fixed` records it.
            let ptr = self.data().cache.alloc_class(spc)?;
            return Ok(self.finish_alloc(ptr, ty, 0, spc.size_class().size()));
        }
        // An id of this heap always resolves: ids come only from
        // `register_type`, and registered slots are never cleared.
        let desc = heap.types.get(ty).ok_or(GcAllocError::ForeignType(ty))?;
        let words = desc
            .payload_words(len)
            .ok_or_else(|| GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: if desc.payload_words(0).is_some() && len != 0 {
                    "fixed-size types are allocated with length 0"
                } else {
                    "the size overflows"
                },
            })?;
        if len > u32::MAX as usize {
            return Err(GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: "lengths are limited to 2^32 - 1",
            });
        }
        let bytes = words
            .checked_add(1)
            .and_then(|w| w.checked_mul(8))
            .ok_or_else(|| GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: "the size overflows",
            })?;
        let kind = if desc.has_pointers() {
            ObjectKind::Scan
        } else {
            ObjectKind::NoScan
        };
        let ptr = self.data().cache.alloc(bytes, kind)?;
        Ok(self.finish_alloc(ptr, ty, len, tricolor_allocator::slot_size(bytes)))
    }

    /// Writes the header of a fresh slot and accounts for its `slot` bytes
    /// (the slot's size, as the marker and the sweeper count it, so that the
    /// pacer's heap and the allocator's agree).
    #[inline]
    fn finish_alloc(
        &mut self,
        ptr: std::ptr::NonNull<u8>,
        ty: TypeId,
        len: usize,
        slot: usize,
    ) -> ObjRef {
        let obj = ObjRef::from_addr(ptr.as_ptr() as usize).expect("non-null");
        // SAFETY: the cache just handed us this slot; nobody else has it.
        unsafe { object::init_header(obj, object::header(ty.index, len as u32)) };
        // Reported at the next allocation, before it carves out its object
        // (see `alloc`): nothing between here and the caller may free `obj`.
        self.allocated_unreported += slot as u64;
        obj
    }

    /// Tells the pacer about recent allocation; may start a cycle, or wait
    /// for one if the heap is far over its goal.
    fn report_allocation(&mut self) {
        let n = std::mem::take(&mut self.allocated_unreported);
        if self.heap.phase.marking() {
            // Allocated black during a mark: counted as marked, and paid for
            // with marking work (`assist`).
            self.heap
                .mark_state
                .black_bytes
                .fetch_add(n, Ordering::Relaxed);
            if self.heap.config.mark_assists {
                let data = match &mut self.data {
                    Some(g) => &mut **g,
                    None => native_misuse(),
                };
                if assist::assist(&self.heap, data, n) == Owed::Stuck {
                    self.park_in_assist();
                }
            }
        }
        let since = self
            .heap
            .allocated_since_mark
            .fetch_add(n, Ordering::Relaxed)
            + n;
        if self.heap.config.manual_cycles {
            return;
        }
        let live = self.heap.live_after_mark.load(Ordering::Relaxed) + since;
        let decision = self.heap.pacer.lock().decide(live);
        match decision {
            Decision::Continue => {}
            Decision::StartCycle => self.heap.nudge_cycle(),
            Decision::Block => {
                self.heap.nudge_cycle();
                // Wait for the cycle that is running or was just asked for
                // (it may not have started yet).
                let n = {
                    let c = self.heap.cycles.lock();
                    c.requested.max(c.started)
                };
                self.enter_native();
                self.heap.wait_for_cycle(n);
                self.leave_native();
            }
        }
    }

    /// Parks while this mutator owes assist work it cannot find (`assist`
    /// module docs, "Parking"), in native state so that handshakes and
    /// stop-the-worlds go ahead without it. Called from
    /// `report_allocation`, where a safepoint is allowed.
    #[cold]
    #[inline(never)]
    fn park_in_assist(&mut self) {
        while assist::park_allowed(&self.heap) {
            let t0 = Instant::now();
            self.enter_native();
            let ms = &self.heap.mark_state;
            ms.park_assist(assist::PARK_POLL);
            ms.assist_wait_ns
                .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            self.leave_native();
            // The mark may have ended (and another begun, with the debt
            // reset) while this mutator was parked.
            if !self.heap.phase.marking() {
                return;
            }
            let data = match &mut self.data {
                Some(g) => &mut **g,
                None => native_misuse(),
            };
            if assist::assist(&self.heap, data, 0) != Owed::Stuck {
                return;
            }
        }
    }

    // ---- fields --------------------------------------------------------------

    /// Loads pointer field `field` of `obj`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let tail = m.alloc(cons, 0)?;
    /// let slot = m.push_root(Some(tail));
    /// let head = m.alloc(cons, 0)?;
    /// // SAFETY: `head` is fresh (no safepoint since), `tail` is rooted.
    /// unsafe { m.store(head, 1, m.root(slot)) };
    /// m.set_root(slot, Some(head));
    /// m.collect();
    /// let head = m.root(slot).unwrap();
    /// // SAFETY: `head` is rooted in `slot`; field 1 is a pointer field.
    /// let tail = unsafe { m.load(head, 1) }.unwrap();
    /// // SAFETY: `tail` was loaded from the reachable `head`, with no safepoint since.
    /// assert_eq!(unsafe { m.load(tail, 1) }, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap: allocated by it and reachable
    /// from a root ever since (or since it was loaded from a reachable object).
    ///
    /// # Panics
    /// In debug builds, if `field` is out of range or not a pointer field.
    #[inline]
    pub unsafe fn load(&self, obj: ObjRef, field: usize) -> Option<ObjRef> {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, true);
        }
        // SAFETY: the caller guarantees `obj` is live; the field index was
        // checked against the descriptor in debug builds and is the caller's
        // obligation otherwise.
        ObjRef::from_addr(unsafe { object::load_field(obj, field) } as usize)
    }

    /// Stores `value` into pointer field `field` of `obj`, through the write
    /// barrier.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A binary-tree node: left, right (pointers), key (data).
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 3, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let parent = m.alloc(node, 0)?;
    /// let p = m.push_root(Some(parent));
    /// let child = m.alloc(node, 0)?;
    /// // SAFETY: `parent` is rooted in `p`; `child` was just allocated (no
    /// // safepoint since); field 0 is a pointer field of `Node`.
    /// unsafe { m.store(parent, 0, Some(child)) };
    /// m.collect(); // `child` survives: reachable from `parent`
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// // SAFETY: `parent` is rooted; storing `None` makes `child` garbage.
    /// unsafe { m.store(parent, 0, None) };
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load); `value`, if any, must be live too.
    ///
    /// # Panics
    /// In debug builds, if `field` is out of range or not a pointer field, or
    /// `value` is not the start of an object of this heap.
    #[inline]
    pub unsafe fn store(&mut self, obj: ObjRef, field: usize, value: Option<ObjRef>) {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, true);
            if let Some(v) = value {
                self.check_object(v, "stored value");
            }
        }
        let new = value.map_or(0, ObjRef::addr);
        // SAFETY: as for `load`.
        let old = unsafe { object::swap_field(obj, field, new as u64) };
        // The phase cannot change between the store and this check: it
        // changes only with the world stopped, and there is no safepoint in
        // between (barriers §10).
        if self.heap.phase.marking() {
            self.barrier_slow(old as usize, new);
        }
    }

    /// The write barrier while marking (`barrier` module docs). No safepoint
    /// between the store and this record.
    #[cold]
    #[inline(never)]
    fn barrier_slow(&mut self, old: usize, new: usize) {
        let id = self.shared.id;
        let heap = &*self.heap;
        let data = match &mut self.data {
            Some(g) => &mut **g,
            None => native_misuse(),
        };
        barrier::record_store(heap, data, id, old, new);
    }

    /// Loads non-pointer word `field` of `obj`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A boxed float: one data word.
    /// let float = heap.register_type(TypeDescriptor::fixed("Float", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let f = m.alloc(float, 0)?;
    /// // SAFETY: `f` was just allocated (no safepoint since); word 0 is data.
    /// unsafe { m.store_word(f, 0, 2.5f64.to_bits()) };
    /// let slot = m.push_root(Some(f));
    /// m.collect();
    /// // SAFETY: `f` is rooted in `slot`.
    /// let bits = unsafe { m.load_word(m.root(slot).unwrap(), 0) };
    /// assert_eq!(f64::from_bits(bits), 2.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load).
    #[inline]
    pub unsafe fn load_word(&self, obj: ObjRef, field: usize) -> u64 {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, false);
        }
        // SAFETY: as for `load`.
        unsafe { object::load_field(obj, field) }
    }

    /// Stores non-pointer word `field` of `obj`. For a traced type, stores a
    /// tagged word: the barrier sees the pointers it carries (by the type's
    /// `decode`).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 5)?;
    /// // Byte arrays are written a word at a time (little-endian here).
    /// let word = u64::from_le_bytes(*b"hello\0\0\0");
    /// // SAFETY: `s` was just allocated (no safepoint since); a 5-byte array
    /// // has one payload word.
    /// unsafe { m.store_word(s, 0, word) };
    /// // SAFETY: as above.
    /// assert_eq!(&unsafe { m.load_word(s, 0) }.to_le_bytes()[..5], b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// For a tagged word of a traced type, see [`TypeDescriptor::traced`].
    ///
    /// [`TypeDescriptor::traced`]: crate::TypeDescriptor::traced
    ///
    /// # Safety
    /// As for [`load`](Self::load); for a traced type, a pointer the word
    /// carries must be a live object of this heap.
    #[inline]
    pub unsafe fn store_word(&mut self, obj: ObjRef, field: usize, value: u64) {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, false);
        }
        if !self.heap.phase.marking() {
            // SAFETY: as for `load`.
            unsafe { object::store_field(obj, field, value) };
            return;
        }
        // SAFETY: as for `load`.
        let old = unsafe { object::swap_field(obj, field, value) };
        // SAFETY: `obj` is live (caller's contract).
        let (ty, _) = object::decode_header(unsafe { object::load_header(obj) });
        if let Some(Pointers::Traced { decode, .. }) =
            self.heap.types.by_index(ty).map(|d| &d.pointers)
        {
            let (old, new) = (decode(old).unwrap_or(0), decode(value).unwrap_or(0));
            self.barrier_slow(old, new);
        }
    }

    /// The type of `obj` and the length its header records (array elements,
    /// or bytes for a byte array; 0 for fixed-size types).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 11)?;
    /// // SAFETY: `s` was just allocated, with no safepoint since.
    /// let (ty, len) = unsafe { m.shape_of(s) };
    /// assert_eq!((ty, len), (string, 11));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load).
    pub unsafe fn shape_of(&self, obj: ObjRef) -> (TypeId, usize) {
        // SAFETY: caller's contract.
        let (index, len) = object::decode_header(unsafe { object::load_header(obj) });
        (self.heap.types.id_of(index), len)
    }

    fn check_object(&self, obj: ObjRef, what: &str) {
        let o =
            self.heap.page.find_object(obj.addr()).unwrap_or_else(|| {
                panic!("tricolor: {what} {obj:?} is not an object of this heap")
            });
        assert_eq!(
            o.base(),
            obj.addr(),
            "tricolor: {what} {obj:?} points inside the object at {:#x}, not at its start",
            o.base()
        );
    }

    fn check_field(&self, obj: ObjRef, field: usize, pointer: bool) {
        self.check_object(obj, "object");
        // SAFETY: check_object confirmed `obj` starts a slot of this heap.
        let (ty, len) = object::decode_header(unsafe { object::load_header(obj) });
        let desc = self
            .heap
            .types
            .by_index(ty)
            .unwrap_or_else(|| panic!("tricolor: {obj:?} has an invalid header (type {ty})"));
        let words = desc.payload_words(len).unwrap_or(0);
        assert!(
            field < words,
            "tricolor: field {field} of a `{}` with {words} payload words",
            desc.name
        );
        if let Pointers::Bitmap(_) = desc.pointers {
            assert_eq!(
                desc.is_pointer_word(field),
                pointer,
                "tricolor: field {field} of `{}` is {} field; use {}",
                desc.name,
                if pointer {
                    "not a pointer"
                } else {
                    "a pointer"
                },
                if pointer {
                    "load_word/store_word"
                } else {
                    "load/store"
                }
            );
        } else if pointer {
            panic!(
                "tricolor: `{}` has no pointer bitmap; use load_word/store_word",
                desc.name
            );
        }
    }

    // ---- roots ------------------------------------------------------------------

    /// Pushes a root slot holding `value` onto the shadow stack; returns the
    /// slot's index.
    ///
    /// The shadow stack is how Rust code (a VM's runtime functions) keeps
    /// objects alive across allocations and safepoints.
    ///
    /// Root slots are stack, not heap: writing them (`push_root`,
    /// [`set_root`](Self::set_root), [`truncate_roots`](Self::truncate_roots))
    /// costs no barrier in any mode. SATB and hybrid marks scan a stack once
    /// and keep it black, because every pointer a black stack can newly hold
    /// is either allocated black or was protected by the deletion barrier when
    /// it left the heap (barriers §5–§7); incremental update rescans every
    /// stack at mark termination instead.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0)?;
    /// let a_slot = m.push_root(Some(a)); // root `a` before allocating again
    /// let b = m.alloc(node, 0)?;
    /// // SAFETY: `a` is rooted; `b` is fresh (no safepoint since).
    /// unsafe { m.store(a, 0, Some(b)) };
    /// m.collect();
    /// assert_eq!(m.root(a_slot), Some(a));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn push_root(&mut self, value: Option<ObjRef>) -> usize {
        let roots = &mut self.data().roots;
        roots.push(value.map_or(0, ObjRef::addr));
        roots.len() - 1
    }

    /// The object in root slot `index`.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let slot = m.push_root(None);
    /// assert_eq!(m.root(slot), None);
    /// let obj = m.alloc(node, 0)?;
    /// m.set_root(slot, Some(obj));
    /// m.safepoint();
    /// // Re-read roots after a safepoint instead of keeping `ObjRef`s in locals.
    /// let obj = m.root(slot).expect("rooted");
    /// # let _ = obj;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If there is no slot `index`.
    #[inline]
    pub fn root(&self, index: usize) -> Option<ObjRef> {
        ObjRef::from_addr(self.data_ref().roots[index])
    }

    /// Makes root slot `index` hold `value`. No barrier: see
    /// [`push_root`](Self::push_root).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let acc = m.push_root(None);
    /// for _ in 0..3 {
    ///     let fresh = m.alloc(node, 0)?;
    ///     // SAFETY: `fresh` is new (no safepoint since); the accumulator is rooted.
    ///     unsafe { m.store(fresh, 0, m.root(acc)) };
    ///     m.set_root(acc, Some(fresh));
    /// }
    /// m.set_root(acc, None); // drop the whole chain
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If there is no slot `index`.
    #[inline]
    pub fn set_root(&mut self, index: usize, value: Option<ObjRef>) {
        self.data().roots[index] = value.map_or(0, ObjRef::addr);
    }

    /// Number of root slots.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// assert_eq!(m.root_count(), 0);
    /// m.push_root(None);
    /// assert_eq!(m.root_count(), 1);
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    #[inline]
    pub fn root_count(&self) -> usize {
        self.data_ref().roots.len()
    }

    /// Pops root slots down to `len` (the end of a frame).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let frame = m.root_count(); // a call begins
    /// for _ in 0..4 {
    ///     let local = m.alloc(node, 0)?;
    ///     m.push_root(Some(local));
    /// }
    /// m.truncate_roots(frame); // the call returns: its locals are garbage
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn truncate_roots(&mut self, len: usize) {
        self.data().roots.truncate(len);
    }

    /// Runs `f` in a root frame: slots it pushes are popped when it returns
    /// (or unwinds).
    ///
    /// ```
    /// use tricolor_collector::{Config, GcAllocError, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let result = m.push_root(None);
    /// m.frame(|m| {
    ///     let tmp = m.alloc(node, 0)?;
    ///     let t = m.push_root(Some(tmp)); // popped when the frame ends
    ///     let out = m.alloc(node, 0)?;
    ///     // SAFETY: `tmp` is rooted in `t`; `out` is fresh (no safepoint since).
    ///     unsafe { m.store(out, 0, m.root(t)) };
    ///     m.set_root(result, Some(out)); // an outer slot: survives the frame
    ///     Ok::<_, GcAllocError>(())
    /// })?;
    /// assert_eq!(m.root_count(), 1);
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Inside the frame, the mutator is reached only through the closure's
    /// argument:
    ///
    /// ```compile_fail,E0499
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach().unwrap();
    /// m.frame(|_inner| m.push_root(None)); // error: `m` is already borrowed
    /// ```
    ///
    /// and that argument cannot escape the frame:
    ///
    /// ```compile_fail
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach().unwrap();
    /// let escaped = m.frame(|inner| inner); // error: lifetime may not live long enough
    /// # let _ = escaped;
    /// ```
    pub fn frame<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let mark = self.root_count();
        struct Pop<'a>(&'a mut Mutator, usize);
        impl Drop for Pop<'_> {
            #[inline]
            fn drop(&mut self) {
                match &mut self.0.data {
                    Some(g) => g.roots.truncate(self.1),
                    None => pop_native(self.0, self.1),
                }
            }
        }
        /// Left in native state: takes the state lock just long enough to
        /// pop the frame (waiting out a stopped world).
        #[cold]
        #[inline(never)]
        fn pop_native(m: &Mutator, len: usize) {
            m.shared.data.lock_arc().roots.truncate(len);
        }
        let pop = Pop(self, mark);
        f(pop.0)
    }

    /// Installs the callback through which the VM reports this mutator's own
    /// roots (its interpreter stack, registers). It runs on the collector's
    /// thread while this mutator is stopped or in native code.
    ///
    /// Objects the scanner reports are roots exactly like shadow-stack
    /// slots. The scanner must not block on this mutator: keep the shared
    /// stack's lock only for short, heap-free critical sections (never across
    /// an allocation, a safepoint or a collection). `None` removes the
    /// scanner.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tricolor_collector::{Config, Heap, ObjRef, RootVisitor, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// // The interpreter's operand stack, shared with the scanner.
    /// let stack: Arc<Mutex<Vec<ObjRef>>> = Arc::default();
    /// let s = Arc::clone(&stack);
    /// m.set_root_scanner(Some(Box::new(move |v: &mut RootVisitor<'_>| {
    ///     s.lock().unwrap().iter().for_each(|&obj| v.visit(Some(obj)));
    /// })));
    /// let obj = m.alloc(node, 0)?;
    /// stack.lock().unwrap().push(obj); // rooted before the next allocation
    /// m.alloc(node, 0)?; // garbage
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_root_scanner(&mut self, scanner: Option<RootScanner>) {
        self.data().scanner = scanner;
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
