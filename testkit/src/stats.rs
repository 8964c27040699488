//! Quantiles, medians and histograms.
//!
//! Two kinds of figures, two kinds of helper:
//!
//! - **Distributions of many samples** (pause times, wake-up lateness): a
//!   [`Histogram`], an [HdrHistogram](https://hdrhistogram.github.io/HdrHistogram/)
//!   at three significant digits, so any quantile is within 0.1% of the
//!   sample's value whatever the count, with p50/p99/max in one [`Summary`]
//!   and power-of-two buckets for a printed histogram. Its quantiles are
//!   nearest-rank: the `q` quantile of `n` values is the `⌈q·n⌉`-th smallest
//!   (at least the first).
//! - **A handful of repetitions** (the median of 3 or 5 runs, the quartiles
//!   of per-round ratios): exact selection, [`median`], [`median_by_key`] and
//!   [`quartiles`], which return one of the values themselves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// p50, p99 and max of a distribution.
///
/// ```
/// use tricolor_testkit::{Histogram, Summary};
///
/// let h: Histogram = (1..=100).collect();
/// assert_eq!(h.summary(), Some(Summary { p50: 50, p99: 99, max: 100 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The median (nearest rank).
    pub p50: u64,
    /// The 99th percentile (nearest rank).
    pub p99: u64,
    /// The largest value, exactly.
    pub max: u64,
}

/// A histogram of `u64` samples (typically nanoseconds): an auto-resizing
/// HdrHistogram with three significant digits, and the exact maximum.
///
/// ```
/// use std::time::Duration;
/// use tricolor_testkit::Histogram;
///
/// let mut h = Histogram::new();
/// for ms in [3, 1, 2] {
///     h.record_duration(Duration::from_millis(ms));
/// }
/// assert_eq!(h.len(), 3);
/// assert_eq!(h.max(), 3_000_000);
/// // Within 0.1% of the true median, 2 ms.
/// assert!(h.quantile(0.5).abs_diff(2_000_000) <= 2_000);
/// ```
#[derive(Clone, Debug)]
pub struct Histogram {
    inner: hdrhistogram::Histogram<u64>,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            inner: hdrhistogram::Histogram::new(3)
                .expect("3 significant digits is a valid precision"),
            max: 0,
        }
    }

    /// Adds one sample. Values past the histogram's range (above `2^62`) are
    /// counted at its top.
    pub fn record(&mut self, value: u64) {
        if self.inner.record(value).is_err() {
            self.inner.saturating_record(value);
        }
        self.max = self.max.max(value);
    }

    /// Adds one duration, in nanoseconds.
    pub fn record_duration(&mut self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The number of samples.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The `q` quantile (`0.0..=1.0`), nearest rank; 0 when empty.
    ///
    /// ```
    /// # use tricolor_testkit::Histogram;
    /// let h: Histogram = [10, 20, 30, 40].into_iter().collect();
    /// assert_eq!(h.quantile(0.5), 20);
    /// assert_eq!(h.quantile(0.51), 30);
    /// assert_eq!(h.quantile(1.0), 40);
    /// assert_eq!(Histogram::new().quantile(0.5), 0);
    /// ```
    pub fn quantile(&self, q: f64) -> u64 {
        if self.is_empty() {
            return 0;
        }
        if q >= 1.0 {
            return self.max;
        }
        self.inner.value_at_quantile(q).min(self.max)
    }

    /// The `q` quantile of durations recorded in nanoseconds, in
    /// milliseconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tricolor_testkit::Histogram;
    /// let h: Histogram = [Duration::from_micros(1500)].into_iter().collect();
    /// assert_eq!(h.quantile_ms(0.99), 1.5);
    /// ```
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.quantile(q) as f64 / 1e6
    }

    /// The largest sample, exactly; 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// p50, p99 and max, or `None` when empty.
    pub fn summary(&self) -> Option<Summary> {
        (!self.is_empty()).then(|| Summary {
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: self.max,
        })
    }

    /// The samples counted in power-of-two buckets, from the lowest
    /// non-empty bucket to the highest: `(lower bound, count)`, bucket
    /// `[2^k, 2^(k+1))` (zero counts in the first). Empty when no sample was
    /// recorded. Exact: the histogram's own buckets never straddle a power
    /// of two.
    ///
    /// ```
    /// # use tricolor_testkit::Histogram;
    /// let h: Histogram = [1, 5, 6, 7, 40].into_iter().collect();
    /// assert_eq!(
    ///     h.log2_buckets(),
    ///     vec![(1, 1), (2, 0), (4, 3), (8, 0), (16, 0), (32, 1)]
    /// );
    /// ```
    pub fn log2_buckets(&self) -> Vec<(u64, u64)> {
        let mut counts = [0u64; 64];
        for v in self.inner.iter_recorded() {
            let value = v.value_iterated_to().max(1);
            counts[63 - value.leading_zeros() as usize] += v.count_at_value();
        }
        let (Some(lo), Some(hi)) = (
            counts.iter().position(|&n| n > 0),
            counts.iter().rposition(|&n| n > 0),
        ) else {
            return Vec::new();
        };
        (lo..=hi).map(|b| (1u64 << b, counts[b])).collect()
    }
}

impl Extend<u64> for Histogram {
    fn extend<I: IntoIterator<Item = u64>>(&mut self, iter: I) {
        for v in iter {
            self.record(v);
        }
    }
}

impl FromIterator<u64> for Histogram {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Histogram {
        let mut h = Histogram::new();
        h.extend(iter);
        h
    }
}

impl FromIterator<Duration> for Histogram {
    fn from_iter<I: IntoIterator<Item = Duration>>(iter: I) -> Histogram {
        let mut h = Histogram::new();
        for d in iter {
            h.record_duration(d);
        }
        h
    }
}

/// The median of `values`: the middle one once sorted, the upper of the two
/// middle ones for an even count.
///
/// # Panics
/// If `values` is empty.
///
/// ```
/// use tricolor_testkit::median;
///
/// assert_eq!(median(vec![3, 1, 2]), 2);
/// assert_eq!(median(vec![4, 1, 3, 2]), 3);
/// ```
pub fn median<T: Ord>(values: impl IntoIterator<Item = T>) -> T {
    let mut v: Vec<T> = values.into_iter().collect();
    assert!(!v.is_empty(), "the median of no values");
    v.sort_unstable();
    let mid = v.len() / 2;
    v.swap_remove(mid)
}

/// The value whose `key` is the median of the keys (the upper middle one
/// for an even count): for picking the median run of several, with all its
/// figures.
///
/// # Panics
/// If `values` is empty.
///
/// ```
/// use tricolor_testkit::median_by_key;
///
/// let runs = vec![("a", 30), ("b", 10), ("c", 20)];
/// assert_eq!(median_by_key(runs, |r| r.1), ("c", 20));
/// ```
pub fn median_by_key<T, K: Ord>(
    values: impl IntoIterator<Item = T>,
    mut key: impl FnMut(&T) -> K,
) -> T {
    let mut v: Vec<T> = values.into_iter().collect();
    assert!(!v.is_empty(), "the median of no values");
    v.sort_by_key(|x| key(x));
    let mid = v.len() / 2;
    v.swap_remove(mid)
}

/// The median and quartiles of `values`, each the value at the rounded rank
/// `q · (n - 1)` of the sorted values (so the median is the upper middle
/// value for an even count).
///
/// # Panics
/// If `values` is empty.
///
/// ```
/// use tricolor_testkit::stats::quartiles;
///
/// let q = quartiles(&[5.0, 1.0, 4.0, 2.0, 3.0]);
/// assert_eq!((q.p25, q.p50, q.p75), (2.0, 3.0, 4.0));
/// ```
pub fn quartiles(values: &[f64]) -> Quartiles {
    assert!(!values.is_empty(), "the quartiles of no values");
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Quartiles {
        p25: at(0.25),
        p50: at(0.5),
        p75: at(0.75),
    }
}

/// The result of [`quartiles`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quartiles {
    /// The first quartile.
    pub p25: f64,
    /// The median.
    pub p50: f64,
    /// The third quartile.
    pub p75: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest-rank quantile the benches computed on sorted values.
    fn nearest_rank(sorted: &[u64], p: f64) -> u64 {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i]
    }

    #[test]
    fn quantiles_match_nearest_rank_within_precision() {
        let mut rng = crate::Rng::new(1);
        let mut v: Vec<u64> = (0..5000).map(|_| rng.below_u64(50_000_000)).collect();
        let h: Histogram = v.iter().copied().collect();
        v.sort_unstable();
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let (got, want) = (h.quantile(q), nearest_rank(&v, q));
            assert!(
                got.abs_diff(want) <= want / 1000,
                "q {q}: {got} against {want}"
            );
        }
        assert_eq!(h.max(), *v.last().unwrap());
    }

    #[test]
    fn small_values_are_exact() {
        let v: Vec<u64> = (0..2000).rev().collect();
        let h: Histogram = v.iter().copied().collect();
        let mut sorted = v.clone();
        sorted.sort_unstable();
        for q in [0.1, 0.5, 0.99] {
            assert_eq!(h.quantile(q), nearest_rank(&sorted, q));
        }
    }

    #[test]
    fn log2_buckets_count_every_sample() {
        let mut rng = crate::Rng::new(2);
        let v: Vec<u64> = (0..3000).map(|_| 1 + rng.below_u64(1 << 30)).collect();
        let h: Histogram = v.iter().copied().collect();
        let mut want = [0u64; 64];
        for &x in &v {
            want[63 - x.leading_zeros() as usize] += 1;
        }
        for (lo, n) in h.log2_buckets() {
            assert_eq!(n, want[lo.trailing_zeros() as usize], "bucket {lo}");
        }
        assert_eq!(h.log2_buckets().iter().map(|b| b.1).sum::<u64>(), 3000);
    }

    #[test]
    fn medians() {
        assert_eq!(median([7]), 7);
        assert_eq!(median(vec![2u128, 9, 4, 1]), 4);
        let d = median_by_key(
            vec![Duration::from_millis(5), Duration::from_millis(1)],
            |d| *d,
        );
        assert_eq!(d, Duration::from_millis(5));
        let q = quartiles(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((q.p25, q.p50, q.p75), (2.0, 3.0, 3.0));
    }
}
