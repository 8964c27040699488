// The fix: keep the array in its root and borrow the elements again after
// the allocation.
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Blob(u64);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(4, |i| i as u64);
    let _b = m.alloc(Blob(1));
    let elems = a.get(&m).as_slice();
    assert_eq!(elems[3], 3);
}
