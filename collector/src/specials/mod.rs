//! Finalizers, cleanups and weak references: per-object records kept as
//! "specials" on the object's span (Go's `mspan.specials`), acted on by the
//! sweep. The user contract is on the public items ([`Mutator::set_finalizer`](crate::Mutator::set_finalizer),
//! [`Mutator::add_cleanup`](crate::Mutator::add_cleanup), [`Mutator::weak_ref`](crate::Mutator::weak_ref)); this page is the
//! algorithm, cited from the code as "specials §n".
//!
//! # §1 Records
//!
//! Each record is a [`Special`](tricolor_allocator::Special) on the span of its object: `(object index,
//! kind, data)`, kept sorted, where `data` indexes one of three tables here
//! (finalizer closures, cleanup closures and arguments, weak cells), or is
//! a drop function, or the bucket of a heap profile sample (profile §3).
//! Kinds sort weak < finalizer < cleanup < drop < profile, so per object
//! the weak record comes first. Records are added and removed under the span's specials lock; the
//! tables have their own locks, always taken *after* a span's specials lock.
//!
//! # §2 Marking: what a finalizer keeps alive
//!
//! An object with a finalizer is not a root: if it becomes unreachable it
//! must be found unmarked. But when its finalizer runs, the object and
//! everything it reaches must still exist, so the mark keeps its
//! **referents** (not the object) alive, as Go's `markrootSpans` does. Here
//! that is a separate stage of the mark (the *finalizer stage*), run once
//! per cycle when marking from the roots has gone quiet (the termination
//! loop in [`crate::cycle`], or mark termination at the latest): each
//! finalizable object still unmarked has its referents marked, one object
//! at a time, by the stage's thread alone (so that when it looks at the
//! object's mark bit afterwards, its own referents have been traced). The
//! closure includes ephemeron entries: the values of entries whose keys it
//! marks are marked from too, to a fixpoint (ephemeron §2).
//!
//! An object marked before its turn is reachable from another finalizable
//! object (a chain): it is finalized in a later cycle, after the one that
//! reaches it. An object found marked after its *own* closure reaches
//! itself: it is in a cycle of finalizable objects and will never be
//! collected. Go documents the same leak; we also count it
//! (`finalizer_cycles`). Only candidates unmarked at their turn are looked
//! at, so a *group* of finalizable objects that reach one another is
//! counted once per collection (its first member the stage looks at marks
//! the rest), and only if no other unreachable finalizable object looked
//! at before it reaches it; a group such an object reaches is counted once
//! that object has been finalized. While marking concurrently, the closure
//! stops at objects that are grey elsewhere (a mutator's barrier shaded
//! them), so a group a mutator is touching at that moment can be missed,
//! and an object a mutator revives through a weak reference at that moment
//! can be counted. The count is a report, not a proof: non-zero means
//! leaking groups exist, zero does not prove there are none.
//!
//! A finalizer set while marking shades the object's referents at once (the
//! stage may have passed). Stores into an unmarked finalizable object after
//! the stage are covered by the barrier as any store is: SATB and hybrid
//! mark everything reachable at the snapshot or allocated since, and
//! incremental update shades every value stored.
//!
//! The finalizer queue and the cleanup arguments are roots, scanned with
//! the globals (a pop from the queue while marking shades what it pops, as a
//! global write does).
//!
//! # §3 Sweep: acting on dead objects
//!
//! The sweep of a span hands the records of its unmarked objects to
//! `SpecialsHook` before freeing anything (the allocator's [`SweepHook`](tricolor_allocator::SweepHook)),
//! with the span's specials lock held. Per object, in this order:
//!
//! 1. weak records: the cell is cleared (it now yields nothing, forever);
//! 2. a finalizer record: removed, the object is kept for one more cycle
//!    (its mark bit set: its referents are marked by §2), and the finalizer
//!    is queued with the object;
//! 3. cleanup records: if the object was kept by step 2, they stay on it;
//!    otherwise each is removed and queued with its argument.
//! 4. a drop record: likewise kept with a kept object; otherwise the
//!    object's payload words are copied out (a bitwise move of the Rust
//!    value living there) and queued with the drop function. Nothing the
//!    object points to is kept for it: the drop must not follow its
//!    pointers (the safe API nulls them before dropping).
//! 5. a profile record (a sampled allocation, profile §3): likewise kept
//!    with a kept object (still in use); otherwise removed, and the free
//!    counted in its bucket under the profile's bucket lock, which is taken
//!    inside the span's specials lock and nowhere the other way round.
//!
//! Sweeping finishes before the next mark starts (sweep termination), so no
//! record is queued while marking, and a queued object is rooted by the
//! queue from the next mark on.
//!
//! # §4 Weak references after mark termination
//!
//! Between mark termination and the sweep of its span, a dead object's weak
//! cell still holds its address. [`WeakRef::get`](crate::WeakRef::get) therefore checks the span:
//! swept (or cached) means the cell is final; unswept means the mark bit
//! decides. It reads the mark bit holding the span's specials lock, which
//! the sweep must take before it clears mark bits, so the bit is intact.
//! While marking, `get` shades what it returns (it may be creating the only
//! strong reference, after this mutator's stack was scanned: the same duty
//! as the deletion half of the hybrid barrier).
//!
//! # §5 The finalizer thread
//!
//! Queued finalizers and cleanups run on one thread per heap, started with
//! the first finalizer or cleanup. It is a mutator of the heap (finalizers
//! allocate and store) that does not keep the heap alive. It waits in native
//! state; it pops a job only while running, and roots the job's object in
//! the same step (no safepoint between), so the object is never unrooted at
//! a safepoint. It runs jobs back to back, with a safepoint between two,
//! and tells waiters only when the queue has gone empty. A panicking finalizer is caught, counted and reported to
//! standard error; the next one runs.
//!
//! # §6 When the heap is dropped
//!
//! A drop record stands for a Rust value the heap owns, and nothing else
//! will drop it: when the last reference to the heap goes (no handle,
//! mutator, global or thread is left, so nothing can reach an object), the
//! heap drops every value it still owns, on the thread that drops it. Those
//! are the drops queued but not yet run (the finalizer thread stops at
//! shutdown) and the drop records still on objects: live objects, and dead
//! ones no sweep has reached. Each is moved out of its object and dropped as
//! the finalizer thread would, panics caught and counted. Finalizers and
//! cleanups that never ran are not run (no mutator is left to give them, and
//! Go does not run them at exit either): their closures are dropped.
//!
//! # Where the code is
//!
//! | file | what |
//! |---|---|
//! | `records.rs` | §1: the records, their tables, the finalizer queue (`records::Specials`) |
//! | `tables.rs` | the entries of ephemeron tables (`ephemeron` §1) |
//! | `sweep.rs` | §3: the allocator's sweep hook (step 5 counts in `profile`'s buckets) |
//! | `finalizer_thread.rs` | §5: the thread that runs finalizers and cleanups; §6: the drops left when the heap goes |
//! | `api.rs` | the public calls: `Mutator::set_finalizer`, `add_cleanup`, `weak_ref`, `keep_alive`, `WeakRef`, `CleanupHandle` |
//! | `ephemeron.rs` | [`EphemeronTable`](crate::EphemeronTable) and its essay (`ephemeron` §1–§3) |
//! | `weak_slots.rs` | [`WeakSlots`](crate::WeakSlots): heap arrays of weak words, cleared at mark termination (a VM's intern table) |
//!
//! §2 (what the mark keeps for finalizers) and the ephemeron passes are
//! steps of the mark, in `mark::finalizers` and `mark::ephemeron`.

pub mod api;
pub mod ephemeron;
pub mod finalizer_thread;
pub mod records;
pub mod sweep;
pub mod tables;
pub mod weak_slots;
