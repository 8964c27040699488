// An array's elements borrowed across an allocation (a GC point): the
// slice would dangle if the array were collected.
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Blob(u64);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |i| i as u64);
    let elems = a.get(&m).as_slice();
    let _b = m.alloc(Blob(1)); // may collect
    assert_eq!(elems[3], 3);
}
