// The fix: members inline (an array), or a chain of objects.
use tricolor::{Member, Trace};

#[derive(Trace)]
struct Node {
    children: [Member<Node>; 4],
    sibling: Member<Node>,
}

fn main() {
    let _ = Node { children: Default::default(), sibling: Member::null() };
}
