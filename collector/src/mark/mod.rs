//! The mark (essay steps 2–4): from the roots, every reachable object is
//! shaded grey and then scanned black. The files, bottom up:
//!
//! | file | what |
//! |---|---|
//! | `source.rs` | where a pointer was found ([`RootKind`](crate::RootKind), `Source`), for messages |
//! | `queue.rs` | the grey set: the injector, worker deques, private stacks, prefetch rings, and the mark's shared counters (`MarkState`) |
//! | `scan.rs` | one object: resolve a value, shade it, scan a grey object's fields |
//! | `drain.rs` | the loops that take grey objects and scan them (Go's `gcDrain`), one per kind of marker |
//! | `roots.rs` | step 3a: globals, stacks, and the roots the specials hold |
//! | `workers.rs` | step 3b: background mark workers |
//! | `stw.rs` | the whole mark with the world stopped (`BarrierMode::Off`) |
//! | `ephemeron.rs` | step 4a': ephemeron passes |
//! | `finalizers.rs` | step 4a': the finalizer stage |
//! | `weak_slots.rs` | step 4b: weak slot arrays cleared of unmarked objects (`specials::weak_slots`) |
//!
//! Assists, which drain on a mutator's behalf, are in `mutator::assist`; the
//! protocol that ends a concurrent mark is in `cycle`'s module docs.

pub mod drain;
pub mod ephemeron;
pub mod finalizers;
pub mod queue;
pub mod roots;
pub mod scan;
pub mod source;
pub mod stw;
pub mod weak_slots;
pub mod workers;
