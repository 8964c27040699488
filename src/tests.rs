//! Unit tests of the safe layer: small enough for Miri (the command is in
//! the README, "Checking it more deeply"), and run by `cargo test` as well.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Heap, Member, Trace};

#[derive(Trace, Default)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
    value: u64,
}

#[test]
fn roots_keep_objects_and_handles_read_them() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Node {
        value: 1,
        ..Node::default()
    });
    let b = m.alloc(Node {
        value: 2,
        ..Node::default()
    });
    a.get(&m).set(|n| &n.left, Some(b.get(&m)));
    drop(b);
    m.collect();
    let l = a.get(&m).get(|n| &n.left).unwrap();
    assert_eq!(l.value, 2);
    assert_eq!(m.root_counts(), (1, 1));
}

#[test]
fn root_slots_are_reused_in_any_order() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let mut roots: Vec<_> = (0..8)
        .map(|i| {
            m.alloc(Node {
                value: i,
                ..Node::default()
            })
        })
        .collect();
    // Drop every other one, then make more: freed slots come back.
    let kept: Vec<_> = roots
        .drain(..)
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(m.root_counts(), (4, 4));
    let more: Vec<_> = (0..4)
        .map(|i| {
            m.alloc(Node {
                value: 100 + i,
                ..Node::default()
            })
        })
        .collect();
    assert_eq!(m.root_counts(), (8, 8));
    m.collect();
    let sum: u64 = kept.iter().chain(&more).map(|r| r.get(&m).value).sum();
    assert_eq!(sum, (2 + 4 + 6) + (100 + 101 + 102 + 103));
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Named {
    next: Member<Named>,
    name: Counted,
}

#[derive(Trace)]
struct Counted(String);

impl Drop for Counted {
    fn drop(&mut self) {
        assert!(!self.0.is_empty());
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dead_values_are_dropped_once_even_in_cycles() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Named {
        next: Member::null(),
        name: Counted("a".into()),
    });
    let b = m.alloc(Named {
        next: Member::null(),
        name: Counted("b".into()),
    });
    a.get(&m).set(|n| &n.next, Some(b.get(&m)));
    b.get(&m).set(|n| &n.next, Some(a.get(&m)));
    drop((a, b));
    m.collect();
    m.wait_for_finalizers();
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    m.collect();
    m.wait_for_finalizers();
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
}

#[test]
fn a_root_dropped_in_native_state_keeps_its_slot_until_the_thread_returns() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let r = m.alloc(Node::default());
    let h = heap.clone();
    m.native(move || {
        drop(r);
        h.collect(); // scans the table from this thread meanwhile
    });
    assert_eq!(m.root_counts(), (0, 0));
}

/// A single-threaded linked type: a `Cell` (not `Sync`) and a member to its
/// own type. It is `Send` (members always are), so it can be allocated,
/// and it is not `Sync`, so it cannot be shared through a `Global`.
#[derive(Trace)]
struct Counter {
    next: Member<Counter>,
    hits: std::cell::Cell<u64>,
}

#[test]
fn a_cell_and_a_self_member_can_be_allocated() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Counter {
        next: Member::null(),
        hits: std::cell::Cell::new(0),
    });
    let b = m.alloc(Counter {
        next: Member::null(),
        hits: std::cell::Cell::new(0),
    });
    a.get(&m).set(|c| &c.next, Some(b.get(&m)));
    a.get(&m).get(|c| &c.next).unwrap().hits.set(3);
    drop(b);
    m.collect();
    assert_eq!(a.get(&m).get(|c| &c.next).unwrap().hits.get(), 3);
}
