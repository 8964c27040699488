//! # tricolor-collector
//!
//! A precise, non-moving, tri-colour mark-sweep collector built on the span
//! allocator (`tricolor-allocator`), following the design of Go's collector.
//! This page is the algorithm, written once; the code cites its steps.
//!
//! ## The tri-colour abstraction
//!
//! During marking every object is one of three colours:
//!
//! - **white**: not reached yet; whatever is still white when marking ends is
//!   garbage and is freed by the sweep;
//! - **grey**: reached (its mark bit is set) but its fields not yet scanned; it
//!   waits in a mark queue;
//! - **black**: reached and scanned.
//!
//! Marking starts by greying the roots and ends when no grey object is left.
//! It is correct if, at that point, every object reachable from the roots is
//! black. That follows from the **tri-colour invariant**: *no black object
//! points to a white object* (the strong form). With the world stopped for
//! the whole of marking, as now, the invariant holds trivially — scanning an
//! object greys its white referents before it turns black, and nothing else
//! writes pointers. Concurrent marking adds write barriers that preserve the
//! invariant (or its weak form) against mutator stores; the barrier entry
//! point already sits on every pointer store ([`barrier`]'s module docs).
//!
//! Colours are not stored as such: white = mark bit clear; grey = mark bit set
//! and in a queue; black = mark bit set and scanned. Mark bits live in the
//! spans (`mark_bits`), one per object slot.
//!
//! ## One cycle, step by step
//!
//! 1. **Trigger.** The pacer ([`pacer`]) sets a heap goal after every cycle
//!    from the live heap and GOGC (and an optional memory limit). Mutators
//!    report allocation in chunks; when the heap estimate (live after the last
//!    mark plus allocation since) reaches the trigger, a cycle is requested,
//!    and a mutator far over the goal waits for it. `collect()` and
//!    gc-stress request cycles directly. Cycles run on the heap's collector
//!    thread ([`cycle`]).
//!
//! 2. **Sweep termination** (stop-the-world #1, [`safepoint`]). Every mutator
//!    is stopped at a safepoint, or is in native code and cannot touch the heap.
//!    The previous cycle's sweep is finished, so no span holds stale mark bits
//!    or unswept garbage, and every mutator's cache hands its spans back, so
//!    allocation state is exact.
//!
//!    2a. Phase `Off → SweepTermination`; finish the sweep.
//!    2b. Release every cache; the heap's live bytes are now exact.
//!
//! 3. **Mark** (phase `Mark`, [`mark`]). Roots are gathered ([`roots`]):
//!    globals, each mutator's shadow stack and root-scanner callback. They are
//!    marked and queued; parallel workers drain the queues with work stealing.
//!    Scanning is precise: only words the type descriptor names are pointers.
//!    Today the world stays stopped through marking, so the barrier has
//!    nothing to do.
//!
//! 4. **Mark termination** (phase `MarkTermination`). The grey set is empty
//!    (the workers' termination protocol proves it). With verification on,
//!    checkmark re-traces and the verifier checks every live object
//!    ([`verify`]). The pacer computes the next goal from the marked bytes.
//!    The allocator's sweep generation advances: every span now needs
//!    sweeping. Phase returns to `Off` and the world restarts.
//!
//! 5. **Sweep** (concurrent, [`sweep`]). A background sweeper and allocating
//!    mutators (lazily, when a cache refill needs a span) sweep spans; the
//!    allocator's sweep-generation CAS makes each span swept exactly once.
//!    Unmarked objects become free; mark bits become the allocation bits.
//!
//! The phase transitions are a table in [`phase`], checked where they change.
//!
//! ## Where things are
//!
//! The VM-facing API is [`Heap`], [`Mutator`], [`TypeDescriptor`], [`ObjRef`],
//! [`GlobalRoot`], [`Config`] and [`GcStats`]; it is re-exported by the root
//! crate as `tricolor::raw`. The `Mutator` docs explain running vs native
//! state and how the collector acts for native threads.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod assist;
pub mod barrier;
pub mod bgmark;
mod config;
pub mod cycle;
mod descriptor;
pub mod gcwork;
mod heap;
pub mod mark;
mod mutator;
mod object;
pub mod pacer;
pub mod phase;
pub mod roots;
pub mod safepoint;
mod stats;
pub mod sweep;
pub mod verify;

pub use config::{Config, ConfigError};
pub use cycle::CycleStepper;
pub use descriptor::{
    DecodeFn, DescriptorError, Edges, Pointers, Shape, TraceFn, TypeDescriptor, TypeId,
};
pub use heap::{GlobalRoot, Heap};
pub use mutator::{AttachError, GcAllocError, Mutator, RootKind, RootScanner, RootVisitor};
pub use object::{ObjRef, ObjectView};
pub use stats::{CycleStats, GcStats, PauseHistogram};
pub use tricolor_barriers::BarrierMode;
