//! Fuzzes the collector with programs of mutator operations (allocations,
//! pointer stores and loads, root changes, safepoints, native calls,
//! finalizers, cleanups, weak references, ephemeron tables) and collector
//! steps (stack scans, marking, flushes, ephemeron passes, the finalizer
//! stage, mark termination, waiting for finalizers) in an exact
//! interleaving; the logic and the input format are in
//! `fuzz/src/mutator_program/`, which `cargo test` also runs on the corpus.
//! `MUTATOR_PROGRAM_MODE=satb|incremental|hybrid` runs every input under one
//! barrier mode instead of the one its first byte names, and
//! `MUTATOR_PROGRAM_GENERATIONAL=1` makes every heap generational.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The seed builder and `run_all_modes` serve the corpus test only.
#[allow(dead_code)]
#[path = "../src/mutator_program/mod.rs"]
mod mutator_program;

fuzz_target!(|data: &[u8]| mutator_program::run(data));
