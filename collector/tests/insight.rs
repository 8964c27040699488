//! Seeing inside the heap: the cycle-event callback (counted and ordered,
//! never inside a pause), GOGC and the memory limit changed on a live heap
//! (the goal moves, a cycle starts), the near-limit callback (once per
//! crossing), per-type live counts (equal to a known heap's contents in
//! every barrier mode), and the gctrace line's fields.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{alloc, checked_config, link, Kind, Types, ALL_MODES};
use tricolor_collector::policy::PacerConfig;
use tricolor_collector::{
    BarrierMode, Config, CycleEvent, CycleStats, Heap, Mutator, NearLimit, ObjRef, TypeDescriptor,
    TypeId,
};

/// How long a test waits for something the collector does on its own
/// before it fails (generous: the machines are shared and slow).
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits, polling, until `done` holds; panics with `what` after
/// [`PATIENCE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < PATIENCE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---- cycle events --------------------------------------------------------------

/// One delivered event: its kind, cycle, time and the delivering thread.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    kind: &'static str,
    cycle: u64,
    at: Duration,
    thread: String,
    /// Another thread could attach a mutator and read the statistics
    /// while the callback ran: no pause, no stats lock held.
    world_ran: bool,
}

/// The events a [`recorder`] saw.
type Log = Arc<Mutex<Vec<Seen>>>;
/// The slot through which a callback reaches its heap; emptied at the end.
type HeapSlot = Arc<Mutex<Option<Heap>>>;

/// Whether another thread can attach a mutator of `heap` and take its
/// statistics within a few seconds. Attaching waits while the world is
/// stopped, and `stats` takes the stats lock, so a callback that ran
/// inside a pause, or holding that lock, sees `false` (and lets the pause
/// go on once it gives up).
fn world_runs(heap: &Heap) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = heap.clone();
    thread::spawn(move || {
        drop(h.attach().expect("a new thread has no mutator"));
        let _ = h.stats();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10)).is_ok()
}

/// A callback that records every event, and checks on each that it runs
/// outside any pause ([`world_runs`]).
fn recorder(heap: &Heap) -> (Log, HeapSlot) {
    let log = Arc::new(Mutex::new(Vec::new()));
    // The callback holds the heap through this slot, which the test
    // empties at the end (a strong handle in the heap's own callback
    // would keep it alive forever).
    let slot = Arc::new(Mutex::new(Some(heap.clone())));
    let (l, s) = (log.clone(), slot.clone());
    heap.on_cycle_event(move |e| {
        let (kind, at) = match *e {
            CycleEvent::MarkStart { at, .. } => ("mark start", at),
            CycleEvent::MarkTermination { at, .. } => ("mark termination", at),
            CycleEvent::End(stats) => ("end", stats.start),
            CycleEvent::SweepDone { at, .. } => ("sweep done", at),
            _ => ("other", Duration::ZERO),
        };
        let h = s.lock().unwrap().clone();
        if let (CycleEvent::End(stats), Some(h)) = (e, &h) {
            assert!(h.stats().cycles >= stats.number, "recorded before told");
        }
        let world_ran = h.as_ref().is_none_or(world_runs);
        l.lock().unwrap().push(Seen {
            kind,
            cycle: e.cycle(),
            at,
            thread: thread::current().name().unwrap_or("?").to_string(),
            world_ran,
        });
    });
    (log, slot)
}

/// The events of cycles `1..=n`, in the order they must arrive.
fn expected_kinds(n: u64) -> Vec<(&'static str, u64)> {
    (1..=n)
        .flat_map(|c| {
            ["mark start", "mark termination", "end", "sweep done"]
                .into_iter()
                .map(move |k| (k, c))
        })
        .collect()
}

/// Events are delivered four per cycle, in order (a cycle's sweep done
/// before the next cycle's mark start), by the threads the docs name,
/// outside every pause; in every barrier mode, with a mutator churning and
/// the pacer starting cycles of its own between the forced ones.
#[test]
fn cycle_events_are_counted_and_ordered() {
    for mode in ALL_MODES {
        let heap = Heap::new(Config {
            barrier: mode,
            mark_workers: 2,
            pacer: PacerConfig::concurrent().with_min_heap(1 << 20),
            ..Config::default()
        });
        let t = Types::register(&heap);
        let (log, slot) = recorder(&heap);
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (heap, stop) = (heap.clone(), stop.clone());
            thread::spawn(move || {
                let mut m = heap.attach().unwrap();
                let keep = m.push_root(None);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let o = alloc(&mut m, &t, Kind::Pairs(8), i);
                    if i.is_multiple_of(16) {
                        m.set_root(keep, Some(o));
                    }
                    i += 1;
                }
            })
        };
        for _ in 0..3 {
            heap.collect();
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        // With nothing allocating, `collect` returns after every event of
        // its cycle.
        for _ in 0..2 {
            heap.collect();
            let n = heap.stats().last_cycle.unwrap().number;
            let l = log.lock().unwrap();
            let last: Vec<_> = l[l.len() - 4..].iter().map(|s| (s.kind, s.cycle)).collect();
            assert_eq!(last, expected_kinds(n)[4 * (n as usize - 1)..], "{mode}");
        }
        let cycles = heap.stats().cycles;
        let seen = log.lock().unwrap().clone();
        let kinds: Vec<_> = seen.iter().map(|s| (s.kind, s.cycle)).collect();
        assert_eq!(
            kinds,
            expected_kinds(cycles),
            "{mode}: every event, in order"
        );
        for w in seen.windows(2) {
            if w[0].kind != "end" && w[1].kind != "end" {
                assert!(w[0].at <= w[1].at, "{mode}: times in order: {w:?}");
            }
        }
        for s in &seen {
            assert!(s.world_ran, "{mode}: delivered inside a pause: {s:?}");
            match s.kind {
                // The thread that ran the cycle (no stepper here).
                "mark start" | "mark termination" | "end" => {
                    assert_eq!(s.thread, "tricolor-gc", "{mode}: {s:?}")
                }
                // Whoever saw the sweep finish: the sweeper, the next
                // cycle's thread, or the thread returning from `collect`.
                _ => assert!(
                    [
                        "tricolor-sweep",
                        "tricolor-gc",
                        "cycle_events_are_counted_and_ordered"
                    ]
                    .contains(&s.thread.as_str()),
                    "{mode}: {s:?}"
                ),
            }
        }
        assert!(cycles >= 5, "{mode}");
        slot.lock().unwrap().take();
    }
}

/// A cycle stepped by a `CycleStepper` tells the same events, from the
/// stepping thread, and counts as forced.
#[test]
fn stepped_cycles_tell_their_events() {
    let heap = Heap::new(Config {
        manual_cycles: true,
        ..checked_config()
    });
    let (log, slot) = recorder(&heap);
    let h = heap.clone();
    let stats = thread::Builder::new()
        .name("stepper".into())
        .spawn(move || {
            let mut c = h.begin_cycle();
            c.scan_stacks();
            while c.mark(100) > 0 {}
            c.finish()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(stats.forced);
    heap.collect();
    let seen = log.lock().unwrap().clone();
    let kinds: Vec<_> = seen.iter().map(|s| (s.kind, s.cycle)).collect();
    assert_eq!(kinds, expected_kinds(2));
    for s in &seen[..3] {
        assert_eq!(s.thread, "stepper", "{s:?}");
    }
    assert!(seen.iter().all(|s| s.world_ran), "{seen:?}");
    slot.lock().unwrap().take();
}

/// A callback that panics is caught; the heap goes on, and so do the
/// events. A callback that tries to collect is refused (it would wait for
/// itself), with a panic the callback can catch.
#[test]
fn callbacks_that_panic_or_collect_do_not_stop_the_heap() {
    let heap = Heap::new(Config::default());
    let slot = Arc::new(Mutex::new(Some(heap.clone())));
    let (ends, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (e, r, s) = (ends.clone(), refused.clone(), slot.clone());
    heap.on_cycle_event(move |ev| match ev {
        CycleEvent::MarkStart { .. } => {
            let h = s.lock().unwrap().clone();
            if let Some(h) = h {
                let collect = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    h.collect();
                }));
                r.fetch_add(u64::from(collect.is_err()), Ordering::Relaxed);
            }
        }
        CycleEvent::End(_) => {
            e.fetch_add(1, Ordering::Relaxed);
            panic!("a callback that panics");
        }
        _ => {}
    });
    for _ in 0..3 {
        heap.collect();
    }
    assert!(heap.failure().is_none());
    assert_eq!(ends.load(Ordering::Relaxed), 3);
    assert_eq!(refused.load(Ordering::Relaxed), 3);
    heap.clear_cycle_event();
    heap.collect();
    assert_eq!(ends.load(Ordering::Relaxed), 3, "cleared");
    slot.lock().unwrap().take();
}

// ---- GOGC and the memory limit at run time -----------------------------------

/// Allocates `bytes` of garbage in 64 KiB byte arrays and reports it to
/// the pacer (an allocation reports what came before it).
fn garbage(m: &mut Mutator, blob: TypeId, bytes: u64) {
    for _ in 0..bytes / (64 << 10) {
        m.alloc(blob, (64 << 10) - 8);
    }
    m.alloc(blob, 8);
}

/// Waits (in native state) until a cycle after `cycles` has completed;
/// returns it.
fn next_cycle(m: &mut Mutator, heap: &Heap, cycles: u64) -> CycleStats {
    m.native(|| wait_until("a cycle", || heap.stats().cycles > cycles));
    heap.stats().last_cycle.unwrap()
}

/// Lowering GOGC under the heap, setting a memory limit under it, and
/// turning GOGC back on over a heap that grew while it was off each move
/// the goal at once and start a cycle with no further allocation; none of
/// these cycles is forced. Raising the limit or GOGC starts none.
#[test]
fn gogc_and_limit_changes_move_the_goal_and_start_a_cycle() {
    let heap = Heap::new(Config {
        mark_workers: 1,
        ..Config::default()
    });
    let blob = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
    let mut m = heap.attach().unwrap();
    for _ in 0..8 {
        let b = m.alloc(blob, 1 << 20);
        m.push_root(Some(b));
    }
    m.collect();
    let s = heap.stats();
    let live = s.marked_bytes;
    assert!(live >= 8 << 20);
    assert_eq!(s.goal, 2 * live, "GOGC 100");
    assert_eq!(heap.gc_percent(), Some(100));

    // 0.4 of the live heap in garbage: under the trigger (live + 0.7 x
    // the runway).
    garbage(&mut m, blob, live * 4 / 10);
    let cycles = heap.stats().cycles;
    assert_eq!(heap.set_gc_percent(Some(200)), Some(100));
    assert_eq!(
        heap.stats().goal,
        3 * live,
        "raised: the goal moves up at once"
    );
    thread::sleep(Duration::from_millis(20));
    assert_eq!(heap.stats().cycles, cycles, "raising GOGC starts nothing");
    // Lowered: goal 1.1 x live, the heap (1.4 x live) is past the trigger.
    assert_eq!(heap.set_gc_percent(Some(10)), Some(200));
    assert_eq!(heap.gc_percent(), Some(10));
    assert_eq!(
        heap.stats().goal,
        live + live / 10,
        "the goal moves at once"
    );
    let c = next_cycle(&mut m, &heap, cycles);
    assert!(
        !c.forced,
        "started by the change, not asked for:\n{}",
        c.trace_line()
    );
    assert!(
        c.heap_before >= live + live * 4 / 10 - (64 << 10),
        "{}",
        c.trace_line()
    );
    assert_eq!(c.heap_marked, live, "{}", c.trace_line());

    // The memory limit, likewise.
    assert_eq!(heap.set_gc_percent(Some(100)), Some(10));
    garbage(&mut m, blob, live * 4 / 10);
    let cycles = heap.stats().cycles;
    assert_eq!(heap.set_memory_limit(Some(4 * live)), None);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(
        heap.stats().cycles,
        cycles,
        "a limit over the goal starts nothing"
    );
    assert_eq!(heap.set_memory_limit(Some(live + live / 8)), Some(4 * live));
    assert_eq!(heap.memory_limit(), Some(live + live / 8));
    assert_eq!(
        heap.stats().goal,
        live + live / 8,
        "the limit caps the goal"
    );
    let c = next_cycle(&mut m, &heap, cycles);
    assert!(!c.forced, "{}", c.trace_line());
    assert_eq!(c.goal, live + live / 8, "{}", c.trace_line());

    // GOGC off: the heap grows with no cycle; on again: a cycle at once.
    assert_eq!(heap.set_memory_limit(None), Some(live + live / 8));
    assert_eq!(heap.set_gc_percent(None), Some(100));
    let cycles = heap.stats().cycles;
    garbage(&mut m, blob, 3 * live);
    assert_eq!(heap.stats().cycles, cycles, "GOGC off: no cycle");
    assert_eq!(heap.stats().goal, u64::MAX);
    assert_eq!(heap.set_gc_percent(Some(100)), None);
    let c = next_cycle(&mut m, &heap, cycles);
    assert!(!c.forced, "{}", c.trace_line());
    assert_eq!(c.goal, 2 * live, "{}", c.trace_line());
}

/// A manual-cycles heap never starts a cycle on its own, whatever the
/// settings.
#[test]
fn manual_heaps_start_no_cycle_on_a_change() {
    let heap = Heap::new(Config {
        manual_cycles: true,
        ..Config::default()
    });
    let blob = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
    let mut m = heap.attach().unwrap();
    garbage(&mut m, blob, 8 << 20);
    heap.set_gc_percent(Some(0));
    heap.set_memory_limit(Some(0));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(heap.stats().cycles, 0);
}

// ---- the near-limit callback -------------------------------------------------

/// The callback fires at the end of the first cycle whose live heap
/// reaches the fraction of the limit, not again while it stays there, again
/// after a cycle below it; not without a limit; lowering the limit under
/// the live heap is a crossing too. It runs on the cycle's thread, after
/// the cycle's `End`.
#[test]
fn near_limit_fires_once_per_crossing() {
    const MIB: u64 = 1 << 20;
    let heap = Heap::new(Config {
        manual_cycles: true,
        pacer: PacerConfig::concurrent().with_memory_limit(Some(16 * MIB)),
        ..checked_config()
    });
    let blob = heap.register_type(TypeDescriptor::bytes("Blob")).unwrap();
    let fired: Arc<Mutex<Vec<(NearLimit, String)>>> = Arc::default();
    let f = fired.clone();
    heap.on_near_limit(0.5, move |near| {
        let name = thread::current().name().unwrap_or("?").to_string();
        f.lock().unwrap().push((*near, name));
    });
    let mut m = heap.attach().unwrap();
    let slots: Vec<_> = (0..12).map(|_| m.push_root(None)).collect();
    // Keep `n` MiB live (`n` blobs of 1 MiB less their header).
    let live = |m: &mut Mutator, n: usize| {
        for (i, &s) in slots.iter().enumerate() {
            let want = i < n;
            if want != m.root(s).is_some() {
                let v = want.then(|| m.alloc(blob, (MIB - 8) as usize));
                m.set_root(s, v);
            }
        }
        m.collect();
        let c = heap.stats().last_cycle.unwrap();
        assert_eq!(c.heap_marked, n as u64 * MIB);
        (c.number, fired.lock().unwrap().len())
    };
    assert_eq!(live(&mut m, 4), (1, 0), "4 of 16 MiB: under half");
    assert_eq!(live(&mut m, 8).1, 1, "8 of 16 MiB: the threshold itself");
    let (near, thread_name) = fired.lock().unwrap()[0].clone();
    assert_eq!(
        (near.cycle, near.live, near.limit, near.threshold),
        (2, 8 * MIB, 16 * MIB, 8 * MIB)
    );
    assert_eq!(thread_name, "tricolor-gc");
    assert_eq!(live(&mut m, 10).1, 1, "still above: no second report");
    assert_eq!(live(&mut m, 9).1, 1);
    assert_eq!(live(&mut m, 2).1, 1, "below: re-armed");
    assert_eq!(live(&mut m, 12).1, 2, "a second crossing");
    heap.set_memory_limit(None);
    assert_eq!(live(&mut m, 12).1, 2, "no limit: nothing");
    assert_eq!(heap.set_memory_limit(Some(64 * MIB)), None);
    assert_eq!(live(&mut m, 12).1, 2, "12 of 64 MiB: under half");
    heap.set_memory_limit(Some(20 * MIB));
    assert_eq!(
        live(&mut m, 12).1,
        3,
        "the limit lowered under twice the live heap"
    );
    let last = fired.lock().unwrap()[2].0;
    assert_eq!((last.limit, last.threshold), (20 * MIB, 10 * MIB));
    heap.clear_near_limit();
    heap.set_memory_limit(Some(100 * MIB));
    live(&mut m, 2);
    heap.set_memory_limit(Some(MIB));
    assert_eq!(live(&mut m, 12).1, 3, "cleared");
}

// ---- per-type live heap ------------------------------------------------------

/// What a test expects of one type: objects and slot bytes.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Want {
    objects: u64,
    bytes: u64,
}

/// Builds a known heap (small and large objects with and without
/// pointers, traced objects, a list, arrays, garbage of every kind) and
/// checks that the per-type counts after a cycle are exactly what is
/// reachable, in every barrier mode; then drops part of it and checks
/// again; and that nothing is counted with the flag off.
#[test]
fn per_type_counts_equal_a_known_heap_in_every_mode() {
    for mode in ALL_MODES {
        for per_type in [true, false] {
            per_type_case(mode, per_type);
        }
    }
}

fn per_type_case(mode: BarrierMode, per_type: bool) {
    let heap = Heap::new(Config {
        barrier: mode,
        per_type_stats: per_type,
        // No cycle but the ones asked for; background workers still mark.
        pacer: PacerConfig::concurrent().with_gogc(None),
        ..checked_config()
    });
    let t = Types::register(&heap);
    let mut m = heap.attach().unwrap();
    let mut want: std::collections::HashMap<&str, Want> = Default::default();
    let slot_bytes = |heap: &Heap, ty: TypeId, len: usize| -> u64 {
        let words = heap
            .type_descriptor(ty)
            .unwrap()
            .payload_words(len)
            .unwrap();
        tricolor_allocator::slot_size((words + 1) * 8) as u64
    };
    let mut count = |name: &'static str, bytes: u64| {
        let w = want.entry(name).or_default();
        w.objects += 1;
        w.bytes += bytes;
    };

    // The root: an array of 64 (pointer, data) pairs on the shadow stack.
    let root = alloc(&mut m, &t, Kind::Pairs(64), 0);
    let root_slot = m.push_root(Some(root));
    count("Pairs", slot_bytes(&heap, t.pairs, 64));
    let set = |m: &mut Mutator, i: usize, v: Option<ObjRef>| {
        let root = m.root(root_slot).unwrap();
        // SAFETY (test): `root` is rooted and `v` fresh or reachable.
        unsafe { link(m, Kind::Pairs(64), root, i, v) };
    };
    let get = |m: &Mutator, i: usize| -> Option<ObjRef> {
        let root = m.root(root_slot).unwrap();
        // SAFETY (test): `root` is rooted; element i's pointer is word 2i.
        unsafe { m.load(root, 2 * i) }
    };
    // Slot 0: a list of 100 nodes (field 0), with garbage between.
    for i in 0..100 {
        let n = alloc(&mut m, &t, Kind::Node, i);
        let head = get(&m, 0);
        // SAFETY (test): `n` is fresh, `head` reachable.
        unsafe { link(&mut m, Kind::Node, n, 0, head) };
        set(&mut m, 0, Some(n));
        count("Node", slot_bytes(&heap, t.node, 0));
        alloc(&mut m, &t, Kind::Node, 1000 + i); // garbage
    }
    // Slot 1: a chain of 20 traced objects (word 0).
    for i in 0..20 {
        let o = alloc(&mut m, &t, Kind::Tagged, i);
        let head = get(&m, 1);
        // SAFETY (test): as above.
        unsafe { link(&mut m, Kind::Tagged, o, 0, head) };
        set(&mut m, 1, Some(o));
        count("Tagged", slot_bytes(&heap, t.tagged, 0));
        alloc(&mut m, &t, Kind::Tagged, 2000 + i); // garbage
    }
    // Slots 2..32: byte arrays of many sizes (no pointers: never scanned).
    for i in 0..30usize {
        let len = 1 + i * 37;
        let b = m.alloc(t.bytes, len);
        set(&mut m, 2 + i, Some(b));
        count("Bytes", slot_bytes(&heap, t.bytes, len));
        m.alloc(t.bytes, len); // garbage
    }
    // Slots 32..35: large byte arrays; 35..37: large pointer arrays, each
    // holding a small node.
    for i in 0..3 {
        let len = 40_000 + i * 10_000;
        let b = m.alloc(t.bytes, len);
        set(&mut m, 32 + i, Some(b));
        count("Bytes", slot_bytes(&heap, t.bytes, len));
    }
    m.alloc(t.bytes, 50_000); // garbage
    for i in 0..2 {
        let a = alloc(&mut m, &t, Kind::Pairs(3000), i as u64);
        set(&mut m, 35 + i, Some(a));
        count("Pairs", slot_bytes(&heap, t.pairs, 3000));
        let n = alloc(&mut m, &t, Kind::Node, 3000 + i as u64);
        // SAFETY (test): `a` is reachable, `n` fresh.
        unsafe { link(&mut m, Kind::Pairs(3000), a, 7, Some(n)) };
        count("Node", slot_bytes(&heap, t.node, 0));
    }

    let check = |heap: &Heap, want: &std::collections::HashMap<&str, Want>, what: &str| {
        let s = heap.stats();
        let c = s.last_cycle.as_ref().unwrap();
        let total = want.values().fold(Want::default(), |a, w| Want {
            objects: a.objects + w.objects,
            bytes: a.bytes + w.bytes,
        });
        assert_eq!(
            c.objects_marked, total.objects,
            "{mode} {what}: the heap as built"
        );
        assert_eq!(c.heap_marked, total.bytes, "{mode} {what}");
        assert_eq!(c.allocated_black_bytes, 0, "{mode} {what}");
        if !per_type {
            assert!(s.per_type().is_empty(), "{mode} {what}: off");
            return;
        }
        let got: std::collections::HashMap<&str, Want> = s
            .per_type()
            .iter()
            .map(|e| {
                (
                    e.name.as_str(),
                    Want {
                        objects: e.objects,
                        bytes: e.bytes,
                    },
                )
            })
            .collect();
        assert_eq!(&got, want, "{mode} {what}: per type");
        for e in s.per_type() {
            assert_eq!(heap.type_descriptor(e.ty).unwrap().name(), e.name);
        }
        let bytes: Vec<u64> = s.per_type().iter().map(|e| e.bytes).collect();
        assert!(
            bytes.windows(2).all(|w| w[0] >= w[1]),
            "{mode}: largest first"
        );
    };
    m.collect();
    check(&heap, &want, "first cycle");
    // The same again: counts are per cycle, not summed.
    m.collect();
    check(&heap, &want, "second cycle");
    // Drop the traced chain and ten byte arrays.
    set(&mut m, 1, None);
    want.remove("Tagged");
    for i in 0..10usize {
        set(&mut m, 2 + i, None);
        let w = want.get_mut("Bytes").unwrap();
        w.objects -= 1;
        w.bytes -= slot_bytes(&heap, t.bytes, 1 + i * 37);
    }
    m.collect();
    check(&heap, &want, "after dropping some");
}

// ---- the gctrace line ----------------------------------------------------------

/// The fields of a gctrace line a Go user reads first.
#[derive(Debug)]
struct Line {
    number: u64,
    at: f64,
    percent: f64,
    clock: Vec<f64>,
    /// STW #1, assist, background, idle, STW #2.
    cpu: Vec<f64>,
    heap: Vec<u64>,
    goal: String,
    forced: bool,
}

/// Parses the Go-shaped head of a gctrace line:
/// `gc N @Ts P%: a+b+c ms clock, a+b/c/d+e ms cpu..., A->B->C MiB, G MiB goal, ...`.
fn parse(line: &str) -> Line {
    fn bad<T>(line: &str) -> T {
        panic!("not a gctrace line: {line}")
    }
    let split = |s: &'_ str, sep: &str| -> (String, String) {
        let (a, b) = s.split_once(sep).unwrap_or_else(|| bad(line));
        (a.to_string(), b.to_string())
    };
    let num = |s: &str| -> f64 { s.parse().unwrap_or_else(|_| bad(line)) };
    let rest = line.strip_prefix("gc ").unwrap_or_else(|| bad(line));
    let (number, rest) = split(rest, " @");
    let (at, rest) = split(&rest, "s ");
    let (percent, rest) = split(&rest, "%: ");
    let (clock, rest) = split(&rest, " ms clock, ");
    let (cpu, rest) = split(&rest, " ms cpu");
    // After the cpu field's parenthesis (concurrent modes only).
    let parts: Vec<&str> = rest.split(", ").collect();
    let field = |suffix: &str| -> String {
        let p = parts
            .iter()
            .find(|p| p.ends_with(suffix) && (suffix != " MiB" || p.contains("->")))
            .unwrap_or_else(|| bad(line));
        p.strip_suffix(suffix).unwrap().to_string()
    };
    let heap = field(" MiB");
    let goal = field(" MiB goal");
    Line {
        number: number.parse().unwrap_or_else(|_| bad(line)),
        at: num(&at),
        percent: num(&percent),
        clock: clock.split('+').map(num).collect(),
        cpu: cpu.split(['+', '/']).map(num).collect(),
        heap: heap
            .split("->")
            .map(|x| x.parse().unwrap_or_else(|_| bad(line)))
            .collect(),
        goal,
        forced: line.ends_with(" (forced)"),
    }
}

/// Checks a line against the cycle it prints.
fn check_line(c: &CycleStats) -> Line {
    let text = c.trace_line();
    let l = parse(&text);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    assert_eq!(l.number, c.number, "{text}");
    assert!((l.at - c.start.as_secs_f64()).abs() < 0.001, "{text}");
    assert!((0.0..=100.0).contains(&l.percent), "{text}");
    assert!(
        (l.percent - 100.0 * c.gc_cpu_fraction).abs() <= 0.5,
        "{text}"
    );
    assert_eq!(l.clock.len(), 3, "{text}");
    assert!((l.clock[1] - ms(c.mark)).abs() < 0.001, "{text}");
    assert_eq!(l.cpu.len(), 5, "{text}");
    let fields = [
        c.sweep_termination_cpu,
        c.assist_cpu,
        c.background_cpu,
        c.idle_cpu,
        c.mark_termination_cpu,
    ];
    for (printed, d) in l.cpu.iter().zip(fields) {
        assert!(*printed >= 0.0 && (printed - ms(d)).abs() < 0.001, "{text}");
    }
    assert_eq!(c.mark_cpu, c.assist_cpu + c.background_cpu + c.idle_cpu);
    assert_eq!(
        l.heap,
        [c.heap_before >> 20, c.heap_end >> 20, c.heap_marked >> 20],
        "{text}"
    );
    assert!(
        c.heap_before <= c.heap_end,
        "B counts the mark's allocation: {text}"
    );
    assert_eq!(l.goal, (c.goal >> 20).to_string(), "{text}");
    assert_eq!(l.forced, c.forced, "{text}");
    assert!(
        text.contains(&format!(" workers ({})", c.barrier)),
        "{text}"
    );
    l
}

/// In every barrier mode: forced cycles say so and paced ones do not; the
/// Go-shaped fields parse and match the statistics; the CPU split is
/// sane (no assists or idle workers with the barrier off, no idle column
/// with workers at normal priority); the share of time in GC is a share.
#[test]
fn gctrace_line_has_go_fields() {
    for mode in ALL_MODES {
        for idle_priority in [true, false] {
            let heap = Heap::new(Config {
                barrier: mode,
                mark_workers: 2,
                idle_priority_workers: idle_priority,
                pacer: PacerConfig::concurrent().with_min_heap(2 << 20),
                ..Config::default()
            });
            let t = Types::register(&heap);
            let mut m = heap.attach().unwrap();
            let keep = m.push_root(None);
            // A live list, so marking has work.
            for i in 0..20_000 {
                let n = alloc(&mut m, &t, Kind::Node, i);
                let head = m.root(keep);
                // SAFETY (test): `n` fresh, `head` rooted.
                unsafe { link(&mut m, Kind::Node, n, 0, head) };
                m.set_root(keep, Some(n));
            }
            m.collect();
            let forced = heap.stats().last_cycle.unwrap();
            assert!(forced.forced);
            let l = check_line(&forced);
            assert!(l.forced);
            // Garbage until the pacer starts a cycle of its own.
            let cycles = heap.stats().cycles;
            let mut i = 0;
            while heap.stats().cycles == cycles {
                alloc(&mut m, &t, Kind::Pairs(16), i);
                i += 1;
            }
            let paced = heap.stats().last_cycle.unwrap();
            assert!(!paced.forced, "{mode}: {}", paced.trace_line());
            check_line(&paced);
            for c in [&forced, &paced] {
                if mode == BarrierMode::Off {
                    assert_eq!(c.assist_cpu, Duration::ZERO, "{}", c.trace_line());
                    assert_eq!(c.idle_cpu, Duration::ZERO, "{}", c.trace_line());
                }
                if !idle_priority {
                    assert_eq!(c.idle_cpu, Duration::ZERO, "{}", c.trace_line());
                }
                assert!(c.gc_cpu() > Duration::ZERO, "{}", c.trace_line());
            }
            let s = heap.stats();
            assert!(s.gc_cpu_total >= forced.gc_cpu() + paced.gc_cpu());
            assert!((0.0..=1.0).contains(&s.gc_cpu_fraction));
        }
    }
}

/// With finalizers the finalizer stage marks on its own (what an
/// unreachable finalizable object reaches, object by object): the
/// per-type counts still add up to what the cycle marked, in every mode.
#[test]
fn per_type_counts_add_up_with_finalizers() {
    for mode in ALL_MODES {
        let heap = Heap::new(Config {
            barrier: mode,
            per_type_stats: true,
            pacer: PacerConfig::concurrent().with_gogc(None),
            ..checked_config()
        });
        let t = Types::register(&heap);
        let mut m = heap.attach().unwrap();
        let keep = m.push_root(None);
        for i in 0..200 {
            // A finalizable node holding a byte array and a pair array:
            // unreachable, so the finalizer stage marks the two.
            let n = alloc(&mut m, &t, Kind::Node, i);
            let s = m.push_root(Some(n));
            let b = alloc(&mut m, &t, Kind::Bytes, i);
            // SAFETY (test): `n` is rooted, `b` fresh.
            let n = m.root(s).unwrap();
            unsafe { link(&mut m, Kind::Node, n, 0, Some(b)) };
            let p = alloc(&mut m, &t, Kind::Pairs(3), i);
            // SAFETY (test): as above.
            let n = m.root(s).unwrap();
            unsafe { link(&mut m, Kind::Node, n, 1, Some(p)) };
            let n = m.root(s).unwrap();
            m.set_finalizer(n, |_, _| {}).unwrap();
            m.truncate_roots(s);
            if i.is_multiple_of(2) {
                // Half of them also reachable from a live list.
                let head = m.root(keep);
                // SAFETY (test): `n` was rooted until just now, with no
                // safepoint since; `head` is rooted.
                unsafe { link(&mut m, Kind::Node, n, 2, head) };
                m.set_root(keep, Some(n));
            }
        }
        for round in 0..3 {
            m.collect();
            m.wait_for_finalizers();
            let s = heap.stats();
            let c = s.last_cycle.as_ref().unwrap();
            let (objects, bytes) = s
                .per_type()
                .iter()
                .fold((0, 0), |(o, b), e| (o + e.objects, b + e.bytes));
            assert_eq!(objects, c.objects_marked, "{mode}, round {round}");
            assert_eq!(
                bytes,
                c.heap_marked - c.allocated_black_bytes,
                "{mode}, round {round}"
            );
            assert!(objects > 0, "{mode}");
        }
    }
}
