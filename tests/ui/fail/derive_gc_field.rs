// An unrooted handle cannot be stored in an object.
use tricolor::{Gc, Trace};

#[derive(Trace)]
struct Node {
    next: Option<Gc<'static, Node>>,
}

fn main() {}
