//! Background mark workers (Go's `gcBgMarkWorker`): dedicated threads that
//! drain the grey set while a concurrent mark runs (essay step 3).
//!
//! A heap starts its workers when it is made (about a quarter of the cores,
//! at least one; `Config::mark_workers`) and they sleep whenever no mark is
//! running. By default they run at the operating system's idle priority
//! (`SCHED_IDLE` on Linux): they use CPU time no mutator wants, so marking
//! does not make other threads of the process late. Progress is still
//! guaranteed when the mutators keep every core busy, because allocating
//! mutators pay for their allocation with mark assists (`mutator::assist`),
//! and the pacer blocks a mutator that reaches the hard limit.
//!
//! A worker's loop: take the global roots job if it is still pending; then
//! take grey objects from its private stack (through its prefetch ring),
//! else pop its own deque, else steal from the injector and the other
//! workers, and scan, offering part of the stack to its deque when that
//! runs dry (`mark::queue::offer`); with nothing to do, count
//! itself idle and sleep until work is pushed (or 1 ms passes). Counters are
//! added to the shared totals, and scan work credited to `bg_credit`, every
//! few objects and whenever it goes idle, so that an idle worker holds no
//! uncounted work (`MarkState::quiescent`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_deque::Worker;

use crate::heap::inner::HeapInner;
use crate::mark::drain::drain_worker;
use crate::mark::queue::{steal_into, Tally};
use crate::mark::roots::scan_globals;
use crate::stats::thread_cpu_time;

/// Makes the calling thread idle-priority, if the platform allows. Returns
/// whether it worked.
fn lower_priority() -> bool {
    // Miri runs no scheduler of its own to ask.
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler reads one sched_param through the valid
        // pointer; pid 0 is the calling thread.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        rc == 0
    }
    #[cfg(any(not(target_os = "linux"), miri))]
    {
        false
    }
}

/// Spawns the heap's background workers and publishes their stealers.
pub(crate) fn spawn(heap: &Arc<HeapInner>) -> Vec<std::thread::JoinHandle<()>> {
    let n = heap.mark_state.workers;
    let deques: Vec<Worker<usize>> = (0..n).map(|_| Worker::new_lifo()).collect();
    let stealers = deques.iter().map(Worker::stealer).collect();
    heap.mark_state
        .stealers
        .set(stealers)
        .unwrap_or_else(|_| unreachable!("workers are spawned once per heap"));
    heap.mark_state.idle_workers.store(n, Ordering::SeqCst);
    deques
        .into_iter()
        .enumerate()
        .map(|(i, local)| {
            let heap = heap.clone();
            std::thread::Builder::new()
                .name(format!("tricolor-mark-{i}"))
                .spawn(move || worker(heap, i, local))
                .expect("spawning a mark worker")
        })
        .collect()
}

fn worker(heap: Arc<HeapInner>, me: usize, local: Worker<usize>) {
    // Where this worker's CPU time is counted: idle if the OS runs it at
    // idle priority, background otherwise (`CycleStats::idle_cpu`).
    let idle = heap.config.idle_priority_workers && lower_priority();
    // A bad pointer found in a debug build panics in the marker; record the
    // message for the collector thread, which fails the cycle with it, and
    // stay idle (the heap runs no more cycles).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        work(&heap, me, &local, idle);
    }));
    if let Err(p) = result {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a mark worker panicked".into());
        heap.mark_state.failure.lock().get_or_insert(msg);
        heap.mark_state.idle_workers.fetch_add(1, Ordering::SeqCst);
    }
}

/// The worker's loop. `local` is its deque (others steal from it); `idle`:
/// it runs at idle priority.
fn work(heap: &HeapInner, me: usize, local: &Worker<usize>, idle: bool) {
    let ms = &heap.mark_state;
    let cpu_ns = if idle {
        &ms.idle_cpu_ns
    } else {
        &ms.background_cpu_ns
    };
    let mut tally = ms.tally();
    // Counted idle from the start (see `spawn`).
    loop {
        if heap.shutting_down.load(Ordering::Acquire) {
            return;
        }
        if !ms.active.load(Ordering::Acquire) || !(ms.work_visible() || ms.roots_pending()) {
            ms.sleep(Duration::from_millis(1), || {
                heap.shutting_down.load(Ordering::Acquire)
                    || (ms.active.load(Ordering::Acquire)
                        && (ms.work_visible() || ms.roots_pending()))
            });
            continue;
        }
        // Idle -> busy, counted before taking anything: a quiescence check
        // that saw us idle re-reads the idle count after its fence and sees
        // us busy. (The epoch is what catches budgeted drains that take
        // work and give it back in between; bumping it here is harmless.)
        ms.epoch.fetch_add(1, Ordering::SeqCst);
        ms.idle_workers.fetch_sub(1, Ordering::SeqCst);
        while heap.workers_stalled_for_testing.load(Ordering::SeqCst)
            && !heap.shutting_down.load(Ordering::Acquire)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let cpu0 = thread_cpu_time();
        if ms.take_roots_job() {
            scan_globals(heap);
        }
        let steal = || steal_into(&ms.injector, ms.stealers(), Some(me), local);
        // Grey objects go to a private stack, seen by others only when
        // `offer` moves them to the deque; the worker counts as busy until
        // both are empty (`mark::queue` module docs). It stops early only
        // when the mark ended (`active` cleared), and then its stack and
        // ring have gone back to the injector.
        drain_worker(heap, local, steal, &mut tally, |tally| {
            publish(heap, tally);
            ms.active.load(Ordering::Relaxed)
        });
        publish(heap, &mut tally);
        let cpu = thread_cpu_time().saturating_sub(cpu0);
        cpu_ns.fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
        // Busy -> idle, with an empty deque and every count published.
        debug_assert!(local.is_empty() || !ms.active.load(Ordering::Relaxed));
        while let Some(v) = local.pop() {
            // Marking was switched off under us (a failed cycle): hand back.
            ms.injector.push(v);
        }
        ms.idle_workers.fetch_add(1, Ordering::SeqCst);
    }
}

fn publish(heap: &HeapInner, tally: &mut Tally) {
    let ms = &heap.mark_state;
    ms.bg_credit
        .fetch_add(tally.scanned_bytes as i64, Ordering::Relaxed);
    ms.add(tally);
    // Credit may pay a parked assist's debt.
    ms.wake_assists();
}
