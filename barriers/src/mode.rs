//! The barrier mode: which algorithm a heap runs while marking, and what
//! each one asks of the collector.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

/// Which write barrier a heap runs while marking (§2–§8 of the crate docs).
///
/// The mode is chosen once per heap. Besides naming the algorithm that
/// [`shades`](Self::shades) applies to each store, it tells the collector
/// what the algorithm relies on: whether stacks must be rescanned at mark
/// termination ([`rescans_stacks`](Self::rescans_stacks)) and whether a
/// mutator's stack must be scanned before it stores
/// ([`scans_stack_before_store`](Self::scans_stack_before_store)).
///
/// The textual names are the ones [`FromStr`] and [`Display`](fmt::Display)
/// use:
///
/// ```
/// use tricolor_barriers::BarrierMode;
///
/// let mode: BarrierMode = "hybrid".parse()?;
/// assert_eq!(mode, BarrierMode::Hybrid);
/// assert_eq!(mode.to_string(), "hybrid");
/// assert!("dijkstra".parse::<BarrierMode>().is_err());
/// # Ok::<(), tricolor_barriers::ParseBarrierModeError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum BarrierMode {
    /// No barrier: nothing is recorded (§8). Correct only if no mutator
    /// stores a pointer while marking, that is, if marking stops the world.
    Off,
    /// Snapshot-at-the-beginning, Yuasa's deletion barrier: record the
    /// overwritten value (§5).
    Satb,
    /// Incremental update, Dijkstra's insertion barrier: record the stored
    /// value (§4).
    IncrementalUpdate,
    /// Go's hybrid barrier (since Go 1.8): record the overwritten value, and
    /// the stored value while the storing mutator's stack is not yet scanned
    /// (§6). The default: stacks are scanned one at a time and never
    /// rescanned.
    #[default]
    Hybrid,
}

impl BarrierMode {
    /// Every mode, in the order of [`VALID`](Self::VALID).
    pub const ALL: [BarrierMode; 4] = [
        BarrierMode::Off,
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Hybrid,
    ];

    /// The names [`FromStr`] accepts, one per mode of [`ALL`](Self::ALL).
    pub const VALID: [&'static str; 4] = ["off", "satb", "incremental", "hybrid"];

    /// The mode's name: `"off"`, `"satb"`, `"incremental"` or `"hybrid"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BarrierMode::Off => "off",
            BarrierMode::Satb => "satb",
            BarrierMode::IncrementalUpdate => "incremental",
            BarrierMode::Hybrid => "hybrid",
        }
    }

    /// Whether the mode records anything at all (every mode but
    /// [`Off`](Self::Off)).
    pub const fn is_enabled(self) -> bool {
        !matches!(self, BarrierMode::Off)
    }

    /// Whether mark termination must rescan every stack with the world
    /// stopped: true for [`IncrementalUpdate`](Self::IncrementalUpdate) only,
    /// whose stacks stay grey for the whole of marking (§4). Under the other
    /// modes a scanned stack is black and is never scanned again (§5, §6).
    pub const fn rescans_stacks(self) -> bool {
        matches!(self, BarrierMode::IncrementalUpdate)
    }

    /// Whether a mutator's stack must have been scanned before that mutator
    /// stores a pointer while marking: true for [`Satb`](Self::Satb) only.
    ///
    /// A deletion barrier alone cannot see a pointer that moves from a stack
    /// that has not been scanned into a heap object that is already black
    /// (§5 gives the lost object). The collector meets this either by
    /// scanning every stack in the pause that turns the barrier on, or by
    /// having each mutator scan its own stack at its first safepoint after
    /// that pause, before it returns to code that stores. The hybrid barrier
    /// exists to lift exactly this requirement (§6).
    pub const fn scans_stack_before_store(self) -> bool {
        matches!(self, BarrierMode::Satb)
    }
}

impl fmt::Display for BarrierMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BarrierMode {
    type Err = ParseBarrierModeError;

    /// Parses one of [`BarrierMode::VALID`], ignoring ASCII case and
    /// surrounding whitespace (the value often comes from an environment
    /// variable).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        BarrierMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseBarrierModeError {
                input: s.to_owned(),
            })
    }
}

/// The error of parsing a [`BarrierMode`] from a string that names none.
///
/// Its message quotes the input and lists the valid names:
///
/// ```
/// use tricolor_barriers::BarrierMode;
///
/// let err = "yuasa".parse::<BarrierMode>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "unknown barrier mode \"yuasa\": expected one of off, satb, incremental, hybrid"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBarrierModeError {
    input: String,
}

impl ParseBarrierModeError {
    /// The string that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseBarrierModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown barrier mode {:?}: expected one of {}",
            self.input,
            BarrierMode::VALID.join(", ")
        )
    }
}

impl Error for ParseBarrierModeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (mode, name) in BarrierMode::ALL.into_iter().zip(BarrierMode::VALID) {
            assert_eq!(mode.as_str(), name);
            assert_eq!(mode.to_string(), name);
            assert_eq!(name.parse::<BarrierMode>(), Ok(mode));
        }
    }

    #[test]
    fn parsing_ignores_case_and_whitespace() {
        assert_eq!(" SATB\n".parse(), Ok(BarrierMode::Satb));
        assert_eq!("Incremental".parse(), Ok(BarrierMode::IncrementalUpdate));
    }

    #[test]
    fn bad_names_are_rejected_with_the_valid_list() {
        for bad in ["", "on", "yuasa", "dijkstra", "incremental-update", "satb2"] {
            let err = bad.parse::<BarrierMode>().unwrap_err();
            assert_eq!(err.input(), bad);
            let msg = err.to_string();
            for name in BarrierMode::VALID {
                assert!(msg.contains(name), "{msg:?} lists {name}");
            }
        }
    }

    #[test]
    fn obligations() {
        use BarrierMode::*;
        assert!(!Off.is_enabled());
        assert!(Satb.is_enabled() && IncrementalUpdate.is_enabled() && Hybrid.is_enabled());
        let rescans: Vec<_> = BarrierMode::ALL
            .into_iter()
            .filter(|m| m.rescans_stacks())
            .collect();
        assert_eq!(rescans, [IncrementalUpdate]);
        let scan_first: Vec<_> = BarrierMode::ALL
            .into_iter()
            .filter(|m| m.scans_stack_before_store())
            .collect();
        assert_eq!(scan_first, [Satb]);
    }
}
