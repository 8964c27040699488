// The fix: the other thread attaches its own mutator.
use tricolor::Heap;

fn main() {
    let heap = Heap::new();
    let h = heap.clone();
    std::thread::spawn(move || h.attach().unwrap().collect()).join().unwrap();
}
