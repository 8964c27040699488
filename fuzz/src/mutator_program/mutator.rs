//! The mutator threads: the requests the scheduler sends them, their
//! replies, and how a thread waits for each request and serves it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use tricolor_collector::{
    CleanupHandle, EphemeronTable, GlobalRoot, Heap, Mutator, ObjRef, SpecialError, WeakRef,
};

use super::action::{Expect, Slot};
use super::checks::{check_object, check_shape, Expected};
use super::jobs::{cleanup_job, finalizer, Resurrecting, Shared};
use super::object::{canary, Kind, Types};
use super::panics::panic_message;

/// How often a mutator waiting running polls its safepoint.
const RUNNING_POLL: Duration = Duration::from_micros(100);

/// A request to a mutator thread.
pub(super) enum Req {
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
pub(super) enum Reply {
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

/// A mutator thread's body: attach, then serve requests until the channel
/// closes or one fails.
pub(super) fn mutator_thread(
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
                .try_alloc(ty, len)
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
