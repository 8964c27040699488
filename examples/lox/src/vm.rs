//! The interpreter: a stack machine over the compiler's verified bytecode.
//!
//! # The loop's registers
//!
//! The dispatch loop (`Vm::run`) keeps what every instruction touches in
//! locals the compiler holds in registers: the code cursor (`Ip`), the
//! stack top (`Sp`), the frame's slot 0 (`Slots`), its closure and
//! constants, the frame count. Memory sees them only where it must:
//!
//! - the stack top is written back to the roots (`RootState::sp`) before
//!   anything that can reach a safepoint (an allocation, a poll, a
//!   collection), since the root scanner reports the slots below it;
//! - the code cursor is written back to the frame before a call (the
//!   caller resumes from it) and before an error (the stack trace's lines);
//! - the frame count is kept in the roots at every call and return.
//!
//! Slow paths (natives, classes, bound methods, errors, printing) run on
//! the roots' copy, with bounds checks, and the loop reloads its locals
//! after them.
//!
//! # Why the cursors need no bounds checks
//!
//! Every chunk was verified when it was compiled (`verify`): every path
//! from its first byte reads operands inside the code and ends in
//! `RETURN`, local slots are below the stack depth, and the depth stays
//! between the frame's slot 0 and the function's verified maximum. A frame
//! is pushed only if that maximum fits the stack above its slot 0 (the
//! call paths check it). So a cursor made at a function's first byte and
//! moved as its instructions say stays inside its code, and a stack
//! cursor moved as they say stays inside the stack and above the frame.
//! The cursors' methods rely on exactly that, each in one `unsafe` block.

use std::io::Write;

use tricolor::raw::{Heap, ObjRef};

use crate::compiler::{compile, global_index, op};
use crate::heap::{Gc, Kind, UNDEFINED};
use crate::roots::{Frame, RootState, Roots, FRAMES_MAX, STACK_MAX};
use crate::value::{format_number, Value};

/// How a run ended.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    Ok,
    CompileError,
    RuntimeError,
}

impl Outcome {
    /// The process exit code clox uses.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::CompileError => 65,
            Outcome::RuntimeError => 70,
        }
    }
}

const NATIVES: [&str; 5] = ["clock", "gcCollect", "gcStats", "gcCycles", "gcInterned"];

/// A runtime error already reported.
struct RuntimeError;

type Run<T> = Result<T, RuntimeError>;

// ---- the cursors -------------------------------------------------------------

/// The code cursor: the next byte of a verified chunk (module docs).
#[derive(Copy, Clone)]
struct Ip(*const u8);

impl Ip {
    /// The next byte.
    #[inline(always)]
    fn byte(&mut self) -> u8 {
        // SAFETY: the cursor is at an opcode or operand of a verified
        // chunk that the verifier proved lies inside the code (module
        // docs); the code object is live (its function is reachable from
        // the running frame's closure, a root) and never written again.
        unsafe {
            let b = *self.0;
            self.0 = self.0.add(1);
            b
        }
    }

    /// The next two bytes, big-endian.
    #[inline(always)]
    fn short(&mut self) -> usize {
        let hi = self.byte() as usize;
        hi << 8 | self.byte() as usize
    }

    /// Jumps `off` bytes forward, to an instruction of the chunk.
    #[inline(always)]
    fn forward(&mut self, off: usize) {
        // SAFETY: the verifier proved every jump's target inside the code.
        self.0 = unsafe { self.0.add(off) };
    }

    /// Jumps `off` bytes back, to an instruction of the chunk.
    #[inline(always)]
    fn back(&mut self, off: usize) {
        // SAFETY: the verifier proved every loop's target inside the code.
        self.0 = unsafe { self.0.sub(off) };
    }
}

/// The value-stack cursor: one past the top value (module docs).
#[derive(Copy, Clone)]
struct Sp(*mut Value);

impl Sp {
    #[inline(always)]
    fn push(&mut self, v: Value) {
        // SAFETY: verified code never pushes past the function's verified
        // depth, and the call that pushed the frame checked that depth fits
        // the stack above the frame's slot 0 (module docs).
        unsafe {
            self.0.write(v);
            self.0 = self.0.add(1);
        }
    }

    #[inline(always)]
    fn pop(&mut self) -> Value {
        // SAFETY: verified code never pops below the frame's slot 0, which
        // is inside the stack; the slot holds a value written by a push.
        unsafe {
            self.0 = self.0.sub(1);
            self.0.read()
        }
    }

    /// The value `n` below the top.
    #[inline(always)]
    fn peek(self, n: usize) -> Value {
        // SAFETY: verified code reads only values above the frame's slot 0
        // (the verifier checks each instruction's pops against the depth).
        unsafe { self.0.sub(n + 1).read() }
    }

    /// Replaces the value `n` below the top.
    #[inline(always)]
    fn set(self, n: usize, v: Value) {
        // SAFETY: as for `peek`.
        unsafe { self.0.sub(n + 1).write(v) }
    }

    /// Drops `n` values.
    #[inline(always)]
    fn drop_n(&mut self, n: usize) {
        // SAFETY: as for `pop`.
        self.0 = unsafe { self.0.sub(n) };
    }
}

/// The running frame's slot 0.
#[derive(Copy, Clone)]
struct Slots(*mut Value);

impl Slots {
    #[inline(always)]
    fn get(self, i: usize) -> Value {
        // SAFETY: the verifier proved a local's slot below the stack depth,
        // so it holds a value the frame pushed.
        unsafe { self.0.add(i).read() }
    }

    #[inline(always)]
    fn set(self, i: usize, v: Value) {
        // SAFETY: as for `get`.
        unsafe { self.0.add(i).write(v) }
    }
}

/// What the dispatch does with an opcode it has no arm for: nothing, as
/// none can come (so the compiler drops the jump table's range check).
#[inline(always)]
fn unknown_opcode(op: u8) -> ! {
    debug_assert!(false, "verified: unknown opcode {op}");
    // SAFETY: the verifier refuses a chunk with an unknown opcode on any
    // path from its first byte, and the interpreter follows only such
    // paths (module docs).
    unsafe { std::hint::unreachable_unchecked() }
}

/// Frame `i` of the frames array at `frames`.
#[inline(always)]
fn frame_at(frames: *mut Frame, i: usize) -> Frame {
    debug_assert!(i < FRAMES_MAX);
    // SAFETY: the interpreter passes only the index of a frame in use
    // (below the frame count, at most `FRAMES_MAX`), which a call wrote.
    unsafe { frames.add(i).read() }
}

/// Writes frame `i` (a frame in use, or the next one after the call
/// paths checked the count against `FRAMES_MAX`).
#[inline(always)]
fn set_frame(frames: *mut Frame, i: usize, f: Frame) {
    assert!(i < FRAMES_MAX);
    // SAFETY: `i` is inside the frames array (checked; the check is
    // redundant with the call paths' and costs a compare).
    unsafe { frames.add(i).write(f) }
}

/// Sets the saved code cursor of frame `i` (a frame in use).
#[inline(always)]
fn set_frame_ip(frames: *mut Frame, i: usize, ip: *const u8) {
    debug_assert!(i < FRAMES_MAX);
    // SAFETY: as for `frame_at`.
    unsafe { (*frames.add(i)).ip = ip }
}

/// Values from `from` up to `to` (both in the stack, `from <= to`).
#[inline(always)]
fn slots_between(from: *const Value, to: *const Value) -> usize {
    (to as usize - from as usize) / std::mem::size_of::<Value>()
}

/// A Lox virtual machine: one heap mutator, its roots, its output.
pub struct Vm<'o> {
    gc: Gc,
    roots: Roots,
    out: &'o mut dyn Write,
    err: &'o mut dyn Write,
}

impl Drop for Vm<'_> {
    fn drop(&mut self) {
        self.gc.mutator().set_root_scanner(None);
    }
}

impl<'o> Vm<'o> {
    /// A VM on `heap` (this thread attaches to it), printing to `out` and
    /// reporting errors to `err`.
    pub fn new(heap: &Heap, out: &'o mut dyn Write, err: &'o mut dyn Write) -> Vm<'o> {
        let mut gc = Gc::new(heap);
        let roots = Roots::new();
        gc.mutator().set_root_scanner(Some(roots.scanner()));
        let mut vm = Vm {
            gc,
            roots,
            out,
            err,
        };
        let init = vm.gc.intern(b"init");
        vm.rs().init_string = Some(init);
        for (i, name) in NATIVES.iter().enumerate() {
            let g = global_index(&mut vm.gc, &vm.roots, name.as_bytes()).expect("few globals");
            let f = vm.gc.new_native(i);
            let globals = vm.rs().globals.expect("globals exist");
            vm.gc.set_global(globals, g as usize, Value::obj(f));
        }
        vm
    }

    #[inline(always)]
    fn rs(&self) -> &mut RootState {
        self.roots.get()
    }

    /// Compiles and runs `src`.
    pub fn interpret(&mut self, src: &[u8]) -> Outcome {
        let Some(f) = compile(src, &mut self.gc, &self.roots, self.err) else {
            return Outcome::CompileError;
        };
        self.rs().reset_stack();
        self.rs().push(Value::obj(f));
        let c = self.gc.new_closure(f);
        self.rs().set_peek(0, Value::obj(c));
        if self.call(c, 0).is_err() {
            return Outcome::RuntimeError;
        }
        let r = self.run();
        let _ = self.out.flush();
        match r {
            Ok(()) => Outcome::Ok,
            Err(RuntimeError) => Outcome::RuntimeError,
        }
    }

    // ---- errors ------------------------------------------------------------

    /// Reports a runtime error with the stack trace; the frames' code
    /// cursors and the stack top must be saved.
    #[cold]
    #[inline(never)]
    fn runtime_error(&mut self, msg: &str) -> RuntimeError {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "{msg}");
        let frames = self.rs().frames().to_vec();
        for fr in frames.iter().rev() {
            let f = self.gc.closure_fn(fr.closure);
            let offset = code_offset(self.gc.fn_code(f), fr.ip);
            let line = self.gc.fn_line(f, offset.saturating_sub(1));
            match self.gc.fn_name(f) {
                None => {
                    let _ = writeln!(self.err, "[line {line}] in script");
                }
                Some(n) => {
                    let name = self.gc.str_string(n);
                    let _ = writeln!(self.err, "[line {line}] in {name}()");
                }
            }
        }
        self.rs().reset_stack();
        RuntimeError
    }

    #[cold]
    #[inline(never)]
    fn undefined_property(&mut self, name: ObjRef) -> RuntimeError {
        let n = self.gc.str_string(name);
        self.runtime_error(&format!("Undefined property '{n}'."))
    }

    #[cold]
    #[inline(never)]
    fn undefined_variable(&mut self, index: usize) -> RuntimeError {
        let name = self.rs().global_names[index];
        let n = self.gc.str_string(name);
        self.runtime_error(&format!("Undefined variable '{n}'."))
    }

    #[cold]
    #[inline(never)]
    fn arity_error(&mut self, arity: usize, argc: usize) -> RuntimeError {
        self.runtime_error(&format!("Expected {arity} arguments but got {argc}."))
    }

    // ---- calls (slow paths, on the roots' stack) ---------------------------

    /// Pushes a frame for `closure` called with `argc` arguments (the
    /// stack top and the caller's code cursor are saved).
    fn call(&mut self, closure: ObjRef, argc: usize) -> Run<()> {
        let f = self.gc.closure_fn(closure);
        let counts = self.gc.fn_counts(f);
        if argc != counts.arity {
            return Err(self.arity_error(counts.arity, argc));
        }
        let rs = self.rs();
        let base = rs.stack_len() - argc - 1;
        if rs.frame_count == FRAMES_MAX || base + counts.max_stack > STACK_MAX {
            return Err(self.runtime_error("Stack overflow."));
        }
        let frame = Frame {
            closure,
            consts: self.gc.fn_constants(f),
            ip: self.gc.fn_code(f),
            // SAFETY: `base` is below the stack's length (the callee's slot).
            slots: unsafe { rs.stack.add(base) },
        };
        rs.push_frame(frame);
        Ok(())
    }

    /// Calls any value (the stack top and the caller's code cursor are
    /// saved).
    fn call_value(&mut self, callee: Value, argc: usize) -> Run<()> {
        if let Some(o) = callee.as_obj() {
            match self.gc.kind(o) {
                Kind::Closure => return self.call(o, argc),
                Kind::Bound => {
                    let (receiver, method) = self.gc.bound_parts(o);
                    self.rs().set_peek(argc, Value::obj(receiver));
                    return self.call(method, argc);
                }
                Kind::Class => {
                    // The class is rooted in the callee's slot until the
                    // instance replaces it.
                    let inst = self.gc.new_instance(o);
                    self.rs().set_peek(argc, Value::obj(inst));
                    return match self.gc.class_init(o) {
                        Some(init) => self.call(init, argc),
                        None if argc != 0 => Err(self.arity_error(0, argc)),
                        None => Ok(()),
                    };
                }
                Kind::Native => {
                    let r = self.call_native(self.gc.native_index(o), argc);
                    let rs = self.rs();
                    let base = rs.stack_len() - argc - 1;
                    rs.truncate(base);
                    rs.push(r);
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.runtime_error("Can only call functions and classes."))
    }

    fn call_native(&mut self, index: usize, _argc: usize) -> Value {
        match NATIVES[index] {
            "clock" => Value::num(cpu_seconds()),
            "gcCollect" => {
                self.gc.collect();
                Value::NIL
            }
            "gcStats" => {
                let heap = self.gc.mutator().heap();
                let alloc = self.gc.mutator().heap_alloc();
                let st = heap.stats();
                let s = format!(
                    "cycles {} heap {} bytes {} objects max pause {} us",
                    st.cycles,
                    alloc.bytes,
                    alloc.objects,
                    st.pause_max.as_micros()
                );
                Value::obj(self.gc.intern(s.as_bytes()))
            }
            "gcCycles" => Value::num(self.gc.mutator().heap().stats().cycles as f64),
            _ => Value::num(self.gc.interned_count() as f64),
        }
    }

    /// Replaces the instance on top of the stack with its method `name`
    /// bound to it (the stack top and the code cursor are saved).
    fn bind_method(&mut self, class: ObjRef, name: ObjRef) -> Run<()> {
        let Some(m) = self.gc.find_method(class, name) else {
            return Err(self.undefined_property(name));
        };
        let receiver = self.rs().peek(0).as_obj().expect("an instance");
        let b = self.gc.new_bound(receiver, m);
        self.rs().set_peek(0, Value::obj(b));
        Ok(())
    }

    // ---- upvalues (the stack top is saved) ---------------------------------

    fn capture_upvalue(&mut self, slot: usize) -> ObjRef {
        let open = &self.rs().open_upvalues;
        let mut at = open.len();
        while at > 0 {
            let u = open[at - 1];
            let s = self.gc.upvalue_slot(u).expect("open");
            if s == slot {
                return u;
            }
            if s < slot {
                break;
            }
            at -= 1;
        }
        let u = self.gc.new_upvalue(slot);
        self.rs().open_upvalues.insert(at, u);
        u
    }

    fn close_upvalues(&mut self, from: usize) {
        while let Some(&u) = self.rs().open_upvalues.last() {
            let s = self.gc.upvalue_slot(u).expect("open");
            if s < from {
                break;
            }
            let v = self.rs().stack_values()[s];
            self.gc.close_upvalue(u, v);
            self.rs().open_upvalues.pop();
        }
    }

    /// An open upvalue's stack slot's value.
    fn open_upvalue_get(&self, slot: usize) -> Value {
        self.rs().stack_values()[slot]
    }

    // ---- printing ----------------------------------------------------------

    fn fn_display(&self, f: ObjRef) -> String {
        match self.gc.fn_name(f) {
            None => "<script>".to_string(),
            Some(n) => format!("<fn {}>", self.gc.str_string(n)),
        }
    }

    #[inline(never)]
    fn print_value(&mut self, v: Value) {
        let mut buf = Vec::new();
        if v.is_num() {
            buf.extend_from_slice(format_number(v.as_num()).as_bytes());
        } else if v == Value::NIL {
            buf.extend_from_slice(b"nil");
        } else if v == Value::TRUE {
            buf.extend_from_slice(b"true");
        } else if v == Value::FALSE {
            buf.extend_from_slice(b"false");
        } else if let Some(o) = v.as_obj() {
            match self.gc.kind(o) {
                Kind::String => self.gc.str_bytes(o, &mut buf),
                Kind::Function => buf.extend_from_slice(self.fn_display(o).as_bytes()),
                Kind::Closure => {
                    let f = self.gc.closure_fn(o);
                    buf.extend_from_slice(self.fn_display(f).as_bytes());
                }
                Kind::Bound => {
                    let (_, m) = self.gc.bound_parts(o);
                    let f = self.gc.closure_fn(m);
                    buf.extend_from_slice(self.fn_display(f).as_bytes());
                }
                Kind::Class => self.gc.str_bytes(self.gc.class_name(o), &mut buf),
                Kind::Instance => {
                    let c = self.gc.instance_class(o);
                    self.gc.str_bytes(self.gc.class_name(c), &mut buf);
                    buf.extend_from_slice(b" instance");
                }
                Kind::Native => buf.extend_from_slice(b"<native fn>"),
                Kind::Upvalue => buf.extend_from_slice(b"upvalue"),
                Kind::Other => buf.extend_from_slice(b"<object>"),
            }
        }
        buf.push(b'\n');
        let _ = self.out.write_all(&buf);
    }

    // ---- the loop ----------------------------------------------------------

    fn run(&mut self) -> Run<()> {
        let rs = self.rs();
        let frames = rs.frames;
        let stack = rs.stack;
        let stack_end = stack.wrapping_add(STACK_MAX) as *const Value;
        // The globals array is not replaced while code runs (only the
        // compiler adds globals).
        let globals = rs.globals.expect("globals exist");
        let mut fc = rs.frame_count;
        let mut sp = Sp(rs.sp);
        let top = frame_at(frames, fc - 1);
        let (mut closure, mut consts, mut ip, mut slots) =
            (top.closure, top.consts, Ip(top.ip), Slots(top.slots));

        // Writes the stack top back to the roots (before a safepoint).
        macro_rules! sync {
            () => {
                self.rs().sp = sp.0
            };
        }
        // Writes the stack top and the code cursor back (before a slow
        // path: an error, a call, anything that allocates).
        macro_rules! save {
            () => {{
                sync!();
                set_frame_ip(frames, fc - 1, ip.0);
            }};
        }
        // Reloads the stack top after a slow path.
        macro_rules! resync {
            () => {
                sp = Sp(self.rs().sp)
            };
        }
        // Reloads everything after a slow path that may have pushed a
        // frame.
        macro_rules! reload {
            () => {{
                let rs = self.rs();
                fc = rs.frame_count;
                sp = Sp(rs.sp);
                let top = frame_at(frames, fc - 1);
                (closure, consts, ip, slots) =
                    (top.closure, top.consts, Ip(top.ip), Slots(top.slots));
            }};
        }
        macro_rules! error {
            ($msg:expr) => {{
                save!();
                return Err(self.runtime_error($msg));
            }};
        }
        macro_rules! constant {
            () => {{
                let k = ip.byte() as usize;
                self.gc.constant(consts, k)
            }};
        }
        // A name constant (verified to be a string).
        macro_rules! string {
            () => {
                constant!().as_obj().expect("a string constant")
            };
        }
        macro_rules! poll {
            () => {{
                sync!();
                self.gc.safepoint();
            }};
        }
        // Calls closure `$c` with `$argc` arguments below it.
        macro_rules! call_closure {
            ($c:expr, $argc:expr) => {{
                let c: ObjRef = $c;
                let argc: usize = $argc;
                let f = self.gc.closure_fn(c);
                let counts = self.gc.fn_counts(f);
                if counts.arity != argc {
                    save!();
                    return Err(self.arity_error(counts.arity, argc));
                }
                let base = sp.0.wrapping_sub(argc + 1);
                if fc == FRAMES_MAX || counts.max_stack > slots_between(base, stack_end) {
                    error!("Stack overflow.");
                }
                set_frame_ip(frames, fc - 1, ip.0);
                closure = c;
                consts = self.gc.fn_constants(f);
                ip = Ip(self.gc.fn_code(f));
                slots = Slots(base);
                set_frame(
                    frames,
                    fc,
                    Frame {
                        closure,
                        consts,
                        ip: ip.0,
                        slots: base,
                    },
                );
                fc += 1;
                self.rs().frame_count = fc;
            }};
        }
        macro_rules! binary_num {
            ($f:expr) => {{
                let b = sp.peek(0);
                let a = sp.peek(1);
                if !a.is_num() || !b.is_num() {
                    error!("Operands must be numbers.");
                }
                sp.drop_n(1);
                sp.set(0, $f(a.as_num(), b.as_num()));
            }};
        }
        macro_rules! instance {
            ($v:expr, $msg:expr) => {
                match $v.as_obj() {
                    Some(o) if self.gc.kind(o) == Kind::Instance => o,
                    _ => error!($msg),
                }
            };
        }

        loop {
            match ip.byte() {
                op::CONSTANT => {
                    let v = constant!();
                    sp.push(v);
                }
                op::NIL => sp.push(Value::NIL),
                op::TRUE => sp.push(Value::TRUE),
                op::FALSE => sp.push(Value::FALSE),
                op::POP => sp.drop_n(1),
                op::GET_LOCAL => {
                    let s = ip.byte() as usize;
                    sp.push(slots.get(s));
                }
                op::SET_LOCAL => {
                    let s = ip.byte() as usize;
                    slots.set(s, sp.peek(0));
                }
                op::GET_GLOBAL => {
                    let g = ip.short();
                    let v = self.gc.global(globals, g);
                    if v == UNDEFINED {
                        save!();
                        return Err(self.undefined_variable(g));
                    }
                    sp.push(v);
                }
                op::DEFINE_GLOBAL => {
                    let g = ip.short();
                    let v = sp.pop();
                    self.gc.set_global(globals, g, v);
                }
                op::SET_GLOBAL => {
                    let g = ip.short();
                    if self.gc.global(globals, g) == UNDEFINED {
                        save!();
                        return Err(self.undefined_variable(g));
                    }
                    self.gc.set_global(globals, g, sp.peek(0));
                }
                op::GET_UPVALUE => {
                    let i = ip.byte() as usize;
                    let u = self.gc.closure_upvalue(closure, i);
                    let v = match self.gc.upvalue_slot(u) {
                        Some(s) => {
                            sync!();
                            self.open_upvalue_get(s)
                        }
                        None => self.gc.upvalue_value(u),
                    };
                    sp.push(v);
                }
                op::SET_UPVALUE => {
                    let i = ip.byte() as usize;
                    let u = self.gc.closure_upvalue(closure, i);
                    let v = sp.peek(0);
                    match self.gc.upvalue_slot(u) {
                        Some(s) => {
                            sync!();
                            self.rs().stack_values_mut()[s] = v;
                        }
                        None => self.gc.set_upvalue_value(u, v),
                    }
                }
                op::GET_PROPERTY => {
                    let name = string!();
                    let inst = instance!(sp.peek(0), "Only instances have properties.");
                    if let Some(v) = self.gc.get_field(inst, name) {
                        sp.set(0, v);
                    } else {
                        save!();
                        let class = self.gc.instance_class(inst);
                        self.bind_method(class, name)?;
                        resync!();
                    }
                }
                op::SET_PROPERTY => {
                    let name = string!();
                    let inst = instance!(sp.peek(1), "Only instances have fields.");
                    let v = sp.peek(0);
                    // Setting a new field may allocate: the instance and
                    // the value stay on the stack meanwhile.
                    sync!();
                    self.gc.set_field(inst, name, v);
                    sp.drop_n(1);
                    sp.set(0, v);
                }
                op::GET_SUPER => {
                    let name = string!();
                    let sup = sp.pop().as_obj().expect("a superclass");
                    assert_eq!(self.gc.kind(sup), Kind::Class, "verified: a class");
                    save!();
                    self.bind_method(sup, name)?;
                    resync!();
                }
                op::EQUAL => {
                    let b = sp.pop();
                    let a = sp.peek(0);
                    sp.set(0, Value::bool(a.equals(b)));
                }
                op::GREATER => binary_num!(|a: f64, b: f64| Value::bool(a > b)),
                op::LESS => binary_num!(|a: f64, b: f64| Value::bool(a < b)),
                op::ADD => {
                    let b = sp.peek(0);
                    let a = sp.peek(1);
                    if a.is_num() && b.is_num() {
                        sp.drop_n(1);
                        sp.set(0, Value::num(a.as_num() + b.as_num()));
                    } else if self.gc.value_is(a, Kind::String) && self.gc.value_is(b, Kind::String)
                    {
                        // Both operands stay on the stack while interning
                        // allocates.
                        sync!();
                        let s = self
                            .gc
                            .concat(a.as_obj().expect("string"), b.as_obj().expect("string"));
                        sp.drop_n(1);
                        sp.set(0, Value::obj(s));
                    } else {
                        error!("Operands must be two numbers or two strings.");
                    }
                }
                op::SUBTRACT => binary_num!(|a: f64, b: f64| Value::num(a - b)),
                op::MULTIPLY => binary_num!(|a: f64, b: f64| Value::num(a * b)),
                op::DIVIDE => binary_num!(|a: f64, b: f64| Value::num(a / b)),
                op::NOT => {
                    let v = sp.peek(0);
                    sp.set(0, Value::bool(v.is_falsey()));
                }
                op::NEGATE => {
                    let v = sp.peek(0);
                    if !v.is_num() {
                        error!("Operand must be a number.");
                    }
                    sp.set(0, Value::num(-v.as_num()));
                }
                op::PRINT => {
                    let v = sp.pop();
                    self.print_value(v);
                }
                op::JUMP => {
                    let off = ip.short();
                    ip.forward(off);
                }
                op::JUMP_IF_FALSE => {
                    let off = ip.short();
                    if sp.peek(0).is_falsey() {
                        ip.forward(off);
                    }
                }
                op::LOOP => {
                    let off = ip.short();
                    ip.back(off);
                    poll!();
                }
                op::CALL => {
                    let argc = ip.byte() as usize;
                    let callee = sp.peek(argc);
                    match callee.as_obj() {
                        Some(c) if self.gc.is_closure(c) => call_closure!(c, argc),
                        Some(class) if self.gc.kind(class) == Kind::Class => {
                            // The class stays rooted in the callee's slot
                            // while the instance is allocated.
                            sync!();
                            let inst = self.gc.new_instance(class);
                            sp.set(argc, Value::obj(inst));
                            match self.gc.class_init(class) {
                                Some(init) => call_closure!(init, argc),
                                None if argc != 0 => {
                                    save!();
                                    return Err(self.arity_error(0, argc));
                                }
                                None => {}
                            }
                        }
                        _ => {
                            save!();
                            self.call_value(callee, argc)?;
                            reload!();
                        }
                    }
                    poll!();
                }
                op::INVOKE => {
                    let name = string!();
                    let argc = ip.byte() as usize;
                    let inst = instance!(sp.peek(argc), "Only instances have methods.");
                    let class = self.gc.instance_class(inst);
                    // A field named like a method would shadow it; unless
                    // the class has seen one, a method found is the one.
                    let method = if self.gc.class_shadowed(class) {
                        None
                    } else {
                        self.gc.find_method(class, name)
                    };
                    if let Some(m) = method {
                        call_closure!(m, argc);
                    } else if let Some(v) = self.gc.get_field(inst, name) {
                        sp.set(argc, v);
                        save!();
                        self.call_value(v, argc)?;
                        reload!();
                    } else {
                        match self.gc.find_method(class, name) {
                            Some(m) => call_closure!(m, argc),
                            None => {
                                save!();
                                return Err(self.undefined_property(name));
                            }
                        }
                    }
                    poll!();
                }
                op::SUPER_INVOKE => {
                    let name = string!();
                    let argc = ip.byte() as usize;
                    let sup = sp.pop().as_obj().expect("a superclass");
                    assert_eq!(self.gc.kind(sup), Kind::Class, "verified: a class");
                    match self.gc.find_method(sup, name) {
                        Some(m) => call_closure!(m, argc),
                        None => {
                            save!();
                            return Err(self.undefined_property(name));
                        }
                    }
                    poll!();
                }
                op::CLOSURE => {
                    let f = constant!().as_obj().expect("a function");
                    sync!();
                    let c = self.gc.new_closure(f);
                    sp.push(Value::obj(c));
                    // The closure is rooted on the stack while capturing
                    // allocates upvalues.
                    sync!();
                    let base = slots_between(stack, slots.0);
                    for i in 0..self.gc.fn_counts(f).upvalues {
                        let is_local = ip.byte();
                        let index = ip.byte() as usize;
                        let u = if is_local == 1 {
                            self.capture_upvalue(base + index)
                        } else {
                            self.gc.closure_upvalue(closure, index)
                        };
                        self.gc.set_closure_upvalue(c, i, u);
                    }
                }
                op::CLOSE_UPVALUE => {
                    sync!();
                    let top = slots_between(stack, sp.0) - 1;
                    self.close_upvalues(top);
                    sp.drop_n(1);
                }
                op::RETURN => {
                    let result = sp.pop();
                    if !self.rs().open_upvalues.is_empty() {
                        sync!();
                        self.close_upvalues(slots_between(stack, slots.0));
                    }
                    fc -= 1;
                    self.rs().frame_count = fc;
                    sp = Sp(slots.0);
                    if fc == 0 {
                        sync!();
                        return Ok(());
                    }
                    sp.push(result);
                    let top = frame_at(frames, fc - 1);
                    (closure, consts, ip, slots) =
                        (top.closure, top.consts, Ip(top.ip), Slots(top.slots));
                }
                op::CLASS => {
                    let name = string!();
                    let hint = ip.byte() as usize;
                    sync!();
                    let c = self.gc.new_class(name, hint);
                    sp.push(Value::obj(c));
                }
                op::INHERIT => {
                    let sup = match sp.peek(1).as_obj() {
                        Some(o) if self.gc.kind(o) == Kind::Class => o,
                        _ => error!("Superclass must be a class."),
                    };
                    let sub = sp.peek(0).as_obj().expect("a class");
                    sync!();
                    self.gc.inherit(sup, sub);
                    sp.drop_n(1);
                }
                op::METHOD => {
                    let name = string!();
                    let method = sp.peek(0);
                    let class = sp.peek(1).as_obj().expect("a class");
                    // What calls a method takes it for a closure.
                    assert!(
                        method.as_obj().is_some_and(|m| self.gc.is_closure(m)),
                        "verified: a method is a closure"
                    );
                    sync!();
                    self.gc.class_set_method(class, name, method);
                    if Some(name) == self.rs().init_string {
                        self.gc.set_class_init(class, method.as_obj());
                    }
                    sp.drop_n(1);
                }
                other => unknown_opcode(other),
            }
        }
    }
}

/// The offset of code cursor `ip` from the code's first byte `code`.
fn code_offset(code: *const u8, ip: *const u8) -> usize {
    (ip as usize).saturating_sub(code as usize)
}

/// Processor time of the process in seconds, as C's `clock()` reports it
/// (what clox's `clock()` native returns).
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant every Linux supports.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
