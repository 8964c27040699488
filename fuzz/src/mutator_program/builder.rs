//! The builder of the seed programs: writes a program operation by
//! operation, naming objects by model id.

use tricolor_collector::BarrierMode;

use super::action::{Action, Resurrect, Step};
use super::input::{Input, OpKind, MODES, NULL, OPS};
use super::model::Model;

/// Writes a program operation by operation, naming objects by model id: it
/// keeps the same model as the scheduler and computes the operand bytes that
/// make the decoder pick each object, so seeds stay readable.
pub(super) struct Builder {
    bytes: Vec<u8>,
    pub(super) model: Model,
}

impl Builder {
    pub(super) fn new(mode: BarrierMode, mutators: usize, globals: usize) -> Builder {
        let mode = MODES
            .iter()
            .position(|&x| x == mode)
            .expect("a concurrent mode");
        assert!((2..=4).contains(&mutators) && globals < 4);
        let header = mode + 3 * (mutators - 2) + 9 * globals;
        Builder {
            bytes: vec![header as u8],
            model: Model::new(mutators, globals, false),
        }
    }

    /// [`new`](Self::new), for a generational heap (the header's bit).
    pub(super) fn new_generational(mode: BarrierMode, mutators: usize, globals: usize) -> Builder {
        let mut b = Builder::new(mode, mutators, globals);
        b.bytes[0] += 36;
        b.model.generational = true;
        b
    }

    pub(super) fn build(self) -> Vec<u8> {
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
    pub(super) fn alloc(&mut self, m: usize, kind: u8, len: u8) -> u32 {
        let s = self.slot(m, None);
        match self.op(OpKind::Alloc, m, &[kind, len, s]) {
            Action::Alloc { id, .. } => id,
            a => unreachable!("{a:?}"),
        }
    }

    pub(super) fn node(&mut self, m: usize) -> u32 {
        self.alloc(m, 0, 0)
    }

    /// A node of the header-free type (`Kind::FreeNode`).
    pub(super) fn free_node(&mut self, m: usize) -> u32 {
        self.alloc(m, 3, 0)
    }

    /// A node, header-free if `free`.
    pub(super) fn node_of(&mut self, m: usize, free: bool) -> u32 {
        if free {
            self.free_node(m)
        } else {
            self.node(m)
        }
    }

    pub(super) fn link(&mut self, m: usize, holder: u32, field: u8, target: u32) {
        let h = Self::index(&self.model.holders(m), holder);
        let t = self.object(m, Some(target));
        self.op(OpKind::Link, m, &[h, field, t]);
    }

    pub(super) fn unlink(&mut self, m: usize, holder: u32, field: u8) {
        let h = Self::index(&self.model.holders(m), holder);
        self.op(OpKind::Unlink, m, &[h, field]);
    }

    pub(super) fn push(&mut self, m: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Push, m, &[x]);
    }

    pub(super) fn pop(&mut self, m: usize, n: u8) {
        self.op(OpKind::Pop, m, &[n - 1]);
    }

    pub(super) fn set(&mut self, m: usize, slot: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Set, m, &[slot as u8, x]);
    }

    /// Loads pointer field `field` of `holder` into a root slot.
    pub(super) fn load(&mut self, m: usize, holder: u32, field: u8, slot: Option<usize>) {
        let h = Self::index(&self.model.holders(m), holder);
        let s = self.slot(m, slot);
        self.op(OpKind::Load, m, &[h, field, s]);
    }

    pub(super) fn add_global(&mut self, m: usize, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Global, m, &[0, 0, x]);
    }

    pub(super) fn drop_global(&mut self, g: u8) {
        self.op(OpKind::Global, 0, &[1, g, 0]);
    }

    pub(super) fn set_global(&mut self, m: usize, g: u8, value: Option<u32>) {
        let x = self.object(m, value);
        self.op(OpKind::Global, m, &[2, g, x]);
    }

    pub(super) fn load_global(&mut self, m: usize, g: u8, slot: Option<usize>) {
        let s = self.slot(m, slot);
        self.op(OpKind::Global, m, &[3, g, s]);
    }

    /// An operation without operands: safepoint, begin,
    /// scan_stack, scan_globals, flush, finish, check.
    pub(super) fn plain(&mut self, op: OpKind, m: usize) {
        self.op(op, m, &[]);
    }

    pub(super) fn native_call(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[0]);
    }

    pub(super) fn toggle_wait(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[2]);
    }

    pub(super) fn reattach(&mut self, m: usize) {
        self.op(OpKind::Native, m, &[3]);
    }

    /// Marks `n` grey objects (0: until none is left).
    pub(super) fn mark(&mut self, n: u8) {
        self.op(OpKind::Mark, 0, &[n.wrapping_sub(1)]);
    }

    pub(super) fn begin(&mut self) {
        self.plain(OpKind::Begin, 0);
    }

    /// Begins a minor cycle (a generational heap's; otherwise a plain one).
    pub(super) fn begin_minor(&mut self) {
        self.plain(OpKind::BeginMinor, 0);
    }

    pub(super) fn scan_stack(&mut self, m: usize) {
        self.plain(OpKind::ScanStack, m);
    }

    pub(super) fn finish(&mut self) {
        self.plain(OpKind::Finish, 0);
    }

    pub(super) fn set_finalizer(&mut self, m: usize, obj: u32, resurrect: Resurrect) -> usize {
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
    pub(super) fn set_finalizer_refused(&mut self, m: usize, obj: u32) {
        let a = self.object(m, Some(obj));
        let action = self.op(OpKind::Finalizer, m, &[0, a, 0]);
        assert!(matches!(action, Action::SetFinalizer { rec: None, .. }));
    }

    pub(super) fn clear_finalizer(&mut self, m: usize, obj: u32) {
        let a = self.object(m, Some(obj));
        self.op(OpKind::Finalizer, m, &[1, a, 0]);
    }

    /// Adds a cleanup; `None` if `arg` is `obj` (refused).
    pub(super) fn add_cleanup(&mut self, m: usize, obj: u32, arg: Option<u32>) -> Option<usize> {
        let (a, b) = (self.object(m, Some(obj)), self.object(m, arg));
        match self.op(OpKind::Finalizer, m, &[2, a, b]) {
            Action::AddCleanup { cleanup, .. } => cleanup,
            a => unreachable!("{a:?}"),
        }
    }

    /// Cancels cleanup `cleanup`; `got` is what `cancel` returns.
    pub(super) fn cancel(&mut self, cleanup: usize, got: bool) {
        let action = self.op(OpKind::Finalizer, 0, &[3, cleanup as u8, 0]);
        self.model.cancelled(&action, got);
    }

    pub(super) fn weak_ref(&mut self, m: usize, obj: u32) -> usize {
        let a = self.object(m, Some(obj));
        match self.op(OpKind::Weak, m, &[0, a, 0]) {
            Action::WeakRef { weak, .. } => weak,
            a => unreachable!("{a:?}"),
        }
    }

    /// Reads weak reference `weak`, rooting what it yields in a new slot
    /// (or using it under `keep_alive`); `got`: whether it yields.
    pub(super) fn weak_get(&mut self, m: usize, weak: usize, rooted: bool, got: bool) {
        let b = if rooted { self.slot(m, None) } else { NULL };
        let action = self.op(OpKind::Weak, m, &[1, weak as u8, b]);
        self.model.weak_got(&action, got);
    }

    /// Waits for finalizers (on mutator `on`'s thread, or the scheduler's);
    /// `ran`: what runs, in order.
    pub(super) fn wait(&mut self, on: Option<usize>, ran: &[Ran]) {
        self.op(OpKind::Weak, on.unwrap_or(0), &[2, on.is_some() as u8, 0]);
        for &r in ran {
            match r {
                Ran::Fin(r) => self.model.finalized(r),
                Ran::Cleanup(c) => self.model.cleaned(c),
            }
        }
        self.model.end_wait();
    }

    pub(super) fn ephemeron_pass(&mut self) {
        self.op(OpKind::Weak, 0, &[3, 0, 0]);
    }

    pub(super) fn finalizer_stage(&mut self) {
        self.op(OpKind::Weak, 0, &[3, 1, 0]);
    }

    pub(super) fn eph_insert(&mut self, m: usize, table: u8, key: u32, value: u32) {
        let (a, b) = (self.object(m, Some(key)), self.object(m, Some(value)));
        self.op(OpKind::Ephemeron, m, &[4 * table, a, b]);
    }

    /// `get` (`remove`: `remove`) of `key`, rooting the value in a new slot.
    pub(super) fn eph_get(&mut self, m: usize, table: u8, key: u32, remove: bool, rooted: bool) {
        let a = self.object(m, Some(key));
        let b = if rooted { self.slot(m, None) } else { NULL };
        self.op(OpKind::Ephemeron, m, &[4 * table + 1 + remove as u8, a, b]);
    }
}

/// A job a seed's `wait` expects to run.
#[derive(Copy, Clone, Debug)]
pub(super) enum Ran {
    Fin(usize),
    Cleanup(usize),
}

impl Builder {
    /// Scans the globals and marks one object (the first global's object,
    /// when the stacks hold nothing).
    pub(super) fn scan_globals_then_mark_one(&mut self) {
        self.plain(OpKind::ScanGlobals, 0);
        self.mark(1);
    }
}
