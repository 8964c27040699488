//! A small seeded PRNG for tests, benchmarks, examples and fuzz targets.
//!
//! [`Rng`] wraps [`rand_xoshiro::SplitMix64`], the Rand project's
//! implementation of Steele, Lea and Flood's SplitMix64, behind the handful of
//! methods the test programs use. SplitMix64 rather than xoshiro256++ (from
//! the same crate) or `fastrand`'s wyrand because it is the generator the
//! tests, benches and fuzz targets used before this crate existed: every fixed
//! seed still draws exactly the sequence it drew then, so a seed picked to hit
//! a case still hits it, proptest regression files and fuzz corpora decode to
//! the same programs, and the seed corpus files written from it stay
//! byte-for-byte the same. Its statistical quality (it passes BigCrush) is
//! ample for choosing operations and sizes; none of this is cryptographic.
//!
//! Bounded draws reduce modulo the bound ([`Rng::below`]), as the code they
//! replace did: the bias is at most `n / 2^64`, far below anything a test
//! could notice, and it keeps the sequences unchanged.

use rand_core::{Rng as _, SeedableRng as _};
use rand_xoshiro::SplitMix64;

/// A seeded, deterministic pseudo-random number generator (SplitMix64).
///
/// The same seed always gives the same sequence, on every platform.
///
/// ```
/// use tricolor_testkit::Rng;
///
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let roll = a.below(6);
/// assert!(roll < 6);
/// ```
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator whose state starts at `seed` (SplitMix64's state is the
    /// seed itself; nothing is hashed).
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// // The first output of SplitMix64 from state 0.
    /// assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    /// ```
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::seed_from_u64(seed))
    }

    /// The next 64 random bits.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(7);
    /// assert_ne!(rng.next_u64(), rng.next_u64());
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n`: the next 64 bits modulo `n`.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(1);
    /// assert!((0..100).all(|_| rng.below(10) < 10));
    /// ```
    pub fn below(&mut self, n: usize) -> usize {
        self.below_u64(n as u64) as usize
    }

    /// A number in `0..n`, as a `u64`: the next 64 bits modulo `n`.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(1);
    /// assert!(rng.below_u64(1 << 40) < 1 << 40);
    /// ```
    pub fn below_u64(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below: empty range");
        self.next_u64() % n
    }

    /// A number in `range`: its start plus [`below`](Rng::below) its length.
    ///
    /// # Panics
    /// If `range` is empty.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(3);
    /// let size = rng.range(16..128);
    /// assert!((16..128).contains(&size));
    /// ```
    pub fn range(&mut self, range: std::ops::Range<usize>) -> usize {
        assert!(!range.is_empty(), "Rng::range: empty range {range:?}");
        range.start + self.below(range.end - range.start)
    }

    /// A fair coin: `below(2) == 0`.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(5);
    /// let heads = (0..1000).filter(|_| rng.bool()).count();
    /// assert!((400..600).contains(&heads));
    /// ```
    pub fn bool(&mut self) -> bool {
        self.below(2) == 0
    }

    /// True with probability `1 / n`: `below(n) == 0`.
    ///
    /// # Panics
    /// If `n` is zero.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(5);
    /// assert!(rng.one_in(1));
    /// ```
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below_u64(n) == 0
    }

    /// True with probability `numerator / denominator`:
    /// `below(denominator) < numerator`. Draws a number even when the answer
    /// is certain, so the sequence does not depend on the probability.
    ///
    /// # Panics
    /// If `denominator` is zero.
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut rng = Rng::new(9);
    /// assert!(!rng.chance(0, 100));
    /// assert!(rng.chance(100, 100));
    /// let hits = (0..1000).filter(|_| rng.chance(15, 100)).count();
    /// assert!((100..200).contains(&hits));
    /// ```
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below_u64(denominator) < numerator
    }

    /// Shuffles `items` in place (Fisher–Yates, from the back: item `i` swaps
    /// with one at [`below`](Rng::below)`(i + 1)`).
    ///
    /// ```
    /// # use tricolor_testkit::Rng;
    /// let mut v: Vec<u32> = (0..10).collect();
    /// Rng::new(11).shuffle(&mut v);
    /// v.sort();
    /// assert_eq!(v, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// The SplitMix64 the tests used to carry, kept here to pin the sequence.
    fn reference(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn same_sequence_as_the_reference() {
        for seed in [0, 1, 0x5EED, 0xC0DE, u64::MAX, 0x5EED_0000] {
            let mut state = seed;
            let mut rng = Rng::new(seed);
            for _ in 0..1000 {
                assert_eq!(rng.next_u64(), reference(&mut state), "seed {seed:#x}");
            }
        }
    }

    #[test]
    fn bounded_draws_reduce_modulo() {
        let (mut a, mut b) = (Rng::new(77), Rng::new(77));
        for n in 1..500u64 {
            assert_eq!(a.below_u64(n), b.next_u64() % n);
            assert_eq!(a.bool(), b.next_u64() % 2 == 0);
            assert_eq!(a.chance(15, 100), b.next_u64() % 100 < 15);
        }
    }

    #[test]
    fn shuffle_matches_the_open_coded_loop() {
        let (mut a, mut b) = (Rng::new(5), Rng::new(5));
        let mut x: Vec<usize> = (0..64).collect();
        let mut y = x.clone();
        a.shuffle(&mut x);
        for i in (1..y.len()).rev() {
            y.swap(i, b.below(i + 1));
        }
        assert_eq!(x, y);
    }
}
