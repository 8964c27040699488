//! [`Global`]: a root every thread can read and write.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use tricolor_collector::GlobalRoot;

use crate::gc::Gc;
use crate::heap::Heap;
use crate::mutator::Mutator;
use crate::trace::Trace;

/// A heap-wide root: one object slot that keeps its object alive, readable
/// and writable by every thread (cppgc's `Persistent`, a VM's globals).
///
/// A global is how objects are shared between threads outside the heap, so
/// it is `Send` and `Sync` only when `T` is both: a thread that reads it may
/// use the object while another thread does.
///
/// ```
/// use std::sync::Arc;
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Shared { next: Member<Shared>, n: std::sync::atomic::AtomicU64 }
///
/// let heap = Heap::new();
/// let g = Arc::new(heap.global::<Shared>());
/// {
///     let mut m = heap.attach()?;
///     let obj = m.alloc(Shared::default());
///     g.set(Some(obj.get(&m)));
/// }
/// let (h, g2) = (heap.clone(), g.clone());
/// std::thread::spawn(move || {
///     let m = h.attach().unwrap();
///     g2.get(&m).unwrap().n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
/// })
/// .join()
/// .unwrap();
/// let m = heap.attach()?;
/// assert_eq!(g.get(&m).unwrap().n.load(std::sync::atomic::Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Global<T> {
    raw: GlobalRoot,
    heap: Heap,
    /// `Arc<T>`: `Send` and `Sync` exactly when `T` is both.
    _t: PhantomData<Arc<T>>,
}

impl<T: Trace> Global<T> {
    pub(crate) fn new(heap: Heap) -> Global<T> {
        Global {
            raw: heap.raw_heap().add_global(None),
            heap,
            _t: PhantomData,
        }
    }

    /// The object the global holds, as a handle valid until `m`'s next GC
    /// point (root it to keep it longer; another thread may change the
    /// global meanwhile, which leaves the handle valid).
    ///
    /// # Panics
    /// If `m` belongs to another heap.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let g = heap.global::<Unit>();
    /// let m = heap.attach()?;
    /// assert!(g.get(&m).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<'m>(&self, m: &'m Mutator) -> Option<Gc<'m, T>> {
        assert!(
            self.heap.same(m.heap()),
            "tricolor: Global::get with a mutator of another heap"
        );
        let obj = self.raw.get()?;
        let ptr = NonNull::new(obj.addr() as *mut u8)?;
        // SAFETY: the global held the object a moment ago, so it was live
        // then; a store that replaces it shades it while marking (globals
        // are barriered on both values), so it stays live until `m`'s next
        // safepoint. Only `set` writes the global, with a `Gc<T>` of this
        // heap.
        Some(unsafe { Gc::from_raw(ptr, m) })
    }

    /// Makes the global hold `value` (or nothing).
    ///
    /// # Panics
    /// If `value` belongs to another heap.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let g = heap.global::<Unit>();
    /// let mut m = heap.attach()?;
    /// let u = m.alloc(Unit);
    /// g.set(Some(u.get(&m)));
    /// g.set(None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, value: Option<Gc<'_, T>>) {
        if let Some(v) = value {
            assert!(
                self.heap.same(v.mutator().heap()),
                "tricolor: Global::set with an object of another heap"
            );
        }
        self.raw.set(value.map(|v| v.obj_ref()));
    }
}

impl<T> fmt::Debug for Global<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Global(#{})", self.raw.index())
    }
}
