//! The measuring kit of the tricolor benchmarks: what more than one bench
//! binary needs and nothing outside the benches does. Generic scaffolding
//! (the PRNG, quantiles, `/proc`, child processes) is in `tricolor-testkit`.
//!
//! - Criterion's saved estimates, read back for the summary tables that the
//!   `alloc` and `barrier` benches print after criterion's own output
//!   ([`criterion_dir`], [`saved_json`], [`median_ns`], [`run_started`]).
//! - Whether a criterion bench binary was started as a plain run, with no
//!   filter or mode of criterion's ([`criterion_args`]).
//! - The paired checks' interleaved rounds ([`interleaved_rounds`]).
//! - The pictures of the pause and throughput benches ([`plot`]).

pub mod plot;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Where criterion keeps its results (its own rule, minus the `cargo
/// metadata` fallback: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else the workspace's `target/criterion`).
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// The time from which criterion's saved files count as this run's: a
/// little before now, since file times have one-second granularity on some
/// systems and files written in the first second must still count.
pub fn run_started() -> SystemTime {
    SystemTime::now() - Duration::from_secs(2)
}

/// One of criterion's saved files (`estimates.json`, `sample.json`) for the
/// benchmark `id` (`group/function` or `group/function/parameter`), if it
/// was written since `since`.
///
/// ```no_run
/// let since = tricolor_benches::run_started();
/// // ... run criterion ...
/// let samples = tricolor_benches::saved_json("store_plain/release_store", "sample.json", since);
/// ```
pub fn saved_json(id: &str, file: &str, since: SystemTime) -> Option<serde_json::Value> {
    let path = criterion_dir().join(id).join("new").join(file);
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    serde_json::from_slice(&std::fs::read(&path).ok()?).ok()
}

/// Criterion's median estimate of the time per iteration of benchmark `id`,
/// in ns, if this run saved one (see [`saved_json`]).
pub fn median_ns(id: &str, since: SystemTime) -> Option<f64> {
    saved_json(id, "estimates.json", since)?["median"]["point_estimate"].as_f64()
}

/// How a criterion bench binary was started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriterionArgs {
    /// No argument but the `--bench` that `cargo bench` passes: no filter,
    /// no `--test`, `--list` or `--profile-time`, none of the bench's own
    /// flags.
    pub plain: bool,
    /// Which of the bench's own flags (given without their `--`) were
    /// passed.
    pub own: BTreeSet<String>,
}

/// Scans the command line of a criterion bench binary for the bench's own
/// value-less long flags `own` (named without their `--`); every other
/// argument is criterion's, left for `Criterion::configure_from_args`, and
/// makes the run not plain.
///
/// ```
/// let a = tricolor_benches::criterion_args(["--bench"], &["paired-only"]);
/// assert!(a.plain && a.own.is_empty());
/// let a = tricolor_benches::criterion_args(["--bench", "--paired-only"], &["paired-only"]);
/// assert!(!a.plain && a.own.contains("paired-only"));
/// let a = tricolor_benches::criterion_args(["--bench", "alloc_churn", "--save-baseline=x"], &[]);
/// assert!(!a.plain);
/// ```
pub fn criterion_args(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
    own: &[&str],
) -> CriterionArgs {
    use lexopt::Arg::Long;
    let mut parser = lexopt::Parser::from_args(args);
    let mut out = CriterionArgs {
        plain: true,
        own: BTreeSet::new(),
    };
    loop {
        match parser.next() {
            Ok(None) => break,
            Ok(Some(Long("bench"))) => {}
            Ok(Some(Long(flag))) if own.contains(&flag) => {
                out.own.insert(flag.to_string());
                out.plain = false;
            }
            // Criterion's own arguments, and an option's `=value` that
            // lexopt reports as unexpected since nothing asked for it.
            Ok(Some(_)) | Err(_) => out.plain = false,
        }
    }
    out
}

/// A paired check's measurement: round after round, one batch of each of
/// `subjects` subjects, in rotating order (round `r` starts with subject
/// `r % subjects`), for at least `wall` of wall time and at least
/// `min_rounds` rounds. `run(i)` runs one batch of subject `i` and returns
/// its figure (say, ns per object). Returns each subject's figures, one per
/// round, so that per-round ratios between subjects cancel disturbances
/// that last longer than a round.
///
/// ```
/// let per_round = tricolor_benches::interleaved_rounds(2, std::time::Duration::ZERO, 5, |i| i as f64);
/// assert_eq!(per_round, vec![vec![0.0; 5], vec![1.0; 5]]);
/// ```
pub fn interleaved_rounds(
    subjects: usize,
    wall: Duration,
    min_rounds: usize,
    mut run: impl FnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); subjects];
    let start = Instant::now();
    let mut round = 0;
    while start.elapsed() < wall || round < min_rounds {
        for j in 0..subjects {
            let i = (round + j) % subjects;
            per_round[i].push(run(i));
        }
        round += 1;
    }
    per_round
}
