//! The end of a mark for weak slot arrays (`specials::weak_slots`): words
//! that point to unmarked objects become the tombstone.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::heap::inner::HeapInner;
use crate::mark::scan::is_marked;
use crate::object::{self, ObjRef};
use crate::specials::tables::SlotsInner;

/// Clears the words of every weak slot array that point to unmarked
/// objects (module docs); world stopped, marking final. Returns how many
/// words were cleared.
pub(crate) fn clear_dead(heap: &HeapInner) -> u64 {
    let all: Vec<Arc<SlotsInner>> = heap
        .specials
        .weak_slots
        .lock()
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut cleared = 0;
    for s in all {
        let Some(array) = ObjRef::from_addr(s.array.load(Ordering::Acquire)) else {
            continue;
        };
        // SAFETY: the VM keeps the array live (rule 1) and the world is
        // stopped, so nothing frees it meanwhile.
        let (ty, len, _) = unsafe { heap.object_type(array) };
        let Some(words) = heap.types.by_index(ty).and_then(|d| d.payload_words(len)) else {
            continue;
        };
        for i in 0..words {
            // SAFETY: `i` is below the array's payload words; the world is
            // stopped, so no mutator writes the array meanwhile.
            let w = unsafe { object::load_field(array, i) };
            if w != 0 && w != s.tombstone && !is_marked(heap, w as usize) {
                // SAFETY: as for the load.
                unsafe { object::store_field(array, i, s.tombstone) };
                cleared += 1;
            }
        }
    }
    cleared
}
