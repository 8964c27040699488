// A value is dropped on the finalizer thread, so it must be `Send`.
use std::rc::Rc;
use tricolor::{Data, Heap, Trace};

struct Shared(Rc<u32>);
// SAFETY: holds no member.
unsafe impl Trace for Shared {
    const NO_MEMBERS: bool = true;
    fn pointer_words(_: u32, _: &mut Vec<u32>) -> bool { true }
    fn trace(&self, _: &mut tricolor::Tracer<'_>) {}
}
// SAFETY: holds no member.
unsafe impl Data for Shared {}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let _ = m.alloc(Shared(Rc::new(1)));
}
