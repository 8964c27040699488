//! The `mutator_program` fuzz target: bytes in, a program of mutator and
//! collector steps out, run with an exact interleaving against a real heap
//! whose every cycle is checked.
//!
//! This file has no dependency on libFuzzer. The cargo-fuzz target
//! (`fuzz/fuzz_targets/mutator_program.rs`) calls [`run`] on every input, and
//! `collector/tests/mutator_program_corpus.rs` includes the file with
//! `#[path]` and runs the checked-in corpus (`fuzz/corpus/mutator_program/`)
//! against all three concurrent barrier modes ([`run_all_modes`]).
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
//! number of mutators (2–4), and `(h / 9) % 4` the number of global roots
//! made, empty, before the program starts.
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
//! | 19–20 | `begin` a cycle (`Heap::begin_cycle`: sweep termination, STW #1) | — |
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
//! - *kind*: `kind % 8` is 0–4 a `Node` (3 words: pointer fields 0 and 1,
//!   canary in word 2), 5–6 an `Array` of pointers, 7 `Bytes`; *length*: for
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
//! [`seeds`] builds the seed programs (each textbook lost-object
//! interleaving, the finalizer, cleanup, weak and ephemeron cases, and
//! programs that use every operation under every mode); they are the files
//! `fuzz/corpus/mutator_program/seed-*`. After changing the input format or
//! the seeds, rewrite them with
//!
//! ```sh
//! cargo test -p tricolor-collector --test mutator_program_corpus -- --ignored write_seed_corpus
//! ```
//!
//! (a test checks that the files match [`seeds`]). Fuzz with
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

use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock, Weak};

// parking_lot, not std: its locks are compiled with this crate, so
// ThreadSanitizer sees the finalizer thread and the scheduler synchronise
// through them (std's prebuilt locks are invisible to it).
use parking_lot::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tricolor_collector::{
    BarrierMode, CleanupHandle, Config, CycleStepper, EphemeronTable, GlobalRoot, Heap, Mutator,
    ObjRef, SpecialError, TypeDescriptor, TypeId, WeakRef,
};

/// The concurrent barrier modes, in the order the header byte names them.
pub const MODES: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// Most operations decoded from one input.
pub const MAX_OPS: usize = 2000;
/// Most allocations per input.
pub const MAX_OBJECTS: usize = 4096;
/// Most large objects per input.
pub const MAX_LARGE: usize = 16;
/// Most bytes allocated per input.
pub const MAX_ALLOC_BYTES: usize = 8 << 20;
/// Most root slots per mutator.
pub const MAX_ROOTS: usize = 32;
/// Most global roots at once (`global` adds no more; a resurrecting
/// finalizer still adds its own).
pub const MAX_GLOBALS: usize = 8;
/// Most `set_finalizer` operations per input.
pub const MAX_FINALIZERS: usize = 64;
/// Most `add_cleanup` operations per input.
pub const MAX_CLEANUPS: usize = 64;
/// Most weak references per input.
pub const MAX_WEAK: usize = 64;
/// Ephemeron tables per program.
const TABLES: usize = 2;
/// Elements of a large array: 8 bytes each plus the header, over the 32 KiB
/// largest small object.
const LARGE_ARRAY: u32 = 4100;
/// Bytes of a large byte array.
const LARGE_BYTES: u32 = 40_000;
/// The operand value for "null" where an operand picks an object.
const NULL: u8 = 0xff;
/// How often a mutator waiting running polls its safepoint.
const RUNNING_POLL: Duration = Duration::from_micros(100);

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

/// Runs the program in `data` under barrier mode `mode` (the header's mode
/// bits are ignored); panics on the first failed check.
pub fn run_with_mode(data: &[u8], mode: BarrierMode) {
    let mut input = Input(data);
    let Some(header) = input.next() else {
        return;
    };
    let mutators = 2 + (header as usize / 3) % 3;
    let globals = (header as usize / 9) % 4;
    let trace = std::env::var_os("MUTATOR_PROGRAM_TRACE").is_some();
    if trace {
        eprintln!("mutator_program: {mode}, {mutators} mutators, {globals} globals");
    }
    let heap = Heap::new(Config {
        manual_cycles: true,
        checkmark: true,
        verify: true,
        poison: true,
        barrier: mode,
        ..Config::default()
    });
    let types = Types::register(&heap);
    let mut sched = Sched::start(&heap, mode, types, mutators, globals, trace);
    let result = catch_unwind(AssertUnwindSafe(|| sched.run(&heap, &mut input)));
    let stopped = sched.stop();
    if let Err(p) = result {
        resume_unwind(p);
    }
    if let Err(msg) = stopped {
        panic!("{msg}");
    }
}

/// The undecoded rest of the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// The next byte, or 0 once the input is used up.
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
}

// ---- operations and the model ---------------------------------------------

/// The operations, by opcode (`b % 32`); see the module docs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Allocate and root an object.
    Alloc,
    /// Store a pointer into a field.
    Link,
    /// Store null into a field.
    Unlink,
    /// Push a root slot.
    Push,
    /// Pop root slots.
    Pop,
    /// Overwrite a root slot.
    Set,
    /// Load a pointer field into a root slot.
    Load,
    /// Poll a safepoint.
    Safepoint,
    /// A native call, toggle how the mutator waits, or detach and attach
    /// again.
    Native,
    /// Add, drop, set or load a global root.
    Global,
    /// Begin a cycle.
    Begin,
    /// Scan one mutator's stack.
    ScanStack,
    /// Scan the global roots.
    ScanGlobals,
    /// Scan grey objects.
    Mark,
    /// Flush the barrier buffers.
    Flush,
    /// Finish the cycle.
    Finish,
    /// Check the model against the heap.
    Check,
    /// Set or clear a finalizer, add or cancel a cleanup.
    Finalizer,
    /// Make or read a weak reference, wait for finalizers, or a collector
    /// step of the specials (ephemeron pass, finalizer stage).
    Weak,
    /// Insert, get or remove an ephemeron entry.
    Ephemeron,
}

/// Opcode `b % 32` → operation.
pub const OPS: [OpKind; 32] = {
    use OpKind::*;
    [
        Alloc,
        Alloc,
        Alloc,
        Alloc,
        Link,
        Link,
        Link,
        Link,
        Unlink,
        Unlink,
        Push,
        Pop,
        Set,
        Load,
        Load,
        Load,
        Safepoint,
        Native,
        Global,
        Begin,
        Begin,
        ScanStack,
        ScanStack,
        ScanGlobals,
        Mark,
        Mark,
        Flush,
        Finish,
        Check,
        Finalizer,
        Weak,
        Ephemeron,
    ]
};

/// The shape of an object.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Pointer fields 0 and 1, canary in word 2.
    Node,
    /// That many pointer elements.
    Array(u32),
    /// That many bytes; canaries in the first, middle and last words.
    Bytes(u32),
}

impl Kind {
    fn decode(kind: u8, len: u8) -> Kind {
        match kind % 8 {
            0..=4 => Kind::Node,
            5 | 6 if len == NULL => Kind::Array(LARGE_ARRAY),
            5 | 6 => Kind::Array(1 + len as u32 % 16),
            _ if len == NULL => Kind::Bytes(LARGE_BYTES),
            _ => Kind::Bytes(1 + 5 * len as u32),
        }
    }

    fn pointer_fields(self) -> usize {
        match self {
            Kind::Node => 2,
            Kind::Array(n) => n as usize,
            Kind::Bytes(_) => 0,
        }
    }

    fn payload_words(self) -> usize {
        match self {
            Kind::Node => 3,
            Kind::Array(n) => n as usize,
            Kind::Bytes(n) => (n as usize).div_ceil(8),
        }
    }

    fn bytes(self) -> usize {
        (self.payload_words() + 1) * 8
    }

    fn is_large(self) -> bool {
        self.bytes() > 32 << 10
    }

    /// The words that hold canaries.
    fn canary_words(self) -> Vec<usize> {
        match self {
            Kind::Node => vec![2],
            Kind::Array(_) => Vec::new(),
            Kind::Bytes(_) => {
                let w = self.payload_words();
                let mut v = vec![0, w / 2, w - 1];
                v.dedup();
                v
            }
        }
    }
}

/// The canary of word `word` of object `id`: never zero, never the poison
/// pattern, never an address.
fn canary(id: u32, word: usize) -> u64 {
    0xC0DE_0000_0000_0001 ^ (id as u64) << 24 ^ (word as u64) << 4
}

/// Where a value goes on a mutator's shadow stack.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Slot {
    Push,
    Set(usize),
}

/// One decoded, applicable operation, with objects named by model id.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Alloc {
        m: usize,
        id: u32,
        kind: Kind,
        slot: Slot,
    },
    Store {
        m: usize,
        holder: u32,
        field: usize,
        value: Option<u32>,
    },
    Push {
        m: usize,
        value: Option<u32>,
    },
    Truncate {
        m: usize,
        len: usize,
    },
    SetRoot {
        m: usize,
        slot: usize,
        value: Option<u32>,
    },
    Load {
        m: usize,
        holder: u32,
        field: usize,
        slot: Slot,
        expect: Option<u32>,
    },
    Safepoint {
        m: usize,
    },
    NativeCall {
        m: usize,
    },
    WaitRunning {
        m: usize,
        on: bool,
    },
    Reattach {
        m: usize,
    },
    AddGlobal {
        m: usize,
        value: Option<u32>,
    },
    DropGlobal {
        g: usize,
    },
    SetGlobal {
        m: usize,
        g: usize,
        value: Option<u32>,
    },
    LoadGlobal {
        m: usize,
        g: usize,
        slot: Slot,
        expect: Option<u32>,
    },
    Begin,
    ScanStack {
        m: usize,
    },
    ScanGlobals,
    Mark {
        n: usize,
    },
    Flush,
    Finish,
    Check {
        m: usize,
    },
    /// `rec` is the new finalizer's number, `None` if the object has one
    /// (the call must fail).
    SetFinalizer {
        m: usize,
        obj: u32,
        rec: Option<usize>,
        resurrect: Resurrect,
    },
    ClearFinalizer {
        m: usize,
        obj: u32,
        expect: bool,
    },
    /// `cleanup` is the new cleanup's number, `None` if `arg` is `obj` (the
    /// call must fail).
    AddCleanup {
        m: usize,
        obj: u32,
        arg: Option<u32>,
        cleanup: Option<usize>,
    },
    Cancel {
        cleanup: usize,
        expect: Expect,
    },
    WeakRef {
        m: usize,
        obj: u32,
        weak: usize,
    },
    /// `slot`: where to root what the reference yields (`None`: used under
    /// `keep_alive`). The model applies the outcome in `Model::weak_got`.
    WeakGet {
        m: usize,
        weak: usize,
        obj: u32,
        slot: Option<Slot>,
        expect: Expect,
    },
    /// `m`: the mutator whose thread waits (`None`: the scheduler's). The
    /// model applies the outcome in `Model::finalized`, `Model::cleaned`
    /// and `Model::end_wait`.
    Wait {
        m: Option<usize>,
    },
    EphemeronPass,
    FinalizerStage,
    EphInsert {
        m: usize,
        table: usize,
        key: u32,
        value: u32,
        old: Option<u32>,
    },
    /// `get` (or `remove`) of `key`, which yields `value`, rooted in `slot`.
    EphGet {
        m: usize,
        table: usize,
        key: u32,
        value: Option<u32>,
        slot: Option<Slot>,
        remove: bool,
    },
}

/// An outcome that only the heap knows: yes, no, or either.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Expect {
    Yes,
    No,
    Either,
}

impl Expect {
    fn allows(self, got: bool) -> bool {
        match self {
            Expect::Yes => got,
            Expect::No => !got,
            Expect::Either => true,
        }
    }
}

/// Where a finalizer puts its object back (`set_finalizer`'s `b % 3`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Resurrect {
    /// Nowhere: the object dies in a later cycle.
    No,
    /// Into a global root the finalizer adds (`Heap::add_global`).
    NewGlobal,
    /// Into a global root the scheduler made, empty, when the finalizer was
    /// set (the finalizer `set`s it).
    Slot,
}

/// Where a finalizer or cleanup stands in the model.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum RecState {
    Registered,
    /// Cleared (a finalizer) or cancelled (a cleanup).
    Removed,
    Ran,
}

/// A finalizer in the model (numbered in the order they were set).
#[derive(Clone, Debug)]
struct FinRec {
    obj: u32,
    resurrect: Resurrect,
    state: RecState,
    /// Maybe queued: may run at the next `wait` (module docs).
    maybe: bool,
    /// Must be queued: runs at the next `wait`.
    must: bool,
}

/// A cleanup in the model (numbered in the order they were added).
#[derive(Clone, Debug)]
struct CleanupRec {
    obj: u32,
    arg: Option<u32>,
    state: RecState,
    maybe: bool,
    must: bool,
}

/// A weak reference in the model: to `obj` as it was in incarnation `gen`.
#[derive(Clone, Debug)]
struct WeakRec {
    obj: u32,
    gen: u32,
}

/// What decoding one operation gave.
#[derive(Debug)]
enum Step {
    /// The input is used up.
    End,
    /// The operation does not apply now.
    Skip(OpKind),
    Do(Action),
}

/// An object in the model.
#[derive(Clone, Debug)]
struct Obj {
    kind: Kind,
    /// Pointer fields: model ids.
    fields: Vec<Option<u32>>,
    /// Incarnation: how many of its finalizers have run. Weak references
    /// made in an earlier incarnation are cleared for good.
    gen: u32,
    /// Known to have been found unreachable in this incarnation: its weak
    /// references yield nothing.
    weak_dead: bool,
    /// Its registered finalizer.
    fin: Option<usize>,
}

/// The scheduler's model of the heap. Ids are allocation order.
#[derive(Clone, Debug)]
struct Model {
    mutators: usize,
    objects: Vec<Obj>,
    /// Each mutator's shadow stack.
    roots: Vec<Vec<Option<u32>>>,
    /// The global roots, in the order they were added (dropping one shifts
    /// the later ones down).
    globals: Vec<Option<u32>>,
    cycle_open: bool,
    /// Whether each mutator waits for operations running (polling) rather
    /// than in native state.
    waits_running: Vec<bool>,
    large: usize,
    alloc_bytes: usize,
    fins: Vec<FinRec>,
    cleanups: Vec<CleanupRec>,
    weaks: Vec<WeakRec>,
    /// The ephemeron tables: key → value. May hold entries the heap has
    /// dropped, but only with keys outside the reachable set.
    tables: [BTreeMap<u32, u32>; TABLES],
    /// While a cycle is open: the objects outside the may-be-rooted set
    /// since it began (module docs: must be queued).
    doomed: Option<Vec<bool>>,
}

impl Model {
    fn new(mutators: usize, globals: usize) -> Model {
        Model {
            mutators,
            objects: Vec::new(),
            roots: vec![Vec::new(); mutators],
            globals: vec![None; globals],
            cycle_open: false,
            waits_running: vec![false; mutators],
            large: 0,
            alloc_bytes: 0,
            fins: Vec::new(),
            cleanups: Vec::new(),
            weaks: Vec::new(),
            tables: Default::default(),
            doomed: None,
        }
    }

    /// The closure of `roots` through the model's edges, sorted.
    fn closure(&self, roots: impl Iterator<Item = u32>) -> Vec<u32> {
        let mut seen = vec![false; self.objects.len()];
        let mut stack = Vec::new();
        let mut out = Vec::new();
        let mut visit = |id: u32, stack: &mut Vec<u32>| {
            if !std::mem::replace(&mut seen[id as usize], true) {
                stack.push(id);
            }
        };
        for r in roots {
            visit(r, &mut stack);
        }
        while let Some(id) = stack.pop() {
            out.push(id);
            for &f in self.objects[id as usize].fields.iter().flatten() {
                visit(f, &mut stack);
            }
        }
        out.sort_unstable();
        out
    }

    /// The objects mutator `m` can reach: from its own roots and the globals.
    fn accessible(&self, m: usize) -> Vec<u32> {
        let own = self.roots[m].iter().flatten();
        self.closure(own.chain(self.globals.iter().flatten()).copied())
    }

    /// The objects `m` can reach that have pointer fields.
    fn holders(&self, m: usize) -> Vec<u32> {
        let mut v = self.accessible(m);
        v.retain(|&id| self.objects[id as usize].kind.pointer_fields() > 0);
        v
    }

    /// The roots of the reachable set (module docs): stacks, globals,
    /// arguments of registered cleanups, referents of objects with a
    /// registered finalizer.
    fn strong_roots(&self) -> Vec<u32> {
        let stacks = self.roots.iter().flatten();
        let mut out: Vec<u32> = stacks
            .chain(self.globals.iter())
            .flatten()
            .copied()
            .collect();
        for c in &self.cleanups {
            if c.state == RecState::Registered {
                out.extend(c.arg);
            }
        }
        for f in &self.fins {
            if f.state == RecState::Registered {
                out.extend(self.objects[f.obj as usize].fields.iter().flatten());
            }
        }
        out
    }

    /// The closure of `roots` through pointer fields and ephemeron entries
    /// (a value is reached when its key is), as flags by id.
    fn closure_eph(&self, roots: impl IntoIterator<Item = u32>) -> Vec<bool> {
        let mut values: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for t in &self.tables {
            for (&k, &v) in t {
                values.entry(k).or_default().push(v);
            }
        }
        let mut seen = vec![false; self.objects.len()];
        let mut stack = Vec::new();
        for r in roots {
            if !std::mem::replace(&mut seen[r as usize], true) {
                stack.push(r);
            }
        }
        while let Some(id) = stack.pop() {
            let fields = self.objects[id as usize].fields.iter().flatten();
            let vals = values.get(&id).into_iter().flatten();
            for &x in fields.chain(vals) {
                if !std::mem::replace(&mut seen[x as usize], true) {
                    stack.push(x);
                }
            }
        }
        seen
    }

    /// The reachable set, as flags by id.
    fn live(&self) -> Vec<bool> {
        self.closure_eph(self.strong_roots())
    }

    /// Everything the heap may root: the reachable set and the objects
    /// whose finalizer may be queued (the queue and the finalizer thread
    /// root them), as flags by id.
    fn upper(&self) -> Vec<bool> {
        let mut roots = self.strong_roots();
        for f in &self.fins {
            if f.state == RecState::Registered && f.maybe {
                roots.push(f.obj);
            }
        }
        self.closure_eph(roots)
    }

    /// The reachable set: what every cycle marks, sorted.
    fn reachable(&self) -> Vec<u32> {
        ids(&self.live())
    }

    /// The alive set: the reachable set and the objects with a registered
    /// finalizer, sorted.
    fn alive(&self) -> Vec<u32> {
        let mut live = self.live();
        for f in &self.fins {
            if f.state == RecState::Registered {
                live[f.obj as usize] = true;
            }
        }
        ids(&live)
    }

    /// Object `x` of what `m` can reach, if anything.
    fn pick(&self, m: usize, x: u8) -> Option<u32> {
        let acc = self.accessible(m);
        (!acc.is_empty()).then(|| acc[x as usize % acc.len()])
    }

    /// The registered cleanups of `obj`.
    fn cleanups_of(&self, obj: u32) -> impl Iterator<Item = usize> + '_ {
        self.cleanups
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.obj == obj && c.state == RecState::Registered)
            .map(|(i, _)| i)
    }

    fn slot(&self, m: usize, s: u8) -> Slot {
        let k = self.roots[m].len();
        if k < MAX_ROOTS && s as usize % (k + 1) == k {
            Slot::Push
        } else {
            Slot::Set(s as usize % k)
        }
    }

    fn put(&mut self, m: usize, slot: Slot, value: Option<u32>) {
        match slot {
            Slot::Push => self.roots[m].push(value),
            Slot::Set(i) => self.roots[m][i] = value,
        }
    }

    /// Object `x` of `m`'s reachable set, or null for [`NULL`] or an empty set.
    fn pick_or_null(&self, m: usize, x: u8) -> Option<u32> {
        let acc = self.accessible(m);
        (x != NULL && !acc.is_empty()).then(|| acc[x as usize % acc.len()])
    }

    /// Decodes the next operation and applies it to the model.
    fn step(&mut self, input: &mut Input<'_>) -> Step {
        let Some(b) = input.next() else {
            return Step::End;
        };
        let op = OPS[b as usize % 32];
        let m = (b / 32) as usize % self.mutators;
        let action = match op {
            OpKind::Alloc => {
                let (kind, len, slot) = (input.byte(), input.byte(), input.byte());
                self.alloc(m, Kind::decode(kind, len), slot)
            }
            OpKind::Link => {
                let (h, field, t) = (input.byte(), input.byte(), input.byte());
                let acc = self.accessible(m);
                let target = (!acc.is_empty()).then(|| acc[t as usize % acc.len()]);
                target.and_then(|t| self.store(m, h, field, Some(t)))
            }
            OpKind::Unlink => {
                let (h, field) = (input.byte(), input.byte());
                self.store(m, h, field, None)
            }
            OpKind::Push => {
                let x = input.byte();
                (self.roots[m].len() < MAX_ROOTS).then(|| {
                    let value = self.pick_or_null(m, x);
                    self.roots[m].push(value);
                    Action::Push { m, value }
                })
            }
            OpKind::Pop => {
                let n = 1 + input.byte() as usize % 4;
                let k = self.roots[m].len();
                (k > 0).then(|| {
                    let len = k.saturating_sub(n);
                    self.roots[m].truncate(len);
                    Action::Truncate { m, len }
                })
            }
            OpKind::Set => {
                let (s, x) = (input.byte(), input.byte());
                let k = self.roots[m].len();
                (k > 0).then(|| {
                    let (slot, value) = (s as usize % k, self.pick_or_null(m, x));
                    self.roots[m][slot] = value;
                    Action::SetRoot { m, slot, value }
                })
            }
            OpKind::Load => {
                let (h, field, s) = (input.byte(), input.byte(), input.byte());
                let holders = self.holders(m);
                (!holders.is_empty()).then(|| {
                    let holder = holders[h as usize % holders.len()];
                    let obj = &self.objects[holder as usize];
                    let field = field as usize % obj.kind.pointer_fields();
                    let expect = obj.fields[field];
                    let slot = self.slot(m, s);
                    self.put(m, slot, expect);
                    Action::Load {
                        m,
                        holder,
                        field,
                        slot,
                        expect,
                    }
                })
            }
            OpKind::Safepoint => Some(Action::Safepoint { m }),
            OpKind::Native => match input.byte() % 4 {
                0 | 1 => Some(Action::NativeCall { m }),
                2 => {
                    let on = !self.waits_running[m];
                    self.waits_running[m] = on;
                    Some(Action::WaitRunning { m, on })
                }
                _ => {
                    self.roots[m].clear();
                    Some(Action::Reattach { m })
                }
            },
            OpKind::Global => {
                let (sub, g, x) = (input.byte(), input.byte(), input.byte());
                self.global(m, sub, g, x)
            }
            OpKind::Begin => (!self.cycle_open).then(|| {
                self.begin_cycle();
                Action::Begin
            }),
            OpKind::ScanStack => self.cycle_open.then_some(Action::ScanStack { m }),
            OpKind::ScanGlobals => self.cycle_open.then_some(Action::ScanGlobals),
            OpKind::Mark => {
                let n = input.byte();
                let n = if n == NULL {
                    usize::MAX
                } else {
                    n as usize + 1
                };
                self.cycle_open.then_some(Action::Mark { n })
            }
            OpKind::Flush => self.cycle_open.then_some(Action::Flush),
            OpKind::Finish => self.cycle_open.then(|| {
                self.finish_cycle();
                Action::Finish
            }),
            OpKind::Check => Some(Action::Check { m }),
            OpKind::Finalizer => {
                let (sub, a, b) = (input.byte(), input.byte(), input.byte());
                self.finalizer_op(m, sub, a, b)
            }
            OpKind::Weak => {
                let (sub, a, b) = (input.byte(), input.byte(), input.byte());
                self.weak_op(m, sub, a, b)
            }
            OpKind::Ephemeron => {
                let (sub, a, b) = (input.byte(), input.byte(), input.byte());
                self.ephemeron_op(m, sub, a, b)
            }
        };
        match action {
            Some(a) => Step::Do(a),
            None => Step::Skip(op),
        }
    }

    fn alloc(&mut self, m: usize, kind: Kind, slot: u8) -> Option<Action> {
        if self.objects.len() >= MAX_OBJECTS
            || self.alloc_bytes + kind.bytes() > MAX_ALLOC_BYTES
            || (kind.is_large() && self.large >= MAX_LARGE)
        {
            return None;
        }
        let id = self.objects.len() as u32;
        self.objects.push(Obj {
            kind,
            fields: vec![None; kind.pointer_fields()],
            gen: 0,
            weak_dead: false,
            fin: None,
        });
        self.alloc_bytes += kind.bytes();
        self.large += kind.is_large() as usize;
        let slot = self.slot(m, slot);
        self.put(m, slot, Some(id));
        Some(Action::Alloc { m, id, kind, slot })
    }

    fn store(&mut self, m: usize, h: u8, field: u8, value: Option<u32>) -> Option<Action> {
        let holders = self.holders(m);
        if holders.is_empty() {
            return None;
        }
        let holder = holders[h as usize % holders.len()];
        let obj = &mut self.objects[holder as usize];
        let field = field as usize % obj.kind.pointer_fields();
        obj.fields[field] = value;
        Some(Action::Store {
            m,
            holder,
            field,
            value,
        })
    }

    fn global(&mut self, m: usize, sub: u8, g: u8, x: u8) -> Option<Action> {
        let n = self.globals.len();
        match sub % 4 {
            0 => (n < MAX_GLOBALS).then(|| {
                let value = self.pick_or_null(m, x);
                self.globals.push(value);
                Action::AddGlobal { m, value }
            }),
            _ if n == 0 => None,
            1 => {
                let g = g as usize % n;
                self.globals.remove(g);
                Some(Action::DropGlobal { g })
            }
            2 => {
                let (g, value) = (g as usize % n, self.pick_or_null(m, x));
                self.globals[g] = value;
                Some(Action::SetGlobal { m, g, value })
            }
            _ => {
                let g = g as usize % n;
                let expect = self.globals[g];
                let slot = self.slot(m, x);
                self.put(m, slot, expect);
                Some(Action::LoadGlobal { m, g, slot, expect })
            }
        }
    }
    fn finalizer_op(&mut self, m: usize, sub: u8, a: u8, b: u8) -> Option<Action> {
        if sub % 4 == 3 {
            return self.cancel_op(a);
        }
        let obj = self.pick(m, a)?;
        match sub % 4 {
            0 => {
                if self.fins.len() >= MAX_FINALIZERS {
                    return None;
                }
                let resurrect =
                    [Resurrect::No, Resurrect::NewGlobal, Resurrect::Slot][b as usize % 3];
                let rec = self.objects[obj as usize].fin.is_none().then(|| {
                    self.fins.push(FinRec {
                        obj,
                        resurrect,
                        state: RecState::Registered,
                        maybe: false,
                        must: false,
                    });
                    self.objects[obj as usize].fin = Some(self.fins.len() - 1);
                    self.fins.len() - 1
                });
                Some(Action::SetFinalizer {
                    m,
                    obj,
                    rec,
                    resurrect,
                })
            }
            1 => {
                let had = self.objects[obj as usize].fin.take();
                if let Some(r) = had {
                    self.fins[r].state = RecState::Removed;
                }
                Some(Action::ClearFinalizer {
                    m,
                    obj,
                    expect: had.is_some(),
                })
            }
            _ => {
                if self.cleanups.len() >= MAX_CLEANUPS {
                    return None;
                }
                let arg = self.pick_or_null(m, b);
                let cleanup = (arg != Some(obj)).then(|| {
                    self.cleanups.push(CleanupRec {
                        obj,
                        arg,
                        state: RecState::Registered,
                        maybe: false,
                        must: false,
                    });
                    self.cleanups.len() - 1
                });
                Some(Action::AddCleanup {
                    m,
                    obj,
                    arg,
                    cleanup,
                })
            }
        }
    }

    /// `cancel` of cleanup `a`: succeeds if it cannot have been queued,
    /// fails if it was cancelled or ran. One that must be queued may still
    /// be cancelled: the sweep that queues it is lazy (or the background
    /// sweeper's), and until then the record is on its span.
    fn cancel_op(&self, a: u8) -> Option<Action> {
        if self.cleanups.is_empty() {
            return None;
        }
        let cleanup = a as usize % self.cleanups.len();
        let c = &self.cleanups[cleanup];
        let expect = if c.state != RecState::Registered {
            Expect::No
        } else if !c.maybe {
            Expect::Yes
        } else {
            Expect::Either
        };
        Some(Action::Cancel { cleanup, expect })
    }

    fn weak_op(&mut self, m: usize, sub: u8, a: u8, b: u8) -> Option<Action> {
        match sub % 4 {
            0 => {
                let obj = self.pick(m, a)?;
                if self.weaks.len() >= MAX_WEAK {
                    return None;
                }
                let gen = self.objects[obj as usize].gen;
                self.weaks.push(WeakRec { obj, gen });
                Some(Action::WeakRef {
                    m,
                    obj,
                    weak: self.weaks.len() - 1,
                })
            }
            1 => {
                if self.weaks.is_empty() {
                    return None;
                }
                let weak = a as usize % self.weaks.len();
                Some(Action::WeakGet {
                    m,
                    weak,
                    obj: self.weaks[weak].obj,
                    slot: (b != NULL).then(|| self.slot(m, b)),
                    expect: self.weak_expect(weak),
                })
            }
            2 => Some(Action::Wait {
                m: (a % 2 == 1).then_some(m),
            }),
            _ => self.cycle_open.then_some(if a % 2 == 0 {
                Action::EphemeronPass
            } else {
                Action::FinalizerStage
            }),
        }
    }

    fn ephemeron_op(&mut self, m: usize, sub: u8, a: u8, b: u8) -> Option<Action> {
        let table = (sub / 4) as usize % TABLES;
        let key = self.pick(m, a)?;
        match sub % 4 {
            0 | 3 => {
                let value = self.pick(m, b)?;
                let old = self.tables[table].insert(key, value);
                Some(Action::EphInsert {
                    m,
                    table,
                    key,
                    value,
                    old,
                })
            }
            op => {
                let remove = op == 2;
                let value = if remove {
                    self.tables[table].remove(&key)
                } else {
                    self.tables[table].get(&key).copied()
                };
                let slot = (b != NULL).then(|| self.slot(m, b));
                if let Some(s) = slot {
                    self.put(m, s, value);
                }
                Some(Action::EphGet {
                    m,
                    table,
                    key,
                    value,
                    slot,
                    remove,
                })
            }
        }
    }

    /// What a `get` of weak reference `weak` must yield.
    fn weak_expect(&self, weak: usize) -> Expect {
        let w = &self.weaks[weak];
        let o = &self.objects[w.obj as usize];
        if w.gen < o.gen || o.weak_dead {
            Expect::No
        } else if self.live()[w.obj as usize] {
            Expect::Yes
        } else {
            Expect::Either
        }
    }

    /// `begin`: an object the heap cannot be rooting now must be found
    /// unreachable by this cycle, unless it is reached again during it.
    fn begin_cycle(&mut self) {
        self.cycle_open = true;
        self.doomed = Some(self.upper().into_iter().map(|u| !u).collect());
    }

    /// `finish`: what the cycle may, and must, have found unreachable.
    fn finish_cycle(&mut self) {
        self.cycle_open = false;
        let live = self.live();
        for f in &mut self.fins {
            if f.state == RecState::Registered && !live[f.obj as usize] {
                f.maybe = true;
            }
        }
        for i in 0..self.cleanups.len() {
            let c = &self.cleanups[i];
            // A registered finalizer keeps its object for one more cycle,
            // and the cleanups stay on it.
            let kept = self.objects[c.obj as usize].fin.is_some();
            if c.state == RecState::Registered && !live[c.obj as usize] && !kept {
                self.cleanups[i].maybe = true;
            }
        }
        if let Some(doomed) = self.doomed.take() {
            for id in ids(&doomed) {
                self.found_dead(id);
            }
        }
    }

    /// A finished cycle certainly found `obj` (as it is now, in this
    /// incarnation) unreachable: its weak references are cleared, its
    /// ephemeron entries dropped, and its finalizer, or without one its
    /// cleanups, queued.
    fn found_dead(&mut self, obj: u32) {
        let o = &mut self.objects[obj as usize];
        o.weak_dead = true;
        let fin = o.fin;
        for t in &mut self.tables {
            t.remove(&obj);
        }
        match fin {
            Some(r) => {
                self.fins[r].maybe = true;
                self.fins[r].must = true;
            }
            None => {
                for c in self.cleanups_of(obj).collect::<Vec<_>>() {
                    self.cleanups[c].maybe = true;
                    self.cleanups[c].must = true;
                }
            }
        }
    }

    /// The outcome of `cancel` (`action` is the `Cancel`).
    fn cancelled(&mut self, action: &Action, got: bool) {
        let Action::Cancel { cleanup, expect } = *action else {
            unreachable!("{action:?} is no cancel")
        };
        let c = &mut self.cleanups[cleanup];
        assert!(
            expect.allows(got),
            "cancelling cleanup #{cleanup} of #{} {}",
            c.obj,
            if got {
                "succeeded, but it had been cancelled or had run"
            } else {
                "failed, but its object has been reachable, or kept by its finalizer, at the \
                 end of every cycle since (it cannot have been queued)"
            }
        );
        if got {
            c.state = RecState::Removed;
        } else if c.state == RecState::Registered {
            // Queued: it runs at the next wait.
            c.maybe = true;
            c.must = true;
        }
    }

    /// The outcome of a weak `get` (`action` is the `WeakGet`). An object
    /// that was outside the reachable set and is yielded was floating: it
    /// and what it reaches were not found unreachable, and are reachable
    /// again (rooted, or for the moment under `keep_alive`).
    fn weak_got(&mut self, action: &Action, got: bool) {
        let Action::WeakGet {
            m,
            weak,
            obj,
            slot,
            expect,
        } = *action
        else {
            unreachable!("{action:?} is no weak get")
        };
        assert!(
            expect.allows(got),
            "weak reference #{weak} to #{obj} {}",
            if got {
                "yielded its object, but the object was found unreachable before (or the \
                 reference was made before the object's finalizer ran)"
            } else {
                "yielded nothing, but the model holds its object reachable"
            }
        );
        if !got {
            if self.weaks[weak].gen == self.objects[obj as usize].gen {
                self.found_dead(obj);
            }
            return;
        }
        let before = self.live();
        if let Some(s) = slot {
            self.put(m, s, Some(obj));
        }
        if before[obj as usize] {
            return;
        }
        let now = self.closure_eph(self.strong_roots().into_iter().chain([obj]));
        for id in 0..now.len() {
            if now[id] && !before[id] {
                self.revive(id as u32, weak, obj);
            }
        }
        if self.doomed.is_some() {
            // Shaded by the get: marked in this cycle after all.
            let mut reached = self.upper();
            for (r, n) in reached.iter_mut().zip(&now) {
                *r |= n;
            }
            self.spare(&reached);
        }
    }

    /// `id` is reachable again through what weak reference `weak` yielded
    /// (`via`): no cycle has found it unreachable, so nothing of it was
    /// queued.
    fn revive(&mut self, id: u32, weak: usize, via: u32) {
        let o = &self.objects[id as usize];
        let how = format!("weak reference #{weak} yielded #{via}, which reaches #{id}");
        assert!(
            !o.weak_dead,
            "{how}, but #{id} was found unreachable by a finished cycle"
        );
        if let Some(r) = o.fin {
            let f = &mut self.fins[r];
            assert!(
                !f.must,
                "{how}, but the finalizer #{r} of #{id} must have been queued"
            );
            f.maybe = false;
        }
        for c in self.cleanups_of(id).collect::<Vec<_>>() {
            let c = &mut self.cleanups[c];
            assert!(
                !c.must,
                "{how}, but a cleanup of #{id} must have been queued"
            );
            c.maybe = false;
        }
    }

    /// A `wait` saw finalizer `rec` run.
    fn finalized(&mut self, rec: usize) {
        let f = &self.fins[rec];
        let obj = f.obj;
        assert!(
            f.state == RecState::Registered,
            "finalizer #{rec} of #{obj} ran, but it {}",
            if f.state == RecState::Ran {
                "had run already"
            } else {
                "was cleared"
            }
        );
        assert!(
            f.maybe,
            "finalizer #{rec} of #{obj} ran, but #{obj} was reachable at the end of every cycle \
             since the finalizer was set (or since it was last found alive)"
        );
        self.fins[rec].state = RecState::Ran;
        let o = &mut self.objects[obj as usize];
        o.fin = None;
        o.gen += 1;
        o.weak_dead = false;
        for t in &mut self.tables {
            t.remove(&obj);
        }
        if self.fins[rec].resurrect != Resurrect::No {
            self.globals.push(Some(obj));
        }
    }

    /// A `wait` saw cleanup `cleanup` run.
    fn cleaned(&mut self, cleanup: usize) {
        let c = &self.cleanups[cleanup];
        let obj = c.obj;
        assert!(
            c.state == RecState::Registered,
            "cleanup #{cleanup} of #{obj} ran, but it {}",
            if c.state == RecState::Ran {
                "had run already"
            } else {
                "was cancelled"
            }
        );
        assert!(
            c.maybe,
            "cleanup #{cleanup} of #{obj} ran, but #{obj} was reachable, or kept by its \
             finalizer, at the end of every cycle since the cleanup was added (or since it was \
             last found alive)"
        );
        if let Some(r) = self.objects[obj as usize].fin {
            panic!("cleanup #{cleanup} of #{obj} ran, but the finalizer #{r} of #{obj} has not");
        }
        self.cleanups[cleanup].state = RecState::Ran;
    }

    /// The end of a `wait`, after its reports: whatever must have been
    /// queued has run, and whatever has not run was not queued.
    fn end_wait(&mut self) {
        for (i, f) in self.fins.iter_mut().enumerate() {
            if f.state == RecState::Registered {
                assert!(
                    !f.must,
                    "finalizer #{i} of #{} did not run, but its object was unreachable through a \
                     whole cycle (or a weak reference to it yielded nothing)",
                    f.obj
                );
                f.maybe = false;
            }
        }
        for (i, c) in self.cleanups.iter_mut().enumerate() {
            if c.state == RecState::Registered {
                assert!(
                    !c.must,
                    "cleanup #{i} of #{} did not run, but its object was freed (unreachable \
                     through a whole cycle with no finalizer, or its weak reference yielded \
                     nothing), or its cancel failed",
                    c.obj
                );
                c.maybe = false;
            }
        }
        if self.doomed.is_some() {
            // Resurrected objects were rooted by the queue all along; keep
            // the sets consistent anyway.
            let upper = self.upper();
            self.spare(&upper);
        }
    }

    /// The objects flagged in `reached` were reachable at some moment of
    /// the open cycle: it may mark them.
    fn spare(&mut self, reached: &[bool]) {
        if let Some(doomed) = &mut self.doomed {
            for (d, r) in doomed.iter_mut().zip(reached) {
                *d &= !r;
            }
        }
    }

    /// The least and most entries ephemeron table `t` may hold: those with
    /// reachable keys, and all the model has.
    fn table_bounds(&self, t: usize, live: &[bool]) -> (usize, usize) {
        let table = &self.tables[t];
        let reachable = table.keys().filter(|&&k| live[k as usize]).count();
        (reachable, table.len())
    }
}

/// The ids whose flag is set.
fn ids(flags: &[bool]) -> Vec<u32> {
    (0..flags.len() as u32)
        .filter(|&i| flags[i as usize])
        .collect()
}

// ---- the mutator threads ----------------------------------------------------

/// The three types every program uses.
#[derive(Copy, Clone)]
struct Types {
    node: TypeId,
    array: TypeId,
    bytes: TypeId,
}

impl Types {
    fn register(heap: &Heap) -> Types {
        let reg = |d| heap.register_type(d).expect("a valid descriptor");
        Types {
            node: reg(TypeDescriptor::fixed("Node", 3, &[0, 1])),
            array: reg(TypeDescriptor::array("Array", 1, &[0])),
            bytes: reg(TypeDescriptor::bytes("Bytes")),
        }
    }

    /// The type and allocation length of `kind`.
    fn of(&self, kind: Kind) -> (TypeId, usize) {
        match kind {
            Kind::Node => (self.node, 0),
            Kind::Array(n) => (self.array, n as usize),
            Kind::Bytes(n) => (self.bytes, n as usize),
        }
    }

    /// The kind a header's shape names, if it names one of these types.
    fn kind_of(&self, (ty, len): (TypeId, usize)) -> Option<Kind> {
        let len = u32::try_from(len).ok()?;
        if ty == self.node && len == 0 {
            Some(Kind::Node)
        } else if ty == self.array {
            Some(Kind::Array(len))
        } else if ty == self.bytes {
            Some(Kind::Bytes(len))
        } else {
            None
        }
    }
}

// ---- finalizers and cleanups ------------------------------------------------

/// What the finalizers and cleanups of a program share with the scheduler:
/// the gate they wait at, and the log they report to (module docs).
struct Shared {
    gate: Mutex<bool>,
    gate_cv: Condvar,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    /// Reports, in the order the jobs ran.
    events: Vec<Event>,
    /// The scheduler has stopped reading (the program ended or failed): a
    /// finalizer no longer resurrects, and reports are dropped.
    closed: bool,
}

/// What one finalizer or cleanup reported.
enum Event {
    Finalized {
        rec: usize,
        obj: ObjRef,
        read: Result<FinRead, String>,
        /// The global root a `Resurrect::NewGlobal` finalizer added.
        global: Option<GlobalRoot>,
    },
    Cleaned {
        cleanup: usize,
        arg: Option<ObjRef>,
        read: Result<Option<ObjRead>, String>,
    },
}

/// One object's header and canaries, as a finalizer or cleanup read them.
#[derive(Debug)]
struct ObjRead {
    obj: ObjRef,
    shape: (TypeId, usize),
    canaries: Vec<u64>,
}

/// What a finalizer read: its object, the object's pointer fields, and the
/// object each non-null field points to, in field order.
struct FinRead {
    obj: ObjRead,
    fields: Vec<Option<ObjRef>>,
    referents: Vec<ObjRead>,
}

/// How a finalizer resurrects its object (`Resurrect`, with the slot).
enum Resurrecting {
    No,
    NewGlobal,
    /// The scheduler holds the root until a `wait` sees it filled; the
    /// finalizer does not keep it (nor, through it, the heap) alive.
    Slot(Weak<GlobalRoot>),
}

fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

impl Shared {
    fn new() -> Arc<Shared> {
        Arc::new(Shared {
            gate: Mutex::new(false),
            gate_cv: Condvar::new(),
            log: Mutex::default(),
        })
    }

    fn set_gate(&self, open: bool) {
        *lock(&self.gate) = open;
        self.gate_cv.notify_all();
    }

    /// Waits, in native state (the collector acts for this thread
    /// meanwhile), until the scheduler opens the gate.
    fn pass_gate(&self, m: &mut Mutator) {
        m.native(|| {
            let mut open = lock(&self.gate);
            while !*open {
                self.gate_cv.wait(&mut open);
            }
        });
    }

    fn closed(&self) -> bool {
        lock(&self.log).closed
    }

    fn report(&self, event: Event) {
        let rejected = {
            let mut log = lock(&self.log);
            if log.closed {
                Some(event)
            } else {
                log.events.push(event);
                None
            }
        };
        drop(rejected);
    }

    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut lock(&self.log).events)
    }

    /// The program is over: jobs pass the gate from now on and report to
    /// no one.
    fn close(&self) {
        let events = {
            let mut log = lock(&self.log);
            log.closed = true;
            std::mem::take(&mut log.events)
        };
        drop(events);
        self.set_gate(true);
    }
}

/// Reads `obj`'s header and canaries.
fn read_object(m: &Mutator, types: Types, obj: ObjRef) -> Result<ObjRead, String> {
    // A freed object's slot stays mapped, its header poisoned: it would
    // decode to no type below.
    // SAFETY: `obj` is a finalizer's object or a referent of it, or a
    // cleanup's argument, kept alive while the job runs (under test).
    let shape = unsafe { m.shape_of(obj) };
    let kind = types
        .kind_of(shape)
        .ok_or_else(|| format!("{obj:?} has a header of no type of the program: {shape:?}"))?;
    let canaries = kind
        .canary_words()
        .into_iter()
        .map(|w| {
            // SAFETY: as above; `w` is a data word of the shape just read.
            unsafe { m.load_word(obj, w) }
        })
        .collect();
    Ok(ObjRead {
        obj,
        shape,
        canaries,
    })
}

/// A finalizer's reads: `obj` (of model kind `kind`), its pointer fields,
/// and the objects they point to.
fn read_finalizable(m: &Mutator, types: Types, obj: ObjRef, kind: Kind) -> Result<FinRead, String> {
    let o = read_object(m, types, obj)?;
    if types.kind_of(o.shape) != Some(kind) {
        return Err(format!("its header says {:?}, not {kind:?}", o.shape));
    }
    let fields: Vec<Option<ObjRef>> = (0..kind.pointer_fields())
        .map(|f| {
            // SAFETY: `obj` is rooted while its finalizer runs, and its
            // header was just read as `kind`, of which `f` is a pointer
            // field.
            unsafe { m.load(obj, f) }
        })
        .collect();
    let referents = fields
        .iter()
        .flatten()
        .map(|&p| read_object(m, types, p))
        .collect::<Result<_, _>>()?;
    Ok(FinRead {
        obj: o,
        fields,
        referents,
    })
}

/// The finalizer of model finalizer `rec`: waits at the gate, reads its
/// object and referents, resurrects the object if asked, reports.
fn finalizer(
    shared: Arc<Shared>,
    types: Types,
    rec: usize,
    kind: Kind,
    resurrect: Resurrecting,
) -> impl FnOnce(&mut Mutator, ObjRef) + Send + 'static {
    move |m, obj| {
        shared.pass_gate(m);
        let read = catch_unwind(AssertUnwindSafe(|| read_finalizable(m, types, obj, kind)))
            .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(p.as_ref()))));
        let global = match resurrect {
            _ if shared.closed() => None,
            Resurrecting::No => None,
            Resurrecting::NewGlobal => Some(m.heap().add_global(Some(obj))),
            Resurrecting::Slot(slot) => {
                if let Some(g) = slot.upgrade() {
                    g.set(Some(obj));
                }
                None
            }
        };
        shared.report(Event::Finalized {
            rec,
            obj,
            read,
            global,
        });
    }
}

/// The cleanup of model cleanup `cleanup`: waits at the gate, reads its
/// argument, reports.
fn cleanup_job(
    shared: Arc<Shared>,
    types: Types,
    cleanup: usize,
) -> impl FnOnce(&mut Mutator, Option<ObjRef>) + Send + 'static {
    move |m, arg| {
        shared.pass_gate(m);
        let read = match arg {
            None => Ok(None),
            Some(a) => catch_unwind(AssertUnwindSafe(|| read_object(m, types, a)))
                .unwrap_or_else(|p| Err(format!("panicked: {}", panic_message(p.as_ref()))))
                .map(Some),
        };
        shared.report(Event::Cleaned { cleanup, arg, read });
    }
}

/// What the model says one alive object holds.
struct Expected {
    id: u32,
    obj: ObjRef,
    kind: Kind,
    fields: Vec<Option<ObjRef>>,
}

/// A request to a mutator thread.
enum Req {
    Alloc {
        id: u32,
        kind: Kind,
        slot: Slot,
    },
    Store {
        obj: ObjRef,
        field: usize,
        value: Option<ObjRef>,
    },
    Push(Option<ObjRef>),
    Truncate(usize),
    SetRoot(usize, Option<ObjRef>),
    Load {
        obj: ObjRef,
        field: usize,
        slot: Slot,
        expect: Option<ObjRef>,
    },
    Safepoint,
    NativeCall,
    WaitRunning(bool),
    Reattach,
    AddGlobal(Option<ObjRef>),
    SetGlobal(Arc<GlobalRoot>, Option<ObjRef>),
    LoadGlobal {
        global: Arc<GlobalRoot>,
        slot: Slot,
        expect: Option<ObjRef>,
    },
    Check(Vec<Expected>),
    SetFinalizer {
        obj: ObjRef,
        rec: Option<usize>,
        kind: Kind,
        resurrect: Resurrecting,
    },
    ClearFinalizer {
        obj: ObjRef,
        expect: bool,
    },
    AddCleanup {
        obj: ObjRef,
        arg: Option<ObjRef>,
        cleanup: Option<usize>,
    },
    WeakRef(ObjRef),
    WeakGet {
        weak: WeakRef,
        obj: ObjRef,
        id: u32,
        kind: Kind,
        slot: Option<Slot>,
        expect: Expect,
    },
    Wait,
    EphInsert {
        table: Arc<EphemeronTable>,
        key: ObjRef,
        value: ObjRef,
        old: Option<ObjRef>,
    },
    /// `value`: the object the model expects, with its id and kind.
    EphGet {
        table: Arc<EphemeronTable>,
        key: ObjRef,
        value: Option<(ObjRef, u32, Kind)>,
        slot: Option<Slot>,
        remove: bool,
    },
}

/// A mutator thread's answer.
enum Reply {
    Done,
    /// The mutator's id (on attaching).
    Id(u64),
    Allocated(ObjRef),
    Global(GlobalRoot),
    Cleanup(Option<CleanupHandle>),
    Weak(WeakRef),
    /// Whether a weak reference yielded its object.
    Got(bool),
    /// The request panicked; the thread has detached and ended.
    Failed(String),
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A mutator thread's body: attach, then serve requests until the channel
/// closes or one fails.
fn mutator_thread(
    heap: Heap,
    types: Types,
    shared: Arc<Shared>,
    rx: Receiver<Req>,
    tx: Sender<Reply>,
) {
    let mut m = heap.attach().expect("a fresh thread attaches");
    if tx.send(Reply::Id(m.id())).is_err() {
        return;
    }
    let mut waits_running = false;
    loop {
        let req = if waits_running {
            wait_running(&mut m, &rx)
        } else {
            m.enter_native();
            let req = rx.recv().ok();
            m.leave_native();
            req
        };
        let Some(req) = req else {
            return;
        };
        let reply = match req {
            Req::WaitRunning(on) => {
                waits_running = on;
                Reply::Done
            }
            Req::Reattach => {
                drop(m);
                m = heap.attach().expect("a detached thread attaches again");
                Reply::Id(m.id())
            }
            req => match catch_unwind(AssertUnwindSafe(|| {
                serve(&heap, &mut m, types, &shared, req)
            })) {
                Ok(reply) => reply,
                Err(p) => {
                    let _ = tx.send(Reply::Failed(panic_message(p.as_ref())));
                    return;
                }
            },
        };
        if tx.send(reply).is_err() {
            return;
        }
    }
}

/// Waits for a request while running, polling the safepoint meanwhile.
fn wait_running(m: &mut Mutator, rx: &Receiver<Req>) -> Option<Req> {
    loop {
        m.safepoint();
        match rx.recv_timeout(RUNNING_POLL) {
            Ok(req) => return Some(req),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn put_root(m: &mut Mutator, slot: Slot, value: Option<ObjRef>) {
    match slot {
        Slot::Push => {
            m.push_root(value);
        }
        Slot::Set(i) => m.set_root(i, value),
    }
}

/// Runs one request on the mutator's own thread.
///
/// Every `ObjRef` in a request is an object the scheduler's model holds
/// reachable from this mutator's roots or the globals at this moment
/// (`Model::accessible`), or, for `Check`, alive (reachable from some root,
/// or kept for its finalizer); the collector keeps such objects alive, so
/// the raw API's contract holds. (A `WeakGet` names the object only to
/// compare what the reference yields.) The model is
/// what is under test: if the collector freed one of them, checkmark fails
/// first, or the checks below read poison.
fn serve(heap: &Heap, m: &mut Mutator, types: Types, shared: &Arc<Shared>, req: Req) -> Reply {
    match req {
        Req::Alloc { id, kind, slot } => {
            let (ty, len) = types.of(kind);
            let obj = m
                .alloc(ty, len)
                .unwrap_or_else(|e| panic!("allocating object #{id} ({kind:?}): {e}"));
            for w in kind.canary_words() {
                // SAFETY: `obj` was just allocated, with no safepoint since;
                // `w` is a data word of `kind` (`Kind::canary_words`).
                unsafe { m.store_word(obj, w, canary(id, w)) };
            }
            put_root(m, slot, Some(obj));
            Reply::Allocated(obj)
        }
        Req::Store { obj, field, value } => {
            // SAFETY: `obj` and `value` are reachable by this mutator (see
            // above); `field` is a pointer field of `obj`'s kind.
            unsafe { m.store(obj, field, value) };
            Reply::Done
        }
        Req::Push(value) => {
            m.push_root(value);
            Reply::Done
        }
        Req::Truncate(len) => {
            m.truncate_roots(len);
            Reply::Done
        }
        Req::SetRoot(slot, value) => {
            m.set_root(slot, value);
            Reply::Done
        }
        Req::Load {
            obj,
            field,
            slot,
            expect,
        } => {
            // SAFETY: `obj` is reachable by this mutator (see above); `field`
            // is a pointer field of its kind.
            let got = unsafe { m.load(obj, field) };
            assert_eq!(
                got, expect,
                "loading field {field} of {obj:?}: the heap holds {got:?}, the model {expect:?}"
            );
            put_root(m, slot, got);
            Reply::Done
        }
        Req::Safepoint => {
            m.safepoint();
            Reply::Done
        }
        Req::NativeCall => {
            m.native(std::thread::yield_now);
            Reply::Done
        }
        Req::AddGlobal(value) => Reply::Global(heap.add_global(value)),
        Req::SetGlobal(global, value) => {
            global.set(value);
            Reply::Done
        }
        Req::LoadGlobal {
            global,
            slot,
            expect,
        } => {
            let got = global.get();
            assert_eq!(
                got,
                expect,
                "global #{}: the heap holds {got:?}, the model {expect:?}",
                global.index()
            );
            put_root(m, slot, got);
            Reply::Done
        }
        Req::Check(expects) => {
            for e in &expects {
                check_object(m, types, e);
            }
            Reply::Done
        }
        Req::SetFinalizer {
            obj,
            rec,
            kind,
            resurrect,
        } => {
            let f = finalizer(
                shared.clone(),
                types,
                rec.unwrap_or(usize::MAX),
                kind,
                resurrect,
            );
            match (m.set_finalizer(obj, f), rec) {
                (Ok(()), Some(_)) | (Err(SpecialError::AlreadyHasFinalizer { .. }), None) => {}
                (got, _) => panic!(
                    "set_finalizer on {obj:?}: {got:?}, but the model says the object {} a \
                     finalizer",
                    if rec.is_some() { "has no" } else { "has" }
                ),
            }
            Reply::Done
        }
        Req::ClearFinalizer { obj, expect } => {
            let got = m.clear_finalizer(obj);
            assert_eq!(
                got,
                Ok(expect),
                "clear_finalizer on {obj:?}: the model says the object had a finalizer: {expect}"
            );
            Reply::Done
        }
        Req::AddCleanup { obj, arg, cleanup } => {
            let f = cleanup_job(shared.clone(), types, cleanup.unwrap_or(usize::MAX));
            match (m.add_cleanup(obj, arg, f), cleanup) {
                (Ok(handle), Some(_)) => Reply::Cleanup(Some(handle)),
                (Err(SpecialError::CleanupArgIsObject { .. }), None) => Reply::Cleanup(None),
                (got, _) => panic!(
                    "add_cleanup on {obj:?} with argument {arg:?}: {got:?}, but the model \
                     expects {}",
                    if cleanup.is_some() {
                        "a cleanup"
                    } else {
                        "CleanupArgIsObject"
                    }
                ),
            }
        }
        Req::WeakRef(obj) => Reply::Weak(
            m.weak_ref(obj)
                .unwrap_or_else(|e| panic!("weak_ref on {obj:?}: {e}")),
        ),
        Req::WeakGet {
            weak,
            obj,
            id,
            kind,
            slot,
            expect,
        } => {
            let got = weak.get(m);
            assert!(
                expect.allows(got.is_some()),
                "a weak reference to #{id} ({obj:?}) yielded {got:?}; the model expects {expect:?}"
            );
            if let Some(p) = got {
                assert_eq!(
                    p, obj,
                    "a weak reference to #{id} yielded {p:?}, not the object's {obj:?}"
                );
                match slot {
                    Some(s) => {
                        put_root(m, s, got);
                        check_shape(m, types, id, kind, p);
                    }
                    None => m.keep_alive(p, |m| {
                        m.safepoint();
                        check_shape(m, types, id, kind, p);
                    }),
                }
            }
            Reply::Got(got.is_some())
        }
        Req::Wait => {
            m.wait_for_finalizers();
            Reply::Done
        }
        Req::EphInsert {
            table,
            key,
            value,
            old,
        } => {
            let got = table
                .insert(m, key, value)
                .unwrap_or_else(|e| panic!("ephemeron insert {key:?} -> {value:?}: {e}"));
            assert_eq!(
                got, old,
                "ephemeron insert {key:?} -> {value:?} replaced {got:?}, the model {old:?}"
            );
            Reply::Done
        }
        Req::EphGet {
            table,
            key,
            value,
            slot,
            remove,
        } => {
            let got = if remove {
                table.remove(m, key)
            } else {
                table.get(m, key)
            };
            assert_eq!(
                got,
                value.map(|v| v.0),
                "ephemeron {} of key {key:?}: the table holds {got:?}, the model {value:?}",
                if remove { "remove" } else { "get" }
            );
            if let Some(s) = slot {
                put_root(m, s, got);
            }
            if let Some((p, id, kind)) = value {
                // Live until this mutator's next safepoint, rooted or not.
                check_shape(m, types, id, kind, p);
            }
            Reply::Done
        }
        Req::WaitRunning(_) | Req::Reattach => unreachable!("handled by the thread loop"),
    }
}

/// Checks an object's header and canaries: object `id` of kind `kind`.
fn check_shape(m: &Mutator, types: Types, id: u32, kind: Kind, obj: ObjRef) {
    // SAFETY: the caller's object is live: reachable in the model, or just
    // yielded by a weak reference or an ephemeron table (live until the
    // next safepoint) and rooted or used under `keep_alive`.
    let shape = unsafe { m.shape_of(obj) };
    assert_eq!(
        shape,
        types.of(kind),
        "object #{id} ({kind:?}) at {obj:?}: its header changed (freed and reused?)"
    );
    for w in kind.canary_words() {
        // SAFETY: as above; `w` is a data word of `kind`.
        let got = unsafe { m.load_word(obj, w) };
        assert_eq!(
            got,
            canary(id, w),
            "object #{id} ({kind:?}) at {obj:?}: canary word {w} is {got:#x} (freed, poisoned or \
             overwritten?)"
        );
    }
}

/// Checks one reachable object's header, canaries and pointer fields.
fn check_object(m: &Mutator, types: Types, e: &Expected) {
    let Expected {
        id,
        obj,
        kind,
        ref fields,
    } = *e;
    check_shape(m, types, id, kind, obj);
    for (f, &want) in fields.iter().enumerate() {
        // SAFETY: the model holds `obj` alive (see `serve`); its header was
        // just checked, and `f` is a pointer field of `kind`.
        let got = unsafe { m.load(obj, f) };
        assert_eq!(
            got, want,
            "object #{id} ({kind:?}) at {obj:?}: field {f} holds {got:?}, the model {want:?}"
        );
    }
}

// ---- the scheduler ------------------------------------------------------------

/// A mutator thread, from the scheduler's side.
struct Remote {
    tx: Option<Sender<Req>>,
    rx: Receiver<Reply>,
    /// The mutator's current id (it changes on reattach).
    id: u64,
    thread: Option<JoinHandle<()>>,
}

struct Sched {
    mode: BarrierMode,
    types: Types,
    model: Model,
    /// Whether each mutator's stack has been scanned in the open cycle.
    scanned: Vec<bool>,
    mutators: Vec<Remote>,
    /// Object id → address.
    refs: Vec<ObjRef>,
    globals: Vec<Arc<GlobalRoot>>,
    shared: Arc<Shared>,
    /// By model number.
    cleanups: Vec<CleanupHandle>,
    weaks: Vec<WeakRef>,
    tables: [Arc<EphemeronTable>; TABLES],
    /// The global root each `Resurrect::Slot` finalizer fills, by model
    /// number, until a `wait` sees it filled (it then joins `globals`).
    slots: BTreeMap<usize, Arc<GlobalRoot>>,
    trace: bool,
    /// The operation being run (1-based), for messages.
    step: usize,
}

impl Sched {
    fn start(
        heap: &Heap,
        mode: BarrierMode,
        types: Types,
        mutators: usize,
        globals: usize,
        trace: bool,
    ) -> Sched {
        let shared = Shared::new();
        let mutators = (0..mutators)
            .map(|i| {
                let (req_tx, req_rx) = channel();
                let (reply_tx, reply_rx) = channel();
                let h = heap.clone();
                let sh = shared.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("mutator-{i}"))
                    .spawn(move || mutator_thread(h, types, sh, req_rx, reply_tx))
                    .expect("spawning a mutator thread");
                let id = match reply_rx.recv() {
                    Ok(Reply::Id(id)) => id,
                    _ => panic!("mutator thread {i} did not attach"),
                };
                Remote {
                    tx: Some(req_tx),
                    rx: reply_rx,
                    id,
                    thread: Some(thread),
                }
            })
            .collect::<Vec<_>>();
        Sched {
            mode,
            types,
            model: Model::new(mutators.len(), globals),
            scanned: vec![false; mutators.len()],
            globals: (0..globals)
                .map(|_| Arc::new(heap.add_global(None)))
                .collect(),
            mutators,
            refs: Vec::new(),
            shared,
            cleanups: Vec::new(),
            weaks: Vec::new(),
            tables: [(); TABLES].map(|_| Arc::new(heap.ephemeron_table())),
            slots: BTreeMap::new(),
            trace,
            step: 0,
        }
    }

    /// Closes every channel and joins the threads; reports a thread that
    /// ended in a panic outside a request.
    fn stop(&mut self) -> Result<(), String> {
        // A job still at the gate (a failed program) runs, and reports to
        // no one.
        self.shared.close();
        self.slots.clear();
        self.globals.clear();
        for r in &mut self.mutators {
            r.tx = None;
        }
        let mut result = Ok(());
        for (i, r) in self.mutators.iter_mut().enumerate() {
            if let Some(t) = r.thread.take() {
                if let Err(p) = t.join() {
                    result = Err(format!(
                        "mutator thread {i} panicked: {}",
                        panic_message(p.as_ref())
                    ));
                }
            }
        }
        result
    }

    /// Sends `req` to mutator `m` and waits for its reply.
    fn call(&mut self, m: usize, req: Req) -> Reply {
        let r = &self.mutators[m];
        let sent = r.tx.as_ref().is_some_and(|tx| tx.send(req).is_ok());
        match sent.then(|| r.rx.recv().ok()).flatten() {
            Some(Reply::Failed(msg)) => panic!("op {}: mutator {m}: {msg}", self.step),
            Some(reply) => reply,
            None => panic!("op {}: mutator thread {m} is gone", self.step),
        }
    }

    fn obj(&self, id: u32) -> ObjRef {
        self.refs[id as usize]
    }

    fn opt(&self, id: Option<u32>) -> Option<ObjRef> {
        id.map(|i| self.obj(i))
    }

    fn run<'h>(&mut self, heap: &'h Heap, input: &mut Input<'_>) {
        let mut cycle: Option<CycleStepper<'h>> = None;
        for step in 1..=MAX_OPS {
            self.step = step;
            match self.model.step(input) {
                Step::End => break,
                Step::Skip(op) => {
                    if self.trace {
                        eprintln!("op {step}: {op:?} (skipped)");
                    }
                }
                Step::Do(action) => {
                    if self.trace {
                        eprintln!("op {step}: {action:?}");
                    }
                    self.execute(heap, &mut cycle, action);
                }
            }
        }
        self.step += 1;
        if self.trace {
            eprintln!("op {}: end", self.step);
        }
        if let Some(c) = cycle.take() {
            self.model.finish_cycle();
            self.finish(c);
        }
        // Everything queued runs; nothing is left that the heap may root
        // beyond what the model reaches.
        self.wait(heap, None);
        // One more full cycle with no mutator running: it must mark
        // exactly what the model reaches.
        let reachable = self.model.reachable().len() as u64;
        self.model.begin_cycle();
        let mut c = heap.begin_cycle();
        c.scan_stacks();
        let stats = c.finish();
        self.model.finish_cycle();
        assert_eq!(
            stats.objects_marked, reachable,
            "end: the last cycle marked {} objects, the model reaches {reachable}",
            stats.objects_marked
        );
        self.check(0);
        // That cycle found every unreachable object: their finalizers (or
        // cleanups) run now.
        self.wait(heap, None);
        self.check(0);
    }

    fn execute<'h>(
        &mut self,
        heap: &'h Heap,
        cycle: &mut Option<CycleStepper<'h>>,
        action: Action,
    ) {
        match action.clone() {
            Action::Alloc { m, id, kind, slot } => {
                let Reply::Allocated(obj) = self.call(m, Req::Alloc { id, kind, slot }) else {
                    unreachable!("alloc replies with the object")
                };
                assert_eq!(self.refs.len(), id as usize);
                self.refs.push(obj);
            }
            Action::Store {
                m,
                holder,
                field,
                value,
            } => {
                let req = Req::Store {
                    obj: self.obj(holder),
                    field,
                    value: self.opt(value),
                };
                self.call(m, req);
            }
            Action::Push { m, value } => {
                let req = Req::Push(self.opt(value));
                self.call(m, req);
            }
            Action::Truncate { m, len } => {
                self.call(m, Req::Truncate(len));
            }
            Action::SetRoot { m, slot, value } => {
                let req = Req::SetRoot(slot, self.opt(value));
                self.call(m, req);
            }
            Action::Load {
                m,
                holder,
                field,
                slot,
                expect,
            } => {
                let req = Req::Load {
                    obj: self.obj(holder),
                    field,
                    slot,
                    expect: self.opt(expect),
                };
                self.call(m, req);
            }
            Action::Safepoint { m } => {
                self.call(m, Req::Safepoint);
            }
            Action::NativeCall { m } => {
                self.call(m, Req::NativeCall);
            }
            Action::WaitRunning { m, on } => {
                self.call(m, Req::WaitRunning(on));
            }
            Action::Reattach { m } => {
                let Reply::Id(id) = self.call(m, Req::Reattach) else {
                    unreachable!("reattach replies with the new id")
                };
                self.mutators[m].id = id;
                // A mutator that attaches during a mark has an empty stack,
                // scanned from the start.
                self.scanned[m] = true;
            }
            Action::AddGlobal { m, value } => {
                let req = Req::AddGlobal(self.opt(value));
                let Reply::Global(g) = self.call(m, req) else {
                    unreachable!("add_global replies with the root")
                };
                self.globals.push(Arc::new(g));
            }
            Action::DropGlobal { g } => {
                self.globals.remove(g);
            }
            Action::SetGlobal { m, g, value } => {
                let req = Req::SetGlobal(self.globals[g].clone(), self.opt(value));
                self.call(m, req);
            }
            Action::LoadGlobal { m, g, slot, expect } => {
                let req = Req::LoadGlobal {
                    global: self.globals[g].clone(),
                    slot,
                    expect: self.opt(expect),
                };
                self.call(m, req);
            }
            Action::Begin => {
                *cycle = Some(heap.begin_cycle());
                // SATB scans every stack at sweep termination.
                self.scanned.fill(self.mode == BarrierMode::Satb);
            }
            Action::ScanStack { m } => {
                let id = self.mutators[m].id;
                stepper(cycle).scan_stack(id);
                self.scanned[m] = true;
            }
            Action::ScanGlobals => stepper(cycle).scan_globals(),
            Action::Mark { n } => {
                stepper(cycle).mark(n);
            }
            Action::Flush => {
                stepper(cycle).flush_buffers();
            }
            Action::Finish => self.finish(cycle.take().expect("a cycle is open")),
            Action::Check { m } => self.check(m),
            Action::SetFinalizer {
                m,
                obj,
                rec,
                resurrect,
            } => {
                let resurrect = match (rec, resurrect) {
                    (None, _) | (_, Resurrect::No) => Resurrecting::No,
                    (Some(_), Resurrect::NewGlobal) => Resurrecting::NewGlobal,
                    (Some(r), Resurrect::Slot) => {
                        let slot = Arc::new(heap.add_global(None));
                        let weak = Arc::downgrade(&slot);
                        self.slots.insert(r, slot);
                        Resurrecting::Slot(weak)
                    }
                };
                let req = Req::SetFinalizer {
                    obj: self.obj(obj),
                    rec,
                    kind: self.model.objects[obj as usize].kind,
                    resurrect,
                };
                self.call(m, req);
            }
            Action::ClearFinalizer { m, obj, expect } => {
                let req = Req::ClearFinalizer {
                    obj: self.obj(obj),
                    expect,
                };
                self.call(m, req);
            }
            Action::AddCleanup {
                m,
                obj,
                arg,
                cleanup,
            } => {
                let req = Req::AddCleanup {
                    obj: self.obj(obj),
                    arg: self.opt(arg),
                    cleanup,
                };
                let Reply::Cleanup(handle) = self.call(m, req) else {
                    unreachable!("add_cleanup replies with the handle")
                };
                if let Some(h) = handle {
                    assert_eq!(Some(self.cleanups.len()), cleanup);
                    self.cleanups.push(h);
                }
            }
            Action::Cancel { cleanup, .. } => {
                let got = self.cleanups[cleanup].cancel();
                if self.trace {
                    eprintln!("op {}: cancel returns {got}", self.step);
                }
                self.model.cancelled(&action, got);
            }
            Action::WeakRef { m, obj, weak } => {
                let Reply::Weak(w) = self.call(m, Req::WeakRef(self.obj(obj))) else {
                    unreachable!("weak_ref replies with the reference")
                };
                assert_eq!(self.weaks.len(), weak);
                // References to one incarnation of an object share a cell;
                // one made after a resurrection is a new one.
                let gen = self.model.weaks[weak].gen;
                for (i, other) in self.weaks.iter().enumerate() {
                    let rec = &self.model.weaks[i];
                    if rec.obj == obj {
                        assert_eq!(
                            w == *other,
                            rec.gen == gen,
                            "op {}: weak references #{i} and #{weak} to #{obj} (incarnations {} \
                             and {gen})",
                            self.step,
                            rec.gen
                        );
                    }
                }
                self.weaks.push(w);
            }
            Action::WeakGet {
                m,
                weak,
                obj,
                slot,
                expect,
            } => {
                let req = Req::WeakGet {
                    weak: self.weaks[weak].clone(),
                    obj: self.obj(obj),
                    id: obj,
                    kind: self.model.objects[obj as usize].kind,
                    slot,
                    expect,
                };
                let Reply::Got(got) = self.call(m, req) else {
                    unreachable!("a weak get replies with its outcome")
                };
                if self.trace {
                    eprintln!(
                        "op {}: it yields {}",
                        self.step,
                        if got { "it" } else { "nothing" }
                    );
                }
                self.model.weak_got(&action, got);
            }
            Action::Wait { m } => self.wait(heap, m),
            Action::EphemeronPass => {
                stepper(cycle).ephemeron_pass();
            }
            Action::FinalizerStage => {
                stepper(cycle).finalizer_stage();
            }
            Action::EphInsert {
                m,
                table,
                key,
                value,
                old,
            } => {
                let req = Req::EphInsert {
                    table: self.tables[table].clone(),
                    key: self.obj(key),
                    value: self.obj(value),
                    old: self.opt(old),
                };
                self.call(m, req);
            }
            Action::EphGet {
                m,
                table,
                key,
                value,
                slot,
                remove,
            } => {
                let req = Req::EphGet {
                    table: self.tables[table].clone(),
                    key: self.obj(key),
                    value: value.map(|v| (self.obj(v), v, self.model.objects[v as usize].kind)),
                    slot,
                    remove,
                };
                self.call(m, req);
            }
        }
    }

    /// Opens the gate and waits for the finalizer thread (on mutator `m`'s
    /// thread, or on this one), then checks what ran against the model.
    fn wait(&mut self, heap: &Heap, m: Option<usize>) {
        self.shared.set_gate(true);
        match m {
            Some(m) => {
                self.call(m, Req::Wait);
            }
            None => heap.wait_for_finalizers(),
        }
        self.shared.set_gate(false);
        for event in self.shared.take() {
            if self.trace {
                match &event {
                    Event::Finalized { rec, global, .. } => eprintln!(
                        "op {}: finalizer #{rec} ran{}",
                        self.step,
                        if global.is_some() {
                            ", added a global"
                        } else {
                            ""
                        }
                    ),
                    Event::Cleaned { cleanup, .. } => {
                        eprintln!("op {}: cleanup #{cleanup} ran", self.step)
                    }
                }
            }
            match event {
                Event::Finalized {
                    rec,
                    obj,
                    read,
                    global,
                } => {
                    let id = self.model.fins[rec].obj;
                    assert_eq!(
                        obj,
                        self.obj(id),
                        "finalizer #{rec} ran with the wrong object"
                    );
                    self.model.finalized(rec);
                    let read = read.unwrap_or_else(|e| {
                        panic!(
                            "op {}: finalizer #{rec} of #{id}: reading it: {e}",
                            self.step
                        )
                    });
                    self.check_finalizer_read(rec, id, &read);
                    let root = match self.model.fins[rec].resurrect {
                        Resurrect::No => {
                            assert!(global.is_none());
                            None
                        }
                        Resurrect::NewGlobal => global.map(Arc::new),
                        Resurrect::Slot => self.slots.remove(&rec),
                    };
                    if self.model.fins[rec].resurrect != Resurrect::No {
                        let root = root.expect("a resurrecting finalizer's root");
                        assert_eq!(
                            root.get(),
                            Some(obj),
                            "finalizer #{rec} of #{id} did not resurrect it"
                        );
                        self.globals.push(root);
                    }
                }
                Event::Cleaned { cleanup, arg, read } => {
                    let want = self.model.cleanups[cleanup].arg;
                    assert_eq!(arg, self.opt(want), "cleanup #{cleanup}: its argument");
                    self.model.cleaned(cleanup);
                    let read = read.unwrap_or_else(|e| {
                        panic!(
                            "op {}: cleanup #{cleanup}: reading its argument: {e}",
                            self.step
                        )
                    });
                    if let (Some(id), Some(read)) = (want, read) {
                        self.check_read(&format!("the argument of cleanup #{cleanup}"), id, &read);
                    }
                }
            }
        }
        self.model.end_wait();
        assert_eq!(
            self.globals.len(),
            self.model.globals.len(),
            "global roots out of step with the model"
        );
        // Everything queued has run: the counters are the model's.
        let s = heap.stats().specials;
        let count = |states: &mut dyn Iterator<Item = RecState>, want: RecState| {
            states.filter(|&st| st == want).count() as u64
        };
        let fins = |want| count(&mut self.model.fins.iter().map(|f| f.state), want);
        let cleanups = |want| count(&mut self.model.cleanups.iter().map(|c| c.state), want);
        let got = (
            s.finalizers_pending,
            s.finalizers_run,
            s.finalizers_queued,
            s.cleanups_pending,
            s.cleanups_run,
            s.cleanups_queued,
            s.cleanups_cancelled,
            s.finalizer_panics,
        );
        let want = (
            fins(RecState::Registered),
            fins(RecState::Ran),
            fins(RecState::Ran),
            cleanups(RecState::Registered),
            cleanups(RecState::Ran),
            cleanups(RecState::Ran),
            cleanups(RecState::Removed),
            0,
        );
        assert_eq!(
            got, want,
            "op {}: after a wait, the specials counters (finalizers pending, run, queued; \
             cleanups pending, run, queued, cancelled; panics) differ from the model's",
            self.step
        );
        // The sweep has cleared every weak reference of a dead object.
        for (i, w) in self.weaks.iter().enumerate() {
            let rec = &self.model.weaks[i];
            let o = &self.model.objects[rec.obj as usize];
            if rec.gen < o.gen || o.weak_dead {
                assert!(
                    w.is_cleared(),
                    "op {}: weak reference #{i} to #{} is not cleared after a wait, but its \
                     object was found unreachable",
                    self.step,
                    rec.obj
                );
            }
        }
    }

    /// Checks what finalizer `rec` read of its object `id`.
    fn check_finalizer_read(&self, rec: usize, id: u32, read: &FinRead) {
        let what = format!("finalizer #{rec}");
        self.check_read(&format!("{what}: its object"), id, &read.obj);
        let want = &self.model.objects[id as usize].fields;
        assert_eq!(
            read.fields,
            want.iter().map(|&f| self.opt(f)).collect::<Vec<_>>(),
            "op {}: {what} read the fields of #{id}: the model has {want:?}",
            self.step
        );
        for (r, f) in read.referents.iter().zip(want.iter().flatten()) {
            self.check_read(&format!("{what}: a referent of #{id}"), *f, r);
        }
    }

    /// Checks a finalizer's or cleanup's read of object `id`.
    fn check_read(&self, what: &str, id: u32, read: &ObjRead) {
        let kind = self.model.objects[id as usize].kind;
        let want: Vec<u64> = kind
            .canary_words()
            .into_iter()
            .map(|w| canary(id, w))
            .collect();
        assert!(
            read.obj == self.obj(id) && read.shape == self.types.of(kind) && read.canaries == want,
            "op {}: {what}, #{id} ({kind:?} at {:?}), read as {read:?}: freed, reused or \
             poisoned while it had to be kept (canaries {want:x?})",
            self.step,
            self.obj(id)
        );
    }

    /// Finishes the cycle, then checks the model. Stacks the program did not
    /// scan are scanned first: the collector thread scans every stack by
    /// handshake early in the mark, and `CycleStepper::finish` does not, so
    /// this is the latest a mutator's stack scan can come (a mutator slow
    /// to reach its safepoint).
    fn finish(&mut self, mut c: CycleStepper<'_>) {
        for m in 0..self.mutators.len() {
            if !std::mem::replace(&mut self.scanned[m], true) {
                if self.trace {
                    eprintln!(
                        "op {}: scan the stack of mutator {m} before finishing",
                        self.step
                    );
                }
                c.scan_stack(self.mutators[m].id);
            }
        }
        c.finish();
        self.check(0);
    }

    /// Checks every object alive in the model, read on mutator `m`'s thread,
    /// and the specials.
    fn check(&mut self, m: usize) {
        let expects = self
            .model
            .alive()
            .into_iter()
            .map(|id| {
                let o = &self.model.objects[id as usize];
                Expected {
                    id,
                    obj: self.obj(id),
                    kind: o.kind,
                    fields: o.fields.iter().map(|&f| self.opt(f)).collect(),
                }
            })
            .collect();
        self.call(m, Req::Check(expects));
        self.check_specials();
    }

    /// The checks of the specials that need no mutator: no job ran outside
    /// a wait; weak references to reachable objects are not cleared; each
    /// ephemeron table's length is within the model's bounds.
    fn check_specials(&self) {
        assert!(
            lock(&self.shared.log).events.is_empty(),
            "op {}: a finalizer or cleanup ran outside a wait",
            self.step
        );
        let live = self.model.live();
        for (i, w) in self.weaks.iter().enumerate() {
            let rec = &self.model.weaks[i];
            let o = &self.model.objects[rec.obj as usize];
            if rec.gen == o.gen && live[rec.obj as usize] {
                assert!(
                    !w.is_cleared(),
                    "op {}: weak reference #{i} to the reachable #{} is cleared",
                    self.step,
                    rec.obj
                );
            }
        }
        for (t, table) in self.tables.iter().enumerate() {
            let (least, most) = self.model.table_bounds(t, &live);
            let len = table.len();
            assert!(
                (least..=most).contains(&len),
                "op {}: ephemeron table {t} holds {len} entries; the model says {least} to \
                 {most} ({:?})",
                self.step,
                self.model.tables[t]
            );
        }
    }
}

fn stepper<'a, 'h>(cycle: &'a mut Option<CycleStepper<'h>>) -> &'a mut CycleStepper<'h> {
    cycle.as_mut().expect("the model says a cycle is open")
}

// ---- seeds ------------------------------------------------------------------

/// Writes a program operation by operation, naming objects by model id: it
/// keeps the same model as the scheduler and computes the operand bytes that
/// make the decoder pick each object, so seeds stay readable.
struct Builder {
    bytes: Vec<u8>,
    model: Model,
}

impl Builder {
    fn new(mode: BarrierMode, mutators: usize, globals: usize) -> Builder {
        let mode = MODES
            .iter()
            .position(|&x| x == mode)
            .expect("a concurrent mode");
        assert!((2..=4).contains(&mutators) && globals < 4);
        let header = mode + 3 * (mutators - 2) + 9 * globals;
        Builder {
            bytes: vec![header as u8],
            model: Model::new(mutators, globals),
        }
    }

    fn build(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends one operation and applies it to the model; it must apply.
    fn op(&mut self, op: OpKind, m: usize, operands: &[u8]) -> Action {
        let code = OPS.iter().position(|&k| k == op).expect("an opcode");
        let start = self.bytes.len();
        self.bytes.push(code as u8 + 32 * m as u8);
        self.bytes.extend_from_slice(operands);
        match self.model.step(&mut Input(&self.bytes[start..])) {
            Step::Do(a) => a,
            other => panic!("seed operation {op:?} of mutator {m} does not apply: {other:?}"),
        }
    }

    fn index(list: &[u32], id: u32) -> u8 {
        let i = list
            .iter()
            .position(|&x| x == id)
            .unwrap_or_else(|| panic!("object #{id} is not reachable here"));
        u8::try_from(i)
            .ok()
            .filter(|&i| i != NULL)
            .expect("a small seed")
    }

    /// The operand that picks `value` from what `m` reaches.
    fn object(&self, m: usize, value: Option<u32>) -> u8 {
        value.map_or(NULL, |id| Self::index(&self.model.accessible(m), id))
    }

    /// The slot operand: push a new slot (`None`) or overwrite slot `i`.
    fn slot(&self, m: usize, slot: Option<usize>) -> u8 {
        let k = self.model.roots[m].len();
        let s = slot.map_or(k, |i| {
            assert!(i < k, "no root slot {i}");
            i
        });
        s as u8
    }

    /// Allocates (`kind`, `len` as in the input format) into a new slot.
    fn alloc(&mut self, m: usize, kind: u8, len: u8) -> u32 {
        let s = self.slot(m, None);
        match self.op(OpKind::Alloc, m, &[kind, len, s]) {
            Action::Alloc { id, .. } => id,
            a => unreachable!("{a:?}"),
        }
    }

    fn node(&mut self, m: usize) -> u32 {
        self.alloc(m, 0, 0)
    }

    fn link(&mut self, m: usize, holder: u32, field: u8, target: u32) {
        let h = Self::index(&self.model.holders(m), holder);
        let t = self.object(m, Some(target));
        self.op(OpKind::Link, m, &[h, field, t]);
    }

    fn unlink(&mut self, m: usize, holder: u32, field: u8) {
        let h = Self::index(&self.model.holders(m), holder);
        self.op(OpKind::Unlink, m, &[h, field]);
    }

    fn push(&mut self, m: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Push, m, &[x]);
    }

    fn pop(&mut self, m: usize, n: u8) {
        self.op(OpKind::Pop, m, &[n - 1]);
    }

    fn set(&mut self, m: usize, slot: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Set, m, &[slot as u8, x]);
    }

    /// Loads pointer field `field` of `holder` into a root slot.
    fn load(&mut self, m: usize, holder: u32, field: u8, slot: Option<usize>) {
        let h = Self::index(&self.model.holders(m), holder);
        let s = self.slot(m, slot);
        self.op(OpKind::Load, m, &[h, field, s]);
    }

    fn add_global(&mut self, m: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Global, m, &[0, 0, x]);
    }

    fn drop_global(&mut self, g: u8) {
        self.op(OpKind::Global, 0, &[1, g, 0]);
    }

    fn set_global(&mut self, m: usize, g: u8, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Global, m, &[2, g, x]);
    }

    fn load_global(&mut self, m: usize, g: u8, slot: Option<usize>) {
        let s = self.slot(m, slot);
        self.op(OpKind::Global, m, &[3, g, s]);
    }

    /// An operation without operands: safepoint, begin,
    /// scan_stack, scan_globals, flush, finish, check.
    fn plain(&mut self, op: OpKind, m: usize) {
        self.op(op, m, &[]);
    }

    fn native_call(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[0]);
    }

    fn toggle_wait(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[2]);
    }

    fn reattach(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[3]);
    }

    /// Marks `n` grey objects (0: until none is left).
    fn mark(&mut self, n: u8) {
        self.op(OpKind::Mark, 0, &[n.wrapping_sub(1)]);
    }

    fn begin(&mut self) {
        self.plain(OpKind::Begin, 0);
    }

    fn scan_stack(&mut self, m: usize) {
        self.plain(OpKind::ScanStack, m);
    }

    fn finish(&mut self) {
        self.plain(OpKind::Finish, 0);
    }

    fn set_finalizer(&mut self, m: usize, obj: u32, resurrect: Resurrect) -> usize {
        let a = self.object(m, Some(obj));
        let b = match resurrect {
            Resurrect::No => 0,
            Resurrect::NewGlobal => 1,
            Resurrect::Slot => 2,
        };
        match self.op(OpKind::Finalizer, m, &[0, a, b]) {
            Action::SetFinalizer { rec: Some(r), .. } => r,
            a => panic!("{a:?}: the object has a finalizer already"),
        }
    }

    /// A `set_finalizer` that must fail: `obj` has one.
    fn set_finalizer_refused(&mut self, m: usize, obj: u32) {
        let a = self.object(m, Some(obj));
        let action = self.op(OpKind::Finalizer, m, &[0, a, 0]);
        assert!(matches!(action, Action::SetFinalizer { rec: None, .. }));
    }

    fn clear_finalizer(&mut self, m: usize, obj: u32) {
        let a = self.object(m, Some(obj));
        self.op(OpKind::Finalizer, m, &[1, a, 0]);
    }

    /// Adds a cleanup; `None` if `arg` is `obj` (refused).
    fn add_cleanup(&mut self, m: usize, obj: u32, arg: Option<u32>) -> Option<usize> {
        let (a, b) = (self.object(m, Some(obj)), self.object(m, arg));
        match self.op(OpKind::Finalizer, m, &[2, a, b]) {
            Action::AddCleanup { cleanup, .. } => cleanup,
            a => unreachable!("{a:?}"),
        }
    }

    /// Cancels cleanup `cleanup`; `got` is what `cancel` returns.
    fn cancel(&mut self, cleanup: usize, got: bool) {
        let action = self.op(OpKind::Finalizer, 0, &[3, cleanup as u8, 0]);
        self.model.cancelled(&action, got);
    }

    fn weak_ref(&mut self, m: usize, obj: u32) -> usize {
        let a = self.object(m, Some(obj));
        match self.op(OpKind::Weak, m, &[0, a, 0]) {
            Action::WeakRef { weak, .. } => weak,
            a => unreachable!("{a:?}"),
        }
    }

    /// Reads weak reference `weak`, rooting what it yields in a new slot
    /// (or using it under `keep_alive`); `got`: whether it yields.
    fn weak_get(&mut self, m: usize, weak: usize, rooted: bool, got: bool) {
        let b = if rooted { self.slot(m, None) } else { NULL };
        let action = self.op(OpKind::Weak, m, &[1, weak as u8, b]);
        self.model.weak_got(&action, got);
    }

    /// Waits for finalizers (on mutator `on`'s thread, or the scheduler's);
    /// `ran`: what runs, in order.
    fn wait(&mut self, on: Option<usize>, ran: &[Ran]) {
        self.op(OpKind::Weak, on.unwrap_or(0), &[2, on.is_some() as u8, 0]);
        for &r in ran {
            match r {
                Ran::Fin(r) => self.model.finalized(r),
                Ran::Cleanup(c) => self.model.cleaned(c),
            }
        }
        self.model.end_wait();
    }

    fn ephemeron_pass(&mut self) {
        self.op(OpKind::Weak, 0, &[3, 0, 0]);
    }

    fn finalizer_stage(&mut self) {
        self.op(OpKind::Weak, 0, &[3, 1, 0]);
    }

    fn eph_insert(&mut self, m: usize, table: u8, key: u32, value: u32) {
        let (a, b) = (self.object(m, Some(key)), self.object(m, Some(value)));
        self.op(OpKind::Ephemeron, m, &[4 * table, a, b]);
    }

    /// `get` (`remove`: `remove`) of `key`, rooting the value in a new slot.
    fn eph_get(&mut self, m: usize, table: u8, key: u32, remove: bool, rooted: bool) {
        let a = self.object(m, Some(key));
        let b = if rooted { self.slot(m, None) } else { NULL };
        self.op(OpKind::Ephemeron, m, &[4 * table + 1 + remove as u8, a, b]);
    }
}

/// A job a seed's `wait` expects to run.
#[derive(Copy, Clone, Debug)]
enum Ran {
    Fin(usize),
    Cleanup(usize),
}

/// SplitMix64, for the seeds of random bytes.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed programs, by name (the corpus holds each as `seed-NAME`).
///
/// The first five are the textbook lost objects; each loses an object
/// unless the barrier (or, for incremental update, the stack rescan at
/// mark termination) saves it:
///
/// - `lost-black-grey-*`: during marking, the only pointer to a white object
///   moves into an already scanned (black) object and is deleted from the
///   grey one. Every mode needs its barrier here.
/// - `lost-black-grey-via-global`: the same, done by another mutator that
///   reaches the objects through a global root.
/// - `lost-hidden-on-scanned-stack`: a pointer is loaded onto a stack that
///   was already scanned, then deleted from the heap. SATB and hybrid need
///   the deletion barrier; incremental update finds it by the rescan.
/// - `lost-hidden-on-scanned-stack-other-mutator`: the same, the load by one
///   mutator and the deletion by another.
/// - `lost-from-unscanned-stack`: the only pointer, on a stack not yet
///   scanned, is stored into a black (newly allocated) object and dropped
///   from the stack. Hybrid and incremental update need the insertion half;
///   SATB scanned every stack when the cycle began.
/// - `hybrid-transfer-between-stacks`: a pointer moves from an unscanned
///   stack through a shared object onto a scanned stack.
///
/// Then finalizers, cleanups, weak references and ephemerons:
///
/// - `weak-get-revives-during-mark-*`: a weak reference read while marking
///   yields the only strong reference, onto a scanned stack;
/// - `ephemeron-keys-die`: a key-in-value cycle across the two tables keeps
///   neither; weak references to both are cleared, the entries go;
/// - `finalizer-resurrects-*`: a finalizer resurrects its object into a new
///   global; the old weak reference stays cleared, its ephemeron entry is
///   gone, its cleanup runs when it really dies;
/// - `finalizer-resurrects-during-mark`: into its global root while a mark
///   runs, after the globals were scanned, then loaded onto a scanned stack;
/// - `finalizer-referent-stored-after-stage-*`: a finalizable object gets a
///   referent after the finalizer stage, then dies in that cycle;
/// - `ephemeron-chain-during-mark-*`: a chain of entries across both tables
///   completed while marking, its last link held by no stack at the end;
/// - `cleanups-*`: with an argument, cancelled, refused, and on an object
///   with a finalizer;
/// - `finalizer-chain-and-cycle`, `finalizer-clear-and-steps`.
///
/// The rest use every operation under every mode, and a few are random
/// bytes.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use BarrierMode::{Hybrid, IncrementalUpdate as Incremental, Satb};
    use OpKind::*;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, b: Builder| out.push((name.to_string(), b.build()));

    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (a, grey, white) = (b.node(0), b.node(0), b.node(0));
        b.link(0, a, 0, grey);
        b.link(0, grey, 0, white);
        b.pop(0, 2); // only `a` is a root
        b.begin();
        b.scan_stack(0);
        b.mark(1); // `a` black, `grey` grey, `white` white
        b.link(0, a, 1, white);
        b.unlink(0, grey, 0);
        b.finish();
        add(&format!("lost-black-grey-{name}"), b);
    }

    let mut b = Builder::new(Hybrid, 3, 1);
    let (a, grey, white) = (b.node(0), b.node(0), b.node(0));
    b.link(0, a, 0, grey);
    b.link(0, grey, 0, white);
    b.set_global(0, 0, Some(a));
    b.pop(0, 3);
    b.begin();
    b.scan_globals_then_mark_one();
    b.link(1, a, 1, white);
    b.unlink(1, grey, 0);
    b.scan_stack(2);
    b.finish();
    add("lost-black-grey-via-global", b);

    let mut b = Builder::new(Satb, 2, 0);
    let (holder, x) = (b.node(0), b.node(0));
    b.link(0, holder, 0, x);
    b.pop(0, 1);
    b.begin();
    b.scan_stack(0);
    b.load(0, holder, 0, None); // onto the scanned stack
    b.unlink(0, holder, 0);
    b.mark(0);
    b.finish();
    add("lost-hidden-on-scanned-stack", b);

    let mut b = Builder::new(Hybrid, 2, 1);
    let (holder, x) = (b.node(0), b.node(0));
    b.link(0, holder, 0, x);
    b.set_global(0, 0, Some(holder));
    b.pop(0, 2);
    b.begin();
    b.scan_stack(1);
    b.load(1, holder, 0, None);
    b.unlink(0, holder, 0);
    b.plain(ScanGlobals, 0);
    b.mark(0);
    b.scan_stack(0);
    b.finish();
    add("lost-hidden-on-scanned-stack-other-mutator", b);

    let mut b = Builder::new(Incremental, 2, 0);
    let x = b.node(0);
    b.begin();
    let black = b.node(0);
    b.link(0, black, 0, x);
    b.set(0, 0, None); // the stack no longer holds `x`
    b.scan_stack(0);
    b.mark(0);
    b.finish();
    add("lost-from-unscanned-stack", b);

    let mut b = Builder::new(Hybrid, 2, 1);
    let shared = b.node(0);
    b.set_global(0, 0, Some(shared));
    b.pop(0, 1);
    let x = b.node(1);
    b.begin();
    b.scan_stack(0);
    b.mark(0);
    b.link(1, shared, 0, x); // from the unscanned stack of mutator 1
    b.pop(1, 1);
    b.load(0, shared, 0, None); // onto the scanned stack of mutator 0
    b.unlink(0, shared, 0);
    b.scan_stack(1);
    b.mark(0);
    b.finish();
    add("hybrid-transfer-between-stacks", b);

    // Every kind of object, large ones included, array elements as edges,
    // marking in small steps and a check in the middle of a cycle.
    let mut b = Builder::new(Satb, 2, 0);
    let arr = b.alloc(0, 5, 7); // 8 elements
    let big = b.alloc(0, 6, NULL); // a large array
    let s = b.alloc(0, 7, 3); // 16 bytes
    let blob = b.alloc(0, 7, NULL); // a large byte array
    b.link(0, arr, 0, big);
    b.link(0, arr, 7, s);
    b.link(0, big, 200, blob);
    b.link(0, big, 17, arr); // a cycle
    b.pop(0, 3);
    b.begin();
    b.scan_stack(0);
    b.mark(1);
    let n = b.node(0);
    b.link(0, big, 99, n);
    b.plain(Check, 1);
    b.mark(2);
    b.unlink(0, arr, 7);
    b.mark(0);
    b.finish();
    b.unlink(0, big, 17);
    b.begin();
    b.scan_stack(0);
    b.scan_stack(1);
    b.finish();
    add("alloc-every-kind", b);

    // Global roots: added, set, loaded and dropped, in and out of cycles.
    let mut b = Builder::new(Incremental, 3, 2);
    let (g0, g1) = (b.node(0), b.alloc(0, 5, 3));
    b.set_global(0, 0, Some(g0));
    b.set_global(0, 1, Some(g1));
    b.pop(0, 2);
    b.begin();
    b.load_global(1, 0, None);
    let fresh = b.node(1);
    b.link(1, g0, 0, fresh);
    b.add_global(1, Some(fresh));
    b.set_global(2, 0, None);
    b.plain(ScanGlobals, 0);
    b.load_global(2, 1, None);
    b.drop_global(1);
    b.mark(0);
    b.scan_stack(1);
    b.scan_stack(2);
    b.finish();
    b.add_global(1, None);
    b.begin();
    b.set_global(2, 2, Some(g1));
    b.drop_global(0);
    b.finish();
    add("globals", b);

    // Native calls, safepoints, and a mutator that waits running: the
    // stop-the-world parks it at its safepoint and it runs its handshakes
    // itself.
    let mut b = Builder::new(Hybrid, 3, 0);
    let a = b.node(1);
    b.toggle_wait(1);
    b.native_call(0);
    b.plain(Safepoint, 1);
    b.begin();
    let c = b.node(1);
    b.link(1, a, 0, c);
    b.plain(Flush, 0);
    b.scan_stack(1);
    b.native_call(1);
    b.plain(Safepoint, 2);
    b.mark(0);
    b.toggle_wait(2);
    b.scan_stack(2);
    b.scan_stack(0);
    b.finish();
    b.toggle_wait(1);
    b.begin();
    b.finish();
    b.toggle_wait(2);
    add("native-and-waiting-running", b);

    // A mutator detaches in the middle of a mark and a fresh one attaches
    // on the same thread (empty, hence scanned, stack; allocating black).
    let mut b = Builder::new(Satb, 2, 1);
    let (a, x) = (b.node(1), b.node(1));
    b.link(1, a, 0, x);
    b.set_global(1, 0, Some(a));
    b.begin();
    b.unlink(1, a, 0);
    b.reattach(1);
    b.push(1, Some(a));
    b.push(1, None);
    let y = b.node(1);
    b.link(1, a, 1, y);
    b.scan_stack(1);
    b.scan_stack(0);
    b.mark(0);
    b.finish();
    b.reattach(0);
    add("reattach-during-mark", b);

    // Stores recorded by the barrier reach the mark through flushes.
    let mut b = Builder::new(Incremental, 2, 0);
    let (root, spare) = (b.alloc(0, 5, 15), b.alloc(0, 5, 7)); // 16 and 8 elements
    let mut nodes = Vec::new();
    for i in 0..6 {
        let n = b.node(0);
        b.link(0, spare, i, n);
        b.pop(0, 1);
        nodes.push(n);
    }
    b.begin();
    b.scan_stack(0);
    for (i, &n) in nodes.iter().enumerate() {
        b.link(0, root, i as u8, n);
        b.unlink(0, spare, i as u8);
    }
    b.plain(Flush, 0);
    b.mark(3);
    for i in 0..3 {
        b.unlink(0, root, i);
    }
    b.plain(Flush, 1);
    b.mark(0);
    b.finish();
    add("flush-rounds", b);

    // A list grown and cut across several cycles.
    let mut b = Builder::new(Hybrid, 2, 0);
    let head = b.node(0);
    let mut tail = head;
    for round in 0..4u8 {
        b.begin();
        if round % 2 == 0 {
            b.scan_stack(0);
            b.scan_stack(1);
        }
        for _ in 0..3 {
            let n = b.node(0);
            b.link(0, tail, 1, n);
            b.pop(0, 1);
            tail = n;
        }
        b.mark(2);
        if round == 2 {
            b.load(0, head, 1, None);
        }
        b.scan_stack(0);
        b.scan_stack(1);
        b.finish();
    }
    b.unlink(0, head, 1);
    b.begin();
    b.scan_stack(0);
    b.finish();
    add("list-across-cycles", b);

    // Four mutators share a table through a global and swap its entries.
    let mut b = Builder::new(Satb, 4, 1);
    let table = b.alloc(0, 5, 3); // 4 elements
    b.set_global(0, 0, Some(table));
    b.pop(0, 1);
    for m in 0..4 {
        let n = b.node(m);
        b.link(m, table, m as u8, n);
    }
    b.begin();
    for m in 0..4 {
        b.load(m, table, (m as u8 + 1) % 4, None);
        b.unlink(m, table, (m as u8 + 1) % 4);
        b.scan_stack(m);
    }
    b.mark(0);
    b.finish();
    add("four-mutators", b);

    // A weak reference read while marking yields the only strong reference
    // to its object, onto a stack already scanned: in hybrid mode only the
    // shading `get` does keeps the object (SATB scanned the stack that held
    // it at the snapshot; incremental update rescans stacks).
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let x = b.node(1);
        let w = b.weak_ref(1, x);
        b.begin();
        b.scan_stack(0);
        b.pop(1, 1); // `x` leaves the unscanned stack (no barrier on stacks)
        b.weak_get(0, w, true, true);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        b.plain(Check, 1);
        add(&format!("weak-get-revives-during-mark-{name}"), b);
    }

    // Ephemerons whose keys die: a key-in-value cycle across the two tables
    // keeps neither; weak references to both are cleared, the entries go.
    let mut b = Builder::new(Hybrid, 2, 1);
    let holder = b.node(0);
    b.set_global(0, 0, Some(holder));
    let (k, v) = (b.node(0), b.node(0));
    b.link(0, holder, 0, k);
    b.eph_insert(0, 0, k, v);
    b.eph_insert(0, 1, v, k);
    let (wk, wv) = (b.weak_ref(0, k), b.weak_ref(0, v));
    b.pop(0, 3);
    b.begin();
    b.scan_stack(0);
    b.scan_stack(1);
    b.plain(ScanGlobals, 0);
    b.mark(0);
    b.ephemeron_pass();
    b.mark(0);
    b.finish();
    b.weak_get(1, wv, false, true); // kept by `k`'s entry; used under keep_alive
    b.eph_get(1, 0, k, false, true);
    b.unlink(0, holder, 0); // `k` stays reachable through the entry of `v`, on m1's stack
    b.pop(1, 1); // now only the two entries hold them: garbage
    b.begin();
    b.finish();
    b.weak_get(0, wk, true, false);
    b.weak_get(0, wv, false, false);
    b.wait(None, &[]);
    b.plain(Check, 1);
    add("ephemeron-keys-die", b);

    // A finalizer resurrects its object; the weak reference made before
    // stays cleared, the ephemeron entry keyed by it is gone, a cleanup
    // waits until the object really dies.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (f, c) = (b.node(0), b.node(0));
        b.link(0, f, 0, c);
        b.pop(0, 1); // `c` only through `f`
        let r = b.set_finalizer(0, f, Resurrect::NewGlobal);
        let cl = b.add_cleanup(0, f, None).expect("a cleanup");
        let w_old = b.weak_ref(0, f);
        b.eph_insert(0, 0, f, c);
        b.pop(0, 1); // `f` is garbage; `c` is kept for its finalizer
        b.begin();
        b.scan_stack(0);
        b.scan_stack(1);
        b.finalizer_stage();
        b.mark(0);
        b.finish();
        b.weak_get(1, w_old, true, false);
        b.wait(None, &[Ran::Fin(r)]);
        let g = b.model.globals.len() as u8 - 1;
        b.load_global(0, g, None); // `f` is back, with `c`
        b.plain(Check, 1);
        b.weak_get(0, w_old, false, false); // cleared for good
        let w_new = b.weak_ref(0, f);
        b.eph_get(0, 0, f, false, true); // the entry went with the first death
        b.weak_get(1, w_new, true, true);
        b.pop(0, 2);
        b.pop(1, 1);
        b.drop_global(g);
        b.begin();
        b.finish();
        b.wait(Some(1), &[Ran::Cleanup(cl)]);
        b.cancel(cl, false);
        add(&format!("finalizer-resurrects-{name}"), b);
    }

    // A finalizer resurrects its object into its global root while a mark
    // runs, after the globals were scanned; the object is then loaded onto
    // a scanned stack. The job was popped (and its object shaded) when the
    // sweep queued it; the global store's barrier shades it again.
    let mut b = Builder::new(Hybrid, 2, 0);
    let (f, arr) = (b.node(0), b.alloc(0, 5, 3));
    b.link(0, f, 1, arr);
    b.pop(0, 1);
    let r = b.set_finalizer(0, f, Resurrect::Slot);
    b.pop(0, 1);
    b.begin();
    b.finish();
    b.begin(); // its sweep queues the finalizer
    b.scan_stack(0);
    b.plain(ScanGlobals, 0);
    b.wait(Some(1), &[Ran::Fin(r)]);
    b.load_global(0, 0, None);
    b.mark(0);
    b.scan_stack(1);
    b.finish();
    b.plain(Check, 1);
    add("finalizer-resurrects-during-mark", b);

    // A finalizer whose object gets a referent after the finalizer stage,
    // stored from an unscanned stack: the barrier must keep the referent
    // for the finalizer (which reads it). SATB keeps both as floating
    // garbage, and finalizes in the next cycle.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 0);
        let (f, x) = (b.node(1), b.node(1));
        let r = b.set_finalizer(1, f, Resurrect::No);
        b.begin();
        b.scan_stack(0);
        b.finalizer_stage();
        b.link(1, f, 0, x);
        b.pop(1, 2);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        if mode == Satb {
            b.wait(None, &[]);
            b.begin();
            b.finish();
        }
        b.wait(None, &[Ran::Fin(r)]);
        add(&format!("finalizer-referent-stored-after-stage-{name}"), b);
    }

    // An ephemeron chain k1 -> k2 -> k3 -> v across both tables, completed
    // while marking by an entry whose value is held only by a stack that
    // drops it before its scan: the passes at mark termination keep it.
    for (mode, name) in [
        (Satb, "satb"),
        (Incremental, "incremental"),
        (Hybrid, "hybrid"),
    ] {
        let mut b = Builder::new(mode, 2, 1);
        let k1 = b.node(0);
        b.set_global(0, 0, Some(k1));
        let k2 = b.node(0);
        b.eph_insert(0, 0, k1, k2);
        b.pop(0, 2);
        let (k3, v) = (b.node(1), b.alloc(1, 7, 2));
        b.eph_insert(1, 1, k3, v);
        b.pop(1, 1);
        b.begin();
        b.plain(ScanGlobals, 0);
        b.mark(0);
        b.ephemeron_pass();
        b.mark(0);
        b.scan_stack(0);
        b.eph_get(1, 0, k1, false, true); // `k2` onto m1's stack
        b.eph_insert(1, 0, k2, k3);
        b.pop(1, 2);
        b.scan_stack(1);
        b.mark(0);
        b.ephemeron_pass();
        b.mark(0);
        b.finish();
        b.plain(Check, 1);
        b.set_global(0, 0, None); // the chain dies with its head
        b.begin();
        b.finish();
        b.plain(Check, 0);
        add(&format!("ephemeron-chain-during-mark-{name}"), b);
    }

    // Cleanups: one with an argument kept only by the cleanup, one
    // cancelled, one refused (its argument is its object), one on an object
    // with a finalizer (it runs when the object really dies).
    for (mode, name) in [(Satb, "satb"), (Hybrid, "hybrid")] {
        let mut b = Builder::new(mode, 2, 0);
        let (o, arg, o2) = (b.node(0), b.alloc(0, 7, 1), b.node(0));
        let c1 = b.add_cleanup(0, o, Some(arg)).expect("a cleanup");
        let c2 = b.add_cleanup(0, o, None).expect("a cleanup");
        assert_eq!(b.add_cleanup(0, o, Some(o)), None);
        b.cancel(c2, true);
        let r = b.set_finalizer(0, o2, Resurrect::No);
        let c3 = b.add_cleanup(0, o2, Some(arg)).expect("a cleanup");
        b.pop(0, 3);
        b.begin();
        b.scan_stack(0);
        b.scan_stack(1);
        b.mark(0);
        b.finish();
        b.wait(Some(0), &[Ran::Cleanup(c1), Ran::Fin(r)]);
        b.cancel(c1, false); // too late: it ran
        b.begin();
        b.finish();
        b.wait(None, &[Ran::Cleanup(c3)]);
        b.cancel(c3, false);
        b.begin();
        b.finish();
        add(&format!("cleanups-{name}"), b);
    }

    // Finalizers in a chain run one cycle apart; finalizers in a cycle
    // never run (they keep each other).
    let mut b = Builder::new(Satb, 2, 0);
    let (f1, f2, f3, f4) = (b.node(0), b.node(0), b.node(0), b.node(0));
    b.link(0, f1, 0, f2);
    b.link(0, f3, 0, f4);
    b.link(0, f4, 1, f3);
    let recs: Vec<usize> = [f1, f2, f3, f4]
        .into_iter()
        .map(|f| b.set_finalizer(0, f, Resurrect::No))
        .collect();
    b.pop(0, 4);
    b.begin();
    b.finish();
    b.wait(None, &[Ran::Fin(recs[0])]);
    b.begin();
    b.scan_stack(0);
    b.finalizer_stage();
    b.finish();
    b.wait(None, &[Ran::Fin(recs[1])]);
    b.begin();
    b.finish();
    b.wait(None, &[]);
    add("finalizer-chain-and-cycle", b);

    // Set, clear, set again; a finalizable key; the object is dropped
    // while marking (the global's barrier keeps it as floating garbage),
    // then finalized with the collector steps run by hand, and resurrected.
    let mut b = Builder::new(Incremental, 3, 1);
    let (a, x) = (b.node(0), b.node(0));
    b.link(0, a, 0, x);
    b.set_global(0, 0, Some(a));
    b.set_finalizer(0, a, Resurrect::Slot);
    b.clear_finalizer(0, a);
    b.clear_finalizer(0, a);
    let r = b.set_finalizer(0, a, Resurrect::NewGlobal);
    b.set_finalizer_refused(0, a);
    b.eph_insert(0, 1, a, x);
    b.pop(0, 2);
    b.begin();
    b.scan_stack(0);
    b.finalizer_stage();
    b.ephemeron_pass();
    b.set_global(1, 0, None);
    b.mark(0);
    b.plain(ScanGlobals, 0);
    b.plain(Flush, 0);
    b.finish();
    b.wait(None, &[]);
    b.begin();
    b.ephemeron_pass();
    b.finalizer_stage();
    b.finish();
    b.wait(Some(2), &[Ran::Fin(r)]);
    b.load_global(1, 1, None);
    b.eph_get(1, 1, a, false, true);
    b.plain(Check, 2);
    add("finalizer-clear-and-steps", b);

    let mut out2 = out;
    for (i, len) in [120usize, 300, 600, 900, 1400, 2000]
        .into_iter()
        .enumerate()
    {
        let mut state = 0x5EED_0000 + i as u64;
        let bytes: Vec<u8> = (0..len).map(|_| splitmix(&mut state) as u8).collect();
        out2.push((format!("random-{i}"), bytes));
    }
    out2
}

impl Builder {
    /// Scans the globals and marks one object (the first global's object,
    /// when the stacks hold nothing).
    fn scan_globals_then_mark_one(&mut self) {
        self.plain(OpKind::ScanGlobals, 0);
        self.mark(1);
    }
}
