//! Per-span object bitmaps (`alloc_bits`, `mark_bits`): one bit per object slot.
//!
//! A span holds at most [`MAX_OBJECTS_PER_SPAN`] objects, so every bitmap is a
//! fixed array of atomic words stored inline in the span's metadata: no
//! allocation when a span is made or recycled, and no pointer to swap.
//!
//! The words are atomics because mark bits are set by many marker threads at
//! once and must report whether *this* thread set the bit (test-and-set), which
//! is a `fetch_or` returning the old word.
//!
//! ## Why not `bitvec`
//!
//! The allocator uses `bitvec` for its plain bit arrays (the page heap's dirty
//! bits), but not here: `bitvec` (1.1) has no test-and-set on shared atomic
//! storage. `BitSlice<AtomicU64>::set_aliased(&self, i, true)` does a
//! `fetch_or` underneath but returns `()`, dropping the old bit.
//! `BitSlice::replace`, which returns the previous bit, takes `&mut self`,
//! which marker threads sharing a span cannot have. `BitRef::replace` needs a
//! mutable proxy (`&mut` again), and a proxy returns the bit it read when it
//! was made and writes back when dropped: two steps, not one atomic one. The
//! raw `BitPtr::replace` needs a `BitPtr<Mut>`, which a shared slice yields
//! only through the `unsafe` `BitPtr::to_mut`, whose precondition (the pointer
//! came from a `*mut`) does not hold. The plain load that skips the locked
//! read-modify-write when the bit is already set (`test_and_set`) and the
//! whole-word reads of the sweep and the allocation cache (`word`) would be
//! written around it anyway, so the few lines here stand on their own.
//!
//! ## Ordering
//!
//! All accesses are `Relaxed`: ordering between a marker and the objects it
//! marks comes from the grey queues, and between sweeper and allocator from
//! span ownership hand-off (a lock), never from the bits themselves.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::sizeclass::MAX_OBJECTS_PER_SPAN;

/// Words in a bitmap.
pub(crate) const BITMAP_WORDS: usize = MAX_OBJECTS_PER_SPAN / 64;

/// One bit per object slot of a span. Bits at and past the span's object
/// count are always zero.
#[doc(alias = "gcBits")]
pub struct GcBits {
    words: [AtomicU64; BITMAP_WORDS],
}

impl Default for GcBits {
    fn default() -> Self {
        GcBits {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl GcBits {
    /// Whether bit `i` is set.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64].load(Relaxed) & (1 << (i % 64)) != 0
    }

    /// Sets bit `i`; returns `true` if it was already set (test-and-set).
    #[inline]
    pub fn test_and_set(&self, i: usize) -> bool {
        let mask = 1 << (i % 64);
        let word = &self.words[i / 64];
        // A plain load first avoids a locked RMW when the bit is already set,
        // the common case for objects reached more than once.
        if word.load(Relaxed) & mask != 0 {
            return true;
        }
        word.fetch_or(mask, Relaxed) & mask != 0
    }

    /// Clears bit `i`.
    pub fn clear(&self, i: usize) {
        self.words[i / 64].fetch_and(!(1 << (i % 64)), Relaxed);
    }

    /// Clears bit `i`; returns `true` if this call cleared it (it was set).
    #[inline]
    pub fn test_and_clear(&self, i: usize) -> bool {
        let mask = 1 << (i % 64);
        self.words[i / 64].fetch_and(!mask, Relaxed) & mask != 0
    }

    /// Clears the bits of word `w` that are clear in `keep`, atomically:
    /// a bit another thread clears meanwhile stays clear.
    #[inline]
    pub(crate) fn and_word(&self, w: usize, keep: u64) {
        self.words[w].fetch_and(keep, Relaxed);
    }

    /// Word `w` (bits `64w .. 64w+64`).
    #[inline]
    pub fn word(&self, w: usize) -> u64 {
        self.words[w].load(Relaxed)
    }

    /// Number of set bits among the first `n`.
    pub fn count_ones(&self, n: usize) -> usize {
        let full = n / 64;
        let mut count: usize = self.words[..full]
            .iter()
            .map(|w| w.load(Relaxed).count_ones() as usize)
            .sum();
        if !n.is_multiple_of(64) {
            count += (self.words[full].load(Relaxed) & low_mask(n % 64)).count_ones() as usize;
        }
        count
    }

    /// Sets word `w` to `v`. For the span's owner (the sweep), not for
    /// bits other threads may be setting.
    #[inline]
    pub(crate) fn set_word(&self, w: usize, v: u64) {
        self.words[w].store(v, Relaxed);
    }

    /// Copies `other` into `self` (whole words covering `n` bits).
    pub fn copy_from(&self, other: &GcBits, n: usize) {
        for w in 0..n.div_ceil(64) {
            self.words[w].store(other.words[w].load(Relaxed), Relaxed);
        }
    }

    /// Clears all bits.
    pub fn clear_all(&self) {
        for w in &self.words {
            w.store(0, Relaxed);
        }
    }

    /// Indices of set bits among the first `n`, in order.
    pub fn iter_ones(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        (0..n.div_ceil(64)).flat_map(move |w| {
            let mut bits = self.words[w].load(Relaxed);
            if (w + 1) * 64 > n {
                bits &= low_mask(n % 64);
            }
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }
}

/// A mask of the low `n` bits, `0 < n < 64`.
#[inline]
pub(crate) fn low_mask(n: usize) -> u64 {
    debug_assert!(n > 0 && n < 64);
    (1u64 << n) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bitmap_matches_model(ops in proptest::collection::vec((0usize..MAX_OBJECTS_PER_SPAN, any::<bool>()), 0..300),
                                n in 1usize..=MAX_OBJECTS_PER_SPAN) {
            let bits = GcBits::default();
            let mut model = vec![false; MAX_OBJECTS_PER_SPAN];
            for (i, set) in ops {
                if set {
                    prop_assert_eq!(bits.test_and_set(i), model[i]);
                    model[i] = true;
                } else {
                    bits.clear(i);
                    model[i] = false;
                }
            }
            for (i, &m) in model.iter().enumerate() {
                prop_assert_eq!(bits.get(i), m);
            }
            prop_assert_eq!(bits.count_ones(n), model[..n].iter().filter(|&&b| b).count());
            let ones: Vec<usize> = bits.iter_ones(n).collect();
            let expect: Vec<usize> = (0..n).filter(|&i| model[i]).collect();
            prop_assert_eq!(ones, expect);
            let copy = GcBits::default();
            copy.copy_from(&bits, n);
            for (i, &m) in model.iter().enumerate().take(n) { prop_assert_eq!(copy.get(i), m); }
        }
    }
}
