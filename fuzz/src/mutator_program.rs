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
//! # The model, and the safety contract
//!
//! The scheduler keeps a model of the heap: every object's kind and pointer
//! fields, each mutator's shadow stack, and the global roots. The raw API
//! lets a mutator touch only live objects it can reach, so every operand
//! that names an object picks it from the objects the mutator can reach at
//! that moment: the closure, through the model's edges, of its own roots and
//! the global roots (never another mutator's stack: a thread cannot see
//! another's locals). Picking `o` from that set stands for loading the path
//! to `o` into registers with no safepoint in between, which is what
//! compiled code does. An operation that does not apply (no such object, no
//! cycle open, a bound reached) is skipped.
//!
//! # What is checked
//!
//! - every cycle ends with checkmark and the verifier, which panic if an
//!   object reachable from the roots was left unmarked or a marked object
//!   points to an unmarked one (the lost objects of a missing barrier);
//! - the marker panics if it reaches a freed, poisoned object;
//! - after every cycle, at every `check` operation and at the end, every
//!   object reachable in the model still has its type and length in its
//!   header, its canary words, and exactly the pointer fields the model
//!   says, read through the mutator API (a freed and reused or poisoned
//!   object fails here);
//! - every `load` returns the value the model predicts;
//! - at the end, any open cycle is finished and one more full cycle runs
//!   with no mutator running; it must mark exactly the objects the model
//!   can reach (none left behind, no garbage retained across two cycles).
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
//!
//! | `b % 32` | operation | operands |
//! |---|---|---|
//! | 0–3, 30 | `alloc`: allocate, write the canary, and root the object in a slot of `m` | kind, length, slot |
//! | 4–7, 29 | `link`: store a pointer to a reachable object into a field | holder, field, target |
//! | 8–9 | `unlink`: store null into a field | holder, field |
//! | 10 | `push` a root slot holding a reachable object (`0xff`: null) | object |
//! | 11 | `pop` 1–4 root slots | count |
//! | 12 | `set` a root slot to a reachable object (`0xff`: null) | slot, object |
//! | 13–15, 31 | `load` a pointer field into a root slot | holder, field, slot |
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
//!
//! Operand details:
//!
//! - *kind*: `kind % 8` is 0–4 a `Node` (3 words: pointer fields 0 and 1,
//!   canary in word 2), 5–6 an `Array` of pointers, 7 `Bytes`; *length*: for
//!   arrays `1 + length % 16` elements, for bytes `1 + 5 * length` bytes; a
//!   length of `0xff` makes a large object (4100 elements, 40 000 bytes);
//! - *holder*, *target*, *object* and *x* index the objects `m` can reach,
//!   sorted by allocation order (holders: only those with pointer fields),
//!   modulo their number; *field* is taken modulo the holder's fields;
//! - *slot*: with `k` root slots, `slot % (k + 1) == k` pushes a new slot
//!   (unless `m` has [`MAX_ROOTS`]), otherwise slot `slot % k` is overwritten;
//!   for `set`, slot `slot % k`.
//!
//! The cycle operations are skipped unless a cycle is open (`begin` unless
//! none is). Work is bounded: [`MAX_OBJECTS`] allocations, [`MAX_LARGE`]
//! large objects and [`MAX_ALLOC_BYTES`] per program.
//!
//! # Seeds, and running it
//!
//! [`seeds`] builds the seed programs (each textbook lost-object
//! interleaving, and programs that use every operation under every mode);
//! they are the files `fuzz/corpus/mutator_program/seed-*`. After changing
//! the input format or the seeds, rewrite them with
//!
//! ```sh
//! cargo test -p tricolor-collector --test mutator_program_corpus -- --ignored write_seed_corpus
//! ```
//!
//! (a test checks that the files match [`seeds`]). Fuzz with
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run mutator_program`; set
//! `MUTATOR_PROGRAM_MODE=satb` (or `incremental`, `hybrid`) to run every
//! input under one mode, and `MUTATOR_PROGRAM_TRACE=1` to print each
//! operation as it runs. One file, under every mode, with its trace:
//!
//! ```sh
//! MUTATOR_PROGRAM_INPUT=path/to/file MUTATOR_PROGRAM_TRACE=1 \
//!   cargo test -p tricolor-collector --test mutator_program_corpus replay_one -- --nocapture
//! ```

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tricolor_collector::{
    BarrierMode, Config, CycleStepper, GlobalRoot, Heap, Mutator, ObjRef, TypeDescriptor, TypeId,
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
/// Most global roots at once.
pub const MAX_GLOBALS: usize = 8;
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
        Link,
        Alloc,
        Load,
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

    /// Every object reachable from any root.
    fn reachable(&self) -> Vec<u32> {
        let stacks = self.roots.iter().flatten();
        self.closure(stacks.chain(self.globals.iter()).flatten().copied())
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
                self.cycle_open = true;
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
                self.cycle_open = false;
                Action::Finish
            }),
            OpKind::Check => Some(Action::Check { m }),
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
}

/// What the model says one reachable object holds.
struct Expect {
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
    Check(Vec<Expect>),
}

/// A mutator thread's answer.
enum Reply {
    Done,
    /// The mutator's id (on attaching).
    Id(u64),
    Allocated(ObjRef),
    Global(GlobalRoot),
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
fn mutator_thread(heap: Heap, types: Types, rx: Receiver<Req>, tx: Sender<Reply>) {
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
            req => match catch_unwind(AssertUnwindSafe(|| serve(&heap, &mut m, types, req))) {
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
/// (`Model::accessible`), or, for `Check`, from some root; the collector
/// keeps such objects alive, so the raw API's contract holds. The model is
/// what is under test: if the collector freed one of them, checkmark fails
/// first, or the checks below read poison.
fn serve(heap: &Heap, m: &mut Mutator, types: Types, req: Req) -> Reply {
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
        Req::WaitRunning(_) | Req::Reattach => unreachable!("handled by the thread loop"),
    }
}

/// Checks one reachable object's header, canaries and pointer fields.
fn check_object(m: &Mutator, types: Types, e: &Expect) {
    let Expect {
        id,
        obj,
        kind,
        ref fields,
    } = *e;
    // SAFETY: the model holds `obj` reachable from a root (see `serve`).
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
    for (f, &want) in fields.iter().enumerate() {
        // SAFETY: as above; `f` is a pointer field of `kind`.
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
    model: Model,
    /// Whether each mutator's stack has been scanned in the open cycle.
    scanned: Vec<bool>,
    mutators: Vec<Remote>,
    /// Object id → address.
    refs: Vec<ObjRef>,
    globals: Vec<Arc<GlobalRoot>>,
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
        let mutators = (0..mutators)
            .map(|i| {
                let (req_tx, req_rx) = channel();
                let (reply_tx, reply_rx) = channel();
                let h = heap.clone();
                let thread = std::thread::Builder::new()
                    .name(format!("mutator-{i}"))
                    .spawn(move || mutator_thread(h, types, req_rx, reply_tx))
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
            model: Model::new(mutators.len(), globals),
            scanned: vec![false; mutators.len()],
            globals: (0..globals)
                .map(|_| Arc::new(heap.add_global(None)))
                .collect(),
            mutators,
            refs: Vec::new(),
            trace,
            step: 0,
        }
    }

    /// Closes every channel and joins the threads; reports a thread that
    /// ended in a panic outside a request.
    fn stop(&mut self) -> Result<(), String> {
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
            self.finish(c);
        }
        // One more full cycle with no mutator running: it must mark
        // exactly what the model reaches.
        let mut c = heap.begin_cycle();
        c.scan_stacks();
        let stats = c.finish();
        let reachable = self.model.reachable().len() as u64;
        assert_eq!(
            stats.objects_marked, reachable,
            "end: the last cycle marked {} objects, the model reaches {reachable}",
            stats.objects_marked
        );
        self.check(0);
    }

    fn execute<'h>(
        &mut self,
        heap: &'h Heap,
        cycle: &mut Option<CycleStepper<'h>>,
        action: Action,
    ) {
        match action {
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
        }
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

    /// Checks every object the model reaches, read on mutator `m`'s thread.
    fn check(&mut self, m: usize) {
        let expects = self
            .model
            .reachable()
            .into_iter()
            .map(|id| {
                let o = &self.model.objects[id as usize];
                Expect {
                    id,
                    obj: self.obj(id),
                    kind: o.kind,
                    fields: o.fields.iter().map(|&f| self.opt(f)).collect(),
                }
            })
            .collect();
        self.call(m, Req::Check(expects));
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
