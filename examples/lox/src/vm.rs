//! The interpreter: a stack machine over the compiler's bytecode.

use std::io::Write;

use tricolor::raw::{Heap, ObjRef};

use crate::compiler::{compile, op};
use crate::heap::{Gc, Kind};
use crate::roots::{Frame, RootState, Roots};
use crate::value::{format_number, Value};

/// Call depth limit (clox's).
pub const FRAMES_MAX: usize = 64;
/// Value stack capacity reserved up front.
pub const STACK_MAX: usize = FRAMES_MAX * 256;

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
        let globals = vm.gc.new_table(64);
        vm.rs().globals = Some(globals);
        for (i, name) in NATIVES.iter().enumerate() {
            let n = vm.gc.intern(name.as_bytes());
            vm.push(Value::obj(n));
            let f = vm.gc.new_native(i);
            vm.push(Value::obj(f));
            vm.set_global(n, Value::obj(f));
            vm.rs().stack.clear();
        }
        vm
    }

    #[inline(always)]
    fn rs(&self) -> &mut RootState {
        self.roots.get()
    }

    #[inline(always)]
    fn push(&mut self, v: Value) {
        self.rs().stack.push(v);
    }

    #[inline(always)]
    fn pop(&mut self) -> Value {
        self.rs().stack.pop().expect("stack underflow")
    }

    #[inline(always)]
    fn peek(&self, n: usize) -> Value {
        let s = &self.rs().stack;
        s[s.len() - 1 - n]
    }

    #[inline(always)]
    fn set_peek(&mut self, n: usize, v: Value) {
        let s = &mut self.rs().stack;
        let i = s.len() - 1 - n;
        s[i] = v;
    }

    fn globals(&self) -> ObjRef {
        self.rs().globals.expect("globals exist")
    }

    /// Sets a global; `name` and `v` must be rooted.
    fn set_global(&mut self, name: ObjRef, v: Value) -> bool {
        let g = self.globals();
        let (g2, new) = self.gc.table_set(Some(g), name, v);
        self.rs().globals = Some(g2);
        new
    }

    /// Compiles and runs `src`.
    pub fn interpret(&mut self, src: &[u8]) -> Outcome {
        let Some(f) = compile(src, &mut self.gc, &self.roots, self.err) else {
            return Outcome::CompileError;
        };
        self.push(Value::obj(f));
        let c = self.gc.new_closure(f);
        self.pop();
        self.push(Value::obj(c));
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

    #[cold]
    fn runtime_error(&mut self, msg: &str) -> RuntimeError {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "{msg}");
        let frames = std::mem::take(&mut self.rs().frames);
        for fr in frames.iter().rev() {
            let f = self.gc.closure_fn(fr.closure);
            let line = self.gc.fn_line(f, fr.ip.saturating_sub(1));
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
        let rs = self.rs();
        rs.stack.clear();
        rs.open_upvalues.clear();
        RuntimeError
    }

    // ---- calls -------------------------------------------------------------

    fn call(&mut self, closure: ObjRef, argc: usize) -> Run<()> {
        let f = self.gc.closure_fn(closure);
        let arity = self.gc.fn_arity(f);
        if argc != arity {
            return Err(self.runtime_error(&format!("Expected {arity} arguments but got {argc}.")));
        }
        if self.rs().frames.len() == FRAMES_MAX {
            return Err(self.runtime_error("Stack overflow."));
        }
        let frame = Frame {
            closure,
            consts: self.gc.fn_constants(f),
            code: self.gc.fn_code(f),
            ip: 0,
            slots: self.rs().stack.len() - argc - 1,
        };
        self.rs().frames.push(frame);
        Ok(())
    }

    fn call_value(&mut self, callee: Value, argc: usize) -> Run<()> {
        if let Some(o) = callee.as_obj() {
            match self.gc.kind(o) {
                Kind::Closure => return self.call(o, argc),
                Kind::Bound => {
                    let (receiver, method) = self.gc.bound_parts(o);
                    self.set_peek(argc, Value::obj(receiver));
                    return self.call(method, argc);
                }
                Kind::Class => {
                    // The class is rooted in the callee's slot until the
                    // instance replaces it.
                    let inst = self.gc.new_instance(o);
                    self.set_peek(argc, Value::obj(inst));
                    return match self.gc.class_init(o) {
                        Some(init) => self.call(init, argc),
                        None if argc != 0 => {
                            Err(self
                                .runtime_error(&format!("Expected 0 arguments but got {argc}.")))
                        }
                        None => Ok(()),
                    };
                }
                Kind::Native => {
                    let r = self.call_native(self.gc.native_index(o), argc);
                    let rs = self.rs();
                    let base = rs.stack.len() - argc - 1;
                    rs.stack.truncate(base);
                    rs.stack.push(r);
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

    /// Calls method `name` of `class` on the receiver below the arguments.
    fn invoke_from_class(&mut self, class: ObjRef, name: ObjRef, argc: usize) -> Run<()> {
        let method = self
            .gc
            .class_methods(class)
            .and_then(|t| self.gc.table_get(t, name));
        match method.and_then(Value::as_obj) {
            Some(m) => self.call(m, argc),
            None => Err(self.undefined_property(name)),
        }
    }

    #[cold]
    fn undefined_property(&mut self, name: ObjRef) -> RuntimeError {
        let n = self.gc.str_string(name);
        self.runtime_error(&format!("Undefined property '{n}'."))
    }

    /// Replaces the instance on top of the stack with its method `name`
    /// bound to it.
    fn bind_method(&mut self, class: ObjRef, name: ObjRef) -> Run<()> {
        let method = self
            .gc
            .class_methods(class)
            .and_then(|t| self.gc.table_get(t, name))
            .and_then(Value::as_obj);
        let Some(m) = method else {
            return Err(self.undefined_property(name));
        };
        let receiver = self.peek(0).as_obj().expect("an instance");
        let b = self.gc.new_bound(receiver, m);
        self.set_peek(0, Value::obj(b));
        Ok(())
    }

    // ---- upvalues ----------------------------------------------------------

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
            let v = self.rs().stack[s];
            self.gc.close_upvalue(u, v);
            self.rs().open_upvalues.pop();
        }
    }

    // ---- printing ----------------------------------------------------------

    fn fn_display(&self, f: ObjRef) -> String {
        match self.gc.fn_name(f) {
            None => "<script>".to_string(),
            Some(n) => format!("<fn {}>", self.gc.str_string(n)),
        }
    }

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
        // The top frame's fields, in locals the compiler keeps in
        // registers (a copied `Frame` stayed in memory, and every
        // instruction fetch reloaded its code pointer from there).
        let top = self.rs().frames.last().expect("a frame");
        let (mut code, mut consts, mut closure, mut slots, mut ip) =
            (top.code, top.consts, top.closure, top.slots, top.ip);
        macro_rules! byte {
            () => {{
                let b = code.byte(ip);
                ip += 1;
                b
            }};
        }
        macro_rules! short {
            () => {{
                let hi = byte!() as usize;
                let lo = byte!() as usize;
                hi << 8 | lo
            }};
        }
        macro_rules! constant {
            () => {{
                let k = byte!() as usize;
                self.gc.constant(consts, k)
            }};
        }
        macro_rules! string {
            () => {
                constant!().as_obj().expect("a string constant")
            };
        }
        // Saves the ip in the frame (before anything that may report an
        // error or push a frame).
        macro_rules! save {
            () => {
                self.rs().frames.last_mut().expect("a frame").ip = ip;
            };
        }
        macro_rules! reload {
            () => {{
                let top = self.rs().frames.last().expect("a frame");
                (code, consts, closure, slots, ip) =
                    (top.code, top.consts, top.closure, top.slots, top.ip);
            }};
        }
        macro_rules! binary_num {
            ($f:expr) => {{
                let b = self.peek(0);
                let a = self.peek(1);
                if !a.is_num() || !b.is_num() {
                    save!();
                    return Err(self.runtime_error("Operands must be numbers."));
                }
                let rs = self.rs();
                rs.stack.pop();
                let top = rs.stack.len() - 1;
                rs.stack[top] = $f(a.as_num(), b.as_num());
            }};
        }
        loop {
            match byte!() {
                op::CONSTANT => {
                    let v = constant!();
                    self.push(v);
                }
                op::NIL => self.push(Value::NIL),
                op::TRUE => self.push(Value::TRUE),
                op::FALSE => self.push(Value::FALSE),
                op::POP => {
                    self.pop();
                }
                op::GET_LOCAL => {
                    let s = byte!() as usize;
                    let rs = self.rs();
                    let v = rs.stack[slots + s];
                    rs.stack.push(v);
                }
                op::SET_LOCAL => {
                    let s = byte!() as usize;
                    let v = self.peek(0);
                    self.rs().stack[slots + s] = v;
                }
                op::GET_GLOBAL => {
                    let name = string!();
                    match self.gc.table_get(self.globals(), name) {
                        Some(v) => self.push(v),
                        None => {
                            save!();
                            let n = self.gc.str_string(name);
                            return Err(self.runtime_error(&format!("Undefined variable '{n}'.")));
                        }
                    }
                }
                op::DEFINE_GLOBAL => {
                    let name = string!();
                    let v = self.peek(0);
                    self.set_global(name, v);
                    self.pop();
                }
                op::SET_GLOBAL => {
                    let name = string!();
                    let v = self.peek(0);
                    if self.set_global(name, v) {
                        let g = self.globals();
                        self.gc.table_delete(g, name);
                        save!();
                        let n = self.gc.str_string(name);
                        return Err(self.runtime_error(&format!("Undefined variable '{n}'.")));
                    }
                }
                op::GET_UPVALUE => {
                    let i = byte!() as usize;
                    let u = self.gc.closure_upvalue(closure, i);
                    let v = match self.gc.upvalue_slot(u) {
                        Some(s) => self.rs().stack[s],
                        None => self.gc.upvalue_value(u),
                    };
                    self.push(v);
                }
                op::SET_UPVALUE => {
                    let i = byte!() as usize;
                    let u = self.gc.closure_upvalue(closure, i);
                    let v = self.peek(0);
                    match self.gc.upvalue_slot(u) {
                        Some(s) => self.rs().stack[s] = v,
                        None => self.gc.set_upvalue_value(u, v),
                    }
                }
                op::GET_PROPERTY => {
                    let name = string!();
                    let recv = self.peek(0);
                    let inst = match recv.as_obj() {
                        Some(o) if self.gc.is(o, self.gc.t.instance) => o,
                        _ => {
                            save!();
                            return Err(self.runtime_error("Only instances have properties."));
                        }
                    };
                    if let Some(v) = self.gc.get_field(inst, name) {
                        self.set_peek(0, v);
                    } else {
                        save!();
                        let class = self.gc.instance_class(inst);
                        self.bind_method(class, name)?;
                    }
                }
                op::SET_PROPERTY => {
                    let name = string!();
                    let inst = match self.peek(1).as_obj() {
                        Some(o) if self.gc.is(o, self.gc.t.instance) => o,
                        _ => {
                            save!();
                            return Err(self.runtime_error("Only instances have fields."));
                        }
                    };
                    let v = self.peek(0);
                    self.gc.set_field(inst, name, v);
                    let rs = self.rs();
                    rs.stack.pop();
                    let top = rs.stack.len() - 1;
                    rs.stack[top] = v;
                }
                op::GET_SUPER => {
                    let name = string!();
                    let sup = self.pop().as_obj().expect("a superclass");
                    save!();
                    self.bind_method(sup, name)?;
                }
                op::EQUAL => {
                    let b = self.pop();
                    let a = self.peek(0);
                    self.set_peek(0, Value::bool(a.equals(b)));
                }
                op::GREATER => binary_num!(|a: f64, b: f64| Value::bool(a > b)),
                op::LESS => binary_num!(|a: f64, b: f64| Value::bool(a < b)),
                op::ADD => {
                    let b = self.peek(0);
                    let a = self.peek(1);
                    if a.is_num() && b.is_num() {
                        let rs = self.rs();
                        rs.stack.pop();
                        let top = rs.stack.len() - 1;
                        rs.stack[top] = Value::num(a.as_num() + b.as_num());
                    } else if self.gc.value_is(a, self.gc.t.string)
                        && self.gc.value_is(b, self.gc.t.string)
                    {
                        let mut buf = Vec::new();
                        self.gc.str_bytes(a.as_obj().expect("string"), &mut buf);
                        self.gc.str_bytes(b.as_obj().expect("string"), &mut buf);
                        // Both operands stay on the stack while interning
                        // allocates.
                        let s = self.gc.intern(&buf);
                        self.pop();
                        self.set_peek(0, Value::obj(s));
                    } else {
                        save!();
                        return Err(
                            self.runtime_error("Operands must be two numbers or two strings.")
                        );
                    }
                }
                op::SUBTRACT => binary_num!(|a: f64, b: f64| Value::num(a - b)),
                op::MULTIPLY => binary_num!(|a: f64, b: f64| Value::num(a * b)),
                op::DIVIDE => binary_num!(|a: f64, b: f64| Value::num(a / b)),
                op::NOT => {
                    let v = self.peek(0);
                    self.set_peek(0, Value::bool(v.is_falsey()));
                }
                op::NEGATE => {
                    let v = self.peek(0);
                    if !v.is_num() {
                        save!();
                        return Err(self.runtime_error("Operand must be a number."));
                    }
                    self.set_peek(0, Value::num(-v.as_num()));
                }
                op::PRINT => {
                    let v = self.pop();
                    self.print_value(v);
                }
                op::JUMP => {
                    let off = short!();
                    ip += off;
                }
                op::JUMP_IF_FALSE => {
                    let off = short!();
                    if self.peek(0).is_falsey() {
                        ip += off;
                    }
                }
                op::LOOP => {
                    let off = short!();
                    ip -= off;
                    self.gc.safepoint();
                }
                op::CALL => {
                    let argc = byte!() as usize;
                    save!();
                    let callee = self.peek(argc);
                    self.call_value(callee, argc)?;
                    self.gc.safepoint();
                    reload!();
                }
                op::INVOKE => {
                    let name = string!();
                    let argc = byte!() as usize;
                    save!();
                    let recv = self.peek(argc);
                    let inst = match recv.as_obj() {
                        Some(o) if self.gc.is(o, self.gc.t.instance) => o,
                        _ => return Err(self.runtime_error("Only instances have methods.")),
                    };
                    if let Some(v) = self.gc.get_field(inst, name) {
                        self.set_peek(argc, v);
                        self.call_value(v, argc)?;
                    } else {
                        let class = self.gc.instance_class(inst);
                        self.invoke_from_class(class, name, argc)?;
                    }
                    self.gc.safepoint();
                    reload!();
                }
                op::SUPER_INVOKE => {
                    let name = string!();
                    let argc = byte!() as usize;
                    save!();
                    let sup = self.pop().as_obj().expect("a superclass");
                    self.invoke_from_class(sup, name, argc)?;
                    self.gc.safepoint();
                    reload!();
                }
                op::CLOSURE => {
                    let f = constant!().as_obj().expect("a function");
                    let c = self.gc.new_closure(f);
                    self.push(Value::obj(c));
                    for i in 0..self.gc.fn_upvalues(f) {
                        let is_local = byte!();
                        let index = byte!() as usize;
                        let u = if is_local == 1 {
                            self.capture_upvalue(slots + index)
                        } else {
                            self.gc.closure_upvalue(closure, index)
                        };
                        self.gc.set_closure_upvalue(c, i, u);
                    }
                }
                op::CLOSE_UPVALUE => {
                    let top = self.rs().stack.len() - 1;
                    self.close_upvalues(top);
                    self.pop();
                }
                op::RETURN => {
                    let result = self.pop();
                    self.close_upvalues(slots);
                    let rs = self.rs();
                    rs.frames.pop();
                    if rs.frames.is_empty() {
                        rs.stack.clear();
                        return Ok(());
                    }
                    rs.stack.truncate(slots);
                    rs.stack.push(result);
                    reload!();
                }
                op::CLASS => {
                    let name = string!();
                    let c = self.gc.new_class(name);
                    self.push(Value::obj(c));
                }
                op::INHERIT => {
                    let sup = match self.peek(1).as_obj() {
                        Some(o) if self.gc.is(o, self.gc.t.class) => o,
                        _ => {
                            save!();
                            return Err(self.runtime_error("Superclass must be a class."));
                        }
                    };
                    let sub = self.peek(0).as_obj().expect("a class");
                    self.gc.inherit(sup, sub);
                    self.pop();
                }
                op::METHOD => {
                    let name = string!();
                    let method = self.peek(0);
                    let class = self.peek(1).as_obj().expect("a class");
                    self.gc.class_set_method(class, name, method);
                    if Some(name) == self.rs().init_string {
                        self.gc.set_class_init(class, method.as_obj());
                    }
                    self.pop();
                }
                other => unreachable!("bad opcode {other}"),
            }
        }
    }
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
