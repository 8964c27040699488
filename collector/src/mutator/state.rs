//! A mutator's state, as the collector sees it: what the collector may
//! touch while the mutator is not running (`MutatorData`, behind the
//! mutator's own lock), what other threads may read at any time
//! (`MutatorShared`: the poll word and the handshake slot), and the
//! thread's record of which heaps it is attached to.
//!
//! The public [`Mutator`](crate::Mutator) (in `mutator/mod.rs`) owns one of
//! each; the safepoint protocol (`mutator::safepoint`) says who holds the
//! lock when.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8};
use std::sync::Arc;

use parking_lot::Mutex;
use tricolor_allocator::Cache;
use tricolor_barriers::Barrier;

use crate::mark::source::RootKind;
use crate::object::ObjRef;

thread_local! {
    /// The mutators of this thread: the heap each belongs to (by heap
    /// identity) and its running flag, shared with the `Mutator` (true
    /// while running, false while in native state).
    static ATTACHED: RefCell<Vec<(usize, Rc<Cell<bool>>)>> = const { RefCell::new(Vec::new()) };
}

/// Whether the calling thread has a mutator of heap `id`.
pub(crate) fn attached_here(id: usize) -> bool {
    ATTACHED.with(|a| a.borrow().iter().any(|(h, _)| *h == id))
}

/// Whether the calling thread has a mutator of heap `id` that is running
/// (not in native state). Such a thread must not wait for that heap's
/// collector from outside its mutator: the world could not stop while it
/// waits. A thread whose mutator is in native state may.
pub(crate) fn running_here(id: usize) -> bool {
    ATTACHED.with(|a| a.borrow().iter().any(|(h, r)| *h == id && r.get()))
}

/// Records that the calling thread now has a mutator of heap `id`, running;
/// returns the running flag, which the mutator keeps up to date.
pub(crate) fn note_attached(id: usize) -> Rc<Cell<bool>> {
    let running = Rc::new(Cell::new(true));
    ATTACHED.with(|a| a.borrow_mut().push((id, running.clone())));
    running
}

/// Records that the calling thread's mutator of heap `id` detached.
pub(crate) fn note_detached(id: usize) {
    ATTACHED.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(i) = a.iter().position(|(h, _)| *h == id) {
            a.swap_remove(i);
        }
    });
}

/// Reports roots to the collector from a [`Mutator::set_root_scanner`](crate::Mutator::set_root_scanner) callback.
///
/// Handed to the callback by the collector; see
/// [`set_root_scanner`](crate::Mutator::set_root_scanner) for a whole example.
pub struct RootVisitor<'a> {
    pub(crate) sink: &'a mut dyn FnMut(usize, RootKind),
    pub(crate) mutator: u64,
}

impl RootVisitor<'_> {
    /// Reports one root; `None` is ignored.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tricolor_collector::{Config, Heap, ObjRef, RootVisitor, TypeDescriptor};
    ///
    /// /// An interpreter's register file: `None` is an empty register.
    /// type Registers = Arc<Mutex<[Option<ObjRef>; 4]>>;
    ///
    /// let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let regs = Registers::default();
    /// let r = regs.clone();
    /// m.set_root_scanner(Some(Box::new(move |v: &mut RootVisitor<'_>| {
    ///     r.lock().unwrap().iter().for_each(|&reg| v.visit(reg));
    /// })));
    /// let obj = m.alloc(node, 0);
    /// regs.lock().unwrap()[2] = Some(obj); // rooted before the next allocation
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn visit(&mut self, obj: Option<ObjRef>) {
        if let Some(o) = obj {
            (self.sink)(o.addr(), RootKind::Scanner(self.mutator, 0));
        }
    }
}

/// A root-scanner callback: reports the VM's own roots of one mutator. It
/// runs on the collector's thread while the mutator is stopped or in native
/// code, hence `Send`.
///
/// It must not wait for the mutator it belongs to (that mutator is stopped
/// while it runs): share the VM's stack with it behind a lock that the
/// mutator never holds across an allocation, a safepoint or a collection.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tricolor_collector::{ObjRef, RootScanner, RootVisitor};
///
/// let stack: Arc<Mutex<Vec<ObjRef>>> = Arc::default();
/// let s = Arc::clone(&stack);
/// let scanner: RootScanner = Box::new(move |v: &mut RootVisitor<'_>| {
///     for &obj in s.lock().unwrap().iter() {
///         v.visit(Some(obj));
///     }
/// });
/// # drop(scanner);
/// ```
pub type RootScanner = Box<dyn FnMut(&mut RootVisitor<'_>) + Send>;

/// The part of a mutator the collector may touch when the mutator is not
/// running. Guarded by the mutator's own lock.
pub(crate) struct MutatorData {
    pub(crate) cache: Cache,
    /// The shadow stack: object addresses (0 = empty slot).
    pub(crate) roots: Vec<usize>,
    pub(crate) scanner: Option<RootScanner>,
    /// This mutator's write barrier: the heap's mode and its record buffer.
    /// Recorded into by the mutator's stores; flushed by handshakes and at
    /// mark termination.
    pub(crate) barrier: Barrier,
    /// This mutator's stack has been scanned in the current mark (black in
    /// SATB and hybrid modes). Cleared at sweep termination, set by
    /// `roots::scan_stack`; read by the hybrid barrier. A mutator that
    /// attaches during a mark starts with an empty, hence scanned, stack.
    pub(crate) stack_scanned: bool,
    /// Mark-assist debt in bytes of scan work (negative: credit). Reset at
    /// sweep termination ([`crate::assist`]).
    pub(crate) assist_debt: i64,
    /// Bits OR-ed into the header of every object this mutator allocates:
    /// [`LOG_ARMED`](crate::object::LOG_ARMED) while it allocates black in
    /// a generational cycle that tenures at the first survival (such an
    /// object is old after the mark without a marker's scan, so it must be
    /// armed from birth; generation §1, §3), else 0. Set with
    /// allocate-black ([`set_allocate_black`](Self::set_allocate_black)).
    pub(crate) header_bits: u64,
    /// Objects this mutator's stores logged since the last STW #1
    /// (generation §3): appended by the store barrier, taken
    /// at STW #1 (`GenState::take_logs`), orphaned when it detaches.
    pub(crate) log: Vec<usize>,
}

impl MutatorData {
    /// Turns allocate-black on or off for this mutator's cache, and with
    /// it the arming of what it allocates when `arm` (generation §1, §3:
    /// in a cycle that tenures at the first survival an object allocated
    /// black is old after the mark; in any other it is a survivor).
    pub(crate) fn set_allocate_black(&mut self, on: bool, arm: bool) {
        self.cache.set_allocate_black(on);
        self.header_bits = if on && arm {
            crate::object::LOG_ARMED
        } else {
            0
        };
    }
}

/// Safepoint request bits in [`MutatorShared::poll`].
pub(crate) const POLL_STOP: u32 = 1;

pub(crate) const POLL_HANDSHAKE: u32 = 2;

/// Set for the mutator's whole life under gc-stress, so that every poll
/// takes the slow path and counts towards the next stress collection, while
/// the fast path stays one load and a branch.
pub(crate) const POLL_STRESS: u32 = 4;

/// The part of a mutator other threads see.
pub(crate) struct MutatorShared {
    pub(crate) id: u64,
    /// Requests for the mutator's next safepoint (`POLL_*` bits).
    pub(crate) poll: AtomicU32,
    pub(crate) data: Arc<Mutex<MutatorData>>,
    /// Set when the mutator has detached; the collector skips it.
    pub(crate) detached: AtomicBool,
    /// Handshake state (see `mutator::safepoint`).
    pub(crate) handshake: AtomicU8,
    pub(crate) handshake_fn: Mutex<Option<HandshakeFn>>,
}

/// A closure a handshake runs on each mutator's state, with the mutator's
/// id (`mutator::safepoint`). It captures whatever of the heap it needs.
pub(crate) type HandshakeFn = Arc<dyn Fn(u64, &mut MutatorData) + Send + Sync>;

/// Handshake states of one mutator ([`MutatorShared::handshake`]).
pub(crate) const HS_IDLE: u8 = 0;
pub(crate) const HS_POSTED: u8 = 1;
pub(crate) const HS_CLAIMED: u8 = 2;
pub(crate) const HS_DONE: u8 = 3;
