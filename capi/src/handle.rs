//! The opaque handles C holds, and the checked conversions from the raw
//! pointers C passes back: the only place a handle pointer is dereferenced.
//!
//! - `tricolor_heap *` is a `Box<tricolor_heap>` leaked to C: the Rust
//!   [`Heap`] handle and the table of type ids. `tricolor_heap_destroy`
//!   takes the box back and drops it. Mutators, globals, weak references
//!   and tables hold the heap's state alive on their own (the library
//!   counts them), so destroying the handle first is allowed: the heap's
//!   threads stop when the last of them goes.
//! - `tricolor_mutator *` is a `Box<tricolor_mutator>` that points at a
//!   [`Mutator`]: owned (boxed, from `tricolor_attach`, freed by
//!   `tricolor_detach` on the same thread) or borrowed (the finalizer
//!   thread's mutator, lent to a finalizer or cleanup callback for the
//!   length of the call). The handle records the thread that made it; a
//!   call from another thread is `TRICOLOR_ERR_WRONG_THREAD`, always on the
//!   calls that are not hot and in debug builds on the hot ones.
//! - Every handle starts with a magic word naming its kind, cleared when it
//!   is freed: a handle of the wrong kind or a freed one (while its memory
//!   is not yet reused) is `TRICOLOR_ERR_INVALID_HANDLE`, not corruption.
//!
//! Type ids are `uint32_t`: the heap's serial number in the high 16 bits
//! and the library's type index in the low 16 ([`MAX_TYPES`] is 2^16), so
//! an id of another heap is `TRICOLOR_ERR_BAD_TYPE`. Each mutator handle
//! caches the ids it has used (types are never unregistered), so
//! allocation takes no lock.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tricolor_collector::{
    CleanupHandle, EphemeronTable, GlobalRoot, Heap, Mutator, ObjRef, TypeId, WeakRef, MAX_TYPES,
};

use crate::status::{Error, Result, *};

const HEAP_MAGIC: u64 = 0x7472_6963_6865_6170; // "tricheap"
const MUTATOR_MAGIC: u64 = 0x7472_6963_6d75_7461; // "tricmuta"
const GLOBAL_MAGIC: u64 = 0x7472_6963_676c_6f62; // "tricglob"
const WEAK_MAGIC: u64 = 0x7472_6963_7765_616b; // "tricweak"
const CLEANUP_MAGIC: u64 = 0x7472_6963_636c_6e75; // "tricclnu"
const TABLE_MAGIC: u64 = 0x7472_6963_6570_6872; // "tricephr"
const DEAD: u64 = 0xdead_dead_dead_dead;

/// A heap, as C holds it (opaque).
pub struct tricolor_heap {
    magic: u64,
    pub(crate) heap: Heap,
    pub(crate) types: Arc<Types>,
}

/// The C type ids of one heap.
pub(crate) struct Types {
    /// This heap's serial number (1..=65535), the high half of its ids.
    serial: u32,
    /// By the library's type index: the id registered there.
    ids: RwLock<Vec<Option<Entry>>>,
}

/// A registered type, as a mutator handle caches it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) id: TypeId,
}

impl Types {
    /// The C id of `id`, recorded for look-ups.
    pub(crate) fn add(&self, id: TypeId) -> u32 {
        let i = id.index() as usize;
        let mut ids = self.ids.write();
        if ids.len() <= i {
            ids.resize(i + 1, None);
        }
        ids[i] = Some(Entry { id });
        self.c_id(id)
    }

    /// The C id of a registered type.
    pub(crate) fn c_id(&self, id: TypeId) -> u32 {
        self.serial << 16 | id.index()
    }
}

impl tricolor_heap {
    /// A new handle for `heap`, leaked to C.
    pub(crate) fn into_raw(heap: Heap) -> *mut tricolor_heap {
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed) % 0xffff + 1;
        const { assert!(MAX_TYPES <= 1 << 16, "type indices fit the low half") };
        Box::into_raw(Box::new(tricolor_heap {
            magic: HEAP_MAGIC,
            heap,
            types: Arc::new(Types {
                serial,
                ids: RwLock::new(Vec::new()),
            }),
        }))
    }

    /// Takes back a handle made by [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `p` passed [`heap`] and is not used again.
    pub(crate) unsafe fn from_raw(p: *mut tricolor_heap) -> Box<tricolor_heap> {
        // SAFETY: `p` came from `Box::into_raw` in `into_raw` (the magic
        // word said so) and the caller gives up its use.
        let mut b = unsafe { Box::from_raw(p) };
        b.magic = DEAD;
        b
    }
}

/// Checks a heap handle from C.
///
/// # Safety
/// `p` is NULL or points to readable memory the size of a heap handle
/// (a handle from `tricolor_heap_new`, possibly destroyed: its magic word
/// tells).
pub(crate) unsafe fn heap<'a>(p: *const tricolor_heap, what: &str) -> Result<&'a tricolor_heap> {
    let Some(p) = NonNull::new(p.cast_mut()) else {
        return Err(Error::new(
            TRICOLOR_ERR_NULL,
            format!("{what}: the heap is NULL"),
        ));
    };
    // SAFETY: the caller guarantees `p` is readable; the magic word is the
    // first field, read before anything else is trusted.
    let h = unsafe { p.as_ref() };
    if h.magic != HEAP_MAGIC {
        return Err(Error::new(
            TRICOLOR_ERR_INVALID_HANDLE,
            format!("{what}: not a live tricolor_heap (destroyed, or another kind of pointer)"),
        ));
    }
    Ok(h)
}

/// A mutator, as C holds it (opaque).
pub struct tricolor_mutator {
    magic: u64,
    /// The mutator: owned (`Box::into_raw`) or borrowed for a callback.
    m: NonNull<Mutator>,
    owned: bool,
    /// The thread that made the handle ([`thread_tag`]).
    thread: usize,
    types: Arc<Types>,
    /// The heap's types as last read, by index.
    cache: Vec<Option<Entry>>,
}

/// An address unique to the calling thread while it lives: the address of
/// a thread-local.
#[inline]
fn thread_tag() -> usize {
    thread_local!(static TAG: u8 = const { 0 });
    TAG.with(|t| t as *const u8 as usize)
}

impl tricolor_mutator {
    /// A handle owning `m`, bound to the calling thread, leaked to C.
    pub(crate) fn owned(m: Mutator, types: Arc<Types>) -> *mut tricolor_mutator {
        let m = NonNull::from(Box::leak(Box::new(m)));
        Box::into_raw(Box::new(tricolor_mutator {
            magic: MUTATOR_MAGIC,
            m,
            owned: true,
            thread: thread_tag(),
            types,
            cache: Vec::new(),
        }))
    }

    /// A handle borrowing `m` (the finalizer thread's), for one callback.
    pub(crate) fn borrowed(m: &mut Mutator, types: Arc<Types>) -> tricolor_mutator {
        tricolor_mutator {
            magic: MUTATOR_MAGIC,
            m: NonNull::from(m),
            owned: false,
            thread: thread_tag(),
            types,
            cache: Vec::new(),
        }
    }

    /// The mutator.
    #[inline]
    pub(crate) fn m(&mut self) -> &mut Mutator {
        // SAFETY: `m` points to a live mutator: owned ones live until
        // `detach` frees the handle with them; a borrowed one outlives the
        // callback the handle is lent to. `&mut self` makes this the only
        // access, and the thread check keeps it on the mutator's thread.
        unsafe { self.m.as_mut() }
    }

    /// The heap's type table.
    pub(crate) fn types(&self) -> &Arc<Types> {
        &self.types
    }

    /// The library's id for C type id `ty`.
    #[inline]
    pub(crate) fn type_id(&mut self, ty: u32, what: &str) -> Result<TypeId> {
        let i = (ty & 0xffff) as usize;
        if let Some(Some(e)) = self.cache.get(i) {
            if ty >> 16 == self.types.serial {
                return Ok(e.id);
            }
        }
        self.type_id_slow(ty, what).map(|e| e.id)
    }

    /// The C id of a type of this heap.
    pub(crate) fn c_id(&self, id: TypeId) -> u32 {
        self.types.c_id(id)
    }

    #[cold]
    fn type_id_slow(&mut self, ty: u32, what: &str) -> Result<Entry> {
        let bad = |why: &str| {
            Err(Error::new(
                TRICOLOR_ERR_BAD_TYPE,
                format!("{what}: type id {ty:#x} {why}"),
            ))
        };
        if ty >> 16 != self.types.serial {
            return bad("was not registered with this mutator's heap");
        }
        self.cache.clone_from(&self.types.ids.read());
        match self.cache.get((ty & 0xffff) as usize) {
            Some(Some(e)) => Ok(*e),
            _ => bad("is not a registered type of this heap"),
        }
    }

    /// Frees an owned handle and detaches its mutator.
    ///
    /// # Safety
    /// `self` came from [`owned`](Self::owned) and passed [`mutator`] on
    /// this thread; the handle is not used again.
    pub(crate) unsafe fn detach(p: NonNull<tricolor_mutator>) {
        // SAFETY: owned handles are `Box::into_raw` of a `Box` whose `m` is
        // a leaked `Box<Mutator>` (see `owned`); the caller gives up both.
        let (handle, m) = unsafe {
            let mut handle = Box::from_raw(p.as_ptr());
            let m = Box::from_raw(handle.m.as_ptr());
            handle.magic = DEAD;
            (handle, m)
        };
        drop(m);
        drop(handle);
    }

    /// Whether this handle owns its mutator (it may be detached).
    pub(crate) fn is_owned(&self) -> bool {
        self.owned
    }
}

/// Checks a mutator handle from C: not NULL, a live mutator handle, and
/// (always when `hot` is false, in debug builds when it is true) used from
/// the thread that attached it.
///
/// # Safety
/// `p` is NULL or points to readable memory the size of a mutator handle,
/// and no other reference to the handle is live.
#[inline]
pub(crate) unsafe fn mutator<'a>(
    p: *mut tricolor_mutator,
    what: &str,
    hot: bool,
) -> Result<&'a mut tricolor_mutator> {
    let Some(mut p) = NonNull::new(p) else {
        return Err(Error::new(
            TRICOLOR_ERR_NULL,
            format!("{what}: the mutator is NULL"),
        ));
    };
    // SAFETY: readable by the caller's guarantee; the magic word and the
    // thread tag are checked before the mutator is touched.
    let h = unsafe { p.as_mut() };
    if !hot || cfg!(debug_assertions) {
        if h.magic != MUTATOR_MAGIC {
            return Err(Error::new(
                TRICOLOR_ERR_INVALID_HANDLE,
                format!(
                    "{what}: not a live tricolor_mutator (detached, or another kind of pointer)"
                ),
            ));
        }
        if h.thread != thread_tag() {
            return Err(Error::new(
                TRICOLOR_ERR_WRONG_THREAD,
                format!(
                    "{what}: the mutator belongs to another thread; each thread attaches \
                     its own (tricolor_attach)"
                ),
            ));
        }
    }
    Ok(h)
}

/// An object pointer from C: NULL is "no object".
#[inline]
pub(crate) fn opt_obj(p: *const c_void) -> Option<ObjRef> {
    ObjRef::from_addr(p as usize)
}

/// An object pointer from C that must not be NULL.
#[inline]
pub(crate) fn obj(p: *const c_void, what: &str, arg: &str) -> Result<ObjRef> {
    opt_obj(p).ok_or_else(|| Error::new(TRICOLOR_ERR_NULL, format!("{what}: {arg} is NULL")))
}

/// An object as C sees it.
#[inline]
pub(crate) fn to_c(o: Option<ObjRef>) -> *mut c_void {
    o.map_or(std::ptr::null_mut(), |o| o.addr() as *mut c_void)
}

/// Defines a boxed handle type around a library value, with its magic word
/// and checked access.
/// (The structs are written out, not made by the macro, so that cbindgen
/// sees them.)
macro_rules! boxed_handle {
    ($name:ident, $inner:ty, $magic:expr, $check:ident, $kind:literal) => {
        impl $name {
            /// A new handle, leaked to C.
            pub(crate) fn into_raw(inner: $inner) -> *mut $name {
                Box::into_raw(Box::new($name {
                    magic: $magic,
                    inner,
                }))
            }

            /// Takes back a handle that passed the check.
            ///
            /// # Safety
            /// `p` passed the check function and is not used again.
            pub(crate) unsafe fn from_raw(p: *mut $name) -> Box<$name> {
                // SAFETY: the check confirmed a live handle made by
                // `into_raw` (`Box::into_raw`); the caller gives up its use.
                let mut b = unsafe { Box::from_raw(p) };
                b.magic = DEAD;
                b
            }
        }

        /// Checks a handle from C.
        ///
        /// # Safety
        /// `p` is NULL or points to readable memory the size of the handle.
        pub(crate) unsafe fn $check<'a>(p: *const $name, what: &str) -> Result<&'a $name> {
            let Some(p) = NonNull::new(p.cast_mut()) else {
                return Err(Error::new(
                    TRICOLOR_ERR_NULL,
                    format!("{what}: the {} is NULL", $kind),
                ));
            };
            // SAFETY: readable by the caller's guarantee; the magic word is
            // checked before anything else is trusted.
            let h = unsafe { p.as_ref() };
            if h.magic != $magic {
                return Err(Error::new(
                    TRICOLOR_ERR_INVALID_HANDLE,
                    format!(
                        "{what}: not a live {} (freed, or another kind of pointer)",
                        $kind
                    ),
                ));
            }
            Ok(h)
        }
    };
}

/// A global root slot (opaque).
pub struct tricolor_global {
    magic: u64,
    pub(crate) inner: GlobalRoot,
}

/// A weak reference (opaque).
pub struct tricolor_weak {
    magic: u64,
    pub(crate) inner: WeakRef,
}

/// A registered cleanup, which can be cancelled (opaque).
pub struct tricolor_cleanup {
    magic: u64,
    pub(crate) inner: CleanupHandle,
}

/// An ephemeron table: a map whose entries hold their value only while
/// their key is reachable otherwise (opaque).
pub struct tricolor_ephemerons {
    magic: u64,
    pub(crate) inner: EphemeronTable,
}

boxed_handle!(
    tricolor_global,
    GlobalRoot,
    GLOBAL_MAGIC,
    global,
    "tricolor_global"
);
boxed_handle!(tricolor_weak, WeakRef, WEAK_MAGIC, weak, "tricolor_weak");
boxed_handle!(
    tricolor_cleanup,
    CleanupHandle,
    CLEANUP_MAGIC,
    cleanup,
    "tricolor_cleanup"
);
boxed_handle!(
    tricolor_ephemerons,
    EphemeronTable,
    TABLE_MAGIC,
    ephemerons,
    "tricolor_ephemerons"
);
