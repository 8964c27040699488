//! Holds the three loom models to the code they mirror.
//!
//! The models (`loom_safepoint.rs`, `loom_termination.rs`,
//! `loom_assist_park.rs`, run with `--cfg loom`) re-implement protocols of
//! the collector by hand on loom's atomics and locks, so they can drift
//! from the code. This test, an ordinary one, reads the real source and the
//! models as text and checks, for every step a model mirrors ([`MIRRORS`]):
//!
//! - that the real functions the entry names exist, once, where it says;
//! - that the synchronising operations of the real functions, in order,
//!   are the entry's `ops` (an atomic operation with its orderings, a
//!   fence, a lock taken, a condvar wait or notify, a mutator's state lock
//!   given up, and calls of the protocol's own functions, [`WATCHED`]);
//! - that the model's step performs the same operations, except those the
//!   entry marks `[real]` (reduced away by the model) or `[model]` (the
//!   model's own), and except the model's deliberately broken variants
//!   (`if ….flaw == Flaw::X && … { … }` blocks are skipped, their `else`
//!   kept);
//!
//! and, per model, that its module docs cite every real function of its
//! entries ([`CITED`] adds those cited without a sequence), that the
//! model's structs have the fields of the real ones they stand for
//! ([`FIELDS`]), and that its constants have the real values ([`CONSTS`]).
//!
//! An operation reads `field.op(args, orderings)`: the field is the last
//! field of the receiver (`_` for a local or an expression), an argument
//! is kept if it is a constant (`HS_DONE`, `!POLL_STOP`) and written `_`
//! otherwise; `lock_arc` counts as `lock`, `wait_for` as `wait`,
//! `ArcMutexGuard::unlocked` as `data.release()` … `data.lock()` around its
//! closure, and `data = None` (a mutator going native) as `data.release()`.
//! Comments, strings and formatting are ignored.
//!
//! When this test fails, the code and a model disagree: change the model
//! to match the code (and rerun it under loom), then this table and the
//! model's "Model step → real code" table. `LOOM_MIRRORS_DUMP=1 cargo test
//! -p tricolor-collector --test loom_models_match_code -- --nocapture`
//! prints the sequences both sides perform now.

use std::collections::BTreeMap;
use std::path::Path;

/// Where an item is: a file relative to `collector/`, then `: `, then the
/// path to the item, steps separated by ` / `, each step the tokens that
/// open it (`impl MarkState / fn quiescent`, `impl Drop for Mutator / fn
/// drop`, `struct MutatorShared`).
type Site = &'static str;

/// One step of a model and the real code it mirrors.
struct Mirror {
    /// The model's file in `tests/`.
    model: &'static str,
    /// The model's step, an item of that file (same syntax as [`Site`],
    /// without the file).
    step: &'static str,
    /// The real functions; their operations are concatenated.
    real: &'static [Site],
    /// Calls in the real functions whose callee's operations count at the
    /// call site, instead of the call.
    inline: &'static [(&'static str, Site)],
    /// The operations, in order; `[real] ` marks one the model leaves out,
    /// `[model] ` one only the model has.
    ops: &'static [&'static str],
}

const SAFEPOINT: &str = "loom_safepoint.rs";
const TERMINATION: &str = "loom_termination.rs";
const ASSIST_PARK: &str = "loom_assist_park.rs";

/// Every step the models mirror, with the operations both sides perform.
const MIRRORS: &[Mirror] = &[
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn attach",
        real: &[
            "src/mutator/mod.rs: fn attach",
            "src/mutator/mod.rs: fn attach_as",
        ],
        inline: &[],
        ops: &[
            "[real] _.lock()",
            "[model] data.lock()",
            "world.lock()",
            "registry.lock()",
            "[real] next_mutator_id.fetch_add(_, Relaxed)",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn enter_native",
        real: &["src/mutator/mod.rs: fn enter_native"],
        inline: &[],
        ops: &["data.release()"],
    },
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn leave_native",
        real: &["src/mutator/mod.rs: fn leave_native"],
        inline: &[],
        ops: &["data.lock()", "safepoint()"],
    },
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn safepoint",
        real: &[
            "src/mutator/mod.rs: fn safepoint",
            "src/mutator/mod.rs: fn safepoint_slow",
        ],
        inline: &[],
        ops: &[
            "poll.load(Acquire)",
            "[real] safepoint_slow()",
            "at_safepoint()",
            "[real] poll.load(Relaxed)",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn at_safepoint",
        real: &["src/mutator/safepoint.rs: fn at_safepoint"],
        inline: &[],
        ops: &[
            "poll.load(Acquire)",
            "run_handshake()",
            "data.release()",
            "world.lock()",
            "data.lock()",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "fn run_handshake",
        real: &["src/mutator/safepoint.rs: fn run_handshake"],
        inline: &[],
        ops: &[
            "handshake.compare_exchange(HS_POSTED, HS_CLAIMED, AcqRel, Acquire)",
            "handshake_fn.lock()",
            "poll.fetch_and(!POLL_HANDSHAKE, AcqRel)",
            "handshake.store(HS_DONE, Release)",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn detach",
        real: &["src/mutator/mod.rs: impl Drop for Mutator / fn drop"],
        inline: &[],
        ops: &[
            "data.lock()",
            "[real] flush()",
            "[model] world_stopped.load(SeqCst)",
            "detached.store(_, Release)",
            "registry.lock()",
            "drop(guard)",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "fn stop_the_world",
        real: &[
            "src/mutator/safepoint.rs: fn stop_the_world",
            "src/mutator/safepoint.rs: impl Drop for StoppedWorld / fn drop",
        ],
        inline: &[],
        ops: &[
            "world.lock()",
            "registry.lock()",
            "poll.fetch_or(POLL_STOP, AcqRel)",
            "data.lock()",
            "detached.load(Acquire)",
            "poll.fetch_and(!POLL_STOP, AcqRel)",
            "drop(guard)",
            "[model] drop(world)",
        ],
    },
    Mirror {
        model: SAFEPOINT,
        step: "fn handshake",
        real: &[
            "src/mutator/safepoint.rs: fn handshake",
            "src/mutator/safepoint.rs: fn handshake_some",
        ],
        inline: &[],
        ops: &[
            "[real] handshake_lock.lock()",
            "registry.lock()",
            "handshake_fn.lock()",
            "handshake.store(HS_POSTED, Release)",
            "poll.fetch_or(POLL_HANDSHAKE, AcqRel)",
            "handshake.load(Acquire)",
            "detached.load(Acquire)",
            "data.try_lock()",
            "detached.load(Acquire)",
            "run_handshake()",
            "handshake.store(HS_IDLE, Release)",
            "handshake_fn.lock()",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn shade",
        real: &["src/mark/scan.rs: fn shade"],
        inline: &[
            ("grey", "src/mark/scan.rs: fn grey"),
            (
                "mark",
                "../allocator/src/heap.rs: impl<'h> ObjectRef<'h> / fn mark",
            ),
            (
                "test_and_set",
                "../allocator/src/bitmap.rs: impl GcBits / fn test_and_set",
            ),
        ],
        ops: &["_.load(Relaxed)", "_.fetch_or(_, Relaxed)"],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn scan",
        real: &["src/mark/scan.rs: fn scan"],
        inline: &[
            ("referents", "src/mark/scan.rs: fn referents"),
            ("load_field", "src/object.rs: fn load_field"),
        ],
        ops: &["_.load(Acquire)", "[real] grey()", "[model] shade()"],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn add",
        real: &["src/mark/queue.rs: impl MarkState / fn add"],
        inline: &[],
        ops: &[
            "[real] marked_bytes.fetch_add(_, Relaxed)",
            "marked_objects.fetch_add(_, Relaxed)",
            // The per-type counts (`Config::per_type_stats`): a leaf lock
            // taken only to merge counts, which no step of the model reads.
            "[real] types.lock()",
            // The objects carried to the next remembered set (generation
            // §3): a leaf lock too, read only at the next cycle's STW #1.
            "[real] carried.lock()",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn totals",
        real: &["src/mark/queue.rs: impl MarkState / fn totals"],
        inline: &[],
        ops: &[
            "[real] marked_bytes.load(Relaxed)",
            "[real] black_bytes.load(Relaxed)",
            "marked_objects.load(Relaxed)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn work_visible",
        real: &["src/mark/queue.rs: impl MarkState / fn work_visible"],
        inline: &[],
        ops: &[],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn quiescent",
        real: &["src/mark/queue.rs: impl MarkState / fn quiescent"],
        inline: &[],
        ops: &[
            "epoch.load(SeqCst)",
            "[real] roots_pending()",
            "idle_workers.load(SeqCst)",
            "private_drains.load(SeqCst)",
            "work_visible()",
            "fence(SeqCst)",
            "idle_workers.load(SeqCst)",
            "private_drains.load(SeqCst)",
            "epoch.load(SeqCst)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn wake",
        real: &["src/mark/queue.rs: impl MarkState / fn wake"],
        inline: &[],
        ops: &[
            "fence(SeqCst)",
            "sleepers.load(SeqCst)",
            "sleep_lock.lock()",
            "sleep_cv.notify_all()",
            "[real] wake_assists()",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn sleep",
        real: &["src/mark/queue.rs: impl MarkState / fn sleep"],
        inline: &[],
        ops: &[
            "sleep_lock.lock()",
            "sleepers.fetch_add(_, SeqCst)",
            "fence(SeqCst)",
            "until()",
            "sleep_cv.wait()",
            "sleepers.fetch_sub(_, SeqCst)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn wake_all",
        real: &["src/mark/queue.rs: impl MarkState / fn wake_all"],
        inline: &[],
        ops: &[
            "sleep_lock.lock()",
            "sleep_cv.notify_all()",
            "[real] park_lock.lock()",
            "[real] park_cv.notify_all()",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn drain_private",
        real: &[
            "src/mark/drain.rs: fn drain_private",
            "src/mark/drain.rs: fn drain_private_limited",
            "src/mark/drain.rs: impl Drop for PrivateDrain / fn drop",
        ],
        inline: &[(
            "enter",
            "src/mark/drain.rs: impl<'a> PrivateDrain<'a> / fn enter",
        )],
        ops: &[
            "private_drains.fetch_add(_, SeqCst)",
            "epoch.fetch_add(_, SeqCst)",
            "scan()",
            "[real] balance()",
            "add()",
            "wake()",
            "[real] failure.lock()",
            "private_drains.fetch_sub(_, SeqCst)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn flush",
        real: &[
            "src/mutator/barrier.rs: fn flush",
            "src/mark/scan.rs: fn shade_all",
            "src/mark/scan.rs: fn shade_roots",
        ],
        inline: &[],
        ops: &["[real] flush()", "shade()", "add()", "wake()"],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn load",
        real: &["src/mutator/fields.rs: fn load"],
        inline: &[("load_field", "src/object.rs: fn load_field")],
        ops: &["_.load(Acquire)"],
    },
    Mirror {
        model: TERMINATION,
        step: "impl Gc / fn store",
        real: &["src/mutator/fields.rs: fn store"],
        inline: &[
            ("swap_field", "src/object.rs: fn swap_field"),
            ("marking", "src/phase.rs: impl PhaseWord / fn marking"),
        ],
        ops: &[
            "_.load(Relaxed)",
            "_.store(_, Release)",
            // `PhaseWord::marking` (the tuple field `0`); the model's flag.
            "[real] 0.load(Relaxed)",
            "[model] marking.load(Relaxed)",
            "[real] barrier_slow()",
            "[model] flush()",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "fn worker",
        real: &["src/mark/workers.rs: fn work"],
        inline: &[
            ("drain_worker", "src/mark/drain.rs: fn drain_worker"),
            ("publish", "src/mark/workers.rs: fn publish"),
        ],
        ops: &[
            // Whether to sleep (the model ends when marking is off, the
            // real worker when the heap shuts down), then the sleep's
            // condition.
            "[real] shutting_down.load(Acquire)",
            "active.load(Acquire)",
            "work_visible()",
            "[real] roots_pending()",
            "sleep()",
            "[real] shutting_down.load(Acquire)",
            "active.load(Acquire)",
            "work_visible()",
            "[real] roots_pending()",
            // Idle -> busy: the epoch first, before anything is taken.
            "epoch.fetch_add(_, SeqCst)",
            "idle_workers.fetch_sub(_, SeqCst)",
            "[real] workers_stalled_for_testing.load(SeqCst)",
            "[real] shutting_down.load(Acquire)",
            "[real] take_roots_job()",
            // `drain_worker`'s loop, and every `PUBLISH_EVERY` scans its
            // `keep_going`: `publish`, then whether marking is on.
            "scan()",
            "[real] bg_credit.fetch_add(_, Relaxed)",
            "[real] add()",
            "[real] wake_assists()",
            "[real] active.load(Relaxed)",
            // The last `publish`, then busy -> idle.
            "[real] bg_credit.fetch_add(_, Relaxed)",
            "add()",
            "[real] wake_assists()",
            // CPU time, into the idle or the background counter.
            "[real] _.fetch_add(_, Relaxed)",
            "[real] active.load(Relaxed)",
            "idle_workers.fetch_add(_, SeqCst)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "fn safepoint",
        real: &["src/mutator/mod.rs: fn safepoint"],
        inline: &[
            ("safepoint_slow", "src/mutator/mod.rs: fn safepoint_slow"),
            ("at_safepoint", "src/mutator/safepoint.rs: fn at_safepoint"),
        ],
        ops: &[
            "poll.load(Acquire)",
            "poll.load(Acquire)",
            "run_handshake()",
            "data.release()",
            "[real] world.lock()",
            "[real] data.lock()",
            "[real] poll.load(Relaxed)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "fn run_handshake",
        real: &["src/mutator/safepoint.rs: fn run_handshake"],
        inline: &[],
        ops: &[
            "handshake.compare_exchange(HS_POSTED, HS_CLAIMED, AcqRel, Acquire)",
            "[real] handshake_fn.lock()",
            "[model] flush()",
            "poll.fetch_and(!POLL_HANDSHAKE, AcqRel)",
            "handshake.store(HS_DONE, Release)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "fn flush_buffers",
        real: &["src/cycle/mod.rs: fn flush_buffers"],
        inline: &[
            ("handshake", "src/mutator/safepoint.rs: fn handshake"),
            (
                "handshake_some",
                "src/mutator/safepoint.rs: fn handshake_some",
            ),
        ],
        ops: &[
            "[real] handshake_lock.lock()",
            "[real] registry.lock()",
            "[real] handshake_fn.lock()",
            "handshake.store(HS_POSTED, Release)",
            "poll.fetch_or(POLL_HANDSHAKE, AcqRel)",
            "handshake.load(Acquire)",
            "[real] detached.load(Acquire)",
            "data.try_lock()",
            "[real] detached.load(Acquire)",
            "run_handshake()",
            "handshake.store(HS_IDLE, Release)",
            "[real] handshake_fn.lock()",
            "[real] flush()",
            "[real] _.fetch_add(_, Relaxed)",
            "[real] _.load(Relaxed)",
        ],
    },
    Mirror {
        model: TERMINATION,
        step: "fn collector",
        real: &[
            "src/cycle/mod.rs: fn await_mark_end",
            "src/cycle/mod.rs: fn mark_termination",
        ],
        inline: &[
            ("drain_stopped", "src/cycle/mod.rs: fn drain_stopped"),
            (
                "stop_the_world",
                "src/mutator/safepoint.rs: fn stop_the_world",
            ),
            ("transition", "src/phase.rs: impl PhaseWord / fn transition"),
        ],
        ops: &[
            // `await_mark_end`: `help_if_stalled`'s progress mark (the
            // model yields), then until a flush shades nothing new.
            "[real] epoch.load(Relaxed)",
            "quiescent()",
            "[real] workers_stalled_for_testing.load(SeqCst)",
            "totals()",
            "flush_buffers()",
            "totals()",
            "quiescent()",
            // `mark_termination`: stop the world, leave `Mark` (the phase
            // word's swap; the model's `marking` flag).
            "[real] world.lock()",
            "[real] registry.lock()",
            "poll.fetch_or(POLL_STOP, AcqRel)",
            "data.lock()",
            "[real] detached.load(Acquire)",
            "[real] 0.swap(_, AcqRel)",
            "[model] marking.store(_, Release)",
            "[real] globals.lock()",
            "[real] totals()",
            // Flush the buffer, drain until quiescent (again after the
            // weak rules, which the model has none of), marking off.
            "flush()",
            "drain_private()",
            "quiescent()",
            "[real] drain_private()",
            "[real] quiescent()",
            "active.store(_, Release)",
            "[real] wake_assists()",
            "[model] wake_all()",
            "[real] totals()",
            // The restart (the real one is in `finish_mark_termination`).
            "[model] poll.fetch_and(!POLL_STOP, AcqRel)",
            "[model] drop(data)",
        ],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "impl Ms / fn work_visible",
        real: &["src/mark/queue.rs: impl MarkState / fn work_visible"],
        inline: &[],
        ops: &["[model] work.load(SeqCst)"],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "impl Ms / fn park_assist",
        real: &["src/mark/queue.rs: impl MarkState / fn park_assist"],
        inline: &[],
        ops: &[
            "park_lock.lock()",
            "parked_assists.fetch_add(_, SeqCst)",
            "fence(SeqCst)",
            "active.load(SeqCst)",
            "bg_credit.load(SeqCst)",
            "work_visible()",
            "park_cv.wait()",
            "parked_assists.fetch_sub(_, SeqCst)",
        ],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "impl Ms / fn wake_assists",
        real: &["src/mark/queue.rs: impl MarkState / fn wake_assists"],
        inline: &[],
        ops: &[
            "fence(SeqCst)",
            "parked_assists.load(SeqCst)",
            "park_lock.lock()",
            "park_cv.notify_all()",
        ],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "impl Ms / fn wake",
        real: &["src/mark/queue.rs: impl MarkState / fn wake"],
        inline: &[],
        ops: &[
            "[real] fence(SeqCst)",
            "[real] sleepers.load(SeqCst)",
            "[real] sleep_lock.lock()",
            "[real] sleep_cv.notify_all()",
            "wake_assists()",
        ],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "fn park_in_assist",
        real: &["src/mutator/alloc.rs: fn park_in_assist"],
        inline: &[
            ("enter_native", "src/mutator/mod.rs: fn enter_native"),
            ("leave_native", "src/mutator/mod.rs: fn leave_native"),
        ],
        ops: &[
            "[real] park_allowed()",
            "[real] data.release()",
            "park_assist()",
            "[real] assist_wait_ns.fetch_add(_, Relaxed)",
            "[real] assist_parks.fetch_add(_, SeqCst)",
            "[real] data.lock()",
            "[real] safepoint()",
            "[real] assist()",
        ],
    },
    Mirror {
        model: ASSIST_PARK,
        step: "fn publish",
        real: &["src/mark/workers.rs: fn publish"],
        inline: &[],
        ops: &[
            "bg_credit.fetch_add(_, Relaxed)",
            "[real] add()",
            "wake_assists()",
        ],
    },
];

/// Real functions a model's table cites without an operation sequence of
/// their own (what they do is in other entries, or not atomics).
const CITED: &[(&str, Site)] = &[
    (TERMINATION, "src/mark/queue.rs: impl Prefetched / fn take"),
    (TERMINATION, "src/mark/queue.rs: fn steal_into"),
    (TERMINATION, "src/mark/queue.rs: fn offer"),
    (TERMINATION, "src/mutator/assist.rs: fn assist"),
    (TERMINATION, "src/cycle/mod.rs: fn help_if_stalled"),
    (ASSIST_PARK, "src/mutator/assist.rs: fn park_allowed"),
    (ASSIST_PARK, "src/mutator/assist.rs: fn assist"),
    (ASSIST_PARK, "src/cycle/mod.rs: fn mark_termination"),
];

/// A model's struct, the real struct it stands for, and the fields it
/// mirrors (both must have them).
const FIELDS: &[(&str, &str, Site, &[&str])] = &[
    (
        SAFEPOINT,
        "struct Shared",
        "src/mutator/state.rs: struct MutatorShared",
        &["poll", "data", "detached", "handshake", "handshake_fn"],
    ),
    (
        SAFEPOINT,
        "struct Data",
        "src/mutator/state.rs: struct MutatorData",
        &[],
    ),
    (
        SAFEPOINT,
        "struct Heap",
        "src/heap/inner.rs: struct HeapInner",
        &["world", "registry"],
    ),
    (
        TERMINATION,
        "struct MutatorShared",
        "src/mutator/state.rs: struct MutatorShared",
        &["poll", "data", "handshake"],
    ),
    (
        TERMINATION,
        "struct Gc",
        "src/mark/queue.rs: struct MarkState",
        &[
            "injector",
            "idle_workers",
            "epoch",
            "private_drains",
            "active",
            "marked_objects",
            "sleepers",
            "sleep_lock",
            "sleep_cv",
        ],
    ),
    (
        ASSIST_PARK,
        "struct Ms",
        "src/mark/queue.rs: struct MarkState",
        &[
            "active",
            "bg_credit",
            "parked_assists",
            "park_lock",
            "park_cv",
        ],
    ),
];

/// Constants a model copies from a real file (same name, same value).
const CONSTS: &[(&str, &str, &[&str])] = &[
    (SAFEPOINT, "src/mutator/state.rs", HANDSHAKE_CONSTS),
    (TERMINATION, "src/mutator/state.rs", HANDSHAKE_CONSTS),
];

/// The poll bits and handshake states, `mutator::state`'s.
const HANDSHAKE_CONSTS: &[&str] = &[
    "POLL_STOP",
    "POLL_HANDSHAKE",
    "HS_IDLE",
    "HS_POSTED",
    "HS_CLAIMED",
    "HS_DONE",
];

/// Operations a model performs that stand for something the table does
/// not count: the mutexes of `loom_termination.rs`'s queues stand for
/// crossbeam's lock-free ones.
const STAND_INS: &[(&str, &[&str])] = &[(
    TERMINATION,
    &["injector.lock()", "deque.lock()", "drop(deque)"],
)];

/// The protocol's own functions: a call of one is an operation.
const WATCHED: &[&str] = &[
    "add",
    "assist",
    "at_safepoint",
    "balance",
    "barrier_slow",
    "drain_private",
    "drain_worker",
    "enter",
    "flush",
    "flush_buffers",
    "grey",
    "handshake",
    "park_allowed",
    "park_assist",
    "publish",
    "quiescent",
    "roots_pending",
    "run_handshake",
    "safepoint",
    "safepoint_slow",
    "scan",
    "shade",
    "sleep",
    "stop_the_world",
    "take_roots_job",
    "totals",
    "until",
    "wake",
    "wake_all",
    "wake_assists",
    "work_visible",
];

/// Atomic operations (counted when an argument is an `Ordering`).
const ATOMIC: &[&str] = &[
    "load",
    "store",
    "swap",
    "fetch_add",
    "fetch_sub",
    "fetch_or",
    "fetch_and",
    "compare_exchange",
    "compare_exchange_weak",
];

// ---- reading Rust, roughly ------------------------------------------------------

/// The tokens of `src`: identifiers, numbers, lifetimes and punctuation;
/// comments dropped, every string and character literal one token.
fn tokens(src: &str) -> Vec<String> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident = |ch: char| ch.is_ascii_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push("\"\"".to_string());
        } else if ch == 'r' && (at(i + 1) == '"' || (at(i + 1) == '#' && at(i + 2) == '"')) {
            let hashes = if at(i + 1) == '#' { 1 } else { 0 };
            i += 2 + hashes;
            while i < c.len() && !(c[i] == '"' && (hashes == 0 || at(i + 1) == '#')) {
                i += 1;
            }
            i += 1 + hashes;
            out.push("\"\"".to_string());
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push("''".to_string());
            } else if at(i + 2) == '\'' {
                i += 3;
                out.push("''".to_string());
            } else {
                let start = i;
                i += 1;
                while i < c.len() && ident(c[i]) {
                    i += 1;
                }
                out.push(c[start..i].iter().collect());
            }
        } else if ident(ch) {
            let start = i;
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else {
            let two: String = [ch, at(i + 1)].iter().collect();
            let pairs = [
                "::", "==", "!=", "&&", "||", "->", "=>", "<=", ">=", "..", "+=", "-=",
            ];
            if pairs.contains(&two.as_str()) {
                out.push(two);
                i += 2;
            } else {
                out.push(ch.to_string());
                i += 1;
            }
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// A constant's name: upper case, digits and underscores, a letter first.
fn is_const_name(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The index of the bracket closing the one at `open`.
fn closing(t: &[String], open: usize) -> usize {
    let (o, c) = match t[open].as_str() {
        "(" => ("(", ")"),
        "[" => ("[", "]"),
        "{" => ("{", "}"),
        other => panic!("not an opening bracket: {other}"),
    };
    let mut depth = 0;
    for (i, tok) in t.iter().enumerate().skip(open) {
        if tok == o {
            depth += 1;
        } else if tok == c {
            depth -= 1;
            if depth == 0 {
                return i;
            }
        }
    }
    panic!("unbalanced {o} at token {open}");
}

/// The first `{` at bracket depth 0 from `from` on (the block of an item or
/// an `if`), or `None` if a `;` comes first.
fn block_open(t: &[String], from: usize, to: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, tok) in t.iter().enumerate().take(to).skip(from) {
        match tok.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth -= 1,
            "{" if depth == 0 => return Some(i),
            ";" if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// The token range of the body of the item `path` (` / `-separated steps)
/// in `t`: each step must open exactly one item inside the previous one.
fn locate(t: &[String], path: &str) -> Result<(usize, usize), String> {
    let (mut lo, mut hi) = (0, t.len());
    for step in path.split(" / ") {
        let pat = tokens(step);
        let found: Vec<usize> = (lo..hi.saturating_sub(pat.len()))
            .filter(|&p| t[p..p + pat.len()] == pat[..])
            .collect();
        let p = match found[..] {
            [p] => p,
            [] => return Err(format!("no `{step}`")),
            _ => return Err(format!("`{step}` {} times", found.len())),
        };
        let open = block_open(t, p + pat.len(), hi).ok_or(format!("`{step}` has no body"))?;
        (lo, hi) = (open + 1, closing(t, open));
    }
    Ok((lo, hi))
}

/// The arguments of the call whose `(` is at `open`, split at top-level
/// commas.
fn args(t: &[String], open: usize, close: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, open + 1);
    for i in open + 1..close {
        match t[i].as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "," if depth == 0 => {
                out.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < close {
        out.push(&t[start..close]);
    }
    out
}

/// The memory orderings, as an argument names them (`Ordering::SeqCst`, or
/// `SeqCst` where it is imported).
const ORDERINGS: &[&str] = &["Relaxed", "Release", "Acquire", "AcqRel", "SeqCst"];

/// The ordering `a` names, if it is one.
fn ordering(a: &[String]) -> Option<&str> {
    match a.last() {
        Some(o) if ORDERINGS.contains(&o.as_str()) && (a.len() == 1 || a[a.len() - 2] == "::") => {
            Some(o)
        }
        _ => None,
    }
}

/// An argument as an operation shows it: an ordering by its name, a
/// constant as written, anything else `_`.
fn show_arg(a: &[String]) -> String {
    if let Some(o) = ordering(a) {
        return o.to_string();
    }
    match a {
        [x] if is_const_name(x) => x.clone(),
        [not, x] if not == "!" && is_const_name(x) => format!("!{x}"),
        _ => "_".to_string(),
    }
}

/// Whether an `if` condition holds only in a deliberately broken variant of
/// a model: one of its `&&`-conjuncts is `path.flaw == Flaw::X`.
fn flawed_only(cond: &[String]) -> bool {
    let mut conjuncts = vec![Vec::new()];
    let mut depth = 0;
    for tok in cond {
        match tok.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "&&" if depth == 0 => {
                conjuncts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        conjuncts.last_mut().unwrap().push(tok.as_str());
    }
    conjuncts.iter().any(|c| {
        let n = c.len();
        n >= 5
            && c[n - 5..n - 1] == ["flaw", "==", "Flaw", "::"]
            && c[..n - 5].iter().all(|x| *x == "." || is_ident(x))
    })
}

/// Functions whose operations count at their call sites, by name: their
/// tokens and body.
type Inlined = BTreeMap<&'static str, (Vec<String>, (usize, usize))>;

/// Appends the operations of `t[lo..hi]` to `out` (module docs).
fn ops(t: &[String], lo: usize, hi: usize, inline: &Inlined, out: &mut Vec<String>) {
    let at = |i: usize| t.get(i).map_or("", String::as_str);
    let mut i = lo;
    while i < hi {
        let s = t[i].as_str();
        // The two tokens before this one.
        let (p1, p2) = (
            i.checked_sub(1).map_or("", at),
            i.checked_sub(2).map_or("", at),
        );
        if s == "if" {
            if let Some(open) = block_open(t, i + 1, hi) {
                if flawed_only(&t[i + 1..open]) {
                    i = closing(t, open) + 1;
                    if at(i) == "else" {
                        i += 1;
                    }
                    continue;
                }
            }
        }
        if s == "fence" && at(i + 1) == "(" {
            let close = closing(t, i + 1);
            let a: Vec<String> = args(t, i + 1, close).into_iter().map(show_arg).collect();
            out.push(format!("fence({})", a.join(", ")));
            i = close + 1;
            continue;
        }
        if s == "." && is_ident(at(i + 1)) && at(i + 2) == "(" {
            let (m, open) = (at(i + 1), i + 2);
            let close = closing(t, open);
            // A field (`x.field.op(..)`, `self.0.op(..)`) by its name.
            let field = is_ident(p1) || p1.starts_with(|c: char| c.is_ascii_digit());
            let recv = if field && p2 == "." { p1 } else { "_" };
            let a = args(t, open, close);
            let op = match m {
                _ if ATOMIC.contains(&m) && a.iter().any(|x| ordering(x).is_some()) => {
                    ops(t, open + 1, close, inline, out);
                    let shown: Vec<String> = a.into_iter().map(show_arg).collect();
                    Some(format!("{recv}.{m}({})", shown.join(", ")))
                }
                "lock" | "lock_arc" if a.is_empty() => Some(format!("{recv}.lock()")),
                "try_lock" | "try_lock_arc" if a.is_empty() => Some(format!("{recv}.try_lock()")),
                "wait" | "wait_for" | "wait_timeout" => Some(format!("{recv}.wait()")),
                "notify_all" | "notify_one" => Some(format!("{recv}.{m}()")),
                _ => None,
            };
            if let Some(op) = op {
                out.push(op);
                i = close + 1;
                continue;
            }
        }
        if s == "unlocked" && p1 == "::" && at(i + 1) == "(" {
            // `ArcMutexGuard::unlocked(guard, f)`: the mutator's own state
            // lock is given up around `f`.
            let close = closing(t, i + 1);
            out.push("data.release()".to_string());
            ops(t, i + 2, close, inline, out);
            out.push("data.lock()".to_string());
            i = close + 1;
            continue;
        }
        if s == "data" && at(i + 1) == "=" && at(i + 2) == "None" {
            out.push("data.release()".to_string());
            i += 3;
            continue;
        }
        if s == "drop" && at(i + 1) == "(" && is_ident(at(i + 2)) && at(i + 3) == ")" {
            out.push(format!("drop({})", at(i + 2)));
            i += 4;
            continue;
        }
        let std_path = p1 == "::" && matches!(p2, "std" | "thread" | "hint");
        if is_ident(s) && at(i + 1) == "(" && p1 != "fn" && !std_path {
            if let Some((body, (blo, bhi))) = inline.get(s) {
                ops(body, *blo, *bhi, inline, out);
            } else if WATCHED.contains(&s) {
                out.push(format!("{s}()"));
            }
        }
        i += 1;
    }
}

// ---- the checks -------------------------------------------------------------------

/// Reads a file relative to `collector/`.
fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// Where the checks read files from: [`read`], or in the tests of this
/// test, the same with one file changed.
type Source<'a> = &'a dyn Fn(&str) -> String;

/// Splits a [`Site`] into its file and its item path.
fn split(site: Site) -> (&'static str, &'static str) {
    site.split_once(": ")
        .unwrap_or_else(|| panic!("a site is `file: item`: {site}"))
}

/// The tokens of `file` and the body of the item `path` in it.
fn item(src: Source<'_>, file: &str, path: &str) -> Result<(Vec<String>, (usize, usize)), String> {
    let t = tokens(&src(file));
    let range = locate(&t, path).map_err(|e| format!("{file}: {e}"))?;
    Ok((t, range))
}

/// The operations of the real side of `m`: of each of its functions in
/// turn, with the callees of `m.inline` counted at their call sites.
fn real_ops(m: &Mirror, src: Source<'_>) -> Result<Vec<String>, String> {
    let mut callees = Inlined::new();
    for &(name, callee) in m.inline {
        let (file, path) = split(callee);
        callees.insert(name, item(src, file, path)?);
    }
    let mut out = Vec::new();
    for &site in m.real {
        let (file, path) = split(site);
        let (t, (lo, hi)) = item(src, file, path)?;
        ops(&t, lo, hi, &callees, &mut out);
    }
    Ok(out)
}

/// The operations of the model's step of `m`, without its stand-ins.
fn model_ops(m: &Mirror, src: Source<'_>) -> Result<Vec<String>, String> {
    let (t, (lo, hi)) = item(src, &format!("tests/{}", m.model), m.step)?;
    let mut out = Vec::new();
    ops(&t, lo, hi, &Inlined::new(), &mut out);
    for (_, stand_ins) in STAND_INS.iter().filter(|(model, _)| *model == m.model) {
        out.retain(|op| !stand_ins.contains(&op.as_str()));
    }
    Ok(out)
}

/// The table's operations for one side: `[real] ` ones for the code,
/// `[model] ` ones for the model, the rest for both.
fn expected(m: &Mirror, real: bool) -> Vec<String> {
    let (mine, theirs) = if real {
        ("[real] ", "[model] ")
    } else {
        ("[model] ", "[real] ")
    };
    m.ops
        .iter()
        .filter(|op| !op.starts_with(theirs))
        .map(|op| op.strip_prefix(mine).unwrap_or(op).to_string())
        .collect()
}

/// Compares what one side of `m` performs with the table; the error says
/// where they first differ.
fn compare(m: &Mirror, real: bool, got: Vec<String>) -> Result<(), String> {
    let want = expected(m, real);
    if got == want {
        return Ok(());
    }
    let i = want.iter().zip(&got).take_while(|(a, b)| a == b).count();
    let show = |v: &[String]| {
        v.get(i)
            .map_or("(the end)".to_string(), |s| format!("`{s}`"))
    };
    let (side, what) = if real {
        (
            format!("the real code ({})", m.real.join(" + ")),
            "the code changed: change the model to match (and rerun it under loom), \
             then this entry of MIRRORS and the model's \"Model step → real code\" table",
        )
    } else {
        (
            format!("the model (tests/{})", m.model),
            "the model changed: make it mirror the code again, or if the code is what \
             changed, update this entry of MIRRORS and the model's table",
        )
    };
    Err(format!(
        "{} step `{}`: {side} performs\n    {got:?}\n  where MIRRORS says\n    {want:?}\n  \
         They differ at operation #{}: MIRRORS says {}, found {}.\n  {what}.",
        m.model,
        m.step,
        i + 1,
        show(&want),
        show(&got),
    ))
}

/// Checks the real side of `m`.
fn check_real(m: &Mirror, src: Source<'_>) -> Result<(), String> {
    let got = real_ops(m, src).map_err(|e| {
        format!(
            "{} step `{}` mirrors {}, which is not where MIRRORS says: {e}. If it moved or \
             was renamed, update MIRRORS and the model's table; if the protocol changed, \
             the model too",
            m.model,
            m.step,
            m.real.join(" + ")
        )
    })?;
    compare(m, true, got)
}

/// Checks the model side of `m`.
fn check_model(m: &Mirror, src: Source<'_>) -> Result<(), String> {
    let got = model_ops(m, src)
        .map_err(|e| format!("{} has no step `{}` ({e}): update MIRRORS", m.model, m.step))?;
    compare(m, false, got)
}

/// Fails with every message `check` returns.
fn check_all<T>(items: &[T], check: impl Fn(&T) -> Result<(), String>) {
    let failures: Vec<String> = items.iter().filter_map(|x| check(x).err()).collect();
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n\n"));
}

/// With `LOOM_MIRRORS_DUMP` set, prints what one side of every entry
/// performs now.
fn dump(side: &str, f: impl Fn(&Mirror) -> Result<Vec<String>, String>) {
    if std::env::var_os("LOOM_MIRRORS_DUMP").is_some() {
        for m in MIRRORS {
            println!("{} `{}`, {side}: {:#?}", m.model, m.step, f(m));
        }
    }
}

#[test]
fn the_code_performs_what_the_models_mirror() {
    dump("real", |m| real_ops(m, &read));
    check_all(MIRRORS, |m| check_real(m, &read));
}

#[test]
fn the_models_perform_what_they_claim_to_mirror() {
    dump("model", |m| model_ops(m, &read));
    check_all(MIRRORS, |m| check_model(m, &read));
}

#[test]
fn the_cited_functions_exist() {
    check_all(CITED, |&(model, site)| {
        let (file, path) = split(site);
        item(&read, file, path)
            .map(drop)
            .map_err(|e| format!("{model}'s table cites `{site}`: {e}"))
    });
}

/// The fields declared at the top level of the struct body `t[lo..hi]`.
fn fields(t: &[String], lo: usize, hi: usize) -> Vec<&str> {
    let mut depth = 0;
    let mut out = Vec::new();
    for i in lo..hi {
        match t[i].as_str() {
            "(" | "[" | "{" | "<" => depth += 1,
            ")" | "]" | "}" | ">" => depth -= 1,
            name if depth == 0 && is_ident(name) && t.get(i + 1).is_some_and(|x| x == ":") => {
                out.push(name)
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_models_structs_have_the_real_fields() {
    check_all(FIELDS, |&(model, step, site, names)| {
        let (file, path) = split(site);
        let (rt, (rlo, rhi)) = item(&read, file, path)?;
        let (mt, (mlo, mhi)) = item(&read, &format!("tests/{model}"), step)?;
        let (real, mine) = (fields(&rt, rlo, rhi), fields(&mt, mlo, mhi));
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !real.contains(n) || !mine.contains(n))
            .map(|n| format!("`{n}`"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{model}: `{step}` stands for `{site}`, but {} is not a field of both \
                 (the model has {mine:?}, the code {real:?})",
                missing.join(", ")
            ))
        }
    });
}

/// The tokens of constant `name`'s value in `t`.
fn const_value<'t>(t: &'t [String], name: &str) -> Option<&'t [String]> {
    let p = t.windows(2).position(|w| w[0] == "const" && w[1] == name)?;
    let eq = p + t[p..].iter().position(|x| x == "=")?;
    let end = eq + t[eq..].iter().position(|x| x == ";")?;
    Some(&t[eq + 1..end])
}

#[test]
fn the_models_constants_have_the_real_values() {
    check_all(CONSTS, |&(model, file, names)| {
        let (real, mine) = (
            tokens(&read(file)),
            tokens(&read(&format!("tests/{model}"))),
        );
        for name in names {
            let (r, m) = (const_value(&real, name), const_value(&mine, name));
            if r.is_none() || r != m {
                return Err(format!(
                    "{model}'s `{name}` is {m:?}, {file}'s is {r:?}: copy the value"
                ));
            }
        }
        Ok(())
    });
}

/// How a model's docs name a site: its file (as seen from the workspace's
/// `collector/src/`, or the workspace for other crates) and its item
/// (`MarkState::quiescent`, `Drop for Mutator`, `at_safepoint`).
fn cited_as(site: Site) -> (String, String) {
    let (file, path) = split(site);
    let file = file
        .strip_prefix("src/")
        .or_else(|| file.strip_prefix("../"))
        .unwrap_or(file);
    (file.to_string(), named(path))
}

/// An item path as the docs name it.
fn named(path: &str) -> String {
    let mut owner = None;
    let mut name = String::new();
    for step in path.split(" / ") {
        let t = tokens(step);
        match t[0].as_str() {
            "impl" if t.iter().any(|x| x == "for") => {
                owner = Some(step["impl ".len()..].to_string())
            }
            "impl" => {
                // The type: the last name outside angle brackets.
                let mut depth = 0;
                for x in &t[1..] {
                    match x.as_str() {
                        "<" => depth += 1,
                        ">" => depth -= 1,
                        _ if depth == 0 && is_ident(x) => owner = Some(x.clone()),
                        _ => {}
                    }
                }
            }
            _ => name = t[1].clone(),
        }
    }
    match owner {
        Some(o) if o.contains(" for ") => o,
        Some(o) => format!("{o}::{name}"),
        None => name,
    }
}

#[test]
fn each_models_table_cites_what_it_mirrors() {
    let mut cited: Vec<(&str, Site)> = CITED.to_vec();
    for m in MIRRORS {
        cited.extend(m.real.iter().map(|&s| (m.model, s)));
        cited.extend(m.inline.iter().map(|&(_, s)| (m.model, s)));
    }
    cited.extend(FIELDS.iter().map(|&(model, _, site, _)| (model, site)));
    let docs = |model: &str| -> String {
        read(&format!("tests/{model}"))
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    check_all(&cited, |&(model, site)| {
        let (file, name) = cited_as(site);
        let docs = docs(model);
        if docs.contains(&format!("`{file}`")) && docs.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "{model}'s module docs should cite `{file}` and `{name}` (it mirrors `{site}`)"
            ))
        }
    });
    check_all(MIRRORS, |m| {
        let step = named(m.step);
        if docs(m.model).contains(&format!("`{step}`")) {
            Ok(())
        } else {
            Err(format!(
                "{}'s table should have a row for `{step}`",
                m.model
            ))
        }
    });
}

// ---- the test can fail ------------------------------------------------------------

/// The entry of `model` for `step`.
fn mirror(model: &str, step: &str) -> &'static Mirror {
    MIRRORS
        .iter()
        .find(|m| m.model == model && m.step == step)
        .unwrap_or_else(|| panic!("no entry for {model} `{step}`"))
}

/// [`read`], with `file` changed: its one occurrence of `from` (whitespace
/// between words matching any whitespace) replaced by `to`.
fn edited<'a>(file: &'a str, from: &'a str, to: &'a str) -> impl Fn(&str) -> String + 'a {
    move |path| {
        let text = read(path);
        if path != file {
            return text;
        }
        let words: Vec<&str> = from.split_whitespace().collect();
        let matches: Vec<(usize, usize)> = (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .filter_map(|start| {
                let mut at = start;
                for (k, w) in words.iter().enumerate() {
                    if k > 0 {
                        let rest = &text[at..];
                        at += rest.len() - rest.trim_start().len();
                    }
                    if !text[at..].starts_with(w) {
                        return None;
                    }
                    at += w.len();
                }
                Some((start, at))
            })
            .collect();
        assert_eq!(matches.len(), 1, "`{from}` in {file}: {matches:?}");
        let (a, b) = matches[0];
        format!("{}{to}{}", &text[..a], &text[b..])
    }
}

/// A change that must make the check of one entry fail.
struct Divergence {
    /// The file changed (`tests/…`: a model, else the code).
    file: &'static str,
    /// Its one occurrence of this text (any whitespace between words)…
    from: &'static str,
    /// …replaced by this.
    to: &'static str,
    /// The entry: its model and step.
    model: &'static str,
    step: &'static str,
    /// What the failure must say.
    says: &'static str,
}

const DIVERGENCES: &[Divergence] = &[
    // An ordering weakened in `MarkState::quiescent`.
    Divergence {
        file: "src/mark/queue.rs",
        from: "&& self.epoch.load(Ordering::SeqCst) == e0",
        to: "&& self.epoch.load(Ordering::Acquire) == e0",
        model: TERMINATION,
        step: "impl Gc / fn quiescent",
        says: "found `epoch.load(Acquire)`",
    },
    // An ordering weakened in `MarkState::park_assist`.
    Divergence {
        file: "src/mark/queue.rs",
        from: "self.parked_assists.fetch_add(1, Ordering::SeqCst);",
        to: "self.parked_assists.fetch_add(1, Ordering::Relaxed);",
        model: ASSIST_PARK,
        step: "impl Ms / fn park_assist",
        says: "found `parked_assists.fetch_add(_, Relaxed)`",
    },
    // The handshake claim's orderings changed.
    Divergence {
        file: "src/mutator/safepoint.rs",
        from: "HS_CLAIMED, Ordering::AcqRel, Ordering::Acquire)",
        to: "HS_CLAIMED, Ordering::Release, Ordering::Relaxed)",
        model: SAFEPOINT,
        step: "fn run_handshake",
        says: "found `handshake.compare_exchange(HS_POSTED, HS_CLAIMED, Release, Relaxed)`",
    },
    // The worker's idle -> busy updates reordered.
    Divergence {
        file: "src/mark/workers.rs",
        from: "ms.epoch.fetch_add(1, Ordering::SeqCst); ms.idle_workers.fetch_sub(1, Ordering::SeqCst);",
        to: "ms.idle_workers.fetch_sub(1, Ordering::SeqCst); ms.epoch.fetch_add(1, Ordering::SeqCst);",
        model: TERMINATION,
        step: "fn worker",
        says: "found `idle_workers.fetch_sub(_, SeqCst)`",
    },
    // A private drain bumping the epoch before it counts itself.
    Divergence {
        file: "src/mark/drain.rs",
        from: "ms.private_drains.fetch_add(1, Ordering::SeqCst); ms.epoch.fetch_add(1, Ordering::SeqCst);",
        to: "ms.epoch.fetch_add(1, Ordering::SeqCst); ms.private_drains.fetch_add(1, Ordering::SeqCst);",
        model: TERMINATION,
        step: "impl Gc / fn drain_private",
        says: "found `epoch.fetch_add(_, SeqCst)`",
    },
    // A mirrored function renamed.
    Divergence {
        file: "src/mark/queue.rs",
        from: "pub(crate) fn park_assist(",
        to: "pub(crate) fn park_mutator(",
        model: ASSIST_PARK,
        step: "impl Ms / fn park_assist",
        says: "no `fn park_assist`",
    },
    // A model changed: the mutator relocks its state before it waits for
    // the world (the deadlock `flawed_relock_before_world_deadlocks` shows).
    Divergence {
        file: "tests/loom_safepoint.rs",
        from: "drop(self.heap.world.lock().unwrap()); self.data = Some(self.me.data.lock().unwrap());",
        to: "self.data = Some(self.me.data.lock().unwrap()); drop(self.heap.world.lock().unwrap());",
        model: SAFEPOINT,
        step: "impl<'a> Mutator<'a> / fn at_safepoint",
        says: "the model changed",
    },
];

#[test]
fn divergences_are_found() {
    for d in DIVERGENCES {
        let m = mirror(d.model, d.step);
        let check = if d.file.starts_with("tests/") {
            check_model
        } else {
            check_real
        };
        assert!(
            check(m, &read).is_ok(),
            "{} `{}` fails as it is",
            d.model,
            d.step
        );
        let err = check(m, &edited(d.file, d.from, d.to))
            .expect_err(&format!("{} in {} was not found", d.to, d.file));
        assert!(err.contains(d.says), "expected {:?} in: {err}", d.says);
    }
}

#[test]
fn comments_formatting_and_broken_variants_are_not_operations() {
    let plain = "fn f() { a.b.load(Ordering::SeqCst); fence(SeqCst); self.m.lock(); }";
    let noisy = "fn f() {\n    // a.b.store(1, Ordering::Relaxed);\n    a . b\n        .load(\n            \
                 Ordering::SeqCst, /* or Acquire */\n        );\n    let s = \"x.load(Ordering::Relaxed)\";\n    \
                 fence(SeqCst);\n    if self.flaw == Flaw::Broken { x.store(1, Ordering::Relaxed); }\n    \
                 self.m.lock().unwrap();\n}";
    let seq = |src: &str| {
        let t = tokens(src);
        let (lo, hi) = locate(&t, "fn f").unwrap();
        let mut out = Vec::new();
        ops(&t, lo, hi, &Inlined::new(), &mut out);
        out
    };
    assert_eq!(seq(plain), ["b.load(SeqCst)", "fence(SeqCst)", "m.lock()"]);
    assert_eq!(seq(noisy), seq(plain));
    // A local's operations show `_`; a broken variant's are skipped, its
    // `else` kept; a condition that also holds without the flaw is kept.
    let flawed =
        "fn f() { if self.flaw == Flaw::X && y { a.load(Relaxed); } else { a.load(Acquire); } \
                  if self.flaw != Flaw::X && self.b.load(SeqCst) { self.c.store(V, Release); } }";
    assert_eq!(
        seq(flawed),
        ["_.load(Acquire)", "b.load(SeqCst)", "c.store(V, Release)"]
    );
}
