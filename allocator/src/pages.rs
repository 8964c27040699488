//! Free-page bookkeeping of the page heap: free runs and dirty bits.
//!
//! Free runs are kept twice, in two ordered maps (B-trees): by address, to
//! coalesce a freed run with its neighbours in O(log n), and by (length,
//! address), to find the best fit for a request in O(log n): the shortest run
//! that is long enough, the lowest such address among equals, which keeps the
//! heap compact at low addresses the way Go's address-ordered allocator does.
//!
//! Dirty bits say which pages may hold non-zero data. Pages fresh from the OS
//! and pages the scavenger released read as zero and need no clearing when
//! handed out again. All of this is protected by the page-heap lock.

use std::collections::{BTreeMap, BTreeSet};

use bitvec::prelude::{bitbox, BitBox, Lsb0};

use crate::sizeclass::PAGE_SIZE;

/// The free runs of the page heap.
#[derive(Default)]
pub(crate) struct FreeRuns {
    by_addr: BTreeMap<usize, usize>,
    by_size: BTreeSet<(usize, usize)>,
    pages: usize,
}

impl FreeRuns {
    /// Free pages in total.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// Number of runs.
    pub(crate) fn len(&self) -> usize {
        self.by_addr.len()
    }

    fn insert(&mut self, base: usize, npages: usize) {
        self.by_addr.insert(base, npages);
        self.by_size.insert((npages, base));
        self.pages += npages;
    }

    fn remove(&mut self, base: usize, npages: usize) {
        self.by_addr.remove(&base);
        self.by_size.remove(&(npages, base));
        self.pages -= npages;
    }

    /// Takes `npages` from the best-fitting run; returns the base address.
    pub(crate) fn alloc(&mut self, npages: usize) -> Option<usize> {
        let &(len, base) = self.by_size.range((npages, 0)..).next()?;
        self.remove(base, len);
        if len > npages {
            self.insert(base + npages * PAGE_SIZE, len - npages);
        }
        Some(base)
    }

    /// Returns `[base, base + npages pages)` to the free set, merging with
    /// free neighbours for which `mergeable(left, right)` holds (the page heap
    /// only merges runs of the same arena).
    ///
    /// # Panics
    /// If the range overlaps a free run (pages freed twice).
    pub(crate) fn free(
        &mut self,
        mut base: usize,
        mut npages: usize,
        mergeable: impl Fn(usize, usize) -> bool,
    ) {
        let end = base + npages * PAGE_SIZE;
        if let Some((&lb, &ln)) = self.by_addr.range(..end).next_back() {
            assert!(
                lb + ln * PAGE_SIZE <= base,
                "pages {base:#x}..{end:#x} freed twice (overlap free run at {lb:#x})"
            );
            if lb + ln * PAGE_SIZE == base && mergeable(lb, base) {
                self.remove(lb, ln);
                base = lb;
                npages += ln;
            }
        }
        if let Some(&rn) = self.by_addr.get(&end) {
            if mergeable(base, end) {
                self.remove(end, rn);
                npages += rn;
            }
        }
        self.insert(base, npages);
    }

    /// Runs in descending address order.
    pub(crate) fn iter_desc(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.by_addr.iter().rev().map(|(&b, &n)| (b, n))
    }

    /// Checks the two indexes agree and no runs overlap or touch mergeably.
    pub(crate) fn check(&self, mergeable: impl Fn(usize, usize) -> bool) -> Result<(), String> {
        if self.by_addr.len() != self.by_size.len() {
            return Err("free-run indexes disagree in length".into());
        }
        let mut total = 0;
        let mut prev_end: Option<usize> = None;
        for (&b, &n) in &self.by_addr {
            if n == 0 || !self.by_size.contains(&(n, b)) {
                return Err(format!("free run {b:#x}+{n} missing from size index"));
            }
            if let Some(pe) = prev_end {
                if pe > b {
                    return Err(format!("free runs overlap at {b:#x}"));
                }
                if pe == b && mergeable(pe - PAGE_SIZE, b) {
                    return Err(format!("free runs at {b:#x} were not coalesced"));
                }
            }
            prev_end = Some(b + n * PAGE_SIZE);
            total += n;
        }
        if total != self.pages {
            return Err(format!(
                "free page count {} != sum of runs {total}",
                self.pages
            ));
        }
        Ok(())
    }
}

/// One bit per page of an arena: set if the page may hold non-zero bytes.
///
/// A plain bit array (only touched under the heap lock), so `bitvec`'s
/// word-at-a-time counting, filling and searching serve as they are.
pub(crate) struct DirtyBits {
    bits: BitBox<u64, Lsb0>,
}

impl DirtyBits {
    pub(crate) fn new(npages: usize) -> DirtyBits {
        DirtyBits {
            bits: bitbox![u64, Lsb0; 0; npages],
        }
    }

    /// Dirty pages in `first .. first + n`.
    pub(crate) fn count(&self, first: usize, n: usize) -> usize {
        self.bits[first..first + n].count_ones()
    }

    /// Sets or clears pages `first .. first + n`.
    pub(crate) fn set(&mut self, first: usize, n: usize, dirty: bool) {
        self.bits[first..first + n].fill(dirty);
    }

    /// Maximal dirty runs inside `first .. first + n`, highest first.
    pub(crate) fn runs_desc(&self, first: usize, n: usize) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut end = first + n;
        while let Some(last) = self.bits[first..end].last_one() {
            let hi = first + last + 1;
            let lo = self.bits[first..hi]
                .last_zero()
                .map_or(first, |z| first + z + 1);
            runs.push((lo, hi - lo));
            end = lo;
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: usize = PAGE_SIZE;

    #[test]
    fn best_fit_and_coalescing() {
        let mut f = FreeRuns::default();
        f.free(0, 10, |_, _| true);
        assert_eq!(f.alloc(3), Some(0));
        assert_eq!(f.alloc(3), Some(3 * P));
        f.free(0, 3, |_, _| true);
        // Runs: [0,3) and [6,10): best fit for 3 is the 3-page run.
        assert_eq!(f.alloc(3), Some(0));
        f.free(0, 3, |_, _| true);
        f.free(3 * P, 3, |_, _| true);
        assert_eq!(f.len(), 1, "all three runs merge into one");
        assert_eq!(f.pages(), 10);
        f.check(|_, _| true).unwrap();
    }

    #[test]
    fn does_not_merge_across_boundaries() {
        let mut f = FreeRuns::default();
        f.free(0, 4, |_, _| false);
        f.free(4 * P, 4, |_, _| false);
        assert_eq!(f.len(), 2);
        f.check(|_, _| false).unwrap();
    }

    #[test]
    #[should_panic(expected = "freed twice")]
    fn double_free_of_pages_panics() {
        let mut f = FreeRuns::default();
        f.free(0, 4, |_, _| true);
        f.free(2 * P, 1, |_, _| true);
    }

    proptest! {
        /// Random allocations and frees over a 256-page region agree with a
        /// page-by-page model: no page is handed out twice, every free page is
        /// findable, and the structure stays coalesced.
        #[test]
        fn free_runs_match_model(ops in proptest::collection::vec((1usize..20, any::<bool>(), any::<prop::sample::Index>()), 1..200)) {
            let mut f = FreeRuns::default();
            f.free(0, 256, |_, _| true);
            let mut used = vec![false; 256];
            let mut live: Vec<(usize, usize)> = Vec::new();
            for (n, do_free, pick) in ops {
                if do_free && !live.is_empty() {
                    let (b, n) = live.swap_remove(pick.index(live.len()));
                    used[b..b + n].iter_mut().for_each(|u| *u = false);
                    f.free(b * P, n, |_, _| true);
                } else if let Some(a) = f.alloc(n) {
                    let b = a / P;
                    for (p, u) in used.iter_mut().enumerate().skip(b).take(n) {
                        prop_assert!(!*u, "page {} handed out twice", p);
                        *u = true;
                    }
                    live.push((b, n));
                } else {
                    // No run fits: the model must agree that no n free pages
                    // are contiguous.
                    let longest = used.split(|&u| u).map(|r| r.len()).max().unwrap_or(0);
                    prop_assert!(longest < n);
                }
                prop_assert_eq!(f.pages(), used.iter().filter(|&&u| !u).count());
                f.check(|_, _| true).map_err(TestCaseError::fail)?;
            }
        }
    }

    proptest! {
        /// Dirty bits against a `Vec<bool>`: counts and maximal runs of any
        /// window agree, across word boundaries.
        #[test]
        fn dirty_bits_match_model(ops in proptest::collection::vec((0usize..300, 1usize..100, any::<bool>()), 0..40),
                                  first in 0usize..300, len in 0usize..300) {
            let mut d = DirtyBits::new(300);
            let mut model = vec![false; 300];
            for (at, n, dirty) in ops {
                let n = n.min(300 - at);
                d.set(at, n, dirty);
                model[at..at + n].iter_mut().for_each(|m| *m = dirty);
            }
            let n = len.min(300 - first);
            let window = &model[first..first + n];
            prop_assert_eq!(d.count(first, n), window.iter().filter(|&&m| m).count());
            let mut expect = Vec::new();
            let mut p = n;
            while p > 0 {
                p -= 1;
                if window[p] {
                    let end = p + 1;
                    while p > 0 && window[p - 1] {
                        p -= 1;
                    }
                    expect.push((first + p, end - p));
                }
            }
            prop_assert_eq!(d.runs_desc(first, n), expect);
        }
    }

    #[test]
    fn dirty_runs() {
        let mut d = DirtyBits::new(200);
        d.set(3, 4, true);
        d.set(70, 70, true);
        assert_eq!(d.count(0, 200), 74);
        assert_eq!(d.runs_desc(0, 200), vec![(70, 70), (3, 4)]);
        assert_eq!(d.runs_desc(5, 100), vec![(70, 35), (5, 2)]);
        d.set(70, 70, false);
        assert_eq!(d.count(0, 200), 4);
    }
}
