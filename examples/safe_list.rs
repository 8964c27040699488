//! A doubly linked list on the safe API: each node points at both of its
//! neighbours (`prev` and `next` members), so every pair of neighbours is a
//! cycle, and the list is reachable only through one [`Root`].
//!
//! It shows:
//!
//! - pushing at both ends, which allocates (a GC point: the list is held by
//!   a root across it), and popping and unlinking from the middle, which do
//!   not allocate and so need only a shared borrow of the mutator;
//! - iterating both ways with unrooted [`Gc`] handles;
//! - collections in between: after each one the heap holds exactly the
//!   list object and its nodes (`Mutator::heap_alloc`), the weak references
//!   of removed nodes are cleared, and the kept nodes are intact, in order;
//! - a list split in two, whose second half (a chain of cycles) dies as a
//!   whole when its root is dropped.
//!
//! A model (`VecDeque`) checks every step; the random phase uses a fixed
//! seed.
//!
//! ```text
//! cargo run --release --example safe_list -- [N]    (N nodes per phase, default 100000)
//! ```

use std::cell::Cell;
use std::collections::VecDeque;

use tricolor::{Gc, Heap, Member, Mutator, Root, Trace, Weak};
use tricolor_testkit::Rng;

#[derive(Trace)]
struct Node {
    prev: Member<Node>,
    next: Member<Node>,
    value: i64,
}

/// The list's header object: both ends and the length. The length is a
/// `Cell`: the header is one thread's, and the safe API hands out only
/// shared references to objects.
#[derive(Trace, Default)]
struct Header {
    head: Member<Node>,
    tail: Member<Node>,
    len: Cell<usize>,
}

/// A list: a root of its header.
struct List {
    header: Root<Header>,
}

impl List {
    fn new(m: &mut Mutator) -> List {
        List {
            header: m.alloc(Header::default()),
        }
    }

    fn len(&self, m: &Mutator) -> usize {
        self.header.get(m).len.get()
    }

    fn push_back(&self, m: &mut Mutator, value: i64) {
        let node = m.alloc(Node {
            prev: Member::null(),
            next: Member::null(),
            value,
        });
        let (h, n) = (self.header.get(m), node.get(m));
        match h.get(|h| &h.tail) {
            Some(tail) => {
                tail.set(|t| &t.next, Some(n));
                n.set(|n| &n.prev, Some(tail));
            }
            None => h.set(|h| &h.head, Some(n)),
        }
        h.set(|h| &h.tail, Some(n));
        h.len.set(h.len.get() + 1);
    }

    fn push_front(&self, m: &mut Mutator, value: i64) {
        let node = m.alloc(Node {
            prev: Member::null(),
            next: Member::null(),
            value,
        });
        let (h, n) = (self.header.get(m), node.get(m));
        match h.get(|h| &h.head) {
            Some(head) => {
                head.set(|h| &h.prev, Some(n));
                n.set(|n| &n.next, Some(head));
            }
            None => h.set(|h| &h.tail, Some(n)),
        }
        h.set(|h| &h.head, Some(n));
        h.len.set(h.len.get() + 1);
    }

    fn pop_front(&self, m: &Mutator) -> Option<i64> {
        let node = self.header.get(m).get(|h| &h.head)?;
        self.unlink(node);
        Some(node.value)
    }

    fn pop_back(&self, m: &Mutator) -> Option<i64> {
        let node = self.header.get(m).get(|h| &h.tail)?;
        self.unlink(node);
        Some(node.value)
    }

    /// Takes `node`, a node of this list, out of it. Its own members are
    /// cleared too; not needed for it to be collected (nothing points to it
    /// any more), but a stale handle then cannot walk into the list.
    fn unlink(&self, node: Gc<'_, Node>) {
        let h = self.header.get(node.mutator());
        let (prev, next) = (node.get(|n| &n.prev), node.get(|n| &n.next));
        match prev {
            Some(p) => p.set(|p| &p.next, next),
            None => h.set(|h| &h.head, next),
        }
        match next {
            Some(n) => n.set(|n| &n.prev, prev),
            None => h.set(|h| &h.tail, prev),
        }
        node.set(|n| &n.prev, None);
        node.set(|n| &n.next, None);
        h.len.set(h.len.get() - 1);
    }

    /// The `i`th node, walked to from the nearer end.
    fn nth<'m>(&self, m: &'m Mutator, i: usize) -> Option<Gc<'m, Node>> {
        let len = self.len(m);
        if i >= len {
            return None;
        }
        let h = self.header.get(m);
        if i < len / 2 {
            let mut cur = h.get(|h| &h.head)?;
            for _ in 0..i {
                cur = cur.get(|n| &n.next)?;
            }
            Some(cur)
        } else {
            let mut cur = h.get(|h| &h.tail)?;
            for _ in i + 1..len {
                cur = cur.get(|n| &n.prev)?;
            }
            Some(cur)
        }
    }

    /// The nodes front to back.
    fn iter<'m>(&self, m: &'m Mutator) -> impl Iterator<Item = Gc<'m, Node>> {
        std::iter::successors(self.header.get(m).get(|h| &h.head), |n| n.get(|n| &n.next))
    }

    /// The nodes back to front.
    fn iter_rev<'m>(&self, m: &'m Mutator) -> impl Iterator<Item = Gc<'m, Node>> {
        std::iter::successors(self.header.get(m).get(|h| &h.tail), |n| n.get(|n| &n.prev))
    }

    /// Moves the nodes from index `at` on into a new list (a GC point: it
    /// allocates the new header).
    fn split_off(&self, m: &mut Mutator, at: usize) -> List {
        let rest = List::new(m);
        let len = self.len(m);
        let Some(first) = self.nth(m, at) else {
            return rest;
        };
        let (h, r) = (self.header.get(m), rest.header.get(m));
        let last = h.get(|h| &h.tail);
        match first.get(|n| &n.prev) {
            Some(p) => p.set(|p| &p.next, None),
            None => h.set(|h| &h.head, None),
        }
        h.set(|h| &h.tail, first.get(|n| &n.prev));
        first.set(|n| &n.prev, None);
        r.set(|r| &r.head, Some(first));
        r.set(|r| &r.tail, last);
        h.len.set(at);
        r.len.set(len - at);
        rest
    }
}

/// Checks `list` against `model`, both ways, and each node's back link.
fn check(m: &Mutator, list: &List, model: &VecDeque<i64>) {
    assert_eq!(list.len(m), model.len());
    let forward: Vec<i64> = list.iter(m).map(|n| n.value).collect();
    assert!(forward.iter().eq(model.iter()), "front to back");
    let backward: Vec<i64> = list.iter_rev(m).map(|n| n.value).collect();
    assert!(backward.iter().eq(model.iter().rev()), "back to front");
    for n in list.iter(m) {
        if let Some(next) = n.get(|n| &n.next) {
            let back = next.get(|n| &n.prev).expect("a next node links back");
            assert!(Gc::ptr_eq(back, n));
        }
    }
}

/// Collects, then checks that the heap holds exactly `expected` objects.
fn collect_and_count(m: &mut Mutator, expected: usize) {
    m.collect();
    assert_eq!(
        m.heap_alloc().objects,
        expected as u64,
        "after a collection the heap holds exactly the reachable objects"
    );
}

/// What a run did.
pub struct Summary {
    pub operations: usize,
    pub collections: u64,
    pub removed_and_freed: usize,
}

/// Runs every phase with `n` nodes per phase; panics if any check fails.
pub fn run(n: usize) -> Summary {
    let heap = Heap::new();
    let mut m = heap.attach().expect("a fresh thread attaches");
    let list = List::new(&mut m);
    let mut model = VecDeque::new();
    let mut operations = 0;

    // 1. Push at both ends.
    for i in 0..n as i64 {
        list.push_back(&mut m, i);
        model.push_back(i);
        list.push_front(&mut m, -1 - i);
        model.push_front(-1 - i);
    }
    operations += 2 * n;
    check(&m, &list, &model);
    collect_and_count(&mut m, 1 + model.len());
    check(&m, &list, &model);

    // 2. Unlink every third node, walking forward: no GC point, so plain
    // handles suffice. Keep weak references to the removed nodes.
    let mut removed: Vec<Weak<Node>> = Vec::new();
    {
        let mut cur = list.iter(&m).next();
        let mut i = 0;
        while let Some(node) = cur {
            cur = node.get(|n| &n.next);
            if i % 3 == 1 {
                removed.push(node.weak());
                list.unlink(node);
            }
            i += 1;
        }
    }
    let mut i = 0;
    model.retain(|_| {
        i += 1;
        (i - 1) % 3 != 1
    });
    operations += removed.len();
    check(&m, &list, &model);
    collect_and_count(&mut m, 1 + model.len());
    assert!(
        removed.iter().all(|w| w.get(&m).is_none()),
        "every removed node was freed"
    );
    let removed_and_freed = removed.len();
    drop(removed);
    check(&m, &list, &model);

    // 3. A random mix, collecting now and then.
    let mut rng = Rng::new(0x11_57);
    for step in 0..4 * n {
        match rng.below(6) {
            0 => {
                let v = rng.below(1_000_000) as i64;
                list.push_back(&mut m, v);
                model.push_back(v);
            }
            1 => {
                let v = rng.below(1_000_000) as i64;
                list.push_front(&mut m, v);
                model.push_front(v);
            }
            2 => assert_eq!(list.pop_front(&m), model.pop_front()),
            3 => assert_eq!(list.pop_back(&m), model.pop_back()),
            _ => {
                if !model.is_empty() {
                    // Near either end: walking to a node costs its distance.
                    let k = rng.below(model.len().min(32));
                    let i = if rng.bool() { k } else { model.len() - 1 - k };
                    let node = list.nth(&m, i).expect("in range");
                    assert_eq!(Some(node.value), model.remove(i));
                    list.unlink(node);
                }
            }
        }
        if step % (n / 4).max(1) == 0 {
            collect_and_count(&mut m, 1 + model.len());
            check(&m, &list, &model);
        }
    }
    operations += 4 * n;
    collect_and_count(&mut m, 1 + model.len());
    check(&m, &list, &model);

    // 4. Split the list in two and drop the second half: a chain of
    // neighbour cycles, unreachable as a whole.
    let at = model.len() / 3;
    let rest = list.split_off(&mut m, at);
    let rest_model = model.split_off(at);
    check(&m, &list, &model);
    check(&m, &rest, &rest_model);
    collect_and_count(&mut m, 2 + model.len() + rest_model.len());
    drop(rest);
    collect_and_count(&mut m, 1 + model.len());
    check(&m, &list, &model);

    // 5. Drop the whole list.
    drop(list);
    collect_and_count(&mut m, 0);
    Summary {
        operations,
        collections: heap.stats().cycles,
        removed_and_freed,
    }
}

fn main() {
    let n = match std::env::args().nth(1) {
        Some(a) => a.parse().expect("usage: safe_list [N]"),
        None => 100_000,
    };
    let s = run(n);
    println!(
        "safe_list: {} operations on a list of up to {} nodes, {} collections; \
         {} removed nodes freed, every kept node intact both ways",
        s.operations,
        2 * n,
        s.collections,
        s.removed_and_freed
    );
}
