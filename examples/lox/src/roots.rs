//! The VM's roots, where the collector finds them: one structure shared
//! between the interpreter and its root-scanner callback.
//!
//! The scanner runs while the VM's mutator is stopped at a safepoint or in
//! native state (during an allocation, a poll or a collection the VM asked
//! for), on the collector's thread or on the VM's own, never while the
//! interpreter touches this state. The library wants the scanner `Send`
//! (it may run on the collector's thread), so the state sits in an `Arc`
//! with a wrapper that asserts `Send` and `Sync` (below).
//!
//! # The value stack and the frames
//!
//! Both are fixed arrays allocated once and never moved, held by raw
//! pointers: the interpreter keeps the stack top and the top frame in
//! locals (registers) and writes them back here ([`RootState::sp`],
//! [`RootState::frame_count`]) before anything that can reach a safepoint
//! (an allocation, a poll, a collection) or report an error. The scanner
//! reports the slots below `sp` and the closures of the first
//! `frame_count` frames; what lies above them is dead.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::Arc;

use tricolor::raw::{ObjRef, RootScanner, RootVisitor};

use crate::value::Value;

/// Call depth limit (clox's).
pub const FRAMES_MAX: usize = 64;
/// Value stack capacity, in slots. A call is refused ("Stack overflow.")
/// unless the callee's whole verified stack depth fits.
pub const STACK_MAX: usize = FRAMES_MAX * 256;

/// A call frame.
#[derive(Copy, Clone)]
pub struct Frame {
    /// The closure running (a root: the receiver, not the closure, may be
    /// in slot 0).
    pub closure: ObjRef,
    /// The function's constants.
    pub consts: ObjRef,
    /// The next instruction (saved when the frame is not on top, and
    /// before an error is reported); points into the function's code
    /// object, which the closure keeps alive.
    pub ip: *const u8,
    /// The frame's slot 0 in the value stack.
    pub slots: *mut Value,
}

/// A function the compiler is building: its name and constants so far.
#[derive(Default)]
pub struct Compiling {
    pub name: Option<ObjRef>,
    pub constants: Vec<Value>,
}

/// Everything the VM holds that the collector must see.
pub struct RootState {
    /// The value stack's slot 0 (`STACK_MAX` slots, never moved).
    pub stack: *mut Value,
    /// One past the top value, as of the interpreter's last write-back.
    pub sp: *mut Value,
    /// The frames (`FRAMES_MAX`, never moved).
    pub frames: *mut Frame,
    /// Frames in use.
    pub frame_count: usize,
    /// Open upvalues, by stack slot ascending.
    pub open_upvalues: Vec<ObjRef>,
    /// The global variables' values, by index (a heap array).
    pub globals: Option<ObjRef>,
    /// The global variables' names, by index.
    pub global_names: Vec<ObjRef>,
    /// A global's index, by the address of its (interned) name.
    pub global_index: HashMap<usize, u16>,
    pub init_string: Option<ObjRef>,
    pub compiling: Vec<Compiling>,
    /// Values the VM holds across an allocation outside the stack.
    pub temps: Vec<Value>,
}

impl RootState {
    /// The values on the stack.
    pub fn stack_values(&self) -> &[Value] {
        // SAFETY: `stack..sp` lies inside the stack's allocation (the
        // interpreter keeps `sp` between the two ends) and holds values it
        // wrote; the caller is the interpreter's thread, or the scanner
        // while the interpreter is stopped (module docs).
        unsafe { std::slice::from_raw_parts(self.stack, self.stack_len()) }
    }

    /// Values on the stack.
    pub fn stack_len(&self) -> usize {
        // SAFETY: both point into the stack's allocation.
        unsafe { self.sp.offset_from(self.stack) as usize }
    }

    /// The values on the stack, to write.
    pub fn stack_values_mut(&mut self) -> &mut [Value] {
        // SAFETY: as for `stack_values`; `&mut self` makes this the only
        // borrow of the state.
        unsafe { std::slice::from_raw_parts_mut(self.stack, self.stack_len()) }
    }

    /// Pushes a value (the interpreter's slow paths; its loop writes
    /// through its own cursor).
    ///
    /// # Panics
    /// If the stack is full.
    pub fn push(&mut self, v: Value) {
        assert!(self.stack_len() < STACK_MAX, "value stack overflow");
        // SAFETY: `sp` is below the stack's end (checked), inside its
        // allocation.
        unsafe {
            self.sp.write(v);
            self.sp = self.sp.add(1);
        }
    }

    /// Pops the top value.
    ///
    /// # Panics
    /// If the stack is empty.
    pub fn pop(&mut self) -> Value {
        let v = *self.stack_values().last().expect("stack underflow");
        // SAFETY: the stack is not empty, so `sp - 1` is inside it.
        self.sp = unsafe { self.sp.sub(1) };
        v
    }

    /// The value `n` below the top.
    pub fn peek(&self, n: usize) -> Value {
        let s = self.stack_values();
        s[s.len() - 1 - n]
    }

    /// Replaces the value `n` below the top.
    pub fn set_peek(&mut self, n: usize, v: Value) {
        let s = self.stack_values_mut();
        let i = s.len() - 1 - n;
        s[i] = v;
    }

    /// Drops values down to `len`.
    pub fn truncate(&mut self, len: usize) {
        assert!(len <= self.stack_len());
        // SAFETY: `len` is within the stack's values (checked).
        self.sp = unsafe { self.stack.add(len) };
    }

    /// The frames in use.
    pub fn frames(&self) -> &[Frame] {
        // SAFETY: the first `frame_count` frames were written by the
        // interpreter (`frame_count <= FRAMES_MAX`).
        unsafe { std::slice::from_raw_parts(self.frames, self.frame_count) }
    }

    /// Pushes a frame (the slow call path).
    ///
    /// # Panics
    /// If all frames are in use (the caller reports "Stack overflow."
    /// before).
    pub fn push_frame(&mut self, f: Frame) {
        assert!(self.frame_count < FRAMES_MAX, "frame overflow");
        // SAFETY: the frame is inside the array (checked).
        unsafe { self.frames.add(self.frame_count).write(f) };
        self.frame_count += 1;
    }

    /// Empties the stack, the frames and the open upvalues.
    pub fn reset_stack(&mut self) {
        self.sp = self.stack;
        self.frame_count = 0;
        self.open_upvalues.clear();
    }

    fn scan(&self, v: &mut RootVisitor<'_>) {
        let vals = self.stack_values().iter().chain(self.temps.iter());
        let vals = vals.chain(self.compiling.iter().flat_map(|c| c.constants.iter()));
        for val in vals {
            v.visit(val.as_obj());
        }
        for f in self.frames() {
            v.visit(Some(f.closure));
            v.visit(Some(f.consts));
        }
        for &u in self.open_upvalues.iter().chain(self.global_names.iter()) {
            v.visit(Some(u));
        }
        for c in &self.compiling {
            v.visit(c.name);
        }
        v.visit(self.globals);
        v.visit(self.init_string);
    }
}

impl Drop for RootState {
    fn drop(&mut self) {
        // SAFETY: the stack was made by `Box::into_raw` in `Roots::new`,
        // with this length, the frames array by a `Vec` of this capacity;
        // both are freed once, here (a frame needs no drop).
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.stack, STACK_MAX,
            )));
            drop(Vec::from_raw_parts(self.frames, 0, FRAMES_MAX));
        }
    }
}

struct Shared(UnsafeCell<RootState>);

// SAFETY: the state is touched by one thread at a time: the interpreter's,
// while its mutator runs, and the scanner's (which may be the collector's
// thread), while the mutator is stopped or in native state. The mutator's
// lock, which the library holds across both, orders the two (module docs).
// The stack and frames are owned by the state (freed in its `Drop`); the
// code pointers in frames point into heap objects, readable from any
// thread.
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
        let stack = Box::into_raw(vec![Value::NIL; STACK_MAX].into_boxed_slice()) as *mut Value;
        // Frames are written before they are read (`frame_count` says
        // which): the array starts uninitialised.
        let mut frames = std::mem::ManuallyDrop::new(Vec::<Frame>::with_capacity(FRAMES_MAX));
        assert_eq!(frames.capacity(), FRAMES_MAX);
        let frames = frames.as_mut_ptr();
        let st = RootState {
            stack,
            sp: stack,
            frames,
            frame_count: 0,
            open_upvalues: Vec::new(),
            globals: None,
            global_names: Vec::new(),
            global_index: HashMap::new(),
            init_string: None,
            compiling: Vec::new(),
            temps: Vec::new(),
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
