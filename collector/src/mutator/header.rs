//! Reading an object's header cheaply: the type index alone, for a VM's
//! dispatch on object kinds (is this value a string? an instance?).

use super::Mutator;
use crate::object::{self, ObjRef};

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
        // SAFETY: the caller guarantees `obj` is a live object, whose header
        // word is readable.
        object::decode_header(unsafe { object::load_header(obj) }).0
    }
}
