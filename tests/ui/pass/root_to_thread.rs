// The fix: share the object through a `Global`.
use tricolor::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let g = heap.global::<Leaf>();
    g.set(Some(m.alloc(Leaf(1)).get(&m)));
    let h = heap.clone();
    std::thread::spawn(move || {
        let m2 = h.attach().unwrap();
        assert_eq!(g.get(&m2).unwrap().0, 1);
    })
    .join()
    .unwrap();
}
