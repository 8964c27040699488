//! Generational collection with sticky mark bits ([`Config::generational`](crate::Config::generational)).
//!
//! The essay below is cited as "generation §n".
//!
//! **§1 Sticky mark bits, and ages.** A non-moving collector can be
//! generational without moving anything (Demers et al. 1990;
//! JavaScriptCore's Riptide, MMTk's StickyImmix, Ruby's RGenGC): an *old*
//! object starts a minor cycle with its mark bit already set, and a
//! *young* one without. A **major** cycle is the ordinary cycle of the
//! crate essay: the sweep before it clears every mark bit, it marks
//! everything reachable, and its sweep frees the rest. A **minor** cycle
//! starts with the mark bits of the old objects, which the last sweep
//! *kept* (`PageHeap::start_sweep_cycle_keeping_marks`), so the markers,
//! which never scan an object whose bit they did not win, stop at old
//! objects. It marks from the roots and the **remembered set** (§3) only,
//! and its sweep frees the unmarked, that is the young objects nothing
//! reached. Old objects that died are found by the next major cycle.
//!
//! An object is old at its *second* survival, not its first. The
//! allocator keeps each object's age in two per-span bitmaps
//! ([`tricolor_allocator::Age`]: young, survivor, old) that every sweep
//! advances from the cycle's marks, of either kind: a marked survivor or
//! old object is old after the sweep, any other marked object a survivor,
//! and a sweep that keeps the marks keeps the old objects' only. A
//! survivor is young to the next minor cycle: if nothing reaches it then,
//! that cycle frees it. Promoting at the first survival (as this module
//! did first) makes every object that happens to be live when a cycle
//! starts (a tree half built, a request in flight) old garbage until the
//! next major cycle; with one more cycle of age, most of it dies young.
//! An object that the sweep resurrects for its finalizer is a survivor,
//! never old (it is scanned when the next mark reaches it from the queue).
//!
//! *Tenuring.* Where most objects that survive once live on (a cache, a
//! table of long-lived structures), the second trace buys nothing. So each
//! cycle decides at its STW #1 whether it makes every survivor old at once
//! ([`Config::tenure`](crate::Config::tenure); by default
//! `policy::generations::tenure_at_first_survival`, from the bytes the last
//! sweep found marked for the first time against the bytes allocated
//! before the last mark ended), and its sweep advances the ages to match
//! (`PageHeap::start_generational_sweep_cycle`). In such a cycle every
//! object the mark reaches is old at its end, so a marker arms whatever it
//! scans, stores during the mark log nothing (§3), and an object allocated
//! black is armed from birth (the mutator's `header_bits`), since no
//! marker scans it.
//!
//! **§2 Which kind.** The kind of the next cycle is decided at mark
//! termination (STW #2) by the pacer's pure policy
//! (`policy::generations::next_is_major`): major when there was none yet,
//! when the old generation has grown by three quarters of GOGC per cent
//! since the last major cycle, when it nears the memory limit, or after a
//! bound of minor cycles in a row; otherwise minor. The sweep then keeps or
//! clears the marks to suit. After a minor cycle the pacer plans from the
//! heap it leaves but caps the goal at the last major cycle's
//! (`Pacer::end_minor_cycle`): old garbage shortens the minor cycles'
//! runway instead of raising the goal, so the heap peaks about where a
//! non-generational one would.
//! A cycle the program asks for ([`Heap::collect`](crate::Heap::collect))
//! is always major; if the sweep before it kept the marks, the cycle clears
//! them first (`PageHeap::clear_marks`, with the world running, before
//! STW #1). The kind of the running cycle is in `GenState::current`.
//!
//! **§3 The remembered set.** A minor cycle misses a young object (or a
//! survivor) that only an old object points to, since it does not scan
//! old objects. So every old object that may point to one that is not old
//! must be *remembered*: scanned as a root by the next minor cycle. Three
//! things put an object there, and the set of a minor cycle, taken at its
//! STW #1 (`GenState::take_logs`), is their union: every mutator's log,
//! the logs of mutators that detached, and what the last mark carried over.
//!
//! - **The marker's verdict.** A marker that scans an object which will be
//!   old after this cycle (it is old or a survivor: `ObjectRef::promotes`,
//!   fixed from one sweep to the next) also asks of each referent whether
//!   it will be old (`mark::scan::scan`, `mark_closure_alone`). If one will
//!   not, the object is *carried over* to the next remembered set
//!   (`Tally::carry`, published to `MarkState::carried`); otherwise it is
//!   **armed** ([`object::LOG_ARMED`](crate::object) in its header; for an
//!   object of a header-free type, the per-object armed flag of its span,
//!   `tricolor_allocator::ObjectRef::arm`, which the sweep clears for
//!   freed slots as a new header would be clear): from now on a store
//!   into it must log it (`mark::scan::settle`).
//! - **A store outside a mark** into an armed object disarms it and
//!   appends it to the storing mutator's log (`Mutator::store`,
//!   `store_word`): one header load and a test on the fast path, the rest
//!   out of line (for a header-free object, the armed flag through the
//!   mutator's span memo: `mutator::armed`). Young objects and survivors
//!   are never armed, so stores into them, the common case, log nothing.
//! - **A store of a pointer during a mark** (of a cycle that does not
//!   tenure at the first survival) into an object that will be old logs
//!   it, once per mark (the span's logged bit,
//!   `ObjectRef::log_once`), in the barrier's slow path, which every
//!   pointer store takes while marking (`Mutator::barrier_slow`). The
//!   armed bit cannot serve here: a marker may be scanning that object at
//!   that very moment, and a store that found it not yet armed while the
//!   marker read the field's old value would be lost by both (the two
//!   accesses are not ordered without a fence on each side). The age bits
//!   are fixed while marking, so the test is exact.
//!
//! The minor cycle's global-roots job pushes each entry that is still an
//! old object grey (`mark::roots::scan_remembered`); an entry whose object
//! died, or was a survivor that nothing reached, has no old bit and is
//! skipped. Its scan settles it again: armed, or carried over once more.
//! At STW #1 of a major cycle the logs and the carried objects are
//! dropped: the major mark scans every reachable object, and settles each.
//!
//! **§4 Why a minor cycle loses nothing.** Claim: at STW #1 of a minor
//! cycle, every old object that points to an object that is not old is in
//! the remembered set. Take such an old object `X` pointing to `c` then.
//! `X` became old at some sweep. Every object that becomes old was
//! scanned in the mark before, or allocated black in it: a survivor or old
//! object that is marked was reached by a marker (a fresh slot has no age,
//! so an object allocated black becomes old only in a cycle that tenures
//! at the first survival, which arms it from birth and keeps everything
//! it points to then, marked, old); a resurrected object never becomes
//! old. In a cycle that tenures at the first survival, everything
//! reachable is marked and so old at its end, and a store during it
//! leaves an old object pointing to a marked, hence old, one (the mark's
//! barrier marks what is stored, or it was marked already). Otherwise,
//! since `X`'s last scan one of these holds:
//!
//! - the scan saw `c` in the field, or an earlier value. If `c`, then `c`
//!   was a survivor or young, so `X` was carried over; if `c` is old now,
//!   `c` was old or a survivor then, and promoted when `X` was;
//! - a store put `c` there after the scan began. During the mark that
//!   scan belongs to, the store logged `X` (it will be old). After that
//!   mark, `X` was armed by its scan or carried over: an armed `X` is
//!   logged by the store, a carried one is in the set already, and a
//!   disarmed, logged `X` is in a log;
//!
//! and logs and carried objects are only dropped by a major cycle, whose
//! mark rescans and settles every reachable object. So the claim holds.
//! With it, the remembered set plus the roots are a set of grey objects
//! from which, through objects that are not old, every reachable object
//! that is not old can be reached; the mark's barrier (barriers §4–§6)
//! keeps the tri-colour invariant from there as in any cycle, with old
//! objects counting as black. Checkmark checks exactly this after a minor
//! mark: it re-traces from the roots through old objects too, so a young
//! object whose old parent was not remembered is reachable and unmarked,
//! and it fails naming the path. The verifier's rule (a marked object
//! points only to marked objects) checks the same for every marked
//! object, dead old ones included (a dead old object may be remembered
//! too, and then keeps its referents for one more cycle).
//!
//! **§5 The rest of the collector.** Finalizers, cleanups, weak references
//! and ephemerons (specials §1–§6) key on mark bits, so in a minor cycle an
//! old object counts as alive: its finalizer runs, and weak references to it
//! are cleared, after the major cycle that finds it dead. A young
//! object or survivor is treated as in any cycle. The pacer sees the heap
//! after a minor cycle as the old generation at its start (the bytes the
//! last sweep left old, `PageHeap::old_bytes`) plus what the minor cycle
//! marked (`GenState::old_bytes`): the marked bytes of a minor cycle are
//! the survivors and the objects it promotes, never the old ones.
//!
//! **§6 Costs.** A minor cycle marks in proportion to the young survivors
//! and the remembered set, not the heap; its sweep still visits every span
//! (a bitmap pass per span, as in any cycle, with the ages advanced in the
//! same pass). Each span of a generational heap carries three more bitmaps
//! (old, survivor, logged). The store fast path gains a test of a flag the
//! mutator keeps and, in generational mode, a load of the stored-into
//! object's header (in cache: the store writes that object); while
//! marking, each pointer store's slow path looks its object up (a page
//! table walk) for the age test. A marker scanning an object that will be
//! old tests each referent's age bits, in the span its mark bit is in.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use parking_lot::Mutex;

/// The kind of a cycle (generation §1).
///
/// ```
/// use tricolor_collector::CycleKind;
///
/// assert_eq!(CycleKind::Minor.to_string(), "minor");
/// assert_eq!(CycleKind::default(), CycleKind::Major, "non-generational cycles are major");
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum CycleKind {
    /// Marks from the roots and the remembered set; frees young objects
    /// only.
    Minor,
    /// Marks everything reachable; frees everything else. Every cycle of a
    /// heap that is not generational is major.
    #[default]
    Major,
}

impl std::fmt::Display for CycleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CycleKind::Minor => "minor",
            CycleKind::Major => "major",
        })
    }
}

/// A heap's generational state. Unused (and never locked) when the heap is
/// not generational.
pub(crate) struct GenState {
    /// The heap collects generationally (`Config::generational`; fixed).
    pub(crate) enabled: bool,
    /// When objects become old (`Config::tenure`; fixed).
    tenure: crate::Tenure,
    /// The kind of the running cycle (`CycleKind as u8`): written by the
    /// collector thread at STW #1 with the world stopped, read by markers
    /// and the cycle's end.
    current: AtomicU8,
    /// The next cycle should be major (§2): written at STW #2, read when the
    /// next cycle starts.
    next_major: AtomicBool,
    /// The sweep in progress or last finished keeps the mark bits: written
    /// at STW #2 with `next_major`, read when the next cycle starts (a
    /// forced major cycle must clear them).
    marks_sticky: AtomicBool,
    /// The running cycle makes every survivor old, a first survival
    /// included (§1, tenuring): written at STW #1 with `current`, read by
    /// markers, the barrier and the cycle's end.
    tenure_first: AtomicBool,
    /// Bytes allocated between the last two STW #2s, recorded at the
    /// second: the denominator of the tenuring rule.
    allocated_last: AtomicU64,
    /// Bytes (slot sizes) of the old generation as the pacer sees it: what
    /// the last major cycle marked, or after a minor cycle the old bytes
    /// at its start plus what it marked (§5). Written at STW #2.
    pub(crate) old_bytes: AtomicU64,
    /// `old_bytes` after the last major cycle (0 before the first). Written
    /// at STW #2.
    pub(crate) old_after_major: AtomicU64,
    /// Minor cycles since the last major one. Written at STW #2.
    pub(crate) minors_since_major: AtomicU32,
    /// Logs of mutators that detached since the last STW #1 (§3): their
    /// objects join the next cycle's remembered set.
    orphaned: Mutex<Vec<usize>>,
    /// The running minor cycle's remembered set, taken at its STW #1 and
    /// emptied by the global-roots job (`mark::roots::scan_remembered`).
    pub(crate) cycle_set: Mutex<Vec<usize>>,
}

impl GenState {
    pub(crate) fn new(enabled: bool, tenure: crate::Tenure) -> GenState {
        GenState {
            enabled,
            tenure,
            current: AtomicU8::new(CycleKind::Major as u8),
            next_major: AtomicBool::new(true),
            marks_sticky: AtomicBool::new(false),
            tenure_first: AtomicBool::new(false),
            allocated_last: AtomicU64::new(0),
            old_bytes: AtomicU64::new(0),
            old_after_major: AtomicU64::new(0),
            minors_since_major: AtomicU32::new(0),
            orphaned: Mutex::new(Vec::new()),
            cycle_set: Mutex::new(Vec::new()),
        }
    }

    /// The kind of the running (or last) cycle.
    pub(crate) fn current(&self) -> CycleKind {
        if self.current.load(Ordering::Relaxed) == CycleKind::Minor as u8 {
            CycleKind::Minor
        } else {
            CycleKind::Major
        }
    }

    /// Whether the running cycle is minor: markers arm what they scan in
    /// any generational cycle, but only a minor one has a remembered set.
    pub(crate) fn minor(&self) -> bool {
        self.current() == CycleKind::Minor
    }

    /// Chooses the kind of a cycle that is about to start (§2): `wish` is
    /// what its caller asked for (`None`: the policy's choice, made at the
    /// last STW #2). Major if not generational; minor only if the last
    /// sweep kept the marks (otherwise nothing is old). Returns the kind and
    /// whether the marks must be cleared first (major after a sweep that
    /// kept them).
    pub(crate) fn choose(&self, wish: Option<CycleKind>) -> (CycleKind, bool) {
        if !self.enabled {
            return (CycleKind::Major, false);
        }
        let sticky = self.marks_sticky.load(Ordering::Relaxed);
        let kind = match wish {
            Some(CycleKind::Minor) if sticky => CycleKind::Minor,
            Some(_) => CycleKind::Major,
            None if sticky && !self.next_major.load(Ordering::Relaxed) => CycleKind::Minor,
            None => CycleKind::Major,
        };
        (kind, kind == CycleKind::Major && sticky)
    }

    /// Records the marks as cleared (`PageHeap::clear_marks` ran).
    pub(crate) fn marks_cleared(&self) {
        self.marks_sticky.store(false, Ordering::Relaxed);
    }

    /// Sets the running cycle's kind, and whether it tenures at the first
    /// survival (`policy::generations::tenure_at_first_survival`, from
    /// `first_survivors`, what the last sweep found marked for the first
    /// time); STW #1, world stopped, the last sweep done.
    pub(crate) fn begin(&self, kind: CycleKind, first_survivors: u64) {
        self.current.store(kind as u8, Ordering::Relaxed);
        let tenure = self.enabled
            && self
                .tenure
                .first(first_survivors, self.allocated_last.load(Ordering::Relaxed));
        self.tenure_first.store(tenure, Ordering::Relaxed);
    }

    /// Whether the running cycle makes every survivor old (§1).
    #[inline]
    pub(crate) fn tenures_first(&self) -> bool {
        self.tenure_first.load(Ordering::Relaxed)
    }

    /// Records the bytes allocated since the last STW #2; at STW #2.
    pub(crate) fn record_allocated(&self, bytes: u64) {
        self.allocated_last.store(bytes, Ordering::Relaxed);
    }

    /// Takes the logs (§3) at STW #1, world stopped: `logs` are every
    /// mutator's. A minor cycle keeps them, with the orphaned ones, as its
    /// remembered set; a major one drops them. Returns the set's size.
    pub(crate) fn take_logs<'a>(
        &self,
        carried: &mut Vec<usize>,
        logs: impl Iterator<Item = &'a mut Vec<usize>>,
    ) -> usize {
        let minor = self.minor();
        let mut set = self.cycle_set.lock();
        debug_assert!(set.is_empty(), "a remembered set left from the last cycle");
        set.clear();
        let mut orphaned = self.orphaned.lock();
        if minor {
            set.append(&mut orphaned);
            set.append(carried);
        } else {
            orphaned.clear();
            carried.clear();
        }
        for log in logs {
            if minor {
                set.append(log);
            } else {
                log.clear();
            }
        }
        set.len()
    }

    /// Keeps the log of a mutator that detaches (§3).
    pub(crate) fn orphan(&self, log: &mut Vec<usize>) {
        if !log.is_empty() {
            self.orphaned.lock().append(log);
        }
    }

    /// Records the end of a cycle's mark at STW #2 (§2, §5): the old
    /// generation's size after this cycle, given what it marked, and the
    /// policy's decision for the next cycle. `old_at_start` is what the
    /// sweep before this cycle left old (`PageHeap::old_bytes`, complete:
    /// a cycle starts only after the last sweep). Returns what the heap's pacing
    /// needs (§5): the heap in use after the cycle as far as it knows (the
    /// old generation, dead old objects included), the live heap to set the
    /// next goal from (the same: a minor cycle cannot tell dead old objects
    /// from live ones; with aging few objects die old, and a major cycle
    /// comes when the old generation grows), and whether the sweep
    /// starting now keeps the marks.
    pub(crate) fn end_mark(
        &self,
        marked_bytes: u64,
        old_at_start: u64,
        next_major: impl FnOnce(u64, u64, u32) -> bool,
    ) -> GenEnd {
        let old = match self.current() {
            CycleKind::Major => {
                self.old_after_major.store(marked_bytes, Ordering::Relaxed);
                self.minors_since_major.store(0, Ordering::Relaxed);
                marked_bytes
            }
            CycleKind::Minor => {
                self.minors_since_major.fetch_add(1, Ordering::Relaxed);
                old_at_start + marked_bytes
            }
        };
        self.old_bytes.store(old, Ordering::Relaxed);
        let major = next_major(
            old,
            self.old_after_major.load(Ordering::Relaxed),
            self.minors_since_major.load(Ordering::Relaxed),
        );
        self.next_major.store(major, Ordering::Relaxed);
        let keep = self.enabled && !major;
        self.marks_sticky.store(keep, Ordering::Relaxed);
        let base = match self.current() {
            CycleKind::Major => None,
            CycleKind::Minor => Some(self.old_after_major.load(Ordering::Relaxed)),
        };
        GenEnd {
            in_use: old,
            live: old,
            minor_base: base,
            keep_marks: keep,
        }
    }
}

/// What [`GenState::end_mark`] tells the cycle's end (generation §5).
pub(crate) struct GenEnd {
    /// Bytes the heap holds after the cycle's sweep, as far as it knows:
    /// the old generation, dead old objects included.
    pub(crate) in_use: u64,
    /// Bytes to set the next goal from: `in_use`.
    pub(crate) live: u64,
    /// After a minor cycle, the live heap of the last major one, whose
    /// goal caps the next (`Pacer::end_minor_cycle`); `None` after a major.
    pub(crate) minor_base: Option<u64>,
    /// The sweep keeps the marks (the next cycle is minor).
    pub(crate) keep_marks: bool,
}
