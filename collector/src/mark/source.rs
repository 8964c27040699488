//! Where a pointer was found: a root ([`RootKind`], public, named in
//! checkmark and verifier messages) or a field, a barrier record
//! (`Source`). Every marker carries one with each value it resolves, so a
//! bad pointer is reported with its origin.

use std::fmt;

use crate::descriptor::TypeDescriptor;

/// Where a root came from; named in checkmark and verifier messages.
///
/// ```
/// use tricolor_collector::RootKind;
///
/// assert_eq!(RootKind::Global(0).to_string(), "global root #0");
/// assert_eq!(
///     RootKind::ShadowStack(1, 4).to_string(),
///     "shadow-stack slot 4 of mutator 1"
/// );
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RootKind {
    /// A global root, by slot index.
    Global(usize),
    /// A slot of a mutator's shadow stack: (mutator id, slot).
    ShadowStack(u64, usize),
    /// Reported by a mutator's root scanner: (mutator id, report number).
    Scanner(u64, usize),
    /// A referent of the unreachable finalizable object at this address,
    /// kept for its finalizer (specials §2).
    Finalizer(usize),
    /// An object queued for its finalizer, or a queued cleanup's argument.
    FinalizerQueue,
    /// The argument of a registered cleanup.
    CleanupArg,
    /// An object returned by a weak reference while marking.
    Weak,
    /// The value of an ephemeron entry whose key is reachable.
    Ephemeron,
    /// An old object a mutator's store logged, scanned by a minor cycle
    /// (generation §3).
    Remembered,
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootKind::Global(i) => write!(f, "global root #{i}"),
            RootKind::ShadowStack(m, i) => write!(f, "shadow-stack slot {i} of mutator {m}"),
            RootKind::Scanner(m, i) => write!(f, "root #{i} reported by mutator {m}'s scanner"),
            RootKind::Finalizer(o) => {
                write!(f, "a referent of the finalizable object at {o:#x}")
            }
            RootKind::FinalizerQueue => write!(f, "the finalizer queue"),
            RootKind::CleanupArg => write!(f, "the argument of a cleanup"),
            RootKind::Weak => write!(f, "a weak reference read while marking"),
            RootKind::Ephemeron => write!(f, "an ephemeron entry with a reachable key"),
            RootKind::Remembered => write!(f, "the remembered set (an old object a store logged)"),
        }
    }
}

/// Where a pointer was found, for error messages.
#[derive(Copy, Clone)]
pub(crate) enum Source<'a> {
    Root(RootKind),
    /// A value a mutator's write barrier recorded (an old or new field value).
    Barrier(u64),
    Field {
        obj: usize,
        desc: &'a TypeDescriptor,
        field: Option<usize>,
    },
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Root(r) => write!(f, "{r}"),
            Source::Barrier(m) => write!(f, "a pointer store of mutator {m} (write barrier)"),
            Source::Field {
                obj,
                desc,
                field: Some(i),
            } => write!(f, "field {i} of `{}` object at {obj:#x}", desc.name),
            Source::Field {
                obj,
                desc,
                field: None,
            } => write!(
                f,
                "a referent reported by the trace callback of `{}` object at {obj:#x}",
                desc.name
            ),
        }
    }
}
