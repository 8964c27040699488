//! The state of one ephemeron table: its entries and the keys the current
//! mark has still to look at (`ephemeron` §1–§2). The table's public face
//! is `specials::ephemeron`; the passes that read these entries while
//! marking are `mark::ephemeron`.

use std::collections::HashMap;

use parking_lot::Mutex;

/// One table: its entries and its unsettled list (ephemeron §2).
pub(crate) struct TableInner {
    pub(crate) id: u64,
    pub(crate) entries: Mutex<Entries>,
}

/// The entries of a table, with what the current mark still has to look
/// at. Protected by the table's lock; read by mutators and markers.
#[derive(Default)]
pub(crate) struct Entries {
    /// Key address → value address.
    pub(crate) map: HashMap<usize, usize>,
    /// The mark (`Specials::mark_epoch`) that `unsettled` belongs to.
    pub(crate) epoch: u64,
    /// Keys whose entry is not settled in mark `epoch`: every key of `map`
    /// that was unmarked when last looked at, and every key inserted since
    /// (duplicates and removed keys allowed). Invariant: a key of `map`
    /// that is unmarked in mark `epoch` is in this list.
    pub(crate) unsettled: Vec<usize>,
}

impl Entries {
    /// Sets a value, keeping the unsettled invariant (a replaced value of
    /// a settled key must be looked at again). Outside a mark nothing is
    /// recorded: the next mark starts its list from every key.
    /// `marking` is whether a mark is in progress, which cannot change
    /// during the call (the caller is a running mutator).
    pub(crate) fn insert(&mut self, key: usize, value: usize, marking: bool) -> Option<usize> {
        if marking {
            self.unsettled.push(key);
        }
        self.map.insert(key, value)
    }

    /// Starts mark `epoch`'s unsettled list if it is not started: every
    /// key. O(entries), once per table per mark.
    pub(crate) fn begin(&mut self, epoch: u64) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.unsettled.clear();
            self.unsettled.extend(self.map.keys().copied());
        }
    }
}

/// The state of one `WeakSlots` handle the collector reads.
pub(crate) struct SlotsInner {
    /// The array's address, 0 for none.
    pub(crate) array: std::sync::atomic::AtomicUsize,
    pub(crate) tombstone: u64,
}
