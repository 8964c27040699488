//! The VM's roots, where the collector finds them: one structure shared
//! between the interpreter and its root-scanner callback.
//!
//! The scanner runs while the VM's mutator is stopped at a safepoint or in
//! native state (during an allocation, a poll or a collection the VM asked
//! for), on the collector's thread or on the VM's own, never while the
//! interpreter touches this state. The library wants the scanner `Send`
//! (it may run on the collector's thread), so the state sits in an `Arc`
//! with a wrapper that asserts `Send` and `Sync` (below).

use std::cell::UnsafeCell;
use std::sync::Arc;

use tricolor::raw::{ObjRef, RootScanner, RootVisitor};

use crate::heap::Code;
use crate::value::Value;

/// A call frame.
#[derive(Copy, Clone)]
pub struct Frame {
    /// The closure running (a root: the receiver, not the closure, may be
    /// in slot 0).
    pub closure: ObjRef,
    /// The function's constants.
    pub consts: ObjRef,
    /// Its code.
    pub code: Code,
    /// The next instruction's offset (saved when the frame is not on top).
    pub ip: usize,
    /// The frame's slot 0 in the value stack.
    pub slots: usize,
}

/// A function the compiler is building: its name and constants so far.
#[derive(Default)]
pub struct Compiling {
    pub name: Option<ObjRef>,
    pub constants: Vec<Value>,
}

/// Everything the VM holds that the collector must see.
#[derive(Default)]
pub struct RootState {
    pub stack: Vec<Value>,
    pub frames: Vec<Frame>,
    /// Open upvalues, by stack slot ascending.
    pub open_upvalues: Vec<ObjRef>,
    pub globals: Option<ObjRef>,
    pub init_string: Option<ObjRef>,
    pub compiling: Vec<Compiling>,
    /// Values the VM holds across an allocation outside the stack.
    pub temps: Vec<Value>,
}

impl RootState {
    fn scan(&self, v: &mut RootVisitor<'_>) {
        let vals = self.stack.iter().chain(self.temps.iter());
        let vals = vals.chain(self.compiling.iter().flat_map(|c| c.constants.iter()));
        for val in vals {
            v.visit(val.as_obj());
        }
        for f in &self.frames {
            v.visit(Some(f.closure));
        }
        for &u in &self.open_upvalues {
            v.visit(Some(u));
        }
        for c in &self.compiling {
            v.visit(c.name);
        }
        v.visit(self.globals);
        v.visit(self.init_string);
    }
}

struct Shared(UnsafeCell<RootState>);

// SAFETY: the state is touched by one thread at a time: the interpreter's,
// while its mutator runs, and the scanner's (which may be the collector's
// thread), while the mutator is stopped or in native state. The mutator's
// lock, which the library holds across both, orders the two (module docs).
// The code in frames points into heap objects, readable from any thread.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`.
unsafe impl Sync for Shared {}

/// The VM's handle on its roots.
pub struct Roots(Arc<Shared>);

impl Default for Roots {
    fn default() -> Roots {
        Roots::new()
    }
}

impl Roots {
    pub fn new() -> Roots {
        let st = RootState {
            stack: Vec::with_capacity(crate::vm::STACK_MAX),
            ..RootState::default()
        };
        Roots(Arc::new(Shared(UnsafeCell::new(st))))
    }

    /// The state, for the interpreter. The borrow must end before the VM
    /// next allocates, polls or collects: the scanner reads the state then.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn get(&self) -> &mut RootState {
        // SAFETY: only the interpreter's thread calls this, while its
        // mutator runs (the scanner does not run then), and every caller
        // ends the borrow before its next safepoint (see above); callers
        // take one borrow at a time.
        unsafe { &mut *self.0 .0.get() }
    }

    /// The root-scanner callback reporting this state.
    pub fn scanner(&self) -> RootScanner {
        let shared = Arc::clone(&self.0);
        Box::new(move |v: &mut RootVisitor<'_>| {
            // SAFETY: the scanner runs only while the interpreter is
            // stopped or in native state (module docs), so no `&mut` from
            // `get` is in use.
            let st = unsafe { &*shared.0.get() };
            st.scan(v);
        })
    }
}
