//! [`Gc`]: a handle to a heap object, valid until its mutator's next
//! allocation or safepoint; reading and writing members through it.

use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ops::Deref;
use std::ptr::NonNull;

use tricolor_collector::{ObjRef, UserBitsError};

use crate::member::Member;
use crate::mutator::Mutator;
use crate::roots::Root;
use crate::trace::Trace;

/// The address of an object's payload: the object's own address (its
/// header, if any, is the word before).
#[inline]
pub(crate) const fn payload_of(obj: usize) -> usize {
    obj
}

/// A handle to an object of type `T`, borrowed from its [`Mutator`]: valid
/// until that mutator's next allocation or safepoint, which the borrow
/// checker enforces (both need `&mut Mutator`, a `Gc` holds `&Mutator`).
///
/// It is what a thread works with between two points where the collector
/// may act: it costs nothing to copy or dereference, and is never rooted. To
/// keep an object across an allocation, [root](Gc::root) it.
///
/// A `Gc` dereferences to `&T`: the safe API never hands out `&mut T`, so an
/// object's data is changed through interior mutability (`Cell`, atomics)
/// and its members through [`Gc::set`], which runs the write barrier.
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Pair { first: Member<Pair>, second: Member<Pair>, tag: u32 }
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let a = m.alloc(Pair { first: Member::null(), second: Member::null(), tag: 1 });
/// let b = m.alloc(Pair { first: Member::null(), second: Member::null(), tag: 2 });
/// let (ga, gb) = (a.get(&m), b.get(&m));
/// ga.set(|p| &p.first, Some(gb));
/// gb.set(|p| &p.second, Some(ga)); // a cycle
/// assert_eq!(ga.get(|p| &p.first).unwrap().tag, 2);
/// assert!(tricolor::Gc::ptr_eq(gb.get(|p| &p.second).unwrap(), ga));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Gc<'m, T> {
    /// The object (the address of its payload, a `T`).
    obj: NonNull<u8>,
    /// The mutator that lent the handle. Its heap owns the object; two
    /// handles of one thread with the same mutator are of the same heap.
    m: &'m Mutator,
    _t: PhantomData<&'m T>,
}

impl<T> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Gc<'_, T> {}

impl<'m, T: Trace> Gc<'m, T> {
    /// A handle to `obj`.
    ///
    /// # Safety
    /// `obj` is a live object of `m`'s heap whose payload is an initialised
    /// `T`, and stays live until `m`'s next safepoint (it is rooted, or was
    /// loaded from a live object or a root since `m`'s last safepoint).
    #[inline]
    pub(crate) unsafe fn from_raw(obj: NonNull<u8>, m: &'m Mutator) -> Gc<'m, T> {
        Gc {
            obj,
            m,
            _t: PhantomData,
        }
    }

    /// The mutator the handle is borrowed from.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let r = m.alloc(Unit);
    /// let g = r.get(&m);
    /// assert!(std::ptr::eq(g.mutator(), &m));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn mutator(self) -> &'m Mutator {
        self.m
    }

    /// The object's `T`, for as long as the handle is valid.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// #[derive(Trace)] struct Name(&'static str);
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let r = m.alloc(Name("tricolor"));
    /// let name: &str = r.get(&m).value().0;
    /// assert_eq!(name, "tricolor");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn value(self) -> &'m T {
        // SAFETY: the object is live for 'm (`from_raw`'s contract), its
        // payload is an initialised `T`, and no `&mut T` is ever made.
        unsafe { &*(payload_of(self.obj.as_ptr() as usize) as *const T) }
    }

    /// Roots the object: the returned [`Root`] keeps it alive across
    /// allocations and safepoints until dropped.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// #[derive(Trace)] struct Leaf(u8);
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let first = m.alloc(Leaf(1));
    /// let g = first.get(&m);
    /// let kept = g.root();
    /// drop(first);
    /// m.collect();
    /// assert_eq!(kept.get(&m).0, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn root(self) -> Root<T> {
        // SAFETY: the object is live, of the mutator's heap, and holds a
        // `T`; the mutator is running (it lends a `Gc`).
        unsafe { Root::new(self.m, self.obj) }
    }

    /// Loads the member that `field` selects: the object it holds, as a
    /// handle of the same mutator.
    ///
    /// `field` projects the object's `T` to one of its members, as in
    /// `|node| &node.left`; the projection compiles to a constant offset.
    ///
    /// # Panics
    /// If `field` returns a member that is not inside this object.
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    /// #[derive(Trace, Default)]
    /// struct Link { next: Member<Link> }
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(Link::default());
    /// assert!(a.get(&m).get(|l| &l.next).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn get<U: Trace>(self, field: impl FnOnce(&T) -> &Member<U>) -> Option<Gc<'m, U>> {
        let member = field(self.value());
        self.check_member(member, "Gc::get");
        let addr = member.raw_load();
        // SAFETY: the member lies inside this live object of the mutator's
        // heap (checked), so it holds 0 or a live object of that heap whose
        // payload is a `U` (only `Gc::set` writes a member, with a
        // `Gc<U>` of the same mutator); loaded now, it stays live until the
        // mutator's next safepoint (the raw `load` contract).
        NonNull::new(addr as *mut u8).map(|obj| unsafe { Gc::from_raw(obj, self.m) })
    }

    /// Stores `value` into the member that `field` selects, through the
    /// write barrier.
    ///
    /// Several threads may store into one member at once, and load it
    /// meanwhile: each store is atomic, and the barrier stays correct under
    /// racing stores (the raw [`store`](crate::raw::Mutator::store)'s
    /// contract).
    ///
    /// # Panics
    /// If `field` returns a member that is not inside this object, or
    /// `value` belongs to another mutator (hence another heap).
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    /// #[derive(Trace, Default)]
    /// struct Link { next: Member<Link>, n: u32 }
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(Link::default());
    /// let b = m.alloc(Link { n: 7, ..Link::default() });
    /// a.get(&m).set(|l| &l.next, Some(b.get(&m)));
    /// drop(b);
    /// m.collect(); // `b`'s object lives on through `a`
    /// assert_eq!(a.get(&m).get(|l| &l.next).unwrap().n, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn set<U: Trace>(self, field: impl FnOnce(&T) -> &Member<U>, value: Option<Gc<'m, U>>) {
        let member = field(self.value());
        let word = self.check_member(member, "Gc::set");
        if let Some(v) = value {
            assert!(
                std::ptr::eq(v.m, self.m),
                "tricolor: Gc::set with a value of another mutator (another heap)"
            );
        }
        let obj = self.obj_ref();
        let new = value.map(|v| v.obj_ref());
        // SAFETY: the mutator is running (it lends a `Gc`), and no other
        // reference to the raw mutator is alive (no method of this crate
        // keeps one while user code runs).
        let raw = unsafe { self.m.raw_mut() };
        if T::FIXED_MEMBERS {
            // SAFETY: `obj` is a live object of the mutator's heap and `word`
            // is one of its member words (checked; a member word is a pointer
            // word of the type's bitmap, by the `Trace` contract); `new` is a
            // live object of the same heap.
            unsafe { raw.store(obj, word, new) };
        } else {
            // A traced type (an enum, say): its descriptor has no pointer
            // map, and a store into it is a word store whose barrier decodes
            // the old and the new word (a member word holds an object's
            // address or 0, which the descriptor's `decode` maps to itself).
            // SAFETY: as above; `word` is a word of `obj`'s payload, and the
            // pointer it will carry is a live object of the same heap.
            unsafe { raw.store_word(obj, word, new.map_or(0, |o| o.addr() as u64)) };
        }
    }

    /// Checks that `member` lies inside this object's `T`; returns its word.
    #[inline]
    fn check_member<U>(self, member: &Member<U>, what: &'static str) -> usize {
        let offset = (member as *const Member<U> as usize)
            .wrapping_sub(payload_of(self.obj.as_ptr() as usize));
        if !(offset < size_of::<T>() && offset.is_multiple_of(8)) {
            not_a_member(what);
        }
        offset / 8
    }

    /// Whether `a` and `b` are the same object.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let (a, b) = (m.alloc(Unit), m.alloc(Unit));
    /// assert!(tricolor::Gc::ptr_eq(a.get(&m), a.get(&m)));
    /// assert!(!tricolor::Gc::ptr_eq(a.get(&m), b.get(&m)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn ptr_eq(a: Gc<'_, T>, b: Gc<'_, T>) -> bool {
        a.obj == b.obj
    }

    /// The object's address: stable for its life (objects never move), for
    /// hashing and printing.
    ///
    /// ```
    /// # use tricolor::{Heap, Trace};
    /// # #[derive(Trace)] struct Unit;
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let a = m.alloc(Unit);
    /// assert_eq!(a.get(&m).addr() % 8, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn addr(self) -> usize {
        self.obj.as_ptr() as usize
    }

    /// The object's user bits: 15 bits of its header that are the
    /// program's own, 0 until [`set_user_bits`](Gc::set_user_bits) sets
    /// them (the raw [`user_bits`](crate::raw::Mutator::user_bits)). One
    /// load, no payload word: room for a hash code computed on first use,
    /// or a tag. They stay with the object for its life; collections never
    /// change them.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use tricolor::{Gc, Heap, Trace, MAX_USER_BITS};
    ///
    /// #[derive(Trace)]
    /// struct Symbol { name: String }
    ///
    /// /// The symbol's hash, computed from its name once and cached in the
    /// /// header (never 0, so that 0 means "not yet").
    /// fn hash(s: Gc<'_, Symbol>, computed: &Cell<u32>) -> u16 {
    ///     if s.user_bits() == 0 {
    ///         computed.set(computed.get() + 1);
    ///         let h = s.name.bytes().fold(17u16, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    ///         s.set_user_bits((h & MAX_USER_BITS).max(1));
    ///     }
    ///     s.user_bits()
    /// }
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let sym = m.alloc(Symbol { name: "lambda".to_string() });
    /// let computed = Cell::new(0);
    /// let h = hash(sym.get(&m), &computed);
    /// m.collect();
    /// assert_eq!(hash(sym.get(&m), &computed), h);
    /// assert_eq!(computed.get(), 1, "cached in the header");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn user_bits(self) -> u16 {
        // SAFETY: the object is live, of the mutator's heap (`from_raw`'s
        // contract); the one raw call runs no user code, and no other
        // reference to the raw mutator is alive (no method of this crate
        // keeps one while user code runs).
        unsafe { self.m.raw_mut().user_bits(self.obj_ref()) }
    }

    /// Sets the object's [user bits](Gc::user_bits) to `bits`, which must
    /// fit in 15 bits (at most [`MAX_USER_BITS`](crate::MAX_USER_BITS)).
    /// Atomic: threads sharing the object may set them at once (one write
    /// wins, whole), and the collector's own use of the header never
    /// undoes a write.
    ///
    /// # Panics
    /// If `bits` is over `MAX_USER_BITS`;
    /// [`try_set_user_bits`](Gc::try_set_user_bits) returns the error
    /// instead.
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Shape { sides: u32 }
    ///
    /// const VISITED: u16 = 1;
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let square = m.alloc(Shape { sides: 4 });
    /// let s = square.get(&m);
    /// s.set_user_bits(s.user_bits() | VISITED);
    /// assert_eq!(s.user_bits() & VISITED, VISITED);
    /// assert_eq!(s.sides, 4, "the value is untouched");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[track_caller]
    pub fn set_user_bits(self, bits: u16) {
        if let Err(e) = self.try_set_user_bits(bits) {
            panic!("tricolor: Gc::set_user_bits: {e}");
        }
    }

    /// [`set_user_bits`](Gc::set_user_bits), returning the error for bits
    /// over 15 (nothing is written then).
    ///
    /// # Errors
    /// [`UserBitsError`](crate::UserBitsError) if `bits` is over
    /// [`MAX_USER_BITS`](crate::MAX_USER_BITS).
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Unit;
    ///
    /// let heap = Heap::new();
    /// let mut m = heap.attach()?;
    /// let u = m.alloc(Unit);
    /// let e = u.get(&m).try_set_user_bits(0x8000).unwrap_err();
    /// assert_eq!(e.bits(), 0x8000);
    /// assert_eq!(u.get(&m).user_bits(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_set_user_bits(self, bits: u16) -> Result<(), UserBitsError> {
        // SAFETY: as for `user_bits`.
        unsafe { self.m.raw_mut().try_set_user_bits(self.obj_ref(), bits) }
    }

    /// The object's address (its payload's), with the pointer's provenance: what
    /// reads beyond `T` (an array's elements) are derived from.
    #[inline]
    pub(crate) fn ptr(self) -> NonNull<u8> {
        self.obj
    }

    #[inline]
    pub(crate) fn obj_ref(self) -> ObjRef {
        ObjRef::from_addr(self.addr()).expect("a Gc is never null")
    }
}

/// The panic of [`Gc::check_member`], out of line: the message's argument
/// is then made only when it fails.
#[cold]
#[inline(never)]
fn not_a_member(what: &'static str) -> ! {
    panic!("tricolor: {what}: the projection must select a member of this object")
}

impl<T: Trace> Deref for Gc<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        (*self).value()
    }
}

impl<T: Trace + fmt::Debug> fmt::Debug for Gc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}
