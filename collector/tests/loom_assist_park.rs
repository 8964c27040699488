#![cfg(loom)]
//! A loom model of parked mark assists (`mutator/assist.rs`, "Parking"): a
//! mutator that owes marking and finds none parks until background credit
//! or grey objects show up or the mark ends, and no such event can slip
//! past it.
//!
//! Run it with
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p tricolor-collector --test loom_assist_park --release
//! ```
//!
//! (`LOOM_MAX_PREEMPTIONS=n` overrides the preemption bound of 3.) The
//! `flawed_*` test breaks the park's order on purpose and expects loom to
//! find the lost wake-up.
//!
//! The model re-implements `MarkState::park_assist` and `wake_assists`
//! (`mark/queue.rs`, under `collector/src/`) on loom's atomics, mutex and
//! condvar, with the same order of updates and the same orderings, and the
//! loop of `Mutator::park_in_assist` (`mutator/alloc.rs`): park, then look
//! again. The real park also returns after `PARK_POLL` (1 ms) as a
//! backstop; the model has no timeout, so a lost wake-up leaves the mutator
//! parked for ever and loom reports the deadlock.
//!
//! Why a model rather than the real code under a `cfg(loom)` shim of its
//! atomics and locks: `park_assist` and `wake_assists` alone would be cheap
//! (atomics, a fence, a parking_lot `Mutex` and `Condvar`), but they are
//! methods of `MarkState`, whose `work_visible` reads crossbeam-deque's
//! queues (not loom-aware) and whose park waits with `Condvar::wait_for`.
//! Running them under loom would take a `cfg(loom)` `MarkState` with loom
//! stand-ins for the crossbeam queues and a parking_lot-shaped wrapper over
//! loom's locks: more library code than this model. So the model mirrors
//! the code by hand, and `tests/loom_models_match_code.rs` (an ordinary
//! test) checks that it still does: for each row below, that the real
//! functions exist where the table says and that they and the model's step
//! perform the same sequence of atomic operations (with orderings), fences,
//! lock acquisitions and condvar waits, listed once, in that test's
//! `MIRRORS`.
//!
//! # Model step → real code
//!
//! | model | real code | the sequence it mirrors |
//! |---|---|---|
//! | `Ms` | `MarkState` (`mark/queue.rs`) | fields `active`, `bg_credit`, `parked_assists`, `park_lock`, `park_cv`; `work` counts grey objects in shared queues |
//! | `Ms::work_visible` | `MarkState::work_visible` (`mark/queue.rs`) | grey objects in the injector or a deque |
//! | `Ms::park_assist` | `MarkState::park_assist` (`mark/queue.rs`), without its timeout | lock `park_lock`; `parked_assists` + 1 (`SeqCst`); a `SeqCst` fence; if `active`, no `bg_credit` (`SeqCst` loads) and not `work_visible`, wait on `park_cv`; `parked_assists` − 1 (`SeqCst`) |
//! | `Ms::wake_assists` | `MarkState::wake_assists` (`mark/queue.rs`) | a `SeqCst` fence; if `parked_assists` (`SeqCst`) is non-zero, lock `park_lock` and `notify_all` |
//! | `Ms::wake` | `MarkState::wake` (`mark/queue.rs`) | its last step, `wake_assists` (the rest wakes workers: `loom_termination.rs`) |
//! | `park_in_assist` | `Mutator::park_in_assist` (`mutator/alloc.rs`) | while `park_allowed` (`mutator/assist.rs`), park in native state (`enter_native` and `leave_native` in `mutator/mod.rs`, `park_assist`), then `assist` again; here: while not `Ms::ready`, park |
//! | `publish` | `publish` (`mark/workers.rs`) | `bg_credit` + scan work (`Relaxed`), the tally, then `wake_assists` |
//! | `push_grey` | a drain's leftovers pushed to the injector, then `MarkState::wake` | |
//! | `end_mark` | `mark_termination` (`cycle/mod.rs`) | `active` off (`Release`), then `wake_assists` |

use loom::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;
// `std`'s `Arc`: reference counting is no part of the protocol, and loom's
// `Arc` cannot be dropped while loom unwinds from a deadlock it found (as
// in `loom_safepoint.rs`).
use std::sync::Arc;

/// A deliberate bug, to check that the model can fail.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
enum Flaw {
    /// The protocol as written.
    #[default]
    None,
    /// The parker checks the conditions before it counts itself parked.
    CheckBeforeCounting,
}

/// The parts of `MarkState` parking uses.
#[derive(Default)]
struct Ms {
    active: AtomicBool,
    bg_credit: AtomicI64,
    /// Grey objects in a shared queue (the injector and the workers'
    /// deques, which `MarkState::work_visible` looks at).
    work: AtomicUsize,
    parked_assists: AtomicUsize,
    park_lock: Mutex<()>,
    park_cv: Condvar,
    flaw: Flaw,
}

impl Ms {
    fn new(flaw: Flaw) -> Ms {
        let ms = Ms {
            flaw,
            ..Ms::default()
        };
        ms.active.store(true, Ordering::Relaxed);
        ms
    }

    /// `MarkState::work_visible`.
    fn work_visible(&self) -> bool {
        self.work.load(Ordering::SeqCst) > 0
    }

    /// `MarkState::park_assist`, without its timeout.
    fn park_assist(&self) {
        let g = self.park_lock.lock().unwrap();
        if self.flaw == Flaw::CheckBeforeCounting {
            // Broken: a waker that comes between the check and the count
            // sees no one parked and notifies no one.
            let stay = self.active.load(Ordering::SeqCst)
                && self.bg_credit.load(Ordering::SeqCst) <= 0
                && !self.work_visible();
            self.parked_assists.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let _g = if stay {
                self.park_cv.wait(g).unwrap()
            } else {
                g
            };
            self.parked_assists.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.parked_assists.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let _g = if self.active.load(Ordering::SeqCst)
            && self.bg_credit.load(Ordering::SeqCst) <= 0
            && !self.work_visible()
        {
            self.park_cv.wait(g).unwrap()
        } else {
            g
        };
        self.parked_assists.fetch_sub(1, Ordering::SeqCst);
    }

    /// `MarkState::wake_assists`.
    fn wake_assists(&self) {
        fence(Ordering::SeqCst);
        if self.parked_assists.load(Ordering::SeqCst) != 0 {
            let _g = self.park_lock.lock().unwrap();
            self.park_cv.notify_all();
        }
    }

    /// `MarkState::wake` (its half for sleeping workers is
    /// `loom_termination.rs`'s).
    fn wake(&self) {
        self.wake_assists();
    }

    /// What lets a parked assist go on: the mark is over, or there is
    /// credit to take or work to do (`mutator::assist::park_allowed`, then
    /// `mutator::assist::assist` no longer `Stuck`).
    fn ready(&self) -> bool {
        !self.active.load(Ordering::SeqCst)
            || self.bg_credit.load(Ordering::SeqCst) > 0
            || self.work_visible()
    }
}

/// `Mutator::park_in_assist`: park until something lets it go on.
fn park_in_assist(ms: &Ms) {
    while !ms.ready() {
        ms.park_assist();
    }
}

/// `mark::workers::publish`: a worker's scan work credited, then parked
/// assists woken.
fn publish(ms: &Ms) {
    ms.bg_credit.fetch_add(1, Ordering::Relaxed);
    ms.wake_assists();
}

/// Grey objects pushed to the injector (a drain's leftovers), then
/// `MarkState::wake`.
fn push_grey(ms: &Ms) {
    ms.work.fetch_add(1, Ordering::Release);
    ms.wake();
}

/// `cycle::mark_termination`: `active` off, then `wake_assists`.
fn end_mark(ms: &Ms) {
    ms.active.store(false, Ordering::Release);
    ms.wake_assists();
}

/// Runs `f` under loom with a preemption bound of 3 (unless
/// `LOOM_MAX_PREEMPTIONS` sets one): a lost wake-up needs two (the waker's
/// update and check between the parker's check and its wait).
fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Runs a parked mutator against one thread that makes it ready.
fn model(flaw: Flaw, event: fn(&Ms)) {
    check(move || {
        let ms = Arc::new(Ms::new(flaw));
        let m = {
            let ms = ms.clone();
            thread::spawn(move || park_in_assist(&ms))
        };
        event(&ms);
        m.join().unwrap();
    });
}

#[test]
fn a_worker_publishing_credit_wakes_a_parked_assist() {
    model(Flaw::None, publish);
}

#[test]
fn grey_objects_pushed_wake_a_parked_assist() {
    model(Flaw::None, push_grey);
}

#[test]
fn the_end_of_the_mark_wakes_a_parked_assist() {
    model(Flaw::None, end_mark);
}

#[test]
fn two_parked_assists_and_two_events() {
    check(|| {
        let ms = Arc::new(Ms::new(Flaw::None));
        let ms1 = ms.clone();
        let m1 = thread::spawn(move || park_in_assist(&ms1));
        let ms2 = ms.clone();
        let m2 = thread::spawn(move || park_in_assist(&ms2));
        publish(&ms);
        end_mark(&ms);
        m1.join().unwrap();
        m2.join().unwrap();
    });
}

/// The model can fail: a parker that checks before it counts itself parked
/// can miss the waker (which saw no one parked) and sleep for ever.
#[test]
#[should_panic(expected = "deadlock")]
fn flawed_check_before_counting_loses_a_wake_up() {
    model(Flaw::CheckBeforeCounting, publish);
}
