//! Decoding: the bytes of the next operation, read against the model (an
//! operand that names an object picks among those the mutator can reach
//! now), become an [`Action`] applied to the model, or a skip.

use super::action::{Action, Expect, Resurrect, Slot, Step};
use super::input::{
    Input, OpKind, MAX_ALLOC_BYTES, MAX_CLEANUPS, MAX_FINALIZERS, MAX_GLOBALS, MAX_LARGE,
    MAX_OBJECTS, MAX_ROOTS, MAX_WEAK, NULL, OPS, TABLES,
};
use super::model::{CleanupRec, FinRec, Model, Obj, RecState, WeakRec};
use super::object::Kind;

impl Model {
    /// Object `x` of what `m` can reach, if anything.
    fn pick(&self, m: usize, x: u8) -> Option<u32> {
        let acc = self.accessible(m);
        (!acc.is_empty()).then(|| acc[x as usize % acc.len()])
    }

    fn slot(&self, m: usize, s: u8) -> Slot {
        let k = self.roots[m].len();
        if k < MAX_ROOTS && s as usize % (k + 1) == k {
            Slot::Push
        } else {
            Slot::Set(s as usize % k)
        }
    }

    /// Object `x` of `m`'s reachable set, or null for [`NULL`] or an empty set.
    fn pick_or_null(&self, m: usize, x: u8) -> Option<u32> {
        let acc = self.accessible(m);
        (x != NULL && !acc.is_empty()).then(|| acc[x as usize % acc.len()])
    }

    /// Decodes the next operation and applies it to the model.
    pub(super) fn step(&mut self, input: &mut Input<'_>) -> Step {
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
            OpKind::Begin | OpKind::BeginMinor => (!self.cycle_open).then(|| {
                let minor = op == OpKind::BeginMinor && self.generational;
                self.begin_cycle(minor);
                Action::Begin { minor }
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
            _ => self.cycle_open.then_some(if a.is_multiple_of(2) {
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
}
