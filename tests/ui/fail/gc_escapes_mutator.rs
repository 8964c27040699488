// A `Gc` that outlives its mutator (the thread detached: nothing roots it).
use tricolor::{Gc, Heap, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn leaf(heap: &Heap) -> Gc<'static, Leaf> {
    let mut m = heap.attach().unwrap();
    let r = m.alloc(Leaf(1));
    r.get(&m)
}

fn main() {
    let heap = Heap::new();
    let _ = leaf(&heap).0;
}
