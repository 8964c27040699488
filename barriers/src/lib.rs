//! # tricolor-barriers
//!
//! This crate will own the write-barrier algorithms of the tricolor collector
//! and nothing else:
//!
//! - **SATB / Yuasa deletion**: record the overwritten (old) value.
//! - **Incremental update / Dijkstra insertion**: record the stored (new) value.
//! - **Hybrid** (Go since 1.8): record the old value, and the new value while the
//!   storing mutator's stack is not yet scanned.
//!
//! plus the per-mutator barrier buffer that flushes records into a sink the
//! collector provides. It will open with the correctness argument (the strong
//! and weak tri-colour invariants and which one each mode keeps).
//!
//! Nothing is implemented yet: the concurrent-marking work adds it. The crate
//! exists now so that the workspace already has the shape of the design.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
