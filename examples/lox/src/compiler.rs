//! The single-pass compiler: a Pratt parser that emits bytecode as it goes.

use std::io::Write;

use tricolor::raw::ObjRef;

use crate::heap::{FnCounts, Gc, Kind};
use crate::roots::{Compiling, Roots};
use crate::scanner::{Scanner, Tk, Token};
use crate::value::Value;
use crate::verify::{verify, Chunk, Const};

/// The instruction set. Operands follow the opcode: `u8` constant, slot,
/// upvalue indices and argument counts, `u16` big-endian global indices
/// and jump offsets; `CLASS` has the class's name constant and its field
/// hint (the distinct property names its body assigns, at most 255).
/// Every chunk is verified (`verify`) before it can run.
pub mod op {
    pub const CONSTANT: u8 = 0;
    pub const NIL: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const FALSE: u8 = 3;
    pub const POP: u8 = 4;
    pub const GET_LOCAL: u8 = 5;
    pub const SET_LOCAL: u8 = 6;
    pub const GET_GLOBAL: u8 = 7;
    pub const DEFINE_GLOBAL: u8 = 8;
    pub const SET_GLOBAL: u8 = 9;
    pub const GET_UPVALUE: u8 = 10;
    pub const SET_UPVALUE: u8 = 11;
    pub const GET_PROPERTY: u8 = 12;
    pub const SET_PROPERTY: u8 = 13;
    pub const GET_SUPER: u8 = 14;
    pub const EQUAL: u8 = 15;
    pub const GREATER: u8 = 16;
    pub const LESS: u8 = 17;
    pub const ADD: u8 = 18;
    pub const SUBTRACT: u8 = 19;
    pub const MULTIPLY: u8 = 20;
    pub const DIVIDE: u8 = 21;
    pub const NOT: u8 = 22;
    pub const NEGATE: u8 = 23;
    pub const PRINT: u8 = 24;
    pub const JUMP: u8 = 25;
    pub const JUMP_IF_FALSE: u8 = 26;
    pub const LOOP: u8 = 27;
    pub const CALL: u8 = 28;
    pub const INVOKE: u8 = 29;
    pub const SUPER_INVOKE: u8 = 30;
    pub const CLOSURE: u8 = 31;
    pub const CLOSE_UPVALUE: u8 = 32;
    pub const RETURN: u8 = 33;
    pub const CLASS: u8 = 34;
    pub const INHERIT: u8 = 35;
    pub const METHOD: u8 = 36;
}

#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    None,
    Assignment,
    Or,
    And,
    Equality,
    Comparison,
    Term,
    Factor,
    Unary,
    Call,
    Primary,
}

impl Prec {
    fn next(self) -> Prec {
        use Prec::*;
        match self {
            None => Assignment,
            Assignment => Or,
            Or => And,
            And => Equality,
            Equality => Comparison,
            Comparison => Term,
            Term => Factor,
            Factor => Unary,
            Unary => Call,
            Call | Primary => Primary,
        }
    }
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum FnKind {
    Script,
    Function,
    Method,
    Initializer,
}

struct Local<'s> {
    name: &'s [u8],
    /// -1 while declared but not yet initialized.
    depth: i32,
    captured: bool,
}

struct FnState<'s> {
    kind: FnKind,
    arity: usize,
    code: Vec<u8>,
    lines: Vec<u32>,
    locals: Vec<Local<'s>>,
    upvalues: Vec<(u8, bool)>,
    depth: i32,
}

struct ClassState<'s> {
    has_super: bool,
    /// The distinct property names the class body assigns.
    fields: Vec<&'s [u8]>,
    /// Where the `CLASS` instruction's field hint is, in the enclosing
    /// function's code.
    hint_at: usize,
}

/// Compiles a script; the top-level function, or `None` after reporting
/// compile errors to `err`.
pub fn compile(src: &[u8], gc: &mut Gc, roots: &Roots, err: &mut dyn Write) -> Option<ObjRef> {
    let mut c = Compiler {
        scanner: Scanner::new(src),
        cur: Token {
            kind: Tk::Eof,
            text: b"",
            line: 1,
        },
        prev: Token {
            kind: Tk::Eof,
            text: b"",
            line: 1,
        },
        had_error: false,
        panic: false,
        fns: Vec::new(),
        classes: Vec::new(),
        gc,
        roots,
        err,
    };
    c.begin_fn(FnKind::Script, None);
    c.advance();
    while !c.matches(Tk::Eof) {
        c.declaration();
    }
    let f = c.end_fn();
    (!c.had_error).then_some(f)
}

struct Compiler<'s, 'v> {
    scanner: Scanner<'s>,
    cur: Token<'s>,
    prev: Token<'s>,
    had_error: bool,
    panic: bool,
    fns: Vec<FnState<'s>>,
    classes: Vec<ClassState<'s>>,
    gc: &'v mut Gc,
    roots: &'v Roots,
    err: &'v mut dyn Write,
}

type ParseFn<'s, 'v> = fn(&mut Compiler<'s, 'v>, bool);

impl<'s, 'v> Compiler<'s, 'v> {
    // ---- tokens and errors -------------------------------------------------

    fn advance(&mut self) {
        self.prev = self.cur;
        loop {
            self.cur = self.scanner.next_token();
            if self.cur.kind != Tk::Error {
                break;
            }
            let msg = String::from_utf8_lossy(self.cur.text).into_owned();
            self.error_at(self.cur, &msg);
        }
    }

    fn check(&self, k: Tk) -> bool {
        self.cur.kind == k
    }

    fn matches(&mut self, k: Tk) -> bool {
        if !self.check(k) {
            return false;
        }
        self.advance();
        true
    }

    fn consume(&mut self, k: Tk, msg: &str) {
        if self.cur.kind == k {
            self.advance();
        } else {
            self.error_at(self.cur, msg);
        }
    }

    fn error(&mut self, msg: &str) {
        self.error_at(self.prev, msg);
    }

    fn error_at(&mut self, t: Token<'s>, msg: &str) {
        if self.panic {
            return;
        }
        self.panic = true;
        let at = match t.kind {
            Tk::Eof => " at end".to_string(),
            Tk::Error => String::new(),
            _ => format!(" at '{}'", String::from_utf8_lossy(t.text)),
        };
        let _ = writeln!(self.err, "[line {}] Error{at}: {msg}", t.line);
        self.had_error = true;
    }

    fn synchronize(&mut self) {
        self.panic = false;
        while self.cur.kind != Tk::Eof {
            if self.prev.kind == Tk::Semicolon {
                return;
            }
            match self.cur.kind {
                Tk::Class
                | Tk::Fun
                | Tk::Var
                | Tk::For
                | Tk::If
                | Tk::While
                | Tk::Print
                | Tk::Return => return,
                _ => self.advance(),
            }
        }
    }

    // ---- emitting ----------------------------------------------------------

    fn f(&mut self) -> &mut FnState<'s> {
        self.fns.last_mut().expect("a function is being compiled")
    }

    fn emit(&mut self, b: u8) {
        let line = self.prev.line;
        let f = self.f();
        f.code.push(b);
        f.lines.push(line);
    }

    fn emit2(&mut self, a: u8, b: u8) {
        self.emit(a);
        self.emit(b);
    }

    fn emit_return(&mut self) {
        if self.f().kind == FnKind::Initializer {
            self.emit2(op::GET_LOCAL, 0);
        } else {
            self.emit(op::NIL);
        }
        self.emit(op::RETURN);
    }

    /// Adds a constant and returns its index. A string (an identifier
    /// or a literal, interned) already in the chunk is reused, so a chunk
    /// names each variable once however often it is used (clox adds one
    /// per use, and cannot compile `benchmark/string_equality.lox`);
    /// numbers are not shared, as in clox.
    fn make_constant(&mut self, v: Value) -> u8 {
        let rs = self.roots.get();
        let consts = &mut rs.compiling.last_mut().expect("compiling").constants;
        if v.is_obj() {
            if let Some(i) = consts.iter().position(|c| c.0 == v.0) {
                return i as u8;
            }
        }
        if consts.len() >= 256 {
            self.error("Too many constants in one chunk.");
            return 0;
        }
        consts.push(v);
        (consts.len() - 1) as u8
    }

    fn emit_constant(&mut self, v: Value) {
        let k = self.make_constant(v);
        self.emit2(op::CONSTANT, k);
    }

    fn emit_jump(&mut self, ins: u8) -> usize {
        self.emit(ins);
        self.emit(0xff);
        self.emit(0xff);
        self.f().code.len() - 2
    }

    fn patch_jump(&mut self, at: usize) {
        let jump = self.f().code.len() - at - 2;
        if jump > u16::MAX as usize {
            self.error("Too much code to jump over.");
        }
        let f = self.f();
        f.code[at] = (jump >> 8) as u8;
        f.code[at + 1] = jump as u8;
    }

    fn emit_loop(&mut self, start: usize) {
        self.emit(op::LOOP);
        let off = self.f().code.len() - start + 2;
        if off > u16::MAX as usize {
            self.error("Loop body too large.");
        }
        self.emit((off >> 8) as u8);
        self.emit(off as u8);
    }

    // ---- functions ---------------------------------------------------------

    fn begin_fn(&mut self, kind: FnKind, name: Option<ObjRef>) {
        self.roots.get().compiling.push(Compiling {
            name,
            constants: Vec::new(),
        });
        let slot0: &'s [u8] = if kind == FnKind::Function || kind == FnKind::Script {
            b""
        } else {
            b"this"
        };
        self.fns.push(FnState {
            kind,
            arity: 0,
            code: Vec::new(),
            lines: Vec::new(),
            locals: vec![Local {
                name: slot0,
                depth: 0,
                captured: false,
            }],
            upvalues: Vec::new(),
            depth: 0,
        });
    }

    /// Finishes the innermost function: allocates its heap object (its
    /// constants stay rooted until it exists).
    fn end_fn(&mut self) -> ObjRef {
        self.emit_return();
        let st = self.fns.pop().expect("compiling");
        let rs = self.roots.get();
        let c = rs.compiling.last().expect("compiling");
        let (name, consts) = (c.name, c.constants.clone());
        let kinds: Vec<Const> = consts
            .iter()
            .map(|v| match v.as_obj().map(|o| (o, self.gc.kind(o))) {
                Some((_, Kind::String)) => Const::String,
                Some((o, Kind::Function)) => Const::Function(self.gc.fn_counts(o).upvalues),
                _ => Const::Other,
            })
            .collect();
        let chunk = Chunk {
            code: &st.code,
            arity: st.arity,
            upvalues: st.upvalues.len(),
            constants: &kinds,
            globals: rs.global_names.len(),
        };
        let max_stack = match verify(&chunk) {
            Ok(n) => n,
            // A chunk with compile errors never runs; one that cannot run
            // (a stack deeper than the VM's) is refused at its call.
            Err(_) if self.had_error => usize::MAX >> 32,
            Err(e) => panic!("the compiler emitted unverifiable bytecode: {e}"),
        };
        let counts = FnCounts {
            arity: st.arity,
            upvalues: st.upvalues.len(),
            max_stack,
        };
        let f = self
            .gc
            .new_function(name, counts, &st.code, &st.lines, &consts);
        self.roots.get().compiling.pop();
        if !self.fns.is_empty() {
            // Rooted as the enclosing function's constant before the
            // caller allocates again.
            let k = self.make_constant(Value::obj(f));
            self.emit2(op::CLOSURE, k);
            for (index, is_local) in st.upvalues {
                self.emit2(is_local as u8, index);
            }
        }
        f
    }

    fn function(&mut self, kind: FnKind) {
        let name = self.gc.intern(self.prev.text);
        self.begin_fn(kind, Some(name));
        self.begin_scope();
        self.consume(Tk::LeftParen, "Expect '(' after function name.");
        if !self.check(Tk::RightParen) {
            loop {
                self.f().arity += 1;
                if self.f().arity > 255 {
                    self.error_at(self.cur, "Can't have more than 255 parameters.");
                }
                let k = self.parse_variable("Expect parameter name.");
                self.define_variable(k);
                if !self.matches(Tk::Comma) {
                    break;
                }
            }
        }
        self.consume(Tk::RightParen, "Expect ')' after parameters.");
        self.consume(Tk::LeftBrace, "Expect '{' before function body.");
        self.block();
        self.end_fn();
    }

    // ---- scopes and variables ----------------------------------------------

    fn begin_scope(&mut self) {
        self.f().depth += 1;
    }

    fn end_scope(&mut self) {
        self.f().depth -= 1;
        loop {
            let f = self.f();
            let Some(l) = f.locals.last() else { break };
            if l.depth <= f.depth {
                break;
            }
            let captured = l.captured;
            f.locals.pop();
            self.emit(if captured { op::CLOSE_UPVALUE } else { op::POP });
        }
    }

    fn identifier_constant(&mut self, name: &[u8]) -> u8 {
        let s = self.gc.intern(name);
        self.make_constant(Value::obj(s))
    }

    fn resolve_local(&mut self, fi: usize, name: &[u8]) -> Option<u8> {
        let pos = self.fns[fi].locals.iter().rposition(|l| l.name == name)?;
        if self.fns[fi].locals[pos].depth == -1 {
            self.error("Can't read local variable in its own initializer.");
        }
        Some(pos as u8)
    }

    fn add_upvalue(&mut self, fi: usize, index: u8, is_local: bool) -> u8 {
        let ups = &self.fns[fi].upvalues;
        if let Some(i) = ups.iter().position(|&u| u == (index, is_local)) {
            return i as u8;
        }
        if ups.len() == 256 {
            self.error("Too many closure variables in function.");
            return 0;
        }
        self.fns[fi].upvalues.push((index, is_local));
        (self.fns[fi].upvalues.len() - 1) as u8
    }

    fn resolve_upvalue(&mut self, fi: usize, name: &[u8]) -> Option<u8> {
        if fi == 0 {
            return None;
        }
        if let Some(local) = self.resolve_local(fi - 1, name) {
            self.fns[fi - 1].locals[local as usize].captured = true;
            return Some(self.add_upvalue(fi, local, true));
        }
        let up = self.resolve_upvalue(fi - 1, name)?;
        Some(self.add_upvalue(fi, up, false))
    }

    fn add_local(&mut self, name: &'s [u8]) {
        if self.f().locals.len() == 256 {
            self.error("Too many local variables in function.");
            return;
        }
        self.f().locals.push(Local {
            name,
            depth: -1,
            captured: false,
        });
    }

    fn declare_variable(&mut self) {
        if self.f().depth == 0 {
            return;
        }
        let name = self.prev.text;
        let f = self.fns.last().expect("compiling");
        let dup = f
            .locals
            .iter()
            .rev()
            .take_while(|l| l.depth == -1 || l.depth >= f.depth)
            .any(|l| l.name == name);
        if dup {
            self.error("Already a variable with this name in this scope.");
        }
        self.add_local(name);
    }

    fn parse_variable(&mut self, msg: &str) -> u16 {
        self.consume(Tk::Identifier, msg);
        self.declare_variable();
        if self.f().depth > 0 {
            return 0;
        }
        let name = self.prev.text;
        self.global(name)
    }

    /// The index of global `name` (a new one if it is not named yet).
    fn global(&mut self, name: &[u8]) -> u16 {
        match global_index(self.gc, self.roots, name) {
            Some(i) => i,
            None => {
                self.error("Too many global variables.");
                0
            }
        }
    }

    /// Emits `ins` with `arg`: one byte, or two for a global index.
    fn emit_arg(&mut self, ins: u8, arg: u16) {
        self.emit(ins);
        if matches!(ins, op::GET_GLOBAL | op::SET_GLOBAL | op::DEFINE_GLOBAL) {
            self.emit((arg >> 8) as u8);
        }
        self.emit(arg as u8);
    }

    fn mark_initialized(&mut self) {
        let f = self.f();
        if f.depth == 0 {
            return;
        }
        let d = f.depth;
        if let Some(l) = f.locals.last_mut() {
            l.depth = d;
        }
    }

    fn define_variable(&mut self, global: u16) {
        if self.f().depth > 0 {
            self.mark_initialized();
            return;
        }
        self.emit_arg(op::DEFINE_GLOBAL, global);
    }

    fn named_variable(&mut self, name: &'s [u8], can_assign: bool) {
        let fi = self.fns.len() - 1;
        let (get, set, arg) = if let Some(i) = self.resolve_local(fi, name) {
            (op::GET_LOCAL, op::SET_LOCAL, i as u16)
        } else if let Some(i) = self.resolve_upvalue(fi, name) {
            (op::GET_UPVALUE, op::SET_UPVALUE, i as u16)
        } else {
            (op::GET_GLOBAL, op::SET_GLOBAL, self.global(name))
        };
        if can_assign && self.matches(Tk::Equal) {
            self.expression();
            self.emit_arg(set, arg);
        } else {
            self.emit_arg(get, arg);
        }
    }

    // ---- declarations and statements ---------------------------------------

    fn declaration(&mut self) {
        if self.matches(Tk::Class) {
            self.class_declaration();
        } else if self.matches(Tk::Fun) {
            let g = self.parse_variable("Expect function name.");
            self.mark_initialized();
            self.function(FnKind::Function);
            self.define_variable(g);
        } else if self.matches(Tk::Var) {
            self.var_declaration();
        } else {
            self.statement();
        }
        if self.panic {
            self.synchronize();
        }
    }

    fn class_declaration(&mut self) {
        self.consume(Tk::Identifier, "Expect class name.");
        let class_name = self.prev;
        let k = self.identifier_constant(class_name.text);
        self.declare_variable();
        let g = if self.f().depth == 0 {
            self.global(class_name.text)
        } else {
            0
        };
        self.emit2(op::CLASS, k);
        self.emit(0);
        let hint_at = self.f().code.len() - 1;
        self.define_variable(g);
        self.classes.push(ClassState {
            has_super: false,
            fields: Vec::new(),
            hint_at,
        });
        if self.matches(Tk::Less) {
            self.consume(Tk::Identifier, "Expect superclass name.");
            self.variable(false);
            if class_name.text == self.prev.text {
                self.error("A class can't inherit from itself.");
            }
            self.begin_scope();
            self.add_local(b"super");
            self.define_variable(0);
            self.named_variable(class_name.text, false);
            self.emit(op::INHERIT);
            self.classes.last_mut().expect("class").has_super = true;
        }
        self.named_variable(class_name.text, false);
        self.consume(Tk::LeftBrace, "Expect '{' before class body.");
        while !self.check(Tk::RightBrace) && !self.check(Tk::Eof) {
            self.consume(Tk::Identifier, "Expect method name.");
            let name = self.prev.text;
            let k = self.identifier_constant(name);
            let kind = if name == b"init" {
                FnKind::Initializer
            } else {
                FnKind::Method
            };
            self.function(kind);
            self.emit2(op::METHOD, k);
        }
        self.consume(Tk::RightBrace, "Expect '}' after class body.");
        self.emit(op::POP);
        let class = self.classes.pop().expect("class");
        self.f().code[class.hint_at] = class.fields.len().min(255) as u8;
        if class.has_super {
            self.end_scope();
        }
    }

    fn var_declaration(&mut self) {
        let g = self.parse_variable("Expect variable name.");
        if self.matches(Tk::Equal) {
            self.expression();
        } else {
            self.emit(op::NIL);
        }
        self.consume(Tk::Semicolon, "Expect ';' after variable declaration.");
        self.define_variable(g);
    }

    fn statement(&mut self) {
        if self.matches(Tk::Print) {
            self.expression();
            self.consume(Tk::Semicolon, "Expect ';' after value.");
            self.emit(op::PRINT);
        } else if self.matches(Tk::For) {
            self.for_statement();
        } else if self.matches(Tk::If) {
            self.if_statement();
        } else if self.matches(Tk::Return) {
            self.return_statement();
        } else if self.matches(Tk::While) {
            self.while_statement();
        } else if self.matches(Tk::LeftBrace) {
            self.begin_scope();
            self.block();
            self.end_scope();
        } else {
            self.expression();
            self.consume(Tk::Semicolon, "Expect ';' after expression.");
            self.emit(op::POP);
        }
    }

    fn block(&mut self) {
        while !self.check(Tk::RightBrace) && !self.check(Tk::Eof) {
            self.declaration();
        }
        self.consume(Tk::RightBrace, "Expect '}' after block.");
    }

    fn if_statement(&mut self) {
        self.consume(Tk::LeftParen, "Expect '(' after 'if'.");
        self.expression();
        self.consume(Tk::RightParen, "Expect ')' after condition.");
        let then_jump = self.emit_jump(op::JUMP_IF_FALSE);
        self.emit(op::POP);
        self.statement();
        let else_jump = self.emit_jump(op::JUMP);
        self.patch_jump(then_jump);
        self.emit(op::POP);
        if self.matches(Tk::Else) {
            self.statement();
        }
        self.patch_jump(else_jump);
    }

    fn while_statement(&mut self) {
        let start = self.f().code.len();
        self.consume(Tk::LeftParen, "Expect '(' after 'while'.");
        self.expression();
        self.consume(Tk::RightParen, "Expect ')' after condition.");
        let exit = self.emit_jump(op::JUMP_IF_FALSE);
        self.emit(op::POP);
        self.statement();
        self.emit_loop(start);
        self.patch_jump(exit);
        self.emit(op::POP);
    }

    fn for_statement(&mut self) {
        self.begin_scope();
        self.consume(Tk::LeftParen, "Expect '(' after 'for'.");
        if self.matches(Tk::Semicolon) {
        } else if self.matches(Tk::Var) {
            self.var_declaration();
        } else {
            self.expression();
            self.consume(Tk::Semicolon, "Expect ';' after expression.");
            self.emit(op::POP);
        }
        let mut start = self.f().code.len();
        let mut exit = None;
        if !self.matches(Tk::Semicolon) {
            self.expression();
            self.consume(Tk::Semicolon, "Expect ';' after loop condition.");
            exit = Some(self.emit_jump(op::JUMP_IF_FALSE));
            self.emit(op::POP);
        }
        if !self.matches(Tk::RightParen) {
            let body_jump = self.emit_jump(op::JUMP);
            let incr = self.f().code.len();
            self.expression();
            self.emit(op::POP);
            self.consume(Tk::RightParen, "Expect ')' after for clauses.");
            self.emit_loop(start);
            start = incr;
            self.patch_jump(body_jump);
        }
        self.statement();
        self.emit_loop(start);
        if let Some(e) = exit {
            self.patch_jump(e);
            self.emit(op::POP);
        }
        self.end_scope();
    }

    fn return_statement(&mut self) {
        if self.f().kind == FnKind::Script {
            self.error("Can't return from top-level code.");
        }
        if self.matches(Tk::Semicolon) {
            self.emit_return();
        } else {
            if self.f().kind == FnKind::Initializer {
                self.error("Can't return a value from an initializer.");
            }
            self.expression();
            self.consume(Tk::Semicolon, "Expect ';' after return value.");
            self.emit(op::RETURN);
        }
    }

    // ---- expressions -------------------------------------------------------

    fn expression(&mut self) {
        self.parse_precedence(Prec::Assignment);
    }

    fn rule(k: Tk) -> (Option<ParseFn<'s, 'v>>, Option<ParseFn<'s, 'v>>, Prec) {
        use Tk::*;
        match k {
            LeftParen => (Some(Self::grouping), Some(Self::call), Prec::Call),
            Dot => (None, Some(Self::dot), Prec::Call),
            Minus => (Some(Self::unary), Some(Self::binary), Prec::Term),
            Plus => (None, Some(Self::binary), Prec::Term),
            Slash | Star => (None, Some(Self::binary), Prec::Factor),
            Bang => (Some(Self::unary), None, Prec::None),
            BangEqual | EqualEqual => (None, Some(Self::binary), Prec::Equality),
            Greater | GreaterEqual | Less | LessEqual => {
                (None, Some(Self::binary), Prec::Comparison)
            }
            Identifier => (Some(Self::variable), None, Prec::None),
            String => (Some(Self::string), None, Prec::None),
            Number => (Some(Self::number), None, Prec::None),
            And => (None, Some(Self::and), Prec::And),
            Or => (None, Some(Self::or), Prec::Or),
            False | True | Nil => (Some(Self::literal), None, Prec::None),
            Super => (Some(Self::super_), None, Prec::None),
            This => (Some(Self::this), None, Prec::None),
            _ => (None, None, Prec::None),
        }
    }

    fn parse_precedence(&mut self, prec: Prec) {
        self.advance();
        let Some(prefix) = Self::rule(self.prev.kind).0 else {
            self.error("Expect expression.");
            return;
        };
        let can_assign = prec <= Prec::Assignment;
        prefix(self, can_assign);
        while prec <= Self::rule(self.cur.kind).2 {
            self.advance();
            if let Some(infix) = Self::rule(self.prev.kind).1 {
                infix(self, can_assign);
            }
        }
        if can_assign && self.matches(Tk::Equal) {
            self.error("Invalid assignment target.");
        }
    }

    fn grouping(&mut self, _: bool) {
        self.expression();
        self.consume(Tk::RightParen, "Expect ')' after expression.");
    }

    fn number(&mut self, _: bool) {
        let text = std::str::from_utf8(self.prev.text).expect("digits are ASCII");
        let n: f64 = text.parse().expect("the scanner checked the digits");
        self.emit_constant(Value::num(n));
    }

    fn string(&mut self, _: bool) {
        let t = self.prev.text;
        let s = self.gc.intern(&t[1..t.len() - 1]);
        self.emit_constant(Value::obj(s));
    }

    fn literal(&mut self, _: bool) {
        match self.prev.kind {
            Tk::False => self.emit(op::FALSE),
            Tk::True => self.emit(op::TRUE),
            _ => self.emit(op::NIL),
        }
    }

    fn variable(&mut self, can_assign: bool) {
        self.named_variable(self.prev.text, can_assign);
    }

    fn this(&mut self, _: bool) {
        if self.classes.is_empty() {
            self.error("Can't use 'this' outside of a class.");
            return;
        }
        self.variable(false);
    }

    fn super_(&mut self, _: bool) {
        match self.classes.last() {
            None => self.error("Can't use 'super' outside of a class."),
            Some(c) if !c.has_super => {
                self.error("Can't use 'super' in a class with no superclass.")
            }
            _ => {}
        }
        self.consume(Tk::Dot, "Expect '.' after 'super'.");
        self.consume(Tk::Identifier, "Expect superclass method name.");
        let name = self.identifier_constant(self.prev.text);
        self.named_variable(b"this", false);
        if self.matches(Tk::LeftParen) {
            let argc = self.argument_list();
            self.named_variable(b"super", false);
            self.emit2(op::SUPER_INVOKE, name);
            self.emit(argc);
        } else {
            self.named_variable(b"super", false);
            self.emit2(op::GET_SUPER, name);
        }
    }

    fn unary(&mut self, _: bool) {
        let k = self.prev.kind;
        self.parse_precedence(Prec::Unary);
        self.emit(if k == Tk::Minus { op::NEGATE } else { op::NOT });
    }

    fn binary(&mut self, _: bool) {
        let k = self.prev.kind;
        self.parse_precedence(Self::rule(k).2.next());
        match k {
            Tk::BangEqual => self.emit2(op::EQUAL, op::NOT),
            Tk::EqualEqual => self.emit(op::EQUAL),
            Tk::Greater => self.emit(op::GREATER),
            Tk::GreaterEqual => self.emit2(op::LESS, op::NOT),
            Tk::Less => self.emit(op::LESS),
            Tk::LessEqual => self.emit2(op::GREATER, op::NOT),
            Tk::Plus => self.emit(op::ADD),
            Tk::Minus => self.emit(op::SUBTRACT),
            Tk::Star => self.emit(op::MULTIPLY),
            _ => self.emit(op::DIVIDE),
        }
    }

    fn and(&mut self, _: bool) {
        let end = self.emit_jump(op::JUMP_IF_FALSE);
        self.emit(op::POP);
        self.parse_precedence(Prec::And);
        self.patch_jump(end);
    }

    fn or(&mut self, _: bool) {
        let else_jump = self.emit_jump(op::JUMP_IF_FALSE);
        let end = self.emit_jump(op::JUMP);
        self.patch_jump(else_jump);
        self.emit(op::POP);
        self.parse_precedence(Prec::Or);
        self.patch_jump(end);
    }

    fn argument_list(&mut self) -> u8 {
        let mut n = 0usize;
        if !self.check(Tk::RightParen) {
            loop {
                self.expression();
                if n == 255 {
                    self.error("Can't have more than 255 arguments.");
                }
                n += 1;
                if !self.matches(Tk::Comma) {
                    break;
                }
            }
        }
        self.consume(Tk::RightParen, "Expect ')' after arguments.");
        n.min(255) as u8
    }

    fn call(&mut self, _: bool) {
        let n = self.argument_list();
        self.emit2(op::CALL, n);
    }

    fn dot(&mut self, can_assign: bool) {
        self.consume(Tk::Identifier, "Expect property name after '.'.");
        let field = self.prev.text;
        let name = self.identifier_constant(field);
        if can_assign && self.matches(Tk::Equal) {
            if let Some(c) = self.classes.last_mut() {
                if !c.fields.contains(&field) {
                    c.fields.push(field);
                }
            }
            self.expression();
            self.emit2(op::SET_PROPERTY, name);
        } else if self.matches(Tk::LeftParen) {
            let n = self.argument_list();
            self.emit2(op::INVOKE, name);
            self.emit(n);
        } else {
            self.emit2(op::GET_PROPERTY, name);
        }
    }
}

/// The index of the global variable `name`, a new one (its value
/// undefined) if no code named it yet; `None` past 65,536 globals.
/// Allocates.
pub fn global_index(gc: &mut Gc, roots: &Roots, name: &[u8]) -> Option<u16> {
    let s = gc.intern(name);
    let rs = roots.get();
    if let Some(&i) = rs.global_index.get(&s.addr()) {
        return Some(i);
    }
    let i = rs.global_names.len();
    let i16 = u16::try_from(i).ok()?;
    // Rooted (by the names) before the next allocation.
    rs.global_names.push(s);
    rs.global_index.insert(s.addr(), i16);
    let old = rs.globals;
    let cap = old.map_or(0, |g| gc.globals_cap(g));
    if i >= cap {
        let new = gc.new_globals(old, i, (2 * cap).max(64));
        roots.get().globals = Some(new);
    }
    Some(i16)
}
