//! Generational collection with sticky mark bits ([`Config::generational`](crate::Config::generational)).
//!
//! The essay below is cited as "generation §n".
//!
//! **§1 Sticky mark bits.** A non-moving collector can be generational
//! without moving anything (Demers et al. 1990; JavaScriptCore's Riptide,
//! MMTk's StickyImmix, Ruby's RGenGC): an object is *old* when its mark bit
//! is set and *young* when it is not. A **major** cycle is the ordinary
//! cycle of the crate essay: the sweep before it clears every mark bit, it
//! marks everything reachable, and its sweep frees the rest. A **minor**
//! cycle starts with the mark bits the last sweep *kept*
//! (`PageHeap::start_sweep_cycle_keeping_marks`): every object that
//! survived it is still marked, so the markers, which never scan an object
//! whose bit they did not win, stop at old objects. It marks from the roots
//! and the **remembered set** (§3) only, and its sweep frees the unmarked,
//! that is the young objects nothing reached, and keeps every mark bit again
//! if the next cycle is minor too. Old objects that died are found by the
//! next major cycle.
//!
//! **§2 Which kind.** The kind of the next cycle is decided at mark
//! termination (STW #2) by the pacer's pure policy
//! (`policy::generations::next_is_major`): major when there was none yet,
//! when the old generation has grown by GOGC per cent since the last major
//! cycle, when it nears the memory limit, or after a bound of minor cycles in
//! a row; otherwise minor. The sweep then keeps or clears the marks to suit.
//! A cycle the program asks for ([`Heap::collect`](crate::Heap::collect))
//! is always major; if the sweep before it kept the marks, the cycle clears
//! them first (`PageHeap::clear_marks`, with the world running, before
//! STW #1). The kind of the running cycle is in `GenState::current`.
//!
//! **§3 The remembered set.** A minor cycle misses a young object that only
//! an old object points to, since it does not scan old objects. So every
//! old object that may point to a young one must be *remembered*: scanned
//! as a root by the next minor cycle. The barrier that keeps this set is
//! an object-logging barrier (Immix's and RGenGC's), on a header bit
//! ([`object::LOG_ARMED`](crate::object)):
//!
//! - an object is **armed** when it becomes old: a marker arms each object
//!   it scans (`mark::scan::scan`, `mark_closure_alone`) before reading its
//!   fields; an object allocated black is armed from birth (the mutator's
//!   `header_bits`); an object the sweep resurrects for its finalizer is
//!   armed there (`specials::sweep`);
//! - a pointer store **outside a mark** into an armed object disarms it and
//!   appends it to the storing mutator's log (`Mutator::store`,
//!   `store_word`): one header load and a test on the fast path, the rest
//!   out of line; young objects are never armed, so stores into them, the
//!   common case, log nothing;
//! - at STW #1 of a minor cycle every mutator's log, and the logs of
//!   mutators that have detached, become the cycle's remembered set
//!   (`GenState::take_logs`), which the global-roots job scans
//!   (`mark::roots::scan_remembered`): each object is re-armed, then pushed
//!   grey although its bit is already set, so its fields are scanned. At
//!   STW #1 of a major cycle the logs are dropped: the major mark scans (and
//!   arms) every reachable object anyway.
//!
//! Stores *during* a mark log nothing: the mark's own barrier covers them
//! (barriers §4–§6), and when the mark ends every live object is marked,
//! hence old, so no old-to-young pointer can exist until the world runs
//! again after STW #2 (§4).
//!
//! **§4 Why a minor cycle loses nothing.** Claim: at STW #1 of a minor
//! cycle, every old object that points to a young object is in the
//! remembered set. After any cycle's STW #2 every live object is marked, so
//! the claim holds vacuously then. Afterwards, young objects are those
//! allocated since, and a pointer to one gets into an old object only by a
//! store outside a mark (stores inside a mark come after the next STW #1).
//! If the old object was armed, the store logs it. If it was not, it is
//! either already in a log (logged once since it was last armed, and logs
//! are only dropped by a major cycle, which needs none) or it was never
//! armed: but every object that became old was armed when it did (§3's
//! list covers every way a mark bit gets set: a marker's scan, allocation
//! black, a resurrection; objects without pointer fields need no bit).
//! With the claim, the remembered set plus the roots are a set of grey
//! objects from which, through young objects only, every reachable young
//! object can be reached; the mark's barrier (barriers §4–§6) keeps the
//! tri-colour invariant from there as in any cycle, with old objects
//! counting as black. Checkmark checks exactly this after a minor mark:
//! it re-traces from the roots through old objects too, so a young object
//! whose old parent was not remembered is reachable and unmarked, and it
//! fails naming the path. The verifier's rule (a marked object points only
//! to marked objects) checks the same for every marked object, dead old
//! ones included.
//!
//! **§5 The rest of the collector.** Finalizers, cleanups, weak references
//! and ephemerons (specials §1–§6) key on mark bits, so in a minor cycle an
//! old object counts as alive: its finalizer runs, and weak references to it
//! are cleared, after the major cycle that finds it dead. A young
//! object is treated as in any cycle. The pacer sees the live heap as the
//! old generation plus what the minor cycle marked (`GenState::old_bytes`):
//! the marked bytes of a minor cycle are its survivors only.
//!
//! **§6 Costs.** A minor cycle marks in proportion to the young survivors
//! and the remembered set, not the heap; its sweep still visits every span
//! (a bitmap pass per span, as in any cycle). The store fast path gains a
//! test of a flag the mutator keeps and, in generational mode, a load of the
//! stored-into object's header (in cache: the store writes that object).

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
    /// Bytes (slot sizes) of the old generation as the pacer sees it: what
    /// the last major cycle marked plus what each minor cycle since marked
    /// (§5). Written at STW #2.
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
    pub(crate) fn new(enabled: bool) -> GenState {
        GenState {
            enabled,
            current: AtomicU8::new(CycleKind::Major as u8),
            next_major: AtomicBool::new(true),
            marks_sticky: AtomicBool::new(false),
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

    /// Sets the running cycle's kind; STW #1, world stopped.
    pub(crate) fn begin(&self, kind: CycleKind) {
        self.current.store(kind as u8, Ordering::Relaxed);
    }

    /// Takes the logs (§3) at STW #1, world stopped: `logs` are every
    /// mutator's. A minor cycle keeps them, with the orphaned ones, as its
    /// remembered set; a major one drops them. Returns the set's size.
    pub(crate) fn take_logs<'a>(&self, logs: impl Iterator<Item = &'a mut Vec<usize>>) -> usize {
        let minor = self.minor();
        let mut set = self.cycle_set.lock();
        debug_assert!(set.is_empty(), "a remembered set left from the last cycle");
        set.clear();
        let mut orphaned = self.orphaned.lock();
        if minor {
            set.append(&mut orphaned);
        } else {
            orphaned.clear();
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
    /// policy's decision for the next cycle. Returns what the heap's pacing
    /// needs (§5): the heap in use after the cycle as far as it knows (the
    /// old generation, dead old objects included), the live heap to set the
    /// next goal from (what the last major cycle marked plus this cycle's
    /// survivors: old objects that died since are not live, so they do not
    /// raise the goal), and whether the sweep starting now keeps the marks.
    pub(crate) fn end_mark(
        &self,
        marked_bytes: u64,
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
                self.old_bytes.load(Ordering::Relaxed) + marked_bytes
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
        let live = match self.current() {
            CycleKind::Major => marked_bytes,
            CycleKind::Minor => self.old_after_major.load(Ordering::Relaxed) + marked_bytes,
        };
        GenEnd {
            in_use: old,
            live,
            keep_marks: keep,
        }
    }
}

/// What [`GenState::end_mark`] tells the cycle's end (generation §5).
pub(crate) struct GenEnd {
    /// Bytes the heap holds after the cycle's sweep, as far as it knows:
    /// the old generation, dead old objects included.
    pub(crate) in_use: u64,
    /// Bytes to set the next goal from: the last major cycle's live heap
    /// plus this cycle's survivors.
    pub(crate) live: u64,
    /// The sweep keeps the marks (the next cycle is minor).
    pub(crate) keep_marks: bool,
}
