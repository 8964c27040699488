// The fix: an element type that may move to another thread (`Arc`, not
// `Rc`).
use std::marker::PhantomData;
use std::sync::Arc;
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Local {
    id: u32,
    _send: PhantomData<Arc<()>>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let a = m.alloc_array(3, |i| Local { id: i as u32, _send: PhantomData });
    assert_eq!(a.get(&m).as_slice()[2].id, 2);
}
