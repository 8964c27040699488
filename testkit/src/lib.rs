//! Scaffolding shared by tricolor's tests, benchmarks, examples and fuzz
//! targets, so that none of them carries its own copy:
//!
//! - [`rng`]: [`Rng`], a seeded, deterministic PRNG (SplitMix64 from
//!   `rand_xoshiro`);
//! - [`stats`]: [`Histogram`] (HdrHistogram) for p50/p99/max of many samples,
//!   and exact [`median`]s and quartiles of a few;
//! - [`procfs`]: resident memory, available memory, machine and process CPU
//!   time;
//! - [`child`]: run this binary again as a child and get its figures back as
//!   one line of JSON;
//! - [`args`]: helpers for command lines parsed with `lexopt`.
//!
//! It depends on no tricolor crate, so the allocator and the collector can
//! take it as a dev-dependency.
//!
//! ```
//! use tricolor_testkit::{Histogram, Rng};
//!
//! let mut rng = Rng::new(0x5EED);
//! let pauses: Histogram = (0..1000).map(|_| 1_000 + rng.below_u64(9_000)).collect();
//! let s = pauses.summary().unwrap();
//! assert!(s.p50 <= s.p99 && s.p99 <= s.max && s.max < 10_000);
//! ```

#![warn(missing_docs)]

pub mod args;
pub mod child;
pub mod procfs;
pub mod rng;
pub mod stats;

pub use rng::Rng;
pub use stats::{median, median_by_key, Histogram, Summary};
