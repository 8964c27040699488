//! The `mutator_program` fuzz target: bytes in, a program of mutator and
//! collector steps out, run with an exact interleaving against a real heap
//! whose every cycle is checked.
//!
//! This module has no dependency on libFuzzer. The cargo-fuzz target
//! (`fuzz/fuzz_targets/mutator_program.rs`) calls [`run`] on every input, and
//! `collector/tests/mutator_program_corpus.rs` includes the module (this
//! `mod.rs`) with `#[path]` and runs the checked-in corpus
//! (`fuzz/corpus/mutator_program/`) against all three concurrent barrier
//! modes ([`run_all_modes`]).
//!
//! # How a program runs
//!
//! The heap is made with `manual_cycles` (no background mark workers: nothing
//! marks unless the program says so, or a mutator's mark assist does), and
//! with checkmark, the heap verifier and poisoning on. Each mutator is a real
//! thread with its own [`Mutator`]. The thread that calls [`run`] is the
//! *scheduler*: it decodes the program, keeps the model, and does one thing
//! at a time. A mutator operation is sent to that mutator's thread over a
//! channel, and the scheduler waits for its reply. A collector operation
//! runs on the scheduler thread itself, through a [`CycleStepper`]. A
//! mutator thread waits for its next operation in native state
//! (`enter_native` before it blocks on the channel, `leave_native` after),
//! so the stepper stops the world and runs handshakes for it at once. After
//! a `native` operation that toggles it, it waits *running* instead,
//! polling a safepoint every 100 µs, so the collector's requests reach it at
//! its safepoints (it parks for a stop-the-world and runs handshakes itself).
//! Either way no two steps overlap, and the interleaving of stores, loads,
//! root changes, stack scans, marking and flushes is exactly the program's.
//!
//! The collector thread scans every stack by handshake early in each mark;
//! a program scans them when it says (`scan_stack`), and `finish` first
//! scans each stack the program left unscanned in that cycle (the latest a
//! slow mutator's scan could come), since `CycleStepper::finish` does not.
//!
//! The heap's finalizer thread is the one thread the scheduler does not
//! drive: it pops a job when a sweep queues one. Every finalizer and cleanup
//! a program sets first waits, in native state, at a *gate* that the
//! scheduler opens only during a `wait` operation (`wait_for_finalizers`).
//! So the jobs' effects (their reports, resurrections, the objects and
//! arguments they unroot) happen only inside `wait`, with nothing else
//! running; a popped job waiting at the gate is an object rooted by the
//! finalizer thread's frame, whose stack the collector scans on its behalf.
//! Which objects a cycle finds unreachable still depends on the barrier mode
//! (floating garbage), so the model never predicts *that* a job runs except
//! where it must (below); it checks what the jobs report when they have run.
//! One outcome does depend on timing: `cancel` of a cleanup whose object a
//! finished cycle found unreachable races with the sweep of the object's
//! span (by the background sweeper, or lazily), which is what queues it. The
//! model accepts either answer and follows it.
//!
//! # The model, and the safety contract
//!
//! The scheduler keeps a model of the heap: every object's kind and pointer
//! fields, each mutator's shadow stack, the global roots, the finalizers,
//! cleanups, weak references and the entries of two ephemeron tables. The
//! raw API lets a mutator touch only live objects it can reach, so every
//! operand that names an object picks it from the objects the mutator can
//! reach at that moment: the closure, through the model's edges, of its own
//! roots and the global roots (never another mutator's stack: a thread
//! cannot see another's locals). Picking `o` from that set stands for loading
//! the path to `o` into registers with no safepoint in between, which is what
//! compiled code does. An operation that does not apply (no such object, no
//! cycle open, a bound reached) is skipped.
//!
//! The model's *reachable* set is what every cycle must mark: the closure,
//! through pointer fields and through ephemeron entries (an entry's value
//! is reachable when its key is), of the stacks, the globals, the arguments
//! of registered cleanups and the referents of objects with a registered
//! finalizer (kept for the finalizer, specials §2; the finalizable object
//! itself is not a root). Its *alive* set adds the objects with a registered
//! finalizer: such an object is never freed before its finalizer has run,
//! since the sweep keeps it and the queue roots it.
//!
//! The rest is bookkeeping of what the collector *may* have done and what it
//! *must* have done, per finalizer and cleanup:
//!
//! - *maybe queued*: at the end of some cycle its object was outside the
//!   reachable set (for a cleanup: and had no registered finalizer, which
//!   would keep it), and it has not been seen alive since. Only then may
//!   the job run. A `wait` resolves it: a job that did not run was not queued.
//! - *must be queued*: the object was outside the reachable set at a cycle's
//!   beginning, counting as reachable everything the heap may still root
//!   (objects whose finalizer may be queued), and stayed outside throughout
//!   that cycle; such an object is unmarked at its end in every mode (marking
//!   only shades what was reachable at some moment of the cycle), so its
//!   finalizer (or, without one, its cleanups) runs at the next `wait`, its
//!   weak references yield nothing and its ephemeron entries are gone. A weak
//!   reference that yields nothing proves the same of its object. Floating
//!   garbage of one cycle is never asserted dead: it is collected in the
//!   next cycle that begins after it became unreachable.
//! - A weak reference that yields an object outside the reachable set (an
//!   object found alive, floating) roots it again: the object and its
//!   closure are reachable from then on, and proven not found dead so far.
//!
//! # What is checked
//!
//! - every cycle ends with checkmark and the verifier, which panic if an
//!   object reachable from the roots was left unmarked or a marked object
//!   points to an unmarked one (the lost objects of a missing barrier);
//! - the marker panics if it reaches a freed, poisoned object;
//! - after every cycle, at every `check` operation and at the end, every
//!   object alive in the model still has its type and length in its
//!   header, its canary words, and exactly the pointer fields the model
//!   says, read through the mutator API (a freed and reused or poisoned
//!   object fails here);
//! - every `load` returns the value the model predicts;
//! - finalizers: `set_finalizer` fails exactly when the model says the
//!   object has one and `clear_finalizer` reports what the model says; a
//!   finalizer runs at most once, never after it was cleared, and only when
//!   maybe queued (never for an object reachable at every cycle end); it
//!   must run when must be queued; when it runs, its object and every
//!   referent still have their headers and canaries, and its fields are the
//!   model's (read by the finalizer itself, on the finalizer thread);
//! - cleanups: one whose argument is its object is refused; a cleanup runs
//!   at most once, never after a successful `cancel`, only when maybe queued
//!   and its object has no finalizer left, and must run when must be queued;
//!   its argument's header and canaries are intact when it runs; `cancel`
//!   fails once the cleanup was cancelled or ran, and succeeds while it
//!   cannot have been queued (otherwise either answer is taken: the sweep
//!   that queues it is lazy; a failure means it was queued and must run);
//! - weak references: one to a reachable object (of the same incarnation:
//!   not made before a resurrection) yields it, and is not `is_cleared`; one
//!   to an object that must be dead, or made before its object's finalizer
//!   ran, yields nothing, and is `is_cleared` after the next `wait`; an
//!   object a weak reference yields has its header and canaries;
//! - ephemerons: `insert`, `get` and `remove` on a reachable key return
//!   exactly the model's values, whose headers and canaries are intact; the
//!   values of reachable keys are reachable (so checked above and counted
//!   below); each table's `len` is at least its entries with reachable keys
//!   and at most the model's entries;
//! - after every `wait`: the specials counters (`finalizers_pending`,
//!   `finalizers_run`, `cleanups_pending`, `cleanups_run`,
//!   `cleanups_cancelled`) equal the model's, everything queued has run,
//!   and no finalizer or cleanup panicked;
//! - at the end, any open cycle is finished, finalizers are waited for, and
//!   one more full cycle runs with no mutator running; it must mark exactly
//!   the objects the model reaches (none left behind, no garbage retained
//!   across two cycles); then a last `wait` must run the finalizer or
//!   cleanups of every unreachable object.
//!
//! # Input format
//!
//! Byte 0 is the header: `h % 3` picks the barrier mode (0 SATB, 1
//! incremental update, 2 hybrid; [`run_with_mode`] and the
//! `MUTATOR_PROGRAM_MODE` variable override it), `2 + (h / 3) % 3` is the
//! number of mutators (2–4), `(h / 9) % 4` the number of global roots
//! made, empty, before the program starts, `(h / 36) % 2` whether the
//! heap is generational (`Config::generational`; then opcode 20 begins a
//! minor cycle; `MUTATOR_PROGRAM_GENERATIONAL=1` or `0` overrides it), and
//! `(h / 72) % 3` when its objects become old (`Config::tenure`: 0
//! adaptive, 1 at the first survival, 2 at the second).
//!
//! Then come operations: an opcode byte `b` followed by its operands
//! (missing operand bytes read as zero; the program ends with the input, or
//! after [`MAX_OPS`] operations). `b % 32` picks the operation ([`OPS`]) and
//! `b / 32`, modulo the number of mutators, the mutator `m` it concerns.
//! Every operation reads a fixed number of operand bytes.
//!
//! | `b % 32` | operation | operands |
//! |---|---|---|
//! | 0–3 | `alloc`: allocate, write the canary, and root the object in a slot of `m` | kind, length, slot |
//! | 4–7 | `link`: store a pointer to a reachable object into a field | holder, field, target |
//! | 8–9 | `unlink`: store null into a field | holder, field |
//! | 10 | `push` a root slot holding a reachable object (`0xff`: null) | object |
//! | 11 | `pop` 1–4 root slots | count |
//! | 12 | `set` a root slot to a reachable object (`0xff`: null) | slot, object |
//! | 13–15 | `load` a pointer field into a root slot | holder, field, slot |
//! | 16 | `safepoint` | — |
//! | 17 | `native`: `flags % 4` = 0–1 a native call (`enter_native`, `leave_native`), 2 toggle between waiting for operations in native state and waiting running, 3 `reattach`: detach `m` (its roots go) and attach a fresh mutator on the same thread | flags |
//! | 18 | `global`: `sub % 4` = 0 add a global holding object `x` (`0xff`: null), 1 drop global `g`, 2 set global `g` to `x`, 3 load global `g` into slot `x` | sub, g, x |
//! | 19 | `begin` a cycle (`Heap::begin_cycle`: sweep termination, STW #1) | — |
//! | 20 | `begin` a minor cycle in a generational heap (`Heap::begin_minor_cycle`; it runs as a major one if the last sweep cleared the marks), else as 19 | — |
//! | 21–22 | `scan_stack` of `m` (`CycleStepper::scan_stack`) | — |
//! | 23 | `scan_globals` | — |
//! | 24–25 | `mark` `n + 1` grey objects (`0xff`: until none is left) | n |
//! | 26 | `flush` every barrier buffer by handshake | — |
//! | 27 | `finish` the cycle (STW #2, checkmark, verifier), then check the model | — |
//! | 28 | `check` the model on `m`'s thread now (also in the middle of a cycle) | — |
//! | 29 | `finalizer`: `sub % 4` = 0 `set_finalizer` on object `a`, which resurrects it by `b % 3` (0 not, 1 into a global root it adds, 2 into a global root made empty when the finalizer was set); 1 `clear_finalizer` of `a`; 2 `add_cleanup` to `a` with argument object `b` (`0xff`: none); 3 `cancel` cleanup `a` | sub, a, b |
//! | 30 | `weak`: `sub % 4` = 0 `weak_ref` to object `a`; 1 `get` weak reference `a`, rooting what it yields in slot `b` (`0xff`: use it under `keep_alive` instead); 2 `wait` for finalizers, `a % 2` = 0 on the scheduler thread (`Heap::wait_for_finalizers`), 1 on `m`'s thread; 3 a collector step, `a % 2` = 0 `ephemeron_pass`, 1 `finalizer_stage` | sub, a, b |
//! | 31 | `ephemeron` on table `(sub / 4) % 2`: `sub % 4` = 0 and 3 `insert` key `a`, value `b`; 1 `get` key `a`, 2 `remove` key `a`, rooting the value (or null) in slot `b` (`0xff`: not rooted) | sub, a, b |
//!
//! Operand details:
//!
//! - *kind*: `kind % 8` is 0–2 a `Node` (3 words: pointer fields 0 and 1,
//!   canary in word 2), 3–4 a `FreeNode` (the same, of a header-free type:
//!   no header word, its type in its span, its log-armed bit in the span
//!   in a generational heap), 5–6 an `Array` of pointers, 7 `Bytes`;
//!   *length*: for
//!   arrays `1 + length % 16` elements, for bytes `1 + 5 * length` bytes; a
//!   length of `0xff` makes a large object (4100 elements, 40 000 bytes);
//! - *holder*, *target*, *object*, *x*, and the objects *a* and *b* index the
//!   objects `m` can reach, sorted by allocation order (holders: only those
//!   with pointer fields), modulo their number; *field* is taken modulo the
//!   holder's fields;
//! - *slot*: with `k` root slots, `slot % (k + 1) == k` pushes a new slot
//!   (unless `m` has [`MAX_ROOTS`]), otherwise slot `slot % k` is overwritten;
//!   for `set`, slot `slot % k`;
//! - cleanups and weak references are numbered in the order they were made
//!   (`a` modulo their number); both are handles any mutator may use.
//!
//! The cycle operations (and the collector steps of `weak`) are skipped
//! unless a cycle is open (`begin` unless none is). Work is bounded:
//! [`MAX_OBJECTS`] allocations, [`MAX_LARGE`] large objects and
//! [`MAX_ALLOC_BYTES`] per program, [`MAX_FINALIZERS`] finalizers,
//! [`MAX_CLEANUPS`] cleanups and [`MAX_WEAK`] weak references.
//!
//! Before opcodes 29–31 meant these operations they were aliases of `link`,
//! `alloc` and `load`; corpus files written before were rewritten to use the
//! first opcode of each (same programs, same behaviour).
//!
//! # Seeds, and running it
//!
//! [`seeds`](fn@seeds) builds the seed programs (each textbook lost-object
//! interleaving, the finalizer, cleanup, weak and ephemeron cases, and
//! programs that use every operation under every mode); they are the files
//! `fuzz/corpus/mutator_program/seed-*`. After changing the input format or
//! the seeds, rewrite them with
//!
//! ```sh
//! cargo test -p tricolor-collector --test mutator_program_corpus -- --ignored write_seed_corpus
//! ```
//!
//! (a test checks that the files match [`seeds`](fn@seeds)). Fuzz with
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run mutator_program`; set
//! `MUTATOR_PROGRAM_MODE=satb` (or `incremental`, `hybrid`) to run every
//! input under one mode, and `MUTATOR_PROGRAM_TRACE=1` to print each
//! operation as it runs. One file, under the mode its first byte names (or
//! `MUTATOR_PROGRAM_MODE`), with its trace:
//!
//! ```sh
//! MUTATOR_PROGRAM_INPUT=path/to/file MUTATOR_PROGRAM_TRACE=1 \
//!   cargo test -p tricolor-collector --test mutator_program_corpus replay_one -- --nocapture
//! ```
//!
//! # Layout
//!
//! - `input`: the barrier modes, the bounds, the byte reader and the opcode
//!   table of the input format;
//! - `object`: the kinds of objects, their heap types and canaries;
//! - `action`: one decoded operation (`Action`);
//! - `decode`: bytes to actions, applied to the model (`Model::step`);
//! - `model`: the model, and what it says the collector may and must do;
//! - `jobs`: the finalizers and cleanups, their gate and their reports;
//! - `checks`: the checks of an object's header, canaries and fields;
//! - `mutator`: the mutator threads and the requests they serve;
//! - `scheduler`: the interleaving of mutator operations and cycle steps,
//!   and the checks of what the heap did against the model;
//! - `builder`, `seeds`: the seed programs;
//! - `panics`: the message of a caught panic.
//!
//! [`Mutator`]: tricolor_collector::Mutator
//! [`CycleStepper`]: tricolor_collector::CycleStepper

mod action;
mod builder;
mod checks;
mod decode;
mod input;
mod jobs;
mod model;
mod mutator;
mod object;
mod panics;
mod scheduler;
mod seeds;

// The module's public API; a crate that includes the module uses only part
// of it.
#[allow(unused_imports)]
pub use input::{
    OpKind, MAX_ALLOC_BYTES, MAX_CLEANUPS, MAX_FINALIZERS, MAX_GLOBALS, MAX_LARGE, MAX_OBJECTS,
    MAX_OPS, MAX_ROOTS, MAX_WEAK, MODES, OPS,
};
#[allow(unused_imports)]
pub use seeds::seeds;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tricolor_collector::{BarrierMode, Config, Heap, Tenure};

use input::Input;
use object::Types;
use scheduler::Sched;

/// Runs the program in `data` under the barrier mode its header names, or
/// the one `MUTATOR_PROGRAM_MODE` names; panics on the first failed check.
pub fn run(data: &[u8]) {
    let Some(&header) = data.first() else {
        return;
    };
    let mode = mode_from_env().unwrap_or(MODES[header as usize % MODES.len()]);
    run_with_mode(data, mode);
}

/// Runs the program in `data` under each of the three concurrent modes.
pub fn run_all_modes(data: &[u8]) {
    for mode in MODES {
        run_with_mode(data, mode);
    }
}

/// The mode `MUTATOR_PROGRAM_MODE` forces (`satb`, `incremental` or
/// `hybrid`), if set; read once.
///
/// # Panics
/// If the variable names no concurrent mode.
pub fn mode_from_env() -> Option<BarrierMode> {
    static MODE: OnceLock<Option<BarrierMode>> = OnceLock::new();
    *MODE.get_or_init(|| {
        let v = std::env::var("MUTATOR_PROGRAM_MODE").ok()?;
        let mode: BarrierMode = v
            .parse()
            .unwrap_or_else(|e| panic!("MUTATOR_PROGRAM_MODE: {e}"));
        assert!(
            MODES.contains(&mode),
            "MUTATOR_PROGRAM_MODE: {mode} does not mark concurrently; use satb, incremental or hybrid"
        );
        Some(mode)
    })
}

/// Whether `MUTATOR_PROGRAM_GENERATIONAL` (`1` or `0`) forces every
/// program's heap to be generational or not, overriding the header's bit;
/// read once.
///
/// # Panics
/// If the variable is set to anything else.
pub fn generational_from_env() -> Option<bool> {
    static GEN: OnceLock<Option<bool>> = OnceLock::new();
    *GEN.get_or_init(
        || match std::env::var("MUTATOR_PROGRAM_GENERATIONAL").ok()?.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            v => panic!("MUTATOR_PROGRAM_GENERATIONAL: expected 1 or 0, got {v:?}"),
        },
    )
}

/// Runs the program in `data` under barrier mode `mode` (the header's mode
/// bits are ignored); panics on the first failed check.
pub fn run_with_mode(data: &[u8], mode: BarrierMode) {
    let mut input = Input(data);
    let Some(header) = input.next() else {
        return;
    };
    let mutators = 2 + (header as usize / 3) % 3;
    let globals = (header as usize / 9) % 4;
    let generational = generational_from_env().unwrap_or((header as usize / 36) % 2 == 1);
    let tenure = [
        Tenure::Adaptive,
        Tenure::FirstSurvival,
        Tenure::SecondSurvival,
    ][(header as usize / 72) % 3];
    let trace = std::env::var_os("MUTATOR_PROGRAM_TRACE").is_some();
    if trace {
        eprintln!(
            "mutator_program: {mode}, {mutators} mutators, {globals} globals{}",
            if generational {
                format!(", generational, tenure {tenure:?}")
            } else {
                String::new()
            }
        );
    }
    let heap = Heap::new(Config {
        manual_cycles: true,
        checkmark: true,
        verify: true,
        poison: true,
        barrier: mode,
        generational,
        tenure,
        ..Config::default()
    });
    let types = Types::register(&heap);
    let mut sched = Sched::start(&heap, mode, types, mutators, globals, generational, trace);
    sched.model.tenure_second = tenure == Tenure::SecondSurvival;
    let result = catch_unwind(AssertUnwindSafe(|| sched.run(&heap, &mut input)));
    let stopped = sched.stop();
    if let Err(p) = result {
        resume_unwind(p);
    }
    if let Err(msg) = stopped {
        panic!("{msg}");
    }
}
