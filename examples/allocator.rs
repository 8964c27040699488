//! The allocator on its own: several threads churn a large heap.
//!
//! Each thread keeps a live set of objects (random sizes, 16 B to 4 KiB, with
//! an occasional large one) and replaces random members of it as fast as it
//! can, so the heap holds a constant live size under a high allocation rate.
//! Every time the threads have allocated as much as the live set again (a
//! GOGC=100-style trigger), they stop at their next poll, hand back their cache
//! spans, mark their own live objects in parallel, and resume; a background
//! sweeper and the threads' own refills sweep the rest concurrently. Each
//! cycle prints one trace line; the run ends with a pause summary.
//!
//! ```text
//! cargo run --release --example allocator -- [--threads N] [--live-mib M] [--seconds S]
//! ```

mod support;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use tricolor::allocator::{resident_bytes, Cache, Config, ObjectKind, PageHeap};
use tricolor_testkit::{Histogram, Rng};

const USAGE: &str = "allocator [--threads N] [--live-mib M] [--seconds S]";

/// A random object size: mostly small, sometimes medium, rarely large.
fn object_size(rng: &mut Rng) -> usize {
    match rng.below(1000) {
        0 => 64 * 1024 + rng.below(192 * 1024),
        1..=699 => 16 + rng.below(112),
        _ => 128 + rng.below(3968),
    }
}

#[derive(Clone, Copy)]
struct Obj(NonNull<u8>);

struct Shared {
    heap: Arc<PageHeap>,
    stop_requested: AtomicBool,
    done: AtomicBool,
    allocated: AtomicU64,
    barrier: Barrier,
}

fn main() {
    let args = support::parse_args(USAGE, None);
    let heap = PageHeap::new(Config::default());
    let shared = Arc::new(Shared {
        heap: heap.clone(),
        stop_requested: AtomicBool::new(false),
        done: AtomicBool::new(false),
        allocated: AtomicU64::new(0),
        barrier: Barrier::new(args.threads + 1),
    });
    let live_target = (args.live_mib << 20) as u64;
    let per_thread = live_target / args.threads as u64;
    println!(
        "churn: {} threads, {} MiB live, {:.0} s; trace: cycle, stop-the-world pause, heap live/in-use/committed, RSS, spans swept",
        args.threads, args.live_mib, args.seconds
    );

    let sweeper = {
        let shared = shared.clone();
        thread::spawn(move || {
            while !shared.done.load(Ordering::Relaxed) {
                if shared.heap.sweep_one().is_none() {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };

    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let shared = shared.clone();
            thread::spawn(move || mutator(t, per_thread, &shared))
        })
        .collect();

    let start = Instant::now();
    let mut pauses = Histogram::new();
    let mut cycle = 0;
    let mut last_alloc = 0;
    let mut last_time = start;
    while start.elapsed().as_secs_f64() < args.seconds {
        let allocated = shared.allocated.load(Ordering::Relaxed);
        if allocated - last_alloc < live_target {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        // Stop the world at the threads' next poll.
        let t0 = Instant::now();
        shared.stop_requested.store(true, Ordering::SeqCst);
        shared.barrier.wait(); // 1: every thread parked, caches released
        heap.finish_sweep();
        shared.barrier.wait(); // 2: threads mark their live sets
        shared.barrier.wait(); // 3: marking done
        heap.start_sweep_cycle();
        shared.stop_requested.store(false, Ordering::SeqCst);
        shared.barrier.wait(); // 4: resume
        let pause = t0.elapsed();
        pauses.record_duration(pause);
        cycle += 1;
        let s = heap.stats();
        let now = Instant::now();
        let rate = (allocated - last_alloc) as f64 / (now - last_time).as_secs_f64() / 1048576.0;
        println!(
            "cycle {cycle:4} @{:7.3}s: pause {:8.3} ms | heap {:6} MiB live (incl. unswept), {:6} MiB in use, {:6} MiB committed | rss {:6} MiB | {:7.1} MiB/s allocated | swept {} spans ({} lazily)",
            start.elapsed().as_secs_f64(),
            pause.as_secs_f64() * 1e3,
            s.heap_alloc_flushed_bytes() >> 20,
            s.in_use_bytes >> 20,
            s.committed_bytes >> 20,
            resident_bytes().unwrap_or(0) >> 20,
            rate,
            s.spans_swept_total,
            s.spans_swept_lazily_total,
        );
        last_alloc = allocated;
        last_time = now;
    }
    shared.done.store(true, Ordering::SeqCst);
    shared.stop_requested.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    sweeper.join().unwrap();
    heap.finish_sweep();
    let elapsed = start.elapsed().as_secs_f64();

    let s = heap.stats();
    let pct = |p: f64| pauses.quantile_ms(p);
    println!("---");
    println!(
        "summary: {cycle} cycles in {elapsed:.1} s; pause p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "allocated {} MiB ({} objects) at {:.0} MiB/s; freed {} MiB; live {} MiB",
        s.allocated_bytes_total >> 20,
        s.allocated_objects_total,
        s.allocated_bytes_total as f64 / elapsed / 1048576.0,
        s.freed_bytes_total >> 20,
        s.heap_alloc_flushed_bytes() >> 20,
    );
    println!(
        "heap: reserved {} MiB, committed {} MiB, in use {} MiB, idle {} MiB ({} free runs); spans swept {} ({} lazily)",
        s.reserved_bytes >> 20,
        s.committed_bytes >> 20,
        s.in_use_bytes >> 20,
        s.idle_bytes >> 20,
        s.free_runs,
        s.spans_swept_total,
        s.spans_swept_lazily_total,
    );
    let rss_before = resident_bytes().unwrap_or(0);
    let released = heap.scavenge(0);
    println!(
        "scavenger: released {} MiB of idle pages; rss {} MiB -> {} MiB",
        released >> 20,
        rss_before >> 20,
        resident_bytes().unwrap_or(0) >> 20
    );
    heap.verify().expect("page heap invariants");
    println!("page heap invariants verified");
}

fn mutator(t: usize, budget: u64, shared: &Shared) {
    let mut rng = Rng::new(0x5EED ^ ((t as u64) << 32));
    let mut cache = Cache::new(shared.heap.clone());
    let mut live: Vec<(Obj, usize)> = Vec::new();
    let mut live_bytes = 0u64;
    let mut allocated_local = 0u64;
    let alloc = |cache: &mut Cache, rng: &mut Rng| {
        let size = object_size(rng);
        let kind = if rng.one_in(4) {
            ObjectKind::NoScan
        } else {
            ObjectKind::Scan
        };
        let p = cache.alloc(size, kind).expect("allocation failed");
        // SAFETY: a fresh object of at least `size` ≥ 16 bytes that we own.
        unsafe { p.as_ptr().cast::<u64>().write(size as u64) };
        (Obj(p), size)
    };
    while live_bytes < budget {
        let (o, size) = alloc(&mut cache, &mut rng);
        live_bytes += size as u64;
        live.push((o, size));
    }
    shared.allocated.fetch_add(live_bytes, Ordering::Relaxed);
    let mut i = 0u64;
    loop {
        // The poll: one load and a branch, every 64 allocations.
        if i.is_multiple_of(64) && shared.stop_requested.load(Ordering::Relaxed) {
            shared
                .allocated
                .fetch_add(allocated_local, Ordering::Relaxed);
            allocated_local = 0;
            cache.release_all();
            if shared.done.load(Ordering::SeqCst) {
                return;
            }
            shared.barrier.wait(); // 1
            shared.barrier.wait(); // 2
            for (o, size) in &live {
                // SAFETY: our own live object; its first word holds its size.
                debug_assert_eq!(unsafe { o.0.as_ptr().cast::<u64>().read() }, *size as u64);
                shared.heap.mark(o.0.as_ptr() as usize);
            }
            shared.barrier.wait(); // 3
            shared.barrier.wait(); // 4
        }
        let victim = rng.below(live.len());
        let (o, size) = alloc(&mut cache, &mut rng);
        allocated_local += size as u64;
        live[victim] = (o, size);
        i += 1;
        if i.is_multiple_of(4096) {
            shared
                .allocated
                .fetch_add(allocated_local, Ordering::Relaxed);
            allocated_local = 0;
        }
    }
}
