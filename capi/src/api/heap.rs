//! Heap-wide calls: configuration, heaps, types, globals, collection from
//! outside a mutator, statistics and gctrace.

use std::ffi::{c_char, c_void, CStr};
use std::num::NonZeroU32;

use tricolor_collector::policy::PacerConfig;
use tricolor_collector::{
    BarrierMode, Config, DescriptorError, Heap, PointerWords, Shape, TypeDescriptor,
};

use crate::handle::{self, opt_obj, to_c, tricolor_global, tricolor_heap};
use crate::status::{self, tricolor_status, Error, Result, *};

/// A registered type's id: the heap's serial number in the high 16 bits,
/// the type's index in the low 16 (0 is never an id).
pub type tricolor_type_id = u32;

/// Barrier mode: Go's hybrid barrier, marking concurrently (the default).
pub const TRICOLOR_BARRIER_HYBRID: u32 = 0;
/// Barrier mode: snapshot-at-the-beginning (Yuasa), marking concurrently.
pub const TRICOLOR_BARRIER_SATB: u32 = 1;
/// Barrier mode: incremental update (Dijkstra), marking concurrently.
pub const TRICOLOR_BARRIER_INCREMENTAL: u32 = 2;
/// Barrier mode: no barrier; the world stays stopped for the whole mark.
pub const TRICOLOR_BARRIER_OFF: u32 = 3;
/// `tricolor_config.gogc`: no collections paced by heap growth.
pub const TRICOLOR_GOGC_OFF: u32 = u32::MAX;

/// How a heap is made. Fill one with `tricolor_config_default`, change the
/// fields you care about, and pass it to `tricolor_heap_new`; zero in a
/// size field means the library's default.
#[repr(C)]
#[derive(Clone, Debug)]
pub struct tricolor_config {
    /// `TRICOLOR_BARRIER_*`. Env: `TRICOLOR_BARRIER=off|satb|incremental|hybrid`.
    pub barrier: u32,
    /// Collect when the heap has grown by this percentage of the live heap
    /// (Go's GOGC; default 100), or `TRICOLOR_GOGC_OFF`. Env: `TRICOLOR_GOGC`.
    pub gogc: u32,
    /// Soft memory limit in bytes; 0 for none. Env: `TRICOLOR_MEMORY_LIMIT`.
    pub memory_limit: u64,
    /// Mark workers; 0 picks (about a quarter of the cores for a concurrent
    /// mark, one per core with the barrier off). Env: `TRICOLOR_MARK_WORKERS`.
    pub mark_workers: u32,
    /// Collect at every Nth safepoint poll of each mutator; 0 for never.
    /// Env: `TRICOLOR_GCSTRESS`.
    pub gc_stress: u32,
    /// Largest object in bytes; 0 for the default.
    pub max_object_size: u64,
    /// Most address space the heap may reserve, in bytes; 0 for the default.
    pub max_heap_bytes: u64,
    /// Background mark workers at idle OS priority (default on).
    /// Env: `TRICOLOR_MARK_IDLE`.
    pub idle_priority_workers: bool,
    /// Allocating mutators help marking in proportion (default on).
    pub mark_assists: bool,
    /// Cycles run only when asked for (`tricolor_collect`); for tests.
    pub manual_cycles: bool,
    /// A background sweeper thread (default on).
    pub background_sweeper: bool,
    /// Re-mark after each mark and fail naming any object left unmarked.
    /// Env: `TRICOLOR_CHECKMARK=1`.
    pub checkmark: bool,
    /// Check every live object after each mark. Env: `TRICOLOR_VERIFY=1`.
    pub verify: bool,
    /// Fill freed objects with a poison pattern. Env: `TRICOLOR_POISON=1`.
    pub poison: bool,
    /// One line per cycle on standard error. Env: `TRICOLOR_GCTRACE=1`.
    pub gctrace: bool,
    /// Generational collection with sticky mark bits: most cycles are minor
    /// (default off). Env: `TRICOLOR_GENERATIONAL=1`.
    pub generational: bool,
}

fn barrier_code(b: BarrierMode) -> u32 {
    match b {
        BarrierMode::Hybrid => TRICOLOR_BARRIER_HYBRID,
        BarrierMode::Satb => TRICOLOR_BARRIER_SATB,
        BarrierMode::IncrementalUpdate => TRICOLOR_BARRIER_INCREMENTAL,
        BarrierMode::Off => TRICOLOR_BARRIER_OFF,
    }
}

impl From<&Config> for tricolor_config {
    fn from(c: &Config) -> tricolor_config {
        tricolor_config {
            barrier: barrier_code(c.barrier),
            gogc: c.pacer.gogc.unwrap_or(TRICOLOR_GOGC_OFF),
            memory_limit: c.pacer.memory_limit.unwrap_or(0),
            mark_workers: c.mark_workers as u32,
            gc_stress: c.gc_stress.map_or(0, NonZeroU32::get),
            max_object_size: c.max_object_size as u64,
            max_heap_bytes: c.max_heap_bytes as u64,
            idle_priority_workers: c.idle_priority_workers,
            mark_assists: c.mark_assists,
            manual_cycles: c.manual_cycles,
            background_sweeper: c.background_sweeper,
            checkmark: c.checkmark,
            verify: c.verify,
            poison: c.poison,
            gctrace: c.gctrace,
            generational: c.generational,
        }
    }
}

impl tricolor_config {
    /// The library's configuration, or what is out of range.
    fn to_config(&self, what: &str) -> Result<Config> {
        let d = Config::default();
        let barrier = match self.barrier {
            TRICOLOR_BARRIER_HYBRID => BarrierMode::Hybrid,
            TRICOLOR_BARRIER_SATB => BarrierMode::Satb,
            TRICOLOR_BARRIER_INCREMENTAL => BarrierMode::IncrementalUpdate,
            TRICOLOR_BARRIER_OFF => BarrierMode::Off,
            other => {
                return Err(Error::new(
                    TRICOLOR_ERR_BAD_ARGUMENT,
                    format!("{what}: barrier {other} is not a TRICOLOR_BARRIER_* value"),
                ))
            }
        };
        let size = |v: u64, default: usize| if v == 0 { default } else { v as usize };
        Ok(Config {
            pacer: PacerConfig {
                gogc: (self.gogc != TRICOLOR_GOGC_OFF).then_some(self.gogc),
                memory_limit: (self.memory_limit != 0).then_some(self.memory_limit),
                ..d.pacer.clone()
            },
            barrier,
            mark_workers: self.mark_workers as usize,
            idle_priority_workers: self.idle_priority_workers,
            mark_assists: self.mark_assists,
            manual_cycles: self.manual_cycles,
            background_sweeper: self.background_sweeper,
            checkmark: self.checkmark,
            verify: self.verify,
            poison: self.poison,
            gc_stress: NonZeroU32::new(self.gc_stress),
            gctrace: self.gctrace,
            per_type_stats: d.per_type_stats,
            generational: self.generational,
            // Not in the C struct: C programs choose with TRICOLOR_TENURE.
            tenure: d.tenure,
            // Heap profiles are not in the C struct: C programs turn them on
            // with TRICOLOR_HEAP_PROFILE and TRICOLOR_HEAP_PROFILE_RATE.
            heap_profile_rate: d.heap_profile_rate,
            heap_profile_path: d.heap_profile_path.clone(),
            max_object_size: size(self.max_object_size, d.max_object_size),
            max_heap_bytes: size(self.max_heap_bytes, d.max_heap_bytes),
        })
    }
}

/// Reads an optional config: NULL is the default.
///
/// # Safety
/// `cfg` is NULL or points to a `tricolor_config`.
unsafe fn config_arg(cfg: *const tricolor_config, what: &str) -> Result<Config> {
    // SAFETY: the caller's guarantee.
    match unsafe { cfg.as_ref() } {
        None => Ok(Config::default()),
        Some(c) => c.to_config(what),
    }
}

/// Writes `v` through an out-pointer that must not be NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, v: T, what: &str) -> Result<()> {
    if out.is_null() {
        return Err(Error::new(
            TRICOLOR_ERR_NULL,
            format!("{what}: the out pointer is NULL"),
        ));
    }
    // SAFETY: non-null, and valid for writes by the caller's guarantee.
    unsafe { out.write(v) };
    Ok(())
}

/// Fills `*out` with the default configuration (hybrid barrier, GOGC 100,
/// background workers at idle priority, assists and background sweeping on,
/// every check off).
///
/// Any thread. Not a GC point. Returns `TRICOLOR_ERR_NULL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of a `tricolor_config`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_config_default(out: *mut tricolor_config) -> tricolor_status {
    status::status("tricolor_config_default", || {
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out, (&Config::default()).into(), "tricolor_config_default") }
    })
}

/// Makes a heap with its own allocator and collector threads, configured
/// by `*cfg` (NULL: the default), and stores its handle in `*out`.
///
/// Ownership: the caller owns the heap and frees it with
/// `tricolor_heap_destroy`. Any thread. Not a GC point. Fails with
/// `TRICOLOR_ERR_BAD_ARGUMENT` for a configuration value out of range.
///
/// # Safety
/// `cfg` is NULL or points to a `tricolor_config`; `out` is valid for a
/// write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_new(
    cfg: *const tricolor_config,
    out: *mut *mut tricolor_heap,
) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_new";
    status::status(WHAT, || {
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{WHAT}: the out pointer is NULL"),
            ));
        }
        // SAFETY: forwarded from the caller.
        let config = unsafe { config_arg(cfg, WHAT) }?;
        let h = tricolor_heap::into_raw(Heap::new(config));
        // SAFETY: checked non-null above; valid by the caller's guarantee.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// As `tricolor_heap_new`, with the `TRICOLOR_*` environment variables
/// (`TRICOLOR_BARRIER`, `TRICOLOR_GOGC`, `TRICOLOR_MEMORY_LIMIT`,
/// `TRICOLOR_MARK_WORKERS`, `TRICOLOR_MARK_IDLE`, `TRICOLOR_GCTRACE`,
/// `TRICOLOR_CHECKMARK`, `TRICOLOR_VERIFY`, `TRICOLOR_POISON`,
/// `TRICOLOR_GCSTRESS`) applied over `*base` (NULL: the default).
///
/// Ownership, thread, GC point: as `tricolor_heap_new`. A malformed
/// variable is `TRICOLOR_ERR_BAD_ARGUMENT`, and the message names it.
///
/// # Safety
/// As `tricolor_heap_new`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_new_from_env(
    base: *const tricolor_config,
    out: *mut *mut tricolor_heap,
) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_new_from_env";
    status::status(WHAT, || {
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{WHAT}: the out pointer is NULL"),
            ));
        }
        // SAFETY: forwarded from the caller.
        let config = unsafe { config_arg(base, WHAT) }?
            .with_env(|k| std::env::var(k).ok())
            .map_err(|e| Error::new(TRICOLOR_ERR_BAD_ARGUMENT, format!("{WHAT}: {e}")))?;
        let h = tricolor_heap::into_raw(Heap::new(config));
        // SAFETY: checked non-null above; valid by the caller's guarantee.
        unsafe { out.write(h) };
        Ok(())
    })
}

/// Fills `*out` with the configuration the heap runs with.
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_config(
    heap: *const tricolor_heap,
    out: *mut tricolor_config,
) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_config";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out, h.heap.config().into(), WHAT) }
    })
}

/// Destroys the caller's heap handle. The heap's memory and threads go
/// when the last thing that holds it goes too: attached mutators, globals,
/// weak references and ephemeron tables each hold it, so detach and free
/// them first to free the heap here.
///
/// Ownership: takes the handle; it must not be used again. Any thread
/// without a running mutator of this heap (joining the collector threads
/// waits). Not a GC point. NULL is a no-op returning `TRICOLOR_OK`.
///
/// # Safety
/// `heap` is NULL or a live heap handle no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_destroy(heap: *mut tricolor_heap) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_destroy";
    status::status(WHAT, || {
        if heap.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { handle::heap(heap, WHAT) }?;
        // SAFETY: checked live above; the caller gives the handle up.
        let b = unsafe { tricolor_heap::from_raw(heap) };
        status::abort_on_panic(WHAT, move || drop(b));
        Ok(())
    })
}

/// Copies a C string argument.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn name_arg(name: *const c_char, what: &str) -> Result<String> {
    if name.is_null() {
        return Err(Error::new(
            TRICOLOR_ERR_NULL,
            format!("{what}: the type name is NULL"),
        ));
    }
    // SAFETY: non-null and NUL-terminated by the caller's guarantee.
    Ok(unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned())
}

/// A list of word indices from C.
///
/// # Safety
/// `words` is NULL (with `n` 0) or points to `n` readable `uint32_t`s.
unsafe fn words_arg<'a>(words: *const u32, n: usize, what: &str) -> Result<&'a [u32]> {
    if n == 0 {
        return Ok(&[]);
    }
    if words.is_null() {
        return Err(Error::new(
            TRICOLOR_ERR_NULL,
            format!("{what}: pointer_words is NULL with a count of {n}"),
        ));
    }
    // SAFETY: non-null and `n` elements long by the caller's guarantee.
    Ok(unsafe { std::slice::from_raw_parts(words, n) })
}

/// The body of the `tricolor_register_*` calls: checks the heap, the name
/// and the out pointer, makes the descriptor with `make`, registers it and
/// stores the id in `*out`.
///
/// # Safety
/// `heap` is NULL or a heap handle; `name` NULL or a NUL-terminated string;
/// `out` NULL or valid for a write.
unsafe fn register_with(
    heap: *const tricolor_heap,
    name: *const c_char,
    out: *mut tricolor_type_id,
    what: &'static str,
    make: impl FnOnce(String) -> Result<TypeDescriptor>,
) -> tricolor_status {
    status::status(what, || {
        // SAFETY (both): forwarded from the caller.
        let h = unsafe { handle::heap(heap, what) }?;
        let name = unsafe { name_arg(name, what) }?;
        if out.is_null() {
            return Err(Error::new(
                TRICOLOR_ERR_NULL,
                format!("{what}: the out pointer is NULL"),
            ));
        }
        register(h, make(name)?, out, what)
    })
}

/// Registers `desc` and stores its id in `*out`.
pub(crate) fn register(
    h: &tricolor_heap,
    desc: TypeDescriptor,
    out: *mut u32,
    what: &str,
) -> Result<()> {
    let id = h.heap.register_type(desc).map_err(|e: DescriptorError| {
        Error::new(TRICOLOR_ERR_BAD_DESCRIPTOR, format!("{what}: {e}"))
    })?;
    let c = h.types.add(id);
    // SAFETY: `out` is the caller's out pointer, checked non-null by the
    // entry point before registering.
    unsafe { write_out(out, c, what) }
}

/// Registers a fixed-size type of `words` payload words; the words whose
/// indices are listed in `pointer_words[0..n_pointers]` hold object
/// pointers (or NULL), the others plain data. Stores the type id in `*out`.
///
/// Ownership: the name is copied. Any thread, at any time (register every
/// type at start-up: types cannot be unregistered, and a heap holds at most
/// 65,536). Not a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle; `name` NULL or a NUL-terminated string;
/// `pointer_words` points to `n_pointers` values (or is NULL with 0);
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_fixed(
    heap: *const tricolor_heap,
    name: *const c_char,
    words: u32,
    pointer_words: *const u32,
    n_pointers: usize,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_fixed";
    let make = |name| {
        // SAFETY: forwarded from the caller.
        let ptrs = unsafe { words_arg(pointer_words, n_pointers, WHAT) }?;
        Ok(TypeDescriptor::fixed(name, words, ptrs))
    };
    // SAFETY: forwarded from the caller.
    unsafe { register_with(heap, name, out, WHAT, make) }
}

/// Registers a fixed-size type as `tricolor_register_fixed` does, whose
/// objects ask to carry no header word: each takes only its payload (a
/// node of two pointers, 16 bytes instead of 24), in spans that are the
/// type's own. Such objects have no user bits: `tricolor_user_bits` reads
/// 0 and `tricolor_set_user_bits` fails with `TRICOLOR_ERR_BAD_ARGUMENT`.
/// A type over 512 payload bytes, or registered after the heap's 64 own
/// span classes are taken, gets a header as usual;
/// `tricolor_type_is_header_free` tells. Stores the type id in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_fixed`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_fixed_header_free(
    heap: *const tricolor_heap,
    name: *const c_char,
    words: u32,
    pointer_words: *const u32,
    n_pointers: usize,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_fixed_header_free";
    let make = |name| {
        // SAFETY: forwarded from the caller.
        let ptrs = unsafe { words_arg(pointer_words, n_pointers, WHAT) }?;
        Ok(TypeDescriptor::fixed(name, words, ptrs).header_free())
    };
    // SAFETY: forwarded from the caller.
    unsafe { register_with(heap, name, out, WHAT, make) }
}

/// Registers an array type: objects are `len` elements of `elem_words`
/// words each (the length is given at allocation); in every element, the
/// words listed in `pointer_words` are object pointers. Stores the type id
/// in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_fixed`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_array(
    heap: *const tricolor_heap,
    name: *const c_char,
    elem_words: u32,
    pointer_words: *const u32,
    n_pointers: usize,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_array";
    let make = |name| {
        // SAFETY: forwarded from the caller.
        let ptrs = unsafe { words_arg(pointer_words, n_pointers, WHAT) }?;
        Ok(TypeDescriptor::array(name, elem_words, ptrs))
    };
    // SAFETY: forwarded from the caller.
    unsafe { register_with(heap, name, out, WHAT, make) }
}

/// Registers a byte-array type: objects are `len` bytes (given at
/// allocation) that hold no pointers (strings, buffers); read and write them
/// through `tricolor_bytes`. Stores the type id in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// `heap` is NULL or a heap handle; `name` NULL or a NUL-terminated
/// string; `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_bytes(
    heap: *const tricolor_heap,
    name: *const c_char,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_bytes";
    // SAFETY: forwarded from the caller.
    unsafe {
        register_with(heap, name, out, WHAT, |name| {
            Ok(TypeDescriptor::bytes(name))
        })
    }
}

/// Registers a fixed-size type of `words` payload words whose first
/// `pointer_words` words hold object pointers (or NULL) and the rest plain
/// data: the layout of a struct that puts its pointers first. Needs no
/// bitmap, however many pointers. Stores the type id in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_bytes`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_fixed_leading(
    heap: *const tricolor_heap,
    name: *const c_char,
    words: u32,
    pointer_words: u32,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_fixed_leading";
    // SAFETY: forwarded from the caller.
    unsafe {
        register_with(heap, name, out, WHAT, |name| {
            Ok(TypeDescriptor::fixed_leading(name, words, pointer_words))
        })
    }
}

/// Registers an array type of elements of `elem_words` words whose first
/// `pointer_words` words hold object pointers (an array of pointers:
/// `elem_words` and `pointer_words` 1). Stores the type id in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_bytes`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_array_leading(
    heap: *const tricolor_heap,
    name: *const c_char,
    elem_words: u32,
    pointer_words: u32,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_array_leading";
    // SAFETY: forwarded from the caller.
    unsafe {
        register_with(heap, name, out, WHAT, |name| {
            Ok(TypeDescriptor::array_leading(
                name,
                elem_words,
                pointer_words,
            ))
        })
    }
}

/// Registers a prefix + array type: objects are `prefix_words` words, then
/// `len` elements of `elem_words` words each (the length is given at
/// allocation), in one object: a closure and its upvalues, a table's
/// counts and its entries. Element `e` starts at word
/// `prefix_words + e * elem_words`. The prefix words listed in
/// `prefix_pointers[0..n_prefix]`, and in every element the words listed in
/// `elem_pointers[0..n_elem]`, hold object pointers. Stores the type id in
/// `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_fixed`, for both index lists.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tricolor_register_prefix_array(
    heap: *const tricolor_heap,
    name: *const c_char,
    prefix_words: u32,
    prefix_pointers: *const u32,
    n_prefix: usize,
    elem_words: u32,
    elem_pointers: *const u32,
    n_elem: usize,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_prefix_array";
    let make = |name| {
        // SAFETY (both): forwarded from the caller.
        let prefix = unsafe { words_arg(prefix_pointers, n_prefix, WHAT) }?;
        let elem = unsafe { words_arg(elem_pointers, n_elem, WHAT) }?;
        Ok(TypeDescriptor::prefix_array(
            name,
            prefix_words,
            PointerWords::at(prefix),
            elem_words,
            PointerWords::at(elem),
        ))
    };
    // SAFETY: forwarded from the caller.
    unsafe { register_with(heap, name, out, WHAT, make) }
}

/// Registers a prefix + array type (as `tricolor_register_prefix_array`)
/// whose pointers lead: the first `prefix_pointers` words of the prefix,
/// and the first `elem_pointers` words of every element, hold object
/// pointers. Stores the type id in `*out`.
///
/// Ownership, thread, GC point: as `tricolor_register_fixed`.
///
/// # Safety
/// As `tricolor_register_bytes`.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_prefix_array_leading(
    heap: *const tricolor_heap,
    name: *const c_char,
    prefix_words: u32,
    prefix_pointers: u32,
    elem_words: u32,
    elem_pointers: u32,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_prefix_array_leading";
    // SAFETY: forwarded from the caller.
    unsafe {
        register_with(heap, name, out, WHAT, |name| {
            Ok(TypeDescriptor::prefix_array(
                name,
                prefix_words,
                PointerWords::leading(prefix_pointers),
                elem_words,
                PointerWords::leading(elem_pointers),
            ))
        })
    }
}

/// The shape of a traced type: `TRICOLOR_SHAPE_FIXED` (`words` payload
/// words) or `TRICOLOR_SHAPE_ARRAY` (elements of `words` words).
pub const TRICOLOR_SHAPE_FIXED: u32 = 0;
/// See `TRICOLOR_SHAPE_FIXED`.
pub const TRICOLOR_SHAPE_ARRAY: u32 = 1;

/// The library's shape for a C one.
pub(crate) fn shape_arg(shape: u32, words: u32, what: &str) -> Result<Shape> {
    match shape {
        TRICOLOR_SHAPE_FIXED => Ok(Shape::Fixed { words }),
        TRICOLOR_SHAPE_ARRAY => Ok(Shape::Array { elem_words: words }),
        other => Err(Error::new(
            TRICOLOR_ERR_BAD_ARGUMENT,
            format!("{what}: shape {other} is not TRICOLOR_SHAPE_FIXED or TRICOLOR_SHAPE_ARRAY"),
        )),
    }
}

/// Adds a global root holding `obj` (or NULL) and returns its handle; the
/// object it holds stays reachable until the slot changes or is removed.
/// For VM-wide values (the symbol table, the module list).
///
/// Ownership: the caller owns the handle; `tricolor_global_remove` frees
/// it. Any thread. Not a GC point. `obj` must be a live object of this heap
/// (rooted, or allocated with no GC point since). Returns NULL (last error
/// set) if `heap` is bad.
///
/// # Safety
/// `heap` is NULL or a heap handle; `obj` NULL or a live object of it.
#[no_mangle]
pub unsafe extern "C" fn tricolor_global_add(
    heap: *const tricolor_heap,
    obj: *mut c_void,
) -> *mut tricolor_global {
    const WHAT: &str = "tricolor_global_add";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        Ok(tricolor_global::into_raw(h.heap.add_global(opt_obj(obj))))
    })
}

/// The object global `g` holds, or NULL (also when `g` is bad: the last
/// error tells).
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `g` is NULL or a global handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_global_get(g: *const tricolor_global) -> *mut c_void {
    const WHAT: &str = "tricolor_global_get";
    status::value(WHAT, std::ptr::null_mut(), || {
        // SAFETY: forwarded from the caller.
        let g = unsafe { handle::global(g, WHAT) }?;
        Ok(to_c(g.inner.get()))
    })
}

/// Makes global `g` hold `obj` (or NULL); the write is shaded for a
/// concurrent mark.
///
/// Any thread. Not a GC point. `obj` must be a live object of the heap.
///
/// # Safety
/// `g` is NULL or a global handle; `obj` NULL or a live object.
#[no_mangle]
pub unsafe extern "C" fn tricolor_global_set(
    g: *const tricolor_global,
    obj: *mut c_void,
) -> tricolor_status {
    const WHAT: &str = "tricolor_global_set";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let g = unsafe { handle::global(g, WHAT) }?;
        g.inner.set(opt_obj(obj));
        Ok(())
    })
}

/// Removes global `g` (its object is no longer rooted by it) and frees the
/// handle.
///
/// Ownership: takes the handle. Any thread. Not a GC point. NULL is a no-op.
///
/// # Safety
/// `g` is NULL or a live global handle no other thread is using.
#[no_mangle]
pub unsafe extern "C" fn tricolor_global_remove(g: *mut tricolor_global) -> tricolor_status {
    const WHAT: &str = "tricolor_global_remove";
    status::status(WHAT, || {
        if g.is_null() {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { handle::global(g, WHAT) }?;
        // SAFETY: checked live above; the caller gives the handle up.
        drop(unsafe { tricolor_global::from_raw(g) });
        Ok(())
    })
}

/// Runs a full collection, sweep included, and returns when it is done.
///
/// Thread: any thread that has no running mutator of this heap (a thread
/// whose mutator is in native state may call it; a running mutator calls
/// `tricolor_collect` instead, and this returns `TRICOLOR_ERR_MISUSE`).
/// It waits for every running mutator to reach a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_collect(heap: *const tricolor_heap) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_collect";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        h.heap
            .try_collect()
            .map_err(|e| Error::new(TRICOLOR_ERR_COLLECTION_FAILED, format!("{WHAT}: {e}")))
    })
}

/// Waits until every finalizer and cleanup queued so far has run.
///
/// Thread: as `tricolor_heap_collect` (a running mutator calls
/// `tricolor_wait_for_finalizers`). Not from a finalizer.
///
/// # Safety
/// `heap` is NULL or a heap handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_wait_for_finalizers(
    heap: *const tricolor_heap,
) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_wait_for_finalizers";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        h.heap.wait_for_finalizers();
        Ok(())
    })
}

/// Turns the gctrace line (one line per cycle on standard error) on or off.
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle.
#[no_mangle]
pub unsafe extern "C" fn tricolor_set_gctrace(
    heap: *const tricolor_heap,
    on: bool,
) -> tricolor_status {
    const WHAT: &str = "tricolor_set_gctrace";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        h.heap.set_gctrace(on);
        Ok(())
    })
}

/// A heap's counters (Go's `MemStats`, for one heap). Times are in
/// nanoseconds, sizes in bytes.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct tricolor_stats {
    /// Collection cycles completed.
    pub cycles: u64,
    /// Every stop-the-world pause, added up.
    pub pause_total_ns: u64,
    /// The longest pause.
    pub pause_max_ns: u64,
    /// The 99th percentile pause, to three significant digits.
    pub pause_p99_ns: u64,
    /// The longest wait for the world to stop (inside a pause).
    pub stop_wait_max_ns: u64,
    /// Wall time spent in concurrent marking.
    pub mark_total_ns: u64,
    /// CPU time spent marking, by every marker.
    pub mark_cpu_total_ns: u64,
    /// What the last mark found reachable.
    pub marked_bytes: u64,
    /// The heap size at which the next cycle should finish.
    pub goal_bytes: u64,
    /// Bytes allocated since the last mark finished (reported in chunks).
    pub allocated_since_mark: u64,
    /// Memory in spans in use.
    pub in_use_bytes: u64,
    /// Memory committed from the OS.
    pub committed_bytes: u64,
    /// Objects allocated ever (exact after `tricolor_live`).
    pub allocated_objects_total: u64,
    /// Bytes allocated ever (slot sizes).
    pub allocated_bytes_total: u64,
    /// Objects freed ever.
    pub freed_objects_total: u64,
    /// Objects the last cycle marked.
    pub last_objects_marked: u64,
    /// Finalizers registered and not yet queued.
    pub finalizers_pending: u64,
    /// Finalizers run.
    pub finalizers_run: u64,
    /// Cleanups run.
    pub cleanups_run: u64,
    /// Weak references cleared.
    pub weak_cleared: u64,
    /// Ephemeron entries dropped because their key died.
    pub ephemerons_dropped: u64,
}

/// Fills `*out` with the heap's counters.
///
/// Any thread. Not a GC point.
///
/// # Safety
/// `heap` is NULL or a heap handle; `out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn tricolor_heap_stats(
    heap: *const tricolor_heap,
    out: *mut tricolor_stats,
) -> tricolor_status {
    const WHAT: &str = "tricolor_heap_stats";
    status::status(WHAT, || {
        // SAFETY: forwarded from the caller.
        let h = unsafe { handle::heap(heap, WHAT) }?;
        let s = h.heap.stats();
        let ns = |d: std::time::Duration| d.as_nanos() as u64;
        let st = tricolor_stats {
            cycles: s.cycles,
            pause_total_ns: ns(s.pause_total),
            pause_max_ns: ns(s.pause_max),
            pause_p99_ns: ns(s.pause_quantiles.p99),
            stop_wait_max_ns: ns(s.stop_wait_max),
            mark_total_ns: ns(s.mark_total),
            mark_cpu_total_ns: ns(s.mark_cpu_total),
            marked_bytes: s.marked_bytes,
            goal_bytes: s.goal,
            allocated_since_mark: s.allocated_since_mark,
            in_use_bytes: s.heap.in_use_bytes as u64,
            committed_bytes: s.heap.committed_bytes as u64,
            allocated_objects_total: s.heap.allocated_objects_total,
            allocated_bytes_total: s.heap.allocated_bytes_total,
            freed_objects_total: s.heap.freed_objects_total,
            last_objects_marked: s.last_cycle.as_ref().map_or(0, |c| c.objects_marked),
            finalizers_pending: s.specials.finalizers_pending,
            finalizers_run: s.specials.finalizers_run,
            cleanups_run: s.specials.cleanups_run,
            weak_cleared: s.specials.weak_cleared,
            ephemerons_dropped: s.specials.ephemerons_dropped,
        };
        // SAFETY: forwarded from the caller.
        unsafe { write_out(out, st, WHAT) }
    })
}

/// A failed collection's message as a C-side error.
pub(crate) fn collect_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(TRICOLOR_ERR_COLLECTION_FAILED, format!("{what}: {e}"))
}

/// Registers a traced type: the VM's callbacks find the pointers, for
/// tagged values and NaN-boxing. `shape` is `TRICOLOR_SHAPE_FIXED` (`words`
/// payload words) or `TRICOLOR_SHAPE_ARRAY` (elements of `words` words).
/// `trace(t, obj, words, len, ctx)` reports every referent of `obj` with
/// `tricolor_tracer_edge`; `decode(word, ctx)` returns the object address a
/// stored word carries, or 0, for the write barrier. Fields of a traced type
/// are read and written with `tricolor_load_word` / `tricolor_store_word`.
/// Stores the type id in `*out`.
///
/// The callbacks run on mark workers, several at once, while mutators run:
/// they must only read the object (through `tricolor_tracer_word`) and
/// report, never call other tricolor functions, block or unwind. `decode`
/// runs on mutator threads (on stores while a mark is running). So `ctx`
/// is shared across threads: both callbacks may use it from several
/// threads at the same time, and anything they change through it must be
/// thread-safe (atomics, or data that is only read). There is no limit on
/// the number of traced types beyond a heap's type limit.
///
/// Ownership: the name is copied; `ctx` stays the caller's and must
/// outlive the heap (the library never frees it). Any thread. Not a GC
/// point.
///
/// # Safety
/// As `tricolor_register_fixed`; the callbacks follow the rules above.
#[no_mangle]
pub unsafe extern "C" fn tricolor_register_traced(
    heap: *const tricolor_heap,
    name: *const c_char,
    shape: u32,
    words: u32,
    trace: crate::callbacks::tricolor_trace_fn,
    decode: crate::callbacks::tricolor_decode_fn,
    ctx: *mut c_void,
    out: *mut tricolor_type_id,
) -> tricolor_status {
    const WHAT: &str = "tricolor_register_traced";
    // SAFETY: forwarded from the caller.
    unsafe {
        register_with(heap, name, out, WHAT, |name| {
            let shape = shape_arg(shape, words, WHAT)?;
            let (Some(trace), Some(decode)) = (trace, decode) else {
                return Err(Error::new(
                    TRICOLOR_ERR_NULL,
                    format!("{WHAT}: a callback is NULL"),
                ));
            };
            let ctx = crate::callbacks::Ctx(ctx);
            Ok(crate::callbacks::traced(name, shape, trace, decode, ctx))
        })
    }
}

/// Word `i` of the object a trace callback is tracing. An index out of
/// range aborts the process with a message (a trace callback that reads
/// outside its object would miss pointers; the heap cannot go on).
///
/// Thread: the trace callback's, during its call.
///
/// # Safety
/// `t` is the tracer the running trace callback was given.
#[no_mangle]
pub unsafe extern "C" fn tricolor_tracer_word(
    t: *mut crate::callbacks::tricolor_tracer,
    i: usize,
) -> u64 {
    status::abort_on_panic("tricolor_tracer_word", || {
        assert!(!t.is_null(), "the tracer is NULL");
        // SAFETY: forwarded from the caller.
        unsafe { crate::callbacks::tracer_word(t, i) }
    })
}

/// Reports `addr` (an object's address; 0 is ignored) as a referent of the
/// object being traced.
///
/// Thread: the trace callback's, during its call.
///
/// # Safety
/// `t` is the tracer the running trace callback was given; `addr` is 0 or
/// the start of an object of the heap.
#[no_mangle]
pub unsafe extern "C" fn tricolor_tracer_edge(
    t: *mut crate::callbacks::tricolor_tracer,
    addr: usize,
) {
    status::abort_on_panic("tricolor_tracer_edge", || {
        assert!(!t.is_null(), "the tracer is NULL");
        // SAFETY: forwarded from the caller.
        unsafe { crate::callbacks::tracer_edge(t, addr) }
    })
}
