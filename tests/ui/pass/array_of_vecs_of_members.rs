// The fix: the members inline in the elements (here an array of arrays of
// members), or an array of members to objects that hold the rest.
use tricolor::{Heap, Member, Trace};

#[derive(Trace)]
struct Leaf(u32);

fn main() {
    let heap = Heap::new();
    let mut m = heap.attach().unwrap();
    let rows = m.alloc_array(2, |_| <[Member<Leaf>; 4]>::default());
    let leaf = m.alloc(Leaf(9));
    rows.get(&m).set_at(1, |row| &row[3], Some(leaf.get(&m)));
    assert_eq!(rows.get(&m).get_at(1, |row| &row[3]).unwrap().0, 9);
}
