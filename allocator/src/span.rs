//! Spans: runs of pages holding objects of one span class (Go's `mspan`).
//!
//! # Fields and who may touch them
//!
//! A `Span` is metadata kept outside the heap memory it describes. It is shared:
//! any thread may hold `&Span` (found through the page table), so every field is
//! an atomic or behind a lock, and the rules below say who may *write* what:
//!
//! | field | meaning | written by |
//! |---|---|---|
//! | `base`, `npages`, `elem_size`, `nelems`, `div_mul`, `span_class`, `object_offset`, `own_tag` | shape | page heap, under the heap lock, while the span is not in use |
//! | `state` | [`SpanState`] | page heap, under the heap lock |
//! | `sweepgen` | see the table below | the owner, by the transitions of the table |
//! | `freeindex`, `alloc_cache`, `alloc_count`, `needzero` | allocation state | the span's *owner*: the cache holding it, or the thread that popped it from a central list or acquired it for sweeping |
//! | `alloc_bits` | allocated at the last sweep | the sweeper (owner) |
//! | `mark_bits` | reached in the current mark (with sticky marks: or in an earlier one, old) | any marker (atomic test-and-set); cleared by the sweeper, unless its cycle keeps them (`PageHeap::start_sweep_cycle_keeping_marks`), then by `PageHeap::clear_marks` |
//! | `ages.old` | old: survived an aging sweep as a survivor, or as old (generational heaps only) | the sweeper (owner) |
//! | `ages.survivor` | survived exactly one cycle since its allocation | the sweeper (owner) |
//! | `ages.logged` | logged by a mutator's store during the current mark | any mutator (atomic test-and-set, [`ObjectRef::log_once`](crate::ObjectRef::log_once)); cleared by the sweeper |
//! | `ages.armed` | the owner's per-object flag for objects without a header of their own: a collector's log-armed bit (`ObjectRef::arm`, `disarm`) | any thread (atomic bit operations); the sweeper clears freed objects' bits atomically |
//! | `specials` | per-object records | anyone, under the span's specials lock |
//!
//! Ownership moves between threads only through a lock (a central list, the
//! heap lock), so the owner-only fields are accessed with `Relaxed` atomics: they
//! compile to plain loads and stores, and the hand-off provides the ordering.
//!
//! # Ages (generational heaps)
//!
//! With [`Config::generational`](crate::Config::generational) every span
//! keeps two more bitmaps, and an object's [`Age`] is read from them: young
//! (neither bit), survivor (it survived one cycle) or old. Every sweep
//! advances them from the cycle's mark bits `M`, after the sweep hook has
//! resurrected what it keeps (`R`):
//!
//! ```text
//! old'      = (old | survivor) & M & !R     a second survival promotes
//! survivor' = M & !old'                     a first survival (or a resurrection) ages
//! ```
//!
//! unless the sweep cycle *tenures at the first survival*
//! ([`PageHeap::start_generational_sweep_cycle`](crate::PageHeap::start_generational_sweep_cycle)),
//! for a collector that finds its survivors mostly live on: then
//! `old' = M & !R`, and only resurrected objects become survivors.
//!
//! so freed slots have neither bit, and a sweep that keeps the marks
//! (sticky mark bits) keeps `old'` only: survivors and resurrected objects
//! start the next cycle unmarked, young to the marker, and are marked again
//! only if something reaches them. The collector's remembered set is what
//! makes that sound; its essay ("generation") says how.
//!
//! # Sweep generations
//!
//! The heap has a sweep generation `h`, advanced by 2 at the start of every
//! sweep cycle (after mark termination). Each span's `sweepgen` is, relative to it:
//!
//! | `span.sweepgen` | meaning | next |
//! |---|---|---|
//! | `h - 2` | needs sweeping | `h - 1` by a CAS that acquires it |
//! | `h - 1` | being swept by the thread whose CAS won | `h` when sweeping ends |
//! | `h` | swept, not cached | `h + 3` when a cache takes it |
//! | `h + 3` | swept, then cached; still cached | `h` when the cache releases it |
//! | `h + 1` | (Go: cached before the generation advanced) never occurs here: every cache must release its spans before `h` advances, and [`PageHeap::start_sweep_cycle`](crate::PageHeap::start_sweep_cycle) checks it | — |
//!
//! Because only a successful CAS from `h - 2` to `h - 1` grants the right to
//! sweep, a span is swept at most once per cycle however many sweepers race;
//! `Span::sweep` panics if called without that ownership (a double sweep).
//!
//! # Allocation state
//!
//! Go's scheme: `alloc_bits` are the objects that survived the last sweep (they
//! are that sweep's mark bits); slots below `freeindex` are allocated whatever
//! their bit says; `alloc_cache` holds the complement of the alloc bits from
//! `freeindex` on (bit 0 is slot `freeindex`), so the next free slot is one
//! count-trailing-zeros away. Allocation never writes alloc bits.

use std::sync::atomic::{
    AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

use parking_lot::Mutex;

use crate::bitmap::{low_mask, GcBits, BITMAP_WORDS};
use crate::sizeclass::{SizeClass, SpanClass, PAGE_SIZE};

/// Lifecycle of a span's metadata.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SpanState {
    /// Not describing any memory; waiting in the page heap's pool.
    Free = 0,
    /// Describes pages that hold objects.
    InUse = 1,
}

/// A per-object record kept on the span of its object ("special" in Go): the
/// collector keeps finalizers, cleanups and weak handles here.
///
/// The allocator treats `kind` and `data` as opaque; it only keeps the records
/// sorted by object and hands back those whose object died when the span is
/// swept.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Special {
    /// Index of the object in its span.
    pub index: u32,
    /// What the record is; defined by the collector.
    pub kind: u8,
    /// Payload; defined by the collector.
    pub data: usize,
}

/// What the sweep does with the specials of dead objects: the collector
/// installs one per page heap ([`PageHeap::set_sweep_hook`]).
///
/// [`PageHeap::set_sweep_hook`]: crate::PageHeap::set_sweep_hook
pub trait SweepHook: Send + Sync {
    /// Called while `span` is swept, before any of its objects is freed,
    /// with the specials of the objects found unmarked (removed from the
    /// span), and with the span's specials lock held. The hook removes from
    /// `dead` the records it consumes; records it leaves go back on the span
    /// if their object is kept, and are returned in
    /// [`SweepOutcome::dead_specials`] otherwise. Pushing an object index
    /// onto `resurrect` keeps that object (and marks it) for one more cycle;
    /// the caller must already have marked everything it reaches.
    fn sweep_specials(&self, span: &Span, dead: &mut Vec<Special>, resurrect: &mut Vec<u32>);
}

/// The specials of one span, locked (see [`Span::specials`]). While a guard
/// is held, the span's sweep cannot reach its specials step, so a span seen
/// unswept (by [`Span::sweepgen`]) keeps its mark bits intact and its hook
/// unrun until the guard is dropped.
pub struct SpecialsGuard<'a> {
    list: parking_lot::MutexGuard<'a, Vec<Special>>,
}

impl SpecialsGuard<'_> {
    /// The first record of `kind` on object `index`.
    pub fn find(&self, index: u32, kind: u8) -> Option<Special> {
        let at = self
            .list
            .partition_point(|s| (s.index, s.kind) < (index, kind));
        self.list
            .get(at)
            .filter(|s| s.index == index && s.kind == kind)
            .copied()
    }

    /// Adds a record; records stay sorted by (object, kind).
    pub fn add(&mut self, special: Special) {
        let at = self
            .list
            .partition_point(|s| (s.index, s.kind) <= (special.index, special.kind));
        self.list.insert(at, special);
    }

    /// Removes and returns the first record of `kind` on object `index` for
    /// which `pred` holds.
    pub fn remove(
        &mut self,
        index: u32,
        kind: u8,
        mut pred: impl FnMut(&Special) -> bool,
    ) -> Option<Special> {
        let at = self
            .list
            .iter()
            .position(|s| s.index == index && s.kind == kind && pred(s))?;
        Some(self.list.remove(at))
    }

    /// Removes and returns every record of `kind`, in object order.
    pub fn take_kind(&mut self, kind: u8) -> Vec<Special> {
        let (taken, kept) = std::mem::take(&mut *self.list)
            .into_iter()
            .partition(|s| s.kind == kind);
        *self.list = kept;
        taken
    }

    /// Number of records on the span.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the span has no records.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A run of pages holding objects of one span class. See the module docs for
/// which thread may touch which field.
#[doc(alias = "mspan")]
pub struct Span {
    base: AtomicUsize,
    npages: AtomicUsize,
    elem_size: AtomicUsize,
    nelems: AtomicUsize,
    div_mul: AtomicU32,
    span_class: AtomicU16,
    /// Bytes from a slot's first byte to its object's address (see
    /// [`object_addr`](Span::object_addr)).
    object_offset: AtomicUsize,
    /// An own class's tag ([`own_tag`](Span::own_tag)); 0 otherwise.
    own_tag: AtomicU32,
    state: AtomicU8,
    sweepgen: AtomicU32,
    needzero: AtomicBool,
    freeindex: AtomicUsize,
    alloc_cache: AtomicU64,
    alloc_count: AtomicUsize,
    alloc_bits: GcBits,
    mark_bits: GcBits,
    /// The age bitmaps (see the module docs); `None` unless the heap is
    /// generational. Fixed when the span metadata is made.
    ages: Option<Box<AgeBits>>,
    specials: Mutex<Vec<Special>>,
}

/// A generational span's age bitmaps (module docs, "Ages").
struct AgeBits {
    old: GcBits,
    survivor: GcBits,
    logged: GcBits,
    armed: GcBits,
}

/// How many cycles an object has survived, for a generational collector
/// (the module docs' "Ages"): what the span's age bitmaps say of its slot.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Age {
    /// Allocated since the last sweep of its span, or the heap keeps no
    /// ages.
    Young,
    /// Survived one cycle: old after the next cycle it survives.
    Survivor,
    /// Survived two cycles (or more).
    Old,
}

/// What sweeping one span found.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Objects that survived (were marked).
    pub live: usize,
    /// Objects freed.
    pub freed: usize,
    /// Objects old after the sweep (module docs, "Ages"; 0 unless the heap
    /// is generational).
    pub old: usize,
    /// Objects marked for the first time since their allocation: neither
    /// old nor survivors before the sweep, and not resurrected by it (0
    /// unless the heap is generational).
    pub first_survivors: usize,
    /// Specials whose object died, removed from the span.
    pub dead_specials: Vec<Special>,
}

impl Span {
    pub(crate) fn new_free(generational: bool) -> Span {
        Span {
            base: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            elem_size: AtomicUsize::new(0),
            nelems: AtomicUsize::new(0),
            div_mul: AtomicU32::new(0),
            span_class: AtomicU16::new(0),
            object_offset: AtomicUsize::new(0),
            own_tag: AtomicU32::new(0),
            state: AtomicU8::new(SpanState::Free as u8),
            sweepgen: AtomicU32::new(0),
            needzero: AtomicBool::new(false),
            freeindex: AtomicUsize::new(0),
            alloc_cache: AtomicU64::new(0),
            alloc_count: AtomicUsize::new(0),
            alloc_bits: GcBits::default(),
            mark_bits: GcBits::default(),
            ages: generational.then(|| {
                Box::new(AgeBits {
                    old: GcBits::default(),
                    survivor: GcBits::default(),
                    logged: GcBits::default(),
                    armed: GcBits::default(),
                })
            }),
            specials: Mutex::new(Vec::new()),
        }
    }

    /// Gives a free span its shape. Called by the page heap under its lock,
    /// before the span is published in the page table.
    pub(crate) fn init(
        &self,
        base: usize,
        npages: usize,
        spc: SpanClass,
        (object_offset, own_tag): (usize, u32),
        sweepgen: u32,
        needzero: bool,
    ) {
        debug_assert_eq!(self.state(), SpanState::Free, "initialising a span in use");
        debug_assert!(self.specials.lock().is_empty());
        let class = spc.size_class();
        let (elem_size, nelems, div_mul) = if class == SizeClass::LARGE {
            (npages * PAGE_SIZE, 1, 0)
        } else {
            debug_assert_eq!(npages, class.npages());
            (class.size(), class.objects_per_span(), class.div_mul())
        };
        self.base.store(base, Relaxed);
        self.npages.store(npages, Relaxed);
        self.elem_size.store(elem_size, Relaxed);
        self.nelems.store(nelems, Relaxed);
        self.div_mul.store(div_mul, Relaxed);
        debug_assert!(
            object_offset < elem_size,
            "an object starts inside its slot"
        );
        self.span_class.store(spc.raw(), Relaxed);
        self.object_offset.store(object_offset, Relaxed);
        self.own_tag.store(own_tag, Relaxed);
        self.needzero.store(needzero, Relaxed);
        self.freeindex.store(0, Relaxed);
        self.alloc_cache.store(!0, Relaxed);
        self.alloc_count.store(0, Relaxed);
        self.alloc_bits.clear_all();
        self.mark_bits.clear_all();
        if let Some(a) = &self.ages {
            a.old.clear_all();
            a.survivor.clear_all();
            a.logged.clear_all();
            a.armed.clear_all();
        }
        self.sweepgen.store(sweepgen, Relaxed);
        self.state.store(SpanState::InUse as u8, Release);
    }

    /// Marks the span free. Called by the page heap under its lock after the
    /// span has left the page table.
    pub(crate) fn retire(&self) {
        debug_assert_eq!(self.state(), SpanState::InUse, "freeing a span twice");
        self.specials.lock().clear();
        self.state.store(SpanState::Free as u8, Release);
    }

    /// Address of the first byte.
    #[inline]
    pub fn base(&self) -> usize {
        self.base.load(Relaxed)
    }

    /// Length in pages.
    #[inline]
    pub fn npages(&self) -> usize {
        self.npages.load(Relaxed)
    }

    /// Length in bytes.
    #[inline]
    pub fn bytes(&self) -> usize {
        self.npages() * PAGE_SIZE
    }

    /// Size of each object slot in bytes (the whole span for a large object).
    #[inline]
    pub fn elem_size(&self) -> usize {
        self.elem_size.load(Relaxed)
    }

    /// Number of object slots.
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Relaxed)
    }

    /// The span class.
    #[inline]
    pub fn span_class(&self) -> SpanClass {
        SpanClass::from_raw(self.span_class.load(Relaxed))
    }

    /// The [`Age`] of object `index` (module docs, "Ages").
    #[inline]
    pub fn age(&self, index: usize) -> Age {
        match &self.ages {
            Some(a) if a.old.get(index) => Age::Old,
            Some(a) if a.survivor.get(index) => Age::Survivor,
            _ => Age::Young,
        }
    }

    /// Sets object `index`'s logged bit (module docs, "Ages"); `true` if
    /// this call set it, `false` if it was set already or the heap keeps
    /// no ages.
    #[inline]
    pub fn log_once(&self, index: usize) -> bool {
        self.ages
            .as_ref()
            .is_some_and(|a| !a.logged.test_and_set(index))
    }

    /// Object `index`'s armed flag (module docs, "Ages"): `false` unless
    /// the heap keeps ages and the owner set it.
    #[inline]
    pub fn is_armed(&self, index: usize) -> bool {
        self.ages.as_ref().is_some_and(|a| a.armed.get(index))
    }

    /// The armed flags of the span's objects, by index ([`is_armed`](Span::is_armed)),
    /// for a caller that keeps the bitmap at hand (the collector's store
    /// barrier); `None` unless the heap keeps ages. The bitmap belongs to
    /// the span metadata, which lives as long as the heap.
    #[inline]
    pub fn armed_bits(&self) -> Option<&GcBits> {
        self.ages.as_ref().map(|a| &a.armed)
    }

    /// The reciprocal [`object_index`](Span::object_index) multiplies an
    /// offset into the span by: the index of the slot at byte offset `o` is
    /// `(o * div_mul) >> 32` (0 for a large object's span, whose one slot
    /// is index 0). Fixed while the span is in use.
    #[inline]
    pub fn div_mul(&self) -> u32 {
        self.div_mul.load(Relaxed)
    }

    /// Sets object `index`'s armed flag (a heap that keeps ages only).
    #[inline]
    pub fn arm(&self, index: usize) {
        if let Some(a) = &self.ages {
            a.armed.test_and_set(index);
        }
    }

    /// Clears object `index`'s armed flag; `true` if this call cleared it.
    #[inline]
    pub fn disarm(&self, index: usize) -> bool {
        self.ages
            .as_ref()
            .is_some_and(|a| a.armed.test_and_clear(index))
    }

    /// Whether the span's objects hold no pointers.
    #[inline]
    pub fn is_noscan(&self) -> bool {
        self.span_class().is_noscan()
    }

    /// Whether the span holds a single large object.
    #[inline]
    pub fn is_large(&self) -> bool {
        self.span_class().size_class() == SizeClass::LARGE
    }

    /// Lifecycle state.
    #[inline]
    pub fn state(&self) -> SpanState {
        match self.state.load(Acquire) {
            0 => SpanState::Free,
            _ => SpanState::InUse,
        }
    }

    /// The span's sweep generation (see the module docs' table).
    #[inline]
    pub fn sweepgen(&self) -> u32 {
        self.sweepgen.load(Acquire)
    }

    /// Number of allocated objects as of the last hand-off of the span. Exact
    /// when no cache holds the span.
    #[inline]
    pub fn alloc_count(&self) -> usize {
        self.alloc_count.load(Relaxed)
    }

    /// The mark bits of the current cycle.
    #[inline]
    pub fn mark_bits(&self) -> &GcBits {
        &self.mark_bits
    }

    /// The alloc bits: objects that survived the last sweep.
    #[inline]
    pub fn alloc_bits(&self) -> &GcBits {
        &self.alloc_bits
    }

    /// Index of the object slot containing `addr`, or `None` if `addr` is
    /// outside the span or in its unusable tail. One multiply and shift.
    #[inline]
    pub fn object_index(&self, addr: usize) -> Option<usize> {
        let offset = addr.wrapping_sub(self.base());
        if offset >= self.bytes() {
            return None;
        }
        let index = ((offset as u64 * self.div_mul.load(Relaxed) as u64) >> 32) as usize;
        (index < self.nelems()).then_some(index)
    }

    /// Address of object slot `index`: its first byte.
    #[inline]
    pub fn slot_addr(&self, index: usize) -> usize {
        debug_assert!(index < self.nelems());
        self.base() + index * self.elem_size()
    }

    /// The address of the object in slot `index`: the slot's first byte
    /// plus the span's object offset (a collector that keeps a header
    /// word before each object's fields knows the object by the address
    /// after it; [`Config::object_offset`](crate::Config::object_offset)).
    #[inline]
    pub fn object_addr(&self, index: usize) -> usize {
        self.slot_addr(index) + self.object_offset()
    }

    /// The tag its owner gave the span's own class
    /// ([`PageHeap::own_class`](crate::PageHeap::own_class)), or `None` if
    /// the span's class is shared. Fixed while the span is in use.
    #[inline]
    pub fn own_tag(&self) -> Option<u32> {
        self.span_class().own().map(|_| self.own_tag.load(Relaxed))
    }

    /// Bytes from a slot's first byte to its object's address: fixed
    /// while the span is in use.
    #[inline]
    pub fn object_offset(&self) -> usize {
        self.object_offset.load(Relaxed)
    }

    /// Whether slot `index` holds an allocated object. Exact only while no
    /// cache holds the span (a cache keeps its own copy of `freeindex`), for
    /// example with the world stopped after every cache was released.
    pub fn is_allocated(&self, index: usize) -> bool {
        index < self.freeindex.load(Relaxed) || self.alloc_bits.get(index)
    }

    // ---- owner-only allocation state -------------------------------------

    pub(crate) fn load_alloc_state(&self) -> (usize, u64, usize, bool) {
        (
            self.freeindex.load(Relaxed),
            self.alloc_cache.load(Relaxed),
            self.alloc_count.load(Relaxed),
            self.needzero.load(Relaxed),
        )
    }

    pub(crate) fn store_alloc_state(&self, freeindex: usize, alloc_cache: u64, alloc_count: usize) {
        debug_assert!(freeindex <= self.nelems());
        debug_assert!(alloc_count <= self.nelems());
        self.freeindex.store(freeindex, Relaxed);
        self.alloc_cache.store(alloc_cache, Relaxed);
        self.alloc_count.store(alloc_count, Relaxed);
    }

    /// Whether freshly handed-out slots must be cleared (they may hold old data).
    pub(crate) fn needzero(&self) -> bool {
        self.needzero.load(Relaxed)
    }

    /// Finds the next free slot at or after `*freeindex` and advances the
    /// owner's allocation state past it. `None` when the span is full.
    /// This is the slow half of allocation (Go's `nextFreeIndex`); the cache
    /// inlines the fast half.
    pub(crate) fn next_free(
        &self,
        freeindex: &mut usize,
        alloc_cache: &mut u64,
        nelems: usize,
    ) -> Option<usize> {
        loop {
            if *freeindex >= nelems {
                *freeindex = nelems;
                return None;
            }
            let bit = alloc_cache.trailing_zeros() as usize;
            if bit < 64 {
                let index = *freeindex + bit;
                if index >= nelems {
                    *freeindex = nelems;
                    return None;
                }
                *alloc_cache = (*alloc_cache >> bit) >> 1;
                *freeindex = index + 1;
                if (*freeindex).is_multiple_of(64) && *freeindex < nelems {
                    *alloc_cache = !self.alloc_bits.word(*freeindex / 64);
                }
                return Some(index);
            }
            // The cached window is used up: load the next 64 alloc bits.
            let next = (*freeindex + 64) & !63;
            *freeindex = next;
            if next < nelems {
                *alloc_cache = !self.alloc_bits.word(next / 64);
            }
        }
    }

    // ---- sweep generations -----------------------------------------------

    /// Tries to take the right to sweep this span in heap generation `h`
    /// (`h - 2` → `h - 1`). Exactly one caller per cycle succeeds.
    pub(crate) fn try_acquire_sweep(&self, h: u32) -> bool {
        self.sweepgen
            .compare_exchange(h.wrapping_sub(2), h.wrapping_sub(1), Acquire, Relaxed)
            .is_ok()
    }

    /// Records that a cache took the (swept) span: `h` → `h + 3`.
    pub(crate) fn set_cached(&self, h: u32) {
        let sg = self.sweepgen.load(Relaxed);
        assert_eq!(
            sg,
            h,
            "span {:#x}: handed to a cache while not swept (sweepgen {sg}, heap {h})",
            self.base()
        );
        self.sweepgen.store(h.wrapping_add(3), Release);
    }

    /// Records that a cache released the span: `h + 3` → `h`.
    pub(crate) fn set_uncached(&self, h: u32) {
        let sg = self.sweepgen.load(Relaxed);
        assert_eq!(
            sg,
            h.wrapping_add(3),
            "span {:#x}: released by a cache but not cached in this sweep generation \
             (sweepgen {sg}, heap {h}); a cache must release its spans before the \
             sweep generation advances",
            self.base()
        );
        self.sweepgen.store(h, Release);
    }

    /// Sweeps the span (Go's `mspan.sweep`): unmarked objects become free, the
    /// mark bits become the alloc bits, and the mark bits are cleared for the
    /// next cycle, unless `keep_marks` (sticky mark bits: the next cycle is a
    /// generational minor one, for which every surviving object is old and
    /// stays marked). The caller must hold sweep ownership for generation `h`
    /// (a successful [`try_acquire_sweep`](Self::try_acquire_sweep)); on return
    /// the span is swept (`sweepgen == h`) and still owned by the caller, who
    /// puts it on a list or frees it.
    ///
    /// # Panics
    /// If the caller does not hold sweep ownership: the span was swept twice
    /// in one cycle, or sweeping was started without acquiring it.
    pub(crate) fn sweep(
        &self,
        h: u32,
        poison: bool,
        hook: Option<&dyn SweepHook>,
        keep_marks: bool,
        tenure_first: bool,
    ) -> SweepOutcome {
        let sg = self.sweepgen.load(Acquire);
        assert_eq!(
            sg,
            h.wrapping_sub(1),
            "span {:#x}: sweep without sweep ownership (span sweepgen {sg}, heap {h}): \
             swept twice in one cycle, or never acquired",
            self.base()
        );
        let nelems = self.nelems();
        let freeindex = self.freeindex.load(Relaxed);
        let before = self.alloc_count.load(Relaxed);

        // Walk the slots word by word: allocated (below freeindex, or alloc
        // bit set) and not marked are dead.
        let words = nelems.div_ceil(64);
        let mut allocated_words = [0u64; BITMAP_WORDS];
        let mut dead_words = [0u64; BITMAP_WORDS];
        let mut any_dead = false;
        for (w, (allocated_w, dead_w)) in allocated_words
            .iter_mut()
            .zip(dead_words.iter_mut())
            .enumerate()
            .take(words)
        {
            let lo = w * 64;
            let below_free = if freeindex >= lo + 64 {
                !0
            } else if freeindex <= lo {
                0
            } else {
                low_mask(freeindex - lo)
            };
            let valid = if nelems >= lo + 64 {
                !0
            } else {
                low_mask(nelems - lo)
            };
            let allocated = (self.alloc_bits.word(w) | below_free) & valid;
            let marked = self.mark_bits.word(w);
            assert!(
                marked & !allocated == 0,
                "span {:#x}: mark bit set on a free slot (word {w}: marked {marked:#x}, \
                 allocated {allocated:#x}); something marked a pointer to free memory",
                self.base()
            );
            *allocated_w = allocated;
            *dead_w = allocated & !marked;
            any_dead |= *dead_w != 0;
        }

        // Specials of dead objects go to the hook before anything is freed
        // (Go's sweep passes 1 and 2): it may keep an object for one more
        // cycle (a finalizer queued), and it takes the records it consumes.
        //
        // The lock is taken on every sweep, dead objects or not, before the
        // mark bits change: a reader that holds it and sees this span not yet
        // swept (`SpecialsGuard`) can trust the mark bits it reads.
        let mut dead_specials = Vec::new();
        let mut resurrected_words = [0u64; BITMAP_WORDS];
        {
            let mut specials = self.specials.lock();
            if any_dead && !specials.is_empty() {
                specials.retain(|s| {
                    let i = s.index as usize;
                    let dead = dead_words[i / 64] & (1 << (i % 64)) != 0;
                    if dead {
                        dead_specials.push(*s);
                    }
                    !dead
                });
                if let (Some(hook), false) = (hook, dead_specials.is_empty()) {
                    let mut resurrect = Vec::new();
                    // The specials lock is held across the hook: a reader
                    // that holds it and sees this span unswept knows the
                    // mark bits are intact and the hook has not run
                    // (`SpecialsGuard`).
                    hook.sweep_specials(self, &mut dead_specials, &mut resurrect);
                    for i in resurrect {
                        let i = i as usize;
                        assert!(
                            dead_words[i / 64] & (1 << (i % 64)) != 0,
                            "span {:#x}: the sweep hook kept object {i}, which is not dead",
                            self.base()
                        );
                        self.mark_bits.test_and_set(i);
                        dead_words[i / 64] &= !(1 << (i % 64));
                        resurrected_words[i / 64] |= 1 << (i % 64);
                    }
                    // Records the hook left are kept with their (now live,
                    // or still dead) objects: live ones go back on the span.
                    for sp in std::mem::take(&mut dead_specials) {
                        let i = sp.index as usize;
                        if dead_words[i / 64] & (1 << (i % 64)) == 0 {
                            let at = specials
                                .partition_point(|s| (s.index, s.kind) <= (sp.index, sp.kind));
                            specials.insert(at, sp);
                        } else {
                            dead_specials.push(sp);
                        }
                    }
                }
            }
        }

        let live = self.mark_bits.count_ones(nelems);
        let mut freed = 0;
        let mut allocated_total = 0;
        for (dead, allocated) in dead_words.iter().zip(&allocated_words).take(words) {
            freed += dead.count_ones() as usize;
            allocated_total += allocated.count_ones() as usize;
        }
        debug_assert_eq!(
            allocated_total,
            before,
            "span {:#x}: alloc count {before} disagrees with the bitmaps ({allocated_total})",
            self.base()
        );
        debug_assert_eq!(live + freed, before);

        if poison && freed > 0 {
            let elem = self.elem_size();
            for (w, &dead) in dead_words.iter().enumerate() {
                let mut bits = dead;
                while bits != 0 {
                    let index = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    // Slot `index` holds an unmarked object: no reachable
                    // pointer refers to it (the collector's invariant), and we
                    // own the span for sweeping, so no cache hands it out.
                    // SAFETY: as just said; the slot is committed, 8-aligned
                    // memory of `elem` bytes.
                    unsafe { crate::memory::poison(self.slot_addr(index), elem) };
                }
            }
        }

        self.alloc_bits.copy_from(&self.mark_bits, nelems);
        let mut old_objects = 0;
        let mut first_survivors = 0;
        if let Some(a) = &self.ages {
            // Ages advance (module docs, "Ages"); a sweep that keeps the
            // marks keeps those of the old objects only.
            for (w, &resurrected) in resurrected_words.iter().enumerate().take(words) {
                let m = self.mark_bits.word(w);
                let aged = a.old.word(w) | a.survivor.word(w);
                first_survivors += (m & !aged & !resurrected).count_ones() as usize;
                let old = if tenure_first { m } else { aged & m } & !resurrected;
                a.old.set_word(w, old);
                a.survivor.set_word(w, m & !old);
                a.logged.set_word(w, 0);
                // A freed slot's next object starts disarmed, as a new
                // header does; survivors keep theirs (and a mutator may be
                // clearing one of them meanwhile).
                a.armed.and_word(w, m);
                if keep_marks {
                    self.mark_bits.set_word(w, old);
                }
                old_objects += old.count_ones() as usize;
            }
            if !keep_marks {
                self.mark_bits.clear_all();
            }
        } else if !keep_marks {
            self.mark_bits.clear_all();
        }
        self.freeindex.store(0, Relaxed);
        self.alloc_cache.store(!self.alloc_bits.word(0), Relaxed);
        self.alloc_count.store(live, Relaxed);
        if freed > 0 {
            self.needzero.store(true, Relaxed);
        }
        self.sweepgen.store(h, Release);
        SweepOutcome {
            live,
            freed,
            old: old_objects,
            first_survivors,
            dead_specials,
        }
    }

    // ---- specials -----------------------------------------------------------

    /// Locks the span's specials. See [`SpecialsGuard`] for what holding
    /// the lock guarantees.
    pub fn specials(&self) -> SpecialsGuard<'_> {
        SpecialsGuard {
            list: self.specials.lock(),
        }
    }

    /// Adds a special record for object `index`. Records stay sorted by
    /// (object, kind); several records of one kind for one object are allowed.
    pub fn add_special(&self, special: Special) {
        assert!(
            (special.index as usize) < self.nelems(),
            "special for object {} of a span with {} objects",
            special.index,
            self.nelems()
        );
        let mut specials = self.specials.lock();
        let at = specials.partition_point(|s| (s.index, s.kind) <= (special.index, special.kind));
        specials.insert(at, special);
    }

    /// Removes and returns the first special of `kind` on object `index` for
    /// which `pred` holds.
    pub fn remove_special(
        &self,
        index: u32,
        kind: u8,
        mut pred: impl FnMut(&Special) -> bool,
    ) -> Option<Special> {
        let mut specials = self.specials.lock();
        let at = specials
            .iter()
            .position(|s| s.index == index && s.kind == kind && pred(s))?;
        Some(specials.remove(at))
    }

    /// The specials of object `index`.
    pub fn specials_of(&self, index: u32) -> Vec<Special> {
        self.specials
            .lock()
            .iter()
            .filter(|s| s.index == index)
            .copied()
            .collect()
    }
}

/// A pointer to span metadata owned by a page heap.
///
/// Span metadata is allocated by the page heap, recycled but never freed while
/// the heap lives, and `SpanPtr`s are kept only by the page heap itself and by
/// caches, which hold an `Arc` to it. So a `SpanPtr` never dangles.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) struct SpanPtr(std::ptr::NonNull<Span>);

// SAFETY: `Span` is `Sync` (atomics and a mutex) and the pointee outlives every
// `SpanPtr` (see the type docs), so sharing or sending the pointer is as safe as
// sharing `&Span`.
unsafe impl Send for SpanPtr {}
// SAFETY: as for `Send`.
unsafe impl Sync for SpanPtr {}

impl SpanPtr {
    pub(crate) fn new(span: std::ptr::NonNull<Span>) -> SpanPtr {
        SpanPtr(span)
    }

    pub(crate) fn as_ptr(self) -> *mut Span {
        self.0.as_ptr()
    }
}

impl std::ops::Deref for SpanPtr {
    type Target = Span;
    #[inline]
    fn deref(&self) -> &Span {
        // SAFETY: the pointee is live span metadata for as long as any SpanPtr
        // exists (see the type docs).
        unsafe { self.0.as_ref() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizeclass::ObjectKind;

    fn small_span(class: usize, h: u32) -> Span {
        let span = Span::new_free(false);
        let spc = SpanClass::new(SizeClass::new(class).unwrap(), ObjectKind::NoScan);
        // A made-up base: these tests never touch the memory.
        span.init(1 << 30, spc.size_class().npages(), spc, (0, 0), h, false);
        span
    }

    fn take_all(span: &Span) -> Vec<usize> {
        let (mut fi, mut cache, _, _) = span.load_alloc_state();
        let mut got = Vec::new();
        while let Some(i) = span.next_free(&mut fi, &mut cache, span.nelems()) {
            got.push(i);
        }
        span.store_alloc_state(fi, cache, span.alloc_count() + got.len());
        got
    }

    #[test]
    fn fresh_span_hands_out_every_slot_once_in_order() {
        let span = small_span(1, 4);
        let got = take_all(&span);
        assert_eq!(got, (0..1024).collect::<Vec<_>>());
    }

    #[test]
    fn sweep_keeps_marked_and_frees_the_rest() {
        let h = 4;
        let span = small_span(2, h); // 16-byte class, 512 objects
        assert_eq!(take_all(&span).len(), 512);
        for i in (0..512).step_by(3) {
            span.mark_bits().test_and_set(i);
        }
        // New cycle: h + 2.
        let h = h + 2;
        assert!(span.try_acquire_sweep(h));
        assert!(!span.try_acquire_sweep(h), "second acquire must fail");
        let out = span.sweep(h, false, None, false, false);
        assert_eq!(out.live, 171);
        assert_eq!(out.freed, 512 - 171);
        assert_eq!(span.sweepgen(), h);
        assert!(span.needzero());
        let free = take_all(&span);
        assert_eq!(free, (0..512).filter(|i| i % 3 != 0).collect::<Vec<_>>());
        assert!(
            !span.try_acquire_sweep(h),
            "a swept span cannot be acquired again"
        );
    }

    #[test]
    #[should_panic(expected = "swept twice in one cycle")]
    fn double_sweep_panics() {
        let span = small_span(3, 2);
        assert!(span.try_acquire_sweep(4));
        span.sweep(4, false, None, false, false);
        span.sweep(4, false, None, false, false);
    }

    #[test]
    #[should_panic(expected = "mark bit set on a free slot")]
    fn marking_a_free_slot_is_caught_at_sweep() {
        let span = small_span(3, 2);
        span.mark_bits().test_and_set(5); // never allocated
        assert!(span.try_acquire_sweep(4));
        span.sweep(4, false, None, false, false);
    }

    #[test]
    fn object_index_round_trips_and_rejects_tail() {
        let span = small_span(5, 2); // 48 bytes, 170 objects, 32-byte tail
        for i in 0..span.nelems() {
            let a = span.object_addr(i);
            assert_eq!(span.object_index(a), Some(i));
            assert_eq!(span.object_index(a + 47), Some(i));
        }
        assert_eq!(span.object_index(span.base() + 170 * 48), None, "tail");
        assert_eq!(span.object_index(span.base() - 1), None);
        assert_eq!(span.object_index(span.base() + 8192), None);
    }

    #[test]
    fn specials_of_dead_objects_come_back_from_sweep() {
        let span = small_span(4, 2);
        take_all(&span);
        span.add_special(Special {
            index: 7,
            kind: 1,
            data: 70,
        });
        span.add_special(Special {
            index: 9,
            kind: 1,
            data: 90,
        });
        span.add_special(Special {
            index: 7,
            kind: 2,
            data: 71,
        });
        span.mark_bits().test_and_set(9);
        assert!(span.try_acquire_sweep(4));
        let out = span.sweep(4, false, None, false, false);
        assert_eq!(out.dead_specials.len(), 2);
        assert!(out.dead_specials.iter().all(|s| s.index == 7));
        assert_eq!(
            span.specials_of(9),
            vec![Special {
                index: 9,
                kind: 1,
                data: 90
            }]
        );
        assert!(span.remove_special(9, 1, |s| s.data == 90).is_some());
        assert!(span.specials_of(9).is_empty());
    }

    /// A hook that keeps objects with a kind-1 record (a finalizer, say)
    /// and consumes kind-2 records (a weak handle cleared).
    struct KeepKind1;
    impl SweepHook for KeepKind1 {
        fn sweep_specials(&self, _: &Span, dead: &mut Vec<Special>, resurrect: &mut Vec<u32>) {
            dead.retain(|s| match s.kind {
                1 => {
                    resurrect.push(s.index);
                    false
                }
                2 => false,
                _ => true,
            });
        }
    }

    #[test]
    fn the_sweep_hook_can_keep_an_object_and_its_other_records() {
        let span = small_span(4, 2);
        take_all(&span);
        let before = span.alloc_count();
        for (index, kind) in [(3, 1), (3, 2), (3, 3), (5, 3), (6, 2)] {
            span.add_special(Special {
                index,
                kind,
                data: 0,
            });
        }
        assert!(span.try_acquire_sweep(4));
        let out = span.sweep(4, false, Some(&KeepKind1), false, false);
        // Object 3 is kept: its kind-3 record goes back on the span; object
        // 5 is freed with its record; object 6's weak record was consumed.
        assert_eq!(out.live, 1);
        assert_eq!(out.freed, before - 1);
        assert!(span.is_allocated(3));
        assert_eq!(span.specials_of(3).len(), 1);
        assert_eq!(span.specials_of(3)[0].kind, 3);
        assert_eq!(out.dead_specials.len(), 1);
        assert_eq!(out.dead_specials[0].index, 5);
        assert!(span.specials_of(6).is_empty());
        let g = span.specials();
        assert_eq!(g.find(3, 3).map(|s| s.index), Some(3));
        assert_eq!(g.find(3, 1), None);
        assert_eq!(g.len(), 1);
    }
}
