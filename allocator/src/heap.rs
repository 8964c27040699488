//! The page heap (Go's `mheap`): arenas, the page allocator, span metadata,
//! large objects, the sweep generation, sweeping and the scavenger.
//!
//! # Locking
//!
//! One mutex, the *heap lock*, protects the arena list, the free runs, the
//! dirty bits and the span-metadata pool. It is taken only on slow paths:
//! making or freeing a span, growing, scavenging. Centrals have a lock each;
//! the order is central → heap (a central may call into the heap while
//! holding nothing of its own: it drops its lock first, so in practice the
//! locks never nest). Caches take no lock on the fast path.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::arena::{Arena, ArenaIndex, ARENA_SIZE};
use crate::central::Central;
use crate::error::AllocError;
use crate::pages::{DirtyBits, FreeRuns};
use crate::sizeclass::{
    ObjectKind, SizeClass, SpanClass, ALL_SPAN_CLASSES, NUM_OWN_CLASSES, NUM_SIZE_CLASSES,
    PAGE_SHIFT, PAGE_SIZE,
};
use crate::span::{Span, SpanPtr, SpanState, SweepOutcome};
use crate::stats::{ClassStats, HeapStats};
use crate::{memory, os};

/// Unswept spans a cache refill sweeps, at most, before it takes fresh pages.
const REFILL_SWEEP_BUDGET: usize = 100;

/// Page-heap configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most address space the heap may reserve, in bytes. Growing past it
    /// fails with [`AllocError::HeapLimit`]. Default: 1 TiB (address space is
    /// cheap; this is a guard against runaway growth, not a memory limit).
    pub max_heap_bytes: usize,
    /// Largest single object, in bytes. Default: 64 GiB.
    pub max_object_size: usize,
    /// Fill freed objects with [`POISON_WORD`](crate::POISON_WORD) when they
    /// are swept, so a use after free reads an unmistakable pattern.
    /// Default: off.
    pub poison: bool,
    /// Least number of bytes committed at once when the heap grows.
    /// Default: 1 MiB.
    pub commit_chunk: usize,
    /// Bytes from the first byte of a slot of a shared span class (or of a
    /// large object's span) to the address its object is known by:
    /// [`ObjectRef::base`], [`Span::object_addr`](crate::Span::object_addr)
    /// and the lookups all use it. A collector that keeps a header word
    /// before each object's fields sets it to 8, so that an object is
    /// known by the address of its first field. Slots of such a heap are
    /// at least `object_offset + 8` bytes, so that the object's address
    /// lies inside its slot. Own classes set their own
    /// ([`PageHeap::own_class`]). Default: 0.
    pub object_offset: usize,
    /// Keep per-object ages for a generational collector: every span gets
    /// the age bitmaps ([`Age`](crate::Age)), which each sweep advances
    /// (see [`Span`](crate::Span)'s module docs). Default: off (no bitmaps,
    /// no cost).
    pub generational: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_heap_bytes: 1 << 40,
            max_object_size: 64 << 30,
            poison: false,
            commit_chunk: 1 << 20,
            object_offset: 0,
            generational: false,
        }
    }
}

/// An arena and the page-heap state kept for it under the heap lock.
struct ArenaRecord {
    arena: NonNull<Arena>,
    /// Pages committed from the start of the arena (a high-water mark).
    committed: usize,
    dirty: DirtyBits,
}

impl ArenaRecord {
    fn arena(&self) -> &Arena {
        // SAFETY: the arena was leaked from a Box in `grow` and is freed only
        // when the page heap is dropped, which ends every borrow of it.
        unsafe { self.arena.as_ref() }
    }
}

/// Everything the heap lock protects.
struct Locked {
    arenas: Vec<ArenaRecord>,
    free: FreeRuns,
    /// Every span-metadata block ever made (owned; freed on drop).
    all_spans: Vec<SpanPtr>,
    /// Free span-metadata blocks ready for reuse.
    span_pool: Vec<SpanPtr>,
    /// Free pages that may hold non-zero data (resident, not yet scavenged).
    dirty_free_pages: usize,
}

// SAFETY: the raw arena pointers in `Locked` refer to arenas owned by the page
// heap for its whole life; they are only dereferenced under the heap lock or
// through shared references to immutable/atomic data.
unsafe impl Send for Locked {}

/// One counter per size class.
struct PerClass([AtomicU64; NUM_SIZE_CLASSES]);

impl Default for PerClass {
    fn default() -> Self {
        PerClass(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl std::ops::Index<usize> for PerClass {
    type Output = AtomicU64;
    fn index(&self, i: usize) -> &AtomicU64 {
        &self.0[i]
    }
}

/// Statistics counters, updated with relaxed atomics off the fast path.
#[derive(Default)]
struct Counters {
    reserved: AtomicUsize,
    committed: AtomicUsize,
    in_use: AtomicUsize,
    dirty_free: AtomicUsize,
    released_total: AtomicU64,
    spans_in_use: AtomicUsize,
    /// Per size class (class 0 counts large objects): objects allocated and freed.
    nmalloc: PerClass,
    nfree: PerClass,
    /// Large objects: bytes allocated and freed.
    large_bytes_malloc: AtomicU64,
    large_bytes_free: AtomicU64,
    spans_swept: AtomicU64,
    spans_swept_lazily: AtomicU64,
    /// Bytes (slot sizes) of the objects the current sweep cycle's sweeps
    /// left old ([`SweepOutcome::old`]); reset when a sweep cycle starts.
    old_bytes: AtomicU64,
    /// Bytes (slot sizes) of the objects the current sweep cycle's sweeps
    /// found marked for the first time ([`SweepOutcome::first_survivors`]);
    /// reset when a sweep cycle starts.
    first_survivor_bytes: AtomicU64,
}

/// The page heap: the allocator's root object, shared by every [`Cache`](crate::Cache).
#[doc(alias = "mheap")]
pub struct PageHeap {
    config: Config,
    index: ArenaIndex,
    locked: Mutex<Locked>,
    centrals: Box<[Central]>,
    /// The object offset and the owner's tag of each own class handed out
    /// so far ([`own_class`](PageHeap::own_class)), by own number - 1.
    /// Grows under its lock; read when a span of the class is made.
    own_classes: Mutex<Vec<(usize, u32)>>,
    /// The heap's sweep generation `h` (see [`span`](crate::span) for the
    /// table). Advanced by 2 in `start_sweep_cycle`, holding `gate` for
    /// writing and the heap lock.
    sweepgen: AtomicU32,
    /// Held for reading by every operation that reads `sweepgen` and acts on
    /// the value (sweeping a span, refilling or releasing a cache span, making
    /// a large object), and for writing while `sweepgen` advances. So no such
    /// operation straddles two generations: an advance waits for the ones in
    /// flight (Go's `sweep.active` drain does the same job).
    gate: RwLock<()>,
    /// Spans still to be swept in this cycle. Set when a cycle starts,
    /// decremented once per span swept.
    unswept: AtomicUsize,
    /// Spans currently held by caches.
    cached_spans: AtomicUsize,
    /// The central `sweep_one` starts at: the last one it found work in.
    sweep_cursor: AtomicUsize,
    /// Whether this sweep cycle keeps the mark bits (sticky mark bits: a
    /// generational minor cycle comes next). Written by
    /// `start_sweep_cycle_keeping_marks` with `gate` held for writing, read
    /// by every sweep of the cycle under `gate` for reading.
    keep_marks: AtomicBool,
    /// Whether this sweep cycle makes every survivor old, a first survival
    /// included ([`Age`](crate::Age); generational heaps). Written and read
    /// as `keep_marks`.
    tenure_first: AtomicBool,
    /// What the sweep does with specials of dead objects; set once by the
    /// collector before any object has a special.
    sweep_hook: std::sync::OnceLock<Box<dyn crate::span::SweepHook>>,
    counters: Counters,
}

impl PageHeap {
    /// Makes an empty page heap. Nothing is reserved until the first allocation.
    pub fn new(config: Config) -> Arc<PageHeap> {
        Arc::new(PageHeap {
            config,
            index: ArenaIndex::new(),
            locked: Mutex::new(Locked {
                arenas: Vec::new(),
                free: FreeRuns::default(),
                all_spans: Vec::new(),
                span_pool: Vec::new(),
                dirty_free_pages: 0,
            }),
            centrals: (0..ALL_SPAN_CLASSES).map(|_| Central::new()).collect(),
            own_classes: Mutex::new(Vec::new()),
            // Start at 4 so that `h - 2` never wraps below zero in practice;
            // the arithmetic wraps correctly anyway.
            sweepgen: AtomicU32::new(4),
            gate: RwLock::new(()),
            unswept: AtomicUsize::new(0),
            cached_spans: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
            keep_marks: AtomicBool::new(false),
            tenure_first: AtomicBool::new(false),
            sweep_hook: std::sync::OnceLock::new(),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Installs the hook the sweep calls with the specials of dead objects
    /// (see [`SweepHook`](crate::SweepHook)). Set once, before any special
    /// is added.
    ///
    /// # Panics
    /// If a hook is already installed.
    pub fn set_sweep_hook(&self, hook: Box<dyn crate::span::SweepHook>) {
        if self.sweep_hook.set(hook).is_err() {
            panic!("PageHeap::set_sweep_hook: a sweep hook is already installed");
        }
    }

    /// The current sweep generation `h`.
    #[inline]
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Acquire)
    }

    /// Holds the sweep generation still; see the `gate` field.
    pub(crate) fn sweep_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read()
    }

    /// Hands out a new own span class for objects of `size` bytes and
    /// `kind`, whose objects are known by their slot's address plus
    /// `object_offset` bytes: a separate set of spans, swept and cached
    /// like any other, whose owner knows every object in them for its own.
    /// Each span of the class carries `tag` ([`Span::own_tag`](crate::Span::own_tag)):
    /// a collector gives a class to each type whose objects carry no
    /// header, tagged with the type's index, and reads the type from the
    /// span.
    /// `None` when every one of the [`NUM_OWN_CLASSES`] classes is taken,
    /// or `size` is not a small size (the caller then uses a shared class).
    ///
    /// ```
    /// use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap};
    ///
    /// let heap = PageHeap::new(Config::default());
    /// let pairs = heap.own_class(16, ObjectKind::Scan, 0, 7).expect("a class is free");
    /// let mut cache = Cache::new(heap.clone());
    /// let p = cache.alloc_class(pairs)?.as_ptr() as usize;
    /// let shared = cache.alloc(16, ObjectKind::Scan)?.as_ptr() as usize;
    /// let span = heap.span_of(p).unwrap();
    /// assert_eq!(span.span_class(), pairs);
    /// assert_eq!(span.span_class().own(), Some(1));
    /// assert_eq!(span.own_tag(), Some(7));
    /// assert_eq!(heap.span_of(shared).unwrap().own_tag(), None);
    /// # Ok::<(), tricolor_allocator::AllocError>(())
    /// ```
    pub fn own_class(
        &self,
        size: usize,
        kind: ObjectKind,
        object_offset: usize,
        tag: u32,
    ) -> Option<SpanClass> {
        let class = SizeClass::for_size(size)?;
        assert!(
            object_offset.is_multiple_of(8) && object_offset < class.size(),
            "an own class's object offset {object_offset} must be a word inside its {}-byte slot",
            class.size()
        );
        let mut own = self.own_classes.lock();
        if own.len() == NUM_OWN_CLASSES {
            return None;
        }
        own.push((object_offset, tag));
        Some(SpanClass::new_own(class, kind, own.len()))
    }

    pub(crate) fn central(&self, spc: SpanClass) -> &Central {
        &self.centrals[spc.index()]
    }

    /// Finds a span with free slots for a cache (Go's `cacheSpan`): a swept
    /// partial span; else an unswept span, swept here; else fresh pages.
    /// The span comes back swept and marked cached (`h + 3`). The caller holds
    /// the sweep gate.
    pub(crate) fn cache_span(&self, spc: SpanClass) -> Result<SpanPtr, AllocError> {
        let central = self.central(spc);
        let h = self.sweepgen();
        let span = match central.pop_swept_partial(h) {
            Some(span) => span,
            None => match self.sweep_for_space(central, h) {
                Some(span) => span,
                None => self.alloc_span(spc.size_class().npages(), spc)?,
            },
        };
        debug_assert!(span.alloc_count() < span.nelems(), "cached a full span");
        span.set_cached(h);
        self.note_cached(1);
        Ok(span)
    }

    /// Sweeps unswept spans of this class until one has a free slot.
    fn sweep_for_space(&self, central: &Central, h: u32) -> Option<SpanPtr> {
        for _ in 0..REFILL_SWEEP_BUDGET {
            let span = central.pop_unswept(h)?;
            let swept = self.sweep_span(span, h);
            let (live, freed) = swept.as_ref().map_or((0, 0), |o| (o.live, o.freed));
            let found = if live == 0 && freed > 0 {
                self.free_span(span);
                None
            } else if span.alloc_count() < span.nelems() {
                Some(span)
            } else {
                central.push_swept(span, h, true);
                None
            };
            if swept.is_some() {
                self.note_lazy_sweep();
                self.note_span_done();
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Files a span after it was swept: freed if nothing survived, else on
    /// the swept partial or full list.
    pub(crate) fn place_swept(
        &self,
        central: &Central,
        span: SpanPtr,
        outcome: &SweepOutcome,
        h: u32,
    ) {
        if outcome.live == 0 && outcome.freed > 0 {
            self.free_span(span);
        } else {
            central.push_swept(span, h, span.alloc_count() == span.nelems());
        }
    }

    /// Takes back a span from a cache (Go's `uncacheSpan`). The cache has
    /// already written its allocation state back into the span, and holds the
    /// sweep gate.
    pub(crate) fn uncache_span(&self, central: &Central, span: SpanPtr) {
        let h = self.sweepgen();
        span.set_uncached(h);
        self.note_cached(-1);
        central.push_swept(span, h, span.alloc_count() == span.nelems());
    }

    // ---- spans ----------------------------------------------------------------

    /// Makes a span of `npages` pages for `spc`, growing the heap if needed.
    pub(crate) fn alloc_span(&self, npages: usize, spc: SpanClass) -> Result<SpanPtr, AllocError> {
        let mut l = self.locked.lock();
        let base = match l.free.alloc(npages) {
            Some(base) => base,
            None => {
                self.grow(&mut l, npages)?;
                l.free.alloc(npages).expect("grow made room")
            }
        };
        let (arena_id, first) = {
            let arena = self.arena_of(base).expect("free pages lie in an arena");
            (arena.id, arena.page_of(base))
        };
        let dirty = l.arenas[arena_id].dirty.count(first, npages);
        l.dirty_free_pages -= dirty;
        let span = match l.span_pool.pop() {
            Some(span) => span,
            None => {
                let span = SpanPtr::new(NonNull::from(Box::leak(Box::new(Span::new_free(
                    self.config.generational,
                )))));
                l.all_spans.push(span);
                span
            }
        };
        let (object_offset, tag) = match spc.own() {
            None => (self.config.object_offset, 0),
            Some(n) => self.own_classes.lock()[n - 1],
        };
        span.init(
            base,
            npages,
            spc,
            (object_offset, tag),
            self.sweepgen(),
            dirty > 0,
        );
        l.arenas[arena_id]
            .arena()
            .set_spans(first, npages, span.as_ptr());
        self.counters.in_use.fetch_add(npages * PAGE_SIZE, Relaxed);
        self.counters.spans_in_use.fetch_add(1, Relaxed);
        self.counters
            .dirty_free
            .store(l.dirty_free_pages * PAGE_SIZE, Relaxed);
        Ok(span)
    }

    /// Returns a swept span with no live objects to the page heap.
    pub(crate) fn free_span(&self, span: SpanPtr) {
        let (base, npages) = (span.base(), span.npages());
        let mut l = self.locked.lock();
        let (arena_id, first) = {
            let arena = self.arena_of(base).expect("span lies in an arena");
            (arena.id, arena.page_of(base))
        };
        l.arenas[arena_id]
            .arena()
            .set_spans(first, npages, std::ptr::null_mut());
        span.retire();
        l.span_pool.push(span);
        l.arenas[arena_id].dirty.set(first, npages, true);
        l.dirty_free_pages += npages;
        l.free.free(base, npages, |a, b| self.same_arena(a, b));
        self.counters.in_use.fetch_sub(npages * PAGE_SIZE, Relaxed);
        self.counters.spans_in_use.fetch_sub(1, Relaxed);
        self.counters
            .dirty_free
            .store(l.dirty_free_pages * PAGE_SIZE, Relaxed);
    }

    /// Commits at least `npages` more pages, reserving a new arena if none
    /// has room. Called with the heap lock held.
    fn grow(&self, l: &mut Locked, npages: usize) -> Result<(), AllocError> {
        let chunk = (self.config.commit_chunk / PAGE_SIZE).max(1);
        let pos = l
            .arenas
            .iter()
            .position(|r| r.arena().npages() - r.committed >= npages);
        let id = match pos {
            Some(id) => id,
            None => {
                let size = (npages * PAGE_SIZE).div_ceil(ARENA_SIZE).max(1) * ARENA_SIZE;
                let reserved = self.counters.reserved.load(Relaxed);
                let would_reserve = reserved.saturating_add(size);
                if would_reserve > self.config.max_heap_bytes {
                    return Err(AllocError::HeapLimit {
                        would_reserve,
                        limit: self.config.max_heap_bytes,
                    });
                }
                let base = os::reserve(size, ARENA_SIZE).map_err(|error| AllocError::Os {
                    operation: "reserving address space",
                    bytes: size,
                    error,
                })?;
                let id = l.arenas.len();
                let arena = NonNull::from(Box::leak(Box::new(Arena::new(
                    base.as_ptr() as usize,
                    size,
                    id,
                ))));
                // SAFETY: just leaked; lives until the heap is dropped.
                self.index.insert(unsafe { arena.as_ref() });
                l.arenas.push(ArenaRecord {
                    arena,
                    committed: 0,
                    dirty: DirtyBits::new(size / PAGE_SIZE),
                });
                self.counters.reserved.fetch_add(size, Relaxed);
                id
            }
        };
        let rec = &mut l.arenas[id];
        let n = npages.max(chunk).min(rec.arena().npages() - rec.committed);
        let start = rec.arena().page_addr(rec.committed);
        // SAFETY: [start, start + n pages) lies inside the arena's reservation
        // (n is clamped to the uncommitted remainder), which the heap holds.
        unsafe { os::commit(start, n * PAGE_SIZE) }.map_err(|error| AllocError::Os {
            operation: "committing memory",
            bytes: n * PAGE_SIZE,
            error,
        })?;
        rec.committed += n;
        self.counters.committed.fetch_add(n * PAGE_SIZE, Relaxed);
        l.free.free(start, n, |a, b| self.same_arena(a, b));
        Ok(())
    }

    fn same_arena(&self, a: usize, b: usize) -> bool {
        self.index.lookup(a) == self.index.lookup(b)
    }

    #[inline]
    fn arena_of(&self, addr: usize) -> Option<&Arena> {
        // SAFETY: arenas live until the heap is dropped, and the returned
        // reference borrows `self`.
        self.index.lookup(addr).map(|a| unsafe { &*a.as_ptr() })
    }

    // ---- large objects ------------------------------------------------------

    /// Allocates a large object (a span of its own), zeroed. Used by
    /// [`Cache::alloc`](crate::Cache::alloc) for sizes over
    /// [`MAX_SMALL_SIZE`](crate::MAX_SMALL_SIZE); may be called directly.
    pub fn alloc_large(&self, size: usize, kind: ObjectKind) -> Result<NonNull<u8>, AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if size > self.config.max_object_size {
            return Err(AllocError::TooLarge {
                requested: size,
                limit: self.config.max_object_size,
            });
        }
        let npages = size.div_ceil(PAGE_SIZE);
        let spc = SpanClass::new(SizeClass::LARGE, kind);
        let _gate = self.sweep_gate();
        let span = self.alloc_span(npages, spc)?;
        span.store_alloc_state(1, 0, 1);
        if span.needzero() {
            // SAFETY: the span was just made for this object; nobody else can
            // reach its pages yet.
            unsafe { memory::zero(span.base(), span.bytes()) };
        }
        let base = span.base();
        self.central(spc).push_swept_full(span, self.sweepgen());
        self.counters.nmalloc[0].fetch_add(1, Relaxed);
        self.counters
            .large_bytes_malloc
            .fetch_add((npages * PAGE_SIZE) as u64, Relaxed);
        Ok(NonNull::new(base as *mut u8).expect("heap addresses are non-null"))
    }

    // ---- lookups ------------------------------------------------------------

    /// The in-use span containing `addr`, or `None` for an address outside
    /// the heap or in free pages. O(1): two loads in the arena index and one
    /// in the arena's page table.
    #[inline]
    pub fn span_of(&self, addr: usize) -> Option<&Span> {
        let arena = self.arena_of(addr)?;
        let span = arena.span_at(arena.page_of(addr))?;
        // SAFETY: span metadata is never freed while the heap lives; the
        // reference borrows `self`.
        let span = unsafe { &*span.as_ptr() };
        (span.state() == SpanState::InUse).then_some(span)
    }

    /// The object containing `addr` (which may point inside it), or `None` if
    /// `addr` is not inside an object slot of this heap. O(1).
    #[inline]
    pub fn find_object(&self, addr: usize) -> Option<ObjectRef<'_>> {
        let span = self.span_of(addr)?;
        let index = span.object_index(addr)?;
        Some(ObjectRef { span, index })
    }

    /// Like [`find_object`](Self::find_object), for callers that know `addr`
    /// must be a heap object.
    ///
    /// # Panics
    /// With a message naming the address if it is not inside an object of this
    /// heap (a foreign pointer), in debug builds; release builds return `None`.
    #[inline]
    pub fn expect_object(&self, addr: usize) -> Option<ObjectRef<'_>> {
        let found = self.find_object(addr);
        if cfg!(debug_assertions) && found.is_none() {
            panic!(
                "tricolor: {addr:#x} is not a pointer into this heap \
                 (no in-use span or object slot contains it)"
            );
        }
        found
    }

    /// Sets the mark bit of the object containing `addr`; returns `true` if
    /// this call set it (the object was white). See [`expect_object`](Self::expect_object)
    /// for what happens with a foreign pointer.
    pub fn mark(&self, addr: usize) -> bool {
        self.expect_object(addr).is_some_and(|o| o.mark())
    }

    /// The size of the slot holding the object at `addr`.
    pub fn usable_size(&self, addr: usize) -> Option<usize> {
        self.find_object(addr).map(|o| o.size())
    }

    /// Calls `f` with every in-use span. Spans made or freed concurrently may
    /// or may not be seen; call with allocation quiescent for an exact walk.
    pub fn for_each_span(&self, mut f: impl FnMut(&Span)) {
        let spans = self.locked.lock().all_spans.clone();
        for span in spans {
            if span.state() == SpanState::InUse {
                f(&span);
            }
        }
    }

    // ---- sweeping -------------------------------------------------------------

    /// Begins a sweep cycle: advances the sweep generation by 2, which makes
    /// every in-use span "needs sweeping" at once (the central lists flip
    /// roles). Call after mark termination, with the world stopped.
    ///
    /// # Panics
    /// If a cache still holds spans (every cache must call
    /// [`Cache::release_all`](crate::Cache::release_all) first), or if the
    /// previous cycle's sweep has not finished
    /// ([`finish_sweep`](Self::finish_sweep) first).
    pub fn start_sweep_cycle(&self) {
        self.start_sweep_cycle_keeping_marks(false);
    }

    /// [`start_sweep_cycle`](Self::start_sweep_cycle), saying whether this
    /// cycle's sweeps keep the mark bits (sticky mark bits: survivors stay
    /// marked, for a generational collector's next, minor, cycle) or clear
    /// them as Go's sweep does.
    ///
    /// # Panics
    /// As [`start_sweep_cycle`](Self::start_sweep_cycle).
    pub fn start_sweep_cycle_keeping_marks(&self, keep_marks: bool) {
        self.start_generational_sweep_cycle(keep_marks, false);
    }

    /// [`start_sweep_cycle_keeping_marks`](Self::start_sweep_cycle_keeping_marks)
    /// for a generational heap, saying also whether a first survival makes
    /// an object old in this cycle's sweeps (`tenure_first`) or a second
    /// one does ([`span`](crate::span), "Ages").
    ///
    /// # Panics
    /// As [`start_sweep_cycle`](Self::start_sweep_cycle).
    pub fn start_generational_sweep_cycle(&self, keep_marks: bool, tenure_first: bool) {
        let _gate = self.gate.write();
        self.keep_marks.store(keep_marks, Relaxed);
        self.tenure_first.store(tenure_first, Relaxed);
        let l = self.locked.lock();
        let cached = self.cached_spans.load(Acquire);
        assert_eq!(
            cached, 0,
            "start_sweep_cycle: {cached} spans are still held by caches; \
             release every cache (Cache::release_all) before the sweep generation advances"
        );
        let unswept = self.unswept.load(Acquire);
        assert_eq!(
            unswept, 0,
            "start_sweep_cycle: {unswept} spans of the previous cycle are not swept yet; \
             call finish_sweep first"
        );
        self.unswept
            .store(self.counters.spans_in_use.load(Relaxed), Release);
        self.counters.old_bytes.store(0, Relaxed);
        self.counters.first_survivor_bytes.store(0, Relaxed);
        self.sweepgen.fetch_add(2, AcqRel);
        drop(l);
    }

    /// Sweeps one unswept span, if any is left; returns the pages swept.
    /// Safe to call from any number of threads at once (a background sweeper,
    /// allocating threads): each span is swept exactly once per cycle.
    pub fn sweep_one(&self) -> Option<usize> {
        let _gate = self.sweep_gate();
        let h = self.sweepgen();
        // Start where the last successful sweep found work, and stay there
        // until that central is drained: unswept spans tend to crowd into a
        // few classes, and rotating past the empty centrals for every span
        // would cost a lock round per class per span.
        let start = self.sweep_cursor.load(Relaxed);
        for i in 0..ALL_SPAN_CLASSES {
            let at = (start + i) % ALL_SPAN_CLASSES;
            let central = &self.centrals[at];
            while let Some(span) = central.pop_unswept(h) {
                let npages = span.npages();
                if let Some(outcome) = self.sweep_span(span, h) {
                    self.place_swept(central, span, &outcome, h);
                    self.note_span_done();
                    if i != 0 {
                        self.sweep_cursor.store(at, Relaxed);
                    }
                    return Some(npages);
                }
                // Someone else swept it in place meanwhile; just file it.
                self.place_swept(central, span, &SweepOutcome::default(), h);
            }
        }
        None
    }

    /// Sweeps until every span of this cycle is swept, helping with the work
    /// and then waiting for sweeps other threads have in flight.
    pub fn finish_sweep(&self) {
        while self.sweep_one().is_some() {}
        while self.unswept.load(Acquire) != 0 {
            std::thread::yield_now();
        }
    }

    /// Clears the mark bits of every in-use span: what a sweep that keeps
    /// them ([`start_sweep_cycle_keeping_marks`](Self::start_sweep_cycle_keeping_marks))
    /// left undone, before a cycle that must mark from nothing (a
    /// generational collector's major cycle after a minor one). Call with
    /// every span swept and nothing marking; allocation may go on, as it
    /// does not touch mark bits unless it allocates black.
    ///
    /// # Panics
    /// If spans of the current cycle are still unswept.
    pub fn clear_marks(&self) {
        let unswept = self.unswept.load(Acquire);
        assert_eq!(unswept, 0, "clear_marks: {unswept} spans are not swept yet");
        self.for_each_span(|span| span.mark_bits().clear_all());
    }

    /// Bytes (slot sizes) of the old objects ([`Age::Old`](crate::Age))
    /// the current sweep cycle has swept so far: all of them once
    /// [`sweep_done`](Self::sweep_done). 0 unless the heap is
    /// [generational](Config::generational).
    pub fn old_bytes(&self) -> u64 {
        self.counters.old_bytes.load(Relaxed)
    }

    /// Bytes (slot sizes) of the objects the current sweep cycle has
    /// found marked for the first time since their allocation (neither old
    /// nor survivors before it; resurrected ones not counted): all of them
    /// once [`sweep_done`](Self::sweep_done). 0 unless the heap is
    /// [generational](Config::generational).
    pub fn first_survivor_bytes(&self) -> u64 {
        self.counters.first_survivor_bytes.load(Relaxed)
    }

    /// Whether every span of the current cycle has been swept.
    pub fn sweep_done(&self) -> bool {
        self.unswept.load(Acquire) == 0
    }

    /// Acquires and sweeps a span popped from an unswept list. `None` if the
    /// span was already swept (the CAS lost). On `Some`, the caller files the
    /// span and then calls `note_span_done`.
    pub(crate) fn sweep_span(&self, span: SpanPtr, h: u32) -> Option<SweepOutcome> {
        if !span.try_acquire_sweep(h) {
            return None;
        }
        let outcome = span.sweep(
            h,
            self.config.poison,
            self.sweep_hook.get().map(|h| &**h),
            self.keep_marks.load(Relaxed),
            self.tenure_first.load(Relaxed),
        );
        let class = span.span_class().size_class();
        self.counters.nfree[class.index()].fetch_add(outcome.freed as u64, Relaxed);
        if class == SizeClass::LARGE && outcome.freed > 0 {
            self.counters
                .large_bytes_free
                .fetch_add(span.bytes() as u64, Relaxed);
        }
        self.counters.spans_swept.fetch_add(1, Relaxed);
        if outcome.old > 0 {
            self.counters
                .old_bytes
                .fetch_add((outcome.old * span.elem_size()) as u64, Relaxed);
        }
        if outcome.first_survivors > 0 {
            self.counters
                .first_survivor_bytes
                .fetch_add((outcome.first_survivors * span.elem_size()) as u64, Relaxed);
        }
        Some(outcome)
    }

    /// Counts one span of this cycle as done: swept *and* filed (on a list,
    /// in a cache, or freed). Counting only then makes `finish_sweep`'s
    /// return mean that no sweeper still holds a span of this cycle.
    pub(crate) fn note_span_done(&self) {
        let before = self.unswept.fetch_sub(1, AcqRel);
        assert!(
            before > 0,
            "more spans swept than were unswept at cycle start"
        );
    }

    pub(crate) fn note_lazy_sweep(&self) {
        self.counters.spans_swept_lazily.fetch_add(1, Relaxed);
    }

    pub(crate) fn note_cached(&self, delta: isize) {
        if delta > 0 {
            self.cached_spans.fetch_add(delta as usize, Relaxed);
        } else {
            self.cached_spans.fetch_sub((-delta) as usize, Relaxed);
        }
    }

    pub(crate) fn note_mallocs(&self, class: SizeClass, n: usize) {
        if n > 0 {
            self.counters.nmalloc[class.index()].fetch_add(n as u64, Relaxed);
        }
    }

    // ---- scavenger ------------------------------------------------------------

    /// Returns free pages to the OS until at most `retain` bytes of free,
    /// possibly resident memory remain; returns the bytes released.
    ///
    /// Released pages stay committed, read as zero, and are handed out again
    /// without being cleared. Highest addresses go first, so the low part of
    /// the heap, where allocation prefers to be, stays warm.
    pub fn scavenge(&self, retain: usize) -> usize {
        let mut l = self.locked.lock();
        let retain_pages = retain / PAGE_SIZE;
        if l.dirty_free_pages <= retain_pages {
            return 0;
        }
        let mut excess = l.dirty_free_pages - retain_pages;
        let runs: Vec<(usize, usize)> = l.free.iter_desc().collect();
        let mut released = 0;
        'runs: for (base, npages) in runs {
            let Some(arena) = self.arena_of(base) else {
                continue;
            };
            let (id, first) = (arena.id, arena.page_of(base));
            for (p, n) in l.arenas[id].dirty.runs_desc(first, npages) {
                let take = n.min(excess);
                let from = p + n - take;
                let addr = l.arenas[id].arena().page_addr(from);
                // SAFETY: these pages are in a free run (no span, no object)
                // and committed; we hold the heap lock, so no span can be made
                // over them while they are released.
                unsafe { os::release(addr, take * PAGE_SIZE) };
                l.arenas[id].dirty.set(from, take, false);
                excess -= take;
                released += take;
                if excess == 0 {
                    break 'runs;
                }
            }
        }
        l.dirty_free_pages -= released;
        self.counters
            .dirty_free
            .store(l.dirty_free_pages * PAGE_SIZE, Relaxed);
        self.counters
            .released_total
            .fetch_add((released * PAGE_SIZE) as u64, Relaxed);
        released * PAGE_SIZE
    }

    // ---- statistics and checks --------------------------------------------

    /// A snapshot of the counters. Objects allocated through a cache are
    /// counted when the cache hands its span back or calls
    /// [`Cache::flush_stats`](crate::Cache::flush_stats).
    pub fn stats(&self) -> HeapStats {
        let c = &self.counters;
        let classes: Vec<ClassStats> = (0..NUM_SIZE_CLASSES)
            .map(|i| ClassStats {
                size: SizeClass::new(i).expect("valid class").size(),
                nmalloc: c.nmalloc[i].load(Relaxed),
                nfree: c.nfree[i].load(Relaxed),
            })
            .collect();
        let small_alloc: u64 = classes[1..].iter().map(|k| k.nmalloc * k.size as u64).sum();
        let small_free: u64 = classes[1..].iter().map(|k| k.nfree * k.size as u64).sum();
        let committed = c.committed.load(Relaxed);
        let in_use = c.in_use.load(Relaxed);
        HeapStats {
            reserved_bytes: c.reserved.load(Relaxed),
            committed_bytes: committed,
            in_use_bytes: in_use,
            idle_bytes: committed.saturating_sub(in_use),
            idle_dirty_bytes: c.dirty_free.load(Relaxed),
            released_bytes_total: c.released_total.load(Relaxed),
            allocated_bytes_total: small_alloc + c.large_bytes_malloc.load(Relaxed),
            freed_bytes_total: small_free + c.large_bytes_free.load(Relaxed),
            allocated_objects_total: classes.iter().map(|k| k.nmalloc).sum(),
            freed_objects_total: classes.iter().map(|k| k.nfree).sum(),
            spans_in_use: c.spans_in_use.load(Relaxed),
            free_runs: self.locked.lock().free.len(),
            spans_swept_total: c.spans_swept.load(Relaxed),
            spans_swept_lazily_total: c.spans_swept_lazily.load(Relaxed),
            sweepgen: self.sweepgen(),
            classes,
        }
    }

    /// Checks the page heap's invariants and returns the first violation:
    /// free runs are well formed and coalesced; committed = in use + free;
    /// every in-use span is entered in the page table for each of its pages
    /// and no free page is; dirty-page accounting matches the bitmaps.
    /// Call with allocation quiescent.
    pub fn verify(&self) -> Result<(), String> {
        let l = self.locked.lock();
        l.free.check(|a, b| self.same_arena(a, b))?;
        let committed_pages: usize = l.arenas.iter().map(|r| r.committed).sum();
        let mut in_use_pages = 0;
        for span in &l.all_spans {
            if span.state() != SpanState::InUse {
                continue;
            }
            in_use_pages += span.npages();
            let arena = self
                .arena_of(span.base())
                .ok_or_else(|| format!("span {:#x} outside every arena", span.base()))?;
            let first = arena.page_of(span.base());
            for p in first..first + span.npages() {
                if arena.span_at(p).map(|s| s.as_ptr()) != Some(span.as_ptr()) {
                    return Err(format!(
                        "page {p} of span {:#x} not mapped to it",
                        span.base()
                    ));
                }
            }
        }
        if committed_pages != in_use_pages + l.free.pages() {
            return Err(format!(
                "committed {committed_pages} pages != in use {in_use_pages} + free {}",
                l.free.pages()
            ));
        }
        if in_use_pages * PAGE_SIZE != self.counters.in_use.load(Relaxed) {
            return Err("in-use byte counter disagrees with the spans".into());
        }
        let mut dirty = 0;
        for (base, npages) in l.free.iter_desc() {
            let arena = self.arena_of(base).ok_or("free run outside arenas")?;
            let first = arena.page_of(base);
            for p in first..first + npages {
                if arena.span_at(p).is_some() {
                    return Err(format!("free page at {:#x} has a span", arena.page_addr(p)));
                }
            }
            dirty += l.arenas[arena.id].dirty.count(first, npages);
        }
        if dirty != l.dirty_free_pages {
            return Err(format!(
                "dirty free pages {} != bitmap count {dirty}",
                l.dirty_free_pages
            ));
        }
        Ok(())
    }
}

impl Drop for PageHeap {
    fn drop(&mut self) {
        let l = self.locked.get_mut();
        for span in l.all_spans.drain(..) {
            // SAFETY: every span block was leaked from a Box in `alloc_span`;
            // `&mut self` means no cache or borrow remains.
            drop(unsafe { Box::from_raw(span.as_ptr()) });
        }
        for rec in l.arenas.drain(..) {
            let (base, size) = (rec.arena().base, rec.arena().size);
            // SAFETY: the reservation is ours and nothing refers to it any more.
            unsafe { os::unreserve(base, size) };
            // SAFETY: leaked from a Box in `grow`; the index that pointed to it
            // is dropped with `self` and never read again.
            drop(unsafe { Box::from_raw(rec.arena.as_ptr()) });
        }
    }
}

/// An object slot found by address: its span and index.
#[derive(Copy, Clone)]
pub struct ObjectRef<'h> {
    span: &'h Span,
    index: usize,
}

impl Span {
    /// The object slot of this span containing `addr`, or `None` if `addr`
    /// lies outside the span or in its unusable tail: the second half of
    /// [`PageHeap::find_object`], for a caller that already knows the span
    /// (a marker that remembers the span of its last lookup). Meaningful
    /// only while the span is in use.
    #[inline]
    pub fn find_object(&self, addr: usize) -> Option<ObjectRef<'_>> {
        let index = self.object_index(addr)?;
        Some(ObjectRef { span: self, index })
    }
}

impl<'h> ObjectRef<'h> {
    /// The span holding the object.
    #[inline]
    pub fn span(&self) -> &'h Span {
        self.span
    }

    /// The object's index in its span.
    #[inline]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The object's address: its slot's first byte plus the span's
    /// object offset ([`Config::object_offset`]). What a collector calls
    /// the object, and what [`PageHeap::find_object`] of any address in
    /// the slot resolves to.
    #[inline]
    pub fn base(&self) -> usize {
        self.span.object_addr(self.index)
    }

    /// The slot's first byte.
    #[inline]
    pub fn slot(&self) -> usize {
        self.span.slot_addr(self.index)
    }

    /// The slot size in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.span.elem_size()
    }

    /// Sets the mark bit; `true` if this call set it.
    #[inline]
    pub fn mark(&self) -> bool {
        !self.span.mark_bits().test_and_set(self.index)
    }

    /// Whether the mark bit is set.
    #[inline]
    pub fn is_marked(&self) -> bool {
        self.span.mark_bits().get(self.index)
    }

    /// The object's [`Age`](crate::Age) (generational heaps; see
    /// [`span`](crate::span), "Ages").
    #[inline]
    pub fn age(&self) -> crate::Age {
        self.span.age(self.index)
    }

    /// Whether the object is old after the cycle in progress if it survives
    /// it: it is old or a survivor already. Fixed from a sweep to the next.
    #[inline]
    pub fn promotes(&self) -> bool {
        self.age() != crate::Age::Young
    }

    /// Whether the object's armed flag is set: a per-object flag its owner
    /// keeps for objects with no header of their own (a collector's
    /// log-armed bit). Cleared when the object is freed. Always `false`
    /// unless the heap keeps ages.
    ///
    /// ```
    /// use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap};
    ///
    /// let heap = PageHeap::new(Config { generational: true, ..Config::default() });
    /// let mut cache = Cache::new(heap.clone());
    /// let p = cache.alloc(16, ObjectKind::Scan)?.as_ptr() as usize;
    /// let o = heap.find_object(p).unwrap();
    /// assert!(!o.is_armed());
    /// o.arm();
    /// assert!(o.is_armed());
    /// assert!(o.disarm(), "this call disarmed it");
    /// assert!(!o.disarm());
    /// # Ok::<(), tricolor_allocator::AllocError>(())
    /// ```
    #[inline]
    pub fn is_armed(&self) -> bool {
        self.span.is_armed(self.index)
    }

    /// Sets the armed flag ([`is_armed`](Self::is_armed)).
    #[inline]
    pub fn arm(&self) {
        self.span.arm(self.index)
    }

    /// Clears the armed flag; `true` if this call cleared it, so that of
    /// two threads disarming the object at once, one sees it armed.
    #[inline]
    pub fn disarm(&self) -> bool {
        self.span.disarm(self.index)
    }

    /// Sets the object's logged bit: `true` if this call set it, so that
    /// of the stores into one object during a mark, one logs it. Cleared
    /// by the span's sweep; always `false` unless the heap keeps ages.
    #[inline]
    pub fn log_once(&self) -> bool {
        self.span.log_once(self.index)
    }
}

impl std::fmt::Debug for ObjectRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRef")
            .field("base", &format_args!("{:#x}", self.base()))
            .field("size", &self.size())
            .field("index", &self.index)
            .finish()
    }
}

const _: () = assert!(PAGE_SIZE == 1 << PAGE_SHIFT);
