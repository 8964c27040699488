//! # tricolor
//!
//! A precise, concurrent, tri-colour garbage collector for language VMs,
//! following the design of the Go runtime's collector.
//!
//! This is the public face of the project. Today it exposes the memory layer,
//! [`allocator`]: Go's span-based size-class allocator (page heap, centrals,
//! per-thread caches, spans with alloc and mark bits, sweeping by sweep
//! generation, and the scavenger). The collector proper (object model,
//! mutators and safepoints, marking, the raw embedding API as `tricolor::raw`,
//! and the safe `Gc`/`Trace` API) is built on top of it in
//! `tricolor-collector` and will be re-exported here.
//!
//! See the README and the crate docs of
//! [`allocator`] for the design.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The span allocator (`tricolor-allocator`).
pub use tricolor_allocator as allocator;
