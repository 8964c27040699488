//! One decoded operation: the [`Action`] the model applies and the scheduler
//! runs, and the types it is made of.

use super::input::OpKind;
use super::object::Kind;

/// Where a value goes on a mutator's shadow stack.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Push,
    Set(usize),
}

/// One decoded, applicable operation, with objects named by model id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
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
    /// Begin a cycle; `minor`: a minor one (`Heap::begin_minor_cycle`).
    Begin {
        minor: bool,
    },
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
pub(super) enum Expect {
    Yes,
    No,
    Either,
}

impl Expect {
    pub(super) fn allows(self, got: bool) -> bool {
        match self {
            Expect::Yes => got,
            Expect::No => !got,
            Expect::Either => true,
        }
    }
}

/// Where a finalizer puts its object back (`set_finalizer`'s `b % 3`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Resurrect {
    /// Nowhere: the object dies in a later cycle.
    No,
    /// Into a global root the finalizer adds (`Heap::add_global`).
    NewGlobal,
    /// Into a global root the scheduler made, empty, when the finalizer was
    /// set (the finalizer `set`s it).
    Slot,
}

/// What decoding one operation gave.
#[derive(Debug)]
pub(super) enum Step {
    /// The input is used up.
    End,
    /// The operation does not apply now.
    Skip(OpKind),
    Do(Action),
}
