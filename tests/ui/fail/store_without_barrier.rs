// A member can only be written through `Gc::set`, which runs the barrier:
// there is no `&mut` to an object, and a member has no setter of its own.
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
    a.next.set(Some(b));
}
