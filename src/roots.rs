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
//!   thread-local, say) only queues its slot in `deferred`, which the
//!   scanner never reads, for the mutator to free when it leaves native
//!   state. The slot keeps its object until then: rooted a little longer,
//!   never too short.
//! - **the root scanner**, a closure installed on the raw mutator, which
//!   reads the chunks of slots. The collector calls it only while the owning thread is
//!   at a safepoint (on that thread, inside the raw call that polled) or
//!   stopped or in native state (on another thread, after taking the
//!   mutator's state lock, which the owning thread released when it
//!   stopped: that lock orders the thread's slot writes before the read).
//!   So the scanner never reads a slot while the owning thread writes one.
//!
//! Slots never move (they sit in chunks that live as long as the table), so
//! a root holds its slot's address; the owning thread writes a slot only
//! through the root that holds it, or the free list, under the same rule.
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

/// Slots per chunk of a root table (2 KiB), allocated when no slot is free.
const CHUNK: usize = 256;

/// A slot of a root table: a live root's object (its address, never
/// null, 8-aligned), or, free, [`tag`] of the next free slot (odd: the
/// scanner skips it).
type Slot = *mut u8;

/// [`RootTable::state`]: the mutator is in native state.
const NATIVE: u8 = 1;
/// [`RootTable::state`]: the mutator is gone.
const DETACHED: u8 = 2;

/// The word of a free slot whose successor on the free list is `next`
/// (null: none): odd, so never an object's address, and a pointer, so the
/// list keeps its provenance.
#[inline]
fn tag(next: *mut Slot) -> Slot {
    next.cast::<u8>().map_addr(|a| a | 1)
}

/// The successor that free slot word `w` names ([`tag`]'s inverse).
#[inline]
fn untag(w: Slot) -> *mut Slot {
    w.map_addr(|a| a & !1).cast()
}

/// The slots of one mutator's roots (roots §1).
///
/// Slots sit in chunks at fixed addresses, and a [`Root`] holds its slot's
/// address: reading a root is one load, and creating or dropping one pops
/// or pushes the free list threaded through the free slots' words, a few
/// instructions with no index, bounds check or count (roots are created
/// and dropped on every allocation, mostly in LIFO order, which the list
/// serves best: the slot freed last is reused first).
pub(crate) struct RootTable {
    /// Every chunk, `CHUNK` slots each, every slot live or free; leaked
    /// boxes, freed with the table. Pushed to by the owning thread while
    /// running, read by the scanner (roots §1), as the slots are.
    chunks: UnsafeCell<Vec<NonNull<Slot>>>,
    /// The first free slot (null: none). Owning thread only.
    free: Cell<*mut Slot>,
    /// Slots of roots dropped while the mutator was in native state, still
    /// holding their objects; freed when it leaves. Owning thread only.
    deferred: UnsafeCell<Vec<NonNull<Slot>>>,
    /// [`NATIVE`] and [`DETACHED`]: a root's drop takes the slow path if
    /// either is set. Owning thread only.
    state: Cell<u8>,
    /// Roots alive, counted when the table is detached (before that, the
    /// slots in use less the deferred ones say it): the last root to drop
    /// then frees the table. Owning thread only.
    detached_live: Cell<usize>,
}

/// The table's address, moved into the root scanner.
struct TablePtr(NonNull<RootTable>);

// SAFETY: the scanner only reads the chunks and their slots, and only while
// the owning thread writes none (roots §1); the table outlives the scanner,
// which is removed before the table can be freed (`detach`).
unsafe impl Send for TablePtr {}

impl RootTable {
    /// A new table, leaked until [`RootTable::detach`] and the last root's
    /// drop free it.
    pub(crate) fn new() -> NonNull<RootTable> {
        let t = Box::new(RootTable {
            chunks: UnsafeCell::new(Vec::new()),
            free: Cell::new(std::ptr::null_mut()),
            deferred: UnsafeCell::new(Vec::new()),
            state: Cell::new(0),
            detached_live: Cell::new(0),
        });
        NonNull::from(Box::leak(t))
    }

    /// The root scanner for `table`, to install on its raw mutator.
    pub(crate) fn scanner(table: NonNull<RootTable>) -> RootScanner {
        let p = TablePtr(table);
        Box::new(move |v: &mut RootVisitor<'_>| {
            let p = &p;
            // SAFETY: roots §1: the table is alive while its scanner is
            // installed, and nothing in it is written while the scanner runs.
            let chunks = unsafe { &*(*p.0.as_ptr()).chunks.get() };
            for chunk in chunks {
                for k in 0..CHUNK {
                    // SAFETY: as above; slot `k` of a chunk is initialised.
                    let s = unsafe { *chunk.as_ptr().add(k) };
                    // Odd: a free slot.
                    if s.addr() & 1 == 0 {
                        v.visit(ObjRef::from_addr(s.addr()));
                    }
                }
            }
        })
    }

    /// Adds a root holding `obj` (a live object); returns its slot.
    ///
    /// Inlined: with [`RootTable::remove`], the cost of every root, which
    /// is every allocation's.
    ///
    /// # Safety
    /// `table` is alive, the caller is its owning thread, and the mutator is
    /// running (roots §1).
    #[inline]
    pub(crate) unsafe fn add(table: NonNull<RootTable>, obj: NonNull<u8>) -> NonNull<Slot> {
        // SAFETY: the caller's contract; no reference into the table is
        // held across this call.
        let t = unsafe { table.as_ref() };
        debug_assert!(t.state.get() == 0, "roots are created only while running");
        debug_assert!(obj.as_ptr().addr().is_multiple_of(8), "roots hold objects");
        let mut slot = t.free.get();
        if slot.is_null() {
            slot = Self::grow(t);
        }
        // SAFETY: `slot` is a free slot of one of the table's chunks (the
        // list holds nothing else); owning thread, running: no scanner
        // reads (roots §1), and nothing else refers to the slot.
        unsafe {
            t.free.set(untag(*slot));
            *slot = obj.as_ptr();
            NonNull::new_unchecked(slot)
        }
    }

    /// A new chunk, its slots put on the (empty) free list; returns the
    /// list's head.
    #[cold]
    #[inline(never)]
    fn grow(t: &RootTable) -> *mut Slot {
        debug_assert!(t.free.get().is_null());
        let slots: Box<[Slot]> = vec![std::ptr::null_mut(); CHUNK].into_boxed_slice();
        // Every link is derived from the leaked box's pointer, which the
        // roots and the scanner then use.
        let chunk = Box::into_raw(slots).cast::<Slot>();
        for k in 0..CHUNK {
            let next = if k + 1 < CHUNK {
                chunk.wrapping_add(k + 1)
            } else {
                std::ptr::null_mut()
            };
            // SAFETY: slot `k` < `CHUNK` of the chunk just leaked, ours alone.
            unsafe { chunk.add(k).write(tag(next)) };
        }
        // SAFETY: owning thread, running: no scanner reads the list (roots
        // §1), and nothing else borrows it now.
        unsafe { (*t.chunks.get()).push(NonNull::new(chunk).expect("a box is not null")) };
        chunk
    }

    /// Frees `slot` (owning thread, running: roots §1).
    ///
    /// # Safety
    /// As for [`RootTable::add`]; `slot` is a slot of this table that no
    /// live root holds.
    #[inline]
    unsafe fn free_slot(t: &RootTable, slot: NonNull<Slot>) {
        // SAFETY: the caller's contract: a slot of this table, ours to
        // write (owning thread, running).
        unsafe { *slot.as_ptr() = tag(t.free.get()) };
        t.free.set(slot.as_ptr());
    }

    /// Drops the root in `slot`; frees the table if it was the last one of
    /// a detached table.
    ///
    /// # Safety
    /// `table` is alive and the caller is its owning thread; `slot` is the
    /// slot of a live root of it, dropped once.
    #[inline]
    unsafe fn remove(table: NonNull<RootTable>, slot: NonNull<Slot>) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        if t.state.get() != 0 {
            // SAFETY: the caller's contract.
            return unsafe { Self::remove_slow(table, slot) };
        }
        // SAFETY: owning thread, running (neither native nor detached), and
        // the root in `slot` is being dropped.
        unsafe { Self::free_slot(t, slot) };
    }

    /// [`RootTable::remove`] of a detached table or in native state.
    ///
    /// # Safety
    /// As for [`RootTable::remove`].
    #[cold]
    #[inline(never)]
    unsafe fn remove_slow(table: NonNull<RootTable>, slot: NonNull<Slot>) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        if t.state.get() & DETACHED != 0 {
            t.detached_live.set(t.detached_live.get() - 1);
            if t.detached_live.get() == 0 {
                // SAFETY: detached (no scanner, no mutator) and no root left:
                // nothing can reach the table any more; it was leaked from a
                // `Box` in `new`.
                drop(unsafe { Box::from_raw(table.as_ptr()) });
            }
            return;
        }
        // Native: the scanner may be reading the slots.
        // SAFETY: owning thread; the scanner never reads `deferred`.
        unsafe { (*t.deferred.get()).push(slot) };
    }

    /// The mutator enters (`true`) or leaves native state; leaving frees the
    /// slots of roots dropped meanwhile.
    ///
    /// # Safety
    /// `table` is alive and the caller is its owning thread; when leaving,
    /// the raw mutator is running again.
    pub(crate) unsafe fn set_native(table: NonNull<RootTable>, native: bool) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        if native {
            t.state.set(t.state.get() | NATIVE);
        } else {
            t.state.set(t.state.get() & !NATIVE);
            // SAFETY: owning thread; `free_slot` does not touch `deferred`.
            let deferred = unsafe { &mut *t.deferred.get() };
            for slot in deferred.drain(..) {
                // SAFETY: owning thread, running (roots §1); the roots of
                // deferred slots are gone.
                unsafe { Self::free_slot(t, slot) };
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
        let (live, _) = unsafe { Self::counts(table) };
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        t.state.set(t.state.get() | DETACHED);
        t.detached_live.set(live);
        if live == 0 {
            // SAFETY: as in `remove_slow`.
            drop(unsafe { Box::from_raw(table.as_ptr()) });
        }
    }

    /// Roots alive and slots in use (tests, and `detach`).
    ///
    /// # Safety
    /// `table` is alive, not detached, and the caller is its owning thread.
    pub(crate) unsafe fn counts(table: NonNull<RootTable>) -> (usize, usize) {
        // SAFETY: the caller's contract.
        let t = unsafe { table.as_ref() };
        // SAFETY: owning thread; reads.
        let (chunks, deferred) = unsafe { (&*t.chunks.get(), &*t.deferred.get()) };
        let used = chunks
            .iter()
            // SAFETY: every slot of a chunk is initialised.
            .flat_map(|c| (0..CHUNK).map(move |k| unsafe { *c.as_ptr().add(k) }))
            .filter(|s| s.addr() & 1 == 0)
            .count();
        (used - deferred.len(), used)
    }
}

impl Drop for RootTable {
    fn drop(&mut self) {
        for chunk in self.chunks.get_mut().drain(..) {
            // SAFETY: each chunk was leaked from a boxed slice of `CHUNK`
            // slots in `grow`, and nothing refers to it any more (the table
            // is dropped only when no root and no scanner is left).
            drop(unsafe {
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(chunk.as_ptr(), CHUNK))
            });
        }
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
    slot: NonNull<Slot>,
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
        let slot = unsafe { RootTable::add(m.table(), obj) };
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
        // running (it lends a `Gc`), on this thread: no scanner reads the
        // slot (roots §1), which is this live root's.
        unsafe { *self.slot.as_ptr() = value.ptr().as_ptr() };
    }

    /// The object the root holds.
    #[inline]
    fn obj(&self) -> NonNull<u8> {
        // SAFETY: a root is `!Send`, so this is its table's owning thread
        // (no slot is written meanwhile: the scanner only reads), and the
        // table and its chunks live until its last root is dropped; the
        // slot is this live root's, so it holds the object, never null
        // (`add` and `set` write a `Gc`'s object into it, and only the
        // root's drop frees it).
        unsafe { NonNull::new_unchecked(*self.slot.as_ptr()) }
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
        let obj = unsafe { *self.slot.as_ptr() };
        write!(f, "Root({:#x})", obj.addr())
    }
}
