//! Finalizers, cleanups, weak references and ephemeron tables.
//!
//! Finalizers and cleanups run on the heap's finalizer thread, which is a
//! mutator of its own: the callback gets a `tricolor_mutator *` for that
//! thread, valid during the call, with which it may allocate, load and
//! store (it must not detach it or wait for finalizers).

use std::ffi::c_void;

use tricolor_collector::SpecialError;

use crate::api::heap::write_out;
use crate::callbacks::{self, tricolor_cleanup_fn, tricolor_finalizer, Ctx};
use crate::handle::{
    self, mutator, obj, opt_obj, to_c, tricolor_cleanup, tricolor_ephemerons, tricolor_heap,
    tricolor_mutator, tricolor_weak,
};
use crate::status::{self, tricolor_status, Error, Result, *};

/// The library's specials error as a C-side one.
fn special_error(e: SpecialError, what: &str) -> Error {
    let status = match &e {
        SpecialError::AlreadyHasFinalizer { .. } => TRICOLOR_ERR_STATE,
        _ => TRICOLOR_ERR_BAD_OBJECT,
    };
    Error::new(status, format!("{what}: {e}"))
}

/// A required callback.
fn callback<F>(f: Option<F>, what: &str) -> Result<F> {
    f.ok_or_else(|| Error::new(TRICOLOR_ERR_NULL, format!("{what}: the callback is NULL")))
}

/// Gives `obj` a finalizer: once `obj` is unreachable, `f(m, obj, ctx)`
/// runs on the finalizer thread, and `obj` and what it refers to stay
/// alive until it has (Go's `SetFinalizer`: the finalizer may store `obj`
/// somewhere reachable again). An object has at most one finalizer
/// (`TRICOLOR_ERR_STATE` for a second one).
///
/// Ownership: `ctx` stays the caller's; it is passed to `f` once, on the
/// finalizer thread. Thread: the mutator's own. Not a GC point.
/// `TRICOLOR_ERR_BAD_OBJECT` for a pointer that is not the start of a live
/// object of this heap.
///
/// # Safety
/// `m` is a mutator handle; `obj` NULL or a pointer (it is checked); `f`
/// must not unwind, and `ctx` must be usable on the finalizer thread.
#[no_mangle]
pub unsafe extern "C" fn tricolor_set_finalizer(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    f: tricolor_finalizer,
    ctx: *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_set_finalizer";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        let f = callback(f, WHAT)?;
        let fin = callbacks::finalizer(f, Ctx(ctx), h.types().clone());
        h.m()
            .set_finalizer(o, fin)
            .map_err(|e| special_error(e, WHAT))
    })
}

/// Removes `obj`'s finalizer; `*had` (if not NULL) tells whether it had one.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `had` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_clear_finalizer(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    had: *mut bool,
) -> tricolor_status {
    const WHAT: &str = "tricolor_clear_finalizer";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        let r = h
            .m()
            .clear_finalizer(o)
            .map_err(|e| special_error(e, WHAT))?;
        if !had.is_null() {
            // SAFETY: non-null, valid by the caller's guarantee.
            unsafe { had.write(r) };
        }
        Ok(())
    })
}

/// Adds a cleanup to `obj`: once `obj` is unreachable and freed,
/// `f(m, arg, ctx)` runs on the finalizer thread. Unlike a finalizer it
/// cannot bring `obj` back: it gets `arg` (another object, kept alive by
/// the cleanup, or NULL), never `obj`. An object may have many. Stores a
/// handle in `*out` (if not NULL) with which it can be cancelled.
///
/// Ownership: the caller owns `*out` and frees it with
/// `tricolor_cleanup_free` (which does not cancel). Thread: the mutator's
/// own. Not a GC point.
///
/// # Safety
/// As `tricolor_set_finalizer`; `arg` NULL or a pointer (it is checked);
/// `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_add_cleanup(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    arg: *mut c_void,
    f: tricolor_cleanup_fn,
    ctx: *mut c_void,
    out: *mut *mut tricolor_cleanup,
) -> tricolor_status {
    const WHAT: &str = "tricolor_add_cleanup";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        let f = callback(f, WHAT)?;
        let c = callbacks::cleanup(f, Ctx(ctx), h.types().clone());
        let handle = h
            .m()
            .add_cleanup(o, opt_obj(arg), c)
            .map_err(|e| special_error(e, WHAT))?;
        if !out.is_null() {
            // SAFETY: non-null, valid by the caller's guarantee.
            unsafe { out.write(tricolor_cleanup::into_raw(handle)) };
        }
        Ok(())
    })
}

/// Cancels a cleanup that has not run; `*cancelled` (if not NULL) tells
/// whether this call cancelled it.
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `c` is NULL or a cleanup handle; `cancelled` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_cleanup_cancel(
    c: *const tricolor_cleanup,
    cancelled: *mut bool,
) -> tricolor_status {
    const WHAT: &str = "tricolor_cleanup_cancel";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let c = unsafe { handle::cleanup(c, WHAT) }?;
        let r = c.inner.cancel();
        if !cancelled.is_null() {
            // SAFETY: non-null, valid by the caller's guarantee.
            unsafe { cancelled.write(r) };
        }
        Ok(())
    })
}

/// Frees a cleanup handle (the cleanup stays registered).
///
/// Ownership: takes the handle. Any thread. Not a GC point. NULL is a no-op.
///
/// # Safety
/// `c` is NULL or a live cleanup handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn tricolor_cleanup_free(c: *mut tricolor_cleanup) -> tricolor_status {
    const WHAT: &str = "tricolor_cleanup_free";
    status::status(WHAT, || {
        if c.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { handle::cleanup(c, WHAT) }?;
        // SAFETY: checked live; the caller gives it up.
        drop(unsafe { tricolor_cleanup::from_raw(c) });
        Ok(())
    })
}

/// Makes a weak reference to `obj` and stores it in `*out`: it reads as
/// `obj` while `obj` is reachable otherwise, and as NULL once a collection
/// found it unreachable (before its finalizer, if any, runs).
///
/// Ownership: the caller owns `*out`; `tricolor_weak_free` frees it.
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `obj` NULL or a pointer (it is checked); `out`
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_weak_new(
    m: *mut tricolor_mutator,
    obj: *mut c_void,
    out: *mut *mut tricolor_weak,
) -> tricolor_status {
    const WHAT: &str = "tricolor_weak_new";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let o = handle::obj(obj, WHAT, "the object")?;
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{WHAT}: the out pointer is NULL"),
            ));
        }
        let w = h.m().weak_ref(o).map_err(|e| special_error(e, WHAT))?;
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out, tricolor_weak::into_raw(w), WHAT) }
    })
}

/// The object `w` refers to, or NULL once it was found unreachable (also
/// on a bad call: the last error tells). The result is an ordinary strong
/// pointer until the next GC point: root it to keep it.
///
/// Thread: the mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `w` NULL or a weak handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_weak_get(
    m: *mut tricolor_mutator,
    w: *const tricolor_weak,
) -> *mut c_void {
    const WHAT: &str = "tricolor_weak_get";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        // SAFETY: forwarded from the caller.
        let w = unsafe { handle::weak(w, WHAT) }?;
        Ok(to_c(w.inner.get(h.m())))
    })
}

/// Frees a weak reference handle.
///
/// Ownership: takes the handle. Any thread. Not a GC point. NULL is a no-op.
///
/// # Safety
/// `w` is NULL or a live weak handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn tricolor_weak_free(w: *mut tricolor_weak) -> tricolor_status {
    const WHAT: &str = "tricolor_weak_free";
    status::status(WHAT, || {
        if w.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { handle::weak(w, WHAT) }?;
        // SAFETY: checked live; the caller gives it up.
        drop(unsafe { tricolor_weak::from_raw(w) });
        Ok(())
    })
}

/// Makes an ephemeron table: a map from key objects to value objects in
/// which an entry keeps its value alive only while its key is reachable
/// from elsewhere, and is dropped when the key dies (a weak-keyed map
/// without the cycle leak: a value that refers to its own key does not
/// keep it). Returns NULL (last error set) for a bad heap.
///
/// Ownership: the caller owns the table; `tricolor_ephemerons_free` frees
/// it. Any thread. Not a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_new(
    heap: *const tricolor_heap,
) -> *mut tricolor_ephemerons {
    const WHAT: &str = "tricolor_ephemerons_new";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        Ok(tricolor_ephemerons::into_raw(h.heap.ephemeron_table()))
    })
}

/// Maps `key` to `value` in table `t`; `*old` (if not NULL) gets the value
/// it replaced, or NULL.
///
/// Thread: a mutator's own (any mutator of the table's heap). Not a GC
/// point.
///
/// # Safety
/// `m` is a mutator handle; `t` NULL or a table handle; `key` and `value`
/// NULL or pointers (they are checked); `old` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_insert(
    m: *mut tricolor_mutator,
    t: *const tricolor_ephemerons,
    key: *mut c_void,
    value: *mut c_void,
    old: *mut *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_ephemerons_insert";
    status::status(WHAT, || {
        // SAFETY (both): forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let t = unsafe { handle::ephemerons(t, WHAT) }?;
        let k = obj(key, WHAT, "the key")?;
        let v = obj(value, WHAT, "the value")?;
        let prev = t
            .inner
            .insert(h.m(), k, v)
            .map_err(|e| special_error(e, WHAT))?;
        if !old.is_null() {
            // SAFETY: non-null, valid by the caller's guarantee.
            unsafe { old.write(to_c(prev)) };
        }
        Ok(())
    })
}

/// The value `key` maps to in table `t`, or NULL (also on a bad call: the
/// last error tells).
///
/// Thread: a mutator's own. Not a GC point.
///
/// # Safety
/// `m` is a mutator handle; `t` NULL or a table handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_get(
    m: *mut tricolor_mutator,
    t: *const tricolor_ephemerons,
    key: *mut c_void,
) -> *mut c_void {
    const WHAT: &str = "tricolor_ephemerons_get";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY (both): forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, true) }?;
        let t = unsafe { handle::ephemerons(t, WHAT) }?;
        let k = obj(key, WHAT, "the key")?;
        Ok(to_c(t.inner.get(h.m(), k)))
    })
}

/// Removes `key` from table `t` and returns the value it mapped to, or NULL.
///
/// Thread: a mutator's own. Not a GC point.
///
/// # Safety
/// As `tricolor_ephemerons_get`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_remove(
    m: *mut tricolor_mutator,
    t: *const tricolor_ephemerons,
    key: *mut c_void,
) -> *mut c_void {
    const WHAT: &str = "tricolor_ephemerons_remove";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY (both): forwarded from the caller.
        let h = unsafe { mutator(m, WHAT, false) }?;
        let t = unsafe { handle::ephemerons(t, WHAT) }?;
        let k = obj(key, WHAT, "the key")?;
        Ok(to_c(t.inner.remove(h.m(), k)))
    })
}

/// The number of entries in table `t` (dead keys' entries are dropped by
/// the collection that finds them dead). 0 for a bad handle (last error set).
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `t` is NULL or a table handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_len(t: *const tricolor_ephemerons) -> usize {
    const WHAT: &str = "tricolor_ephemerons_len";
    status::value(WHAT, 0, || {
        // SAFETY: forwarded from the caller.
        let t = unsafe { handle::ephemerons(t, WHAT) }?;
        Ok(t.inner.len())
    })
}

/// Frees table `t`: its entries stop holding their values.
///
/// Ownership: takes the handle. Any thread. Not a GC point. NULL is a no-op.
///
/// # Safety
/// `t` is NULL or a live table handle, not used again.
#[no_mangle]
pub unsafe extern "C" fn tricolor_ephemerons_free(t: *mut tricolor_ephemerons) -> tricolor_status {
    const WHAT: &str = "tricolor_ephemerons_free";
    status::status(WHAT, || {
        if t.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { handle::ephemerons(t, WHAT) }?;
        // SAFETY: checked live; the caller gives it up.
        drop(unsafe { tricolor_ephemerons::from_raw(t) });
        Ok(())
    })
}
