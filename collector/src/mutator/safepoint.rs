//! Safepoints, stopping the world, and handshakes.
//!
//! The collector never stops a thread from outside. Two operations exist:
//!
//! **Stop the world.** The collector takes the heap's `world` lock (so no
//! mutator attaches meanwhile, and only one collector stops the world at a
//! time), sets `POLL_STOP` on every registered mutator, then takes each
//! mutator's state lock. A running mutator holds its lock; it gives it up at
//! its next poll (`at_safepoint`), where it then waits on the `world` lock
//! until the world restarts and takes its own lock back. A mutator in native
//! code does not hold its lock, so the collector gets it at once; if it tries
//! to leave native code it blocks on its own lock until the world restarts.
//! Once the collector holds every lock, no mutator runs, and it may touch
//! every mutator's roots and cache. Restarting clears the bits and drops the
//! locks, then the `world` lock.
//!
//! Why it cannot deadlock: a mutator never waits for the `world` lock while
//! holding its state lock (it releases first), and the collector takes the
//! `world` lock before any state lock. A mutator that detaches while the
//! collector waits for it holds only its state lock and the registry lock,
//! never the `world` lock; the collector finds it marked detached and skips it.
//!
//! **Handshake.** The collector posts a closure to every mutator and sets
//! `POLL_HANDSHAKE`; each running mutator runs it on itself at its next poll
//! and carries on, and for a mutator that is parked or in native code the
//! collector runs it itself while holding that mutator's lock. Whoever moves
//! the mutator's handshake state from *posted* to *claimed* (a CAS) runs it,
//! so it runs exactly once per mutator. The collector returns when every
//! mutator's state is *done*. No mutator waits for another.
//!
//! The loom model in `collector/tests/loom_safepoint.rs` checks both protocols on a
//! reduced model.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::lock_api::ArcMutexGuard;
use parking_lot::{MutexGuard, RawMutex};

use crate::heap::inner::HeapInner;
use crate::mutator::state::{
    HandshakeFn, MutatorData, MutatorShared, HS_CLAIMED, HS_DONE, HS_IDLE, HS_POSTED,
    POLL_HANDSHAKE, POLL_STOP,
};

/// Called by a running mutator whose poll word is non-zero.
pub(crate) fn at_safepoint(
    heap: &HeapInner,
    me: &MutatorShared,
    guard: &mut ArcMutexGuard<RawMutex, MutatorData>,
) {
    let poll = me.poll.load(Ordering::Acquire);
    if poll & POLL_HANDSHAKE != 0 {
        run_handshake(me, guard);
    }
    if poll & POLL_STOP != 0 {
        // Park: give our state to the collector and wait for the world to
        // restart (the collector holds `world` for the whole stop).
        ArcMutexGuard::unlocked(guard, || {
            drop(heap.world.lock());
        });
    }
}

/// Runs a posted handshake on `data` if this caller wins the claim.
fn run_handshake(me: &MutatorShared, data: &mut MutatorData) {
    if me
        .handshake
        .compare_exchange(HS_POSTED, HS_CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        let f = me.handshake_fn.lock().clone();
        if let Some(f) = f {
            f(me.id, data);
        }
        me.poll.fetch_and(!POLL_HANDSHAKE, Ordering::AcqRel);
        me.handshake.store(HS_DONE, Ordering::Release);
    }
}

/// The world, stopped: the collector holds every mutator's state.
pub(crate) struct StoppedWorld<'h> {
    _world: MutexGuard<'h, ()>,
    pub(crate) mutators: Vec<(Arc<MutatorShared>, ArcMutexGuard<RawMutex, MutatorData>)>,
    /// Time to stop: from the call until the last mutator had stopped (the
    /// world lock, then every mutator's state lock, which a running mutator
    /// gives up only at its next safepoint). Part of the pause, but the
    /// collector's work in it is nil: it measures how late mutators poll.
    pub(crate) stop_wait: std::time::Duration,
}

/// Stops every mutator at its next safepoint. The caller must not be a
/// running mutator of this heap.
pub(crate) fn stop_the_world(heap: &HeapInner) -> StoppedWorld<'_> {
    let asked = std::time::Instant::now();
    let world = heap.world.lock();
    let mutators: Vec<Arc<MutatorShared>> = heap.registry.lock().clone();
    for m in &mutators {
        m.poll.fetch_or(POLL_STOP, Ordering::AcqRel);
    }
    let mut stopped = Vec::with_capacity(mutators.len());
    for m in mutators {
        let guard = m.data.lock_arc();
        if m.detached.load(Ordering::Acquire) {
            continue;
        }
        stopped.push((m, guard));
    }
    StoppedWorld {
        _world: world,
        mutators: stopped,
        stop_wait: asked.elapsed(),
    }
}

impl StoppedWorld<'_> {
    /// Restarts every mutator.
    pub(crate) fn start(self) {
        drop(self);
    }
}

impl Drop for StoppedWorld<'_> {
    /// Restarts the world, also when a cycle unwinds from a panic.
    fn drop(&mut self) {
        for (m, guard) in self.mutators.drain(..) {
            m.poll.fetch_and(!POLL_STOP, Ordering::AcqRel);
            drop(guard);
        }
        // `_world` drops after this: parked mutators wake and retake their
        // own locks.
    }
}

/// Runs `f` once on every mutator's state: by the mutator itself at its next
/// poll, or by the caller for a mutator that is parked or in native code.
/// The caller must not be a running mutator of this heap.
pub(crate) fn handshake(heap: &HeapInner, f: HandshakeFn) {
    handshake_some(heap, f, |_| true);
}

/// [`handshake`] with only the mutators `which` selects.
pub(crate) fn handshake_some(
    heap: &HeapInner,
    f: HandshakeFn,
    which: impl Fn(&MutatorShared) -> bool,
) {
    // One handshake at a time: a mutator has one handshake slot, and a second
    // caller posting over the first could see the state reset under it.
    let _one_at_a_time = heap.handshake_lock.lock();
    let mutators: Vec<Arc<MutatorShared>> = heap
        .registry
        .lock()
        .iter()
        .filter(|m| which(m))
        .cloned()
        .collect();
    for m in &mutators {
        *m.handshake_fn.lock() = Some(f.clone());
        m.handshake.store(HS_POSTED, Ordering::Release);
        m.poll.fetch_or(POLL_HANDSHAKE, Ordering::AcqRel);
    }
    for m in &mutators {
        let mut spins = 0u32;
        loop {
            let state = m.handshake.load(Ordering::Acquire);
            if state == HS_DONE || m.detached.load(Ordering::Acquire) {
                break;
            }
            if state == HS_POSTED {
                if let Some(mut guard) = m.data.try_lock_arc() {
                    if !m.detached.load(Ordering::Acquire) {
                        run_handshake(m, &mut guard);
                    }
                    continue;
                }
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 1024 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        m.handshake.store(HS_IDLE, Ordering::Release);
        *m.handshake_fn.lock() = None;
    }
}
