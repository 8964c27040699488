// The fix: an atomic (or a lock) for data several threads change.
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Counter {
    n: AtomicU64,
}

fn main() {
    let heap = Heap::new();
    let g = Arc::new(heap.global::<Counter>());
    std::thread::spawn(move || drop(g)).join().unwrap();
}
