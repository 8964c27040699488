//! The heap: one independent collector instance.
//!
//! A [`Heap`] owns a page heap (the allocator), the type registry, the global
//! roots, the mutator registry, the pacer and the statistics, plus two
//! background threads: the cycle driver, which runs collections when asked
//! (by the pacer, by `collect`, by gc-stress), and the background sweeper.
//! Nothing here is global: a process may run many heaps side by side.
//!
//! This is the top of the collector: the public methods of [`Heap`] and
//! [`GlobalRoot`], which start a heap's threads (`cycle`, `mark::workers`,
//! `sweep`) and reach everything below. The state the threads share is in
//! `heap/inner.rs`, near the bottom.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tricolor_allocator::PageHeap;

use crate::cycle::CycleStepper;
use crate::descriptor::{DescriptorError, TypeDescriptor, TypeId};
use crate::events::{assert_not_in_callback, CycleEvent, Events, NearLimit};
use crate::generation::CycleKind;
use crate::mark::queue::MarkState;
use crate::mutator::barrier::on_global_store;
use crate::mutator::state::running_here;
use crate::mutator::{AttachError, Mutator};
use crate::object::ObjRef;
use crate::phase::PhaseWord;
use crate::policy::{Config, Decision, Pacer};
use crate::profile::pprof::HeapProfileSummary;
use crate::profile::Profile;
use crate::specials::records::Specials;
use crate::specials::sweep::SpecialsHook;
use crate::stats::{GcStats, HeapAlloc, StatsState};
use crate::sweep::report_sweep_done;
use crate::types::TypeTable;

use inner::{CollectError, CycleControl, Globals, Heap, HeapInner};

pub mod inner;

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
            generational: config.generational,
            // Objects are known by their first payload word, after the
            // header (object module docs).
            object_offset: 8,
            ..tricolor_allocator::Config::default()
        });
        let mode = config.barrier;
        let bg_workers = if mode == tricolor_barriers::BarrierMode::Off || config.manual_cycles {
            0
        } else {
            config.effective_mark_workers(mode)
        };
        let per_type = config.per_type_stats;
        let generational = config.generational;
        let tenure = config.tenure;
        let profile = Arc::new(Profile::new(config.heap_profile_rate));
        let inner = Arc::new(HeapInner {
            specials: Arc::new(Specials::new()),
            gctrace: AtomicBool::new(config.gctrace),
            pacer: Mutex::new(Pacer::new(config.pacer.clone())),
            config,
            page,
            types: TypeTable::new(),
            globals: Mutex::new(Globals::default()),
            registry: Mutex::new(Vec::new()),
            world: Mutex::new(()),
            phase: PhaseWord::new(),
            allocated_since_mark: AtomicU64::new(0),
            live_after_mark: AtomicU64::new(0),
            cycles: Mutex::new(CycleControl::default()),
            cycle_cv: Condvar::new(),
            sweep_cv: Condvar::new(),
            stats: Mutex::new(StatsState::new()),
            started_at: Instant::now(),
            mode,
            mark_state: MarkState::new(bg_workers, per_type, generational),
            barrier_disabled_for_testing: AtomicBool::new(false),
            workers_stalled_for_testing: AtomicBool::new(false),
            cycle_lock: Mutex::new(()),
            users: AtomicUsize::new(1),
            threads: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            next_mutator_id: AtomicU64::new(1),
            handshake_lock: Mutex::new(()),
            events: Events::new(),
            generations: crate::generation::GenState::new(generational, tenure),
            profile,
            inspections: Default::default(),
        });
        inner.page.set_sweep_hook(Box::new(SpecialsHook {
            specials: inner.specials.clone(),
            profile: inner.profile.clone(),
            heap: Arc::downgrade(&inner),
        }));
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
        threads.extend(crate::mark::workers::spawn(&inner));
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

    /// Turns the gctrace line (one line per cycle on standard error, the
    /// format of [`CycleStats::trace_line`](crate::CycleStats::trace_line))
    /// on or off from now on; [`Config::gctrace`] is where it starts.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// assert!(!heap.gctrace());
    /// heap.set_gctrace(true);
    /// heap.collect(); // prints `gc 1 @...`
    /// assert!(heap.gctrace());
    /// heap.set_gctrace(false);
    /// ```
    pub fn set_gctrace(&self, on: bool) {
        self.inner.gctrace.store(on, Ordering::Relaxed);
    }

    /// Whether the gctrace line is printed ([`set_gctrace`](Self::set_gctrace)).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config { gctrace: true, ..Config::default() });
    /// assert!(heap.gctrace());
    /// ```
    pub fn gctrace(&self) -> bool {
        self.inner.gctrace.load(Ordering::Relaxed)
    }

    /// Sets the heap profile's sampling rate: on average one allocation
    /// sampled per `rate` bytes, `None` (or 0) for none; returns the
    /// previous rate. [`Config::heap_profile_rate`] is where it starts.
    /// Each mutator takes the new rate up within its next 64 KiB of
    /// allocation. Samples already taken stay in the profile, counted at
    /// the rate they were taken at; turning sampling off stops new samples
    /// but still counts the frees of sampled objects.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, DEFAULT_HEAP_PROFILE_RATE};
    ///
    /// let heap = Heap::new(Config::default());
    /// assert_eq!(heap.set_heap_profile_rate(Some(DEFAULT_HEAP_PROFILE_RATE)), None);
    /// assert_eq!(heap.heap_profile_rate(), Some(512 << 10));
    /// assert_eq!(heap.set_heap_profile_rate(None), Some(512 << 10));
    /// ```
    pub fn set_heap_profile_rate(&self, rate: Option<u64>) -> Option<u64> {
        self.inner.profile.set_rate(rate)
    }

    /// The heap profile's sampling rate in bytes, `None` when off
    /// ([`set_heap_profile_rate`](Self::set_heap_profile_rate)).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// assert_eq!(heap.heap_profile_rate(), None, "off by default");
    /// ```
    pub fn heap_profile_rate(&self) -> Option<u64> {
        Some(self.inner.profile.rate()).filter(|&r| r != 0)
    }

    /// Writes the heap profile to `w` as Go's `pprof.WriteHeapProfile`
    /// does: a gzipped `profile.proto` that `go tool pprof` reads, with the
    /// sample types `alloc_objects`, `alloc_space`, `inuse_objects` and
    /// `inuse_space` (the default) per allocation site, each sample
    /// labelled with its object type (`type`) and slot size (`bytes`).
    /// Objects sampled ([`Config::heap_profile_rate`]) since the heap was
    /// made count as allocated, and as in use until a sweep frees them;
    /// counts are scaled up from the samples as pprof does, so totals
    /// estimate the real ones. Stacks start at the function that called
    /// `alloc` (the collector's own frames are left out), with inlined
    /// functions as lines of their caller's location. With sampling off
    /// the profile is valid and empty.
    ///
    /// Collect first for an up-to-date in-use view: objects that died
    /// since the last sweep count as in use until it frees them.
    /// `TRICOLOR_HEAP_PROFILE=PATH` writes the profile when the heap goes
    /// ([`Config::heap_profile_path`]).
    ///
    /// ```no_run
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config { heap_profile_rate: Some(512 << 10), ..Config::default() });
    /// // ... run the program ...
    /// heap.collect();
    /// let summary = heap.write_heap_profile(std::fs::File::create("heap.pb.gz")?)?;
    /// println!("{} bytes in use (estimated)", summary.inuse_bytes);
    /// // Then: go tool pprof -top heap.pb.gz
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// What `w` returns, unchanged.
    pub fn write_heap_profile(
        &self,
        w: impl std::io::Write,
    ) -> std::io::Result<HeapProfileSummary> {
        self.inner.write_heap_profile(w)
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
    /// array), or [`DescriptorError::TooManyTypes`] if the heap already
    /// holds [`MAX_TYPES`](crate::MAX_TYPES) types (types cannot be
    /// unregistered; `MAX_TYPES` says why).
    pub fn register_type(&self, desc: TypeDescriptor) -> Result<TypeId, DescriptorError> {
        let page = &self.inner.page;
        self.inner
            .types
            .register(desc, |bytes, kind, ty| page.own_class(bytes, kind, 0, ty))
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
    ///     let t = m.alloc(table, 16);
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
        on_global_store(&self.inner, index, 0, v);
        drop(g);
        self.inner.add_user();
        GlobalRoot {
            heap: self.inner.clone(),
            index,
        }
    }

    /// Runs a full collection and returns when it has finished, sweep
    /// included (Go's `runtime.GC`): on return every object the cycle found
    /// unreachable is freed, so [`heap_alloc`](Self::heap_alloc) shows no
    /// garbage from before the call.
    ///
    /// The call waits for every running mutator to reach a safepoint, so a
    /// thread with a mutator of this heap calls it in native state, or calls
    /// [`Mutator::collect`]; a mutator that blocks (here, on `join`) does so
    /// in native state.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let live = m.alloc(node, 0);
    /// m.push_root(Some(live));
    /// m.alloc(node, 0); // garbage
    ///
    /// // A thread that is not attached, such as a VM's idle-time housekeeper:
    /// let h = heap.clone();
    /// let housekeeper = std::thread::spawn(move || h.collect());
    /// m.native(|| housekeeper.join().unwrap());
    /// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 1);
    ///
    /// // A mutator's own thread, in native state:
    /// m.native(|| heap.collect());
    /// assert_eq!(m.heap_alloc().objects, 1, "swept: only the rooted node");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap (the world
    /// could not stop while it waits; call [`Mutator::collect`], or this
    /// from [`Mutator::native`]), or a collection failed (see
    /// [`try_collect`](Self::try_collect)).
    #[track_caller]
    pub fn collect(&self) {
        if let Err(e) = self.try_collect() {
            panic!("tricolor: {e}");
        }
    }

    /// [`collect`](Self::collect), returning a failed collection as an
    /// error ([`Mutator::try_collect`] has an example).
    ///
    /// # Errors
    /// [`CollectError`] with the failed cycle's message.
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap.
    #[track_caller]
    pub fn try_collect(&self) -> Result<(), CollectError> {
        self.assert_not_running("Heap::collect", "call Mutator::collect");
        assert_not_in_callback("Heap::collect");
        let n = self.inner.request_cycle();
        self.inner.wait_for_cycle(n)?;
        self.inner.page.finish_sweep();
        report_sweep_done(&self.inner);
        Ok(())
    }

    /// Sets GOGC (`None`: off) on the running heap and returns the previous
    /// value: Go's `debug.SetGCPercent`. The pacer re-derives the goal at
    /// once from the live heap of the last cycle (`policy::pacer` module
    /// docs, "Changing GOGC and the limit at run time"); if the heap is
    /// already at or past the new trigger, a cycle starts now.
    ///
    /// Where Go differs: Go takes a negative value for off and, when GC is
    /// turned off, waits for a running mark to finish before returning;
    /// here a running cycle finishes on its own and the call never waits.
    /// Go starts the cycle a lowered goal calls for at the next allocation
    /// that takes a fresh span; here the call asks for it itself, since a
    /// mutator reports allocation only every 64 KiB. With
    /// [`Config::manual_cycles`] no cycle is started. The assist ratio of a
    /// cycle already running is not changed. [`config`](Self::config)
    /// still shows the value the heap was made with; this value is
    /// [`gc_percent`](Self::gc_percent).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// assert_eq!(heap.set_gc_percent(Some(50)), Some(100));
    /// assert_eq!(heap.gc_percent(), Some(50));
    /// // A VM about to build a large table: no collections meanwhile...
    /// let previous = heap.set_gc_percent(None);
    /// // ... build it ..., then back to normal.
    /// heap.set_gc_percent(previous);
    /// assert_eq!(heap.gc_percent(), Some(50));
    /// ```
    pub fn set_gc_percent(&self, gogc: Option<u32>) -> Option<u32> {
        let previous = self.inner.pacer.lock().set_gogc(gogc);
        self.start_cycle_if_due();
        previous
    }

    /// The GOGC in force ([`set_gc_percent`](Self::set_gc_percent); at
    /// first the configuration's).
    pub fn gc_percent(&self) -> Option<u32> {
        self.inner.pacer.lock().config().gogc
    }

    /// Sets the soft memory limit on the running heap, in bytes (`None`:
    /// no limit), and returns the previous one: Go's
    /// `debug.SetMemoryLimit`. The pacer re-derives the goal at once; if
    /// the heap is already at or past the new trigger, a cycle starts now.
    ///
    /// Where Go differs: the limit bounds the heap as the pacer counts it
    /// (slot bytes of live and newly allocated objects), not every byte
    /// the process maps (Go's counts stacks and runtime metadata too); no
    /// value only reads it (that is [`memory_limit`](Self::memory_limit));
    /// and, as for [`set_gc_percent`](Self::set_gc_percent), the cycle a
    /// lowered limit calls for is asked for by this call. The limit is
    /// soft as in Go: the goal keeps a headroom above the live heap
    /// (`policy::pacer`), so a heap whose live data exceeds the limit goes
    /// on collecting at a bounded cost instead of thrashing.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// assert_eq!(heap.set_memory_limit(Some(64 << 20)), None);
    /// assert_eq!(heap.memory_limit(), Some(64 << 20));
    /// assert!(heap.stats().goal <= 64 << 20);
    /// heap.set_memory_limit(None);
    /// ```
    pub fn set_memory_limit(&self, limit: Option<u64>) -> Option<u64> {
        let previous = self.inner.pacer.lock().set_memory_limit(limit);
        self.start_cycle_if_due();
        previous
    }

    /// The memory limit in force ([`set_memory_limit`](Self::set_memory_limit);
    /// at first the configuration's).
    pub fn memory_limit(&self) -> Option<u64> {
        self.inner.pacer.lock().config().memory_limit
    }

    /// Asks for a cycle if the pacer says the heap is at or past its
    /// trigger (after a change of GOGC or the limit). Never waits.
    fn start_cycle_if_due(&self) {
        if self.inner.config.manual_cycles {
            return;
        }
        let heap = self.inner.paced_heap();
        if self.inner.pacer.lock().decide(heap) != Decision::Continue {
            self.inner.nudge_cycle();
        }
    }

    /// Calls `f` at each phase transition of every cycle from now on, and
    /// once at each cycle's end with its statistics (bdwgc's
    /// `GC_set_on_collection_event`); replaces the callback set before.
    /// The [`events`](crate::events) module docs give the events' order
    /// and the threads that deliver them: never inside a stop-the-world
    /// pause, never with a lock a mutator takes. `f` must not start or wait
    /// for a collection ([`collect`](Self::collect) panics there).
    /// [`CycleEvent`] has an example.
    ///
    /// With no callback set, each delivery point costs one relaxed load.
    /// The heap owns the callback: one that holds a [`Heap`] handle keeps
    /// the heap (and its threads) alive until the callback is cleared.
    pub fn on_cycle_event(&self, f: impl Fn(&CycleEvent<'_>) + Send + Sync + 'static) {
        self.inner.events.set_cycle_callback(Some(Arc::new(f)));
    }

    /// Removes the callback of [`on_cycle_event`](Self::on_cycle_event).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// heap.on_cycle_event(|e| println!("cycle {}: {e:?}", e.cycle()));
    /// heap.clear_cycle_event();
    /// heap.collect(); // prints nothing
    /// ```
    pub fn clear_cycle_event(&self) {
        self.inner.events.set_cycle_callback(None);
    }

    /// Calls `f` when the live heap after a cycle reaches `fraction` of the
    /// memory limit ([`set_memory_limit`](Self::set_memory_limit), or the
    /// configuration's): once per crossing, at the end of the first cycle
    /// at or above the threshold; a cycle that ends below it re-arms the
    /// watch (`policy::pacer::LimitWatch`). Nothing is reported while no
    /// limit is set. Replaces the callback set before, with a fresh watch.
    ///
    /// For an embedder running many isolated VMs, one heap each: give each
    /// heap its budget as its limit, and act (refuse new work, shed
    /// caches, move the VM) when one gets near it. `f` runs where the
    /// cycle-event callback runs (the [`events`](crate::events) module
    /// docs), after the cycle's `End`. [`NearLimit`] has
    /// an example.
    pub fn on_near_limit(&self, fraction: f64, f: impl Fn(&NearLimit) + Send + Sync + 'static) {
        self.inner
            .events
            .set_near_limit(Some((fraction, Arc::new(f))));
    }

    /// Removes the callback of [`on_near_limit`](Self::on_near_limit).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// heap.on_near_limit(0.9, |near| eprintln!("{near:?}"));
    /// heap.clear_near_limit();
    /// ```
    pub fn clear_near_limit(&self) {
        self.inner.events.set_near_limit(None);
    }

    /// The failure that stopped this heap's collector, if a collection
    /// failed ([`CollectError`]). A failed heap runs no more cycles.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap};
    ///
    /// let heap = Heap::new(Config::default());
    /// heap.collect();
    /// assert!(heap.failure().is_none());
    /// ```
    pub fn failure(&self) -> Option<CollectError> {
        self.inner.failure()
    }

    /// Bytes and objects allocated and not yet freed, exact at the moment of
    /// the call (Go's `HeapAlloc` and `HeapObjects`). It includes garbage
    /// that no sweep has freed yet; after [`collect`](Self::collect) there
    /// is none. Exact because every mutator's cache first adds what it
    /// counted locally, by a handshake (no stop-the-world), as
    /// [`flush_allocation_stats`](Self::flush_allocation_stats) does.
    ///
    /// Not to be confused with [`GcStats::marked_bytes`], what the last mark
    /// found reachable.
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let blob = heap.register_type(TypeDescriptor::bytes("Blob"))?;
    /// let mut m = heap.attach()?;
    /// for _ in 0..10 {
    ///     m.alloc(blob, 24); // 32-byte slots with the header
    /// }
    /// let a = m.native(|| heap.heap_alloc());
    /// assert_eq!((a.objects, a.bytes), (10, 320));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    /// If the calling thread has a running mutator of this heap (call
    /// [`Mutator::heap_alloc`], or this from native state).
    ///
    /// [`GcStats::marked_bytes`]: crate::GcStats::marked_bytes
    #[track_caller]
    pub fn heap_alloc(&self) -> HeapAlloc {
        self.assert_not_running("Heap::heap_alloc", "call Mutator::heap_alloc");
        self.flush_allocation_stats();
        HeapAlloc::of(&self.inner.page.stats())
    }

    /// Panics, naming `what` and the alternative, if the calling thread has
    /// a running mutator of this heap.
    #[track_caller]
    fn assert_not_running(&self, what: &str, instead: &str) {
        if running_here(self.inner.id()) {
            panic!(
                "tricolor: {what} called on a thread whose mutator of this heap is running: \
                 the world could not stop while it waits; {instead}, or call it from native \
                 state (Mutator::native)"
            );
        }
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
    ///     m.alloc(blob, 16);
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
    /// If the calling thread has a running mutator of this heap (it would
    /// wait for its own safepoint; call this from native state).
    ///
    /// [`GcStats::allocated_since_mark`]: crate::GcStats::allocated_since_mark
    #[track_caller]
    pub fn flush_allocation_stats(&self) {
        self.assert_not_running("Heap::flush_allocation_stats", "call Mutator::heap_alloc");
        crate::mutator::safepoint::handshake(
            &self.inner,
            Arc::new(|_, data| data.cache.flush_stats()),
        );
    }

    /// Begins a collection cycle to be stepped by the caller: runs sweep
    /// termination (STW #1) and returns the [`CycleStepper`] for the rest.
    /// See [`CycleStepper`] for an example.
    ///
    /// # Panics
    /// If the heap's barrier mode is `Off`, if the calling thread has a
    /// running mutator of this heap, or if an earlier collection failed.
    ///
    /// [`CycleStepper`]: crate::CycleStepper
    pub fn begin_cycle(&self) -> CycleStepper<'_> {
        CycleStepper::begin(&self.inner, CycleKind::Major)
    }

    /// [`begin_cycle`](Self::begin_cycle), for a minor cycle of a
    /// generational heap (generation §1): it marks from the roots and the
    /// remembered set only. The cycle is major if a minor one is not
    /// possible: the heap is not generational, or the last sweep cleared
    /// the marks (the pacer had chosen a major cycle next); the stepper's
    /// [`finish`](CycleStepper::finish) reports which it was
    /// ([`CycleStats::kind`](crate::CycleStats::kind)).
    ///
    /// ```
    /// use tricolor_collector::{Config, CycleKind, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config { generational: true, manual_cycles: true, ..Config::default() });
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
    /// let mut m = heap.attach()?;
    /// let old = m.alloc(node, 0);
    /// let slot = m.push_root(Some(old));
    /// m.collect();
    /// m.collect(); // two major cycles survived: `old` is old now
    /// let young = m.alloc(node, 0);
    /// // SAFETY: `old` is rooted, `young` fresh; field 0 is a pointer.
    /// unsafe { m.store(old, 0, Some(young)) }; // logs `old`
    /// m.enter_native();
    /// let h = heap.clone();
    /// let stats = std::thread::spawn(move || {
    ///     let mut cycle = h.begin_minor_cycle();
    ///     cycle.scan_stacks();
    ///     cycle.scan_globals(); // the remembered set too
    ///     while cycle.mark(100) > 0 {}
    ///     cycle.finish()
    /// })
    /// .join()
    /// .unwrap();
    /// m.leave_native();
    /// assert_eq!(stats.kind, CycleKind::Minor);
    /// assert_eq!(stats.remembered, 1);
    /// assert_eq!(stats.objects_marked, 1, "only the young object");
    /// # let _ = slot;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin_minor_cycle(&self) -> CycleStepper<'_> {
        CycleStepper::begin(&self.inner, CycleKind::Minor)
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
    /// the OS does not run would, and the concurrent mark cannot end,
    /// whether or not a worker has woken yet, until it is released. Never
    /// use it otherwise.
    #[doc(hidden)]
    pub fn stall_mark_workers_for_testing(&self, stalled: bool) {
        self.inner
            .workers_stalled_for_testing
            .store(stalled, Ordering::SeqCst);
        self.inner.mark_state.wake_all();
    }

    /// Test-only: `None` while no concurrent mark runs; during one, how
    /// many times mutators have parked in a mark assist so far
    /// (`mutator::assist` module docs, "Parking"; each park waits at most
    /// a millisecond before the mutator looks for work again), so that a
    /// test can wait for a mark to begin, and for a mutator to stay parked,
    /// on a condition rather than a timer. Never use it otherwise.
    #[doc(hidden)]
    pub fn assist_parks_for_testing(&self) -> Option<u64> {
        let inner = &self.inner;
        inner
            .phase
            .marking()
            .then(|| inner.mark_state.assist_parks.load(Ordering::SeqCst))
    }

    /// Counters and timings (Go's `MemStats`, for this heap).
    ///
    /// ```
    /// use tricolor_collector::{Config, Heap, TypeDescriptor};
    ///
    /// let heap = Heap::new(Config::default());
    /// let node = heap.register_type(TypeDescriptor::fixed("Node", 3, &[]))?;
    /// let mut m = heap.attach()?;
    /// let keep = m.alloc(node, 0);
    /// m.push_root(Some(keep));
    /// m.collect();
    /// let stats = heap.stats();
    /// assert!(stats.cycles >= 1);
    /// let last = stats.last_cycle.expect("a cycle ran");
    /// assert_eq!(last.objects_marked, 1);
    /// assert_eq!(stats.marked_bytes, 32, "one 3-word object plus its header");
    /// println!("{}", last.trace_line());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> GcStats {
        let s = self.inner.stats.lock();
        GcStats {
            cycles: s.cycles,
            pause_total: s.pause_total,
            pause_max: s.pause_max,
            recent_pauses: s.recent.iter().copied().collect(),
            pause_histogram: s.histogram.clone(),
            pause_quantiles: s.hdr.quantiles,
            recent_stop_waits: s.recent_stop.iter().copied().collect(),
            stop_wait_max: s.stop_wait_max,
            sweep_termination_total: s.sweep_term_total,
            mark_total: s.mark_total,
            mark_termination_total: s.mark_term_total,
            mark_cpu_total: s.mark_cpu_total,
            last_cycle: s.last.clone(),
            marked_bytes: self.inner.live_after_mark.load(Ordering::Relaxed),
            goal: self.inner.pacer.lock().goal(),
            allocated_since_mark: self.inner.allocated_since_mark.load(Ordering::Relaxed),
            heap: self.inner.page.stats(),
            specials: self.inner.specials.stats(),
            gc_cpu_total: s.gc_cpu_total,
            gc_cpu_fraction: s.cpu_fraction(s.gc_cpu_total, self.inner.started_at.elapsed()),
        }
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
/// let interned = heap.add_global(Some(m.alloc(sym, 5)));
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
    /// let obj = m.alloc(node, 0);
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
    ///     let fresh = m.alloc(node, 0);
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
        // marking, both values are shaded (`mutator::barrier` module docs).
        on_global_store(&self.heap, self.index, old, new);
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
            on_global_store(&self.heap, self.index, old, 0);
            g.free.push(self.index);
        }
        self.heap.remove_user();
    }
}
