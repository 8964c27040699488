#![cfg(loom)]
//! A loom model of the safepoint protocol: stopping the world, handshakes,
//! and mutators that go native, attach or detach meanwhile.
//!
//! Run it with
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tricolor-collector --test loom_safepoint --release
//! ```
//!
//! (`LOOM_MAX_PREEMPTIONS=n` overrides the preemption bound below.)
//!
//! The model re-implements the protocol of `mutator/safepoint.rs` and
//! `mutator/mod.rs` (paths under `collector/src/`) on loom's mutexes and
//! atomics, step for step and with the same memory orderings, but without
//! the heap around it: a mutator's state (`MutatorData`: cache, roots,
//! scanner) is reduced to a few counters, and the collector's work while
//! the world is stopped to checking invariants. Loom explores every
//! interleaving of the threads (up to the preemption bound) and fails on a
//! deadlock, on a failed assertion, or on a thread that never finishes.
//!
//! Why a model rather than the real code under a `cfg(loom)` shim of its
//! atomics and locks: the shim would not be cheap. The protocol's locks are
//! parking_lot's owned guards (`lock_arc`, `try_lock_arc`,
//! `ArcMutexGuard::unlocked`), which loom's `Mutex` has no counterpart for,
//! and a real `Mutator` needs a `HeapInner`, whose allocator maps memory and
//! whose `Heap` starts collector, mark-worker, sweeper and finalizer threads
//! that loom cannot schedule. So the model mirrors the code by hand, and
//! `tests/loom_models_match_code.rs` (an ordinary test) checks that it
//! still does: for each row below, that the real functions exist where the
//! table says and that they and the model's step perform the same sequence
//! of atomic operations (with orderings) and lock acquisitions, listed
//! once, in that test's `MIRRORS`.
//!
//! # Model step → real code
//!
//! | model | real code | the sequence it mirrors |
//! |---|---|---|
//! | `Shared` | `MutatorShared` (`mutator/state.rs`) | fields `poll`, `data`, `detached`, `handshake`, `handshake_fn` |
//! | `Data` | `MutatorData` (`mutator/state.rs`) | counters stand for cache, roots and barrier buffer |
//! | `Heap` | `HeapInner` (`heap/inner.rs`) | fields `world`, `registry` (plus the checker's flag) |
//! | `Mutator::attach` | `Mutator::attach` → `attach_as` (`mutator/mod.rs`) | lock own state (`lock_arc`), then `world`, then `registry` to register |
//! | `Mutator::enter_native` | `Mutator::enter_native` (`mutator/mod.rs`) | drop the state guard |
//! | `Mutator::leave_native` | `Mutator::leave_native` (`mutator/mod.rs`) | lock own state, then `safepoint` |
//! | `Mutator::safepoint` | `Mutator::safepoint` and `safepoint_slow` (`mutator/mod.rs`) | `Acquire` load of `poll`; if non-zero, `at_safepoint` (then the gc-stress check, not modelled) |
//! | `Mutator::at_safepoint` | `at_safepoint` (`mutator/safepoint.rs`) | `Acquire` reload of `poll`; on `POLL_HANDSHAKE` `run_handshake`; on `POLL_STOP` `ArcMutexGuard::unlocked` around `drop(heap.world.lock())`: give up own state, lock and unlock `world`, relock own state |
//! | `run_handshake` | `run_handshake` (`mutator/safepoint.rs`) | CAS `HS_POSTED`→`HS_CLAIMED` (`AcqRel`, `Acquire`); lock `handshake_fn`, run it; `fetch_and(!POLL_HANDSHAKE, AcqRel)`; store `HS_DONE` (`Release`) |
//! | `Mutator::mutate` | any heap access of a running mutator | (the checker: the world is not stopped) |
//! | `Mutator::detach` | `impl Drop for Mutator` (`mutator/mod.rs`) | relock own state if native; (flush the barrier buffer, not modelled;) clear the state; store `detached` (`Release`); leave `registry`; drop the guard |
//! | `stop_the_world` | `stop_the_world`, then `impl Drop for StoppedWorld` (`mutator/safepoint.rs`) | lock `world`; snapshot `registry`; `fetch_or(POLL_STOP, AcqRel)` on each; lock each state, skip it if `detached` (`Acquire`); restart: per mutator `fetch_and(!POLL_STOP, AcqRel)` and drop its guard, then `world` |
//! | `handshake` | `handshake` → `handshake_some` (`mutator/safepoint.rs`) | (take `handshake_lock`, not modelled;) snapshot `registry`; per mutator set `handshake_fn`, store `HS_POSTED` (`Release`), `fetch_or(POLL_HANDSHAKE, AcqRel)`; then per mutator until `HS_DONE` or `detached` (`Acquire` loads): if `HS_POSTED`, `try_lock_arc` its state and, unless `detached`, `run_handshake`; store `HS_IDLE` (`Release`), clear `handshake_fn`. The spin, yield and sleep backoff is `yield_now` |
//!
//! Reductions: a mutator's state mutex is a plain `Mutex<Data>` inside the
//! shared record (the real `Arc<Mutex<_>>` exists only for `lock_arc`); the
//! records are shared through `std::sync::Arc` (reference counting is no part
//! of the protocol, and loom's `Arc` adds interleavings and cannot be dropped
//! while loom unwinds from a deadlock it found); the handshake closure is a
//! `fn` pointer. Most mutators are registered before the threads start and
//! begin in native code, their first step being `leave_native`: the collector
//! may take their locks before they first run, which allows more
//! interleavings than `attach` (it registers with its lock already held); the
//! detach model also attaches one mutator for real.
//!
//! # Invariants
//!
//! * `world_stopped` is set by the collector only once it holds every live
//!   mutator's state lock, and cleared before it lets any go; a mutator that
//!   holds its own lock and is about to touch its state asserts it is clear.
//! * A handshake runs its closure exactly once per mutator and returns.
//! * The collector never takes a detached mutator into the stopped world.
//! * No deadlock, and every mutator finishes after the world restarts (loom).
//!
//! The `flawed_*` tests run the same models with one step of the protocol
//! broken and expect loom to find the failure, so the models can fail.

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use loom::sync::{Mutex, MutexGuard};
use loom::thread;

// Same values as `mutator::state`'s `POLL_*` and `HS_*`.
const POLL_STOP: u32 = 1;
const POLL_HANDSHAKE: u32 = 2;
const HS_IDLE: u8 = 0;
const HS_POSTED: u8 = 1;
const HS_CLAIMED: u8 = 2;
const HS_DONE: u8 = 3;

/// Safepoint polls of the running mutator in the stop and handshake models.
const POLLS: u32 = 2;

/// Preemption bound, unless `LOOM_MAX_PREEMPTIONS` says otherwise.
const PREEMPTION_BOUND: usize = 3;

/// A deliberate bug, to check that the models can fail.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Flaw {
    /// The protocol as written.
    None,
    /// At a stop request the mutator takes its state lock back *before*
    /// waiting on `world`, so it waits for `world` holding its lock.
    RelockBeforeWorld,
    /// The collector runs the closure of a mutator whose lock it won without
    /// claiming it (no posted→claimed CAS under the lock).
    HandshakeWithoutClaim,
    /// The collector does not check `detached` after taking a state lock.
    NoDetachedCheck,
    /// A native mutator sets `detached` before taking its lock back to tear
    /// its state down (the real `Drop` takes the lock first).
    DetachedBeforeLock,
}

/// `mutator::state::MutatorData`, reduced.
#[derive(Debug)]
struct Data {
    /// Heap accesses made while running.
    mutations: u32,
    /// Times the handshake closure ran on this state.
    handshakes: u32,
    /// Cleared by `detach` (the real one releases the cache, clears roots).
    alive: bool,
}

/// `mutator::state::MutatorShared`.
struct Shared {
    poll: AtomicU32,
    data: Mutex<Data>,
    detached: AtomicBool,
    handshake: AtomicU8,
    handshake_fn: Mutex<Option<fn(&mut Data)>>,
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            poll: AtomicU32::new(0),
            data: Mutex::new(Data {
                mutations: 0,
                handshakes: 0,
                alive: true,
            }),
            detached: AtomicBool::new(false),
            handshake: AtomicU8::new(HS_IDLE),
            handshake_fn: Mutex::new(None),
        })
    }
}

/// The parts of `heap::inner::HeapInner` the protocol uses, plus the checker's flag.
struct Heap {
    world: Mutex<()>,
    registry: Mutex<Vec<Arc<Shared>>>,
    /// Checker only: set while the collector holds the world stopped.
    world_stopped: AtomicBool,
    flaw: Flaw,
}

impl Heap {
    fn new(flaw: Flaw) -> Arc<Heap> {
        Arc::new(Heap {
            world: Mutex::new(()),
            registry: Mutex::new(Vec::new()),
            world_stopped: AtomicBool::new(false),
            flaw,
        })
    }

    /// A mutator registered before the model's threads start, in native code.
    fn preregistered(&self) -> Arc<Shared> {
        let m = Shared::new();
        self.registry.lock().unwrap().push(m.clone());
        m
    }
}

/// `mutator::Mutator`: the state guard is held while running, `None` while
/// native.
struct Mutator<'a> {
    heap: &'a Heap,
    me: &'a Shared,
    data: Option<MutexGuard<'a, Data>>,
}

impl<'a> Mutator<'a> {
    /// A registered mutator in native code.
    fn native(heap: &'a Heap, me: &'a Shared) -> Self {
        Mutator {
            heap,
            me,
            data: None,
        }
    }

    /// `Mutator::attach`: take the (unregistered, so uncontended) state lock,
    /// then register under `world` and `registry`.
    fn attach(heap: &'a Heap, me: &'a Arc<Shared>) -> Self {
        let guard = me.data.lock().unwrap();
        {
            let _world = heap.world.lock().unwrap();
            heap.registry.lock().unwrap().push(me.clone());
        }
        Mutator {
            heap,
            me,
            data: Some(guard),
        }
    }

    /// `Mutator::enter_native`.
    fn enter_native(&mut self) {
        assert!(self.data.is_some(), "enter_native while native");
        self.data = None;
    }

    /// `Mutator::leave_native`.
    fn leave_native(&mut self) {
        assert!(self.data.is_none(), "leave_native while running");
        self.data = Some(self.me.data.lock().unwrap());
        self.safepoint();
    }

    /// `Mutator::safepoint` (fast path) and `safepoint_slow`.
    fn safepoint(&mut self) {
        if self.me.poll.load(Ordering::Acquire) != 0 {
            self.at_safepoint();
        }
    }

    /// `mutator::safepoint::at_safepoint`.
    fn at_safepoint(&mut self) {
        let poll = self.me.poll.load(Ordering::Acquire);
        if poll & POLL_HANDSHAKE != 0 {
            run_handshake(self.me, self.data.as_mut().expect("running"));
        }
        if poll & POLL_STOP != 0 {
            assert!(self.data.is_some(), "parking while native");
            if self.heap.flaw == Flaw::RelockBeforeWorld {
                // Broken: waits for `world` holding its own lock.
                self.data = None;
                self.data = Some(self.me.data.lock().unwrap());
                drop(self.heap.world.lock().unwrap());
            } else {
                // `ArcMutexGuard::unlocked(guard, || drop(heap.world.lock()))`
                self.data = None;
                drop(self.heap.world.lock().unwrap());
                self.data = Some(self.me.data.lock().unwrap());
            }
        }
    }

    /// A heap access of a running mutator.
    fn mutate(&mut self) {
        let data = self
            .data
            .as_mut()
            .expect("a native mutator touched its state");
        assert!(
            !self.heap.world_stopped.load(Ordering::SeqCst),
            "invariant violated: a mutator runs while the world is stopped"
        );
        data.mutations += 1;
    }

    /// `impl Drop for Mutator`.
    fn detach(mut self) {
        if self.heap.flaw == Flaw::DetachedBeforeLock {
            // Broken: a collector may now skip us while we are not stopped.
            self.me.detached.store(true, Ordering::Release);
        }
        if self.data.is_none() {
            self.data = Some(self.me.data.lock().unwrap());
        }
        let mut guard = self.data.take().expect("data held");
        assert!(
            !self.heap.world_stopped.load(Ordering::SeqCst),
            "invariant violated: a mutator tears down its state while the world is stopped"
        );
        guard.alive = false;
        self.me.detached.store(true, Ordering::Release);
        self.heap
            .registry
            .lock()
            .unwrap()
            .retain(|m| !std::ptr::eq(&**m, self.me));
        drop(guard);
    }
}

/// `mutator::safepoint::run_handshake`.
fn run_handshake(me: &Shared, data: &mut Data) {
    if me
        .handshake
        .compare_exchange(HS_POSTED, HS_CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        let f = *me.handshake_fn.lock().unwrap();
        if let Some(f) = f {
            f(data);
        }
        me.poll.fetch_and(!POLL_HANDSHAKE, Ordering::AcqRel);
        me.handshake.store(HS_DONE, Ordering::Release);
    }
}

/// `mutator::safepoint::stop_the_world`, then `during` on the stopped mutators, then
/// the restart of `StoppedWorld::drop`. Returns how many were stopped.
fn stop_the_world(
    heap: &Heap,
    during: impl FnOnce(&mut [(&Shared, MutexGuard<'_, Data>)]),
) -> usize {
    let world = heap.world.lock().unwrap();
    let mutators: Vec<Arc<Shared>> = heap.registry.lock().unwrap().clone();
    for m in &mutators {
        m.poll.fetch_or(POLL_STOP, Ordering::AcqRel);
    }
    let mut stopped = Vec::with_capacity(mutators.len());
    for m in &mutators {
        let guard = m.data.lock().unwrap();
        if heap.flaw != Flaw::NoDetachedCheck && m.detached.load(Ordering::Acquire) {
            continue;
        }
        stopped.push((&**m, guard));
    }
    let n = stopped.len();
    during(&mut stopped);
    // StoppedWorld::drop
    for (m, guard) in stopped.drain(..) {
        m.poll.fetch_and(!POLL_STOP, Ordering::AcqRel);
        drop(guard);
    }
    drop(world);
    n
}

/// The collector's work with the world stopped: announce it, check that every
/// mutator it holds is live, withdraw the announcement.
fn check_stopped(heap: &Heap, stopped: &mut [(&Shared, MutexGuard<'_, Data>)]) {
    heap.world_stopped.store(true, Ordering::SeqCst);
    for (m, data) in stopped.iter() {
        assert!(
            data.alive,
            "invariant violated: the stopped world holds a detached mutator"
        );
        assert!(
            !m.detached.load(Ordering::Acquire),
            "invariant violated: a stopped mutator became detached"
        );
    }
    heap.world_stopped.store(false, Ordering::SeqCst);
}

/// `mutator::safepoint::handshake` (and `handshake_some`).
fn handshake(heap: &Heap, f: fn(&mut Data)) {
    let mutators: Vec<Arc<Shared>> = heap.registry.lock().unwrap().clone();
    for m in &mutators {
        *m.handshake_fn.lock().unwrap() = Some(f);
        m.handshake.store(HS_POSTED, Ordering::Release);
        m.poll.fetch_or(POLL_HANDSHAKE, Ordering::AcqRel);
    }
    for m in &mutators {
        loop {
            let state = m.handshake.load(Ordering::Acquire);
            if state == HS_DONE || m.detached.load(Ordering::Acquire) {
                break;
            }
            if state == HS_POSTED {
                if let Ok(mut guard) = m.data.try_lock() {
                    if !m.detached.load(Ordering::Acquire) {
                        if heap.flaw == Flaw::HandshakeWithoutClaim {
                            // Broken: trusts the `state` read before the lock.
                            let f = m.handshake_fn.lock().unwrap().expect("posted");
                            f(&mut guard);
                            m.poll.fetch_and(!POLL_HANDSHAKE, Ordering::AcqRel);
                            m.handshake.store(HS_DONE, Ordering::Release);
                        } else {
                            run_handshake(m, &mut guard);
                        }
                    }
                    continue;
                }
            }
            // The real loop spins, yields, then sleeps.
            thread::yield_now();
        }
        m.handshake.store(HS_IDLE, Ordering::Release);
        *m.handshake_fn.lock().unwrap() = None;
    }
}

/// Explores `model` with loom; prints how many executions it took (shown
/// with `--nocapture`).
fn check(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
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

// ---- 1. stop the world ---------------------------------------------------------

/// The collector stops the world once while a running mutator polls and a
/// second mutator goes native and comes back.
fn stop_the_world_model(flaw: Flaw) {
    let heap = Heap::new(flaw);
    let running = heap.preregistered();
    let goes_native = heap.preregistered();

    let t_running = {
        let (heap, me) = (heap.clone(), running.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            for _ in 0..POLLS {
                m.mutate();
                m.safepoint();
            }
            m.enter_native();
        })
    };
    let t_native = {
        let (heap, me) = (heap.clone(), goes_native.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            m.mutate();
            m.enter_native();
            m.leave_native();
            m.mutate();
            m.enter_native();
        })
    };

    let n = stop_the_world(&heap, |stopped| check_stopped(&heap, stopped));
    assert_eq!(n, 2, "no mutator detached, so both are stopped");

    t_running.join().unwrap();
    t_native.join().unwrap();
    assert_eq!(running.data.lock().unwrap().mutations, POLLS);
    assert_eq!(goes_native.data.lock().unwrap().mutations, 2);
}

#[test]
fn stop_the_world_stops_running_and_native_mutators() {
    check("stop the world", || stop_the_world_model(Flaw::None));
}

#[test]
#[should_panic(expected = "deadlock")]
fn flawed_relock_before_world_deadlocks() {
    check("relock before world", || {
        stop_the_world_model(Flaw::RelockBeforeWorld)
    });
}

// ---- 2. handshake -----------------------------------------------------------------

fn count_handshake(data: &mut Data) {
    data.handshakes += 1;
}

/// The collector handshakes with a running mutator that polls and a mutator
/// in native code that comes back once.
fn handshake_model(flaw: Flaw) {
    let heap = Heap::new(flaw);
    let running = heap.preregistered();
    let native = heap.preregistered();

    let t_running = {
        let (heap, me) = (heap.clone(), running.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            for _ in 0..POLLS {
                m.mutate();
                m.safepoint();
            }
            m.enter_native();
        })
    };
    let t_native = {
        let (heap, me) = (heap.clone(), native.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            m.mutate();
            m.enter_native();
        })
    };

    handshake(&heap, count_handshake);
    for m in [&running, &native] {
        assert_eq!(m.handshake.load(Ordering::Acquire), HS_IDLE);
        assert_eq!(m.poll.load(Ordering::Acquire) & POLL_HANDSHAKE, 0);
    }

    t_running.join().unwrap();
    t_native.join().unwrap();
    for m in [&running, &native] {
        assert_eq!(
            m.data.lock().unwrap().handshakes,
            1,
            "invariant violated: the handshake closure runs exactly once per mutator"
        );
    }
}

#[test]
fn handshake_runs_once_per_mutator() {
    check("handshake", || handshake_model(Flaw::None));
}

#[test]
#[should_panic(expected = "exactly once")]
fn flawed_handshake_without_claim_runs_twice() {
    check("handshake without claim", || {
        handshake_model(Flaw::HandshakeWithoutClaim)
    });
}

/// The collector handshakes with a running mutator that polls and one that
/// detaches meanwhile: the handshake still returns, runs once on the first
/// and at most once on the one that left.
fn handshake_detach_model(flaw: Flaw) {
    let heap = Heap::new(flaw);
    let running = heap.preregistered();
    let leaving = heap.preregistered();

    let t_running = {
        let (heap, me) = (heap.clone(), running.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            for _ in 0..POLLS {
                m.mutate();
                m.safepoint();
            }
            m.enter_native();
        })
    };
    let t_leaving = {
        let (heap, me) = (heap.clone(), leaving.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            m.mutate();
            m.detach();
        })
    };

    handshake(&heap, count_handshake);

    t_running.join().unwrap();
    t_leaving.join().unwrap();
    assert_eq!(
        running.data.lock().unwrap().handshakes,
        1,
        "invariant violated: the handshake closure runs exactly once per mutator"
    );
    assert!(
        leaving.data.lock().unwrap().handshakes <= 1,
        "invariant violated: the handshake closure ran twice on a detaching mutator"
    );
}

#[test]
fn handshake_skips_a_detaching_mutator() {
    check("handshake and detach", || {
        handshake_detach_model(Flaw::None)
    });
}

// ---- 3. detach (and attach) during a stop ----------------------------------------

/// The collector stops the world while one mutator detaches from running and
/// another attaches, runs, goes native and detaches from there.
fn detach_model(flaw: Flaw) {
    let heap = Heap::new(flaw);
    let leaving = heap.preregistered();

    let t_leaving = {
        let (heap, me) = (heap.clone(), leaving.clone());
        thread::spawn(move || {
            let mut m = Mutator::native(&heap, &me);
            m.leave_native();
            m.mutate();
            m.detach();
        })
    };
    let t_passing = {
        let heap = heap.clone();
        thread::spawn(move || {
            let me = Shared::new();
            let mut m = Mutator::attach(&heap, &me);
            m.safepoint();
            m.mutate();
            m.enter_native();
            m.detach();
        })
    };

    stop_the_world(&heap, |stopped| check_stopped(&heap, stopped));

    t_leaving.join().unwrap();
    t_passing.join().unwrap();
    assert!(heap.registry.lock().unwrap().is_empty());
    assert!(leaving.detached.load(Ordering::Acquire));
}

#[test]
fn detaching_mutator_is_skipped() {
    check("detach", || detach_model(Flaw::None));
}

#[test]
#[should_panic(expected = "detached mutator")]
fn flawed_no_detached_check_stops_a_detached_mutator() {
    check("no detached check", || detach_model(Flaw::NoDetachedCheck));
}

#[test]
#[should_panic(expected = "invariant violated")]
fn flawed_detached_before_lock_runs_in_a_stopped_world() {
    check("detached before lock", || {
        detach_model(Flaw::DetachedBeforeLock)
    });
}
