// The fix: `Arc` instead of `Rc`.
use std::sync::Arc;
use tricolor::{Data, Heap, Trace};

#[derive(Trace)]
struct Shared(#[allow(dead_code)] Wrapper);

struct Wrapper(Arc<u32>);
// SAFETY: holds no member.
unsafe impl Trace for Wrapper {
    const NO_MEMBERS: bool = true;
    fn pointer_words(_: u32, _: &mut Vec<u32>) -> bool { true }
    fn trace(&self, _: &mut tricolor::Tracer<'_>) {}
}
// SAFETY: holds no member.
unsafe impl Data for Wrapper {}

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let _ = m.alloc(Shared(Wrapper(Arc::new(1))));
}
