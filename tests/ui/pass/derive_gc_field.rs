// The fix: a member.
use tricolor::{Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let _ = Node { next: Member::null() };
}
