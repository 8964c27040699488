//! The input format's building blocks: the barrier modes the header byte
//! names, the bounds on a program, the operand that means null, the reader
//! of the input's bytes and the opcode table (the format is in the module
//! docs).

use tricolor_collector::BarrierMode;

/// The concurrent barrier modes, in the order the header byte names them.
pub const MODES: [BarrierMode; 3] = [
    BarrierMode::Satb,
    BarrierMode::IncrementalUpdate,
    BarrierMode::Hybrid,
];

/// Most operations decoded from one input.
pub const MAX_OPS: usize = 2000;
/// Most allocations per input.
pub const MAX_OBJECTS: usize = 4096;
/// Most large objects per input.
pub const MAX_LARGE: usize = 16;
/// Most bytes allocated per input.
pub const MAX_ALLOC_BYTES: usize = 8 << 20;
/// Most root slots per mutator.
pub const MAX_ROOTS: usize = 32;
/// Most global roots at once (`global` adds no more; a resurrecting
/// finalizer still adds its own).
pub const MAX_GLOBALS: usize = 8;
/// Most `set_finalizer` operations per input.
pub const MAX_FINALIZERS: usize = 64;
/// Most `add_cleanup` operations per input.
pub const MAX_CLEANUPS: usize = 64;
/// Most weak references per input.
pub const MAX_WEAK: usize = 64;
/// Ephemeron tables per program.
pub(super) const TABLES: usize = 2;
/// The operand value for "null" where an operand picks an object.
pub(super) const NULL: u8 = 0xff;

/// The undecoded rest of the input.
pub(super) struct Input<'a>(pub(super) &'a [u8]);

impl Input<'_> {
    pub(super) fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// The next byte, or 0 once the input is used up.
    pub(super) fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
}

/// The operations, by opcode (`b % 32`); see the module docs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Allocate and root an object.
    Alloc,
    /// Store a pointer into a field.
    Link,
    /// Store null into a field.
    Unlink,
    /// Push a root slot.
    Push,
    /// Pop root slots.
    Pop,
    /// Overwrite a root slot.
    Set,
    /// Load a pointer field into a root slot.
    Load,
    /// Poll a safepoint.
    Safepoint,
    /// A native call, toggle how the mutator waits, or detach and attach
    /// again.
    Native,
    /// Add, drop, set or load a global root.
    Global,
    /// Begin a cycle.
    Begin,
    /// Begin a minor cycle (generational heaps; a plain `Begin` otherwise).
    BeginMinor,
    /// Scan one mutator's stack.
    ScanStack,
    /// Scan the global roots.
    ScanGlobals,
    /// Scan grey objects.
    Mark,
    /// Flush the barrier buffers.
    Flush,
    /// Finish the cycle.
    Finish,
    /// Check the model against the heap.
    Check,
    /// Set or clear a finalizer, add or cancel a cleanup.
    Finalizer,
    /// Make or read a weak reference, wait for finalizers, or a collector
    /// step of the specials (ephemeron pass, finalizer stage).
    Weak,
    /// Insert, get or remove an ephemeron entry.
    Ephemeron,
}

/// Opcode `b % 32` → operation.
pub const OPS: [OpKind; 32] = {
    use OpKind::*;
    [
        Alloc,
        Alloc,
        Alloc,
        Alloc,
        Link,
        Link,
        Link,
        Link,
        Unlink,
        Unlink,
        Push,
        Pop,
        Set,
        Load,
        Load,
        Load,
        Safepoint,
        Native,
        Global,
        Begin,
        BeginMinor,
        ScanStack,
        ScanStack,
        ScanGlobals,
        Mark,
        Mark,
        Flush,
        Finish,
        Check,
        Finalizer,
        Weak,
        Ephemeron,
    ]
};
