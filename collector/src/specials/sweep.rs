//! Specials §3: the allocator's sweep hook, which acts on the records of
//! dead objects before their span is swept (the `specials` module's essay).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tricolor_allocator::{Span, Special, SweepHook};

use crate::heap::inner::HeapInner;
use crate::mark::scan::for_each_referent;
use crate::profile::Profile;
use crate::specials::records::{
    drop_fn_of, Job, Specials, KIND_CLEANUP, KIND_DROP, KIND_FINALIZER, KIND_PROFILE, KIND_WEAK,
};

/// The allocator's sweep hook: specials §3. It holds the specials and the
/// heap profile, not the heap (the heap holds the allocator, which holds
/// the hook); `heap` only serves the debug check of §2.
pub(crate) struct SpecialsHook {
    pub(crate) specials: Arc<Specials>,
    pub(crate) profile: Arc<Profile>,
    pub(crate) heap: Weak<HeapInner>,
}

impl SweepHook for SpecialsHook {
    fn sweep_specials(&self, span: &Span, dead: &mut Vec<Special>, resurrect: &mut Vec<u32>) {
        let sp = &*self.specials;
        let mut jobs = Vec::new();
        // 1: weak cells first, so a handle is empty before the finalizer of
        // its object can run.
        dead.retain(|s| {
            if s.kind != KIND_WEAK {
                return true;
            }
            if let Some(cell) = sp.weak.lock().remove(s.data) {
                cell.ptr.store(0, Ordering::Release);
                sp.weak_cleared.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        // 2: finalizers: keep the object one more cycle and queue.
        let mut kept = Vec::new();
        dead.retain(|s| {
            if s.kind != KIND_FINALIZER {
                return true;
            }
            if let Some(rec) = sp.finalizers.lock().remove(s.data) {
                debug_assert_eq!(rec.obj, span.object_addr(s.index as usize));
                if cfg!(debug_assertions) {
                    check_referents_kept(&self.heap, rec.obj);
                }
                resurrect.push(s.index);
                kept.push(s.index);
                // The sweep sets its mark bit, but a resurrected object is
                // never old after it (generation §3): it is scanned when
                // the next mark reaches it from the queue.
                jobs.push(Job::Finalize {
                    obj: rec.obj,
                    f: rec.f,
                });
                sp.finalizers_queued.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        // 3: cleanups of objects that really die.
        dead.retain(|s| {
            if s.kind != KIND_CLEANUP {
                return true;
            }
            if kept.contains(&s.index) {
                return true; // stays on the kept object
            }
            if let Some(rec) = sp.cleanups.lock().remove(s.data) {
                jobs.push(Job::Cleanup {
                    arg: rec.arg,
                    f: rec.f,
                });
                sp.cleanups_queued.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        // 4: drops of objects that really die: the payload is moved out
        // before the span is freed.
        dead.retain(|s| {
            if s.kind != KIND_DROP {
                return true;
            }
            if kept.contains(&s.index) {
                return true; // stays on the kept object
            }
            let obj = span.object_addr(s.index as usize);
            let n = (span.elem_size() - span.object_offset()) / 8;
            // The slot is the header word, if any (the span's object
            // offset), then the `n` payload words from `obj`.
            // SAFETY: the object is dead but not yet freed (the hook runs
            // before the sweep frees anything); nothing else touches it.
            let words: Box<[u64]> =
                unsafe { std::slice::from_raw_parts(obj as *const u64, n) }.into();
            // SAFETY: `data` of a drop record is a `DropFn`, stored by
            // `Mutator::set_drop`.
            let f = unsafe { drop_fn_of(s.data) };
            jobs.push(Job::Drop { words, f });
            sp.drops_queued.fetch_add(1, Ordering::Relaxed);
            false
        });
        // 5: heap profile samples of objects that really die are counted
        // as freed (profile §3).
        dead.retain(|s| {
            if s.kind != KIND_PROFILE {
                return true;
            }
            if kept.contains(&s.index) {
                return true; // still in use
            }
            self.profile.record_free(s.data);
            false
        });
        if !jobs.is_empty() {
            sp.queue.lock().jobs.extend(jobs);
            sp.queue_cv.notify_all();
        }
    }
}

/// Debug check of specials §2 at the moment a finalizable object is kept by
/// the sweep: everything it points to survived the mark (marked, or already
/// swept as live).
fn check_referents_kept(heap: &Weak<HeapInner>, obj: usize) {
    let Some(heap) = heap.upgrade() else { return };
    for_each_referent(&heap, obj, |v, desc, field| {
        let o = heap.page.find_object(v);
        let ok = o.is_some_and(|o| o.is_marked() || o.span().is_allocated(o.index()));
        assert!(
            ok,
            "tricolor: the finalizable object at {obj:#x} (`{}`) is kept for its finalizer, \
             but its field {field:?} points to {v:#x}, which did not survive the mark \
             (specials §2 broken)",
            desc.name
        );
    });
}
