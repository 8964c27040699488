//! Finalizers and cleanups: `Mutator::set_finalizer`, `clear_finalizer`,
//! `add_cleanup`, `CleanupHandle::cancel`, `keep_alive` and
//! `wait_for_finalizers`, with the scenarios of Go's runtime finalizer and
//! cleanup tests ported to this API. Checkmark, the verifier and poisoning
//! are on throughout, and the single-threaded scenarios run under every
//! barrier mode. Covered:
//!
//! - a finalizer runs only once its object is unreachable, exactly once,
//!   with its object and everything the object reaches intact; the object
//!   itself is not marked in that cycle, its referents are;
//! - resurrection: the object lives on, without a finalizer, its cleanups
//!   deferred until it really dies; a finalizer may set a new finalizer;
//! - chains of finalizable objects run one cycle apart, in order;
//! - cycles of finalizable objects leak, are counted per cycle
//!   (`finalizer_cycles`, the gctrace line) and are finalized once broken;
//!   cycles not through a finalizable object do not count;
//! - a panicking finalizer or cleanup is caught and counted, later ones run;
//! - finalizers allocate, store, collect and root objects on the finalizer
//!   thread;
//! - `clear_finalizer`, a second `set_finalizer`, and refused arguments
//!   (interior, foreign, freed pointers; a cleanup argument that is its
//!   object), each with its `SpecialError` variant and message;
//! - cleanups: run once after their object is freed, with their argument
//!   kept alive until then; several per object; cancelling (too late once
//!   queued); they never keep a cycle alive; an argument that reaches its
//!   object leaks until the cleanup is cancelled;
//! - large and empty objects; `keep_alive`; closures of finalizers that
//!   never ran are dropped with the heap;
//! - four mutator threads setting finalizers while collections run: every
//!   dropped object is finalized exactly once, no kept one is;
//! - stepped interleavings (`CycleStepper`): `set_finalizer` while marking,
//!   before and after the finalizer stage, and a finalizer-thread pop while
//!   marking, each followed by checkmark at mark termination; the stepped
//!   finalizer stage's count;
//! - the background sweeper sweeps after every cycle (it once slept
//!   through a cycle that ended just after it last found nothing to do).

mod common;
mod stepper;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::{canary, checked_config, manual_heap, Rng, ALL_MODES, CONCURRENT_MODES};
use stepper::{Collector, Step};
use tricolor_collector::{
    BarrierMode, CycleStats, GlobalRoot, Heap, Mutator, ObjRef, SpecialError, TypeDescriptor,
    TypeId,
};

/// How long a test waits for another thread before it calls it a hang.
/// Only for waits that involve no collection (a collection's time depends
/// on the load). A finalizer held at a gate waits without a deadline: the
/// test thread opens the gate after whole collections, and drops the
/// sender (which ends the wait) if it panics first.
const PATIENCE: Duration = Duration::from_secs(20);

fn heap(mode: BarrierMode) -> Heap {
    Heap::new(tricolor_collector::Config {
        barrier: mode,
        ..checked_config()
    })
}

#[derive(Copy, Clone)]
struct Types {
    /// Fields 0 and 1 are pointers, word 2 is the object's id, word 3 the
    /// canary of that id.
    obj: TypeId,
    /// Bytes.
    blob: TypeId,
}

fn types(heap: &Heap) -> Types {
    Types {
        obj: heap
            .register_type(TypeDescriptor::fixed("Obj", 4, &[0, 1]))
            .unwrap(),
        blob: heap.register_type(TypeDescriptor::bytes("Blob")).unwrap(),
    }
}

fn new_obj(m: &mut Mutator, t: Types, id: u64) -> ObjRef {
    let o = m.alloc(t.obj, 0);
    // SAFETY: `o` is fresh (no safepoint since); words 2 and 3 are data.
    unsafe {
        m.store_word(o, 2, id);
        m.store_word(o, 3, canary(id));
    }
    o
}

/// Stores `to` into pointer field `field` of `from`.
///
/// # Safety
/// `from` and `to` must be live objects of `m`'s heap.
unsafe fn link(m: &mut Mutator, from: ObjRef, field: usize, to: Option<ObjRef>) {
    // SAFETY: the caller's contract.
    unsafe { m.store(from, field, to) }
}

/// The ids along field 0 from `o` ("1 2 3"), each checked against its
/// canary: a bad one ends the walk with "BAD" (a freed object reads as
/// poison). At most eight steps, so a loop ends with "...".
///
/// # Safety
/// `o` and everything it reaches must be live.
unsafe fn describe(m: &Mutator, o: ObjRef) -> String {
    let mut out = Vec::new();
    let mut cur = Some(o);
    while let Some(c) = cur {
        if out.len() == 8 {
            out.push("...".to_string());
            break;
        }
        // SAFETY: `c` is `o` or reached from it (the caller's contract).
        let (id, check) = unsafe { (m.load_word(c, 2), m.load_word(c, 3)) };
        if check != canary(id) {
            out.push(format!("BAD@{:#x}", c.addr()));
            break;
        }
        out.push(id.to_string());
        // SAFETY: as above; field 0 is a pointer field.
        cur = unsafe { m.load(c, 0) };
    }
    out.join(" ")
}

/// What finalizers and cleanups report, in the order they ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn take_sorted(&self) -> Vec<String> {
        let mut v = self.take();
        v.sort();
        v
    }
}

/// A finalizer that logs `fin {id}: {what its object reaches}`, and says
/// so if it was given another object than `obj` (whose address it keeps;
/// it keeps no reference).
fn fin(log: &Log, id: u64, obj: ObjRef) -> impl FnOnce(&mut Mutator, ObjRef) + Send + 'static {
    let log = log.clone();
    let addr = obj.addr();
    move |m, o| {
        let wrong = if o.addr() == addr {
            String::new()
        } else {
            format!(" (WRONG OBJECT {:#x})", o.addr())
        };
        // SAFETY: a finalizer's object is rooted while it runs, and what it
        // reaches was kept for it (the `set_finalizer` contract).
        let seen = unsafe { describe(m, o) };
        log.push(format!("fin {id}: {seen}{wrong}"));
    }
}

/// A cleanup that logs `cleanup {tag}: {what its argument reaches}`.
fn cleanup(
    log: &Log,
    tag: &'static str,
) -> impl FnOnce(&mut Mutator, Option<ObjRef>) + Send + 'static {
    let log = log.clone();
    move |m, arg| {
        let seen = match arg {
            None => "none".to_string(),
            // SAFETY: a cleanup's argument is kept alive until it has run,
            // and so is what it reaches.
            Some(a) => unsafe { describe(m, a) },
        };
        log.push(format!("cleanup {tag}: {seen}"));
    }
}

/// Collects, runs every finalizer and cleanup that cycle made due, and
/// returns the cycle's stats.
fn gc(m: &mut Mutator) -> CycleStats {
    m.collect();
    m.wait_for_finalizers();
    m.heap().stats().last_cycle.expect("a cycle ran")
}

// ---- finalizers: when they run, what they see --------------------------------

/// Go: TestFinalizerType and friends. Rooted, the object is never
/// finalized; unrooted, exactly once, seeing its data and its referents;
/// its cleanup then runs when the object is really freed, one cycle later.
#[test]
fn a_finalizer_runs_once_only_after_its_object_is_unreachable() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();

        let x = new_obj(&mut m, t, 1);
        let slot = m.push_root(Some(x));
        let y = new_obj(&mut m, t, 2);
        let x = m.root(slot).unwrap();
        // SAFETY: `x` is rooted, `y` fresh.
        unsafe { link(&mut m, x, 0, Some(y)) };
        let z = new_obj(&mut m, t, 3);
        let x = m.root(slot).unwrap();
        // SAFETY: `x` is rooted, `y` reachable from it, `z` fresh.
        unsafe {
            let y = m.load(x, 0).unwrap();
            link(&mut m, y, 0, Some(z));
        }
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();
        m.add_cleanup(x, None, cleanup(&log, "of 1")).unwrap();

        for round in 0..2 {
            let c = gc(&mut m);
            assert_eq!(log.take(), Vec::<String>::new(), "{mode} round {round}");
            assert_eq!(c.objects_marked, 3, "{mode}: rooted, all three live");
            let s = heap.stats().specials;
            assert_eq!(
                (s.finalizers_pending, s.finalizers_queued, s.finalizers_run),
                (1, 0, 0),
                "{mode}"
            );
        }
        // SAFETY: rooted.
        assert_eq!(unsafe { describe(&m, m.root(slot).unwrap()) }, "1 2 3");

        m.set_root(slot, None);
        let c = gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1 2 3"], "{mode}");
        assert_eq!(
            c.objects_marked, 2,
            "{mode}: the referents are kept for the finalizer, the object is not marked"
        );
        assert_eq!(c.finalizer_cycles, 0, "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (s.finalizers_pending, s.finalizers_queued, s.finalizers_run),
            (0, 1, 1),
            "{mode}"
        );
        assert_eq!(
            (s.cleanups_pending, s.cleanups_queued),
            (1, 0),
            "{mode}: the cleanup waits for the object to be freed"
        );

        let c = gc(&mut m);
        assert_eq!(log.take(), ["cleanup of 1: none"], "{mode}");
        assert_eq!(c.objects_marked, 0, "{mode}: all three freed");

        let c = gc(&mut m);
        assert_eq!(
            log.take(),
            Vec::<String>::new(),
            "{mode}: nothing runs twice"
        );
        assert_eq!(c.objects_marked, 0, "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (s.finalizers_run, s.cleanups_run, s.finalizer_panics),
            (1, 1, 0),
            "{mode}"
        );
    }
}

/// Go: TestFinalizerOnGlobal's cousin, resurrection. The finalizer stores
/// its object in a global root: the object lives on intact, without a
/// finalizer, and its cleanup waits until it really dies.
#[test]
fn a_resurrected_object_lives_on_without_its_finalizer() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let resurrected: Arc<Mutex<Option<GlobalRoot>>> = Arc::default();

        let x = new_obj(&mut m, t, 1);
        let slot = m.push_root(Some(x));
        let y = new_obj(&mut m, t, 2);
        let x = m.root(slot).unwrap();
        // SAFETY: `x` rooted, `y` fresh.
        unsafe { link(&mut m, x, 0, Some(y)) };
        let x_addr = x.addr();
        let (r, l) = (resurrected.clone(), log.clone());
        m.set_finalizer(x, move |m, o| {
            // SAFETY: the finalizer's object is rooted while it runs.
            l.push(format!("fin 1: {}", unsafe { describe(m, o) }));
            *r.lock().unwrap() = Some(m.heap().add_global(Some(o)));
        })
        .unwrap();
        m.add_cleanup(x, None, cleanup(&log, "of 1")).unwrap();
        m.set_root(slot, None);

        gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1 2"], "{mode}");
        let g = resurrected.lock().unwrap().take().expect("resurrected");
        let x = g.get().unwrap();
        assert_eq!(x.addr(), x_addr, "{mode}");
        assert_eq!(
            m.clear_finalizer(x),
            Ok(false),
            "{mode}: the finalizer ran, so the object has none any more"
        );

        for round in 0..2 {
            let c = gc(&mut m);
            assert_eq!(log.take(), Vec::<String>::new(), "{mode} round {round}");
            assert_eq!(c.objects_marked, 2, "{mode}: resurrected with its referent");
            // SAFETY: rooted by the global.
            assert_eq!(unsafe { describe(&m, g.get().unwrap()) }, "1 2", "{mode}");
        }
        let s = heap.stats().specials;
        assert_eq!((s.cleanups_pending, s.cleanups_queued), (1, 0), "{mode}");

        drop(g);
        let c = gc(&mut m);
        assert_eq!(
            log.take(),
            ["cleanup of 1: none"],
            "{mode}: unreachable again: freed without a second finalizer run"
        );
        assert_eq!(c.objects_marked, 0, "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (s.finalizers_queued, s.finalizers_run, s.cleanups_run),
            (1, 1, 1),
            "{mode}"
        );
    }
}

/// A finalizer that sets a new finalizer on its object (Go allows
/// re-registering from inside a finalizer): each round is one cycle.
#[test]
fn a_finalizer_may_set_a_new_finalizer_on_its_object() {
    type Finalizer = Box<dyn FnOnce(&mut Mutator, ObjRef) + Send>;
    fn rearming(log: Log, rounds_left: u32) -> Finalizer {
        Box::new(move |m, o| {
            // SAFETY: the finalizer's object is rooted while it runs.
            log.push(format!("round {rounds_left}: {}", unsafe {
                describe(m, o)
            }));
            if rounds_left > 0 {
                m.set_finalizer(o, rearming(log, rounds_left - 1)).unwrap();
            }
        })
    }
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 7);
        m.set_finalizer(x, rearming(log.clone(), 2)).unwrap();
        m.add_cleanup(x, None, cleanup(&log, "of 7")).unwrap();
        for want in [
            "round 2: 7",
            "round 1: 7",
            "round 0: 7",
            "cleanup of 7: none",
        ] {
            gc(&mut m);
            assert_eq!(log.take(), [want], "{mode}");
        }
        let c = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(c.objects_marked, 0, "{mode}");
        assert_eq!(heap.stats().specials.finalizers_run, 3, "{mode}");
    }
}

/// If finalizable A reaches finalizable B, A's finalizer runs first and
/// B's in a later cycle: a chain of four takes four cycles, one link each,
/// and every finalizer sees the rest of the chain intact.
#[test]
fn finalizers_of_a_chain_run_one_cycle_apart_in_order() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        // 1 -> 2 -> 3 -> 4, built from the tail; none rooted at the end.
        let head = m.push_root(None);
        for id in (1..=4).rev() {
            let o = new_obj(&mut m, t, id);
            let next = m.root(head);
            // SAFETY: `o` fresh, `next` rooted.
            unsafe { link(&mut m, o, 0, next) };
            m.set_root(head, Some(o));
            m.set_finalizer(o, fin(&log, id, o)).unwrap();
        }
        m.set_root(head, None);

        let mut marked = Vec::new();
        for want in ["fin 1: 1 2 3 4", "fin 2: 2 3 4", "fin 3: 3 4", "fin 4: 4"] {
            let c = gc(&mut m);
            assert_eq!(log.take(), [want], "{mode}");
            assert_eq!(c.finalizer_cycles, 0, "{mode}");
            marked.push(c.objects_marked);
        }
        assert_eq!(
            marked,
            [3, 2, 1, 0],
            "{mode}: each cycle keeps the rest of the chain for the head's finalizer"
        );
        let c = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(c.objects_marked, 0, "{mode}");
        let s = heap.stats().specials;
        assert_eq!((s.finalizers_pending, s.finalizers_run), (0, 4), "{mode}");
    }
}

/// Go documents that a cycle through a finalizable object is never
/// collected. Here such objects are found, counted per cycle (stats and the
/// gctrace line), never finalized; a cycle that does not pass through a
/// finalizable object does not count; breaking the loop lets the finalizer
/// run.
#[test]
fn cycles_through_finalizable_objects_leak_and_are_counted() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let frame = m.root_count();

        // S (1) reaches itself directly.
        let s = new_obj(&mut m, t, 1);
        m.push_root(Some(s));
        // SAFETY: `s` is fresh.
        unsafe { link(&mut m, s, 0, Some(s)) };
        m.set_finalizer(s, fin(&log, 1, s)).unwrap();
        let s_weak = m.weak_ref(s).unwrap();
        // X (20) reaches itself through the plain object N (21).
        let x = new_obj(&mut m, t, 20);
        let x_slot = m.push_root(Some(x));
        let n = new_obj(&mut m, t, 21);
        let x = m.root(x_slot).unwrap();
        // SAFETY: `x` rooted, `n` fresh.
        unsafe {
            link(&mut m, x, 0, Some(n));
            link(&mut m, n, 0, Some(x));
        }
        m.set_finalizer(x, fin(&log, 20, x)).unwrap();
        // P (10) reaches Q (11), a plain object that reaches itself: that
        // loop does not pass through P, so P is finalized normally.
        let p = new_obj(&mut m, t, 10);
        let p_slot = m.push_root(Some(p));
        let q = new_obj(&mut m, t, 11);
        let p = m.root(p_slot).unwrap();
        // SAFETY: `p` rooted, `q` fresh.
        unsafe {
            link(&mut m, p, 0, Some(q));
            link(&mut m, q, 0, Some(q));
        }
        m.set_finalizer(p, fin(&log, 10, p)).unwrap();
        m.truncate_roots(frame);

        let c = gc(&mut m);
        assert_eq!(
            log.take(),
            ["fin 10: 10 11 11 11 11 11 11 11 ..."],
            "{mode}"
        );
        assert_eq!(c.finalizer_cycles, 2, "{mode}: S and X");
        assert_eq!(c.objects_marked, 4, "{mode}: S, X, N, and Q for P");
        let line = c.trace_line();
        assert!(
            line.contains(
                ", fin 0/0 run (0 panicked, 2 in cycles), cleanups 0/0 run, \
                 weak 0 cleared, eph 0 dropped"
            ) && line.ends_with(" (forced)"),
            "{mode}: {line}"
        );
        assert_eq!(heap.stats().specials.finalizer_cycles, 2, "{mode}");

        let c = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(c.finalizer_cycles, 2, "{mode}: found again");
        assert_eq!(c.objects_marked, 3, "{mode}: P and Q are gone");
        assert!(
            c.trace_line()
                .contains(", fin 1/1 run (0 panicked, 2 in cycles)"),
            "{mode}: {}",
            c.trace_line()
        );
        let st = heap.stats().specials;
        assert_eq!(
            (st.finalizer_cycles, st.finalizers_pending),
            (4, 2),
            "{mode}: summed over cycles"
        );

        // Break S's loop (S is still there: it was never found unreachable).
        let s = s_weak.get(&m).expect("S leaked, so it is alive");
        // SAFETY: `s` was just returned by the weak reference, no safepoint since.
        unsafe { link(&mut m, s, 0, None) };
        let c = gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1"], "{mode}");
        assert_eq!(c.finalizer_cycles, 1, "{mode}: only X now");
        assert_eq!(heap.stats().specials.finalizer_cycles, 5, "{mode}");
    }
}

/// Two finalizable objects that reach each other leak: neither finalizer
/// ever runs, both stay, and the cycle is reported (one object per group:
/// see the next test).
#[test]
fn a_pair_of_finalizable_objects_in_a_cycle_leaks() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let a = new_obj(&mut m, t, 1);
        let slot = m.push_root(Some(a));
        let b = new_obj(&mut m, t, 2);
        let a = m.root(slot).unwrap();
        // SAFETY: `a` rooted, `b` fresh.
        unsafe {
            link(&mut m, a, 0, Some(b));
            link(&mut m, b, 0, Some(a));
        }
        m.set_finalizer(a, fin(&log, 1, a)).unwrap();
        m.set_finalizer(b, fin(&log, 2, b)).unwrap();
        m.add_cleanup(a, None, cleanup(&log, "of 1")).unwrap();
        m.set_root(slot, None);
        for round in 0..3 {
            let c = gc(&mut m);
            assert_eq!(log.take(), Vec::<String>::new(), "{mode} round {round}");
            assert_eq!(c.objects_marked, 2, "{mode} round {round}");
            assert!(c.finalizer_cycles >= 1, "{mode} round {round}: reported");
        }
        let s = heap.stats().specials;
        assert_eq!(
            (
                s.finalizers_pending,
                s.finalizers_queued,
                s.cleanups_pending
            ),
            (2, 0, 1),
            "{mode}"
        );
    }
}

/// `SpecialStats::finalizer_cycles` counts one object per group of
/// finalizable objects that reach one another, and a group that another
/// unreachable finalizable object reaches is reported at the latest once
/// that one has been finalized: A -> B <-> C counts at most one (B or C)
/// in the first collection, which runs A's finalizer, and exactly one in
/// the next, when nothing reaches the group any more. Two self-loops are
/// two groups.
#[test]
fn each_group_of_finalizable_objects_is_counted_once_nothing_else_reaches_it() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let a = new_obj(&mut m, t, 1);
        let slot = m.push_root(Some(a));
        let b = new_obj(&mut m, t, 2);
        let bs = m.push_root(Some(b));
        let c = new_obj(&mut m, t, 3);
        let (a, b) = (m.root(slot).unwrap(), m.root(bs).unwrap());
        // SAFETY: `a`, `b` rooted, `c` fresh; no safepoint since.
        unsafe {
            link(&mut m, a, 0, Some(b));
            link(&mut m, b, 0, Some(c));
            link(&mut m, c, 0, Some(b));
        }
        m.set_finalizer(a, fin(&log, 1, a)).unwrap();
        m.set_finalizer(b, fin(&log, 2, b)).unwrap();
        m.set_finalizer(c, fin(&log, 3, c)).unwrap();
        m.set_root(slot, None);
        m.set_root(bs, None);
        let first = gc(&mut m);
        let ran = log.take();
        assert!(
            ran.len() == 1 && ran[0].starts_with("fin 1: 1 2 3 2 3"),
            "{mode}: only the head runs, and sees the group: {ran:?}"
        );
        assert!(first.finalizer_cycles <= 1, "{mode}: {first:?}");
        let second = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}: B and C leak");
        assert_eq!(second.finalizer_cycles, 1, "{mode}: one per group");
        assert_eq!(second.objects_marked, 2, "{mode}: A is freed");

        // Two self-loops are two groups.
        for id in [4, 5] {
            let o = new_obj(&mut m, t, id);
            // SAFETY: `o` is fresh.
            unsafe { link(&mut m, o, 0, Some(o)) };
            m.set_finalizer(o, fin(&log, id, o)).unwrap();
        }
        let third = gc(&mut m);
        assert_eq!(third.finalizer_cycles, 3, "{mode}: B-C, 4 and 5");
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
    }
}

/// Go: a panicking finalizer takes the program down; here it is caught,
/// counted and reported, and the finalizer thread goes on. Panicking
/// cleanups are counted the same way.
#[test]
fn a_panicking_finalizer_is_caught_and_later_ones_still_run() {
    for mode in [BarrierMode::Off, BarrierMode::Hybrid] {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        for id in 1..=4 {
            let o = new_obj(&mut m, t, id);
            if id == 2 {
                m.set_finalizer(o, |_, _| panic!("finalizer 2 fails on purpose"))
                    .unwrap();
            } else {
                m.set_finalizer(o, fin(&log, id, o)).unwrap();
            }
            if id == 3 {
                m.add_cleanup(o, None, |_, _| panic!("cleanup of 3 fails on purpose"))
                    .unwrap();
            }
            if id == 4 {
                m.add_cleanup(o, None, cleanup(&log, "of 4")).unwrap();
            }
        }
        gc(&mut m);
        assert_eq!(
            log.take_sorted(),
            ["fin 1: 1", "fin 3: 3", "fin 4: 4"],
            "{mode}"
        );
        let s = heap.stats().specials;
        assert_eq!((s.finalizers_run, s.finalizer_panics), (4, 1), "{mode}");

        gc(&mut m);
        assert_eq!(log.take(), ["cleanup of 4: none"], "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (s.cleanups_run, s.finalizer_panics),
            (2, 2),
            "{mode}: the panicking cleanup counts as run and as panicked"
        );

        // The finalizer thread is still serving.
        let o = new_obj(&mut m, t, 5);
        m.set_finalizer(o, fin(&log, 5, o)).unwrap();
        let c = gc(&mut m);
        assert_eq!(log.take(), ["fin 5: 5"], "{mode}");
        assert!(
            c.trace_line().contains("(2 panicked, 0 in cycles)"),
            "{mode}: {}",
            c.trace_line()
        );
    }
}

/// The finalizer thread is a mutator: a finalizer allocates a list, roots
/// it in a frame, collects (its object and list are roots of that cycle),
/// stores the list into its object and resurrects the object.
#[test]
fn finalizers_allocate_store_and_collect_on_the_finalizer_thread() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let resurrected: Arc<Mutex<Option<GlobalRoot>>> = Arc::default();

        let x = new_obj(&mut m, t, 1);
        let (r, l) = (resurrected.clone(), log.clone());
        m.set_finalizer(x, move |m, o| {
            m.frame(|m| {
                let head = m.push_root(None);
                for id in 100..164 {
                    let n = new_obj(m, t, id);
                    let rest = m.root(head);
                    // SAFETY: `n` fresh, `rest` rooted.
                    unsafe { link(m, n, 0, rest) };
                    m.set_root(head, Some(n));
                }
                m.collect();
                // SAFETY: the list is rooted in `head`; `o` is the
                // finalizer's object, rooted while it runs.
                unsafe {
                    let list = m.root(head);
                    l.push(format!("list: {}", describe(m, list.unwrap())));
                    link(m, o, 1, list);
                }
                *r.lock().unwrap() = Some(m.heap().add_global(Some(o)));
            });
        })
        .unwrap();

        gc(&mut m);
        assert_eq!(
            log.take(),
            ["list: 163 162 161 160 159 158 157 156 ..."],
            "{mode}"
        );
        let g = resurrected.lock().unwrap().take().expect("resurrected");
        for _ in 0..2 {
            let c = gc(&mut m);
            assert_eq!(c.objects_marked, 65, "{mode}: the object and its list");
            let x = g.get().unwrap();
            // SAFETY: `x` is rooted by `g`; field 1 is a pointer field.
            let mut cur = unsafe { m.load(x, 1) };
            for id in (100..164).rev() {
                let n = cur.expect("list too short");
                // SAFETY: reachable from `g`.
                unsafe {
                    assert_eq!(m.load_word(n, 2), id, "{mode}");
                    assert_eq!(m.load_word(n, 3), canary(id), "{mode}");
                    cur = m.load(n, 0);
                }
            }
            assert!(cur.is_none(), "{mode}");
        }
        drop(g);
        let c = gc(&mut m);
        assert_eq!(c.objects_marked, 0, "{mode}");
        assert!(
            heap.stats().cycles >= 5,
            "{mode}: the finalizer's cycle too"
        );
    }
}

// ---- finalizers: misuse --------------------------------------------------------

#[test]
fn clear_finalizer_prevents_it_and_a_second_set_is_refused() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        let slot = m.push_root(Some(x));
        m.set_finalizer(x, |_, _| panic!("replaced: never runs"))
            .unwrap();
        let e = m.set_finalizer(x, |_, _| ()).unwrap_err();
        assert_eq!(e, SpecialError::AlreadyHasFinalizer { addr: x.addr() });
        assert!(e.to_string().contains("already has a finalizer"), "{e}");
        assert!(e.to_string().contains(&format!("{:#x}", x.addr())), "{e}");
        assert_eq!(m.clear_finalizer(x), Ok(true));
        assert_eq!(m.clear_finalizer(x), Ok(false));
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();

        let y = new_obj(&mut m, t, 2);
        m.set_finalizer(y, |_, _| panic!("cleared: never runs"))
            .unwrap();
        assert_eq!(m.clear_finalizer(y), Ok(true));
        assert_eq!(heap.stats().specials.finalizers_pending, 1, "{mode}");

        let c = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(c.objects_marked, 1, "{mode}: y was freed at once");
        m.set_root(slot, None);
        gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1"], "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (
                s.finalizers_pending,
                s.finalizers_queued,
                s.finalizers_run,
                s.finalizer_panics
            ),
            (0, 1, 1, 0),
            "{mode}"
        );
    }
}

/// Pointers that are not the start of a live object of this heap are
/// refused by every call, naming the call and the problem; nothing is
/// registered.
#[test]
fn bad_pointers_are_refused_with_the_reason() {
    for mode in [BarrierMode::Off, BarrierMode::Hybrid] {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let inside = ObjRef::from_addr(x.addr() + 8).unwrap();

        let e = m.set_finalizer(inside, |_, _| ()).unwrap_err();
        assert_eq!(
            e,
            SpecialError::InteriorPointer {
                addr: inside.addr(),
                base: x.addr(),
                what: "set_finalizer"
            }
        );
        let msg = e.to_string();
        assert!(msg.starts_with("set_finalizer: "), "{msg}");
        assert!(msg.contains("interior pointer"), "{msg}");
        assert!(msg.contains(&format!("{:#x}", x.addr())), "{msg}");
        assert!(matches!(
            m.clear_finalizer(inside),
            Err(SpecialError::InteriorPointer {
                what: "clear_finalizer",
                ..
            })
        ));
        assert!(matches!(
            m.add_cleanup(inside, None, |_, _| ()),
            Err(SpecialError::InteriorPointer {
                what: "add_cleanup",
                ..
            })
        ));
        let e = m.add_cleanup(x, Some(inside), |_, _| ()).unwrap_err();
        assert!(
            matches!(
                e,
                SpecialError::InteriorPointer {
                    what: "add_cleanup (its argument)",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("add_cleanup (its argument): "),
            "{e}"
        );

        // Not a heap address at all.
        let native = Box::new(0u64);
        let outside = ObjRef::from_addr(&*native as *const u64 as usize).unwrap();
        let e = m.set_finalizer(outside, |_, _| ()).unwrap_err();
        assert_eq!(
            e,
            SpecialError::NotAHeapObject {
                addr: outside.addr(),
                what: "set_finalizer"
            }
        );
        assert!(
            e.to_string().contains("is not an object of this heap"),
            "{e}"
        );
        // An object of another heap is not an object of this one.
        let other = Heap::new(checked_config());
        let ot = types(&other);
        let mut om = other.attach().unwrap();
        let foreign = new_obj(&mut om, ot, 9);
        assert_eq!(
            m.add_cleanup(x, Some(foreign), |_, _| ()).unwrap_err(),
            SpecialError::NotAHeapObject {
                addr: foreign.addr(),
                what: "add_cleanup (its argument)"
            }
        );
        drop(om);

        // The argument may not be the object itself.
        let x = m.root(x_slot).unwrap();
        let e = m.add_cleanup(x, Some(x), |_, _| ()).unwrap_err();
        assert_eq!(e, SpecialError::CleanupArgIsObject { addr: x.addr() });
        assert!(e.to_string().contains("the argument is the object"), "{e}");

        let s = heap.stats().specials;
        assert_eq!(
            (s.finalizers_pending, s.cleanups_pending),
            (0, 0),
            "{mode}: refused calls register nothing"
        );
    }
}

/// With poisoning on, a freed object is reported as freed: here a slot in
/// a span that still holds a live object (so the span itself stays).
#[test]
fn a_freed_object_is_refused_as_freed() {
    for (mode, poison) in [
        (BarrierMode::Off, true),
        (BarrierMode::Hybrid, true),
        (BarrierMode::Hybrid, false),
    ] {
        let heap = Heap::new(tricolor_collector::Config {
            barrier: mode,
            poison,
            ..checked_config()
        });
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let keep = new_obj(&mut m, t, 1);
        let keep_slot = m.push_root(Some(keep));
        let victim = new_obj(&mut m, t, 2);
        assert_eq!(
            keep.addr() >> 13,
            victim.addr() >> 13,
            "precondition: one page, so one span"
        );
        m.collect();
        m.wait_for_finalizers(); // finishes the sweep: the victim is freed
        let e = m.set_finalizer(victim, |_, _| ()).unwrap_err();
        assert_eq!(
            e,
            SpecialError::FreedObject {
                addr: victim.addr(),
                what: "set_finalizer"
            },
            "{mode} poison={poison}"
        );
        assert!(
            e.to_string().contains("was freed by an earlier collection"),
            "{e}"
        );
        assert!(matches!(
            m.clear_finalizer(victim),
            Err(SpecialError::FreedObject {
                what: "clear_finalizer",
                ..
            })
        ));
        let keep = m.root(keep_slot).unwrap();
        assert!(matches!(
            m.add_cleanup(keep, Some(victim), |_, _| ()),
            Err(SpecialError::FreedObject {
                what: "add_cleanup (its argument)",
                ..
            })
        ));
        assert!(matches!(
            m.weak_ref(victim),
            Err(SpecialError::FreedObject {
                what: "weak_ref",
                ..
            })
        ));

        // A large object's span is freed with it: the address is then no
        // object at all (or, once the pages are reused, maybe another
        // one). Here it is refused either way.
        let big = m.alloc(t.blob, 64 << 10);
        m.collect();
        m.wait_for_finalizers();
        let e = m.set_finalizer(big, |_, _| ()).unwrap_err();
        assert!(
            matches!(
                e,
                SpecialError::NotAHeapObject { .. } | SpecialError::FreedObject { .. }
            ),
            "{mode} poison={poison}: {e:?}"
        );
    }
}

/// `Heap::wait_for_finalizers` is for unattached threads.
#[test]
fn heap_wait_for_finalizers_refuses_an_attached_thread() {
    let heap = heap(BarrierMode::Hybrid);
    let _m = heap.attach().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| heap.wait_for_finalizers()));
    let p = r.expect_err("must panic");
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("use Mutator::wait_for_finalizers"), "{msg}");
}

// ---- cleanups -------------------------------------------------------------------

/// Go: TestCleanup. The cleanup runs once, after its object is freed, with
/// its argument, which it kept alive (with what the argument reaches) until
/// then; after it ran the argument is garbage.
#[test]
fn a_cleanup_runs_once_after_its_object_is_freed_with_its_argument_kept() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let a = new_obj(&mut m, t, 10);
        let a_slot = m.push_root(Some(a));
        let b = new_obj(&mut m, t, 11);
        let a = m.root(a_slot).unwrap();
        // SAFETY: `a` rooted, `b` fresh.
        unsafe { link(&mut m, a, 0, Some(b)) };
        let x = m.root(x_slot).unwrap();
        let handle = m.add_cleanup(x, Some(a), cleanup(&log, "of 1")).unwrap();
        m.truncate_roots(a_slot); // the argument is held by the cleanup only

        for _ in 0..2 {
            let c = gc(&mut m);
            assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
            assert_eq!(
                c.objects_marked, 3,
                "{mode}: x, and the argument with its referent"
            );
        }
        m.set_root(x_slot, None);
        let c = gc(&mut m);
        assert_eq!(log.take(), ["cleanup of 1: 10 11"], "{mode}");
        assert_eq!(
            c.objects_marked, 2,
            "{mode}: x is freed, the argument still rooted"
        );
        let s = heap.stats().specials;
        assert_eq!(
            (s.cleanups_pending, s.cleanups_queued, s.cleanups_run),
            (0, 1, 1),
            "{mode}"
        );
        assert!(!handle.cancel(), "{mode}: too late, it ran");
        let c = gc(&mut m);
        assert_eq!(
            c.objects_marked, 0,
            "{mode}: the argument is released after the run"
        );
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(heap.stats().specials.cleanups_cancelled, 0, "{mode}");
    }
}

/// Go: TestCleanupMultiple, TestCleanupStop, TestCleanupStopMultiple,
/// TestCleanupStopAfterCleanupRuns. Several cleanups on one object all run,
/// except the cancelled one; `cancel` is true once, then false; a cancelled
/// cleanup no longer keeps its argument alive.
#[test]
fn several_cleanups_run_and_cancelled_ones_never_do() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let frame = m.root_count();
        let mut args = Vec::new();
        for id in [11, 12, 14] {
            let a = new_obj(&mut m, t, id);
            args.push(m.push_root(Some(a)));
        }
        let arg = |m: &Mutator, i: usize| m.root(args[i]);
        let x = m.root(x_slot).unwrap();
        let h1 = m.add_cleanup(x, arg(&m, 0), cleanup(&log, "1")).unwrap();
        let h2 = m.add_cleanup(x, arg(&m, 1), cleanup(&log, "2")).unwrap();
        let h3 = m.add_cleanup(x, None, cleanup(&log, "3")).unwrap();
        let h4 = m.add_cleanup(x, arg(&m, 2), cleanup(&log, "4")).unwrap();
        let h5 = m.add_cleanup(x, None, cleanup(&log, "5")).unwrap();
        m.truncate_roots(frame);
        assert!(h2.cancel(), "{mode}");
        assert!(!h2.cancel(), "{mode}: only once");
        assert!(h5.cancel(), "{mode}");
        let s = heap.stats().specials;
        assert_eq!((s.cleanups_pending, s.cleanups_cancelled), (3, 2), "{mode}");

        let c = gc(&mut m);
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(
            c.objects_marked, 3,
            "{mode}: x and the arguments of the live cleanups; 12 is no longer held"
        );

        m.set_root(x_slot, None);
        gc(&mut m);
        assert_eq!(
            log.take_sorted(),
            ["cleanup 1: 11", "cleanup 3: none", "cleanup 4: 14"],
            "{mode}"
        );
        for (i, h) in [&h1, &h2, &h3, &h4, &h5].into_iter().enumerate() {
            assert!(!h.cancel(), "{mode}: handle {} after the run", i + 1);
        }
        let s = heap.stats().specials;
        assert_eq!(
            (
                s.cleanups_pending,
                s.cleanups_queued,
                s.cleanups_run,
                s.cleanups_cancelled
            ),
            (0, 3, 3, 2),
            "{mode}"
        );
        let c = gc(&mut m);
        assert_eq!(c.objects_marked, 0, "{mode}");
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
    }
}

/// A cleanup already queued (its object freed) can no longer be
/// cancelled, and still runs. The finalizer thread is held up by another
/// object's finalizer meanwhile, so the cleanup waits in the queue.
#[test]
fn cancelling_a_queued_cleanup_is_too_late() {
    for mode in [BarrierMode::Off, BarrierMode::Hybrid] {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let (gate, gate_rx) = channel::<()>();
        let (started, started_rx) = channel::<()>();
        let g = new_obj(&mut m, t, 100);
        m.set_finalizer(g, move |m, _| {
            started.send(()).unwrap();
            m.native(|| gate_rx.recv().expect("gate"));
        })
        .unwrap();
        m.collect();
        // Sweep (queuing G's finalizer) from a thread that then waits until
        // the queue is idle, at the end of the test.
        let waiter = {
            let heap = heap.clone();
            thread::spawn(move || heap.wait_for_finalizers())
        };
        let r = m.native(|| started_rx.recv_timeout(PATIENCE));
        assert_eq!(r, Ok(()), "{mode}: G's finalizer runs and holds the thread");

        let x = new_obj(&mut m, t, 1);
        let handle = m.add_cleanup(x, None, cleanup(&log, "of 1")).unwrap();
        m.collect(); // X is freed by this cycle's sweep...
        m.collect(); // ...finished at the start of this one: queued
        let s = heap.stats().specials;
        assert_eq!((s.cleanups_queued, s.cleanups_run), (1, 0), "{mode}");
        assert!(!handle.cancel(), "{mode}: queued, too late to cancel");
        gate.send(()).unwrap();
        m.wait_for_finalizers();
        m.native(|| waiter.join().unwrap());
        assert_eq!(log.take(), ["cleanup of 1: none"], "{mode}");
        let s = heap.stats().specials;
        assert_eq!(
            (s.cleanups_run, s.cleanups_cancelled, s.finalizers_run),
            (1, 0, 1),
            "{mode}"
        );
    }
}

/// Go: TestCleanupAfterFinalizer. An object with a finalizer and a cleanup:
/// the finalizer runs when the object is found unreachable, the cleanup when
/// it is freed, one cycle later.
#[test]
fn a_cleanup_runs_after_the_finalizer_of_its_object() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        m.add_cleanup(x, None, cleanup(&log, "of 1")).unwrap();
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();
        gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1"], "{mode}");
        gc(&mut m);
        assert_eq!(log.take(), ["cleanup of 1: none"], "{mode}");
    }
}

/// Unlike finalizers, cleanups never keep a cycle alive: A <-> B and a
/// self-loop, each with cleanups, are freed in one cycle.
#[test]
fn cleanups_do_not_keep_cycles_alive() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let a = new_obj(&mut m, t, 1);
        let a_slot = m.push_root(Some(a));
        let b = new_obj(&mut m, t, 2);
        let a = m.root(a_slot).unwrap();
        // SAFETY: `a` rooted, `b` fresh.
        unsafe {
            link(&mut m, a, 0, Some(b));
            link(&mut m, b, 0, Some(a));
        }
        m.add_cleanup(a, None, cleanup(&log, "of 1")).unwrap();
        m.add_cleanup(b, None, cleanup(&log, "of 2")).unwrap();
        let s = new_obj(&mut m, t, 3);
        // SAFETY: `s` fresh.
        unsafe { link(&mut m, s, 0, Some(s)) };
        m.add_cleanup(s, None, cleanup(&log, "of 3")).unwrap();
        m.set_root(a_slot, None);

        let c = gc(&mut m);
        assert_eq!(
            log.take_sorted(),
            [
                "cleanup of 1: none",
                "cleanup of 2: none",
                "cleanup of 3: none"
            ],
            "{mode}"
        );
        assert_eq!((c.objects_marked, c.finalizer_cycles), (0, 0), "{mode}");
    }
}

/// The documented leak: a cleanup whose argument reaches its object keeps
/// the object alive. Cancelling it ends the leak.
#[test]
fn a_cleanup_whose_argument_reaches_its_object_leaks_until_cancelled() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let a = new_obj(&mut m, t, 10);
        let x = m.root(x_slot).unwrap();
        // SAFETY: `x` rooted, `a` fresh.
        unsafe { link(&mut m, a, 0, Some(x)) };
        let leaky = m.add_cleanup(x, Some(a), cleanup(&log, "leaky")).unwrap();
        m.add_cleanup(x, None, cleanup(&log, "witness")).unwrap();
        m.set_root(x_slot, None);
        for _ in 0..3 {
            let c = gc(&mut m);
            assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
            assert_eq!(c.objects_marked, 2, "{mode}: a keeps x");
        }
        assert!(leaky.cancel(), "{mode}");
        let c = gc(&mut m);
        assert_eq!(log.take(), ["cleanup witness: none"], "{mode}");
        assert_eq!(c.objects_marked, 0, "{mode}");
    }
}

// ---- odd objects, keep_alive, dropping the heap -----------------------------------

/// A large object (a span of its own) and an empty one (a header only) are
/// finalized, and their cleanups run, like any other.
#[test]
fn large_and_empty_objects_are_finalized() {
    const WORDS: usize = 8192; // 64 KiB: a large object
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let big = m.alloc(t.blob, WORDS * 8);
        // SAFETY: `big` is fresh; words 0 and WORDS - 1 are in range.
        unsafe {
            m.store_word(big, 0, canary(1));
            m.store_word(big, WORDS - 1, canary(2));
        }
        let big_slot = m.push_root(Some(big));
        let inner = ObjRef::from_addr(big.addr() + 4096).unwrap();
        assert_eq!(
            m.set_finalizer(inner, |_, _| ()).unwrap_err(),
            SpecialError::InteriorPointer {
                addr: inner.addr(),
                base: big.addr(),
                what: "set_finalizer"
            }
        );
        let l = log.clone();
        m.set_finalizer(big, move |m, o| {
            // SAFETY: the finalizer's object is rooted while it runs.
            let ends = unsafe { (m.load_word(o, 0), m.load_word(o, WORDS - 1)) };
            l.push(format!("fin big: {}", ends == (canary(1), canary(2))));
        })
        .unwrap();
        m.add_cleanup(big, None, cleanup(&log, "of big")).unwrap();
        let empty = m.alloc(t.blob, 0);
        let l = log.clone();
        m.set_finalizer(empty, move |_, _| l.push("fin empty".into()))
            .unwrap();
        m.add_cleanup(empty, None, cleanup(&log, "of empty"))
            .unwrap();

        let c = gc(&mut m);
        assert_eq!(log.take(), ["fin empty"], "{mode}");
        assert_eq!(c.objects_marked, 1, "{mode}: the rooted large object");
        m.set_root(big_slot, None);
        gc(&mut m);
        assert_eq!(
            log.take_sorted(),
            ["cleanup of empty: none", "fin big: true"],
            "{mode}"
        );
        let c = gc(&mut m);
        assert_eq!(log.take(), ["cleanup of big: none"], "{mode}");
        assert_eq!(c.objects_marked, 0, "{mode}");
    }
}

/// Go: TestDeferKeepAlive. Inside `keep_alive` the object is rooted, so a
/// collection there does not finalize it; after, one does.
#[test]
fn keep_alive_holds_off_the_finalizer() {
    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();
        let roots = m.root_count();
        m.keep_alive(x, |m| {
            gc(m);
            gc(m);
        });
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        assert_eq!(m.root_count(), roots, "{mode}: the frame is popped");
        gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1"], "{mode}");
    }
}

/// No promise to run if the heap goes first: the closures of finalizers and
/// cleanups that never ran are dropped with the heap (nothing they own
/// leaks), and a cleanup handle outliving its heap cancels nothing.
#[test]
fn finalizers_that_never_ran_are_dropped_with_the_heap() {
    let token = Arc::new(());
    let handle;
    {
        let heap = heap(BarrierMode::Hybrid);
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let x = new_obj(&mut m, t, 1);
        m.push_root(Some(x));
        let held = token.clone();
        m.set_finalizer(x, move |_, _| drop(held)).unwrap();
        let held = token.clone();
        handle = m.add_cleanup(x, None, move |_, _| drop(held)).unwrap();
        gc(&mut m);
        assert_eq!(Arc::strong_count(&token), 3);
    }
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the closures were dropped with the heap"
    );
    assert!(!handle.cancel());
}

/// The background sweeper sweeps each cycle's garbage without help, so a
/// finalizer runs after a collection even if no one calls
/// `wait_for_finalizers` or allocates. Two busy threads make the sweeper
/// thread lose the processor now and then at the wrong moment.
///
/// The cycles are run by `collect_without_sweeping` (`collect` would sweep
/// on this thread), and the mutator then neither allocates nor collects
/// until the finalizer has run, so only the background sweeper can have
/// queued it. A sweeper that missed its wake-up never sweeps; `PATIENCE`
/// only turns that hang into a failure.
#[test]
fn the_background_sweeper_sweeps_after_every_cycle() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for i in 0..200 {
        let heap = Heap::new(tricolor_collector::Config {
            manual_cycles: true,
            ..tricolor_collector::Config::default()
        });
        let t = types(&heap);
        let mut m = heap.attach().unwrap();
        let x = new_obj(&mut m, t, 1);
        m.set_finalizer(x, |_, _| ()).unwrap();
        m.collect_without_sweeping();
        let start = std::time::Instant::now();
        while heap.stats().specials.finalizers_run == 0 {
            if start.elapsed() > PATIENCE {
                stop.store(true, SeqCst);
                panic!("heap {i}: its first cycle was never swept");
            }
            m.native(|| thread::sleep(Duration::from_micros(200)));
        }
    }
    stop.store(true, SeqCst);
    busy.into_iter().for_each(|b| b.join().unwrap());
}

// ---- several mutators ---------------------------------------------------------------

/// Go: the finalizer stress tests. Four mutators allocate finalizable
/// objects and keep a fifth of them, while another thread collects in a
/// loop: finalizers are set while marking runs. Some dropped objects reach
/// another dropped one (a chain of two). In the end every dropped object is
/// finalized exactly once, seeing its own data, and no kept one is, until
/// they are dropped too.
#[test]
fn four_mutators_finalize_exactly_the_objects_they_drop() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 1024;
    const TOTAL: u64 = THREADS * PER_THREAD;
    const CELL: u64 = 1 << 40;
    const BALLAST: u64 = 4_000;

    struct Seen {
        ran: Vec<AtomicU64>,
        twice: AtomicU64,
        bad: AtomicU64,
    }
    impl Seen {
        fn ran(&self, id: u64) -> bool {
            self.ran[(id / 64) as usize].load(SeqCst) & (1 << (id % 64)) != 0
        }
    }

    for mode in ALL_MODES {
        let heap = heap(mode);
        let t = types(&heap);
        let seen = Arc::new(Seen {
            ran: (0..TOTAL.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            twice: AtomicU64::new(0),
            bad: AtomicU64::new(0),
        });
        // Ballast: a live list that makes every mark take a while, so that
        // most of the mutators' work overlaps a mark.
        let ballast = {
            let mut m = heap.attach().unwrap();
            let head = m.push_root(None);
            for _ in 0..BALLAST {
                let cell = new_obj(&mut m, t, CELL);
                let rest = m.root(head);
                // SAFETY: `cell` fresh, `rest` rooted.
                unsafe { link(&mut m, cell, 1, rest) };
                m.set_root(head, Some(cell));
            }
            heap.add_global(m.root(head))
        };
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Collections the other thread has finished.
        let collected = Arc::new(AtomicU64::new(0));
        let collector = {
            let (heap, stop, collected) = (heap.clone(), stop.clone(), collected.clone());
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    heap.collect();
                    collected.fetch_add(1, SeqCst);
                    thread::yield_now();
                }
            })
        };
        let workers: Vec<JoinHandle<(Vec<u64>, GlobalRoot)>> = (0..THREADS)
            .map(|w| {
                let (heap, seen, collected) = (heap.clone(), seen.clone(), collected.clone());
                thread::spawn(move || {
                    let mut rng = Rng::new(0xF1_4A1 + w);
                    let mut m = heap.attach().unwrap();
                    let kept_head = m.push_root(None);
                    let pending = m.push_root(None);
                    let mut kept = Vec::new();
                    for i in 0..PER_THREAD {
                        let id = w * PER_THREAD + i;
                        let o = new_obj(&mut m, t, id);
                        let s = seen.clone();
                        m.set_finalizer(o, move |m, o| {
                            // SAFETY: the finalizer's object is rooted while it runs.
                            let ok = unsafe {
                                m.load_word(o, 2) == id && m.load_word(o, 3) == canary(id)
                            };
                            if !ok {
                                s.bad.fetch_add(1, SeqCst);
                            }
                            let bit = 1 << (id % 64);
                            if s.ran[(id / 64) as usize].fetch_or(bit, SeqCst) & bit != 0 {
                                s.twice.fetch_add(1, SeqCst);
                            }
                        })
                        .unwrap();
                        match rng.below(10) {
                            0 | 1 => {
                                // Kept on a list of plain cells (a list
                                // of finalizable objects would be a chain,
                                // finalized one link per cycle).
                                let o_slot = m.push_root(Some(o));
                                let cell = new_obj(&mut m, t, CELL);
                                let rest = m.root(kept_head);
                                let o = m.root(o_slot);
                                // SAFETY: `cell` fresh, `rest` and `o` rooted.
                                unsafe {
                                    link(&mut m, cell, 0, o);
                                    link(&mut m, cell, 1, rest);
                                }
                                m.set_root(kept_head, Some(cell));
                                m.truncate_roots(o_slot);
                                kept.push(id);
                            }
                            2..=4 => {
                                // A chain of two dropped objects: the one
                                // waiting in `pending` reaches this one.
                                match m.root(pending) {
                                    Some(p) => {
                                        // SAFETY: `p` rooted, `o` fresh.
                                        unsafe { link(&mut m, p, 0, Some(o)) };
                                        m.set_root(pending, None);
                                    }
                                    None => m.set_root(pending, Some(o)),
                                }
                            }
                            _ => {
                                // Dropped; it reaches the kept list.
                                let k = m.root(kept_head);
                                // SAFETY: `o` fresh, `k` rooted.
                                unsafe { link(&mut m, o, 1, k) };
                            }
                        }
                        match i % 64 {
                            31 => m.collect(),
                            63 => m.wait_for_finalizers(),
                            _ => {}
                        }
                    }
                    m.set_root(pending, None);
                    // However the threads were scheduled, at least one
                    // collection of the other thread ends while this
                    // mutator is attached (it waits in native state).
                    m.native(|| {
                        while collected.load(SeqCst) == 0 {
                            thread::sleep(Duration::from_micros(200));
                        }
                    });
                    (kept, heap.add_global(m.root(kept_head)))
                })
            })
            .collect();
        let results: Vec<(Vec<u64>, GlobalRoot)> =
            workers.into_iter().map(|h| h.join().unwrap()).collect();
        stop.store(true, SeqCst);
        collector.join().unwrap();

        let kept: std::collections::HashSet<u64> = results
            .iter()
            .flat_map(|(k, _)| k.iter().copied())
            .collect();
        let n_kept = kept.len() as u64;
        assert!(n_kept > TOTAL / 10, "{mode}: the seed keeps a fair share");
        // Chains of two and floating garbage take a few cycles to drain.
        let settle = |want_pending: u64| {
            for _ in 0..8 {
                heap.collect();
                heap.wait_for_finalizers();
                if heap.stats().specials.finalizers_pending == want_pending {
                    break;
                }
            }
        };
        settle(n_kept);
        let s = heap.stats().specials;
        assert_eq!(s.finalizers_pending, n_kept, "{mode}");
        assert_eq!(s.finalizers_run, TOTAL - n_kept, "{mode}");
        assert_eq!(s.finalizers_queued, TOTAL - n_kept, "{mode}");
        for id in 0..TOTAL {
            assert_eq!(seen.ran(id), !kept.contains(&id), "{mode}: object {id}");
        }
        assert_eq!(seen.twice.load(SeqCst), 0, "{mode}");
        assert_eq!(seen.bad.load(SeqCst), 0, "{mode}");

        // The kept lists are intact.
        {
            let m = heap.attach().unwrap();
            for (ids, g) in &results {
                let mut cur = g.get();
                for &id in ids.iter().rev() {
                    let cell = cur.expect("kept list too short");
                    // SAFETY: the cells and what they hold are reachable
                    // from the global `g`.
                    unsafe {
                        assert_eq!(m.load_word(cell, 2), CELL, "{mode}");
                        let o = m.load(cell, 0).unwrap();
                        assert_eq!(m.load_word(o, 2), id, "{mode}");
                        assert_eq!(m.load_word(o, 3), canary(id), "{mode}");
                        cur = m.load(cell, 1);
                    }
                }
                assert!(cur.is_none(), "{mode}");
            }
        }
        drop((results, ballast));
        settle(0);
        let s = heap.stats().specials;
        assert_eq!(
            (s.finalizers_pending, s.finalizers_run, s.finalizer_panics),
            (0, TOTAL, 0),
            "{mode}"
        );
        assert!((0..TOTAL).all(|id| seen.ran(id)), "{mode}");
        assert_eq!(seen.twice.load(SeqCst), 0, "{mode}");
        assert_eq!(seen.bad.load(SeqCst), 0, "{mode}");
    }
}

// ---- stepped interleavings ---------------------------------------------------------------

/// `set_finalizer` while marking, on an object the mutator then unlinks
/// from the heap. Before the finalizer stage (`after_stage: false`) the
/// stage finds the object; after it (`true`), only `set_finalizer`'s own
/// shading keeps the referent for the finalizer: the mutator holds the
/// object in a stack slot loaded after its stack was scanned, which
/// incremental update rescans at mark termination, by then empty.
///
/// SATB and hybrid record the unlinked pointer (deletion barrier), so the
/// object floats to the next cycle; incremental update records nothing, so
/// the object is finalized after this one. Either way exactly once.
fn set_finalizer_while_marking(mode: BarrierMode, after_stage: bool) {
    let what = format!("{mode} after_stage={after_stage}");
    let heap = manual_heap(mode);
    let t = types(&heap);
    // Made before the mutator, so dropped after it: a failing test
    // detaches first, and the stepper can finish its cycle.
    let gc_steps = Collector::new(&heap);
    let mut m = heap.attach().unwrap();
    let log = Log::default();

    // H (rooted) -> X -> Y.
    let h = new_obj(&mut m, t, 10);
    let h_slot = m.push_root(Some(h));
    let x = new_obj(&mut m, t, 1);
    let h = m.root(h_slot).unwrap();
    // SAFETY: `h` rooted, `x` fresh.
    unsafe { link(&mut m, h, 0, Some(x)) };
    let y = new_obj(&mut m, t, 2);
    // SAFETY: `x` reachable from `h`, `y` fresh.
    unsafe { link(&mut m, x, 0, Some(y)) };

    gc_steps.count(&mut m, Step::Begin);
    gc_steps.count(&mut m, Step::ScanStacks);
    // Move X from H onto the (scanned) stack.
    let h = m.root(h_slot).unwrap();
    // SAFETY: `h` rooted; `x` reachable from it until the store, and on the
    // stack after the push.
    let x_slot = unsafe {
        let x = m.load(h, 0).unwrap();
        let slot = m.push_root(Some(x));
        link(&mut m, h, 0, None);
        slot
    };
    if after_stage {
        gc_steps.count(&mut m, Step::MarkAll);
        assert_eq!(gc_steps.stage(&mut m), 0, "{what}: no finalizer yet");
    }
    let x = m.root(x_slot).unwrap();
    m.set_finalizer(x, fin(&log, 1, x)).unwrap();
    m.truncate_roots(x_slot);
    gc_steps.count(&mut m, Step::MarkAll);
    assert_eq!(
        gc_steps.stage(&mut m),
        0,
        "{what}: ran once per cycle, no loop"
    );
    let c = gc_steps.finish(&mut m);
    assert_eq!(c.finalizer_cycles, 0, "{what}");
    m.wait_for_finalizers();
    if mode == BarrierMode::IncrementalUpdate {
        assert_eq!(c.objects_marked, 2, "{what}: H, and Y kept for X");
        assert_eq!(log.take(), ["fin 1: 1 2"], "{what}");
    } else {
        assert_eq!(c.objects_marked, 3, "{what}: X floats to the next cycle");
        assert_eq!(log.take(), Vec::<String>::new(), "{what}");
        gc(&mut m);
        assert_eq!(log.take(), ["fin 1: 1 2"], "{what}");
    }
    let c = gc(&mut m);
    assert_eq!(log.take(), Vec::<String>::new(), "{what}");
    assert_eq!(c.objects_marked, 1, "{what}: H alone");
    assert_eq!(heap.stats().specials.finalizers_run, 1, "{what}");
}

#[test]
fn set_finalizer_while_marking_before_the_finalizer_stage() {
    for mode in CONCURRENT_MODES {
        set_finalizer_while_marking(mode, false);
    }
}

#[test]
fn set_finalizer_while_marking_after_the_finalizer_stage() {
    for mode in CONCURRENT_MODES {
        set_finalizer_while_marking(mode, true);
    }
}

/// `set_finalizer` after the finalizer stage, on an object that only an
/// unscanned stack holds, which the mutator then drops before its stack is
/// scanned: nothing but `set_finalizer`'s shading keeps the referent Y for
/// the finalizer (checkmark at mark termination re-traces from the
/// referents of unmarked finalizable objects, and fails if Y is unmarked).
/// SATB scanned the stack at sweep termination, so there X survives one
/// more cycle.
#[test]
fn set_finalizer_after_the_stage_on_an_object_of_an_unscanned_stack() {
    for mode in CONCURRENT_MODES {
        let heap = manual_heap(mode);
        let t = types(&heap);
        // Made before the mutator, so dropped after it: a failing test
        // detaches first, and the stepper can finish its cycle.
        let gc_steps = Collector::new(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let y = new_obj(&mut m, t, 2);
        let x = m.root(x_slot).unwrap();
        // SAFETY: `x` rooted, `y` fresh.
        unsafe { link(&mut m, x, 0, Some(y)) };

        gc_steps.count(&mut m, Step::Begin);
        gc_steps.count(&mut m, Step::ScanGlobals);
        gc_steps.count(&mut m, Step::MarkAll);
        assert_eq!(gc_steps.stage(&mut m), 0, "{mode}");
        let x = m.root(x_slot).unwrap();
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();
        m.set_root(x_slot, None);
        gc_steps.count(&mut m, Step::ScanStacks);
        gc_steps.count(&mut m, Step::MarkAll);
        let c = gc_steps.finish(&mut m);
        m.wait_for_finalizers();
        if mode == BarrierMode::Satb {
            assert_eq!(c.objects_marked, 2, "{mode}: the snapshot holds X");
            assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
            gc(&mut m);
        } else {
            assert_eq!(c.objects_marked, 1, "{mode}: Y alone, kept for X");
        }
        assert_eq!(log.take(), ["fin 1: 1 2"], "{mode}");
        let c = gc(&mut m);
        assert_eq!(c.objects_marked, 0, "{mode}");
        assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
    }
}

/// A queued job waits through a whole cycle (the queue is a root), then
/// the finalizer thread pops it while a mark runs, after its own stack was
/// scanned (black in SATB and hybrid) and before the finalizer queue (a
/// root scanned with the globals) was: the pop must shade the object, or
/// the object the running finalizer holds is freed under it. The finalizer
/// holds its object, blocked, through the rest of that cycle and the next;
/// checkmark (at the stepped mark termination) and poisoning would catch a
/// lost object, and the finalizer re-reads it at the end.
#[test]
fn a_finalizer_thread_pop_while_marking_keeps_the_object() {
    for mode in CONCURRENT_MODES {
        let heap = manual_heap(mode);
        let t = types(&heap);
        // Made before the mutator, so dropped after it: a failing test
        // detaches first, and the stepper can finish its cycle.
        let gc_steps = Collector::new(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();

        // G's finalizer occupies the finalizer thread until `gate` opens.
        let (gate, gate_rx) = channel::<()>();
        let (started, started_rx) = channel::<&'static str>();
        let g = new_obj(&mut m, t, 100);
        let s = started.clone();
        m.set_finalizer(g, move |m, _| {
            s.send("G").unwrap();
            m.native(|| gate_rx.recv().expect("gate G"));
        })
        .unwrap();
        m.collect();
        // Sweep that cycle (queuing G) from a thread that then waits until
        // the queue is idle, at the end of the test.
        let waiter = {
            let heap = heap.clone();
            thread::spawn(move || heap.wait_for_finalizers())
        };
        let who = m.native(|| started_rx.recv_timeout(PATIENCE));
        assert_eq!(who, Ok("G"), "{mode}");

        // X -> Y, unreachable: queued behind G by the next cycle's sweep.
        let (gate_x, gate_x_rx) = channel::<()>();
        let x = new_obj(&mut m, t, 1);
        let x_slot = m.push_root(Some(x));
        let y = new_obj(&mut m, t, 2);
        let x = m.root(x_slot).unwrap();
        // SAFETY: `x` rooted, `y` fresh.
        unsafe { link(&mut m, x, 0, Some(y)) };
        let l = log.clone();
        m.set_finalizer(x, move |m, o| {
            // SAFETY: the finalizer's object is rooted while it runs.
            let before = unsafe { describe(m, o) };
            started.send("X").unwrap();
            m.native(|| gate_x_rx.recv().expect("gate X"));
            // SAFETY: as above: still rooted, two cycles later.
            let after = unsafe { describe(m, o) };
            l.push(format!("fin 1: {before} / {after}"));
        })
        .unwrap();
        m.truncate_roots(x_slot);
        m.collect();
        // A whole cycle with X waiting in the queue (its sweep queued X):
        // the queue is a root, and G is rooted by the running finalizer.
        m.collect();
        let c = heap.stats().last_cycle.unwrap();
        assert_eq!(c.objects_marked, 3, "{mode}: G, X (queued) and Y");

        gc_steps.count(&mut m, Step::Begin);
        gc_steps.count(&mut m, Step::ScanStacks); // the finalizer thread's too
        gate.send(()).unwrap(); // G returns; the thread pops X, marking
        let who = m.native(|| started_rx.recv_timeout(PATIENCE));
        assert_eq!(who, Ok("X"), "{mode}");
        gc_steps.count(&mut m, Step::ScanGlobals); // the queue is empty now
        gc_steps.count(&mut m, Step::MarkAll);
        assert_eq!(gc_steps.stage(&mut m), 0, "{mode}");
        let c = gc_steps.finish(&mut m);
        assert_eq!(
            c.objects_marked, 3,
            "{mode}: G (scanned on the stack), X (popped) and Y"
        );
        m.collect(); // sweeps the stepped cycle, then a cycle with X rooted
        gate_x.send(()).unwrap();
        m.wait_for_finalizers();
        m.native(|| waiter.join().unwrap());
        assert_eq!(log.take(), ["fin 1: 1 2 / 1 2"], "{mode}");
        let c = gc(&mut m);
        assert_eq!(c.objects_marked, 0, "{mode}: G, X and Y freed");
        let s = heap.stats().specials;
        assert_eq!((s.finalizers_run, s.finalizers_pending), (2, 0), "{mode}");
    }
}

/// The stepper's finalizer stage runs once per cycle and reports a
/// self-loop; mark termination adds it to the cycle's stats.
#[test]
fn the_stepped_finalizer_stage_counts_a_loop_once_per_cycle() {
    for mode in CONCURRENT_MODES {
        let heap = manual_heap(mode);
        let t = types(&heap);
        // Made before the mutator, so dropped after it: a failing test
        // detaches first, and the stepper can finish its cycle.
        let gc_steps = Collector::new(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let s = new_obj(&mut m, t, 1);
        // SAFETY: `s` is fresh.
        unsafe { link(&mut m, s, 0, Some(s)) };
        m.set_finalizer(s, fin(&log, 1, s)).unwrap();
        for round in 0..2 {
            gc_steps.count(&mut m, Step::Begin);
            gc_steps.count(&mut m, Step::ScanStacks);
            gc_steps.count(&mut m, Step::ScanGlobals);
            gc_steps.count(&mut m, Step::MarkAll);
            assert_eq!(gc_steps.stage(&mut m), 1, "{mode} round {round}");
            assert_eq!(gc_steps.stage(&mut m), 0, "{mode}: once per cycle");
            let c = gc_steps.finish(&mut m);
            assert_eq!(
                (c.finalizer_cycles, c.objects_marked),
                (1, 1),
                "{mode} round {round}"
            );
            m.wait_for_finalizers();
            assert_eq!(log.take(), Vec::<String>::new(), "{mode}");
        }
        assert_eq!(heap.stats().specials.finalizer_cycles, 2, "{mode}");
    }
}

/// A finalizable object reachable from a root is not in a cycle of
/// finalizable objects, whenever the stage runs: here before the grey set
/// was drained (the stage traces from each candidate's referents alone, so
/// grey work left by the roots cannot make a candidate look self-reaching).
#[test]
fn the_finalizer_stage_before_draining_counts_no_cycle() {
    for mode in CONCURRENT_MODES {
        let heap = manual_heap(mode);
        let t = types(&heap);
        // Made before the mutator, so dropped after it: a failing test
        // detaches first, and the stepper can finish its cycle.
        let gc_steps = Collector::new(&heap);
        let mut m = heap.attach().unwrap();
        let log = Log::default();
        let h = new_obj(&mut m, t, 10);
        let h_slot = m.push_root(Some(h));
        let x = new_obj(&mut m, t, 1);
        let h = m.root(h_slot).unwrap();
        // SAFETY: `h` rooted, `x` fresh.
        unsafe { link(&mut m, h, 0, Some(x)) };
        m.set_finalizer(x, fin(&log, 1, x)).unwrap();
        gc_steps.count(&mut m, Step::Begin);
        gc_steps.count(&mut m, Step::ScanStacks);
        assert_eq!(
            gc_steps.stage(&mut m),
            0,
            "{mode}: X is reachable, not a loop"
        );
        let c = gc_steps.finish(&mut m);
        assert_eq!((c.finalizer_cycles, c.objects_marked), (0, 2), "{mode}");
    }
}

/// A finalizer that waits for finalizers would wait for itself: the call
/// panics, the panic is caught and counted as the finalizer's, and the
/// finalizer thread goes on serving.
#[test]
fn waiting_for_finalizers_inside_a_finalizer_panics_instead_of_hanging() {
    let heap = heap(BarrierMode::Hybrid);
    let t = types(&heap);
    let mut m = heap.attach().unwrap();
    let log = Log::default();
    let o = new_obj(&mut m, t, 1);
    m.set_finalizer(o, |m, _| m.wait_for_finalizers()).unwrap();
    let o = new_obj(&mut m, t, 2);
    m.set_finalizer(o, fin(&log, 2, o)).unwrap();
    gc(&mut m);
    let s = heap.stats().specials;
    assert_eq!((s.finalizers_run, s.finalizer_panics), (2, 1));
    assert_eq!(log.take(), ["fin 2: 2"]);
}
