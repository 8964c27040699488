//! Safe wrappers of the collector's specials: weak references, finalizers,
//! cleanups, ephemeron tables, and the drop of values with drop glue.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use tricolor_collector::{CleanupHandle, ObjRef, SpecialError, WeakRef};

use crate::gc::Gc;
use crate::heap::Heap;
use crate::mutator::Mutator;
use crate::roots::Root;
use crate::trace::{Trace, Tracer};

/// Registers the drop of the `T` in the fresh object `obj` (see
/// [`Mutator::alloc`]'s drop rules).
pub(crate) fn register_drop<T: Trace + Send>(m: &mut Mutator, obj: ObjRef) {
    /// Drops the `T` the sweep moved out of a dead object into `words`.
    ///
    /// # Safety
    /// `words` holds a `T` moved (bitwise) out of a dead object of `T`'s
    /// type, owned by the caller and dropped once.
    unsafe fn drop_moved<T: Trace + Send>(words: *mut u64) {
        // SAFETY: the caller's contract: an initialised `T`, 8-aligned.
        let value = unsafe { &mut *(words as *mut T) };
        // Null every member first: the objects they named may be freed
        // already, and a `Drop` must not reach them.
        value.trace(&mut Tracer::clear());
        // SAFETY: the caller's contract: dropped once.
        unsafe { std::ptr::drop_in_place(value) };
    }
    // SAFETY: `obj` is a fresh object whose payload holds a `T` (words
    // beyond it are unused), and `drop_moved::<T>` drops exactly that; `T`
    // is `Send`, so the finalizer thread may drop it.
    unsafe { m.raw_mut().set_drop(obj, drop_moved::<T>) }
        .expect("a fresh object takes a drop record");
}

/// Registers the drop of the `Array<E>` in the fresh object `obj`: every
/// element, each one's members nulled first (`array::drop_moved`).
pub(crate) fn register_array_drop<E: Trace + Send>(m: &mut Mutator, obj: ObjRef) {
    // SAFETY: `obj` is a fresh, fully written `Array<E>` object (its length
    // word counts its initialised elements), and `drop_moved::<E>` drops
    // exactly what its payload words hold: the length it reads from them,
    // and that many elements after it (words beyond them are unused). `E`
    // is `Send`, so the finalizer thread may drop them.
    unsafe { m.raw_mut().set_drop(obj, crate::array::drop_moved::<E>) }
        .expect("a fresh object takes a drop record");
}

/// A weak reference: yields its object while the object is reachable, and
/// nothing once a collection has found it unreachable. It does not keep
/// the object alive. Go's `weak.Pointer`.
///
/// Weak references to one object are equal (`==`). `Weak<T>` is `Send` and
/// `Sync` when `T` is both.
///
/// ```
/// use tricolor::{Heap, Trace};
/// #[derive(Trace)] struct Entry(u32);
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let kept = m.alloc(Entry(1));
/// let lost = m.alloc(Entry(2));
/// let (wk, wl) = (kept.get(&m).weak(), lost.get(&m).weak());
/// drop(lost);
/// m.collect();
/// assert_eq!(wk.get(&m).unwrap().0, 1);
/// assert!(wl.get(&m).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Weak<T> {
    raw: WeakRef,
    _t: PhantomData<Arc<T>>,
}

impl<T> PartialEq for Weak<T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<T> Eq for Weak<T> {}

impl<T> std::hash::Hash for Weak<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        Weak {
            raw: self.raw.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weak({:?})", self.raw)
    }
}

impl<T: Trace> Weak<T> {
    /// The object, if no collection has found it unreachable; valid until
    /// `m`'s next GC point (reading it while marking keeps it alive, as a
    /// strong load would).
    ///
    /// # Panics
    /// If `m` belongs to another heap.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let u = m.alloc(Unit);
    /// let w = u.get(&m).weak();
    /// assert!(w.get(&m).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, T>> {
        // SAFETY: a raw call that runs no user code; `m` is running (it is
        // shared-borrowed here, so not inside `native`).
        let obj = self.raw.get(unsafe { m.raw_mut() })?;
        let ptr = NonNull::new(obj.addr() as *mut u8)?;
        // SAFETY: the raw `get` returns a live object of `m`'s heap (it
        // panics for another heap's mutator), live until `m`'s next
        // safepoint; it was made from a `Gc<T>`, so it holds a `T`.
        Some(unsafe { Gc::from_raw(ptr, m) })
    }

    /// Whether a collection has found the object unreachable.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let w = m.alloc(Unit).get(&m).weak();
    /// m.collect();
    /// assert!(w.is_cleared());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_cleared(&self) -> bool {
        self.raw.is_cleared()
    }
}

impl<'m, T: Trace> Gc<'m, T> {
    /// A weak reference to the object.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let u = m.alloc(Unit);
    /// let g = u.get(&m);
    /// assert_eq!(g.weak(), g.weak());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn weak(self) -> Weak<T> {
        // SAFETY: one raw call that runs no user code; the mutator is running.
        let raw = unsafe { self.mutator().raw_mut() }
            .weak_ref(self.obj_ref())
            .expect("a Gc is a live object of its mutator's heap");
        Weak {
            raw,
            _t: PhantomData,
        }
    }

    /// Runs `f` on the heap's finalizer thread once the object is found
    /// unreachable (Go's `runtime.AddCleanup`). `f` does not get the object
    /// (it is freed by then), so it cannot resurrect it; it works for
    /// objects in cycles. Returns a handle that cancels it.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let done = Arc::new(AtomicBool::new(false));
    /// let d = done.clone();
    /// m.alloc(Unit).get(&m).add_cleanup(move || d.store(true, Ordering::SeqCst));
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert!(done.load(Ordering::SeqCst));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_cleanup(self, f: impl FnOnce() + Send + 'static) -> CleanupHandle {
        // SAFETY: one raw call that runs no user code (the closure runs
        // later, on the finalizer thread); the mutator is running.
        unsafe { self.mutator().raw_mut() }
            .add_cleanup(self.obj_ref(), None, move |_, _| f())
            .expect("a Gc is a live object of its mutator's heap")
    }
}

impl<'m, T: Trace + Send + Sync> Gc<'m, T> {
    /// Runs `f` on the heap's finalizer thread once the object is found
    /// unreachable, with the object rooted (Go's `runtime.SetFinalizer`: the
    /// object and everything it reaches are kept for `f`, which may store
    /// the object somewhere reachable again). A cycle of objects with
    /// finalizers is never finalized (use [`add_cleanup`](Gc::add_cleanup)
    /// there). `T` must be `Sync`: the finalizer thread uses the object.
    ///
    /// # Errors
    /// [`SpecialError::AlreadyHasFinalizer`] if the object has one.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use tricolor::{Heap, Trace};
    /// #[derive(Trace)] struct File { fd: u32 }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let closed = Arc::new(AtomicU32::new(0));
    /// let c = closed.clone();
    /// m.alloc(File { fd: 7 }).get(&m).set_finalizer(move |m, file| {
    ///     c.store(file.get(m).fd, Ordering::SeqCst); // "close(7)"
    /// })?;
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert_eq!(closed.load(Ordering::SeqCst), 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_finalizer(
        self,
        f: impl FnOnce(&mut Mutator, Root<T>) + Send + 'static,
    ) -> Result<(), SpecialError> {
        // Not a `Heap`: the heap owns this closure until it runs, so a strong
        // handle in it would keep the heap from ever being dropped (the raw
        // `set_finalizer`'s contract). While a finalizer runs, the heap is
        // alive unless its last handle is being dropped: then it is skipped,
        // as a finalizer that never ran is dropped with its heap.
        let heap = self.mutator().heap().downgrade();
        // SAFETY: one raw call that runs no user code; the mutator is running.
        unsafe { self.mutator().raw_mut() }.set_finalizer(self.obj_ref(), move |raw, obj| {
            let Some(heap) = heap.upgrade() else { return };
            // SAFETY: `raw` is the finalizer thread's running mutator of
            // `heap`, which has no root scanner of its own and is not used
            // while `m` lives.
            let mut m = unsafe { Mutator::borrowed(raw, heap) };
            let ptr = NonNull::new(obj.addr() as *mut u8).expect("objects are not null");
            // SAFETY: the finalized object is live and rooted by the raw
            // finalizer thread while this runs; it holds a `T`.
            let root = unsafe { Root::new(&m, ptr) };
            f(&mut m, root);
        })
    }

    /// Removes the object's finalizer; returns whether it had one.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let u = m.alloc(Unit);
    /// u.get(&m).set_finalizer(|_, _| unreachable!())?;
    /// assert!(u.get(&m).clear_finalizer());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_finalizer(self) -> bool {
        // SAFETY: one raw call that runs no user code; the mutator is running.
        unsafe { self.mutator().raw_mut() }
            .clear_finalizer(self.obj_ref())
            .unwrap_or(false)
    }
}

/// A weak-keyed map from objects of type `K` to objects of type `V`: an
/// entry keeps its value alive only while its key is reachable from
/// elsewhere, and goes when the key does (an ephemeron table: a VM's
/// per-object side tables, property maps keyed by identity).
///
/// `Send` and `Sync` when `K` and `V` are both.
///
/// ```
/// use tricolor::{EphemeronTable, Heap, Trace};
/// #[derive(Trace)] struct Key(u32);
/// #[derive(Trace)] struct Note(&'static str);
///
/// let heap = Heap::new();
/// let table = EphemeronTable::<Key, Note>::new(&heap);
/// let mut m = heap.attach()?;
/// let (k1, k2) = (m.alloc(Key(1)), m.alloc(Key(2)));
/// let (n1, n2) = (m.alloc(Note("one")), m.alloc(Note("two")));
/// table.insert(k1.get(&m), n1.get(&m));
/// table.insert(k2.get(&m), n2.get(&m));
/// drop((n1, n2, k2)); // `k2` unreachable: its entry goes
/// m.collect();
/// assert_eq!(table.get(k1.get(&m)).unwrap().0, "one");
/// assert_eq!(table.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EphemeronTable<K, V> {
    raw: tricolor_collector::EphemeronTable,
    heap: Heap,
    _t: PhantomData<(Arc<K>, Arc<V>)>,
}

impl<K: Trace, V: Trace> EphemeronTable<K, V> {
    /// A new, empty table of `heap`.
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let t = EphemeronTable::<Unit, Unit>::new(&heap);
    /// assert!(t.is_empty());
    /// ```
    pub fn new(heap: &Heap) -> EphemeronTable<K, V> {
        EphemeronTable {
            raw: heap.raw_heap().ephemeron_table(),
            heap: heap.clone(),
            _t: PhantomData,
        }
    }

    fn check<T>(&self, g: Gc<'_, T>, what: &str)
    where
        T: Trace,
    {
        assert!(
            self.heap.same(g.mutator().heap()),
            "tricolor: EphemeronTable::{what} with an object of another heap"
        );
    }

    /// Sets `key`'s value; returns whether the key had one.
    ///
    /// # Panics
    /// If `key` or `value` belongs to another heap or another mutator.
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let t = EphemeronTable::<Unit, Unit>::new(&heap);
    /// let mut m = heap.attach()?;
    /// let (k, v) = (m.alloc(Unit), m.alloc(Unit));
    /// assert!(!t.insert(k.get(&m), v.get(&m)));
    /// assert!(t.insert(k.get(&m), v.get(&m)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn insert<'m>(&self, key: Gc<'m, K>, value: Gc<'m, V>) -> bool {
        self.check(key, "insert");
        assert!(
            std::ptr::eq(key.mutator(), value.mutator()),
            "tricolor: EphemeronTable::insert with a key and a value of different mutators"
        );
        // SAFETY: one raw call that runs no user code; the mutator is running.
        let m = unsafe { key.mutator().raw_mut() };
        self.raw
            .insert(m, key.obj_ref(), value.obj_ref())
            .expect("Gc handles are live objects of this heap")
            .is_some()
    }

    /// `key`'s value, valid until the key's mutator's next GC point.
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let t = EphemeronTable::<Unit, Unit>::new(&heap);
    /// let mut m = heap.attach()?;
    /// let k = m.alloc(Unit);
    /// assert!(t.get(k.get(&m)).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<'m>(&self, key: Gc<'m, K>) -> Option<Gc<'m, V>> {
        self.check(key, "get");
        let m = key.mutator();
        // SAFETY: one raw call that runs no user code; the mutator is running.
        let v = self.raw.get(unsafe { m.raw_mut() }, key.obj_ref())?;
        let ptr = NonNull::new(v.addr() as *mut u8)?;
        // SAFETY: the table returns a live value of this heap (shaded while
        // marking), live until `m`'s next safepoint; only `insert` adds
        // values, all `V`s.
        Some(unsafe { Gc::from_raw(ptr, m) })
    }

    /// Removes `key`'s entry; returns whether it had one.
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let t = EphemeronTable::<Unit, Unit>::new(&heap);
    /// let mut m = heap.attach()?;
    /// let (k, v) = (m.alloc(Unit), m.alloc(Unit));
    /// t.insert(k.get(&m), v.get(&m));
    /// assert!(t.remove(k.get(&m)));
    /// assert!(t.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove(&self, key: Gc<'_, K>) -> bool {
        self.check(key, "remove");
        // SAFETY: one raw call that runs no user code; the mutator is running.
        let m = unsafe { key.mutator().raw_mut() };
        self.raw.remove(m, key.obj_ref()).is_some()
    }

    /// Entries in the table (those whose keys died are removed by the
    /// collection that finds them dead).
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// assert_eq!(EphemeronTable::<Unit, Unit>::new(&heap).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the table has no entry.
    ///
    /// ```
    /// # use tricolor::{EphemeronTable, Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// assert!(EphemeronTable::<Unit, Unit>::new(&heap).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl<K, V> fmt::Debug for EphemeronTable<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EphemeronTable({} entries)", self.raw.len())
    }
}
