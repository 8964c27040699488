//! Per-thread calls: attaching, allocation, fields, roots, the root
//! scanner, safepoints, native state and collection.
//!
//! A GC point is a call during which the collector may run, free
//! unreachable objects and scan roots: every object pointer the caller
//! uses after it must be rooted (shadow stack, root scanner or global).
//! The GC points are allocation, `tricolor_safepoint`,
//! `tricolor_leave_native`, `tricolor_collect`, `tricolor_live` and
//! `tricolor_wait_for_finalizers`; every other call is not one.

use std::ffi::{c_int, c_void};

use tricolor_collector::GcAllocError;

use crate::api::heap::{collect_error, tricolor_type_id};
use crate::callbacks::{self, tricolor_root_scanner, tricolor_visitor, Ctx};
use crate::handle::{self, mutator, opt_obj, to_c, tricolor_heap, tricolor_mutator};
use crate::status::{self, tricolor_status, Error, *};

/// Attaches the calling thread to `heap` and stores the new mutator in
/// `*out`: the thread's right to allocate and touch objects.
///
/// Ownership: the caller owns the mutator and frees it with
/// `tricolor_detach`, on this thread. Thread: the mutator belongs to the
/// calling thread; every call that takes it must come from this thread
/// (`TRICOLOR_ERR_WRONG_THREAD` otherwise). A thread has at most one
/// mutator per heap (`TRICOLOR_ERR_ALREADY_ATTACHED`). Not a GC point.
/// The mutator starts running: it must reach a GC point regularly (or be in
/// native state), or collections wait for it.
///
/// # Safety
/// `heap` is NULL or a heap handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_attach(
    heap: *const tricolor_heap,
    out: *mut *mut tricolor_mutator,
) -> tricolor_status {
    const WHAT: &str = "tricolor_attach";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{WHAT}: the out pointer is NULL"),
            ));
        }
        let m = h
            .heap
            .attach()
            .map_err(|e| Error::new(TRICOLOR_ERR_ALREADY_ATTACHED, format!("{WHAT}: {e}")))?;
        let p = tricolor_mutator::owned(m, h.types.clone());
        // SAFETY: checked non-null; valid by the caller's guarantee.
        unsafe { out.write(p) };
        Ok(())
    })
}

/// Detaches the mutator from its thread and frees it. Its shadow stack and
/// root scanner stop being roots.
///
/// Ownership: takes the mutator. Thread: the mutator's own. Not a GC point
/// (it may wait for a stopped world to restart). NULL is a no-op; a
/// mutator lent to a finalizer is `TRICOLOR_ERR_STATE`.
///
/// # Safety
/// `m` is NULL or a mutator handle, not used again after success.
#[no_mangle]
pub unsafe extern "C" fn tricolor_detach(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_detach";
    status::status(WHAT, || {
        if m.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        if !h.is_owned() {
            return Err(Error::new(
                TRICOLOR_ERR_STATE,
                format!("{WHAT}: this mutator is lent to a finalizer or cleanup; it cannot detach"),
            ));
        }
        status::abort_on_panic(WHAT, || {
            // SAFETY: checked live, owned and on its thread; the caller gives
            // it up.
            unsafe { tricolor_mutator::detach(std::ptr::NonNull::from(h)) }
        });
        Ok(())
    })
}

/// The library's allocation error as a C-side one.
fn alloc_error(e: GcAllocError, what: &str) -> Error {
    let status = match &e {
        GcAllocError::ForeignType(_) => TRICOLOR_ERR_BAD_TYPE,
        GcAllocError::BadLength { .. } => TRICOLOR_ERR_BAD_ARGUMENT,
        GcAllocError::Alloc(_) => TRICOLOR_ERR_OUT_OF_MEMORY,
        GcAllocError::CollectionFailed(_) => TRICOLOR_ERR_COLLECTION_FAILED,
    };
    Error::new(status, format!("{what}: {e}"))
}

/// Allocates an object of type `ty` (`len`: array elements or bytes; 0 for
/// a fixed type), zeroed, and stores it in `*out`.
///
/// Ownership: the object belongs to the heap; it lives while it is
/// reachable from a root. Thread: the mutator's own. GC point: yes; the new
/// object itself is safe until the next GC point, so root it (or store it
/// into a rooted object) before then. Failures: `TRICOLOR_ERR_BAD_TYPE`,
/// `TRICOLOR_ERR_BAD_ARGUMENT` (a length for a fixed type, an overflowing
/// array), `TRICOLOR_ERR_OUT_OF_MEMORY`, `TRICOLOR_ERR_COLLECTION_FAILED`.
///
/// # Safety
/// `m` is NULL or a mutator handle; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_alloc(
    m: *mut tricolor_mutator,
    ty: tricolor_type_id,
    len: usize,
    out: *mut *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_alloc";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{WHAT}: the out pointer is NULL"),
            ));
        }
        let id = h.type_id(ty, WHAT)?;
        let o = h.m().try_alloc(id, len).map_err(|e| alloc_error(e, WHAT))?;
        // SAFETY: checked non-null; valid by the caller's guarantee.
        unsafe { out.write(to_c(Some(o))) };
        Ok(())
    })
}

/// `tricolor_alloc` returning the object, or NULL on failure (the last
/// error says why): the `GC_MALLOC` of this API.
///
/// Ownership, thread, GC point: as `tricolor_alloc`.
///
/// # Safety
/// `m` is NULL or a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_new(
    m: *mut tricolor_mutator,
    ty: tricolor_type_id,
    len: usize,
) -> *mut c_void {
    const WHAT: &str = "tricolor_new";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let id = h.type_id(ty, WHAT)?;
        let o = h.m().try_alloc(id, len).map_err(|e| alloc_error(e, WHAT))?;
        Ok(to_c(Some(o)))
    })
}

/// Reads pointer field `field` of `obj` (a word the type names as a
/// pointer): an object or NULL.
///
/// Thread: the mutator's own. Not a GC point. In debug builds of the
/// library a bad call (NULL or foreign `obj`, a field out of range or not a
/// pointer, another thread) returns NULL and sets the last error; in
/// release builds it is undefined behaviour.
///
/// # Safety
/// `m` is a mutator handle; `obj` a live object of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_load(
    m: *mut tricolor_mutator,
    obj: *const c_void,
    field: usize,
) -> *mut c_void {
    const WHAT: &str = "tricolor_load";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: `o` is live by the caller's guarantee; the field index is
        // checked in debug builds and is the caller's obligation otherwise.
        Ok(to_c(unsafe { h.m().load(o, field) }))
    })
}

/// Writes `value` (an object or NULL) into pointer field `field` of `obj`,
/// through the write barrier.
///
/// Thread: the mutator's own. Not a GC point. Bad calls: as
/// `tricolor_load` (the status says what; nothing is written).
///
/// # Safety
/// `m` is a mutator handle; `obj` and `value` (unless NULL) live objects
/// of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_store(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    field: usize,
    value: *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_store";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: as for `tricolor_load`; `value` is live by the caller's
        // guarantee.
        unsafe { h.m().store(o, field, opt_obj(value)) };
        Ok(())
    })
}

/// Reads data word `field` of `obj` (a word that is not a pointer field, or
/// any word of a traced type).
///
/// Thread: the mutator's own. Not a GC point. Bad calls: as
/// `tricolor_load` (returning 0).
///
/// # Safety
/// As `tricolor_load`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_load_word(
    m: *mut tricolor_mutator,
    obj: *const c_void,
    field: usize,
) -> u64 {
    const WHAT: &str = "tricolor_load_word";
    status::value(WHAT, 0, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: as for `tricolor_load`.
        Ok(unsafe { h.m().load_word(o, field) })
    })
}

/// Writes data word `field` of `obj`. For a traced type the word may carry
/// a pointer (the type's decode callback says which) and the write runs the
/// barrier.
///
/// Thread: the mutator's own. Not a GC point. Bad calls: as `tricolor_store`.
///
/// # Safety
/// As `tricolor_store`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_store_word(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    field: usize,
    value: u64,
) -> tricolor_status {
    const WHAT: &str = "tricolor_store_word";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: as for `tricolor_load`.
        unsafe { h.m().store_word(o, field, value) };
        Ok(())
    })
}

/// The bytes of byte-array object `obj`, which the caller reads and writes
/// directly, and their count in `*len` (if `len` is not NULL).
///
/// Ownership: the memory is the object's; the pointer is good while the
/// object lives (the collector never moves objects). Thread: the mutator's
/// own. Not a GC point. Returns NULL (last error set,
/// `TRICOLOR_ERR_MISUSE`) for an object that is not a byte array, and, in
/// debug builds of the library, for a pointer that is not the start of an
/// object of the heap.
///
/// # Safety
/// `m` is a mutator handle; `obj` a live object of its heap; `len` NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_bytes(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    len: *mut usize,
) -> *mut u8 {
    const WHAT: &str = "tricolor_bytes";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: `o` is live by the caller's guarantee; the library checks
        // it is a byte array (a panic, caught as TRICOLOR_ERR_MISUSE). The
        // slice's borrow ends here; C keeps the pointer under the header's
        // rule (only while the object lives, never moved).
        let bytes = unsafe { h.m().bytes_mut(o) };
        if !len.is_null() {
            // SAFETY: non-null, valid for a write by the caller's guarantee.
            unsafe { len.write(bytes.len()) };
        }
        Ok(bytes.as_mut_ptr())
    })
}

/// Copies `len` bytes of byte array `src`, from byte `src_offset`, into
/// byte array `dst` at byte `dst_offset` (`memmove`: `src` and `dst` may be
/// the same object, with overlapping ranges).
///
/// Thread: the mutator's own. Not a GC point. Returns
/// `TRICOLOR_ERR_MISUSE` (nothing copied) if either object is not a byte
/// array or a range is not inside its object's bytes.
///
/// # Safety
/// `m` is a mutator handle; `src` and `dst` live objects of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_copy_bytes(
    m: *mut tricolor_mutator,
    src: *const c_void,
    src_offset: usize,
    dst: *mut c_void,
    dst_offset: usize,
    len: usize,
) -> tricolor_status {
    const WHAT: &str = "tricolor_copy_bytes";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let s = handle::obj(src, WHAT, "the source")?;
        let d = handle::obj(dst, WHAT, "the destination")?;
        // SAFETY: both are live by the caller's guarantee; the library
        // checks they are byte arrays and the ranges lie inside them.
        unsafe { h.m().copy_bytes(s, src_offset, d, dst_offset, len) };
        Ok(())
    })
}

/// Stores the type id of `obj` in `*ty` and its length (array elements or
/// bytes; 0 for a fixed type) in `*len`; either may be NULL.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `obj` a live object of its heap; `ty` and `len`
/// NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tricolor_shape_of(
    m: *mut tricolor_mutator,
    obj: *const c_void,
    ty: *mut tricolor_type_id,
    len: *mut usize,
) -> tricolor_status {
    const WHAT: &str = "tricolor_shape_of";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: `o` is live by the caller's guarantee.
        let (id, n) = unsafe { h.m().shape_of(o) };
        let c = h.c_id(id);
        // SAFETY (both writes): non-null, valid by the caller's guarantee.
        if !ty.is_null() {
            unsafe { ty.write(c) };
        }
        if !len.is_null() {
            // SAFETY: non-null, valid for a write by the caller's guarantee.
            unsafe { len.write(n) };
        }
        Ok(())
    })
}

/// Whether objects of type `ty` carry no header: 1 if it was registered
/// with `tricolor_register_fixed_header_free` and the heap granted it, 0
/// if they have a header (or on a bad call, whose error the last error
/// holds).
///
/// Thread: the mutator's own. Not a GC point. Bad calls: a NULL or foreign
/// mutator, an unknown type id (returning 0).
///
/// # Safety
/// `m` is NULL or a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_type_is_header_free(
    m: *mut tricolor_mutator,
    ty: tricolor_type_id,
) -> c_int {
    const WHAT: &str = "tricolor_type_is_header_free";
    status::value(WHAT, 0, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        Ok(c_int::from(h.type_id(ty, WHAT)?.is_header_free()))
    })
}

/// The largest value of an object's user bits (`tricolor_set_user_bits`):
/// 15 bits, all set.
pub const TRICOLOR_MAX_USER_BITS: u16 = 0x7FFF;
const _: () = assert!(TRICOLOR_MAX_USER_BITS == tricolor_collector::MAX_USER_BITS);

/// The user bits of `obj`: 15 bits of its header that are the program's
/// own, 0 until `tricolor_set_user_bits` sets them (always 0 for an object
/// of a header-free type, which has none). One load, no payload
/// word: room for a hash code computed on first use, or the index of the
/// object's class when one type serves many. The collector never reads or
/// changes them; they stay with the object for its life.
///
/// Thread: the mutator's own. Not a GC point. Bad calls: as
/// `tricolor_load_word` (returning 0).
///
/// # Safety
/// `m` is a mutator handle; `obj` a live object of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_user_bits(m: *mut tricolor_mutator, obj: *const c_void) -> u16 {
    const WHAT: &str = "tricolor_user_bits";
    status::value(WHAT, 0, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: `o` is live by the caller's guarantee; the library checks
        // it is an object of the heap in debug builds.
        Ok(unsafe { h.m().user_bits(o) })
    })
}

/// Sets the user bits of `obj` to `bits` (see `tricolor_user_bits`), at
/// most `TRICOLOR_MAX_USER_BITS`. Atomic: any thread's mutator may set
/// them while others do, and the collector's own use of the header never
/// undoes a write.
///
/// Thread: the mutator's own. Not a GC point. `bits` over
/// `TRICOLOR_MAX_USER_BITS` is `TRICOLOR_ERR_BAD_ARGUMENT`, and nothing is
/// written; other bad calls: as `tricolor_store_word`.
///
/// # Safety
/// `m` is a mutator handle; `obj` a live object of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_set_user_bits(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    bits: u16,
) -> tricolor_status {
    const WHAT: &str = "tricolor_set_user_bits";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        // SAFETY: as for `tricolor_user_bits`.
        unsafe { h.m().try_set_user_bits(o, bits) }
            .map_err(|e| Error::new(TRICOLOR_ERR_BAD_ARGUMENT, format!("{WHAT}: {e}")))
    })
}

/// Pushes `obj` (or NULL) onto the mutator's shadow stack and returns its
/// slot index; the slot is a root until popped with `tricolor_root_truncate`.
/// Returns `SIZE_MAX` (last error set) on a bad call.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `obj` NULL or a live object of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_root_push(m: *mut tricolor_mutator, obj: *mut c_void) -> usize {
    const WHAT: &str = "tricolor_root_push";
    status::value(WHAT, usize::MAX, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        Ok(h.m().push_root(opt_obj(obj)))
    })
}

/// The object in shadow-stack slot `index`, or NULL. A slot out of range
/// returns NULL and sets the last error.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_root_get(m: *mut tricolor_mutator, index: usize) -> *mut c_void {
    const WHAT: &str = "tricolor_root_get";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        Ok(to_c(h.m().root(index)))
    })
}

/// Makes shadow-stack slot `index` hold `obj` (or NULL).
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `obj` NULL or a live object of its heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_root_set(
    m: *mut tricolor_mutator,
    index: usize,
    obj: *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_root_set";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        h.m().set_root(index, opt_obj(obj));
        Ok(())
    })
}

/// The number of shadow-stack slots: save it on entry to a function and
/// `tricolor_root_truncate` to it on exit, to pop that function's roots.
/// Returns `SIZE_MAX` (last error set) on a bad call.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_root_count(m: *mut tricolor_mutator) -> usize {
    const WHAT: &str = "tricolor_root_count";
    status::value(WHAT, usize::MAX, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        Ok(h.m().root_count())
    })
}

/// Pops shadow-stack slots down to `len` slots (no-op if there are fewer).
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_root_truncate(
    m: *mut tricolor_mutator,
    len: usize,
) -> tricolor_status {
    const WHAT: &str = "tricolor_root_truncate";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        h.m().truncate_roots(len);
        Ok(())
    })
}

/// Sets (or, with a NULL `scanner`, removes) the mutator's root scanner:
/// the callback through which the VM reports its own stack and registers.
/// It is called as `scanner(visitor, ctx)` and calls `tricolor_visit` for
/// every root.
///
/// The scanner runs while the mutator is stopped at a GC point or in
/// native state, on a collector thread or on the mutator's own: it must
/// not call any tricolor function but `tricolor_visit`, must not wait for
/// the mutator (share the VM stack without a lock the mutator holds across
/// a GC point), and must not unwind (`longjmp`, C++ exceptions). `ctx` must
/// be usable from those threads.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `scanner` follows the rules above with `ctx`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_set_root_scanner(
    m: *mut tricolor_mutator,
    scanner: tricolor_root_scanner,
    ctx: *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_set_root_scanner";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let s = scanner.map(|f| callbacks::root_scanner(f, Ctx(ctx)));
        h.m().set_root_scanner(s);
        Ok(())
    })
}

/// Reports `obj` as a root, from a root scanner; NULL is ignored.
///
/// Thread: the scanner's, during its call.
///
/// # Safety
/// `v` is the visitor the running scanner was given; `obj` NULL or a live
/// object of the heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_visit(v: *mut tricolor_visitor, obj: *mut c_void) {
    if v.is_null() {
        return;
    }
    status::abort_on_panic("tricolor_visit", || {
        // SAFETY: forwarded from the caller.
        unsafe { callbacks::visit(v, opt_obj(obj)) }
    });
}

/// Polls for a collector request: a load and a branch when there is none.
/// A running mutator calls it on loop back-edges and calls where it does
/// not allocate, so that the world can stop.
///
/// Thread: the mutator's own. GC point: yes.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_safepoint(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_safepoint";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        h.m().safepoint();
        Ok(())
    })
}

/// Enters native state: the mutator promises not to touch the heap until
/// `tricolor_leave_native`, and the collector acts for it meanwhile
/// (scans its roots, runs whole cycles). Wrap every blocking call (I/O, a
/// lock, `pthread_join`) in it. Only `tricolor_leave_native`,
/// `tricolor_detach`, `tricolor_heap_*` calls and calls on other handles
/// are allowed in native state; others return `TRICOLOR_ERR_MISUSE`.
///
/// Thread: the mutator's own. Not a GC point (the collector may run while
/// the mutator is native, so objects used after leaving must be rooted).
/// `TRICOLOR_ERR_MISUSE` if already native.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_enter_native(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_enter_native";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        h.m().enter_native();
        Ok(())
    })
}

/// Leaves native state, waiting while the world is stopped.
///
/// Thread: the mutator's own. GC point: yes. `TRICOLOR_ERR_MISUSE` if not
/// native.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_leave_native(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_leave_native";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        h.m().leave_native();
        Ok(())
    })
}

/// Whether the mutator is in native state (false also for a bad handle).
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_is_native(m: *mut tricolor_mutator) -> bool {
    const WHAT: &str = "tricolor_is_native";
    status::value(WHAT, false, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        Ok(h.m().is_native())
    })
}

/// Runs a full collection, sweep included, and returns when it is done;
/// finalizers of the objects found unreachable are queued, not yet run.
///
/// Thread: the mutator's own. GC point: yes.
/// `TRICOLOR_ERR_COLLECTION_FAILED` if the cycle failed.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_collect(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_collect";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        h.m().try_collect().map_err(|e| collect_error(WHAT, e))
    })
}

/// Stores the bytes and objects allocated and not yet freed (exact at the
/// moment of the call, garbage not yet swept included) in `*bytes` and
/// `*objects`; either may be NULL.
///
/// Thread: the mutator's own. GC point: yes (a handshake with every
/// mutator runs while this one is in native state).
///
/// # Safety
/// `m` is a mutator handle; `bytes` and `objects` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tricolor_live(
    m: *mut tricolor_mutator,
    bytes: *mut u64,
    objects: *mut u64,
) -> tricolor_status {
    const WHAT: &str = "tricolor_live";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let a = h.m().heap_alloc();
        // SAFETY (both writes): non-null, valid by the caller's guarantee.
        if !bytes.is_null() {
            unsafe { bytes.write(a.bytes) };
        }
        if !objects.is_null() {
            // SAFETY: non-null, valid for a write by the caller's guarantee.
            unsafe { objects.write(a.objects) };
        }
        Ok(())
    })
}

/// Waits, in native state, until every finalizer and cleanup queued so far
/// has run.
///
/// Thread: the mutator's own, not the finalizer thread
/// (`TRICOLOR_ERR_MISUSE` from inside a finalizer). GC point: yes.
///
/// # Safety
/// `m` is a mutator handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_wait_for_finalizers(m: *mut tricolor_mutator) -> tricolor_status {
    const WHAT: &str = "tricolor_wait_for_finalizers";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        h.m().wait_for_finalizers();
        Ok(())
    })
}
