// The fix: hand out the value (or keep the object in a `Global`), not the
// handle.
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn leaf(heap: &Heap) -> u32 {
    let mut m = heap.attach().unwrap();
    let r = m.alloc(Leaf(1));
    let v = r.get(&m).0;
    v
}

fn main() {
    let heap = Heap::new();
    assert_eq!(leaf(&heap), 1);
}
