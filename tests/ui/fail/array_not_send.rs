// An array's elements are dropped on the finalizer thread, so the element
// type must be `Send`.
use std::marker::PhantomData;
use std::rc::Rc;
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Local {
    id: u32,
    _not_send: PhantomData<Rc<()>>,
}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let _ = m.alloc_array(3, |i| Local { id: i as u32, _not_send: PhantomData });
}
