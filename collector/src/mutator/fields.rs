//! Loads and stores of object fields; a pointer store runs the write
//! barrier (its slow path is one cold call, `barrier_slow`; `mutator::barrier`).

use std::sync::atomic::Ordering;

use super::{barrier, native_misuse, Mutator};
use crate::descriptor::{Pointers, TypeId};
use crate::object::{self, ObjRef};

impl Mutator {
    // ---- fields --------------------------------------------------------------

    /// Loads pointer field `field` of `obj`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let tail = m.alloc(cons, 0);
    /// let slot = m.push_root(Some(tail));
    /// let head = m.alloc(cons, 0);
    /// // SAFETY: `head` is fresh (no safepoint since), `tail` is rooted.
    /// unsafe { m.store(head, 1, m.root(slot)) };
    /// m.set_root(slot, Some(head));
    /// m.collect();
    /// let head = m.root(slot).unwrap();
    /// // SAFETY: `head` is rooted in `slot`; field 1 is a pointer field.
    /// let tail = unsafe { m.load(head, 1) }.unwrap();
    /// // SAFETY: `tail` was loaded from the reachable `head`, with no safepoint since.
    /// assert_eq!(unsafe { m.load(tail, 1) }, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` must be a live object of this heap: allocated by it and reachable
    /// from a root ever since (or since it was loaded from a reachable object).
    ///
    /// # Panics
    /// In debug builds, if `field` is out of range or not a pointer field.
    #[inline]
    pub unsafe fn load(&self, obj: ObjRef, field: usize) -> Option<ObjRef> {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, true);
        }
        // SAFETY: the caller guarantees `obj` is live; the field index was
        // checked against the descriptor in debug builds and is the caller's
        // obligation otherwise.
        ObjRef::from_addr(unsafe { object::load_field(obj, field) } as usize)
    }

    /// Stores `value` into pointer field `field` of `obj`, through the write
    /// barrier.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A binary-tree node: left, right (pointers), key (data).
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 3, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let parent = m.alloc(node, 0);
    /// let p = m.push_root(Some(parent));
    /// let child = m.alloc(node, 0);
    /// // SAFETY: `parent` is rooted in `p`; `child` was just allocated (no
    /// // safepoint since); field 0 is a pointer field of `Node`.
    /// unsafe { m.store(parent, 0, Some(child)) };
    /// m.collect(); // `child` survives: reachable from `parent`
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
    /// // SAFETY: `parent` is rooted; storing `None` makes `child` garbage.
    /// unsafe { m.store(parent, 0, None) };
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Racing stores
    ///
    /// Several threads may store into the same field at once, and load it
    /// meanwhile, as the threads of a VM with shared objects do. Each store
    /// writes the whole word: a load returns null or a value some store
    /// wrote, never a mix of two. A store releases and a load acquires, so
    /// a thread that loads a pointer sees the object as the storing thread
    /// had made it. Which of two racing stores the field keeps is not
    /// specified; a VM whose language orders them (a lock, a
    /// compare-and-swap) does so itself.
    ///
    /// The collector needs no more than that. The store is not an atomic
    /// swap, and a racing store may overwrite a value that no store hands
    /// the barrier as old. The barrier still keeps every mode correct: the
    /// first store to overwrite what the field held when marking began
    /// always records it, and a value lost to a race was written during the
    /// mark, which no mode needs recorded (`tricolor-barriers` §10.9).
    ///
    /// Liveness stays the caller's job, as for any store: `obj` and `value`
    /// must be live (below). A pointer this thread loaded from the field
    /// stays usable until this thread's next safepoint, even if another
    /// thread overwrites the field meanwhile. To use it after that, root it.
    ///
    /// # Safety
    /// As for [`load`](Self::load); `value`, if any, must be live too.
    ///
    /// # Panics
    /// In debug builds, if `field` is out of range or not a pointer field, or
    /// `value` is not the start of an object of this heap.
    #[inline]
    pub unsafe fn store(&mut self, obj: ObjRef, field: usize, value: Option<ObjRef>) {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, true);
            if let Some(v) = value {
                self.check_object(v, "stored value");
            }
        }
        let new = value.map_or(0, ObjRef::addr);
        // SAFETY: as for `load`.
        let old = unsafe { object::swap_field(obj, field, new as u64) };
        // The phase cannot change between the store and this check: it
        // changes only with the world stopped, and there is no safepoint in
        // between (barriers §10).
        if self.heap.phase.marking() {
            self.barrier_slow(obj, old as usize, new);
        } else if self.heap.generations.enabled
            // SAFETY: as for `load`.
            && unsafe { self.log_armed(obj) }
        {
            self.log_store(obj);
        }
    }

    /// The generational barrier's slow path (generation §3): `obj` is old
    /// and armed, and this mutator stored a pointer into it outside a mark.
    /// Disarms it and, if this call disarmed it, logs it for the next minor
    /// cycle's remembered set.
    #[cold]
    #[inline(never)]
    fn log_store(&mut self, obj: ObjRef) {
        if self
            .heap
            .barrier_disabled_for_testing
            .load(Ordering::Relaxed)
        {
            return;
        }
        // SAFETY: `obj` is live (the store's contract).
        if unsafe { self.heap.disarm_log(obj) } {
            match &mut self.data {
                Some(g) => g.log.push(obj.addr()),
                None => native_misuse(),
            }
        }
    }

    /// The write barrier while marking (`mutator::barrier` module docs),
    /// of a store of `new` over `old` into `obj`. No safepoint between the
    /// store and this record. In a generational heap a store of a pointer
    /// into an object that will be old after this mark (old, or a survivor)
    /// also logs that object, once per mark (generation §3): the value may
    /// stay young, and the object's scan may have come before the store.
    #[cold]
    #[inline(never)]
    fn barrier_slow(&mut self, obj: ObjRef, old: usize, new: usize) {
        let id = self.shared.id;
        let heap = &*self.heap;
        let data = match &mut self.data {
            Some(g) => &mut **g,
            None => native_misuse(),
        };
        barrier::record_store(heap, data, id, old, new);
        if heap.generations.enabled
            && new != 0
            && !heap.generations.tenures_first()
            && !heap.barrier_disabled_for_testing.load(Ordering::Relaxed)
        {
            if let Some(o) = heap.page.find_object(obj.addr()) {
                if o.promotes() && o.log_once() {
                    data.log.push(obj.addr());
                }
            }
        }
    }

    /// Loads non-pointer word `field` of `obj`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A boxed float: one data word.
    /// let float = heap.register_type(TypeDescriptor::fixed("Float", 1, &[]))?;
    /// let mut m = heap.attach()?;
    /// let f = m.alloc(float, 0);
    /// // SAFETY: `f` was just allocated (no safepoint since); word 0 is data.
    /// unsafe { m.store_word(f, 0, 2.5f64.to_bits()) };
    /// let slot = m.push_root(Some(f));
    /// m.collect();
    /// // SAFETY: `f` is rooted in `slot`.
    /// let bits = unsafe { m.load_word(m.root(slot).unwrap(), 0) };
    /// assert_eq!(f64::from_bits(bits), 2.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load).
    #[inline]
    pub unsafe fn load_word(&self, obj: ObjRef, field: usize) -> u64 {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, false);
        }
        // SAFETY: as for `load`.
        unsafe { object::load_field(obj, field) }
    }

    /// Stores non-pointer word `field` of `obj`. For a traced type, stores a
    /// tagged word: the barrier sees the pointers it carries (by the type's
    /// `decode`).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 5);
    /// // Byte arrays are written a word at a time (little-endian here).
    /// let word = u64::from_le_bytes(*b"hello\0\0\0");
    /// // SAFETY: `s` was just allocated (no safepoint since); a 5-byte array
    /// // has one payload word.
    /// unsafe { m.store_word(s, 0, word) };
    /// // SAFETY: as above.
    /// assert_eq!(&unsafe { m.load_word(s, 0) }.to_le_bytes()[..5], b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// For a tagged word of a traced type, see [`TypeDescriptor::traced`].
    ///
    /// Stores from several threads into one word may race, as for
    /// [`store`](Self::store) (its "Racing stores"): a load sees a whole
    /// word that some store wrote, and the field keeps one of them. For a traced
    /// type the barrier decodes the word the store loaded and the word it
    /// writes, and stays correct under racing stores in every mode
    /// (`tricolor-barriers` §10.9). The caller's liveness rules are
    /// unchanged.
    ///
    /// [`TypeDescriptor::traced`]: crate::TypeDescriptor::traced
    ///
    /// # Safety
    /// As for [`load`](Self::load); for a traced type, a pointer the word
    /// carries must be a live object of this heap.
    #[inline]
    pub unsafe fn store_word(&mut self, obj: ObjRef, field: usize, value: u64) {
        if cfg!(debug_assertions) {
            self.check_field(obj, field, false);
        }
        if !self.heap.phase.marking() {
            // SAFETY: as for `load`.
            unsafe { object::store_field(obj, field, value) };
            // Whether `value` is a pointer is the decoder's to say; an
            // armed object is logged on any store (generation §3).
            // SAFETY: as for `load`.
            if self.heap.generations.enabled && unsafe { self.log_armed(obj) } {
                self.log_store(obj);
            }
            return;
        }
        // SAFETY: as for `load`.
        let old = unsafe { object::swap_field(obj, field, value) };
        // SAFETY: `obj` is live (caller's contract).
        let (ty, _, _) = unsafe { self.heap.object_type(obj) };
        let desc = self.heap.types.by_index(ty);
        if let Some((old, new)) = desc.and_then(|d| d.decode_store(old, value)) {
            self.barrier_slow(obj, old, new);
        }
    }

    /// The type of `obj` and the length its header records (array elements,
    /// or bytes for a byte array; 0 for fixed-size types).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    /// let s = m.alloc(string, 11);
    /// // SAFETY: `s` was just allocated, with no safepoint since.
    /// let (ty, len) = unsafe { m.shape_of(s) };
    /// assert_eq!((ty, len), (string, 11));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As for [`load`](Self::load).
    pub unsafe fn shape_of(&self, obj: ObjRef) -> (TypeId, usize) {
        // SAFETY: caller's contract.
        let (index, len, _) = unsafe { self.heap.object_type(obj) };
        (self.heap.types.id_of(index), len)
    }

    pub(super) fn check_object(&self, obj: ObjRef, what: &str) {
        let o =
            self.heap.page.find_object(obj.addr()).unwrap_or_else(|| {
                panic!("tricolor: {what} {obj:?} is not an object of this heap")
            });
        assert_eq!(
            o.base(),
            obj.addr(),
            "tricolor: {what} {obj:?} points inside the object at {:#x}, not at its start",
            o.base()
        );
    }

    fn check_field(&self, obj: ObjRef, field: usize, pointer: bool) {
        self.check_object(obj, "object");
        // SAFETY: check_object confirmed `obj` is an object of this heap.
        let (ty, len, _) = unsafe { self.heap.object_type(obj) };
        let desc = self
            .heap
            .types
            .by_index(ty)
            .unwrap_or_else(|| panic!("tricolor: {obj:?} has an invalid header (type {ty})"));
        let words = desc.payload_words(len).unwrap_or(0);
        assert!(
            field < words,
            "tricolor: field {field} of a `{}` with {words} payload words",
            desc.name
        );
        let mapped = matches!(
            desc.pointers,
            Pointers::Bitmap(_) | Pointers::Leading(_) | Pointers::PrefixArray { .. }
        );
        if mapped {
            assert_eq!(
                desc.is_pointer_word(field),
                pointer,
                "tricolor: field {field} of `{}` is {} field; use {}",
                desc.name,
                if pointer {
                    "not a pointer"
                } else {
                    "a pointer"
                },
                if pointer {
                    "load_word/store_word"
                } else {
                    "load/store"
                }
            );
        } else if pointer {
            panic!(
                "tricolor: `{}` has no pointer map; use load_word/store_word",
                desc.name
            );
        }
    }
}
