//! The heap: one independent collector instance.
//!
//! A [`Heap`] owns a page heap (the allocator), the type registry, the global
//! roots, the mutator registry, the pacer and the statistics, plus two
//! background threads: the cycle driver, which runs collections when asked
//! (by the pacer, by `collect`, by gc-stress), and the background sweeper.
//! Nothing here is global: a process may run many heaps side by side.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tricolor_allocator::PageHeap;

use crate::config::Config;
use crate::descriptor::{DescriptorError, TypeDescriptor, TypeId};
use crate::mutator::{AttachError, Mutator, MutatorShared};
use crate::object::ObjRef;
use crate::pacer::Pacer;
use crate::phase::Phase;
use crate::stats::{GcStats, StatsState};

const TYPE_CHUNK: usize = 1024;
const TYPE_CHUNKS: usize = 64;

/// The registered descriptors. Append-only, read without a lock by markers:
/// each slot is set once.
pub(crate) struct TypeTable {
    chunks: [OnceLock<Box<[OnceLock<TypeDescriptor>]>>; TYPE_CHUNKS],
    count: Mutex<usize>,
    /// This heap's tag in every `TypeId` it hands out (random per heap).
    tag: u32,
}

impl TypeTable {
    fn new() -> TypeTable {
        use std::hash::{BuildHasher, Hasher};
        // std's RandomState is seeded randomly and differs per instance.
        let tag = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32;
        TypeTable {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            count: Mutex::new(0),
            tag,
        }
    }

    fn register(&self, mut desc: TypeDescriptor) -> Result<TypeId, DescriptorError> {
        desc.validate()?;
        desc.prepare();
        let small_fixed = desc.small_fixed;
        let mut count = self.count.lock();
        let id = *count;
        if id >= TYPE_CHUNK * TYPE_CHUNKS {
            return Err(DescriptorError::TooManyTypes);
        }
        let chunk = self.chunks[id / TYPE_CHUNK]
            .get_or_init(|| (0..TYPE_CHUNK).map(|_| OnceLock::new()).collect());
        chunk[id % TYPE_CHUNK]
            .set(desc)
            .unwrap_or_else(|_| unreachable!("type slots are set once, under the count lock"));
        *count += 1;
        Ok(TypeId {
            index: id as u32,
            heap: self.tag,
            small: small_fixed.map(|(spc, _)| spc),
        })
    }

    /// Whether `id` was handed out by this table (by this heap).
    #[inline]
    pub(crate) fn owns(&self, id: TypeId) -> bool {
        id.heap == self.tag
    }

    /// The descriptor for `id`, if `id` was registered with this heap.
    #[inline]
    pub(crate) fn get(&self, id: TypeId) -> Option<&TypeDescriptor> {
        if id.heap != self.tag {
            return None;
        }
        self.by_index(id.index)
    }

    /// The descriptor at `index` (from an object header), if registered.
    #[inline]
    pub(crate) fn by_index(&self, index: u32) -> Option<&TypeDescriptor> {
        let i = index as usize;
        self.chunks.get(i / TYPE_CHUNK)?.get()?[i % TYPE_CHUNK].get()
    }

    /// The `TypeId` for a header's type index.
    pub(crate) fn id_of(&self, index: u32) -> TypeId {
        TypeId {
            index,
            heap: self.tag,
            small: self
                .by_index(index)
                .and_then(|d| d.small_fixed)
                .map(|(spc, _)| spc),
        }
    }
}

/// Cycle requests between mutators and the cycle driver.
#[derive(Default)]
pub(crate) struct CycleControl {
    /// Cycles asked for (a cycle number: "at least this many cycles").
    pub(crate) requested: u64,
    /// Cycles completed.
    pub(crate) completed: u64,
    /// Cycles started.
    pub(crate) started: u64,
    /// Set when the last user handle goes away.
    pub(crate) shutdown: bool,
    /// Set when a cycle panicked (a checkmark or verifier failure): the
    /// message. The heap runs no more cycles; waiters panic with it.
    pub(crate) failed: Option<String>,
}

/// Everything a heap is; shared by [`Heap`] handles, mutators and the
/// background threads.
pub(crate) struct HeapInner {
    pub(crate) config: Config,
    pub(crate) page: Arc<PageHeap>,
    pub(crate) types: TypeTable,
    /// Global roots: slot values (object addresses, 0 when empty), and a
    /// free list of slot indices. Read by the collector with the world stopped.
    pub(crate) globals: Mutex<Globals>,
    /// Attached mutators. Changed under `world` (see `safepoint`).
    pub(crate) registry: Mutex<Vec<Arc<MutatorShared>>>,
    /// Held for the whole of a stop-the-world; attaching takes it briefly, so
    /// no mutator attaches while the world is stopped. Parked mutators wait
    /// on it.
    pub(crate) world: Mutex<()>,
    /// The collector's phase ([`Phase`]); read by the barrier entry point.
    pub(crate) phase: AtomicU8,
    pub(crate) pacer: Mutex<Pacer>,
    /// Bytes (slot sizes) allocated since the last mark finished, flushed
    /// from mutators in chunks. Added to by mutators; reset at mark
    /// termination (world stopped).
    pub(crate) allocated_since_mark: AtomicU64,
    /// Live bytes (slot sizes, allocated-black bytes included) found by the
    /// last mark. Written at mark termination (world stopped).
    pub(crate) live_after_mark: AtomicU64,
    pub(crate) cycles: Mutex<CycleControl>,
    pub(crate) cycle_cv: Condvar,
    pub(crate) sweep_cv: Condvar,
    pub(crate) stats: Mutex<StatsState>,
    pub(crate) started_at: Instant,
    /// The barrier mode (fixed for the heap's life). `Off` marks with the
    /// world stopped.
    pub(crate) mode: tricolor_barriers::BarrierMode,
    /// The grey set and counters of the current concurrent mark.
    pub(crate) mark_state: crate::gcwork::MarkState,
    /// Test-only: the write barrier records nothing (to show that tests of
    /// lost-object interleavings fail without it). Never set in production.
    pub(crate) barrier_disabled_for_testing: AtomicBool,
    /// Test-only: a background worker that wakes for work counts itself busy
    /// and then waits, taking nothing, while this is set: what a worker the
    /// OS does not run looks like to the rest of the mark. Never set in
    /// production.
    pub(crate) workers_stalled_for_testing: AtomicBool,
    /// Held for the whole of a cycle by whoever runs it (the collector
    /// thread, or a [`CycleStepper`](crate::CycleStepper)).
    pub(crate) cycle_lock: Mutex<()>,
    /// `Heap` handles plus attached mutators; the threads stop at zero.
    users: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) next_mutator_id: AtomicU64,
    /// Serialises handshakes (see `safepoint::handshake`).
    pub(crate) handshake_lock: Mutex<()>,
    /// Finalizers, cleanups, weak references and ephemeron tables
    /// ([`crate::specials`], [`crate::ephemeron`]).
    pub(crate) specials: Arc<crate::specials::Specials>,
}

#[derive(Default)]
pub(crate) struct Globals {
    pub(crate) slots: Vec<usize>,
    pub(crate) free: Vec<usize>,
}

impl HeapInner {
    /// Identity of this heap for "is this thread attached to it" checks.
    pub(crate) fn id(&self) -> usize {
        self as *const HeapInner as usize
    }

    pub(crate) fn add_user(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a user; the last one stops the background threads.
    pub(crate) fn remove_user(self: &Arc<Self>) {
        if self.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shutting_down.store(true, Ordering::Release);
            self.cycles.lock().shutdown = true;
            self.cycle_cv.notify_all();
            self.sweep_cv.notify_all();
            self.mark_state.wake_all();
            self.specials.wake_for_shutdown();
            let threads = std::mem::take(&mut *self.threads.lock());
            let me = std::thread::current().id();
            for t in threads {
                if t.thread().id() != me {
                    let _ = t.join();
                }
            }
        }
    }

    /// Adds a background thread to be joined when the heap shuts down.
    pub(crate) fn add_thread(&self, t: JoinHandle<()>) {
        self.threads.lock().push(t);
    }

    /// The heap as the pacer sees it: live after the last mark plus what
    /// mutators have reported allocating since (each may hold up to
    /// `ALLOC_REPORT_BYTES` unreported). In slot bytes, like every count the
    /// pacer uses.
    pub(crate) fn paced_heap(&self) -> u64 {
        self.live_after_mark.load(Ordering::Relaxed)
            + self.allocated_since_mark.load(Ordering::Relaxed)
    }

    /// Asks for a cycle to start after this call; returns its number.
    pub(crate) fn request_cycle(&self) -> u64 {
        let mut c = self.cycles.lock();
        let target = c.started + 1;
        if c.requested < target {
            c.requested = target;
            self.cycle_cv.notify_all();
        }
        target
    }

    /// Asks for a cycle unless one is already asked for or running.
    pub(crate) fn nudge_cycle(&self) {
        let mut c = self.cycles.lock();
        if c.requested <= c.completed && c.started == c.completed {
            c.requested = c.completed + 1;
            self.cycle_cv.notify_all();
        }
    }

    /// Waits until `cycles` cycles have completed (or the heap shuts down).
    /// The caller must not be a running mutator (it would stop the world
    /// from finishing): mutators wait in native state.
    pub(crate) fn wait_for_cycle(&self, cycles: u64) {
        let mut c = self.cycles.lock();
        while c.completed < cycles && !c.shutdown && c.failed.is_none() {
            self.cycle_cv.wait(&mut c);
        }
        if let Some(msg) = &c.failed {
            panic!("tricolor: a collection failed: {msg}");
        }
    }
}

/// A garbage-collected heap. Cheap to clone (a handle); the heap lives until
/// the last handle and the last mutator are gone.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 2, &[0]))?;
/// let mut m = heap.attach()?;
/// let a = m.alloc(node, 0)?;
/// let root = m.push_root(Some(a));
/// m.collect();
/// assert_eq!(m.root(root), Some(a), "a rooted object survives");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Heap {
    pub(crate) inner: Arc<HeapInner>,
}

impl Clone for Heap {
    fn clone(&self) -> Self {
        self.inner.add_user();
        Heap {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        self.inner.remove_user();
    }
}

impl Heap {
    /// Makes a heap with its own allocator, threads and statistics.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config {
    ///     verify: true, // check every live object after each mark
    ///     ..Config::default()
    /// });
    /// assert!(heap.config().verify);
    /// // Heaps are independent: a process may run several.
    /// let other = Heap::new(Config::default());
    /// # drop((heap, other));
    /// ```
    pub fn new(config: Config) -> Heap {
        let page = PageHeap::new(tricolor_allocator::Config {
            max_heap_bytes: config.max_heap_bytes,
            max_object_size: config.max_object_size,
            poison: config.poison,
            ..tricolor_allocator::Config::default()
        });
        let mode = config.barrier;
        let bg_workers = if mode == tricolor_barriers::BarrierMode::Off || config.manual_cycles {
            0
        } else {
            config.effective_mark_workers(mode)
        };
        let inner = Arc::new_cyclic(|me| HeapInner {
            specials: Arc::new(crate::specials::Specials::new(me.clone())),
            pacer: Mutex::new(Pacer::new(config.pacer.clone())),
            config,
            page,
            types: TypeTable::new(),
            globals: Mutex::new(Globals::default()),
            registry: Mutex::new(Vec::new()),
            world: Mutex::new(()),
            phase: AtomicU8::new(Phase::Off as u8),
            allocated_since_mark: AtomicU64::new(0),
            live_after_mark: AtomicU64::new(0),
            cycles: Mutex::new(CycleControl::default()),
            cycle_cv: Condvar::new(),
            sweep_cv: Condvar::new(),
            stats: Mutex::new(StatsState::default()),
            started_at: Instant::now(),
            mode,
            mark_state: crate::gcwork::MarkState::new(bg_workers),
            barrier_disabled_for_testing: AtomicBool::new(false),
            workers_stalled_for_testing: AtomicBool::new(false),
            cycle_lock: Mutex::new(()),
            users: AtomicUsize::new(1),
            threads: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            next_mutator_id: AtomicU64::new(1),
            handshake_lock: Mutex::new(()),
        });
        inner
            .page
            .set_sweep_hook(Box::new(crate::specials::SpecialsHook(
                inner.specials.clone(),
            )));
        let mut threads = Vec::new();
        {
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("tricolor-gc".into())
                    .spawn(move || crate::cycle::driver(inner))
                    .expect("spawning the collector thread"),
            );
        }
        threads.extend(crate::bgmark::spawn(&inner));
        if inner.config.background_sweeper {
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("tricolor-sweep".into())
                    .spawn(move || crate::sweep::background_sweeper(inner))
                    .expect("spawning the sweeper thread"),
            );
        }
        inner.threads.lock().extend(threads);
        Heap { inner }
    }

    /// A heap configured by [`Config::from_env`], panicking with the
    /// variable's name if one is malformed.
    ///
    /// ```
    /// use tricolor_collector::Heap;
    ///
    /// // `TRICOLOR_GCTRACE=1 ./my-vm` now prints one line per cycle.
    /// let heap = Heap::from_env();
    /// # drop(heap);
    /// ```
    pub fn from_env() -> Heap {
        Heap::new(Config::from_env().unwrap_or_else(|e| panic!("tricolor: {e}")))
    }

    /// The configuration.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config { mark_workers: 2, ..Config::default() });
    /// assert_eq!(heap.config().effective_mark_workers(tricolor_collector::BarrierMode::Hybrid), 2);
    /// ```
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Registers a type; objects of it are allocated with the returned id.
    ///
    /// Register every type once, when the VM starts, and keep the ids: they
    /// are what [`Mutator::alloc`] takes.
    ///
    /// ```
    /// use tricolor_collector::{Config, DescriptorError, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// // A cons cell: `car` and `cdr`, both pointers.
    /// let cons = heap.register_type(TypeDescriptor::fixed("Cons", 2, &[0, 1]))?;
    /// assert_eq!(heap.type_descriptor(cons).unwrap().name(), "Cons");
    ///
    /// // Descriptors are checked: word 2 is outside a 2-word object.
    /// let bad = heap.register_type(TypeDescriptor::fixed("Bad", 2, &[2]));
    /// assert!(matches!(bad, Err(DescriptorError::PointerOutOfRange { index: 2, .. })));
    /// # Ok::<(), DescriptorError>(())
    /// ```
    ///
    /// # Errors
    /// [`DescriptorError`] if the descriptor is not self-consistent (a pointer
    /// word outside the object, an empty array element, pointers in a byte
    /// array), or if too many types are registered.
    pub fn register_type(&self, desc: TypeDescriptor) -> Result<TypeId, DescriptorError> {
        self.inner.types.register(desc)
    }

    /// The descriptor registered as `id`.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, Shape, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let str_ty = heap.register_type(TypeDescriptor::bytes("String"))?;
    /// let desc = heap.type_descriptor(str_ty).expect("registered");
    /// assert_eq!(desc.shape(), Shape::Bytes);
    /// assert!(!desc.has_pointers());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn type_descriptor(&self, id: TypeId) -> Option<&TypeDescriptor> {
        self.inner.types.get(id)
    }

    /// Attaches the calling thread as a mutator. The returned [`Mutator`] is
    /// how this thread allocates and touches objects; dropping it detaches.
    ///
    /// # Errors
    /// [`AttachError::AlreadyAttached`] if this thread already has a mutator
    /// of this heap (a thread parked in one mutator could never reach a
    /// safepoint in the other, so the collector would wait forever).
    ///
    /// ```
    /// use tricolor_collector::{AttachError, Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// let m = heap.attach()?;
    /// assert_eq!(heap.attach().err(), Some(AttachError::AlreadyAttached));
    ///
    /// // Each VM thread attaches for itself.
    /// let h = heap.clone();
    /// std::thread::spawn(move || {
    ///     let mut worker = h.attach().expect("a new thread may attach");
    ///     worker.safepoint();
    /// })
    /// .join()
    /// .unwrap();
    /// drop(m); // detaches; the thread could attach again
    /// # Ok::<(), AttachError>(())
    /// ```
    pub fn attach(&self) -> Result<Mutator, AttachError> {
        Mutator::attach(self.inner.clone())
    }

    /// Adds a global root holding `value`; it stays a root until the returned
    /// handle is dropped.
    ///
    /// Globals suit VM-wide values (interned strings, the module table): they
    /// belong to no thread and survive the mutator that stored them.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let table = heap.register_type(TypeDescriptor::array("Table", 1, &[0]))?;
    /// let modules = heap.add_global(None);
    /// {
    ///     let mut m = heap.attach()?;
    ///     let t = m.alloc(table, 16)?;
    ///     modules.set(Some(t)); // rooted before the next allocation or safepoint
    ///     m.collect();
    ///     assert_eq!(modules.get(), Some(t));
    /// } // the mutator detaches; the table stays reachable through the global
    /// heap.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_global(&self, value: Option<ObjRef>) -> GlobalRoot {
        let mut g = self.inner.globals.lock();
        let v = value.map_or(0, ObjRef::addr);
        let index = match g.free.pop() {
            Some(i) => {
                g.slots[i] = v;
                i
            }
            None => {
                g.slots.push(v);
                g.slots.len() - 1
            }
        };
        crate::barrier::on_global_store(&self.inner, index, 0, v);
        drop(g);
        self.inner.add_user();
        GlobalRoot {
            heap: self.inner.clone(),
            index,
        }
    }

    /// Runs a full collection and returns when it has finished.
    ///
    /// The call waits for every running mutator to reach a safepoint; a
    /// mutator that blocks (here, on `join`) must do so in native state.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let live = m.alloc(node, 0)?;
    /// m.push_root(Some(live));
    /// m.alloc(node, 0)?; // garbage
    ///
    /// // A thread that is not attached, such as a VM's idle-time housekeeper:
    /// let h = heap.clone();
    /// let housekeeper = std::thread::spawn(move || h.collect());
    /// m.native(|| housekeeper.join().unwrap());
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread is attached to this heap as a mutator: a running
    /// mutator must collect through [`Mutator::collect`], which lets the
    /// world stop around it.
    pub fn collect(&self) {
        assert!(
            !crate::mutator::attached_here(self.inner.id()),
            "Heap::collect called from a thread attached to this heap; use Mutator::collect"
        );
        let n = self.inner.request_cycle();
        self.inner.wait_for_cycle(n);
    }

    /// Makes the allocator's allocation counters in [`stats`](Self::stats)
    /// (`GcStats::heap`: `allocated_objects_total`, `allocated_bytes_total`
    /// and the per-class counts) exact by a handshake: every running mutator
    /// adds what its cache counted locally at its next safepoint, and the
    /// collector does it for mutators in native code. No stop-the-world.
    ///
    /// [`GcStats::allocated_since_mark`] is not affected: mutators report it
    /// to the pacer in chunks, and on detaching.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let blob = heap.register_type(TypeDescriptor::bytes("Blob"))?;
    /// let mut m = heap.attach()?;
    /// for _ in 0..10 {
    ///     m.alloc(blob, 16)?;
    /// }
    /// // The counts sit in this mutator's cache until a handshake flushes them.
    /// let h = heap.clone();
    /// let reporter = std::thread::spawn(move || {
    ///     h.flush_allocation_stats();
    ///     h.stats().heap.allocated_objects_total
    /// });
    /// let allocated = m.native(|| reporter.join().unwrap());
    /// assert_eq!(allocated, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread is attached to this heap (it would wait for its
    /// own safepoint).
    ///
    /// [`GcStats::allocated_since_mark`]: crate::GcStats::allocated_since_mark
    pub fn flush_allocation_stats(&self) {
        assert!(
            !crate::mutator::attached_here(self.inner.id()),
            "Heap::flush_allocation_stats called from a thread attached to this heap"
        );
        crate::safepoint::handshake(&self.inner, Arc::new(|_, _, data| data.cache.flush_stats()));
    }

    /// Begins a collection cycle to be stepped by the caller: runs sweep
    /// termination (STW #1) and returns the [`CycleStepper`] for the rest.
    /// See [`CycleStepper`] for an example.
    ///
    /// # Panics
    /// If the heap's barrier mode is `Off`, if the calling thread is
    /// attached to this heap, or if an earlier collection failed.
    ///
    /// [`CycleStepper`]: crate::CycleStepper
    pub fn begin_cycle(&self) -> crate::CycleStepper<'_> {
        crate::CycleStepper::begin(&self.inner)
    }

    /// Test-only: makes every write barrier of this heap record nothing, so
    /// that a test can show a lost-object interleaving is caught (checkmark
    /// fails) without the barrier. Never use it otherwise: with the barrier
    /// off a concurrent mark frees reachable objects.
    #[doc(hidden)]
    pub fn disable_barrier_for_testing(&self, disabled: bool) {
        self.inner
            .barrier_disabled_for_testing
            .store(disabled, Ordering::Relaxed);
    }

    /// Test-only: while `stalled`, a background mark worker that wakes for
    /// work counts itself busy and waits without taking any, as a worker
    /// the OS does not run would; the mark cannot end until it is released.
    /// Never use it otherwise.
    #[doc(hidden)]
    pub fn stall_mark_workers_for_testing(&self, stalled: bool) {
        self.inner
            .workers_stalled_for_testing
            .store(stalled, Ordering::SeqCst);
        self.inner.mark_state.wake_all();
    }

    /// Counters and timings (Go's `MemStats`, for this heap).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 3, &[]))?;
    /// let mut m = heap.attach()?;
    /// let keep = m.alloc(node, 0)?;
    /// m.push_root(Some(keep));
    /// m.collect();
    /// let stats = heap.stats();
    /// assert!(stats.cycles >= 1);
    /// let last = stats.last_cycle.expect("a cycle ran");
    /// assert_eq!(last.objects_marked, 1);
    /// assert_eq!(stats.live_bytes, 32, "one 3-word object plus its header");
    /// println!("{}", last.trace_line());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> GcStats {
        crate::stats::snapshot(&self.inner)
    }
}

/// A global root slot; removed when dropped.
///
/// Made by [`Heap::add_global`]. The handle may be kept anywhere (it is
/// `Send` and `Sync`) and read or written from any thread; the object it
/// holds is reachable for as long as the slot holds it.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let sym = heap.register_type(TypeDescriptor::bytes("Symbol"))?;
/// let mut m = heap.attach()?;
/// let interned = heap.add_global(Some(m.alloc(sym, 5)?));
/// m.collect();
/// assert!(interned.get().is_some(), "still there after a collection");
/// drop(interned); // no longer a root: the symbol is garbage
/// m.collect();
/// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GlobalRoot {
    heap: Arc<HeapInner>,
    index: usize,
}

impl GlobalRoot {
    /// The object the slot holds.
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let g = heap.add_global(None);
    /// assert_eq!(g.get(), None);
    /// let obj = m.alloc(node, 0)?;
    /// g.set(Some(obj));
    /// m.collect();
    /// // The object is rooted by `g`, so the reference is still good.
    /// assert_eq!(g.get(), Some(obj));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self) -> Option<ObjRef> {
        ObjRef::from_addr(self.heap.globals.lock().slots[self.index])
    }

    /// Makes the slot hold `value`.
    ///
    /// `value` must be a live object of this heap (for instance, just
    /// allocated, with no safepoint since).
    ///
    /// ```
    /// # use tricolor_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default());
    /// # let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let current = heap.add_global(None);
    /// for _ in 0..3 {
    ///     let fresh = m.alloc(node, 0)?;
    ///     current.set(Some(fresh)); // the previous object becomes garbage
    /// }
    /// m.collect();
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    /// current.set(None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set(&self, value: Option<ObjRef>) {
        let new = value.map_or(0, ObjRef::addr);
        let mut g = self.heap.globals.lock();
        let old = std::mem::replace(&mut g.slots[self.index], new);
        // A global is written by any thread and belongs to no stack: while
        // marking, both values are shaded (`barrier` module docs).
        crate::barrier::on_global_store(&self.heap, self.index, old, new);
    }

    /// The slot's index (named in verifier and checkmark messages).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, RootKind};
    ///
    /// let heap = Heap::new(Config::default());
    /// let g = heap.add_global(None);
    /// // A failure reached from this root would name it so:
    /// let name = RootKind::Global(g.index()).to_string();
    /// assert_eq!(name, format!("global root #{}", g.index()));
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for GlobalRoot {
    fn drop(&mut self) {
        {
            let mut g = self.heap.globals.lock();
            let old = std::mem::replace(&mut g.slots[self.index], 0);
            crate::barrier::on_global_store(&self.heap, self.index, old, 0);
            g.free.push(self.index);
        }
        self.heap.remove_user();
    }
}
