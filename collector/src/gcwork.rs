//! The grey set of a concurrent mark, and the one scanning loop every
//! marker runs (Go's `mgcwork.go` and `gcDrain`).
//!
//! Grey objects live in three kinds of place:
//!
//! - the **injector**, a shared queue anyone may push to and steal from: root
//!   scans (globals, stacks by handshake), barrier-buffer flushes, and the
//!   leftovers of a mark assist go here;
//! - each **background worker's deque** (crossbeam-deque, LIFO for the owner),
//!   which other markers steal from through the worker's stealer;
//! - the private deque of a **mark assist** or of the collector thread while it
//!   drains; an assist pushes whatever it did not finish back to the injector
//!   before it returns, and counts itself in `assists_active` meanwhile.
//!
//! Besides these, grey values can sit in the mutators' **barrier buffers**
//! (recorded, not yet shaded). The termination protocol in [`crate::cycle`]
//! (essay step 4) accounts for every one of these places.
//!
//! **Shading** (`shade`) is the only way an object turns grey: resolve the
//! value to an object (checked in debug builds), win its mark bit with an
//! atomic test-and-set, and if it may hold pointers push it. Whoever wins the
//! bit pushes; so each object is scanned at most once per cycle.
//!
//! **Counters.** Bytes and objects marked are summed locally by each marker
//! and added to the shared totals in batches; they are exact once the mark has
//! terminated. Scan work (bytes of objects scanned) done by background
//! workers is credited to `bg_credit`, from which mark assists draw before
//! they scan themselves (Go's `bgScanCredit`).

use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex};

use crate::heap::HeapInner;
use crate::mark::{for_each_referent, resolve, Source};

/// Marked bytes and objects, and scan work, counted locally by one marker.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Bytes (slot sizes) of objects this marker shaded.
    pub(crate) marked_bytes: u64,
    /// Objects this marker shaded.
    pub(crate) marked_objects: u64,
    /// Bytes of objects this marker scanned.
    pub(crate) scanned_bytes: u64,
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
    /// CPU time of background workers and assists this cycle, in ns.
    pub(crate) cpu_ns: AtomicU64,
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
}

impl MarkState {
    pub(crate) fn new(workers: usize) -> MarkState {
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
            cpu_ns: AtomicU64::new(0),
            assist_bytes: AtomicU64::new(0),
            roots_pending: AtomicBool::new(false),
            failure: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            sleep_cv: Condvar::new(),
        }
    }

    /// Resets the counters for a new cycle. World stopped, no marker active.
    pub(crate) fn reset(&self, assist_ratio: f64) {
        debug_assert!(
            self.injector.is_empty(),
            "grey objects left from the last cycle"
        );
        self.marked_bytes.store(0, Ordering::Relaxed);
        self.marked_objects.store(0, Ordering::Relaxed);
        self.black_bytes.store(0, Ordering::Relaxed);
        self.bg_credit.store(0, Ordering::Relaxed);
        self.cpu_ns.store(0, Ordering::Relaxed);
        self.assist_bytes.store(0, Ordering::Relaxed);
        self.assist_ratio
            .store(assist_ratio.to_bits(), Ordering::Relaxed);
    }

    /// Adds a marker's local tally to the totals.
    pub(crate) fn add(&self, t: &mut Tally) {
        if t.marked_objects != 0 {
            self.marked_bytes
                .fetch_add(t.marked_bytes, Ordering::Relaxed);
            self.marked_objects
                .fetch_add(t.marked_objects, Ordering::Relaxed);
        }
        *t = Tally::default();
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

    fn stealers(&self) -> &[Stealer<usize>] {
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

    /// Wakes sleeping background workers after grey objects were pushed.
    pub(crate) fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            let _g = self.sleep_lock.lock();
            self.sleep_cv.notify_all();
        }
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

    /// Wakes every sleeping worker (marking switched on or off, shutdown).
    pub(crate) fn wake_all(&self) {
        let _g = self.sleep_lock.lock();
        self.sleep_cv.notify_all();
    }
}

/// Shades `value`, found at `src`: marks it and, if it won the mark bit and
/// may hold pointers, pushes it onto `out` (a local deque) or the injector.
#[inline]
pub(crate) fn shade(
    heap: &HeapInner,
    value: usize,
    src: Source<'_>,
    out: Option<&Worker<usize>>,
    tally: &mut Tally,
) {
    if let Some(o) = resolve(heap, value, src) {
        if o.mark() {
            tally.marked_bytes += o.size() as u64;
            tally.marked_objects += 1;
            if !o.span().is_noscan() {
                match out {
                    Some(w) => w.push(o.base()),
                    None => heap.mark_state.injector.push(o.base()),
                }
            }
        }
    }
}

/// Shades a batch of values into the injector and wakes the workers; the
/// sink of barrier-buffer flushes and of root scans.
pub(crate) fn shade_all(heap: &HeapInner, values: &[usize], src: Source<'_>) {
    let mut tally = Tally::default();
    for &v in values {
        if v != 0 {
            shade(heap, v, src, None, &mut tally);
        }
    }
    heap.mark_state.add(&mut tally);
    heap.mark_state.wake();
}

/// Scans grey object `obj`: shades every referent onto `local`. Returns the
/// bytes scanned (header included).
#[inline]
pub(crate) fn scan(heap: &HeapInner, obj: usize, local: &Worker<usize>, tally: &mut Tally) -> u64 {
    let words = for_each_referent(heap, obj, |v, desc, field| {
        shade(
            heap,
            v,
            Source::Field { obj, desc, field },
            Some(local),
            tally,
        );
    });
    let bytes = (words as u64 + 1) * 8;
    tally.scanned_bytes += bytes;
    bytes
}

/// Takes one grey object for `local`'s owner: from `local`, else a batch
/// from the injector, else from a background worker's deque (not `skip`).
pub(crate) fn take(heap: &HeapInner, local: &Worker<usize>, skip: Option<usize>) -> Option<usize> {
    if let Some(v) = local.pop() {
        return Some(v);
    }
    let ms = &heap.mark_state;
    steal_into(&ms.injector, ms.stealers(), skip, local)
}

/// Objects a private drain scans between offers of work to others.
const BALANCE_EVERY: usize = 16;

/// Go's `gcWork.balance`: a private deque cannot be stolen from, so when
/// the injector runs dry while this drain holds several grey objects, half
/// of them move to the injector for other assists and workers.
fn balance(ms: &MarkState, local: &Worker<usize>) {
    let n = local.len();
    if n > 1 && ms.injector.is_empty() {
        // The deque is LIFO: popping gives the newest; hand those out and
        // keep the older ones (closer to the roots of what this drain is
        // working through) for ourselves — either half is correct.
        for _ in 0..n / 2 {
            match local.pop() {
                Some(v) => ms.injector.push(v),
                None => break,
            }
        }
        ms.wake();
    }
}

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

/// Drains grey objects on the calling thread with a private deque until
/// `budget` bytes are scanned or no grey object can be found; whatever is
/// left in the private deque goes back to the injector. Returns the bytes
/// scanned. Used by mark assists and by the collector thread.
pub(crate) fn drain_private(heap: &HeapInner, budget: u64, tally: &mut Tally) -> u64 {
    drain_private_limited(heap, budget, usize::MAX, tally).0
}

/// [`drain_private`] limited to `objects` objects; returns the objects
/// scanned.
pub(crate) fn drain_private_objects(heap: &HeapInner, objects: usize, tally: &mut Tally) -> usize {
    drain_private_limited(heap, u64::MAX, objects, tally).1
}

fn drain_private_limited(
    heap: &HeapInner,
    budget: u64,
    objects: usize,
    tally: &mut Tally,
) -> (u64, usize) {
    let ms = &heap.mark_state;
    // Dropped at the end of the function, after the leftovers are pushed:
    // the drain must count as running until its work is visible again
    // (the termination model in tests/loom_termination.rs fails otherwise).
    let _drain = PrivateDrain::enter(ms);
    let local = Worker::new_lifo();
    let mut done = 0u64;
    let mut count = 0usize;
    while done < budget && count < objects {
        let Some(obj) = take(heap, &local, None) else {
            break;
        };
        done += scan(heap, obj, &local, tally);
        count += 1;
        if count % BALANCE_EVERY == 0 {
            balance(ms, &local);
        }
    }
    let mut pushed = false;
    while let Some(v) = local.pop() {
        ms.injector.push(v);
        pushed = true;
    }
    ms.add(tally);
    if pushed {
        ms.wake();
    }
    (done, count)
}

/// A private drain in progress, counted in `private_drains` so that the
/// termination check waits for it (a private deque is invisible to
/// others). Leaving on a panic (a bad pointer found in debug builds) fails
/// the cycle: the grey objects in the deque are lost.
struct PrivateDrain<'a>(&'a MarkState);

impl<'a> PrivateDrain<'a> {
    fn enter(ms: &'a MarkState) -> PrivateDrain<'a> {
        ms.private_drains.fetch_add(1, Ordering::SeqCst);
        ms.epoch.fetch_add(1, Ordering::SeqCst);
        PrivateDrain(ms)
    }
}

impl Drop for PrivateDrain<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .failure
                .lock()
                .get_or_insert_with(|| "a marker panicked while draining".into());
        }
        self.0.private_drains.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks, on the calling thread alone, everything reachable from `values`
/// through white objects: they are shaded into a private deque that no one
/// steals from, and only that deque is drained (no work is taken from or
/// offered to others). On return every such object is marked; objects that
/// were already grey elsewhere are left to their markers, so what lies
/// beyond them may not be marked yet. Every object this call marked is
/// appended to `marked` (noscan ones included). The finalizer stage
/// (specials §2) uses it to learn what one finalizable object reaches,
/// directly or through ephemeron entries, without waking the background
/// workers for each. Returns what it marked and scanned; the caller adds it
/// to the cycle's totals ([`MarkState::add`] when marking concurrently).
pub(crate) fn mark_closure_alone(
    heap: &HeapInner,
    values: &[usize],
    src: Source<'_>,
    marked: &mut Vec<usize>,
) -> Tally {
    let _drain = PrivateDrain::enter(&heap.mark_state);
    let local = Worker::new_lifo();
    let mut tally = Tally::default();
    let mut shade_recording = |v: usize, src: Source<'_>, tally: &mut Tally| {
        if let Some(o) = resolve(heap, v, src) {
            if o.mark() {
                tally.marked_bytes += o.size() as u64;
                tally.marked_objects += 1;
                marked.push(o.base());
                if !o.span().is_noscan() {
                    local.push(o.base());
                }
            }
        }
    };
    for &v in values {
        if v != 0 {
            shade_recording(v, src, &mut tally);
        }
    }
    while let Some(obj) = local.pop() {
        let words = for_each_referent(heap, obj, |v, desc, field| {
            shade_recording(v, Source::Field { obj, desc, field }, &mut tally);
        });
        tally.scanned_bytes += (words as u64 + 1) * 8;
    }
    tally
}
