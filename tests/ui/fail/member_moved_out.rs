// A member cannot be copied out of its object (it would escape the heap
// holding a pointer the collector no longer sees).
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
    let stolen: Member<Node> = g.next;
    drop(stolen);
}
