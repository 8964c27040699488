//! [`Member`]: a pointer field of a heap object.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::trace::{Trace, Tracer};

/// A pointer field of a heap object: null, or an object of type `T` of the
/// same heap. The only way to hold a reference to another object inside a
/// [`Trace`] type.
///
/// A member is written only through [`Gc::set`](crate::Gc::set), which runs
/// the write barrier, and read only through [`Gc::get`](crate::Gc::get);
/// both take the member's object, so a member is never read or written
/// except inside a live object of the heap its mutator belongs to. A member
/// built outside the heap ([`Member::null`], [`Default`]) is null, and stays
/// null: there is no way to set it, so a value waiting to be allocated never
/// holds a pointer the collector cannot see.
///
/// The field is one atomic word: several threads may store into it and load
/// it at once (the raw [`store`](crate::raw::Mutator::store)'s racing-store
/// contract). `Member<T>` is `Sync` only when `T` is `Send` and `Sync`: an
/// object reachable from a `Sync` object may be reached by any thread. It is
/// always `Send` (moving a member moves no access to its object: see the
/// `Send` impl).
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Cell { next: Member<Cell>, value: i64 }
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let a = m.alloc(Cell { next: Member::null(), value: 1 });
/// let b = m.alloc(Cell { value: 2, ..Cell::default() });
/// let (a, b) = (a.get(&m), b.get(&m));
/// a.set(|c| &c.next, Some(b)); // the barrier runs here
/// assert_eq!(a.get(|c| &c.next).unwrap().value, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[repr(transparent)]
pub struct Member<T> {
    /// The object's address, 0 for null. Written by [`crate::Gc::set`]
    /// (through the raw store, `Release`) and by the clear of a value being
    /// dropped; read by [`crate::Gc::get`] (`Acquire`) and by the marker.
    word: AtomicUsize,
    /// `Arc<T>`: `Sync` exactly when `T` is `Send` and `Sync` (`Send` is
    /// granted below for every `T`).
    _t: PhantomData<Arc<T>>,
}

// SAFETY: sending a member to another thread gives that thread no access to
// the object it names. A member outside the heap is null (it cannot be set
// there), and a member inside the heap is never moved (the safe API hands
// out no `&mut` to an object): what moves between threads is a value about
// to be allocated (all members null), or a dead value moved out to be
// dropped on the finalizer thread, whose members are nulled first. Reaching
// the target object from another thread takes a shared `&Member`, hence
// `Sync`, which stays conditional on `T`. So a type with a `Cell` (not
// `Sync`) and members to its own type is still `Send`, and can be
// allocated.
unsafe impl<T> Send for Member<T> {}

impl<T> Member<T> {
    /// A null member: how every member of a value starts, before the value
    /// is allocated.
    ///
    /// ```
    /// use tricolor::Member;
    /// struct Node;
    /// let m: Member<Node> = Member::null();
    /// assert!(m.is_null());
    /// ```
    pub const fn null() -> Member<T> {
        Member {
            word: AtomicUsize::new(0),
            _t: PhantomData,
        }
    }

    /// Whether the member is null now (another thread may store into it at
    /// any time).
    ///
    /// ```
    /// use tricolor::Member;
    /// assert!(Member::<()>::default().is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        self.raw_load() == 0
    }

    /// The address the member holds (0: null).
    #[inline]
    pub(crate) fn raw_load(&self) -> usize {
        self.word.load(Ordering::Acquire)
    }

    /// Nulls the member: only for a value moved off the heap to be dropped,
    /// which nothing else can see.
    #[inline]
    pub(crate) fn raw_clear(&self) {
        self.word.store(0, Ordering::Relaxed);
    }
}

impl<T> Default for Member<T> {
    fn default() -> Member<T> {
        Member::null()
    }
}

impl<T> fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw_load() {
            0 => write!(f, "Member(null)"),
            a => write!(f, "Member({a:#x})"),
        }
    }
}

// SAFETY: a member is one pointer word, at offset 0 of itself; `trace`
// visits it.
unsafe impl<T: 'static> Trace for Member<T> {
    const NO_MEMBERS: bool = false;
    #[inline]
    fn pointer_words(base: u32, out: &mut Vec<u32>) -> bool {
        out.push(base);
        true
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.visit(self);
    }
}
