//! Shared helpers for the tricolor benchmarks.
