//! The public calls of the specials: finalizers, cleanups, weak references
//! and `keep_alive` on [`Mutator`], waiting for finalizers on [`Heap`], and
//! the handles [`WeakRef`] and [`CleanupHandle`] (the `specials` module's
//! essay gives the algorithm).

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use tricolor_allocator::Special;

use crate::heap::inner::{Heap, HeapInner};
use crate::mark::finalizers::referents;
use crate::mark::scan::shade_all;
use crate::mark::source::{RootKind, Source};
use crate::mutator::Mutator;
use crate::object::ObjRef;
use crate::specials::finalizer_thread::{start_thread, wait_for_finalizers, FINALIZER_THREAD_OF};
use crate::specials::records::{
    drop_fn_data, Callback, CleanupRec, DropFn, FinalizerRec, SpecialError, WeakCell, KIND_CLEANUP,
    KIND_DROP, KIND_FINALIZER, KIND_WEAK,
};

/// A user's finalizer, as the records keep it (`records::Callback`).
struct FinalizerCall<F>(F);

impl<F: FnOnce(&mut Mutator, ObjRef) + Send> Callback for FinalizerCall<F> {
    fn call(self: Box<Self>, m: &mut dyn Any, obj: usize) {
        let obj = ObjRef::from_addr(obj).expect("a finalized object is non-null");
        (self.0)(as_mutator(m), obj)
    }
}

/// A user's cleanup, as the records keep it (`records::Callback`).
struct CleanupCall<F>(F);

impl<F: FnOnce(&mut Mutator, Option<ObjRef>) + Send> Callback for CleanupCall<F> {
    fn call(self: Box<Self>, m: &mut dyn Any, arg: usize) {
        (self.0)(as_mutator(m), ObjRef::from_addr(arg))
    }
}

/// The finalizer thread's mutator, as it hands it to a callback.
fn as_mutator(m: &mut dyn Any) -> &mut Mutator {
    m.downcast_mut()
        .expect("callbacks are run by the finalizer thread, with its mutator")
}

/// Checks that `obj` is the start of a live object of this heap (as far as
/// the allocator can tell; see [`Mutator::set_finalizer`]'s errors).
pub(crate) fn check_live(
    heap: &HeapInner,
    obj: ObjRef,
    what: &'static str,
) -> Result<(), SpecialError> {
    let addr = obj.addr();
    let o = heap
        .page
        .find_object(addr)
        .ok_or(SpecialError::NotAHeapObject { addr, what })?;
    if o.base() != addr {
        return Err(SpecialError::InteriorPointer {
            addr,
            base: o.base(),
            what,
        });
    }
    let span = o.span();
    let h = heap.page.sweepgen();
    let sg = span.sweepgen();
    let freed = if sg == h.wrapping_sub(2) {
        // Not swept since the last mark: mark bits say who survived
        // (specials §4); while marking, allocation state is exact only
        // for uncached spans, so say nothing then.
        !heap.phase.marking() && !o.is_marked()
    } else if sg == h {
        // Swept and not cached: the allocation state is exact.
        !span.is_allocated(o.index()) && !o.is_marked()
    } else {
        false // being swept, or cached: the allocator cannot tell
    };
    // A poisoned header is a freed object whatever the span says (a
    // header-free object has none to check; its span's state is all
    // there is).
    let poisoned = span.own_tag().is_none() && {
        // A shared class's object has a header, in its slot, which stays
        // mapped while the heap lives.
        // SAFETY: `addr` is such an object of this heap (checked above);
        // the header word is read atomically.
        let header = unsafe { crate::object::load_header(obj) };
        header == tricolor_allocator::POISON_WORD
    };
    if freed || poisoned {
        return Err(SpecialError::FreedObject { addr, what });
    }
    Ok(())
}

// ---- the public API -----------------------------------------------------------

impl Mutator {
    /// Sets a finalizer on `obj`: when the collector finds `obj`
    /// unreachable, it queues `f` to run with `obj` on the heap's finalizer
    /// thread. Go's `runtime.SetFinalizer`, for this heap.
    ///
    /// # The contract
    ///
    /// - **At most one per object.** A second `set_finalizer` is an error;
    ///   [`clear_finalizer`](Self::clear_finalizer) first to replace one.
    /// - **When it runs.** Only after a cycle finds `obj` unreachable from
    ///   the roots (globals, shadow stacks, root scanners, the finalizer
    ///   queue, cleanup arguments, live ephemeron entries). Never before;
    ///   no promise of how soon after (sweeping is lazy, and the finalizer
    ///   thread runs one at a time), and none at all if the heap is dropped
    ///   first. [`wait_for_finalizers`](Self::wait_for_finalizers) waits
    ///   for everything found so far.
    /// - **What it sees.** `obj` and everything it reaches are kept for that
    ///   cycle, so the finalizer can read them; the finalizer is cleared
    ///   (it runs once), and `obj` is rooted while it runs.
    /// - **Resurrection.** The finalizer may store `obj` somewhere
    ///   reachable; then it lives on, without a finalizer (set a new one
    ///   if wanted). Otherwise `obj` is freed by a later cycle.
    /// - **Weak references** to `obj` are cleared when it is first found
    ///   unreachable, before the finalizer runs, and stay cleared if it is
    ///   resurrected. Ephemeron entries keyed by `obj` are removed then too.
    /// - **Order.** If finalizable A reaches finalizable B, A's finalizer
    ///   runs first (B is kept reachable by A), and B's in a later cycle.
    /// - **Cycles leak.** Objects in a cycle of finalizable objects (A
    ///   reaches B reaches A, or A reaches itself) are never collected and
    ///   their finalizers never run: each keeps the other alive. Such
    ///   cycles are reported in [`SpecialStats::finalizer_cycles`](crate::SpecialStats::finalizer_cycles) and the
    ///   gctrace line: each collection counts one object of every group of
    ///   finalizable objects that reach one another (ephemeron entries
    ///   included) unless another unreachable finalizable object reaches
    ///   the group, which is then reported once that one is finalized. The
    ///   figure says that cycles exist, not how many objects they hold.
    ///   Put the resource that needs finalizing in a small
    ///   object of its own, outside the cycle.
    /// - **Where it runs.** On the heap's finalizer thread, which is a
    ///   mutator: `f` may allocate, load and store through the `&mut
    ///   Mutator` it gets. Finalizers run one at a time; a slow one delays
    ///   the rest. A panicking finalizer is caught, counted
    ///   ([`SpecialStats::finalizer_panics`](crate::SpecialStats::finalizer_panics)) and reported on standard
    ///   error, and later finalizers still run.
    /// - **Capture nothing from the heap** in `f`: an `ObjRef` a closure
    ///   captures is not a root. Reach the heap through `obj`. Nor a
    ///   [`Heap`]: the heap owns its pending finalizers, so a
    ///   finalizer holding the heap keeps it from ever being dropped
    ///   (use the `&mut Mutator` the finalizer gets).
    /// - **Do not wait for finalizers in one**: calling
    ///   [`wait_for_finalizers`](Self::wait_for_finalizers) on the
    ///   finalizer thread would wait for itself; it panics instead.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A file handle object: one data word, the descriptor.
    /// let file = heap.register_type(TypeDescriptor::fixed("File", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let f = m.alloc(file, 0);
    /// // SAFETY: `f` was just allocated; word 0 is data.
    /// unsafe { m.store_word(f, 0, 42) };
    /// let c = closed.clone();
    /// m.set_finalizer(f, move |m, f| {
    ///     // SAFETY: the finalizer's object is live and rooted while it runs.
    ///     let fd = unsafe { m.load_word(f, 0) };
    ///     c.store(fd as usize, Ordering::SeqCst); // "close(fd)"
    /// })?;
    /// m.collect(); // `f` was never rooted: unreachable
    /// m.wait_for_finalizers();
    /// assert_eq!(closed.load(Ordering::SeqCst), 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SpecialError`] if `obj` is not the start of an object of this heap,
    /// was freed, or already has a finalizer. A freed object is detected
    /// when the allocator can tell: a small object always with poisoning
    /// on, otherwise unless its span is held by a mutator's cache; a freed
    /// large object's pages go back to the page heap, so it is refused as
    /// [`SpecialError::NotAHeapObject`] (or, once its pages are reused, is
    /// taken for the new object there: no check can see that).
    pub fn set_finalizer(
        &mut self,
        obj: ObjRef,
        f: impl FnOnce(&mut Mutator, ObjRef) + Send + 'static,
    ) -> Result<(), SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "set_finalizer")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        {
            let mut g = o.span().specials();
            if g.find(index, KIND_FINALIZER).is_some() {
                return Err(SpecialError::AlreadyHasFinalizer { addr: obj.addr() });
            }
            let data = heap.specials.finalizers.lock().insert(FinalizerRec {
                obj: obj.addr(),
                f: Box::new(FinalizerCall(f)),
            });
            g.add(Special {
                index,
                kind: KIND_FINALIZER,
                data,
            });
        }
        if heap.phase.marking() {
            // The finalizer stage may have passed (specials §2).
            let refs = referents(&heap, obj.addr());
            shade_all(&heap, &refs, Source::Root(RootKind::Finalizer(obj.addr())));
        }
        start_thread(&heap);
        Ok(())
    }

    /// Removes `obj`'s finalizer; returns whether it had one. A finalizer
    /// already queued (its object found unreachable) still runs.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// m.set_finalizer(obj, |_, _| panic!("cleared: never runs"))?;
    /// assert_eq!(m.clear_finalizer(obj), Ok(true));
    /// assert_eq!(m.clear_finalizer(obj), Ok(false));
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert_eq!(heap.stats().specials.finalizers_run, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`set_finalizer`](Self::set_finalizer), except that having a
    /// finalizer is not an error.
    pub fn clear_finalizer(&mut self, obj: ObjRef) -> Result<bool, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "clear_finalizer")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let mut g = o.span().specials();
        match g.remove(o.index() as u32, KIND_FINALIZER, |_| true) {
            Some(s) => {
                heap.specials.finalizers.lock().remove(s.data);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds a cleanup to `obj`: after the collector has found `obj`
    /// unreachable and freed it, `f` runs with `arg` on the heap's
    /// finalizer thread. Go's `runtime.AddCleanup`, for this heap.
    ///
    /// # The contract
    ///
    /// - **Several per object**, each run exactly once, in no set order;
    ///   each returns a [`CleanupHandle`] that can cancel it until it is
    ///   queued.
    /// - **No resurrection.** `f` never sees `obj`: it gets `arg`, a heap
    ///   object (or `None`) that the cleanup keeps alive until it has run.
    ///   `arg` must not be `obj` (an error: `obj` could never die) and should
    ///   not reach `obj` (then `obj` never dies, silently: the same leak as a
    ///   finalizer cycle). Capture no `ObjRef` of `obj` in `f` either (it
    ///   would dangle).
    /// - **When it runs.** After the cycle that frees `obj`; if `obj` has a
    ///   finalizer that resurrects it, the cleanups wait until `obj` really
    ///   dies. Cleanups of objects freed together run in no set order.
    ///   Panics are caught and counted as for finalizers.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let obj = m.alloc(node, 0);
    /// let r = ran.clone();
    /// let handle = m.add_cleanup(obj, None, move |_, _| r.store(true, Ordering::SeqCst))?;
    /// let other = m.alloc(node, 0);
    /// let cancelled = m.add_cleanup(other, None, |_, _| panic!("never runs"))?;
    /// assert!(cancelled.cancel());
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert!(ran.load(Ordering::SeqCst));
    /// assert!(!handle.cancel(), "too late: it ran");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`SpecialError::CleanupArgIsObject`] if `arg` is `obj`; otherwise as
    /// for [`set_finalizer`](Self::set_finalizer) for `obj` and `arg`.
    pub fn add_cleanup(
        &mut self,
        obj: ObjRef,
        arg: Option<ObjRef>,
        f: impl FnOnce(&mut Mutator, Option<ObjRef>) + Send + 'static,
    ) -> Result<CleanupHandle, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "add_cleanup")?;
        if let Some(a) = arg {
            if a == obj {
                return Err(SpecialError::CleanupArgIsObject { addr: obj.addr() });
            }
            check_live(&heap, a, "add_cleanup (its argument)")?;
        }
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        let id = heap
            .specials
            .next_cleanup_id
            .fetch_add(1, Ordering::Relaxed);
        let arg = arg.map_or(0, ObjRef::addr);
        let slot = {
            let mut g = o.span().specials();
            let slot = heap.specials.cleanups.lock().insert(CleanupRec {
                obj: obj.addr(),
                arg,
                id,
                f: Box::new(CleanupCall(f)),
            });
            g.add(Special {
                index,
                kind: KIND_CLEANUP,
                data: slot,
            });
            slot
        };
        if arg != 0 && heap.phase.marking() {
            // A new root that the roots job may already have scanned.
            shade_all(&heap, &[arg], Source::Root(RootKind::CleanupArg));
        }
        start_thread(&heap);
        Ok(CleanupHandle {
            heap: Arc::downgrade(&heap),
            slot,
            id,
        })
    }

    /// Registers the drop of a Rust value living in `obj`'s payload: once a
    /// collection finds `obj` unreachable, the sweep copies its payload
    /// words (bitwise: a move) into a buffer before freeing it, and the
    /// finalizer thread calls `f` with that buffer. This is how the safe
    /// API runs `Drop` for values with drop glue.
    ///
    /// Unlike a finalizer, nothing `obj` points to is kept for `f`: the
    /// objects its pointer words name may be freed by the time `f` runs, so
    /// `f` must not follow them (the safe API nulls them first). Unlike a
    /// cleanup, `f` gets the object's contents. A drop record of an object
    /// that a finalizer resurrects stays on it.
    ///
    /// If the heap is dropped first (the object still allocated, or its drop
    /// queued but not yet run), `f` runs then, on the thread that drops the
    /// heap, with the payload moved out the same way: every recorded value
    /// is dropped exactly once (specials §6).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// static DROPPED: AtomicU64 = AtomicU64::new(0);
    /// /// Word 0 of the payload is a counter value to report.
    /// unsafe fn report(words: *mut u64) {
    ///     // SAFETY: the buffer holds the object's payload words.
    ///     DROPPED.store(unsafe { *words }, Ordering::SeqCst);
    /// }
    /// let heap = Heap::new(Config::default());
    /// let ty = heap.register_type(TypeDescriptor::fixed("Handle", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(ty, 0);
    /// // SAFETY: `obj` is fresh; word 0 is data.
    /// unsafe { m.store_word(obj, 0, 42) };
    /// // SAFETY: `report` reads only the copied payload word.
    /// unsafe { m.set_drop(obj, report)? };
    /// m.collect();
    /// m.wait_for_finalizers();
    /// assert_eq!(DROPPED.load(Ordering::SeqCst), 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `f` must be sound to call, on the finalizer thread or on the thread
    /// that drops the heap, with a buffer holding the payload words `obj`
    /// has when it dies or when the heap is dropped (at least its type's
    /// payload words), once.
    ///
    /// # Errors
    /// As for [`set_finalizer`](Self::set_finalizer): a pointer that is not
    /// the start of a live object of this heap.
    pub unsafe fn set_drop(&mut self, obj: ObjRef, f: DropFn) -> Result<(), SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "set_drop")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        o.span().specials().add(Special {
            index: o.index() as u32,
            kind: KIND_DROP,
            data: drop_fn_data(f),
        });
        heap.specials
            .drops_registered
            .fetch_add(1, Ordering::Relaxed);
        start_thread(&heap);
        Ok(())
    }

    /// A weak reference to `obj`: it yields `obj` while `obj` is reachable
    /// and `None` once a cycle has found it unreachable. Go's `weak.Make`.
    ///
    /// # The contract
    ///
    /// - Weak references to the same object are equal (`==`, and hash the
    ///   same), however and whenever they were made, while the object is
    ///   alive; they share one cell.
    /// - A weak reference does not keep its object alive.
    /// - It is cleared when the object is first found unreachable, before
    ///   the object's finalizer (if any) runs, and stays cleared even if the
    ///   finalizer resurrects the object. A weak reference made to the
    ///   resurrected object later is a new one (not equal to the old).
    /// - [`WeakRef::get`] while a mark runs makes the object reachable
    ///   again (it is shaded), exactly like loading a strong pointer.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let kept = m.alloc(node, 0);
    /// let slot = m.push_root(Some(kept));
    /// let lost = m.alloc(node, 0);
    /// let w_kept = m.weak_ref(kept)?;
    /// let w_lost = m.weak_ref(lost)?;
    /// assert_eq!(w_kept, m.weak_ref(kept)?, "one cell per object");
    /// m.collect();
    /// assert_eq!(w_kept.get(&m), m.root(slot));
    /// assert_eq!(w_lost.get(&m), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`set_finalizer`](Self::set_finalizer): a pointer that is not
    /// the start of a live object of this heap.
    pub fn weak_ref(&mut self, obj: ObjRef) -> Result<WeakRef, SpecialError> {
        self.assert_running();
        let heap = self.inner().clone();
        check_live(&heap, obj, "weak_ref")?;
        let o = heap.page.find_object(obj.addr()).expect("checked");
        let index = o.index() as u32;
        let mut g = o.span().specials();
        let cell = match g.find(index, KIND_WEAK) {
            Some(s) => heap
                .specials
                .weak
                .lock()
                .get(s.data)
                .cloned()
                .expect("a weak record names a live cell"),
            None => {
                let cell = Arc::new(WeakCell {
                    ptr: AtomicUsize::new(obj.addr()),
                });
                let data = heap.specials.weak.lock().insert(cell.clone());
                g.add(Special {
                    index,
                    kind: KIND_WEAK,
                    data,
                });
                cell
            }
        };
        Ok(WeakRef {
            heap: Arc::downgrade(&heap),
            cell,
        })
    }

    /// Runs `f` with `obj` kept reachable until `f` returns: Go's
    /// `runtime.KeepAlive` for code whose only reference to `obj` is an
    /// unrooted `ObjRef` or a native resource read from it.
    ///
    /// A finalizer may run as soon as its object is unreachable, which can
    /// be while native code still uses a resource the object owns (a file
    /// descriptor read out of it): root the object across that use.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let file = heap.register_type(TypeDescriptor::fixed("File", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let f = m.alloc(file, 0);
    /// m.set_finalizer(f, |_, _| { /* close the descriptor */ })?;
    /// // SAFETY: `f` is fresh.
    /// let fd = unsafe { m.load_word(f, 0) };
    /// m.keep_alive(f, |m| {
    ///     m.collect(); // cannot finalize `f`: it is rooted here
    ///     let _ = fd; // ... use the descriptor ...
    /// });
    /// assert_eq!(heap.stats().specials.finalizers_queued, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keep_alive<R>(&mut self, obj: ObjRef, f: impl FnOnce(&mut Mutator) -> R) -> R {
        self.frame(|m| {
            m.push_root(Some(obj));
            f(m)
        })
    }

    /// Waits until every finalizer and cleanup due so far has run: sweeps
    /// what the collections so far have left (which queues everything they
    /// found unreachable), then waits for the finalizer thread to empty its
    /// queue. Waits in native state. Returns at once if the heap is shutting
    /// down.
    ///
    /// See [`set_finalizer`](Self::set_finalizer) for an example.
    ///
    /// # Panics
    /// On the finalizer thread (in a finalizer or cleanup, which would wait
    /// for itself), and if the finalizer thread has stopped with jobs left
    /// (a collection failed on it).
    pub fn wait_for_finalizers(&mut self) {
        let heap = self.inner().clone();
        assert!(
            FINALIZER_THREAD_OF.with(|c| c.get()) != heap.id(),
            "tricolor: wait_for_finalizers called from a finalizer or cleanup: \
             the finalizer thread would wait for itself"
        );
        self.native(|| wait_for_finalizers(&heap));
    }
}

impl Heap {
    /// [`Mutator::wait_for_finalizers`], for a thread that is not attached.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// {
    ///     let mut m = heap.attach()?;
    ///     let obj = m.alloc(node, 0);
    ///     m.set_finalizer(obj, |_, _| {})?;
    /// }
    /// heap.collect();
    /// heap.wait_for_finalizers();
    /// assert_eq!(heap.stats().specials.finalizers_run, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap (it would
    /// keep the finalizer thread's collections from finishing): use the
    /// mutator's method, or call this from native state.
    pub fn wait_for_finalizers(&self) {
        assert!(
            !crate::mutator::state::running_here(self.inner.id()),
            "tricolor: Heap::wait_for_finalizers called on a thread whose mutator of this heap \
             is running; use Mutator::wait_for_finalizers, or call it from native state"
        );
        wait_for_finalizers(&self.inner);
    }
}

/// Cancels a cleanup ([`Mutator::add_cleanup`]). Dropping the handle does
/// not cancel.
#[derive(Debug)]
pub struct CleanupHandle {
    heap: Weak<HeapInner>,
    slot: usize,
    id: u64,
}

impl CleanupHandle {
    /// Cancels the cleanup; returns `true` if it was still registered (it
    /// will not run), `false` if it was already queued, run or cancelled.
    ///
    /// See [`Mutator::add_cleanup`] for an example.
    pub fn cancel(&self) -> bool {
        let Some(heap) = self.heap.upgrade() else {
            return false;
        };
        let sp = &heap.specials;
        let obj = match sp.cleanups.lock().get(self.slot) {
            Some(rec) if rec.id == self.id => rec.obj,
            _ => return false,
        };
        // Lock order: the span's specials, then the table (specials §1).
        let Some(o) = heap.page.find_object(obj) else {
            return false;
        };
        let mut g = o.span().specials();
        let mut table = sp.cleanups.lock();
        match table.get(self.slot) {
            Some(rec) if rec.id == self.id => {}
            _ => return false, // queued meanwhile
        }
        let removed = g.remove(o.index() as u32, KIND_CLEANUP, |s| s.data == self.slot);
        debug_assert!(removed.is_some(), "a registered cleanup has its record");
        drop(table.remove(self.slot));
        sp.cleanups_cancelled.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// A weak reference to an object ([`Mutator::weak_ref`]): yields the object
/// while it is reachable, `None` after. Handles to one object compare equal.
/// `Send` and `Sync`; [`get`](Self::get) needs a running mutator of the
/// same heap.
#[derive(Clone)]
pub struct WeakRef {
    heap: Weak<HeapInner>,
    cell: Arc<WeakCell>,
}

impl PartialEq for WeakRef {
    fn eq(&self, other: &WeakRef) -> bool {
        Arc::ptr_eq(&self.cell, &other.cell)
    }
}

impl Eq for WeakRef {}

impl std::hash::Hash for WeakRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.cell) as usize).hash(state);
    }
}

impl std::fmt::Debug for WeakRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cell.ptr.load(Ordering::Relaxed) {
            0 => write!(f, "WeakRef(cleared)"),
            p => write!(f, "WeakRef({p:#x})"),
        }
    }
}

impl WeakRef {
    /// The object, if it has not been found unreachable; the result is a
    /// live object until the mutator's next safepoint, as any loaded
    /// pointer (root it to keep it).
    ///
    /// See [`Mutator::weak_ref`] for an example.
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap.
    pub fn get(&self, m: &Mutator) -> Option<ObjRef> {
        m.assert_running();
        let heap = m.inner();
        assert!(
            std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap)),
            "tricolor: WeakRef::get with a mutator of another heap"
        );
        loop {
            let p = self.cell.ptr.load(Ordering::Acquire);
            if p == 0 {
                return None;
            }
            if heap.phase.marking() {
                // Specials §4: the caller may be making the only strong
                // reference after its stack was scanned.
                if !heap.barrier_disabled_for_testing.load(Ordering::Relaxed) {
                    shade_all(heap, &[p], Source::Root(RootKind::Weak));
                }
                return ObjRef::from_addr(p);
            }
            // Not marking, and no mark can start before this mutator's next
            // safepoint: the sweep generation `h` is fixed meanwhile.
            let h = heap.page.sweepgen();
            let Some(span) = heap.page.span_of(p) else {
                // The span was freed by its sweep, which cleared the cell first.
                continue;
            };
            let g = span.specials();
            let sg = span.sweepgen();
            if sg == h.wrapping_sub(2) {
                // Unswept: with the specials lock held, the sweep cannot clear
                // the mark bits or run the hook (specials §4).
                let live = span
                    .object_index(p)
                    .is_some_and(|i| span.mark_bits().get(i));
                drop(g);
                return if live { ObjRef::from_addr(p) } else { None };
            }
            drop(g);
            if sg == h.wrapping_sub(1) {
                std::thread::yield_now(); // being swept: wait for the outcome
                continue;
            }
            // Swept (maybe cached since): the hook has cleared the cell if the
            // object died, before the sweep published `h` (Acquire above).
            return ObjRef::from_addr(self.cell.ptr.load(Ordering::Acquire));
        }
    }

    /// Whether the reference has been cleared. A `false` answer may be stale
    /// by the time it is used; `true` is final.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// let w = m.weak_ref(obj)?;
    /// assert!(!w.is_cleared());
    /// m.collect();
    /// m.wait_for_finalizers(); // also finishes the sweep, which clears it
    /// assert!(w.is_cleared());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_cleared(&self) -> bool {
        self.cell.ptr.load(Ordering::Acquire) == 0
    }
}
