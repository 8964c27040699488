//! [`Mutator`]: one thread's access to a heap through the safe API —
//! allocation, the points where the collector may act, native state.

use std::any::TypeId as RustTypeId;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::marker::PhantomData;
use std::mem::{align_of, needs_drop};
use std::ptr::NonNull;

use tricolor_collector::{DescriptorError, GcAllocError, TypeDescriptor, TypeId};

use crate::array::Array;
use crate::gc::payload_of;
use crate::heap::Heap;
use crate::roots::{Root, RootTable, StaysOnItsThread};
use crate::trace::Trace;

/// A thread's access to a [`Heap`]: it allocates, roots, runs the write
/// barrier and answers the collector's requests for the thread.
///
/// # Where the collector may act
///
/// The collector frees nothing and scans nothing of this thread's except
/// at this mutator's **GC points**: [`alloc`](Mutator::alloc) (and
/// [`alloc_array`](Mutator::alloc_array)), [`safepoint`](Mutator::safepoint), [`collect`](Mutator::collect) and
/// [`native`](Mutator::native). Each takes `&mut self`. A [`Gc`](crate::Gc)
/// borrows `&self`, so the borrow checker rejects any `Gc` held across a GC
/// point; what must survive one is held in a [`Root`] (or a
/// [`Global`](crate::Global), or a member of a rooted object). At a GC point
/// the thread may do its share of a collection: its roots are scanned there
/// (by handshake) and it may help mark (an assist). Marking itself runs
/// concurrently on other threads between GC points, kept correct by the
/// write barrier that [`Gc::set`](crate::Gc::set) runs.
///
/// A thread that runs for long without allocating should call
/// [`safepoint`](Mutator::safepoint) now and then (a loop's back edge): a
/// collection waits for every running mutator to reach a GC point, so a
/// thread that never does stalls the others' collections. A thread about to
/// block, sleep or run long foreign code wraps it in
/// [`native`](Mutator::native): in native state the collector scans its
/// roots without waiting for it.
///
/// A mutator is neither `Send` nor `Sync`: it is its thread's.
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Node { next: Member<Node>, value: u64 }
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let list = m.alloc(Node::default());
/// for i in 1..=1000 {
///     let node = m.alloc(Node { value: i, ..Node::default() }); // a GC point
///     let (n, l) = (node.get(&m), list.get(&m));
///     n.set(|n| &n.next, l.get(|l| &l.next));
///     l.set(|l| &l.next, Some(n));
/// }
/// m.collect();
/// let mut sum = 0;
/// let mut cur = list.get(&m).get(|l| &l.next);
/// while let Some(n) = cur {
///     sum += n.value;
///     cur = n.get(|n| &n.next);
/// }
/// assert_eq!(sum, 500_500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Mutator {
    /// Neither `Send` nor `Sync`: a mutator is its thread's.
    _thread: PhantomData<StaysOnItsThread>,
    /// The raw mutator. Owned (boxed) for a mutator from [`Heap::attach`];
    /// borrowed for the one a finalizer runs with. Every use is a short
    /// `&mut` made by [`Mutator::raw_mut`] or by a `&mut self` method, never
    /// held while user code runs.
    raw: NonNull<tricolor_collector::Mutator>,
    /// Whether `raw` came from `Box::into_raw` (freed on drop).
    owned: bool,
    /// This mutator's roots (roots §1).
    table: NonNull<RootTable>,
    heap: Heap,
    /// Types allocated lately, each in the entry its Rust type id's hash
    /// picks ([`type_cache_entry`]): for a type known at compile time the
    /// entry is a constant, so a hit costs one compare. A vacant entry
    /// holds [`Vacant`]'s id, which no allocated type has.
    recent_keys: [Cell<RustTypeId>; TYPE_CACHE_ENTRIES],
    /// The heap's type id of each type in `recent_keys` (apart, so that a
    /// hit reads just the id).
    recent_ids: [Cell<Option<TypeId>>; TYPE_CACHE_ENTRIES],
    /// Every type this mutator has allocated, and its id.
    types: RefCell<HashMap<RustTypeId, TypeId, BuildHasherDefault<TypeIdHasher>>>,
}

/// Entries of a mutator's cache of recent types.
const TYPE_CACHE_ENTRIES: usize = 8;

/// The key of a vacant entry of the cache of recent types: not `Trace`, so
/// never allocated.
struct Vacant;

/// The entry of a mutator's cache of recent types that `key` goes in.
#[inline]
fn type_cache_entry(key: RustTypeId) -> usize {
    let mut h = TypeIdHasher::default();
    key.hash(&mut h);
    h.finish() as usize % TYPE_CACHE_ENTRIES
}

/// A hasher for Rust type ids, which are hashes already: it keeps what the
/// id writes (the standard library writes one `u64` of it), so hashing one
/// whose value is a constant is a constant.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not what `TypeId` writes today; correct for any input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Why an allocation failed ([`Mutator::try_alloc`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum AllocError {
    /// The type could not be registered with the heap (the type table is
    /// full: [`DescriptorError::TooManyTypes`]).
    Type(DescriptorError),
    /// The heap refused the allocation (memory limit, out of memory, a
    /// failed collection).
    Heap(GcAllocError),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::Type(e) => write!(f, "cannot register the type: {e}"),
            AllocError::Heap(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AllocError {}

impl Mutator {
    pub(crate) fn owned(raw: tricolor_collector::Mutator, heap: Heap) -> Mutator {
        let raw = NonNull::from(Box::leak(Box::new(raw)));
        // SAFETY: just made, owned.
        unsafe { Mutator::install(raw, true, heap) }
    }

    /// A safe mutator over `raw`, borrowed for the life of the result (a
    /// finalizer's).
    ///
    /// # Safety
    /// `raw` is a running mutator of `heap`'s raw heap, on this thread, with
    /// no root scanner; it outlives the result and is not used meanwhile.
    pub(crate) unsafe fn borrowed(raw: &mut tricolor_collector::Mutator, heap: Heap) -> Mutator {
        // SAFETY: the caller's contract.
        unsafe { Mutator::install(NonNull::from(raw), false, heap) }
    }

    /// # Safety
    /// `raw` is valid, running, of `heap`, and this thread's; `owned` says
    /// whether it came from `Box::leak`.
    unsafe fn install(
        raw: NonNull<tricolor_collector::Mutator>,
        owned: bool,
        heap: Heap,
    ) -> Mutator {
        let table = RootTable::new();
        let m = Mutator {
            _thread: PhantomData,
            raw,
            owned,
            table,
            heap,
            recent_keys: std::array::from_fn(|_| Cell::new(RustTypeId::of::<Vacant>())),
            recent_ids: Default::default(),
            types: RefCell::new(HashMap::default()),
        };
        // SAFETY: no other reference to the raw mutator exists yet.
        unsafe { m.raw_mut() }.set_root_scanner(Some(RootTable::scanner(table)));
        m
    }

    /// The raw mutator.
    ///
    /// # Safety
    /// No other reference to the raw mutator may be alive while the result
    /// is: callers use it for one raw call that runs no user code.
    #[inline]
    #[allow(clippy::mut_from_ref)] // the contract above is the exclusivity proof
    pub(crate) unsafe fn raw_mut(&self) -> &mut tricolor_collector::Mutator {
        // SAFETY: `raw` is valid while `self` is; exclusivity is the
        // caller's contract (the mutator is `!Sync`, so it is one thread's).
        unsafe { &mut *self.raw.as_ptr() }
    }

    /// The raw mutator underneath, for what the safe API does not cover.
    ///
    /// # Safety
    /// The raw API has calls that are safe on their own but break the safe
    /// API's rules: the caller must not replace or remove the root scanner
    /// ([`set_root_scanner`](tricolor_collector::Mutator::set_root_scanner):
    /// it reports this mutator's [`Root`]s), leave the mutator in native
    /// state, or store into objects of the safe API other than through
    /// their members' rules (a live object of the member's type, or null).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// // SAFETY: a statistics call; nothing is stored or replaced.
    /// let id = unsafe { m.raw() }.id();
    /// # let _ = id;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn raw(&mut self) -> &mut tricolor_collector::Mutator {
        self.raw_excl()
    }

    /// The raw mutator, through `&mut self` (so no `Gc` is alive).
    fn raw_excl(&mut self) -> &mut tricolor_collector::Mutator {
        // SAFETY: `&mut self`: no `Gc` (which borrows `self`) is alive, and
        // no other reference to the raw mutator is.
        unsafe { self.raw_mut() }
    }

    /// This mutator's exact allocation figures: live objects and bytes
    /// allocated minus freed, its own cache flushed first.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let _kept = m.alloc(Unit);
    /// assert_eq!(m.heap_alloc().objects, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap_alloc(&mut self) -> tricolor_collector::HeapAlloc {
        self.raw_excl().heap_alloc()
    }

    pub(crate) fn table(&self) -> NonNull<RootTable> {
        self.table
    }

    /// The heap this mutator belongs to.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let m = heap.attach()?;
    /// assert!(m.heap().same(&heap));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn heap(&self) -> &Heap {
        &self.heap
    }

    /// Allocates an object holding `value` and returns it rooted. A GC
    /// point: the collector may run its share of a collection here.
    ///
    /// `value`'s members are all null (a member cannot be set outside the
    /// heap); set them through the result. `T` must be `Send` because, if
    /// it has drop glue, its `Drop` runs on the heap's finalizer thread once
    /// the object is found unreachable ([`Mutator::alloc`]'s drop rules,
    /// below).
    ///
    /// # Drop
    ///
    /// A type with drop glue (a `String`, a `Vec`, a `Box`, its own `Drop`)
    /// is dropped after its object is found unreachable: the sweep moves the
    /// value out of the object and the finalizer thread drops the moved
    /// value, with every member of it nulled first. A `Drop` can therefore
    /// never reach another object: its members read as null, and it has no
    /// mutator to load through (the finalizer thread's own mutator is not
    /// handed to it, and a thread cannot attach twice). Values without drop
    /// glue cost nothing at sweep; with it, each object carries a record
    /// (one allocation of the record table, as a cleanup does).
    ///
    /// # Panics
    /// If the allocation fails ([`Mutator::try_alloc`] returns the error
    /// instead), or if `T`'s alignment exceeds 8 bytes (a compile-time
    /// error where the call is monomorphised).
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    /// #[derive(Trace)]
    /// struct Greeting { text: String }
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let g = m.alloc(Greeting { text: "hello".to_string() });
    /// assert_eq!(g.get(&m).text, "hello");
    /// drop(g);
    /// m.collect(); // unreachable: the String is dropped on the finalizer thread
    /// m.wait_for_finalizers();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn alloc<T: Trace + Send>(&mut self, value: T) -> Root<T> {
        match self.alloc_object(value) {
            // SAFETY: live (fresh, no safepoint since), of this heap,
            // holding an initialised `T`; the mutator is running.
            Ok(obj) => unsafe { Root::new(self, obj) },
            Err(e) => alloc_failed::<T>(e),
        }
    }

    /// [`alloc`](Mutator::alloc), returning the error instead of panicking.
    ///
    /// # Errors
    /// [`AllocError`] if the type cannot be registered or the heap refuses
    /// the allocation (a memory limit, say).
    ///
    /// ```
    /// use tricolor::{raw::Config, Heap, Trace};
    /// #[derive(Trace)]
    /// struct Big([u64; 1024]);
    /// // A hard cap on the heap's reserved memory (arenas are 64 MiB each).
    /// let heap = Heap::with_config(Config { max_heap_bytes: 64 << 20, ..Config::default() });
    /// let mut m = heap.attach()?;
    /// let mut kept = Vec::new();
    /// let err = loop {
    ///     match m.try_alloc(Big([0; 1024])) {
    ///         Ok(r) => kept.push(r),
    ///         Err(e) => break e,
    ///     }
    /// };
    /// assert!(err.to_string().contains("limit"), "{err}");
    /// assert!(kept.len() > 1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_alloc<T: Trace + Send>(&mut self, value: T) -> Result<Root<T>, AllocError> {
        let obj = self.alloc_object(value)?;
        // SAFETY: live (fresh, no safepoint since), of this heap, holding an
        // initialised `T`; the mutator is running.
        Ok(unsafe { Root::new(self, obj) })
    }

    /// An object holding `value`, not yet rooted: what [`Mutator::alloc`]
    /// and [`Mutator::try_alloc`] share. Always inlined into both, so that
    /// on the fast path the `Result` is a branch, not a value built in
    /// memory (`alloc` used to call `try_alloc` and unpack its
    /// `Result<Root<T>, AllocError>` from the stack).
    #[inline(always)]
    fn alloc_object<T: Trace + Send>(&mut self, value: T) -> Result<NonNull<u8>, AllocError> {
        const {
            assert!(
                align_of::<T>() <= 8,
                "tricolor: a heap object's payload is 8-byte aligned; this type needs more"
            )
        };
        let ty = match self.recent_type_id::<T>() {
            Some(ty) => ty,
            None => self
                .type_id_slow::<T>(crate::heap::descriptor::<T>)
                .map_err(AllocError::Type)?,
        };
        // SAFETY: `&mut self`: no other reference to the raw mutator.
        let obj = unsafe { self.raw_mut() }
            .try_alloc(ty, 0)
            .map_err(AllocError::Heap)?;
        let ptr = NonNull::new(obj.addr() as *mut u8).expect("objects are not null");
        // SAFETY: a fresh object of `T`'s type: its payload is at least
        // `size_of::<T>()` bytes, 8-aligned (alignment checked above), zeroed
        // and ours alone until published; `value`'s members are null (a
        // member outside the heap always is), so the write stores no pointer
        // the barrier should have seen.
        unsafe { std::ptr::write(payload_of(obj.addr()) as *mut T, value) };
        if needs_drop::<T>() {
            crate::specials::register_drop::<T>(self, obj);
        }
        Ok(ptr)
    }

    /// Allocates an array of `len` elements, element `i` being `f(i)`, and
    /// returns it rooted ([`Array`]). A GC point, as [`alloc`](Mutator::alloc)
    /// (before `f` runs: none happens while it does).
    ///
    /// The elements are written straight into the object, in order; their
    /// members are null, as any value's built outside the heap, and are set
    /// through [`Gc::set_at`](crate::Gc::set_at). `E` must be `Send` for
    /// [`alloc`](Mutator::alloc)'s reason: an element type with drop glue is
    /// dropped on the heap's finalizer thread once the array is found
    /// unreachable (every element, members nulled first). If `f` panics,
    /// the elements made so far are dropped at once and the object is left
    /// as garbage.
    ///
    /// `f` runs between GC points of this mutator, so a long one delays
    /// other threads' collections as any long stretch without a safepoint
    /// does.
    ///
    /// # Panics
    /// If the allocation fails ([`Mutator::try_alloc_array`] returns the
    /// error instead), if `f` panics, or if `E`'s alignment exceeds 8 bytes
    /// (a compile-time error where the call is monomorphised).
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Bucket { key: Member<Key>, hash: u64 }
    /// #[derive(Trace)]
    /// struct Key(String);
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let table = m.alloc_array(8, |i| Bucket { key: Member::null(), hash: i as u64 });
    /// let k = m.alloc(Key("tri".into()));
    /// table.get(&m).set_at(3, |b| &b.key, Some(k.get(&m)));
    /// drop(k);
    /// m.collect();
    /// let t = table.get(&m);
    /// assert_eq!(t.len(), 8);
    /// assert_eq!(t.get_at(3, |b| &b.key).unwrap().0, "tri");
    /// assert_eq!(t.iter().map(|b| b.hash).sum::<u64>(), 28);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn alloc_array<E: Trace + Send>(
        &mut self,
        len: usize,
        f: impl FnMut(usize) -> E,
    ) -> Root<Array<E>> {
        match self.alloc_array_object(len, f) {
            // SAFETY: live (fresh, no safepoint since), of this heap, an
            // initialised `Array<E>`; the mutator is running.
            Ok(obj) => unsafe { Root::new(self, obj) },
            Err(e) => alloc_failed::<Array<E>>(e),
        }
    }

    /// [`alloc_array`](Mutator::alloc_array), returning the error instead of
    /// panicking when the allocation fails (`f` is not called then).
    ///
    /// # Errors
    /// [`AllocError`] if the type cannot be registered, the length is too
    /// large (the size overflows, or the collector's length of the array,
    /// its elements or its data words, exceeds `u32::MAX`), or the heap
    /// refuses the allocation (a memory limit, say).
    ///
    /// ```
    /// use tricolor::{raw::Config, Heap};
    /// let heap = Heap::with_config(Config { max_object_size: 1 << 20, ..Config::default() });
    /// let mut m = heap.attach()?;
    /// assert!(m.try_alloc_array(1 << 20, |_| 0u64).is_err(), "8 MiB: over the limit");
    /// assert!(m.try_alloc_array(usize::MAX, |_| 0u64).is_err(), "the size overflows");
    /// let small = m.try_alloc_array(1000, |i| i as u64)?;
    /// assert_eq!(small.get(&m).as_slice()[999], 999);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_alloc_array<E: Trace + Send>(
        &mut self,
        len: usize,
        f: impl FnMut(usize) -> E,
    ) -> Result<Root<Array<E>>, AllocError> {
        let obj = self.alloc_array_object(len, f)?;
        // SAFETY: live (fresh, no safepoint since), of this heap, an
        // initialised `Array<E>`; the mutator is running.
        Ok(unsafe { Root::new(self, obj) })
    }

    /// An `Array<E>` object of `len` elements made by `f`, not yet rooted:
    /// what [`Mutator::alloc_array`] and [`Mutator::try_alloc_array`] share.
    fn alloc_array_object<E: Trace + Send>(
        &mut self,
        len: usize,
        f: impl FnMut(usize) -> E,
    ) -> Result<NonNull<u8>, AllocError> {
        const {
            assert!(
                align_of::<E>() <= 8,
                "tricolor: a heap object's payload is 8-byte aligned; this type needs more"
            )
        };
        let ty = match self.recent_type_id::<Array<E>>() {
            Some(ty) => ty,
            None => self
                .type_id_slow::<Array<E>>(crate::array::descriptor::<E>)
                .map_err(AllocError::Type)?,
        };
        let units = crate::array::units::<E>(len).ok_or_else(|| {
            AllocError::Heap(GcAllocError::BadLength {
                type_name: std::any::type_name::<Array<E>>().to_string(),
                len,
                reason: "the size overflows",
            })
        })?;
        // SAFETY: `&mut self`: no other reference to the raw mutator.
        let obj = unsafe { self.raw_mut() }
            .try_alloc(ty, units)
            .map_err(AllocError::Heap)?;
        let ptr = NonNull::new(obj.addr() as *mut u8).expect("objects are not null");
        // SAFETY: a fresh object of `Array<E>`'s type made for `len`
        // elements (`units`), zeroed and unpublished; `&mut self` is held
        // until it returns, so `f` cannot reach this mutator's GC points.
        unsafe { crate::array::init(ptr, len, f) };
        if needs_drop::<E>() {
            crate::specials::register_array_drop::<E>(self, obj);
        }
        Ok(ptr)
    }

    /// `T`'s type id in this heap if the cache of recent types has it.
    ///
    /// Apart from the slow path, and an `Option`, so that the id's fields
    /// stay in registers: read into a `Result<TypeId, _>`, the id was put
    /// together on the stack from byte stores and read back whole, a failed
    /// store-to-load forward on every allocation (`alloc` fell from 30 % to
    /// 12 % of binary-trees' samples without it).
    #[inline]
    fn recent_type_id<T: 'static>(&self) -> Option<TypeId> {
        let key = RustTypeId::of::<T>();
        let entry = type_cache_entry(key);
        if self.recent_keys[entry].get() == key {
            self.recent_ids[entry].get()
        } else {
            None
        }
    }

    /// `T`'s type id in this heap, when the cache of recent types does not
    /// have it: this mutator's map, or the heap's registry (registering
    /// `descriptor()` for `T` on first use).
    #[cold]
    #[inline(never)]
    fn type_id_slow<T: 'static>(
        &self,
        descriptor: fn() -> TypeDescriptor,
    ) -> Result<TypeId, DescriptorError> {
        let key = RustTypeId::of::<T>();
        let id = self.types.borrow().get(&key).copied();
        let id = match id {
            Some(id) => id,
            None => {
                let id = self.heap.type_id_of::<T>(descriptor)?;
                self.types.borrow_mut().insert(key, id);
                id
            }
        };
        let entry = type_cache_entry(key);
        self.recent_keys[entry].set(key);
        self.recent_ids[entry].set(Some(id));
        Ok(id)
    }

    /// A GC point with nothing else to do: answers a pending request of the
    /// collector (a stack scan, a stop) and may assist marking. Call it at a
    /// long loop's back edge if the loop does not allocate.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// for _ in 0..1000 {
    ///     // ... work that allocates nothing ...
    ///     m.safepoint();
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn safepoint(&mut self) {
        self.raw_excl().safepoint();
    }

    /// Runs a full collection and its sweep; returns when both are done. A
    /// GC point.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// #[derive(Trace)] struct Blob([u64; 8]);
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// for _ in 0..100 { m.alloc(Blob([0; 8])); }
    /// m.collect();
    /// assert_eq!(m.heap_alloc().objects, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn collect(&mut self) {
        self.raw_excl().collect();
    }

    /// Runs `f` in native state: the thread promises not to touch the heap,
    /// and the collector works around it instead of waiting for it (its
    /// roots are scanned from another thread). Wrap blocking calls, sleeps
    /// and long foreign code in it. A GC point on the way in and out.
    ///
    /// `f` cannot use this mutator: `native` borrows it mutably, and every
    /// `Gc` borrows it. A [`Root`] dropped inside `f` keeps its object until
    /// `f` returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// let other = heap.clone();
    /// let t = std::thread::spawn(move || other.collect()); // needs no help from `m`
    /// m.native(|| {
    ///     std::thread::sleep(Duration::from_millis(10));
    ///     // Blocking, so in native state too: a collection still under way
    ///     // would wait for a running `m` forever.
    ///     t.join().unwrap()
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn native<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Leave<'a>(&'a mut Mutator);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.raw_excl().leave_native();
                // SAFETY: our table, our thread; running again.
                unsafe { RootTable::set_native(self.0.table, false) };
            }
        }
        self.raw_excl().enter_native();
        // SAFETY: our table, our thread.
        unsafe { RootTable::set_native(self.table, true) };
        let _leave = Leave(self);
        f()
    }

    /// Waits until every finalizer, cleanup and drop queued so far has run
    /// (in native state meanwhile).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let mut m = heap.attach()?;
    /// m.wait_for_finalizers(); // nothing queued: returns at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_finalizers(&mut self) {
        self.raw_excl().wait_for_finalizers();
    }

    /// Roots alive on this mutator and root slots in use (for tests and
    /// leak hunting: they differ only while a root dropped in native state
    /// still holds its slot).
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(Unit);
    /// assert_eq!(m.root_counts(), (1, 1));
    /// drop(a);
    /// assert_eq!(m.root_counts(), (0, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn root_counts(&self) -> (usize, usize) {
        // SAFETY: our table, our thread.
        unsafe { RootTable::counts(self.table) }
    }
}

#[cold]
#[inline(never)]
fn alloc_failed<T>(e: AllocError) -> ! {
    panic!(
        "tricolor: allocating a `{}` failed: {e}",
        std::any::type_name::<T>()
    )
}

impl Drop for Mutator {
    fn drop(&mut self) {
        self.raw_excl().set_root_scanner(None);
        // SAFETY: the scanner is gone; our table, our thread.
        unsafe { RootTable::detach(self.table) };
        if self.owned {
            // SAFETY: `raw` came from `Box::leak` in `owned`, and nothing
            // else refers to it any more.
            drop(unsafe { Box::from_raw(self.raw.as_ptr()) });
        }
    }
}

impl fmt::Debug for Mutator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mutator({:?})", self.heap)
    }
}
