//! The trigger controller: where in the runway the next concurrent mark
//! should start, learned from how the last one went.
//!
//! A fixed trigger ratio (start the mark after 70% of the runway, say) is
//! right for one workload at most. Whether a mark that starts there can
//! finish by the goal depends on how fast the mutators allocate compared
//! with how fast the background workers mark, and that ratio differs by
//! orders of magnitude between programs. When the mark starts too late, the
//! mutators pay: every byte they allocate past the trigger puts them in debt
//! to the mark, and they pay it off by marking themselves (assists) or by
//! waiting (parked assists). When it starts too early, cycles come more often
//! than GOGC asks for.
//!
//! This module moves the trigger after each mark, as the Go runtime did from
//! Go 1.5 to Go 1.17 (Austin Clements' "Go 1.5 concurrent garbage collector
//! pacing" design). It is pure policy: numbers in, a ratio out; the
//! collector measures the numbers ([`MarkReport`]) and the
//! [`Pacer`](crate::pacer::Pacer) applies the ratio.
//!
//! # The model
//!
//! All heap positions are fractions of the cycle's *runway* (`goal - live`,
//! in the pacer's units), so that `0` is the live heap the last mark left
//! and `1` is the goal:
//!
//! ```text
//! r   where the mark began (the trigger, or later if the cycle started late)
//! a   where the mark ended (≤ 1 if it made the goal; up to the hard limit if not)
//! u   the mutators' time lost to the mark (assist CPU + time parked in
//!     assists), as a share of the CPU available during the mark:
//!     assist_ns / (mark wall × cpus)
//! g   GOAL_UTILIZATION: the share of the CPU the background mark is meant
//!     to have (Go's 25%)
//! ```
//!
//! The background workers are counted as using exactly their share `g`:
//! they run at idle OS priority, so what they take beyond it came from idle
//! cores, and what they did not take was taken by the mutators. The mark's
//! total use is then `g + u`, and the mark used `(g + u) / g` times its
//! share. Had it used exactly its share, it would have got only `g / (g+u)`
//! as far per allocated byte, so the allocation it would have needed is
//! `(a - r) · (g + u) / g` runway fractions. The error is how far the ideal
//! start lies from where this mark started:
//!
//! ```text
//! error = (1 - r) - (1 + u / g) · (a - r)
//! ratio' = clamp(ratio + GAIN · error, MIN_RATIO, MAX_RATIO)
//! ```
//!
//! - A mark that needed no assists (`u = 0`) and ended before the goal
//!   (`a < 1`) gives `error = 1 - a > 0`: the next trigger moves later.
//! - A mark that ended exactly at the goal with no assists gives `0`: the
//!   trigger is where it should be.
//! - A mark that assisted (`u > 0`), or overshot the goal (`a > 1`), gives a
//!   negative error: the next trigger moves earlier, by more the more the
//!   mutators paid.
//!
//! The gain of 1/2 (Go's) damps the noise of one cycle; the error of one mark
//! moves the ratio half way to where that mark says it belongs.
//!
//! # Bounds
//!
//! The ratio stays in `[MIN_RATIO, MAX_RATIO]` = `[0.7, 0.95]`, Go's bounds
//! since Go 1.18. The upper bound keeps 5% of the runway for the mark in any
//! case.
//!
//! The lower bound protects peak memory. A mark that starts earlier runs
//! for more of the cycle, and everything the mutators allocate meanwhile is
//! allocated black: it counts as marked, so it raises the next goal, live or
//! not. We measured it on binary-trees (depth 18, one mutator, GOGC 100),
//! where the background worker cannot keep up from 0.7: with a floor of
//! 0.3 the controller settled near 0.45, the mutator thread spent about 15%
//! fewer cycles (no assists left) and the collector ran a third fewer
//! cycles, but the marked heap, and with it the goal and the peak RSS, grew
//! by about a quarter. With the floor at 0.7 the mutators assist instead, as
//! in Go. The trade between memory and collector CPU is GOGC's to make:
//! raise it to give the marks more runway.
//!
//! So in practice the controller moves the trigger *later* for programs
//! whose marks finish with runway to spare (fewer cycles for the same
//! GOGC), and back towards 0.7 as soon as a mark needs assists.
//!
//! # Which marks count
//!
//! Only marks that began at or past the trigger ([`MarkReport::paced`]):
//! a cycle forced early (`collect()`, gc-stress, a test) says nothing about
//! where the trigger should be. A cycle the collector does not drive to its
//! end (a [`CycleStepper`](crate::CycleStepper) cycle) is not reported
//! either: its length is the stepper's, not the mark's.

/// The share of the CPU the background mark is meant to use during a mark,
/// as in Go (`gcGoalUtilization`).
pub const GOAL_UTILIZATION: f64 = 0.25;

/// The earliest trigger, as a fraction of the runway (module docs,
/// "Bounds").
pub const MIN_RATIO: f64 = 0.7;

/// The latest trigger, as a fraction of the runway.
pub const MAX_RATIO: f64 = 0.95;

/// How far one mark's error moves the ratio.
pub const GAIN: f64 = 0.5;

/// What one concurrent mark looked like: the controller's input. Heap
/// sizes are in the pacer's units (slot bytes); the cycle's own plan (its
/// live heap, trigger and goal) comes from the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarkReport {
    /// The heap when marking began (after sweep termination).
    pub heap_at_start: u64,
    /// The heap when marking ended (at mark termination).
    pub heap_at_end: u64,
    /// Mutator time the mark took, in nanoseconds: the CPU time of mark
    /// assists plus the time mutators spent parked in assists, summed over
    /// mutators.
    pub assist_ns: u64,
    /// Wall time of the concurrent mark, in nanoseconds.
    pub mark_wall_ns: u64,
    /// CPUs available to the process.
    pub cpus: u32,
}

/// The plan the mark ran under: the pacer's live heap, trigger and goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkPlan {
    /// Live heap after the previous mark.
    pub live: u64,
    /// Where the cycle was due to start.
    pub trigger: u64,
    /// The heap size the mark was to finish by.
    pub goal: u64,
}

impl MarkReport {
    /// Whether the mark began at or past its trigger (module docs, "Which
    /// marks count").
    pub fn paced(&self, plan: &MarkPlan) -> bool {
        self.heap_at_start >= plan.trigger
    }

    /// The mutators' time lost to the mark as a share of the CPU available
    /// during it (`u` of the module docs).
    pub fn assist_utilization(&self) -> f64 {
        let available = self.mark_wall_ns.max(1) as f64 * f64::from(self.cpus.max(1));
        self.assist_ns as f64 / available
    }

    /// The controller's error for this mark under `plan` (module docs, "The
    /// model"), or `None` when the plan has no finite runway.
    pub fn error(&self, plan: &MarkPlan) -> Option<f64> {
        if plan.goal == crate::pacer::NEVER || plan.goal <= plan.live {
            return None;
        }
        let runway = (plan.goal - plan.live) as f64;
        let frac = |b: u64| b.saturating_sub(plan.live) as f64 / runway;
        let r = frac(self.heap_at_start);
        let a = frac(self.heap_at_end.max(self.heap_at_start));
        let relative = 1.0 + self.assist_utilization() / GOAL_UTILIZATION;
        Some((1.0 - r) - relative * (a - r))
    }
}

/// The next trigger ratio after a mark reported as `report` under `plan`,
/// from the current `ratio`: unchanged when the mark does not count (not
/// paced, or no finite runway).
///
/// ```
/// use tricolor_collector::trigger::{next_ratio, MarkPlan, MarkReport};
///
/// let plan = MarkPlan { live: 100, trigger: 170, goal: 200 };
/// // The mark began at the trigger, needed no assists, and ended at 180:
/// // 20% of the runway unused, so the trigger moves later, by half of that.
/// let calm = MarkReport { heap_at_start: 170, heap_at_end: 180, mark_wall_ns: 1_000, cpus: 2, ..Default::default() };
/// assert!((next_ratio(0.7, &calm, &plan) - 0.8).abs() < 1e-9);
/// // A mark that ended at the goal with the mutators assisting for a
/// // quarter of the CPU (the background's share): earlier again.
/// let assisted = MarkReport { heap_at_end: 200, assist_ns: 500, ..calm };
/// assert!(next_ratio(0.9, &assisted, &plan) < 0.9);
/// ```
pub fn next_ratio(ratio: f64, report: &MarkReport, plan: &MarkPlan) -> f64 {
    if !report.paced(plan) {
        return ratio;
    }
    match report.error(plan) {
        Some(error) if error.is_finite() => (ratio + GAIN * error).clamp(MIN_RATIO, MAX_RATIO),
        _ => ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pacer::{MIB, NEVER};
    use proptest::prelude::*;

    const PLAN: MarkPlan = MarkPlan {
        live: 100 * MIB,
        trigger: 170 * MIB,
        goal: 200 * MIB,
    };

    /// A mark under `PLAN` from `start` to `end` MiB, with the mutators
    /// losing `u` of two CPUs' time over a 100 ms mark.
    fn report(start: u64, end: u64, u: f64) -> MarkReport {
        let wall = 100_000_000u64;
        MarkReport {
            heap_at_start: start * MIB,
            heap_at_end: end * MIB,
            assist_ns: (u * wall as f64 * 2.0).round() as u64,
            mark_wall_ns: wall,
            cpus: 2,
        }
    }

    #[rustfmt::skip]
    const CASES: &[(&str, f64, u64, u64, f64, f64)] = &[
        // name, ratio, start MiB, end MiB, assist utilization, next ratio
        ("ends at the goal, no assists: stays", 0.8, 170, 200, 0.0, 0.8),
        ("ends early, no assists: later by half the slack", 0.7, 170, 180, 0.0, 0.8),
        // error = 0.3 - 0.4 = -0.1
        ("overshoots the goal: earlier", 0.8, 170, 210, 0.0, 0.75),
        // error = 0.3 - (1 + 0.25/0.25) * 0.3 = -0.3
        ("assists at the background's share: earlier", 0.9, 170, 200, 0.25, 0.75),
        // error = 0.3 - 3 * 0.3 = -0.6 → 0.6, below the floor
        ("assists at twice the share: clamped below", 0.9, 170, 200, 0.5, MIN_RATIO),
        ("clamped above", 0.9, 170, 171, 0.0, MAX_RATIO),
        // r = 0.9 (started late), a = 1: error = 0.1 - 0.1 = 0
        ("started late, ended at the goal", 0.7, 190, 200, 0.0, 0.7),
        ("heap shrank during the mark: counts as no growth", 0.7, 170, 150, 0.0, 0.85),
        ("forced below the trigger: ignored", 0.7, 120, 200, 0.5, 0.7),
    ];

    #[test]
    fn next_ratio_table() {
        for &(name, ratio, start, end, u, want) in CASES {
            let got = next_ratio(ratio, &report(start, end, u), &PLAN);
            assert!((got - want).abs() < 1e-9, "{name}: got {got}, want {want}");
        }
    }

    #[test]
    fn no_finite_runway_leaves_the_ratio() {
        let never = MarkPlan {
            live: 0,
            trigger: 0,
            goal: NEVER,
        };
        assert_eq!(next_ratio(0.7, &report(170, 300, 1.0), &never), 0.7);
        let empty = MarkPlan {
            live: 5,
            trigger: 5,
            goal: 5,
        };
        assert_eq!(next_ratio(0.6, &report(170, 300, 1.0), &empty), 0.6);
    }

    #[test]
    fn zero_wall_time_and_cpus_do_not_divide_by_zero() {
        let r = MarkReport {
            heap_at_start: 170 * MIB,
            heap_at_end: 200 * MIB,
            assist_ns: 10,
            mark_wall_ns: 0,
            cpus: 0,
        };
        let next = next_ratio(0.7, &r, &PLAN);
        assert!((MIN_RATIO..=MAX_RATIO).contains(&next), "{next}");
    }

    /// A workload that allocates `alloc` runway fractions per unit of
    /// background mark time, with a mark that takes `work` units: the
    /// mark needs `alloc * work` of the runway. Feeding the controller what
    /// such marks report must converge to starting that far before the goal,
    /// with no assists.
    #[test]
    fn converges_to_the_start_that_needs_no_assists() {
        for need in [0.03, 0.1, 0.2, 0.3, 0.45] {
            let mut ratio = 0.95;
            for _ in 0..60 {
                let plan = MarkPlan {
                    live: 100 * MIB,
                    trigger: 100 * MIB + (ratio * 100.0 * MIB as f64) as u64,
                    goal: 200 * MIB,
                };
                let room = 1.0 - ratio;
                // Short of room, the mutators assist to close the gap (the
                // mark ends at the goal); the assist share grows with the
                // shortfall.
                let (end, u) = if room >= need {
                    (ratio + need, 0.0)
                } else {
                    (1.0, GOAL_UTILIZATION * (need / room - 1.0))
                };
                let r = MarkReport {
                    heap_at_start: plan.trigger,
                    heap_at_end: 100 * MIB + (end * 100.0 * MIB as f64) as u64,
                    assist_ns: (u * 2e8) as u64,
                    mark_wall_ns: 100_000_000,
                    cpus: 2,
                };
                ratio = next_ratio(ratio, &r, &plan);
            }
            let want = (1.0 - need).clamp(MIN_RATIO, MAX_RATIO);
            assert!(
                (ratio - want).abs() < 0.01,
                "need {need}: ratio {ratio}, want {want}"
            );
        }
    }

    proptest! {
        #[test]
        fn ratio_stays_in_bounds(
            ratio in MIN_RATIO..=MAX_RATIO,
            live in 0..1u64 << 40,
            runway in 1..1u64 << 40,
            start in 0..1u64 << 41,
            end in 0..1u64 << 41,
            assist_ns in any::<u64>(),
            mark_wall_ns in any::<u64>(),
            cpus in any::<u32>(),
        ) {
            let plan = MarkPlan { live, trigger: live, goal: live + runway };
            let r = MarkReport { heap_at_start: start, heap_at_end: end, assist_ns, mark_wall_ns, cpus };
            let next = next_ratio(ratio, &r, &plan);
            prop_assert!((MIN_RATIO..=MAX_RATIO).contains(&next), "{next}");
        }

        /// More mutator time lost never moves the trigger later.
        #[test]
        fn more_assist_never_later(
            start in 170u64..=200,
            end in 170u64..=220,
            u in 0.0f64..2.0,
            extra in 0.0f64..2.0,
        ) {
            let a = next_ratio(0.7, &report(start, end, u), &PLAN);
            let b = next_ratio(0.7, &report(start, end, u + extra), &PLAN);
            prop_assert!(b <= a + 1e-12, "{a} -> {b}");
        }
    }
}
