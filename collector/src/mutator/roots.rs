//! The shadow stack and the root scanner: how a mutator's roots are kept
//! (essay step 3a scans them).

use super::state::RootScanner;
use super::Mutator;
use crate::object::ObjRef;

impl Mutator {
    // ---- roots ------------------------------------------------------------------

    /// Pushes a root slot holding `value` onto the shadow stack; returns the
    /// slot's index.
    ///
    /// The shadow stack is how Rust code (a VM's runtime functions) keeps
    /// objects alive across allocations and safepoints.
    ///
    /// Root slots are stack, not heap: writing them (`push_root`,
    /// [`set_root`](Self::set_root), [`truncate_roots`](Self::truncate_roots))
    /// costs no barrier in any mode. SATB and hybrid marks scan a stack once
    /// and keep it black, because every pointer a black stack can newly hold
    /// is either allocated black or was protected by the deletion barrier when
    /// it left the heap (barriers §5–§7); incremental update rescans every
    /// stack at mark termination instead.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(node, 0);
    /// let a_slot = m.push_root(Some(a)); // root `a` before allocating again
    /// let b = m.alloc(node, 0);
    /// // SAFETY: `a` is rooted; `b` is fresh (no safepoint since).
    /// unsafe { m.store(a, 0, Some(b)) };
    /// m.collect();
    /// assert_eq!(m.root(a_slot), Some(a));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn push_root(&mut self, value: Option<ObjRef>) -> usize {
        let roots = &mut self.data().roots;
        roots.push(value.map_or(0, ObjRef::addr));
        roots.len() - 1
    }

    /// The object in root slot `index`.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let slot = m.push_root(None);
    /// assert_eq!(m.root(slot), None);
    /// let obj = m.alloc(node, 0);
    /// m.set_root(slot, Some(obj));
    /// m.safepoint();
    /// // Re-read roots after a safepoint instead of keeping `ObjRef`s in locals.
    /// let obj = m.root(slot).expect("rooted");
    /// # let _ = obj;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If there is no slot `index`.
    #[inline]
    pub fn root(&self, index: usize) -> Option<ObjRef> {
        ObjRef::from_addr(self.data_ref().roots[index])
    }

    /// Makes root slot `index` hold `value`. No barrier: see
    /// [`push_root`](Self::push_root).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let acc = m.push_root(None);
    /// for _ in 0..3 {
    ///     let fresh = m.alloc(node, 0);
    ///     // SAFETY: `fresh` is new (no safepoint since); the accumulator is rooted.
    ///     unsafe { m.store(fresh, 0, m.root(acc)) };
    ///     m.set_root(acc, Some(fresh));
    /// }
    /// m.set_root(acc, None); // drop the whole chain
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If there is no slot `index`.
    #[inline]
    pub fn set_root(&mut self, index: usize, value: Option<ObjRef>) {
        self.data().roots[index] = value.map_or(0, ObjRef::addr);
    }

    /// Number of root slots.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach()?;
    /// assert_eq!(m.root_count(), 0);
    /// m.push_root(None);
    /// assert_eq!(m.root_count(), 1);
    /// # Ok::<(), tricolor_collector::AttachError>(())
    /// ```
    #[inline]
    pub fn root_count(&self) -> usize {
        self.data_ref().roots.len()
    }

    /// Pops root slots down to `len` (the end of a frame).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let frame = m.root_count(); // a call begins
    /// for _ in 0..4 {
    ///     let local = m.alloc(node, 0);
    ///     m.push_root(Some(local));
    /// }
    /// m.truncate_roots(frame); // the call returns: its locals are garbage
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn truncate_roots(&mut self, len: usize) {
        self.data().roots.truncate(len);
    }

    /// Runs `f` in a root frame: slots it pushes are popped when it returns
    /// (or unwinds).
    ///
    /// ```
    /// use tricolor_collector::{Config, GcAllocError, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let result = m.push_root(None);
    /// m.frame(|m| {
    ///     let tmp = m.alloc(node, 0);
    ///     let t = m.push_root(Some(tmp)); // popped when the frame ends
    ///     let out = m.alloc(node, 0);
    ///     // SAFETY: `tmp` is rooted in `t`; `out` is fresh (no safepoint since).
    ///     unsafe { m.store(out, 0, m.root(t)) };
    ///     m.set_root(result, Some(out)); // an outer slot: survives the frame
    ///     Ok::<_, GcAllocError>(())
    /// })?;
    /// assert_eq!(m.root_count(), 1);
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Inside the frame, the mutator is reached only through the closure's
    /// argument:
    ///
    /// ```compile_fail,E0499
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach().unwrap();
    /// m.frame(|_inner| m.push_root(None)); // error: `m` is already borrowed
    /// ```
    ///
    /// and that argument cannot escape the frame:
    ///
    /// ```compile_fail
    /// # use tricolor_collector::{Config, Heap};
    /// # let heap = Heap::new(Config::default());
    /// let mut m = heap.attach().unwrap();
    /// let escaped = m.frame(|inner| inner); // error: lifetime may not live long enough
    /// # let _ = escaped;
    /// ```
    pub fn frame<R>(&mut self, f: impl FnOnce(&mut Mutator) -> R) -> R {
        let mark = self.root_count();
        struct Pop<'a>(&'a mut Mutator, usize);
        impl Drop for Pop<'_> {
            #[inline]
            fn drop(&mut self) {
                match &mut self.0.data {
                    Some(g) => g.roots.truncate(self.1),
                    None => pop_native(self.0, self.1),
                }
            }
        }
        /// Left in native state: takes the state lock just long enough to
        /// pop the frame (waiting out a stopped world).
        #[cold]
        #[inline(never)]
        fn pop_native(m: &Mutator, len: usize) {
            m.shared.data.lock_arc().roots.truncate(len);
        }
        let pop = Pop(self, mark);
        f(pop.0)
    }

    /// Installs the callback through which the VM reports this mutator's own
    /// roots (its interpreter stack, registers). It runs on the collector's
    /// thread while this mutator is stopped or in native code.
    ///
    /// Objects the scanner reports are roots exactly like shadow-stack
    /// slots. The scanner must not block on this mutator: keep the shared
    /// stack's lock only for short, heap-free critical sections (never across
    /// an allocation, a safepoint or a collection). `None` removes the
    /// scanner.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tricolor_collector::{Config, Heap, ObjRef, RootVisitor, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// // The interpreter's operand stack, shared with the scanner.
    /// let stack: Arc<Mutex<Vec<ObjRef>>> = Arc::default();
    /// let s = Arc::clone(&stack);
    /// m.set_root_scanner(Some(Box::new(move |v: &mut RootVisitor<'_>| {
    ///     s.lock().unwrap().iter().for_each(|&obj| v.visit(Some(obj)));
    /// })));
    /// let obj = m.alloc(node, 0);
    /// stack.lock().unwrap().push(obj); // rooted before the next allocation
    /// m.alloc(node, 0); // garbage
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_root_scanner(&mut self, scanner: Option<RootScanner>) {
        self.data().scanner = scanner;
    }
}
