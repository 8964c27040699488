// The fix: load it, as a handle (or root it).
use tricolor::{Heap, Member, Trace};

#[derive(Trace, Default)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Node::default());
    let g = a.get(&m);
    let next = g.get(|n| &n.next);
    assert!(next.is_none());
}
