//! Reading an object's header cheaply: the type index alone, for a VM's
//! dispatch on object kinds (is this value a string? an instance?); and the
//! header's user bits, which are the VM's own (`object` module docs).

use super::Mutator;
use crate::object::{self, ObjRef, UserBitsError};

impl Mutator {
    /// The index of `obj`'s type ([`TypeId::index`](crate::TypeId::index)):
    /// one load of the header, no type-table lookup, so that a VM can
    /// test an object's kind on its hot paths (compare with the index of
    /// each of its types, read once at start-up).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let pair = heap.register_type(TypeDescriptor::fixed("Pair", 2, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 3);
    /// // SAFETY: `s` was just allocated, with no safepoint since.
    /// let ty = unsafe { m.type_index_of(s) };
    /// assert_eq!(ty, string.index());
    /// assert_ne!(ty, pair.index());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap (as for
    /// [`load`](Self::load)).
    #[inline]
    pub unsafe fn type_index_of(&self, obj: ObjRef) -> u32 {
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        unsafe { self.heap.object_type(obj) }.0
    }

    /// The user bits of `obj`: the [`USER_BITS`](crate::USER_BITS) (15)
    /// bits of its header that belong to the VM, 0 until it sets them
    /// ([`set_user_bits`](Self::set_user_bits)). One load of the header,
    /// as [`type_index_of`](Self::type_index_of): a VM keeps there what it
    /// wants without a payload word, such as an identity hash code computed
    /// on first use, or the index of the object's class in its own table
    /// when one collector type serves many classes.
    ///
    /// The collector never reads or changes them: they survive every
    /// collection, in every mode, and the type and length in the same
    /// header are unaffected by them. The load is `Acquire`, pairing with
    /// the `Release` of `set_user_bits`.
    ///
    /// An identity hash, computed once and cached in the header (0 means
    /// "not computed yet"):
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, Mutator, ObjRef, TypeDescriptor, MAX_USER_BITS};
    ///
    /// /// The object's identity hash: from its address the first time,
    /// /// cached in its user bits (never 0) ever after.
    /// ///
    /// /// # Safety
    /// /// `obj` is a live object of `m`'s heap.
    /// unsafe fn identity_hash(m: &mut Mutator, obj: ObjRef) -> u16 {
    ///     // SAFETY: the caller's contract.
    ///     let cached = unsafe { m.user_bits(obj) };
    ///     if cached != 0 {
    ///         return cached;
    ///     }
    ///     let mixed = (obj.addr() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 49;
    ///     let hash = (mixed as u16 & MAX_USER_BITS).max(1);
    ///     // SAFETY: the caller's contract.
    ///     unsafe { m.set_user_bits(obj, hash) };
    ///     hash
    /// }
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// let slot = m.push_root(Some(obj));
    /// // SAFETY: `obj` is rooted.
    /// let h = unsafe { identity_hash(&mut m, obj) };
    /// m.collect(); // the hash stays with the object
    /// let obj = m.root(slot).unwrap();
    /// // SAFETY: `obj` is rooted.
    /// assert_eq!(unsafe { identity_hash(&mut m, obj) }, h);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap (as for
    /// [`load`](Self::load)).
    ///
    /// # Panics
    /// In debug builds, if `obj` is not the start of an object of this
    /// heap.
    #[inline]
    pub unsafe fn user_bits(&self, obj: ObjRef) -> u16 {
        if cfg!(debug_assertions) {
            self.check_object(obj, "object");
        }
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        // A header-free object has no user bits: 0, as they start.
        unsafe { self.heap.object_type(obj) }
            .2
            .map_or(0, object::decode_user_bits)
    }

    /// Sets the user bits of `obj` to `bits`
    /// ([`user_bits`](Self::user_bits)), which must fit in
    /// [`USER_BITS`](crate::USER_BITS) (15) bits: at most
    /// [`MAX_USER_BITS`](crate::MAX_USER_BITS), `0x7FFF`.
    ///
    /// Not a safepoint, and safe to call while the collector runs: the
    /// write is an atomic read-modify-write of the header that changes the
    /// user bits only, so a collector thread updating its own bit of the
    /// same header at the same moment loses nothing, and neither does
    /// another thread setting the user bits (one write wins, whole). The
    /// write is `Release`: a thread that reads the new bits with
    /// [`user_bits`](Self::user_bits) also sees what this one did before.
    ///
    /// A VM whose classes are its own, under one collector type: the class
    /// index lives in the header, and dispatch reads it without touching
    /// the payload.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// const POINT: u16 = 1;
    /// const COLOR: u16 = 2;
    ///
    /// let heap = Heap::new(Config::default());
    /// let instance = heap.register_type(TypeDescriptor::fixed("Instance", 2, &[]))?;
    /// let mut m = heap.attach()?;
    /// let p = m.alloc(instance, 0);
    /// // SAFETY: `p` was just allocated, with no safepoint since.
    /// unsafe { m.set_user_bits(p, POINT) };
    /// let slot = m.push_root(Some(p));
    /// let c = m.alloc(instance, 0);
    /// // SAFETY: `c` was just allocated, with no safepoint since.
    /// unsafe { m.set_user_bits(c, COLOR) };
    /// let p = m.root(slot).unwrap();
    /// // SAFETY: `p` is rooted and `c` fresh.
    /// let classes = unsafe { (m.user_bits(p), m.user_bits(c)) };
    /// assert_eq!(classes, (POINT, COLOR));
    /// // SAFETY: as above: the type is untouched.
    /// assert_eq!(unsafe { m.type_index_of(c) }, instance.index());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap (as for
    /// [`load`](Self::load)).
    ///
    /// # Panics
    /// If `bits` does not fit in 15 bits
    /// ([`try_set_user_bits`](Self::try_set_user_bits) returns the error
    /// instead); in debug builds, also if `obj` is not the start of an
    /// object of this heap.
    #[inline]
    #[track_caller]
    pub unsafe fn set_user_bits(&mut self, obj: ObjRef, bits: u16) {
        // SAFETY: the caller's contract, passed on.
        if let Err(e) = unsafe { self.try_set_user_bits(obj, bits) } {
            user_bits_failed(e)
        }
    }

    /// [`set_user_bits`](Self::set_user_bits), returning the error for
    /// `bits` that do not fit in 15 bits (nothing is written then), for a
    /// VM that takes the value from its user.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor, MAX_USER_BITS};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let obj = m.alloc(node, 0);
    /// // SAFETY (all three calls): `obj` was just allocated, with no
    /// // safepoint since.
    /// unsafe {
    ///     assert!(m.try_set_user_bits(obj, MAX_USER_BITS).is_ok());
    ///     let e = m.try_set_user_bits(obj, MAX_USER_BITS + 1).unwrap_err();
    ///     assert_eq!(e.bits(), 0x8000);
    ///     assert_eq!(m.user_bits(obj), MAX_USER_BITS, "unchanged");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`UserBitsError`] if `bits` is over
    /// [`MAX_USER_BITS`](crate::MAX_USER_BITS), or `obj` is of a
    /// [header-free](crate::TypeDescriptor::header_free) type.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap (as for
    /// [`load`](Self::load)).
    ///
    /// # Panics
    /// In debug builds, if `obj` is not the start of an object of this
    /// heap.
    #[inline]
    pub unsafe fn try_set_user_bits(
        &mut self,
        obj: ObjRef,
        bits: u16,
    ) -> Result<(), UserBitsError> {
        let field = object::user_bits_field(bits)?;
        if cfg!(debug_assertions) {
            self.check_object(obj, "object");
        }
        // SAFETY: the caller guarantees `obj` is a live object of this heap.
        if unsafe { self.heap.object_type(obj) }.2.is_none() {
            return Err(UserBitsError::header_free(bits));
        }
        // SAFETY: as above; the object has a header, whose word is
        // committed memory of the heap.
        unsafe { object::set_user_bits(obj, field) };
        Ok(())
    }
}

/// The panic of [`Mutator::set_user_bits`] (and of
/// [`Mutator::alloc_with_user_bits`]), out of line.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn user_bits_failed(e: UserBitsError) -> ! {
    panic!("tricolor: {e}")
}
