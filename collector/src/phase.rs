//! The collector's phase, and the table of legal transitions.
//!
//! | from | to | where (lib.rs essay step) |
//! |---|---|---|
//! | `Off` | `SweepTermination` | a cycle starts, world stopped (step 2a) |
//! | `SweepTermination` | `Mark` | sweep finished, caches flushed, allocate-black on; the barrier turns on (step 2d) |
//! | `Mark` | `MarkTermination` | world stopped for mark termination; the barrier turns off (step 4b; with the barrier off, after the stop-the-world mark) |
//! | `MarkTermination` | `Off` | grey set empty, sweep cycle begun, world restarting (step 4b/5) |
//!
//! Mutators read the phase (the barrier's fast path: `Mark` or not) and
//! never write it; it changes only with the world stopped.
//!
//! `Off` covers concurrent sweeping too, as Go's `_GCoff` does: sweeping
//! needs no barrier. A heap keeps its phase in a `PhaseWord`; every change
//! goes through `PhaseWord::transition`, which checks the table in debug
//! builds.

use std::sync::atomic::{AtomicU8, Ordering};

/// A phase of the collection cycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// No cycle in progress (sweeping may be).
    Off = 0,
    /// Finishing the previous cycle's sweep, world stopped.
    SweepTermination = 1,
    /// Marking.
    Mark = 2,
    /// Marking finished; computing the next goal and starting the sweep.
    MarkTermination = 3,
}

impl Phase {
    pub(crate) fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Off,
            1 => Phase::SweepTermination,
            2 => Phase::Mark,
            _ => Phase::MarkTermination,
        }
    }

    /// Whether `self → to` is in the table.
    pub fn may_become(self, to: Phase) -> bool {
        matches!(
            (self, to),
            (Phase::Off, Phase::SweepTermination)
                | (Phase::SweepTermination, Phase::Mark)
                | (Phase::Mark, Phase::MarkTermination)
                | (Phase::MarkTermination, Phase::Off)
        )
    }
}

/// A heap's phase, as one atomic byte.
///
/// Written only by the thread that runs the cycle, with the world stopped
/// (`transition`); read by every mutator's barrier fast path (`marking`)
/// with a relaxed load. Restarting the world orders a change before every
/// later store of every mutator (barriers §10.2).
pub(crate) struct PhaseWord(AtomicU8);

impl PhaseWord {
    /// `Off`: no cycle.
    pub(crate) fn new() -> PhaseWord {
        PhaseWord(AtomicU8::new(Phase::Off as u8))
    }

    /// Whether stores must take the barrier's slow path: the heap is in
    /// `Mark`. One relaxed load.
    #[inline(always)]
    pub(crate) fn marking(&self) -> bool {
        self.0.load(Ordering::Relaxed) == Phase::Mark as u8
    }

    /// Moves the heap from phase `from` to `to` (a row of the table).
    pub(crate) fn transition(&self, from: Phase, to: Phase) {
        debug_assert!(
            from.may_become(to),
            "illegal phase change {from:?} -> {to:?}"
        );
        let prev = self.0.swap(to as u8, Ordering::AcqRel);
        debug_assert_eq!(
            Phase::from_u8(prev),
            from,
            "phase change {from:?} -> {to:?} found the heap in {:?}",
            Phase::from_u8(prev)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Phase::*;

    #[test]
    fn the_table_is_one_cycle() {
        let all = [Off, SweepTermination, Mark, MarkTermination];
        let mut p = Off;
        for _ in 0..4 {
            let next: Vec<_> = all.iter().filter(|&&q| p.may_become(q)).collect();
            assert_eq!(next.len(), 1, "{p:?} has exactly one successor");
            p = *next[0];
        }
        assert_eq!(p, Off, "four steps make one cycle");
    }
}
