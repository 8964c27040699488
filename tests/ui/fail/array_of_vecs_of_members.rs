// An array element holding members outside the heap (a `Vec`'s buffer):
// the collector could not see them.
use tricolor::{Heap, Member, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let _ = m.alloc_array(2, |_| Vec::<Member<Leaf>>::new());
}
