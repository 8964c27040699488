//! The grey set: where grey objects wait, and how markers hand them to one
//! another (Go's `mgcwork.go`). The loop that takes them and scans them is
//! `mark::drain`; shading and scanning one object is `mark::scan`.
//!
//! Grey objects live in these places:
//!
//! - the **injector**, a shared queue anyone may push to and steal from: root
//!   scans (globals, stacks by handshake), barrier-buffer flushes, and the
//!   leftovers of a mark assist go here;
//! - each **background worker's deque** (crossbeam-deque, LIFO for the owner),
//!   which other markers steal from through the worker's stealer: a worker
//!   moves grey objects there from its private stack for others to take;
//! - each marker's **prefetch ring** (`Prefetched`): up to eight objects
//!   taken from its stack but not yet scanned, each prefetched into the
//!   cache as it entered;
//! - each marker's **private stack** (a `Vec`): a background worker's, a
//!   **mark assist**'s or the collector thread's while it drains, and each
//!   stop-the-world mark worker's. Scans push what they shade there. A
//!   marker offers part of its stack to others when their source runs dry
//!   (every `BALANCE_EVERY` scans, the older half, the roots of the largest
//!   subgraphs left) and the excess over `PRIVATE_MAX` always: a background
//!   worker to its deque (`offer`), a private drain to the injector
//!   (`balance`). An assist pushes whatever it did not finish back to the
//!   injector before it returns, and counts itself in `private_drains`
//!   meanwhile; a background worker is counted busy (not in
//!   `idle_workers`) for as long as its stack or ring holds anything.
//!
//! Why private stacks: popping a crossbeam deque as its owner costs a
//! sequentially consistent fence (the Chase-Lev protocol needs it against
//! thieves), which together with the locked test-and-set of each mark bit
//! makes two serialising instructions per object; a `Vec` pop costs
//! neither.
//!
//! What private stacks risk, and why background workers may have one now:
//! background workers run at idle priority, and the operating system may
//! deschedule one for as long as the mutators keep every core busy. Grey
//! objects only it can see wait for it, and the end of the mark with them.
//! While mutators went on allocating black meanwhile (an assist that found
//! no work returned and let its mutator run on), that raised the next goal,
//! and on the pause benchmark (hybrid, 256 MiB live) it raised peak RSS by
//! a third, so workers once kept every grey object in their deque. Since
//! assists park when they owe work and find none (`mutator::assist` module docs,
//! "Parking"), a mutator cannot run ahead of a mark stuck behind a
//! descheduled worker: it parks, which frees a core for the worker. The
//! same benchmark then shows no growth with worker stacks (PERFORMANCE.md,
//! "Background workers with private stacks").
//!
//! Besides these, grey values can sit in the mutators' **barrier buffers**
//! (recorded, not yet shaded). The termination protocol in [`crate::cycle`]
//! (essay step 4) accounts for every one of these places.
//!
//! **Shading** (`mark::scan::shade`) is the only way an object turns grey;
//! whoever wins an object's mark bit pushes it, so each object is scanned
//! at most once per cycle.
//!
//! **Counters.** Bytes and objects marked are summed locally by each marker
//! and added to the shared totals in batches; they are exact once the mark has
//! terminated. With per-type statistics on (`Config::per_type_stats`), each
//! marker also counts objects and bytes per type in its `Tally` (an object
//! with pointers when it scans it, having read its header to scan it; an
//! object without pointers after it marks it, reading its header for the
//! count alone), and adds them to the cycle's table under a lock with the
//! rest of the batch: no shared write per object. The header of an object
//! without pointers is cold (nothing else in the mark reads it), so its
//! read waits in a small ring (`NOSCAN_PENDING` objects, prefetched as they
//! enter, as `Prefetched` does for grey objects) and the misses overlap;
//! the ring is emptied whenever the tally is published. Scan work (bytes of objects scanned) done by background
//! workers is credited to `bg_credit`, from which mark assists draw before
//! they scan themselves (Go's `bgScanCredit`).

use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex};

use crate::object::{self, ObjRef};

/// Objects without pointers whose header a marker has yet to read for the
/// per-type counts (module docs).
const NOSCAN_PENDING: usize = 16;

/// Marked bytes and objects, and scan work, counted locally by one marker;
/// with per-type statistics on, objects and bytes per type too. Made by
/// [`MarkState::tally`], which knows whether to count per type; published
/// (and its pending per-type counts resolved) by [`MarkState::add`].
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Bytes (slot sizes) of objects this marker shaded.
    pub(crate) marked_bytes: u64,
    /// Objects this marker shaded.
    pub(crate) marked_objects: u64,
    /// Bytes of objects this marker scanned.
    pub(crate) scanned_bytes: u64,
    /// Count per type (`Config::per_type_stats`; fixed for the heap).
    pub(crate) per_type: bool,
    /// Settle the ages of what this marker scans (`Config::generational`,
    /// fixed for the heap; generation §3): arm each object that will be
    /// old, or carry it over to the next remembered set.
    pub(crate) arm: bool,
    /// Objects this marker scanned that will be old after this cycle and
    /// point to one that will not (generation §3): the next cycle's
    /// remembered set needs them. Published by `MarkState::add`.
    pub(crate) carry: Vec<usize>,
    /// Objects and bytes (slot sizes) per type index, counted by this
    /// marker since it last published (`MarkState::add`); grown on demand.
    pub(crate) types: Vec<TypeCount>,
    /// Objects without pointers this marker marked and has not counted per
    /// type yet, with their slot bytes: a ring of `pending_len` entries
    /// from `pending_head`. Each object's header was prefetched when it
    /// entered. Every entry is an object marked in the current mark, so
    /// allocated until the sweep, which no entry outlives: the ring is
    /// emptied when the tally is published, before the mark can end.
    pending: [(usize, u64); NOSCAN_PENDING],
    pending_head: usize,
    pending_len: usize,
}

/// Live objects of one type and their bytes (slot sizes): an entry of a
/// marker's per-type counts, and of the cycle's table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeCount {
    pub(crate) objects: u64,
    pub(crate) bytes: u64,
}

impl Tally {
    /// Counts one live object of type index `ty`, of `bytes` slot bytes.
    #[inline]
    pub(crate) fn count_type(&mut self, ty: u32, bytes: u64) {
        let i = ty as usize;
        if i >= self.types.len() {
            self.grow_types(i);
        }
        let c = &mut self.types[i];
        c.objects += 1;
        c.bytes += bytes;
    }

    #[cold]
    #[inline(never)]
    fn grow_types(&mut self, i: usize) {
        self.types.resize(i + 1, TypeCount::default());
    }

    /// Counts object `obj`, without pointers and of `bytes` slot bytes,
    /// which this marker just marked: its header is prefetched now and
    /// read `NOSCAN_PENDING` objects later (or when the tally is
    /// published).
    #[inline]
    pub(crate) fn count_noscan(&mut self, obj: usize, bytes: u64) {
        prefetch(obj);
        if self.pending_len == NOSCAN_PENDING {
            let (oldest, b) = self.pending[self.pending_head];
            self.count_header(oldest, b);
            self.pending[self.pending_head] = (obj, bytes);
            self.pending_head = (self.pending_head + 1) % NOSCAN_PENDING;
        } else {
            self.pending[(self.pending_head + self.pending_len) % NOSCAN_PENDING] = (obj, bytes);
            self.pending_len += 1;
        }
    }

    /// Counts every object still waiting in the ring.
    pub(crate) fn flush_pending(&mut self) {
        while self.pending_len > 0 {
            let (obj, bytes) = self.pending[self.pending_head];
            self.count_header(obj, bytes);
            self.pending_head = (self.pending_head + 1) % NOSCAN_PENDING;
            self.pending_len -= 1;
        }
    }

    /// Counts `obj` by the type its header names.
    #[inline]
    fn count_header(&mut self, obj: usize, bytes: u64) {
        let o = ObjRef::from_addr(obj).expect("non-null object");
        // Objects of header-free types never enter the ring (`scan::grey`
        // counts them by their span's tag), so `obj` has a header.
        // SAFETY: `obj` entered the ring when this marker marked it, in this
        // mark; it stays allocated until the sweep, which the ring never
        // outlives (the field's docs).
        let (ty, _) = object::decode_header(unsafe { object::load_header(o) });
        self.count_type(ty, bytes);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        debug_assert!(
            self.pending_len == 0 || std::thread::panicking(),
            "a marker's tally was dropped with per-type counts pending (not published)"
        );
        debug_assert!(
            self.carry.is_empty() || std::thread::panicking(),
            "a marker's tally was dropped with objects to carry to the next remembered set \
             (not published)"
        );
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, mut t: Tally) {
        t.flush_pending();
        self.marked_bytes += t.marked_bytes;
        self.marked_objects += t.marked_objects;
        self.scanned_bytes += t.scanned_bytes;
        merge_types(&mut self.types, &t.types);
        self.carry.append(&mut t.carry);
    }
}

/// Adds per-type counts `from` into `into`, growing it as needed.
fn merge_types(into: &mut Vec<TypeCount>, from: &[TypeCount]) {
    if into.len() < from.len() {
        into.resize(from.len(), TypeCount::default());
    }
    for (a, b) in into.iter_mut().zip(from) {
        a.objects += b.objects;
        a.bytes += b.bytes;
    }
}

/// The shared state of the current concurrent mark. One per heap, reused by
/// every cycle; reset at sweep termination (world stopped).
pub(crate) struct MarkState {
    /// Grey objects anyone may take. Pushed by anyone; popped by markers.
    pub(crate) injector: Injector<usize>,
    /// Stealers of the background workers' deques; set once when the workers
    /// are spawned, read-only after.
    pub(crate) stealers: OnceLock<Vec<Stealer<usize>>>,
    /// Number of background mark workers (0 under manual cycles).
    pub(crate) workers: usize,
    /// Bytes shaded this cycle, including allocated-black bytes as reported
    /// by mutators. Added to in batches; exact after termination.
    marked_bytes: AtomicU64,
    /// Objects shaded this cycle.
    marked_objects: AtomicU64,
    /// Bytes allocated black this cycle (reported by mutators in chunks).
    pub(crate) black_bytes: AtomicU64,
    /// Scan work done by background workers not yet claimed by assists, in
    /// bytes. May go negative transiently; assists only take what is there.
    pub(crate) bg_credit: AtomicI64,
    /// Scan bytes owed per byte allocated while marking (f64 bits); set at
    /// sweep termination for the cycle.
    pub(crate) assist_ratio: AtomicU64,
    /// Background workers that are idle (found no work) right now.
    pub(crate) idle_workers: AtomicUsize,
    /// Bumped every time a marker goes from idle to holding work; the
    /// quiescence check reads it before and after, so a worker that took
    /// work in between is noticed.
    pub(crate) epoch: AtomicU64,
    /// Mark assists and collector-thread drains in progress (they hold
    /// private grey objects until they finish).
    pub(crate) private_drains: AtomicUsize,
    /// Background workers should look for work (between sweep termination
    /// and mark termination). Written by the collector thread.
    pub(crate) active: AtomicBool,
    /// Count live objects per type (`Config::per_type_stats`); fixed for
    /// the heap.
    per_type: bool,
    /// Arm scanned objects (`Config::generational`); fixed for the heap.
    arm: bool,
    /// What markers carried over to the next cycle's remembered set
    /// (generation §3; `Tally::carry`), appended by `add`, taken at the
    /// next STW #1 (`GenState::take_logs`).
    pub(crate) carried: Mutex<Vec<usize>>,
    /// This cycle's objects and bytes per type index, added to by markers
    /// as they publish (`add`); taken at mark termination. Reset at sweep
    /// termination.
    types: Mutex<Vec<TypeCount>>,
    /// CPU time of mark assists this cycle, in ns. Added to by mutators.
    pub(crate) assist_cpu_ns: AtomicU64,
    /// CPU time of marking outside the pauses this cycle by background
    /// workers at normal priority and the collector thread (with the
    /// barrier off: the stop-the-world mark's threads), in ns.
    pub(crate) background_cpu_ns: AtomicU64,
    /// CPU time of background workers at idle OS priority this cycle, in ns.
    pub(crate) idle_cpu_ns: AtomicU64,
    /// Scan work done by assists this cycle, in bytes.
    pub(crate) assist_bytes: AtomicU64,
    /// The message of a marker thread that panicked (a bad pointer found
    /// in a debug build); the collector thread fails the cycle with it.
    pub(crate) failure: Mutex<Option<String>>,
    /// The global roots still wait to be scanned by a worker this cycle.
    roots_pending: AtomicBool,
    /// Workers asleep waiting for work; `wake` notifies only if non-zero.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    sleep_cv: Condvar,
    /// Whether a mark assist that owes work and finds none may park
    /// (`mutator::assist` module docs): only when the collector thread drives the
    /// cycle, which ends it without help from any mutator. A stepped cycle
    /// ends when its stepper says so, and the stepper may be waiting on the
    /// very mutator that would park. Set at sweep termination (world
    /// stopped).
    assists_may_park: AtomicBool,
    /// Mutators parked in an assist right now; `wake_assists` notifies only
    /// if non-zero.
    parked_assists: AtomicUsize,
    park_lock: Mutex<()>,
    park_cv: Condvar,
    /// Time mutators spent parked in assists this cycle, in ns, summed over
    /// mutators. Added to by mutators; reset at sweep termination.
    pub(crate) assist_wait_ns: AtomicU64,
    /// Parks of mark assists this cycle (each a wait of at most
    /// `PARK_POLL`), summed over mutators, for tests to wait on
    /// (`Heap::assist_parks_for_testing`). Reset at sweep termination.
    pub(crate) assist_parks: AtomicU64,
}

impl MarkState {
    pub(crate) fn new(workers: usize, per_type: bool, arm: bool) -> MarkState {
        MarkState {
            injector: Injector::new(),
            stealers: OnceLock::new(),
            workers,
            marked_bytes: AtomicU64::new(0),
            marked_objects: AtomicU64::new(0),
            black_bytes: AtomicU64::new(0),
            bg_credit: AtomicI64::new(0),
            assist_ratio: AtomicU64::new(0f64.to_bits()),
            idle_workers: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            private_drains: AtomicUsize::new(0),
            active: AtomicBool::new(false),
            per_type,
            arm,
            carried: Mutex::new(Vec::new()),
            types: Mutex::new(Vec::new()),
            assist_cpu_ns: AtomicU64::new(0),
            background_cpu_ns: AtomicU64::new(0),
            idle_cpu_ns: AtomicU64::new(0),
            assist_bytes: AtomicU64::new(0),
            roots_pending: AtomicBool::new(false),
            failure: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            sleep_cv: Condvar::new(),
            assists_may_park: AtomicBool::new(false),
            parked_assists: AtomicUsize::new(0),
            park_lock: Mutex::new(()),
            park_cv: Condvar::new(),
            assist_wait_ns: AtomicU64::new(0),
            assist_parks: AtomicU64::new(0),
        }
    }

    /// Resets the counters for a new cycle. World stopped, no marker active.
    /// `assists_may_park`: the collector thread drives this cycle (see the
    /// field).
    pub(crate) fn reset(&self, assist_ratio: f64, assists_may_park: bool) {
        debug_assert!(
            self.injector.is_empty(),
            "grey objects left from the last cycle"
        );
        self.marked_bytes.store(0, Ordering::Relaxed);
        self.marked_objects.store(0, Ordering::Relaxed);
        self.black_bytes.store(0, Ordering::Relaxed);
        self.bg_credit.store(0, Ordering::Relaxed);
        self.assist_cpu_ns.store(0, Ordering::Relaxed);
        self.background_cpu_ns.store(0, Ordering::Relaxed);
        self.idle_cpu_ns.store(0, Ordering::Relaxed);
        self.types.lock().clear();
        self.assist_bytes.store(0, Ordering::Relaxed);
        self.assist_wait_ns.store(0, Ordering::Relaxed);
        self.assist_parks.store(0, Ordering::Relaxed);
        self.assist_ratio
            .store(assist_ratio.to_bits(), Ordering::Relaxed);
        self.assists_may_park
            .store(assists_may_park, Ordering::Relaxed);
    }

    /// An empty tally for a marker of this heap.
    pub(crate) fn tally(&self) -> Tally {
        Tally {
            marked_bytes: 0,
            marked_objects: 0,
            scanned_bytes: 0,
            per_type: self.per_type,
            arm: self.arm,
            carry: Vec::new(),
            types: Vec::new(),
            pending: [(0, 0); NOSCAN_PENDING],
            pending_head: 0,
            pending_len: 0,
        }
    }

    /// Adds a marker's local tally to the totals and empties it (keeping
    /// its per-type table's capacity).
    pub(crate) fn add(&self, t: &mut Tally) {
        t.flush_pending();
        if t.marked_objects != 0 {
            self.marked_bytes
                .fetch_add(t.marked_bytes, Ordering::Relaxed);
            self.marked_objects
                .fetch_add(t.marked_objects, Ordering::Relaxed);
        }
        if !t.types.is_empty() {
            merge_types(&mut self.types.lock(), &t.types);
            t.types.clear();
        }
        if !t.carry.is_empty() {
            self.carried.lock().append(&mut t.carry);
        }
        t.marked_bytes = 0;
        t.marked_objects = 0;
        t.scanned_bytes = 0;
    }

    /// This cycle's objects and bytes per type index (empty unless per-type
    /// statistics are on). Exact once the mark has terminated, every
    /// marker having published.
    pub(crate) fn take_types(&self) -> Vec<TypeCount> {
        std::mem::take(&mut *self.types.lock())
    }

    /// The mark's CPU time this cycle: (assists, background, idle).
    pub(crate) fn cpu(&self) -> (Duration, Duration, Duration) {
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        (
            d(&self.assist_cpu_ns),
            d(&self.background_cpu_ns),
            d(&self.idle_cpu_ns),
        )
    }

    /// (bytes, objects) marked this cycle, allocated-black bytes included.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.marked_bytes.load(Ordering::Relaxed) + self.black_bytes.load(Ordering::Relaxed),
            self.marked_objects.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn assist_ratio(&self) -> f64 {
        f64::from_bits(self.assist_ratio.load(Ordering::Relaxed))
    }

    pub(crate) fn stealers(&self) -> &[Stealer<usize>] {
        self.stealers.get().map_or(&[], Vec::as_slice)
    }

    /// Whether any grey object is visible in a shared place (the injector
    /// or a background worker's deque).
    pub(crate) fn work_visible(&self) -> bool {
        !self.injector.is_empty() || self.stealers().iter().any(|s| !s.is_empty())
    }

    /// True if no marker holds or can find grey objects right now: every
    /// background worker is idle, no assist or drain is running, and the
    /// shared queues are empty, with no marker having taken work while we
    /// looked. Grey values may still sit in mutators' barrier buffers; the
    /// termination protocol flushes those ([`crate::cycle`]).
    pub(crate) fn quiescent(&self) -> bool {
        let e0 = self.epoch.load(Ordering::SeqCst);
        let quiet = !self.roots_pending()
            && self.idle_workers.load(Ordering::SeqCst) == self.workers
            && self.private_drains.load(Ordering::SeqCst) == 0
            && !self.work_visible();
        fence(Ordering::SeqCst);
        quiet
            && self.idle_workers.load(Ordering::SeqCst) == self.workers
            && self.private_drains.load(Ordering::SeqCst) == 0
            && self.epoch.load(Ordering::SeqCst) == e0
    }

    /// Posts the global-roots job for this cycle.
    pub(crate) fn post_roots_job(&self) {
        self.roots_pending.store(true, Ordering::SeqCst);
    }

    /// Whether the global-roots job is posted and not yet taken.
    pub(crate) fn roots_pending(&self) -> bool {
        self.roots_pending.load(Ordering::SeqCst)
    }

    /// Takes the global-roots job; true for exactly one caller per posting.
    pub(crate) fn take_roots_job(&self) -> bool {
        self.roots_pending
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Wakes sleeping background workers and parked assists after grey
    /// objects were pushed.
    pub(crate) fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            let _g = self.sleep_lock.lock();
            self.sleep_cv.notify_all();
        }
        self.wake_assists();
    }

    /// Puts a background worker to sleep until work is pushed, marking is
    /// switched off or on, or `timeout` passes (a backstop).
    pub(crate) fn sleep(&self, timeout: Duration, until: impl Fn() -> bool) {
        let mut g = self.sleep_lock.lock();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !until() {
            self.sleep_cv.wait_for(&mut g, timeout);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every sleeping worker and parked assist (marking switched on
    /// or off, shutdown).
    pub(crate) fn wake_all(&self) {
        {
            let _g = self.sleep_lock.lock();
            self.sleep_cv.notify_all();
        }
        let _g = self.park_lock.lock();
        self.park_cv.notify_all();
    }

    /// Whether an assist that owes work and finds none may park this cycle.
    pub(crate) fn assists_may_park(&self) -> bool {
        self.assists_may_park.load(Ordering::Relaxed)
    }

    /// Parks a mutator (in native state) that owes assist work and found no
    /// grey object, until background credit or grey objects show up, marking
    /// stops, or `timeout` passes (a backstop: every one of those events
    /// wakes it, see `wake_assists`).
    ///
    /// No lost wake-up: the parker counts itself in `parked_assists` and
    /// then (after a SeqCst fence) checks the conditions under `park_lock`;
    /// a waker makes a condition true, fences, and then reads the count and
    /// takes the lock to notify. One of the two sees the other's write.
    pub(crate) fn park_assist(&self, timeout: Duration) {
        let mut g = self.park_lock.lock();
        self.parked_assists.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.active.load(Ordering::SeqCst)
            && self.bg_credit.load(Ordering::SeqCst) <= 0
            && !self.work_visible()
        {
            self.park_cv.wait_for(&mut g, timeout);
        }
        self.parked_assists.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes parked assists, if any: background credit was published, grey
    /// objects were pushed, or marking stopped.
    pub(crate) fn wake_assists(&self) {
        fence(Ordering::SeqCst);
        if self.parked_assists.load(Ordering::SeqCst) != 0 {
            let _g = self.park_lock.lock();
            self.park_cv.notify_all();
        }
    }
}

/// Where a marker puts the grey objects it shades: its private stack, or
/// the injector (root scans and barrier flushes).
pub(crate) trait Grey {
    /// Adds grey object `obj`.
    fn push_grey(&mut self, obj: usize);
}

impl Grey for Vec<usize> {
    #[inline]
    fn push_grey(&mut self, obj: usize) {
        self.push(obj);
    }
}

impl Grey for &Injector<usize> {
    #[inline]
    fn push_grey(&mut self, obj: usize) {
        self.push(obj);
    }
}

/// Grey objects a marker holds between its stack and its scanner.
const PREFETCH: usize = 8;

/// A marker's small FIFO of grey objects already taken from its stack or
/// deque but not yet scanned, each prefetched into the cache when it entered (the
/// prefetch-on-grey buffer of Cher, Hosking and Vijaykumar, 2004).
///
/// The first load of a grey object (its header) may miss the cache, and the
/// locked test-and-set on a referent's mark bit that follows waits for it.
/// Taking objects through this ring issues the prefetch of an object
/// `PREFETCH` scans before its header is read, so the misses of several
/// objects can overlap. It changes only the order of scanning (FIFO within
/// a window of `PREFETCH`, LIFO beyond), which no marker depends on.
///
/// Objects in the ring are grey objects only this marker can see, like its
/// private stack; every user keeps the ring inside the span in which it
/// counts as busy (a background worker not idle, a private drain counted
/// in `private_drains`) and hands the ring back to a shared queue
/// ([`Prefetched::spill`]) or empties it before leaving that span, so the
/// termination check (essay step 4) sees them as it sees the deques.
pub(crate) struct Prefetched {
    /// The objects, oldest at `head`; `len` of them from `head`, wrapping.
    buf: [usize; PREFETCH],
    head: usize,
    len: usize,
}

impl Prefetched {
    pub(crate) fn new() -> Prefetched {
        Prefetched {
            buf: [0; PREFETCH],
            head: 0,
            len: 0,
        }
    }

    /// The next grey object to scan: the ring is first topped up from
    /// `stack` (prefetching each object that enters), then its oldest object
    /// leaves. With the ring and `stack` both empty, `refill` is asked for
    /// one (a steal); what it returns is scanned without a prefetch.
    #[inline]
    pub(crate) fn take(
        &mut self,
        stack: &mut Vec<usize>,
        refill: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        self.fill(|| stack.pop());
        self.next().or_else(refill)
    }

    #[inline]
    fn fill(&mut self, mut pop: impl FnMut() -> Option<usize>) {
        while self.len < PREFETCH {
            let Some(v) = pop() else { break };
            prefetch(v);
            self.buf[(self.head + self.len) % PREFETCH] = v;
            self.len += 1;
        }
    }

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let v = self.buf[self.head];
        self.head = (self.head + 1) % PREFETCH;
        self.len -= 1;
        Some(v)
    }

    /// Moves every held object to `out` (a shared queue); returns whether
    /// there were any.
    pub(crate) fn spill(&mut self, out: &Injector<usize>) -> bool {
        let any = self.len > 0;
        while let Some(v) = self.next() {
            out.push(v);
        }
        any
    }
}

/// Asks the CPU to bring the cache line at `addr` in, for reading soon.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and has no effect the
    // program can observe, whatever the address (Intel SDM, PREFETCHh).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Objects a marker scans between offers of work to others.
pub(crate) const BALANCE_EVERY: usize = 16;

/// Go's `gcWork.balance`, for a private drain, called after each scan
/// (`count` of them so far): its stack cannot be stolen from, so some of it
/// moves to the injector for other assists and workers when the stack
/// holds more than [`PRIVATE_MAX`] objects (all but the newest
/// `PRIVATE_MAX / 2`), or, every [`BALANCE_EVERY`] scans, when the injector
/// has run dry while the stack holds several (the older half: the roots of
/// the largest subgraphs left).
pub(crate) fn balance(ms: &MarkState, stack: &mut Vec<usize>, count: usize) {
    let n = stack.len();
    let keep = if n > PRIVATE_MAX {
        PRIVATE_MAX / 2
    } else if n > 1 && count.is_multiple_of(BALANCE_EVERY) && ms.injector.is_empty() {
        n - n / 2
    } else {
        return;
    };
    for v in stack.drain(..n - keep) {
        ms.injector.push(v);
    }
    ms.wake();
}

/// [`balance`] for a background worker, called after each scan (`count`
/// of them so far): moves grey objects from its private stack to its
/// deque, where others can steal them: all but the newest
/// `PRIVATE_MAX / 2` when the stack holds more than [`PRIVATE_MAX`], and
/// every [`BALANCE_EVERY`] scans the older half when the deque has run dry.
#[inline]
pub(crate) fn offer(stack: &mut Vec<usize>, deque: &Worker<usize>, count: usize) {
    let n = stack.len();
    let keep = if n > PRIVATE_MAX {
        PRIVATE_MAX / 2
    } else if n > 1 && count.is_multiple_of(BALANCE_EVERY) && deque.is_empty() {
        n - n / 2
    } else {
        return;
    };
    for v in stack.drain(..n - keep) {
        deque.push(v);
    }
}

/// Grey objects a private drain keeps in its stack; beyond this,
/// `balance` offers the excess to others.
pub(crate) const PRIVATE_MAX: usize = 256;

/// Steals a batch for `local` from `injector`, else from one of
/// `stealers` (not `skip`), and pops one object; retries while a steal
/// reports contention. Shared by every marker, including the
/// stop-the-world mark.
pub(crate) fn steal_into(
    injector: &Injector<usize>,
    stealers: &[Stealer<usize>],
    skip: Option<usize>,
    local: &Worker<usize>,
) -> Option<usize> {
    loop {
        let mut retry = false;
        match injector.steal_batch_and_pop(local) {
            Steal::Success(v) => return Some(v),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        for (i, s) in stealers.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            match s.steal_batch_and_pop(local) {
                Steal::Success(v) => return Some(v),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{offer, Prefetched, BALANCE_EVERY, PREFETCH, PRIVATE_MAX};
    use crossbeam_deque::{Injector, Steal, Worker};
    use proptest::prelude::*;

    /// One step of a marker's use of its ring: `Some(n)` pushes `n` new
    /// objects (a scan), `None` takes one.
    fn ops() -> impl Strategy<Value = Vec<Option<usize>>> {
        proptest::collection::vec(proptest::option::of(0usize..40), 0..200)
    }

    /// Everything `seen` so far, what `ring` still holds (spilled) and
    /// `rest`, sorted.
    fn all_of(
        mut seen: Vec<usize>,
        ring: &mut Prefetched,
        rest: impl IntoIterator<Item = usize>,
    ) -> Vec<usize> {
        let inj = Injector::new();
        ring.spill(&inj);
        loop {
            match inj.steal() {
                Steal::Success(v) => seen.push(v),
                Steal::Empty => break,
                Steal::Retry => {}
            }
        }
        seen.extend(rest);
        seen.sort_unstable();
        seen
    }

    proptest! {
        /// Whatever the order of pushes and takes, every grey object comes
        /// out of the ring exactly once (taken, or spilled at the end), the
        /// ring never holds more than `PREFETCH`, and `take` returns `None`
        /// only when the ring and the stack are both empty.
        #[test]
        fn ring_over_a_stack_loses_and_duplicates_nothing(ops in ops()) {
            let mut ring = Prefetched::new();
            let mut stack = Vec::new();
            let mut next = 1usize;
            let mut seen = Vec::new();
            for op in ops {
                match op {
                    Some(n) => {
                        stack.extend(next..next + n);
                        next += n;
                    }
                    None => match ring.take(&mut stack, || None) {
                        Some(v) => seen.push(v),
                        None => prop_assert!(stack.is_empty() && ring.len == 0),
                    },
                }
                prop_assert!(ring.len <= PREFETCH);
            }
            prop_assert_eq!(all_of(seen, &mut ring, stack), (1..next).collect::<Vec<_>>());
        }

        /// A background worker's loop in miniature: the ring over its
        /// private stack, refilled from its deque, with `offer` after each
        /// take. Every object comes out exactly once; the stack never
        /// exceeds `PRIVATE_MAX` after an offer; and an offer on a dry deque
        /// at a balancing step leaves the deque holding something whenever
        /// the stack held two objects or more.
        #[test]
        fn worker_stack_ring_and_deque_lose_and_duplicate_nothing(
            ops in proptest::collection::vec(proptest::option::of(0usize..400), 0..300)
        ) {
            let mut ring = Prefetched::new();
            let mut stack = Vec::new();
            let deque = Worker::new_lifo();
            let mut next = 1usize;
            let mut seen = Vec::new();
            let mut count = 0usize;
            for op in ops {
                match op {
                    Some(n) => {
                        stack.extend(next..next + n);
                        next += n;
                    }
                    None => {
                        match ring.take(&mut stack, || deque.pop()) {
                            Some(v) => seen.push(v),
                            None => prop_assert!(
                                stack.is_empty() && deque.is_empty() && ring.len == 0
                            ),
                        }
                        count += 1;
                        let dry = deque.is_empty() && stack.len() > 1 && count.is_multiple_of(BALANCE_EVERY);
                        offer(&mut stack, &deque, count);
                        prop_assert!(stack.len() <= PRIVATE_MAX);
                        if dry {
                            prop_assert!(!deque.is_empty());
                        }
                    }
                }
                prop_assert!(ring.len <= PREFETCH);
            }
            let rest: Vec<usize> = stack.drain(..).chain(std::iter::from_fn(|| deque.pop())).collect();
            prop_assert_eq!(all_of(seen, &mut ring, rest), (1..next).collect::<Vec<_>>());
        }
    }

    /// The ring hands objects out oldest first: a window of FIFO order over
    /// the stack's LIFO order.
    #[test]
    fn ring_is_fifo_within_its_window() {
        let mut ring = Prefetched::new();
        let mut stack: Vec<usize> = (1..=3).collect();
        // Filled from the top of the stack: 3, 2, 1; handed out in that order.
        let got: Vec<_> = std::iter::from_fn(|| ring.take(&mut stack, || None)).collect();
        assert_eq!(got, [3, 2, 1]);
        // With the ring and stack empty, the refill is asked.
        assert_eq!(ring.take(&mut stack, || Some(42)), Some(42));
    }
}
