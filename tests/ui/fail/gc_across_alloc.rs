// A `Gc` held across an allocation (a GC point) without rooting it.
use tricolor::{Heap, Member, Trace};

#[derive(Trace, Default)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let first = m.alloc(Node::default());
    let a = first.get(&m);
    let second = m.alloc(Node::default()); // may collect: `a` would dangle
    a.set(|n| &n.next, Some(second.get(&m)));
}
