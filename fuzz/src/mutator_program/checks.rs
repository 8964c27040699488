//! The checks of one object against the model, read through the mutator API
//! on a mutator thread: its header, its canaries and its pointer fields.

use tricolor_collector::{Mutator, ObjRef};

use super::object::{canary, Kind, Types};

/// What the model says one alive object holds.
pub(super) struct Expected {
    pub(super) id: u32,
    pub(super) obj: ObjRef,
    pub(super) kind: Kind,
    pub(super) fields: Vec<Option<ObjRef>>,
}

/// Checks an object's header and canaries: object `id` of kind `kind`.
pub(super) fn check_shape(m: &Mutator, types: Types, id: u32, kind: Kind, obj: ObjRef) {
    // SAFETY: the caller's object is live: reachable in the model, or just
    // yielded by a weak reference or an ephemeron table (live until the
    // next safepoint) and rooted or used under `keep_alive`.
    let shape = unsafe { m.shape_of(obj) };
    assert_eq!(
        shape,
        types.of(kind),
        "object #{id} ({kind:?}) at {obj:?}: its header changed (freed and reused?)"
    );
    for w in kind.canary_words() {
        // SAFETY: as above; `w` is a data word of `kind`.
        let got = unsafe { m.load_word(obj, w) };
        assert_eq!(
            got,
            canary(id, w),
            "object #{id} ({kind:?}) at {obj:?}: canary word {w} is {got:#x} (freed, poisoned or \
             overwritten?)"
        );
    }
}

/// Checks one reachable object's header, canaries and pointer fields.
pub(super) fn check_object(m: &Mutator, types: Types, e: &Expected) {
    let Expected {
        id,
        obj,
        kind,
        ref fields,
    } = *e;
    check_shape(m, types, id, kind, obj);
    for (f, &want) in fields.iter().enumerate() {
        // SAFETY: the model holds `obj` alive (see `serve`); its header was
        // just checked, and `f` is a pointer field of `kind`.
        let got = unsafe { m.load(obj, f) };
        assert_eq!(
            got, want,
            "object #{id} ({kind:?}) at {obj:?}: field {f} holds {got:?}, the model {want:?}"
        );
    }
}
