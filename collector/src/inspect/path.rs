//! [`RetainingPath`]: why an object is alive, as a chain from a root
//! (inspect §3). Plain data, built by the walk (`inspect::walk`) with the
//! world stopped; printing it reads nothing from the heap.

use std::fmt;

use crate::descriptor::TypeId;
use crate::mark::source::RootKind;
use crate::object::ObjRef;

/// How a step of a [`RetainingPath`] was reached from the step before it.
///
/// ```
/// use tricolor_collector::{RootKind, Via};
///
/// assert_eq!(Via::FromRoot(RootKind::Global(2)).to_string(), "global root #2");
/// assert_eq!(Via::Field(1).to_string(), "field 1");
/// assert_eq!(Via::TraceCallback.to_string(), "trace callback");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// The first step: a root holds the object.
    FromRoot(RootKind),
    /// A pointer word of the previous object, by payload word index (what
    /// the type descriptor's pointer map names).
    Field(usize),
    /// A referent the previous object's trace callback reported.
    TraceCallback,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::FromRoot(kind) => write!(f, "{kind}"),
            Via::Field(i) => write!(f, "field {i}"),
            Via::TraceCallback => write!(f, "trace callback"),
        }
    }
}

/// One object on a [`RetainingPath`], and how it was reached.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor, Via};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0);
/// m.push_root(Some(a));
/// let path = m.retaining_path(a).expect("rooted");
/// let step = &path.steps()[0];
/// assert_eq!((step.object, step.type_name.as_str()), (a, "Node"));
/// assert!(matches!(step.via, Via::FromRoot(_)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathStep {
    /// The object.
    pub object: ObjRef,
    /// Its type.
    pub ty: TypeId,
    /// Its type's registered name.
    pub type_name: String,
    /// How it was reached: from a root (the first step) or from the
    /// previous step's object.
    pub via: Via,
}

/// A shortest chain of references from a root to an object: the answer to
/// "why is this still alive?". The first step is the object a root holds
/// ([`root`](Self::root) names the root), each later step an object the
/// one before points to, the last the object asked about. Shortest: no
/// root reaches the object in fewer steps (the walk is a breadth-first
/// search from every root at once).
///
/// Its `Display` reads as checkmark's path does:
///
/// ```
/// use tricolor_collector::{Config, Heap, RootKind, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let mut m = heap.attach()?;
/// let (a, b) = (m.alloc(node, 0), m.alloc(node, 0));
/// // SAFETY: both fresh, no safepoint since.
/// unsafe { m.store(a, 0, Some(b)) };
/// let g = heap.add_global(Some(a));
/// let path = m.retaining_path(b).expect("reachable");
/// assert_eq!(path.root(), RootKind::Global(g.index()));
/// assert_eq!((path.len(), path.target()), (2, b));
/// assert_eq!(
///     path.to_string(),
///     format!("global root #{} -> `Node`@{:#x}, field 0 -> `Node`@{:#x}",
///             g.index(), a.addr(), b.addr()),
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainingPath {
    steps: Vec<PathStep>,
}

impl RetainingPath {
    /// A path of `steps`; the first is reached from a root, the others
    /// through fields. Built by the walk only.
    pub(crate) fn new(steps: Vec<PathStep>) -> RetainingPath {
        debug_assert!(matches!(
            steps.first().map(|s| s.via),
            Some(Via::FromRoot(_))
        ));
        RetainingPath { steps }
    }

    /// The root the path starts from.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, RootKind, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// # let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// let g = heap.add_global(Some(a));
    /// assert_eq!(m.retaining_path(a).unwrap().root(), RootKind::Global(g.index()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn root(&self) -> RootKind {
        match self.steps[0].via {
            Via::FromRoot(kind) => kind,
            _ => unreachable!("a retaining path starts at a root"),
        }
    }

    /// The objects from the root's to the target, with how each was
    /// reached.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor, Via};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// # let mut m = heap.attach()?;
    /// let (a, b) = (m.alloc(node, 0), m.alloc(node, 0));
    /// unsafe { m.store(a, 0, Some(b)) }; // SAFETY: both fresh
    /// m.push_root(Some(a));
    /// let path = m.retaining_path(b).unwrap();
    /// let via: Vec<Via> = path.steps().iter().skip(1).map(|s| s.via).collect();
    /// assert_eq!(via, [Via::Field(0)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn steps(&self) -> &[PathStep] {
        &self.steps
    }

    /// How many objects the path holds, root's and target included (at
    /// least 1: the references followed are one fewer).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// # let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// m.push_root(Some(a));
    /// assert_eq!(m.retaining_path(a).unwrap().len(), 1, "the root holds it");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// The object the path leads to.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// # let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// m.push_root(Some(a));
    /// assert_eq!(m.retaining_path(a).unwrap().target(), a);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn target(&self) -> ObjRef {
        self.steps[self.steps.len() - 1].object
    }
}

impl fmt::Display for RetainingPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} -> `{}`@{:#x}", s.via, s.type_name, s.object.addr())?;
        }
        Ok(())
    }
}
