//! The finalizers and cleanups a program sets: the gate they wait at, the
//! log they report to, and what they read of their objects (module docs).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

// parking_lot, not std: its locks are compiled with this crate, so
// ThreadSanitizer sees the finalizer thread and the scheduler synchronise
// through them (std's prebuilt locks are invisible to it).
use parking_lot::{Condvar, Mutex};

use tricolor_collector::{GlobalRoot, Mutator, ObjRef, TypeId};

use super::object::{Kind, Types};
use super::panics::panic_message;

/// What the finalizers and cleanups of a program share with the scheduler:
/// the gate they wait at, and the log they report to (module docs).
pub(super) struct Shared {
    gate: Mutex<bool>,
    gate_cv: Condvar,
    pub(super) log: Mutex<Log>,
}

#[derive(Default)]
pub(super) struct Log {
    /// Reports, in the order the jobs ran.
    pub(super) events: Vec<Event>,
    /// The scheduler has stopped reading (the program ended or failed): a
    /// finalizer no longer resurrects, and reports are dropped.
    closed: bool,
}

/// What one finalizer or cleanup reported.
pub(super) enum Event {
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
pub(super) struct ObjRead {
    pub(super) obj: ObjRef,
    pub(super) shape: (TypeId, usize),
    pub(super) canaries: Vec<u64>,
}

/// What a finalizer read: its object, the object's pointer fields, and the
/// object each non-null field points to, in field order.
pub(super) struct FinRead {
    pub(super) obj: ObjRead,
    pub(super) fields: Vec<Option<ObjRef>>,
    pub(super) referents: Vec<ObjRead>,
}

/// How a finalizer resurrects its object (`Resurrect`, with the slot).
pub(super) enum Resurrecting {
    No,
    NewGlobal,
    /// The scheduler holds the root until a `wait` sees it filled; the
    /// finalizer does not keep it (nor, through it, the heap) alive.
    Slot(Weak<GlobalRoot>),
}

pub(super) fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

impl Shared {
    pub(super) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            gate: Mutex::new(false),
            gate_cv: Condvar::new(),
            log: Mutex::default(),
        })
    }

    pub(super) fn set_gate(&self, open: bool) {
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

    pub(super) fn take(&self) -> Vec<Event> {
        std::mem::take(&mut lock(&self.log).events)
    }

    /// The program is over: jobs pass the gate from now on and report to
    /// no one.
    pub(super) fn close(&self) {
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
pub(super) fn finalizer(
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
pub(super) fn cleanup_job(
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
