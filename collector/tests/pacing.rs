//! How allocation is paced: the byte counts the pacer works in, and mark
//! assists that park when they owe marking work and can find none.

mod common;

use std::thread;
use std::time::Duration;

use common::checked_config;
use tricolor_collector::policy::CycleGoal;
use tricolor_collector::{Config, Heap, TypeDescriptor};

/// Every count the pacer uses is in slot bytes (the size class's size, or
/// whole pages for a large object), the unit the marker and the sweeper
/// count in, so the pacer's heap and the allocator's agree.
#[test]
fn allocation_is_counted_in_slot_bytes() {
    let heap = Heap::new(Config {
        manual_cycles: true,
        ..Config::default()
    });
    // Header and four words: 40 bytes, in the 48-byte class.
    let five = heap
        .register_type(TypeDescriptor::fixed("Five", 4, &[]))
        .unwrap();
    // Header, length and 5000 words: 40,008 bytes, five 8 KiB pages.
    let words = heap
        .register_type(TypeDescriptor::array("Words", 1, &[]))
        .unwrap();
    let before = heap.stats().allocated_since_mark;
    let mut m = heap.attach().unwrap();
    for _ in 0..1000 {
        m.alloc(five, 0);
    }
    m.alloc(words, 5000);
    // Detaching reports what the mutator has not reported yet.
    drop(m);
    let allocated = heap.stats().allocated_since_mark - before;
    assert_eq!(allocated, 1000 * 48 + 5 * 8192);
}

/// A mutator that owes assist work while no grey object can be found (here:
/// the only background worker is "descheduled", counted busy but taking no
/// work, so the mark cannot end) parks instead of allocating on, and the
/// cycle's black allocation is what the assist ratio allows, not what the
/// hard limit allows.
///
/// The bound (`mutator::assist`): each chunk of at most `CHUNK` bytes the
/// mutator reports during the mark adds `chunk × ratio` to its debt, which
/// it pays with scan work (its own, or the background workers' credit). It
/// runs on only while its debt is at most `PARK_DEBT` or it finds a full
/// assist's work; otherwise it parks until one of those holds or the mark
/// ends. With `ratio × CHUNK` below one assist's most (512 KiB), the debt
/// after every report that lets it run on is at most `PARK_DEBT`, so
/// `black × ratio ≤ scan work + PARK_DEBT + ratio × CHUNK`, whoever marked
/// what and however the threads were scheduled. Without parking the
/// mutator allocates black up to the hard limit, about a megabyte more
/// here, and never parks.
///
/// Every wait is for a state, never for a time: the stalled worker holds
/// the mark open whether or not it ever gets the CPU; the mutator stops at
/// the trigger until the mark has begun (so the runway, and with it the
/// ratio, does not depend on how soon the collector thread runs); and the
/// worker is released once the mutator has parked `STAYS` times in a row
/// with no allocation in between (a count of parks, each ended by a wake-up
/// or `PARK_POLL`, not a time) or, with parking broken, once the mutator
/// has reached the hard limit (where it blocks).
#[test]
fn assists_park_while_the_mark_cannot_end() {
    const MIB: u64 = 1 << 20;
    // `mutator::assist::PARK_DEBT`, and the most a mutator reports at once:
    // `ALLOC_REPORT_BYTES` and the slot of the object that crossed it.
    const PARK_DEBT: u64 = MIB;
    const CHUNK: u64 = (64 << 10) + NODE;
    const NODE: u64 = 24;
    const LIVE: u64 = 300_000;
    // Parks in a row that count as staying parked: a mutator that went on
    // allocating after each park would report a chunk between every two.
    const STAYS: u64 = 20;

    let heap = Heap::new(Config {
        mark_workers: 1,
        ..checked_config()
    });
    let node = heap
        .register_type(TypeDescriptor::fixed("Node", 2, &[0]))
        .unwrap();
    let mut m = heap.attach().unwrap();
    // 7 MiB live: a list of 24-byte nodes.
    let head = m.push_root(None);
    for _ in 0..LIVE {
        let n = m.alloc(node, 0);
        // SAFETY (test): `n` is fresh; the old head is rooted in `head`.
        unsafe { m.store(n, 0, m.root(head)) };
        m.set_root(head, Some(n));
    }
    m.collect();
    let settled = heap.stats();
    let live = settled.marked_bytes;
    assert_eq!(live, NODE * LIVE, "the list, nothing else");
    let pace = CycleGoal::compute(&heap.config().pacer, live);
    assert_eq!(pace.goal, settled.goal);
    let cycles = settled.cycles;

    heap.stall_mark_workers_for_testing(true);
    // Garbage until the report that asks for a cycle, then nothing until
    // the mark has begun.
    loop {
        let s = heap.stats();
        if s.marked_bytes + s.allocated_since_mark >= pace.trigger {
            break;
        }
        for _ in 0..100 {
            m.alloc(node, 0);
        }
    }
    m.native(|| {
        while heap.assist_parks_for_testing().is_none() {
            thread::sleep(POLL);
        }
    });
    // Releases the worker once the mutator has parked `STAYS` times in a
    // row without reporting allocation in between (true), or once it has
    // reached the hard limit and blocks there (false). The mark cannot end
    // before.
    let release = {
        let heap = heap.clone();
        thread::spawn(move || {
            // (allocated, parks) when the allocation last changed.
            let mut since = (u64::MAX, 0);
            let parked = loop {
                let s = heap.stats();
                let parks = heap
                    .assist_parks_for_testing()
                    .expect("the mark cannot end while the worker is stalled");
                if s.allocated_since_mark != since.0 {
                    since = (s.allocated_since_mark, parks);
                } else if parks >= since.1 + STAYS {
                    break true;
                }
                if s.marked_bytes + s.allocated_since_mark >= pace.hard_limit {
                    break false;
                }
                thread::sleep(POLL);
            };
            heap.stall_mark_workers_for_testing(false);
            parked
        })
    };
    // Garbage until the stalled cycle has finished. The mutator cannot
    // run on unboundedly meanwhile: it parks, or blocks at a hard limit.
    while heap.stats().cycles == cycles {
        for _ in 0..1000 {
            m.alloc(node, 0);
        }
    }
    let parked = release.join().unwrap();
    let cycle = heap.stats().last_cycle.expect("a cycle ran");
    eprintln!("{pace:?}; {}", cycle.trace_line());
    assert_eq!(cycle.number, cycles + 1, "one cycle ran meanwhile");
    if cycle.kind == tricolor_collector::CycleKind::Major {
        assert_eq!(cycle.objects_marked, LIVE, "the list, nothing else");
    } else {
        // Generational (the `test-generational` feature): the list is old
        // and stays marked; a minor cycle marks only what is young.
        assert!(cycle.objects_marked <= LIVE, "{}", cycle.trace_line());
    }
    assert!(
        parked,
        "the mutator reached the hard limit ({} bytes) without staying parked\n{}",
        pace.hard_limit,
        cycle.trace_line()
    );
    assert!(
        cycle.assist_wait > Duration::ZERO,
        "the parked time is reported\n{}",
        cycle.trace_line()
    );

    // The assist ratio of this cycle (`mutator::assist::ratio`), from a
    // runway fixed by the trigger: the mutator reported nothing more until
    // the mark began.
    assert!(
        (pace.trigger..pace.trigger + CHUNK).contains(&cycle.heap_before),
        "the mark began at the trigger\n{}",
        cycle.trace_line()
    );
    let runway = pace.goal.saturating_sub(cycle.heap_before).max(MIB);
    let ratio = (live as f64 / runway as f64).min(16.0);
    assert!(
        ratio * (CHUNK as f64) < (512 << 10) as f64,
        "the bound below needs one chunk's debt under one assist's most: ratio {ratio}"
    );
    // Every object scanned this cycle is a node; black garbage is never
    // scanned. Debts are truncated to whole bytes, one per report at most.
    let scan_work = NODE * LIVE;
    let black = cycle.heap_marked - live;
    let bound = (scan_work + PARK_DEBT) as f64 / ratio + CHUNK as f64 + 1024.0;
    eprintln!("allocated black: {black} bytes, bound {bound:.0} (ratio {ratio:.3})");
    assert!(
        black as f64 <= bound,
        "allocated black: {black} bytes, more than {bound:.0} (ratio {ratio:.3}, runway {runway})\n{}",
        cycle.trace_line()
    );
}

/// How often a test thread looks again at a state it waits for; no
/// outcome depends on it.
const POLL: Duration = Duration::from_micros(100);
