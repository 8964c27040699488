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
//! black. That follows from the **tri-colour invariant**, in one of two
//! forms:
//!
//! - *strong*: no black object points to a white object;
//! - *weak*: every white object a black object points to is *grey-protected*:
//!   reachable from some grey object through white objects only.
//!
//! Either form, at a moment when no grey object is left, means nothing
//! reachable is white. Scanning an object greys its white referents before it
//! turns black, so marking alone keeps the strong form; the danger is the
//! mutators, which store pointers while marking runs. Write barriers keep an
//! invariant against those stores: incremental update (Dijkstra) keeps the
//! strong form, SATB (Yuasa) and Go's hybrid keep the weak form. Which form,
//! why, what stacks need under each, and the memory-ordering argument are
//! written once, in `tricolor-barriers` (§1–§11); this crate cites them as
//! "barriers §n". With the barrier off ([`BarrierMode::Off`]) the world stays
//! stopped for the whole mark and the invariant holds trivially.
//!
//! Colours are not stored as such: white = mark bit clear; grey = mark bit set
//! and in a mark queue (or a barrier buffer, as a recorded value); black =
//! mark bit set and scanned. Mark bits live in the spans (`mark_bits`), one per
//! object slot. An object allocated during a mark is **black from birth**
//! (allocate-black): its mark bit is set by the allocating cache, and it needs
//! no scan because it holds no pointers yet; anything later stored into it
//! passes through the barrier.
//!
//! ## One cycle, step by step
//!
//! 1. **Trigger.** The pacer ([`policy::pacer`]) sets a heap goal after every cycle
//!    from the live heap and GOGC (and an optional memory limit), and a
//!    trigger part-way there (70% of the runway by default) so that a
//!    concurrent mark can finish before the goal. Mutators report allocation
//!    in chunks; when the heap estimate reaches the trigger, a cycle is
//!    requested, and a mutator past the hard limit waits for it. `collect()`
//!    and gc-stress request cycles directly. Cycles run on the heap's
//!    collector thread ([`cycle`]).
//!
//! 2. **Sweep termination** (stop-the-world #1, [`mutator::safepoint`]). The collector
//!    thread first sweeps whatever the last cycle left, with the world
//!    running. Then it stops every mutator at a safepoint (or in native code).
//!
//!    - 2a. Phase `Off → SweepTermination`; finish the sweep (nothing is
//!      normally left), so no span holds stale mark bits.
//!    - 2b. Every cache hands its spans back and turns allocate-black on;
//!      every stack is marked unscanned; the assist ratio is set
//!      ([`mutator::assist`]).
//!    - 2c. SATB only: every stack is scanned now, the snapshot's roots
//!      (barriers §5 and §7: a deletion barrier does not cover a stack
//!      scanned after the mutator's first store).
//!    - 2d. Phase `SweepTermination → Mark`: the barrier is on from the moment
//!      a mutator can see it. The world restarts. This pause does no work
//!      proportional to the heap.
//!
//! 3. **Mark** (concurrent, phase `Mark`, [`mark::drain`]).
//!
//!    - 3a. Roots. A background worker scans the global roots (their writes
//!      shade both values while marking, so when they are scanned does not
//!      matter). Each mutator's stack is scanned by handshake at the
//!      mutator's next safepoint, by the mutator itself, or by the collector
//!      for a mutator in native code ([`mark::roots`]). In SATB and hybrid modes a
//!      scanned stack is black and is never scanned again.
//!    - 3b. Marking. Background workers ([`mark::workers`], about a quarter of the
//!      cores, at idle OS priority) drain the grey set with work stealing,
//!      keeping their grey objects where others can steal them, since the
//!      OS may deschedule them for long ([`mark::queue`], [`mark::drain`]); mutators that
//!      allocate pay with mark assists ([`mutator::assist`]), which drain from a
//!      private stack, and park (in native state, until credit, grey
//!      objects or the mark's end) when they owe work and find none, so
//!      that allocation cannot outrun the runway while a descheduled
//!      worker holds the mark's end up; every marker prefetches the objects
//!      it is about to scan; the barrier records into per-mutator buffers
//!      that flush into the grey set when full. Scanning is precise: only
//!      words the type descriptor names are pointers.
//!
//! 4. **Mark termination.**
//!
//!    - 4a. With the world running, the collector waits until no marker holds
//!      or can find grey work, then flushes every barrier buffer by
//!      handshake; it repeats until a flush shades nothing new ([`cycle`]'s
//!      module docs give the protocol and why it cannot miss a buffer).
//!    - 4a'. Also with the world running, when a flush found nothing new:
//!      one ephemeron pass (an entry whose key is marked shades its value;
//!      [`specials::ephemeron`] §1–§2) and, once per cycle, the finalizer stage (the
//!      referents of each unmarked finalizable object are marked, not the
//!      object; [`specials`] §2). Either can grey objects, so marking and
//!      4a resume until both find nothing.
//!    - 4b. Stop-the-world #2, phase `Mark → MarkTermination`: flush every
//!      buffer once more, rescan every stack in incremental-update mode
//!      (barriers §4: stacks have no barrier there and stay grey), and drain
//!      to an empty grey set with the world stopped, where it is final;
//!      ephemeron passes (and the finalizer stage, if 4a' did not run it)
//!      alternate with draining until a pass shades nothing, then entries
//!      of unmarked keys are removed.
//!      Allocate-black goes off and caches are released. With verification
//!      on, checkmark re-traces from the current roots and the verifier
//!      checks every live object ([`verify`]); retaining-path and heap
//!      snapshot requests are answered here too, by the same walk
//!      ([`inspect`] §1–§2). The pacer computes the next
//!      goal from the marked bytes (allocated-black bytes included). The
//!      allocator's sweep generation advances: every span now needs
//!      sweeping. Phase `MarkTermination → Off` (the barrier is off) and
//!      the world restarts.
//!
//! 5. **Sweep** (concurrent, [`sweep`]). A background sweeper and allocating
//!    mutators (lazily, when a cache refill needs a span) sweep spans; the
//!    allocator's sweep-generation CAS makes each span swept exactly once.
//!    Unmarked objects become free; mark bits become the allocation bits.
//!    Before a span's dead objects are freed, their specials are acted on
//!    ([`specials`] §3): weak references cleared, finalizable objects kept
//!    one more cycle with their finalizer queued, cleanups of freed objects
//!    queued, heap profile samples of freed objects counted as freed
//!    ([`profile`] §3). Queued work runs on the heap's finalizer thread, a
//!    mutator of its own (§5).
//!
//! With [`BarrierMode::Off`] steps 2–4 run inside one stop-the-world, with
//! parallel mark workers ([`mark::stw`]).
//!
//! The phase transitions are a table in [`phase`], checked where they change.
//!
//! ## Generations
//!
//! With [`Config::generational`] most cycles are *minor*: the sweep keeps
//! the mark bits of old objects (sticky mark bits), so they stay marked and
//! a minor mark scans only what is younger, from the roots and a
//! remembered set of old objects (logged by stores, or carried over by the
//! marker). An object is old at its second survival, or at its first in a
//! cycle that tenures early ([`Config::tenure`]); the allocator keeps the
//! ages in per-span bitmaps. The
//! `generation` module's essay (cited "generation §n") has the design, the
//! barrier and the argument that a minor cycle loses nothing; the policy
//! choosing minor or major is [`policy::generations`].
//!
//! ## Objects
//!
//! An object is a header word (its type, its length, and 15 bits the VM
//! keeps there: [`Mutator::set_user_bits`]) and payload words; an
//! [`ObjRef`] is the address of the first payload word (`object` module).
//! A small fixed-size type may be [header-free](TypeDescriptor::header_free):
//! its objects are their payload alone, in spans of the type's own that
//! name it (a two-pointer node takes 16 bytes instead of 24). Its
//! [`TypeDescriptor`] gives the payload's
//! [`Shape`] — fixed, an array, a fixed prefix followed by an array tail,
//! or bytes — and which words are pointers: a bitmap, a count of leading
//! words (no bitmap, a range loop in the marker), a map for the prefix and
//! one for an element, or a trace callback (a `fn` or a closure carrying
//! the VM's context). A Lox-like VM, for instance:
//!
//! ```
//! use tricolor_collector::{Config, Heap, PointerWords, TypeDescriptor};
//!
//! let heap = Heap::new(Config::default());
//! // Strings: bytes, read and written as slices.
//! let string = heap.register_type(TypeDescriptor::bytes("String"))?;
//! // Closures: arity (data) and function (pointer), then one upvalue
//! // pointer per element.
//! let closure = heap.register_type(TypeDescriptor::prefix_array(
//!     "Closure", 2, PointerWords::at(&[1]), 1, PointerWords::leading(1),
//! ))?;
//! // Tables: a count, then (key, value, hash) entries.
//! let table = heap.register_type(TypeDescriptor::prefix_array(
//!     "Table", 1, PointerWords::None, 3, PointerWords::leading(2),
//! ))?;
//! let mut m = heap.attach()?;
//! let name = m.alloc(string, 5);
//! // SAFETY: `name` was just allocated (no safepoint since).
//! unsafe { m.bytes_mut(name).copy_from_slice(b"hello") };
//! let slot = m.push_root(Some(name));
//! let t = m.alloc(table, 4); // 1 + 4 * 3 payload words
//! // SAFETY: `t` is fresh and `name` rooted; word 1 is entry 0's key.
//! unsafe {
//!     m.store(t, 1, m.root(slot));
//!     let layout = m.layout_of(t);
//!     assert_eq!((layout.ty, layout.len, layout.words), (table, 4, 13));
//! }
//! # let _ = closure;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Where things are
//!
//! The VM-facing API is [`Heap`], [`Mutator`], [`TypeDescriptor`] (with
//! [`Shape`], [`Pointers`] and [`PointerWords`]), [`ObjRef`],
//! [`ObjectLayout`], [`GlobalRoot`], [`Config`] and [`GcStats`]; it is re-exported by the root
//! crate as `tricolor::raw`. [`CycleStepper`] drives a cycle step by step, for
//! deterministic tests of interleavings. Finalizers, cleanups and weak
//! references are methods of [`Mutator`] ([`Mutator::set_finalizer`],
//! [`Mutator::add_cleanup`], [`Mutator::weak_ref`]); weak-keyed tables are
//! [`EphemeronTable`]. The `Mutator` docs explain running vs native
//! state and how the collector acts for native threads. What a heap shows
//! of itself: [`Heap::stats`] ([`GcStats`], [`CycleStats`], the gctrace
//! line, per-type live counts [`TypeStats`]), the callbacks of
//! [`Heap::on_cycle_event`] and [`Heap::on_near_limit`] ([`events`]), and
//! GOGC and the memory limit changed at run time
//! ([`Heap::set_gc_percent`], [`Heap::set_memory_limit`]). Why an object
//! is alive, and everything that is: [`Heap::retaining_path`]
//! ([`RetainingPath`]) and [`Heap::write_heap_snapshot`], a file Chrome
//! DevTools opens ([`inspect`]).
//!
//! ## Layout: one cycle, bottom to top
//!
//! The modules form layers, and `use` arrows point only down (no import
//! circle; `.ci/run` checks it):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | object model | `object`, `descriptor`, `types` | an object's header and fields, type descriptors, the type table |
//! | policy | [`policy`] (`config`, `pacer`, `generations`) | configuration and environment parsing; the pacer (step 1) and the choice of minor or major cycle, pure |
//! | shared state | [`phase`], `stats`, [`events`], `generation`, [`mutator::state`], [`mark::source`], [`mark::queue`], [`specials::records`], [`specials::tables`], [`profile`], [`heap::inner`] | each part's own state type (the heap profile's rate and buckets in [`profile`], with its sampler, encoder and writer below it; the generational state and its essay in `generation`); `heap::inner::HeapInner` composes them, and everything above takes `&HeapInner` |
//! | safepoints | [`mutator::safepoint`] | stopping the world, handshakes |
//! | the mark (steps 2–4) | [`mark::scan`], [`mark::drain`], [`mark::roots`], [`mark::workers`], [`mark::stw`], [`mark::ephemeron`], [`mark::finalizers`]; [`mutator::barrier`], [`mutator::assist`] | one scanner and one drain loop, used by every marker: background workers, assists, the collector thread, the stop-the-world workers |
//! | the sweep (step 5) | [`sweep`], [`specials::sweep`], [`specials::finalizer_thread`] | the background sweeper, the specials' sweep hook, the finalizer thread |
//! | verification | [`verify`], [`inspect`] (`walk`, `serve`) | checkmark and the heap verifier; the walk from labelled roots that checkmark, retaining paths and heap snapshots share |
//! | the cycle | [`cycle`] | the steps in order, written once for both kinds of cycle; [`CycleStepper`] |
//! | the API | [`mutator`] (`Mutator`), [`heap`] (`Heap`, `GlobalRoot`), [`specials::api`], [`specials::ephemeron`], [`inspect::api`] | what a VM calls |
//!
//! ## Dependencies, and what is written by hand
//!
//! - **`crossbeam-deque`** for the grey set's injector and the background
//!   workers' deques (`mark::queue`). It brings **`crossbeam-epoch`**, which
//!   reclaims a deque's old buffers when it grows while thieves may still
//!   read them; the collector uses no epoch itself: nothing it frees is read
//!   lock-free by another thread (mark stacks and prefetch rings are private;
//!   the type table is append-only; spans and their bits belong to the
//!   allocator, which frees no metadata while the heap lives).
//! - **`parking_lot`** for every lock and condition variable, for
//!   `lock_arc` (a mutator's state lock is an `Arc<Mutex<_>>` the collector
//!   takes from outside) and `ArcMutexGuard::unlocked` (parking at a
//!   safepoint).
//! - **`bitvec`** for descriptors' pointer bitmaps where they are built,
//!   validated and queried; the mark loop reads the raw words
//!   (`TypeDescriptor::for_each_pointer_word`), one `trailing_zeros` per
//!   pointer, and a leading count as a plain range. Checkmark keeps no bit array: its visited set is the map of
//!   how each object was reached, which it needs for its message.
//! - **`backtrace`** captures a heap profile sample's stack as return
//!   addresses and resolves them (inlined frames included) when the profile
//!   is written; **`flate2`** gzips the profile, as pprof files are. The
//!   protobuf encoding of `profile.proto` is written by hand
//!   (`profile::proto`): a few dozen lines for the subset it uses.
//! - **Statistics**: pause quantiles (`stats::PauseQuantiles`) come from an
//!   `hdrhistogram` (three significant digits) recorded after the world
//!   restarts, so the pause pays nothing for them; the older power-of-two
//!   `stats::PauseHistogram` stays beside it. The benchmarks' quantiles use
//!   the same crate through `tricolor-testkit`.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// The object model, at the bottom: what an object is and how its type is
// named.
mod descriptor;
mod object;
mod types;
// Policy: configuration and the pacer (step 1), pure functions.
pub mod policy;
// The state a heap's threads share, each part's own type, composed in
// `heap::inner`.
pub mod events;
mod generation;
pub mod phase;
mod stats;
// Step by step: mutators and their safepoints, barrier and assists; the
// mark (steps 2–4); the heap profile's state, sampled by mutators and
// counted down by the sweep; the specials (finalizers, weak references,
// ephemerons, profile records) the mark and the sweep act on; the sweep
// (step 5); verification and inspection; the cycle that runs the steps in
// order; the heap on top.
pub mod cycle;
pub mod heap;
pub mod inspect;
pub mod mark;
pub mod mutator;
pub mod profile;
pub mod specials;
pub mod sweep;
pub mod verify;

pub use cycle::CycleStepper;
pub use descriptor::{
    DecodeClosure, DecodeFn, DescriptorError, Edges, ObjectLayout, PointerWords, Pointers, Shape,
    TraceClosure, TraceFn, TypeDescriptor, TypeId, MAX_HEADER_FREE_BYTES, MAX_TYPES,
};
pub use events::{CycleEvent, NearLimit};
pub use generation::CycleKind;
pub use heap::inner::{CollectError, Heap};
pub use heap::GlobalRoot;
pub use inspect::{InspectError, PathStep, RetainingPath, SnapshotSummary, Via};
pub use mark::source::RootKind;
pub use mutator::state::{RootScanner, RootVisitor};
pub use mutator::{AttachError, GcAllocError, Mutator};
pub use object::{ObjRef, ObjectView, UserBitsError, MAX_USER_BITS, USER_BITS};
pub use policy::generations::Tenure;
pub use policy::{Config, ConfigError, DEFAULT_HEAP_PROFILE_RATE};
pub use profile::pprof::HeapProfileSummary;
pub use specials::api::{CleanupHandle, WeakRef};
pub use specials::ephemeron::EphemeronTable;
pub use specials::records::{DropFn, SpecialError, SpecialStats};
pub use specials::weak_slots::WeakSlots;
pub use stats::{CycleStats, GcStats, HeapAlloc, PauseHistogram, PauseQuantiles, TypeStats};
pub use tricolor_barriers::BarrierMode;
