//! The pacer: when to collect, and how far the heap may grow.
//!
//! The pacer is pure policy. It owns no threads, reads no clocks and performs
//! no I/O; every decision is a function of a handful of byte counts and the
//! [`PacerConfig`]. The collector feeds it one number per cycle (the bytes
//! found live by marking) and asks it one question per allocation slow path
//! ("given the heap is this big now, what must I do?").
//!
//! It answers three things:
//!
//! 1. the **goal**: the heap size the next cycle should finish by,
//! 2. the **trigger**: the heap size at which the next cycle should start,
//! 3. a per-allocation [`Decision`]: keep allocating, start a cycle, or block
//!    until the running cycle finishes because the heap is well past its goal.
//!
//! # Vocabulary
//!
//! ```text
//! live      bytes marked reachable by the cycle that just finished
//! runway    goal - live: how much the mutators may allocate before the goal
//! step      MIN_TRIGGER_STEP = 64 KiB
//! headroom  max(live / 16, 1 MiB)          (see `limit_headroom`)
//! ```
//!
//! # The goal
//!
//! The goal combines a *proportional* part, driven by GOGC, with an optional
//! soft *memory limit*:
//!
//! ```text
//! proportional = max(live + floor(live * GOGC / 100), min_heap, live + step)   GOGC = n
//! proportional = ∞                                                              GOGC = off
//!
//! goal = proportional                                    no memory limit
//! goal = min(proportional, max(limit, live + headroom))  memory limit set
//! ```
//!
//! `∞` is represented by [`NEVER`] (`u64::MAX`). All arithmetic saturates, so
//! a goal that would overflow also becomes `NEVER`; no real heap gets near
//! 16 EiB, so treating a saturated goal as "never" is harmless.
//!
//! - **GOGC = n** lets the heap grow by n% of the live heap before the next
//!   cycle: the default of 100 lets the heap double.
//! - **GOGC = 0** means "collect as often as is sane": the proportional term
//!   is just `live`, so the goal is `max(live + step, min_heap)`. Every cycle
//!   still allows at least 64 KiB of allocation, so an allocating mutator is
//!   never asked to collect again immediately after a cycle that freed
//!   nothing.
//! - **`min_heap`** keeps small heaps from collecting over and over: the
//!   proportional goal never drops below it (4 MiB by default). Unlike Go,
//!   which scales its heap minimum by GOGC/100, the floor here is absolute;
//!   set `min_heap = 0` to get collections on every small heap.
//! - **GOGC = off** removes the proportional goal. With a memory limit the
//!   goal is simply the limit; without one it is [`NEVER`] and the collector
//!   never starts a cycle on its own.
//! - **The memory limit** caps the goal, also below `min_heap`. It is soft:
//!   it never pushes the goal below `live + headroom`, because a goal at or
//!   just above the live heap would make the collector mark the entire heap
//!   to reclaim almost nothing, over and over (a death spiral). With a
//!   headroom of at least `live / 16`, each cycle (which costs time
//!   proportional to `live`) buys at least `live / 16` bytes of allocation,
//!   so collection work stays bounded at about 16 marked bytes per allocated
//!   byte however hopeless the limit is; the 1 MiB minimum does the same job
//!   for tiny heaps. A limit never *raises* the goal, though: a proportional
//!   goal below `live + headroom` (GOGC = 0, say) is kept. Whenever the goal
//!   ends up above the limit, [`CycleGoal::over_limit`] is set so the
//!   embedder can report it; this always happens once `live` alone exceeds
//!   the limit. Mutators only block at the hard limit (below), so the heap
//!   may also exceed a limit-bound goal by `hard_ratio`.
//!
//! # The trigger
//!
//! ```text
//! trigger = live + clamp(round(runway * trigger_ratio), step, runway)
//! ```
//!
//! A stop-the-world collector uses `trigger_ratio = 1.0` and starts a cycle
//! when the heap reaches the goal. A concurrent collector starts earlier (for
//! example [`CONCURRENT_TRIGGER_RATIO`] = 0.7) so that marking can finish
//! while the mutators use up the rest of the runway. The trigger is always at
//! least one `step` above `live`, so a tiny runway does not trigger a cycle
//! on every allocation. When the goal is [`NEVER`], so is the trigger.
//!
//! # The hard limit and [`Decision`]
//!
//! ```text
//! hard_limit = round(goal * hard_ratio)            (saturating; NEVER stays NEVER)
//!
//! heap >= hard_limit  →  Block
//! heap >= trigger     →  StartCycle
//! otherwise           →  Continue
//! ```
//!
//! A threshold equal to [`NEVER`] is never reached, so a pacer with GOGC off
//! and no memory limit always answers [`Decision::Continue`].
//!
//! The default `hard_ratio` is [`DEFAULT_HARD_RATIO`] = 1.1: mutators may
//! overshoot the goal by 10% before they are stopped. That bounds peak heap
//! use at 1.1 × goal, while leaving a concurrent cycle some slack to finish
//! marking when allocation briefly outpaces it, instead of stalling every
//! mutator the moment the goal is crossed. Go's pacer has long tolerated the
//! same 10% overshoot before it treats a cycle as hopelessly behind. For a
//! stop-the-world collector (trigger = goal) the band between the goal and
//! the hard limit is where the mutator that hit the trigger runs the
//! collection while others may still finish small allocations. A value of
//! 1.0 blocks exactly at the goal.
//!
//! [`Decision::Block`] implies [`Decision::StartCycle`]: if no cycle is
//! running when a mutator is told to block, it must start one and then wait
//! for it.
//!
//! Ratios are applied exactly: the byte count is multiplied by the binary
//! value of the `f64` ratio in integer arithmetic and rounded to the nearest
//! byte (halves up), so large byte counts are not rounded through `f64`.
//! Out-of-range ratios are clamped when used (see
//! [`PacerConfig::effective_trigger_ratio`] and
//! [`PacerConfig::effective_hard_ratio`]); the config is stored as given.
//!
//! # Invariants
//!
//! For every config and every `live`, [`CycleGoal::compute`] guarantees
//! (and the tests check, with random configs):
//!
//! 1. `live <= trigger <= goal <= hard_limit`;
//! 2. `goal >= live + step` (saturating), and `trigger >= live + step` when
//!    the goal is finite, so the heap right after a cycle gets
//!    [`Decision::Continue`];
//! 3. `goal >= min(min_heap, memory_limit)`, where a missing limit counts as
//!    `∞`;
//! 4. with a memory limit, `goal <= max(limit, live + headroom)`, and
//!    `over_limit` holds exactly when `goal > limit`;
//! 5. goal, trigger and hard limit never decrease when `live`, GOGC (off
//!    counts as `∞`), the memory limit (none counts as `∞`) or `min_heap`
//!    increase;
//! 6. with GOGC off and no memory limit, goal and trigger are [`NEVER`].
//!
//! # After a generational minor cycle
//!
//! A minor cycle cannot tell dead old objects from live ones, so the heap
//! it leaves (`live` above: the old generation, dead old objects included,
//! plus what it marked) may hold garbage only a major cycle finds. Planning
//! from it alone would let the heap double on top of that garbage, cycle
//! after cycle. So [`Pacer::end_minor_cycle`] plans as usual from `live`
//! and then caps the goal at the goal the last major cycle's live heap
//! (`base`) gives, never below `live + step`:
//!
//! ```text
//! goal    = min(goal(live), max(goal(base), live + step))
//! trigger = live + trigger_ratio * (goal - live)        as above
//! ```
//!
//! The heap then peaks about where a non-generational heap would, and the
//! runway of the minor cycles shrinks as the old generation fills; the
//! generational policy (`policy::generations`) makes the next cycle major
//! before it falls under a quarter of the major cycle's.
//!
//! # Changing GOGC and the limit at run time
//!
//! [`Pacer::set_gogc`] and [`Pacer::set_memory_limit`] (behind
//! `Heap::set_gc_percent` and `Heap::set_memory_limit`, Go's
//! `debug.SetGCPercent` and `debug.SetMemoryLimit`) replace one setting,
//! return the previous one, and re-plan at once from the live heap of the
//! last cycle, by the formulas above: the new goal, trigger and hard limit
//! hold from the next [`decide`](Pacer::decide). A heap that is already at
//! or past the new trigger gets [`Decision::StartCycle`] (past the new
//! hard limit, [`Decision::Block`]); the heap asks for a cycle right away
//! when that happens rather than waiting for the next allocation report,
//! since a mutator reports only every 64 KiB and one that does not
//! allocate never reports.
//!
//! # The near-limit watch
//!
//! A [`LimitWatch`] compares the live heap after each cycle with a fraction
//! of the memory limit and reports each *upward crossing* once:
//!
//! ```text
//! threshold = round(limit * fraction)
//! report    = live >= threshold  and  live after the previous cycle < its threshold
//! ```
//!
//! A cycle that ends below the threshold re-arms the watch; so does a cycle
//! with no limit set (nothing is reported without a limit). The fraction is
//! used like the ratios above: NaN counts as 1, a negative fraction as 0.
//!
//! # Environment
//!
//! [`PacerConfig::from_env`] overrides a base config with two variables:
//!
//! - `TRICOLOR_GOGC`: a non-negative integer percentage, or `off`
//!   (see [`parse_gogc`]);
//! - `TRICOLOR_MEMORY_LIMIT`: a byte count with an optional unit, or `off`
//!   (see [`parse_bytes`] and [`parse_memory_limit`]).
//!
//! An unset or empty variable leaves the base value alone; a malformed one is
//! reported as a [`PacerConfigError`] naming the variable and the problem.

use std::error::Error;
use std::fmt;

/// One kibibyte: 1024 bytes.
pub const KIB: u64 = 1 << 10;
/// One mebibyte: 1024 KiB.
pub const MIB: u64 = 1 << 20;
/// One gibibyte: 1024 MiB.
pub const GIB: u64 = 1 << 30;
/// One tebibyte: 1024 GiB.
pub const TIB: u64 = 1 << 40;

/// The sentinel for "unreachable": a goal, trigger or hard limit equal to
/// `u64::MAX` is never reached by [`CycleGoal::decide`].
pub const NEVER: u64 = u64::MAX;

/// The default GOGC percentage: the heap may double between cycles.
pub const DEFAULT_GOGC: u32 = 100;

/// The default smallest proportional goal (4 MiB, like Go's heap minimum).
pub const DEFAULT_MIN_HEAP: u64 = 4 * MIB;

/// The default trigger ratio, suited to a stop-the-world collector: start
/// the cycle when the heap reaches the goal.
pub const DEFAULT_TRIGGER_RATIO: f64 = 1.0;

/// A trigger ratio suited to a concurrent collector: start the cycle after
/// 70% of the runway, leaving the rest for allocation during marking.
pub const CONCURRENT_TRIGGER_RATIO: f64 = 0.7;

/// The default hard ratio: mutators block once the heap exceeds the goal by
/// 10%.
pub const DEFAULT_HARD_RATIO: f64 = 1.1;

/// The smallest runway any goal allows, and the smallest distance between
/// the live heap and the trigger: 64 KiB.
pub const MIN_TRIGGER_STEP: u64 = 64 * KIB;

/// The smallest headroom above the live heap that a memory limit can impose:
/// 1 MiB.
pub const MIN_LIMIT_HEADROOM: u64 = MIB;

/// The headroom above the live heap that a memory limit can impose, as a
/// fraction of the live heap: `live / 16`.
pub const LIMIT_HEADROOM_DIVISOR: u64 = 16;

/// The environment variable read for [`PacerConfig::gogc`].
pub const GOGC_VAR: &str = "TRICOLOR_GOGC";

/// The environment variable read for [`PacerConfig::memory_limit`].
pub const MEMORY_LIMIT_VAR: &str = "TRICOLOR_MEMORY_LIMIT";

/// The pacer's tunables.
///
/// Build one with [`PacerConfig::new`] (the defaults) or
/// [`PacerConfig::concurrent`], then adjust fields directly or with the
/// `with_*` builders.
#[derive(Debug, Clone, PartialEq)]
pub struct PacerConfig {
    /// The GOGC percentage: how much the heap may grow, relative to the live
    /// heap, before the next cycle. `None` ("off") disables the proportional
    /// goal. Default: `Some(100)`.
    pub gogc: Option<u32>,
    /// A soft limit on heap bytes. `None` means no limit. Default: `None`.
    pub memory_limit: Option<u64>,
    /// The smallest proportional goal, in bytes. Default: 4 MiB.
    pub min_heap: u64,
    /// The fraction of the runway (`goal - live`) after which the next cycle
    /// is triggered, in `[0, 1]`. Default: 1.0 (start at the goal).
    pub trigger_ratio: f64,
    /// The heap size, as a multiple of the goal (at least 1), at which
    /// allocating mutators must block until the cycle finishes. Default: 1.1.
    pub hard_ratio: f64,
}

impl PacerConfig {
    /// The default configuration: GOGC 100, no memory limit, a 4 MiB minimum
    /// heap, trigger ratio 1.0 and hard ratio 1.1.
    pub const fn new() -> Self {
        Self {
            gogc: Some(DEFAULT_GOGC),
            memory_limit: None,
            min_heap: DEFAULT_MIN_HEAP,
            trigger_ratio: DEFAULT_TRIGGER_RATIO,
            hard_ratio: DEFAULT_HARD_RATIO,
        }
    }

    /// The defaults, with the trigger at [`CONCURRENT_TRIGGER_RATIO`] of the
    /// runway.
    pub const fn concurrent() -> Self {
        Self::new().with_trigger_ratio(CONCURRENT_TRIGGER_RATIO)
    }

    /// Returns this config with [`gogc`](Self::gogc) replaced.
    #[must_use]
    pub const fn with_gogc(self, gogc: Option<u32>) -> Self {
        Self { gogc, ..self }
    }

    /// Returns this config with [`memory_limit`](Self::memory_limit)
    /// replaced.
    #[must_use]
    pub const fn with_memory_limit(self, memory_limit: Option<u64>) -> Self {
        Self {
            memory_limit,
            ..self
        }
    }

    /// Returns this config with [`min_heap`](Self::min_heap) replaced.
    #[must_use]
    pub const fn with_min_heap(self, min_heap: u64) -> Self {
        Self { min_heap, ..self }
    }

    /// Returns this config with [`trigger_ratio`](Self::trigger_ratio)
    /// replaced.
    #[must_use]
    pub const fn with_trigger_ratio(self, trigger_ratio: f64) -> Self {
        Self {
            trigger_ratio,
            ..self
        }
    }

    /// Returns this config with [`hard_ratio`](Self::hard_ratio) replaced.
    #[must_use]
    pub const fn with_hard_ratio(self, hard_ratio: f64) -> Self {
        Self { hard_ratio, ..self }
    }

    /// The trigger ratio actually used: NaN falls back to
    /// [`DEFAULT_TRIGGER_RATIO`], anything else is clamped to `[0, 1]`.
    pub fn effective_trigger_ratio(&self) -> f64 {
        if self.trigger_ratio.is_nan() {
            DEFAULT_TRIGGER_RATIO
        } else {
            self.trigger_ratio.clamp(0.0, 1.0)
        }
    }

    /// The hard ratio actually used: NaN falls back to
    /// [`DEFAULT_HARD_RATIO`], values below 1 are raised to 1, and positive
    /// infinity is kept (mutators then never block).
    pub fn effective_hard_ratio(&self) -> f64 {
        if self.hard_ratio.is_nan() {
            DEFAULT_HARD_RATIO
        } else {
            self.hard_ratio.max(1.0)
        }
    }

    /// `base`, overridden by the `TRICOLOR_GOGC` and `TRICOLOR_MEMORY_LIMIT`
    /// process environment variables.
    ///
    /// Values that are not valid Unicode are read lossily and then rejected
    /// by the parser. See [`from_env_with`](Self::from_env_with) for the
    /// rules.
    ///
    /// # Errors
    ///
    /// A [`PacerConfigError`] if either variable is set to a malformed value.
    pub fn from_env(base: Self) -> Result<Self, PacerConfigError> {
        Self::from_env_with(base, |name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// `base`, overridden by the variables that `lookup` returns.
    ///
    /// `lookup` maps a variable name to its value, or `None` when unset.
    /// [`GOGC_VAR`] is parsed with [`parse_gogc`] and replaces
    /// [`gogc`](Self::gogc); [`MEMORY_LIMIT_VAR`] is parsed with
    /// [`parse_memory_limit`] and replaces
    /// [`memory_limit`](Self::memory_limit). A variable that is unset, empty
    /// or only whitespace leaves the field alone. The other fields are
    /// always taken from `base`.
    ///
    /// # Errors
    ///
    /// A [`PacerConfigError`] naming the first malformed variable (GOGC is
    /// checked first), its value and the reason.
    pub fn from_env_with(
        base: Self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PacerConfigError> {
        let mut config = base;
        if let Some(value) = non_empty(lookup(GOGC_VAR)) {
            config.gogc = parse_gogc(&value).map_err(|reason| PacerConfigError {
                variable: GOGC_VAR,
                value,
                reason,
            })?;
        }
        if let Some(value) = non_empty(lookup(MEMORY_LIMIT_VAR)) {
            config.memory_limit =
                parse_memory_limit(&value).map_err(|reason| PacerConfigError {
                    variable: MEMORY_LIMIT_VAR,
                    value,
                    reason,
                })?;
        }
        Ok(config)
    }
}

impl Default for PacerConfig {
    fn default() -> Self {
        Self::new()
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The minimum headroom a memory limit leaves above the live heap:
/// `max(live / 16, 1 MiB)`.
pub const fn limit_headroom(live_bytes: u64) -> u64 {
    let proportional = live_bytes / LIMIT_HEADROOM_DIVISOR;
    if proportional > MIN_LIMIT_HEADROOM {
        proportional
    } else {
        MIN_LIMIT_HEADROOM
    }
}

/// The pacer's plan for the next cycle, computed from the live heap at the
/// end of a mark phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CycleGoal {
    /// The heap size the next cycle should finish by, or [`NEVER`].
    pub goal: u64,
    /// The heap size at which the next cycle starts, or [`NEVER`].
    pub trigger: u64,
    /// The heap size at which allocating mutators block, or [`NEVER`].
    pub hard_limit: u64,
    /// The memory limit is set and the goal had to be placed above it to
    /// keep the minimum headroom over the live heap.
    pub over_limit: bool,
}

impl CycleGoal {
    /// Computes the goal, trigger and hard limit for `config` after a cycle
    /// that found `live_bytes` live, by the formulas in the
    /// [module documentation](self).
    pub fn compute(config: &PacerConfig, live_bytes: u64) -> Self {
        let live = live_bytes;
        let proportional = config.gogc.map(|gogc| {
            let growth = u128::from(live) * u128::from(gogc) / 100;
            saturate(u128::from(live) + growth)
                .max(config.min_heap)
                .max(live.saturating_add(MIN_TRIGGER_STEP))
        });
        let goal = match (proportional, config.memory_limit) {
            (None, None) => NEVER,
            (Some(proportional), None) => proportional,
            (proportional, Some(limit)) => proportional
                .unwrap_or(NEVER)
                .min(limit.max(live.saturating_add(limit_headroom(live)))),
        };
        Self::with_goal(config, live, goal)
    }

    /// The trigger and hard limit for `goal` (finite goals at least
    /// `live + MIN_TRIGGER_STEP`), as [`compute`](Self::compute) places
    /// them for its own goal.
    fn with_goal(config: &PacerConfig, live: u64, goal: u64) -> Self {
        let over_limit = config.memory_limit.is_some_and(|limit| goal > limit);
        if goal == NEVER {
            return Self {
                goal: NEVER,
                trigger: NEVER,
                hard_limit: NEVER,
                over_limit,
            };
        }

        // Every finite goal is at least `live + MIN_TRIGGER_STEP`, so the
        // runway is never shorter than one step; `min` only guards the clamp.
        let runway = goal - live;
        let offset = scale(runway, config.effective_trigger_ratio())
            .clamp(runway.min(MIN_TRIGGER_STEP), runway);
        let hard_limit = scale(goal, config.effective_hard_ratio());
        Self {
            goal,
            trigger: live + offset,
            hard_limit,
            over_limit,
        }
    }

    /// What an allocating mutator must do when the heap holds
    /// `heap_live_now` bytes: [`Decision::Block`] at or above the hard
    /// limit, [`Decision::StartCycle`] at or above the trigger,
    /// [`Decision::Continue`] below it. Thresholds equal to [`NEVER`] are
    /// never reached.
    pub fn decide(&self, heap_live_now: u64) -> Decision {
        if self.hard_limit != NEVER && heap_live_now >= self.hard_limit {
            Decision::Block
        } else if self.trigger != NEVER && heap_live_now >= self.trigger {
            Decision::StartCycle
        } else {
            Decision::Continue
        }
    }
}

/// `value * ratio` rounded to the nearest integer (halves up), saturating
/// at `u64::MAX`, for a non-negative `ratio` (possibly +∞).
///
/// The product is computed exactly from the binary value of `ratio`, so the
/// result does not suffer from the rounding of a large `value` to `f64`.
fn scale(value: u64, ratio: f64) -> u64 {
    if value == 0 || ratio <= 0.0 {
        return 0;
    }
    if ratio.is_infinite() {
        return u64::MAX;
    }
    // ratio = mantissa * 2^exponent exactly, with mantissa < 2^53.
    let bits = ratio.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // At most 2^64 * 2^53 = 2^117: no overflow.
    let product = u128::from(value) * u128::from(mantissa);
    if exponent >= 0 {
        let shift = exponent.unsigned_abs();
        if shift >= product.leading_zeros() {
            u64::MAX
        } else {
            saturate(product << shift)
        }
    } else {
        let shift = exponent.unsigned_abs();
        if shift >= 120 {
            // product < 2^117, so the quotient is below one half.
            0
        } else {
            saturate((product + (1 << (shift - 1))) >> shift)
        }
    }
}

fn saturate(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// What an allocating mutator must do, ordered by urgency
/// (`Continue < StartCycle < Block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    /// The heap is below the trigger: allocate normally.
    Continue,
    /// The heap reached the trigger: start a cycle if none is running.
    StartCycle,
    /// The heap reached the hard limit: start a cycle if none is running,
    /// then wait until it finishes before allocating.
    Block,
}

/// The pacer: a [`PacerConfig`] plus the outcome of the last cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacer {
    config: PacerConfig,
    live_after_last_mark: u64,
    /// After a generational minor cycle, the live heap of the last major
    /// one, whose goal caps this one's ([module docs](self)); `None` after
    /// a major cycle.
    minor_base: Option<u64>,
    current: CycleGoal,
}

impl Pacer {
    /// A pacer before its first cycle, planned as if the live heap were
    /// empty: the goal and trigger are `max(min_heap, 64 KiB)` by default,
    /// the memory limit caps them as after any cycle, and with GOGC off and
    /// no limit they are [`NEVER`].
    pub fn new(config: PacerConfig) -> Self {
        let current = CycleGoal::compute(&config, 0);
        Self {
            config,
            live_after_last_mark: 0,
            minor_base: None,
            current,
        }
    }

    /// Records the end of a mark phase that found `live_bytes` live and
    /// plans the next cycle.
    pub fn end_cycle(&mut self, live_bytes: u64) -> CycleGoal {
        self.live_after_last_mark = live_bytes;
        self.minor_base = None;
        self.current = CycleGoal::compute(&self.config, live_bytes);
        self.current
    }

    /// Records the end of a generational minor cycle that left `live_bytes`
    /// in the heap (the old generation, dead old objects included, and
    /// what it marked), `base` being the live heap of the last major cycle,
    /// and plans the next cycle with the goal capped ([module
    /// docs](self), "After a generational minor cycle").
    ///
    /// ```
    /// use tricolor_collector::policy::pacer::{Pacer, PacerConfig, MIB};
    ///
    /// let mut pacer = Pacer::new(PacerConfig::new()); // GOGC 100
    /// pacer.end_cycle(100 * MIB);
    /// assert_eq!(pacer.goal(), 200 * MIB);
    /// // A minor cycle leaves 150 MiB (some of it old garbage): the goal
    /// // stays the major cycle's, not 300 MiB.
    /// pacer.end_minor_cycle(150 * MIB, 100 * MIB);
    /// assert_eq!(pacer.goal(), 200 * MIB);
    /// assert!(pacer.trigger() > 150 * MIB && pacer.trigger() <= 200 * MIB);
    /// ```
    pub fn end_minor_cycle(&mut self, live_bytes: u64, base: u64) -> CycleGoal {
        self.live_after_last_mark = live_bytes;
        self.minor_base = Some(base);
        self.current = self.plan();
        self.current
    }

    /// The plan from the recorded live heap (and minor cycle's base).
    fn plan(&self) -> CycleGoal {
        let live = self.live_after_last_mark;
        let own = CycleGoal::compute(&self.config, live);
        match self.minor_base {
            Some(base) if base < live => {
                let cap = CycleGoal::compute(&self.config, base)
                    .goal
                    .max(live.saturating_add(MIN_TRIGGER_STEP));
                if cap < own.goal {
                    CycleGoal::with_goal(&self.config, live, cap)
                } else {
                    own
                }
            }
            _ => own,
        }
    }

    /// Replaces the configuration and re-plans from the live heap of the
    /// last cycle, as when GOGC or the memory limit is changed at run time.
    pub fn set_config(&mut self, config: PacerConfig) -> CycleGoal {
        self.config = config;
        self.current = self.plan();
        self.current
    }

    /// Replaces GOGC (`None`: off), re-plans at once from the live heap of
    /// the last cycle, and returns the previous GOGC (Go's
    /// `debug.SetGCPercent`; see the [module docs](self)).
    ///
    /// ```
    /// use tricolor_collector::policy::pacer::{Decision, Pacer, PacerConfig, MIB};
    ///
    /// let mut pacer = Pacer::new(PacerConfig::new());
    /// pacer.end_cycle(100 * MIB); // goal 200 MiB
    /// assert_eq!(pacer.decide(150 * MIB), Decision::Continue);
    /// assert_eq!(pacer.set_gogc(Some(25)), Some(100));
    /// assert_eq!(pacer.goal(), 125 * MIB);
    /// // The heap already holds 150 MiB: past the new goal, and past its
    /// // hard limit (1.1 x 125 MiB).
    /// assert_eq!(pacer.decide(150 * MIB), Decision::Block);
    /// ```
    pub fn set_gogc(&mut self, gogc: Option<u32>) -> Option<u32> {
        let previous = std::mem::replace(&mut self.config.gogc, gogc);
        self.current = self.plan();
        previous
    }

    /// Replaces the memory limit (`None`: no limit), re-plans at once from
    /// the live heap of the last cycle, and returns the previous limit
    /// (Go's `debug.SetMemoryLimit`; see the [module docs](self)).
    ///
    /// ```
    /// use tricolor_collector::policy::pacer::{Pacer, PacerConfig, MIB};
    ///
    /// let mut pacer = Pacer::new(PacerConfig::new());
    /// pacer.end_cycle(100 * MIB);
    /// assert_eq!(pacer.set_memory_limit(Some(150 * MIB)), None);
    /// assert_eq!(pacer.goal(), 150 * MIB, "the limit caps the GOGC goal");
    /// assert_eq!(pacer.set_memory_limit(None), Some(150 * MIB));
    /// assert_eq!(pacer.goal(), 200 * MIB);
    /// ```
    pub fn set_memory_limit(&mut self, limit: Option<u64>) -> Option<u64> {
        let previous = std::mem::replace(&mut self.config.memory_limit, limit);
        self.current = self.plan();
        previous
    }

    /// What an allocating mutator must do when the heap holds
    /// `heap_live_now` bytes; see [`CycleGoal::decide`].
    pub fn decide(&self, heap_live_now: u64) -> Decision {
        self.current.decide(heap_live_now)
    }

    /// The current heap goal, or [`NEVER`].
    pub fn goal(&self) -> u64 {
        self.current.goal
    }

    /// The heap size at which the next cycle starts, or [`NEVER`].
    pub fn trigger(&self) -> u64 {
        self.current.trigger
    }

    /// The heap size at which allocating mutators block, or [`NEVER`].
    pub fn hard_limit(&self) -> u64 {
        self.current.hard_limit
    }

    /// The live bytes reported by the last [`end_cycle`](Self::end_cycle),
    /// or 0 before the first cycle.
    pub fn live_after_last_mark(&self) -> u64 {
        self.live_after_last_mark
    }

    /// The full plan for the next cycle.
    pub fn cycle_goal(&self) -> CycleGoal {
        self.current
    }

    /// The configuration in use.
    pub fn config(&self) -> &PacerConfig {
        &self.config
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new(PacerConfig::default())
    }
}

/// Watches the live heap after each cycle against a fraction of the memory
/// limit, and reports each upward crossing once (the
/// [module docs](self#the-near-limit-watch)). Pure: the heap feeds it the
/// live bytes of every cycle and calls its embedder's callback when
/// [`observe`](Self::observe) reports a crossing.
///
/// ```
/// use tricolor_collector::policy::pacer::{LimitCrossing, LimitWatch, MIB};
///
/// let mut watch = LimitWatch::new(0.75);
/// let limit = Some(100 * MIB);
/// assert_eq!(watch.observe(50 * MIB, limit), None);
/// assert_eq!(
///     watch.observe(80 * MIB, limit),
///     Some(LimitCrossing { live: 80 * MIB, limit: 100 * MIB, threshold: 75 * MIB }),
/// );
/// assert_eq!(watch.observe(90 * MIB, limit), None, "still above: reported once");
/// assert_eq!(watch.observe(60 * MIB, limit), None, "below again: re-armed");
/// assert!(watch.observe(76 * MIB, limit).is_some(), "a second crossing");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitWatch {
    fraction: f64,
    /// The live heap of the last cycle observed was at or above its
    /// threshold (a limit was set).
    above: bool,
}

/// An upward crossing of the near-limit threshold, reported by
/// [`LimitWatch::observe`]. All in bytes (the pacer's slot bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitCrossing {
    /// The live heap after the cycle (bytes marked, allocated-black bytes
    /// included).
    pub live: u64,
    /// The memory limit in force at the end of the cycle.
    pub limit: u64,
    /// `round(limit * fraction)`: the live size that counts as near.
    pub threshold: u64,
}

impl LimitWatch {
    /// A watch reporting when the live heap reaches `fraction` of the
    /// memory limit (0.9: at 90% of it). Armed: the first cycle at or above
    /// the threshold is reported.
    pub const fn new(fraction: f64) -> LimitWatch {
        LimitWatch {
            fraction,
            above: false,
        }
    }

    /// The fraction as given.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// The fraction actually used: NaN counts as 1, negative values as 0.
    pub fn effective_fraction(&self) -> f64 {
        if self.fraction.is_nan() {
            1.0
        } else {
            self.fraction.max(0.0)
        }
    }

    /// The live size that counts as near `limit`: `round(limit * fraction)`
    /// (saturating).
    pub fn threshold(&self, limit: u64) -> u64 {
        scale(limit, self.effective_fraction())
    }

    /// Feeds the live heap after a cycle and the memory limit in force;
    /// returns the crossing if the live heap has just reached the
    /// threshold (it was below it, or there was no limit, after the
    /// previous cycle observed).
    pub fn observe(&mut self, live: u64, limit: Option<u64>) -> Option<LimitCrossing> {
        let Some(limit) = limit else {
            self.above = false;
            return None;
        };
        let threshold = self.threshold(limit);
        let above = live >= threshold;
        let crossed = above && !self.above;
        self.above = above;
        crossed.then_some(LimitCrossing {
            live,
            limit,
            threshold,
        })
    }
}

/// Why a GOGC or byte-count value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseValueError {
    /// The value is empty or only whitespace.
    Empty,
    /// The value is a negative number.
    Negative,
    /// The value is not a non-negative decimal integer (signs, fractions and
    /// other characters are rejected).
    InvalidNumber,
    /// The number, or the number times its unit, does not fit the target
    /// type (`u32` for GOGC, `u64` for bytes).
    Overflow,
    /// A byte count ends in a unit that is not recognised.
    UnknownUnit(String),
}

impl fmt::Display for ParseValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the value is empty"),
            Self::Negative => f.write_str("negative values are not allowed"),
            Self::InvalidNumber => f.write_str("not a non-negative decimal integer"),
            Self::Overflow => f.write_str("the number is too large"),
            Self::UnknownUnit(unit) => write!(
                f,
                "unknown unit {unit:?} (expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ),
        }
    }
}

impl Error for ParseValueError {}

/// A malformed pacer environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacerConfigError {
    variable: &'static str,
    value: String,
    reason: ParseValueError,
}

impl PacerConfigError {
    /// The name of the offending variable.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// The offending value, as read.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What was wrong with the value.
    pub fn reason(&self) -> &ParseValueError {
        &self.reason
    }
}

impl fmt::Display for PacerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: {}",
            self.variable, self.value, self.reason
        )?;
        match self.variable {
            GOGC_VAR => f.write_str(" (expected a percentage such as 100, or \"off\")"),
            MEMORY_LIMIT_VAR => {
                f.write_str(" (expected a byte count such as 536870912 or 512MiB, or \"off\")")
            }
            _ => Ok(()),
        }
    }
}

impl Error for PacerConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.reason)
    }
}

/// Parses a GOGC value: a non-negative decimal percentage, or `off`
/// (case-insensitive) for `None`. Surrounding whitespace is ignored.
///
/// # Errors
///
/// [`ParseValueError::Empty`], [`Negative`](ParseValueError::Negative),
/// [`InvalidNumber`](ParseValueError::InvalidNumber) (including any trailing
/// text), or [`Overflow`](ParseValueError::Overflow) above `u32::MAX`.
pub fn parse_gogc(value: &str) -> Result<Option<u32>, ParseValueError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (number, rest) = split_number(value)?;
    if !rest.is_empty() {
        return Err(ParseValueError::InvalidNumber);
    }
    u32::try_from(number)
        .map(Some)
        .map_err(|_| ParseValueError::Overflow)
}

/// Parses a byte count: a non-negative decimal integer, optionally followed
/// (with or without spaces) by a unit.
///
/// Units are case-insensitive: `B` (1), the binary `KiB`, `MiB`, `GiB`,
/// `TiB` (powers of 1024) and the decimal `KB`, `MB`, `GB`, `TB` (powers of
/// 1000). Fractions such as `1.5GiB` are rejected. Surrounding whitespace is
/// ignored.
///
/// # Errors
///
/// [`ParseValueError::Empty`], [`Negative`](ParseValueError::Negative),
/// [`InvalidNumber`](ParseValueError::InvalidNumber) (no leading digits, or a
/// fraction), [`UnknownUnit`](ParseValueError::UnknownUnit), or
/// [`Overflow`](ParseValueError::Overflow) when the byte count exceeds
/// `u64::MAX`.
pub fn parse_bytes(value: &str) -> Result<u64, ParseValueError> {
    let (number, unit) = split_number(value.trim())?;
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        "tib" => TIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ if unit.starts_with(['.', ',']) => return Err(ParseValueError::InvalidNumber),
        _ => return Err(ParseValueError::UnknownUnit(unit.to_owned())),
    };
    number
        .checked_mul(multiplier)
        .ok_or(ParseValueError::Overflow)
}

/// Parses a memory limit: `off` (case-insensitive) for `None`, otherwise a
/// byte count as accepted by [`parse_bytes`].
///
/// # Errors
///
/// As for [`parse_bytes`].
pub fn parse_memory_limit(value: &str) -> Result<Option<u64>, ParseValueError> {
    if value.trim().eq_ignore_ascii_case("off") {
        Ok(None)
    } else {
        parse_bytes(value).map(Some)
    }
}

/// Splits a trimmed value into its leading decimal number and the rest
/// (with leading whitespace removed).
fn split_number(value: &str) -> Result<(u64, &str), ParseValueError> {
    if value.is_empty() {
        return Err(ParseValueError::Empty);
    }
    let end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, rest) = value.split_at(end);
    if digits.is_empty() {
        let negative = rest
            .strip_prefix('-')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        return Err(if negative {
            ParseValueError::Negative
        } else {
            ParseValueError::InvalidNumber
        });
    }
    let number = digits.bytes().try_fold(0u64, |acc, digit| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(digit - b'0')))
            .ok_or(ParseValueError::Overflow)
    })?;
    Ok((number, rest.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULT: PacerConfig = PacerConfig::new();
    const CONCURRENT: PacerConfig = PacerConfig::concurrent();
    const GOGC_OFF: PacerConfig = DEFAULT.with_gogc(None);
    const STEP: u64 = MIN_TRIGGER_STEP;

    struct GoalCase {
        name: &'static str,
        config: PacerConfig,
        live: u64,
        goal: u64,
        trigger: u64,
        over_limit: bool,
    }

    const fn case(
        name: &'static str,
        config: PacerConfig,
        live: u64,
        goal: u64,
        trigger: u64,
        over_limit: bool,
    ) -> GoalCase {
        GoalCase {
            name,
            config,
            live,
            goal,
            trigger,
            over_limit,
        }
    }

    #[rustfmt::skip]
    const GOAL_CASES: &[GoalCase] = &[
        // GOGC proportional goals.
        case("gogc 100 doubles live", DEFAULT, 100 * MIB, 200 * MIB, 200 * MIB, false),
        case("gogc 100 doubles a large heap", DEFAULT, 3 * GIB, 6 * GIB, 6 * GIB, false),
        case("gogc 50", DEFAULT.with_gogc(Some(50)), 100 * MIB, 150 * MIB, 150 * MIB, false),
        case("gogc 200", DEFAULT.with_gogc(Some(200)), 100 * MIB, 300 * MIB, 300 * MIB, false),
        case("gogc growth rounds down", DEFAULT.with_gogc(Some(50)), 10_000_001, 15_000_001, 15_000_001, false),
        case("gogc 0 is live plus one step", DEFAULT.with_gogc(Some(0)), 100 * MIB, 100 * MIB + STEP, 100 * MIB + STEP, false),
        case("gogc 0 keeps min_heap", DEFAULT.with_gogc(Some(0)), MIB, 4 * MIB, 4 * MIB, false),
        case("gogc 0 without min_heap", DEFAULT.with_gogc(Some(0)).with_min_heap(0), 0, STEP, STEP, false),
        // The min_heap floor.
        case("min_heap floor for live 0", DEFAULT, 0, 4 * MIB, 4 * MIB, false),
        case("min_heap floor for small live", DEFAULT, MIB, 4 * MIB, 4 * MIB, false),
        case("min_heap exactly reached", DEFAULT, 2 * MIB, 4 * MIB, 4 * MIB, false),
        case("min_heap just exceeded", DEFAULT, 2 * MIB + 1, 4 * MIB + 2, 4 * MIB + 2, false),
        case("custom min_heap", DEFAULT.with_min_heap(64 * MIB), 10 * MIB, 64 * MIB, 64 * MIB, false),
        case("no min_heap, runway floor", DEFAULT.with_min_heap(0), 1000, 1000 + STEP, 1000 + STEP, false),
        // Trigger ratio.
        case("concurrent trigger at 70%", CONCURRENT, 100 * MIB, 200 * MIB, 170 * MIB, false),
        case("concurrent trigger rounds to nearest", CONCURRENT, 0, 4 * MIB, 2_936_013, false),
        case("trigger ratio 0 is one step", DEFAULT.with_trigger_ratio(0.0), 100 * MIB, 200 * MIB, 100 * MIB + STEP, false),
        case("min step beats ratio on tiny runway", DEFAULT.with_gogc(Some(0)).with_min_heap(0).with_trigger_ratio(0.5), 100 * MIB, 100 * MIB + STEP, 100 * MIB + STEP, false),
        case("trigger ratio above 1 clamps to goal", DEFAULT.with_trigger_ratio(5.0), 100 * MIB, 200 * MIB, 200 * MIB, false),
        case("negative trigger ratio clamps to 0", DEFAULT.with_trigger_ratio(-1.0), 100 * MIB, 200 * MIB, 100 * MIB + STEP, false),
        case("NaN trigger ratio uses default", DEFAULT.with_trigger_ratio(f64::NAN), 100 * MIB, 200 * MIB, 200 * MIB, false),
        // Memory limit.
        case("limit below gogc goal", DEFAULT.with_memory_limit(Some(150 * MIB)), 100 * MIB, 150 * MIB, 150 * MIB, false),
        case("limit equal to gogc goal", DEFAULT.with_memory_limit(Some(200 * MIB)), 100 * MIB, 200 * MIB, 200 * MIB, false),
        case("limit above gogc goal", DEFAULT.with_memory_limit(Some(GIB)), 100 * MIB, 200 * MIB, 200 * MIB, false),
        case("limit below min_heap", DEFAULT.with_memory_limit(Some(2 * MIB)), 0, 2 * MIB, 2 * MIB, false),
        case("limit with concurrent trigger", CONCURRENT.with_memory_limit(Some(150 * MIB)), 100 * MIB, 150 * MIB, 135 * MIB, false),
        case("limit squeezes headroom", DEFAULT.with_memory_limit(Some(101 * MIB)), 100 * MIB, 100 * MIB + 6_553_600, 100 * MIB + 6_553_600, true),
        case("live above limit", DEFAULT.with_memory_limit(Some(50 * MIB)), 100 * MIB, 100 * MIB + 6_553_600, 100 * MIB + 6_553_600, true),
        case("live above limit, 1 MiB headroom", DEFAULT.with_memory_limit(Some(MIB)), 2 * MIB, 3 * MIB, 3 * MIB, true),
        case("limit zero", DEFAULT.with_memory_limit(Some(0)), 0, MIB, MIB, true),
        case("limit never raises a gogc 0 goal", DEFAULT.with_gogc(Some(0)).with_min_heap(0).with_memory_limit(Some(0)), 0, STEP, STEP, true),
        case("gogc 0, live above limit", DEFAULT.with_gogc(Some(0)).with_memory_limit(Some(50 * MIB)), 100 * MIB, 100 * MIB + STEP, 100 * MIB + STEP, true),
        // GOGC off.
        case("gogc off with limit", GOGC_OFF.with_memory_limit(Some(GIB)), 100 * MIB, GIB, GIB, false),
        case("gogc off with limit ignores min_heap", GOGC_OFF.with_memory_limit(Some(2 * MIB)), 0, 2 * MIB, 2 * MIB, false),
        case("gogc off with limit, concurrent", GOGC_OFF.with_memory_limit(Some(GIB)).with_trigger_ratio(0.7), 100 * MIB, GIB, 783_076_557, false),
        case("gogc off, live above limit", GOGC_OFF.with_memory_limit(Some(50 * MIB)), 100 * MIB, 100 * MIB + 6_553_600, 100 * MIB + 6_553_600, true),
        case("gogc off without limit", GOGC_OFF, 100 * MIB, NEVER, NEVER, false),
        case("gogc off without limit, live 0", GOGC_OFF, 0, NEVER, NEVER, false),
        // Saturation.
        case("gogc 100 saturates", DEFAULT, u64::MAX / 2 + 1, NEVER, NEVER, false),
        case("huge gogc without overflow", DEFAULT.with_gogc(Some(u32::MAX)), GIB, 46_116_861_247_278_284, 46_116_861_247_278_284, false),
        case("huge gogc saturates", DEFAULT.with_gogc(Some(u32::MAX)), 1 << 40, NEVER, NEVER, false),
        case("live at u64::MAX", DEFAULT, u64::MAX, NEVER, NEVER, false),
        case("step saturates", DEFAULT.with_gogc(Some(0)), u64::MAX - 10, NEVER, NEVER, false),
        case("headroom saturates over limit", DEFAULT.with_memory_limit(Some(GIB)), u64::MAX - 1000, NEVER, NEVER, true),
        case("limit just below u64::MAX", GOGC_OFF.with_memory_limit(Some(u64::MAX - 1)), 100 * MIB, u64::MAX - 1, u64::MAX - 1, false),
    ];

    #[test]
    fn goal_and_trigger_table() {
        for c in GOAL_CASES {
            let got = CycleGoal::compute(&c.config, c.live);
            assert_eq!(
                (got.goal, got.trigger, got.over_limit),
                (c.goal, c.trigger, c.over_limit),
                "case {:?}: (goal, trigger, over_limit)",
                c.name
            );
            let mut pacer = Pacer::new(c.config.clone());
            assert_eq!(pacer.end_cycle(c.live), got, "case {:?}: end_cycle", c.name);
            assert_eq!(
                (pacer.goal(), pacer.trigger(), pacer.live_after_last_mark()),
                (c.goal, c.trigger, c.live),
                "case {:?}: accessors",
                c.name
            );
        }
    }

    /// (name, config, live, base: the last major cycle's live heap, goal).
    #[rustfmt::skip]
    const MINOR_CASES: &[(&str, PacerConfig, u64, u64, u64)] = &[
        ("capped at the major cycle's goal", DEFAULT, 150 * MIB, 100 * MIB, 200 * MIB),
        ("no cap from an equal base", DEFAULT, 100 * MIB, 100 * MIB, 200 * MIB),
        ("no cap from a larger base", DEFAULT, 80 * MIB, 100 * MIB, 160 * MIB),
        ("never below live + step", DEFAULT, 250 * MIB, 100 * MIB, 250 * MIB + MIN_TRIGGER_STEP),
        ("the limit caps as before", DEFAULT.with_memory_limit(Some(180 * MIB)), 150 * MIB, 100 * MIB, 180 * MIB),
        ("GOGC off: nothing to cap", GOGC_OFF, 150 * MIB, 100 * MIB, NEVER),
        ("GOGC 50", DEFAULT.with_gogc(Some(50)), 120 * MIB, 100 * MIB, 150 * MIB),
        ("min_heap from a tiny base", DEFAULT, 3 * MIB, MIB, 4 * MIB),
    ];

    #[test]
    fn minor_cycle_goal_table() {
        for &(name, ref config, live, base, goal) in MINOR_CASES {
            let mut pacer = Pacer::new(config.clone());
            let got = pacer.end_minor_cycle(live, base);
            assert_eq!(got.goal, goal, "case {name:?}: goal");
            assert_eq!(pacer.live_after_last_mark(), live, "case {name:?}: live");
            if goal != NEVER {
                assert!(
                    live < got.trigger && got.trigger <= got.goal && got.goal <= got.hard_limit,
                    "case {name:?}: live < trigger <= goal <= hard limit: {got:?}"
                );
            }
            // A run-time change re-plans with the cap; a major cycle drops it.
            let gogc = config.gogc;
            pacer.set_gogc(gogc);
            assert_eq!(pacer.goal(), goal, "case {name:?}: after set_gogc");
            assert_eq!(
                pacer.end_cycle(live),
                CycleGoal::compute(config, live),
                "case {name:?}: a major cycle plans uncapped"
            );
        }
    }

    #[rustfmt::skip]
    const HARD_LIMIT_CASES: &[(&str, PacerConfig, u64, u64)] = &[
        ("default 1.1 of 200 MiB", DEFAULT, 100 * MIB, 230_686_720),
        ("default 1.1 rounds to nearest", DEFAULT, 0, 4_613_734),
        ("hard ratio 1.0 is the goal", DEFAULT.with_hard_ratio(1.0), 100 * MIB, 200 * MIB),
        ("hard ratio 2.0", DEFAULT.with_hard_ratio(2.0), 100 * MIB, 400 * MIB),
        ("hard ratio below 1 raised to 1", DEFAULT.with_hard_ratio(0.5), 100 * MIB, 200 * MIB),
        ("NaN hard ratio uses default", DEFAULT.with_hard_ratio(f64::NAN), 100 * MIB, 230_686_720),
        ("infinite hard ratio never blocks", DEFAULT.with_hard_ratio(f64::INFINITY), 100 * MIB, NEVER),
        ("hard limit saturates", DEFAULT.with_hard_ratio(4.0), u64::MAX / 4, NEVER),
        ("hard limit of a huge goal is exact", DEFAULT.with_hard_ratio(1.5), 1 << 62, 3 << 62),
        ("never goal, never hard limit", GOGC_OFF, 100 * MIB, NEVER),
    ];

    #[test]
    fn hard_limit_table() {
        for (name, config, live, hard_limit) in HARD_LIMIT_CASES {
            let got = CycleGoal::compute(config, *live);
            assert_eq!(got.hard_limit, *hard_limit, "case {name:?}");
        }
    }

    #[rustfmt::skip]
    const DECIDE_CASES: &[(&str, PacerConfig, u64, u64, Decision)] = &[
        // Default: trigger = goal = 200 MiB, hard limit 230_686_720.
        ("empty heap", DEFAULT, 100 * MIB, 0, Decision::Continue),
        ("at live", DEFAULT, 100 * MIB, 100 * MIB, Decision::Continue),
        ("just below trigger", DEFAULT, 100 * MIB, 200 * MIB - 1, Decision::Continue),
        ("exactly at trigger", DEFAULT, 100 * MIB, 200 * MIB, Decision::StartCycle),
        ("just below hard limit", DEFAULT, 100 * MIB, 230_686_719, Decision::StartCycle),
        ("exactly at hard limit", DEFAULT, 100 * MIB, 230_686_720, Decision::Block),
        ("far above hard limit", DEFAULT, 100 * MIB, u64::MAX, Decision::Block),
        // Concurrent: trigger 170 MiB, goal 200 MiB, hard limit 230_686_720.
        ("concurrent below trigger", CONCURRENT, 100 * MIB, 170 * MIB - 1, Decision::Continue),
        ("concurrent at trigger", CONCURRENT, 100 * MIB, 170 * MIB, Decision::StartCycle),
        ("concurrent at goal", CONCURRENT, 100 * MIB, 200 * MIB, Decision::StartCycle),
        ("concurrent below hard limit", CONCURRENT, 100 * MIB, 230_686_719, Decision::StartCycle),
        ("concurrent at hard limit", CONCURRENT, 100 * MIB, 230_686_720, Decision::Block),
        // Hard ratio 1.0 blocks at the goal.
        ("hard ratio 1 below goal", DEFAULT.with_hard_ratio(1.0), 100 * MIB, 200 * MIB - 1, Decision::Continue),
        ("hard ratio 1 at goal", DEFAULT.with_hard_ratio(1.0), 100 * MIB, 200 * MIB, Decision::Block),
        // Never.
        ("gogc off no limit, empty", GOGC_OFF, 100 * MIB, 0, Decision::Continue),
        ("gogc off no limit, huge", GOGC_OFF, 100 * MIB, u64::MAX, Decision::Continue),
        ("infinite hard ratio never blocks", DEFAULT.with_hard_ratio(f64::INFINITY), 100 * MIB, u64::MAX, Decision::StartCycle),
        // GOGC off with a limit: trigger = goal = 1 GiB, hard limit 1.1 GiB.
        ("gogc off limit below", GOGC_OFF.with_memory_limit(Some(GIB)), 0, GIB - 1, Decision::Continue),
        ("gogc off limit at goal", GOGC_OFF.with_memory_limit(Some(GIB)), 0, GIB, Decision::StartCycle),
        ("gogc off limit below hard", GOGC_OFF.with_memory_limit(Some(GIB)), 0, 1_181_116_005, Decision::StartCycle),
        ("gogc off limit at hard", GOGC_OFF.with_memory_limit(Some(GIB)), 0, 1_181_116_006, Decision::Block),
    ];

    #[test]
    fn decide_table() {
        for &(name, ref config, live, heap, expected) in DECIDE_CASES {
            let mut pacer = Pacer::new(config.clone());
            pacer.end_cycle(live);
            assert_eq!(pacer.decide(heap), expected, "case {name:?}");
        }
    }

    #[test]
    fn new_pacer_plans_from_an_empty_heap() {
        let pacer = Pacer::default();
        assert_eq!(pacer.config(), &DEFAULT);
        assert_eq!(pacer.live_after_last_mark(), 0);
        assert_eq!((pacer.goal(), pacer.trigger()), (4 * MIB, 4 * MIB));
        assert_eq!(pacer.hard_limit(), 4_613_734);
        assert_eq!(pacer.decide(4 * MIB - 1), Decision::Continue);
        assert_eq!(pacer.decide(4 * MIB), Decision::StartCycle);
        assert_eq!(pacer.decide(4_613_734), Decision::Block);

        let never = Pacer::new(GOGC_OFF);
        assert_eq!((never.goal(), never.trigger()), (NEVER, NEVER));
        assert_eq!(never.decide(u64::MAX), Decision::Continue);

        let limited = Pacer::new(GOGC_OFF.with_memory_limit(Some(64 * MIB)));
        assert_eq!(limited.goal(), 64 * MIB);
    }

    #[test]
    fn set_config_replans_from_last_live() {
        let mut pacer = Pacer::new(DEFAULT);
        pacer.end_cycle(100 * MIB);
        let plan = pacer.set_config(DEFAULT.with_gogc(Some(50)));
        assert_eq!(plan.goal, 150 * MIB);
        assert_eq!(pacer.cycle_goal(), plan);
        assert_eq!(pacer.config().gogc, Some(50));
        assert_eq!(pacer.live_after_last_mark(), 100 * MIB);
    }

    /// A run-time change of one setting.
    #[derive(Clone, Copy, Debug)]
    enum Change {
        Gogc(Option<u32>),
        Limit(Option<u64>),
    }

    use Change::{Gogc, Limit};
    use Decision::{Block, Continue, StartCycle};

    /// (name, config, live after the last cycle, heap now, change, the
    /// previous value the setter returns, the goal after, what a mutator
    /// with `heap now` must do after).
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const RUNTIME_CASES: &[(&str, PacerConfig, u64, u64, Change, Option<u64>, u64, Decision)] = &[
        // GOGC.
        ("raising gogc moves the goal up", DEFAULT, 100 * MIB, 150 * MIB, Gogc(Some(200)), Some(100), 300 * MIB, Continue),
        ("lowering gogc under the heap starts a cycle", DEFAULT, 100 * MIB, 150 * MIB, Gogc(Some(40)), Some(100), 140 * MIB, StartCycle),
        ("lowering gogc far under the heap blocks", DEFAULT, 100 * MIB, 150 * MIB, Gogc(Some(25)), Some(100), 125 * MIB, Block),
        ("lowering gogc above the heap changes nothing now", DEFAULT, 100 * MIB, 110 * MIB, Gogc(Some(50)), Some(100), 150 * MIB, Continue),
        ("gogc 0 is live plus a step", DEFAULT, 100 * MIB, 100 * MIB + STEP, Gogc(Some(0)), Some(100), 100 * MIB + STEP, StartCycle),
        ("gogc off without a limit never collects", DEFAULT, 100 * MIB, 10 * GIB, Gogc(None), Some(100), NEVER, Continue),
        ("gogc off with a limit keeps the limit's goal", DEFAULT.with_memory_limit(Some(GIB)), 100 * MIB, 150 * MIB, Gogc(None), Some(100), GIB, Continue),
        ("gogc on again from off", GOGC_OFF, 100 * MIB, 150 * MIB, Gogc(Some(100)), None, 200 * MIB, Continue),
        ("gogc on again under the heap", GOGC_OFF, 100 * MIB, 10 * GIB, Gogc(Some(100)), None, 200 * MIB, Block),
        ("gogc before the first cycle keeps min_heap", DEFAULT, 0, 3 * MIB, Gogc(Some(10)), Some(100), 4 * MIB, Continue),
        ("concurrent trigger follows the new goal", CONCURRENT, 100 * MIB, 135 * MIB, Gogc(Some(50)), Some(100), 150 * MIB, StartCycle),
        // The memory limit.
        ("a limit under the goal", DEFAULT, 100 * MIB, 125 * MIB, Limit(Some(120 * MIB)), None, 120 * MIB, StartCycle),
        ("a limit far under the heap blocks", DEFAULT, 100 * MIB, 150 * MIB, Limit(Some(120 * MIB)), None, 120 * MIB, Block),
        ("lowering the limit under the heap", DEFAULT.with_memory_limit(Some(GIB)), 100 * MIB, 150 * MIB, Limit(Some(140 * MIB)), Some(GIB), 140 * MIB, StartCycle),
        ("raising the limit", DEFAULT.with_memory_limit(Some(120 * MIB)), 100 * MIB, 125 * MIB, Limit(Some(GIB)), Some(120 * MIB), 200 * MIB, Continue),
        ("removing the limit", DEFAULT.with_memory_limit(Some(120 * MIB)), 100 * MIB, 125 * MIB, Limit(None), Some(120 * MIB), 200 * MIB, Continue),
        ("a limit under live keeps the headroom", DEFAULT, 100 * MIB, 101 * MIB, Limit(Some(50 * MIB)), None, 100 * MIB + 6_553_600, Continue),
        ("gogc off, a limit with a concurrent trigger", CONCURRENT.with_gogc(None), 100 * MIB, 700 * MIB, Limit(Some(GIB)), None, GIB, Continue),
        ("gogc off, removing the limit never collects", GOGC_OFF.with_memory_limit(Some(GIB)), 100 * MIB, 10 * GIB, Limit(None), Some(GIB), NEVER, Continue),
        ("a limit before the first cycle", DEFAULT, 0, 3 * MIB, Limit(Some(2 * MIB)), None, 2 * MIB, Block),
    ];

    #[test]
    fn runtime_change_table() {
        for &(name, ref config, live, heap, change, previous, goal, decision) in RUNTIME_CASES {
            let mut pacer = Pacer::new(config.clone());
            pacer.end_cycle(live);
            let (got_previous, changed) = match change {
                Gogc(g) => (
                    pacer.set_gogc(g).map(u64::from),
                    config.clone().with_gogc(g),
                ),
                Limit(l) => (
                    pacer.set_memory_limit(l),
                    config.clone().with_memory_limit(l),
                ),
            };
            assert_eq!(got_previous, previous, "case {name:?}: previous value");
            assert_eq!(pacer.goal(), goal, "case {name:?}: goal");
            assert_eq!(pacer.decide(heap), decision, "case {name:?}: decision");
            // The same plan as a config with the new value from the start,
            // and as `set_config`; the live heap is kept.
            assert_eq!(
                pacer.cycle_goal(),
                CycleGoal::compute(&changed, live),
                "case {name:?}"
            );
            assert_eq!(pacer.config(), &changed, "case {name:?}: config");
            assert_eq!(pacer.live_after_last_mark(), live, "case {name:?}: live");
            let mut via_set_config = Pacer::new(config.clone());
            via_set_config.end_cycle(live);
            assert_eq!(
                via_set_config.set_config(changed),
                pacer.cycle_goal(),
                "case {name:?}"
            );
        }
    }

    /// (name, fraction, each cycle's (live, limit, whether it reports)).
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    const WATCH_CASES: &[(&str, f64, &[(u64, Option<u64>, bool)])] = &[
        ("below never reports", 0.9, &[(10 * MIB, Some(100 * MIB), false), (89 * MIB, Some(100 * MIB), false)]),
        ("a crossing is reported once", 0.9, &[(50 * MIB, Some(100 * MIB), false), (90 * MIB, Some(100 * MIB), true), (95 * MIB, Some(100 * MIB), false), (200 * MIB, Some(100 * MIB), false)]),
        ("the first cycle above reports", 0.9, &[(95 * MIB, Some(100 * MIB), true)]),
        ("below again re-arms", 0.9, &[(90 * MIB, Some(100 * MIB), true), (89 * MIB, Some(100 * MIB), false), (90 * MIB, Some(100 * MIB), true)]),
        ("the threshold itself counts", 0.5, &[(50 * MIB - 1, Some(100 * MIB), false), (50 * MIB, Some(100 * MIB), true)]),
        ("no limit never reports, and re-arms", 0.9, &[(90 * MIB, Some(100 * MIB), true), (90 * MIB, None, false), (90 * MIB, Some(100 * MIB), true)]),
        ("lowering the limit is a crossing", 0.9, &[(50 * MIB, Some(100 * MIB), false), (50 * MIB, Some(50 * MIB), true)]),
        ("raising the limit re-arms", 0.9, &[(90 * MIB, Some(100 * MIB), true), (90 * MIB, Some(200 * MIB), false), (180 * MIB, Some(200 * MIB), true)]),
        ("a fraction over 1: past the soft limit", 1.5, &[(120 * MIB, Some(100 * MIB), false), (150 * MIB, Some(100 * MIB), true)]),
        ("fraction 0 reports the first cycle", 0.0, &[(0, Some(100 * MIB), true), (0, Some(100 * MIB), false)]),
        ("NaN counts as 1", f64::NAN, &[(100 * MIB - 1, Some(100 * MIB), false), (100 * MIB, Some(100 * MIB), true)]),
        ("negative counts as 0", -1.0, &[(0, Some(100 * MIB), true)]),
        ("limit 0", 0.9, &[(0, Some(0), true)]),
        ("rounds to nearest", 0.7, &[(2_936_012, Some(4 * MIB), false), (2_936_013, Some(4 * MIB), true)]),
    ];

    #[test]
    fn near_limit_watch_table() {
        for &(name, fraction, cycles) in WATCH_CASES {
            let mut watch = LimitWatch::new(fraction);
            for (i, &(live, limit, reports)) in cycles.iter().enumerate() {
                let got = watch.observe(live, limit);
                assert_eq!(got.is_some(), reports, "case {name:?}, cycle {i}");
                if let (Some(c), Some(limit)) = (got, limit) {
                    assert_eq!((c.live, c.limit), (live, limit), "case {name:?}, cycle {i}");
                    assert_eq!(c.threshold, watch.threshold(limit), "case {name:?}");
                    assert!(c.live >= c.threshold, "case {name:?}");
                }
            }
        }
    }

    #[test]
    fn scale_table() {
        let cases: Vec<(u64, f64, u64)> = vec![
            (0, 1.1, 0),
            (100, 0.0, 0),
            (100, -1.0, 0),
            (0, f64::INFINITY, 0),
            (1, f64::INFINITY, u64::MAX),
            (1, 0.5, 1),
            (3, 0.5, 2),
            (2, 0.25, 1),
            (1, 0.25, 0),
            (10 * MIB, 0.7, 7_340_032),
            (4 * MIB, 0.7, 2_936_013),
            (GIB, 1.1, 1_181_116_006),
            (u64::MAX, 1.0, u64::MAX),
            (u64::MAX, 0.5, 1 << 63),
            (u64::MAX, 1.5, u64::MAX),
            (1 << 62, 1.5, 3 << 61),
            (u64::MAX, f64::MIN_POSITIVE, 0),
            (u64::MAX, 5e-324, 0),
            (1, f64::MAX, u64::MAX),
        ];
        for (value, ratio, expected) in cases {
            assert_eq!(scale(value, ratio), expected, "{value} * {ratio}");
        }
    }

    #[test]
    fn limit_headroom_values() {
        assert_eq!(limit_headroom(0), MIB);
        assert_eq!(limit_headroom(16 * MIB), MIB);
        assert_eq!(limit_headroom(16 * MIB + 16), MIB + 1);
        assert_eq!(limit_headroom(160 * MIB), 10 * MIB);
    }

    #[rustfmt::skip]
    const GOGC_PARSE_CASES: &[(&str, Result<Option<u32>, ParseValueError>)] = &[
        ("100", Ok(Some(100))),
        ("0", Ok(Some(0))),
        ("50", Ok(Some(50))),
        ("007", Ok(Some(7))),
        (" 200\n", Ok(Some(200))),
        ("off", Ok(None)),
        ("OFF", Ok(None)),
        (" Off ", Ok(None)),
        ("4294967295", Ok(Some(u32::MAX))),
        ("4294967296", Err(ParseValueError::Overflow)),
        ("99999999999999999999999", Err(ParseValueError::Overflow)),
        ("", Err(ParseValueError::Empty)),
        ("   ", Err(ParseValueError::Empty)),
        ("abc", Err(ParseValueError::InvalidNumber)),
        ("-5", Err(ParseValueError::Negative)),
        ("-", Err(ParseValueError::InvalidNumber)),
        ("+5", Err(ParseValueError::InvalidNumber)),
        ("1.5", Err(ParseValueError::InvalidNumber)),
        ("100%", Err(ParseValueError::InvalidNumber)),
        ("10 0", Err(ParseValueError::InvalidNumber)),
        ("offf", Err(ParseValueError::InvalidNumber)),
    ];

    #[test]
    fn parse_gogc_table() {
        for (input, expected) in GOGC_PARSE_CASES {
            assert_eq!(&parse_gogc(input), expected, "input {input:?}");
        }
    }

    fn unknown(unit: &str) -> ParseValueError {
        ParseValueError::UnknownUnit(unit.to_owned())
    }

    #[test]
    fn parse_bytes_table() {
        let cases: Vec<(&str, Result<u64, ParseValueError>)> = vec![
            ("0", Ok(0)),
            ("1024", Ok(1024)),
            ("18446744073709551615", Ok(u64::MAX)),
            ("512B", Ok(512)),
            ("64KiB", Ok(64 * KIB)),
            ("64 KiB", Ok(64 * KIB)),
            (" 1MiB ", Ok(MIB)),
            ("2GiB", Ok(2 * GIB)),
            ("1TiB", Ok(TIB)),
            ("1kib", Ok(KIB)),
            ("3gib", Ok(3 * GIB)),
            ("1KB", Ok(1_000)),
            ("5MB", Ok(5_000_000)),
            ("3GB", Ok(3_000_000_000)),
            ("2TB", Ok(2_000_000_000_000)),
            ("16777215TiB", Ok(16_777_215 * TIB)),
            ("", Err(ParseValueError::Empty)),
            ("  ", Err(ParseValueError::Empty)),
            ("abc", Err(ParseValueError::InvalidNumber)),
            ("KiB", Err(ParseValueError::InvalidNumber)),
            ("-5", Err(ParseValueError::Negative)),
            ("-5MiB", Err(ParseValueError::Negative)),
            ("+5", Err(ParseValueError::InvalidNumber)),
            ("1.5GiB", Err(ParseValueError::InvalidNumber)),
            ("1,000", Err(ParseValueError::InvalidNumber)),
            ("10XB", Err(unknown("XB"))),
            ("10 XB", Err(unknown("XB"))),
            ("10K", Err(unknown("K"))),
            ("10 MiB extra", Err(unknown("MiB extra"))),
            ("off", Err(ParseValueError::InvalidNumber)),
            ("18446744073709551616", Err(ParseValueError::Overflow)),
            ("16777216TiB", Err(ParseValueError::Overflow)),
            ("17179869184GiB", Err(ParseValueError::Overflow)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_bytes(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn parse_memory_limit_table() {
        let cases: Vec<(&str, Result<Option<u64>, ParseValueError>)> = vec![
            ("off", Ok(None)),
            (" OFF ", Ok(None)),
            ("512MiB", Ok(Some(512 * MIB))),
            ("0", Ok(Some(0))),
            ("", Err(ParseValueError::Empty)),
            ("10XB", Err(unknown("XB"))),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_memory_limit(input), expected, "input {input:?}");
        }
    }

    /// A fake environment: (name, value) pairs.
    type Vars<'a> = &'a [(&'a str, &'a str)];

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn from_env_table() {
        const BASE: PacerConfig = CONCURRENT.with_memory_limit(Some(GIB)).with_min_heap(MIB);
        let base = || BASE;
        let cases: Vec<(&str, Vars, PacerConfig)> = vec![
            ("nothing set", &[], base()),
            (
                "gogc number",
                &[(GOGC_VAR, "50")],
                base().with_gogc(Some(50)),
            ),
            ("gogc off", &[(GOGC_VAR, "off")], base().with_gogc(None)),
            ("gogc empty is unset", &[(GOGC_VAR, "")], base()),
            (
                "limit with unit",
                &[(MEMORY_LIMIT_VAR, "512MiB")],
                base().with_memory_limit(Some(512 * MIB)),
            ),
            (
                "limit off",
                &[(MEMORY_LIMIT_VAR, "off")],
                base().with_memory_limit(None),
            ),
            ("limit blank is unset", &[(MEMORY_LIMIT_VAR, "  ")], base()),
            (
                "both",
                &[(GOGC_VAR, "200"), (MEMORY_LIMIT_VAR, "2GB")],
                base()
                    .with_gogc(Some(200))
                    .with_memory_limit(Some(2_000_000_000)),
            ),
            ("unrelated variable", &[("GOGC", "abc")], base()),
        ];
        for (name, vars, expected) in cases {
            let got = PacerConfig::from_env_with(base(), env(vars));
            assert_eq!(got, Ok(expected), "case {name:?}");
        }
    }

    #[test]
    fn from_env_errors_name_the_variable() {
        let cases: Vec<(Vars, &str, &str, ParseValueError)> = vec![
            (
                &[(GOGC_VAR, "abc")],
                GOGC_VAR,
                "abc",
                ParseValueError::InvalidNumber,
            ),
            (
                &[(GOGC_VAR, "-5")],
                GOGC_VAR,
                "-5",
                ParseValueError::Negative,
            ),
            (
                &[(MEMORY_LIMIT_VAR, "10XB")],
                MEMORY_LIMIT_VAR,
                "10XB",
                unknown("XB"),
            ),
            (
                &[(GOGC_VAR, "100"), (MEMORY_LIMIT_VAR, "-1")],
                MEMORY_LIMIT_VAR,
                "-1",
                ParseValueError::Negative,
            ),
        ];
        for (vars, variable, value, reason) in cases {
            let err = PacerConfig::from_env_with(DEFAULT, env(vars)).unwrap_err();
            assert_eq!(err.variable(), variable, "vars {vars:?}");
            assert_eq!(err.value(), value, "vars {vars:?}");
            assert_eq!(err.reason(), &reason, "vars {vars:?}");
            let message = err.to_string();
            assert!(message.contains(variable), "{message}");
            assert!(message.contains(&format!("{value:?}")), "{message}");
            assert!(message.contains(&reason.to_string()), "{message}");
            assert!(err.source().is_some(), "vars {vars:?}");
        }
    }

    #[test]
    fn error_messages() {
        let err = PacerConfig::from_env_with(DEFAULT, env(&[(GOGC_VAR, "abc")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TRICOLOR_GOGC=\"abc\": not a non-negative decimal integer \
             (expected a percentage such as 100, or \"off\")"
        );
        let err =
            PacerConfig::from_env_with(DEFAULT, env(&[(MEMORY_LIMIT_VAR, "10XB")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid TRICOLOR_MEMORY_LIMIT=\"10XB\": unknown unit \"XB\" \
             (expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB) \
             (expected a byte count such as 536870912 or 512MiB, or \"off\")"
        );
    }

    fn any_bytes() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..=64 * GIB,
            any::<u64>(),
            (u64::MAX - GIB)..=u64::MAX,
            Just(0),
        ]
    }

    fn any_ratio() -> impl Strategy<Value = f64> {
        prop_oneof![0.0..=1.0f64, 1.0..=4.0f64, proptest::num::f64::ANY]
    }

    fn any_config() -> impl Strategy<Value = PacerConfig> {
        (
            proptest::option::of(prop_oneof![0..=1000u32, any::<u32>()]),
            proptest::option::of(any_bytes()),
            prop_oneof![0..=64 * MIB, any_bytes()],
            any_ratio(),
            any_ratio(),
        )
            .prop_map(
                |(gogc, memory_limit, min_heap, trigger_ratio, hard_ratio)| PacerConfig {
                    gogc,
                    memory_limit,
                    min_heap,
                    trigger_ratio,
                    hard_ratio,
                },
            )
    }

    fn assert_not_above(a: CycleGoal, b: CycleGoal) -> Result<(), TestCaseError> {
        prop_assert!(a.goal <= b.goal, "goal {} > {}", a.goal, b.goal);
        prop_assert!(
            a.trigger <= b.trigger,
            "trigger {} > {}",
            a.trigger,
            b.trigger
        );
        prop_assert!(
            a.hard_limit <= b.hard_limit,
            "hard {} > {}",
            a.hard_limit,
            b.hard_limit
        );
        Ok(())
    }

    proptest! {
        #[test]
        fn scale_rounds_to_nearest(value in 0..=(1u64 << 40), ratio in 0.0..=4.0f64) {
            let exact = value as f64 * ratio;
            let got = scale(value, ratio) as f64;
            prop_assert!((got - exact).abs() <= 0.5 + exact * 1e-12, "{value} * {ratio} = {got}");
        }

        /// The watch reports exactly the cycles that end at or above the
        /// threshold after one that ended below it (or had no limit).
        #[test]
        fn watch_reports_each_upward_crossing_once(
            fraction in any_ratio(),
            cycles in proptest::collection::vec((0..=200 * MIB, proptest::option::of(0..=200 * MIB)), 0..40),
        ) {
            let mut watch = LimitWatch::new(fraction);
            let mut was_above = false;
            for (live, limit) in cycles {
                let above = limit.is_some_and(|l| live >= watch.threshold(l));
                prop_assert_eq!(watch.observe(live, limit).is_some(), above && !was_above);
                was_above = above;
            }
        }

        #[test]
        fn plan_invariants(config in any_config(), live in any_bytes(), heap in any_bytes()) {
            let plan = CycleGoal::compute(&config, live);
            // 1. Ordering.
            prop_assert!(live <= plan.trigger, "{plan:?}");
            prop_assert!(plan.trigger <= plan.goal, "{plan:?}");
            prop_assert!(plan.goal <= plan.hard_limit, "{plan:?}");
            // 2. Minimum runway: no immediate re-trigger.
            prop_assert!(plan.goal >= live.saturating_add(MIN_TRIGGER_STEP), "{plan:?}");
            if plan.goal != NEVER {
                prop_assert!(plan.trigger >= live + MIN_TRIGGER_STEP, "{plan:?}");
                prop_assert_eq!(plan.decide(live), Decision::Continue);
            }
            // 3. Floor.
            let floor = config.min_heap.min(config.memory_limit.unwrap_or(NEVER));
            prop_assert!(plan.goal >= floor, "{plan:?}");
            // 4. Memory limit.
            match config.memory_limit {
                Some(limit) => {
                    let ceiling = limit.max(live.saturating_add(limit_headroom(live)));
                    prop_assert!(plan.goal <= ceiling, "{plan:?}");
                    prop_assert_eq!(plan.over_limit, plan.goal > limit);
                }
                None => prop_assert!(!plan.over_limit),
            }
            // 6. Never.
            if config.gogc.is_none() && config.memory_limit.is_none() {
                prop_assert_eq!((plan.goal, plan.trigger), (NEVER, NEVER));
                prop_assert_eq!(plan.decide(heap), Decision::Continue);
            }
            // decide() agrees with the thresholds.
            let decision = plan.decide(heap);
            let blocks = plan.hard_limit != NEVER && heap >= plan.hard_limit;
            prop_assert_eq!(decision == Decision::Block, blocks);
            if decision == Decision::Continue {
                prop_assert!(plan.trigger == NEVER || heap < plan.trigger);
            }
        }

        #[test]
        fn plan_is_monotonic(
            config in any_config(),
            a in any_bytes(),
            b in any_bytes(),
            gogc in proptest::option::of(any::<u32>()),
            limit in proptest::option::of(any_bytes()),
            min_heap in any_bytes(),
        ) {
            // 5. In live.
            let (lo, hi) = (a.min(b), a.max(b));
            assert_not_above(CycleGoal::compute(&config, lo), CycleGoal::compute(&config, hi))?;
            // In GOGC, off counting as infinite.
            let rank = |g: Option<u32>| g.map_or(u64::MAX, u64::from);
            let (g_lo, g_hi) = if rank(gogc) <= rank(config.gogc) {
                (gogc, config.gogc)
            } else {
                (config.gogc, gogc)
            };
            assert_not_above(
                CycleGoal::compute(&config.clone().with_gogc(g_lo), a),
                CycleGoal::compute(&config.clone().with_gogc(g_hi), a),
            )?;
            // In the memory limit, none counting as infinite.
            let (l_lo, l_hi) = if limit.unwrap_or(NEVER) <= config.memory_limit.unwrap_or(NEVER) {
                (limit, config.memory_limit)
            } else {
                (config.memory_limit, limit)
            };
            assert_not_above(
                CycleGoal::compute(&config.clone().with_memory_limit(l_lo), a),
                CycleGoal::compute(&config.clone().with_memory_limit(l_hi), a),
            )?;
            // In min_heap.
            let (m_lo, m_hi) = (min_heap.min(config.min_heap), min_heap.max(config.min_heap));
            assert_not_above(
                CycleGoal::compute(&config.clone().with_min_heap(m_lo), a),
                CycleGoal::compute(&config.clone().with_min_heap(m_hi), a),
            )?;
            // decide() is monotonic in the heap size.
            let plan = CycleGoal::compute(&config, a);
            prop_assert!(plan.decide(lo) <= plan.decide(hi));
        }
    }
}
