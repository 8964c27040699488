//! # tricolor
//!
//! A precise, concurrent, tri-colour garbage collector for language VMs,
//! following the design of the Go runtime's collector.
//!
//! This crate has two APIs:
//!
//! - **the safe API** (this page: [`Heap`], [`Mutator`], [`Gc`], [`Root`],
//!   [`Member`], [`Array`], [`Global`], `#[derive(Trace)]`): Rust types in the heap,
//!   no `unsafe` for the user, misuse rejected by the compiler.
//! - [`raw`]: the embedding API a VM's own object model calls (word
//!   indices, descriptors, `unsafe` field access), the one the safe API is
//!   built on. Its design and the algorithm are documented in
//!   `tricolor-collector`.
//!
//! [`allocator`] is the span allocator underneath, usable on its own.
//!
//! ```
//! use tricolor::{Heap, Member, Trace};
//!
//! #[derive(Trace, Default)]
//! struct Node {
//!     left: Member<Node>,
//!     right: Member<Node>,
//!     value: i64,
//! }
//!
//! fn tree(m: &mut tricolor::Mutator, depth: u32) -> tricolor::Root<Node> {
//!     let node = m.alloc(Node { value: depth as i64, ..Node::default() });
//!     if depth > 0 {
//!         let (l, r) = (tree(m, depth - 1), tree(m, depth - 1));
//!         let n = node.get(m);
//!         n.set(|n| &n.left, Some(l.get(m)));
//!         n.set(|n| &n.right, Some(r.get(m)));
//!     }
//!     node
//! }
//!
//! fn sum(n: tricolor::Gc<'_, Node>) -> i64 {
//!     n.value + n.get(|n| &n.left).map_or(0, sum) + n.get(|n| &n.right).map_or(0, sum)
//! }
//!
//! let heap = Heap::new();
//! let mut m = heap.attach()?;
//! let t = tree(&mut m, 10);
//! m.collect(); // the tree is rooted by `t`
//! assert_eq!(sum(t.get(&m)), (0..=10).map(|d| d * (1 << (10 - d))).sum());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The design of the safe API, and why
//!
//! The collector is concurrent and multi-threaded: any number of threads
//! mutate the heap while mark workers trace it, and a collection needs each
//! thread only briefly, at a *GC point* of that thread, to scan its roots.
//! Every safe Rust GC we learned from (gc-arena, dumpster, boa_gc, rust-gc,
//! cppgc on the C++ side) either collects only when no handle can be on the
//! stack (gc-arena: between `mutate` calls) or roots every handle (boa's
//! old root counts, cppgc's `Persistent`). Neither fits here as it stands:
//! a thread inside a long `mutate` would hold every other thread's
//! collection hostage, and counting roots on every handle is the cost boa
//! set out to remove (boa issue 2773). So the API splits handles in two, by
//! what the borrow checker can see.
//!
//! 1. **GC points take `&mut Mutator`.** [`Mutator::alloc`] (and
//!    [`Mutator::alloc_array`]), [`Mutator::safepoint`], [`Mutator::collect`] and
//!    [`Mutator::native`] are the only places where this thread's roots are
//!    scanned or where it can observe a collection's sweep; each borrows the
//!    mutator mutably.
//! 2. **[`Gc<'m, T>`](Gc) borrows `&'m Mutator`**: unrooted, free to copy
//!    and dereference, valid until the next GC point — and the borrow
//!    checker rejects using one past it, because a GC point needs the
//!    mutator mutably. Loads ([`Gc::get`]) return `Gc`s of the same borrow.
//!    Traversals, which are most of a program's pointer work, never touch a
//!    root. A `Gc` also carries its mutator, which names its heap: a store
//!    checks that value and object share a mutator with one pointer
//!    compare, so objects of two heaps can never be linked.
//! 3. **[`Root<T>`](Root) survives GC points**: a slot in the mutator's root
//!    table (no reference count, no atomic), scanned by the mutator's root
//!    scanner at a handshake. Allocation returns one, and [`Gc::root`] makes
//!    one. Roots are `!Send`: a table is one thread's.
//! 4. **[`Member<T>`](Member) is a pointer field**, one atomic word, written
//!    only by [`Gc::set`] — which runs the write barrier of the heap's mode
//!    (SATB, incremental update or hybrid) — and read only by [`Gc::get`].
//!    Both take the field's object and a projection closure (`|n| &n.left`,
//!    a constant offset once compiled, checked to lie inside the object),
//!    so a member is never touched outside the heap. A member built outside
//!    the heap is null and stays null, so a value waiting to be allocated
//!    never hides a pointer from the collector, and allocating it needs no
//!    barrier and no temporary roots.
//! 5. **[`Global<T>`](Global)** is a heap-wide root (cppgc's `Persistent`),
//!    the way threads share objects outside the heap.
//! 6. **`#[derive(Trace)]`** lists a type's members: as a pointer bitmap
//!    when their words do not depend on the value — the marker's fast path,
//!    no callback into Rust — and as a trace callback otherwise (enums). It
//!    asks `Trace` of every field, so a member the collector could not see (a
//!    `Vec<Member<T>>`, a map) does not compile.
//! 7. **[`Array<E>`](Array)** is the heap's variable-length sequence, made
//!    by [`Mutator::alloc_array`]: its elements lie in its object (counted by
//!    the pacer like any object) and may hold members, which
//!    [`Gc::get_at`] and [`Gc::set_at`] read and write with `Gc::get`'s and
//!    `Gc::set`'s checks (index in bounds, projection inside the element).
//!    A growable collection is a member to an array, replaced by a larger
//!    copy when it fills, as a VM's vector is.
//!
//! ## Threads
//!
//! `Gc<T>` dereferences to `&T` on whatever thread holds a handle; several
//! threads reach one object through [`Global`]s and members of shared
//! objects. So those paths require `Sync`: `Member<T>` and `Global<T>` are
//! `Sync` only when `T` is, and a type holding a member of a non-`Sync`
//! type is not `Sync` itself. Stores into members are atomic (racing stores
//! are allowed and the barrier stays correct: the raw
//! [`store`](raw::Mutator::store)'s contract), and the safe API never hands
//! out `&mut T` to an object, so interior mutability (`Cell` for one
//! thread's objects, atomics and locks for shared ones) is how data
//! changes.
//!
//! ## Safepoints, stack scans and native code
//!
//! A thread's roots are its root table (its [`Root`]s): the collector asks
//! each thread, by handshake, to scan them at its next GC point; a thread in
//! native state ([`Mutator::native`]) is scanned from the collector's
//! thread without waiting. `Gc` handles need no scan: none can be alive at
//! a GC point. A thread that computes for long without allocating calls
//! [`Mutator::safepoint`]; a thread that blocks does so inside
//! [`Mutator::native`].
//!
//! ## Drop
//!
//! A value with drop glue is dropped after its object is found unreachable:
//! the sweep moves it out of the object (a bitwise copy, before the memory
//! is reused), and the heap's finalizer thread nulls its members and drops
//! it. So a `Drop` runs on another thread (hence [`Mutator::alloc`] asks
//! `Send`), and cannot reach another object: its members read as null, and
//! no mutator is available to it (the finalizer thread's is not handed out,
//! and a thread cannot attach twice to one heap). Objects in cycles are
//! dropped like any other. Values still in the heap when it goes (its
//! last handle, mutator and global dropped) are dropped then, on the thread
//! that drops it. [`Gc::set_finalizer`] (the object kept and
//! handed over, Go's `SetFinalizer`) and [`Gc::add_cleanup`] (Go's
//! `AddCleanup`) are there for work that needs more than `Drop`.
//!
//! ## What is still `unsafe`, and where
//!
//! The user writes none (`Trace` and `Data` are `unsafe` traits that the
//! derives implement). Inside this crate, unsafe code is confined to the
//! modules that make the rules above true: `roots` (the table's protocol,
//! roots §1), `gc` (dereferencing a handle, loads and stores), `array` (an
//! array's elements as a slice of its object, writing them, dropping them),
//! `mutator` (writing a fresh object, the raw mutator behind a shared
//! borrow) and `specials` (dropping moved values).
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The derives name `::tricolor`; this lets the crate's own tests use them.
extern crate self as tricolor;

mod array;
mod gc;
mod global;
mod heap;
mod inspect;
mod member;
mod mutator;
mod roots;
mod specials;
mod trace;

#[cfg(test)]
mod tests;

pub use array::Array;
pub use gc::Gc;
pub use global::Global;
pub use heap::Heap;
pub use member::Member;
pub use mutator::{AllocError, Mutator};
pub use roots::Root;
pub use specials::{EphemeronTable, Weak};
pub use trace::{Data, Trace, Tracer};
/// What [`Mutator::retaining_path`] and [`Heap::write_heap_snapshot`]
/// return.
pub use tricolor_collector::{PathStep, RetainingPath, SnapshotSummary, Via};
/// The width of an object's user bits ([`Gc::user_bits`]), their largest
/// value, and what [`Gc::try_set_user_bits`] returns for a wider one.
pub use tricolor_collector::{UserBitsError, MAX_USER_BITS, USER_BITS};
/// Derives [`Trace`](trait@Trace) (see the trait) and [`Data`](trait@Data).
pub use tricolor_derive::{Data, Trace};

/// The span allocator (`tricolor-allocator`).
pub use tricolor_allocator as allocator;

/// The raw embedding API: everything a VM calls, in one place.
///
/// ```
/// use tricolor::raw::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// // A cons cell: two pointer fields.
/// let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[0, 1]))?;
/// let mut m = heap.attach()?;
/// let list = m.push_root(None);
/// for _ in 0..1000 {
///     let cell = m.alloc(cons, 0);
///     let tail = m.root(list);
///     // SAFETY: `cell` was just allocated and `tail` is rooted.
///     unsafe { m.store(cell, 1, tail) };
///     m.set_root(list, Some(cell));
/// }
/// let garbage = m.alloc(cons, 0);
/// m.collect();
/// assert_eq!(m.heap().stats().last_cycle.unwrap().objects_marked, 1000);
/// # let _ = garbage;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod raw {
    pub use tricolor_collector::policy::PacerConfig;
    pub use tricolor_collector::{
        AttachError, BarrierMode, CleanupHandle, CollectError, Config, ConfigError, CycleStats,
        DecodeClosure, DecodeFn, DescriptorError, DropFn, Edges, EphemeronTable, GcAllocError,
        GcStats, GlobalRoot, Heap, HeapAlloc, Mutator, ObjRef, ObjectLayout, ObjectView,
        PauseHistogram, PauseQuantiles, PointerWords, Pointers, RootKind, RootScanner, RootVisitor,
        Shape, SpecialError, SpecialStats, TraceClosure, TraceFn, TypeDescriptor, TypeId,
        UserBitsError, WeakRef, WeakSlots, MAX_USER_BITS, USER_BITS,
    };
    // Seeing inside the heap: cycle events, the near-limit callback,
    // per-type live counts, heap profiles, retaining paths and heap
    // snapshots.
    pub use tricolor_collector::{
        CycleEvent, HeapProfileSummary, InspectError, NearLimit, PathStep, RetainingPath,
        SnapshotSummary, TypeStats, Via, DEFAULT_HEAP_PROFILE_RATE,
    };
    // Generational collection (`Config::generational`, `Config::tenure`).
    pub use tricolor_collector::{CycleKind, Tenure};
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
