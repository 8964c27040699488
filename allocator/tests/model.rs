//! Property test: the allocator against a model.
//!
//! Random programs of allocations (random sizes, scan and noscan, small and
//! large), collection cycles that keep a random subset, partial sweeps that
//! leave the rest to lazy sweeping, and scavenges. After every step the
//! properties that a collector relies on are checked:
//!
//! - every object handed out is zeroed, 8-aligned, and aligned to the largest
//!   power of two dividing its slot size (up to a page);
//! - no two live objects overlap, and every live object still holds what was
//!   written into it (nothing was freed or handed out twice);
//! - address → span → object base round-trips for every interior address;
//! - accounting balances exactly: live objects and bytes in the statistics
//!   equal the model's once sweeping is done, and the page heap's own
//!   invariants (`PageHeap::verify`) hold.

mod common;

use std::ptr::NonNull;

use common::{check_stamp, is_zeroed, stamp};
use proptest::prelude::*;
use tricolor_allocator::{Cache, Config, ObjectKind, PageHeap, PAGE_SIZE};

#[derive(Debug, Clone)]
enum Op {
    Alloc {
        size: usize,
        noscan: bool,
    },
    Cycle {
        keep_percent: u8,
        sweep_now: u8,
        seed: u64,
    },
    Scavenge {
        retain_pages: u8,
    },
    SweepSome(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (1usize..=1024, any::<bool>()).prop_map(|(size, noscan)| Op::Alloc { size, noscan }),
        6 => (1025usize..=32 * 1024, any::<bool>()).prop_map(|(size, noscan)| Op::Alloc { size, noscan }),
        1 => (32 * 1024 + 1..=200 * 1024usize, any::<bool>()).prop_map(|(size, noscan)| Op::Alloc { size, noscan }),
        2 => (0u8..=100, 0u8..=20, any::<u64>()).prop_map(|(keep_percent, sweep_now, seed)| Op::Cycle { keep_percent, sweep_now, seed }),
        1 => (0u8..=32).prop_map(|retain_pages| Op::Scavenge { retain_pages }),
        1 => (0u8..=10).prop_map(Op::SweepSome),
    ]
}

struct Obj {
    ptr: NonNull<u8>,
    size: usize,
    slot: usize,
    tag: u64,
}

fn run(ops: Vec<Op>, poison: bool) -> Result<(), TestCaseError> {
    let heap = PageHeap::new(Config {
        poison,
        ..Config::default()
    });
    let mut cache = Cache::new(heap.clone());
    let mut live: Vec<Obj> = Vec::new();
    let mut next_tag = 1u64;

    for op in ops {
        match op {
            Op::Alloc { size, noscan } => {
                let kind = if noscan {
                    ObjectKind::NoScan
                } else {
                    ObjectKind::Scan
                };
                let ptr = cache
                    .alloc(size, kind)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let addr = ptr.as_ptr() as usize;
                let obj = heap.find_object(addr).expect("a new object is findable");
                prop_assert_eq!(obj.base(), addr, "object starts at its slot");
                let slot = obj.size();
                prop_assert!(slot >= size);
                prop_assert_eq!(obj.span().is_noscan(), noscan);
                prop_assert!(
                    is_zeroed(ptr, slot.min(64 * 1024)),
                    "object of {} bytes not zeroed",
                    size
                );
                let align = (slot & slot.wrapping_neg()).min(PAGE_SIZE);
                prop_assert_eq!(addr % align, 0, "slot of {} bytes misaligned", slot);
                for off in [0, slot / 2, slot - 1] {
                    let inner = heap.find_object(addr + off).expect("interior pointer");
                    prop_assert_eq!(inner.base(), addr);
                }
                let rounded = size.max(8) & !7;
                stamp(ptr, rounded, next_tag);
                live.push(Obj {
                    ptr,
                    size: rounded,
                    slot,
                    tag: next_tag,
                });
                next_tag += 1;
            }
            Op::Cycle {
                keep_percent,
                sweep_now,
                seed,
            } => {
                // The previous cycle must be fully swept before marking.
                heap.finish_sweep();
                let mut rng = common::Rng::new(seed);
                live.retain(|_| rng.chance(keep_percent as u64, 100));
                for o in &live {
                    prop_assert!(heap.mark(o.ptr.as_ptr() as usize), "marked twice");
                }
                cache.release_all();
                heap.start_sweep_cycle();
                for _ in 0..sweep_now {
                    heap.sweep_one();
                }
            }
            Op::Scavenge { retain_pages } => {
                heap.scavenge(retain_pages as usize * PAGE_SIZE);
                prop_assert!(heap.stats().idle_dirty_bytes <= retain_pages as usize * PAGE_SIZE);
            }
            Op::SweepSome(n) => {
                for _ in 0..n {
                    heap.sweep_one();
                }
            }
        }
        for o in &live {
            prop_assert!(
                check_stamp(o.ptr, o.size, o.tag),
                "object {} overwritten",
                o.tag
            );
        }
    }

    // No overlap among live objects.
    let mut spans: Vec<(usize, usize)> = live
        .iter()
        .map(|o| (o.ptr.as_ptr() as usize, o.slot))
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        prop_assert!(
            w[0].0 + w[0].1 <= w[1].0,
            "objects overlap at {:#x}",
            w[1].0
        );
    }

    // Exact accounting once everything is swept.
    heap.finish_sweep();
    cache.flush_stats();
    let stats = heap.stats();
    prop_assert_eq!(stats.heap_alloc_flushed_objects(), live.len() as u64);
    let model_bytes: usize = live
        .iter()
        .map(|o| {
            if o.slot > 32 * 1024 {
                o.slot.div_ceil(PAGE_SIZE) * PAGE_SIZE
            } else {
                o.slot
            }
        })
        .sum();
    prop_assert_eq!(stats.heap_alloc_flushed_bytes(), model_bytes as u64);
    prop_assert_eq!(stats.committed_bytes, stats.in_use_bytes + stats.idle_bytes);
    drop(cache);
    heap.verify().map_err(TestCaseError::fail)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn allocator_matches_model(ops in proptest::collection::vec(op(), 1..400)) {
        run(ops, false)?;
    }

    #[test]
    fn allocator_matches_model_with_poisoning(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops, true)?;
    }
}
