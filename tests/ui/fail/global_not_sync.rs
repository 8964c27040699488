// An object with unsynchronised interior mutability (`Cell`) cannot be
// shared with another thread through a `Global`.
use std::cell::Cell;
use std::sync::Arc;
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Counter {
    n: Cell<u64>,
}

fn main() {
    let heap = Heap::new();
    let g = Arc::new(heap.global::<Counter>());
    std::thread::spawn(move || drop(g)).join().unwrap();
}
