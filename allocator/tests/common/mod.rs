//! Helpers shared by the allocator's integration tests.
#![allow(dead_code)]

use std::ptr::NonNull;

/// The deterministic PRNG, so every test runs from a fixed seed.
#[allow(unused_imports)] // not every test draws random numbers
pub use tricolor_testkit::Rng;

/// A size with a bias toward small objects, sometimes large (up to
/// `max_large`).
pub fn object_size(rng: &mut Rng, max_large: usize) -> usize {
    match rng.below(100) {
        0..=59 => 8 + rng.below(120),
        60..=89 => 128 + rng.below(2048),
        90..=97 => 2048 + rng.below(30 * 1024),
        _ => 32 * 1024 + 1 + rng.below(max_large - 32 * 1024),
    }
}

/// Writes `tag` into the first and last word of an object of `size` bytes.
pub fn stamp(ptr: NonNull<u8>, size: usize, tag: u64) {
    let first = ptr.as_ptr() as *mut u64;
    // SAFETY (test): the allocator handed out at least `size` (≥ 8) bytes,
    // 8-aligned, that nobody else owns.
    unsafe {
        first.write(tag);
        if size >= 16 {
            first.add(size / 8 - 1).write(!tag);
        }
    }
}

/// Checks the words written by `stamp`.
pub fn check_stamp(ptr: NonNull<u8>, size: usize, tag: u64) -> bool {
    let first = ptr.as_ptr() as *const u64;
    // SAFETY (test): as in `stamp`; the object is live.
    unsafe { first.read() == tag && (size < 16 || first.add(size / 8 - 1).read() == !tag) }
}

/// Whether all `size` bytes at `ptr` are zero.
pub fn is_zeroed(ptr: NonNull<u8>, size: usize) -> bool {
    // SAFETY (test): a live object of at least `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), size) };
    bytes.iter().all(|&b| b == 0)
}

/// Whether the tests run under a sanitizer (`.ci/sanitize` sets
/// `TRICOLOR_UNDER_SANITIZER=1`). Sanitizers keep shadow memory for every
/// mapping they see, so resident-memory figures measure them, not the
/// allocator, and RSS assertions about untouched memory are skipped.
pub fn under_sanitizer() -> bool {
    std::env::var_os("TRICOLOR_UNDER_SANITIZER").is_some()
}
