//! # tricolor-barriers
//!
//! The write barriers of the tricolor collector, and nothing else: the three
//! algorithms as pure functions of one pointer store ([`satb`],
//! [`incremental_update`], [`hybrid`], and [`decide`] to pick one by
//! [`BarrierMode`]); the per-mutator [`BarrierBuffer`] that collects what they
//! ask to shade; the [`Sink`] through which a buffer hands its entries to the
//! collector; and the [`Barrier`] a mutator holds, whose
//! [`on_store`](Barrier::on_store) is the whole barrier of one store. The
//! crate knows nothing of the collector. Addresses are `usize` (0 is null),
//! and the collector plugs in a sink that shades.
//!
//! This page is the argument for why the barriers are correct, written once.
//! The code and the tests cite its sections (§n). The model in
//! `tests/model.rs` checks it: it runs the real [`Barrier`] against an
//! abstract heap and marker, checks the invariants of §4–§6 after every step
//! and property (M) of §1 at the end, and shows that every obligation below
//! is needed, because leaving any one out loses an object.
//!
//! | mode | records | keeps | stacks |
//! |---|---|---|---|
//! | `off` | nothing | nothing: marking must stop the world (§8) | — |
//! | `incremental` | the new value | the strong invariant, over the heap (§4) | grey all through marking; rescanned at termination |
//! | `satb` | the old value | the weak invariant (§5) | each scanned before its mutator stores; then black, never rescanned |
//! | `hybrid` | the old value; the new one while the storing mutator's stack is unscanned | the weak invariant (§6) | scanned one at a time, at any point; then black, never rescanned |
//!
//! Every mode allocates black while marking (§7).
//!
//! ## §1 Colours, and what marking must prove
//!
//! During marking every object is *white* (not reached yet), *grey* (reached;
//! its fields not yet scanned) or *black* (reached and scanned). Marking
//! starts with every object white, and a marker step takes a grey object,
//! *shades* every object its fields point to (a white one turns grey; grey and
//! black ones stay as they are) and turns it black. Colours only ever darken
//! within a cycle. Marking ends when no grey object is left, and the sweep then
//! frees every white object. So marking is correct if
//!
//! > **(M)** when marking ends, every object reachable from the roots is black.
//!
//! The roots are the globals and each mutator's *stack*: here that word means
//! everything the collector scans for one mutator (its shadow stack, what its
//! root-scanner callback reports, its registers). A stack has a colour too.
//! It is grey until the collector scans it, which shades every object it
//! points to; after that it is black, unless the mode says it must be scanned
//! again (§4).
//!
//! Globals are different: every mutator shares them, and they are scanned
//! once. A write to a global is a store like a write to a field, and must go
//! through the barrier. When the writer's stack flag (§6) is unknown, the
//! collector passes "not scanned" to [`hybrid`], which records both values
//! and is correct under every mode. The other choice is to rescan the
//! globals at termination, as §4 does for stacks. Below, "store" includes
//! writes to globals, and "stack" means a mutator's own roots.
//!
//! If only the marker ran, (M) would follow from the marker's step alone: it
//! shades an object's referents before it blackens the object, so a black
//! object never points to a white one, and an empty grey set leaves nothing
//! reachable white. The mutators run concurrently with the marker and move
//! pointers behind its back. The barrier is what keeps them from breaking
//! (M).
//!
//! ## §2 The two tri-colour invariants
//!
//! Call a white object *grey-protected* if some grey object reaches it
//! through a path of white objects, and so will reach it as marking goes
//! on. (A record still sitting in a barrier buffer counts as grey: §9.) There
//! are two invariants that make (M) hold:
//!
//! - **strong**: no black object points to a white object;
//! - **weak**: every white object that a black object points to is
//!   grey-protected.
//!
//! The strong invariant implies the weak one. Either one is enough, once the
//! roots are accounted for too (§3 says how). Suppose marking has ended: no
//! object is grey, no buffer holds a record, and no root points to a white
//! object (§4 and §5 show how each mode gets there). If some reachable
//! object were white, follow a path to it from a root and stop at the first
//! white object. Its predecessor is a black object. The strong invariant
//! forbids that edge outright. The weak invariant asks for a grey object
//! that reaches the white one, and no grey object is left.
//!
//! An object is lost only when two things happen together: a pointer to a
//! white object is written into a black object (or a black stack), *and*
//! every path from a grey object to that white object is destroyed. A barrier
//! stops one of the two. The insertion barrier stops the first and keeps the
//! strong invariant (§4). The deletion barrier stops the second and keeps the
//! weak one (§5). The hybrid barrier does some of each (§6).
//!
//! The marker's step keeps both invariants. A mutator can break them in only
//! two ways: by storing a pointer into a heap object, which goes through the
//! barrier, and by writing its own stack, which does not (§3).
//!
//! ## §3 Stacks are not barriered
//!
//! Stack writes (locals, registers, the slots of a VM's interpreter frames)
//! are the most frequent writes a mutator makes, and many of them are done
//! by code that cannot call a barrier. So no mode here puts a barrier on
//! them, and Go does not either. Pointer *loads* have no barrier either.
//! Without either barrier, a mutator can
//!
//! - copy a pointer to any object it can reach into its stack, by loading it
//!   from a field, and
//! - drop pointers from its stack,
//!
//! and the collector never hears of it. Suppose a mutator's stack is black
//! and it loads a pointer to a white object. The stack is now a black root
//! that points to a white object, which breaks the strong invariant. Only a
//! read barrier could prevent that. So a mode that keeps the strong invariant
//! must treat stacks as grey for the whole of marking (§4). A mode that lets
//! a scanned stack stay black can keep only the weak invariant, and needs a
//! second fact about black stacks:
//!
//! > **(L)** every white object that a black stack points to is
//! > grey-protected.
//!
//! §5 and §6 show that (L) holds under those modes.
//!
//! ## §4 Incremental update (Dijkstra): shade the new value
//!
//! [`incremental_update`] records the value a store writes. It keeps the
//! strong invariant over heap objects. A store of a pointer to a white object
//! greys that object, whatever the colour of the object stored into. A
//! deleted pointer needs nothing, because removing an edge cannot create a
//! black-to-white edge. A new object is black with null fields (§7). Loads
//! and stack writes change no heap edge.
//!
//! Stacks cannot be black under this barrier (§3). Here is a case that loses
//! an object. A mutator whose stack was already scanned loads a pointer to
//! white X from a field of grey B. The field is then overwritten. The
//! barrier records only the new value, so X is not recorded. Now X is
//! reachable only from a stack the collector will not look at again (the
//! model's "hidden on a scanned stack" scenario). So stacks stay grey all
//! through marking. Scanning them once concurrently only gets work done
//! early. Correctness comes from mark termination. With the world stopped,
//! the collector flushes every buffer (§9), **rescans every stack**, and
//! drains the grey set before any mutator runs again. At that point the
//! strong invariant holds over the heap and every root has been shaded with
//! no mutator running, so the argument of §2 gives (M).
//!
//! The price is the termination pause. It grows with the total size of the
//! stacks and with whatever is reachable only through them. This was Go's
//! collector before 1.8, and the pause benches show the cost.
//! [`BarrierMode::rescans_stacks`] is true for this mode only.
//!
//! ## §5 SATB (Yuasa): shade the old value
//!
//! [`satb`] records the value a store overwrites. The idea is to mark
//! everything that was reachable when marking began (the snapshot), plus
//! everything allocated since (§7). An object that was unreachable at the
//! start stays unreachable, because a mutator gets pointers only by loading
//! them from reachable objects or by allocating. So whatever is reachable at
//! the end was either in the snapshot or allocated since, and a deletion
//! barrier makes the marker trace the snapshot. Take an edge `p.f → q` of
//! the snapshot. When the marker scans `p`, either `p.f` still holds `q` and
//! the scan shades it, or the field was overwritten first, and that first
//! overwrite recorded `q`. Put in terms of §2, the barrier keeps the weak
//! invariant. When a store removes an edge on a protecting path, the object
//! after the cut is recorded, and the rest of the path hangs from it.
//!
//! **Stacks need no barrier and no rescan, on one condition.** Each stack
//! must be scanned before its mutator stores a pointer. The case that
//! violates it: a mutator whose stack is not yet scanned holds the only
//! pointer to a white object X. It stores X into a black object O; the
//! barrier records O's old field, not X. It then drops X from its stack.
//! When the stack is scanned, X is not there. X is reachable through black O
//! and nothing will ever shade it (the model's "hidden from an unscanned
//! stack" scenario). A deletion barrier relies on a snapshot of the roots,
//! and that stack's snapshot was taken too late. So under SATB
//! ([`BarrierMode::scans_stack_before_store`]) the collector either scans
//! every stack in the pause that turns the barrier on (classical SATB; that
//! pause then grows with the stacks), or has each mutator scan its own stack
//! at its first safepoint after that pause, before its code runs again.
//!
//! With that condition met, every store comes from a mutator whose stack is
//! black, and the weak invariant and (L) are kept. Take each action in turn,
//! where *protected* means grey-protected:
//!
//! 1. *A marker step or a stack scan* shades before it blackens. A
//!    protecting path that started at the object now starts at one of its
//!    referents.
//! 2. *An allocation* makes a black object with null fields (§7).
//! 3. *A load* `v = o.f` onto a black stack: `o` is on that stack, so by (L)
//!    it is black, grey, or white and protected. If `o` is grey, it protects
//!    `v` directly. If `o` is white and protected, extending its path by
//!    `o → v` protects `v`. If `o` is black, the weak invariant protects `v`.
//!    So (L) still holds. A load changes no heap edge. A load onto a grey
//!    stack needs nothing.
//! 4. *A drop from a stack* removes a root edge. Protecting paths run
//!    through heap objects only, so none is cut.
//! 5. *A store* `o.f = v` over `u` records `u`. A protecting path that ran
//!    through `o → u` now hangs from `u`, which is recorded and so counts as
//!    grey (§9). The new edge `o → v`
//!    is harmless: `v` came from the storing mutator's black stack, so by (L)
//!    it is not white or it is protected.
//!
//! When marking ends, every stack has been scanned and no grey object or
//! record is left. Then nothing is protected, so no black object and no
//! black stack points to a white object. Every root is black, and (M)
//! follows by following paths from the roots.
//!
//! ## §6 Hybrid (Go since 1.8): shade the old value, and the new one while the stack is grey
//!
//! [`hybrid`] is Go's `shade(*slot); if current stack is grey: shade(ptr)`.
//! It removes SATB's condition. Stacks can be scanned one at a time, at any
//! point during marking, by a handshake, while their mutators run on. A
//! scanned stack is black and is never scanned again. The argument is §5's,
//! with one more kind of store: a store by a mutator whose stack is still
//! grey. Such a stack can hold the only pointer to any white object at all.
//! So the barrier also records the stored value, and the new edge `o → v`
//! points at a grey object. That is the "hidden from an unscanned stack" case
//! of §5 closed by the barrier instead of by scheduling. Both halves are
//! needed:
//!
//! - *shade the old value*: a mutator whose stack is black loads a pointer to
//!   white X from B.f and overwrites B.f. Without the record, X is reachable
//!   only from a stack that will not be scanned again (the scenario of §4,
//!   now with no rescan behind it);
//! - *shade the new value while the stack is grey*: the scenario of §5.
//!
//! Once the stack is black, the new value needs no record, because (L) covers
//! it. That is the saving over recording both values all the time.
//!
//! The flag is the *storing* mutator's own: whether its stack, the one that
//! might hold a hidden pointer, has been scanned. The flag changes only at
//! that mutator's safepoint (the handshake that scans the stack), or while
//! it is in native code and stores nothing. No barrier contains a safepoint
//! (§10), so the flag a barrier reads is current for the whole barrier.
//! Every flag is reset to "not scanned" in the pause that turns the barrier
//! on, so a flag can never say "scanned" about an earlier cycle. Erring the
//! other way, "not scanned" for a scanned stack, only records more than
//! needed.
//!
//! SATB is the hybrid barrier for a collector that never lets a grey stack
//! store. Under §5's condition the two are the same barrier.
//!
//! ## §7 Allocate black
//!
//! While marking, a new object is allocated black: its mark bit is set when
//! it is handed out. It needs no scan, because its fields start null and
//! every later store into it goes through the barrier. The pause that turns
//! the barrier on turns allocate-black on too, and mark termination turns
//! both off.
//!
//! - **SATB and hybrid need it to be correct.** A mutator whose stack is
//!   already black allocates a white object and keeps it only on its stack.
//!   Nothing will ever shade it. The stack is not rescanned, and the
//!   deletion barrier records only overwritten values. The object is freed
//!   while in use (the model's "allocated white" scenario). In §5's terms,
//!   (L) would fail at the allocation.
//! - **Incremental update does not need it to be correct, but to bound the
//!   pause.** A white new object is either stored into a heap object
//!   (recorded) or kept on a stack, which termination rescans. But then
//!   everything allocated during marking and held only by stacks is traced
//!   inside the termination pause, and allocating mutators can grow that
//!   work without bound. Allocated black, the objects cost the pause
//!   nothing.
//!
//! Objects allocated during marking survive that cycle even if they die at
//! once (floating garbage). The next cycle frees them.
//!
//! ## §8 Off
//!
//! [`BarrierMode::Off`] records nothing. Outside marking every mode behaves
//! like this: [`Barrier::on_store`] tests `marking`, and that one branch is
//! all a store costs (sweeping needs no barrier). As a heap's mode *during*
//! marking, `Off` is correct only if no mutator stores while marking, that
//! is, if marking stops the world. With mutators running it breaks (M) under
//! every stack discipline above. The model shows an object lost this way for
//! each mode's setup.
//!
//! ## §9 Buffers: a record is a grey object the collector cannot see yet
//!
//! A barrier does not shade. It appends to its mutator's [`BarrierBuffer`],
//! and the shading happens when the buffer is flushed into the [`Sink`]
//! (when it fills, at a handshake, and at mark termination). So the grey set
//! is the mark queues *together with* every pending buffer entry, and §2
//! through §6 count a white buffered object as grey. Three things follow.
//!
//! 1. **Marking cannot end while any buffer holds a record.** Mark
//!    termination flushes every mutator's buffer first. A mutator flushes its
//!    own at its safepoint; the collector flushes the buffer of one in native
//!    code. Only then does the collector test the grey set. If the flush
//!    greyed something, marking goes on.
//! 2. **Deferring the shade is safe.** Colours only darken and nothing is
//!    freed before marking ends, so only termination depends on a record
//!    having been shaded, and termination flushes first.
//! 3. **Records are not deduplicated.** An entry may repeat, or may already
//!    be grey or black. The sink shades idempotently, and testing a mark bit
//!    costs less than filtering would. A null is never recorded.
//!
//! The capacity bounds what one flush hands over. What termination has to
//! flush is at most the number of mutators times the capacity, whatever the
//! size of the heap, which is what the architecture asks of a
//! stop-the-world pause. If those records grey objects, marking should go
//! back to running concurrently, as Go's does, rather than drain a subgraph
//! of unknown size inside the pause. The default capacity is
//! [`DEFAULT_CAPACITY`] entries.
//!
//! ## §10 Memory ordering between the store, the buffer and the marker
//!
//! 1. **The buffer is owned.** A [`Barrier`] and its buffer are plain memory
//!    belonging to one mutator; every method takes `&mut self`. A record is a
//!    store and an increment, with no atomics. When the collector flushes for
//!    a mutator in native code, it holds that mutator's lock, and the lock
//!    hand-over orders its accesses after the mutator's.
//! 2. **The phase flag.** The `marking` argument is the caller's load of the
//!    heap's phase, and a `Relaxed` load is enough. The phase changes only
//!    with the world stopped. Every mutator leaves the stop through its
//!    safepoint, which synchronises with the collector. So every store made
//!    after the pause that turns marking on sees it on, and every store made
//!    after the pause that turns it off sees it off.
//! 3. **A store and its record form one step.** No safepoint poll may come
//!    between them. A handshake (which scans the stack or flushes the buffer)
//!    then sees both or neither, and the stack flag of §6 cannot change in
//!    between. Within the step, the order of the store and the record does
//!    not matter. The marker never reads a buffer; it learns of a record only
//!    through a flush (item 4), which comes after both. Go records before
//!    storing. The collector's `on_store` records after, which is equally
//!    correct.
//! 4. **The flush is the publication.** The sink must hand the batch to the
//!    markers with release semantics, and the markers must take it with
//!    acquire semantics. A locked queue or a work-stealing deque does both.
//!    Then everything the mutator did before the flush happens-before the
//!    marker's handling of those entries. That includes the store that
//!    caused the record, and the initialisation of a recorded new object.
//!    *A store done before a record is visible to the marker once the record
//!    is.*
//! 5. **Termination is a happens-before edge from every mutator.** At mark
//!    termination each mutator flushes at its safepoint and then parks (a
//!    release), and the collector takes the stop (an acquire). So every
//!    record made before a mutator's last safepoint is in the grey set
//!    before the collector tests it for emptiness (§9.1).
//! 6. **Fields can be `Relaxed`.** The marker may load a field while a
//!    mutator stores to it, and may see the old or the new value. Either is
//!    fine, because the other one is accounted for. Under SATB and hybrid,
//!    if the marker sees the new value, the old one was recorded. If it sees
//!    the old value, the new one is protected by (L) or was recorded (grey
//!    stack). Under incremental update, if it sees the old value, the new
//!    one was recorded, and a deleted edge never needs to be followed. No
//!    stronger ordering between a field store and a marker's load of that
//!    field is needed.
//! 7. **The old value is what the store's own load read.** The collector
//!    stores by a relaxed load of the field, then a store of the new value,
//!    and hands the barrier the value it loaded. That is not an atomic swap,
//!    and several mutators may store into one field at once, so the loaded
//!    value may not be the one the store replaced. That is enough: the
//!    values a deletion barrier must record are the ones the field held
//!    when marking began, and the first store to overwrite such a value
//!    always loads it. A value that racing stores overwrite without loading
//!    was written during the mark, and no mode needs it recorded. Item 9
//!    proves this.
//! 8. **New objects reached by a field load.** A marker can find a pointer
//!    to a new object through a relaxed field load, with no happens-before
//!    from its allocation. What the marker then reads of that object (the
//!    header, the mark bit that allocate-black set) must either be ordered
//!    after the allocation, or be safe to read stale. Ordering it is the
//!    collector's job, and the barrier does not provide it: for example, a
//!    release store of the header paired with the marker's acquire load of
//!    it. Go's `publicationBarrier` serves the same purpose.
//! 9. **Racing stores lose no object.** Mutators A and B store `a` and `b`
//!    into a field `o.f` that holds `X`, each by the load and store of
//!    item 7. If A loads `X`, B loads `X`, A writes `a` and B writes `b`,
//!    both hand the barrier `X` as the old value. `a` was in the field and
//!    has been overwritten, and no barrier recorded it. With more stores
//!    racing, more values can be lost this way. Every mode stays correct,
//!    for the reasons below. Write "the pause" for the one that turns the
//!    barrier on, and call the value a field holds when the pause ends its
//!    *snapshot value*.
//!
//!    (a) *The first store after the pause loads the snapshot value.* Every
//!    write made before the pause happens before every write made after it
//!    (item 2), so in the field's modification order the earlier writes
//!    all come first, and the snapshot value's write is the last of them.
//!    Take the first write after the pause in that order. Its store's load
//!    is sequenced before it, so by read-write coherence the load reads a
//!    write that comes earlier in the order. The snapshot value's write
//!    happens before the load, so by write-read coherence the load cannot
//!    read anything earlier than that write. Only the snapshot value is
//!    left. So the first store to overwrite a snapshot value records it
//!    (where the mode records old values), whatever the other stores do,
//!    and every value a race loses was written after the pause, during the
//!    mark. Other stores whose loads come before that first write record
//!    the snapshot value too. One record is enough.
//!
//!    (b) *SATB and hybrid never need a value written during the mark
//!    recorded as old.* Call an object *anchored* if it was allocated
//!    during the mark, or if the *snapshot edges* (each field's snapshot
//!    value) lead to it from a grey or black object or from a recorded
//!    value. Three facts hold:
//!
//!    - *Anchored objects stay anchored.* The snapshot edges never change,
//!      colours only darken, and a record, once made, stays pending until
//!      it is shaded.
//!    - *A white anchored object is grey-protected* (§2). Take the snapshot
//!      path to it, and the last object on that path that is grey, black,
//!      or recorded. That object is not black. When a black object was
//!      scanned, each of its fields either held its snapshot value, which
//!      the scan shaded, or had been overwritten, and by (a) the first
//!      overwrite recorded the snapshot value. Either way the next object
//!      on the path would not be white and unrecorded. After that last
//!      object, every object on the path is white and unrecorded. Each of
//!      their snapshot edges is still in place, because by (a) an
//!      overwritten one would have recorded its target. So the path is made
//!      of current edges through white objects, starting at a grey object
//!      or a record.
//!    - *Under SATB and hybrid, every pointer on a black stack, and every
//!      pointer a store writes during the mark, is null or anchored.* This
//!      goes by induction over the steps of §5. A stack scan shades what it
//!      finds. A load onto a black stack reads a field of an object on that
//!      stack, which is anchored. The field holds its snapshot value, which
//!      is anchored through that object, or a value written during the
//!      mark, which is anchored by induction. A new object is anchored. A
//!      store's new value comes from the storing mutator's stack. If that
//!      stack is black, the value is anchored. If it is grey (hybrid only),
//!      the insertion half records the value.
//!
//!    The weak invariant and (L) follow. A black object's field holds
//!    either a value written during the mark, which is anchored, or its
//!    snapshot value, which its scan shaded. What a black stack points to
//!    is anchored. An anchored white object is protected. No step of this
//!    argument uses the record of a value written during the mark, so a
//!    race that drops such a record breaks nothing. In the example, `a`
//!    came from A's stack. If that stack was grey, A's own store recorded
//!    `a`. If it was black, `a` was anchored before A's write and stays
//!    anchored after B's.
//!
//!    (c) *Incremental update never uses the old value.* Every store during
//!    the mark records its own new value, so the strong invariant of §4
//!    holds over the heap in whatever order racing writes land. The stacks
//!    are rescanned at termination anyway.
//!
//!    (d) *Compared with serial stores.* The example is the serial history
//!    "A stores `a` over `X`, then B stores `b` over `a`", except that B's
//!    record is `X`, which A recorded already, instead of `a`. With any
//!    number of racing stores, each records the value its load read. By
//!    (a), one of them records `X`, and the records a race drops are all of
//!    values written during the mark, which (b) and (c) show no mode
//!    needs.
//!
//!    (e) *Traced words.* A store of a tagged word into a traced type is the
//!    same load, then store, of one word. The barrier decodes the pointer
//!    in the loaded word and the one in the new word, and (a) holds for
//!    the word, so it holds for the pointer the snapshot word carries.
//!
//!    With the barrier off, marking stops the world and no store races with
//!    it. Which racing value a field keeps is the program's business:
//!    nothing here orders the stores, and none of this needs them ordered.
//!
//! ## §11 How this is checked
//!
//! The unit tests pin down each decision function against the table above.
//! The model in `tests/model.rs` is an abstract heap graph with mutator
//! stacks and a concurrent marker. Every store goes through a real
//! [`Barrier`], which records into a buffer flushed at random points. Stores
//! can also be split into their load and their write (§10.7), and several
//! mutators can race to store into one field, with their halves
//! interleaved with every other step (§10.9). After
//! every step the model checks the invariants: the strong one over the heap
//! for incremental update, and the weak one and (L) for SATB and hybrid. At
//! the end it checks (M). It also counts how many generated cases lose an
//! object with the barrier off, so that the properties cannot pass
//! vacuously.
//!
//! Every obligation above is shown to be needed. Each of these loses an
//! object, both in a deterministic scenario and in a case that proptest
//! finds:
//!
//! - the barrier off, under each mode's rules;
//! - SATB without its stack condition (that is, hybrid without its
//!   new-value half);
//! - hybrid without its old-value half;
//! - incremental update without the rescan;
//! - SATB or hybrid allocating white;
//! - SATB or hybrid where a store that raced another passes no old value
//!   (§10.9), which shows that the model's racing stores can lose an
//!   object.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod barrier;
mod buffer;
mod decision;
mod mode;

pub use barrier::Barrier;
pub use buffer::{BarrierBuffer, Sink, DEFAULT_CAPACITY};
pub use decision::{decide, hybrid, incremental_update, satb, Shades};
pub use mode::{BarrierMode, ParseBarrierModeError};
