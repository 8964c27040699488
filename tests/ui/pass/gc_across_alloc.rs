// The fix: keep the object in its root and take a fresh `Gc` after the
// allocation.
use tricolor::{Heap, Member, Trace};

#[derive(Trace, Default)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let first = m.alloc(Node::default());
    let second = m.alloc(Node::default());
    let a = first.get(&m);
    a.set(|n| &n.next, Some(second.get(&m)));
}
