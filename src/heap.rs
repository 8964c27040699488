//! [`Heap`]: a tricolor heap seen from the safe API, with the registry that
//! gives each Rust type its descriptor once per heap.

use std::any::TypeId as RustTypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use tricolor_collector::{
    AttachError, Config, DescriptorError, GcStats, HeapAlloc, HeapProfileSummary, Shape,
    TypeDescriptor, TypeId,
};

use crate::gc::payload_of;
use crate::global::Global;
use crate::mutator::Mutator;
use crate::trace::{Trace, Tracer};

/// A garbage-collected heap: shared by every thread that
/// [attaches](Heap::attach) to it. Cloning it clones a handle (the heap
/// lives while any handle, mutator or global does).
///
/// ```
/// use tricolor::{Heap, Member, Trace};
///
/// #[derive(Trace, Default)]
/// struct Node { left: Member<Node>, right: Member<Node> }
///
/// let heap = Heap::new();
/// let mut m = heap.attach()?;
/// let root = m.alloc(Node::default());
/// for _ in 0..100 {
///     m.alloc(Node::default()); // garbage at once
/// }
/// m.collect();
/// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
/// # drop(root);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Heap {
    shared: Arc<Shared>,
}

struct Shared {
    raw: tricolor_collector::Heap,
    /// Each Rust type's descriptor id in this heap, registered on first use
    /// by any thread. Mutators cache what they look up.
    types: Mutex<HashMap<RustTypeId, TypeId>>,
}

impl Heap {
    /// A heap with the default configuration (hybrid barrier, GOGC 100).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.config().pacer.gogc, Some(100));
    /// ```
    #[allow(clippy::new_without_default)] // a heap is a resource, not a value
    pub fn new() -> Heap {
        Heap::with_config(Config::default())
    }

    /// A heap configured from the `TRICOLOR_*` environment variables
    /// ([`Config::from_env`]): barrier mode, GOGC, memory limit, gctrace
    /// and the verification modes.
    ///
    /// ```
    /// let heap = tricolor::Heap::from_env();
    /// # drop(heap);
    /// ```
    pub fn from_env() -> Heap {
        Heap::wrap(tricolor_collector::Heap::from_env())
    }

    /// A heap with `config`.
    ///
    /// ```
    /// use tricolor::{raw::{BarrierMode, Config}, Heap};
    /// let heap = Heap::with_config(Config { barrier: BarrierMode::Satb, ..Config::default() });
    /// assert_eq!(heap.config().barrier, BarrierMode::Satb);
    /// ```
    pub fn with_config(config: Config) -> Heap {
        Heap::wrap(tricolor_collector::Heap::new(config))
    }

    fn wrap(raw: tricolor_collector::Heap) -> Heap {
        Heap {
            shared: Arc::new(Shared {
                raw,
                types: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The raw heap underneath, for what the safe API does not cover.
    ///
    /// # Safety
    /// The raw heap has calls that are safe on their own but break the safe
    /// API's rules: the caller must not switch the barrier off
    /// ([`disable_barrier_for_testing`](tricolor_collector::Heap::disable_barrier_for_testing)),
    /// drive cycles by hand while safe mutators run, or store raw pointers
    /// into the safe API's objects or globals.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// // SAFETY: reads the configuration only.
    /// let workers = unsafe { heap.raw() }.config().mark_workers;
    /// # let _ = workers;
    /// ```
    pub unsafe fn raw(&self) -> &tricolor_collector::Heap {
        &self.shared.raw
    }

    pub(crate) fn raw_heap(&self) -> &tricolor_collector::Heap {
        &self.shared.raw
    }

    /// The heap's statistics: cycles, pauses, marked and allocated bytes,
    /// specials ([`GcStats`]).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.stats().cycles, 0);
    /// heap.collect();
    /// assert_eq!(heap.stats().cycles, 1);
    /// ```
    pub fn stats(&self) -> GcStats {
        self.shared.raw.stats()
    }

    /// The heap's configuration.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.config().pacer.gogc, Some(100));
    /// ```
    pub fn config(&self) -> &Config {
        self.shared.raw.config()
    }

    /// Turns the gctrace line per cycle on or off (on standard error).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// heap.set_gctrace(false);
    /// ```
    pub fn set_gctrace(&self, on: bool) {
        self.shared.raw.set_gctrace(on);
    }

    /// Sets GOGC (`None`: off) on the running heap and returns the previous
    /// value, as Go's `debug.SetGCPercent` does; a heap already past the
    /// new trigger starts a cycle at once
    /// ([`raw::Heap::set_gc_percent`](tricolor_collector::Heap::set_gc_percent)
    /// says where it differs from Go).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.set_gc_percent(Some(200)), Some(100));
    /// assert_eq!(heap.gc_percent(), Some(200));
    /// ```
    pub fn set_gc_percent(&self, gogc: Option<u32>) -> Option<u32> {
        self.shared.raw.set_gc_percent(gogc)
    }

    /// The GOGC in force ([`set_gc_percent`](Self::set_gc_percent)).
    pub fn gc_percent(&self) -> Option<u32> {
        self.shared.raw.gc_percent()
    }

    /// Sets the soft memory limit in bytes (`None`: none) on the running
    /// heap and returns the previous one, as Go's `debug.SetMemoryLimit`
    /// does ([`raw::Heap::set_memory_limit`](tricolor_collector::Heap::set_memory_limit)).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.set_memory_limit(Some(256 << 20)), None);
    /// assert_eq!(heap.memory_limit(), Some(256 << 20));
    /// ```
    pub fn set_memory_limit(&self, limit: Option<u64>) -> Option<u64> {
        self.shared.raw.set_memory_limit(limit)
    }

    /// The memory limit in force ([`set_memory_limit`](Self::set_memory_limit)).
    pub fn memory_limit(&self) -> Option<u64> {
        self.shared.raw.memory_limit()
    }

    /// Sets the heap profile's sampling rate (on average one allocation
    /// sampled per `rate` bytes; `None`: off, the default) and returns the
    /// previous one, as setting Go's `runtime.MemProfileRate` does
    /// ([`raw::Heap::set_heap_profile_rate`](tricolor_collector::Heap::set_heap_profile_rate)).
    /// Go's rate, 512 KiB, is
    /// [`raw::DEFAULT_HEAP_PROFILE_RATE`](crate::raw::DEFAULT_HEAP_PROFILE_RATE);
    /// `TRICOLOR_HEAP_PROFILE_RATE` sets it from the environment
    /// ([`Heap::from_env`]).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.set_heap_profile_rate(Some(512 << 10)), None);
    /// assert_eq!(heap.heap_profile_rate(), Some(512 << 10));
    /// ```
    pub fn set_heap_profile_rate(&self, rate: Option<u64>) -> Option<u64> {
        self.shared.raw.set_heap_profile_rate(rate)
    }

    /// The heap profile's sampling rate in bytes, `None` when off
    /// ([`set_heap_profile_rate`](Self::set_heap_profile_rate)).
    ///
    /// ```
    /// assert_eq!(tricolor::Heap::new().heap_profile_rate(), None);
    /// ```
    pub fn heap_profile_rate(&self) -> Option<u64> {
        self.shared.raw.heap_profile_rate()
    }

    /// Writes the heap profile, Go's format (a gzipped `profile.proto`, as
    /// `pprof.WriteHeapProfile` writes), for `go tool pprof`: what was
    /// allocated, and what is still in use, by allocation site and type
    /// ([`raw::Heap::write_heap_profile`](tricolor_collector::Heap::write_heap_profile)
    /// has the details). Sampling must be on for it to hold anything
    /// ([`set_heap_profile_rate`](Self::set_heap_profile_rate)); collect
    /// first for an up-to-date in-use view. `TRICOLOR_HEAP_PROFILE=PATH`
    /// writes the file when the heap goes.
    ///
    /// ```
    /// use tricolor::{Heap, Member, Trace};
    ///
    /// #[derive(Trace, Default)]
    /// struct Node { next: Member<Node> }
    ///
    /// let heap = Heap::new();
    /// heap.set_heap_profile_rate(Some(4096));
    /// let mut m = heap.attach()?;
    /// let mut kept = Vec::new();
    /// for _ in 0..10_000 {
    ///     kept.push(m.alloc(Node::default()));
    /// }
    /// m.collect();
    /// let mut file = Vec::new(); // or std::fs::File::create("heap.pb.gz")?
    /// let summary = heap.write_heap_profile(&mut file)?;
    /// assert!(summary.inuse_objects > 5_000, "{summary:?}"); // an estimate of 10,000
    /// # drop(kept);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// What `w` returns, unchanged.
    pub fn write_heap_profile(
        &self,
        w: impl std::io::Write,
    ) -> std::io::Result<HeapProfileSummary> {
        self.shared.raw.write_heap_profile(w)
    }

    /// Calls `f` at each phase of every cycle and at each cycle's end, never
    /// inside a pause ([`raw::Heap::on_cycle_event`](tricolor_collector::Heap::on_cycle_event);
    /// the `events` module of `tricolor-collector` gives the order and the
    /// threads). `f` must not collect. A closure that holds a clone of this
    /// heap keeps the heap alive until [`clear_cycle_event`](Self::clear_cycle_event).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use tricolor::raw::CycleEvent;
    ///
    /// let heap = tricolor::Heap::new();
    /// let ends = Arc::new(AtomicU64::new(0));
    /// let e = ends.clone();
    /// heap.on_cycle_event(move |ev| {
    ///     if let CycleEvent::End(stats) = ev {
    ///         e.fetch_add(1, Ordering::Relaxed);
    ///         eprintln!("{}", stats.trace_line());
    ///     }
    /// });
    /// heap.collect();
    /// assert_eq!(ends.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_cycle_event(
        &self,
        f: impl Fn(&tricolor_collector::CycleEvent<'_>) + Send + Sync + 'static,
    ) {
        self.shared.raw.on_cycle_event(f);
    }

    /// Removes the callback of [`on_cycle_event`](Self::on_cycle_event).
    pub fn clear_cycle_event(&self) {
        self.shared.raw.clear_cycle_event();
    }

    /// Calls `f` once each time the live heap after a cycle reaches
    /// `fraction` of the memory limit
    /// ([`raw::Heap::on_near_limit`](tricolor_collector::Heap::on_near_limit)).
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// heap.set_memory_limit(Some(64 << 20));
    /// heap.on_near_limit(0.8, |near| {
    ///     eprintln!("{} of {} bytes live", near.live, near.limit);
    /// });
    /// # heap.clear_near_limit();
    /// ```
    pub fn on_near_limit(
        &self,
        fraction: f64,
        f: impl Fn(&tricolor_collector::NearLimit) + Send + Sync + 'static,
    ) {
        self.shared.raw.on_near_limit(fraction, f);
    }

    /// Removes the callback of [`on_near_limit`](Self::on_near_limit).
    pub fn clear_near_limit(&self) {
        self.shared.raw.clear_near_limit();
    }

    /// Live objects and bytes (allocated minus freed), mutator caches
    /// counted as of their last flush.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// assert_eq!(heap.heap_alloc().objects, 0);
    /// ```
    pub fn heap_alloc(&self) -> HeapAlloc {
        self.shared.raw.heap_alloc()
    }

    /// Attaches the calling thread: the returned [`Mutator`] allocates,
    /// roots and runs the barrier for it.
    ///
    /// # Errors
    /// [`AttachError::AlreadyAttached`] if the thread already has a mutator
    /// of this heap.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// let m = heap.attach()?;
    /// assert!(heap.attach().is_err(), "one mutator per thread and heap");
    /// drop(m);
    /// let _again = heap.attach()?;
    /// # Ok::<(), tricolor::raw::AttachError>(())
    /// ```
    pub fn attach(&self) -> Result<Mutator, AttachError> {
        let raw = self.shared.raw.attach()?;
        Ok(Mutator::owned(raw, self.clone()))
    }

    /// Runs a full collection (mark and sweep) and returns when it is done.
    /// Callable from a thread with no mutator of this heap, or whose mutator
    /// is in native state ([`Mutator::native`]); a running mutator calls
    /// [`Mutator::collect`] instead.
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap.
    ///
    /// ```
    /// let heap = tricolor::Heap::new();
    /// heap.collect();
    /// assert_eq!(heap.stats().cycles, 1);
    /// ```
    pub fn collect(&self) {
        self.shared.raw.collect();
    }

    /// A new, empty global root: an object slot that every thread can read
    /// and write, which keeps its object alive ([`Global`]).
    ///
    /// ```
    /// use tricolor::{Heap, Trace};
    /// #[derive(Trace)]
    /// struct Config { verbose: bool }
    ///
    /// let heap = Heap::new();
    /// let settings = heap.global::<Config>();
    /// let mut m = heap.attach()?;
    /// let c = m.alloc(Config { verbose: true });
    /// settings.set(Some(c.get(&m)));
    /// drop(c);
    /// m.collect();
    /// assert!(settings.get(&m).unwrap().verbose);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn global<T: Trace>(&self) -> Global<T> {
        Global::new(self.clone())
    }

    /// Whether `self` and `other` are handles of the same heap.
    ///
    /// ```
    /// let a = tricolor::Heap::new();
    /// assert!(a.same(&a.clone()));
    /// assert!(!a.same(&tricolor::Heap::new()));
    /// ```
    pub fn same(&self, other: &Heap) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A handle that does not keep the heap alive: what closures the heap
    /// itself owns (finalizers) hold, since a strong handle there would be
    /// a cycle through the heap and the heap would never be dropped.
    pub(crate) fn downgrade(&self) -> WeakHeap {
        WeakHeap(Arc::downgrade(&self.shared))
    }

    /// The descriptor id in this heap of the Rust type `K`, registering
    /// `descriptor()` on first use: `descriptor::<T>` for a value `T`,
    /// `array::descriptor::<E>` for an `Array<E>` (which is never allocated
    /// as a value, so the two never share a key).
    pub(crate) fn type_id_of<K: 'static>(
        &self,
        descriptor: fn() -> TypeDescriptor,
    ) -> Result<TypeId, DescriptorError> {
        let key = RustTypeId::of::<K>();
        let mut types = self.shared.types.lock();
        if let Some(&id) = types.get(&key) {
            return Ok(id);
        }
        let id = self.shared.raw.register_type(descriptor())?;
        types.insert(key, id);
        Ok(id)
    }
}

/// A [`Heap`] handle that does not keep the heap alive ([`Heap::downgrade`]).
pub(crate) struct WeakHeap(Weak<Shared>);

impl WeakHeap {
    /// The heap, unless its last handle is gone (it is being dropped).
    pub(crate) fn upgrade(&self) -> Option<Heap> {
        self.0.upgrade().map(|shared| Heap { shared })
    }
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Heap({:p})", Arc::as_ptr(&self.shared))
    }
}

/// Payload words of a `T` object (at least one: the allocator's smallest
/// object).
pub(crate) const fn words_of<T>() -> u32 {
    let w = std::mem::size_of::<T>().div_ceil(8);
    if w == 0 {
        1
    } else {
        w as u32
    }
}

/// The descriptor of `T`: a pointer bitmap when its members sit at fixed
/// words, else a trace callback (module docs of `trace`).
pub(crate) fn descriptor<T: Trace>() -> TypeDescriptor {
    let name = std::any::type_name::<T>();
    let words = words_of::<T>();
    let mut pointers = Vec::new();
    let fixed = T::pointer_words(0, &mut pointers);
    // `Gc::set` picks the raw store by `FIXED_MEMBERS`: it must say what
    // the descriptor is (only a hand-written `Trace` can get it wrong).
    assert_eq!(
        fixed,
        T::FIXED_MEMBERS,
        "tricolor: `{name}`: Trace::pointer_words and Trace::FIXED_MEMBERS disagree"
    );
    let d = if fixed {
        TypeDescriptor::fixed(name, words, &pointers)
    } else {
        traced_descriptor::<T>(name, words)
    };
    if T::HEADER_FREE {
        d.header_free()
    } else {
        d
    }
}

/// The descriptor of `T`, whose members' words depend on the value: a
/// trace callback.
fn traced_descriptor<T: Trace>(name: &'static str, words: u32) -> TypeDescriptor {
    TypeDescriptor::traced_with(
        name,
        Shape::Fixed { words },
        |view, edges| {
            // SAFETY: the marker calls this only for live objects of this
            // type, whose payload holds an initialised `T`; `trace` reads
            // only members (atomic) and what cannot change after allocation
            // (the `Trace` contract), so reading it while mutators run is no
            // data race.
            let value = unsafe { &*(payload_of(view.obj().addr()) as *const T) };
            let mut visit = |a: usize| edges.visit(a);
            value.trace(&mut Tracer::new(&mut visit));
        },
        // A member word holds an object's address or 0, nothing else.
        |w| (w != 0).then_some(w as usize),
    )
}
