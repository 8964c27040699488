//! # tricolor-collector
//!
//! This crate will own the collector proper, plugging the span allocator
//! (`tricolor-allocator`) and the write barriers (`tricolor-barriers`) together:
//!
//! - the object model (one header word per object naming its type descriptor;
//!   descriptors as pointer bitmaps or trace callbacks),
//! - the mutator registry, safepoints and handshakes,
//! - roots and precise stack scanning,
//! - mark queues and parallel mark workers,
//! - the phase state machine (sweep termination → mark → mark termination → sweep),
//! - the sweeper, the pacer, finalizers and weak references,
//! - statistics, gctrace, and the verification modes (checkmark, verifier,
//!   poisoning, gc-stress),
//! - the raw embedding API a VM author calls.
//!
//! Nothing is implemented yet: the collector-core work adds it. Today the only
//! working layer is the allocator, re-exported by the root `tricolor` crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
