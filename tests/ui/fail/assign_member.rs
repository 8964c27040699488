// A member cannot be assigned in place: the safe API hands out no `&mut`
// to an object, so every store goes through `Gc::set` and its barrier.
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
    let _ = b;
    a.next = Member::null();
}
