//! A mutator's root table: the slots behind every [`Root`], and the root
//! scanner that reports them to the collector.
//!
//! # The protocol (cited as "roots §1" in this crate)
//!
//! The table belongs to one safe [`Mutator`](crate::Mutator) and lives at a
//! fixed address (boxed) for as long as the mutator or any of its roots
//! exists. Two parties touch it:
//!
//! - **the owning thread**, which writes slots when it creates or drops a
//!   root, and only while its raw mutator is *running* (attached, not in
//!   native state): a root is created from a [`Gc`](crate::Gc), which needs
//!   a shared borrow of the mutator, impossible while
//!   [`Mutator::native`](crate::Mutator::native) holds it mutably; and a
//!   root dropped while the mutator is in native state (reached through a
//!   thread-local, say) only queues its index in `deferred`, which the
//!   scanner never reads, for the mutator to clear when it leaves native
//!   state. The slot keeps its object until then: rooted a little longer,
//!   never too short.
//! - **the root scanner**, a closure installed on the raw mutator, which
//!   reads `slots`. The collector calls it only while the owning thread is
//!   at a safepoint (on that thread, inside the raw call that polled) or
//!   stopped or in native state (on another thread, after taking the
//!   mutator's state lock, which the owning thread released when it
//!   stopped: that lock orders the thread's slot writes before the read).
//!   So the scanner never reads a slot while the owning thread writes one.
//!
//! When the mutator goes, its scanner is removed first; the table is freed
//! when the last of its roots is dropped (a root that outlives its mutator
//! is inert: [`Root::get`] needs a mutator of the same table).

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use tricolor_collector::{ObjRef, RootScanner, RootVisitor};

use crate::gc::Gc;
use crate::mutator::Mutator;
use crate::trace::Trace;

/// A marker that keeps a type on the thread that made it (neither `Send`
/// nor `Sync`): compiler errors about a `Mutator` or `Root` sent to another
/// thread name it.
pub(crate) struct StaysOnItsThread(#[allow(dead_code)] *const ());

/// The slots of one mutator's roots (roots §1).
pub(crate) struct RootTable {
    /// Object addresses (8-aligned, never 0) of live roots; a free slot
    /// holds [`free_link`] of the next free slot, an odd word the scanner
    /// skips. Written by the owning thread while running, read by the
    /// scanner (roots §1).
    slots: UnsafeCell<Vec<usize>>,
    /// The first free slot ([`NO_SLOT`]: none), reused first; the free
    /// slots form a list through their words. Owning thread only.
    free: Cell<u32>,
    /// Slots of roots dropped while the mutator was in native state, still
    /// holding their objects; cleared when it leaves. Owning thread only.
    deferred: UnsafeCell<Vec<u32>>,
    /// The mutator is in native state. Owning thread only.
    native: Cell<bool>,
    /// Roots alive (created, not dropped). Owning thread only.
    live: Cell<usize>,
    /// The mutator is gone: the last root to drop frees the table.
    detached: Cell<bool>,
}

/// The end of the free list; also one more than the last slot index, so
/// that every index `i` and `NO_SLOT` survive [`free_link`] and back (on
/// 64 bits, `u32::MAX`).
const NO_SLOT: u32 = (usize::MAX >> 1) as u32;

/// The word of a free slot whose successor on the free list is `next`:
/// odd, so never an object's address.
#[inline]
fn free_link(next: u32) -> usize {
    ((next as usize) << 1) | 1
}

/// The table's address, moved into the root scanner.
struct TablePtr(NonNull<RootTable>);

// SAFETY: the scanner only reads `slots`, and only while the owning thread
// writes none (roots §1); the table outlives the scanner, which is removed
// before the table can be freed (`detach`).
unsafe impl Send for TablePtr {}

impl RootTable {
    /// A new table, leaked until [`RootTable::detach`] and the last root's
    /// drop free it.
    pub(crate) fn new() -> NonNull<RootTable> {
        let t = Box::new(RootTable {
            slots: UnsafeCell::new(Vec::new()),
            free: Cell::new(NO_SLOT),
            deferred: UnsafeCell::new(Vec::new()),
            native: Cell::new(false),
            live: Cell::new(0),
            detached: Cell::new(false),
        });
        NonNull::from(Box::leak(t))
    }

    /// The root scanner for `table`, to install on its raw mutator.
    pub(crate) fn scanner(table: NonNull<RootTable>) -> RootScanner {
        let p = TablePtr(table);
        Box::new(move |v: &mut RootVisitor<'_>| {
            let p = &p;
            // SAFETY: roots §1: the table is alive while its scanner is
            // installed, and no slot is written while the scanner runs.
            let slots = unsafe { &*(*p.0.as_ptr()).slots.get() };
            for &s in slots {
                // Odd: a free slot.
                if s & 1 == 0 {
                    v.visit(ObjRef::from_addr(s));
                }
            }
        })
    }

    /// Adds a root holding `addr` (a live object); returns its slot.
    ///
    /// Inlined: with [`RootTable::remove`], the cost of every root, which
    /// is every allocation's.
    ///
    /// # Safety
    /// `table` is alive, the caller is its owning thread, and the mutator is
    /// running (roots §1).
    #[inline]
    pub(crate) unsafe fn add(table: NonNull<RootTable>, addr: usize) -> u32 {
        // SAFETY: the caller's contract; no reference into the table is
        // held across this call.
        let t = unsafe { table.as_ref() };
        debug_assert!(!t.native.get(), "roots are created only while running");
        debug_assert!(addr != 0 && addr.is_multiple_of(8), "roots hold objects");
        t.live.set(t.live.get() + 1);
        // SAFETY: owning thread, running: no scanner reads (roots §1), and
        // nothing else borrows the vector now.
        let slots = unsafe { &mut *t.slots.get() };
        let i = t.free.get();
        if i != NO_SLOT {
            let slot = &mut slots[i as usize];
            t.free.set((*slot >> 1) as u32);
            *slot = addr;
            i
        } else {
            Self::push(slots, addr)
        }
    }

    /// A new slot holding `addr`, at the end.
    #[cold]
    #[inline(never)]
    fn push(slots: &mut Vec<usize>, addr: usize) -> u32 {
        let i = u32::try_from(slots.len())
            .ok()
            .filter(|&i| i < NO_SLOT)
            .expect("tricolor: too many roots on one mutator");
        slots.push(addr);
        i
    }

    /// Frees slot `i` (owning thread, running: roots §1).
    ///
    /// # Safety
    /// As for [`RootTable::add`]; `i` is a slot that no live root holds.
    #[inline]
    unsafe fn free_slot(t: &RootTable, i: u32) {
        // SAFETY: owning thread, running (the caller's contract); nothing
        // else borrows the vector now.
        let slots = unsafe { &mut *t.slots.get() };
        slots[i as usize] = free_link(t.free.get());
        t.free.set(i);
    }

    /// The object in slot `i`.
    ///
    /// # Safety
    /// `table` is alive, the caller is its owning thread, and `i` is a slot
    /// of a live root.
    #[inline]
    pub(crate) unsafe fn get(table: NonNull<RootTable>, i: u32) -> usize {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        // SAFETY: owning thread: no slot is written meanwhile (the scanner
        // only reads), and no `&mut` to the vector is alive.
        let slots = unsafe { &*t.slots.get() };
        slots[i as usize]
    }

    /// Points slot `i` at `addr` (a live object).
    ///
    /// # Safety
    /// As for [`RootTable::add`]; `i` is a slot of a live root.
    pub(crate) unsafe fn set(table: NonNull<RootTable>, i: u32, addr: usize) {
        // SAFETY: as for `add`.
        let t = unsafe { table.as_ref() };
        // SAFETY: as for `add`.
        unsafe { (&mut *t.slots.get())[i as usize] = addr };
    }

    /// Drops the root in slot `i`; frees the table if it was the last one
    /// of a detached table.
    ///
    /// # Safety
    /// `table` is alive and the caller is its owning thread; `i` is the
    /// slot of a live root, dropped once.
    #[inline]
    unsafe fn remove(table: NonNull<RootTable>, i: u32) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        if t.detached.get() | t.native.get() {
            // SAFETY: the caller's contract.
            return unsafe { Self::remove_slow(table, i) };
        }
        t.live.set(t.live.get() - 1);
        // SAFETY: owning thread, running (neither native nor detached), and
        // the root in `i` is being dropped.
        unsafe { Self::free_slot(t, i) };
    }

    /// [`RootTable::remove`] of a detached table or in native state.
    ///
    /// # Safety
    /// As for [`RootTable::remove`].
    #[cold]
    #[inline(never)]
    unsafe fn remove_slow(table: NonNull<RootTable>, i: u32) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        t.live.set(t.live.get() - 1);
        if t.detached.get() {
            if t.live.get() == 0 {
                // SAFETY: detached (no scanner, no mutator) and no root left:
                // nothing can reach the table any more; it was leaked from a
                // `Box` in `new`.
                drop(unsafe { Box::from_raw(table.as_ptr()) });
            }
            return;
        }
        // Native: the scanner may be reading the slots.
        // SAFETY: owning thread; the scanner never reads `deferred`.
        unsafe { (*t.deferred.get()).push(i) };
    }

    /// The mutator enters (`true`) or leaves native state; leaving clears the
    /// slots of roots dropped meanwhile.
    ///
    /// # Safety
    /// `table` is alive and the caller is its owning thread; when leaving,
    /// the raw mutator is running again.
    pub(crate) unsafe fn set_native(table: NonNull<RootTable>, native: bool) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        t.native.set(native);
        if !native {
            // SAFETY: owning thread; `free_slot` does not touch `deferred`.
            let deferred = unsafe { &mut *t.deferred.get() };
            for i in deferred.drain(..) {
                // SAFETY: owning thread, running (roots §1); the roots of
                // deferred slots are gone.
                unsafe { Self::free_slot(t, i) };
            }
        }
    }

    /// Marks the table as its mutator's no more (its scanner must already be
    /// removed); frees it if no root is left.
    ///
    /// # Safety
    /// `table` is alive, the caller is its owning thread, and the scanner is
    /// no longer installed.
    pub(crate) unsafe fn detach(table: NonNull<RootTable>) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        t.detached.set(true);
        if t.live.get() == 0 {
            // SAFETY: as in `remove`.
            drop(unsafe { Box::from_raw(table.as_ptr()) });
        }
    }

    /// Roots alive and slots in use (tests).
    ///
    /// # Safety
    /// `table` is alive and the caller is its owning thread.
    pub(crate) unsafe fn counts(table: NonNull<RootTable>) -> (usize, usize) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        // SAFETY: owning thread; a read.
        let used = unsafe { (*t.slots.get()).iter().filter(|&&s| s & 1 == 0).count() };
        (t.live.get(), used)
    }
}

/// A rooted handle: keeps its object alive, across any number of
/// allocations and safepoints, until it is dropped.
///
/// Roots are how a thread holds objects between the points where the
/// collector may run ([`Mutator`] explains where those are). A
/// [`Gc`](crate::Gc) is valid only until its mutator's next such point;
/// [`Gc::root`](crate::Gc::root) turns it into a `Root`, and
/// [`Root::get`] turns a root back into a `Gc` for the next stretch of work.
/// [`Mutator::alloc`] returns a root.
///
/// A root belongs to the mutator that made it: it is neither `Send` nor
/// `Sync` (its slot is on that thread's root table), and [`Root::get`]
/// panics with any other mutator. To share an object between threads, store
/// it in a [`Global`](crate::Global) or in a member of a shared object.
///
/// Creating a root writes one slot of the mutator's root table; dropping it
/// frees the slot. Both are a few instructions, with no atomic operation.
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Node { next: Member<Node> }
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let head = m.alloc(Node::default()); // a Root<Node>
/// for _ in 0..1000 {
///     let node = m.alloc(Node::default()); // may collect: `head` is rooted
///     node.get(&m).set(|n| &n.next, Some(head.get(&m)));
///     head.get(&m).set(|n| &n.next, None); // drop the older nodes
/// }
/// m.collect();
/// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Root<T> {
    /// Neither `Send` nor `Sync`: the slot is on this thread's table.
    _thread: PhantomData<StaysOnItsThread>,
    /// The table and the slot that holds the object. Two words and no
    /// more (the object is read from the slot), so that a `Root` is
    /// returned in registers: a third word made every `alloc` return it
    /// through memory, and the copy that followed stalled on the stores.
    table: NonNull<RootTable>,
    slot: u32,
    _t: PhantomData<*const T>,
}

impl<T: Trace> Root<T> {
    /// Roots the object at `obj` on `m`'s table.
    ///
    /// # Safety
    /// `obj` is a live object of `m`'s heap whose payload is a `T`, and `m`
    /// is running.
    #[inline]
    pub(crate) unsafe fn new(m: &Mutator, obj: NonNull<u8>) -> Root<T> {
        // SAFETY: `m`'s table is alive while `m` is; this is its thread, and
        // the caller guarantees it is running.
        let slot = unsafe { RootTable::add(m.table(), obj.as_ptr() as usize) };
        Root {
            _thread: PhantomData,
            table: m.table(),
            slot,
            _t: PhantomData,
        }
    }

    /// The object, as a handle valid until `m`'s next allocation or
    /// safepoint.
    ///
    /// # Panics
    /// If `m` is not the mutator that made the root.
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Answer(i64);
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let r = m.alloc(Answer(42));
    /// m.collect();
    /// assert_eq!(r.get(&m).0, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get<'m>(&self, m: &'m Mutator) -> Gc<'m, T> {
        self.check(m, "Root::get");
        // SAFETY: the root keeps the object alive, and it is an object of
        // `m`'s heap holding a `T` (it was rooted from a `Gc<T>` of `m`).
        unsafe { Gc::from_raw(self.obj(), m) }
    }

    /// Makes the root hold `value` instead.
    ///
    /// # Panics
    /// If `value` belongs to another mutator than the root.
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Step(u32);
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let mut current = m.alloc(Step(0));
    /// for i in 1..10 {
    ///     let next = m.alloc(Step(i));
    ///     current.set(next.get(&m));
    /// }
    /// assert_eq!(current.get(&m).0, 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&mut self, value: Gc<'_, T>) {
        self.check(value.mutator(), "Root::set");
        // SAFETY: the table is `value`'s mutator's (checked), which is
        // running (it lends a `Gc`), on this thread.
        unsafe { RootTable::set(self.table, self.slot, value.addr()) };
    }

    /// The object the root holds.
    #[inline]
    fn obj(&self) -> NonNull<u8> {
        // SAFETY: a root is `!Send`, so this is its table's owning thread,
        // and the table lives until its last root is dropped; the slot is
        // this live root's.
        let addr = unsafe { RootTable::get(self.table, self.slot) };
        NonNull::new(addr as *mut u8).expect("a live root's slot holds its object")
    }

    #[inline]
    fn check(&self, m: &Mutator, what: &'static str) {
        if self.table != m.table() {
            foreign_mutator(what);
        }
    }
}

/// The panic of [`Root::check`], out of line: the message's argument is
/// then made only when it fails.
#[cold]
#[inline(never)]
fn foreign_mutator(what: &'static str) -> ! {
    panic!(
        "tricolor: {what} with a mutator that did not make the root (another thread's or heap's mutator)"
    )
}

impl<T> Drop for Root<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a root is `!Send`: this is its table's owning thread; the
        // table lives until its last root is dropped; each root drops once.
        unsafe { RootTable::remove(self.table, self.slot) }
    }
}

impl<T> fmt::Debug for Root<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: as in `Root::obj`.
        let addr = unsafe { RootTable::get(self.table, self.slot) };
        write!(f, "Root({addr:#x})")
    }
}
