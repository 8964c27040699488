//! Weak slot arrays: an object whose words hold object addresses the
//! collector does not trace, and which it clears when their objects die.
//!
//! This is the weak table of a VM that interns strings (clox's
//! `tableRemoveWhite`, Lua's weak-valued string cache): the table is an
//! ordinary heap object (so the VM's memory is all in the heap), its type has
//! no pointer map (so marking never follows its words), and at the end of
//! every mark, with the world stopped and marking final, each word that holds
//! the address of an unmarked object is overwritten with the table's
//! *tombstone* value. The sweep that follows frees those objects; no word of
//! the array points to freed memory afterwards.
//!
//! # The rules a VM follows
//!
//! 1. The array is a live object without pointers (a `fixed` or `array`
//!    type with an empty pointer map, or a byte array): the VM keeps it
//!    reachable (a root, or a field of a reachable object) and points the
//!    handle at it with [`WeakSlots::set_array`] (again whenever it replaces
//!    the array, e.g. when the table grows).
//! 2. Each word is 0, the tombstone, or the base address of an object of
//!    this heap.
//! 3. An object the VM reads out of the array and keeps (on its stack, in a
//!    field) is passed to [`Mutator::shade`] first: while a mark runs, the
//!    VM may be making the only strong reference to it after its stack was
//!    scanned (the same rule as `WeakRef::get`).
//!
//! Clearing costs one span lookup per non-empty word, in the second pause
//! of each cycle; an intern table of a few thousand strings costs
//! microseconds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use crate::heap::inner::{Heap, HeapInner};
use crate::mark::scan::shade_all;
use crate::mark::source::{RootKind, Source};
use crate::mutator::Mutator;
use crate::object::ObjRef;
use crate::specials::tables::SlotsInner;

/// A handle naming a heap object whose words are weak references (module
/// docs). Made by [`Heap::weak_slots`]; dropping the handle stops the
/// clearing.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// // The table: an array of one-word elements with no pointer map.
/// let table_ty = heap.register_type(TypeDescriptor::array("WeakTable", 1, &[]))?;
/// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
/// let mut m = heap.attach()?;
/// let table = m.alloc(table_ty, 4);
/// let root = m.push_root(Some(table));
/// let slots = heap.weak_slots(1); // 1 marks a cleared slot
/// slots.set_array(&m, Some(table));
/// let kept = m.alloc(string, 3);
/// let kept_root = m.push_root(Some(kept));
/// let dropped = m.alloc(string, 3);
/// // SAFETY: `table` is rooted, `kept` and `dropped` are live.
/// unsafe {
///     m.store_word(table, 0, kept.addr() as u64);
///     m.store_word(table, 1, dropped.addr() as u64);
/// }
/// m.collect();
/// let table = m.root(root).unwrap();
/// // SAFETY: `table` is rooted.
/// unsafe {
///     assert_eq!(m.load_word(table, 0), kept.addr() as u64);
///     assert_eq!(m.load_word(table, 1), 1, "the dead string's slot is a tombstone");
/// }
/// # let _ = kept_root;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WeakSlots {
    heap: Weak<HeapInner>,
    inner: Arc<SlotsInner>,
}

impl std::fmt::Debug for WeakSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakSlots")
            .field("array", &self.inner.array.load(Ordering::Relaxed))
            .field("tombstone", &self.inner.tombstone)
            .finish()
    }
}

impl Heap {
    /// A handle for a weak slot array, with no array yet; `tombstone` is
    /// what a cleared slot is set to (a value that is neither 0 nor an
    /// object address, e.g. 1).
    ///
    /// See [`WeakSlots`] for the contract and an example.
    pub fn weak_slots(&self, tombstone: u64) -> WeakSlots {
        let inner = Arc::new(SlotsInner {
            array: AtomicUsize::new(0),
            tombstone,
        });
        let mut all = self.inner.specials.weak_slots.lock();
        all.retain(|s| s.strong_count() > 0);
        all.push(Arc::downgrade(&inner));
        WeakSlots {
            heap: Arc::downgrade(&self.inner),
            inner,
        }
    }
}

impl WeakSlots {
    /// Names the array whose words the collector clears, or none.
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap, or the array's
    /// type has pointers (its words would be traced, hence strong).
    pub fn set_array(&self, m: &Mutator, array: Option<ObjRef>) {
        m.assert_running();
        let heap = m.inner();
        assert!(
            std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap)),
            "tricolor: WeakSlots used with a mutator of another heap"
        );
        if let Some(a) = array {
            // SAFETY: the caller keeps `a` live (rule 1); a running mutator
            // holds off the sweep that could free it.
            let (ty, _, _) = unsafe { heap.object_type(a) };
            let desc = heap
                .types
                .by_index(ty)
                .expect("tricolor: WeakSlots::set_array: not an object of this heap");
            assert!(
                !desc.has_pointers(),
                "tricolor: a weak slot array must have no pointer map (`{}` has one)",
                desc.name
            );
        }
        // The phase changes only with the world stopped and this mutator
        // is running, so a mark termination sees either the old or the new
        // array, both live.
        self.inner
            .array
            .store(array.map_or(0, ObjRef::addr), Ordering::Release);
    }

    /// The array set last, if any.
    pub fn array(&self) -> Option<ObjRef> {
        ObjRef::from_addr(self.inner.array.load(Ordering::Acquire))
    }

    /// The tombstone value.
    pub fn tombstone(&self) -> u64 {
        self.inner.tombstone
    }
}

impl Mutator {
    /// Shades `obj` if a mark is running: for an object the VM read from a
    /// place the collector does not trace (a [`WeakSlots`] array) and is
    /// about to keep. Outside a mark it does nothing.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 1);
    /// m.shade(s); // no mark is running: nothing to do
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the mutator is in native state.
    pub fn shade(&mut self, obj: ObjRef) {
        self.assert_running();
        let heap = self.inner();
        if heap.phase.marking()
            && !heap
                .barrier_disabled_for_testing
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            shade_all(heap, &[obj.addr()], Source::Root(RootKind::Weak));
        }
    }
}
