// Members outside the object's inline words (a `Vec`'s buffer) cannot be
// seen by the collector.
use tricolor::{Member, Trace};

#[derive(Trace)]
struct Node {
    children: Vec<Member<Node>>,
}

fn main() {}
