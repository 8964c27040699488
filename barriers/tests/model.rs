//! A model of concurrent marking that checks the argument of the crate docs
//! (§11).
//!
//! The heap is an abstract graph: objects `1..=n` with `k` pointer fields
//! each (0 is null), and one stack of roots per mutator. The marker keeps a
//! grey set and a colour per object. A marker step takes a grey object,
//! shades its fields' targets and blackens it. Stacks are scanned one at a
//! time, at points the test case chooses. Mutators load a field of an object
//! on their stack onto the stack, store a stack value into a field, delete a
//! field, drop a stack slot, and allocate; and run the usual idioms made of
//! those (take a pointer out of a field; move a pointer from one field to
//! another; move it into a new object). The marker's steps interleave with
//! each of these. Every field write goes through a real [`Barrier`] with a
//! small buffer, which flushes into the model's grey set when it fills and
//! at random points.
//!
//! Stores also race (§10.9). A store can be split in two, as the collector
//! does it: its load of the old value, then its write, which runs the
//! barrier with the value that load read. Several mutators holding the
//! same object can each begin a store into one field, and their writes
//! come later, in any order, interleaved with every other step; a store
//! whose load was overtaken by another's write overwrites a value it never
//! read, and no barrier records that value as old.
//!
//! The collector's obligations (the [`Rules`]) come from the mode, as
//! [`BarrierMode`] states them. After every step the model checks the
//! invariant the mode keeps (§4–§6). At termination it scans the stacks
//! not yet scanned, flushes every buffer, rescans the stacks if the mode
//! says so, and drains the grey set. Then it checks (M): every object
//! reachable from the stacks is black.
//!
//! Leaving out any one obligation must lose an object. Each is shown twice:
//! once by a deterministic scenario (the ones the crate docs name), and once
//! by letting proptest search for a failing case.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestError, TestRunner};
use tricolor_barriers::{Barrier, BarrierMode, Sink};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Colour {
    White,
    Grey,
    Black,
}

/// What the collector around the barrier does.
#[derive(Copy, Clone, Debug)]
struct Rules {
    /// The barrier every field write goes through.
    barrier: BarrierMode,
    /// Scan a mutator's stack before it writes a field (§5).
    scan_before_store: bool,
    /// Rescan every stack at termination (§4).
    rescan_at_termination: bool,
    /// New objects are black (§7).
    allocate_black: bool,
    /// Check, after every step, the invariant that this mode's barrier
    /// keeps (§4–§6).
    check: Option<BarrierMode>,
    /// A store that raced another store to the same field still passes
    /// the barrier the old value its load read (§10.9). Turned off, it
    /// passes null instead: the broken variant.
    records_raced_old: bool,
}

impl Rules {
    /// The rules `mode` asks for.
    fn of(mode: BarrierMode) -> Rules {
        Rules {
            barrier: mode,
            scan_before_store: mode.scans_stack_before_store(),
            rescan_at_termination: mode.rescans_stacks(),
            allocate_black: true,
            check: mode.is_enabled().then_some(mode),
            records_raced_old: true,
        }
    }

    /// The same collector with the barrier off (§8).
    fn barrier_off(self) -> Rules {
        Rules {
            barrier: BarrierMode::Off,
            check: None,
            ..self
        }
    }

    /// The same collector that no longer scans a stack before its mutator
    /// stores (§5).
    fn no_scan_before_store(self) -> Rules {
        Rules {
            scan_before_store: false,
            check: None,
            ..self
        }
    }

    /// The same collector that no longer rescans stacks at termination (§4).
    fn no_rescan(self) -> Rules {
        Rules {
            rescan_at_termination: false,
            check: None,
            ..self
        }
    }

    /// The same collector that allocates white (§7).
    fn allocate_white(self) -> Rules {
        Rules {
            allocate_black: false,
            check: None,
            ..self
        }
    }

    /// The same collector running another barrier.
    fn with_barrier(self, barrier: BarrierMode) -> Rules {
        Rules {
            barrier,
            check: None,
            ..self
        }
    }

    /// The same collector where a store that raced another store to its
    /// field records no old value (§10.9): broken on purpose, so that the
    /// racing steps are shown to matter.
    fn skip_raced_old(self) -> Rules {
        Rules {
            records_raced_old: false,
            check: None,
            ..self
        }
    }
}

/// The heap and stacks when marking begins.
#[derive(Clone, Debug)]
struct Setup {
    /// Pointer fields per object.
    fields: usize,
    /// `heap[i]` are the fields of object `i + 1`.
    heap: Vec<Vec<usize>>,
    /// One stack of roots per mutator.
    stacks: Vec<Vec<usize>>,
    /// The capacity of each mutator's barrier buffer.
    capacities: Vec<usize>,
}

/// One step. Indices are reduced modulo what they index when the step
/// runs, so every sequence is valid and shrinks well.
#[derive(Copy, Clone, Debug)]
enum Op {
    /// Mutator `m` loads field `field` of the object in its stack slot
    /// `slot` and pushes it.
    Load { m: u8, slot: u8, field: u8 },
    /// Mutator `m` stores the object in its slot `src` into field `field` of
    /// the object in its slot `dst`.
    Store { m: u8, src: u8, dst: u8, field: u8 },
    /// Mutator `m` stores null into field `field` of the object in its slot
    /// `dst`.
    Delete { m: u8, dst: u8, field: u8 },
    /// Mutator `m` drops its stack slot `slot`.
    Drop { m: u8, slot: u8 },
    /// Mutator `m` allocates an object and pushes it.
    Alloc { m: u8 },
    /// Mutator `m` flushes its barrier buffer.
    Flush { m: u8 },
    /// The marker scans grey object number `pick`.
    Mark { pick: u8 },
    /// The collector scans mutator `m`'s stack, if not yet scanned.
    Scan { m: u8 },
    /// The marker scans object `obj`, which must be grey (scenarios only).
    Blacken { obj: usize },
    /// Mutator `m` takes a pointer out of the heap: loads field `field` of
    /// the object in its slot `slot`, then nulls the field.
    Take { m: u8, slot: u8, field: u8 },
    /// Mutator `m` moves a pointer between fields: loads field `field` of
    /// the object in its slot `src`, stores it into field `to` of the object
    /// in its slot `dst`, nulls the first field and drops the pointer.
    Move {
        m: u8,
        src: u8,
        field: u8,
        dst: u8,
        to: u8,
    },
    /// Mutator `m` allocates an object and moves into its field `to` the
    /// pointer in field `field` of the object in its slot `src` (as
    /// [`Op::Move`]), as when a new node takes over a link.
    Adopt { m: u8, src: u8, field: u8, to: u8 },
    /// Mutator `m` begins a store of the object in its slot `src` into
    /// field `field` of the object in its slot `dst`: the store's load of
    /// the old value (§10.9). Its write is an [`Op::Finish`]. Until then the
    /// mutator is inside the store: it takes no other step, and no
    /// handshake (stack scan, flush) reaches it (§10.3).
    Begin { m: u8, src: u8, dst: u8, field: u8 },
    /// Mutator `m` writes its pending store, if it has one, and runs the
    /// barrier with the old value the store's load read.
    Finish { m: u8 },
    /// Racing stores: mutator `m`, then every other mutator whose stack
    /// holds the object in m's slot `dst`, loads a field of that object
    /// (the first from `field` on that is not null, if any) and begins a
    /// store into it, as `old = o.f; o.f = v` does. Mutator `i` stores its
    /// slot `src + i`. If `scan`, the collector first scans the stack of
    /// each, as a handshake may just have done.
    Race {
        m: u8,
        src: u8,
        dst: u8,
        field: u8,
        scan: bool,
    },
}

/// The second half of a store that has begun: its write is still to come.
#[derive(Copy, Clone, Debug)]
struct Pending {
    obj: usize,
    field: usize,
    new: usize,
    /// What the store's load read.
    old: usize,
    /// This store and another into the same field overlapped: one began
    /// or wrote while the other was pending.
    raced: bool,
}

/// The sink: shades into the model's colours and grey set.
struct Shader<'a> {
    colour: &'a mut [Colour],
    grey: &'a mut Vec<usize>,
    flushed: &'a mut usize,
}

impl Sink for Shader<'_> {
    fn shade(&mut self, batch: &[usize]) {
        assert!(!batch.is_empty());
        *self.flushed += batch.len();
        for &a in batch {
            assert_ne!(a, 0, "null recorded");
            shade(self.colour, self.grey, a);
        }
    }
}

fn shade(colour: &mut [Colour], grey: &mut Vec<usize>, a: usize) {
    if a != 0 && colour[a] == Colour::White {
        colour[a] = Colour::Grey;
        grey.push(a);
    }
}

struct Model {
    rules: Rules,
    k: usize,
    /// Fields by object; index 0 is unused (null).
    fields: Vec<Vec<usize>>,
    colour: Vec<Colour>,
    grey: Vec<usize>,
    stacks: Vec<Vec<usize>>,
    scanned: Vec<bool>,
    barriers: Vec<Barrier>,
    /// Entries the barriers have handed to the sink so far.
    flushed: usize,
    /// Each mutator's store that has begun and not yet written.
    pending: Vec<Option<Pending>>,
    /// Writes over a value other than the one their store's load read:
    /// each overwrote a value it cannot record as old.
    overtaken: usize,
}

impl Model {
    fn new(setup: &Setup, rules: Rules) -> Model {
        let mut fields = vec![Vec::new()];
        fields.extend(setup.heap.iter().cloned());
        Model {
            rules,
            k: setup.fields,
            colour: vec![Colour::White; fields.len()],
            fields,
            grey: Vec::new(),
            stacks: setup.stacks.clone(),
            scanned: vec![false; setup.stacks.len()],
            barriers: setup
                .capacities
                .iter()
                .map(|&c| Barrier::with_capacity(rules.barrier, c))
                .collect(),
            flushed: 0,
            pending: vec![None; setup.stacks.len()],
            overtaken: 0,
        }
    }

    /// The primitive steps `op` stands for in the current state: itself, or
    /// for [`Op::Take`] and [`Op::Move`] the loads, stores and drops they
    /// are made of (nothing if the field they take is null).
    fn expand(&self, op: Op) -> Vec<Op> {
        let m = |m: u8| m as usize % self.stacks.len();
        match op {
            Op::Take { m: mm, slot, field } => {
                let len = self.stacks[m(mm)].len();
                if len == 0 {
                    return Vec::new();
                }
                let s = (slot as usize % len) as u8;
                let obj = self.stacks[m(mm)][s as usize];
                if self.fields[obj][field as usize % self.k] == 0 {
                    return Vec::new();
                }
                vec![
                    Op::Load {
                        m: mm,
                        slot: s,
                        field,
                    },
                    Op::Delete {
                        m: mm,
                        dst: s,
                        field,
                    },
                ]
            }
            Op::Move {
                m: mm,
                src,
                field,
                dst,
                to,
            } => {
                let len = self.stacks[m(mm)].len();
                if len == 0 {
                    return Vec::new();
                }
                assert!(len < u8::MAX as usize, "stacks stay short");
                let (s, d, top) = (
                    (src as usize % len) as u8,
                    (dst as usize % len) as u8,
                    len as u8,
                );
                let obj = self.stacks[m(mm)][s as usize];
                if self.fields[obj][field as usize % self.k] == 0 {
                    return Vec::new();
                }
                vec![
                    Op::Load {
                        m: mm,
                        slot: s,
                        field,
                    },
                    Op::Store {
                        m: mm,
                        src: top,
                        dst: d,
                        field: to,
                    },
                    Op::Delete {
                        m: mm,
                        dst: s,
                        field,
                    },
                    Op::Drop { m: mm, slot: top },
                ]
            }
            Op::Adopt {
                m: mm,
                src,
                field,
                to,
            } => {
                let len = self.stacks[m(mm)].len();
                if len == 0 {
                    return Vec::new();
                }
                assert!(len < u8::MAX as usize, "stacks stay short");
                let (s, top) = ((src as usize % len) as u8, len as u8);
                let obj = self.stacks[m(mm)][s as usize];
                if self.fields[obj][field as usize % self.k] == 0 {
                    return Vec::new();
                }
                vec![
                    Op::Alloc { m: mm },
                    Op::Load {
                        m: mm,
                        slot: s,
                        field,
                    },
                    Op::Store {
                        m: mm,
                        src: top + 1,
                        dst: top,
                        field: to,
                    },
                    Op::Delete {
                        m: mm,
                        dst: s,
                        field,
                    },
                    Op::Drop {
                        m: mm,
                        slot: top + 1,
                    },
                ]
            }
            Op::Race {
                m: mm,
                src,
                dst,
                field,
                scan,
            } => {
                let n = self.stacks.len();
                let Some(obj) = self.slot(m(mm), dst) else {
                    return Vec::new();
                };
                let field = (0..self.k)
                    .map(|i| ((field as usize + i) % self.k) as u8)
                    .find(|&f| self.fields[obj][f as usize] != 0)
                    .unwrap_or(field);
                let mut ops = Vec::new();
                for i in (0..n).map(|i| (m(mm) + i) % n) {
                    let Some(at) = self.stacks[i].iter().position(|&o| o == obj) else {
                        continue;
                    };
                    let (i, at) = (i as u8, at as u8);
                    if scan {
                        ops.push(Op::Scan { m: i });
                    }
                    ops.push(Op::Load {
                        m: i,
                        slot: at,
                        field,
                    });
                    ops.push(Op::Begin {
                        m: i,
                        src: src.wrapping_add(i),
                        dst: at,
                        field,
                    });
                }
                ops
            }
            op => vec![op],
        }
    }

    /// Whether `op` is a step of a mutator that is inside a store (between
    /// [`Op::Begin`] and [`Op::Finish`]) other than that store's write:
    /// such a step has to wait.
    fn waits(&self, op: Op) -> bool {
        let m = match op {
            Op::Load { m, .. }
            | Op::Store { m, .. }
            | Op::Delete { m, .. }
            | Op::Drop { m, .. }
            | Op::Alloc { m }
            | Op::Flush { m }
            | Op::Scan { m }
            | Op::Begin { m, .. } => m,
            _ => return false,
        };
        self.pending[m as usize % self.stacks.len()].is_some()
    }

    /// Runs one step; says what it did, or `None` if it had nothing to act
    /// on (an empty stack, an empty grey set).
    fn apply(&mut self, op: Op) -> Option<String> {
        let mutators = self.stacks.len();
        let mi = |m: u8| m as usize % mutators;
        if self.waits(op) {
            return None;
        }
        match op {
            Op::Load { m, slot, field } => {
                let m = mi(m);
                let obj = self.slot(m, slot)?;
                let f = field as usize % self.k;
                let v = self.fields[obj][f];
                (v != 0).then(|| {
                    self.stacks[m].push(v);
                    format!("m{m} loads {obj}.f{f} = {v}")
                })
            }
            Op::Store { m, src, dst, field } => {
                let m = mi(m);
                let (v, obj) = (self.slot(m, src)?, self.slot(m, dst)?);
                let f = field as usize % self.k;
                let scan = self.scan_note(m);
                let old = self.write(m, obj, f, v);
                Some(format!("{scan}m{m} stores {obj}.f{f} = {v} (was {old})"))
            }
            Op::Delete { m, dst, field } => {
                let m = mi(m);
                let obj = self.slot(m, dst)?;
                let f = field as usize % self.k;
                let scan = self.scan_note(m);
                let old = self.write(m, obj, f, 0);
                Some(format!("{scan}m{m} stores {obj}.f{f} = null (was {old})"))
            }
            Op::Drop { m, slot } => {
                let m = mi(m);
                let len = self.stacks[m].len();
                (len > 0).then(|| {
                    let v = self.stacks[m].swap_remove(slot as usize % len);
                    format!("m{m} drops {v}")
                })
            }
            Op::Alloc { m } => {
                let m = mi(m);
                let id = self.fields.len();
                self.fields.push(vec![0; self.k]);
                let colour = if self.rules.allocate_black {
                    Colour::Black
                } else {
                    Colour::White
                };
                self.colour.push(colour);
                self.stacks[m].push(id);
                Some(format!("m{m} allocates {id} ({colour:?})"))
            }
            Op::Flush { m } => {
                let m = mi(m);
                let pending = self.barriers[m].buffer().entries().to_vec();
                let mut sink = Shader {
                    colour: &mut self.colour,
                    grey: &mut self.grey,
                    flushed: &mut self.flushed,
                };
                self.barriers[m].flush(&mut sink);
                (!pending.is_empty()).then(|| format!("m{m} flushes {pending:?}"))
            }
            Op::Mark { pick } => {
                if self.grey.is_empty() {
                    return None;
                }
                let i = pick as usize % self.grey.len();
                let obj = self.grey.swap_remove(i);
                self.scan_object(obj);
                Some(format!("marker blackens {obj}"))
            }
            Op::Scan { m } => {
                let m = mi(m);
                (!self.scanned[m]).then(|| {
                    self.scan_stack(m);
                    format!("collector scans m{m}'s stack {:?}", self.stacks[m])
                })
            }
            Op::Begin { m, src, dst, field } => {
                let m = mi(m);
                let (new, obj) = (self.slot(m, src)?, self.slot(m, dst)?);
                let field = field as usize % self.k;
                let scan = self.scan_note(m);
                self.before_store(m);
                let old = self.fields[obj][field];
                let raced = self.mark_raced(obj, field);
                self.pending[m] = Some(Pending {
                    obj,
                    field,
                    new,
                    old,
                    raced,
                });
                Some(format!(
                    "{scan}m{m} begins {obj}.f{field} = {new}, loading {old}"
                ))
            }
            Op::Finish { m } => {
                let m = mi(m);
                let p = self.pending[m].take()?;
                let was = std::mem::replace(&mut self.fields[p.obj][p.field], p.new);
                let raced = self.mark_raced(p.obj, p.field) || p.raced;
                if was != p.old {
                    self.overtaken += 1;
                }
                let old = if raced && !self.rules.records_raced_old {
                    0
                } else {
                    p.old
                };
                self.barrier(m, old, p.new);
                Some(format!(
                    "m{m} writes {}.f{} = {} over {was}, passing {old} as old",
                    p.obj, p.field, p.new
                ))
            }
            Op::Take { .. } | Op::Move { .. } | Op::Adopt { .. } | Op::Race { .. } => {
                unreachable!("expanded before they run")
            }
            Op::Blacken { obj } => {
                let i = self.grey.iter().position(|&g| g == obj);
                let i = i.unwrap_or_else(|| panic!("scenario: object {obj} is not grey"));
                self.grey.swap_remove(i);
                self.scan_object(obj);
                Some(format!("marker blackens {obj}"))
            }
        }
    }

    /// Says so if `write` is about to scan `m`'s stack first.
    fn scan_note(&self, m: usize) -> String {
        if self.rules.scan_before_store && !self.scanned[m] {
            format!("collector scans m{m}'s stack {:?}; ", self.stacks[m])
        } else {
            String::new()
        }
    }

    fn slot(&self, m: usize, slot: u8) -> Option<usize> {
        let s = &self.stacks[m];
        (!s.is_empty()).then(|| s[slot as usize % s.len()])
    }

    /// A mutator's field write, through the barrier; returns the old value.
    fn write(&mut self, m: usize, obj: usize, field: usize, new: usize) -> usize {
        self.before_store(m);
        let old = std::mem::replace(&mut self.fields[obj][field], new);
        self.barrier(m, old, new);
        old
    }

    /// What the collector does before mutator `m` stores: under §5's
    /// condition, scans its stack.
    fn before_store(&mut self, m: usize) {
        if self.rules.scan_before_store && !self.scanned[m] {
            self.scan_stack(m);
        }
    }

    /// Mutator `m`'s barrier for a store of `new` over `old`.
    fn barrier(&mut self, m: usize, old: usize, new: usize) {
        let mut sink = Shader {
            colour: &mut self.colour,
            grey: &mut self.grey,
            flushed: &mut self.flushed,
        };
        self.barriers[m].on_store(true, old, new, self.scanned[m], &mut sink);
    }

    /// Flags every pending store into `obj.field` as raced; says whether
    /// there was one.
    fn mark_raced(&mut self, obj: usize, field: usize) -> bool {
        let mut any = false;
        for p in self.pending.iter_mut().flatten() {
            if (p.obj, p.field) == (obj, field) {
                p.raced = true;
                any = true;
            }
        }
        any
    }

    /// Shades every root of stack `m`; it is scanned from now on.
    fn scan_stack(&mut self, m: usize) {
        for &r in &self.stacks[m] {
            shade(&mut self.colour, &mut self.grey, r);
        }
        self.scanned[m] = true;
    }

    /// The marker step for `obj`, already taken from the grey set.
    fn scan_object(&mut self, obj: usize) {
        assert_eq!(self.colour[obj], Colour::Grey);
        for i in 0..self.k {
            let t = self.fields[obj][i];
            shade(&mut self.colour, &mut self.grey, t);
        }
        self.colour[obj] = Colour::Black;
    }

    /// Records not yet flushed, from every buffer.
    fn pending(&self) -> HashSet<usize> {
        self.barriers
            .iter()
            .flat_map(|b| b.buffer().entries().iter().copied())
            .collect()
    }

    /// The white objects a grey object or a pending record reaches through
    /// white objects only (§2; a pending record counts as grey, §9).
    fn protected(&self) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut work: Vec<usize> = self.grey.clone();
        for p in self.pending() {
            if self.colour[p] == Colour::White && seen.insert(p) {
                work.push(p);
            }
        }
        while let Some(o) = work.pop() {
            for &t in &self.fields[o] {
                if t != 0 && self.colour[t] == Colour::White && seen.insert(t) {
                    work.push(t);
                }
            }
        }
        seen
    }

    /// The invariant the barrier keeps, checked from scratch.
    fn check_invariants(&self) -> Result<(), String> {
        for (o, c) in self.colour.iter().enumerate().skip(1) {
            assert_eq!(
                *c == Colour::Grey,
                self.grey.contains(&o),
                "grey set of {o}"
            );
        }
        let black = || (1..self.fields.len()).filter(|&o| self.colour[o] == Colour::Black);
        match self.rules.check {
            None | Some(BarrierMode::Off) => Ok(()),
            Some(BarrierMode::IncrementalUpdate) => {
                // §4: no black object points to a white one, counting a
                // pending record as grey.
                let pending = self.pending();
                for b in black() {
                    for &t in &self.fields[b] {
                        if t != 0 && self.colour[t] == Colour::White && !pending.contains(&t) {
                            return Err(format!("strong invariant: black {b} -> white {t}"));
                        }
                    }
                }
                Ok(())
            }
            Some(BarrierMode::Satb | BarrierMode::Hybrid) => {
                // §5, §6: the weak invariant, and (L) for black stacks.
                let protected = self.protected();
                let ok =
                    |t: usize| t == 0 || self.colour[t] != Colour::White || protected.contains(&t);
                for b in black() {
                    for &t in &self.fields[b] {
                        if !ok(t) {
                            return Err(format!(
                                "weak invariant: black {b} -> unprotected white {t}"
                            ));
                        }
                    }
                }
                for (m, s) in self.stacks.iter().enumerate() {
                    if self.scanned[m] {
                        if let Some(&t) = s.iter().find(|&&t| !ok(t)) {
                            return Err(format!("(L): black stack {m} -> unprotected white {t}"));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Mark termination; returns the reachable objects left white.
    fn finish(&mut self) -> Vec<usize> {
        assert!(
            self.pending.iter().all(Option::is_none),
            "termination waits for every store to write"
        );
        // Every stack is scanned at least once before marking can end.
        for m in 0..self.stacks.len() {
            if !self.scanned[m] {
                self.scan_stack(m);
            }
        }
        // The world is stopped: flush every buffer (§9.1).
        for b in &mut self.barriers {
            let mut sink = Shader {
                colour: &mut self.colour,
                grey: &mut self.grey,
                flushed: &mut self.flushed,
            };
            b.flush(&mut sink);
        }
        if self.rules.rescan_at_termination {
            for m in 0..self.stacks.len() {
                self.scan_stack(m);
            }
        }
        while let Some(o) = self.grey.pop() {
            self.scan_object(o);
        }
        assert!(self.barriers.iter().all(|b| b.buffer().is_empty()));

        let mut reachable = HashSet::new();
        let mut work: Vec<usize> = self.stacks.iter().flatten().copied().collect();
        while let Some(o) = work.pop() {
            if reachable.insert(o) {
                work.extend(self.fields[o].iter().copied().filter(|&t| t != 0));
            }
        }
        let mut lost: Vec<usize> = reachable
            .into_iter()
            .filter(|&o| self.colour[o] != Colour::Black)
            .collect();
        lost.sort_unstable();
        lost
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// (M) held.
    Kept,
    /// These reachable objects were white at the end.
    Lost(Vec<usize>),
    /// The invariant broke after step `step`.
    Broken { step: usize, why: String },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Kept => write!(f, "every reachable object is black"),
            Outcome::Lost(l) => write!(f, "reachable objects left white: {l:?}"),
            Outcome::Broken { step, why } => write!(f, "after step {step}: {why}"),
        }
    }
}

fn run(setup: &Setup, ops: &[Op], rules: Rules) -> Outcome {
    run_logged(setup, ops, rules, &mut |_| {})
}

/// [`run`], telling `log` what each step did.
fn run_logged(setup: &Setup, ops: &[Op], rules: Rules, log: &mut dyn FnMut(String)) -> Outcome {
    simulate(setup, ops, rules, log).0
}

/// [`run_logged`], returning the model as it ended too.
fn simulate(
    setup: &Setup,
    ops: &[Op],
    rules: Rules,
    log: &mut dyn FnMut(String),
) -> (Outcome, Model) {
    let mut model = Model::new(setup, rules);
    // Mark termination waits for every mutator to reach a safepoint, so a
    // store still pending after the last step writes first.
    let writes = (0..setup.stacks.len()).map(|m| Op::Finish { m: m as u8 });
    for (step, op) in ops.iter().copied().chain(writes).enumerate() {
        for op in model.expand(op) {
            if let Some(what) = model.apply(op) {
                log(what);
            }
            if rules.check.is_some() {
                if let Err(why) = model.check_invariants() {
                    return (Outcome::Broken { step, why }, model);
                }
            }
        }
    }
    let outcome = match model.finish() {
        lost if lost.is_empty() => Outcome::Kept,
        lost => Outcome::Lost(lost),
    };
    (outcome, model)
}

// ---------------------------------------------------------------------------
// Generated cases.

/// Up to [`OBJECTS`] objects of 1 to [`FIELDS`] fields each, 2 in 5 of
/// them null; 1 to [`MUTATORS`] mutators with 1 or 2 roots each; buffers of
/// 1 to 4 entries.
fn setup() -> impl Strategy<Value = Setup> {
    (1..=OBJECTS, 1..=FIELDS, 1..=MUTATORS)
        .prop_flat_map(|(n, k, m)| {
            let field = prop_oneof![2 => Just(0usize), 3 => 1..=n];
            (
                Just(k),
                vec(vec(field, k), n),
                vec(vec(1..=n, 1..=2), m),
                vec(1usize..=4, m),
            )
        })
        .prop_map(|(fields, heap, stacks, capacities)| Setup {
            fields,
            heap,
            stacks,
            capacities,
        })
}

/// One step, weighted so that a good share of cases need the barrier (see
/// `generated_cases_need_the_barrier`): mostly loads and pointer moves,
/// with marking, scanning and flushing in between, and racing stores.
fn op() -> impl Strategy<Value = Op> {
    let b = any::<u8>;
    prop_oneof![
        5 => (b(), b(), b()).prop_map(|(m, slot, field)| Op::Load { m, slot, field }),
        2 => (b(), b(), b(), b()).prop_map(|(m, src, dst, field)| Op::Store { m, src, dst, field }),
        1 => (b(), b(), b()).prop_map(|(m, dst, field)| Op::Delete { m, dst, field }),
        1 => (b(), b()).prop_map(|(m, slot)| Op::Drop { m, slot }),
        1 => b().prop_map(|m| Op::Alloc { m }),
        1 => b().prop_map(|m| Op::Flush { m }),
        2 => b().prop_map(|pick| Op::Mark { pick }),
        3 => b().prop_map(|m| Op::Scan { m }),
        2 => (b(), b(), b()).prop_map(|(m, slot, field)| Op::Take { m, slot, field }),
        4 => (b(), b(), b(), b(), b())
            .prop_map(|(m, src, field, dst, to)| Op::Move { m, src, field, dst, to }),
        4 => (b(), b(), b(), b()).prop_map(|(m, src, field, to)| Op::Adopt { m, src, field, to }),
        3 => (b(), b(), b(), b(), any::<bool>())
            .prop_map(|(m, src, dst, field, scan)| Op::Race { m, src, dst, field, scan }),
        6 => b().prop_map(|m| Op::Finish { m }),
    ]
}

/// A setup and up to [`STEPS`] steps.
fn case() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    (setup(), vec(op(), 0..=STEPS))
}

/// Most objects in a generated heap.
const OBJECTS: usize = 12;
/// Most fields per object.
const FIELDS: usize = 3;
/// Most mutators.
const MUTATORS: usize = 3;
/// Most steps per case (a step may be a compound of up to five).
const STEPS: usize = 32;
/// Cases per property.
const CASES: u32 = 2048;

fn check(setup: &Setup, ops: &[Op], rules: Rules) -> Result<(), TestCaseError> {
    match run(setup, ops, rules) {
        Outcome::Kept => Ok(()),
        bad => Err(TestCaseError::fail(bad.to_string())),
    }
}

/// The configuration of the properties: [`CASES`] cases, or
/// `PROPTEST_CASES` if set (for a long run); a failing case is kept in
/// `tests/model.proptest-regressions`.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: std::env::var_os("PROPTEST_CASES").map_or(CASES, |_| default.cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    /// §5: SATB, each stack scanned before its mutator stores.
    #[test]
    fn satb_marks_everything_reachable((setup, ops) in case()) {
        check(&setup, &ops, Rules::of(BarrierMode::Satb))?;
    }

    /// §4: incremental update, stacks rescanned at termination.
    #[test]
    fn incremental_update_marks_everything_reachable((setup, ops) in case()) {
        check(&setup, &ops, Rules::of(BarrierMode::IncrementalUpdate))?;
    }

    /// §6: hybrid, stacks scanned whenever, never rescanned.
    #[test]
    fn hybrid_marks_everything_reachable((setup, ops) in case()) {
        check(&setup, &ops, Rules::of(BarrierMode::Hybrid))?;
    }
}

/// Searches up to `CASES * 4` generated cases, from a fixed seed, for one
/// where `rules` loses an object, and prints it, minimised.
fn must_fail(what: &str, rules: Rules) {
    let mut runner = TestRunner::new(Config {
        cases: CASES * 4,
        rng_seed: RngSeed::Fixed(0x7C01_0B00),
        failure_persistence: None,
        // `minimise` below does better on this model, and faster.
        max_shrink_iters: 0,
        ..Config::default()
    });
    let runs = Cell::new(0u32);
    let result = runner.run(&case(), |(setup, ops)| {
        runs.set(runs.get() + 1);
        check(&setup, &ops, rules)
    });
    match result {
        Err(TestError::Fail(_, (setup, ops))) => {
            let (setup, ops) = minimise(setup, ops, rules);
            let mut story = Vec::new();
            let outcome = run_logged(&setup, &ops, rules, &mut |s| story.push(s));
            assert!(matches!(outcome, Outcome::Lost(_)), "{what}: {outcome}");
            eprintln!(
                "{what}: generated case {} fails; minimised:\n  heap {:?}, stacks {:?}\n  {}\n  => {outcome}",
                runs.get(),
                setup.heap,
                setup.stacks,
                story.join("\n  ")
            );
        }
        Err(TestError::Abort(why)) => panic!("{what}: aborted: {why}"),
        Ok(()) => panic!("{what}: no generated case lost an object"),
    }
}

/// Greedily removes steps and roots and nulls fields while the case still
/// fails under `rules`.
fn minimise(mut setup: Setup, mut ops: Vec<Op>, rules: Rules) -> (Setup, Vec<Op>) {
    let fails = |s: &Setup, o: &[Op]| run(s, o, rules) != Outcome::Kept;
    assert!(fails(&setup, &ops));
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < ops.len() {
            let mut t = ops.clone();
            t.remove(i);
            if fails(&setup, &t) {
                ops = t;
                changed = true;
            } else {
                i += 1;
            }
        }
        for m in 0..setup.stacks.len() {
            let mut j = 0;
            while j < setup.stacks[m].len() {
                let mut t = setup.clone();
                t.stacks[m].remove(j);
                if fails(&t, &ops) {
                    setup = t;
                    changed = true;
                } else {
                    j += 1;
                }
            }
        }
        for o in 0..setup.heap.len() {
            for f in 0..setup.fields {
                if setup.heap[o][f] != 0 {
                    let mut t = setup.clone();
                    t.heap[o][f] = 0;
                    if fails(&t, &ops) {
                        setup = t;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return (setup, ops);
        }
    }
}

/// Cases like the properties', from a fixed seed: how many of them the
/// barrier saves, that is, lose an object when it is off; and how many
/// have a store overtaken by another (it overwrote a value its load did
/// not read, §10.9), and lose an object when a store that raced passes no
/// old value. A generator that rarely needs the barrier, or rarely races,
/// would make the properties above vacuous. (The invariants are left to
/// the properties; this counts.)
#[test]
fn generated_cases_need_the_barrier() {
    for mode in ALL_ON {
        let rules = Rules {
            check: None,
            ..Rules::of(mode)
        };
        let mut runner = TestRunner::new(Config {
            cases: CASES / 2,
            rng_seed: RngSeed::Fixed(0x7C01_0B00),
            failure_persistence: None,
            ..Config::default()
        });
        let (total, saved, records) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0usize));
        let (overtaken, raced_lost) = (Cell::new(0u32), Cell::new(0u32));
        let count = |c: &Cell<u32>, yes: bool| c.set(c.get() + u32::from(yes));
        runner
            .run(&case(), |(setup, ops)| {
                total.set(total.get() + 1);
                let (outcome, model) = simulate(&setup, &ops, rules, &mut |_| {});
                prop_assert_eq!(outcome, Outcome::Kept);
                records.set(records.get() + model.flushed);
                count(
                    &saved,
                    run(&setup, &ops, rules.barrier_off()) != Outcome::Kept,
                );
                count(&overtaken, model.overtaken > 0);
                let broken = run(&setup, &ops, rules.skip_raced_old());
                count(&raced_lost, broken != Outcome::Kept);
                Ok(())
            })
            .unwrap();
        eprintln!(
            "{mode}: {} cases, {} records, {} cases lose an object with the barrier off; \
             {} have an overtaken store, {} lose an object if a raced store passes no old value",
            total.get(),
            records.get(),
            saved.get(),
            overtaken.get(),
            raced_lost.get()
        );
        assert!(
            saved.get() * 20 >= total.get(),
            "{mode}: under 5% of the cases need the barrier"
        );
        assert!(
            overtaken.get() * 10 >= total.get(),
            "{mode}: under 10% of the cases have an overtaken store"
        );
        if mode != BarrierMode::IncrementalUpdate {
            assert!(
                raced_lost.get() > 0,
                "{mode}: losing a raced store's old value never loses an object"
            );
        }
    }
}

#[test]
fn generated_cases_lose_objects_with_the_barrier_off() {
    for mode in [
        BarrierMode::Satb,
        BarrierMode::IncrementalUpdate,
        BarrierMode::Hybrid,
    ] {
        must_fail(
            &format!("{mode} rules, barrier off"),
            Rules::of(mode).barrier_off(),
        );
    }
}

#[test]
fn generated_cases_lose_objects_without_each_obligation() {
    use BarrierMode::*;
    must_fail(
        "satb without scanning before a store (= hybrid without its new-value half)",
        Rules::of(Satb).no_scan_before_store(),
    );
    must_fail(
        "hybrid without its old-value half",
        Rules::of(Hybrid).with_barrier(IncrementalUpdate),
    );
    must_fail(
        "incremental update without the rescan",
        Rules::of(IncrementalUpdate).no_rescan(),
    );
    must_fail("satb allocating white", Rules::of(Satb).allocate_white());
    must_fail(
        "hybrid allocating white",
        Rules::of(Hybrid).allocate_white(),
    );
    must_fail(
        "satb where a raced store records no old value",
        Rules::of(Satb).skip_raced_old(),
    );
    must_fail(
        "hybrid where a raced store records no old value",
        Rules::of(Hybrid).skip_raced_old(),
    );
}

// ---------------------------------------------------------------------------
// Scenarios: the lost objects the crate docs describe.

/// A setup with buffers of 4 entries, so that records stay pending until
/// termination flushes them.
fn scenario(fields: usize, heap: &[&[usize]], stacks: &[&[usize]]) -> Setup {
    Setup {
        fields,
        heap: heap.iter().map(|o| o.to_vec()).collect(),
        stacks: stacks.iter().map(|s| s.to_vec()).collect(),
        capacities: vec![4; stacks.len()],
    }
}

fn load(m: u8, slot: u8, field: u8) -> Op {
    Op::Load { m, slot, field }
}

fn store(m: u8, src: u8, dst: u8, field: u8) -> Op {
    Op::Store { m, src, dst, field }
}

fn delete(m: u8, dst: u8, field: u8) -> Op {
    Op::Delete { m, dst, field }
}

fn drop_slot(m: u8, slot: u8) -> Op {
    Op::Drop { m, slot }
}

const ALL_ON: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// §2: the mutator moves the only pointer to white X into black A and
/// deletes the original. A = 1, B = 2, X = 3; the stack holds A and B.
fn hidden_in_a_black_object() -> (Setup, Vec<Op>) {
    let setup = scenario(1, &[&[0], &[3], &[0]], &[&[1, 2]]);
    let ops = vec![
        Op::Scan { m: 0 },      // A, B grey
        Op::Blacken { obj: 1 }, // A black
        load(0, 1, 0),          // X from B.f: the stack is [A, B, X]
        store(0, 2, 0, 0),      // A.f = X
        delete(0, 1, 0),        // B.f = null
        drop_slot(0, 2),        // X off the stack
    ];
    (setup, ops)
}

#[test]
fn every_mode_keeps_an_object_hidden_in_a_black_object() {
    let (setup, ops) = hidden_in_a_black_object();
    for mode in ALL_ON {
        assert_eq!(run(&setup, &ops, Rules::of(mode)), Outcome::Kept, "{mode}");
        assert_eq!(
            run(&setup, &ops, Rules::of(mode).barrier_off()),
            Outcome::Lost(vec![3]),
            "{mode} rules, barrier off"
        );
    }
}

/// §4, §6: a mutator whose stack is scanned loads the only pointer to white
/// X from B.f, and B.f is deleted. B = 1, X = 2.
fn hidden_on_a_scanned_stack() -> (Setup, Vec<Op>) {
    let setup = scenario(1, &[&[2], &[0]], &[&[1]]);
    let ops = vec![
        Op::Scan { m: 0 }, // B grey, the stack black
        load(0, 0, 0),     // X from B.f onto the stack
        delete(0, 0, 0),   // B.f = null
    ];
    (setup, ops)
}

#[test]
fn a_pointer_hidden_on_a_scanned_stack() {
    use BarrierMode::*;
    let (setup, ops) = hidden_on_a_scanned_stack();
    // The deletion half records X.
    for mode in [Satb, Hybrid] {
        assert_eq!(run(&setup, &ops, Rules::of(mode)), Outcome::Kept, "{mode}");
        let off = Rules::of(mode).barrier_off();
        assert_eq!(run(&setup, &ops, off), Outcome::Lost(vec![2]), "{mode} off");
    }
    let no_old_half = Rules::of(Hybrid).with_barrier(IncrementalUpdate);
    assert_eq!(run(&setup, &ops, no_old_half), Outcome::Lost(vec![2]));
    // Incremental update records nothing here: only the rescan finds X.
    let iu = Rules::of(IncrementalUpdate);
    assert_eq!(run(&setup, &ops, iu), Outcome::Kept);
    assert_eq!(run(&setup, &ops, iu.no_rescan()), Outcome::Lost(vec![2]));
}

/// §5, §6: mutator 1, whose stack is not scanned, holds the only pointer to
/// white X, stores it into black A and drops it. A = 1, X = 2.
fn hidden_from_an_unscanned_stack() -> (Setup, Vec<Op>) {
    let setup = scenario(1, &[&[0], &[0]], &[&[1], &[1, 2]]);
    let ops = vec![
        Op::Scan { m: 0 },      // A grey
        Op::Blacken { obj: 1 }, // A black
        store(1, 1, 0, 0),      // mutator 1: A.f = X
        drop_slot(1, 1),        // X off mutator 1's stack
    ];
    (setup, ops)
}

#[test]
fn a_pointer_hidden_from_an_unscanned_stack() {
    use BarrierMode::*;
    let (setup, ops) = hidden_from_an_unscanned_stack();
    for mode in ALL_ON {
        assert_eq!(run(&setup, &ops, Rules::of(mode)), Outcome::Kept, "{mode}");
    }
    for mode in [IncrementalUpdate, Hybrid] {
        let off = Rules::of(mode).barrier_off();
        assert_eq!(run(&setup, &ops, off), Outcome::Lost(vec![2]), "{mode} off");
    }
    // Under SATB's rules the scan before the store shades X, barrier or not...
    let off = Rules::of(Satb).barrier_off();
    assert_eq!(run(&setup, &ops, off), Outcome::Kept);
    // ...and SATB keeps X only because of that scan...
    let late_scan = Rules::of(Satb).no_scan_before_store();
    assert_eq!(run(&setup, &ops, late_scan), Outcome::Lost(vec![2]));
    // ...which is what the hybrid barrier's new-value half replaces.
    let no_new_half = Rules::of(Hybrid).with_barrier(Satb);
    assert_eq!(run(&setup, &ops, no_new_half), Outcome::Lost(vec![2]));
}

/// §7: a mutator whose stack is scanned allocates an object and keeps it
/// only on its stack. Object 1 is unrelated; the new object is 2.
fn allocated_on_a_scanned_stack() -> (Setup, Vec<Op>) {
    let setup = scenario(1, &[&[0]], &[&[]]);
    let ops = vec![Op::Scan { m: 0 }, Op::Alloc { m: 0 }];
    (setup, ops)
}

#[test]
fn allocate_black() {
    use BarrierMode::*;
    let (setup, ops) = allocated_on_a_scanned_stack();
    for mode in ALL_ON {
        assert_eq!(run(&setup, &ops, Rules::of(mode)), Outcome::Kept, "{mode}");
    }
    for mode in [Satb, Hybrid] {
        let white = Rules::of(mode).allocate_white();
        assert_eq!(
            run(&setup, &ops, white),
            Outcome::Lost(vec![2]),
            "{mode} white"
        );
    }
    // Incremental update finds it by the rescan, inside the pause.
    let white = Rules::of(IncrementalUpdate).allocate_white();
    assert_eq!(run(&setup, &ops, white), Outcome::Kept);
}

/// The invariant checks can fail: with the barrier off, the step that
/// breaks each invariant is the one reported.
#[test]
fn the_invariant_checks_catch_the_breaking_step() {
    use BarrierMode::*;
    let (setup, ops) = hidden_in_a_black_object();
    for (mode, step, what) in [
        (IncrementalUpdate, 3, "strong invariant: black 1 -> white 3"), // A.f = X
        (Satb, 4, "weak invariant: black 1 -> unprotected white 3"),    // B.f = null
        (Hybrid, 4, "weak invariant: black 1 -> unprotected white 3"),
    ] {
        let rules = Rules {
            check: Some(mode),
            ..Rules::of(mode).barrier_off()
        };
        assert_eq!(
            run(&setup, &ops, rules),
            Outcome::Broken {
                step,
                why: what.to_string()
            },
            "{mode}"
        );
    }
    let (setup, ops) = hidden_on_a_scanned_stack();
    let rules = Rules {
        check: Some(Hybrid),
        ..Rules::of(Hybrid).barrier_off()
    };
    assert_eq!(
        run(&setup, &ops, rules),
        Outcome::Broken {
            step: 2,
            why: "(L): black stack 0 -> unprotected white 2".to_string()
        }
    );
}

// ---------------------------------------------------------------------------
// Racing stores (§10.9).

fn begin(m: u8, src: u8, dst: u8, field: u8) -> Op {
    Op::Begin { m, src, dst, field }
}

fn finish(m: u8) -> Op {
    Op::Finish { m }
}

/// Runs a race under every mode's rules: nothing is lost, and `overtaken`
/// writes overwrote a value their store's load did not read.
fn every_mode_keeps_everything(setup: &Setup, ops: &[Op], overtaken: usize) {
    for mode in ALL_ON {
        let (outcome, model) = simulate(setup, ops, Rules::of(mode), &mut |_| {});
        assert_eq!(outcome, Outcome::Kept, "{mode}");
        assert_eq!(model.overtaken, overtaken, "{mode}");
    }
}

/// The classic race. O.f holds white X, and mutator 0, whose stack is
/// black, has loaded X. Mutators 0 and 1 store a and b into O.f: both
/// loads read X, then 0 writes a and 1 writes b over it. O = 1, X = 2,
/// a = 3, b = 4.
fn two_stores_race() -> (Setup, Vec<Op>) {
    let setup = scenario(1, &[&[2], &[0], &[0], &[0]], &[&[1, 3], &[1, 4]]);
    let ops = vec![
        Op::Scan { m: 0 }, // O, a grey
        Op::Scan { m: 1 }, // b grey
        load(0, 0, 0),     // X from O.f: stack 0 is [O, a, X]
        begin(0, 1, 0, 0), // mutator 0 loads O.f: X
        begin(1, 1, 0, 0), // mutator 1 loads O.f: X
        finish(0),         // O.f = a over X
        finish(1),         // O.f = b over a, which no load read
    ];
    (setup, ops)
}

#[test]
fn two_racing_stores_lose_no_object() {
    use BarrierMode::*;
    let (setup, ops) = two_stores_race();
    // Mutator 0 wrote between mutator 1's load and its write.
    every_mode_keeps_everything(&setup, &ops, 1);
    // Both stores raced. If neither passes its old value, X is recorded by
    // no one: it is on mutator 0's black stack and in no field.
    for mode in [Satb, Hybrid] {
        let broken = Rules::of(mode).skip_raced_old();
        assert_eq!(run(&setup, &ops, broken), Outcome::Lost(vec![2]), "{mode}");
        let checked = Rules {
            check: Some(mode),
            ..broken
        };
        assert_eq!(
            run(&setup, &ops, checked),
            Outcome::Broken {
                step: 5,
                why: "(L): black stack 0 -> unprotected white 2".to_string()
            },
            "{mode}: the invariant breaks at the first write, whose record of X §10.9 counts on"
        );
    }
    // Incremental update never uses the old value.
    let iu = Rules::of(IncrementalUpdate).skip_raced_old();
    assert_eq!(run(&setup, &ops, iu), Outcome::Kept);
}

/// Three stores race into O.f over white X, which mutator 0 has loaded.
/// Mutator 0 stores a, which it loaded from grey G; it then drops a and
/// loads it back from O.f, before mutator 1's write overtakes it. Mutator
/// 2's write overtakes mutator 1's. No store into O.f records a or b as
/// old, and neither needs it: b was on mutator 1's scanned stack, and a
/// hangs from G by an edge of the snapshot, which records a when it is
/// deleted. O = 1, X = 2, G = 3, a = 4, b = 5, c = 6.
fn three_stores_race() -> (Setup, Vec<Op>) {
    let setup = scenario(
        1,
        &[&[2], &[0], &[4], &[0], &[0], &[0]],
        &[&[1, 3], &[1, 5], &[1, 6]],
    );
    let ops = vec![
        Op::Scan { m: 0 }, // O, G grey
        Op::Scan { m: 1 }, // b grey
        Op::Scan { m: 2 }, // c grey
        load(0, 1, 0),     // a from G.f: stack 0 is [O, G, a]
        load(0, 0, 0),     // X from O.f: [O, G, a, X]
        begin(0, 2, 0, 0), // mutator 0 loads O.f: X
        begin(1, 1, 0, 0), // mutator 1 loads O.f: X
        begin(2, 1, 0, 0), // mutator 2 loads O.f: X
        finish(0),         // O.f = a over X
        drop_slot(0, 2),   // [O, G, X]
        load(0, 0, 0),     // a from O.f: [O, G, X, a]
        finish(1),         // O.f = b over a, which no load read
        finish(2),         // O.f = c over b, which no load read
        delete(0, 1, 0),   // G.f = null over a
    ];
    (setup, ops)
}

#[test]
fn three_racing_stores_lose_no_object() {
    use BarrierMode::*;
    let (setup, ops) = three_stores_race();
    every_mode_keeps_everything(&setup, &ops, 2);
    for mode in [Satb, Hybrid] {
        let broken = Rules::of(mode).skip_raced_old();
        assert_eq!(run(&setup, &ops, broken), Outcome::Lost(vec![2]), "{mode}");
    }
}
