//! Helpers shared by the allocator's integration tests.
#![allow(dead_code)]

use std::ptr::NonNull;

/// A tiny deterministic PRNG (SplitMix64), so every test runs from a fixed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A size with a bias toward small objects, sometimes large.
    pub fn object_size(&mut self, max_large: usize) -> usize {
        match self.below(100) {
            0..=59 => 8 + self.below(120) as usize,
            60..=89 => 128 + self.below(2048) as usize,
            90..=97 => 2048 + self.below(30 * 1024) as usize,
            _ => 32 * 1024 + 1 + self.below((max_large - 32 * 1024) as u64) as usize,
        }
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
