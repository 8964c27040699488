//! How allocation is paced: the byte counts the pacer works in, and mark
//! assists that park when they owe marking work and can find none.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::checked_config;
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
/// work, so the mark cannot end) parks instead of allocating on. It waits
/// for the mark to end, and the heap stays within the goal: black allocation
/// is what the runway allowed, not what the hard limit allows.
///
/// Without parking the mutator allocates black until the hard limit
/// (1.1 × goal) and then waits for the cycle: no assist wait is recorded
/// and the black bytes exceed the runway by about a tenth of the goal.
/// The workers are released once the mutator has stopped making progress
/// for 300 ms either way, so the parked time is at least that with parking.
#[test]
fn assists_park_while_the_mark_cannot_end() {
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
    const LIVE: usize = 300_000;
    for _ in 0..LIVE {
        let n = m.alloc(node, 0);
        // SAFETY (test): `n` is fresh; the old head is rooted in `head`.
        unsafe { m.store(n, 0, m.root(head)) };
        m.set_root(head, Some(n));
    }
    m.collect();
    let settled = heap.stats();
    let goal = settled.goal;
    let cycles = settled.cycles;

    heap.stall_mark_workers_for_testing(true);
    // Thousands of objects the mutator has allocated so far.
    let progress = Arc::new(AtomicU64::new(0));
    // Releases the workers once the mutator has made no progress for
    // 300 ms (parked, or without parking blocked at the hard limit), so the
    // test does not depend on how fast this build marks.
    let release = {
        let heap = heap.clone();
        let progress = progress.clone();
        thread::spawn(move || {
            let t0 = Instant::now();
            let mut last = (progress.load(Ordering::SeqCst), Instant::now());
            while last.1.elapsed() < Duration::from_millis(300)
                && t0.elapsed() < Duration::from_secs(30)
            {
                thread::sleep(Duration::from_millis(10));
                let now = progress.load(Ordering::SeqCst);
                if now != last.0 {
                    last = (now, Instant::now());
                }
            }
            heap.stall_mark_workers_for_testing(false);
        })
    };
    // Garbage until the cycle this starts has finished (bounded in time).
    let t0 = Instant::now();
    while heap.stats().cycles == cycles {
        for _ in 0..1000 {
            m.alloc(node, 0);
        }
        progress.fetch_add(1, Ordering::SeqCst);
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the stalled cycle never finished"
        );
    }
    release.join().unwrap();
    let stats = heap.stats();
    let cycle = stats.last_cycle.expect("a cycle ran");
    assert_eq!(cycle.number, cycles + 1, "one cycle ran meanwhile");
    assert_eq!(cycle.objects_marked, LIVE as u64, "the list, nothing else");
    eprintln!("goal {goal}; {}", cycle.trace_line());

    assert!(
        cycle.assist_wait >= Duration::from_millis(100),
        "the mutator should have parked while the worker stalled: {:?}\n{}",
        cycle.assist_wait,
        cycle.trace_line()
    );
    let black = cycle.heap_marked - 24 * LIVE as u64;
    let runway = goal - cycle.heap_before;
    assert!(
        black <= runway + (512 << 10),
        "allocated black: {black} bytes, runway {runway} bytes (goal {goal})\n{}",
        cycle.trace_line()
    );
}
