// `#[trace(...)]` takes `header_free` and nothing else.
use tricolor::{Member, Trace};

#[derive(Trace)]
#[trace(headerless)]
struct Node {
    next: Member<Node>,
}

fn main() {}
