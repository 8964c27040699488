#![cfg(loom)]
//! A loom model of parked mark assists (`src/assist.rs`, "Parking"): a
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
//! (`src/gcwork.rs`) on loom's atomics, mutex and condvar, with the same
//! order of updates and the same orderings, and the loop of
//! `Mutator::park_in_assist` (`src/mutator.rs`): park, then look again. The
//! real park also returns after `PARK_POLL` (1 ms) as a backstop; the model
//! has no timeout, so a lost wake-up leaves the mutator parked for ever and
//! loom reports the deadlock.
//!
//! | model | models |
//! |---|---|
//! | `Ms::active` | `MarkState::active`: `Release` store at mark termination |
//! | `Ms::credit` | `MarkState::bg_credit`: `Relaxed` add in `bgmark::publish` |
//! | `Ms::work` | a push to the injector (`MarkState::work_visible`) |
//! | `Ms::park` | `MarkState::park_assist`: lock; parked + 1; fence; check; wait |
//! | `Ms::wake` | `MarkState::wake_assists` (also called by `wake`): fence; if parked, lock and notify |

use loom::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;
// `std`'s `Arc`: reference counting is no part of the protocol, and loom's
// `Arc` cannot be dropped while loom unwinds from a deadlock it found (as
// in `loom_safepoint.rs`).
use std::sync::Arc;

#[derive(Default)]
struct Ms {
    active: AtomicBool,
    credit: AtomicI64,
    work: AtomicUsize,
    parked: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    /// Broken on purpose: check the conditions before counting itself
    /// parked (the `flawed_*` test).
    flawed: bool,
}

impl Ms {
    fn new() -> Ms {
        let ms = Ms::default();
        ms.active.store(true, Ordering::Relaxed);
        ms
    }

    /// What lets a parked assist go on: the mark is over, or there is
    /// credit to take or work to do.
    fn ready(&self) -> bool {
        !self.active.load(Ordering::SeqCst)
            || self.credit.load(Ordering::SeqCst) > 0
            || self.work.load(Ordering::SeqCst) > 0
    }

    fn park(&self) {
        let g = self.lock.lock().unwrap();
        let early = self.flawed && self.ready();
        self.parked.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let ready = if self.flawed { early } else { self.ready() };
        let g = if !ready { self.cv.wait(g).unwrap() } else { g };
        self.parked.fetch_sub(1, Ordering::SeqCst);
        drop(g);
    }

    fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) != 0 {
            let _g = self.lock.lock().unwrap();
            self.cv.notify_all();
        }
    }
}

/// `Mutator::park_in_assist`: park until something lets it go on.
fn parked_mutator(ms: &Ms) {
    while !ms.ready() {
        ms.park();
    }
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
fn model(event: fn(&Ms)) {
    model_with(false, event);
}

fn model_with(flawed: bool, event: fn(&Ms)) {
    check(move || {
        let ms = Arc::new(Ms {
            flawed,
            ..Ms::new()
        });
        let m = {
            let ms = ms.clone();
            thread::spawn(move || parked_mutator(&ms))
        };
        event(&ms);
        m.join().unwrap();
    });
}

#[test]
fn a_worker_publishing_credit_wakes_a_parked_assist() {
    // `bgmark::publish`: credit, then `wake_assists`.
    model(|ms| {
        ms.credit.fetch_add(1, Ordering::Relaxed);
        ms.wake();
    });
}

#[test]
fn grey_objects_pushed_wake_a_parked_assist() {
    // A drain's leftovers to the injector, then `MarkState::wake`.
    model(|ms| {
        ms.work.fetch_add(1, Ordering::Release);
        ms.wake();
    });
}

#[test]
fn the_end_of_the_mark_wakes_a_parked_assist() {
    // `mark_termination`: `active` off, then `wake_assists`.
    model(|ms| {
        ms.active.store(false, Ordering::Release);
        ms.wake();
    });
}

#[test]
fn two_parked_assists_and_two_events() {
    check(|| {
        let ms = Arc::new(Ms::new());
        let ms1 = ms.clone();
        let m1 = thread::spawn(move || parked_mutator(&ms1));
        let ms2 = ms.clone();
        let m2 = thread::spawn(move || parked_mutator(&ms2));
        ms.credit.fetch_add(1, Ordering::Relaxed);
        ms.wake();
        ms.active.store(false, Ordering::Release);
        ms.wake();
        m1.join().unwrap();
        m2.join().unwrap();
    });
}

/// The model can fail: a parker that checks before it counts itself parked
/// can miss the waker (which saw no one parked) and sleep for ever.
#[test]
#[should_panic(expected = "deadlock")]
fn flawed_check_before_counting_loses_a_wake_up() {
    model_with(true, |ms| {
        ms.credit.fetch_add(1, Ordering::Relaxed);
        ms.wake();
    });
}
