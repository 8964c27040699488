//! C callbacks as the library's closures: a function pointer and the
//! `void *ctx` it is called with become a Rust closure that captures both.
//!
//! The library runs root scanners on whichever thread stops the world,
//! and finalizers on its finalizer thread, so the closures must be `Send`;
//! a raw `void *` is not, and [`Ctx`] asserts it is, on the C caller's
//! promise (written in the header) that the context may be used from
//! those threads. C code cannot unwind into Rust (a C++ exception or a
//! `longjmp` out of a callback is forbidden by the header), so the
//! trampolines have no panic of their own to catch.

use std::ffi::c_void;
use std::sync::Arc;

use tricolor_collector::{
    Edges, Mutator, ObjRef, ObjectView, RootScanner, RootVisitor, Shape, TypeDescriptor,
};

use crate::handle::{to_c, tricolor_mutator, Types};

/// A C context pointer, passed back to its callback as it came.
#[derive(Copy, Clone)]
pub(crate) struct Ctx(pub(crate) *mut c_void);

// SAFETY: the pointer is only handed back to the C callback it came with;
// the header makes the caller promise the context may be used from the
// collector's threads (scanners, trace callbacks) or the finalizer thread.
unsafe impl Send for Ctx {}
// SAFETY: as for Send: trace callbacks run on several mark workers at once,
// and the header says so.
unsafe impl Sync for Ctx {}

/// The visitor a root scanner reports roots to (opaque; valid only during
/// the scanner's call).
pub struct tricolor_visitor {
    _opaque: [u8; 0],
}

/// A root scanner: reports the VM's own roots of one mutator by calling
/// `tricolor_visit` for each.
pub type tricolor_root_scanner =
    Option<unsafe extern "C" fn(v: *mut tricolor_visitor, ctx: *mut c_void)>;

/// A finalizer: called once, on the heap's finalizer thread, with that
/// thread's mutator (valid for the call only), the object and the context.
pub type tricolor_finalizer =
    Option<unsafe extern "C" fn(m: *mut tricolor_mutator, obj: *mut c_void, ctx: *mut c_void)>;

/// A cleanup: called once, on the heap's finalizer thread, with that
/// thread's mutator (valid for the call only), the cleanup's argument
/// object (or NULL) and the context.
pub type tricolor_cleanup_fn =
    Option<unsafe extern "C" fn(m: *mut tricolor_mutator, arg: *mut c_void, ctx: *mut c_void)>;

/// The library's root scanner for a C one.
pub(crate) fn root_scanner(
    f: unsafe extern "C" fn(*mut tricolor_visitor, *mut c_void),
    ctx: Ctx,
) -> RootScanner {
    Box::new(move |v: &mut RootVisitor<'_>| {
        let ctx = ctx;
        let v = (v as *mut RootVisitor<'_>).cast::<tricolor_visitor>();
        // SAFETY: `f` is the C scanner the VM registered, called with the
        // context it gave; `v` is valid for this call, and `tricolor_visit`
        // casts it back.
        unsafe { f(v, ctx.0) }
    })
}

/// Reports one root to the visitor behind `v`.
///
/// # Safety
/// `v` is the visitor a scanner was called with, during that call.
pub(crate) unsafe fn visit(v: *mut tricolor_visitor, obj: Option<ObjRef>) {
    // SAFETY: the caller's guarantee: `v` is the `RootVisitor` that
    // `root_scanner`'s closure cast, still borrowed by that call.
    let v = unsafe { &mut *v.cast::<RootVisitor<'_>>() };
    v.visit(obj);
}

/// The library's finalizer for a C one.
pub(crate) fn finalizer(
    f: unsafe extern "C" fn(*mut tricolor_mutator, *mut c_void, *mut c_void),
    ctx: Ctx,
    types: Arc<Types>,
) -> impl FnOnce(&mut Mutator, ObjRef) + Send + 'static {
    move |m, obj| {
        let ctx = ctx;
        let mut handle = tricolor_mutator::borrowed(m, types);
        // SAFETY: `f` is the C finalizer registered with `ctx`; `handle` lives
        // until it returns, which is all the header promises.
        unsafe { f(&mut handle, to_c(Some(obj)), ctx.0) }
    }
}

/// The library's cleanup for a C one.
pub(crate) fn cleanup(
    f: unsafe extern "C" fn(*mut tricolor_mutator, *mut c_void, *mut c_void),
    ctx: Ctx,
    types: Arc<Types>,
) -> impl FnOnce(&mut Mutator, Option<ObjRef>) + Send + 'static {
    move |m, arg| {
        let ctx = ctx;
        let mut handle = tricolor_mutator::borrowed(m, types);
        // SAFETY: as for `finalizer`.
        unsafe { f(&mut handle, to_c(arg), ctx.0) }
    }
}

/// What a trace callback reports referents through (opaque; valid only
/// during the callback's call).
pub struct tricolor_tracer {
    _opaque: [u8; 0],
}

/// A trace callback: reports every object `obj` refers to by calling
/// `tricolor_tracer_edge`, reading the object's words with
/// `tricolor_tracer_word` (`words` payload words; `len` is the array
/// length, 0 for a fixed type).
pub type tricolor_trace_fn = Option<
    unsafe extern "C" fn(
        t: *mut tricolor_tracer,
        obj: *const c_void,
        words: usize,
        len: usize,
        ctx: *mut c_void,
    ),
>;

/// A decode callback: the object address a stored word carries, or 0.
pub type tricolor_decode_fn = Option<unsafe extern "C" fn(word: u64, ctx: *mut c_void) -> usize>;

/// What a `tricolor_tracer *` points to during a trace callback.
struct Tracer<'v, 'e, 's> {
    view: ObjectView<'v>,
    edges: &'e mut Edges<'s>,
}

/// The library's trace and decode closures for C callbacks: each captures
/// its C function and `ctx`, so any number of traced types may be
/// registered, and each descriptor owns its callbacks (dropped with its
/// heap).
pub(crate) fn traced(
    name: String,
    shape: Shape,
    trace: unsafe extern "C" fn(*mut tricolor_tracer, *const c_void, usize, usize, *mut c_void),
    decode: unsafe extern "C" fn(u64, *mut c_void) -> usize,
    ctx: Ctx,
) -> TypeDescriptor {
    let trace_c = move |view: ObjectView<'_>, edges: &mut Edges<'_>| {
        let ctx = ctx;
        let mut t = Tracer { view, edges };
        let p = (&mut t as *mut Tracer<'_, '_, '_>).cast::<tricolor_tracer>();
        let obj = view.obj().addr() as *const c_void;
        // SAFETY: `trace` is the C callback registered with `ctx`; `p` is
        // valid for this call and the tracer calls cast it back.
        unsafe { trace(p, obj, view.words(), view.len(), ctx.0) }
    };
    let decode_c = move |w: u64| {
        let ctx = ctx;
        // SAFETY: `decode` is the C callback registered with `ctx`.
        let a = unsafe { decode(w, ctx.0) };
        (a != 0).then_some(a)
    };
    TypeDescriptor::traced_with(name, shape, trace_c, decode_c)
}

/// Word `i` of the object being traced (an atomic load, bounds-checked).
///
/// # Safety
/// `t` is the tracer a trace callback was given, during that call.
pub(crate) unsafe fn tracer_word(t: *mut tricolor_tracer, i: usize) -> u64 {
    // SAFETY: the caller's guarantee: `t` is the `Tracer` cast in the
    // closure `traced` makes, still borrowed by that call.
    let t = unsafe { &*t.cast::<Tracer<'_, '_, '_>>() };
    t.view.word(i)
}

/// Reports one referent.
///
/// # Safety
/// As [`tracer_word`].
pub(crate) unsafe fn tracer_edge(t: *mut tricolor_tracer, addr: usize) {
    // SAFETY: as for `tracer_word`; the borrow is exclusive (a tracer is
    // used by the one call it was made for).
    let t = unsafe { &mut *t.cast::<Tracer<'_, '_, '_>>() };
    t.edges.visit(addr);
}
