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

// ---- arrays ---------------------------------------------------------------------

#[test]
fn arrays_of_data_are_packed_slices() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let bytes = m.alloc_array(13, |i| i as u8);
    let units = m.alloc_array(5, |_| ());
    let empty = m.alloc_array(0, |_| 0u64);
    m.collect();
    assert_eq!(bytes.get(&m).as_slice(), &(0..13).collect::<Vec<u8>>()[..]);
    assert_eq!(units.get(&m).len(), 5);
    assert!(empty.get(&m).is_empty());
    assert_eq!(m.heap_alloc().objects, 3);
}

#[derive(Trace, Default)]
struct Slot {
    node: Member<Node>,
    tag: u64,
}

#[test]
fn arrays_keep_what_their_members_hold() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(3, |i| Slot {
        tag: i as u64,
        ..Slot::default()
    });
    for i in 0..3 {
        let n = m.alloc(Node {
            value: 10 + i as u64,
            ..Node::default()
        });
        a.get(&m).set_at(i, |s| &s.node, Some(n.get(&m)));
    }
    m.collect();
    assert_eq!(m.heap_alloc().objects, 4);
    let g = a.get(&m);
    let sum: u64 = (0..3)
        .map(|i| g.get_at(i, |s| &s.node).unwrap().value)
        .sum();
    assert_eq!(sum, 33);
    g.set_at(1, |s| &s.node, None);
    m.collect();
    assert_eq!(m.heap_alloc().objects, 3);
    drop(a);
    m.collect();
    assert_eq!(m.heap_alloc().objects, 0);
}

/// Members in enum variants: the array is traced through a callback.
#[derive(Trace)]
enum Either {
    Nothing,
    One(Member<Node>),
}

#[test]
fn arrays_of_traced_elements_keep_their_members() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(2, |i| {
        if i == 0 {
            Either::Nothing
        } else {
            Either::One(Member::null())
        }
    });
    let n = m.alloc(Node {
        value: 5,
        ..Node::default()
    });
    fn one(e: &Either) -> &Member<Node> {
        match e {
            Either::One(x) => x,
            Either::Nothing => unreachable!(),
        }
    }
    a.get(&m).set_at(1, one, Some(n.get(&m)));
    drop(n);
    m.collect();
    assert_eq!(a.get(&m).get_at(1, one).unwrap().value, 5);
    assert_eq!(m.heap_alloc().objects, 2);
}

static ARRAY_DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Trace)]
struct Tagged {
    peer: Member<Tagged>,
    name: Counted2,
}

#[derive(Trace)]
struct Counted2(String);

impl Drop for Counted2 {
    fn drop(&mut self) {
        assert!(self.0.starts_with('e'));
        ARRAY_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn array_elements_are_dropped_once_and_a_panicking_builder_leaks_nothing() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |i| Tagged {
        peer: Member::null(),
        name: Counted2(format!("e{i}")),
    });
    let b = m.alloc(Tagged {
        peer: Member::null(),
        name: Counted2("e-b".into()),
    });
    // A cycle through an element.
    a.get(&m).set_at(2, |t| &t.peer, Some(b.get(&m)));
    drop((a, b));
    // A builder that panics after two elements: those two are dropped now.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.alloc_array(4, |i| {
            assert!(i < 2, "builder gave up");
            Counted2(format!("e{i}"))
        })
    }));
    assert!(r.is_err());
    assert_eq!(ARRAY_DROPS.load(Ordering::SeqCst), 2);
    m.collect();
    m.wait_for_finalizers();
    assert_eq!(ARRAY_DROPS.load(Ordering::SeqCst), 2 + 4 + 1);
    assert_eq!(m.heap_alloc().objects, 0);
}

#[test]
fn user_bits_stay_with_their_objects_and_leave_their_values_alone() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Node {
        value: 7,
        ..Node::default()
    });
    let arr = m.alloc_array(3, |i| i as u64 * 10);
    assert_eq!((a.get(&m).user_bits(), arr.get(&m).user_bits()), (0, 0));
    a.get(&m).set_user_bits(crate::MAX_USER_BITS);
    arr.get(&m).set_user_bits(0x1234);
    assert!(a.get(&m).try_set_user_bits(0x8000).is_err());
    let garbage = m.alloc(Node::default());
    garbage.get(&m).set_user_bits(0x0F0F);
    drop(garbage);
    m.collect();
    m.collect();
    assert_eq!(a.get(&m).user_bits(), crate::MAX_USER_BITS);
    assert_eq!(a.get(&m).value, 7);
    assert_eq!(arr.get(&m).user_bits(), 0x1234);
    assert_eq!(arr.get(&m).as_slice(), &[0, 10, 20]);
    // A fresh object starts at 0, in a slot the garbage may have had.
    let fresh = m.alloc(Node::default());
    assert_eq!(fresh.get(&m).user_bits(), 0);
}
