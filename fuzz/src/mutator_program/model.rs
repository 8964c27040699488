//! The model: the scheduler's reference state of the heap, the reachable
//! and alive sets every cycle is checked against, and what the collector may
//! and must have done with each finalizer, cleanup and weak reference
//! (module docs).

use std::collections::BTreeMap;

use super::action::{Action, Expect, Resurrect, Slot};
use super::input::TABLES;
use super::object::Kind;

/// Where a finalizer or cleanup stands in the model.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum RecState {
    Registered,
    /// Cleared (a finalizer) or cancelled (a cleanup).
    Removed,
    Ran,
}

/// A finalizer in the model (numbered in the order they were set).
#[derive(Clone, Debug)]
pub(super) struct FinRec {
    pub(super) obj: u32,
    pub(super) resurrect: Resurrect,
    pub(super) state: RecState,
    /// Maybe queued: may run at the next `wait` (module docs).
    pub(super) maybe: bool,
    /// Must be queued: runs at the next `wait`.
    pub(super) must: bool,
}

/// A cleanup in the model (numbered in the order they were added).
#[derive(Clone, Debug)]
pub(super) struct CleanupRec {
    pub(super) obj: u32,
    pub(super) arg: Option<u32>,
    pub(super) state: RecState,
    pub(super) maybe: bool,
    pub(super) must: bool,
}

/// A weak reference in the model: to `obj` as it was in incarnation `gen`.
#[derive(Clone, Debug)]
pub(super) struct WeakRec {
    pub(super) obj: u32,
    pub(super) gen: u32,
}

/// An object in the model.
#[derive(Clone, Debug)]
pub(super) struct Obj {
    pub(super) kind: Kind,
    /// Pointer fields: model ids.
    pub(super) fields: Vec<Option<u32>>,
    /// Incarnation: how many of its finalizers have run. Weak references
    /// made in an earlier incarnation are cleared for good.
    pub(super) gen: u32,
    /// Known to have been found unreachable in this incarnation: its weak
    /// references yield nothing.
    pub(super) weak_dead: bool,
    /// Its registered finalizer.
    pub(super) fin: Option<usize>,
}

/// The scheduler's model of the heap. Ids are allocation order.
#[derive(Clone, Debug)]
pub(super) struct Model {
    pub(super) mutators: usize,
    pub(super) objects: Vec<Obj>,
    /// Each mutator's shadow stack.
    pub(super) roots: Vec<Vec<Option<u32>>>,
    /// The global roots, in the order they were added (dropping one shifts
    /// the later ones down).
    pub(super) globals: Vec<Option<u32>>,
    pub(super) cycle_open: bool,
    /// Whether each mutator waits for operations running (polling) rather
    /// than in native state.
    pub(super) waits_running: Vec<bool>,
    pub(super) large: usize,
    pub(super) alloc_bytes: usize,
    pub(super) fins: Vec<FinRec>,
    pub(super) cleanups: Vec<CleanupRec>,
    pub(super) weaks: Vec<WeakRec>,
    /// The ephemeron tables: key → value. May hold entries the heap has
    /// dropped, but only with keys outside the reachable set.
    pub(super) tables: [BTreeMap<u32, u32>; TABLES],
    /// While a cycle is open: the objects outside the may-be-rooted set
    /// since it began (module docs: must be queued).
    doomed: Option<Vec<bool>>,
    /// The heap collects generationally (the header's generational bit).
    pub(super) generational: bool,
    /// Objects allocated before the last cycle ended (ids below this): they
    /// survived it, if they are alive.
    young_from: usize,
    /// Objects allocated before the cycle before the last one ended (ids
    /// below this) have survived two cycles, if they are alive.
    old_below: usize,
    /// The heap makes objects old at their second survival only
    /// (`Tenure::SecondSurvival`): then only objects below `old_below` may
    /// be old. Otherwise (`FirstSurvival`, or `Adaptive`, which may choose
    /// either) every object below `young_from` may be, as far as the model
    /// can tell. A minor cycle does not free an object that may be old,
    /// dead or not.
    pub(super) tenure_second: bool,
    /// The open cycle was begun as a minor one.
    minor_open: bool,
}

impl Model {
    pub(super) fn new(mutators: usize, globals: usize, generational: bool) -> Model {
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
            generational,
            young_from: 0,
            old_below: 0,
            tenure_second: false,
            minor_open: false,
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
    pub(super) fn accessible(&self, m: usize) -> Vec<u32> {
        let own = self.roots[m].iter().flatten();
        self.closure(own.chain(self.globals.iter().flatten()).copied())
    }

    /// The objects `m` can reach that have pointer fields.
    pub(super) fn holders(&self, m: usize) -> Vec<u32> {
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
    pub(super) fn live(&self) -> Vec<bool> {
        self.closure_eph(self.strong_roots())
    }

    /// Everything the heap may root: the reachable set and the objects
    /// whose finalizer may be queued (the queue and the finalizer thread
    /// root them), as flags by id.
    fn upper(&self) -> Vec<bool> {
        self.closure_eph(self.upper_roots())
    }

    /// The roots of [`upper`](Self::upper).
    fn upper_roots(&self) -> Vec<u32> {
        let mut roots = self.strong_roots();
        for f in &self.fins {
            if f.state == RecState::Registered && f.maybe {
                roots.push(f.obj);
            }
        }
        roots
    }

    /// The reachable set: what every cycle marks, sorted.
    pub(super) fn reachable(&self) -> Vec<u32> {
        ids(&self.live())
    }

    /// The alive set: the reachable set and the objects with a registered
    /// finalizer, sorted.
    pub(super) fn alive(&self) -> Vec<u32> {
        let mut live = self.live();
        for f in &self.fins {
            if f.state == RecState::Registered {
                live[f.obj as usize] = true;
            }
        }
        ids(&live)
    }

    /// The registered cleanups of `obj`.
    fn cleanups_of(&self, obj: u32) -> impl Iterator<Item = usize> + '_ {
        self.cleanups
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.obj == obj && c.state == RecState::Registered)
            .map(|(i, _)| i)
    }

    pub(super) fn put(&mut self, m: usize, slot: Slot, value: Option<u32>) {
        match slot {
            Slot::Push => self.roots[m].push(value),
            Slot::Set(i) => self.roots[m][i] = value,
        }
    }

    /// What a `get` of weak reference `weak` must yield.
    pub(super) fn weak_expect(&self, weak: usize) -> Expect {
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
    /// unreachable by this cycle, unless it is reached again during it. In
    /// a `minor` cycle an object that may be old (`tenure_second`) is not
    /// freed, dead or not, and neither is what it points
    /// to (an old object that got a pointer to a young one is remembered,
    /// and scanned); so there the doomed are the objects outside the
    /// closure of the roots and every object that may be old. A cycle begun
    /// as minor may run as a major one (the last sweep cleared the marks);
    /// what it then finds dead the model allows as "maybe".
    pub(super) fn begin_cycle(&mut self, minor: bool) {
        self.cycle_open = true;
        self.minor_open = minor;
        let kept = if minor {
            let mut roots = self.upper_roots();
            let old = if self.tenure_second {
                self.old_below
            } else {
                self.young_from
            };
            roots.extend(0..old as u32);
            self.closure_eph(roots)
        } else {
            self.upper()
        };
        self.doomed = Some(kept.into_iter().map(|u| !u).collect());
    }

    /// `finish`: what the cycle may, and must, have found unreachable.
    pub(super) fn finish_cycle(&mut self) {
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
        // Everything allocated so far survived this cycle or is dead; what
        // survived the last one too may be old now.
        self.old_below = self.young_from;
        self.young_from = self.objects.len();
        self.minor_open = false;
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
    pub(super) fn cancelled(&mut self, action: &Action, got: bool) {
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
    pub(super) fn weak_got(&mut self, action: &Action, got: bool) {
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
    pub(super) fn finalized(&mut self, rec: usize) {
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
    pub(super) fn cleaned(&mut self, cleanup: usize) {
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
    pub(super) fn end_wait(&mut self) {
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
    pub(super) fn table_bounds(&self, t: usize, live: &[bool]) -> (usize, usize) {
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
