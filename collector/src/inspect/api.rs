//! What a VM calls (inspect §1): [`Heap::retaining_path`],
//! [`Heap::write_heap_snapshot`] and their [`Mutator`] forms, and
//! [`InspectError`]. Each queues a request, forces a cycle and waits for
//! it; the collector answers at that cycle's mark termination.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use parking_lot::Mutex;

use super::request::{BadTarget, Inspection, Reply};
use super::snapshot::{self, SnapshotSummary};
use super::RetainingPath;
use crate::events::assert_not_in_callback;
use crate::heap::inner::{CollectError, Heap, HeapInner};
use crate::mutator::state::running_here;
use crate::mutator::Mutator;
use crate::object::ObjRef;

/// Why [`Heap::try_retaining_path`] could not answer.
///
/// ```
/// use tricolor_collector::{Config, Heap, InspectError, ObjRef};
///
/// let heap = Heap::new(Config::default());
/// let stray = ObjRef::from_addr(0x1000).unwrap();
/// let err = heap.try_retaining_path(stray).unwrap_err();
/// assert_eq!(err, InspectError::NotInHeap { addr: 0x1000 });
/// assert!(err.to_string().contains("not an object of this heap"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InspectError {
    /// The address is not inside this heap: another heap's object, or no
    /// heap pointer at all.
    NotInHeap {
        /// The address given.
        addr: usize,
    },
    /// The address points inside an object, not at its start.
    Interior {
        /// The address given.
        addr: usize,
        /// The start of the object it points into.
        base: usize,
    },
    /// The address is a free slot: its object was collected before the
    /// inspection's cycle (an `ObjRef` kept unrooted across a collection).
    Freed {
        /// The address given.
        addr: usize,
    },
    /// The cycle that was to answer failed (or an earlier one had).
    Collect(CollectError),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::NotInHeap { addr } => write!(
                f,
                "tricolor: retaining_path: {addr:#x} is not an object of this heap \
                 (another heap's object, or not a heap pointer)"
            ),
            InspectError::Interior { addr, base } => write!(
                f,
                "tricolor: retaining_path: {addr:#x} points inside the object at {base:#x}, \
                 not at its start; pass the object's own reference"
            ),
            InspectError::Freed { addr } => write!(
                f,
                "tricolor: retaining_path: {addr:#x} is a free slot: its object was already \
                 collected (a reference kept unrooted across a collection)"
            ),
            InspectError::Collect(e) => write!(f, "tricolor: retaining_path: {e}"),
        }
    }
}

impl std::error::Error for InspectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InspectError::Collect(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BadTarget> for InspectError {
    fn from(b: BadTarget) -> InspectError {
        match b {
            BadTarget::Foreign(addr) => InspectError::NotInHeap { addr },
            BadTarget::Interior { addr, base } => InspectError::Interior { addr, base },
            BadTarget::Freed(addr) => InspectError::Freed { addr },
        }
    }
}

/// Queues the inspection `make` builds, forces a cycle, waits for it (the
/// caller is not a running mutator) and returns the answer.
fn inspect<T>(
    heap: &HeapInner,
    make: impl FnOnce(Reply<T>) -> Inspection,
) -> Result<T, CollectError> {
    let reply: Reply<T> = Arc::new(Mutex::new(None));
    // Queued before the cycle is asked for: the cycle asked for (or one
    // already past its start) reaches mark termination after this.
    heap.inspections.push(make(reply.clone()));
    // Only a major cycle serves it (generation §1: a minor one leaves dead
    // old objects marked). A forced cycle is major, unless a stepper began
    // that cycle as a minor one; then the next forced cycle serves it.
    loop {
        let n = heap.request_cycle();
        heap.wait_for_cycle(n)?;
        if let Some(answer) = reply.lock().take() {
            return Ok(answer);
        }
    }
}

/// Panics, naming `what` and the alternative, if the calling thread has a
/// running mutator of `heap` (the forced cycle could not stop it).
#[track_caller]
fn assert_may_wait(heap: &HeapInner, what: &str) {
    if running_here(heap.id()) {
        panic!(
            "tricolor: Heap::{what} called on a thread whose mutator of this heap is running: \
             the world could not stop while it waits; call Mutator::{what}, or call it from \
             native state (Mutator::native)"
        );
    }
    assert_not_in_callback(&format!("Heap::{what}"));
}

impl Heap {
    /// Why is `obj` still alive? A shortest path from a root to `obj`
    /// (inspect §3), or `None` if no root reaches it: it is garbage, freed
    /// by the sweep of the cycle that answered (or of the next one, if it
    /// was allocated during that cycle's mark).
    ///
    /// Forces a full cycle and answers at its mark termination, with the
    /// world stopped (the walk's cost is in that pause; see the `inspect`
    /// module docs). Call it from a thread that is not attached, from
    /// native state, or use [`Mutator::retaining_path`].
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, RootKind, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let (cache, leaked) = (m.alloc(node, 0), m.alloc(node, 0));
    /// // SAFETY: both fresh, no safepoint since.
    /// unsafe { m.store(cache, 0, Some(leaked)) };
    /// let g = heap.add_global(Some(cache));
    /// let path = m.native(|| heap.retaining_path(leaked)).expect("still reachable");
    /// assert_eq!(path.root(), RootKind::Global(g.index()));
    /// println!("{leaked:?} is kept alive by: {path}");
    ///
    /// g.set(None);
    /// assert_eq!(m.native(|| heap.retaining_path(leaked)), None, "garbage now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If `obj` is not the start of an object of this heap, or a cycle
    /// failed (see [`try_retaining_path`](Self::try_retaining_path)), or
    /// the calling thread has a running mutator of this heap.
    #[track_caller]
    pub fn retaining_path(&self, obj: ObjRef) -> Option<RetainingPath> {
        self.try_retaining_path(obj)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`retaining_path`](Self::retaining_path), returning bad input and
    /// failed cycles as errors: `obj` outside this heap, an interior
    /// pointer, an already freed object ([`InspectError`]).
    ///
    /// `obj` must be an object the caller knows is allocated: rooted, or
    /// held since its last safepoint. One freed by an earlier cycle whose
    /// slot was reused is another object by then, and its path is that
    /// object's.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, InspectError, ObjRef, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// m.push_root(Some(a));
    /// let inside = ObjRef::from_addr(a.addr() + 8).unwrap();
    /// let err = m.native(|| heap.try_retaining_path(inside)).unwrap_err();
    /// assert_eq!(err, InspectError::Interior { addr: a.addr() + 8, base: a.addr() });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`InspectError`], saying which.
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap.
    #[track_caller]
    pub fn try_retaining_path(&self, obj: ObjRef) -> Result<Option<RetainingPath>, InspectError> {
        assert_may_wait(&self.inner, "retaining_path");
        let target = obj.addr();
        // Refused before forcing a cycle where a lookup can tell already;
        // the cycle checks again, with the world stopped (and tells a freed
        // slot, which only it can).
        match self.inner.page.find_object(target) {
            None => return Err(InspectError::NotInHeap { addr: target }),
            Some(o) if o.base() != target => {
                return Err(InspectError::Interior {
                    addr: target,
                    base: o.base(),
                })
            }
            Some(_) => {}
        }
        let answer = inspect(&self.inner, |reply| Inspection::Path { target, reply })
            .map_err(InspectError::Collect)?;
        Ok(answer?)
    }

    /// Writes a heap snapshot that Chrome DevTools' Memory panel opens
    /// (Load profile…, a `.heapsnapshot` file): every reachable object as
    /// a node named by its type, every reference as an edge, the roots
    /// under `(GC roots)` by category (inspect §4). DevTools then shows
    /// each type's count and sizes, each object's retainers and the
    /// dominator tree (retained sizes).
    ///
    /// Forces a full cycle; the walk runs in its mark termination, with
    /// the world stopped, and captures the graph; the file is written
    /// after the world restarts, streamed through a buffer. Call it from a
    /// thread that is not attached, from native state, or use
    /// [`Mutator::write_heap_snapshot`].
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let (a, b) = (m.alloc(node, 0), m.alloc(node, 0));
    /// // SAFETY: both fresh, no safepoint since.
    /// unsafe { m.store(a, 1, Some(b)) };
    /// m.push_root(Some(a));
    /// let path = std::env::temp_dir().join("tricolor-doc.heapsnapshot");
    /// let file = std::fs::File::create(&path)?;
    /// let summary = m.native(|| heap.write_heap_snapshot(file))?;
    /// assert_eq!((summary.objects, summary.edges), (2, 1));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The writer's error; a failed cycle, as an error of kind `Other`
    /// wrapping its [`CollectError`].
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap.
    #[track_caller]
    pub fn write_heap_snapshot(&self, w: impl Write) -> io::Result<SnapshotSummary> {
        assert_may_wait(&self.inner, "write_heap_snapshot");
        let graph =
            inspect(&self.inner, |reply| Inspection::Graph { reply }).map_err(io::Error::other)?;
        snapshot::write(&graph, w)
    }
}

impl Mutator {
    /// [`Heap::retaining_path`] for a running mutator: waits for the
    /// forced cycle in native state, as [`collect`](Self::collect) does.
    /// `obj` is not rooted by the call: root it to keep it across, or ask
    /// about an object only other references keep.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor, Via};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let (a, b) = (m.alloc(node, 0), m.alloc(node, 0));
    /// // SAFETY: both fresh, no safepoint since.
    /// unsafe { m.store(a, 0, Some(b)) };
    /// m.push_root(Some(a));
    /// let path = m.retaining_path(b).expect("reachable through a");
    /// assert_eq!(path.steps()[1].via, Via::Field(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// As [`Heap::retaining_path`], and if the mutator is in native state.
    #[track_caller]
    pub fn retaining_path(&mut self, obj: ObjRef) -> Option<RetainingPath> {
        self.try_retaining_path(obj)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Heap::try_retaining_path`] for a running mutator.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, InspectError};
    ///
    /// let (one, other) = (Heap::new(Config::default()), Heap::new(Config::default()));
    /// let node = other.register_type(tricolor_collector::TypeDescriptor::fixed("Node", 1, &[]))?;
    /// let mut m1 = one.attach()?;
    /// let mut m2 = other.attach()?;
    /// let foreign = m2.alloc(node, 0);
    /// let err = m1.try_retaining_path(foreign).unwrap_err();
    /// assert!(matches!(err, InspectError::NotInHeap { .. }), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Heap::try_retaining_path`].
    ///
    /// # Panics
    /// If the mutator is in native state.
    #[track_caller]
    pub fn try_retaining_path(
        &mut self,
        obj: ObjRef,
    ) -> Result<Option<RetainingPath>, InspectError> {
        self.assert_running_for("retaining_path");
        let heap = self.heap();
        self.native(|| heap.try_retaining_path(obj))
    }

    /// [`Heap::write_heap_snapshot`] for a running mutator: waits for the
    /// forced cycle, and writes, in native state.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// m.push_root(Some(a));
    /// let mut json = Vec::new();
    /// let summary = m.write_heap_snapshot(&mut json)?;
    /// assert_eq!(summary.objects, 1);
    /// assert!(json.starts_with(b"{\"snapshot\":"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Heap::write_heap_snapshot`].
    ///
    /// # Panics
    /// If the mutator is in native state.
    #[track_caller]
    pub fn write_heap_snapshot(&mut self, w: impl Write) -> io::Result<SnapshotSummary> {
        self.assert_running_for("write_heap_snapshot");
        let heap = self.heap();
        self.native(|| heap.write_heap_snapshot(w))
    }

    /// Panics if this mutator is in native state (`what` needs it running,
    /// to enter native state itself while it waits).
    #[track_caller]
    fn assert_running_for(&self, what: &str) {
        assert!(
            !self.is_native(),
            "tricolor: Mutator::{what} called in native state; call leave_native first"
        );
        assert_not_in_callback(&format!("Mutator::{what}"));
    }
}
