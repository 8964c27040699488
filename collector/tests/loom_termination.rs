#![cfg(loom)]
//! A loom model of concurrent-mark termination (essay step 4): the places a
//! grey object can be, the quiescence check, flush handshakes, and the final
//! flush and drain with the world stopped. It checks that a mark never ends
//! with a reachable object white.
//!
//! Run it with
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tricolor-collector --test loom_termination --release
//! ```
//!
//! (`LOOM_MAX_PREEMPTIONS=n` overrides the preemption bound below.)
//!
//! The model re-implements the protocol of `mark/queue.rs` (`MarkState`),
//! `mark/drain.rs` (the drain loops), `mark/workers.rs` (the worker loop)
//! and `cycle/mod.rs` (`await_mark_end`, `flush_buffers`,
//! `mark_termination`), paths under `collector/src/`, on loom's atomics and
//! mutexes, with the same counters, the same order of their updates and the
//! same memory orderings, on heaps of three and four objects. The handshake
//! and the stop are those of `mutator/safepoint.rs`, reduced (their own
//! model is `tests/loom_safepoint.rs`).
//!
//! Why a model rather than the real code under a `cfg(loom)` shim of its
//! atomics and locks: the shim would not be cheap. `MarkState` keeps grey
//! objects in crossbeam-deque's `Injector`, `Worker` and `Stealer`, which
//! are not loom-aware (loom sees neither their atomics nor their
//! epoch-based reclamation); workers sleep with parking_lot's
//! `Condvar::wait_for`; and scanning reads real objects through the
//! allocator's span table and mark bitmaps in mapped memory. A shim would
//! have to replace all three. So the model mirrors the code by hand, and
//! `tests/loom_models_match_code.rs` (an ordinary test) checks that it
//! still does: for each row below, that the real functions exist where the
//! table says and that they and the model's step perform the same sequence
//! of atomic operations (with orderings), fences, lock acquisitions and
//! protocol calls, listed once, in that test's `MIRRORS`.
//!
//! # Model step → real code
//!
//! | model | real code | the sequence it mirrors |
//! |---|---|---|
//! | `Gc::marks`, `Gc::fields` | objects: a mark bit each, pointer fields | see `Gc::shade`, `Gc::scan`, `Gc::load`, `Gc::store` |
//! | `Gc::shade` | `shade` → `grey` (`mark/scan.rs`) → `ObjectRef::mark` (`allocator/src/heap.rs`) → `GcBits::test_and_set` (`allocator/src/bitmap.rs`) | win the mark bit: a `Relaxed` load, then a `Relaxed` `fetch_or`; the winner counts and pushes it |
//! | `Gc::scan` | `scan` → `referents` (`mark/scan.rs`) → `load_field` (`object.rs`) | each pointer field an `Acquire` load, then `grey` |
//! | `Gc::load` | `Mutator::load` (`mutator/fields.rs`) → `load_field` (`object.rs`) | an `Acquire` load |
//! | `Gc::store` | `Mutator::store` (`mutator/fields.rs`) → `swap_field` (`object.rs`), `PhaseWord::marking` (`phase.rs`), `barrier_slow` | swap the field (`Relaxed` load, `Release` store), then a `Relaxed` load of the phase; while marking, the hybrid barrier of a scanned stack records the old value into a `BarrierBuffer` of capacity 2, flushed when full |
//! | `Gc::flush` | `flush` (`mutator/barrier.rs`) → `HeapSink` → `shade_all` → `shade_roots` (`mark/scan.rs`) | shade every record into the injector, `add` the tally, `wake` |
//! | `Gc::injector`, `Gc::deque` | `MarkState::injector` (`mark/queue.rs`) and the one background worker's deque | FIFO; the owner pushes and pops at the back (LIFO), thieves steal at the front |
//! | `Gc` | `MarkState` (`mark/queue.rs`) | fields `idle_workers`, `epoch`, `private_drains`, `active`, `sleepers`, `sleep_lock`, `sleep_cv`, `marked_objects` |
//! | `Gc::add`, `Gc::totals` | `MarkState::add`, `MarkState::totals` (`mark/queue.rs`) | `Relaxed` add and load of `marked_objects` (the model counts no bytes) |
//! | `Gc::work_visible` | `MarkState::work_visible` (`mark/queue.rs`) | the injector or a deque is non-empty |
//! | `Gc::quiescent` | `MarkState::quiescent` (`mark/queue.rs`) | `epoch`; (`roots_pending`, not modelled;) `idle_workers`, `private_drains`, `work_visible`; a `SeqCst` fence; `idle_workers`, `private_drains`, `epoch` again; every load `SeqCst` |
//! | `Gc::wake` | `MarkState::wake` (`mark/queue.rs`) | a `SeqCst` fence; if `sleepers` (`SeqCst`) is non-zero, lock `sleep_lock` and `notify_all` (then `wake_assists`: `loom_assist_park.rs`) |
//! | `Gc::sleep` | `MarkState::sleep` (`mark/queue.rs`), without its 1 ms timeout | lock `sleep_lock`; `sleepers` + 1 (`SeqCst`); a `SeqCst` fence; `until`, else wait; `sleepers` − 1 |
//! | `Gc::wake_all` | `MarkState::wake_all` (`mark/queue.rs`) | lock `sleep_lock`, `notify_all` (then the same for parked assists) |
//! | `Gc::take_worker`, `Gc::take_private` | `Prefetched::take` over the private stack, `steal_into` (`mark/queue.rs`) | own stack or deque, the injector, a steal (one object, not a batch) |
//! | `worker` | `work` (`mark/workers.rs`), with its `drain_worker` (`mark/drain.rs`) and `publish` | sleep until work is visible; `epoch` + 1, then `idle_workers` − 1 (`SeqCst`); take and scan onto the private stack, offering its older half to the deque when that is empty (`offer`, `mark/queue.rs`), until nothing is left; `publish` the tally; `idle_workers` + 1 (`SeqCst`) |
//! | `Gc::drain_private` | `drain_private` → `drain_private_limited`, with `PrivateDrain::enter` and `impl Drop for PrivateDrain` (`mark/drain.rs`) | `private_drains` + 1, then `epoch` + 1 (`SeqCst`); take (own, injector, steal) and scan up to a budget; leftovers to the injector; `add`; `wake`; `private_drains` − 1 (`SeqCst`) |
//! | `MutatorShared`, `Buffer` | `MutatorShared` (`mutator/state.rs`); the barrier buffer of its `MutatorData` | fields `poll`, `data` (the state lock, here over the buffer alone), `handshake` |
//! | `mutator` | a running mutator: stores, a mark assist (`assist`, `mutator/assist.rs`: a budgeted `drain_private`), polls | |
//! | `safepoint` | `Mutator::safepoint` → `safepoint_slow` (`mutator/mod.rs`) → `at_safepoint` (`mutator/safepoint.rs`) | `Acquire` loads of `poll`; a posted handshake runs; at a stop the model's mutator parks for good |
//! | `run_handshake` | `run_handshake` (`mutator/safepoint.rs`) | CAS `HS_POSTED`→`HS_CLAIMED` (`AcqRel`, `Acquire`); the closure (here: `Gc::flush`); `fetch_and(!POLL_HANDSHAKE, AcqRel)`; store `HS_DONE` (`Release`) |
//! | `flush_buffers` | `flush_buffers` (`cycle/mod.rs`) over `handshake` → `handshake_some` (`mutator/safepoint.rs`) | store `HS_POSTED` (`Release`), `fetch_or(POLL_HANDSHAKE, AcqRel)`; until `HS_DONE` (`Acquire`): run it under `try_lock` of the mutator's state; store `HS_IDLE` |
//! | `collector` | `await_mark_end`, then `mark_termination` with its `drain_stopped` (`cycle/mod.rs`) | until a flush shades nothing new: `quiescent` (else `help_if_stalled`, here a yield), `totals`, `flush_buffers`, `totals`, `quiescent`. Then stop the world (`stop_the_world`, `mutator/safepoint.rs`: `fetch_or(POLL_STOP, AcqRel)`, lock the state), leave `Mark` (`PhaseWord::transition`, `phase.rs`), `flush`, `drain_private` until `quiescent`, `active` off (`Release`); the check stands where the sweep would start |
//!
//! Reductions: one background worker, one mutator; the queues are mutexed
//! `VecDeque`s and a steal takes one object (crossbeam's lock-free deques and
//! batch steals are not what is checked here); the roots are scanned before
//! the model starts (the global-roots job is done, the mutator's stack is
//! black, so its barrier records old values only); the collector's
//! `help_if_stalled` is a yield (the real one drains only after a 5 ms
//! stall); the worker's sleep has no timeout, so a lost wake-up would show as
//! a model that never ends; a parked mutator ends there, and the worker ends
//! when marking is switched off (what they do after the cycle is outside the
//! model). Shared state lives in a `std::sync::Arc`, as in
//! `loom_safepoint.rs`. Loom treats `SeqCst` loads, stores and read-modify-
//! writes as `AcqRel` (weaker, so it can only find more executions) and
//! `SeqCst` fences exactly.
//!
//! # Models and invariants
//!
//! * `quiescence_model`: the worker and a mark assist drain a chain of three
//!   objects while the collector waits for `quiescent()`. No mutator runs, so
//!   every grey object is in a marker's hands, and `quiescent()` returning
//!   true must mean the mark is complete: every object reachable from the
//!   root is marked (in a chain, a grey object other than the last has a
//!   white child), and once the threads are joined no grey object is left
//!   anywhere.
//! * `termination_model`: the whole of step 4 against a mutator that hides a
//!   white object behind a black one while the collector loops (wait for
//!   quiescence, flush by handshake, until a flush shades nothing new), then
//!   stops the world. At mark termination every object reachable from the
//!   root is marked; once the threads are joined no grey object and no
//!   barrier record is left.
//! * No deadlock, no lost wake-up, and every thread finishes (loom).
//!
//! The `flawed_*` tests run the models with one step of the protocol broken
//! and expect loom to find the invariant broken (a reachable white object, or
//! a grey object left behind), so the models can fail. Each order that
//! `quiescent()` relies on has one: the epoch; the second look at the
//! counters; a drain counting itself before it bumps the epoch (that one
//! needs preemption bound 4 and is `#[ignore]`d: run it with `--ignored`);
//! a drain uncounting itself only after its leftovers are pushed; a worker
//! counting itself busy before it takes an object. And mark termination's
//! flush has one.
//!
//! The epoch matters to `quiescent()` (`flawed_quiescence_without_epoch_*`),
//! but the termination model holds without it: at mark termination no
//! mutator runs, so no assist drains, the collector's own drain runs between
//! its checks, and a background worker finishes whatever it takes before it
//! counts itself idle. The concurrent loop is a heuristic; correctness rests
//! on the final flush and drain (`cycle` module docs).

use std::collections::VecDeque;
use std::sync::Arc;

use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use loom::sync::{Condvar, Mutex, MutexGuard};
use loom::thread;

// Same values as `mutator::state`'s `POLL_*` and `HS_*`.
const POLL_STOP: u32 = 1;
const POLL_HANDSHAKE: u32 = 2;
const HS_IDLE: u8 = 0;
const HS_POSTED: u8 = 1;
const HS_CLAIMED: u8 = 2;
const HS_DONE: u8 = 3;

/// A null field.
const NIL: usize = usize::MAX;

/// Background workers in the model (`MarkState::workers`).
const WORKERS: usize = 1;

/// Entries of the mutator's barrier buffer.
const BUFFER_CAPACITY: usize = 2;

/// Preemption bounds of the two models, unless `LOOM_MAX_PREEMPTIONS` says
/// otherwise. An assist's leftovers slip past a check without the epoch only
/// with three preemptions (the collector twice, the assist once); the record
/// a termination without its final flush misses takes two.
const QUIESCENCE_PREEMPTIONS: usize = 3;
const TERMINATION_PREEMPTIONS: usize = 2;

/// A deliberate bug, to check that the models can fail.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Flaw {
    /// The protocol as written.
    None,
    /// `quiescent` without the epoch: fence and counters again, but no
    /// second look at `epoch`.
    NoEpoch,
    /// `quiescent` in one pass: counters and queues once, no fence, no
    /// second look, no epoch.
    SinglePass,
    /// A private drain stops counting itself in `private_drains` before it
    /// hands its leftovers to the injector.
    LeaveBeforePush,
    /// A background worker takes its first object before it counts itself
    /// busy (the real one bumps the epoch, leaves `idle_workers`, then takes).
    TakeBeforeBusy,
    /// Mark termination drains without flushing the barrier buffers first.
    NoFinalFlush,
    /// A private drain bumps the epoch before it counts itself in
    /// `private_drains` (the real one counts itself first).
    EpochBeforeCount,
    /// A background worker counts itself idle when its deque is empty
    /// while its private stack still holds objects, and hands those to the
    /// deque only afterwards (the real one goes idle with both empty).
    IdleWithStack,
}

/// Where `shade` puts an object it turned grey.
enum Out<'a> {
    /// The injector (barrier flushes, root scans).
    Injector,
    /// The background worker's deque (the worker's scans).
    Worker,
    /// A private drain's local deque.
    Private(&'a mut VecDeque<usize>),
}

/// The mutator's barrier buffer (`MutatorData::barrier`), behind its state
/// lock (`MutatorShared::data`).
struct Buffer(Vec<usize>);

/// `mutator::state::MutatorShared`, reduced to the handshake and the stop.
struct MutatorShared {
    poll: AtomicU32,
    data: Mutex<Buffer>,
    handshake: AtomicU8,
}

/// The heap and its `MarkState`, reduced.
struct Gc {
    /// Mark bits, one per object.
    marks: Vec<AtomicBool>,
    /// Pointer fields of each object (`NIL`: null).
    fields: Vec<Vec<AtomicUsize>>,
    /// The root (the rest of the roots are scanned and need nothing).
    root: usize,
    injector: Mutex<VecDeque<usize>>,
    deque: Mutex<VecDeque<usize>>,
    idle_workers: AtomicUsize,
    epoch: AtomicU64,
    private_drains: AtomicUsize,
    active: AtomicBool,
    /// Objects marked this cycle (`MarkState::totals`), added to by each
    /// marker from its own tally.
    marked_objects: AtomicU64,
    /// The phase is `Mark` (`barrier::marking`).
    marking: AtomicBool,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    sleep_cv: Condvar,
    mutator: MutatorShared,
    flaw: Flaw,
}

/// The starting state of a model.
struct Setup<'a> {
    /// Pointer fields of each object.
    fields: &'a [&'a [usize]],
    /// Objects marked before the model starts (black, or grey if queued).
    marked: &'a [usize],
    /// The grey objects in the injector.
    injector: &'a [usize],
    /// Records in the mutator's barrier buffer.
    buffer: &'a [usize],
}

impl Gc {
    fn new(flaw: Flaw, setup: Setup<'_>) -> Arc<Gc> {
        let n = setup.fields.len();
        assert!(
            setup.buffer.len() < BUFFER_CAPACITY,
            "a full buffer is flushed"
        );
        Arc::new(Gc {
            marks: (0..n)
                .map(|i| AtomicBool::new(setup.marked.contains(&i)))
                .collect(),
            fields: setup
                .fields
                .iter()
                .map(|fs| fs.iter().map(|&v| AtomicUsize::new(v)).collect())
                .collect(),
            root: 0,
            injector: Mutex::new(setup.injector.iter().copied().collect()),
            deque: Mutex::new(VecDeque::new()),
            idle_workers: AtomicUsize::new(WORKERS),
            epoch: AtomicU64::new(0),
            private_drains: AtomicUsize::new(0),
            active: AtomicBool::new(true),
            marked_objects: AtomicU64::new(0),
            marking: AtomicBool::new(true),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            sleep_cv: Condvar::new(),
            mutator: MutatorShared {
                poll: AtomicU32::new(0),
                data: Mutex::new(Buffer(setup.buffer.to_vec())),
                handshake: AtomicU8::new(HS_IDLE),
            },
            flaw,
        })
    }

    // ---- the grey set (mark/queue.rs, mark/scan.rs, mark/drain.rs) -------------

    /// `mark::scan::shade`: whoever wins the mark bit counts it and pushes.
    fn shade(&self, v: usize, out: &mut Out<'_>, tally: &mut u64) {
        if v == NIL {
            return;
        }
        // `GcBits::test_and_set`: a plain load, then the RMW (both relaxed).
        let mark = &self.marks[v];
        if !mark.load(Ordering::Relaxed) && !mark.fetch_or(true, Ordering::Relaxed) {
            *tally += 1;
            match out {
                Out::Injector => self.injector.lock().unwrap().push_back(v),
                Out::Worker => self.deque.lock().unwrap().push_back(v),
                Out::Private(local) => local.push_back(v),
            }
        }
    }

    /// `mark::scan::scan`: shades every referent of `obj`.
    fn scan(&self, obj: usize, out: &mut Out<'_>, tally: &mut u64) {
        for f in &self.fields[obj] {
            let v = f.load(Ordering::Acquire);
            self.shade(v, out, tally);
        }
    }

    /// `MarkState::add`: a marker's tally into the totals.
    fn add(&self, tally: &mut u64) {
        if *tally != 0 {
            self.marked_objects.fetch_add(*tally, Ordering::Relaxed);
            *tally = 0;
        }
    }

    /// `MarkState::totals`: the objects marked so far.
    fn totals(&self) -> u64 {
        self.marked_objects.load(Ordering::Relaxed)
    }

    /// `MarkState::work_visible`.
    fn work_visible(&self) -> bool {
        let injector = !self.injector.lock().unwrap().is_empty();
        injector || !self.deque.lock().unwrap().is_empty()
    }

    /// `MarkState::quiescent`.
    fn quiescent(&self) -> bool {
        let e0 = self.epoch.load(Ordering::SeqCst);
        let quiet = self.idle_workers.load(Ordering::SeqCst) == WORKERS
            && self.private_drains.load(Ordering::SeqCst) == 0
            && !self.work_visible();
        if !quiet || self.flaw == Flaw::SinglePass {
            return quiet;
        }
        fence(Ordering::SeqCst);
        self.idle_workers.load(Ordering::SeqCst) == WORKERS
            && self.private_drains.load(Ordering::SeqCst) == 0
            && (self.flaw == Flaw::NoEpoch || self.epoch.load(Ordering::SeqCst) == e0)
    }

    /// `MarkState::wake`: wakes the worker after grey objects were pushed.
    fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            let _g = self.sleep_lock.lock().unwrap();
            self.sleep_cv.notify_all();
        }
    }

    /// `MarkState::sleep`, without its timeout: a wake-up the model loses
    /// shows as a worker that never wakes.
    fn sleep(&self, until: impl Fn() -> bool) {
        let g = self.sleep_lock.lock().unwrap();
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let _g = if until() {
            g
        } else {
            self.sleep_cv.wait(g).unwrap()
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// `MarkState::wake_all` (marking switched off, shutdown).
    fn wake_all(&self) {
        let _g = self.sleep_lock.lock().unwrap();
        self.sleep_cv.notify_all();
    }

    /// `Prefetched::take` for the background worker: its own deque, else the
    /// injector (the only other worker would be itself).
    fn take_worker(&self) -> Option<usize> {
        let own = self.deque.lock().unwrap().pop_back();
        own.or_else(|| self.injector.lock().unwrap().pop_front())
    }

    /// `Prefetched::take` for a private drain: its local deque, else the
    /// injector, else a steal from the background worker.
    fn take_private(&self, local: &mut VecDeque<usize>) -> Option<usize> {
        if let Some(v) = local.pop_back() {
            return Some(v);
        }
        let injected = self.injector.lock().unwrap().pop_front();
        injected.or_else(|| self.deque.lock().unwrap().pop_front())
    }

    /// `mark::drain::drain_private` limited to `budget` objects; returns how
    /// many it scanned.
    fn drain_private(&self, budget: usize) -> usize {
        if self.flaw == Flaw::EpochBeforeCount {
            // Broken: a check may see the new epoch first and the old count.
            self.epoch.fetch_add(1, Ordering::SeqCst);
            self.private_drains.fetch_add(1, Ordering::SeqCst);
        } else {
            self.private_drains.fetch_add(1, Ordering::SeqCst);
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        let mut local = VecDeque::new();
        let mut tally = 0;
        let mut count = 0;
        while count < budget {
            let Some(obj) = self.take_private(&mut local) else {
                break;
            };
            self.scan(obj, &mut Out::Private(&mut local), &mut tally);
            count += 1;
        }
        if self.flaw == Flaw::LeaveBeforePush {
            // Broken: for a moment the leftovers are nowhere anyone counts.
            self.private_drains.fetch_sub(1, Ordering::SeqCst);
        }
        let mut pushed = false;
        while let Some(v) = local.pop_back() {
            self.injector.lock().unwrap().push_back(v);
            pushed = true;
        }
        self.add(&mut tally);
        if pushed {
            self.wake();
        }
        if self.flaw != Flaw::LeaveBeforePush {
            // `impl Drop for PrivateDrain`, after the leftovers are pushed.
            self.private_drains.fetch_sub(1, Ordering::SeqCst);
        }
        count
    }

    // ---- the barrier (mutator/barrier.rs, barriers/src/buffer.rs) ----------------

    /// `BarrierBuffer::flush` into `HeapSink` (`mark::scan::shade_all`): shades
    /// every record into the injector; returns how many there were.
    fn flush(&self, buffer: &mut Buffer) -> usize {
        let n = buffer.0.len();
        if n != 0 {
            let mut tally = 0;
            for v in std::mem::take(&mut buffer.0) {
                self.shade(v, &mut Out::Injector, &mut tally);
            }
            self.add(&mut tally);
            self.wake();
        }
        n
    }

    /// `Mutator::load`.
    fn load(&self, obj: usize, field: usize) -> usize {
        self.fields[obj][field].load(Ordering::Acquire)
    }

    /// `Mutator::store` with the barrier of a mutator whose stack is scanned
    /// (hybrid): the field is swapped (`object::swap_field`: a `Relaxed`
    /// load, a `Release` store), then, while marking (`PhaseWord::marking`),
    /// the old value is recorded and a full buffer is flushed.
    fn store(&self, buffer: &mut Buffer, obj: usize, field: usize, new: usize) {
        let f = &self.fields[obj][field];
        let old = f.load(Ordering::Relaxed);
        f.store(new, Ordering::Release);
        if self.marking.load(Ordering::Relaxed) && old != NIL {
            buffer.0.push(old);
            if buffer.0.len() == BUFFER_CAPACITY {
                self.flush(buffer);
            }
        }
    }

    // ---- the checker -------------------------------------------------------------

    /// The tri-colour property where the sweep would start: every object
    /// reachable from the root is marked.
    fn check_reachable_marked(&self, when: &str) {
        let mut seen = vec![false; self.marks.len()];
        let mut stack = vec![self.root];
        while let Some(o) = stack.pop() {
            if std::mem::replace(&mut seen[o], true) {
                continue;
            }
            assert!(
                self.marks[o].load(Ordering::Acquire),
                "invariant violated: object {o} is reachable but white {when}"
            );
            stack.extend(
                self.fields[o]
                    .iter()
                    .map(|f| f.load(Ordering::Acquire))
                    .filter(|&v| v != NIL),
            );
        }
    }

    /// After the model's threads are joined: no grey object is left.
    fn check_no_grey_left(&self) {
        assert!(
            self.injector.lock().unwrap().is_empty(),
            "invariant violated: grey objects left in the injector after the mark"
        );
        assert!(
            self.deque.lock().unwrap().is_empty(),
            "invariant violated: grey objects left in the worker's deque after the mark"
        );
    }
}

/// `mark::workers::work`, until marking is switched off.
fn worker(gc: &Gc) {
    let mut tally = 0;
    // Counted idle from the start (`mark::workers::spawn`).
    'work: loop {
        if !gc.active.load(Ordering::Acquire) {
            return;
        }
        if !gc.work_visible() {
            gc.sleep(|| !gc.active.load(Ordering::Acquire) || gc.work_visible());
            continue;
        }
        if gc.flaw == Flaw::TakeBeforeBusy {
            // Broken: holds an object while still counted idle.
            gc.epoch.fetch_add(1, Ordering::SeqCst);
            let Some(first) = gc.take_worker() else {
                continue;
            };
            gc.idle_workers.fetch_sub(1, Ordering::SeqCst);
            gc.scan(first, &mut Out::Worker, &mut tally);
        } else {
            // Idle -> busy: the epoch first.
            gc.epoch.fetch_add(1, Ordering::SeqCst);
            gc.idle_workers.fetch_sub(1, Ordering::SeqCst);
        }
        // The private stack (`mark::drain::drain_worker`): scans push onto it, and
        // `offer` moves its older half to the deque whenever that is empty
        // (the real one checks every 16 scans; here every scan, so that
        // thieves see as much as the model can show them).
        let mut stack = VecDeque::new();
        loop {
            let Some(obj) = stack.pop_back().or_else(|| gc.take_worker()) else {
                break;
            };
            gc.scan(obj, &mut Out::Private(&mut stack), &mut tally);
            let mut deque = gc.deque.lock().unwrap();
            if stack.len() > 1 && deque.is_empty() {
                let older = stack.len() / 2;
                deque.extend(stack.drain(..older));
            }
            drop(deque);
            if gc.flaw == Flaw::IdleWithStack
                && !stack.is_empty()
                && gc.deque.lock().unwrap().is_empty()
            {
                // Broken: counted idle while the stack still holds objects,
                // which it hands over only afterwards.
                gc.add(&mut tally);
                gc.idle_workers.fetch_add(1, Ordering::SeqCst);
                let mut deque = gc.deque.lock().unwrap();
                deque.extend(stack.drain(..));
                drop(deque);
                gc.wake();
                continue 'work;
            }
        }
        // `publish`, then busy -> idle, with an empty stack and deque.
        gc.add(&mut tally);
        gc.idle_workers.fetch_add(1, Ordering::SeqCst);
    }
}

/// Explores `model` with loom; prints how many executions it took (shown
/// with `--nocapture`).
fn check(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    let executions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = executions.clone();
    builder.check(move || {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    println!(
        "{name}: {} executions, preemption bound {:?}",
        executions.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound
    );
}

// ---- 1. the quiescence check ------------------------------------------------------

/// The collector waits for `quiescent()` while the background worker and a
/// mark assist (a drain with a budget of one object, which leaves what it
/// shaded to the injector) mark the chain 0 → 1 → 2 from the grey root.
fn quiescence_model(flaw: Flaw) {
    let gc = Gc::new(
        flaw,
        Setup {
            fields: &[&[1], &[2], &[NIL]],
            marked: &[0],
            injector: &[0],
            buffer: &[],
        },
    );
    let t_worker = {
        let gc = gc.clone();
        thread::spawn(move || worker(&gc))
    };
    let t_assist = {
        let gc = gc.clone();
        thread::spawn(move || {
            gc.drain_private(1);
        })
    };

    while !gc.quiescent() {
        thread::yield_now();
    }
    gc.check_reachable_marked("when quiescent() returned true");
    gc.active.store(false, Ordering::Release);
    gc.wake_all();

    t_worker.join().unwrap();
    t_assist.join().unwrap();
    gc.check_no_grey_left();
}

#[test]
fn quiescence_means_the_mark_is_complete() {
    check("quiescence", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::None)
    });
}

#[test]
#[should_panic(expected = "reachable but white")]
fn flawed_quiescence_without_epoch_misses_an_assists_leftovers() {
    check("quiescence without epoch", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::NoEpoch)
    });
}

#[test]
#[should_panic(expected = "reachable but white")]
fn flawed_single_pass_quiescence_misses_a_waking_worker() {
    check("single-pass quiescence", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::SinglePass)
    });
}

#[test]
#[should_panic(expected = "invariant violated")]
fn flawed_drain_leaving_before_its_push_is_missed() {
    check("drain leaves before push", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::LeaveBeforePush)
    });
}

/// Needs four preemptions (about two minutes): run it with `--ignored`.
#[test]
#[ignore = "slow: preemption bound 4"]
#[should_panic(expected = "invariant violated")]
fn flawed_drain_bumping_the_epoch_before_it_counts_itself_is_missed() {
    check("drain bumps epoch before count", 4, || {
        quiescence_model(Flaw::EpochBeforeCount)
    });
}

#[test]
#[should_panic(expected = "invariant violated")]
fn flawed_worker_going_idle_with_its_stack_is_missed() {
    check("worker idle with its stack", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::IdleWithStack)
    });
}

#[test]
#[should_panic(expected = "reachable but white")]
fn flawed_worker_taking_before_busy_is_missed() {
    check("worker takes before busy", QUIESCENCE_PREEMPTIONS, || {
        quiescence_model(Flaw::TakeBeforeBusy)
    });
}

// ---- 2. termination -------------------------------------------------------------------

// Objects of the termination model.
const R: usize = 0;
const A: usize = 1;
const X: usize = 2;
const W: usize = 3;

/// `Mutator::safepoint` and `mutator::safepoint::at_safepoint`: runs a posted
/// handshake; parks at a stop request (returns false: the model's mutator
/// does nothing more).
fn safepoint(gc: &Gc, data: &mut Option<MutexGuard<'_, Buffer>>) -> bool {
    let m = &gc.mutator;
    if m.poll.load(Ordering::Acquire) == 0 {
        return true;
    }
    let poll = m.poll.load(Ordering::Acquire);
    if poll & POLL_HANDSHAKE != 0 {
        run_handshake(gc, data.as_mut().expect("running"));
    }
    if poll & POLL_STOP != 0 {
        // Park: the collector takes the state lock.
        *data = None;
        return false;
    }
    true
}

/// `mutator::safepoint::run_handshake` with `flush_buffers`' closure.
fn run_handshake(gc: &Gc, buffer: &mut Buffer) {
    let m = &gc.mutator;
    if m.handshake
        .compare_exchange(HS_POSTED, HS_CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        gc.flush(buffer);
        m.poll.fetch_and(!POLL_HANDSHAKE, Ordering::AcqRel);
        m.handshake.store(HS_DONE, Ordering::Release);
    }
}

/// `cycle::flush_buffers`: flushes the mutator's buffer by handshake
/// (`mutator::safepoint::handshake`, reduced to one mutator).
fn flush_buffers(gc: &Gc) {
    let m = &gc.mutator;
    m.handshake.store(HS_POSTED, Ordering::Release);
    m.poll.fetch_or(POLL_HANDSHAKE, Ordering::AcqRel);
    loop {
        let state = m.handshake.load(Ordering::Acquire);
        if state == HS_DONE {
            break;
        }
        if state == HS_POSTED {
            if let Ok(mut guard) = m.data.try_lock() {
                run_handshake(gc, &mut guard);
                continue;
            }
        }
        thread::yield_now();
    }
    m.handshake.store(HS_IDLE, Ordering::Release);
}

/// The mutator: it starts with X recorded in its buffer (it moved X from a
/// grey object, since scanned, to R), assists (one object), then hides W
/// behind black R: it stores W into R.0 (recording A fills the buffer, which
/// flushes X and A into the injector) and clears X.0 (recording W).
/// If the last flush handshake came before that record, only the flush at
/// mark termination finds W.
fn mutator(gc: &Gc) {
    let m = &gc.mutator;
    // Leaving native code: take the state, then poll.
    let mut data = Some(m.data.lock().unwrap());
    if !safepoint(gc, &mut data) {
        return;
    }
    // An allocation runs up assist debt (`mutator::assist::assist`).
    gc.drain_private(1);
    let x = gc.load(R, 1);
    let w = gc.load(x, 0);
    gc.store(data.as_mut().expect("running"), R, 0, w);
    if !safepoint(gc, &mut data) {
        return;
    }
    gc.store(data.as_mut().expect("running"), x, 0, NIL);
    safepoint(gc, &mut data);
    // Then into native code for good.
}

/// The collector from the termination loop on: `await_mark_end`, then
/// `mark_termination`.
fn collector(gc: &Gc) {
    loop {
        if !gc.quiescent() {
            // `help_if_stalled`: wait for the markers.
            thread::yield_now();
            continue;
        }
        // Until a flush shades nothing new (`MarkState::totals`).
        let before = gc.totals();
        flush_buffers(gc);
        let after = gc.totals();
        if after == before && gc.quiescent() {
            break;
        }
    }
    // Mark termination (STW #2): stop the world.
    let m = &gc.mutator;
    m.poll.fetch_or(POLL_STOP, Ordering::AcqRel);
    let mut data = m.data.lock().unwrap();
    gc.marking.store(false, Ordering::Release);
    if gc.flaw != Flaw::NoFinalFlush {
        gc.flush(&mut data);
    }
    loop {
        gc.drain_private(usize::MAX);
        if gc.quiescent() {
            break;
        }
        thread::yield_now();
    }
    gc.check_reachable_marked("at mark termination");
    gc.active.store(false, Ordering::Release);
    // The model's worker ends here (the real one sleeps until the next mark).
    gc.wake_all();
    // Restart the world.
    m.poll.fetch_and(!POLL_STOP, Ordering::AcqRel);
    drop(data);
}

/// The heap: R.0 → A, R.1 → X → W. R is black, A grey (queued), X and W
/// white, and X is recorded in the mutator's buffer.
fn termination_model(flaw: Flaw) {
    let gc = Gc::new(
        flaw,
        Setup {
            fields: &[&[A, X], &[NIL], &[W], &[NIL]],
            marked: &[R, A],
            injector: &[A],
            buffer: &[X],
        },
    );
    let t_worker = {
        let gc = gc.clone();
        thread::spawn(move || worker(&gc))
    };
    let t_mutator = {
        let gc = gc.clone();
        thread::spawn(move || mutator(&gc))
    };

    collector(&gc);

    t_worker.join().unwrap();
    t_mutator.join().unwrap();
    gc.check_no_grey_left();
    if flaw != Flaw::NoFinalFlush {
        // (Without the final flush a record is left too, but the point of
        // that flaw is the white object it leaves reachable.)
        assert!(
            gc.mutator.data.lock().unwrap().0.is_empty(),
            "invariant violated: barrier records left after the mark"
        );
    }
}

#[test]
fn termination_marks_everything_reachable() {
    check("termination", TERMINATION_PREEMPTIONS, || {
        termination_model(Flaw::None)
    });
}

#[test]
fn termination_does_not_need_the_epoch() {
    check("termination without epoch", TERMINATION_PREEMPTIONS, || {
        termination_model(Flaw::NoEpoch)
    });
}

#[test]
#[should_panic(expected = "reachable but white")]
fn flawed_termination_without_final_flush_misses_a_recorded_object() {
    check(
        "termination without final flush",
        TERMINATION_PREEMPTIONS,
        || termination_model(Flaw::NoFinalFlush),
    );
}
