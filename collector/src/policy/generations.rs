//! Minor or major: the generational policy (generation §2), a pure function
//! of the old generation's size and the pacer's settings.
//!
//! A major cycle is what finds dead old objects, so it comes when they may
//! be worth finding:
//!
//! 1. there was no major cycle yet (nothing is old);
//! 2. the old generation grew by [`GROWTH_SHARE`] of GOGC per cent since
//!    the last major cycle (measured from at least `min_heap`, so that a
//!    small heap does not collect majorly after every few promotions). The
//!    pacer caps a minor cycle's goal at the last major cycle's
//!    (`Pacer::end_minor_cycle`), so the minor cycles' runway is what the
//!    old generation leaves of it; this rule keeps at least a quarter;
//! 3. with a memory limit, the old generation reached [`LIMIT_SHARE`] of it:
//!    near the limit only a major cycle can give memory back;
//! 4. [`MAX_MINORS`] minor cycles ran in a row: finalizers of old objects,
//!    and weak references to them, wait at most that long.
//!
//! With GOGC off and no limit only rules 1 and 4 apply.
//!
//! The same module says when an object becomes old
//! ([`tenure_at_first_survival`]): at its second survival, unless most of
//! what was allocated before the last cycle survived it.

use super::pacer::PacerConfig;

/// When a generational heap's objects become old (generation §1):
/// [`Config::tenure`](crate::Config::tenure).
///
/// ```
/// use tricolor_collector::{Config, Heap, Tenure};
///
/// assert_eq!(Tenure::default(), Tenure::Adaptive);
/// assert_eq!("second".parse::<Tenure>(), Ok(Tenure::SecondSurvival));
/// let heap = Heap::new(Config { generational: true, tenure: Tenure::SecondSurvival, ..Config::default() });
/// # drop(heap);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tenure {
    /// Each cycle decides ([`tenure_at_first_survival`]): at the first
    /// survival when most of what was allocated before the last cycle
    /// survived it, else at the second.
    #[default]
    Adaptive,
    /// Every survivor is old after the cycle it survived: the fewest
    /// traces, and the most old garbage when survivors die soon after.
    FirstSurvival,
    /// An object is old at its second survival: what is merely alive when
    /// a cycle starts still dies young, for a second trace of what lives.
    SecondSurvival,
}

impl std::str::FromStr for Tenure {
    type Err = String;

    /// `adaptive`, `first` (or `1`), `second` (or `2`).
    fn from_str(s: &str) -> Result<Tenure, String> {
        match s.trim() {
            "adaptive" | "" => Ok(Tenure::Adaptive),
            "first" | "1" => Ok(Tenure::FirstSurvival),
            "second" | "2" => Ok(Tenure::SecondSurvival),
            other => Err(format!("expected adaptive, first or second, got {other:?}")),
        }
    }
}

impl Tenure {
    /// Whether the next cycle tenures at the first survival under this
    /// setting; `first_survivors` and `allocated` as for
    /// [`tenure_at_first_survival`].
    pub fn first(self, first_survivors: u64, allocated: u64) -> bool {
        match self {
            Tenure::Adaptive => tenure_at_first_survival(first_survivors, allocated),
            Tenure::FirstSurvival => true,
            Tenure::SecondSurvival => false,
        }
    }
}

/// Tenuring: the least share of the bytes allocated between two cycles
/// that must survive the second, marked for the first time, for the cycle
/// after it to make every survivor old at once (in halves: 1, a half).
/// Below it an object is old at its second survival (generation §1).
pub const TENURE_FIRST_SHARE_HALVES: u64 = 1;

/// Tenuring: the least bytes allocated between two cycles for their
/// survival rate to count; below it, objects age as usual.
pub const TENURE_MIN_ALLOCATED: u64 = 1 << 20;

/// Whether the next cycle should make an object old at its first survival
/// rather than its second (generation §1): when most of what was
/// allocated before the last cycle survived it, survivors mostly live on,
/// and a second trace of each before it is old buys nothing.
/// `first_survivors` is what the last cycle's sweep found marked for the
/// first time (bytes), `allocated` the bytes allocated between the cycle
/// before it and its end.
///
/// ```
/// use tricolor_collector::policy::generations::tenure_at_first_survival;
///
/// let mib = 1 << 20;
/// assert!(tenure_at_first_survival(60 * mib, 100 * mib), "most survived");
/// assert!(!tenure_at_first_survival(10 * mib, 100 * mib), "most died young");
/// assert!(!tenure_at_first_survival(1000, 2000), "too little to tell");
/// ```
pub fn tenure_at_first_survival(first_survivors: u64, allocated: u64) -> bool {
    allocated >= TENURE_MIN_ALLOCATED
        && u128::from(first_survivors) * 2
            >= u128::from(allocated) * u128::from(TENURE_FIRST_SHARE_HALVES)
}

/// Rule 2: the share of GOGC's growth the old generation may grow by
/// before the next cycle is major, in quarters (3: three quarters).
pub const GROWTH_SHARE: u64 = 3;

/// Rule 3: the share of the memory limit the old generation may reach
/// before the next cycle is major.
pub const LIMIT_SHARE: f64 = 0.75;

/// Rule 4: the most minor cycles in a row.
pub const MAX_MINORS: u32 = 64;

/// Whether the next cycle should be major, given the old generation's size
/// now (`old`, bytes), after the last major cycle (`old_after_major`; 0 if
/// there was none), and the minor cycles since (`minors`).
///
/// ```
/// use tricolor_collector::policy::{generations::next_is_major, PacerConfig};
///
/// let p = PacerConfig::default().with_gogc(Some(100));
/// let mib = 1 << 20;
/// assert!(next_is_major(&p, 0, 0, 0), "no major cycle yet");
/// assert!(!next_is_major(&p, 150 * mib, 100 * mib, 3), "grew 50%: minor");
/// assert!(next_is_major(&p, 175 * mib, 100 * mib, 3), "grew 75%: major");
/// ```
pub fn next_is_major(config: &PacerConfig, old: u64, old_after_major: u64, minors: u32) -> bool {
    if old_after_major == 0 {
        return true;
    }
    if minors >= MAX_MINORS {
        return true;
    }
    if let Some(limit) = config.memory_limit {
        if old as f64 >= LIMIT_SHARE * limit as f64 {
            return true;
        }
    }
    if let Some(gogc) = config.gogc {
        let base = old_after_major.max(config.min_heap);
        let growth = u128::from(base) * u128::from(gogc) * u128::from(GROWTH_SHARE) / 400;
        let grown = base.saturating_add(u64::try_from(growth).unwrap_or(u64::MAX));
        if old >= grown {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    struct Case {
        what: &'static str,
        gogc: Option<u32>,
        limit: Option<u64>,
        old: u64,
        old_after_major: u64,
        minors: u32,
        major: bool,
    }

    #[test]
    fn tenuring_table() {
        // (first survivors, allocated, tenure at the first survival)
        let cases = [
            (0, 0, false),
            (0, 100 * MIB, false),
            (49 * MIB, 100 * MIB, false),
            (50 * MIB, 100 * MIB, true),
            (100 * MIB, 100 * MIB, true),
            (150 * MIB, 100 * MIB, true), // allocated black during the mark counts too
            (MIB / 2, MIB - 1, false),    // under the minimum
            (MIB / 2, MIB, true),
            (u64::MAX, u64::MAX, true),
        ];
        for (first, allocated, tenure) in cases {
            assert_eq!(
                tenure_at_first_survival(first, allocated),
                tenure,
                "{first} of {allocated}"
            );
        }
    }

    #[test]
    fn the_table() {
        let cases = [
            Case {
                what: "first cycle",
                gogc: Some(100),
                limit: None,
                old: 0,
                old_after_major: 0,
                minors: 0,
                major: true,
            },
            Case {
                what: "no major yet, some old",
                gogc: Some(100),
                limit: None,
                old: 9 * MIB,
                old_after_major: 0,
                minors: 2,
                major: true,
            },
            Case {
                what: "no growth",
                gogc: Some(100),
                limit: None,
                old: 100 * MIB,
                old_after_major: 100 * MIB,
                minors: 1,
                major: false,
            },
            Case {
                what: "grew 74%",
                gogc: Some(100),
                limit: None,
                old: 174 * MIB,
                old_after_major: 100 * MIB,
                minors: 1,
                major: false,
            },
            Case {
                what: "grew 75%",
                gogc: Some(100),
                limit: None,
                old: 175 * MIB,
                old_after_major: 100 * MIB,
                minors: 1,
                major: true,
            },
            Case {
                what: "GOGC 50, grew 37.5%",
                gogc: Some(50),
                limit: None,
                old: 137 * MIB + MIB / 2,
                old_after_major: 100 * MIB,
                minors: 1,
                major: true,
            },
            Case {
                what: "GOGC 200, grew 149%",
                gogc: Some(200),
                limit: None,
                old: 249 * MIB,
                old_after_major: 100 * MIB,
                minors: 1,
                major: false,
            },
            Case {
                what: "small heap: measured from min_heap (4 MiB)",
                gogc: Some(100),
                limit: None,
                old: 6 * MIB,
                old_after_major: MIB,
                minors: 1,
                major: false,
            },
            Case {
                what: "small heap past 1.75 x min_heap",
                gogc: Some(100),
                limit: None,
                old: 7 * MIB,
                old_after_major: MIB,
                minors: 1,
                major: true,
            },
            Case {
                what: "near the limit",
                gogc: Some(100),
                limit: Some(400 * MIB),
                old: 300 * MIB,
                old_after_major: 290 * MIB,
                minors: 1,
                major: true,
            },
            Case {
                what: "under the limit's share",
                gogc: Some(100),
                limit: Some(400 * MIB),
                old: 299 * MIB,
                old_after_major: 290 * MIB,
                minors: 1,
                major: false,
            },
            Case {
                what: "GOGC off, no limit",
                gogc: None,
                limit: None,
                old: 900 * MIB,
                old_after_major: 100 * MIB,
                minors: 5,
                major: false,
            },
            Case {
                what: "too many minors",
                gogc: Some(100),
                limit: None,
                old: 100 * MIB,
                old_after_major: 100 * MIB,
                minors: MAX_MINORS,
                major: true,
            },
            Case {
                what: "one short of too many",
                gogc: Some(100),
                limit: None,
                old: 100 * MIB,
                old_after_major: 100 * MIB,
                minors: MAX_MINORS - 1,
                major: false,
            },
        ];
        for c in cases {
            let mut p = PacerConfig::default().with_gogc(c.gogc);
            p.memory_limit = c.limit;
            assert_eq!(
                next_is_major(&p, c.old, c.old_after_major, c.minors),
                c.major,
                "{}",
                c.what
            );
        }
    }
}
