//! Fuzzes the allocator with programs of allocations, collection cycles,
//! sweeps, scavenges and cache operations; the logic and the input format are
//! in `fuzz/src/allocator_ops.rs`, which `cargo test` also runs on the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/allocator_ops.rs"]
mod allocator_ops;

fuzz_target!(|data: &[u8]| allocator_ops::run(data));
