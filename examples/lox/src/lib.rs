//! A bytecode VM for Lox, the language of Robert Nystrom's *Crafting
//! Interpreters* (part III: a single-pass compiler to bytecode and a stack
//! VM with closures, classes, inheritance and `super`), whose every object
//! lives in tricolor's heap.
//!
//! | module | what |
//! |---|---|
//! | `value` | NaN-boxed values, and the `decode` the traced types use |
//! | `heap` | the object layer: layouts, allocation, fields, tables, the weak intern table |
//! | `roots` | the VM's roots and the root-scanner callback |
//! | `scanner`, `compiler` | source to bytecode |
//! | `verify` | the bytecode verifier the interpreter's unchecked reads rely on |
//! | `vm` | the interpreter |
//!
//! ```
//! use tricolor::raw::{Config, Heap};
//!
//! let heap = Heap::new(Config::default());
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let outcome = lox::run(&heap, b"print 1 + 2;", &mut out, &mut err);
//! assert_eq!(outcome, lox::Outcome::Ok);
//! assert_eq!(out, b"3\n");
//! ```
#![warn(missing_docs)]

#[allow(missing_docs)]
pub mod compiler;
#[allow(missing_docs)]
pub mod heap;
#[allow(missing_docs)]
pub mod roots;
#[allow(missing_docs)]
pub mod scanner;
pub mod value;
#[allow(missing_docs)]
pub mod verify;
#[allow(missing_docs)]
pub mod vm;

use std::io::Write;

use tricolor::raw::Heap;
pub use vm::{Outcome, Vm};

/// Runs a Lox program on `heap`, printing to `out` and reporting errors to
/// `err` as clox does.
pub fn run(heap: &Heap, src: &[u8], out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
    let mut vm = Vm::new(heap, out, err);
    vm.interpret(src)
}
