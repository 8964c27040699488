//! The scheduler: runs a program one operation at a time, a mutator's on
//! its thread and a collector step on its own through a `CycleStepper`, and
//! checks what the heap did against the model.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use tricolor_collector::{
    BarrierMode, CleanupHandle, CycleStepper, EphemeronTable, GlobalRoot, Heap, ObjRef, WeakRef,
};

use super::action::{Action, Resurrect, Step};
use super::checks::Expected;
use super::input::{Input, MAX_OPS, TABLES};
use super::jobs::{lock, Event, FinRead, ObjRead, Resurrecting, Shared};
use super::model::{Model, RecState};
use super::mutator::{mutator_thread, Reply, Req};
use super::object::{canary, Types};
use super::panics::panic_message;

/// A mutator thread, from the scheduler's side.
struct Remote {
    tx: Option<Sender<Req>>,
    rx: Receiver<Reply>,
    /// The mutator's current id (it changes on reattach).
    id: u64,
    thread: Option<JoinHandle<()>>,
}

pub(super) struct Sched {
    mode: BarrierMode,
    types: Types,
    pub(super) model: Model,
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
    pub(super) fn start(
        heap: &Heap,
        mode: BarrierMode,
        types: Types,
        mutators: usize,
        globals: usize,
        generational: bool,
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
            model: Model::new(mutators.len(), globals, generational),
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
    pub(super) fn stop(&mut self) -> Result<(), String> {
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

    pub(super) fn run<'h>(&mut self, heap: &'h Heap, input: &mut Input<'_>) {
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
        self.model.begin_cycle(false);
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
            Action::Begin { minor } => {
                *cycle = Some(if minor {
                    heap.begin_minor_cycle()
                } else {
                    heap.begin_cycle()
                });
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
