//! Policy: what a heap is configured to do ([`Config`], read from code and
//! from the environment) and when it collects (the pacer, essay step 1).
//!
//! Both are pure: no threads, no clocks, no heap access. The pacer's
//! decisions are functions of a few byte counts, tested by tables; every
//! `TRICOLOR_*` variable is parsed in one place, [`Config::with_env`].

pub mod config;
pub mod generations;
pub mod pacer;

pub use config::{Config, ConfigError, DEFAULT_HEAP_PROFILE_RATE};
pub use pacer::{CycleGoal, Decision, LimitCrossing, LimitWatch, Pacer, PacerConfig};
