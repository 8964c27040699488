//! The ephemeron passes of a mark (`ephemeron` §2, in `specials::ephemeron`):
//! an entry whose key is marked has its value shaded, until a pass finds
//! nothing new; then the entries of unmarked keys are removed.
//!
//! The cycle runs a pass whenever marking from the roots has gone quiet
//! (`cycle` module docs), and the finalizer stage (`mark::finalizers`)
//! follows entries from the keys it marks (`values_of_keys`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::heap::inner::HeapInner;
use crate::mark::scan::{is_marked, shade_all};
use crate::mark::source::{RootKind, Source};
use crate::specials::tables::TableInner;

fn live_tables(heap: &HeapInner) -> Vec<Arc<TableInner>> {
    heap.specials
        .tables
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// One pass (module docs §1): the values of entries with a marked key and an
/// unmarked value. Looks only at the unsettled entries of each table, and
/// settles those whose key is marked.
pub(crate) fn pass(heap: &HeapInner) -> Vec<usize> {
    let epoch = heap.specials.mark_epoch.load(Ordering::Acquire);
    let mut out = Vec::new();
    for t in live_tables(heap) {
        let mut guard = t.entries.lock();
        let e = &mut *guard;
        e.begin(epoch);
        let map = &e.map;
        e.unsettled.retain(|k| {
            let Some(&v) = map.get(k) else {
                return false; // removed
            };
            if !is_marked(heap, *k) {
                return true;
            }
            // Settled: the caller shades `v`, and marks are not undone
            // within a mark.
            if !is_marked(heap, v) {
                out.push(v);
            }
            false
        });
    }
    out
}

/// The unmarked values of the entries whose key is one of `keys` (objects
/// just marked by the finalizer stage, specials §2): what those keys keep
/// alive through the tables. The entries stay in the unsettled lists; the
/// next [`pass`] settles them.
pub(crate) fn values_of_keys(heap: &HeapInner, keys: &[usize]) -> Vec<usize> {
    let mut out = Vec::new();
    if keys.is_empty() {
        return out;
    }
    for t in live_tables(heap) {
        let e = t.entries.lock();
        if e.map.is_empty() {
            continue;
        }
        for k in keys {
            if let Some(&v) = e.map.get(k) {
                if !is_marked(heap, v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// One pass of a concurrent mark: shades what [`pass`] finds; returns how
/// many values it shaded.
pub(crate) fn pass_and_shade(heap: &HeapInner) -> usize {
    let values = pass(heap);
    if !values.is_empty() {
        shade_all(heap, &values, Source::Root(RootKind::Ephemeron));
    }
    values.len()
}

/// Removes the entries whose key is unmarked (module docs §2); world
/// stopped, after the fixpoint. Only unsettled keys can be unmarked, so
/// only they are looked at. Returns how many entries were removed.
pub(crate) fn drop_dead_entries(heap: &HeapInner) -> u64 {
    let epoch = heap.specials.mark_epoch.load(Ordering::Acquire);
    let mut dropped = 0;
    for t in live_tables(heap) {
        let mut guard = t.entries.lock();
        let e = &mut *guard;
        e.begin(epoch); // a table made after the last pass
        for k in e.unsettled.drain(..) {
            if !is_marked(heap, k) && e.map.remove(&k).is_some() {
                dropped += 1;
            }
        }
        debug_assert!(
            e.map.keys().all(|&k| is_marked(heap, k)),
            "ephemeron table {}: an entry with an unmarked key was not in the unsettled list",
            t.id
        );
    }
    heap.specials
        .ephemerons_dropped
        .fetch_add(dropped, Ordering::Relaxed);
    dropped
}

/// Checkmark roots for module docs §1: the value of every entry whose key
/// is marked must survive, so checkmark re-traces from them too.
pub(crate) fn checkmark_roots(heap: &HeapInner, roots: &mut Vec<(usize, RootKind)>) {
    for t in live_tables(heap) {
        for (&k, &v) in t.entries.lock().map.iter() {
            if is_marked(heap, k) {
                roots.push((v, RootKind::Ephemeron));
            }
        }
    }
}
