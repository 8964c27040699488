//! Roots: where marking starts.
//!
//! Precise roots only: the heap's global roots, and for every mutator its
//! shadow stack and whatever its root-scanner callback reports (the VM's own
//! interpreter stack and registers). Gathered with the world stopped, while
//! the collector holds every mutator's state (see `safepoint`).

use crate::heap::HeapInner;
use crate::mutator::{RootKind, RootVisitor};
use crate::safepoint::StoppedWorld;

/// Every root value with where it came from. Empty slots are left out.
pub(crate) fn gather(heap: &HeapInner, world: &mut StoppedWorld<'_>) -> Vec<(usize, RootKind)> {
    let mut roots = Vec::new();
    for (i, &v) in heap.globals.lock().slots.iter().enumerate() {
        if v != 0 {
            roots.push((v, RootKind::Global(i)));
        }
    }
    for (m, data) in world.mutators.iter_mut() {
        let id = m.id;
        for (i, &v) in data.roots.iter().enumerate() {
            if v != 0 {
                roots.push((v, RootKind::ShadowStack(id, i)));
            }
        }
        if let Some(scanner) = data.scanner.as_mut() {
            let mut n = 0;
            let mut sink = |v: usize, _kind: RootKind| {
                roots.push((v, RootKind::Scanner(id, n)));
                n += 1;
            };
            scanner(&mut RootVisitor {
                sink: &mut sink,
                mutator: id,
            });
        }
    }
    roots
}
