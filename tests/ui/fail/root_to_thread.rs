// A `Root` is a slot of its thread's root table.
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let r = m.alloc(Leaf(1));
    std::thread::spawn(move || drop(r)).join().unwrap();
}
