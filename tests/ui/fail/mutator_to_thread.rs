// A `Mutator` belongs to the thread that attached it.
use tricolor::Heap;

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    std::thread::spawn(move || m.collect()).join().unwrap();
}
