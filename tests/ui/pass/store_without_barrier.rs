// The fix: store through the object's handle.
use tricolor::{Heap, Member, Trace};

#[derive(Trace, Default)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc(Node::default());
    let b = m.alloc(Node::default());
    let (a, b) = (a.get(&m), b.get(&m));
    a.set(|n| &n.next, Some(b));
    a.set(|n| &n.next, None);
}
