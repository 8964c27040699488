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
//! roots need no other synchronisation. The protocol is in [`crate::safepoint`].

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{Mutex, RawMutex};
use tricolor_allocator::{AllocError, Cache, ObjectKind};

use crate::barrier;
use crate::descriptor::{Pointers, TypeId};
use crate::heap::HeapInner;
use crate::object::{self, ObjRef};
use crate::pacer::Decision;
use crate::safepoint;

thread_local! {
    /// Heaps this thread is attached to (by heap identity).
    static ATTACHED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Whether the calling thread has a mutator of heap `id`.
pub(crate) fn attached_here(id: usize) -> bool {
    ATTACHED.with(|a| a.borrow().contains(&id))
}

/// Bytes a mutator allocates between reports to the pacer.
const ALLOC_REPORT_BYTES: u64 = 256 << 10;

/// Why a thread could not attach.
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
#[derive(Debug)]
pub enum GcAllocError {
    /// The type id was not registered with this heap.
    UnknownType(TypeId),
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
            GcAllocError::UnknownType(t) => {
                write!(f, "type id {} is not registered with this heap", t.0)
            }
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

/// Reports roots to the collector from a [`Mutator::set_root_scanner`] callback.
pub struct RootVisitor<'a> {
    pub(crate) sink: &'a mut dyn FnMut(usize, RootKind),
    pub(crate) mutator: u64,
}

/// Where a root came from; named in checkmark and verifier messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// A global root, by slot index.
    Global(usize),
    /// A slot of a mutator's shadow stack: (mutator id, slot).
    ShadowStack(u64, usize),
    /// Reported by a mutator's root scanner: (mutator id, report number).
    Scanner(u64, usize),
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootKind::Global(i) => write!(f, "global root #{i}"),
            RootKind::ShadowStack(m, i) => write!(f, "shadow-stack slot {i} of mutator {m}"),
            RootKind::Scanner(m, i) => write!(f, "root #{i} reported by mutator {m}'s scanner"),
        }
    }
}

impl RootVisitor<'_> {
    /// Reports one root; `None` is ignored.
    pub fn visit(&mut self, obj: Option<ObjRef>) {
        if let Some(o) = obj {
            (self.sink)(o.addr(), RootKind::Scanner(self.mutator, 0));
        }
    }
}

/// A root-scanner callback: reports the VM's own roots of one mutator. It
/// runs on the collector's thread while the mutator is stopped or in native
/// code, hence `Send`.
pub type RootScanner = Box<dyn FnMut(&mut RootVisitor<'_>) + Send>;

/// The part of a mutator the collector may touch when the mutator is not
/// running. Guarded by the mutator's own lock.
pub(crate) struct MutatorData {
    pub(crate) cache: Cache,
    /// The shadow stack: object addresses (0 = empty slot).
    pub(crate) roots: Vec<usize>,
    pub(crate) scanner: Option<RootScanner>,
}

/// Safepoint request bits in [`MutatorShared::poll`].
pub(crate) const POLL_STOP: u32 = 1;
pub(crate) const POLL_HANDSHAKE: u32 = 2;

/// The part of a mutator other threads see.
pub(crate) struct MutatorShared {
    pub(crate) id: u64,
    /// Requests for the mutator's next safepoint (`POLL_*` bits).
    pub(crate) poll: AtomicU32,
    pub(crate) data: Arc<Mutex<MutatorData>>,
    /// Set when the mutator has detached; the collector skips it.
    pub(crate) detached: AtomicBool,
    /// Handshake state (see `safepoint`).
    pub(crate) handshake: AtomicU8,
    pub(crate) handshake_fn: Mutex<Option<safepoint::HandshakeFn>>,
}

/// A thread attached to a heap. Not `Send`: it belongs to the thread that
/// attached. Dropping it detaches (also when the thread unwinds from a panic).
pub struct Mutator {
    heap: Arc<HeapInner>,
    shared: Arc<MutatorShared>,
    /// Held while running; `None` while in native code.
    data: Option<ArcMutexGuard<RawMutex, MutatorData>>,
    allocated_unreported: u64,
    stress_countdown: u32,
    _not_send: PhantomData<*mut ()>,
}

impl Mutator {
    pub(crate) fn attach(heap: Arc<HeapInner>) -> Result<Mutator, AttachError> {
        let id = heap.id();
        if attached_here(id) {
            return Err(AttachError::AlreadyAttached);
        }
        let data = Arc::new(Mutex::new(MutatorData {
            cache: Cache::new(heap.page.clone()),
            roots: Vec::new(),
            scanner: None,
        }));
        let guard = data.lock_arc();
        let shared;
        {
            // No attaching while the world is stopped.
            let _world = heap.world.lock();
            let mut reg = heap.registry.lock();
            shared = Arc::new(MutatorShared {
                id: heap.next_mutator_id.fetch_add(1, Ordering::Relaxed),
                poll: AtomicU32::new(0),
                data,
                detached: AtomicBool::new(false),
                handshake: AtomicU8::new(safepoint::HS_IDLE),
                handshake_fn: Mutex::new(None),
            });
            reg.push(shared.clone());
        }
        heap.add_user();
        ATTACHED.with(|a| a.borrow_mut().push(id));
        let stress = heap.config.gc_stress.map_or(0, |n| n.get());
        Ok(Mutator {
            heap,
            shared,
            data: Some(guard),
            allocated_unreported: 0,
            stress_countdown: stress,
            _not_send: PhantomData,
        })
    }

    /// This mutator's id (named in diagnostics).
    pub fn id(&self) -> u64 {
        self.shared.id
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
    }

    /// Enters native code: the mutator promises not to touch the heap until
    /// [`leave_native`](Self::leave_native), and the collector may act for it
    /// meanwhile (scan its roots, flush its cache). Use around blocking calls.
    pub fn enter_native(&mut self) {
        assert!(
            self.data.is_some(),
            "enter_native: the mutator is already in native code"
        );
        self.data = None;
    }

    /// Leaves native code; waits if the world is stopped.
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
    pub fn native<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.enter_native();
        let guard = LeaveNative(self);
        let r = f();
        drop(guard);
        r
    }

    /// Whether the mutator is in native state.
    pub fn is_native(&self) -> bool {
        self.data.is_none()
    }

    /// Runs a full collection and returns when it has finished. The mutator
    /// waits in native state, so the world can stop around it.
    pub fn collect(&mut self) {
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
    pub fn alloc(&mut self, ty: TypeId, len: usize) -> Result<ObjRef, GcAllocError> {
        self.safepoint();
        if self.stress_countdown > 0 {
            self.stress_countdown -= 1;
            if self.stress_countdown == 0 {
                self.stress_countdown = self.heap.config.gc_stress.map_or(0, |n| n.get());
                self.collect();
            }
        }
        let heap = &*self.heap;
        let desc = heap.types.get(ty).ok_or(GcAllocError::UnknownType(ty))?;
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
        let obj = ObjRef::from_addr(ptr.as_ptr() as usize).expect("non-null");
        // SAFETY: the cache just handed us this slot; nobody else has it.
        unsafe { object::init_header(obj, object::header(ty, len as u32)) };
        self.allocated_unreported += bytes as u64;
        if self.allocated_unreported >= ALLOC_REPORT_BYTES {
            self.report_allocation();
        }
        Ok(obj)
    }

    /// Tells the pacer about recent allocation; may start a cycle, or wait
    /// for one if the heap is far over its goal.
    fn report_allocation(&mut self) {
        let n = std::mem::take(&mut self.allocated_unreported);
        let since = self
            .heap
            .allocated_since_mark
            .fetch_add(n, Ordering::Relaxed)
            + n;
        let live = self.heap.live_after_mark.load(Ordering::Relaxed) + since;
        let decision = self.heap.pacer.lock().decide(live);
        match decision {
            Decision::Continue => {}
            Decision::StartCycle => self.heap.nudge_cycle(),
            Decision::Block => {
                self.heap.nudge_cycle();
                let n = self.heap.cycles.lock().started.max(1);
                self.enter_native();
                self.heap.wait_for_cycle(n);
                self.leave_native();
            }
        }
    }

    // ---- fields --------------------------------------------------------------

    /// Loads pointer field `field` of `obj`.
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
        barrier::on_store(&self.heap, old as usize, new);
    }

    /// Loads non-pointer word `field` of `obj`.
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
    /// # Safety
    /// As for [`load`](Self::load); for a traced type, a pointer the word
    /// carries must be a live object of this heap.
    #[inline]
    pub unsafe fn store_word(&mut self, obj: ObjRef, field: usize, value: u64) {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, false);
        }
        // SAFETY: as for `load`.
        let old = unsafe { object::swap_field(obj, field, value) };
        // SAFETY: `obj` is live (caller's contract).
        let (ty, _) = object::decode_header(unsafe { object::load_header(obj) });
        if let Some(Pointers::Traced { decode, .. }) = self.heap.types.get(ty).map(|d| &d.pointers)
        {
            barrier::on_store(
                &self.heap,
                decode(old).unwrap_or(0),
                decode(value).unwrap_or(0),
            );
        }
    }

    /// Payload words of `obj`, and its length from the header.
    ///
    /// # Safety
    /// As for [`load`](Self::load).
    pub unsafe fn shape_of(&self, obj: ObjRef) -> (TypeId, usize) {
        // SAFETY: caller's contract.
        object::decode_header(unsafe { object::load_header(obj) })
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
        let desc =
            self.heap.types.get(ty).unwrap_or_else(|| {
                panic!("tricolor: {obj:?} has an invalid header (type {})", ty.0)
            });
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
    #[inline]
    pub fn push_root(&mut self, value: Option<ObjRef>) -> usize {
        let roots = &mut self.data().roots;
        roots.push(value.map_or(0, ObjRef::addr));
        roots.len() - 1
    }

    /// The object in root slot `index`.
    #[inline]
    pub fn root(&self, index: usize) -> Option<ObjRef> {
        ObjRef::from_addr(self.data_ref().roots[index])
    }

    /// Makes root slot `index` hold `value`.
    #[inline]
    pub fn set_root(&mut self, index: usize, value: Option<ObjRef>) {
        self.data().roots[index] = value.map_or(0, ObjRef::addr);
    }

    /// Number of root slots.
    pub fn root_count(&self) -> usize {
        self.data_ref().roots.len()
    }

    /// Pops root slots down to `len` (the end of a frame).
    pub fn truncate_roots(&mut self, len: usize) {
        self.data().roots.truncate(len);
    }

    /// Runs `f` in a root frame: slots it pushes are popped when it returns
    /// (or unwinds).
    pub fn frame<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let mark = self.root_count();
        struct Pop<'a>(&'a mut Mutator, usize);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                if self.0.data.is_some() {
                    self.0.truncate_roots(self.1);
                }
            }
        }
        let pop = Pop(self, mark);
        f(pop.0)
    }

    /// Installs the callback through which the VM reports this mutator's own
    /// roots (its interpreter stack, registers). It runs on the collector's
    /// thread while this mutator is stopped or in native code.
    pub fn set_root_scanner(&mut self, scanner: Option<RootScanner>) {
        self.data().scanner = scanner;
    }

    /// The heap this mutator belongs to.
    pub fn heap(&self) -> crate::Heap {
        self.heap.add_user();
        crate::Heap {
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
        guard.cache.release_all();
        guard.roots.clear();
        guard.scanner = None;
        self.shared.detached.store(true, Ordering::Release);
        self.heap
            .registry
            .lock()
            .retain(|m| !Arc::ptr_eq(m, &self.shared));
        drop(guard);
        let id = self.heap.id();
        ATTACHED.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(i) = a.iter().position(|&h| h == id) {
                a.swap_remove(i);
            }
        });
        self.heap.remove_user();
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
