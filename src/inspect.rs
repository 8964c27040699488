//! Seeing inside the heap from the safe API: a heap snapshot for Chrome
//! DevTools ([`Heap::write_heap_snapshot`]) and why an object is still
//! alive ([`Mutator::retaining_path`]). The collector's `inspect` module
//! docs give the design and the cost.

use std::io::{self, Write};

use tricolor_collector::{RetainingPath, SnapshotSummary};

use crate::heap::Heap;
use crate::mutator::Mutator;
use crate::specials::Weak;
use crate::trace::Trace;

impl Heap {
    /// Writes a heap snapshot that Chrome DevTools' Memory panel opens
    /// ("Load profile", a `.heapsnapshot` file): every reachable object as
    /// a node named by its Rust type, every [`Member`](crate::Member) and
    /// array element as an edge, the roots under `(GC roots)`. DevTools
    /// then shows each type's count and size, each object's retainers and
    /// the dominator tree. The snapshot is taken at the mark termination
    /// of a collection this call forces, with the world stopped (the walk
    /// lengthens that pause in proportion to the live heap: a diagnostic,
    /// not for a steady rate); the file is written after the world
    /// restarts. Callable from a thread with no mutator of this heap, or
    /// whose mutator is in native state; a running mutator calls
    /// [`Mutator::write_heap_snapshot`].
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    ///
    /// #[derive(Trace, Default)]
    /// struct Node { next: Member<Node> }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let list = m.alloc(Node::default());
    /// let tail = m.alloc(Node::default());
    /// list.get(&m).set(|n| &n.next, Some(tail.get(&m)));
    /// let file = std::env::temp_dir().join("tricolor-safe-doc.heapsnapshot");
    /// let out = std::fs::File::create(&file)?;
    /// let h = heap.clone();
    /// let summary = m.native(|| h.write_heap_snapshot(out))?;
    /// assert_eq!((summary.objects, summary.edges), (2, 1));
    /// # std::fs::remove_file(&file)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The writer's error, or a failed collection (kind `Other`).
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap.
    pub fn write_heap_snapshot(&self, w: impl Write) -> io::Result<SnapshotSummary> {
        self.raw_heap().write_heap_snapshot(w)
    }
}

impl Mutator {
    /// [`Heap::write_heap_snapshot`] from a running mutator: it waits for
    /// the forced collection, and writes, in native state.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// #[derive(Trace)] struct Blob([u64; 4]);
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let _kept = m.alloc(Blob([0; 4]));
    /// m.alloc(Blob([1; 4])); // garbage: not in the snapshot
    /// let mut json = Vec::new();
    /// assert_eq!(m.write_heap_snapshot(&mut json)?.objects, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Heap::write_heap_snapshot`].
    pub fn write_heap_snapshot(&mut self, w: impl Write) -> io::Result<SnapshotSummary> {
        let heap = self.heap().clone();
        self.native(|| heap.write_heap_snapshot(w))
    }

    /// Why is this object still alive? A shortest path from a root to the
    /// object `weak` refers to, or `None` if no root reaches it (the
    /// forced collection frees it) or a collection already found it
    /// unreachable. Asked through a [`Weak`] because a [`Root`](crate::Root)
    /// or [`Gc`](crate::Gc) to the object would be its own answer: keep a
    /// `Weak` to an object you expect to be garbage, and ask it this.
    ///
    /// The path's first step names the root (a [`Global`](crate::Global)
    /// is a global root; a `Root` is reported by this mutator's root
    /// scanner), each later step the object and the field it was reached
    /// through; [`Display`](std::fmt::Display) prints it on one line. The
    /// collection is forced and waited for in native state; the walk runs
    /// at its mark termination, with the world stopped.
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    ///
    /// #[derive(Trace, Default)]
    /// struct Node { next: Member<Node> }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let cache = m.alloc(Node::default());
    /// let weak = {
    ///     let entry = m.alloc(Node::default());
    ///     cache.get(&m).set(|n| &n.next, Some(entry.get(&m)));
    ///     entry.get(&m).weak()
    /// }; // `entry`'s root is gone: is it garbage?
    /// let path = m.retaining_path(&weak).expect("the cache still holds it");
    /// assert_eq!(path.len(), 2, "a root, the cache, then the entry");
    /// println!("kept alive by: {path}");
    ///
    /// cache.get(&m).set(|n| &n.next, None);
    /// assert!(m.retaining_path(&weak).is_none(), "garbage now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If `weak` is of another heap, or a collection failed.
    pub fn retaining_path<T: Trace>(&mut self, weak: &Weak<T>) -> Option<RetainingPath> {
        let obj = weak.get(self)?.obj_ref();
        let heap = self.heap().clone();
        // The object stays allocated until the forced cycle's sweep: `get`
        // found it marked by the last mark, or shaded it during this one.
        self.native(|| heap.raw_heap().try_retaining_path(obj))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
