//! The safe API's examples, run small as tests: each example file is
//! included as a module and its `run` (the whole program, with every check
//! it makes) is called with a small size. The examples that take a heap
//! configuration run in each concurrent barrier mode with checkmark, the
//! verifier and poisoning on.

use std::num::NonZeroU32;

use tricolor::raw::{BarrierMode, Config, PacerConfig};

// Each example's `main` (argument parsing and printing) is left to the
// example binary; everything else is used here.
#[allow(dead_code)]
#[path = "../examples/safe_list.rs"]
mod safe_list;

#[allow(dead_code)]
#[path = "../examples/safe_graph.rs"]
mod safe_graph;

#[allow(dead_code)]
#[path = "../examples/safe_env.rs"]
mod safe_env;

const CONCURRENT_MODES: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

fn under_sanitizer() -> bool {
    std::env::var_os("TRICOLOR_UNDER_SANITIZER").is_some()
}

/// Checkmark, the verifier and poisoning on; a small minimum heap, so that
/// the pacer starts cycles too.
fn checked(mode: BarrierMode) -> Config {
    Config {
        barrier: mode,
        checkmark: true,
        verify: true,
        poison: true,
        mark_workers: 1,
        pacer: PacerConfig::concurrent().with_min_heap(128 << 10),
        ..Config::default()
    }
}

#[test]
fn safe_list() {
    let s = safe_list::run(300);
    assert_eq!(s.removed_and_freed, 200, "every third of 600 nodes");
    assert!(s.collections > 10);
}

#[test]
fn safe_graph() {
    let steps = if under_sanitizer() { 1_500 } else { 5_000 };
    for mode in CONCURRENT_MODES {
        let s = safe_graph::run(checked(mode), steps);
        assert!(s.reachable >= 256, "{mode}: the graph's own nodes stay");
        assert!(s.visits > 0 && s.created > 0, "{mode}");
        // Thread 0 alone forces 8 (one every steps / 8).
        assert!(s.collections >= 8, "{mode}: {} collections", s.collections);
    }
}

#[test]
fn safe_env() {
    for mode in CONCURRENT_MODES {
        // A collection at every 25th allocation: evaluation must survive
        // one at any of its GC points.
        let config = Config {
            gc_stress: NonZeroU32::new(25),
            ..checked(mode)
        };
        let s = safe_env::run(config, 12);
        assert_eq!(s.fib, 144.0);
        assert!(s.collections > 10, "{mode}: {} collections", s.collections);
    }
}
