//! Heap configuration, from code and from the environment.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;

use tricolor_barriers::BarrierMode;

use crate::policy::pacer::PacerConfig;

/// How a heap behaves. `Config::default()` is production behaviour;
/// [`Config::from_env`] applies the `TRICOLOR_*` environment variables on top.
///
/// ```
/// use std::num::NonZeroU32;
/// use tricolor_collector::{Config, Heap};
///
/// // A debugging configuration: collect often and check everything.
/// let config = Config {
///     gc_stress: NonZeroU32::new(50),
///     checkmark: true,
///     verify: true,
///     poison: true,
///     mark_workers: 2,
///     ..Config::default()
/// };
/// let heap = Heap::new(config);
/// # drop(heap);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Pacing: GOGC percentage, soft memory limit, minimum goal, and where
    /// in the runway a cycle starts. The default triggers at 70% of the
    /// runway ([`PacerConfig::concurrent`]) so a concurrent mark can finish
    /// before the heap reaches its goal.
    pub pacer: PacerConfig,
    /// The write barrier, which decides how marking runs alongside the
    /// mutators. Default: [`BarrierMode::Hybrid`] (Go's). `Satb` and
    /// `IncrementalUpdate` mark concurrently too, with the costs described in
    /// `tricolor-barriers`; `Off` marks with the world stopped (no barrier
    /// cost, pauses proportional to the live heap).
    /// Env: `TRICOLOR_BARRIER=off|satb|incremental|hybrid`.
    pub barrier: BarrierMode,
    /// Mark workers. With a concurrent barrier these are background threads
    /// (0 means about a quarter of the cores, at least one); with the
    /// barrier off, the threads of the stop-the-world mark counting the
    /// collector thread (0 means one per core). Env: `TRICOLOR_MARK_WORKERS`.
    pub mark_workers: usize,
    /// Run background mark workers at the operating system's idle priority
    /// (`SCHED_IDLE` on Linux), so that marking uses only CPU time no other
    /// thread wants; mark assists keep marking ahead of allocation. Default:
    /// on. Env: `TRICOLOR_MARK_IDLE=0` turns it off.
    pub idle_priority_workers: bool,
    /// Mutators that allocate during a concurrent mark do marking work in
    /// proportion ([`crate::mutator::assist`]). Default: on.
    pub mark_assists: bool,
    /// Cycles run only when requested (`collect`) or stepped with
    /// [`Heap::begin_cycle`](crate::Heap::begin_cycle); the pacer never
    /// starts or blocks on one, and there are no background mark workers.
    /// For deterministic tests and fuzzing. Default: off.
    pub manual_cycles: bool,
    /// Run a background sweeper thread (sweeping also happens lazily when
    /// allocation needs a span). Default: on.
    pub background_sweeper: bool,
    /// After marking, re-mark from the roots with separate bookkeeping and
    /// fail loudly, naming the object and the path to it, if anything
    /// reachable was left unmarked. Env: `TRICOLOR_CHECKMARK=1`.
    pub checkmark: bool,
    /// After marking, check every live object: a valid header, and every
    /// pointer field null or the start of a live object of this heap.
    /// Env: `TRICOLOR_VERIFY=1`.
    pub verify: bool,
    /// Fill freed objects with a poison pattern when they are swept; the
    /// marker and verifier report a poisoned object if one is ever reached.
    /// Env: `TRICOLOR_POISON=1`.
    pub poison: bool,
    /// Collect at every Nth safepoint poll of each mutator (every allocation
    /// polls, so this is at most every Nth allocation).
    /// Env: `TRICOLOR_GCSTRESS=N`.
    pub gc_stress: Option<NonZeroU32>,
    /// Print one line per cycle to standard error. Env: `TRICOLOR_GCTRACE=1`.
    pub gctrace: bool,
    /// Count live objects and bytes per type in every mark
    /// ([`CycleStats::per_type`](crate::CycleStats::per_type), cppgc's
    /// `HeapStatistics`): each marker counts what it marks in counters of
    /// its own, added to the cycle's table with its other counts. Costs a
    /// header read for each object without pointers (the marker reads the
    /// others' headers anyway) and a counter update per object; off by
    /// default. Env: `TRICOLOR_PER_TYPE_STATS=1`.
    pub per_type_stats: bool,
    /// Generational collection with sticky mark bits (the `generation`
    /// module's essay): most cycles are minor, marking only from the roots
    /// and the remembered set and freeing only young objects, while old
    /// objects keep their mark bits; the pacer asks for a major cycle when
    /// the old generation has grown by GOGC per cent since the last one.
    /// [`Heap::collect`](crate::Heap::collect) is always major. Costs a
    /// header test on every pointer store outside a mark. Off by default
    /// (on with the crate's testing feature `test-generational`, which runs
    /// the test suite in generational mode). Env: `TRICOLOR_GENERATIONAL=1`.
    pub generational: bool,
    /// When a generational heap's objects become old (generation §1):
    /// [`Tenure::Adaptive`](crate::Tenure::Adaptive), the default, decides
    /// per cycle between the first survival and the second. Env:
    /// `TRICOLOR_TENURE=adaptive|first|second`.
    pub tenure: crate::Tenure,
    /// Sampled heap profiling: on average one allocation sampled per this
    /// many bytes allocated, with its stack and type, for
    /// [`Heap::write_heap_profile`](crate::Heap::write_heap_profile) (Go's
    /// `runtime.MemProfileRate`; [`DEFAULT_HEAP_PROFILE_RATE`] is Go's
    /// 512 KiB). `None`, the default, samples nothing and costs the
    /// allocation fast path nothing; [`Heap::set_heap_profile_rate`](crate::Heap::set_heap_profile_rate)
    /// changes it at run time. Env: `TRICOLOR_HEAP_PROFILE_RATE=BYTES`
    /// (`off` or `0` for `None`).
    pub heap_profile_rate: Option<u64>,
    /// Write the heap profile to this file when the heap goes (the last
    /// [`Heap`](crate::Heap) handle and mutator dropped), as
    /// [`Heap::write_heap_profile`](crate::Heap::write_heap_profile) would;
    /// a failure is reported on standard error. Several heaps configured
    /// with one path each write it as they go, the last one's staying.
    /// Env: `TRICOLOR_HEAP_PROFILE=PATH`, which also turns sampling on at
    /// [`DEFAULT_HEAP_PROFILE_RATE`] unless a rate is set.
    pub heap_profile_path: Option<PathBuf>,
    /// Largest object, in bytes.
    pub max_object_size: usize,
    /// Most address space the heap may reserve, in bytes.
    pub max_heap_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        let alloc = tricolor_allocator::Config::default();
        Config {
            pacer: PacerConfig::concurrent(),
            barrier: BarrierMode::Hybrid,
            mark_workers: 0,
            idle_priority_workers: true,
            mark_assists: true,
            manual_cycles: false,
            background_sweeper: true,
            checkmark: false,
            verify: false,
            poison: false,
            gc_stress: None,
            gctrace: false,
            per_type_stats: false,
            generational: cfg!(feature = "test-generational"),
            tenure: crate::Tenure::Adaptive,
            heap_profile_rate: None,
            heap_profile_path: None,
            max_object_size: alloc.max_object_size,
            max_heap_bytes: alloc.max_heap_bytes,
        }
    }
}

/// Go's default heap profile rate, 512 KiB: what
/// `TRICOLOR_HEAP_PROFILE` turns sampling on at when no rate is given.
///
/// ```
/// use tricolor_collector::{Config, DEFAULT_HEAP_PROFILE_RATE};
///
/// let config = Config { heap_profile_rate: Some(DEFAULT_HEAP_PROFILE_RATE), ..Config::default() };
/// assert_eq!(config.heap_profile_rate, Some(512 << 10));
/// ```
pub const DEFAULT_HEAP_PROFILE_RATE: u64 = 512 << 10;

/// A malformed `TRICOLOR_*` environment variable.
///
/// ```
/// use tricolor_collector::Config;
///
/// let e = Config::default()
///     .with_env(|k| (k == "TRICOLOR_GCSTRESS").then(|| "often".to_string()))
///     .unwrap_err();
/// assert_eq!(e.variable, "TRICOLOR_GCSTRESS");
/// assert_eq!(e.to_string(), r#"TRICOLOR_GCSTRESS: expected a whole number, got "often""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// `Config::default()` with the environment applied.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `TRICOLOR_GOGC` | percentage, or `off` |
    /// | `TRICOLOR_MEMORY_LIMIT` | bytes, with an optional KiB/MiB/GiB/KB/MB/GB suffix |
    /// | `TRICOLOR_BARRIER` | `off`, `satb`, `incremental` or `hybrid` |
    /// | `TRICOLOR_MARK_WORKERS` | number of mark workers |
    /// | `TRICOLOR_MARK_IDLE` | `0` runs background mark workers at normal priority |
    /// | `TRICOLOR_GCTRACE` | `1` prints a line per cycle |
    /// | `TRICOLOR_PER_TYPE_STATS` | `1` counts live objects and bytes per type in every mark |
    /// | `TRICOLOR_GENERATIONAL` | `1` collects generationally (sticky mark bits) |
    /// | `TRICOLOR_TENURE` | `adaptive`, `first` or `second`: when objects become old |
    /// | `TRICOLOR_CHECKMARK`, `TRICOLOR_VERIFY`, `TRICOLOR_POISON` | `1` turns the mode on |
    /// | `TRICOLOR_GCSTRESS` | collect every N allocations |
    /// | `TRICOLOR_HEAP_PROFILE_RATE` | bytes between heap profile samples on average, or `off` |
    /// | `TRICOLOR_HEAP_PROFILE` | a file the heap profile is written to when the heap goes |
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// // The defaults, overridden by `TRICOLOR_*` variables; a malformed
    /// // variable is an error that names it.
    /// let heap = Heap::new(Config::from_env()?);
    /// # drop(heap);
    /// # Ok::<(), tricolor_collector::ConfigError>(())
    /// ```
    ///
    /// To apply the environment on top of a configuration of the VM's own,
    /// use [`with_env`](Self::with_env) with `std::env::var`.
    ///
    /// # Errors
    /// [`ConfigError`], naming the variable, if one is malformed.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::default().with_env(|k| std::env::var(k).ok())
    }

    /// Applies variables read through `get` (testable without touching the
    /// process environment).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tricolor_collector::Config;
    ///
    /// // Settings from the VM's own command line or config file.
    /// let vars = HashMap::from([("TRICOLOR_GOGC", "200"), ("TRICOLOR_VERIFY", "1")]);
    /// let config = Config { mark_workers: 4, ..Config::default() }
    ///     .with_env(|k| vars.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.pacer.gogc, Some(200));
    /// assert!(config.verify);
    /// assert_eq!(config.mark_workers, 4, "unset variables leave fields alone");
    ///
    /// // The process environment on top of the VM's defaults:
    /// let config = config.with_env(|k| std::env::var(k).ok())?;
    /// # drop(config);
    /// # Ok::<(), tricolor_collector::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`], naming the variable, if one is malformed.
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        fn flag(v: &str, variable: &'static str) -> Result<bool, ConfigError> {
            match v.trim() {
                "1" | "true" | "on" => Ok(true),
                "0" | "false" | "off" | "" => Ok(false),
                other => Err(ConfigError {
                    variable,
                    message: format!("expected 1 or 0, got {other:?}"),
                }),
            }
        }
        fn number(v: &str, variable: &'static str) -> Result<u32, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError {
                variable,
                message: format!("expected a whole number, got {v:?}"),
            })
        }
        // The pacer's variables have one parser, the pacer's own (an empty
        // value leaves the field alone; `off` turns GOGC or the limit off).
        self.pacer = PacerConfig::from_env_with(self.pacer, &get).map_err(|e| ConfigError {
            variable: e.variable(),
            message: e.to_string(),
        })?;
        if let Some(v) = get("TRICOLOR_BARRIER") {
            self.barrier = v
                .parse()
                .map_err(|e: tricolor_barriers::ParseBarrierModeError| ConfigError {
                    variable: "TRICOLOR_BARRIER",
                    message: e.to_string(),
                })?;
        }
        if let Some(v) = get("TRICOLOR_MARK_IDLE") {
            self.idle_priority_workers = flag(&v, "TRICOLOR_MARK_IDLE")?;
        }
        if let Some(v) = get("TRICOLOR_MARK_WORKERS") {
            self.mark_workers = number(&v, "TRICOLOR_MARK_WORKERS")? as usize;
        }
        if let Some(v) = get("TRICOLOR_GCTRACE") {
            self.gctrace = flag(&v, "TRICOLOR_GCTRACE")?;
        }
        if let Some(v) = get("TRICOLOR_PER_TYPE_STATS") {
            self.per_type_stats = flag(&v, "TRICOLOR_PER_TYPE_STATS")?;
        }
        if let Some(v) = get("TRICOLOR_GENERATIONAL") {
            self.generational = flag(&v, "TRICOLOR_GENERATIONAL")?;
        }
        if let Some(v) = get("TRICOLOR_TENURE") {
            self.tenure = v.parse().map_err(|message| ConfigError {
                variable: "TRICOLOR_TENURE",
                message,
            })?;
        }
        if let Some(v) = get("TRICOLOR_CHECKMARK") {
            self.checkmark = flag(&v, "TRICOLOR_CHECKMARK")?;
        }
        if let Some(v) = get("TRICOLOR_VERIFY") {
            self.verify = flag(&v, "TRICOLOR_VERIFY")?;
        }
        if let Some(v) = get("TRICOLOR_POISON") {
            self.poison = flag(&v, "TRICOLOR_POISON")?;
        }
        if let Some(v) = get("TRICOLOR_GCSTRESS") {
            self.gc_stress = NonZeroU32::new(number(&v, "TRICOLOR_GCSTRESS")?);
        }
        if let Some(v) = get("TRICOLOR_HEAP_PROFILE_RATE") {
            self.heap_profile_rate = match v.trim() {
                "off" | "0" => None,
                t => Some(t.parse::<u64>().map_err(|_| ConfigError {
                    variable: "TRICOLOR_HEAP_PROFILE_RATE",
                    message: format!(
                        "expected bytes between samples (a whole number) or off, got {v:?}"
                    ),
                })?),
            };
        }
        if let Some(v) = get("TRICOLOR_HEAP_PROFILE") {
            if v.trim().is_empty() {
                return Err(ConfigError {
                    variable: "TRICOLOR_HEAP_PROFILE",
                    message: "expected the path of the file to write the heap profile to, got an empty value".into(),
                });
            }
            self.heap_profile_path = Some(PathBuf::from(v));
            if get("TRICOLOR_HEAP_PROFILE_RATE").is_none() && self.heap_profile_rate.is_none() {
                self.heap_profile_rate = Some(DEFAULT_HEAP_PROFILE_RATE);
            }
        }
        Ok(self)
    }

    /// The number of mark workers this configuration asks for under barrier
    /// mode `mode` (see [`mark_workers`](Self::mark_workers)).
    ///
    /// ```
    /// use tricolor_collector::{BarrierMode, Config};
    ///
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// let c = Config::default();
    /// assert_eq!(c.effective_mark_workers(BarrierMode::Off), cores);
    /// assert_eq!(c.effective_mark_workers(BarrierMode::Hybrid), (cores / 4).max(1));
    /// let two = Config { mark_workers: 2, ..Config::default() };
    /// assert_eq!(two.effective_mark_workers(BarrierMode::Hybrid), 2);
    /// ```
    pub fn effective_mark_workers(&self, mode: BarrierMode) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match (self.mark_workers, mode) {
            (0, BarrierMode::Off) => cores,
            (0, _) => (cores / 4).max(1),
            (n, _) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_overrides() {
        let c = Config::default()
            .with_env(env(&[
                ("TRICOLOR_GOGC", "off"),
                ("TRICOLOR_CHECKMARK", "1"),
                ("TRICOLOR_GCSTRESS", "7"),
                ("TRICOLOR_MARK_WORKERS", "3"),
                ("TRICOLOR_PER_TYPE_STATS", "1"),
                ("TRICOLOR_GENERATIONAL", "1"),
            ]))
            .unwrap();
        assert!(c.per_type_stats && c.generational);
        assert_eq!(c.pacer.gogc, None);
        assert!(c.checkmark && !c.verify);
        assert_eq!(c.gc_stress.map(|n| n.get()), Some(7));
        assert_eq!(c.effective_mark_workers(BarrierMode::Hybrid), 3);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let e = Config::default()
            .with_env(env(&[("TRICOLOR_VERIFY", "yes please")]))
            .unwrap_err();
        assert_eq!(e.variable, "TRICOLOR_VERIFY");
        assert!(e
            .to_string()
            .starts_with("TRICOLOR_VERIFY: expected 1 or 0"));
        let e = Config::default()
            .with_env(env(&[("TRICOLOR_GOGC", "lots")]))
            .unwrap_err();
        assert_eq!(e.variable, "TRICOLOR_GOGC");
        let e = Config::default()
            .with_env(env(&[("TRICOLOR_HEAP_PROFILE_RATE", "512k")]))
            .unwrap_err();
        assert_eq!(e.variable, "TRICOLOR_HEAP_PROFILE_RATE");
        assert!(e.to_string().contains("\"512k\""), "{e}");
        let e = Config::default()
            .with_env(env(&[("TRICOLOR_HEAP_PROFILE", " ")]))
            .unwrap_err();
        assert_eq!(e.variable, "TRICOLOR_HEAP_PROFILE");
    }

    #[test]
    fn heap_profile_variables() {
        let c = Config::default()
            .with_env(env(&[("TRICOLOR_HEAP_PROFILE_RATE", "4096")]))
            .unwrap();
        assert_eq!(
            (c.heap_profile_rate, c.heap_profile_path),
            (Some(4096), None)
        );
        let c = Config::default()
            .with_env(env(&[("TRICOLOR_HEAP_PROFILE", "heap.pb.gz")]))
            .unwrap();
        assert_eq!(c.heap_profile_rate, Some(DEFAULT_HEAP_PROFILE_RATE));
        assert_eq!(c.heap_profile_path.as_deref(), Some("heap.pb.gz".as_ref()));
        let c = Config::default()
            .with_env(env(&[
                ("TRICOLOR_HEAP_PROFILE", "heap.pb.gz"),
                ("TRICOLOR_HEAP_PROFILE_RATE", "off"),
            ]))
            .unwrap();
        assert_eq!(c.heap_profile_rate, None, "an explicit off wins");
    }

    /// The pacer's variables mean the same through `Config::with_env` as
    /// through `PacerConfig::from_env_with`: they once had two parsers,
    /// which disagreed on `off` for the limit and on empty values.
    #[test]
    fn one_parser_for_the_pacer_variables() {
        let cases: &[&[(&str, &str)]] = &[
            &[("TRICOLOR_MEMORY_LIMIT", "off")],
            &[("TRICOLOR_MEMORY_LIMIT", "512MiB")],
            &[("TRICOLOR_MEMORY_LIMIT", "")],
            &[("TRICOLOR_GOGC", "")],
            &[("TRICOLOR_GOGC", " 50 ")],
            &[("TRICOLOR_GOGC", "OFF"), ("TRICOLOR_MEMORY_LIMIT", "1GB")],
            &[("TRICOLOR_GOGC", "-5")],
            &[("TRICOLOR_MEMORY_LIMIT", "12 parsecs")],
        ];
        for &vars in cases {
            let base = Config::default();
            let via_config = base.clone().with_env(env(vars));
            let via_pacer = PacerConfig::from_env_with(base.pacer.clone(), env(vars));
            match (via_config, via_pacer) {
                (Ok(c), Ok(p)) => assert_eq!(c.pacer, p, "{vars:?}"),
                (Err(c), Err(p)) => {
                    assert_eq!(c.variable, p.variable(), "{vars:?}");
                    assert_eq!(c.message, p.to_string(), "{vars:?}");
                }
                (c, p) => panic!("{vars:?}: Config says {c:?}, PacerConfig says {p:?}"),
            }
        }
        let c = Config::default()
            .with_env(env(&[
                ("TRICOLOR_MEMORY_LIMIT", "off"),
                ("TRICOLOR_GOGC", ""),
            ]))
            .unwrap();
        assert_eq!((c.pacer.memory_limit, c.pacer.gogc), (None, Some(100)));
    }
}
