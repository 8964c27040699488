//! The three algorithms as pure functions of one store.
//!
//! Each takes the value a store overwrote (`old`) and the value it wrote
//! (`new`), as addresses with 0 for null, and says which of them must be
//! shaded. They touch no state: the caller records what they return
//! ([`BarrierBuffer::record`](crate::BarrierBuffer::record)), and the
//! collector shades it when the buffer is flushed (§9). A null is never
//! returned: there is nothing to shade.

use crate::mode::BarrierMode;

/// The addresses one store must shade: none, one or two.
///
/// Iterating yields the overwritten value first, then the stored one; a
/// value is never yielded twice and null never at all.
///
/// ```
/// use tricolor_barriers::{satb, Shades};
///
/// assert_eq!(satb(0x40, 0x80).iter().collect::<Vec<_>>(), [0x40]);
/// assert_eq!(satb(0, 0x80), Shades::NONE);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shades {
    /// The overwritten value to shade, or 0.
    old: usize,
    /// The stored value to shade, or 0; never equal to a non-zero `old`.
    new: usize,
}

impl Shades {
    /// Nothing to shade.
    pub const NONE: Shades = Shades { old: 0, new: 0 };

    /// Shades `old` and `new`, skipping nulls and a repeat of the same
    /// address.
    #[inline]
    pub const fn of(old: usize, new: usize) -> Shades {
        Shades {
            old,
            new: if new == old { 0 } else { new },
        }
    }

    /// The overwritten value, if it must be shaded.
    #[inline]
    pub const fn old_value(self) -> Option<usize> {
        if self.old == 0 {
            None
        } else {
            Some(self.old)
        }
    }

    /// The stored value, if it must be shaded (and differs from the
    /// overwritten one).
    #[inline]
    pub const fn new_value(self) -> Option<usize> {
        if self.new == 0 {
            None
        } else {
            Some(self.new)
        }
    }

    /// Whether there is nothing to shade.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.old == 0 && self.new == 0
    }

    /// How many addresses there are to shade (0, 1 or 2).
    #[inline]
    pub const fn len(self) -> usize {
        (self.old != 0) as usize + (self.new != 0) as usize
    }

    /// The addresses to shade: the overwritten value first.
    #[inline]
    pub fn iter(self) -> impl Iterator<Item = usize> {
        self.old_value().into_iter().chain(self.new_value())
    }
}

impl IntoIterator for Shades {
    type Item = usize;
    type IntoIter = std::iter::Chain<std::option::IntoIter<usize>, std::option::IntoIter<usize>>;

    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.old_value().into_iter().chain(self.new_value())
    }
}

/// Snapshot-at-the-beginning, Yuasa's deletion barrier (§5): shade the
/// overwritten value.
///
/// ```
/// use tricolor_barriers::satb;
///
/// assert_eq!(satb(0x40, 0x80).old_value(), Some(0x40));
/// assert_eq!(satb(0x40, 0x80).new_value(), None);
/// ```
#[inline]
pub const fn satb(old: usize, new: usize) -> Shades {
    let _ = new;
    Shades::of(old, 0)
}

/// Incremental update, Dijkstra's insertion barrier (§4): shade the stored
/// value.
///
/// ```
/// use tricolor_barriers::incremental_update;
///
/// assert_eq!(incremental_update(0x40, 0x80).old_value(), None);
/// assert_eq!(incremental_update(0x40, 0x80).new_value(), Some(0x80));
/// ```
#[inline]
pub const fn incremental_update(old: usize, new: usize) -> Shades {
    let _ = old;
    Shades::of(0, new)
}

/// Go's hybrid barrier (§6): shade the overwritten value, and the stored
/// value too while the storing mutator's stack is grey (not yet scanned).
///
/// In Go's words, `shade(*slot); if current stack is grey: shade(ptr)`.
///
/// ```
/// use tricolor_barriers::hybrid;
///
/// assert_eq!(hybrid(0x40, 0x80, false).len(), 2);
/// assert_eq!(hybrid(0x40, 0x80, true).new_value(), None);
/// ```
#[inline]
pub const fn hybrid(old: usize, new: usize, stack_scanned: bool) -> Shades {
    Shades::of(old, if stack_scanned { 0 } else { new })
}

/// What `mode` records for one store of `new` over `old` by a mutator whose
/// stack is (`stack_scanned`) or is not yet scanned. [`BarrierMode::Off`]
/// records nothing; `stack_scanned` matters to [`BarrierMode::Hybrid`] only.
///
/// ```
/// use tricolor_barriers::{decide, BarrierMode, Shades};
///
/// assert_eq!(decide(BarrierMode::Off, 0x40, 0x80, false), Shades::NONE);
/// assert_eq!(decide(BarrierMode::IncrementalUpdate, 0x40, 0, false), Shades::NONE);
/// ```
#[inline]
pub const fn decide(mode: BarrierMode, old: usize, new: usize, stack_scanned: bool) -> Shades {
    match mode {
        BarrierMode::Off => Shades::NONE,
        BarrierMode::Satb => satb(old, new),
        BarrierMode::IncrementalUpdate => incremental_update(old, new),
        BarrierMode::Hybrid => hybrid(old, new, stack_scanned),
    }
}

/// The decision, as a method of the mode (it lives here so that `mode`
/// depends on nothing).
impl BarrierMode {
    /// What this mode records for one store of `new` over `old` (addresses,
    /// 0 for null) by a mutator whose stack is (`stack_scanned`) or is not
    /// yet scanned. Same as [`decide`](crate::decide()).
    ///
    /// ```
    /// use tricolor_barriers::BarrierMode;
    ///
    /// let s = BarrierMode::Hybrid.shades(0x10, 0x20, false);
    /// assert_eq!(s.iter().collect::<Vec<_>>(), [0x10, 0x20]);
    /// let s = BarrierMode::Hybrid.shades(0x10, 0x20, true);
    /// assert_eq!(s.iter().collect::<Vec<_>>(), [0x10]);
    /// ```
    #[inline]
    pub const fn shades(self, old: usize, new: usize, stack_scanned: bool) -> Shades {
        decide(self, old, new, stack_scanned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: Shades) -> Vec<usize> {
        s.into_iter().collect()
    }

    /// Every combination of null / distinct / equal values, every mode, both
    /// stack colours, against the table in the crate docs.
    #[test]
    fn the_table() {
        const A: usize = 0x1000;
        const B: usize = 0x2000;
        let stores = [(0, 0), (A, 0), (0, B), (A, B), (A, A)];
        for mode in BarrierMode::ALL {
            for scanned in [false, true] {
                for (old, new) in stores {
                    let want_old = match mode {
                        BarrierMode::Satb | BarrierMode::Hybrid => old,
                        _ => 0,
                    };
                    let want_new = match mode {
                        BarrierMode::IncrementalUpdate => new,
                        BarrierMode::Hybrid if !scanned => new,
                        _ => 0,
                    };
                    let mut want: Vec<usize> = [want_old, want_new]
                        .into_iter()
                        .filter(|&a| a != 0)
                        .collect();
                    want.dedup();
                    let got = decide(mode, old, new, scanned);
                    assert_eq!(
                        v(got),
                        want,
                        "{mode} old={old:#x} new={new:#x} scanned={scanned}"
                    );
                    assert_eq!(got, mode.shades(old, new, scanned));
                    assert_eq!(got.len(), want.len());
                    assert_eq!(got.is_empty(), want.is_empty());
                }
            }
        }
    }

    #[test]
    fn nulls_are_never_shaded() {
        for mode in BarrierMode::ALL {
            for scanned in [false, true] {
                assert!(decide(mode, 0, 0, scanned).is_empty());
                assert!(!v(decide(mode, 0, 8, scanned)).contains(&0));
                assert!(!v(decide(mode, 8, 0, scanned)).contains(&0));
            }
        }
    }

    #[test]
    fn shades_accessors() {
        let s = Shades::of(1, 2);
        assert_eq!((s.old_value(), s.new_value()), (Some(1), Some(2)));
        assert_eq!(v(s), [1, 2]);
        assert_eq!(s.iter().collect::<Vec<_>>(), [1, 2]);
        let s = Shades::of(3, 3);
        assert_eq!((s.old_value(), s.new_value(), s.len()), (Some(3), None, 1));
        let s = Shades::of(0, 4);
        assert_eq!((s.old_value(), s.new_value(), s.len()), (None, Some(4), 1));
        assert_eq!(Shades::default(), Shades::NONE);
        assert!(Shades::NONE.is_empty());
    }
}
