//! Allocation: the inlined fast path, the general path, and the report
//! to the pacer that may start a cycle, assist the mark or wait for it
//! (essay steps 1 and 3b); heap profile samples are taken on the general
//! path (profile §1).

use std::sync::atomic::Ordering;
use std::time::Instant;

use tricolor_allocator::{ObjectKind, Special};

use super::assist::{self, Owed};
use super::header::user_bits_failed;
use super::{native_misuse, GcAllocError, Mutator, ALLOC_REPORT_BYTES};
use crate::descriptor::{Shape, TypeId};
use crate::heap::inner::CollectError;
use crate::object::{self, ObjRef};
use crate::policy::Decision;
use crate::profile::sample::capture_stack;
use crate::specials::records::KIND_PROFILE;

impl Mutator {
    // ---- allocation ----------------------------------------------------------

    /// Allocates an object of type `ty` with length `len` (0 for fixed types;
    /// elements for arrays, prefix arrays included; bytes for byte arrays).
    /// The object is zeroed except for its header: every pointer field is
    /// null.
    ///
    /// The new object is reachable only through the returned `ObjRef` until it
    /// is stored in a root or another object; the next safepoint (including
    /// the next allocation) may free it if it is not.
    ///
    /// Like `Box::new`, this is the call for the common case, and a failure
    /// is fatal to the caller; [`try_alloc`](Self::try_alloc) returns it.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let pair = heap.register_type(TypeDescriptor::fixed("Pair", 2, &[0, 1]))?;
    /// let vector = heap.register_type(TypeDescriptor::array("Vector", 1, &[0]))?;
    /// let string = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let mut m = heap.attach()?;
    ///
    /// let s = m.alloc(string, 5); // 5 bytes (one payload word), zeroed
    /// let s_slot = m.push_root(Some(s)); // rooted before the next allocation
    /// let v = m.alloc(vector, 3); // 3 elements, all null
    /// // SAFETY: `v` was just allocated (no safepoint since), `s` is rooted,
    /// // and element 0 is a pointer field of `Vector`.
    /// unsafe { m.store(v, 0, m.root(s_slot)) };
    /// m.set_root(s_slot, Some(v)); // `s` stays reachable through `v`
    /// let p = m.alloc(pair, 0); // fixed-size types take length 0
    /// # let _ = p;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// Whenever [`try_alloc`](Self::try_alloc) would return an error, with
    /// its message: a type id of another heap, a length that does not suit
    /// the type, an object over the size limit, a heap at its limit or a
    /// system out of memory, a failed collection. Also if the mutator is in
    /// native state.
    #[inline]
    #[track_caller]
    pub fn alloc(&mut self, ty: TypeId, len: usize) -> ObjRef {
        match self.alloc_fast(ty, len, 0) {
            Some(obj) => obj,
            None => match self.alloc_general(ty, len, 0) {
                Ok(obj) => obj,
                Err(e) => alloc_failed(e),
            },
        }
    }

    /// [`alloc`](Self::alloc), for a caller that can recover from a failed
    /// allocation: a VM raising its own out-of-memory error, or a loader
    /// that checks lengths it read from a file.
    ///
    /// ```
    /// use tricolor_collector::{Config, GcAllocError, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config { max_object_size: 1 << 20, ..Config::default() });
    /// let buf = heap.register_type(TypeDescriptor::bytes("Buffer"))?;
    /// let mut m = heap.attach()?;
    /// match m.try_alloc(buf, 2 << 20) {
    ///     Ok(_) => unreachable!("over the object size limit"),
    ///     Err(GcAllocError::Alloc(e)) => println!("MemoryError: {e}"), // the VM's own error
    ///     Err(e) => panic!("{e}"),
    /// }
    /// assert!(m.try_alloc(buf, 100).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`GcAllocError::ForeignType`] if `ty` came from another heap,
    /// [`GcAllocError::BadLength`] if `len` does not suit the type,
    /// [`GcAllocError::Alloc`] if the allocator refuses (the object size
    /// limit, the heap limit, or the system is out of memory), and
    /// [`GcAllocError::CollectionFailed`] if the allocation had to wait
    /// for a collection (the heap far over its goal) and the collection
    /// failed.
    ///
    /// # Panics
    /// If the mutator is in native state.
    #[inline]
    pub fn try_alloc(&mut self, ty: TypeId, len: usize) -> Result<ObjRef, GcAllocError> {
        match self.alloc_fast(ty, len, 0) {
            Some(obj) => Ok(obj),
            None => self.alloc_general(ty, len, 0),
        }
    }

    /// [`alloc`](Self::alloc), with the new object's user bits set to
    /// `bits` ([`set_user_bits`](Self::set_user_bits)) as its header is
    /// written: the same cost as `alloc`, where setting them afterwards is
    /// one more atomic read-modify-write. For a VM that knows an object's
    /// class index (or hash) when it makes it.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// const LIST_CLASS: u16 = 7;
    ///
    /// let heap = Heap::new(Config::default());
    /// let instance = heap.register_type(TypeDescriptor::fixed("Instance", 2, &[0, 1]))?;
    /// let mut m = heap.attach()?;
    /// let list = m.alloc_with_user_bits(instance, 0, LIST_CLASS);
    /// // SAFETY: `list` was just allocated, with no safepoint since.
    /// assert_eq!(unsafe { m.user_bits(list) }, LIST_CLASS);
    /// let plain = m.alloc(instance, 0);
    /// // SAFETY: as above.
    /// assert_eq!(unsafe { m.user_bits(plain) }, 0, "alloc starts them at 0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// As [`alloc`](Self::alloc); also if `bits` does not fit in 15 bits
    /// (over [`MAX_USER_BITS`](crate::MAX_USER_BITS)), before anything is
    /// allocated.
    #[inline]
    #[track_caller]
    pub fn alloc_with_user_bits(&mut self, ty: TypeId, len: usize, bits: u16) -> ObjRef {
        let user = match object::user_bits_field(bits) {
            Ok(_) if bits != 0 && ty.is_header_free() => {
                user_bits_failed(object::UserBitsError::header_free(bits))
            }
            Ok(field) => field,
            Err(e) => user_bits_failed(e),
        };
        match self.alloc_fast(ty, len, user) {
            Some(obj) => obj,
            None => match self.alloc_general(ty, len, user) {
                Ok(obj) => obj,
                Err(e) => alloc_failed(e),
            },
        }
    }

    /// The inlined part of [`alloc`](Self::alloc) and
    /// [`try_alloc`](Self::try_alloc): a small fixed-size
    /// object of this heap from the cache, when no safepoint request is
    /// due and the object does not take the bytes allocated past
    /// `report_at` (an allocation report or a heap profile sample is due,
    /// profile §1). The cache's own slow path (a new 64-slot window from
    /// the span's bits, or a new span) is out of line but taken from here:
    /// after the two tests above it is exactly what the general path would
    /// do, and a window ends every 64 objects. `None` sends the caller to
    /// [`alloc_general`](Self::alloc_general), which handles every case
    /// (including these, and errors) in full. `user` is OR-ed into the
    /// header: user bits in place, 0 for [`alloc`](Self::alloc) (a
    /// constant there, so the OR is folded away).
    #[inline(always)]
    fn alloc_fast(&mut self, ty: TypeId, len: usize, user: u64) -> Option<ObjRef> {
        if self.shared.poll.load(Ordering::Acquire) != 0 || len != 0 {
            return None;
        }
        let spc = ty.small?;
        let slot = spc.size_class().size();
        if self.allocated_unreported + slot as u64 > self.report_at || !self.heap.types.owns(ty) {
            return None;
        }
        // In native state (no data) the general path reports the misuse.
        let data = self.data.as_mut()?;
        let ptr = data.cache.alloc_class(spc).ok()?;
        let bits = user | data.header_bits;
        Some(self.finish_alloc(ptr, ty, 0, slot, bits, !spc.is_own()))
    }

    /// Everything [`alloc`](Self::alloc) does: the safepoint poll, the
    /// allocation report (assists, pacing), every shape and size, errors.
    /// `user`: as for [`alloc_fast`](Self::alloc_fast).
    #[inline(never)]
    fn alloc_general(&mut self, ty: TypeId, len: usize, user: u64) -> Result<ObjRef, GcAllocError> {
        self.safepoint();
        // Report earlier allocation (which may assist, or wait for a cycle
        // at the hard limit) before carving out the new object: after it,
        // the object is unrooted until the caller stores it.
        if self.allocated_unreported >= ALLOC_REPORT_BYTES {
            self.report_allocation()?;
        }
        self.sync_profile_rate();
        let heap = &*self.heap;
        if let (Some(spc), 0, true) = (ty.small, len, heap.types.owns(ty)) {
            // The common case: a small fixed-size object of this heap, its
            // span class carried in the id (no descriptor read). The slot's
            // size is the class's size, as `small_fixed` records it.
            let data = self.data();
            let ptr = data.cache.alloc_class(spc)?;
            let bits = user | data.header_bits;
            let headed = !spc.is_own();
            let slot = spc.size_class().size();
            return Ok(self.finish_general(ptr, ty, 0, slot, bits, headed));
        }
        // An id of this heap always resolves: ids come only from
        // `register_type`, and registered slots are never cleared.
        let desc = heap.types.get(ty).ok_or(GcAllocError::ForeignType(ty))?;
        let words = desc
            .payload_words(len)
            .ok_or_else(|| GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: if matches!(desc.shape, Shape::Fixed { .. }) {
                    "fixed-size types are allocated with length 0"
                } else {
                    "the size overflows"
                },
            })?;
        if len > u32::MAX as usize {
            return Err(GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: "lengths are limited to 2^32 - 1",
            });
        }
        let bytes = words
            .checked_add(1)
            .and_then(|w| w.checked_mul(8))
            // At least 16 bytes: the object's address, after the header,
            // lies inside its slot.
            .map(|b| b.max(16))
            .ok_or_else(|| GcAllocError::BadLength {
                type_name: desc.name.clone(),
                len,
                reason: "the size overflows",
            })?;
        let kind = if desc.has_pointers() {
            ObjectKind::Scan
        } else {
            ObjectKind::NoScan
        };
        let data = self.data();
        let ptr = data.cache.alloc(bytes, kind)?;
        let bits = user | data.header_bits;
        let slot = tricolor_allocator::slot_size(bytes);
        Ok(self.finish_general(ptr, ty, len, slot, bits, true))
    }

    /// [`finish_alloc`](Self::finish_alloc) on the general path: also takes
    /// a heap profile sample if the object covers the sample point
    /// (profile §1).
    #[inline]
    fn finish_general(
        &mut self,
        ptr: std::ptr::NonNull<u8>,
        ty: TypeId,
        len: usize,
        slot: usize,
        bits: u64,
        headed: bool,
    ) -> ObjRef {
        let obj = self.finish_alloc(ptr, ty, len, slot, bits, headed);
        if self.allocated_unreported > self.sample_at {
            self.take_sample(obj, ty, slot);
        }
        obj
    }

    /// Records `obj` (`slot` bytes, just allocated) in the heap profile and
    /// draws the next sample point (profile §1–§3).
    #[cold]
    #[inline(never)]
    fn take_sample(&mut self, obj: ObjRef, ty: TypeId, slot: usize) {
        let rate = self.sampler.rate;
        self.sample_at = self.allocated_unreported + self.sampler.distance(rate);
        self.report_at = ALLOC_REPORT_BYTES.min(self.sample_at);
        let stack = capture_stack();
        let bucket = self
            .heap
            .profile
            .record_alloc(stack, ty.index, slot as u64, rate);
        // The bucket lock is released before the span's specials lock is
        // taken (profile §3: the sweep takes them the other way round).
        let o = self
            .heap
            .page
            .find_object(obj.addr())
            .expect("a fresh object is in its span");
        o.span().specials().add(Special {
            index: o.index() as u32,
            kind: KIND_PROFILE,
            data: bucket,
        });
    }

    /// Picks up the heap's profile rate if it changed: a new sample point
    /// at the new rate, or none (profile §1).
    pub(super) fn sync_profile_rate(&mut self) {
        let rate = self.heap.profile.rate();
        if rate == self.sampler.rate {
            return;
        }
        self.sampler.rate = rate;
        self.sample_at = if rate == 0 {
            u64::MAX
        } else {
            self.allocated_unreported + self.sampler.distance(rate)
        };
        self.report_at = ALLOC_REPORT_BYTES.min(self.sample_at);
    }

    /// Makes the object of a fresh slot: the object is the slot, or, if it
    /// is `headed`, the word after the slot's first, which is the header
    /// (object module docs). Writes the header, with `bits` OR-ed in (the user
    /// bits the caller asked for, 0 for `alloc`, and the mutator's
    /// `header_bits`: armed if allocated black in a generational cycle
    /// that tenures at the first survival, generation §3), and accounts for its `slot` bytes (the slot's size,
    /// as the marker and the sweeper count it, so that the pacer's heap and
    /// the allocator's agree).
    #[inline]
    fn finish_alloc(
        &mut self,
        ptr: std::ptr::NonNull<u8>,
        ty: TypeId,
        len: usize,
        slot: usize,
        bits: u64,
        headed: bool,
    ) -> ObjRef {
        if !headed {
            debug_assert_eq!(
                bits & !object::LOG_ARMED,
                0,
                "no user bits without a header"
            );
            let obj = ObjRef::from_non_null(ptr);
            if bits & object::LOG_ARMED != 0 {
                self.arm_new(obj);
            }
            self.allocated_unreported += slot as u64;
            return obj;
        }
        // The header is the slot's first word (the page heap's object
        // offset is 8); the object is the word after it.
        // SAFETY: headed slots are 16 bytes or more, so the second word
        // lies inside the slot the cache just handed us.
        let obj = ObjRef::from_non_null(unsafe { ptr.add(8) });
        // SAFETY: the cache just handed us this slot; nobody else has it.
        unsafe { object::init_header(obj, object::header(ty.index, len as u32) | bits) };
        // Reported at the next allocation, before it carves out its object
        // (see `alloc`): nothing between here and the caller may free `obj`.
        self.allocated_unreported += slot as u64;
        obj
    }

    /// Arms a fresh header-free object, allocated black in a cycle that
    /// tenures at the first survival (generation §3): what its header's
    /// log-armed bit would be, in its span.
    #[cold]
    #[inline(never)]
    fn arm_new(&self, obj: ObjRef) {
        // SAFETY: `obj` was just allocated in a slot of this heap.
        unsafe { self.heap.arm_log(obj) };
    }

    /// Tells the pacer about recent allocation; may start a cycle, or wait
    /// for one if the heap is far over its goal.
    ///
    /// # Errors
    /// The failure of a collection it had to wait for.
    pub(super) fn report_allocation(&mut self) -> Result<(), CollectError> {
        let n = std::mem::take(&mut self.allocated_unreported);
        // The sample point is on the scale of `allocated_unreported`.
        if self.sample_at != u64::MAX {
            self.sample_at = self.sample_at.saturating_sub(n);
        }
        self.report_at = ALLOC_REPORT_BYTES.min(self.sample_at);
        if self.heap.phase.marking() {
            // Allocated black during a mark: counted as marked, and paid for
            // with marking work (`mutator::assist`).
            self.heap
                .mark_state
                .black_bytes
                .fetch_add(n, Ordering::Relaxed);
            if self.heap.config.mark_assists {
                let data = match &mut self.data {
                    Some(g) => &mut **g,
                    None => native_misuse(),
                };
                if assist::assist(&self.heap, data, n) == Owed::Stuck {
                    self.park_in_assist();
                }
            }
        }
        let since = self
            .heap
            .allocated_since_mark
            .fetch_add(n, Ordering::Relaxed)
            + n;
        if self.heap.config.manual_cycles {
            return Ok(());
        }
        let live = self.heap.live_after_mark.load(Ordering::Relaxed) + since;
        let decision = self.heap.pacer.lock().decide(live);
        match decision {
            Decision::Continue => {}
            Decision::StartCycle => self.heap.nudge_cycle(),
            Decision::Block => {
                self.heap.nudge_cycle();
                // Wait for the cycle that is running or was just asked for
                // (it may not have started yet).
                let n = {
                    let c = self.heap.cycles.lock();
                    c.requested.max(c.started)
                };
                self.enter_native();
                let waited = self.heap.wait_for_cycle(n);
                self.leave_native();
                return waited;
            }
        }
        Ok(())
    }

    /// Parks while this mutator owes assist work it cannot find (`mutator::assist`
    /// module docs, "Parking"), in native state so that handshakes and
    /// stop-the-worlds go ahead without it. Called from
    /// `report_allocation`, where a safepoint is allowed.
    #[cold]
    #[inline(never)]
    fn park_in_assist(&mut self) {
        while assist::park_allowed(&self.heap) {
            let t0 = Instant::now();
            self.enter_native();
            let ms = &self.heap.mark_state;
            ms.park_assist(assist::PARK_POLL);
            ms.assist_wait_ns
                .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            ms.assist_parks.fetch_add(1, Ordering::SeqCst);
            self.leave_native();
            // The mark may have ended (and another begun, with the debt
            // reset) while this mutator was parked.
            if !self.heap.phase.marking() {
                return;
            }
            let data = match &mut self.data {
                Some(g) => &mut **g,
                None => native_misuse(),
            };
            if assist::assist(&self.heap, data, 0) != Owed::Stuck {
                return;
            }
        }
    }
}

/// The panic of [`Mutator::alloc`]: out of line, so the inlined call stays
/// small.
#[cold]
#[inline(never)]
#[track_caller]
fn alloc_failed(e: GcAllocError) -> ! {
    panic!("tricolor: allocation failed: {e}")
}
