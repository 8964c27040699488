//! Ephemeron tables: weak-keyed maps (JavaScript's `WeakMap`, Lua's tables
//! with weak keys). The contract is on [`EphemeronTable`]; this page is the
//! algorithm.
//!
//! # §1 What marking must do
//!
//! An entry `(k, v)` keeps `v` alive exactly when `k` is reachable from
//! outside the entry, including through other entries. So entries are not
//! roots, and a table does not hold its keys. Marking adds one rule to the
//! tri-colour scheme: *an entry whose key is marked shades its value*. The
//! rule is applied in passes over every table; a pass that shades a value
//! can make more keys reachable, so marking alternates passes and drains
//! until a pass shades nothing: a fixpoint. A value that reaches its own key
//! (key-in-value cycle) is not kept by the entry, because the key is never
//! marked from outside.
//!
//! # §2 When passes run
//!
//! - **Concurrent mark**: in the termination loop ([`crate::cycle`]), each
//!   time marking has gone quiet and a flush found nothing new, a pass runs
//!   with the world running; if it shaded anything, marking goes on. This
//!   does most of the work outside the pause.
//! - **Mark termination** (world stopped): passes and drains alternate until
//!   a pass shades nothing. This is what correctness rests on: with the
//!   world stopped the tables and mark bits are still, so a fixpoint there
//!   is final.
//!
//! A pass does not walk every entry. Each table keeps an *unsettled* list
//! per mark: the first pass of a mark starts it with every key (with the
//! world running, in concurrent modes); a pass looks only at listed keys,
//! and drops from the list each key it finds marked (its value is shaded
//! then; marks are never undone within a mark, so the entry stays settled);
//! an insert while marking lists its key again (the value may be new). So
//! every entry whose key is unmarked is listed, and the passes in the pause
//! cost O(keys not yet marked), not O(entries) (measured in
//! `docs/PERFORMANCE.md`).
//! - **Stop-the-world mark** (`BarrierMode::Off`): the same loop inside the
//!   one pause.
//!
//! Then, still in mark termination, entries whose key is unmarked (all
//! listed) are removed (their keys die in this cycle's sweep, and their
//! values unless something else holds them). So a table never holds a dead
//! key, and a later object allocated at a dead key's address cannot match
//! it.
//!
//! # §3 Mutators and the barrier
//!
//! While marking, a value a mutator takes out of a table (`get`, `remove`,
//! or replaced by `insert`) is shaded: the mutator may hold the only strong
//! reference to it on a stack that was already scanned (the deletion half of
//! the hybrid barrier; the same rule as `WeakRef::get`). A value put in is
//! not shaded: the mark-termination pass keeps it if its key is marked, and
//! it is rightly lost otherwise. This holds in every barrier mode, because
//! the passes at mark termination see the tables as they finally are.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::heap::inner::{Heap, HeapInner};
use crate::mark::scan::shade_all;
use crate::mark::source::{RootKind, Source};
use crate::mutator::Mutator;
use crate::object::ObjRef;
use crate::specials::api::check_live;
use crate::specials::records::SpecialError;
use crate::specials::tables::TableInner;

/// A table of ephemerons: entries whose value is kept alive only while the
/// entry's key is reachable from outside the entry.
///
/// # The contract
///
/// - **Weak keys.** An entry does not keep its key alive. Once a cycle finds
///   the key unreachable, the entry is removed, and the value is freed
///   unless something else reaches it.
/// - **Values kept by their key.** While the key is reachable (from roots,
///   or from values of other live entries, in this or any other table), the
///   value is kept alive and so is everything it reaches. A value that
///   reaches only its own key does not keep the key alive (no key-in-value
///   leak), and chains of entries work in any order and across tables.
/// - **Keys compare by identity** (address): one entry per key object.
/// - **Finalizers.** A key with a finalizer that is found unreachable loses
///   its entries in that cycle, before the finalizer runs (as weak
///   references are cleared), even if the finalizer resurrects it.
/// - **Every barrier mode**, and concurrent with marking: the algorithm is
///   in this module's docs.
/// - Dropping the table drops its entries (the values are no longer kept).
///
/// `Send` and `Sync`; every operation takes the mutator of the calling
/// thread, because values come out as live objects and go in as live
/// objects.
///
/// ```
/// use tricolor_collector::{Config, Heap, TypeDescriptor};
///
/// let heap = Heap::new(Config::default());
/// let node = heap.register_type(TypeDescriptor::fixed("Node", 1, &[0]))?;
/// let table = heap.ephemeron_table();
/// let mut m = heap.attach()?;
/// let key = m.alloc(node, 0);
/// let k = m.push_root(Some(key));
/// let value = m.alloc(node, 0);
/// table.insert(&mut m, key, value)?; // `value` is kept by `key`
/// let lost = m.alloc(node, 0);
/// let lost_value = m.alloc(node, 0);
/// table.insert(&mut m, lost, lost_value)?; // `lost` is not rooted
/// m.collect();
/// assert_eq!(table.len(), 1, "the entry of the dead key is gone");
/// assert_eq!(table.get(&m, m.root(k).unwrap()), Some(value));
/// assert_eq!(heap.stats().last_cycle.unwrap().objects_marked, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EphemeronTable {
    heap: Weak<HeapInner>,
    inner: Arc<TableInner>,
}

impl std::fmt::Debug for EphemeronTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeronTable")
            .field("id", &self.inner.id)
            .field("len", &self.len())
            .finish()
    }
}

impl Heap {
    /// Makes an empty ephemeron table for this heap.
    ///
    /// See [`EphemeronTable`] for the contract and an example.
    pub fn ephemeron_table(&self) -> EphemeronTable {
        let inner = Arc::new(TableInner {
            id: self
                .inner
                .next_mutator_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            entries: Mutex::default(),
        });
        let mut tables = self.inner.specials.tables.lock();
        tables.retain(|t| t.strong_count() > 0);
        tables.push(Arc::downgrade(&inner));
        EphemeronTable {
            heap: Arc::downgrade(&self.inner),
            inner,
        }
    }
}

impl EphemeronTable {
    fn check_heap<'m>(&self, m: &'m Mutator) -> &'m HeapInner {
        m.assert_running();
        let heap = m.inner();
        assert!(
            std::ptr::eq(self.heap.as_ptr(), Arc::as_ptr(heap)),
            "tricolor: an EphemeronTable used with a mutator of another heap"
        );
        heap
    }

    /// Shades a value taken out of the table while marking (module docs §3).
    fn taken(heap: &HeapInner, value: usize) {
        if heap.phase.marking() && !heap.barrier_disabled_for_testing.load(Ordering::Relaxed) {
            shade_all(heap, &[value], Source::Root(RootKind::Ephemeron));
        }
    }

    /// Sets the value for `key`; returns the previous value.
    ///
    /// # Errors
    /// [`SpecialError`] if `key` or `value` is not the start of a live
    /// object of this heap.
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap.
    pub fn insert(
        &self,
        m: &mut Mutator,
        key: ObjRef,
        value: ObjRef,
    ) -> Result<Option<ObjRef>, SpecialError> {
        let heap = self.check_heap(m);
        check_live(heap, key, "EphemeronTable::insert (key)")?;
        check_live(heap, value, "EphemeronTable::insert (value)")?;
        let marking = heap.phase.marking();
        let old = self
            .inner
            .entries
            .lock()
            .insert(key.addr(), value.addr(), marking);
        if let Some(v) = old {
            Self::taken(heap, v);
        }
        Ok(old.and_then(ObjRef::from_addr))
    }

    /// The value for `key`, if `key` has an entry. The value is a live
    /// object until the mutator's next safepoint (root it to keep it).
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap.
    pub fn get(&self, m: &Mutator, key: ObjRef) -> Option<ObjRef> {
        let heap = self.check_heap(m);
        let v = self.inner.entries.lock().map.get(&key.addr()).copied()?;
        Self::taken(heap, v);
        ObjRef::from_addr(v)
    }

    /// Removes `key`'s entry; returns its value.
    ///
    /// # Panics
    /// If `m` is in native state or belongs to another heap.
    pub fn remove(&self, m: &mut Mutator, key: ObjRef) -> Option<ObjRef> {
        let heap = self.check_heap(m);
        let v = self.inner.entries.lock().map.remove(&key.addr())?;
        Self::taken(heap, v);
        ObjRef::from_addr(v)
    }

    /// Number of entries (entries of keys found dead are already removed).
    pub fn len(&self) -> usize {
        self.inner.entries.lock().map.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
