//! An interpreter whose environments live in the heap: a tiny expression
//! language (numbers, `let`, closures, recursion, mutable cells) evaluated
//! over a chain of `Env` frames, one binding per frame, each pointing at its
//! parent. A closure captures the frame it was made in, and with it the
//! whole chain above.
//!
//! It shows:
//!
//! - a `#[derive(Trace)]` enum (`Value`: a number, a closure or a cell) as a
//!   field of heap objects: enums are traced through a callback, and a
//!   member inside a variant is set through a projection that matches on it;
//! - an evaluator that is collection-safe by construction: every value it
//!   holds across an allocation is a [`Root`] (`Val`), and lookups walk the
//!   chain with plain [`Gc`] handles;
//! - which frames survive a collection: those reachable from a live closure
//!   (weak references to named frames tell), while the frames of finished
//!   calls and unused `let`s are freed (`fib` leaves an empty heap).
//!
//! ```text
//! cargo run --release --example safe_env -- [N]    (computes fib(N), default 22)
//! ```
//!
//! The `TRICOLOR_*` variables apply; `TRICOLOR_GCSTRESS=100` collects at
//! every 100th allocation.

use std::collections::HashMap;

use tricolor::raw::{Config, PacerConfig};
use tricolor::{Gc, Heap, Member, Mutator, Root, Trace, Weak};

// ---- the heap's objects -------------------------------------------------------

/// A value stored in the heap. The variant never changes after allocation;
/// the member inside it is set right after (members start null).
#[derive(Trace)]
enum Value {
    Num(f64),
    Closure(Member<Closure>),
    Cell(Member<Cell>),
}

/// One binding and the frame around it.
#[derive(Trace)]
struct Env {
    parent: Member<Env>,
    name: Sym,
    value: Value,
}

#[derive(Trace)]
struct Closure {
    /// The frame the closure was made in (null: the top level).
    env: Member<Env>,
    /// The closure's code: an index into [`Program::lambdas`].
    lambda: usize,
}

/// A mutable cell: `set` swaps in a new box, so the old value is garbage.
#[derive(Trace)]
struct Cell {
    current: Member<Boxed>,
}

#[derive(Trace)]
struct Boxed {
    value: Value,
}

// ---- values on the interpreter's side --------------------------------------------

/// A value the evaluator holds: rooted, so it survives allocations.
enum Val {
    Num(f64),
    Closure(Root<Closure>),
    Cell(Root<Cell>),
}

impl Val {
    fn dup(&self, m: &Mutator) -> Val {
        match self {
            Val::Num(x) => Val::Num(*x),
            Val::Closure(c) => Val::Closure(c.get(m).root()),
            Val::Cell(c) => Val::Cell(c.get(m).root()),
        }
    }

    /// The heap value to allocate for `self`: its variant, member null.
    fn unfilled(&self) -> Value {
        match self {
            Val::Num(x) => Value::Num(*x),
            Val::Closure(_) => Value::Closure(Member::null()),
            Val::Cell(_) => Value::Cell(Member::null()),
        }
    }

    fn num(&self) -> Result<f64, String> {
        match self {
            Val::Num(x) => Ok(*x),
            _ => Err("expected a number".into()),
        }
    }
}

/// Sets the member of `obj`'s value (selected by `field`) to what `v`
/// holds: the second half of storing a value into a fresh object.
fn fill<T: Trace>(obj: Gc<'_, T>, field: impl Fn(&T) -> &Value, v: &Val) {
    let m = obj.mutator();
    match v {
        Val::Num(_) => {}
        Val::Closure(c) => obj.set(
            |o| match field(o) {
                Value::Closure(c) => c,
                _ => unreachable!("allocated with Val::unfilled"),
            },
            Some(c.get(m)),
        ),
        Val::Cell(c) => obj.set(
            |o| match field(o) {
                Value::Cell(c) => c,
                _ => unreachable!("allocated with Val::unfilled"),
            },
            Some(c.get(m)),
        ),
    }
}

/// Reads `obj`'s value (selected by `field`) into a rooted value.
fn read<T: Trace>(obj: Gc<'_, T>, field: impl Fn(&T) -> &Value) -> Val {
    match field(&obj) {
        Value::Num(x) => Val::Num(*x),
        Value::Closure(_) => {
            let c = obj.get(|o| match field(o) {
                Value::Closure(c) => c,
                _ => unreachable!("variants do not change"),
            });
            Val::Closure(c.expect("set right after allocation").root())
        }
        Value::Cell(_) => {
            let c = obj.get(|o| match field(o) {
                Value::Cell(c) => c,
                _ => unreachable!("variants do not change"),
            });
            Val::Cell(c.expect("set right after allocation").root())
        }
    }
}

// ---- the language -----------------------------------------------------------------

/// An interned name.
type Sym = u32;

#[derive(Clone, Copy, Debug)]
enum Prim {
    Add,
    Sub,
    Mul,
    Lt,
    Eq,
    /// `(cell e)`: a new cell holding `e`.
    NewCell,
    /// `(get c)`
    Get,
    /// `(set c e)`: stores `e`, returns it.
    Set,
    /// `(do e...)`: each in turn, the last one's value.
    Do,
}

enum Expr {
    Num(f64),
    Var(Sym),
    /// `(let (name e) body)`
    Let(Sym, Box<Expr>, Box<Expr>),
    /// `(fn name? (params...) body)`: an index into `Program::lambdas`.
    Fn(usize),
    /// `(if c then else)`: `c` is true unless it is 0.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Prim(Prim, Vec<Expr>),
    Call(Box<Expr>, Vec<Expr>),
}

struct Lambda {
    /// A named lambda binds its own name when called (recursion).
    name: Option<Sym>,
    params: Vec<Sym>,
    body: Expr,
}

#[derive(Default)]
struct Program {
    lambdas: Vec<Lambda>,
    names: Vec<String>,
    ids: HashMap<String, Sym>,
}

enum Sexp {
    Atom(String),
    List(Vec<Sexp>),
}

fn parse_sexp(src: &str) -> Result<Sexp, String> {
    let spaced = src.replace('(', " ( ").replace(')', " ) ");
    let mut tokens = spaced.split_whitespace().peekable();
    fn one<'a>(t: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) -> Result<Sexp, String> {
        match t.next() {
            None => Err("unexpected end of input".into()),
            Some(")") => Err("unexpected `)`".into()),
            Some("(") => {
                let mut items = Vec::new();
                while t.peek() != Some(&")") {
                    items.push(one(t)?);
                }
                t.next();
                Ok(Sexp::List(items))
            }
            Some(a) => Ok(Sexp::Atom(a.to_string())),
        }
    }
    let e = one(&mut tokens)?;
    match tokens.next() {
        None => Ok(e),
        Some(t) => Err(format!("trailing input at `{t}`")),
    }
}

impl Program {
    fn intern(&mut self, name: &str) -> Sym {
        if let Some(&s) = self.ids.get(name) {
            return s;
        }
        let s = self.names.len() as Sym;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), s);
        s
    }

    /// Parses `src` into an expression (lambdas go into `self`).
    fn compile(&mut self, src: &str) -> Result<Expr, String> {
        let s = parse_sexp(src)?;
        self.expr(&s)
    }

    fn expr(&mut self, s: &Sexp) -> Result<Expr, String> {
        let items = match s {
            Sexp::Atom(a) => {
                return Ok(match a.parse::<f64>() {
                    Ok(x) => Expr::Num(x),
                    Err(_) => Expr::Var(self.intern(a)),
                })
            }
            Sexp::List(items) => items,
        };
        let head = match items.first() {
            Some(Sexp::Atom(a)) => a.as_str(),
            Some(Sexp::List(_)) => "",
            None => return Err("empty list".into()),
        };
        let args = &items[1..];
        let prim = match head {
            "+" => Some(Prim::Add),
            "-" => Some(Prim::Sub),
            "*" => Some(Prim::Mul),
            "<" => Some(Prim::Lt),
            "=" => Some(Prim::Eq),
            "cell" => Some(Prim::NewCell),
            "get" => Some(Prim::Get),
            "set" => Some(Prim::Set),
            "do" => Some(Prim::Do),
            _ => None,
        };
        if let Some(p) = prim {
            let args = args
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<_, _>>()?;
            return Ok(Expr::Prim(p, args));
        }
        match (head, args) {
            ("let", [Sexp::List(binding), body]) => match binding.as_slice() {
                [Sexp::Atom(name), init] => Ok(Expr::Let(
                    self.intern(name),
                    Box::new(self.expr(init)?),
                    Box::new(self.expr(body)?),
                )),
                _ => Err("expected (let (name e) body)".into()),
            },
            ("fn", rest) => {
                let (name, params, body) = match rest {
                    [Sexp::Atom(n), Sexp::List(p), b] => (Some(self.intern(n)), p, b),
                    [Sexp::List(p), b] => (None, p, b),
                    _ => return Err("expected (fn name? (params) body)".into()),
                };
                let params = params
                    .iter()
                    .map(|p| match p {
                        Sexp::Atom(a) => Ok(self.intern(a)),
                        Sexp::List(_) => Err("a parameter is a name".to_string()),
                    })
                    .collect::<Result<_, _>>()?;
                let body = self.expr(body)?;
                self.lambdas.push(Lambda { name, params, body });
                Ok(Expr::Fn(self.lambdas.len() - 1))
            }
            ("if", [c, t, e]) => Ok(Expr::If(
                Box::new(self.expr(c)?),
                Box::new(self.expr(t)?),
                Box::new(self.expr(e)?),
            )),
            ("let" | "if", _) => Err(format!("malformed `{head}`")),
            _ => {
                let f = self.expr(&items[0])?;
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<_, _>>()?;
                Ok(Expr::Call(Box::new(f), args))
            }
        }
    }
}

// ---- the evaluator ---------------------------------------------------------------

struct Interp<'p> {
    prog: &'p Program,
    /// Weak references to frames binding the names being watched.
    watched: Vec<(Sym, Weak<Env>)>,
    watch: Vec<Sym>,
    /// Frames allocated, calls made.
    frames: u64,
    calls: u64,
}

impl<'p> Interp<'p> {
    fn new(prog: &'p Program) -> Interp<'p> {
        Interp {
            prog,
            watched: Vec::new(),
            watch: Vec::new(),
            frames: 0,
            calls: 0,
        }
    }

    /// Records a weak reference to every frame that binds `name` from now on.
    fn watch(&mut self, name: &str) {
        self.watch.push(self.prog.ids[name]);
    }

    /// How many frames binding `name` are alive (reachable, or not yet
    /// found unreachable by a collection).
    fn alive(&self, m: &Mutator, name: &str) -> usize {
        let s = self.prog.ids[name];
        self.watched
            .iter()
            .filter(|(n, w)| *n == s && w.get(m).is_some())
            .count()
    }

    /// A new frame binding `name` to `v` under `parent`.
    fn bind(
        &mut self,
        m: &mut Mutator,
        parent: Option<&Root<Env>>,
        name: Sym,
        v: &Val,
    ) -> Root<Env> {
        let frame = m.alloc(Env {
            parent: Member::null(),
            name,
            value: v.unfilled(),
        });
        let f = frame.get(m);
        f.set(|e| &e.parent, parent.map(|p| p.get(m)));
        fill(f, |e| &e.value, v);
        if self.watch.contains(&name) {
            self.watched.push((name, f.weak()));
        }
        self.frames += 1;
        frame
    }

    fn lookup(&self, m: &Mutator, env: Option<&Root<Env>>, name: Sym) -> Result<Val, String> {
        let mut cur = env.map(|e| e.get(m));
        while let Some(frame) = cur {
            if frame.name == name {
                return Ok(read(frame, |e| &e.value));
            }
            cur = frame.get(|e| &e.parent);
        }
        Err(format!(
            "unbound variable `{}`",
            self.prog.names[name as usize]
        ))
    }

    fn eval(&mut self, m: &mut Mutator, e: &Expr, env: Option<&Root<Env>>) -> Result<Val, String> {
        Ok(match e {
            Expr::Num(x) => Val::Num(*x),
            Expr::Var(s) => self.lookup(m, env, *s)?,
            Expr::Let(name, init, body) => {
                let v = self.eval(m, init, env)?;
                let frame = self.bind(m, env, *name, &v);
                return self.eval(m, body, Some(&frame));
            }
            Expr::Fn(lambda) => {
                let c = m.alloc(Closure {
                    env: Member::null(),
                    lambda: *lambda,
                });
                c.get(m).set(|c| &c.env, env.map(|e| e.get(m)));
                Val::Closure(c)
            }
            Expr::If(c, t, f) => {
                let branch = if self.eval(m, c, env)?.num()? != 0.0 {
                    t
                } else {
                    f
                };
                return self.eval(m, branch, env);
            }
            Expr::Prim(p, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(m, a, env)?);
                }
                self.prim(m, *p, vals)?
            }
            Expr::Call(f, args) => {
                let f = self.eval(m, f, env)?;
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(m, a, env)?);
                }
                self.apply(m, &f, vals)?
            }
        })
    }

    fn prim(&mut self, m: &mut Mutator, p: Prim, args: Vec<Val>) -> Result<Val, String> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{p:?} takes {n} arguments, got {}", args.len()))
            }
        };
        let nums =
            |args: &[Val]| -> Result<(f64, f64), String> { Ok((args[0].num()?, args[1].num()?)) };
        Ok(match p {
            Prim::Add | Prim::Sub | Prim::Mul | Prim::Lt | Prim::Eq => {
                arity(2)?;
                let (a, b) = nums(&args)?;
                Val::Num(match p {
                    Prim::Add => a + b,
                    Prim::Sub => a - b,
                    Prim::Mul => a * b,
                    Prim::Lt => f64::from(a < b),
                    _ => f64::from(a == b),
                })
            }
            Prim::NewCell => {
                arity(1)?;
                let cell = m.alloc(Cell {
                    current: Member::null(),
                });
                self.store(m, &cell, &args[0]);
                Val::Cell(cell)
            }
            Prim::Get => {
                arity(1)?;
                let Val::Cell(cell) = &args[0] else {
                    return Err("get: expected a cell".into());
                };
                let boxed = cell.get(m).get(|c| &c.current).expect("cells hold a box");
                read(boxed, |b| &b.value)
            }
            Prim::Set => {
                arity(2)?;
                let Val::Cell(cell) = &args[0] else {
                    return Err("set: expected a cell".into());
                };
                self.store(m, cell, &args[1]);
                args[1].dup(m)
            }
            Prim::Do => match args.into_iter().last() {
                Some(v) => v,
                None => return Err("empty do".into()),
            },
        })
    }

    /// Puts `v` in `cell`, in a new box.
    fn store(&mut self, m: &mut Mutator, cell: &Root<Cell>, v: &Val) {
        let boxed = m.alloc(Boxed {
            value: v.unfilled(),
        });
        let b = boxed.get(m);
        fill(b, |b| &b.value, v);
        cell.get(m).set(|c| &c.current, Some(b));
    }

    /// Calls closure `f` with `args`.
    fn apply(&mut self, m: &mut Mutator, f: &Val, args: Vec<Val>) -> Result<Val, String> {
        let Val::Closure(c) = f else {
            return Err("call of a non-function".into());
        };
        self.calls += 1;
        let closure = c.get(m);
        let lambda = &self.prog.lambdas[closure.lambda];
        if lambda.params.len() != args.len() {
            return Err(format!(
                "a function of {} parameters called with {} arguments",
                lambda.params.len(),
                args.len()
            ));
        }
        let mut env = closure.get(|c| &c.env).map(|e| e.root());
        if let Some(name) = lambda.name {
            env = Some(self.bind(m, env.as_ref(), name, f));
        }
        for (p, a) in lambda.params.iter().zip(&args) {
            env = Some(self.bind(m, env.as_ref(), *p, a));
        }
        self.eval(m, &lambda.body, env.as_ref())
    }
}

// ---- the demonstration ------------------------------------------------------------

fn fib(n: u32) -> f64 {
    let (mut a, mut b) = (0.0, 1.0);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

/// What a run did.
pub struct Summary {
    pub fib: f64,
    pub frames: u64,
    pub calls: u64,
    pub collections: u64,
}

/// Runs the three programs on a heap with `config`, computing `fib(n)`;
/// panics if a check fails.
pub fn run(config: Config, n: u32) -> Summary {
    let heap = Heap::with_config(config);
    let mut m = heap.attach().expect("a fresh thread attaches");
    let mut prog = Program::default();
    let mut frames = 0;
    let mut calls = 0;

    // 1. Recursion: every frame of every call is garbage once it returns.
    let src = format!(
        "(let (fib (fn fib (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))) (fib {n}))"
    );
    let e = prog.compile(&src).expect("the program parses");
    let mut interp = Interp::new(&prog);
    let v = interp.eval(&mut m, &e, None).expect("fib runs");
    assert_eq!(v.num().unwrap(), fib(n));
    (frames, calls) = (frames + interp.frames, calls + interp.calls);
    m.collect();
    assert_eq!(m.heap_alloc().objects, 0, "fib leaves nothing reachable");

    // 2. Closures keep what they capture: `f` captures the frames of `x`
    // and `y` (a closure captures its whole chain); the frame that binds
    // `f` itself, the call frames and `unused` are garbage.
    let src = "(let (x 1) (let (y 2) (let (f (fn (z) (+ x z))) (let (unused (f 10)) f))))";
    let e = prog.compile(src).expect("the program parses");
    let mut interp = Interp::new(&prog);
    for name in ["x", "y", "f", "z", "unused"] {
        interp.watch(name);
    }
    let f = interp.eval(&mut m, &e, None).expect("it runs");
    m.collect();
    assert_eq!(interp.alive(&m, "x"), 1, "captured");
    assert_eq!(interp.alive(&m, "y"), 1, "captured");
    assert_eq!(interp.alive(&m, "f"), 0, "not captured");
    assert_eq!(interp.alive(&m, "z"), 0, "a finished call's frame");
    assert_eq!(interp.alive(&m, "unused"), 0);
    let r = interp.apply(&mut m, &f, vec![Val::Num(41.0)]).unwrap();
    assert_eq!(r.num().unwrap(), 42.0);
    (frames, calls) = (frames + interp.frames, calls + interp.calls);
    drop((f, r));
    m.collect();
    assert_eq!(
        interp.alive(&m, "x") + interp.alive(&m, "y"),
        0,
        "freed with `f`"
    );

    // 3. Counters: closures over mutable cells. The program returns a
    // closure that bumps both counters; it is called from here, with
    // collections in between, and only what it reaches stays.
    let src =
        "(let (make-counter (fn (start) (let (c (cell start)) (fn () (set c (+ (get c) 1))))))
                 (let (a (make-counter 0))
                   (let (b (make-counter 100))
                     (do (a) (a) (b) (fn () (+ (* 1000 (a)) (b)))))))";
    let e = prog.compile(src).expect("the program parses");
    let mut interp = Interp::new(&prog);
    for name in ["make-counter", "start", "c", "a", "b"] {
        interp.watch(name);
    }
    let both = interp.eval(&mut m, &e, None).expect("it runs");
    for i in 0..n.max(3) as u64 {
        m.collect();
        let v = interp.apply(&mut m, &both, Vec::new()).unwrap();
        assert_eq!(v.num().unwrap(), (1000 * (3 + i) + 102 + i) as f64);
    }
    m.collect();
    // Reachable from `both`: the frames of `b`, `a` and `make-counter`, and
    // for each counter the frames of `start` and `c` it captured.
    for (name, frames) in [
        ("make-counter", 1),
        ("a", 1),
        ("b", 1),
        ("start", 2),
        ("c", 2),
    ] {
        assert_eq!(interp.alive(&m, name), frames, "frames binding `{name}`");
    }
    // Seven frames, four closures (make-counter, the two counters, `both`),
    // two cells and the current box of each: nothing else.
    assert_eq!(m.heap_alloc().objects, 7 + 4 + 2 + 2);
    (frames, calls) = (frames + interp.frames, calls + interp.calls);
    drop(both);
    m.collect();
    assert_eq!(m.heap_alloc().objects, 0);

    // An error is reported, not a crash.
    let e = prog.compile("(let (x 1) (+ x nope))").expect("it parses");
    let err = Interp::new(&prog).eval(&mut m, &e, None).err();
    assert_eq!(err.as_deref(), Some("unbound variable `nope`"));

    Summary {
        fib: fib(n),
        frames,
        calls,
        collections: heap.stats().cycles,
    }
}

fn main() {
    let n = match std::env::args().nth(1) {
        Some(a) => a.parse().expect("usage: safe_env [N]"),
        None => 22,
    };
    let config = Config::from_env().unwrap_or_else(|e| {
        eprintln!("safe_env: {e}");
        std::process::exit(2)
    });
    // A small minimum heap, so that the pacer collects during evaluation.
    let config = Config {
        pacer: PacerConfig {
            min_heap: 256 << 10,
            ..config.pacer
        },
        ..config
    };
    let s = run(config, n);
    println!(
        "safe_env: fib({n}) = {}; {} frames allocated over {} calls, {} collections; \
         captured environments kept, the rest freed",
        s.fib, s.frames, s.calls, s.collections
    );
}
